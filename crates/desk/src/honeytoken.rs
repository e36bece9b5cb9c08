//! Synthetic applicants (honeytokens): plausible answers to a form, made
//! up here, so that on the counter they are submissions like any other.
//! The desk remembers their 到達番号 and keeps them out of every list and
//! export; anyone who opens one reached past normal work (docs/watch.md).
//! The names and places are invented combinations, never real records.

use forms::{FieldKind, FormDefinition, Submission, Value};
use rand::seq::SliceRandom;
use rand::Rng;

const SURNAMES: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山口", "ヤマグチ"),
];

const GIVEN_NAMES: &[(&str, &str)] = &[
    ("健太", "ケンタ"),
    ("美咲", "ミサキ"),
    ("翔太", "ショウタ"),
    ("陽子", "ヨウコ"),
    ("大輔", "ダイスケ"),
    ("由美", "ユミ"),
    ("誠", "マコト"),
    ("恵子", "ケイコ"),
    ("拓也", "タクヤ"),
    ("真理子", "マリコ"),
];

const TOWNS: &[&str] = &["本町", "中央", "栄町", "緑町", "旭町", "桜台", "若葉", "東町", "西町", "南町"];

/// Plausible answers to every field `def` asks (conditions are honoured
/// as a resident's answers would be), with `region` as the address's
/// 都道府県・市区町村.
pub fn synthetic_applicant(def: &FormDefinition, region: &str, rng: &mut impl Rng) -> Submission {
    let (surname, surname_kana) = SURNAMES.choose(rng).copied().unwrap_or(("佐藤", "サトウ"));
    let (given, given_kana) = GIVEN_NAMES.choose(rng).copied().unwrap_or(("健太", "ケンタ"));
    let mut values = std::collections::BTreeMap::new();
    for field in &def.fields {
        if let Some(condition) = &field.show_when {
            let holds = match values.get(&condition.field) {
                Some(Value::Choice(v)) => v == &condition.equals,
                Some(Value::Choices(vs)) => vs.contains(&condition.equals),
                Some(Value::Consent(yes)) => *yes == (condition.equals == "yes"),
                _ => false,
            };
            if !holds {
                continue;
            }
        }
        let value = match &field.kind {
            FieldKind::Name { furigana } => Value::Name {
                name: format!("{surname} {given}"),
                kana: furigana.then(|| format!("{surname_kana} {given_kana}")),
            },
            FieldKind::PostalCode => Value::PostalCode(postal(rng)),
            FieldKind::Address => Value::Address {
                postal: postal(rng),
                region: region.to_owned(),
                line: format!(
                    "{}{}-{}-{}",
                    TOWNS.choose(rng).copied().unwrap_or("本町"),
                    rng.gen_range(1..6),
                    rng.gen_range(1..30),
                    rng.gen_range(1..20)
                ),
            },
            FieldKind::Date { .. } => {
                let today = time::OffsetDateTime::now_utc().date();
                let date = today + time::Duration::days(rng.gen_range(1..30));
                Value::Date(date.to_string())
            }
            FieldKind::Phone => Value::Phone(format!("090{:08}", rng.gen_range(0..100_000_000u32))),
            FieldKind::Email { .. } => Value::Email(format!(
                "{}.{}{}@example.jp",
                romaji(surname_kana),
                romaji(given_kana),
                rng.gen_range(10..99)
            )),
            FieldKind::Choice { options, multiple } => {
                let Some(option) = options.choose(rng) else { continue };
                if *multiple {
                    Value::Choices(vec![option.value.clone()])
                } else {
                    Value::Choice(option.value.clone())
                }
            }
            FieldKind::Text { multiline, .. } => {
                if !field.required {
                    continue;
                }
                Value::Text(if *multiline { "よろしくお願いします。".into() } else { "特になし".into() })
            }
            FieldKind::Number { min, max, .. } => {
                let low = min.unwrap_or(1.0).ceil() as i64;
                let high = max.unwrap_or(low as f64 + 10.0).floor() as i64;
                Value::Number(rng.gen_range(low..=high.max(low)) as f64)
            }
            FieldKind::Consent { .. } => Value::Consent(true),
            FieldKind::Scale { min, max, .. } => Value::Number(rng.gen_range(*min..=(*max).max(*min)) as f64),
            // Planted through the desk API, which never takes a place: the
            // slot only has to look like one residents book.
            FieldKind::Booking { .. } => {
                let today = time::OffsetDateTime::now_utc().date();
                let Some(schedule) = forms::booking::Schedule::of(&field.kind) else { continue };
                let slots = schedule.slots(today);
                let Some(slot) = slots.choose(rng) else { continue };
                Value::Slot(slot.key())
            }
            // A planted applicant has no files: the desk API takes no file,
            // and a reference to one that is not in the vault would not
            // sync (it would give the plant away).
            FieldKind::File { .. } => continue,
        };
        values.insert(field.name.clone(), value);
    }
    // A planted answer to a verified survey says it was verified, like
    // every real one: nothing tells them apart.
    let verified = def.verify.as_ref().map(|v| forms::Verified { method: v.method, met: v.require.clone() });
    Submission { form_id: def.id.clone(), values, verified }
}

fn postal(rng: &mut impl Rng) -> String {
    format!("{:03}-{:04}", rng.gen_range(100..1000), rng.gen_range(0..10_000))
}

/// A rough romanisation of katakana for a made-up mailbox name.
fn romaji(kana: &str) -> String {
    const TABLE: &[(&str, &str)] = &[
        ("サトウ", "sato"),
        ("スズキ", "suzuki"),
        ("タカハシ", "takahashi"),
        ("タナカ", "tanaka"),
        ("イトウ", "ito"),
        ("ワタナベ", "watanabe"),
        ("ヤマモト", "yamamoto"),
        ("ナカムラ", "nakamura"),
        ("コバヤシ", "kobayashi"),
        ("カトウ", "kato"),
        ("ヨシダ", "yoshida"),
        ("ヤマグチ", "yamaguchi"),
        ("ケンタ", "kenta"),
        ("ミサキ", "misaki"),
        ("ショウタ", "shota"),
        ("ヨウコ", "yoko"),
        ("ダイスケ", "daisuke"),
        ("ユミ", "yumi"),
        ("マコト", "makoto"),
        ("ケイコ", "keiko"),
        ("タクヤ", "takuya"),
        ("マリコ", "mariko"),
    ];
    TABLE.iter().find(|(k, _)| *k == kana).map(|(_, r)| (*r).to_owned()).unwrap_or_else(|| "user".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_applicant_answers_the_demo_form_as_a_resident_would() {
        let source = include_str!("../../../demo/forms/water-start.toml");
        let def = FormDefinition::parse(source).expect("demo form");
        let mut rng = rand::thread_rng();
        for _ in 0..20 {
            let applicant = synthetic_applicant(&def, "みどり県青葉市", &mut rng);
            assert_eq!(applicant.form_id, def.id);
            for field in def.fields.iter().filter(|f| f.required && f.show_when.is_none()) {
                assert!(applicant.values.contains_key(&field.name), "{} is answered", field.name);
            }
        }
    }
}
