//! Resident participation on the counter: the 電子会議室 (discussion rooms)
//! and パブリックコメント (public comment) pages of each tenant, under
//! `/t/{tenant}/rooms` (docs/participation.md).
//!
//! Residents register per tenant (rules of use, a public nickname, a login
//! id that is not an e-mail address, a password, whether they are under
//! 18: never an e-mail address, so nothing here can be made to mail
//! anyone), sign in, post, reply and report. Posts are public and their
//! text becomes HTML only through `participation::markup::render`.
//!
//! The participant's session is a cookie holding a TokenBox-sealed token
//! (tenant, participant, the account's session generation, when issued);
//! signing out moves the generation on, which ends every session of the
//! account. Every POST carries a CSRF token in a hidden input: derived from
//! the session token when signed in, a double-submit cookie before.
//! Account data (login ids, passwords, the minor flag) is never logged.

mod account;
mod room;
mod strings;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use forms::Lang;
use http_body_util::BodyExt;
use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};
use store::rooms::Participant;
use store::Tenant;

use crate::pages::{base_context, lang_of};
use crate::request::{constant_time_eq, cookie, random_hex};
use crate::{Counter, PageError};

pub(crate) use account::current_rules;
pub(crate) use strings::get as text;

const SESSION_COOKIE: &str = "madoguchi_rooms";
/// The double-submit CSRF token of forms shown before signing in.
const PRE_COOKIE: &str = "madoguchi_rooms_pre";
const SESSION_PURPOSE: &str = "rooms session v1";
/// A participant's session lasts this long at most.
const SESSION_SECS: i64 = 12 * 3600;
/// The rooms' forms are small (a post is at most 4000 characters); a
/// larger body is refused before it is read.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// How long a client may take to send a form body, in all.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Posts from one network (IPv4 /24, IPv6 /64) across all rooms: at most
/// 30 in 10 minutes and 300 a day. Counted in the database under a keyed
/// hash of the prefix (never the address), with a time to live, so the
/// limit holds across nodes.
const POSTS_PER_NETWORK: &[(i64, i64)] = &[(600, 30), (86_400, 300)];
/// Registrations from one network: at most 20 an hour and 100 a day.
// Generous enough for a class or a community-centre workshop on one
// network (and residents behind a carrier's shared addresses); a real
// flood is the shield's: under-attack mode puts the proof of work first.
const REGISTRATIONS_PER_NETWORK: &[(i64, i64)] = &[(3_600, 20), (86_400, 100)];

/// Room ids that are pages of their own.
const RESERVED_IDS: &[&str] = &["register", "login", "logout"];

pub(crate) fn routes() -> Router<Arc<Counter>> {
    Router::new()
        .route("/t/{tenant}/rooms", get(room::list))
        .route("/t/{tenant}/rooms/register", get(account::register_page).post(account::register))
        .route("/t/{tenant}/rooms/login", get(account::login_page).post(account::login))
        .route("/t/{tenant}/rooms/logout", post(account::logout))
        .route("/t/{tenant}/rooms/{room}", get(room::room_page))
        .route("/t/{tenant}/rooms/{room}/posts", post(room::post))
        .route("/t/{tenant}/rooms/{room}/posts/{post}/report", post(room::report))
        .route("/t/{tenant}/rooms/{room}/report", get(room::closing_report))
        .route("/t/{tenant}/rooms/{room}/report.csv", get(room::closing_report_csv))
}

/// Whether `id` may name a room: lowercase letters, digits and `-`, 1–40,
/// starting with a letter or digit, and not a page of its own.
pub(crate) fn valid_room_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !RESERVED_IDS.contains(&id)
}

/// The rooms' templates, compiled in (with the resident pages' layout).
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("rooms/list.html", include_str!("templates/rooms/list.html")),
        ("rooms/register.html", include_str!("templates/rooms/register.html")),
        ("rooms/login.html", include_str!("templates/rooms/login.html")),
        ("rooms/room.html", include_str!("templates/rooms/room.html")),
        ("rooms/report.html", include_str!("templates/rooms/report.html")),
    ] {
        if let Err(err) = env.add_template(name, source) {
            tracing::error!(template = name, error = %err, "template does not compile");
        }
    }
    env
});

