//! An untyped view of the session with actix-session's `Session` API, for code moving over from
//! actix-session one handler at a time.
//!
//! ```
//! use actix_typed_session::untyped::Session;
//! use actix_web::{Error, HttpResponse};
//!
//! async fn index(session: Session) -> Result<HttpResponse, Error> {
//!     if let Some(count) = session.get::<i32>("counter")? {
//!         session.insert("counter", count + 1)?;
//!     } else {
//!         session.insert("counter", 1)?;
//!     }
//!     Ok(HttpResponse::Ok().body(format!("Count is {:?}!", session.get::<i32>("counter")?)))
//! }
//! # actix_web::web::to(index);
//! ```
//!
//! [`Session`] reads and writes the same request session as the typed
//! [`Session<T>`](crate::Session): a handler may extract both, and an untyped handler and a typed
//! one may serve the same session. Each method works on one key (a top-level field of
//! express-session's record), and only the keys it changed are written, on top of what the store
//! holds at the end of the request: fields that other views or concurrent requests own keep
//! their bytes.

use std::{any::type_name, cell::Ref, collections::HashMap, fmt, future::Future, pin::Pin};

use actix_web::{
    dev::Payload, http::StatusCode, FromRequest, HttpRequest, HttpResponse, ResponseError,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    config::Unset,
    data::same_json,
    error::{SessionError, SessionErrorKind},
    lifetime::CREATED_AT,
    record::ChangeSet,
    state::{self, Phase, RequestState, SharedState},
};

/// The key that express-session keeps the cookie's settings under.
const COOKIE: &str = "cookie";

/// The request's session as a map of keys to JSON values, with actix-session's `Session` API.
///
/// Extract it in a handler as actix-session's: `async fn index(session: Session)`. The first
/// extraction in a request loads the session from the store, as [`Session<T>`](crate::Session)'s
/// does (and shares it with typed views). Every method takes `&self`; clones are handles to the
/// same session.
///
/// - Keys are the top-level fields of express-session's record: `session.get::<u64>("userId")`
///   reads what Node's `req.session.userId` holds and what a typed field
///   `#[session(rename = "userId")] user_id: Option<u64>` views. `"cookie"` (the cookie's
///   settings) and `"sessionCreatedAt"` (the creation time the middleware keeps) are not data
///   keys: [`get`](Self::get), [`insert`](Self::insert) and [`update`](Self::update) refuse them
///   with an error, and the other methods treat them as absent.
/// - A key whose value is JSON `null` counts as absent, as for typed views: inserting a value
///   that serializes to `null` (`None`) removes the key, as JavaScript's `delete` does.
/// - Each change is a change of its key: inserting, updating, removing or clearing writes only
///   the keys it changed, and inserting the value a key already holds writes nothing.
/// - After [`purge`](Self::purge) (or a typed view's `destroy` or `unset`) the session is gone
///   for the rest of the request: reads find nothing and writes are ignored (and logged), as
///   actix-session's.
///
/// Within one request, let each key have one writer: a typed view that the handler changed
/// writes every field of its type when it is dropped, so a field it also names goes back to the
/// value the typed view holds.
#[derive(Clone)]
pub struct Session {
    state: SharedState,
}

/// What will happen to the session at the end of the request (actix-session's
/// `SessionStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionStatus {
    /// The data or the id changed in this request: the session will be saved.
    Changed,
    /// The session was purged or destroyed (or unset with
    /// [`Unset::Destroy`]): its stored record is removed and the client's
    /// cookie cleared.
    Purged,
    /// The session will get a new id at the end of the request, keeping its data
    /// ([`Session::renew`]).
    Renewed,
    /// Nothing changed in this request (what typed views changed counts once they are dropped).
    #[default]
    Unchanged,
}

/// Whether `key` is one that the untyped view does not read or write.
fn is_reserved(key: &str) -> bool {
    key == COOKIE || key == CREATED_AT
}

impl Session {
    /// The session id (it changes at the end of the request after [`renew`](Self::renew)).
    pub fn id(&self) -> String {
        self.state
            .try_borrow()
            .ok()
            .and_then(|s| s.live().ok().map(|live| live.id.clone()))
            .unwrap_or_default()
    }

