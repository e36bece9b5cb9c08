use super::*;
use time::macros::date;

const TODAY: Date = date!(2024 - 04 - 01);

/// One field of every kind, plus conditions, as a form admin would write it.
const FORM: &str = r#"
id = "everything"
title = { ja = "全項目", en = "Everything" }

[[fields]]
name = "applicant"
type = "name"
label = { ja = "氏名" }
required = true

[[fields]]
name = "nickname"
type = "name"
label = { ja = "通称" }
furigana = false

[[fields]]
name = "zip"
type = "postal_code"
label = { ja = "郵便番号" }

[[fields]]
name = "home"
type = "address"
label = { ja = "住所" }
required = true

[[fields]]
name = "office"
type = "address"
label = { ja = "勤務先住所" }

[[fields]]
name = "start"
type = "date"
label = { ja = "開始日" }
required = true
min = "today-30"
max = "today+90"

[[fields]]
name = "phone"
type = "phone"
label = { ja = "電話番号" }
required = true

[[fields]]
name = "email"
type = "email"
label = { ja = "メール" }
required = true

[[fields]]
name = "payment"
type = "choice"
label = { ja = "支払方法" }
required = true
options = [
  { value = "transfer", label = { ja = "口座振替", en = "Direct debit" } },
  { value = "slip", label = { ja = "納付書", en = "Payment slip" } },
]

[[fields]]
name = "bank"
type = "text"
label = { ja = "金融機関名" }
required = true
show_when = { field = "payment", equals = "transfer" }
max_length = 10

[[fields]]
name = "certs"
type = "choice"
label = { ja = "証明書" }
multiple = true
options = [
  { value = "income", label = { ja = "所得証明書", en = "Income" } },
  { value = "tax", label = { ja = "課税証明書", en = "Taxation" } },
  { value = "paid", label = { ja = "納税証明書", en = "Tax paid" } },
]

[[fields]]
name = "paid_year"
type = "number"
label = { ja = "年度" }
required = true
show_when = { field = "certs", equals = "paid" }
min = 2000
max = 2100

[[fields]]
name = "note"
type = "text"
label = { ja = "備考" }
multiline = true
min_length = 2
max_length = 20

[[fields]]
name = "title"
type = "text"
label = { ja = "件名" }
max_length = 10

[[fields]]
name = "amount"
type = "number"
label = { ja = "金額" }
min = 0
max = 1000000

[[fields]]
name = "ratio"
type = "number"
label = { ja = "割合" }
integer = false
min = 0
max = 1.5

[[fields]]
name = "agree"
type = "consent"
label = { ja = "同意" }
required = true
statement = { ja = "同意します。", en = "I agree." }
"#;

fn form() -> FormDefinition {
    match FormDefinition::check(FORM) {
        Ok(def) => def,
        Err(errors) => panic!("test form does not check: {errors:#?}"),
    }
}

/// A complete, valid answer set; tests change one thing at a time.
fn valid() -> Vec<(&'static str, &'static str)> {
    vec![
        ("applicant", "山田　太郎"),
        ("applicant.kana", "やまだ　たろう"),
        ("home.postal", "〒１００－０００１"),
        ("home.region", "東京都千代田区"),
        ("home.line", "千代田１ー１"),
        ("start", "令和6年4月1日"),
        ("phone", "03-1234-5678"),
        ("email", "Taro@Example.JP"),
        ("email.confirm", "taro@example.jp"),
        ("payment", "transfer"),
        ("bank", "みどり銀行"),
        ("agree", "yes"),
    ]
}

fn with(changes: &[(&'static str, &'static str)]) -> RawInput {
    let mut pairs = valid();
    pairs.retain(|(key, _)| !changes.iter().any(|(k, _)| k == key));
    pairs.extend_from_slice(changes);
    RawInput::from_pairs(pairs)
}

fn without(keys: &[&str]) -> RawInput {
    RawInput::from_pairs(valid().into_iter().filter(|(k, _)| !keys.contains(k)))
}

