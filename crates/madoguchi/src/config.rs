//! `serve` configuration: flags over environment over file over defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where the counter keeps its state: shared by `serve` and the operator's
/// commands that work on the same installation (`keys import`, …).
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// TOML configuration file; its keys are the long option names with `_`
    /// for `-` (e.g. `data_dir = "/var/lib/madoguchi"`).
    #[arg(long, env = "MADOGUCHI_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Directory for the embedded database, the local vault, the token key
    /// and (demo only) the demo tenants' desk keys. Default: ./data
    #[arg(long, env = "MADOGUCHI_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB.
    /// Default: embedded SQLite at DATA_DIR/madoguchi.sqlite
    #[arg(long, env = "MADOGUCHI_DATABASE", value_name = "URL")]
    database: Option<String>,

    /// Vault directory, where every sealed record is also written. Put it on
    /// another disk than the database. Default: DATA_DIR/vault
    #[arg(long, env = "MADOGUCHI_VAULT_DIR", value_name = "DIR")]
    vault_dir: Option<PathBuf>,

    /// An S3-compatible vault instead of the directory: s3://BUCKET. The
    /// endpoint and credentials come from the usual AWS_ENDPOINT_URL,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (and
    /// AWS_ALLOW_HTTP=true for a plain-HTTP endpoint on a private network).
    #[arg(long, env = "MADOGUCHI_VAULT_URL", value_name = "URL")]
    vault_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,

    /// Address and port to listen on. Default: 127.0.0.1:8080
    #[arg(long, env = "MADOGUCHI_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// File holding the 32-byte secret for draft tokens; every counter node
    /// must share it. Created on first start. Default: DATA_DIR/token.key
    #[arg(long, env = "MADOGUCHI_TOKEN_KEY_FILE", value_name = "FILE")]
    token_key_file: Option<PathBuf>,

    /// Load the demo prefecture (みどり県: three municipalities, five forms,
    /// demo keys). On by default; `--demo false` for a real installation.
    #[arg(long, env = "MADOGUCHI_DEMO", value_name = "BOOL")]
    demo: Option<bool>,

    /// With the demo: this many more demo towns (for drills). Default: 0
    #[arg(long, env = "MADOGUCHI_DEMO_TOWNS", value_name = "N")]
    demo_towns: Option<usize>,

    /// Send Strict-Transport-Security (keep on when served over HTTPS).
    /// Default: true
    #[arg(long, env = "MADOGUCHI_HSTS", value_name = "BOOL")]
    hsts: Option<bool>,

    /// The unit of the growing wait after failed staff sign-ins, in
    /// milliseconds: after the 3rd failure 2 units, then 4, 8 … (at most
    /// 300 units); the 10th failure locks the account until a tenant admin
    /// lifts it. Default: 1000
    #[arg(long, env = "MADOGUCHI_SIGN_IN_DELAY_UNIT_MS", value_name = "MS")]
    sign_in_delay_unit_ms: Option<u64>,

    /// How long a resident may take between 確認画面 and 送信, in seconds;
    /// after that the answers go back into the form to be confirmed again.
    /// Default: 3600
    #[arg(long, env = "MADOGUCHI_DRAFT_TTL_SECS", value_name = "SECONDS")]
    draft_ttl_secs: Option<u64>,

    /// SMTP relay for status mails to residents, HOST:PORT (a local MTA
    /// that does TLS and delivery). Without it no mail is sent and no
    /// address is kept.
    #[arg(long, env = "MADOGUCHI_SMTP", value_name = "HOST:PORT")]
    smtp: Option<String>,

    /// Sender of status mails. Default: madoguchi@localhost
    #[arg(long, env = "MADOGUCHI_MAIL_FROM", value_name = "ADDRESS")]
    mail_from: Option<String>,

    /// The counter's public base URL, used in mails. Default: http://LISTEN
    #[arg(long, env = "MADOGUCHI_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,

    /// The notification key (seals residents' addresses). Keep it outside
    /// the data directory and its backups. Created on first start.
    /// Default: DATA_DIR/notify.key
    #[arg(long, env = "MADOGUCHI_NOTIFY_KEY_FILE", value_name = "FILE")]
    notify_key_file: Option<PathBuf>,

    /// Seconds between signed ledger checkpoints. Default: 60
    #[arg(long, env = "MADOGUCHI_CHECKPOINT_SECS", value_name = "SECONDS")]
    checkpoint_secs: Option<u64>,

    #[command(flatten)]
    ledger: LedgerArgs,

    /// Log format on standard error. Default: text
    #[arg(long, env = "MADOGUCHI_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,

    #[command(flatten)]
    shield: ShieldArgs,

    #[command(flatten)]
    integrity: IntegrityArgs,

    #[command(flatten)]
    watch: WatchArgs,
}

