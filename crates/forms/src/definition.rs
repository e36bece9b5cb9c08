//! The form definition model (what a `*.toml` form file says) and its checks.

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::files::FileType;
use crate::input::RawInput;
use crate::normalize::nfkc;
use crate::validate::consent_ticked;
use crate::wareki::parse_iso;
use crate::Lang;

mod check;
mod to_toml;

pub use check::{type_keys, FIELD_TYPES};

pub use to_toml::quote as toml_string;

/// A text shown to residents in Japanese and, when given, English.
/// English falls back to Japanese so a page is never blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub ja: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match (lang, &self.en) {
            (Lang::En, Some(en)) if !en.is_empty() => en,
            _ => &self.ja,
        }
    }
}

/// One form as published by a tenant or a tenant group (prefecture template).
/// The version is not part of the file: the store numbers each published
/// change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDefinition {
    /// Stable identifier used in URLs: lowercase ASCII letters, digits and `-`.
    pub id: String,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    /// Largest request body the counter reads for this form, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// An anonymous survey (匿名アンケート): it may not ask who the resident
    /// is (no name, address, 〒, phone or e-mail field), and the pages say so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
    /// Who may answer: only respondents who prove who they are, each once
    /// (住民限定アンケート). The counter keeps a keyed per-form pseudonym of
    /// each, never who they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verification>,
    pub fields: Vec<Field>,
}

/// How respondents of a verified survey prove who they are, and what must
/// be true of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    pub method: VerificationMethod,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<Requirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// The answers are signed with the signing certificate of a マイナンバー
    /// カード (公的個人認証, JPKI).
    Jpki,
    /// The respondent signs in at the identity provider the installation
    /// names (OpenID Connect).
    Oidc,
}

impl VerificationMethod {
    pub const ALL: [VerificationMethod; 2] = [VerificationMethod::Jpki, VerificationMethod::Oidc];

    pub fn key(self) -> &'static str {
        match self {
            VerificationMethod::Jpki => "jpki",
            VerificationMethod::Oidc => "oidc",
        }
    }
}

/// What must be true of a verified respondent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Lives in the municipality (by the address the certificate or the
    /// identity provider vouches for).
    Resident,
    /// Is 18 or older on the day of answering.
    Adult,
}

impl Requirement {
    pub const ALL: [Requirement; 2] = [Requirement::Resident, Requirement::Adult];

    pub fn key(self) -> &'static str {
        match self {
            Requirement::Resident => "resident",
            Requirement::Adult => "adult",
        }
    }
}

pub(crate) fn default_max_body_bytes() -> usize {
    64 * 1024
}

/// One question on a form.
///
/// No `deny_unknown_fields` here: serde does not support it together with
/// `flatten` (every `type` key would be refused). [`FormDefinition::check`]
/// refuses unknown keys instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Key of the value in the submission and of the input in HTML:
    /// lowercase ASCII letters, digits and `_`, starting with a letter.
    pub name: String,
    pub label: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    #[serde(default)]
    pub required: bool,
    /// The field is asked (and validated) only when this holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_when: Option<Condition>,
    #[serde(flatten)]
    pub kind: FieldKind,
}

/// "Show this field when field `field` has the value `equals`" (for a
/// multiple choice: when `equals` is among the chosen values; for consent:
/// `equals = "yes"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub equals: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    pub value: String,
    pub label: Text,
}

