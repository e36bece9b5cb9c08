//! WebAuthn passkeys as a second factor: registration from the account
//! page, and sign-in after the password. The ceremony state between the
//! challenge and the answer is kept in the database, so any counter node
//! may take the answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ledger::EventKind;
use serde::Deserialize;
use sha2::Digest;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::Visitor;
use crate::{Counter, PageError};

type Shared = State<Arc<Counter>>;

/// A ceremony must be answered within this time.
const CEREMONY_SECS: i64 = 300;

/// The relying party: the counter's public URL names it.
pub(crate) struct Passkeys {
    webauthn: Webauthn,
}

impl Passkeys {
    /// `public_url` is where staff open the console, e.g.
    /// `https://madoguchi.pref.example.jp` (its host is the RP id).
    pub fn new(public_url: &str) -> Result<Passkeys, String> {
        let url = Url::parse(public_url).map_err(|e| format!("public URL {public_url:?}: {e}"))?;
        let rp_id = url.host_str().ok_or_else(|| format!("public URL {public_url:?} has no host"))?.to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &url)
            .and_then(|b| b.rp_name("madoguchi").build())
            .map_err(|e| format!("WebAuthn relying party {rp_id:?}: {e}"))?;
        Ok(Passkeys { webauthn })
    }
}

fn passkeys_of(counter: &Counter) -> Result<&Passkeys, PageError> {
    counter.passkeys.as_ref().ok_or(PageError::NotFound)
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

fn credential_id(passkey: &Passkey) -> String {
    serde_json::to_value(passkey.cred_id()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

async fn stored(counter: &Counter, login: &str) -> Result<Vec<(store::StoredPasskey, Passkey)>, PageError> {
    Ok(counter
        .store
        .passkeys_of(login)
        .await?
        .into_iter()
        .filter_map(|s| serde_json::from_str::<Passkey>(&s.passkey).ok().map(|p| (s, p)))
        .collect())
}

/// The WebAuthn user handle: stable per login id, and not the login id.
fn user_handle(login: &str) -> Uuid {
    let digest = sha2::Sha256::digest(format!("madoguchi staff {login}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

pub(crate) async fn register_start(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    let passkeys = passkeys_of(&counter)?;
    let me = visitor.signed_in()?;
    let login = &me.account.login;
    let exclude = stored(&counter, login).await?.into_iter().map(|(_, p)| p.cred_id().clone()).collect();
    let Ok((challenge, state)) = passkeys.webauthn.start_passkey_registration(
        user_handle(login),
        login,
        &me.account.display_name,
        Some(exclude),
    ) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "cannot start"));
    };
    let state = serde_json::to_string(&state).map_err(|_| PageError::Internal)?;
    let ceremony = counter.store.put_ceremony(login, "register", &state, CEREMONY_SECS).await?;
    Ok(Json(serde_json::json!({ "ceremony": ceremony, "options": challenge })).into_response())
}

#[derive(Deserialize)]
pub(crate) struct RegisterAnswer {
    ceremony: String,
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

pub(crate) async fn register_finish(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Json(answer): Json<RegisterAnswer>,
) -> Result<Response, PageError> {
    let passkeys = passkeys_of(&counter)?;
    let me = visitor.signed_in()?;
    let login = &me.account.login;
    let Some(state) = counter.store.take_ceremony(&answer.ceremony, login, "register").await? else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "ceremony expired"));
    };
    let state: PasskeyRegistration = serde_json::from_str(&state).map_err(|_| PageError::Internal)?;
    let passkey = match passkeys.webauthn.finish_passkey_registration(&answer.credential, &state) {
        Ok(passkey) => passkey,
        Err(err) => {
            tracing::warn!(error = %err, "passkey registration refused");
            return Ok(json_error(StatusCode::BAD_REQUEST, "registration refused"));
        }
    };
    let name: String = forms::nfkc(answer.name.trim()).chars().take(60).collect();
    let record = store::StoredPasskey {
        credential_id: credential_id(&passkey),
        login: login.clone(),
        name: if name.is_empty() { "passkey".into() } else { name },
        passkey: serde_json::to_string(&passkey).map_err(|_| PageError::Internal)?,
        created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        last_used_at: None,
    };
    counter.store.add_passkey(&record, &visitor.actor()).await?;
    Ok(Json(serde_json::json!({ "ok": true })).into_response())
}

pub(crate) async fn login_start(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    let passkeys = passkeys_of(&counter)?;
    let login = visitor.login().to_owned();
    let known: Vec<Passkey> = stored(&counter, &login).await?.into_iter().map(|(_, p)| p).collect();
    if known.is_empty() {
        return Ok(json_error(StatusCode::BAD_REQUEST, "no passkey"));
    }
    let Ok((challenge, state)) = passkeys.webauthn.start_passkey_authentication(&known) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "cannot start"));
    };
    let state = serde_json::to_string(&state).map_err(|_| PageError::Internal)?;
    let ceremony = counter.store.put_ceremony(&login, "login", &state, CEREMONY_SECS).await?;
    Ok(Json(serde_json::json!({ "ceremony": ceremony, "options": challenge })).into_response())
}

#[derive(Deserialize)]
pub(crate) struct LoginAnswer {
    ceremony: String,
    credential: PublicKeyCredential,
}

pub(crate) async fn login_finish(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Json(answer): Json<LoginAnswer>,
) -> Result<Response, PageError> {
    let passkeys = passkeys_of(&counter)?;
    let half = visitor.staff.clone().ok_or(PageError::Forbidden)?;
    let login = half.account.login.clone();
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    if half.account.throttle.admits(now).is_err() {
        return Ok(json_error(StatusCode::TOO_MANY_REQUESTS, "wait"));
    }
    let verified = match counter.store.take_ceremony(&answer.ceremony, &login, "login").await? {
        Some(state) => {
            let state: PasskeyAuthentication = serde_json::from_str(&state).map_err(|_| PageError::Internal)?;
            passkeys.webauthn.finish_passkey_authentication(&answer.credential, &state).ok()
        }
        None => None,
    };
    let Some(result) = verified else {
        let throttle = half.account.throttle.failed(now, counter.settings.sign_in_delay_unit.as_millis() as i64);
        let mut failed = store::event(
            EventKind::LoginFailed,
            &format!("staff:{login}"),
            half.account.grants.iter().find_map(|g| g.tenant.as_deref()),
            None,
            "passkey refused",
        );
        failed.source = visitor.source.clone();
        counter.store.record_sign_in(&login, Some(throttle), &failed).await?;
        return Ok(json_error(StatusCode::UNAUTHORIZED, "passkey refused"));
    };
    // Keep the authenticator's signature counter, which reveals clones.
    for (record, mut passkey) in stored(&counter, &login).await? {
        if passkey.update_credential(&result).is_some() {
            let json = serde_json::to_string(&passkey).map_err(|_| PageError::Internal)?;
            counter.store.passkey_used(&record.credential_id, &json).await?;
        }
    }
    let response = super::auth::finish_sign_in(&counter, &visitor, &half, "passkey").await?;
    let mut json = Json(serde_json::json!({ "ok": true, "redirect": "/admin" })).into_response();
    for cookie in response.headers().get_all(header::SET_COOKIE) {
        json.headers_mut().append(header::SET_COOKIE, cookie.clone());
    }
    Ok(json)
}
