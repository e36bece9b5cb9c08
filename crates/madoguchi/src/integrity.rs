//! `madoguchi integrity …` and the counter's self-check (issue 8).
//!
//! Templates and static assets are compiled into the binary, so the
//! binary's SHA-256 covers everything the counter can serve. At release,
//! `integrity sign` hashes the binary and the configuration files it will
//! run with and signs that list (the manifest) with an Ed25519 key kept off
//! the servers. `serve --integrity-manifest … --integrity-public-key …`
//! checks at start and every few minutes that the image actually running
//! (`/proc/self/exe`), the file at its path (a swapped binary, before a
//! restart picks it up) and the `--config` file still match; a mismatch is
//! logged, recorded once as an `alert` leaf in the ledger, and with
//! `--integrity-refuse true` every request is answered with a static 503
//! page from then on. See docs/integrity.md.
//!
//! The manifest is a small text file whose bytes up to the signature line
//! are exactly what is signed (so there is one canonical form):
//!
//! ```text
//! madoguchi-integrity-manifest v1
//! version 0.1.0
//! signed-at 2026-11-25T09:00:00Z
//! key 3f1c0a9e5b7d2468
//! binary <sha256 hex> <size>
//! config <sha256 hex> <size> <path>        (zero or more)
//! signature <Ed25519 signature hex>
//! ```

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Subcommand;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The first line of every manifest: the format and its version.
const MAGIC: &str = "madoguchi-integrity-manifest v1";
/// The one line of a public key file, before the key's hex.
const PUBLIC_KEY_PREFIX: &str = "madoguchi-release-key ed25519 ";

#[derive(Debug, Subcommand)]
pub enum IntegrityCommand {
    /// Create the release signing key (Ed25519) and its public key. Keep the
    /// signing key off the servers (on the release machine, or offline);
    /// install the public key (`.pub`) beside the counter.
    Keygen {
        /// Where to write the signing key (a 32-byte seed, readable by the
        /// owner only; never overwritten). The public key is written next
        /// to it with the extension `.pub`.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Hash the binary and the configuration files and sign the list.
    Sign {
        /// The signing key from `integrity keygen`.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The madoguchi binary as it will be installed.
        #[arg(long, value_name = "PATH")]
        binary: PathBuf,
        /// A configuration file the counter runs with (repeatable). It is
        /// recorded under the path given here: name it as the counter will.
        #[arg(long = "config", value_name = "FILE")]
        configs: Vec<PathBuf>,
        /// Where to write the manifest.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a binary and configuration files against a signed manifest;
    /// prints every item ok or MISMATCH and exits non-zero on any mismatch
    /// or a bad signature.
    Check {
        /// The manifest from `integrity sign`.
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,
        /// The release public key (`.pub` from `integrity keygen`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// The binary to check. Default: this madoguchi, both the image
        /// running and the file at its path.
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
        /// Configuration files to check (repeatable). Default: every file
        /// the manifest names, at the path it names.
        #[arg(long = "config", value_name = "FILE")]
        configs: Vec<PathBuf>,
    },
}

pub fn run(command: IntegrityCommand) -> ExitCode {
    match execute(command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("madoguchi: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: IntegrityCommand) -> anyhow::Result<ExitCode> {
    match command {
        IntegrityCommand::Keygen { out } => {
            let public_path = out.with_extension("pub");
            if out == public_path {
                bail!("--out {}: give the signing key another extension than .pub", out.display());
            }
            if public_path.exists() {
                bail!("{} exists already: keygen never overwrites a key", public_path.display());
            }
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
            let key = SigningKey::from_bytes(&seed);
            write_new(&out, seed.as_ref(), true)?;
            let public = public_key_text(&key.verifying_key());
            write_new(&public_path, public.as_bytes(), false)?;
            println!("signing key: {} (keep it off the servers)", out.display());
            println!("public key:  {} (key {})", public_path.display(), key_id(&key.verifying_key()));
            print!("{public}");
            Ok(ExitCode::SUCCESS)
        }
        IntegrityCommand::Sign { key, binary, configs, out } => {
            let seed = zeroize::Zeroizing::new(
                std::fs::read(&key).with_context(|| format!("reading the signing key {}", key.display()))?,
            );
            let seed: &[u8; 32] = seed
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("{}: a signing key file is exactly 32 bytes", key.display()))?;
            let key = SigningKey::from_bytes(seed);
            let mut manifest = Manifest::of_files(&binary, &configs)?;
            let text = manifest.sign(&key);
            std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "signed {} (binary {}, {} configuration file(s)) with key {}",
                out.display(),
                short(&manifest.binary.sha256),
                manifest.configs.len(),
                manifest.key_id
            );
            Ok(ExitCode::SUCCESS)
        }
        IntegrityCommand::Check { manifest, public_key, binary, configs } => {
            let public = read_public_key(&public_key)?;
            let binary = match binary {
                Some(path) => BinaryTarget::File(path),
                None => BinaryTarget::Running,
            };
            let configs = (!configs.is_empty()).then_some(configs.as_slice());
            let report = verify_file(&manifest, &public, &binary, configs);
            print!("{report}");
            if report.is_ok() {
                println!("integrity ok: {} item(s) match the signed manifest", report.items.len());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "INTEGRITY MISMATCH: {} item(s) differ from the signed manifest",
                    report.mismatches().count()
                );
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// Creates `path` with `bytes`; never overwrites; 0600 when `secret`.
fn write_new(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file =
        options.open(path).with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_KEY_PREFIX}{}\n", hex::encode(key.as_bytes()))
}

/// Reads a public key file written by `integrity keygen`.
pub fn read_public_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the release public key {}", path.display()))?;
    parse_public_key(&text).with_context(|| format!("in the release public key {}", path.display()))
}

fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let Some(hex_key) = text.trim_end_matches('\n').strip_prefix(PUBLIC_KEY_PREFIX) else {
        bail!("expected one line `{PUBLIC_KEY_PREFIX}<64 hex digits>`");
    };
    let bytes: [u8; 32] = hex::decode(hex_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("the key is not 64 hex digits"))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| anyhow::anyhow!("not a valid Ed25519 key"))?;
    if key.is_weak() {
        bail!("a small-order key proves nothing");
    }
    Ok(key)
}

/// The first 8 bytes of the public key's SHA-256, in hex: names the key in
/// manifests and messages.
fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

fn short(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

/// A file's SHA-256 and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: [u8; 32],
    pub size: u64,
}

impl FileDigest {
    /// Reads `path` through once.
    pub fn of(path: &Path) -> std::io::Result<FileDigest> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            size += n as u64;
        }
        Ok(FileDigest { sha256: hasher.finalize().into(), size })
    }
}

