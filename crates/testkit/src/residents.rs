//! Residents under load, for the durability drills: each confirms a form,
//! sends it, and sends the same draft again until it is answered (as a
//! resident pressing 送信 again would), recording every receipt shown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use seal::RecordBinding;
use store::ReceiptNumber;

pub const TENANT: &str = "aoba-city";

pub struct Residents {
    url: RwLock<String>,
    stop: AtomicBool,
    /// Draft → the receipt number its resident was shown.
    acknowledged: Mutex<HashMap<String, String>>,
    /// Receipts shown for a draft that already had a different one.
    conflicts: Mutex<Vec<String>>,
    failures: AtomicUsize,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Residents {
    /// Starts `count` residents sending to the counter at `url`.
    pub fn start(url: &str, count: usize) -> Arc<Residents> {
        let residents = Arc::new(Residents {
            url: RwLock::new(url.to_owned()),
            stop: AtomicBool::new(false),
            acknowledged: Mutex::new(HashMap::new()),
            conflicts: Mutex::new(Vec::new()),
            failures: AtomicUsize::new(0),
            tasks: Mutex::new(Vec::new()),
        });
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(count)
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let tasks =
            (0..count).map(|i| tokio::spawn(resident_loop(Arc::clone(&residents), client.clone(), i))).collect();
        *residents.tasks.lock().expect("lock") = tasks;
        residents
    }

    /// Where the counter listens now (after a restart).
    pub fn follow(&self, url: &str) {
        if let Ok(mut current) = self.url.write() {
            url.clone_into(&mut current);
        }
    }

    /// Stops taking new forms; returns once every draft sent is answered.
    pub async fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("lock"));
        for task in tasks {
            task.await.expect("resident");
        }
    }

    /// Stops every resident at once (the counter is gone; drafts in flight
    /// were never answered).
    pub fn abandon(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut *self.tasks.lock().expect("lock")) {
            task.abort();
        }
    }

    /// Draft → receipt number shown, so far.
    pub fn acknowledged(&self) -> HashMap<String, String> {
        self.acknowledged.lock().expect("lock").clone()
    }

    pub fn acknowledged_count(&self) -> usize {
        self.acknowledged.lock().expect("lock").len()
    }

    /// Sends that got no answer (and were sent again).
    pub fn unanswered(&self) -> usize {
        self.failures.load(Ordering::Relaxed)
    }

    /// Drafts shown two different receipts.
    pub fn conflicts(&self) -> Vec<String> {
        self.conflicts.lock().expect("lock").clone()
    }
}

/// Checks every receipt in `acknowledged` against `store`: stored, opens
/// with `key` (as on the desk), and the vault holds the same bytes; no
/// number shown for two drafts. Returns what is wrong.
pub async fn check_receipts(
    store: &store::Store,
    key: &seal::TenantPrivateKey,
    acknowledged: &HashMap<String, String>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut seen = HashMap::new();
    for (draft, number) in acknowledged {
        if let Some(other) = seen.insert(number.clone(), draft.clone()) {
            wrong.push(format!("{number} was shown for two drafts ({other}, {draft})"));
        }
        let Some(receipt) = ReceiptNumber::parse(number) else {
            wrong.push(format!("{number}: not a receipt number"));
            continue;
        };
        match store.sealed_record(TENANT, receipt).await {
            Ok(Some(record)) => {
                let binding = RecordBinding::new(TENANT, "water-start", 1, number);
                if seal::open(key, &binding, &record).is_err() {
                    wrong.push(format!("{number}: does not open"));
                }
                match store.record_from_vault(TENANT, receipt).await {
                    Ok(Some(copy)) if copy.to_bytes() == record.to_bytes() => {}
                    other => wrong.push(format!("{number}: the vault's copy: {other:?}")),
                }
            }
            other => wrong.push(format!("{number}: LOST ({other:?})")),
        }
    }
    wrong
}

/// The first 到達番号 of `tenant` that is not stored, up to `count`.
pub async fn first_gap(store: &store::Store, year: i64, count: i64) -> Option<i64> {
    for seq in 1..=count {
        if store.sealed_record(TENANT, ReceiptNumber { year, seq }).await.ok().flatten().is_none() {
            return Some(seq);
        }
    }
    None
}

fn between<'a>(page: &'a str, before: &str, after: &str) -> Option<&'a str> {
    let start = page.find(before)? + before.len();
    let end = page[start..].find(after)? + start;
    Some(&page[start..end])
}

/// One resident after another: confirm, then send; a send that got no
/// answer is sent again (the same draft) until it is answered.
async fn resident_loop(shared: Arc<Residents>, client: reqwest::Client, id: usize) {
    let mut pending: Option<String> = None;
    let mut n = 0usize;
    loop {
        if shared.stop.load(Ordering::Relaxed) && pending.is_none() {
            return;
        }
        let base = format!("{}/t/{TENANT}/f/water-start", shared.url.read().map(|u| u.clone()).unwrap_or_default());
        let draft = match pending.take() {
            Some(draft) => draft,
            None => {
                n += 1;
                let page = match client
                    .post(format!("{base}/confirm"))
                    .form(&crate::water_start_answers(&format!("crash drill {}", id * 1_000_000 + n)))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => r.text().await.ok(),
                    _ => None,
                };
                match page.as_deref().and_then(|p| between(p, "name=\"_draft\" value=\"", "\"")) {
                    Some(draft) => draft.to_owned(),
                    None => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
        };
        let answer = client.post(format!("{base}/submit")).form(&[("_draft", draft.as_str())]).send().await;
        let receipt = match answer {
            Ok(r) if r.status() == 200 => r
                .text()
                .await
                .ok()
                .and_then(|p| between(&p, "id=\"receipt-number\">", "<").map(|s| s.trim().to_owned())),
            _ => None,
        };
        match receipt {
            Some(number) => {
                let mut acknowledged = shared.acknowledged.lock().expect("lock");
                if let Some(earlier) = acknowledged.insert(draft.clone(), number.clone()) {
                    if earlier != number {
                        shared.conflicts.lock().expect("lock").push(format!("{draft}: {earlier} then {number}"));
                    }
                }
            }
            None => {
                shared.failures.fetch_add(1, Ordering::Relaxed);
                pending = Some(draft);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
