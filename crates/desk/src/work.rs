//! What staff do with records: the inbox, the status workflow, comments,
//! assignment, and what must go back to the counter.

use sqlx::Row;
use store::{ReceiptNumber, SubmissionStatus};

use crate::keyring::KeyRing;
use crate::store::{at_rest_label, DeskStore, StoredRecord};
use crate::{now_unix, DeskError, Result};

/// The workflow: 受付 → 審査中 → 完了 / 差戻し / 却下; a returned
/// application comes back under review when the resident has corrected it.
pub fn allowed_next(from: SubmissionStatus) -> &'static [SubmissionStatus] {
    use SubmissionStatus::*;
    match from {
        Received => &[InReview, Rejected],
        InReview => &[Completed, Returned, Rejected],
        Returned => &[InReview, Rejected],
        Completed | Rejected | Cancelled => &[],
    }
}

/// Inbox filters; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub form_id: Option<String>,
    pub status: Option<SubmissionStatus>,
    /// Received at or after (unix seconds).
    pub from: Option<i64>,
    /// Received before (unix seconds).
    pub until: Option<i64>,
    pub assigned_to: Option<String>,
}

/// A line of the inbox: no personal data, so listing is not reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    pub receipt: ReceiptNumber,
    pub form_id: String,
    pub form_version: i64,
    pub received_at: i64,
    pub status: SubmissionStatus,
    pub assigned_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub status: SubmissionStatus,
    pub message: Option<String>,
    pub actor: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub actor: String,
    pub at: i64,
    pub body: String,
}

/// A status change still to be pushed to the counter.
#[derive(Debug, Clone)]
pub struct PendingPush {
    pub receipt: ReceiptNumber,
    pub status: SubmissionStatus,
    pub changed_at: i64,
    pub message: Option<Vec<u8>>,
}

fn status_of(row: &sqlx::any::AnyRow, column: &str) -> Result<SubmissionStatus> {
    let text: String = row.try_get(column)?;
    SubmissionStatus::parse(&text).ok_or_else(|| DeskError::Setup(format!("unknown status {text:?} in the desk store")))
}

