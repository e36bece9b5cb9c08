//! A resident applies through the counter: form, 確認画面, 修正する, 送信,
//! 受付完了, and status lookup; and bad requests get a plain 4xx.

use testkit::Engine;

use crate::{apply, element_text, hidden_input, on_both_engines, post_form, start, water_start_answers};

on_both_engines!(a_resident_applies_and_can_look_up_the_status, receipt_numbers_are_sequential_per_tenant);

async fn a_resident_applies_and_can_look_up_the_status(engine: Engine) {
    let counter = start(engine).await;
    let client = counter.client();
    let form = client.get(format!("{}/t/aoba-city/f/water-start", counter.url)).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let page = form.text().await.unwrap();
    assert!(page.contains("水道使用開始届") && page.contains("青葉市"));

    let sent = apply(&counter, "aoba-city", "water-start", &water_start_answers(&[])).await;
    let year = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).year();
    assert_eq!(sent.receipt_number, format!("{year}-000001"));
    assert!(sent.receipt_page.contains("受付が完了しました"));

    // Sending the same draft again (a double click, a reload) is one
    // submission with the same numbers and secret.
    let (status, again) = post_form(
        &client,
        &format!("{}/t/aoba-city/f/water-start/submit", counter.url),
        &[("_draft".into(), sent.draft.clone())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(element_text(&again, "receipt-number").as_deref(), Some(sent.receipt_number.as_str()));
    assert_eq!(element_text(&again, "inquiry-secret").as_deref(), Some(sent.inquiry_secret.as_str()));
    assert_eq!(counter.store().await.count_submissions("aoba-city", i64::from(year)).await.unwrap(), 1);

    // Status lookup needs both numbers; full-width and lower case are fine.
    let status_url = format!("{}/t/aoba-city/status", counter.url);
    let typed_secret = sent.inquiry_secret.to_lowercase().replace('-', "");
    let (status, found) = post_form(
        &client,
        &status_url,
        &[("inquiry_number".into(), sent.inquiry_number.clone()), ("secret".into(), typed_secret)],
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(element_text(&found, "status-value").as_deref(), Some("受付"));
    let (status, wrong) = post_form(
        &client,
        &status_url,
        &[("inquiry_number".into(), sent.inquiry_number.clone()), ("secret".into(), "AAAA-AAAA".into())],
    )
    .await;
    assert_eq!(status, 404);
    assert!(wrong.contains("該当する申請が見つかりません"));
    // Another tenant's status page does not reveal it either.
    let (status, _) = post_form(
        &client,
        &format!("{}/t/sakura-town/status", counter.url),
        &[("inquiry_number".into(), sent.inquiry_number.clone()), ("secret".into(), sent.inquiry_secret.clone())],
    )
    .await;
    assert_eq!(status, 404);
}

async fn receipt_numbers_are_sequential_per_tenant(engine: Engine) {
    let counter = start(engine).await;
    let answers = water_start_answers(&[]);
    let first = apply(&counter, "aoba-city", "water-start", &answers).await;
    let second = apply(&counter, "aoba-city", "water-start", &answers).await;
    let elsewhere = apply(&counter, "sakura-town", "water-start", &answers).await;
    assert!(first.receipt_number.ends_with("-000001"));
    assert!(second.receipt_number.ends_with("-000002"));
    assert!(elsewhere.receipt_number.ends_with("-000001"));
    assert_ne!(first.inquiry_number, second.inquiry_number);
}

#[tokio::test]
async fn errors_are_shown_beside_each_field_and_entered_values_are_kept() {
    let counter = start(Engine::Sqlite).await;
    let answers = water_start_answers(&[
        ("applicant.kana", "Yamada"),
        ("email.confirm", "other@example.jp"),
        ("start_date", "令和元年4月30日"),
        ("property.postal", "12-345"),
        ("consent", ""),
    ]);
    let (status, page) =
        post_form(&counter.client(), &format!("{}/t/aoba-city/f/water-start/confirm", counter.url), &answers).await;
    assert_eq!(status, 422);
    for input in ["f-applicant-kana", "f-email-confirm", "f-start_date", "f-property-postal", "f-consent"] {
        assert!(page.contains(&format!("id=\"err-{input}\"")), "no error beside {input}");
        assert!(page.contains(&format!("href=\"#{input}\"")), "no summary link to {input}");
        let tag_start = page.find(&format!("id=\"{input}\"")).unwrap_or_else(|| panic!("input {input}"));
        let tag = &page[tag_start..tag_start + page[tag_start..].find('>').unwrap()];
        assert!(tag.contains("aria-invalid=\"true\"") && tag.contains(&format!("err-{input}")), "{tag}");
    }
    // Everything typed is still there, including the wrong answers.
    assert!(page.contains("value=\"山田 太郎\""));
    assert!(page.contains("value=\"Yamada\""));
    assert!(page.contains("value=\"令和元年4月30日\""));
    assert!(page.contains("カタカナ") || page.contains("フリガナ"));
    assert!(!page.contains("id=\"err-f-applicant\""), "a correct field shows no error");

    // The same in English.
    let (status, page) =
        post_form(&counter.client(), &format!("{}/t/aoba-city/f/water-start/confirm?lang=en", counter.url), &answers)
            .await;
    assert_eq!(status, 422);
    assert!(page.contains("<html lang=\"en\">"));
    assert!(page.contains("id=\"err-f-email-confirm\""));
}

#[tokio::test]
async fn going_back_from_the_confirm_page_keeps_every_answer() {
    let counter = start(Engine::Sqlite).await;
    let client = counter.client();
    let base = format!("{}/t/aoba-city/f/water-start", counter.url);
    let answers = water_start_answers(&[("notes", "鍵は管理人室で受け取ります。\n午前中希望")]);
    let (status, confirm) = post_form(&client, &format!("{base}/confirm"), &answers).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("入力内容の確認") && confirm.contains("修正する"));
    // The 確認画面 shows normalised values: katakana reading, hyphenated phone.
    assert!(confirm.contains("ヤマダ タロウ"), "{confirm}");
    let draft = hidden_input(&confirm, "_draft").unwrap();
    let (status, back) = post_form(&client, &format!("{base}/edit"), &[("_draft".into(), draft)]).await;
    assert_eq!(status, 200);
    assert!(back.contains("value=\"山田 太郎\""));
    assert!(back.contains("value=\"taro@example.jp\""));
    assert!(back.contains("鍵は管理人室で受け取ります。"));
    assert!(back.contains("value=\"apartment\" checked"));
    assert!(back.contains("value=\"yes\" checked"));
    let year = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).year();
    assert_eq!(counter.store().await.count_submissions("aoba-city", i64::from(year)).await.unwrap(), 0);
}

