//! Snapshots of the primary database in the vault, checking the vault, and
//! rebuilding a database from it.
//!
//! A snapshot is a logical dump, read in one consistent transaction, of
//! every table, in one portable format whatever the engine: so a snapshot
//! of SQLite restores into PostgreSQL and back. Its rows go into chunk
//! objects of a few MiB; a manifest names them. All are content-addressed
//! vault objects like the rest. (SQLite's `VACUUM INTO` would copy the file
//! faster, but only into SQLite.)
//!
//! Restoring takes the newest snapshot that reads back whole, then every
//! journal segment written since (see `journal`): the submissions, ledger
//! leaves and status changes committed after the snapshot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyPool, Row};

use crate::journal::{self, placeholders, Entry, SubmissionRow, PARAMETERS_PER_STATEMENT, SEGMENT_KIND};
use crate::{Engine, Result, Store, StoreError, Vault, VaultObject};

const SNAPSHOT_KIND: &str = "snapshots";
const CHUNK_KIND: &str = "snapshot-chunks";
const MANIFEST_FORMAT: &str = "madoguchi snapshot 1";
const CHUNK_MAGIC: &[u8] = b"madoguchi snapshot chunk 1\n";
/// Rows go into chunks of about this size.
const CHUNK_BYTES: usize = 8 << 20;
/// Segments written up to this long before a snapshot began are read too:
/// a transaction writes its segment a moment before it commits (and rolls
/// back past `journal::COMMIT_DEADLINE`), and one that committed after the
/// snapshot's read began is not in it. Twice the deadline leaves room for
/// the commit itself and for the storage's clock.
const SEGMENT_OVERLAP: Duration = Duration::from_secs(2 * journal::COMMIT_DEADLINE.as_secs());
/// How many vault objects are read at once.
const PARALLEL_READS: usize = 16;

/// Every table, parents before children (the order rows are restored in).
/// A test checks that this names every table the migrations create.
pub const TABLES: &[&str] = &[
    "tenant_groups",
    "tenants",
    "tenant_keys",
    "form_templates",
    "forms",
    "receipt_sequences",
    "submissions",
    "desks",
    "desk_pulls",
    "desk_nonces",
    "mail_outbox",
    "ledger_head",
    "ledger_leaves",
    "ledger_checkpoints",
    "desk_event_cursor",
    "staff_accounts",
    "staff_grants",
    "staff_recovery_codes",
    "staff_passkeys",
    "staff_sessions",
    "staff_ceremonies",
    "alert_dispatch",
    "watch_tags",
    "postal_codes",
    "counter_nodes",
    "room_rules",
    "room_settings",
    "rooms",
    "room_participants",
    "room_posts",
    "room_notes",
    "room_reports",
    "room_rate_events",
];

/// Where a long operation has got to; the command shows bars.
pub trait Progress: Send + Sync {
    /// A new stage, with its total (items) when known.
    fn stage(&self, name: &str, total: Option<u64>);
    fn advance(&self, by: u64);
}

/// Progress nobody watches.
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

/// One object that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub object: String,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.reason)
    }
}

fn problem(object: impl ToString, err: impl ToString) -> Problem {
    Problem { object: object.to_string(), reason: err.to_string() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ColumnType {
    Integer,
    Text,
    Bytes,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TableDump {
    name: String,
    columns: Vec<(String, ColumnType)>,
    rows: u64,
    chunks: Vec<String>,
}

/// A snapshot's manifest: the object `backup restore` starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    /// When its read began, microseconds since the epoch.
    taken_at_us: i64,
    engine: String,
    schema_version: i64,
    tables: Vec<TableDump>,
}

/// What `backup create` wrote.
#[derive(Debug, Clone)]
pub struct SnapshotSummary {
    pub manifest: String,
    pub taken_at_us: i64,
    pub rows: u64,
    pub submissions: u64,
    pub chunks: usize,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// What `backup verify` found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub objects: u64,
    pub bytes: u64,
    pub snapshots: u64,
    pub segments: u64,
    /// Submission leaves whose record was found in the vault.
    pub records_checked: u64,
    pub problems: Vec<Problem>,
    pub elapsed: Duration,
}

/// What `backup restore` did.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// The manifest restored from, and when it was taken.
    pub snapshot: String,
    pub snapshot_taken_at_us: i64,
    /// Newer snapshots passed over, each with why.
    pub skipped_snapshots: Vec<Problem>,
    pub snapshot_rows: u64,
    pub segments_read: u64,
    pub submissions_from_segments: u64,
    pub leaves_from_segments: u64,
    pub status_changes: u64,
    /// Rows of the rooms' tables written from segments.
    pub room_rows_from_segments: u64,
    pub submissions: u64,
    pub ledger_size: i64,
    /// Segments that could not be read, and ledger gaps: the restore is
    /// incomplete if any.
    pub problems: Vec<Problem>,
    pub elapsed: Duration,
}

/// `drill restore`: the live database against one restored from the vault.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub submissions_compared: u64,
    pub leaves_compared: u64,
    /// In the live database before the restore point, not restored.
    pub missing: Vec<String>,
    /// Restored but not in the live database.
    pub extra: Vec<String>,
    /// Present in both, different.
    pub differing: Vec<String>,
    /// Submissions that arrived after the restore read the vault.
    pub newer_in_live: u64,
}

