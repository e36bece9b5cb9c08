//! The sync API for desks: pull sealed records, fetch form versions, push
//! status. Every request is signed by a registered desk key (Ed25519) over
//! its method, path, timestamp, nonce and body; the counter answers only
//! for that desk's tenant and records every pull.
//!
//! The API is specified in `docs/sync-api.md`; a test checks that every
//! route here is described there.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use futures::StreamExt as _;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use store::{Desk, ReceiptNumber, StatusChange, SubmissionStatus};

use crate::Counter;

/// Requests signed further than this from the counter's clock are refused.
pub const CLOCK_SKEW_SECS: i64 = 300;
/// Largest request body a desk may send.
const MAX_BODY: usize = 1024 * 1024;
/// Most records one pull returns.
pub const MAX_PULL: i64 = 1000;

/// Every route of the API, as documented in `docs/sync-api.md`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/desk/v1/whoami"),
    ("GET", "/api/desk/v1/records"),
    ("GET", "/api/desk/v1/forms/{form}/{version}"),
    ("POST", "/api/desk/v1/status"),
    ("POST", "/api/desk/v1/events"),
    ("GET", "/api/desk/v1/forms"),
    ("POST", "/api/desk/v1/plant"),
    ("GET", "/api/desk/v1/cancellations"),
    ("POST", "/api/desk/v1/forms/{form}/schedule"),
    ("GET", "/api/desk/v1/records/{receipt}/attachments/{name}"),
];

pub(crate) fn routes() -> Router<Arc<Counter>> {
    Router::new()
        .route("/api/desk/v1/whoami", get(whoami))
        .route("/api/desk/v1/records", get(records))
        .route("/api/desk/v1/forms/{form}/{version}", get(form_version))
        .route("/api/desk/v1/status", post(push_status))
        .route("/api/desk/v1/events", post(push_events))
        .route("/api/desk/v1/forms", get(current_forms))
        .route("/api/desk/v1/plant", post(plant))
        .route("/api/desk/v1/cancellations", get(cancellations))
        .route("/api/desk/v1/forms/{form}/schedule", post(set_schedule))
        .route("/api/desk/v1/records/{receipt}/attachments/{name}", get(attachment))
}

/// API failures: a status and a short English reason, never more.
#[derive(Debug)]
pub(crate) struct ApiError(StatusCode, &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<store::StoreError> for ApiError {
    fn from(err: store::StoreError) -> Self {
        tracing::error!(error = %err, "store failure in the desk API");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError(StatusCode::UNAUTHORIZED, "missing signature headers"))
}

/// Checks the request's signature and returns the desk that made it, with
/// the body it signed.
async fn authenticate(
    counter: &Counter,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Desk, bytes::Bytes), ApiError> {
    let desk_id = header(headers, "x-madoguchi-desk")?;
    let timestamp: i64 = header(headers, "x-madoguchi-timestamp")?
        .parse()
        .map_err(|_| ApiError(StatusCode::UNAUTHORIZED, "bad timestamp"))?;
    let nonce = header(headers, "x-madoguchi-nonce")?;
    let signature = header(headers, "x-madoguchi-signature")?;
    if nonce.len() < 16 || nonce.len() > 64 {
        return Err(ApiError(StatusCode::UNAUTHORIZED, "bad nonce"));
    }
    if (crate::draft::now_unix() - timestamp).abs() > CLOCK_SKEW_SECS {
        return Err(ApiError(StatusCode::UNAUTHORIZED, "timestamp too far from the counter's clock"));
    }
    let body = http_body_util::Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| ApiError(StatusCode::PAYLOAD_TOO_LARGE, "body too large"))?
        .to_bytes();
    // Unknown, suspended and wrongly signed all look the same from outside.
    let refused = ApiError(StatusCode::UNAUTHORIZED, "not a registered desk, or a bad signature");
    let desk = counter.store.desk(desk_id).await?.ok_or(refused)?;
    let key = seal::DeskPublicKey::from_base64(&desk.public_key)
        .map_err(|_| ApiError(StatusCode::UNAUTHORIZED, "not a registered desk, or a bad signature"))?;
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let request =
        seal::SignedRequest { desk_id, method: method.as_str(), path_and_query, timestamp, nonce, body: &body };
    key.verify_request(&request, signature)
        .map_err(|_| ApiError(StatusCode::UNAUTHORIZED, "not a registered desk, or a bad signature"))?;
    if desk.suspended {
        tracing::warn!(desk = %desk.desk_id, tenant = %desk.tenant_id, "suspended desk refused");
        return Err(ApiError(StatusCode::FORBIDDEN, "this desk is suspended"));
    }
    if counter.isolation(&desk.tenant_id).is_some() {
        tracing::warn!(desk = %desk.desk_id, tenant = %desk.tenant_id, "desk of an isolated tenant refused");
        return Err(ApiError(StatusCode::FORBIDDEN, "this municipality is isolated by the operator"));
    }
    if !counter.store.use_desk_nonce(desk_id, nonce, 2 * CLOCK_SKEW_SECS).await? {
        return Err(ApiError(StatusCode::UNAUTHORIZED, "nonce already used"));
    }
    Ok((desk, body))
}

