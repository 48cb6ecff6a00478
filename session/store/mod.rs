//! Session stores: where session records live between requests.
//!
//! A store keeps [`Record`]s by session id. The middleware asks it to load a record when a handler
//! first extracts a session, and at the end of the request to save a [`ChangeSet`] (only the fields
//! that changed), to touch (extend the expiry), or to destroy.
//!
//! A [`SessionStore`] is shared across threads and its futures are `Send`, so generic code can
//! spawn them on a multi-threaded runtime. actix-web runs each worker on its own single-threaded
//! runtime, so the middleware takes any [`LocalSessionStore`], whose futures need not be `Send`:
//! every `SessionStore` is one.
//!
//! A store may report every session that ends, with its last record and the [`EndReason`]: see
//! [`SessionEnd`] and [`MemoryStoreBuilder::on_session_end`]; and every session that starts:
//! [`SessionStart`] and [`MemoryStoreBuilder::on_session_start`].
//!
//! A store may index sessions by the value of a field (who is signed in where): see
//! [`IndexKey`], [`SessionStore::sessions_by`] and [`MemoryStoreBuilder::index`].
//!
//! The stores themselves, named in every app, are at the crate root:
//! [`MemoryStore`](crate::MemoryStore), `RedisStore` (feature `redis`) and `PgStore` (feature
//! `postgres`). Everything else about stores is here, and only here: the [`SessionStore`] trait
//! and the types its methods take and answer, the stores' builders, and session end events.

use std::{fmt, future::Future};

use crate::record::{ChangeSet, Record, SessionCookie};

mod end;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod health;
mod index;
mod local;
pub(crate) mod memory;
#[cfg(any(feature = "redis-rustls", feature = "postgres-rustls"))]
mod pem;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod size;

pub(crate) use end::EndListener;
pub use end::{EndReason, SessionEnd};
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) use index::unix_ms;
pub(crate) use index::{add_spec, from_unix_ms, no_index, value_of, IndexSpec, StartListener};
pub use index::{IndexKey, IndexKeyError, IndexedSession, OverLimit, SessionStart};
pub(crate) use local::DynStore;
pub use local::LocalSessionStore;
pub use memory::MemoryStoreBuilder;
#[cfg(feature = "postgres")]
pub use postgres::PgStoreBuilder;
#[cfg(feature = "redis")]
pub use redis::RedisStoreBuilder;

/// What to write for one session.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum SaveRequest<'a> {
    /// A session that is not stored yet: store the whole record, unless the id is already taken
    /// (then answer [`SaveOutcome::Conflict`] and change nothing).
    Create(&'a Record),
    /// A stored session: replace its cookie and apply `changes` on top of the fields stored *now*.
    /// If the session is no longer stored (destroyed or expired meanwhile), answer
    /// [`SaveOutcome::Gone`] and do not recreate it.
    Update {
        /// The session's cookie, with its renewed expiry.
        cookie: &'a SessionCookie,
        /// The fields the request set or removed.
        changes: &'a ChangeSet,
    },
}

impl SaveRequest<'_> {
    /// The cookie to store with the session.
    pub fn cookie(&self) -> &SessionCookie {
        match self {
            SaveRequest::Create(record) => &record.cookie,
            SaveRequest::Update { cookie, .. } => cookie,
        }
    }
}

/// The result of a [`SessionStore::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaveOutcome {
    /// The write happened.
    Saved,
    /// A [`SaveRequest::Create`] found the id taken; nothing was written.
    Conflict,
    /// A [`SaveRequest::Update`] found the session gone; nothing was written.
    Gone,
    /// The write would give an indexed field a value that already has as many sessions as its
    /// index allows, and the index is configured with [`OverLimit::Refuse`]; nothing was
    /// written.
    Refused,
}

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be reached or did not answer in time.
    Unavailable,
    /// The store answered with data that is not a valid session record.
    Corrupt,
    /// The store does not implement this operation.
    Unsupported,
    /// A save was refused because the record it would store is larger than the store's limit
    /// (e.g. [`MemoryStoreBuilder::max_record_bytes`]); nothing was written. The message names
    /// the record's size and the limit.
    TooLarge,
    /// Any other failure.
    Other,
}

