//! What the counter stores opens only on the tenant's desk, and only as the
//! record it was sealed for.

use seal::RecordBinding;
use store::ReceiptNumber;
use testkit::Engine;

use crate::{apply, on_both_engines, start, water_start_answers};

on_both_engines!(a_sealed_record_opens_with_the_tenant_key_and_only_with_its_binding);

async fn a_sealed_record_opens_with_the_tenant_key_and_only_with_its_binding(engine: Engine) {
    let counter = start(engine).await;
    let sent =
        apply(&counter, "sakura-town", "water-start", &water_start_answers(&[("notes", "二階の部屋です")])).await;
    let (year, seq) = sent.receipt_number.split_once('-').unwrap();
    let receipt = ReceiptNumber { year: year.parse().unwrap(), seq: seq.parse().unwrap() };
    let store = counter.store().await;
    let record = store.sealed_record("sakura-town", receipt).await.unwrap().expect("record stored");
    assert_eq!(hex_sha256(&record.to_bytes()), sent.record_hash, "the receipt names the record's hash");

    // The vault holds the same bytes (in the segment of its group commit,
    // checked against the segment's name and the record's hash).
    let from_vault = store.record_from_vault("sakura-town", receipt).await.unwrap().expect("in the vault");
    assert_eq!(from_vault.to_bytes(), record.to_bytes());

    let key = counter.demo_private_key("sakura-town");
    let binding = RecordBinding::new("sakura-town", "water-start", 1, &sent.receipt_number);
    let plaintext = seal::open(&key, &binding, &record).expect("opens with the desk's key");
    let submission: serde_json::Value = serde_json::from_slice(&plaintext).unwrap();
    let text = submission.to_string();
    assert!(text.contains("二階の部屋です") && text.contains("ヤマダ タロウ"), "{text}");

    // Any other associated data, or another tenant's key, fails.
    for wrong in [
        RecordBinding::new("aoba-city", "water-start", 1, &sent.receipt_number),
        RecordBinding::new("sakura-town", "staff-exam", 1, &sent.receipt_number),
        RecordBinding::new("sakura-town", "water-start", 2, &sent.receipt_number),
        RecordBinding::new("sakura-town", "water-start", 1, &format!("{year}-999999")),
    ] {
        assert!(seal::open(&key, &wrong, &record).is_err(), "{wrong:?}");
    }
    assert!(seal::open(&counter.demo_private_key("aoba-city"), &binding, &record).is_err());
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
