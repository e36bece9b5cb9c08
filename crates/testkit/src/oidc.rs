//! A small OpenID Connect provider for tests: a real HTTP server on
//! loopback that does the Authorization Code flow with PKCE (S256) for one
//! registered client and a fixed list of test users, and signs RS256 ID
//! tokens. Its sign-in page lists the users as buttons, so a browser test
//! can click one and a reqwest test can POST the same form.
//!
//! Endpoints: `/.well-known/openid-configuration`, `/jwks`,
//! `GET`/`POST /authorize`, `POST /token`. Any redirect URI on a loopback
//! host is accepted at `/authorize` and must be repeated at `/token`.
//! Codes are single use (a second attempt fails, and so does the first
//! attempt's failure use it up) and live 60 seconds.
//!
//! The signing key is a fixed RSA test key kept in this file (generating
//! one with the `rsa` crate takes seconds in a debug build): every provider
//! signs with it, under the key id [`KEY_ID`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// The JWKS key id of the provider's signing key.
pub const KEY_ID: &str = "testkit-rsa-1";

/// How long a code may wait for `/token`.
const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// A person who can sign in at the test provider.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub subject: String,
    pub display_name: String,
    /// `YYYY-MM-DD`, sent as the `birthdate` claim.
    pub birthdate: Option<String>,
    /// Sent as the `address` claim's `formatted` member.
    pub address: Option<String>,
}

