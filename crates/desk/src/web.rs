//! The desk's web UI for staff: sign-in with password and TOTP, the inbox,
//! a record's detail, the status workflow, comments, assignment, CSV export
//! and "sync now". Server-rendered, works without JavaScript, embedded
//! templates, the same CSP as the counter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use forms::{FormDefinition, Lang};
use futures::StreamExt as _;
use minijinja::{context, Environment};
use serde::Deserialize;
use store::{ReceiptNumber, SubmissionStatus};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::charts::{bar_chart, Bar};
use crate::export::{CsvEncoding, CsvExport, ExportRow};
use crate::keyring::KeyRing;
use crate::results::{format_number, format_percent, percent, FormResults, Question, Summary, Tally};
use crate::staff::{LoginRefused, Staff};
use crate::store::DeskStore;
use crate::sync::SyncClient;
use crate::watching::{ReadAttempt, ReadWatch, Verdict};
use crate::work::{allowed_next, RecordFilter};
use crate::DeskError;
use counter::request::{self, cookie, random_hex};
use identity::{Access, Action, Role};

const COOKIE: &str = "madoguchi_desk";
const LANG_COOKIE: &str = "madoguchi_desk_lang";
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Desk UI settings.
#[derive(Debug, Clone)]
pub struct DeskSettings {
    /// Mark cookies `Secure` (keep on; browsers accept it on https and on
    /// localhost).
    pub secure_cookies: bool,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// How often the desk pulls new records and pushes status by itself.
    pub sync_interval: Duration,
    /// The unit of the growing wait after failed sign-ins
    /// (`identity::delay_after`).
    pub sign_in_delay_unit: Duration,
    /// The watch's limits for this tenant's staff (docs/watch.md).
    pub watch: watch::Thresholds,
    /// Synthetic applicants to plant per form once the desk first syncs
    /// and has none (the key ceremony's last step). 0: plant none.
    pub honeytokens_per_form: u32,
    /// For drills only: the watch's rules read the time from this file.
    pub watch_clock: Option<std::path::PathBuf>,
}

impl Default for DeskSettings {
    fn default() -> Self {
        DeskSettings {
            secure_cookies: true,
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 3600),
            sync_interval: Duration::from_secs(60),
            sign_in_delay_unit: Duration::from_secs(1),
            watch: watch::Thresholds::default(),
            honeytokens_per_form: 0,
            watch_clock: None,
        }
    }
}

pub struct DeskApp {
    store: DeskStore,
    keys: KeyRing,
    client: SyncClient,
    settings: DeskSettings,
    env: Environment<'static>,
    watch: ReadWatch,
}

impl DeskApp {
    pub fn new(store: DeskStore, keys: KeyRing, client: SyncClient, settings: DeskSettings) -> Arc<DeskApp> {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("login.html", include_str!("templates/login.html")),
            ("enrol.html", include_str!("templates/enrol.html")),
            ("inbox.html", include_str!("templates/inbox.html")),
            ("record.html", include_str!("templates/record.html")),
            ("sessions.html", include_str!("templates/sessions.html")),
            ("staff.html", include_str!("templates/staff.html")),
            ("frozen.html", include_str!("templates/frozen.html")),
            ("results.html", include_str!("templates/results.html")),
            ("schedule.html", include_str!("templates/schedule.html")),
            ("answers.html", include_str!("templates/answers.html")),
        ] {
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "template does not compile");
            }
        }
        let watch = ReadWatch::new(&keys.tenant, settings.watch.clone(), settings.watch_clock.clone());
        Arc::new(DeskApp { store, keys, client, settings, env, watch })
    }

    /// The rules over staff reads (replay the access log into them at start).
    pub fn watch(&self) -> &ReadWatch {
        &self.watch
    }

    /// Shows a read to the watch; on a freeze, tells the counter's ledger
    /// at once (it mails and calls the webhook) rather than at the next sync.
    async fn watched(self: &Arc<Self>, read: &ReadAttempt<'_>) -> crate::Result<Verdict> {
        let verdict = self.watch.check(&self.store, read).await?;
        if verdict == Verdict::Frozen {
            let app = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(err) = app.client.push_events(&app.keys, &app.store).await {
                    tracing::warn!(error = %err, "could not report a freeze to the counter yet; the next sync will");
                }
            });
        }
        Ok(verdict)
    }

    /// The page a frozen member sees, with their session cookie cleared.
    fn frozen_page(&self, lang: Lang) -> Response {
        let mut response = self.render("frozen.html", base(self, lang, None));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response.headers_mut().insert(header::SET_COOKIE, session_cookie(self, "", 0));
        response
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let header_layer = |name: header::HeaderName, value: &'static str| {
            SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
        };
        Router::new()
            .route("/", get(inbox))
            .route("/login", get(login_page).post(login))
            .route("/logout", post(logout))
            .route("/sessions", get(sessions_page))
            .route("/sessions/end-all", post(end_all_sessions))
            .route("/enrol", get(enrol_page).post(enrol))
            .route("/enrol/confirm", post(enrol_confirm))
            .route("/lang/{to}", get(switch_lang))
            .route("/records/{receipt}", get(record_page))
            .route("/records/{receipt}/files/{file}", get(download_file))
            .route("/records/{receipt}/status", post(change_status))
            .route("/records/{receipt}/comment", post(comment))
            .route("/records/{receipt}/assign", post(assign))
            .route("/export", get(export))
            .route("/forms/{form}/results", get(results_page))
            .route("/forms/{form}/results.csv", get(results_csv))
            .route("/forms/{form}/results/{field}/answers", get(answers_page))
            .route("/forms/{form}/schedule", get(schedule_page).post(set_schedule))
            .route("/sync", post(sync_now))
            .route("/staff", get(staff_page).post(add_staff))
            .route("/staff/{login}/unlock", post(unlock_staff))
            .route("/staff/{login}/unfreeze", post(unfreeze_staff))
            .route("/assets/style.css", get(|| async { css(counter::STYLE_CSS) }))
            .route("/assets/desk.css", get(|| async { css(include_str!("assets/desk.css")) }))
            .route_layer(axum::middleware::from_fn_with_state(Arc::clone(self), guard))
            .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
            .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
            .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
            .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
            .layer(header_layer(header::CACHE_CONTROL, "no-store"))
            .with_state(Arc::clone(self))
    }

    /// Pulls new records and pushes pending status changes, once.
    pub async fn sync_once(&self) -> crate::Result<(crate::SyncReport, u64)> {
        let report = self.client.sync(&self.keys, &self.store).await?;
        let pushed = self.push_pending().await?;
        self.client.push_events(&self.keys, &self.store).await?;
        Ok((report, pushed))
    }

    async fn push_pending(&self) -> crate::Result<u64> {
        use base64::Engine as _;
        let pending = self.store.pending_pushes(500).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let push = counter::sync::StatusPush {
            changes: pending
                .iter()
                .map(|p| counter::sync::PushedStatus {
                    receipt: p.receipt.to_string(),
                    status: p.status.as_str().to_owned(),
                    changed_at: p.changed_at,
                    message: p.message.as_ref().map(|m| base64::engine::general_purpose::STANDARD.encode(m)),
                })
                .collect(),
        };
        let applied = self.client.push_status(&self.keys, &push).await?;
        self.store.mark_pushed(&pending).await?;
        Ok(applied)
    }

    /// Syncs every `sync_interval` until the process ends.
    pub async fn keep_in_sync(self: Arc<Self>) {
        let mut planted = self.settings.honeytokens_per_form == 0;
        loop {
            match self.sync_once().await {
                Ok(_) if !planted => match self.plant_if_none().await {
                    Ok(n) => {
                        planted = true;
                        if n > 0 {
                            tracing::info!(planted = n, "synthetic applicants planted for the watch");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "could not plant synthetic applicants; will retry"),
                },
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "sync with the counter failed; will retry"),
            }
            tokio::time::sleep(self.settings.sync_interval).await;
        }
    }

    async fn plant_if_none(&self) -> crate::Result<u64> {
        if self.store.honeytoken_count().await? > 0 {
            return Ok(0);
        }
        self.client.plant_honeytokens(&self.keys, &self.store, self.settings.honeytokens_per_form).await
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(err) => {
                tracing::error!(template = name, error = %err, "template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }
}

fn css(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], body)
        .into_response()
}

