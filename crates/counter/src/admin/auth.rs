//! Signing in (password, then a second factor), enrolment, signing out.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use identity::{Throttle, RECOVERY_CODE_COUNT};
use ledger::EventKind;
use minijinja::context;
use sha2::Digest;

use super::{session_cookie, Fields, Visitor};
use crate::{Counter, PageError};

type Shared = State<Arc<Counter>>;

/// How long an enrolment code stays valid.
pub(crate) const ENROLMENT_SECS: i64 = 72 * 3600;
const TOTP_ISSUER: &str = "madoguchi";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn unit_ms(counter: &Counter) -> i64 {
    counter.settings.sign_in_delay_unit.as_millis() as i64
}

/// Seconds to wait, rounded up, for the page.
fn wait_secs(wait_ms: Option<i64>) -> Option<i64> {
    wait_ms.map(|ms| (ms + 999) / 1000)
}

pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.trim().as_bytes()))
}

/// A new enrolment code: (the code to hand over, its hash to store).
pub(crate) fn new_enrolment_code() -> (String, String) {
    let code = super::random_hex(10);
    let hash = sha256_hex(&code);
    (code, hash)
}

/// Whether `code` is a TOTP code of `login`'s authenticator not used
/// before (the step is spent): for sign-in, and to confirm an action.
pub(crate) async fn fresh_totp(counter: &Counter, login: &str, code: &str, now_secs: u64) -> Result<bool, PageError> {
    let secrets = counter.store.staff_secrets(login).await?.ok_or(PageError::Internal)?;
    let secret = secrets.totp_sealed.as_deref().and_then(|s| counter.tokens.open(&totp_purpose(login), s).ok());
    let step = secret.and_then(|secret| identity::totp_step(&secret, code, now_secs));
    Ok(match step {
        Some(step) => counter.store.spend_totp_step(login, step as i64).await?,
        None => false,
    })
}

fn totp_purpose(login: &str) -> String {
    format!("staff-totp {login}")
}

fn event(visitor: &Visitor, kind: EventKind, login: &str, tenant: Option<&str>, detail: &str) -> ledger::Event {
    let mut event = store::event(kind, &format!("staff:{login}"), tenant, None, detail);
    event.source = visitor.source.clone();
    event
}

pub(crate) async fn login_page(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    counter.admin_pages.render(&visitor, "admin/login.html", context! { login => "" })
}

/// Step 1: the password. Failures count per account from any address;
/// delays grow and the account locks (see `identity::delay_after`).
pub(crate) async fn login(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    fields: Fields,
) -> Result<Response, PageError> {
    let login = fields.get("login").trim().to_ascii_lowercase();
    let password = fields.get("password");
    let refuse = |message: &'static str, wait: Option<i64>| {
        counter.admin_pages.render_status(
            &visitor,
            StatusCode::UNAUTHORIZED,
            "admin/login.html",
            context! { login => login.clone(), error => message, wait => wait },
        )
    };
    let Some(account) = counter.store.staff_account(&login).await? else {
        // The same work as a real check, so timing does not tell which ids
        // exist; the typed id is not recorded (it may be a password typed
        // into the wrong box).
        identity::verify_password(None, password);
        let mut failed = store::event(EventKind::LoginFailed, "anonymous", None, None, "unknown login id");
        failed.source = visitor.source.clone();
        counter.store.record_event(&failed).await?;
        return refuse("login_failed", None);
    };
    let tenant = account.grants.iter().find_map(|g| g.tenant.clone());
    let now = now_ms();
    if let Err(wait) = account.throttle.admits(now) {
        let wait = wait_secs(wait);
        let detail = match wait {
            None => "refused: account locked".to_owned(),
            Some(secs) => format!("refused: {secs} s delay after failures"),
        };
        let refused = event(&visitor, EventKind::LoginFailed, &login, tenant.as_deref(), &detail);
        counter.store.record_sign_in(&login, None, &refused).await?;
        return refuse(if wait.is_none() { "login_locked" } else { "login_wait" }, wait);
    }
    if !account.enrolled {
        identity::verify_password(None, password);
        return refuse("login_not_enrolled", None);
    }
    let secrets = counter.store.staff_secrets(&login).await?.ok_or(PageError::Internal)?;
    if !identity::verify_password(secrets.password_hash.as_deref(), password) {
        let throttle = account.throttle.failed(now, unit_ms(&counter));
        let detail = if throttle.locked { "wrong password; account locked" } else { "wrong password" };
        let failed = event(&visitor, EventKind::LoginFailed, &login, tenant.as_deref(), detail);
        counter.store.record_sign_in(&login, Some(throttle), &failed).await?;
        let wait = wait_secs(Some(throttle.not_before - now)).filter(|w| *w > 0);
        let message = match (throttle.locked, wait) {
            (true, _) => "login_locked",
            (false, Some(_)) => "login_failed_wait",
            (false, None) => "login_failed",
        };
        return refuse(message, wait);
    }
    let ok = event(&visitor, EventKind::Login, &login, tenant.as_deref(), "password accepted; second factor due");
    counter.store.record_sign_in(&login, None, &ok).await?;
    let (id, _csrf) = counter.store.create_staff_session(&login, false, visitor.source.as_deref()).await?;
    let mut response = Redirect::to("/admin/login/second").into_response();
    let idle = counter.settings.staff_session_idle.as_secs() as i64;
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&counter, &id, idle));
    Ok(response)
}

