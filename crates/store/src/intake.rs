//! Group commit: concurrent submissions share one database transaction and
//! one vault segment object, so throughput rises with concurrency while
//! each acknowledgement stays honest (given only once its record is both
//! committed and in the vault).
//!
//! One committer task per store takes whatever submissions are waiting,
//! gives each its 到達番号 inside one transaction (each in a savepoint, so
//! one failure costs only itself), seals them, writes all their records as
//! one content-addressed segment to the vault, then commits. While a batch
//! commits, the next one gathers.

use std::collections::HashSet;

use ledger::{Event, EventKind};
use seal::{SealError, SealedRecord};
use sqlx::{Acquire, Any, AnyPool, Row, Transaction};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::submissions::{accepted_draft, InquiryNumber, JST};
use crate::{sha256_hex, Acceptance, ReceiptNumber, Result, StoreError, SubmissionStatus, Vault};

/// The most submissions one transaction carries.
const MAX_BATCH: usize = 256;
/// Vault segments: `kind` in the vault, and the first bytes of each.
pub(crate) const SEGMENT_KIND: &str = "segments";
const SEGMENT_MAGIC: &[u8] = b"madoguchi segment 1\n";

/// The sealing step, run by the committer once the 到達番号 is known.
pub type SealFn = Box<dyn FnOnce(&ReceiptNumber) -> std::result::Result<SealedRecord, SealError> + Send>;

/// A submission on its way in, owned (it crosses to the committer task).
pub(crate) struct Job {
    pub tenant: String,
    pub form_id: String,
    pub form_version: i64,
    pub draft_sha256: String,
    pub inquiry_secret: String,
    pub notify_address: Option<Vec<u8>>,
    pub seal: SealFn,
    pub reply: oneshot::Sender<Result<Acceptance>>,
}

/// Starts the committer; returns where to send jobs.
pub(crate) fn start(db: AnyPool, vault: Vault) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            commit_batch(&db, &vault, batch).await;
        }
    });
    tx
}

/// One record inside a segment: whose, which number, and its bytes.
pub(crate) struct SegmentEntry {
    pub tenant: String,
    pub receipt: ReceiptNumber,
    pub record: Vec<u8>,
}

/// The segment format: a magic line, then per record the tenant id (u16
/// length), year and sequence (i64 each), and the record (u32 length), all
/// big-endian. Our own because it must stay readable by `backup restore`
/// for as long as the vault keeps it, with nothing to install.
pub(crate) fn encode_segment(entries: &[SegmentEntry]) -> Vec<u8> {
    let mut out = SEGMENT_MAGIC.to_vec();
    for entry in entries {
        let tenant = entry.tenant.as_bytes();
        out.extend_from_slice(&(tenant.len() as u16).to_be_bytes());
        out.extend_from_slice(tenant);
        out.extend_from_slice(&entry.receipt.year.to_be_bytes());
        out.extend_from_slice(&entry.receipt.seq.to_be_bytes());
        out.extend_from_slice(&(entry.record.len() as u32).to_be_bytes());
        out.extend_from_slice(&entry.record);
    }
    out
}

pub(crate) fn decode_segment(bytes: &[u8]) -> Option<Vec<SegmentEntry>> {
    let body = bytes.strip_prefix(SEGMENT_MAGIC)?;
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let slice = body.get(at..at.checked_add(n)?)?;
        at += n;
        Some(slice)
    };
    let mut entries = Vec::new();
    while let Some(len) = take(2) {
        let len = u16::from_be_bytes(len.try_into().ok()?) as usize;
        let tenant = String::from_utf8(take(len)?.to_vec()).ok()?;
        let year = i64::from_be_bytes(take(8)?.try_into().ok()?);
        let seq = i64::from_be_bytes(take(8)?.try_into().ok()?);
        let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
        let record = take(len)?.to_vec();
        entries.push(SegmentEntry { tenant, receipt: ReceiptNumber { year, seq }, record });
    }
    // A stray byte at the end (not a whole length) is damage too.
    (take(1).is_none()).then_some(entries)
}

struct Accepted {
    reply: oneshot::Sender<Result<Acceptance>>,
    acceptance: Acceptance,
    entry: SegmentEntry,
}

/// Why a whole batch failed, for each of its submissions (errors are not
/// `Clone`; each gets its own, with the same meaning).
#[derive(Clone, Copy)]
enum BatchFailure {
    Vault,
    Database,
}

impl BatchFailure {
    fn error(self, detail: &str) -> StoreError {
        match self {
            BatchFailure::Vault => StoreError::VaultUnavailable(detail.to_owned()),
            BatchFailure::Database => StoreError::Unavailable(detail.to_owned()),
        }
    }
}

