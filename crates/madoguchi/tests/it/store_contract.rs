//! The storage contract: the same behaviour on SQLite and on PostgreSQL.

use std::sync::Arc;

use seal::RecordBinding;
use store::Intake;
use testkit::{Engine, TestDatabase};

use crate::on_both_engines;

on_both_engines!(
    publishing_a_changed_form_makes_a_new_version_and_keeps_the_old,
    municipalities_adopt_their_prefectures_templates,
    a_prefecture_lists_the_latest_version_of_each_of_its_templates,
    receipt_numbers_are_gap_free_under_concurrent_submissions,
    the_same_draft_is_accepted_once,
    status_lookup_needs_the_right_secret,
    tenant_keys_are_public_and_the_newest_seals,
    the_vault_refuses_corrupt_objects,
    concurrent_submissions_share_commits_and_vault_segments,
    while_the_vault_refuses_writes_nothing_is_acknowledged_and_no_number_is_lost,
    alerts_go_on_once_from_one_node_at_a_time,
    status_mails_to_one_resident_are_capped_per_day,
    a_slot_is_never_given_past_its_capacity_and_a_cancellation_gives_a_place_back,
    a_node_on_the_previous_release_starts_on_a_schema_a_newer_node_grew,
    a_verified_respondent_answers_a_form_once_even_sending_several_at_once,
);

