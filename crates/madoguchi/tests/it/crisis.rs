//! Crisis mode (災害モード): in one step a municipality puts a pinned notice
//! and one form (a damage report or safety confirmation from the
//! prefecture's templates) in front of its residents, pauses the rest as
//! static pages, and keeps taking reports while its pages are flooded.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use testkit::{Engine, TestCounter};

use crate::admin::Browser;
use crate::{hidden_input, on_both_engines, operator_command, start};

on_both_engines!(crisis_mode_puts_one_form_first_pauses_the_rest_and_ends_as_it_began);

fn crisis(counter: &TestCounter, args: &[&str]) -> String {
    let mut all = vec!["tenant", "crisis"];
    all.extend_from_slice(args);
    operator_command(counter, &all.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>())
}

/// Waits until the counter serves the home page as `in_crisis` says (each
/// node reads the switch every few seconds).
async fn follows(counter: &TestCounter, tenant: &str, in_crisis: bool) {
    for _ in 0..100 {
        let page = Browser::new(counter).get(&format!("/t/{tenant}")).await;
        if page.body.contains("id=\"crisis-notice\"") == in_crisis {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the counter did not follow the crisis switch");
}

fn safety_answers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("person", "青葉 太郎"),
        ("person.kana", "アオバ タロウ"),
        ("status", "safe"),
        ("whereabouts", "shelter"),
        ("shelter", "青葉市民体育館"),
        ("household", "2"),
        ("consent", "yes"),
    ]
}

/// A resident sends the safety confirmation; returns the receipt page.
async fn report(browser: &mut Browser, answers: &[(&str, &str)]) -> crate::admin::Page {
    let form = browser.get("/t/aoba-city/f/safety-confirmation").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let confirm = browser.post("/t/aoba-city/f/safety-confirmation/confirm", answers).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let draft = hidden_input(&confirm.body, "_draft").expect("draft");
    browser.post("/t/aoba-city/f/safety-confirmation/submit", &[("_draft", draft.as_str())]).await
}

async fn crisis_mode_puts_one_form_first_pauses_the_rest_and_ends_as_it_began(engine: Engine) {
    let counter = start(engine).await;
    let said = crisis(
        &counter,
        &[
            "aoba-city",
            "on",
            "--form",
            "safety-confirmation",
            "--notice-ja",
            "大雨特別警報が発表されました。\n避難所：青葉市民体育館、青葉小学校",
            "--notice-en",
            "A heavy rain emergency warning is in force.\nShelters: Aoba Gymnasium, Aoba Elementary School",
        ],
    );
    assert!(said.contains("crisis mode on"), "{said}");
    follows(&counter, "aoba-city", true).await;

    // The home page: the notice, the one form, a static page a proxy may keep.
    let mut resident = Browser::new(&counter);
    let home = resident.get("/t/aoba-city").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("避難所：青葉市民体育館") && home.body.contains("/t/aoba-city/f/safety-confirmation"));
    assert!(home.body.contains("安否情報の登録"), "the form adopted from the prefecture's template");
    assert!(!home.body.contains("/f/water-start"), "the other forms wait");
    let raw = reqwest::get(format!("{}/t/aoba-city", counter.url)).await.unwrap();
    assert_eq!(raw.headers()["cache-control"], "public, max-age=30");
    let english = resident.get("/t/aoba-city?lang=en").await;
    assert!(english.body.contains("Shelters: Aoba Gymnasium"), "{}", english.body);

    // Everything else of the municipality is a static paused page.
    for path in ["/t/aoba-city/f/water-start", "/t/aoba-city/f/staff-exam?lang=en", "/t/aoba-city/rooms"] {
        let page = resident.get(path).await;
        assert_eq!(page.status, 503, "{path}");
        assert!(page.body.contains("/t/aoba-city/f/safety-confirmation"), "{path} points to the open form");
    }
    let paused = resident.post("/t/aoba-city/f/water-start/confirm", &[("applicant", "x")]).await;
    assert_eq!(paused.status, 503);
    // The open form shows the notice too, and takes reports.
    let form = resident.get("/t/aoba-city/f/safety-confirmation").await;
    assert!(form.body.contains("id=\"crisis-notice\"") && form.body.contains("青葉小学校"));
    let receipt = report(&mut resident, &safety_answers()).await;
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    assert!(receipt.body.contains("id=\"receipt-number\""));
    // The status lookup stays; other municipalities carry on as before.
    assert_eq!(resident.get("/t/aoba-city/status").await.status, 200);
    assert_eq!(resident.get("/t/sakura-town/f/water-start").await.status, 200);
    assert!(!resident.get("/t/sakura-town").await.body.contains("crisis-notice"));

    // Both switches are in the ledger.
    crisis(&counter, &["aoba-city", "off"]);
    follows(&counter, "aoba-city", false).await;
    let entries = counter.store().await.ledger_entries(0, 100_000).await.unwrap();
    let details: Vec<&str> = entries.iter().map(|e| e.event.detail.as_str()).collect();
    assert!(details.contains(&"crisis mode on (form safety-confirmation)") && details.contains(&"crisis mode off"));
    let home = resident.get("/t/aoba-city").await;
    assert!(home.body.contains("/f/water-start") && home.body.contains("/f/safety-confirmation"));
    assert_eq!(resident.get("/t/aoba-city/f/water-start").await.status, 200);
    assert!(crisis(&counter, &["aoba-city", "off"]).contains("was not in crisis mode"));
}

