//! # counter — the internet-facing half of madoguchi
//!
//! This crate owns what residents see and the intake path: the portal and
//! form pages (server-rendered, working without JavaScript, ja/en), the
//! 確認画面 whose draft rides in an encrypted, expiring token in the browser,
//! sealing at intake, the 受付完了 receipt, and status lookup by 問合せ番号.
//! Templates and assets are compiled into the binary: there is no web root
//! on disk to tamper with.
//!
//! It holds tenant PUBLIC keys only and must never write, log or show a
//! resident's plaintext anywhere but in the response to that resident: a
//! [`forms::Submission`] lives in memory from validation until it is sealed
//! inside [`store::Store::accept`].
#![forbid(unsafe_code)]

mod admin;
pub mod alerts;
mod crisis;
pub mod demo;
mod draft;
mod error;
mod guard;
pub mod integrity;
mod ledger_api;
pub mod notify;
mod observe;
mod pages;
pub mod request;
mod rooms;
mod security;
pub mod sync;
mod ui;
mod upload;
pub mod verified;
mod watching;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use seal::TokenBox;
use store::Store;

pub use error::PageError;

/// The stylesheet of every madoguchi page (the desk uses it too).
pub const STYLE_CSS: &str = include_str!("assets/style.css");

/// Settings of the counter that are not the store's.
#[derive(Clone)]
pub struct CounterSettings {
    /// How long a draft (確認画面 → 送信) stays valid.
    pub draft_ttl: Duration,
    /// Largest request body read for any request, before the form's own
    /// (usually smaller) limit applies.
    pub max_body_bytes: usize,
    /// Send `Strict-Transport-Security` (behind TLS, as in production).
    pub hsts: bool,
    /// Status mails to residents; without it, no address is kept at all.
    pub notifier: Option<Arc<notify::Notifier>>,
    /// The checkpoint verifier key (C2SP vkey), served at /ledger/key.
    pub ledger_vkey: Option<String>,
    /// Where staff open the admin console (`https://…`); it names the
    /// WebAuthn relying party. Without it, passkeys are off (TOTP and
    /// recovery codes still work).
    pub public_url: Option<String>,
    /// Mark admin cookies `Secure` (keep on; browsers accept it on https
    /// and on localhost).
    pub secure_cookies: bool,
    /// A staff session ends after this long without a request…
    pub staff_session_idle: Duration,
    /// …and after this long in any case.
    pub staff_session_absolute: Duration,
    /// The unit of the growing delay after failed sign-ins (2, 4, 8 …
    /// units, see `identity::delay_after`).
    pub sign_in_delay_unit: Duration,
    /// Admission control in front of everything (None: no shield, for
    /// comparisons only).
    pub shield: Option<shield::ShieldConfig>,
    /// Renders the Prometheus text at /metrics (the binary installs the
    /// recorder).
    pub metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    /// Addresses besides loopback that may scrape /metrics.
    pub metrics_from: Vec<std::net::IpAddr>,
    /// Closed by the binary's integrity check: then every request gets 503.
    pub integrity: integrity::IntegrityGate,
    /// The watch's limits: the defaults and each tenant's own.
    pub watch: watch::Thresholds,
    pub watch_tenants: std::collections::HashMap<String, watch::Thresholds>,
    /// For drills only: the rules read the time (unix seconds) from this
    /// file instead of the clock, so simulated days pass in minutes.
    pub watch_clock: Option<std::path::PathBuf>,
    /// Verified surveys: the JPKI trust and the identity provider.
    pub residency: verified::ResidencySettings,
}

impl Default for CounterSettings {
    fn default() -> Self {
        CounterSettings {
            draft_ttl: Duration::from_secs(60 * 60),
            max_body_bytes: 1024 * 1024,
            hsts: true,
            notifier: None,
            ledger_vkey: None,
            public_url: None,
            secure_cookies: true,
            staff_session_idle: Duration::from_secs(30 * 60),
            staff_session_absolute: Duration::from_secs(12 * 3600),
            sign_in_delay_unit: Duration::from_secs(1),
            shield: Some(shield::ShieldConfig::default()),
            metrics: None,
            metrics_from: Vec::new(),
            integrity: Default::default(),
            watch: watch::Thresholds::default(),
            watch_tenants: Default::default(),
            watch_clock: None,
            residency: Default::default(),
        }
    }
}

/// Why a counter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("token key: {0}")]
    TokenKey(#[from] seal::SealError),
    #[error("{0}")]
    Config(String),
}

pub use admin::ROUTES as ADMIN_ROUTES;

