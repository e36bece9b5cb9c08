//! The scale-out drill: counter nodes started together on one PostgreSQL
//! and one vault (a local S3-compatible server with `--vault-url`), behind
//! haproxy on loopback. Residents send water-start applications to two
//! municipalities and book slots through haproxy; one node is killed with
//! SIGKILL mid-load. Then it checks that every acknowledged submission is
//! there exactly once, with its record in the vault; that no slot holds
//! more than its places; and that 到達番号 are unique and gap-free per
//! tenant and year. Exits non-zero otherwise.
//!
//! With `--bench`: 送信 per second through haproxy with one node, then
//! with two (on PostgreSQL), beside a bare hyper server behind the same
//! haproxy as the ceiling.
//!
//! Usage: drill-nodes MADOGUCHI_BINARY [--short] [--vault-url s3://BUCKET] [--bench] [--requests N]
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::{Engine, Haproxy, TestCounter};

const TENANTS: [&str; 2] = ["aoba-city", "sakura-town"];
/// Places per slot of the booking form (14 slots): fewer than are asked for.
const CAPACITY: usize = 3;

/// What one resident's attempt came to.
#[derive(Debug, Clone)]
enum Outcome {
    /// A receipt page with this 到達番号.
    Acknowledged { tenant: &'static str, receipt: String, slot: Option<String> },
    /// The slot was full (409): nothing taken.
    SlotFull,
    /// No acknowledgement after every retry (the resident would try again).
    Failed,
}

/// POSTs a form, trying again (the same body) while the answer is a
/// connection failure or a 502/503 from a node going away.
async fn post(client: &reqwest::Client, url: &str, body: &[(String, String)]) -> Option<(u16, String)> {
    for attempt in 0..20u64 {
        match client.post(url).form(body).send().await {
            Ok(response) if ![502, 503, 504].contains(&response.status().as_u16()) => {
                let status = response.status().as_u16();
                if let Ok(text) = response.text().await {
                    return Some((status, text));
                }
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
    }
    None
}

/// One resident: confirm, then send the draft (again and again through a
/// node's death: the same draft is one submission).
async fn resident(client: reqwest::Client, base: String, i: usize, slots: Arc<Vec<String>>) -> Outcome {
    let booking = i.is_multiple_of(3);
    let tenant = if booking { TENANTS[0] } else { TENANTS[i % 2] };
    let (form, answers, slot) = if booking {
        let slot = slots[i % slots.len()].clone();
        let answers = [("applicant", "住民 花子"), ("slot", slot.as_str()), ("consent", "yes")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec();
        ("counter-booking", answers, Some(slot))
    } else {
        ("water-start", testkit::water_start_answers(&format!("ノード訓練 {i}")), None)
    };
    let url = format!("{base}/t/{tenant}/f/{form}");
    let page = match post(&client, &format!("{url}/confirm"), &answers).await {
        Some((200, page)) => page,
        // Full already when checked: said at 確認, nothing taken.
        Some((409, _)) => return Outcome::SlotFull,
        _ => return Outcome::Failed,
    };
    let Some(draft) = testkit::hidden_input(&page, "_draft") else { return Outcome::Failed };
    match post(&client, &format!("{url}/submit"), &[("_draft".to_owned(), draft)]).await {
        Some((200, page)) => match testkit::element_text(&page, "receipt-number") {
            Some(receipt) => Outcome::Acknowledged { tenant, receipt, slot },
            None => Outcome::Failed,
        },
        Some((409, _)) => Outcome::SlotFull,
        _ => Outcome::Failed,
    }
}

async fn drill(binary: &std::path::Path, short: bool, vault_url: Option<&str>) -> Result<String, String> {
    let mut args = vec![];
    if let Some(url) = vault_url {
        args.extend(["--vault-url", url]);
    }
    // Two nodes brought up at the same moment on a fresh database: the
    // migrations and the demo set-up run once between them.
    let (mut first, mut others) = TestCounter::start_nodes(binary, Engine::Postgres, &args, 2).await;
    let second = others.remove(0);
    let store = match vault_url {
        Some(url) => {
            let vault = store::Vault::s3(url).map_err(|e| e.to_string())?;
            store::Store::open(&first.database.url, vault).await.map_err(|e| e.to_string())?
        }
        None => first.store().await,
    };
    let text = testkit::booking_form(CAPACITY);
    store.publish_form(TENANTS[0], "counter-booking", &text, None).await.map_err(|e| e.to_string())?;
    let slots = Arc::new(testkit::booking_slots(&text));
    let mut haproxy = Haproxy::start(&[first.url.clone(), second.url.clone()]).await;

    let seconds = if short { 12 } else { 40 };
    let clients = 16;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (client, base, slots, outcomes, next) =
                (client.clone(), haproxy.url.clone(), Arc::clone(&slots), Arc::clone(&outcomes), Arc::clone(&next));
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let outcome = resident(client.clone(), base.clone(), i, Arc::clone(&slots)).await;
                    if let Ok(mut list) = outcomes.lock() {
                        list.push(outcome);
                    }
                }
            })
        })
        .collect();
    // A third of the way in, the first node dies the hard way.
    tokio::time::sleep(Duration::from_secs(seconds / 3)).await;
    let sent_before_kill = next.load(std::sync::atomic::Ordering::Relaxed);
    first.kill().await;
    for worker in workers {
        worker.await.map_err(|e| e.to_string())?;
    }
    haproxy.stop().await;
    let outcomes = outcomes.lock().map_err(|_| "poisoned".to_owned())?.clone();

    // What the database and the vault hold.
    let mut problems = Vec::new();
    let acknowledged: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Acknowledged { tenant, receipt, slot } => Some((*tenant, receipt.clone(), slot.clone())),
            _ => None,
        })
        .collect();
    let full = outcomes.iter().filter(|o| matches!(o, Outcome::SlotFull)).count();
    let failed = outcomes.iter().filter(|o| matches!(o, Outcome::Failed)).count();
    let mut stored_total = 0;
    for tenant in TENANTS {
        let summaries = store.submission_summaries(tenant, 1_000_000).await.map_err(|e| e.to_string())?;
        stored_total += summaries.len();
        let mut by_year: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for s in &summaries {
            by_year.entry(s.receipt.year).or_default().push(s.receipt.seq);
        }
        for (year, mut seqs) in by_year {
            seqs.sort_unstable();
            let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
            if seqs != expected {
                problems.push(format!("{tenant} {year}: 到達番号 are not 1..={} without gaps or repeats", seqs.len()));
            }
        }
        let stored: HashSet<String> = summaries.iter().map(|s| s.receipt.to_string()).collect();
        for (_, receipt, _) in acknowledged.iter().filter(|(t, _, _)| *t == tenant) {
            if !stored.contains(receipt) {
                problems.push(format!("{tenant} {receipt} was acknowledged but is not stored"));
                continue;
            }
            let Some(parsed) = store::ReceiptNumber::parse(receipt) else { continue };
            match store.record_from_vault(tenant, parsed).await {
                Ok(Some(_)) => {}
                other => problems.push(format!("{tenant} {receipt}: its record is not in the vault ({other:?})")),
            }
        }
    }
    // Two acknowledgements of one 到達番号 would be one submission counted twice.
    let unique: HashSet<(&str, &String)> = acknowledged.iter().map(|(t, r, _)| (*t, r)).collect();
    if unique.len() != acknowledged.len() {
        problems.push(format!("{} acknowledgements share a 到達番号", acknowledged.len() - unique.len()));
    }
    let (first_slot, last_slot) =
        (slots.first().cloned().unwrap_or_default(), slots.last().cloned().unwrap_or_default());
    let taken = store
        .booked_places_between(TENANTS[0], "counter-booking", &first_slot, &format!("{last_slot}~"))
        .await
        .map_err(|e| e.to_string())?;
    let overbooked: Vec<_> = taken.iter().filter(|(_, n)| **n > CAPACITY as i64).collect();
    if !overbooked.is_empty() {
        problems.push(format!("overbooked slots: {overbooked:?}"));
    }
    let booked: i64 = taken.values().sum();
    let acknowledged_bookings = acknowledged.iter().filter(|(_, _, slot)| slot.is_some()).count();
    if (booked as usize) < acknowledged_bookings {
        problems.push(format!("{acknowledged_bookings} bookings acknowledged, {booked} places taken"));
    }
    drop(second);
    let report = format!(
        "{} residents in {seconds} s through haproxy to 2 nodes (node 1 killed after {} had begun): \
         {} acknowledged ({acknowledged_bookings} bookings), {full} found their slot full, {failed} without an answer; \
         {stored_total} stored; {booked} of {} places taken, none over {CAPACITY} a slot",
        outcomes.len(),
        sent_before_kill,
        acknowledged.len(),
        slots.len() * CAPACITY,
    );
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(format!("{report}\n{}", problems.join("\n")))
    }
}

