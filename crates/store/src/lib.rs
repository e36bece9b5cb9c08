//! # store — the counter's durable state
//!
//! This crate owns everything the counter keeps: the primary database
//! (SQLite embedded by default, PostgreSQL for several nodes; one schema and
//! one code path through sqlx's `Any` driver) and the vault, an independent
//! content-addressed object store (`object_store`: a local directory or
//! S3-compatible storage). It hands out 到達番号 (gap-free per tenant and
//! year), keeps tenants, tenant groups, their public keys and every
//! published version of every form, and accepts sealed records.
//!
//! It must never receive a resident's plaintext: [`Store::accept`] takes a
//! closure that seals the payload once the 到達番号 it is bound to is known,
//! so only [`seal::SealedRecord`]s are written. Nothing here logs values.
#![forbid(unsafe_code)]

mod alerts;
mod attachments;
pub mod backup;
mod bookings;
mod db;
mod desks;
mod forms;
mod intake;
mod journal;
mod ledger;
mod outbox;
mod postal;
pub mod rooms;
mod staff;
mod submissions;
mod tenants;
mod vault;

pub use self::ledger::{event, InclusionProof, LedgerEntry, LedgerFault, LedgerFilter, LedgerReport};
pub use alerts::SecurityContacts;
pub use attachments::{AttachmentHasher, AttachmentManifest, AttachmentWriter, PART_BYTES};
pub use bookings::{Cancellation, CancelledBooking};
pub use db::{Engine, SetupLock};
pub use desks::{Desk, PulledRecord, StatusChange};
pub use forms::{Published, PublishedForm, PublishedTemplate};
pub use outbox::{address_binding, OutgoingMail, MAILS_PER_SUBMISSION_PER_DAY, MAX_ATTEMPTS};
pub use postal::{PostalAddress, PostalRow};
pub use staff::{Actor, StaffAccount, StaffSecrets, StaffSession, StoredPasskey};
pub use submissions::{
    draft_sha256, Acceptance, BookingClaim, InquiryNumber, Intake, ReceiptNumber, StatusView, SubmissionStatus,
    SubmissionSummary,
};
pub use tenants::{Crisis, Isolation, NewTenant, NewTenantGroup, Tenant, TenantGroup};
pub use vault::{Vault, VaultObject};

use sqlx::AnyPool;

/// Failures of the database or the vault. Messages never carry submission
/// content (there is none in plaintext to carry).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("vault: {0}")]
    Vault(#[from] object_store::Error),
    #[error("vault object {0} does not match its hash")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("tenant {0:?} does not exist")]
    NoTenant(String),
    #[error("tenant {0:?} has no public key to seal to")]
    NoKey(String),
    #[error("no form template {form:?} in group {group:?}")]
    NoTemplate { group: String, form: String },
    #[error("sealing: {0}")]
    Seal(#[from] seal::SealError),
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
    /// The vault could not take a write: nothing was acknowledged.
    #[error("vault unavailable: {0}")]
    VaultUnavailable(String),
    /// The database could not commit a batch: nothing was acknowledged.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Every place in the slot was taken before this submission: it was
    /// not accepted, and nothing else of it was written.
    #[error("the booking slot is full")]
    SlotFull,
    /// The respondent has already answered this verified survey: it was
    /// not accepted, and nothing else of it was written.
    #[error("this respondent has already answered")]
    AlreadyAnswered,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database and the vault together.
#[derive(Clone)]
pub struct Store {
    db: AnyPool,
    engine: Engine,
    vault: Vault,
    ledger_tree: self::ledger::TreeCache,
    /// Where submissions go to be group-committed.
    committer: tokio::sync::mpsc::Sender<intake::Job>,
}

impl Store {
    /// Connects to `database_url`, brings its schema up to date (safe when
    /// several nodes start at once: sqlx takes a lock on PostgreSQL), and
    /// pairs it with `vault`.
    pub async fn open(database_url: &str, vault: Vault) -> Result<Store> {
        let (db, engine) = db::connect(database_url).await?;
        db::MIGRATOR.run(&db).await?;
        let committer = intake::start(db.clone(), vault.clone());
        Ok(Store { db, engine, vault, ledger_tree: Default::default(), committer })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}

pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