/// A request signed by a registered desk: the extractor every API handler
/// takes, so none can forget the check.
pub(crate) struct SignedDesk {
    desk: Desk,
    body: bytes::Bytes,
    uri: Uri,
    /// The desk's address as the counter sees it.
    source: String,
}

impl axum::extract::FromRequest<Arc<Counter>> for SignedDesk {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, counter: &Arc<Counter>) -> Result<Self, ApiError> {
        let source = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        let (parts, body) = req.into_parts();
        let (desk, body) = authenticate(counter, &parts.method, &parts.uri, &parts.headers, body).await?;
        Ok(SignedDesk { desk, body, uri: parts.uri, source })
    }
}

#[derive(Serialize, Deserialize)]
pub struct WhoAmI {
    pub desk_id: String,
    pub tenant: String,
    pub fingerprint: String,
}

async fn whoami(SignedDesk { desk, .. }: SignedDesk) -> Result<Json<WhoAmI>, ApiError> {
    Ok(Json(WhoAmI { desk_id: desk.desk_id, tenant: desk.tenant_id, fingerprint: desk.fingerprint }))
}

#[derive(Serialize, Deserialize)]
pub struct SyncedRecord {
    /// 到達番号, "2026-000042".
    pub receipt: String,
    pub form_id: String,
    pub form_version: i64,
    /// The sealed record's binary form, base64.
    pub record: String,
    pub record_sha256: String,
    pub received_at: i64,
    /// The resident's message key (base64 X25519): a staff message for
    /// this record is sealed to it (`seal::seal_message`).
    pub message_key: String,
}

#[derive(Serialize, Deserialize)]
pub struct RecordPage {
    pub records: Vec<SyncedRecord>,
    /// Pass as `after` for the next page; absent when nothing was returned.
    pub next_after: Option<String>,
    /// True when the page was full: ask again at once.
    pub more: bool,
}

#[derive(Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<i64>,
}

