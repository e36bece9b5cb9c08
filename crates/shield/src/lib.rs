//! # shield — admission control in front of the counter
//!
//! This crate owns the decision whether a request may use the counter's
//! workers at all, cheapest check first: token buckets per source address
//! and per prefix; under-attack mode (a proof-of-work page before a new
//! visitor of an attacked tenant gets a form session); a separate share for
//! staff and desks; an adaptive concurrency limit that refuses anonymous
//! newcomers before residents already filling a form; and per-tenant
//! bulkheads so that one tenant's flood never queues another's residents.
//!
//! It must never read a request body to refuse it, touch the database, or
//! render more than a static page; it knows nothing of forms or tenants
//! beyond the [`Ticket`] the counter's [`Classify`] gives it.
//!
//! With several counter nodes, the state that limits a client (the token
//! buckets, the proof-of-work answers spent) can be shared through Redis
//! ([`SharedSettings`], `--redis-url`); what guards this node's own capacity
//! (bulkheads, the adaptive limit, the staff share) stays node-local. A
//! Redis that fails or is slow never refuses anyone: the node decides with
//! its own state.
#![forbid(unsafe_code)]

mod adaptive;
mod buckets;
mod bulkhead;
mod pages;
pub mod pow;
mod shared;
mod source;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{header, Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;

pub use adaptive::{AdaptiveLimit, AdaptiveSettings, Priority};
pub use buckets::{Buckets, Rate, SourceBuckets};
pub use bulkhead::{Bulkhead, Bulkheads, Full, TenantLimits};
pub use shared::{redacted, SharedSettings, SharedState, SharedStatus};
pub use source::{client_address, prefix_of, Prefix};

/// What kind of request, as the counter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Health checks, metrics: never shed (still rate-limited per source).
    Probe,
    /// Staff (admin console) and desk sync: their own share.
    Staff,
    /// A resident with a valid form session.
    Session,
    /// Anyone else.
    Anonymous,
}

/// The counter's description of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// A known tenant the request is for (never an unchecked path segment:
    /// it becomes a metric label).
    pub tenant: Option<String>,
    pub class: Class,
    /// The request opens a form (would issue a form session): in
    /// under-attack mode it needs a pass first.
    pub opens_session: bool,
}

pub trait Classify: Send + Sync + 'static {
    fn classify(&self, parts: &http::request::Parts) -> Ticket;
}

/// Settings; the defaults protect a fresh install on a small machine.
#[derive(Debug, Clone)]
pub struct ShieldConfig {
    pub per_address: Rate,
    pub per_prefix: Rate,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<IpAddr>,
    pub tenant: TenantLimits,
    pub tenant_overrides: HashMap<String, TenantLimits>,
    /// Staff and desk requests in flight at once.
    pub staff_in_flight: usize,
    pub adaptive: AdaptiveSettings,
    /// A tenant may hold at most this share of the adaptive limit with
    /// anonymous requests, so one tenant's newcomers cannot take every
    /// place (others' newcomers need some).
    pub tenant_share: f64,
    /// Sheds per second of one tenant that count as "under attack" …
    pub attack_sheds_per_sec: u64,
    /// … for this many consecutive seconds switch the mode on by itself;
    /// a minute without sheds switches it off again.
    pub attack_after_secs: u32,
    /// Leading zero bits of the proof of work when the flood is mild; more
    /// as it grows (at most 6 more).
    pub pow_difficulty: u8,
    /// Seconds a visitor without JavaScript waits instead.
    pub pow_wait_secs: u64,
    /// The state all counter nodes share (Redis); None: this node's own.
    pub shared: Option<SharedSettings>,
}

