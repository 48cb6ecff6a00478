//! The acceptance suites that every session store passes, for authors of stores (feature
//! `testing`).
//!
//! [`MemoryStore`](crate::MemoryStore) and `RedisStore` run these very suites in this crate's own
//! tests; a store written elsewhere runs them the same way, from one line in a test file:
//!
//! ```ignore
//! // tests/acceptance.rs of a crate with a store `MyStore`, and in its Cargo.toml:
//! // [dev-dependencies] actix-typed-session = { version = "…", features = ["testing"] }
//! actix_typed_session::testing::store_acceptance_tests!(MyStore::new);
//! ```
//!
//! [`store_acceptance_tests!`] makes one `#[test]` per behaviour of the [`store`] suite: create,
//! conflict, per-field updates, no resurrection of a destroyed session, destroy, touch,
//! `load_touched`, expiry, `len`/`ids`/`clear`, and the 1 MiB record size limit (a save over it
//! answers [`StoreError::too_large`](crate::store::StoreError::too_large) and writes nothing). A store
//! that reports session ends also runs [`session_end_acceptance_tests!`], the [`end`] suite: each
//! end reported once, with its reason and its last stored data.
//!
//! Each test runs on its own actix (tokio current-thread) runtime, as `#[actix_web::test]` does,
//! and builds its store there by calling the expression it was given, so a store may spawn tasks
//! or open connections when it is built. Behaviours use fresh random ids and can share one
//! backend; `len_and_ids_count_the_stored_sessions`, `clear_removes_every_session` and
//! `clear_reports_each_session_as_cleared_once` count or clear every session, so the expression
//! must give each call a store of its own (for a shared backend: a key prefix of its own).
//!
//! The behaviours are public functions, generic over any [`LocalSessionStore`], so a test can
//! also run one of them on its own, or use the helpers ([`record`], [`create`], [`update`],
//! [`unique_id`], …) for a store's own tests.
//!
//! # A store written from scratch
//!
//! A complete store, sessions in a `HashMap` behind a mutex, that passes the store suite
//! (`tests/custom_store.rs` runs it; `cargo run --example custom_store` serves a counter from
//! it):
//!
//! ```no_run
#![doc = include_str!("../../examples/custom_store.rs")]
//! ```

use std::{future::Future, time::Duration};

use actix_web::rt::time::sleep;
use base64::Engine as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::{
    store::{LocalSessionStore, SaveOutcome, SaveRequest, StoreError, StoreErrorKind},
    ChangeSet, Record, SessionCookie,
};

pub mod end;
pub mod index;
pub mod store;

/// Runs `future` to completion on a new actix runtime (tokio, current-thread), as
/// `#[actix_web::test]` does: what each generated test runs its behaviour on.
pub fn run<F: Future>(future: F) -> F::Output {
    actix_web::rt::System::new().block_on(future)
}

/// A fresh session id: 24 random bytes from the OS generator, base64url, as express-session
/// makes them.
pub fn unique_id() -> String {
    let mut bytes = [0; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random generator works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Raw JSON for a field value.
///
/// # Panics
///
/// If `text` is not valid JSON.
pub fn json(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).expect("valid JSON")
}

/// A record whose cookie expires after `max_age`, with `fields` (name, raw JSON).
///
/// # Panics
///
/// If a field value is not valid JSON.
pub fn record(max_age: Duration, fields: &[(&str, &str)]) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(max_age));
    let mut record = Record::new(cookie);
    for (name, value) in fields {
        record.fields.set(name, json(value));
    }
    record
}

/// One hour, the lifetime of the suites' long-lived sessions.
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

/// Stores `record` as a new session `id`.
///
/// # Panics
///
/// Unless the store answers [`SaveOutcome::Saved`].
pub async fn create<S: LocalSessionStore>(store: &S, id: &str, record: &Record) {
    let outcome = store.save(id, SaveRequest::Create(record)).await;
    assert_eq!(outcome.unwrap(), SaveOutcome::Saved, "create a session");
}

/// Applies `changes` with `cookie` to session `id`; answers the outcome.
///
/// # Panics
///
/// If the store fails.
pub async fn update<S: LocalSessionStore>(
    store: &S,
    id: &str,
    cookie: &SessionCookie,
    changes: &ChangeSet,
) -> SaveOutcome {
    let request = SaveRequest::Update { cookie, changes };
    store.save(id, request).await.expect("update")
}

/// The stored JSON of session `id`, `None` if it is not loaded.
///
/// # Panics
///
/// If the store fails.
pub async fn stored_json<S: LocalSessionStore>(store: &S, id: &str) -> Option<String> {
    store.load(id).await.expect("load").map(|r| r.to_json())
}

/// The documented default of every store's record size limit: 1 MiB of JSON. A save whose
/// record would be larger answers [`StoreError::too_large`] and writes nothing.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Asserts that `result` is a [`StoreErrorKind::TooLarge`] refusal whose message names `size`
/// and the limit [`MAX_RECORD_BYTES`], and not the session id `id`.
///
/// # Panics
///
/// Unless it is.
#[track_caller]
pub fn assert_too_large<T: std::fmt::Debug>(result: Result<T, StoreError>, size: usize, id: &str) {
    let error = result.expect_err("a save over the size limit");
    assert_eq!(error.kind(), StoreErrorKind::TooLarge, "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("{size} bytes"))
            && message.contains(&format!("limit of {MAX_RECORD_BYTES} bytes")),
        "{message}"
    );
    assert!(!message.contains(id), "the message shows the session id");
}

