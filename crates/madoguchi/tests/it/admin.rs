//! The admin console: staff accounts with mandatory second factors, one
//! authorisation table for every route and role, sign-in throttling across
//! source addresses, CSRF, passkeys, and the auditor's view of the ledger.

use std::collections::BTreeMap;
use std::net::IpAddr;

use reqwest::StatusCode;
use testkit::{Engine, TestCounter};

use crate::desk::{now_secs, totp_code};
use crate::{element_text, hidden_input, madoguchi};

/// Where the test's soft authenticator believes it is (the server compares
/// the origin in what the authenticator signs with this).
pub const PUBLIC_URL: &str = "http://localhost:8443";
pub(crate) const PASSWORD: &str = "midori-ken-2026-aoba!";

/// A counter whose sign-in delays are counted in 50 ms rather than
/// seconds, so the lockout test waits them out in seconds.
pub async fn start_counter(engine: Engine) -> TestCounter {
    TestCounter::start_with(madoguchi(), engine, &["--public-url", PUBLIC_URL, "--sign-in-delay-unit-ms", "50"]).await
}

/// A browser without a browser: keeps cookies, sends the CSRF token.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    /// The Set-Cookie headers, as sent.
    pub set_cookie: Vec<String>,
    pub location: String,
    pub denied: bool,
    pub body: String,
}

impl Browser {
    pub fn new(counter: &TestCounter) -> Browser {
        Browser::from(counter, None)
    }

    /// A browser whose connections come from `source` (127.0.0.x).
    pub fn from(counter: &TestCounter, source: Option<IpAddr>) -> Browser {
        Browser::at(&counter.url, source)
    }

    /// A browser for any madoguchi server at `base` (the desk too).
    pub fn at(base: &str, source: Option<IpAddr>) -> Browser {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(source) = source {
            builder = builder.local_address(source);
        }
        Browser { http: builder.build().unwrap(), base: base.to_owned(), cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let mut set_cookie = Vec::new();
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            set_cookie.push(text.to_owned());
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let denied = response.headers().get("x-access").is_some();
        Page { status, set_cookie, location, denied, body: response.text().await.unwrap() }
    }

    /// The same browser (its cookies) connecting from `source`: a stolen
    /// session used from elsewhere.
    pub fn moved_to(&self, source: IpAddr) -> Browser {
        let mut moved = Browser::at(&self.base, Some(source));
        moved.cookies = self.cookies.clone();
        moved
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response =
            self.http.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).send().await.unwrap();
        self.finish(response).await
    }

    /// POSTs a form; `_csrf` is taken from `csrf_page` unless given.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    pub async fn post_json(&mut self, path: &str, csrf: &str, body: &serde_json::Value) -> Page {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("x-csrf-token", csrf)
            .json(body)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// The CSRF token of a page.
    pub async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        hidden_input(&page.body, "_csrf").unwrap_or_else(|| panic!("no CSRF token on {path}: {}", page.body))
    }

    pub async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf(form_page).await;
        let mut all = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }
}

/// `madoguchi admin create-operator`; returns the enrolment code.
pub fn create_operator(counter: &TestCounter, login: &str) -> String {
    let args = ["admin", "create-operator", "--login", login, "--name", "県 情報政策課"];
    let stdout = crate::operator_command(counter, &args.map(std::ffi::OsStr::new));
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("enrolment code:"))
        .map(|c| c.trim().to_owned())
        .expect("an enrolment code")
}

/// What enrolment hands back.
pub struct Enrolled {
    pub secret: String,
    pub recovery_codes: Vec<String>,
    /// The TOTP time used at enrolment; sign-ins use later steps.
    pub t0: u64,
}