/// The 2011 flood, on one municipality in crisis: thirty addresses hammer
/// its home page and a paused form while residents send safety
/// confirmations; every confirmation is received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_confirmations_keep_coming_in_while_the_municipality_is_flooded() {
    let counter = TestCounter::start(crate::madoguchi(), Engine::Sqlite).await;
    crisis(&counter, &["aoba-city", "on", "--form", "safety-confirmation"]);
    follows(&counter, "aoba-city", true).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flooders = Vec::new();
    for n in 0..30u8 {
        let (url, stop) = (counter.url.clone(), std::sync::Arc::clone(&stop));
        flooders.push(tokio::spawn(async move {
            let mut browser = Browser::at(&url, Some(IpAddr::from([127, 0, 1, n + 1])));
            let (mut answered, mut failed) = (0u32, 0u32);
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                let path = if answered % 2 == 0 { "/t/aoba-city" } else { "/t/aoba-city/f/water-start" };
                match browser.get(path).await.status.as_u16() {
                    200 | 503 | 429 => answered += 1,
                    _ => failed += 1,
                }
            }
            (answered, failed)
        }));
    }
    let started = Instant::now();
    let mut residents = Vec::new();
    for n in 0..20u8 {
        let url = counter.url.clone();
        residents.push(tokio::spawn(async move {
            let mut browser = Browser::at(&url, Some(IpAddr::from([127, 0, 2, n + 1])));
            report(&mut browser, &safety_answers()).await.status.as_u16()
        }));
    }
    let mut received = 0;
    for resident in residents {
        if resident.await.unwrap() == 200 {
            received += 1;
        }
    }
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut answered, mut failed) = (0, 0);
    for flooder in flooders {
        let (a, f) = flooder.await.unwrap();
        answered += a;
        failed += f;
    }
    println!("flood: {answered} requests answered, {failed} failed; 20 residents' confirmations in {took:?}");
    assert_eq!(received, 20, "every safety confirmation was received");
    assert_eq!(failed, 0, "the flood got static pages or refusals, never errors");
    assert!(answered > 100, "the flood was a flood: {answered}");
}

/// In chromium: the crisis home page, a paused page and the open form with
/// its notice meet WCAG 2.1 AA (axe), kept as screenshots when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crisis_pages_meet_wcag_in_chromium() {
    use crate::browser::{browser, check_page, Browser as Chromium};

    let counter = start(Engine::Sqlite).await;
    crisis(
        &counter,
        &[
            "aoba-city",
            "on",
            "--form",
            "damage-report",
            "--notice-ja",
            "大雨特別警報が発表されました。\n避難所：青葉市民体育館",
        ],
    );
    follows(&counter, "aoba-city", true).await;
    let Chromium { client, _driver } = browser().await;
    for lang in ["ja", "en"] {
        for (path, shot) in [
            ("/t/aoba-city", "crisis-home"),
            ("/t/aoba-city/f/water-start", "crisis-paused"),
            ("/t/aoba-city/f/damage-report", "crisis-form"),
        ] {
            client.goto(&format!("{}{path}?lang={lang}", counter.url)).await.unwrap();
            check_page(&client, &format!("{path}?lang={lang}"), lang, shot).await;
        }
    }
}
