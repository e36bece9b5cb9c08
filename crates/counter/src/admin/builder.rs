//! The form builder: a form admin lists the tenant's forms and the
//! prefecture's templates, edits a form field by field, previews it as a
//! resident sees it, and publishes it as a new version; TOML export and
//! import round-trip what `madoguchi form check` validates.
//!
//! The editor keeps no draft on the server: every button is a plain POST
//! carrying the whole definition in the form's inputs, and the only write
//! is `Store::publish_form` (or `adopt_template`), each entered in the
//! ledger. The posted inputs are turned into TOML and read back with
//! `FormDefinition::check`, so the editor refuses exactly what the CLI
//! refuses, and each problem's line tells which input it is about.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use forms::{FormDefinition, Lang};
use ledger::EventKind;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{Fields, Visitor};
use crate::{Counter, PageError};

type Shared = State<Arc<Counter>>;

/// More fields than any real form has; bounds the work one POST can ask for.
const MAX_FIELDS: usize = 100;

/// The field types the builder offers, in the order of its menu: every
/// type the forms crate accepts.
fn field_types() -> &'static [&'static str] {
    forms::FIELD_TYPES
}

/// The keys of each type that have inputs of their own in the editor; any
/// other key of a field (a kind the editor has no inputs for yet) is kept
/// as TOML lines in the field's "other settings".
fn structured_keys(ty: &str) -> &'static [&'static str] {
    if has_inputs(ty) {
        forms::type_keys(ty)
    } else {
        &[]
    }
}

/// Types whose settings have no inputs of their own yet: their keys are
/// edited as TOML lines. Every type the forms crate has now has inputs; a
/// kind added there later goes here until the editor draws it.
const WITHOUT_INPUTS: &[&str] = &[];

fn has_inputs(ty: &str) -> bool {
    forms::FIELD_TYPES.contains(&ty) && !WITHOUT_INPUTS.contains(&ty)
}

/// The days a booking field may open on, as the forms crate writes them.
const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The file types a file field may accept, as the forms crate names them
/// (`accept = ["pdf", …]`), in the order of the checkboxes.
fn file_types() -> [&'static str; 5] {
    forms::files::FileType::ALL.map(forms::files::FileType::name)
}

const COMMON_KEYS: &[&str] = &["name", "type", "label", "help", "required", "show_when"];
/// The form's own keys with inputs of their own; others are kept as TOML lines.
const TOP_KEYS: &[&str] = &["id", "title", "description", "max_body_bytes", "anonymous", "fields"];

/// The form being edited, exactly as its inputs carry it (numbers as typed:
/// a wrong one is reported by the check, not lost).
#[derive(Debug, Clone, Default, Serialize)]
struct Sheet {
    id: String,
    title_ja: String,
    title_en: String,
    description_ja: String,
    description_en: String,
    max_body_bytes: String,
    /// An anonymous survey (no field may say who the resident is).
    anonymous: bool,
    /// The form's settings without inputs of their own, as TOML lines.
    extra: String,
    /// The id of the published form this edit started from ("" for a new
    /// form): saving under another form's id is refused.
    editing: String,
    /// The version this edit started from: saving over a version published
    /// meanwhile is refused.
    base: String,
    fields: Vec<FieldSheet>,
}

#[derive(Debug, Clone, Default, Serialize)]
struct FieldSheet {
    name: String,
    ty: String,
    /// The type the inputs below were drawn for: when the type is changed,
    /// its settings start from that type's defaults.
    was: String,
    label_ja: String,
    label_en: String,
    help_ja: String,
    help_en: String,
    required: bool,
    show_field: String,
    show_equals: String,
    furigana: bool,
    confirm: bool,
    multiple: bool,
    /// One option a line: `value|日本語|English`.
    options: String,
    multiline: bool,
    min_length: String,
    max_length: String,
    min: String,
    max: String,
    integer: bool,
    date_min: String,
    date_max: String,
    statement_ja: String,
    statement_en: String,
    min_label_ja: String,
    min_label_en: String,
    max_label_ja: String,
    max_label_en: String,
    /// A booking's days (`mon`…), times as typed (`09:30, 10:00`), slot
    /// length, places per slot, closed dates (one a line), date bounds.
    weekdays: Vec<String>,
    times: String,
    minutes: String,
    capacity: String,
    closed: String,
    from: String,
    until: String,
    holidays_closed: bool,
    /// A file field's accepted types (`pdf`…), the largest size of a file
    /// in MB and how many files it takes, as typed.
    accept: Vec<String>,
    max_mb: String,
    max_files: String,
    /// Settings without inputs of their own, as TOML lines.
    extra: String,
}

impl FieldSheet {
    /// A field of type `ty` with that type's defaults (as the forms crate
    /// has them).
    fn new(name: String, ty: &str) -> FieldSheet {
        let mut field = FieldSheet { name, ty: ty.to_owned(), ..FieldSheet::default() };
        field.reset_settings();
        field
    }

    fn reset_settings(&mut self) {
        let (name, ty) = (std::mem::take(&mut self.name), std::mem::take(&mut self.ty));
        let keep = FieldSheet {
            name,
            ty: ty.clone(),
            was: ty,
            label_ja: std::mem::take(&mut self.label_ja),
            label_en: std::mem::take(&mut self.label_en),
            help_ja: std::mem::take(&mut self.help_ja),
            help_en: std::mem::take(&mut self.help_en),
            required: self.required,
            show_field: std::mem::take(&mut self.show_field),
            show_equals: std::mem::take(&mut self.show_equals),
            furigana: true,
            confirm: true,
            integer: true,
            max_length: "200".into(),
            weekdays: WEEKDAYS[..5].iter().map(|d| (*d).to_owned()).collect(),
            minutes: "30".into(),
            from: "today+1".into(),
            until: "today+30".into(),
            holidays_closed: true,
            accept: file_types().iter().map(|t| (*t).to_owned()).collect(),
            max_mb: "10".into(),
            max_files: "1".into(),
            ..FieldSheet::default()
        };
        *self = keep;
    }
}

fn posted_bool(fields: &Fields, key: &str) -> bool {
    matches!(fields.get(key), "on" | "yes" | "true" | "1")
}

