//! Sealed submissions per second through the counter's HTTP endpoints, with
//! a bare hyper server measured in the same run as the ceiling.
//!
//! Usage: bench-submit MADOGUCHI_BINARY [--requests N] [--concurrency C[,C…]] [--engines sqlite,postgres]
//!
//! For each engine it starts a real counter (release binary, demo
//! prefecture), then measures, each with N requests at concurrency C from
//! this process over loopback: GET of a form page, POST 確認 (validate,
//! normalise, seal the draft token), and POST 送信 (seal to the tenant key,
//! take a 到達番号, commit to the database and write to the vault). It then
//! checks that exactly N submissions were stored. Prints a Markdown table,
//! and first the disk's fsync rate (the physical limit for commits made one
//! at a time; group commit shares each fsync among many submissions).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use testkit::{Engine, TestCounter};

struct Figures {
    what: String,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn row(&self, ceiling: Option<f64>) -> String {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let pct =
            |p: f64| sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied();
        let rate = self.requests as f64 / self.elapsed.as_secs_f64();
        let ms = |d: Option<Duration>| d.map(|d| format!("{:.2}", d.as_secs_f64() * 1000.0)).unwrap_or_default();
        let share = ceiling.map(|c| format!("{:.1} %", rate / c * 100.0)).unwrap_or_else(|| "100 %".into());
        format!(
            "| {} | {} | {:.0} | {} | {} | {} |",
            self.what,
            self.requests,
            rate,
            ms(pct(0.5)),
            ms(pct(0.99)),
            share
        )
    }
}

/// Sends `bodies.len()` requests built by `make`, at most `concurrency` at a
/// time; returns the figures and every response body.
async fn run<F>(what: &str, concurrency: usize, count: usize, make: F) -> (Figures, Vec<String>)
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    let (answers, elapsed) = testkit::bounded(concurrency, count, |i| {
        let request = make(i);
        async move {
            let t0 = Instant::now();
            let response = request.send().await.expect("request");
            let status = response.status();
            let body = response.text().await.expect("body");
            assert!(status.is_success(), "{status}: {body}");
            (t0.elapsed(), body)
        }
    })
    .await;
    let (latencies, bodies): (Vec<Duration>, Vec<String>) = answers.into_iter().unzip();
    (Figures { what: what.to_owned(), requests: count, elapsed, latencies }, bodies)
}

/// The form measured: 水道使用開始届, or (with `--booking`) a booking form
/// whose places are counted under the tenant's lock for every 送信.
enum Bench {
    WaterStart,
    Booking { slots: Vec<String> },
}

impl Bench {
    fn form(&self) -> &'static str {
        match self {
            Bench::WaterStart => "water-start",
            Bench::Booking { .. } => "counter-booking",
        }
    }

    /// The `i`-th resident's answers: bookings go round the slots.
    fn answers(&self, i: usize) -> Vec<(String, String)> {
        match self {
            Bench::WaterStart => testkit::water_start_answers("ベンチマーク"),
            Bench::Booking { slots } => {
                [("applicant", "住民 太郎"), ("slot", slots[i % slots.len()].as_str()), ("consent", "yes")]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .to_vec()
            }
        }
    }
}

/// Today's date in Japan, ISO.
fn time_now_jst() -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).date().to_string()
}

