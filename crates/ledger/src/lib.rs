//! # ledger — history that cannot be rewritten unnoticed
//!
//! This crate owns the mathematics of madoguchi's tamper-evident history:
//!
//! - [`leaf_hash`], [`node_hash`], [`empty_root`]: RFC 6962 §2.1 hashing
//!   (SHA-256 with the 0x00 / 0x01 domain prefixes), interoperable with
//!   Certificate Transparency and every C2SP transparency log;
//! - [`Event`]: what one leaf records (a submission, a status change, a login,
//!   a record view …) and its documented canonical bytes; a leaf of the log
//!   is [`Event::leaf_hash`], the RFC 6962 leaf hash of those bytes;
//! - [`MerkleTree`]: an append-only in-memory tree over the leaf hashes that
//!   computes the root of any prefix, inclusion proofs and consistency proofs
//!   in O(log n), rebuilt at start from the hashes the store keeps;
//! - [`verify_inclusion`] / [`verify_consistency`]: the RFC 9162 verification
//!   algorithms, sharing no code with [`MerkleTree`] beyond the two hash
//!   functions;
//! - [`Checkpoint`], [`CheckpointSigner`], [`CheckpointVerifier`]: signed tree
//!   heads in the C2SP tlog-checkpoint format inside a C2SP signed note
//!   (Ed25519), the text the store writes to the vault on a schedule.
//!
//! It is pure: no files, no database, no network, no clock (callers pass the
//! time in [`Event::at`]). It must never record personal data: an [`Event`]
//! names principals, tenants, 到達番号 and hashes, never what a resident
//! wrote, because a leaf can never be removed again.
//!
//! ```
//! use ledger::{leaf_hash, verify_consistency, verify_inclusion, MerkleTree};
//!
//! let mut tree = MerkleTree::new();
//! for i in 0..5u8 {
//!     tree.push(leaf_hash(&[i]));
//! }
//! let old_root = tree.root();
//! let index = tree.push(leaf_hash(b"a later event"));
//! let proof = tree.inclusion_proof(index, tree.len()).unwrap();
//! assert!(verify_inclusion(&leaf_hash(b"a later event"), index, tree.len(), &proof, &tree.root()));
//! let proof = tree.consistency_proof(5, tree.len()).unwrap();
//! assert!(verify_consistency(5, tree.len(), &old_root, &tree.root(), &proof));
//! ```
#![forbid(unsafe_code)]

mod checkpoint;
mod event;
mod tree;
mod verify;

use sha2::{Digest, Sha256};

pub use checkpoint::{Checkpoint, CheckpointSigner, CheckpointVerifier};
pub use event::{Event, EventKind};
pub use tree::MerkleTree;
pub use verify::{verify_consistency, verify_inclusion};

/// A SHA-256 output: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// RFC 6962 §2.1: the hash of a leaf, `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([0x00]).chain_update(data).finalize().into()
}

/// RFC 6962 §2.1: the hash of an interior node, `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 65];
    input[0] = 0x01;
    input[1..33].copy_from_slice(left);
    input[33..].copy_from_slice(right);
    Sha256::digest(input).into()
}

/// RFC 6962 §2.1: the root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Everything that can go wrong with events, keys, notes and checkpoints.
/// (Proof verification answers `bool`: a proof either holds or it does not.)
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the checkpoint signing key is malformed (an Ed25519 seed is 32 bytes)")]
    MalformedKey,
    #[error("invalid key name {0:?}: it must be non-empty, without spaces, control characters or '+'")]
    InvalidKeyName(String),
    #[error("invalid checkpoint origin: it must be one non-empty line without control characters")]
    InvalidOrigin,
    #[error("the verifier key is malformed: {0}")]
    MalformedVerifierKey(&'static str),
    #[error("the signed note is malformed: {0}")]
    MalformedNote(&'static str),
    #[error("the checkpoint is malformed: {0}")]
    MalformedCheckpoint(&'static str),
    #[error("the note carries no signature by key {0}")]
    NotSigned(String),
    /// A signature line names this key, but the signature does not verify:
    /// the note was altered after signing, or forged.
    #[error("the note's signature by key {0} does not verify: the note was altered or not signed by that key")]
    BadSignature(String),
    #[error("unknown event kind {0:?}")]
    UnknownEventKind(String),
    #[error("the event bytes are malformed: {0}")]
    MalformedEvent(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(data: &[u8]) -> Hash {
        Sha256::digest(data).into()
    }

    fn unhex(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn the_empty_root_is_the_sha256_of_nothing() {
        assert_eq!(empty_root(), unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    }

    #[test]
    fn leaf_hashes_are_prefixed_with_a_zero_byte() {
        // The published Certificate Transparency value for the empty leaf.
        assert_eq!(leaf_hash(b""), unhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
        assert_eq!(leaf_hash(b"madoguchi"), sha256(b"\x00madoguchi"));
        assert_ne!(leaf_hash(b"madoguchi"), sha256(b"madoguchi"));
    }

    #[test]
    fn node_hashes_are_prefixed_with_a_one_byte_and_ordered() {
        let (a, b) = (leaf_hash(b""), leaf_hash(b"\x00"));
        // The published CT root of the two-leaf tree ["", "\x00"].
        assert_eq!(node_hash(&a, &b), unhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"));
        let mut concatenated = vec![0x01];
        concatenated.extend_from_slice(&a);
        concatenated.extend_from_slice(&b);
        assert_eq!(node_hash(&a, &b), sha256(&concatenated));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
    }

    #[test]
    fn a_node_can_never_pass_for_a_leaf() {
        // Domain separation: the 64 bytes of two children hashed as a leaf
        // differ from the node over them (the second-preimage defence).
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut children = a.to_vec();
        children.extend_from_slice(&b);
        assert_ne!(leaf_hash(&children), node_hash(&a, &b));
    }
}

#[cfg(test)]
mod cross_check;
