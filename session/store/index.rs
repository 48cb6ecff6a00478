//! Sessions indexed by the value of a field: who is signed in where.
//!
//! A store configured with an index on a field (for example `"user"`, marked
//! `#[session(index)]` in a [`SessionData`](crate::SessionData) type) keeps, for every value of
//! that field, the ids of the live sessions that hold it. It updates that set in the same
//! operation as the write that sets, changes or removes the field, and drops an id exactly when
//! its session ends. An [`IndexKey`] names one value of one indexed field; with it the store
//! lists ([`SessionStore::sessions_by`](super::SessionStore::sessions_by)), counts
//! ([`count_by`](super::SessionStore::count_by)) and ends
//! ([`end_sessions_by`](super::SessionStore::end_sessions_by)) the sessions of that value.

use std::{fmt, sync::Arc};

use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::record::Record;

/// One value of an indexed field: the sessions that hold `value` in field `name`.
///
/// The value is kept as JSON text in a canonical form, so that a value stored by another program
/// (spaces, escapes) finds the same sessions: strings as serde_json writes them, numbers as their
/// text, arrays and objects without spaces. `null` is no value: a session whose indexed field is
/// missing or `null` is in no index entry.
///
/// ```
/// use actix_typed_session::store::IndexKey;
///
/// let key = IndexKey::new("user", "alice").unwrap();
/// assert_eq!(key.name(), "user");
/// assert_eq!(key.value_json(), r#""alice""#);
/// assert_eq!(IndexKey::from_json("user", r#" "\u0061lice" "#).unwrap(), key);
/// assert_eq!(IndexKey::new("userId", &7u64).unwrap().value_json(), "7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexKey {
    name: Box<str>,
    value: Box<str>,
}

impl IndexKey {
    /// The sessions whose field `name` (its stored name, after any `rename`) holds `value`.
    ///
    /// # Errors
    ///
    /// If `value` cannot be serialized as JSON, or serializes to `null` (no session is indexed
    /// under `null`).
    pub fn new(name: &str, value: &(impl Serialize + ?Sized)) -> Result<Self, IndexKeyError> {
        let json = serde_json::to_string(value).map_err(|e| IndexKeyError(e.to_string()))?;
        Self::from_json(name, &json)
    }

    /// The sessions whose field `name` holds the JSON value `json`.
    ///
    /// # Errors
    ///
    /// If `json` is not a JSON value, or is `null`.
    pub fn from_json(name: &str, json: &str) -> Result<Self, IndexKeyError> {
        match canonical(json) {
            Canonical::Value(value) => Ok(Self {
                name: name.into(),
                value: value.into(),
            }),
            Canonical::Null => Err(IndexKeyError("null is not an index value".to_owned())),
            Canonical::Invalid => Err(IndexKeyError(format!(
                "not a JSON value: {}",
                json.chars().take(40).collect::<String>()
            ))),
        }
    }

    /// The indexed field's stored name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, as canonical JSON text (a string keeps its quotes).
    pub fn value_json(&self) -> &str {
        &self.value
    }
}

/// An [`IndexKey`] could not be made from the value given.
#[derive(Debug, Clone)]
pub struct IndexKeyError(String);

impl fmt::Display for IndexKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid index value: {}", self.0)
    }
}

impl std::error::Error for IndexKeyError {}

/// What a canonical form of a stored value is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Canonical {
    /// The canonical JSON text.
    Value(String),
    /// `null`: not indexed.
    Null,
    /// Not JSON.
    Invalid,
}

/// The canonical JSON text of a stored value, as [`IndexKey`] keeps it.
pub(super) fn canonical(json: &str) -> Canonical {
    let text = json.trim_matches([' ', '\t', '\n', '\r']);
    // The common cases without building a value: a plain string, a number, a boolean.
    if text.len() >= 2
        && text.starts_with('"')
        && text.ends_with('"')
        && !text[1..text.len() - 1].contains(['"', '\\'])
        && !text.bytes().any(|b| b < 0x20)
    {
        return Canonical::Value(text.to_owned());
    }
    match serde_json::from_str::<&RawValue>(text) {
        Err(_) => Canonical::Invalid,
        Ok(_) if text == "null" => Canonical::Null,
        Ok(_) if text.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) => {
            Canonical::Value(text.to_owned())
        }
        Ok(_) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => Canonical::Value(value.to_string()),
            Err(_) => Canonical::Invalid,
        },
    }
}

/// The canonical index value of field `name` in a set of stored fields (names and raw JSON
/// texts), if it has one.
pub(crate) fn value_of<'a>(
    mut fields: impl Iterator<Item = (&'a str, &'a str)>,
    name: &str,
) -> Option<String> {
    let (_, raw) = fields.find(|(n, _)| *n == name)?;
    match canonical(raw) {
        Canonical::Value(v) => Some(v),
        _ => None,
    }
}

/// The error for a query on a field the store does not index.
pub(crate) fn no_index(key: &IndexKey) -> super::StoreError {
    super::StoreError::new(
        super::StoreErrorKind::Unsupported,
        format!(
            "this session store has no index on field `{}` (configure it with `index`)",
            key.name()
        ),
    )
}

