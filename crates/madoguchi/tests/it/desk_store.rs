//! The desk's storage contract: the same behaviour on SQLite and on
//! PostgreSQL.

use desk::work::RecordFilter;
use desk::{DeskStore, KeyRing, StoredRecord};
use seal::KdfParams;
use store::{ReceiptNumber, SubmissionStatus};
use testkit::{Engine, TestDatabase};

use crate::on_both_engines;

const PASSPHRASE: &str = "desk store contract passphrase";

struct Fixture {
    store: DeskStore,
    keys: KeyRing,
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

async fn fixture(engine: Engine) -> Fixture {
    let db = TestDatabase::new(engine).await;
    let store = DeskStore::open(&db.url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    desk::ceremony::create_tenant_key(&keys_dir, dir.path(), "aoba-city", PASSPHRASE, KdfParams::FOR_TESTS, None)
        .unwrap();
    desk::ceremony::create_desk_key(&keys_dir, dir.path(), "aoba-city", "d1", PASSPHRASE, KdfParams::FOR_TESTS)
        .unwrap();
    let keys = KeyRing::unlock(&keys_dir, PASSPHRASE).unwrap();
    Fixture { store, keys, _db: db, _dir: dir }
}

fn receipt(seq: i64) -> ReceiptNumber {
    ReceiptNumber { year: 2026, seq }
}

/// A stored record as sync would make it (payload encrypted at rest).
fn record(f: &Fixture, seq: i64, form: &str) -> StoredRecord {
    let resident = seal::ResidentKeys::derive("ABCDEFGHJKLM", &format!("0000-0000-{seq:04}"));
    desk::testing::stored_record(
        &f.keys,
        receipt(seq),
        form,
        1_764_000_000 + seq,
        br#"{"form_id":"x","values":{}}"#,
        &resident.message_key(),
    )
}

on_both_engines!(
    a_frozen_account_loses_its_sessions_and_signs_in_again_only_after_a_logged_review,
    pages_are_stored_once_and_the_cursor_moves_with_them,
    the_workflow_keeps_history_and_queues_pushes,
    the_inbox_filters_by_form_status_date_and_assignee,
    staff_sign_in_needs_password_and_a_fresh_totp_code_and_locks_after_failures,
);

async fn pages_are_stored_once_and_the_cursor_moves_with_them(engine: Engine) {
    let f = fixture(engine).await;
    assert_eq!(f.store.cursor("aoba-city").await.unwrap(), ReceiptNumber::START);
    let page: Vec<_> = (1..=3).map(|i| record(&f, i, "water-start")).collect();
    assert_eq!(f.store.store_page("aoba-city", &page, receipt(3)).await.unwrap(), 3);
    assert_eq!(f.store.store_page("aoba-city", &page, receipt(3)).await.unwrap(), 0, "idempotent");
    assert_eq!(f.store.cursor("aoba-city").await.unwrap(), receipt(3));
    assert_eq!(f.store.receipts().await.unwrap(), vec![receipt(1), receipt(2), receipt(3)]);
    let (stored, payload) = f.store.read_record(&f.keys, receipt(2), "sato").await.unwrap().unwrap();
    assert_eq!((stored.receipt, payload["form_id"].as_str()), (receipt(2), Some("x")));
    assert!(f.store.access_log().await.unwrap().contains(&("sato".into(), "view".into(), Some(receipt(2)))));
    let numbers = |records: Vec<desk::StoredRecord>| records.iter().map(|r| r.receipt).collect::<Vec<_>>();
    assert_eq!(f.store.export_extent("water-start").await.unwrap(), (3, receipt(3)));
    let exported = f.store.export_page("water-start", receipt(1), receipt(3), 10).await.unwrap();
    assert_eq!(numbers(exported), vec![receipt(2), receipt(3)]);
    let bounded = f.store.export_page("water-start", ReceiptNumber::START, receipt(2), 10).await.unwrap();
    assert_eq!(numbers(bounded), vec![receipt(1), receipt(2)], "an export ends where it was counted");

    // A planted synthetic applicant is in no list, count or export.
    f.store.add_honeytoken(receipt(2)).await.unwrap();
    assert!(f.store.is_honeytoken(receipt(2)).await.unwrap() && !f.store.is_honeytoken(receipt(3)).await.unwrap());
    assert_eq!(f.store.export_extent("water-start").await.unwrap(), (2, receipt(3)));
    let exported = f.store.export_page("water-start", ReceiptNumber::START, receipt(3), 10).await.unwrap();
    assert_eq!(numbers(exported), vec![receipt(1), receipt(3)]);
    let listed = f.store.list_records(&desk::work::RecordFilter::default(), 10, 0).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.receipt).collect::<Vec<_>>(), vec![receipt(3), receipt(1)]);
    assert_eq!(f.store.form_counts().await.unwrap(), vec![("water-start".to_owned(), 2)]);
}

