//! Verified surveys (住民限定アンケート) on the counter: a survey whose
//! definition says `verify = { method = …, require = […] }` takes answers
//! only from respondents who prove who they are, each once.
//!
//! - `jpki`: the resident signs the text [`signing_text`] names (the
//!   answers' hash) with the signing certificate of their マイナンバーカード
//!   and sends the signature with 送信; the counter checks it, the chain to
//!   the configured anchors and revocation (`residency::jpki`).
//! - `oidc`: before answering, the resident signs in at the installation's
//!   identity provider (authorization code with PKCE); the callback leaves a
//!   sealed respondent cookie for that form (`residency::oidc`).
//!
//! Either way the counter learns who answered only for the moment of
//! verification: it keeps a keyed per-form pseudonym (`seal::Pseudonyms`),
//! which makes a second answer impossible, and the sealed record says only
//! which of the form's requirements were met. Names, addresses, birth dates
//! and certificate serials never reach a disk, a log line or a page.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use forms::{FormDefinition, Lang, Requirement, VerificationMethod};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::draft::{now_unix, Draft};
use crate::{Counter, PageError};

/// Where respondents' proofs are checked against: the installation's JPKI
/// trust and identity provider, and each municipality's address.
#[derive(Clone, Default, Debug)]
pub struct ResidencySettings {
    pub jpki: Option<JpkiSettings>,
    pub oidc: Option<OidcSettings>,
    /// Per tenant, the address (都道府県＋市区町村) its residents' start
    /// with; by default the tenant group's name then the tenant's.
    pub addresses: HashMap<String, String>,
}

/// The 公的個人認証 trust: files the operator keeps current (CRLs are
/// published daily; a cron job replaces the files, the counter rereads a
/// file whose modification time changed).
#[derive(Clone, Debug)]
pub struct JpkiSettings {
    /// PEM bundle of trust anchors (the root CAs).
    pub anchors: PathBuf,
    /// PEM bundle of intermediate CAs, if signatures do not carry them.
    pub intermediates: Option<PathBuf>,
    /// CRL files (PEM or DER), one per issuing CA.
    pub crls: Vec<PathBuf>,
    /// Check the signer's own certificate by OCSP rather than by CRL.
    pub ocsp: bool,
    /// The OCSP responder; by default the one the certificate names.
    pub ocsp_url: Option<String>,
}

/// One OpenID Connect identity provider for the installation.
#[derive(Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// `{public_url}/verify/oidc/callback`, as registered at the provider.
    pub redirect_uri: String,
    /// The provider's name as residents know it (「みどり県ID」).
    pub name_ja: String,
    pub name_en: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// A verified respondent of one form, as a draft and a cookie carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Respondent {
    pub method: VerificationMethod,
    /// Keyed, per tenant and form: the same person, the same pseudonym.
    pub pseudonym: String,
}

/// The counter's side of verification: settings, the pseudonym key, the
/// trust read from files, an HTTP client for the provider and OCSP.
pub(crate) struct Verifier {
    settings: ResidencySettings,
    pseudonyms: seal::Pseudonyms,
    http: reqwest::Client,
    /// The trust as last read, with the files' modification times.
    trust: Mutex<Option<ReadTrust>>,
    /// The provider's discovery document, fetched once.
    provider: tokio::sync::Mutex<Option<residency::oidc::ProviderMetadata>>,
}

/// The trust, and the modification times of the files it was read from.
type ReadTrust = (Vec<Option<SystemTime>>, Arc<residency::jpki::Trust>);

