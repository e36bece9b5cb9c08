//! The desk's store: records encrypted at rest, the sync cursor, form
//! versions and the access log.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use store::ReceiptNumber;

use crate::keyring::KeyRing;
use crate::{now_unix, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// One record as synced: sealed bytes plus the payload, encrypted at rest.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub receipt: ReceiptNumber,
    pub form_id: String,
    pub form_version: i64,
    pub key_id: String,
    pub record_sha256: String,
    pub sealed: Vec<u8>,
    pub payload: Vec<u8>,
    pub received_at: i64,
    pub status: String,
    pub message_key: String,
    pub assigned_to: Option<String>,
}

#[derive(Clone)]
pub struct DeskStore {
    db: AnyPool,
}

impl DeskStore {
    /// Opens (creating if needed) the desk database at `url` (sqlite://… or
    /// postgres://…) and brings its schema up to date.
    pub async fn open(url: &str) -> Result<DeskStore> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_owned()
        };
        let db = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_str(&url)?)
            .await?;
        MIGRATOR.run(&db).await?;
        Ok(DeskStore { db })
    }

    pub(crate) fn db(&self) -> &AnyPool {
        &self.db
    }

    /// The last 到達番号 stored for `tenant`.
    pub async fn cursor(&self, tenant: &str) -> Result<ReceiptNumber> {
        let row = sqlx::query("SELECT after_year, after_seq FROM sync_cursor WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(&self.db)
            .await?;
        Ok(match row {
            Some(row) => ReceiptNumber { year: row.try_get("after_year")?, seq: row.try_get("after_seq")? },
            None => ReceiptNumber::START,
        })
    }

    /// Stores a page of opened records and moves the cursor past them in one
    /// transaction: after a crash the desk resumes exactly where the last
    /// committed page ended. A record already stored is left as it is.
    /// Returns how many were new.
    pub async fn store_page(&self, tenant: &str, records: &[StoredRecord], cursor: ReceiptNumber) -> Result<u64> {
        let now = now_unix();
        let mut tx = self.db.begin().await?;
        let mut new = 0;
        for r in records {
            let done = sqlx::query(
                "INSERT INTO records (receipt_year, receipt_seq, form_id, form_version, key_id, record_sha256, sealed,
                   payload, received_at, synced_at, status, status_changed_at, message_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $9, $12)
                 ON CONFLICT (receipt_year, receipt_seq) DO NOTHING",
            )
            .bind(r.receipt.year)
            .bind(r.receipt.seq)
            .bind(&r.form_id)
            .bind(r.form_version)
            .bind(&r.key_id)
            .bind(&r.record_sha256)
            .bind(&r.sealed)
            .bind(&r.payload)
            .bind(r.received_at)
            .bind(now)
            .bind(&r.status)
            .bind(&r.message_key)
            .execute(&mut *tx)
            .await?;
            new += done.rows_affected();
        }
        sqlx::query(
            "INSERT INTO sync_cursor (tenant_id, after_year, after_seq, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id) DO UPDATE SET after_year = excluded.after_year, after_seq = excluded.after_seq,
               updated_at = excluded.updated_at",
        )
        .bind(tenant)
        .bind(cursor.year)
        .bind(cursor.seq)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(new)
    }

    pub async fn has_form(&self, form_id: &str, version: i64) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM forms WHERE form_id = $1 AND version = $2")
            .bind(form_id)
            .bind(version)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.is_some())
    }

    pub async fn put_form(&self, form_id: &str, version: i64, definition: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO forms (form_id, version, definition) VALUES ($1, $2, $3) ON CONFLICT (form_id, version) DO NOTHING",
        )
        .bind(form_id)
        .bind(version)
        .bind(definition)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn form(&self, form_id: &str, version: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT definition FROM forms WHERE form_id = $1 AND version = $2")
            .bind(form_id)
            .bind(version)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(|r| r.try_get("definition")).transpose()?)
    }

    /// The newest version of a form this desk knows: (version, definition).
    pub async fn latest_form(&self, form_id: &str) -> Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT version, definition FROM forms WHERE form_id = $1 ORDER BY version DESC LIMIT 1")
            .bind(form_id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(|r| Ok::<_, sqlx::Error>((r.try_get("version")?, r.try_get("definition")?))).transpose()?)
    }

    pub async fn count_records(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM records").fetch_one(&self.db).await?.try_get("n")?)
    }

    /// Every stored 到達番号, in order (for checks and audits).
    pub async fn receipts(&self) -> Result<Vec<ReceiptNumber>> {
        let rows = sqlx::query("SELECT receipt_year, receipt_seq FROM records ORDER BY receipt_year, receipt_seq")
            .fetch_all(&self.db)
            .await?;
        rows.iter()
            .map(|r| Ok(ReceiptNumber { year: r.try_get("receipt_year")?, seq: r.try_get("receipt_seq")? }))
            .collect()
    }

    /// Reads a record's plaintext, logging who read it. The caller names
    /// the actor (a staff member, or a command).
    pub async fn read_record(
        &self,
        keys: &KeyRing,
        receipt: ReceiptNumber,
        actor: &str,
    ) -> Result<Option<(StoredRecord, serde_json::Value)>> {
        let read = self.open_record(keys, receipt).await?;
        if read.is_some() {
            self.log_access(actor, "view", Some(receipt), "").await?;
        }
        Ok(read)
    }

    /// A record's plaintext, unlogged: the caller logs the read (the web
    /// UI through the watch, before anything is shown).
    pub(crate) async fn open_record(
        &self,
        keys: &KeyRing,
        receipt: ReceiptNumber,
    ) -> Result<Option<(StoredRecord, serde_json::Value)>> {
        let row = sqlx::query(
            "SELECT receipt_year, receipt_seq, form_id, form_version, key_id, record_sha256, sealed, payload, received_at,
               status, message_key, assigned_to FROM records WHERE receipt_year = $1 AND receipt_seq = $2",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let record = record_from_row(&row)?;
        let value = open_payload(keys, &record)?;
        Ok(Some((record, value)))
    }

    pub async fn log_access(
        &self,
        actor: &str,
        action: &str,
        receipt: Option<ReceiptNumber>,
        detail: &str,
    ) -> Result<()> {
        self.log_event(now_unix(), actor, action, receipt, detail, (0, 0, None)).await
    }

    /// One access-log row and the same event, numbered, for the counter's
    /// ledger. `read` is (records, honeytokens, source) of a read.
    pub(crate) async fn log_event(
        &self,
        now: i64,
        actor: &str,
        action: &str,
        receipt: Option<ReceiptNumber>,
        detail: &str,
        read: (u64, u64, Option<&str>),
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO access_log (at, actor, action, receipt_year, receipt_seq, detail, records, honeytokens, source)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(now)
        .bind(actor)
        .bind(action)
        .bind(receipt.map(|r| r.year))
        .bind(receipt.map(|r| r.seq))
        .bind(detail)
        .bind(read.0 as i64)
        .bind(read.1 as i64)
        .bind(read.2)
        .execute(&mut *tx)
        .await?;
        let seq: i64 = sqlx::query("UPDATE event_sequence SET next_seq = next_seq + 1 WHERE id = 1 RETURNING next_seq")
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("next_seq")?
            - 1;
        sqlx::query(
            "INSERT INTO event_outbox (seq, at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(seq)
        .bind(now)
        .bind(format!("staff:{actor}"))
        .bind(action)
        .bind(receipt.map(|r| r.to_string()))
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Events not yet acknowledged by the counter, oldest first.
    pub async fn pending_events(&self, limit: i64) -> Result<Vec<counter::sync::DeskEvent>> {
        let rows =
            sqlx::query("SELECT seq, at, actor, action, subject, detail FROM event_outbox ORDER BY seq LIMIT $1")
                .bind(limit)
                .fetch_all(&self.db)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(counter::sync::DeskEvent {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Forgets events the counter has entered (up to and including `seq`).
    pub async fn events_acknowledged(&self, seq: i64) -> Result<()> {
        sqlx::query("DELETE FROM event_outbox WHERE seq <= $1").bind(seq).execute(&self.db).await?;
        Ok(())
    }

    /// (actor, action, receipt) of every logged access, oldest first.
    pub async fn access_log(&self) -> Result<Vec<(String, String, Option<ReceiptNumber>)>> {
        let rows = sqlx::query("SELECT actor, action, receipt_year, receipt_seq FROM access_log ORDER BY at")
            .fetch_all(&self.db)
            .await?;
        rows.iter()
            .map(|r| {
                let year: Option<i64> = r.try_get("receipt_year")?;
                let seq: Option<i64> = r.try_get("receipt_seq")?;
                Ok((
                    r.try_get("actor")?,
                    r.try_get("action")?,
                    year.zip(seq).map(|(year, seq)| ReceiptNumber { year, seq }),
                ))
            })
            .collect()
    }
}

pub(crate) fn record_from_row(row: &sqlx::any::AnyRow) -> Result<StoredRecord> {
    Ok(StoredRecord {
        receipt: ReceiptNumber { year: row.try_get("receipt_year")?, seq: row.try_get("receipt_seq")? },
        form_id: row.try_get("form_id")?,
        form_version: row.try_get("form_version")?,
        key_id: row.try_get("key_id")?,
        record_sha256: row.try_get("record_sha256")?,
        sealed: row.try_get("sealed")?,
        payload: row.try_get("payload")?,
        received_at: row.try_get("received_at")?,
        status: row.try_get("status")?,
        message_key: row.try_get("message_key")?,
        assigned_to: row.try_get("assigned_to")?,
    })
}

/// Opens a stored payload (no logging: callers log the read).
pub(crate) fn open_payload(keys: &KeyRing, record: &StoredRecord) -> Result<serde_json::Value> {
    let plaintext = keys.decrypt_at_rest(&at_rest_label(&keys.tenant, record.receipt), &record.payload)?;
    serde_json::from_slice(&plaintext).map_err(|e| crate::DeskError::BadRecord {
        receipt: record.receipt.to_string(),
        reason: format!("payload is not JSON: {e}"),
    })
}

/// Associated data of a record's at-rest encryption: a payload cannot be
/// moved to another record unnoticed.
pub(crate) fn at_rest_label(tenant: &str, receipt: ReceiptNumber) -> String {
    format!("desk record {tenant} {receipt}")
}
