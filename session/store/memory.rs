//! [`MemoryStore`]: sessions in this process's memory, expired at their true expiry instant.

use std::{fmt, sync::Arc, time::Duration};

use self::state::{Limits, Shared, State};
use crate::{
    data::SessionData,
    record::{Record, SessionCookie},
    store::{
        add_spec, from_unix_ms, no_index, size, EndListener, EndReason, IndexKey, IndexSpec,
        IndexedSession, OverLimit, SaveOutcome, SaveRequest, SessionEnd, SessionStart,
        SessionStore, StartListener, StoreError,
    },
};

mod expiry;
mod index;
mod packed;
mod sessions;
mod state;

/// The lifetime of a session whose cookie has no expiry, unless set with
/// [`MemoryStoreBuilder::default_ttl`]: one day, as connect-redis.
const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The most sessions a store holds, unless set with [`MemoryStoreBuilder::max_sessions`].
const DEFAULT_MAX_SESSIONS: usize = 1_000_000;

/// A session store in this process's memory, shared by all workers.
///
/// The default store: nothing to run beside the application, and sessions end with the process.
/// Use it for development, tests and single-instance deployments; several instances behind a load
/// balancer need a shared store such as Redis.
///
/// `MemoryStore` is a cheap-clone handle: clones share the same sessions.
///
/// # Expiry
///
/// A session expires at its cookie's `expires`, or, for a browser-session cookie (no expiry),
/// after [`default_ttl`](MemoryStoreBuilder::default_ttl) without a save or touch. Each store
/// keeps its sessions in a min-heap on that instant and runs one thread (named `session-expiry`)
/// that sleeps until the earliest one and removes every expired session when it passes; a save that
/// brings the earliest expiry forward wakes it. An expired session is never loaded, even in the
/// moment before the thread removes it. The thread exits when the last clone of the store is
/// dropped.
///
/// # Session end events
///
/// [`MemoryStoreBuilder::on_session_end`] registers a callback that receives every session that
/// leaves the store, as a [`SessionEnd`]: its id, its last stored record, and the [`EndReason`].
///
/// - **Exactly once.** Every removal (expiry, destroy, regenerate, clear, eviction) passes one
///   place in the store, under its lock; the callback is called once per removed session, after
///   the lock is released. A session that is removed twice (a destroy racing its expiry) is reported by
///   whichever came first.
/// - **On time, never early.** An expired session is reported when its instant passes, by the
///   expiry thread, or by a store operation that finds it due (each operation retires a few due
///   sessions, so that a busy lock does not hold expiries back). Measured with 10,000 sessions of
///   lifetimes between 50 ms and 3 s on two shared cores: every one reported once, none early,
///   p99 under 1 ms and at most 5 ms late. An overloaded machine adds its own scheduling delay
///   (with four more CPU-bound processes on the two cores: at most 32 ms late, as much as any
///   sleeping thread then oversleeps).
/// - **In expiry order.** Due sessions are retired earliest first.
/// - **Limits.** Sessions still stored when the last clone of the store is dropped end with the
///   process and are not reported. Expiries are reported one at a time on the thread that
///   retires them: a slow callback delays later expiries.
///
/// ```
/// use actix_typed_session::{MemoryStore, SessionData, store::SessionEnd};
///
/// #[derive(SessionData, Default)]
/// struct User {
///     name: Option<String>,
/// }
///
/// let store = MemoryStore::builder()
///     .on_session_end(|end: SessionEnd| {
///         let user: User = end.data().unwrap_or_default();
///         println!("session {} ended ({}): {:?}", end.id(), end.reason(), user.name);
///     })
///     .build();
/// # drop(store);
/// ```
///
/// # Memory
///
/// Each session is one allocation holding its id, its cookie's attributes packed into a few
/// bytes and its fields' raw JSON as they were saved (untouched values keep their bytes), plus
/// its slot in the store's index: a session costs its id, field names and raw JSON values plus
/// about 75 bytes (measured with a counting allocator: 154 bytes per session for 10,000 sessions
/// of a 123-byte JSON record each; 151 bytes at a million and 147 at ten million sessions of a
/// 152-byte record, 1.5–1.7 GiB resident for the ten million). The index gives memory back: once
/// fewer than a quarter of its slots are used it shrinks, and an empty store holds no session
/// memory at all.
///
/// The index finds ids through 64 hash tables that grow one at a time, from what they hold
/// alone (each entry keeps 32 bits of its id's hash). A table that fills up moves its entries to
/// one twice its size under the store's lock, which every request waits for: with one table of
/// every id that re-read each session and paused the store for 0.9 s at a million sessions and
/// 7.4 s at seven million; now the slowest save while a store grows to ten million sessions
/// takes a few milliseconds of CPU (2.5–5.9 ms in the runs of `load/src/bin/memory.rs` so far;
/// BENCHMARKS.md).
///
/// Nothing grows without bound: the store holds at most
/// [`max_sessions`](MemoryStoreBuilder::max_sessions) sessions (default 1,000,000; a full store
/// evicts the session nearest its expiry, reported as [`EndReason::Evicted`]), each of at most
/// [`max_record_bytes`](MemoryStoreBuilder::max_record_bytes) of JSON (default 1 MiB).
///
/// # Failures
///
/// Only a save whose record would be over
/// [`max_record_bytes`](MemoryStoreBuilder::max_record_bytes) fails
/// ([`StoreErrorKind::TooLarge`](crate::store::StoreErrorKind::TooLarge), nothing written); no other
/// operation fails. If a thread panicked while holding the store's lock (which none of the
/// store's own code can do short of an allocation failure), the store carries on with its state
/// rather than failing every later request.
///
/// # Examples
///
/// ```
/// use actix_typed_session::{MemoryStore, Record, store::{SaveOutcome, SaveRequest, SessionStore}};
///
/// # actix_web::rt::System::new().block_on(async {
/// let store = MemoryStore::new();
/// let record = Record::from_json(r#"{"cookie":{"path":"/"},"user":"bob"}"#).unwrap();
/// let outcome = store.save("session-id", SaveRequest::Create(&record)).await.unwrap();
/// assert_eq!(outcome, SaveOutcome::Saved);
///
/// let loaded = store.load("session-id").await.unwrap().unwrap();
/// assert_eq!(loaded.fields.get("user").unwrap().get(), r#""bob""#);
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    handle: Arc<Handle>,
}