/// 送信 per second through haproxy to `n` nodes on PostgreSQL.
async fn bench_nodes(binary: &std::path::Path, n: usize, requests: usize, concurrency: usize) -> (f64, f64) {
    let (counter, nodes) = TestCounter::start_nodes(binary, Engine::Postgres, &[], n).await;
    let mut backends = vec![counter.url.clone()];
    backends.extend(nodes.iter().map(|node| node.url.clone()));
    let haproxy = Haproxy::start(&backends).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let base = format!("{}/t/aoba-city/f/water-start", haproxy.url);
    let drafts = testkit::bounded(concurrency, requests, |i| {
        let (client, url) = (client.clone(), format!("{base}/confirm"));
        async move {
            let answers = testkit::water_start_answers(&format!("ベンチ {i}"));
            let page = client.post(url).form(&answers).send().await.expect("confirm").text().await.expect("page");
            testkit::hidden_input(&page, "_draft").expect("a draft")
        }
    })
    .await;
    let confirm_rate = requests as f64 / drafts.1.as_secs_f64();
    let drafts = Arc::new(drafts.0);
    let (receipts, elapsed) = testkit::bounded(concurrency, requests, |i| {
        let (client, url, drafts) = (client.clone(), format!("{base}/submit"), Arc::clone(&drafts));
        async move {
            let body = [("_draft", drafts[i].as_str())];
            let page = client.post(url).form(&body).send().await.expect("submit").text().await.expect("page");
            testkit::element_text(&page, "receipt-number").expect("a receipt")
        }
    })
    .await;
    assert_eq!(receipts.iter().collect::<HashSet<_>>().len(), requests, "one 到達番号 each");
    (confirm_rate, requests as f64 / elapsed.as_secs_f64())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(binary) = args.get(1).map(PathBuf::from) else {
        eprintln!("usage: drill-nodes MADOGUCHI_BINARY [--short] [--vault-url s3://BUCKET] [--bench] [--requests N]");
        return ExitCode::from(2);
    };
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    if args.iter().any(|a| a == "--bench") {
        let requests: usize = value("--requests").and_then(|n| n.parse().ok()).unwrap_or(2000);
        let concurrency = 32;
        let (_hello, hello_url) = testkit::start_hello().await;
        let haproxy = Haproxy::start(&[hello_url]).await;
        let client = reqwest::Client::new();
        let (_, elapsed) = testkit::bounded(concurrency, requests, |_| {
            let (client, url) = (client.clone(), format!("{}/", haproxy.url));
            async move { client.get(url).send().await.expect("hello").status() }
        })
        .await;
        let ceiling = requests as f64 / elapsed.as_secs_f64();
        println!(
            "{requests} requests per row at {concurrency} clients, through haproxy on loopback; PostgreSQL; \
             a vault directory the nodes share.\n"
        );
        println!("| behind haproxy | 確認 req/s | 送信 req/s |");
        println!("|---|---|---|");
        println!("| bare hyper \"hello\" (ceiling, GET) | {ceiling:.0} | |");
        for n in [1, 2] {
            let (confirm, submit) = bench_nodes(&binary, n, requests, concurrency).await;
            println!("| {n} counter node{} | {confirm:.0} | {submit:.0} |", if n == 1 { "" } else { "s" });
        }
        return ExitCode::SUCCESS;
    }
    let short = args.iter().any(|a| a == "--short");
    match drill(&binary, short, value("--vault-url").as_deref()).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(report) => {
            eprintln!("{report}");
            ExitCode::FAILURE
        }
    }
}
