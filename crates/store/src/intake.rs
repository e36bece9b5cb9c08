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
use sqlx::{Any, AnyPool, Row};
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

type Reply = oneshot::Sender<Result<Acceptance>>;

/// Acceptances of drafts already committed, by draft hash: one query.
async fn committed<'e, E>(executor: E, drafts: &[String]) -> Result<std::collections::HashMap<String, Acceptance>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let mut found = std::collections::HashMap::new();
    if drafts.is_empty() {
        return Ok(found);
    }
    let placeholders: Vec<String> = (1..=drafts.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT draft_sha256, receipt_year, receipt_seq, inquiry_number, record_sha256, received_at, ledger_index
         FROM submissions WHERE draft_sha256 IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for draft in drafts {
        query = query.bind(draft.clone());
    }
    for row in query.fetch_all(executor).await? {
        found.insert(
            row.try_get("draft_sha256")?,
            Acceptance {
                receipt: ReceiptNumber { year: row.try_get("receipt_year")?, seq: row.try_get("receipt_seq")? },
                inquiry: InquiryNumber::from_stored(row.try_get("inquiry_number")?),
                record_sha256: row.try_get("record_sha256")?,
                received_at: row.try_get("received_at")?,
                duplicate: true,
                ledger_index: row.try_get::<Option<i64>, _>("ledger_index")?.unwrap_or(-1),
            },
        );
    }
    Ok(found)
}

async fn commit_batch(db: &AnyPool, vault: &Vault, batch: Vec<Job>) {
    // `Store::accept` answered drafts committed before they were queued,
    // and `write_batch` finds those committed since, under its locks; here
    // only the same draft twice in this batch is set aside (written once).
    let mut seen = HashSet::new();
    let mut pending = Vec::with_capacity(batch.len());
    let mut later = Vec::new();
    for job in batch {
        if seen.insert(job.draft_sha256.clone()) {
            pending.push(job);
        } else {
            later.push(job);
        }
    }
    if !pending.is_empty() {
        match write_batch(db, vault, pending, &mut later).await {
            Ok(accepted) => {
                metrics::histogram!("store_group_commit_batch_size").record(accepted.len() as f64);
                for (reply, acceptance) in accepted {
                    let _ = reply.send(Ok(acceptance));
                }
            }
            Err((failure, detail, replies)) => {
                tracing::warn!(error = %detail, "a batch of submissions was not accepted; nothing was acknowledged");
                for reply in replies {
                    let _ = reply.send(Err(failure.error(&detail)));
                }
            }
        }
    }
    // Duplicates of drafts in this batch, or committed by another node
    // meanwhile: the committed receipt (or the batch's error, if it failed).
    for job in later {
        let answer = accepted_draft(db, &job.draft_sha256).await.and_then(|done| {
            done.ok_or_else(|| StoreError::Unavailable("the submission was not accepted; please try again".into()))
        });
        let _ = job.reply.send(answer);
    }
}

type BatchError = (BatchFailure, String, Vec<Reply>);