async fn commit_batch(db: &AnyPool, vault: &Vault, batch: Vec<Job>) {
    // Drafts already accepted (a double click, a retry): their receipt.
    let mut pending = Vec::with_capacity(batch.len());
    for job in batch {
        match accepted_draft(db, &job.draft_sha256).await {
            Ok(Some(done)) => {
                let _ = job.reply.send(Ok(done));
            }
            Ok(None) => pending.push(job),
            Err(err) => {
                let _ = job.reply.send(Err(err));
            }
        }
    }
    if pending.is_empty() {
        return;
    }
    let mut later = Vec::new();
    let outcome = write_batch(db, vault, pending, &mut later).await;
    let accepted = match outcome {
        Ok(accepted) => accepted,
        Err((failure, detail, replies)) => {
            tracing::warn!(error = %detail, "a batch of submissions was not accepted; nothing was acknowledged");
            for reply in replies {
                let _ = reply.send(Err(failure.error(&detail)));
            }
            for job in later {
                let _ = job.reply.send(Err(failure.error(&detail)));
            }
            return;
        }
    };
    for item in accepted {
        let _ = item.reply.send(Ok(item.acceptance));
    }
    // The same draft twice in one batch, or accepted by another node while
    // we worked: the committed receipt.
    for job in later {
        let answer = accepted_draft(db, &job.draft_sha256).await.and_then(|done| {
            done.ok_or_else(|| StoreError::Inconsistent("a duplicate draft without its record".into()))
        });
        let _ = job.reply.send(answer);
    }
}

type BatchError = (BatchFailure, String, Vec<oneshot::Sender<Result<Acceptance>>>);

async fn write_batch(
    db: &AnyPool,
    vault: &Vault,
    pending: Vec<Job>,
    later: &mut Vec<Job>,
) -> std::result::Result<Vec<Accepted>, BatchError> {
    let now = OffsetDateTime::now_utc();
    let year = i64::from(now.to_offset(JST).year());
    let mut accepted: Vec<Accepted> = Vec::with_capacity(pending.len());
    let mut seen = HashSet::new();
    let mut tx = match db.begin().await {
        Ok(tx) => tx,
        Err(err) => {
            return Err((BatchFailure::Database, err.to_string(), pending.into_iter().map(|j| j.reply).collect()));
        }
    };
    let mut failed: Option<(BatchFailure, String)> = None;
    let mut rest = pending.into_iter();
    for job in rest.by_ref() {
        if !seen.insert(job.draft_sha256.clone()) {
            later.push(job);
            continue;
        }
        match accept_one(&mut tx, job, year, now).await {
            Ok(Outcome::Accepted(item)) => accepted.push(*item),
            Ok(Outcome::Duplicate(job)) => later.push(*job),
            Ok(Outcome::Refused(reply, err)) => {
                let _ = reply.send(Err(err));
            }
            Err((reply, err)) => {
                failed = Some((BatchFailure::Database, err.to_string()));
                let _ = reply.send(Err(err));
                break;
            }
        }
    }
    let mut replies: Vec<_> = Vec::new();
    if let Some((failure, detail)) = failed {
        replies.extend(rest.map(|j| j.reply));
        replies.extend(accepted.into_iter().map(|a| a.reply));
        let _ = tx.rollback().await;
        return Err((failure, detail, replies));
    }
    if accepted.is_empty() {
        let _ = tx.commit().await;
        return Ok(accepted);
    }
    // One segment with every record of the batch, in the vault before the
    // commit: an acknowledged record always has its second copy.
    let entries: Vec<SegmentEntry> = accepted
        .iter()
        .map(|a| SegmentEntry {
            tenant: a.entry.tenant.clone(),
            receipt: a.entry.receipt,
            record: a.entry.record.clone(),
        })
        .collect();
    let segment = encode_segment(&entries);
    let segment_hash = match vault.put(SEGMENT_KIND, &segment).await {
        Ok(hash) => hash,
        Err(err) => {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Vault, err.to_string(), accepted.into_iter().map(|a| a.reply).collect()));
        }
    };
    for item in &accepted {
        let updated = sqlx::query(
            "UPDATE submissions SET vault_segment = $1 WHERE tenant_id = $2 AND receipt_year = $3 AND receipt_seq = $4",
        )
        .bind(&segment_hash)
        .bind(&item.entry.tenant)
        .bind(item.entry.receipt.year)
        .bind(item.entry.receipt.seq)
        .execute(&mut *tx)
        .await;
        if let Err(err) = updated {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Database, err.to_string(), accepted.into_iter().map(|a| a.reply).collect()));
        }
    }
    if let Err(err) = tx.commit().await {
        return Err((BatchFailure::Database, err.to_string(), accepted.into_iter().map(|a| a.reply).collect()));
    }
    metrics::histogram!("store_group_commit_batch_size").record(accepted.len() as f64);
    Ok(accepted)
}

enum Outcome {
    Accepted(Box<Accepted>),
    /// Another node accepted this draft meanwhile.
    Duplicate(Box<Job>),
    /// This one submission could not be sealed; the batch goes on.
    Refused(oneshot::Sender<Result<Acceptance>>, StoreError),
}

type OneError = (oneshot::Sender<Result<Acceptance>>, StoreError);