const RESPONDENT_COOKIE: &str = "mg_respondent";
const RESPONDENT_PURPOSE: &str = "respondent v1";
/// A verified respondent has this long to answer.
const RESPONDENT_SECS: i64 = 2 * 3600;
const LOGIN_COOKIE: &str = "mg_oidc";
const LOGIN_PURPOSE: &str = "oidc login v1";
/// A sign-in at the provider must come back within this.
const LOGIN_SECS: i64 = 600;
/// The largest signature file read (a CMS signature with its chain is a
/// few kilobytes).
pub(crate) const SIGNATURE_MAX_BYTES: usize = 64 * 1024;
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
enum TrustError {
    #[error("{path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("{0}")]
    Jpki(#[from] residency::jpki::JpkiError),
}

impl Verifier {
    pub fn new(settings: ResidencySettings, token_key: &[u8]) -> Verifier {
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Verifier {
            settings,
            pseudonyms: seal::Pseudonyms::new(token_key),
            http,
            trust: Mutex::new(None),
            provider: tokio::sync::Mutex::new(None),
        }
    }

    fn configured(&self, method: VerificationMethod) -> bool {
        match method {
            VerificationMethod::Jpki => self.settings.jpki.is_some(),
            VerificationMethod::Oidc => self.settings.oidc.is_some(),
        }
    }