impl Comparison {
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.differing.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Integer(i64),
    Text(String),
    Bytes(Vec<u8>),
}

fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0),
        Value::Integer(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Text(s) => {
            out.push(2);
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(3);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// A chunk's rows, `columns` values each; `None` if it is not one.
fn decode_chunk(bytes: &[u8], columns: usize) -> Option<Vec<Vec<Value>>> {
    let body = bytes.strip_prefix(CHUNK_MAGIC)?;
    let mut at = 0usize;
    let mut rows = Vec::new();
    while at < body.len() {
        let mut row = Vec::with_capacity(columns);
        for _ in 0..columns {
            let tag = *body.get(at)?;
            at += 1;
            let value = match tag {
                0 => Value::Null,
                1 => {
                    let n = i64::from_be_bytes(body.get(at..at + 8)?.try_into().ok()?);
                    at += 8;
                    Value::Integer(n)
                }
                2 | 3 => {
                    let len = u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
                    let data = body.get(at + 4..(at + 4).checked_add(len)?)?;
                    at += 4 + len;
                    if tag == 2 {
                        Value::Text(String::from_utf8(data.to_vec()).ok()?)
                    } else {
                        Value::Bytes(data.to_vec())
                    }
                }
                _ => return None,
            };
            row.push(value);
        }
        rows.push(row);
    }
    Some(rows)
}

fn read_value(row: &sqlx::any::AnyRow, index: usize, kind: ColumnType) -> Result<Value> {
    Ok(match kind {
        ColumnType::Integer => row.try_get::<Option<i64>, _>(index)?.map_or(Value::Null, Value::Integer),
        ColumnType::Text => row.try_get::<Option<String>, _>(index)?.map_or(Value::Null, Value::Text),
        ColumnType::Bytes => row.try_get::<Option<Vec<u8>>, _>(index)?.map_or(Value::Null, Value::Bytes),
    })
}

fn now_us() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

async fn columns_of<'e, E>(engine: Engine, executor: E, table: &str) -> Result<Vec<(String, ColumnType)>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let sql = match engine {
        Engine::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Engine::Postgres => {
            "SELECT CAST(column_name AS TEXT) AS name, CAST(data_type AS TEXT) AS type FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows = sqlx::query(sql).bind(table).fetch_all(executor).await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("name")?;
            let declared: String = row.try_get("type")?;
            let declared = declared.to_ascii_uppercase();
            let kind = if declared.contains("INT") {
                ColumnType::Integer
            } else if declared.contains("BYTEA") || declared.contains("BLOB") {
                ColumnType::Bytes
            } else {
                ColumnType::Text
            };
            Ok((name, kind))
        })
        .collect()
}

/// The tables the database has (besides sqlx's own), for the test that
/// [`TABLES`] misses none.
pub async fn tables_in(store: &Store) -> Result<Vec<String>> {
    let sql = match store.engine {
        Engine::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
        }
        Engine::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'"
        }
    };
    let rows = sqlx::query(sql).fetch_all(&store.db).await?;
    rows.iter().map(|r| Ok(r.try_get::<String, _>("name")?)).collect()
}

async fn schema_version(db: &AnyPool) -> Result<i64> {
    Ok(sqlx::query("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) AS v FROM _sqlx_migrations")
        .fetch_one(db)
        .await?
        .try_get("v")?)
}

