//! What a refusal costs: requests per second the counter's shield refuses
//! (429, per-address bucket empty) with the server pinned to one core,
//! against a bare hyper server answering the same requests on that core,
//! in one run. The client runs on the other core.
//!
//! Usage: bench-reject MADOGUCHI_BINARY [--requests N] [--concurrency C]
#![forbid(unsafe_code)]

use std::path::PathBuf;

use testkit::load::{hammer, pin};
use testkit::{Engine, TestCounter};
use tokio::io::AsyncBufReadExt;

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