async fn records(
    State(counter): State<Arc<Counter>>,
    SignedDesk { desk, uri, source, .. }: SignedDesk,
) -> Result<Json<RecordPage>, ApiError> {
    let query: PageQuery = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|_| ApiError(StatusCode::BAD_REQUEST, "bad query"))?;
    let after = match query.after.as_deref() {
        None | Some("") => ReceiptNumber::START,
        Some(text) => ReceiptNumber::parse(text).ok_or(ApiError(StatusCode::BAD_REQUEST, "bad `after`"))?,
    };
    let limit = query.limit.unwrap_or(MAX_PULL).clamp(1, MAX_PULL);
    let high_water = desk_high_water(&counter, &desk).await?;
    let pulled = counter.store.pull_records(&desk, after, limit, &source).await?;
    tracing::info!(desk = %desk.desk_id, tenant = %desk.tenant_id, after = %after, count = pulled.len(), "desk pull");
    watch_pull(&counter, &desk, &pulled, &source, high_water, after).await?;
    let next_after = pulled.last().map(|r| r.receipt.to_string());
    let more = pulled.len() as i64 == limit;
    // How far behind this desk is, for the operator (a desk is named by its
    // id, never by anything of the records).
    let lag = match (more, pulled.last()) {
        (true, Some(last)) => counter.store.submissions_after(&desk.tenant_id, last.receipt).await?,
        _ => 0,
    };
    metrics::gauge!("desk_sync_lag_records", "desk" => desk.desk_id.clone()).set(lag as f64);
    metrics::gauge!("desk_last_pull_timestamp_seconds", "desk" => desk.desk_id.clone())
        .set(crate::draft::now_unix() as f64);
    metrics::counter!("desk_pulled_records_total", "desk" => desk.desk_id.clone()).increment(pulled.len() as u64);
    let records = pulled
        .into_iter()
        .map(|r| SyncedRecord {
            receipt: r.receipt.to_string(),
            form_id: r.form_id,
            form_version: r.form_version,
            record: base64::engine::general_purpose::STANDARD.encode(&r.record),
            record_sha256: r.record_sha256,
            received_at: r.received_at,
            message_key: r.message_key,
        })
        .collect();
    Ok(Json(RecordPage { records, next_after, more }))
}

/// What this desk has confirmed it holds: the furthest `after` it has
/// asked from (a desk asks after what it stored, so a page pulled again
/// after a crash is not below it).
async fn desk_high_water(counter: &Counter, desk: &Desk) -> Result<ReceiptNumber, ApiError> {
    let known = counter.desk_high_water.lock().ok().and_then(|map| map.get(&desk.desk_id).copied());
    Ok(match known {
        Some(receipt) => receipt,
        None => counter.store.desk_high_water(&desk.desk_id).await?,
    })
}

/// Shows a pull to the watch: records at or below what this desk had
/// already confirmed holding are re-reads. A finding that freezes suspends
/// the desk key at once and this page is not sent; every finding is an
/// alert in the ledger.
async fn watch_pull(
    counter: &Counter,
    desk: &Desk,
    pulled: &[store::PulledRecord],
    source: &str,
    high_water: ReceiptNumber,
    after: ReceiptNumber,
) -> Result<(), ApiError> {
    let again: Vec<String> = pulled
        .iter()
        .filter(|r| r.receipt <= high_water)
        .map(|r| watch_tag(counter, &desk.tenant_id, r.receipt))
        .collect();
    if let Ok(mut map) = counter.desk_high_water.lock() {
        map.insert(desk.desk_id.clone(), high_water.max(after));
    }
    // A planted applicant pulled again: the desk that planted it has it.
    let honeytokens =
        if again.is_empty() { 0 } else { counter.store.watch_tags_among(&desk.tenant_id, &again).await? };
    let reader = crate::watching::Reader::Desk { desk_id: &desk.desk_id };
    let read = crate::watching::Seen { records: again.len() as u64, honeytokens };
    if crate::watching::observe(counter, reader, &desk.tenant_id, read, Some(source)).await? {
        return Err(ApiError(StatusCode::FORBIDDEN, "this desk is suspended"));
    }
    Ok(())
}