/// What a release signs: the binary and the configuration files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// madoguchi's version where the manifest was signed.
    pub version: String,
    /// RFC 3339, UTC, whole seconds.
    pub signed_at: String,
    /// [`key_id`] of the signing key.
    pub key_id: String,
    pub binary: FileDigest,
    /// (path as given at signing, digest), in the order given.
    pub configs: Vec<(String, FileDigest)>,
}

impl Manifest {
    /// Hashes the files (the key id is filled in by [`Manifest::sign`]).
    fn of_files(binary: &Path, configs: &[PathBuf]) -> anyhow::Result<Manifest> {
        let digest = FileDigest::of(binary).with_context(|| format!("reading the binary {}", binary.display()))?;
        let mut entries = Vec::new();
        for config in configs {
            let path = config.to_str().context("a configuration file's path must be UTF-8")?;
            if path.chars().any(char::is_control) || path.is_empty() {
                bail!("{path:?}: a configuration file's path must not hold control characters");
            }
            let digest = FileDigest::of(config).with_context(|| format!("reading the configuration file {path}"))?;
            entries.push((path.to_owned(), digest));
        }
        let signed_at = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
            .format(&time::format_description::well_known::Rfc3339)
            .context("formatting the time")?;
        Ok(Manifest {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            signed_at,
            key_id: String::new(),
            binary: digest,
            configs: entries,
        })
    }

    /// The canonical bytes that are signed: every line before `signature`.
    fn body(&self) -> String {
        let mut body = format!(
            "{MAGIC}\nversion {}\nsigned-at {}\nkey {}\nbinary {} {}\n",
            self.version,
            self.signed_at,
            self.key_id,
            hex::encode(self.binary.sha256),
            self.binary.size
        );
        for (path, digest) in &self.configs {
            body.push_str(&format!("config {} {} {path}\n", hex::encode(digest.sha256), digest.size));
        }
        body
    }

