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

use ledger::Event;
use seal::{SealError, SealedRecord};
use sqlx::{Any, AnyPool, Row};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::journal::{self, Entry, SubmissionRow};
use crate::submissions::{accepted_draft, InquiryNumber, JST};
use crate::{sha256_hex, Acceptance, ReceiptNumber, Result, StoreError, Vault};

/// The most submissions one transaction carries.
const MAX_BATCH: usize = 256;
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
    pub booking: Option<crate::BookingClaim>,
    pub attachments: Vec<String>,
    pub respondent: Option<String>,
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

/// `count` new 問合せ番号, none already given and no two alike. They are
/// twelve digits (a resident types them), so among millions a random one
/// is sometimes taken: without this check the whole batch would fail on
/// the unique index.
async fn fresh_inquiry_numbers(tx: &mut sqlx::Transaction<'_, Any>, count: usize) -> Result<Vec<InquiryNumber>> {
    fresh_inquiry_numbers_from(tx, count, InquiryNumber::generate).await
}

async fn fresh_inquiry_numbers_from(
    tx: &mut sqlx::Transaction<'_, Any>,
    count: usize,
    mut generate: impl FnMut() -> InquiryNumber,
) -> Result<Vec<InquiryNumber>> {
    let mut numbers: Vec<InquiryNumber> = (0..count).map(|_| generate()).collect();
    for _ in 0..8 {
        let mut seen = HashSet::new();
        let mut clash: HashSet<usize> = (0..count).filter(|&i| !seen.insert(numbers[i].clone())).collect();
        for batch in numbers.chunks(journal::PARAMETERS_PER_STATEMENT) {
            let sql = format!(
                "SELECT inquiry_number FROM submissions WHERE inquiry_number IN ({})",
                (1..=batch.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
            );
            let mut query = sqlx::query(&sql);
            for number in batch {
                query = query.bind(number.as_str().to_owned());
            }
            for row in query.fetch_all(&mut **tx).await? {
                let taken: String = row.try_get("inquiry_number")?;
                clash.extend((0..count).filter(|&i| numbers[i].as_str() == taken));
            }
        }
        if clash.is_empty() {
            return Ok(numbers);
        }
        for i in clash {
            numbers[i] = generate();
        }
    }
    Err(StoreError::Unavailable("could not find unused inquiry numbers".into()))
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

/// Splits `jobs` into those that get a place (or book nothing) and those
/// whose slot is full, counting the places already held and those given
/// earlier in this batch. Must run under the tenants' number locks.
async fn claim_places(
    tx: &mut sqlx::Transaction<'_, Any>,
    jobs: Vec<Job>,
) -> std::result::Result<(Vec<Job>, Vec<Job>), (sqlx::Error, Vec<Job>)> {
    let mut held: std::collections::HashMap<(String, String, String), i64> = std::collections::HashMap::new();
    let (mut kept, mut full) = (Vec::with_capacity(jobs.len()), Vec::new());
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        let Some(claim) = &job.booking else {
            kept.push(job);
            continue;
        };
        let key = (job.tenant.clone(), job.form_id.clone(), claim.slot.clone());
        let taken = match held.get(&key) {
            Some(n) => *n,
            None => {
                let counted = sqlx::query(
                    "SELECT COUNT(*) AS n FROM submissions
                     WHERE tenant_id = $1 AND form_id = $2 AND booking_slot = $3 AND status <> 'cancelled'",
                )
                .bind(&key.0)
                .bind(&key.1)
                .bind(&key.2)
                .fetch_one(&mut **tx)
                .await
                .and_then(|row| row.try_get::<i64, _>("n"));
                match counted {
                    Ok(n) => n,
                    Err(err) => {
                        let mut all = kept;
                        all.extend(full);
                        all.push(job);
                        all.extend(jobs);
                        return Err((err, all));
                    }
                }
            }
        };
        if taken < claim.capacity {
            held.insert(key, taken + 1);
            kept.push(job);
        } else {
            held.insert(key, taken);
            full.push(job);
        }
    }
    Ok((kept, full))
}

/// Splits `jobs` into first answers (and submissions of no verified
/// respondent) and second answers of a respondent to the same form, here
/// or earlier in this batch. Must run under the tenants' number locks.
async fn first_answers(
    tx: &mut sqlx::Transaction<'_, Any>,
    jobs: Vec<Job>,
) -> std::result::Result<(Vec<Job>, Vec<Job>), (sqlx::Error, Vec<Job>)> {
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    let (mut kept, mut answered) = (Vec::with_capacity(jobs.len()), Vec::new());
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        let Some(respondent) = &job.respondent else {
            kept.push(job);
            continue;
        };
        let key = (job.tenant.clone(), job.form_id.clone(), respondent.clone());
        if seen.contains(&key) {
            answered.push(job);
            continue;
        }
        let found = sqlx::query(
            "SELECT COUNT(*) AS n FROM submissions WHERE tenant_id = $1 AND form_id = $2 AND respondent = $3",
        )
        .bind(&key.0)
        .bind(&key.1)
        .bind(&key.2)
        .fetch_one(&mut **tx)
        .await
        .and_then(|row| row.try_get::<i64, _>("n"));
        match found {
            Ok(0) => {
                seen.insert(key);
                kept.push(job);
            }
            Ok(_) => answered.push(job),
            Err(err) => {
                let mut all = kept;
                all.extend(answered);
                all.push(job);
                all.extend(jobs);
                return Err((err, all));
            }
        }
    }
    Ok((kept, answered))
}

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
    // Places in time slots, counted under the tenants' number locks: every
    // submission of a tenant, on any node, waits for them, so the count
    // cannot change before this transaction commits.
    if jobs.iter().any(|j| j.booking.is_some()) {
        let (kept, full) = match claim_places(&mut tx, jobs).await {
            Ok(split) => split,
            Err((err, jobs)) => fail!(BatchFailure::Database, err, jobs),
        };
        for job in full {
            let _ = job.reply.send(Err(StoreError::SlotFull));
        }
        jobs = kept;
        if jobs.is_empty() {
            let _ = tx.commit().await;
            return Ok(Vec::new());
        }
    }
    // One answer per verified respondent, checked under the same locks.
    if jobs.iter().any(|j| j.respondent.is_some()) {
        let (kept, answered) = match first_answers(&mut tx, jobs).await {
            Ok(split) => split,
            Err((err, jobs)) => fail!(BatchFailure::Database, err, jobs),
        };
        for job in answered {
            let _ = job.reply.send(Err(StoreError::AlreadyAnswered));
        }
        jobs = kept;
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
            job.booking.map(|b| b.slot),
            job.attachments,
            job.respondent,
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

    // Every row as it will be inserted: each record serialised and hashed
    // once; the 問合せ番号 drawn fresh.
    let now_secs = now.unix_timestamp();
    let mut inquiries = match fresh_inquiry_numbers(&mut tx, records.len()).await {
        Ok(numbers) => numbers.into_iter(),
        Err(err) => {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Database, err.to_string(), replies));
        }
    };
    let mut given = Vec::with_capacity(records.len());
    let mut entries: Vec<(Entry, Vec<u8>)> = records
        .into_iter()
        .zip(&meta)
        .map(|((receipt, record), m)| {
            let (tenant, form_id, form_version, draft, secret, notify, slot, attachments, respondent) = m;
            let inquiry = inquiries.next().unwrap_or_else(InquiryNumber::generate);
            let resident = seal::ResidentKeys::derive(secret, inquiry.as_str());
            let bytes = record.to_bytes();
            let row = SubmissionRow {
                tenant: tenant.clone(),
                year: receipt.year,
                seq: receipt.seq,
                form_id: form_id.clone(),
                form_version: *form_version,
                inquiry_number: inquiry.as_str().to_owned(),
                secret_verifier: hex::encode(resident.verifier),
                message_key: resident.message_key(),
                draft_sha256: draft.clone(),
                key_id: record.key_id.as_str().to_owned(),
                record_sha256: sha256_hex(&bytes),
                received_at: now_secs,
                notify_address: notify.as_ref().map(hex::encode),
                // Set below, once the leaves have their indexes.
                ledger_index: -1,
                booking_slot: slot.clone(),
                attachments: attachments.clone(),
                respondent: respondent.clone(),
            };
            given.push(inquiry);
            (Entry::Submission(row), bytes)
        })
        .collect();

    // Their ledger leaves, in a few statements.
    let events: Vec<Event> = entries
        .iter()
        .filter_map(|(entry, _)| match entry {
            Entry::Submission(row) => Some(row.leaf()),
            _ => None,
        })
        .collect();
    let first_leaf = match crate::ledger::append_many(&mut tx, &events).await {
        Ok(first) => first,
        Err(err) => {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Database, err.to_string(), replies));
        }
    };
    for (i, (entry, _)) in entries.iter_mut().enumerate() {
        if let Entry::Submission(row) = entry {
            row.ledger_index = first_leaf + i as i64;
        }
    }

    // The segment, in the vault before the commit.
    let segment_written = std::time::Instant::now();
    let segment_hash = match journal::write(vault, &entries).await {
        Ok(hash) => hash,
        Err(err) => {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Vault, err.to_string(), replies));
        }
    };

    // Every row, in a few multi-row statements.
    let rows: Vec<(&SubmissionRow, &[u8], &str)> = entries
        .iter()
        .filter_map(|(entry, bytes)| match entry {
            Entry::Submission(row) => Some((row, bytes.as_slice(), segment_hash.as_str())),
            _ => None,
        })
        .collect();
    match journal::insert_submissions(&mut tx, &rows).await {
        Ok(n) if n == rows.len() as u64 => {}
        Ok(_) => {
            // A draft or number committed elsewhere after our check (it
            // cannot be, under the locks; if it is, acknowledge nothing).
            let _ = tx.rollback().await;
            return Err((BatchFailure::Database, "a draft was committed twice".into(), replies));
        }
        Err(err) => {
            let _ = tx.rollback().await;
            return Err((BatchFailure::Database, err.to_string(), replies));
        }
    }
    let acceptances: Vec<Acceptance> = rows
        .iter()
        .zip(given)
        .map(|((row, _, _), inquiry)| Acceptance {
            receipt: row.receipt(),
            inquiry,
            record_sha256: row.record_sha256.clone(),
            received_at: row.received_at,
            duplicate: false,
            ledger_index: row.ledger_index,
        })
        .collect();
    if segment_written.elapsed() > journal::COMMIT_DEADLINE {
        let _ = tx.rollback().await;
        return Err((BatchFailure::Database, "the database was too slow to commit".into(), replies));
    }
    if let Err(err) = tx.commit().await {
        return Err((BatchFailure::Database, err.to_string(), replies));
    }
    Ok(replies.into_iter().zip(acceptances).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inquiry_numbers_already_given_or_repeated_are_drawn_again() {
        sqlx::any::install_default_drivers();
        // One connection: each in-memory SQLite connection is its own database.
        let db = sqlx::any::AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE submissions (inquiry_number TEXT UNIQUE)").execute(&db).await.unwrap();
        sqlx::query("INSERT INTO submissions VALUES ('0000-0000-0001')").execute(&db).await.unwrap();
        let mut draws = ["0000-0000-0001", "0000-0000-0002", "0000-0000-0002", "0000-0000-0003", "0000-0000-0004"]
            .into_iter()
            .map(|n| InquiryNumber::from_stored(n.into()));
        let mut tx = db.begin().await.unwrap();
        let numbers = fresh_inquiry_numbers_from(&mut tx, 3, || draws.next().unwrap()).await.unwrap();
        let mut got: Vec<&str> = numbers.iter().map(InquiryNumber::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, ["0000-0000-0002", "0000-0000-0003", "0000-0000-0004"]);
    }
}
