//! 予約枠の設定: the desk sets a booking form's opening days, slots,
//! capacity and closures (docs/bookings.md). The change is checked here with
//! the forms crate, so staff see every problem beside the form, and again
//! on the counter, which publishes it as the form's next version.

use std::collections::BTreeMap;

use forms::booking::Schedule;
use forms::{FieldKind, FormDefinition, Lang};
use minijinja::context;

/// The weekdays in the order a Japanese calendar shows them.
pub const WEEKDAYS: [(&str, &str, &str); 7] = [
    ("mon", "月", "Mon"),
    ("tue", "火", "Tue"),
    ("wed", "水", "Wed"),
    ("thu", "木", "Thu"),
    ("fri", "金", "Fri"),
    ("sat", "土", "Sat"),
    ("sun", "日", "Sun"),
];

/// The first booking field of a form: its name and schedule.
pub fn booking_field(def: &FormDefinition) -> Option<(&str, &FieldKind)> {
    def.fields.iter().find(|f| matches!(f.kind, FieldKind::Booking { .. })).map(|f| (f.name.as_str(), &f.kind))
}

/// Splits a list typed by staff: commas (also 、 and full-width), spaces
/// and line breaks all separate.
fn list(text: &str) -> Vec<String> {
    forms::nfkc(text)
        .split(|c: char| c == ',' || c == '、' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The schedule the posted editor describes.
pub fn from_posted(form: &BTreeMap<String, String>) -> FieldKind {
    let get = |k: &str| form.get(k).map(|v| forms::nfkc(v.trim())).unwrap_or_default();
    FieldKind::Booking {
        weekdays: WEEKDAYS
            .iter()
            .filter(|(w, _, _)| form.contains_key(&format!("wd_{w}")))
            .map(|(w, _, _)| (*w).into())
            .collect(),
        times: list(&get("times")),
        // Out of range or not a number: the check names it (0 is refused).
        minutes: get("minutes").parse().unwrap_or(0),
        capacity: get("capacity").parse().unwrap_or(0),
        closed: list(&get("closed")),
        from: get("from"),
        until: get("until"),
        holidays_closed: form.contains_key("holidays_closed"),
    }
}

/// `def` with the booking field `field` set to `schedule`, as canonical
/// TOML, and every problem `madoguchi form check` finds in it.
pub fn apply(def: &FormDefinition, field: &str, schedule: &FieldKind) -> Result<String, Vec<String>> {
    let mut def = def.clone();
    match def.fields.iter_mut().find(|f| f.name == field) {
        Some(f) => f.kind = schedule.clone(),
        None => return Err(vec![format!("no booking field {field}")]),
    }
    let text = def.to_toml();
    match FormDefinition::check(&text) {
        Ok(_) => Ok(text),
        // The positions are in the generated TOML, not anything staff
        // typed: the messages alone say what is wrong.
        Err(errors) => Err(errors.into_iter().map(|e| e.message).collect()),
    }
}

/// The editor's inputs for `schedule`, and the first days it opens.
pub fn view(schedule: &FieldKind, today: time::Date, lang: Lang) -> minijinja::Value {
    let FieldKind::Booking { weekdays, times, minutes, capacity, closed, from, until, holidays_closed } = schedule
    else {
        return context! {};
    };
    let days: Vec<_> = WEEKDAYS
        .iter()
        .map(|(w, ja, en)| {
            context! { value => w, label => if lang == Lang::Ja { *ja } else { *en }, checked => weekdays.iter().any(|d| d == w) }
        })
        .collect();
    // The next open days, so staff see at once what a holiday or a closed
    // day does.
    let mut open: Vec<String> = Vec::new();
    if let Some(resolved) = Schedule::of(schedule) {
        for slot in resolved.slots(today) {
            let day = forms::wareki::display_date(slot.date, lang);
            if open.last() != Some(&day) {
                open.push(day);
            }
            if open.len() == 10 {
                break;
            }
        }
    }
    context! {
        days, times => times.join(", "), minutes, capacity, closed => closed.join("\n"), from, until,
        holidays_closed, open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = r#"
id = "visit"
title = { ja = "来庁予約" }
[[fields]]
name = "slot"
type = "booking"
label = { ja = "日時" }
times = ["09:00"]
capacity = 2
"#;

    fn posted(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_posted_editor_becomes_a_checked_schedule() {
        let def = FormDefinition::parse(FORM).unwrap();
        let schedule = from_posted(&posted(&[
            ("wd_mon", "on"),
            ("wd_wed", "on"),
            ("times", "９：００、10:00 13:30"),
            ("minutes", "30"),
            ("capacity", "４"),
            ("closed", "2026-12-28\n2026-12-29"),
            ("from", "today+1"),
            ("until", "today+30"),
        ]));
        let FieldKind::Booking { weekdays, times, capacity, closed, holidays_closed, .. } = &schedule else {
            panic!("{schedule:?}")
        };
        assert_eq!(weekdays, &["mon", "wed"]);
        assert_eq!(times, &["9:00", "10:00", "13:30"]);
        assert_eq!((*capacity, closed.len(), *holidays_closed), (4, 2, false));
        let text = apply(&def, "slot", &schedule).unwrap();
        assert!(text.contains("capacity = 4"), "{text}");
    }

    #[test]
    fn mistakes_are_named_not_published() {
        let def = FormDefinition::parse(FORM).unwrap();
        let schedule =
            from_posted(&posted(&[("wd_mon", "on"), ("times", "25:00"), ("capacity", "0"), ("minutes", "30")]));
        let problems = apply(&def, "slot", &schedule).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("25:00")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("capacity")), "{problems:?}");
    }
}