    /// The JPKI trust, reread when a file changed.
    fn trust(&self) -> Result<Arc<residency::jpki::Trust>, TrustError> {
        let Some(jpki) = &self.settings.jpki else {
            return Err(TrustError::File { path: "jpki".into(), source: std::io::ErrorKind::NotFound.into() });
        };
        let files: Vec<&PathBuf> =
            std::iter::once(&jpki.anchors).chain(jpki.intermediates.iter()).chain(jpki.crls.iter()).collect();
        let stamps: Vec<Option<SystemTime>> =
            files.iter().map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).collect();
        if let Ok(cached) = self.trust.lock() {
            if let Some((seen, trust)) = cached.as_ref() {
                if *seen == stamps {
                    return Ok(Arc::clone(trust));
                }
            }
        }
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| TrustError::File { path: path.display().to_string(), source })
        };
        let anchors = read(&jpki.anchors)?;
        let intermediates = match &jpki.intermediates {
            Some(path) => read(path)?,
            None => Vec::new(),
        };
        let crls = jpki.crls.iter().map(read).collect::<Result<Vec<_>, _>>()?;
        let trust = Arc::new(residency::jpki::Trust::new(&anchors, &intermediates, &crls)?);
        if let Ok(mut cached) = self.trust.lock() {
            *cached = Some((stamps, Arc::clone(&trust)));
        }
        Ok(trust)
    }

    async fn provider(&self) -> Result<residency::oidc::ProviderMetadata, String> {
        let Some(oidc) = &self.settings.oidc else { return Err("no identity provider is configured".into()) };
        let mut cached = self.provider.lock().await;
        if let Some(meta) = cached.as_ref() {
            return Ok(meta.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", oidc.issuer.trim_end_matches('/'));
        let body = self.get(&url).await?;
        let meta = residency::oidc::ProviderMetadata::from_discovery(&body, &oidc.issuer).map_err(|e| e.to_string())?;
        *cached = Some(meta.clone());
        Ok(meta)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self.http.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        Ok(response.bytes().await.map_err(|e| format!("GET {url}: {e}"))?.to_vec())
    }

    /// The municipality's address that residents' start with.
    async fn municipality(&self, counter: &Counter, tenant: &store::Tenant) -> Result<String, PageError> {
        if let Some(address) = self.settings.addresses.get(&tenant.id) {
            return Ok(address.clone());
        }
        let group = match &tenant.group_id {
            Some(group) => counter.store.tenant_group(group).await?.map(|g| g.name_ja).unwrap_or_default(),
            None => String::new(),
        };
        Ok(format!("{group}{}", tenant.name_ja))
    }

    /// A verified person becomes a respondent of `def`, if they meet its
    /// requirements and have not answered it yet.
    async fn admit(
        &self,
        counter: &Counter,
        tenant: &store::Tenant,
        def: &FormDefinition,
        method: VerificationMethod,
        person: &residency::VerifiedPerson,
    ) -> Result<Respondent, Refusal> {
        let municipality = self.municipality(counter, tenant).await.map_err(Refusal::Page)?;
        let facts = person.facts(&municipality, crate::pages::today_in_japan());
        let required = def.verify.as_ref().map(|v| v.require.as_slice()).unwrap_or_default();
        for requirement in required {
            let met = match requirement {
                Requirement::Resident => facts.resident,
                Requirement::Adult => facts.adult,
            };
            if !met {
                return Err(Refusal::NotEligible(*requirement));
            }
        }
        let pseudonym = self.pseudonyms.of(&tenant.id, &def.id, &person.person);
        // Said before answering when the respondent signs in first; for a
        // signed answer the committer decides (the same draft sent twice is
        // its first receipt again, not a second answer).
        if method == VerificationMethod::Oidc
            && counter.store.has_answered(&tenant.id, &def.id, &pseudonym).await.map_err(|e| Refusal::Page(e.into()))?
        {
            return Err(Refusal::Answered);
        }
        Ok(Respondent { method, pseudonym })
    }
}

/// Why a verified person may not answer.
pub(crate) enum Refusal {
    NotEligible(Requirement),
    Answered,
    Page(PageError),
}

/// What the form page shows for a form: the form, or what must come first.
pub(crate) enum Gate {
    /// Show the form (with the respondent already verified, for `oidc`).
    Open(Option<Respondent>),
    /// Sign in at the identity provider first.
    SignIn,
    Answered,
    /// The form needs a method this installation has not set up.
    Unconfigured,
}

/// Where `def` stands for the request's respondent.
pub(crate) async fn gate(
    counter: &Counter,
    tenant: &str,
    def: &FormDefinition,
    headers: &HeaderMap,
) -> Result<Gate, PageError> {
    let Some(verify) = &def.verify else { return Ok(Gate::Open(None)) };
    if !counter.verifier.configured(verify.method) {
        return Ok(Gate::Unconfigured);
    }
    if verify.method == VerificationMethod::Jpki {
        // The answers themselves are signed, at 送信.
        return Ok(Gate::Open(None));
    }
    let Some(respondent) = respondent_cookie(counter, headers, tenant, &def.id) else { return Ok(Gate::SignIn) };
    if counter.store.has_answered(tenant, &def.id, &respondent.pseudonym).await? {
        return Ok(Gate::Answered);
    }
    Ok(Gate::Open(Some(respondent)))
}

#[derive(Serialize, Deserialize)]
struct RespondentToken {
    tenant: String,
    form: String,
    respondent: Respondent,
    expires_at: i64,
}

fn respondent_cookie(counter: &Counter, headers: &HeaderMap, tenant: &str, form: &str) -> Option<Respondent> {
    let token = crate::request::cookie(headers, RESPONDENT_COOKIE)?;
    let opened = counter.tokens.open(RESPONDENT_PURPOSE, token).ok()?;
    let token: RespondentToken = serde_json::from_slice(&opened).ok()?;
    (token.tenant == tenant && token.form == form && token.expires_at >= now_unix()).then_some(token.respondent)
}

fn cookie_header(counter: &Counter, name: &str, value: &str, path: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if counter.settings.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .ok()
}

/// The text a JPKI respondent signs: names the survey and the draft and
/// holds the answers' hash, so the signature covers exactly these answers
/// and cannot be replayed onto others.
pub(crate) fn signing_text(draft: &Draft) -> String {
    use sha2::Digest;
    let mut unverified = draft.submission.clone();
    unverified.verified = None;
    let answers = hex::encode(sha2::Sha256::digest(unverified.canonical_json()));
    let draft_hash = store::draft_sha256(&draft.draft_id);
    format!(
        "madoguchi 住民限定アンケートの回答\r\n自治体: {}\r\nアンケート: {}（第{}版）\r\n控え: {}\r\n回答のSHA-256: {}\r\n",
        draft.tenant,
        draft.form_id,
        draft.form_version,
        &draft_hash[..16],
        answers
    )
}

/// The file a resident downloads to sign with their card's software.
pub(crate) fn signing_file_name(draft: &Draft) -> String {
    format!("madoguchi-{}-{}.txt", draft.form_id, &store::draft_sha256(&draft.draft_id)[..8])
}

/// Checks a JPKI signature over the draft's signing text, then admits the
/// signer. A refused signature is said beside the signature input.
pub(crate) async fn verify_signature(
    counter: &Counter,
    tenant: &store::Tenant,
    def: &FormDefinition,
    draft: &Draft,
    signature: &[u8],
    lang: Lang,
) -> Result<Respondent, SignatureOutcome> {
    let verifier = &counter.verifier;
    let trust = verifier.trust().map_err(|err| {
        tracing::error!(error = %err, "the JPKI trust could not be read; verified surveys cannot take answers");
        SignatureOutcome::Refused(Refusal::Page(PageError::Unavailable))
    })?;
    let now = now_unix();
    let ocsp = verifier.settings.jpki.as_ref().is_some_and(|j| j.ocsp);
    let revocation = if ocsp { residency::jpki::Revocation::Ocsp } else { residency::jpki::Revocation::Crl };
    let text = signing_text(draft);
    let signer = match residency::jpki::verify(&trust, signature, text.as_bytes(), now, revocation) {
        Ok(signer) => signer,
        Err(err) => {
            tracing::info!(tenant = %tenant.id, form = %def.id, reason = %err, "a JPKI signature was refused");
            return Err(SignatureOutcome::Invalid(message(&err, lang)));
        }
    };
    if ocsp {
        let configured = verifier.settings.jpki.as_ref().and_then(|j| j.ocsp_url.clone());
        let Some(url) = configured.or_else(|| signer.ocsp_url().map(str::to_owned)) else {
            tracing::warn!("a signing certificate names no OCSP responder and none is configured");
            return Err(SignatureOutcome::Refused(Refusal::Page(PageError::Unavailable)));
        };
        let checked = async {
            let request = signer.ocsp_request().map_err(|e| e.to_string())?;
            let response = verifier
                .http
                .post(&url)
                .header(header::CONTENT_TYPE, "application/ocsp-request")
                .body(request)
                .send()
                .await
                .map_err(|e| format!("OCSP {url}: {e}"))?;
            let body = response.bytes().await.map_err(|e| format!("OCSP {url}: {e}"))?;
            Ok::<_, String>(signer.check_ocsp(&trust, &body, now_unix()))
        }
        .await;
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::info!(tenant = %tenant.id, form = %def.id, reason = %err, "OCSP refused a signing certificate");
                return Err(SignatureOutcome::Invalid(message(&err, lang)));
            }
            Err(err) => {
                tracing::warn!(error = %err, "the OCSP responder could not be asked");
                return Err(SignatureOutcome::Refused(Refusal::Page(PageError::Unavailable)));
            }
        }
    }
    verifier
        .admit(counter, tenant, def, VerificationMethod::Jpki, &signer.person)
        .await
        .map_err(SignatureOutcome::Refused)
}

