//! Staff of the counter's admin console: accounts and their role grants,
//! second factors, sign-in throttling, sessions and WebAuthn ceremonies.
//!
//! The store keeps what it is given: hashes, sealed secrets, opaque passkey
//! JSON. The rules (what a good password is, when to lock) are the
//! `identity` crate's; the web flow is the counter's. Every change that
//! matters is entered in the ledger in the same transaction.

use identity::{Grant, Role, Throttle};
use ledger::{Event, EventKind};
use rand::RngCore;
use sqlx::Row;

use crate::{now_unix, sha256_hex, Result, Store, StoreError};

/// An account as the admin pages show it. No secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAccount {
    pub login: String,
    pub display_name: String,
    pub enrolled: bool,
    pub throttle: Throttle,
    pub grants: Vec<Grant>,
    pub created_at: i64,
    pub created_by: String,
}

/// What sign-in checks against, never shown.
#[derive(Debug, Clone)]
pub struct StaffSecrets {
    pub password_hash: Option<String>,
    pub totp_sealed: Option<String>,
    pub totp_last_step: i64,
    pub enrolment_code_sha256: Option<String>,
    pub enrolment_expires_at: Option<i64>,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub login: String,
    pub csrf: String,
    /// The second factor was given.
    pub verified: bool,
    /// Start of the stored hash: tells sessions apart, useless as a cookie.
    pub short_id: String,
    pub source: Option<String>,
    pub created_at: i64,
    pub last_seen: i64,
}

/// A registered passkey (WebAuthn credential), as opaque JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub credential_id: String,
    pub login: String,
    pub name: String,
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Who did something, for the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `staff:LOGIN`, `operator:cli`, …
    pub name: String,
    pub source: Option<String>,
}

impl Actor {
    pub fn staff(login: &str, source: Option<&str>) -> Actor {
        Actor { name: format!("staff:{login}"), source: source.map(str::to_owned) }
    }

    pub fn cli() -> Actor {
        Actor { name: "operator:cli".into(), source: None }
    }

