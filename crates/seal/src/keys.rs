//! Tenant key pairs and their fingerprints.

use base64::{engine::general_purpose::STANDARD, Engine};
use hpke::{kem::X25519HkdfSha256, Deserializable, Kem, Serializable};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::SealError;

pub(crate) type KemT = X25519HkdfSha256;

/// A key's fingerprint: the first 16 bytes of SHA-256 over the public key,
/// in hex. Records name the key they were sealed to, so rotation can keep
/// old records openable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct KeyId(String);

impl KeyId {
    fn of(public_bytes: &[u8]) -> KeyId {
        let digest = Sha256::digest(public_bytes);
        KeyId(hex::encode(&digest[..16]))
    }

    pub fn parse(s: &str) -> Result<KeyId, SealError> {
        let s = s.trim();
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(KeyId(s.to_ascii_lowercase()))
        } else {
            Err(SealError::MalformedKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The half of a tenant's key pair the counter holds.
#[derive(Clone)]
pub struct TenantPublicKey {
    pub(crate) key: <KemT as Kem>::PublicKey,
    id: KeyId,
}

impl TenantPublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let key = <KemT as Kem>::PublicKey::from_bytes(bytes).map_err(|_| SealError::MalformedKey)?;
        Ok(TenantPublicKey { key, id: KeyId::of(bytes) })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.key.to_bytes().to_vec()
    }

    /// Base64 text form, as printed by the key ceremony and stored by the counter.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }

    pub fn from_base64(s: &str) -> Result<Self, SealError> {
        let bytes = STANDARD.decode(s.trim()).map_err(|_| SealError::MalformedKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }
}

impl std::fmt::Debug for TenantPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TenantPublicKey({})", self.id)
    }
}

/// The half that lives only on the tenant's desk. Its bytes are wiped when
/// dropped and never printed by `Debug`.
#[derive(Clone)]
pub struct TenantPrivateKey {
    pub(crate) key: <KemT as Kem>::PrivateKey,
    id: KeyId,
}

impl TenantPrivateKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let key = <KemT as Kem>::PrivateKey::from_bytes(bytes).map_err(|_| SealError::MalformedKey)?;
        let public = <KemT as Kem>::sk_to_pk(&key);
        let id = KeyId::of(&public.to_bytes());
        Ok(TenantPrivateKey { key, id })
    }

    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.key.to_bytes().to_vec())
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(&*self.to_bytes()))
    }

    pub fn from_base64(s: &str) -> Result<Self, SealError> {
        let bytes = Zeroizing::new(STANDARD.decode(s.trim()).map_err(|_| SealError::MalformedKey)?);
        Self::from_bytes(&bytes)
    }

    pub fn public(&self) -> TenantPublicKey {
        TenantPublicKey { key: <KemT as Kem>::sk_to_pk(&self.key), id: self.id.clone() }
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// A 32-byte secret for keying the desk's store at rest, so the desk
    /// needs only this one key unwrapped. HKDF-SHA256 over the private key,
    /// with a fixed salt separating it from HPKE's own use and `label` as
    /// info, so each label gets an unrelated secret.
    pub fn derive_secret(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let ikm = self.to_bytes();
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(DERIVE_SALT), &ikm);
        let mut out = Zeroizing::new([0u8; 32]);
        // HKDF-SHA256 can expand up to 8160 bytes; 32 always fits.
        hkdf.expand(label.as_bytes(), &mut *out).unwrap_or_else(|_| unreachable!());
        out
    }
}

/// HKDF salt for [`TenantPrivateKey::derive_secret`].
const DERIVE_SALT: &[u8] = b"madoguchi tenant-key derive-secret v1";

impl std::fmt::Debug for TenantPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TenantPrivateKey({}, <redacted>)", self.id)
    }
}

/// A fresh tenant key pair.
pub struct TenantKeyPair {
    pub public: TenantPublicKey,
    pub private: TenantPrivateKey,
}

impl TenantKeyPair {
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rngs::OsRng)
    }

    pub fn generate_with<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        let (sk, pk) = KemT::gen_keypair(rng);
        let id = KeyId::of(&pk.to_bytes());
        TenantKeyPair { public: TenantPublicKey { key: pk, id: id.clone() }, private: TenantPrivateKey { key: sk, id } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_base64_and_keep_their_id() {
        let pair = TenantKeyPair::generate();
        let public = TenantPublicKey::from_base64(&pair.public.to_base64()).unwrap();
        let private = TenantPrivateKey::from_base64(&pair.private.to_base64()).unwrap();
        assert_eq!(public.id(), pair.public.id());
        assert_eq!(private.id(), pair.public.id());
        assert_eq!(private.public().to_bytes(), pair.public.to_bytes());
    }

    #[test]
    fn debug_never_prints_private_key_material() {
        let pair = TenantKeyPair::generate();
        let shown = format!("{:?}", pair.private);
        assert!(!shown.contains(pair.private.to_base64().as_str()));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn derived_secrets_depend_on_both_key_and_label_and_nothing_else() {
        let pair = TenantKeyPair::generate();
        let other = TenantKeyPair::generate();
        let store = pair.private.derive_secret("desk-store");
        assert_eq!(*store, *pair.private.derive_secret("desk-store"));
        let reloaded = TenantPrivateKey::from_bytes(&pair.private.to_bytes()).unwrap();
        assert_eq!(*store, *reloaded.derive_secret("desk-store"));
        assert_ne!(*store, *pair.private.derive_secret("desk-index"));
        assert_ne!(*store, *pair.private.derive_secret(""));
        assert_ne!(*store, *other.private.derive_secret("desk-store"));
        assert_ne!(&store[..], &pair.private.to_bytes()[..]);
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(TenantPublicKey::from_bytes(&[1, 2, 3]).is_err());
        assert!(TenantPublicKey::from_base64("not base64!").is_err());
        assert!(KeyId::parse("xyz").is_err());
    }
}