impl Sheet {
    fn from_posted(posted: &Fields) -> Sheet {
        let text = |key: &str| posted.get(key).to_owned();
        let count = posted.get("count").trim().parse::<usize>().unwrap_or(0).min(MAX_FIELDS);
        let fields = (0..count)
            .map(|i| {
                let key = |k: &str| format!("f{i}.{k}");
                let get = |k: &str| posted.get(&key(k)).to_owned();
                let flag = |k: &str| posted_bool(posted, &key(k));
                let mut field = FieldSheet {
                    name: get("name").trim().to_owned(),
                    ty: get("type").trim().to_owned(),
                    was: get("was").trim().to_owned(),
                    label_ja: get("label_ja"),
                    label_en: get("label_en"),
                    help_ja: get("help_ja"),
                    help_en: get("help_en"),
                    required: flag("required"),
                    show_field: get("show_field").trim().to_owned(),
                    show_equals: get("show_equals"),
                    furigana: flag("furigana"),
                    confirm: flag("confirm"),
                    multiple: flag("multiple"),
                    options: get("options"),
                    multiline: flag("multiline"),
                    min_length: get("min_length"),
                    max_length: get("max_length"),
                    min: get("min"),
                    max: get("max"),
                    integer: flag("integer"),
                    date_min: get("date_min"),
                    date_max: get("date_max"),
                    statement_ja: get("statement_ja"),
                    statement_en: get("statement_en"),
                    min_label_ja: get("min_label_ja"),
                    min_label_en: get("min_label_en"),
                    max_label_ja: get("max_label_ja"),
                    max_label_en: get("max_label_en"),
                    weekdays: WEEKDAYS.iter().filter(|d| flag(&format!("wd_{d}"))).map(|d| (*d).to_owned()).collect(),
                    times: get("times"),
                    minutes: get("minutes"),
                    capacity: get("capacity"),
                    closed: get("closed"),
                    from: get("from"),
                    until: get("until"),
                    holidays_closed: flag("holidays_closed"),
                    accept: file_types()
                        .iter()
                        .filter(|t| flag(&format!("accept_{t}")))
                        .map(|t| (*t).to_owned())
                        .collect(),
                    max_mb: get("max_mb"),
                    max_files: get("max_files"),
                    extra: get("extra"),
                };
                if field.ty.is_empty() {
                    field.ty = "text".into();
                }
                if field.ty != field.was {
                    field.reset_settings();
                }
                field
            })
            .collect();
        Sheet {
            id: text("id").trim().to_owned(),
            title_ja: text("title_ja"),
            title_en: text("title_en"),
            description_ja: text("description_ja"),
            description_en: text("description_en"),
            max_body_bytes: text("max_body_bytes").trim().to_owned(),
            anonymous: posted_bool(posted, "anonymous"),
            extra: text("extra"),
            editing: text("editing").trim().to_owned(),
            base: text("base").trim().to_owned(),
            fields,
        }
    }

    /// The inputs that carry this sheet, as posted (the preview's way back).
    fn pairs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = [
            ("id", &self.id),
            ("title_ja", &self.title_ja),
            ("title_en", &self.title_en),
            ("description_ja", &self.description_ja),
            ("description_en", &self.description_en),
            ("max_body_bytes", &self.max_body_bytes),
            ("extra", &self.extra),
            ("editing", &self.editing),
            ("base", &self.base),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
        if self.anonymous {
            out.push(("anonymous".into(), "on".into()));
        }
        out.push(("count".into(), self.fields.len().to_string()));
        for (i, f) in self.fields.iter().enumerate() {
            let texts = [
                ("name", &f.name),
                ("type", &f.ty),
                ("was", &f.was),
                ("label_ja", &f.label_ja),
                ("label_en", &f.label_en),
                ("help_ja", &f.help_ja),
                ("help_en", &f.help_en),
                ("show_field", &f.show_field),
                ("show_equals", &f.show_equals),
                ("options", &f.options),
                ("min_length", &f.min_length),
                ("max_length", &f.max_length),
                ("min", &f.min),
                ("max", &f.max),
                ("date_min", &f.date_min),
                ("date_max", &f.date_max),
                ("statement_ja", &f.statement_ja),
                ("statement_en", &f.statement_en),
                ("min_label_ja", &f.min_label_ja),
                ("min_label_en", &f.min_label_en),
                ("max_label_ja", &f.max_label_ja),
                ("max_label_en", &f.max_label_en),
                ("times", &f.times),
                ("minutes", &f.minutes),
                ("capacity", &f.capacity),
                ("closed", &f.closed),
                ("from", &f.from),
                ("until", &f.until),
                ("max_mb", &f.max_mb),
                ("max_files", &f.max_files),
                ("extra", &f.extra),
            ];
            for (k, v) in texts {
                out.push((format!("f{i}.{k}"), v.clone()));
            }
            let flags = [
                ("required", f.required),
                ("furigana", f.furigana),
                ("confirm", f.confirm),
                ("multiple", f.multiple),
                ("multiline", f.multiline),
                ("integer", f.integer),
                ("holidays_closed", f.holidays_closed),
            ];
            for (k, on) in flags {
                if on {
                    out.push((format!("f{i}.{k}"), "on".into()));
                }
            }
            for day in &f.weekdays {
                out.push((format!("f{i}.wd_{day}"), "on".into()));
            }
            for ty in &f.accept {
                out.push((format!("f{i}.accept_{ty}"), "on".into()));
            }
        }
        out
    }

    /// The sheet of a checked definition.
    fn from_definition(def: &FormDefinition) -> Sheet {
        let fields = def.fields.iter().map(field_sheet).collect();
        // Read through serde, like the fields, so keys added to the forms
        // crate later are kept.
        let json = serde_json::to_value(def).unwrap_or_default();
        let map = json.as_object().cloned().unwrap_or_default();
        let extra: Vec<String> = map
            .iter()
            .filter(|(k, _)| !TOP_KEYS.contains(&k.as_str()))
            .filter_map(|(k, v)| json_toml(v).map(|v| format!("{} = {v}", toml_key(k))))
            .collect();
        Sheet {
            anonymous: map.get("anonymous").and_then(|v| v.as_bool()).unwrap_or(false),
            extra: extra.join("\n"),
            id: def.id.clone(),
            title_ja: def.title.ja.clone(),
            title_en: def.title.en.clone().unwrap_or_default(),
            description_ja: def.description.as_ref().map(|d| d.ja.clone()).unwrap_or_default(),
            description_en: def.description.as_ref().and_then(|d| d.en.clone()).unwrap_or_default(),
            max_body_bytes: def.max_body_bytes.to_string(),
            editing: String::new(),
            base: String::new(),
            fields,
        }
    }

    /// The sheet as a form file, and which input each line came from.
    fn to_source(&self) -> (String, Vec<Owner>) {
        let mut src = Source::default();
        src.line(Owner::Top("id"), format!("id = {}", quote(self.id.trim())));
        src.line(Owner::Top("title"), format!("title = {}", text_toml(&self.title_ja, &self.title_en)));
        if !self.description_ja.trim().is_empty() || !self.description_en.trim().is_empty() {
            src.line(
                Owner::Top("description"),
                format!("description = {}", text_toml(&self.description_ja, &self.description_en)),
            );
        }
        if !self.max_body_bytes.is_empty() {
            src.line(Owner::Top("max_body_bytes"), format!("max_body_bytes = {}", integer(&self.max_body_bytes)));
        }
        if self.anonymous {
            src.line(Owner::Top("anonymous"), "anonymous = true".into());
        }
        for line in self.extra.lines().map(str::trim).filter(|l| !l.is_empty()) {
            src.line(Owner::Top("extra"), line.to_owned());
        }
        for (i, f) in self.fields.iter().enumerate() {
            field_source(&mut src, i, f);
        }
        (src.text, src.owners)
    }
}

/// Which input a line of the generated file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Top(&'static str),
    /// (field index, key; "" for the field as a whole)
    Field(usize, &'static str),
}

#[derive(Default)]
struct Source {
    text: String,
    owners: Vec<Owner>,
}

impl Source {
    fn line(&mut self, owner: Owner, line: String) {
        // A value typed with a line break stays on one line: `quote` escapes it.
        self.text.push_str(&line);
        self.text.push('\n');
        self.owners.push(owner);
    }
}

/// A TOML basic string, escaped.
fn quote(s: &str) -> String {
    forms::toml_string(s)
}

fn text_toml(ja: &str, en: &str) -> String {
    let (ja, en) = (ja.trim(), en.trim());
    if en.is_empty() {
        format!("{{ ja = {} }}", quote(ja))
    } else {
        format!("{{ ja = {}, en = {} }}", quote(ja), quote(en))
    }
}