    pub(crate) fn event(&self, kind: EventKind, tenant: Option<&str>, subject: Option<&str>, detail: &str) -> Event {
        let mut event = crate::ledger::event(kind, &self.name, tenant, subject, detail);
        event.source = self.source.clone();
        event
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn grant_tenant(grant: &Grant) -> &str {
    grant.tenant.as_deref().unwrap_or("")
}

/// The tenant an event about this account belongs to: its first tenant
/// grant (operators: none).
fn home_tenant(grants: &[Grant]) -> Option<&str> {
    grants.iter().find_map(|g| g.tenant.as_deref())
}

impl Store {
    /// Creates an account with its grants and an enrolment code (given as
    /// its SHA-256; the caller shows the code once). Returns false, changing
    /// nothing, when the login id is taken.
    pub async fn create_staff(
        &self,
        login: &str,
        display_name: &str,
        grants: &[Grant],
        enrolment_code_sha256: &str,
        enrolment_expires_at: i64,
        by: &Actor,
    ) -> Result<bool> {
        for grant in grants {
            if grant.role.is_per_tenant() != grant.tenant.is_some() {
                return Err(StoreError::Inconsistent(format!("role {} and tenant do not match", grant.role.as_str())));
            }
            if let Some(tenant) = &grant.tenant {
                if self.tenant(tenant).await?.is_none() {
                    return Err(StoreError::NoTenant(tenant.clone()));
                }
            }
        }
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        let inserted = sqlx::query(
            "INSERT INTO staff_accounts (login, display_name, enrolment_code_sha256, enrolment_expires_at, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (login) DO NOTHING",
        )
        .bind(login)
        .bind(display_name)
        .bind(enrolment_code_sha256)
        .bind(enrolment_expires_at)
        .bind(now_unix())
        .bind(&by.name)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        for grant in grants {
            sqlx::query("INSERT INTO staff_grants (login, role, tenant_id) VALUES ($1, $2, $3)")
                .bind(login)
                .bind(grant.role.as_str())
                .bind(grant_tenant(grant))
                .execute(&mut *tx)
                .await?;
        }
        let roles: Vec<String> =
            grants.iter().map(|g| format!("{}@{}", g.role.as_str(), g.tenant.as_deref().unwrap_or("*"))).collect();
        let event = by.event(
            EventKind::AdminAction,
            home_tenant(grants),
            Some(&format!("staff:{login}")),
            &format!("account created: {}", roles.join(" ")),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(true)
    }

    /// A new enrolment code for an account (lost authenticator, or the
    /// first code expired): its second factors and sessions are removed,
    /// so it must enrol again.
    pub async fn reset_staff_enrolment(
        &self,
        login: &str,
        enrolment_code_sha256: &str,
        expires_at: i64,
        by: &Actor,
    ) -> Result<bool> {
        let Some(account) = self.staff_account(login).await? else { return Ok(false) };
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        sqlx::query(
            "UPDATE staff_accounts SET enrolment_code_sha256 = $2, enrolment_expires_at = $3, enrolled_at = NULL,
               password_hash = NULL, totp_sealed = NULL, failed_logins = 0, not_before = 0, locked = 0 WHERE login = $1",
        )
        .bind(login)
        .bind(enrolment_code_sha256)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        for table in ["staff_recovery_codes", "staff_passkeys", "staff_sessions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE login = $1")).bind(login).execute(&mut *tx).await?;
        }
        let event = by.event(
            EventKind::SecondFactorChange,
            home_tenant(&account.grants),
            Some(&format!("staff:{login}")),
            "enrolment reset: second factors removed",
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(true)
    }

    pub async fn staff_account(&self, login: &str) -> Result<Option<StaffAccount>> {
        let row = sqlx::query(
            "SELECT login, display_name, enrolled_at, failed_logins, not_before, locked, created_at, created_by
             FROM staff_accounts WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut account = account_from_row(&row)?;
        account.grants = self.grants_of(login).await?;
        Ok(Some(account))
    }

    async fn grants_of(&self, login: &str) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT role, tenant_id FROM staff_grants WHERE login = $1 ORDER BY tenant_id, role")
            .bind(login)
            .fetch_all(&self.db)
            .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                let tenant: String = r.try_get("tenant_id")?;
                let role =
                    Role::parse(&role).ok_or_else(|| StoreError::Inconsistent(format!("unknown role {role:?}")))?;
                Ok(Grant { role, tenant: (!tenant.is_empty()).then_some(tenant) })
            })
            .collect()
    }

