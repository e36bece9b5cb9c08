//! The resident's pages: portal, form, 確認画面, 受付完了, status lookup.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use forms::{FieldError, FieldKind, FormDefinition, Lang, RawInput};
use http_body_util::BodyExt;
use minijinja::{context, Environment};
use serde::Serialize;
use store::{InquiryNumber, Intake, PublishedForm, Tenant};
use time::{OffsetDateTime, UtcOffset};

use crate::draft::{canonical_secret, display_secret, Draft, Opened};
use crate::upload;
use crate::{ui, Counter, PageError};

type Shared = State<Arc<Counter>>;

pub(crate) fn routes() -> Router<Arc<Counter>> {
    Router::new()
        .route("/", get(portal))
        .route("/healthz", get(|| async { "ok" }))
        .route("/assets/style.css", get(|| async { asset("text/css; charset=utf-8", crate::STYLE_CSS) }))
        .route(
            "/assets/form.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("assets/form.js")) }),
        )
        .route("/t/{tenant}", get(tenant_home))
        .route("/t/{tenant}/f/{form}", get(form_page))
        .route("/t/{tenant}/f/{form}/confirm", axum::routing::post(confirm))
        .route("/t/{tenant}/f/{form}/edit", axum::routing::post(edit))
        .route("/t/{tenant}/f/{form}/submit", axum::routing::post(submit))
        .route("/t/{tenant}/f/{form}/sign-data", axum::routing::post(crate::verified::signing_data))
        .route("/t/{tenant}/f/{form}/verify/oidc", get(crate::verified::start_sign_in))
        .route("/verify/oidc/callback", get(crate::verified::sign_in_callback))
        .route("/t/{tenant}/status", get(status_page).post(status_lookup))
        .route("/t/{tenant}/status/cancel", axum::routing::post(cancel_booking))
        .route("/postal/{code}", get(postal_json))
        .fallback(|| async { PageError::NotFound })
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// The compiled-in templates.
pub(crate) struct Templates {
    env: Environment<'static>,
    /// Parsed form definitions by (tenant, form, version): a published
    /// version never changes, so it is parsed once.
    forms: RwLock<HashMap<(String, String, i64), Arc<FormDefinition>>>,
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("portal.html", include_str!("templates/portal.html")),
            ("tenant.html", include_str!("templates/tenant.html")),
            ("isolated.html", include_str!("templates/isolated.html")),
            ("verify.html", include_str!("templates/verify.html")),
            ("crisis.html", include_str!("templates/crisis.html")),
            ("form.html", include_str!("templates/form.html")),
            ("confirm.html", include_str!("templates/confirm.html")),
            ("receipt.html", include_str!("templates/receipt.html")),
            ("status.html", include_str!("templates/status.html")),
        ] {
            // The templates are part of the binary; a syntax error is caught
            // by the tests that render every page.
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "template does not compile");
            }
        }
        env.add_filter("input_id", |name: String| input_id(&name));
        Templates { env, forms: RwLock::new(HashMap::new()) }
    }

    pub(crate) fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, PageError> {
        self.env.get_template(name).and_then(|t| t.render(ctx)).map_err(|err| {
            tracing::error!(template = name, error = %err, "template failed to render");
            PageError::Internal
        })
    }
}

fn input_id(name: &str) -> String {
    format!("f-{}", name.replace('.', "-"))
}

pub(crate) fn lang_of(uri: &Uri) -> Lang {
    uri.query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "lang").map(|(_, v)| Lang::from_tag(&v)))
        .unwrap_or_default()
}

/// What every page's layout needs.
pub(crate) fn base_context(lang: Lang, uri: &Uri, tenant: Option<&Tenant>) -> minijinja::Value {
    let other = if lang == Lang::En { Lang::Ja } else { Lang::En };
    let tenant = tenant.map(|t| {
        context! {
            id => t.id,
            name => if lang == Lang::En { &t.name_en } else { &t.name_ja },
            contact => if lang == Lang::En { &t.contact_en } else { &t.contact_ja },
        }
    });
    context! {
        lang => lang.tag(),
        t => ui::strings(lang),
        other_lang_url => format!("{}?lang={}", page_path(uri.path()), other.tag()),
        q => if lang == Lang::En { "?lang=en" } else { "" },
        tenant => tenant,
    }
}

/// The page a language switch should reload: the form itself for the
/// POST-only steps behind it.
fn page_path(path: &str) -> &str {
    ["/confirm", "/edit", "/submit", "/sign-data"].iter().find_map(|step| path.strip_suffix(step)).unwrap_or(path)
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// Today in Japan, the day residents' dates are checked against.
pub(crate) fn today_in_japan() -> time::Date {
    let jst = UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC);
    OffsetDateTime::now_utc().to_offset(jst).date()
}

fn format_jst(unix: i64, lang: Lang) -> String {
    let jst = UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC);
    let Ok(at) = OffsetDateTime::from_unix_timestamp(unix) else { return String::new() };
    let at = at.to_offset(jst);
    match lang {
        Lang::Ja => {
            format!("{}年{}月{}日 {:02}時{:02}分", at.year(), u8::from(at.month()), at.day(), at.hour(), at.minute())
        }
        Lang::En => format!("{} {} {} {:02}:{:02} JST", at.day(), at.month(), at.year(), at.hour(), at.minute()),
    }
}

async fn portal(State(counter): Shared, uri: Uri) -> Result<Response, PageError> {
    let lang = lang_of(&uri);
    let tenants: Vec<_> = counter
        .store
        .tenants()
        .await?
        .into_iter()
        .map(|t| context! { id => t.id, name => if lang == Lang::En { t.name_en } else { t.name_ja } })
        .collect();
    let ctx = context! { ..base_context(lang, &uri, None), ..context! { tenants } };
    Ok(html(StatusCode::OK, counter.pages.render("portal.html", ctx)?))
}

