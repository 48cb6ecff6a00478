//! The shared state of a memory store: sessions by id, ordered by their expiry instant.
//!
//! Each session is one packed string ([`packed`]) in a [`Sessions`] index: found by id in O(1),
//! re-ordered in O(log n) when a save or touch moves its expiry. A load decodes the record from
//! it; an ended session is decoded after the lock is released, and only for a session end
//! callback.

use std::{
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use time::OffsetDateTime;

use super::{
    index::Indexes,
    packed::{self, Expires, View},
    sessions::{Sessions, Slot},
    DEFAULT_MAX_SESSIONS,
};
use crate::{
    record::{ChangeSet, Record, SessionCookie},
    store::{
        size, EndListener, EndReason, IndexKey, IndexSpec, OverLimit, SaveOutcome, SessionEnd,
        StartListener, StoreError,
    },
};

/// How much earlier a renewal may compute a session's instant, by clock jitter, and still keep the
/// instant it had: the most a renewed session can outlive its cookie's expiry.
const RENEWAL_JITTER: Duration = Duration::from_millis(2);
/// The longest lifetime converted to an instant; later expiries are clamped to it (no process
/// lives a century).
const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The most expired sessions that an operation of a request retires besides its own work (see
/// [`Shared::with_state`]); the expiry thread retires the rest.
const HELP_BATCH: usize = 16;

/// Readings of the wall clock further apart than this from the monotonic reading that follows
/// are taken again (see [`Op::new`]).
const MAX_CLOCK_GAP: Duration = Duration::from_micros(200);

/// Below this capacity a store that still holds sessions is not shrunk: the saving is small and
/// a store that hovers around a few sessions would reallocate on every removal.
const MIN_SHRINK_CAPACITY: usize = 64;

/// What the threads of a store share: the state behind one lock, and the condition variable the
/// expiry thread sleeps on.
pub(super) struct Shared {
    state: Mutex<State>,
    pub(super) wake: Condvar,
    /// The lifetime of a session whose cookie has no expiry.
    pub(super) default_ttl: Duration,
    /// The largest record a save may store, in bytes of JSON.
    pub(super) max_record_bytes: usize,
    /// The callback that session ends are reported to.
    on_end: Option<EndListener>,
    /// The callback that session starts are reported to.
    pub(super) on_start: Option<StartListener>,
    #[cfg(test)]
    pub(super) ended_log: Mutex<Vec<(String, EndReason, Instant)>>,
}

impl Shared {
    pub(super) fn new(
        default_ttl: Duration,
        limits: Limits,
        indexes: Vec<IndexSpec>,
        on_end: Option<EndListener>,
        on_start: Option<StartListener>,
    ) -> Self {
        let mut state = State::new(limits.max_sessions);
        state.indexes = Indexes::new(indexes);
        Self {
            state: Mutex::new(state),
            wake: Condvar::new(),
            default_ttl,
            max_record_bytes: limits.max_record_bytes,
            on_end,
            on_start,
            #[cfg(test)]
            ended_log: Mutex::default(),
        }
    }

    /// Locks the state. A poisoned lock is recovered, not reported: no code that runs under it can
    /// leave the index inconsistent (a panic there could only come from an allocation failure,
    /// which aborts), so failing every later request would only turn one panic into an outage.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| {
            self.state.clear_poison();
            poisoned.into_inner()
        })
    }

    /// Sleeps on [`wake`](Self::wake) for at most `timeout` (forever with `None`).
    pub(super) fn wait<'a>(
        &'a self,
        guard: MutexGuard<'a, State>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, State> {
        let guard = match timeout {
            Some(t) => self
                .wake
                .wait_timeout(guard, t)
                .map(|(g, _)| g)
                .map_err(|p| PoisonError::new(p.into_inner().0)),
            None => self.wake.wait(guard),
        };
        guard.unwrap_or_else(|poisoned| {
            self.state.clear_poison();
            poisoned.into_inner()
        })
    }

    /// Runs `f` on the locked state, then, with the lock released, wakes the expiry thread if `f`
    /// moved the earliest expiry forward and reports the sessions that `f` removed.
    ///
    /// Each operation also retires a few sessions whose expiry has passed (the earliest first).
    /// The lock is not fair: threads that take it back to back (a busy server, a bulk import) can
    /// keep the expiry thread waiting for it for tens of milliseconds, and without this help the
    /// sessions due meanwhile would be reported that late.
    pub(super) fn with_state<T>(&self, f: impl FnOnce(&mut State, &mut Op) -> T) -> T {
        let mut state = self.lock();
        let mut op = Op::new(self.default_ttl);
        let result = f(&mut state, &mut op);
        state.prune_expired(HELP_BATCH, &mut op);
        drop(state);
        if op.wake {
            self.wake.notify_one();
        }
        if op.filled {
            tracing::warn!(
                max_sessions = self.max_sessions(),
                "memory session store full: new sessions evict the sessions nearest their expiry \
                 (MemoryStoreBuilder::max_sessions)"
            );
        }
        self.report(op.ended);
        result
    }

    /// The most sessions the store holds.
    pub(super) fn max_sessions(&self) -> usize {
        self.lock().max_sessions
    }

    /// Reports the sessions removed by one operation, after the lock is released.
    pub(super) fn report(&self, ended: Vec<Ended>) {
        for ended in ended {
            self.session_ended(ended);
        }
    }

    /// Every session that leaves the store passes here exactly once, after the lock is released:
    /// the session end callback, if any, is called with it (its record decoded only then).
    fn session_ended(&self, ended: Ended) {
        tracing::trace!(reason = %ended.reason, "session ended");
        #[cfg(test)]
        self.ended_log.lock().unwrap().push((
            packed::id(&ended.slot.packed).to_owned(),
            ended.reason,
            Instant::now(),
        ));
        let Some(listener) = &self.on_end else {
            return;
        };
        let Some((view, record)) = decode(&ended.slot) else {
            return;
        };
        listener.deliver(SessionEnd::new(view, record, ended.reason));
    }
}

