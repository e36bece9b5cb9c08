//! `madoguchi keys …` and `madoguchi desk …`: the key ceremony and sync on
//! the desk machine, key import on the counter.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::config::StoreArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Kdf {
    /// argon2id with 64 MiB, 3 passes (see docs/key-files.md).
    #[default]
    Production,
    /// A weak setting for automated tests only: never for real keys.
    InsecureTest,
}

#[derive(Debug, Args)]
pub struct DeskDirArgs {
    /// The desk's directory: its keys, its database and desk.toml.
    #[arg(long, env = "MADOGUCHI_DESK_DIR", default_value = "desk", value_name = "DIR")]
    desk_dir: PathBuf,
    /// Strength of the passphrase key derivation for new key files.
    #[arg(long, env = "MADOGUCHI_KDF", value_enum, default_value_t = Kdf::Production, hide = true)]
    kdf: Kdf,
}

impl DeskDirArgs {
    fn keys_dir(&self) -> PathBuf {
        self.desk_dir.join("keys")
    }

    fn params(&self) -> seal::KdfParams {
        match self.kdf {
            Kdf::Production => seal::KdfParams::PRODUCTION,
            Kdf::InsecureTest => seal::KdfParams::FOR_TESTS,
        }
    }
}

/// Where a new tenant key's extra files go.
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    /// Also write an escrow copy here, wrapped under a recovery secret
    /// that is shown once (keep it on paper, apart from the file).
    #[arg(long, value_name = "DIR")]
    escrow_dir: Option<PathBuf>,
    /// Where to write the public key file. Default: the desk directory.
    #[arg(long, value_name = "DIR")]
    export_dir: Option<PathBuf>,
}

