//! # madoguchi — the command
//!
//! The thin binary over the crates: `serve` runs the counter, `form check`
//! validates form definition files. It owns command-line parsing,
//! configuration (file, environment, flags) and process set-up, and nothing
//! of the domain: that lives in the library crates.
#![forbid(unsafe_code)]

mod admin_cmd;
mod backup_cmd;
mod config;
mod integrity;
mod keys;
mod ledger_cmd;
mod postal_cmd;
mod tenant_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{LogFormat, ServeArgs, ServeConfig};

#[derive(Parser)]
#[command(
    name = "madoguchi",
    version,
    about = "Online applications and surveys for a prefecture and its municipalities"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the counter: the internet-facing resident pages and intake.
    ///
    /// With no options it starts on 127.0.0.1:8080 with an embedded SQLite
    /// database and a local vault under ./data, and a demo prefecture with
    /// three municipalities and five forms. Every option can also be set in
    /// a TOML file (--config) or an environment variable; flags win over the
    /// environment, which wins over the file.
    Serve(Box<ServeArgs>),
    /// Work with form definition files.
    #[command(subcommand)]
    Form(FormCommand),
    /// Tenant keys: the ceremony on the desk machine, import on the counter.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The desk: the municipality's back office (set-up and sync).
    #[command(subcommand)]
    Desk(keys::DeskCommand),
    /// The tamper-evident ledger: verify it, sign a checkpoint.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCommand),
    /// The admin console's accounts: create the first operator.
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
    /// One tenant's switches (under-attack mode).
    #[command(subcommand)]
    Tenant(tenant_cmd::TenantCommand),
    /// The postal-code table for address help: import Japan Post's KEN_ALL.
    #[command(subcommand)]
    Postal(postal_cmd::PostalCommand),
    /// Snapshots into the vault; verify the vault; restore from it.
    #[command(subcommand)]
    Backup(backup_cmd::BackupCommand),
    /// Drills an operator schedules: `drill restore`.
    #[command(subcommand)]
    Drill(backup_cmd::DrillCommand),
    /// The release manifest: make the signing key, sign the binary and
    /// configuration at release, check them (the counter also checks
    /// itself with `serve --integrity-manifest`).
    #[command(subcommand)]
    Integrity(integrity::IntegrityCommand),
}