impl Store {
    /// `backup create`: writes a consistent snapshot of every table to the
    /// vault and returns its manifest's name.
    pub async fn create_snapshot(&self, progress: &dyn Progress) -> Result<SnapshotSummary> {
        let started = Instant::now();
        let schema_version = schema_version(&self.db).await?;
        let taken_at_us = now_us();
        let mut tx = self.db.begin().await?;
        if self.engine == Engine::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        }
        // Counting first also fixes SQLite's read snapshot for what follows.
        let mut counts = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let n: i64 =
                sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}")).fetch_one(&mut *tx).await?.try_get("n")?;
            counts.push(n.max(0) as u64);
        }
        progress.stage("snapshot", Some(counts.iter().sum()));
        let mut tables = Vec::with_capacity(TABLES.len());
        let (mut bytes, mut submissions) = (0u64, 0u64);
        for (table, count) in TABLES.iter().zip(&counts) {
            let columns = columns_of(self.engine, &mut *tx, table).await?;
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            let sql = format!("SELECT {} FROM {table}", names.join(", "));
            let mut chunks = Vec::new();
            let mut chunk = CHUNK_MAGIC.to_vec();
            let mut rows = 0u64;
            let mut stream = sqlx::query(&sql).fetch(&mut *tx);
            while let Some(row) = stream.try_next().await? {
                for (i, (_, kind)) in columns.iter().enumerate() {
                    encode_value(&mut chunk, &read_value(&row, i, *kind)?);
                }
                rows += 1;
                progress.advance(1);
                if chunk.len() >= CHUNK_BYTES {
                    bytes += chunk.len() as u64;
                    chunks.push(self.vault.put(CHUNK_KIND, &chunk).await?);
                    chunk.truncate(CHUNK_MAGIC.len());
                }
            }
            drop(stream);
            if chunk.len() > CHUNK_MAGIC.len() {
                bytes += chunk.len() as u64;
                chunks.push(self.vault.put(CHUNK_KIND, &chunk).await?);
            }
            if rows != *count {
                return Err(StoreError::Inconsistent(format!("{table} changed while it was read")));
            }
            if *table == "submissions" {
                submissions = rows;
            }
            tables.push(TableDump { name: (*table).to_owned(), columns, rows, chunks });
        }
        tx.rollback().await?;
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            taken_at_us,
            engine: format!("{:?}", self.engine).to_lowercase(),
            schema_version,
            tables,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| StoreError::Inconsistent(format!("writing the manifest: {e}")))?;
        bytes += json.len() as u64;
        let name = self.vault.put(SNAPSHOT_KIND, &json).await?;
        let chunks = manifest.tables.iter().map(|t| t.chunks.len()).sum();
        Ok(SnapshotSummary {
            manifest: name,
            taken_at_us,
            rows: counts.iter().sum(),
            submissions,
            chunks,
            bytes,
            elapsed: started.elapsed(),
        })
    }

    /// `backup verify`: reads every object in the vault back and checks it
    /// against its name; checks that snapshots and segments decode and that
    /// every chunk a snapshot names is there; and that the record of every
    /// submission leaf in this database's ledger is in the vault.
    pub async fn verify_backup(&self, progress: &dyn Progress) -> Result<VerifyReport> {
        let started = Instant::now();
        let mut report = VerifyReport::default();
        progress.stage("listing the vault", None);
        // A node's readiness probe may be there for a moment: it is not data.
        let objects: Vec<_> =
            self.vault.list(None).await?.into_iter().filter(|o| o.kind != crate::vault::PROBE_KIND).collect();
        let present: HashSet<(String, String)> = objects.iter().map(|o| (o.kind.clone(), o.name.clone())).collect();
        progress.stage("reading every object", Some(objects.len() as u64));
        let mut records: HashSet<[u8; 32]> = HashSet::new();
        let mut manifests = Vec::new();
        let mut attachments = Vec::new();
        // Sealed files the journal's submissions name, with the submission.
        let mut attached: Vec<(String, String)> = Vec::new();
        let mut reads = futures::stream::iter(objects.iter().cloned())
            .map(|object| async move {
                let read = self.vault.get(&object.kind, &object.name).await;
                (object, read)
            })
            .buffer_unordered(PARALLEL_READS);
        while let Some((object, read)) = reads.next().await {
            progress.advance(1);
            report.objects += 1;
            let bytes = match read {
                Ok(bytes) => bytes,
                Err(err) => {
                    report.problems.push(problem(&object, err));
                    continue;
                }
            };
            report.bytes += bytes.len() as u64;
            match object.kind.as_str() {
                SEGMENT_KIND => match journal::decode(&bytes) {
                    Some(segment) => {
                        report.segments += 1;
                        for (entry, _) in segment.entries {
                            if let Entry::Submission(row) = entry {
                                if let Some(hash) = hash_bytes(&row.record_sha256) {
                                    records.insert(hash);
                                }
                                let named = row.attachments.iter().map(|a| (a.clone(), label_of(&row)));
                                attached.extend(named);
                            }
                        }
                    }
                    None => report.problems.push(problem(&object, "not a readable segment")),
                },
                SNAPSHOT_KIND => match serde_json::from_slice::<Manifest>(&bytes) {
                    Ok(manifest) => {
                        report.snapshots += 1;
                        manifests.push((object.clone(), manifest));
                    }
                    Err(err) => report.problems.push(problem(&object, format!("not a readable manifest: {err}"))),
                },
                "records" => {
                    if let Some(hash) = hash_bytes(&object.name) {
                        records.insert(hash);
                    }
                }
                crate::attachments::MANIFESTS => match serde_json::from_slice::<crate::AttachmentManifest>(&bytes) {
                    Ok(attachment) => attachments.push((object.clone(), attachment)),
                    Err(err) => report.problems.push(problem(&object, format!("not a readable attachment: {err}"))),
                },
                _ => {}
            }
        }
        drop(reads);
        // Every sealed file a submission names is there.
        for (name, submission) in &attached {
            if !present.contains(&(crate::attachments::MANIFESTS.to_owned(), name.clone())) {
                report.problems.push(problem(
                    format!("{}/{name}", crate::attachments::MANIFESTS),
                    format!("missing (a file attached to {submission})"),
                ));
            }
        }
        // Every part of every sealed attachment is there.
        for (object, attachment) in &attachments {
            for part in &attachment.parts {
                if !present.contains(&(crate::attachments::PARTS.to_owned(), part.clone())) {
                    report.problems.push(problem(
                        format!("{}/{part}", crate::attachments::PARTS),
                        format!("missing (a part of attachment {object})"),
                    ));
                }
            }
        }
        for (object, manifest) in &manifests {
            for table in &manifest.tables {
                for chunk in &table.chunks {
                    if !present.contains(&(CHUNK_KIND.to_owned(), chunk.clone())) {
                        report.problems.push(problem(
                            format!("{CHUNK_KIND}/{chunk}"),
                            format!("missing (named by snapshot {object}, table {})", table.name),
                        ));
                    }
                }
            }
        }
        // Every submission in the ledger has its record in the vault.
        let size = self.ledger_size().await?;
        progress.stage("checking the ledger's records", Some(size.max(0) as u64));
        let mut rows =
            sqlx::query("SELECT leaf_index, kind, tenant_id, subject, detail FROM ledger_leaves ORDER BY leaf_index")
                .fetch(&self.db);
        while let Some(row) = rows.try_next().await? {
            progress.advance(1);
            let kind: String = row.try_get("kind")?;
            if kind != ledger::EventKind::Submission.as_str() {
                continue;
            }
            let detail: String = row.try_get("detail")?;
            if hash_bytes(&detail).is_some_and(|h| records.contains(&h)) {
                report.records_checked += 1;
            } else {
                let index: i64 = row.try_get("leaf_index")?;
                let tenant: Option<String> = row.try_get("tenant_id")?;
                let subject: Option<String> = row.try_get("subject")?;
                report.problems.push(problem(
                    format!("ledger leaf {index}"),
                    format!(
                        "the record of {} {} (sha256 {detail}) is in no vault object",
                        tenant.unwrap_or_default(),
                        subject.unwrap_or_default()
                    ),
                ));
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }
}

fn hash_bytes(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

/// Snapshots in the vault, newest first (by when each was taken; one whose
/// manifest cannot be read comes by when it was written, and fails when
/// its turn comes).
async fn snapshots_newest_first(vault: &Vault) -> Result<Vec<(VaultObject, std::result::Result<Manifest, String>)>> {
    let mut found = Vec::new();
    for object in vault.list(Some(SNAPSHOT_KIND)).await? {
        let manifest = match vault.get(SNAPSHOT_KIND, &object.name).await {
            Ok(bytes) => {
                serde_json::from_slice::<Manifest>(&bytes).map_err(|e| format!("not a readable manifest: {e}"))
            }
            Err(err) => Err(err.to_string()),
        };
        found.push((object, manifest));
    }
    found.sort_by_key(|(object, manifest)| {
        std::cmp::Reverse(manifest.as_ref().map_or(object.written_at_us, |m| m.taken_at_us))
    });
    Ok(found)
}

fn bind_value<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    value: Value,
    kind: ColumnType,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    // A NULL is bound with its column's type: PostgreSQL checks it.
    match value {
        Value::Null => match kind {
            ColumnType::Integer => query.bind(None::<i64>),
            ColumnType::Text => query.bind(None::<String>),
            ColumnType::Bytes => query.bind(None::<Vec<u8>>),
        },
        Value::Integer(n) => query.bind(n),
        Value::Text(s) => query.bind(s),
        Value::Bytes(b) => query.bind(b),
    }
}

/// Loads one snapshot into `tx`; a chunk that is missing or damaged is the
/// `Err(Problem)` that makes restore try an older snapshot.
async fn load_snapshot(
    vault: &Vault,
    tx: &mut sqlx::Transaction<'_, Any>,
    manifest: &Manifest,
    progress: &dyn Progress,
) -> Result<std::result::Result<u64, Problem>> {
    let total = manifest.tables.iter().map(|t| t.rows).sum();
    progress.stage("restoring the snapshot", Some(total));
    for table in TABLES.iter().rev() {
        sqlx::query(&format!("DELETE FROM {table}")).execute(&mut **tx).await?;
    }
    let mut restored = 0u64;
    for table in &manifest.tables {
        if !TABLES.contains(&table.name.as_str()) {
            return Ok(Err(problem(&table.name, "the snapshot has a table this version does not know")));
        }
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
        let per_statement = (PARAMETERS_PER_STATEMENT / names.len().max(1)).max(1);
        let mut chunks = futures::stream::iter(table.chunks.iter().cloned())
            .map(|chunk| async move { (vault.get(CHUNK_KIND, &chunk).await, chunk) })
            .buffered(4);
        while let Some((read, chunk)) = chunks.next().await {
            let name = format!("{CHUNK_KIND}/{chunk}");
            let bytes = match read {
                Ok(bytes) => bytes,
                Err(err) => return Ok(Err(problem(name, err))),
            };
            let Some(rows) = decode_chunk(&bytes, names.len()) else {
                return Ok(Err(problem(name, "not a readable snapshot chunk")));
            };
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let batch: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
                let sql = format!(
                    "INSERT INTO {} ({}) VALUES {}",
                    table.name,
                    names.join(", "),
                    placeholders(batch.len(), names.len())
                );
                let n = batch.len() as u64;
                let mut query = sqlx::query(&sql);
                for row in batch {
                    for (value, (_, kind)) in row.into_iter().zip(&table.columns) {
                        query = bind_value(query, value, *kind);
                    }
                }
                query.execute(&mut **tx).await?;
                restored += n;
                progress.advance(n);
            }
        }
    }
    Ok(Ok(restored))
}

