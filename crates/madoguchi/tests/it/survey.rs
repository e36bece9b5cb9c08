//! Surveys (電子アンケート): residents answer the demo 市民満足度アンケート
//! at the counter; the desk counts the answers per question, charts them
//! (inline SVG), writes the counts as CSV, and keeps free text on its own
//! page, which is a read of records like any other (docs/surveys.md).

use std::time::Duration;

use fantoccini::Locator;
use testkit::Engine;

use crate::browser::{
    assert_meets_wcag_aa, browser, click, click_and_leave_page, fill, wait_for, wait_for_heading, Browser,
};
use crate::desk::{enrol_and_sign_in, set_up_desk, StaffSession};
use crate::{apply, element_text, start};

const FORM: &str = "citizen-survey";

/// One resident's answers (the consent always given, as it must be).
fn survey_answers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut answers: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    answers.push(("consent".into(), "yes".into()));
    answers
}

/// Six residents: age groups 1 / 3 / 1 / 1, satisfaction 5 4 3 4 1 4
/// (mean 3.50), channels counter 3 · online 2 · mail 1 · phone 1 (one chose
/// none), online_ease 4 and 2 from the two who applied online, and two
/// comments, one with markup in it.
fn six_residents() -> Vec<Vec<(String, String)>> {
    vec![
        survey_answers(&[
            ("age_group", "under-30"),
            ("satisfaction", "5"),
            ("channels", "online"),
            ("online_ease", "4"),
        ]),
        survey_answers(&[
            ("age_group", "30-49"),
            ("satisfaction", "4"),
            ("channels", "online"),
            ("channels", "counter"),
            ("online_ease", "2"),
            ("comments", "駐車場が狭いので、土曜日は停められませんでした。"),
        ]),
        survey_answers(&[("age_group", "30-49"), ("satisfaction", "3"), ("channels", "counter")]),
        survey_answers(&[
            ("age_group", "50-69"),
            ("satisfaction", "4"),
            ("comments", "<b>窓口の方が丁寧</b> & 親切でした"),
        ]),
        survey_answers(&[("age_group", "70-plus"), ("satisfaction", "1"), ("channels", "mail"), ("channels", "phone")]),
        survey_answers(&[("age_group", "30-49"), ("satisfaction", "4"), ("channels", "counter")]),
    ]
}

