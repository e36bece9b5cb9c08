//! Tenants (municipalities), tenant groups (prefectures) and tenant keys.

use seal::TenantPublicKey;
use sqlx::Row;

use crate::{now_unix, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantGroup {
    pub id: String,
    pub name_ja: String,
    pub name_en: String,
}

pub type NewTenantGroup = TenantGroup;

/// A municipality: its names and the contact shown on its forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub group_id: Option<String>,
    pub name_ja: String,
    pub name_en: String,
    pub contact_ja: String,
    pub contact_en: String,
}

pub type NewTenant = Tenant;

/// A municipality in crisis mode (災害モード): what its residents read
/// first, and the one form that stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crisis {
    pub tenant: String,
    /// Unix seconds.
    pub since: i64,
    /// The damage report or safety confirmation residents send.
    pub form: String,
    pub notice_ja: String,
    pub notice_en: String,
}

/// A tenant the operator has taken offline, and what its residents are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    pub tenant: String,
    /// Unix seconds.
    pub since: i64,
    pub notice_ja: String,
    pub notice_en: String,
}

fn tenant_from_row(row: &sqlx::any::AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: row.try_get("id")?,
        group_id: row.try_get("group_id")?,
        name_ja: row.try_get("name_ja")?,
        name_en: row.try_get("name_en")?,
        contact_ja: row.try_get("contact_ja")?,
        contact_en: row.try_get("contact_en")?,
    })
}

