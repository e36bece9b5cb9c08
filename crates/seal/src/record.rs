//! Sealed records: a submission's canonical payload sealed to a tenant key.

use hpke::{aead::ChaCha20Poly1305, kdf::HkdfSha256, Deserializable, Kem, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256};

use crate::keys::{KemT, KeyId, TenantPrivateKey, TenantPublicKey};
use crate::SealError;

/// HPKE `info`: separates madoguchi records from any other use of the key.
const INFO: &[u8] = b"madoguchi sealed record v1";
/// Leading bytes of a record's binary form, naming its format version.
const MAGIC: &[u8; 6] = b"MDGSR1";

/// What a sealed record belongs to. It is bound as associated data: opening
/// a record under any other tenant, form, version or 到達番号 fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBinding {
    pub tenant: String,
    pub form_id: String,
    pub form_version: i64,
    pub receipt_number: String,
}

impl RecordBinding {
    pub fn new(tenant: &str, form_id: &str, form_version: i64, receipt_number: &str) -> Self {
        RecordBinding {
            tenant: tenant.to_owned(),
            form_id: form_id.to_owned(),
            form_version,
            receipt_number: receipt_number.to_owned(),
        }
    }

    /// Length-prefixed so that no two bindings share an encoding.
    fn associated_data(&self) -> Vec<u8> {
        let version = self.form_version.to_string();
        let mut out = Vec::with_capacity(64);
        for part in [self.tenant.as_str(), self.form_id.as_str(), version.as_str(), self.receipt_number.as_str()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// A submission as the counter stores it: ciphertext only, naming the key it
/// was sealed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    pub key_id: KeyId,
    /// The HPKE encapsulated key.
    pub encapsulated_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl SealedRecord {
    /// The record's binary form: magic, key id, encapsulated key, ciphertext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let key_id = self.key_id.as_str().as_bytes();
        let mut out =
            Vec::with_capacity(MAGIC.len() + 4 + key_id.len() + self.encapsulated_key.len() + self.ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(key_id.len() as u16).to_be_bytes());
        out.extend_from_slice(key_id);
        out.extend_from_slice(&(self.encapsulated_key.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.encapsulated_key);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(SealError::MalformedRecord)?;
        let (key_id, rest) = take_prefixed(rest)?;
        let key_id = std::str::from_utf8(key_id).map_err(|_| SealError::MalformedRecord)?;
        let key_id = KeyId::parse(key_id).map_err(|_| SealError::MalformedRecord)?;
        let (encapsulated_key, ciphertext) = take_prefixed(rest)?;
        Ok(SealedRecord { key_id, encapsulated_key: encapsulated_key.to_vec(), ciphertext: ciphertext.to_vec() })
    }

    /// SHA-256 of the binary form: the record's name in the vault and the
    /// ledger.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }
}

fn take_prefixed(bytes: &[u8]) -> Result<(&[u8], &[u8]), SealError> {
    let (len, rest) = bytes.split_first_chunk::<2>().ok_or(SealError::MalformedRecord)?;
    let len = u16::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(SealError::MalformedRecord);
    }
    Ok(rest.split_at(len))
}

/// Seals `plaintext` to `key`, bound to `binding`.
pub fn seal(key: &TenantPublicKey, binding: &RecordBinding, plaintext: &[u8]) -> Result<SealedRecord, SealError> {
    seal_with(key, binding, plaintext, &mut rand::rngs::OsRng)
}

pub fn seal_with<R: rand::RngCore + rand::CryptoRng>(
    key: &TenantPublicKey,
    binding: &RecordBinding,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<SealedRecord, SealError> {
    let (encapped, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, KemT, _>(
        &OpModeS::Base,
        &key.key,
        INFO,
        plaintext,
        &binding.associated_data(),
        rng,
    )
    .map_err(|_| SealError::Seal)?;
    Ok(SealedRecord { key_id: key.id().clone(), encapsulated_key: encapped.to_bytes().to_vec(), ciphertext })
}

/// Opens a record with the tenant's private key. Fails unless the key, the
/// binding and every byte of the record are exactly those it was sealed with.
pub fn open(key: &TenantPrivateKey, binding: &RecordBinding, record: &SealedRecord) -> Result<Vec<u8>, SealError> {
    if &record.key_id != key.id() {
        return Err(SealError::WrongKey { sealed_to: record.key_id.clone(), given: key.id().clone() });
    }
    let encapped =
        <KemT as Kem>::EncappedKey::from_bytes(&record.encapsulated_key).map_err(|_| SealError::MalformedRecord)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, KemT>(
        &OpModeR::Base,
        &key.key,
        &encapped,
        INFO,
        &record.ciphertext,
        &binding.associated_data(),
    )
    .map_err(|_| SealError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantKeyPair;

    fn binding() -> RecordBinding {
        RecordBinding::new("minato-city", "water-start", 3, "2026-000042")
    }

    #[test]
    fn a_sealed_record_opens_with_the_tenant_key_and_its_binding() {
        let pair = TenantKeyPair::generate();
        let record = seal(&pair.public, &binding(), "山田 太郎".as_bytes()).unwrap();
        assert_eq!(open(&pair.private, &binding(), &record).unwrap(), "山田 太郎".as_bytes());
        assert!(!record.ciphertext.windows(6).any(|w| w == &"山田".as_bytes()[..6]));
    }

    #[test]
    fn any_other_binding_fails_to_open() {
        let pair = TenantKeyPair::generate();
        let record = seal(&pair.public, &binding(), b"payload").unwrap();
        let others = [
            RecordBinding { tenant: "other-city".into(), ..binding() },
            RecordBinding { form_id: "staff-exam".into(), ..binding() },
            RecordBinding { form_version: 4, ..binding() },
            RecordBinding { receipt_number: "2026-000043".into(), ..binding() },
        ];
        for other in others {
            assert!(matches!(open(&pair.private, &other, &record), Err(SealError::Open)), "{other:?}");
        }
    }

    #[test]
    fn the_wrong_key_or_a_flipped_bit_fails_to_open() {
        let pair = TenantKeyPair::generate();
        let stranger = TenantKeyPair::generate();
        let record = seal(&pair.public, &binding(), b"payload").unwrap();
        assert!(matches!(open(&stranger.private, &binding(), &record), Err(SealError::WrongKey { .. })));
        let mut tampered = record.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(open(&pair.private, &binding(), &tampered), Err(SealError::Open)));
    }

    #[test]
    fn binary_form_round_trips_and_is_hashed() {
        let pair = TenantKeyPair::generate();
        let record = seal(&pair.public, &binding(), b"payload").unwrap();
        let back = SealedRecord::from_bytes(&record.to_bytes()).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.hash(), record.hash());
        assert!(SealedRecord::from_bytes(b"MDGSR1\x00").is_err());
        assert!(SealedRecord::from_bytes(b"garbage").is_err());
    }
}
