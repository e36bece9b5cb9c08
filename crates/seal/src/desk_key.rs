//! Desk keys: a desk signs every request to the counter with Ed25519, so a
//! stolen desk id or a replayed capture is not enough to pull records.

use base64::{engine::general_purpose::STANDARD, Engine};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::SealError;

/// First line of the canonical request, naming its version.
const REQUEST_MAGIC: &str = "madoguchi-desk-request v1";

/// A desk's private signing key. It lives only on the desk (wrapped at rest
/// as [`crate::KeyKind::DeskSigning`]); its bytes are wiped when dropped.
pub struct DeskSigningKey {
    key: SigningKey,
}

impl DeskSigningKey {
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rngs::OsRng)
    }

    pub fn generate_with<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        DeskSigningKey { key: SigningKey::generate(rng) }
    }

    /// From the 32-byte seed that [`DeskSigningKey::to_bytes`] returns.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let seed: &[u8; 32] = bytes.try_into().map_err(|_| SealError::MalformedKey)?;
        Ok(DeskSigningKey { key: SigningKey::from_bytes(seed) })
    }

    /// The 32-byte seed, for wrapping into a key file.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.key.as_bytes().to_vec())
    }

    pub fn public(&self) -> DeskPublicKey {
        DeskPublicKey { key: self.key.verifying_key() }
    }

    /// Signature (base64) over [`SignedRequest::canonical`].
    pub fn sign_request(&self, req: &SignedRequest<'_>) -> String {
        STANDARD.encode(self.key.sign(req.canonical().as_bytes()).to_bytes())
    }
}

impl std::fmt::Debug for DeskSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeskSigningKey({}, <redacted>)", self.public().fingerprint())
    }
}

/// The half the counter registers for a desk.
#[derive(Clone, PartialEq, Eq)]
pub struct DeskPublicKey {
    key: VerifyingKey,
}

impl DeskPublicKey {
    /// Refuses small-order ("weak") keys, for which a signature proves nothing.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| SealError::MalformedKey)?;
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| SealError::MalformedKey)?;
        if key.is_weak() {
            return Err(SealError::MalformedKey);
        }
        Ok(DeskPublicKey { key })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.key.as_bytes().to_vec()
    }

    /// Base64 text form, as the desk prints it for registration.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key.as_bytes())
    }

    pub fn from_base64(s: &str) -> Result<Self, SealError> {
        let bytes = STANDARD.decode(s.trim()).map_err(|_| SealError::MalformedKey)?;
        Self::from_bytes(&bytes)
    }

    /// First 16 bytes of SHA-256 of the public key, in hex, like
    /// [`crate::KeyId`]: short enough to compare by eye at registration.
    pub fn fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(self.key.as_bytes())[..16])
    }

    /// [`SealError::BadSignature`] unless `signature_b64` is this key's
    /// signature over exactly this request. Freshness of the timestamp and
    /// single use of the nonce are the caller's to check.
    pub fn verify_request(&self, req: &SignedRequest<'_>, signature_b64: &str) -> Result<(), SealError> {
        // A line break inside a field could shift text between fields of the
        // canonical string; no honest request has one.
        if [req.desk_id, req.method, req.path_and_query, req.nonce].iter().any(|f| f.contains(['\n', '\r'])) {
            return Err(SealError::BadSignature);
        }
        let bytes = STANDARD.decode(signature_b64.trim()).map_err(|_| SealError::BadSignature)?;
        let signature = Signature::from_slice(&bytes).map_err(|_| SealError::BadSignature)?;
        // Strict: no malleable or small-order signatures.
        self.key.verify_strict(req.canonical().as_bytes(), &signature).map_err(|_| SealError::BadSignature)
    }
}

impl std::fmt::Debug for DeskPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeskPublicKey({})", self.fingerprint())
    }
}

/// What a desk signs: the desk id, method, path with query, a timestamp and
/// a nonce (the counter checks both against replay), and the SHA-256 of the
/// body, so no part of the request can be changed or reused elsewhere.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignedRequest<'a> {
    pub desk_id: &'a str,
    pub method: &'a str,
    pub path_and_query: &'a str,
    /// Unix seconds on the desk's clock.
    pub timestamp: i64,
    pub nonce: &'a str,
    pub body: &'a [u8],
}

