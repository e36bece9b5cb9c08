//! The watch on the counter: a stolen desk key that pulls again what its
//! desk already holds is frozen before it gets the records.

use testkit::Engine;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_desk_key_pulling_everything_again_is_frozen_before_it_gets_a_record() {
    let counter = crate::start(Engine::Sqlite).await;
    let desk = crate::desk::set_up_desk(&counter, "aoba-city");
    let store = counter.store().await;
    let public = store.current_tenant_key("aoba-city").await.unwrap().unwrap();
    testkit::seal_into_store(&store, "aoba-city", &public, 400, 16, |i| format!("{{\"n\":{i}}}").into_bytes()).await;

    // The real desk takes the 400 new records: its job, nothing counted.
    assert!(desk.sync().contains("synced: 400 new records"));
    assert!(desk.sync().contains("synced: 0 new records"));

    // The key is copied; the thief starts from nothing and pulls it all.
    let keys = desk.unlock();
    let thief_dir = tempfile::tempdir().unwrap();
    let thief_store =
        desk::DeskStore::open(&format!("sqlite://{}", thief_dir.path().join("thief.sqlite").display())).await.unwrap();
    let client = desk::SyncClient::new(&counter.url).unwrap();
    let stolen = client.sync(&keys, &thief_store).await;
    assert!(stolen.is_err(), "the re-pull is refused");
    assert_eq!(thief_store.count_records().await.unwrap(), 0, "not one record left the counter");

    // The key is frozen for everyone, the real desk included, until staff
    // have looked; the ledger says why.
    let refused = desk.command(&["desk", "sync"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("suspended"));
    let entries = store.ledger_entries(0, 10_000).await.unwrap();
    let alerts: Vec<&str> =
        entries.iter().filter(|e| e.event.kind.as_str() == "alert").map(|e| e.event.detail.as_str()).collect();
    assert!(alerts.iter().any(|d| d.starts_with("burst: 400 records")), "{alerts:?}");
    assert!(alerts.contains(&"frozen: desk key suspended"), "{alerts:?}");

    // After review, an administrator resumes the key on the console with a
    // note and a fresh code of their own; the real desk syncs again.
    let code = crate::admin::create_operator(&counter, "kenjoho");
    let (mut admin, enrolled) = crate::admin::sign_in_staff(&counter, &code, "kenjoho").await;
    let page = admin.get("/admin/t/aoba-city/staff").await;
    assert!(page.body.contains("id=\"suspended-aoba-city-desk1\""), "{}", page.body);
    let resume = "/admin/t/aoba-city/desks/aoba-city-desk1/resume";
    let note = "鍵の複製を確認し、作業端末を隔離した。正規のデスクのみ再開";
    let wrong = admin.submit("/admin/t/aoba-city/staff", resume, &[("note", note), ("totp", "123456")]).await;
    assert_eq!(wrong.status, 422, "a wrong code resumes nothing");
    let fresh = crate::desk::totp_code(&enrolled.secret, enrolled.t0 + 30);
    let done = admin.submit("/admin/t/aoba-city/staff", resume, &[("note", note), ("totp", &fresh)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("id=\"desk-resumed\""));
    assert!(desk.sync().contains("synced: 0 new records"));
    let entries = store.ledger_entries(0, 10_000).await.unwrap();
    assert!(entries.iter().any(|e| e.event.actor == "staff:kenjoho"
        && e.event.subject.as_deref() == Some("desk:aoba-city-desk1")
        && e.event.detail.contains("鍵の複製を確認")));
}

/// A local webhook receiver: the bodies it was sent.
async fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let kept = std::sync::Arc::clone(&kept);
            async move {
                kept.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Waits up to `secs` for `check` to hold.
async fn eventually(secs: u64, mut check: impl AsyncFnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// The ledger's alert leaves of `tenant`: (actor, detail).
async fn alerts_of(store: &store::Store, tenant: &str) -> Vec<(String, String)> {
    let filter =
        store::LedgerFilter { tenant: Some(tenant.into()), kind: Some(ledger::EventKind::Alert), ..Default::default() };
    let found = store.search_ledger(&filter, None, 1000).await.unwrap();
    found.into_iter().map(|e| (e.event.actor, e.event.detail)).collect()
}

/// Waits until TOTP codes of step `t0 + 30·steps` are accepted (one step
/// of clock skew either way), so a test can use a code not spent yet.
async fn until_code_step(t0: u64, steps: u64) {
    while crate::desk::now_secs() + 30 < t0 + 30 * steps {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_staff_session_exporting_as_fast_as_it_can_is_frozen_before_200_records_and_lifted_after_review() {
    let sink = testkit::SmtpSink::start().await;
    let smtp = sink.address.to_string();
    let counter = testkit::TestCounter::start_with(
        crate::madoguchi(),
        Engine::Sqlite,
        &["--smtp", &smtp, "--alert-quiet-secs", "1", "--alert-mail", "soc@pref.example.jp"],
    )
    .await;
    let (hook, calls) = webhook_receiver().await;
    crate::operator_command(
        &counter,
        &["tenant", "security", "aoba-city", "--contact", "joho@city.example.jp", "--webhook", hook.as_str()]
            .map(std::ffi::OsStr::new),
    );
    let desk = crate::desk::set_up_desk(&counter, "aoba-city");
    desk.fill_store("water-start", 0, 2026, 100).await;
    desk.fill_store("staff-exam", 2, 2027, 100).await;
    let server = desk.serve().await;
    let thief = crate::desk::enrol_and_sign_in_as(&desk, &server, "kato", "processor").await;
    let admin = crate::desk::enrol_and_sign_in_as(&desk, &server, "yamada", "tenant-admin").await;

    // The thief exports form after form as fast as it can.
    let started = std::time::Instant::now();
    let (status, csv) = thief.get_bytes("/export?form=water-start").await;
    assert_eq!(status, 200, "a hundred records is an ordinary export");
    let leaked = csv.iter().filter(|b| **b == b'\n').count() - 1;
    let (status, page) = thief.get("/export?form=staff-exam").await;
    let frozen_after = started.elapsed();
    assert_eq!(status, 403);
    assert!(page.contains("一時停止") && page.contains("id=\"frozen\""), "{page}");
    assert!(leaked <= 200 && frozen_after.as_secs() < 60, "{leaked} records, {frozen_after:?}");
    eprintln!("burst theft: frozen after {leaked} records in {frozen_after:?}");

    // Its sessions are gone; the right password and code show the same page.
    let (status, _) = thief.get("/").await;
    assert_eq!(status, 303, "signed out");
    until_code_step(thief.t0, 2).await;
    let mut browser = crate::admin::Browser::at(&server.url, None);
    let code = crate::desk::totp_code(&thief.totp_secret, thief.t0 + 60);
    let again =
        browser.submit("/login", "/login", &[("login", "kato"), ("password", &thief.password), ("totp", &code)]).await;
    assert_eq!(again.status, 403);
    assert!(again.body.contains("一時停止"));

    // The ledger has the finding and the freeze; mail and webhook follow.
    let store = counter.store().await;
    assert!(
        eventually(10, async || {
            let alerts = alerts_of(&store, "aoba-city").await;
            alerts.iter().any(|(a, d)| a == "staff:kato" && d.starts_with("alert burst"))
                && alerts.iter().any(|(a, d)| a == "staff:kato" && d.starts_with("frozen burst"))
        })
        .await,
        "{:?}",
        alerts_of(&store, "aoba-city").await
    );
    let called = eventually(15, async || calls.lock().unwrap().iter().any(|b| b.contains("frozen burst"))).await;
    if !called {
        let logs = std::fs::read_dir(counter.data_dir().join("../logs")).unwrap();
        for log in logs {
            let text = std::fs::read_to_string(log.unwrap().path()).unwrap_or_default();
            eprintln!("{}", text.lines().filter(|l| l.contains("alert")).collect::<Vec<_>>().join("\n"));
        }
        panic!("the webhook was not called: {:?}", calls.lock().unwrap());
    }
    let body = calls.lock().unwrap().iter().find(|b| b.contains("frozen burst")).cloned().unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["alerts"][0]["tenant"], "aoba-city");
    assert!(!body.contains("山田") && !body.contains("taro@"), "no record content in an alert: {body}");
    assert!(eventually(15, async || sink.mails().iter().any(|m| m.to.iter().any(|t| t.contains("joho@")))).await);
    let mails = sink.mails();
    let mail = mails.iter().find(|m| m.to.iter().any(|t| t.contains("joho@"))).unwrap();
    assert!(mail.data.contains("kato") && !mail.data.contains("taro@example.jp"), "{}", mail.data);
    assert!(sink.mails().iter().any(|m| m.to.iter().any(|t| t.contains("soc@pref"))), "the operator is told too");

    // A tenant admin lifts it after review, with a fresh code of their own.
    let (_, staff_page) = admin.get("/staff").await;
    assert!(staff_page.contains("frozen-kato") && staff_page.contains("burst"), "{staff_page}");
    let csrf = crate::hidden_input(&staff_page, "_csrf").unwrap();
    let (status, _) =
        admin.post("/staff/kato/unfreeze", &[("_csrf", &csrf), ("note", "確認済み"), ("totp", "000000")]).await;
    assert_eq!(status, 422, "a wrong code lifts nothing");
    until_code_step(admin.t0, 2).await;
    let fresh = crate::desk::totp_code(&admin.totp_secret, admin.t0 + 60);
    let note = "本人に確認：年次報告のための書き出しではなかった。パスワード変更済み";
    let (status, page) =
        admin.post("/staff/kato/unfreeze", &[("_csrf", &csrf), ("note", note), ("totp", &fresh)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"unfrozen\"") && !page.contains("frozen-kato"));
    let desk_store = desk.store().await;
    assert!(desk_store.freeze_of("kato").await.unwrap().is_none());
    assert!(
        eventually(10, async || {
            let filter = store::LedgerFilter { person: Some("staff:yamada".into()), ..Default::default() };
            let found = store.search_ledger(&filter, None, 100).await.unwrap();
            found.iter().any(|e| e.event.detail.starts_with("unfrozen kato") && e.event.detail.contains("年次報告"))
        })
        .await,
        "the lift is in the ledger with the review note"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_planted_applicant_freezes_the_member_within_five_seconds() {
    let counter = crate::start(Engine::Sqlite).await;
    let desk = crate::desk::set_up_desk(&counter, "aoba-city");
    let sent = crate::apply(&counter, "aoba-city", "water-start", &crate::water_start_answers(&[])).await;
    let server = desk.serve_with(&["--honeytokens-per-form", "1"]).await;
    let desk_store = desk.store().await;
    let store = counter.store().await;
    let forms = store.tenant_forms("aoba-city").await.unwrap().len() as u64;
    assert!(
        eventually(30, async || desk_store.honeytoken_count().await.unwrap() == forms
            && desk_store.count_records().await.unwrap() as u64 == forms + 1)
        .await,
        "one synthetic applicant per form, synced like any record"
    );
    let planted = desk_store.honeytokens().await.unwrap();

    // On the counter a planted record is a submission like the resident's.
    let kinds: Vec<String> = store
        .ledger_entries(0, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event.tenant.as_deref() == Some("aoba-city"))
        .map(|e| e.event.kind.as_str().to_owned())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "submission").count() as u64, forms + 1, "{kinds:?}");

    // Staff never meet one in their work: not in the inbox.
    let clerk = crate::desk::enrol_and_sign_in_as(&desk, &server, "kato", "processor").await;
    let (_, inbox) = clerk.get("/").await;
    assert!(inbox.contains(&sent.receipt_number));
    for receipt in &planted {
        assert!(!inbox.contains(&receipt.to_string()), "{receipt} is listed");
    }

    // Someone walking 到達番号 opens one: frozen at once.
    let started = std::time::Instant::now();
    let (status, page) = clerk.get(&format!("/records/{}", planted[0])).await;
    let frozen_in = started.elapsed();
    assert_eq!(status, 403);
    assert!(page.contains("一時停止") && !page.contains("090"), "nothing of the record is shown");
    assert!(
        eventually(5, async || alerts_of(&store, "aoba-city")
            .await
            .iter()
            .any(|(_, d)| d.starts_with("frozen honeytoken")))
        .await
    );
    let in_ledger = started.elapsed();
    assert!(in_ledger.as_secs() < 5, "{in_ledger:?}");
    eprintln!("honeytoken: frozen in {frozen_in:?}, in the counter's ledger after {in_ledger:?}");

    // A copy of the desk key pulling the stream again meets them as well:
    // the counter knows them only by keyed tags, and freezes the key at once.
    let keys = desk.unlock();
    let thief_dir = tempfile::tempdir().unwrap();
    let thief_store =
        desk::DeskStore::open(&format!("sqlite://{}", thief_dir.path().join("thief.sqlite").display())).await.unwrap();
    let stolen = desk::SyncClient::new(&counter.url).unwrap().sync(&keys, &thief_store).await;
    assert!(stolen.is_err(), "refused");
    assert_eq!(thief_store.count_records().await.unwrap(), 0);
    let alerts = alerts_of(&store, "aoba-city").await;
    assert!(
        alerts.iter().any(|(actor, d)| actor == "system:watch" && d.starts_with("honeytoken: opened")),
        "{alerts:?}"
    );
    assert!(alerts.iter().any(|(_, d)| d == "frozen: desk key suspended"), "{alerts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_used_from_five_networks_in_a_day_is_locked_until_an_operator_lifts_it() {
    let counter = crate::start(Engine::Sqlite).await;
    let (mut operator, _) = crate::admin::signed_in_operator(&counter).await;
    let code = crate::admin::create_account(&mut operator, "aoba-city", "aoba.clerk", "processor").await;
    let (clerk, _) = crate::admin::sign_in_staff(&counter, &code, "aoba.clerk").await;

    // The session cookie is stolen and used from one network after another.
    let mut answers = Vec::new();
    for network in 1..=5u8 {
        let mut thief = clerk.moved_to(std::net::IpAddr::from([127, 0, network, 1]));
        let page = thief.get("/admin/t/aoba-city/submissions").await;
        answers.push(page.status.as_u16());
        if page.status == 403 {
            assert!(page.body.contains("一時停止"), "{}", page.body);
        }
    }
    assert_eq!(answers, [200, 200, 200, 200, 403], "frozen on the fifth network");
    let mut back_home = clerk.moved_to(std::net::IpAddr::from([127, 0, 1, 1]));
    let page = back_home.get("/admin/t/aoba-city/submissions").await;
    assert_eq!(page.location, "/admin/login", "every session ended");

    let store = counter.store().await;
    let alerts = alerts_of(&store, "aoba-city").await;
    assert!(alerts.iter().any(|(_, d)| d.starts_with("many_networks: used from 5 networks")), "{alerts:?}");
    assert!(alerts.iter().any(|(_, d)| d.starts_with("frozen: many_networks")), "{alerts:?}");
    let reads = store
        .search_ledger(
            &store::LedgerFilter { person: Some("staff:aoba.clerk".into()), ..Default::default() },
            None,
            100,
        )
        .await
        .unwrap();
    assert!(reads.iter().filter(|e| e.event.detail.starts_with("receipt data of")).all(|e| e.event.source.is_some()));
    assert!(store.staff_account("aoba.clerk").await.unwrap().unwrap().throttle.locked);

    // The operator lifts it after review (logged).
    let csrf = operator.csrf("/admin/t/aoba-city/staff").await;
    let lifted = operator.post("/admin/t/aoba-city/staff/aoba.clerk/unlock", &[("_csrf", &csrf)]).await;
    assert_eq!(lifted.status, 303);
    assert!(!store.staff_account("aoba.clerk").await.unwrap().unwrap().throttle.locked);
}
