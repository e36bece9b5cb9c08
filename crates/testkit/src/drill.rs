//! The flood drill: ten tenants on loopback, an attacker flooding one of
//! them from many source addresses, and residents of every tenant opening a
//! form, pausing as people do, and sending it. Run against the counter with
//! its shield, with nginx `limit_req` in front instead, and with nothing.
//!
//! Everything goes to 127.0.0.0/8 only, and every run is bounded in time
//! and in the number of requests and connections it may have open.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Engine, TestCounter};

/// The attacked tenant; B–J are the other nine.
pub const TENANT_A: &str = "aoba-city";
/// The ten tenants: the demo's three and seven demo towns.
pub fn tenants() -> Vec<String> {
    let mut all = vec!["aoba-city".to_owned(), "sakura-town".to_owned(), "kawabe-village".to_owned()];
    all.extend((1..=7).map(|n| format!("demo-town-{n:02}")));
    all
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The counter with its shield (production defaults).
    Shield,
    /// nginx `limit_req` per address in front; the counter's shield off.
    Nginx,
    /// Nothing in front, shield off.
    Bare,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Shield => "madoguchi shield",
            Mode::Nginx => "nginx limit_req",
            Mode::Bare => "no shield",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DrillConfig {
    /// How long the flood lasts.
    pub seconds: u64,
    /// Residents per tenant B–J.
    pub residents: usize,
    /// Residents of A who opened the form before the flood.
    pub residents_before: usize,
    /// Distinct attacker source addresses (each in its own /24).
    pub attackers: usize,
    /// Offered attack rate as a multiple of the measured capacity.
    pub multiplier: f64,
    /// At most this many attack requests (and slow connections) open at once.
    pub max_open: usize,
    /// A resident's pause between opening the form and sending it.
    pub pause: (Duration, Duration),
}

impl DrillConfig {
    pub fn full() -> DrillConfig {
        DrillConfig {
            seconds: 40,
            residents: 40,
            residents_before: 40,
            attackers: 32,
            multiplier: 10.0,
            max_open: 2048,
            pause: (Duration::from_secs(2), Duration::from_secs(6)),
        }
    }

    pub fn short() -> DrillConfig {
        DrillConfig {
            seconds: 15,
            residents: 10,
            residents_before: 10,
            attackers: 32,
            multiplier: 10.0,
            max_open: 1024,
            pause: (Duration::from_millis(500), Duration::from_secs(2)),
        }
    }
}

/// Success and latency of one group of residents.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub attempted: usize,
    pub succeeded: usize,
    /// Every request's latency, ms.
    pub latencies: Vec<f64>,
}

impl Group {
    pub fn success(&self) -> f64 {
        if self.attempted == 0 {
            return 1.0;
        }
        self.succeeded as f64 / self.attempted as f64
    }

    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    }
}

#[derive(Debug, Clone)]
pub struct DrillReport {
    pub mode: Mode,
    pub others: Group,
    pub a_before: Group,
    pub offered_per_sec: f64,
    /// Sent: offered less what the attacker's own open-request budget held back.
    pub sent_per_sec: f64,
    pub reached_app_per_sec: f64,
    pub refused_per_sec: f64,
    pub failed_per_sec: f64,
    pub peak_rss_mib: f64,
}

fn answers() -> Vec<(String, String)> {
    crate::water_start_answers("")
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&").replace("&quot;", "\""))
}

/// One request of a resident, retried (as a person would press again)
/// up to three times on 429/503 after the Retry-After, at most 1 s.
async fn step(
    client: &reqwest::Client,
    request: impl Fn() -> reqwest::RequestBuilder,
    latencies: &mut Vec<f64>,
) -> Option<String> {
    for _ in 0..3 {
        let started = Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(10), request().send()).await;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let Ok(Ok(response)) = response else { continue };
        let status = response.status().as_u16();
        if status == 429 || status == 503 {
            let wait: u64 = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_millis((wait * 1000).min(1000))).await;
            continue;
        }
        let body = response.text().await.ok()?;
        let _ = client;
        return (status < 400).then_some(body);
    }
    None
}