/// Verified surveys: one answer per respondent (keyed pseudonym) and form,
/// decided under the tenant's number lock, so answers sent at once from
/// several tabs or nodes cannot both get in.
async fn a_verified_respondent_answers_a_form_once_even_sending_several_at_once(engine: Engine) {
    let f = Arc::new(fixture(engine).await);
    let person = "a1".repeat(32);
    assert!(!f.store.has_answered("city-a", "water-start", &person).await.unwrap());
    let tries = (0..6).map(|i| {
        let f = Arc::clone(&f);
        let person = person.clone();
        tokio::spawn(async move {
            let draft = format!("respondent-draft-{i}");
            let intake = Intake { respondent: Some(&person), ..intake("city-a", &draft) };
            let public = f.keys.public.clone();
            f.store
                .accept(&intake, move |receipt| {
                    seal::seal(&public, &RecordBinding::new("city-a", "water-start", 1, &receipt.to_string()), b"{}")
                })
                .await
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(tries).await.into_iter().map(|t| t.unwrap()).collect();
    let accepted = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes.iter().filter(|o| matches!(o, Err(store::StoreError::AlreadyAnswered))).count();
    assert_eq!((accepted, refused), (1, 5), "{outcomes:?}");
    assert!(f.store.has_answered("city-a", "water-start", &person).await.unwrap());
    let year = outcomes.iter().find_map(|o| o.as_ref().ok()).unwrap().receipt.year;
    assert_eq!(f.store.count_submissions("city-a", year).await.unwrap(), 1, "no number was spent on a refusal");
    // Another person, and the same person in another municipality's survey.
    let other = "b2".repeat(32);
    let intake_other = Intake { respondent: Some(&other), ..intake("city-a", "respondent-other") };
    let public = f.keys.public.clone();
    f.store
        .accept(&intake_other, move |r| {
            seal::seal(&public, &RecordBinding::new("city-a", "water-start", 1, &r.to_string()), b"{}")
        })
        .await
        .unwrap();
    assert!(!f.store.has_answered("city-b", "water-start", &person).await.unwrap());
    // Sending the accepted draft again is the same receipt, not a refusal.
    let again = Intake { respondent: Some(&person), ..intake("city-a", "respondent-draft-0") };
    let public = f.keys.public.clone();
    let resent = f
        .store
        .accept(&again, move |r| {
            seal::seal(&public, &RecordBinding::new("city-a", "water-start", 1, &r.to_string()), b"{}")
        })
        .await;
    if let Ok(resent) = resent {
        assert!(resent.duplicate);
    } else {
        assert!(
            matches!(resent, Err(store::StoreError::AlreadyAnswered)),
            "draft 0 was refused, so it is refused again"
        );
    }
}

/// A rolling upgrade: the newer release migrated the shared database; a
/// node still on the previous release (which knows one migration less)
/// must start on it, since migrations only add.
async fn a_node_on_the_previous_release_starts_on_a_schema_a_newer_node_grew(engine: Engine) {
    let f = fixture(engine).await;
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&f.db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
         VALUES (99990101, 'from a newer release', CURRENT_TIMESTAMP, TRUE, $1, 0)",
    )
    .bind(vec![0u8; 48])
    .execute(&mut db)
    .await
    .unwrap();
    let again = f.db.store(f.vault.path()).await;
    assert_eq!(again.count_submissions("city-a", 2026).await.unwrap(), 0);
}

type Fixture = crate::TwoCities;

async fn fixture(engine: Engine) -> Fixture {
    crate::two_cities(engine).await
}

fn intake<'a>(tenant: &'a str, draft: &'a str) -> Intake<'a> {
    Intake {
        tenant,
        form_id: "water-start",
        form_version: 1,
        draft_id: draft,
        inquiry_secret: "SECRET42",
        notify_address: None,
        booking: None,
        attachments: &[],
        respondent: None,
    }
}

async fn accept(f: &Fixture, tenant: &str, draft: &str) -> store::Acceptance {
    let public = f.keys.public.clone();
    f.store
        .accept(&intake(tenant, draft), {
            let tenant = tenant.to_owned();
            move |receipt| {
                seal::seal(&public, &RecordBinding::new(&tenant, "water-start", 1, &receipt.to_string()), b"{}")
            }
        })
        .await
        .unwrap()
}

async fn publishing_a_changed_form_makes_a_new_version_and_keeps_the_old(engine: Engine) {
    let f = fixture(engine).await;
    let v1 = f.store.publish_form("city-a", "water-start", "id = \"water-start\" # v1", None).await.unwrap();
    assert_eq!((v1.version, v1.changed), (1, true));
    let same = f.store.publish_form("city-a", "water-start", "id = \"water-start\" # v1", None).await.unwrap();
    assert_eq!((same.version, same.changed), (1, false));
    let v2 = f.store.publish_form("city-a", "water-start", "id = \"water-start\" # v2", None).await.unwrap();
    assert_eq!((v2.version, v2.changed), (2, true));
    let current = f.store.current_form("city-a", "water-start").await.unwrap().unwrap();
    assert_eq!((current.version, current.definition.as_str()), (2, "id = \"water-start\" # v2"));
    let old = f.store.form_version("city-a", "water-start", 1).await.unwrap().unwrap();
    assert_eq!(old.definition, "id = \"water-start\" # v1");
    assert!(f.store.current_form("city-b", "water-start").await.unwrap().is_none());
    assert_eq!(f.store.tenant_forms("city-a").await.unwrap().len(), 1);
}

async fn municipalities_adopt_their_prefectures_templates(engine: Engine) {
    let f = fixture(engine).await;
    f.store.publish_template("pref", "survey", "template v1").await.unwrap();
    let a = f.store.adopt_template("city-a", "pref", "survey").await.unwrap();
    let b = f.store.adopt_template("city-b", "pref", "survey").await.unwrap();
    assert_eq!((a.version, b.version), (1, 1));
    // A municipality adjusts its own copy; the other keeps the template's.
    f.store.publish_form("city-a", "survey", "city-a's own wording", None).await.unwrap();
    assert_eq!(f.store.current_form("city-b", "survey").await.unwrap().unwrap().definition, "template v1");
    let own = f.store.current_form("city-a", "survey").await.unwrap().unwrap();
    assert_eq!((own.version, own.template), (2, None));
    // A new template version reaches a tenant when it adopts again.
    f.store.publish_template("pref", "survey", "template v2").await.unwrap();
    let again = f.store.adopt_template("city-b", "pref", "survey").await.unwrap();
    let copy = f.store.current_form("city-b", "survey").await.unwrap().unwrap();
    assert_eq!((again.version, copy.template), (2, Some(("pref".to_owned(), 2))));
    assert!(f.store.adopt_template("city-b", "pref", "missing").await.is_err());
}

async fn a_prefecture_lists_the_latest_version_of_each_of_its_templates(engine: Engine) {
    let f = fixture(engine).await;
    assert!(f.store.group_templates("pref").await.unwrap().is_empty());
    f.store.publish_template("pref", "survey", "survey v1").await.unwrap();
    f.store.publish_template("pref", "survey", "survey v2").await.unwrap();
    f.store.publish_template("pref", "dog-licence", "dog v1").await.unwrap();
    f.store
        .put_tenant_group(&store::NewTenantGroup {
            id: "other".into(),
            name_ja: "別の県".into(),
            name_en: "Other".into(),
        })
        .await
        .unwrap();
    f.store.publish_template("other", "elsewhere", "not ours").await.unwrap();
    let listed: Vec<(String, i64, String)> = f
        .store
        .group_templates("pref")
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            assert_eq!(t.group_id, "pref");
            (t.form_id, t.version, t.definition)
        })
        .collect();
    assert_eq!(
        listed,
        vec![("dog-licence".into(), 1, "dog v1".into()), ("survey".into(), 2, "survey v2".into())],
        "by form id, latest version only, this group only"
    );
}

async fn receipt_numbers_are_gap_free_under_concurrent_submissions(engine: Engine) {
    let f = Arc::new(fixture(engine).await);
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move { accept(&f, "city-a", &format!("draft-{i}")).await.receipt.seq })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=24).collect::<Vec<i64>>());
}

