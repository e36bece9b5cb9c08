//! Signed checkpoints: a C2SP tlog-checkpoint body inside a C2SP signed note,
//! signed with Ed25519, so that any tool of the transparency-log ecosystem
//! (Go's `sumdb/note`, witnesses) can read and check what madoguchi writes.
//!
//! ```text
//! madoguchi.example.jp/ledger          origin
//! 1234                                 tree size, decimal
//! 3q2+7w…=                             root hash, standard base64
//!                                      blank line
//! — madoguchi.example.jp/ledger AbCd…  "— " name " " base64(key hash ‖ signature)
//! ```

use base64::{engine::general_purpose::STANDARD, Engine};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Hash, LedgerError};

/// C2SP signed-note signature type of Ed25519.
const ALG_ED25519: u8 = 0x01;
/// Every signature line starts with an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// A note with more signature lines than this is refused, as Go's note.Open does.
const MAX_SIGNATURES: usize = 100;
/// No honest checkpoint is anywhere near this long.
const MAX_NOTE_BYTES: usize = 1 << 20;

/// A tree head: the log named `origin` had `size` leaves with root `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, by convention a schema-less URL such as
    /// "madoguchi.example.jp/ledger"; one non-empty line without control
    /// characters.
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text (the part that is signed):
    /// `"<origin>\n<size in decimal>\n<base64 root>\n"`, with no extension lines.
    pub fn to_text(&self) -> Result<String, LedgerError> {
        if !valid_origin(&self.origin) {
            return Err(LedgerError::InvalidOrigin);
        }
        Ok(format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root)))
    }

    /// Parses exactly what [`Checkpoint::to_text`] writes. Checkpoints with
    /// extension lines are refused rather than half read: madoguchi writes
    /// none, and a verified [`Checkpoint`] must stand for the whole signed text.
    pub fn from_text(text: &str) -> Result<Self, LedgerError> {
        let malformed = LedgerError::MalformedCheckpoint;
        let body = text.strip_suffix('\n').ok_or(malformed("it does not end with a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(if lines.len() > 3 {
                malformed("it has extension lines")
            } else {
                malformed("it needs an origin, a size and a root line")
            });
        };
        if !valid_origin(origin) {
            return Err(malformed("the origin is empty or has control characters"));
        }
        let canonical_decimal =
            !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) && (size == "0" || !size.starts_with('0'));
        if !canonical_decimal {
            return Err(malformed("the size is not a decimal number without leading zeros"));
        }
        let size = size.parse().map_err(|_| malformed("the size is too large"))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes).ok())
            .ok_or(malformed("the root is not 32 bytes in standard base64"))?;
        Ok(Checkpoint { origin: origin.to_owned(), size, root })
    }
}

/// A log's checkpoint signing key (Ed25519) and its key name. It lives
/// with the counter that appends to the log; its seed is wiped when dropped.
pub struct CheckpointSigner {
    name: String,
    key: SigningKey,
    key_hash: [u8; 4],
}

impl CheckpointSigner {
    /// A new random key. The name, conventionally the log's origin, must be
    /// non-empty without spaces, control characters or '+'.
    pub fn generate(name: &str) -> Result<Self, LedgerError> {
        Self::generate_with(name, &mut rand::rngs::OsRng)
    }

    pub fn generate_with<R: rand::RngCore + rand::CryptoRng>(name: &str, rng: &mut R) -> Result<Self, LedgerError> {
        Self::from_key(name, SigningKey::generate(rng))
    }

    /// From the 32-byte seed that [`CheckpointSigner::to_bytes`] returns.
    pub fn from_bytes(name: &str, seed: &[u8]) -> Result<Self, LedgerError> {
        let seed: &[u8; 32] = seed.try_into().map_err(|_| LedgerError::MalformedKey)?;
        Self::from_key(name, SigningKey::from_bytes(seed))
    }

    fn from_key(name: &str, key: SigningKey) -> Result<Self, LedgerError> {
        if !valid_key_name(name) {
            return Err(LedgerError::InvalidKeyName(name.to_owned()));
        }
        let key_hash = key_hash(name, &key.verifying_key());
        Ok(CheckpointSigner { name: name.to_owned(), key, key_hash })
    }

