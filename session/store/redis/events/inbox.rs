//! The listener's inbox: the notes its subscription connections push (expiries, lost
//! connections), and the expiry instants of the sessions this store wrote; the store's [`Handle`]
//! on it.
//!
//! Both are bounded, and what does not fit is still reported, later:
//!
//! - **Notes.** At most [`MAX_NOTES`] expiry notes wait for the listener (a mass expiry on a
//!   large Redis publishes faster than the listener claims, one round trip each). Beyond that an
//!   expiry note is dropped and the listener sweeps as soon as it has handled the notes it kept:
//!   a dropped note's session key is gone and its shadow left, which is exactly what the sweep
//!   reports (claimed atomically, so still once). Notes of lost connections are always kept
//!   (one per connection), and wake-ups are one flag.
//! - **Schedule.** At most [`MAX_SCHEDULED`] sessions are scheduled to be claimed at their
//!   instant, the nearest ones: a session that expires later than all of a full schedule is not
//!   added, and one that expires earlier takes the place of the latest. A session left out is
//!   reported as every session is when its writer is gone: on Redis's expiry notification, or
//!   by the sweep. Only the delay changes (see the store's docs: the notification comes
//!   hundreds of milliseconds after the instant), never the count.

use std::{
    collections::VecDeque,
    future::poll_fn,
    sync::{Arc, Mutex, PoisonError},
    task::{Poll, Waker},
    time::Duration,
};

use crate::store::unix_ms;
use ::redis::{
    aio::{AsyncPushSender, SendError},
    PushInfo, PushKind, Value,
};
use actix_web::rt::time::timeout;
use priority_queue::DoublePriorityQueue;

/// The most expiry notes that wait for the listener; more are dropped and swept instead.
const MAX_NOTES: usize = 100_000;

/// The most sessions scheduled to be claimed at their instant (about 100 bytes each).
const MAX_SCHEDULED: usize = 100_000;

/// Owned by the store (all its clones): dropping it stops the listener.
pub(in crate::store::redis) struct Handle {
    pub(super) inbox: Arc<Inbox>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inbox.stop();
    }
}

impl Handle {
    /// Session key `key` was just written to expire in `ttl_ms`: the listener claims it then
    /// (see the module's docs). O(log n).
    pub(in crate::store::redis) fn schedule(&self, key: &str, ttl_ms: i64) {
        // After the write's answer, so never before Redis's own instant.
        let at = unix_ms().saturating_add(ttl_ms).saturating_add(1);
        let mut state = self.inbox.lock();
        if state.stopped {
            return;
        }
        let head = state.due.peek_min().map(|(_, at)| *at);
        if state.schedule(key, at) && head.is_none_or(|head| at < head) {
            state.woken = true;
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        }
    }

    /// Session key `key` ended: nothing to claim.
    pub(in crate::store::redis) fn cancel(&self, key: &str) {
        self.inbox.lock().due.remove(key);
    }
}

/// What a subscription connection tells the listener.
#[derive(Debug)]
pub(super) enum Note {
    /// Redis expired `key` (a keyevent notification).
    Expired { generation: u64, key: Vec<u8> },
    /// A subscription connection closed.
    Lost { generation: u64 },
    /// A write brought the earliest scheduled claim forward.
    Wake,
}

/// The notes of the subscription connections, handed to the listener's task.
pub(super) struct Inbox {
    state: Mutex<InboxState>,
}

struct InboxState {
    /// Expiry notes (at most `max_notes`) and notes of lost connections.
    notes: VecDeque<Note>,
    /// Expiry notes were dropped since the listener last asked: it must sweep.
    overflowed: bool,
    /// A write brought the earliest scheduled claim forward (answered as [`Note::Wake`]).
    woken: bool,
    waker: Option<Waker>,
    stopped: bool,
    /// Session keys this store wrote, by the instant (Unix ms) they expire: at most
    /// `max_scheduled`, the earliest.
    due: DoublePriorityQueue<String, i64>,
    max_notes: usize,
    max_scheduled: usize,
}

