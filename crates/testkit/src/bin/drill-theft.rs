//! The theft drills of the watch (see `testkit::theft`): burst theft by a
//! stolen staff session, a honeytoken opened, a stolen desk key pulling
//! low and slow from 20 addresses over simulated days, and weeks of normal
//! clerk work for the false-positive rate. Prints a table for
//! docs/benchmarks.md; fails when a target is missed.
//!
//! Usage: drill-theft MADOGUCHI_BINARY [--weeks W] [--per-day N]
//! (loopback only; every scenario is bounded in requests and time).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use testkit::theft;

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(binary) = args.next().map(PathBuf::from) else {
        eprintln!("usage: drill-theft MADOGUCHI_BINARY [--weeks W] [--per-day N]");
        return ExitCode::from(2);
    };
    let (mut weeks, mut per_day) = (4i64, 80u64);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--weeks" => weeks = value.parse().unwrap_or(weeks),
            "--per-day" => per_day = value.parse().unwrap_or(per_day),
            other => {
                eprintln!("unknown flag {other}");
                return ExitCode::from(2);
            }
        }
    }
    let mut missed = Vec::new();
    let mut caught = theft::burst(&binary).await;
    caught.push(theft::honeytoken(&binary).await);
    caught.push(theft::low_and_slow(&binary, per_day, 20).await);
    // The same thief keeping to two addresses: the volume rules alone.
    caught.push(theft::low_and_slow(&binary, per_day, 2).await);

    println!("\n| scenario | records out before the freeze | refused after | simulated time | rule in the ledger | alert in the counter's ledger after |");
    println!("|---|---|---|---|---|---|");
    for c in &caught {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            c.scenario,
            c.records_out,
            secs(c.after),
            c.simulated.map(|d| format!("{:.1} days", d.as_secs_f64() / 86_400.0)).unwrap_or_else(|| "–".into()),
            c.finding,
            c.in_ledger_after.map(secs).unwrap_or_else(|| "never".into()),
        );
        let limit = match c.scenario {
            s if s.starts_with("burst") => c.records_out <= 200 && c.after.as_secs() < 60,
            s if s.starts_with("honeytoken") => c.in_ledger_after.is_some_and(|d| d.as_secs() < 5),
            _ => c.records_out < 1000,
        };
        if !limit || c.in_ledger_after.is_none() {
            missed.push(c.scenario);
        }
    }

    println!("\n| normal work ({weeks} weeks) | clerks | reads | records | alerts | alerts per week |");
    println!("|---|---|---|---|---|---|");
    for tenant in 0..3 {
        let run = theft::normal_work(&binary, tenant, weeks).await;
        let per_week = run.alerts.len() as f64 / run.weeks;
        println!(
            "| {} | {} | {} | {} | {} {:?} | {:.2} |",
            run.tenant,
            run.clerks,
            run.reads,
            run.records,
            run.alerts.len(),
            run.alerts,
            per_week
        );
        if per_week > 1.0 {
            missed.push("false positives");
        }
    }
    if !missed.is_empty() {
        eprintln!("the theft drill missed its targets: {missed:?}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
