//! Token buckets per source address and per prefix (GCRA, `governor`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

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
}