/// A typed whole number as TOML, or (when it is not one) as a string, so
/// the check names the input rather than the editor guessing.
fn integer(typed: &str) -> String {
    let typed = forms::nfkc(typed.trim());
    match typed.parse::<i64>() {
        Ok(n) => n.to_string(),
        Err(_) => quote(&typed),
    }
}

/// A typed number as TOML (whole numbers as integers, as `to_toml` writes
/// them), or as a string for the check to refuse.
fn number(typed: &str) -> String {
    let typed = forms::nfkc(typed.trim());
    match typed.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Ok(x) if x.is_finite() => format!("{x:?}"),
        _ => quote(&typed),
    }
}

/// Options as typed, one a line: `value|日本語|English` (the Japanese label
/// defaults to the value).
fn parse_options(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, '|').map(str::trim);
            let value = parts.next().unwrap_or_default().to_owned();
            let ja = parts.next().filter(|s| !s.is_empty()).unwrap_or(&value).to_owned();
            let en = parts.next().unwrap_or_default().to_owned();
            (value, ja, en)
        })
        .collect()
}

fn field_source(src: &mut Source, i: usize, f: &FieldSheet) {
    let at = |key| Owner::Field(i, key);
    src.line(at(""), String::new());
    src.line(at(""), "[[fields]]".into());
    src.line(at("name"), format!("name = {}", quote(&f.name)));
    src.line(at("type"), format!("type = {}", quote(&f.ty)));
    src.line(at("label"), format!("label = {}", text_toml(&f.label_ja, &f.label_en)));
    if !f.help_ja.trim().is_empty() || !f.help_en.trim().is_empty() {
        src.line(at("help"), format!("help = {}", text_toml(&f.help_ja, &f.help_en)));
    }
    src.line(at("required"), format!("required = {}", f.required));
    if !f.show_field.is_empty() || !f.show_equals.trim().is_empty() {
        src.line(
            at("show_when"),
            format!("show_when = {{ field = {}, equals = {} }}", quote(&f.show_field), quote(f.show_equals.trim())),
        );
    }
    let optional_text = |src: &mut Source, key: &'static str, toml_key: &str, value: &str| {
        if !value.trim().is_empty() {
            src.line(at(key), format!("{toml_key} = {}", quote(value.trim())));
        }
    };
    match f.ty.as_str() {
        "name" => src.line(at("furigana"), format!("furigana = {}", f.furigana)),
        "email" => src.line(at("confirm"), format!("confirm = {}", f.confirm)),
        "date" => {
            optional_text(src, "date_min", "min", &f.date_min);
            optional_text(src, "date_max", "max", &f.date_max);
        }
        "text" => {
            src.line(at("multiline"), format!("multiline = {}", f.multiline));
            if !f.min_length.trim().is_empty() {
                src.line(at("min_length"), format!("min_length = {}", integer(&f.min_length)));
            }
            if !f.max_length.trim().is_empty() {
                src.line(at("max_length"), format!("max_length = {}", integer(&f.max_length)));
            }
        }
        "number" => {
            if !f.min.trim().is_empty() {
                src.line(at("min"), format!("min = {}", number(&f.min)));
            }
            if !f.max.trim().is_empty() {
                src.line(at("max"), format!("max = {}", number(&f.max)));
            }
            src.line(at("integer"), format!("integer = {}", f.integer));
        }
        "consent" => src.line(at("statement"), format!("statement = {}", text_toml(&f.statement_ja, &f.statement_en))),
        "choice" => src.line(at("multiple"), format!("multiple = {}", f.multiple)),
        "scale" => {
            if !f.min.trim().is_empty() {
                src.line(at("min"), format!("min = {}", integer(&f.min)));
            }
            if !f.max.trim().is_empty() {
                src.line(at("max"), format!("max = {}", integer(&f.max)));
            }
            if !f.min_label_ja.trim().is_empty() || !f.min_label_en.trim().is_empty() {
                src.line(at("min_label"), format!("min_label = {}", text_toml(&f.min_label_ja, &f.min_label_en)));
            }
            if !f.max_label_ja.trim().is_empty() || !f.max_label_en.trim().is_empty() {
                src.line(at("max_label"), format!("max_label = {}", text_toml(&f.max_label_ja, &f.max_label_en)));
            }
        }
        "booking" => {
            let list = |items: Vec<String>| items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ");
            src.line(at("weekdays"), format!("weekdays = [{}]", list(f.weekdays.clone())));
            let times = forms::nfkc(&f.times);
            let times: Vec<String> =
                times.split([',', '、', ' ']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
            src.line(at("times"), format!("times = [{}]", list(times)));
            if !f.minutes.trim().is_empty() {
                src.line(at("minutes"), format!("minutes = {}", integer(&f.minutes)));
            }
            src.line(at("capacity"), format!("capacity = {}", integer(&f.capacity)));
            let closed: Vec<String> =
                f.closed.lines().map(|l| forms::nfkc(l.trim())).filter(|l| !l.is_empty()).collect();
            if !closed.is_empty() {
                src.line(at("closed"), format!("closed = [{}]", list(closed)));
            }
            optional_text(src, "from", "from", &f.from);
            optional_text(src, "until", "until", &f.until);
            src.line(at("holidays_closed"), format!("holidays_closed = {}", f.holidays_closed));
        }
        "file" => {
            // None ticked is written as such, for the check to refuse.
            let accept = f.accept.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", ");
            src.line(at("accept"), format!("accept = [{accept}]"));
            if !f.max_mb.trim().is_empty() {
                src.line(at("max_mb"), format!("max_mb = {}", integer(&f.max_mb)));
            }
            if !f.max_files.trim().is_empty() {
                src.line(at("max_files"), format!("max_files = {}", integer(&f.max_files)));
            }
        }
        _ => {}
    }
    // Other settings before the options: `[[fields.options]]` ends the
    // field's own keys.
    for line in f.extra.lines().map(str::trim).filter(|l| !l.is_empty()) {
        src.line(at("extra"), line.to_owned());
    }
    if f.ty == "choice" {
        let options = parse_options(&f.options);
        if options.is_empty() {
            src.line(at("options"), "options = []".into());
        }
        for (value, ja, en) in options {
            src.line(at("options"), "[[fields.options]]".into());
            src.line(at("options"), format!("value = {}", quote(&value)));
            src.line(at("options"), format!("label = {}", text_toml(&ja, &en)));
        }
    }
}

/// A JSON value (a field as serde writes it) as an inline TOML value.
fn json_toml(value: &serde_json::Value) -> Option<String> {
    Some(match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(x)) => number(&format!("{x:?}")),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => quote(s),
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().filter_map(json_toml).collect::<Vec<_>>().join(", "))
        }
        serde_json::Value::Object(map) => {
            let entries: Vec<String> =
                map.iter().filter_map(|(k, v)| json_toml(v).map(|v| format!("{} = {v}", toml_key(k)))).collect();
            format!("{{ {} }}", entries.join(", "))
        }
    })
}

fn toml_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        key.to_owned()
    } else {
        quote(key)
    }
}

