//! Uploads through the counter: scans of 20 MB posted to 確認, each judged
//! by its first bytes, sealed chunk by chunk and written to the vault in
//! parts, with a bare hyper server that reads and drops the same bodies as
//! the ceiling in the same run; and the counter's peak memory, which must
//! stay far below the size of the files in flight (a file is never whole in
//! memory).
//!
//! Usage: bench-upload MADOGUCHI_BINARY [--files N] [--mb M] [--concurrency C[,C…]] [--engines sqlite,postgres]
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::{Engine, TestCounter};

/// A "PDF" of `bytes` bytes.
fn scan(bytes: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    out.extend((out.len()..bytes).map(|i| (i * 31 % 251) as u8));
    out
}

fn form(max_mb: usize) -> String {
    format!(
        r#"id = "upload-bench"
title = {{ ja = "書類の提出" }}
[[fields]]
name = "applicant"
type = "name"
label = {{ ja = "お名前" }}
required = true
furigana = false
[[fields]]
name = "scan"
type = "file"
label = {{ ja = "書類" }}
required = true
accept = ["pdf"]
max_mb = {max_mb}
"#
    )
}

fn multipart(file: &[u8]) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(file.to_vec()).file_name("scan.pdf");
    reqwest::multipart::Form::new().text("applicant", "住民 太郎").part("scan", part)
}

/// Posts `count` uploads, `concurrency` at a time; returns the elapsed time
/// and each request's latency.
async fn run(url: &str, file: &Arc<Vec<u8>>, count: usize, concurrency: usize) -> (Duration, Vec<Duration>) {
    let client = reqwest::Client::new();
    let (latencies, elapsed) = testkit::bounded(concurrency, count, |_| {
        let request = client.post(url).multipart(multipart(file));
        async move {
            let t0 = Instant::now();
            let response = request.send().await.expect("request");
            let status = response.status();
            let body = response.text().await.expect("body");
            assert!(status.is_success(), "{status}: {}", &body[..body.len().min(2000)]);
            t0.elapsed()
        }
    })
    .await;
    (elapsed, latencies)
}

fn row(what: &str, count: usize, mb: usize, concurrency: usize, elapsed: Duration, latencies: &[Duration]) -> String {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let p50 = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let rate = (count * mb) as f64 / elapsed.as_secs_f64();
    format!("| {what} | {count} × {mb} MB | {concurrency} | {rate:.0} | {:.0} |", p50.as_secs_f64() * 1000.0)
}

/// The process's resident memory: now (VmRSS) and its peak (VmHWM), MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .expect("a memory figure")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Bytes of the sealed attachment parts anywhere under `dir`.
fn sealed_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => sealed_bytes(&e.path()),
                    Ok(m) if e.path().to_string_lossy().contains("/attachment-parts/") => m.len(),
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(args.next().expect("usage: bench-upload MADOGUCHI_BINARY [--files N] [--mb M]"));
    let (mut files, mut mb, mut levels, mut engines) = (20usize, 20usize, vec![1usize, 4], vec![Engine::Sqlite]);
    while let Some(flag) = args.next() {
        let value = args.next().expect("a value after each flag");
        match flag.as_str() {
            "--files" => files = value.parse().expect("--files N"),
            "--mb" => mb = value.parse().expect("--mb M"),
            "--concurrency" => levels = value.split(',').map(|c| c.parse().expect("--concurrency C[,C…]")).collect(),
            "--engines" => engines = value.split(',').map(|e| e.parse().expect("--engines sqlite,postgres")).collect(),
            other => panic!("unknown flag {other}"),
        }
    }
    std::env::set_var("MADOGUCHI_TEST_LOG", "warn");
    let file = Arc::new(scan(mb * 1000 * 1000));

    println!("{files} uploads of {mb} MB per row, at the concurrency shown, loopback, this process as the client.\n");
    println!("| what | files | concurrent | MB/s | p50 ms |");
    println!("|---|---|---|---|---|");
    let (_hello, hello_url) = testkit::start_hello().await;
    for &level in &levels {
        let (elapsed, latencies) = run(&hello_url, &file, files, level).await;
        println!("{}", row("bare hyper, body read and dropped (ceiling)", files, mb, level, elapsed, &latencies));
    }
    let mut notes = Vec::new();
    for engine in engines {
        let counter = TestCounter::start(&binary, engine).await;
        let name = match engine {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        };
        let store = counter.store().await;
        store.publish_form("aoba-city", "upload-bench", &form(mb + 5), None).await.expect("publish");
        let url = format!("{}/t/aoba-city/f/upload-bench/confirm", counter.url);
        let pid = counter.pid().expect("the counter runs");
        // Warm up with a small file, then take the memory before.
        let (_, _) = run(&url, &Arc::new(scan(100_000)), 4, 2).await;
        let (rss_before, peak_before) = memory_mib(pid);
        for &level in &levels {
            let (elapsed, latencies) = run(&url, &file, files, level).await;
            let what = format!("POST 確認 with the file, sealed into the vault ({name})");
            println!("{}", row(&what, files, mb, level, elapsed, &latencies));
        }
        let (rss_after, peak_after) = memory_mib(pid);
        let sealed = sealed_bytes(counter.root.path());
        let expected = (files * levels.len() * mb * 1000 * 1000) as u64;
        assert!(sealed >= expected, "every upload is sealed in the vault: {sealed} of {expected} bytes");
        let most = levels.iter().max().copied().unwrap_or(1);
        notes.push(format!(
            "- {name}: counter memory (RSS) {rss_before:.0} MiB before the uploads, {rss_after:.0} MiB after; \
             peak {peak_before:.0} MiB before, {peak_after:.0} MiB after, while {} MB of files passed through, \
             up to {most} × {mb} MB at once; {:.0} MB sealed into the vault.",
            files * levels.len() * mb,
            sealed as f64 / 1e6
        ));
    }
    println!();
    for note in notes {
        println!("{note}");
    }
}
