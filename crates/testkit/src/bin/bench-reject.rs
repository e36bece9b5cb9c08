//! What a refusal costs: requests per second the counter's shield refuses
//! (429, per-address bucket empty) with the server pinned to one core,
//! against a bare hyper server answering the same requests on that core,
//! in one run. The client runs on the other core.
//!
//! Usage: bench-reject MADOGUCHI_BINARY [--requests N] [--concurrency C]
#![forbid(unsafe_code)]

use testkit::load::{hammer, pin, LoadArgs};
use testkit::{start_hello, Engine, TestCounter};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let LoadArgs { binary, requests, concurrency } =
        LoadArgs::parse("bench-reject MADOGUCHI_BINARY [--requests N] [--concurrency C]", 200_000, 64);
    // This client on core 1; the servers on core 0.
    pin(std::process::id(), "1");

    let (hello, hello_url) = start_hello().await;
    pin(hello.id().unwrap_or(0), "0");
    let (bare, _) = hammer(&format!("{hello_url}/t/aoba-city/f/water-start"), requests, concurrency, 200).await;
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
