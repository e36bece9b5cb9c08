//! The integrity gate: once the binary checks itself against the manifest
//! signed at release (`madoguchi integrity`, docs/integrity.md) and finds a
//! mismatch with `--integrity-refuse true`, every request — pages, assets,
//! APIs, health — is answered with one static 503 page in Japanese and
//! English. The gate only closes: what reopens it is a restart with the
//! released binary and configuration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Shared between the binary's integrity check (which closes it) and the
/// router (which reads it on every request: one atomic load).
#[derive(Debug, Clone, Default)]
pub struct IntegrityGate(Arc<AtomicBool>);

impl IntegrityGate {
    /// From now on, every request is answered with the 503 page.
    pub fn refuse(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_refusing(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Self-contained: no stylesheet, no script, nothing else to fetch (every
/// other request gets this page too).
const PAGE: &str = "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
    <title>503 | madoguchi</title></head><body><main>\
    <h1>このサービスは点検のため停止しています。</h1>\
    <p>しばらくしてから、もう一度お試しください。</p>\
    <p lang=\"en\">This service is stopped for a check. Please try again later.</p>\
    </main></body></html>";

/// The middleware: the page when the gate is closed, else the request goes
/// on untouched.
pub async fn gate(State(gate): State<IntegrityGate>, request: Request, next: Next) -> Response {
    if gate.is_refusing() {
        return stopped_page();
    }
    next.run(request).await
}

/// The static 503 page, with the headers every page gets (the gate sits
/// outside the layers that set them).
pub fn stopped_page() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        ],
        PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_closed_gate_answers_every_request_with_the_static_page() {
        let gate = IntegrityGate::default();
        let app = axum::Router::new()
            .route("/", get(|| async { "portal" }))
            .layer(axum::middleware::from_fn_with_state(gate.clone(), super::gate));
        let open = app.clone().oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(open.status(), StatusCode::OK);
        gate.refuse();
        for path in ["/", "/assets/style.css", "/healthz", "/no-such-page"] {
            let request = Request::builder().uri(path).body(Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains("このサービスは点検のため停止しています") && body.contains("stopped for a check"));
        }
        assert!(gate.is_refusing(), "the gate stays closed");
    }
}