/// One transaction for the batch, in a fixed number of statements: lock
/// the tenants' number rows, drop drafts another node committed meanwhile,
/// take consecutive numbers per tenant, seal (in parallel), append the
/// ledger leaves, write the segment to the vault, insert every row, commit.
async fn write_batch(
    db: &AnyPool,
    vault: &Vault,
    jobs: Vec<Job>,
    later: &mut Vec<Job>,
) -> std::result::Result<Vec<(Reply, Acceptance)>, BatchError> {
    let now = OffsetDateTime::now_utc();
    let year = i64::from(now.to_offset(JST).year());
    let mut jobs = jobs;
    macro_rules! fail {
        ($failure:expr, $err:expr, $jobs:expr) => {{
            let detail = $err.to_string();
            return Err(($failure, detail, $jobs.into_iter().map(|j| j.reply).collect()));
        }};
    }
    let mut tx = match db.begin().await {
        Ok(tx) => tx,
        Err(err) => fail!(BatchFailure::Database, err, jobs),
    };
    // Number rows first (a write: SQLite's lock, PostgreSQL's row locks, in
    // tenant order so two nodes cannot deadlock).
    let mut tenants: Vec<String> = jobs.iter().map(|j| j.tenant.clone()).collect();
    tenants.sort();
    tenants.dedup();
    for tenant in &tenants {
        let locked = sqlx::query(
            "INSERT INTO receipt_sequences (tenant_id, year, last_seq) VALUES ($1, $2, 0)
             ON CONFLICT (tenant_id, year) DO UPDATE SET last_seq = receipt_sequences.last_seq",
        )
        .bind(tenant)
        .bind(year)
        .execute(&mut *tx)
        .await;
        if let Err(err) = locked {
            fail!(BatchFailure::Database, err, jobs);
        }
    }
    // Under the locks: drafts another node committed since we looked.
    let drafts: Vec<String> = jobs.iter().map(|j| j.draft_sha256.clone()).collect();
    let elsewhere = match committed(&mut *tx, &drafts).await {
        Ok(found) => found,
        Err(err) => fail!(BatchFailure::Database, err, jobs),
    };
    if !elsewhere.is_empty() {
        let (dup, rest): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| elsewhere.contains_key(&j.draft_sha256));
        later.extend(dup);
        jobs = rest;
        if jobs.is_empty() {
            let _ = tx.commit().await;
            return Ok(Vec::new());
        }
    }
    // Consecutive numbers per tenant, in one statement each.
    let mut numbers = Vec::with_capacity(jobs.len());
    for tenant in &tenants {
        let count = jobs.iter().filter(|j| &j.tenant == tenant).count() as i64;
        if count == 0 {
            continue;
        }
        let last = sqlx::query(
            "UPDATE receipt_sequences SET last_seq = last_seq + $3 WHERE tenant_id = $1 AND year = $2 RETURNING last_seq",
        )
        .bind(tenant)
        .bind(year)
        .bind(count)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get::<i64, _>("last_seq"));
        match last {
            Ok(last) => numbers.push((tenant.clone(), last - count + 1)),
            Err(err) => fail!(BatchFailure::Database, err, jobs),
        }
    }
    let mut next: std::collections::HashMap<String, i64> = numbers.into_iter().collect();
    let receipts: Vec<ReceiptNumber> = jobs
        .iter()
        .map(|j| {
            let seq = next.get_mut(&j.tenant).map(|n| {
                *n += 1;
                *n - 1
            });
            ReceiptNumber { year, seq: seq.unwrap_or(0) }
        })
        .collect();

    // Seal, two workers (the machine's cores), off the async threads.
    let mut replies = Vec::with_capacity(jobs.len());
    let mut work = Vec::with_capacity(jobs.len());
    let mut meta = Vec::with_capacity(jobs.len());
    for (job, receipt) in jobs.into_iter().zip(receipts) {
        replies.push(job.reply);
        work.push((job.seal, receipt));
        meta.push((
            job.tenant,
            job.form_id,
            job.form_version,
            job.draft_sha256,
            job.inquiry_secret,
            job.notify_address,
        ));
    }
    let half = work.len().div_ceil(2);
    let second = work.split_off(half);
    let seal_all = |part: Vec<(SealFn, ReceiptNumber)>| {
        tokio::task::spawn_blocking(move || {
            part.into_iter().map(|(seal, r)| seal(&r).map(|rec| (r, rec))).collect::<Vec<_>>()
        })
    };
    let (first_sealed, second_sealed) = tokio::join!(seal_all(work), seal_all(second));
    let sealed: Vec<_> = match (first_sealed, second_sealed) {
        (Ok(a), Ok(b)) => a.into_iter().chain(b).collect(),
        _ => {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Database, "sealing stopped".into(), replies));
        }
    };
    let mut records = Vec::with_capacity(sealed.len());
    for (i, outcome) in sealed.into_iter().enumerate() {
        match outcome {
            Ok(pair) => records.push(pair),
            Err(err) => {
                // A key that cannot seal: no number may be spent, so the
                // whole batch goes back; the others are asked to retry.
                let _ = tx.rollback().await;
                let mut replies = replies;
                let bad = replies.remove(i);
                let _ = bad.send(Err(StoreError::Seal(err)));
                return Err((BatchFailure::Database, "another submission could not be sealed".into(), replies));
            }
        }
    }

    // Ledger leaves for all, in two statements.
    let events: Vec<Event> = records
        .iter()
        .zip(&meta)
        .map(|((receipt, record), m)| Event {
            kind: EventKind::Submission,
            at: now.unix_timestamp(),
            actor: "resident".into(),
            tenant: Some(m.0.clone()),
            source: None,
            subject: Some(receipt.to_string()),
            detail: sha256_hex(&record.to_bytes()),
        })
        .collect();
    let first_leaf = match crate::ledger::append_many(&mut tx, &events).await {
        Ok(first) => first,
        Err(err) => {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Database, err.to_string(), replies));
        }
    };

    // The segment, in the vault before the commit.
    let entries: Vec<SegmentEntry> = records
        .iter()
        .zip(&meta)
        .map(|((receipt, record), m)| SegmentEntry {
            tenant: m.0.clone(),
            receipt: *receipt,
            record: record.to_bytes(),
        })
        .collect();
    let segment_hash = match vault.put(SEGMENT_KIND, &encode_segment(&entries)).await {
        Ok(hash) => hash,
        Err(err) => {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Vault, err.to_string(), replies));
        }
    };

    // Every row, in statements of at most 128 rows.
    const COLUMNS: usize = 18;
    let mut acceptances = Vec::with_capacity(records.len());
    let rows: Vec<_> = records
        .into_iter()
        .zip(meta)
        .zip(entries)
        .enumerate()
        .map(|(i, (((receipt, record), m), entry))| (first_leaf + i as i64, receipt, record, m, entry.record))
        .collect();
    for chunk in rows.chunks(128) {
        let mut sql = String::from(
            "INSERT INTO submissions (tenant_id, receipt_year, receipt_seq, form_id, form_version, inquiry_number,
               secret_verifier, message_key, draft_sha256, key_id, record, record_sha256, status, received_at,
               status_changed_at, notify_address, ledger_index, vault_segment) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let cols: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", i * COLUMNS + c)).collect();
            sql.push_str(&format!("({})", cols.join(", ")));
        }
        sql.push_str(" ON CONFLICT (draft_sha256) DO NOTHING");
        let mut query = sqlx::query(&sql);
        for (ledger_index, receipt, record, m, bytes) in chunk {
            let (tenant, form_id, form_version, draft, secret, notify) = m;
            let inquiry = InquiryNumber::generate();
            let resident = seal::ResidentKeys::derive(secret, inquiry.as_str());
            let record_sha256 = sha256_hex(bytes);
            query = query
                .bind(tenant.clone())
                .bind(receipt.year)
                .bind(receipt.seq)
                .bind(form_id.clone())
                .bind(*form_version)
                .bind(inquiry.as_str().to_owned())
                .bind(hex::encode(resident.verifier))
                .bind(resident.message_key())
                .bind(draft.clone())
                .bind(record.key_id.as_str().to_owned())
                .bind(bytes.clone())
                .bind(record_sha256.clone())
                .bind(SubmissionStatus::Received.as_str())
                .bind(now.unix_timestamp())
                .bind(now.unix_timestamp())
                .bind(notify.clone())
                .bind(*ledger_index)
                .bind(segment_hash.clone());
            acceptances.push(Acceptance {
                receipt: *receipt,
                inquiry,
                record_sha256,
                received_at: now.unix_timestamp(),
                duplicate: false,
                ledger_index: *ledger_index,
            });
        }
        match query.execute(&mut *tx).await {
            Ok(done) if done.rows_affected() == chunk.len() as u64 => {}
            Ok(_) => {
                // A draft committed elsewhere after our check (it cannot be,
                // under the locks; if it is, acknowledge nothing).
                let _ = tx.rollback().await;
                return Err((BatchFailure::Database, "a draft was committed twice".into(), replies));
            }
            Err(err) => {
                let _ = tx.rollback().await;
                return Err((BatchFailure::Database, err.to_string(), replies));
            }
        }
    }
    if let Err(err) = tx.commit().await {
        return Err((BatchFailure::Database, err.to_string(), replies));
    }
    Ok(replies.into_iter().zip(acceptances).collect())
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