/// Segments worth reading for a snapshot taken at `since_us`, decoded and
/// in the order they were written.
async fn segments_since(
    vault: &Vault,
    since_us: i64,
    progress: &dyn Progress,
    problems: &mut Vec<Problem>,
) -> Result<Vec<(String, journal::Segment)>> {
    let from = since_us - SEGMENT_OVERLAP.as_micros() as i64;
    let objects: Vec<VaultObject> =
        vault.list(Some(SEGMENT_KIND)).await?.into_iter().filter(|o| o.written_at_us >= from).collect();
    progress.stage("reading segments", Some(objects.len() as u64));
    let mut reads = futures::stream::iter(objects)
        .map(|object| async move {
            let read = vault.get(SEGMENT_KIND, &object.name).await;
            (object, read)
        })
        .buffer_unordered(PARALLEL_READS);
    let mut segments = Vec::new();
    while let Some((object, read)) = reads.next().await {
        progress.advance(1);
        match read.map(|bytes| journal::decode(&bytes)) {
            Ok(Some(segment)) => segments.push((object.name, segment)),
            Ok(None) => problems.push(problem(&object, "not a readable segment")),
            Err(err) => problems.push(problem(&object, err)),
        }
    }
    segments.sort_by(|a, b| (a.1.written_at_us, &a.0).cmp(&(b.1.written_at_us, &b.0)));
    Ok(segments)
}