/// Where the watch's alerts go besides each tenant's own contacts
/// (`madoguchi tenant security`), and its limits (docs/watch.md). Per-tenant
/// limits go in the configuration file: `[watch_tenants.aoba-city]
/// burst_records = 300`; defaults under `[watch]`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The operator's mailboxes for every alert of every tenant (comma
    /// separated). Needs --smtp.
    #[arg(long, env = "MADOGUCHI_ALERT_MAIL", value_name = "ADDRESSES")]
    alert_mail: Option<String>,
    /// The operator's webhook (https://…), called with every alert as JSON.
    #[arg(long, env = "MADOGUCHI_ALERT_WEBHOOK", value_name = "URL")]
    alert_webhook: Option<String>,
    /// After alerts went out, wait this long before the next mail or call:
    /// a storm of alerts becomes one digest. Default: 30
    #[arg(long, env = "MADOGUCHI_ALERT_QUIET_SECS", value_name = "SECONDS")]
    alert_quiet_secs: Option<u64>,
    /// For drills only: the watch's rules read the time (unix seconds)
    /// from this file instead of the clock, so simulated days pass in
    /// minutes. Never set it in production.
    #[arg(long, env = "MADOGUCHI_WATCH_CLOCK", value_name = "FILE", hide = true)]
    watch_clock: Option<PathBuf>,
}

/// What `serve` resolved for the watch and its alerts.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub alert_mail: Vec<String>,
    pub alert_webhook: Option<String>,
    pub alert_quiet_secs: u64,
    pub clock: Option<PathBuf>,
    pub defaults: watch::Thresholds,
    pub tenants: std::collections::HashMap<String, watch::Thresholds>,
}

impl WatchArgs {
    fn resolve(self, file: &ConfigFile) -> anyhow::Result<WatchConfig> {
        let alert_mail: Vec<String> = self
            .alert_mail
            .or(file.alert_mail.clone())
            .unwrap_or_default()
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        for address in &alert_mail {
            if address.parse::<lettre::Address>().is_err() {
                bail!("alert_mail: {address:?} is not an e-mail address");
            }
        }
        let alert_webhook = self.alert_webhook.or(file.alert_webhook.clone());
        if let Some(url) = &alert_webhook {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("alert_webhook: {url:?} is not an http(s) URL");
            }
        }
        Ok(WatchConfig {
            alert_mail,
            alert_webhook,
            alert_quiet_secs: self.alert_quiet_secs.or(file.alert_quiet_secs).unwrap_or(30),
            clock: self.watch_clock,
            defaults: file.watch.clone().unwrap_or_default(),
            tenants: file.watch_tenants.clone().unwrap_or_default(),
        })
    }
}

/// The self-check against the manifest signed at release
/// (docs/integrity.md). Set these in the service unit rather than in the
/// configuration file: whoever can edit that file could remove them.
#[derive(Debug, Args)]
pub struct IntegrityArgs {
    /// The manifest from `madoguchi integrity sign`: the binary and the
    /// --config file are checked against it at start and every
    /// --integrity-every seconds. Needs --integrity-public-key.
    #[arg(long, env = "MADOGUCHI_INTEGRITY_MANIFEST", value_name = "FILE")]
    integrity_manifest: Option<PathBuf>,
    /// The release public key (`.pub` from `madoguchi integrity keygen`).
    #[arg(long, env = "MADOGUCHI_INTEGRITY_PUBLIC_KEY", value_name = "FILE")]
    integrity_public_key: Option<PathBuf>,
    /// On a mismatch, answer every request with a 503 page (an alert is
    /// raised either way). Default: false
    #[arg(long, env = "MADOGUCHI_INTEGRITY_REFUSE", value_name = "BOOL")]
    integrity_refuse: Option<bool>,
    /// Seconds between checks. Default: 300
    #[arg(long, env = "MADOGUCHI_INTEGRITY_EVERY", value_name = "SECONDS")]
    integrity_every: Option<u64>,
}

