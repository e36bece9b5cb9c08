//! `madoguchi backup …` and `madoguchi drill restore`: snapshots into the
//! vault, checking the vault, rebuilding a database from it, and the
//! restore drill an operator schedules.

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use store::backup::{self, Problem, Progress};

use crate::config::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a consistent snapshot of the whole database into the vault.
    /// Schedule it (e.g. hourly): restore starts from the newest snapshot
    /// and replays what the vault received since.
    Create {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Read every vault object back and check it against its hash; check
    /// that every snapshot's chunks are there and that every submission in
    /// the ledger has its record in the vault. Exits non-zero naming each
    /// missing or damaged object.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Rebuild the database from the vault into an empty database: the
    /// newest snapshot that reads back whole (older ones if it does not),
    /// then every submission, ledger leaf and status change written since.
    Restore {
        #[command(flatten)]
        target: RestoreTarget,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct RestoreTarget {
    /// The empty database to restore into (sqlite://PATH or postgres://…;
    /// either engine, whatever the snapshot came from). Default: the
    /// configured database.
    #[arg(long, value_name = "URL")]
    into: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Restore the vault into a scratch database and compare it with the
    /// live one, submission by submission and leaf by leaf; print the time
    /// it took. Exits non-zero if anything acknowledged is missing or
    /// differs.
    Restore {
        /// The scratch database (must be empty). Default: a new SQLite file
        /// in a temporary directory, removed afterwards.
        #[arg(long, value_name = "URL")]
        into: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// indicatif bars, one per stage, on standard error (hidden when it is not
/// a terminal).
/// Each stage's time goes to the log (debug), for operators tuning a
/// restore.
struct Bars(Mutex<Option<(ProgressBar, Instant)>>);

impl Bars {
    fn new() -> Bars {
        Bars(Mutex::new(None))
    }

    fn finish(&self) {
        if let Some((bar, started)) = self.0.lock().ok().and_then(|mut b| b.take()) {
            tracing::debug!(stage = %bar.message(), items = bar.position(), seconds = started.elapsed().as_secs_f64(), "stage done");
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, total: Option<u64>) {
        self.finish();
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg:28} {bar:40} {pos}/{len} ({per_sec}, {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(name.to_owned());
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((bar, Instant::now()));
        }
    }

    fn advance(&self, by: u64) {
        if let Some((bar, _)) = self.0.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            bar.inc(by);
        }
    }
}

pub fn run_backup(command: BackupCommand) -> ExitCode {
    block_on(backup(command))
}

pub fn run_drill(command: DrillCommand) -> ExitCode {
    block_on(drill(command))
}

fn block_on(work: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    crate::init_logging(crate::config::LogFormat::Text);
    let outcome = tokio::runtime::Runtime::new().context("starting the async runtime").and_then(|rt| rt.block_on(work));
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("madoguchi: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn report_problems(what: &str, problems: &[Problem]) -> ExitCode {
    if problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("{what}: {} problem(s):", problems.len());
    for problem in problems {
        eprintln!("  MISSING OR CORRUPT {problem}");
    }
    ExitCode::FAILURE
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

async fn backup(command: BackupCommand) -> anyhow::Result<ExitCode> {
    let bars = Bars::new();
    match command {
        BackupCommand::Create { store } => {
            let store = store.into_config()?.open().await?;
            let summary = store.create_snapshot(&bars).await.context("writing the snapshot")?;
            bars.finish();
            println!(
                "snapshot snapshots/{}: {} rows ({} submissions) in {} chunks, {}, {:.1} s",
                summary.manifest,
                summary.rows,
                summary.submissions,
                summary.chunks,
                mib(summary.bytes),
                summary.elapsed.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Verify { store } => {
            let store = store.into_config()?.open().await?;
            let report = store.verify_backup(&bars).await.context("verifying the vault")?;
            bars.finish();
            println!(
                "vault {}: {} objects ({}) read and checked: {} snapshots, {} segments; {} submissions in the ledger have their record in the vault; {:.1} s",
                store.vault().description(),
                report.objects,
                mib(report.bytes),
                report.snapshots,
                report.segments,
                report.records_checked,
                report.elapsed.as_secs_f64()
            );
            Ok(report_problems("backup verify", &report.problems))
        }
        BackupCommand::Restore { target, store } => {
            let config = store.into_config()?;
            let into = target.into.unwrap_or_else(|| config.database.clone());
            let vault = config.vault()?;
            let report = backup::restore(&vault, &into, &bars).await.context("restoring")?;
            bars.finish();
            print_restore(&report);
            Ok(report_problems("backup restore", &report.problems))
        }
    }
}

fn print_restore(report: &backup::RestoreReport) {
    for skipped in &report.skipped_snapshots {
        eprintln!("skipped snapshot {skipped}");
    }
    println!(
        "restored from {} (taken {}): {} rows; then {} segments: {} submissions, {} ledger leaves, {} status changes, {} rows of the rooms",
        report.snapshot,
        time::OffsetDateTime::from_unix_timestamp(report.snapshot_taken_at_us / 1_000_000)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        report.snapshot_rows,
        report.segments_read,
        report.submissions_from_segments,
        report.leaves_from_segments,
        report.status_changes,
        report.room_rows_from_segments
    );
    println!(
        "now {} submissions, ledger of {} leaves; time to recover {:.1} s",
        report.submissions,
        report.ledger_size,
        report.elapsed.as_secs_f64()
    );
}

async fn drill(command: DrillCommand) -> anyhow::Result<ExitCode> {
    let DrillCommand::Restore { into, store } = command;
    let bars = Bars::new();
    let started = Instant::now();
    let config = store.into_config()?;
    let live = config.open().await?;
    let scratch_dir = tempfile::tempdir().context("creating a scratch directory")?;
    let into = into.unwrap_or_else(|| format!("sqlite://{}", scratch_dir.path().join("drill.sqlite").display()));
    let report = backup::restore(live.vault(), &into, &bars).await.context("restoring into the scratch database")?;
    bars.finish();
    print_restore(&report);
    let restored = store::Store::open(&into, live.vault().clone()).await.context("opening the scratch database")?;
    let comparison = backup::compare(&live, &restored, &bars).await.context("comparing")?;
    bars.finish();
    restored.close().await;
    println!(
        "compared {} submissions and {} ledger leaves with the live database: {} missing, {} extra, {} differing; {} arrived since",
        comparison.submissions_compared,
        comparison.leaves_compared,
        comparison.missing.len(),
        comparison.extra.len(),
        comparison.differing.len(),
        comparison.newer_in_live
    );
    for (what, list) in
        [("MISSING", &comparison.missing), ("EXTRA", &comparison.extra), ("DIFFERS", &comparison.differing)]
    {
        for item in list.iter().take(50) {
            eprintln!("  {what} {item}");
        }
    }
    println!("restore drill: {:.1} s in all", started.elapsed().as_secs_f64());
    let code = report_problems("drill restore", &report.problems);
    Ok(if comparison.is_exact() { code } else { ExitCode::FAILURE })
}
