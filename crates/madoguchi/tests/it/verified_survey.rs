//! Verified surveys (住民限定アンケート): a survey that requires proof of
//! who answers takes one answer per person, from those its requirements
//! admit, and the counter keeps neither who they are nor anything a
//! certificate or an identity provider said of them: only a keyed
//! pseudonym per form, and in the sealed record the requirements met.

use std::path::Path;

use residency::jpki::test_pki::{TestPerson, TestPki, TestPkiFiles};
use seal::RecordBinding;
use store::ReceiptNumber;
use testkit::oidc::{OidcProvider, TestUser};
use testkit::{Engine, TestCounter};
use time::macros::date;

use crate::privacy::files_under;
use crate::{element_text, hidden_input, madoguchi, on_both_engines, post_form};

on_both_engines!(
    a_card_signed_answer_is_taken_once_and_bad_signatures_are_answered_beside_the_input,
    a_respondent_signed_in_at_the_identity_provider_answers_once
);

/// A verified survey of one free-text question: the card-signed
/// `plan-survey` or the sign-in-first `parks-survey`.
fn survey(method: &str) -> String {
    let (id, title) = match method {
        "jpki" => ("plan-survey", "青葉市総合計画（案）についての市民アンケート"),
        _ => ("parks-survey", "公園の使い方アンケート"),
    };
    format!(
        r#"
id = "{id}"
title = {{ ja = "{title}" }}
anonymous = true
verify = {{ method = "{method}", require = ["resident", "adult"] }}

[[fields]]
name = "opinion"
type = "text"
multiline = true
label = {{ ja = "ご意見", en = "Your opinion" }}
required = true
"#
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn person(name: &str, birth: time::Date, address: &str) -> TestPerson {
    TestPerson { name: name.into(), birth_date: birth, address: address.into() }
}

/// What a resident's browser does: the 確認画面 of `form` with `opinion`.
async fn confirm(counter: &TestCounter, form: &str, opinion: &str, cookie: Option<&str>) -> (u16, String) {
    let mut request =
        counter.client().post(format!("{}/t/aoba-city/f/{form}/confirm", counter.url)).form(&[("opinion", opinion)]);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// 送信 with the draft and, when given, the signature file.
async fn send_signed(counter: &TestCounter, draft: &str, signature: Option<Vec<u8>>) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new().text("_draft", draft.to_owned());
    form = match signature {
        Some(bytes) => form.part(
            "signature",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("answers.p7s")
                .mime_str("application/pkcs7-signature")
                .unwrap(),
        ),
        None => form.part("signature", reqwest::multipart::Part::bytes(Vec::new()).file_name("")),
    };
    let response = counter
        .client()
        .post(format!("{}/t/aoba-city/f/plan-survey/submit", counter.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The text to sign, as the resident saves it with 署名するファイルを保存.
async fn signing_file(counter: &TestCounter, draft: &str) -> Vec<u8> {
    let response = counter
        .client()
        .post(format!("{}/t/aoba-city/f/plan-survey/sign-data", counter.url))
        .form(&[("_draft", draft)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"madoguchi-plan-survey-"), "{disposition}");
    response.bytes().await.unwrap().to_vec()
}

/// A fresh 確認画面 for `opinion`: its draft and the file to sign.
async fn drafted(counter: &TestCounter, opinion: &str) -> (String, Vec<u8>) {
    let (status, page) = confirm(counter, "plan-survey", opinion, None).await;
    assert_eq!(status, 200, "{page}");
    let draft = hidden_input(&page, "_draft").expect("draft");
    let text = signing_file(counter, &draft).await;
    let shown = element_text(&page, "signing-text").expect("the text to sign is shown");
    assert_eq!(shown.replace("\r\n", "\n").trim(), String::from_utf8_lossy(&text).replace("\r\n", "\n").trim());
    (draft, text)
}

/// The text of the element with `id`, its markup dropped (up to the end of
/// the element's first closing tag of its own name).
fn text_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open = html[..at].rfind('<')?;
    let name: String = html[open + 1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let start = html[at..].find('>')? + at + 1;
    let end = html[start..].find(&format!("</{name}>"))? + start;
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text)
}

/// A configuration file with `[residency]` holding `lines`.
fn write_config(dir: &Path, lines: &str) -> std::path::PathBuf {
    let path = dir.join("madoguchi.toml");
    std::fs::write(&path, format!("[residency]\n{lines}")).unwrap();
    path
}

/// The lines naming the test PKI's anchors and intermediates, and `crls`.
fn jpki_lines(files: &TestPkiFiles, crls: &[std::path::PathBuf]) -> String {
    let crls: Vec<String> = crls.iter().map(|p| toml_path(p)).collect();
    format!(
        "jpki_anchors = {}\njpki_intermediates = {}\njpki_crls = [{}]\n",
        toml_path(&files.anchors),
        toml_path(&files.intermediates),
        crls.join(", ")
    )
}

/// The lines naming the test identity provider at `issuer`.
fn oidc_lines(issuer: &str) -> String {
    format!(
        "oidc_issuer = {issuer:?}\noidc_client_id = \"madoguchi-aoba\"\noidc_client_secret = \"client-secret-for-tests\"\noidc_name_ja = \"みどり県ID\"\noidc_name_en = \"Midori ID\"\n"
    )
}

fn toml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// Everything the counter wrote (files, and PostgreSQL's rows), searched
/// for each of `secrets`.
async fn assert_nowhere_on_the_counter(counter: &mut TestCounter, secrets: &[&str]) {
    counter.kill().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut files = Vec::new();
    files_under(counter.root.path(), &mut files);
    assert!(files.iter().any(|f| f.to_string_lossy().contains("/vault/segments/")), "the vault was written");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for secret in secrets {
            let needle = secret.as_bytes();
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{} holds {secret:?}", file.display());
        }
    }
    if let Some(schema) = counter.database.schema() {
        let dump = std::process::Command::new("pg_dump")
            .args(["--data-only", "--schema", schema, &testkit::postgres_url()])
            .output()
            .expect("pg_dump");
        assert!(dump.status.success());
        let rows = String::from_utf8_lossy(&dump.stdout);
        assert!(rows.contains("-survey"), "the dump covers the survey");
        for secret in secrets {
            assert!(!rows.contains(secret), "PostgreSQL rows hold {secret:?}");
        }
    }
}

async fn a_card_signed_answer_is_taken_once_and_bad_signatures_are_answered_beside_the_input(engine: Engine) {
    let now = now();
    let year = 365 * 86_400;
    let mut pki = TestPki::new("madoguchi test");
    // An address of no postal-table row, so finding it means it leaked.
    let hanako = person("青葉　花子", date!(1980 - 02 - 17), "みどり県青葉市鶯谷八丁目７番６号");
    let card = pki.issue(&hanako, now - year, now + 4 * year);
    let minor = pki.issue(
        &person("青葉　次郎", date!(2012 - 05 - 05), "みどり県青葉市本町一丁目２番３号"),
        now - year,
        now + year,
    );
    let neighbour =
        pki.issue(&person("桜　一郎", date!(1970 - 01 - 01), "みどり県桜町中央三丁目４番"), now - year, now + year);
    let expired = pki.issue(&hanako, now - 6 * year, now - year);
    let revoked = pki.issue(&hanako, now - year, now + year);
    pki.revoke(&revoked, now - 86_400);
    let stranger_pki = TestPki::new("another hierarchy");
    let stranger = stranger_pki.issue(&hanako, now - year, now + year);

    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_files(dir.path(), now);
    let config = write_config(dir.path(), &jpki_lines(&files, &files.crls));
    let mut counter = TestCounter::start_with(madoguchi(), engine, &["--config", config.to_str().unwrap()]).await;
    counter.store().await.publish_form("aoba-city", "plan-survey", &survey("jpki"), None).await.unwrap();

    // The form says who may answer and that the answers will be signed.
    let page = counter.client().get(format!("{}/t/aoba-city/f/plan-survey", counter.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let notice = text_of(&page, "verify-notice").expect("the verification notice");
    assert!(
        notice.contains("マイナンバーカード") && notice.contains("青葉市にお住まいの方") && notice.contains("18歳以上"),
        "{notice}"
    );

    // No signature, someone else's text, a card from another hierarchy, an
    // expired card, a revoked card: each said beside the signature input,
    // the answers kept (the same draft goes on to work).
    let (draft, text) = drafted(&counter, "公園を増やしてください。").await;
    let (status, page) = send_signed(&counter, &draft, None).await;
    assert_eq!(status, 422);
    assert!(text_of(&page, "err-signature").unwrap().contains("署名ファイルを選んでください"), "{page}");
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("another text", card.sign(&pki, b"madoguchi something else"), "一致しません"),
        ("tampered", tamper(card.sign(&pki, &text)), "署名"),
        ("wrong anchor", stranger.sign(&stranger_pki, &text), "確認できません"),
        ("expired", expired.sign(&pki, &text), "有効期限"),
        ("revoked", revoked.sign(&pki, &text), "失効"),
    ];
    for (case, signature, said) in cases {
        let (status, page) = send_signed(&counter, &draft, Some(signature)).await;
        assert_eq!(status, 422, "{case}: {page}");
        let message = text_of(&page, "err-signature").unwrap_or_default();
        assert!(message.contains(said), "{case}: {message}");
        // The same draft again (sealed afresh), so the same text to sign.
        let again = hidden_input(&page, "_draft").expect("the draft stays");
        assert_eq!(signing_file(&counter, &again).await, text, "{case}: the answers stay");
    }
    // Who the survey is not for: told so, in plain words.
    let (minor_draft, minor_text) = drafted(&counter, "図書館を遅くまで開けてほしい。").await;
    let (status, page) = send_signed(&counter, &minor_draft, Some(minor.sign(&pki, &minor_text))).await;
    assert_eq!(status, 403);
    assert!(page.contains("18歳以上の方が対象です"), "{page}");
    let (status, page) = send_signed(&counter, &minor_draft, Some(neighbour.sign(&pki, &minor_text))).await;
    assert_eq!(status, 403);
    assert!(page.contains("青葉市にお住まいの方が対象です"), "{page}");

    // The resident signs the saved file: the answer is received.
    let (status, receipt) = send_signed(&counter, &draft, Some(card.sign(&pki, &text))).await;
    assert_eq!(status, 200, "{receipt}");
    let receipt_number = element_text(&receipt, "receipt-number").expect("到達番号");
    // Sending the same draft again (a double click) is the same receipt.
    let (status, again) = send_signed(&counter, &draft, Some(card.sign(&pki, &text))).await;
    assert_eq!((status, element_text(&again, "receipt-number")), (200, Some(receipt_number.clone())));

    // A second answer with the same card, even to other words, is refused.
    let (second, second_text) = drafted(&counter, "やはり公園よりも図書館を。").await;
    let (status, page) = send_signed(&counter, &second, Some(card.sign(&pki, &second_text))).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("回答済み"), "{page}");

    // The store keeps a keyed pseudonym, not the certificate's serial; the
    // sealed record says which requirements were met, nothing more.
    let store = counter.store().await;
    let (y, s) = receipt_number.split_once('-').unwrap();
    let receipt = ReceiptNumber { year: y.parse().unwrap(), seq: s.parse().unwrap() };
    assert_eq!(store.count_submissions("aoba-city", receipt.year).await.unwrap(), 1);
    let record = store.sealed_record("aoba-city", receipt).await.unwrap().expect("stored");
    let version = store.current_form("aoba-city", "plan-survey").await.unwrap().unwrap().version;
    let binding = RecordBinding::new("aoba-city", "plan-survey", version, &receipt_number);
    let opened = seal::open(&counter.demo_private_key("aoba-city"), &binding, &record).expect("opens on the desk");
    let answer: serde_json::Value = serde_json::from_slice(&opened).unwrap();
    assert_eq!(answer["verified"], serde_json::json!({ "method": "jpki", "met": ["resident", "adult"] }));
    assert_eq!(answer["values"]["opinion"]["Text"], "公園を増やしてください。");
    let text = String::from_utf8_lossy(&opened);
    for secret in ["花子", "鶯谷", "1980", card.serial_hex().as_str()] {
        assert!(!text.contains(secret), "the record holds {secret}");
    }
    let serial = card.serial_hex();
    assert_nowhere_on_the_counter(
        &mut counter,
        &["青葉　花子", "鶯谷八丁目", "19800217", &serial, &serial.to_lowercase()],
    )
    .await;
}

/// The signature with one byte of its signature value changed.
fn tamper(mut der: Vec<u8>) -> Vec<u8> {
    // The signature value is the last large OCTET STRING: flipping a byte
    // near the end lands in it (the DER stays well formed).
    let at = der.len() - 20;
    der[at] ^= 0x01;
    der
}

fn user(subject: &str, birthdate: &str, address: &str) -> TestUser {
    TestUser {
        subject: subject.into(),
        display_name: subject.into(),
        birthdate: Some(birthdate.into()),
        address: Some(address.into()),
    }
}

/// A cookie header's `name=value` from the Set-Cookie headers of `response`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let pair = v.split(';').next()?;
        (pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1).then(|| pair.to_owned())
    })
}