fn errors(input: &RawInput) -> Vec<(String, ErrorCode)> {
    match form().validate(input, TODAY) {
        Ok(sub) => panic!("expected errors, got {sub:?}"),
        Err(errors) => errors.into_iter().map(|e| (e.input, e.code)).collect(),
    }
}

fn values(input: &RawInput) -> BTreeMap<String, Value> {
    match form().validate(input, TODAY) {
        Ok(sub) => sub.values,
        Err(errors) => panic!("expected a submission, got {errors:?}"),
    }
}

fn err(input: &str, code: ErrorCode) -> (String, ErrorCode) {
    (input.to_string(), code)
}

#[test]
fn a_complete_answer_is_normalised() {
    let sub = form().validate(&with(&[]), TODAY).expect("valid");
    assert_eq!(sub.form_id, "everything");
    let want: BTreeMap<String, Value> = [
        ("applicant", Value::Name { name: "山田 太郎".into(), kana: Some("ヤマダ タロウ".into()) }),
        (
            "home",
            Value::Address {
                postal: "100-0001".into(), region: "東京都千代田区".into(), line: "千代田1-1".into()
            },
        ),
        ("start", Value::Date("2024-04-01".into())),
        ("phone", Value::Phone("0312345678".into())),
        ("email", Value::Email("Taro@example.jp".into())),
        ("payment", Value::Choice("transfer".into())),
        ("bank", Value::Text("みどり銀行".into())),
        ("agree", Value::Consent(true)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(sub.values, want);
}

#[test]
fn every_missing_required_input_is_reported_beside_its_input() {
    let got = errors(&RawInput::default());
    assert_eq!(
        got,
        vec![
            err("applicant", ErrorCode::Required),
            err("home.postal", ErrorCode::Required),
            err("home.region", ErrorCode::Required),
            err("home.line", ErrorCode::Required),
            err("start", ErrorCode::Required),
            err("phone", ErrorCode::Required),
            err("email", ErrorCode::Required),
            err("payment", ErrorCode::Required),
            err("agree", ErrorCode::ConsentRequired),
        ]
    );
}

#[test]
fn errors_name_the_field_and_the_input() {
    let errors = form().validate(&with(&[("home.postal", "12-345")]), TODAY).expect_err("invalid postal code");
    assert_eq!(
        errors,
        vec![FieldError { field: "home".into(), input: "home.postal".into(), code: ErrorCode::InvalidPostalCode }]
    );
}

#[test]
fn one_error_per_input() {
    /// (what the resident changed, the errors expected)
    type Case = (&'static [(&'static str, &'static str)], Vec<(String, ErrorCode)>);
    let cases: &[Case] = &[
        (&[("applicant.kana", "山田")], vec![err("applicant.kana", ErrorCode::NotKana)]),
        (&[("applicant.kana", "yamada")], vec![err("applicant.kana", ErrorCode::NotKana)]),
        (&[("applicant.kana", "")], vec![err("applicant.kana", ErrorCode::Required)]),
        (&[("applicant", ""), ("applicant.kana", "")], vec![err("applicant", ErrorCode::Required)]),
        (&[("applicant", "")], vec![err("applicant", ErrorCode::Required)]),
        (
            &[("home.line", " "), ("home.region", "　")],
            vec![err("home.region", ErrorCode::Required), err("home.line", ErrorCode::Required)],
        ),
        (&[("start", "2月30日")], vec![err("start", ErrorCode::InvalidDate)]),
        (&[("start", "平成31年5月1日")], vec![err("start", ErrorCode::InvalidDate)]),
        (&[("start", "2024-03-01")], vec![err("start", ErrorCode::DateTooEarly { min: "2024-03-02".into() })]),
        (&[("start", "2024-07-01")], vec![err("start", ErrorCode::DateTooLate { max: "2024-06-30".into() })]),
        (&[("phone", "03-1234-567")], vec![err("phone", ErrorCode::InvalidPhone)]),
        (&[("email", "taro@example")], vec![err("email", ErrorCode::InvalidEmail)]),
        (&[("email.confirm", "jiro@example.jp")], vec![err("email.confirm", ErrorCode::EmailMismatch)]),
        (&[("email.confirm", "")], vec![err("email.confirm", ErrorCode::Required)]),
        (&[("payment", "cash")], vec![err("payment", ErrorCode::UnknownChoice)]),
        (&[("bank", "とても長い名前の金融機関です")], vec![err("bank", ErrorCode::TooLong { max: 10 })]),
        (&[("certs", "income"), ("certs", "gold")], vec![err("certs", ErrorCode::UnknownChoice)]),
        (&[("note", "短")], vec![err("note", ErrorCode::TooShort { min: 2 })]),
        (&[("amount", "千円")], vec![err("amount", ErrorCode::NotANumber)]),
        (&[("amount", "1e3")], vec![err("amount", ErrorCode::NotANumber)]),
        (&[("amount", "12.5")], vec![err("amount", ErrorCode::NotAnInteger)]),
        (&[("amount", "-1")], vec![err("amount", ErrorCode::NumberTooSmall { min: "0".into() })]),
        (&[("ratio", "1.6")], vec![err("ratio", ErrorCode::NumberTooLarge { max: "1.5".into() })]),
        (&[("agree", "no")], vec![err("agree", ErrorCode::ConsentRequired)]),
        (&[("office.line", "大手町1-1")], vec![err("office.region", ErrorCode::Required)]),
        (
            &[("office.postal", "abc"), ("office.region", "東京都"), ("office.line", "1")],
            vec![err("office.postal", ErrorCode::InvalidPostalCode)],
        ),
        (&[("zip", "123")], vec![err("zip", ErrorCode::InvalidPostalCode)]),
    ];
    for (changes, want) in cases {
        assert_eq!(&errors(&with(changes)), want, "input changed by {changes:?}");
    }
}

#[test]
fn optional_fields_left_empty_are_absent() {
    let got = values(&with(&[
        ("zip", " "),
        ("office.postal", ""),
        ("office.region", ""),
        ("office.line", ""),
        ("note", "\r\n"),
        ("amount", ""),
    ]));
    for absent in ["nickname", "zip", "office", "certs", "note", "title", "amount", "ratio"] {
        assert!(!got.contains_key(absent), "{absent} should be absent");
    }
}

#[test]
fn optional_fields_answered_are_normalised() {
    let got = values(&with(&[
        ("nickname", "タロー"),
        ("zip", "1000001"),
        ("office.region", "東京都千代田区"),
        ("office.line", "大手町２−３−４　メゾン大手町１０１"),
        ("certs", "tax"),
        ("certs", "income"),
        ("certs", "tax"),
        ("note", "一行目\r\n二行目\r三行目"),
        ("title", "件名\nです"),
        ("amount", "１，０００"),
        ("ratio", "0.25"),
    ]));
    let cases = [
        ("nickname", Value::Name { name: "タロー".into(), kana: None }),
        ("zip", Value::PostalCode("100-0001".into())),
        (
            "office",
            Value::Address {
                postal: String::new(),
                region: "東京都千代田区".into(),
                line: "大手町2-3-4 メゾン大手町101".into(),
            },
        ),
        ("certs", Value::Choices(vec!["income".into(), "tax".into()])),
        ("note", Value::Text("一行目\n二行目\n三行目".into())),
        ("title", Value::Text("件名です".into())),
        ("amount", Value::Number(1000.0)),
        ("ratio", Value::Number(0.25)),
    ];
    for (key, want) in cases {
        assert_eq!(got.get(key), Some(&want), "{key}");
    }
}

#[test]
fn hidden_fields_are_neither_validated_nor_stored() {
    // payment is not "transfer": bank is not asked, even with a bad answer.
    let got = values(&with(&[("payment", "slip"), ("bank", "とても長い名前の金融機関です")]));
    assert_eq!(got.get("payment"), Some(&Value::Choice("slip".into())));
    assert!(!got.contains_key("bank"));
}

#[test]
fn shown_conditional_fields_are_validated() {
    assert_eq!(errors(&without(&["bank"])), vec![err("bank", ErrorCode::Required)]);
    // A condition on a multiple choice holds when the value is among those
    // ticked.
    assert_eq!(errors(&with(&[("certs", "income"), ("certs", "paid")])), vec![err("paid_year", ErrorCode::Required)]);
    let got = values(&with(&[("certs", "paid"), ("paid_year", "２０２３")]));
    assert_eq!(got.get("paid_year"), Some(&Value::Number(2023.0)));
}

#[test]
fn choice_values_are_compared_after_nfkc() {
    let got = values(&with(&[("payment", "ｓｌｉｐ")]));
    assert_eq!(got.get("payment"), Some(&Value::Choice("slip".into())));
}

#[test]
fn to_input_refills_the_form_and_validates_to_the_same_submission() {
    let def = form();
    let input = with(&[
        ("nickname", "タロー"),
        ("office.region", "大阪府大阪市北区"),
        ("office.line", "梅田1-1"),
        ("certs", "paid"),
        ("certs", "income"),
        ("paid_year", "2023"),
        ("note", "一行目\n二行目"),
        ("ratio", "0.5"),
    ]);
    let sub = def.validate(&input, TODAY).expect("valid");
    let refill = sub.to_input(&def);
    let keys: Vec<&str> = refill.pairs().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "applicant",
            "applicant.kana",
            "nickname",
            "home.postal",
            "home.region",
            "home.line",
            "office.postal",
            "office.region",
            "office.line",
            "start",
            "phone",
            "email",
            "email.confirm",
            "payment",
            "bank",
            "certs",
            "certs",
            "paid_year",
            "note",
            "ratio",
            "agree",
        ]
    );
    assert_eq!(refill.get("phone"), Some("03-1234-5678"));
    assert_eq!(refill.get("agree"), Some("yes"));
    assert_eq!(def.validate(&refill, TODAY), Ok(sub));
}

#[test]
fn canonical_json_is_deterministic_and_round_trips() {
    let sub = form().validate(&with(&[("ratio", "0.5")]), TODAY).expect("valid");
    let bytes = sub.canonical_json();
    assert_eq!(bytes, sub.clone().canonical_json());
    let back: Submission = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(back, sub);
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(text.starts_with(r#"{"form_id":"everything","values":{"agree":{"Consent":true},"applicant":{"Name":"#));
}

#[test]
fn every_value_round_trips_through_serde_json() {
    let values = [
        Value::Text("a\nb".into()),
        Value::Name { name: "山田 太郎".into(), kana: None },
        Value::PostalCode("123-4567".into()),
        Value::Address { postal: "123-4567".into(), region: "r".into(), line: "l".into() },
        Value::Date("2024-04-01".into()),
        Value::Phone("0312345678".into()),
        Value::Email("a@b.jp".into()),
        Value::Choice("x".into()),
        Value::Choices(vec![]),
        Value::Number(-0.5),
        Value::Consent(true),
    ];
    for v in values {
        let json = serde_json::to_string(&v).expect("json");
        let back: Value = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, v, "{json}");
    }
}

#[test]
fn display_values_for_the_confirm_page() {
    let def = form();
    let field = |n: &str| def.field(n).expect("field").clone();
    let cases = [
        ("payment", Value::Choice("slip".into()), "納付書", "Payment slip"),
        ("certs", Value::Choices(vec!["income".into(), "paid".into()]), "所得証明書、納税証明書", "Income, Tax paid"),
        ("start", Value::Date("2024-04-01".into()), "2024年4月1日（令和6年）", "1 April 2024"),
        (
            "applicant",
            Value::Name { name: "山田 太郎".into(), kana: Some("ヤマダ タロウ".into()) },
            "山田 太郎（ヤマダ タロウ）",
            "山田 太郎 (ヤマダ タロウ)",
        ),
        ("nickname", Value::Name { name: "タロー".into(), kana: None }, "タロー", "タロー"),
        (
            "home",
            Value::Address {
                postal: "123-4567".into(), region: "東京都千代田区".into(), line: "千代田1-1".into()
            },
            "〒123-4567 東京都千代田区 千代田1-1",
            "〒123-4567 東京都千代田区 千代田1-1",
        ),
        (
            "office",
            Value::Address { postal: String::new(), region: "東京都".into(), line: "大手町1-1".into() },
            "東京都 大手町1-1",
            "東京都 大手町1-1",
        ),
        ("zip", Value::PostalCode("123-4567".into()), "〒123-4567", "〒123-4567"),
        ("agree", Value::Consent(true), "同意する", "Agreed"),
        ("phone", Value::Phone("0312345678".into()), "03-1234-5678", "03-1234-5678"),
        ("phone", Value::Phone("0451234567".into()), "0451234567", "0451234567"),
        ("note", Value::Text("一\n二".into()), "一\n二", "一\n二"),
        ("amount", Value::Number(1000.0), "1000", "1000"),
        ("ratio", Value::Number(0.25), "0.25", "0.25"),
        ("email", Value::Email("a@b.jp".into()), "a@b.jp", "a@b.jp"),
    ];
    for (name, value, ja, en) in cases {
        let f = field(name);
        assert_eq!(def.display_value(&f, &value, Lang::Ja), ja, "{name} ja");
        assert_eq!(def.display_value(&f, &value, Lang::En), en, "{name} en");
    }
}

#[test]
fn messages_are_plain_and_in_both_languages() {
    let cases = [
        (ErrorCode::Required, "入力してください。", "Please fill this in."),
        (ErrorCode::TooLong { max: 800 }, "800文字以内で入力してください。", "Please use at most 800 characters."),
        (
            ErrorCode::DateTooEarly { min: "2024-04-02".into() },
            "2024年4月2日以降の日付を入力してください。",
            "Please enter a date on or after 2 April 2024.",
        ),
        (ErrorCode::EmailMismatch, "確認用のメールアドレスが一致しません。", "The two e-mail addresses do not match."),
    ];
    for (code, ja, en) in cases {
        let e = FieldError { field: "f".into(), input: "f".into(), code };
        assert_eq!(e.message(Lang::Ja), ja);
        assert_eq!(e.message(Lang::En), en);
    }
    let all = [
        ErrorCode::Required,
        ErrorCode::TooLong { max: 1 },
        ErrorCode::TooShort { min: 1 },
        ErrorCode::NotKana,
        ErrorCode::InvalidPostalCode,
        ErrorCode::InvalidDate,
        ErrorCode::DateTooEarly { min: "x".into() },
        ErrorCode::DateTooLate { max: "x".into() },
        ErrorCode::InvalidPhone,
        ErrorCode::InvalidEmail,
        ErrorCode::EmailMismatch,
        ErrorCode::UnknownChoice,
        ErrorCode::NotANumber,
        ErrorCode::NotAnInteger,
        ErrorCode::NumberTooSmall { min: "1".into() },
        ErrorCode::NumberTooLarge { max: "1".into() },
        ErrorCode::ConsentRequired,
    ];
    for code in all {
        assert!(code.message(Lang::Ja).ends_with('。'), "{code:?}");
        assert!(code.message(Lang::En).ends_with('.'), "{code:?}");
    }
}

#[test]
fn numbers() {
    let cases = [
        ("0", Some(0.0)),
        ("-0", Some(0.0)),
        ("+12", Some(12.0)),
        ("3.25", Some(3.25)),
        ("1.", None),
        (".5", None),
        ("1e3", None),
        ("inf", None),
        ("NaN", None),
        ("--1", None),
        ("", None),
    ];
    for (input, want) in cases {
        assert_eq!(parse_number(input), want, "parse_number({input:?})");
    }
}

#[test]
fn the_water_start_demo_form_end_to_end() {
    let def = FormDefinition::parse(include_str!("../../../../demo/forms/water-start.toml")).expect("demo parses");
    let base = [
        ("applicant", "水野 花子"),
        ("applicant.kana", "ﾐｽﾞﾉ ﾊﾅｺ"),
        ("phone", "０９０－１２３４－５６７８"),
        ("email", "hanako@example.jp"),
        ("email.confirm", "hanako@example.jp"),
        ("property.postal", "1000001"),
        ("property.region", "東京都千代田区"),
        ("property.line", "千代田1-1 コーポ水道101"),
        ("dwelling", "apartment"),
        ("start_date", "R6.4.15"),
        ("consent", "yes"),
    ];
    let input = |extra: &[(&'static str, &'static str)]| RawInput::from_pairs(base.iter().chain(extra).copied());

    let slip =
        def.validate(&input(&[("payment", "slip"), ("bank_name", "")]), TODAY).expect("valid with a payment slip");
    assert!(!slip.values.contains_key("bank_name"));
    assert_eq!(slip.values["applicant"], Value::Name { name: "水野 花子".into(), kana: Some("ミズノ ハナコ".into()) });
    assert_eq!(slip.values["start_date"], Value::Date("2024-04-15".into()));

    let errors = def.validate(&input(&[("payment", "transfer")]), TODAY).expect_err("direct debit needs the bank");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].input, "bank_name");
    assert_eq!(errors[0].message(Lang::Ja), "入力してください。");

    let transfer = def
        .validate(&input(&[("payment", "transfer"), ("bank_name", "みずほ銀行")]), TODAY)
        .expect("valid with direct debit");
    assert_eq!(transfer.values["bank_name"], Value::Text("みずほ銀行".into()));
    let field = def.field("payment").expect("payment");
    assert_eq!(def.display_value(field, &transfer.values["payment"], Lang::Ja), "口座振替");
}