type Shared = State<Arc<DeskApp>>;

/// Every desk route and what it needs; [`guard`] checks each request here
/// (deny by default), and the route × role test walks it.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/", Access::Can(Action::ViewSubmissions)),
    ("GET", "/login", Access::Anyone),
    ("POST", "/login", Access::Anyone),
    ("GET", "/enrol", Access::Anyone),
    ("POST", "/enrol", Access::Anyone),
    ("POST", "/enrol/confirm", Access::Anyone),
    ("GET", "/lang/{to}", Access::Anyone),
    ("GET", "/assets/style.css", Access::Anyone),
    ("GET", "/assets/desk.css", Access::Anyone),
    ("GET", "/sessions", Access::SignedIn),
    ("GET", "/records/{receipt}", Access::Can(Action::ViewSubmissions)),
    ("GET", "/records/{receipt}/files/{file}", Access::Can(Action::ViewSubmissions)),
    ("POST", "/records/{receipt}/status", Access::Can(Action::ProcessSubmissions)),
    ("POST", "/records/{receipt}/comment", Access::Can(Action::ProcessSubmissions)),
    ("POST", "/records/{receipt}/assign", Access::Can(Action::ProcessSubmissions)),
    ("GET", "/export", Access::Can(Action::ProcessSubmissions)),
    // Survey results: whoever may view the records may see what they add
    // up to; the free-text answers are a read of records like any other.
    ("GET", "/forms/{form}/results", Access::Can(Action::ViewSubmissions)),
    ("GET", "/forms/{form}/results.csv", Access::Can(Action::ViewSubmissions)),
    ("GET", "/forms/{form}/results/{field}/answers", Access::Can(Action::ViewSubmissions)),
    // 予約枠: opening days, slots, capacity and closures are part of the
    // form, so whoever manages forms sets them.
    ("GET", "/forms/{form}/schedule", Access::Can(Action::ManageForms)),
    ("POST", "/forms/{form}/schedule", Access::Can(Action::ManageForms)),
    ("POST", "/sync", Access::Can(Action::ProcessSubmissions)),
    ("GET", "/staff", Access::Can(Action::ManageStaff)),
    ("POST", "/staff", Access::Can(Action::ManageStaff)),
    ("POST", "/staff/{login}/unlock", Access::Can(Action::ManageStaff)),
    ("POST", "/staff/{login}/unfreeze", Access::Can(Action::ManageStaff)),
    ("POST", "/sessions/end-all", Access::SignedIn),
    ("POST", "/logout", Access::SignedIn),
];

/// The one place where desk requests are authorised.
async fn guard(State(app): Shared, mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let method = req.method().clone();
    let Some(access) = ROUTES.iter().find(|(m, p, _)| *m == method.as_str() && *p == path).map(|(_, _, a)| *a) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let session = match session(&app, req.headers()).await {
        Ok(session) => session,
        Err(err) => return err.into_response(),
    };
    let role = session.as_ref().map(|s| s.staff.role);
    let allowed = match (access, role) {
        (Access::Anyone, _) => true,
        (_, None) => false,
        (Access::Can(action), Some(role)) => identity::allows(role, action),
        (_, Some(_)) => true,
    };
    if allowed {
        // CSRF: every POST carries the session's token, or before sign-in
        // the double-submit cookie's.
        let pre = request::pre_token(req.headers(), PRE_COOKIE);
        let expected = session.as_ref().map(|s| s.csrf.clone()).or_else(|| pre.clone());
        if method == axum::http::Method::POST {
            req = match request::check_csrf(req, expected.as_deref(), MAX_FORM_BYTES).await {
                Ok(req) => req,
                Err(request::CsrfRefusal::TooLarge) => {
                    return (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response()
                }
                Err(request::CsrfRefusal::Mismatch) => {
                    let mut response = csrf_refused();
                    response.headers_mut().insert("x-access", HeaderValue::from_static("denied"));
                    return response;
                }
            };
        }
        let token = pre.clone().unwrap_or_else(|| random_hex(16));
        req.extensions_mut().insert(PreCsrf(token.clone()));
        let source = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_canonical().to_string());
        req.extensions_mut().insert(Source(source));
        let mut response = next.run(req).await;
        if pre.is_none() && session.is_none() {
            if let Some(value) = request::pre_token_cookie(PRE_COOKIE, &token, "/", app.settings.secure_cookies) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        return response;
    }
    let mut response = if role.is_none() && method == axum::http::Method::GET {
        Redirect::to("/login").into_response()
    } else {
        tracing::warn!(path = %path, "desk request refused: the role does not allow it");
        (StatusCode::FORBIDDEN, Html("<!doctype html><html lang=\"ja\"><title>403</title><p>このページを開く権限がありません。/ You do not have permission to open this page.</p><p><a href=\"/\">受信箱へ / Inbox</a></p></html>")).into_response()
    };
    response.headers_mut().insert("x-access", HeaderValue::from_static("denied"));
    response
}

/// Where a role starts after signing in.
fn home_of(role: Role) -> &'static str {
    if identity::allows(role, Action::ViewSubmissions) {
        "/"
    } else if identity::allows(role, Action::ManageStaff) {
        "/staff"
    } else {
        "/sessions"
    }
}