fn message(err: &residency::jpki::JpkiError, lang: Lang) -> String {
    match lang {
        Lang::En => err.message_en().to_owned(),
        _ => err.message_ja().to_owned(),
    }
}

pub(crate) enum SignatureOutcome {
    /// Said beside the signature input; the answers stay.
    Invalid(String),
    Refused(Refusal),
}

/// The page for a refusal (not eligible, answered, or a plain error).
pub(crate) fn refusal_page(
    counter: &Counter,
    lang: Lang,
    uri: &Uri,
    tenant: &store::Tenant,
    def: &FormDefinition,
    refusal: Refusal,
) -> Result<Response, PageError> {
    let t = crate::ui::strings(lang);
    let (status, heading, text) = match refusal {
        Refusal::Page(err) => return Err(err),
        Refusal::Answered => (StatusCode::CONFLICT, t["verify_answered_heading"], t["verify_answered"].to_owned()),
        Refusal::NotEligible(Requirement::Resident) => {
            let name = if lang == Lang::En { &tenant.name_en } else { &tenant.name_ja };
            (StatusCode::FORBIDDEN, t["verify_not_eligible_heading"], t["verify_not_resident"].replace("{city}", name))
        }
        Refusal::NotEligible(Requirement::Adult) => {
            (StatusCode::FORBIDDEN, t["verify_not_eligible_heading"], t["verify_not_adult"].to_owned())
        }
    };
    let ctx = context! {
        ..crate::pages::base_context(lang, uri, Some(tenant)),
        ..context! { form => context! { id => def.id, title => def.title.get(lang) }, heading, text }
    };
    Ok(crate::pages::html(status, counter.pages.render("verify.html", ctx)?))
}

