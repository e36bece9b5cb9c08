//! The vault's journal. Every transaction that adds to what must never be
//! lost (a submission, a ledger leaf, a status change) first writes what it
//! adds as one content-addressed object, a *segment*, to the vault, then
//! commits. `backup restore` rebuilds the database from the latest good
//! snapshot plus every segment written since.
//!
//! A segment can be in the vault for a transaction that then failed to
//! commit (nothing was acknowledged; its numbers were given out again). So
//! segments carry the time they were written, and where two claim the same
//! 到達番号 or ledger index the later one is the one that committed: the
//! number's row lock is held from before the write until the commit.

use std::sync::atomic::{AtomicI64, Ordering};

use ledger::{Event, EventKind};
use serde::{Deserialize, Serialize};

use crate::{ReceiptNumber, Result, StoreError, SubmissionStatus, Vault};

/// A transaction commits within this long of writing its segment, or rolls
/// back: so a restore knows which segments a snapshot may lack (those
/// written up to twice this long before the snapshot's read began; see
/// `backup::SEGMENT_OVERLAP`).
pub(crate) const COMMIT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Segments' kind (folder) in the vault.
pub(crate) const SEGMENT_KIND: &str = "segments";
const MAGIC: &[u8] = b"madoguchi journal 1\n";

/// A submission's row as first committed (status 受付, no staff message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRow {
    pub tenant: String,
    pub year: i64,
    pub seq: i64,
    pub form_id: String,
    pub form_version: i64,
    pub inquiry_number: String,
    pub secret_verifier: String,
    pub message_key: String,
    pub draft_sha256: String,
    pub key_id: String,
    pub record_sha256: String,
    pub received_at: i64,
    /// Sealed to the counter's notification key, hex.
    pub notify_address: Option<String>,
    pub ledger_index: i64,
    /// The time slot the submission booked (`2026-12-01T09:30`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_slot: Option<String>,
    /// The sealed files the submission names (their vault names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// The keyed pseudonym of a verified survey's respondent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respondent: Option<String>,
}

impl SubmissionRow {
    pub fn receipt(&self) -> ReceiptNumber {
        ReceiptNumber { year: self.year, seq: self.seq }
    }

    /// The ledger leaf the submission's transaction appended.
    pub fn leaf(&self) -> Event {
        Event {
            kind: EventKind::Submission,
            at: self.received_at,
            actor: "resident".into(),
            tenant: Some(self.tenant.clone()),
            source: None,
            subject: Some(self.receipt().to_string()),
            detail: self.record_sha256.clone(),
        }
    }
}

/// One thing a transaction added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A new submission; the segment carries its sealed record beside it.
    Submission(SubmissionRow),
    /// A ledger leaf other than a submission's.
    Leaf { index: i64, event: Event },
    /// A status change from a desk, with its sealed staff message (hex).
    Status { tenant: String, year: i64, seq: i64, status: String, changed_at: i64, message: Option<String> },
    /// Rows of `table` as the transaction of ledger leaf `leaf` left them.
    /// The rooms' tables are kept so (their rows are never deleted): a
    /// restore writes each row over the one with the same primary key
    /// (`pk`), in the order of the leaves.
    Rows { leaf: i64, table: String, pk: Vec<String>, columns: Vec<String>, rows: Vec<Vec<Cell>> },
}

/// One value of a journaled row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    /// Hex.
    Bytes(String),
}

impl Cell {
    fn read(row: &sqlx::any::AnyRow, index: usize) -> Result<Cell> {
        use sqlx::any::AnyTypeInfoKind as Kind;
        use sqlx::{Column, Row};
        let kind = row.columns()[index].type_info().kind();
        Ok(match kind {
            Kind::Null => Cell::Null,
            Kind::Bool => row.try_get::<Option<bool>, _>(index)?.map_or(Cell::Null, |b| Cell::Int(i64::from(b))),
            Kind::SmallInt | Kind::Integer | Kind::BigInt => {
                row.try_get::<Option<i64>, _>(index)?.map_or(Cell::Null, Cell::Int)
            }
            Kind::Blob => row.try_get::<Option<Vec<u8>>, _>(index)?.map_or(Cell::Null, |b| Cell::Bytes(hex::encode(b))),
            Kind::Text => row.try_get::<Option<String>, _>(index)?.map_or(Cell::Null, Cell::Text),
            // No journaled table has one; a float would not come back exact.
            Kind::Real | Kind::Double => {
                return Err(StoreError::Inconsistent(format!("column {index} is a float: not journaled")))
            }
        })
    }