/// Everything a request handler needs.
pub struct Counter {
    pub(crate) store: Store,
    pub(crate) tokens: TokenBox,
    pub(crate) settings: CounterSettings,
    pub(crate) pages: pages::Templates,
    pub(crate) admin_pages: admin::AdminPages,
    pub(crate) passkeys: Option<admin::Passkeys>,
    pub(crate) shield: Option<shield::Shield>,
    /// Known tenant ids, for the shield's classifier (refreshed).
    pub(crate) tenant_ids: Arc<std::sync::RwLock<std::collections::HashSet<String>>>,
    /// The rules over reads (this node's reads).
    pub(crate) watch: std::sync::Mutex<watch::Watch>,
    /// Per desk, the furthest record it had received: pulling past it is
    /// its job, pulling again below it is a re-read the watch counts.
    pub(crate) desk_high_water: std::sync::Mutex<std::collections::HashMap<String, store::ReceiptNumber>>,
    /// Tenants the operator has isolated, by id (refreshed).
    pub(crate) isolated: std::sync::RwLock<std::collections::HashMap<String, store::Isolation>>,
    /// Tenants in crisis mode, by id (refreshed), and their static pages.
    pub(crate) crises: std::sync::RwLock<std::collections::HashMap<String, store::Crisis>>,
    pub(crate) crisis_pages: crisis::CrisisPages,
    /// This process among the nodes: random at each start, it names the
    /// node's readiness probes in the database and the vault.
    pub(crate) node_id: String,
    /// The last readiness answer and when it was found (see `observe`).
    pub(crate) readiness: tokio::sync::Mutex<Option<(std::time::Instant, axum::http::StatusCode, String)>>,
    /// Checks respondents of verified surveys.
    pub(crate) verifier: verified::Verifier,
}