/// One field of a checked definition as the editor's inputs. Read through
/// serde so kinds added to the forms crate later still load: their settings
/// land in "other settings" as TOML.
fn field_sheet(field: &forms::Field) -> FieldSheet {
    let json = serde_json::to_value(field).unwrap_or_default();
    let map = json.as_object().cloned().unwrap_or_default();
    let s = |key: &str| map.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let b = |key: &str| map.get(key).and_then(|v| v.as_bool()).unwrap_or(false);
    let n = |key: &str| map.get(key).filter(|v| !v.is_null()).and_then(json_toml).unwrap_or_default();
    let text = |key: &str| {
        let t = map.get(key);
        let ja = t.and_then(|t| t.get("ja")).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let en = t.and_then(|t| t.get("en")).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        (ja, en)
    };
    let ty = s("type");
    let (label_ja, label_en) = text("label");
    let (help_ja, help_en) = text("help");
    let (statement_ja, statement_en) = text("statement");
    let (min_label_ja, min_label_en) = text("min_label");
    let (max_label_ja, max_label_en) = text("max_label");
    let strings = |key: &str| -> Vec<String> {
        map.get(key)
            .and_then(|v| v.as_array())
            .map(|items| items.iter().filter_map(|v| v.as_str()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let condition = map.get("show_when");
    let cond = |k: &str| condition.and_then(|c| c.get(k)).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let options = map
        .get("options")
        .and_then(|v| v.as_array())
        .map(|options| {
            options
                .iter()
                .map(|o| {
                    let value = o.get("value").and_then(|v| v.as_str()).unwrap_or_default();
                    let label = o.get("label");
                    let ja = label.and_then(|l| l.get("ja")).and_then(|v| v.as_str()).unwrap_or_default();
                    match label.and_then(|l| l.get("en")).and_then(|v| v.as_str()) {
                        Some(en) => format!("{value}|{ja}|{en}"),
                        None => format!("{value}|{ja}"),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let own = structured_keys(&ty);
    let extra: Vec<String> = map
        .iter()
        .filter(|(k, _)| !COMMON_KEYS.contains(&k.as_str()) && !own.contains(&k.as_str()))
        .filter_map(|(k, v)| json_toml(v).map(|v| format!("{} = {v}", toml_key(k))))
        .collect();
    let is_date = ty == "date";
    FieldSheet {
        name: s("name"),
        was: ty.clone(),
        label_ja,
        label_en,
        help_ja,
        help_en,
        required: b("required"),
        show_field: cond("field"),
        show_equals: cond("equals"),
        furigana: b("furigana"),
        confirm: b("confirm"),
        multiple: b("multiple"),
        options,
        multiline: b("multiline"),
        min_length: n("min_length"),
        max_length: n("max_length"),
        min: if is_date { String::new() } else { n("min") },
        max: if is_date { String::new() } else { n("max") },
        integer: b("integer"),
        date_min: if is_date { s("min") } else { String::new() },
        date_max: if is_date { s("max") } else { String::new() },
        statement_ja,
        statement_en,
        min_label_ja,
        min_label_en,
        max_label_ja,
        max_label_en,
        weekdays: strings("weekdays"),
        times: strings("times").join(", "),
        minutes: n("minutes"),
        capacity: n("capacity"),
        closed: strings("closed").join("\n"),
        from: s("from"),
        until: s("until"),
        holidays_closed: b("holidays_closed"),
        accept: strings("accept"),
        max_mb: n("max_mb"),
        max_files: n("max_files"),
        extra: extra.join("\n"),
        ty,
    }
}

/// A problem of the check, placed at its input.
#[derive(Debug, Clone, Serialize)]
struct Problem {
    /// The id of the input it is about (the summary links there).
    input: String,
    line: usize,
    column: usize,
    /// "3行目 5文字目" / "line 3, column 5".
    place: String,
    message: String,
    /// The check's own words, when `message` is a translation.
    detail: Option<String>,
}

/// The check's message in the console's language: the common problems in
/// Japanese (with the original kept beside), anything else as the check
/// says it.
fn problem_text(message: &str, lang: Lang) -> (String, Option<String>) {
    if lang == Lang::En {
        return (message.to_owned(), None);
    }
    const JA: &[(&str, &str)] = &[
        ("invalid field name", "項目名は英小文字で始め、英小文字・数字・「_」だけで書いてください。"),
        ("duplicate field name", "この項目名は既に使われています。"),
        ("a choice needs at least one option", "選択肢を1つ以上入力してください。"),
        ("duplicate option value", "選択肢の値が重複しています。"),
        ("empty option value", "選択肢の値が空です。"),
        ("unknown type", "項目の種類が正しくありません。"),
        ("unknown key", "この種類では使えない設定があります。"),
        ("invalid form id", "様式IDは英小文字・数字・「-」で書いてください。"),
        ("empty Japanese text", "日本語の文を入力してください。"),
        ("needs a Japanese text", "日本語の文を入力してください。"),
        ("at least one field", "項目を1つ以上追加してください。"),
        ("show_when refers to unknown field", "表示条件の項目が見つかりません。"),
        ("show_when refers to the field itself", "表示条件に項目自身は指定できません。"),
        ("which comes later", "表示条件には、この項目より前の項目を指定してください。"),
        ("is not an option value", "表示条件の値が、その項目の選択肢の値にありません。"),
        ("must use equals = \"yes\"", "同意の項目を条件にするときは、値を yes にしてください。"),
        ("show_when.equals is empty", "表示条件の値を入力してください。"),
        ("must not be negative", "0以上の整数を入力してください。"),
        ("must be an integer", "整数を入力してください。"),
        ("must be a number", "数値を入力してください。"),
        ("must be a finite number", "数値を入力してください。"),
        ("is greater than", "最小が最大を超えています。"),
        ("is after", "開始日が終了日より後になっています。"),
        ("must be at least 1", "1以上の数を入力してください。"),
        ("missing key", "必要な設定がありません。"),
        ("TOML syntax error", "TOMLの書き方に誤りがあります。"),
        ("invalid date bound", "日付の指定が正しくありません（例：2026-04-01、today、today+90）。"),
        ("must list at least one file type", "受け付けるファイルの種類を1つ以上選んでください。"),
        (
            "an anonymous form may not ask for",
            "匿名アンケートでは、氏名・住所・電話番号・メールアドレス・添付ファイルなど、回答者がわかる項目は使えません。",
        ),
    ];
    if let Some((lo, hi)) = range_of(message) {
        return (format!("{lo}から{hi}までの整数を入力してください。"), Some(message.to_owned()));
    }
    match JA.iter().find(|(pattern, _)| message.contains(pattern)) {
        Some((_, ja)) => ((*ja).to_owned(), Some(message.to_owned())),
        None => (message.to_owned(), None),
    }
}

/// The bounds of a "\"max_mb\" must be from 1 to 50" (a count out of
/// its range).
fn range_of(message: &str) -> Option<(u64, u64)> {
    let (lo, rest) = message.split_once("must be from ")?.1.split_once(" to ")?;
    let hi: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((lo.parse().ok()?, hi.parse().ok()?))
}

fn place(lang: Lang, line: usize, column: usize) -> String {
    match lang {
        Lang::Ja => format!("{line}行目 {column}文字目"),
        Lang::En => format!("line {line}, column {column}"),
    }
}

/// The id of an editor input, as the template writes it.
fn input_id(owner: Owner) -> String {
    match owner {
        Owner::Top(key) => {
            let input = match key {
                "title" => "title_ja",
                "description" => "description_ja",
                "anonymous" => "anonymous",
                "fields" => "add",
                other => other,
            };
            format!("b-{input}")
        }
        Owner::Field(i, key) => {
            let input = match key {
                "" => "legend",
                "label" => "label_ja",
                "help" => "help_ja",
                "show_when" => "show_field",
                "statement" => "statement_ja",
                "min_label" => "min_label_ja",
                "max_label" => "max_label_ja",
                other => other,
            };
            format!("b-f{i}-{input}")
        }
    }
}

/// Checks the sheet as the CLI checks a file: the definition, or every
/// problem placed at its input.
fn check_sheet(sheet: &Sheet, lang: Lang) -> (String, Result<FormDefinition, Vec<Problem>>) {
    let (src, owners) = sheet.to_source();
    let result = FormDefinition::check(&src).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                let owner = if e.message.contains("at least one field") {
                    Owner::Top("fields")
                } else {
                    owners.get(e.line.saturating_sub(1)).copied().unwrap_or(Owner::Top("id"))
                };
                let (message, detail) = problem_text(&e.message, lang);
                let place = place(lang, e.line, e.column);
                Problem { input: input_id(owner), line: e.line, column: e.column, place, message, detail }
            })
            .collect()
    });
    (src, result)
}

/// What the editor page shows besides the sheet.
#[derive(Default)]
struct Outcome<'a> {
    problems: Vec<Problem>,
    /// A string key of strings.rs.
    notice: Option<&'a str>,
    error: Option<&'a str>,
    source: Option<String>,
}

fn editor_page(
    counter: &Counter,
    visitor: &Visitor,
    tenant: &store::Tenant,
    sheet: &Sheet,
    outcome: Outcome<'_>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let page = editor_context(tenant_view(tenant, visitor.lang), sheet, outcome);
    counter.admin_pages.render_status(visitor, status, "admin/builder.html", page)
}

/// What admin/builder.html draws the editor from (besides the common
/// context of every admin page).
fn editor_context(tenant: minijinja::Value, sheet: &Sheet, outcome: Outcome<'_>) -> minijinja::Value {
    let source = outcome.source.unwrap_or_else(|| sheet.to_source().0);
    let mut by_input: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &outcome.problems {
        by_input.entry(p.input.clone()).or_default().push(p.message.clone());
    }
    let types: Vec<_> = field_types().iter().map(|ty| context! { value => ty }).collect();
    let file_types: Vec<_> =
        forms::files::FileType::ALL.iter().map(|t| context! { name => t.name(), label => t.label() }).collect();
    let fields: Vec<_> = sheet
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // A condition may name an earlier field only; the current
            // choice is kept even when it is not one (the check says why).
            let mut earlier: Vec<String> =
                sheet.fields[..i].iter().map(|e| e.name.clone()).filter(|n| !n.is_empty()).collect();
            if !f.show_field.is_empty() && !earlier.contains(&f.show_field) {
                earlier.push(f.show_field.clone());
            }
            let mut types: Vec<String> = field_types().iter().map(|t| (*t).to_owned()).collect();
            if !types.contains(&f.ty) {
                types.push(f.ty.clone());
            }
            context! {
                index => i, number => i + 1, last => i + 1 == sheet.fields.len(), f => f, earlier => earlier,
                types => types,
                show_extra => !f.extra.trim().is_empty() || !has_inputs(&f.ty),
            }
        })
        .collect();
    context! {
        tenant => tenant,
        sheet => sheet, fields => fields, types => types, weekdays => WEEKDAYS, file_types => file_types,
        problems => outcome.problems, by_input => by_input,
        notice => outcome.notice, error => outcome.error,
        source_lines => source.lines().collect::<Vec<_>>(),
    }
}

fn tenant_view(tenant: &store::Tenant, lang: Lang) -> minijinja::Value {
    let name = if lang == Lang::En { tenant.name_en.clone() } else { tenant.name_ja.clone() };
    context! { id => tenant.id.clone(), name => name }
}

async fn tenant_of(counter: &Counter, id: &str) -> Result<store::Tenant, PageError> {
    counter.store.tenant(id).await?.ok_or(PageError::NotFound)
}

/// Enters a change to the tenant's forms in the ledger.
async fn record(counter: &Counter, visitor: &Visitor, tenant: &str, form: &str, detail: &str) -> Result<(), PageError> {
    let actor = visitor.actor();
    let mut event =
        store::event(EventKind::AdminAction, &actor.name, Some(tenant), Some(&format!("form:{form}")), detail);
    event.source = actor.source;
    counter.store.record_event(&event).await?;
    Ok(())
}

/// After a publish or an adoption, which form and version to announce.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FormsQuery {
    published: Option<String>,
    adopted: Option<String>,
    version: Option<i64>,
}

