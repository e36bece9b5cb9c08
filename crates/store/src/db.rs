//! Connecting to either engine through sqlx's `Any` driver.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::{Result, StoreError};

/// Migrations only ever add tables and columns (new columns with a default
/// or nullable): `backup restore` loads a snapshot taken under an older
/// schema into the current one, column by name.
///
/// A migration the database has and this binary does not know is let be:
/// during a rolling upgrade a node that restarts on the previous release
/// still starts, on a schema that only grew.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.ignore_missing = true;
    migrator
};

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

/// Held while one node sets up what all nodes share (the demo prefecture,
/// say), so nodes started together do it one after the other. On
/// PostgreSQL a session advisory lock on a connection of its own; it ends
/// with that connection, which is closed (never returned to the pool) when
/// the lock is dropped. SQLite serves one node and needs none.
pub struct SetupLock {
    connection: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
}

/// The advisory lock's key: "madoguchi setup".
const SETUP_LOCK_KEY: i64 = 0x6d61_646f_7365_7475;

impl Drop for SetupLock {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            // Closing the session is what releases a session lock.
            drop(connection.detach());
        }
    }
}

impl crate::Store {
    /// Waits for, then holds, the cluster-wide set-up lock.
    pub async fn setup_lock(&self) -> crate::Result<SetupLock> {
        if self.engine() != Engine::Postgres {
            return Ok(SetupLock { connection: None });
        }
        let mut connection = self.db.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(SETUP_LOCK_KEY).execute(&mut *connection).await?;
        Ok(SetupLock { connection: Some(connection) })
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
