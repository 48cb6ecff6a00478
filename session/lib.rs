//! Typed, dirty-tracked sessions for actix-web with express-session's semantics.
//!
//! (Crate documentation: see README.md; filled in with the middleware.)

#![deny(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cookie;
mod data;
mod record;
pub mod store;

pub use data::{DecodeError, EncodeError, SessionData};
pub use record::{ChangeSet, Fields, Priority, Record, RecordError, SameSite, SessionCookie};
pub use store::{MemoryStore, SaveOutcome, SaveRequest, SessionStore, StoreError, StoreErrorKind};

/// `#[derive(SessionData)]`: see [`SessionData`](trait@SessionData).
#[cfg(feature = "derive")]
pub use actix_typed_session_derive::SessionData;

#[doc(hidden)]
pub mod __private {
    pub use crate::{
        data::{decode_field, diff_field, DecodeError, EncodeError, SessionData},
        record::{ChangeSet, Fields},
    };
    pub use serde;
}