    /// Binds the value; a NULL as `null_as` (PostgreSQL checks a NULL's type).
    pub(crate) fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        null_as: CellType,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Cell::Null => match null_as {
                CellType::Int => query.bind(None::<i64>),
                CellType::Text => query.bind(None::<String>),
                CellType::Bytes => query.bind(None::<Vec<u8>>),
            },
            Cell::Int(n) => query.bind(n),
            Cell::Text(s) => query.bind(s),
            Cell::Bytes(b) => query.bind(hex::decode(b).unwrap_or_default()),
        }
    }
}

/// A column's type, for binding a NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellType {
    Int,
    Text,
    Bytes,
}

/// A decoded segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Microseconds since the epoch, from the writer's clock (never
    /// decreasing within one process).
    pub written_at_us: i64,
    /// Each entry with its bytes (the sealed record for a submission).
    pub entries: Vec<(Entry, Vec<u8>)>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    written_at_us: i64,
}

static LAST_STAMP: AtomicI64 = AtomicI64::new(0);

/// Now, in microseconds, strictly after any stamp this process gave before.
fn stamp() -> i64 {
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
    let mut last = LAST_STAMP.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST_STAMP.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn put_frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The format: a magic line, then length-prefixed frames (u32, big-endian):
/// a JSON header, then per entry its JSON and its bytes. Our own because it
/// must stay readable by `backup restore` for as long as the vault keeps
/// it, with nothing to install.
pub fn encode(entries: &[(Entry, Vec<u8>)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let size: usize = entries.iter().map(|(_, b)| b.len() + 512).sum();
    out.reserve(size + 64);
    let header = serde_json::to_vec(&Header { written_at_us: stamp() }).unwrap_or_default();
    put_frame(&mut out, &header);
    for (entry, bytes) in entries {
        // Serialising these plain structs cannot fail.
        put_frame(&mut out, &serde_json::to_vec(entry).unwrap_or_default());
        put_frame(&mut out, bytes);
    }
    out
}

/// Reads a segment back; `None` for anything that is not exactly one.
pub fn decode(bytes: &[u8]) -> Option<Segment> {
    let body = bytes.strip_prefix(MAGIC)?;
    let mut at = 0usize;
    let mut frame = || -> Option<Option<&[u8]>> {
        if at == body.len() {
            return Some(None);
        }
        let len = u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        let slice = body.get(at + 4..(at + 4).checked_add(len)?)?;
        at += 4 + len;
        Some(Some(slice))
    };
    let header: Header = serde_json::from_slice(frame()??).ok()?;
    let mut entries = Vec::new();
    while let Some(meta) = frame()? {
        let entry: Entry = serde_json::from_slice(meta).ok()?;
        let bytes = frame()??.to_vec();
        entries.push((entry, bytes));
    }
    Some(Segment { written_at_us: header.written_at_us, entries })
}

/// Writes `entries` as one segment; returns its name (SHA-256, hex).
pub(crate) async fn write(vault: &Vault, entries: &[(Entry, Vec<u8>)]) -> Result<String> {
    vault.put(SEGMENT_KIND, &encode(entries)).await.map_err(|e| match e {
        StoreError::VaultUnavailable(_) => e,
        other => StoreError::VaultUnavailable(other.to_string()),
    })
}

/// Multi-row INSERTs are kept near this many bound parameters: on SQLite
/// through sqlx, binding costs more per row as a statement grows (a
/// 500-row statement was 5× slower per row than a 64-row one).
pub(crate) const PARAMETERS_PER_STATEMENT: usize = 1000;

/// Placeholders `($1, $2), ($3, $4)` for `rows` rows of `columns`.
pub(crate) fn placeholders(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * columns + c + 1));
        }
        sql.push(')');
    }
    sql
}