pub(crate) async fn load_tenant(counter: &Counter, tenant: &str) -> Result<Tenant, PageError> {
    counter.store.tenant(tenant).await?.ok_or(PageError::NotFound)
}

/// The current version of a form, parsed.
pub(crate) async fn load_form(
    counter: &Counter,
    tenant: &str,
    form: &str,
) -> Result<(i64, Arc<FormDefinition>), PageError> {
    let published = counter.store.current_form(tenant, form).await?.ok_or(PageError::NotFound)?;
    Ok((published.version, parsed(counter, &published)?))
}

async fn load_form_version(
    counter: &Counter,
    tenant: &str,
    form: &str,
    version: i64,
) -> Result<Arc<FormDefinition>, PageError> {
    let published = counter.store.form_version(tenant, form, version).await?.ok_or(PageError::NotFound)?;
    parsed(counter, &published)
}

fn parsed(counter: &Counter, published: &PublishedForm) -> Result<Arc<FormDefinition>, PageError> {
    let key = (published.tenant_id.clone(), published.form_id.clone(), published.version);
    if let Some(def) = counter.pages.forms.read().ok().and_then(|cache| cache.get(&key).cloned()) {
        return Ok(def);
    }
    let def = Arc::new(FormDefinition::parse(&published.definition).map_err(|err| {
        tracing::error!(tenant = %key.0, form = %key.1, version = key.2, error = %err, "published form does not parse");
        PageError::Internal
    })?);
    if let Ok(mut cache) = counter.pages.forms.write() {
        cache.insert(key, Arc::clone(&def));
    }
    Ok(def)
}

/// In front of every resident page: an isolated tenant's pages (forms,
/// sending, status lookup) all answer with its notice instead; the other
/// tenants are untouched.
pub(crate) async fn isolation_notice(
    State(counter): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tenant = request.uri().path().strip_prefix("/t/").map(|rest| rest.split('/').next().unwrap_or(rest));
    let Some(isolation) = tenant.and_then(|t| counter.isolation(t)) else {
        return next.run(request).await;
    };
    let uri = request.uri().clone();
    let lang = lang_of(&uri);
    let tenant = match counter.store.tenant(&isolation.tenant).await {
        Ok(Some(tenant)) => tenant,
        _ => return PageError::Unavailable.into_response(),
    };
    let notice = if lang == Lang::En { &isolation.notice_en } else { &isolation.notice_ja };
    let paragraphs: Vec<&str> = notice.split("\n").map(str::trim).filter(|p| !p.is_empty()).collect();
    let since = OffsetDateTime::from_unix_timestamp(isolation.since)
        .map(|t| t.to_offset(UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC)))
        .ok()
        .map(|t| {
            format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        });
    let ctx = context! { ..base_context(lang, &uri, Some(&tenant)), ..context! { paragraphs, since } };
    match counter.pages.render("isolated.html", ctx) {
        Ok(body) => {
            let mut response = html(StatusCode::SERVICE_UNAVAILABLE, body);
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("3600"));
            response
        }
        Err(err) => err.into_response(),
    }
}

async fn tenant_home(State(counter): Shared, Path(tenant): Path<String>, uri: Uri) -> Result<Response, PageError> {
    let lang = lang_of(&uri);
    let tenant = load_tenant(&counter, &tenant).await?;
    let mut forms = Vec::new();
    for published in counter.store.tenant_forms(&tenant.id).await? {
        let def = parsed(&counter, &published)?;
        forms.push(context! {
            id => def.id,
            title => def.title.get(lang),
            description => def.description.as_ref().map(|d| d.get(lang)),
        });
    }
    let ctx = context! { ..base_context(lang, &uri, Some(&tenant)), ..context! { forms } };
    Ok(html(StatusCode::OK, counter.pages.render("tenant.html", ctx)?))
}

#[derive(Serialize)]
struct OptionView {
    value: String,
    label: String,
    checked: bool,
}

/// One day of a booking field, as an `<optgroup>`.
#[derive(Serialize)]
struct SlotDay {
    label: String,
    slots: Vec<SlotView>,
}

#[derive(Serialize)]
struct SlotView {
    value: String,
    label: String,
    full: bool,
    selected: bool,
}

/// The slots of a booking field from `today`, with the places `taken`
/// (slot key → count) subtracted, grouped by day.
fn slot_days(
    field: &forms::Field,
    chosen: &str,
    taken: &HashMap<String, i64>,
    today: time::Date,
    lang: Lang,
) -> Vec<SlotDay> {
    let Some(schedule) = forms::booking::Schedule::of(&field.kind) else { return Vec::new() };
    let t = ui::strings(lang);
    let mut days: Vec<SlotDay> = Vec::new();
    for slot in schedule.slots(today) {
        let key = slot.key();
        let left = i64::from(schedule.capacity) - taken.get(&key).copied().unwrap_or(0);
        let times = slot.times(schedule.minutes);
        let label = match lang {
            Lang::Ja if left > 0 => format!("{times}（{}{left}）", t["slot_left"]),
            Lang::En if left > 0 => format!("{} ({}{left})", times.replace('〜', "–"), t["slot_left"]),
            Lang::Ja => format!("{times}（{}）", t["slot_full"]),
            Lang::En => format!("{} ({})", times.replace('〜', "–"), t["slot_full"]),
        };
        let view = SlotView { selected: key == chosen, value: key, label, full: left <= 0 };
        let day = slot.short_label(schedule.minutes, lang);
        let day = day.rsplit_once(' ').map_or(day.as_str(), |(d, _)| d).trim_end_matches(',').to_owned();
        match days.last_mut() {
            Some(last) if last.label == day => last.slots.push(view),
            _ => days.push(SlotDay { label: day, slots: vec![view] }),
        }
    }
    days
}

