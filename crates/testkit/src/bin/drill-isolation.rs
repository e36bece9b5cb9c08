//! The isolation drill (see `testkit::drill::isolation`): ten tenants under
//! a steady stream of residents; one is isolated with `madoguchi tenant
//! isolate`; the other nine must keep ≥ 99 % success with their latency
//! unmoved, and the isolated one's residents must be shown its notice.
//!
//! Usage: drill-isolation MADOGUCHI_BINARY [--seconds S] [--rate R]
//! (R residents per tenant per second; loopback only, bounded by 2 × S).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use testkit::drill;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(binary) = args.next().map(PathBuf::from) else {
        eprintln!("usage: drill-isolation MADOGUCHI_BINARY [--seconds S] [--rate R]");
        return ExitCode::from(2);
    };
    let (mut seconds, mut rate) = (15u64, 4.0f64);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--seconds" => seconds = value.parse().unwrap_or(seconds),
            "--rate" => rate = value.parse().unwrap_or(rate),
            other => {
                eprintln!("unknown flag {other}");
                return ExitCode::from(2);
            }
        }
    }
    let report = drill::isolation(&binary, seconds, rate).await;
    let row = |label: &str, g: &drill::Group| {
        format!(
            "| {label} | {:.2} % ({}/{}) | {:.0} | {:.0} |",
            g.success() * 100.0,
            g.succeeded,
            g.attempted,
            g.percentile(0.5),
            g.percentile(0.99)
        )
    };
    println!("\nten tenants, {rate} residents per tenant per second, {seconds} s before and {seconds} s after isolating one\n");
    println!("| the nine others | success | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    println!("{}", row("before the isolation", &report.before));
    println!("{}", row("after the isolation", &report.after));
    println!(
        "\nthe isolated tenant's notice served {:.2} s after the command; its residents shown the notice: {}/{}",
        report.notice_after.as_secs_f64(),
        report.told.0,
        report.told.1
    );
    let steady = report.after.percentile(0.5) <= report.before.percentile(0.5) * 1.5 + 5.0;
    if report.after.success() < 0.99 || report.told.0 < report.told.1 || !steady {
        eprintln!("the isolation drill missed its targets");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
