//! Reading a form file into a [`FormDefinition`] while collecting every
//! problem with its position.
//!
//! serde stops at the first error and `flatten` loses positions, so the
//! file is parsed with `toml_edit` (which keeps the span of every key and
//! value), turned into a small spanned tree, and walked by hand. The walk
//! both builds the definition and reports problems, so a form admin sees
//! all mistakes in one go.

use std::collections::HashMap;

use toml_edit::{ImDocument, InlineTable, Item, Table, Value as TomlValue};

use crate::wareki::parse_iso;

use super::{
    default_max_body_bytes, default_max_length, CheckError, ChoiceOption, Condition, DateBound, Field, FieldKind,
    FormDefinition, Requirement, Text, Verification, VerificationMethod,
};

/// A TOML value with the byte offset where it starts (or, when toml_edit
/// has no span, where its key or parent starts).
struct Node {
    pos: usize,
    kind: Kind,
}

enum Kind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

struct Entry {
    key: String,
    /// Where the key starts: errors about the key or its meaning point here.
    pos: usize,
    node: Node,
}

impl Kind {
    fn describe(&self) -> &'static str {
        match self {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Datetime => "a date-time",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

fn start(span: Option<std::ops::Range<usize>>, fallback: usize) -> usize {
    span.map_or(fallback, |r| r.start)
}

fn from_item(item: &Item, fallback: usize) -> Node {
    match item {
        Item::Value(v) => from_value(v, fallback),
        Item::Table(t) => from_table(t, fallback),
        Item::ArrayOfTables(a) => {
            let pos = start(a.span(), fallback);
            Node { pos, kind: Kind::Array(a.iter().map(|t| from_table(t, pos)).collect()) }
        }
        Item::None => Node { pos: fallback, kind: Kind::Table(Vec::new()) },
    }
}

fn from_table(t: &Table, fallback: usize) -> Node {
    let pos = start(t.span(), fallback);
    let entries = t
        .iter()
        .map(|(k, item)| {
            let kpos = start(t.key(k).and_then(|k| k.span()), pos);
            Entry { key: k.to_string(), pos: kpos, node: from_item(item, kpos) }
        })
        .collect();
    Node { pos, kind: Kind::Table(entries) }
}

fn from_inline_table(t: &InlineTable, pos: usize) -> Kind {
    Kind::Table(
        t.iter()
            .map(|(k, v)| {
                let kpos = start(t.key(k).and_then(|k| k.span()), pos);
                Entry { key: k.to_string(), pos: kpos, node: from_value(v, kpos) }
            })
            .collect(),
    )
}

fn from_value(v: &TomlValue, fallback: usize) -> Node {
    let pos = start(v.span(), fallback);
    let kind = match v {
        TomlValue::String(s) => Kind::Str(s.value().clone()),
        TomlValue::Integer(i) => Kind::Int(*i.value()),
        TomlValue::Float(f) => Kind::Float(*f.value()),
        TomlValue::Boolean(b) => Kind::Bool(*b.value()),
        TomlValue::Datetime(_) => Kind::Datetime,
        TomlValue::Array(a) => Kind::Array(a.iter().map(|v| from_value(v, pos)).collect()),
        TomlValue::InlineTable(t) => from_inline_table(t, pos),
    };
    Node { pos, kind }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

const TOP_KEYS: &[&str] = &["id", "title", "description", "max_body_bytes", "anonymous", "verify", "fields"];
const FIELD_KEYS: &[&str] = &["name", "type", "label", "help", "required", "show_when"];
/// Every field `type` a definition may name, in the order the form
/// builder offers them.
pub const FIELD_TYPES: &[&str] = &[
    "name",
    "postal_code",
    "address",
    "date",
    "phone",
    "email",
    "choice",
    "text",
    "number",
    "consent",
    "scale",
    "booking",
    "file",
];

/// The keys a field of type `ty` may have besides the common ones.
pub fn type_keys(ty: &str) -> &'static [&'static str] {
    match ty {
        "name" => &["furigana"],
        "date" => &["min", "max"],
        "email" => &["confirm"],
        "choice" => &["options", "multiple"],
        "text" => &["multiline", "min_length", "max_length"],
        "number" => &["min", "max", "integer"],
        "consent" => &["statement"],
        "scale" => &["min", "max", "min_label", "max_label"],
        "booking" => &["weekdays", "times", "minutes", "capacity", "closed", "from", "until", "holidays_closed"],
        "file" => &["accept", "max_mb", "max_files"],
        _ => &[],
    }
}

/// Lowercase ASCII letters, digits and `-`, as it appears in URLs.
pub(crate) fn is_valid_form_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Lowercase ASCII letters, digits and `_`, starting with a letter: safe as
/// an HTML input name and free of the `.` used for sub-inputs.
pub(crate) fn is_valid_field_name(name: &str) -> bool {
    name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Where the parts of one field were found, for the checks that need all
/// fields (show_when).
struct FieldInfo {
    name: Option<String>,
    show_when: Option<ShowWhenPos>,
}

struct ShowWhenPos {
    field: usize,
    equals: usize,
}

struct Checker<'s> {
    src: &'s str,
    errors: Vec<(usize, String)>,
}

fn find<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Entry> {
    entries.iter().find(|e| e.key == key)
}

impl Checker<'_> {
    fn err(&mut self, pos: usize, message: String) {
        self.errors.push((pos, message));
    }

    fn unknown_keys(&mut self, entries: &[Entry], allowed: &[&[&str]], ctx: &str, what: &str) {
        for e in entries {
            if !allowed.iter().any(|set| set.contains(&e.key.as_str())) {
                let list: Vec<&str> = allowed.iter().flat_map(|s| s.iter().copied()).collect();
                self.err(e.pos, format!("{ctx}unknown key \"{}\"{what} (expected one of: {})", e.key, list.join(", ")));
            }
        }
    }

    fn table<'n>(&mut self, e: &'n Entry, ctx: &str) -> Option<&'n [Entry]> {
        match &e.node.kind {
            Kind::Table(entries) => Some(entries),
            other => {
                let found = other.describe();
                self.err(e.node.pos, format!("{ctx}\"{}\" must be a table, found {found}", e.key));
                None
            }
        }
    }

    fn string(&mut self, e: &Entry, ctx: &str) -> Option<String> {
        match &e.node.kind {
            Kind::Str(s) => Some(s.clone()),
            other => {
                let found = other.describe();
                self.err(e.node.pos, format!("{ctx}\"{}\" must be a string, found {found}", e.key));
                None
            }
        }
    }

    fn boolean(&mut self, e: &Entry, ctx: &str) -> Option<bool> {
        match &e.node.kind {
            Kind::Bool(b) => Some(*b),
            other => {
                let found = other.describe();
                self.err(e.node.pos, format!("{ctx}\"{}\" must be true or false, found {found}", e.key));
                None
            }
        }
    }

    fn count(&mut self, e: &Entry, ctx: &str) -> Option<usize> {
        match &e.node.kind {
            Kind::Int(i) => match usize::try_from(*i) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.err(e.node.pos, format!("{ctx}\"{}\" must not be negative", e.key));
                    None
                }
            },
            other => {
                let found = other.describe();
                self.err(e.node.pos, format!("{ctx}\"{}\" must be an integer, found {found}", e.key));
                None
            }
        }
    }

    fn number(&mut self, e: &Entry, ctx: &str) -> Option<f64> {
        let x = match &e.node.kind {
            Kind::Int(i) => *i as f64,
            Kind::Float(f) => *f,
            other => {
                let found = other.describe();
                self.err(e.node.pos, format!("{ctx}\"{}\" must be a number, found {found}", e.key));
                return None;
            }
        };
        if x.is_finite() {
            Some(x)
        } else {
            self.err(e.node.pos, format!("{ctx}\"{}\" must be a finite number", e.key));
            None
        }
    }

    /// `{ ja = "…", en = "…" }`; `ja` must not be empty because Japanese is
    /// the fallback for every language.
    fn text(&mut self, e: &Entry, ctx: &str) -> Option<Text> {
        let entries = self.table(e, ctx)?;
        let inner = format!("{ctx}\"{}\": ", e.key);
        self.unknown_keys(entries, &[&["ja", "en"]], &inner, "");
        let ja = match find(entries, "ja") {
            Some(ja) => {
                let text = self.string(ja, &inner)?;
                if text.trim().is_empty() {
                    self.err(ja.node.pos, format!("{ctx}\"{}\" has an empty Japanese text (\"ja\")", e.key));
                }
                text
            }
            None => {
                self.err(e.pos, format!("{ctx}\"{}\" needs a Japanese text (\"ja\")", e.key));
                return None;
            }
        };
        let en = match find(entries, "en") {
            Some(en) => Some(self.string(en, &inner)?),
            None => None,
        };
        Some(Text { ja, en })
    }

    fn optional<T>(
        &mut self,
        entries: &[Entry],
        key: &str,
        ctx: &str,
        read: impl FnOnce(&mut Self, &Entry, &str) -> Option<T>,
    ) -> Result<Option<T>, ()> {
        match find(entries, key) {
            Some(e) => read(self, e, ctx).map(Some).ok_or(()),
            None => Ok(None),
        }
    }

    fn required<T>(
        &mut self,
        entries: &[Entry],
        at: usize,
        key: &str,
        ctx: &str,
        read: impl FnOnce(&mut Self, &Entry, &str) -> Option<T>,
    ) -> Option<T> {
        match find(entries, key) {
            Some(e) => read(self, e, ctx),
            None => {
                self.err(at, format!("{ctx}missing key \"{key}\""));
                None
            }
        }
    }

    fn form(&mut self, root: &Node) -> Option<FormDefinition> {
        let Kind::Table(entries) = &root.kind else {
            return None;
        };
        self.unknown_keys(entries, &[TOP_KEYS], "", "");
        let at = root.pos;
        let id = self.required(entries, at, "id", "", Self::string);
        if let (Some(id), Some(e)) = (&id, find(entries, "id")) {
            if !is_valid_form_id(id) {
                self.err(e.node.pos, format!("invalid form id \"{id}\" (use lowercase letters, digits and \"-\")"));
            }
        }
        let title = self.required(entries, at, "title", "", Self::text);
        let description = self.optional(entries, "description", "", Self::text);
        let max_body_bytes = self.optional(entries, "max_body_bytes", "", Self::count);
        if let (Ok(Some(0)), Some(e)) = (&max_body_bytes, find(entries, "max_body_bytes")) {
            self.err(e.node.pos, "\"max_body_bytes\" must be at least 1".into());
        }
        let anonymous = self.optional(entries, "anonymous", "", Self::boolean);
        let verify = self.optional(entries, "verify", "", Self::verification);
        let fields = self.fields(entries, at);
        if let (Ok(Some(true)), Some(list)) = (&anonymous, find(entries, "fields")) {
            self.anonymous_fields(list);
        }
        Some(FormDefinition {
            id: id?,
            title: title?,
            description: description.ok()?,
            max_body_bytes: max_body_bytes.ok()?.unwrap_or_else(default_max_body_bytes),
            anonymous: anonymous.ok()?.unwrap_or(false),
            verify: verify.ok()?,
            fields: fields?,
        })
    }

    /// `{ method = "jpki" | "oidc", require = ["resident", "adult"] }`.
    fn verification(&mut self, e: &Entry, ctx: &str) -> Option<Verification> {
        let entries = self.table(e, ctx)?;
        let inner = format!("{ctx}\"verify\": ");
        self.unknown_keys(entries, &[&["method", "require"]], &inner, "");
        let method = self.required(entries, e.pos, "method", &inner, Self::string)?;
        let Some(method) = VerificationMethod::ALL.into_iter().find(|m| m.key() == method) else {
            let at = find(entries, "method").map_or(e.pos, |m| m.node.pos);
            self.err(at, format!("{inner}unknown method \"{method}\" (expected \"jpki\" or \"oidc\")"));
            return None;
        };
        let known: Vec<&str> = Requirement::ALL.iter().map(|r| r.key()).collect();
        let require = match find(entries, "require") {
            Some(list) => {
                let keys = self.strings(list, &inner, |r| known.contains(&r).then_some(()), "resident, adult")?;
                // `strings` has said where a key is listed twice.
                let mut require: Vec<Requirement> = Vec::new();
                for requirement in Requirement::ALL.into_iter().filter(|r| keys.iter().any(|k| k == r.key())) {
                    require.push(requirement);
                }
                require
            }
            None => Vec::new(),
        };
        Some(Verification { method, require })
    }

    /// An anonymous survey may not ask who the resident is.
    fn anonymous_fields(&mut self, list: &Entry) {
        let Kind::Array(items) = &list.node.kind else { return };
        for item in items {
            let Kind::Table(entries) = &item.kind else { continue };
            let Some(ty) = find(entries, "type") else { continue };
            let Kind::Str(t) = &ty.node.kind else { continue };
            if matches!(t.as_str(), "name" | "postal_code" | "address" | "phone" | "email" | "file") {
                let name = match find(entries, "name").map(|e| &e.node.kind) {
                    Some(Kind::Str(n)) => n.clone(),
                    _ => String::new(),
                };
                self.err(
                    ty.node.pos,
                    format!(
                        "field \"{name}\": an anonymous form may not ask for a {t} (remove the field or set anonymous = false)"
                    ),
                );
            }
        }
    }

    /// An array of strings, each read by `item` (which reports its own
    /// problems and returns `None` for a bad one).
    fn strings(&mut self, e: &Entry, ctx: &str, item: impl Fn(&str) -> Option<()>, hint: &str) -> Option<Vec<String>> {
        let Kind::Array(items) = &e.node.kind else {
            let found = e.node.kind.describe();
            self.err(e.node.pos, format!("{ctx}\"{}\" must be an array of strings, found {found}", e.key));
            return None;
        };
        let mut out = Some(Vec::new());
        for node in items {
            match &node.kind {
                Kind::Str(s) if item(s).is_some() => {
                    if let Some(list) = out.as_mut() {
                        if list.contains(s) {
                            self.err(node.pos, format!("{ctx}\"{s}\" is listed twice in \"{}\"", e.key));
                        }
                        list.push(s.clone());
                    }
                }
                Kind::Str(s) => {
                    self.err(node.pos, format!("{ctx}invalid value \"{s}\" in \"{}\" ({hint})", e.key));
                    out = None;
                }
                other => {
                    let found = other.describe();
                    self.err(node.pos, format!("{ctx}\"{}\" must list strings, found {found}", e.key));
                    out = None;
                }
            }
        }
        out
    }

    fn fields(&mut self, entries: &[Entry], at: usize) -> Option<Vec<Field>> {
        let Some(e) = find(entries, "fields") else {
            self.err(at, "missing key \"fields\" (a form needs at least one field)".into());
            return None;
        };
        let Kind::Array(items) = &e.node.kind else {
            let found = e.node.kind.describe();
            self.err(e.node.pos, format!("\"fields\" must be an array of tables ([[fields]]), found {found}"));
            return None;
        };
        if items.is_empty() {
            self.err(e.pos, "a form needs at least one field".into());
        }
        let mut built = Vec::new();
        let mut infos = Vec::new();
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        let mut all_ok = true;
        for (i, item) in items.iter().enumerate() {
            let (field, info) = self.field(item, i, &mut first_seen);
            all_ok &= field.is_some();
            built.push(field);
            infos.push(info);
        }
        self.conditions(&built, &infos);
        if all_ok {
            Some(built.into_iter().flatten().collect())
        } else {
            None
        }
    }

    fn field(
        &mut self,
        node: &Node,
        index: usize,
        first_seen: &mut HashMap<String, usize>,
    ) -> (Option<Field>, FieldInfo) {
        let mut info = FieldInfo { name: None, show_when: None };
        let Kind::Table(entries) = &node.kind else {
            let found = node.kind.describe();
            self.err(node.pos, format!("field #{}: must be a table, found {found}", index + 1));
            return (None, info);
        };
        let at = node.pos;
        let numbered = format!("field #{}: ", index + 1);
        let name = self.required(entries, at, "name", &numbered, Self::string);
        let ctx = match &name {
            Some(n) => format!("field \"{n}\": "),
            None => numbered,
        };
        if let (Some(n), Some(e)) = (&name, find(entries, "name")) {
            if !is_valid_field_name(n) {
                self.err(
                    e.node.pos,
                    format!(
                        "{ctx}invalid field name (use lowercase letters, digits and \"_\", starting with a letter)"
                    ),
                );
            } else if let Some(&first) = first_seen.get(n) {
                let (line, _) = line_column(self.src, first);
                self.err(e.node.pos, format!("{ctx}duplicate field name (first used on line {line})"));
            } else {
                first_seen.insert(n.clone(), e.node.pos);
            }
        }
        info.name = name.clone();

        let label = self.required(entries, at, "label", &ctx, Self::text);
        let help = self.optional(entries, "help", &ctx, Self::text);
        let required = self.optional(entries, "required", &ctx, Self::boolean);
        let show_when = match find(entries, "show_when") {
            Some(e) => self.show_when(e, &ctx, &mut info).map(Some),
            None => Some(None),
        };

        let ty = self.required(entries, at, "type", &ctx, Self::string);
        let kind = match ty.as_deref() {
            Some(t) if FIELD_TYPES.contains(&t) => {
                let what = format!(" for a field of type \"{t}\"");
                self.unknown_keys(entries, &[FIELD_KEYS, type_keys(t)], &ctx, &what);
                self.kind(t, entries, at, &ctx)
            }
            Some(t) => {
                if let Some(e) = find(entries, "type") {
                    self.err(
                        e.node.pos,
                        format!("{ctx}unknown type \"{t}\" (expected one of: {})", FIELD_TYPES.join(", ")),
                    );
                }
                None
            }
            None => None,
        };

        let field = (|| {
            Some(Field {
                name: name?,
                label: label?,
                help: help.ok()?,
                required: required.ok()?.unwrap_or(false),
                show_when: show_when?,
                kind: kind?,
            })
        })();
        (field, info)
    }

    fn show_when(&mut self, e: &Entry, ctx: &str, info: &mut FieldInfo) -> Option<Condition> {
        let entries = self.table(e, ctx)?;
        let inner = format!("{ctx}show_when: ");
        self.unknown_keys(entries, &[&["field", "equals"]], &inner, "");
        let field = self.required(entries, e.pos, "field", &inner, Self::string);
        let equals = self.required(entries, e.pos, "equals", &inner, Self::string);
        let pos_of = |key: &str| find(entries, key).map_or(e.pos, |k| k.node.pos);
        info.show_when = Some(ShowWhenPos { field: pos_of("field"), equals: pos_of("equals") });
        Some(Condition { field: field?, equals: equals? })
    }

    fn kind(&mut self, ty: &str, entries: &[Entry], at: usize, ctx: &str) -> Option<FieldKind> {
        let flag = |this: &mut Self, key: &str, default: bool| {
            this.optional(entries, key, ctx, Self::boolean).map(|b| b.unwrap_or(default)).ok()
        };
        match ty {
            "name" => Some(FieldKind::Name { furigana: flag(self, "furigana", true)? }),
            "postal_code" => Some(FieldKind::PostalCode),
            "address" => Some(FieldKind::Address),
            "phone" => Some(FieldKind::Phone),
            "email" => Some(FieldKind::Email { confirm: flag(self, "confirm", true)? }),
            "date" => {
                let bound = |this: &mut Self, key: &str| -> Result<Option<(String, DateBound)>, ()> {
                    let Some(e) = find(entries, key) else {
                        return Ok(None);
                    };
                    let s = this.string(e, ctx).ok_or(())?;
                    match DateBound::parse(&s) {
                        Some(b) => Ok(Some((s, b))),
                        None => {
                            this.err(
                                e.node.pos,
                                format!(
                                    "{ctx}invalid date bound \"{key}\" = \"{s}\" (use an ISO date such as \"2024-04-01\", or \"today\", \"today+90\", \"today-30\")"
                                ),
                            );
                            Err(())
                        }
                    }
                };
                let min = bound(self, "min");
                let max = bound(self, "max");
                if let (Ok(Some((_, lo))), Ok(Some((_, hi))), Some(e)) = (&min, &max, find(entries, "min")) {
                    if lo.after(hi) {
                        self.err(e.node.pos, format!("{ctx}date \"min\" is after \"max\""));
                    }
                }
                Some(FieldKind::Date { min: min.ok()?.map(|(s, _)| s), max: max.ok()?.map(|(s, _)| s) })
            }
            "choice" => {
                let multiple = flag(self, "multiple", false);
                let options = self.required(entries, at, "options", ctx, Self::options);
                Some(FieldKind::Choice { options: options?, multiple: multiple? })
            }
            "text" => {
                let multiline = flag(self, "multiline", false);
                let min_length = self.optional(entries, "min_length", ctx, Self::count);
                let max_length = self.optional(entries, "max_length", ctx, Self::count);
                if let (Ok(Some(0)), Some(e)) = (&max_length, find(entries, "max_length")) {
                    self.err(e.node.pos, format!("{ctx}\"max_length\" must be at least 1"));
                }
                let max = max_length.ok()?.unwrap_or_else(default_max_length);
                if let (Ok(Some(min)), Some(e)) = (&min_length, find(entries, "min_length")) {
                    if *min > max {
                        self.err(
                            e.node.pos,
                            format!("{ctx}\"min_length\" ({min}) is greater than \"max_length\" ({max})"),
                        );
                    }
                }
                Some(FieldKind::Text { multiline: multiline?, min_length: min_length.ok()?, max_length: max })
            }
            "number" => {
                let min = self.optional(entries, "min", ctx, Self::number);
                let max = self.optional(entries, "max", ctx, Self::number);
                let integer = flag(self, "integer", true);
                if let (Ok(Some(lo)), Ok(Some(hi)), Some(e)) = (&min, &max, find(entries, "min")) {
                    if lo > hi {
                        self.err(e.node.pos, format!("{ctx}\"min\" ({lo}) is greater than \"max\" ({hi})"));
                    }
                }
                Some(FieldKind::Number { min: min.ok()?, max: max.ok()?, integer: integer? })
            }
            "consent" => {
                Some(FieldKind::Consent { statement: self.required(entries, at, "statement", ctx, Self::text)? })
            }
            "scale" => {
                let int = |this: &mut Self, key: &str, default: i64| -> Option<i64> {
                    match find(entries, key) {
                        None => Some(default),
                        Some(e) => match &e.node.kind {
                            Kind::Int(i) => Some(*i),
                            other => {
                                let found = other.describe();
                                this.err(e.node.pos, format!("{ctx}\"{key}\" must be an integer, found {found}"));
                                None
                            }
                        },
                    }
                };
                let min = int(self, "min", super::scale_min());
                let max = int(self, "max", super::scale_max());
                if let (Some(lo), Some(hi)) = (min, max) {
                    if hi <= lo || hi - lo > 10 {
                        let pos = find(entries, "max").or(find(entries, "min")).map_or(at, |e| e.node.pos);
                        self.err(pos, format!("{ctx}a scale runs from \"min\" to a larger \"max\", with at most 11 points (found {lo} to {hi})"));
                    }
                }
                let min_label = self.optional(entries, "min_label", ctx, Self::text);
                let max_label = self.optional(entries, "max_label", ctx, Self::text);
                Some(FieldKind::Scale { min: min?, max: max?, min_label: min_label.ok()?, max_label: max_label.ok()? })
            }
            "booking" => self.booking(entries, at, ctx),
            "file" => self.file(entries, ctx),
            _ => None,
        }
    }

    fn booking(&mut self, entries: &[Entry], at: usize, ctx: &str) -> Option<FieldKind> {
        use crate::booking::{parse_time, parse_weekday, MAX_DAYS};
        let list = |this: &mut Self, key: &str, item: &dyn Fn(&str) -> Option<()>, hint: &str| match find(entries, key)
        {
            Some(e) => {
                let got = this.strings(e, ctx, item, hint);
                if got.as_ref().is_some_and(Vec::is_empty) && key != "closed" {
                    this.err(e.node.pos, format!("{ctx}\"{key}\" must list at least one value"));
                }
                got.map(Some)
            }
            None => Some(None),
        };
        let weekdays =
            list(self, "weekdays", &|s| parse_weekday(s).map(|_| ()), "use mon, tue, wed, thu, fri, sat, sun");
        let times = match find(entries, "times") {
            Some(_) => list(self, "times", &|s| parse_time(s).map(|_| ()), "use 24-hour times such as \"09:30\""),
            None => {
                self.err(
                    at,
                    format!(
                        "{ctx}missing key \"times\" (the start times of the slots, such as [\"09:00\", \"09:30\"])"
                    ),
                );
                None
            }
        };
        let closed = list(self, "closed", &|s| parse_iso(s).map(|_| ()), "use ISO dates such as \"2026-12-28\"");
        let minutes = self.optional(entries, "minutes", ctx, Self::count);
        if let (Ok(Some(m)), Some(e)) = (&minutes, find(entries, "minutes")) {
            if !(5..=480).contains(m) {
                self.err(e.node.pos, format!("{ctx}\"minutes\" must be from 5 to 480"));
            }
        }
        let capacity = self.required(entries, at, "capacity", ctx, Self::count);
        if let (Some(c), Some(e)) = (&capacity, find(entries, "capacity")) {
            if !(1..=10_000).contains(c) {
                self.err(e.node.pos, format!("{ctx}\"capacity\" must be from 1 to 10000"));
            }
        }
        let bound = |this: &mut Self, key: &str| -> Option<Option<(String, DateBound)>> {
            let Some(e) = find(entries, key) else { return Some(None) };
            let s = this.string(e, ctx)?;
            match DateBound::parse(&s) {
                Some(b) => Some(Some((s, b))),
                None => {
                    this.err(
                        e.node.pos,
                        format!(
                            "{ctx}invalid date bound \"{key}\" = \"{s}\" (use an ISO date, \"today\" or \"today+7\")"
                        ),
                    );
                    None
                }
            }
        };
        let from = bound(self, "from");
        let until = bound(self, "until");
        if let (Some(Some((_, lo))), Some(Some((_, hi))), Some(e)) = (&from, &until, find(entries, "from")) {
            if lo.after(hi) {
                self.err(e.node.pos, format!("{ctx}\"from\" is after \"until\""));
            }
            if let (DateBound::Today(a), DateBound::Today(b)) = (lo, hi) {
                if b - a >= MAX_DAYS {
                    self.err(e.node.pos, format!("{ctx}a booking window may span at most {MAX_DAYS} days"));
                }
            }
        }
        let minutes = u32::try_from(minutes.ok()?.unwrap_or(30)).ok()?;
        if let (Some(Some(times)), Some(e)) = (&times, find(entries, "times")) {
            if let Some(late) = times
                .iter()
                .find(|t| parse_time(t).is_some_and(|(h, m)| u32::from(h) * 60 + u32::from(m) + minutes > 24 * 60))
            {
                self.err(e.node.pos, format!("{ctx}the slot at {late} would end after midnight"));
            }
        }
        let holidays_closed = self.optional(entries, "holidays_closed", ctx, Self::boolean);
        Some(FieldKind::Booking {
            weekdays: weekdays?.unwrap_or_else(super::office_weekdays),
            times: times??,
            minutes,
            capacity: u32::try_from(capacity?).ok()?,
            closed: closed?.unwrap_or_default(),
            from: from?.map_or_else(super::booking_from, |(s, _)| s),
            until: until?.map_or_else(super::booking_until, |(s, _)| s),
            holidays_closed: holidays_closed.ok()?.unwrap_or(true),
        })
    }

    fn file(&mut self, entries: &[Entry], ctx: &str) -> Option<FieldKind> {
        use crate::files::FileType;
        let names: Vec<&str> = FileType::ALL.iter().map(|t| t.name()).collect();
        let hint = format!("use {}", names.join(", "));
        let accept = match find(entries, "accept") {
            Some(e) => {
                let got = self.strings(e, ctx, |s| FileType::parse(s).map(|_| ()), &hint);
                if got.as_ref().is_some_and(Vec::is_empty) {
                    self.err(e.node.pos, format!("{ctx}\"accept\" must list at least one file type"));
                }
                // In one order, however listed: the same types are the same form.
                got.map(|list| FileType::ALL.into_iter().filter(|t| list.iter().any(|s| s == t.name())).collect())
            }
            None => Some(super::all_file_types()),
        };
        let mut bounded = |key: &str, max: u32, default: u32| -> Option<u32> {
            let Some(e) = find(entries, key) else { return Some(default) };
            let n = self.count(e, ctx)?;
            if !(1..=max as usize).contains(&n) {
                self.err(e.node.pos, format!("{ctx}\"{key}\" must be from 1 to {max}"));
                return None;
            }
            u32::try_from(n).ok()
        };
        let max_mb = bounded("max_mb", super::MAX_FILE_MB, super::default_max_mb());
        let max_files = bounded("max_files", super::MAX_FILES, super::one_file());
        Some(FieldKind::File { accept: accept?, max_mb: max_mb?, max_files: max_files? })
    }

    fn options(&mut self, e: &Entry, ctx: &str) -> Option<Vec<ChoiceOption>> {
        let Kind::Array(items) = &e.node.kind else {
            let found = e.node.kind.describe();
            self.err(
                e.node.pos,
                format!("{ctx}\"options\" must be an array of tables ([[fields.options]]), found {found}"),
            );
            return None;
        };
        if items.is_empty() {
            self.err(e.pos, format!("{ctx}a choice needs at least one option"));
        }
        let mut seen: HashMap<String, ()> = HashMap::new();
        let mut options = Some(Vec::new());
        for (i, item) in items.iter().enumerate() {
            let Kind::Table(entries) = &item.kind else {
                let found = item.kind.describe();
                self.err(item.pos, format!("{ctx}option #{} must be a table, found {found}", i + 1));
                options = None;
                continue;
            };
            let inner = format!("{ctx}option #{}: ", i + 1);
            self.unknown_keys(entries, &[&["value", "label"]], &inner, "");
            let value = self.required(entries, item.pos, "value", &inner, Self::string);
            if let (Some(v), Some(ve)) = (&value, find(entries, "value")) {
                if v.trim().is_empty() {
                    self.err(ve.node.pos, format!("{inner}empty option value"));
                } else if seen.insert(v.clone(), ()).is_some() {
                    self.err(ve.node.pos, format!("{ctx}duplicate option value \"{v}\""));
                }
            }
            let label = self.required(entries, item.pos, "label", &inner, Self::text);
            match (value, label, options.as_mut()) {
                (Some(value), Some(label), Some(list)) => list.push(ChoiceOption { value, label }),
                _ => options = None,
            }
        }
        options
    }

    /// show_when may only look back: the resident answers the controlling
    /// field first, and it rules out cycles.
    fn conditions(&mut self, built: &[Option<Field>], infos: &[FieldInfo]) {
        for (i, (field, info)) in built.iter().zip(infos).enumerate() {
            let (Some(field), Some(pos)) = (field, &info.show_when) else {
                continue;
            };
            let Some(cond) = &field.show_when else {
                continue;
            };
            let ctx = format!("field \"{}\": ", field.name);
            let target = infos.iter().position(|f| f.name.as_deref() == Some(cond.field.as_str()));
            let j = match target {
                None => {
                    self.err(pos.field, format!("{ctx}show_when refers to unknown field \"{}\"", cond.field));
                    continue;
                }
                Some(j) if j == i => {
                    self.err(pos.field, format!("{ctx}show_when refers to the field itself"));
                    continue;
                }
                Some(j) if j > i => {
                    self.err(
                        pos.field,
                        format!(
                            "{ctx}show_when refers to field \"{}\", which comes later (a condition may only refer to an earlier field)",
                            cond.field
                        ),
                    );
                    continue;
                }
                Some(j) => j,
            };
            let problem = match built.get(j).and_then(Option::as_ref).map(|f| &f.kind) {
                Some(FieldKind::Choice { options, .. }) if !options.iter().any(|o| o.value == cond.equals) => {
                    let values: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
                    Some(format!(
                        "{ctx}show_when.equals \"{}\" is not an option value of field \"{}\" (values: {})",
                        cond.equals,
                        cond.field,
                        values.join(", ")
                    ))
                }
                Some(FieldKind::Consent { .. }) if cond.equals != "yes" => {
                    Some(format!("{ctx}show_when on consent field \"{}\" must use equals = \"yes\"", cond.field))
                }
                Some(FieldKind::Choice { .. } | FieldKind::Consent { .. }) => None,
                _ if cond.equals.trim().is_empty() => Some(format!("{ctx}show_when.equals is empty")),
                _ => None,
            };
            if let Some(message) = problem {
                self.err(pos.equals, message);
            }
        }
    }
}

/// Parses and checks a form file; every problem, ordered by position.
pub(super) fn check(src: &str) -> Result<FormDefinition, Vec<CheckError>> {
    let doc = match ImDocument::parse(src) {
        Ok(doc) => doc,
        Err(e) => {
            let (line, column) = line_column(src, e.span().map_or(0, |r| r.start));
            let detail: Vec<&str> = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let message = format!("TOML syntax error: {}", detail.join(", "));
            return Err(vec![CheckError { line, column, message }]);
        }
    };
    let root = from_table(doc.as_table(), 0);
    let mut checker = Checker { src, errors: Vec::new() };
    let def = checker.form(&root);
    let mut errors = checker.errors;
    errors.sort_by_key(|(pos, _)| *pos);
    match (def, errors.is_empty()) {
        (Some(def), true) => Ok(def),
        (_, true) => Err(vec![CheckError { line: 1, column: 1, message: "the form definition is incomplete".into() }]),
        _ => Err(errors
            .into_iter()
            .map(|(pos, message)| {
                let (line, column) = line_column(src, pos);
                CheckError { line, column, message }
            })
            .collect()),
    }
}