/// A file attached to one of the desk's tenant's records, as sealed: the
/// bytes stream from the vault part by part, never whole in memory. Taking
/// it again after the desk has moved past the record is a re-read, which
/// the watch counts like a record pulled again.
async fn attachment(
    State(counter): State<Arc<Counter>>,
    Path((receipt, name)): Path<(String, String)>,
    SignedDesk { desk, source, .. }: SignedDesk,
) -> Result<Response, ApiError> {
    let receipt = ReceiptNumber::parse(&receipt).ok_or(ApiError(StatusCode::BAD_REQUEST, "bad 到達番号"))?;
    // Only a file the tenant's own record names; anything else is unknown.
    if !counter.store.submission_names_attachment(&desk.tenant_id, receipt, &name).await? {
        return Err(ApiError(StatusCode::NOT_FOUND, "no such attachment"));
    }
    if receipt <= desk_high_water(&counter, &desk).await? {
        let reader = crate::watching::Reader::Desk { desk_id: &desk.desk_id };
        let again = crate::watching::Seen { records: 1, honeytokens: 0 };
        if crate::watching::observe(&counter, reader, &desk.tenant_id, again, Some(&source)).await? {
            return Err(ApiError(StatusCode::FORBIDDEN, "this desk is suspended"));
        }
    }
    let vault = counter.store.vault().clone();
    let manifest = vault.attachment_manifest(&name).await?;
    tracing::info!(desk = %desk.desk_id, tenant = %desk.tenant_id, receipt = %receipt, bytes = manifest.size, "desk pulled an attachment");
    let size = manifest.size;
    let parts = futures::stream::iter(0..manifest.parts.len()).then(move |index| {
        let (vault, manifest) = (vault.clone(), manifest.clone());
        async move {
            vault.attachment_part(&manifest, index).await.map_err(|err| {
                tracing::error!(error = %err, "an attachment part could not be read");
                std::io::Error::other("attachment part unreadable")
            })
        }
    });
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (axum::http::header::CONTENT_LENGTH, size.to_string()),
        ],
        Body::from_stream(parts),
    )
        .into_response())
}

#[derive(Serialize, Deserialize)]
pub struct FormText {
    pub form_id: String,
    pub version: i64,
    /// The definition as published (TOML).
    pub definition: String,
}

async fn form_version(
    State(counter): State<Arc<Counter>>,
    Path((form, version)): Path<(String, i64)>,
    SignedDesk { desk, .. }: SignedDesk,
) -> Result<Json<FormText>, ApiError> {
    let published = counter
        .store
        .form_version(&desk.tenant_id, &form, version)
        .await?
        .ok_or(ApiError(StatusCode::NOT_FOUND, "no such form version"))?;
    Ok(Json(FormText { form_id: published.form_id, version: published.version, definition: published.definition }))
}

/// The desk sets a booking field's opening days, slots, capacity and
/// closures: the counter publishes them as the form's next version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleChange {
    /// The booking field's name.
    pub field: String,
    /// The new `booking` kind (its `type` is `booking`).
    pub schedule: forms::FieldKind,
}

#[derive(Serialize, Deserialize)]
pub struct SchedulePublished {
    pub version: i64,
}

async fn set_schedule(
    State(counter): State<Arc<Counter>>,
    Path(form): Path<String>,
    SignedDesk { desk, body, source, .. }: SignedDesk,
) -> Result<Json<SchedulePublished>, ApiError> {
    let change: ScheduleChange =
        serde_json::from_slice(&body).map_err(|_| ApiError(StatusCode::BAD_REQUEST, "bad schedule"))?;
    if !matches!(change.schedule, forms::FieldKind::Booking { .. }) {
        return Err(ApiError(StatusCode::BAD_REQUEST, "not a booking schedule"));
    }
    let current = counter
        .store
        .current_form(&desk.tenant_id, &form)
        .await?
        .ok_or(ApiError(StatusCode::NOT_FOUND, "no such form"))?;
    let mut def = forms::FormDefinition::parse(&current.definition)
        .map_err(|_| ApiError(StatusCode::CONFLICT, "the current version does not check"))?;
    let field = def
        .fields
        .iter_mut()
        .find(|f| f.name == change.field && matches!(f.kind, forms::FieldKind::Booking { .. }))
        .ok_or(ApiError(StatusCode::NOT_FOUND, "no such booking field"))?;
    field.kind = change.schedule;
    // The same check `madoguchi form check` and the console run.
    let text = def.to_toml();
    if forms::FormDefinition::check(&text).is_err() {
        return Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, "the schedule does not check"));
    }
    let published = counter.store.publish_form(&desk.tenant_id, &form, &text, None).await?;
    let detail = format!("booking schedule of {} set, version {}", change.field, published.version);
    let mut event = store::event(
        ledger::EventKind::AdminAction,
        &format!("desk:{}", desk.desk_id),
        Some(&desk.tenant_id),
        Some(&format!("form:{form}")),
        &detail,
    );
    event.source = Some(source);
    counter.store.record_event(&event).await?;
    tracing::info!(desk = %desk.desk_id, tenant = %desk.tenant_id, form = %form, version = published.version, "booking schedule published");
    Ok(Json(SchedulePublished { version: published.version }))
}

