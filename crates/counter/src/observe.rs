//! What the operator sees of a running counter node: request rates and
//! latencies per route for Prometheus, and readiness for the load
//! balancer. Labels are route templates (`/t/{tenant}/f/{form}`), methods
//! and status codes only: never a path as sent, a query or anything a
//! resident typed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Counter;

/// Counts and times every request that reached a route.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: the usual ones by name, anything else as one
/// value, so a client inventing methods cannot grow the series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// How long a readiness check may take before the node counts as not ready.
const READY_WITHIN: Duration = Duration::from_secs(3);

/// `GET /readyz`: 200 only when this node can take a submission now: its
/// database takes a write and its vault takes an object. The load balancer
/// sends residents elsewhere otherwise. (`/healthz` only says the process
/// answers.)
pub(crate) async fn readyz(State(counter): State<Arc<Counter>>) -> Response {
    // One check at a time, and its answer for a second: a flood of probes
    // costs one write a second, not one each.
    let mut last = counter.readiness.lock().await;
    if let Some((at, status, body)) = &*last {
        if at.elapsed() < READY_FOR {
            return (*status, body.clone()).into_response();
        }
    }
    let (status, body) = check(&counter).await;
    *last = Some((Instant::now(), status, body.clone()));
    (status, body).into_response()
}

/// How long one readiness answer is given again.
const READY_FOR: Duration = Duration::from_secs(1);

async fn check(counter: &Counter) -> (StatusCode, String) {
    let checks = async {
        let database = counter.store.note_node_alive(&counter.node_id).await;
        let vault = counter.store.vault().probe(&counter.node_id).await;
        (database, vault)
    };
    let (database, vault) = match tokio::time::timeout(READY_WITHIN, checks).await {
        Ok(outcome) => outcome,
        Err(_) => {
            metrics::gauge!("madoguchi_ready").set(0.0);
            return (StatusCode::SERVICE_UNAVAILABLE, "not ready: the checks took too long\n".into());
        }
    };
    let mut problems = Vec::new();
    if let Err(err) = database {
        tracing::warn!(error = %err, "readiness: the database takes no write");
        problems.push("database");
    }
    if let Err(err) = vault {
        tracing::warn!(error = %err, "readiness: the vault takes no object");
        problems.push("vault");
    }
    metrics::gauge!("madoguchi_ready").set(if problems.is_empty() { 1.0 } else { 0.0 });
    if problems.is_empty() {
        (StatusCode::OK, "ready\n".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {} not writable\n", problems.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn invented_methods_share_one_label() {
        use axum::http::Method;
        assert_eq!(super::method_label(&Method::POST), "POST");
        assert_eq!(super::method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