/// What the form page says before the form of a verified survey.
pub(crate) fn gate_page(
    counter: &Counter,
    lang: Lang,
    uri: &Uri,
    tenant: &store::Tenant,
    def: &FormDefinition,
    gate: &Gate,
) -> Result<Option<Response>, PageError> {
    let t = crate::ui::strings(lang);
    let (status, heading, text, sign_in) = match gate {
        Gate::Open(_) => return Ok(None),
        Gate::Answered => return refusal_page(counter, lang, uri, tenant, def, Refusal::Answered).map(Some),
        Gate::Unconfigured => {
            (StatusCode::SERVICE_UNAVAILABLE, t["verify_unavailable_heading"], t["verify_unavailable"].to_owned(), None)
        }
        Gate::SignIn => {
            let oidc = counter.verifier.settings.oidc.as_ref();
            let provider = oidc.map(|o| if lang == Lang::En { o.name_en.clone() } else { o.name_ja.clone() });
            let text = t["verify_sign_in"].replace("{provider}", provider.as_deref().unwrap_or_default());
            (StatusCode::OK, t["verify_heading"], text, provider)
        }
    };
    let ctx = context! {
        ..crate::pages::base_context(lang, uri, Some(tenant)),
        ..context! {
            form => context! {
                id => def.id,
                title => def.title.get(lang),
                description => def.description.as_ref().map(|d| d.get(lang)),
            },
            heading,
            text,
            requirements => requirement_texts(def, tenant, lang),
            sign_in,
        }
    };
    Ok(Some(crate::pages::html(status, counter.pages.render("verify.html", ctx)?)))
}

/// 「青葉市にお住まいの方」「18歳以上の方」: who the survey is for.
pub(crate) fn requirement_texts(def: &FormDefinition, tenant: &store::Tenant, lang: Lang) -> Vec<String> {
    let t = crate::ui::strings(lang);
    let name = if lang == Lang::En { &tenant.name_en } else { &tenant.name_ja };
    let required = def.verify.as_ref().map(|v| v.require.as_slice()).unwrap_or_default();
    required
        .iter()
        .map(|r| match r {
            Requirement::Resident => t["verify_for_residents"].replace("{city}", name),
            Requirement::Adult => t["verify_for_adults"].to_owned(),
        })
        .collect()
}

#[derive(Serialize, Deserialize)]
struct PendingLogin {
    tenant: String,
    form: String,
    lang: String,
    state: String,
    nonce: String,
    pkce_verifier: String,
    expires_at: i64,
}

