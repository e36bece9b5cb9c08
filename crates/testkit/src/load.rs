//! Loopback load for the benchmarks: GETs as fast as a server answers, a
//! bounded number of them, and pinning processes to a core so the server
//! and the client do not share one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Sends `count` GETs of `url`, `concurrency` at a time; returns
/// (requests/s, how many were answered with `status`).
pub async fn hammer(url: &str, count: u64, concurrency: u64, status: u16) -> (f64, u64) {
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

/// A load benchmark's command line: the madoguchi binary, then
/// `--requests N` and `--concurrency C` (defaults given).
pub struct LoadArgs {
    pub binary: std::path::PathBuf,
    pub requests: u64,
    pub concurrency: u64,
}

impl LoadArgs {
    pub fn parse(usage: &str, requests: u64, concurrency: u64) -> LoadArgs {
        let args: Vec<String> = std::env::args().collect();
        let flag = |name: &str, default: u64| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        LoadArgs {
            binary: std::path::PathBuf::from(args.get(1).unwrap_or_else(|| panic!("usage: {usage}"))),
            requests: flag("--requests", requests),
            concurrency: flag("--concurrency", concurrency),
        }
    }
}

/// Pins process `pid` (all its threads) to `core` ("0", "1").
pub fn pin(pid: u32, core: &str) {
    let _ = std::process::Command::new("taskset").args(["-a", "-p", "-c", core, &pid.to_string()]).output();
}
