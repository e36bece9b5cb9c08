//! # identity — who staff are and what each role may do
//!
//! This crate owns the rules of staff identity that the counter's admin
//! console and the desk share: login ids (never e-mail addresses), password
//! rules and argon2id hashing, TOTP (RFC 6238), one-time recovery codes,
//! the growing delays and lock after failed logins, and the role ×
//! action table that every authorisation decision goes through.
//!
//! It is pure: no I/O, no clock (callers pass the time), no storage. It
//! must never log or return a password, secret or code it was given.
#![forbid(unsafe_code)]

mod password;
mod roles;
mod second_factor;
mod throttle;

pub use password::{hash_password, password_problem, valid_login, verify_password, PasswordProblem, ARGON2_PARAMS};
pub use roles::{allows, Access, Action, Grant, Role};
pub use second_factor::{
    new_totp_secret, recovery_code_hash, recovery_codes, totp, totp_step, RECOVERY_CODE_COUNT, TOTP_STEP_SECS,
};
pub use throttle::{delay_after, Throttle, LOCK_AFTER_FAILURES};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error("TOTP: {0}")]
    Totp(String),
}