/// A running test OpenID provider; it stops when dropped.
pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`, also the `iss` of its ID tokens.
    pub issuer: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: String,
    users: Vec<TestUser>,
    key: EncodingKey,
    codes: Mutex<HashMap<String, Grant>>,
    issued: AtomicUsize,
}

/// What a code stands for until `/token` redeems it.
struct Grant {
    subject: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    issued_at: Instant,
}

impl OidcProvider {
    /// Serves on `127.0.0.1:0` in a tokio task, for one client.
    pub async fn start(client_id: &str, client_secret: &str, users: Vec<TestUser>) -> OidcProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the OIDC provider");
        let address = listener.local_addr().expect("address");
        let issuer = format!("http://{address}");
        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            users,
            key: EncodingKey::from_rsa_pem(TEST_KEY_PEM.as_bytes()).expect("the test key"),
            codes: Mutex::new(HashMap::new()),
            issued: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(sign_in_page).post(authorize))
            .route("/token", post(token))
            .with_state(Arc::clone(&inner));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OidcProvider { issuer, inner, server }
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// How many codes `/authorize` has handed out so far.
    pub fn issued_codes(&self) -> usize {
        self.inner.issued.load(Ordering::SeqCst)
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn discovery(State(inner): State<Arc<Inner>>) -> Json<serde_json::Value> {
    let issuer = &inner.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "address"],
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "nonce", "name", "birthdate", "address"]
    }))
}

async fn jwks() -> Json<serde_json::Value> {
    Json(json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KEY_ID, "n": TEST_KEY_N, "e": "AQAB"}]}))
}

/// The authorization request's parameters, and on `POST` the chosen user.
#[derive(Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// `POST`: the user who signs in.
    subject: Option<String>,
    /// `POST`: the user cancelled (answered with `error=access_denied`).
    deny: Option<String>,
}

/// A request that cannot be answered by a redirect: 400 with a plain reason.
fn refuse(reason: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("test OIDC provider: {reason}\n")).into_response()
}

impl Inner {
    /// Checks an authorization request: the redirect URI when it is fine,
    /// else why not.
    fn check(&self, p: &AuthorizeParams) -> Result<reqwest::Url, &'static str> {
        if p.client_id.as_deref() != Some(self.client_id.as_str()) {
            return Err("unknown client_id");
        }
        let redirect = p.redirect_uri.as_deref().and_then(|u| reqwest::Url::parse(u).ok());
        let Some(redirect) = redirect.filter(on_loopback) else {
            return Err("redirect_uri must be an http(s) URL on a loopback host");
        };
        if p.response_type.as_deref() != Some("code") {
            return Err("response_type must be code");
        }
        if !p.scope.as_deref().unwrap_or("").split(' ').any(|s| s == "openid") {
            return Err("scope must contain openid");
        }
        if p.code_challenge_method.as_deref() != Some("S256") {
            return Err("code_challenge_method must be S256");
        }
        let challenge = p.code_challenge.as_deref().unwrap_or("");
        if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
            return Err("code_challenge must be BASE64URL(SHA256(code_verifier))");
        }
        Ok(redirect)
    }
}

fn on_loopback(url: &reqwest::Url) -> bool {
    matches!(url.scheme(), "http" | "https")
        && url.fragment().is_none()
        && match url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `GET /authorize`: the sign-in page, one button per user, the request's
/// parameters carried in hidden inputs.
async fn sign_in_page(State(inner): State<Arc<Inner>>, Query(p): Query<AuthorizeParams>) -> Response {
    if let Err(reason) = inner.check(&p) {
        return refuse(reason);
    }
    let mut hidden = String::new();
    for (name, value) in [
        ("response_type", &p.response_type),
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("scope", &p.scope),
        ("state", &p.state),
        ("nonce", &p.nonce),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
    ] {
        if let Some(value) = value {
            hidden.push_str(&format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n", escape(value)));
        }
    }
    let mut buttons = String::new();
    for user in &inner.users {
        buttons.push_str(&format!(
            "<p><button type=\"submit\" name=\"subject\" value=\"{}\">{} としてログイン</button></p>\n",
            escape(&user.subject),
            escape(&user.display_name)
        ));
    }
    Html(format!(
        "<!doctype html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>テスト本人確認サービス</title></head>\n\
         <body><h1>テスト本人確認サービス</h1>\n<form method=\"post\" action=\"/authorize\">\n{hidden}{buttons}\
         <p><button type=\"submit\" name=\"deny\" value=\"1\">キャンセル</button></p>\n</form></body></html>\n"
    ))
    .into_response()
}

/// `POST /authorize`: the user signed in (or cancelled); 303 back to the
/// client with `code` (or `error=access_denied`) and `state`.
async fn authorize(State(inner): State<Arc<Inner>>, Form(p): Form<AuthorizeParams>) -> Response {
    let mut redirect = match inner.check(&p) {
        Ok(redirect) => redirect,
        Err(reason) => return refuse(reason),
    };
    if p.deny.is_some() {
        redirect.query_pairs_mut().append_pair("error", "access_denied");
    } else {
        let Some(user) = inner.users.iter().find(|u| Some(&u.subject) == p.subject.as_ref()) else {
            return refuse("unknown subject");
        };
        let code = random_value();
        let grant = Grant {
            subject: user.subject.clone(),
            redirect_uri: p.redirect_uri.clone().unwrap_or_default(),
            code_challenge: p.code_challenge.clone().unwrap_or_default(),
            nonce: p.nonce.clone(),
            issued_at: Instant::now(),
        };
        inner.codes.lock().expect("codes").insert(code.clone(), grant);
        inner.issued.fetch_add(1, Ordering::SeqCst);
        redirect.query_pairs_mut().append_pair("code", &code);
    }
    if let Some(state) = &p.state {
        redirect.query_pairs_mut().append_pair("state", state);
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, redirect.to_string())]).into_response()
}

#[derive(Deserialize)]
struct TokenParams {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code_verifier: Option<String>,
}

fn token_error(status: StatusCode, error: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(json!({ "error": error }))).into_response()
}

/// `POST /token`: redeems a code for an ID token.
async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, Form(p): Form<TokenParams>) -> Response {
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(basic_credentials);
    let (client_id, client_secret) = match (basic, &p.client_secret) {
        (Some(_), Some(_)) => return token_error(StatusCode::BAD_REQUEST, "invalid_request"),
        (Some((id, secret)), None) => (Some(id), Some(secret)),
        (None, _) => (p.client_id.clone(), p.client_secret.clone()),
    };
    if client_id.as_deref() != Some(inner.client_id.as_str())
        || client_secret.as_deref() != Some(inner.client_secret.as_str())
    {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if p.grant_type.as_deref() != Some("authorization_code") {
        return token_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // Used up by any attempt, successful or not.
    let grant = p.code.as_ref().and_then(|code| inner.codes.lock().expect("codes").remove(code));
    let Some(grant) = grant.filter(|g| g.issued_at.elapsed() <= CODE_LIFETIME) else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if p.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let verifier = p.code_verifier.as_deref().unwrap_or("");
    let verifier_ok = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| is_base64url(b) || b == b'.' || b == b'~')
        && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == grant.code_challenge;
    if !verifier_ok {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let Some(user) = inner.users.iter().find(|u| u.subject == grant.subject) else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut claims = json!({
        "iss": inner.issuer,
        "sub": user.subject,
        "aud": inner.client_id,
        "iat": now,
        "exp": now + 300,
        "name": user.display_name,
    });
    if let Some(nonce) = &grant.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(birthdate) = &user.birthdate {
        claims["birthdate"] = json!(birthdate);
    }
    if let Some(address) = &user.address {
        claims["address"] = json!({ "formatted": address });
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEY_ID.to_owned());
    let id_token = jsonwebtoken::encode(&header, &claims, &inner.key).expect("sign the ID token");
    let body = json!({
        "access_token": random_value(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    });
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// `Authorization: Basic` → (client_id, client_secret), each
/// form-urlencoded as RFC 6749 §2.3.1 says.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let mut pairs = url::form_urlencoded::parse(format!("id={id}&secret={secret}").as_bytes())
        .into_owned()
        .collect::<HashMap<String, String>>();
    Some((pairs.remove("id")?, pairs.remove("secret")?))
}

fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The provider's signing key: an RSA 2048 key made for these tests alone
/// (openssl genpkey), PKCS#1 PEM. Never use it for anything else.
const TEST_KEY_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEogIBAAKCAQEAls3akZCnZysmXIFhoaBwWNwMxsr0NpK/6lhJrjEK3UAgJR+v
3XIOCEoQzIrCCXoH9iUMG/7z0MG/38TdRLqziGchgTSrT5FqPetBiVphJejE1rFZ
Up1mfm9Ej9sHXBXBIPlTm5CLDmAaKkSfRnS1+NhTh+PCjTZHcP9zh1ZU8hXdyYBQ
fdme/f2KO81HSW4eDpVeb0Pax5PdRbAfVQEdhvKmBmOaULAnfDYlT7/AbPexVTTj
si3rHqWs43/F1bRJk7Tfr3ZK9jG0W9kGuRBSwV0omoCLnxv8kQr63LAkh0HFp4Gz
YyNz3+c23jkMAAJmU859H37QCj4NGoJXkx15eQIDAQABAoIBAAPfoAF87xXa8YJv
BtZXWAdqSJA7IpR7xr7y21qkcxhdhy3Y72QfY72iBGYymrsSVb3EdBgMf5ABSAfM
B1h2eLnUV1OZqhxSOoHCZxWrewMVpGe02Lvi4+Dzw/WzfTAH9YTerp94ch/xhz6G
cnZldU6h5Nxg1OyaZDGieCHV7Xrl24lQN+hOhyvJ9iEqjlvxzvQKAXBuatPCJ62q
4lzLshuihHkNFLqezUJLgNlPqOECRdVeDDyubs4Dk3JWmJMW8c6jUIJAsBfd3eSX
ZPI7mUfZpXw0DZmIPh5RPk/iBIlhLUChD/pZiZK74CxPL4gDHJ9y8OeIGsBTuRIW
SsSi+XECgYEAzIUYk7aBGVjhbEtrOY5xka3+o9uGYnk2LXn/c1Fq9zmdyOXCOaYq
4kb7L/dsK/x9apQcfcmH29Am3qWWnOSI/ovFNsO/QNNnCSALVcKpMUe3dsfKnT5D
+NpgXqVRyb17uM6nEcsp8JDobFwpBcLkQwNNq5WBw3stC5TFXN5HGJECgYEAvMNo
EKT8jswdtQaJ7nqTetEXxKSHPBh1OuBrffb+USMXrNBnA5pz87zhNkV8oVvxgizq
dJZUvVO42PAsu5JUAgqPWtHeyvC1OYtoyJJoConflZkRePaMS8nF3nujaLzaUCuE
JBtT1qSGx5cqYG1q/dZvFgPgJlO5EJtVtD/RBmkCgYB4VvBJKh/4bCXn9NCYw0nr
8Dde7vK5ypyoUZqPnh6UbaB770VDapTdI+r1JF7P2vdo2NGS6hw4qNfWNhTTKF27
eT6HpNJKMJn18pb41Vt8lbhL+e8satDQAp6l0hy32fiMm3wOqj55QKqh5/BzZWOu
UqlHBuedwEKXB+jBZkDrIQKBgFs9oMma1jE33Iwp8vYA7dSJyRFV7cBQmimxXIPw
pZEWg1UXDxQgzjdcbwfKoqlkReKET3e3SpKRK2JBBX5NBqpN7Gkb1LMHkrGT/zwj
+IJPjnFDIbz0f3AKwcf+v0fbMTNbNW42f1nbAQLswKEHgpXb1qoviWM9SNEMJGsS
BbkxAoGAC3ON0kWZjTTpPLCztohtR1fKIcfRdWqWEqXFR7mlWTHJ2xe5gzuVymmP
6xoeUePyZeNujB5UFuMyHEyZvR+xsEC95Mu7BTG0S0mAAdYQgSyhmsnABEY+rxae
b2br3zuBMVcEKmIzHNgTQ04u+736IE74NM/IjYjgBtfqvUVSHEA=
-----END RSA PRIVATE KEY-----
";

/// Its modulus, base64url (the JWK's `n`); the exponent is 65537.
const TEST_KEY_N: &str = "ls3akZCnZysmXIFhoaBwWNwMxsr0NpK_6lhJrjEK3UAgJR-v3XIOCEoQzIrCCXoH9iUMG_7z0MG_38TdRLqziGchgTSrT5FqPetBiVphJejE1rFZUp1mfm9Ej9sHXBXBIPlTm5CLDmAaKkSfRnS1-NhTh-PCjTZHcP9zh1ZU8hXdyYBQfdme_f2KO81HSW4eDpVeb0Pax5PdRbAfVQEdhvKmBmOaULAnfDYlT7_AbPexVTTjsi3rHqWs43_F1bRJk7Tfr3ZK9jG0W9kGuRBSwV0omoCLnxv8kQr63LAkh0HFp4GzYyNz3-c23jkMAAJmU859H37QCj4NGoJXkx15eQ";

#[cfg(test)]
mod tests {
    use super::*;
    use residency::oidc::{self, Client, Login, OidcError, ProviderMetadata};

    fn users() -> Vec<TestUser> {
        vec![
            TestUser {
                subject: "user-aoba-1".into(),
                display_name: "青葉 花子".into(),
                birthdate: Some("1990-05-17".into()),
                address: Some("みどり県青葉市中央1-2-3".into()),
            },
            TestUser { subject: "user-2".into(), display_name: "<b>Tom</b>".into(), birthdate: None, address: None },
        ]
    }

    fn no_redirects() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    /// Signs `subject` in through the sign-in form: the code and the
    /// redirect's state.
    async fn sign_in(
        http: &reqwest::Client,
        meta: &ProviderMetadata,
        login: &Login,
        subject: &str,
    ) -> (String, String) {
        let mut form: Vec<(String, String)> =
            reqwest::Url::parse(&login.url).unwrap().query_pairs().into_owned().collect();
        form.push(("subject".into(), subject.into()));
        let answer = http.post(&meta.authorization_endpoint).form(&form).send().await.unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::SEE_OTHER);
        let location = answer.headers()[reqwest::header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("http://127.0.0.1:9/callback?"), "{location}");
        let query: HashMap<String, String> =
            reqwest::Url::parse(location).unwrap().query_pairs().into_owned().collect();
        (query["code"].clone(), query["state"].clone())
    }

    async fn redeem(http: &reqwest::Client, meta: &ProviderMetadata, form: &[(String, String)]) -> (u16, Vec<u8>) {
        let answer = http.post(&meta.token_endpoint).form(form).send().await.unwrap();
        (answer.status().as_u16(), answer.bytes().await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn the_whole_code_flow_yields_the_signed_in_person_and_codes_are_single_use_with_pkce() {
        let provider = OidcProvider::start("madoguchi-test", "test-secret", users()).await;
        let http = no_redirects();
        let document = http.get(provider.discovery_url()).send().await.unwrap().bytes().await.unwrap();
        let meta = ProviderMetadata::from_discovery(&document, &provider.issuer).unwrap();
        let client = Client {
            client_id: "madoguchi-test".into(),
            client_secret: "test-secret".into(),
            redirect_uri: "http://127.0.0.1:9/callback".into(),
        };

        let login = Login::start(&meta, &client, &["profile", "address"]);
        let page = http.get(&login.url).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(
            "<button type=\"submit\" name=\"subject\" value=\"user-aoba-1\">青葉 花子 としてログイン</button>"
        ));
        assert!(page.contains("&lt;b&gt;Tom&lt;/b&gt; としてログイン"), "names are escaped");
        assert!(page.contains(&format!("name=\"nonce\" value=\"{}\"", login.nonce)));

        let (code, state) = sign_in(&http, &meta, &login, "user-aoba-1").await;
        assert_eq!(state, login.state);
        assert_eq!(provider.issued_codes(), 1);
        let form = oidc::token_request(&client, &code, &login.pkce_verifier);
        let (status, body) = redeem(&http, &meta, &form).await;
        assert_eq!(status, 200);
        let id_token = oidc::id_token_from_response(&body).unwrap();
        let jwks = http.get(&meta.jwks_uri).send().await.unwrap().bytes().await.unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let person = oidc::verify_id_token(&id_token, &jwks, &meta, &client, &login.nonce, now).unwrap();
        assert_eq!(person.person.as_str(), format!("oidc:{}:user-aoba-1", provider.issuer));
        assert_eq!(person.birth_date, Some(time::macros::date!(1990 - 05 - 17)));
        assert_eq!(person.address.as_deref().map(String::as_str), Some("みどり県青葉市中央1-2-3"));
        assert!(oidc::verify_id_token(&id_token, &jwks, &meta, &client, &Login::start(&meta, &client, &[]).nonce, now)
            .is_err());

        // The same code again: refused.
        let (status, body) = redeem(&http, &meta, &form).await;
        assert_eq!(status, 400);
        assert_eq!(oidc::id_token_from_response(&body), Err(OidcError::Provider("invalid_grant".into())));

        // A fresh code with another sign-in's verifier: refused, and used up.
        let login = Login::start(&meta, &client, &[]);
        let (code, _) = sign_in(&http, &meta, &login, "user-2").await;
        let other = Login::start(&meta, &client, &[]).pkce_verifier;
        let (status, body) = redeem(&http, &meta, &oidc::token_request(&client, &code, &other)).await;
        assert_eq!(status, 400);
        assert_eq!(oidc::id_token_from_response(&body), Err(OidcError::Provider("invalid_grant".into())));
        let (status, _) = redeem(&http, &meta, &oidc::token_request(&client, &code, &login.pkce_verifier)).await;
        assert_eq!(status, 400, "the failed attempt used the code up");
        assert_eq!(provider.issued_codes(), 2);
    }

    #[tokio::test]
    async fn token_checks_the_client_and_the_redirect_uri_and_takes_http_basic() {
        let provider = OidcProvider::start("madoguchi-test", "test-secret", users()).await;
        let http = no_redirects();
        let document = http.get(provider.discovery_url()).send().await.unwrap().bytes().await.unwrap();
        let meta = ProviderMetadata::from_discovery(&document, &provider.issuer).unwrap();
        let client = Client {
            client_id: "madoguchi-test".into(),
            client_secret: "test-secret".into(),
            redirect_uri: "http://127.0.0.1:9/callback".into(),
        };
        let wrong_secret = Client { client_secret: "guess".into(), ..client.clone() };
        let login = Login::start(&meta, &client, &[]);
        let (code, _) = sign_in(&http, &meta, &login, "user-2").await;
        let (status, body) =
            redeem(&http, &meta, &oidc::token_request(&wrong_secret, &code, &login.pkce_verifier)).await;
        assert_eq!((status, body), (401, br#"{"error":"invalid_client"}"#.to_vec()));

        let other_redirect = Client { redirect_uri: "http://127.0.0.1:9/elsewhere".into(), ..client.clone() };
        let (status, _) =
            redeem(&http, &meta, &oidc::token_request(&other_redirect, &code, &login.pkce_verifier)).await;
        assert_eq!(status, 400);

        let login = Login::start(&meta, &client, &[]);
        let (code, _) = sign_in(&http, &meta, &login, "user-2").await;
        let form: Vec<(String, String)> = oidc::token_request(&client, &code, &login.pkce_verifier)
            .into_iter()
            .filter(|(k, _)| k != "client_id" && k != "client_secret")
            .collect();
        let answer = http
            .post(&meta.token_endpoint)
            .basic_auth("madoguchi-test", Some("test-secret"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let id_token = oidc::id_token_from_response(&answer.bytes().await.unwrap()).unwrap();
        assert_eq!(id_token.split('.').count(), 3);

        // Not a loopback redirect, no PKCE: no sign-in page.
        let mut url = reqwest::Url::parse(&login.url).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        for (name, value) in [("redirect_uri", "https://evil.example/cb"), ("code_challenge_method", "plain")] {
            url.query_pairs_mut().clear();
            for (k, v) in &pairs {
                url.query_pairs_mut().append_pair(k, if k == name { value } else { v });
            }
            assert_eq!(http.get(url.as_str()).send().await.unwrap().status(), 400, "{name}");
        }
    }
}
