//! The state several counter nodes share through Redis (`--redis-url`,
//! docs/shield.md): the token buckets per address and prefix, and the
//! proof-of-work answers already spent. Without it every node keeps its own.
//!
//! Every decision has a short deadline (50 ms). When Redis is unreachable,
//! slow or answers with an error, the decision is taken with this node's
//! own state instead (never a refusal because Redis failed), the failure is
//! counted in `shield_shared_state_errors_total` and logged at most every
//! ten seconds, and this node leaves Redis alone for a moment (`backoff`)
//! before it tries again, so an outage costs residents no waiting.
//!
//! Keys name no address: they are a keyed hash of it under a key derived
//! from the nodes' shared secret, and each expires once its bucket is full
//! again, so Redis holds only the sources of the last few seconds.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisResult, ServerErrorKind};
use sha2::Sha256;

use crate::buckets::Rate;
use crate::source::{prefix_of, Prefix};

/// How long one attempt to connect may take (in the background: a decision
/// waits for it only up to its own deadline).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// At most one warning in this many milliseconds.
const WARN_EVERY_MS: u64 = 10_000;

/// Both buckets of a request in one call: GCRA on Redis's own clock (one
/// clock for all nodes). A key holds its bucket's theoretical arrival time
/// in microseconds and expires when the bucket is full again. Either both
/// buckets give a token or neither is touched.
///
/// KEYS: the address's bucket, the prefix's. ARGV: for each, the emission
/// interval and the tolerance (interval × burst) in microseconds.
/// Returns {1, 0} when admitted, {0, microseconds to wait} when not.
const GCRA: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function take(key, interval, tolerance)
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  local next_tat = tat + interval
  return next_tat, next_tat - tolerance - now
end
local a_tat, a_wait = take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local p_tat, p_wait = take(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
local wait = math.max(a_wait, p_wait)
if wait > 0 then
  return {0, math.ceil(wait)}
end
redis.call('SET', KEYS[1], string.format('%.0f', a_tat), 'PX', math.ceil((a_tat - now) / 1000) + 1)
redis.call('SET', KEYS[2], string.format('%.0f', p_tat), 'PX', math.ceil((p_tat - now) / 1000) + 1)
return {1, 0}
";

/// Where the shared state lives, and how long a decision waits for it.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://` for TLS.
    pub redis_url: String,
    /// Every key starts with this.
    pub key_prefix: String,
    /// The longest a decision waits for Redis before it is taken locally.
    pub timeout: Duration,
    /// After a failure, this node decides locally for this long before it
    /// asks Redis again.
    pub backoff: Duration,
}

impl SharedSettings {
    /// Redis at `url` with the defaults: keys under `mdg:shield`, 50 ms per
    /// decision, a second's pause after a failure. The error says what is
    /// wrong with the URL (its password hidden).
    pub fn redis(url: &str) -> Result<SharedSettings, String> {
        let url = url.trim();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(format!("{:?} is not a redis:// or rediss:// URL", redacted(url)));
        }
        if let Err(err) = redis::Client::open(url) {
            return Err(format!("{:?} is not a usable Redis URL: {err}", redacted(url)));
        }
        Ok(SharedSettings {
            redis_url: url.to_owned(),
            key_prefix: "mdg:shield".to_owned(),
            timeout: Duration::from_millis(50),
            backoff: Duration::from_secs(1),
        })
    }
}