    /// The 32-byte Ed25519 seed, for wrapping into a key file.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.key.as_bytes().to_vec())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier { name: self.name.clone(), key: self.key.verifying_key(), key_hash: self.key_hash }
    }

    /// The complete signed note: the checkpoint text, a blank line, and one
    /// signature line by this key. Fails only for an invalid origin.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, LedgerError> {
        Ok(self.sign_text(&checkpoint.to_text()?))
    }

    /// Signs a note text (non-empty, ending in a newline, no blank line).
    fn sign_text(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.key_hash.to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(blob))
    }
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointSigner({}, <redacted>)", self.verifier().to_vkey())
    }
}

/// A log's public checkpoint key, as auditors and `madoguchi ledger verify`
/// hold it.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckpointVerifier {
    name: String,
    key: VerifyingKey,
    key_hash: [u8; 4],
}

impl CheckpointVerifier {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The C2SP verifier key text: `<name>+<8 hex digits of the key hash>+<base64(0x01 || public key)>`.
    pub fn to_vkey(&self) -> String {
        let mut typed = vec![ALG_ED25519];
        typed.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.key_hash), STANDARD.encode(typed))
    }

    /// Parses [`CheckpointVerifier::to_vkey`]'s form; refuses another
    /// algorithm, a key hash that does not match, and small-order keys.
    pub fn from_vkey(s: &str) -> Result<Self, LedgerError> {
        let malformed = LedgerError::MalformedVerifierKey;
        // The name and the hash hold no '+'; the base64 may.
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed("expected <name>+<key hash>+<key>"));
        };
        if !valid_key_name(name) {
            return Err(malformed("invalid key name"));
        }
        let hash: [u8; 4] = (hash.len() == 8)
            .then(|| hex::decode(hash).ok())
            .flatten()
            .and_then(|h| h.try_into().ok())
            .ok_or(malformed("the key hash is not 8 hex digits"))?;
        let typed = STANDARD.decode(key).map_err(|_| malformed("the key is not standard base64"))?;
        let [ALG_ED25519, public @ ..] = &typed[..] else {
            return Err(malformed("not an Ed25519 key (type 0x01)"));
        };
        let public: &[u8; 32] = public.try_into().map_err(|_| malformed("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(public).map_err(|_| malformed("not a valid Ed25519 point"))?;
        if key.is_weak() {
            return Err(malformed("a small-order key proves nothing"));
        }
        if key_hash(name, &key) != hash {
            return Err(malformed("the key hash does not match the name and key"));
        }
        Ok(CheckpointVerifier { name: name.to_owned(), key, key_hash: hash })
    }

    /// Parses a signed note, checks that it carries a valid signature by this
    /// key, and returns the checkpoint it signs. Signatures by other keys
    /// are ignored; the first line naming this key (name and key hash) decides,
    /// as in Go's note.Open. Whether the origin is the expected log is the
    /// caller's to check.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, LedgerError> {
        Checkpoint::from_text(self.open(note)?)
    }

    /// The signed text of a note that this key signed.
    fn open<'a>(&self, note: &'a str) -> Result<&'a str, LedgerError> {
        let malformed = LedgerError::MalformedNote;
        if note.len() > MAX_NOTE_BYTES {
            return Err(malformed("too long"));
        }
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(malformed("control characters"));
        }
        let split = note.rfind("\n\n").ok_or(malformed("no blank line before the signatures"))?;
        let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
        let signatures = signatures.strip_suffix('\n').ok_or(malformed("no signature line, or no final newline"))?;
        let mut mine = None;
        for (i, line) in signatures.split('\n').enumerate() {
            if i == MAX_SIGNATURES {
                return Err(malformed("too many signatures"));
            }
            let line = line.strip_prefix(SIGNATURE_PREFIX).ok_or(malformed("a signature line lacks the em dash"))?;
            let (name, blob) = line.split_once(' ').ok_or(malformed("a signature line lacks its signature"))?;
            if !valid_key_name(name) {
                return Err(malformed("a signature line has an invalid key name"));
            }
            let blob = STANDARD.decode(blob).map_err(|_| malformed("a signature is not standard base64"))?;
            if blob.len() < 5 {
                return Err(malformed("a signature is too short"));
            }
            if mine.is_none() && name == self.name && blob[..4] == self.key_hash {
                mine = Some(blob);
            }
        }
        let blob = mine.ok_or_else(|| LedgerError::NotSigned(self.to_vkey()))?;
        let signature = Signature::from_slice(&blob[4..]).map_err(|_| LedgerError::BadSignature(self.to_vkey()))?;
        // Strict: no malleable signatures, no small-order points.
        self.key.verify_strict(text.as_bytes(), &signature).map_err(|_| LedgerError::BadSignature(self.to_vkey()))?;
        Ok(text)
    }
}

