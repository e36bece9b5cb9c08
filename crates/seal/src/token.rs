//! The counter's symmetric token box.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::SealError;

/// Encrypts and authenticates short-lived tokens (the draft between 確認画面
/// and 送信, the form-session token) under a key only the counter nodes
/// share. Each token carries its purpose as associated data so one kind can
/// never be replayed as another; expiry is the caller's (it has the clock).
pub struct TokenBox {
    cipher: XChaCha20Poly1305,
    /// A separate key, derived from the same secret, for [`TokenBox::derive`].
    mac_key: [u8; 32],
}

impl TokenBox {
    pub const KEY_LEN: usize = 32;

    pub fn new(key: &[u8]) -> Result<Self, SealError> {
        let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| SealError::MalformedKey)?;
        let mac_key = hmac_sha256(key, b"madoguchi token-box derive key");
        Ok(TokenBox { cipher, mac_key })
    }

    pub fn generate_key() -> Zeroizing<Vec<u8>> {
        let mut key = Zeroizing::new(vec![0u8; Self::KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    }

    /// A value derived from `data` that only holders of the key can compute
    /// (HMAC-SHA256), e.g. the status-lookup secret of a draft, which must be
    /// the same each time the same draft is sent.
    pub fn derive(&self, label: &str, data: &[u8]) -> [u8; 32] {
        let mut input = Vec::with_capacity(label.len() + 1 + data.len());
        input.extend_from_slice(label.as_bytes());
        input.push(0);
        input.extend_from_slice(data);
        hmac_sha256(&self.mac_key, &input)
    }

    /// URL-safe text: nonce ‖ ciphertext, base64url without padding.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: purpose.as_bytes() })
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn open(&self, purpose: &str, token: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| SealError::BadToken)?;
        if bytes.len() < 24 + 16 {
            return Err(SealError::BadToken);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: purpose.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| SealError::BadToken)
    }
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_open_only_for_their_purpose_and_key() {
        let key = TokenBox::generate_key();
        let tokens = TokenBox::new(&key).unwrap();
        let token = tokens.seal("draft", "やまだ".as_bytes());
        assert_eq!(&*tokens.open("draft", &token).unwrap(), "やまだ".as_bytes());
        assert!(tokens.open("form-session", &token).is_err());
        let other = TokenBox::new(&TokenBox::generate_key()).unwrap();
        assert!(other.open("draft", &token).is_err());
        assert!(tokens.open("draft", "AAAA").is_err());
        assert!(tokens.open("draft", "%%%").is_err());
        assert!(!token.contains("やまだ"));
        assert_eq!(tokens.derive("secret", b"d1"), tokens.derive("secret", b"d1"));
        assert_ne!(tokens.derive("secret", b"d1"), tokens.derive("secret", b"d2"));
        assert_ne!(tokens.derive("secret", b"d1"), other.derive("secret", b"d1"));
    }
}