impl Counter {
    /// `token_key` is the secret all counter nodes share for draft tokens
    /// ([`TokenBox::KEY_LEN`] bytes).
    pub fn new(store: Store, token_key: &[u8], settings: CounterSettings) -> Result<Arc<Counter>, CounterError> {
        let passkeys =
            settings.public_url.as_deref().map(admin::Passkeys::new).transpose().map_err(CounterError::Config)?;
        let tenant_ids = Arc::default();
        let shield = match &settings.shield {
            Some(config) => {
                let classifier = guard::CounterClassifier::new(TokenBox::new(token_key)?, Arc::clone(&tenant_ids));
                // The proof-of-work key is derived from the shared token
                // key, so every node accepts every node's challenges.
                let pow_key = TokenBox::new(token_key)?.derive("shield proof of work", b"");
                Some(shield::Shield::new(config.clone(), Arc::new(classifier), pow_key))
            }
            None => None,
        };
        // Every rule's count from the start, zeros included, so a dashboard
        // and an alert on its rate see it before the first finding.
        for rule in watch::RULES {
            metrics::counter!("watch_findings_total", "rule" => *rule).increment(0);
        }
        let mut rules = watch::Watch::new(settings.watch.clone());
        for (tenant, limits) in &settings.watch_tenants {
            rules.set_tenant(tenant, limits.clone());
        }
        let verifier = verified::Verifier::new(settings.residency.clone(), token_key);
        Ok(Arc::new(Counter {
            verifier,
            store,
            tokens: TokenBox::new(token_key)?,
            settings,
            pages: pages::Templates::new(),
            admin_pages: admin::AdminPages::new(),
            passkeys,
            shield,
            tenant_ids,
            isolated: Default::default(),
            crises: Default::default(),
            crisis_pages: Default::default(),
            watch: std::sync::Mutex::new(rules),
            desk_high_water: Default::default(),
            node_id: {
                use rand::RngCore;
                let mut id = [0u8; 8];
                rand::rngs::OsRng.fill_bytes(&mut id);
                hex::encode(id)
            },
            readiness: Default::default(),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Takes a submission in: sealed to `key`, bound to the intake's tenant,
    /// form, version and 到達番号. The sealing runs in the store's committer
    /// once the number is known; it owns what it needs, and the plaintext
    /// is wiped when it is dropped.
    pub(crate) async fn accept_sealed(
        &self,
        intake: &store::Intake<'_>,
        key: seal::TenantPublicKey,
        payload: zeroize::Zeroizing<Vec<u8>>,
    ) -> Result<store::Acceptance, store::StoreError> {
        let (tenant, form, version) = (intake.tenant.to_owned(), intake.form_id.to_owned(), intake.form_version);
        self.store
            .accept(intake, move |receipt| {
                let binding = seal::RecordBinding::new(&tenant, &form, version, &receipt.to_string());
                seal::seal(&key, &binding, &payload)
            })
            .await
    }

    /// The time the watch's rules see (see [`watch_clock_now`]).
    pub(crate) fn watch_now(&self) -> i64 {
        watch_clock_now(self.settings.watch_clock.as_deref())
    }

    /// The whole HTTP application.
    pub fn router(self: &Arc<Self>) -> Router {
        let routes = pages::routes()
            .merge(rooms::routes())
            .layer(axum::middleware::from_fn_with_state(Arc::clone(self), crisis::crisis_gate))
            .layer(axum::middleware::from_fn_with_state(Arc::clone(self), pages::isolation_notice))
            .merge(sync::routes())
            .merge(ledger_api::routes())
            .merge(admin::routes(Arc::clone(self)))
            .route("/metrics", axum::routing::get(guard::metrics))
            .route("/readyz", axum::routing::get(observe::readyz))
            .layer(axum::middleware::from_fn(observe::track));
        let router = security::wrap(routes, &self.settings).with_state(Arc::clone(self));
        let router = match &self.shield {
            Some(shield) => router.layer(shield.clone()),
            None => router,
        };
        router.layer(axum::middleware::from_fn_with_state(self.settings.integrity.clone(), integrity::gate))
    }

    /// The shield, for the operator's status page.
    pub fn shield(&self) -> Option<&shield::Shield> {
        self.shield.as_ref()
    }

    /// Starts what runs beside serving: the shield's housekeeping, and
    /// keeping the known tenants and the operator's under-attack switches
    /// in step with the database (every node sees the same).
    pub fn spawn_background(self: &Arc<Self>) {
        if let Some(shield) = &self.shield {
            shield.spawn_housekeeping();
        }
        let counter = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                if let Err(err) = counter.refresh_tenants().await {
                    tracing::warn!(error = %err, "could not refresh the tenant list; will retry");
                }
            }
        });
    }

    /// Whether `tenant` is in crisis mode, and how.
    pub(crate) fn crisis(&self, tenant: &str) -> Option<store::Crisis> {
        self.crises.read().ok().and_then(|map| map.get(tenant).cloned())
    }

    /// Whether `tenant` is isolated, and its notice.
    pub(crate) fn isolation(&self, tenant: &str) -> Option<store::Isolation> {
        self.isolated.read().ok().and_then(|map| map.get(tenant).cloned())
    }

    /// Reads the tenant list, the under-attack switches and the isolated
    /// tenants once.
    pub async fn refresh_tenants(&self) -> Result<(), store::StoreError> {
        let tenants = self.store.tenants().await?;
        let attacked = self.store.tenants_under_attack().await?;
        let isolated = self.store.isolated_tenants().await?;
        let crises = self.store.crisis_tenants().await?;
        if let Ok(mut map) = self.crises.write() {
            *map = crises.into_iter().map(|c| (c.tenant.clone(), c)).collect();
        }
        if let Ok(mut map) = self.isolated.write() {
            *map = isolated.into_iter().map(|i| (i.tenant.clone(), i)).collect();
        }
        if let Ok(mut ids) = self.tenant_ids.write() {
            *ids = tenants.iter().map(|t| t.id.clone()).collect();
        }
        if let Some(shield) = &self.shield {
            for tenant in &tenants {
                shield.set_under_attack(&tenant.id, attacked.contains(&tenant.id));
            }
        }
        Ok(())
    }
}

/// How long a client may take to send its request headers: a slowloris
/// connection is cut after this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once; beyond this, new ones are closed at once.
const MAX_CONNECTIONS: usize = 10_000;

/// Serves the counter on `listener` until `shutdown` resolves.
///
/// An accept loop of our own rather than `axum::serve`, which has no
/// header-read timeout: slow headers are cut by hyper's timer, slow bodies
/// by the body timeout in [`security`], and connections beyond
/// [`MAX_CONNECTIONS`] are closed before any work.
pub async fn serve(
    counter: Arc<Counter>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::Service;

    counter.refresh_tenants().await.map_err(std::io::Error::other)?;
    counter.spawn_background();
    let app = counter.router();
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            let mut app = app.clone();
            async move { app.call(req.map(axum::body::Body::new)).await }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    // Let requests in flight finish (a submission is never cut midway).
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
    Ok(())
}

/// The time the watch's rules see: the clock, or in a drill the unix
/// seconds written in the `clock` file (so simulated days pass in minutes).
pub fn watch_clock_now(clock: Option<&std::path::Path>) -> i64 {
    let from_file = clock.and_then(|path| std::fs::read_to_string(path).ok()?.trim().parse::<i64>().ok());
    from_file.unwrap_or_else(draft::now_unix)
}