/// The field types. HTML input names: the field's `name` for the main
/// input, and `name.suffix` for the extra inputs listed per kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    /// A person's name (`name`), and when `furigana` the reading in
    /// katakana or hiragana (`name.kana`; stored as full-width katakana).
    Name {
        #[serde(default = "yes")]
        furigana: bool,
    },
    /// 〒 postal code, seven digits, stored as `123-4567`.
    PostalCode,
    /// A Japanese address: `name.postal` (〒), `name.region`
    /// (都道府県・市区町村) and `name.line` (町名・番地・建物).
    Address,
    /// A calendar date entered in 和暦 (令和6年4月1日, R6.4.1, 平成31年4月30日)
    /// or 西暦 (2024-04-01, 2024/4/1, 2024年4月1日); stored as ISO 8601.
    /// `min`/`max` are ISO dates or offsets in days from today ("today",
    /// "today+90", "today-30").
    Date {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<String>,
    },
    /// A Japanese phone number with or without hyphens, stored as digits.
    Phone,
    /// An e-mail address; when `confirm`, entered twice (`name.confirm`).
    Email {
        #[serde(default = "yes")]
        confirm: bool,
    },
    /// One choice (radio buttons) or, when `multiple`, several (checkboxes).
    Choice {
        options: Vec<ChoiceOption>,
        #[serde(default)]
        multiple: bool,
    },
    /// Free text, one line or (`multiline`) several; lengths count
    /// characters after normalisation.
    Text {
        #[serde(default)]
        multiline: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_length: Option<usize>,
        #[serde(default = "default_max_length")]
        max_length: usize,
    },
    /// A number, optionally with bounds; `integer` refuses decimals.
    Number {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        #[serde(default = "yes")]
        integer: bool,
    },
    /// A checkbox the resident must tick to agree to `statement`.
    Consent { statement: Text },
    /// A rating on a scale from `min` to `max` (e.g. 1 = 不満 … 5 = 満足),
    /// stored as a number; `min_label`/`max_label` name the ends.
    Scale {
        #[serde(default = "scale_min")]
        min: i64,
        #[serde(default = "scale_max")]
        max: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_label: Option<Text>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_label: Option<Text>,
    },
    /// A time slot (see [`crate::booking`]): on `weekdays` (`mon`…`sun`) at
    /// `times` (`09:30`), each `minutes` long, `capacity` residents each,
    /// between `from` and `until` (date bounds as for dates), never on a
    /// date in `closed` nor, when `holidays_closed`, on 祝日 and 年末年始.
    /// Stored as the slot's key, `2026-12-01T09:30`.
    Booking {
        #[serde(default = "office_weekdays")]
        weekdays: Vec<String>,
        times: Vec<String>,
        #[serde(default = "slot_minutes")]
        minutes: u32,
        capacity: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        closed: Vec<String>,
        #[serde(default = "booking_from")]
        from: String,
        #[serde(default = "booking_until")]
        until: String,
        #[serde(default = "yes")]
        holidays_closed: bool,
    },
    /// Files (添付書類): scans and photos of the `accept`ed types, judged
    /// by their content, each at most `max_mb` megabytes, up to
    /// `max_files` of them. Sealed as they stream in; stored as references
    /// to the sealed files (see [`crate::files::FileRef`]).
    File {
        #[serde(default = "all_file_types")]
        accept: Vec<FileType>,
        #[serde(default = "default_max_mb")]
        max_mb: u32,
        #[serde(default = "one_file")]
        max_files: u32,
    },
}

impl FieldKind {
    /// The `type` this kind is written as in a definition file.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Name { .. } => "name",
            FieldKind::PostalCode => "postal_code",
            FieldKind::Address => "address",
            FieldKind::Date { .. } => "date",
            FieldKind::Phone => "phone",
            FieldKind::Email { .. } => "email",
            FieldKind::Choice { .. } => "choice",
            FieldKind::Text { .. } => "text",
            FieldKind::Number { .. } => "number",
            FieldKind::Consent { .. } => "consent",
            FieldKind::Scale { .. } => "scale",
            FieldKind::Booking { .. } => "booking",
            FieldKind::File { .. } => "file",
        }
    }

    /// Whether an answer of this kind says who the resident is (refused in
    /// an anonymous survey). Files count: a photo carries faces and, in its
    /// metadata, where it was taken.
    pub fn identifies(&self) -> bool {
        matches!(
            self,
            FieldKind::Name { .. }
                | FieldKind::PostalCode
                | FieldKind::Address
                | FieldKind::Phone
                | FieldKind::Email { .. }
                | FieldKind::File { .. }
        )
    }
}

fn yes() -> bool {
    true
}

pub(crate) fn scale_min() -> i64 {
    1
}

pub(crate) fn scale_max() -> i64 {
    5
}

pub(crate) fn office_weekdays() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec()
}

pub(crate) fn slot_minutes() -> u32 {
    30
}

pub(crate) fn booking_from() -> String {
    "today+1".into()
}

pub(crate) fn booking_until() -> String {
    "today+30".into()
}

pub(crate) fn default_max_length() -> usize {
    200
}

pub(crate) fn all_file_types() -> Vec<FileType> {
    FileType::ALL.to_vec()
}

pub(crate) fn default_max_mb() -> u32 {
    10
}

