//! The `session` span of a request: what happened to its session, for logs and traces.
//!
//! Every request the middleware handles runs in a span named `session` (level `INFO`, target
//! `actix_typed_session`), so a handler's own events carry it. When the request ends, the span
//! records:
//!
//! | field | value |
//! |---|---|
//! | `id_hash` | a keyed hash of the session id (12 hex digits), never the id itself |
//! | `new` | the request started a new session |
//! | `loaded` | a stored session was loaded |
//! | `saved` | the session was written to the store |
//! | `touched` | the store renewed the session's expiry |
//! | `ended` | why the request ended a stored session (`destroyed`, `regenerated`, `expired`), if it did |
//! | `store_us` | time spent waiting for the store, in microseconds |
//!
//! A session id is a bearer secret: whoever holds it holds the session. The hash is an
//! HMAC-SHA256 of the id under a key derived from the first secret, so the same session has the
//! same hash on every server sharing the secret, and the hash gives nothing to forge a cookie with.
//! While no subscriber listens to the span, none of this is computed.

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
    time::{Duration, Instant},
};

use tracing::{field, Level, Span};

use crate::{cookie::Secrets, store::EndReason};

/// What happened to one request's session, recorded on its span.
pub(crate) struct Trace {
    span: Span,
    events: Cell<u8>,
    ended: Cell<Option<EndReason>>,
    store_time: Cell<Duration>,
}

/// A session event of [`Trace`].
#[derive(Clone, Copy)]
pub(crate) enum Event {
    New = 1,
    Loaded = 2,
    Saved = 4,
    Touched = 8,
}

impl Trace {
    /// The span of a request whose cookie names session `id` (when it verified).
    pub(crate) fn start(secrets: &Secrets, id: Option<&str>) -> Self {
        // Checked first: a disabled `info_span!` still costs a call into `log` when tracing's
        // `log` feature is on; without a listener this costs one callsite check.
        let span = if !tracing::span_enabled!(target: "actix_typed_session", Level::INFO) {
            Span::none()
        } else {
            tracing::info_span!(
                target: "actix_typed_session",
                "session",
                id_hash = field::Empty,
                new = field::Empty,
                loaded = field::Empty,
                saved = field::Empty,
                touched = field::Empty,
                ended = field::Empty,
                store_us = field::Empty,
            )
        };
        let trace = Self {
            span,
            events: Cell::new(0),
            ended: Cell::new(None),
            store_time: Cell::new(Duration::ZERO),
        };
        if let Some(id) = id {
            trace.note_id(secrets, id);
        }
        trace
    }

    /// Records the hash of the session's id: the cookie's at the start, then any new id the
    /// request gives its session (a new session, a regenerated one).
    pub(crate) fn note_id(&self, secrets: &Secrets, id: &str) {
        if !self.span.is_disabled() {
            self.span
                .record("id_hash", field::display(secrets.log_id(id)));
        }
    }

    /// The request's span.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Notes that `event` happened.
    pub(crate) fn note(&self, event: Event) {
        self.events.set(self.events.get() | event as u8);
    }

    /// Notes that the request ended its stored session for `reason`.
    pub(crate) fn note_end(&self, reason: EndReason) {
        self.ended.set(Some(reason));
    }

    /// A store operation that adds its time to the request's store time while the span is
    /// listened to (the store's futures are boxed, so `Unpin`).
    pub(crate) fn time<F: Future + Unpin>(&self, operation: F) -> Timed<'_, F> {
        Timed {
            start: (!self.span.is_disabled()).then(Instant::now),
            operation,
            trace: self,
        }
    }

    /// Records on the span what happened to the session.
    pub(crate) fn finish(&self) {
        if self.span.is_disabled() {
            return;
        }
        let events = self.events.get();
        let happened = |event: Event| events & event as u8 != 0;
        self.span.record("new", happened(Event::New));
        self.span.record("loaded", happened(Event::Loaded));
        self.span.record("saved", happened(Event::Saved));
        self.span.record("touched", happened(Event::Touched));
        if let Some(reason) = self.ended.get() {
            self.span.record("ended", field::display(reason));
        }
        let micros = u64::try_from(self.store_time.get().as_micros()).unwrap_or(u64::MAX);
        self.span.record("store_us", micros);
    }
}

/// A store operation timed for a request's span: see [`Trace::time`].
pub(crate) struct Timed<'a, F> {
    operation: F,
    start: Option<Instant>,
    trace: &'a Trace,
}

impl<F: Future + Unpin> Future for Timed<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = ready!(Pin::new(&mut self.operation).poll(cx));
        if let Some(start) = self.start {
            let trace = self.trace;
            trace
                .store_time
                .set(trace.store_time.get() + start.elapsed());
        }
        Poll::Ready(out)
    }
}
