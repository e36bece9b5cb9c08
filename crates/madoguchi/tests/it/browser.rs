//! A resident in a real browser (Debian's chromium through chromedriver):
//! fills in a demo form, goes back from the 確認画面, sends, and reads the
//! 到達番号; and staff on the desk: enrol, sign in, open the record, return
//! it with a message. Every page is checked against WCAG 2.1 AA with axe-core,
//! and a resident applies with the keyboard alone (docs/accessibility.md).
//! Set MADOGUCHI_SCREENSHOTS=DIR (relative to the workspace; `1` means
//! docs/screenshots) to keep screenshots of the pages.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use testkit::Engine;

use crate::start;

pub(crate) struct Browser {
    pub(crate) client: Client,
    pub(crate) _driver: tokio::process::Child,
}

pub(crate) async fn browser() -> Browser {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let driver = tokio::process::Command::new(&driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{driver_path} is needed (apt-get install chromium chromium-driver): {e}"));
    let profile = tempfile::tempdir().unwrap().keep();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--lang=ja",
                format!("--window-size={},{}", TEST_WINDOW.0, TEST_WINDOW.1),
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let capabilities = match capabilities {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    let mut last_error = None;
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return Browser { client, _driver: driver },
            Err(e) => {
                last_error = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("could not start chromium through chromedriver: {last_error:?}");
}

/// Where screenshots go, if anywhere: MADOGUCHI_SCREENSHOTS, relative to the
/// workspace; `1` is docs/screenshots.
fn screenshot_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("MADOGUCHI_SCREENSHOTS").filter(|d| !d.is_empty())?;
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Some(if dir == "1" { workspace.join("docs/screenshots") } else { workspace.join(dir) })
}

pub(crate) async fn screenshot(client: &Client, name: &str) {
    if let Some(dir) = screenshot_dir() {
        std::fs::create_dir_all(&dir).unwrap();
        let _ = client.execute("window.scrollTo(0, 0)", vec![]).await;
        let png = client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// A Chrome DevTools Protocol command, through chromedriver's own endpoint.
#[derive(Debug)]
struct DevTools {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(serde_json::json!({ "cmd": self.cmd, "params": self.params }).to_string()))
    }
}

async fn devtools(client: &Client, cmd: &'static str, params: serde_json::Value) {
    client.issue_cmd(DevTools { cmd, params }).await.unwrap_or_else(|e| panic!("{cmd}: {e}"));
}

/// The window the browser tests start with (see `browser`).
const TEST_WINDOW: (u32, u32) = (480, 2400);

/// With MADOGUCHI_SCREENSHOTS set, keeps the current page at phone width
/// (375×812) as phone-`name`.png and at desktop width (1280×900) as
/// desktop-`name`.png; the window is put back afterwards.
pub(crate) async fn screenshots_at_both_widths(client: &Client, name: &str) {
    if screenshot_dir().is_none() {
        return;
    }
    for (prefix, width, height) in [("phone", 375, 812), ("desktop", 1280, 900)] {
        // The window, and the viewport exactly (a window has a minimum
        // width and a frame of its own); a phone's is a mobile one.
        client.set_window_size(width, height).await.unwrap();
        let metrics = serde_json::json!({
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": prefix == "phone",
        });
        devtools(client, "Emulation.setDeviceMetricsOverride", metrics).await;
        // The page must lay itself out at that width (no horizontal
        // scrolling on a phone: WCAG 1.4.10).
        let widths =
            client.execute("return [window.innerWidth, document.documentElement.scrollWidth]", vec![]).await.unwrap();
        let inner = widths[0].as_u64().unwrap_or(0);
        let scroll = widths[1].as_u64().unwrap_or(u64::MAX);
        assert!(scroll <= inner, "{name} at {width}px scrolls sideways: {widths}");
        screenshot(client, &format!("{prefix}-{name}")).await;
    }
    devtools(client, "Emulation.clearDeviceMetricsOverride", serde_json::json!({})).await;
    client.set_window_size(TEST_WINDOW.0, TEST_WINDOW.1).await.unwrap();
}

pub(crate) async fn fill(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

pub(crate) async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

/// Waits for the page whose main heading is `text` (a click that submits a
/// form returns before the next page has loaded).
pub(crate) async fn wait_for_heading(client: &Client, text: &str) {
    let xpath = format!("//h1[normalize-space()='{text}']");
    if let Err(e) = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath(&xpath)).await {
        panic!("no page headed {text}: {e}\n{}", client.source().await.unwrap_or_default());
    }
}

pub(crate) async fn value(client: &Client, id: &str) -> String {
    client.find(Locator::Id(id)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_fills_in_a_form_goes_back_sends_and_reads_the_receipt_number() {
    let counter = start(Engine::Sqlite).await;
    let Browser { client, _driver } = browser().await;
    client.goto(&format!("{}/t/aoba-city/f/water-start", counter.url)).await.unwrap();
    assert_eq!(client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap(), "水道使用開始届");

    // With JavaScript on, the bank name is asked only for direct debit.
    let bank = client.find(Locator::Id("field-bank_name")).await.unwrap();
    assert!(!bank.is_displayed().await.unwrap(), "conditional field hidden until it applies");

    fill(&client, "f-applicant", "山田 花子").await;
    fill(&client, "f-applicant-kana", "やまだ はなこ").await;
    fill(&client, "f-phone", "03-1234-5678").await;
    fill(&client, "f-email", "hanako@example.jp").await;
    fill(&client, "f-email-confirm", "hanako@example.jp").await;
    fill(&client, "f-property-postal", "１００－０００１").await;
    fill(&client, "f-property-region", "みどり県青葉市").await;
    fill(&client, "f-property-line", "本町2-4-6").await;
    click(&client, "input[name='dwelling'][value='house']").await;
    fill(&client, "f-start_date", &crate::today_wareki()).await;
    click(&client, "input[name='payment'][value='transfer']").await;
    assert!(bank.is_displayed().await.unwrap(), "shown once 口座振替 is chosen");
    fill(&client, "f-bank_name", "みどり銀行").await;
    click(&client, "#f-consent").await;
    screenshot(&client, "form").await;
    click(&client, "button.primary").await;

    // 確認画面, then 修正する: everything is still there.
    wait_for_heading(&client, "入力内容の確認").await;
    let page = client.source().await.unwrap();
    assert!(page.contains("ヤマダ ハナコ") && page.contains("〒100-0001"), "normalised on the confirm page");
    screenshot(&client, "confirm").await;
    click(&client, "button.secondary").await;
    wait_for_heading(&client, "水道使用開始届").await;
    assert_eq!(value(&client, "f-applicant").await, "山田 花子");
    assert_eq!(value(&client, "f-bank_name").await, "みどり銀行");
    assert!(client
        .find(Locator::Css("input[name='dwelling'][value='house']"))
        .await
        .unwrap()
        .is_selected()
        .await
        .unwrap());
    fill(&client, "f-property-line", "本町2-4-8").await;
    click(&client, "button.primary").await;
    wait_for_heading(&client, "入力内容の確認").await;
    assert!(client.source().await.unwrap().contains("本町2-4-8"));
    click(&client, "button.primary").await;
    wait_for_heading(&client, "受付が完了しました").await;

    let receipt = client.find(Locator::Id("receipt-number")).await.unwrap().text().await.unwrap();
    let year = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).year();
    assert_eq!(receipt, format!("{year}-000001"));
    screenshot(&client, "receipt").await;
    client.close().await.unwrap();
}

/// Waits until the input `id` holds `want` (the page's script fills it
/// after a fetch).
async fn wait_for_value(client: &Client, id: &str, want: &str) {
    for _ in 0..100 {
        if value(client, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("#{id} never became {want:?}; it is {:?}", value(client, id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postal_code_typed_in_the_browser_fills_the_region() {
    let counter = start(Engine::Sqlite).await;
    let Browser { client, _driver } = browser().await;
    client.goto(&format!("{}/t/aoba-city/f/water-start", counter.url)).await.unwrap();
    // Typing a complete code (full-width, as an IME gives it) fills the
    // empty region and says so in the field's polite live region.
    fill(&client, "f-property-postal", "１００－０００１").await;
    wait_for_value(&client, "f-property-region", "みどり県青葉市").await;
    let status = client.find(Locator::Id("lookup-f-property")).await.unwrap();
    assert_eq!(status.attr("aria-live").await.unwrap().as_deref(), Some("polite"));
    assert!(status.text().await.unwrap().contains("みどり県青葉市"));
    // A region the resident typed is not overwritten by typing…
    fill(&client, "f-property-region", "みどり県青葉市（自分で入力）").await;
    fill(&client, "f-property-postal", "101-0001").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(value(&client, "f-property-region").await, "みどり県青葉市（自分で入力）");
    // …but 住所を検索 replaces it, on the page, without posting the form.
    click(&client, "button[data-lookup-for='property']").await;
    wait_for_value(&client, "f-property-region", "みどり県桜町").await;
    assert_eq!(client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap(), "水道使用開始届");
    // An unknown code is announced, and the region left alone.
    fill(&client, "f-property-postal", "9999999").await;
    for _ in 0..100 {
        if status.text().await.unwrap().contains("見つかりませんでした") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(status.text().await.unwrap().contains("999-9999"), "{}", status.text().await.unwrap());
    assert_eq!(value(&client, "f-property-region").await, "みどり県桜町");
    screenshot(&client, "postal").await;
    client.close().await.unwrap();
}

/// Sends `keys` (text, or `Key`s as text) to whichever element has the
/// focus, as a keyboard would: the page decides where they go.
async fn press(client: &Client, keys: &str) {
    let focused = client.active_element().await.unwrap();
    focused.send_keys(keys).await.unwrap_or_else(|e| panic!("sending {keys:?}: {e}"));
}

/// What has the focus (its id, else tag.class) and whether the focus is
/// visible there: an outline or a box-shadow, as the page's style computes it.
async fn focused(client: &Client) -> (String, bool) {
    let found = client
        .execute(
            "const e = document.activeElement; const s = getComputedStyle(e);
             const name = e.id || (e.tagName.toLowerCase() + (e.className ? '.' + e.className.split(' ')[0] : ''));
             const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
             return [name, outline || s.boxShadow !== 'none'];",
            vec![],
        )
        .await
        .unwrap();
    (found[0].as_str().unwrap_or("").to_owned(), found[1].as_bool().unwrap_or(false))
}

/// Presses `keys` (Tab, Shift+Tab) and asserts the focus lands, visibly, on
/// `want`.
async fn move_focus(client: &Client, keys: &str, want: &str) {
    press(client, keys).await;
    let (name, visible) = focused(client).await;
    assert_eq!(name, want, "focus went to {name}, not {want}");
    assert!(visible, "focus on {name} is not visible");
}

/// Tabs on until `want` has the focus, and returns what the focus passed
/// on the way.
async fn tab_until(client: &Client, want: &str) -> Vec<String> {
    let mut passed = Vec::new();
    for _ in 0..30 {
        press(client, &Key::Tab.to_string()).await;
        let (name, visible) = focused(client).await;
        assert!(visible, "focus on {name} is not visible");
        if name == want {
            return passed;
        }
        passed.push(name);
    }
    panic!("Tab never reached {want}; it went through {passed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_applies_by_keyboard_alone() {
    let counter = start(Engine::Sqlite).await;
    let Browser { client, _driver } = browser().await;
    let tab = Key::Tab.to_string();
    let back = Key::Shift + &Key::Tab.to_string();
    let enter = Key::Enter.to_string();
    client.goto(&format!("{}/t/aoba-city/f/water-start", counter.url)).await.unwrap();
    wait_for_heading(&client, "水道使用開始届").await;

    // The first Tab reaches the skip link, shown while it has the focus;
    // Enter on it moves the focus to the main content.
    move_focus(&client, &tab, "a.skip-link").await;
    let shown = client
        .execute("const r = document.activeElement.getBoundingClientRect(); return r.left >= 0 && r.width > 0;", vec![])
        .await
        .unwrap();
    assert_eq!(shown, serde_json::json!(true), "the skip link is on screen while focused");
    press(&client, &enter).await;
    assert_eq!(focused(&client).await.0, "main");

    // From there, each field in order (and back once, with Shift+Tab).
    move_focus(&client, &tab, "f-applicant").await;
    press(&client, "山田 太郎").await;
    move_focus(&client, &tab, "f-applicant-kana").await;
    move_focus(&client, &back, "f-applicant").await;
    move_focus(&client, &tab, "f-applicant-kana").await;
    press(&client, "やまだ たろう").await;
    move_focus(&client, &tab, "f-phone").await;
    press(&client, "090-1234-5678").await;
    move_focus(&client, &tab, "f-email").await;
    press(&client, "taro@example.jp").await;
    move_focus(&client, &tab, "f-email-confirm").await;
    press(&client, "taro@example.jp").await;
    move_focus(&client, &tab, "f-property-postal").await;
    press(&client, "100-0001").await;
    // 住所を検索 is a tab stop of its own; the region fills itself in from
    // the postal code.
    move_focus(&client, &tab, "button.secondary").await;
    move_focus(&client, &tab, "f-property-region").await;
    wait_for_value(&client, "f-property-region", "みどり県青葉市").await;
    move_focus(&client, &tab, "f-property-line").await;
    press(&client, "中央1-2-3 グリーンハイツ101").await;
    // A radio group is one tab stop; the arrow keys choose within it.
    move_focus(&client, &tab, "f-dwelling-1").await;
    press(&client, &Key::Down.to_string()).await;
    assert_eq!(focused(&client).await.0, "f-dwelling-2");
    move_focus(&client, &tab, "f-start_date").await;
    press(&client, &crate::today_wareki()).await;
    move_focus(&client, &tab, "f-payment-1").await;
    press(&client, &Key::Down.to_string()).await;
    press(&client, &Key::Up.to_string()).await;
    assert_eq!(focused(&client).await.0, "f-payment-1");
    // 口座振替 brings in the bank's name, as the next tab stop.
    move_focus(&client, &tab, "f-bank_name").await;
    press(&client, "みどり銀行").await;
    move_focus(&client, &tab, "f-notes").await;
    move_focus(&client, &tab, "f-consent").await;
    press(&client, &Key::Space.to_string()).await;
    move_focus(&client, &tab, "button.primary").await;
    for (id, checked) in [("f-dwelling-2", true), ("f-payment-1", true), ("f-consent", true), ("f-dwelling-1", false)] {
        let selected = client.find(Locator::Id(id)).await.unwrap().is_selected().await.unwrap();
        assert_eq!(selected, checked, "#{id}");
    }
    press(&client, &enter).await;

    // 確認画面: 修正する comes first, then 送信する.
    wait_for_heading(&client, "入力内容の確認").await;
    let page = client.source().await.unwrap();
    assert!(page.contains("ヤマダ タロウ") && page.contains("集合住宅") && page.contains("口座振替"), "{page}");
    let passed = tab_until(&client, "button.primary").await;
    assert_eq!(passed.first().map(String::as_str), Some("a.skip-link"), "{passed:?}");
    assert_eq!(passed.last().map(String::as_str), Some("button.secondary"), "{passed:?}");
    press(&client, &enter).await;
    wait_for_heading(&client, "受付が完了しました").await;
    let receipt = client.find(Locator::Id("receipt-number")).await.unwrap().text().await.unwrap();
    let year = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).year();
    assert_eq!(receipt, format!("{year}-000001"));
    client.close().await.unwrap();
}

/// Runs axe-core (tools/a11y, installed by scripts/test) on the current page
/// and fails on any WCAG 2.0/2.1 A or AA violation.
pub(crate) async fn assert_meets_wcag_aa(client: &Client, page: &str) {
    let violations = wcag_violations(client).await;
    assert!(violations.is_empty(), "{page}: {}", serde_json::to_string_pretty(&violations).unwrap());
}

async fn wcag_violations(client: &Client) -> Vec<serde_json::Value> {
    let axe_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/a11y/node_modules/axe-core/axe.min.js");
    let axe = std::fs::read_to_string(&axe_path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `npm ci --prefix tools/a11y`)", axe_path.display()));
    client.execute(&axe, vec![]).await.unwrap();
    let violations = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
              .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.map(n => n.target.join(' ') + ' ' + n.failureSummary) }))))
              .catch(e => done([{ id: 'axe-failed', impact: 'critical', help: String(e), nodes: [] }]));"#,
            vec![],
        )
        .await
        .unwrap();
    violations.as_array().cloned().unwrap_or_default()
}

/// axe-core on the current page (see `assert_meets_wcag_aa`) and, for the
/// Japanese pages, screenshots at phone and desktop width under `shot`.
pub(crate) async fn check_page(client: &Client, page: &str, lang: &str, shot: &str) {
    assert_meets_wcag_aa(client, page).await;
    if lang == "ja" {
        screenshots_at_both_widths(client, shot).await;
    }
}

/// Switches under-attack mode on for `tenant` and waits until a new visitor
/// of its forms gets the proof-of-work page.
async fn under_attack(counter: &testkit::TestCounter, tenant: &str) {
    crate::operator_command(counter, &["tenant", "under-attack", tenant, "on"].map(std::ffi::OsStr::new));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page = reqwest::get(format!("{}/t/{tenant}/f/water-start", counter.url)).await.unwrap();
        if page.text().await.unwrap().contains("pow-form") {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "under-attack mode never took effect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resident_page_meets_wcag_2_1_aa_in_both_languages() {
    let counter = start(Engine::Sqlite).await;
    let Browser { client, _driver } = browser().await;
    // The check itself must catch a broken page, or passing proves nothing.
    client.goto(&counter.url).await.unwrap();
    client
        .execute(
            "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/x.png\"><input>')",
            vec![],
        )
        .await
        .unwrap();
    let caught: Vec<String> =
        wcag_violations(&client).await.iter().map(|v| v["id"].as_str().unwrap_or("").to_owned()).collect();
    assert!(caught.contains(&"image-alt".to_owned()) && caught.contains(&"label".to_owned()), "{caught:?}");

    for lang in ["ja", "en"] {
        let q = format!("?lang={lang}");
        for (path, shot) in [("/", "portal"), ("/t/aoba-city", "tenant"), ("/t/aoba-city/status", "status")] {
            client.goto(&format!("{}{path}{q}", counter.url)).await.unwrap();
            check_page(&client, &format!("{path}{q}"), lang, shot).await;
        }
        for form in [
            "water-start",
            "tax-certificate-booking",
            "staff-exam",
            "information-disclosure",
            "car-tax-address-change",
            "citizen-survey",
        ] {
            client.goto(&format!("{}/t/sakura-town/f/{form}{q}", counter.url)).await.unwrap();
            let shoot = if form == "water-start" { lang } else { "" };
            check_page(&client, &format!("form {form}{q}"), shoot, "form").await;
            // Sent empty: every required field shows its error.
            click(&client, "button.primary").await;
            client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("error-summary")).await.unwrap();
            check_page(&client, &format!("form {form}{q} with errors"), shoot, "form-errors").await;
        }
        // 確認画面, 受付完了 and the status result.
        client.goto(&format!("{}/t/aoba-city/f/water-start{q}", counter.url)).await.unwrap();
        for (name, value) in crate::water_start_answers(&[]) {
            let id = format!("f-{}", name.replace('.', "-"));
            match name.as_str() {
                "dwelling" | "payment" => click(&client, &format!("input[name='{name}'][value='{value}']")).await,
                "consent" => click(&client, "#f-consent").await,
                _ => fill(&client, &id, &value).await,
            }
        }
        click(&client, "button.primary").await;
        client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("input[name='_draft']")).await.unwrap();
        check_page(&client, &format!("confirm{q}"), lang, "confirm").await;
        click(&client, "button.primary").await;
        let number =
            client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("inquiry-number")).await.unwrap();
        let number = number.text().await.unwrap();
        let secret = client.find(Locator::Id("inquiry-secret")).await.unwrap().text().await.unwrap();
        check_page(&client, &format!("receipt{q}"), lang, "receipt").await;
        client.goto(&format!("{}/t/aoba-city/status{q}", counter.url)).await.unwrap();
        fill(&client, "f-inquiry_number", &number).await;
        fill(&client, "f-secret", &secret).await;
        click(&client, "button.primary").await;
        client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("status-result")).await.unwrap();
        check_page(&client, &format!("status result{q}"), lang, "status-result").await;
        // A lookup that matches nothing, and a page that does not exist.
        client.goto(&format!("{}/t/aoba-city/status{q}", counter.url)).await.unwrap();
        fill(&client, "f-inquiry_number", &number).await;
        fill(&client, "f-secret", "wrong-secret").await;
        click_and_leave_page(&client, "button.primary").await;
        wait_for(&client, Locator::Css(".error-summary[role=alert]")).await;
        check_page(&client, &format!("status not found{q}"), lang, "status-not-found").await;
        client.goto(&format!("{}/t/aoba-city/f/no-such-form{q}", counter.url)).await.unwrap();
        check_page(&client, &format!("not found{q}"), lang, "not-found").await;
    }
    // An isolated municipality's notice page.
    crate::operator_command(&counter, &["tenant", "isolate", "kawabe-village"].map(std::ffi::OsStr::new));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while reqwest::get(format!("{}/t/kawabe-village", counter.url)).await.unwrap().status() != 503 {
        assert!(tokio::time::Instant::now() < deadline, "the isolation never took effect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (q, lang) in [("", "ja"), ("?lang=en", "en")] {
        client.goto(&format!("{}/t/kawabe-village{q}", counter.url)).await.unwrap();
        check_page(&client, &format!("isolation notice{q}"), lang, "isolated").await;
    }

    // Under-attack mode: the shield's proof-of-work page. Its script solves
    // the challenge and moves on within a second, so a new visitor's browser
    // does not get the script (as on a browser that cannot run it) and
    // stays on the page; 続ける pressed at once gives the same page again
    // with its error.
    under_attack(&counter, "sakura-town").await;
    {
        let Browser { client: visitor, _driver } = browser().await;
        devtools(&visitor, "Network.enable", serde_json::json!({})).await;
        devtools(&visitor, "Network.setBlockedURLs", serde_json::json!({ "urls": ["*/_shield/pow.js"] })).await;
        visitor.goto(&format!("{}/t/sakura-town/f/water-start", counter.url)).await.unwrap();
        wait_for(&visitor, Locator::Css("#pow-form button.primary")).await;
        check_page(&visitor, "proof-of-work page", "ja", "challenge").await;
        click_and_leave_page(&visitor, "#pow-form button.primary").await;
        wait_for(&visitor, Locator::Css("[role=alert]")).await;
        check_page(&visitor, "proof-of-work page, pressed too early", "ja", "challenge-too-early").await;
        visitor.close().await.unwrap();
    }

    // The shield's refusal of an address that sends too much, on a counter
    // with a small allowance (the test counters are given a large one).
    let strict =
        testkit::TestCounter::start_with(crate::madoguchi(), Engine::Sqlite, &["--shield-address-rate", "1/5"]).await;
    let mut refused = false;
    for _ in 0..20 {
        if reqwest::get(format!("{}/t/aoba-city", strict.url)).await.unwrap().status() == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the address was never rate limited");
    client.goto(&format!("{}/t/aoba-city", strict.url)).await.unwrap();
    assert!(text(&client, "h1").await.contains("アクセスが集中しています"));
    assert_meets_wcag_aa(&client, "429 refusal").await;
    client.close().await.unwrap();
}

/// Clicks `css` (a link, or a button that submits a form) and waits until the
/// browser has left the page it was on. The next page may still be loading:
/// wait for one of its elements after this.
pub(crate) async fn click_and_leave_page(client: &Client, css: &str) {
    let page = client.find(Locator::Css("html")).await.unwrap();
    click(client, css).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while page.tag_name().await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "{css} did not lead to another page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for an element of the page being loaded.
pub(crate) async fn wait_for(client: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    match client.wait().at_most(Duration::from_secs(10)).for_element(locator).await {
        Ok(element) => element,
        Err(e) => panic!("{locator:?} never appeared: {e}\n{}", client.source().await.unwrap_or_default()),
    }
}

pub(crate) async fn text(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

/// Chooses `value` in the drop-down `#id`.
pub(crate) async fn choose(client: &Client, id: &str, value: &str) {
    let select = client.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}"));
    select.select_by_value(value).await.unwrap_or_else(|e| panic!("#{id} has no option {value}: {e}"));
}

/// Waits for the record page to show `status` as the record's status.
async fn wait_for_record_status(client: &Client, status: &str) {
    wait_for(client, Locator::XPath(&format!("//*[@id='record-status' and normalize-space()='{status}']"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_open_a_record_and_return_it_in_the_browser() {
    let counter = start(Engine::Sqlite).await;
    let desk = crate::desk::set_up_desk(&counter, "aoba-city");
    let sent =
        crate::apply(&counter, "aoba-city", "water-start", &crate::water_start_answers(&[("notes", "ブラウザ試験")]))
            .await;
    let server = desk.serve().await;
    let code = desk.add_staff("yamamoto", "山本 花子");
    let password = "midori-sakura-2026!";
    let Browser { client, _driver } = browser().await;

    // 初回登録: the code from the administrator and a password, then the
    // authenticator app's key and a first code from it.
    client.goto(&format!("{}/enrol", server.url)).await.unwrap();
    wait_for_heading(&client, "初回登録").await;
    assert_meets_wcag_aa(&client, "enrol").await;
    fill(&client, "f-login", "yamamoto").await;
    fill(&client, "f-code", &code).await;
    fill(&client, "f-password", password).await;
    fill(&client, "f-password2", password).await;
    click_and_leave_page(&client, "button.primary").await;
    let secret = wait_for(&client, Locator::Id("totp-secret")).await.text().await.unwrap();
    assert_meets_wcag_aa(&client, "enrol: authenticator").await;
    let t0 = crate::desk::now_secs();
    fill(&client, "f-totp", &crate::desk::totp_code(&secret, t0)).await;
    click_and_leave_page(&client, "button.primary").await;

    // Sign in; this step's code was used up by the enrolment, so the next
    // step's code.
    wait_for_heading(&client, "職員サインイン").await;
    assert!(text(&client, "[role=status]").await.contains("登録が完了しました"));
    assert_meets_wcag_aa(&client, "sign-in").await;
    fill(&client, "f-login", "yamamoto").await;
    fill(&client, "f-password", password).await;
    fill(&client, "f-totp", &crate::desk::totp_code(&secret, t0 + 30)).await;
    click_and_leave_page(&client, "button.primary").await;
    wait_for_heading(&client, "受信箱").await;
    assert!(text(&client, ".toolbar").await.contains("山本 花子（yamamoto）"));

    // 今すぐ同期 brings the application into the inbox, without personal data.
    click_and_leave_page(&client, "form[action='/sync'] button").await;
    let receipt_link = format!("//table[@class='records']//a[normalize-space()='{}']", sent.receipt_number);
    wait_for(&client, Locator::XPath(&receipt_link)).await;
    assert!(!text(&client, "main").await.contains("山田"), "the inbox shows no personal data");
    assert_meets_wcag_aa(&client, "inbox").await;
    screenshot(&client, "desk-inbox").await;

    // The record: the resident's answers, opened on the desk.
    click_and_leave_page(&client, &format!("table.records a[href='/records/{}']", sent.receipt_number)).await;
    wait_for_record_status(&client, "受付").await;
    let answers = text(&client, "dl.answers").await;
    assert!(answers.contains("山田 太郎") && answers.contains("ブラウザ試験"), "{answers}");
    assert_meets_wcag_aa(&client, "record").await;

    // 審査中, then 差戻し with a message to the resident.
    choose(&client, "f-status", "in_review").await;
    click_and_leave_page(&client, "form[action$='/status'] button[type=submit]").await;
    wait_for_record_status(&client, "審査中").await;
    let message = "申請者の押印がありません。押印した書類を窓口へお持ちください。";
    choose(&client, "f-status", "returned").await;
    fill(&client, "f-message", message).await;
    click_and_leave_page(&client, "form[action$='/status'] button[type=submit]").await;
    wait_for_record_status(&client, "差戻し").await;
    let history = text(&client, "section[aria-labelledby='h-history']").await;
    assert!(history.contains("審査中") && history.contains(message), "{history}");
    assert_meets_wcag_aa(&client, "record after 差戻し").await;
    screenshot(&client, "desk-record").await;
    client.close().await.unwrap();

    // The desk told the counter at once: the resident sees 差戻し and why.
    let (status, page) = crate::post_form(
        &counter.client(),
        &format!("{}/t/aoba-city/status", counter.url),
        &[("inquiry_number".into(), sent.inquiry_number.clone()), ("secret".into(), sent.inquiry_secret.clone())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(crate::element_text(&page, "status-value").as_deref(), Some("差戻し"));
    assert_eq!(crate::element_text(&page, "staff-message").as_deref(), Some(message));
}

/// Enrols `login` in the browser: code and password, then the TOTP key and
/// a first code. Returns the key, the time its code was made for and the
/// recovery codes shown at the end.
pub(crate) async fn enrol_in_console(
    client: &Client,
    base: &str,
    login: &str,
    code: &str,
    password: &str,
) -> (String, u64, Vec<String>) {
    client.goto(&format!("{base}/admin/enrol")).await.unwrap();
    wait_for_heading(client, "アカウントの登録").await;
    assert_meets_wcag_aa(client, "admin: enrol").await;
    fill(client, "f-login", login).await;
    fill(client, "f-code", code).await;
    fill(client, "f-password", password).await;
    fill(client, "f-password2", password).await;
    click_and_leave_page(client, "button.primary").await;
    let secret = wait_for(client, Locator::Id("totp-secret")).await.text().await.unwrap();
    assert_meets_wcag_aa(client, "admin: authenticator").await;
    let t0 = crate::desk::now_secs();
    fill(client, "f-totp", &crate::desk::totp_code(&secret, t0)).await;
    click_and_leave_page(client, "button.primary").await;
    wait_for_heading(client, "登録が完了しました").await;
    let codes = text(client, "#recovery-codes").await;
    let codes: Vec<String> = codes.split_whitespace().map(str::to_owned).collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    (secret, t0, codes)
}

/// Password, then the second factor, in the browser.
pub(crate) async fn sign_in_to_console(client: &Client, base: &str, login: &str, password: &str, code: &str) {
    client.goto(&format!("{base}/admin/login")).await.unwrap();
    wait_for_heading(client, "職員サインイン").await;
    fill(client, "f-login", login).await;
    fill(client, "f-password", password).await;
    click_and_leave_page(client, "button.primary").await;
    wait_for_heading(client, "2段階認証").await;
    assert_meets_wcag_aa(client, "admin: second factor").await;
    fill(client, "f-code", code).await;
    click_and_leave_page(client, "button.primary").await;
    wait_for_heading(client, "管理コンソール").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_creates_a_tenant_admin_who_enrols_totp_and_signs_in() {
    let counter = crate::admin::start_counter(Engine::Sqlite).await;
    let operator_code = crate::admin::create_operator(&counter, "kenjoho");
    let password = "midori-ken-2026-aoba!";
    let Browser { client, _driver } = browser().await;
    let base = counter.url.clone();

    // The operator enrols and signs in with a recovery code.
    let (_, _, codes) = enrol_in_console(&client, &base, "kenjoho", &operator_code, password).await;
    sign_in_to_console(&client, &base, "kenjoho", password, &codes[0]).await;
    assert_meets_wcag_aa(&client, "admin: home").await;

    // …opens 青葉市 in the municipality list and creates its first admin.
    click_and_leave_page(&client, "a[href='/admin/tenants']").await;
    wait_for_heading(&client, "団体（市区町村）").await;
    assert_meets_wcag_aa(&client, "admin: tenants").await;
    click_and_leave_page(&client, "a[href='/admin/t/aoba-city/staff']").await;
    wait_for(&client, Locator::Id("f-login")).await;
    fill(&client, "f-login", "aoba.admin").await;
    fill(&client, "f-name", "青葉 花子").await;
    click(&client, "#role-tenant-admin").await;
    click_and_leave_page(&client, "form[action='/admin/t/aoba-city/staff'] button.primary").await;
    let code = wait_for(&client, Locator::Id("enrolment-code")).await.text().await.unwrap();
    assert_meets_wcag_aa(&client, "admin: staff").await;
    screenshot(&client, "admin-staff").await;
    click_and_leave_page(&client, "form[action='/admin/logout'] button").await;
    wait_for_heading(&client, "職員サインイン").await;

    // The tenant admin enrols with an authenticator app and signs in with
    // its next code (this step's was spent at enrolment).
    let (secret, t0, _) = enrol_in_console(&client, &base, "aoba.admin", &code, password).await;
    sign_in_to_console(&client, &base, "aoba.admin", password, &crate::desk::totp_code(&secret, t0 + 30)).await;
    let home = text(&client, "main").await;
    assert!(home.contains("青葉市") && home.contains("tenant-admin @ aoba-city"), "{home}");
    assert!(!home.contains("団体（市区町村）"), "a tenant admin does not manage tenants");
    screenshot(&client, "admin-home").await;
}