/// The tenant's forms (with edit and export links), a new form, import,
/// and the prefecture's templates to adopt.
pub(crate) async fn forms(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    Query(query): Query<FormsQuery>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let lang = visitor.lang;
    let own = counter.store.tenant_forms(&tenant.id).await?;
    let title_of = |definition: &str, fallback: &str| {
        FormDefinition::parse(definition).map(|d| d.title.get(lang).to_owned()).unwrap_or_else(|_| fallback.to_owned())
    };
    let rows: Vec<_> = own
        .iter()
        .map(|f| {
            context! {
                id => f.form_id.clone(), title => title_of(&f.definition, &f.form_id), version => f.version,
                template => f.template.as_ref().map(|(g, v)| format!("{g} v{v}")),
                published => super::format_jst(f.published_at),
            }
        })
        .collect();
    let mut templates = Vec::new();
    if let Some(group) = &tenant.group_id {
        for t in counter.store.group_templates(group).await? {
            let copy = own.iter().find(|f| f.form_id == t.form_id);
            let state = match copy.map(|f| &f.template) {
                None => "template_not_adopted",
                Some(Some((g, v))) if g == group && *v == t.version => "template_adopted",
                Some(Some((g, _))) if g == group => "template_newer",
                Some(_) => "template_own_version",
            };
            templates.push(context! {
                id => t.form_id.clone(), title => title_of(&t.definition, &t.form_id), version => t.version,
                state => state,
            });
        }
    }
    // Only a form of this tenant is announced: the query is the redirect's,
    // but anyone can write a link with one.
    let known = |form: &String| own.iter().any(|f| &f.form_id == form);
    let announced = match (query.published.as_ref().filter(|f| known(f)), query.adopted.as_ref().filter(|f| known(f))) {
        (Some(form), _) => Some(context! { key => "form_published", form => form, version => query.version }),
        (None, Some(form)) => {
            Some(context! { key => "template_adopted_notice", form => form, version => query.version })
        }
        _ => None,
    };
    counter.admin_pages.render(
        &visitor,
        "admin/forms.html",
        context! {
            tenant => tenant_view(&tenant, lang), forms => rows, templates => templates,
            group => tenant.group_id.clone(), announced => announced,
        },
    )
}

pub(crate) async fn new_form(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let sheet = Sheet { fields: vec![FieldSheet::new("field1".into(), "text")], ..Sheet::default() };
    editor_page(&counter, &visitor, &tenant, &sheet, Outcome::default(), StatusCode::OK)
}

