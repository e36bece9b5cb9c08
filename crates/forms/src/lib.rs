//! # forms — what a resident fills in, and what counts as a valid answer
//!
//! This crate owns form definitions (forms as code: TOML files, versioned by
//! the store), the field types residents in Japan need (name with furigana,
//! 〒 postal code and address, 和暦/西暦 dates, phone, e-mail entered twice,
//! choices, free text, numbers, consent, conditional fields), and turning raw
//! posted input into a normalised [`Submission`] or a list of [`FieldError`]s
//! with plain Japanese and English messages.
//!
//! It is pure: no I/O, no clock (callers pass "today"), no randomness. It must
//! never log or print a resident's values; a `Submission` leaves this crate only
//! to be sealed.
//!
//! ```
//! let def = forms::FormDefinition::parse(r#"
//! id = "hello"
//! title = { ja = "あいさつ", en = "Greeting" }
//! [[fields]]
//! name = "who"
//! type = "text"
//! label = { ja = "お名前", en = "Name" }
//! required = true
//! "#).unwrap();
//! let input = forms::RawInput::from_pairs([("who", "ｙａｍａｄａ")]);
//! let today = time::macros::date!(2026 - 11 - 25);
//! let sub = def.validate(&input, today).unwrap();
//! assert_eq!(sub.values["who"], forms::Value::Text("yamada".into()));
//! ```
#![forbid(unsafe_code)]

pub mod booking;
mod definition;
pub mod files;
mod input;
mod normalize;
pub mod postal;
mod validate;
pub mod wareki;

pub use definition::{
    toml_string, type_keys, CheckError, ChoiceOption, Condition, Field, FieldKind, FormDefinition, Requirement, Text,
    Verification, VerificationMethod, FIELD_TYPES, MAX_FILES, MAX_FILE_MB,
};
pub use input::RawInput;
pub use normalize::{is_furigana, nfkc, normalize_email, normalize_phone, normalize_postal_code};
pub use validate::{ErrorCode, FieldError, Submission, Value, Verified};

/// The languages pages and messages are offered in. Japanese is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// Parses a language tag as found in `?lang=` or a cookie; anything that
    /// is not English is Japanese.
    pub fn from_tag(tag: &str) -> Lang {
        if tag.trim().to_ascii_lowercase().starts_with("en") {
            Lang::En
        } else {
            Lang::Ja
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}
