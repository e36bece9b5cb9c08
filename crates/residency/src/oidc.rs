//! # residency::oidc — signing a resident in with an OpenID provider
//!
//! The relying party's half of the OpenID Connect Authorization Code flow
//! with PKCE (RFC 7636, `S256`), `state` and `nonce`: read the provider's
//! discovery document, build the authorization request, build the token
//! request's form body, and verify the ID token that comes back (OpenID
//! Connect Core 1.0 §3.1.3.7). The caller does the HTTP and passes the time:
//! this module has no I/O and no clock.
//!
//! What a verified sign-in yields is a [`VerifiedPerson`]: the person
//! (`oidc:{issuer}:{subject}`, only ever fed into a keyed pseudonym), and the
//! standard claims `birthdate` and `address.formatted` when the provider
//! sends them. Errors never carry claim values.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::VerifiedPerson;

/// How far the provider's clock may be from ours, in seconds, for `exp`
/// and `iat`.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// Why a sign-in with the OpenID provider failed. The messages name the
/// check that failed, never a claim's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider's discovery document is unusable (or names another issuer).
    #[error("OpenID provider discovery: {0}")]
    Discovery(String),
    /// The provider answered with an OAuth error; only its error code is kept.
    #[error("the OpenID provider refused: {0}")]
    Provider(String),
    /// The token response or the ID token failed a check.
    #[error("ID token refused: {0}")]
    BadToken(String),
}

impl OidcError {
    /// A sentence for the resident, in Japanese.
    pub fn message_ja(&self) -> &'static str {
        match self {
            OidcError::Discovery(_) => "本人確認サービスに接続できませんでした。時間をおいてもう一度お試しください。",
            OidcError::Provider(code) if code == "access_denied" => {
                "本人確認サービスでの確認が取り消されました。もう一度お試しください。"
            }
            OidcError::Provider(_) | OidcError::BadToken(_) => {
                "本人確認サービスでの確認ができませんでした。もう一度お試しください。"
            }
        }
    }

    /// A sentence for the resident, in English.
    pub fn message_en(&self) -> &'static str {
        match self {
            OidcError::Discovery(_) => "We could not reach the identity verification service. Please try again later.",
            OidcError::Provider(code) if code == "access_denied" => {
                "The identity verification was cancelled. Please try again."
            }
            OidcError::Provider(_) | OidcError::BadToken(_) => {
                "The identity verification service could not confirm who you are. Please try again."
            }
        }
    }
}

fn discovery(message: &str) -> OidcError {
    OidcError::Discovery(message.to_owned())
}

fn bad(message: &str) -> OidcError {
    OidcError::BadToken(message.to_owned())
}

/// The part of the provider's discovery document (OpenID Connect Discovery
/// 1.0 §3) that the flow uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

impl ProviderMetadata {
    /// Reads `/.well-known/openid-configuration`. The issuer must be exactly
    /// the configured one (Discovery §4.3), and every URL https — or http
    /// on a loopback host, for tests.
    pub fn from_discovery(json: &[u8], expected_issuer: &str) -> Result<Self, OidcError> {
        let document: DiscoveryDocument = serde_json::from_slice(json).map_err(|_| {
            discovery("the document is not JSON with issuer, authorization_endpoint, token_endpoint and jwks_uri")
        })?;
        if document.issuer != expected_issuer {
            return Err(discovery("the document names another issuer than the configured one"));
        }
        check_url(&document.issuer, "issuer")?;
        check_url(&document.authorization_endpoint, "authorization_endpoint")?;
        check_url(&document.token_endpoint, "token_endpoint")?;
        check_url(&document.jwks_uri, "jwks_uri")?;
        let issuer = url::Url::parse(&document.issuer).map_err(|_| discovery("issuer is not a URL"))?;
        if issuer.query().is_some() {
            return Err(discovery("issuer has a query"));
        }
        Ok(ProviderMetadata {
            issuer: document.issuer,
            authorization_endpoint: document.authorization_endpoint,
            token_endpoint: document.token_endpoint,
            jwks_uri: document.jwks_uri,
        })
    }
}