impl IntegrityArgs {
    fn resolve(self, file: &ConfigFile) -> anyhow::Result<Option<crate::integrity::IntegritySettings>> {
        let manifest = self.integrity_manifest.or(file.integrity_manifest.clone());
        let public_key = self.integrity_public_key.or(file.integrity_public_key.clone());
        let refuse = self.integrity_refuse.or(file.integrity_refuse);
        let every = self.integrity_every.or(file.integrity_every);
        let (manifest, public_key) = match (manifest, public_key) {
            (Some(manifest), Some(public_key)) => (manifest, public_key),
            (Some(_), None) => {
                bail!("integrity_manifest: needs integrity_public_key too (the release key that signed it)")
            }
            (None, Some(_)) => bail!("integrity_public_key: needs integrity_manifest too (what it checks)"),
            (None, None) => {
                if refuse == Some(true) {
                    bail!("integrity_refuse: needs integrity_manifest and integrity_public_key");
                }
                if every.is_some() {
                    bail!("integrity_every: needs integrity_manifest and integrity_public_key");
                }
                return Ok(None);
            }
        };
        if every == Some(0) {
            bail!("integrity_every: must be at least 1 second");
        }
        Ok(Some(crate::integrity::IntegritySettings {
            manifest,
            public_key,
            refuse: refuse.unwrap_or(false),
            every: std::time::Duration::from_secs(every.unwrap_or(300)),
        }))
    }
}

/// The shield's settings (see docs/shield.md). Per-tenant shares go in the
/// configuration file: `[shield_tenants.aoba-city] max_in_flight = 64`.
#[derive(Debug, Args)]
pub struct ShieldArgs {
    /// Admission control in front of the counter. Turn off only to compare
    /// (the flood drill does). Default: true
    #[arg(long, env = "MADOGUCHI_SHIELD", value_name = "BOOL")]
    shield: Option<bool>,
    /// Requests per second and burst per source address. Default: 20/60
    #[arg(long, env = "MADOGUCHI_SHIELD_ADDRESS_RATE", value_name = "PER_SEC/BURST")]
    shield_address_rate: Option<String>,
    /// The same per IPv4 /24 or IPv6 /64. Default: 200/400
    #[arg(long, env = "MADOGUCHI_SHIELD_PREFIX_RATE", value_name = "PER_SEC/BURST")]
    shield_prefix_rate: Option<String>,
    /// Proxies (comma-separated addresses) whose X-Forwarded-For is
    /// believed. Default: none (the socket's address counts)
    #[arg(long, env = "MADOGUCHI_TRUSTED_PROXIES", value_name = "ADDRS")]
    trusted_proxies: Option<String>,
    /// Latency above which the adaptive limit shrinks. Default: 250
    #[arg(long, env = "MADOGUCHI_SHIELD_LATENCY_TARGET_MS", value_name = "MS")]
    shield_latency_target_ms: Option<u64>,
    /// The adaptive limit of requests in flight: where it starts, and its
    /// ceiling. Default: 64/512
    #[arg(long, env = "MADOGUCHI_SHIELD_CONCURRENCY", value_name = "INITIAL/MAX")]
    shield_concurrency: Option<String>,
    /// Requests of one tenant in flight at once, and waiting. Default: 32/64
    #[arg(long, env = "MADOGUCHI_SHIELD_TENANT_SHARE", value_name = "IN_FLIGHT/QUEUE")]
    shield_tenant_share: Option<String>,
    /// Addresses besides loopback that may scrape /metrics (comma-separated).
    #[arg(long, env = "MADOGUCHI_METRICS_FROM", value_name = "ADDRS")]
    metrics_from: Option<String>,
    /// Redis for the shield's state that several counter nodes must share
    /// (rate limits per address and prefix, proof-of-work answers spent):
    /// redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss:// for TLS. If it
    /// fails, each node falls back to its own limits. Default: none (every
    /// node keeps its own)
    #[arg(long, env = "MADOGUCHI_REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,
}

/// One tenant's share in the configuration file.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantShareFile {
    max_in_flight: Option<usize>,
    max_queue: Option<usize>,
    queue_timeout_ms: Option<u64>,
}

fn pair(key: &str, text: &str) -> anyhow::Result<(u64, u64)> {
    let parse = || -> Option<(u64, u64)> {
        let (a, b) = text.split_once('/')?;
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    };
    match parse() {
        Some((a, b)) if a > 0 && b > 0 => Ok((a, b)),
        _ => bail!("{key}: {text:?} is not N/M with two positive numbers"),
    }
}

fn addresses(key: &str, text: &str) -> anyhow::Result<Vec<std::net::IpAddr>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| anyhow::anyhow!("{key}: {s:?} is not an IP address")))
        .collect()
}

