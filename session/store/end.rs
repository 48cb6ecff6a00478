//! Session end events: [`SessionEnd`], [`EndReason`], and the listener a store calls.

use std::{
    fmt,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
};

use crate::{
    data::{DecodeError, SessionData},
    record::Record,
};

/// Why a session ended.
///
/// Its [`Display`](fmt::Display) form is the lowercase name: `expired`, `destroyed`,
/// `regenerated`, `cleared`, `evicted`, `revoked`, `displaced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// Its lifetime ran out: the idle expiry (the cookie's `expires`, renewed by each request that
    /// touches the session) or the middleware's
    /// [`absolute_timeout`](crate::SessionMiddlewareBuilder::absolute_timeout).
    Expired,
    /// [`Session::destroy`](crate::Session::destroy), an unset session with
    /// [`Unset::Destroy`](crate::Unset::Destroy), or [`SessionStore::destroy`](super::SessionStore::destroy)
    /// called directly.
    Destroyed,
    /// [`Session::regenerate`](crate::Session::regenerate) or
    /// [`Session::cycle_id`](crate::Session::cycle_id) replaced it by a session with a new id; the
    /// event carries the old id.
    Regenerated,
    /// [`SessionStore::clear`](super::SessionStore::clear) removed every session.
    Cleared,
    /// The store was full: a new session took the place of the stored session nearest its
    /// expiry (see [`MemoryStoreBuilder::max_sessions`](super::MemoryStoreBuilder::max_sessions)).
    /// `RedisStore` never reports it: a key that Redis itself evicts
    /// (`maxmemory`) is reported as expired by the next sweep.
    Evicted,
    /// [`SessionStore::end_sessions_by`](super::SessionStore::end_sessions_by) ended it with the
    /// other sessions of its indexed value ("log out everywhere").
    Revoked,
    /// Its indexed value reached its index's limit of sessions and a newer session of that value
    /// took its place ([`OverLimit::EndOldest`](super::OverLimit::EndOldest)).
    Displaced,
}

impl EndReason {
    /// The lowercase name: `expired`, `destroyed`, `regenerated`, `cleared`, `evicted`,
    /// `revoked` or `displaced`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Destroyed => "destroyed",
            EndReason::Regenerated => "regenerated",
            EndReason::Cleared => "cleared",
            EndReason::Evicted => "evicted",
            EndReason::Revoked => "revoked",
            EndReason::Displaced => "displaced",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A session that ended: its id, its last stored record, and why.
///
/// Delivered to the callback registered on the store, e.g. with
/// [`MemoryStoreBuilder::on_session_end`](super::MemoryStoreBuilder::on_session_end).
///
/// ```
/// use actix_typed_session::{SessionData, store::SessionEnd};
///
/// #[derive(SessionData, Default)]
/// struct User {
///     name: Option<String>,
/// }
///
/// fn on_end(end: SessionEnd) {
///     let user: User = end.data().unwrap_or_default();
///     println!("{} ended ({}), user {:?}", end.id(), end.reason(), user.name);
/// }
/// # let _ = on_end;
/// ```
#[derive(Debug, Clone)]
pub struct SessionEnd {
    id: String,
    record: Record,
    reason: EndReason,
}

impl SessionEnd {
    /// The end of session `id` for `reason`, with the record as it was last stored.
    ///
    /// A store that reports session ends builds one for each session that ends and hands it to
    /// the callback its users registered.
    pub fn new(id: impl Into<String>, record: Record, reason: EndReason) -> Self {
        Self {
            id: id.into(),
            record,
            reason,
        }
    }

    /// The id of the session that ended (for [`EndReason::Regenerated`], the old id).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Why it ended.
    pub fn reason(&self) -> EndReason {
        self.reason
    }

    /// The record as it was last stored: changes a request had not written yet when it ended the
    /// session are not in it.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// A typed view of the record's data, as [`Record::data`].
    pub fn data<T: SessionData>(&self) -> Result<T, DecodeError> {
        self.record.data()
    }

    /// The id and the record, taken apart.
    pub fn into_parts(self) -> (String, Record, EndReason) {
        (self.id, self.record, self.reason)
    }
}

/// The callback registered on a store, shared by the threads that report ends.
#[derive(Clone)]
pub(crate) struct EndListener(Arc<dyn Fn(SessionEnd) + Send + Sync>);

impl EndListener {
    pub(crate) fn new(f: impl Fn(SessionEnd) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Calls the callback. A panic in it is caught and logged: it must not take down the thread
    /// that reports ends (a store's expiry thread) nor the request that ended a session.
    pub(crate) fn deliver(&self, end: SessionEnd) {
        let reason = end.reason;
        if catch_unwind(AssertUnwindSafe(|| (self.0)(end))).is_err() {
            tracing::error!(%reason, "the session end callback panicked");
        }
    }
}

impl fmt::Debug for EndListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndListener")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn reasons_display_in_lowercase() {
        let all = [
            EndReason::Expired,
            EndReason::Destroyed,
            EndReason::Regenerated,
            EndReason::Cleared,
            EndReason::Evicted,
            EndReason::Revoked,
            EndReason::Displaced,
        ];
        let shown: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "expired",
                "destroyed",
                "regenerated",
                "cleared",
                "evicted",
                "revoked",
                "displaced"
            ]
        );
    }

    #[test]
    fn a_panicking_callback_is_contained() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let listener = EndListener::new(move |end| {
            log.lock().unwrap().push(end.id().to_owned());
            panic!("callback bug");
        });
        listener.deliver(SessionEnd::new("a", Record::default(), EndReason::Expired));
        listener.deliver(SessionEnd::new("b", Record::default(), EndReason::Expired));
        assert_eq!(*seen.lock().unwrap(), ["a", "b"]);
    }
}