/// Failures inside the desk UI: logged, answered plainly.
struct WebError(DeskError);

impl From<DeskError> for WebError {
    fn from(err: DeskError) -> Self {
        WebError(err)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "desk request failed");
        (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><html lang=\"ja\"><title>エラー</title><p>処理できませんでした。/ Something went wrong.</p><p><a href=\"/\">受信箱へ / Inbox</a></p></html>")).into_response()
    }
}

fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).map(Lang::from_tag).unwrap_or_default()
}

/// The signed-in staff member and the session's CSRF token.
struct Session {
    staff: Staff,
    csrf: String,
    lang: Lang,
}

async fn session(app: &DeskApp, headers: &HeaderMap) -> Result<Option<Session>, WebError> {
    let Some(id) = cookie(headers, COOKIE) else { return Ok(None) };
    let idle = app.settings.session_idle.as_secs() as i64;
    let absolute = app.settings.session_absolute.as_secs() as i64;
    Ok(app.store.session(id, idle, absolute).await?.map(|(staff, csrf)| Session {
        staff,
        csrf,
        lang: lang_of(headers),
    }))
}

/// Every page but sign-in needs a session; without one, go to sign-in.
macro_rules! signed_in {
    ($app:expr, $headers:expr) => {
        match session(&$app, &$headers).await? {
            Some(session) => session,
            None => return Ok(Redirect::to("/login").into_response()),
        }
    };
}

/// The address a request came from (for the watch), when the server
/// knows it.
#[derive(Clone)]
struct Source(Option<String>);

/// The double-submit CSRF token of forms shown before sign-in (the guard
/// sets its cookie and checks it on POST).
#[derive(Clone)]
struct PreCsrf(String);

const PRE_COOKIE: &str = "madoguchi_desk_pre";
/// Desk forms are small (a message to a resident at most); a larger body
/// is refused before it is read.
const MAX_FORM_BYTES: usize = 256 * 1024;

fn csrf_refused() -> Response {
    (StatusCode::FORBIDDEN, Html("<!doctype html><html lang=\"ja\"><title>403</title><p>フォームの有効期限が切れました。ページを開き直してください。/ This form has expired; please reload the page.</p></html>")).into_response()
}

fn base_anonymous(app: &DeskApp, lang: Lang, pre: &PreCsrf) -> minijinja::Value {
    // The first map that has a key wins: the token before base's none.
    context! { ..context! { csrf => pre.0.clone() }, ..base(app, lang, None) }
}

fn strings(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    crate::web_strings::STRINGS.iter().map(|(k, ja, en)| (*k, if lang == Lang::En { *en } else { *ja })).collect()
}

fn base(app: &DeskApp, lang: Lang, session: Option<&Session>) -> minijinja::Value {
    context! {
        lang => lang.tag(),
        t => strings(lang),
        tenant => app.keys.tenant.clone(),
        desk_id => app.keys.desk_id.clone(),
        staff => session.map(|s| context! {
            login => s.staff.login.clone(), name => s.staff.display_name.clone(),
            can_process => identity::allows(s.staff.role, Action::ProcessSubmissions),
            can_view => identity::allows(s.staff.role, Action::ViewSubmissions),
            can_manage_staff => identity::allows(s.staff.role, Action::ManageStaff),
            can_manage_forms => identity::allows(s.staff.role, Action::ManageForms),
        }),
        csrf => session.map(|s| s.csrf.clone()),
    }
}

fn status_label(status: SubmissionStatus, lang: Lang) -> &'static str {
    if lang == Lang::En {
        status.label_en()
    } else {
        status.label_ja()
    }
}

fn format_jst(unix: i64) -> String {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            let t = t.to_offset(jst);
            format!("{}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        })
        .unwrap_or_default()
}

fn session_cookie(app: &DeskApp, value: &str, max_age: i64) -> HeaderValue {
    let secure = if app.settings.secure_cookies { "; Secure" } else { "" };
    let text = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

async fn login_page(State(app): Shared, Extension(pre): Extension<PreCsrf>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    app.render("login.html", context! { ..base_anonymous(&app, lang, &pre), ..context! { error => false } })
}

async fn login(
    State(app): Shared,
    Extension(pre): Extension<PreCsrf>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let lang = lang_of(&headers);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let login = get("login").trim().to_ascii_lowercase();
    let unit_ms = app.settings.sign_in_delay_unit.as_millis() as i64;
    match app.store.login(&app.keys, &login, get("password"), get("totp"), unit_ms).await? {
        Ok(staff) => {
            let (id, _csrf) = app.store.create_session(&staff.login).await?;
            let mut response = Redirect::to(home_of(staff.role)).into_response();
            let max_age = app.settings.session_absolute.as_secs() as i64;
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(&app, &id, max_age));
            Ok(response)
        }
        Err(LoginRefused::Frozen) => Ok(app.frozen_page(lang)),
        Err(refused) => {
            let ctx = context! {
                ..base_anonymous(&app, lang, &pre),
                ..context! {
                    error => true, not_enrolled => refused == LoginRefused::NotEnrolled, login => login,
                    locked => refused == LoginRefused::Locked,
                    wait => match refused { LoginRefused::Wait(secs) => Some(secs), _ => None },
                }
            };
            let mut response = app.render("login.html", ctx);
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(response)
        }
    }
}

async fn logout(State(app): Shared, headers: HeaderMap) -> Result<Response, WebError> {
    if let Some(id) = cookie(&headers, COOKIE) {
        app.store.end_session(id).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&app, "", 0));
    Ok(response)
}

async fn sessions_page(State(app): Shared, headers: HeaderMap) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let current = cookie(&headers, COOKIE).map(DeskStore::short_session_id).unwrap_or_default();
    let sessions: Vec<_> = app
        .store
        .sessions_of(&session.staff.login)
        .await?
        .into_iter()
        .map(|(id, created, seen)| {
            context! { id => id.clone(), created => format_jst(created), seen => format_jst(seen), current => id == current }
        })
        .collect();
    let ctx = context! { ..base(&app, session.lang, Some(&session)), ..context! { sessions } };
    Ok(app.render("sessions.html", ctx))
}

/// "Sign out everywhere": every session of this staff member ends, this
/// one included.
async fn end_all_sessions(State(app): Shared, headers: HeaderMap) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    app.store.end_all_sessions(&session.staff.login).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&app, "", 0));
    Ok(response)
}

