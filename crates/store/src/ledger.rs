//! The counter's ledger: appending events, serving proofs, checkpoints,
//! and verifying the whole log against them.

use std::sync::Arc;

use ledger::{Checkpoint, CheckpointSigner, CheckpointVerifier, Event, EventKind, Hash, MerkleTree};
use sqlx::{Any, Row, Transaction};

use crate::journal::Journal;
use crate::{now_unix, Result, Store, StoreError};

/// One leaf as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub index: i64,
    pub event: Event,
    pub leaf_hash: Hash,
}

/// An inclusion proof for one leaf against a checkpoint.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub entry: LedgerEntry,
    pub tree_size: i64,
    pub proof: Vec<Hash>,
    /// The signed note the proof leads to.
    pub checkpoint: String,
}

/// What `verify` found wrong first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerFault {
    #[error("leaf {0} is missing: the log has a gap there (a row was deleted)")]
    Gap(i64),
    #[error("leaf {index}: its contents do not match its hash (the row was changed)")]
    ContentChanged { index: i64 },
    #[error("checkpoint at size {size}: the log's root differs (rows were changed, removed or reordered before leaf {size})")]
    RootMismatch { size: i64 },
    #[error("checkpoint at size {size}: the log is shorter than a signed checkpoint (rows were deleted)")]
    Truncated { size: i64 },
    #[error("checkpoint at size {size}: {reason}")]
    BadCheckpoint { size: i64, reason: String },
    #[error("leaf {index}: unreadable ({reason})")]
    Unreadable { index: i64, reason: String },
}

/// A summary of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerReport {
    pub leaves: i64,
    pub checkpoints: i64,
    pub root: Hash,
}

fn hash_from_hex(text: &str) -> Option<Hash> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

pub(crate) fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<std::result::Result<LedgerEntry, LedgerFault>> {
    let index: i64 = row.try_get("leaf_index")?;
    let kind: String = row.try_get("kind")?;
    let Ok(kind) = EventKind::parse(&kind) else {
        return Ok(Err(LedgerFault::Unreadable { index, reason: format!("unknown kind {kind:?}") }));
    };
    let stored: String = row.try_get("leaf_hash")?;
    let Some(leaf_hash) = hash_from_hex(&stored) else {
        return Ok(Err(LedgerFault::Unreadable { index, reason: "bad leaf hash".into() }));
    };
    let event = Event {
        kind,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        tenant: row.try_get("tenant_id")?,
        source: row.try_get("source")?,
        subject: row.try_get("subject")?,
        detail: row.try_get("detail")?,
    };
    Ok(Ok(LedgerEntry { index, event, leaf_hash }))
}