impl ShieldArgs {
    fn resolve(self, file: &ConfigFile) -> anyhow::Result<(Option<shield::ShieldConfig>, Vec<std::net::IpAddr>)> {
        let metrics_from = match self.metrics_from.or(file.metrics_from.clone()) {
            Some(text) => addresses("metrics_from", &text)?,
            None => Vec::new(),
        };
        // Checked even with the shield off: a wrong URL should not wait
        // until the shield is turned on to be noticed.
        let shared = match self.redis_url.or(file.redis_url.clone()) {
            Some(url) => Some(shield::SharedSettings::redis(&url).map_err(|err| anyhow::anyhow!("redis_url: {err}"))?),
            None => None,
        };
        if !self.shield.or(file.shield).unwrap_or(true) {
            return Ok((None, metrics_from));
        }
        let mut config = shield::ShieldConfig { shared, ..Default::default() };
        if let Some(text) = self.shield_address_rate.or(file.shield_address_rate.clone()) {
            let (rate, burst) = pair("shield_address_rate", &text)?;
            config.per_address = shield::Rate { per_second: rate as u32, burst: burst as u32 };
        }
        if let Some(text) = self.shield_prefix_rate.or(file.shield_prefix_rate.clone()) {
            let (rate, burst) = pair("shield_prefix_rate", &text)?;
            config.per_prefix = shield::Rate { per_second: rate as u32, burst: burst as u32 };
        }
        if let Some(text) = self.trusted_proxies.or(file.trusted_proxies.clone()) {
            config.trusted_proxies = addresses("trusted_proxies", &text)?;
        }
        if let Some(ms) = self.shield_latency_target_ms.or(file.shield_latency_target_ms) {
            config.adaptive.target = std::time::Duration::from_millis(ms.max(1));
        }
        if let Some(text) = self.shield_concurrency.or(file.shield_concurrency.clone()) {
            let (initial, max) = pair("shield_concurrency", &text)?;
            config.adaptive.initial_limit = initial as usize;
            config.adaptive.max_limit = (max as usize).max(initial as usize);
        }
        if let Some(text) = self.shield_tenant_share.or(file.shield_tenant_share.clone()) {
            let (in_flight, queue) = pair("shield_tenant_share", &text)?;
            config.tenant.max_in_flight = in_flight as usize;
            config.tenant.max_queue = queue as usize;
        }
        for (tenant, share) in file.shield_tenants.clone().unwrap_or_default() {
            let base = config.tenant;
            config.tenant_overrides.insert(
                tenant,
                shield::TenantLimits {
                    max_in_flight: share.max_in_flight.unwrap_or(base.max_in_flight).max(1),
                    max_queue: share.max_queue.unwrap_or(base.max_queue),
                    queue_timeout: share
                        .queue_timeout_ms
                        .map(std::time::Duration::from_millis)
                        .unwrap_or(base.queue_timeout),
                },
            );
        }
        Ok((Some(config), metrics_from))
    }
}

/// The configuration file: the same keys as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    database: Option<String>,
    vault_dir: Option<PathBuf>,
    vault_url: Option<String>,
    listen: Option<SocketAddr>,
    token_key_file: Option<PathBuf>,
    demo: Option<bool>,
    demo_towns: Option<usize>,
    hsts: Option<bool>,
    sign_in_delay_unit_ms: Option<u64>,
    draft_ttl_secs: Option<u64>,
    smtp: Option<String>,
    mail_from: Option<String>,
    public_url: Option<String>,
    notify_key_file: Option<PathBuf>,
    checkpoint_secs: Option<u64>,
    ledger_key_file: Option<PathBuf>,
    ledger_origin: Option<String>,
    log_format: Option<LogFormat>,
    shield: Option<bool>,
    shield_address_rate: Option<String>,
    shield_prefix_rate: Option<String>,
    trusted_proxies: Option<String>,
    shield_latency_target_ms: Option<u64>,
    shield_tenant_share: Option<String>,
    shield_concurrency: Option<String>,
    metrics_from: Option<String>,
    redis_url: Option<String>,
    shield_tenants: Option<std::collections::HashMap<String, TenantShareFile>>,
    integrity_manifest: Option<PathBuf>,
    integrity_public_key: Option<PathBuf>,
    integrity_refuse: Option<bool>,
    integrity_every: Option<u64>,
    alert_mail: Option<String>,
    alert_webhook: Option<String>,
    alert_quiet_secs: Option<u64>,
    watch: Option<watch::Thresholds>,
    watch_tenants: Option<std::collections::HashMap<String, watch::Thresholds>>,
    residency: Option<ResidencyFile>,
}

/// `[residency]`: how respondents of verified surveys prove who they are
/// (docs/verified-surveys.md). File only: it names files and a secret.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResidencyFile {
    /// PEM bundle of the 公的個人認証 trust anchors.
    jpki_anchors: Option<PathBuf>,
    jpki_intermediates: Option<PathBuf>,
    #[serde(default)]
    jpki_crls: Vec<PathBuf>,
    /// "crl" (default) or "ocsp": how the signer's certificate is checked.
    jpki_revocation: Option<String>,
    jpki_ocsp_url: Option<String>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    /// The client secret, or better a file holding it.
    oidc_client_secret: Option<String>,
    oidc_client_secret_file: Option<PathBuf>,
    /// Default: PUBLIC_URL/verify/oidc/callback
    oidc_redirect_uri: Option<String>,
    oidc_name_ja: Option<String>,
    oidc_name_en: Option<String>,
    /// Per tenant, the address its residents' start with (都道府県＋市区町村).
    #[serde(default)]
    addresses: std::collections::HashMap<String, String>,
}

