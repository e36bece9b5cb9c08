//! # desk — the only place a submission is ever read
//!
//! The desk runs inside a municipality (the LGWAN side). This crate owns its
//! key ring (the tenant's HPKE private keys and the desk's Ed25519 signing
//! key, wrapped under a passphrase on disk and unlocked into memory), the
//! key ceremony, the sync client that pulls sealed records from the counter
//! and pushes status back, and the desk's own store, where plaintext is kept
//! encrypted at rest under a key derived from the unlocked key ring.
//!
//! It must never send a submission's content to the counter (only status),
//! never write plaintext to disk, and never log a field value.
#![forbid(unsafe_code)]

pub mod attachments;
pub mod ceremony;
pub mod charts;
pub mod export;
mod honeytoken;
mod keyring;
pub mod results;
pub mod schedule;
pub mod staff;
mod store;
mod sync;
pub mod watching;
pub mod web;
mod web_strings;
pub mod work;

pub use keyring::{KeyRing, LockedKey};
pub use store::{DeskStore, StoredRecord};
pub use sync::{SyncClient, SyncReport};

/// Everything that can go wrong on the desk.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("key: {0}")]
    Seal(#[from] seal::SealError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("the counter: {0}")]
    Counter(String),
    #[error("record {receipt}: {reason}")]
    BadRecord { receipt: String, reason: String },
    #[error("{0}")]
    Setup(String),
}

pub type Result<T, E = DeskError> = std::result::Result<T, E>;

pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DeskError + '_ {
    move |source| DeskError::Io { path: path.to_owned(), source }
}

/// Helpers for tests and benchmarks: building records as sync would.
#[doc(hidden)]
pub mod testing {
    use store::ReceiptNumber;

    use crate::store::{at_rest_label, StoredRecord};
    use crate::KeyRing;

    /// A record with `payload` encrypted at rest, as sync stores it.
    pub fn stored_record(
        keys: &KeyRing,
        receipt: ReceiptNumber,
        form_id: &str,
        received_at: i64,
        payload: &[u8],
        message_key: &str,
    ) -> StoredRecord {
        StoredRecord {
            receipt,
            form_id: form_id.to_owned(),
            form_version: 1,
            key_id: "0".repeat(32),
            record_sha256: String::new(),
            sealed: Vec::new(),
            payload: keys.encrypt_at_rest(&at_rest_label(&keys.tenant, receipt), payload),
            received_at,
            status: "received".into(),
            message_key: message_key.to_owned(),
            assigned_to: None,
        }
    }
}
