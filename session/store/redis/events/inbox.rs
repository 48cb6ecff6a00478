//! The listener's inbox: the notes its subscription connections push (expiries, lost
//! connections), and the expiry instants of the sessions this store wrote; the store's [`Handle`]
//! on it.

use std::{
    cmp::Reverse,
    collections::VecDeque,
    future::poll_fn,
    sync::{Arc, Mutex, PoisonError},
    task::{Poll, Waker},
    time::Duration,
};

use ::redis::{
    aio::{AsyncPushSender, SendError},
    PushInfo, PushKind, Value,
};
use actix_web::rt::time::timeout;
use priority_queue::PriorityQueue;

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
        let head = state.due.peek().map(|(_, at)| at.0);
        if state.due.change_priority(key, Reverse(at)).is_none() {
            state.due.push(key.to_owned(), Reverse(at));
        }
        if head.is_none_or(|head| at < head) {
            state.notes.push_back(Note::Wake);
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

/// Now, in milliseconds since the Unix epoch.
pub(super) fn unix_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
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
#[derive(Default)]
pub(super) struct Inbox {
    state: Mutex<InboxState>,
}

#[derive(Default)]
struct InboxState {
    notes: VecDeque<Note>,
    waker: Option<Waker>,
    stopped: bool,
    /// Session keys this store wrote, by the instant (Unix ms) they expire.
    due: PriorityQueue<String, Reverse<i64>>,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn push(&self, note: Note) -> bool {
        let mut state = self.lock();
        if state.stopped {
            return false;
        }
        state.notes.push_back(note);
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        true
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
        while state.due.peek().is_some_and(|(_, at)| at.0 <= now) {
            if let Some((key, _)) = state.due.pop() {
                due.push(key);
            }
        }
        due
    }

    /// The earliest scheduled claim (Unix ms).
    pub(super) fn next_due(&self) -> Option<i64> {
        self.lock().due.peek().map(|(_, at)| at.0)
    }

    /// Schedules `key` again, `ms` from now.
    pub(super) fn reschedule(&self, key: String, ms: i64) {
        let mut state = self.lock();
        if !state.stopped {
            state
                .due
                .push(key, Reverse(unix_ms().saturating_add(ms).saturating_add(1)));
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