    /// The manifest file's text, signed by `key`.
    fn sign(&mut self, key: &SigningKey) -> String {
        self.key_id = key_id(&key.verifying_key());
        let body = self.body();
        let signature = key.sign(body.as_bytes());
        format!("{body}signature {}\n", hex::encode(signature.to_bytes()))
    }

    /// Verifies the signature of a manifest file's text with `public`,
    /// then reads it. Nothing of an unsigned manifest is believed.
    pub fn open(text: &str, public: &VerifyingKey) -> anyhow::Result<Manifest> {
        let Some(at) = text.rfind("\nsignature ").map(|i| i + 1) else {
            bail!("no signature line");
        };
        let (body, signature_line) = text.split_at(at);
        let Some(signature_hex) = signature_line.strip_prefix("signature ").and_then(|s| s.strip_suffix('\n')) else {
            bail!("the signature line must be the last line");
        };
        let signature: [u8; 64] = hex::decode(signature_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("the signature is not 128 hex digits"))?;
        if public.verify_strict(body.as_bytes(), &Signature::from_bytes(&signature)).is_err() {
            let named = body.lines().find_map(|l| l.strip_prefix("key ")).unwrap_or("?");
            if named != key_id(public) {
                bail!("bad signature: the manifest names key {named}, the public key given is {}", key_id(public));
            }
            bail!("bad signature: the manifest was altered after it was signed");
        }
        let manifest = Manifest::parse_body(body).context("the signed manifest is malformed")?;
        if manifest.body() != body {
            bail!("the signed manifest is not in canonical form");
        }
        Ok(manifest)
    }

    fn parse_body(body: &str) -> anyhow::Result<Manifest> {
        let mut lines = body.lines();
        if lines.next() != Some(MAGIC) {
            bail!("not a {MAGIC} manifest");
        }
        let mut field = |name: &str| -> anyhow::Result<String> {
            let line = lines.next().with_context(|| format!("the line `{name} …` is missing"))?;
            let value = line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' '));
            Ok(value.with_context(|| format!("expected `{name} …`, found {line:?}"))?.to_owned())
        };
        let version = field("version")?;
        let signed_at = field("signed-at")?;
        let key_id = field("key")?;
        let binary = parse_digest(&field("binary")?, false)?.0;
        let mut configs = Vec::new();
        for line in lines {
            let rest = line.strip_prefix("config ").with_context(|| format!("unexpected line {line:?}"))?;
            let (digest, path) = parse_digest(rest, true)?;
            configs.push((path, digest));
        }
        Ok(Manifest { version, signed_at, key_id, binary, configs })
    }
}

/// `<hex> <size>` (and ` <path>` when `with_path`).
fn parse_digest(text: &str, with_path: bool) -> anyhow::Result<(FileDigest, String)> {
    let mut parts = text.splitn(if with_path { 3 } else { 2 }, ' ');
    let sha256: [u8; 32] = parts
        .next()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{text:?}: not a SHA-256 in hex"))?;
    let size = parts.next().and_then(|s| s.parse().ok()).with_context(|| format!("{text:?}: no size"))?;
    let path = parts.next().unwrap_or_default().to_owned();
    if with_path && path.is_empty() {
        bail!("{text:?}: no path");
    }
    Ok((FileDigest { sha256, size }, path))
}

/// Which binary to check.
#[derive(Debug, Clone)]
pub enum BinaryTarget {
    /// This process: the image running (`/proc/self/exe`, which stays the
    /// started file even after it is replaced on disk) and the file now at
    /// its path (a swapped binary, before a restart runs it).
    Running,
    /// A file.
    File(PathBuf),
}

/// One thing checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Short and fixed: `manifest`, `binary-image`, `binary-file`, `config`.
    pub kind: &'static str,
    /// What was checked, with its path.
    pub what: String,
    /// None when it matches; else what differs (hashes, never contents).
    pub problem: Option<String>,
}

