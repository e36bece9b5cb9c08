//! The admin console: staff sign-in (password, then TOTP, a passkey or a
//! recovery code), enrolment, and the pages of each role. No page here
//! shows a resident's data: the counter has none in plaintext.
//!
//! Authorisation happens in one place, [`guard`]: every admin route is
//! listed in [`ROUTES`] with what it needs; a route not listed is refused
//! (deny by default). The guard also checks the CSRF token of every POST.

mod auth;
mod builder;
mod console;
mod crisis;
mod passkeys;
mod rooms;
mod strings;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use forms::Lang;
use identity::{Access, Action};
use minijinja::{context, Environment};
use store::{StaffAccount, StaffSession};

use crate::{request, Counter, PageError};

pub(crate) use passkeys::Passkeys;

const COOKIE: &str = "madoguchi_admin";
/// Double-submit CSRF token for forms shown before sign-in.
const PRE_COOKIE: &str = "madoguchi_admin_pre";
const LANG_COOKIE: &str = "madoguchi_admin_lang";
/// Admin forms are small (the largest, a public comment's closing report
/// with an answer to each opinion, in Japanese percent-encoded at nine
/// bytes a character); a larger body is refused before it is read.
const MAX_FORM_BYTES: usize = 512 * 1024;

/// Every admin route and what it needs. The guard looks requests up here;
/// the route×role test walks this table.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/admin", Access::SignedIn),
    ("GET", "/admin/login", Access::Anyone),
    ("POST", "/admin/login", Access::Anyone),
    ("GET", "/admin/enrol", Access::Anyone),
    ("POST", "/admin/enrol", Access::Anyone),
    ("POST", "/admin/enrol/confirm", Access::Anyone),
    ("GET", "/admin/lang/{to}", Access::Anyone),
    ("GET", "/admin/passkey.js", Access::Anyone),
    ("GET", "/admin/login/second", Access::SecondFactorDue),
    ("POST", "/admin/login/second", Access::SecondFactorDue),
    ("POST", "/admin/login/passkey/start", Access::SecondFactorDue),
    ("POST", "/admin/login/passkey/finish", Access::SecondFactorDue),
    ("POST", "/admin/logout", Access::SignedIn),
    ("GET", "/admin/account", Access::SignedIn),
    ("POST", "/admin/account/sign-out-everywhere", Access::SignedIn),
    ("POST", "/admin/account/recovery-codes", Access::SignedIn),
    ("POST", "/admin/account/passkeys/start", Access::SignedIn),
    ("POST", "/admin/account/passkeys/finish", Access::SignedIn),
    ("GET", "/admin/tenants", Access::Can(Action::ManageTenants)),
    ("POST", "/admin/tenants", Access::Can(Action::ManageTenants)),
    ("GET", "/admin/operators", Access::Can(Action::ManageOperators)),
    ("POST", "/admin/operators", Access::Can(Action::ManageOperators)),
    ("GET", "/admin/shield", Access::Can(Action::ManageTenants)),
    ("POST", "/admin/shield/{tenant}/under-attack", Access::Can(Action::ManageTenants)),
    ("POST", "/admin/shield/{tenant}/isolation", Access::Can(Action::ManageTenants)),
    ("GET", "/admin/ledger", Access::Can(Action::ViewLedger)),
    ("GET", "/admin/ledger.csv", Access::Can(Action::ViewLedger)),
    ("GET", "/admin/t/{tenant}/staff", Access::Can(Action::ManageStaff)),
    ("POST", "/admin/t/{tenant}/staff", Access::Can(Action::ManageStaff)),
    ("POST", "/admin/t/{tenant}/staff/{login}/unlock", Access::Can(Action::ManageStaff)),
    ("POST", "/admin/t/{tenant}/staff/{login}/reset", Access::Can(Action::ManageStaff)),
    ("POST", "/admin/t/{tenant}/desks/{desk}/resume", Access::Can(Action::ManageStaff)),
    ("GET", "/admin/t/{tenant}/forms", Access::Can(Action::ManageForms)),
    ("GET", "/admin/t/{tenant}/forms/new", Access::Can(Action::ManageForms)),
    ("POST", "/admin/t/{tenant}/forms/builder", Access::Can(Action::ManageForms)),
    ("GET", "/admin/t/{tenant}/forms/import", Access::Can(Action::ManageForms)),
    ("POST", "/admin/t/{tenant}/forms/import", Access::Can(Action::ManageForms)),
    ("POST", "/admin/t/{tenant}/forms/adopt", Access::Can(Action::ManageForms)),
    ("GET", "/admin/t/{tenant}/forms/{form}/edit", Access::Can(Action::ManageForms)),
    ("GET", "/admin/t/{tenant}/forms/{form}/export.toml", Access::Can(Action::ManageForms)),
    ("GET", "/admin/t/{tenant}/submissions", Access::Can(Action::ViewSubmissions)),
    ("GET", "/admin/t/{tenant}/ledger", Access::Can(Action::ViewLedger)),
    ("GET", "/admin/t/{tenant}/ledger.csv", Access::Can(Action::ViewLedger)),
    ("GET", "/admin/t/{tenant}/crisis", Access::Can(Action::DeclareCrisis)),
    ("POST", "/admin/t/{tenant}/crisis", Access::Can(Action::DeclareCrisis)),
    ("GET", "/admin/t/{tenant}/rooms", Access::Can(Action::ModerateRooms)),
    ("POST", "/admin/t/{tenant}/rooms", Access::Can(Action::ModerateRooms)),
    ("POST", "/admin/t/{tenant}/rooms/settings", Access::Can(Action::ModerateRooms)),
    ("POST", "/admin/t/{tenant}/rooms/rules", Access::Can(Action::ModerateRooms)),
    ("POST", "/admin/t/{tenant}/rooms/participants/{participant}/unlock", Access::Can(Action::ModerateRooms)),
    ("GET", "/admin/t/{tenant}/rooms/{room}", Access::Can(Action::ModerateRooms)),
    ("POST", "/admin/t/{tenant}/rooms/{room}/posts/{post}", Access::Can(Action::ModerateRooms)),
    ("POST", "/admin/t/{tenant}/rooms/{room}/report", Access::Can(Action::ModerateRooms)),
];