impl std::fmt::Debug for CheckpointVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointVerifier({})", self.to_vkey())
    }
}

/// C2SP signed-note: first 4 bytes of SHA-256(name || "\n" || 0x01 || public key).
fn key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ALG_ED25519])
        .chain_update(key.as_bytes())
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// C2SP signed-note key names: non-empty, no Unicode space, no '+' (and, so
/// that a signature line stays one line, no control characters).
fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

fn valid_origin(origin: &str) -> bool {
    !origin.is_empty() && !origin.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "madoguchi.example.jp/ledger";

    fn signer() -> CheckpointSigner {
        CheckpointSigner::from_bytes(ORIGIN, &[0x42; 32]).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint { origin: ORIGIN.into(), size: 1234, root: crate::leaf_hash(b"root") }
    }

    /// golang.org/x/mod/sumdb/note's published example (note_test.go): the
    /// same key must give the same verifier key and, Ed25519 being
    /// deterministic, byte for byte the same signed note.
    const GO_SIGNER_KEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VERIFIER_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_signer() -> CheckpointSigner {
        let parts: Vec<&str> = GO_SIGNER_KEY.splitn(5, '+').collect();
        let typed = STANDARD.decode(parts[4]).unwrap();
        assert_eq!(typed[0], ALG_ED25519);
        CheckpointSigner::from_bytes(parts[2], &typed[1..]).unwrap()
    }

    #[test]
    fn the_note_format_is_byte_for_byte_the_go_reference() {
        let signer = go_signer();
        assert_eq!(signer.verifier().to_vkey(), GO_VERIFIER_KEY);
        assert_eq!(signer.sign_text(GO_TEXT), GO_NOTE);
        let verifier = CheckpointVerifier::from_vkey(GO_VERIFIER_KEY).unwrap();
        assert_eq!(verifier.open(GO_NOTE).unwrap(), GO_TEXT);
        assert!(verifier.open(&GO_NOTE.replace("cryptography", "cryptographY")).is_err());
        // It is a valid note, but not a checkpoint.
        assert!(matches!(verifier.verify(GO_NOTE), Err(LedgerError::MalformedCheckpoint(_))));
    }

    #[test]
    fn a_signed_checkpoint_is_the_documented_text() {
        // Computed independently (Python's `cryptography`, i.e. OpenSSL's
        // Ed25519, and hashlib) from the format as the module doc gives it.
        let note = signer().sign(&checkpoint()).unwrap();
        let golden = "madoguchi.example.jp/ledger\n\
                      1234\n\
                      PAb5plclr2BSYfY2ZyyWINQJcx2JpFHXRV/pxK4WeCk=\n\
                      \n\
                      \u{2014} madoguchi.example.jp/ledger \
                      /ZbDkDR1DZ9fxRrYlUSXN7NmdDVDYa5wuSgSanNn6W9BG+9mO31WTe/InuzFdxL0O1yC1P/zUysOAhtW9LDhhZbYfQ8=\n";
        assert_eq!(note, golden);
        assert_eq!(
            signer().verifier().to_vkey(),
            "madoguchi.example.jp/ledger+fd96c390+ASFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS"
        );
        assert_eq!(signer().verifier().verify(golden).unwrap(), checkpoint());
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_round_trips() {
        let signer = CheckpointSigner::generate(ORIGIN).unwrap();
        for cp in [
            checkpoint(),
            Checkpoint { size: 0, root: crate::empty_root(), ..checkpoint() },
            Checkpoint { size: u64::MAX, origin: "go.sum database tree".into(), ..checkpoint() },
        ] {
            let note = signer.sign(&cp).unwrap();
            assert!(note.starts_with(&cp.to_text().unwrap()));
            assert_eq!(signer.verifier().verify(&note).unwrap(), cp);
        }
        let again = CheckpointSigner::from_bytes(ORIGIN, &signer.to_bytes()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        assert_eq!(again.sign(&checkpoint()).unwrap(), signer.sign(&checkpoint()).unwrap());
    }

    #[test]
    fn altered_checkpoints_do_not_verify() {
        let verifier = signer().verifier();
        let note = signer().sign(&checkpoint()).unwrap();
        let other_root = STANDARD.encode(crate::leaf_hash(b"other root"));
        let root = STANDARD.encode(checkpoint().root);
        for altered in [
            note.replacen("1234", "1235", 1),
            note.replacen("1234", "123", 1),
            note.replacen(&root, &other_root, 1),
            note.replacen("madoguchi.example.jp/ledger\n", "madoguchi.example.jp/ledgers\n", 1),
            note.replacen("madoguchi.example.jp/ledger\n", "evil.example/ledger\n", 1),
        ] {
            assert_ne!(altered, note);
            assert!(matches!(verifier.verify(&altered), Err(LedgerError::BadSignature(_))), "{altered}");
        }
    }

    #[test]
    fn another_key_does_not_verify() {
        let note = signer().sign(&checkpoint()).unwrap();
        // Another key under the same name: its key hash differs, so no signature is its.
        let other = CheckpointSigner::generate(ORIGIN).unwrap();
        assert!(matches!(other.verifier().verify(&note), Err(LedgerError::NotSigned(_))));
        // The same key under another name.
        let renamed = CheckpointSigner::from_bytes("other.example/log", &[0x42; 32]).unwrap();
        assert!(matches!(renamed.verifier().verify(&note), Err(LedgerError::NotSigned(_))));
        // A forged line claiming this key's name and hash, signed by another key.
        let forged = other.sign(&checkpoint()).unwrap();
        let (_, forged_blob) = forged.trim_end().rsplit_once(' ').unwrap();
        let mut blob = STANDARD.decode(forged_blob).unwrap();
        blob[..4].copy_from_slice(&signer().key_hash);
        let text = checkpoint().to_text().unwrap();
        let forged = format!("{text}\n\u{2014} {ORIGIN} {}\n", STANDARD.encode(blob));
        assert!(matches!(signer().verifier().verify(&forged), Err(LedgerError::BadSignature(_))));
    }

    #[test]
    fn cosignatures_by_other_keys_are_ignored() {
        let note = signer().sign(&checkpoint()).unwrap();
        let witness = CheckpointSigner::generate("witness.example").unwrap();
        let witnessed = witness.sign(&checkpoint()).unwrap();
        let witness_line = witnessed.lines().last().unwrap();
        let both = format!("{note}{witness_line}\n");
        assert_eq!(signer().verifier().verify(&both).unwrap(), checkpoint());
        assert_eq!(witness.verifier().verify(&both).unwrap(), checkpoint());
        let witness_first = note.replacen("\n\n", &format!("\n\n{witness_line}\n"), 1);
        assert_eq!(signer().verifier().verify(&witness_first).unwrap(), checkpoint());
    }

    #[test]
    fn malformed_notes_are_refused() {
        let verifier = signer().verifier();
        let note = signer().sign(&checkpoint()).unwrap();
        let text = checkpoint().to_text().unwrap();
        let line = note.lines().last().unwrap().to_owned();
        let many = format!("{text}\n{}", format!("{line}\n").repeat(MAX_SIGNATURES + 1));
        for bad in [
            String::new(),
            text.clone(),
            note.trim_end().to_owned(),
            note.replace('\u{2014}', "--"),
            note.replacen("\n\n", "\n", 1),
            note.replacen(" ", "  ", 1),
            format!("{text}\n\u{2014} {ORIGIN}\n"),
            format!("{text}\n\u{2014} {ORIGIN} AAAA\n"),
            format!("{text}\n\u{2014} {ORIGIN} not-base64!\n"),
            format!("{text}\n{line}\n\n"),
            format!("{text}\n{line}\nextra\n"),
            note.replacen("1234", "12\r34", 1),
            many,
        ] {
            assert!(verifier.verify(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn malformed_checkpoint_texts_are_refused() {
        let root = STANDARD.encode([7u8; 32]);
        let good = format!("log.example\n5\n{root}\n");
        assert_eq!(
            Checkpoint::from_text(&good).unwrap(),
            Checkpoint { origin: "log.example".into(), size: 5, root: [7; 32] }
        );
        for bad in [
            format!("log.example\n5\n{root}"),
            format!("log.example\n5\n{root}\nextension\n"),
            "log.example\n5\n".to_string(),
            format!("\n5\n{root}\n"),
            format!("log.example\n05\n{root}\n"),
            format!("log.example\n+5\n{root}\n"),
            format!("log.example\n-5\n{root}\n"),
            format!("log.example\n\n{root}\n"),
            format!("log.example\n18446744073709551616\n{root}\n"),
            format!("log.example\n5\n{}\n", STANDARD.encode([7u8; 31])),
            format!("log.example\n5\n{}\n", &root[..root.len() - 1]),
            format!("log.example\n5\n{}\n", root.replace('=', "")),
        ] {
            assert!(matches!(Checkpoint::from_text(&bad), Err(LedgerError::MalformedCheckpoint(_))), "{bad:?}");
        }
        assert_eq!(Checkpoint::from_text(&format!("log.example\n0\n{root}\n")).unwrap().size, 0);
    }

    #[test]
    fn invalid_names_and_origins_are_refused_before_signing() {
        for name in ["", "has space", "has+plus", "line\nbreak", "tab\there", "全角\u{3000}空白"] {
            assert!(matches!(CheckpointSigner::from_bytes(name, &[1; 32]), Err(LedgerError::InvalidKeyName(_))));
            assert!(CheckpointSigner::generate(name).is_err());
        }
        for origin in ["", "two\nlines", "nul\0"] {
            let cp = Checkpoint { origin: origin.into(), ..checkpoint() };
            assert!(matches!(signer().sign(&cp), Err(LedgerError::InvalidOrigin)), "{origin:?}");
        }
        assert!(matches!(CheckpointSigner::from_bytes(ORIGIN, &[1; 31]), Err(LedgerError::MalformedKey)));
    }

    #[test]
    fn verifier_keys_round_trip_and_refuse_manglings() {
        let verifier = signer().verifier();
        let vkey = verifier.to_vkey();
        assert_eq!(CheckpointVerifier::from_vkey(&vkey).unwrap(), verifier);
        assert_eq!(CheckpointVerifier::from_vkey(&vkey).unwrap().name(), ORIGIN);
        let go = CheckpointVerifier::from_vkey(GO_VERIFIER_KEY).unwrap();
        assert_eq!(go.to_vkey(), GO_VERIFIER_KEY);
        // Every proper substring, and every single-byte change, is refused (as Go's tests do).
        let bytes = GO_VERIFIER_KEY.as_bytes();
        for i in 0..bytes.len() {
            for j in i + 1..=bytes.len() {
                if (i, j) != (0, bytes.len()) {
                    assert!(CheckpointVerifier::from_vkey(&GO_VERIFIER_KEY[i..j]).is_err(), "{i}..{j}");
                }
            }
            let mut changed = bytes.to_vec();
            changed[i] += 1;
            if let Ok(changed) = String::from_utf8(changed) {
                assert!(CheckpointVerifier::from_vkey(&changed).is_err(), "{changed}");
            }
        }
        // Another algorithm, and a small-order key with a matching hash.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).unwrap();
        let weak_vkey = format!(
            "weak+{}+{}",
            hex::encode(key_hash("weak", &weak)),
            STANDARD.encode([&[ALG_ED25519][..], &identity].concat())
        );
        assert!(CheckpointVerifier::from_vkey(&weak_vkey).is_err());
        let typed = STANDARD.encode([&[0x02][..], verifier.key.as_bytes()].concat());
        let other_alg = format!("{ORIGIN}+{}+{typed}", hex::encode(verifier.key_hash));
        assert!(CheckpointVerifier::from_vkey(&other_alg).is_err());
    }

    #[test]
    fn debug_never_prints_the_seed() {
        let signer = signer();
        let shown = format!("{signer:?}");
        assert!(shown.contains("redacted"));
        assert!(shown.contains(&signer.verifier().to_vkey()));
        assert!(!shown.contains(&hex::encode(&*signer.to_bytes())));
        assert!(!shown.contains(&STANDARD.encode(&*signer.to_bytes())));
        assert_eq!(format!("{:?}", signer.verifier()), format!("CheckpointVerifier({})", signer.verifier().to_vkey()));
    }
}