async fn the_same_draft_is_accepted_once(engine: Engine) {
    let f = Arc::new(fixture(engine).await);
    let (a, b) = tokio::join!(accept(&f, "city-a", "same"), accept(&f, "city-a", "same"));
    assert_eq!(a.receipt, b.receipt);
    assert_eq!(a.inquiry, b.inquiry);
    assert!(a.duplicate || b.duplicate);
    let next = accept(&f, "city-a", "other").await;
    assert_eq!(next.receipt.seq, 2, "no number was lost to the duplicate");
}

async fn status_lookup_needs_the_right_secret(engine: Engine) {
    let f = fixture(engine).await;
    let done = accept(&f, "city-a", "d").await;
    let view = f.store.lookup_status(&done.inquiry, "SECRET42").await.unwrap().expect("found");
    assert_eq!(
        (view.tenant_id.as_str(), view.receipt, view.status),
        ("city-a", done.receipt, store::SubmissionStatus::Received)
    );
    assert!(f.store.lookup_status(&done.inquiry, "SECRET43").await.unwrap().is_none());
    let unknown = store::InquiryNumber::parse("0000-0000-0000").unwrap();
    assert!(f.store.lookup_status(&unknown, "SECRET42").await.unwrap().is_none());
}

async fn tenant_keys_are_public_and_the_newest_seals(engine: Engine) {
    let f = fixture(engine).await;
    let current = f.store.current_tenant_key("city-a").await.unwrap().unwrap();
    assert_eq!(current.id(), f.keys.public.id());
    assert!(f.store.current_tenant_key("city-b").await.unwrap().is_none());
    // Registering the same key twice is harmless.
    f.store.add_tenant_key("city-a", &f.keys.public).await.unwrap();
    assert!(f.store.add_tenant_key("nowhere", &f.keys.public).await.is_err());
}

async fn the_vault_refuses_corrupt_objects(engine: Engine) {
    let db = TestDatabase::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let store = db.store(dir.path()).await;
    let hash = store.vault().put("records", b"sealed bytes").await.unwrap();
    assert_eq!(store.vault().put("records", b"sealed bytes").await.unwrap(), hash, "create-only, idempotent");
    assert_eq!(store.vault().get("records", &hash).await.unwrap().as_ref(), b"sealed bytes");
    let path = dir.path().join("records").join(&hash[..2]).join(&hash);
    std::fs::write(&path, b"tampered").unwrap();
    assert!(matches!(store.vault().get("records", &hash).await, Err(store::StoreError::Corrupt(_))));
}

async fn concurrent_submissions_share_commits_and_vault_segments(engine: Engine) {
    let f = Arc::new(fixture(engine).await);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move { accept(&f, "city-a", &format!("group-{i}")).await })
        })
        .collect();
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.push(task.await.unwrap());
    }
    let mut seqs: Vec<i64> = receipts.iter().map(|a| a.receipt.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=64).collect::<Vec<i64>>(), "gap-free");
    // Every acknowledged record is in the vault, byte for byte.
    for acceptance in &receipts {
        let in_db = f.store.sealed_record("city-a", acceptance.receipt).await.unwrap().unwrap();
        let in_vault = f.store.record_from_vault("city-a", acceptance.receipt).await.unwrap().unwrap();
        assert_eq!(in_db.to_bytes(), in_vault.to_bytes());
    }
    // …in fewer vault objects than submissions: they were committed together.
    let segments = walk(&f.vault.path().join("segments")).len();
    assert!((1..64).contains(&segments), "{segments} segments for 64 submissions");
    let ledger = f.store.ledger_entries(0, 1000).await.unwrap();
    assert_eq!(ledger.iter().filter(|e| e.event.kind == ledger::EventKind::Submission).count(), 64);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