/// 本人確認へ進む: off to the identity provider.
pub(crate) async fn start_sign_in(
    State(counter): State<Arc<Counter>>,
    Path((tenant, form)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, PageError> {
    let lang = crate::pages::lang_of(&uri);
    let tenant = crate::pages::load_tenant(&counter, &tenant).await?;
    let (_, def) = crate::pages::load_form(&counter, &tenant.id, &form).await?;
    if !def.verify.as_ref().is_some_and(|v| v.method == VerificationMethod::Oidc) {
        return Err(PageError::NotFound);
    }
    let Some(oidc) = counter.verifier.settings.oidc.clone() else { return Err(PageError::Unavailable) };
    let meta = counter.verifier.provider().await.map_err(|err| {
        tracing::warn!(error = %err, "the identity provider could not be reached");
        PageError::Unavailable
    })?;
    let client = client_of(&oidc);
    let login = residency::oidc::Login::start(&meta, &client, &["profile", "address"]);
    let pending = PendingLogin {
        tenant: tenant.id.clone(),
        form: def.id.clone(),
        lang: lang.tag().to_owned(),
        state: login.state.clone(),
        nonce: login.nonce.clone(),
        pkce_verifier: login.pkce_verifier.clone(),
        expires_at: now_unix() + LOGIN_SECS,
    };
    let token = counter.tokens.seal(LOGIN_PURPOSE, &serde_json::to_vec(&pending).unwrap_or_default());
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, login.url.as_str())]).into_response();
    if let Some(cookie) = cookie_header(&counter, LOGIN_COOKIE, &token, "/verify/oidc", LOGIN_SECS) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

fn client_of(oidc: &OidcSettings) -> residency::oidc::Client {
    residency::oidc::Client {
        client_id: oidc.client_id.clone(),
        client_secret: oidc.client_secret.clone(),
        redirect_uri: oidc.redirect_uri.clone(),
    }
}

#[derive(Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Back from the identity provider: the code becomes a verified person,
/// the person a respondent of the form (or a refusal), and the resident
/// goes on to the form.
pub(crate) async fn sign_in_callback(
    State(counter): State<Arc<Counter>>,
    Query(callback): Query<Callback>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let pending = crate::request::cookie(&headers, LOGIN_COOKIE)
        .and_then(|token| counter.tokens.open(LOGIN_PURPOSE, token).ok())
        .and_then(|json| serde_json::from_slice::<PendingLogin>(&json).ok())
        .ok_or(PageError::FormExpired)?;
    if pending.expires_at < now_unix() {
        return Err(PageError::FormExpired);
    }
    // The state binds this callback to the sign-in this browser started.
    if callback.state.as_deref() != Some(pending.state.as_str()) {
        return Err(PageError::BadRequest);
    }
    let lang = if pending.lang == "en" { Lang::En } else { Lang::Ja };
    let q = if lang == Lang::En { "?lang=en" } else { "" };
    let uri: Uri = format!("/t/{}/f/{}{q}", pending.tenant, pending.form).parse().map_err(|_| PageError::BadRequest)?;
    let tenant = crate::pages::load_tenant(&counter, &pending.tenant).await?;
    let (_, def) = crate::pages::load_form(&counter, &tenant.id, &pending.form).await?;
    let Some(oidc) = counter.verifier.settings.oidc.clone() else { return Err(PageError::Unavailable) };
    let person = match (callback.error, callback.code) {
        (None, Some(code)) => exchange(&counter, &oidc, &code, &pending).await,
        (error, _) => Err(format!("the provider answered {}", error.as_deref().unwrap_or("without a code"))),
    };
    let person = match person {
        Ok(person) => person,
        Err(err) => {
            tracing::info!(tenant = %tenant.id, form = %def.id, reason = %err, "an OpenID Connect sign-in was not accepted");
            let t = crate::ui::strings(lang);
            let ctx = context! {
                ..crate::pages::base_context(lang, &uri, Some(&tenant)),
                ..context! {
                    form => context! { id => def.id, title => def.title.get(lang) },
                    heading => t["verify_failed_heading"],
                    text => t["verify_failed"],
                    retry => true,
                }
            };
            return Ok(crate::pages::html(StatusCode::UNAUTHORIZED, counter.pages.render("verify.html", ctx)?));
        }
    };
    let respondent = match counter.verifier.admit(&counter, &tenant, &def, VerificationMethod::Oidc, &person).await {
        Ok(respondent) => respondent,
        Err(refusal) => return refusal_page(&counter, lang, &uri, &tenant, &def, refusal),
    };
    let token = RespondentToken {
        tenant: tenant.id.clone(),
        form: def.id.clone(),
        respondent,
        expires_at: now_unix() + RESPONDENT_SECS,
    };
    let sealed = counter.tokens.seal(RESPONDENT_PURPOSE, &serde_json::to_vec(&token).unwrap_or_default());
    let location = uri.to_string();
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location.as_str())]).into_response();
    let path = format!("/t/{}/f/{}", tenant.id, def.id);
    for cookie in [
        cookie_header(&counter, RESPONDENT_COOKIE, &sealed, &path, RESPONDENT_SECS),
        cookie_header(&counter, LOGIN_COOKIE, "", "/verify/oidc", 0),
    ]
    .into_iter()
    .flatten()
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The authorization code for tokens, the ID token checked.
async fn exchange(
    counter: &Counter,
    oidc: &OidcSettings,
    code: &str,
    pending: &PendingLogin,
) -> Result<residency::VerifiedPerson, String> {
    let verifier = &counter.verifier;
    let meta = verifier.provider().await?;
    let client = client_of(oidc);
    let form = residency::oidc::token_request(&client, code, &pending.pkce_verifier);
    let response = verifier
        .http
        .post(&meta.token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form).map_err(|e| e.to_string())?)
        .send()
        .await
        .map_err(|e| format!("token endpoint: {e}"))?;
    let body = response.bytes().await.map_err(|e| format!("token endpoint: {e}"))?;
    let id_token = residency::oidc::id_token_from_response(&body).map_err(|e| e.to_string())?;
    let jwks = verifier.get(&meta.jwks_uri).await?;
    residency::oidc::verify_id_token(&id_token, &jwks, &meta, &client, &pending.nonce, now_unix())
        .map_err(|e| e.to_string())
}

