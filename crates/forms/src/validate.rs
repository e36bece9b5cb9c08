//! From posted input to a normalised [`Submission`], or to the list of
//! everything the resident has to fix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::booking::{Schedule, Slot};
use crate::definition::{DateBound, Field, FieldKind, FormDefinition};
use crate::files::{FileRef, FileType};
use crate::input::RawInput;
use crate::normalize::{
    collapse_spaces, format_phone, hyphens_between_digits, is_furigana, nfkc, normalize_email, normalize_phone,
    normalize_postal_code, to_katakana,
};
use crate::wareki::{self, parse_date, parse_iso, to_iso};
use crate::Lang;

/// Longest name (and reading) accepted, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest 都道府県・市区町村 part of an address, in characters.
pub const REGION_MAX_CHARS: usize = 100;
/// Longest 町名・番地・建物 part of an address, in characters.
pub const LINE_MAX_CHARS: usize = 200;
/// Longest number input; more is not a number anyone means.
const NUMBER_MAX_CHARS: usize = 40;

/// A validated, normalised answer set: the payload that gets sealed.
/// Fields not asked (hidden by `show_when`) and optional fields left empty
/// have no entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub form_id: String,
    pub values: BTreeMap<String, Value>,
    /// For a verified survey: how the respondent proved who they are and
    /// what was found true of them, never who they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Verified>,
}

/// What a verified survey's record says of its respondent: the method,
/// and the requirements of the form they met (all of them, or they could
/// not have answered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub method: crate::VerificationMethod,
    pub met: Vec<crate::Requirement>,
}

/// One normalised answer. The serde form (externally tagged) is what is
/// sealed, so changing it changes what desks must read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Text(String),
    /// `kana` in full-width katakana.
    Name {
        name: String,
        kana: Option<String>,
    },
    /// `123-4567`.
    PostalCode(String),
    /// `postal` is `123-4567`, or empty when an optional address has none.
    Address {
        postal: String,
        region: String,
        line: String,
    },
    /// ISO 8601, `2024-04-01`.
    Date(String),
    /// Digits only, `0312345678`.
    Phone(String),
    Email(String),
    /// The option's `value`.
    Choice(String),
    /// The options' `value`s, in the definition's option order.
    Choices(Vec<String>),
    Number(f64),
    Consent(bool),
    /// A booked time slot, `2026-12-01T09:30` (see [`crate::booking::Slot`]).
    Slot(String),
    /// Attached files, in the order they were added.
    Files(Vec<FileRef>),
}

/// One thing the resident must fix: which field, which HTML input to show
/// the message beside, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's `name`.
    pub field: String,
    /// The HTML input name (`applicant`, `applicant.kana`, `addr.postal`, …).
    pub input: String,
    pub code: ErrorCode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    Required,
    TooLong {
        max: usize,
    },
    TooShort {
        min: usize,
    },
    NotKana,
    InvalidPostalCode,
    InvalidDate,
    /// `min` is an ISO date.
    DateTooEarly {
        min: String,
    },
    /// `max` is an ISO date.
    DateTooLate {
        max: String,
    },
    InvalidPhone,
    InvalidEmail,
    EmailMismatch,
    UnknownChoice,
    NotANumber,
    NotAnInteger,
    NumberTooSmall {
        min: String,
    },
    NumberTooLarge {
        max: String,
    },
    ConsentRequired,
    /// Not one of the slots the schedule offers (any more).
    UnknownSlot,
    /// The slot filled up while the resident was answering (said by the
    /// counter, which counts bookings; never by validation).
    SlotFull,
    /// Not one of the file types the field takes, judged by content.
    FileNotAccepted {
        accept: Vec<FileType>,
    },
    FileTooLarge {
        max_mb: u32,
    },
    FileEmpty,
    TooManyFiles {
        max: u32,
    },
}

impl FieldError {
    fn new(field: &Field, input: String, code: ErrorCode) -> Self {
        FieldError { field: field.name.clone(), input, code }
    }

    /// "This slot is full now", shown beside a booking field.
    pub fn slot_full(field: &Field) -> FieldError {
        FieldError::new(field, field.name.clone(), ErrorCode::SlotFull)
    }

    /// A plain, polite message to show beside the input. It never repeats
    /// what the resident typed (messages may end up in logs).
    pub fn message(&self, lang: Lang) -> String {
        self.code.message(lang)
    }
}