    /// The request state, when no typed view's `cookie_mut()` guard holds it.
    fn read(&self) -> Option<Ref<'_, RequestState>> {
        let s = self.state.try_borrow();
        if s.is_err() {
            tracing::warn!("session is borrowed (a cookie_mut() guard is alive); read as empty");
        }
        s.ok()
    }

    /// The raw JSON of `key`, if the session holds a value for it that is not `null`.
    fn raw(&self, key: &str) -> Option<String> {
        if is_reserved(key) {
            return None;
        }
        let s = self.read()?;
        let json = s.live().ok()?.record.fields.json(key)?;
        (json != "null").then(|| json.to_owned())
    }

    /// Applies `changes`, unless the session is gone for this request (then they are dropped and
    /// logged, as actix-session ignores writes after `purge`).
    fn apply(&self, changes: ChangeSet, what: &str) -> Result<(), Problem> {
        if self.state.try_borrow_mut().is_err() {
            return Err(Problem::Borrowed);
        }
        match state::apply_changes(&self.state, &changes) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == SessionErrorKind::Ended => {
                tracing::warn!("session {what} ignored: the session ended earlier in this request");
                Ok(())
            }
            Err(e) => Err(Problem::Session(e)),
        }
    }

    /// The value of `key` decoded as `T`; `None` when the session has no value for it.
    ///
    /// Fails when the stored JSON does not decode as `T`, and for the reserved keys `"cookie"`
    /// and `"sessionCreatedAt"`. The error converts into an `actix_web::Error` (a `500` with an
    /// opaque body; the key and the cause go to `tracing`).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionGetError> {
        check_key(key).map_err(SessionGetError)?;
        match self.raw(key) {
            Some(raw) => decode(key, &raw).map(Some).map_err(SessionGetError),
            None => Ok(None),
        }
    }

    /// Whether the session holds a (non-`null`) value for `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// Every key and its value as JSON text (a copy; the reserved keys and `null` values left
    /// out).
    pub fn entries(&self) -> HashMap<String, String> {
        let Some(s) = self.read() else {
            return HashMap::new();
        };
        let Ok(live) = s.live() else {
            return HashMap::new();
        };
        live.record
            .fields
            .iter_json()
            .filter(|(key, json)| !is_reserved(key) && *json != "null")
            .map(|(key, json)| (key.to_owned(), json.to_owned()))
            .collect()
    }

    /// What will happen to the session at the end of the request.
    pub fn status(&self) -> SessionStatus {
        let Ok(s) = self.state.try_borrow() else {
            return SessionStatus::Unchanged;
        };
        match &s.phase {
            Phase::Live(live) if live.renew => SessionStatus::Renewed,
            Phase::Live(live) if live.modified => SessionStatus::Changed,
            Phase::Purged(_) | Phase::Ended { .. } => SessionStatus::Purged,
            Phase::Unset(_) if self.state.ctx.config.unset == Unset::Destroy => {
                SessionStatus::Purged
            }
            _ => SessionStatus::Unchanged,
        }
    }

    /// Sets `key` to `value`, stored as JSON. A value that serializes to `null` removes the key;
    /// the value the key already holds changes nothing.
    ///
    /// Fails when `value` does not serialize as JSON, and for the reserved keys `"cookie"` and
    /// `"sessionCreatedAt"`.
    pub fn insert<T: Serialize>(
        &self,
        key: impl Into<String>,
        value: T,
    ) -> Result<(), SessionInsertError> {
        let key = key.into();
        self.insert_inner(&key, &value).map_err(SessionInsertError)
    }

    fn insert_inner<T: Serialize>(&self, key: &str, value: &T) -> Result<(), Problem> {
        check_key(key)?;
        let encoded = serde_json::value::to_raw_value(value).map_err(|source| Problem::Encode {
            key: key.to_owned(),
            type_name: type_name::<T>(),
            source,
        })?;
        let stored = self
            .state
            .try_borrow()
            .ok()
            .and_then(|s| Some(s.live().ok()?.record.fields.json(key)?.to_owned()));
        let mut changes = ChangeSet::new();
        match stored {
            Some(stored) if same_json(&stored, encoded.get()) => {}
            Some(_) if encoded.get() == "null" => changes.remove(key),
            None if encoded.get() == "null" => {}
            _ => changes.set(key, encoded),
        }
        self.apply(changes, "insert")
    }

    /// Replaces the value of `key` by `updater(value)`, when the session holds one; does nothing
    /// otherwise.
    ///
    /// Fails when the stored value does not decode as `T` or the new one does not encode, and
    /// for the reserved keys.
    pub fn update<T: Serialize + DeserializeOwned, F>(
        &self,
        key: impl Into<String>,
        updater: F,
    ) -> Result<(), SessionUpdateError>
    where
        F: FnOnce(T) -> T,
    {
        let key = key.into();
        let update = || {
            check_key(&key)?;
            match self.raw(&key) {
                Some(raw) => self.insert_inner(&key, &updater(decode(&key, &raw)?)),
                None => Ok(()),
            }
        };
        update().map_err(SessionUpdateError)
    }

    /// [`update`](Self::update)s the value of `key`, or inserts `default_value` when the session
    /// has none.
    pub fn update_or<T: Serialize + DeserializeOwned, F>(
        &self,
        key: &str,
        default_value: T,
        updater: F,
    ) -> Result<(), SessionUpdateError>
    where
        F: FnOnce(T) -> T,
    {
        if self.contains_key(key) {
            self.update(key, updater)
        } else {
            self.insert(key, default_value)
                .map_err(|e| SessionUpdateError(e.0))
        }
    }

    /// Removes `key`, answering its value as JSON text (`None` when the session had no value for
    /// it, or `key` is reserved).
    pub fn remove(&self, key: &str) -> Option<String> {
        if is_reserved(key) {
            tracing::warn!(key, "session key is reserved; not removed");
            return None;
        }
        let present = self
            .state
            .try_borrow()
            .ok()
            .and_then(|s| Some(s.live().ok()?.record.fields.json(key)?.to_owned()))?;
        let mut changes = ChangeSet::new();
        changes.remove(key);
        if let Err(e) = self.apply(changes, "remove") {
            tracing::warn!(error = %e, "session key not removed");
            return None;
        }
        (present != "null").then_some(present)
    }

    /// [`remove`](Self::remove)s `key` and decodes its value as `T`: `Err` with the JSON text
    /// when it does not decode (the key is removed all the same).
    pub fn remove_as<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, String>> {
        let json = self.remove(key)?;
        Some(serde_json::from_str(&json).map_err(|e| {
            tracing::debug!(key, error = %e, "removed session value is not a {}", type_name::<T>());
            json
        }))
    }

    /// Removes every key (the session stays, empty; the reserved keys are kept).
    pub fn clear(&self) {
        let mut changes = ChangeSet::new();
        if let Ok(s) = self.state.try_borrow() {
            if let Ok(live) = s.live() {
                for (key, _) in live.record.fields.iter_json() {
                    if !is_reserved(key) {
                        changes.remove(key);
                    }
                }
            }
        }
        if let Err(e) = self.apply(changes, "clear") {
            tracing::warn!(error = %e, "session not cleared");
        }
    }

    /// Ends the session: it is gone for the rest of the request, and at the end of the request
    /// its stored record is destroyed (reported as
    /// [`EndReason::Destroyed`](crate::store::EndReason::Destroyed)) and the client's cookie
    /// cleared, as the typed view's [`destroy`](crate::Session::destroy) does at once.
    pub fn purge(&self) {
        if self.state.try_borrow_mut().is_err() {
            tracing::warn!("session is borrowed (a cookie_mut() guard is alive); not purged");
            return;
        }
        // A session already gone stays gone.
        let _ = state::purge(&self.state);
    }

    /// Gives the session a new id at the end of the request, keeping its data: the record of the
    /// old id is ended (reported as
    /// [`EndReason::Regenerated`](crate::store::EndReason::Regenerated)) and the data written
    /// under the new id, whose cookie is sent. The typed view's
    /// [`cycle_id`](crate::Session::cycle_id) does the same at once.
    pub fn renew(&self) {
        if self.state.try_borrow_mut().is_err() {
            tracing::warn!("session is borrowed (a cookie_mut() guard is alive); not renewed");
            return;
        }
        if state::request_renewal(&self.state).is_err() {
            tracing::warn!("session renewal ignored: the session ended earlier in this request");
        }
    }

    /// The live sessions whose indexed field holds the value of `key`, oldest first, as the
    /// typed view's [`sessions_by`](crate::Session::sessions_by).
    pub async fn sessions_by(
        &self,
        key: &crate::store::IndexKey,
    ) -> Result<Vec<crate::store::IndexedSession>, SessionError> {
        state::sessions_by(&self.state, key).await
    }

    /// Ends every other session of `key`'s value ("log out everywhere else"), as the typed
    /// view's [`end_other_sessions`](crate::Session::end_other_sessions); answers how many.
    pub async fn end_other_sessions(
        &self,
        key: &crate::store::IndexKey,
    ) -> Result<usize, SessionError> {
        state::end_sessions_by(&self.state, key, true).await
    }

    /// Ends every session of `key`'s value, this one too when it holds the value ("log out
    /// everywhere"), as the typed view's [`end_all_sessions`](crate::Session::end_all_sessions);
    /// answers how many.
    pub async fn end_all_sessions(
        &self,
        key: &crate::store::IndexKey,
    ) -> Result<usize, SessionError> {
        state::end_sessions_by(&self.state, key, false).await
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id is a secret and the values may be: only the keys.
        let mut keys: Vec<String> = self.entries().into_keys().collect();
        keys.sort_unstable();
        f.debug_struct("Session")
            .field("keys", &keys)
            .field("status", &self.status())
            .finish()
    }
}