/// Places taken per slot of `def`'s booking field within the days it
/// offers now, if it has one.
async fn taken_places(
    counter: &Counter,
    tenant: &str,
    def: &FormDefinition,
) -> Result<HashMap<String, i64>, PageError> {
    let today = today_in_japan();
    let Some((first, last)) =
        def.fields.iter().find_map(|f| forms::booking::Schedule::of(&f.kind)).and_then(|s| s.window(today))
    else {
        return Ok(HashMap::new());
    };
    // Slot keys sort as text: every slot of the last day is below the next day.
    let until = last.next_day().unwrap_or(last).to_string();
    Ok(counter.store.booked_places_between(tenant, &def.id, &first.to_string(), &until).await?)
}

/// One field as the form template draws it.
#[derive(Serialize)]
struct FieldView {
    name: String,
    kind: &'static str,
    label: String,
    help: Option<String>,
    required: bool,
    condition: Option<String>,
    cond_field: Option<String>,
    cond_value: Option<String>,
    furigana: bool,
    confirm: bool,
    multiple: bool,
    multiline: bool,
    max_length: Option<usize>,
    statement: Option<String>,
    options: Vec<OptionView>,
    /// A booking field's open days, each with its slots.
    days: Vec<SlotDay>,
    /// Whether every slot of a booking field is taken (or none is offered).
    no_slots: bool,
    /// A file field: what it takes (`accept` for the browser, a hint for
    /// the resident), whether several, and the files already sent.
    file: Option<FileFieldView>,
    /// Entered values by HTML input name.
    values: BTreeMap<String, String>,
    /// Error messages by HTML input name.
    errors: BTreeMap<String, String>,
}

/// A file field as the form template draws it.
#[derive(Serialize)]
struct FileFieldView {
    accept: String,
    hint: String,
    multiple: bool,
    /// Files already sent, each with the token that brings it back.
    sent: Vec<SentFileView>,
}

#[derive(Serialize)]
struct SentFileView {
    id: String,
    label: String,
    token: String,
}

/// Who files are kept for across a re-drawn form: the token box and the
/// tenant. The builder's preview keeps none.
type Keeper<'a> = Option<(&'a seal::TokenBox, &'a str)>;

fn file_view(
    def: &FormDefinition,
    field: &forms::Field,
    input: &RawInput,
    keeper: Keeper<'_>,
    lang: Lang,
) -> Option<FileFieldView> {
    let FieldKind::File { accept, max_mb, max_files } = &field.kind else { return None };
    let types = forms::files::type_list(accept, lang);
    let hint = match lang {
        Lang::Ja if *max_files > 1 => format!("{types}（1ファイル{max_mb}MBまで、{max_files}ファイルまで）"),
        Lang::Ja => format!("{types}（{max_mb}MBまで）"),
        Lang::En if *max_files > 1 => format!("{types}, up to {max_mb} MB each, at most {max_files} files"),
        Lang::En => format!("{types}, up to {max_mb} MB"),
    };
    let sent = match keeper {
        Some((tokens, tenant)) => input
            .files(&field.name)
            .into_iter()
            .map(|file| SentFileView {
                id: file.id.clone(),
                label: def.display_value(field, &forms::Value::Files(vec![file.clone()]), lang),
                token: crate::upload::keep(tokens, tenant, &def.id, &field.name, file),
            })
            .collect(),
        None => Vec::new(),
    };
    Some(FileFieldView {
        accept: accept.iter().map(|t| t.media_type()).collect::<Vec<_>>().join(","),
        hint,
        multiple: *max_files > 1,
        sent,
    })
}

fn field_views(
    def: &FormDefinition,
    input: &RawInput,
    errors: &[FieldError],
    taken: &HashMap<String, i64>,
    keeper: Keeper<'_>,
    lang: Lang,
) -> Vec<FieldView> {
    let today = today_in_japan();
    def.fields
        .iter()
        .map(|field| {
            let mut values = BTreeMap::new();
            for name in field.input_names() {
                if let Some(v) = input.get(&name) {
                    values.insert(name, v.to_owned());
                }
            }
            let chosen = input.get_all(&field.name);
            let field_errors: BTreeMap<String, String> =
                errors.iter().filter(|e| e.field == field.name).map(|e| (e.input.clone(), e.message(lang))).collect();
            let (options, multiple) = match &field.kind {
                FieldKind::Choice { options, multiple } => (
                    options
                        .iter()
                        .map(|o| OptionView {
                            value: o.value.clone(),
                            label: o.label.get(lang).to_owned(),
                            checked: chosen.contains(&o.value.as_str()),
                        })
                        .collect(),
                    *multiple,
                ),
                // A scale is a row of radio buttons; its ends say what they mean.
                FieldKind::Scale { min, max, min_label, max_label } => (
                    (*min..=*max)
                        .map(|point| {
                            let end = match (point == *min, point == *max) {
                                (true, _) => min_label.as_ref(),
                                (_, true) => max_label.as_ref(),
                                _ => None,
                            };
                            let label = match (end, lang) {
                                (Some(end), Lang::Ja) => format!("{point}（{}）", end.get(lang)),
                                (Some(end), Lang::En) => format!("{point} ({})", end.get(lang)),
                                (None, _) => point.to_string(),
                            };
                            let value = point.to_string();
                            OptionView { checked: chosen.contains(&value.as_str()), value, label }
                        })
                        .collect(),
                    false,
                ),
                _ => (Vec::new(), false),
            };
            let days = match field.kind {
                FieldKind::Booking { .. } => {
                    slot_days(field, chosen.first().copied().unwrap_or(""), taken, today, lang)
                }
                _ => Vec::new(),
            };
            let no_slots =
                matches!(field.kind, FieldKind::Booking { .. }) && days.iter().all(|d| d.slots.iter().all(|s| s.full));
            let condition = field.show_when.as_ref().map(|cond| {
                let target = def.field(&cond.field);
                let target_label = target.map(|f| f.label.get(lang).to_owned()).unwrap_or_else(|| cond.field.clone());
                let value_label = match target.map(|f| &f.kind) {
                    Some(FieldKind::Choice { options, .. }) => options
                        .iter()
                        .find(|o| o.value == cond.equals)
                        .map(|o| o.label.get(lang).to_owned())
                        .unwrap_or_else(|| cond.equals.clone()),
                    _ => cond.equals.clone(),
                };
                match lang {
                    Lang::Ja => format!("「{target_label}」で「{value_label}」を選んだ場合"),
                    Lang::En => format!("you chose “{value_label}” for “{target_label}”"),
                }
            });
            FieldView {
                name: field.name.clone(),
                kind: field.kind.type_name(),
                label: field.label.get(lang).to_owned(),
                help: field.help.as_ref().map(|h| h.get(lang).to_owned()),
                required: field.required,
                condition,
                cond_field: field.show_when.as_ref().map(|c| c.field.clone()),
                cond_value: field.show_when.as_ref().map(|c| c.equals.clone()),
                furigana: matches!(field.kind, FieldKind::Name { furigana: true }),
                confirm: matches!(field.kind, FieldKind::Email { confirm: true }),
                multiple,
                multiline: matches!(field.kind, FieldKind::Text { multiline: true, .. }),
                max_length: match field.kind {
                    FieldKind::Text { max_length, .. } => Some(max_length),
                    _ => None,
                },
                statement: match &field.kind {
                    FieldKind::Consent { statement } => Some(statement.get(lang).to_owned()),
                    _ => None,
                },
                options,
                days,
                no_slots,
                file: file_view(def, field, input, keeper, lang),
                values,
                errors: field_errors,
            }
        })
        .collect()
}

