//! Survey results (電子アンケート集計): a form's records counted per
//! question, for the desk's results page and its CSV.
//!
//! Pure: [`Tally`] is fed one decrypted payload at a time (the caller
//! streams the records a page at a time, so 5,000 answers never sit whole
//! in memory) and [`Tally::finish`] gives the counts. Labels and options
//! come from the definition it is made with (the form's newest version);
//! answers of every version are counted by the option's `value`, so a
//! relabelled option keeps its count and a removed one shows as "other".
//!
//! Only choices, consent, scales and numbers are counted. Free text and
//! every field that says who someone is (name, address, phone, …) is only
//! counted as "answered": its content never reaches an aggregate, because
//! the aggregate page is not watched as a read of content (see web.rs).

use std::collections::BTreeMap;

use forms::{FieldKind, FormDefinition, Lang, Value};
use serde::Deserialize;

use crate::export::{encode_cells, CsvEncoding};

/// One bar of a chart or one row of a table: an option or a scale point.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionCount {
    /// The option's `value`, or the scale point ("1" … "5").
    pub value: String,
    pub label: String,
    pub count: u64,
    /// Of the question's base (see [`Summary`]), 0–100.
    pub percent: f64,
}

/// What one question's answers add up to.
#[derive(Debug, Clone, PartialEq)]
pub enum Summary {
    /// One choice, several (`multiple`), or a consent (one option, 同意).
    /// Percentages are of all respondents: for one choice the options and
    /// `unanswered` add up to 100 %; for several, each option is the share
    /// of respondents who chose it.
    Choice {
        multiple: bool,
        options: Vec<OptionCount>,
        /// Not answered, or not asked (a `show_when` that did not hold).
        unanswered: u64,
        /// Values that are not an option of the newest version.
        other: u64,
    },
    /// A rating: the distribution per point as a share of those who
    /// answered (a follow-up question is asked of some respondents only),
    /// and their mean.
    Scale {
        points: Vec<OptionCount>,
        answered: u64,
        unanswered: u64,
        /// Answers off the scale (the scale changed between versions);
        /// neither in the distribution nor in the mean.
        other: u64,
        mean: Option<f64>,
        min_label: Option<String>,
        max_label: Option<String>,
    },
    Number {
        answered: u64,
        unanswered: u64,
        mean: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Free text: only how many answered. `listable`: the answers page
    /// lists them (free text only; a name or an address never is).
    Answers {
        answered: u64,
        unanswered: u64,
        listable: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The field's `name`.
    pub name: String,
    pub label: String,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FormResults {
    /// Records counted (synthetic applicants are never given to the tally).
    pub respondents: u64,
    pub questions: Vec<Question>,
}

/// Running counts of one field.
#[derive(Debug, Clone)]
enum Counts {
    /// `answered`: respondents with any value (an option or another).
    Choice {
        by_value: BTreeMap<String, u64>,
        other: u64,
        answered: u64,
    },
    Scale {
        by_point: BTreeMap<i64, u64>,
        other: u64,
        sum: f64,
    },
    Number {
        answered: u64,
        sum: f64,
        min: Option<f64>,
        max: Option<f64>,
    },
    Answers {
        answered: u64,
    },
}

/// Counts a form's answers, one payload at a time.
#[derive(Debug, Clone)]
pub struct Tally {
    def: FormDefinition,
    respondents: u64,
    counts: Vec<Counts>,
}

impl Tally {
    pub fn new(def: &FormDefinition) -> Tally {
        let counts = def
            .fields
            .iter()
            .map(|field| match &field.kind {
                FieldKind::Choice { .. } | FieldKind::Consent { .. } => {
                    Counts::Choice { by_value: BTreeMap::new(), other: 0, answered: 0 }
                }
                FieldKind::Scale { .. } => Counts::Scale { by_point: BTreeMap::new(), other: 0, sum: 0.0 },
                FieldKind::Number { .. } => Counts::Number { answered: 0, sum: 0.0, min: None, max: None },
                _ => Counts::Answers { answered: 0 },
            })
            .collect();
        Tally { def: def.clone(), respondents: 0, counts }
    }

    /// Counts one record's payload (a `forms::Submission` as JSON). A
    /// value of a shape the field does not take (the field changed kind
    /// between versions, or a newer desk's value) counts as not answered.
    pub fn add(&mut self, payload: &serde_json::Value) {
        self.respondents += 1;
        let values = payload.get("values").and_then(serde_json::Value::as_object);
        for (field, counts) in self.def.fields.iter().zip(self.counts.iter_mut()) {
            let Some(value) = values.and_then(|v| v.get(&field.name)).and_then(|j| Value::deserialize(j).ok()) else {
                continue;
            };
            match (counts, &field.kind, value) {
                (Counts::Choice { by_value, other, answered }, FieldKind::Choice { options, .. }, value) => {
                    let chosen = match value {
                        Value::Choice(one) => vec![one],
                        Value::Choices(several) => several,
                        _ => continue,
                    };
                    if !chosen.is_empty() {
                        *answered += 1;
                    }
                    // Each option once per respondent, however the value came.
                    let mut seen = std::collections::BTreeSet::new();
                    for v in chosen {
                        if !seen.insert(v.clone()) {
                            continue;
                        }
                        if options.iter().any(|o| o.value == v) {
                            *by_value.entry(v).or_default() += 1;
                        } else {
                            *other += 1;
                        }
                    }
                }
                (Counts::Choice { by_value, answered, .. }, FieldKind::Consent { .. }, Value::Consent(agreed)) => {
                    *answered += u64::from(agreed);
                    *by_value.entry(if agreed { "yes" } else { "no" }.to_owned()).or_default() += 1;
                }
                (Counts::Scale { by_point, other, sum }, FieldKind::Scale { min, max, .. }, Value::Number(n)) => {
                    let point = n.round() as i64;
                    if (n - point as f64).abs() < 1e-9 && (*min..=*max).contains(&point) {
                        *by_point.entry(point).or_default() += 1;
                        *sum += n;
                    } else {
                        *other += 1;
                    }
                }
                (Counts::Number { answered, sum, min, max }, _, Value::Number(n)) if n.is_finite() => {
                    *answered += 1;
                    *sum += n;
                    *min = Some(min.map_or(n, |m| m.min(n)));
                    *max = Some(max.map_or(n, |m| m.max(n)));
                }
                // Free text counts only as text, so the count is what the
                // answers page lists.
                (Counts::Answers { answered }, kind, value)
                    if !is_empty(&value) && (!is_free_text(kind) || matches!(value, Value::Text(_))) =>
                {
                    *answered += 1
                }
                _ => {}
            }
        }
    }

    /// The counts, labelled in `lang`.
    pub fn finish(&self, lang: Lang) -> FormResults {
        let n = self.respondents;
        let ja = lang == Lang::Ja;
        let questions = self
            .def
            .fields
            .iter()
            .zip(&self.counts)
            .map(|(field, counts)| {
                let summary = match (counts, &field.kind) {
                    (Counts::Choice { by_value, other, answered }, FieldKind::Choice { options, multiple }) => {
                        let options: Vec<OptionCount> = options
                            .iter()
                            .map(|o| {
                                let count = by_value.get(&o.value).copied().unwrap_or(0);
                                OptionCount {
                                    value: o.value.clone(),
                                    label: o.label.get(lang).to_owned(),
                                    count,
                                    percent: percent(count, n),
                                }
                            })
                            .collect();
                        let unanswered = n - (*answered).min(n);
                        Summary::Choice { multiple: *multiple, options, unanswered, other: *other }
                    }
                    (Counts::Choice { by_value, .. }, _) => {
                        // A consent: how many agreed (a required one: all).
                        let count = by_value.get("yes").copied().unwrap_or(0);
                        let label = if ja { "同意する" } else { "Agreed" };
                        let options = vec![OptionCount {
                            value: "yes".into(),
                            label: label.into(),
                            count,
                            percent: percent(count, n),
                        }];
                        Summary::Choice { multiple: false, options, unanswered: n - count.min(n), other: 0 }
                    }
                    (Counts::Scale { by_point, other, sum }, FieldKind::Scale { min, max, min_label, max_label }) => {
                        let answered: u64 = by_point.values().sum();
                        let points = (*min..=*max)
                            .map(|point| {
                                let count = by_point.get(&point).copied().unwrap_or(0);
                                let end = if point == *min {
                                    min_label.as_ref()
                                } else if point == *max {
                                    max_label.as_ref()
                                } else {
                                    None
                                };
                                let label = match end {
                                    Some(text) => format!("{point}（{}）", text.get(lang)),
                                    None => point.to_string(),
                                };
                                OptionCount {
                                    value: point.to_string(),
                                    label,
                                    count,
                                    percent: percent(count, answered),
                                }
                            })
                            .collect();
                        Summary::Scale {
                            points,
                            answered,
                            unanswered: n - (answered + other).min(n),
                            other: *other,
                            mean: (answered > 0).then(|| sum / answered as f64),
                            min_label: min_label.as_ref().map(|t| t.get(lang).to_owned()),
                            max_label: max_label.as_ref().map(|t| t.get(lang).to_owned()),
                        }
                    }
                    (Counts::Scale { .. }, _) => Summary::Answers { answered: 0, unanswered: n, listable: false },
                    (Counts::Number { answered, sum, min, max }, _) => Summary::Number {
                        answered: *answered,
                        unanswered: n - (*answered).min(n),
                        mean: (*answered > 0).then(|| sum / *answered as f64),
                        min: *min,
                        max: *max,
                    },
                    (Counts::Answers { answered }, kind) => Summary::Answers {
                        answered: *answered,
                        unanswered: n - (*answered).min(n),
                        listable: is_free_text(kind),
                    },
                };
                Question { name: field.name.clone(), label: field.label.get(lang).to_owned(), summary }
            })
            .collect();
        FormResults { respondents: n, questions }
    }
}

/// Whether the answers page may list a field's answers: free text only.
/// A name, an address, a phone number … is personal data that is read on
/// the record itself, one record at a time.
pub fn is_free_text(kind: &FieldKind) -> bool {
    matches!(kind, FieldKind::Text { .. })
}

/// A free-text answer, when there is one (for the answers page).
pub fn free_text(payload: &serde_json::Value, field: &str) -> Option<String> {
    let json = payload.get("values")?.get(field)?;
    match Value::deserialize(json).ok()? {
        Value::Text(text) if !text.trim().is_empty() => Some(text),
        _ => None,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Text(s) | Value::Email(s) | Value::Date(s) | Value::PostalCode(s) | Value::Phone(s) | Value::Slot(s) => {
            s.trim().is_empty()
        }
        Value::Name { name, .. } => name.trim().is_empty(),
        Value::Address { region, line, .. } => region.trim().is_empty() && line.trim().is_empty(),
        Value::Choices(v) => v.is_empty(),
        _ => false,
    }
}

/// `count` of `base` in percent; 0 of nothing is 0 %.
pub fn percent(count: u64, base: u64) -> f64 {
    if base == 0 {
        0.0
    } else {
        count as f64 * 100.0 / base as f64
    }
}

/// `33.3` (one decimal, as the page and the CSV show a share).
pub fn format_percent(p: f64) -> String {
    format!("{p:.1}")
}

/// A mean to two decimals (`3.67`); a whole number without decimals.
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let text = format!("{x:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The results as CSV: one row per option or scale point (question, item,
/// count or value, percent), then 無回答 and, for a scale or a number, its
/// mean and range. Counts only: a free-text question is one row with how
/// many answered, never an answer.
pub fn to_csv(results: &FormResults, encoding: CsvEncoding, lang: Lang) -> Vec<u8> {
    let ja = lang == Lang::Ja;
    let t = |j: &'static str, e: &'static str| if ja { j } else { e };
    let mut rows: Vec<[String; 4]> = vec![[
        t("設問", "Question").into(),
        t("選択肢・段階", "Option or point").into(),
        t("件数・値", "Count or value").into(),
        t("割合（%）", "Percent").into(),
    ]];
    let mut push = |q: &str, item: &str, value: String, percent: Option<f64>| {
        rows.push([q.to_owned(), item.to_owned(), value, percent.map(format_percent).unwrap_or_default()]);
    };
    push(t("回答者数", "Respondents"), "", results.respondents.to_string(), None);
    for q in &results.questions {
        let label = q.label.as_str();
        match &q.summary {
            Summary::Choice { options, unanswered, other, .. } => {
                for o in options {
                    push(label, &o.label, o.count.to_string(), Some(o.percent));
                }
                if *other > 0 {
                    push(
                        label,
                        t("その他（現在の選択肢にない回答）", "Other (no longer an option)"),
                        other.to_string(),
                        None,
                    );
                }
                let share = percent(*unanswered, results.respondents);
                push(label, t("無回答", "Not answered"), unanswered.to_string(), Some(share));
            }
            Summary::Scale { points, answered, unanswered, other, mean, .. } => {
                for p in points {
                    push(label, &p.label, p.count.to_string(), Some(p.percent));
                }
                push(label, t("回答数", "Answered"), answered.to_string(), None);
                if *other > 0 {
                    push(label, t("範囲外の回答", "Off the scale"), other.to_string(), None);
                }
                push(label, t("無回答", "Not answered"), unanswered.to_string(), None);
                push(label, t("平均", "Mean"), mean.map(format_number).unwrap_or_default(), None);
            }
            Summary::Number { answered, unanswered, mean, min, max } => {
                push(label, t("回答数", "Answered"), answered.to_string(), None);
                push(label, t("無回答", "Not answered"), unanswered.to_string(), None);
                push(label, t("平均", "Mean"), mean.map(format_number).unwrap_or_default(), None);
                push(label, t("最小", "Minimum"), min.map(format_number).unwrap_or_default(), None);
                push(label, t("最大", "Maximum"), max.map(format_number).unwrap_or_default(), None);
            }
            Summary::Answers { answered, unanswered, .. } => {
                push(
                    label,
                    t("回答数（内容は集計しません）", "Answered (content not counted)"),
                    answered.to_string(),
                    None,
                );
                push(label, t("無回答", "Not answered"), unanswered.to_string(), None);
            }
        }
    }
    encode_cells(&rows, encoding)
}

#[cfg(test)]
mod tests {
    use forms::RawInput;
    use time::macros::date;

    use super::*;

    const SURVEY: &str = include_str!("../../../demo/forms/citizen-survey.toml");

    fn survey() -> FormDefinition {
        FormDefinition::parse(SURVEY).expect("the demo survey parses")
    }

    /// A payload exactly as the counter seals it.
    fn answer(def: &FormDefinition, pairs: &[(&str, &str)]) -> serde_json::Value {
        let mut pairs = pairs.to_vec();
        pairs.push(("consent", "yes"));
        let submission =
            def.validate(&RawInput::from_pairs(pairs.iter().copied()), date!(2026 - 11 - 25)).expect("valid input");
        serde_json::to_value(&submission).expect("json")
    }

    fn question<'r>(results: &'r FormResults, name: &str) -> &'r Summary {
        &results.questions.iter().find(|q| q.name == name).expect("question").summary
    }

    fn counts(options: &[OptionCount]) -> Vec<(&str, u64)> {
        options.iter().map(|o| (o.value.as_str(), o.count)).collect()
    }

    fn six_answers() -> Tally {
        let def = survey();
        let mut tally = Tally::new(&def);
        for pairs in [
            vec![("age_group", "under-30"), ("satisfaction", "5"), ("channels", "online"), ("online_ease", "4")],
            vec![
                ("age_group", "30-49"),
                ("satisfaction", "4"),
                ("channels", "online"),
                ("channels", "counter"),
                ("online_ease", "2"),
                ("comments", "駐車場が狭い"),
            ],
            vec![("age_group", "30-49"), ("satisfaction", "3"), ("channels", "counter")],
            vec![("age_group", "50-69"), ("satisfaction", "4"), ("comments", "<b>丁寧</b>")],
            vec![("age_group", "70-plus"), ("satisfaction", "1"), ("channels", "mail"), ("channels", "phone")],
            vec![("age_group", "30-49"), ("satisfaction", "4"), ("channels", "counter")],
        ] {
            tally.add(&answer(&def, &pairs));
        }
        tally
    }

    #[test]
    fn one_choice_counts_and_shares_of_all_respondents() {
        let results = six_answers().finish(Lang::Ja);
        assert_eq!(results.respondents, 6);
        let Summary::Choice { options, unanswered, multiple, other } = question(&results, "age_group") else {
            panic!("a choice")
        };
        assert!(!multiple);
        assert_eq!(counts(options), [("under-30", 1), ("30-49", 3), ("50-69", 1), ("70-plus", 1)]);
        assert_eq!((*unanswered, *other), (0, 0));
        assert_eq!(options[1].label, "30〜49歳");
        assert!((options[1].percent - 50.0).abs() < 1e-9);
    }

    #[test]
    fn several_choices_are_shares_of_respondents_and_the_rest_is_not_answered() {
        let results = six_answers().finish(Lang::En);
        let Summary::Choice { options, unanswered, multiple, .. } = question(&results, "channels") else {
            panic!("a choice")
        };
        assert!(multiple);
        assert_eq!(counts(options), [("counter", 3), ("online", 2), ("mail", 1), ("phone", 1)]);
        assert_eq!(*unanswered, 1, "one respondent chose none");
        assert_eq!(options[0].label, "At a counter");
        assert!((options[0].percent - 50.0).abs() < 1e-9, "3 of 6 respondents");
    }

    #[test]
    fn a_scale_has_its_distribution_mean_and_those_answering() {
        let results = six_answers().finish(Lang::Ja);
        let Summary::Scale { points, answered, unanswered, mean, .. } = question(&results, "satisfaction") else {
            panic!("a scale")
        };
        assert_eq!(counts(points), [("1", 1), ("2", 0), ("3", 1), ("4", 3), ("5", 1)]);
        assert_eq!((*answered, *unanswered), (6, 0));
        assert!((mean.unwrap() - 21.0 / 6.0).abs() < 1e-9);
        assert_eq!(points[0].label, "1（不満）");
        assert_eq!(points[4].label, "5（満足）");
        // A follow-up asked of two respondents only: shares of those two.
        let Summary::Scale { points, answered, unanswered, mean, .. } = question(&results, "online_ease") else {
            panic!("a scale")
        };
        assert_eq!((*answered, *unanswered), (2, 4));
        assert_eq!(mean.unwrap(), 3.0);
        assert!((points[3].percent - 50.0).abs() < 1e-9);
    }

    #[test]
    fn free_text_is_only_counted_and_listable_on_its_page() {
        let results = six_answers().finish(Lang::Ja);
        assert_eq!(question(&results, "comments"), &Summary::Answers { answered: 2, unanswered: 4, listable: true });
        let Summary::Choice { options, .. } = question(&results, "consent") else { panic!("consent") };
        assert_eq!(options[0].count, 6);
        let def = survey();
        let payload = answer(&def, &[("age_group", "30-49"), ("satisfaction", "3"), ("comments", "  ")]);
        assert_eq!(free_text(&payload, "comments"), None, "blank is not an answer");
        let payload = answer(&def, &[("age_group", "30-49"), ("satisfaction", "3"), ("comments", "早い")]);
        assert_eq!(free_text(&payload, "comments").as_deref(), Some("早い"));
        assert_eq!(free_text(&payload, "age_group"), None);
    }

    #[test]
    fn no_records_give_zeros_not_nan() {
        let results = Tally::new(&survey()).finish(Lang::Ja);
        assert_eq!(results.respondents, 0);
        let Summary::Scale { mean, points, .. } = question(&results, "satisfaction") else { panic!("a scale") };
        assert_eq!(*mean, None);
        assert!(points.iter().all(|p| p.count == 0 && p.percent == 0.0));
        let Summary::Choice { options, .. } = question(&results, "age_group") else { panic!("a choice") };
        assert!(options.iter().all(|o| o.percent == 0.0));
    }

    #[test]
    fn values_of_an_older_version_count_by_value_and_a_removed_option_is_other() {
        let def = survey();
        let mut tally = Tally::new(&def);
        let old = serde_json::json!({ "form_id": "citizen-survey", "values": {
            "age_group": { "Choice": "60-plus" },
            "satisfaction": { "Number": 7.0 },
            "channels": { "Choices": ["online", "online", "fax"] },
            "comments": { "Number": 3.0 },
        }});
        tally.add(&old);
        tally.add(&serde_json::json!({ "values": "not an object" }));
        let results = tally.finish(Lang::Ja);
        let Summary::Choice { options, other, unanswered, .. } = question(&results, "age_group") else { panic!() };
        assert_eq!((options.iter().map(|o| o.count).sum::<u64>(), *other, *unanswered), (0, 1, 1));
        let Summary::Choice { options, other, .. } = question(&results, "channels") else { panic!() };
        assert_eq!((options[1].count, *other), (1, 1), "an option counts once per respondent");
        let Summary::Scale { other, answered, mean, unanswered, .. } = question(&results, "satisfaction") else {
            panic!()
        };
        assert_eq!((*other, *answered, *mean, *unanswered), (1, 0, None, 1));
        assert_eq!(question(&results, "comments"), &Summary::Answers { answered: 0, unanswered: 2, listable: true });
    }

    #[test]
    fn numbers_have_count_mean_min_and_max() {
        let def = FormDefinition::parse(
            r#"id = "n"
title = { ja = "数" }
[[fields]]
name = "people"
type = "number"
label = { ja = "人数" }
"#,
        )
        .expect("parses");
        let mut tally = Tally::new(&def);
        for n in [2.0, 5.0, 3.0] {
            tally.add(&serde_json::json!({ "values": { "people": { "Number": n } } }));
        }
        tally.add(&serde_json::json!({ "values": {} }));
        let results = tally.finish(Lang::Ja);
        let Summary::Number { answered, unanswered, mean, min, max } = question(&results, "people") else { panic!() };
        assert_eq!((*answered, *unanswered, *mean, *min, *max), (3, 1, Some(10.0 / 3.0), Some(2.0), Some(5.0)));
        assert_eq!(format_number(10.0 / 3.0), "3.33");
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(2.5), "2.5");
    }

    #[test]
    fn the_csv_has_counts_only_with_the_bom_and_defused_labels() {
        let results = six_answers().finish(Lang::Ja);
        let bytes = to_csv(&results, CsvEncoding::Utf8Bom, Lang::Ja);
        let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").expect("BOM")).expect("UTF-8");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "設問,選択肢・段階,件数・値,割合（%）");
        assert_eq!(lines[1], "回答者数,,6,");
        assert!(lines.contains(&"年代,30〜49歳,3,50.0"), "{text}");
        assert!(lines.contains(&"年代,無回答,0,0.0"), "{text}");
        assert!(lines.contains(&"市の窓口サービス全体の満足度,4,3,50.0"), "{text}");
        assert!(lines.contains(&"市の窓口サービス全体の満足度,平均,3.5,"), "{text}");
        assert!(lines.contains(&"ご意見・ご要望,回答数（内容は集計しません）,2,"), "{text}");
        assert!(!text.contains("駐車場") && !text.contains("丁寧"), "never an answer's text");
        let mut evil = results.clone();
        evil.questions[0].label = "=HYPERLINK(\"x\")".into();
        let text = String::from_utf8(to_csv(&evil, CsvEncoding::Utf8Bom, Lang::Ja)).expect("UTF-8");
        assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
        let sjis = to_csv(&results, CsvEncoding::ShiftJis, Lang::Ja);
        assert!(!sjis.starts_with(b"\xEF\xBB\xBF"));
        let (decoded, _, errors) = encoding_rs::SHIFT_JIS.decode(&sjis);
        // Shift_JIS has 〜 as Windows writes it; it decodes as ～ (U+FF5E).
        assert!(!errors && decoded.contains("年代,30\u{FF5E}49歳,3,50.0"), "{decoded}");
    }
}
