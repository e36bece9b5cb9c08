//! Response headers and request limits every page gets.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Request, StatusCode};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::{Counter, CounterSettings};

/// Strict CSP: only our own embedded styles and script; no inline code, no
/// framing, forms post only to us; the script fetches only from us (the
/// address help's /postal/{code}).
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn wrap(router: Router<Arc<Counter>>, settings: &CounterSettings) -> Router<Arc<Counter>> {
    let header_layer = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let mut router = router
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        // The receipt and the 確認画面 carry a resident's data: no referrer
        // leaks, no caching anywhere.
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(header_layer(header::CACHE_CONTROL, "no-store"))
        .layer(header_layer(
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ))
        .layer(header_layer(HeaderName::from_static("cross-origin-opener-policy"), "same-origin"));
    if settings.hsts {
        router = router.layer(header_layer(header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains"));
    }
    router
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        // A body that stops arriving is cut (the form reader also bounds
        // the whole body's time).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(Duration::from_secs(10)))
        .layer(axum::middleware::from_fn(deadline))
        // A panic becomes a plain 500 page; no message, no backtrace reaches
        // the resident.
        .layer(CatchPanicLayer::custom(|_panic| crate::error::PageError::Internal.into_plain_response()))
        // Log the path only: query strings and bodies are never logged.
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &Request<_>| tracing::info_span!("request", method = %req.method(), path = %logged_path(req.uri().path())),
        ))
}

/// How long a request may take in all: 30 s, except a form post with files
/// (multipart), which a resident on a slow line may need minutes to send
/// (the upload reader bounds it itself: 10 minutes, 30 s of silence).
async fn deadline(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let upload = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let limit = if upload { Duration::from_secs(11 * 60) } else { Duration::from_secs(30) };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// The path as logged: a resident's postal code (`/postal/{code}`, the
/// address help) is not.
fn logged_path(path: &str) -> &str {
    if path.starts_with("/postal/") {
        "/postal/…"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn postal_codes_are_not_logged() {
        assert_eq!(super::logged_path("/postal/1000001"), "/postal/…");
        assert_eq!(super::logged_path("/t/aoba-city/f/water-start"), "/t/aoba-city/f/water-start");
    }
}