/// Opens the form; under-attack mode's proof of work is done as a browser
/// would.
async fn open_form(client: &reqwest::Client, base: &str, tenant: &str, latencies: &mut Vec<f64>) -> bool {
    let url = format!("{base}/t/{tenant}/f/water-start");
    let Some(page) = step(client, || client.get(&url), latencies).await else { return false };
    if !page.contains("pow-form") {
        return page.contains("<form");
    }
    let (Some(text), Some(difficulty)) = (
        hidden(&page, "challenge"),
        page.split("data-difficulty=\"").nth(1).and_then(|r| r.split('"').next()).and_then(|d| d.parse::<u8>().ok()),
    ) else {
        return false;
    };
    let challenge = shield::pow::Challenge { text: text.clone(), difficulty, wait_secs: 0 };
    let counter = tokio::task::spawn_blocking(move || shield::pow::solve(&challenge)).await.unwrap_or(0).to_string();
    let form = [
        ("tenant", tenant.to_owned()),
        ("return", format!("/t/{tenant}/f/water-start")),
        ("challenge", text),
        ("counter", counter),
    ];
    let pass_url = format!("{base}/_shield/pass");
    let Some(page) = step(client, || client.post(&pass_url).form(&form), latencies).await else { return false };
    page.contains("<form")
}

/// Confirm, then send; true with a receipt.
async fn send_form(client: &reqwest::Client, base: &str, tenant: &str, latencies: &mut Vec<f64>) -> bool {
    let confirm = format!("{base}/t/{tenant}/f/water-start/confirm");
    let answers = answers();
    let Some(page) = step(client, || client.post(&confirm).form(&answers), latencies).await else { return false };
    let Some(draft) = hidden(&page, "_draft") else { return false };
    let submit = format!("{base}/t/{tenant}/f/water-start/submit");
    let form = [("_draft", draft)];
    let Some(receipt) = step(client, || client.post(&submit).form(&form), latencies).await else { return false };
    receipt.contains("receipt-number")
}

fn resident_client(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap_or_default()
}