/// The id and record of a stored session; `None` (logged) only if the store wrote something it
/// cannot read, which its tests rule out.
fn decode(slot: &Slot) -> Option<(&str, Record)> {
    let view = View::new(&slot.packed);
    let decoded = view.and_then(|v| Some((v.id, v.record(slot.expires())?)));
    if decoded.is_none() {
        tracing::error!("memory session store: a stored session could not be read back (a bug)");
    }
    decoded
}

/// A session removed by an operation, with why.
pub(super) struct Ended {
    pub(super) slot: Slot,
    pub(super) reason: EndReason,
}

/// The context of one operation under the lock: the time it happens at, and its effects to carry
/// out once the lock is released.
pub(super) struct Op {
    pub(super) now: Instant,
    /// The wall clock at `now`, in nanoseconds since the Unix epoch.
    wall_ns: i128,
    default_ttl: Duration,
    /// Whether the earliest expiry moved forward, so the expiry thread must recompute its sleep.
    wake: bool,
    /// Whether the store just became full and evicted its first session (logged once per
    /// episode).
    filled: bool,
    /// The sessions removed, to report through [`Shared::report`].
    pub(super) ended: Vec<Ended>,
}

impl Op {
    pub(super) fn new(default_ttl: Duration) -> Self {
        let (now, wall) = Self::clocks();
        Self {
            now,
            wall_ns: wall.unix_timestamp_nanos(),
            default_ttl,
            wake: false,
            filled: false,
            ended: Vec::new(),
        }
    }

    /// The monotonic and the wall clock, read together: an expiry instant computed from them is
    /// never before the cookie's `expires`, and after it by at most the time between the readings.
    /// The wall clock is read between two monotonic readings and the later one is kept; when the
    /// thread was preempted in between (a loaded machine), they are read again.
    fn clocks() -> (Instant, OffsetDateTime) {
        let mut best: Option<(Duration, Instant, OffsetDateTime)> = None;
        for _ in 0..3 {
            let before = Instant::now();
            let wall = crate::record::now_utc();
            let now = Instant::now();
            let gap = now - before;
            if best.is_none_or(|(g, ..)| gap < g) {
                best = Some((gap, now, wall));
            }
            if gap <= MAX_CLOCK_GAP {
                break;
            }
        }
        let (_, now, wall) = best.expect("the clocks were read");
        (now, wall)
    }

    /// The wall clock in whole milliseconds, as JavaScript's `Date` holds it.
    pub(super) fn wall_ms(&self) -> i64 {
        self.wall_ns.div_euclid(1_000_000) as i64
    }

    /// The instant a session whose cookie expires at `expires`, written now, expires:
    /// `expires` carried from the wall clock to the monotonic clock, or now + the default
    /// lifetime for a browser-session cookie. A past expiry is now.
    pub(super) fn expiry(&self, expires: Expires) -> Instant {
        let lifetime = match expires.nanos() {
            Some(at) => {
                let left = (at - self.wall_ns).clamp(0, MAX_LIFETIME.as_nanos() as i128);
                Duration::from_nanos(left as u64)
            }
            None => self.default_ttl,
        };
        self.now + lifetime.min(MAX_LIFETIME)
    }
}

/// The bounds of a store: how many sessions it holds, how large a record may be.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// At least 1.
    pub(super) max_sessions: usize,
    pub(super) max_record_bytes: usize,
}