/// What a form page is refilled with.
#[derive(Default)]
struct Filled<'a> {
    input: RawInput,
    errors: &'a [FieldError],
    notice: Option<&'a str>,
    /// The outcome of 住所を検索 (the address lookup without JavaScript).
    lookup: Option<Lookup>,
}

/// The address lookup's outcome, shown by the postal input of `field`.
#[derive(Serialize)]
struct Lookup {
    field: String,
    ok: bool,
    message: String,
}

/// Renders the form page, empty or refilled, with errors and a notice.
async fn render_form(
    counter: &Counter,
    lang: Lang,
    uri: &Uri,
    tenant: &Tenant,
    def: &FormDefinition,
    filled: Filled<'_>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let Filled { input, errors, notice, lookup } = filled;
    let taken = taken_places(counter, &tenant.id, def).await?;
    let fields = field_views(def, &input, errors, &taken, Some((&counter.tokens, &tenant.id)), lang);
    // 住所を検索 is a submit button too: Enter in any input must still
    // mean 確認, so a default button comes first in such forms.
    let has_lookup = fields.iter().any(|f| f.kind == "address");
    let summary: Vec<_> = fields
        .iter()
        .flat_map(|f| {
            f.errors.iter().map(move |(input, message)| {
                context! { id => input_id(input), label => f.label.clone(), message => message.clone() }
            })
        })
        .collect();
    let ctx = context! {
        ..base_context(lang, uri, Some(tenant)),
        ..context! {
            form => context! {
                id => def.id,
                title => def.title.get(lang),
                description => def.description.as_ref().map(|d| d.get(lang)),
                anonymous => def.anonymous,
            },
            crisis => counter.crisis(&tenant.id).map(|c| crate::crisis::notice(&c, lang)),
            verify => verify_context(def, tenant, lang),
            fields,
            summary,
            notice,
            lookup,
            has_lookup,
            has_files => crate::upload::has_files(def),
        }
    };
    Ok(html(status, counter.pages.render("form.html", ctx)?))
}

/// What the pages say of a verified survey: its method and who it is for.
fn verify_context(def: &FormDefinition, tenant: &Tenant, lang: Lang) -> Option<minijinja::Value> {
    def.verify.as_ref().map(|v| {
        context! {
            method => v.method.key(),
            requirements => crate::verified::requirement_texts(def, tenant, lang),
        }
    })
}

/// The form page for `def` as the console's form builder previews it: the
/// resident's template, with nothing to send (no action, its buttons
/// disabled), `notice` above it and `preview` (the builder's way back)
/// under it.
pub(crate) fn render_preview(
    counter: &Counter,
    lang: Lang,
    tenant: &Tenant,
    def: &FormDefinition,
    notice: &str,
    preview: minijinja::Value,
) -> Result<Response, PageError> {
    let fields = field_views(def, &RawInput::default(), &[], &HashMap::new(), None, lang);
    let has_lookup = fields.iter().any(|f| f.kind == "address");
    let ctx = context! {
        ..context! { other_lang_url => "#preview-tools" },
        ..base_context(lang, &Uri::from_static("/"), Some(tenant)),
        ..context! {
            form => context! {
                id => def.id,
                title => def.title.get(lang),
                description => def.description.as_ref().map(|d| d.get(lang)),
            },
            fields,
            summary => Vec::<()>::new(),
            notice,
            has_lookup,
            preview,
        }
    };
    Ok(html(StatusCode::OK, counter.pages.render("form.html", ctx)?))
}

