//! The desk's side of the watch (docs/watch.md): every record a staff
//! member opens or exports is shown to the rules of the `watch` crate
//! before it is shown to them. A finding is an `alert` event for the
//! counter's ledger (the counter mails the tenant's security contacts and
//! calls its webhook); a finding that freezes ends the member's sessions
//! at once, refuses this request, and keeps the account frozen until a
//! tenant admin lifts it after review. The rules' memory is rebuilt from
//! the access log at start, so a restart does not forget a baseline.

use std::sync::Mutex;

use sqlx::Row;

use crate::store::DeskStore;
use store::ReceiptNumber;

use crate::{now_unix, Result};

/// How far back the access log is replayed at start: the rules' longest
/// memory (28 days of baseline) and a week besides.
const REPLAY_SECS: i64 = 35 * 86_400;

/// What the watch made of one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// The member is frozen now: nothing of this read may be shown.
    Frozen,
}

/// A read about to happen, as the desk describes it to the rules.
pub struct ReadAttempt<'a> {
    pub login: &'a str,
    /// "view" or "export".
    pub action: &'a str,
    pub receipt: Option<ReceiptNumber>,
    pub records: u64,
    pub honeytokens: u64,
    pub source: Option<&'a str>,
    /// For the access log: which form, which encoding …
    pub detail: &'a str,
}

/// The rules over this desk's staff reads.
pub struct ReadWatch {
    tenant: String,
    rules: Mutex<watch::Watch>,
    /// For drills only: the rules' time from this file.
    clock: Option<std::path::PathBuf>,
}

impl ReadWatch {
    pub fn new(tenant: &str, thresholds: watch::Thresholds, clock: Option<std::path::PathBuf>) -> ReadWatch {
        ReadWatch { tenant: tenant.to_owned(), rules: Mutex::new(watch::Watch::new(thresholds)), clock }
    }

    /// Rebuilds the rules' memory from the last weeks of reads (at start).
    pub async fn replay(&self, store: &DeskStore) -> Result<u64> {
        let rows = sqlx::query(
            "SELECT at, actor, records, honeytokens, source FROM access_log
             WHERE at >= $1 AND action IN ('view', 'export') ORDER BY at",
        )
        .bind(now_unix() - REPLAY_SECS)
        .fetch_all(store.db())
        .await?;
        let mut reads = Vec::with_capacity(rows.len());
        for row in &rows {
            let actor: String = row.try_get("actor")?;
            reads.push(watch::Read {
                principal: format!("staff:{actor}"),
                tenant: self.tenant.clone(),
                records: row.try_get::<i64, _>("records")?.max(0) as u64,
                source: row.try_get("source")?,
                at: row.try_get("at")?,
                honeytokens: row.try_get::<i64, _>("honeytokens")?.max(0) as u64,
            });
        }
        let mut rules =
            self.rules.lock().map_err(|_| crate::DeskError::Setup("the watch's lock is poisoned".into()))?;
        // Findings of the past were raised when they happened.
        for read in &reads {
            rules.observe(read);
        }
        Ok(reads.len() as u64)
    }

    /// Logs the read and shows it to the rules; raises what they find and
    /// freezes the member if a finding calls for it.
    pub async fn check(&self, store: &DeskStore, read: &ReadAttempt<'_>) -> Result<Verdict> {
        let at = counter::watch_clock_now(self.clock.as_deref());
        let from = read.source.map(|s| format!(" · from {s}")).unwrap_or_default();
        let noun = if read.records == 1 { "record" } else { "records" };
        let detail = format!("{}{} {noun}{from}", read.detail, read.records).trim_start().to_owned();
        store.log_read(read, at, &detail).await?;
        let findings = match self.rules.lock() {
            Ok(mut rules) => rules.observe(&watch::Read {
                principal: format!("staff:{}", read.login),
                tenant: self.tenant.clone(),
                records: read.records,
                source: read.source.map(str::to_owned),
                at,
                honeytokens: read.honeytokens,
            }),
            // A poisoned lock means a panic elsewhere: refuse rather than
            // show records unwatched.
            Err(_) => return Ok(Verdict::Frozen),
        };
        let mut verdict = Verdict::Allowed;
        for finding in findings {
            tracing::warn!(staff = %read.login, rule = finding.rule(), "watch: {finding}");
            store.log_access(read.login, "alert", read.receipt, &format!("{}: {finding}", finding.rule())).await?;
            if finding.freezes() && verdict == Verdict::Allowed {
                verdict = Verdict::Frozen;
                store.freeze_staff(read.login, &format!("{}: {finding}", finding.rule())).await?;
            }
        }
        Ok(verdict)
    }
}