pub(crate) async fn edit_form(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path((tenant, form)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let current = counter.store.current_form(&tenant.id, &form).await?.ok_or(PageError::NotFound)?;
    match FormDefinition::check(&current.definition) {
        Ok(def) => {
            let sheet = Sheet {
                editing: current.form_id.clone(),
                base: current.version.to_string(),
                ..Sheet::from_definition(&def)
            };
            editor_page(&counter, &visitor, &tenant, &sheet, Outcome::default(), StatusCode::OK)
        }
        // A version the rules of today refuse: shown as text with its
        // problems, to be fixed and loaded.
        Err(errors) => import_page(&counter, &visitor, &tenant, &current.definition, &errors, StatusCode::OK),
    }
}

/// The current version as the TOML `madoguchi form check` reads.
pub(crate) async fn export_form(
    State(counter): Shared,
    Path((tenant, form)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let current = counter.store.current_form(&tenant.id, &form).await?.ok_or(PageError::NotFound)?;
    // A stored text today's rules refuse goes out as stored, so it can be
    // fixed with the CLI.
    let text = FormDefinition::parse(&current.definition).map(|d| d.to_toml()).unwrap_or(current.definition);
    let file: String =
        current.form_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/toml; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}.toml\"")),
        ],
        text,
    )
        .into_response())
}

fn import_page(
    counter: &Counter,
    visitor: &Visitor,
    tenant: &store::Tenant,
    text: &str,
    errors: &[forms::CheckError],
    status: StatusCode,
) -> Result<Response, PageError> {
    let problems: Vec<_> = errors
        .iter()
        .map(|e| {
            let (message, detail) = problem_text(&e.message, visitor.lang);
            let place = place(visitor.lang, e.line, e.column);
            Problem { input: "b-toml".into(), line: e.line, column: e.column, place, message, detail }
        })
        .collect();
    let lines: Vec<_> = text
        .lines()
        .enumerate()
        .map(|(i, l)| context! { number => i + 1, text => l, bad => errors.iter().any(|e| e.line == i + 1) })
        .collect();
    counter.admin_pages.render_status(
        visitor,
        status,
        "admin/import.html",
        context! { tenant => tenant_view(tenant, visitor.lang), text => text, problems => problems, lines => lines },
    )
}

pub(crate) async fn import_form_page(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    import_page(&counter, &visitor, &tenant, "", &[], StatusCode::OK)
}

/// Checks pasted TOML: every problem with its line, or the definition
/// loaded into the editor for review (nothing is saved here).
pub(crate) async fn import_form(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    posted: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let text = posted.get("toml");
    match FormDefinition::check(text) {
        Err(errors) => import_page(&counter, &visitor, &tenant, text, &errors, StatusCode::UNPROCESSABLE_ENTITY),
        Ok(def) => {
            // Importing over a form of the tenant makes its next version.
            let current = counter.store.current_form(&tenant.id, &def.id).await?;
            let sheet = Sheet {
                editing: current.as_ref().map(|c| c.form_id.clone()).unwrap_or_default(),
                base: current.as_ref().map(|c| c.version.to_string()).unwrap_or_default(),
                ..Sheet::from_definition(&def)
            };
            let outcome = Outcome { notice: Some("imported_review"), ..Outcome::default() };
            editor_page(&counter, &visitor, &tenant, &sheet, outcome, StatusCode::OK)
        }
    }
}

/// The municipality takes the prefecture's latest template as a new
/// version of its own form.
pub(crate) async fn adopt(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    posted: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let group = tenant.group_id.clone().ok_or(PageError::NotFound)?;
    let form = posted.get("template").trim().to_owned();
    let (template_version, _) = counter.store.template(&group, &form).await?.ok_or(PageError::NotFound)?;
    let published = counter.store.adopt_template(&tenant.id, &group, &form).await?;
    if published.changed {
        let detail =
            format!("template {group}/{form} v{template_version} adopted as version {} (console)", published.version);
        record(&counter, &visitor, &tenant.id, &form, &detail).await?;
    }
    let query = serde_urlencoded::to_string([("adopted", form), ("version", published.version.to_string())])
        .map_err(|_| PageError::Internal)?;
    Ok(Redirect::to(&format!("/admin/t/{}/forms?{query}", tenant.id)).into_response())
}

/// Every button of the editor: add, remove, move, check, preview, back
/// from the preview, save.
pub(crate) async fn builder(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    posted: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let mut sheet = Sheet::from_posted(&posted);
    let op = posted.get("_op");
    let (verb, index) = match op.split_once('-') {
        Some((verb, i)) => (verb, i.parse::<usize>().ok().filter(|i| *i < sheet.fields.len())),
        None => (op, None),
    };
    match (verb, index) {
        ("add", _) if sheet.fields.len() < MAX_FIELDS => {
            let mut n = sheet.fields.len() + 1;
            while sheet.fields.iter().any(|f| f.name == format!("field{n}")) {
                n += 1;
            }
            sheet.fields.push(FieldSheet::new(format!("field{n}"), "text"));
        }
        ("remove", Some(i)) => {
            sheet.fields.remove(i);
        }
        ("up", Some(i)) if i > 0 => sheet.fields.swap(i, i - 1),
        ("down", Some(i)) if i + 1 < sheet.fields.len() => sheet.fields.swap(i, i + 1),
        ("preview" | "save", _) => {
            let (src, checked) = check_sheet(&sheet, visitor.lang);
            let def = match checked {
                Ok(def) => def,
                Err(problems) => {
                    let outcome =
                        Outcome { problems, error: Some("fix_before_saving"), source: Some(src), ..Outcome::default() };
                    return editor_page(&counter, &visitor, &tenant, &sheet, outcome, StatusCode::UNPROCESSABLE_ENTITY);
                }
            };
            return if verb == "preview" {
                preview(&counter, &visitor, &tenant, &sheet, &def)
            } else {
                save(&counter, &visitor, &tenant, &sheet, &def).await
            };
        }
        _ => {}
    }
    let (src, checked) = check_sheet(&sheet, visitor.lang);
    let outcome = Outcome { problems: checked.err().unwrap_or_default(), source: Some(src), ..Outcome::default() };
    editor_page(&counter, &visitor, &tenant, &sheet, outcome, StatusCode::OK)
}

fn preview(
    counter: &Counter,
    visitor: &Visitor,
    tenant: &store::Tenant,
    sheet: &Sheet,
    def: &FormDefinition,
) -> Result<Response, PageError> {
    let t = super::strings::strings(visitor.lang);
    let say = |key: &str| t.get(key).copied().unwrap_or_default().to_owned();
    let tools = context! {
        action => format!("/admin/t/{}/forms/builder", tenant.id),
        csrf => visitor.csrf.clone(),
        state => sheet.pairs(),
        note => say("preview_note"),
        back_label => say("preview_back"),
        save_label => say("save_new_version"),
    };
    crate::pages::render_preview(counter, visitor.lang, tenant, def, &say("preview_notice"), tools)
}

