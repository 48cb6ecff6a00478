//! Typed, dirty-tracked sessions for actix-web, with the semantics and the wire format of Node's
//! express-session.
//!
//! # Getting started
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use actix_typed_session::{MemoryStore, Session, SessionData, SessionMiddleware};
//! use actix_web::{web, App, HttpServer};
//!
//! #[derive(SessionData, Default)]
//! struct Visit {
//!     views: u32,
//!     #[session(rename = "userId")]
//!     user_id: Option<u64>,
//! }
//!
//! async fn index(mut session: Session<Visit>) -> String {
//!     session.views += 1; // Session<T> dereferences to T
//!     format!("views: {}", session.views)
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let store = MemoryStore::default(); // cheap-clone handle, shared by all workers
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(
//!                 SessionMiddleware::builder(store.clone(), "keyboard cat")
//!                     .cookie_max_age(Some(Duration::from_secs(3600)))
//!                     .rolling(true)
//!                     .build(),
//!             )
//!             .route("/", web::get().to(index))
//!     })
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! }
//! ```
//!
//! # Concepts
//!
//! - **Record.** A stored session is a [`Record`]: its [`SessionCookie`] (lifetime and attributes)
//!   and a map of field name to JSON value, stored as express-session's JSON.
//! - **Typed view.** [`Session<T>`] is a view of the fields that `T` names; other fields are kept
//!   byte for byte, so several types can view one session.
//! - **Change set.** When a handler took `&mut` access, each field is compared with what was
//!   loaded; the [`ChangeSet`] of fields set or removed decides whether the session is saved,
//!   whether a cookie is sent, and it is all that the store writes. Concurrent requests that change
//!   different fields of one session therefore lose nothing.
//! - **Lazy loading.** The session is loaded when a handler first extracts it; a request that never
//!   does costs no store read.
//! - **Express semantics.** Every express-session option is a [`SessionMiddlewareBuilder`] method and
//!   every session method is a [`Session`] method; the defaults are the secure ones
//!   (`resave(false)`, `save_uninitialized(false)`, a `SameSite=Lax` cookie that is `Secure`
//!   when the request is).
//! - **Untyped view.** [`untyped::Session`] has actix-session's `Session` API (`get::<T>(key)`,
//!   `insert`, `remove`, `purge`, `renew`, …) over the same request session, key by key: code
//!   moving over from actix-session keeps working, and moves to typed views one handler at a
//!   time.
//! - **Stores.** [`MemoryStore`] is the embedded store, which expires sessions at their true
//!   instant; [`store::SessionStore`] is the store trait, its futures `Send` (a store that cannot
//!   be shared across threads implements [`store::LocalSessionStore`]). A store written elsewhere
//!   runs the acceptance suite of the `testing` feature.
//!
//! # Where things are
//!
//! What a handler or an app's set-up names is at the crate root: the middleware and its
//! builder and options, [`Session`], [`SessionData`], the stores ([`MemoryStore`], `RedisStore`, `PgStore`),
//! the record types and the errors of handlers. Everything about stores beyond constructing one
//! is in [`store`], and only there: the [`SessionStore`](store::SessionStore) trait and its
//! request and error types, the stores' builders, and session end events
//! ([`SessionEnd`](store::SessionEnd), [`EndReason`](store::EndReason)). actix-session's API is
//! in [`untyped`]. Each item has one path.
//! - **Outside the middleware.** [`SessionCodec`] reads and writes the signed cookie (a WebSocket
//!   handshake, a custom login flow); [`Record::data`] and [`Record::set_data`] give typed access
//!   to records loaded from a store handle.
//!
//! - **Tracing.** Each request runs in a `session` span that records whether the session was new,
//!   loaded, saved, touched or ended, and the time spent in the store; the session id appears
//!   only as a keyed hash (`id_hash`), never raw.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `derive` | yes | `#[derive(SessionData)]` |
//! | `redis` | no | `RedisStore`, sessions in Redis, Redis Cluster or behind Redis Sentinel; ACL users |
//! | `redis-rustls` | no | TLS for `RedisStore` with rustls: `rediss://`, a private CA, client certificates (mutual TLS) |
//! | `postgres` | no | `PgStore`, sessions in PostgreSQL in connect-pg-simple's table layout |
//! | `postgres-rustls` | no | TLS for `PgStore` with rustls: `sslmode=require`, the system's roots or a private CA, client certificates |
//! | `cookie-key` | no | actix-web's `cookie::Key` as a secret (enables actix-web's `secure-cookies`) |
//! | `testing` | no | `testing`: the acceptance suites every store passes, for authors of stores |

#![deny(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod codec;
mod config;
mod cookie;
mod data;
mod error;
mod extract;
mod id;
mod lifetime;
mod middleware;
mod record;
mod secrets;
mod state;
pub mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod trace;
pub mod untyped;
mod verified;

/// `#[derive(SessionData)]`: see [`SessionData`](trait@SessionData).
#[cfg(feature = "derive")]
pub use actix_typed_session_derive::SessionData;

pub use crate::{
    builder::{ConfigError, SessionMiddlewareBuilder},
    codec::SessionCodec,
    config::{CookieOptions, CookieSecure, Unset},
    data::{DecodeError, EncodeError, SessionData},
    error::{SessionError, SessionErrorKind},
    extract::Session,
    middleware::SessionMiddleware,
    record::{ChangeSet, Fields, Priority, Record, RecordError, SameSite, SessionCookie},
    secrets::{SecretKey, SessionSecrets},
    store::memory::MemoryStore,
};
// Sessions in Redis, Redis Cluster or behind Redis Sentinel.
#[cfg(feature = "redis")]
pub use crate::store::redis::RedisStore;
// Sessions in PostgreSQL, in connect-pg-simple's table.
#[cfg(feature = "postgres")]
pub use crate::store::postgres::PgStore;

/// The README's Rust snippets, compiled (and, unless marked `no_run`, run) as doc tests. Some
/// need the optional features (`RedisStore` and its TLS, `PgStore`, `cookie::Key` as a
/// secret): `scripts/test` runs them with `--all-features`.
#[cfg(all(
    doctest,
    feature = "derive",
    feature = "redis",
    feature = "redis-rustls",
    feature = "postgres",
    feature = "cookie-key"
))]
#[doc = include_str!("../README.md")]
mod readme {}

#[doc(hidden)]
pub mod __private {
    pub use crate::{
        data::{decode_field, diff_field, DecodeError, EncodeError, SessionData},
        record::{ChangeSet, Fields},
    };
    pub use serde;
}