pub(crate) fn routes(counter: Arc<Counter>) -> Router<Arc<Counter>> {
    Router::new()
        .route("/admin", get(console::home))
        .route("/admin/login", get(auth::login_page).post(auth::login))
        .route("/admin/enrol", get(auth::enrol_page).post(auth::enrol))
        .route("/admin/enrol/confirm", post(auth::enrol_confirm))
        .route("/admin/lang/{to}", get(switch_lang))
        .route(
            "/admin/passkey.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
                    include_str!("../assets/passkey.js"),
                )
            }),
        )
        .route("/admin/login/second", get(auth::second_page).post(auth::second))
        .route("/admin/login/passkey/start", post(passkeys::login_start))
        .route("/admin/login/passkey/finish", post(passkeys::login_finish))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/account", get(console::account))
        .route("/admin/account/sign-out-everywhere", post(console::sign_out_everywhere))
        .route("/admin/account/recovery-codes", post(console::renew_recovery_codes))
        .route("/admin/account/passkeys/start", post(passkeys::register_start))
        .route("/admin/account/passkeys/finish", post(passkeys::register_finish))
        .route("/admin/tenants", get(console::tenants).post(console::create_tenant))
        .route("/admin/operators", get(console::operators).post(console::create_operator))
        .route("/admin/shield", get(console::shield_status))
        .route("/admin/shield/{tenant}/under-attack", post(console::switch_under_attack))
        .route("/admin/shield/{tenant}/isolation", post(console::switch_isolation))
        .route("/admin/ledger", get(console::ledger))
        .route("/admin/ledger.csv", get(console::ledger_export))
        .route("/admin/t/{tenant}/staff", get(console::staff).post(console::create_staff))
        .route("/admin/t/{tenant}/crisis", get(crisis::page).post(crisis::switch))
        .route("/admin/t/{tenant}/staff/{login}/unlock", post(console::unlock))
        .route("/admin/t/{tenant}/staff/{login}/reset", post(console::reset))
        .route("/admin/t/{tenant}/desks/{desk}/resume", post(console::resume_desk))
        .route("/admin/t/{tenant}/forms", get(builder::forms))
        .route("/admin/t/{tenant}/forms/new", get(builder::new_form))
        .route("/admin/t/{tenant}/forms/builder", post(builder::builder))
        .route("/admin/t/{tenant}/forms/import", get(builder::import_form_page).post(builder::import_form))
        .route("/admin/t/{tenant}/forms/adopt", post(builder::adopt))
        .route("/admin/t/{tenant}/forms/{form}/edit", get(builder::edit_form))
        .route("/admin/t/{tenant}/forms/{form}/export.toml", get(builder::export_form))
        .route("/admin/t/{tenant}/submissions", get(console::submissions))
        .route("/admin/t/{tenant}/ledger", get(console::ledger))
        .route("/admin/t/{tenant}/ledger.csv", get(console::ledger_export))
        .route("/admin/t/{tenant}/rooms", get(rooms::rooms).post(rooms::create_room))
        .route("/admin/t/{tenant}/rooms/settings", post(rooms::save_settings))
        .route("/admin/t/{tenant}/rooms/rules", post(rooms::publish_rules))
        .route("/admin/t/{tenant}/rooms/participants/{participant}/unlock", post(rooms::unlock_participant))
        .route("/admin/t/{tenant}/rooms/{room}", get(rooms::room))
        .route("/admin/t/{tenant}/rooms/{room}/posts/{post}", post(rooms::moderate))
        .route("/admin/t/{tenant}/rooms/{room}/report", post(rooms::closing_report))
        .route_layer(axum::middleware::from_fn_with_state(counter, guard_entry))
}