async fn the_workflow_keeps_history_and_queues_pushes(engine: Engine) {
    let f = fixture(engine).await;
    f.store.store_page("aoba-city", &[record(&f, 1, "water-start")], receipt(1)).await.unwrap();
    assert!(f.store.pending_pushes(10).await.unwrap().is_empty());
    assert!(f.store.set_status(&f.keys, receipt(1), SubmissionStatus::Completed, None, "sato").await.is_err());
    f.store.set_status(&f.keys, receipt(1), SubmissionStatus::InReview, None, "sato").await.unwrap();
    assert!(f.store.set_status(&f.keys, receipt(1), SubmissionStatus::Returned, Some("  "), "sato").await.is_err());
    f.store
        .set_status(&f.keys, receipt(1), SubmissionStatus::Returned, Some("押印してください"), "sato")
        .await
        .unwrap();
    let history = f.store.history(&f.keys, receipt(1)).await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![SubmissionStatus::InReview, SubmissionStatus::Returned]
    );
    assert_eq!(history[1].message.as_deref(), Some("押印してください"));
    let pending = f.store.pending_pushes(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, SubmissionStatus::Returned);
    let message = pending[0].message.clone().expect("sealed for the resident");
    let resident = seal::ResidentKeys::derive("ABCDEFGHJKLM", "0000-0000-0001");
    assert_eq!(resident.open_message("aoba-city", "2026-000001", &message).unwrap(), "押印してください");
    f.store.mark_pushed(&pending).await.unwrap();
    assert!(f.store.pending_pushes(10).await.unwrap().is_empty());
    f.store.add_comment(&f.keys, receipt(1), "sato", "電話済み").await.unwrap();
    assert_eq!(f.store.comments(&f.keys, receipt(1)).await.unwrap()[0].body, "電話済み");
}

async fn the_inbox_filters_by_form_status_date_and_assignee(engine: Engine) {
    let f = fixture(engine).await;
    let page = vec![record(&f, 1, "water-start"), record(&f, 2, "staff-exam"), record(&f, 3, "water-start")];
    f.store.store_page("aoba-city", &page, receipt(3)).await.unwrap();
    f.store.set_status(&f.keys, receipt(3), SubmissionStatus::InReview, None, "sato").await.unwrap();
    f.store.assign(receipt(1), Some("sato"), "sato").await.unwrap();
    let seqs = |rows: Vec<desk::work::RecordSummary>| rows.iter().map(|r| r.receipt.seq).collect::<Vec<_>>();
    let all = RecordFilter::default();
    assert_eq!(seqs(f.store.list_records(&all, 10, 0).await.unwrap()), vec![3, 2, 1], "newest first");
    assert_eq!(seqs(f.store.list_records(&all, 2, 1).await.unwrap()), vec![2, 1]);
    let water = RecordFilter { form_id: Some("water-start".into()), ..Default::default() };
    assert_eq!(seqs(f.store.list_records(&water, 10, 0).await.unwrap()), vec![3, 1]);
    let in_review = RecordFilter { status: Some(SubmissionStatus::InReview), ..Default::default() };
    assert_eq!(seqs(f.store.list_records(&in_review, 10, 0).await.unwrap()), vec![3]);
    let window = RecordFilter { from: Some(1_764_000_002), until: Some(1_764_000_003), ..Default::default() };
    assert_eq!(seqs(f.store.list_records(&window, 10, 0).await.unwrap()), vec![2]);
    let mine = RecordFilter { assigned_to: Some("sato".into()), ..Default::default() };
    assert_eq!(seqs(f.store.list_records(&mine, 10, 0).await.unwrap()), vec![1]);
    assert_eq!(f.store.form_counts().await.unwrap(), vec![("staff-exam".into(), 1), ("water-start".into(), 2)]);
}