pub(crate) async fn second_page(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    let login = visitor.login().to_owned();
    let has_passkeys = !counter.store.passkeys_of(&login).await?.is_empty() && counter.passkeys.is_some();
    counter.admin_pages.render(&visitor, "admin/second.html", context! { has_passkeys => has_passkeys })
}

/// Step 2: a TOTP code or a recovery code. A wrong one counts as a failed
/// sign-in, like a wrong password.
pub(crate) async fn second(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    fields: Fields,
) -> Result<Response, PageError> {
    let half = visitor.staff.clone().ok_or(PageError::Forbidden)?;
    let login = half.account.login.clone();
    let tenant = half.account.grants.iter().find_map(|g| g.tenant.clone());
    let now = now_ms();
    let code = fields.get("code");
    if let Err(wait) = half.account.throttle.admits(now) {
        let wait = wait_secs(wait);
        let detail =
            if wait.is_none() { "second factor refused: account locked" } else { "second factor refused: delay" };
        counter
            .store
            .record_sign_in(&login, None, &event(&visitor, EventKind::LoginFailed, &login, tenant.as_deref(), detail))
            .await?;
        if wait.is_none() {
            counter.store.end_staff_session(&half.cookie).await?;
        }
        let has_passkeys = !counter.store.passkeys_of(&login).await?.is_empty();
        return counter.admin_pages.render_status(
            &visitor,
            StatusCode::UNAUTHORIZED,
            "admin/second.html",
            context! { error => if wait.is_none() { "login_locked" } else { "login_wait" }, wait => wait, has_passkeys => has_passkeys },
        );
    }
    let digits: String = forms::nfkc(code).chars().filter(|c| !c.is_whitespace()).collect();
    let method = if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        fresh_totp(&counter, &login, code, (now / 1000) as u64).await?.then_some("TOTP")
    } else if counter.store.spend_recovery_code(&login, &identity::recovery_code_hash(code)).await? {
        Some("recovery code")
    } else {
        None
    };
    match method {
        Some(method) => finish_sign_in(&counter, &visitor, &half, method).await,
        None => {
            let throttle = half.account.throttle.failed(now, unit_ms(&counter));
            let detail = if throttle.locked { "wrong second factor; account locked" } else { "wrong second factor" };
            counter
                .store
                .record_sign_in(
                    &login,
                    Some(throttle),
                    &event(&visitor, EventKind::LoginFailed, &login, tenant.as_deref(), detail),
                )
                .await?;
            if throttle.locked {
                counter.store.end_staff_session(&half.cookie).await?;
            }
            let has_passkeys = !counter.store.passkeys_of(&login).await?.is_empty();
            counter.admin_pages.render_status(
                &visitor,
                StatusCode::UNAUTHORIZED,
                "admin/second.html",
                context! { error => if throttle.locked { "login_locked" } else { "second_failed" }, has_passkeys => has_passkeys },
            )
        }
    }
}

/// The second factor was right: the half session ends and a new one (new
/// id, so a planted cookie is worthless) begins.
pub(crate) async fn finish_sign_in(
    counter: &Counter,
    visitor: &Visitor,
    half: &super::SignedIn,
    method: &str,
) -> Result<Response, PageError> {
    let login = &half.account.login;
    let tenant = half.account.grants.iter().find_map(|g| g.tenant.clone());
    counter.store.end_staff_session(&half.cookie).await?;
    let signed_in = event(visitor, EventKind::Login, login, tenant.as_deref(), &format!("signed in with {method}"));
    counter.store.record_sign_in(login, Some(Throttle::default()), &signed_in).await?;
    if method == "recovery code" {
        let left = counter.store.unused_recovery_codes(login).await?;
        let used = event(
            visitor,
            EventKind::SecondFactorChange,
            login,
            tenant.as_deref(),
            &format!("recovery code used; {left} left"),
        );
        counter.store.record_event(&used).await?;
    }
    let (id, _csrf) = counter.store.create_staff_session(login, true, visitor.source.as_deref()).await?;
    let mut response = Redirect::to("/admin").into_response();
    let absolute = counter.settings.staff_session_absolute.as_secs() as i64;
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(counter, &id, absolute));
    Ok(response)
}