/// https, or http on loopback; no fragment, no user name or password.
fn check_url(value: &str, what: &str) -> Result<(), OidcError> {
    let url = url::Url::parse(value).map_err(|_| OidcError::Discovery(format!("{what} is not a URL")))?;
    let secure = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&url),
        _ => false,
    };
    if !secure {
        return Err(OidcError::Discovery(format!("{what} is neither https nor http on loopback")));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(OidcError::Discovery(format!("{what} has a fragment or credentials")));
    }
    Ok(())
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// This service as the provider's registered client.
#[derive(Clone)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// A sign-in just started: the URL to send the resident's browser to, and
/// the three values to keep (server-side or in an encrypted cookie) until
/// the provider redirects back: `state` to compare with the callback's,
/// `nonce` for [`verify_id_token`], `pkce_verifier` for [`token_request`].
pub struct Login {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Login {
    /// Builds the authorization request (response_type=code, PKCE S256).
    /// `openid` is always among the scopes, first; duplicates are dropped.
    pub fn start(meta: &ProviderMetadata, client: &Client, scopes: &[&str]) -> Login {
        let state = random_value();
        let nonce = random_value();
        let pkce_verifier = random_value();
        let challenge = pkce_challenge(&pkce_verifier);
        let mut scope: Vec<&str> = vec!["openid"];
        for s in scopes {
            if !s.is_empty() && !scope.contains(s) {
                scope.push(s);
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", &client.redirect_uri)
            .append_pair("scope", &scope.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let endpoint = meta.authorization_endpoint.as_str();
        let separator = match endpoint.find('?') {
            None => "?",
            Some(at) if at + 1 == endpoint.len() || endpoint.ends_with('&') => "",
            Some(_) => "&",
        };
        Login { url: format!("{endpoint}{separator}{query}"), state, nonce, pkce_verifier }
    }
}

/// 32 random bytes from the operating system, base64url without padding
/// (43 characters: also a valid PKCE code_verifier).
fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// BASE64URL(SHA256(verifier)), RFC 7636 §4.2.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The token request's form body (client_secret_post), to POST to
/// `meta.token_endpoint` as `application/x-www-form-urlencoded`.
pub fn token_request(client: &Client, code: &str, pkce_verifier: &str) -> Vec<(String, String)> {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
        ("code_verifier", pkce_verifier),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[derive(Deserialize)]
struct TokenResponse {
    error: Option<serde_json::Value>,
    id_token: Option<String>,
    token_type: Option<String>,
}

/// The ID token out of the token endpoint's JSON answer. An OAuth error
/// answer becomes [`OidcError::Provider`] with its error code alone (the
/// description is the provider's free text and is dropped).
pub fn id_token_from_response(json: &[u8]) -> Result<String, OidcError> {
    let response: TokenResponse =
        serde_json::from_slice(json).map_err(|_| bad("the token response is not a JSON object"))?;
    if let Some(error) = response.error {
        return Err(OidcError::Provider(error_code(&error)));
    }
    if let Some(token_type) = &response.token_type {
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(bad("the token response's token_type is not Bearer"));
        }
    }
    response.id_token.ok_or_else(|| bad("the token response has no id_token"))
}

/// An OAuth error code as sent when it looks like one (RFC 6749 §5.2:
/// printable ASCII), else a placeholder.
fn error_code(value: &serde_json::Value) -> String {
    match value.as_str() {
        Some(code)
            if !code.is_empty()
                && code.len() <= 64
                && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') =>
        {
            code.to_owned()
        }
        _ => "unrecognised error".to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: Audience,
    azp: Option<String>,
    exp: f64,
    iat: f64,
    nonce: Option<String>,
    birthdate: Option<serde_json::Value>,
    address: Option<serde_json::Value>,
}

/// Verifies an ID token (OpenID Connect Core §3.1.3.7) and returns who it
/// names.
///
/// - signed with RS256 or ES256 by the JWKS key its `kid` names (a JWKS of
///   one key may serve a token without `kid`); `none`, HS* and the rest are
///   refused, and so is a key whose type or stated `alg`/`use` does not fit;
/// - `iss` equals `meta.issuer`; `aud` contains `client.client_id`, and when
///   it has several audiences (or an `azp` is sent) `azp` is the client id;
/// - `exp` is after `now_unix`, and `iat` not after it, each give or take
///   [`CLOCK_SKEW_SECONDS`];
/// - `nonce` equals the one sent in the [`Login`].
///
/// An unknown `kid` may mean the provider rotated its keys: a caller may
/// fetch the JWKS again once and retry.
pub fn verify_id_token(
    id_token: &str,
    jwks_json: &[u8],
    meta: &ProviderMetadata,
    client: &Client,
    nonce: &str,
    now_unix: i64,
) -> Result<VerifiedPerson, OidcError> {
    let header = jsonwebtoken::decode_header(id_token)
        .map_err(|_| bad("the header is malformed or names an algorithm that is not accepted"))?;
    let algorithm = header.alg;
    if !matches!(algorithm, Algorithm::RS256 | Algorithm::ES256) {
        return Err(bad("the algorithm is not accepted (only RS256 and ES256 are)"));
    }
    let jwk = pick_key(jwks_json, header.kid.as_deref())?;
    if !key_fits(&jwk, algorithm) {
        return Err(bad("the key named by kid does not fit the token's algorithm"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| bad("the key named by kid is unusable"))?;

    // jsonwebtoken checks the signature (and that the header's algorithm is
    // the one allowed for the key); every claim is checked below, against
    // the caller's time rather than the system clock.
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => bad("the signature does not verify"),
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => bad("the algorithm does not fit the key"),
        _ => bad("the token is malformed"),
    })?;
    let claims: IdClaims = serde_json::from_value(data.claims)
        .map_err(|_| bad("a required claim (iss, sub, aud, exp, iat) is missing or of the wrong type"))?;

    if claims.iss != meta.issuer {
        return Err(bad("iss is not the provider's issuer"));
    }
    let audiences: Vec<&str> = match &claims.aud {
        Audience::One(aud) => vec![aud.as_str()],
        Audience::Many(auds) => auds.iter().map(String::as_str).collect(),
    };
    if !audiences.contains(&client.client_id.as_str()) {
        return Err(bad("aud does not contain this client"));
    }
    let azp_needed = audiences.len() > 1;
    match &claims.azp {
        Some(azp) if *azp != client.client_id => return Err(bad("azp is not this client")),
        None if azp_needed => return Err(bad("azp is missing for a token with several audiences")),
        _ => {}
    }
    let now = now_unix as f64;
    let skew = CLOCK_SKEW_SECONDS as f64;
    if claims.exp + skew <= now {
        return Err(bad("the token has expired"));
    }
    if claims.iat > now + skew {
        return Err(bad("the token was issued in the future"));
    }
    match &claims.nonce {
        Some(sent) if !nonce.is_empty() && constant_time_eq(sent.as_bytes(), nonce.as_bytes()) => {}
        _ => return Err(bad("nonce does not match the sign-in")),
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(bad("sub is empty or longer than 255 characters"));
    }

    let birth_date = claims.birthdate.as_ref().and_then(serde_json::Value::as_str).and_then(parse_birthdate);
    let address = claims
        .address
        .as_ref()
        .and_then(|a| a.get("formatted"))
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(|s| Zeroizing::new(s.to_owned()));
    Ok(VerifiedPerson { person: Zeroizing::new(format!("oidc:{}:{}", claims.iss, claims.sub)), birth_date, address })
}

/// The JWKS key the token names. Keys this library cannot read (other key
/// types, encryption algorithms) are skipped rather than failing the set.
fn pick_key(jwks_json: &[u8], kid: Option<&str>) -> Result<Jwk, OidcError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_slice(jwks_json).map_err(|_| bad("the JWKS is not a JSON key set"))?;
    let keys: Vec<Jwk> = set.keys.into_iter().filter_map(|k| serde_json::from_value(k).ok()).collect();
    match kid {
        Some(kid) => keys
            .into_iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .ok_or_else(|| bad("no key in the JWKS has the token's kid")),
        None => {
            let mut keys = keys.into_iter();
            match (keys.next(), keys.next()) {
                (Some(only), None) => Ok(only),
                _ => Err(bad("the token has no kid and the JWKS has not exactly one key")),
            }
        }
    }
}

/// RS256 wants an RSA key, ES256 a P-256 key; a key that states its `alg`
/// or `use` must state these.
fn key_fits(jwk: &Jwk, algorithm: Algorithm) -> bool {
    let type_fits = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        _ => false,
    };
    let alg_fits = matches!(
        (jwk.common.key_algorithm, algorithm),
        (None, _) | (Some(KeyAlgorithm::RS256), Algorithm::RS256) | (Some(KeyAlgorithm::ES256), Algorithm::ES256)
    );
    let use_fits = matches!(jwk.common.public_key_use, None | Some(PublicKeyUse::Signature));
    type_fits && alg_fits && use_fits
}

/// OpenID's `birthdate`: a full `YYYY-MM-DD` date; the partial forms the
/// standard also allows (`0000-MM-DD`, `YYYY`) give no date.
fn parse_birthdate(value: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year repr:full]-[month]-[day]");
    if value.len() != 10 || value.starts_with("0000") {
        return None;
    }
    time::Date::parse(value, format).ok()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    // Test keys made for these tests alone (openssl genpkey), never used
    // anywhere else.
    const RSA_PRIVATE_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAqECqQWNkVA+iFVy+wq+Ep7UY5lt/i72vPrDcpx5abVvRktjZ
3pko16YUL34LLjFVvxFjiCTUCWoDKpI/9yODGgwqIrAEZT2uZavouRMmKg4X8hX+
6CbdGMSqyDdFyReP+KsLyYp2o0JDZ9qsQfE5+vi3ZfPjUoEMe5sqfz0mc3k+qOjC
BnoO62dt3GWUf2DGrnSE4DKQt4SPqPDOI+8wCKf/gmryk7PNQDZe1IIo5Zsd85/2
W/CqKgZFP7trtSJaD60qvBcSQhaDFVynkV7Te3jmG2MciTYGI/R0rOqa5/HjUjxP
aKZ3mal9Kj/ZBhNH5+qCZ9IZSmQQyUOmWRNTbQIDAQABAoIBAEbFcHfxpT1gmAZR
TSIZ7vwWBkO6//LZFjIR9bZL47B1OzmAAmCJ3u6aeoohg/Vppg4o88tL5m6RS4So
IMTFCLu3my+dBzRIlidJAKp8fgSZigP3sZGX608kRkvSSAXWZeYsmFgtaEqysCSq
i+Nu4rsIzCfTxu4ovwXtFhqQL7DJAvm8nBdSlql7OIxu+7k6+IGTxLlKS7mNt3WR
kbMZkQB9WQi4y8nN5/EJaF859yzNBruHcky2mZGl2FI6dDRrj+hWEeufaYqZeTiE
4VtJjkfqVsaPb5OS9ZOhtPexutDOn7r02VUuXPkJ830rpdRhv0dnZld/Eb/5ZMhc
2YphuZcCgYEA5rbQRAmB5oMoEC/16aHMP6cVMN1FCyfKtFNcAU90Jquu4qr/1maC
2USWiFXEn9+LZwPxXOcEOrGaxOWFlKFNYOPIUx/dTou47hRPyOrYT6p7iAcviYWG
irmfcGub/j8Qu7LNUqyk8LQoWIl+3P/iqBpwZgcjAiisNMy3SOUc3O8CgYEAurFb
lcRoTtptgsujlTnH3c17SZT+EgON2OhoRdoSxktp2Pgu55vNccoa04WpEYQihjyU
DiC8jQlnViv7yQ5KO4xyf4eFzBt80b5PmZkhWt8yeKmvuwyKOjQqSINF2ZRkzT/I
/ZkH2rbD+o3Aixky72NACzxKWx+XGSx8E8LqTWMCgYEA41haOfE0dDXiELFyHds2
LbMziodANhHsCW3rR89HoaOkHfBrUpaJchfITmhV7USXVdfoy6dJ35yL6mJSE3gv
i75p9J99sJy2isSxKkdhCH/yYsTR7y4IukLX/ivL9+mlT5COC13c2uRsrXIv9Q6i
BwymnaOCt+nkZ9Mi+U3r9zkCgYBWA+8xcruoUQURtSdaUrPeYpUCEu54eEC7hmC8
hjwONqK+/6IEvgkK+1YezL9Xvax2cqS4WablyEZfMoagXMAg7ZW3YkZoAuYgcPGV
0DLI/nrvkybPJHjvVieBH1Joa/GBi3jcNsyinYBwCS2EKQkJuI3CX3XWxBhG1fMY
274+BwKBgD/fwTztaCCn7Op0rAHL5npN5MgmyiwV49UTwjV/m91NAybVM3912zrC
zVEhJsO4GtqD5EVY+80cfUZ2W5te1WHQtZ6FHYaf3gZDpOCOaIPoAnH4XZI3iANA
LPCuLvjHT1reSXntblTn17N5AJbXZmCUCdhSYAjZHxaZCwiJGoCK
-----END RSA PRIVATE KEY-----
";
    const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqECqQWNkVA+iFVy+wq+E
p7UY5lt/i72vPrDcpx5abVvRktjZ3pko16YUL34LLjFVvxFjiCTUCWoDKpI/9yOD
GgwqIrAEZT2uZavouRMmKg4X8hX+6CbdGMSqyDdFyReP+KsLyYp2o0JDZ9qsQfE5
+vi3ZfPjUoEMe5sqfz0mc3k+qOjCBnoO62dt3GWUf2DGrnSE4DKQt4SPqPDOI+8w
CKf/gmryk7PNQDZe1IIo5Zsd85/2W/CqKgZFP7trtSJaD60qvBcSQhaDFVynkV7T
e3jmG2MciTYGI/R0rOqa5/HjUjxPaKZ3mal9Kj/ZBhNH5+qCZ9IZSmQQyUOmWRNT
bQIDAQAB
-----END PUBLIC KEY-----
";
    const RSA_N: &str = "qECqQWNkVA-iFVy-wq-Ep7UY5lt_i72vPrDcpx5abVvRktjZ3pko16YUL34LLjFVvxFjiCTUCWoDKpI_9yODGgwqIrAEZT2uZavouRMmKg4X8hX-6CbdGMSqyDdFyReP-KsLyYp2o0JDZ9qsQfE5-vi3ZfPjUoEMe5sqfz0mc3k-qOjCBnoO62dt3GWUf2DGrnSE4DKQt4SPqPDOI-8wCKf_gmryk7PNQDZe1IIo5Zsd85_2W_CqKgZFP7trtSJaD60qvBcSQhaDFVynkV7Te3jmG2MciTYGI_R0rOqa5_HjUjxPaKZ3mal9Kj_ZBhNH5-qCZ9IZSmQQyUOmWRNTbQ";
    const EC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgaBHPAsKs1pdLJiRk
nx2ForN8p0A586IqxoSjMn3+1x6hRANCAAQYl9Qka7JVpbyaLN2OfKFU5OVggvrs
CsFOvOQSKqCBo/Er6BTheaSXyKOZUpvFisdO6N2z9gnzsjkCbgWAhAOS
-----END PRIVATE KEY-----
";
    const EC_X: &str = "GJfUJGuyVaW8mizdjnyhVOTlYIL67ArBTrzkEiqggaM";
    const EC_Y: &str = "8SvoFOF5pJfIo5lSm8WKx07o3bP2CfOyOQJuBYCEA5I";

    const NOW: i64 = 1_780_000_000;
    const NONCE: &str = "n-0S6_WzA2Mj-nonce";
    const SUBJECT: &str = "248289761001";
    const ADDRESS: &str = "みどり県青葉市中央1-2-3";

    fn meta() -> ProviderMetadata {
        ProviderMetadata {
            issuer: "https://id.example.jp".into(),
            authorization_endpoint: "https://id.example.jp/authorize".into(),
            token_endpoint: "https://id.example.jp/token".into(),
            jwks_uri: "https://id.example.jp/jwks".into(),
        }
    }

    fn client() -> Client {
        Client {
            client_id: "madoguchi-aoba".into(),
            client_secret: "s3cret".into(),
            redirect_uri: "https://aoba.madoguchi.example.jp/oidc/callback".into(),
        }
    }

    fn jwks() -> Vec<u8> {
        json!({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": RSA_N, "e": "AQAB"},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256", "x": EC_X, "y": EC_Y},
            {"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP", "n": RSA_N, "e": "AQAB"},
            {"kty": "OKP", "kid": "unknown-curve", "crv": "X448", "x": "AAAA"}
        ]})
        .to_string()
        .into_bytes()
    }