/// A frozen account, as the tenant admin's staff page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub at: i64,
    pub reason: String,
}

impl DeskStore {
    /// One row of the access log with what the watch needs.
    async fn log_read(&self, read: &ReadAttempt<'_>, at: i64, detail: &str) -> Result<()> {
        self.log_event(at, read.login, read.action, read.receipt, detail, (read.records, read.honeytokens, read.source))
            .await
    }

    /// Freezes a member: every session ends now, sign-in is refused until
    /// [`DeskStore::unfreeze_staff`]. Logged for the counter's ledger.
    pub async fn freeze_staff(&self, login: &str, reason: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query("UPDATE staff SET frozen_at = $2, frozen_reason = $3 WHERE login = $1 AND frozen_at IS NULL")
            .bind(login)
            .bind(now_unix())
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE login = $1").bind(login).execute(&mut *tx).await?;
        tx.commit().await?;
        self.log_access(login, "frozen", None, &format!("{reason} · {} session(s) ended", ended.rows_affected())).await
    }

    /// Lifts a freeze after review; `note` says what the review found.
    /// False when the account is not frozen.
    pub async fn unfreeze_staff(&self, login: &str, by: &str, note: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE staff SET frozen_at = NULL, frozen_reason = NULL WHERE login = $1 AND frozen_at IS NOT NULL",
        )
        .bind(login)
        .execute(self.db())
        .await?;
        if done.rows_affected() == 1 {
            self.log_access(by, "unfrozen", None, &format!("{login} · {note}")).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Why and since when an account is frozen, if it is.
    pub async fn freeze_of(&self, login: &str) -> Result<Option<Freeze>> {
        let row = sqlx::query("SELECT frozen_at, frozen_reason FROM staff WHERE login = $1")
            .bind(login)
            .fetch_optional(self.db())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let at: Option<i64> = row.try_get("frozen_at")?;
        let reason: Option<String> = row.try_get("frozen_reason")?;
        Ok(at.map(|at| Freeze { at, reason: reason.unwrap_or_default() }))
    }

    /// Records a synthetic applicant this desk planted.
    pub async fn add_honeytoken(&self, receipt: ReceiptNumber) -> Result<()> {
        sqlx::query("INSERT INTO honeytokens (receipt_year, receipt_seq, planted_at) VALUES ($1, $2, $3)")
            .bind(receipt.year)
            .bind(receipt.seq)
            .bind(now_unix())
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn is_honeytoken(&self, receipt: ReceiptNumber) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM honeytokens WHERE receipt_year = $1 AND receipt_seq = $2")
            .bind(receipt.year)
            .bind(receipt.seq)
            .fetch_optional(self.db())
            .await?;
        Ok(row.is_some())
    }

    /// The synthetic applicants' numbers, for the tenant admin and tests.
    pub async fn honeytokens(&self) -> Result<Vec<ReceiptNumber>> {
        let rows = sqlx::query("SELECT receipt_year, receipt_seq FROM honeytokens ORDER BY receipt_year, receipt_seq")
            .fetch_all(self.db())
            .await?;
        rows.iter()
            .map(|r| Ok(ReceiptNumber { year: r.try_get("receipt_year")?, seq: r.try_get("receipt_seq")? }))
            .collect()
    }

    pub async fn honeytoken_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM honeytokens").fetch_one(self.db()).await?;
        Ok(row.try_get::<i64, _>("n")?.max(0) as u64)
    }
}
