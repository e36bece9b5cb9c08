//! Login ids and passwords.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use unicode_normalization::UnicodeNormalization;

use crate::IdentityError;

/// argon2id with m = 19 MiB, t = 2, p = 1: the OWASP Password Storage Cheat
/// Sheet's first recommendation, about 20 ms per hash on one core here. The
/// parameters are stored in each PHC hash string, so raising them later
/// only affects new hashes.
pub const ARGON2_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);

fn argon2() -> Argon2<'static> {
    let (m, t, p) = ARGON2_PARAMS;
    // These constants are within argon2's limits, so this cannot fail.
    let params = Params::new(m, t, p, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A login id: 3–32 lowercase letters, digits, `.`, `_`, `-`, starting with
/// a letter. Never an e-mail address (no `@`), so a leaked address list is
/// not a list of login ids.
pub fn valid_login(login: &str) -> bool {
    let len = login.chars().count();
    (3..=32).contains(&len)
        && login.starts_with(|c: char| c.is_ascii_lowercase())
        && login.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// Why a password is refused. The message keys are the pages' string keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    ContainsLogin,
    TooCommon,
}

impl PasswordProblem {
    pub fn key(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "password_too_short",
            PasswordProblem::ContainsLogin => "password_contains_login",
            PasswordProblem::TooCommon => "password_too_common",
        }
    }
}

/// Passwords found at the top of every breach corpus (and their obvious
/// Japanese-office variants). NIST SP 800-63B asks to refuse these; the
/// length rule already removes most of the rest.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "password1234",
    "password12345",
    "passwordpassword",
    "qwertyuiopas",
    "qwerty123456",
    "111111111111",
    "000000000000",
    "iloveyou1234",
    "abc123456789",
    "administrator",
    "madoguchi123",
    "madoguchimadoguchi",
    "changeme1234",
    "welcome12345",
    "letmein12345",
    "p@ssw0rd1234",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "asdfghjkl123",
];

/// Password rules (NIST SP 800-63B): at least 12 characters after NFKC,
/// not containing the login id, not a well-known breached password, and
/// not one character repeated.
pub fn password_problem(login: &str, password: &str) -> Option<PasswordProblem> {
    let normalised: String = password.nfkc().collect();
    let lower = normalised.to_lowercase();
    let mut chars = lower.chars();
    let first = chars.next();
    if normalised.chars().count() < 12 {
        Some(PasswordProblem::TooShort)
    } else if !login.is_empty() && lower.contains(&login.to_lowercase()) {
        Some(PasswordProblem::ContainsLogin)
    } else if COMMON.contains(&lower.as_str()) || chars.all(|c| Some(c) == first) {
        Some(PasswordProblem::TooCommon)
    } else {
        None
    }
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `password`.
pub fn hash_password(password: &str) -> Result<String, IdentityError> {
    let normalised: String = password.nfkc().collect();
    argon2()
        .hash_password(normalised.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|hash| hash.to_string())
        .map_err(|e| IdentityError::Hashing(e.to_string()))
}

/// Checks `password` against a stored hash. With no hash (no such
/// account, or not enrolled) it still does the same work, so the time
/// taken does not tell which login ids exist.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    let normalised: String = password.nfkc().collect();
    match stored.and_then(|s| PasswordHash::new(s).ok()) {
        Some(parsed) => argon2().verify_password(normalised.as_bytes(), &parsed).is_ok(),
        None => {
            let _ = argon2().hash_password(normalised.as_bytes(), &SaltString::generate(&mut OsRng));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_ids_are_never_email_addresses() {
        for ok in ["tanaka", "t.suzuki", "abe-2", "sato_k"] {
            assert!(valid_login(ok), "{ok}");
        }
        for bad in ["tanaka@city.example.jp", "ab", "Tanaka", "1abc", "田中", "a b c", &"x".repeat(33)] {
            assert!(!valid_login(bad), "{bad}");
        }
    }

    #[test]
    fn passwords_are_long_uncommon_and_do_not_contain_the_login() {
        assert_eq!(password_problem("tanaka", "short"), Some(PasswordProblem::TooShort));
        assert_eq!(password_problem("tanaka", "my-Tanaka-password"), Some(PasswordProblem::ContainsLogin));
        assert_eq!(password_problem("tanaka", "Password1234"), Some(PasswordProblem::TooCommon));
        assert_eq!(password_problem("tanaka", "aaaaaaaaaaaaaaa"), Some(PasswordProblem::TooCommon));
        // Full-width digits count as the digits they are (NFKC).
        assert_eq!(password_problem("tanaka", "１２３４５６７８９０１２"), Some(PasswordProblem::TooCommon));
        assert_eq!(password_problem("tanaka", "correct horse battery"), None);
    }

    #[test]
    fn hashes_are_argon2id_with_the_documented_parameters() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password(Some(&hash), "correct horse battery"));
        assert!(verify_password(Some(&hash), "ｃｏｒｒｅｃｔ horse battery"), "NFKC before hashing");
        assert!(!verify_password(Some(&hash), "correct horse batterY"));
        assert!(!verify_password(None, "correct horse battery"));
    }
}
