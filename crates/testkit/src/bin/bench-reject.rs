//! What a refusal costs: requests per second the counter's shield refuses
//! (429, per-address bucket empty) with the server pinned to one core,
//! against a bare hyper server answering the same requests on that core,
//! in one run. The client runs on the other core.
//!
//! Usage: bench-reject MADOGUCHI_BINARY [--requests N] [--concurrency C]
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use testkit::{Engine, TestCounter};
use tokio::io::AsyncBufReadExt;

/// Sends `count` GETs of `url`, `concurrency` at a time; returns
/// (requests/s, how many answered with `status`).
async fn hammer(url: &str, count: u64, concurrency: u64, status: u16) -> (f64, u64) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency as usize).build().expect("client");
    let next = Arc::new(AtomicU64::new(0));
    let matched = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, matched) = (client.clone(), url.to_owned(), Arc::clone(&next), Arc::clone(&matched));
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < count {
                if let Ok(response) = client.get(&url).send().await {
                    if response.status().as_u16() == status {
                        matched.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = response.bytes().await;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    (count as f64 / started.elapsed().as_secs_f64(), matched.load(Ordering::Relaxed))
}

fn pin(pid: u32, core: &str) {
    let _ = std::process::Command::new("taskset").args(["-a", "-p", "-c", core, &pid.to_string()]).output();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let binary =
        PathBuf::from(args.get(1).expect("usage: bench-reject MADOGUCHI_BINARY [--requests N] [--concurrency C]"));
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (requests, concurrency) = (flag("--requests", 200_000), flag("--concurrency", 64));
    // This client on core 1; the servers on core 0.
    pin(std::process::id(), "1");

    let mut hello =
        tokio::process::Command::new(std::env::current_exe().expect("own path").with_file_name("bench-hello"))
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("bench-hello");
    pin(hello.id().unwrap_or(0), "0");
    let mut lines = tokio::io::BufReader::new(hello.stdout.take().expect("stdout")).lines();
    let line = lines.next_line().await.ok().flatten().unwrap_or_default();
    let address = line.trim_start_matches("listening on ").to_owned();
    let (bare, _) = hammer(&format!("http://{address}/t/aoba-city/f/water-start"), requests, concurrency, 200).await;
    drop(hello);

    // One token a second per address: after the first request, every
    // request from this client is refused by the shield.
    let counter = TestCounter::start_with(&binary, Engine::Sqlite, &["--shield-address-rate", "1/1"]).await;
    pin(counter.pid().unwrap_or(0), "0");
    let url = format!("{}/t/aoba-city/f/water-start", counter.url);
    let (refused, n429) = hammer(&url, requests, concurrency, 429).await;

    println!("| server (pinned to one core) | requests | req/s | of bare hyper |");
    println!("|---|---|---|---|");
    println!("| bare hyper, 200 \"hello\" | {requests} | {bare:.0} | 100 % |");
    println!(
        "| counter, 429 from the shield ({n429} refused) | {requests} | {refused:.0} | {:.0} % |",
        refused / bare * 100.0
    );
}