async fn while_the_vault_refuses_writes_nothing_is_acknowledged_and_no_number_is_lost(engine: Engine) {
    let f = fixture(engine).await;
    let before = accept(&f, "city-a", "before").await.receipt;
    assert_eq!(before.seq, 1);
    // The vault's disk goes bad: where segments go is no longer a directory.
    let segments = f.vault.path().join("segments");
    let moved = f.vault.path().join("segments.saved");
    std::fs::rename(&segments, &moved).unwrap();
    std::fs::write(&segments, b"not a directory").unwrap();
    let public = f.keys.public.clone();
    let refused = f
        .store
        .accept(&intake("city-a", "during"), move |receipt| {
            seal::seal(&public, &RecordBinding::new("city-a", "water-start", 1, &receipt.to_string()), b"{}")
        })
        .await;
    assert!(matches!(refused, Err(store::StoreError::VaultUnavailable(_))), "{refused:?}");
    assert!(f
        .store
        .sealed_record("city-a", store::ReceiptNumber { year: before.year, seq: 2 })
        .await
        .unwrap()
        .is_none());
    // The vault comes back; the same draft is accepted with the next number.
    std::fs::remove_file(&segments).unwrap();
    std::fs::rename(&moved, &segments).unwrap();
    let done = accept(&f, "city-a", "during").await;
    assert_eq!((done.receipt.seq, done.duplicate), (2, false), "no number was lost to the refusal");
}

async fn alerts_go_on_once_from_one_node_at_a_time(engine: Engine) {
    let f = fixture(engine).await;
    let alert = |detail: &str| store::event(ledger::EventKind::Alert, "system:watch", Some("city-a"), None, detail);
    f.store.record_event(&alert("before the dispatcher first looked")).await.unwrap();
    let first = f.store.claim_alerts("node-a", 60, 100).await.unwrap().expect("the lease is free");
    assert_eq!(first.len(), 1);
    f.store.alerts_dispatched("node-a", first[0].index).await.unwrap();

    f.store.record_event(&alert("burst: 400 records in 600 s")).await.unwrap();
    let login = store::event(ledger::EventKind::Login, "staff:sato", Some("city-a"), None, "");
    f.store.record_event(&login).await.unwrap();
    f.store.record_event(&alert("frozen: desk key suspended")).await.unwrap();
    assert!(f.store.claim_alerts("node-b", 60, 100).await.unwrap().is_none(), "node-a holds the lease");
    let batch = f.store.claim_alerts("node-a", 60, 100).await.unwrap().unwrap();
    let details: Vec<&str> = batch.iter().map(|e| e.event.detail.as_str()).collect();
    assert_eq!(details, ["burst: 400 records in 600 s", "frozen: desk key suspended"], "alerts only, in order");
    f.store.alerts_dispatched("node-a", batch[1].index).await.unwrap();
    assert!(f.store.claim_alerts("node-a", 60, 100).await.unwrap().unwrap().is_empty(), "each goes on once");
    f.store.alerts_dispatched("node-b", 0).await.unwrap();
    assert!(f.store.claim_alerts("node-a", 60, 100).await.unwrap().unwrap().is_empty(), "the cursor never goes back");

    let contacts = store::SecurityContacts {
        mail: vec!["joho@city.example.jp".into(), "cio@city.example.jp".into()],
        webhook: Some("https://soc.example.jp/hook".into()),
    };
    f.store.set_security_contacts("city-a", &contacts, "operator:cli").await.unwrap();
    assert_eq!(f.store.security_contacts("city-a").await.unwrap(), contacts);
    assert_eq!(f.store.security_contacts("city-b").await.unwrap(), store::SecurityContacts::default());
    assert!(f.store.set_security_contacts("nowhere", &contacts, "operator:cli").await.is_err());

    // Planted applicants are known by keyed tags, per tenant.
    for (tenant, tag) in [("city-a", "aa01"), ("city-a", "aa02"), ("city-b", "bb01"), ("city-a", "aa01")] {
        f.store.add_watch_tag(tenant, tag).await.unwrap();
    }
    let pulled: Vec<String> = ["aa01", "bb01", "cc01", "aa02"].map(String::from).to_vec();
    assert_eq!(f.store.watch_tags_among("city-a", &pulled).await.unwrap(), 2);
    assert_eq!(f.store.watch_tags_among("city-b", &pulled).await.unwrap(), 1);
    assert_eq!(f.store.watch_tags_among("city-a", &[]).await.unwrap(), 0);
}

