//! Whether a store that talks to a server is known to be down, and when a request may try it
//! again: express-session's "store ready" for stores that learn of outages from their own
//! operations.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// How often a store known to be down lets one request through to try it again.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// The health of one store and its clones.
pub(crate) struct Health {
    down: AtomicBool,
    /// Milliseconds since `epoch` after which the next request may probe.
    next_probe: AtomicU64,
    epoch: Instant,
    what: &'static str,
}

impl Health {
    /// A healthy store; `what` names its server in log lines ("Redis").
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            down: AtomicBool::new(false),
            next_probe: AtomicU64::new(0),
            epoch: Instant::now(),
            what,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn interval() -> u64 {
        u64::try_from(PROBE_INTERVAL.as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a request may use the store: always while it is up; while it is down, one caller
    /// per [`PROBE_INTERVAL`], whose operation then tells whether it is back.
    pub(crate) fn is_ready(&self) -> bool {
        if !self.down.load(Ordering::Relaxed) {
            return true;
        }
        let now = self.now();
        let next = self.next_probe.load(Ordering::Relaxed);
        now >= next
            && self
                .next_probe
                .compare_exchange(
                    next,
                    now.saturating_add(Self::interval()),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Whether the store is known to be down.
    #[cfg(test)]
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// An operation found the server unreachable.
    pub(crate) fn mark_down(&self) {
        if !self.down.load(Ordering::Relaxed) {
            self.next_probe.store(
                self.now().saturating_add(Self::interval()),
                Ordering::Relaxed,
            );
            if !self.down.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    store = self.what,
                    "session store unreachable: requests get no session until a probe (one request every {:?}) finds it back",
                    PROBE_INTERVAL
                );
            }
        }
    }

    /// An operation succeeded.
    pub(crate) fn mark_up(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(store = self.what, "session store reachable again");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread::sleep;

    use super::*;

    #[test]
    fn a_healthy_store_is_always_ready() {
        let health = Health::new("test");
        assert!((0..100).all(|_| health.is_ready()));
    }

    #[test]
    fn a_down_store_lets_one_probe_through_per_interval_and_is_ready_once_back() {
        let health = Health::new("test");
        health.mark_down();
        assert!(health.is_down());
        assert!(!health.is_ready(), "no probe before the interval passed");
        sleep(PROBE_INTERVAL + Duration::from_millis(20));
        assert!(
            health.is_ready(),
            "the first caller after the interval probes"
        );
        assert!(!health.is_ready(), "and only one caller");
        health.mark_down();
        assert!(!health.is_ready(), "a failed probe keeps the store down");
        health.mark_up();
        assert!(!health.is_down());
        assert!((0..10).all(|_| health.is_ready()));
    }
}