async fn eventually(secs: u64, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_results_count_chart_and_keep_free_text_on_a_watched_page() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "aoba-city");
    for answers in six_residents() {
        apply(&counter, "aoba-city", FORM, &answers).await;
    }
    // The desk plants a synthetic applicant per form on its first sync: it
    // must be in no count and on no answers page.
    let server = desk.serve_with(&["--honeytokens-per-form", "1"]).await;
    let desk_store = desk.store().await;
    let forms = counter.store().await.tenant_forms("aoba-city").await.unwrap().len() as i64;
    assert!(
        eventually(30, async || desk_store.honeytoken_count().await.unwrap() as i64 == forms
            && desk_store.count_records().await.unwrap() == forms + 6)
        .await,
        "six answers and the synthetic applicants synced"
    );
    let planted: Vec<String> = desk_store.honeytokens().await.unwrap().iter().map(|r| r.to_string()).collect();

    let staff = enrol_and_sign_in(&desk, &server, "tanaka").await;
    let (_, inbox) = staff.get("/").await;
    assert!(inbox.contains(&format!("href=\"/forms/{FORM}/results\"")), "a 集計 link per form: {inbox}");

    // The results page: counts, percentages, the mean, a chart per question.
    let (status, page) = staff.get(&format!("/forms/{FORM}/results")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(element_text(&page, "respondents").as_deref(), Some("6"), "synthetic applicants are not counted");
    assert_eq!(element_text(&page, "mean-satisfaction").as_deref(), Some("3.50"));
    assert_eq!(element_text(&page, "answered-satisfaction").as_deref(), Some("6"));
    assert_eq!(element_text(&page, "answered-online_ease").as_deref(), Some("2"));
    assert_eq!(element_text(&page, "mean-online_ease").as_deref(), Some("3.00"));
    assert_eq!(element_text(&page, "answered-comments").as_deref(), Some("2"));
    for (label, figures) in [
        ("29歳以下", "1件（16.7%）"),
        ("30〜49歳", "3件（50.0%）"),
        ("窓口", "3件（50.0%）"),
        ("オンライン申請", "2件（33.3%）"),
        ("4", "3件（50.0%）"),
        ("2", "0件（0.0%）"),
        ("無回答", "1件（16.7%）"),
    ] {
        assert!(page.contains(&format!(">{label}</text>")), "bar label {label}");
        assert!(page.contains(&format!(">{figures}</text>")), "{label}: {figures}");
    }
    assert!(page.contains(">1（不満）</text>") && page.contains(">5（満足）</text>"));
    assert!(
        page.contains("<svg ")
            && page.contains("role=\"img\"")
            && page.contains("aria-labelledby=\"chart-age_group-title\"")
    );
    assert_eq!(page.matches("<svg ").count(), 5, "age, satisfaction, channels, ease, consent");
    assert!(page.contains("<th scope=\"row\">30〜49歳</th><td class=\"num\">3</td><td class=\"num\">50.0%</td>"));
    assert!(!page.contains("駐車場") && !page.contains("丁寧"), "no free text on the results page");
    let answers_path = format!("/forms/{FORM}/results/comments/answers");
    assert!(page.contains(&format!("href=\"{answers_path}\"")));

    // The counts as CSV: UTF-8 with a BOM, never free text.
    let (status, csv) = staff.get_bytes(&format!("/forms/{FORM}/results.csv")).await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv.strip_prefix(b"\xEF\xBB\xBF").expect("BOM").to_vec()).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], "設問,選択肢・段階,件数・値,割合（%）");
    for row in [
        "回答者数,,6,",
        "年代,30〜49歳,3,50.0",
        "年代,無回答,0,0.0",
        "市の窓口サービス全体の満足度,1（不満）,1,16.7",
        "市の窓口サービス全体の満足度,平均,3.5,",
        "この1年間に利用した手続きの方法,無回答,1,16.7",
        "オンライン申請の使いやすさ,回答数,2,",
        "ご意見・ご要望,回答数（内容は集計しません）,2,",
    ] {
        assert!(lines.contains(&row), "{row} not in:\n{csv}");
    }
    assert!(!csv.contains("駐車場") && !csv.contains("丁寧"), "no free text in the CSV");
    let (_, sjis) = staff.get_bytes(&format!("/forms/{FORM}/results.csv?encoding=sjis")).await;
    let (decoded, _, errors) = encoding_rs::SHIFT_JIS.decode(&sjis);
    assert!(!errors && decoded.contains("年代,30\u{FF5E}49歳,3,50.0"), "{decoded}");

    // The free-text answers: listed, escaped, and a read of two records.
    let (status, answers) = staff.get(&answers_path).await;
    assert_eq!(status, 200, "{answers}");
    assert!(answers.contains("駐車場が狭いので、土曜日は停められませんでした。"));
    assert!(
        answers.contains("&lt;b&gt;窓口の方が丁寧&lt;&#x2f;b&gt; &amp; 親切でした")
            || answers.contains("&lt;b&gt;窓口の方が丁寧&lt;/b&gt; &amp; 親切でした"),
        "{answers}"
    );
    assert!(!answers.contains("<b>窓口"));
    for receipt in &planted {
        assert!(!answers.contains(receipt.as_str()), "a synthetic applicant listed: {receipt}");
    }
    let (status, beyond) = staff.get(&format!("{answers_path}?page=999999999999999999")).await;
    assert_eq!(status, 200);
    assert!(beyond.contains("このページに表示する回答はありません。") && !beyond.contains("駐車場"));
    // Not a question with free text: nothing to list.
    assert_eq!(staff.get(&format!("/forms/{FORM}/results/age_group/answers")).await.0, 404);
    assert_eq!(staff.get("/forms/no-such-form/results").await.0, 404);

    // Logged, and in the counter's ledger at the next sync: the counts as
    // 0 records, the answers as the 2 records shown.
    assert!(desk_store.freeze_of("tanaka").await.unwrap().is_none());
    let csrf = staff.csrf().await;
    staff.post("/sync", &[("_csrf", &csrf)]).await;
    let store = counter.store().await;
    let filter = store::LedgerFilter { person: Some("staff:tanaka".into()), ..Default::default() };
    let details: Vec<(String, String)> = store
        .search_ledger(&filter, None, 200)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event.kind.as_str().to_owned(), e.event.detail))
        .collect();
    let logged = |kind: &str, start: &str, records: &str| {
        details.iter().any(|(k, d)| k == kind && d.contains(start) && d.contains(records))
    };
    assert!(logged("record_view", "survey results of form citizen-survey (counts only)", "0 records"), "{details:?}");
    assert!(logged("export", "survey results of form citizen-survey · utf8 (counts only)", "0 records"), "{details:?}");
    assert!(
        logged("record_view", "free-text answers to form citizen-survey question comments, page 1", "2 records"),
        "{details:?}"
    );

    // Roles that may not view records get none of it.
    desk_store.add_staff("desk.auditor", "監査 太郎", identity::Role::Auditor).await.unwrap();
    let (id, _) = desk_store.create_session("desk.auditor").await.unwrap();
    let auditor = StaffSession::bare(staff.http.clone(), server.url.clone(), format!("madoguchi_desk={id}"));
    for path in [format!("/forms/{FORM}/results"), format!("/forms/{FORM}/results.csv"), answers_path.clone()] {
        let (status, body) = auditor.get(&path).await;
        assert_eq!(status, 403, "{path}");
        assert!(!body.contains("駐車場") && !body.contains("30〜49歳"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_answers_a_survey_and_the_clerk_sees_the_chart() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "aoba-city");
    // Two earlier answers, so the chart has more than one bar.
    for answers in six_residents().into_iter().take(2) {
        apply(&counter, "aoba-city", FORM, &answers).await;
    }
    let Browser { client, _driver } = browser().await;

    // The resident: the scale is a row of radio buttons; the follow-up on
    // online applications appears once オンライン申請 is ticked.
    client.goto(&format!("{}/t/aoba-city/f/{FORM}", counter.url)).await.unwrap();
    wait_for_heading(&client, "市民満足度アンケート").await;
    click(&client, "input[name='age_group'][value='50-69']").await;
    click(&client, "input[name='satisfaction'][value='4']").await;
    click(&client, "input[name='channels'][value='online']").await;
    click(&client, "input[name='online_ease'][value='5']").await;
    fill(&client, "f-comments", "ブラウザから回答しました").await;
    click(&client, "#f-consent").await;
    crate::browser::screenshots_at_both_widths(&client, "survey-form").await;
    click(&client, "button.primary").await;
    wait_for_heading(&client, "入力内容の確認").await;
    click(&client, "button.primary").await;
    wait_for_heading(&client, "受付が完了しました").await;

    // The desk pulls it.
    let server = desk.serve().await;
    let desk_store = desk.store().await;
    assert!(eventually(30, async || desk_store.count_records().await.unwrap() == 3).await, "synced");
    // The clerk enrols and signs in (as browser.rs's desk test does).
    let code = desk.add_staff("yamamoto", "山本 花子");
    let password = "midori-sakura-2026!";
    client.goto(&format!("{}/enrol", server.url)).await.unwrap();
    wait_for_heading(&client, "初回登録").await;
    fill(&client, "f-login", "yamamoto").await;
    fill(&client, "f-code", &code).await;
    fill(&client, "f-password", password).await;
    fill(&client, "f-password2", password).await;
    click_and_leave_page(&client, "button.primary").await;
    let secret = wait_for(&client, Locator::Id("totp-secret")).await.text().await.unwrap();
    let t0 = crate::desk::now_secs();
    fill(&client, "f-totp", &crate::desk::totp_code(&secret, t0)).await;
    click_and_leave_page(&client, "button.primary").await;
    wait_for_heading(&client, "職員サインイン").await;
    fill(&client, "f-login", "yamamoto").await;
    fill(&client, "f-password", password).await;
    fill(&client, "f-totp", &crate::desk::totp_code(&secret, t0 + 30)).await;
    click_and_leave_page(&client, "button.primary").await;
    wait_for_heading(&client, "受信箱").await;
    click_and_leave_page(&client, &format!("a[href='/forms/{FORM}/results']")).await;
    wait_for_heading(&client, "集計結果：市民満足度アンケート").await;
    let chart = wait_for(&client, Locator::Css("#q-satisfaction ~ .result svg[role='img']")).await;
    let label = chart.attr("aria-labelledby").await.unwrap().unwrap_or_default();
    assert_eq!(label, "chart-satisfaction-title");
    assert!(chart.is_displayed().await.unwrap());
    // Satisfaction 5, 4 and the browser's 4: bars for 4 and 5 only.
    let bars = client.find_all(Locator::Css("#q-satisfaction ~ .result svg rect")).await.unwrap();
    assert_eq!(bars.len(), 2);
    let page = client.source().await.unwrap();
    assert!(page.contains("id=\"respondents\">3<"), "{page}");
    assert!(page.contains(">2件（66.7%）</text>") && page.contains(">1件（33.3%）</text>"), "{page}");
    assert!(!page.contains("ブラウザから回答しました"), "free text stays on its own page");
    assert_meets_wcag_aa(&client, "desk: survey results").await;
    crate::browser::screenshots_at_both_widths(&client, "desk-survey-results").await;
    client.close().await.unwrap();
}
