//! The few pages the shield answers by itself: refusals (static), and the
//! proof-of-work page of under-attack mode with its script and answer.

use axum::body::Body;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use crate::pow::{Challenge, Pow, Refused};

pub(crate) const POW_JS_PATH: &str = "/_shield/pow.js";
pub(crate) const PASS_PATH: &str = "/_shield/pass";
const PASS_COOKIE: &str = "madoguchi_pass";
/// An answer is a few short fields.
const MAX_ANSWER_BYTES: usize = 4096;

const REFUSED_429: &str = "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>429 | madoguchi</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body><main class=\"page\"><h1>アクセスが集中しています。少し時間をおいてから、もう一度お試しください。</h1><p lang=\"en\">Too many requests. Please wait a moment and try again.</p></main></body></html>";
const REFUSED_503: &str = "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>503 | madoguchi</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body><main class=\"page\"><h1>ただいま混み合っています。入力中の内容は失われていません。少し時間をおいてから、もう一度お試しください。</h1><p lang=\"en\">The service is busy. Nothing you entered was lost. Please try again in a moment.</p></main></body></html>";

fn html(status: StatusCode, body: impl Into<Body>) -> Response<Body> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refusal: a static page and Retry-After, nothing else.
pub(crate) fn refused(status: StatusCode, retry_after_secs: u64) -> Response<Body> {
    let body = if status == StatusCode::TOO_MANY_REQUESTS { REFUSED_429 } else { REFUSED_503 };
    let mut response = html(status, body);
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

pub(crate) fn pass_cookie(headers: &HeaderMap) -> Option<&str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == PASS_COOKIE).then_some(v)
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page a new visitor of a tenant under attack sees first.
pub(crate) fn challenge(tenant: &str, return_to: &str, challenge: &Challenge) -> Response<Body> {
    challenge_page(tenant, return_to, challenge, false)
}

fn challenge_page(tenant: &str, return_to: &str, challenge: &Challenge, too_early: bool) -> Response<Body> {
    let notice = if too_early {
        "<div class=\"error-summary\" role=\"alert\"><p>まだ待ち時間が終わっていません。もう少し待ってから押してください。</p><p lang=\"en\">The wait is not over yet; please wait a little longer.</p></div>"
    } else {
        ""
    };
    let body = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>確認しています | madoguchi</title><link rel=\"stylesheet\" href=\"/assets/style.css\">\
<script src=\"{POW_JS_PATH}\" defer></script></head><body><main class=\"wrap page\" id=\"main\">\
<h1>アクセスが集中しているため、確認しています</h1>{notice}\
<p id=\"pow-status\" role=\"status\">数秒で申請画面に進みます。このままお待ちください。</p>\
<p lang=\"en\">Many requests are arriving, so we check that you are a person. You will go on to the form in a few seconds.</p>\
<form method=\"post\" action=\"{PASS_PATH}\" id=\"pow-form\" data-difficulty=\"{difficulty}\">\
<input type=\"hidden\" name=\"tenant\" value=\"{tenant}\">\
<input type=\"hidden\" name=\"return\" value=\"{return_to}\">\
<input type=\"hidden\" name=\"challenge\" value=\"{text}\">\
<input type=\"hidden\" name=\"counter\" value=\"\">\
<noscript><p>JavaScriptが無効の場合は、{wait}秒待ってから次のボタンを押してください。</p>\
<p lang=\"en\">Without JavaScript, wait {wait} seconds, then press the button.</p></noscript>\
<div class=\"actions\"><button type=\"submit\" class=\"primary\">続ける / Continue</button></div>\
</form></main></body></html>",
        difficulty = challenge.difficulty,
        tenant = escape(tenant),
        return_to = escape(return_to),
        text = escape(&challenge.text),
        wait = challenge.wait_secs,
    );
    html(StatusCode::OK, body)
}

pub(crate) fn pow_script() -> Response<Body> {
    let mut response = Response::new(Body::from(include_str!("pow.js")));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// The answer to a challenge: a pass cookie and back to the form, or a
/// refusal.
pub(crate) async fn answer(pow: &Pow, body: Body, now: u64) -> Response<Body> {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ANSWER_BYTES).await else {
        return refused(StatusCode::PAYLOAD_TOO_LARGE, 5);
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let tenant = get("tenant");
    let return_to = get("return");
    // Only back into this tenant's own pages.
    if !return_to.starts_with(&format!("/t/{tenant}/")) || return_to.contains("//") || tenant.is_empty() {
        return refused(StatusCode::BAD_REQUEST, 5);
    }
    let counter = get("counter").parse::<u64>().ok();
    match pow.verify_shared(tenant, get("challenge"), counter, now).await {
        Ok(()) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::SEE_OTHER;
            let cookie = format!(
                "{PASS_COOKIE}={}; Path=/t/{tenant}/; HttpOnly; SameSite=Lax; Max-Age={}",
                pow.pass(tenant, now),
                crate::pow::PASS_SECS
            );
            if let (Ok(location), Ok(cookie)) = (HeaderValue::from_str(return_to), HeaderValue::from_str(&cookie)) {
                response.headers_mut().insert(header::LOCATION, location);
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(Refused::TooEarly) => {
            let (difficulty, wait_secs) = crate::pow::parameters(get("challenge")).unwrap_or((0, 0));
            let challenge = Challenge { text: get("challenge").to_owned(), difficulty, wait_secs };
            let mut response = challenge_page(tenant, return_to, &challenge, true);
            *response.status_mut() = StatusCode::TOO_EARLY;
            response
        }
        Err(_) => refused(StatusCode::FORBIDDEN, 5),
    }
}
