//! What a resident's access key (確認キー) unlocks, derived so the counter
//! need not keep the key itself.
//!
//! From the access key and the 問合せ番号 (a per-record salt, so one guess
//! cannot be tried against every record at once) HKDF-SHA256 derives:
//! - a verifier the counter stores to recognise the key at a status lookup;
//! - an X25519 key pair whose public half the counter stores and the desk
//!   seals staff messages to (差戻し reasons may name the resident): only a
//!   lookup with the right access key can open them.
//!
//! The access key has 60 bits, so even with a stolen database each record
//! would cost about 2^59 HKDF and X25519 evaluations to open.

use hkdf::Hkdf;
use hpke::{aead::ChaCha20Poly1305, kdf::HkdfSha256, Deserializable, Kem, OpModeR, OpModeS, Serializable};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keys::KemT;
use crate::SealError;

const SALT_PREFIX: &str = "madoguchi resident access key v1 ";
const MESSAGE_INFO: &[u8] = b"madoguchi staff message v1";

/// The material derived from one access key for one record.
pub struct ResidentKeys {
    /// Stored by the counter; compared at lookup.
    pub verifier: [u8; 32],
    private: <KemT as Kem>::PrivateKey,
    public: <KemT as Kem>::PublicKey,
}

impl ResidentKeys {
    /// `access_key` as the counter canonicalises it (upper case, no hyphens);
    /// `inquiry_number` as stored ("1234-5678-9012").
    pub fn derive(access_key: &str, inquiry_number: &str) -> ResidentKeys {
        let salt = format!("{SALT_PREFIX}{inquiry_number}");
        let hk = Hkdf::<Sha256>::new(Some(salt.as_bytes()), access_key.as_bytes());
        let mut okm = Zeroizing::new([0u8; 64]);
        // 64 bytes is far below HKDF-SHA256's limit of 255 * 32.
        let _ = hk.expand(b"verifier and message key", okm.as_mut_slice());
        let mut verifier = [0u8; 32];
        verifier.copy_from_slice(&okm[..32]);
        let (private, public) = KemT::derive_keypair(&okm[32..]);
        ResidentKeys { verifier, private, public }
    }

    /// The public half, base64, for the counter to store and hand to the desk.
    pub fn message_key(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.public.to_bytes())
    }

    /// Opens a staff message sealed with [`seal_message`] for this record.
    pub fn open_message(&self, tenant: &str, receipt: &str, sealed: &[u8]) -> Result<String, SealError> {
        let (encapped, ciphertext) = split_message(sealed)?;
        let encapped = <KemT as Kem>::EncappedKey::from_bytes(encapped).map_err(|_| SealError::MalformedRecord)?;
        let plaintext = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, KemT>(
            &OpModeR::Base,
            &self.private,
            &encapped,
            MESSAGE_INFO,
            ciphertext,
            &message_aad(tenant, receipt),
        )
        .map_err(|_| SealError::Open)?;
        String::from_utf8(plaintext).map_err(|_| SealError::MalformedRecord)
    }
}

fn message_aad(tenant: &str, receipt: &str) -> Vec<u8> {
    format!("{}:{tenant}:{receipt}", tenant.len()).into_bytes()
}

fn split_message(sealed: &[u8]) -> Result<(&[u8], &[u8]), SealError> {
    // X25519 encapsulated keys are 32 bytes.
    if sealed.len() < 32 + 16 {
        return Err(SealError::MalformedRecord);
    }
    Ok(sealed.split_at(32))
}

/// On the desk: seals a message for the resident of one record to its
/// message key (base64, as the counter hands it out).
pub fn seal_message(message_key: &str, tenant: &str, receipt: &str, message: &str) -> Result<Vec<u8>, SealError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(message_key).map_err(|_| SealError::MalformedKey)?;
    let public = <KemT as Kem>::PublicKey::from_bytes(&bytes).map_err(|_| SealError::MalformedKey)?;
    let (encapped, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, KemT, _>(
        &OpModeS::Base,
        &public,
        MESSAGE_INFO,
        message.as_bytes(),
        &message_aad(tenant, receipt),
        &mut rand::rngs::OsRng,
    )
    .map_err(|_| SealError::Seal)?;
    let mut out = encapped.to_bytes().to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_access_key_and_number_derive_the_same_keys() {
        let a = ResidentKeys::derive("ABCDEFGHJKLM", "1234-5678-9012");
        let b = ResidentKeys::derive("ABCDEFGHJKLM", "1234-5678-9012");
        assert_eq!(a.verifier, b.verifier);
        assert_eq!(a.message_key(), b.message_key());
        let other_key = ResidentKeys::derive("ABCDEFGHJKLN", "1234-5678-9012");
        let other_number = ResidentKeys::derive("ABCDEFGHJKLM", "1234-5678-9013");
        assert_ne!(a.verifier, other_key.verifier);
        assert_ne!(a.verifier, other_number.verifier);
        assert_ne!(a.message_key(), other_number.message_key());
    }

    #[test]
    fn a_staff_message_opens_only_with_the_right_access_key_and_record() {
        let keys = ResidentKeys::derive("ABCDEFGHJKLM", "1234-5678-9012");
        let sealed = seal_message(&keys.message_key(), "aoba-city", "2026-000001", "印鑑の押印が必要です").unwrap();
        assert_eq!(keys.open_message("aoba-city", "2026-000001", &sealed).unwrap(), "印鑑の押印が必要です");
        assert!(keys.open_message("aoba-city", "2026-000002", &sealed).is_err());
        assert!(keys.open_message("sakura-town", "2026-000001", &sealed).is_err());
        let wrong = ResidentKeys::derive("ABCDEFGHJKLN", "1234-5678-9012");
        assert!(wrong.open_message("aoba-city", "2026-000001", &sealed).is_err());
        assert!(keys.open_message("aoba-city", "2026-000001", &sealed[..20]).is_err());
        assert!(seal_message("not a key", "t", "r", "m").is_err());
    }
}