/// Appends `event` inside the caller's transaction; the index is taken
/// under the head row's lock, released at commit. The leaf goes into
/// `journal` too, which the caller writes to the vault before committing.
pub(crate) async fn append(tx: &mut Transaction<'_, Any>, journal: &mut Journal, event: &Event) -> Result<i64> {
    let index: i64 =
        sqlx::query("UPDATE ledger_head SET next_index = next_index + 1 WHERE id = 1 RETURNING next_index")
            .fetch_one(&mut **tx)
            .await?
            .try_get::<i64, _>("next_index")?
            - 1;
    sqlx::query(
        "INSERT INTO ledger_leaves (leaf_index, leaf_hash, kind, at, actor, tenant_id, source, subject, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(index)
    .bind(hex::encode(event.leaf_hash()))
    .bind(event.kind.as_str())
    .bind(event.at)
    .bind(&event.actor)
    .bind(&event.tenant)
    .bind(&event.source)
    .bind(&event.subject)
    .bind(&event.detail)
    .execute(&mut **tx)
    .await?;
    journal.leaf(index, event);
    Ok(index)
}

/// Appends `events` in order inside the caller's transaction, in a few
/// statements whatever their number; returns the first one's index.
pub(crate) async fn append_many(tx: &mut Transaction<'_, Any>, events: &[Event]) -> Result<i64> {
    let count = events.len() as i64;
    let end: i64 = sqlx::query("UPDATE ledger_head SET next_index = next_index + $1 WHERE id = 1 RETURNING next_index")
        .bind(count)
        .fetch_one(&mut **tx)
        .await?
        .try_get("next_index")?;
    let first = end - count;
    let leaves: Vec<(i64, &Event)> = events.iter().enumerate().map(|(i, e)| (first + i as i64, e)).collect();
    if crate::journal::insert_leaves(tx, &leaves).await? != events.len() as u64 {
        return Err(StoreError::Inconsistent("ledger leaves exist past the ledger's head".into()));
    }
    Ok(first)
}

/// An event happening now.
pub fn event(kind: EventKind, actor: &str, tenant: Option<&str>, subject: Option<&str>, detail: &str) -> Event {
    Event {
        kind,
        at: now_unix(),
        actor: actor.to_owned(),
        tenant: tenant.map(str::to_owned),
        source: None,
        subject: subject.map(str::to_owned),
        detail: detail.to_owned(),
    }
}

impl Store {
    /// Appends one event in a transaction of its own; returns its index.
    pub async fn record_event(&self, event: &Event) -> Result<i64> {
        let mut tx = self.db.begin().await?;
        let mut journal = Journal::default();
        let index = append(&mut tx, &mut journal, event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(index)
    }

    pub async fn ledger_size(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT next_index FROM ledger_head WHERE id = 1")
            .fetch_one(&self.db)
            .await?
            .try_get("next_index")?)
    }

    /// Leaves from `from`, at most `limit`, in order.
    pub async fn ledger_entries(&self, from: i64, limit: i64) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT leaf_index, leaf_hash, kind, at, actor, tenant_id, source, subject, detail FROM ledger_leaves
             WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT $2",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| entry_from_row(row)?.map_err(|fault| StoreError::Inconsistent(fault.to_string())))
            .collect()
    }

    /// The Merkle tree of the committed leaves, kept in memory and brought
    /// up to date on each call.
    async fn tree(&self) -> Result<tokio::sync::MutexGuard<'_, MerkleTree>> {
        let mut tree = self.ledger_tree.lock().await;
        loop {
            let from = tree.len() as i64;
            let rows = sqlx::query("SELECT leaf_index, leaf_hash FROM ledger_leaves WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT 10000")
                .bind(from)
                .fetch_all(&self.db)
                .await?;
            if rows.is_empty() {
                return Ok(tree);
            }
            for row in &rows {
                let index: i64 = row.try_get("leaf_index")?;
                let text: String = row.try_get("leaf_hash")?;
                let hash =
                    hash_from_hex(&text).ok_or_else(|| StoreError::Inconsistent(format!("leaf {index}: bad hash")))?;
                if index != tree.len() as i64 {
                    // A leaf not yet committed below a committed one: stop
                    // at the contiguous prefix.
                    return Ok(tree);
                }
                tree.push(hash);
            }
        }
    }

    /// Signs a checkpoint of the log as it is now, stores it here and in
    /// the vault, and returns the signed note. Does nothing new when the
    /// latest checkpoint already covers every leaf.
    pub async fn checkpoint(&self, signer: &CheckpointSigner, origin: &str) -> Result<String> {
        let tree = self.tree().await?;
        let size = tree.len() as i64;
        if let Some((latest_size, note)) = self.latest_checkpoint().await? {
            if latest_size == size {
                return Ok(note);
            }
        }
        let note = signer
            .sign(&Checkpoint { origin: origin.to_owned(), size: size as u64, root: tree.root() })
            .map_err(|e| StoreError::Inconsistent(format!("signing a checkpoint: {e}")))?;
        drop(tree);
        self.vault.put("checkpoints", note.as_bytes()).await?;
        sqlx::query("INSERT INTO ledger_checkpoints (tree_size, note, created_at) VALUES ($1, $2, $3) ON CONFLICT (tree_size) DO NOTHING")
            .bind(size)
            .bind(&note)
            .bind(now_unix())
            .execute(&self.db)
            .await?;
        Ok(note)
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT tree_size, note FROM ledger_checkpoints ORDER BY tree_size DESC LIMIT 1")
            .fetch_optional(&self.db)
            .await?;
        row.map(|r| Ok((r.try_get("tree_size")?, r.try_get("note")?))).transpose()
    }

    /// Proves that leaf `index` is in the log as of the latest checkpoint.
    pub async fn inclusion_proof(&self, index: i64) -> Result<Option<InclusionProof>> {
        let Some((size, checkpoint)) = self.latest_checkpoint().await? else { return Ok(None) };
        if index < 0 || index >= size {
            return Ok(None);
        }
        let Some(entry) = self.ledger_entries(index, 1).await?.into_iter().next() else { return Ok(None) };
        let tree = self.tree().await?;
        let proof = tree.inclusion_proof(index as u64, size as u64).unwrap_or_default();
        Ok(Some(InclusionProof { entry, tree_size: size, proof, checkpoint }))
    }

    /// Checks the whole log: every leaf's contents against its hash, no
    /// gaps, and every stored checkpoint (signed by `verifier`) against the
    /// tree rebuilt from the rows. Returns the first fault found.
    pub async fn verify_ledger(
        &self,
        verifier: &CheckpointVerifier,
        mut progress: impl FnMut(i64),
    ) -> Result<std::result::Result<LedgerReport, LedgerFault>> {
        let mut tree = MerkleTree::new();
        let mut next = 0i64;
        loop {
            let rows = sqlx::query(
                "SELECT leaf_index, leaf_hash, kind, at, actor, tenant_id, source, subject, detail FROM ledger_leaves
                 WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT 10000",
            )
            .bind(next)
            .fetch_all(&self.db)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let entry = match entry_from_row(row)? {
                    Ok(entry) => entry,
                    Err(fault) => return Ok(Err(fault)),
                };
                if entry.index != next {
                    return Ok(Err(LedgerFault::Gap(next)));
                }
                if entry.event.leaf_hash() != entry.leaf_hash {
                    return Ok(Err(LedgerFault::ContentChanged { index: entry.index }));
                }
                tree.push(entry.leaf_hash);
                next += 1;
            }
            progress(next);
        }
        let head = self.ledger_size().await?;
        if head != next {
            return Ok(Err(LedgerFault::Gap(next)));
        }
        let rows = sqlx::query("SELECT tree_size, note FROM ledger_checkpoints ORDER BY tree_size")
            .fetch_all(&self.db)
            .await?;
        for row in &rows {
            let size: i64 = row.try_get("tree_size")?;
            let note: String = row.try_get("note")?;
            let checkpoint = match verifier.verify(&note) {
                Ok(checkpoint) => checkpoint,
                Err(err) => return Ok(Err(LedgerFault::BadCheckpoint { size, reason: err.to_string() })),
            };
            if checkpoint.size as i64 != size {
                return Ok(Err(LedgerFault::BadCheckpoint { size, reason: "stored under the wrong size".into() }));
            }
            match tree.root_at(checkpoint.size) {
                None => return Ok(Err(LedgerFault::Truncated { size })),
                Some(root) if root != checkpoint.root => return Ok(Err(LedgerFault::RootMismatch { size })),
                Some(_) => {}
            }
        }
        Ok(Ok(LedgerReport { leaves: next, checkpoints: rows.len() as i64, root: tree.root() }))
    }
}