impl NewKeyArgs {
    /// Creates a tenant key in the desk's key directory (init and rotate alike).
    fn create(&self, desk: &DeskDirArgs, tenant: &str, pass: &str) -> anyhow::Result<desk::ceremony::CeremonyOutcome> {
        let export = self.export_dir.clone().unwrap_or_else(|| desk.desk_dir.clone());
        Ok(desk::ceremony::create_tenant_key(
            &desk.keys_dir(),
            &export,
            tenant,
            pass,
            desk.params(),
            self.escrow_dir.as_deref(),
        )?)
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// On the desk machine: create the tenant's key pair. The private key is
    /// stored wrapped under a passphrase (asked for, or MADOGUCHI_PASSPHRASE);
    /// the public key is exported to a file for the counter's operator
    /// (`madoguchi keys import`).
    Init {
        /// The tenant (municipality) id, as on the counter.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        desk: DeskDirArgs,
        #[command(flatten)]
        output: NewKeyArgs,
    },
    /// On the desk machine: add a new tenant key; records sealed to the old
    /// keys still open. Import the new public key at the counter.
    Rotate {
        #[command(flatten)]
        desk: DeskDirArgs,
        #[command(flatten)]
        output: NewKeyArgs,
    },
    /// On the desk machine, when the passphrase is lost: open the escrow
    /// copy with its recovery secret (asked for, or
    /// MADOGUCHI_RECOVERY_SECRET) and wrap the tenant key under a new
    /// passphrase. The desk's signing key has no escrow: create a new one
    /// with `madoguchi desk init` and have it imported at the counter.
    Recover {
        /// The escrow file written by `keys init --escrow-dir`.
        #[arg(long, value_name = "FILE")]
        escrow: PathBuf,
        #[command(flatten)]
        desk: DeskDirArgs,
    },
    /// On the counter: import public key files exported by a desk (tenant
    /// keys and desk signing keys).
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeskCommand {
    /// Create this desk's signing key and desk.toml; export the desk's
    /// public key for the counter's operator (`madoguchi keys import`).
    Init {
        #[arg(long)]
        tenant: String,
        /// A name for this desk, unique on the counter (e.g. aoba-city-desk1).
        #[arg(long)]
        desk_id: String,
        /// The counter's base URL.
        #[arg(long)]
        counter_url: String,
        #[command(flatten)]
        desk: DeskDirArgs,
        #[arg(long, value_name = "DIR")]
        export_dir: Option<PathBuf>,
    },
    /// Plant synthetic applicants (honeytokens) in each of the tenant's
    /// forms: the key ceremony's last step, once the counter knows this
    /// desk. `desk serve` plants them by itself when there are none.
    PlantHoneytokens {
        /// How many per form.
        #[arg(long, default_value_t = 2)]
        per_form: u32,
        #[command(flatten)]
        desk: DeskDirArgs,
    },
    /// Pull every new sealed record from the counter, open it and store it
    /// (encrypted at rest), then push pending status changes. Safe to
    /// interrupt and run again.
    Sync {
        #[command(flatten)]
        desk: DeskDirArgs,
    },
    /// Add a staff account (or issue a new enrolment code for it). Prints a
    /// one-time enrolment code: the staff member opens the desk's
    /// "初回登録" page, chooses a password and registers an authenticator app.
    AddStaff {
        /// Login ID: lowercase letters, digits, '.', '_', '-'; not an e-mail address.
        #[arg(long)]
        login: String,
        /// The name shown in the desk (e.g. 田中 一郎).
        #[arg(long)]
        name: String,
        /// tenant-admin (manages the desk's staff), processor (works the
        /// inbox), form-admin or auditor (their work is on the counter's
        /// console). Give the first account tenant-admin.
        #[arg(long, default_value = "processor")]
        role: String,
        #[command(flatten)]
        desk: DeskDirArgs,
    },
    /// Lift the lock on a staff account (after ten failed sign-ins from
    /// anywhere), once you know why it happened. Logged, with your name.
    /// (A tenant admin can do the same on the desk's staff page.)
    UnlockStaff {
        #[arg(long)]
        login: String,
        /// Who lifts the lock (your own login id).
        #[arg(long)]
        by: String,
        #[command(flatten)]
        desk: DeskDirArgs,
    },
    /// Serve the desk's web UI for staff, and keep in sync with the counter.
    Serve {
        #[command(flatten)]
        desk: DeskDirArgs,
        /// Address to listen on (the municipality's own network).
        #[arg(long, env = "MADOGUCHI_DESK_LISTEN", default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// Seconds between automatic syncs with the counter.
        #[arg(long, env = "MADOGUCHI_DESK_SYNC_SECS", default_value_t = 60)]
        sync_secs: u64,
        /// Mark the session cookie Secure (browsers keep it on https and on
        /// localhost only). Turn off only on a closed network served over http.
        #[arg(long, env = "MADOGUCHI_DESK_SECURE_COOKIES", default_value_t = true)]
        secure_cookies: bool,
        /// The unit of the growing wait after failed sign-ins, in ms: from
        /// the third failure 2, 4, 8 … units; the tenth locks the account.
        #[arg(long, env = "MADOGUCHI_SIGN_IN_DELAY_UNIT_MS", default_value_t = 1000)]
        sign_in_delay_unit_ms: u64,
        /// Synthetic applicants to plant per form when the desk has none
        /// yet (docs/watch.md). 0 plants none.
        #[arg(long, env = "MADOGUCHI_DESK_HONEYTOKENS_PER_FORM", default_value_t = 2)]
        honeytokens_per_form: u32,
        /// For drills only: the watch's rules read the time (unix seconds)
        /// from this file, so simulated days pass in minutes.
        #[arg(long, env = "MADOGUCHI_WATCH_CLOCK", value_name = "FILE", hide = true)]
        watch_clock: Option<PathBuf>,
    },
}

/// desk.toml
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeskConfig {
    tenant: String,
    desk_id: String,
    counter_url: String,
    /// The watch's limits for this desk's staff (docs/watch.md); defaults
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watch: Option<watch::Thresholds>,
    /// The desk's own database. Default: sqlite in the desk directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// A PEM file with the CA certificate of the counter's TLS
    /// certificate, when it is not from a public CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    counter_ca: Option<PathBuf>,
}

impl DeskConfig {
    fn load(dir: &Path) -> anyhow::Result<DeskConfig> {
        let path = dir.join("desk.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (run `madoguchi desk init` first)", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))
    }

    fn client(&self) -> anyhow::Result<desk::SyncClient> {
        let ca = match &self.counter_ca {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
            None => None,
        };
        Ok(desk::SyncClient::with_ca(&self.counter_url, ca.as_deref())?)
    }

    fn database(&self, dir: &Path) -> String {
        self.database.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("desk.sqlite").display()))
    }
}

/// Loads desk.toml, unlocks the key ring and opens the desk's store.
async fn open_desk(desk: &DeskDirArgs) -> anyhow::Result<(DeskConfig, desk::KeyRing, desk::DeskStore)> {
    let config = DeskConfig::load(&desk.desk_dir)?;
    let pass = passphrase("Passphrase of the desk's keys: ", false)?;
    let ring = desk::KeyRing::unlock(&desk.keys_dir(), &pass)?;
    if ring.tenant != config.tenant || ring.desk_id != config.desk_id {
        bail!("desk.toml names {}/{}, the keys are {}/{}", config.tenant, config.desk_id, ring.tenant, ring.desk_id);
    }
    let store = desk::DeskStore::open(&config.database(&desk.desk_dir)).await?;
    Ok((config, ring, store))
}