impl ErrorCode {
    pub fn message(&self, lang: Lang) -> String {
        use ErrorCode::*;
        let ja = lang == Lang::Ja;
        let date = |iso: &str| match parse_iso(iso) {
            Some(d) if ja => format!("{}年{}月{}日", d.year(), u8::from(d.month()), d.day()),
            Some(d) => wareki::display_date(d, Lang::En),
            None => iso.to_string(),
        };
        match (self, ja) {
            (Required, true) => "入力してください。".into(),
            (Required, false) => "Please fill this in.".into(),
            (TooLong { max }, true) => format!("{max}文字以内で入力してください。"),
            (TooLong { max }, false) => format!("Please use at most {max} characters."),
            (TooShort { min }, true) => format!("{min}文字以上で入力してください。"),
            (TooShort { min }, false) => format!("Please use at least {min} characters."),
            (NotKana, true) => "カタカナまたはひらがなで入力してください。".into(),
            (NotKana, false) => "Please write the reading in katakana or hiragana.".into(),
            (InvalidPostalCode, true) => "郵便番号を7桁の数字で入力してください（例：123-4567）。".into(),
            (InvalidPostalCode, false) => "Please enter a 7-digit postal code (for example 123-4567).".into(),
            (InvalidDate, true) => "日付を正しく入力してください（例：2024年4月1日、令和6年4月1日）。".into(),
            (InvalidDate, false) => "Please enter a valid date (for example 2024-04-01).".into(),
            (DateTooEarly { min }, true) => format!("{}以降の日付を入力してください。", date(min)),
            (DateTooEarly { min }, false) => {
                format!("Please enter a date on or after {}.", date(min))
            }
            (DateTooLate { max }, true) => format!("{}以前の日付を入力してください。", date(max)),
            (DateTooLate { max }, false) => {
                format!("Please enter a date on or before {}.", date(max))
            }
            (InvalidPhone, true) => "電話番号を正しく入力してください（例：03-1234-5678）。".into(),
            (InvalidPhone, false) => "Please enter a Japanese phone number (for example 03-1234-5678).".into(),
            (InvalidEmail, true) => "メールアドレスを正しく入力してください。".into(),
            (InvalidEmail, false) => "Please enter a valid e-mail address.".into(),
            (EmailMismatch, true) => "確認用のメールアドレスが一致しません。".into(),
            (EmailMismatch, false) => "The two e-mail addresses do not match.".into(),
            (UnknownChoice, true) => "選択肢の中から選んでください。".into(),
            (UnknownChoice, false) => "Please choose one of the options.".into(),
            (NotANumber, true) => "数字で入力してください。".into(),
            (NotANumber, false) => "Please enter a number.".into(),
            (NotAnInteger, true) => "整数で入力してください。".into(),
            (NotAnInteger, false) => "Please enter a whole number.".into(),
            (NumberTooSmall { min }, true) => format!("{min}以上の数を入力してください。"),
            (NumberTooSmall { min }, false) => format!("Please enter {min} or more."),
            (NumberTooLarge { max }, true) => format!("{max}以下の数を入力してください。"),
            (NumberTooLarge { max }, false) => format!("Please enter {max} or less."),
            (ConsentRequired, true) => "内容をご確認のうえ、同意してください。".into(),
            (ConsentRequired, false) => "Please read the statement and tick the box to agree.".into(),
            (UnknownSlot, true) => "予約できる日時の中から選んでください。".into(),
            (UnknownSlot, false) => "Please choose one of the times that can be booked.".into(),
            (SlotFull, true) => {
                "申し訳ありません。この日時は先に予約がいっぱいになりました。別の日時を選んでください。".into()
            }
            (SlotFull, false) => "Sorry, this time has just been fully booked. Please choose another time.".into(),
            (FileNotAccepted { accept }, true) => format!(
                "{} のファイルを選んでください（ファイルの中身で確認しています）。",
                crate::files::type_list(accept, Lang::Ja)
            ),
            (FileNotAccepted { accept }, false) => format!(
                "Please choose a {} file (checked by its content, not its name).",
                crate::files::type_list(accept, Lang::En)
            ),
            (FileTooLarge { max_mb }, true) => format!("{max_mb}MB以下のファイルを選んでください。"),
            (FileTooLarge { max_mb }, false) => format!("Please choose a file of at most {max_mb} MB."),
            (FileEmpty, true) => "このファイルは空です。別のファイルを選んでください。".into(),
            (FileEmpty, false) => "This file is empty. Please choose another file.".into(),
            (TooManyFiles { max }, true) => format!("添付できるファイルは{max}個までです。"),
            (TooManyFiles { max }, false) => format!("Please attach at most {max} files."),
        }
    }
}