#[test]
fn the_staff_exam_demo_form_takes_wareki_birth_dates() {
    let def = FormDefinition::parse(include_str!("../../../../demo/forms/staff-exam.toml")).expect("demo parses");
    let field = def.field("birth_date").expect("birth_date");
    let cases = [
        ("平成12年4月2日", Ok(Value::Date("2000-04-02".into()))),
        ("H12.4.2", Ok(Value::Date("2000-04-02".into()))),
        ("平成31年5月1日", Err(ErrorCode::InvalidDate)),
        ("2030-01-01", Err(ErrorCode::DateTooLate { max: "2024-04-01".into() })),
    ];
    for (typed, want) in cases {
        let input = RawInput::from_pairs([("birth_date", typed)]);
        let mut errors = Vec::new();
        let got = validate_field(field, &input, TODAY, &mut errors);
        let got = match errors.pop() {
            Some(e) => Err(e.code),
            None => Ok(got.expect("a value")),
        };
        assert_eq!(got, want, "{typed}");
    }
}

#[test]
fn a_booking_takes_only_an_offered_slot_and_a_scale_only_its_points() {
    let def = FormDefinition::parse(
        r#"
id = "b"
title = { ja = "予約" }
[[fields]]
name = "slot"
type = "booking"
label = { ja = "日時" }
required = true
times = ["09:00", "13:30"]
capacity = 2
until = "today+10"
[[fields]]
name = "rating"
type = "scale"
label = { ja = "満足度" }
"#,
    )
    .unwrap();
    let today = time::macros::date!(2026 - 11 - 25);
    let answer =
        |slot: &str, rating: &str| def.validate(&RawInput::from_pairs([("slot", slot), ("rating", rating)]), today);
    let ok = answer("２０２６－１１－２６Ｔ１３：３０", "4").unwrap();
    assert_eq!(ok.values["slot"], Value::Slot("2026-11-26T13:30".into()));
    assert_eq!(ok.values["rating"], Value::Number(4.0));
    assert_eq!(
        def.display_value(&def.fields[0], &ok.values["slot"], Lang::Ja),
        "2026年11月26日（令和8年）（木） 13:30〜14:00"
    );
    let (field, schedule, slot) = def.booked_slot(&ok).unwrap();
    assert_eq!((field.name.as_str(), schedule.capacity, slot.key().as_str()), ("slot", 2, "2026-11-26T13:30"));
    for (slot, rating) in [("2026-11-28T09:00", "3"), ("2026-11-26T10:00", "3"), ("tomorrow", "3")] {
        let errors = answer(slot, rating).unwrap_err();
        assert_eq!(errors.iter().map(|e| &e.code).collect::<Vec<_>>(), [&ErrorCode::UnknownSlot], "{slot}");
    }
    for rating in ["0", "6", "2.5", "とても"] {
        let errors = answer("2026-11-26T09:00", rating).unwrap_err();
        assert_eq!(errors.iter().map(|e| &e.code).collect::<Vec<_>>(), [&ErrorCode::UnknownChoice], "{rating}");
    }
    assert!(ErrorCode::SlotFull.message(Lang::Ja).contains("別の日時"));
}

