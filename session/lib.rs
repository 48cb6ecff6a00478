//! Typed, dirty-tracked sessions for actix-web with express-session's semantics.
//!
//! (Crate documentation is written with the README.)

#![deny(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod codec;
mod config;
mod cookie;
mod data;
mod error;
mod extract;
mod id;
mod middleware;
mod record;
mod state;
pub mod store;

/// `#[derive(SessionData)]`: see [`SessionData`](trait@SessionData).
#[cfg(feature = "derive")]
pub use actix_typed_session_derive::SessionData;

pub use crate::{
    codec::SessionCodec,
    config::{CookieOptions, CookieSameSite, CookieSecure, SessionSecrets, Unset},
    data::{DecodeError, EncodeError, SessionData},
    error::{SessionError, SessionErrorKind},
    extract::Session,
    middleware::{ConfigError, SessionMiddleware, SessionMiddlewareBuilder},
    record::{ChangeSet, Fields, Priority, Record, RecordError, SameSite, SessionCookie},
    store::{MemoryStore, SaveOutcome, SaveRequest, SessionStore, StoreError, StoreErrorKind},
};
// Sessions in Redis or Redis Cluster.
#[cfg(feature = "redis")]
pub use crate::store::{RedisStore, RedisStoreBuilder};

#[doc(hidden)]
pub mod __private {
    pub use crate::{
        data::{decode_field, diff_field, DecodeError, EncodeError, SessionData},
        record::{ChangeSet, Fields},
    };
    pub use serde;
}