impl ResidencyFile {
    fn resolve(&self, public_url: &str) -> anyhow::Result<counter::verified::ResidencySettings> {
        let exists = |key: &str, path: &Path| -> anyhow::Result<()> {
            if !path.is_file() {
                bail!("residency.{key}: {} is not a readable file", path.display());
            }
            Ok(())
        };
        let jpki_named = self.jpki_intermediates.is_some()
            || !self.jpki_crls.is_empty()
            || self.jpki_revocation.is_some()
            || self.jpki_ocsp_url.is_some();
        let jpki = match &self.jpki_anchors {
            None if jpki_named => bail!("residency: the jpki settings need jpki_anchors (the trust anchors' PEM file)"),
            None => None,
            Some(anchors) => {
                exists("jpki_anchors", anchors)?;
                if let Some(path) = &self.jpki_intermediates {
                    exists("jpki_intermediates", path)?;
                }
                for path in &self.jpki_crls {
                    exists("jpki_crls", path)?;
                }
                let ocsp = match self.jpki_revocation.as_deref().unwrap_or("crl") {
                    "crl" => false,
                    "ocsp" => true,
                    other => bail!("residency.jpki_revocation: {other:?} is not \"crl\" or \"ocsp\""),
                };
                if !ocsp && self.jpki_crls.is_empty() {
                    bail!("residency.jpki_crls: checking revocation by CRL needs the CRL files (or jpki_revocation = \"ocsp\")");
                }
                if let Some(url) = &self.jpki_ocsp_url {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        bail!("residency.jpki_ocsp_url: {url:?} is not an http(s) URL");
                    }
                }
                Some(counter::verified::JpkiSettings {
                    anchors: anchors.clone(),
                    intermediates: self.jpki_intermediates.clone(),
                    crls: self.jpki_crls.clone(),
                    ocsp,
                    ocsp_url: self.jpki_ocsp_url.clone(),
                })
            }
        };
        let secret = match (&self.oidc_client_secret, &self.oidc_client_secret_file) {
            (Some(_), Some(_)) => bail!("residency: give oidc_client_secret or oidc_client_secret_file, not both"),
            (Some(secret), None) => Some(secret.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("residency.oidc_client_secret_file: {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let oidc = match (&self.oidc_issuer, &self.oidc_client_id, secret) {
            (None, None, None) => None,
            (Some(issuer), Some(client_id), Some(client_secret)) => {
                let loopback = ["http://127.", "http://localhost", "http://[::1]"];
                if !issuer.starts_with("https://") && !loopback.iter().any(|p| issuer.starts_with(p)) {
                    bail!("residency.oidc_issuer: {issuer:?} must be an https URL");
                }
                Some(counter::verified::OidcSettings {
                    issuer: issuer.clone(),
                    client_id: client_id.clone(),
                    client_secret,
                    redirect_uri: self
                        .oidc_redirect_uri
                        .clone()
                        .unwrap_or_else(|| format!("{}/verify/oidc/callback", public_url.trim_end_matches('/'))),
                    name_ja: self.oidc_name_ja.clone().unwrap_or_else(|| "本人確認サービス".into()),
                    name_en: self.oidc_name_en.clone().unwrap_or_else(|| "the identity service".into()),
                })
            }
            _ => bail!("residency: an identity provider needs oidc_issuer, oidc_client_id and a client secret"),
        };
        Ok(counter::verified::ResidencySettings { jpki, oidc, addresses: self.addresses.clone() })
    }
}

/// The key that signs ledger checkpoints, and the log's name.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// The Ed25519 seed that signs ledger checkpoints. Keep it outside the
    /// data directory and its backups: whoever holds it could sign a
    /// rewritten log. Created on first start. Default: DATA_DIR/ledger.key
    #[arg(long, env = "MADOGUCHI_LEDGER_KEY_FILE", value_name = "FILE")]
    ledger_key_file: Option<PathBuf>,
    /// The log's origin line in checkpoints. Default: madoguchi.ledger
    #[arg(long, env = "MADOGUCHI_LEDGER_ORIGIN", value_name = "NAME")]
    ledger_origin: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub key_file: PathBuf,
    pub origin: String,
}