/// The largest `max_mb` a form may set: a 20 MB scan and some room, and no
/// more than a counter should stream from one resident.
pub const MAX_FILE_MB: u32 = 50;

/// The most files one field may take.
pub const MAX_FILES: u32 = 10;

pub(crate) fn one_file() -> u32 {
    1
}

/// A problem in a form definition file, with the 1-based line (and column)
/// where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct CheckError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl FormDefinition {
    /// Parses and checks a form file; on failure, the first problem.
    pub fn parse(src: &str) -> Result<FormDefinition, CheckError> {
        FormDefinition::check(src).map_err(|errors| {
            errors.into_iter().next().unwrap_or(CheckError {
                line: 1,
                column: 1,
                message: "invalid form definition".into(),
            })
        })
    }

    /// Parses and checks a form file; on failure, every problem found,
    /// ordered by position, so an admin can fix them in one pass.
    pub fn check(src: &str) -> Result<FormDefinition, Vec<CheckError>> {
        check::check(src)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether `field` is asked, given what has been posted so far. A field
    /// whose controlling field is itself hidden is hidden too.
    pub fn is_shown(&self, field: &Field, input: &RawInput) -> bool {
        self.shown_within(field, input, self.fields.len())
    }

    /// `depth` bounds the chain so a definition built in code with a cycle
    /// cannot recurse forever (checked files cannot have cycles).
    fn shown_within(&self, field: &Field, input: &RawInput, depth: usize) -> bool {
        let Some(cond) = &field.show_when else {
            return true;
        };
        let Some(controller) = self.field(&cond.field) else {
            return false;
        };
        if depth == 0 || !self.shown_within(controller, input, depth - 1) {
            return false;
        }
        let posted = input.get_all(&cond.field);
        if matches!(controller.kind, FieldKind::Consent { .. }) {
            // Browsers post "on" for a checkbox without a value attribute.
            let ticked = posted.iter().any(|v| consent_ticked(v));
            return ticked == (nfkc(&cond.equals) == "yes");
        }
        let want = nfkc(&cond.equals);
        posted.iter().any(|v| nfkc(v) == want)
    }

    /// Canonical TOML for this definition; [`FormDefinition::parse`] reads
    /// it back to an equal definition.
    pub fn to_toml(&self) -> String {
        to_toml::to_toml(self)
    }
}

impl Field {
    /// The HTML input names this field posts, main input first
    /// (`addr.postal`, `addr.region`, `addr.line` for an address).
    pub fn input_names(&self) -> Vec<String> {
        let n = &self.name;
        match &self.kind {
            FieldKind::Name { furigana: true } => vec![n.clone(), format!("{n}.kana")],
            FieldKind::Email { confirm: true } => vec![n.clone(), format!("{n}.confirm")],
            FieldKind::Address => vec![format!("{n}.postal"), format!("{n}.region"), format!("{n}.line")],
            _ => vec![n.clone()],
        }
    }
}

/// A `min`/`max` of a date field: a fixed ISO date or days from today
/// (resolved at validation, since the crate has no clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateBound {
    Today(i64),
    Fixed(Date),
}

impl DateBound {
    /// `"today"`, `"today+90"`, `"today-30"` or `"2024-04-01"`.
    pub(crate) fn parse(s: &str) -> Option<DateBound> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let Some(rest) = s.strip_prefix("today") else {
            return parse_iso(&s).map(DateBound::Fixed);
        };
        if rest.is_empty() {
            return Some(DateBound::Today(0));
        }
        let (sign, digits) = if let Some(d) = rest.strip_prefix('+') {
            (1, d)
        } else if let Some(d) = rest.strip_prefix('-') {
            (-1, d)
        } else {
            return None;
        };
        if digits.is_empty() || digits.len() > 5 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(DateBound::Today(sign * digits.parse::<i64>().ok()?))
    }

    pub(crate) fn resolve(self, today: Date) -> Option<Date> {
        match self {
            DateBound::Today(days) => today.checked_add(Duration::days(days)),
            DateBound::Fixed(d) => Some(d),
        }
    }

    /// True when `self` is certainly later than `other` (only comparable
    /// when both are fixed or both are relative).
    pub(crate) fn after(&self, other: &DateBound) -> bool {
        match (self, other) {
            (DateBound::Today(a), DateBound::Today(b)) => a > b,
            (DateBound::Fixed(a), DateBound::Fixed(b)) => a > b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
