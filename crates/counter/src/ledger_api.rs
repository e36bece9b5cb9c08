//! Public ledger endpoints: the latest signed checkpoint, the key that
//! signs checkpoints, and inclusion proofs for submissions, so a resident
//! or an auditor can check that a receipt's record is in the log.
//!
//! Only submission leaves are served here (their fields are the 到達番号
//! and the sealed record's hash); the rest of the log is for auditors.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::Counter;

pub(crate) fn routes() -> Router<Arc<Counter>> {
    Router::new()
        .route("/ledger/checkpoint", get(checkpoint))
        .route("/ledger/key", get(key))
        .route("/ledger/entries/{index}", get(entry))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "not found" }))).into_response()
}

async fn checkpoint(State(counter): State<Arc<Counter>>) -> Result<Response, crate::PageError> {
    Ok(match counter.store.latest_checkpoint().await? {
        Some((_, note)) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response(),
        None => not_found(),
    })
}

async fn key(State(counter): State<Arc<Counter>>) -> Response {
    match &counter.settings.ledger_vkey {
        Some(vkey) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{vkey}\n")).into_response(),
        None => not_found(),
    }
}

#[derive(Serialize)]
struct EntryProof {
    index: i64,
    leaf_hash: String,
    kind: String,
    at: i64,
    tenant: Option<String>,
    /// 到達番号
    subject: Option<String>,
    /// SHA-256 of the sealed record, hex.
    detail: String,
    tree_size: i64,
    /// RFC 6962 audit path, hex, leaf to root.
    proof: Vec<String>,
    /// The signed checkpoint (C2SP signed note) the proof leads to.
    checkpoint: String,
}

async fn entry(State(counter): State<Arc<Counter>>, Path(index): Path<String>) -> Result<Response, crate::PageError> {
    let Ok(index) = index.parse::<i64>() else { return Ok(not_found()) };
    let Some(proof) = counter.store.inclusion_proof(index).await? else { return Ok(not_found()) };
    if proof.entry.event.kind != ledger::EventKind::Submission {
        return Ok(not_found());
    }
    let event = &proof.entry.event;
    Ok(Json(EntryProof {
        index: proof.entry.index,
        leaf_hash: hex::encode(proof.entry.leaf_hash),
        kind: event.kind.as_str().to_owned(),
        at: event.at,
        tenant: event.tenant.clone(),
        subject: event.subject.clone(),
        detail: event.detail.clone(),
        tree_size: proof.tree_size,
        proof: proof.proof.iter().map(hex::encode).collect(),
        checkpoint: proof.checkpoint,
    })
    .into_response())
}