impl Submission {
    /// Every file the answers name, in field-name order.
    pub fn files(&self) -> impl Iterator<Item = &FileRef> {
        self.values.values().flat_map(|v| match v {
            Value::Files(files) => files.as_slice(),
            _ => &[],
        })
    }

    /// Canonical bytes to seal: JSON with keys in `BTreeMap` order, so the
    /// same answers always seal to the same plaintext.
    pub fn canonical_json(&self) -> Vec<u8> {
        // Strings, bools and finite floats under string keys: serde_json
        // cannot fail on this type.
        serde_json::to_vec(self).expect("a Submission always serialises to JSON")
    }

    /// The inputs that re-fill the form page (修正する): the same input
    /// names the form's HTML uses. Values for fields the definition no
    /// longer has are dropped.
    pub fn to_input(&self, def: &FormDefinition) -> RawInput {
        let mut out = RawInput::new();
        for field in &def.fields {
            let Some(value) = self.values.get(&field.name) else {
                continue;
            };
            let n = &field.name;
            match value {
                Value::Text(s)
                | Value::PostalCode(s)
                | Value::Date(s)
                | Value::Email(s)
                | Value::Choice(s)
                | Value::Slot(s) => {
                    out.push(n, s);
                    if matches!(field.kind, FieldKind::Email { confirm: true }) {
                        out.push(format!("{n}.confirm"), s);
                    }
                }
                Value::Name { name, kana } => {
                    out.push(n, name);
                    if let Some(kana) = kana {
                        out.push(format!("{n}.kana"), kana);
                    }
                }
                Value::Address { postal, region, line } => {
                    out.push(format!("{n}.postal"), postal);
                    out.push(format!("{n}.region"), region);
                    out.push(format!("{n}.line"), line);
                }
                Value::Phone(digits) => out.push(n, format_phone(digits)),
                Value::Choices(values) => {
                    for v in values {
                        out.push(n, v);
                    }
                }
                Value::Number(x) => out.push(n, format_number(*x)),
                Value::Consent(true) => out.push(n, "yes"),
                Value::Consent(false) => {}
                Value::Files(files) => {
                    for file in files {
                        out.push_file(n, file.clone());
                    }
                }
            }
        }
        out
    }
}

/// A ticked consent checkbox: `yes` is what the counter's HTML posts, `on`
/// what a browser posts for a checkbox without a value.
pub(crate) fn consent_ticked(raw: &str) -> bool {
    matches!(nfkc(raw).to_ascii_lowercase().as_str(), "yes" | "on" | "true" | "1")
}

/// `1` not `1.0`; no exponent for the sizes forms deal with.
pub(crate) fn format_number(x: f64) -> String {
    format!("{x}")
}