/// Never prints the URL's password.
impl std::fmt::Debug for SharedSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSettings")
            .field("redis_url", &redacted(&self.redis_url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// The URL with its user and password replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// What the status page shows of the shared state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SharedStatus {
    /// A connection to Redis is open and in use.
    pub connected: bool,
    /// Failed calls (connect, timeouts, errors) since start.
    pub errors: u64,
    /// Decisions taken with this node's own state instead.
    pub fallbacks: u64,
}

/// One node's handle on the shared state.
pub struct SharedState {
    client: redis::Client,
    settings: SharedSettings,
    /// Names keys: a keyed hash, so no key can be read back into an address.
    name_key: [u8; 32],
    script: redis::Script,
    conn: RwLock<Option<MultiplexedConnection>>,
    connecting: AtomicBool,
    started: Instant,
    /// Milliseconds after `started` before which Redis is not asked.
    resume_at: AtomicU64,
    errors: AtomicU64,
    fallbacks: AtomicU64,
    /// When the last warning went out (ms after `started`), and the
    /// failures since.
    warned: Mutex<(Option<u64>, u64)>,
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], label: &str, data: &[u8]) -> [u8; 32] {
    // A key of any length is accepted by HMAC.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// (emission interval, tolerance) of a rate in microseconds.
fn gcra(rate: Rate) -> (u64, u64) {
    let interval = (1_000_000 / u64::from(rate.per_second.max(1))).max(1);
    (interval, interval * u64::from(rate.burst.max(1)))
}

impl SharedState {
    /// A handle on the state at `settings`; `secret` (the same on every
    /// node) keys the names. Connects on first use, not here.
    pub fn new(settings: SharedSettings, secret: &[u8]) -> Result<Arc<SharedState>, String> {
        if settings.redis_url.starts_with("rediss://") {
            // rustls picks its provider by crate features; say which, in
            // case another crate ever brings a second one.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(settings.redis_url.as_str())
            .map_err(|err| format!("{:?}: {err}", redacted(&settings.redis_url)))?;
        Ok(Arc::new(SharedState {
            client,
            name_key: hmac(secret, "shield shared state names", b""),
            script: redis::Script::new(GCRA),
            settings,
            conn: RwLock::new(None),
            connecting: AtomicBool::new(false),
            started: Instant::now(),
            resume_at: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            warned: Mutex::new((None, 0)),
        }))
    }

    pub fn settings(&self) -> &SharedSettings {
        &self.settings
    }

    pub fn status(&self) -> SharedStatus {
        SharedStatus {
            connected: self.connected(),
            errors: self.errors.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
        }
    }

    /// Whether decisions go to Redis now (a connection, and no pause).
    pub fn connected(&self) -> bool {
        self.now_ms() >= self.resume_at.load(Ordering::Acquire)
            && self.conn.read().map(|c| c.is_some()).unwrap_or(false)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn name(&self, label: &str, data: &[u8]) -> String {
        hex::encode(&hmac(&self.name_key, label, data)[..16])
    }

    /// The keys of an address's bucket and its prefix's. The prefix's hash
    /// is in braces in both, so both land on one Redis Cluster slot.
    fn bucket_keys(&self, ip: IpAddr) -> (String, String) {
        let ip = ip.to_canonical();
        let prefix = match prefix_of(ip) {
            Prefix::V4(p) => [&[4u8][..], &p[..]].concat(),
            Prefix::V6(p) => [&[6u8][..], &p[..]].concat(),
        };
        let address = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let (base, p) = (&self.settings.key_prefix, self.name("prefix", &prefix));
        (format!("{base}:addr:{{{p}}}:{}", self.name("address", &address)), format!("{base}:pfx:{{{p}}}"))
    }

    /// Starts connecting in the background, unless connected, already
    /// connecting or pausing after a failure. (The housekeeping calls it at
    /// start, so the first requests find a connection.)
    pub fn connect(self: &Arc<Self>) -> Option<tokio::sync::oneshot::Receiver<Option<MultiplexedConnection>>> {
        if self.conn.read().map(|c| c.is_some()).unwrap_or(false)
            || self.now_ms() < self.resume_at.load(Ordering::Acquire)
            || self.connecting.swap(true, Ordering::AcqRel)
        {
            return None;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(CONNECT_TIMEOUT));
            let conn = match this.client.get_multiplexed_async_connection_with_config(&config).await {
                Ok(conn) => {
                    if let Ok(mut slot) = this.conn.write() {
                        *slot = Some(conn.clone());
                    }
                    tracing::info!(redis = %redacted(&this.settings.redis_url), "shield: sharing state through Redis");
                    Some(conn)
                }
                Err(err) => {
                    this.failed("connect", &err, true);
                    None
                }
            };
            this.connecting.store(false, Ordering::Release);
            let _ = tx.send(conn);
        });
        Some(rx)
    }

    /// A connection, if there is one or one can be had before `deadline`.
    async fn connection(self: &Arc<Self>, deadline: tokio::time::Instant) -> Option<MultiplexedConnection> {
        if self.now_ms() < self.resume_at.load(Ordering::Acquire) {
            return None;
        }
        if let Some(conn) = self.conn.read().ok().and_then(|c| c.clone()) {
            return Some(conn);
        }
        let rx = self.connect()?;
        tokio::time::timeout_at(deadline, rx).await.ok()?.ok()?
    }

    /// A failed call: counted, logged now and then, and Redis left alone
    /// for `backoff`; a `broken` connection is dropped (the next try makes
    /// a new one).
    fn failed(&self, op: &'static str, err: &dyn std::fmt::Display, broken: bool) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("shield_shared_state_errors_total", "op" => op).increment(1);
        let now = self.now_ms();
        let backoff = u64::try_from(self.settings.backoff.as_millis()).unwrap_or(u64::MAX);
        self.resume_at.store(now.saturating_add(backoff), Ordering::Release);
        if broken {
            if let Ok(mut slot) = self.conn.write() {
                *slot = None;
            }
        }
        let Ok(mut warned) = self.warned.lock() else { return };
        warned.1 += 1;
        if warned.0.is_none_or(|at| now >= at + WARN_EVERY_MS) {
            tracing::warn!(
                op,
                error = %err,
                failures = warned.1,
                "shield: the shared state (Redis) failed; deciding with this node's own state for now"
            );
            *warned = (Some(now), 0);
        }
    }

    fn fell_back(&self, op: &'static str) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("shield_shared_state_fallbacks_total", "op" => op).increment(1);
    }

    /// The answer of a call that had until its deadline, or None (counted).
    fn settle<T>(&self, op: &'static str, outcome: Result<RedisResult<T>, tokio::time::error::Elapsed>) -> Option<T> {
        match outcome {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(err)) => self.failed(op, &err, !matches!(err.kind(), ErrorKind::Server(_))),
            Err(_) => self.failed(op, &format_args!("no answer within {:?}", self.settings.timeout), false),
        }
        self.fell_back(op);
        None
    }

    /// EVALSHA, and EVAL when Redis does not know the script yet (a new or
    /// restarted server): one round trip as a rule.
    async fn eval(&self, conn: &mut MultiplexedConnection, keys: &[&str], args: &[u64]) -> RedisResult<(i64, i64)> {
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha.arg(self.script.get_hash()).arg(keys.len()).arg(keys).arg(args);
        match evalsha.query_async(conn).await {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let mut eval = redis::cmd("EVAL");
                eval.arg(GCRA).arg(keys.len()).arg(keys).arg(args);
                eval.query_async(conn).await
            }
            other => other,
        }
    }

    /// One token from the address's bucket and its prefix's, across all
    /// nodes: Some(Ok) admitted, Some(Err(wait)) refused, None when Redis
    /// could not say (decide locally).
    pub async fn take_tokens(
        self: &Arc<Self>,
        ip: IpAddr,
        address: Rate,
        prefix: Rate,
    ) -> Option<Result<(), Duration>> {
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let Some(mut conn) = self.connection(deadline).await else {
            self.fell_back("buckets");
            return None;
        };
        let (address_key, prefix_key) = self.bucket_keys(ip);
        let ((ai, at), (pi, pt)) = (gcra(address), gcra(prefix));
        let (keys, args) = ([address_key.as_str(), prefix_key.as_str()], [ai, at, pi, pt]);
        let call = self.eval(&mut conn, &keys, &args);
        let (admitted, wait) = self.settle("buckets", tokio::time::timeout_at(deadline, call).await)?;
        if admitted == 1 {
            Some(Ok(()))
        } else {
            Some(Err(Duration::from_micros(u64::try_from(wait).unwrap_or(0))))
        }
    }

    /// Marks `what` as used for `ttl`, across all nodes: Some(true) if it
    /// was not used before, Some(false) if it was, None when Redis could not
    /// say (decide locally).
    pub async fn use_once(self: &Arc<Self>, what: &[u8], ttl: Duration) -> Option<bool> {
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let Some(mut conn) = self.connection(deadline).await else {
            self.fell_back("pow");
            return None;
        };
        let key = format!("{}:pow:{}", self.settings.key_prefix, hex::encode(what));
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(1).arg("NX").arg("PX").arg(ttl_ms);
        let call = set.query_async::<Option<String>>(&mut conn);
        let stored = self.settle("pow", tokio::time::timeout_at(deadline, call).await)?;
        Some(stored.is_some())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The Redis every development and CI machine runs
    /// (`MADOGUCHI_TEST_REDIS` to use another).
    pub(crate) fn redis_url() -> String {
        std::env::var("MADOGUCHI_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    /// Settings with a key prefix of this test's own; `url` defaults to
    /// the test Redis.
    pub(crate) fn settings(url: Option<&str>) -> SharedSettings {
        let mut settings = SharedSettings::redis(url.unwrap_or(&redis_url())).expect("settings");
        settings.key_prefix = format!("mdg:test:{}", hex::encode(rand::random::<[u8; 8]>()));
        // A debug build on a busy machine: room, still short.
        settings.timeout = Duration::from_millis(500);
        settings
    }

    /// Removes every key under its prefix (a test's own) when dropped, so
    /// also when the test fails.
    pub(crate) struct CleanUp(pub(crate) String);

    impl Drop for CleanUp {
        fn drop(&mut self) {
            let Ok(client) = redis::Client::open(redis_url()) else { return };
            let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return };
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}:*", self.0)).query(&mut conn).unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut conn);
            }
        }
    }

    /// The keys under `prefix` with their time to live in milliseconds.
    pub(crate) async fn keys_with_ttl(prefix: &str) -> Vec<(String, i64)> {
        let client = redis::Client::open(redis_url()).expect("client");
        let mut conn = client.get_multiplexed_async_connection().await.expect("Redis");
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.expect("KEYS");
        let mut found = Vec::new();
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.expect("PTTL");
            // -2: it expired between KEYS and PTTL (so it had an expiry).
            if ttl != -2 {
                found.push((key, ttl));
            }
        }
        found
    }

    /// Makes Redis forget its scripts (the next call must send it again).
    pub(crate) async fn flush_scripts() {
        let client = redis::Client::open(redis_url()).expect("client");
        let mut conn = client.get_multiplexed_async_connection().await.expect("Redis");
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut conn).await.expect("SCRIPT FLUSH");
    }

    /// Fails at once, with a clear message, when the test Redis is not there.
    pub(crate) async fn require_redis() {
        let client = redis::Client::open(redis_url()).expect("client");
        let reached = tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection()).await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "Redis at {} is needed for this test (set MADOGUCHI_TEST_REDIS)",
            redis_url()
        );
    }

    #[test]
    fn urls_are_checked_and_passwords_never_shown() {
        assert!(SharedSettings::redis("redis://127.0.0.1:6379").is_ok());
        assert!(SharedSettings::redis("rediss://cache.example.jp:6380/2").is_ok());
        let err = SharedSettings::redis("http://127.0.0.1:6379").unwrap_err();
        assert!(err.contains("redis://"), "{err}");
        let err = SharedSettings::redis("postgres://user:hunter2@db/x").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let settings = SharedSettings::redis("redis://madoguchi:hunter2@cache:6379/0").unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2") && shown.contains("***@cache:6379/0"), "{shown}");
        assert_eq!(redacted("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(redacted("redis://:pw@cache/1?x=a@b"), "redis://***@cache/1?x=a@b");
    }

    #[test]
    fn keys_name_no_address_and_one_prefix_shares_its_slot() {
        let state = SharedState::new(settings(None), &[1; 32]).expect("state");
        let (a1, p1) = state.bucket_keys("192.0.2.1".parse().expect("ip"));
        let (a2, p2) = state.bucket_keys("192.0.2.2".parse().expect("ip"));
        let (a3, _) = state.bucket_keys("::ffff:192.0.2.1".parse().expect("ip"));
        assert!(!a1.contains("192") && !p1.contains("192"), "{a1} {p1}");
        assert_eq!(p1, p2, "one /24, one prefix bucket");
        assert_ne!(a1, a2);
        assert_eq!(a1, a3, "a mapped IPv4 address is the IPv4 address");
        let slot = |key: &str| key.split('{').nth(1).and_then(|r| r.split('}').next()).map(str::to_owned);
        assert_eq!(slot(&a1), slot(&p1), "both keys of a call hash to one cluster slot");
        let other = SharedState::new(settings(None), &[2; 32]).expect("state");
        assert_ne!(other.bucket_keys("192.0.2.1".parse().expect("ip")).0.rsplit(':').next(), a1.rsplit(':').next());
    }

    #[tokio::test]
    async fn a_used_name_is_refused_everywhere_until_it_expires() {
        require_redis().await;
        let settings = settings(None);
        let _clean_up = CleanUp(settings.key_prefix.clone());
        let a = SharedState::new(settings.clone(), &[3; 32]).expect("a");
        let b = SharedState::new(settings.clone(), &[3; 32]).expect("b");
        assert_eq!(a.use_once(b"nonce-1", Duration::from_millis(300)).await, Some(true));
        assert_eq!(b.use_once(b"nonce-1", Duration::from_millis(300)).await, Some(false));
        assert_eq!(b.use_once(b"nonce-2", Duration::from_secs(5)).await, Some(true));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(b.use_once(b"nonce-1", Duration::from_secs(5)).await, Some(true), "expired, so gone");
        assert_eq!(a.status().errors, 0);
    }
}