    fn claims() -> serde_json::Value {
        json!({
            "iss": "https://id.example.jp",
            "sub": SUBJECT,
            "aud": "madoguchi-aoba",
            "iat": NOW - 5,
            "exp": NOW + 300,
            "nonce": NONCE,
            "birthdate": "1980-04-01",
            "address": {"formatted": ADDRESS, "country": "JP"},
            "name": "山田 太郎"
        })
    }

    fn rs256(claims: &serde_json::Value, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn signed(claims: &serde_json::Value) -> String {
        rs256(claims, Some("rsa-1"))
    }

    fn verify(token: &str) -> Result<VerifiedPerson, OidcError> {
        verify_id_token(token, &jwks(), &meta(), &client(), NONCE, NOW)
    }

    fn with(mut claims: serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
        claims[key] = value;
        claims
    }

    fn refused(token: &str) -> String {
        match verify(token) {
            Err(OidcError::BadToken(why)) => why,
            other => panic!("expected BadToken, got {other:?}"),
        }
    }

    #[test]
    fn a_good_rs256_token_verifies_to_the_person_birthdate_and_address() {
        let person = verify(&signed(&claims())).unwrap();
        assert_eq!(person.person.as_str(), format!("oidc:https://id.example.jp:{SUBJECT}"));
        assert_eq!(person.birth_date, Some(time::macros::date!(1980 - 04 - 01)));
        assert_eq!(person.address.as_deref().map(String::as_str), Some(ADDRESS));
    }

    #[test]
    fn a_good_es256_token_verifies() {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("ec-1".into());
        let key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap();
        let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
        assert_eq!(verify(&token).unwrap().person.as_str(), format!("oidc:https://id.example.jp:{SUBJECT}"));
    }

    #[test]
    fn birthdate_and_address_are_optional_and_partial_birthdates_give_none() {
        let mut bare = claims();
        bare.as_object_mut().unwrap().retain(|k, _| !matches!(k.as_str(), "birthdate" | "address"));
        let person = verify(&signed(&bare)).unwrap();
        assert!(person.birth_date.is_none() && person.address.is_none());
        for partial in ["0000-04-01", "1980", "1980-02-30", "1980/04/01"] {
            let person = verify(&signed(&with(claims(), "birthdate", json!(partial)))).unwrap();
            assert_eq!(person.birth_date, None, "{partial}");
        }
    }

    #[test]
    fn a_single_key_without_kid_serves_a_token_without_kid() {
        let set = json!({"keys": [{"kty": "RSA", "n": RSA_N, "e": "AQAB"}]}).to_string();
        let token = rs256(&claims(), None);
        assert!(verify_id_token(&token, set.as_bytes(), &meta(), &client(), NONCE, NOW).is_ok());
        assert!(refused(&token).contains("kid"), "several keys: the token must name one");
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let token = signed(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(with(claims(), "sub", json!("someone-else")).to_string());
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert!(refused(&tampered).contains("signature"));
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[0] ^= 1;
        refused(&format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(signature)));
    }

    #[test]
    fn a_wrong_issuer_is_refused() {
        assert!(refused(&signed(&with(claims(), "iss", json!("https://evil.example")))).contains("iss"));
        // Exactly the configured one: no trailing slash either.
        assert!(refused(&signed(&with(claims(), "iss", json!("https://id.example.jp/")))).contains("iss"));
    }

    #[test]
    fn a_wrong_audience_is_refused() {
        assert!(refused(&signed(&with(claims(), "aud", json!("another-client")))).contains("aud"));
        assert!(refused(&signed(&with(claims(), "aud", json!([])))).contains("aud"));
    }

    #[test]
    fn several_audiences_need_azp_naming_this_client() {
        let many = with(claims(), "aud", json!(["madoguchi-aoba", "another-client"]));
        assert!(refused(&signed(&many)).contains("azp"));
        assert!(verify(&signed(&with(many.clone(), "azp", json!("madoguchi-aoba")))).is_ok());
        assert!(refused(&signed(&with(many, "azp", json!("another-client")))).contains("azp"));
    }

    #[test]
    fn an_expired_token_is_refused_beyond_sixty_seconds_of_skew() {
        assert!(refused(&signed(&with(claims(), "exp", json!(NOW - 61)))).contains("expired"));
        assert!(refused(&signed(&with(claims(), "exp", json!(NOW - 60)))).contains("expired"));
        assert!(verify(&signed(&with(claims(), "exp", json!(NOW - 59)))).is_ok(), "within the skew");
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        assert!(refused(&signed(&with(claims(), "iat", json!(NOW + 61)))).contains("future"));
        assert!(verify(&signed(&with(claims(), "iat", json!(NOW + 30)))).is_ok(), "within the skew");
    }

    #[test]
    fn a_wrong_or_missing_nonce_is_refused() {
        assert!(refused(&signed(&with(claims(), "nonce", json!("another-nonce")))).contains("nonce"));
        let mut no_nonce = claims();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert!(refused(&signed(&no_nonce)).contains("nonce"));
    }

    #[test]
    fn missing_required_claims_are_refused() {
        for claim in ["sub", "iss", "aud", "exp", "iat"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(claim);
            refused(&signed(&c));
        }
        refused(&signed(&with(claims(), "sub", json!(""))));
    }

    #[test]
    fn alg_none_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        refused(&format!("{header}.{payload}."));
        refused(&format!("{header}.{payload}"));
    }

