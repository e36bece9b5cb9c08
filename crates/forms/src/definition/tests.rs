use super::*;

fn demo_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/forms")
}

/// Every demo form, as (file stem, source).
fn demo_forms() -> Vec<(String, String)> {
    let mut forms: Vec<(String, String)> = std::fs::read_dir(demo_dir())
        .expect("demo/forms exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (stem, std::fs::read_to_string(&p).expect("readable"))
        })
        .collect();
    forms.sort();
    forms
}

fn messages(src: &str) -> Vec<String> {
    match FormDefinition::check(src) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_demo_form_checks_cleanly() {
    let forms = demo_forms();
    let stems: Vec<&str> = forms.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        stems,
        vec![
            "car-tax-address-change",
            "citizen-survey",
            "damage-report",
            "information-disclosure",
            "safety-confirmation",
            "staff-exam",
            "tax-certificate-booking",
            "water-start",
        ]
    );
    for (stem, src) in &forms {
        let def = match FormDefinition::check(src) {
            Ok(def) => def,
            Err(errors) => panic!("{stem}.toml: {errors:#?}"),
        };
        assert_eq!(&def.id, stem, "the form id is the file stem");
        assert!(def.title.en.is_some(), "{stem}: English title");
        assert!(def.fields.iter().any(|f| f.show_when.is_some()), "{stem}: at least one conditional field");
        assert!(
            def.fields.iter().any(|f| f.required && matches!(f.kind, FieldKind::Consent { .. })),
            "{stem}: a required consent"
        );
        for f in &def.fields {
            assert!(f.label.en.is_some(), "{stem}: {} has an English label", f.name);
            if let FieldKind::Choice { options, .. } = &f.kind {
                assert!(options.iter().all(|o| o.label.en.is_some()), "{stem}: {}", f.name);
            }
        }
    }
}

#[test]
fn demo_forms_round_trip_through_to_toml() {
    for (stem, src) in demo_forms() {
        let def = FormDefinition::parse(&src).expect("parses");
        let out = def.to_toml();
        let back = match FormDefinition::parse(&out) {
            Ok(back) => back,
            Err(e) => panic!("{stem}: canonical TOML does not parse: {e}\n{out}"),
        };
        assert_eq!(back, def, "{stem}");
        assert_eq!(back.to_toml(), out, "{stem}: canonical output is stable");
    }
}

#[test]
fn to_toml_escapes_and_keeps_every_setting() {
    let src = r#"
id = "odd-texts"
title = { ja = "引用符\"と\\と改行\nと\ttab" }
max_body_bytes = 1024
[[fields]]
name = "n"
type = "number"
label = { ja = "数", en = "Number" }
min = -1.5
max = 1e20
integer = false
[[fields]]
name = "t"
type = "text"
label = { ja = "文" }
min_length = 3
[[fields]]
name = "e"
type = "email"
label = { ja = "メール" }
confirm = false
[[fields]]
name = "p"
type = "name"
label = { ja = "氏名" }
furigana = false
required = true
show_when = { field = "e", equals = "a@b.jp" }
"#;
    let def = FormDefinition::parse(src).expect("parses");
    assert_eq!(def.max_body_bytes, 1024);
    let out = def.to_toml();
    assert_eq!(FormDefinition::parse(&out), Ok(def), "{out}");
}

#[test]
fn json_and_toml_serde_agree_with_check() {
    // Other crates may store definitions with serde; the canonical TOML
    // must read the same way there.
    for (stem, src) in demo_forms() {
        let def = FormDefinition::parse(&src).expect("parses");
        let via_serde: FormDefinition = toml::from_str(&def.to_toml()).expect("serde reads it");
        assert_eq!(via_serde, def);
        let json = serde_json::to_string(&def).expect("json");
        assert_eq!(serde_json::from_str::<FormDefinition>(&json).expect("back"), def, "{stem}");
    }
}