/// Owned by the user's clones only: dropping the last one stops the expiry thread, which holds
/// the [`Shared`] state but no `Handle`.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
    }
}

impl MemoryStore {
    /// A store with the default settings: browser-session cookies live one day after their last
    /// save or touch.
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start the store's expiry thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_typed_session::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// let for_worker = store.clone(); // the same sessions
    /// # drop((store, for_worker));
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to configure the store.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use actix_typed_session::MemoryStore;
    ///
    /// let store = MemoryStore::builder()
    ///     .default_ttl(Duration::from_secs(30 * 60))
    ///     .build();
    /// # drop(store);
    /// ```
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            default_ttl: DEFAULT_TTL,
            limits: Limits {
                max_sessions: DEFAULT_MAX_SESSIONS,
                max_record_bytes: size::DEFAULT_MAX_RECORD_BYTES,
            },
            on_end: None,
            on_start: None,
            indexes: Vec::new(),
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The state shared with the expiry thread, for tests that watch it end.
    #[cfg(test)]
    fn shared_weak(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.handle.shared)
    }
}

impl Default for MemoryStore {
    /// Same as [`MemoryStore::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("default_ttl", &self.shared().default_ttl)
            .field("max_sessions", &self.shared().max_sessions())
            .field("max_record_bytes", &self.shared().max_record_bytes)
            .finish_non_exhaustive()
    }
}

/// Configures a [`MemoryStore`]; made by [`MemoryStore::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use actix_typed_session::MemoryStore;
///
/// // Browser-session cookies: the session ends after 20 minutes without a request.
/// let store = MemoryStore::builder()
///     .default_ttl(Duration::from_secs(20 * 60))
///     .build();
/// # drop(store);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    default_ttl: Duration,
    limits: Limits,
    on_end: Option<EndListener>,
    on_start: Option<StartListener>,
    indexes: Vec<IndexSpec>,
}