impl LedgerArgs {
    fn resolve(self, file: &ConfigFile, data_dir: &Path) -> LedgerConfig {
        LedgerConfig {
            key_file: self
                .ledger_key_file
                .or(file.ledger_key_file.clone())
                .unwrap_or_else(|| data_dir.join("ledger.key")),
            origin: self.ledger_origin.or(file.ledger_origin.clone()).unwrap_or_else(|| "madoguchi.ledger".into()),
        }
    }
}

impl LedgerConfig {
    /// The checkpoint signer, its key created on first use.
    pub fn signer(&self) -> anyhow::Result<ledger::CheckpointSigner> {
        let seed = load_or_create_secret(&self.key_file)?;
        ledger::CheckpointSigner::from_bytes(&self.origin, &seed)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.key_file.display()))
    }

    /// The installation's checkpoint signer, never a new one: checking the
    /// ledger with a key made on the spot would check nothing.
    pub fn existing_signer(&self) -> anyhow::Result<ledger::CheckpointSigner> {
        if !self.key_file.exists() {
            bail!(
                "ledger_key_file: {} is not there; verifying needs the installation's ledger key \
                 (the counter made it at its first start): run where it is, or name it with --ledger-key-file",
                self.key_file.display()
            );
        }
        self.signer()
    }
}

/// `--config` and the store's locations plus the ledger key: what the
/// operator's ledger commands need.
#[derive(Debug, Args)]
pub struct LedgerStoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
}

impl LedgerStoreArgs {
    pub fn resolve(self) -> anyhow::Result<(StoreConfig, LedgerConfig)> {
        let (file, store) = self.store.resolve()?;
        let ledger = self.ledger.resolve(&file, &store.data_dir);
        Ok((store, ledger))
    }
}

/// The counter's state locations, resolved.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub database: String,
    pub vault_dir: PathBuf,
    pub vault_url: Option<String>,
}

impl StoreConfig {
    /// Opens the counter's store (database and vault).
    pub async fn open(&self) -> anyhow::Result<store::Store> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating the data directory {}", self.data_dir.display()))?;
        let vault = self.vault()?;
        store::Store::open(&self.database, vault).await.context("opening the database")
    }

    /// The vault alone: S3-compatible storage when `vault_url` is set,
    /// else the local directory.
    pub fn vault(&self) -> anyhow::Result<store::Vault> {
        match &self.vault_url {
            Some(url) => store::Vault::s3(url).with_context(|| format!("opening the vault at {url}")),
            None => store::Vault::local(&self.vault_dir)
                .with_context(|| format!("opening the vault at {}", self.vault_dir.display())),
        }
    }
}

impl StoreArgs {
    /// Reads the configuration file (if any) and resolves the store's
    /// locations; the file is returned for the caller's other settings.
    fn resolve(self) -> anyhow::Result<(ConfigFile, StoreConfig)> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the configuration file {}", path.display()))?;
                toml::from_str::<ConfigFile>(&text)
                    .with_context(|| format!("in the configuration file {}", path.display()))?
            }
            None => ConfigFile::default(),
        };
        let data_dir = self.data_dir.or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from("data"));
        let database = self
            .database
            .or(file.database.clone())
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("madoguchi.sqlite").display()));
        if !(database.starts_with("sqlite:")
            || database.starts_with("postgres://")
            || database.starts_with("postgresql://"))
        {
            bail!("database: {database:?} is not a sqlite:// or postgres:// URL");
        }
        let vault_dir = self.vault_dir.or(file.vault_dir.clone()).unwrap_or_else(|| data_dir.join("vault"));
        let vault_url = self.vault_url.or(file.vault_url.clone());
        Ok((file, StoreConfig { data_dir, database, vault_dir, vault_url }))
    }

    pub fn into_config(self) -> anyhow::Result<StoreConfig> {
        Ok(self.resolve()?.1)
    }
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub store: StoreConfig,
    pub listen: SocketAddr,
    pub token_key_file: PathBuf,
    pub demo: bool,
    pub demo_towns: usize,
    pub hsts: bool,
    pub sign_in_delay_unit_ms: u64,
    pub draft_ttl_secs: u64,
    /// (host, port) of the SMTP relay.
    pub smtp: Option<(String, u16)>,
    pub mail_from: String,
    pub public_url: String,
    pub notify_key_file: PathBuf,
    pub checkpoint_secs: u64,
    pub ledger: LedgerConfig,
    pub log_format: LogFormat,
    pub shield: Option<shield::ShieldConfig>,
    pub metrics_from: Vec<std::net::IpAddr>,
    /// The --config file (flag or MADOGUCHI_CONFIG), if any.
    pub config_file: Option<PathBuf>,
    /// The self-check against the release manifest, when configured.
    pub integrity: Option<crate::integrity::IntegritySettings>,
    pub watch: WatchConfig,
    pub residency: counter::verified::ResidencySettings,
}