/// The sessions of a store, earliest expiry first.
pub(super) struct State {
    sessions: Sessions,
    /// Expiry instants are kept as nanoseconds since this one.
    base: Instant,
    /// The most sessions stored at once (at least 1): a create beyond it evicts the session
    /// nearest its expiry.
    max_sessions: usize,
    /// Whether the store has evicted since it was last below 90% of `max_sessions`.
    full: bool,
    /// Set when the last user handle is dropped: the expiry thread exits.
    pub(super) shutdown: bool,
    /// The live sessions by the values of their indexed fields.
    indexes: Indexes,
}

impl Default for State {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SESSIONS)
    }
}

impl State {
    pub(super) fn new(max_sessions: usize) -> Self {
        // Slots are numbered with `u32`: four billion sessions are over a terabyte anyway.
        let max_sessions = max_sessions.clamp(1, u32::MAX as usize);
        Self {
            sessions: Sessions::new(max_sessions),
            base: Instant::now(),
            max_sessions,
            full: false,
            shutdown: false,
            indexes: Indexes::default(),
        }
    }

    fn tick(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, tick: u64) -> Instant {
        self.base + Duration::from_nanos(tick)
    }

    /// The earliest expiry instant, if any session is stored.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.sessions.first().map(|(_, at)| self.instant(at))
    }

    /// Moves the expiry of `slot` to `at`, waking the expiry thread when it becomes the
    /// earliest.
    fn schedule(&mut self, slot: u32, at: Instant, op: &mut Op) {
        // Renewing a session within one millisecond of its last renewal moves its instant by
        // clock jitter, either way (the cookie's expiry is kept to the millisecond). Moving it
        // earlier would wake the expiry thread for nothing when it is the head: a context switch
        // per request. Such a renewal keeps the instant it had.
        let mut at = self.tick(at);
        let current = self.sessions.at(slot);
        if at < current && current - at < RENEWAL_JITTER.as_nanos() as u64 {
            at = current;
        }
        op.wake |= self.sessions.first().is_none_or(|(_, head)| at < head);
        self.sessions.set_at(slot, at);
    }

    /// The slot of session `id`, unless it is not stored or its expiry has passed (then it is
    /// removed).
    fn live(&mut self, id: &str, op: &mut Op) -> Option<u32> {
        let slot = self.sessions.find(id)?;
        if self.sessions.at(slot) <= self.tick(op.now) {
            self.remove(slot, EndReason::Expired, op);
            return None;
        }
        Some(slot)
    }

    /// Removes `slot` for `reason`.
    fn remove(&mut self, slot: u32, reason: EndReason, op: &mut Op) {
        let slot = self.take(slot);
        op.ended.push(Ended { slot, reason });
        self.sessions.shrink_if_sparse(MIN_SHRINK_CAPACITY);
    }

    /// Takes `slot` out of the sessions and out of every index: every removal passes here.
    fn take(&mut self, slot: u32) -> Slot {
        let slot = self.sessions.remove(slot);
        self.indexes.unindex(&slot.packed);
        slot
    }

    /// Removes, earliest first, at most `limit` sessions whose expiry has passed.
    pub(super) fn prune_expired(&mut self, limit: usize, op: &mut Op) {
        let now = self.tick(op.now);
        for _ in 0..limit {
            match self.sessions.first() {
                Some((slot, at)) if at <= now => {
                    let slot = self.take(slot);
                    op.ended.push(Ended {
                        slot,
                        reason: EndReason::Expired,
                    });
                }
                _ => break,
            }
        }
        self.sessions.shrink_if_sparse(MIN_SHRINK_CAPACITY);
    }

    pub(super) fn load(&mut self, id: &str, op: &mut Op) -> Option<Record> {
        let slot = self.live(id, op)?;
        decode(self.sessions.slot(slot)).map(|(_, record)| record)
    }

    /// Stores a new session, packed with [`packed::encode_record`] before the lock was taken
    /// (packing the record is most of the work of a create). A full store first evicts the
    /// session nearest its expiry.
    pub(super) fn create(
        &mut self,
        packed: Box<str>,
        expires: Expires,
        op: &mut Op,
    ) -> SaveOutcome {
        if self.live(packed::id(&packed), op).is_some() {
            return SaveOutcome::Conflict;
        }
        let values = self.index_values(&packed);
        if !self.admit(packed::id(&packed), &values, op) {
            return SaveOutcome::Refused;
        }
        self.make_room(op);
        let at = self.tick(op.expiry(expires));
        op.wake |= self.sessions.first().is_none_or(|(_, head)| at < head);
        let slot = self.sessions.insert(packed, expires, at);
        if !values.is_empty() {
            let id = packed::id(&self.sessions.slot(slot).packed).to_owned();
            self.index(&id, &[], &values, op);
        }
        SaveOutcome::Saved
    }

    /// The values a packed session holds for each index (nothing without indexes).
    fn index_values(&self, packed: &str) -> Vec<Option<String>> {
        if self.indexes.is_empty() {
            Vec::new()
        } else {
            self.indexes.values_of(packed)
        }
    }

    /// Moves session `id` in each index from its `old` value to its `new` one (an empty `old`:
    /// it had none).
    fn index(&mut self, id: &str, old: &[Option<String>], new: &[Option<String>], op: &Op) {
        for (index, value) in new.iter().enumerate() {
            let before = old.get(index).and_then(Option::as_deref);
            if before == value.as_deref() {
                continue;
            }
            if let Some(before) = before {
                self.indexes.remove(index, before, id);
            }
            if let Some(value) = value {
                self.indexes.add(index, value, id, op.wall_ms());
            }
        }
    }

    /// The live sessions of `value` in index `index` other than `except`, in the order they got
    /// it; expired ones found on the way are removed.
    fn live_entries(
        &mut self,
        index: usize,
        value: &str,
        except: Option<&str>,
        op: &mut Op,
    ) -> Vec<(Box<str>, i64)> {
        let entries: Vec<_> = self
            .indexes
            .entries(index, value)
            .iter()
            .map(|e| (e.id.clone(), e.at_ms))
            .collect();
        entries
            .into_iter()
            .filter(|(id, _)| Some(&**id) != except && self.live(id, op).is_some())
            .collect()
    }

    /// Whether session `id` may take `values` (per index, `None` where it takes no new value)
    /// under each index's limit: with [`OverLimit::Refuse`], no if a value already has its
    /// maximum of other sessions; with [`OverLimit::EndOldest`], yes, after the sessions that got
    /// the value earliest end as [`EndReason::Displaced`] until it fits. Nothing is displaced
    /// when any value refuses.
    fn admit(&mut self, id: &str, values: &[Option<String>], op: &mut Op) -> bool {
        let limited = |indexes: &Indexes| {
            values
                .iter()
                .enumerate()
                .filter_map(|(index, value)| {
                    let (max, policy) = indexes.all[index].spec.limit?;
                    Some((index, value.clone()?, max, policy))
                })
                .collect::<Vec<_>>()
        };
        let limited = limited(&self.indexes);
        if limited.is_empty() {
            return true;
        }
        for (index, value, max, policy) in &limited {
            if *policy == OverLimit::Refuse
                && self.live_entries(*index, value, Some(id), op).len() >= *max
            {
                return false;
            }
        }
        for (index, value, max, policy) in &limited {
            if *policy != OverLimit::EndOldest {
                continue;
            }
            let live = self.live_entries(*index, value, Some(id), op);
            let excess = (live.len() + 1).saturating_sub(*max);
            for (other, _) in live.iter().take(excess) {
                if let Some(slot) = self.sessions.find(other) {
                    self.remove(slot, EndReason::Displaced, op);
                }
            }
        }
        true
    }

    /// The live sessions of `key`, in the order they got its value: id, when, record. `None`
    /// when the store has no index on the key's field.
    pub(super) fn sessions_by(
        &mut self,
        key: &IndexKey,
        op: &mut Op,
    ) -> Option<Vec<(Box<str>, i64, Record)>> {
        let index = self.indexes.position(key.name())?;
        let live = self.live_entries(index, key.value_json(), None, op);
        Some(
            live.into_iter()
                .filter_map(|(id, at_ms)| {
                    let slot = self.sessions.find(&id)?;
                    let (_, record) = decode(self.sessions.slot(slot))?;
                    Some((id, at_ms, record))
                })
                .collect(),
        )
    }

    /// The number of live sessions of `key`; `None` without an index on its field.
    pub(super) fn count_by(&mut self, key: &IndexKey, op: &mut Op) -> Option<usize> {
        let index = self.indexes.position(key.name())?;
        Some(self.live_entries(index, key.value_json(), None, op).len())
    }

    /// Ends the live sessions of `key` but `except`, as revoked; answers how many. `None`
    /// without an index on its field.
    pub(super) fn end_by(
        &mut self,
        key: &IndexKey,
        except: Option<&str>,
        op: &mut Op,
    ) -> Option<usize> {
        let index = self.indexes.position(key.name())?;
        let live = self.live_entries(index, key.value_json(), except, op);
        for (id, _) in &live {
            if let Some(slot) = self.sessions.find(id) {
                self.remove(slot, EndReason::Revoked, op);
            }
        }
        Some(live.len())
    }

    /// Makes room for one more session: while the store is full, removes the session nearest
    /// its expiry (the head of the heap, O(log n)), as evicted (or expired, if its instant has
    /// passed). A browser-session cookie's instant is its last renewal + the default TTL, so it
    /// competes with the others by the same rule.
    fn make_room(&mut self, op: &mut Op) {
        if self.full && self.sessions.len() < self.max_sessions / 10 * 9 {
            self.full = false;
        }
        let now = self.tick(op.now);
        while self.sessions.len() >= self.max_sessions {
            let Some((slot, at)) = self.sessions.first() else {
                break;
            };
            let reason = if at <= now {
                EndReason::Expired
            } else {
                if !self.full {
                    self.full = true;
                    op.filled = true;
                }
                EndReason::Evicted
            };
            let slot = self.take(slot);
            op.ended.push(Ended { slot, reason });
        }
    }

    /// Applies a change set to session `id`, unless the record would then be over `max_bytes`
    /// of JSON (`cookie_len`: the length of `cookie`'s JSON): then nothing changes.
    pub(super) fn update(
        &mut self,
        id: &str,
        cookie: &SessionCookie,
        cookie_len: usize,
        changes: &ChangeSet,
        max_bytes: usize,
        op: &mut Op,
    ) -> Result<SaveOutcome, StoreError> {
        let Some(slot) = self.live(id, op) else {
            return Ok(SaveOutcome::Gone);
        };
        let stored = self.sessions.slot(slot);
        let Some(view) = View::new(&stored.packed) else {
            return Ok(SaveOutcome::Gone);
        };
        let fields = || packed::merged(view.fields(), changes);
        // Measured exactly only when a quick bound does not already show it fits.
        let bound = size::json_len_of(cookie_len, std::iter::empty())
            .saturating_add(packed::fields_json_len_bound(stored.packed.len(), changes));
        if bound > max_bytes {
            let size = size::json_len_of(cookie_len, fields());
            if size > max_bytes {
                return Err(StoreError::too_large(size, max_bytes));
            }
        }
        // The id, which the index finds the slot by, stays.
        let packed = packed::encode_update(id, cookie, &view, changes);
        let mut slot = slot;
        if !self.indexes.is_empty()
            && changes
                .iter()
                .any(|(name, _)| self.indexes.position(name).is_some())
        {
            let old = self.indexes.values_of(&self.sessions.slot(slot).packed);
            let new = self.indexes.values_of(&packed);
            let taken: Vec<Option<String>> = old
                .iter()
                .zip(&new)
                .map(|(o, n)| if o == n { None } else { n.clone() })
                .collect();
            if !self.admit(id, &taken, op) {
                return Ok(SaveOutcome::Refused);
            }
            // Displaced sessions left the store: the slot numbers moved.
            let Some(moved) = self.sessions.find(id) else {
                return Ok(SaveOutcome::Gone);
            };
            slot = moved;
            self.index(id, &old, &new, op);
        }
        let expires = Expires::new(cookie.expires);
        let stored = self.sessions.slot_mut(slot);
        stored.packed = packed;
        stored.set_expires(expires);
        self.schedule(slot, op.expiry(expires), op);
        Ok(SaveOutcome::Saved)
    }

    /// Replaces (`Some`) or renews (`None`) the cookie of session `id` and moves its expiry;
    /// answers the cookie now stored.
    pub(super) fn touch(
        &mut self,
        id: &str,
        cookie: Option<&SessionCookie>,
        op: &mut Op,
    ) -> Option<SessionCookie> {
        let slot = self.live(id, op)?;
        let stored = self.sessions.slot_mut(slot);
        let view = View::new(&stored.packed)?;
        let expires = match cookie {
            Some(c) => {
                let packed = packed::encode(id, c, || view.fields());
                stored.packed = packed;
                Expires::new(c.expires)
            }
            None => renewed(&view, stored.expires(), op),
        };
        stored.set_expires(expires);
        let cookie = View::new(&stored.packed)?.cookie(expires);
        self.schedule(slot, op.expiry(expires), op);
        cookie
    }

    /// Renews session `id`'s expiry and answers its record as it was before, under one hold of
    /// the lock.
    pub(super) fn load_touched(&mut self, id: &str, op: &mut Op) -> Option<Record> {
        let slot = self.live(id, op)?;
        let stored = self.sessions.slot_mut(slot);
        let before = stored.expires();
        let view = View::new(&stored.packed)?;
        let record = view.record(before)?;
        let expires = renewed(&view, before, op);
        stored.set_expires(expires);
        self.schedule(slot, op.expiry(expires), op);
        Some(record)
    }

    /// Removes session `id`, if stored, for `reason` (`destroy` and `end`).
    pub(super) fn end(&mut self, id: &str, reason: EndReason, op: &mut Op) {
        if let Some(slot) = self.live(id, op) {
            self.remove(slot, reason, op);
        }
    }

    /// The number of live sessions (expired ones are removed first).
    pub(super) fn len(&mut self, op: &mut Op) -> usize {
        self.prune_expired(usize::MAX, op);
        self.sessions.len()
    }

    /// The ids of live sessions (expired ones are removed first).
    pub(super) fn ids(&mut self, op: &mut Op) -> Vec<String> {
        self.prune_expired(usize::MAX, op);
        self.sessions
            .iter()
            .map(|slot| packed::id(&slot.packed).to_owned())
            .collect()
    }

    pub(super) fn clear(&mut self, op: &mut Op) {
        self.indexes.clear();
        op.ended
            .extend(self.sessions.drain().into_iter().map(|slot| Ended {
                slot,
                reason: EndReason::Cleared,
            }));
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.sessions.capacity()
    }

    /// The number of index entries, for tests that check nothing is left behind.
    #[cfg(test)]
    pub(super) fn index_entries(&self) -> usize {
        self.indexes.entry_count()
    }
}