/// 署名するファイル: the signing text of the posted draft, as a download.
pub(crate) async fn signing_data(
    State(counter): State<Arc<Counter>>,
    Path((tenant, form)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let request = crate::pages::read_draft_request(&counter, &tenant, &form, &uri, &headers, body).await?;
    let (crate::draft::Opened::Valid(draft) | crate::draft::Opened::Expired(draft)) = request.draft;
    let disposition = format!("attachment; filename=\"{}\"", signing_file_name(&draft));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        signing_text(&draft),
    )
        .into_response())
}

/// Reads a 送信 of a JPKI survey (`multipart/form-data`: the draft and the
/// signature file); its text parts as pairs, and the signature if sent.
pub(crate) async fn read_signed(
    headers: &HeaderMap,
    body: Body,
    text_limit: usize,
) -> Result<(Vec<(String, String)>, Option<Vec<u8>>), PageError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| PageError::BadRequest)?;
    let whole = (text_limit + SIGNATURE_MAX_BYTES + 4096) as u64;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > whole) {
        return Err(PageError::TooLarge);
    }
    let limits = multer::SizeLimit::new()
        .whole_stream(whole)
        .for_field("signature", SIGNATURE_MAX_BYTES as u64)
        .per_field(text_limit as u64);
    let mut multipart = multer::Multipart::with_constraints(
        body.into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let read = async {
        let (mut pairs, mut signature) = (Vec::new(), None);
        while let Some(part) = multipart.next_field().await? {
            let name = part.name().unwrap_or_default().to_owned();
            let bytes = part.bytes().await?;
            if name == "signature" {
                // An empty file input sends an empty part: no signature.
                signature = (!bytes.is_empty()).then(|| bytes.to_vec());
            } else {
                pairs.push((name, String::from_utf8(bytes.to_vec()).map_err(|_| multer::Error::IncompleteStream)?));
            }
        }
        Ok::<_, multer::Error>((pairs, signature))
    };
    match tokio::time::timeout(Duration::from_secs(30), read).await {
        Err(_) => Err(PageError::TimedOut),
        Ok(Ok(read)) => Ok(read),
        Ok(Err(multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. })) => {
            Err(PageError::TooLarge)
        }
        Ok(Err(_)) => Err(PageError::BadRequest),
    }
}