/// The outcome of one check.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub items: Vec<Item>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        !self.items.is_empty() && self.items.iter().all(|i| i.problem.is_none())
    }

    pub fn mismatches(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.problem.is_some())
    }

    fn push(&mut self, kind: &'static str, what: String, problem: Option<String>) {
        self.items.push(Item { kind, what, problem });
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for item in &self.items {
            match &item.problem {
                None => writeln!(f, "ok        {}", item.what)?,
                Some(problem) => writeln!(f, "MISMATCH  {}: {problem}", item.what)?,
            }
        }
        Ok(())
    }
}

/// Compares a file's digest with the manifest's.
fn compare(path: &Path, expected: &FileDigest) -> Option<String> {
    match FileDigest::of(path) {
        Ok(actual) if actual == *expected => None,
        Ok(actual) => Some(format!(
            "sha256 {} ({} bytes), the manifest says {} ({} bytes)",
            hex::encode(actual.sha256),
            actual.size,
            hex::encode(expected.sha256),
            expected.size
        )),
        Err(err) => Some(format!("cannot read it: {}", err.kind())),
    }
}

/// The path of the file this process was started from, as the kernel
/// names it (" (deleted)" removed when the file was replaced or removed).
fn running_path() -> std::io::Result<PathBuf> {
    let path = std::env::current_exe()?;
    let text = path.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(stripped) => PathBuf::from(stripped),
        None => path,
    })
}

/// Reads the manifest at `path` and checks it: [`verify`].
pub fn verify_file(path: &Path, public: &VerifyingKey, binary: &BinaryTarget, configs: Option<&[PathBuf]>) -> Report {
    match std::fs::read_to_string(path) {
        Ok(text) => verify(&text, public, binary, configs),
        Err(err) => {
            let mut report = Report::default();
            report.push("manifest", format!("manifest {}", path.display()), Some(format!("cannot read it: {err}")));
            report
        }
    }
}

/// Checks the manifest's signature, then `binary` and the configuration
/// files against it. `configs`: the files in use (each must be in the
/// manifest, matched by its path or else by its file name, and every file
/// the manifest names must be in use); None checks the manifest's own
/// list at the paths it records.
pub fn verify(manifest: &str, public: &VerifyingKey, binary: &BinaryTarget, configs: Option<&[PathBuf]>) -> Report {
    let mut report = Report::default();
    let manifest = match Manifest::open(manifest, public) {
        Ok(manifest) => manifest,
        Err(err) => {
            report.push("manifest", "manifest signature".into(), Some(format!("{err:#}")));
            return report;
        }
    };
    report.push(
        "manifest",
        format!(
            "manifest signature (key {}, signed {}, madoguchi {})",
            manifest.key_id, manifest.signed_at, manifest.version
        ),
        None,
    );
    match binary {
        BinaryTarget::File(path) => {
            report.push("binary-file", format!("binary {}", path.display()), compare(path, &manifest.binary))
        }
        BinaryTarget::Running => {
            let path = running_path();
            #[cfg(target_os = "linux")]
            {
                let image = Path::new("/proc/self/exe");
                let outcome = compare(image, &manifest.binary);
                report.push("binary-image", "binary running (/proc/self/exe)".into(), outcome.clone());
                // The file at the path is most often the very file running:
                // then it is read once (its content is the image's).
                if let Ok(path) = &path {
                    if same_file(image, path) {
                        let what = format!("binary on disk {} (the file running)", path.display());
                        report.push("binary-file", what, outcome);
                        return configs_of(report, &manifest, configs);
                    }
                }
            }
            match path {
                Ok(path) => report.push(
                    "binary-file",
                    format!("binary on disk {}", path.display()),
                    compare(&path, &manifest.binary),
                ),
                Err(err) => report.push("binary-file", "binary on disk".into(), Some(format!("cannot find it: {err}"))),
            }
        }
    }
    configs_of(report, &manifest, configs)
}