/// What the segments say, later writes winning (see `journal`).
#[derive(Default)]
struct Replay {
    /// By (tenant, year, seq): the row, its record and its segment's name.
    submissions: HashMap<Key, (SubmissionRow, Vec<u8>, String)>,
    drafts: HashMap<String, Key>,
    leaves: BTreeMap<i64, ledger::Event>,
    statuses: Vec<StatusReplay>,
    /// By the ledger leaf of their transaction: rows of the rooms' tables.
    rows: BTreeMap<i64, Vec<RowsReplay>>,
}

struct RowsReplay {
    table: String,
    pk: Vec<String>,
    columns: Vec<String>,
    rows: Vec<Vec<journal::Cell>>,
}

type Key = (String, i64, i64);

struct StatusReplay {
    key: Key,
    status: String,
    changed_at: i64,
    message: Option<Vec<u8>>,
}

impl Replay {
    fn take(&mut self, name: &str, segment: journal::Segment) {
        // A leaf index given again by a later transaction: what an earlier
        // (uncommitted) one journaled under it is dropped.
        let mut rows: BTreeMap<i64, Vec<RowsReplay>> = BTreeMap::new();
        for (entry, bytes) in segment.entries {
            match entry {
                Entry::Submission(row) => {
                    self.rows.remove(&row.ledger_index);
                    let key = (row.tenant.clone(), row.year, row.seq);
                    // The same draft under another number earlier: that
                    // transaction did not commit (a draft commits once).
                    if let Some(earlier) = self.drafts.insert(row.draft_sha256.clone(), key.clone()) {
                        if earlier != key {
                            self.submissions.remove(&earlier);
                        }
                    }
                    self.leaves.insert(row.ledger_index, row.leaf());
                    let draft = row.draft_sha256.clone();
                    if let Some((old, _, _)) = self.submissions.insert(key.clone(), (row, bytes, name.to_owned())) {
                        if old.draft_sha256 != draft && self.drafts.get(&old.draft_sha256) == Some(&key) {
                            self.drafts.remove(&old.draft_sha256);
                        }
                    }
                }
                Entry::Leaf { index, event } => {
                    self.rows.remove(&index);
                    self.leaves.insert(index, event);
                }
                Entry::Rows { leaf, table, pk, columns, rows: values } => {
                    rows.entry(leaf).or_default().push(RowsReplay { table, pk, columns, rows: values });
                }
                Entry::Status { tenant, year, seq, status, changed_at, message } => {
                    let message = message.and_then(|m| hex::decode(m).ok());
                    self.statuses.push(StatusReplay { key: (tenant, year, seq), status, changed_at, message });
                }
            }
        }
        self.rows.extend(rows);
    }
}