async fn save(
    counter: &Counter,
    visitor: &Visitor,
    tenant: &store::Tenant,
    sheet: &Sheet,
    def: &FormDefinition,
) -> Result<Response, PageError> {
    let current = counter.store.current_form(&tenant.id, &def.id).await?;
    let refuse = |error| {
        let outcome = Outcome { error: Some(error), ..Outcome::default() };
        editor_page(counter, visitor, tenant, sheet, outcome, StatusCode::CONFLICT)
    };
    if let Some(current) = &current {
        if sheet.editing != def.id {
            return refuse("form_id_taken");
        }
        if sheet.base != current.version.to_string() {
            return refuse("form_changed_meanwhile");
        }
        if FormDefinition::parse(&current.definition).as_ref() == Ok(def) {
            let outcome = Outcome { notice: Some("form_unchanged"), ..Outcome::default() };
            return editor_page(counter, visitor, tenant, sheet, outcome, StatusCode::OK);
        }
    }
    // The canonical text, so versions diff cleanly whatever was typed.
    let published = counter.store.publish_form(&tenant.id, &def.id, &def.to_toml(), None).await?;
    if published.changed {
        let detail = format!("form published as version {} (console form builder)", published.version);
        record(counter, visitor, &tenant.id, &def.id, &detail).await?;
    }
    let query =
        serde_urlencoded::to_string([("published", def.id.clone()), ("version", published.version.to_string())])
            .map_err(|_| PageError::Internal)?;
    Ok(Redirect::to(&format!("/admin/t/{}/forms?{query}", tenant.id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> Fields {
        Fields(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn a_sheet_goes_to_toml_and_back_through_its_inputs() {
        let src = "id = \"dog\"\ntitle = { ja = \"犬の登録\", en = \"Dog registration\" }\n\n[[fields]]\nname = \"owner\"\ntype = \"name\"\nlabel = { ja = \"所有者\" }\nrequired = true\nfurigana = false\n\n[[fields]]\nname = \"kind\"\ntype = \"choice\"\nlabel = { ja = \"種類\" }\nmultiple = true\n[[fields.options]]\nvalue = \"small\"\nlabel = { ja = \"小型\", en = \"Small\" }\n[[fields.options]]\nvalue = \"large\"\nlabel = { ja = \"大型\" }\n\n[[fields]]\nname = \"weight\"\ntype = \"number\"\nlabel = { ja = \"体重\" }\nmin = 0.5\nmax = 90\ninteger = false\nshow_when = { field = \"kind\", equals = \"large\" }\n\n[[fields]]\nname = \"born\"\ntype = \"date\"\nlabel = { ja = \"生年月日\" }\nmax = \"today\"\n\n[[fields]]\nname = \"ok\"\ntype = \"consent\"\nlabel = { ja = \"同意\" }\nstatement = { ja = \"同意します\", en = \"I agree\" }\n";
        let def = FormDefinition::parse(src).unwrap();
        let sheet = Sheet::from_definition(&def);
        let pairs = sheet.pairs();
        let again = Sheet::from_posted(&Fields(pairs.into_iter().collect()));
        let (text, result) = check_sheet(&again, Lang::Ja);
        assert_eq!(result.unwrap(), def, "{text}");
    }

    #[test]
    fn a_booking_field_goes_through_its_inputs_when_the_forms_crate_has_it() {
        if !field_types().contains(&"booking") {
            return;
        }
        let src = "id = \"book\"\ntitle = { ja = \"予約\" }\n\n[[fields]]\nname = \"slot\"\ntype = \"booking\"\nlabel = { ja = \"日時\" }\nrequired = true\nweekdays = [\"tue\", \"thu\"]\ntimes = [\"09:30\", \"13:00\"]\nminutes = 20\ncapacity = 2\nclosed = [\"2026-12-29\"]\nfrom = \"today+2\"\nuntil = \"today+60\"\nholidays_closed = false\n";
        let def = FormDefinition::parse(src).unwrap();
        let sheet = Sheet::from_definition(&def);
        assert_eq!(sheet.fields[0].times, "09:30, 13:00");
        let again = Sheet::from_posted(&Fields(sheet.pairs().into_iter().collect()));
        let (text, result) = check_sheet(&again, Lang::Ja);
        assert_eq!(result.unwrap(), def, "{text}");
        // A new booking field starts from the forms crate's defaults and
        // needs only its times and places.
        let mut field = FieldSheet::new("slot".into(), "booking");
        field.label_ja = "日時".into();
        field.times = "９:３０、10:00".into();
        field.capacity = "3".into();
        let fresh = Sheet { id: "book".into(), title_ja: "予約".into(), fields: vec![field], ..Sheet::default() };
        let (text, result) = check_sheet(&fresh, Lang::Ja);
        assert!(result.is_ok(), "{text}\n{result:?}");
    }

    #[test]
    fn a_file_field_goes_through_its_inputs_when_the_forms_crate_has_it() {
        if !field_types().contains(&"file") {
            return;
        }
        let src = "id = \"docs\"\ntitle = { ja = \"書類の提出\" }\n\n[[fields]]\nname = \"scan\"\ntype = \"file\"\nlabel = { ja = \"本人確認書類\" }\nrequired = true\naccept = [\"pdf\", \"png\"]\nmax_mb = 20\nmax_files = 3\n";
        let def = FormDefinition::parse(src).unwrap();
        let sheet = Sheet::from_definition(&def);
        let f = &sheet.fields[0];
        assert_eq!(
            (f.accept.clone(), f.max_mb.as_str(), f.max_files.as_str()),
            (vec!["pdf".into(), "png".into()], "20", "3")
        );
        assert_eq!(f.extra, "", "the file settings have inputs of their own");
        let pairs = sheet.pairs();
        assert!(pairs.contains(&("f0.accept_png".into(), "on".into())));
        assert!(!pairs.iter().any(|(k, _)| k == "f0.accept_jpeg"));
        let again = Sheet::from_posted(&Fields(pairs.into_iter().collect()));
        let (text, result) = check_sheet(&again, Lang::Ja);
        assert_eq!(result.unwrap(), def, "{text}");
        assert_eq!(FormDefinition::parse(&text).unwrap(), def, "{text}");
        assert!(text.contains("accept = [\"pdf\", \"png\"]\nmax_mb = 20\nmax_files = 3\n"), "{text}");

        // A new file field starts from the forms crate's defaults: every
        // type ticked, 10 MB, one file.
        let mut field = FieldSheet::new("scan".into(), "file");
        assert_eq!(field.accept, file_types());
        assert_eq!((field.max_mb.as_str(), field.max_files.as_str()), ("10", "1"));
        field.label_ja = "本人確認書類".into();
        let fresh =
            Sheet { id: "docs".into(), title_ja: "書類の提出".into(), fields: vec![field], ..Sheet::default() };
        let (text, result) = check_sheet(&fresh, Lang::Ja);
        let fresh = result.unwrap_or_else(|problems| panic!("{text}\n{problems:#?}"));
        let all = forms::files::FileType::ALL.to_vec();
        assert_eq!(fresh.fields[0].kind, forms::FieldKind::File { accept: all, max_mb: 10, max_files: 1 });
        let unset = "id = \"docs\"\ntitle = { ja = \"書類の提出\" }\n\n[[fields]]\nname = \"scan\"\ntype = \"file\"\nlabel = { ja = \"本人確認書類\" }\n";
        assert_eq!(fresh, FormDefinition::parse(unset).unwrap(), "the editor's defaults are the forms crate's");

        // Changing a field's type to file starts from those defaults too.
        let retyped = Sheet::from_posted(&posted(&[
            ("count", "1"),
            ("f0.name", "scan"),
            ("f0.type", "file"),
            ("f0.was", "text"),
            ("f0.label_ja", "書類"),
        ]));
        let f = &retyped.fields[0];
        assert!(f.accept.len() == 5 && f.max_mb == "10" && f.max_files == "1", "{f:?}");
    }

    #[test]
    fn file_settings_problems_point_at_their_inputs() {
        if !field_types().contains(&"file") {
            return;
        }
        let mut inputs = vec![
            ("id".to_owned(), "docs".to_owned()),
            ("title_ja".into(), "書類".into()),
            ("count".into(), "3".into()),
        ];
        // No type ticked; a size too large; too many files (typed in
        // full-width digits).
        let settings: [&[(&str, &str)]; 3] = [
            &[("max_mb", "10"), ("max_files", "1")],
            &[("accept_pdf", "on"), ("max_mb", "500"), ("max_files", "1")],
            &[("accept_heic", "on"), ("max_mb", "5"), ("max_files", "１１")],
        ];
        for (i, own) in settings.into_iter().enumerate() {
            inputs.push((format!("f{i}.name"), format!("scan{i}")));
            for (k, v) in [("type", "file"), ("was", "file"), ("label_ja", "書類")].iter().chain(own) {
                inputs.push((format!("f{i}.{k}"), (*v).to_owned()));
            }
        }
        let sheet = Sheet::from_posted(&Fields(inputs.into_iter().collect()));
        assert_eq!(sheet.fields[2].accept, ["heic"]);
        let (src, result) = check_sheet(&sheet, Lang::Ja);
        let problems = result.unwrap_err();
        let at: Vec<&str> = problems.iter().map(|p| p.input.as_str()).collect();
        assert_eq!(at, ["b-f0-accept", "b-f1-max_mb", "b-f2-max_files"], "{src}\n{problems:#?}");
        assert!(problems[0].message.contains("ファイルの種類を1つ以上"), "{problems:#?}");
        assert!(problems[1].message.starts_with("1から50まで"), "{problems:#?}");
        assert!(problems[2].message.starts_with("1から10まで"), "{problems:#?}");
        assert!(problems.iter().all(|p| p.detail.is_some()), "the check's own words are kept beside");

        // Each problem is drawn beside its input, which it describes.
        let by_input = problems.iter().map(|p| p.input.clone()).collect::<Vec<_>>();
        let outcome = Outcome { problems, source: Some(src), ..Outcome::default() };
        let html = render_editor(&sheet, outcome);
        for input in &by_input {
            assert!(html.contains(&format!("id=\"err-{input}\"")), "{input}: {html}");
            assert!(html.contains(&format!("aria-describedby=\"err-{input}")), "{input}: {html}");
        }
        assert!(html.contains("<fieldset id=\"b-f0-accept\" aria-describedby=\"err-b-f0-accept\">"), "{html}");
    }

    /// The editor page as admin/builder.html draws it, in Japanese.
    fn render_editor(sheet: &Sheet, outcome: Outcome<'_>) -> String {
        let pages = super::super::AdminPages::new();
        let tenant = context! { id => "aoba-city", name => "青葉市" };
        let common = context! {
            lang => "ja", t => super::super::strings::strings(Lang::Ja), staff => (), csrf => "token",
        };
        let page = editor_context(tenant, sheet, outcome);
        pages.env.get_template("admin/builder.html").unwrap().render(context! { ..page, ..common }).unwrap()
    }

    #[test]
    fn a_file_field_is_drawn_with_labelled_inputs() {
        if !field_types().contains(&"file") {
            return;
        }
        let mut field = FieldSheet::new("scan".into(), "file");
        field.label_ja = "書類".into();
        field.accept.retain(|t| t != "heic");
        let sheet = Sheet { id: "docs".into(), title_ja: "書類".into(), fields: vec![field], ..Sheet::default() };
        let html = render_editor(&sheet, Outcome::default());
        assert!(html.contains("<option value=\"file\" selected>添付ファイル（file）</option>"), "{html}");
        assert!(html.contains("<fieldset id=\"b-f0-accept\">"), "{html}");
        assert!(html.contains("<legend>受け付けるファイルの種類</legend>"), "{html}");
        for (ty, label) in [("pdf", "PDF"), ("jpeg", "JPEG"), ("png", "PNG"), ("heic", "HEIC"), ("webp", "WebP")] {
            let checked = if ty == "heic" { "" } else { " checked" };
            let input = format!(
                "<input type=\"checkbox\" id=\"b-f0-accept_{ty}\" name=\"f0.accept_{ty}\" value=\"on\"{checked}>"
            );
            assert!(html.contains(&input), "{input} in {html}");
            assert!(html.contains(&format!("<label for=\"b-f0-accept_{ty}\">{label}</label>")), "{html}");
        }
        for (id, label, value) in [("max_mb", "最大サイズ（MB）", "10"), ("max_files", "添付できるファイル数", "1")]
        {
            assert!(html.contains(&format!("<label for=\"b-f0-{id}\">{label}</label>")), "{html}");
            let input = format!("id=\"b-f0-{id}\" name=\"f0.{id}\" value=\"{value}\" inputmode=\"numeric\"");
            assert!(html.contains(&input), "{input} in {html}");
            assert!(html.contains(&format!("aria-describedby=\"hint-b-f0-{id}\"")), "{html}");
        }
        // The sheet drawn is the field checked.
        let (_, checked) = check_sheet(&sheet, Lang::Ja);
        let kind = &checked.unwrap().fields[0].kind;
        assert!(matches!(kind, forms::FieldKind::File { accept, .. } if accept.len() == 4), "{kind:?}");
    }

    #[test]
    fn problems_point_at_their_inputs() {
        let sheet = Sheet::from_posted(&posted(&[
            ("id", "bad form"),
            ("title_ja", "様式"),
            ("count", "3"),
            ("f0.name", "Owner"),
            ("f0.type", "text"),
            ("f0.was", "text"),
            ("f0.label_ja", "所有者"),
            ("f1.name", "pick"),
            ("f1.type", "choice"),
            ("f1.was", "choice"),
            ("f1.label_ja", "選択"),
            ("f2.name", "pick"),
            ("f2.type", "phone"),
            ("f2.was", "phone"),
            ("f2.label_ja", "電話"),
        ]));
        let (src, result) = check_sheet(&sheet, Lang::Ja);
        let problems = result.unwrap_err();
        let at: Vec<&str> = problems.iter().map(|p| p.input.as_str()).collect();
        assert_eq!(at, ["b-id", "b-f0-name", "b-f1-options", "b-f2-name"], "{src}\n{problems:#?}");
        assert!(problems[1].message.contains("項目名"), "{problems:#?}");
        assert!(problems.iter().all(|p| p.line > 0));
    }

    #[test]
    fn changing_a_fields_type_starts_from_that_types_defaults() {
        let sheet = Sheet::from_posted(&posted(&[
            ("count", "1"),
            ("f0.name", "who"),
            ("f0.type", "name"),
            ("f0.was", "text"),
            ("f0.label_ja", "氏名"),
            ("f0.max_length", "10"),
        ]));
        let f = &sheet.fields[0];
        assert!(f.furigana && f.was == "name" && f.label_ja == "氏名" && f.max_length == "200");
    }

    #[test]
    fn kinds_without_inputs_keep_their_settings_as_toml_lines() {
        let mut field = FieldSheet::new("size".into(), "text");
        field.label_ja = "大きさ".into();
        field.extra = "placeholder = 1".into();
        let sheet = Sheet { id: "x".into(), title_ja: "x".into(), fields: vec![field], ..Sheet::default() };
        let (src, result) = check_sheet(&sheet, Lang::En);
        let problems = result.unwrap_err();
        assert_eq!(problems[0].input, "b-f0-extra", "{src}");
        assert!(problems[0].message.contains("unknown key"));
    }
}
