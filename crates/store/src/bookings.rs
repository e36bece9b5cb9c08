//! Bookings: how many places of each slot are taken, and a resident's
//! cancellation. Places are given only by the committer (`intake`), under
//! the tenant's number lock; here they are counted for the pages and given
//! back.

use std::collections::HashMap;

use sqlx::Row;

use crate::now_unix;
use crate::submissions::verify_resident;
use crate::{InquiryNumber, Result, Store, SubmissionStatus};

/// What a resident's cancellation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancellation {
    /// The place is free again; the submission's status is 取消.
    Cancelled { tenant_id: String, receipt: crate::ReceiptNumber, slot: String },
    /// It was cancelled before: nothing changed.
    AlreadyCancelled,
    /// The submission books no slot, or is already decided (完了, 却下):
    /// the office must be asked.
    NotCancellable,
}

/// A booking the resident cancelled, as a desk learns of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledBooking {
    pub receipt: crate::ReceiptNumber,
    /// When the resident cancelled (unix seconds).
    pub at: i64,
}

impl Store {
    /// The tenant's cancellations at or after `since` (unix seconds), oldest
    /// first, at most `limit`: a desk asks again from the last `at` it saw,
    /// and applying one twice changes nothing.
    pub async fn cancellations_since(&self, tenant: &str, since: i64, limit: i64) -> Result<Vec<CancelledBooking>> {
        let rows = sqlx::query(
            "SELECT receipt_year, receipt_seq, status_changed_at FROM submissions
             WHERE tenant_id = $1 AND status = 'cancelled' AND status_changed_at >= $2
             ORDER BY status_changed_at, receipt_year, receipt_seq LIMIT $3",
        )
        .bind(tenant)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CancelledBooking {
                    receipt: crate::ReceiptNumber {
                        year: row.try_get("receipt_year")?,
                        seq: row.try_get("receipt_seq")?,
                    },
                    at: row.try_get("status_changed_at")?,
                })
            })
            .collect()
    }

    /// Places taken per slot (`2026-12-01T09:30` → count) of a tenant's form,
    /// for slots from `from_slot` on; cancelled submissions give theirs back.
    pub async fn booked_places(&self, tenant: &str, form_id: &str, from_slot: &str) -> Result<HashMap<String, i64>> {
        self.booked_places_between(tenant, form_id, from_slot, "9999").await
    }

    /// As [`Store::booked_places`], for slots from `from_slot` up to (not
    /// including) `until_slot`: a form page counts only its window.
    pub async fn booked_places_between(
        &self,
        tenant: &str,
        form_id: &str,
        from_slot: &str,
        until_slot: &str,
    ) -> Result<HashMap<String, i64>> {
        let rows = sqlx::query(
            "SELECT booking_slot, COUNT(*) AS n FROM submissions
             WHERE tenant_id = $1 AND form_id = $2 AND booking_slot >= $3 AND booking_slot < $4
               AND status <> 'cancelled'
             GROUP BY booking_slot",
        )
        .bind(tenant)
        .bind(form_id)
        .bind(from_slot)
        .bind(until_slot)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("booking_slot")?, row.try_get("n")?))).collect()
    }

    /// Cancels the booking of the submission with this 問合せ番号 and access
    /// key, for the resident; `None` when they do not match (a wrong key
    /// looks like an unknown number). The change is in the ledger and the
    /// vault like a desk's status change, and a desk cannot undo it.
    pub async fn cancel_booking(&self, inquiry: &InquiryNumber, access_key: &str) -> Result<Option<Cancellation>> {
        let row = sqlx::query(
            "SELECT tenant_id, receipt_year, receipt_seq, secret_verifier, status, booking_slot FROM submissions
             WHERE inquiry_number = $1",
        )
        .bind(inquiry.as_str())
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if !verify_resident(&row, inquiry, access_key)? {
            return Ok(None);
        }
        let tenant: String = row.try_get("tenant_id")?;
        let receipt = crate::ReceiptNumber { year: row.try_get("receipt_year")?, seq: row.try_get("receipt_seq")? };
        let status: String = row.try_get("status")?;
        let Some(slot) = row.try_get::<Option<String>, _>("booking_slot")? else {
            return Ok(Some(Cancellation::NotCancellable));
        };
        match SubmissionStatus::parse(&status) {
            Some(SubmissionStatus::Cancelled) => return Ok(Some(Cancellation::AlreadyCancelled)),
            Some(SubmissionStatus::Completed | SubmissionStatus::Rejected) | None => {
                return Ok(Some(Cancellation::NotCancellable))
            }
            _ => {}
        }
        let now = now_unix();
        let mut tx = self.db.begin().await?;
        let done = sqlx::query(
            "UPDATE submissions SET status = 'cancelled', status_changed_at = $4, staff_message = NULL
             WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3
               AND status NOT IN ('cancelled', 'completed', 'rejected')",
        )
        .bind(&tenant)
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // A desk decided it, or a second click cancelled it, meanwhile.
            let _ = tx.rollback().await;
            return Ok(Some(Cancellation::AlreadyCancelled));
        }
        let mut journal = crate::journal::Journal::default();
        journal.status(&tenant, receipt, SubmissionStatus::Cancelled, now, None);
        let event = crate::ledger::event(
            ledger::EventKind::StatusChange,
            "resident",
            Some(&tenant),
            Some(&receipt.to_string()),
            SubmissionStatus::Cancelled.as_str(),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(Some(Cancellation::Cancelled { tenant_id: tenant, receipt, slot }))
    }
}