impl InboxState {
    /// Schedules `key` at `at`; answers whether it is scheduled (a full schedule keeps its
    /// earliest instants).
    fn schedule(&mut self, key: &str, at: i64) -> bool {
        if self.due.change_priority(key, at).is_some() {
            return true;
        }
        if self.due.len() >= self.max_scheduled {
            match self.due.peek_max() {
                Some((_, latest)) if at < *latest => {
                    self.due.pop_max();
                }
                _ => return false,
            }
        }
        self.due.push(key.to_owned(), at);
        true
    }
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new(MAX_NOTES, MAX_SCHEDULED)
    }
}

impl Inbox {
    /// An inbox that holds at most `max_notes` expiry notes and schedules at most
    /// `max_scheduled` sessions.
    fn new(max_notes: usize, max_scheduled: usize) -> Self {
        Self {
            state: Mutex::new(InboxState {
                notes: VecDeque::new(),
                overflowed: false,
                woken: false,
                waker: None,
                stopped: false,
                due: DoublePriorityQueue::new(),
                max_notes,
                max_scheduled,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn push(&self, note: Note) -> bool {
        let mut state = self.lock();
        if state.stopped {
            return false;
        }
        if matches!(note, Note::Expired { .. }) && state.notes.len() >= state.max_notes {
            // The sweep reports it: its key is gone, its shadow left.
            state.overflowed = true;
        } else {
            state.notes.push_back(note);
        }
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        true
    }

    /// Whether expiry notes were dropped since the last call (the listener must sweep).
    pub(super) fn take_overflowed(&self) -> bool {
        std::mem::take(&mut self.lock().overflowed)
    }

    pub(super) fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        state.notes.clear();
        state.due.clear();
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    pub(super) fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// The next note; `None` once the store is dropped.
    pub(super) async fn recv(&self) -> Option<Note> {
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.stopped {
                return Poll::Ready(None);
            }
            if let Some(note) = state.notes.pop_front() {
                return Poll::Ready(Some(note));
            }
            if std::mem::take(&mut state.woken) {
                return Poll::Ready(Some(Note::Wake));
            }
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Waits `duration`, or less if the store is dropped meanwhile.
    pub(super) async fn pause(&self, duration: Duration) {
        let _ = timeout(
            duration,
            poll_fn(|cx| {
                let mut state = self.lock();
                if state.stopped {
                    return Poll::Ready(());
                }
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }),
        )
        .await;
    }

    /// The session keys due by `now` (Unix ms), taken out of the schedule.
    pub(super) fn take_due(&self, now: i64) -> Vec<String> {
        let mut state = self.lock();
        let mut due = Vec::new();
        while state.due.peek_min().is_some_and(|(_, at)| *at <= now) {
            if let Some((key, _)) = state.due.pop_min() {
                due.push(key);
            }
        }
        due
    }

    /// The earliest scheduled claim (Unix ms).
    pub(super) fn next_due(&self) -> Option<i64> {
        self.lock().due.peek_min().map(|(_, at)| *at)
    }

    /// Schedules `key` again, `ms` from now.
    pub(super) fn reschedule(&self, key: String, ms: i64) {
        let mut state = self.lock();
        if !state.stopped {
            state.schedule(&key, unix_ms().saturating_add(ms).saturating_add(1));
        }
    }

    /// Removes the expiry note of `key`, if it came.
    pub(super) fn take_expired(&self, key: &[u8]) -> bool {
        let mut state = self.lock();
        let at = state
            .notes
            .iter()
            .position(|n| matches!(n, Note::Expired { key: k, .. } if k == key));
        at.and_then(|at| state.notes.remove(at)).is_some()
    }
}

/// Forwards one subscription connection's pushes to the inbox, tagged with its generation.
pub(super) struct Sender {
    pub(super) inbox: Arc<Inbox>,
    pub(super) generation: u64,
}

impl AsyncPushSender for Sender {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        let generation = self.generation;
        let note = match info.kind {
            PushKind::Message => match info.data.into_iter().nth(1) {
                Some(Value::BulkString(key)) => Note::Expired { generation, key },
                _ => return Ok(()),
            },
            PushKind::Disconnection => Note::Lost { generation },
            _ => return Ok(()),
        };
        if self.inbox.push(note) {
            Ok(())
        } else {
            Err(SendError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expired(key: &str) -> Note {
        Note::Expired {
            generation: 1,
            key: key.as_bytes().to_vec(),
        }
    }

    fn waiting(inbox: &Inbox) -> usize {
        inbox.lock().notes.len()
    }

    #[test]
    fn expiry_notes_beyond_the_bound_are_dropped_and_call_for_a_sweep() {
        let inbox = Inbox::new(3, 10);
        for n in 0..10 {
            assert!(inbox.push(expired(&format!("sess:{n}"))));
        }
        assert_eq!(waiting(&inbox), 3);
        assert!(inbox.take_overflowed());
        assert!(!inbox.take_overflowed(), "once per overflow");
        // A lost connection is never dropped: the listener must reconnect.
        assert!(inbox.push(Note::Lost { generation: 1 }));
        assert_eq!(waiting(&inbox), 4);
        assert!(inbox.take_expired(b"sess:0"));
        assert!(!inbox.take_expired(b"sess:3"), "dropped");
    }

    #[test]
    fn a_full_schedule_keeps_the_nearest_expiries() {
        let inbox = Arc::new(Inbox::new(10, 3));
        let handle = Handle {
            inbox: Arc::clone(&inbox),
        };
        for (key, ttl) in [
            ("c", 3000),
            ("a", 1000),
            ("e", 5000),
            ("b", 2000),
            ("d", 4000),
        ] {
            handle.schedule(key, ttl);
        }
        let kept = |inbox: &Inbox| {
            let mut keys: Vec<String> = inbox.lock().due.iter().map(|(k, _)| k.clone()).collect();
            keys.sort();
            keys
        };
        assert_eq!(kept(&inbox), ["a", "b", "c"]);
        // Renewing a scheduled session moves it, and drops nothing.
        handle.schedule("a", 10_000);
        assert_eq!(kept(&inbox), ["a", "b", "c"]);
        // An earlier one takes the place of the latest; a later one is not added.
        handle.schedule("z", 500);
        handle.schedule("y", 60_000);
        inbox.reschedule("x".to_owned(), 60_000);
        assert_eq!(kept(&inbox), ["b", "c", "z"]);
        assert_eq!(inbox.take_due(unix_ms() + 2500), ["z", "b"]);
    }

    #[test]
    fn wake_ups_are_one_flag_not_a_queue() {
        let inbox = Arc::new(Inbox::new(10, 100));
        let handle = Handle {
            inbox: Arc::clone(&inbox),
        };
        // Each schedule brings the earliest claim forward.
        for n in 0..50 {
            handle.schedule(&format!("sess:{n}"), 10_000 - n);
        }
        assert_eq!(waiting(&inbox), 0);
        let runtime = actix_web::rt::Runtime::new().unwrap();
        let first = runtime.block_on(inbox.recv());
        assert!(matches!(first, Some(Note::Wake)), "{first:?}");
        let second =
            runtime.block_on(async { timeout(Duration::from_millis(20), inbox.recv()).await });
        assert!(second.is_err(), "one wake-up: {second:?}");
    }

    #[test]
    fn the_bounds_are_a_hundred_thousand_notes_and_scheduled_sessions() {
        let state = Inbox::default();
        let state = state.lock();
        assert_eq!((state.max_notes, state.max_scheduled), (100_000, 100_000));
    }
}
