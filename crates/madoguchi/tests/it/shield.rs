//! The shield in front of a real counter: per-source rate limits with
//! cheap refusals, under-attack mode with its proof-of-work page (and the
//! no-JavaScript path), residents already filling a form let through, and
//! the operator's /metrics; with several nodes, the limits and the spent
//! answers shared through Redis, and each node on its own when Redis fails.

use std::net::IpAddr;
use std::time::Duration;

use testkit::{Engine, TestCounter};

use crate::admin::Browser;
use crate::{hidden_input, madoguchi};

async fn start_with(args: &[&str]) -> TestCounter {
    TestCounter::start_with(madoguchi(), Engine::Sqlite, args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_over_its_rate_is_refused_cheaply_while_another_is_served() {
    let counter = start_with(&["--shield-address-rate", "5/10"]).await;
    let mut flooder = Browser::from(&counter, Some(IpAddr::from([127, 0, 0, 7])));
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..40 {
        let page = flooder.get("/t/aoba-city/f/water-start").await;
        if page.status == 429 && retry_after.is_none() {
            assert!(page.body.contains("アクセスが集中しています"), "{}", page.body);
            retry_after = Some(page.status);
        }
        statuses.push(page.status.as_u16());
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!((25..=32).contains(&refused), "a burst of 10 and about 5/s more pass: {statuses:?}");
    let mut neighbour = Browser::from(&counter, Some(IpAddr::from([127, 0, 0, 8])));
    assert_eq!(neighbour.get("/t/aoba-city/f/water-start").await.status, 200, "another address is not affected");
}

/// Switches under-attack mode with the real command and waits until the
/// counter has read it (it reads the switch every few seconds).
async fn switch(counter: &TestCounter, tenant: &str, state: &str) {
    crate::operator_command(counter, &["tenant", "under-attack", tenant, state].map(std::ffi::OsStr::new));
    let want_challenge = state == "on";
    for _ in 0..100 {
        // A new visitor each time (a form session would skip the check).
        let page = Browser::new(counter).get(&format!("/t/{tenant}/f/water-start")).await;
        if page.body.contains("pow-form") == want_challenge {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the counter did not follow the switch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_attack_new_visitors_work_for_a_pass_while_residents_already_filling_a_form_go_on() {
    let counter = start_with(&[]).await;
    // A resident opened the form before the flood: they hold a form session.
    let mut resident = Browser::new(&counter);
    assert_eq!(resident.get("/t/aoba-city/f/water-start").await.status, 200);
    assert!(resident.cookie("madoguchi_fs").is_some(), "a form session comes with the form");

    switch(&counter, "aoba-city", "on").await;

    // The resident is not asked; a newcomer gets the proof-of-work page.
    let page = resident.get("/t/aoba-city/f/water-start").await;
    assert!(page.body.contains("水道使用開始届") && !page.body.contains("pow-form"), "{}", page.body);
    let mut newcomer = Browser::new(&counter);
    let page = newcomer.get("/t/aoba-city/f/water-start").await;
    assert!(page.body.contains("pow-form"), "{}", page.body);
    // Other municipalities are not affected.
    assert!(!Browser::new(&counter).get("/t/sakura-town/f/water-start").await.body.contains("pow-form"));

    // The browser's work: find the counter, send it, get a pass.
    let text = hidden_input(&page.body, "challenge").expect("challenge");
    let difficulty: u8 =
        page.body.split("data-difficulty=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().parse().unwrap();
    let challenge = shield::pow::Challenge { text: text.clone(), difficulty, wait_secs: 0 };
    let solution = shield::pow::solve(&challenge).to_string();
    let answer = [
        ("tenant", "aoba-city"),
        ("return", "/t/aoba-city/f/water-start"),
        ("challenge", text.as_str()),
        ("counter", solution.as_str()),
    ];
    let passed = newcomer.post("/_shield/pass", &answer).await;
    assert_eq!((passed.status.as_u16(), passed.location.as_str()), (303, "/t/aoba-city/f/water-start"));
    let form = newcomer.get("/t/aoba-city/f/water-start").await;
    assert!(form.body.contains("水道使用開始届") && !form.body.contains("pow-form"));
    // The same answer again is refused: a challenge passes once.
    let mut replayer = Browser::new(&counter);
    assert_eq!(replayer.post("/_shield/pass", &answer).await.status, 403);

    // Without JavaScript: pressing at once is too early, and says so.
    let mut patient = Browser::new(&counter);
    let page = patient.get("/t/aoba-city/f/water-start").await;
    let text = hidden_input(&page.body, "challenge").unwrap();
    let early = patient
        .post(
            "/_shield/pass",
            &[("tenant", "aoba-city"), ("return", "/t/aoba-city/f/water-start"), ("challenge", &text)],
        )
        .await;
    assert_eq!(early.status.as_u16(), 425);
    assert!(early.body.contains("まだ待ち時間が終わっていません"));

    switch(&counter, "aoba-city", "off").await;
    let entries = counter.store().await.ledger_entries(0, 1000).await.unwrap();
    assert!(entries.iter().any(|e| e.event.detail == "under-attack mode on" && e.event.actor == "operator:cli"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_scrapes_metrics_with_per_tenant_series_and_no_personal_data() {
    let counter = start_with(&[]).await;
    let marker = "シールド計測マーカー太郎";
    crate::apply(&counter, "aoba-city", "water-start", &crate::water_start_answers(&[("notes", marker)])).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut scraper = Browser::new(&counter);
    let page = scraper.get("/metrics").await;
    assert_eq!(page.status, 200);
    let mut series = std::collections::BTreeSet::new();
    for line in page.body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let name = line.split(['{', ' ']).next().unwrap();
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "a sample line: {line}");
        series.insert(name.to_owned());
    }
    for name in [
        "shield_requests_total",
        "shield_limit",
        "shield_in_flight",
        "shield_queue_depth",
        "shield_latency_seconds_count",
    ] {
        assert!(series.contains(name), "{name} missing from {series:?}");
    }
    assert!(page.body.contains("tenant=\"aoba-city\""), "per-tenant series");
    assert!(!page.body.contains(marker) && !page.body.contains("山田"), "no personal data in metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_its_headers_slowly_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let counter = start_with(&[]).await;
    let address = counter.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /t/aoba-city/f/water-start HTTP/1.1\r\nHost: madoguchi\r\n").await.unwrap();
    let started = std::time::Instant::now();
    // Never finish the headers: the counter closes the connection itself.
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "the connection was not closed within 30 s");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(20), "cut after {waited:?}");
    // Meanwhile, and after, everyone else is served.
    assert_eq!(Browser::new(&counter).get("/t/aoba-city/f/water-start").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_in_slowly_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let counter = start_with(&[]).await;
    let address = counter.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        b"POST /t/aoba-city/f/water-start/confirm HTTP/1.1\r\nHost: madoguchi\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\napplicant=",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    // A byte every two seconds: the body never completes in time.
    // Read the answer while trickling: it comes when the counter gives up.
    let mut answer = Vec::new();
    let (mut reader, mut writer) = slow.split();
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if writer.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = trickle => {}
        _ = reader.read_to_end(&mut answer) => {}
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(16), "cut after {waited:?}");
}

/// The Redis every development and CI machine runs (`MADOGUCHI_TEST_REDIS`
/// to use another).
fn redis_url() -> String {
    std::env::var("MADOGUCHI_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn require_redis() -> redis::Connection {
    redis::Client::open(redis_url())
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
        .unwrap_or_else(|err| panic!("Redis at {} is needed for this test: {err}", redis_url()))
}

/// The sum of a series on a node's /metrics (0 when absent). Each scrape
/// comes from an address of its own (127.0.0.100 on), so scraping never
/// spends a tested address's tokens.
async fn metric(base: &str, name: &str) -> f64 {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 150;
    let page = Browser::at(base, Some(IpAddr::from([127, 0, 0, 100 + n]))).get("/metrics").await;
    assert_eq!(page.status, 200);
    page.body
        .lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until a node has its connection to Redis (its housekeeping says so
/// within a second of start).
async fn wait_until_shared(base: &str) {
    for _ in 0..100 {
        if metric(base, "shield_shared_state_up").await == 1.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} did not connect to Redis at {}", redis_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_sharing_redis_give_an_address_one_limit_not_one_each() {
    let _ = require_redis();
    let redis = redis_url();
    // One token a second: the burst of 10 is all there is while the test runs.
    let node_a = start_with(&["--redis-url", &redis, "--shield-address-rate", "1/10"]).await;
    let node_b = node_a.second_node().await;
    wait_until_shared(&node_a.url).await;
    wait_until_shared(&node_b.url).await;
    let source = Some(IpAddr::from([127, 0, 0, 21]));
    let mut browsers = [Browser::from(&node_a, source), Browser::at(&node_b.url, source)];
    let mut admitted = [0; 2];
    for i in 0..20 {
        let page = browsers[i % 2].get("/healthz").await;
        match page.status.as_u16() {
            200 => admitted[i % 2] += 1,
            429 => {}
            other => panic!("{other}: {}", page.body),
        }
    }
    // Each node alone would let 10 through, 20 in all; a slow machine may
    // see the one token a second adds.
    let total = admitted[0] + admitted[1];
    assert!((10..=11).contains(&total), "one burst for both nodes: {admitted:?}");
    assert!(admitted[0] >= 5 && admitted[1] >= 5, "both nodes served: {admitted:?}");
    assert_eq!(metric(&node_a.url, "shield_shared_state_errors_total").await, 0.0);
    assert_eq!(metric(&node_b.url, "shield_shared_state_errors_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_one_node_accepted_is_refused_by_another() {
    let mut redis = require_redis();
    let node_a = start_with(&["--redis-url", &redis_url()]).await;
    let node_b = node_a.second_node().await;
    wait_until_shared(&node_a.url).await;
    wait_until_shared(&node_b.url).await;
    switch(&node_a, "aoba-city", "on").await;
    // Node B reads the switch from the same database.
    let mut challenged = false;
    for _ in 0..100 {
        if Browser::at(&node_b.url, None).get("/t/aoba-city/f/water-start").await.body.contains("pow-form") {
            challenged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(challenged, "node B did not follow the switch");

    let mut newcomer = Browser::from(&node_a, None);
    let page = newcomer.get("/t/aoba-city/f/water-start").await;
    let text = hidden_input(&page.body, "challenge").expect("challenge");
    let difficulty: u8 =
        page.body.split("data-difficulty=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().parse().unwrap();
    let solution = shield::pow::solve(&shield::pow::Challenge { text: text.clone(), difficulty, wait_secs: 0 });
    let solution = solution.to_string();
    let answer = [
        ("tenant", "aoba-city"),
        ("return", "/t/aoba-city/f/water-start"),
        ("challenge", text.as_str()),
        ("counter", solution.as_str()),
    ];
    let passed = newcomer.post("/_shield/pass", &answer).await;
    assert_eq!(passed.status.as_u16(), 303, "node A accepts the answer");
    let mut replayer = Browser::at(&node_b.url, None);
    assert_eq!(replayer.post("/_shield/pass", &answer).await.status, 403, "node B knows it was spent");
    // The pass itself is a signed cookie for the tenant: good on every node.
    let cookie = passed.set_cookie.iter().find_map(|c| c.strip_prefix("madoguchi_pass=")).expect("pass");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let form = reqwest::Client::new()
        .get(format!("{}/t/aoba-city/f/water-start", node_b.url))
        .header("cookie", format!("madoguchi_pass={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("水道使用開始届") && !form.contains("pow-form"));

    // The spent answer's key, and only it, is under the node's prefix.
    use base64::Engine;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&text).unwrap();
    let key = format!("mdg:shield:pow:{}", hex::encode(&token[..16]));
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut redis).unwrap();
    assert!(ttl > 0 && ttl <= 600_000, "remembered until the challenge expires: {ttl}");
    let _: i64 = redis::cmd("DEL").arg(&key).query(&mut redis).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_a_node_falls_back_to_its_own_limits_and_counts_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = format!("redis://127.0.0.1:{closed}");
    let node = start_with(&["--redis-url", &unreachable, "--shield-address-rate", "1/5"]).await;
    let mut browser = Browser::from(&node, Some(IpAddr::from([127, 0, 0, 22])));
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(browser.get("/healthz").await.status.as_u16());
    }
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert!((5..=6).contains(&admitted), "the node's own burst of 5, not a refusal for want of Redis: {statuses:?}");
    assert!(metric(&node.url, "shield_shared_state_errors_total").await >= 1.0);
    assert!(metric(&node.url, "shield_shared_state_fallbacks_total").await >= 1.0);
    assert_eq!(metric(&node.url, "shield_shared_state_up").await, 0.0);
    // The warning says what happened, without the URL's secrets.
    let logs = std::fs::read_to_string(node.root.path().join("logs/stderr.0.log")).unwrap_or_default();
    assert!(logs.contains("shared state (Redis) failed"), "{logs}");
}