/// `backup restore`: rebuilds an empty database at `target_url` from the
/// vault: the newest snapshot that reads back whole, then every segment
/// since. Problems that make the result incomplete are in the report; the
/// command exits non-zero on any.
pub async fn restore(vault: &Vault, target_url: &str, progress: &dyn Progress) -> Result<RestoreReport> {
    let started = Instant::now();
    let target = Store::open(target_url, vault.clone()).await?;
    let used: i64 = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM tenants) + (SELECT COUNT(*) FROM submissions) + (SELECT COUNT(*) FROM ledger_leaves) AS n",
    )
    .fetch_one(&target.db)
    .await?
    .try_get("n")?;
    if used > 0 {
        return Err(StoreError::Inconsistent(
            "the target database is not empty: restore only into an empty one".into(),
        ));
    }
    let version = schema_version(&target.db).await?;
    let mut report = RestoreReport::default();
    progress.stage("listing snapshots", None);
    let candidates = snapshots_newest_first(vault).await?;
    let mut chosen = None;
    let mut tx = target.db.begin().await?;
    for (object, manifest) in candidates {
        let manifest = match manifest {
            Ok(m) if m.format != MANIFEST_FORMAT => {
                report.skipped_snapshots.push(problem(&object, format!("unknown format {:?}", m.format)));
                continue;
            }
            // An older snapshot loads into today's schema: migrations only
            // add tables and columns (with defaults), and rows name their
            // columns. A newer one does not.
            Ok(m) if m.schema_version > version => {
                report.skipped_snapshots.push(problem(
                    &object,
                    format!("schema version {} is newer than this madoguchi's ({version})", m.schema_version),
                ));
                continue;
            }
            Ok(m) => m,
            Err(reason) => {
                report.skipped_snapshots.push(problem(&object, reason));
                continue;
            }
        };
        match load_snapshot(vault, &mut tx, &manifest, progress).await? {
            Ok(rows) => {
                report.snapshot_rows = rows;
                chosen = Some((object, manifest));
                break;
            }
            Err(fault) => {
                // Undo the partial load, start over with the next older.
                tx.rollback().await?;
                tx = target.db.begin().await?;
                report.skipped_snapshots.push(problem(&object, format!("{fault}")));
            }
        }
    }
    let Some((object, manifest)) = chosen else {
        let _ = tx.rollback().await;
        let why: Vec<String> = report.skipped_snapshots.iter().map(ToString::to_string).collect();
        return Err(StoreError::Inconsistent(format!(
            "no snapshot in the vault reads back whole{}",
            if why.is_empty() { String::new() } else { format!(": {}", why.join("; ")) }
        )));
    };
    report.snapshot = object.to_string();
    report.snapshot_taken_at_us = manifest.taken_at_us;

    let segments = segments_since(vault, manifest.taken_at_us, progress, &mut report.problems).await?;
    report.segments_read = segments.len() as u64;
    let mut replay = Replay::default();
    for (name, segment) in segments {
        replay.take(&name, segment);
    }
    progress.stage("applying segments", Some((replay.submissions.len() + replay.leaves.len()) as u64));
    let mut submissions: Vec<_> = replay.submissions.into_values().collect();
    submissions.sort_by_key(|(row, _, _)| row.ledger_index);
    let rows: Vec<(&SubmissionRow, &[u8], &str)> =
        submissions.iter().map(|(row, record, segment)| (row, record.as_slice(), segment.as_str())).collect();
    report.submissions_from_segments = journal::insert_submissions(&mut tx, &rows).await?;
    progress.advance(rows.len() as u64);
    let leaves: Vec<(i64, &ledger::Event)> = replay.leaves.iter().map(|(i, e)| (*i, e)).collect();
    report.leaves_from_segments = journal::insert_leaves(&mut tx, &leaves).await?;
    progress.advance(leaves.len() as u64);
    replay.statuses.sort_by_key(|s| s.changed_at);
    for StatusReplay { key: (tenant, year, seq), status, changed_at, message } in replay.statuses {
        let done = sqlx::query(
            "UPDATE submissions SET status = $1, status_changed_at = $2, staff_message = $6
             WHERE tenant_id = $3 AND receipt_year = $4 AND receipt_seq = $5
               AND (status_changed_at < $2 OR (status_changed_at = $2 AND status <> $1))",
        )
        .bind(status)
        .bind(changed_at)
        .bind(tenant)
        .bind(year)
        .bind(seq)
        .bind(message)
        .execute(&mut *tx)
        .await?;
        report.status_changes += done.rows_affected();
    }
    // The rooms' rows, each over the one with its primary key, leaf by leaf
    // (each table's columns read once).
    let mut kinds: HashMap<String, HashMap<String, ColumnType>> = HashMap::new();
    for replays in replay.rows.values() {
        for replay in replays {
            let table_kinds = match kinds.entry(replay.table.clone()) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(new) => {
                    new.insert(columns_of(target.engine, &mut *tx, &replay.table).await?.into_iter().collect())
                }
            };
            report.room_rows_from_segments += write_rows(&mut tx, replay, table_kinds).await?;
        }
    }
    // Numbers and the ledger's head continue after what was restored.
    let highest = sqlx::query(
        "SELECT tenant_id, receipt_year, CAST(MAX(receipt_seq) AS BIGINT) AS last FROM submissions GROUP BY tenant_id, receipt_year",
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in highest {
        sqlx::query(
            "INSERT INTO receipt_sequences (tenant_id, year, last_seq) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, year) DO UPDATE SET last_seq = CASE
               WHEN receipt_sequences.last_seq < excluded.last_seq THEN excluded.last_seq ELSE receipt_sequences.last_seq END",
        )
        .bind(row.try_get::<String, _>("tenant_id")?)
        .bind(row.try_get::<i64, _>("receipt_year")?)
        .bind(row.try_get::<i64, _>("last")?)
        .execute(&mut *tx)
        .await?;
    }
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(MAX(leaf_index), -1) AS BIGINT) AS top FROM ledger_leaves",
    )
    .fetch_one(&mut *tx)
    .await?;
    let (count, top): (i64, i64) = (row.try_get("n")?, row.try_get("top")?);
    sqlx::query(
        "INSERT INTO ledger_head (id, next_index) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET next_index = $1",
    )
    .bind(top + 1)
    .execute(&mut *tx)
    .await?;
    if count != top + 1 {
        let indexes: Vec<i64> = sqlx::query("SELECT leaf_index FROM ledger_leaves ORDER BY leaf_index")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>("leaf_index"))
            .collect::<std::result::Result<_, _>>()?;
        let mut expected = 0;
        let mut gaps = Vec::new();
        for index in indexes {
            if index > expected {
                gaps.push(if index - 1 == expected {
                    format!("{expected}")
                } else {
                    format!("{expected}–{}", index - 1)
                });
            }
            expected = index + 1;
        }
        report
            .problems
            .push(problem("ledger", format!("leaves {} are in no snapshot or segment read", gaps.join(", "))));
    }
    tx.commit().await?;
    report.ledger_size = top + 1;
    report.submissions = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM submissions")
        .fetch_one(&target.db)
        .await?
        .try_get::<i64, _>("n")?
        .max(0) as u64;
    target.close().await;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Writes journaled rows over those with the same primary key.