fn render(name: &str, ctx: minijinja::Value) -> Result<String, PageError> {
    TEMPLATES.get_template(name).and_then(|t| t.render(ctx)).map_err(|err| {
        tracing::error!(template = name, error = %err, "template failed to render");
        PageError::Internal
    })
}

/// The page a language switch reloads: the room itself after a post or a
/// report (those paths take POSTs only).
fn page_of(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["t", tenant, "rooms", room, "posts", ..] => format!("/t/{tenant}/rooms/{room}"),
        _ => path.to_owned(),
    }
}

/// What a participant's session cookie holds (sealed).
#[derive(Serialize, Deserialize)]
struct SessionToken {
    tenant: String,
    participant: String,
    generation: i64,
    issued_at: i64,
}

/// Who asks, on which tenant's rooms, in which language.
pub(crate) struct Visitor {
    pub lang: Lang,
    pub uri: Uri,
    pub tenant: Tenant,
    pub participant: Option<Participant>,
    /// The CSRF token this visitor's forms carry.
    pub csrf: String,
    /// Where the token came from: the session, a pre-sign-in cookie, or
    /// nowhere yet (a fresh one, set on the response).
    csrf_from: CsrfFrom,
    /// The client's network (a keyed hash of its /24 or /64).
    pub network: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CsrfFrom {
    Session,
    Cookie,
    Fresh,
}

fn now_unix() -> i64 {
    crate::draft::now_unix()
}

/// Every rooms page starts from its visitor: the tenant of the path
/// (`/t/{tenant}/rooms…`), the language, the participant signed in if any,
/// and the CSRF token their forms carry.
impl axum::extract::FromRequestParts<Arc<Counter>> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, counter: &Arc<Counter>) -> Result<Visitor, PageError> {
        let tenant = parts.uri.path().strip_prefix("/t/").and_then(|rest| rest.split('/').next());
        let tenant = tenant.ok_or(PageError::NotFound)?.to_owned();
        Visitor::load(counter, &tenant, parts).await
    }
}

/// A form posted to a rooms page: its visitor and fields, the CSRF token
/// checked (a POST without the right one is a plain 403 page).
pub(crate) struct Posted {
    pub visitor: Visitor,
    pub fields: Fields,
}

impl axum::extract::FromRequest<Arc<Counter>> for Posted {
    type Rejection = PageError;

    async fn from_request(request: axum::extract::Request, counter: &Arc<Counter>) -> Result<Posted, PageError> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, counter).await?;
        let fields = read_fields(&parts.headers, body).await?;
        visitor.check_csrf(&fields)?;
        Ok(Posted { visitor, fields })
    }
}

impl Visitor {
    pub async fn load(counter: &Counter, tenant: &str, parts: &Parts) -> Result<Visitor, PageError> {
        let tenant = crate::pages::load_tenant(counter, tenant).await?;
        let lang = lang_of(&parts.uri);
        let session = cookie(&parts.headers, SESSION_COOKIE).filter(|v| !v.is_empty());
        let mut participant = None;
        let mut csrf = None;
        if let Some(token) = session {
            if let Some(found) = open_session(counter, &tenant.id, token).await? {
                participant = Some(found);
                csrf = Some(session_csrf(counter, token));
            }
        }
        let (csrf, csrf_from) = match (csrf, crate::request::pre_token(&parts.headers, PRE_COOKIE)) {
            (Some(csrf), _) => (csrf, CsrfFrom::Session),
            (None, Some(pre)) => (pre, CsrfFrom::Cookie),
            (None, None) => (random_hex(16), CsrfFrom::Fresh),
        };
        let network = network_key(counter, parts);
        Ok(Visitor { lang, uri: parts.uri.clone(), tenant, participant, csrf, csrf_from, network })
    }