fn recovery_codes(html: &str) -> Vec<String> {
    let start = html.find("id=\"recovery-codes\"").expect("recovery codes");
    html[start..]
        .split("<code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .take_while(|c| c.len() == 14)
        .collect()
}

/// Enrols through the pages: password, TOTP (QR), recovery codes.
pub async fn enrol(browser: &mut Browser, login: &str, code: &str) -> Enrolled {
    let page = browser
        .submit(
            "/admin/enrol",
            "/admin/enrol",
            &[("login", login), ("code", code), ("password", PASSWORD), ("password2", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code");
    let secret = element_text(&page.body, "totp-secret").expect("the TOTP secret");
    let t0 = now_secs();
    let csrf = hidden_input(&page.body, "_csrf").unwrap();
    let done = browser
        .post(
            "/admin/enrol/confirm",
            &[("_csrf", &csrf), ("login", login), ("code", code), ("totp", &totp_code(&secret, t0))],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let codes = recovery_codes(&done.body);
    assert_eq!(codes.len(), 10);
    Enrolled { secret, recovery_codes: codes, t0 }
}

/// Password, then `second` (a TOTP code or a recovery code).
pub async fn sign_in(browser: &mut Browser, login: &str, second: &str) -> Page {
    let page = browser.submit("/admin/login", "/admin/login", &[("login", login), ("password", PASSWORD)]).await;
    assert_eq!((page.status, page.location.as_str()), (StatusCode::SEE_OTHER, "/admin/login/second"), "{}", page.body);
    browser.submit("/admin/login/second", "/admin/login/second", &[("code", second)]).await
}

pub async fn signed_in_operator(counter: &TestCounter) -> (Browser, Enrolled) {
    let code = create_operator(counter, "kenjoho");
    let mut browser = Browser::new(counter);
    let enrolled = enrol(&mut browser, "kenjoho", &code).await;
    let page = sign_in(&mut browser, "kenjoho", &totp_code(&enrolled.secret, enrolled.t0 + 30)).await;
    assert_eq!((page.status, page.location.as_str()), (StatusCode::SEE_OTHER, "/admin"), "{}", page.body);
    (browser, enrolled)
}

/// Creates an account through the staff page; returns its enrolment code.
pub(crate) async fn create_account(admin: &mut Browser, tenant: &str, login: &str, role: &str) -> String {
    let page = admin
        .submit(
            &format!("/admin/t/{tenant}/staff"),
            &format!("/admin/t/{tenant}/staff"),
            &[("login", login), ("name", "青葉 花子"), ("role", role)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    element_text(&page.body, "enrolment-code").unwrap_or_else(|| panic!("no enrolment code: {}", page.body))
}

pub(crate) async fn sign_in_staff(counter: &TestCounter, code: &str, login: &str) -> (Browser, Enrolled) {
    let mut browser = Browser::new(counter);
    let enrolled = enrol(&mut browser, login, code).await;
    // A recovery code, so accounts enrolled within one TOTP step sign in at once.
    let page = sign_in(&mut browser, login, &enrolled.recovery_codes[0]).await;
    assert_eq!(page.location, "/admin", "{}", page.body);
    (browser, enrolled)
}

async fn staff_enrol_with_totp_and_every_step_is_in_the_ledger(engine: Engine) {
    let counter = start_counter(engine).await;
    let code = create_operator(&counter, "kenjoho");
    let mut browser = Browser::new(&counter);

    // Nothing but sign-in before signing in.
    let home = browser.get("/admin").await;
    assert_eq!((home.status, home.location.as_str(), home.denied), (StatusCode::SEE_OTHER, "/admin/login", true));

    // Enrolment refuses a weak password, then sets up TOTP.
    let weak = browser
        .submit(
            "/admin/enrol",
            "/admin/enrol",
            &[("login", "kenjoho"), ("code", &code), ("password", "kenjoho-2026-pw"), ("password2", "kenjoho-2026-pw")],
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.body.contains("パスワードにログインIDを含めないでください"), "{}", weak.body);
    let enrolled = enrol(&mut browser, "kenjoho", &code).await;

    // The enrolment code is spent.
    let again = browser
        .submit(
            "/admin/enrol",
            "/admin/enrol",
            &[("login", "kenjoho"), ("code", &code), ("password", PASSWORD), ("password2", PASSWORD)],
        )
        .await;
    assert_eq!(again.status, 422);

    // The code used at enrolment is not good again; the next step's is.
    let replay = sign_in(&mut browser, "kenjoho", &totp_code(&enrolled.secret, enrolled.t0)).await;
    assert_eq!(replay.status, 401, "a TOTP code is good once");
    let page = sign_in(&mut browser, "kenjoho", &totp_code(&enrolled.secret, enrolled.t0 + 30)).await;
    assert_eq!((page.status, page.location.as_str()), (StatusCode::SEE_OTHER, "/admin"), "{}", page.body);
    let cookie = browser.cookies.get("madoguchi_admin").cloned().expect("a session cookie");
    let home = browser.get("/admin").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("/admin/tenants"), "the operator manages tenants");

    // A recovery code works once.
    let mut other = Browser::new(&counter);
    let first = sign_in(&mut other, "kenjoho", &enrolled.recovery_codes[3].to_uppercase()).await;
    assert_eq!(first.location, "/admin", "{}", first.body);
    let mut third = Browser::new(&counter);
    let reused = sign_in(&mut third, "kenjoho", &enrolled.recovery_codes[3]).await;
    assert_eq!(reused.status, 401);

    // Both sessions are listed; "sign out everywhere" ends them all.
    let account = browser.get("/admin/account").await;
    assert_eq!(account.body.matches("<tr><td>").count(), 2, "{}", account.body);
    let out = browser.submit("/admin/account", "/admin/account/sign-out-everywhere", &[]).await;
    assert_eq!(out.location, "/admin/login");
    let mut stale = Browser::new(&counter);
    stale.cookies.insert("madoguchi_admin".into(), cookie);
    assert!(stale.get("/admin").await.denied);
    assert!(other.get("/admin").await.denied);

    // Every step is in the ledger, with who and from where.
    let store = counter.store().await;
    let entries = store.ledger_entries(0, 1000).await.unwrap();
    let about: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e.event.actor == "staff:kenjoho" || e.event.subject.as_deref() == Some("staff:kenjoho"))
        .map(|e| (e.event.kind.as_str().to_owned(), e.event.detail.clone()))
        .collect();
    for (kind, detail) in [
        ("admin_action", "account created: operator@*"),
        ("second_factor_change", "enrolled: password, TOTP, recovery codes"),
        ("login_failed", "wrong second factor"),
        ("login", "signed in with TOTP"),
        ("login", "signed in with recovery code"),
        ("second_factor_change", "recovery code used; 9 left"),
        ("admin_action", "signed out everywhere"),
    ] {
        assert!(about.iter().any(|(k, d)| k == kind && d.starts_with(detail)), "no {kind} {detail:?} in {about:#?}");
    }
    assert!(entries
        .iter()
        .filter(|e| e.event.kind.as_str() == "login")
        .all(|e| e.event.source.as_deref() == Some("127.0.0.1")));
}

/// Who asks, in the route × role table.
pub const PRINCIPALS: [&str; 7] =
    ["anonymous", "operator", "tenant-admin", "form-admin", "processor", "auditor", "other-tenant-admin"];

/// The expected table, written out by hand: for every admin route, who
/// gets through the guard ("-" no one of these, since the route is for a
/// half-signed-in session). Tenant routes are asked about tenant aoba; the
/// other tenant's admin runs sakura.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("GET", "/admin", "operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("GET", "/admin/login", "anonymous operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("POST", "/admin/login", "anonymous operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("GET", "/admin/enrol", "anonymous operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("POST", "/admin/enrol", "anonymous operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("POST", "/admin/enrol/confirm", "anonymous operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("GET", "/admin/lang/{to}", "anonymous operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("GET", "/admin/passkey.js", "anonymous operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("GET", "/admin/login/second", "-"),
    ("POST", "/admin/login/second", "-"),
    ("POST", "/admin/login/passkey/start", "-"),
    ("POST", "/admin/login/passkey/finish", "-"),
    ("GET", "/admin/account", "operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("POST", "/admin/account/recovery-codes", "operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("POST", "/admin/account/passkeys/start", "operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("POST", "/admin/account/passkeys/finish", "operator tenant-admin form-admin processor auditor other-tenant-admin"),
    ("GET", "/admin/tenants", "operator"),
    ("POST", "/admin/tenants", "operator"),
    ("GET", "/admin/operators", "operator"),
    ("POST", "/admin/operators", "operator"),
    ("GET", "/admin/shield", "operator"),
    ("POST", "/admin/shield/{tenant}/under-attack", "operator"),
    ("POST", "/admin/shield/{tenant}/isolation", "operator"),
    ("GET", "/admin/ledger", "operator"),
    ("GET", "/admin/ledger.csv", "operator"),
    ("GET", "/admin/t/{tenant}/staff", "operator tenant-admin"),
    ("POST", "/admin/t/{tenant}/staff", "operator tenant-admin"),
    ("POST", "/admin/t/{tenant}/staff/{login}/unlock", "operator tenant-admin"),
    ("POST", "/admin/t/{tenant}/staff/{login}/reset", "operator tenant-admin"),
    ("POST", "/admin/t/{tenant}/desks/{desk}/resume", "operator tenant-admin"),
    ("GET", "/admin/t/{tenant}/forms", "tenant-admin form-admin"),
    ("GET", "/admin/t/{tenant}/forms/new", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/forms/builder", "tenant-admin form-admin"),
    ("GET", "/admin/t/{tenant}/forms/import", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/forms/import", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/forms/adopt", "tenant-admin form-admin"),
    ("GET", "/admin/t/{tenant}/forms/{form}/edit", "tenant-admin form-admin"),
    ("GET", "/admin/t/{tenant}/forms/{form}/export.toml", "tenant-admin form-admin"),
    ("GET", "/admin/t/{tenant}/submissions", "tenant-admin processor"),
    // Crisis mode: the municipality's own admin, and the operator for it.
    ("GET", "/admin/t/{tenant}/crisis", "operator tenant-admin"),
    ("POST", "/admin/t/{tenant}/crisis", "operator tenant-admin"),
    // The ledger holds no personal data; the operator reads all of it.
    ("GET", "/admin/t/{tenant}/ledger", "operator tenant-admin auditor"),
    ("GET", "/admin/t/{tenant}/ledger.csv", "operator tenant-admin auditor"),
    ("GET", "/admin/t/{tenant}/rooms", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/rooms", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/rooms/settings", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/rooms/rules", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/rooms/participants/{participant}/unlock", "tenant-admin form-admin"),
    ("GET", "/admin/t/{tenant}/rooms/{room}", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/rooms/{room}/posts/{post}", "tenant-admin form-admin"),
    ("POST", "/admin/t/{tenant}/rooms/{room}/report", "tenant-admin form-admin"),
    // Last, as they end sessions.
    (
        "POST",
        "/admin/account/sign-out-everywhere",
        "operator tenant-admin form-admin processor auditor other-tenant-admin",
    ),
    ("POST", "/admin/logout", "operator tenant-admin form-admin processor auditor other-tenant-admin"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_role_as_the_table_says() {
    let counter = start_counter(Engine::Sqlite).await;
    let (mut operator, operator_enrolled) = signed_in_operator(&counter).await;

    // The operator makes the first tenant admin; that admin makes the rest.
    let admin_code = create_account(&mut operator, "aoba-city", "aoba.admin", "tenant-admin").await;
    let other_code = create_account(&mut operator, "sakura-town", "sakura.admin", "tenant-admin").await;
    let (mut tenant_admin, admin_enrolled) = sign_in_staff(&counter, &admin_code, "aoba.admin").await;
    let mut browsers: BTreeMap<&str, Browser> = BTreeMap::new();
    let mut logins: BTreeMap<&str, (&str, Enrolled)> = BTreeMap::new();
    for (principal, login) in [("form-admin", "aoba.forms"), ("processor", "aoba.clerk"), ("auditor", "aoba.audit")] {
        let code = create_account(&mut tenant_admin, "aoba-city", login, principal).await;
        let (browser, enrolled) = sign_in_staff(&counter, &code, login).await;
        browsers.insert(principal, browser);
        logins.insert(principal, (login, enrolled));
    }
    // The account the staff routes act on: made, never enrolled.
    create_account(&mut tenant_admin, "aoba-city", "aoba.target", "processor").await;
    let (browser, enrolled) = sign_in_staff(&counter, &other_code, "sakura.admin").await;
    browsers.insert("other-tenant-admin", browser);
    logins.insert("other-tenant-admin", ("sakura.admin", enrolled));
    logins.insert("operator", ("kenjoho", operator_enrolled));
    logins.insert("tenant-admin", ("aoba.admin", admin_enrolled));
    browsers.insert("operator", operator);
    browsers.insert("tenant-admin", tenant_admin);
    browsers.insert("anonymous", Browser::new(&counter));

    // The table covers exactly the routes the console has.
    let routes: Vec<(&str, &str)> = counter::ADMIN_ROUTES.iter().map(|(m, p, _)| (*m, *p)).collect();
    let mut expected_routes: Vec<(&str, &str)> = EXPECTED.iter().map(|(m, p, _)| (*m, *p)).collect();
    let mut sorted_routes = routes.clone();
    sorted_routes.sort();
    expected_routes.sort();
    assert_eq!(sorted_routes, expected_routes);

    let mut mismatches = Vec::new();
    for (method, route, allowed) in EXPECTED {
        let path = route
            .replace("{tenant}", "aoba-city")
            .replace("{login}", "aoba.target")
            .replace("{to}", "en")
            .replace("{form}", "water-start")
            .replace("{room}", "no-such-room")
            .replace("{post}", "1")
            .replace("{participant}", "no-such-participant");
        for principal in PRINCIPALS {
            if *route == "/admin/logout" && principal != "anonymous" {
                // "Sign out everywhere" just ended this session: sign in again.
                let (login, enrolled) = &logins[principal];
                let mut fresh = Browser::new(&counter);
                let page = sign_in(&mut fresh, login, &enrolled.recovery_codes[1]).await;
                assert_eq!(page.location, "/admin", "{}", page.body);
                browsers.insert(principal, fresh);
            }
            let browser = browsers.get_mut(principal).unwrap();
            let page = if *method == "GET" {
                browser.get(&path).await
            } else {
                // A real form from a page this browser can open, so a refusal
                // is about the role, not about CSRF.
                let csrf_page = if principal == "anonymous" { "/admin/login" } else { "/admin/account" };
                let csrf = browser.csrf(csrf_page).await;
                if path.contains("passkeys/") || path.contains("passkey/") {
                    browser.post_json(&path, &csrf, &serde_json::json!({})).await
                } else {
                    browser.post(&path, &[("_csrf", &csrf)]).await
                }
            };
            if path.ends_with("/recovery-codes") && !page.denied {
                logins.get_mut(principal).unwrap().1.recovery_codes = recovery_codes(&page.body);
            }
            let expected = allowed.split(' ').any(|p| p == principal);
            if page.denied == expected {
                mismatches.push(format!(
                    "{method} {path} as {principal}: {} (expected {})",
                    page.status,
                    if expected { "allowed" } else { "denied" }
                ));
            }
            if page.denied {
                assert!(matches!(page.status.as_u16(), 303 | 403), "{method} {path} as {principal}: {}", page.status);
            }
        }
    }
    assert!(mismatches.is_empty(), "route × role table differs:\n{}", mismatches.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let counter = start_counter(Engine::Sqlite).await;
    let (mut operator, _) = signed_in_operator(&counter).await;
    let fields = [("id", "midori-mura"), ("name_ja", "みどり村"), ("name_en", "Midori Village")];
    let forged = operator.post("/admin/tenants", &fields).await;
    assert_eq!((forged.status, forged.denied), (StatusCode::FORBIDDEN, true));
    let mut wrong = vec![("_csrf", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")];
    wrong.extend_from_slice(&fields);
    assert_eq!(operator.post("/admin/tenants", &wrong).await.status, StatusCode::FORBIDDEN);
    assert!(counter.store().await.tenant("midori-mura").await.unwrap().is_none());
    // The same form with its token works.
    let made = operator.submit("/admin/tenants", "/admin/tenants", &fields).await;
    assert_eq!(made.location, "/admin/tenants", "{}", made.body);
    assert!(counter.store().await.tenant("midori-mura").await.unwrap().is_some());
    // Before sign-in, forms carry a double-submit token too.
    let mut anonymous = Browser::new(&counter);
    let page = anonymous.post("/admin/login", &[("login", "kenjoho"), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_twenty_addresses_slow_then_lock_the_account_until_a_tenant_admin_lifts_it() {
    let counter = start_counter(Engine::Sqlite).await;
    let (mut operator, _) = signed_in_operator(&counter).await;
    let code = create_account(&mut operator, "aoba-city", "aoba.admin", "tenant-admin").await;
    let (mut tenant_admin, _) = sign_in_staff(&counter, &code, "aoba.admin").await;
    let code = create_account(&mut tenant_admin, "aoba-city", "aoba.clerk", "processor").await;
    let mut clerk = Browser::new(&counter);
    let enrolled = enrol(&mut clerk, "aoba.clerk", &code).await;

    // A thief tries passwords from twenty addresses (127.0.0.2 … 127.0.0.21),
    // each waiting out the delay the previous failure imposed.
    let mut statuses = Vec::new();
    let mut waited = Vec::new();
    for last_octet in 2..=21u8 {
        let mut thief = Browser::from(&counter, Some(IpAddr::from([127, 0, 0, last_octet])));
        let page = thief
            .submit("/admin/login", "/admin/login", &[("login", "aoba.clerk"), ("password", "guess-number-0042")])
            .await;
        statuses.push(page.status.as_u16());
        if page.body.contains("待ち時間") {
            let account = counter.store().await.staff_account("aoba.clerk").await.unwrap().unwrap();
            let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
            let wait = account.throttle.not_before - now_ms;
            if wait > 1500 {
                // Trying again during the wait, even with the right password,
                // is refused without being checked.
                let mut hurried = Browser::from(&counter, Some(IpAddr::from([127, 0, 1, last_octet])));
                let early = hurried
                    .submit("/admin/login", "/admin/login", &[("login", "aoba.clerk"), ("password", PASSWORD)])
                    .await;
                assert!(early.body.contains("しばらく待って"), "{} {}", early.status, early.body);
            }
            waited.push(account.throttle.failures);
            tokio::time::sleep(std::time::Duration::from_millis(wait.max(0) as u64 + 20)).await;
        }
        if page.body.contains("ロックされています") {
            break;
        }
    }
    let account = counter.store().await.staff_account("aoba.clerk").await.unwrap().unwrap();
    assert!(account.throttle.locked, "locked after {} attempts: {statuses:?}", statuses.len());
    assert_eq!(account.throttle.failures, identity::LOCK_AFTER_FAILURES);
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(waited, (3..identity::LOCK_AFTER_FAILURES).collect::<Vec<_>>(), "delays from the third failure on");

    // Locked: even the right password and code are refused.
    let right = sign_in_refused(&mut clerk, "aoba.clerk").await;
    assert!(right.contains("ロックされています"), "{right}");

    // The tenant admin sees the lock and lifts it; the clerk signs in.
    let staff_page = tenant_admin.get("/admin/t/aoba-city/staff").await;
    assert!(staff_page.body.contains("ロック中"), "{}", staff_page.body);
    let lifted =
        tenant_admin.submit("/admin/t/aoba-city/staff", "/admin/t/aoba-city/staff/aoba.clerk/unlock", &[]).await;
    assert_eq!(lifted.location, "/admin/t/aoba-city/staff");
    let page = sign_in(&mut clerk, "aoba.clerk", &totp_code(&enrolled.secret, enrolled.t0 + 30)).await;
    assert_eq!(page.location, "/admin", "{}", page.body);

    // The ledger names every failure with its own source address, and the lift.
    let entries = counter.store().await.ledger_entries(0, 10_000).await.unwrap();
    let sources: std::collections::BTreeSet<_> = entries
        .iter()
        .filter(|e| e.event.kind.as_str() == "login_failed" && e.event.actor == "staff:aoba.clerk")
        .filter_map(|e| e.event.source.clone())
        .collect();
    assert!(sources.len() >= identity::LOCK_AFTER_FAILURES as usize, "{sources:?}");
    assert!(entries.iter().any(|e| e.event.actor == "staff:aoba.admin" && e.event.detail == "unlocked"));
}

/// Signs in with the right password while locked; returns the page.
async fn sign_in_refused(browser: &mut Browser, login: &str) -> String {
    let page = browser.submit("/admin/login", "/admin/login", &[("login", login), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 401);
    page.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_registered_with_a_software_authenticator_signs_in() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

    let counter = start_counter(Engine::Sqlite).await;
    let (mut operator, _) = signed_in_operator(&counter).await;
    let origin = url::Url::parse(PUBLIC_URL).unwrap();
    let mut authenticator = WebauthnAuthenticator::new(SoftPasskey::new(true));

    // Register from the account page.
    let csrf = operator.csrf("/admin/account").await;
    let start = operator.post_json("/admin/account/passkeys/start", &csrf, &serde_json::json!({})).await;
    assert_eq!(start.status, 200, "{}", start.body);
    let start: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    let challenge: CreationChallengeResponse = serde_json::from_value(start["options"].clone()).unwrap();
    let credential =
        authenticator.do_registration(origin.clone(), challenge).expect("the soft authenticator registers");
    let finish = operator
        .post_json(
            "/admin/account/passkeys/finish",
            &csrf,
            &serde_json::json!({ "ceremony": start["ceremony"], "name": "テスト用キー", "credential": credential }),
        )
        .await;
    assert_eq!(finish.status, 200, "{}", finish.body);
    assert!(operator.get("/admin/account").await.body.contains("テスト用キー"));

    // Sign in: password, then the passkey.
    let mut browser = Browser::new(&counter);
    let page = browser.submit("/admin/login", "/admin/login", &[("login", "kenjoho"), ("password", PASSWORD)]).await;
    assert_eq!(page.location, "/admin/login/second");
    let second = browser.get("/admin/login/second").await;
    assert!(second.body.contains("passkey-login"), "the passkey button is offered");
    let csrf = hidden_input(&second.body, "_csrf").unwrap();
    let start = browser.post_json("/admin/login/passkey/start", &csrf, &serde_json::json!({})).await;
    assert_eq!(start.status, 200, "{}", start.body);
    let start: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    let challenge: RequestChallengeResponse = serde_json::from_value(start["options"].clone()).unwrap();
    let assertion = authenticator.do_authentication(origin.clone(), challenge).expect("the soft authenticator signs");
    // The same assertion cannot be sent twice: the ceremony is taken once.
    let body = serde_json::json!({ "ceremony": start["ceremony"], "credential": assertion });
    let done = browser.post_json("/admin/login/passkey/finish", &csrf, &body).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(browser.get("/admin").await.status, 200, "signed in with the passkey");

    // Another browser replaying that answer gets nowhere.
    let mut replayer = Browser::new(&counter);
    replayer.submit("/admin/login", "/admin/login", &[("login", "kenjoho"), ("password", PASSWORD)]).await;
    let csrf = replayer.csrf("/admin/login/second").await;
    let replay = replayer.post_json("/admin/login/passkey/finish", &csrf, &body).await;
    assert_eq!(replay.status, 401);

    let entries = counter.store().await.ledger_entries(0, 1000).await.unwrap();
    assert!(entries.iter().any(|e| e.event.detail.starts_with("passkey registered")));
    assert!(entries.iter().any(|e| e.event.detail == "signed in with passkey"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_filters_the_ledger_by_person_type_and_time_and_exports_it() {
    let counter = start_counter(Engine::Sqlite).await;
    let (mut operator, _) = signed_in_operator(&counter).await;
    let code = create_account(&mut operator, "aoba-city", "aoba.audit", "auditor").await;
    let (mut auditor, _) = sign_in_staff(&counter, &code, "aoba.audit").await;
    // A resident's submission to aoba, and activity in sakura.
    crate::apply(&counter, "aoba-city", "water-start", &crate::water_start_answers(&[])).await;
    create_account(&mut operator, "sakura-town", "sakura.admin", "tenant-admin").await;

    let all = auditor.get("/admin/t/aoba-city/ledger").await;
    assert_eq!(all.status, 200);
    assert!(all.body.contains("<td>submission</td>"), "{}", all.body);
    assert!(!all.body.contains("sakura.admin"), "another tenant's events stay out");

    let kinds = auditor.get("/admin/t/aoba-city/ledger?kind=login").await;
    assert!(kinds.body.contains("signed in with recovery code"));
    assert!(!kinds.body.contains("<td>submission</td>"));

    let person = auditor.get("/admin/t/aoba-city/ledger?person=aoba.audit").await;
    assert!(person.body.contains("staff:aoba.audit"));
    assert!(!person.body.contains("<td>submission</td>"));

    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(2)).date();
    let future = auditor.get(&format!("/admin/t/aoba-city/ledger?from={tomorrow}")).await;
    assert!(future.body.contains("該当する記録はありません"), "{}", future.body);

    let csv = auditor.get("/admin/t/aoba-city/ledger.csv?kind=login").await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with('\u{feff}'));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].contains("index,at,kind,actor"));
    assert!(lines[1..].iter().all(|l| l.contains(",login,")), "{lines:?}");
    // The export is itself in the ledger.
    let export = auditor.get("/admin/t/aoba-city/ledger?kind=export").await;
    assert!(export.body.contains("ledger export"), "{}", export.body);

    // An auditor of aoba does not read sakura's ledger.
    assert!(auditor.get("/admin/t/sakura-town/ledger").await.denied);
}

crate::on_both_engines!(staff_enrol_with_totp_and_every_step_is_in_the_ledger);