    #[test]
    fn hs256_with_the_public_key_as_secret_is_refused() {
        // Key confusion: an HMAC "signed" with the provider's public key.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        for secret in [RSA_PUBLIC_PEM.as_bytes(), RSA_N.as_bytes()] {
            let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(secret)).unwrap();
            assert!(refused(&token).contains("algorithm"));
        }
        // Nor with a symmetric key that a JWKS happens to publish.
        let set = json!({"keys": [{"kty": "oct", "kid": "k", "k": URL_SAFE_NO_PAD.encode(b"shared")}]}).to_string();
        header.kid = Some("k".into());
        let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(b"shared")).unwrap();
        assert!(verify_id_token(&token, set.as_bytes(), &meta(), &client(), NONCE, NOW).is_err());
    }

    #[test]
    fn a_key_that_does_not_fit_the_algorithm_is_refused() {
        // An RS256 token naming the EC key, and one naming an encryption key.
        assert!(refused(&rs256(&claims(), Some("ec-1"))).contains("fit"));
        assert!(refused(&rs256(&claims(), Some("enc-1"))).contains("fit"));
    }

    #[test]
    fn an_unknown_kid_is_refused() {
        assert!(refused(&rs256(&claims(), Some("rsa-2"))).contains("kid"));
    }

    #[test]
    fn errors_never_carry_claim_values() {
        let tokens = [
            signed(&with(claims(), "iss", json!("https://evil.example/山田"))),
            signed(&with(claims(), "aud", json!("client-山田"))),
            signed(&with(claims(), "nonce", json!("nonce-山田"))),
            signed(&with(claims(), "exp", json!("山田"))),
            signed(&with(claims(), "exp", json!(NOW - 3600))),
        ];
        for token in tokens {
            let error = verify(&token).unwrap_err();
            let shown = format!("{error} {error:?}");
            for value in ["山田", SUBJECT, "1980", "青葉", "evil"] {
                assert!(!shown.contains(value), "{shown}");
            }
        }
    }

    fn discovery_json(issuer: &str, base: &str) -> Vec<u8> {
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"]
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn discovery_reads_the_endpoints_of_the_configured_issuer() {
        let json = discovery_json("https://id.example.jp", "https://id.example.jp");
        assert_eq!(ProviderMetadata::from_discovery(&json, "https://id.example.jp").unwrap(), meta());
        for loopback in ["http://127.0.0.1:8080", "http://127.3.4.5", "http://[::1]:9000", "http://localhost:3000"] {
            let json = discovery_json(loopback, loopback);
            assert!(ProviderMetadata::from_discovery(&json, loopback).is_ok(), "{loopback}");
        }
    }

    #[test]
    fn discovery_with_a_different_issuer_is_refused() {
        let json = discovery_json("https://evil.example", "https://evil.example");
        let error = ProviderMetadata::from_discovery(&json, "https://id.example.jp").unwrap_err();
        assert!(matches!(error, OidcError::Discovery(ref why) if why.contains("issuer")), "{error}");
        let json = discovery_json("https://id.example.jp/", "https://id.example.jp");
        assert!(ProviderMetadata::from_discovery(&json, "https://id.example.jp").is_err(), "trailing slash");
        assert!(ProviderMetadata::from_discovery(b"<html>", "https://id.example.jp").is_err());
    }

    #[test]
    fn an_http_endpoint_on_a_non_loopback_host_is_refused() {
        for base in ["http://id.example.jp", "http://10.0.0.1", "http://localhost.example.jp", "ftp://id.example.jp"] {
            let mut json: serde_json::Value =
                serde_json::from_slice(&discovery_json("https://id.example.jp", "https://id.example.jp")).unwrap();
            json["token_endpoint"] = json!(format!("{base}/token"));
            let error = ProviderMetadata::from_discovery(json.to_string().as_bytes(), "https://id.example.jp");
            assert!(matches!(error, Err(OidcError::Discovery(ref why)) if why.contains("token_endpoint")), "{base}");
        }
        let json = discovery_json("http://id.example.jp", "https://id.example.jp");
        assert!(ProviderMetadata::from_discovery(&json, "http://id.example.jp").is_err(), "http issuer");
        let json = discovery_json("https://id.example.jp", "https://user:pw@id.example.jp");
        assert!(ProviderMetadata::from_discovery(&json, "https://id.example.jp").is_err(), "credentials");
    }

    #[test]
    fn login_asks_for_a_code_with_pkce_s256_state_nonce_and_openid() {
        let mut m = meta();
        m.authorization_endpoint = "https://id.example.jp/authorize?tenant=aoba".into();
        let login = Login::start(&m, &client(), &["profile", "openid", "address"]);
        let url = url::Url::parse(&login.url).unwrap();
        assert_eq!(url.path(), "/authorize");
        let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["tenant"], "aoba", "the endpoint's own query is kept");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], "madoguchi-aoba");
        assert_eq!(query["redirect_uri"], "https://aoba.madoguchi.example.jp/oidc/callback");
        assert_eq!(query["scope"], "openid profile address");
        assert_eq!(query["state"], login.state);
        assert_eq!(query["nonce"], login.nonce);
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["code_challenge"], pkce_challenge(&login.pkce_verifier));
        assert!(!login.url.contains(&login.pkce_verifier), "the verifier stays here");
        assert!(login.url.contains("redirect_uri=https%3A%2F%2Faoba.madoguchi"), "percent-encoded");
        for value in [&login.state, &login.nonce, &login.pkce_verifier] {
            assert_eq!(value.len(), 43);
            assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        let again = Login::start(&m, &client(), &[]);
        assert_ne!(again.state, login.state);
        assert_ne!(again.nonce, login.nonce);
        assert_ne!(again.pkce_verifier, login.pkce_verifier);
        assert!(again.url.contains("scope=openid&"));
        assert!(!format!("{login:?} {:?}", client()).contains(&login.pkce_verifier));
        assert!(!format!("{:?}", client()).contains("s3cret"));
    }

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_token_request_posts_the_client_secret_and_the_verifier() {
        let body = token_request(&client(), "the-code", "the-verifier");
        let expected = [
            ("grant_type", "authorization_code"),
            ("code", "the-code"),
            ("redirect_uri", "https://aoba.madoguchi.example.jp/oidc/callback"),
            ("client_id", "madoguchi-aoba"),
            ("client_secret", "s3cret"),
            ("code_verifier", "the-verifier"),
        ];
        assert_eq!(body, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }

    #[test]
    fn the_id_token_is_read_from_the_token_response() {
        let json = br#"{"access_token":"at","token_type":"Bearer","expires_in":300,"id_token":"a.b.c"}"#;
        assert_eq!(id_token_from_response(json).unwrap(), "a.b.c");
        assert!(matches!(
            id_token_from_response(br#"{"access_token":"at","token_type":"Bearer"}"#),
            Err(OidcError::BadToken(_))
        ));
        assert!(matches!(
            id_token_from_response(br#"{"token_type":"MAC","id_token":"a.b.c"}"#),
            Err(OidcError::BadToken(_))
        ));
        assert!(id_token_from_response(b"not json").is_err());
    }

    #[test]
    fn an_error_response_keeps_only_the_error_code() {
        let json = r#"{"error":"invalid_grant","error_description":"code of 山田 was used"}"#;
        let error = id_token_from_response(json.as_bytes()).unwrap_err();
        assert_eq!(error, OidcError::Provider("invalid_grant".into()));
        assert!(!error.to_string().contains("山田"));
        let error = id_token_from_response(r#"{"error":"<script>山田"}"#.as_bytes()).unwrap_err();
        assert_eq!(error, OidcError::Provider("unrecognised error".into()));
    }

    #[test]
    fn every_error_has_a_resident_facing_sentence() {
        for error in [
            OidcError::Discovery("x".into()),
            OidcError::Provider("access_denied".into()),
            OidcError::Provider("server_error".into()),
            OidcError::BadToken("x".into()),
        ] {
            assert!(error.message_ja().ends_with('。'));
            assert!(error.message_en().ends_with('.'));
        }
        assert_eq!(
            OidcError::BadToken("x".into()).message_ja(),
            "本人確認サービスでの確認ができませんでした。もう一度お試しください。"
        );
    }
}