/// The session ends a store reported, collected by the callback it was given.
///
/// ```
/// use actix_typed_session::{testing::EndLog, MemoryStore};
///
/// let log = EndLog::new();
/// let store = MemoryStore::builder().on_session_end(log.callback()).build();
/// # let _ = store;
/// assert!(log.is_empty());
/// ```
#[derive(Default)]
pub struct EndLog {
    ends: std::sync::Mutex<Vec<(crate::store::SessionEnd, OffsetDateTime)>>,
}

impl EndLog {
    /// A new log, shared with the callback that fills it.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::default()
    }

    /// The callback to register with `on_session_end`.
    pub fn callback(
        self: &std::sync::Arc<Self>,
    ) -> impl Fn(crate::store::SessionEnd) + Send + Sync + 'static {
        let log = std::sync::Arc::clone(self);
        move |end| {
            let at = OffsetDateTime::now_utc();
            log.ends.lock().unwrap().push((end, at));
        }
    }

    /// Every end reported so far.
    pub fn ends(&self) -> Vec<crate::store::SessionEnd> {
        self.timed().into_iter().map(|(end, _)| end).collect()
    }

    /// Every end reported so far, with the time it was reported at.
    pub fn timed(&self) -> Vec<(crate::store::SessionEnd, OffsetDateTime)> {
        self.ends.lock().unwrap().clone()
    }

    /// How many ends were reported so far.
    pub fn len(&self) -> usize {
        self.ends.lock().unwrap().len()
    }

    /// Whether no end was reported so far.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ends of session `id` reported so far.
    pub fn of(&self, id: &str) -> Vec<crate::store::SessionEnd> {
        self.ends()
            .into_iter()
            .filter(|end| end.id() == id)
            .collect()
    }

    /// Waits (at most `within`) until `n` ends of session `id` are reported, then a little more
    /// for any duplicate; answers them.
    pub async fn wait_for(
        &self,
        id: &str,
        n: usize,
        within: Duration,
    ) -> Vec<crate::store::SessionEnd> {
        let deadline = std::time::Instant::now() + within;
        while self.of(id).len() < n && std::time::Instant::now() < deadline {
            sleep(Duration::from_millis(5)).await;
        }
        sleep(Duration::from_millis(100)).await;
        self.of(id)
    }
}

/// The time until `cookie` expires, plus a little.
pub(crate) fn after_expiry(cookie: &SessionCookie) -> Duration {
    let left = cookie.expires().expect("an expiring cookie") - OffsetDateTime::now_utc();
    left.try_into().unwrap_or(Duration::ZERO) + Duration::from_millis(30)
}

/// One `#[test]` per behaviour of the store suite ([`testing::store`](crate::testing::store)),
/// each on a store made by `$make`, an expression callable with no argument (a function path or a
/// closure), called once per test on the test's own runtime.
///
/// `$make` must give each call a store of its own where a behaviour counts or clears every
/// session (see [`testing`](crate::testing)).
///
/// ```ignore
/// actix_typed_session::testing::store_acceptance_tests!(MyStore::new);
/// ```
///
/// With `async` first, `$make` is an async function, awaited in each test (a store that connects
/// before it answers):
///
/// ```ignore
/// actix_typed_session::testing::store_acceptance_tests!(async MyStore::connect);
/// ```
#[doc(inline)]
pub use crate::__store_acceptance_tests as store_acceptance_tests;

/// One `#[test]` per behaviour of the session end suite ([`testing::end`](crate::testing::end)),
/// each on a store and its [`EndLog`] made by `$make`, an expression callable with no argument
/// that answers `(store, Arc<EndLog>)`, called once per test on the test's own runtime.
///
/// ```ignore
/// actix_typed_session::testing::session_end_acceptance_tests!(|| {
///     let log = actix_typed_session::testing::EndLog::new();
///     let store = MyStore::builder().on_session_end(log.callback()).build();
///     (store, log)
/// });
/// ```
#[doc(inline)]
pub use crate::__session_end_acceptance_tests as session_end_acceptance_tests;

/// One `#[test]` per behaviour of the index suite ([`testing::index`](crate::testing::index)),
/// each on a store made by `$make`, a function or closure that takes an
/// [`&IndexSetup`](index::IndexSetup) and answers a store indexed by field
/// [`"user"`](index::FIELD) with the setup's limit, reporting ends and starts to its logs.
/// Behaviours use fresh random values of the field, so their stores can share one backend.
///
/// ```ignore
/// actix_typed_session::testing::index_acceptance_tests!(|setup: &IndexSetup| {
///     let builder = MyStore::builder()
///         .on_session_end(setup.ends.callback())
///         .on_session_start(setup.starts.callback());
///     match setup.limit {
///         Some((max, over)) => builder.index_limit("user", max, over),
///         None => builder.index("user"),
///     }
///     .build()
/// });
/// ```
#[doc(inline)]
pub use crate::__index_acceptance_tests as index_acceptance_tests;
