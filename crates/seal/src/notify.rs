//! The counter's notification key: residents' e-mail addresses are kept
//! only sealed to it, so a stolen database, vault or backup holds none.
//!
//! The private half belongs to the process that sends mail (the counter,
//! from a key file kept outside the data directory and its backups). An
//! address is deleted once the case is closed and its last mail is sent.

use base64::Engine as _;
use hpke::{aead::ChaCha20Poly1305, kdf::HkdfSha256, Deserializable, Kem, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::keys::KemT;
use crate::SealError;

const INFO: &[u8] = b"madoguchi notification address v1";

pub struct NotificationKey {
    private: <KemT as Kem>::PrivateKey,
    public: <KemT as Kem>::PublicKey,
}

impl NotificationKey {
    pub fn generate() -> NotificationKey {
        let (private, public) = KemT::gen_keypair(&mut rand::rngs::OsRng);
        NotificationKey { private, public }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<NotificationKey, SealError> {
        let private = <KemT as Kem>::PrivateKey::from_bytes(bytes).map_err(|_| SealError::MalformedKey)?;
        let public = <KemT as Kem>::sk_to_pk(&private);
        Ok(NotificationKey { private, public })
    }

    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.private.to_bytes().to_vec())
    }

    /// Seals an address for the record `binding` names (tenant and the
    /// submission's draft hash), so it cannot be moved to another record.
    pub fn seal_address(&self, binding: &str, address: &str) -> Result<Vec<u8>, SealError> {
        let (encapped, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, KemT, _>(
            &OpModeS::Base,
            &self.public,
            INFO,
            address.as_bytes(),
            binding.as_bytes(),
            &mut rand::rngs::OsRng,
        )
        .map_err(|_| SealError::Seal)?;
        let mut out = encapped.to_bytes().to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn open_address(&self, binding: &str, sealed: &[u8]) -> Result<String, SealError> {
        if sealed.len() < 32 + 16 {
            return Err(SealError::MalformedRecord);
        }
        let (encapped, ciphertext) = sealed.split_at(32);
        let encapped = <KemT as Kem>::EncappedKey::from_bytes(encapped).map_err(|_| SealError::MalformedRecord)?;
        let plaintext = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, KemT>(
            &OpModeR::Base,
            &self.private,
            &encapped,
            INFO,
            ciphertext,
            binding.as_bytes(),
        )
        .map_err(|_| SealError::Open)?;
        String::from_utf8(plaintext).map_err(|_| SealError::MalformedRecord)
    }

    /// The public half, base64 (for documentation and checks).
    pub fn public_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.public.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_opens_only_for_its_record_and_key() {
        let key = NotificationKey::generate();
        let sealed = key.seal_address("aoba-city/abc", "taro@example.jp").unwrap();
        assert_eq!(key.open_address("aoba-city/abc", &sealed).unwrap(), "taro@example.jp");
        assert!(key.open_address("aoba-city/abd", &sealed).is_err());
        assert!(NotificationKey::generate().open_address("aoba-city/abc", &sealed).is_err());
        let again = NotificationKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(again.public_base64(), key.public_base64());
        assert_eq!(again.open_address("aoba-city/abc", &sealed).unwrap(), "taro@example.jp");
        assert!(!sealed.windows(4).any(|w| w == b"taro"));
    }
}
