//! # testkit — a real counter for every test
//!
//! Starts the `madoguchi serve` binary on a temporary data directory, on
//! embedded SQLite or on a fresh PostgreSQL schema, listening on a loopback
//! port of its own, with its standard output and error captured to files
//! (so tests can search everything the counter wrote, logs included). Also
//! hands out bare stores for the storage contract tests.
//!
//! It exists for tests and benchmarks only and must never be a dependency
//! of a shipped crate.
#![forbid(unsafe_code)]

pub mod desk;
pub mod drill;
pub mod load;
pub mod oidc;
pub mod residents;
mod smtp;
pub mod theft;

pub use smtp::{ReceivedMail, SmtpSink};

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A complete, valid 水道使用開始届 for the demo prefecture's form, with
/// `note` in its free-text field (start date today in Japan).
pub fn water_start_answers(note: &str) -> Vec<(String, String)> {
    let today = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).date().to_string();
    [
        ("applicant", "山田 太郎"),
        ("applicant.kana", "やまだ たろう"),
        ("phone", "090-1234-5678"),
        ("email", "taro@example.jp"),
        ("email.confirm", "taro@example.jp"),
        ("property.postal", "100-0001"),
        ("property.region", "みどり県青葉市"),
        ("property.line", "中央1-2-3"),
        ("dwelling", "house"),
        ("start_date", today.as_str()),
        ("payment", "slip"),
        ("notes", note),
        ("consent", "yes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl std::str::FromStr for Engine {
    type Err = String;

    /// `sqlite` or `postgres`, as the drills' and benchmarks' flags say it.
    fn from_str(name: &str) -> Result<Engine, String> {
        match name {
            "sqlite" => Ok(Engine::Sqlite),
            "postgres" => Ok(Engine::Postgres),
            other => Err(format!("unknown engine {other:?} (sqlite or postgres)")),
        }
    }
}

/// The PostgreSQL server tests use: `MADOGUCHI_TEST_POSTGRES`, or the local
/// one every development and CI machine runs.
pub fn postgres_url() -> String {
    std::env::var("MADOGUCHI_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database of its own for one test: a SQLite file in a temporary
/// directory, or a fresh schema on the PostgreSQL server.
pub struct TestDatabase {
    pub url: String,
    pub engine: Engine,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(engine: Engine) -> TestDatabase {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.sqlite").display());
                TestDatabase { url, engine, schema: None, _dir: Some(dir) }
            }
            Engine::Postgres => {
                let schema = format!("t_{}", hex::encode(rand::random::<[u8; 8]>()));
                run_on_postgres(&format!("CREATE SCHEMA {schema}")).await;
                let base = postgres_url();
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                TestDatabase { url, engine, schema: Some(schema), _dir: None }
            }
        }
    }

    /// A database inside `dir` (SQLite) so that searches of `dir` cover it.
    pub async fn in_dir(engine: Engine, dir: &Path) -> TestDatabase {
        match engine {
            Engine::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.join("madoguchi.sqlite").display()),
                engine,
                schema: None,
                _dir: None,
            },
            Engine::Postgres => TestDatabase::new(engine).await,
        }
    }

    /// A store on this database with a vault in `vault_dir`.
    pub async fn store(&self, vault_dir: &Path) -> store::Store {
        let vault = store::Vault::local(vault_dir).expect("vault");
        store::Store::open(&self.url, vault).await.expect("open store")
    }

    /// The PostgreSQL schema, when on PostgreSQL (its rows are what the
    /// counter "wrote" there).
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(schema) = self.schema.take() {
            // Best effort: a leftover schema on a developer's machine is
            // harmless, CI machines are fresh.
            let _ = std::process::Command::new("psql")
                .args([&postgres_url(), "-q", "-c", &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

async fn run_on_postgres(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&postgres_url())
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {} is needed for this test: {e}", postgres_url()));
    sqlx::Executor::execute(&mut conn, sql).await.expect(sql);
}

/// A running counter.
pub struct TestCounter {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub engine: Engine,
    /// Everything the counter writes on disk: its data dir and its logs.
    pub root: tempfile::TempDir,
    pub database: TestDatabase,
    child: Child,
    binary: PathBuf,
    args: Vec<String>,
    starts: usize,
}

/// Starts `binary serve` on `root/data`, logging to `root/logs/*.N.log`,
/// and returns it with its URL once it listens.
async fn spawn(binary: &Path, root: &Path, database_url: &str, extra_args: &[String], run: usize) -> (Child, String) {
    let logs = root.join("logs");
    let mut child = Command::new(binary)
        .arg("serve")
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("--database")
        .arg(database_url)
        // Any free port, unless the test chose one (to name it elsewhere
        // first, as an identity provider's redirect address does).
        .args(if extra_args.iter().any(|a| a == "--listen") { &[][..] } else { &["--listen", "127.0.0.1:0"][..] })
        .args(["--hsts", "false"])
        .args(extra_args)
        // Debug logs by default, so searches of the logs cover the most the
        // counter can say; benchmarks turn them down.
        .env(
            "MADOGUCHI_LOG",
            std::env::var("MADOGUCHI_TEST_LOG").unwrap_or_else(|_| "debug,sqlx=info,hyper=info,h2=info".into()),
        )
        .env_remove("MADOGUCHI_CONFIG")
        // The shield stays on, with room for tests that send hundreds of
        // requests from 127.0.0.1 on a debug build; the shield's own tests
        // set its limits with flags (flags win over the environment).
        .env("MADOGUCHI_SHIELD_ADDRESS_RATE", "100000/100000")
        .env("MADOGUCHI_SHIELD_PREFIX_RATE", "100000/100000")
        .env("MADOGUCHI_SHIELD_LATENCY_TARGET_MS", "60000")
        .env("MADOGUCHI_SHIELD_TENANT_SHARE", "1000/1000")
        .env("MADOGUCHI_SHIELD_CONCURRENCY", "4000/8000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the madoguchi binary");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let stderr_log = logs.join(format!("stderr.{run}.log"));
    tokio::spawn(copy_to_file(stderr, stderr_log.clone()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stdout_log = logs.join(format!("stdout.{run}.log"));
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut file = tokio::fs::File::create(stdout_log).await.expect("log file");
        let mut tx = Some(tx);
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
            let _ = file.flush().await;
            if let Some(url) = line.strip_prefix("madoguchi counter: ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url.trim_end_matches('/').to_owned());
                }
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(url)) => (child, url),
        _ => {
            let log = std::fs::read_to_string(&stderr_log).unwrap_or_default();
            panic!("the counter did not start:\n{log}");
        }
    }
}

impl TestCounter {
    /// Starts `binary serve` with the demo prefecture.
    pub async fn start(binary: &Path, engine: Engine) -> TestCounter {
        Self::start_with(binary, engine, &[]).await
    }

    pub async fn start_with(binary: &Path, engine: Engine, extra_args: &[&str]) -> TestCounter {
        Self::start_nodes(binary, engine, extra_args, 1).await.0
    }

    /// Starts the counter again on the same data and database (after
    /// [`TestCounter::kill`], as an operator would after a crash).
    pub async fn restart(&mut self) {
        self.kill().await;
        let (child, url) = spawn(&self.binary, self.root.path(), &self.database.url, &self.args, self.starts).await;
        self.child = child;
        self.url = url;
        self.starts += 1;
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn desk_keys_dir(&self) -> PathBuf {
        self.data_dir().join("desk-keys")
    }

    /// A demo tenant's private key, as its desk would hold it.
    pub fn demo_private_key(&self, tenant: &str) -> seal::TenantPrivateKey {
        counter::demo::load_private_key(&self.desk_keys_dir(), tenant).expect("demo key")
    }

    /// A second handle on the counter's store, for looking at what it kept.
    pub async fn store(&self) -> store::Store {
        self.database.store(&self.data_dir().join("vault")).await
    }

    /// The counter's process id (for memory readings).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
    }

    /// Stops the counter the hard way (as a crash or `kill -9` would).
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// `n` counter processes started at the same moment on one fresh
    /// database and data directory, as nodes brought up together behind a
    /// load balancer: the first is returned as the `TestCounter` (it owns
    /// the data), the others as nodes.
    pub async fn start_nodes(
        binary: &Path,
        engine: Engine,
        extra_args: &[&str],
        n: usize,
    ) -> (TestCounter, Vec<CounterNode>) {
        let root = tempfile::tempdir().expect("temporary directory");
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        std::fs::create_dir_all(root.path().join("logs")).expect("logs dir");
        let database = TestDatabase::in_dir(engine, &data_dir).await;
        let args: Vec<String> = extra_args.iter().map(|a| (*a).to_owned()).collect();
        let started = futures::future::join_all(
            (0..n.max(1)).map(|i| spawn(binary, root.path(), &database.url, &args, if i == 0 { 0 } else { 100 + i })),
        )
        .await;
        let mut started = started.into_iter();
        let (child, url) = started.next().expect("one node at least");
        let nodes = started.map(|(child, url)| CounterNode { url, child }).collect();
        (TestCounter { url, engine, root, database, child, binary: binary.to_owned(), args, starts: 1 }, nodes)
    }

    /// Another counter process on the same database and data directory
    /// (token key, ledger key, vault), as a second node behind a load
    /// balancer would run; it logs beside this one's logs.
    pub async fn second_node(&self) -> CounterNode {
        let run = 100 + self.starts;
        let (child, url) = spawn(&self.binary, self.root.path(), &self.database.url, &self.args, run).await;
        CounterNode { url, child }
    }
}

/// A further counter process started by [`TestCounter::second_node`];
/// killed when dropped.
pub struct CounterNode {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    child: Child,
}

impl CounterNode {
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Seals `count` water-start submissions of `tenant` to `public` straight
/// into `store` (no HTTP), `workers` at a time; `payload(i)` is the i-th
/// submission's plaintext. For tests and benchmarks that need many records.
pub async fn seal_into_store(
    store: &store::Store,
    tenant: &str,
    public: &seal::TenantPublicKey,
    count: usize,
    workers: usize,
    payload: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
) {
    let payload = std::sync::Arc::new(payload);
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let (store, public, tenant, payload) =
                (store.clone(), public.clone(), tenant.to_owned(), std::sync::Arc::clone(&payload));
            tokio::spawn(async move {
                for i in (worker..count).step_by(workers) {
                    let draft = format!("seeded-{tenant}-{i}");
                    let intake = store::Intake {
                        tenant: &tenant,
                        form_id: "water-start",
                        form_version: 1,
                        draft_id: &draft,
                        inquiry_secret: "SEEDEDSEEDED",
                        notify_address: None,
                        booking: None,
                        attachments: &[],
                        respondent: None,
                    };
                    let plaintext = payload(i);
                    let (seal_tenant, seal_key) = (tenant.clone(), public.clone());
                    store
                        .accept(&intake, move |receipt| {
                            let binding =
                                seal::RecordBinding::new(&seal_tenant, "water-start", 1, &receipt.to_string());
                            seal::seal(&seal_key, &binding, &plaintext)
                        })
                        .await
                        .expect("accept a seeded record");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("seeding task");
    }
}

async fn copy_to_file(mut from: impl AsyncRead + Unpin, path: PathBuf) {
    if let Ok(mut file) = tokio::fs::File::create(&path).await {
        let _ = tokio::io::copy(&mut from, &mut file).await;
    }
}

/// Starts `bench-hello` (the bare hyper server the benchmarks measure
/// their ceiling with), from beside the running benchmark binary; returns
/// it (killed on drop) and its URL.
pub async fn start_hello() -> (Child, String) {
    let exe = std::env::current_exe().expect("own path").with_file_name("bench-hello");
    let mut child = Command::new(&exe)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout).lines().next_line().await.expect("read").expect("a line");
    let address = line.trim_start_matches("listening on ").to_owned();
    (child, format!("http://{address}"))
}

/// A booking form (`counter-booking`) open tomorrow at 14 times, every
/// day of the week, `capacity` places per slot: for benchmarks and drills.
pub fn booking_form(capacity: usize) -> String {
    format!(
        r#"id = "counter-booking"
title = {{ ja = "窓口予約" }}
[[fields]]
name = "applicant"
type = "name"
label = {{ ja = "お名前" }}
required = true
furigana = false
[[fields]]
name = "slot"
type = "booking"
label = {{ ja = "日時" }}
required = true
weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
times = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30"]
capacity = {capacity}
from = "today+1"
until = "today+1"
holidays_closed = false
[[fields]]
name = "consent"
type = "consent"
label = {{ ja = "確認" }}
required = true
statement = {{ ja = "同意します。" }}
"#
    )
}

/// The slot keys a booking form (such as [`booking_form`]) offers now.
pub fn booking_slots(form: &str) -> Vec<String> {
    let def = forms::FormDefinition::parse(form).expect("the booking form checks");
    let today = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).date();
    let schedule = def.fields.iter().find_map(|f| forms::booking::Schedule::of(&f.kind)).expect("a schedule");
    schedule.slots(today).iter().map(|s| s.key()).collect()
}

/// haproxy on loopback in front of counter nodes, as a load balancer would
/// run: health checks on `/readyz`, a request that finds a node dead tried
/// on another. Killed when dropped.
pub struct Haproxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts haproxy (from `PATH` or /usr/sbin) balancing over `backends`
    /// (`http://127.0.0.1:PORT` each); returns once it answers.
    pub async fn start(backends: &[String]) -> Haproxy {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, url)| {
                format!("    server node{i} {} check inter 300ms fall 2 rise 2\n", url.trim_start_matches("http://"))
            })
            .collect();
        // A request that finds its node dead (connection refused, or cut
        // before any answer) is tried again on another: submissions are
        // idempotent by their draft, so a retry is safe.
        let config = format!(
            r#"global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend residents
    bind 127.0.0.1:{port}
    default_backend counters
backend counters
    balance roundrobin
    option httpchk GET /readyz
{servers}"#
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("haproxy.cfg");
        let binary = ["haproxy", "/usr/sbin/haproxy"]
            .into_iter()
            .find(|b| std::process::Command::new(b).arg("-v").output().is_ok_and(|o| o.status.success()))
            .expect("haproxy is installed (apt-get install haproxy)");
        let child = Command::new(binary)
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                return Haproxy { url, child, _dir: dir };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("haproxy did not come up in front of {backends:?}");
    }

    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// The value of the hidden input `name` in a page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The text of the element with `id` (no nested markup expected).
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('<')? + start;
    Some(html[start..end].to_owned())
}

/// Runs `make(i)` for i in 0..count, at most `concurrency` at a time (a
/// benchmark's or drill's clients); returns the outcomes in order and the
/// time it all took.
pub async fn bounded<F, Fut, T>(concurrency: usize, count: usize, make: F) -> (Vec<T>, Duration)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = std::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let permit = std::sync::Arc::clone(&gate).acquire_owned().await.expect("semaphore");
        let work = make(i);
        tasks.push(tokio::spawn(async move {
            let out = work.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(count);
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    (out, started.elapsed())
}