impl FromRequest for Session {
    type Error = SessionError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, SessionError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state::extract_live(&req).await?;
            Ok(Session { state })
        })
    }
}

fn check_key(key: &str) -> Result<(), Problem> {
    if is_reserved(key) {
        Err(Problem::Reserved(key.to_owned()))
    } else {
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, Problem> {
    serde_json::from_str(json).map_err(|source| Problem::Decode {
        key: key.to_owned(),
        type_name: type_name::<T>(),
        source,
    })
}

/// What went wrong in an untyped session method.
enum Problem {
    Reserved(String),
    Decode {
        key: String,
        type_name: &'static str,
        source: serde_json::Error,
    },
    Encode {
        key: String,
        type_name: &'static str,
        source: serde_json::Error,
    },
    /// A typed view's `cookie_mut()` guard holds the session.
    Borrowed,
    Session(SessionError),
}

impl Problem {
    fn key(&self) -> Option<&str> {
        match self {
            Problem::Reserved(key) | Problem::Decode { key, .. } | Problem::Encode { key, .. } => {
                Some(key)
            }
            Problem::Borrowed | Problem::Session(_) => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Reserved(key) if key == COOKIE => f.write_str(
                "`cookie` is not a session key: express-session keeps the cookie's settings \
                 there (use Session::<T>::cookie() and cookie_mut())",
            ),
            Problem::Reserved(key) => write!(
                f,
                "`{key}` is not a session key: the middleware keeps the session's creation time \
                 there (read it with Record::created_at())"
            ),
            Problem::Decode {
                key,
                type_name,
                source,
            } => write!(
                f,
                "session key `{key}` could not be decoded as `{type_name}`: {source}"
            ),
            Problem::Encode {
                key,
                type_name,
                source,
            } => write!(
                f,
                "a `{type_name}` could not be encoded as JSON for session key `{key}`: {source}"
            ),
            Problem::Borrowed => f.write_str(
                "the session is borrowed: a typed view's cookie_mut() guard is still alive",
            ),
            Problem::Session(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl fmt::Debug for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! method_error {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// As a response it is a `500 Internal Server Error` with the short fixed body
        /// `session error`; the key and the cause go to `tracing`.
        pub struct $name(Problem);

        impl $name {
            /// The key the method was called with, when the failure concerns it (a reserved key,
            /// a value that does not decode or encode).
            pub fn key(&self) -> Option<&str> {
                self.0.key()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match &self.0 {
                    Problem::Decode { source, .. } | Problem::Encode { source, .. } => {
                        Some(source)
                    }
                    Problem::Session(e) => Some(e),
                    Problem::Reserved(_) | Problem::Borrowed => None,
                }
            }
        }

        impl ResponseError for $name {
            fn status_code(&self) -> StatusCode {
                StatusCode::INTERNAL_SERVER_ERROR
            }

            fn error_response(&self) -> HttpResponse {
                tracing::error!(error = %self, "session error");
                HttpResponse::build(self.status_code())
                    .content_type("text/plain; charset=utf-8")
                    .body("session error")
            }
        }
    };
}

method_error!(
    /// [`Session::get`] failed: the stored value does not decode as the type asked for, or the
    /// key is reserved.
    SessionGetError
);
method_error!(
    /// [`Session::insert`] failed: the value does not serialize as JSON, or the key is reserved.
    SessionInsertError
);
method_error!(
    /// [`Session::update`] or [`Session::update_or`] failed: the stored value does not decode, the
    /// new one does not encode, or the key is reserved.
    SessionUpdateError
);