async fn form_page(
    State(counter): Shared,
    Path((tenant, form)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = lang_of(&uri);
    let tenant = load_tenant(&counter, &tenant).await?;
    let (_, def) = load_form(&counter, &tenant.id, &form).await?;
    let gate = crate::verified::gate(&counter, &tenant.id, &def, &headers).await?;
    let mut response = match crate::verified::gate_page(&counter, lang, &uri, &tenant, &def, &gate)? {
        Some(page) => page,
        None => render_form(&counter, lang, &uri, &tenant, &def, Filled::default(), StatusCode::OK).await?,
    };
    // The form session: while a flood is on, this resident comes first.
    if let Some(cookie) =
        crate::guard::form_session_cookie(&counter.tokens, &tenant.id, counter.settings.secure_cookies)
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// How long a client may take to send a form body, in all.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a urlencoded form body, refusing it before reading when it is
/// larger than `limit` or not a form post.
async fn read_form_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<(String, String)>, PageError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(PageError::UnsupportedMediaType);
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(PageError::TooLarge);
    }
    // The whole body within BODY_SECS: a body trickled in byte by byte
    // (which a per-frame timeout would not catch) holds a worker otherwise.
    let collected = tokio::time::timeout(BODY_TIMEOUT, http_body_util::Limited::new(body, limit).collect())
        .await
        .map_err(|_| PageError::TimedOut)?;
    let bytes = collected.map_err(|err| {
        if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            PageError::TooLarge
        } else {
            PageError::BadRequest
        }
    })?;
    let bytes = bytes.to_bytes();
    // The pages declare UTF-8; anything else is refused rather than quietly
    // turned into replacement characters the resident never typed.
    let all_utf8 = bytes
        .split(|b| *b == b'&' || *b == b'=')
        .all(|part| percent_encoding::percent_decode(part).decode_utf8().is_ok());
    if !all_utf8 {
        return Err(PageError::BadRequest);
    }
    serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadRequest)
}

/// The resident's answers, without our own `_`-prefixed controls.
fn answers(pairs: &[(String, String)]) -> RawInput {
    RawInput::from_pairs(pairs.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| (k.as_str(), v.as_str())))
}

fn control<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn body_limit(counter: &Counter, def: &FormDefinition) -> usize {
    def.max_body_bytes.min(counter.settings.max_body_bytes)
}

async fn confirm(
    State(counter): Shared,
    Path((tenant, form)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let lang = lang_of(&uri);
    let tenant = load_tenant(&counter, &tenant).await?;
    let (version, def) = load_form(&counter, &tenant.id, &form).await?;
    let gate = crate::verified::gate(&counter, &tenant.id, &def, &headers).await?;
    if let Some(page) = crate::verified::gate_page(&counter, lang, &uri, &tenant, &def, &gate)? {
        return Ok(page);
    }
    let respondent = match gate {
        crate::verified::Gate::Open(respondent) => respondent,
        _ => None,
    };
    let (mut pairs, uploaded, refused) = if upload::is_multipart(&headers) && upload::has_files(&def) {
        let key = tenant_key(&counter, &tenant).await?;
        let sealing = upload::Sealing { vault: counter.store.vault(), key: &key, tenant: &tenant.id };
        let posted = upload::read(&headers, body, &def, body_limit(&counter, &def), &sealing).await?;
        (posted.pairs, posted.uploaded, posted.refused)
    } else {
        (read_form_body(&headers, body, body_limit(&counter, &def)).await?, Vec::new(), Vec::new())
    };
    let with_files = |pairs: &[(String, String)], uploaded| {
        let mut input = answers(pairs);
        upload::attach(&mut input, &def, pairs, uploaded, &counter.tokens, &tenant.id).map(|()| input)
    };
    // 住所を検索 (without JavaScript): fill the region in, show the form again.
    if let Some(field) = control(&pairs, "_lookup").map(str::to_owned) {
        let lookup = look_up_address(&counter, &def, &field, &mut pairs, lang).await?;
        let input = with_files(&pairs, uploaded)?;
        let filled = Filled { input, errors: &refused, lookup: Some(lookup), ..Filled::default() };
        return render_form(&counter, lang, &uri, &tenant, &def, filled, StatusCode::OK).await;
    }
    let input = with_files(&pairs, uploaded)?;
    let validated = def.validate(&input, today_in_japan());
    let submission = match validated {
        Ok(submission) if refused.is_empty() => submission,
        outcome => {
            // A refused file is said once, beside its field, not again as "required".
            let later: Vec<FieldError> = outcome.err().unwrap_or_default();
            let refused_fields: Vec<String> = refused.iter().map(|r| r.field.clone()).collect();
            let mut errors = refused;
            errors.extend(later.into_iter().filter(|e| !refused_fields.contains(&e.field)));
            return render_form(
                &counter,
                lang,
                &uri,
                &tenant,
                &def,
                Filled { input, errors: &errors, ..Filled::default() },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    // A slot that filled up while the resident was answering is said now;
    // the committer counts again when it is sent.
    if let Some((field, schedule, slot)) = def.booked_slot(&submission) {
        // This slot's places only: `~` sorts after every slot key's characters.
        let key = slot.key();
        let taken = counter.store.booked_places_between(&tenant.id, &def.id, &key, &format!("{key}~")).await?;
        if taken.get(&key).copied().unwrap_or(0) >= i64::from(schedule.capacity) {
            let errors = [FieldError::slot_full(field)];
            let filled = Filled { input, errors: &errors, ..Filled::default() };
            return render_form(&counter, lang, &uri, &tenant, &def, filled, StatusCode::CONFLICT).await;
        }
    }
    let ttl = i64::try_from(counter.settings.draft_ttl.as_secs()).unwrap_or(3600);
    let mut draft = Draft::new(&tenant.id, &def.id, version, ttl, submission);
    draft.respondent = respondent;
    render_confirm(&counter, lang, &uri, &tenant, &def, &draft, Confirmation::default())
}

/// The 都道府県＋市区町村 a resident writes in an address's region input.
fn region_of(address: &store::PostalAddress) -> String {
    format!("{}{}", address.prefecture, address.city)
}

/// 住所を検索 for the address field `field`: looks its postal input up and
/// writes the region into `pairs`; says what happened, in `lang`.
async fn look_up_address(
    counter: &Counter,
    def: &FormDefinition,
    field: &str,
    pairs: &mut Vec<(String, String)>,
    lang: Lang,
) -> Result<Lookup, PageError> {
    if !def.field(field).is_some_and(|f| matches!(f.kind, FieldKind::Address)) {
        return Err(PageError::BadRequest);
    }
    let t = ui::strings(lang);
    let say = |key: &str| t.get(key).copied().unwrap_or_default();
    let typed = control(pairs, &format!("{field}.postal")).unwrap_or("").to_owned();
    let failed = |message: String| Ok(Lookup { field: field.to_owned(), ok: false, message });
    let Some(key) = forms::postal::lookup_key(&typed) else {
        return failed(say("postal_lookup_invalid").to_owned());
    };
    let found = counter.store.postal_lookup(&key).await.map_err(|err| {
        tracing::error!(error = %err, "postal lookup failed");
        PageError::Internal
    })?;
    let shown = format!("{}-{}", &key[..3], &key[3..]);
    let Some(address) = found else {
        return failed(say("postal_lookup_unknown").replace("{code}", &shown));
    };
    let region = region_of(&address);
    let region_key = format!("{field}.region");
    match pairs.iter_mut().find(|(k, _)| *k == region_key) {
        Some(slot) => slot.1 = region.clone(),
        None => pairs.push((region_key, region.clone())),
    }
    let message = say("postal_lookup_found").replace("{code}", &shown).replace("{region}", &region);
    Ok(Lookup { field: field.to_owned(), ok: true, message })
}

/// `GET /postal/{code}`: the address help's JSON, public data, cacheable.
async fn postal_json(State(counter): Shared, Path(code): Path<String>) -> Response {
    const CACHE: &str = "public, max-age=86400";
    let json = |status: StatusCode, value: serde_json::Value| {
        (status, [(header::CACHE_CONTROL, CACHE)], axum::Json(value)).into_response()
    };
    let Some(key) = forms::postal::lookup_key(&code) else {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "error": "郵便番号は7桁の数字で指定してください。",
                "error_en": "A postal code has 7 digits.",
            }),
        );
    };
    match counter.store.postal_lookup(&key).await {
        Ok(Some(address)) => json(
            StatusCode::OK,
            serde_json::json!({
                "code": format!("{}-{}", &key[..3], &key[3..]),
                "prefecture": address.prefecture,
                "city": address.city,
                "region": region_of(&address),
                "towns": address.towns,
            }),
        ),
        Ok(None) => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({
                "error": "この郵便番号に当たる住所が見つかりません。",
                "error_en": "No address is known for this postal code.",
            }),
        ),
        Err(err) => {
            tracing::error!(error = %err, "postal lookup failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(serde_json::json!({
                    "error": "ただいま住所を検索できません。",
                    "error_en": "The address lookup is not available right now.",
                })),
            )
                .into_response()
        }
    }
}