/// What the auditor's view asks for; every field narrows the search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Events done by, or done to, this principal (`staff:tanaka`, `desk:…`).
    pub person: Option<String>,
    pub tenant: Option<String>,
    pub kind: Option<EventKind>,
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
}

impl Store {
    /// Leaves matching `filter` with an index below `before` (None: from
    /// the newest), newest first, at most `limit`.
    pub async fn search_ledger(
        &self,
        filter: &LedgerFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>> {
        // Conditions are fixed text with numbered placeholders; values are
        // only ever bound.
        let mut conditions = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut add = |condition: &str, value: Value| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(person) = &filter.person {
            add("(actor = ? OR subject = ?)", Value::Text(person.clone()));
        }
        if let Some(tenant) = &filter.tenant {
            add("tenant_id = ?", Value::Text(tenant.clone()));
        }
        if let Some(kind) = filter.kind {
            add("kind = ?", Value::Text(kind.as_str().to_owned()));
        }
        if let Some(from) = filter.from {
            add("at >= ?", Value::Int(from));
        }
        if let Some(until) = filter.until {
            add("at < ?", Value::Int(until));
        }
        if let Some(before) = before {
            add("leaf_index < ?", Value::Int(before));
        }
        values.push(Value::Int(limit.clamp(1, 10_000)));
        let limit_clause = format!("LIMIT ${}", values.len());
        let sql = format!(
            "SELECT leaf_index, leaf_hash, kind, at, actor, tenant_id, source, subject, detail FROM ledger_leaves {} ORDER BY leaf_index DESC {limit_clause}",
            if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) },
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(int) => query.bind(int),
            };
        }
        let rows = query.fetch_all(&self.db).await?;
        rows.iter()
            .map(|row| entry_from_row(row)?.map_err(|fault| StoreError::Inconsistent(fault.to_string())))
            .collect()
    }
}

enum Value {
    Text(String),
    Int(i64),
}

/// Shared, lazily built tree (see [`Store::tree`]).
pub(crate) type TreeCache = Arc<tokio::sync::Mutex<MerkleTree>>;
