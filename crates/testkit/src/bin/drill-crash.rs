//! The crash drill: under a steady load of residents submitting, the
//! counter is killed with SIGKILL at random moments and started again, at
//! least 20 times. Afterwards every receipt a resident was shown must be in
//! the database, in the vault, and open with the tenant's key (as on the
//! desk); every draft must be exactly one submission; numbers have no gaps.
//!
//! Usage: drill-crash MADOGUCHI_BINARY [--engine sqlite|postgres] [--kills N]
//!        [--clients C] [--vault-url s3://BUCKET]
//!
//! Loopback only; bounded by --kills (each cycle runs the load for 0.3–1.5 s).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::Rng;
use testkit::residents::{check_receipts, first_gap, Residents, TENANT};
use testkit::{Engine, TestCounter};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(args.next().expect("usage: drill-crash MADOGUCHI_BINARY [--engine E] [--kills N]"));
    let (mut engine, mut kills, mut clients, mut vault_url) = (Engine::Sqlite, 20usize, 16usize, None::<String>);
    while let Some(flag) = args.next() {
        let value = args.next().expect("a value after each flag");
        match flag.as_str() {
            "--engine" => engine = value.parse().expect("--engine sqlite|postgres"),
            "--kills" => kills = value.parse().expect("--kills N"),
            "--clients" => clients = value.parse().expect("--clients C"),
            "--vault-url" => vault_url = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    let extra: Vec<&str> = match &vault_url {
        Some(url) => vec!["--vault-url", url.as_str()],
        None => vec![],
    };
    let mut counter = TestCounter::start_with(&binary, engine, &extra).await;
    let started = Instant::now();
    let residents = Residents::start(&counter.url, clients);

    let mut downtime = Duration::ZERO;
    for round in 1..=kills {
        let wait = rand::thread_rng().gen_range(300..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let before = residents.acknowledged_count();
        counter.kill().await;
        let down = Instant::now();
        counter.restart().await;
        downtime += down.elapsed();
        residents.follow(&counter.url);
        eprintln!(
            "kill {round}/{kills}: {before} receipts shown so far; back in {:.2} s",
            down.elapsed().as_secs_f64()
        );
    }
    // Let the residents finish what they were sending.
    tokio::time::sleep(Duration::from_millis(500)).await;
    residents.finish().await;
    let elapsed = started.elapsed();

    // Every receipt shown is stored once, in the vault, and opens.
    let vault = match &vault_url {
        Some(url) => store::Vault::s3(url).expect("vault"),
        None => store::Vault::local(&counter.data_dir().join("vault")).expect("vault"),
    };
    let store = store::Store::open(&counter.database.url, vault).await.expect("store");
    let key = counter.demo_private_key(TENANT);
    let acknowledged = residents.acknowledged();
    let lost = check_receipts(&store, &key, &acknowledged).await;
    let year = acknowledged.values().next().and_then(|n| n[..4].parse().ok()).unwrap_or(2026);
    let stored = store.count_submissions(TENANT, year).await.expect("count");
    let conflicts = residents.conflicts();
    println!(
        "crash drill ({engine:?}{}): {kills} kills with SIGKILL in {:.0} s ({:.1} s down in all), {clients} residents; \
         {} receipts shown, {} sends unanswered and sent again; stored {stored}; lost or damaged {}, shown twice {}",
        vault_url.as_deref().map(|u| format!(", vault {u}")).unwrap_or_default(),
        elapsed.as_secs_f64(),
        downtime.as_secs_f64(),
        acknowledged.len(),
        residents.unanswered(),
        lost.len(),
        conflicts.len(),
    );
    for problem in lost.iter().chain(&conflicts).take(20) {
        eprintln!("  {problem}");
    }
    // Every draft sent is one submission: none stored twice, no gaps.
    let duplicates = stored - acknowledged.len() as i64;
    if duplicates != 0 {
        eprintln!("  {duplicates} more submissions stored than drafts acknowledged");
    }
    if let Some(seq) = first_gap(&store, year, stored).await {
        eprintln!("  gap at {seq}");
        std::process::exit(1);
    }
    if !lost.is_empty() || !conflicts.is_empty() || duplicates != 0 || acknowledged.is_empty() {
        std::process::exit(1);
    }
}