/// How the 確認画面 is shown: at once after 確認, or again after a refused
/// signature (said beside the signature input).
struct Confirmation<'a> {
    signature_error: Option<&'a str>,
    status: StatusCode,
}

impl Default for Confirmation<'_> {
    fn default() -> Self {
        Confirmation { signature_error: None, status: StatusCode::OK }
    }
}

fn render_confirm(
    counter: &Counter,
    lang: Lang,
    uri: &Uri,
    tenant: &Tenant,
    def: &FormDefinition,
    draft: &Draft,
    shown: Confirmation<'_>,
) -> Result<Response, PageError> {
    let answered = draft.submission.to_input(def);
    let rows: Vec<_> = def
        .fields
        .iter()
        .filter(|f| def.is_shown(f, &answered))
        .map(|field| {
            let value = draft.submission.values.get(&field.name).map(|v| def.display_value(field, v, lang));
            context! { label => field.label.get(lang), value }
        })
        .collect();
    let ctx = context! {
        ..base_context(lang, uri, Some(tenant)),
        ..context! {
            form => context! { id => def.id, title => def.title.get(lang) },
            rows,
            draft => draft.seal(&counter.tokens),
            verify => verify_context(def, tenant, lang),
            respondent => draft.respondent.is_some(),
            signing => def.verify.as_ref().filter(|v| v.method == forms::VerificationMethod::Jpki).map(|_| context! {
                text => crate::verified::signing_text(draft),
            }),
            signature_error => shown.signature_error,
        }
    };
    Ok(html(shown.status, counter.pages.render("confirm.html", ctx)?))
}

/// A request carrying a draft token back: the tenant, the form's current
/// version, and the draft as it was sealed.
pub(crate) struct DraftRequest {
    lang: Lang,
    tenant: Tenant,
    current_version: i64,
    current: Arc<FormDefinition>,
    pub draft: Opened,
    /// A JPKI survey's signature file, sent with 送信.
    signature: Option<Vec<u8>>,
}

