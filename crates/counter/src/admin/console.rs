//! The console's pages, by role: home, own account, tenants and operators
//! (operator), staff (tenant admin, operator), forms (form admin),
//! submissions' receipt data (processor, tenant admin), the ledger
//! (auditor, tenant admin, operator).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use identity::{Action, Grant, Role};
use ledger::EventKind;
use minijinja::context;
use serde::Deserialize;
use store::{LedgerEntry, LedgerFilter};

use super::auth::{new_enrolment_code, ENROLMENT_SECS};
use super::{format_jst, Fields, Visitor};
use crate::{Counter, PageError};

type Shared = State<Arc<Counter>>;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The places this account may go, for the home page and the menu.
pub(crate) async fn home(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    let me = visitor.signed_in()?;
    let installation = |action| me.account.grants.iter().any(|g| g.permits(action, None));
    let mut tenants = Vec::new();
    for tenant in counter.store.tenants().await? {
        let can = |action| me.account.grants.iter().any(|g: &Grant| g.permits(action, Some(&tenant.id)));
        let links: Vec<(&str, String)> = [
            (Action::ManageStaff, "staff"),
            (Action::ManageForms, "forms"),
            (Action::ViewSubmissions, "submissions"),
            (Action::ViewLedger, "ledger"),
            (Action::ModerateRooms, "rooms"),
            (Action::DeclareCrisis, "crisis"),
        ]
        .into_iter()
        .filter(|(action, _)| can(*action))
        .map(|(_, page)| (page, format!("/admin/t/{}/{page}", tenant.id)))
        .collect();
        // The operator reaches every tenant's staff page; listing all of
        // them on the home page would hide the rest, so only tenant roles
        // are listed here and the operator uses the tenant list.
        let own = me.account.grants.iter().any(|g| g.tenant.as_deref() == Some(tenant.id.as_str()));
        if own && !links.is_empty() {
            let name = if visitor.lang == forms::Lang::En { tenant.name_en.clone() } else { tenant.name_ja.clone() };
            tenants.push(context! { id => tenant.id, name => name, links => links });
        }
    }
    let roles: Vec<String> = me
        .account
        .grants
        .iter()
        .map(|g| format!("{}{}", g.role.as_str(), g.tenant.as_ref().map(|t| format!(" @ {t}")).unwrap_or_default()))
        .collect();
    counter.admin_pages.render(
        &visitor,
        "admin/home.html",
        context! {
            roles => roles, tenants => tenants,
            manage_tenants => installation(Action::ManageTenants),
            manage_operators => installation(Action::ManageOperators),
            installation_ledger => installation(Action::ViewLedger),
        },
    )
}

pub(crate) async fn account(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    account_page(&counter, &visitor, None).await
}

async fn account_page(
    counter: &Counter,
    visitor: &Visitor,
    new_codes: Option<Vec<String>>,
) -> Result<Response, PageError> {
    let me = visitor.signed_in()?;
    let login = &me.account.login;
    let sessions: Vec<_> = counter
        .store
        .staff_sessions_of(login)
        .await?
        .into_iter()
        .filter(|s| s.verified)
        .map(|s| {
            context! {
                short => s.short_id.clone(), source => s.source.clone().unwrap_or_default(),
                created => format_jst(s.created_at), seen => format_jst(s.last_seen),
                current => s.short_id == me.session.short_id,
            }
        })
        .collect();
    let passkeys: Vec<_> = counter
        .store
        .passkeys_of(login)
        .await?
        .into_iter()
        .map(|p| context! { name => p.name, created => format_jst(p.created_at), used => p.last_used_at.map(format_jst) })
        .collect();
    let codes_left = counter.store.unused_recovery_codes(login).await?;
    counter.admin_pages.render(
        visitor,
        "admin/account.html",
        context! {
            sessions => sessions, passkeys => passkeys, codes_left => codes_left, new_codes => new_codes,
            passkeys_enabled => counter.passkeys.is_some(),
        },
    )
}