/// Synchronous 4 KiB writes per second to a file in `dir`, one after the
/// other for about a second: what one-commit-per-submission could reach.
fn fsync_rate(dir: &std::path::Path) -> f64 {
    use std::io::{Seek, Write};
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let block = [0x5au8; 4096];
    let started = Instant::now();
    let mut count = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        file.seek(std::io::SeekFrom::Start(0)).expect("seek");
        file.write_all(&block).expect("write");
        file.sync_data().expect("fdatasync");
        count += 1;
    }
    let rate = f64::from(count) / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    rate
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary =
        PathBuf::from(args.next().expect("usage: bench-submit MADOGUCHI_BINARY [--requests N] [--concurrency C]"));
    let (mut requests, mut levels, mut engines) = (2000usize, vec![32usize], vec![Engine::Sqlite, Engine::Postgres]);
    let mut booking = false;
    while let Some(flag) = args.next() {
        if flag == "--booking" {
            booking = true;
            continue;
        }
        let value = args.next().expect("a value after each flag");
        match flag.as_str() {
            "--requests" => requests = value.parse().expect("--requests N"),
            "--concurrency" => levels = value.split(',').map(|c| c.parse().expect("--concurrency C[,C…]")).collect(),
            "--engines" => engines = value.split(',').map(|e| e.parse().expect("--engines sqlite,postgres")).collect(),
            other => panic!("unknown flag {other}"),
        }
    }
    std::env::set_var("MADOGUCHI_TEST_LOG", "warn");
    let concurrency = levels.iter().copied().max().unwrap_or(32);
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");

    let (_hello, hello_url) = testkit::start_hello().await;
    // Warm up, then measure the ceiling.
    let _ = run("warm-up", concurrency, 200, |_| client.get(&hello_url)).await;
    let (hello, _) = run("bare hyper \"hello\" (ceiling)", concurrency, requests, |_| client.get(&hello_url)).await;
    let ceiling = hello.requests as f64 / hello.elapsed.as_secs_f64();
    let probe = tempfile::tempdir_in(std::env::temp_dir()).expect("probe dir");
    println!(
        "\nDisk: {:.0} fsyncs/s (4 KiB write + fdatasync, one at a time, in {}): the limit for one commit per submission.",
        fsync_rate(probe.path()),
        std::env::temp_dir().display()
    );
    println!("{requests} requests per row, at the concurrency shown, loopback, this process as the client.\n");
    println!("| endpoint | requests | req/s | p50 ms | p99 ms | of ceiling |");
    println!("|---|---|---|---|---|---|");
    println!("{}", hello.row(None));

    for engine in engines {
        let counter = TestCounter::start(&binary, engine).await;
        let name = match engine {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        };
        let bench = if booking {
            let store = counter.store().await;
            let text = testkit::booking_form(requests * levels.len() + 1);
            store.publish_form("aoba-city", "counter-booking", &text, None).await.expect("publish");
            Bench::Booking { slots: testkit::booking_slots(&text) }
        } else {
            Bench::WaterStart
        };
        let form_url = format!("{}/t/aoba-city/f/{}", counter.url, bench.form());
        let _ = run("warm-up", concurrency, 200, |_| client.get(&form_url)).await;
        let (page, _) = run(&format!("GET form page ({name})"), concurrency, requests, |_| client.get(&form_url)).await;
        println!("{}", page.row(Some(ceiling)));
        let confirm_url = format!("{form_url}/confirm");
        let (confirm, pages) = run(&format!("POST 確認 ({name})"), concurrency, requests, |i| {
            client.post(&confirm_url).form(&bench.answers(i))
        })
        .await;
        println!("{}", confirm.row(Some(ceiling)));
        let mut drafts: Vec<String> =
            pages.iter().map(|p| testkit::hidden_input(p, "_draft").expect("a draft token")).collect();
        let submit_url = format!("{form_url}/submit");
        for (round, level) in levels.iter().enumerate() {
            if round > 0 {
                // Fresh drafts: each round sends new submissions.
                let (_, pages) =
                    run("confirm", concurrency, requests, |i| client.post(&confirm_url).form(&bench.answers(i))).await;
                drafts = pages.iter().map(|p| testkit::hidden_input(p, "_draft").expect("a draft token")).collect();
            }
            let (submit, receipts) =
                run(&format!("POST 送信, sealed + committed ({name}, {level} clients)"), *level, requests, |i| {
                    client.post(&submit_url).form(&[("_draft", drafts[i].as_str())])
                })
                .await;
            println!("{}", submit.row(Some(ceiling)));
            assert!(receipts.iter().all(|r| r.contains("id=\"receipt-number\"")));
        }
        let year = time_now_jst()[..4].parse().expect("year");
        let stored = counter.store().await.count_submissions("aoba-city", year).await.expect("count");
        assert_eq!(stored, (requests * levels.len()) as i64, "every acknowledged submission is stored, once");
    }
}
