//! Second factors that need no device API: TOTP and one-time recovery
//! codes. (Passkeys are WebAuthn and live with the web server.)

use rand::RngCore;
use sha2::Digest;
use unicode_normalization::UnicodeNormalization;

use crate::IdentityError;

pub const TOTP_STEP_SECS: u64 = 30;
/// Recovery codes issued at enrolment (and when staff ask for new ones).
pub const RECOVERY_CODE_COUNT: usize = 10;

/// A new 160-bit TOTP secret (RFC 4226's recommended length).
pub fn new_totp_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// The TOTP generator for a secret (RFC 6238: SHA-1, 6 digits, 30 s, one
/// step of skew either way: what every authenticator app speaks), labelled
/// `issuer:login` for the app's list.
pub fn totp(secret: &[u8], login: &str, issuer: &str) -> Result<totp_rs::TOTP, IdentityError> {
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        TOTP_STEP_SECS,
        secret.to_vec(),
        Some(issuer.to_owned()),
        login.to_owned(),
    )
    .map_err(|e| IdentityError::Totp(e.to_string()))
}

/// The time step a typed code belongs to (within one step of `now`), or
/// None. Callers refuse a step not above the last one used, so a code
/// cannot be replayed. Full-width digits and spaces are accepted.
pub fn totp_step(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    let code: String = code.nfkc().filter(char::is_ascii_digit).collect();
    if code.len() != 6 {
        return None;
    }
    let generator = totp(secret, "x", "x").ok()?;
    [now.saturating_sub(TOTP_STEP_SECS), now, now + TOTP_STEP_SECS]
        .into_iter()
        .find(|t| generator.generate(*t) == code)
        .map(|t| t / TOTP_STEP_SECS)
}

/// Letters that cannot be misread for one another (no 0/O, 1/l/I).
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// [`RECOVERY_CODE_COUNT`] new codes like `k7mq-2xrp-9dfa` (about 70 bits
/// each). Shown once; only [`recovery_code_hash`]es are kept.
pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let chars: Vec<char> =
                bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
            chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
        })
        .collect()
}

/// What is stored of a recovery code: SHA-256 of its normalised form
/// (lower case, no separators). The codes are random, so a fast hash is
/// enough: there is nothing to guess from a dictionary.
pub fn recovery_code_hash(code: &str) -> String {
    let normalised: String = code.nfkc().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    hex::encode(sha2::Sha256::digest(normalised.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_totp_code_belongs_to_its_step_within_one_step_of_skew() {
        let secret = new_totp_secret();
        let generator = totp(&secret, "tanaka", "madoguchi").expect("totp");
        let now = 1_800_000_000;
        let code = generator.generate(now);
        assert_eq!(totp_step(&secret, &code, now), Some(now / 30));
        assert_eq!(totp_step(&secret, &code, now + 30), Some(now / 30));
        assert_eq!(totp_step(&secret, &code, now + 90), None);
        let wide: String = code.chars().map(|c| char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap_or(c)).collect();
        assert_eq!(totp_step(&secret, &format!(" {wide} "), now), Some(now / 30), "full-width digits");
        assert_eq!(totp_step(&secret, "12345", now), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_the_same_however_typed() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len());
        let code = &codes[0];
        assert_eq!(code.len(), 14);
        assert_eq!(recovery_code_hash(code), recovery_code_hash(&code.to_uppercase().replace('-', " ")));
        assert_ne!(recovery_code_hash(code), recovery_code_hash(&codes[1]));
    }
}
