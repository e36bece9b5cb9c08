//! The theft drills of the watch (issue 8, `scripts/drill-theft`): a real
//! counter and desk on loopback, attacked the way the incident reports
//! describe, measuring what leaves before the thief is frozen; and a month
//! of normal clerk work sent to a real desk, counting false alarms.
//!
//! Every request goes to 127.0.0.0/8; sources are loopback addresses
//! (127.x.y.z), one per simulated network. The rules' clock is a file the
//! drill writes (`--watch-clock`), so simulated days pass in seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use store::ReceiptNumber;

use crate::desk::TestDesk;
use crate::{Engine, TestCounter};

/// 2026-11-02 00:00 JST, a Monday.
const MONDAY: i64 = 1_793_545_200;

/// What a theft drill measured.
#[derive(Debug, Clone)]
pub struct Caught {
    pub scenario: &'static str,
    /// Records the thief received before it was refused.
    pub records_out: u64,
    /// From the thief's first read to the refusal (wall time).
    pub after: Duration,
    /// Simulated time from the first read, when the drill simulates days.
    pub simulated: Option<Duration>,
    /// What the ledger says the rule found.
    pub finding: String,
    /// From the refusal until the counter's ledger held the alert.
    pub in_ledger_after: Option<Duration>,
}

/// A false-positive run: alerts raised by normal work.
#[derive(Debug, Clone)]
pub struct Normal {
    pub tenant: String,
    pub clerks: usize,
    pub weeks: f64,
    pub reads: u64,
    pub records: u64,
    pub alerts: Vec<String>,
}

fn client_from(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A staff session straight from the desk's store: what a thief holds
/// after stealing a cookie.
async fn stolen_session(desk: &TestDesk, login: &str) -> String {
    let store = desk.store().await;
    store.add_staff(login, "青葉 太郎", identity::Role::Processor).await.expect("add staff");
    let (id, _) = store.create_session(login).await.expect("session");
    format!("madoguchi_desk={id}")
}

async fn get(client: &reqwest::Client, url: &str, cookie: &str) -> (u16, String) {
    match client.get(url).header("cookie", cookie).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(err) => (0, err.to_string()),
    }
}

/// The newest alert leaf of `tenant` about `principal` (None: none yet).
async fn alert_about(store: &store::Store, tenant: &str, principal: &str) -> Option<String> {
    let filter = store::LedgerFilter {
        tenant: Some(tenant.into()),
        kind: Some(ledger::EventKind::Alert),
        person: Some(principal.into()),
        ..Default::default()
    };
    let found = store.search_ledger(&filter, None, 10).await.ok()?;
    let mut findings: Vec<String> = found
        .into_iter()
        .map(|e| e.event.detail)
        .filter(|d| !d.starts_with("frozen"))
        .map(|d| d.trim_start_matches("alert ").to_owned())
        .collect();
    findings.reverse();
    (!findings.is_empty()).then(|| findings.join("; "))
}