/// The passphrase from MADOGUCHI_PASSPHRASE or a prompt, NFKC-normalised
/// so the same words typed in full-width still unlock.
fn passphrase(prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if let Ok(given) = std::env::var("MADOGUCHI_PASSPHRASE") {
        return Ok(forms::nfkc(&given));
    }
    let first = rpassword::prompt_password(prompt).context("reading the passphrase (or set MADOGUCHI_PASSPHRASE)")?;
    if confirm {
        let again = rpassword::prompt_password("Again: ").context("reading the passphrase")?;
        if again != first {
            bail!("the two passphrases differ");
        }
    }
    Ok(forms::nfkc(&first))
}

fn print_outcome(what: &str, outcome: &desk::ceremony::CeremonyOutcome) {
    println!("{what}");
    println!("  key file:     {}", outcome.key_file.display());
    println!("  fingerprint:  {}", outcome.fingerprint);
    println!(
        "  public key:   {}  (give this file to the counter's operator: madoguchi keys import FILE)",
        outcome.public_file.display()
    );
    if let (Some(secret), Some(file)) = (&outcome.recovery_secret, &outcome.escrow_file) {
        println!("  escrow copy:  {}", file.display());
        println!();
        println!("  RECOVERY SECRET (shown once; write it down and keep it apart from the escrow file):");
        println!("      {secret}");
    }
}