impl ServeConfig {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<ServeConfig> {
        let config_file = args.store.config.clone();
        let (file, store) = args.store.resolve()?;
        let integrity = args.integrity.resolve(&file)?;
        let watch = args.watch.resolve(&file)?;
        let draft_ttl_secs = args.draft_ttl_secs.or(file.draft_ttl_secs);
        if draft_ttl_secs == Some(0) {
            bail!("draft_ttl_secs: must be at least 1 second");
        }
        let data_dir = store.data_dir.clone();
        let ledger = args.ledger.resolve(&file, &data_dir);
        let (shield, metrics_from) = args.shield.resolve(&file)?;
        let smtp = match args.smtp.or(file.smtp) {
            None => None,
            Some(text) => {
                let (host, port) = text.rsplit_once(':').unwrap_or((text.as_str(), "25"));
                let port: u16 = port.parse().map_err(|_| anyhow::anyhow!("smtp: {text:?} is not HOST:PORT"))?;
                Some((host.to_owned(), port))
            }
        };
        let listen = args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public_url = args.public_url.or(file.public_url.clone()).unwrap_or_else(|| format!("http://{listen}"));
        let residency = match &file.residency {
            Some(residency) => residency.resolve(&public_url)?,
            None => Default::default(),
        };
        Ok(ServeConfig {
            residency,
            public_url,
            shield,
            metrics_from,
            config_file,
            integrity,
            watch,
            smtp,
            mail_from: args.mail_from.or(file.mail_from).unwrap_or_else(|| "madoguchi@localhost".into()),
            notify_key_file: args
                .notify_key_file
                .or(file.notify_key_file)
                .unwrap_or_else(|| data_dir.join("notify.key")),
            store,
            token_key_file: args.token_key_file.or(file.token_key_file).unwrap_or_else(|| data_dir.join("token.key")),
            listen,
            demo: args.demo.or(file.demo).unwrap_or(true),
            demo_towns: args.demo_towns.or(file.demo_towns).unwrap_or(0),
            hsts: args.hsts.or(file.hsts).unwrap_or(true),
            sign_in_delay_unit_ms: args.sign_in_delay_unit_ms.or(file.sign_in_delay_unit_ms).unwrap_or(1000),
            draft_ttl_secs: args.draft_ttl_secs.or(file.draft_ttl_secs).unwrap_or(3600),
            checkpoint_secs: args.checkpoint_secs.or(file.checkpoint_secs).unwrap_or(60).max(1),
            ledger,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
        })
    }
}