/// 本人確認へ進む → sign in at the provider as `subject` → back at the
/// counter's callback. Returns the callback's response.
async fn sign_in(counter: &TestCounter, provider: &OidcProvider, subject: &str) -> reqwest::Response {
    let client = counter.client();
    let start = client.get(format!("{}/t/aoba-city/f/parks-survey/verify/oidc", counter.url)).send().await.unwrap();
    assert_eq!(start.status(), 303);
    let login_cookie = set_cookie(&start, "mg_oidc").expect("the sign-in cookie");
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/authorize?", provider.issuer)), "{location}");
    let url = url::Url::parse(&location).unwrap();
    let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(params.iter().any(|(k, v)| k == "code_challenge_method" && v == "S256"), "PKCE");
    params.push(("subject".into(), subject.into()));
    let signed_in = client.post(format!("{}/authorize", provider.issuer)).form(&params).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let back = signed_in.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&format!("{}/verify/oidc/callback?", counter.url)), "{back}");
    client.get(back).header("cookie", login_cookie).send().await.unwrap()
}

async fn a_respondent_signed_in_at_the_identity_provider_answers_once(engine: Engine) {
    let provider = OidcProvider::start(
        "madoguchi-aoba",
        "client-secret-for-tests",
        vec![
            user("resident-1", "1985-04-01", "みどり県青葉市雲雀丘四丁目４番"),
            user("minor-1", "2013-09-09", "みどり県青葉市若葉町５－６"),
            user("outsider-1", "1960-01-01", "みどり県川辺村大字川辺１"),
        ],
    )
    .await;
    // The counter's address must be known before it starts: it is the
    // redirect address registered with the provider.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &oidc_lines(&provider.issuer));
    let listen = format!("127.0.0.1:{port}");
    let mut counter =
        TestCounter::start_with(madoguchi(), engine, &["--listen", &listen, "--config", config.to_str().unwrap()])
            .await;
    counter.store().await.publish_form("aoba-city", "parks-survey", &survey("oidc"), None).await.unwrap();
    // The municipality's desk (its key ceremony) before the first answer.
    let desk = crate::desk::set_up_desk(&counter, "aoba-city");
    let form_url = format!("{}/t/aoba-city/f/parks-survey", counter.url);

    // Before signing in: who it is for, and the way to the provider.
    let page = counter.client().get(&form_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("みどり県IDでログインして回答を始める") && page.contains("青葉市にお住まいの方"), "{page}");
    assert!(!page.contains("name=\"opinion\""), "no form before signing in");
    // Answers posted without signing in go nowhere.
    let (status, page) = confirm(&counter, "parks-survey", "勝手に送る", None).await;
    assert_eq!(status, 200);
    assert!(hidden_input(&page, "_draft").is_none() && page.contains("ログイン"), "{page}");

    // Signed in as a resident: back to the form, now open.
    let back = sign_in(&counter, &provider, "resident-1").await;
    assert_eq!(back.status(), 303, "{:?}", back.headers());
    assert_eq!(back.headers()["location"], "/t/aoba-city/f/parks-survey");
    let respondent = set_cookie(&back, "mg_respondent").expect("the respondent cookie");
    let page = counter.client().get(&form_url).header("cookie", &respondent).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("name=\"opinion\"") && page.contains("本人確認が済みました"), "{page}");
    let (status, page) = confirm(&counter, "parks-survey", "ベンチを増やしてください。", Some(&respondent)).await;
    assert_eq!(status, 200);
    assert!(page.contains("確認済み"));
    let draft = hidden_input(&page, "_draft").unwrap();
    let (status, receipt) =
        post_form(&counter.client(), &format!("{form_url}/submit"), &[("_draft".into(), draft)]).await;
    assert_eq!(status, 200, "{receipt}");

    // The same person again: signing in says they have answered.
    let again = sign_in(&counter, &provider, "resident-1").await;
    assert_eq!(again.status(), 409);
    assert!(again.text().await.unwrap().contains("回答済み"));
    // And the form with the old cookie says so too.
    let page = counter.client().get(&form_url).header("cookie", &respondent).send().await.unwrap();
    assert_eq!(page.status(), 409);

    // A minor and someone from another municipality: not admitted.
    let minor = sign_in(&counter, &provider, "minor-1").await;
    assert_eq!(minor.status(), 403);
    assert!(minor.text().await.unwrap().contains("18歳以上の方が対象です"));
    let outsider = sign_in(&counter, &provider, "outsider-1").await;
    assert_eq!(outsider.status(), 403);
    assert!(outsider.text().await.unwrap().contains("青葉市にお住まいの方が対象です"));

    // A callback that is not this browser's sign-in, or a refused one.
    let forged =
        counter.client().get(format!("{}/verify/oidc/callback?code=x&state=y", counter.url)).send().await.unwrap();
    assert_eq!(forged.status(), 403, "no sign-in cookie: the form has expired");
    let start = counter.client().get(format!("{form_url}/verify/oidc")).send().await.unwrap();
    let cookie = set_cookie(&start, "mg_oidc").unwrap();
    let state = url::Url::parse(start.headers()["location"].to_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let wrong_state = counter
        .client()
        .get(format!("{}/verify/oidc/callback?code=x&state=not-{state}", counter.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_state.status(), 400);
    let denied = counter
        .client()
        .get(format!("{}/verify/oidc/callback?error=access_denied&state={state}", counter.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    assert!(denied.text().await.unwrap().contains("本人確認ができませんでした"));
    let stolen_code = counter
        .client()
        .get(format!("{}/verify/oidc/callback?code=made-up&state={state}", counter.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stolen_code.status(), 401, "a code the provider never issued");

    let store = counter.store().await;
    let year = time::OffsetDateTime::now_utc().year() as i64;
    let answers = store.count_submissions("aoba-city", year).await.unwrap()
        + store.count_submissions("aoba-city", year + 1).await.unwrap();
    assert_eq!(answers, 1, "one answer in all");

    // On the desk, the record says how the respondent was checked and what
    // was found true of them.
    let receipt_number = element_text(&receipt, "receipt-number").expect("到達番号");
    let server = desk.serve().await;
    let staff = crate::desk::enrol_and_sign_in(&desk, &server, "tanaka").await;
    let csrf = staff.csrf().await;
    staff.post("/sync", &[("_csrf", &csrf)]).await;
    let (status, record) = staff.get(&format!("/records/{receipt_number}")).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        element_text(&record, "record-verified").as_deref(),
        Some("本人確認サービスへのログイン（市区町村内在住・18歳以上）")
    );
    assert!(record.contains("ベンチを増やしてください。"));

    // Neither the provider's subject nor the address it vouched for stayed.
    assert_nowhere_on_the_counter(&mut counter, &["resident-1", "雲雀丘四丁目", "1985-04-01"]).await;
}

/// In chromium: the provider's sign-in, the form, the 確認画面 and the
/// receipt, and for a card the signature file chosen on the 確認画面; every
/// page checked with axe (WCAG 2.1 AA) and kept as a screenshot when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_answer_verified_surveys_in_chromium() {
    use crate::browser::{browser, check_page, click, fill, wait_for, wait_for_heading, Browser};
    use fantoccini::Locator;

    let now = now();
    let pki = TestPki::new("madoguchi browser test");
    let card = pki.issue(
        &person("青葉　花子", date!(1980 - 02 - 17), "みどり県青葉市本町一丁目２番３号"),
        now - 86_400,
        now + 86_400 * 365,
    );
    let provider = OidcProvider::start(
        "madoguchi-aoba",
        "client-secret-for-tests",
        vec![user("resident-1", "1985-04-01", "みどり県青葉市若葉町５－６")],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_files(dir.path(), now);
    let lines = jpki_lines(&files, &files.crls) + &oidc_lines(&provider.issuer);
    let config = write_config(dir.path(), &lines);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let counter = TestCounter::start_with(
        madoguchi(),
        Engine::Sqlite,
        &["--listen", &listen, "--config", config.to_str().unwrap()],
    )
    .await;
    let store = counter.store().await;
    store.publish_form("aoba-city", "plan-survey", &survey("jpki"), None).await.unwrap();
    store.publish_form("aoba-city", "parks-survey", &survey("oidc"), None).await.unwrap();
    let Browser { client, _driver } = browser().await;

    // Identity provider first.
    client.goto(&format!("{}/t/aoba-city/f/parks-survey", counter.url)).await.unwrap();
    wait_for_heading(&client, "回答の前に本人確認をお願いします").await;
    check_page(&client, "verified survey, sign in first", "ja", "verify-sign-in").await;
    click(&client, "#verify-sign-in").await;
    wait_for(&client, Locator::Css("button[name='subject']")).await;
    click(&client, "button[name='subject'][value='resident-1']").await;
    wait_for_heading(&client, "公園の使い方アンケート").await;
    let page = client.source().await.unwrap();
    assert!(page.contains("本人確認が済みました"), "{page}");
    check_page(&client, "verified survey form", "ja", "verify-form").await;
    fill(&client, "f-opinion", "夜も明るい公園にしてほしい。").await;
    click(&client, "button.primary").await;
    wait_for_heading(&client, "入力内容の確認").await;
    click(&client, "button.primary").await;
    wait_for(&client, Locator::Id("receipt-number")).await;

    // A card: the signature file chosen on the 確認画面.
    client.goto(&format!("{}/t/aoba-city/f/plan-survey", counter.url)).await.unwrap();
    fill(&client, "f-opinion", "図書館の開館時間を延ばしてください。").await;
    click(&client, "button.primary").await;
    wait_for_heading(&client, "入力内容の確認").await;
    check_page(&client, "verified survey, sign with a card", "ja", "verify-jpki-confirm").await;
    let draft = client.find(Locator::Css("input[name='_draft']")).await.unwrap().attr("value").await.unwrap().unwrap();
    let text = signing_file(&counter, &draft).await;
    let signature = dir.path().join("answers.p7s");
    std::fs::write(&signature, card.sign(&pki, &text)).unwrap();
    client.find(Locator::Id("signature")).await.unwrap().send_keys(signature.to_str().unwrap()).await.unwrap();
    click(&client, "form button.primary").await;
    wait_for(&client, Locator::Id("receipt-number")).await;
    // The same card again: told, plainly.
    client.goto(&format!("{}/t/aoba-city/f/plan-survey", counter.url)).await.unwrap();
    fill(&client, "f-opinion", "もう一度。").await;
    click(&client, "button.primary").await;
    wait_for_heading(&client, "入力内容の確認").await;
    let draft = client.find(Locator::Css("input[name='_draft']")).await.unwrap().attr("value").await.unwrap().unwrap();
    let text = signing_file(&counter, &draft).await;
    std::fs::write(&signature, card.sign(&pki, &text)).unwrap();
    client.find(Locator::Id("signature")).await.unwrap().send_keys(signature.to_str().unwrap()).await.unwrap();
    click(&client, "form button.primary").await;
    wait_for_heading(&client, "このアンケートには回答済みです").await;
    check_page(&client, "verified survey answered", "ja", "verify-answered").await;
}

/// With `jpki_revocation = "ocsp"` the counter asks the OCSP responder
/// (here a real `openssl ocsp` behind a loopback HTTP front) about each
/// signer's certificate: a good card's answer is received, a revoked
/// card's is refused beside the signature input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ocsp_the_responder_decides_whether_a_card_is_revoked() {
    let now = now();
    let mut pki = TestPki::new("madoguchi ocsp test");
    let hanako = person("青葉　花子", date!(1980 - 02 - 17), "みどり県青葉市鶯谷八丁目７番６号");
    let good = pki.issue(&hanako, now - 86_400, now + 86_400 * 365);
    let revoked = pki.issue(&hanako, now - 86_400, now + 86_400 * 365);
    pki.revoke(&revoked, now - 60);
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_files(dir.path(), now);
    let ocsp_dir = dir.path().join("ocsp");
    std::fs::create_dir(&ocsp_dir).unwrap();
    let responder = pki.start_ocsp_responder(&ocsp_dir);
    // The root's CRL still covers the signing CA; the cards are asked
    // about by OCSP.
    let lines = jpki_lines(&files, &files.crls[1..])
        + &format!("jpki_revocation = \"ocsp\"\njpki_ocsp_url = {:?}\n", responder.url());
    let config = write_config(dir.path(), &lines);
    let counter = TestCounter::start_with(madoguchi(), Engine::Sqlite, &["--config", config.to_str().unwrap()]).await;
    counter.store().await.publish_form("aoba-city", "plan-survey", &survey("jpki"), None).await.unwrap();

    let (draft, text) = drafted(&counter, "ベンチを増やしてください。").await;
    let (status, page) = send_signed(&counter, &draft, Some(revoked.sign(&pki, &text))).await;
    assert_eq!(status, 422, "{page}");
    assert!(text_of(&page, "err-signature").unwrap_or_default().contains("失効"), "{page}");
    let (status, receipt) = send_signed(&counter, &draft, Some(good.sign(&pki, &text))).await;
    assert_eq!(status, 200, "{receipt}");
    assert!(element_text(&receipt, "receipt-number").is_some());
}