/// A session store failed.
///
/// The middleware turns it into an opaque error response and logs the detail with `tracing`.
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure of the given kind, described by `message`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The store could not be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Unavailable, message)
    }

    /// The store held something that is not a session record.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Corrupt, message)
    }

    /// The store does not implement an operation.
    pub fn unsupported(operation: &str) -> Self {
        Self::new(
            StoreErrorKind::Unsupported,
            format!("this session store does not support `{operation}`"),
        )
    }

    /// A save refused because the record would be `size` bytes of JSON, over the store's limit of
    /// `limit` bytes ([`StoreErrorKind::TooLarge`]).
    pub fn too_large(size: usize, limit: usize) -> Self {
        Self::new(
            StoreErrorKind::TooLarge,
            format!(
                "the session record would be {size} bytes of JSON, over the store's limit of \
                 {limit} bytes (max_record_bytes); nothing was written"
            ),
        )
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session store: {}", self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The default [`touch`](SessionStore::touch) of both store traits: load, then save the renewed
/// cookie with no changes.
macro_rules! touch_by_load_and_save {
    ($trait:ident, $store:expr, $id:expr, $cookie:expr) => {{
        let (store, id, cookie) = ($store, $id, $cookie);
        let Some(record) = $trait::load(store, id).await? else {
            return Ok(None);
        };
        let cookie = match cookie {
            Some(c) => c.clone(),
            None => {
                let mut c = record.cookie;
                c.touch_at(crate::record::now_ms());
                c
            }
        };
        let changes = ChangeSet::new();
        let request = SaveRequest::Update {
            cookie: &cookie,
            changes: &changes,
        };
        match $trait::save(store, id, request).await? {
            SaveOutcome::Saved => Ok(Some(cookie)),
            _ => Ok(None),
        }
    }};
}
use touch_by_load_and_save;

/// A place where sessions live between requests, shared across threads: its futures are `Send`.
///
/// Required: [`load`](Self::load), [`save`](Self::save), [`destroy`](Self::destroy). The others
/// have defaults: [`end`](Self::end) destroys; [`touch`](Self::touch) loads and saves;
/// [`len`](Self::len), [`clear`](Self::clear) and [`ids`](Self::ids) report
/// [`StoreErrorKind::Unsupported`].
///
/// A store is a cheap-clone handle: the middleware is built once per worker from a clone.
///
/// Every future a `SessionStore` returns is `Send`, so code generic over the store can hand them
/// to a multi-threaded runtime (`tokio::spawn`). An implementation writes its methods as plain
/// `async fn`s; the compiler checks that each future is `Send`.
///
/// A store whose futures cannot be `Send` (one that holds an `Rc`, or a connection bound to its
/// thread) implements [`LocalSessionStore`] instead: the middleware takes either, since every
/// `SessionStore` is a `LocalSessionStore` too.
///
/// The `testing` module (feature `testing`) holds the acceptance suite that every store passes,
/// and a complete store written from scratch that passes it.
pub trait SessionStore: Clone + Send + Sync + 'static {
    /// The record of session `id`, or `None` if it is not stored or has expired.
    fn load(&self, id: &str) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Writes a session; see [`SaveRequest`] for what each request means.
    fn save(
        &self,
        id: &str,
        request: SaveRequest<'_>,
    ) -> impl Future<Output = Result<SaveOutcome, StoreError>> + Send;

    /// Removes session `id`. Removing a session that is not stored is not an error.
    ///
    /// A store that reports session ends reports this one as [`EndReason::Destroyed`].
    fn destroy(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes session `id` for `reason`, so that a store that reports session ends (see
    /// [`SessionEnd`]) reports it with that reason. Removing a session that is not stored is not
    /// an error, and reports nothing.
    ///
    /// The middleware ends sessions through this method: [`EndReason::Regenerated`] for the old
    /// id of [`Session::regenerate`](crate::Session::regenerate) and
    /// [`Session::cycle_id`](crate::Session::cycle_id), [`EndReason::Destroyed`] for
    /// [`Session::destroy`](crate::Session::destroy) and an unset session with
    /// [`Unset::Destroy`](crate::Unset::Destroy), [`EndReason::Expired`] for a session past the
    /// middleware's [`absolute_timeout`](crate::SessionMiddlewareBuilder::absolute_timeout).
    ///
    /// The default calls [`destroy`](Self::destroy), dropping the reason: a store that reports
    /// ends overrides it, and a store that wraps another forwards it.
    fn end(
        &self,
        id: &str,
        reason: EndReason,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = reason;
        SessionStore::destroy(self, id)
    }

    /// Extends the expiry of session `id` without rewriting its data.
    ///
    /// With `cookie`, the stored cookie is replaced by it. Without, the store renews the stored
    /// cookie itself: `expires = now + originalMaxAge`. Answers the stored cookie after the touch,
    /// or `None` if the session is not stored (a touch never creates a session).
    fn touch(
        &self,
        id: &str,
        cookie: Option<&SessionCookie>,
    ) -> impl Future<Output = Result<Option<SessionCookie>, StoreError>> + Send {
        async move { touch_by_load_and_save!(SessionStore, self, id, cookie) }
    }

    /// Loads session `id` and renews its expiry in one operation (`expires = now +
    /// originalMaxAge`, as [`touch`](Self::touch) without a cookie): express-session touches
    /// every session a request loads. Answers the record as it was *before* the renewal, which is
    /// what a handler sees (express's `cookie.maxAge` reads the time that was left).
    ///
    /// The default loads, then touches (two operations); stores that can do both at once
    /// override it.
    fn load_touched(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        async move {
            let Some(record) = SessionStore::load(self, id).await? else {
                return Ok(None);
            };
            Ok(SessionStore::touch(self, id, None).await?.map(|_| record))
        }
    }

    /// Whether the store can serve a request now: express-session's notion of a connected store.
    ///
    /// While it answers `false`, the middleware calls no store method for the request and treats
    /// it as express-session treats requests while its store is disconnected: a handler that
    /// extracts a [`Session`](crate::Session) fails at once with `503 Service Unavailable` (an
    /// `Option<Session<T>>` extracts `None`), a request that does not extract one is served
    /// without a session, and no cookie is sent.
    ///
    /// The default is always ready. A store that learns when it cannot be reached answers `false`
    /// from then on, except that it lets a request through now and then to try again (a probe),
    /// and answers `true` again once an operation succeeds (`RedisStore` probes every 200 ms).
    fn is_ready(&self) -> bool {
        true
    }

    /// The number of stored sessions.
    fn len(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        async { Err(StoreError::unsupported("len")) }
    }

    /// Whether no session is stored.
    fn is_empty(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move { Ok(SessionStore::len(self).await? == 0) }
    }

    /// Removes every session.
    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Err(StoreError::unsupported("clear")) }
    }

    /// The ids of all stored sessions.
    fn ids(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        async { Err(StoreError::unsupported("ids")) }
    }

    /// The live sessions whose indexed field holds the value of `key`, oldest
    /// [`indexed_at`](IndexedSession::indexed_at) first.
    ///
    /// A store keeps an index only for the fields it was configured with (for example
    /// [`MemoryStoreBuilder::index`]); for any other field, and by default, this is
    /// [`StoreErrorKind::Unsupported`].
    fn sessions_by(
        &self,
        key: &IndexKey,
    ) -> impl Future<Output = Result<Vec<IndexedSession>, StoreError>> + Send {
        let _ = key;
        async { Err(StoreError::unsupported("sessions_by")) }
    }

    /// The number of live sessions whose indexed field holds the value of `key`.
    ///
    /// The default counts [`sessions_by`](Self::sessions_by).
    fn count_by(&self, key: &IndexKey) -> impl Future<Output = Result<usize, StoreError>> + Send {
        async move { Ok(SessionStore::sessions_by(self, key).await?.len()) }
    }

    /// Ends every live session whose indexed field holds the value of `key`, except session
    /// `except` when given ("log out everywhere else"); each is reported once as
    /// [`EndReason::Revoked`]. Answers how many sessions ended.
    ///
    /// Default: [`StoreErrorKind::Unsupported`], as [`sessions_by`](Self::sessions_by).
    fn end_sessions_by(
        &self,
        key: &IndexKey,
        except: Option<&str>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let _ = (key, except);
        async { Err(StoreError::unsupported("end_sessions_by")) }
    }
}
