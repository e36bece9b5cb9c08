//! An adaptive concurrency limit (AIMD on latency) with priorities: when
//! the counter slows down, the limit falls, and anonymous newcomers are
//! refused before residents who already hold a form session.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Who is waiting, in the order they are let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A resident who opened a form before (valid form-session token).
    Session,
    /// Anyone else.
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveSettings {
    /// Latency above which the limit shrinks.
    pub target: Duration,
    pub min_limit: usize,
    pub max_limit: usize,
    pub initial_limit: usize,
    /// The share of the limit open to anonymous requests; the rest is kept
    /// for residents with a form session.
    pub anonymous_share: f64,
    /// Multiplicative decrease on a slow response.
    pub backoff: f64,
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        AdaptiveSettings {
            target: Duration::from_millis(250),
            min_limit: 8,
            max_limit: 512,
            initial_limit: 64,
            anonymous_share: 0.7,
            backoff: 0.9,
        }
    }
}

pub struct AdaptiveLimit {
    settings: AdaptiveSettings,
    limit: Mutex<f64>,
    in_flight: AtomicUsize,
}

/// A place in flight; report how long the request took with
/// [`Admission::finish`] (dropping it without counts as fast enough).
pub struct Admission {
    owner: Arc<AdaptiveLimit>,
    finished: bool,
}

impl Admission {
    pub fn finish(mut self, latency: Duration) {
        self.finished = true;
        self.owner.release(Some(latency));
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.finished {
            self.owner.release(None);
        }
    }
}

impl AdaptiveLimit {
    pub fn new(settings: AdaptiveSettings) -> Arc<AdaptiveLimit> {
        Arc::new(AdaptiveLimit {
            settings,
            limit: Mutex::new(settings.initial_limit as f64),
            in_flight: AtomicUsize::new(0),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit.lock().map(|l| *l as usize).unwrap_or(self.settings.min_limit)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Lets a request in if there is room for its priority.
    pub fn try_admit(self: &Arc<Self>, priority: Priority) -> Option<Admission> {
        let limit = self.limit();
        let room = match priority {
            Priority::Session => limit,
            Priority::Anonymous => ((limit as f64) * self.settings.anonymous_share).floor().max(1.0) as usize,
        };
        let mut current = self.in_flight.load(Ordering::Relaxed);
        loop {
            if current >= room {
                return None;
            }
            match self.in_flight.compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Admission { owner: Arc::clone(self), finished: false }),
                Err(seen) => current = seen,
            }
        }
    }

    fn release(&self, latency: Option<Duration>) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        let Some(latency) = latency else { return };
        let Ok(mut limit) = self.limit.lock() else { return };
        let s = &self.settings;
        *limit = if latency > s.target {
            (*limit * s.backoff).max(s.min_limit as f64)
        } else {
            // Additive increase: about one more place per limit's worth of
            // fast responses.
            (*limit + 1.0 / limit.max(1.0)).min(s.max_limit as f64)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AdaptiveSettings {
        AdaptiveSettings { initial_limit: 10, min_limit: 2, max_limit: 100, anonymous_share: 0.5, ..Default::default() }
    }

    #[test]
    fn anonymous_work_is_refused_before_residents_with_a_form_session() {
        let limiter = AdaptiveLimit::new(settings());
        let anonymous: Vec<_> = (0..20).filter_map(|_| limiter.try_admit(Priority::Anonymous)).collect();
        assert_eq!(anonymous.len(), 5, "anonymous work gets half of the limit");
        let sessions: Vec<_> = (0..20).filter_map(|_| limiter.try_admit(Priority::Session)).collect();
        assert_eq!(sessions.len(), 5, "residents with a session get the rest");
        assert!(limiter.try_admit(Priority::Anonymous).is_none());
        drop(sessions);
        assert!(limiter.try_admit(Priority::Session).is_some(), "places come back when requests end");
    }

    #[test]
    fn the_limit_falls_when_responses_are_slow_and_recovers_when_fast() {
        let limiter = AdaptiveLimit::new(settings());
        for _ in 0..10 {
            limiter.try_admit(Priority::Session).expect("room").finish(Duration::from_secs(1));
        }
        let low = limiter.limit();
        assert!(low < 4, "ten slow responses: {low}");
        assert!(low >= 2, "never below the minimum");
        for _ in 0..200 {
            limiter.try_admit(Priority::Session).expect("room").finish(Duration::from_millis(5));
        }
        assert!(limiter.limit() > low + 5, "fast responses raise it again: {}", limiter.limit());
        assert_eq!(limiter.in_flight(), 0);
    }
}