async fn status_mails_to_one_resident_are_capped_per_day(engine: Engine) {
    let f = fixture(engine).await;
    let public = f.keys.public.clone();
    let mut with_address = intake("city-a", "draft-with-address");
    with_address.notify_address = Some(b"an address sealed to the notification key");
    let accepted = f
        .store
        .accept(&with_address, move |receipt| {
            seal::seal(&public, &RecordBinding::new("city-a", "water-start", 1, &receipt.to_string()), b"{}")
        })
        .await
        .unwrap();
    f.store.register_desk("desk-a", "city-a", "desk public key", "fp").await.unwrap();
    let desk = f.store.desk("desk-a").await.unwrap().unwrap();
    // A desk (or a stolen desk key) flips the status twenty times in a day.
    let statuses = [store::SubmissionStatus::InReview, store::SubmissionStatus::Returned];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for i in 0..20 {
        let change = store::StatusChange {
            receipt: accepted.receipt,
            status: statuses[i % 2],
            changed_at: now + i as i64,
            message: None,
        };
        assert_eq!(f.store.apply_status_changes(&desk, &[change]).await.unwrap(), 1);
    }
    let (unsent, sent) = f.store.mail_counts().await.unwrap();
    assert_eq!(unsent + sent, store::MAILS_PER_SUBMISSION_PER_DAY, "the rest show on the status page only");
}

async fn book(f: &Fixture, draft: &str, slot: &str, capacity: i64) -> Result<store::Acceptance, store::StoreError> {
    let public = f.keys.public.clone();
    let claim = store::BookingClaim { slot: slot.into(), capacity };
    f.store
        .accept(&Intake { booking: Some(claim), ..intake("city-a", draft) }, move |receipt| {
            seal::seal(&public, &RecordBinding::new("city-a", "water-start", 1, &receipt.to_string()), b"{}")
        })
        .await
}

async fn a_slot_is_never_given_past_its_capacity_and_a_cancellation_gives_a_place_back(engine: Engine) {
    let f = Arc::new(fixture(engine).await);
    let slot = "2026-12-01T09:00";
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move { book(&f, &format!("booking-{i}"), slot, 3).await })
        })
        .collect();
    let mut booked = Vec::new();
    for racer in racers {
        match racer.await.unwrap() {
            Ok(accepted) => booked.push(accepted),
            Err(store::StoreError::SlotFull) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(booked.len(), 3, "three places, three bookings");
    let places = f.store.booked_places("city-a", "water-start", "2026-12-01").await.unwrap();
    assert_eq!(places.get(slot), Some(&3));
    assert!(f.store.booked_places("city-a", "water-start", "2026-12-02").await.unwrap().is_empty());

    // The resident gives the place back with the 問合せ番号 and access key.
    let first = &booked[0];
    assert_eq!(f.store.cancel_booking(&first.inquiry, "WRONGKEY").await.unwrap(), None);
    let leaves = f.store.ledger_size().await.unwrap();
    let cancelled = f.store.cancel_booking(&first.inquiry, "SECRET42").await.unwrap();
    assert_eq!(f.store.ledger_size().await.unwrap(), leaves + 1, "the cancellation is in the ledger");
    assert!(matches!(cancelled, Some(store::Cancellation::Cancelled { ref slot, .. }) if slot == "2026-12-01T09:00"));
    assert_eq!(
        f.store.cancel_booking(&first.inquiry, "SECRET42").await.unwrap(),
        Some(store::Cancellation::AlreadyCancelled)
    );
    assert_eq!(f.store.booked_places("city-a", "water-start", "2026-12-01").await.unwrap().get(slot), Some(&2));
    let again = book(&f, "booking-late", slot, 3).await.expect("the freed place is taken");
    assert!(matches!(book(&f, "booking-later", slot, 3).await, Err(store::StoreError::SlotFull)));

    // A desk's later status does not undo the cancellation.
    f.store.register_desk("desk-a", "city-a", "desk public key", "fp").await.unwrap();
    let desk = f.store.desk("desk-a").await.unwrap().unwrap();
    let late = time::OffsetDateTime::now_utc().unix_timestamp() + 60;
    let change = store::StatusChange {
        receipt: first.receipt,
        status: store::SubmissionStatus::InReview,
        changed_at: late,
        message: None,
    };
    assert_eq!(f.store.apply_status_changes(&desk, &[change]).await.unwrap(), 0);
    let view = f.store.lookup_status(&first.inquiry, "SECRET42").await.unwrap().unwrap();
    assert_eq!((view.status, view.booking_slot.as_deref()), (store::SubmissionStatus::Cancelled, Some(slot)));
    assert!(again.ledger_index > first.ledger_index);

    // Without a slot there is nothing to cancel online.
    let plain = accept(&f, "city-a", "no-booking").await;
    assert_eq!(
        f.store.cancel_booking(&plain.inquiry, "SECRET42").await.unwrap(),
        Some(store::Cancellation::NotCancellable)
    );
}
