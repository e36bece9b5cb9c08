//! The ledger: every submission is a leaf named on its receipt, anyone can
//! check a receipt's inclusion against a signed checkpoint, and changing,
//! deleting or reordering any row is found by `madoguchi ledger verify`.

use std::process::Command;

use sqlx::Connection;
use testkit::{Engine, TestCounter};

use crate::{apply, element_text, madoguchi, on_both_engines, start, water_start_answers};

on_both_engines!(a_receipt_names_its_leaf_and_its_inclusion_proof_verifies, tampering_with_any_ledger_row_is_detected);

/// Runs `madoguchi ledger SUBCOMMAND` against the counter's data.
fn ledger(counter: &TestCounter, subcommand: &str) -> std::process::Output {
    Command::new(madoguchi())
        .args(["ledger", subcommand, "--data-dir"])
        .arg(counter.data_dir())
        .args(["--database", &counter.database.url])
        .env_remove("MADOGUCHI_CONFIG")
        .output()
        .unwrap()
}

async fn a_receipt_names_its_leaf_and_its_inclusion_proof_verifies(engine: Engine) {
    let counter = start(engine).await;
    let mut sent = Vec::new();
    for tenant in ["aoba-city", "sakura-town", "aoba-city"] {
        sent.push(apply(&counter, tenant, "water-start", &water_start_answers(&[])).await);
    }
    let out = ledger(&counter, "checkpoint");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let http = counter.client();
    let vkey = http.get(format!("{}/ledger/key", counter.url)).send().await.unwrap().text().await.unwrap();
    let verifier = ledger::CheckpointVerifier::from_vkey(vkey.trim()).unwrap();
    for receipt in &sent {
        let index = element_text(&receipt.receipt_page, "ledger-index").expect("the receipt names its leaf");
        let proof: serde_json::Value =
            http.get(format!("{}/ledger/entries/{index}", counter.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(proof["subject"], receipt.receipt_number.as_str());
        assert_eq!(proof["detail"], receipt.record_hash.as_str(), "the leaf records the sealed record's hash");
        // Recompute the leaf from its fields, then walk the proof to the
        // root of a checkpoint signed by the counter's published key.
        let event = ledger::Event {
            kind: ledger::EventKind::Submission,
            at: proof["at"].as_i64().unwrap(),
            actor: "resident".into(),
            tenant: proof["tenant"].as_str().map(str::to_owned),
            source: None,
            subject: proof["subject"].as_str().map(str::to_owned),
            detail: proof["detail"].as_str().unwrap().to_owned(),
        };
        assert_eq!(hex::encode(event.leaf_hash()), proof["leaf_hash"].as_str().unwrap());
        let checkpoint = verifier.verify(proof["checkpoint"].as_str().unwrap()).expect("signed by the counter");
        let path: Vec<[u8; 32]> = proof["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
            .collect();
        assert!(ledger::verify_inclusion(
            &event.leaf_hash(),
            index.parse().unwrap(),
            checkpoint.size,
            &path,
            &checkpoint.root
        ));
    }
    // Other leaves (key events, pulls) are not public.
    let status = http.get(format!("{}/ledger/entries/0", counter.url)).send().await.unwrap().status();
    assert_eq!(status, 404, "leaf 0 is the demo's key event, not a submission");
}

async fn tampering_with_any_ledger_row_is_detected(engine: Engine) {
    let counter = start(engine).await;
    for tenant in ["aoba-city", "sakura-town", "kawabe-village", "aoba-city"] {
        apply(&counter, tenant, "water-start", &water_start_answers(&[])).await;
    }
    assert!(ledger(&counter, "checkpoint").status.success());
    let verify = |counter: &TestCounter| {
        let out = ledger(counter, "verify");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, said) = verify(&counter);
    assert!(ok, "{said}");
    // Without the installation's key, verify says so and makes none.
    let key = counter.data_dir().join("ledger.key");
    let moved = counter.data_dir().join("ledger.key.away");
    std::fs::rename(&key, &moved).unwrap();
    let (ok, said) = verify(&counter);
    assert!(!ok && said.contains("ledger_key_file") && said.contains("is not there"), "{said}");
    assert!(!key.exists(), "verify made a key of its own");
    std::fs::rename(&moved, &key).unwrap();

    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&counter.database.url).await.unwrap();
    let size: i64 = sqlx::query_scalar("SELECT next_index FROM ledger_head").fetch_one(&mut db).await.unwrap();
    let target = size - 2;
    let row: (String, String) = sqlx::query_as("SELECT detail, leaf_hash FROM ledger_leaves WHERE leaf_index = $1")
        .bind(target)
        .fetch_one(&mut db)
        .await
        .unwrap();

    // 1. A changed field.
    sqlx::query("UPDATE ledger_leaves SET detail = 'forged' WHERE leaf_index = $1")
        .bind(target)
        .execute(&mut db)
        .await
        .unwrap();
    let (ok, said) = verify(&counter);
    assert!(!ok && said.contains(&format!("leaf {target}")) && said.contains("changed"), "{said}");

    // 2. A changed field with its leaf hash recomputed: the signed
    //    checkpoint no longer matches.
    let forged = ledger::leaf_hash(b"anything");
    sqlx::query("UPDATE ledger_leaves SET leaf_hash = $2 WHERE leaf_index = $1")
        .bind(target)
        .bind(hex::encode(forged))
        .execute(&mut db)
        .await
        .unwrap();
    let (ok, said) = verify(&counter);
    assert!(!ok, "{said}");
    restore(&mut db, target, &row).await;
    assert!(verify(&counter).0);

    // 3. Two rows swapped.
    swap(&mut db, target, target + 1).await;
    let (ok, said) = verify(&counter);
    assert!(!ok && said.contains("checkpoint"), "{said}");
    swap(&mut db, target, target + 1).await;
    assert!(verify(&counter).0);

    // 4. A row deleted.
    sqlx::query("DELETE FROM ledger_leaves WHERE leaf_index = $1").bind(target).execute(&mut db).await.unwrap();
    let (ok, said) = verify(&counter);
    assert!(!ok && said.contains(&format!("leaf {target}")) && said.contains("gap"), "{said}");
}

/// Swaps two rows' places in the log.
async fn swap(db: &mut sqlx::AnyConnection, a: i64, b: i64) {
    for (from, to) in [(a, -1), (b, a), (-1, b)] {
        sqlx::query("UPDATE ledger_leaves SET leaf_index = $2 WHERE leaf_index = $1")
            .bind(from)
            .bind(to)
            .execute(&mut *db)
            .await
            .unwrap();
    }
}

async fn restore(db: &mut sqlx::AnyConnection, index: i64, row: &(String, String)) {
    sqlx::query("UPDATE ledger_leaves SET detail = $2, leaf_hash = $3 WHERE leaf_index = $1")
        .bind(index)
        .bind(&row.0)
        .bind(&row.1)
        .execute(db)
        .await
        .unwrap();
}