impl DeskStore {
    /// The inbox, newest first, at most `limit` lines from `offset`.
    pub async fn list_records(&self, filter: &RecordFilter, limit: i64, offset: i64) -> Result<Vec<RecordSummary>> {
        // Every condition is always present and switched off by a NULL
        // parameter, so the statement is fixed and fully parameterised.
        let rows = sqlx::query(
            "SELECT receipt_year, receipt_seq, form_id, form_version, received_at, status, assigned_to FROM records
             WHERE ($1 IS NULL OR form_id = $1) AND ($2 IS NULL OR status = $2)
               AND ($3 IS NULL OR received_at >= $3) AND ($4 IS NULL OR received_at < $4)
               AND ($5 IS NULL OR assigned_to = $5)
               AND NOT EXISTS (SELECT 1 FROM honeytokens h WHERE h.receipt_year = records.receipt_year AND h.receipt_seq = records.receipt_seq)
             ORDER BY receipt_year DESC, receipt_seq DESC LIMIT $6 OFFSET $7",
        )
        .bind(&filter.form_id)
        .bind(filter.status.map(SubmissionStatus::as_str))
        .bind(filter.from)
        .bind(filter.until)
        .bind(&filter.assigned_to)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RecordSummary {
                    receipt: ReceiptNumber { year: r.try_get("receipt_year")?, seq: r.try_get("receipt_seq")? },
                    form_id: r.try_get("form_id")?,
                    form_version: r.try_get("form_version")?,
                    received_at: r.try_get("received_at")?,
                    status: status_of(r, "status")?,
                    assigned_to: r.try_get("assigned_to")?,
                })
            })
            .collect()
    }

    /// (form id, number of records) for the inbox's form list.
    pub async fn form_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT form_id, COUNT(*) AS n FROM records
             WHERE NOT EXISTS (SELECT 1 FROM honeytokens h WHERE h.receipt_year = records.receipt_year AND h.receipt_seq = records.receipt_seq)
             GROUP BY form_id ORDER BY form_id",
        )
            .fetch_all(self.db())
            .await?;
        rows.iter().map(|r| Ok((r.try_get("form_id")?, r.try_get("n")?))).collect()
    }

    /// Moves a record along the workflow. `message` (required for 差戻し)
    /// is kept encrypted at rest for staff and sealed to the resident's
    /// message key for the counter.
    pub async fn set_status(
        &self,
        keys: &KeyRing,
        receipt: ReceiptNumber,
        to: SubmissionStatus,
        message: Option<&str>,
        actor: &str,
    ) -> Result<()> {
        let row = sqlx::query("SELECT status, message_key FROM records WHERE receipt_year = $1 AND receipt_seq = $2")
            .bind(receipt.year)
            .bind(receipt.seq)
            .fetch_optional(self.db())
            .await?
            .ok_or_else(|| DeskError::BadRecord { receipt: receipt.to_string(), reason: "no such record".into() })?;
        let from = status_of(&row, "status")?;
        if !allowed_next(from).contains(&to) {
            return Err(DeskError::BadRecord {
                receipt: receipt.to_string(),
                reason: format!("{} cannot become {}", from.as_str(), to.as_str()),
            });
        }
        let message = message.map(str::trim).filter(|m| !m.is_empty());
        if to == SubmissionStatus::Returned && message.is_none() {
            return Err(DeskError::BadRecord {
                receipt: receipt.to_string(),
                reason: "a return needs a message".into(),
            });
        }
        let message_key: String = row.try_get("message_key")?;
        let sealed_for_resident = match message {
            Some(text) => Some(seal::seal_message(&message_key, &keys.tenant, &receipt.to_string(), text)?),
            None => None,
        };
        let label = format!("{} history", at_rest_label(&keys.tenant, receipt));
        let at_rest = message.map(|text| keys.encrypt_at_rest(&label, text.as_bytes()));
        // Strictly after the last change, so the counter's "newer wins"
        // rule sees every change even within one second.
        let now = now_unix();
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE records SET status = $3, status_changed_at = CASE WHEN status_changed_at >= $4
               THEN status_changed_at + 1 ELSE $4 END, push_message = $5
             WHERE receipt_year = $1 AND receipt_seq = $2",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(to.as_str())
        .bind(now)
        .bind(&sealed_for_resident)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO status_history (receipt_year, receipt_seq, status, message, actor, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(to.as_str())
        .bind(&at_rest)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.log_access(actor, "status", Some(receipt), to.as_str()).await
    }

    pub async fn history(&self, keys: &KeyRing, receipt: ReceiptNumber) -> Result<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT status, message, actor, at FROM status_history WHERE receipt_year = $1 AND receipt_seq = $2 ORDER BY at",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .fetch_all(self.db())
        .await?;
        let label = format!("{} history", at_rest_label(&keys.tenant, receipt));
        rows.iter()
            .map(|r| {
                let sealed: Option<Vec<u8>> = r.try_get("message")?;
                let message = match sealed {
                    Some(bytes) => Some(String::from_utf8_lossy(&keys.decrypt_at_rest(&label, &bytes)?).into_owned()),
                    None => None,
                };
                Ok(HistoryEntry {
                    status: status_of(r, "status")?,
                    message,
                    actor: r.try_get("actor")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// An internal note, never sent to the counter; encrypted at rest.
    pub async fn add_comment(&self, keys: &KeyRing, receipt: ReceiptNumber, actor: &str, body: &str) -> Result<()> {
        let label = format!("{} comment", at_rest_label(&keys.tenant, receipt));
        sqlx::query("INSERT INTO comments (receipt_year, receipt_seq, actor, at, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(receipt.year)
            .bind(receipt.seq)
            .bind(actor)
            .bind(now_unix())
            .bind(keys.encrypt_at_rest(&label, body.as_bytes()))
            .execute(self.db())
            .await?;
        self.log_access(actor, "comment", Some(receipt), "").await
    }

    pub async fn comments(&self, keys: &KeyRing, receipt: ReceiptNumber) -> Result<Vec<Comment>> {
        let rows = sqlx::query(
            "SELECT actor, at, body FROM comments WHERE receipt_year = $1 AND receipt_seq = $2 ORDER BY at",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .fetch_all(self.db())
        .await?;
        let label = format!("{} comment", at_rest_label(&keys.tenant, receipt));
        rows.iter()
            .map(|r| {
                let body: Vec<u8> = r.try_get("body")?;
                Ok(Comment {
                    actor: r.try_get("actor")?,
                    at: r.try_get("at")?,
                    body: String::from_utf8_lossy(&keys.decrypt_at_rest(&label, &body)?).into_owned(),
                })
            })
            .collect()
    }

    /// Assigns the record to a staff member (or nobody).
    pub async fn assign(&self, receipt: ReceiptNumber, to: Option<&str>, actor: &str) -> Result<()> {
        sqlx::query("UPDATE records SET assigned_to = $3 WHERE receipt_year = $1 AND receipt_seq = $2")
            .bind(receipt.year)
            .bind(receipt.seq)
            .bind(to)
            .execute(self.db())
            .await?;
        self.log_access(actor, "assign", Some(receipt), to.unwrap_or("-")).await
    }

    /// Where this desk's reading of the counter's cancellations got to.
    pub async fn cancellation_cursor(&self, tenant: &str) -> Result<i64> {
        let row = sqlx::query("SELECT since FROM cancellation_cursor WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(self.db())
            .await?;
        Ok(match row {
            Some(row) => row.try_get("since")?,
            None => 0,
        })
    }

    /// Marks the records residents cancelled (取消, by "resident", with
    /// nothing to push back) and moves the cursor to `since`, in one
    /// transaction. A cancellation of a record not pulled yet stops the
    /// cursor before it, so it is applied once the record is here. Returns
    /// how many records changed.
    pub async fn apply_cancellations(&self, tenant: &str, cancelled: &[(ReceiptNumber, i64)]) -> Result<u64> {
        let mut tx = self.db().begin().await?;
        let mut changed = 0;
        let mut since = None;
        for (receipt, at) in cancelled {
            let done = sqlx::query(
                "UPDATE records SET status = 'cancelled', status_changed_at = $3, status_pushed_at = $3,
                   push_message = NULL
                 WHERE receipt_year = $1 AND receipt_seq = $2 AND status <> 'cancelled'",
            )
            .bind(receipt.year)
            .bind(receipt.seq)
            .bind(*at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                changed += 1;
                sqlx::query(
                    "INSERT INTO status_history (receipt_year, receipt_seq, status, message, actor, at)
                     VALUES ($1, $2, 'cancelled', NULL, 'resident', $3)",
                )
                .bind(receipt.year)
                .bind(receipt.seq)
                .bind(*at)
                .execute(&mut *tx)
                .await?;
            } else {
                let held = sqlx::query("SELECT 1 AS one FROM records WHERE receipt_year = $1 AND receipt_seq = $2")
                    .bind(receipt.year)
                    .bind(receipt.seq)
                    .fetch_optional(&mut *tx)
                    .await?;
                if held.is_none() {
                    break;
                }
            }
            since = Some(*at);
        }
        if let Some(since) = since {
            sqlx::query(
                "INSERT INTO cancellation_cursor (tenant_id, since) VALUES ($1, $2)
                 ON CONFLICT (tenant_id) DO UPDATE SET since = $2",
            )
            .bind(tenant)
            .bind(since)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Status changes the counter has not yet acknowledged.
    pub async fn pending_pushes(&self, limit: i64) -> Result<Vec<PendingPush>> {
        let rows = sqlx::query(
            "SELECT receipt_year, receipt_seq, status, status_changed_at, push_message FROM records
             WHERE status <> 'received' AND (status_pushed_at IS NULL OR status_pushed_at < status_changed_at)
             ORDER BY status_changed_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingPush {
                    receipt: ReceiptNumber { year: r.try_get("receipt_year")?, seq: r.try_get("receipt_seq")? },
                    status: status_of(r, "status")?,
                    changed_at: r.try_get("status_changed_at")?,
                    message: r.try_get("push_message")?,
                })
            })
            .collect()
    }

    /// Marks pushes done; a change made since (a newer `changed_at`) stays pending.
    pub async fn mark_pushed(&self, pushed: &[PendingPush]) -> Result<()> {
        for push in pushed {
            sqlx::query(
                "UPDATE records SET status_pushed_at = $3 WHERE receipt_year = $1 AND receipt_seq = $2
                   AND status_changed_at <= $3",
            )
            .bind(push.receipt.year)
            .bind(push.receipt.seq)
            .bind(push.changed_at)
            .execute(self.db())
            .await?;
        }
        Ok(())
    }

    /// What an export of a form started now holds: (records, the last
    /// 到達番号). The export streams only up to that number, so what the
    /// watch was shown before the first byte is what leaves.
    pub async fn export_extent(&self, form_id: &str) -> Result<(u64, ReceiptNumber)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MAX(receipt_year * 100000000 + receipt_seq) AS last FROM records WHERE form_id = $1
               AND NOT EXISTS (SELECT 1 FROM honeytokens h WHERE h.receipt_year = records.receipt_year AND h.receipt_seq = records.receipt_seq)",
        )
        .bind(form_id)
        .fetch_one(self.db())
        .await?;
        let last: Option<i64> = row.try_get("last")?;
        let last = last.map(|n| ReceiptNumber { year: n / 100_000_000, seq: n % 100_000_000 });
        Ok((row.try_get::<i64, _>("n")? as u64, last.unwrap_or(ReceiptNumber::START)))
    }

    /// A form's records after `after` and up to `upto` in 到達番号 order,
    /// for streaming an export.
    pub async fn export_page(
        &self,
        form_id: &str,
        after: ReceiptNumber,
        upto: ReceiptNumber,
        limit: i64,
    ) -> Result<Vec<StoredRecord>> {
        let rows = sqlx::query(
            "SELECT receipt_year, receipt_seq, form_id, form_version, key_id, record_sha256, sealed, payload, received_at,
               status, message_key, assigned_to FROM records WHERE form_id = $1
               AND (receipt_year > $2 OR (receipt_year = $2 AND receipt_seq > $3))
               AND (receipt_year < $5 OR (receipt_year = $5 AND receipt_seq <= $6))
               AND NOT EXISTS (SELECT 1 FROM honeytokens h WHERE h.receipt_year = records.receipt_year AND h.receipt_seq = records.receipt_seq)
             ORDER BY receipt_year, receipt_seq LIMIT $4",
        )
        .bind(form_id)
        .bind(after.year)
        .bind(after.seq)
        .bind(limit)
        .bind(upto.year)
        .bind(upto.seq)
        .fetch_all(self.db())
        .await?;
        rows.iter().map(crate::store::record_from_row).collect()
    }
}
