//! The storage-loss drill: residents keep submitting while two snapshots
//! are taken; then, still under load, the primary database is destroyed
//! (SQLite's files deleted; PostgreSQL's schema dropped), the newest
//! snapshot is corrupted, and the counter's machine dies (SIGKILL). The
//! operator runs `madoguchi backup restore` into an empty database: it must
//! skip the corrupt snapshot, restore from the older one plus the segments
//! written since, and bring back every receipt a resident was shown. Prints
//! the time to recover.
//!
//! Usage: drill-storage-loss MADOGUCHI_BINARY [--engine sqlite|postgres]
//!        [--clients C] [--seconds S] [--preload N] [--vault-url s3://BUCKET]
//!
//! `--preload N` first seals N submissions straight into the store (no
//! HTTP), to measure recovery at scale (e.g. one million).
//! Loopback only; bounded by --seconds.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use testkit::residents::{check_receipts, Residents, TENANT};
use testkit::{Engine, TestCounter};

struct Drill {
    binary: PathBuf,
    counter: TestCounter,
    vault_url: Option<String>,
}

impl Drill {
    /// Runs `madoguchi ARGS` on the counter's installation; returns stdout.
    fn operator(&self, args: &[&str]) -> (bool, String, String) {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .arg("--data-dir")
            .arg(self.counter.data_dir())
            .args(["--database", &self.counter.database.url])
            .env_remove("MADOGUCHI_CONFIG");
        if let Some(url) = &self.vault_url {
            command.args(["--vault-url", url]);
        }
        let output = command.output().expect("run madoguchi");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn vault(&self) -> store::Vault {
        match &self.vault_url {
            Some(url) => store::Vault::s3(url).expect("vault"),
            None => store::Vault::local(&self.counter.data_dir().join("vault")).expect("vault"),
        }
    }

    /// The raw object store under the vault, to damage an object in place
    /// (the vault itself never overwrites).
    fn raw_objects(&self) -> Box<dyn ObjectStore> {
        match &self.vault_url {
            Some(url) => {
                Box::new(object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str()).build().expect("s3"))
            }
            None => Box::new(
                object_store::local::LocalFileSystem::new_with_prefix(self.counter.data_dir().join("vault"))
                    .expect("local"),
            ),
        }
    }

    /// Destroys the primary database, as a failed disk would.
    async fn destroy_database(&self) {
        match self.counter.engine {
            Engine::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let path = self.counter.data_dir().join(format!("madoguchi.sqlite{suffix}"));
                    let _ = std::fs::remove_file(path);
                }
            }
            Engine::Postgres => {
                let schema = self.counter.database.schema().expect("schema");
                psql(&format!("DROP SCHEMA {schema} CASCADE")).await;
            }
        }
    }

    /// An empty database where the old one was.
    async fn fresh_database(&self) {
        if self.counter.engine == Engine::Postgres {
            let schema = self.counter.database.schema().expect("schema");
            psql(&format!("CREATE SCHEMA {schema}")).await;
        }
    }
}

async fn psql(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&testkit::postgres_url()).await.expect("PostgreSQL");
    // Dropping the schema under load can deadlock with the counter's own
    // transactions (PostgreSQL then aborts one of them): the loss is
    // simulated by trying again, as an operator's `rm -rf` would not fail.
    for attempt in 1.. {
        match sqlx::Executor::execute(&mut conn, sql).await {
            Ok(_) => return,
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("40P01") && attempt < 20 => {
                eprintln!("{sql}: deadlock with the counter's load, trying again");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(err) => panic!("{sql}: {err}"),
        }
    }
}

