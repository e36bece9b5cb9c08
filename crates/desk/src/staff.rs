//! Staff accounts on the desk: login ids that are not e-mail addresses,
//! argon2id passwords, mandatory TOTP, one role each, growing delays and a
//! lock after failed sign-ins, sessions with CSRF tokens. The rules are
//! the `identity` crate's, shared with the counter's admin console.

use identity::{Role, Throttle};
use rand::RngCore;
use sha2::Digest;
use sqlx::Row;

use crate::keyring::KeyRing;
use crate::store::DeskStore;
use crate::{now_unix, DeskError, Result};

/// `locked_until` of a lock that only a person lifts.
const LOCKED_UNTIL_LIFTED: i64 = i64::MAX;
/// How long an enrolment code from `madoguchi desk add-staff` stays valid.
pub const ENROLMENT_SECS: i64 = 72 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub login: String,
    pub display_name: String,
    pub enrolled: bool,
    pub role: Role,
    pub locked: bool,
    pub failures: i64,
    /// Frozen by the watch until a tenant admin lifts it.
    pub frozen: bool,
}

/// Why a login was refused. The page shows one message for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    WrongCredentials,
    /// Too many failures: no attempt is checked for this many seconds.
    Wait(i64),
    Locked,
    NotEnrolled,
    /// The right password and code, but the watch froze the account: told
    /// only after both were checked, so the page can say so plainly.
    Frozen,
}

fn staff_from_row(r: &sqlx::any::AnyRow) -> Result<Staff> {
    let role: String = r.try_get("role")?;
    Ok(Staff {
        login: r.try_get("login")?,
        display_name: r.try_get("display_name")?,
        enrolled: r.try_get::<Option<i64>, _>("enrolled_at")?.is_some(),
        role: Role::parse(&role).ok_or_else(|| DeskError::Setup(format!("unknown role {role:?}")))?,
        locked: r.try_get::<Option<i64>, _>("locked_until")?.is_some(),
        failures: r.try_get("failed_logins")?,
        frozen: r.try_get::<Option<i64>, _>("frozen_at")?.is_some(),
    })
}