async fn wait_for_alert(
    store: &store::Store,
    tenant: &str,
    principal: &str,
    from: Instant,
) -> (String, Option<Duration>) {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if let Some(detail) = alert_about(store, tenant, principal).await {
            return (detail, Some(from.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ("(no alert in the ledger)".into(), None)
}

/// Burst theft: a stolen staff session exports form after form as fast as
/// it can; then another scrapes records one page at a time.
pub async fn burst(binary: &Path) -> Vec<Caught> {
    let counter = TestCounter::start_with(binary, Engine::Sqlite, &["--shield", "false"]).await;
    let desk = TestDesk::set_up(binary, &counter, "aoba-city");
    for (form, index, year) in [("water-start", 0, 2026), ("staff-exam", 2, 2027), ("information-disclosure", 3, 2028)]
    {
        desk.fill_store(form, index, year, 120).await;
    }
    let server = desk.serve_with(&["--honeytokens-per-form", "0"]).await;
    let store = counter.store().await;
    let client = client_from(IpAddr::from([127, 0, 0, 1]));
    let mut caught = Vec::new();

    let cookie = stolen_session(&desk, "thief.export").await;
    let started = Instant::now();
    let mut out = 0u64;
    for form in ["water-start", "staff-exam", "information-disclosure"] {
        let (status, body) = get(&client, &format!("{}/export?form={form}", server.url), &cookie).await;
        if status != 200 {
            break;
        }
        out += body.lines().count().saturating_sub(1) as u64;
    }
    let after = started.elapsed();
    let refused_at = Instant::now();
    let (finding, in_ledger_after) = wait_for_alert(&store, "aoba-city", "staff:thief.export", refused_at).await;
    caught.push(Caught {
        scenario: "burst: export every form",
        records_out: out,
        after,
        simulated: None,
        finding,
        in_ledger_after,
    });

    let cookie = stolen_session(&desk, "thief.scrape").await;
    let started = Instant::now();
    let mut out = 0u64;
    for seq in 1..=120 {
        for year in [2026, 2027, 2028] {
            let receipt = ReceiptNumber { year, seq };
            let (status, _) = get(&client, &format!("{}/records/{receipt}", server.url), &cookie).await;
            if status != 200 {
                let after = started.elapsed();
                let (finding, in_ledger_after) =
                    wait_for_alert(&store, "aoba-city", "staff:thief.scrape", Instant::now()).await;
                caught.push(Caught {
                    scenario: "burst: open records one by one",
                    records_out: out,
                    after,
                    simulated: None,
                    finding,
                    in_ledger_after,
                });
                return caught;
            }
            out += 1;
        }
    }
    caught.push(Caught {
        scenario: "burst: open records one by one",
        records_out: out,
        after: started.elapsed(),
        simulated: None,
        finding: "(never refused)".into(),
        in_ledger_after: None,
    });
    caught
}

/// Honeytoken: the desk plants synthetic applicants; someone walking the
/// 到達番号 opens one.
pub async fn honeytoken(binary: &Path) -> Caught {
    let counter = TestCounter::start_with(binary, Engine::Sqlite, &["--shield", "false"]).await;
    let store = counter.store().await;
    let desk = TestDesk::set_up(binary, &counter, "aoba-city");
    let public = store.current_tenant_key("aoba-city").await.ok().flatten().expect("the desk's key");
    crate::seal_into_store(&store, "aoba-city", &public, 40, 4, |i| format!("{{\"n\":{i}}}").into_bytes()).await;
    let server = desk.serve_with(&["--honeytokens-per-form", "1"]).await;
    let desk_store = desk.store().await;
    let forms = store.tenant_forms("aoba-city").await.map(|f| f.len()).unwrap_or(0) as i64;
    let until = Instant::now() + Duration::from_secs(60);
    while desk_store.count_records().await.unwrap_or(0) < 40 + forms && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let planted = desk_store.honeytokens().await.unwrap_or_default();
    let cookie = stolen_session(&desk, "walker").await;
    let client = client_from(IpAddr::from([127, 0, 0, 1]));
    let year = planted.first().map(|r| r.year).unwrap_or(2026);
    let mut out = 0u64;
    let mut touched_at = None;
    for seq in 1..=200 {
        let receipt = ReceiptNumber { year, seq };
        let opened = Instant::now();
        let (status, _) = get(&client, &format!("{}/records/{receipt}", server.url), &cookie).await;
        if status != 200 {
            touched_at = Some((opened, opened.elapsed()));
            break;
        }
        out += 1;
    }
    let (opened, refused_in) = touched_at.unwrap_or((Instant::now(), Duration::ZERO));
    let (finding, in_ledger_after) = wait_for_alert(&store, "aoba-city", "staff:walker", opened).await;
    Caught {
        scenario: "honeytoken: walk the 到達番号",
        records_out: out,
        after: refused_in,
        simulated: None,
        finding,
        in_ledger_after,
    }
}

/// Low-and-slow: a stolen desk key re-pulls what its desk already holds,
/// ten records at a time, `per_day`, from `addresses` source addresses in
/// turn over simulated days.
pub async fn low_and_slow(binary: &Path, per_day: u64, addresses: u8) -> Caught {
    let clock_dir = tempfile::tempdir().expect("temp dir");
    let clock = clock_dir.path().join("watch-clock");
    let start = MONDAY + 9 * 3600;
    std::fs::write(&clock, start.to_string()).expect("clock file");
    let clock_arg = clock.display().to_string();
    let counter =
        TestCounter::start_with(binary, Engine::Sqlite, &["--shield", "false", "--watch-clock", &clock_arg]).await;
    let store = counter.store().await;
    let desk = TestDesk::set_up(binary, &counter, "aoba-city");
    let public = store.current_tenant_key("aoba-city").await.ok().flatten().expect("the desk's key");
    crate::seal_into_store(&store, "aoba-city", &public, 2000, 8, |i| format!("{{\"n\":{i}}}").into_bytes()).await;
    desk.run(&["desk", "sync"]);
    desk.run(&["desk", "sync"]);
    let keys = desk.unlock();
    let sources: Vec<IpAddr> = (0..addresses.max(1)).map(|i| IpAddr::from([127, 0, 3, 10 + i])).collect();
    let clients: Vec<reqwest::Client> = sources.iter().map(|s| client_from(*s)).collect();

    let started = Instant::now();
    let mut out = 0u64;
    let mut after = ReceiptNumber::START;
    let chunks_per_day = per_day.div_ceil(10).max(1);
    let mut pull = 0usize;
    for day in 0..60i64 {
        for chunk in 0..chunks_per_day {
            // Spread over office hours, 9:00–17:00.
            let at = start + day * 86_400 + (chunk as i64 * 8 * 3600) / chunks_per_day as i64;
            std::fs::write(&clock, at.to_string()).expect("clock file");
            let path = format!("/api/desk/v1/records?after={after}&limit=10");
            let answer = signed_get(&clients[pull % clients.len()], &counter.url, &keys, &path).await;
            pull += 1;
            match answer {
                Some(page) => {
                    let records = page["records"].as_array().map(|r| r.len()).unwrap_or(0) as u64;
                    out += records;
                    if let Some(next) = page["next_after"].as_str().and_then(ReceiptNumber::parse) {
                        after = next;
                    }
                }
                None => {
                    let wall = started.elapsed();
                    let principal = format!("desk:{}", keys.desk_id);
                    let (finding, in_ledger_after) =
                        wait_for_alert(&store, "aoba-city", &principal, Instant::now()).await;
                    return Caught {
                        scenario: if addresses > 4 {
                            "low-and-slow: stolen desk key, 20 addresses"
                        } else {
                            "low-and-slow: stolen desk key, 2 addresses"
                        },
                        records_out: out,
                        after: wall,
                        simulated: Some(Duration::from_secs((at - start) as u64)),
                        finding,
                        in_ledger_after,
                    };
                }
            }
        }
    }
    Caught {
        scenario: "low-and-slow: stolen desk key",
        records_out: out,
        after: started.elapsed(),
        simulated: Some(Duration::from_secs(60 * 86_400)),
        finding: "(never refused)".into(),
        in_ledger_after: None,
    }
}

/// A desk API GET signed with the desk key, from `client`'s address; None
/// when refused.
async fn signed_get(
    client: &reqwest::Client,
    base: &str,
    keys: &desk::KeyRing,
    path: &str,
) -> Option<serde_json::Value> {
    let nonce = format!("{:032x}", rand::random::<u128>());
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let request = seal::SignedRequest {
        desk_id: &keys.desk_id,
        method: "GET",
        path_and_query: path,
        timestamp,
        nonce: &nonce,
        body: b"",
    };
    let signature = keys.signing_key().sign_request(&request);
    let response = client
        .get(format!("{base}{path}"))
        .header("x-madoguchi-desk", &keys.desk_id)
        .header("x-madoguchi-timestamp", timestamp.to_string())
        .header("x-madoguchi-nonce", &nonce)
        .header("x-madoguchi-signature", signature)
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// False positives: `weeks` of the scripted normal work of one tenant's
/// clerks (`watch::workload`) sent to a real desk, on the drill's clock.
pub async fn normal_work(binary: &Path, tenant_index: usize, weeks: i64) -> Normal {
    let tenants = ["aoba-city", "sakura-town", "kawabe-village"];
    let tenant = tenants[tenant_index % tenants.len()];
    let clock_dir = tempfile::tempdir().expect("temp dir");
    let clock = clock_dir.path().join("watch-clock");
    std::fs::write(&clock, MONDAY.to_string()).expect("clock file");
    let clock_arg = clock.display().to_string();
    let counter = TestCounter::start_with(binary, Engine::Sqlite, &["--shield", "false"]).await;
    let desk = TestDesk::set_up(binary, &counter, tenant);
    desk.fill_store("water-start", 0, 2026, 300).await;
    desk.fill_store("staff-exam", 2, 2027, 50).await;
    let server = desk.serve_with(&["--honeytokens-per-form", "0", "--watch-clock", &clock_arg]).await;

    // The workload's tenant names stand for the shape of the office; the
    // reads go to this desk.
    let workload = watch::workload::normal_work(&tenants, weeks * 7, MONDAY, 0x2545_f491_4f6c_dd1d);
    let shape = tenants[tenant_index % tenants.len()];
    let reads: Vec<_> =
        workload.into_iter().filter(|r| r.tenant == shape && r.principal.starts_with("staff:")).collect();
    let mut sessions: HashMap<String, String> = HashMap::new();
    let mut clients: HashMap<String, reqwest::Client> = HashMap::new();
    let (mut records, mut opened) = (0u64, 0i64);
    let clerks = reads.iter().map(|r| r.principal.clone()).collect::<std::collections::BTreeSet<_>>().len();
    for read in &reads {
        std::fs::write(&clock, read.at.to_string()).expect("clock file");
        let login = format!("clerk{}", read.principal.rsplit("clerk").next().unwrap_or("0"));
        if !sessions.contains_key(&login) {
            let cookie = stolen_session(&desk, &login).await;
            sessions.insert(login.clone(), cookie);
        }
        // 10.T.1.N (the town hall that day) → 127.T+1.1.N on loopback.
        let source = read.source.clone().unwrap_or_default();
        let octets: Vec<u8> = source.split('.').filter_map(|o| o.parse().ok()).collect();
        let local =
            IpAddr::from([127, octets.get(1).copied().unwrap_or(0) + 1, 1, octets.get(3).copied().unwrap_or(10)]);
        let client = clients.entry(local.to_string()).or_insert_with(|| client_from(local)).clone();
        let cookie = &sessions[&login];
        let url = if read.records == 1 {
            opened = opened % 300 + 1;
            format!("{}/records/{}", server.url, ReceiptNumber { year: 2026, seq: opened })
        } else {
            format!("{}/export?form=staff-exam", server.url)
        };
        let (status, body) = get(&client, &url, cookie).await;
        if status == 200 {
            records += if read.records == 1 { 1 } else { body.lines().count().saturating_sub(1) as u64 };
        }
    }
    let log = desk.store().await.access_log().await.unwrap_or_default();
    let alerts = log.into_iter().filter(|(_, action, _)| action == "alert").map(|(actor, _, _)| actor).collect();
    Normal { tenant: tenant.to_owned(), clerks, weeks: weeks as f64, reads: reads.len() as u64, records, alerts }
}
