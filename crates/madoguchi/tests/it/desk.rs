//! The desk and the counter together: key ceremony, import, signed sync,
//! opening on the desk, status back to the resident.

use std::collections::BTreeMap;
use std::process::Command;

use store::ReceiptNumber;
use testkit::{Engine, TestCounter};

use crate::{apply, element_text, madoguchi, on_both_engines, post_form, start, water_start_answers};
pub(crate) use testkit::desk::{files_with_extension, DeskServer, TestDesk, PASSPHRASE};

/// Runs the ceremony for `tenant` and imports both public keys at the counter.
pub(crate) fn set_up_desk(counter: &TestCounter, tenant: &str) -> TestDesk {
    TestDesk::set_up(madoguchi(), counter, tenant)
}

on_both_engines!(a_desk_syncs_opens_and_its_status_reaches_the_resident);

async fn a_desk_syncs_opens_and_its_status_reaches_the_resident(engine: Engine) {
    let counter = start(engine).await;
    let desk = set_up_desk(&counter, "aoba-city");
    let mut sent = Vec::new();
    for i in 0..3 {
        let answers = water_start_answers(&[("notes", &format!("三階です #{i}"))]);
        sent.push(apply(&counter, "aoba-city", "water-start", &answers).await);
    }
    // Another tenant's submission never reaches this desk.
    apply(&counter, "sakura-town", "water-start", &water_start_answers(&[])).await;

    assert!(desk.sync().contains("synced: 3 new records"));
    assert!(desk.sync().contains("synced: 0 new records"), "a second sync is a no-op");

    let keys = desk.unlock();
    let store = desk.store().await;
    assert_eq!(store.count_records().await.unwrap(), 3);
    let receipt = ReceiptNumber::parse(&sent[1].receipt_number).unwrap();
    let (record, payload) = store.read_record(&keys, receipt, "tanaka").await.unwrap().expect("stored");
    assert_eq!(record.form_id, "water-start");
    assert!(payload.to_string().contains("三階です #1"), "{payload}");
    let log = store.access_log().await.unwrap();
    assert!(log.contains(&("tanaka".to_owned(), "view".to_owned(), Some(receipt))), "{log:?}");

    // The counter records every pull with the desk's identity.
    let (pulls, records) = counter.store().await.desk_pull_totals(&desk.desk_id).await.unwrap();
    assert!(pulls >= 2 && records == 3, "{pulls} pulls, {records} records");

    // Status pushed from the desk shows on the resident's status page.
    let client = desk::SyncClient::new(&counter.url).unwrap();
    let push = counter::sync::StatusPush {
        changes: vec![counter::sync::PushedStatus {
            receipt: sent[1].receipt_number.clone(),
            status: "in_review".into(),
            changed_at: time::OffsetDateTime::now_utc().unix_timestamp() + 1,
            message: None,
        }],
    };
    assert_eq!(client.push_status(&keys, &push).await.unwrap(), 1);
    assert_eq!(client.push_status(&keys, &push).await.unwrap(), 0, "pushing again changes nothing");
    let (status, page) = post_form(
        &counter.client(),
        &format!("{}/t/aoba-city/status", counter.url),
        &[("inquiry_number".into(), sent[1].inquiry_number.clone()), ("secret".into(), sent[1].inquiry_secret.clone())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(element_text(&page, "status-value").as_deref(), Some("審査中"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_key_of_one_tenant_gets_nothing_of_another_and_forged_requests_are_refused() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "aoba-city");
    apply(&counter, "sakura-town", "water-start", &water_start_answers(&[])).await;
    apply(&counter, "kawabe-village", "water-start", &water_start_answers(&[])).await;
    assert!(desk.sync().contains("synced: 0 new records"));
    let keys = desk.unlock();
    let client = desk::SyncClient::new(&counter.url).unwrap();
    let who = client.whoami(&keys).await.unwrap();
    assert_eq!((who.tenant.as_str(), who.desk_id.as_str()), ("aoba-city", desk.desk_id.as_str()));
    // A status push naming another tenant's receipt changes nothing there.
    let push = counter::sync::StatusPush {
        changes: vec![counter::sync::PushedStatus {
            receipt: format!("{}-000001", (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).year()),
            status: "rejected".into(),
            changed_at: time::OffsetDateTime::now_utc().unix_timestamp() + 5,
            message: None,
        }],
    };
    assert_eq!(client.push_status(&keys, &push).await.unwrap(), 0);

    // Unsigned, wrongly signed, replayed and suspended requests are refused.
    let http = reqwest::Client::new();
    let url = format!("{}/api/desk/v1/records", counter.url);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let stranger = seal::DeskSigningKey::generate();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = |key: &seal::DeskSigningKey, nonce: &str, ts: i64| {
        let req = seal::SignedRequest {
            desk_id: &desk.desk_id,
            method: "GET",
            path_and_query: "/api/desk/v1/records",
            timestamp: ts,
            nonce,
            body: b"",
        };
        http.get(&url)
            .header("x-madoguchi-desk", &desk.desk_id)
            .header("x-madoguchi-timestamp", ts.to_string())
            .header("x-madoguchi-nonce", nonce)
            .header("x-madoguchi-signature", key.sign_request(&req))
    };
    assert_eq!(signed(&stranger, "0123456789abcdef0001", ts).send().await.unwrap().status(), 401);
    let own = keys.signing_key();
    assert_eq!(signed(own, "0123456789abcdef0002", ts).send().await.unwrap().status(), 200);
    assert_eq!(signed(own, "0123456789abcdef0002", ts).send().await.unwrap().status(), 401, "replay");
    assert_eq!(signed(own, "0123456789abcdef0003", ts - 3600).send().await.unwrap().status(), 401, "stale");
    counter.store().await.set_desk_suspended(&desk.desk_id, true).await.unwrap();
    assert_eq!(signed(own, "0123456789abcdef0004", ts).send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_killed_during_a_sync_of_10000_records_ends_with_each_exactly_once() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "kawabe-village");
    let public = desk.unlock().current_public_key();
    // Seal 10,000 records straight into the counter's store.
    let store = counter.store().await;
    testkit::seal_into_store(&store, "kawabe-village", &public, 10_000, 8, |i| {
        format!("{{\"form_id\":\"water-start\",\"values\":{{\"n\":{i}}}}}").into_bytes()
    })
    .await;

    // kill -9 the desk mid-sync, then run it again.
    // (The store is created first, so the two processes do not race to
    // create its schema.)
    let desk_store = desk.store().await;
    let mut first = desk.command(&["desk", "sync"]).spawn().unwrap();
    let mut at_kill = 0;
    for _ in 0..1500 {
        at_kill = desk_store.count_records().await.unwrap();
        if at_kill >= 2000 {
            break;
        }
        assert!(first.try_wait().unwrap().is_none(), "the first sync ended by itself with {at_kill} stored");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    let _ = first.wait();
    assert!((2000..10_000).contains(&at_kill), "the kill came mid-sync ({at_kill} stored)");
    let printed = desk.sync();
    assert!(printed.contains("10000 records on this desk"), "{printed}");
    let receipts = desk_store.receipts().await.unwrap();
    assert_eq!(receipts.len(), 10_000);
    let year = receipts[0].year;
    assert!(
        receipts.iter().enumerate().all(|(i, r)| *r == ReceiptNumber { year, seq: i as i64 + 1 }),
        "each once, none skipped"
    );
    let keys = desk.unlock();
    let (_, payload) = desk_store.read_record(&keys, receipts[9_999], "auditor").await.unwrap().unwrap();
    assert!(payload.to_string().contains("\"n\""));
}

/// A TOTP code for `secret` (base32) at unix time `at`. Tests take one
/// `now_secs()` and derive every code from it, so a 30-second step boundary
/// passing mid-test cannot turn "the same code again" into a fresh one.
pub fn totp_code(secret_base32: &str, at: u64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_owned()).to_bytes().unwrap();
    let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret, None, String::new());
    totp.generate(at)
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A staff member's browser-less session on the desk.
pub(crate) struct StaffSession {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookie: String,
    pub(crate) password: String,
    pub(crate) totp_secret: String,
    /// When enrolment began: its code was this step's, sign-in the next.
    pub(crate) t0: u64,
}

impl StaffSession {
    /// A session from a cookie alone (no sign-in details).
    pub(crate) fn bare(http: reqwest::Client, base: String, cookie: String) -> StaffSession {
        let (password, totp_secret) = (String::new(), String::new());
        StaffSession { http, base, cookie, password, totp_secret, t0: 0 }
    }

    pub(crate) async fn get(&self, path: &str) -> (reqwest::StatusCode, String) {
        let r = self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    pub(crate) async fn get_bytes(&self, path: &str) -> (reqwest::StatusCode, Vec<u8>) {
        let r = self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
        let status = r.status();
        (status, r.bytes().await.unwrap().to_vec())
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> (reqwest::StatusCode, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    /// The CSRF token of a page the session can see.
    pub(crate) async fn csrf(&self) -> String {
        let (_, page) = self.get("/").await;
        crate::hidden_input(&page, "_csrf").expect("csrf token on the inbox")
    }
}

/// Enrols `login` (a processor) through the desk's pages and signs in.
pub(crate) async fn enrol_and_sign_in(desk: &TestDesk, server: &DeskServer, login: &str) -> StaffSession {
    enrol_and_sign_in_as(desk, server, login, "processor").await
}

pub(crate) async fn enrol_and_sign_in_as(
    desk: &TestDesk,
    server: &DeskServer,
    login: &str,
    role: &str,
) -> StaffSession {
    let code = desk.add_staff_as(login, "田中 一郎", role);
    let mut browser = crate::admin::Browser::at(&server.url, None);
    let password = "midori-sakura-2026!";
    let page = browser
        .submit(
            "/enrol",
            "/enrol",
            &[("login", login), ("code", &code), ("password", password), ("password2", password)],
        )
        .await
        .body;
    let secret = element_text(&page, "totp-secret").unwrap_or_else(|| panic!("no TOTP secret:\n{page}"));
    let t0 = now_secs();
    let csrf = crate::hidden_input(&page, "_csrf").unwrap();
    let done = browser
        .post(
            "/enrol/confirm",
            &[("_csrf", &csrf), ("login", login), ("code", &code), ("totp", &totp_code(&secret, t0))],
        )
        .await;
    assert_eq!(done.status, 200);
    // The enrolment used this 30-second step's code: a replay is refused,
    // the next step's code is accepted.
    let replay = browser
        .submit("/login", "/login", &[("login", login), ("password", password), ("totp", &totp_code(&secret, t0))])
        .await;
    assert_eq!(replay.status, 401, "a TOTP code is good once");
    let signed_in = browser
        .submit("/login", "/login", &[("login", login), ("password", password), ("totp", &totp_code(&secret, t0 + 30))])
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let set_cookie = signed_in.set_cookie.iter().find(|c| c.starts_with("madoguchi_desk=")).unwrap().clone();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    StaffSession { http, base: server.url.clone(), cookie, password: password.to_owned(), totp_secret: secret, t0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_work_a_record_on_the_desk_and_the_resident_sees_the_result() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "sakura-town");
    let sent =
        apply(&counter, "sakura-town", "water-start", &water_start_answers(&[("notes", "北側の蛇口です")])).await;
    let server = desk.serve().await;

    // Nothing without signing in.
    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = anonymous.get(format!("{}/records/{}", server.url, sent.receipt_number)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/login"));

    let staff = enrol_and_sign_in(&desk, &server, "tanaka").await;
    let csrf = staff.csrf().await;
    staff.post("/sync", &[("_csrf", &csrf)]).await;
    let (_, inbox) = staff.get("/").await;
    assert!(inbox.contains(&sent.receipt_number), "{inbox}");
    assert!(!inbox.contains("山田"), "the inbox shows no personal data");
    assert!(!inbox.to_lowercase().contains("value=\"none\""), "empty filters are empty");

    let record_path = format!("/records/{}", sent.receipt_number);
    let (status, detail) = staff.get(&record_path).await;
    assert_eq!(status, 200);
    assert!(detail.contains("山田 太郎") && detail.contains("北側の蛇口です"), "{detail}");

    // A POST without the session's CSRF token is refused.
    let (status, _) = staff.post(&format!("{record_path}/status"), &[("status", "in_review")]).await;
    assert_eq!(status, 403);
    // 差戻し straight from 受付 is not a step of the workflow; nor without a message.
    let (status, _) = staff.post(&format!("{record_path}/status"), &[("_csrf", &csrf), ("status", "returned")]).await;
    assert_eq!(status, 422);
    staff.post(&format!("{record_path}/status"), &[("_csrf", &csrf), ("status", "in_review")]).await;
    let (status, _) = staff.post(&format!("{record_path}/status"), &[("_csrf", &csrf), ("status", "returned")]).await;
    assert_eq!(status, 422, "a return needs a message");
    let message = "印鑑の押印がありません。押印した書類を窓口へお持ちください。";
    let (status, _) = staff
        .post(&format!("{record_path}/status"), &[("_csrf", &csrf), ("status", "returned"), ("message", message)])
        .await;
    assert_eq!(status, 303);
    staff.post(&format!("{record_path}/comment"), &[("_csrf", &csrf), ("body", "電話で連絡済み")]).await;
    staff.post(&format!("{record_path}/assign"), &[("_csrf", &csrf), ("login", "tanaka")]).await;
    let (_, detail) = staff.get(&record_path).await;
    assert!(detail.contains("電話で連絡済み") && detail.contains(message) && detail.contains("差戻し"));
    let (_, mine) = staff.get("/?mine=1").await;
    assert!(mine.contains(&sent.receipt_number));
    let (_, completed) = staff.get("/?status=completed").await;
    assert!(!completed.contains(&sent.receipt_number));

    // The resident sees 差戻し and the message; the counter could not read it.
    let (status, page) = post_form(
        &counter.client(),
        &format!("{}/t/sakura-town/status", counter.url),
        &[("inquiry_number".into(), sent.inquiry_number.clone()), ("secret".into(), sent.inquiry_secret.clone())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(element_text(&page, "status-value").as_deref(), Some("差戻し"));
    assert_eq!(element_text(&page, "staff-message").as_deref(), Some(message));

    // Exports: UTF-8 with BOM, and Shift_JIS for Excel; both logged.
    let (status, utf8) = staff.get_bytes("/export?form=water-start&encoding=utf8").await;
    assert_eq!(status, 200);
    assert!(utf8.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(utf8).unwrap();
    assert!(text.contains(&sent.receipt_number) && text.contains("山田 太郎") && text.contains("差戻し"), "{text}");
    let (_, sjis) = staff.get_bytes("/export?form=water-start&encoding=sjis").await;
    let (decoded, _, had_errors) = encoding_rs::SHIFT_JIS.decode(&sjis);
    assert!(!had_errors && decoded.contains("山田 太郎"));

    let log = desk.store().await.access_log().await.unwrap();
    let actions: Vec<&str> =
        log.iter().filter(|(actor, _, _)| actor == "tanaka").map(|(_, action, _)| action.as_str()).collect();
    for expected in ["enrolled", "login", "view", "status", "comment", "assign", "export"] {
        assert!(actions.contains(&expected), "{expected} not logged: {actions:?}");
    }

    // Each of those also went to the counter's tamper-evident ledger, with
    // who did it, on the next sync.
    let csrf = staff.csrf().await;
    staff.post("/sync", &[("_csrf", &csrf)]).await;
    let leaves = counter.store().await.ledger_entries(0, 10_000).await.unwrap();
    let by_tanaka: Vec<_> = leaves.iter().filter(|l| l.event.actor == "staff:tanaka").collect();
    for kind in [
        ledger::EventKind::RecordView,
        ledger::EventKind::Export,
        ledger::EventKind::Login,
        ledger::EventKind::AdminAction,
    ] {
        assert!(by_tanaka.iter().any(|l| l.event.kind == kind), "{kind:?} of tanaka not in the ledger");
    }
    let view = by_tanaka.iter().find(|l| l.event.kind == ledger::EventKind::RecordView).unwrap();
    assert_eq!(view.event.subject.as_deref(), Some(sent.receipt_number.as_str()));
    assert_eq!(view.event.tenant.as_deref(), Some("sakura-town"));
    let entered = by_tanaka.len();
    staff.post("/sync", &[("_csrf", &csrf)]).await;
    let again = counter.store().await.ledger_entries(0, 10_000).await.unwrap();
    assert_eq!(again.iter().filter(|l| l.event.actor == "staff:tanaka").count(), entered, "each event is entered once");
}

#[test]
fn a_lost_passphrase_is_recovered_from_the_escrow_copy_with_the_recovery_secret() {
    let desk = TestDesk::empty(madoguchi(), "x");
    let escrow = tempfile::tempdir().unwrap();
    let printed =
        desk.run(&["keys", "init", "--tenant", "kawabe-village", "--escrow-dir", escrow.path().to_str().unwrap()]);
    let secret = printed.lines().skip_while(|l| !l.contains("RECOVERY SECRET")).nth(1).unwrap().trim().to_owned();
    let fingerprint = printed.lines().find_map(|l| l.trim().strip_prefix("fingerprint:")).unwrap().trim().to_owned();
    let escrow_file = files_with_extension(escrow.path(), ".recovery.key").pop().unwrap();

    // The passphrase is forgotten; a wrong recovery secret does not help.
    let new_passphrase = "a brand new passphrase 2027";
    let attempt = |recovery: &str| {
        desk.command(&["keys", "recover", "--escrow", escrow_file.to_str().unwrap()])
            .env("MADOGUCHI_RECOVERY_SECRET", recovery)
            .env("MADOGUCHI_PASSPHRASE", new_passphrase)
            .output()
            .unwrap()
    };
    assert!(!attempt("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG").status.success());
    // Typed in lower case without hyphens, as people do.
    let typed = secret.to_lowercase().replace('-', "");
    let out = attempt(&typed);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let locked = desk::KeyRing::locked_keys(&desk.path().join("keys")).unwrap();
    assert_eq!(locked.len(), 1);
    let text = std::fs::read_to_string(&locked[0].path).unwrap();
    assert!(seal::unwrap_secret(&text, PASSPHRASE).is_err(), "the lost passphrase no longer opens it");
    let (_, info) = seal::unwrap_secret(&text, new_passphrase).unwrap();
    assert_eq!(info.key_id, fingerprint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_key_rotation_new_records_use_the_new_key_and_old_ones_still_open() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "sakura-town");
    let before = apply(&counter, "sakura-town", "water-start", &water_start_answers(&[("notes", "旧鍵")])).await;
    let export = tempfile::tempdir().unwrap();
    let printed = desk.run(&["keys", "rotate", "--export-dir", export.path().to_str().unwrap()]);
    let new_fingerprint =
        printed.lines().find_map(|l| l.trim().strip_prefix("fingerprint:")).unwrap().trim().to_owned();
    let out = Command::new(madoguchi())
        .args(["keys", "import"])
        .args(files_with_extension(export.path(), ".public-key"))
        .arg("--data-dir")
        .arg(counter.data_dir())
        .args(["--database", &counter.database.url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = apply(&counter, "sakura-town", "water-start", &water_start_answers(&[("notes", "新鍵")])).await;
    assert!(desk.sync().contains("synced: 2 new records"));
    let store = counter.store().await;
    let old_record = store
        .sealed_record("sakura-town", ReceiptNumber::parse(&before.receipt_number).unwrap())
        .await
        .unwrap()
        .unwrap();
    let new_record = store
        .sealed_record("sakura-town", ReceiptNumber::parse(&after.receipt_number).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(old_record.key_id, new_record.key_id);
    assert_eq!(new_record.key_id.as_str(), new_fingerprint);
    let keys = desk.unlock();
    let desk_store = desk.store().await;
    for (sent, note) in [(&before, "旧鍵"), (&after, "新鍵")] {
        let receipt = ReceiptNumber::parse(&sent.receipt_number).unwrap();
        let (_, payload) = desk_store.read_record(&keys, receipt, "auditor").await.unwrap().unwrap();
        assert!(payload.to_string().contains(note));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_100000_records_streams_in_bounded_memory() {
    const RECORDS: i64 = 100_000;
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "aoba-city");
    let store = desk.store().await;
    desk.fill_store("water-start", 0, 2026, RECORDS).await;
    // A small form too, exported first, so the desk's caches and buffers
    // have grown to their working size before the big export is measured.
    desk.fill_store("staff-exam", 2, 2027, 500).await;

    // A municipality that exports this much on purpose raises its limits.
    desk.set_watch_limits("burst_records = 1000000\ndaily_floor = 1000000\nweekly_floor = 1000000");
    let server = desk.serve().await;
    let staff = enrol_and_sign_in(&desk, &server, "kato").await;
    let (status, _) = staff.get_bytes("/export?form=staff-exam&encoding=sjis").await;
    assert_eq!(status, 200);
    let before = server.peak_memory_kib();
    let started = std::time::Instant::now();
    let response = staff
        .http
        .get(format!("{}/export?form=water-start&encoding=sjis", server.url))
        .header("cookie", &staff.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=Shift_JIS");
    assert!(response.headers().get("content-length").is_none(), "sent as it is made, not sized up front");
    // Read it as a stream, counting lines, never holding it whole.
    let (mut lines, mut bytes, mut first_row, mut first_byte_at) = (0u64, 0u64, Vec::new(), None);
    let mut body = response.bytes_stream();
    use futures::StreamExt as _;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        first_byte_at.get_or_insert_with(|| started.elapsed());
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        if first_row.len() < 2000 {
            first_row.extend_from_slice(&chunk[..chunk.len().min(2000)]);
        }
    }
    let total = started.elapsed();
    assert_eq!(lines, RECORDS as u64 + 1, "a header and one line per record");
    let (head, _, _) = encoding_rs::SHIFT_JIS.decode(&first_row);
    assert!(head.contains("到達番号") && head.contains("山田 太郎") && head.contains("2026-000001"), "{head}");
    // Streamed: the first rows arrive long before the last are made (a
    // buffered export would send nothing until all 100,000 were ready).
    let first_byte_at = first_byte_at.unwrap_or(total);
    assert!(first_byte_at * 4 < total, "first byte after {first_byte_at:?} of {total:?}");
    // And memory stays near the desk's working size (measured on a quiet
    // machine: +17 MB for 100,000 records, +14 MB for 20,000; peaks are
    // noisier under load), far below the export plus the records behind it.
    let grown_kib = server.peak_memory_kib().saturating_sub(before);
    assert!(grown_kib < 64 * 1024, "the export grew the desk by {grown_kib} KiB for {bytes} bytes of CSV");
    let log = store.access_log().await.unwrap();
    assert!(log.iter().any(|(actor, action, _)| actor == "kato" && action == "export"));
    eprintln!(
        "exported {RECORDS} records, {bytes} bytes in {total:?} (first byte after {first_byte_at:?}); desk peak memory grew {grown_kib} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_twenty_addresses_slow_then_lock_the_account_until_a_tenant_admin_lifts_it() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "kawabe-village");
    // Waits in units of 50 ms rather than seconds, so the test waits them out.
    let server = desk.serve_with(&["--sign-in-delay-unit-ms", "50"]).await;
    let staff = enrol_and_sign_in(&desk, &server, "ito").await;
    drop(staff);
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    // A thief with the right code but guessing passwords, one try from each
    // of twenty addresses (127.0.0.2 … 127.0.0.21), waiting out each delay.
    let attempt = |last_octet: u8, password: &'static str| {
        let url = format!("http://127.0.0.1:{port}");
        async move {
            let mut thief = crate::admin::Browser::at(&url, Some(std::net::IpAddr::from([127, 0, 0, last_octet])));
            let page =
                thief.submit("/login", "/login", &[("login", "ito"), ("password", password), ("totp", "000000")]).await;
            (page.status, page.body)
        }
    };
    let mut waits = 0;
    for octet in 2..=21 {
        let (status, page) = attempt(octet, "guess-guess-guess").await;
        assert_eq!(status, 401);
        if let Some(rest) = page.split("待ち時間（秒）：").nth(1) {
            waits += 1;
            let secs: u64 = rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(secs * 1000 + 50)).await;
        }
    }
    assert_eq!(waits, identity::LOCK_AFTER_FAILURES - 3, "a growing wait from the third failure until the lock");
    let store = desk.store().await;
    let log = store.access_log().await.unwrap();
    let since_sign_in = log.iter().rposition(|(a, action, _)| a == "ito" && action == "login").unwrap() + 1;
    let after: Vec<&str> =
        log[since_sign_in..].iter().filter(|(a, _, _)| a == "ito").map(|(_, act, _)| act.as_str()).collect();
    let failed = after.iter().filter(|a| **a == "login-failed").count() as i64;
    assert_eq!(failed, identity::LOCK_AFTER_FAILURES, "ten guesses in all: {after:?}");
    assert_eq!(
        after.iter().filter(|a| **a == "login-refused").count() as i64,
        20 - identity::LOCK_AFTER_FAILURES,
        "the rest never reached the password"
    );
    // Locked: even the right password and a fresh code are refused now.
    let keys = desk.unlock();
    let refused = store.login(&keys, "ito", "midori-sakura-2026!", "123456", 50).await.unwrap();
    assert_eq!(refused.unwrap_err(), desk::staff::LoginRefused::Locked);

    // The tenant admin sees the lock on the staff page and lifts it.
    let admin = enrol_and_sign_in_as(&desk, &server, "kawabe.admin", "tenant-admin").await;
    let (_, page) = admin.get("/staff").await;
    assert!(page.contains("ロック中"), "{page}");
    let csrf = crate::hidden_input(&page, "_csrf").unwrap();
    let (status, _) = admin.post("/staff/ito/unlock", &[("_csrf", &csrf)]).await;
    assert_eq!(status, 303);
    let refused = store.login(&keys, "ito", "midori-sakura-2026!", "123456", 50).await.unwrap();
    assert_eq!(refused.unwrap_err(), desk::staff::LoginRefused::WrongCredentials, "no longer locked");
    assert!(store.access_log().await.unwrap().contains(&("kawabe.admin".into(), "unlock".into(), None)));
    // A lock can also be lifted from the command line (for a locked-out admin).
    let out = desk.command(&["desk", "unlock-staff", "--login", "ito", "--by", "admin1"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_see_where_they_are_signed_in_and_can_sign_out_everywhere() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "aoba-city");
    let server = desk.serve().await;
    let staff = enrol_and_sign_in(&desk, &server, "ogawa").await;
    // The same account signed in on another machine.
    let store = desk.store().await;
    let (other, _) = store.create_session("ogawa").await.unwrap();
    let (status, page) = staff.get("/sessions").await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("class=\"session\"").count(), 2, "{page}");
    assert!(page.contains("この端末"));
    let csrf = staff.csrf().await;
    let (status, _) = staff.post("/sessions/end-all", &[("_csrf", &csrf)]).await;
    assert_eq!(status, 303);
    // Both are gone: this browser and the other machine.
    let (status, _) = staff.get("/").await;
    assert_eq!(status, 303, "signed out here");
    assert!(store.session(&other, 3600, 86_400).await.unwrap().is_none(), "and there");
    assert!(store.sessions_of("ogawa").await.unwrap().is_empty());
    // The counter's ledger hears of it on the next sync.
    assert!(desk.sync().contains("synced"));
    let leaves = counter.store().await.ledger_entries(0, 10_000).await.unwrap();
    assert!(leaves.iter().any(|l| l.event.actor == "staff:ogawa" && l.event.detail.starts_with("sign-out-everywhere")));
}

/// The desk's route × role table, written out by hand: who gets past the
/// guard on each route. The desk is one tenant's; the operator has no
/// account on it.
const DESK_EXPECTED: &[(&str, &str, &str)] = &[
    ("GET", "/", "tenant-admin processor"),
    ("GET", "/login", "anonymous tenant-admin form-admin processor auditor"),
    ("POST", "/login", "anonymous tenant-admin form-admin processor auditor"),
    ("GET", "/enrol", "anonymous tenant-admin form-admin processor auditor"),
    ("POST", "/enrol", "anonymous tenant-admin form-admin processor auditor"),
    ("POST", "/enrol/confirm", "anonymous tenant-admin form-admin processor auditor"),
    ("GET", "/lang/{to}", "anonymous tenant-admin form-admin processor auditor"),
    ("GET", "/assets/style.css", "anonymous tenant-admin form-admin processor auditor"),
    ("GET", "/assets/desk.css", "anonymous tenant-admin form-admin processor auditor"),
    ("GET", "/sessions", "tenant-admin form-admin processor auditor"),
    ("GET", "/records/{receipt}", "tenant-admin processor"),
    ("GET", "/records/{receipt}/files/{file}", "tenant-admin processor"),
    ("POST", "/records/{receipt}/status", "tenant-admin processor"),
    ("POST", "/records/{receipt}/comment", "tenant-admin processor"),
    ("POST", "/records/{receipt}/assign", "tenant-admin processor"),
    ("GET", "/export", "tenant-admin processor"),
    ("GET", "/forms/{form}/results", "tenant-admin processor"),
    ("GET", "/forms/{form}/results.csv", "tenant-admin processor"),
    ("GET", "/forms/{form}/results/{field}/answers", "tenant-admin processor"),
    ("GET", "/forms/{form}/schedule", "tenant-admin form-admin"),
    ("POST", "/forms/{form}/schedule", "tenant-admin form-admin"),
    ("POST", "/sync", "tenant-admin processor"),
    ("GET", "/staff", "tenant-admin"),
    ("POST", "/staff", "tenant-admin"),
    ("POST", "/staff/{login}/unlock", "tenant-admin"),
    ("POST", "/staff/{login}/unfreeze", "tenant-admin"),
    // Last, as they end sessions.
    ("POST", "/sessions/end-all", "tenant-admin form-admin processor auditor"),
    ("POST", "/logout", "tenant-admin form-admin processor auditor"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_desk_route_answers_every_role_as_the_table_says() {
    let counter = start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "aoba-city");
    let server = desk.serve().await;
    let store = desk.store().await;
    let roles = ["tenant-admin", "form-admin", "processor", "auditor"];
    for role in roles {
        store.add_staff(&format!("desk.{role}"), role, identity::Role::parse(role).unwrap()).await.unwrap();
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // Sessions straight from the store: sign-in is not what this tests.
    let session_of = |role: &str| {
        let (store, http, base, role) = (&store, http.clone(), server.url.clone(), role.to_owned());
        async move {
            let (id, _) = store.create_session(&format!("desk.{role}")).await.unwrap();
            StaffSession::bare(http, base, format!("madoguchi_desk={id}"))
        }
    };
    let mut sessions = BTreeMap::new();
    for role in roles {
        sessions.insert(role, session_of(role).await);
    }
    // The anonymous visitor holds the pre-sign-in CSRF cookie of the login page.
    let login_page = http.get(format!("{}/login", server.url)).send().await.unwrap();
    let pre = login_page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    sessions.insert("anonymous", StaffSession::bare(http.clone(), server.url.clone(), pre));

    let mut listed: Vec<(&str, &str)> = desk::web::ROUTES.iter().map(|(m, p, _)| (*m, *p)).collect();
    let mut expected: Vec<(&str, &str)> = DESK_EXPECTED.iter().map(|(m, p, _)| (*m, *p)).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "the table covers exactly the desk's routes");

    let mut mismatches = Vec::new();
    for (method, route, allowed) in DESK_EXPECTED {
        let path = route
            .replace("{receipt}", "2026-000001")
            .replace("{login}", "desk.auditor")
            .replace("{to}", "en")
            .replace("{form}", "citizen-survey")
            .replace("{field}", "comments")
            .replace("{file}", "00112233445566778899aabbccddeeff");
        for principal in ["anonymous", "tenant-admin", "form-admin", "processor", "auditor"] {
            if *route == "/logout" && principal != "anonymous" {
                sessions.insert(principal, session_of(principal).await);
            }
            let session = &sessions[principal];
            let mut request = if *method == "GET" {
                session.http.get(format!("{}{path}", session.base))
            } else {
                let (_, page) = session.get(if principal == "anonymous" { "/login" } else { "/sessions" }).await;
                let csrf = crate::hidden_input(&page, "_csrf").unwrap_or_default();
                session.http.post(format!("{}{path}", session.base)).form(&[("_csrf", csrf)])
            };
            if !session.cookie.is_empty() {
                request = request.header("cookie", &session.cookie);
            }
            let response = request.send().await.unwrap();
            let denied = response.headers().get("x-access").is_some();
            let expected = allowed.split(' ').any(|p| p == principal);
            if denied == expected {
                mismatches.push(format!("{method} {path} as {principal}: {}", response.status()));
            }
        }
    }
    assert!(mismatches.is_empty(), "desk route × role table differs:\n{}", mismatches.join("\n"));

    // Before sign-in too, a form without its token is refused.
    let bare = http.post(format!("{}/login", server.url)).form(&[("login", "desk.processor")]).send().await.unwrap();
    assert_eq!(bare.status(), 403);
}
