//! # seal — what makes a stolen counter worthless
//!
//! This crate owns the cryptography that keeps residents' data unreadable
//! everywhere except on a tenant's desk:
//!
//! - [`seal`] / [`open`]: HPKE (RFC 9180, DHKEM(X25519, HKDF-SHA256),
//!   HKDF-SHA256, ChaCha20-Poly1305) in base mode, with the record's
//!   [`RecordBinding`] (tenant, form id, form version, 到達番号) as associated
//!   data, so a ciphertext cannot be moved to another record unnoticed;
//! - tenant key pairs, their [`KeyId`] fingerprints and text encodings;
//! - [`TokenBox`]: the counter's own symmetric box (XChaCha20-Poly1305) for
//!   short-lived tokens such as the draft between 確認画面 and 送信, which
//!   rides in the resident's browser rather than in any database.
//!
//! It is pure: no files, no network, no clock (callers pass the time). It
//! must never hand a tenant private key to the counter: the counter's code
//! only ever holds [`TenantPublicKey`].
//!
//! ```
//! let pair = seal::TenantKeyPair::generate();
//! let binding = seal::RecordBinding::new("demo-city", "water-start", 1, "2026-000001");
//! let record = seal::seal(&pair.public, &binding, b"{\"name\":\"..\"}").unwrap();
//! assert_eq!(seal::open(&pair.private, &binding, &record).unwrap(), b"{\"name\":\"..\"}");
//! ```
#![forbid(unsafe_code)]

mod keys;
mod record;
mod token;

pub use keys::{KeyId, TenantKeyPair, TenantPrivateKey, TenantPublicKey};
pub use record::{open, seal, RecordBinding, SealedRecord};
pub use token::TokenBox;

/// Everything that can go wrong while sealing or opening.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the key is malformed")]
    MalformedKey,
    #[error("the sealed record is malformed")]
    MalformedRecord,
    #[error("the record was sealed to key {sealed_to}, not to {given}")]
    WrongKey { sealed_to: KeyId, given: KeyId },
    #[error("the record does not open: wrong key, wrong binding, or tampered")]
    Open,
    #[error("sealing failed")]
    Seal,
    #[error("the token is invalid or has been tampered with")]
    BadToken,
}