/// Who is asking, as the guard found out; every admin handler gets it.
#[derive(Clone)]
pub(crate) struct Visitor {
    pub lang: Lang,
    pub source: Option<String>,
    /// The CSRF token to put in this page's forms.
    pub csrf: String,
    pub staff: Option<SignedIn>,
}

#[derive(Clone)]
pub(crate) struct SignedIn {
    pub account: StaffAccount,
    pub session: StaffSession,
    pub cookie: String,
}

impl Visitor {
    pub fn signed_in(&self) -> Result<&SignedIn, PageError> {
        self.staff.as_ref().filter(|s| s.session.verified).ok_or(PageError::Forbidden)
    }

    pub fn login(&self) -> &str {
        self.staff.as_ref().map(|s| s.account.login.as_str()).unwrap_or("")
    }

    pub fn actor(&self) -> store::Actor {
        match &self.staff {
            Some(s) => store::Actor::staff(&s.account.login, self.source.as_deref()),
            None => store::Actor { name: "anonymous".into(), source: self.source.clone() },
        }
    }
}

async fn guard_entry(State(counter): State<Arc<Counter>>, req: Request, next: Next) -> Response {
    match guard(&counter, req, next).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

/// Marks a refusal by the guard (as opposed to an answer of the page), so
/// the route × role table can be checked from outside.
fn denied(mut response: Response) -> Response {
    response.headers_mut().insert("x-access", HeaderValue::from_static("denied"));
    response
}

/// The one place where admin requests are authorised.
async fn guard(counter: &Counter, req: Request, next: Next) -> Result<Response, PageError> {
    let path = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let method = req.method().clone();
    let Some(access) = ROUTES.iter().find(|(m, p, _)| *m == method.as_str() && *p == path).map(|(_, _, a)| *a) else {
        // Deny by default: a route that is not in the table does not exist.
        return Err(PageError::NotFound);
    };
    let (mut parts, body) = req.into_parts();
    let tenant = match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(params) => params.iter().find(|(k, _)| *k == "tenant").map(|(_, v)| v.to_owned()),
        Err(_) => None,
    };
    let mut req = Request::from_parts(parts, body);
    if path.contains("{tenant}") && tenant.is_none() {
        return Err(PageError::NotFound);
    }
    let headers = req.headers().clone();
    let source = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let lang = cookie(&headers, LANG_COOKIE).map(Lang::from_tag).unwrap_or_default();

    let settings = &counter.settings;
    let staff = match cookie(&headers, COOKIE) {
        Some(id) if !id.is_empty() => {
            let session = counter
                .store
                .staff_session(
                    id,
                    settings.staff_session_idle.as_secs() as i64,
                    settings.staff_session_absolute.as_secs() as i64,
                )
                .await?;
            match session {
                Some(session) => counter.store.staff_account(&session.login).await?.map(|account| SignedIn {
                    account,
                    session,
                    cookie: id.to_owned(),
                }),
                None => None,
            }
        }
        _ => None,
    };
    let verified = staff.as_ref().is_some_and(|s| s.session.verified);
    let is_get = method == Method::GET;
    match access {
        Access::Anyone => {}
        Access::SecondFactorDue => match &staff {
            Some(s) if !s.session.verified => {}
            Some(_) => return Ok(denied(Redirect::to("/admin").into_response())),
            None if is_get => return Ok(denied(Redirect::to("/admin/login").into_response())),
            None => return Ok(denied(PageError::Forbidden.into_response())),
        },
        Access::SignedIn | Access::Can(_) if !verified => {
            let response = if is_get {
                Redirect::to("/admin/login").into_response()
            } else {
                PageError::Forbidden.into_response()
            };
            return Ok(denied(response));
        }
        Access::SignedIn => {}
        Access::Can(action) => {
            let grants = staff.as_ref().map(|s| s.account.grants.as_slice()).unwrap_or_default();
            if let Some(tenant) = &tenant {
                if counter.store.tenant(tenant).await?.is_none() {
                    return Err(PageError::NotFound);
                }
            }
            if !grants.iter().any(|g| g.permits(action, tenant.as_deref())) {
                tracing::warn!(path = %path, "admin request refused: no role allows it");
                return Ok(denied(PageError::Forbidden.into_response()));
            }
        }
    }

    // CSRF: a session's token, or before sign-in the double-submit cookie.
    let pre = request::pre_token(&headers, PRE_COOKIE);
    let expected = staff.as_ref().map(|s| s.session.csrf.clone()).or_else(|| pre.clone());
    if method == Method::POST {
        req = match request::check_csrf(req, expected.as_deref(), MAX_FORM_BYTES).await {
            Ok(req) => req,
            Err(request::CsrfRefusal::TooLarge) => return Err(PageError::TooLarge),
            Err(request::CsrfRefusal::Mismatch) => return Ok(denied(PageError::FormExpired.into_response())),
        };
    }
    let (csrf, new_pre_token) = match (&staff, pre) {
        (Some(s), _) => (s.session.csrf.clone(), false),
        (None, Some(pre)) => (pre, false),
        (None, None) => (random_hex(16), true),
    };
    let visitor = Visitor { lang, source, csrf: csrf.clone(), staff };
    req.extensions_mut().insert(visitor);
    let mut response = next.run(req).await;
    if new_pre_token {
        if let Some(value) = request::pre_token_cookie(PRE_COOKIE, &csrf, "/admin", counter.settings.secure_cookies) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

fn secure(counter: &Counter) -> &'static str {
    if counter.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    }
}