pub(crate) async fn sign_out_everywhere(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    let me = visitor.signed_in()?;
    counter.store.end_staff_sessions(&me.account.login, &visitor.actor()).await?;
    let mut response = Redirect::to("/admin/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, super::session_cookie(&counter, "", 0));
    Ok(response)
}

pub(crate) async fn renew_recovery_codes(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    let me = visitor.signed_in()?;
    let codes = identity::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| identity::recovery_code_hash(c)).collect();
    counter.store.renew_recovery_codes(&me.account.login, &hashes, &visitor.actor()).await?;
    account_page(&counter, &visitor, Some(codes)).await
}

fn tenant_name(tenant: &store::Tenant, lang: forms::Lang) -> String {
    if lang == forms::Lang::En {
        tenant.name_en.clone()
    } else {
        tenant.name_ja.clone()
    }
}

pub(crate) async fn tenants(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    tenants_page(&counter, &visitor, None, StatusCode::OK).await
}

async fn tenants_page(
    counter: &Counter,
    visitor: &Visitor,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut rows = Vec::new();
    for tenant in counter.store.tenants().await? {
        let key = counter.store.current_tenant_key(&tenant.id).await?;
        let staff = counter.store.staff_accounts(Some(&tenant.id)).await?.len();
        rows.push(context! {
            id => tenant.id.clone(), name => tenant_name(&tenant, visitor.lang), group => tenant.group_id.clone(),
            key => key.map(|k| k.id().as_str().to_owned()), staff => staff,
        });
    }
    counter.admin_pages.render_status(
        visitor,
        status,
        "admin/tenants.html",
        context! { tenants => rows, error => error },
    )
}

/// A tenant id: like a login id (it appears in URLs).
fn valid_tenant_id(id: &str) -> bool {
    identity::valid_login(id)
}