impl Store {
    /// Creates the group, or updates its names.
    pub async fn put_tenant_group(&self, group: &NewTenantGroup) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenant_groups (id, name_ja, name_en, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET name_ja = excluded.name_ja, name_en = excluded.name_en",
        )
        .bind(&group.id)
        .bind(&group.name_ja)
        .bind(&group.name_en)
        .bind(now_unix())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn tenant_group(&self, id: &str) -> Result<Option<TenantGroup>> {
        let row = sqlx::query("SELECT id, name_ja, name_en FROM tenant_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        row.map(|row| {
            Ok(TenantGroup {
                id: row.try_get("id")?,
                name_ja: row.try_get("name_ja")?,
                name_en: row.try_get("name_en")?,
            })
        })
        .transpose()
    }

    /// Creates the tenant, or updates its names, group and contact.
    pub async fn put_tenant(&self, tenant: &NewTenant) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, group_id, name_ja, name_en, contact_ja, contact_en, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET group_id = excluded.group_id, name_ja = excluded.name_ja,
               name_en = excluded.name_en, contact_ja = excluded.contact_ja, contact_en = excluded.contact_en",
        )
        .bind(&tenant.id)
        .bind(&tenant.group_id)
        .bind(&tenant.name_ja)
        .bind(&tenant.name_en)
        .bind(&tenant.contact_ja)
        .bind(&tenant.contact_en)
        .bind(now_unix())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let row =
            sqlx::query("SELECT id, group_id, name_ja, name_en, contact_ja, contact_en FROM tenants WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.db)
                .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows =
            sqlx::query("SELECT id, group_id, name_ja, name_en, contact_ja, contact_en FROM tenants ORDER BY id")
                .fetch_all(&self.db)
                .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// Registers a public key for the tenant; the newest key is the one new
    /// records are sealed to. Registering the same key again changes nothing.
    pub async fn add_tenant_key(&self, tenant: &str, key: &TenantPublicKey) -> Result<()> {
        if self.tenant(tenant).await?.is_none() {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        let done = sqlx::query(
            "INSERT INTO tenant_keys (tenant_id, key_id, public_key, generation, added_at)
             SELECT $1, $2, $3, COALESCE(MAX(generation), 0) + 1, $4 FROM tenant_keys WHERE tenant_id = $1
             ON CONFLICT (tenant_id, key_id) DO NOTHING",
        )
        .bind(tenant)
        .bind(key.id().as_str())
        .bind(key.to_base64())
        .bind(now_unix())
        .execute(&self.db)
        .await?;
        if done.rows_affected() == 1 {
            self.record_event(&crate::ledger::event(
                ledger::EventKind::KeyEvent,
                "operator:cli",
                Some(tenant),
                Some("tenant key"),
                &format!("tenant key added {}", key.id()),
            ))
            .await?;
        }
        Ok(())
    }

    /// The key new submissions to `tenant` are sealed to.
    pub async fn current_tenant_key(&self, tenant: &str) -> Result<Option<TenantPublicKey>> {
        let row = sqlx::query(
            "SELECT public_key FROM tenant_keys WHERE tenant_id = $1 AND retired_at IS NULL
             ORDER BY generation DESC LIMIT 1",
        )
        .bind(tenant)
        .fetch_optional(&self.db)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let text: String = row.try_get("public_key")?;
                Ok(Some(TenantPublicKey::from_base64(&text)?))
            }
        }
    }

    /// The operator's under-attack switch; entered in the ledger.
    pub async fn set_under_attack(&self, tenant: &str, on: bool, actor: &str) -> Result<()> {
        let done = sqlx::query("UPDATE tenants SET under_attack = $2 WHERE id = $1")
            .bind(tenant)
            .bind(i64::from(on))
            .execute(&self.db)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        let detail = if on { "under-attack mode on" } else { "under-attack mode off" };
        self.record_event(&crate::ledger::event(ledger::EventKind::AdminAction, actor, Some(tenant), None, detail))
            .await?;
        Ok(())
    }

    /// Tenants whose under-attack switch is on.
    pub async fn tenants_under_attack(&self) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT id FROM tenants WHERE under_attack <> 0 ORDER BY id").fetch_all(&self.db).await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Takes `tenant` offline behind `notice_ja` / `notice_en`; entered in
    /// the ledger. Isolating again replaces the notice.
    pub async fn isolate_tenant(&self, tenant: &str, notice_ja: &str, notice_en: &str, actor: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE tenants SET isolated_at = COALESCE(isolated_at, $2), isolation_notice_ja = $3,
               isolation_notice_en = $4 WHERE id = $1",
        )
        .bind(tenant)
        .bind(now_unix())
        .bind(notice_ja)
        .bind(notice_en)
        .execute(&self.db)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        self.record_event(&crate::ledger::event(
            ledger::EventKind::AdminAction,
            actor,
            Some(tenant),
            None,
            "tenant isolated",
        ))
        .await?;
        Ok(())
    }

    /// Brings an isolated tenant back; entered in the ledger. Returns
    /// whether it was isolated.
    pub async fn restore_tenant(&self, tenant: &str, actor: &str) -> Result<bool> {
        let sql = "UPDATE tenants SET isolated_at = NULL, isolation_notice_ja = NULL, isolation_notice_en = NULL
             WHERE id = $1 AND isolated_at IS NOT NULL";
        self.switch_off(tenant, sql, "tenant restored", actor).await
    }

    /// Runs `sql` (an UPDATE of tenant `$1` that switches something off
    /// only if it was on) and enters `detail` in the ledger if it did.
    /// Returns whether it was on.
    async fn switch_off(&self, tenant: &str, sql: &str, detail: &str, actor: &str) -> Result<bool> {
        if self.tenant(tenant).await?.is_none() {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        let done = sqlx::query(sql).bind(tenant).execute(&self.db).await?;
        if done.rows_affected() == 1 {
            self.record_event(&crate::ledger::event(ledger::EventKind::AdminAction, actor, Some(tenant), None, detail))
                .await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Every isolated tenant.
    pub async fn isolated_tenants(&self) -> Result<Vec<Isolation>> {
        let rows = sqlx::query(
            "SELECT id, isolated_at, isolation_notice_ja, isolation_notice_en FROM tenants
             WHERE isolated_at IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Isolation {
                    tenant: row.try_get("id")?,
                    since: row.try_get("isolated_at")?,
                    notice_ja: row.try_get::<Option<String>, _>("isolation_notice_ja")?.unwrap_or_default(),
                    notice_en: row.try_get::<Option<String>, _>("isolation_notice_en")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Crisis mode on for `tenant` with `form` (its own, or else adopted
    /// from its prefecture's template) and a pinned notice; entered in the
    /// ledger. Switching again changes the
    /// notice or the form and keeps the time it began.
    pub async fn declare_crisis(
        &self,
        tenant: &str,
        form: &str,
        notice_ja: &str,
        notice_en: &str,
        actor: &str,
    ) -> Result<()> {
        let Some(found) = self.tenant(tenant).await? else {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        };
        // One step: a form the municipality has not published yet is
        // adopted from its prefecture's template of that name.
        if self.current_form(tenant, form).await?.is_none() {
            let group =
                found.group_id.ok_or_else(|| StoreError::NoTemplate { group: String::new(), form: form.to_owned() })?;
            self.adopt_template(tenant, &group, form).await?;
        }
        sqlx::query(
            "UPDATE tenants SET crisis_at = COALESCE(crisis_at, $2), crisis_form = $3, crisis_notice_ja = $4,
               crisis_notice_en = $5 WHERE id = $1",
        )
        .bind(tenant)
        .bind(now_unix())
        .bind(form)
        .bind(notice_ja)
        .bind(notice_en)
        .execute(&self.db)
        .await?;
        self.record_event(&crate::ledger::event(
            ledger::EventKind::AdminAction,
            actor,
            Some(tenant),
            None,
            &format!("crisis mode on (form {form})"),
        ))
        .await?;
        Ok(())
    }

    /// Crisis mode off; entered in the ledger. Returns whether it was on.
    pub async fn end_crisis(&self, tenant: &str, actor: &str) -> Result<bool> {
        let sql =
            "UPDATE tenants SET crisis_at = NULL, crisis_form = NULL, crisis_notice_ja = NULL, crisis_notice_en = NULL
             WHERE id = $1 AND crisis_at IS NOT NULL";
        self.switch_off(tenant, sql, "crisis mode off", actor).await
    }

    /// Every tenant in crisis mode.
    pub async fn crisis_tenants(&self) -> Result<Vec<Crisis>> {
        let rows = sqlx::query(
            "SELECT id, crisis_at, crisis_form, crisis_notice_ja, crisis_notice_en FROM tenants
             WHERE crisis_at IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Crisis {
                    tenant: row.try_get("id")?,
                    since: row.try_get("crisis_at")?,
                    form: row.try_get::<Option<String>, _>("crisis_form")?.unwrap_or_default(),
                    notice_ja: row.try_get::<Option<String>, _>("crisis_notice_ja")?.unwrap_or_default(),
                    notice_en: row.try_get::<Option<String>, _>("crisis_notice_en")?.unwrap_or_default(),
                })
            })
            .collect()
    }
}