/// The expiry after a touch: now + `originalMaxAge` (express's `session.touch()`), unchanged for
/// a browser-session cookie.
fn renewed(view: &View<'_>, expires: Expires, op: &Op) -> Expires {
    match view.original_max_age() {
        Some(ms) => Expires::after(op.wall_ms(), ms),
        None => expires,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn cookie_expiring_in(ms: i64, op: &Op) -> SessionCookie {
        let wall = OffsetDateTime::from_unix_timestamp_nanos(op.wall_ns).unwrap();
        SessionCookie {
            expires: Some(wall + time::Duration::milliseconds(ms)),
            original_max_age: Some(ms),
            ..SessionCookie::default()
        }
    }

    fn create(state: &mut State, id: &str, record: Record, op: &mut Op) -> SaveOutcome {
        let (packed, expires) = packed::encode_record(id, &record);
        state.create(packed, expires, op)
    }

    fn stored(state: &State, id: &str) -> Record {
        let slot = state.sessions.find(id).unwrap();
        decode(state.sessions.slot(slot)).unwrap().1
    }

    fn ids(ended: &[Ended]) -> Vec<(&str, EndReason)> {
        ended
            .iter()
            .map(|e| (packed::id(&e.slot.packed), e.reason))
            .collect()
    }

    #[test]
    fn expiry_carries_the_cookie_expiry_to_the_monotonic_clock() {
        let op = Op::new(TTL);
        let expiry = |c: &SessionCookie| op.expiry(Expires::new(c.expires));
        let cookie = cookie_expiring_in(1500, &op);
        assert_eq!(expiry(&cookie), op.now + Duration::from_millis(1500));
        let past = cookie_expiring_in(-1500, &op);
        assert_eq!(expiry(&past), op.now);
        assert_eq!(expiry(&SessionCookie::default()), op.now + TTL);
        let far = SessionCookie {
            expires: Some(datetime!(9999-12-31 23:59:59.999 UTC)),
            ..SessionCookie::default()
        };
        assert_eq!(expiry(&far), op.now + MAX_LIFETIME);
    }

    #[test]
    fn slot_is_found_by_its_id() {
        let mut state = State::default();
        let mut op = Op::new(TTL);
        let record = Record::default();
        assert_eq!(
            create(&mut state, "a", record.clone(), &mut op),
            SaveOutcome::Saved
        );
        assert!(state.sessions.find("a").is_some());
        assert!(state.sessions.find("b").is_none());
        assert_eq!(
            create(&mut state, "a", record.clone(), &mut op),
            SaveOutcome::Conflict
        );
        assert_eq!(state.sessions.len(), 1);
    }

    #[test]
    fn prune_removes_expired_sessions_earliest_first_up_to_the_limit() {
        let mut state = State::default();
        let mut op = Op::new(TTL);
        for (id, ms) in [("c", 30), ("a", 10), ("live", 60_000), ("b", 20)] {
            let record = Record::new(cookie_expiring_in(ms, &op));
            create(&mut state, id, record, &mut op);
        }
        let mut later = Op::new(TTL);
        later.now = op.now + Duration::from_millis(100);
        state.prune_expired(2, &mut later);
        state.prune_expired(5, &mut later);
        use EndReason::Expired;
        assert_eq!(
            ids(&later.ended),
            [("a", Expired), ("b", Expired), ("c", Expired)]
        );
        assert_eq!(state.sessions.len(), 1);
        assert_eq!(state.next_expiry(), Some(op.now + Duration::from_secs(60)));
    }

    #[test]
    fn an_earlier_expiry_wakes_the_expiry_thread_a_later_one_does_not() {
        let mut state = State::default();
        let mut op = Op::new(TTL);
        let record = Record::new(cookie_expiring_in(1000, &op));
        create(&mut state, "a", record, &mut op);
        assert!(op.wake, "first session");
        for (id, ms, wakes) in [("b", 2000, false), ("c", 500, true)] {
            let mut op = Op::new(TTL);
            let record = Record::new(cookie_expiring_in(ms, &op));
            create(&mut state, id, record, &mut op);
            assert_eq!(op.wake, wakes, "{id}");
        }
        let mut op = Op::new(TTL);
        let cookie = cookie_expiring_in(100, &op);
        state
            .update("b", &cookie, 0, &ChangeSet::new(), usize::MAX, &mut op)
            .unwrap();
        assert!(op.wake, "update moved b to the head");
    }

    #[test]
    fn renewing_the_head_a_jitter_earlier_keeps_its_instant_and_does_not_wake() {
        let mut state = State::default();
        let mut op = Op::new(TTL);
        let record = Record::new(cookie_expiring_in(1000, &op));
        create(&mut state, "a", record, &mut op);
        let head = state.next_expiry().unwrap();
        // The same expiry, one millisecond earlier: clock jitter between two renewals.
        let mut op = Op::new(TTL);
        let cookie = cookie_expiring_in(999, &op);
        state
            .update("a", &cookie, 0, &ChangeSet::new(), usize::MAX, &mut op)
            .unwrap();
        assert!(!op.wake);
        assert!(state.next_expiry().unwrap() >= head - RENEWAL_JITTER);
        // A real move earlier still wakes the thread.
        let mut op = Op::new(TTL);
        let cookie = cookie_expiring_in(500, &op);
        state
            .update("a", &cookie, 0, &ChangeSet::new(), usize::MAX, &mut op)
            .unwrap();
        assert!(op.wake);
    }

    #[test]
    fn capacity_shrinks_below_a_quarter_and_is_freed_when_empty() {
        let mut state = State::default();
        let mut op = Op::new(TTL);
        let ids: Vec<String> = (0..1000).map(|i| format!("s{i}")).collect();
        for id in &ids {
            create(&mut state, id, Record::default(), &mut op);
        }
        let full = state.capacity();
        assert!(full >= 1000);
        for id in &ids[..800] {
            state.end(id, EndReason::Destroyed, &mut op);
        }
        assert!(
            state.capacity() < full / 2,
            "{} of {full}",
            state.capacity()
        );
        for id in &ids[800..] {
            state.end(id, EndReason::Destroyed, &mut op);
        }
        assert_eq!(state.capacity(), 0);
        assert_eq!(op.ended.len(), 1000);
    }

    fn create_in(state: &mut State, id: &str, ms: i64, op: &mut Op) -> SaveOutcome {
        let mut record = Record::new(cookie_expiring_in(ms, op));
        record
            .fields
            .set("id", serde_json::value::to_raw_value(id).unwrap());
        create(state, id, record, op)
    }

    #[test]
    fn a_full_store_evicts_the_session_nearest_its_expiry_for_a_new_one() {
        let mut state = State::new(3);
        let mut op = Op::new(TTL);
        for (id, ms) in [("late", 3000), ("soon", 1000), ("mid", 2000)] {
            assert_eq!(create_in(&mut state, id, ms, &mut op), SaveOutcome::Saved);
        }
        assert!(op.ended.is_empty());
        assert_eq!(
            create_in(&mut state, "new", 5000, &mut op),
            SaveOutcome::Saved
        );
        assert_eq!(
            create_in(&mut state, "newer", 500, &mut op),
            SaveOutcome::Saved
        );
        let ended: Vec<_> = op
            .ended
            .iter()
            .map(|e| {
                let (id, record) = decode(&e.slot).unwrap();
                (
                    id.to_owned(),
                    e.reason,
                    record.fields.get("id").unwrap().get().to_owned(),
                )
            })
            .collect();
        let ended: Vec<_> = ended
            .iter()
            .map(|(id, why, n)| (id.as_str(), why, n.as_str()))
            .collect();
        use EndReason::Evicted;
        assert_eq!(
            ended,
            [
                ("soon", &Evicted, r#""soon""#),
                ("mid", &Evicted, r#""mid""#)
            ]
        );
        assert_eq!(state.sessions.len(), 3);
        assert!(op.filled, "the first eviction is logged");
        // A taken id is a conflict, and evicts nothing.
        assert_eq!(
            create_in(&mut state, "new", 5000, &mut op),
            SaveOutcome::Conflict
        );
        assert_eq!(op.ended.len(), 2);
    }

    #[test]
    fn a_full_store_never_refuses_an_update_or_a_touch() {
        let mut state = State::new(2);
        let mut op = Op::new(TTL);
        create_in(&mut state, "a", 1000, &mut op);
        create_in(&mut state, "b", 2000, &mut op);
        let mut changes = ChangeSet::new();
        changes.set("x", serde_json::value::to_raw_value(&1).unwrap());
        let cookie = cookie_expiring_in(9000, &op);
        let updated = state.update("a", &cookie, 0, &changes, usize::MAX, &mut op);
        assert_eq!(updated.unwrap(), SaveOutcome::Saved);
        assert!(state.touch("b", None, &mut op).is_some());
        assert!(op.ended.is_empty());
        assert_eq!(state.sessions.len(), 2);
    }

    #[test]
    fn a_due_session_made_room_for_is_reported_expired_not_evicted() {
        let mut state = State::new(1);
        let mut op = Op::new(TTL);
        create_in(&mut state, "due", 10, &mut op);
        let mut later = Op::new(TTL);
        later.now = op.now + Duration::from_millis(100);
        create_in(&mut state, "new", 60_000, &mut later);
        assert_eq!(ids(&later.ended), [("due", EndReason::Expired)]);
        assert!(!later.filled);
    }

    #[test]
    fn an_update_over_the_size_limit_is_refused_and_changes_nothing() {
        let mut state = State::default();
        let mut op = Op::new(TTL);
        create_in(&mut state, "s", 60_000, &mut op);
        let before = stored(&state, "s").to_json();
        let mut changes = ChangeSet::new();
        changes.set(
            "cart",
            serde_json::value::to_raw_value(&"x".repeat(200)).unwrap(),
        );
        let cookie = cookie_expiring_in(120_000, &op);
        let cookie_len = size::cookie_len(&cookie);
        let refused = state
            .update("s", &cookie, cookie_len, &changes, 200, &mut op)
            .unwrap_err();
        assert_eq!(refused.kind(), crate::store::StoreErrorKind::TooLarge);
        assert!(
            refused
                .to_string()
                .contains("over the store's limit of 200 bytes"),
            "{refused}"
        );
        assert_eq!(stored(&state, "s").to_json(), before);
        assert_eq!(
            state
                .update("s", &cookie, cookie_len, &changes, 400, &mut op)
                .unwrap(),
            SaveOutcome::Saved
        );
        assert_eq!(
            state
                .update("gone", &cookie, cookie_len, &changes, 1, &mut op)
                .unwrap(),
            SaveOutcome::Gone,
            "a session that is gone is gone, whatever the size"
        );
    }

    #[test]
    fn a_browser_session_competes_by_its_last_renewal_plus_the_default_ttl() {
        let mut state = State::new(3);
        let mut op = Op::new(TTL);
        create_in(&mut state, "short", 1000, &mut op);
        create_in(&mut state, "long", 120_000, &mut op);
        // No expiry: it expires TTL (60 s) after its last renewal.
        create(&mut state, "browser", Record::default(), &mut op);
        create_in(&mut state, "new1", 600_000, &mut op);
        create_in(&mut state, "new2", 600_000, &mut op);
        use EndReason::Evicted;
        assert_eq!(ids(&op.ended), [("short", Evicted), ("browser", Evicted)]);
    }

    #[test]
    fn index_entries_leave_with_their_sessions_whatever_removes_them() {
        use crate::store::IndexSpec;
        let mut state = State::new(15);
        state.indexes = Indexes::new(vec![IndexSpec {
            name: "user".into(),
            limit: Some((3, OverLimit::EndOldest)),
        }]);
        let mut op = Op::new(TTL);
        let user = |n: usize| serde_json::value::to_raw_value(&format!("u{}", n % 7)).unwrap();
        for n in 0..200 {
            let mut record = Record::new(cookie_expiring_in(10 + (n as i64 % 5) * 10, &op));
            record.fields.set("user", user(n));
            create(&mut state, &format!("s{n}"), record, &mut op);
            match n % 4 {
                0 => state.end(&format!("s{}", n / 2), EndReason::Destroyed, &mut op),
                1 => {
                    let mut changes = ChangeSet::new();
                    changes.set("user", user(n + 1));
                    let cookie = cookie_expiring_in(40, &op);
                    let _ =
                        state.update(&format!("s{n}"), &cookie, 0, &changes, usize::MAX, &mut op);
                }
                _ => {}
            }
            // Every entry is a live session holding its value, and every such session is in it.
            let mut live = 0;
            for slot in state.sessions.iter() {
                if state.indexes.values_of(&slot.packed)[0].is_some() {
                    live += 1;
                }
            }
            assert_eq!(state.index_entries(), live, "after session {n}");
        }
        assert!(op.ended.iter().any(|e| e.reason == EndReason::Displaced));
        assert!(op.ended.iter().any(|e| e.reason == EndReason::Evicted));
        let mut later = Op::new(TTL);
        later.now = op.now + Duration::from_secs(1);
        state.prune_expired(usize::MAX, &mut later);
        assert_eq!(state.sessions.len(), 0);
        assert_eq!(state.index_entries(), 0, "nothing left behind");
        create_in(&mut state, "x", 1000, &mut later);
        state.clear(&mut later);
        assert_eq!(state.index_entries(), 0);
    }
}
