//! What crisis mode buys under a flood: requests per second for a
//! municipality's home page as the counter renders it normally (its forms
//! read and listed) and as the static crisis page served from memory, with
//! the server pinned to one core, against a bare hyper server on that core
//! in the same run. The client runs on the other core.
//!
//! Usage: bench-crisis MADOGUCHI_BINARY [--requests N] [--concurrency C]
#![forbid(unsafe_code)]

use std::time::Duration;

use testkit::load::{hammer, pin, LoadArgs};
use testkit::{start_hello, Engine, TestCounter};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let LoadArgs { binary, requests, concurrency } =
        LoadArgs::parse("bench-crisis MADOGUCHI_BINARY [--requests N] [--concurrency C]", 50_000, 64);
    pin(std::process::id(), "1");

    let (hello, url) = start_hello().await;
    pin(hello.id().unwrap_or(0), "0");
    let (bare, _) = hammer(&format!("{url}/t/aoba-city"), requests, concurrency, 200).await;
    drop(hello);

    let counter = TestCounter::start(&binary, Engine::Sqlite).await;
    pin(counter.pid().unwrap_or(0), "0");
    let home = format!("{}/t/aoba-city", counter.url);
    let (normal, normal_ok) = hammer(&home, requests, concurrency, 200).await;

    let switched = std::process::Command::new(&binary)
        .args(["tenant", "crisis", "aoba-city", "on", "--form", "damage-report", "--data-dir"])
        .arg(counter.data_dir())
        .args(["--database", &counter.database.url])
        .output()
        .expect("madoguchi tenant crisis");
    assert!(switched.status.success(), "{}", String::from_utf8_lossy(&switched.stderr));
    // Every node reads the switch within five seconds.
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let page = client.get(&home).send().await.expect("home").text().await.unwrap_or_default();
        if page.contains("crisis-notice") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (crisis, crisis_ok) = hammer(&home, requests, concurrency, 200).await;

    println!("| /t/aoba-city (server pinned to one core) | requests | answered 200 | req/s | of bare hyper |");
    println!("|---|---|---|---|---|");
    println!("| bare hyper, 200 \"hello\" | {requests} | {requests} | {bare:.0} | 100 % |");
    println!(
        "| counter, home page rendered (forms listed) | {requests} | {normal_ok} | {normal:.0} | {:.0} % |",
        normal / bare * 100.0
    );
    println!(
        "| counter, crisis mode: static page from memory | {requests} | {crisis_ok} | {crisis:.0} | {:.0} % |",
        crisis / bare * 100.0
    );
}