#[derive(Subcommand)]
enum FormCommand {
    /// Check form definition files and print every problem with its line.
    Check {
        /// The TOML files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Form(FormCommand::Check { files }) => return form_check(&files),
        Command::Keys(command) => run_async(keys::keys(command)),
        Command::Desk(command) => run_async(keys::desk_command(command)),
        Command::Ledger(command) => return ledger_cmd::run(command),
        Command::Admin(command) => run_async(admin_cmd::run(command)),
        Command::Tenant(command) => run_async(tenant_cmd::run(command)),
        Command::Postal(command) => run_async(postal_cmd::run(command)),
        Command::Backup(command) => return backup_cmd::run_backup(command),
        Command::Drill(command) => return backup_cmd::run_drill(command),
        Command::Integrity(command) => return integrity::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("madoguchi: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn form_check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        let source = match std::fs::read_to_string(file) {
            Ok(source) => source,
            Err(err) => {
                eprintln!("{}: cannot read: {err}", file.display());
                failed = true;
                continue;
            }
        };
        match forms::FormDefinition::check(&source) {
            Ok(def) => {
                println!("{}: ok ({} \"{}\", {} fields)", file.display(), def.id, def.title.ja, def.fields.len())
            }
            Err(errors) => {
                failed = true;
                for error in errors {
                    eprintln!("{}:{}:{}: {}", file.display(), error.line, error.column, error.message);
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MADOGUCHI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs a one-shot command with warnings on standard error.
fn run_async(command: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    init_logging(LogFormat::Text);
    tokio::runtime::Runtime::new().context("starting the async runtime")?.block_on(command)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServeConfig::resolve(args)?;
    init_logging(config.log_format);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_counter(config))
}

async fn run_counter(config: ServeConfig) -> anyhow::Result<()> {
    let store = config.store.open().await?;
    // Before the first request: with --integrity-refuse a failed check
    // still starts the counter (so operators see it answer), but behind
    // the 503 page from the first request on.
    let integrity_gate = counter::integrity::IntegrityGate::default();
    if let Some(settings) = &config.integrity {
        let mut watch = integrity::Watch::new(
            settings.clone(),
            config.config_file.as_deref(),
            store.clone(),
            integrity_gate.clone(),
        )?;
        if !watch.check().await && settings.refuse {
            tracing::error!("the integrity check failed at start: serving only the 503 page");
        }
        tokio::spawn(watch.run());
    }
    // Nodes started together set up one after the other: the demo, and
    // the key files a first start creates.
    let setup = store.setup_lock().await.context("waiting for the set-up lock")?;
    if config.demo {
        counter::demo::seed(&store, &config.store.data_dir.join("desk-keys"))
            .await
            .context("seeding the demo prefecture")?;
        if config.demo_towns > 0 {
            counter::demo::seed_towns(&store, &config.store.data_dir.join("desk-keys"), config.demo_towns)
                .await
                .context("seeding the demo towns")?;
        }
        tracing::warn!("demo prefecture loaded (turn off with --demo false)");
    }
    let token_key = config::load_or_create_secret(&config.token_key_file)?;
    let notifier = match &config.smtp {
        Some((host, port)) => {
            let key = config::load_or_create_secret(&config.notify_key_file)?;
            let key = seal::NotificationKey::from_bytes(&key).context("the notification key file is damaged")?;
            let notifier = counter::notify::Notifier::new(key, host, *port, &config.mail_from, &config.public_url)?;
            Some(std::sync::Arc::new(notifier))
        }
        None => None,
    };
    if let Some(notifier) = &notifier {
        tokio::spawn(std::sync::Arc::clone(notifier).run(store.clone(), std::time::Duration::from_secs(2)));
    }
    // The watch's alerts go on by mail and webhook from the ledger.
    let alert_smtp = config.smtp.as_ref().map(|(host, port)| (host.as_str(), *port, config.mail_from.as_str()));
    if config.smtp.is_none() && !config.watch.alert_mail.is_empty() {
        anyhow::bail!("alert_mail: needs smtp (the relay that sends it)");
    }
    let alerts = counter::alerts::AlertDispatcher::new(
        alert_smtp,
        config.watch.alert_mail.clone(),
        config.watch.alert_webhook.clone(),
        std::time::Duration::from_secs(config.watch.alert_quiet_secs),
    )?;
    tokio::spawn(alerts.run(store.clone()));
    if config.watch.clock.is_some() {
        tracing::warn!("the watch reads its time from --watch-clock: for drills only");
    }
    let signer = config.ledger.signer()?;
    drop(setup);
    let ledger_vkey = Some(signer.verifier().to_vkey());
    {
        let (store, origin, every) = (store.clone(), config.ledger.origin.clone(), config.checkpoint_secs);
        tokio::spawn(async move {
            loop {
                if let Err(err) = store.checkpoint(&signer, &origin).await {
                    tracing::warn!(error = %err, "could not write a ledger checkpoint; will retry");
                }
                tokio::time::sleep(std::time::Duration::from_secs(every)).await;
            }
        });
    }
    // WebAuthn names the relying party by a domain; an address will not do.
    let host = config.public_url.split("://").nth(1).and_then(|rest| rest.split(['/', ':']).next()).unwrap_or("");
    let passkey_url = if host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[') || host.is_empty() {
        tracing::warn!(public_url = %config.public_url, "passkeys are off: --public-url must name the console by a domain (e.g. https://madoguchi.example.jp or http://localhost:8080)");
        None
    } else {
        Some(config.public_url.clone())
    };
    let settings = counter::CounterSettings {
        public_url: passkey_url,
        sign_in_delay_unit: std::time::Duration::from_millis(config.sign_in_delay_unit_ms),
        shield: config.shield.clone(),
        metrics: Some(install_metrics()?),
        metrics_from: config.metrics_from.clone(),
        ledger_vkey,
        notifier,
        hsts: config.hsts,
        draft_ttl: std::time::Duration::from_secs(config.draft_ttl_secs),
        integrity: integrity_gate,
        watch: config.watch.defaults.clone(),
        watch_tenants: config.watch.tenants.clone(),
        watch_clock: config.watch.clock.clone(),
        residency: config.residency.clone(),
        ..Default::default()
    };
    let counter = counter::Counter::new(store, &token_key, settings).context("setting up the counter")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, database = ?counter.store().engine(), "counter serving");
    println!("madoguchi counter: http://{local}/");
    counter::serve(counter, listener, shutdown_signal()).await.context("serving")?;
    Ok(())
}

/// The Prometheus recorder for this process; returns what renders /metrics.
fn install_metrics() -> anyhow::Result<std::sync::Arc<dyn Fn() -> String + Send + Sync>> {
    use metrics_exporter_prometheus::Matcher;
    // Histograms with buckets (not summaries), so nodes aggregate: seconds
    // for latencies, submissions for group-commit batches.
    const SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
    const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(SECONDS)
        .context("histogram buckets")?
        .set_buckets_for_metric(Matcher::Full("store_group_commit_batch_size".into()), BATCH)
        .context("histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    metrics::gauge!("madoguchi_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(std::sync::Arc::new(move || handle.render()))
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
