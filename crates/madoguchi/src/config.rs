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

#[derive(Debug, Args)]
pub struct ServeArgs {
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

    /// Send Strict-Transport-Security (keep on when served over HTTPS).
    /// Default: true
    #[arg(long, env = "MADOGUCHI_HSTS", value_name = "BOOL")]
    hsts: Option<bool>,

    /// Log format on standard error. Default: text
    #[arg(long, env = "MADOGUCHI_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

/// The configuration file: the same keys as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    database: Option<String>,
    vault_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    token_key_file: Option<PathBuf>,
    demo: Option<bool>,
    hsts: Option<bool>,
    log_format: Option<LogFormat>,
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub database: String,
    pub vault_dir: PathBuf,
    pub listen: SocketAddr,
    pub token_key_file: PathBuf,
    pub demo: bool,
    pub hsts: bool,
    pub log_format: LogFormat,
}

impl ServeConfig {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<ServeConfig> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the configuration file {}", path.display()))?;
                toml::from_str::<ConfigFile>(&text)
                    .with_context(|| format!("in the configuration file {}", path.display()))?
            }
            None => ConfigFile::default(),
        };
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("data"));
        let database = args
            .database
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("madoguchi.sqlite").display()));
        if !(database.starts_with("sqlite:")
            || database.starts_with("postgres://")
            || database.starts_with("postgresql://"))
        {
            bail!("database: {database:?} is not a sqlite:// or postgres:// URL");
        }
        Ok(ServeConfig {
            vault_dir: args.vault_dir.or(file.vault_dir).unwrap_or_else(|| data_dir.join("vault")),
            token_key_file: args.token_key_file.or(file.token_key_file).unwrap_or_else(|| data_dir.join("token.key")),
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            demo: args.demo.or(file.demo).unwrap_or(true),
            hsts: args.hsts.or(file.hsts).unwrap_or(true),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            database,
            data_dir,
        })
    }
}

/// Reads the token secret, creating it (readable by the owner only) on
/// first start.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == seal::TokenBox::KEY_LEN => Ok(bytes),
        Ok(_) => bail!("{}: the token key must be exactly {} bytes", path.display(), seal::TokenBox::KEY_LEN),
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