#[test]
fn a_syntax_error_is_reported_at_its_line() {
    let src = "id = \"x\"\ntitle = { ja = \"t\" }\n\n[[fields]]\nname = \"a\"\ntype = \"text\n";
    let errors = FormDefinition::check(src).expect_err("syntax error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 6, "{}", errors[0]);
    assert!(errors[0].message.starts_with("TOML syntax error"), "{}", errors[0]);
    assert!(!errors[0].message.contains('\n'));

    let e = FormDefinition::parse("id = \"x\"\ntitle = { ja = \"t\" \n").expect_err("unclosed");
    assert_eq!((e.line, e.column), (2, 20), "{e}");
}

/// A valid form; each case below appends or replaces lines to break it in
/// one way.
const BASE: &str = r#"id = "sample"
title = { ja = "見本", en = "Sample" }

[[fields]]
name = "payment"
type = "choice"
label = { ja = "支払方法" }
required = true
options = [
  { value = "transfer", label = { ja = "口座振替" } },
  { value = "slip", label = { ja = "納付書" } },
]

[[fields]]
name = "bank"
type = "text"
label = { ja = "金融機関名" }
show_when = { field = "payment", equals = "transfer" }
"#;

#[test]
fn the_base_form_is_valid() {
    assert_eq!(messages(BASE), Vec::<String>::new());
}

#[test]
fn semantic_errors_point_at_the_offending_line() {
    let cases: &[(&str, &str, &str)] = &[
        // (replace this, with this, expected "line L, column C: …" prefix)
        (r#"id = "sample""#, r#"id = "Sample_1""#, r#"line 1, column 6: invalid form id "Sample_1""#),
        (r#"name = "bank""#, r#"name = "Bank""#, r#"line 15, column 8: field "Bank": invalid field name"#),
        (
            r#"name = "bank""#,
            r#"name = "payment""#,
            r#"line 15, column 8: field "payment": duplicate field name (first used on line 5)"#,
        ),
        (
            r#"{ field = "payment", equals = "transfer" }"#,
            r#"{ field = "foo", equals = "transfer" }"#,
            r#"line 18, column 23: field "bank": show_when refers to unknown field "foo""#,
        ),
        (
            r#"{ field = "payment", equals = "transfer" }"#,
            r#"{ field = "payment", equals = "cash" }"#,
            r#"line 18, column 43: field "bank": show_when.equals "cash" is not an option value of field "payment""#,
        ),
        (
            r#"{ field = "payment", equals = "transfer" }"#,
            r#"{ field = "bank", equals = "x" }"#,
            r#"line 18, column 23: field "bank": show_when refers to the field itself"#,
        ),
        (
            r#"{ value = "slip","#,
            r#"{ value = "transfer","#,
            r#"line 11, column 13: field "payment": duplicate option value "transfer""#,
        ),
        (
            r#"label = { ja = "支払方法" }"#,
            r#"label = { ja = " " }"#,
            r#"line 7, column 16: field "payment": "label" has an empty Japanese text ("ja")"#,
        ),
        (r#"type = "text""#, r#"type = "textarea""#, r#"line 16, column 8: field "bank": unknown type "textarea""#),
        (
            r#"required = true"#,
            r#"required = "yes""#,
            r#"line 8, column 12: field "payment": "required" must be true or false, found a string"#,
        ),
        (
            r#"required = true"#,
            r#"requird = true"#,
            r#"line 8, column 1: field "payment": unknown key "requird" for a field of type "choice""#,
        ),
        (
            r#"title = { ja = "見本", en = "Sample" }"#,
            r#"title = { ja = "見本", en = "Sample" }
colour = "red""#,
            r#"line 3, column 1: unknown key "colour""#,
        ),
        (
            r#"show_when = { field = "payment", equals = "transfer" }"#,
            "min_length = 30\nmax_length = 20",
            r#"line 18, column 14: field "bank": "min_length" (30) is greater than "max_length" (20)"#,
        ),
        (
            r#"show_when = { field = "payment", equals = "transfer" }"#,
            "options = []",
            r#"line 18, column 1: field "bank": unknown key "options" for a field of type "text""#,
        ),
    ];
    for (from, to, want) in cases {
        assert!(BASE.contains(from), "case does not apply: {from}");
        let src = BASE.replacen(from, to, 1);
        let got = messages(&src);
        assert!(got.iter().any(|m| m.starts_with(want)), "want {want:?}\n got {got:#?}");
    }
}

#[test]
fn more_semantic_errors() {
    let field = |body: &str| {
        format!("id = \"f\"\ntitle = {{ ja = \"t\" }}\n[[fields]]\nname = \"x\"\nlabel = {{ ja = \"X\" }}\n{body}\n")
    };
    let cases: &[(&str, &str)] = &[
        ("type = \"choice\"\noptions = []", r#"line 7, column 1: field "x": a choice needs at least one option"#),
        ("type = \"choice\"", r#"line 3, column 1: field "x": missing key "options""#),
        (
            "type = \"number\"\nmin = 10\nmax = 1",
            r#"line 7, column 7: field "x": "min" (10) is greater than "max" (1)"#,
        ),
        ("type = \"number\"\nmin = nan", r#"line 7, column 7: field "x": "min" must be a finite number"#),
        (
            "type = \"date\"\nmin = \"yesterday\"",
            r#"line 7, column 7: field "x": invalid date bound "min" = "yesterday""#,
        ),
        ("type = \"date\"\nmax = \"2024-02-30\"", r#"line 7, column 7: field "x": invalid date bound "max""#),
        (
            "type = \"date\"\nmin = \"today+10\"\nmax = \"today\"",
            r#"line 7, column 7: field "x": date "min" is after "max""#,
        ),
        ("type = \"text\"\nmax_length = -1", r#"line 7, column 14: field "x": "max_length" must not be negative"#),
        ("type = \"text\"\nmax_length = 0", r#"line 7, column 14: field "x": "max_length" must be at least 1"#),
        ("type = \"consent\"", r#"line 3, column 1: field "x": missing key "statement""#),
        (
            "type = \"consent\"\nstatement = { en = \"I agree\" }",
            r#"line 7, column 1: field "x": "statement" needs a Japanese text ("ja")"#,
        ),
        (
            "type = \"text\"\nhelp = { ja = \"h\", fr = \"aide\" }",
            r#"line 7, column 20: field "x": "help": unknown key "fr""#,
        ),
        (
            "type = \"text\"\nshow_when = { field = \"x\" }",
            r#"line 7, column 1: field "x": show_when: missing key "equals""#,
        ),
    ];
    for (body, want) in cases {
        let got = messages(&field(body));
        assert!(got.iter().any(|m| m.starts_with(want)), "want {want:?}\n got {got:#?}");
    }
}

#[test]
fn show_when_may_not_look_ahead() {
    let src = r#"id = "f"
title = { ja = "t" }

[[fields]]
name = "bank"
type = "text"
label = { ja = "金融機関名" }
show_when = { field = "payment", equals = "transfer" }

[[fields]]
name = "payment"
type = "choice"
label = { ja = "支払方法" }
options = [{ value = "transfer", label = { ja = "口座振替" } }]
"#;
    let errors = FormDefinition::check(src).expect_err("forward reference");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 8);
    assert!(errors[0].message.contains("comes later"), "{}", errors[0]);
}

#[test]
fn all_problems_are_reported_in_file_order() {
    let src = r#"id = "Bad Id"
title = { ja = "" }

[[fields]]
name = "a"
type = "weird"
label = { ja = "A" }

[[fields]]
name = "b"
type = "text"
label = { ja = "B" }
max_length = "many"
"#;
    let errors = FormDefinition::check(src).expect_err("three problems");
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 2, 6, 13], "{errors:#?}");
    // parse() gives the first one.
    let first = FormDefinition::parse(src).expect_err("bad");
    assert_eq!(first, errors[0]);
}

#[test]
fn missing_top_level_keys() {
    let got = messages("");
    assert_eq!(
        got,
        vec![
            r#"line 1, column 1: missing key "id""#,
            r#"line 1, column 1: missing key "title""#,
            r#"line 1, column 1: missing key "fields" (a form needs at least one field)"#,
        ]
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let src = "id = \"x\"\ntitle = { ja = \"見本\", en = 1 }\nfields = []\n";
    let got = messages(src);
    assert!(got.iter().any(|m| m.starts_with(r#"line 2, column 27: "title": "en" must be a string"#)), "{got:#?}");
}

#[test]
fn is_shown_follows_conditions_and_their_chains() {
    let def = FormDefinition::parse(
        r#"id = "f"
title = { ja = "t" }
[[fields]]
name = "kind"
type = "choice"
label = { ja = "区分" }
options = [{ value = "org", label = { ja = "法人" } }, { value = "person", label = { ja = "個人" } }]
[[fields]]
name = "has_branch"
type = "consent"
label = { ja = "支店" }
statement = { ja = "支店がある" }
show_when = { field = "kind", equals = "org" }
[[fields]]
name = "branch"
type = "text"
label = { ja = "支店名" }
show_when = { field = "has_branch", equals = "yes" }
"#,
    )
    .expect("parses");
    let shown = |pairs: &[(&str, &str)], name: &str| {
        let field = def.field(name).expect("field");
        def.is_shown(field, &RawInput::from_pairs(pairs.iter().copied()))
    };
    assert!(shown(&[], "kind"));
    assert!(!shown(&[], "has_branch"));
    assert!(shown(&[("kind", "org")], "has_branch"));
    assert!(shown(&[("kind", "ｏｒｇ ")], "has_branch"), "after NFKC");
    assert!(!shown(&[("kind", "person")], "has_branch"));
    assert!(shown(&[("kind", "org"), ("has_branch", "yes")], "branch"));
    assert!(shown(&[("kind", "org"), ("has_branch", "on")], "branch"));
    assert!(!shown(&[("kind", "org"), ("has_branch", "no")], "branch"));
    // The controlling field is hidden, so its leftover value does not count.
    assert!(!shown(&[("kind", "person"), ("has_branch", "yes")], "branch"));
    assert!(def.field("nope").is_none());
}

#[test]
fn input_names_per_kind() {
    let def = FormDefinition::parse(&std::fs::read_to_string(demo_dir().join("water-start.toml")).expect("demo"))
        .expect("parses");
    let names = |n: &str| def.field(n).expect("field").input_names();
    assert_eq!(names("applicant"), ["applicant", "applicant.kana"]);
    assert_eq!(names("email"), ["email", "email.confirm"]);
    assert_eq!(names("property"), ["property.postal", "property.region", "property.line"]);
    assert_eq!(names("payment"), ["payment"]);
}

#[test]
fn date_bounds() {
    use time::macros::date;
    let today = date!(2024 - 04 - 01);
    let cases = [
        ("today", Some(date!(2024 - 04 - 01))),
        ("today+90", Some(date!(2024 - 06 - 30))),
        ("today-30", Some(date!(2024 - 03 - 02))),
        ("today + 1", Some(date!(2024 - 04 - 02))),
        ("2024-12-31", Some(date!(2024 - 12 - 31))),
        ("today+", None),
        ("today*2", None),
        ("tomorrow", None),
        ("2024/12/31", None),
        ("today+999999", None),
    ];
    for (s, want) in cases {
        assert_eq!(DateBound::parse(s).and_then(|b| b.resolve(today)), want, "{s}");
    }
}

const BOOKING: &str = r#"
id = "counter-booking"
title = { ja = "窓口予約" }

[[fields]]
name = "slot"
type = "booking"
label = { ja = "日時" }
required = true
times = ["09:00", "09:30"]
capacity = 3
closed = ["2026-12-01"]
until = "today+14"
"#;

#[test]
fn a_booking_field_reads_with_office_defaults_and_round_trips() {
    let def = FormDefinition::parse(BOOKING).unwrap();
    let FieldKind::Booking { weekdays, minutes, from, holidays_closed, capacity, .. } = &def.fields[0].kind else {
        panic!("not a booking: {:?}", def.fields[0].kind);
    };
    assert_eq!(weekdays, &["mon", "tue", "wed", "thu", "fri"]);
    assert_eq!((*minutes, from.as_str(), *holidays_closed, *capacity), (30, "today+1", true, 3));
    assert_eq!(FormDefinition::parse(&def.to_toml()).unwrap(), def);
}

#[test]
fn booking_mistakes_are_named_with_their_line() {
    let bad = BOOKING
        .replace(r#"times = ["09:00", "09:30"]"#, r#"times = ["09:00", "9:5", "23:50"]"#)
        .replace("capacity = 3", "capacity = 0\nweekdays = [\"mon\", \"funday\"]\nminutes = 30");
    let got = messages(&bad);
    assert!(got.iter().any(|m| m.contains("line 10") && m.contains("invalid value \"9:5\" in \"times\"")), "{got:#?}");
    let late = BOOKING.replace(r#""09:30"]"#, r#""23:50"]"#);
    assert!(messages(&late).iter().any(|m| m.contains("the slot at 23:50 would end after midnight")));
    assert!(got.iter().any(|m| m.contains("\"capacity\" must be from 1 to 10000")), "{got:#?}");
    assert!(got.iter().any(|m| m.contains("invalid value \"funday\" in \"weekdays\"")), "{got:#?}");
    let no_times = BOOKING.replace(r#"times = ["09:00", "09:30"]"#, "");
    assert!(messages(&no_times).iter().any(|m| m.contains("missing key \"times\"")));
    let reversed = BOOKING.replace(r#"until = "today+14""#, "from = \"today+20\"\nuntil = \"today+14\"");
    assert!(messages(&reversed).iter().any(|m| m.contains("\"from\" is after \"until\"")));
}

#[test]
fn an_anonymous_survey_may_not_ask_who_the_resident_is() {
    let src = r#"
id = "survey"
title = { ja = "アンケート" }
anonymous = true

[[fields]]
name = "rating"
type = "scale"
label = { ja = "満足度" }
min_label = { ja = "不満" }
max_label = { ja = "満足" }

[[fields]]
name = "who"
type = "name"
label = { ja = "お名前" }
"#;
    let got = messages(src);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].starts_with("line 15") && got[0].contains("an anonymous form may not ask for a name"), "{got:#?}");
    let fine = src.split("[[fields]]\nname = \"who\"").next().unwrap();
    let def = FormDefinition::parse(fine).unwrap();
    assert!(def.anonymous);
    let FieldKind::Scale { min: 1, max: 5, min_label: Some(low), max_label: Some(high) } = &def.fields[0].kind else {
        panic!("{:?}", def.fields[0].kind);
    };
    assert_eq!((low.ja.as_str(), high.ja.as_str()), ("不満", "満足"));
    assert_eq!(FormDefinition::parse(&def.to_toml()).unwrap(), def);
    let wide = fine.replace("type = \"scale\"", "type = \"scale\"\nmin = 0\nmax = 20");
    assert!(messages(&wide).iter().any(|m| m.contains("at most 11 points")));
}

const FILES: &str = r#"
id = "scan"
title = { ja = "添付" }

[[fields]]
name = "scan"
type = "file"
label = { ja = "本人確認書類" }
accept = ["pdf", "jpeg"]
max_mb = 20
max_files = 2

[[fields]]
name = "photo"
type = "file"
label = { ja = "写真" }
"#;

#[test]
fn a_file_field_names_its_types_size_and_count_and_round_trips() {
    use crate::files::FileType;
    let def = FormDefinition::parse(FILES).unwrap();
    assert_eq!(
        def.fields[0].kind,
        FieldKind::File { accept: vec![FileType::Pdf, FileType::Jpeg], max_mb: 20, max_files: 2 }
    );
    assert_eq!(def.fields[1].kind, FieldKind::File { accept: FileType::ALL.to_vec(), max_mb: 10, max_files: 1 });
    assert_eq!(FormDefinition::parse(&def.to_toml()).unwrap(), def);
    let bad = FILES
        .replace(r#"accept = ["pdf", "jpeg"]"#, r#"accept = ["pdf", "exe"]"#)
        .replace("max_mb = 20", "max_mb = 500")
        .replace("max_files = 2", "max_files = 0");
    let got = messages(&bad);
    assert!(got.iter().any(|m| m.contains("line 9") && m.contains("invalid value \"exe\" in \"accept\"")), "{got:#?}");
    assert!(got.iter().any(|m| m.contains("\"max_mb\" must be from 1 to 50")), "{got:#?}");
    assert!(got.iter().any(|m| m.contains("\"max_files\" must be from 1 to 10")), "{got:#?}");
    let anonymous = FILES.replace("title = { ja = \"添付\" }", "title = { ja = \"添付\" }\nanonymous = true");
    assert!(messages(&anonymous).iter().any(|m| m.contains("an anonymous form may not ask for a file")));
}

#[test]
fn a_verified_survey_names_its_method_and_what_must_be_true_of_respondents() {
    let src = r#"
id = "plan-survey"
title = { ja = "総合計画についての市民アンケート" }
anonymous = true
verify = { method = "jpki", require = ["adult", "resident"] }

[[fields]]
name = "opinion"
type = "text"
multiline = true
label = { ja = "ご意見" }
"#;
    let def = FormDefinition::parse(src).unwrap();
    let verify = def.verify.clone().expect("verified");
    assert_eq!(verify.method, VerificationMethod::Jpki);
    assert_eq!(verify.require, vec![Requirement::Resident, Requirement::Adult], "in a fixed order");
    assert_eq!(FormDefinition::parse(&def.to_toml()).unwrap(), def, "round trip");
    assert!(def.to_toml().contains(r#"verify = { method = "jpki", require = ["resident", "adult"] }"#));

    let unknown = src.replace("\"jpki\"", "\"password\"");
    assert!(messages(&unknown).iter().any(|m| m.starts_with("line 5") && m.contains("unknown method \"password\"")));
    let bad = src.replace("\"adult\", ", "\"adult\", \"taxpayer\", ");
    assert!(messages(&bad).iter().any(|m| m.contains("invalid value \"taxpayer\"")), "{:?}", messages(&bad));
    let twice = src.replace("\"adult\", ", "\"adult\", \"adult\", ");
    assert!(messages(&twice).iter().any(|m| m.contains("listed twice")));
    let stray = src.replace("method = ", "who = \"everyone\", method = ");
    assert!(messages(&stray).iter().any(|m| m.contains("unknown key \"who\"")));
    let plain = src.replace("verify = { method = \"jpki\", require = [\"adult\", \"resident\"] }\n", "");
    assert_eq!(FormDefinition::parse(&plain).unwrap().verify, None);
}