/// One submission inside the batch's transaction, in a savepoint of its
/// own: its number, its sealed record, its row and its ledger leaf.
async fn accept_one(
    tx: &mut Transaction<'_, Any>,
    job: Job,
    year: i64,
    now: OffsetDateTime,
) -> std::result::Result<Outcome, OneError> {
    let mut sp = match tx.begin().await {
        Ok(sp) => sp,
        Err(err) => return Err((job.reply, err.into())),
    };
    macro_rules! db {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(err) => return Err((job.reply, StoreError::from(err))),
            }
        };
    }
    db!(sqlx::query(
        "INSERT INTO receipt_sequences (tenant_id, year, last_seq) VALUES ($1, $2, 0) ON CONFLICT (tenant_id, year) DO NOTHING"
    )
    .bind(&job.tenant)
    .bind(year)
    .execute(&mut *sp)
    .await);
    let seq: i64 = db!(db!(sqlx::query(
        "UPDATE receipt_sequences SET last_seq = last_seq + 1 WHERE tenant_id = $1 AND year = $2 RETURNING last_seq",
    )
    .bind(&job.tenant)
    .bind(year)
    .fetch_one(&mut *sp)
    .await)
    .try_get::<i64, _>("last_seq"));
    let receipt = ReceiptNumber { year, seq };
    let seal = job.seal;
    let record = match seal(&receipt) {
        Ok(record) => record,
        Err(err) => {
            let _ = sp.rollback().await;
            return Ok(Outcome::Refused(job.reply, StoreError::Seal(err)));
        }
    };
    let bytes = record.to_bytes();
    let record_sha256 = sha256_hex(&bytes);
    let inquiry = InquiryNumber::generate();
    let resident = seal::ResidentKeys::derive(&job.inquiry_secret, inquiry.as_str());
    let inserted = db!(sqlx::query(
        "INSERT INTO submissions (tenant_id, receipt_year, receipt_seq, form_id, form_version, inquiry_number,
           secret_verifier, message_key, draft_sha256, key_id, record, record_sha256, status, received_at,
           status_changed_at, notify_address)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)
         ON CONFLICT (draft_sha256) DO NOTHING",
    )
    .bind(&job.tenant)
    .bind(year)
    .bind(seq)
    .bind(&job.form_id)
    .bind(job.form_version)
    .bind(inquiry.as_str())
    .bind(hex::encode(resident.verifier))
    .bind(resident.message_key())
    .bind(&job.draft_sha256)
    .bind(record.key_id.as_str())
    .bind(&bytes)
    .bind(&record_sha256)
    .bind(SubmissionStatus::Received.as_str())
    .bind(now.unix_timestamp())
    .bind(job.notify_address.as_deref())
    .execute(&mut *sp)
    .await);
    if inserted.rows_affected() == 0 {
        // Accepted by another node since we looked: give the number back.
        let _ = sp.rollback().await;
        let job = Job { seal: Box::new(|_| Err(SealError::BadToken)), ..job };
        return Ok(Outcome::Duplicate(Box::new(job)));
    }
    let event = Event {
        kind: EventKind::Submission,
        at: now.unix_timestamp(),
        actor: "resident".into(),
        tenant: Some(job.tenant.clone()),
        source: None,
        subject: Some(receipt.to_string()),
        detail: record_sha256.clone(),
    };
    let ledger_index = db!(crate::ledger::append(&mut sp, &event).await);
    db!(sqlx::query(
        "UPDATE submissions SET ledger_index = $1 WHERE tenant_id = $2 AND receipt_year = $3 AND receipt_seq = $4",
    )
    .bind(ledger_index)
    .bind(&job.tenant)
    .bind(year)
    .bind(seq)
    .execute(&mut *sp)
    .await);
    db!(sp.commit().await);
    Ok(Outcome::Accepted(Box::new(Accepted {
        reply: job.reply,
        acceptance: Acceptance {
            receipt,
            inquiry,
            record_sha256,
            received_at: now.unix_timestamp(),
            duplicate: false,
            ledger_index,
        },
        entry: SegmentEntry { tenant: job.tenant, receipt, record: bytes },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_reads_back_entry_by_entry_and_refuses_damage() {
        let entries = vec![
            SegmentEntry {
                tenant: "aoba-city".into(),
                receipt: ReceiptNumber { year: 2026, seq: 1 },
                record: vec![1, 2, 3],
            },
            SegmentEntry {
                tenant: "sakura-town".into(),
                receipt: ReceiptNumber { year: 2026, seq: 9 },
                record: vec![],
            },
        ];
        let bytes = encode_segment(&entries);
        let back = decode_segment(&bytes).expect("decodes");
        assert_eq!(back.len(), 2);
        assert_eq!(
            (back[0].tenant.as_str(), back[0].receipt.seq, back[0].record.as_slice()),
            ("aoba-city", 1, &[1u8, 2, 3][..])
        );
        assert_eq!((back[1].tenant.as_str(), back[1].receipt.seq), ("sakura-town", 9));
        assert!(decode_segment(&bytes[..bytes.len() - 1]).is_none(), "a cut segment is refused");
        assert!(decode_segment(b"something else").is_none());
    }
}