/// Whether two paths name the same file (device and inode).
#[cfg(target_os = "linux")]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Adds the configuration files' items to `report`.
fn configs_of(mut report: Report, manifest: &Manifest, configs: Option<&[PathBuf]>) -> Report {
    let recorded: Vec<PathBuf>;
    let configs = match configs {
        Some(configs) => configs,
        None => {
            recorded = manifest.configs.iter().map(|(p, _)| PathBuf::from(p)).collect();
            &recorded
        }
    };
    let mut used = vec![false; manifest.configs.len()];
    for config in configs {
        let shown = config.display().to_string();
        match find_config(manifest, config) {
            Some(index) => {
                used[index] = true;
                report.push("config", format!("config {shown}"), compare(config, &manifest.configs[index].1));
            }
            None => report.push("config", format!("config {shown}"), Some("not in the manifest".into())),
        }
    }
    for ((path, _), used) in manifest.configs.iter().zip(used) {
        if !used {
            report.push("config", format!("config {path}"), Some("named in the manifest, but not in use".into()));
        }
    }
    report
}

/// The manifest's entry for `config`: the same path (as written, or the
/// same file), else the only entry with the same file name.
fn find_config(manifest: &Manifest, config: &Path) -> Option<usize> {
    let canonical = std::fs::canonicalize(config).ok();
    let same = manifest.configs.iter().position(|(path, _)| {
        Path::new(path) == config || (canonical.is_some() && std::fs::canonicalize(path).ok() == canonical)
    });
    same.or_else(|| {
        let name = config.file_name()?;
        let mut by_name =
            manifest.configs.iter().enumerate().filter(|(_, (p, _))| Path::new(p).file_name() == Some(name));
        match (by_name.next(), by_name.next()) {
            (Some((index, _)), None) => Some(index),
            _ => None,
        }
    })
}

/// The counter's integrity settings, resolved (see config.rs).
#[derive(Debug, Clone)]
pub struct IntegritySettings {
    pub manifest: PathBuf,
    pub public_key: PathBuf,
    pub refuse: bool,
    pub every: Duration,
}

/// The counter's self-check: at start and every `every`.
pub struct Watch {
    settings: IntegritySettings,
    public: VerifyingKey,
    configs: Vec<PathBuf>,
    store: store::Store,
    gate: counter::integrity::IntegrityGate,
    /// Mismatches already recorded in the ledger (one alert each).
    alerted: HashSet<String>,
}

impl Watch {
    /// Reads the public key now (once: a key swapped on disk later is not
    /// believed). `config_file`: the `--config` the counter runs with.
    pub fn new(
        settings: IntegritySettings,
        config_file: Option<&Path>,
        store: store::Store,
        gate: counter::integrity::IntegrityGate,
    ) -> anyhow::Result<Watch> {
        let public = read_public_key(&settings.public_key)?;
        Ok(Watch {
            settings,
            public,
            configs: config_file.map(Path::to_owned).into_iter().collect(),
            store,
            gate,
            alerted: HashSet::new(),
        })
    }

    /// Runs one check: logs it, records each new mismatch as an alert in
    /// the ledger and, when told to refuse, closes the gate for good.
    /// True when everything matched.
    pub async fn check(&mut self) -> bool {
        let started = Instant::now();
        let (manifest, public, configs) = (self.settings.manifest.clone(), self.public, self.configs.clone());
        let report = tokio::task::spawn_blocking(move || {
            verify_file(&manifest, &public, &BinaryTarget::Running, Some(&configs))
        })
        .await
        .unwrap_or_else(|err| {
            let mut report = Report::default();
            report.push("check", "the integrity check".into(), Some(format!("did not finish: {err}")));
            report
        });
        if report.is_ok() {
            tracing::info!(
                items = report.items.len(),
                ms = started.elapsed().as_millis() as u64,
                "integrity check passed: the binary and configuration match the signed manifest"
            );
            return true;
        }
        let refusing = self.settings.refuse;
        for item in report.mismatches() {
            let problem = item.problem.as_deref().unwrap_or_default();
            tracing::error!(item = %item.what, problem, "INTEGRITY MISMATCH: {} differs from the signed manifest", item.what);
            let key = format!("{}: {problem}", item.what);
            if self.alerted.contains(&key) {
                continue;
            }
            let detail = format!("integrity mismatch: {key}{}", if refusing { "; refusing to serve" } else { "" });
            let event = store::event(ledger::EventKind::Alert, "system:integrity", None, Some(item.kind), &detail);
            match self.store.record_event(&event).await {
                Ok(index) => {
                    tracing::warn!(leaf = index, item = %item.what, "integrity alert recorded in the ledger");
                    self.alerted.insert(key);
                }
                Err(err) => tracing::error!(error = %err, "could not record the integrity alert; will retry"),
            }
        }
        if refusing {
            if !self.gate.is_refusing() {
                self.gate.refuse();
                tracing::error!(
                    "REFUSING TO SERVE: every request is now answered 503 (--integrity-refuse); \
                     restore the released binary and configuration, or sign a new manifest, then restart"
                );
            }
        } else {
            tracing::error!("still serving: --integrity-refuse is off");
        }
        false
    }

