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
//!   rides in the resident's browser rather than in any database;
//! - [`wrap_secret`] / [`unwrap_secret`]: private keys at rest, in a text key
//!   file wrapped under a passphrase or a one-time recovery secret (argon2id +
//!   XChaCha20-Poly1305), so a copied desk disk alone opens nothing;
//! - [`DeskSigningKey`] / [`DeskPublicKey`]: Ed25519 signatures by which a desk
//!   proves each [`SignedRequest`] to the counter.
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

mod desk_key;
mod keys;
mod notify;
mod pseudonym;
mod record;
mod resident;
mod stream;
mod token;
mod wrap;

pub use desk_key::{DeskPublicKey, DeskSigningKey, SignedRequest};
pub use keys::{KeyId, TenantKeyPair, TenantPrivateKey, TenantPublicKey};
pub use notify::NotificationKey;
pub use pseudonym::Pseudonyms;
pub use record::{open, seal, RecordBinding, SealedRecord};
pub use resident::{seal_message, ResidentKeys};
pub use stream::{sealed_len, AttachmentBinding, StreamOpener, StreamSealer, CHUNK};
pub use token::TokenBox;
pub use wrap::{
    generate_recovery_secret, read_key_file_info, unwrap_secret, wrap_secret, KdfParams, KeyKind, WrapPurpose,
    WrappedKeyInfo,
};

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
    /// Deliberately one error for a wrong passphrase and an altered header:
    /// the AEAD cannot tell them apart, and neither should an attacker.
    #[error("the key file does not open: wrong passphrase, or the file was altered")]
    WrongPassphrase,
    #[error("a passphrase must not be empty")]
    EmptyPassphrase,
    #[error("the key file is malformed at line {line}: {reason}")]
    MalformedKeyFile { line: usize, reason: String },
    #[error("the key file has a format version this madoguchi cannot read (it reads v1); use a newer madoguchi")]
    UnsupportedVersion,
    #[error("cannot write the key file: {0}")]
    InvalidKeyInfo(&'static str),
    #[error("the request signature is missing, malformed or does not verify")]
    BadSignature,
}
