//! Small pieces of request handling that the counter's admin console and
//! the desk's UI share: cookies, random tokens, and the CSRF check of a
//! POST (the session's token, or before sign-in a double-submit cookie).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use rand::RngCore;

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `bytes` random bytes as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The pre-sign-in CSRF token from cookie `name`, if it is one we issue
/// (16 random bytes as hex).
pub fn pre_token(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie(headers, name).filter(|t| t.len() == 32).map(str::to_owned)
}

/// The Set-Cookie of a new pre-sign-in token.
pub fn pre_token_cookie(name: &str, token: &str, path: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={token}; Path={path}; HttpOnly; SameSite=Strict{secure}")).ok()
}

/// Why a POST was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfRefusal {
    TooLarge,
    /// No token, or not the expected one.
    Mismatch,
}

/// Checks a POST's CSRF token (the `_csrf` field of a form, or the
/// X-CSRF-Token header of a script's call) against `expected`; the body is
/// read (at most `limit` bytes) and given back with the request.
pub async fn check_csrf(req: Request, expected: Option<&str>, limit: usize) -> Result<Request, CsrfRefusal> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| CsrfRefusal::TooLarge)?;
    let sent = match parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        Some(header) => Some(header.to_owned()),
        None => serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|fields| fields.into_iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v)),
    };
    match (sent, expected) {
        (Some(sent), Some(expected)) if constant_time_eq(sent.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(CsrfRefusal::Mismatch),
    }
}