    /// Checks every `every`, for ever.
    pub async fn run(mut self) {
        loop {
            tokio::time::sleep(self.settings.every).await;
            self.check().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn files(dir: &Path) -> (PathBuf, PathBuf) {
        let binary = dir.join("madoguchi");
        let config = dir.join("madoguchi.toml");
        std::fs::write(&binary, b"\x7fELF pretend binary").unwrap();
        std::fs::write(&config, b"demo = false\n").unwrap();
        (binary, config)
    }

    #[test]
    fn a_signed_manifest_opens_and_checks_and_its_text_is_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let (binary, config) = files(dir.path());
        let text = Manifest::of_files(&binary, std::slice::from_ref(&config)).unwrap().sign(&key());
        let public = key().verifying_key();
        let manifest = Manifest::open(&text, &public).unwrap();
        assert_eq!(manifest.configs.len(), 1);
        assert!(text.starts_with(MAGIC) && text.contains(&format!("key {}", key_id(&public))), "{text}");
        let report = verify(&text, &public, &BinaryTarget::File(binary.clone()), None);
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.items.len(), 3);
        // Served from the config's file name when the path differs.
        let moved = dir.path().join("etc");
        std::fs::create_dir(&moved).unwrap();
        std::fs::copy(&config, moved.join("madoguchi.toml")).unwrap();
        let report = verify(&text, &public, &BinaryTarget::File(binary), Some(&[moved.join("madoguchi.toml")]));
        assert!(report.is_ok(), "{report}");
    }

    #[test]
    fn any_change_is_a_mismatch_naming_the_item() {
        let dir = tempfile::tempdir().unwrap();
        let (binary, config) = files(dir.path());
        let text = Manifest::of_files(&binary, std::slice::from_ref(&config)).unwrap().sign(&key());
        let public = key().verifying_key();
        std::fs::write(&config, b"demo = true\n").unwrap();
        let report = verify(&text, &public, &BinaryTarget::File(binary.clone()), None);
        let bad: Vec<_> = report.mismatches().map(|i| i.kind).collect();
        assert_eq!(bad, ["config"], "{report}");
        // Altered text, or another key: nothing of it is believed.
        let altered = text.replacen("version ", "version 9", 1);
        let report = verify(&altered, &public, &BinaryTarget::File(binary.clone()), None);
        assert_eq!(report.items.len(), 1);
        assert!(report.to_string().contains("altered after it was signed"), "{report}");
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        let report = verify(&text, &other, &BinaryTarget::File(binary.clone()), None);
        assert!(report.to_string().contains("names key"), "{report}");
        // A config in use that the manifest does not name, and the reverse.
        let report = verify(&text, &public, &BinaryTarget::File(binary.clone()), Some(&[]));
        assert!(report.to_string().contains("not in use"), "{report}");
        let stray = dir.path().join("other.toml");
        std::fs::write(&stray, b"").unwrap();
        let report = verify(&text, &public, &BinaryTarget::File(binary), Some(&[stray]));
        assert!(report.to_string().contains("not in the manifest"), "{report}");
    }

    #[test]
    fn public_keys_round_trip_and_bad_ones_are_refused() {
        let public = key().verifying_key();
        assert_eq!(parse_public_key(&public_key_text(&public)).unwrap(), public);
        assert!(parse_public_key("madoguchi-release-key ed25519 00").is_err());
        assert!(parse_public_key(&format!("{PUBLIC_KEY_PREFIX}{}", "00".repeat(32))).is_err());
    }
}