pub(crate) async fn create_tenant(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    fields: Fields,
) -> Result<Response, PageError> {
    let id = fields.get("id").trim().to_ascii_lowercase();
    let name_ja = forms::nfkc(fields.get("name_ja").trim());
    let name_en = forms::nfkc(fields.get("name_en").trim());
    let error = if !valid_tenant_id(&id) {
        Some("tenant_id_invalid")
    } else if name_ja.is_empty() || name_en.is_empty() {
        Some("tenant_name_missing")
    } else if counter.store.tenant(&id).await?.is_some() {
        Some("tenant_exists")
    } else {
        None
    };
    if let Some(error) = error {
        return tenants_page(&counter, &visitor, Some(error), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let group = fields.get("group").trim();
    let group = if group.is_empty() || counter.store.tenant_group(group).await?.is_none() {
        None
    } else {
        Some(group.to_owned())
    };
    counter
        .store
        .put_tenant(&store::NewTenant {
            id: id.clone(),
            group_id: group,
            name_ja,
            name_en,
            contact_ja: forms::nfkc(fields.get("contact_ja").trim()),
            contact_en: forms::nfkc(fields.get("contact_en").trim()),
        })
        .await?;
    let actor = visitor.actor();
    let mut created =
        store::event(EventKind::AdminAction, &actor.name, Some(&id), Some(&format!("tenant:{id}")), "tenant created");
    created.source = actor.source;
    counter.store.record_event(&created).await?;
    Ok(Redirect::to("/admin/tenants").into_response())
}

/// `now` in unix milliseconds, as the throttle keeps time.
fn staff_rows(accounts: Vec<store::StaffAccount>, now: i64) -> Vec<minijinja::Value> {
    accounts
        .into_iter()
        .map(|a| {
            let roles: Vec<String> = a.grants.iter().map(|g| g.role.as_str().to_owned()).collect();
            context! {
                login => a.login, name => a.display_name, enrolled => a.enrolled, roles => roles,
                locked => a.throttle.locked, failures => a.throttle.failures,
                waiting => (a.throttle.not_before > now).then_some((a.throttle.not_before - now + 999) / 1000),
            }
        })
        .collect()
}

pub(crate) async fn operators(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    staff_page(&counter, &visitor, None, None, StatusCode::OK).await
}

/// The staff page of a tenant, or (tenant None) the operators page.
async fn staff_page(
    counter: &Counter,
    visitor: &Visitor,
    tenant: Option<&store::Tenant>,
    outcome: Option<minijinja::Value>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let accounts = match tenant {
        Some(t) => counter.store.staff_accounts(Some(&t.id)).await?,
        None => counter
            .store
            .staff_accounts(None)
            .await?
            .into_iter()
            .filter(|a| a.grants.iter().any(|g| g.role == Role::Operator))
            .collect(),
    };
    let roles: Vec<&str> = match tenant {
        Some(_) => Role::ALL.iter().filter(|r| r.is_per_tenant()).map(|r| r.as_str()).collect(),
        None => vec![Role::Operator.as_str()],
    };
    let desks: Vec<_> = match tenant {
        Some(t) => counter
            .store
            .tenant_desks(&t.id)
            .await?
            .into_iter()
            .map(|d| context! { id => d.desk_id, fingerprint => d.fingerprint, suspended => d.suspended })
            .collect(),
        None => Vec::new(),
    };
    counter.admin_pages.render_status(
        visitor,
        status,
        "admin/staff.html",
        context! {
            desks => desks,
            tenant => tenant.map(|t| context! { id => t.id.clone(), name => tenant_name(t, visitor.lang) }),
            members => staff_rows(accounts, (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64),
            roles => roles, outcome => outcome,
        },
    )
}

pub(crate) async fn create_operator(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    fields: Fields,
) -> Result<Response, PageError> {
    let grants = vec![Grant { role: Role::Operator, tenant: None }];
    let outcome = create_account(&counter, &visitor, &fields, &grants).await?;
    let status = if outcome.1 { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    staff_page(&counter, &visitor, None, Some(outcome.0), status).await
}

/// Creates an account from the form; (what to show, whether it worked).
async fn create_account(
    counter: &Counter,
    visitor: &Visitor,
    fields: &Fields,
    grants: &[Grant],
) -> Result<(minijinja::Value, bool), PageError> {
    let login = fields.get("login").trim().to_ascii_lowercase();
    let name = forms::nfkc(fields.get("name").trim());
    let error = if !identity::valid_login(&login) {
        Some("login_id_invalid")
    } else if name.is_empty() {
        Some("display_name_missing")
    } else {
        None
    };
    if let Some(error) = error {
        return Ok((context! { error => error, login => login, name => name }, false));
    }
    let (code, hash) = new_enrolment_code();
    let created =
        counter.store.create_staff(&login, &name, grants, &hash, now() + ENROLMENT_SECS, &visitor.actor()).await?;
    if !created {
        return Ok((context! { error => "login_id_taken", login => login, name => name }, false));
    }
    Ok((context! { created => login, enrolment_code => code, expires => format_jst(now() + ENROLMENT_SECS) }, true))
}

async fn tenant_of(counter: &Counter, id: &str) -> Result<store::Tenant, PageError> {
    counter.store.tenant(id).await?.ok_or(PageError::NotFound)
}

pub(crate) async fn staff(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    staff_page(&counter, &visitor, Some(&tenant), None, StatusCode::OK).await
}

pub(crate) async fn create_staff(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let role = Role::parse(fields.get("role")).filter(|r| r.is_per_tenant());
    let (outcome, ok) = match role {
        Some(role) => {
            let grants = vec![Grant { role, tenant: Some(tenant.id.clone()) }];
            create_account(&counter, &visitor, &fields, &grants).await?
        }
        None => (context! { error => "role_invalid" }, false),
    };
    let status = if ok { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    staff_page(&counter, &visitor, Some(&tenant), Some(outcome), status).await
}

/// An account of this tenant (a tenant admin cannot reach others' staff).
async fn member(counter: &Counter, tenant: &str, login: &str) -> Result<store::StaffAccount, PageError> {
    counter
        .store
        .staff_account(login)
        .await?
        .filter(|a| a.grants.iter().any(|g| g.tenant.as_deref() == Some(tenant)))
        .ok_or(PageError::NotFound)
}

pub(crate) async fn unlock(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path((tenant, login)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let account = member(&counter, &tenant, &login).await?;
    counter.store.unlock_staff(&account.login, &visitor.actor()).await?;
    Ok(Redirect::to(&format!("/admin/t/{tenant}/staff")).into_response())
}

/// Lifts a desk key's suspension (by the watch) after review: a note of
/// what the review found and a fresh code from the admin's own
/// authenticator; both the lift and the note go in the ledger.
pub(crate) async fn resume_desk(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path((tenant, desk_id)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let desk = counter.store.desk(&desk_id).await?.filter(|d| d.tenant_id == tenant.id).ok_or(PageError::NotFound)?;
    let login = visitor.staff.as_ref().map(|s| s.account.login.clone()).ok_or(PageError::NotFound)?;
    let note = forms::nfkc(fields.get("note").trim());
    let outcome = if note.is_empty() {
        context! { desk_error => "review_note_missing" }
    } else if !super::auth::fresh_totp(&counter, &login, fields.get("totp"), now() as u64).await? {
        context! { desk_error => "step_up_failed" }
    } else if counter.store.resume_desk(&desk.desk_id, &visitor.actor(), &note).await? {
        context! { desk_resumed => desk.desk_id }
    } else {
        context! { desk_error => "desk_not_suspended" }
    };
    let status = if outcome.get_attr("desk_error").map(|e| e.is_undefined()).unwrap_or(true) {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    staff_page(&counter, &visitor, Some(&tenant), Some(outcome), status).await
}

/// A new enrolment code: for a lost authenticator. Second factors and
/// sessions of the account end.
pub(crate) async fn reset(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path((tenant, login)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let account = member(&counter, &tenant, &login).await?;
    let (code, hash) = new_enrolment_code();
    counter.store.reset_staff_enrolment(&account.login, &hash, now() + ENROLMENT_SECS, &visitor.actor()).await?;
    let tenant = tenant_of(&counter, &tenant).await?;
    let outcome = context! { created => account.login, enrolment_code => code, expires => format_jst(now() + ENROLMENT_SECS), reset => true };
    staff_page(&counter, &visitor, Some(&tenant), Some(outcome), StatusCode::OK).await
}

pub(crate) async fn submissions(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let rows: Vec<Vec<String>> = counter
        .store
        .submission_summaries(&tenant.id, 200)
        .await?
        .into_iter()
        .map(|s| {
            let status = if visitor.lang == forms::Lang::En { s.status.label_en() } else { s.status.label_ja() };
            vec![
                s.receipt.to_string(),
                format!("{} v{}", s.form_id, s.form_version),
                status.to_owned(),
                format_jst(s.received_at),
                s.ledger_index.map(|i| i.to_string()).unwrap_or_default(),
                s.record_sha256.chars().take(16).collect(),
            ]
        })
        .collect();
    // Every read of submission data is in the ledger with who, how many and
    // from where. Receipt data is not content: the rules count no records
    // here, only the networks and addresses the account is used from.
    if let Some(staff) = &visitor.staff {
        let login = staff.account.login.as_str();
        let detail = format!("receipt data of {} submissions (console)", rows.len());
        let mut read = store::event(EventKind::RecordView, &format!("staff:{login}"), Some(&tenant.id), None, &detail);
        read.source = visitor.source.clone();
        counter.store.record_event(&read).await?;
        let reader = crate::watching::Reader::Staff { login };
        let seen = crate::watching::Seen { records: 0, honeytokens: 0 };
        if crate::watching::observe(&counter, reader, &tenant.id, seen, visitor.source.as_deref()).await? {
            return Ok(frozen_page());
        }
    }
    table(
        &counter,
        &visitor,
        &tenant,
        "submissions_heading",
        &["receipt_number", "form_title", "status", "received_at", "ledger_index", "record_hash"],
        rows,
    )
}

/// What a console account frozen by the watch sees.
fn frozen_page() -> Response {
    let body = "<!doctype html><html lang=\"ja\"><meta charset=\"utf-8\"><title>一時停止 / Suspended</title>\
        <h1>このアカウントは一時停止されました / This account has been suspended</h1>\
        <p>通常とは異なる使い方が検知されたため、安全のため停止し、すべてのサインインを終了しました。情報セキュリティ担当者に通知されています。管理者の確認後に再開できます。</p>\
        <p lang=\"en\">Use unlike normal work was detected, so the account was suspended and signed out everywhere; the security contacts were told. An administrator can lift it after review.</p></html>";
    (StatusCode::FORBIDDEN, axum::response::Html(body)).into_response()
}

fn table(
    counter: &Counter,
    visitor: &Visitor,
    tenant: &store::Tenant,
    heading: &str,
    columns: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<Response, PageError> {
    counter.admin_pages.render(
        visitor,
        "admin/table.html",
        context! {
            tenant => context! { id => tenant.id.clone(), name => tenant_name(tenant, visitor.lang) },
            heading => heading, columns => columns, rows => rows,
        },
    )
}

/// The auditor's filters, as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LedgerQuery {
    person: Option<String>,
    tenant: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<i64>,
}

/// A date (西暦 or 和暦) as the start of that day in Japan.
fn day_start(text: &str) -> Option<i64> {
    let date = forms::wareki::parse_date(text)?;
    let jst = time::UtcOffset::from_hms(9, 0, 0).ok()?;
    Some(date.midnight().assume_offset(jst).unix_timestamp())
}

impl LedgerQuery {
    fn filter(&self, tenant: Option<&str>) -> LedgerFilter {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let person = text(&self.person).map(|p| if p.contains(':') { p } else { format!("staff:{p}") });
        LedgerFilter {
            person,
            tenant: tenant.map(str::to_owned).or_else(|| text(&self.tenant)),
            kind: text(&self.kind).and_then(|k| EventKind::parse(&k).ok()),
            from: text(&self.from).and_then(|d| day_start(&d)),
            until: text(&self.until).and_then(|d| day_start(&d)).map(|d| d + 86_400),
        }
    }

    /// The query string of these filters, for the next page and CSV links.
    fn query_string(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("person", &self.person),
            ("tenant", &self.tenant),
            ("kind", &self.kind),
            ("from", &self.from),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

const LEDGER_PAGE: i64 = 100;

async fn ledger_page(
    counter: &Counter,
    visitor: &Visitor,
    tenant: Option<store::Tenant>,
    query: LedgerQuery,
) -> Result<Response, PageError> {
    let filter = query.filter(tenant.as_ref().map(|t| t.id.as_str()));
    let entries = counter.store.search_ledger(&filter, query.before, LEDGER_PAGE).await?;
    let next = (entries.len() as i64 == LEDGER_PAGE).then(|| entries.last().map(|e| e.index)).flatten();
    let rows: Vec<_> = entries.iter().map(entry_row).collect();
    let base = match &tenant {
        Some(t) => format!("/admin/t/{}/ledger", t.id),
        None => "/admin/ledger".into(),
    };
    let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    counter.admin_pages.render(
        visitor,
        "admin/ledger.html",
        context! {
            tenant => tenant.as_ref().map(|t| context! { id => t.id.clone(), name => tenant_name(t, visitor.lang) }),
            rows => rows, kinds => kinds, base => base, query => query.query_string(), next => next,
            person => query.person.clone().unwrap_or_default(), tenant_filter => query.tenant.clone().unwrap_or_default(),
            kind => query.kind.clone().unwrap_or_default(), from => query.from.clone().unwrap_or_default(),
            until => query.until.clone().unwrap_or_default(),
        },
    )
}

fn entry_row(entry: &LedgerEntry) -> minijinja::Value {
    let e = &entry.event;
    context! {
        index => entry.index, at => format_jst(e.at), kind => e.kind.as_str(), actor => e.actor.clone(),
        tenant => e.tenant.clone().unwrap_or_default(), source => e.source.clone().unwrap_or_default(),
        subject => e.subject.clone().unwrap_or_default(), detail => e.detail.clone(),
    }
}

/// The filtered ledger as CSV (UTF-8 with BOM, for Excel), itself entered
/// in the ledger as an export.
async fn ledger_csv(
    counter: &Counter,
    visitor: &Visitor,
    tenant: Option<store::Tenant>,
    query: LedgerQuery,
) -> Result<Response, PageError> {
    let filter = query.filter(tenant.as_ref().map(|t| t.id.as_str()));
    let mut out = String::from("\u{feff}index,at,kind,actor,tenant,source,subject,detail,leaf_hash\r\n");
    let mut before = None;
    let mut count = 0u64;
    loop {
        let entries = counter.store.search_ledger(&filter, before, 5_000).await?;
        let Some(last) = entries.last() else { break };
        before = Some(last.index);
        for entry in &entries {
            let e = &entry.event;
            let fields = [
                entry.index.to_string(),
                format_jst(e.at),
                e.kind.as_str().to_owned(),
                e.actor.clone(),
                e.tenant.clone().unwrap_or_default(),
                e.source.clone().unwrap_or_default(),
                e.subject.clone().unwrap_or_default(),
                e.detail.clone(),
                hex::encode(entry.leaf_hash),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
            count += 1;
        }
        if count >= 1_000_000 {
            break;
        }
    }
    let actor = visitor.actor();
    let mut export = store::event(
        EventKind::Export,
        &actor.name,
        tenant.as_ref().map(|t| t.id.as_str()),
        Some("ledger"),
        &format!("ledger export: {count} entries; filter {}", query.query_string()),
    );
    export.source = actor.source;
    counter.store.record_event(&export).await?;
    let name = format!("ledger-{}.csv", tenant.as_ref().map(|t| t.id.as_str()).unwrap_or("all"));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        out,
    )
        .into_response())
}

/// RFC 4180 quoting; a leading =, +, - or @ is defused so a spreadsheet
/// does not run it as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The scope of a ledger request: installation-wide (`/admin/ledger…`,
/// the operator) or one tenant's (`/admin/t/{tenant}/ledger…`).
async fn ledger_scope(counter: &Counter, tenant: Option<Path<String>>) -> Result<Option<store::Tenant>, PageError> {
    match tenant {
        Some(Path(id)) => Ok(Some(tenant_of(counter, &id).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn ledger(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    tenant: Option<Path<String>>,
    Query(query): Query<LedgerQuery>,
) -> Result<Response, PageError> {
    let tenant = ledger_scope(&counter, tenant).await?;
    ledger_page(&counter, &visitor, tenant, query).await
}

/// The same, as CSV.
pub(crate) async fn ledger_export(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    tenant: Option<Path<String>>,
    Query(query): Query<LedgerQuery>,
) -> Result<Response, PageError> {
    let tenant = ledger_scope(&counter, tenant).await?;
    ledger_csv(&counter, &visitor, tenant, query).await
}

/// The operator's live view of the shield: per tenant admitted, shed,
/// in flight, queued, and the under-attack switch.
pub(crate) async fn shield_status(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
) -> Result<Response, PageError> {
    let status = counter.shield().map(|s| s.status());
    let switched: std::collections::HashSet<String> = counter.store.tenants_under_attack().await?.into_iter().collect();
    let isolated: std::collections::HashMap<String, store::Isolation> =
        counter.store.isolated_tenants().await?.into_iter().map(|i| (i.tenant.clone(), i)).collect();
    let tenants: Vec<_> = counter
        .store
        .tenants()
        .await?
        .into_iter()
        .map(|t| {
            let live = status.as_ref().and_then(|s| s.tenants.iter().find(|l| l.tenant == t.id).cloned());
            let isolation =
                isolated.get(&t.id).map(|i| context! { notice_ja => i.notice_ja, notice_en => i.notice_en });
            context! {
                id => t.id.clone(), name => tenant_name(&t, visitor.lang), switched => switched.contains(&t.id),
                live => live, isolation => isolation,
            }
        })
        .collect();
    counter.admin_pages.render(&visitor, "admin/shield.html", context! { status => status, tenants => tenants })
}

/// The operator isolates a tenant (with the notice its residents will
/// read) or restores it; this node follows at once, the others within
/// seconds.
pub(crate) async fn switch_isolation(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let actor = visitor.actor().name;
    if fields.get("state") == "on" {
        let (ja, en) = (fields.get("notice_ja"), fields.get("notice_en"));
        if ja.chars().count() > 2000 || en.chars().count() > 2000 {
            return Err(PageError::BadRequest);
        }
        counter.store.isolate_tenant(&tenant.id, ja.trim(), en.trim(), &actor).await?;
    } else {
        counter.store.restore_tenant(&tenant.id, &actor).await?;
    }
    counter.refresh_tenants().await?;
    Ok(Redirect::to("/admin/shield").into_response())
}

pub(crate) async fn switch_under_attack(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let on = fields.get("state") == "on";
    counter.store.set_under_attack(&tenant.id, on, &visitor.actor().name).await?;
    if let Some(shield) = counter.shield() {
        shield.set_under_attack(&tenant.id, on);
    }
    Ok(Redirect::to("/admin/shield").into_response())
}