struct AttackCounts {
    offered: AtomicU64,
    unsent: AtomicU64,
    reached: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// The attacker: `config.attackers` addresses, each in its own /24, at
/// `rate` requests per second in all, open loop (requests are sent on
/// schedule whatever the answers), a tenth of them slow-header connections.
async fn attack(base: String, rate: f64, config: DrillConfig, until: Instant, counts: Arc<AttackCounts>) {
    let open = Arc::new(tokio::sync::Semaphore::new(config.max_open));
    // Slow connections have a budget of their own, or they would hold
    // every place the attacker has for the server's timeout.
    let slow = Arc::new(tokio::sync::Semaphore::new(256));
    let host = base.trim_start_matches("http://").to_owned();
    let per_attacker = (rate / config.attackers as f64).max(1.0);
    let mut tasks = Vec::new();
    for a in 0..config.attackers {
        let source = IpAddr::from([127, 10 + a as u8, 0, 2]);
        let client = reqwest::Client::builder()
            .local_address(source)
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        let (base, host, open, slow, counts) =
            (base.clone(), host.clone(), Arc::clone(&open), Arc::clone(&slow), Arc::clone(&counts));
        tasks.push(tokio::spawn(async move {
            let interval = Duration::from_secs_f64(1.0 / per_attacker);
            let mut next = Instant::now();
            let mut i = 0u64;
            while Instant::now() < until {
                next += interval;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                i += 1;
                counts.offered.fetch_add(1, Ordering::Relaxed);
                let budget = if i % 10 == 9 { &slow } else { &open };
                let Ok(permit) = Arc::clone(budget).try_acquire_owned() else {
                    continue;
                };
                let (client, base, host, counts) = (client.clone(), base.clone(), host.clone(), Arc::clone(&counts));
                tokio::spawn(async move {
                    let _permit = permit;
                    let form = format!("{base}/t/{TENANT_A}/f/water-start");
                    let outcome = match i % 10 {
                        0..=3 => client.get(&form).send().await.map(|r| r.status().as_u16()),
                        4..=6 => client
                            .post(format!("{form}/confirm"))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(format!("applicant=%ZZ%{i:x}&junk={}", "x".repeat(512)))
                            .send()
                            .await
                            .map(|r| r.status().as_u16()),
                        // A valid-looking submission: confirm, then send the
                        // draft (a database write and an fsync each).
                        7 | 8 => match client.post(format!("{form}/confirm")).form(&answers()).send().await {
                            Ok(r) if r.status().is_success() => {
                                let page = r.text().await.unwrap_or_default();
                                match hidden(&page, "_draft") {
                                    Some(draft) => client
                                        .post(format!("{form}/submit"))
                                        .form(&[("_draft", draft)])
                                        .send()
                                        .await
                                        .map(|r| r.status().as_u16()),
                                    None => Ok(0),
                                }
                            }
                            other => other.map(|r| r.status().as_u16()),
                        },
                        _ => {
                            // Slow headers: a few bytes, then nothing, until
                            // the server cuts the connection.
                            if let Some(mut stream) = connect_from(source, &host).await {
                                let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
                                let mut buf = [0u8; 64];
                                let _ = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf)).await;
                            }
                            Ok(0)
                        }
                    };
                    match outcome {
                        Ok(429) | Ok(503) => counts.refused.fetch_add(1, Ordering::Relaxed),
                        Ok(0) | Err(_) => counts.failed.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => counts.reached.fetch_add(1, Ordering::Relaxed),
                    };
                });
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

async fn connect_from(source: IpAddr, host: &str) -> Option<tokio::net::TcpStream> {
    let target: std::net::SocketAddr = host.parse().ok()?;
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(std::net::SocketAddr::new(source, 0)).ok()?;
    socket.connect(target).await.ok()
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Starts the counter for `mode` (and nginx for [`Mode::Nginx`]); returns
/// the counter, the base URL to send traffic to, and nginx if any.
async fn start(binary: &Path, mode: Mode) -> (TestCounter, String, Option<Nginx>) {
    let mut args = vec!["--demo-towns", "7"];
    match mode {
        // Production defaults (overriding the test environment's).
        Mode::Shield => args.extend([
            "--shield-address-rate",
            "20/60",
            "--shield-prefix-rate",
            "200/400",
            "--shield-latency-target-ms",
            "250",
            "--shield-tenant-share",
            "32/64",
            "--shield-concurrency",
            "64/512",
        ]),
        Mode::Nginx | Mode::Bare => args.extend(["--shield", "false"]),
    }
    let counter = TestCounter::start_with(binary, Engine::Sqlite, &args).await;
    if mode == Mode::Nginx {
        let nginx = Nginx::start(&counter.url).await;
        let url = nginx.url.clone();
        return (counter, url, Some(nginx));
    }
    let url = counter.url.clone();
    (counter, url, None)
}

/// Requests per second the counter serves of the attack's mix with no
/// shield (closed loop, 64 at once, 3 s): what "ten times" is ten times of.
pub async fn capacity(binary: &Path) -> f64 {
    let (counter, base, _) = start(binary, Mode::Bare).await;
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for w in 0..64u64 {
        let (client, base, done) = (client.clone(), base.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            let form = format!("{base}/t/{TENANT_A}/f/water-start");
            while Instant::now() < until {
                i += 1;
                let ok = match i % 9 {
                    0..=3 => client.get(&form).send().await.is_ok(),
                    4..=6 => client
                        .post(format!("{form}/confirm"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("applicant=%ZZ")
                        .send()
                        .await
                        .is_ok(),
                    _ => client.post(format!("{form}/confirm")).form(&answers()).send().await.is_ok(),
                };
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    drop(counter);
    done.load(Ordering::Relaxed) as f64 / 3.0
}

/// One drill run.
pub async fn run(binary: &Path, mode: Mode, config: &DrillConfig, attack_rate: f64) -> DrillReport {
    let (counter, base, nginx) = start(binary, mode).await;
    let pid = counter.pid().unwrap_or(0);
    let tenants = tenants();

    // Residents of A who opened the form before the flood.
    let mut before = Vec::new();
    for r in 0..config.residents_before {
        let client = resident_client(IpAddr::from([127, 200, (r / 200) as u8, (r % 200 + 2) as u8]));
        let mut latencies = Vec::new();
        let opened = open_form(&client, &base, TENANT_A, &mut latencies).await;
        before.push((client, opened));
    }

    let counts = Arc::new(AttackCounts {
        offered: 0.into(),
        unsent: 0.into(),
        reached: 0.into(),
        refused: 0.into(),
        failed: 0.into(),
    });
    let started = Instant::now();
    let until = started + Duration::from_secs(config.seconds);
    let attacker = tokio::spawn(attack(base.clone(), attack_rate, config.clone(), until, Arc::clone(&counts)));
    let peak = Arc::new(Mutex::new(0.0f64));
    let sampler = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            while Instant::now() < until + Duration::from_secs(5) {
                let now = rss_mib(pid);
                if let Ok(mut p) = peak.lock() {
                    *p = p.max(now);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    // Residents start spread over the flood (after a second of it), open
    // the form, pause, and send.
    let window = config.seconds.saturating_sub(4).max(1) as f64;
    let mut residents = Vec::new();
    for (t, tenant) in tenants.iter().enumerate().filter(|(_, t)| t.as_str() != TENANT_A) {
        for r in 0..config.residents {
            let offset = Duration::from_secs_f64(1.0 + window * (r as f64 + 0.5) / config.residents as f64);
            let pause = config.pause.0 + (config.pause.1 - config.pause.0).mul_f64(((r * 7 + t) % 10) as f64 / 10.0);
            let (base, tenant) = (base.clone(), tenant.clone());
            let source = IpAddr::from([127, 100 + t as u8, (r / 200) as u8, (r % 200 + 2) as u8]);
            residents.push(tokio::spawn(async move {
                tokio::time::sleep_until((started + offset).into()).await;
                let client = resident_client(source);
                let mut latencies = Vec::new();
                let ok = open_form(&client, &base, &tenant, &mut latencies).await && {
                    tokio::time::sleep(pause).await;
                    send_form(&client, &base, &tenant, &mut latencies).await
                };
                (ok, latencies)
            }));
        }
    }
    let mut a_before = Vec::new();
    for (r, (client, opened)) in before.into_iter().enumerate() {
        let offset = Duration::from_secs_f64(1.0 + window * (r as f64 + 0.5) / config.residents_before.max(1) as f64);
        let base = base.clone();
        a_before.push(tokio::spawn(async move {
            tokio::time::sleep_until((started + offset).into()).await;
            let mut latencies = Vec::new();
            let ok = opened && send_form(&client, &base, TENANT_A, &mut latencies).await;
            (ok, latencies)
        }));
    }
    let collect = |handles: Vec<tokio::task::JoinHandle<(bool, Vec<f64>)>>| async move {
        let mut group = Group::default();
        for handle in handles {
            group.attempted += 1;
            if let Ok((ok, latencies)) = handle.await {
                group.succeeded += usize::from(ok);
                group.latencies.extend(latencies);
            }
        }
        group
    };
    let others = collect(residents).await;
    let a_before = collect(a_before).await;
    let _ = attacker.await;
    let _ = sampler.await;
    let secs = config.seconds as f64;
    let report = DrillReport {
        mode,
        others,
        a_before,
        offered_per_sec: counts.offered.load(Ordering::Relaxed) as f64 / secs,
        sent_per_sec: (counts.offered.load(Ordering::Relaxed) - counts.unsent.load(Ordering::Relaxed)) as f64 / secs,
        reached_app_per_sec: counts.reached.load(Ordering::Relaxed) as f64 / secs,
        refused_per_sec: counts.refused.load(Ordering::Relaxed) as f64 / secs,
        failed_per_sec: counts.failed.load(Ordering::Relaxed) as f64 / secs,
        peak_rss_mib: peak.lock().map(|p| *p).unwrap_or(0.0),
    };
    drop(nginx);
    drop(counter);
    report
}

/// The isolation drill's figures: the nine other tenants before and after
/// one is isolated under a steady load, and how soon the isolated
/// tenant's residents were shown its notice.
#[derive(Debug, Clone)]
pub struct IsolationReport {
    pub before: Group,
    pub after: Group,
    /// From the `tenant isolate` command to every node serving the notice.
    pub notice_after: Duration,
    /// Residents of the isolated tenant shown the notice / who asked.
    pub told: (usize, usize),
}

/// Ten tenants under a steady stream of residents (each opens the water
/// form and sends it); after `seconds`, the operator isolates A with the
/// real command; the stream goes on for `seconds` more.
pub async fn isolation(binary: &Path, seconds: u64, per_tenant_per_sec: f64) -> IsolationReport {
    let (counter, base, _) = start(binary, Mode::Shield).await;
    let tenants = tenants();
    let started = Instant::now();
    let switch_at = started + Duration::from_secs(seconds);
    let until = switch_at + Duration::from_secs(seconds);
    let interval = Duration::from_secs_f64(1.0 / per_tenant_per_sec);
    let mut residents = Vec::new();
    for (t, tenant) in tenants.iter().enumerate() {
        let mut at = started + interval.mul_f64(t as f64 / tenants.len() as f64);
        let mut r = 0usize;
        while at < until {
            let (base, tenant) = (base.clone(), tenant.clone());
            let source = IpAddr::from([127, 100 + t as u8, (r / 200) as u8, (r % 200 + 2) as u8]);
            residents.push(tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                let client = resident_client(source);
                if tenant == TENANT_A && Instant::now() >= switch_at {
                    // After the switch A's residents should get the notice.
                    let page = client.get(format!("{base}/t/{tenant}/f/water-start")).send().await;
                    let told = match page {
                        Ok(page) if page.status() == 503 => {
                            page.text().await.is_ok_and(|p| p.contains("id=\"tenant-contact\""))
                        }
                        _ => false,
                    };
                    return (at, tenant, told, Vec::new());
                }
                let mut latencies = Vec::new();
                let ok = open_form(&client, &base, &tenant, &mut latencies).await
                    && send_form(&client, &base, &tenant, &mut latencies).await;
                (at, tenant, ok, latencies)
            }));
            at += interval;
            r += 1;
        }
    }
    tokio::time::sleep_until(switch_at.into()).await;
    let switched = Instant::now();
    let status = std::process::Command::new(binary)
        .args(["tenant", "isolate", TENANT_A, "--notice-ja", "訓練：このサービスを停止しています。"])
        .args(["--notice-en", "Drill: this service is stopped."])
        .arg("--data-dir")
        .arg(counter.data_dir())
        .args(["--database", &counter.database.url])
        .env_remove("MADOGUCHI_CONFIG")
        .status()
        .expect("madoguchi tenant isolate");
    assert!(status.success(), "tenant isolate failed");
    let probe = reqwest::Client::new();
    while probe.get(format!("{base}/t/{TENANT_A}")).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 503 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let notice_after = switched.elapsed();
    let (mut before, mut after, mut told) = (Group::default(), Group::default(), (0, 0));
    for resident in residents {
        let Ok((at, tenant, ok, latencies)) = resident.await else { continue };
        if tenant == TENANT_A {
            if at >= switch_at {
                told.1 += 1;
                // Allow for the nodes' refresh interval after the switch.
                told.0 += usize::from(ok || at < switch_at + notice_after);
            }
            continue;
        }
        let group = if at < switch_at { &mut before } else { &mut after };
        group.attempted += 1;
        group.succeeded += usize::from(ok);
        group.latencies.extend(latencies);
    }
    drop(counter);
    IsolationReport { before, after, notice_after, told }
}

/// The drill's table, one column per mode.
pub fn table(reports: &[DrillReport], capacity: f64) -> String {
    let mut out = String::new();
    out.push_str(&format!("capacity (attack mix, no shield): {capacity:.0} req/s; attack offered at 10x\n\n"));
    out.push_str("| | ");
    out.push_str(&reports.iter().map(|r| r.mode.label()).collect::<Vec<_>>().join(" | "));
    out.push_str(" |\n|---|");
    out.push_str(&"---|".repeat(reports.len()));
    out.push('\n');
    let mut row = |label: &str, f: &dyn Fn(&DrillReport) -> String| {
        out.push_str(&format!("| {label} | "));
        out.push_str(&reports.iter().map(f).collect::<Vec<_>>().join(" | "));
        out.push_str(" |\n");
    };
    row("residents of B–J: success", &|r| {
        format!("{:.1} % ({}/{})", r.others.success() * 100.0, r.others.succeeded, r.others.attempted)
    });
    row("residents of B–J: p50 / p99 ms", &|r| {
        format!("{:.0} / {:.0}", r.others.percentile(0.5), r.others.percentile(0.99))
    });
    row("residents of A (form opened before): success", &|r| {
        format!("{:.1} % ({}/{})", r.a_before.success() * 100.0, r.a_before.succeeded, r.a_before.attempted)
    });
    row("residents of A: p50 / p99 ms", &|r| {
        format!("{:.0} / {:.0}", r.a_before.percentile(0.5), r.a_before.percentile(0.99))
    });
    row("attack offered req/s", &|r| format!("{:.0}", r.offered_per_sec));
    row("attack dispatched req/s (less what the attacker's budget of open requests held back)", &|r| {
        format!("{:.0}", r.sent_per_sec)
    });
    row("attack reaching the application req/s", &|r| format!("{:.0}", r.reached_app_per_sec));
    row("attack refused (429/503) req/s", &|r| format!("{:.0}", r.refused_per_sec));
    row("attack not answered (timeouts, cut slow connections) req/s", &|r| format!("{:.0}", r.failed_per_sec));
    row("counter peak RSS MiB", &|r| format!("{:.0}", r.peak_rss_mib));
    out
}

/// nginx in front of the counter with `limit_req` per address (Debian's
/// nginx, run as this user with everything in a temporary directory).
pub struct Nginx {
    pub url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub async fn start(upstream: &str) -> Nginx {
        let dir = tempfile::tempdir().expect("nginx dir");
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
            listener.local_addr().expect("addr").port()
        };
        let upstream = upstream.trim_start_matches("http://");
        let root = dir.path().display().to_string();
        let conf = format!(
            "worker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n\
               fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n\
               client_header_timeout 10s;\n  client_body_timeout 10s;\n\
               limit_req_zone $binary_remote_addr zone=per_address:10m rate=20r/s;\n\
               upstream counter {{ server {upstream}; keepalive 64; }}\n\
               server {{\n    listen 127.0.0.1:{port};\n\
                 location / {{\n      limit_req zone=per_address burst=60 nodelay;\n      limit_req_status 429;\n\
                   proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
                   proxy_set_header Host $host;\n      proxy_pass http://counter;\n    }}\n  }}\n}}\n"
        );
        let conf_path: PathBuf = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx.conf");
        let nginx =
            ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists()).unwrap_or("nginx");
        let child = std::process::Command::new(nginx)
            .args(["-e", &format!("{root}/error.log"), "-p", &root, "-c"])
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("nginx is needed for this mode (apt-get install nginx-light): {e}"));
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Nginx { url, child, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