async fn switch_lang(Path(to): Path<String>) -> Response {
    let lang = Lang::from_tag(&to);
    let mut response = Redirect::to("/").into_response();
    let value = format!("{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000", lang.tag());
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn enrol_page(State(app): Shared, Extension(pre): Extension<PreCsrf>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    app.render("enrol.html", context! { ..base_anonymous(&app, lang, &pre), ..context! { step => "password" } })
}

/// Step 1: enrolment code + password → the TOTP secret to register.
async fn enrol(
    State(app): Shared,
    Extension(pre): Extension<PreCsrf>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let lang = lang_of(&headers);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let login = get("login").trim().to_ascii_lowercase();
    let code = get("code").trim().to_owned();
    let password = get("password");
    let problem = if password != get("password2") {
        Some("password_mismatch")
    } else {
        identity::password_problem(&login, password).map(identity::PasswordProblem::key)
    };
    let fail = |error: &str| {
        let mut response = app.render(
            "enrol.html",
            context! { ..base_anonymous(&app, lang, &pre), ..context! { step => "password", error => error, login => login.clone(), code => code.clone() } },
        );
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        response
    };
    if let Some(problem) = problem {
        return Ok(fail(problem));
    }
    let Some(secret) = app.store.begin_enrolment(&app.keys, &login, &code, password).await? else {
        return Ok(fail("enrolment_code_invalid"));
    };
    let totp = crate::staff::totp(&secret, &login, &app.keys.tenant)?;
    let url = totp.get_url();
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
        .unwrap_or_default();
    let ctx = context! {
        ..base_anonymous(&app, lang, &pre),
        ..context! { step => "totp", login => login, code => code, qr_svg => minijinja::Value::from_safe_string(qr),
                     secret => totp.get_secret_base32(), otpauth => url }
    };
    Ok(app.render("enrol.html", ctx))
}

/// Step 2: a first TOTP code proves the authenticator works.
async fn enrol_confirm(
    State(app): Shared,
    Extension(pre): Extension<PreCsrf>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let lang = lang_of(&headers);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let login = get("login").trim().to_ascii_lowercase();
    if app.store.finish_enrolment(&app.keys, &login, get("code"), get("totp")).await? {
        return Ok(app.render(
            "login.html",
            context! { ..base_anonymous(&app, lang, &pre), ..context! { enrolled => true, login => login } },
        ));
    }
    let mut response = app.render(
        "enrol.html",
        context! { ..base_anonymous(&app, lang, &pre), ..context! { step => "password", error => "totp_invalid", login => login } },
    );
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

#[derive(Deserialize, Default)]
struct InboxQuery {
    form: Option<String>,
    status: Option<String>,
    from: Option<String>,
    until: Option<String>,
    mine: Option<String>,
    page: Option<i64>,
}

/// "2026-11-25" as the start of that day in Japan, unix seconds.
fn day_start(text: &str) -> Option<i64> {
    let date = forms::wareki::parse_date(text)?;
    let jst = time::UtcOffset::from_hms(9, 0, 0).ok()?;
    Some(date.midnight().assume_offset(jst).unix_timestamp())
}

async fn form_title(app: &DeskApp, form_id: &str, version: Option<i64>, lang: Lang) -> String {
    let text = match version {
        Some(version) => app.store.form(form_id, version).await,
        None => app.store.latest_form(form_id).await.map(|latest| latest.map(|(_, text)| text)),
    };
    match text {
        Ok(Some(text)) => {
            FormDefinition::parse(&text).map(|d| d.title.get(lang).to_owned()).unwrap_or_else(|_| form_id.into())
        }
        _ => form_id.to_owned(),
    }
}

async fn inbox(State(app): Shared, headers: HeaderMap, Query(q): Query<InboxQuery>) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let lang = session.lang;
    const PAGE: i64 = 50;
    let filter = RecordFilter {
        form_id: q.form.clone().filter(|f| !f.is_empty()),
        status: q.status.as_deref().and_then(SubmissionStatus::parse),
        from: q.from.as_deref().and_then(day_start),
        until: q.until.as_deref().and_then(day_start).map(|start| start + 86_400),
        assigned_to: q.mine.is_some().then(|| session.staff.login.clone()),
    };
    let page = q.page.unwrap_or(0).max(0);
    let records = app.store.list_records(&filter, PAGE + 1, page * PAGE).await?;
    let more = records.len() as i64 > PAGE;
    let mut titles: BTreeMap<(String, i64), String> = BTreeMap::new();
    let mut rows = Vec::new();
    for r in records.iter().take(PAGE as usize) {
        let key = (r.form_id.clone(), r.form_version);
        if !titles.contains_key(&key) {
            titles.insert(key.clone(), form_title(&app, &r.form_id, Some(r.form_version), lang).await);
        }
        rows.push(context! {
            receipt => r.receipt.to_string(),
            form => titles.get(&key).cloned().unwrap_or_default(),
            received_at => format_jst(r.received_at),
            status => status_label(r.status, lang),
            assigned_to => r.assigned_to,
        });
    }
    let mut forms = Vec::new();
    for (form_id, count) in app.store.form_counts().await? {
        let booking = latest_definition(&app, &form_id)
            .await
            .ok()
            .flatten()
            .is_some_and(|def| crate::schedule::booking_field(&def).is_some());
        let title = form_title(&app, &form_id, None, lang).await;
        forms.push(context! { id => form_id.clone(), title, count, booking });
    }
    let statuses: Vec<_> = SubmissionStatus::ALL
        .into_iter()
        .map(|s| context! { value => s.as_str(), label => status_label(s, lang) })
        .collect();
    let ctx = context! {
        ..base(&app, lang, Some(&session)),
        ..context! {
            rows, forms, statuses, more, page,
            filter => context! { form => q.form, status => q.status, from => q.from, until => q.until, mine => q.mine.is_some() },
        }
    };
    Ok(app.render("inbox.html", ctx))
}

fn parse_receipt(text: &str) -> Option<ReceiptNumber> {
    ReceiptNumber::parse(text)
}

async fn record_page(
    State(app): Shared,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Path(receipt): Path<String>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let lang = session.lang;
    let Some(receipt) = parse_receipt(&receipt) else {
        return Ok((StatusCode::NOT_FOUND, "not found").into_response());
    };
    let Some((record, payload)) = app.store.open_record(&app.keys, receipt).await? else {
        return Ok((StatusCode::NOT_FOUND, "not found").into_response());
    };
    // Logged and shown to the watch before anything of it is shown.
    let read = ReadAttempt {
        login: &session.staff.login,
        action: "view",
        receipt: Some(receipt),
        records: 1,
        honeytokens: u64::from(app.store.is_honeytoken(receipt).await?),
        source: source.0.as_deref(),
        detail: "",
    };
    if app.watched(&read).await? == Verdict::Frozen {
        return Ok(app.frozen_page(lang));
    }
    let definition = app.store.form(&record.form_id, record.form_version).await?.unwrap_or_default();
    let def = FormDefinition::parse(&definition).map_err(|e| DeskError::Setup(format!("form definition: {e}")))?;
    let submission: Option<forms::Submission> = serde_json::from_value(payload).ok();
    let fields: Vec<_> = def
        .fields
        .iter()
        .map(|field| {
            let answer = submission.as_ref().and_then(|s| s.values.get(&field.name));
            // Files are listed one by one, each a download.
            let files: Vec<_> = match answer {
                Some(forms::Value::Files(files)) => files
                    .iter()
                    .map(|f| {
                        let label = def.display_value(field, &forms::Value::Files(vec![f.clone()]), lang);
                        context! { id => f.id.clone(), label }
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let value = answer.map(|v| def.display_value(field, v, lang));
            context! { label => field.label.get(lang), value, files }
        })
        .collect();
    let status = SubmissionStatus::parse(&record.status).unwrap_or(SubmissionStatus::Received);
    let next: Vec<_> = allowed_next(status)
        .iter()
        .map(|s| context! { value => s.as_str(), label => status_label(*s, lang) })
        .collect();
    let history: Vec<_> = app
        .store
        .history(&app.keys, receipt)
        .await?
        .into_iter()
        .map(|h| context! { status => status_label(h.status, lang), message => h.message, actor => h.actor, at => format_jst(h.at) })
        .collect();
    let comments: Vec<_> = app
        .store
        .comments(&app.keys, receipt)
        .await?
        .into_iter()
        .map(|c| context! { actor => c.actor, at => format_jst(c.at), body => c.body })
        .collect();
    // Only staff who may work a record can be given one.
    let assignees: Vec<_> = app
        .store
        .all_staff()
        .await?
        .into_iter()
        .filter(|s| identity::allows(s.role, Action::ProcessSubmissions))
        .map(|s| context! { login => s.login, name => s.display_name })
        .collect();
    let assigned = record.assigned_to.clone();
    // A verified survey's answer says how the respondent proved who they
    // are and what was found true of them; never who they are.
    let strings = strings(lang);
    let verified = submission.as_ref().and_then(|s| s.verified.as_ref()).map(|v| {
        let method = strings.get(format!("verified_{}", v.method.key()).as_str()).copied().unwrap_or_default();
        let met: Vec<&str> =
            v.met.iter().filter_map(|r| strings.get(format!("verified_{}", r.key()).as_str()).copied()).collect();
        if met.is_empty() {
            method.to_owned()
        } else {
            format!("{method}（{}）", met.join("・"))
        }
    });
    let ctx = context! {
        ..base(&app, lang, Some(&session)),
        ..context! {
            receipt => receipt.to_string(),
            title => def.title.get(lang),
            received_at => format_jst(record.received_at),
            status => status_label(status, lang),
            fields, next, history, comments, assignees, assigned, verified,
            record_sha256 => record.record_sha256,
        }
    };
    Ok(app.render("record.html", ctx))
}

/// One attached file of a record, opened as it is sent: logged and shown
/// to the watch first, like opening the record, and always a download
/// (never shown inline, so a crafted file cannot run in the desk's origin).
async fn download_file(
    State(app): Shared,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Path((receipt, file_id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let not_found = || Ok((StatusCode::NOT_FOUND, "not found").into_response());
    let Some(receipt) = parse_receipt(&receipt) else { return not_found() };
    let Some((record, payload)) = app.store.open_record(&app.keys, receipt).await? else { return not_found() };
    let submission: Option<forms::Submission> = serde_json::from_value(payload).ok();
    let Some(file) = submission.as_ref().and_then(|s| s.files().find(|f| f.id == file_id).cloned()) else {
        return not_found();
    };
    let Some(pieces) = app.store.attachment_pieces(receipt, &file.id).await? else { return not_found() };
    // The access log names the file by its id: its name is personal data.
    let read = ReadAttempt {
        login: &session.staff.login,
        action: "download",
        receipt: Some(receipt),
        records: 1,
        honeytokens: 0,
        source: source.0.as_deref(),
        detail: &file.id,
    };
    if app.watched(&read).await? == Verdict::Frozen {
        return Ok(app.frozen_page(session.lang));
    }
    let body = app.store.open_attachment(&app.keys, receipt, &record.form_id, &file, pieces);
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.file_type.media_type()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&content_disposition(&file.name, file.file_type.extension())) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `attachment` with an ASCII fallback name and the real one in UTF-8
/// (RFC 6266 / 5987), so 住民票.pdf saves as 住民票.pdf.
fn content_disposition(name: &str, extension: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_');
    let ascii: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    let fallback =
        if ascii.trim_matches('.').is_empty() || !ascii.contains('.') { format!("file.{extension}") } else { ascii };
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(name, KEEP)
    )
}

/// What every POST on a record checks first (after the guard checked the
/// role and the CSRF token): a session and a well-formed 到達番号. `Err` is
/// the answer to give instead.
async fn record_action(
    app: &DeskApp,
    headers: &HeaderMap,
    receipt: &str,
) -> Result<Result<(Session, ReceiptNumber), Response>, WebError> {
    let Some(session) = session(app, headers).await? else { return Ok(Err(Redirect::to("/login").into_response())) };
    match parse_receipt(receipt) {
        Some(receipt) => Ok(Ok((session, receipt))),
        None => Ok(Err((StatusCode::NOT_FOUND, "not found").into_response())),
    }
}

fn back_to(receipt: ReceiptNumber) -> Response {
    Redirect::to(&format!("/records/{receipt}")).into_response()
}

async fn change_status(
    State(app): Shared,
    headers: HeaderMap,
    Path(receipt): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let (session, receipt) = match record_action(&app, &headers, &receipt).await? {
        Ok(gate) => gate,
        Err(refused) => return Ok(refused),
    };
    let Some(to) = form.get("status").and_then(|s| SubmissionStatus::parse(s)) else {
        return Ok((StatusCode::BAD_REQUEST, "bad status").into_response());
    };
    let message = form.get("message").map(String::as_str);
    match app.store.set_status(&app.keys, receipt, to, message, &session.staff.login).await {
        Ok(()) => {}
        Err(DeskError::BadRecord { reason, .. }) => {
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(format!(
                "<!doctype html><html lang=\"ja\"><title>422</title><p>{}</p><p><a href=\"/records/{receipt}\">戻る / Back</a></p></html>",
                minijinja::HtmlEscape(&reason)
            )))
            .into_response())
        }
        Err(err) => return Err(err.into()),
    }
    // Tell the counter now; if it is unreachable the background sync retries.
    if let Err(err) = app.push_pending().await {
        tracing::warn!(error = %err, "status push failed; will retry");
    }
    Ok(back_to(receipt))
}

async fn comment(
    State(app): Shared,
    headers: HeaderMap,
    Path(receipt): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let (session, receipt) = match record_action(&app, &headers, &receipt).await? {
        Ok(gate) => gate,
        Err(refused) => return Ok(refused),
    };
    let body = form.get("body").map(|b| b.trim()).unwrap_or("");
    if !body.is_empty() {
        app.store.add_comment(&app.keys, receipt, &session.staff.login, body).await?;
    }
    Ok(back_to(receipt))
}

async fn assign(
    State(app): Shared,
    headers: HeaderMap,
    Path(receipt): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let (session, receipt) = match record_action(&app, &headers, &receipt).await? {
        Ok(gate) => gate,
        Err(refused) => return Ok(refused),
    };
    let to = form.get("login").map(String::as_str).filter(|l| !l.is_empty());
    if let Some(login) = to {
        if app.store.staff(login).await?.is_none() {
            return Ok((StatusCode::BAD_REQUEST, "no such staff member").into_response());
        }
    }
    app.store.assign(receipt, to, &session.staff.login).await?;
    Ok(back_to(receipt))
}

async fn sync_now(State(app): Shared) -> Result<Response, WebError> {
    if let Err(err) = app.sync_once().await {
        tracing::warn!(error = %err, "sync requested by staff failed");
    }
    Ok(Redirect::to("/").into_response())
}

#[derive(Deserialize)]
struct ExportQuery {
    form: String,
    encoding: Option<String>,
}

/// Streams a form's records as CSV, a page of records at a time, so a
/// large export never sits whole in memory. Before the first byte the
/// export is logged with who made it and how many records it holds, and
/// shown to the watch: a freeze sends nothing.
async fn export(
    State(app): Shared,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let encoding = q.encoding.as_deref().and_then(CsvEncoding::from_param).unwrap_or_default();
    // The labels of the newest version this desk knows.
    let Some((_, definition)) = app.store.latest_form(&q.form).await? else {
        return Ok((StatusCode::NOT_FOUND, "no such form").into_response());
    };
    let def = FormDefinition::parse(&definition).map_err(|e| DeskError::Setup(format!("form definition: {e}")))?;
    let (records, upto) = app.store.export_extent(&q.form).await?;
    let detail = format!("form {} · {} · ", q.form, encoding.param());
    let read = ReadAttempt {
        login: &session.staff.login,
        action: "export",
        receipt: None,
        records,
        honeytokens: 0,
        source: source.0.as_deref(),
        detail: &detail,
    };
    if app.watched(&read).await? == Verdict::Frozen {
        return Ok(app.frozen_page(session.lang));
    }
    let mut csv = CsvExport::new(&def, encoding, session.lang);
    let header_bytes = csv.header();
    struct Cursor {
        app: Arc<DeskApp>,
        csv: CsvExport,
        after: ReceiptNumber,
        upto: ReceiptNumber,
        done: bool,
        form_id: String,
    }
    let state =
        Cursor { app: Arc::clone(&app), csv, after: ReceiptNumber::START, upto, done: false, form_id: q.form.clone() };
    let rows = futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let page = match st.app.store.export_page(&st.form_id, st.after, st.upto, 500).await {
            Ok(page) => page,
            Err(err) => return Some((Err(std::io::Error::other(err.to_string())), Cursor { done: true, ..st })),
        };
        if page.is_empty() {
            return None;
        }
        let mut chunk = Vec::with_capacity(page.len() * 256);
        for record in &page {
            let payload = match crate::store::open_payload(&st.app.keys, record) {
                Ok(payload) => payload,
                Err(err) => return Some((Err(std::io::Error::other(err.to_string())), Cursor { done: true, ..st })),
            };
            chunk.extend(st.csv.row(&ExportRow {
                receipt: &record.receipt.to_string(),
                received_at: record.received_at,
                status: &record.status,
                form_version: record.form_version,
                payload: &payload,
            }));
        }
        st.after = page.last().map(|r| r.receipt).unwrap_or(st.after);
        Some((Ok(Bytes::from(chunk)), st))
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(header_bytes)) }).chain(rows);
    let filename = format!("{}-{}.csv", q.form, encoding.param());
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The newest definition of a form this desk holds records of.
async fn latest_definition(app: &DeskApp, form_id: &str) -> Result<Option<FormDefinition>, WebError> {
    let Some((_, text)) = app.store.latest_form(form_id).await? else { return Ok(None) };
    Ok(Some(FormDefinition::parse(&text).map_err(|e| DeskError::Setup(format!("form definition: {e}")))?))
}

/// Opens a form's records a page at a time and gives each payload to
/// `each`, so a large survey never sits whole in memory. The store's
/// export pages leave synthetic applicants (honeytokens) out: they are not
/// real answers, so they are in no count, and since they are in no list
/// either, the answers page never shows one (a clerk paging through
/// comments must not be frozen for reading what the desk planted).
async fn each_payload(
    app: &DeskApp,
    form_id: &str,
    mut each: impl FnMut(&crate::StoredRecord, &serde_json::Value),
) -> crate::Result<()> {
    let (_, upto) = app.store.export_extent(form_id).await?;
    let mut after = ReceiptNumber::START;
    loop {
        let page = app.store.export_page(form_id, after, upto, 500).await?;
        let Some(last) = page.last() else { return Ok(()) };
        after = last.receipt;
        for record in &page {
            each(record, &crate::store::open_payload(&app.keys, record)?);
        }
    }
}

async fn tally(app: &DeskApp, form_id: &str, def: &FormDefinition, lang: Lang) -> crate::Result<FormResults> {
    let mut tally = Tally::new(def);
    each_payload(app, form_id, |_, payload| tally.add(payload)).await?;
    Ok(tally.finish(lang))
}

/// Logs a look at a form's counts. The counts are not the content of any
/// record, so, like the counter's console showing receipt data, the read
/// is shown to the watch as 0 records: a clerk looking at a survey of
/// 5,000 answers must not be frozen for it, while the networks and
/// addresses the account is used from still count. The free-text answers
/// are content and are counted on their own page.
async fn watched_counts(
    app: &Arc<DeskApp>,
    session: &Session,
    source: &Source,
    action: &str,
    detail: &str,
) -> Result<Verdict, WebError> {
    let read = ReadAttempt {
        login: &session.staff.login,
        action,
        receipt: None,
        records: 0,
        honeytokens: 0,
        source: source.0.as_deref(),
        detail,
    };
    Ok(app.watched(&read).await?)
}

/// One row of a result's table: label, count, percent as shown.
fn result_row(label: &str, count: u64, percent: f64) -> minijinja::Value {
    context! { label => label, count => count, percent => format_percent(percent) }
}

/// The results page's view of one question: its chart (SVG, escaped by
/// `charts`), the same figures as a table, and its statistics.
fn question_view(question: &Question, respondents: u64, lang: Lang) -> minijinja::Value {
    let t = strings(lang);
    let chart_id = format!("chart-{}", question.name);
    match &question.summary {
        Summary::Choice { multiple, options, unanswered, other } => {
            let not_answered = t.get("not_answered_short").copied().unwrap_or_default();
            let other_label = t.get("other_answer").copied().unwrap_or_default();
            let mut bars: Vec<Bar<'_>> = options
                .iter()
                .map(|o| Bar { label: &o.label, count: o.count, percent: o.percent, muted: false })
                .collect();
            if *other > 0 {
                bars.push(Bar {
                    label: other_label,
                    count: *other,
                    percent: percent(*other, respondents),
                    muted: true,
                });
            }
            bars.push(Bar {
                label: not_answered,
                count: *unanswered,
                percent: percent(*unanswered, respondents),
                muted: true,
            });
            let rows: Vec<_> = bars.iter().map(|b| result_row(b.label, b.count, b.percent)).collect();
            let title = format!("{}（{}）", question.label, t.get("chart_of").copied().unwrap_or_default());
            context! {
                name => question.name, label => question.label, kind => "choice", multiple => multiple,
                chart => minijinja::Value::from_safe_string(bar_chart(&chart_id, &title, &bars, lang)),
                rows, base => respondents,
            }
        }
        Summary::Scale { points, answered, unanswered, other, mean, .. } => {
            let bars: Vec<Bar<'_>> = points
                .iter()
                .map(|p| Bar { label: &p.label, count: p.count, percent: p.percent, muted: false })
                .collect();
            let rows: Vec<_> = bars.iter().map(|b| result_row(b.label, b.count, b.percent)).collect();
            let title = format!("{}（{}）", question.label, t.get("chart_of").copied().unwrap_or_default());
            context! {
                name => question.name, label => question.label, kind => "scale",
                chart => minijinja::Value::from_safe_string(bar_chart(&chart_id, &title, &bars, lang)),
                rows, base => answered, answered, unanswered, other,
                mean => mean.map(|m| format!("{m:.2}")),
            }
        }
        Summary::Number { answered, unanswered, mean, min, max } => context! {
            name => question.name, label => question.label, kind => "number", answered, unanswered,
            mean => mean.map(format_number), min => min.map(format_number), max => max.map(format_number),
        },
        Summary::Answers { answered, unanswered, listable } => context! {
            name => question.name, label => question.label, kind => "answers", answered, unanswered, listable,
        },
    }
}

/// 集計: what a form's answers add up to, per question, with a chart and
/// a table for each choice and scale. Counts only: free text is counted
/// here and read on its own, watched page.
async fn schedule_page(State(app): Shared, headers: HeaderMap, Path(form): Path<String>) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    render_schedule(&app, &session, &form, None, None, StatusCode::OK).await
}