#[test]
fn files_are_answers_by_reference_checked_against_the_field_as_it_is_now() {
    use crate::files::{FileRef, FileType};
    let def = FormDefinition::parse(
        r#"
id = "scan"
title = { ja = "添付" }

[[fields]]
name = "scan"
type = "file"
label = { ja = "本人確認書類" }
required = true
accept = ["pdf", "png"]
max_mb = 1
max_files = 2
"#,
    )
    .unwrap();
    let file = |id: &str, file_type: FileType, size: u64| FileRef {
        id: id.into(),
        name: format!("{id}.{}", file_type.extension()),
        file_type,
        size,
        sealed: "ab".repeat(32),
    };
    let codes = |input: &RawInput| match def.validate(input, TODAY) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.code).collect(),
    };
    assert_eq!(codes(&RawInput::new()), vec![ErrorCode::Required]);
    let mut input = RawInput::new();
    input.push_file("scan", file("a", FileType::Pdf, 1_000));
    input.push_file("scan", file("b", FileType::Png, 1_000_000));
    let sub = def.validate(&input, TODAY).unwrap();
    let Value::Files(files) = &sub.values["scan"] else { panic!("{:?}", sub.values) };
    assert_eq!(files.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(sub.to_input(&def).files("scan").len(), 2, "修正する keeps the files");
    assert_eq!(
        def.display_value(&def.fields[0], &sub.values["scan"], Lang::Ja),
        "a.pdf（PDF・1 KB）、b.png（PNG・1.0 MB）"
    );
    // A JSON round trip (the draft token, the sealed record) keeps them.
    let back: Submission = serde_json::from_slice(&sub.canonical_json()).unwrap();
    assert_eq!(back, sub);

    input.push_file("scan", file("c", FileType::Pdf, 10));
    assert_eq!(codes(&input), vec![ErrorCode::TooManyFiles { max: 2 }]);
    assert!(input.remove_file("scan", "c") && !input.remove_file("scan", "c"));
    let mut jpeg = RawInput::new();
    jpeg.push_file("scan", file("j", FileType::Jpeg, 10));
    assert_eq!(codes(&jpeg), vec![ErrorCode::FileNotAccepted { accept: vec![FileType::Pdf, FileType::Png] }]);
    let mut big = RawInput::new();
    big.push_file("scan", file("big", FileType::Pdf, 1_000_001));
    assert_eq!(codes(&big), vec![ErrorCode::FileTooLarge { max_mb: 1 }]);
}