#[tokio::test]
async fn bad_requests_get_a_plain_4xx_page_and_never_a_trace() {
    let counter = start(Engine::Sqlite).await;
    // A refused body closes its connection: no pooling between cases.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let confirm = format!("{}/t/aoba-city/f/water-start/confirm", counter.url);
    let submit = format!("{}/t/aoba-city/f/water-start/submit", counter.url);

    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("unknown tenant", client.get(format!("{}/t/nowhere/f/water-start", counter.url)), 404),
        ("unknown form", client.get(format!("{}/t/aoba-city/f/nothing", counter.url)), 404),
        ("unknown path", client.get(format!("{}/wp-admin.php", counter.url)), 404),
        ("not a form post", client.post(&confirm).header("content-type", "application/json").body("{}"), 415),
        (
            "declared too large",
            client.post(&confirm).header("content-type", "application/x-www-form-urlencoded").body("a=".repeat(40_000)),
            413,
        ),
        (
            "forged draft",
            client
                .post(&submit)
                .form(&[("_draft", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]),
            400,
        ),
        ("no draft", client.post(&submit).form(&[("x", "y")]), 400),
        (
            "broken encoding",
            client
                .post(&confirm)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![0xff, 0xfe, b'=', 0xc3]),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let response = request.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(response.status().as_u16(), expected, "{what}");
        let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{what}: {content_type}");
        let body = response.text().await.unwrap();
        for leak in ["panicked", "backtrace", "src/", "sqlx", "Error {"] {
            assert!(!body.contains(leak), "{what}: page shows {leak:?}:\n{body}");
        }
        assert!(body.contains("lang=\"ja\"") && body.contains("<p lang=\"en\">"), "{what}: plain page in ja and en");
    }
    // A chunked body with no length is cut off once it passes the form's
    // limit, without reading the rest.
    let response = raw_chunked_post(&counter.url, "/t/aoba-city/f/water-start/confirm", 200, 4096).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    // The counter is still serving.
    assert_eq!(client.get(format!("{}/healthz", counter.url)).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let counter = start(Engine::Sqlite).await;
    let response = counter.client().get(format!("{}/t/aoba-city/f/staff-exam", counter.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn the_portal_lists_the_demo_prefecture_and_its_five_forms() {
    let counter = start(Engine::Sqlite).await;
    let client = counter.client();
    let portal = client.get(&counter.url).send().await.unwrap().text().await.unwrap();
    for name in ["青葉市", "桜町", "川辺村"] {
        assert!(portal.contains(name), "{name}");
    }
    let en =
        client.get(format!("{}/t/kawabe-village?lang=en", counter.url)).send().await.unwrap().text().await.unwrap();
    assert!(en.contains("Kawabe Village"));
    for tenant in ["aoba-city", "sakura-town", "kawabe-village"] {
        let list = client.get(format!("{}/t/{tenant}", counter.url)).send().await.unwrap().text().await.unwrap();
        for title in [
            "水道使用開始届",
            "税務証明交付予約",
            "職員採用試験申込",
            "情報公開請求",
            "自動車税住所変更届",
            "市民満足度アンケート",
        ] {
            assert!(list.contains(title), "{tenant} lacks {title}");
        }
        for form in [
            "water-start",
            "tax-certificate-booking",
            "staff-exam",
            "information-disclosure",
            "car-tax-address-change",
            "citizen-survey",
        ] {
            let page = client.get(format!("{}/t/{tenant}/f/{form}?lang=en", counter.url)).send().await.unwrap();
            assert_eq!(page.status(), 200, "{tenant}/{form}");
        }
    }
}

/// Sends `chunks` chunks of `size` bytes with chunked encoding, ignoring a
/// server that stops reading, and returns what it answered.
async fn raw_chunked_post(base: &str, path: &str, chunks: usize, size: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{size:x}\r\n{}\r\n", "a".repeat(size));
    for _ in 0..chunks {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_draft_sent_too_late_comes_back_as_the_filled_form_and_nothing_is_stored() {
    let counter =
        testkit::TestCounter::start_with(crate::madoguchi(), Engine::Sqlite, &["--draft-ttl-secs", "1"]).await;
    let client = counter.client();
    let base = format!("{}/t/aoba-city/f/water-start", counter.url);
    let (_, confirm) = post_form(&client, &format!("{base}/confirm"), &water_start_answers(&[])).await;
    let draft = hidden_input(&confirm, "_draft").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, page) = post_form(&client, &format!("{base}/submit"), &[("_draft".into(), draft)]).await;
    assert_eq!(status, 422);
    assert!(page.contains("時間が経ちすぎた"), "{page}");
    assert!(page.contains("value=\"山田 太郎\"") && page.contains("value=\"みどり銀行\""));
    let year = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).year();
    assert_eq!(counter.store().await.count_submissions("aoba-city", i64::from(year)).await.unwrap(), 0);
}