    /// The context every rooms page has.
    pub fn context(&self, ctx: minijinja::Value) -> minijinja::Value {
        let me = self.participant.as_ref().map(|p| context! { nickname => p.nickname.clone(), minor => p.minor });
        let base = base_context(self.lang, &self.uri, Some(&self.tenant));
        let other = if self.lang == Lang::En { "ja" } else { "en" };
        let other_lang_url = format!("{}?lang={other}", page_of(self.uri.path()));
        let rooms = context! {
            r => strings::strings(self.lang), me => me, csrf => self.csrf.clone(), other_lang_url => other_lang_url,
        };
        // The first of these that has a key gives its value.
        context! { ..ctx, ..rooms, ..base }
    }

    /// `?lang=en` or nothing, for links and redirects.
    pub fn q(&self) -> &'static str {
        if self.lang == Lang::En {
            "?lang=en"
        } else {
            ""
        }
    }

    /// A page, with the pre-sign-in token's cookie when it is new.
    pub fn page(&self, counter: &Counter, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
        match render(name, self.context(ctx)) {
            Ok(body) => self.finish(counter, (status, Html(body)).into_response()),
            Err(err) => err.into_response(),
        }
    }

    fn finish(&self, counter: &Counter, mut response: Response) -> Response {
        if self.csrf_from == CsrfFrom::Fresh {
            let path = format!("/t/{}/rooms", self.tenant.id);
            if let Some(value) =
                crate::request::pre_token_cookie(PRE_COOKIE, &self.csrf, &path, counter.settings.secure_cookies)
            {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }

    /// A POST's `_csrf` against this visitor's token; a token we did not
    /// issue to this browser (or none) is refused with a plain 403 page.
    pub fn check_csrf(&self, fields: &Fields) -> Result<(), PageError> {
        let sent = fields.get("_csrf");
        if self.csrf_from == CsrfFrom::Fresh || !constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            return Err(PageError::FormExpired);
        }
        Ok(())
    }

    /// The signed-in participant, or a plain 403 (a form of a session that
    /// ended).
    pub fn participant(&self) -> Result<&Participant, PageError> {
        self.participant.as_ref().ok_or(PageError::FormExpired)
    }
}

async fn open_session(counter: &Counter, tenant: &str, token: &str) -> Result<Option<Participant>, PageError> {
    let Ok(json) = counter.tokens.open(SESSION_PURPOSE, token) else { return Ok(None) };
    let Ok(session) = serde_json::from_slice::<SessionToken>(&json) else { return Ok(None) };
    let now = now_unix();
    if session.tenant != tenant || session.issued_at > now + 60 || now - session.issued_at > SESSION_SECS {
        return Ok(None);
    }
    let participant = counter.store.participant(tenant, &session.participant).await?;
    Ok(participant.filter(|p| p.generation == session.generation && !p.throttle.locked))
}

/// The CSRF token of a session: only the counter can derive it, and it
/// changes with every session.
fn session_csrf(counter: &Counter, token: &str) -> String {
    hex::encode(&counter.tokens.derive("rooms csrf", token.as_bytes())[..16])
}

fn cookie_value(counter: &Counter, name: &str, value: &str, path: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if counter.settings.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .ok()
}

/// The Set-Cookie headers that start a participant's session: the session
/// itself, and the form session that gives a resident priority while the
/// shield is shedding load.
pub(crate) fn session_cookies(counter: &Counter, participant: &Participant) -> Vec<HeaderValue> {
    let token = SessionToken {
        tenant: participant.tenant.clone(),
        participant: participant.id.clone(),
        generation: participant.generation,
        issued_at: now_unix(),
    };
    // Serialising a plain struct cannot fail.
    let sealed = counter.tokens.seal(SESSION_PURPOSE, &serde_json::to_vec(&token).unwrap_or_default());
    let path = format!("/t/{}/rooms", participant.tenant);
    let mut cookies: Vec<HeaderValue> =
        cookie_value(counter, SESSION_COOKIE, &sealed, &path, SESSION_SECS).into_iter().collect();
    cookies.extend(crate::guard::form_session_cookie(
        &counter.tokens,
        &participant.tenant,
        counter.settings.secure_cookies,
    ));
    cookies
}

