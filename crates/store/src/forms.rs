//! Published form versions, for tenants and for tenant-group templates.
//!
//! The store keeps each form's definition as the text it was published in
//! and does not interpret it (that is the `forms` crate's job): publishing a
//! text that differs from the latest version makes a new version; the same
//! text again changes nothing.

use sqlx::Row;

use crate::{now_unix, sha256_hex, Result, Store, StoreError};

/// One published version of a tenant's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedForm {
    pub tenant_id: String,
    pub form_id: String,
    pub version: i64,
    pub definition: String,
    /// The prefecture template this form was adopted from, if any.
    pub template: Option<(String, i64)>,
    pub published_at: i64,
}

/// The latest version of one of a tenant group's templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTemplate {
    pub group_id: String,
    pub form_id: String,
    pub version: i64,
    pub definition: String,
    pub published_at: i64,
}

/// The outcome of publishing: the version now current, and whether this
/// call made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub version: i64,
    pub changed: bool,
}

const FORM_COLUMNS: &str = "tenant_id, form_id, version, definition, template_group, template_version, published_at";

fn form_from_row(row: &sqlx::any::AnyRow) -> Result<PublishedForm> {
    let group: Option<String> = row.try_get("template_group")?;
    let version: Option<i64> = row.try_get("template_version")?;
    Ok(PublishedForm {
        tenant_id: row.try_get("tenant_id")?,
        form_id: row.try_get("form_id")?,
        version: row.try_get("version")?,
        definition: row.try_get("definition")?,
        template: group.zip(version),
        published_at: row.try_get("published_at")?,
    })
}

impl Store {
    /// The version number a new text with `hash` would get, or, when it is
    /// the same text as the latest version, that version unchanged.
    /// `table` and `owner_column` are constants of this module, never input.
    async fn next_version(
        &self,
        table: &'static str,
        owner_column: &'static str,
        owner: &str,
        form_id: &str,
        hash: &str,
    ) -> Result<Result<i64, Published>> {
        let latest = sqlx::query(&format!(
            "SELECT version, sha256 FROM {table} WHERE {owner_column} = $1 AND form_id = $2 ORDER BY version DESC LIMIT 1"
        ))
        .bind(owner)
        .bind(form_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(match latest {
            Some(row) if row.try_get::<String, _>("sha256")? == hash => {
                Err(Published { version: row.try_get("version")?, changed: false })
            }
            Some(row) => Ok(row.try_get::<i64, _>("version")? + 1),
            None => Ok(1),
        })
    }

    /// Publishes a prefecture template that member tenants can adopt.
    pub async fn publish_template(&self, group: &str, form_id: &str, definition: &str) -> Result<Published> {
        let hash = sha256_hex(definition.as_bytes());
        let next = match self.next_version("form_templates", "group_id", group, form_id, &hash).await? {
            Ok(next) => next,
            Err(unchanged) => return Ok(unchanged),
        };
        sqlx::query(
            "INSERT INTO form_templates (group_id, form_id, version, definition, sha256, published_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(group)
        .bind(form_id)
        .bind(next)
        .bind(definition)
        .bind(&hash)
        .bind(now_unix())
        .execute(&self.db)
        .await?;
        Ok(Published { version: next, changed: true })
    }

    /// The latest version of a group's template: (version, definition).
    pub async fn template(&self, group: &str, form_id: &str) -> Result<Option<(i64, String)>> {
        let row = sqlx::query(
            "SELECT version, definition FROM form_templates WHERE group_id = $1 AND form_id = $2 ORDER BY version DESC LIMIT 1",
        )
        .bind(group)
        .bind(form_id)
        .fetch_optional(&self.db)
        .await?;
        row.map(|row| Ok((row.try_get("version")?, row.try_get("definition")?))).transpose()
    }

    /// The latest version of each of a group's templates, by form id: what
    /// the group's municipalities may adopt.
    pub async fn group_templates(&self, group: &str) -> Result<Vec<PublishedTemplate>> {
        let rows = sqlx::query(
            "SELECT group_id, form_id, version, definition, published_at FROM form_templates t WHERE group_id = $1
             AND version = (SELECT MAX(version) FROM form_templates u WHERE u.group_id = t.group_id AND u.form_id = t.form_id)
             ORDER BY form_id",
        )
        .bind(group)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PublishedTemplate {
                    group_id: row.try_get("group_id")?,
                    form_id: row.try_get("form_id")?,
                    version: row.try_get("version")?,
                    definition: row.try_get("definition")?,
                    published_at: row.try_get("published_at")?,
                })
            })
            .collect()
    }

    /// Publishes a tenant's form. A new version is made only when the text
    /// differs from the current one.
    pub async fn publish_form(
        &self,
        tenant: &str,
        form_id: &str,
        definition: &str,
        template: Option<(&str, i64)>,
    ) -> Result<Published> {
        let hash = sha256_hex(definition.as_bytes());
        let next = match self.next_version("forms", "tenant_id", tenant, form_id, &hash).await? {
            Ok(next) => next,
            Err(unchanged) => return Ok(unchanged),
        };
        sqlx::query(
            "INSERT INTO forms (tenant_id, form_id, version, definition, sha256, template_group, template_version, published_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant)
        .bind(form_id)
        .bind(next)
        .bind(definition)
        .bind(&hash)
        .bind(template.map(|(group, _)| group.to_owned()))
        .bind(template.map(|(_, version)| version))
        .bind(now_unix())
        .execute(&self.db)
        .await?;
        Ok(Published { version: next, changed: true })
    }

    /// A tenant adopts its group's template: the template's latest text
    /// becomes (a new version of) the tenant's own copy, which the tenant may
    /// later change on its own.
    pub async fn adopt_template(&self, tenant: &str, group: &str, form_id: &str) -> Result<Published> {
        let (version, definition) = self
            .template(group, form_id)
            .await?
            .ok_or_else(|| StoreError::NoTemplate { group: group.to_owned(), form: form_id.to_owned() })?;
        self.publish_form(tenant, form_id, &definition, Some((group, version))).await
    }

    /// The version residents are offered now.
    pub async fn current_form(&self, tenant: &str, form_id: &str) -> Result<Option<PublishedForm>> {
        let row = sqlx::query(&format!(
            "SELECT {FORM_COLUMNS} FROM forms WHERE tenant_id = $1 AND form_id = $2 ORDER BY version DESC LIMIT 1"
        ))
        .bind(tenant)
        .bind(form_id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(form_from_row).transpose()
    }

    /// A specific version (the one a submission names).
    pub async fn form_version(&self, tenant: &str, form_id: &str, version: i64) -> Result<Option<PublishedForm>> {
        let row = sqlx::query(&format!(
            "SELECT {FORM_COLUMNS} FROM forms WHERE tenant_id = $1 AND form_id = $2 AND version = $3"
        ))
        .bind(tenant)
        .bind(form_id)
        .bind(version)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(form_from_row).transpose()
    }

    /// The current version of each of the tenant's forms, by form id.
    pub async fn tenant_forms(&self, tenant: &str) -> Result<Vec<PublishedForm>> {
        let rows = sqlx::query(&format!(
            "SELECT {FORM_COLUMNS} FROM forms f WHERE tenant_id = $1
             AND version = (SELECT MAX(version) FROM forms g WHERE g.tenant_id = f.tenant_id AND g.form_id = f.form_id)
             ORDER BY form_id"
        ))
        .bind(tenant)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(form_from_row).collect()
    }
}