pub(crate) async fn logout(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    if let Some(staff) = &visitor.staff {
        counter.store.end_staff_session(&staff.cookie).await?;
    }
    let mut response = Redirect::to("/admin/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&counter, "", 0));
    Ok(response)
}

pub(crate) async fn enrol_page(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    counter.admin_pages.render(&visitor, "admin/enrol.html", context! { step => "password" })
}

/// Whether `code` is the open enrolment code of `login`.
async fn enrolment_code_ok(counter: &Counter, login: &str, code: &str) -> Result<bool, PageError> {
    let Some(secrets) = counter.store.staff_secrets(login).await? else { return Ok(false) };
    let hash = sha256_hex(code);
    Ok(secrets.enrolment_code_sha256.is_some_and(|stored| super::constant_time_eq(stored.as_bytes(), hash.as_bytes()))
        && secrets.enrolment_expires_at.is_some_and(|e| e >= now()))
}

/// Enrolment step 1: the enrolment code and a new password; answers with
/// the TOTP secret as a QR code.
pub(crate) async fn enrol(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    fields: Fields,
) -> Result<Response, PageError> {
    let login = fields.get("login").trim().to_ascii_lowercase();
    let code = fields.get("code").trim().to_owned();
    let password = fields.get("password");
    let fail = |error: &str| {
        counter.admin_pages.render_status(
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            "admin/enrol.html",
            context! { step => "password", error => error, login => login.clone(), code => code.clone() },
        )
    };
    if !enrolment_code_ok(&counter, &login, &code).await? {
        return fail("enrolment_code_invalid");
    }
    if password != fields.get("password2") {
        return fail("password_mismatch");
    }
    if let Some(problem) = identity::password_problem(&login, password) {
        return fail(problem.key());
    }
    let hash = identity::hash_password(password).map_err(|_| PageError::Internal)?;
    let secret = identity::new_totp_secret();
    let sealed = counter.tokens.seal(&totp_purpose(&login), &secret);
    if !counter.store.set_staff_credentials(&login, &hash, &sealed).await? {
        return fail("enrolment_code_invalid");
    }
    totp_step_page(&counter, &visitor, &login, &code, &secret, None)
}

fn totp_step_page(
    counter: &Counter,
    visitor: &Visitor,
    login: &str,
    code: &str,
    secret: &[u8],
    error: Option<&str>,
) -> Result<Response, PageError> {
    let totp = identity::totp(secret, login, TOTP_ISSUER).map_err(|_| PageError::Internal)?;
    let url = totp.get_url();
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
        .unwrap_or_default();
    let ctx = context! {
        step => "totp", login => login, code => code, error => error,
        qr_svg => minijinja::Value::from_safe_string(qr), secret => totp.get_secret_base32(), otpauth => url,
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    counter.admin_pages.render_status(visitor, status, "admin/enrol.html", ctx)
}

/// Enrolment step 2: a first TOTP code proves the authenticator works;
/// the recovery codes are shown, once.
pub(crate) async fn enrol_confirm(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    fields: Fields,
) -> Result<Response, PageError> {
    let login = fields.get("login").trim().to_ascii_lowercase();
    let code = fields.get("code").trim().to_owned();
    if !enrolment_code_ok(&counter, &login, &code).await? {
        return counter.admin_pages.render_status(
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            "admin/enrol.html",
            context! { step => "password", error => "enrolment_code_invalid", login => login },
        );
    }
    let secrets = counter.store.staff_secrets(&login).await?.ok_or(PageError::Internal)?;
    let secret = secrets
        .totp_sealed
        .as_deref()
        .and_then(|s| counter.tokens.open(&totp_purpose(&login), s).ok())
        .ok_or(PageError::BadRequest)?;
    let Some(step) = identity::totp_step(&secret, fields.get("totp"), now() as u64) else {
        return totp_step_page(&counter, &visitor, &login, &code, &secret, Some("totp_invalid"));
    };
    let codes = identity::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| identity::recovery_code_hash(c)).collect();
    let actor = store::Actor::staff(&login, visitor.source.as_deref());
    if !counter.store.finish_staff_enrolment(&login, step as i64, &hashes, &actor).await? {
        return Err(PageError::BadRequest);
    }
    counter.admin_pages.render(
        &visitor,
        "admin/enrol.html",
        context! { step => "done", login => login, recovery_codes => codes, count => RECOVERY_CODE_COUNT },
    )
}