async fn staff_sign_in_needs_password_and_a_fresh_totp_code_and_locks_after_failures(engine: Engine) {
    let f = fixture(engine).await;
    assert!(
        f.store.add_staff("sato@city.example.jp", "佐藤", identity::Role::Processor).await.is_err(),
        "no e-mail addresses as login ids"
    );
    let code = f.store.add_staff("sato", "佐藤 次郎", identity::Role::Processor).await.unwrap();
    assert!(f.store.begin_enrolment(&f.keys, "sato", "wrong code", "long enough password").await.unwrap().is_none());
    let secret = f.store.begin_enrolment(&f.keys, "sato", &code, "long enough password").await.unwrap().unwrap();
    let totp = desk::staff::totp(&secret, "sato", "aoba-city").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(f.store.finish_enrolment(&f.keys, "sato", &code, &totp.generate(now)).await.unwrap());
    assert!(!f.store.finish_enrolment(&f.keys, "sato", &code, &totp.generate(now)).await.unwrap(), "code spent");
    // The enrolment used this step's code; the next step's is fresh.
    let replay = f.store.login(&f.keys, "sato", "long enough password", &totp.generate(now), 0).await.unwrap();
    assert!(replay.is_err());
    let ok = f.store.login(&f.keys, "sato", "long enough password", &totp.generate(now + 30), 0).await.unwrap();
    assert_eq!(ok.unwrap().display_name, "佐藤 次郎");
    let (session, csrf) = f.store.create_session("sato").await.unwrap();
    let (staff, same_csrf) = f.store.session(&session, 60, 3600).await.unwrap().unwrap();
    assert_eq!((staff.login.as_str(), same_csrf), ("sato", csrf));
    assert!(f.store.session(&session, -1, 3600).await.unwrap().is_none(), "idle sessions end");
    assert!(f.store.session(&session, 60, 3600).await.unwrap().is_none(), "and stay ended");
    // Wrong passwords lock the account, whatever the code (no waits here:
    // a delay unit of 0).
    for _ in 0..identity::LOCK_AFTER_FAILURES {
        let refused = f.store.login(&f.keys, "sato", "wrong password!!", &totp.generate(now + 60), 0).await.unwrap();
        assert!(refused.is_err());
    }
    let locked = f.store.login(&f.keys, "sato", "long enough password", &totp.generate(now + 60), 0).await.unwrap();
    assert_eq!(locked.unwrap_err(), desk::staff::LoginRefused::Locked);
}

async fn a_frozen_account_loses_its_sessions_and_signs_in_again_only_after_a_logged_review(engine: Engine) {
    let f = fixture(engine).await;
    let code = f.store.add_staff("sato", "佐藤 次郎", identity::Role::Processor).await.unwrap();
    let secret = f.store.begin_enrolment(&f.keys, "sato", &code, "long enough password").await.unwrap().unwrap();
    let totp = desk::staff::totp(&secret, "sato", "aoba-city").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(f.store.finish_enrolment(&f.keys, "sato", &code, &totp.generate(now)).await.unwrap());
    let (session, _) = f.store.create_session("sato").await.unwrap();

    f.store.freeze_staff("sato", "burst: 400 records in 600 s").await.unwrap();
    assert!(f.store.session(&session, 60, 3600).await.unwrap().is_none(), "its sessions end at once");
    let freeze = f.store.freeze_of("sato").await.unwrap().expect("frozen");
    assert_eq!(freeze.reason, "burst: 400 records in 600 s");
    assert!(f.store.staff("sato").await.unwrap().unwrap().frozen);
    // The right password and code tell the member plainly, and sign nothing in.
    let refused = f.store.login(&f.keys, "sato", "long enough password", &totp.generate(now + 30), 0).await.unwrap();
    assert_eq!(refused.unwrap_err(), desk::staff::LoginRefused::Frozen);

    assert!(f.store.unfreeze_staff("sato", "yamada", "the export was the annual report").await.unwrap());
    assert!(!f.store.unfreeze_staff("sato", "yamada", "again").await.unwrap(), "nothing left to lift");
    assert!(!f.store.staff("sato").await.unwrap().unwrap().frozen);
    let (session, _) = f.store.create_session("sato").await.unwrap();
    assert!(f.store.session(&session, 60, 3600).await.unwrap().is_some(), "sessions work again");
    let log = f.store.access_log().await.unwrap();
    for (actor, action) in [("sato", "frozen"), ("sato", "login-refused"), ("yamada", "unfrozen")] {
        assert!(log.iter().any(|(a, b, _)| a == actor && b == action), "{actor} {action} is logged");
    }
    // Each is also queued for the counter's ledger.
    let events = f.store.pending_events(100).await.unwrap();
    assert!(events.iter().any(|e| e.action == "frozen" && e.detail.contains("burst")));
    assert!(events.iter().any(|e| e.action == "unfrozen" && e.detail.contains("annual report")));
}