const STAFF_COLUMNS: &str = "login, display_name, enrolled_at, role, locked_until, failed_logins, frozen_at";

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn sha256_hex(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The TOTP generator for a desk account, labelled for authenticator apps.
pub fn totp(secret: &[u8], login: &str, tenant: &str) -> Result<totp_rs::TOTP> {
    identity::totp(secret, login, &format!("madoguchi {tenant}")).map_err(|e| DeskError::Setup(e.to_string()))
}

impl DeskStore {
    /// Creates an account with `role` (or gives an existing one a new
    /// enrolment code and role) and returns its one-time enrolment code:
    /// staff choose their password and register their authenticator with it.
    /// The operator's role is the counter's; a desk refuses it.
    pub async fn add_staff(&self, login: &str, display_name: &str, role: Role) -> Result<String> {
        if !identity::valid_login(login) {
            return Err(DeskError::Setup(format!(
                "login id {login:?}: use 3–32 lowercase letters, digits, '.', '_' or '-', starting with a letter (not an e-mail address)"
            )));
        }
        if !role.is_per_tenant() {
            return Err(DeskError::Setup("the operator role belongs to the counter, not to a desk".into()));
        }
        let code = random_token(10);
        let now = now_unix();
        sqlx::query(
            "INSERT INTO staff (login, display_name, enrolment_code_sha256, enrolment_expires_at, created_at, role)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (login) DO UPDATE SET enrolment_code_sha256 = excluded.enrolment_code_sha256,
               enrolment_expires_at = excluded.enrolment_expires_at, display_name = excluded.display_name,
               role = excluded.role",
        )
        .bind(login)
        .bind(display_name)
        .bind(sha256_hex(&code))
        .bind(now + ENROLMENT_SECS)
        .bind(now)
        .bind(role.as_str())
        .execute(self.db())
        .await?;
        Ok(code)
    }

    pub async fn staff(&self, login: &str) -> Result<Option<Staff>> {
        let row = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff WHERE login = $1"))
            .bind(login)
            .fetch_optional(self.db())
            .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    pub async fn all_staff(&self) -> Result<Vec<Staff>> {
        let rows =
            sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY login")).fetch_all(self.db()).await?;
        rows.iter().map(staff_from_row).collect()
    }

    /// Checks an enrolment code; on success stores the password and a new
    /// TOTP secret (not yet confirmed) and returns the secret.
    pub async fn begin_enrolment(
        &self,
        keys: &KeyRing,
        login: &str,
        code: &str,
        password: &str,
    ) -> Result<Option<Vec<u8>>> {
        let row =
            sqlx::query("SELECT enrolment_code_sha256, enrolment_expires_at, enrolled_at FROM staff WHERE login = $1")
                .bind(login)
                .fetch_optional(self.db())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: Option<String> = row.try_get("enrolment_code_sha256")?;
        let expires: Option<i64> = row.try_get("enrolment_expires_at")?;
        let code_ok = stored.is_some_and(|s| s == sha256_hex(code.trim())) && expires.is_some_and(|e| e >= now_unix());
        if !code_ok {
            return Ok(None);
        }
        let hash = identity::hash_password(password).map_err(|e| DeskError::Setup(e.to_string()))?;
        let secret = identity::new_totp_secret();
        sqlx::query("UPDATE staff SET password_hash = $2, totp_secret = $3, enrolled_at = NULL WHERE login = $1")
            .bind(login)
            .bind(hash)
            .bind(keys.encrypt_at_rest(&format!("totp {login}"), &secret))
            .execute(self.db())
            .await?;
        Ok(Some(secret))
    }

    /// Confirms enrolment with a first TOTP code; the enrolment code is
    /// then spent.
    pub async fn finish_enrolment(&self, keys: &KeyRing, login: &str, code: &str, totp_code: &str) -> Result<bool> {
        let row = sqlx::query("SELECT enrolment_code_sha256, enrolment_expires_at FROM staff WHERE login = $1")
            .bind(login)
            .fetch_optional(self.db())
            .await?;
        let Some(row) = row else { return Ok(false) };
        let stored: Option<String> = row.try_get("enrolment_code_sha256")?;
        let expires: Option<i64> = row.try_get("enrolment_expires_at")?;
        if !(stored.is_some_and(|s| s == sha256_hex(code.trim())) && expires.is_some_and(|e| e >= now_unix())) {
            return Ok(false);
        }
        if !self.check_totp(keys, login, totp_code).await? {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE staff SET enrolled_at = $2, enrolment_code_sha256 = NULL, enrolment_expires_at = NULL,
               failed_logins = 0, locked_until = NULL WHERE login = $1",
        )
        .bind(login)
        .bind(now_unix())
        .execute(self.db())
        .await?;
        self.log_access(login, "enrolled", None, "password and TOTP set").await?;
        Ok(true)
    }

    /// Checks a TOTP code, refusing a code already used (replay).
    pub(crate) async fn check_totp(&self, keys: &KeyRing, login: &str, code: &str) -> Result<bool> {
        let row = sqlx::query("SELECT totp_secret, totp_last_step FROM staff WHERE login = $1")
            .bind(login)
            .fetch_optional(self.db())
            .await?;
        let Some(row) = row else { return Ok(false) };
        let Some(sealed): Option<Vec<u8>> = row.try_get("totp_secret")? else { return Ok(false) };
        let last_step: i64 = row.try_get("totp_last_step")?;
        let secret = keys.decrypt_at_rest(&format!("totp {login}"), &sealed)?;
        let now = u64::try_from(now_unix()).unwrap_or_default();
        let step = identity::totp_step(&secret, code, now).map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        let Some(step) = step else { return Ok(false) };
        if step <= last_step {
            return Ok(false);
        }
        sqlx::query("UPDATE staff SET totp_last_step = $2 WHERE login = $1")
            .bind(login)
            .bind(step)
            .execute(self.db())
            .await?;
        Ok(true)
    }

    /// Password and TOTP together. Failures count per account, whatever
    /// the source address: from the third, no attempt is checked for a
    /// growing wait (in units of `delay_unit_ms`); at
    /// [`identity::LOCK_AFTER_FAILURES`] the account locks until someone
    /// lifts it ([`DeskStore::unlock_staff`]).
    pub async fn login(
        &self,
        keys: &KeyRing,
        login: &str,
        password: &str,
        totp_code: &str,
        delay_unit_ms: i64,
    ) -> Result<Result<Staff, LoginRefused>> {
        let row = sqlx::query(
            "SELECT password_hash, enrolled_at, locked_until, failed_logins, not_before FROM staff WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(self.db())
        .await?;
        let Some(row) = row else {
            // Same work as a real check, so timing does not tell which ids exist.
            identity::verify_password(None, password);
            return Ok(Err(LoginRefused::WrongCredentials));
        };
        let throttle = Throttle {
            failures: row.try_get("failed_logins")?,
            not_before: row.try_get("not_before")?,
            locked: row.try_get::<Option<i64>, _>("locked_until")?.is_some_and(|until| until > now_unix()),
        };
        let now = now_ms();
        if let Err(wait) = throttle.admits(now) {
            let (refusal, note) = match wait {
                None => (LoginRefused::Locked, "locked".to_owned()),
                Some(ms) => (LoginRefused::Wait((ms + 999) / 1000), format!("wait {ms} ms")),
            };
            self.log_access(login, "login-refused", None, &note).await?;
            return Ok(Err(refusal));
        }
        if row.try_get::<Option<i64>, _>("enrolled_at")?.is_none() {
            return Ok(Err(LoginRefused::NotEnrolled));
        }
        let hash: Option<String> = row.try_get("password_hash")?;
        let password_ok = identity::verify_password(hash.as_deref(), password);
        if password_ok && self.check_totp(keys, login, totp_code).await? {
            sqlx::query("UPDATE staff SET failed_logins = 0, not_before = 0, locked_until = NULL WHERE login = $1")
                .bind(login)
                .execute(self.db())
                .await?;
            let Some(staff) = self.staff(login).await? else { return Ok(Err(LoginRefused::WrongCredentials)) };
            if staff.frozen {
                self.log_access(login, "login-refused", None, "frozen").await?;
                return Ok(Err(LoginRefused::Frozen));
            }
            self.log_access(login, "login", None, "").await?;
            return Ok(Ok(staff));
        }
        let after = throttle.failed(now, delay_unit_ms);
        sqlx::query("UPDATE staff SET failed_logins = $2, not_before = $3, locked_until = $4 WHERE login = $1")
            .bind(login)
            .bind(after.failures)
            .bind(after.not_before)
            .bind(after.locked.then_some(LOCKED_UNTIL_LIFTED))
            .execute(self.db())
            .await?;
        self.log_access(login, "login-failed", None, if after.locked { "locked" } else { "" }).await?;
        let wait = (after.not_before - now + 999) / 1000;
        Ok(Err(if after.locked {
            LoginRefused::Locked
        } else if wait > 0 {
            LoginRefused::Wait(wait)
        } else {
            LoginRefused::WrongCredentials
        }))
    }

    /// Lifts a lock (after someone checked why it happened); logged with
    /// who lifted it. False when there is no such account.
    pub async fn unlock_staff(&self, login: &str, by: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE staff SET failed_logins = 0, not_before = 0, locked_until = NULL WHERE login = $1")
                .bind(login)
                .execute(self.db())
                .await?;
        if done.rows_affected() == 1 {
            self.log_access(by, "unlock", None, login).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Starts a session; returns (cookie value, CSRF token).
    pub async fn create_session(&self, login: &str) -> Result<(String, String)> {
        let id = random_token(32);
        let csrf = random_token(32);
        let now = now_unix();
        sqlx::query("INSERT INTO sessions (id_sha256, login, csrf, created_at, last_seen) VALUES ($1, $2, $3, $4, $4)")
            .bind(sha256_hex(&id))
            .bind(login)
            .bind(&csrf)
            .bind(now)
            .execute(self.db())
            .await?;
        Ok((id, csrf))
    }

    /// The session's staff member and CSRF token, if the session is live
    /// (idle and absolute timeouts, in seconds); touching it keeps it alive.
    pub async fn session(&self, id: &str, idle_secs: i64, absolute_secs: i64) -> Result<Option<(Staff, String)>> {
        let now = now_unix();
        let row = sqlx::query("SELECT login, csrf, created_at, last_seen FROM sessions WHERE id_sha256 = $1")
            .bind(sha256_hex(id))
            .fetch_optional(self.db())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let created: i64 = row.try_get("created_at")?;
        let seen: i64 = row.try_get("last_seen")?;
        if now - seen > idle_secs || now - created > absolute_secs {
            self.end_session(id).await?;
            return Ok(None);
        }
        sqlx::query("UPDATE sessions SET last_seen = $2 WHERE id_sha256 = $1")
            .bind(sha256_hex(id))
            .bind(now)
            .execute(self.db())
            .await?;
        let login: String = row.try_get("login")?;
        let csrf: String = row.try_get("csrf")?;
        Ok(self.staff(&login).await?.filter(|staff| !staff.frozen).map(|staff| (staff, csrf)))
    }

    /// A staff member's live sessions: (short id, created, last seen),
    /// newest first. The short id is the start of the stored hash: enough
    /// to tell sessions apart, useless as a cookie.
    pub async fn sessions_of(&self, login: &str) -> Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT id_sha256, created_at, last_seen FROM sessions WHERE login = $1 ORDER BY created_at DESC",
        )
        .bind(login)
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id_sha256")?;
                Ok((id.chars().take(8).collect(), r.try_get("created_at")?, r.try_get("last_seen")?))
            })
            .collect()
    }

    /// Signs a staff member out everywhere; returns how many sessions ended.
    pub async fn end_all_sessions(&self, login: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE login = $1").bind(login).execute(self.db()).await?;
        self.log_access(login, "sign-out-everywhere", None, &done.rows_affected().to_string()).await?;
        Ok(done.rows_affected())
    }

    /// The short id (see [`DeskStore::sessions_of`]) of a session cookie.
    pub fn short_session_id(cookie: &str) -> String {
        sha256_hex(cookie).chars().take(8).collect()
    }

    pub async fn end_session(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1").bind(sha256_hex(id)).execute(self.db()).await?;
        Ok(())
    }
}