/// Sets the schedule: checked here (every problem shown), then published
/// by the counter as the form's next version.
async fn set_schedule(
    State(app): Shared,
    headers: HeaderMap,
    Path(form): Path<String>,
    Form(posted): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let Some((_, def)) = app.client.current_form(&app.keys, &app.store, &form).await? else {
        return Ok((StatusCode::NOT_FOUND, "no such form").into_response());
    };
    let Some((field, _)) = crate::schedule::booking_field(&def) else {
        return Ok((StatusCode::NOT_FOUND, "no booking field").into_response());
    };
    let field = field.to_owned();
    let wanted = crate::schedule::from_posted(&posted);
    if let Err(problems) = crate::schedule::apply(&def, &field, &wanted) {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return render_schedule(&app, &session, &form, Some((wanted, problems)), None, status).await;
    }
    let change = counter::sync::ScheduleChange { field, schedule: wanted };
    let version = app.client.set_schedule(&app.keys, &form, &change).await?;
    app.store.log_access(&session.staff.login, "schedule", None, &format!("{form} v{version}")).await?;
    render_schedule(&app, &session, &form, None, Some(version), StatusCode::OK).await
}

/// The schedule editor for `form`: as published, or as posted with its
/// problems.
async fn render_schedule(
    app: &DeskApp,
    session: &Session,
    form: &str,
    posted: Option<(forms::FieldKind, Vec<String>)>,
    published: Option<i64>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let lang = session.lang;
    let Some((version, def)) = app.client.current_form(&app.keys, &app.store, form).await? else {
        return Ok((StatusCode::NOT_FOUND, "no such form").into_response());
    };
    let Some((field, current)) = crate::schedule::booking_field(&def) else {
        return Ok((StatusCode::NOT_FOUND, "no booking field").into_response());
    };
    let (shown, problems) = match &posted {
        Some((wanted, problems)) => (wanted, problems.clone()),
        None => (current, Vec::new()),
    };
    let today = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).date();
    let ctx = context! {
        ..base(app, lang, Some(session)),
        ..context! {
            form, field, version, published, problems,
            title => def.title.get(lang),
            schedule => crate::schedule::view(shown, today, lang),
        }
    };
    let mut response = app.render("schedule.html", ctx);
    *response.status_mut() = status;
    Ok(response)
}

