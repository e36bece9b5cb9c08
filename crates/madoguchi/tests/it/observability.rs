//! What an operator sees of a counter node: `/healthz` (the process
//! answers), `/readyz` (ready only while the database and the vault take
//! writes), Prometheus `/metrics` with the series the operations handbook
//! and the Grafana dashboard name, and JSON logs; none of them carries a
//! resident's data, even when a resident types it or puts it in a URL.

use std::collections::BTreeMap;

use testkit::{Engine, TestCounter};

use crate::desk::set_up_desk;
use crate::privacy::{find_marker, MARKER};
use crate::{apply, madoguchi, on_both_engines, water_start_answers};

on_both_engines!(metrics_name_what_an_operator_watches_and_carry_no_personal_data);

/// One sample of a scrape: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads Prometheus' text format (version 0.0.4); panics on a line that is
/// not in it, so a malformed scrape fails the test.
fn parse(scrape: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in scrape.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name.to_owned(), labels_of(body, line))
            }
        };
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "not a metric name: {line}");
        samples.push(Sample { name, labels, value });
    }
    samples
}

/// `k="v",k2="v\"2"` into a map.
fn labels_of(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("bad escape: {line}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The series an operator's dashboards and alerts are built on.
const SERIES: &[&str] = &[
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "shield_requests_total",
    "shield_latency_seconds_bucket",
    "store_group_commit_batch_size_bucket",
    "vault_operation_seconds_bucket",
    "desk_sync_lag_records",
    "desk_last_pull_timestamp_seconds",
    "desk_pulled_records_total",
    "submissions_accepted_total",
    "watch_findings_total",
    "madoguchi_ready",
    "madoguchi_build_info",
];

async fn scrape(counter: &TestCounter) -> String {
    let response = counter.client().get(format!("{}/metrics", counter.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn metrics_name_what_an_operator_watches_and_carry_no_personal_data(engine: Engine) {
    let mut counter = TestCounter::start_with(madoguchi(), engine, &["--log-format", "json"]).await;
    let client = counter.client();
    assert_eq!(client.get(format!("{}/healthz", counter.url)).send().await.unwrap().status(), 200);
    let ready = client.get(format!("{}/readyz", counter.url)).send().await.unwrap();
    assert_eq!((ready.status().as_u16(), ready.text().await.unwrap()), (200, "ready\n".to_owned()));

    // The marker where residents type, and in URLs: a form that does not
    // exist, a postal code lookup, a query string.
    let desk = set_up_desk(&counter, "aoba-city");
    let answers = water_start_answers(&[("applicant", MARKER), ("notes", MARKER), ("property.line", MARKER)]);
    apply(&counter, "aoba-city", "water-start", &answers).await;
    let encoded: String = MARKER.bytes().map(|b| format!("%{b:02X}")).collect();
    for path in [
        format!("/t/aoba-city/f/{encoded}"),
        format!("/postal/{encoded}"),
        format!("/t/aoba-city/f/water-start?name={encoded}"),
        format!("/{encoded}"),
    ] {
        let status = client.get(format!("{}{path}", counter.url)).send().await.unwrap().status();
        assert!(status.is_client_error() || status.is_success(), "{path}: {status}");
    }
    assert!(desk.sync().contains("synced: 1 new records"));

    let text = scrape(&counter).await;
    let samples = parse(&text);
    for name in SERIES {
        assert!(samples.iter().any(|s| s.name == *name), "{name} is not in the scrape:\n{text}");
    }
    // Requests are counted by route template, never by the path sent.
    let submitted = samples.iter().find(|s| {
        s.name == "http_requests_total"
            && s.labels.get("route").map(String::as_str) == Some("/t/{tenant}/f/{form}/submit")
            && s.labels.get("status").map(String::as_str) == Some("200")
    });
    assert!(submitted.is_some_and(|s| s.value >= 1.0), "{text}");
    let routes: Vec<&str> = samples.iter().filter_map(|s| s.labels.get("route").map(String::as_str)).collect();
    assert!(routes.iter().all(|r| *r == "unmatched" || r.starts_with('/')), "{routes:?}");
    assert!(samples.iter().any(|s| s.name == "madoguchi_ready" && s.value == 1.0));
    let accepted = samples.iter().find(|s| {
        s.name == "submissions_accepted_total" && s.labels.get("tenant").map(String::as_str) == Some("aoba-city")
    });
    assert_eq!(accepted.map(|s| s.value), Some(1.0));
    let lag = samples.iter().find(|s| s.name == "desk_sync_lag_records");
    assert_eq!(lag.map(|s| (s.labels.get("desk") == Some(&desk.desk_id), s.value)), Some((true, 0.0)));
    // No label value, nor anything else in the scrape, carries the marker.
    if let Some(encoding) = find_marker(text.as_bytes()) {
        panic!("the scrape carries the marker ({encoding}):\n{text}");
    }

    // The logs are JSON, one object a line, and carry no marker either.
    counter.kill().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(counter.root.path().join("logs/stderr.0.log")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 5, "{log}");
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        assert!(value["level"].is_string() && value["timestamp"].is_string(), "{line}");
    }
    assert!(log.contains("submission accepted"));
    if let Some(encoding) = find_marker(log.as_bytes()) {
        panic!("the logs carry the marker ({encoding})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_vault_takes_no_write_is_not_ready_until_it_does() {
    let counter = crate::start(Engine::Sqlite).await;
    let url = format!("{}/readyz", counter.url);
    let client = counter.client();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    // A file where the probe's folder must go: no object can be written
    // there (as a full or read-only disk would refuse it, even to root).
    let probe = counter.data_dir().join("vault/probe");
    let _ = std::fs::remove_dir_all(&probe);
    std::fs::write(&probe, b"in the way").unwrap();
    // (An answer is given again for a second: probes cost one check a second.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.text().await.unwrap(), "not ready: vault not writable\n");
    let scraped = parse(&scrape(&counter).await);
    assert!(scraped.iter().any(|s| s.name == "madoguchi_ready" && s.value == 0.0));
    assert!(scraped
        .iter()
        .any(|s| s.name == "vault_errors_total" && s.labels.get("op").map(String::as_str) == Some("probe")));
    // Liveness is another question: the process still answers.
    assert_eq!(client.get(format!("{}/healthz", counter.url)).send().await.unwrap().status(), 200);
    std::fs::remove_file(&probe).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_grafana_dashboard_charts_only_series_the_counter_exports() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/madoguchi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 8, "{exprs:?}");
    let known: Vec<&str> = SERIES
        .iter()
        .map(|s| s.trim_end_matches("_bucket"))
        .chain(["shield_under_attack", "shield_in_flight", "shield_queue_depth", "vault_errors_total", "up"])
        .collect();
    for expr in &exprs {
        let names: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| {
                w.contains('_')
                    && (w.starts_with("http_")
                        || w.starts_with("shield_")
                        || w.starts_with("store_")
                        || w.starts_with("vault_")
                        || w.starts_with("desk_")
                        || w.starts_with("submissions_")
                        || w.starts_with("watch_")
                        || w.starts_with("madoguchi_"))
            })
            .collect();
        assert!(!names.is_empty(), "a panel charts no madoguchi series: {expr}");
        for name in names {
            let base = name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
            assert!(known.contains(&base), "{expr}: {name} is not a series the counter exports");
        }
    }
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn a_bad_setting_stops_the_start_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let start = |file_text: &str, env: &[(&str, &str)]| {
        let file = dir.path().join("madoguchi.toml");
        std::fs::write(&file, file_text).unwrap();
        let output = std::process::Command::new(madoguchi())
            .args(["serve", "--config"])
            .arg(&file)
            .args(["--data-dir"])
            .arg(dir.path().join("data"))
            .envs(env.iter().copied())
            .env_remove("MADOGUCHI_CONFIG")
            .output()
            .unwrap();
        assert!(!output.status.success(), "a bad setting must stop the start");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let said = start("listen = \"127.0.0.1:0\"\nlistne = 3\n", &[]);
    assert!(said.contains("unknown field `listne`") && said.contains("expected one of"), "{said}");
    let said = start("shield_address_rate = \"fast\"\n", &[]);
    assert!(said.contains("shield_address_rate"), "{said}");
    let said = start("", &[("MADOGUCHI_REDIS_URL", "http://127.0.0.1:6379")]);
    assert!(said.contains("redis_url"), "{said}");
    let said = start("database = \"mysql://db/madoguchi\"\n", &[]);
    assert!(said.contains("database"), "{said}");
}
