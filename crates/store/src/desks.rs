//! Desks, their keys, their pulls of sealed records and the status they push.

use sqlx::Row;

use crate::submissions::SubmissionStatus;
use crate::{now_unix, Result, Store, StoreError};

/// A desk as the counter knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desk {
    pub desk_id: String,
    pub tenant_id: String,
    /// Base64 Ed25519 public key.
    pub public_key: String,
    pub fingerprint: String,
    pub suspended: bool,
}

/// One sealed record as a desk pulls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledRecord {
    pub receipt: crate::ReceiptNumber,
    pub form_id: String,
    pub form_version: i64,
    pub record: Vec<u8>,
    pub record_sha256: String,
    pub received_at: i64,
    /// The resident's message key: staff messages are sealed to it.
    pub message_key: String,
}

/// A status change decided on the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub receipt: crate::ReceiptNumber,
    pub status: SubmissionStatus,
    /// When staff changed it (desk clock); older changes never overwrite newer.
    pub changed_at: i64,
    /// A message for the resident, sealed on the desk to the record's
    /// message key; replaces any earlier message.
    pub message: Option<Vec<u8>>,
}

impl Store {
    /// Registers a desk for a tenant, or replaces its key.
    pub async fn register_desk(&self, desk_id: &str, tenant: &str, public_key: &str, fingerprint: &str) -> Result<()> {
        self.record_event(&crate::ledger::event(
            ledger::EventKind::KeyEvent,
            "operator:cli",
            Some(tenant),
            Some(&format!("desk {desk_id}")),
            &format!("desk key registered {fingerprint}"),
        ))
        .await?;
        if self.tenant(tenant).await?.is_none() {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        sqlx::query(
            "INSERT INTO desks (desk_id, tenant_id, public_key, fingerprint, registered_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (desk_id) DO UPDATE SET tenant_id = excluded.tenant_id, public_key = excluded.public_key,
               fingerprint = excluded.fingerprint, registered_at = excluded.registered_at, suspended_at = NULL",
        )
        .bind(desk_id)
        .bind(tenant)
        .bind(public_key)
        .bind(fingerprint)
        .bind(now_unix())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn desk(&self, desk_id: &str) -> Result<Option<Desk>> {
        let row = sqlx::query(
            "SELECT desk_id, tenant_id, public_key, fingerprint, suspended_at FROM desks WHERE desk_id = $1",
        )
        .bind(desk_id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(desk_from_row).transpose()
    }

    /// A tenant's desks, by id.
    pub async fn tenant_desks(&self, tenant: &str) -> Result<Vec<Desk>> {
        let rows = sqlx::query(
            "SELECT desk_id, tenant_id, public_key, fingerprint, suspended_at FROM desks WHERE tenant_id = $1 ORDER BY desk_id",
        )
        .bind(tenant)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(desk_from_row).collect()
    }

    /// Lifts the suspension of a desk key after review; the ledger keeps
    /// who lifted it, from where, and what the review found.
    pub async fn resume_desk(&self, desk_id: &str, by: &crate::Actor, note: &str) -> Result<bool> {
        let Some(desk) = self.desk(desk_id).await? else { return Ok(false) };
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        let done = sqlx::query("UPDATE desks SET suspended_at = NULL WHERE desk_id = $1 AND suspended_at IS NOT NULL")
            .bind(desk_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let event = by.event(
            ledger::EventKind::AdminAction,
            Some(&desk.tenant_id),
            Some(&format!("desk:{desk_id}")),
            &format!("desk key resumed after review: {note}"),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(true)
    }

    /// Suspends (or re-enables) a desk's key: a suspended desk is refused.
    pub async fn set_desk_suspended(&self, desk_id: &str, suspended: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE desks SET suspended_at = $2 WHERE desk_id = $1")
            .bind(desk_id)
            .bind(suspended.then(now_unix))
            .execute(&self.db)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes that counter node `node_id` is alive now: a write to the
    /// shared database, which is what its readiness probe needs to know.
    pub async fn note_node_alive(&self, node_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO counter_nodes (node_id, seen_at) VALUES ($1, $2)
             ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(node_id)
        .bind(time::OffsetDateTime::now_utc().unix_timestamp())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Submissions of `tenant` after `after`: how far a desk that has
    /// everything up to `after` is behind.
    pub async fn submissions_after(&self, tenant: &str, after: crate::ReceiptNumber) -> Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM submissions WHERE tenant_id = $1
               AND (receipt_year > $2 OR (receipt_year = $2 AND receipt_seq > $3))",
        )
        .bind(tenant)
        .bind(after.year)
        .bind(after.seq)
        .fetch_one(&self.db)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// The furthest `after` this desk has pulled from: what it had already
    /// received before its latest pull.
    pub async fn desk_high_water(&self, desk_id: &str) -> Result<crate::ReceiptNumber> {
        let row = sqlx::query(
            "SELECT after_year, after_seq FROM desk_pulls WHERE desk_id = $1
             ORDER BY after_year DESC, after_seq DESC LIMIT 1",
        )
        .bind(desk_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(match row {
            Some(row) => crate::ReceiptNumber { year: row.try_get("after_year")?, seq: row.try_get("after_seq")? },
            None => crate::ReceiptNumber::START,
        })
    }

    /// Records a request nonce; false when the desk already used it (a
    /// replay). Nonces older than `keep_secs` are forgotten, since requests
    /// that old are refused by their timestamp anyway.
    pub async fn use_desk_nonce(&self, desk_id: &str, nonce: &str, keep_secs: i64) -> Result<bool> {
        let now = now_unix();
        sqlx::query("DELETE FROM desk_nonces WHERE seen_at < $1").bind(now - keep_secs).execute(&self.db).await?;
        let done = sqlx::query(
            "INSERT INTO desk_nonces (desk_id, nonce, seen_at) VALUES ($1, $2, $3) ON CONFLICT (desk_id, nonce) DO NOTHING",
        )
        .bind(desk_id)
        .bind(nonce)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The tenant's sealed records after `after`, in 到達番号 order, at
    /// most `limit`. Numbers are taken and committed under one lock per
    /// tenant, so no record can appear later below a cursor already passed.
    /// The pull is recorded with the desk and the source address.
    pub async fn pull_records(
        &self,
        desk: &Desk,
        after: crate::ReceiptNumber,
        limit: i64,
        source: &str,
    ) -> Result<Vec<PulledRecord>> {
        let rows = sqlx::query(
            "SELECT receipt_year, receipt_seq, form_id, form_version, record, record_sha256, received_at, message_key
             FROM submissions WHERE tenant_id = $1
               AND (receipt_year > $2 OR (receipt_year = $2 AND receipt_seq > $3))
             ORDER BY receipt_year, receipt_seq LIMIT $4",
        )
        .bind(&desk.tenant_id)
        .bind(after.year)
        .bind(after.seq)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        let records = rows
            .iter()
            .map(|row| {
                Ok(PulledRecord {
                    receipt: crate::ReceiptNumber {
                        year: row.try_get("receipt_year")?,
                        seq: row.try_get("receipt_seq")?,
                    },
                    form_id: row.try_get("form_id")?,
                    form_version: row.try_get("form_version")?,
                    record: row.try_get("record")?,
                    record_sha256: row.try_get("record_sha256")?,
                    received_at: row.try_get("received_at")?,
                    message_key: row.try_get("message_key")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        sqlx::query(
            "INSERT INTO desk_pulls (desk_id, tenant_id, pulled_at, source, after_year, after_seq, record_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&desk.desk_id)
        .bind(&desk.tenant_id)
        .bind(now_unix())
        .bind(source)
        .bind(after.year)
        .bind(after.seq)
        .bind(records.len() as i64)
        .execute(&mut *tx)
        .await?;
        if !records.is_empty() {
            let mut pull = crate::ledger::event(
                ledger::EventKind::DeskPull,
                &format!("desk:{}", desk.desk_id),
                Some(&desk.tenant_id),
                Some(&format!("after {after}")),
                &format!("{} records", records.len()),
            );
            pull.source = Some(source.to_owned());
            crate::ledger::append(&mut tx, &mut journal, &pull).await?;
        }
        journal.commit(&self.vault, tx).await?;
        Ok(records)
    }

    /// Enters a desk's events in the ledger, each sequence number once and
    /// in order (a resend after a cut connection adds nothing). Returns the
    /// last sequence number held and how many were entered now.
    pub async fn enter_desk_events(&self, desk: &Desk, events: &[(i64, ledger::Event)]) -> Result<(i64, u64)> {
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        sqlx::query(
            "INSERT INTO desk_event_cursor (desk_id, last_seq) VALUES ($1, 0) ON CONFLICT (desk_id) DO NOTHING",
        )
        .bind(&desk.desk_id)
        .execute(&mut *tx)
        .await?;
        // Locks the desk's cursor row to commit: one push at a time per desk.
        let mut last: i64 =
            sqlx::query("UPDATE desk_event_cursor SET last_seq = last_seq WHERE desk_id = $1 RETURNING last_seq")
                .bind(&desk.desk_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("last_seq")?;
        let mut entered = 0;
        for (seq, event) in events {
            if *seq != last + 1 {
                // Already entered, or a gap: stop and let the desk resend from `last`.
                if *seq <= last {
                    continue;
                }
                break;
            }
            crate::ledger::append(&mut tx, &mut journal, event).await?;
            last = *seq;
            entered += 1;
        }
        sqlx::query("UPDATE desk_event_cursor SET last_seq = $2 WHERE desk_id = $1")
            .bind(&desk.desk_id)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        journal.commit(&self.vault, tx).await?;
        Ok((last, entered))
    }

    /// How many pulls a desk made and how many records they carried.
    pub async fn desk_pull_totals(&self, desk_id: &str) -> Result<(i64, i64)> {
        let row = sqlx::query("SELECT COUNT(*) AS pulls, CAST(COALESCE(SUM(record_count), 0) AS BIGINT) AS records FROM desk_pulls WHERE desk_id = $1")
            .bind(desk_id)
            .fetch_one(&self.db)
            .await?;
        Ok((row.try_get("pulls")?, row.try_get("records")?))
    }

    /// Applies status changes from a desk of `tenant`; a change older than
    /// the one already applied is ignored, so pushing twice is harmless.
    /// Returns how many submissions changed.
    pub async fn apply_status_changes(&self, desk: &Desk, changes: &[StatusChange]) -> Result<u64> {
        let tenant = desk.tenant_id.as_str();
        let mut changed = 0;
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        for change in changes {
            let done = sqlx::query(
                "UPDATE submissions SET status = $1, status_changed_at = $2, staff_message = $6
                 WHERE tenant_id = $3 AND receipt_year = $4 AND receipt_seq = $5 AND status <> 'cancelled'
                   AND (status_changed_at < $2 OR (status_changed_at = $2 AND status <> $1))",
            )
            .bind(change.status.as_str())
            .bind(change.changed_at)
            .bind(tenant)
            .bind(change.receipt.year)
            .bind(change.receipt.seq)
            .bind(&change.message)
            .execute(&mut *tx)
            .await?;
            changed += done.rows_affected();
            if done.rows_affected() == 1 {
                journal.status(tenant, change.receipt, change.status, change.changed_at, change.message.as_deref());
                let receipt = change.receipt.to_string();
                let event = crate::ledger::event(
                    ledger::EventKind::StatusChange,
                    &format!("desk:{}", desk.desk_id),
                    Some(tenant),
                    Some(&receipt),
                    change.status.as_str(),
                );
                crate::ledger::append(&mut tx, &mut journal, &event).await?;
                // A mail for the resident, if they left an address, and at
                // most a few a day: a desk (or a stolen desk key) flipping
                // statuses cannot turn the counter into a mail bomb.
                sqlx::query(
                    "INSERT INTO mail_outbox (tenant_id, receipt_year, receipt_seq, changed_at, status, created_at)
                     SELECT tenant_id, receipt_year, receipt_seq, $4, status, $5 FROM submissions
                     WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3 AND notify_address IS NOT NULL
                       AND (SELECT COUNT(*) FROM mail_outbox m WHERE m.tenant_id = $1 AND m.receipt_year = $2
                              AND m.receipt_seq = $3 AND m.created_at > $5 - 86400) < $6
                     ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(change.receipt.year)
                .bind(change.receipt.seq)
                .bind(change.changed_at)
                .bind(now_unix())
                .bind(crate::outbox::MAILS_PER_SUBMISSION_PER_DAY)
                .execute(&mut *tx)
                .await?;
            }
        }
        journal.commit(&self.vault, tx).await?;
        Ok(changed)
    }
}

fn desk_from_row(row: &sqlx::any::AnyRow) -> Result<Desk> {
    Ok(Desk {
        desk_id: row.try_get("desk_id")?,
        tenant_id: row.try_get("tenant_id")?,
        public_key: row.try_get("public_key")?,
        fingerprint: row.try_get("fingerprint")?,
        suspended: row.try_get::<Option<i64>, _>("suspended_at")?.is_some(),
    })
}
