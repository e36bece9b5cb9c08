//! Per-tenant bulkheads: each tenant has a bounded number of requests in
//! flight and a bounded queue. A tenant over its share waits in its own
//! queue or is shed; other tenants never wait behind it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One tenant's share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantLimits {
    pub max_in_flight: usize,
    pub max_queue: usize,
    pub queue_timeout: Duration,
}

impl Default for TenantLimits {
    /// Two cores serve a few hundred submissions a second; 32 at once per
    /// tenant and 64 waiting keep one tenant to a fraction of that.
    fn default() -> Self {
        TenantLimits { max_in_flight: 32, max_queue: 64, queue_timeout: Duration::from_secs(2) }
    }
}

pub struct Bulkhead {
    limits: TenantLimits,
    permits: Arc<Semaphore>,
    queued: AtomicUsize,
    pub(crate) admitted: AtomicU64,
    pub(crate) shed: AtomicU64,
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The queue is full: shed at once.
    QueueFull,
    /// Waited `queue_timeout` without a place.
    TimedOut,
}

impl Bulkhead {
    pub fn new(limits: TenantLimits) -> Bulkhead {
        Bulkhead {
            limits,
            permits: Arc::new(Semaphore::new(limits.max_in_flight)),
            queued: AtomicUsize::new(0),
            admitted: AtomicU64::new(0),
            shed: AtomicU64::new(0),
        }
    }

    /// A place in flight, waiting in the queue if need be.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Full> {
        let outcome = self.try_enter().await;
        match outcome {
            Ok(_) => self.admitted.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.shed.fetch_add(1, Ordering::Relaxed),
        };
        outcome
    }

    async fn try_enter(&self) -> Result<OwnedSemaphorePermit, Full> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        // Join the queue only if there is room; the count is taken first so
        // two arrivals cannot both take the last place.
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.limits.max_queue {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Full::QueueFull);
        }
        let waited = tokio::time::timeout(self.limits.queue_timeout, Arc::clone(&self.permits).acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Full::TimedOut),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.limits.max_in_flight - self.permits.available_permits()
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn limits(&self) -> TenantLimits {
        self.limits
    }
}

/// The bulkheads of all tenants, made on first use. Requests that name no
/// known tenant share one bulkhead of their own.
pub struct Bulkheads {
    defaults: TenantLimits,
    overrides: HashMap<String, TenantLimits>,
    by_tenant: RwLock<HashMap<String, Arc<Bulkhead>>>,
}

impl Bulkheads {
    pub fn new(defaults: TenantLimits, overrides: HashMap<String, TenantLimits>) -> Bulkheads {
        Bulkheads { defaults, overrides, by_tenant: RwLock::new(HashMap::new()) }
    }

    pub fn of(&self, tenant: &str) -> Arc<Bulkhead> {
        if let Some(found) = self.by_tenant.read().ok().and_then(|map| map.get(tenant).cloned()) {
            return found;
        }
        let mut map = match self.by_tenant.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        let limits = self.overrides.get(tenant).copied().unwrap_or(self.defaults);
        Arc::clone(map.entry(tenant.to_owned()).or_insert_with(|| Arc::new(Bulkhead::new(limits))))
    }

    /// (tenant, bulkhead) for the status page and metrics.
    pub fn all(&self) -> Vec<(String, Arc<Bulkhead>)> {
        let map = match self.by_tenant.read() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut all: Vec<_> = map.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(in_flight: usize, queue: usize) -> TenantLimits {
        TenantLimits { max_in_flight: in_flight, max_queue: queue, queue_timeout: Duration::from_millis(50) }
    }

    #[tokio::test]
    async fn a_full_tenant_is_shed_while_another_is_served() {
        let bulkheads = Bulkheads::new(limits(2, 1), HashMap::new());
        let a = bulkheads.of("tenant-a");
        let _held: Vec<_> = vec![a.enter().await.expect("1"), a.enter().await.expect("2")];
        // The third waits in the queue and times out; the fourth finds the
        // queue full while the third waits.
        let (third, fourth) = tokio::join!(a.enter(), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            a.enter().await
        });
        assert_eq!(third.err(), Some(Full::TimedOut));
        assert_eq!(fourth.err(), Some(Full::QueueFull));
        let b = bulkheads.of("tenant-b");
        assert!(b.enter().await.is_ok(), "tenant B is not behind tenant A");
        assert_eq!((a.in_flight(), a.shed.load(Ordering::Relaxed)), (2, 2));
    }

    #[tokio::test]
    async fn a_queued_request_gets_the_place_a_finished_one_leaves() {
        let bulkheads = Bulkheads::new(limits(1, 4), HashMap::new());
        let a = bulkheads.of("a");
        let first = a.enter().await.expect("first");
        let waiter = tokio::spawn({
            let a = Arc::clone(&a);
            async move { a.enter().await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(a.queued(), 1);
        drop(first);
        assert!(waiter.await.expect("task"), "admitted from the queue");
    }

    #[test]
    fn a_tenant_can_have_its_own_limits() {
        let mut overrides = HashMap::new();
        overrides.insert("big-city".to_owned(), limits(100, 10));
        let bulkheads = Bulkheads::new(limits(2, 1), overrides);
        assert_eq!(bulkheads.of("big-city").limits().max_in_flight, 100);
        assert_eq!(bulkheads.of("village").limits().max_in_flight, 2);
    }
}
