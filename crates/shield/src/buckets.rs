//! Token buckets per source address and per prefix (GCRA, `governor`),
//! held by this node, or shared by all nodes through Redis when configured
//! ([`Buckets`]).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::shared::SharedState;
use crate::source::{prefix_of, Prefix};

/// Requests per second and burst for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let one = NonZeroU32::MIN;
        Quota::per_second(NonZeroU32::new(self.per_second).unwrap_or(one))
            .allow_burst(NonZeroU32::new(self.burst).unwrap_or(one))
    }
}

type Keyed<K, C> = RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The two bucket sets. Keys are forgotten once their bucket is full again
/// ([`SourceBuckets::forget_idle`]), so memory stays bounded by the number
/// of sources seen recently.
pub struct SourceBuckets<C: Clock = DefaultClock> {
    by_address: Keyed<IpAddr, C>,
    by_prefix: Keyed<Prefix, C>,
    clock: C,
}

impl SourceBuckets<DefaultClock> {
    pub fn new(address: Rate, prefix: Rate) -> Self {
        Self::with_clock(address, prefix, DefaultClock::default())
    }
}

impl<C: Clock + Clone> SourceBuckets<C> {
    pub fn with_clock(address: Rate, prefix: Rate, clock: C) -> Self {
        SourceBuckets {
            by_address: RateLimiter::dashmap_with_clock(address.quota(), clock.clone()),
            by_prefix: RateLimiter::dashmap_with_clock(prefix.quota(), clock.clone()),
            clock,
        }
    }

    /// Takes one token from the address's bucket and its prefix's; if
    /// either is empty, how long until it has one.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        self.by_address.check_key(&ip).map_err(|n| n.wait_time_from(now))?;
        self.by_prefix.check_key(&prefix_of(ip)).map_err(|n| n.wait_time_from(now))
    }

    pub fn forget_idle(&self) {
        self.by_address.retain_recent();
        self.by_prefix.retain_recent();
        self.by_address.shrink_to_fit();
        self.by_prefix.shrink_to_fit();
    }

    /// Sources currently tracked (address buckets, prefix buckets).
    pub fn tracked(&self) -> (usize, usize) {
        (self.by_address.len(), self.by_prefix.len())
    }
}

/// The shield's buckets: shared by all nodes when there is a shared state,
/// with this node's own as the fallback; else this node's alone.
pub struct Buckets {
    local: SourceBuckets,
    shared: Option<Arc<SharedState>>,
    address: Rate,
    prefix: Rate,
}

impl Buckets {
    pub fn new(address: Rate, prefix: Rate, shared: Option<Arc<SharedState>>) -> Buckets {
        Buckets { local: SourceBuckets::new(address, prefix), shared, address, prefix }
    }