pub async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Init { tenant, desk, output } => {
            let pass = passphrase("New passphrase for the tenant key: ", true)?;
            let outcome = output.create(&desk, &tenant, &pass)?;
            print_outcome(&format!("Created the key pair of tenant {tenant}."), &outcome);
        }
        KeysCommand::Rotate { desk, output } => {
            let pass = passphrase("Passphrase of the desk's keys: ", false)?;
            // Opening an existing key proves the passphrase and names the
            // tenant; all of a desk's keys share one passphrase.
            let tenant = tenant_of_keys(&desk.keys_dir(), &pass)?;
            let outcome = output.create(&desk, &tenant, &pass)?;
            print_outcome(&format!("Added a new key for tenant {tenant}; older records still open."), &outcome);
        }
        KeysCommand::Recover { escrow, desk } => {
            let recovery = match std::env::var("MADOGUCHI_RECOVERY_SECRET") {
                Ok(secret) => secret,
                Err(_) => rpassword::prompt_password("Recovery secret: ").context("reading the recovery secret")?,
            };
            let pass = passphrase("New passphrase for the tenant key: ", true)?;
            let file = desk::ceremony::recover_tenant_key(
                &escrow,
                &forms::nfkc(&recovery),
                &desk.keys_dir(),
                &pass,
                desk.params(),
            )?;
            println!("Recovered the tenant key into {} under the new passphrase.", file.display());
            println!(
                "Keys still under the lost passphrase (the desk signing key) must be made again: madoguchi desk init …"
            );
        }
        KeysCommand::Import { files, store } => {
            let store = store.into_config()?.open().await?;
            for file in files {
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let key = desk::ceremony::PublicKeyFile::parse(&text).with_context(|| file.display().to_string())?;
                match key.kind {
                    seal::KeyKind::TenantHpke => {
                        let public = seal::TenantPublicKey::from_base64(&key.public)?;
                        store.add_tenant_key(&key.tenant, &public).await?;
                        println!("{}: tenant {} now seals to key {}", file.display(), key.tenant, key.fingerprint);
                    }
                    seal::KeyKind::DeskSigning => {
                        let desk_id = key.desk.clone().unwrap_or_default();
                        store.register_desk(&desk_id, &key.tenant, &key.public, &key.fingerprint).await?;
                        println!(
                            "{}: desk {desk_id} may now sync tenant {} (key {})",
                            file.display(),
                            key.tenant,
                            key.fingerprint
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// The tenant whose keys are in `dir`, proving the passphrase opens them
/// (before the desk signing key exists, a full key ring cannot be unlocked).
fn tenant_of_keys(dir: &Path, pass: &str) -> anyhow::Result<String> {
    let locked = desk::KeyRing::locked_keys(dir)?;
    let first = locked
        .iter()
        .find(|k| k.info.kind == seal::KeyKind::TenantHpke)
        .with_context(|| format!("no tenant key in {} (run `madoguchi keys init`)", dir.display()))?;
    let text = std::fs::read_to_string(&first.path)?;
    seal::unwrap_secret(&text, pass).context("the passphrase does not open the existing key")?;
    Ok(first.info.owner.clone())
}

pub async fn desk_command(command: DeskCommand) -> anyhow::Result<()> {
    match command {
        DeskCommand::Init { tenant, desk_id, counter_url, desk, export_dir } => {
            let pass = passphrase("Passphrase of the desk's keys: ", false)?;
            let known = tenant_of_keys(&desk.keys_dir(), &pass)?;
            if known != tenant {
                bail!("the keys in {} belong to tenant {known}, not {tenant}", desk.keys_dir().display());
            }
            let export = export_dir.unwrap_or_else(|| desk.desk_dir.clone());
            let outcome =
                desk::ceremony::create_desk_key(&desk.keys_dir(), &export, &tenant, &desk_id, &pass, desk.params())?;
            let config = DeskConfig {
                tenant: tenant.clone(),
                desk_id: desk_id.clone(),
                counter_url,
                watch: None,
                database: None,
                counter_ca: None,
            };
            let path = desk.desk_dir.join("desk.toml");
            std::fs::write(&path, toml::to_string(&config)?).with_context(|| format!("writing {}", path.display()))?;
            print_outcome(&format!("Created desk {desk_id} for tenant {tenant}."), &outcome);
        }
        DeskCommand::PlantHoneytokens { per_form, desk } => {
            let (config, ring, store) = open_desk(&desk).await?;
            let planted = config.client()?.plant_honeytokens(&ring, &store, per_form).await?;
            println!(
                "planted {planted} synthetic applicants; this desk now knows {} (kept out of every list and export)",
                store.honeytoken_count().await?
            );
        }
        DeskCommand::Sync { desk } => {
            let (config, ring, store) = open_desk(&desk).await?;
            let app = desk::web::DeskApp::new(store.clone(), ring, config.client()?, Default::default());
            let (report, pushed) = app.sync_once().await?;
            println!(
                "synced: {} new records ({} pulled in {} pages); {} status changes pushed; {} bookings cancelled by residents; {} records on this desk",
                report.stored,
                report.pulled,
                report.pages,
                pushed,
                report.cancelled,
                store.count_records().await?
            );
        }
        DeskCommand::AddStaff { login, name, role, desk } => {
            let role = identity::Role::parse(&role)
                .filter(|r| r.is_per_tenant())
                .with_context(|| format!("role {role:?}: use tenant-admin, form-admin, processor or auditor"))?;
            let config = DeskConfig::load(&desk.desk_dir)?;
            let store = desk::DeskStore::open(&config.database(&desk.desk_dir)).await?;
            let code = store.add_staff(&login, &name, role).await?;
            println!("Staff account {login} ({name}). Enrolment code (valid 72 hours, once):");
            println!("    {code}");
        }
        DeskCommand::UnlockStaff { login, by, desk } => {
            let config = DeskConfig::load(&desk.desk_dir)?;
            let store = desk::DeskStore::open(&config.database(&desk.desk_dir)).await?;
            if !store.unlock_staff(&login, &by).await? {
                bail!("no staff account {login:?}");
            }
            println!("Unlocked {login} (by {by}).");
        }
        DeskCommand::Serve {
            desk,
            listen,
            sync_secs,
            secure_cookies,
            sign_in_delay_unit_ms,
            honeytokens_per_form,
            watch_clock,
        } => {
            let (config, ring, store) = open_desk(&desk).await?;
            let settings = desk::web::DeskSettings {
                secure_cookies,
                honeytokens_per_form,
                watch_clock,
                watch: config.watch.clone().unwrap_or_default(),
                sign_in_delay_unit: std::time::Duration::from_millis(sign_in_delay_unit_ms),
                sync_interval: std::time::Duration::from_secs(sync_secs.max(1)),
                ..Default::default()
            };
            let app = desk::web::DeskApp::new(store.clone(), ring, config.client()?, settings);
            let remembered = app.watch().replay(&store).await.context("replaying the access log into the watch")?;
            tracing::info!(reads = remembered, "the watch remembers the last weeks of staff reads");
            tokio::spawn(std::sync::Arc::clone(&app).keep_in_sync());
            let listener =
                tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
            let local = listener.local_addr()?;
            tracing::info!(address = %local, tenant = %config.tenant, desk = %config.desk_id, "desk serving");
            println!("madoguchi desk: http://{local}/");
            // The peer address goes to the watch with every read.
            let service = app.router().into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, service).with_graceful_shutdown(crate::shutdown_signal()).await?;
        }
    }
    Ok(())
}