impl MemoryStoreBuilder {
    /// How long a session whose cookie has no expiry (a browser-session cookie) lives after its
    /// last save or touch. Default: one day, as connect-redis.
    ///
    /// Sessions whose cookie has an expiry live until it, whatever this is.
    #[must_use]
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The most sessions the store holds at once (default 1,000,000; 0 counts as 1).
    ///
    /// When the store is full, a new session takes the place of the stored session nearest its
    /// expiry (the least recently renewed, when sessions share one lifetime; a browser-session
    /// cookie's expiry is its last renewal + [`default_ttl`](Self::default_ttl)), which ends as
    /// [`EndReason::Evicted`]: reported once to the [session end
    /// callback](Self::on_session_end), with its data. Saves and touches of stored sessions are
    /// never refused, and an eviction costs O(log n) like any other create. The first eviction
    /// after the store was below 90% of its capacity logs a warning.
    ///
    /// This bounds the memory that anonymous traffic can take: without it, every request of a
    /// visitor without a cookie to a route that writes the session adds a session for
    /// [`default_ttl`](Self::default_ttl) or the cookie's `maxAge`. Measured with a counting
    /// allocator, a full store of the README's counter sessions (111 bytes of JSON, 32-byte ids)
    /// takes 109 bytes per session, about 110 MB for a million, and stays within 15% of that
    /// under ten times its capacity in new sessions; a session takes its id, field names and
    /// raw JSON values plus about 75 bytes. Size the capacity as the memory you give sessions
    /// divided by that.
    ///
    /// ```
    /// use actix_typed_session::MemoryStore;
    ///
    /// let store = MemoryStore::builder().max_sessions(100_000).build();
    /// # drop(store);
    /// ```
    #[must_use]
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.limits.max_sessions = max.max(1);
        self
    }

    /// The largest record a save may store, in bytes of its express-session JSON (default
    /// 1 MiB, 1,048,576 bytes).
    ///
    /// A save (new session or change set) whose record would be larger is refused with a
    /// [`StoreError`] of kind [`StoreErrorKind::TooLarge`](crate::store::StoreErrorKind::TooLarge) that
    /// names the size and the limit, and nothing is written: the stored session keeps its
    /// previous data. Through the middleware, the request fails with `500` (the detail in
    /// `tracing`), and [`Session::save`](crate::Session::save) returns the error. A touch, which
    /// replaces only the cookie, is not checked.
    ///
    /// ```
    /// use actix_typed_session::MemoryStore;
    ///
    /// let store = MemoryStore::builder().max_record_bytes(64 * 1024).build();
    /// # drop(store);
    /// ```
    #[must_use]
    pub fn max_record_bytes(mut self, max: usize) -> Self {
        self.limits.max_record_bytes = max;
        self
    }

    /// Calls `callback` with every session that ends: expired, destroyed, regenerated (the old
    /// id), cleared or evicted, exactly once each (see [`MemoryStore`]'s "Session end events").
    ///
    /// The callback runs outside the store's lock, on the thread that ended the session: the
    /// store's expiry thread for most expiries, otherwise the thread of the store operation (an
    /// actix worker, for a request that destroyed or regenerated a session, or that found expired
    /// sessions due). It must therefore be quick and must not block: a worker
    /// serves no request while it runs, and later expiries wait for it. Hand slow work (a
    /// database write, an HTTP call) to a channel. A panic in the callback is caught and logged.
    ///
    /// For async code, forward each end to a channel and consume it as a stream on a runtime:
    ///
    /// ```
    /// use actix_typed_session::{MemoryStore, store::{EndReason, SessionEnd, SessionStore}};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let (tx, mut ends) = tokio::sync::mpsc::unbounded_channel::<SessionEnd>();
    /// let store = MemoryStore::builder()
    ///     .on_session_end(move |end| {
    ///         // Never blocks; fails only once the receiver is gone.
    ///         let _ = tx.send(end);
    ///     })
    ///     .build();
    ///
    /// // In the application: actix_web::rt::spawn(async move { while let Some(end) = … })
    /// # let record = actix_typed_session::Record::default();
    /// # store.save("s", actix_typed_session::store::SaveRequest::Create(&record)).await.unwrap();
    /// store.destroy("s").await.unwrap();
    /// let end = ends.recv().await.unwrap();
    /// assert_eq!((end.id(), end.reason()), ("s", EndReason::Destroyed));
    /// # });
    /// ```
    ///
    /// The callback may use the store (it runs outside its lock), but a callback that owns a
    /// clone of the store keeps the store, and its expiry thread, alive for good: hand such work
    /// to the channel's consumer instead.
    ///
    /// A later call replaces the callback.
    #[must_use]
    pub fn on_session_end(mut self, callback: impl Fn(SessionEnd) + Send + Sync + 'static) -> Self {
        self.on_end = Some(EndListener::new(callback));
        self
    }

    /// Calls `callback` with every session that starts: once per session, when the first write of
    /// its id stores it (Spring's `SessionCreatedEvent`). A session given a new id
    /// ([`Session::cycle_id`](crate::Session::cycle_id), `regenerate`) starts again under it.
    ///
    /// The callback runs outside the store's lock, on the thread of the write, after it: quick
    /// and non-blocking, as [`on_session_end`](Self::on_session_end)'s. A later call replaces it.
    #[must_use]
    pub fn on_session_start(
        mut self,
        callback: impl Fn(SessionStart) + Send + Sync + 'static,
    ) -> Self {
        self.on_start = Some(StartListener::new(callback));
        self
    }

    /// Indexes sessions by field `name` (its stored name): the store keeps, for each value of
    /// the field, the live sessions that hold it, for
    /// [`sessions_by`](SessionStore::sessions_by), [`count_by`](SessionStore::count_by) and
    /// [`end_sessions_by`](SessionStore::end_sessions_by) ("where am I signed in", "log out
    /// everywhere").
    ///
    /// The index changes under the store's lock with the write that sets, changes or removes the
    /// field, and a session leaves it when it leaves the store (expiry, destroy, regenerate,
    /// clear, eviction). A field that is missing or `null` indexes nothing. The index holds a copy
    /// of each indexed session's id and the time it got its value.
    ///
    /// ```
    /// use actix_typed_session::{MemoryStore, SessionData};
    ///
    /// #[derive(SessionData, Default)]
    /// struct Account {
    ///     #[session(index)]
    ///     user: Option<String>,
    /// }
    ///
    /// // The same: index the fields that `Account` marks `#[session(index)]`.
    /// let store = MemoryStore::builder().index("user").build();
    /// let store = MemoryStore::builder().indexes::<Account>().build();
    /// # drop(store);
    /// ```
    #[must_use]
    pub fn index(mut self, name: &str) -> Self {
        add_spec(&mut self.indexes, name, None);
        self
    }

    /// Indexes every field that `T` marks `#[session(index)]`, as [`index`](Self::index).
    #[must_use]
    pub fn indexes<T: SessionData>(mut self) -> Self {
        for name in T::__INDEXES {
            add_spec(&mut self.indexes, name, None);
        }
        self
    }

    /// Indexes field `name` (as [`index`](Self::index)) with at most `max` live sessions per
    /// value (0 counts as 1): Spring Security's maximum sessions, e.g. "at most two devices per
    /// account". A write that would give a value one session more does what `over` says:
    /// [`OverLimit::EndOldest`] ends the sessions that got the value earliest (reported as
    /// [`EndReason::Displaced`]), [`OverLimit::Refuse`] refuses the write
    /// ([`SaveOutcome::Refused`]: through the middleware, `403 Forbidden`, and
    /// [`Session::save`](crate::Session::save) fails with
    /// [`SessionErrorKind::LimitReached`](crate::SessionErrorKind::LimitReached)).
    ///
    /// ```
    /// use actix_typed_session::{MemoryStore, store::OverLimit};
    ///
    /// let store = MemoryStore::builder()
    ///     .index_limit("user", 2, OverLimit::EndOldest)
    ///     .build();
    /// # drop(store);
    /// ```
    #[must_use]
    pub fn index_limit(mut self, name: &str, max: usize, over: OverLimit) -> Self {
        add_spec(&mut self.indexes, name, Some((max.max(1), over)));
        self
    }

    /// Builds the store and starts its expiry thread.
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start the thread.
    #[must_use]
    pub fn build(self) -> MemoryStore {
        let shared = Arc::new(Shared::new(
            self.default_ttl,
            self.limits,
            self.indexes,
            self.on_end,
            self.on_start,
        ));
        expiry::start(Arc::clone(&shared));
        MemoryStore {
            handle: Arc::new(Handle { shared }),
        }
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.shared().with_state(|s, op| s.load(id, op)))
    }

    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        let max_bytes = self.shared().max_record_bytes;
        match request {
            SaveRequest::Create(record) => {
                let size = size::json_len(record);
                if size > max_bytes {
                    return Err(StoreError::too_large(size, max_bytes));
                }
                let (packed, expires) = packed::encode_record(id, record);
                let outcome = self
                    .shared()
                    .with_state(|s, op| s.create(packed, expires, op));
                if outcome == SaveOutcome::Saved {
                    if let Some(listener) = &self.shared().on_start {
                        listener.deliver(SessionStart::new(id, record.clone()));
                    }
                }
                Ok(outcome)
            }
            SaveRequest::Update { cookie, changes } => {
                let cookie_len = size::cookie_len(cookie);
                self.shared()
                    .with_state(|s, op| s.update(id, cookie, cookie_len, changes, max_bytes, op))
            }
        }
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.end(id, EndReason::Destroyed).await
    }

    async fn end(&self, id: &str, reason: EndReason) -> Result<(), StoreError> {
        self.shared().with_state(|s, op| s.end(id, reason, op));
        Ok(())
    }

    async fn touch(
        &self,
        id: &str,
        cookie: Option<&SessionCookie>,
    ) -> Result<Option<SessionCookie>, StoreError> {
        Ok(self.shared().with_state(|s, op| s.touch(id, cookie, op)))
    }

    async fn load_touched(&self, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.shared().with_state(|s, op| s.load_touched(id, op)))
    }

    async fn len(&self) -> Result<usize, StoreError> {
        Ok(self.shared().with_state(State::len))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.shared().with_state(State::clear);
        Ok(())
    }

    async fn ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.shared().with_state(State::ids))
    }

    async fn sessions_by(&self, key: &IndexKey) -> Result<Vec<IndexedSession>, StoreError> {
        let found = self.shared().with_state(|s, op| s.sessions_by(key, op));
        let found = found.ok_or_else(|| no_index(key))?;
        Ok(found
            .into_iter()
            .map(|(id, at_ms, record)| IndexedSession {
                id: id.into(),
                indexed_at: from_unix_ms(at_ms),
                record,
            })
            .collect())
    }

    async fn count_by(&self, key: &IndexKey) -> Result<usize, StoreError> {
        let count = self.shared().with_state(|s, op| s.count_by(key, op));
        count.ok_or_else(|| no_index(key))
    }

    async fn end_sessions_by(
        &self,
        key: &IndexKey,
        except: Option<&str>,
    ) -> Result<usize, StoreError> {
        let ended = self.shared().with_state(|s, op| s.end_by(key, except, op));
        ended.ok_or_else(|| no_index(key))
    }
}

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::pin,
        task::{Context, Poll, Waker},
        thread,
        time::Instant,
    };

    use super::*;
    use crate::record::ChangeSet;

    /// Runs a store future: the memory store never waits, so one poll finishes it.
    #[track_caller]
    pub(super) fn ready<F: Future>(future: F) -> F::Output {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("a memory store future was pending"),
        }
    }

    pub(super) fn expiring_in(ms: u64) -> Record {
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_millis(ms)));
        Record::new(cookie)
    }

    pub(super) fn create(store: &MemoryStore, id: &str, record: &Record) {
        let outcome = ready(store.save(id, SaveRequest::Create(record))).unwrap();
        assert_eq!(outcome, SaveOutcome::Saved, "{id}");
    }

    pub(super) fn ended(store: &MemoryStore) -> Vec<(String, EndReason, Instant)> {
        store.shared().ended_log.lock().unwrap().clone()
    }

    /// Waits until `n` sessions have ended (at most 3 s).
    #[track_caller]
    pub(super) fn wait_for_ended(
        store: &MemoryStore,
        n: usize,
    ) -> Vec<(String, EndReason, Instant)> {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let log = ended(store);
            if log.len() >= n || Instant::now() > deadline {
                return log;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn every_removal_is_reported_once_with_its_reason() {
        let store = MemoryStore::new();
        let long = expiring_in(60_000);
        for id in ["d", "c1", "c2"] {
            create(&store, id, &long);
        }
        ready(store.destroy("d")).unwrap();
        ready(store.destroy("d")).unwrap();
        ready(store.clear()).unwrap();
        ready(store.clear()).unwrap();

        // Already expired when written: whichever of the request and the thread sees it first
        // removes it, once.
        let mut past = expiring_in(60_000);
        past.cookie
            .set_expires(Some(crate::record::now_ms() - Duration::from_secs(1)));
        create(&store, "p1", &past);
        assert_eq!(ready(store.load("p1")).unwrap(), None);
        create(&store, "p2", &past);
        let changes = ChangeSet::new();
        let update = SaveRequest::Update {
            cookie: &long.cookie,
            changes: &changes,
        };
        assert_eq!(ready(store.save("p2", update)).unwrap(), SaveOutcome::Gone);
        create(&store, "p3", &past);
        assert_eq!(ready(store.touch("p3", None)).unwrap(), None);
        thread::sleep(Duration::from_millis(50));

        let mut log: Vec<_> = ended(&store)
            .into_iter()
            .map(|(id, reason, _)| (id, reason))
            .collect();
        log.sort_by(|a, b| a.0.cmp(&b.0));
        use EndReason::*;
        let want = [
            ("c1", Cleared),
            ("c2", Cleared),
            ("d", Destroyed),
            ("p1", Expired),
            ("p2", Expired),
            ("p3", Expired),
        ];
        let want: Vec<_> = want.iter().map(|(id, r)| (id.to_string(), *r)).collect();
        assert_eq!(log, want);
        assert_eq!(ready(store.len()).unwrap(), 0);
    }

    #[test]
    fn store_operations_retire_due_sessions_without_the_expiry_thread() {
        // No expiry thread: only the operations' help removes the session.
        let shared = Shared::new(
            DEFAULT_TTL,
            MemoryStore::builder().limits,
            Vec::new(),
            None,
            None,
        );
        let (packed, expires) = packed::encode_record("due", &expiring_in(1));
        shared.with_state(|s, op| s.create(packed, expires, op));
        thread::sleep(Duration::from_millis(5));
        let other = shared.with_state(|s, op| s.load("other", op));
        assert_eq!(other, None);
        let log = shared.ended_log.lock().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].0.as_str(), log[0].1), ("due", EndReason::Expired));
    }

    #[test]
    fn a_poisoned_lock_is_recovered() {
        let store = MemoryStore::new();
        create(&store, "s", &expiring_in(60_000));
        let poisoner = store.clone();
        let panicked = thread::spawn(move || {
            let _guard = poisoner.shared().lock();
            panic!("poison the store's lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(ready(store.load("s")).unwrap().is_some());
        create(&store, "t", &expiring_in(60_000));
        assert_eq!(ready(store.len()).unwrap(), 2);
    }

    #[test]
    fn debug_shows_the_settings() {
        let store = MemoryStore::builder()
            .default_ttl(Duration::from_secs(5))
            .build();
        assert_eq!(
            format!("{store:?}"),
            "MemoryStore { default_ttl: 5s, max_sessions: 1000000, max_record_bytes: 1048576, .. }"
        );
    }
}
