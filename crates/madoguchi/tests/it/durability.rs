//! A crash or kill at any moment loses no acknowledged submission.

use seal::RecordBinding;
use store::ReceiptNumber;
use testkit::Engine;

use crate::{element_text, hidden_input, on_both_engines, post_form, start, water_start_answers};

on_both_engines!(a_killed_counter_keeps_every_submission_it_acknowledged);

async fn a_killed_counter_keeps_every_submission_it_acknowledged(engine: Engine) {
    let mut counter = start(engine).await;
    let client = counter.client();
    let base = format!("{}/t/kawabe-village/f/water-start", counter.url);
    let mut drafts = Vec::new();
    for i in 0..60 {
        let (_, page) =
            post_form(&client, &format!("{base}/confirm"), &water_start_answers(&[("notes", &format!("#{i}"))])).await;
        drafts.push(hidden_input(&page, "_draft").unwrap());
    }

    // Send them all at once and kill -9 the counter once ten are answered.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for draft in &drafts {
        let (client, url, tx, draft) = (client.clone(), format!("{base}/submit"), tx.clone(), draft.clone());
        tokio::spawn(async move {
            let answer = client.post(url).form(&[("_draft", draft.as_str())]).send().await;
            let receipt = match answer {
                Ok(response) if response.status() == 200 => {
                    response.text().await.ok().and_then(|page| element_text(&page, "receipt-number"))
                }
                _ => None,
            };
            let _ = tx.send((draft, receipt));
        });
    }
    drop(tx);
    let mut acknowledged = Vec::new();
    let mut unanswered = Vec::new();
    let mut killed = false;
    while let Some((draft, receipt)) = rx.recv().await {
        match receipt {
            Some(number) => acknowledged.push((draft, number)),
            None => unanswered.push(draft),
        }
        if acknowledged.len() == 10 && !killed {
            counter.kill().await;
            killed = true;
        }
    }
    assert!(killed && acknowledged.len() >= 10);

    // After a restart every acknowledged record is there, opens, and is in
    // the vault; sending an unanswered draft again is safe.
    counter.restart().await;
    let store = counter.store().await;
    let key = counter.demo_private_key("kawabe-village");
    for (_, number) in &acknowledged {
        let (year, seq) = number.split_once('-').unwrap();
        let receipt = ReceiptNumber { year: year.parse().unwrap(), seq: seq.parse().unwrap() };
        let record =
            store.sealed_record("kawabe-village", receipt).await.unwrap().unwrap_or_else(|| panic!("{number} lost"));
        let binding = RecordBinding::new("kawabe-village", "water-start", 1, number);
        seal::open(&key, &binding, &record).expect("opens");
        let copy = store.record_from_vault("kawabe-village", receipt).await;
        let copy = copy.unwrap_or_else(|e| panic!("{number} not in the vault: {e}")).expect("in the vault");
        assert_eq!(copy.to_bytes(), record.to_bytes(), "{number}: the vault holds the same bytes");
    }
    let base = format!("{}/t/kawabe-village/f/water-start", counter.url);
    for (draft, number) in acknowledged.iter().take(3) {
        let (status, page) = post_form(&client, &format!("{base}/submit"), &[("_draft".into(), draft.clone())]).await;
        assert_eq!(status, 200);
        assert_eq!(element_text(&page, "receipt-number").as_deref(), Some(number.as_str()), "same receipt again");
    }
    for draft in &unanswered {
        let (status, _) = post_form(&client, &format!("{base}/submit"), &[("_draft".into(), draft.clone())]).await;
        assert_eq!(status, 200);
    }
    // Every draft is now exactly one submission, numbered without gaps.
    let year = acknowledged[0].1.split_once('-').unwrap().0.parse().unwrap();
    assert_eq!(store.count_submissions("kawabe-village", year).await.unwrap(), 60);
    for seq in 1..=60 {
        assert!(
            store.sealed_record("kawabe-village", ReceiptNumber { year, seq }).await.unwrap().is_some(),
            "gap at {seq}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_vault_is_unreachable_residents_are_told_to_retry_and_nothing_is_acknowledged() {
    let counter = crate::start(Engine::Sqlite).await;
    let first = crate::apply(&counter, "aoba-city", "water-start", &water_start_answers(&[])).await;
    // The vault's disk fails: where segments are written is gone.
    let segments = counter.data_dir().join("vault").join("segments");
    let saved = counter.data_dir().join("vault").join("segments.saved");
    std::fs::rename(&segments, &saved).unwrap();
    std::fs::write(&segments, b"not a directory").unwrap();
    let client = counter.client();
    let base = format!("{}/t/aoba-city/f/water-start", counter.url);
    let (status, page) = post_form(&client, &format!("{base}/confirm"), &water_start_answers(&[])).await;
    assert_eq!(status, 200);
    let draft = hidden_input(&page, "_draft").unwrap();
    let (status, page) = post_form(&client, &format!("{base}/submit"), &[("_draft".into(), draft.clone())]).await;
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("保存されていません") && page.contains("もう一度お試しください"), "{page}");
    assert!(!page.contains("receipt-number"));
    // The vault returns; the same draft is accepted, with the next number.
    std::fs::remove_file(&segments).unwrap();
    std::fs::rename(&saved, &segments).unwrap();
    let (status, page) = post_form(&client, &format!("{base}/submit"), &[("_draft".into(), draft)]).await;
    assert_eq!(status, 200, "{page}");
    let (year, seq) = first.receipt_number.split_once('-').unwrap();
    let next = format!("{year}-{:06}", seq.parse::<i64>().unwrap() + 1);
    assert_eq!(element_text(&page, "receipt-number").as_deref(), Some(next.as_str()), "gap-free after the outage");
}