/// About 1 KiB of answers, like a filled-in form.
fn payload(i: usize) -> Vec<u8> {
    let mut text = format!("{{\"applicant\":\"山田 太郎 {i}\",\"notes\":\"");
    while text.len() < 1000 {
        text.push_str("水道使用開始の届出です。");
    }
    text.push_str("\"}");
    text.into_bytes()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(args.next().expect("usage: drill-storage-loss MADOGUCHI_BINARY [options]"));
    let (mut engine, mut clients, mut seconds, mut preload, mut vault_url) =
        (Engine::Sqlite, 16usize, 12u64, 0usize, None::<String>);
    while let Some(flag) = args.next() {
        let value = args.next().expect("a value after each flag");
        match flag.as_str() {
            "--engine" => engine = value.parse().expect("--engine sqlite|postgres"),
            "--clients" => clients = value.parse().expect("--clients C"),
            "--seconds" => seconds = value.parse().expect("--seconds S"),
            "--preload" => preload = value.parse().expect("--preload N"),
            "--vault-url" => vault_url = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    let extra: Vec<&str> = vault_url.iter().flat_map(|u| ["--vault-url", u.as_str()]).collect();
    let counter = TestCounter::start_with(&binary, engine, &extra).await;
    let mut drill = Drill { binary, counter, vault_url };
    let quarter = Duration::from_secs(seconds.max(4) / 4);

    if preload > 0 {
        let started = Instant::now();
        let store = store::Store::open(&drill.counter.database.url, drill.vault()).await.expect("store");
        let public = store.current_tenant_key(TENANT).await.expect("key").expect("a demo key");
        testkit::seal_into_store(&store, TENANT, &public, preload, 64, payload).await;
        store.close().await;
        eprintln!("preloaded {preload} submissions in {:.0} s", started.elapsed().as_secs_f64());
    }

    let residents = Residents::start(&drill.counter.url, clients);
    tokio::time::sleep(quarter).await;
    let (ok, older, err) = drill.operator(&["backup", "create"]);
    assert!(ok, "backup create: {err}");
    eprint!("older: {older}");
    tokio::time::sleep(quarter).await;
    let (ok, newer, err) = drill.operator(&["backup", "create"]);
    assert!(ok, "backup create: {err}");
    eprint!("newer: {newer}");
    tokio::time::sleep(quarter).await;

    // The disaster, under load.
    let shown_before = residents.acknowledged_count();
    drill.destroy_database().await;
    let manifest = newer.split_whitespace().nth(1).expect("the snapshot's name").trim_end_matches(':').to_owned();
    let objects = drill.raw_objects();
    let path = object_store::path::Path::from(format!(
        "{}/{}/{}",
        "snapshots",
        &manifest["snapshots/".len().."snapshots/".len() + 2],
        &manifest["snapshots/".len()..]
    ));
    let mut bytes = objects.get(&path).await.expect("the newest snapshot").bytes().await.expect("bytes").to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    objects.put(&path, bytes.into()).await.expect("overwrite");
    eprintln!("database destroyed and {manifest} corrupted with {shown_before} receipts shown; load goes on");
    tokio::time::sleep(quarter).await;
    drill.counter.kill().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acknowledged = residents.acknowledged();
    residents.abandon();

    // The operator restores into an empty database.
    drill.fresh_database().await;
    let started = Instant::now();
    let (ok, restored, err) = drill.operator(&["backup", "restore"]);
    let recovery = started.elapsed();
    print!("{restored}");
    eprint!("{err}");
    assert!(ok, "backup restore failed");
    assert!(err.contains(&format!("skipped snapshot {manifest}")), "the corrupt snapshot is skipped: {err}");

    let store = store::Store::open(&drill.counter.database.url, drill.vault()).await.expect("store");
    let key = drill.counter.demo_private_key(TENANT);
    let lost = check_receipts(&store, &key, &acknowledged).await;
    store.close().await;
    for problem in lost.iter().take(20) {
        eprintln!("  {problem}");
    }
    // The counter starts on the restored database and takes submissions.
    drill.counter.restart().await;
    let after = Residents::start(&drill.counter.url, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    after.finish().await;
    let continued = after.acknowledged_count();

    println!(
        "storage-loss drill ({engine:?}{}{}): {} receipts shown under load ({} after the database was destroyed); \
         lost {}; time to recover {:.1} s; the restarted counter took {continued} more",
        drill.vault_url.as_deref().map(|u| format!(", vault {u}")).unwrap_or_default(),
        if preload > 0 { format!(", {preload} preloaded") } else { String::new() },
        acknowledged.len(),
        acknowledged.len().saturating_sub(shown_before),
        lost.len(),
        recovery.as_secs_f64(),
    );
    if !lost.is_empty() || acknowledged.is_empty() || continued == 0 {
        std::process::exit(1);
    }
}