#[derive(Serialize, Deserialize)]
pub struct StatusPush {
    pub changes: Vec<PushedStatus>,
}

#[derive(Serialize, Deserialize)]
pub struct PushedStatus {
    pub receipt: String,
    /// received | in_review | completed | returned | rejected
    pub status: String,
    pub changed_at: i64,
    /// Optional message for the resident, sealed to the record's message
    /// key, base64. The counter cannot read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct StatusPushed {
    pub applied: u64,
}

async fn push_status(
    State(counter): State<Arc<Counter>>,
    SignedDesk { desk, body, .. }: SignedDesk,
) -> Result<Json<StatusPushed>, ApiError> {
    let push: StatusPush =
        serde_json::from_slice(&body).map_err(|_| ApiError(StatusCode::BAD_REQUEST, "bad status push"))?;
    let changes = push
        .changes
        .iter()
        .map(|c| {
            Ok(StatusChange {
                receipt: ReceiptNumber::parse(&c.receipt).ok_or(ApiError(StatusCode::BAD_REQUEST, "bad receipt"))?,
                status: SubmissionStatus::parse(&c.status).ok_or(ApiError(StatusCode::BAD_REQUEST, "bad status"))?,
                changed_at: c.changed_at,
                message: match &c.message {
                    Some(text) => Some(
                        base64::engine::general_purpose::STANDARD
                            .decode(text)
                            .map_err(|_| ApiError(StatusCode::BAD_REQUEST, "bad message"))?,
                    ),
                    None => None,
                },
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let applied = counter.store.apply_status_changes(&desk, &changes).await?;
    tracing::info!(desk = %desk.desk_id, tenant = %desk.tenant_id, pushed = changes.len(), applied, "desk status push");
    Ok(Json(StatusPushed { applied }))
}

/// Something a desk logged (a staff member's view, export, sign-in …),
/// to be entered in the ledger. Never content: ids, actions, counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeskEvent {
    /// The desk's own sequence number, rising by one per event.
    pub seq: i64,
    pub at: i64,
    /// "staff:LOGIN"
    pub actor: String,
    /// view | export | login | login-failed | login-refused | enrolled | status | comment | assign | unlock | sign-out-everywhere
    pub action: String,
    /// The 到達番号 concerned, if any.
    pub subject: Option<String>,
    pub detail: String,
}

#[derive(Serialize, Deserialize)]
pub struct EventPush {
    pub events: Vec<DeskEvent>,
}

#[derive(Serialize, Deserialize)]
pub struct EventsEntered {
    /// The highest sequence number the ledger now holds for this desk.
    pub last_seq: i64,
    pub entered: u64,
}

async fn push_events(
    State(counter): State<Arc<Counter>>,
    SignedDesk { desk, body, source, .. }: SignedDesk,
) -> Result<Json<EventsEntered>, ApiError> {
    let push: EventPush =
        serde_json::from_slice(&body).map_err(|_| ApiError(StatusCode::BAD_REQUEST, "bad event push"))?;
    let mut events = Vec::with_capacity(push.events.len());
    for e in &push.events {
        if !e.actor.starts_with("staff:") || e.action.is_empty() || e.action.len() > 64 {
            return Err(ApiError(StatusCode::BAD_REQUEST, "events are made by staff"));
        }
        let kind = match e.action.as_str() {
            "view" => ledger::EventKind::RecordView,
            "export" => ledger::EventKind::Export,
            "login" => ledger::EventKind::Login,
            "login-failed" | "login-refused" => ledger::EventKind::LoginFailed,
            "enrolled" => ledger::EventKind::SecondFactorChange,
            // The desk's watch: a finding, and a member frozen for it.
            "alert" | "frozen" => ledger::EventKind::Alert,
            // Everything else staff do (status decisions, comments,
            // assignments, unlocks, signing out everywhere, and actions a
            // newer desk may add) is an administrative action: entered,
            // never refused, so a desk can never be stuck with events the
            // ledger will not take.
            _ => ledger::EventKind::AdminAction,
        };
        let event = ledger::Event {
            kind,
            at: e.at,
            actor: e.actor.clone(),
            tenant: Some(desk.tenant_id.clone()),
            source: Some(format!("desk:{} via {source}", desk.desk_id)),
            subject: e.subject.clone(),
            detail: format!("{} {}", e.action, e.detail).trim_end().to_owned(),
        };
        events.push((e.seq, event));
    }
    let (last_seq, entered) = counter.store.enter_desk_events(&desk, &events).await?;
    tracing::info!(desk = %desk.desk_id, tenant = %desk.tenant_id, entered, last_seq, "desk events entered in the ledger");
    Ok(Json(EventsEntered { last_seq, entered }))
}

/// Bookings residents cancelled (status only: which 到達番号, when), so the
/// desk stops preparing for them.
#[derive(Serialize, Deserialize)]
pub struct Cancellations {
    pub cancelled: Vec<CancelledBooking>,
    /// More are waiting: ask again from the last `at`.
    pub more: bool,
}

#[derive(Serialize, Deserialize)]
pub struct CancelledBooking {
    pub receipt: String,
    pub at: i64,
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<i64>,
}

/// The most cancellations one answer carries.
const MAX_CANCELLATIONS: i64 = 1000;

async fn cancellations(
    State(counter): State<Arc<Counter>>,
    SignedDesk { desk, uri, .. }: SignedDesk,
) -> Result<Json<Cancellations>, ApiError> {
    let query: SinceQuery = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|_| ApiError(StatusCode::BAD_REQUEST, "bad query"))?;
    let found = counter.store.cancellations_since(&desk.tenant_id, query.since.unwrap_or(0), MAX_CANCELLATIONS).await?;
    let more = found.len() as i64 == MAX_CANCELLATIONS;
    let cancelled = found.into_iter().map(|c| CancelledBooking { receipt: c.receipt.to_string(), at: c.at }).collect();
    Ok(Json(Cancellations { cancelled, more }))
}

/// The tenant's forms as residents see them now, and its place name (for
/// the desk's synthetic applicants).
#[derive(Serialize, Deserialize)]
pub struct CurrentForms {
    /// 都道府県・市区町村, e.g. みどり県青葉市.
    pub region: String,
    pub forms: Vec<CurrentForm>,
}

#[derive(Serialize, Deserialize)]
pub struct CurrentForm {
    pub form_id: String,
    pub version: i64,
}

async fn current_forms(
    State(counter): State<Arc<Counter>>,
    SignedDesk { desk, .. }: SignedDesk,
) -> Result<Json<CurrentForms>, ApiError> {
    let tenant = counter.store.tenant(&desk.tenant_id).await?.ok_or(ApiError(StatusCode::NOT_FOUND, "no tenant"))?;
    let group = match &tenant.group_id {
        Some(group) => counter.store.tenant_group(group).await?.map(|g| g.name_ja).unwrap_or_default(),
        None => String::new(),
    };
    let forms = counter
        .store
        .tenant_forms(&desk.tenant_id)
        .await?
        .into_iter()
        .map(|f| CurrentForm { form_id: f.form_id, version: f.version })
        .collect();
    Ok(Json(CurrentForms { region: format!("{group}{}", tenant.name_ja), forms }))
}

/// A synthetic applicant from the desk's key ceremony (docs/watch.md).
#[derive(Serialize, Deserialize)]
pub struct Plant {
    pub submission: forms::Submission,
}

#[derive(Serialize, Deserialize)]
pub struct Planted {
    pub receipt: String,
}

/// Takes a desk's synthetic applicant through the same intake as a
/// resident's submission (sealed to the tenant key, numbered, in the
/// vault and the ledger), so that nothing stored tells it apart; only the
/// desk keeps its number. Not logged with its number here.
async fn plant(
    State(counter): State<Arc<Counter>>,
    SignedDesk { desk, body, .. }: SignedDesk,
) -> Result<Json<Planted>, ApiError> {
    let plant: Plant = serde_json::from_slice(&body).map_err(|_| ApiError(StatusCode::BAD_REQUEST, "bad plant"))?;
    let submission = plant.submission;
    let form = counter
        .store
        .current_form(&desk.tenant_id, &submission.form_id)
        .await?
        .ok_or(ApiError(StatusCode::NOT_FOUND, "no such form"))?;
    let def = forms::FormDefinition::parse(&form.definition)
        .map_err(|_| ApiError(StatusCode::CONFLICT, "the form does not parse"))?;
    if submission.values.keys().any(|name| !def.fields.iter().any(|f| &f.name == name)) {
        return Err(ApiError(StatusCode::BAD_REQUEST, "an answer names no field of the form"));
    }
    let key = counter
        .store
        .current_tenant_key(&desk.tenant_id)
        .await?
        .ok_or(ApiError(StatusCode::CONFLICT, "the tenant has no key"))?;
    let draft_id = crate::request::random_hex(16);
    // An access key like a resident's; nobody is given it.
    let secret = crate::draft::inquiry_secret_of(&counter.tokens, &draft_id);
    let payload = zeroize::Zeroizing::new(submission.canonical_json());
    let intake = store::Intake {
        tenant: &desk.tenant_id,
        form_id: &submission.form_id,
        form_version: form.version,
        draft_id: &draft_id,
        inquiry_secret: &secret,
        notify_address: None,
        // A planted applicant never takes a place residents could book.
        booking: None,
        attachments: &[],
        respondent: None,
    };
    let accepted = counter.accept_sealed(&intake, key, payload).await?;
    counter.store.add_watch_tag(&desk.tenant_id, &watch_tag(&counter, &desk.tenant_id, accepted.receipt)).await?;
    Ok(Json(Planted { receipt: accepted.receipt.to_string() }))
}

/// The keyed tag of a planted applicant: only a counter holding the token
/// key can compute it, so the database alone does not tell which they are.
fn watch_tag(counter: &Counter, tenant: &str, receipt: ReceiptNumber) -> String {
    hex::encode(&counter.tokens.derive("watch tag", format!("{tenant} {receipt}").as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_document_describes_exactly_the_routes_served() {
        let doc = include_str!("../../../docs/sync-api.md");
        let documented: Vec<(String, String)> = doc
            .lines()
            .filter_map(|line| line.strip_prefix("### `")?.strip_suffix('`')?.split_once(' '))
            .map(|(method, path)| (method.to_owned(), path.to_owned()))
            .collect();
        let served: Vec<(String, String)> =
            super::ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
        assert_eq!(documented, served);
        for header in ["x-madoguchi-desk", "x-madoguchi-timestamp", "x-madoguchi-nonce", "x-madoguchi-signature"] {
            assert!(doc.contains(header), "{header} is not documented");
        }
        assert!(doc.contains(&super::CLOCK_SKEW_SECS.to_string()));
    }

    #[test]
    fn the_documented_canonical_string_is_the_one_signed() {
        let doc = include_str!("../../../docs/sync-api.md");
        let request = seal::SignedRequest {
            desk_id: "d",
            method: "get",
            path_and_query: "/p?q",
            timestamp: 1,
            nonce: "n",
            body: b"",
        };
        let canonical = request.canonical();
        let first_line = canonical.lines().next().unwrap_or_default();
        assert!(doc.contains(first_line), "{first_line}");
        assert_eq!(canonical.lines().count(), 7);
    }
}
