//! The error of session extraction and session methods.

use std::fmt;

use actix_web::{http::StatusCode, HttpResponse, ResponseError};

use crate::{
    data::{DecodeError, EncodeError},
    store::{StoreError, StoreErrorKind},
};

/// What went wrong with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionErrorKind {
    /// The session store failed (see [`SessionError::store_error`]).
    Store(StoreErrorKind),
    /// A stored field could not be decoded into its Rust type.
    Decode,
    /// A field could not be encoded as JSON.
    Encode,
    /// The session is no longer stored: it expired or another request destroyed it.
    Gone,
    /// The session was destroyed or unset earlier in this request.
    Ended,
    /// No session middleware covers this request (not wrapped, or outside the cookie path).
    NotConfigured,
    /// The id generator kept producing ids that are already taken.
    IdConflict,
    /// The store refused to save the session: it would give an indexed field a value that
    /// already has as many sessions as the index allows
    /// ([`OverLimit::Refuse`](crate::store::OverLimit::Refuse)). Nothing was written. As a
    /// response: `403 Forbidden`, body `session limit reached`.
    LimitReached,
}

enum Inner {
    Store(StoreError),
    Decode(DecodeError),
    Encode(EncodeError),
    Plain(SessionErrorKind),
}

/// A session could not be extracted, loaded or saved.
///
/// As a response it is opaque: `503 Service Unavailable` when the store could not be reached,
/// `500 Internal Server Error` otherwise, with a short fixed body; the detail goes to `tracing`.
/// A save refused because the record is over the store's size limit
/// ([`StoreErrorKind::TooLarge`]) is a `500` too: the session is the server's state, and a
/// `413` would blame a request body that did not cause it. The log line names the record's size
/// and the limit (never the session id).
pub struct SessionError {
    inner: Inner,
}

impl SessionError {
    pub(crate) fn plain(kind: SessionErrorKind) -> Self {
        Self {
            inner: Inner::Plain(kind),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> SessionErrorKind {
        match &self.inner {
            Inner::Store(e) => SessionErrorKind::Store(e.kind()),
            Inner::Decode(_) => SessionErrorKind::Decode,
            Inner::Encode(_) => SessionErrorKind::Encode,
            Inner::Plain(kind) => *kind,
        }
    }

    /// The store's error, when the store failed.
    pub fn store_error(&self) -> Option<&StoreError> {
        match &self.inner {
            Inner::Store(e) => Some(e),
            _ => None,
        }
    }

    /// The stored name of the field that failed to decode or encode.
    pub fn field(&self) -> Option<&str> {
        match &self.inner {
            Inner::Decode(e) => Some(e.field()),
            Inner::Encode(e) => Some(e.field()),
            _ => None,
        }
    }
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        Self {
            inner: Inner::Store(e),
        }
    }
}

impl From<DecodeError> for SessionError {
    fn from(e: DecodeError) -> Self {
        Self {
            inner: Inner::Decode(e),
        }
    }
}

impl From<EncodeError> for SessionError {
    fn from(e: EncodeError) -> Self {
        Self {
            inner: Inner::Encode(e),
        }
    }
}

impl fmt::Debug for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Store(e) => f.debug_tuple("SessionError").field(e).finish(),
            Inner::Decode(e) => f.debug_tuple("SessionError").field(e).finish(),
            Inner::Encode(e) => f.debug_tuple("SessionError").field(e).finish(),
            Inner::Plain(k) => f.debug_tuple("SessionError").field(k).finish(),
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Store(e) => fmt::Display::fmt(e, f),
            Inner::Decode(e) => fmt::Display::fmt(e, f),
            Inner::Encode(e) => fmt::Display::fmt(e, f),
            Inner::Plain(kind) => f.write_str(match kind {
                SessionErrorKind::Gone => "the session is no longer stored",
                SessionErrorKind::Ended => "the session was destroyed or unset earlier in this request",
                SessionErrorKind::NotConfigured => {
                    "no session middleware covers this request (not wrapped, or outside the cookie path)"
                }
                SessionErrorKind::IdConflict => "the session id generator produced ids already in use",
                SessionErrorKind::LimitReached => {
                    "the store refused the session: its indexed value has reached its limit of sessions"
                }
                _ => "session error",
            }),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner {
            Inner::Store(e) => Some(e),
            Inner::Decode(e) => Some(e),
            Inner::Encode(e) => Some(e),
            Inner::Plain(_) => None,
        }
    }
}

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        match self.kind() {
            SessionErrorKind::Store(StoreErrorKind::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            SessionErrorKind::Store(StoreErrorKind::TooLarge) => StatusCode::INTERNAL_SERVER_ERROR,
            SessionErrorKind::LimitReached => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        tracing::error!(error = %self, source = ?std::error::Error::source(self), "session error");
        let body = match status {
            StatusCode::SERVICE_UNAVAILABLE => "session store unavailable",
            StatusCode::FORBIDDEN => "session limit reached",
            _ => "session error",
        };
        HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(body)
    }
}