/// Now, in milliseconds since the Unix epoch.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn unix_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The instant `ms` milliseconds after the Unix epoch.
pub(crate) fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A live session found through an index.
#[derive(Debug, Clone)]
pub struct IndexedSession {
    /// The session id (a bearer secret: show it to its own user only, and never log it).
    pub id: String,
    /// When the session got its current value of the indexed field (for a login, the login
    /// time), to the millisecond.
    pub indexed_at: OffsetDateTime,
    /// The session's record as stored now.
    pub record: Record,
}

impl IndexedSession {
    /// When the session was created: the record's creation time (see
    /// [`Record::created_at`](crate::Record::created_at)) when it has one, else
    /// [`indexed_at`](Self::indexed_at).
    pub fn created_at(&self) -> OffsetDateTime {
        self.record.created_at().unwrap_or(self.indexed_at)
    }

    /// When the session's expiry was last renewed (`expires - originalMaxAge`), if its cookie
    /// has both.
    pub fn last_renewal(&self) -> Option<OffsetDateTime> {
        let cookie = &self.record.cookie;
        let expires = cookie.expires()?;
        let max_age = cookie.original_max_age_ms()?;
        Some(expires - time::Duration::milliseconds(max_age))
    }

    /// When the session expires, if its cookie has an expiry.
    pub fn expires(&self) -> Option<OffsetDateTime> {
        self.record.cookie.expires()
    }
}

/// What a store does when a session would take a value of an indexed field over that index's
/// limit (see `index_limit` on the stores' builders): Spring Security's maximum sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverLimit {
    /// The sessions of the value that got it earliest end (reported as
    /// [`EndReason::Displaced`](super::EndReason::Displaced)) until the new one fits.
    EndOldest,
    /// The write is refused ([`SaveOutcome::Refused`](super::SaveOutcome::Refused)) and changes
    /// nothing; a request whose session is refused fails with
    /// [`SessionErrorKind::LimitReached`](crate::SessionErrorKind::LimitReached).
    Refuse,
}

/// An index a store keeps: the stored name of the field, and its per-value limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexSpec {
    pub(crate) name: Box<str>,
    pub(crate) limit: Option<(usize, OverLimit)>,
}

/// Adds (or, for a name already there, reconfigures) index `name` in `specs`.
pub(crate) fn add_spec(specs: &mut Vec<IndexSpec>, name: &str, limit: Option<(usize, OverLimit)>) {
    match specs.iter_mut().find(|s| &*s.name == name) {
        Some(spec) => {
            if limit.is_some() {
                spec.limit = limit;
            }
        }
        None => specs.push(IndexSpec {
            name: name.into(),
            limit,
        }),
    }
}

/// A session that started: the first write of a new id stored it.
///
/// Delivered once per session to the callback registered on the store, e.g. with
/// [`MemoryStoreBuilder::on_session_start`](super::MemoryStoreBuilder::on_session_start), by the
/// process whose write created it.
#[derive(Debug, Clone)]
pub struct SessionStart {
    id: String,
    record: Record,
}

impl SessionStart {
    /// The start of session `id` with the record first stored.
    pub fn new(id: impl Into<String>, record: Record) -> Self {
        Self {
            id: id.into(),
            record,
        }
    }

    /// The id of the session that started.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The record as it was first stored.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// A typed view of the record's data, as [`Record::data`].
    pub fn data<T: crate::SessionData>(&self) -> Result<T, crate::DecodeError> {
        self.record.data()
    }
}

/// The session start callback registered on a store.
#[derive(Clone)]
pub(crate) struct StartListener(Arc<dyn Fn(SessionStart) + Send + Sync>);

impl StartListener {
    pub(crate) fn new(f: impl Fn(SessionStart) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Calls the callback; a panic in it is caught and logged.
    pub(crate) fn deliver(&self, start: SessionStart) {
        let callback = std::panic::AssertUnwindSafe(|| (self.0)(start));
        if std::panic::catch_unwind(callback).is_err() {
            tracing::error!("the session start callback panicked");
        }
    }
}

impl fmt::Debug for StartListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StartListener")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let value = |s: &str| Canonical::Value(s.to_owned());
        assert_eq!(canonical(r#""alice""#), value(r#""alice""#));
        assert_eq!(canonical(r#" "\u0061lice" "#), value(r#""alice""#));
        assert_eq!(canonical(r#""a\"b""#), value(r#""a\"b""#));
        assert_eq!(canonical("7"), value("7"));
        assert_eq!(canonical("-1.5e3"), value("-1.5e3"));
        assert_eq!(canonical("true"), value("true"));
        assert_eq!(canonical(r#"{ "a" : [1, 2] }"#), value(r#"{"a":[1,2]}"#));
        assert_eq!(canonical("null"), Canonical::Null);
        assert_eq!(canonical("nope"), Canonical::Invalid);
        assert_eq!(canonical(r#""tab	inside""#), Canonical::Invalid);
    }

    #[test]
    fn a_key_of_null_or_of_no_json_is_an_error() {
        assert!(IndexKey::new("user", &Option::<u64>::None).is_err());
        assert!(IndexKey::from_json("user", "{").is_err());
        assert_eq!(
            IndexKey::new("user", &Some(3u64)).unwrap().value_json(),
            "3"
        );
    }
}