async fn results_page(
    State(app): Shared,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Path(form): Path<String>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let lang = session.lang;
    let Some(def) = latest_definition(&app, &form).await? else {
        return Ok((StatusCode::NOT_FOUND, "no such form").into_response());
    };
    let detail = format!("survey results of form {form} (counts only) · ");
    if watched_counts(&app, &session, &source, "view", &detail).await? == Verdict::Frozen {
        return Ok(app.frozen_page(lang));
    }
    let results = tally(&app, &form, &def, lang).await?;
    let questions: Vec<_> = results.questions.iter().map(|q| question_view(q, results.respondents, lang)).collect();
    let ctx = context! {
        ..base(&app, lang, Some(&session)),
        ..context! {
            form => form, title => def.title.get(lang), anonymous => def.anonymous,
            respondents => results.respondents, questions,
        }
    };
    Ok(app.render("results.html", ctx))
}

#[derive(Deserialize, Default)]
struct ResultsQuery {
    encoding: Option<String>,
    page: Option<i64>,
}

/// The results' counts as CSV (UTF-8 with a BOM, or Shift_JIS): never an
/// answer's text. Logged as an export of 0 records (see `watched_counts`).
async fn results_csv(
    State(app): Shared,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Path(form): Path<String>,
    Query(q): Query<ResultsQuery>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let encoding = q.encoding.as_deref().and_then(CsvEncoding::from_param).unwrap_or_default();
    let Some(def) = latest_definition(&app, &form).await? else {
        return Ok((StatusCode::NOT_FOUND, "no such form").into_response());
    };
    let detail = format!("survey results of form {form} · {} (counts only) · ", encoding.param());
    if watched_counts(&app, &session, &source, "export", &detail).await? == Verdict::Frozen {
        return Ok(app.frozen_page(session.lang));
    }
    let results = tally(&app, &form, &def, session.lang).await?;
    let mut response = Response::new(Body::from(crate::results::to_csv(&results, encoding, session.lang)));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()));
    let filename = format!("{form}-results-{}.csv", encoding.param());
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Free-text answers on a page.
const ANSWERS_PAGE: u64 = 50;