    /// Accounts holding any role in `tenant`, or, with None, every account.
    pub async fn staff_accounts(&self, tenant: Option<&str>) -> Result<Vec<StaffAccount>> {
        let rows = match tenant {
            Some(tenant) => {
                sqlx::query(
                    "SELECT login, display_name, enrolled_at, failed_logins, not_before, locked, created_at, created_by
                     FROM staff_accounts WHERE login IN (SELECT login FROM staff_grants WHERE tenant_id = $1) ORDER BY login",
                )
                .bind(tenant)
                .fetch_all(&self.db)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT login, display_name, enrolled_at, failed_logins, not_before, locked, created_at, created_by
                     FROM staff_accounts ORDER BY login",
                )
                .fetch_all(&self.db)
                .await?
            }
        };
        let mut accounts = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut account = account_from_row(row)?;
            account.grants = self.grants_of(&account.login).await?;
            accounts.push(account);
        }
        Ok(accounts)
    }

    pub async fn staff_secrets(&self, login: &str) -> Result<Option<StaffSecrets>> {
        let row = sqlx::query(
            "SELECT password_hash, totp_sealed, totp_last_step, enrolment_code_sha256, enrolment_expires_at
             FROM staff_accounts WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(&self.db)
        .await?;
        row.map(|r| {
            Ok(StaffSecrets {
                password_hash: r.try_get("password_hash")?,
                totp_sealed: r.try_get("totp_sealed")?,
                totp_last_step: r.try_get("totp_last_step")?,
                enrolment_code_sha256: r.try_get("enrolment_code_sha256")?,
                enrolment_expires_at: r.try_get("enrolment_expires_at")?,
            })
        })
        .transpose()
    }

    /// Enrolment step 1: the password (its hash) and a TOTP secret (sealed)
    /// not yet confirmed. Only while the enrolment code is still open.
    pub async fn set_staff_credentials(&self, login: &str, password_hash: &str, totp_sealed: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE staff_accounts SET password_hash = $2, totp_sealed = $3, totp_last_step = 0
             WHERE login = $1 AND enrolment_code_sha256 IS NOT NULL",
        )
        .bind(login)
        .bind(password_hash)
        .bind(totp_sealed)
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Enrolment done: the first TOTP step is spent, the recovery codes
    /// (hashes) stored, the enrolment code closed, and the ledger told.
    pub async fn finish_staff_enrolment(
        &self,
        login: &str,
        totp_step: i64,
        recovery_code_hashes: &[String],
        by: &Actor,
    ) -> Result<bool> {
        let Some(account) = self.staff_account(login).await? else { return Ok(false) };
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        let done = sqlx::query(
            "UPDATE staff_accounts SET enrolled_at = $2, enrolment_code_sha256 = NULL, enrolment_expires_at = NULL,
               totp_last_step = $3, failed_logins = 0, not_before = 0, locked = 0
             WHERE login = $1 AND enrolment_code_sha256 IS NOT NULL AND totp_sealed IS NOT NULL",
        )
        .bind(login)
        .bind(now_unix())
        .bind(totp_step)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        replace_recovery_codes(&mut tx, login, recovery_code_hashes).await?;
        let event = by.event(
            EventKind::SecondFactorChange,
            home_tenant(&account.grants),
            Some(&format!("staff:{login}")),
            "enrolled: password, TOTP, recovery codes",
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(true)
    }

    /// Spends a TOTP step: true only if it is later than the last one used
    /// (a code is never accepted twice, even on another node).
    pub async fn spend_totp_step(&self, login: &str, step: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE staff_accounts SET totp_last_step = $2 WHERE login = $1 AND totp_last_step < $2")
                .bind(login)
                .bind(step)
                .execute(&self.db)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Spends a recovery code (by hash); true if it was there and unused.
    pub async fn spend_recovery_code(&self, login: &str, code_sha256: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE staff_recovery_codes SET used_at = $3 WHERE login = $1 AND code_sha256 = $2 AND used_at IS NULL",
        )
        .bind(login)
        .bind(code_sha256)
        .bind(now_unix())
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn unused_recovery_codes(&self, login: &str) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM staff_recovery_codes WHERE login = $1 AND used_at IS NULL")
            .bind(login)
            .fetch_one(&self.db)
            .await?
            .try_get("n")?)
    }

    /// New recovery codes; the old ones stop working.
    pub async fn renew_recovery_codes(&self, login: &str, hashes: &[String], by: &Actor) -> Result<()> {
        let account = self.staff_account(login).await?;
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        replace_recovery_codes(&mut tx, login, hashes).await?;
        let tenant = account.as_ref().and_then(|a| home_tenant(&a.grants));
        let event =
            by.event(EventKind::SecondFactorChange, tenant, Some(&format!("staff:{login}")), "recovery codes renewed");
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(())
    }

    /// Records a sign-in event (success, failure, refusal, 2FA) and the
    /// account's new throttle state, in one transaction.
    pub async fn record_sign_in(&self, login: &str, throttle: Option<Throttle>, event: &Event) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        if let Some(throttle) = throttle {
            sqlx::query("UPDATE staff_accounts SET failed_logins = $2, not_before = $3, locked = $4 WHERE login = $1")
                .bind(login)
                .bind(throttle.failures)
                .bind(throttle.not_before)
                .bind(i64::from(throttle.locked))
                .execute(&mut *tx)
                .await?;
        }
        crate::ledger::append(&mut tx, &mut journal, event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(())
    }

    /// Lifts a lock and the delays; logged with who did it.
    pub async fn unlock_staff(&self, login: &str, by: &Actor) -> Result<bool> {
        let Some(account) = self.staff_account(login).await? else { return Ok(false) };
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        sqlx::query("UPDATE staff_accounts SET failed_logins = 0, not_before = 0, locked = 0 WHERE login = $1")
            .bind(login)
            .execute(&mut *tx)
            .await?;
        let event =
            by.event(EventKind::AdminAction, home_tenant(&account.grants), Some(&format!("staff:{login}")), "unlocked");
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(true)
    }

    /// Starts a session; returns (cookie value, CSRF token).
    pub async fn create_staff_session(
        &self,
        login: &str,
        verified: bool,
        source: Option<&str>,
    ) -> Result<(String, String)> {
        let id = random_hex(32);
        let csrf = random_hex(32);
        let now = now_unix();
        sqlx::query(
            "INSERT INTO staff_sessions (id_sha256, login, csrf, verified, source, created_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(sha256_hex(id.as_bytes()))
        .bind(login)
        .bind(&csrf)
        .bind(i64::from(verified))
        .bind(source)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok((id, csrf))
    }

    /// The session behind a cookie, if it is live (idle and absolute
    /// timeouts in seconds; a half-signed-in session lives `idle` at most
    /// in all). Touching it keeps it alive.
    pub async fn staff_session(&self, id: &str, idle_secs: i64, absolute_secs: i64) -> Result<Option<StaffSession>> {
        let now = now_unix();
        let key = sha256_hex(id.as_bytes());
        let row = sqlx::query(
            "SELECT id_sha256, login, csrf, verified, source, created_at, last_seen FROM staff_sessions WHERE id_sha256 = $1",
        )
        .bind(&key)
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session = session_from_row(&row)?;
        let absolute = if session.verified { absolute_secs } else { idle_secs };
        if now - session.last_seen > idle_secs || now - session.created_at > absolute {
            self.end_staff_session(id).await?;
            return Ok(None);
        }
        if now != session.last_seen {
            sqlx::query("UPDATE staff_sessions SET last_seen = $2 WHERE id_sha256 = $1")
                .bind(&key)
                .bind(now)
                .execute(&self.db)
                .await?;
        }
        Ok(Some(session))
    }

    pub async fn staff_sessions_of(&self, login: &str) -> Result<Vec<StaffSession>> {
        let rows = sqlx::query(
            "SELECT id_sha256, login, csrf, verified, source, created_at, last_seen FROM staff_sessions
             WHERE login = $1 ORDER BY created_at DESC",
        )
        .bind(login)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    pub async fn end_staff_session(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM staff_sessions WHERE id_sha256 = $1")
            .bind(sha256_hex(id.as_bytes()))
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Signs an account out everywhere; returns how many sessions ended.
    pub async fn end_staff_sessions(&self, login: &str, by: &Actor) -> Result<u64> {
        let account = self.staff_account(login).await?;
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        let done = sqlx::query("DELETE FROM staff_sessions WHERE login = $1").bind(login).execute(&mut *tx).await?;
        let event = by.event(
            EventKind::AdminAction,
            account.as_ref().and_then(|a| home_tenant(&a.grants)),
            Some(&format!("staff:{login}")),
            &format!("signed out everywhere ({} sessions)", done.rows_affected()),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(done.rows_affected())
    }

    /// Freezes a console account for the watch: locked (a tenant admin or
    /// operator lifts it with "unlock" after review, logged) and every
    /// session ended, with the reason as an alert leaf, in one transaction.
    pub async fn freeze_staff_account(&self, login: &str, reason: &str) -> Result<()> {
        let account = self.staff_account(login).await?;
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        sqlx::query("UPDATE staff_accounts SET locked = 1 WHERE login = $1").bind(login).execute(&mut *tx).await?;
        let ended = sqlx::query("DELETE FROM staff_sessions WHERE login = $1").bind(login).execute(&mut *tx).await?;
        let event = crate::ledger::event(
            EventKind::Alert,
            "system:watch",
            account.as_ref().and_then(|a| home_tenant(&a.grants)),
            Some(&format!("staff:{login}")),
            &format!("frozen: {reason} · {} session(s) ended, account locked", ended.rows_affected()),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(())
    }

    /// The short id of a session cookie (see [`StaffSession::short_id`]).
    pub fn short_session_id(cookie: &str) -> String {
        sha256_hex(cookie.as_bytes()).chars().take(8).collect()
    }

    pub async fn add_passkey(&self, passkey: &StoredPasskey, by: &Actor) -> Result<()> {
        let account = self.staff_account(&passkey.login).await?;
        let mut tx = self.db.begin().await?;
        let mut journal = crate::journal::Journal::default();
        sqlx::query(
            "INSERT INTO staff_passkeys (credential_id, login, name, passkey, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&passkey.credential_id)
        .bind(&passkey.login)
        .bind(&passkey.name)
        .bind(&passkey.passkey)
        .bind(passkey.created_at)
        .execute(&mut *tx)
        .await?;
        let event = by.event(
            EventKind::SecondFactorChange,
            account.as_ref().and_then(|a| home_tenant(&a.grants)),
            Some(&format!("staff:{}", passkey.login)),
            &format!("passkey registered {}", passkey.credential_id.chars().take(16).collect::<String>()),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(())
    }

    pub async fn passkeys_of(&self, login: &str) -> Result<Vec<StoredPasskey>> {
        let rows = sqlx::query(
            "SELECT credential_id, login, name, passkey, created_at, last_used_at FROM staff_passkeys
             WHERE login = $1 ORDER BY created_at",
        )
        .bind(login)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredPasskey {
                    credential_id: r.try_get("credential_id")?,
                    login: r.try_get("login")?,
                    name: r.try_get("name")?,
                    passkey: r.try_get("passkey")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// After a passkey sign-in: its updated counter state.
    pub async fn passkey_used(&self, credential_id: &str, passkey: &str) -> Result<()> {
        sqlx::query("UPDATE staff_passkeys SET passkey = $2, last_used_at = $3 WHERE credential_id = $1")
            .bind(credential_id)
            .bind(passkey)
            .bind(now_unix())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Keeps WebAuthn challenge state for `ttl_secs`; returns its id.
    pub async fn put_ceremony(&self, login: &str, kind: &str, state: &str, ttl_secs: i64) -> Result<String> {
        let id = random_hex(16);
        let now = now_unix();
        sqlx::query("DELETE FROM staff_ceremonies WHERE expires_at < $1").bind(now).execute(&self.db).await?;
        sqlx::query("INSERT INTO staff_ceremonies (id, login, kind, state, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(login)
            .bind(kind)
            .bind(state)
            .bind(now + ttl_secs)
            .execute(&self.db)
            .await?;
        Ok(id)
    }

    /// Takes (and removes) a ceremony's state, if it is live, of this kind
    /// and this account.
    pub async fn take_ceremony(&self, id: &str, login: &str, kind: &str) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT state, expires_at FROM staff_ceremonies WHERE id = $1 AND login = $2 AND kind = $3")
                .bind(id)
                .bind(login)
                .bind(kind)
                .fetch_optional(&self.db)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let done = sqlx::query("DELETE FROM staff_ceremonies WHERE id = $1").bind(id).execute(&self.db).await?;
        let expires: i64 = row.try_get("expires_at")?;
        if done.rows_affected() != 1 || expires < now_unix() {
            return Ok(None);
        }
        Ok(Some(row.try_get("state")?))
    }
}

async fn replace_recovery_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    login: &str,
    hashes: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM staff_recovery_codes WHERE login = $1").bind(login).execute(&mut **tx).await?;
    for hash in hashes {
        sqlx::query("INSERT INTO staff_recovery_codes (login, code_sha256) VALUES ($1, $2)")
            .bind(login)
            .bind(hash)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn account_from_row(row: &sqlx::any::AnyRow) -> Result<StaffAccount> {
    Ok(StaffAccount {
        login: row.try_get("login")?,
        display_name: row.try_get("display_name")?,
        enrolled: row.try_get::<Option<i64>, _>("enrolled_at")?.is_some(),
        throttle: Throttle {
            failures: row.try_get("failed_logins")?,
            not_before: row.try_get("not_before")?,
            locked: row.try_get::<i64, _>("locked")? != 0,
        },
        grants: Vec::new(),
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

fn session_from_row(row: &sqlx::any::AnyRow) -> Result<StaffSession> {
    let id: String = row.try_get("id_sha256")?;
    Ok(StaffSession {
        login: row.try_get("login")?,
        csrf: row.try_get("csrf")?,
        verified: row.try_get::<i64, _>("verified")? != 0,
        short_id: id.chars().take(8).collect(),
        source: row.try_get("source")?,
        created_at: row.try_get("created_at")?,
        last_seen: row.try_get("last_seen")?,
    })
}
