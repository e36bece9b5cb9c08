//! Isolating one municipality: its residents see the operator's notice and
//! its desks are refused, while every other tenant keeps serving; restoring
//! brings it back. No restart.

use std::time::{Duration, Instant};

use testkit::{Engine, TestCounter};

use crate::{apply, operator_command, water_start_answers};

/// Polls `url` until it answers `status` (the counter re-reads the
/// isolation switches every few seconds); returns the page.
async fn until_status(counter: &TestCounter, path: &str, status: u16) -> String {
    let client = counter.client();
    let started = Instant::now();
    loop {
        let response = client.get(format!("{}{path}", counter.url)).send().await.unwrap();
        if response.status().as_u16() == status {
            return response.text().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{path} never answered {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn run(counter: &TestCounter, args: &[&str]) -> String {
    operator_command(counter, &args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_municipality_shows_its_notice_and_refuses_its_desks_while_the_others_serve() {
    let counter = crate::start(Engine::Sqlite).await;
    let desk = crate::desk::set_up_desk(&counter, "aoba-city");
    let sent = apply(&counter, "aoba-city", "water-start", &water_start_answers(&[])).await;

    let printed = run(
        &counter,
        &[
            "tenant",
            "isolate",
            "aoba-city",
            "--notice-ja",
            "不正アクセスの疑いがあるため、青葉市の電子申請を停止しています。",
            "--notice-en",
            "Aoba City's online applications are stopped because of a suspected intrusion.",
        ],
    );
    assert!(printed.contains("aoba-city: isolated"), "{printed}");

    // Every page of the tenant answers with the notice, in both languages.
    let page = until_status(&counter, "/t/aoba-city/f/water-start", 503).await;
    assert!(page.contains("お知らせ") && page.contains("不正アクセスの疑いがあるため"), "{page}");
    assert!(page.contains("id=\"tenant-contact\""), "where to go instead: {page}");
    let english = until_status(&counter, "/t/aoba-city/status?lang=en", 503).await;
    assert!(english.contains("suspected intrusion") && english.contains("lang=\"en\""), "{english}");
    let client = counter.client();
    let confirm = client
        .post(format!("{}/t/aoba-city/f/water-start/confirm", counter.url))
        .form(&water_start_answers(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), 503, "nothing is taken in while isolated");

    // The other municipalities are untouched.
    let other = client.get(format!("{}/t/kawabe-village/f/water-start", counter.url)).send().await.unwrap();
    assert_eq!(other.status(), 200);
    apply(&counter, "kawabe-village", "water-start", &water_start_answers(&[])).await;

    // The isolated tenant's desk is refused.
    let refused = desk.command(&["desk", "sync"]).output().unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("isolated"), "{said}");

    // Restored: pages and desk work again, and nothing was lost.
    assert!(run(&counter, &["tenant", "restore", "aoba-city"]).contains("restored"));
    until_status(&counter, "/t/aoba-city/f/water-start", 200).await;
    assert!(desk.sync().contains("synced: 1 new records"));
    assert!(run(&counter, &["tenant", "restore", "aoba-city"]).contains("was not isolated"));
    let store = counter.store().await;
    let entries = store.ledger_entries(0, 1000).await.unwrap();
    let details: Vec<&str> = entries.iter().map(|e| e.event.detail.as_str()).collect();
    assert!(details.contains(&"tenant isolated") && details.contains(&"tenant restored"), "{details:?}");
    assert!(!sent.receipt_number.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_isolates_and_restores_a_municipality_from_the_console() {
    let counter = crate::admin::start_counter(Engine::Sqlite).await;
    let (mut operator, _) = crate::admin::signed_in_operator(&counter).await;
    let csrf = operator.csrf("/admin/shield").await;
    let done = operator
        .post(
            "/admin/shield/sakura-town/isolation",
            &[
                ("_csrf", &csrf),
                ("state", "on"),
                ("notice_ja", "システム障害のため停止しています。\n窓口へお越しください。"),
                ("notice_en", "Stopped after a system failure. Please come to the counter."),
            ],
        )
        .await;
    assert_eq!(done.location, "/admin/shield", "{}", done.body);
    // This node follows at once: no waiting for the refresh.
    let page = counter.client().get(format!("{}/t/sakura-town", counter.url)).send().await.unwrap();
    assert_eq!(page.status(), 503);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("<p>システム障害のため停止しています。</p>") && page.contains("<p>窓口へお越しください。</p>"),
        "{page}"
    );
    let console = operator.get("/admin/shield").await;
    assert!(console.body.contains("切り離し中") || console.body.contains("Isolated"), "{}", console.body);

    let csrf = operator.csrf("/admin/shield").await;
    operator.post("/admin/shield/sakura-town/isolation", &[("_csrf", &csrf), ("state", "off")]).await;
    let page = counter.client().get(format!("{}/t/sakura-town", counter.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
}