impl FormDefinition {
    /// Validates and normalises every asked field. All errors are returned,
    /// so the resident can fix everything in one go.
    pub fn validate(&self, input: &RawInput, today: Date) -> Result<Submission, Vec<FieldError>> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for field in &self.fields {
            if !self.is_shown(field, input) {
                continue;
            }
            let before = errors.len();
            let value = validate_field(field, input, today, &mut errors);
            if let (Some(value), true) = (value, errors.len() == before) {
                values.insert(field.name.clone(), value);
            }
        }
        if errors.is_empty() {
            Ok(Submission { form_id: self.id.clone(), values, verified: None })
        } else {
            Err(errors)
        }
    }

    /// A stored value as residents read it on the 確認画面. Plain text:
    /// the template escapes it.
    pub fn display_value(&self, field: &Field, value: &Value, lang: Lang) -> String {
        let ja = lang == Lang::Ja;
        match value {
            Value::Choice(v) => option_label(field, v, lang),
            Value::Choices(vs) => {
                vs.iter().map(|v| option_label(field, v, lang)).collect::<Vec<_>>().join(if ja { "、" } else { ", " })
            }
            Value::Date(iso) => match parse_iso(iso) {
                Some(d) => wareki::display_date(d, lang),
                None => iso.clone(),
            },
            Value::Name { name, kana: Some(kana) } if !kana.is_empty() => {
                if ja {
                    format!("{name}（{kana}）")
                } else {
                    format!("{name} ({kana})")
                }
            }
            Value::Name { name, .. } => name.clone(),
            Value::PostalCode(p) => format!("〒{p}"),
            Value::Address { postal, region, line } => {
                let place = collapse_spaces(&format!("{region} {line}"));
                if postal.is_empty() {
                    place
                } else {
                    format!("〒{postal} {place}")
                }
            }
            Value::Phone(digits) => format_phone(digits),
            Value::Email(s) | Value::Text(s) => s.clone(),
            Value::Number(x) => format_number(*x),
            Value::Consent(true) => if ja { "同意する" } else { "Agreed" }.into(),
            Value::Consent(false) => if ja { "同意しない" } else { "Not agreed" }.into(),
            Value::Slot(key) => match (Slot::parse_key(key), &field.kind) {
                (Some(slot), FieldKind::Booking { minutes, .. }) => slot.full_label(*minutes, lang),
                _ => key.clone(),
            },
            Value::Files(files) => files
                .iter()
                .map(|f| {
                    let size = crate::files::size_label(f.size, lang);
                    if ja {
                        format!("{}（{}・{size}）", f.name, f.file_type.label())
                    } else {
                        format!("{} ({}, {size})", f.name, f.file_type.label())
                    }
                })
                .collect::<Vec<_>>()
                .join(if ja { "、" } else { ", " }),
        }
    }

    /// The first booking field that is answered, with the slot chosen.
    pub fn booked_slot<'a>(&'a self, submission: &Submission) -> Option<(&'a Field, Schedule, Slot)> {
        self.fields.iter().find_map(|field| {
            let Some(Value::Slot(key)) = submission.values.get(&field.name) else { return None };
            Some((field, Schedule::of(&field.kind)?, Slot::parse_key(key)?))
        })
    }
}

fn option_label(field: &Field, value: &str, lang: Lang) -> String {
    match &field.kind {
        FieldKind::Choice { options, .. } => options
            .iter()
            .find(|o| o.value == value)
            .map(|o| o.label.get(lang).to_string())
            .unwrap_or_else(|| value.to_string()),
        _ => value.to_string(),
    }
}

/// One line of text: NFKC, no control characters (newlines are dropped,
/// tabs become spaces), trimmed.
fn single_line(raw: &str) -> String {
    let s: String = nfkc(raw)
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    s.trim().to_string()
}

/// Several lines: `\r\n` and `\r` become `\n`, NFKC, other control
/// characters dropped, trimmed as a whole.
fn multi_line(raw: &str) -> String {
    let unified = raw.replace("\r\n", "\n").replace('\r', "\n");
    let s: String = nfkc(&unified).chars().filter(|&c| c == '\n' || c == '\t' || !c.is_control()).collect();
    s.trim().to_string()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Collects the errors of one field; `add` returns `None` so a branch can
/// end with it.
struct Errors<'a> {
    field: &'a Field,
    list: &'a mut Vec<FieldError>,
}

impl Errors<'_> {
    fn add<T>(&mut self, input: impl Into<String>, code: ErrorCode) -> Option<T> {
        self.list.push(FieldError::new(self.field, input.into(), code));
        None
    }

    /// Empty input: an error when the field is required, otherwise absent.
    fn empty<T>(&mut self) -> Option<T> {
        if self.field.required {
            self.add(self.field.name.clone(), ErrorCode::Required)
        } else {
            None
        }
    }
}

