//! Crisis mode (災害モード) on the counter. When a municipality switches it
//! on, its home page becomes a static page with the pinned notice and one
//! way in: the damage report or safety confirmation it chose. That form
//! (its pages, 確認 and 送信) and the status lookup stay live; every other
//! page of the municipality (its other forms, the discussion rooms) is a
//! static "paused" page. The static pages are rendered once per notice and
//! language and served from memory, cacheable by a proxy for half a
//! minute, so a flood of people reloading the home page costs almost
//! nothing and the reports keep coming in behind the shield.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use forms::Lang;
use minijinja::context;

use crate::pages::{base_context, lang_of};
use crate::{Counter, PageError};

/// Which static page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Page {
    Home,
    Paused,
}

/// A static page: the tenant, the language and which page.
type PageKey = (String, Lang, Page);

/// The static pages as last rendered, with the crisis they were made for.
#[derive(Default)]
pub(crate) struct CrisisPages {
    rendered: Mutex<HashMap<PageKey, (store::Crisis, Arc<String>)>>,
}

/// How long a proxy or browser may keep a static page.
const CACHE_SECS: u32 = 30;

/// The notice as paragraphs, or the standard one.
pub(crate) fn notice(crisis: &store::Crisis, lang: Lang) -> Vec<String> {
    let text = if lang == Lang::En { &crisis.notice_en } else { &crisis.notice_ja };
    let paragraphs: Vec<String> =
        text.split('\n').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if paragraphs.is_empty() {
        vec![crate::ui::strings(lang)["crisis_default"].to_owned()]
    } else {
        paragraphs
    }
}

/// Whether `tail` (the path after `/t/{tenant}/`) stays live in crisis
/// mode: the crisis form's own pages and the status lookup.
fn stays_live(tail: &str, form: &str) -> bool {
    let mut segments = tail.split('/');
    match (segments.next(), segments.next()) {
        (Some("f"), Some(f)) => f == form,
        (Some("status"), _) => true,
        _ => false,
    }
}

/// The middleware in front of the resident pages.
pub(crate) async fn crisis_gate(
    State(counter): State<Arc<Counter>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix("/t/") else { return next.run(request).await };
    let (tenant, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(crisis) = counter.crisis(tenant) else { return next.run(request).await };
    if stays_live(tail, &crisis.form) {
        return next.run(request).await;
    }
    let page = if tail.is_empty() { Page::Home } else { Page::Paused };
    let lang = lang_of(request.uri());
    let body = match static_page(&counter, &crisis, lang, page).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let status = if page == Page::Home { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut response = (status, axum::response::Html(body.as_str().to_owned())).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={CACHE_SECS}")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if page == Page::Paused {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("600"));
    }
    response
}

/// The page from memory, rendered first if the crisis changed.
async fn static_page(
    counter: &Counter,
    crisis: &store::Crisis,
    lang: Lang,
    page: Page,
) -> Result<Arc<String>, PageError> {
    let key = (crisis.tenant.clone(), lang, page);
    if let Ok(rendered) = counter.crisis_pages.rendered.lock() {
        if let Some((made_for, body)) = rendered.get(&key) {
            if made_for == crisis {
                return Ok(Arc::clone(body));
            }
        }
    }
    let tenant = counter.store.tenant(&crisis.tenant).await?.ok_or(PageError::NotFound)?;
    let (_, def) = crate::pages::load_form(counter, &tenant.id, &crisis.form).await?;
    let q = if lang == Lang::En { "?lang=en" } else { "" };
    // The same page whatever path asked: it names the home page in the
    // language switch, so it can be cached as one.
    let home: axum::http::Uri = format!("/t/{}{q}", tenant.id).parse().map_err(|_| PageError::Internal)?;
    let ctx = context! {
        ..base_context(lang, &home, Some(&tenant)),
        ..context! {
            crisis => notice(crisis, lang),
            paused => page == Page::Paused,
            form => context! {
                id => def.id,
                title => def.title.get(lang),
                description => def.description.as_ref().map(|d| d.get(lang)),
            },
        }
    };
    let body = Arc::new(counter.pages.render("crisis.html", ctx)?);
    if let Ok(mut rendered) = counter.crisis_pages.rendered.lock() {
        rendered.insert(key, (crisis.clone(), Arc::clone(&body)));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_crisis_form_and_the_status_lookup_stay_live() {
        for tail in ["f/damage-report", "f/damage-report/confirm", "f/damage-report/submit", "status", "status/cancel"]
        {
            assert!(stays_live(tail, "damage-report"), "{tail}");
        }
        for tail in ["", "f/water-start", "f/damage-report-2", "f/water-start/submit", "rooms", "rooms/plan", "f"] {
            assert!(!stays_live(tail, "damage-report"), "{tail}");
        }
    }

    #[test]
    fn an_empty_notice_is_the_standard_one_and_lines_are_paragraphs() {
        let crisis = store::Crisis {
            tenant: "aoba-city".into(),
            since: 0,
            form: "damage-report".into(),
            notice_ja: "大雨特別警報が発表されています。\n\n避難所：市民体育館\n".into(),
            notice_en: String::new(),
        };
        assert_eq!(notice(&crisis, Lang::Ja), vec!["大雨特別警報が発表されています。", "避難所：市民体育館"]);
        assert_eq!(notice(&crisis, Lang::En), vec![crate::ui::strings(Lang::En)["crisis_default"].to_owned()]);
    }
}