impl Default for ShieldConfig {
    fn default() -> Self {
        ShieldConfig {
            per_address: Rate { per_second: 20, burst: 60 },
            per_prefix: Rate { per_second: 200, burst: 400 },
            trusted_proxies: Vec::new(),
            tenant: TenantLimits::default(),
            tenant_overrides: HashMap::new(),
            staff_in_flight: 16,
            adaptive: AdaptiveSettings::default(),
            tenant_share: 0.3,
            attack_sheds_per_sec: 20,
            attack_after_secs: 5,
            pow_difficulty: 16,
            pow_wait_secs: 15,
            shared: None,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct AttackState {
    manual: bool,
    auto: bool,
    /// Consecutive seconds above the shed threshold, and below it.
    hot_secs: u32,
    quiet_secs: u32,
    last_shed: u64,
    sheds_per_sec: u64,
}

struct State {
    config: ShieldConfig,
    buckets: Buckets,
    shared: Option<Arc<SharedState>>,
    bulkheads: Bulkheads,
    adaptive: Arc<AdaptiveLimit>,
    staff: Arc<Semaphore>,
    pow: pow::Pow,
    classify: Arc<dyn Classify>,
    attack: RwLock<HashMap<String, AttackState>>,
    rejected: Mutex<HashMap<&'static str, u64>>,
}

/// The layer; clone it freely (one shared state).
#[derive(Clone)]
pub struct Shield {
    state: Arc<State>,
}

/// One tenant's line on the status page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub admitted: u64,
    pub shed: u64,
    pub in_flight: usize,
    pub queued: usize,
    pub under_attack: bool,
    pub manual: bool,
    pub sheds_per_sec: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ShieldStatus {
    pub limit: usize,
    pub in_flight: usize,
    pub sources_tracked: usize,
    pub prefixes_tracked: usize,
    pub tenants: Vec<TenantStatus>,
    /// Refusals before a tenant was known (rate limits), by reason.
    pub rejected: Vec<(String, u64)>,
    /// The shared state, when configured.
    pub shared: Option<SharedStatus>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Shield {
    /// `pow_key` signs challenges and passes (shared by all nodes); it also
    /// keys the names of the shared state's keys. With `config.shared`
    /// the shield connects on first use (or at housekeeping's start).
    pub fn new(config: ShieldConfig, classify: Arc<dyn Classify>, pow_key: [u8; 32]) -> Shield {
        let shared = config.shared.clone().and_then(|settings| {
            let url = redacted(&settings.redis_url);
            match SharedState::new(settings, &pow_key) {
                Ok(shared) => Some(shared),
                Err(err) => {
                    tracing::error!(redis = %url, error = %err, "shield: cannot use Redis; every limit stays per node");
                    None
                }
            }
        });
        let state = State {
            buckets: Buckets::new(config.per_address, config.per_prefix, shared.clone()),
            bulkheads: Bulkheads::new(config.tenant, config.tenant_overrides.clone()),
            adaptive: AdaptiveLimit::new(config.adaptive),
            staff: Arc::new(Semaphore::new(config.staff_in_flight)),
            pow: pow::Pow::with_shared(pow_key, shared.clone()),
            shared,
            classify,
            attack: RwLock::new(HashMap::new()),
            rejected: Mutex::new(HashMap::new()),
            config,
        };
        Shield { state: Arc::new(state) }
    }

    /// The operator's switch (`madoguchi tenant under-attack T on|off`).
    pub fn set_under_attack(&self, tenant: &str, on: bool) {
        let mut attack = write(&self.state.attack);
        let entry = attack.entry(tenant.to_owned()).or_default();
        if entry.manual != on {
            tracing::warn!(tenant, on, "under-attack mode set by the operator");
        }
        entry.manual = on;
    }

    pub fn under_attack(&self, tenant: &str) -> bool {
        self.state.under_attack(tenant)
    }

    /// Once a second: automatic under-attack mode, gauges, forgetting idle
    /// sources. Runs until the process ends.
    pub fn spawn_housekeeping(&self) {
        let state = Arc::clone(&self.state);
        if let Some(shared) = &state.shared {
            // Connect now, so the first requests find a connection.
            let _ = shared.connect();
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut seconds = 0u64;
            loop {
                tick.tick().await;
                seconds += 1;
                state.evaluate_attacks();
                if seconds.is_multiple_of(10) {
                    state.buckets.local().forget_idle();
                }
                if let Some(shared) = &state.shared {
                    let up = shared.connected();
                    if !up {
                        // Reconnect in the background rather than on a
                        // resident's request.
                        let _ = shared.connect();
                    }
                    metrics::gauge!("shield_shared_state_up").set(if up { 1.0 } else { 0.0 });
                }
                metrics::gauge!("shield_limit").set(state.adaptive.limit() as f64);
                metrics::gauge!("shield_in_flight_total").set(state.adaptive.in_flight() as f64);
                for (tenant, bulkhead) in state.bulkheads.all() {
                    metrics::gauge!("shield_in_flight", "tenant" => tenant.clone()).set(bulkhead.in_flight() as f64);
                    metrics::gauge!("shield_queue_depth", "tenant" => tenant.clone()).set(bulkhead.queued() as f64);
                    let on = if state.under_attack(&tenant) { 1.0 } else { 0.0 };
                    metrics::gauge!("shield_under_attack", "tenant" => tenant).set(on);
                }
            }
        });
    }

    pub fn status(&self) -> ShieldStatus {
        let state = &self.state;
        let attack = read(&state.attack);
        let tenants = state
            .bulkheads
            .all()
            .into_iter()
            .map(|(tenant, b)| {
                let a = attack.get(&tenant).copied().unwrap_or_default();
                TenantStatus {
                    admitted: b.admitted.load(Ordering::Relaxed),
                    shed: b.shed.load(Ordering::Relaxed),
                    in_flight: b.in_flight(),
                    queued: b.queued(),
                    under_attack: a.manual || a.auto,
                    manual: a.manual,
                    sheds_per_sec: a.sheds_per_sec,
                    tenant,
                }
            })
            .collect();
        let (sources_tracked, prefixes_tracked) = state.buckets.local().tracked();
        let rejected = state
            .rejected
            .lock()
            .map(|r| {
                let mut v: Vec<_> = r.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
                v.sort();
                v
            })
            .unwrap_or_default();
        ShieldStatus {
            limit: state.adaptive.limit(),
            in_flight: state.adaptive.in_flight(),
            sources_tracked,
            prefixes_tracked,
            tenants,
            rejected,
            shared: state.shared.as_ref().map(|shared| shared.status()),
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    fn under_attack(&self, tenant: &str) -> bool {
        read(&self.attack).get(tenant).is_some_and(|a| a.manual || a.auto)
    }

    fn evaluate_attacks(&self) {
        let mut attack = write(&self.attack);
        for (tenant, bulkhead) in self.bulkheads.all() {
            let shed = bulkhead.shed.load(Ordering::Relaxed);
            let entry = attack.entry(tenant.clone()).or_default();
            let delta = shed.saturating_sub(entry.last_shed);
            entry.last_shed = shed;
            entry.sheds_per_sec = delta;
            if delta >= self.config.attack_sheds_per_sec {
                entry.hot_secs += 1;
                entry.quiet_secs = 0;
            } else {
                entry.hot_secs = 0;
                if delta == 0 {
                    entry.quiet_secs += 1;
                }
            }
            if !entry.auto && entry.hot_secs >= self.config.attack_after_secs {
                tracing::warn!(tenant = %tenant, sheds_per_sec = delta, "shedding persists: under-attack mode on");
                entry.auto = true;
            } else if entry.auto && entry.quiet_secs >= 60 {
                tracing::warn!(tenant = %tenant, "a quiet minute: under-attack mode off");
                entry.auto = false;
            }
        }
    }

    /// Difficulty grows with the flood: one more bit per 50 sheds a second.
    fn difficulty(&self, tenant: &str) -> (u8, u64) {
        let sheds = read(&self.attack).get(tenant).map(|a| a.sheds_per_sec).unwrap_or(0);
        let extra = (sheds / 50).min(6) as u8;
        (self.config.pow_difficulty + extra, self.config.pow_wait_secs + 5 * u64::from(extra))
    }

    fn count(&self, tenant: &str, outcome: &'static str) {
        metrics::counter!("shield_requests_total", "tenant" => tenant.to_owned(), "outcome" => outcome).increment(1);
    }

    fn reject_early(&self, reason: &'static str) {
        if let Ok(mut rejected) = self.rejected.lock() {
            *rejected.entry(reason).or_default() += 1;
        }
        metrics::counter!("shield_requests_total", "tenant" => "-", "outcome" => reason).increment(1);
    }
}

impl<S> tower::Layer<S> for Shield {
    type Service = ShieldService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ShieldService { state: Arc::clone(&self.state), inner }
    }
}

#[derive(Clone)]
pub struct ShieldService<S> {
    state: Arc<State>,
    inner: S,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl<S> tower::Service<Request<Body>> for ShieldService<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let state = Arc::clone(&self.state);
        Box::pin(async move { Ok(admit(state, inner, req).await) })
    }
}

async fn admit<S>(state: Arc<State>, mut inner: S, req: Request<Body>) -> Response<Body>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let forwarded = source::forwarded_for(req.headers());
    let source = client_address(peer, forwarded.as_deref(), &state.config.trusted_proxies);

    // 1. Token buckets: the cheapest refusal.
    if let Err(wait) = state.buckets.check(source).await {
        state.reject_early("rate_limited");
        return pages::refused(StatusCode::TOO_MANY_REQUESTS, wait.as_secs().max(1));
    }
    let (parts, body) = req.into_parts();
    let ticket = state.classify.classify(&parts);
    let tenant = ticket.tenant.clone().unwrap_or_else(|| "-".to_owned());

    // 2. The proof-of-work flow of under-attack mode.
    if parts.uri.path() == pages::POW_JS_PATH {
        return pages::pow_script();
    }
    if parts.uri.path() == pages::PASS_PATH && parts.method == Method::POST {
        return pages::answer(&state.pow, body, now_secs()).await;
    }
    if ticket.class == Class::Anonymous && ticket.opens_session {
        if let Some(t) = ticket.tenant.as_deref() {
            let has_pass =
                pages::pass_cookie(&parts.headers).is_some_and(|p| state.pow.pass_is_valid(t, p, now_secs()));
            if state.under_attack(t) && !has_pass {
                state.count(&tenant, "challenged");
                let (difficulty, wait) = state.difficulty(t);
                let challenge = state.pow.challenge(t, now_secs(), difficulty, wait);
                return pages::challenge(t, parts.uri.path(), &challenge);
            }
        }
    }

    let req = Request::from_parts(parts, body);
    match ticket.class {
        Class::Probe => return call(&mut inner, req).await,
        Class::Staff => {
            let Ok(_permit) = Arc::clone(&state.staff).try_acquire_owned() else {
                state.count(&tenant, "staff_full");
                return pages::refused(StatusCode::SERVICE_UNAVAILABLE, 5);
            };
            state.count(&tenant, "admitted");
            return call(&mut inner, req).await;
        }
        Class::Session | Class::Anonymous => {}
    }

    // 3. The tenant's bulkhead: its own queue, never another's.
    let bulkhead = state.bulkheads.of(&tenant);
    let priority = if ticket.class == Class::Session { Priority::Session } else { Priority::Anonymous };
    // A tenant's newcomers may hold only a share of the global limit.
    let cap = ((state.adaptive.limit() as f64) * state.config.tenant_share).ceil().max(2.0) as usize;
    if priority == Priority::Anonymous && bulkhead.in_flight() >= cap {
        bulkhead.shed.fetch_add(1, Ordering::Relaxed);
        state.count(&tenant, "tenant_share");
        return pages::refused(StatusCode::SERVICE_UNAVAILABLE, 5);
    }
    let Ok(_place) = bulkhead.enter().await else {
        state.count(&tenant, "bulkhead");
        return pages::refused(StatusCode::SERVICE_UNAVAILABLE, 5);
    };
    // 4. The adaptive limit, by priority.
    let Some(admission) = state.adaptive.try_admit(priority) else {
        bulkhead.shed.fetch_add(1, Ordering::Relaxed);
        state.count(&tenant, "overload");
        return pages::refused(StatusCode::SERVICE_UNAVAILABLE, 5);
    };
    state.count(&tenant, "admitted");
    let started = Instant::now();
    let response = call(&mut inner, req).await;
    let latency = started.elapsed();
    admission.finish(latency);
    metrics::histogram!("shield_latency_seconds", "tenant" => tenant).record(latency.as_secs_f64());
    response
}

async fn call<S>(inner: &mut S, req: Request<Body>) -> Response<Body>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    match inner.call(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Whether a Retry-After header is present (for tests of callers).
pub fn retry_after(response: &Response<Body>) -> Option<u64> {
    response.headers().get(header::RETRY_AFTER)?.to_str().ok()?.parse().ok()
}
