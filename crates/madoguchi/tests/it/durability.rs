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
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(record.to_bytes()));
        store.vault().get("records", &hash).await.unwrap_or_else(|e| panic!("{number} not in the vault: {e}"));
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