/// The free-text answers to one question, 50 a page. Reading them is
/// reading records: the answers shown are counted as records, logged and
/// shown to the watch before anything is sent, exactly like a record page.
async fn answers_page(
    State(app): Shared,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Path((form, field)): Path<(String, String)>,
    Query(q): Query<ResultsQuery>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let lang = session.lang;
    let Some(def) = latest_definition(&app, &form).await? else {
        return Ok((StatusCode::NOT_FOUND, "no such form").into_response());
    };
    // Free text only: a name or an address is read on its record.
    let Some(question) = def.fields.iter().find(|f| f.name == field && crate::results::is_free_text(&f.kind)) else {
        return Ok((StatusCode::NOT_FOUND, "no such question").into_response());
    };
    // A page number is typed by whoever edits the address: saturating,
    // so a huge one is an empty page, not an overflow.
    let page = q.page.unwrap_or(0).max(0) as u64;
    let first = page.saturating_mul(ANSWERS_PAGE);
    let end = first.saturating_add(ANSWERS_PAGE);
    // Only this page's answers are kept; the others are only counted.
    let mut total = 0u64;
    let mut answers = Vec::new();
    each_payload(&app, &form, |record, payload| {
        if let Some(text) = crate::results::free_text(payload, &field) {
            if (first..end).contains(&total) {
                answers.push(context! {
                    receipt => record.receipt.to_string(), received_at => format_jst(record.received_at), text,
                });
            }
            total += 1;
        }
    })
    .await?;
    let read = ReadAttempt {
        login: &session.staff.login,
        action: "view",
        receipt: None,
        records: answers.len() as u64,
        honeytokens: 0,
        source: source.0.as_deref(),
        detail: &format!("free-text answers to form {form} question {field}, page {} · ", page.saturating_add(1)),
    };
    if app.watched(&read).await? == Verdict::Frozen {
        return Ok(app.frozen_page(lang));
    }
    let shown = answers.len() as u64;
    let ctx = context! {
        ..base(&app, lang, Some(&session)),
        ..context! {
            form => form, field => field, title => def.title.get(lang), question => question.label.get(lang),
            answers, total, page, first => first.saturating_add(1), last => first.saturating_add(shown),
            more => first.saturating_add(shown) < total,
        }
    };
    Ok(app.render("answers.html", ctx))
}