    /// Takes one token from the address's bucket and its prefix's (across
    /// all nodes when shared); if either is empty, how long until it has
    /// one. When the shared state cannot answer in time, this node's own
    /// buckets decide: a flood is then limited per node, never refused for
    /// want of Redis.
    pub async fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if let Some(shared) = &self.shared {
            match shared.take_tokens(ip, self.address, self.prefix).await {
                Some(Ok(())) => {
                    // This node's own buckets count its share as well, so a
                    // fallback in the middle of a flood starts from it
                    // rather than from a full burst. Their answer is not
                    // the decision.
                    let _ = self.local.check(ip);
                    return Ok(());
                }
                Some(Err(wait)) => return Err(wait),
                None => {}
            }
        }
        self.local.check(ip)
    }

    /// This node's own buckets.
    pub fn local(&self) -> &SourceBuckets {
        &self.local
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn a_bucket_empties_and_refills_at_its_rate() {
        let clock = FakeRelativeClock::default();
        let buckets = SourceBuckets::with_clock(
            Rate { per_second: 10, burst: 3 },
            Rate { per_second: 1000, burst: 1000 },
            clock.clone(),
        );
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert!(buckets.check(a).is_ok());
        }
        let wait = buckets.check(a).expect_err("the burst is spent");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        clock.advance(Duration::from_millis(100));
        assert!(buckets.check(a).is_ok(), "one token back after 1/rate");
        assert!(buckets.check(a).is_err());
        assert!(buckets.check(ip("192.0.2.2")).is_ok(), "another address has its own bucket");
    }

    #[test]
    fn many_addresses_of_one_prefix_share_the_prefix_bucket() {
        let clock = FakeRelativeClock::default();
        let buckets = SourceBuckets::with_clock(
            Rate { per_second: 100, burst: 100 },
            Rate { per_second: 10, burst: 5 },
            clock.clone(),
        );
        let admitted = (1..=50u8).filter(|i| buckets.check(IpAddr::from([198, 51, 100, *i])).is_ok()).count();
        assert_eq!(admitted, 5, "fifty addresses of one /24 get the prefix's burst");
        assert!(buckets.check(ip("198.51.101.1")).is_ok(), "the next /24 is not affected");
        clock.advance(Duration::from_secs(10));
        buckets.forget_idle();
        assert_eq!(buckets.tracked(), (0, 0), "full buckets are forgotten");
    }

    fn shared(url: Option<&str>) -> (Arc<SharedState>, String) {
        let settings = crate::shared::tests::settings(url);
        let prefix = settings.key_prefix.clone();
        (SharedState::new(settings, &[9; 32]).expect("shared state"), prefix)
    }

    /// Requests of one source alternate between two nodes: together they
    /// get one burst, not one each.
    #[tokio::test]
    async fn two_nodes_sharing_redis_enforce_one_combined_limit() {
        crate::shared::tests::require_redis().await;
        let (shared_a, prefix) = shared(None);
        let _clean_up = crate::shared::tests::CleanUp(prefix.clone());
        let shared_b = SharedState::new(shared_a.settings().clone(), &[9; 32]).expect("b");
        // One token a second: the burst is all there is while the test runs.
        let rate = Rate { per_second: 1, burst: 10 };
        let wide = Rate { per_second: 1000, burst: 1000 };
        let node_a = Buckets::new(rate, wide, Some(Arc::clone(&shared_a)));
        let node_b = Buckets::new(rate, wide, Some(Arc::clone(&shared_b)));
        let source = ip("203.0.113.10");
        // A Redis that does not know the script yet (EVALSHA, then EVAL).
        crate::shared::tests::flush_scripts().await;
        let mut admitted = [0; 2];
        for i in 0..20 {
            let node = if i % 2 == 0 { &node_a } else { &node_b };
            if node.check(source).await.is_ok() {
                admitted[i % 2] += 1;
            }
        }
        assert_eq!(admitted[0] + admitted[1], 10, "one burst of 10 in all: {admitted:?}");
        assert_eq!(admitted, [5, 5], "shared evenly between the nodes");
        let wait = node_a.check(source).await.expect_err("still empty");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(node_b.check(ip("203.0.113.11")).await.is_ok(), "another address has its own bucket");

        // Many addresses of one /24 across both nodes share the prefix's
        // bucket.
        let narrow = Rate { per_second: 1, burst: 6 };
        let node_c = Buckets::new(wide, narrow, Some(Arc::clone(&shared_a)));
        let node_d = Buckets::new(wide, narrow, Some(Arc::clone(&shared_b)));
        let mut admitted = 0;
        for i in 1..=30u8 {
            let node = if i % 2 == 0 { &node_c } else { &node_d };
            if node.check(IpAddr::from([198, 51, 100, i])).await.is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 6, "thirty addresses of one /24 on two nodes get the prefix's burst once");
        let status = shared_a.status();
        assert_eq!((status.errors, status.fallbacks), (0, 0), "{status:?}");
        // Every key expires once its bucket would be full again (here at
        // most 10 s: a burst of 10 at one a second).
        let keys = crate::shared::tests::keys_with_ttl(&prefix).await;
        // (Buckets of 1000/s are full again, and gone, within milliseconds.)
        assert!(keys.len() >= 3, "the two addresses' and the /24's: {keys:?}");
        // (PTTL -1 is a key without expiry; 0 is one expiring this instant.)
        assert!(keys.iter().all(|(_, ttl)| *ttl >= 0 && *ttl <= 10_001), "{keys:?}");
        assert!(keys.iter().all(|(key, _)| !key.contains("203.0.113") && !key.contains("198.51.100")));
    }

    /// Redis is not there (a closed port): every decision falls back to the
    /// node's own buckets, and the failures are counted.
    #[test]
    fn without_redis_each_node_falls_back_to_its_own_limits_and_counts_the_failure() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (admitted, status_a) = metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let (shared_a, _) = shared(Some(&format!("redis://127.0.0.1:{closed}")));
                let shared_b = SharedState::new(shared_a.settings().clone(), &[9; 32]).expect("b");
                let rate = Rate { per_second: 1, burst: 5 };
                let wide = Rate { per_second: 1000, burst: 1000 };
                let node_a = Buckets::new(rate, wide, Some(Arc::clone(&shared_a)));
                let node_b = Buckets::new(rate, wide, Some(shared_b));
                let source = ip("203.0.113.20");
                let mut admitted = [0; 2];
                for i in 0..20 {
                    let node = if i % 2 == 0 { &node_a } else { &node_b };
                    let started = std::time::Instant::now();
                    if node.check(source).await.is_ok() {
                        admitted[i % 2] += 1;
                    }
                    assert!(started.elapsed() < Duration::from_millis(700), "a decision never waits long");
                }
                (admitted, shared_a.status())
            })
        });
        assert_eq!(admitted, [5, 5], "each node enforces its own burst: fail open to local limits");
        assert!(status_a.errors >= 1 && status_a.fallbacks == 10, "{status_a:?}");
        assert!(!status_a.connected);
        let counted: u64 = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == "shield_shared_state_errors_total")
            .map(|(.., value)| match value {
                metrics_util::debugging::DebugValue::Counter(n) => n,
                _ => 0,
            })
            .sum();
        assert!(counted >= 2, "both nodes' failures are in shield_shared_state_errors_total: {counted}");
    }

    /// Redis accepts the connection but never answers: decisions wait at
    /// most the timeout, then fall back.
    #[tokio::test]
    async fn a_silent_redis_costs_at_most_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let mut settings = crate::shared::tests::settings(Some(&format!("redis://127.0.0.1:{port}")));
        settings.timeout = Duration::from_millis(50);
        let shared = SharedState::new(settings, &[9; 32]).expect("shared");
        let buckets =
            Buckets::new(Rate { per_second: 1, burst: 3 }, Rate { per_second: 100, burst: 100 }, Some(shared));
        let source = ip("203.0.113.30");
        let started = std::time::Instant::now();
        let admitted = {
            let mut n = 0;
            for _ in 0..6 {
                if buckets.check(source).await.is_ok() {
                    n += 1;
                }
            }
            n
        };
        assert_eq!(admitted, 3, "the node's own burst");
        assert!(started.elapsed() < Duration::from_millis(400), "{:?}", started.elapsed());
        held.abort();
    }
}
