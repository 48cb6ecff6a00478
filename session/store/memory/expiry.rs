//! The expiry thread of a memory store: it sleeps until the earliest expiry instant, removes the
//! sessions whose instant has passed, and ends with the store.

use std::{sync::Arc, thread, time::Instant};

use super::state::{Op, Shared};

/// The most expired sessions removed per hold of the lock, so that a mass expiry does not stall
/// requests.
const PRUNE_BATCH: usize = 1024;

/// The name of each store's expiry thread.
const THREAD_NAME: &str = "session-expiry";

/// Starts the expiry thread of the store whose state is `shared`. The thread holds `shared` but
/// no store handle, so it ends once the last handle is dropped.
///
/// # Panics
///
/// If the operating system refuses to start the thread.
pub(super) fn start(shared: Arc<Shared>) {
    thread::Builder::new()
        .name(THREAD_NAME.to_owned())
        .spawn(move || expire_sessions(&shared))
        .expect("failed to start the memory session store's expiry thread");
}

/// The thread's loop: returns once the last store handle is dropped.
fn expire_sessions(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.shutdown {
            return;
        }
        let mut op = Op::new(shared.default_ttl);
        state.prune_expired(PRUNE_BATCH, &mut op);
        if !op.ended.is_empty() {
            drop(state);
            shared.report(op.ended);
            state = shared.lock();
            continue;
        }
        let sleep = state
            .next_expiry()
            .map(|at| at.saturating_duration_since(Instant::now()));
        state = shared.wait(state, sleep);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{
        super::{tests::*, MemoryStore, SessionStore as _},
        *,
    };
    use crate::store::EndReason;

    #[test]
    fn the_expiry_thread_removes_each_session_at_its_expiry_instant() {
        let store = MemoryStore::new();
        let start = Instant::now();
        for (id, ms) in [("c", 180), ("a", 60), ("live", 60_000), ("b", 120)] {
            create(&store, id, &expiring_in(ms));
        }
        let log = wait_for_ended(&store, 3);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(ended(&store).len(), 3, "{log:?}");
        for ((id, reason, at), (want_id, ms)) in log.iter().zip([("a", 60), ("b", 120), ("c", 180)])
        {
            assert_eq!((id.as_str(), *reason), (want_id, EndReason::Expired));
            let due = start + Duration::from_millis(ms);
            // The cookie's expiry is truncated to the millisecond.
            assert!(*at + Duration::from_millis(2) >= due, "{id} ended early");
            // Generous: the machine may be busy.
            assert!(*at <= due + Duration::from_millis(250), "{id} ended late");
        }
        assert_eq!(ready(store.ids()).unwrap(), ["live"]);
    }

    #[test]
    fn a_save_with_an_earlier_expiry_wakes_the_sleeping_expiry_thread() {
        let store = MemoryStore::new();
        create(&store, "late", &expiring_in(10_000));
        thread::sleep(Duration::from_millis(20)); // the thread now sleeps for 10 s
        let start = Instant::now();
        create(&store, "early", &expiring_in(50));
        let log = wait_for_ended(&store, 1);
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].0.as_str(), log[0].1), ("early", EndReason::Expired));
        assert!(log[0].2 < start + Duration::from_millis(300), "ended late");
    }

    #[test]
    fn the_expiry_thread_exits_when_the_last_handle_is_dropped() {
        let store = MemoryStore::new();
        let clone = store.clone();
        let shared = store.shared_weak();
        drop(store);
        thread::sleep(Duration::from_millis(20));
        assert!(shared.upgrade().is_some(), "a clone still uses the store");
        create(&clone, "s", &expiring_in(60_000));
        drop(clone);
        let deadline = Instant::now() + Duration::from_secs(3);
        while shared.upgrade().is_some() {
            assert!(
                Instant::now() < deadline,
                "the expiry thread still holds the state"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}
