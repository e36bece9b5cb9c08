//! The flood drill (see `testkit::drill`): prints the table of the three
//! set-ups side by side, and exits non-zero if the shield's run misses its
//! targets (residents of B–J ≥ 99 %, of A with a form open ≥ 95 %).
//!
//! Usage: drill-flood MADOGUCHI_BINARY [--short] [--modes shield,nginx,bare]
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use testkit::drill::{self, DrillConfig, Mode};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(binary) = args.get(1).map(PathBuf::from) else {
        eprintln!("usage: drill-flood MADOGUCHI_BINARY [--short] [--modes shield,nginx,bare]");
        return ExitCode::from(2);
    };
    let config = if args.iter().any(|a| a == "--short") { DrillConfig::short() } else { DrillConfig::full() };
    let modes: Vec<Mode> = args
        .iter()
        .position(|a| a == "--modes")
        .and_then(|i| args.get(i + 1))
        .map(|m| m.as_str())
        .unwrap_or("shield,nginx,bare")
        .split(',')
        .filter_map(|m| match m {
            "shield" => Some(Mode::Shield),
            "nginx" => Some(Mode::Nginx),
            "bare" => Some(Mode::Bare),
            _ => None,
        })
        .collect();
    let capacity = drill::capacity(&binary).await;
    let rate = capacity * config.multiplier;
    eprintln!("capacity {capacity:.0} req/s; attacking at {rate:.0} req/s for {} s per set-up", config.seconds);
    let mut reports = Vec::new();
    for mode in modes {
        eprintln!("running: {}", mode.label());
        reports.push(drill::run(&binary, mode, &config, rate).await);
    }
    println!("{}", drill::table(&reports, capacity));
    let missed = reports
        .iter()
        .filter(|r| r.mode == Mode::Shield)
        .any(|r| r.others.success() < 0.99 || r.a_before.success() < 0.95);
    if missed {
        eprintln!("the shield missed its targets");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
