//! Snapshots, vault verification and restore: the database can be rebuilt
//! from the vault alone, on either engine, and every damaged or missing
//! object is named.

use seal::RecordBinding;
use store::backup::{self, Quiet};
use store::{Intake, Store};
use testkit::{Engine, TestDatabase};

use crate::on_both_engines;

on_both_engines!(
    a_snapshot_and_the_segments_since_rebuild_the_database_on_either_engine,
    a_damaged_newest_snapshot_falls_back_to_an_older_one_and_loses_nothing,
    verify_names_every_missing_or_damaged_object,
    every_table_is_in_the_snapshot,
    the_rooms_since_the_snapshot_come_back_from_the_segments,
);

/// Everything a room shows and a moderator works from, as text.
async fn rooms_as_seen(store: &Store, participants: &[&str]) -> String {
    let mut seen = format!("{:?}\n", store.rooms("city-a").await.unwrap());
    for room in ["park", "plan"] {
        seen += &format!(
            "{:?}\n{:?}\n",
            store.room("city-a", room).await.unwrap(),
            store.room_posts("city-a", room).await.unwrap()
        );
        for id in participants {
            seen += &format!("{:?}\n", store.reported_by("city-a", room, id).await.unwrap());
        }
    }
    for id in participants {
        seen += &format!("{:?}\n", store.participant("city-a", id).await.unwrap());
    }
    seen += &format!(
        "{:?} {:?}",
        store.rules_of_use("city-a").await.unwrap(),
        store.minor_protections("city-a").await.unwrap()
    );
    seen
}

/// The rooms' rows since the latest snapshot (registrations, posts,
/// reports, moderators' moves and notes, a published closing report) are
/// in the journal's segments, and a restore from the vault alone brings
/// them back exactly, on either engine.
async fn the_rooms_since_the_snapshot_come_back_from_the_segments(engine: Engine) {
    use participation::{Action, Moderation, RoomKind};
    use store::rooms::{NewParticipant, NewRoom, PostOutcome};
    let inst = installation(engine).await;
    let store = &inst.store;
    let staff = store::Actor::staff("aoba.mod", None);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let room = |id: &str, kind| NewRoom {
        id: id.into(),
        kind,
        moderation: Moderation::After,
        title_ja: "中央公園".into(),
        title_en: String::new(),
        description_ja: "ご意見を".into(),
        description_en: String::new(),
    };
    let participant = |login: &str| NewParticipant {
        login_hmac: format!("hmac-{login}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        nickname: login.into(),
        minor: login == "minor",
        rules_version: 0,
        rules_sha256: store::rooms::rules_sha256("規約", "Rules"),
    };
    assert!(store.create_room("city-a", &room("park", RoomKind::Discussion), &staff).await.unwrap());
    let alice = store.register_participant("city-a", &participant("alice")).await.unwrap().unwrap();
    assert!(matches!(
        store.add_post("city-a", "park", &alice.id, None, "前から").await.unwrap(),
        PostOutcome::Posted { .. }
    ));
    store.create_snapshot(&Quiet).await.unwrap();

    // After the snapshot: every kind of change the rooms make.
    store.publish_rules_of_use("city-a", "新しい規約", "New rules", &staff).await.unwrap();
    store
        .set_minor_protections(
            "city-a",
            store::rooms::MinorProtections { premoderate: true, withhold_name: false },
            &staff,
        )
        .await
        .unwrap();
    let bob = store.register_participant("city-a", &participant("minor")).await.unwrap().unwrap();
    store.add_post("city-a", "park", &alice.id, Some(1), "返信です").await.unwrap();
    store.add_post("city-a", "park", &bob.id, None, "承認待ち").await.unwrap();
    store.report_post("city-a", "park", 1, &bob.id, "abuse", "言い方").await.unwrap();
    store.moderate("city-a", "park", 1, &Action::Hide { reason: "規約第3条".into() }, &staff).await.unwrap();
    store.moderate("city-a", "park", 2, &Action::Annotate { note: "検討します".into() }, &staff).await.unwrap();
    store.moderate("city-a", "park", 3, &Action::Approve, &staff).await.unwrap();
    let window = RoomKind::PublicComment { opens: now - 60, closes: now + 2 };
    store.create_room("city-a", &room("plan", window), &staff).await.unwrap();
    store.add_post("city-a", "plan", &alice.id, None, "駅前を").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    store.save_closing_report("city-a", "plan", "1件", None, &[(1, "位置付けます".into())]).await.unwrap();
    store.publish_closing_report("city-a", "plan", &staff).await.unwrap();

    let live = rooms_as_seen(store, &[&alice.id, &bob.id]).await;
    assert!(live.contains("規約第3条") && live.contains("位置付けます") && live.contains("新しい規約"), "{live}");
    for target_engine in [engine, other(engine)] {
        let target = TestDatabase::new(target_engine).await;
        let report = backup::restore(store.vault(), &target.url, &Quiet).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.room_rows_from_segments > 10, "{report:?}");
        let restored = target.store(inst.vault.path()).await;
        assert_eq!(rooms_as_seen(&restored, &[&alice.id, &bob.id]).await, live, "{engine:?} → {target_engine:?}");
        assert_eq!(restored.ledger_size().await.unwrap(), store.ledger_size().await.unwrap());
        if target_engine != engine {
            // And the rooms go on: the next post has the next number. (Last:
            // its segment lands in the shared vault.)
            let next = restored.add_post("city-a", "park", &alice.id, None, "復旧後").await.unwrap();
            assert!(matches!(next, PostOutcome::Posted { seq: 4, .. }), "{next:?}");
        }
        restored.close().await;
    }
}

