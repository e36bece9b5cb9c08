//! How the counter describes requests to the shield: which tenant (only
//! known ones), which class (staff, a resident with a form session, anyone
//! else) and whether the request opens a form. Also the form-session token
//! a resident gets with a form page, and the operator's /metrics.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use seal::TokenBox;
use shield::{Class, Classify, Ticket};

use crate::Counter;

const FORM_SESSION_COOKIE: &str = "madoguchi_fs";
const FORM_SESSION_PURPOSE: &str = "form-session";
/// A resident who opened a form keeps priority this long.
pub(crate) const FORM_SESSION_SECS: u64 = 2 * 3600;

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The Set-Cookie of a new form session for `tenant`.
pub(crate) fn form_session_cookie(tokens: &TokenBox, tenant: &str, secure: bool) -> Option<HeaderValue> {
    let token = tokens.seal(FORM_SESSION_PURPOSE, format!("{tenant}\n{}", now_secs()).as_bytes());
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{FORM_SESSION_COOKIE}={token}; Path=/t/{tenant}/; HttpOnly; SameSite=Lax; Max-Age={FORM_SESSION_SECS}{secure}"
    ))
    .ok()
}

use crate::request::cookie;

/// The classifier: a token box of its own (same key as the counter's) and
/// the set of known tenant ids, refreshed from the store.
pub struct CounterClassifier {
    tokens: TokenBox,
    tenants: Arc<RwLock<HashSet<String>>>,
}

impl CounterClassifier {
    pub(crate) fn new(tokens: TokenBox, tenants: Arc<RwLock<HashSet<String>>>) -> CounterClassifier {
        CounterClassifier { tokens, tenants }
    }

    fn known(&self, tenant: &str) -> bool {
        self.tenants.read().map(|t| t.contains(tenant)).unwrap_or(false)
    }

    fn has_form_session(&self, headers: &HeaderMap, tenant: &str) -> bool {
        let Some(token) = cookie(headers, FORM_SESSION_COOKIE) else { return false };
        let Ok(opened) = self.tokens.open(FORM_SESSION_PURPOSE, token) else { return false };
        let text = String::from_utf8_lossy(&opened);
        let Some((for_tenant, issued)) = text.split_once('\n') else { return false };
        let issued: u64 = issued.parse().unwrap_or(0);
        for_tenant == tenant && now_secs() <= issued + FORM_SESSION_SECS
    }
}

impl Classify for CounterClassifier {
    fn classify(&self, parts: &axum::http::request::Parts) -> Ticket {
        let path = parts.uri.path();
        if path == "/healthz" || path == "/readyz" || path == "/metrics" {
            return Ticket { tenant: None, class: Class::Probe, opens_session: false };
        }
        if path == "/admin" || path.starts_with("/admin/") || path.starts_with("/api/desk/") {
            return Ticket { tenant: None, class: Class::Staff, opens_session: false };
        }
        let mut segments = path.trim_start_matches('/').split('/');
        if segments.next() == Some("t") {
            if let Some(tenant) = segments.next().filter(|t| self.known(t)) {
                let rest: Vec<&str> = segments.collect();
                let opens_session = opens_session(&parts.method, &rest);
                let class =
                    if self.has_form_session(&parts.headers, tenant) { Class::Session } else { Class::Anonymous };
                return Ticket { tenant: Some(tenant.to_owned()), class, opens_session };
            }
        }
        Ticket { tenant: None, class: Class::Anonymous, opens_session: false }
    }
}

/// Whether a request (below `/t/{tenant}/`) starts a resident's session,
/// which under attack waits for the proof of work: a form page, and the
/// rooms' registration and sign-in (the page and its POST, so a script
/// cannot skip the page; both end in argon2id hashing, the costly part).
fn opens_session(method: &axum::http::Method, rest: &[&str]) -> bool {
    use axum::http::Method;
    match rest {
        ["f", _] => method == Method::GET,
        ["rooms", "register"] => method == Method::GET || method == Method::POST,
        ["rooms", "login"] => method == Method::POST,
        _ => false,
    }
}

/// Prometheus text, for the operator's scraper on this machine (or the
/// addresses allowed to scrape): never for the internet.
pub(crate) async fn metrics(
    State(counter): State<Arc<Counter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let allowed = peer.ip().is_loopback() || counter.settings.metrics_from.contains(&peer.ip());
    match (&counter.settings.metrics, allowed) {
        (Some(render), true) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render()).into_response()
        }
        (None, _) => (StatusCode::NOT_FOUND, "not found").into_response(),
        (Some(_), false) => (StatusCode::FORBIDDEN, "forbidden").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    #[test]
    fn forms_and_the_rooms_registration_open_a_session() {
        assert!(super::opens_session(&Method::GET, &["f", "water-start"]));
        assert!(!super::opens_session(&Method::POST, &["f", "water-start"]));
        assert!(super::opens_session(&Method::GET, &["rooms", "register"]));
        assert!(super::opens_session(&Method::POST, &["rooms", "register"]));
        assert!(super::opens_session(&Method::POST, &["rooms", "login"]));
        assert!(!super::opens_session(&Method::GET, &["rooms", "plan-2027"]));
        assert!(!super::opens_session(&Method::GET, &["rooms"]));
    }
}
