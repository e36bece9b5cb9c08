//! Connecting to either engine through sqlx's `Any` driver.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::{Result, StoreError};

/// Migrations only ever add tables and columns (new columns with a default
/// or nullable): `backup restore` loads a snapshot taken under an older
/// schema into the current one, column by name.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub(crate) async fn connect(url: &str) -> Result<(AnyPool, Engine)> {
    sqlx::any::install_default_drivers();
    let engine = if url.starts_with("sqlite:") {
        Engine::Sqlite
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Engine::Postgres
    } else {
        return Err(StoreError::UnsupportedUrl(redact(url)));
    };
    let url = match engine {
        // Create the file on first start.
        Engine::Sqlite if !url.contains("mode=") => {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        }
        _ => url.to_owned(),
    };
    let options = AnyConnectOptions::from_str(&url)?;
    let pool = AnyPoolOptions::new()
        // SQLite has one writer at a time; a few connections still let
        // readers proceed under WAL.
        .max_connections(match engine {
            Engine::Sqlite => 4,
            Engine::Postgres => 16,
        })
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if engine == Engine::Sqlite {
                    // WAL + synchronous=FULL: a committed transaction survives
                    // power loss; busy_timeout lets writers queue.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok((pool, engine))
}

/// A database URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(super::redact("postgres://app:s3cret@db/x"), "postgres://app@db/x");
        assert_eq!(super::redact("sqlite://data/db.sqlite"), "sqlite://data/db.sqlite");
    }
}