/// The Set-Cookie that ends the session cookie in this browser.
pub(crate) fn clear_session_cookie(counter: &Counter, tenant: &str) -> Option<HeaderValue> {
    cookie_value(counter, SESSION_COOKIE, "", &format!("/t/{tenant}/rooms"), 0)
}

/// The client's network as a keyed hash: the shield's idea of the client
/// address (the socket's, or a trusted proxy's X-Forwarded-For), cut to
/// its /24 or /64. The address itself is never kept.
fn network_key(counter: &Counter, parts: &Parts) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let trusted = counter.settings.shield.as_ref().map(|s| s.trusted_proxies.as_slice()).unwrap_or_default();
    let forwarded = forwarded_for(&parts.headers);
    let client = shield::client_address(peer, forwarded.as_deref(), trusted);
    let prefix = match shield::prefix_of(client) {
        shield::Prefix::V4(bytes) => bytes.to_vec(),
        shield::Prefix::V6(bytes) => bytes.to_vec(),
    };
    hex::encode(&counter.tokens.derive("rooms network", &prefix)[..16])
}

/// Every X-Forwarded-For line as one list, as the shield reads them.
fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let lines: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

/// A urlencoded form's fields; `get` answers "" for a missing one.
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn get(&self, key: &str) -> &str {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// Reads a form post, refusing before reading what is too large or not a
/// form, and anything that is not UTF-8 (the pages declare it).
pub(crate) async fn read_fields(headers: &HeaderMap, body: Body) -> Result<Fields, PageError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(PageError::UnsupportedMediaType);
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_FORM_BYTES) {
        return Err(PageError::TooLarge);
    }
    let collected = tokio::time::timeout(BODY_TIMEOUT, http_body_util::Limited::new(body, MAX_FORM_BYTES).collect())
        .await
        .map_err(|_| PageError::TimedOut)?;
    let bytes = collected
        .map_err(|err| {
            if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                PageError::TooLarge
            } else {
                PageError::BadRequest
            }
        })?
        .to_bytes();
    let all_utf8 = bytes
        .split(|b| *b == b'&' || *b == b'=')
        .all(|part| percent_encoding::percent_decode(part).decode_utf8().is_ok());
    if !all_utf8 {
        return Err(PageError::BadRequest);
    }
    serde_urlencoded::from_bytes(&bytes).map(Fields).map_err(|_| PageError::BadRequest)
}

/// A 303 to `location`.
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Unix seconds as residents read them, in Japan time.
pub(crate) fn format_time(unix: i64, lang: Lang) -> String {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(unix) else { return String::new() };
    let at = at.to_offset(jst);
    match lang {
        Lang::Ja => {
            format!("{}年{}月{}日 {:02}時{:02}分", at.year(), u8::from(at.month()), at.day(), at.hour(), at.minute())
        }
        Lang::En => format!("{} {} {} {:02}:{:02} JST", at.day(), at.month(), at.year(), at.hour(), at.minute()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_url_segments_and_never_a_page_of_their_own() {
        for ok in ["plan-2027", "a", "2027-budget"] {
            assert!(valid_room_id(ok), "{ok}");
        }
        for bad in ["", "-x", "Plan", "計画", "a b", "register", "login", "logout", &"x".repeat(41)] {
            assert!(!valid_room_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_language_switch_after_a_post_reloads_the_room() {
        assert_eq!(page_of("/t/aoba-city/rooms/kouen/posts"), "/t/aoba-city/rooms/kouen");
        assert_eq!(page_of("/t/aoba-city/rooms/kouen/posts/3/report"), "/t/aoba-city/rooms/kouen");
        assert_eq!(page_of("/t/aoba-city/rooms/register"), "/t/aoba-city/rooms/register");
        assert_eq!(page_of("/t/aoba-city/rooms/posts"), "/t/aoba-city/rooms/posts", "a room may be called posts");
    }

    #[test]
    fn every_rooms_template_compiles() {
        for name in
            ["rooms/list.html", "rooms/register.html", "rooms/login.html", "rooms/room.html", "rooms/report.html"]
        {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name}");
        }
    }
}
