//! Where alerts go: a tenant's security contacts and webhook, and the
//! cursor over the ledger's alert leaves that the counter's dispatcher
//! advances once they are sent (one node at a time, under a lease).

use sqlx::Row;

use crate::ledger::entry_from_row;
use crate::{now_unix, LedgerEntry, Result, Store, StoreError};

/// A tenant's alert routing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityContacts {
    /// Role mailboxes (情報セキュリティ担当), never residents.
    pub mail: Vec<String>,
    /// Called with a JSON body for every batch of alerts.
    pub webhook: Option<String>,
}

impl Store {
    /// Sets where `tenant`'s alerts go; entered in the ledger.
    pub async fn set_security_contacts(&self, tenant: &str, contacts: &SecurityContacts, actor: &str) -> Result<()> {
        let done = sqlx::query("UPDATE tenants SET security_contacts = $2, alert_webhook = $3 WHERE id = $1")
            .bind(tenant)
            .bind(contacts.mail.join("\n"))
            .bind(&contacts.webhook)
            .execute(&self.db)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        let webhook = if contacts.webhook.is_some() { "on" } else { "off" };
        let detail = format!("security contacts set: {} mailbox(es), webhook {webhook}", contacts.mail.len());
        self.record_event(&crate::ledger::event(ledger::EventKind::AdminAction, actor, Some(tenant), None, &detail))
            .await?;
        Ok(())
    }

    pub async fn security_contacts(&self, tenant: &str) -> Result<SecurityContacts> {
        let row = sqlx::query("SELECT security_contacts, alert_webhook FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&self.db)
            .await?;
        let Some(row) = row else { return Ok(SecurityContacts::default()) };
        let mail: Option<String> = row.try_get("security_contacts")?;
        Ok(SecurityContacts {
            mail: mail.unwrap_or_default().lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect(),
            webhook: row.try_get::<Option<String>, _>("alert_webhook")?.filter(|w| !w.is_empty()),
        })
    }

    /// Remembers the keyed tag of a planted synthetic applicant.
    pub async fn add_watch_tag(&self, tenant: &str, tag: &str) -> Result<()> {
        sqlx::query("INSERT INTO watch_tags (tenant_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(tenant)
            .bind(tag)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// How many of `tags` are tags of planted applicants of `tenant`.
    pub async fn watch_tags_among(&self, tenant: &str, tags: &[String]) -> Result<u64> {
        let mut found = 0;
        for chunk in tags.chunks(500) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT COUNT(*) AS n FROM watch_tags WHERE tag IN ({}) AND tenant_id = ${}",
                list.join(", "),
                chunk.len() + 1
            );
            let mut query = sqlx::query(&sql);
            for tag in chunk {
                query = query.bind(tag);
            }
            let row = query.bind(tenant).fetch_one(&self.db).await?;
            found += row.try_get::<i64, _>("n")?.max(0) as u64;
        }
        Ok(found)
    }

    /// Takes (or renews) the dispatcher's lease for `holder` and returns the
    /// alert leaves after the cursor, oldest first; `None` when another
    /// node holds the lease.
    pub async fn claim_alerts(&self, holder: &str, lease_secs: i64, limit: i64) -> Result<Option<Vec<LedgerEntry>>> {
        let now = now_unix();
        // A database restored from a snapshot older than this table starts
        // at its newest leaf: those alerts were sent where they were raised.
        sqlx::query(
            "INSERT INTO alert_dispatch (id, last_index, claimed_until, holder)
             SELECT 1, (SELECT COALESCE(MAX(leaf_index), -1) FROM ledger_leaves), 0, NULL
             WHERE NOT EXISTS (SELECT 1 FROM alert_dispatch WHERE id = 1)
             ON CONFLICT (id) DO NOTHING",
        )
        .execute(&self.db)
        .await?;
        let got = sqlx::query(
            "UPDATE alert_dispatch SET claimed_until = $1, holder = $2 WHERE id = 1 AND (claimed_until < $3 OR holder = $2)",
        )
        .bind(now + lease_secs)
        .bind(holder)
        .bind(now)
        .execute(&self.db)
        .await?;
        if got.rows_affected() != 1 {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT leaf_index, leaf_hash, kind, at, actor, tenant_id, source, subject, detail FROM ledger_leaves
             WHERE kind = 'alert' AND leaf_index > (SELECT last_index FROM alert_dispatch WHERE id = 1)
             ORDER BY leaf_index LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        let entries = rows
            .iter()
            .map(|row| entry_from_row(row)?.map_err(|fault| StoreError::Inconsistent(fault.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(entries))
    }

    /// Moves the cursor past `index` (sent, or given up on and logged).
    pub async fn alerts_dispatched(&self, holder: &str, index: i64) -> Result<()> {
        sqlx::query("UPDATE alert_dispatch SET last_index = $1 WHERE id = 1 AND holder = $2 AND last_index < $1")
            .bind(index)
            .bind(holder)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
