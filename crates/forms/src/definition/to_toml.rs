//! Canonical TOML out of a definition: one layout whatever the input looked
//! like, so that stored versions diff cleanly.

use std::fmt::Write as _;

use super::{default_max_body_bytes, Field, FieldKind, FormDefinition, Text};

/// A TOML basic string, escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn text(t: &Text) -> String {
    match &t.en {
        Some(en) => format!("{{ ja = {}, en = {} }}", quote(&t.ja), quote(en)),
        None => format!("{{ ja = {} }}", quote(&t.ja)),
    }
}

/// Whole numbers as TOML integers (both read back as the same `f64`).
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:?}")
    }
}

pub(super) fn to_toml(def: &FormDefinition) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("id = {}", quote(&def.id)));
    line(format!("title = {}", text(&def.title)));
    if let Some(d) = &def.description {
        line(format!("description = {}", text(d)));
    }
    if def.max_body_bytes != default_max_body_bytes() {
        line(format!("max_body_bytes = {}", def.max_body_bytes));
    }
    if def.anonymous {
        line("anonymous = true".into());
    }
    if let Some(verify) = &def.verify {
        let require: Vec<String> = verify.require.iter().map(|r| quote(r.key())).collect();
        line(format!("verify = {{ method = {}, require = [{}] }}", quote(verify.method.key()), require.join(", ")));
    }
    for field in &def.fields {
        line(String::new());
        field_toml(field, &mut line);
    }
    out
}

fn field_toml(field: &Field, line: &mut impl FnMut(String)) {
    line("[[fields]]".into());
    line(format!("name = {}", quote(&field.name)));
    line(format!("type = {}", quote(FieldKind::type_name(&field.kind))));
    line(format!("label = {}", text(&field.label)));
    if let Some(help) = &field.help {
        line(format!("help = {}", text(help)));
    }
    line(format!("required = {}", field.required));
    if let Some(cond) = &field.show_when {
        line(format!("show_when = {{ field = {}, equals = {} }}", quote(&cond.field), quote(&cond.equals)));
    }
    match &field.kind {
        FieldKind::Name { furigana } => line(format!("furigana = {furigana}")),
        FieldKind::Email { confirm } => line(format!("confirm = {confirm}")),
        FieldKind::PostalCode | FieldKind::Address | FieldKind::Phone => {}
        FieldKind::Date { min, max } => {
            if let Some(min) = min {
                line(format!("min = {}", quote(min)));
            }
            if let Some(max) = max {
                line(format!("max = {}", quote(max)));
            }
        }
        FieldKind::Text { multiline, min_length, max_length } => {
            line(format!("multiline = {multiline}"));
            if let Some(min) = min_length {
                line(format!("min_length = {min}"));
            }
            line(format!("max_length = {max_length}"));
        }
        FieldKind::Number { min, max, integer } => {
            if let Some(min) = min {
                line(format!("min = {}", number(*min)));
            }
            if let Some(max) = max {
                line(format!("max = {}", number(*max)));
            }
            line(format!("integer = {integer}"));
        }
        FieldKind::Consent { statement } => line(format!("statement = {}", text(statement))),
        FieldKind::Scale { min, max, min_label, max_label } => {
            line(format!("min = {min}"));
            line(format!("max = {max}"));
            if let Some(label) = min_label {
                line(format!("min_label = {}", text(label)));
            }
            if let Some(label) = max_label {
                line(format!("max_label = {}", text(label)));
            }
        }
        FieldKind::Booking { weekdays, times, minutes, capacity, closed, from, until, holidays_closed } => {
            let list = |items: &[String]| items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ");
            line(format!("weekdays = [{}]", list(weekdays)));
            line(format!("times = [{}]", list(times)));
            line(format!("minutes = {minutes}"));
            line(format!("capacity = {capacity}"));
            if !closed.is_empty() {
                line(format!("closed = [{}]", list(closed)));
            }
            line(format!("from = {}", quote(from)));
            line(format!("until = {}", quote(until)));
            line(format!("holidays_closed = {holidays_closed}"));
        }
        FieldKind::File { accept, max_mb, max_files } => {
            let names = accept.iter().map(|t| quote(t.name())).collect::<Vec<_>>().join(", ");
            line(format!("accept = [{names}]"));
            line(format!("max_mb = {max_mb}"));
            line(format!("max_files = {max_files}"));
        }
        FieldKind::Choice { options, multiple } => {
            line(format!("multiple = {multiple}"));
            for option in options {
                line("[[fields.options]]".into());
                line(format!("value = {}", quote(&option.value)));
                line(format!("label = {}", text(&option.label)));
            }
        }
    }
}