pub(crate) async fn read_draft_request(
    counter: &Counter,
    tenant: &str,
    form: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<DraftRequest, PageError> {
    let lang = lang_of(uri);
    let tenant = load_tenant(counter, tenant).await?;
    let (current_version, current) = load_form(counter, &tenant.id, form).await?;
    // A JPKI survey's 確認画面 posts its signature file with the draft.
    let (pairs, signature) = if upload::is_multipart(headers) {
        crate::verified::read_signed(headers, body, body_limit(counter, &current)).await?
    } else {
        (read_form_body(headers, body, body_limit(counter, &current)).await?, None)
    };
    let token = control(&pairs, "_draft").ok_or(PageError::BadRequest)?;
    let draft = Draft::open(&counter.tokens, token, &tenant.id, &current.id).ok_or(PageError::BadRequest)?;
    Ok(DraftRequest { lang, tenant, current_version, current, draft, signature })
}

/// 修正する: back to the form with everything the resident entered.
async fn edit(
    State(counter): Shared,
    Path((tenant, form)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let DraftRequest { lang, tenant, current_version, current, draft, .. } =
        read_draft_request(&counter, &tenant, &form, &uri, &headers, body).await?;
    let (Opened::Valid(draft) | Opened::Expired(draft)) = draft;
    let drafted_with = load_form_version(&counter, &tenant.id, &draft.form_id, draft.form_version).await?;
    let input = draft.submission.to_input(&drafted_with);
    let t = ui::strings(lang);
    let notice = (draft.form_version != current_version).then(|| t["form_changed"]);
    render_form(&counter, lang, &uri, &tenant, &current, Filled { input, notice, ..Filled::default() }, StatusCode::OK)
        .await
}

async fn submit(
    State(counter): Shared,
    Path((tenant, form)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let DraftRequest { lang, tenant, current_version, current, draft, signature } =
        read_draft_request(&counter, &tenant, &form, &uri, &headers, body).await?;
    let mut draft = match draft {
        Opened::Valid(draft) => draft,
        Opened::Expired(draft) => {
            // Nothing is lost: the answers go back into the form.
            let def = load_form_version(&counter, &tenant.id, &draft.form_id, draft.form_version).await?;
            let input = draft.submission.to_input(&def);
            let notice = ui::strings(lang)["draft_expired"];
            return render_form(
                &counter,
                lang,
                &uri,
                &tenant,
                &current,
                Filled { input, notice: Some(notice), ..Filled::default() },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    // The draft names the version it was checked against; the submission
    // keeps naming it even if a newer version was published meanwhile.
    let def = if draft.form_version == current_version {
        current
    } else {
        load_form_version(&counter, &tenant.id, &draft.form_id, draft.form_version).await?
    };
    // A verified survey: who answers, as a keyed pseudonym; the record
    // says only which of the form's requirements they met.
    let respondent = match def.verify.as_ref().map(|v| v.method) {
        None => None,
        Some(forms::VerificationMethod::Oidc) => Some(draft.respondent.clone().ok_or(PageError::Forbidden)?),
        Some(forms::VerificationMethod::Jpki) => {
            let Some(signature) = signature.as_deref() else {
                let missing = ui::strings(lang)["verify_signature_missing"];
                let refused = Confirmation { signature_error: Some(missing), status: StatusCode::UNPROCESSABLE_ENTITY };
                return render_confirm(&counter, lang, &uri, &tenant, &def, &draft, refused);
            };
            match crate::verified::verify_signature(&counter, &tenant, &def, &draft, signature, lang).await {
                Ok(respondent) => Some(respondent),
                Err(crate::verified::SignatureOutcome::Invalid(message)) => {
                    let refused =
                        Confirmation { signature_error: Some(&message), status: StatusCode::UNPROCESSABLE_ENTITY };
                    return render_confirm(&counter, lang, &uri, &tenant, &def, &draft, refused);
                }
                Err(crate::verified::SignatureOutcome::Refused(refusal)) => {
                    return crate::verified::refusal_page(&counter, lang, &uri, &tenant, &def, refusal);
                }
            }
        }
    };
    if let (Some(verify), Some(_)) = (&def.verify, &respondent) {
        draft.submission.verified = Some(forms::Verified { method: verify.method, met: verify.require.clone() });
    }
    let key = tenant_key(&counter, &tenant).await?;
    let secret = draft.inquiry_secret(&counter.tokens);
    let payload = zeroize::Zeroizing::new(draft.submission.canonical_json());
    // The first e-mail answer, sealed to the notification key, if mail is on.
    let notify_address = counter.settings.notifier.as_ref().and_then(|notifier| {
        let email = def.fields.iter().find_map(|field| match draft.submission.values.get(&field.name) {
            Some(forms::Value::Email(address)) => Some(address.as_str()),
            _ => None,
        })?;
        notifier.seal_address(&tenant.id, &store::draft_sha256(&draft.draft_id), email)
    });
    let intake = Intake {
        tenant: &tenant.id,
        form_id: &draft.form_id,
        form_version: draft.form_version,
        draft_id: &draft.draft_id,
        inquiry_secret: &secret,
        notify_address: notify_address.as_deref(),
        booking: def.booked_slot(&draft.submission).map(|(_, schedule, slot)| store::BookingClaim {
            slot: slot.key(),
            capacity: i64::from(schedule.capacity),
        }),
        attachments: &draft.submission.files().map(|f| f.sealed.clone()).collect::<Vec<_>>(),
        respondent: respondent.as_ref().map(|r| r.pseudonym.as_str()),
    };
    let accepted = match counter.accept_sealed(&intake, key, payload).await {
        Ok(accepted) => accepted,
        // Taken by others first: back to the form with every answer, and
        // the message beside the slot.
        Err(store::StoreError::SlotFull) => {
            let input = draft.submission.to_input(&def);
            let errors: Vec<FieldError> = def
                .booked_slot(&draft.submission)
                .map(|(field, _, _)| FieldError::slot_full(field))
                .into_iter()
                .collect();
            let filled = Filled { input, errors: &errors, ..Filled::default() };
            return render_form(&counter, lang, &uri, &tenant, &def, filled, StatusCode::CONFLICT).await;
        }
        Err(store::StoreError::AlreadyAnswered) => {
            let answered = crate::verified::Refusal::Answered;
            return crate::verified::refusal_page(&counter, lang, &uri, &tenant, &def, answered);
        }
        Err(err) => return Err(err.into()),
    };
    tracing::info!(tenant = %tenant.id, form = %draft.form_id, receipt = %accepted.receipt, duplicate = accepted.duplicate, "submission accepted");
    if !accepted.duplicate {
        metrics::counter!("submissions_accepted_total", "tenant" => tenant.id.clone()).increment(1);
    }
    let ctx = context! {
        ..base_context(lang, &uri, Some(&tenant)),
        ..context! {
            form => context! { id => def.id, title => def.title.get(lang) },
            receipt_number => accepted.receipt.to_string(),
            inquiry_number => accepted.inquiry.to_string(),
            inquiry_secret => display_secret(&secret),
            received_at => format_jst(accepted.received_at, lang),
            record_hash => accepted.record_sha256,
            ledger_index => accepted.ledger_index,
            booking_slot => def.booked_slot(&draft.submission).map(|(_, schedule, slot)| slot.full_label(schedule.minutes, lang)),
        }
    };
    Ok(html(StatusCode::OK, counter.pages.render("receipt.html", ctx)?))
}

/// The tenant's current public key: what submissions and files are sealed to.
async fn tenant_key(counter: &Counter, tenant: &Tenant) -> Result<seal::TenantPublicKey, PageError> {
    counter.store.current_tenant_key(&tenant.id).await?.ok_or_else(|| {
        tracing::error!(tenant = %tenant.id, "tenant has no public key; cannot accept submissions");
        PageError::Unavailable
    })
}

async fn status_page(State(counter): Shared, Path(tenant): Path<String>, uri: Uri) -> Result<Response, PageError> {
    let lang = lang_of(&uri);
    let tenant = load_tenant(&counter, &tenant).await?;
    let ctx = context! { ..base_context(lang, &uri, Some(&tenant)), ..context! { asked => false } };
    Ok(html(StatusCode::OK, counter.pages.render("status.html", ctx)?))
}

async fn status_lookup(
    State(counter): Shared,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let tenant = load_tenant(&counter, &tenant).await?;
    let pairs = read_form_body(&headers, body, 4096).await?;
    render_status(&counter, &uri, &tenant, &pairs, Outcome::Looked).await
}

/// 予約を取り消す: the resident's 問合せ番号 and access key again, posted from
/// the status page.
async fn cancel_booking(
    State(counter): Shared,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let tenant = load_tenant(&counter, &tenant).await?;
    let pairs = read_form_body(&headers, body, 4096).await?;
    let number = InquiryNumber::parse(control(&pairs, "inquiry_number").unwrap_or(""));
    let secret = canonical_secret(control(&pairs, "secret").unwrap_or(""));
    let outcome = match number {
        Some(number) => match counter.store.lookup_status(&number, &secret).await? {
            Some(view) if view.tenant_id == tenant.id => match counter.store.cancel_booking(&number, &secret).await? {
                Some(store::Cancellation::Cancelled { tenant_id, receipt, .. }) => {
                    tracing::info!(tenant = %tenant_id, receipt = %receipt, "booking cancelled by the resident");
                    Outcome::Cancelled
                }
                Some(store::Cancellation::AlreadyCancelled) => Outcome::Cancelled,
                Some(store::Cancellation::NotCancellable) | None => Outcome::NotCancellable,
            },
            _ => Outcome::Looked,
        },
        None => Outcome::Looked,
    };
    render_status(&counter, &uri, &tenant, &pairs, outcome).await
}

enum Outcome {
    Looked,
    Cancelled,
    NotCancellable,
}

/// The status page for the 問合せ番号 and access key in `pairs`.
async fn render_status(
    counter: &Counter,
    uri: &Uri,
    tenant: &Tenant,
    pairs: &[(String, String)],
    outcome: Outcome,
) -> Result<Response, PageError> {
    let lang = lang_of(uri);
    let typed_number = control(pairs, "inquiry_number").unwrap_or("");
    let typed_secret = control(pairs, "secret").unwrap_or("");
    let found = match InquiryNumber::parse(typed_number) {
        Some(number) => counter
            .store
            .lookup_status(&number, &canonical_secret(typed_secret))
            .await?
            .filter(|view| view.tenant_id == tenant.id),
        None => None,
    };
    let mut result = None;
    if let Some(view) = found {
        let def = load_form_version(counter, &tenant.id, &view.form_id, view.form_version).await.ok();
        let title = def.as_ref().map_or_else(|| view.form_id.clone(), |def| def.title.get(lang).to_owned());
        let slot = view.booking_slot.as_deref().and_then(forms::booking::Slot::parse_key);
        let minutes = def
            .as_ref()
            .and_then(|def| def.fields.iter().find_map(|f| forms::booking::Schedule::of(&f.kind).map(|s| s.minutes)));
        let booking_slot = slot.map(|slot| slot.full_label(minutes.unwrap_or(30), lang));
        // Online, a booking can be given back until its day, while the
        // office has not decided on it.
        let cancellable = slot.is_some_and(|slot| slot.date >= today_in_japan())
            && matches!(
                view.status,
                store::SubmissionStatus::Received
                    | store::SubmissionStatus::InReview
                    | store::SubmissionStatus::Returned
            );
        result = Some(context! {
            form_title => title,
            receipt_number => view.receipt.to_string(),
            status => if lang == Lang::En { view.status.label_en() } else { view.status.label_ja() },
            received_at => format_jst(view.received_at, lang),
            status_changed_at => format_jst(view.status_changed_at, lang),
            staff_message => view.staff_message,
            booking_slot,
            cancellable,
        });
    }
    let status = if result.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    let ctx = context! {
        ..base_context(lang, uri, Some(tenant)),
        ..context! {
            asked => true,
            result,
            inquiry_number => typed_number,
            secret => typed_secret,
            cancelled => matches!(outcome, Outcome::Cancelled),
            not_cancellable => matches!(outcome, Outcome::NotCancellable),
        }
    };
    Ok(html(status, counter.pages.render("status.html", ctx)?))
}