async fn write_rows(
    tx: &mut sqlx::Transaction<'_, Any>,
    replay: &RowsReplay,
    kinds: &HashMap<String, ColumnType>,
) -> Result<u64> {
    if replay.rows.is_empty() {
        return Ok(0);
    }
    let names = &replay.columns;
    let known = |name: &String| kinds.contains_key(name) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !TABLES.contains(&replay.table.as_str()) || !names.iter().chain(&replay.pk).all(known) {
        return Err(StoreError::Inconsistent(format!(
            "a segment names rows of {} this version cannot write",
            replay.table
        )));
    }
    let updates: Vec<String> =
        names.iter().filter(|n| !replay.pk.contains(n)).map(|n| format!("{n} = excluded.{n}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO {}",
        replay.table,
        names.join(", "),
        placeholders(1, names.len()),
        replay.pk.join(", "),
        if updates.is_empty() { "NOTHING".to_owned() } else { format!("UPDATE SET {}", updates.join(", ")) }
    );
    for row in &replay.rows {
        let mut query = sqlx::query(&sql);
        for (value, name) in row.iter().zip(names) {
            let null_as = match kinds.get(name) {
                Some(ColumnType::Integer) => journal::CellType::Int,
                Some(ColumnType::Bytes) => journal::CellType::Bytes,
                _ => journal::CellType::Text,
            };
            query = value.clone().bind(query, null_as);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(replay.rows.len() as u64)
}

const COMPARED_COLUMNS: &str = "tenant_id, receipt_year, receipt_seq, form_id, form_version, inquiry_number,
    secret_verifier, message_key, draft_sha256, key_id, record, record_sha256, received_at, notify_address, ledger_index,
    booking_slot, attachments, respondent";

/// A submission's columns that never change after it is committed.
#[derive(Debug, PartialEq, Eq)]
struct Settled {
    key: (String, i64, i64),
    form: (String, i64),
    resident: (String, String, String, String),
    record: (String, Vec<u8>, String),
    received_at: i64,
    notify_address: Option<Vec<u8>>,
    ledger_index: Option<i64>,
    booking_slot: Option<String>,
    attachments: Option<String>,
    respondent: Option<String>,
}

fn settled(row: &sqlx::any::AnyRow) -> Result<Settled> {
    Ok(Settled {
        key: (row.try_get("tenant_id")?, row.try_get("receipt_year")?, row.try_get("receipt_seq")?),
        form: (row.try_get("form_id")?, row.try_get("form_version")?),
        resident: (
            row.try_get("inquiry_number")?,
            row.try_get("secret_verifier")?,
            row.try_get("message_key")?,
            row.try_get("draft_sha256")?,
        ),
        record: (row.try_get("key_id")?, row.try_get("record")?, row.try_get("record_sha256")?),
        received_at: row.try_get("received_at")?,
        notify_address: row.try_get("notify_address")?,
        ledger_index: row.try_get("ledger_index")?,
        booking_slot: row.try_get("booking_slot")?,
        attachments: row.try_get("attachments")?,
        respondent: row.try_get("respondent")?,
    })
}

fn label_of(row: &journal::SubmissionRow) -> String {
    format!("{} {}", row.tenant, row.receipt())
}

fn label(key: &(String, i64, i64)) -> String {
    format!("{} {}", key.0, crate::ReceiptNumber { year: key.1, seq: key.2 })
}

/// `drill restore`: compares `restored` with `live`, submission by
/// submission (every column that never changes, the sealed record
/// included) and leaf by leaf. Live submissions whose ledger leaf lies
/// beyond the restored ledger arrived after the restore read the vault.
pub async fn compare(live: &Store, restored: &Store, progress: &dyn Progress) -> Result<Comparison> {
    let mut result = Comparison::default();
    let restored_size = restored.ledger_size().await?;
    let sql = format!("SELECT {COMPARED_COLUMNS} FROM submissions ORDER BY tenant_id, receipt_year, receipt_seq");
    let total: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM submissions").fetch_one(&live.db).await?.try_get("n")?;
    progress.stage("comparing submissions", Some(total.max(0) as u64));
    let mut a = sqlx::query(&sql).fetch(&live.db);
    let mut b = sqlx::query(&sql).fetch(&restored.db);
    let mut left = a.try_next().await?.map(|r| settled(&r)).transpose()?;
    let mut right = b.try_next().await?.map(|r| settled(&r)).transpose()?;
    loop {
        match (left.take(), right.take()) {
            (None, None) => break,
            (Some(l), r) if r.as_ref().is_none_or(|r| l.key < r.key) => {
                progress.advance(1);
                if l.ledger_index.unwrap_or(i64::MAX) >= restored_size {
                    result.newer_in_live += 1;
                } else {
                    result.missing.push(label(&l.key));
                }
                left = a.try_next().await?.map(|r| settled(&r)).transpose()?;
                right = r;
            }
            (l, Some(r)) if l.as_ref().is_none_or(|l| r.key < l.key) => {
                result.extra.push(label(&r.key));
                right = b.try_next().await?.map(|r| settled(&r)).transpose()?;
                left = l;
            }
            (Some(l), Some(r)) => {
                progress.advance(1);
                result.submissions_compared += 1;
                if l != r {
                    result.differing.push(label(&l.key));
                }
                left = a.try_next().await?.map(|r| settled(&r)).transpose()?;
                right = b.try_next().await?.map(|r| settled(&r)).transpose()?;
            }
            // Both arms above cover every remaining case.
            (l, r) => {
                left = l;
                right = r;
            }
        }
    }
    drop((a, b));
    progress.stage("comparing the ledger", Some(restored_size.max(0) as u64));
    let mut from = 0;
    while from < restored_size {
        let (x, y) = (live.ledger_entries(from, 5000).await?, restored.ledger_entries(from, 5000).await?);
        if y.is_empty() {
            break;
        }
        for (l, r) in x.iter().zip(&y) {
            result.leaves_compared += 1;
            if l != r {
                result.differing.push(format!("ledger leaf {}", r.index));
            }
        }
        if x.len() < y.len() {
            result
                .missing
                .push(format!("ledger leaves from {} (restored has them, live does not)", from + x.len() as i64));
        }
        progress.advance(y.len() as u64);
        from += y.len() as i64;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_reads_back_row_by_row_and_refuses_damage() {
        let rows = vec![
            vec![Value::Integer(-5), Value::Text("青葉市".into()), Value::Bytes(vec![0, 1, 2]), Value::Null],
            vec![Value::Integer(i64::MAX), Value::Text(String::new()), Value::Bytes(vec![]), Value::Integer(0)],
        ];
        let mut chunk = CHUNK_MAGIC.to_vec();
        for value in rows.iter().flatten() {
            encode_value(&mut chunk, value);
        }
        assert_eq!(decode_chunk(&chunk, 4), Some(rows));
        assert_eq!(decode_chunk(&chunk[..chunk.len() - 1], 4), None, "a cut chunk is refused");
        assert_eq!(decode_chunk(&chunk, 3), None, "rows of another width are refused");
    }
}
