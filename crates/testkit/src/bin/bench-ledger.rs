//! Ledger appends per second in the database, and inclusion proofs served
//! from it, on SQLite and on PostgreSQL.
//!
//! Usage: bench-ledger [--events N]
//!
//! Each append is what the counter does for a sign-in or a status change:
//! one transaction that takes the next leaf index under the head row's
//! lock, inserts the leaf and commits (fsync'd: SQLite WAL with
//! synchronous=FULL, PostgreSQL with synchronous commit). Measured with one
//! writer and with eight concurrent writers (they serialise on the head row
//! by design: the log is one sequence). Then a checkpoint is signed and
//! inclusion proofs for random leaves are served through the store (one row
//! read plus the in-memory tree). The tree itself at 10 million leaves is
//! `cargo bench -p ledger`. Prints a Markdown table.
#![forbid(unsafe_code)]

use std::time::Instant;

use ledger::{CheckpointSigner, EventKind};
use testkit::{Engine, TestDatabase};

async fn appends(store: &store::Store, writers: usize, events: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..events / writers {
                let event = store::event(
                    EventKind::Login,
                    &format!("staff:bench{w}"),
                    Some("aoba-city"),
                    None,
                    &format!("signed in with TOTP #{i}"),
                );
                store.record_event(&event).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    (events / writers * writers) as f64 / started.elapsed().as_secs_f64()
}

/// The floor: one-row INSERTs, each in its own committed transaction, on
/// the same database with the same durability settings, no ledger.
async fn floor(database: &TestDatabase, events: usize) -> f64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&database.url).await.expect("connect");
    if database.engine == Engine::Sqlite {
        sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await.expect("wal");
        sqlx::query("PRAGMA synchronous=FULL").execute(&pool).await.expect("full");
    }
    sqlx::query("CREATE TABLE bench_floor (i BIGINT PRIMARY KEY, detail TEXT NOT NULL)")
        .execute(&pool)
        .await
        .expect("table");
    let started = Instant::now();
    for i in 0..events as i64 {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("INSERT INTO bench_floor (i, detail) VALUES ($1, $2)")
            .bind(i)
            .bind("signed in with TOTP")
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
    }
    events as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    println!("| engine | floor: 1-row commits/s | appends/s, 1 writer | appends/s, 8 writers | leaves | inclusion proof from the store (mean) |");
    println!("|---|---|---|---|---|---|");
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let database = TestDatabase::new(engine).await;
        let vault = tempfile::tempdir().expect("vault dir");
        let store = database.store(vault.path()).await;
        let floor = floor(&database, events).await;
        let one = appends(&store, 1, events).await;
        let eight = appends(&store, 8, events).await;
        let signer = CheckpointSigner::from_bytes("bench.madoguchi.example/ledger", &[7u8; 32]).expect("signer");
        store.checkpoint(&signer, "bench.madoguchi.example/ledger").await.expect("checkpoint");
        let size = store.ledger_size().await.expect("size");
        // The first proof builds the tree cache; measure the steady state.
        store.inclusion_proof(0).await.expect("proof");
        let proofs = 1000;
        let started = Instant::now();
        for i in 0..proofs {
            let index = (i * 7919) % size;
            let proof = store.inclusion_proof(index).await.expect("proof").expect("leaf in the checkpoint");
            assert!(!proof.proof.is_empty() || size == 1);
        }
        let per_proof = started.elapsed() / proofs as u32;
        println!(
            "| {engine:?} | {floor:.0} | {one:.0} ({:.0} %) | {eight:.0} | {size} | {per_proof:.1?} |",
            one / floor * 100.0
        );
    }
}