type Installation = crate::TwoCities;

async fn installation(engine: Engine) -> Installation {
    let inst = crate::two_cities(engine).await;
    inst.store.add_tenant_key("city-b", &inst.keys.public).await.unwrap();
    inst
}

/// Submits `count` drafts named `{prefix}-{i}` at once (so they share
/// group commits), alternating between the two cities.
async fn submit(inst: &Installation, prefix: &str, count: usize) -> Vec<store::Acceptance> {
    submit_to(&inst.store, &inst.keys.public, prefix, count).await
}

async fn submit_to(
    store: &Store,
    public: &seal::TenantPublicKey,
    prefix: &str,
    count: usize,
) -> Vec<store::Acceptance> {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let (store, public) = (store.clone(), public.clone());
            let draft = format!("{prefix}-{i}");
            let tenant = if i % 2 == 0 { "city-a" } else { "city-b" };
            tokio::spawn(async move {
                // Some bring a file: it must be counted in the backup too.
                let mut attachments = Vec::new();
                if i % 4 == 1 {
                    let mut file = store::AttachmentWriter::new(store.vault());
                    file.write(format!("sealed file {draft}").as_bytes()).await.unwrap();
                    attachments.push(file.finish().await.unwrap().0);
                }
                let intake = Intake {
                    tenant,
                    form_id: "water-start",
                    form_version: 1,
                    draft_id: &draft,
                    inquiry_secret: "SECRET42",
                    notify_address: Some(b"sealed address"),
                    // Some book a slot: the restore must bring the places back.
                    booking: (i % 3 == 0)
                        .then(|| store::BookingClaim { slot: format!("2026-12-0{}T09:00", 1 + i % 5), capacity: 1000 }),
                    attachments: &attachments,
                    respondent: None,
                };
                store
                    .accept(&intake, move |receipt| {
                        seal::seal(&public, &RecordBinding::new(tenant, "water-start", 1, &receipt.to_string()), b"{}")
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for task in tasks {
        accepted.push(task.await.unwrap());
    }
    accepted
}

fn other(engine: Engine) -> Engine {
    match engine {
        Engine::Sqlite => Engine::Postgres,
        Engine::Postgres => Engine::Sqlite,
    }
}

async fn a_snapshot_and_the_segments_since_rebuild_the_database_on_either_engine(engine: Engine) {
    let inst = installation(engine).await;
    let before = submit(&inst, "before", 30).await;
    inst.store.register_desk("desk-a", "city-a", "desk public key", "fp").await.unwrap();
    let snapshot = inst.store.create_snapshot(&Quiet).await.unwrap();
    assert_eq!(snapshot.submissions, 30);
    // After the snapshot: more submissions and an event from the console.
    let later = submit(&inst, "after", 25).await;
    inst.store
        .record_event(&store::event(ledger::EventKind::Login, "staff:tanaka", None, None, "password+totp"))
        .await
        .unwrap();
    // ...and a status change from city-a's desk on a submission from before.
    let desk = inst.store.desk("desk-a").await.unwrap().unwrap();
    let change = store::StatusChange {
        receipt: before[0].receipt,
        status: store::SubmissionStatus::InReview,
        changed_at: before[0].received_at + 60,
        message: None,
    };
    assert_eq!(inst.store.apply_status_changes(&desk, &[change]).await.unwrap(), 1);

    // Into an empty database of the same engine and of the other one.
    for target_engine in [engine, other(engine)] {
        let target = TestDatabase::new(target_engine).await;
        let report = backup::restore(inst.store.vault(), &target.url, &Quiet).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.skipped_snapshots.is_empty(), "{:?}", report.skipped_snapshots);
        assert_eq!(report.snapshot, format!("snapshots/{}", snapshot.manifest));
        assert_eq!(report.submissions, 55);
        assert_eq!(report.submissions_from_segments, 25, "only what came after the snapshot is replayed");
        assert_eq!(report.ledger_size, inst.store.ledger_size().await.unwrap());

        let restored = target.store(inst.vault.path()).await;
        let comparison = backup::compare(&inst.store, &restored, &Quiet).await.unwrap();
        assert!(comparison.is_exact(), "{engine:?} → {target_engine:?}: {comparison:?}");
        assert_eq!((comparison.submissions_compared, comparison.newer_in_live), (55, 0));
        // Records open, status lookups work, numbers continue without a gap.
        let record = restored.record_from_vault("city-a", later[0].receipt).await.unwrap().unwrap();
        let binding = RecordBinding::new("city-a", "water-start", 1, &later[0].receipt.to_string());
        assert_eq!(seal::open(&inst.keys.private, &binding, &record).unwrap().as_slice(), b"{}");
        let status = restored.lookup_status(&later[0].inquiry, "SECRET42").await.unwrap();
        assert!(status.is_some(), "the resident's 問合せ番号 still works after a restore");
        let changed = restored.lookup_status(&before[0].inquiry, "SECRET42").await.unwrap().unwrap();
        assert_eq!(changed.status, store::SubmissionStatus::InReview, "a status change after the snapshot is replayed");
        assert_eq!(report.status_changes, 1);
        if target_engine != engine {
            // (Last: a new submission's segment lands in the shared vault.)
            let next = submit_to(&restored, &inst.keys.public, "next", 1).await;
            assert_eq!(next[0].receipt.seq, 29, "city-a had 1..=28; the next number follows");
        }
        let ledger_check = restored.ledger_entries(0, 1000).await.unwrap();
        assert_eq!(ledger_check.len() as i64, restored.ledger_size().await.unwrap());
        restored.close().await;
    }
}

async fn a_damaged_newest_snapshot_falls_back_to_an_older_one_and_loses_nothing(engine: Engine) {
    let inst = installation(engine).await;
    submit(&inst, "first", 10).await;
    let older = inst.store.create_snapshot(&Quiet).await.unwrap();
    submit(&inst, "second", 10).await;
    let newer = inst.store.create_snapshot(&Quiet).await.unwrap();
    submit(&inst, "third", 10).await;
    // A bit flips in one of the newest snapshot's chunks.
    let manifest: serde_json::Value =
        serde_json::from_slice(&inst.store.vault().get("snapshots", &newer.manifest).await.unwrap()).unwrap();
    let chunk = manifest["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "submissions")
        .and_then(|t| t["chunks"][0].as_str())
        .unwrap()
        .to_owned();
    let path = inst.vault.path().join("snapshot-chunks").join(&chunk[..2]).join(&chunk);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();

    let target = TestDatabase::new(engine).await;
    let report = backup::restore(inst.store.vault(), &target.url, &Quiet).await.unwrap();
    assert_eq!(report.snapshot, format!("snapshots/{}", older.manifest), "the older snapshot is used");
    assert_eq!(report.skipped_snapshots.len(), 1);
    assert!(
        report.skipped_snapshots[0].reason.contains(&chunk),
        "the damaged chunk is named: {:?}",
        report.skipped_snapshots
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.submissions, report.submissions_from_segments), (30, 20));
    let restored = target.store(inst.vault.path()).await;
    let comparison = backup::compare(&inst.store, &restored, &Quiet).await.unwrap();
    assert!(comparison.is_exact(), "{comparison:?}");
    restored.close().await;

    // Restoring refuses a database that is not empty.
    let again = backup::restore(inst.store.vault(), &target.url, &Quiet).await;
    assert!(again.is_err_and(|e| e.to_string().contains("not empty")));
}

async fn verify_names_every_missing_or_damaged_object(engine: Engine) {
    let inst = installation(engine).await;
    submit(&inst, "one", 1).await;
    submit(&inst, "two", 1).await;
    inst.store.create_snapshot(&Quiet).await.unwrap();
    let clean = inst.store.verify_backup(&Quiet).await.unwrap();
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert_eq!((clean.snapshots, clean.records_checked), (1, 2));
    assert!(clean.segments >= 2, "the two submissions' and the set-up's");

    // The two newest segments hold the two submissions.
    let mut segments: Vec<_> = walk(&inst.vault.path().join("segments"));
    segments.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().modified().unwrap()));
    // One segment damaged, the other gone.
    let damaged = segments[0].clone();
    std::fs::write(&damaged, b"madoguchi journal 1\ngarbage").unwrap();
    std::fs::remove_file(&segments[1]).unwrap();
    let report = inst.store.verify_backup(&Quiet).await.unwrap();
    let named: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    let damaged_name = damaged.file_name().unwrap().to_string_lossy().into_owned();
    assert!(named.iter().any(|p| p.contains(&damaged_name) && p.contains("does not match")), "{named:?}");
    assert_eq!(
        named.iter().filter(|p| p.starts_with("ledger leaf")).count(),
        2,
        "both records are now missing: {named:?}"
    );

    // A sealed attachment whose part is lost is named by the part it lacks.
    let mut writer = store::AttachmentWriter::new(inst.store.vault());
    writer.write(&vec![1u8; store::PART_BYTES + 5]).await.unwrap();
    let (attachment, _) = writer.finish().await.unwrap();
    let lost = inst.store.vault().attachment_manifest(&attachment).await.unwrap().parts[1].clone();
    std::fs::remove_file(inst.vault.path().join("attachment-parts").join(&lost[..2]).join(&lost)).unwrap();
    let named: Vec<String> =
        inst.store.verify_backup(&Quiet).await.unwrap().problems.iter().map(|p| p.to_string()).collect();
    assert!(named.iter().any(|p| p.contains(&lost) && p.contains(&attachment)), "{named:?}");

    // A file a submission names, lost whole, is named with the submission.
    let sent = submit(&inst, "three", 2).await;
    let manifests = walk(&inst.vault.path().join("attachments"));
    let gone = manifests.iter().find(|p| !p.ends_with(&attachment)).expect("the submission's file");
    let gone_name = gone.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::remove_file(gone).unwrap();
    let named: Vec<String> =
        inst.store.verify_backup(&Quiet).await.unwrap().problems.iter().map(|p| p.to_string()).collect();
    let with = format!("a file attached to city-b {}", sent[1].receipt);
    assert!(named.iter().any(|p| p.contains(&gone_name) && p.contains(&with)), "{named:?}");
}

async fn every_table_is_in_the_snapshot(engine: Engine) {
    let inst = installation(engine).await;
    for table in backup::tables_in(&inst.store).await.unwrap() {
        assert!(backup::TABLES.contains(&table.as_str()), "table {table} is not in backup::TABLES");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_backs_up_verifies_and_drills_a_restore_from_the_command_line() {
    let counter = crate::start(Engine::Sqlite).await;
    let run =
        |args: &[&str]| crate::operator_command(&counter, &args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());
    for i in 0..3 {
        crate::apply(&counter, "aoba-city", "water-start", &crate::water_start_answers(&[("notes", &format!("#{i}"))]))
            .await;
    }
    let created = run(&["backup", "create"]);
    assert!(created.starts_with("snapshot snapshots/") && created.contains("(3 submissions)"), "{created}");
    crate::apply(&counter, "aoba-city", "water-start", &crate::water_start_answers(&[])).await;

    let verified = run(&["backup", "verify"]);
    assert!(
        verified.contains("1 snapshots") && verified.contains("4 submissions in the ledger have their record"),
        "{verified}"
    );
    let drill = run(&["drill", "restore"]);
    assert!(drill.contains("compared 4 submissions") && drill.contains("0 missing, 0 extra, 0 differing"), "{drill}");
    assert!(drill.contains("restore drill:"), "the drill reports its time: {drill}");
    // From SQLite into PostgreSQL.
    let target = TestDatabase::new(Engine::Postgres).await;
    let restored = run(&["backup", "restore", "--into", &target.url]);
    assert!(restored.contains("now 4 submissions"), "{restored}");

    // A damaged object: verify and restore exit non-zero and name it.
    let segment = walk(&counter.data_dir().join("vault").join("segments"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    std::fs::write(&segment, b"damaged").unwrap();
    let name = segment.file_name().unwrap().to_string_lossy().into_owned();
    let output = crate::operator_output(&counter, &["backup", "verify"].map(std::ffi::OsStr::new));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&format!("MISSING OR CORRUPT segments/{name}")), "{stderr}");
    let scratch = tempfile::tempdir().unwrap();
    let into = format!("sqlite://{}", scratch.path().join("r.sqlite").display());
    let output = crate::operator_output(&counter, &["backup", "restore", "--into", &into].map(std::ffi::OsStr::new));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains(&name), "{stderr}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
