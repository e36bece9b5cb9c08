//! Records synced and opened per second on the desk.
//!
//! Usage: bench-desk MADOGUCHI_BINARY [--records N]
//!
//! Starts a real counter (release binary, SQLite), runs the key ceremony
//! for a desk, seals N realistic 水道使用開始届 submissions to the desk's
//! tenant key straight into the counter's store, then measures on the desk:
//! a full sync over loopback HTTP (signed pulls of 1000-record pages, hash
//! check, HPKE open, re-encryption at rest, one transaction per page) and
//! reading every record back (decrypt at rest + JSON). The ceiling is HPKE
//! opening alone, in process, in the same run. Prints a Markdown table.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Instant;

use seal::{KdfParams, RecordBinding};
use testkit::{Engine, TestCounter};

const PASSPHRASE: &str = "benchmark passphrase 2026";

fn payload() -> Vec<u8> {
    let def = forms::FormDefinition::parse(counter::demo::FORMS[0].1).expect("demo form");
    let today = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).date();
    let input = forms::RawInput::from_pairs([
        ("applicant", "山田 太郎"),
        ("applicant.kana", "ヤマダ タロウ"),
        ("phone", "090-1234-5678"),
        ("email", "taro@example.jp"),
        ("email.confirm", "taro@example.jp"),
        ("property.postal", "100-0001"),
        ("property.region", "みどり県青葉市"),
        ("property.line", "中央1-2-3 グリーンハイツ101"),
        ("dwelling", "apartment"),
        ("start_date", &today.to_string()),
        ("payment", "transfer"),
        ("bank_name", "みどり銀行"),
        ("notes", "鍵は管理人室で受け取ります。"),
        ("consent", "yes"),
    ]);
    def.validate(&input, today).expect("valid answers").canonical_json()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(args.next().expect("usage: bench-desk MADOGUCHI_BINARY [--records N]"));
    let mut records = 5000usize;
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--records", Some(n)) => records = n.parse().expect("--records N"),
            _ => panic!("unknown flag {flag}"),
        }
    }
    std::env::set_var("MADOGUCHI_TEST_LOG", "warn");
    let counter = TestCounter::start(&binary, Engine::Sqlite).await;
    let desk_dir = tempfile::tempdir().expect("desk dir");
    let keys_dir = desk_dir.path().join("keys");
    let tenant = desk::ceremony::create_tenant_key(
        &keys_dir,
        desk_dir.path(),
        "aoba-city",
        PASSPHRASE,
        KdfParams::FOR_TESTS,
        None,
    )
    .expect("tenant key");
    let desk_key = desk::ceremony::create_desk_key(
        &keys_dir,
        desk_dir.path(),
        "aoba-city",
        "bench-desk",
        PASSPHRASE,
        KdfParams::FOR_TESTS,
    )
    .expect("desk key");
    let store = counter.store().await;
    for file in [&tenant.public_file, &desk_key.public_file] {
        let key = desk::ceremony::PublicKeyFile::parse(&std::fs::read_to_string(file).expect("read")).expect("parse");
        match key.kind {
            seal::KeyKind::TenantHpke => {
                store.add_tenant_key("aoba-city", &seal::TenantPublicKey::from_base64(&key.public).expect("key")).await
            }
            seal::KeyKind::DeskSigning => {
                store.register_desk("bench-desk", "aoba-city", &key.public, &key.fingerprint).await
            }
        }
        .expect("import");
    }
    let ring = desk::KeyRing::unlock(&keys_dir, PASSPHRASE).expect("unlock");
    let public = ring.current_public_key();
    let payload = payload();

    // Seed the counter (not measured).
    let seeding = Instant::now();
    let seeded = payload.clone();
    testkit::seal_into_store(&store, "aoba-city", &public, records, 4, move |_| seeded.clone()).await;
    eprintln!("seeded {records} records in {:.1}s", seeding.elapsed().as_secs_f64());

    // Ceiling: HPKE open alone, in process.
    let binding = RecordBinding::new("aoba-city", "water-start", 1, "2026-000001");
    let sealed = seal::seal(&public, &binding, &payload).expect("seal");
    let t0 = Instant::now();
    for _ in 0..records {
        let _ = ring.open(&binding, &sealed).expect("open");
    }
    let hpke = records as f64 / t0.elapsed().as_secs_f64();

    let desk_store = desk::DeskStore::open(&format!("sqlite://{}", desk_dir.path().join("desk.sqlite").display()))
        .await
        .expect("desk store");
    let client = desk::SyncClient::new(&counter.url).expect("client");
    let t0 = Instant::now();
    let report = client.sync(&ring, &desk_store).await.expect("sync");
    let sync_secs = t0.elapsed().as_secs_f64();
    assert_eq!(report.stored as usize, records, "every record synced once");

    let receipts = desk_store.receipts().await.expect("receipts");
    let t0 = Instant::now();
    for receipt in &receipts {
        let _: Option<(desk::StoredRecord, serde_json::Value)> =
            desk_store.read_record(&ring, *receipt, "bench").await.expect("read");
    }
    let read_secs = t0.elapsed().as_secs_f64();

    println!("\n{records} records of 水道使用開始届 ({} bytes of answers each), desk on SQLite, counter on SQLite, loopback.\n", payload.len());
    println!("| step | records/s | of ceiling |");
    println!("|---|---|---|");
    println!("| HPKE open only, in process (ceiling) | {hpke:.0} | 100 % |");
    let synced = records as f64 / sync_secs;
    println!(
        "| sync: signed pull + hash check + open + encrypt at rest + commit | {synced:.0} | {:.1} % |",
        synced / hpke * 100.0
    );
    let read = records as f64 / read_secs;
    println!(
        "| open a stored record for staff (decrypt at rest + JSON + access log) | {read:.0} | {:.1} % |",
        read / hpke * 100.0
    );
}