/// The session cookie (empty value and `max_age` 0 to clear it).
pub(crate) fn session_cookie(counter: &Counter, value: &str, max_age: i64) -> HeaderValue {
    let text =
        format!("{COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{}", secure(counter));
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

pub(crate) use crate::request::{constant_time_eq, cookie, random_hex};

async fn switch_lang(axum::extract::Path(to): axum::extract::Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::from_tag(&to);
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/admin").map(|i| r[i..].to_owned()))
        .unwrap_or_else(|| "/admin".into());
    let mut response = Redirect::to(&back).into_response();
    let cookie = format!("{LANG_COOKIE}={}; Path=/admin; SameSite=Lax; Max-Age=31536000", lang.tag());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The admin console's templates.
pub(crate) struct AdminPages {
    env: Environment<'static>,
}

impl AdminPages {
    pub fn new() -> AdminPages {
        let mut env = Environment::new();
        for (name, source) in [
            ("admin/base.html", include_str!("../templates/admin/base.html")),
            ("admin/login.html", include_str!("../templates/admin/login.html")),
            ("admin/second.html", include_str!("../templates/admin/second.html")),
            ("admin/enrol.html", include_str!("../templates/admin/enrol.html")),
            ("admin/home.html", include_str!("../templates/admin/home.html")),
            ("admin/account.html", include_str!("../templates/admin/account.html")),
            ("admin/tenants.html", include_str!("../templates/admin/tenants.html")),
            ("admin/staff.html", include_str!("../templates/admin/staff.html")),
            ("admin/ledger.html", include_str!("../templates/admin/ledger.html")),
            ("admin/table.html", include_str!("../templates/admin/table.html")),
            ("admin/shield.html", include_str!("../templates/admin/shield.html")),
            ("admin/crisis.html", include_str!("../templates/admin/crisis.html")),
            ("admin/forms.html", include_str!("../templates/admin/forms.html")),
            ("admin/builder.html", include_str!("../templates/admin/builder.html")),
            ("admin/import.html", include_str!("../templates/admin/import.html")),
            ("admin/rooms.html", include_str!("../templates/admin/rooms.html")),
            ("admin/room.html", include_str!("../templates/admin/room.html")),
        ] {
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "template does not compile");
            }
        }
        AdminPages { env }
    }

    /// Renders `name` with the common context (language, strings, the
    /// signed-in account, CSRF token) and `ctx`.
    pub fn render(&self, visitor: &Visitor, name: &str, ctx: minijinja::Value) -> Result<Response, PageError> {
        let staff = visitor.staff.as_ref().filter(|s| s.session.verified).map(|s| {
            context! { login => s.account.login.clone(), name => s.account.display_name.clone() }
        });
        let base = context! {
            lang => visitor.lang.tag(),
            t => strings::strings(visitor.lang),
            staff => staff,
            csrf => visitor.csrf.clone(),
        };
        let html = self.env.get_template(name).and_then(|t| t.render(context! { ..ctx, ..base })).map_err(|err| {
            tracing::error!(template = name, error = %err, "template failed to render");
            PageError::Internal
        })?;
        Ok(Html(html).into_response())
    }

    pub fn render_status(
        &self,
        visitor: &Visitor,
        status: StatusCode,
        name: &str,
        ctx: minijinja::Value,
    ) -> Result<Response, PageError> {
        let mut response = self.render(visitor, name, ctx)?;
        *response.status_mut() = status;
        Ok(response)
    }
}

/// Form fields as a map; `get` answers "" for a missing one.
pub(crate) struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map(String::as_str).unwrap_or("")
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Fields {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Form(map) = axum::Form::<BTreeMap<String, String>>::from_request(req, state)
            .await
            .map_err(|_| PageError::BadRequest)?;
        Ok(Fields(map))
    }
}

/// "2026-11-25 09:30" in Japan time.
pub(crate) fn format_jst(unix: i64) -> String {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            let t = t.to_offset(jst);
            format!("{}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        })
        .unwrap_or_default()
}