/// Shows the body's length only: request bodies stay out of logs.
impl std::fmt::Debug for SignedRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedRequest")
            .field("desk_id", &self.desk_id)
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl SignedRequest<'_> {
    /// `madoguchi-desk-request v1\n{desk_id}\n{METHOD}\n{path_and_query}\n{timestamp}\n{nonce}\n{hex sha256(body)}`,
    /// the method in upper case; no final newline.
    pub fn canonical(&self) -> String {
        format!(
            "{REQUEST_MAGIC}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.desk_id,
            self.method.to_ascii_uppercase(),
            self.path_and_query,
            self.timestamp,
            self.nonce,
            hex::encode(Sha256::digest(self.body)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> SignedRequest<'static> {
        SignedRequest {
            desk_id: "aoba-desk-1",
            method: "POST",
            path_and_query: "/api/desk/v1/records?after=2026-000041",
            timestamp: 1_764_000_000,
            nonce: "b3f1c2d4e5f60718",
            body: b"{\"status\":\"received\"}",
        }
    }

    #[test]
    fn the_canonical_string_is_the_documented_one() {
        let canonical = SignedRequest { method: "post", ..request() }.canonical();
        let expected = format!(
            "madoguchi-desk-request v1\naoba-desk-1\nPOST\n/api/desk/v1/records?after=2026-000041\n1764000000\nb3f1c2d4e5f60718\n{}",
            hex::encode(Sha256::digest(b"{\"status\":\"received\"}"))
        );
        assert_eq!(canonical, expected);
    }

    #[test]
    fn a_signed_request_verifies_with_the_desk_public_key() {
        let key = DeskSigningKey::generate();
        let signature = key.sign_request(&request());
        key.public().verify_request(&request(), &signature).unwrap();
        // The method's case is not significant; it is upper-cased before signing.
        assert!(key.public().verify_request(&SignedRequest { method: "post", ..request() }, &signature).is_ok());
    }

    #[test]
    fn changing_any_field_or_the_key_fails() {
        let key = DeskSigningKey::generate();
        let signature = key.sign_request(&request());
        let changed = [
            SignedRequest { desk_id: "aoba-desk-2", ..request() },
            SignedRequest { method: "GET", ..request() },
            SignedRequest { path_and_query: "/api/desk/v1/records?after=2026-000040", ..request() },
            SignedRequest { timestamp: 1_764_000_001, ..request() },
            SignedRequest { nonce: "b3f1c2d4e5f60719", ..request() },
            SignedRequest { body: b"{\"status\":\"rejected\"}", ..request() },
            SignedRequest { body: b"", ..request() },
        ];
        for req in changed {
            assert!(matches!(key.public().verify_request(&req, &signature), Err(SealError::BadSignature)), "{req:?}");
        }
        let other = DeskSigningKey::generate();
        assert!(matches!(other.public().verify_request(&request(), &signature), Err(SealError::BadSignature)));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let key = DeskSigningKey::generate();
        let signature = key.sign_request(&request());
        let truncated = STANDARD.encode(&STANDARD.decode(&signature).unwrap()[..63]);
        for bad in ["", "not base64!", "AAAA", truncated.as_str(), &signature[1..]] {
            assert!(matches!(key.public().verify_request(&request(), bad), Err(SealError::BadSignature)), "{bad}");
        }
    }

    #[test]
    fn a_line_break_inside_a_field_is_refused() {
        let key = DeskSigningKey::generate();
        let req = SignedRequest { desk_id: "aoba-desk-1\nPOST", method: "/x", ..request() };
        let signature = key.sign_request(&req);
        assert!(matches!(key.public().verify_request(&req, &signature), Err(SealError::BadSignature)));
    }

    #[test]
    fn keys_round_trip_and_keep_their_fingerprint() {
        let key = DeskSigningKey::generate();
        let again = DeskSigningKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(again.public(), key.public());
        let public = DeskPublicKey::from_base64(&key.public().to_base64()).unwrap();
        assert_eq!(public, key.public());
        assert_eq!(DeskPublicKey::from_bytes(&public.to_bytes()).unwrap(), public);
        let fingerprint = public.fingerprint();
        assert_eq!(fingerprint.len(), 32);
        assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(fingerprint, DeskSigningKey::generate().public().fingerprint());
        assert_eq!(format!("{public:?}"), format!("DeskPublicKey({fingerprint})"));
    }

    #[test]
    fn debug_never_prints_the_seed() {
        let key = DeskSigningKey::generate();
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&hex::encode(&*key.to_bytes())));
        assert!(!shown.contains(&STANDARD.encode(&*key.to_bytes())));
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(DeskSigningKey::from_bytes(&[1; 31]).is_err());
        assert!(DeskPublicKey::from_bytes(&[1; 33]).is_err());
        assert!(DeskPublicKey::from_base64("not base64!").is_err());
        // The identity point is a small-order key: any "signature" would do.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(DeskPublicKey::from_bytes(&identity).is_err());
    }
}