/// Inserts submissions as first committed (status 受付), each with its
/// sealed record and the segment that holds it; a row whose number or
/// draft is already there is left alone. Returns how many were inserted.
pub(crate) async fn insert_submissions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[(&SubmissionRow, &[u8], &str)],
) -> Result<u64> {
    const COLUMNS: usize = 21;
    let mut inserted = 0;
    for batch in rows.chunks(PARAMETERS_PER_STATEMENT / COLUMNS) {
        let sql = format!(
            "INSERT INTO submissions (tenant_id, receipt_year, receipt_seq, form_id, form_version, inquiry_number,
               secret_verifier, message_key, draft_sha256, key_id, record, record_sha256, status, received_at,
               status_changed_at, notify_address, ledger_index, vault_segment, booking_slot, attachments, respondent)
             VALUES {} ON CONFLICT DO NOTHING",
            placeholders(batch.len(), COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for (row, record, segment) in batch {
            query = query
                .bind(row.tenant.clone())
                .bind(row.year)
                .bind(row.seq)
                .bind(row.form_id.clone())
                .bind(row.form_version)
                .bind(row.inquiry_number.clone())
                .bind(row.secret_verifier.clone())
                .bind(row.message_key.clone())
                .bind(row.draft_sha256.clone())
                .bind(row.key_id.clone())
                .bind(record.to_vec())
                .bind(row.record_sha256.clone())
                .bind(SubmissionStatus::Received.as_str())
                .bind(row.received_at)
                .bind(row.received_at)
                .bind(row.notify_address.as_ref().and_then(|a| hex::decode(a).ok()))
                .bind(row.ledger_index)
                .bind(segment.to_string())
                .bind(row.booking_slot.clone())
                .bind(crate::attachments::joined(&row.attachments))
                .bind(row.respondent.clone());
        }
        inserted += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(inserted)
}

/// Inserts ledger leaves at their indexes; an index already taken is left
/// alone. Returns how many were inserted.
pub(crate) async fn insert_leaves(tx: &mut sqlx::Transaction<'_, sqlx::Any>, leaves: &[(i64, &Event)]) -> Result<u64> {
    const COLUMNS: usize = 9;
    let mut inserted = 0;
    for batch in leaves.chunks(PARAMETERS_PER_STATEMENT / COLUMNS) {
        let sql = format!(
            "INSERT INTO ledger_leaves (leaf_index, leaf_hash, kind, at, actor, tenant_id, source, subject, detail)
             VALUES {} ON CONFLICT DO NOTHING",
            placeholders(batch.len(), COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for (index, event) in batch {
            query = query
                .bind(*index)
                .bind(hex::encode(event.leaf_hash()))
                .bind(event.kind.as_str())
                .bind(event.at)
                .bind(event.actor.clone())
                .bind(event.tenant.clone())
                .bind(event.source.clone())
                .bind(event.subject.clone())
                .bind(event.detail.clone());
        }
        inserted += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(inserted)
}

/// What one transaction adds besides submissions, gathered as it runs and
/// written to the vault just before it commits.
#[derive(Default)]
pub(crate) struct Journal {
    entries: Vec<(Entry, Vec<u8>)>,
}

impl Journal {
    pub fn leaf(&mut self, index: i64, event: &Event) {
        self.entries.push((Entry::Leaf { index, event: event.clone() }, Vec::new()));
    }

    pub fn status(
        &mut self,
        tenant: &str,
        receipt: ReceiptNumber,
        status: SubmissionStatus,
        changed_at: i64,
        message: Option<&[u8]>,
    ) {
        self.entries.push((
            Entry::Status {
                tenant: tenant.to_owned(),
                year: receipt.year,
                seq: receipt.seq,
                status: status.as_str().to_owned(),
                changed_at,
                message: message.map(hex::encode),
            },
            Vec::new(),
        ));
    }

    /// The rows of `table` whose columns hold `key`, as they stand now in
    /// `tx`, under the leaf this transaction appended last (so: after the
    /// change and its leaf). `pk` is the table's primary key.
    pub async fn rows(
        &mut self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        table: &str,
        pk: &[&str],
        key: &[(&str, Cell)],
    ) -> Result<()> {
        use sqlx::{Column, Row};
        let leaf = self
            .entries
            .iter()
            .rev()
            .find_map(|(entry, _)| match entry {
                Entry::Leaf { index, .. } => Some(*index),
                _ => None,
            })
            .ok_or_else(|| StoreError::Inconsistent(format!("rows of {table} journaled before their ledger leaf")))?;
        let condition: Vec<String> = key.iter().enumerate().map(|(i, (c, _))| format!("{c} = ${}", i + 1)).collect();
        let sql = format!("SELECT * FROM {table} WHERE {}", condition.join(" AND "));
        let mut query = sqlx::query(&sql);
        for (_, value) in key {
            query = value.clone().bind(query, CellType::Text);
        }
        let found = query.fetch_all(&mut **tx).await?;
        let columns: Vec<String> =
            found.first().map(|r| r.columns().iter().map(|c| c.name().to_owned()).collect()).unwrap_or_default();
        let mut rows = Vec::with_capacity(found.len());
        for row in &found {
            rows.push((0..columns.len()).map(|i| Cell::read(row, i)).collect::<Result<Vec<_>>>()?);
        }
        let pk = pk.iter().map(|c| (*c).to_owned()).collect();
        self.entries.push((Entry::Rows { leaf, table: table.to_owned(), pk, columns, rows }, Vec::new()));
        Ok(())
    }

    /// Writes the journal (if it holds anything) to the vault, then commits
    /// `tx`: a transaction whose additions are not in the vault is rolled
    /// back, so nothing is acknowledged with only one copy.
    pub async fn commit(self, vault: &Vault, tx: sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
        if !self.entries.is_empty() {
            let written = std::time::Instant::now();
            if let Err(err) = write(vault, &self.entries).await {
                let _ = tx.rollback().await;
                return Err(err);
            }
            if written.elapsed() > COMMIT_DEADLINE {
                let _ = tx.rollback().await;
                return Err(StoreError::Unavailable("the database was too slow to commit".into()));
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64) -> SubmissionRow {
        SubmissionRow {
            tenant: "aoba-city".into(),
            year: 2026,
            seq,
            form_id: "water-start".into(),
            form_version: 1,
            inquiry_number: "ABCD-EFGH".into(),
            secret_verifier: "00".into(),
            message_key: "11".into(),
            draft_sha256: format!("{seq:064}"),
            key_id: "k1".into(),
            record_sha256: "22".into(),
            received_at: 1_700_000_000,
            notify_address: None,
            ledger_index: seq,
            booking_slot: (seq % 2 == 0).then(|| "2026-12-01T09:00".into()),
            attachments: if seq % 3 == 0 { vec!["ab".repeat(32)] } else { Vec::new() },
            respondent: (seq % 4 == 1).then(|| format!("{seq:064x}")),
        }
    }

    #[test]
    fn a_segment_reads_back_entry_by_entry_and_refuses_damage() {
        let entries = vec![
            (Entry::Submission(row(1)), vec![1, 2, 3]),
            (Entry::Leaf { index: 7, event: row(2).leaf() }, vec![]),
            (
                Entry::Status {
                    tenant: "aoba-city".into(),
                    year: 2026,
                    seq: 1,
                    status: "processing".into(),
                    changed_at: 5,
                    message: Some("ab".into()),
                },
                vec![],
            ),
            (
                Entry::Rows {
                    leaf: 8,
                    table: "room_posts".into(),
                    pk: vec!["tenant_id".into(), "room_id".into(), "seq".into()],
                    columns: vec!["tenant_id".into(), "seq".into(), "hidden_reason".into(), "blob".into()],
                    rows: vec![vec![
                        Cell::Text("aoba-city".into()),
                        Cell::Int(3),
                        Cell::Null,
                        Cell::Bytes("00ff".into()),
                    ]],
                },
                vec![],
            ),
        ];
        let bytes = encode(&entries);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.entries, entries);
        assert!(back.written_at_us > 0);
        assert!(decode(&bytes[..bytes.len() - 1]).is_none(), "a cut segment is refused");
        assert!(decode(b"something else").is_none());
        let mut flipped = bytes.clone();
        let at = flipped.len() - 30;
        flipped[at] ^= 0xff;
        assert!(decode(&flipped).map(|s| s.entries) != Some(entries), "damage does not read back as the same");
    }

    #[test]
    fn placeholders_number_every_value() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }

    #[test]
    fn later_segments_carry_later_stamps() {
        let a = decode(&encode(&[])).unwrap().written_at_us;
        let b = decode(&encode(&[])).unwrap().written_at_us;
        assert!(b > a);
    }
}
