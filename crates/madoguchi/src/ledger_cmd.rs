//! `madoguchi ledger …`: the operator's and auditor's view of the ledger.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::config::LedgerStoreArgs;

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check the whole ledger: every leaf against its hash, no gaps, and
    /// every signed checkpoint against the tree rebuilt from the database.
    /// Exits non-zero naming the first inconsistency.
    Verify {
        #[command(flatten)]
        args: LedgerStoreArgs,
    },
    /// Sign a checkpoint of the ledger now (the counter also does this on a
    /// schedule) and print it.
    Checkpoint {
        #[command(flatten)]
        args: LedgerStoreArgs,
    },
}

pub fn run(command: LedgerCommand) -> ExitCode {
    crate::init_logging(crate::config::LogFormat::Text);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("madoguchi: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("madoguchi: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: LedgerCommand) -> anyhow::Result<ExitCode> {
    match command {
        LedgerCommand::Verify { args } => {
            let (store_config, ledger_config) = args.resolve()?;
            let store = store_config.open().await?;
            let verifier = ledger_config.existing_signer()?.verifier();
            let size = store.ledger_size().await?;
            let bar = indicatif::ProgressBar::new(size.max(0) as u64).with_style(
                indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} leaves ({per_sec})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message("verifying");
            let outcome = store.verify_ledger(&verifier, |done| bar.set_position(done.max(0) as u64)).await?;
            bar.finish_and_clear();
            match outcome {
                Ok(report) => {
                    println!(
                        "ledger ok: {} leaves, {} signed checkpoints verified, root {}",
                        report.leaves,
                        report.checkpoints,
                        hex_root(&report.root)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(fault) => {
                    eprintln!("LEDGER INCONSISTENT: {fault}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        LedgerCommand::Checkpoint { args } => {
            let (store_config, ledger_config) = args.resolve()?;
            let store = store_config.open().await?;
            let signer = ledger_config.signer()?;
            let note = store.checkpoint(&signer, &ledger_config.origin).await.context("signing a checkpoint")?;
            print!("{note}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn hex_root(root: &[u8; 32]) -> String {
    root.iter().map(|b| format!("{b:02x}")).collect()
}