/// The tenant admin's page: who works on this desk, with what role; new
/// accounts (an enrolment code to hand over), and lifting locks.
async fn staff_page(State(app): Shared, headers: HeaderMap) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    render_staff(&app, &session, None).await
}

async fn render_staff(
    app: &DeskApp,
    session: &Session,
    outcome: Option<minijinja::Value>,
) -> Result<Response, WebError> {
    let staff = app.store.all_staff().await?;
    let mut frozen = Vec::new();
    for member in staff.iter().filter(|s| s.frozen) {
        if let Some(freeze) = app.store.freeze_of(&member.login).await? {
            frozen.push(context! { login => member.login, at => format_jst(freeze.at), reason => freeze.reason });
        }
    }
    let members: Vec<_> = staff
        .into_iter()
        .map(|s| {
            context! {
                login => s.login, name => s.display_name, role => s.role.as_str(), enrolled => s.enrolled,
                locked => s.locked, failures => s.failures, frozen => s.frozen,
            }
        })
        .collect();
    let roles: Vec<&str> = Role::ALL.iter().filter(|r| r.is_per_tenant()).map(|r| r.as_str()).collect();
    let ctx = context! { ..base(app, session.lang, Some(session)), ..context! { members, roles, outcome, frozen } };
    Ok(app.render("staff.html", ctx))
}

/// The staff page after an action: 422 when the outcome names an error.
async fn staff_outcome(app: &DeskApp, session: &Session, outcome: minijinja::Value) -> Result<Response, WebError> {
    let failed = outcome.get_attr("error").map(|e| !e.is_undefined()).unwrap_or(false);
    let mut response = render_staff(app, session, Some(outcome)).await?;
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

async fn add_staff(
    State(app): Shared,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let login = get("login").trim().to_ascii_lowercase();
    let name = forms::nfkc(get("name").trim());
    let role = Role::parse(get("role")).filter(|r| r.is_per_tenant());
    let outcome = match role {
        _ if !identity::valid_login(&login) => context! { error => "login_id_invalid" },
        _ if name.is_empty() => context! { error => "display_name_missing" },
        None => context! { error => "role_invalid" },
        Some(_) if app.store.staff(&login).await?.is_some_and(|s| s.enrolled) => context! { error => "login_id_taken" },
        Some(role) => {
            let code = app.store.add_staff(&login, &name, role).await?;
            app.store
                .log_access(&session.staff.login, "staff-added", None, &format!("{login} {}", role.as_str()))
                .await?;
            context! { created => login, code => code }
        }
    };
    staff_outcome(&app, &session, outcome).await
}

async fn unlock_staff(State(app): Shared, headers: HeaderMap, Path(login): Path<String>) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    if !app.store.unlock_staff(&login, &session.staff.login).await? {
        return Ok((StatusCode::NOT_FOUND, "not found").into_response());
    }
    Ok(Redirect::to("/staff").into_response())
}

/// Lifts a freeze after review: the tenant admin confirms with a fresh
/// code from their own authenticator and says what the review found; the
/// lift is logged for the counter's ledger with both.
async fn unfreeze_staff(
    State(app): Shared,
    headers: HeaderMap,
    Path(login): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let session = signed_in!(app, headers);
    let get = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or("");
    let note = forms::nfkc(get("note"));
    let outcome = if note.is_empty() {
        context! { error => "review_note_missing" }
    } else if !app.store.check_totp(&app.keys, &session.staff.login, get("totp")).await? {
        context! { error => "step_up_failed" }
    } else if app.store.unfreeze_staff(&login, &session.staff.login, &note).await? {
        context! { unfrozen => login }
    } else {
        return Ok((StatusCode::NOT_FOUND, "not found").into_response());
    };
    staff_outcome(&app, &session, outcome).await
}