/// Reads the token secret, creating it (readable by the owner only) on
/// first start.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == seal::TokenBox::KEY_LEN => Ok(bytes),
        Ok(_) => bail!("{}: the key file must be exactly {} bytes", path.display(), seal::TokenBox::KEY_LEN),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let key = seal::TokenBox::generate_key();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key.to_vec())
        }
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn resolve(args: &[&str]) -> anyhow::Result<ServeConfig> {
        ServeConfig::resolve(Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))?.serve)
    }

    #[test]
    fn defaults_put_everything_under_the_data_dir() {
        let config = resolve(&["--data-dir", "/srv/m"]).unwrap();
        assert_eq!(config.store.database, "sqlite:///srv/m/madoguchi.sqlite");
        assert_eq!(config.store.vault_dir, PathBuf::from("/srv/m/vault"));
        assert_eq!(config.token_key_file, PathBuf::from("/srv/m/token.key"));
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert!(config.demo && config.hsts);
        assert_eq!(config.draft_ttl_secs, 3600);
    }

    #[test]
    fn the_file_is_read_and_flags_win_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("madoguchi.toml");
        std::fs::write(&file, "data_dir = \"/var/lib/madoguchi\"\nlisten = \"0.0.0.0:80\"\ndemo = false\n").unwrap();
        let file = file.to_str().unwrap();
        let config = resolve(&["--config", file]).unwrap();
        assert_eq!((config.listen.to_string().as_str(), config.demo), ("0.0.0.0:80", false));
        assert_eq!(config.store.vault_dir, PathBuf::from("/var/lib/madoguchi/vault"));
        let config = resolve(&["--config", file, "--listen", "127.0.0.1:9000"]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9000");
    }

    #[test]
    fn bad_settings_are_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listen_adress = \"0.0.0.0:80\"\n").unwrap();
        let err = format!("{:#}", resolve(&["--config", file.to_str().unwrap()]).unwrap_err());
        assert!(err.contains("listen_adress"), "{err}");
        let err = format!("{:#}", resolve(&["--database", "mysql://x"]).unwrap_err());
        assert!(err.contains("database"), "{err}");
        assert!(resolve(&["--draft-ttl-secs", "0"]).is_err());
        assert!(resolve(&["--listen", "not-an-address"]).is_err());
    }

    #[test]
    fn the_shields_redis_comes_from_the_flag_over_the_file_and_is_checked() {
        let shared = |config: ServeConfig| config.shield.and_then(|s| s.shared).map(|s| s.redis_url);
        assert_eq!(shared(resolve(&[]).unwrap()), None, "node-local without it");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("madoguchi.toml");
        std::fs::write(&file, "redis_url = \"redis://cache.internal:6379/1\"\n").unwrap();
        let file = file.to_str().unwrap();
        assert_eq!(shared(resolve(&["--config", file]).unwrap()).as_deref(), Some("redis://cache.internal:6379/1"));
        let config = resolve(&["--config", file, "--redis-url", "rediss://:pw@cache.internal:6380"]).unwrap();
        assert_eq!(shared(config).as_deref(), Some("rediss://:pw@cache.internal:6380"));
        let err = format!("{:#}", resolve(&["--redis-url", "http://cache:6379"]).unwrap_err());
        assert!(err.contains("redis_url") && err.contains("redis://"), "{err}");
        let err = format!("{:#}", resolve(&["--redis-url", "memcache://user:hunter2@cache"]).unwrap_err());
        assert!(err.contains("redis_url") && !err.contains("hunter2"), "the password is not shown: {err}");
        let err = format!("{:#}", resolve(&["--shield", "false", "--redis-url", "cache:6379"]).unwrap_err());
        assert!(err.contains("redis_url"), "checked with the shield off too: {err}");
    }

    #[test]
    fn the_integrity_check_needs_both_the_manifest_and_the_key() {
        let config = resolve(&[]).unwrap();
        assert!(config.integrity.is_none() && config.config_file.is_none());
        let err = format!("{:#}", resolve(&["--integrity-manifest", "m"]).unwrap_err());
        assert!(err.contains("integrity_public_key"), "{err}");
        let err = format!("{:#}", resolve(&["--integrity-public-key", "k"]).unwrap_err());
        assert!(err.contains("integrity_manifest"), "{err}");
        let err = format!("{:#}", resolve(&["--integrity-refuse", "true"]).unwrap_err());
        assert!(err.contains("integrity_refuse"), "{err}");
        let both = ["--integrity-manifest", "m", "--integrity-public-key", "k"];
        let config = resolve(&both).unwrap();
        let integrity = config.integrity.unwrap();
        assert_eq!((integrity.refuse, integrity.every.as_secs()), (false, 300));
        assert!(resolve(&[&both[..], &["--integrity-every", "0"]].concat()).is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("madoguchi.toml");
        std::fs::write(
            &file,
            "integrity_manifest = \"/etc/m\"\nintegrity_public_key = \"/etc/k\"\nintegrity_refuse = true\n",
        )
        .unwrap();
        let config = resolve(&["--config", file.to_str().unwrap(), "--integrity-every", "2"]).unwrap();
        assert_eq!(config.config_file.as_deref(), Some(file.as_path()));
        let integrity = config.integrity.unwrap();
        assert_eq!((integrity.refuse, integrity.every.as_secs()), (true, 2));
        assert_eq!(integrity.manifest, PathBuf::from("/etc/m"));
    }

    #[test]
    fn the_watch_limits_come_from_the_file_per_tenant_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("madoguchi.toml");
        std::fs::write(
            &file,
            "alert_mail = \"soc@pref.example.jp\"\n[watch]\nburst_records = 300\n[watch_tenants.aoba-city]\ndaily_floor = 40\n",
        )
        .unwrap();
        let config = resolve(&["--config", file.to_str().unwrap()]).unwrap();
        assert_eq!(config.watch.alert_mail, vec!["soc@pref.example.jp".to_owned()]);
        assert_eq!(config.watch.defaults.burst_records, 300);
        assert_eq!(config.watch.defaults.daily_floor, watch::Thresholds::default().daily_floor);
        assert_eq!(config.watch.tenants["aoba-city"].daily_floor, 40);
        assert_eq!(config.watch.alert_quiet_secs, 30);

        std::fs::write(&file, "[watch]\nburst_record = 300\n").unwrap();
        let err = format!("{:#}", resolve(&["--config", file.to_str().unwrap()]).unwrap_err());
        assert!(err.contains("burst_record"), "{err}");
        let err = format!("{:#}", resolve(&["--alert-mail", "not an address"]).unwrap_err());
        assert!(err.contains("alert_mail"), "{err}");
        let err = format!("{:#}", resolve(&["--alert-webhook", "ftp://x"]).unwrap_err());
        assert!(err.contains("alert_webhook"), "{err}");
    }
}