fn validate_field(field: &Field, input: &RawInput, today: Date, errors: &mut Vec<FieldError>) -> Option<Value> {
    let n = field.name.as_str();
    let sub = |suffix: &str| format!("{n}.{suffix}");
    let get = |key: &str| input.get(key).unwrap_or("");
    let mut e = Errors { field, list: errors };
    match &field.kind {
        FieldKind::Name { furigana } => {
            let name = collapse_spaces(&single_line(get(n)));
            let kana = if *furigana { collapse_spaces(&single_line(get(&sub("kana")))) } else { String::new() };
            if name.is_empty() && kana.is_empty() {
                return e.empty();
            }
            let name = if name.is_empty() {
                e.add(n, ErrorCode::Required)
            } else if chars(&name) > NAME_MAX_CHARS {
                e.add(n, ErrorCode::TooLong { max: NAME_MAX_CHARS })
            } else {
                Some(name)
            };
            let kana = if !*furigana || (kana.is_empty() && !field.required) {
                Some(None)
            } else if kana.is_empty() {
                e.add(sub("kana"), ErrorCode::Required)
            } else if !is_furigana(&kana) {
                e.add(sub("kana"), ErrorCode::NotKana)
            } else if chars(&kana) > NAME_MAX_CHARS {
                e.add(sub("kana"), ErrorCode::TooLong { max: NAME_MAX_CHARS })
            } else {
                Some(Some(to_katakana(&kana)))
            };
            Some(Value::Name { name: name?, kana: kana? })
        }
        FieldKind::PostalCode => {
            let raw = single_line(get(n));
            if raw.is_empty() {
                return e.empty();
            }
            match normalize_postal_code(&raw) {
                Some(p) => Some(Value::PostalCode(p)),
                None => e.add(n, ErrorCode::InvalidPostalCode),
            }
        }
        FieldKind::Address => {
            let postal_raw = single_line(get(&sub("postal")));
            let clean = |s: &str| collapse_spaces(&hyphens_between_digits(&single_line(s)));
            let region = clean(get(&sub("region")));
            let line = clean(get(&sub("line")));
            // A required address reports each empty part beside its input.
            if postal_raw.is_empty() && region.is_empty() && line.is_empty() && !field.required {
                return None;
            }
            let postal = if postal_raw.is_empty() {
                if field.required {
                    e.add(sub("postal"), ErrorCode::Required)
                } else {
                    Some(String::new())
                }
            } else {
                match normalize_postal_code(&postal_raw) {
                    Some(p) => Some(p),
                    None => e.add(sub("postal"), ErrorCode::InvalidPostalCode),
                }
            };
            let mut part = |part: &str, value: String, max: usize| {
                if value.is_empty() {
                    e.add(sub(part), ErrorCode::Required)
                } else if chars(&value) > max {
                    e.add(sub(part), ErrorCode::TooLong { max })
                } else {
                    Some(value)
                }
            };
            let region = part("region", region, REGION_MAX_CHARS);
            let line = part("line", line, LINE_MAX_CHARS);
            Some(Value::Address { postal: postal?, region: region?, line: line? })
        }
        FieldKind::Date { min, max } => {
            let raw = single_line(get(n));
            if raw.is_empty() {
                return e.empty();
            }
            let Some(date) = parse_date(&raw) else {
                return e.add(n, ErrorCode::InvalidDate);
            };
            let bound = |b: &Option<String>| b.as_deref().and_then(DateBound::parse).and_then(|b| b.resolve(today));
            if let Some(min) = bound(min).filter(|m| date < *m) {
                return e.add(n, ErrorCode::DateTooEarly { min: to_iso(min) });
            }
            if let Some(max) = bound(max).filter(|m| date > *m) {
                return e.add(n, ErrorCode::DateTooLate { max: to_iso(max) });
            }
            Some(Value::Date(to_iso(date)))
        }
        FieldKind::Phone => {
            let raw = single_line(get(n));
            if raw.is_empty() {
                return e.empty();
            }
            match normalize_phone(&raw) {
                Some(p) => Some(Value::Phone(p)),
                None => e.add(n, ErrorCode::InvalidPhone),
            }
        }
        FieldKind::Email { confirm } => {
            let raw = single_line(get(n));
            let again = if *confirm { single_line(get(&sub("confirm"))) } else { String::new() };
            if raw.is_empty() && again.is_empty() {
                return e.empty();
            }
            if raw.is_empty() {
                return e.add(n, ErrorCode::Required);
            }
            let Some(email) = normalize_email(&raw) else {
                return e.add(n, ErrorCode::InvalidEmail);
            };
            if *confirm {
                if again.is_empty() {
                    return e.add(sub("confirm"), ErrorCode::Required);
                }
                // Case-insensitive: a difference only in case is the same
                // mailbox in practice, not a typing mistake.
                let same = normalize_email(&again).is_some_and(|a| a.eq_ignore_ascii_case(&email));
                if !same {
                    return e.add(sub("confirm"), ErrorCode::EmailMismatch);
                }
            }
            Some(Value::Email(email))
        }
        FieldKind::Choice { options, multiple } => {
            let posted: Vec<String> = input.get_all(n).into_iter().map(single_line).filter(|v| !v.is_empty()).collect();
            let find = |v: &str| options.iter().find(|o| nfkc(&o.value) == v);
            if *multiple {
                let mut chosen = Vec::new();
                for v in &posted {
                    match find(v) {
                        Some(o) => chosen.push(o.value.clone()),
                        None => return e.add(n, ErrorCode::UnknownChoice),
                    }
                }
                if chosen.is_empty() {
                    return e.empty();
                }
                // Definition order, once each: the same ticks always give
                // the same value whatever order the browser posted them in.
                let ordered = options.iter().filter(|o| chosen.contains(&o.value)).map(|o| o.value.clone()).collect();
                Some(Value::Choices(ordered))
            } else {
                let Some(v) = posted.first() else {
                    return e.empty();
                };
                match find(v) {
                    Some(o) => Some(Value::Choice(o.value.clone())),
                    None => e.add(n, ErrorCode::UnknownChoice),
                }
            }
        }
        FieldKind::Text { multiline, min_length, max_length } => {
            let s = if *multiline { multi_line(get(n)) } else { single_line(get(n)) };
            if s.is_empty() {
                return e.empty();
            }
            let len = chars(&s);
            if len > *max_length {
                return e.add(n, ErrorCode::TooLong { max: *max_length });
            }
            if let Some(min) = min_length.filter(|m| len < *m) {
                return e.add(n, ErrorCode::TooShort { min });
            }
            Some(Value::Text(s))
        }
        FieldKind::Number { min, max, integer } => {
            let raw: String = single_line(get(n)).chars().filter(|&c| c != ',' && !c.is_whitespace()).collect();
            if raw.is_empty() {
                return e.empty();
            }
            let Some(x) = parse_number(&raw) else {
                return e.add(n, ErrorCode::NotANumber);
            };
            if *integer && x.fract() != 0.0 {
                return e.add(n, ErrorCode::NotAnInteger);
            }
            if let Some(min) = min.filter(|m| x < *m) {
                let min = format_number(min);
                return e.add(n, ErrorCode::NumberTooSmall { min });
            }
            if let Some(max) = max.filter(|m| x > *m) {
                let max = format_number(max);
                return e.add(n, ErrorCode::NumberTooLarge { max });
            }
            Some(Value::Number(x))
        }
        FieldKind::Scale { min, max, .. } => {
            let raw = single_line(get(n));
            if raw.is_empty() {
                return e.empty();
            }
            match raw.parse::<i64>() {
                Ok(x) if (*min..=*max).contains(&x) => Some(Value::Number(x as f64)),
                _ => e.add(n, ErrorCode::UnknownChoice),
            }
        }
        FieldKind::Booking { .. } => {
            let raw = single_line(get(n));
            if raw.is_empty() {
                return e.empty();
            }
            let offered = Schedule::of(&field.kind)
                .zip(Slot::parse_key(&raw))
                .filter(|(schedule, slot)| schedule.offers(slot, today));
            match offered {
                Some((_, slot)) => Some(Value::Slot(slot.key())),
                None => e.add(n, ErrorCode::UnknownSlot),
            }
        }
        FieldKind::Consent { .. } => {
            if consent_ticked(get(n)) {
                Some(Value::Consent(true))
            } else if field.required {
                e.add(n, ErrorCode::ConsentRequired)
            } else {
                None
            }
        }
        // Each file was judged as it streamed in ([`crate::files::judge`]);
        // judged again here against the field as it is now (a reference
        // may come back from a draft made with an older version).
        FieldKind::File { accept, max_mb, max_files } => {
            let files = input.files(n);
            if files.is_empty() {
                return e.empty();
            }
            if files.len() > *max_files as usize {
                return e.add(n, ErrorCode::TooManyFiles { max: *max_files });
            }
            if files.iter().any(|f| !accept.contains(&f.file_type)) {
                return e.add(n, ErrorCode::FileNotAccepted { accept: accept.clone() });
            }
            if files.iter().any(|f| f.size > crate::files::max_bytes(*max_mb)) {
                return e.add(n, ErrorCode::FileTooLarge { max_mb: *max_mb });
            }
            Some(Value::Files(files.into_iter().cloned().collect()))
        }
    }
}

/// `-12`, `3.5`, `1000`: no exponents, no `inf`/`NaN`, which `f64::from_str`
/// would accept.
fn parse_number(s: &str) -> Option<f64> {
    if s.len() > NUMBER_MAX_CHARS {
        return None;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    let x: f64 = s.parse().ok()?;
    // -0 and 0 are one answer.
    x.is_finite().then_some(x + 0.0)
}

#[cfg(test)]
mod tests;
