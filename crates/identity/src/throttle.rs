//! Failed sign-ins: growing delays, then a lock that a person lifts.
//!
//! Counted per account, whatever the source address: a thief spreading
//! guesses over many addresses is slowed exactly as much as one who uses
//! one address.

/// Failed attempts after which the account locks until a tenant admin
/// (or `madoguchi … unlock-staff`) lifts it: ten guesses in all.
pub const LOCK_AFTER_FAILURES: i64 = 10;

/// How long to refuse any attempt after `failures` consecutive failures,
/// in units of the configured delay (1 s by default): none for the first
/// two (typos), then 2, 4, 8 … units, at most 300; None once the account
/// is locked.
pub fn delay_after(failures: i64) -> Option<i64> {
    if failures >= LOCK_AFTER_FAILURES {
        None
    } else if failures < 3 {
        Some(0)
    } else {
        Some((1i64 << (failures - 2).min(16)).min(300))
    }
}

/// The state of an account's sign-in throttle, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    pub failures: i64,
    /// No attempt is even checked before this time (unix milliseconds).
    pub not_before: i64,
    pub locked: bool,
}

impl Throttle {
    /// Whether an attempt at `now` (unix ms) may be checked at all; if not,
    /// how many milliseconds to wait (None: locked until lifted).
    pub fn admits(&self, now: i64) -> Result<(), Option<i64>> {
        if self.locked {
            Err(None)
        } else if now < self.not_before {
            Err(Some(self.not_before - now))
        } else {
            Ok(())
        }
    }

    /// The state after a failed attempt at `now` (unix ms), with delays in
    /// units of `unit_ms`.
    pub fn failed(self, now: i64, unit_ms: i64) -> Throttle {
        let failures = self.failures + 1;
        match delay_after(failures) {
            Some(delay) => Throttle { failures, not_before: now + delay * unit_ms, locked: false },
            None => Throttle { failures, not_before: self.not_before, locked: true },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_then_the_account_locks() {
        let mut throttle = Throttle::default();
        let mut now = 1_000_000;
        let mut delays = Vec::new();
        for _ in 0..LOCK_AFTER_FAILURES {
            assert_eq!(throttle.admits(now), Ok(()));
            throttle = throttle.failed(now, 1000);
            if throttle.locked {
                break;
            }
            delays.push(throttle.not_before - now);
            assert!(throttle.admits(now).is_err() || throttle.not_before == now);
            now = throttle.not_before;
        }
        assert_eq!(delays, vec![0, 0, 2000, 4000, 8000, 16000, 32000, 64000, 128000]);
        assert!(throttle.locked);
        assert_eq!(throttle.admits(now + 1_000_000), Err(None));
    }
}
