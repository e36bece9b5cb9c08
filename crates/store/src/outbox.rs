//! The mail outbox: status changes that a resident should hear about.

use sqlx::Row;

use crate::submissions::SubmissionStatus;
use crate::{now_unix, ReceiptNumber, Result, Store, StoreError};

/// Give up on a mail after this many failed attempts.
pub const MAX_ATTEMPTS: i64 = 10;

/// A mail to send: where the sealed address is and what happened. The
/// address is opened only by the sender, only in memory.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub tenant_id: String,
    pub receipt: ReceiptNumber,
    pub changed_at: i64,
    pub status: SubmissionStatus,
    pub notify_address: Vec<u8>,
    /// What the address was sealed to (tenant and draft hash).
    pub address_binding: String,
}

/// What an address is sealed to: the tenant and the submission's draft
/// hash, both fixed at intake.
pub fn address_binding(tenant: &str, draft_sha256: &str) -> String {
    format!("{tenant}/{draft_sha256}")
}

/// Status mails to one resident for one submission in 24 hours; further
/// changes that day show on the status page only.
pub const MAILS_PER_SUBMISSION_PER_DAY: i64 = 6;

impl Store {
    /// Claims up to `limit` unsent mails for `lease_secs` (so two counter
    /// nodes do not send the same mail) and returns them.
    pub async fn claim_mail(&self, limit: i64, lease_secs: i64) -> Result<Vec<OutgoingMail>> {
        let now = now_unix();
        let candidates = sqlx::query(
            "SELECT o.tenant_id, o.receipt_year, o.receipt_seq, o.changed_at, o.status, s.notify_address, s.draft_sha256
             FROM mail_outbox o JOIN submissions s ON s.tenant_id = o.tenant_id AND s.receipt_year = o.receipt_year
               AND s.receipt_seq = o.receipt_seq
             WHERE o.sent_at IS NULL AND (o.claimed_until IS NULL OR o.claimed_until < $1) AND o.attempts < $2
             ORDER BY o.created_at LIMIT $3",
        )
        .bind(now)
        .bind(MAX_ATTEMPTS)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        let mut claimed = Vec::new();
        for row in candidates {
            let tenant_id: String = row.try_get("tenant_id")?;
            let receipt = ReceiptNumber { year: row.try_get("receipt_year")?, seq: row.try_get("receipt_seq")? };
            let changed_at: i64 = row.try_get("changed_at")?;
            let got = sqlx::query(
                "UPDATE mail_outbox SET claimed_until = $5 WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3
                   AND changed_at = $4 AND sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < $6)",
            )
            .bind(&tenant_id)
            .bind(receipt.year)
            .bind(receipt.seq)
            .bind(changed_at)
            .bind(now + lease_secs)
            .bind(now)
            .execute(&self.db)
            .await?;
            if got.rows_affected() != 1 {
                continue;
            }
            let Some(address): Option<Vec<u8>> = row.try_get("notify_address")? else {
                // The address is gone (case closed meanwhile): nothing to send.
                self.mail_done(&tenant_id, receipt, changed_at, false).await?;
                continue;
            };
            let status: String = row.try_get("status")?;
            let draft_sha256: String = row.try_get("draft_sha256")?;
            claimed.push(OutgoingMail {
                address_binding: address_binding(&tenant_id, &draft_sha256),
                tenant_id,
                receipt,
                changed_at,
                status: SubmissionStatus::parse(&status)
                    .ok_or_else(|| StoreError::Inconsistent(format!("unknown status {status:?}")))?,
                notify_address: address,
            });
        }
        Ok(claimed)
    }

    /// Marks a mail sent; when it closes the case, the address is deleted.
    pub async fn mail_done(
        &self,
        tenant: &str,
        receipt: ReceiptNumber,
        changed_at: i64,
        closes_case: bool,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "UPDATE mail_outbox SET sent_at = $5 WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3
               AND changed_at = $4",
        )
        .bind(tenant)
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(changed_at)
        .bind(now_unix())
        .execute(&mut *tx)
        .await?;
        if closes_case {
            sqlx::query(
                "UPDATE submissions SET notify_address = NULL WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3",
            )
            .bind(tenant)
            .bind(receipt.year)
            .bind(receipt.seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt; the mail is tried again after its lease.
    pub async fn mail_failed(&self, tenant: &str, receipt: ReceiptNumber, changed_at: i64, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $5 WHERE tenant_id = $1 AND receipt_year = $2
               AND receipt_seq = $3 AND changed_at = $4",
        )
        .bind(tenant)
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(changed_at)
        .bind(error)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// (unsent, sent) mails, for operators and tests.
    pub async fn mail_counts(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS unsent,
               CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS sent FROM mail_outbox",
        )
        .fetch_one(&self.db)
        .await?;
        Ok((row.try_get("unsent")?, row.try_get("sent")?))
    }

    /// Whether a submission still holds a (sealed) address.
    pub async fn has_notify_address(&self, tenant: &str, receipt: ReceiptNumber) -> Result<bool> {
        let row = sqlx::query(
            "SELECT notify_address FROM submissions WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3",
        )
        .bind(tenant)
        .bind(receipt.year)
        .bind(receipt.seq)
        .fetch_optional(&self.db)
        .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<Vec<u8>>, _>("notify_address")?.is_some(),
            None => false,
        })
    }
}
