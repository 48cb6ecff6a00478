//! The behaviours every [`SessionStore`] must have.
//!
//! Each `pub async fn` pins one behaviour on the store it is given. A store's test file runs them
//! all with [`store_acceptance_tests!`], which makes one `#[actix_web::test]` per behaviour:
//!
//! ```ignore
//! mod support;
//! support::acceptance::store_acceptance_tests!(MemoryStore::new);
//! ```
//!
//! Every behaviour uses fresh random ids, so stores that share their data (one Redis) can run them
//! in parallel; only `len_and_ids_count_the_stored_sessions` and `clear_removes_every_session`
//! need a store of their own (for Redis: a key prefix of their own).
#![allow(dead_code)]

use std::{collections::BTreeSet, time::Duration};

use actix_typed_session::{
    store::{SaveOutcome, SaveRequest, SessionStore},
    ChangeSet, Record, SessionCookie,
};
use actix_web::rt::time::sleep;
use base64::Engine as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::value::RawValue;
use time::OffsetDateTime;

/// One `#[actix_web::test]` per acceptance behaviour, each on a store made by `$make` (an
/// expression callable with no argument; `async $make`: an async function, awaited).
#[allow(unused_macros)]
macro_rules! store_acceptance_tests {
    // A store made by an `async` function, awaited in each test (e.g. one that connects first).
    (async $make:expr) => {
        $crate::support::acceptance::store_acceptance_tests!(@names @each_async $make);
    };
    ($make:expr) => {
        $crate::support::acceptance::store_acceptance_tests!(@names @each $make);
    };
    (@names @$each:ident $make:expr) => {
        $crate::support::acceptance::store_acceptance_tests!(
            @$each $make;
            create_then_load_returns_the_same_record,
            create_on_a_taken_id_conflicts_and_keeps_the_original,
            updates_apply_their_changes_on_top_of_what_is_stored_now,
            update_removes_a_field,
            update_replaces_the_cookie,
            update_of_a_destroyed_session_is_gone_and_does_not_recreate_it,
            update_of_a_never_created_session_is_gone,
            destroy_removes_the_session,
            destroy_of_an_absent_id_is_ok,
            touch_renews_the_expiry_without_touching_fields,
            touch_with_a_cookie_stores_that_cookie,
            touch_of_an_absent_session_answers_none_and_creates_nothing,
            load_touched_answers_the_record_and_renews_its_expiry,
            load_touched_of_an_absent_session_answers_none,
            session_whose_expiry_is_past_is_not_loaded,
            session_is_not_loaded_after_its_max_age,
            update_with_a_past_expiry_ends_the_session,
            len_and_ids_count_the_stored_sessions,
            clear_removes_every_session,
            a_record_up_to_the_size_limit_is_stored_and_one_byte_more_is_refused,
            a_create_over_the_size_limit_is_refused_and_writes_nothing,
            an_update_over_the_size_limit_is_refused_and_keeps_the_previous_data,
        );
    };
    (@each_async $make:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[actix_web::test]
            async fn $behaviour() {
                let store = ($make)().await;
                $crate::support::acceptance::$behaviour(&store).await;
            }
        )*
    };
    (@each $make:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[actix_web::test]
            async fn $behaviour() {
                let store = ($make)();
                $crate::support::acceptance::$behaviour(&store).await;
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use store_acceptance_tests;

/// A fresh session id: 24 random bytes, base64url, as express-session makes them.
pub(crate) fn unique_id() -> String {
    let mut bytes = [0; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random generator works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Raw JSON for a field value.
pub(crate) fn json(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).expect("valid JSON")
}

/// A record whose cookie expires after `max_age`, with `fields` (name, raw JSON).
pub(crate) fn record(max_age: Duration, fields: &[(&str, &str)]) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(max_age));
    let mut record = Record::new(cookie);
    for (name, value) in fields {
        record.fields.set(name, json(value));
    }
    record
}

const HOUR: Duration = Duration::from_secs(3600);

/// Stores `record` as a new session `id`.
pub(crate) async fn create<S: SessionStore>(store: &S, id: &str, record: &Record) {
    let outcome = store.save(id, SaveRequest::Create(record)).await;
    assert_eq!(outcome.unwrap(), SaveOutcome::Saved, "create {id}");
}

/// Applies `changes` with `cookie` to session `id`.
pub(crate) async fn update<S: SessionStore>(
    store: &S,
    id: &str,
    cookie: &SessionCookie,
    changes: &ChangeSet,
) -> SaveOutcome {
    let request = SaveRequest::Update { cookie, changes };
    store.save(id, request).await.expect("update")
}

/// The stored JSON of session `id`, `None` if it is not loaded.
pub(crate) async fn stored_json<S: SessionStore>(store: &S, id: &str) -> Option<String> {
    store.load(id).await.expect("load").map(|r| r.to_json())
}

/// The time until `cookie` expires, plus a little.
fn after_expiry(cookie: &SessionCookie) -> Duration {
    let left = cookie.expires().expect("an expiring cookie") - OffsetDateTime::now_utc();
    left.try_into().unwrap_or(Duration::ZERO) + Duration::from_millis(30)
}

pub(crate) async fn create_then_load_returns_the_same_record<S: SessionStore>(store: &S) {
    let id = unique_id();
    let record = record(
        HOUR,
        &[("user", r#""bob""#), ("cart", r#"{"items":[1,2]}"#)],
    );
    create(store, &id, &record).await;
    assert_eq!(stored_json(store, &id).await, Some(record.to_json()));
}

pub(crate) async fn create_on_a_taken_id_conflicts_and_keeps_the_original<S: SessionStore>(
    store: &S,
) {
    let id = unique_id();
    let original = record(HOUR, &[("user", r#""bob""#)]);
    create(store, &id, &original).await;
    let other = record(2 * HOUR, &[("user", r#""mallory""#)]);
    let outcome = store.save(&id, SaveRequest::Create(&other)).await.unwrap();
    assert_eq!(outcome, SaveOutcome::Conflict);
    assert_eq!(stored_json(store, &id).await, Some(original.to_json()));
}

pub(crate) async fn updates_apply_their_changes_on_top_of_what_is_stored_now<S: SessionStore>(
    store: &S,
) {
    let id = unique_id();
    let stored = record(HOUR, &[("views", "1"), ("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    // Two requests that loaded the same record change different fields.
    let mut first = ChangeSet::new();
    first.set("views", json("2"));
    let mut second = ChangeSet::new();
    second.set("theme", json(r#""dark""#));
    assert_eq!(
        update(store, &id, &stored.cookie, &first).await,
        SaveOutcome::Saved
    );
    assert_eq!(
        update(store, &id, &stored.cookie, &second).await,
        SaveOutcome::Saved
    );
    let mut want = stored.clone();
    want.fields.set("views", json("2"));
    want.fields.set("theme", json(r#""dark""#));
    assert_eq!(stored_json(store, &id).await, Some(want.to_json()));
}

pub(crate) async fn update_removes_a_field<S: SessionStore>(store: &S) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#), ("flash", r#""saved""#)]);
    create(store, &id, &stored).await;
    let mut changes = ChangeSet::new();
    changes.remove("flash");
    assert_eq!(
        update(store, &id, &stored.cookie, &changes).await,
        SaveOutcome::Saved
    );
    let want = record(HOUR, &[("user", r#""bob""#)]);
    let got = store.load(&id).await.unwrap().expect("still stored");
    assert_eq!(got.fields, want.fields);
}

pub(crate) async fn update_replaces_the_cookie<S: SessionStore>(store: &S) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    let remember_me = record(30 * 24 * HOUR, &[]).cookie;
    let outcome = update(store, &id, &remember_me, &ChangeSet::new()).await;
    assert_eq!(outcome, SaveOutcome::Saved);
    let got = store.load(&id).await.unwrap().expect("still stored");
    assert_eq!(got.cookie, remember_me);
    assert_eq!(got.fields, stored.fields);
}

pub(crate) async fn update_of_a_destroyed_session_is_gone_and_does_not_recreate_it<
    S: SessionStore,
>(
    store: &S,
) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    store.destroy(&id).await.unwrap();
    let mut changes = ChangeSet::new();
    changes.set("views", json("2"));
    assert_eq!(
        update(store, &id, &stored.cookie, &changes).await,
        SaveOutcome::Gone
    );
    assert_eq!(stored_json(store, &id).await, None);
}

pub(crate) async fn update_of_a_never_created_session_is_gone<S: SessionStore>(store: &S) {
    let id = unique_id();
    let mut changes = ChangeSet::new();
    changes.set("views", json("1"));
    let cookie = record(HOUR, &[]).cookie;
    assert_eq!(
        update(store, &id, &cookie, &changes).await,
        SaveOutcome::Gone
    );
    assert_eq!(stored_json(store, &id).await, None);
}

pub(crate) async fn destroy_removes_the_session<S: SessionStore>(store: &S) {
    let (id, kept) = (unique_id(), unique_id());
    create(store, &id, &record(HOUR, &[("user", r#""bob""#)])).await;
    create(store, &kept, &record(HOUR, &[("user", r#""alice""#)])).await;
    store.destroy(&id).await.unwrap();
    assert_eq!(stored_json(store, &id).await, None);
    assert!(
        stored_json(store, &kept).await.is_some(),
        "another session survives"
    );
}

pub(crate) async fn destroy_of_an_absent_id_is_ok<S: SessionStore>(store: &S) {
    let id = unique_id();
    store.destroy(&id).await.unwrap();
    store.destroy(&id).await.unwrap();
    assert_eq!(stored_json(store, &id).await, None);
}

pub(crate) async fn touch_renews_the_expiry_without_touching_fields<S: SessionStore>(store: &S) {
    let id = unique_id();
    let stored = record(Duration::from_millis(400), &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    sleep(Duration::from_millis(250)).await;
    let touched = store.touch(&id, None).await.unwrap().expect("still stored");
    let (before, after) = (stored.cookie.expires().unwrap(), touched.expires().unwrap());
    assert!(
        after - before >= time::Duration::milliseconds(200),
        "{before} -> {after}"
    );
    assert_eq!(touched.original_max_age_ms(), Some(400));
    // Past the first expiry, within the renewed one.
    sleep(Duration::from_millis(250)).await;
    let got = store
        .load(&id)
        .await
        .unwrap()
        .expect("the touch renewed the expiry");
    assert_eq!(got.cookie, touched);
    assert_eq!(got.fields, stored.fields);
}

pub(crate) async fn load_touched_answers_the_record_and_renews_its_expiry<S: SessionStore>(
    store: &S,
) {
    let id = unique_id();
    let stored = record(Duration::from_millis(400), &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    sleep(Duration::from_millis(250)).await;
    let got = store
        .load_touched(&id)
        .await
        .unwrap()
        .expect("still stored");
    assert_eq!(
        got.cookie, stored.cookie,
        "the record as it was before the renewal"
    );
    assert_eq!(got.fields, stored.fields);
    // Past the first expiry, within the renewed one.
    sleep(Duration::from_millis(250)).await;
    let renewed = store
        .load(&id)
        .await
        .unwrap()
        .expect("loading renewed the expiry");
    assert!(
        renewed.cookie.expires().unwrap() - stored.cookie.expires().unwrap()
            >= time::Duration::milliseconds(200),
        "{:?} -> {:?}",
        stored.cookie.expires(),
        renewed.cookie.expires()
    );
    assert_eq!(renewed.fields, stored.fields);
}

pub(crate) async fn load_touched_of_an_absent_session_answers_none<S: SessionStore>(store: &S) {
    let id = unique_id();
    assert!(store.load_touched(&id).await.unwrap().is_none());
    assert!(store.load(&id).await.unwrap().is_none(), "nothing created");
}

pub(crate) async fn touch_with_a_cookie_stores_that_cookie<S: SessionStore>(store: &S) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    let cookie = record(2 * HOUR, &[]).cookie;
    let touched = store.touch(&id, Some(&cookie)).await.unwrap();
    assert_eq!(touched.as_ref(), Some(&cookie));
    let got = store.load(&id).await.unwrap().expect("still stored");
    assert_eq!(got.cookie, cookie);
    assert_eq!(got.fields, stored.fields);
}

pub(crate) async fn touch_of_an_absent_session_answers_none_and_creates_nothing<S: SessionStore>(
    store: &S,
) {
    let id = unique_id();
    assert_eq!(store.touch(&id, None).await.unwrap(), None);
    let cookie = record(HOUR, &[]).cookie;
    assert_eq!(store.touch(&id, Some(&cookie)).await.unwrap(), None);
    assert_eq!(stored_json(store, &id).await, None);
}

pub(crate) async fn session_whose_expiry_is_past_is_not_loaded<S: SessionStore>(store: &S) {
    let id = unique_id();
    let mut past = record(HOUR, &[("user", r#""bob""#)]);
    past.cookie
        .set_expires(Some(OffsetDateTime::now_utc() - Duration::from_secs(60)));
    let outcome = store.save(&id, SaveRequest::Create(&past)).await.unwrap();
    assert_eq!(outcome, SaveOutcome::Saved);
    assert_eq!(stored_json(store, &id).await, None);
}

pub(crate) async fn session_is_not_loaded_after_its_max_age<S: SessionStore>(store: &S) {
    let id = unique_id();
    let short = record(Duration::from_millis(200), &[("user", r#""bob""#)]);
    create(store, &id, &short).await;
    assert_eq!(stored_json(store, &id).await, Some(short.to_json()));
    sleep(after_expiry(&short.cookie)).await;
    assert_eq!(stored_json(store, &id).await, None);
    assert_eq!(
        store.touch(&id, None).await.unwrap(),
        None,
        "a touch does not revive it"
    );
}

pub(crate) async fn update_with_a_past_expiry_ends_the_session<S: SessionStore>(store: &S) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    let mut expired = stored.cookie.clone();
    expired.set_expires(Some(OffsetDateTime::now_utc() - Duration::from_secs(1)));
    update(store, &id, &expired, &ChangeSet::new()).await;
    assert_eq!(stored_json(store, &id).await, None);
}

/// Needs a store of its own.
pub(crate) async fn len_and_ids_count_the_stored_sessions<S: SessionStore>(store: &S) {
    assert_eq!(store.len().await.unwrap(), 0);
    assert!(store.is_empty().await.unwrap());
    let ids: BTreeSet<String> = (0..3).map(|_| unique_id()).collect();
    for id in &ids {
        create(store, id, &record(HOUR, &[])).await;
    }
    assert_eq!(store.len().await.unwrap(), 3);
    let listed: BTreeSet<String> = store.ids().await.unwrap().into_iter().collect();
    assert_eq!(listed, ids);
    let first = ids.first().unwrap();
    store.destroy(first).await.unwrap();
    assert_eq!(store.len().await.unwrap(), 2);
    assert!(!store.ids().await.unwrap().contains(first));
}

/// Needs a store of its own.
pub(crate) async fn clear_removes_every_session<S: SessionStore>(store: &S) {
    let ids: Vec<String> = (0..3).map(|_| unique_id()).collect();
    for id in &ids {
        create(store, id, &record(HOUR, &[("user", r#""bob""#)])).await;
    }
    store.clear().await.unwrap();
    for id in &ids {
        assert_eq!(stored_json(store, id).await, None);
    }
    assert_eq!(store.len().await.unwrap(), 0);
    assert!(store.ids().await.unwrap().is_empty());
    // A cleared store keeps working.
    create(store, &ids[0], &record(HOUR, &[])).await;
    assert_eq!(store.len().await.unwrap(), 1);
}

/// The documented default of every store's `max_record_bytes`: 1 MiB of JSON.
pub(crate) const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// A JSON string value that makes `record`'s JSON exactly `len` bytes once stored as a new
/// field `pad`.
fn padding_to(record: &Record, len: usize) -> String {
    let frame = record.to_json().len() + r#","pad":"""#.len();
    format!(r#""{}""#, "x".repeat(len - frame))
}

/// A JSON array of more than two megabytes: a cart that express apps end up storing.
fn two_megabyte_cart() -> String {
    format!("[{}]", vec![r#""an item of the cart""#; 100_000].join(","))
}

/// Asserts that `result` is a `TooLarge` refusal naming `size` and the default limit, and not
/// the session's id.
#[track_caller]
pub(crate) fn assert_too_large<T: std::fmt::Debug>(
    result: Result<T, actix_typed_session::store::StoreError>,
    size: usize,
    id: &str,
) {
    let error = result.expect_err("a save over the size limit");
    assert_eq!(
        error.kind(),
        actix_typed_session::store::StoreErrorKind::TooLarge,
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("{size} bytes"))
            && message.contains(&format!("limit of {MAX_RECORD_BYTES} bytes")),
        "{message}"
    );
    assert!(!message.contains(id), "the message shows the session id");
}

pub(crate) async fn a_record_up_to_the_size_limit_is_stored_and_one_byte_more_is_refused<
    S: SessionStore,
>(
    store: &S,
) {
    let id = unique_id();
    let base = record(HOUR, &[("user", r#""bob""#)]);
    let mut at_limit = base.clone();
    at_limit
        .fields
        .set("pad", json(&padding_to(&base, MAX_RECORD_BYTES)));
    assert_eq!(at_limit.to_json().len(), MAX_RECORD_BYTES);
    create(store, &id, &at_limit).await;
    let stored = stored_json(store, &id).await.expect("stored");
    assert_eq!(stored.len(), MAX_RECORD_BYTES);

    // One more byte through a change set, after a load (the usual request), then again.
    let mut changes = ChangeSet::new();
    changes.set("user", json(r#""bobo""#));
    let loaded = store.load(&id).await.unwrap().unwrap();
    for _ in 0..2 {
        let request = SaveRequest::Update {
            cookie: &loaded.cookie,
            changes: &changes,
        };
        assert_too_large(store.save(&id, request).await, MAX_RECORD_BYTES + 1, &id);
    }
    assert_eq!(stored_json(store, &id).await, Some(stored));

    // One more byte in a new session.
    let other = unique_id();
    let mut over = base.clone();
    over.fields
        .set("pad", json(&padding_to(&base, MAX_RECORD_BYTES + 1)));
    assert_too_large(
        store.save(&other, SaveRequest::Create(&over)).await,
        MAX_RECORD_BYTES + 1,
        &other,
    );
    assert_eq!(stored_json(store, &other).await, None);
}

pub(crate) async fn a_create_over_the_size_limit_is_refused_and_writes_nothing<S: SessionStore>(
    store: &S,
) {
    let id = unique_id();
    let big = record(HOUR, &[("cart", &two_megabyte_cart())]);
    let size = big.to_json().len();
    assert!(size > 2_000_000, "{size}");
    assert_too_large(store.save(&id, SaveRequest::Create(&big)).await, size, &id);
    assert_eq!(stored_json(store, &id).await, None);
    // The id is still free.
    create(store, &id, &record(HOUR, &[])).await;
}

pub(crate) async fn an_update_over_the_size_limit_is_refused_and_keeps_the_previous_data<
    S: SessionStore,
>(
    store: &S,
) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#), ("cart", "[1]")]);
    create(store, &id, &stored).await;
    let mut changes = ChangeSet::new();
    changes.set("cart", json(&two_megabyte_cart()));
    changes.set("user", json(r#""alice""#));
    let mut renewed = stored.cookie.clone();
    renewed.set_max_age(Some(2 * HOUR));
    let mut after = stored.clone();
    after.cookie = renewed.clone();
    after.fields.apply(&changes);
    let size = after.to_json().len();

    // Without a load first, then after one (the usual request).
    let request = SaveRequest::Update {
        cookie: &renewed,
        changes: &changes,
    };
    assert_too_large(store.save(&id, request).await, size, &id);
    let before = store.load(&id).await.unwrap().expect("still stored");
    assert_eq!(before.fields, stored.fields);
    let request = SaveRequest::Update {
        cookie: &renewed,
        changes: &changes,
    };
    assert_too_large(store.save(&id, request).await, size, &id);
    assert_eq!(stored_json(store, &id).await, Some(stored.to_json()));

    // A change set that fits is still saved.
    let mut small = ChangeSet::new();
    small.set("user", json(r#""alice""#));
    assert_eq!(
        update(store, &id, &renewed, &small).await,
        SaveOutcome::Saved
    );
}

/// The session ends a store reported, collected by its callback.
#[derive(Default)]
pub(crate) struct EndLog {
    ends: std::sync::Mutex<Vec<(actix_typed_session::store::SessionEnd, OffsetDateTime)>>,
}

impl EndLog {
    /// A new log, shared with the callback that fills it.
    pub(crate) fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::default()
    }

    /// The callback to register with `on_session_end`.
    pub(crate) fn callback(
        self: &std::sync::Arc<Self>,
    ) -> impl Fn(actix_typed_session::store::SessionEnd) + Send + Sync + 'static {
        let log = std::sync::Arc::clone(self);
        move |end| {
            let at = OffsetDateTime::now_utc();
            log.ends.lock().unwrap().push((end, at));
        }
    }

    /// Every end reported so far.
    pub(crate) fn ends(&self) -> Vec<actix_typed_session::store::SessionEnd> {
        self.timed().into_iter().map(|(end, _)| end).collect()
    }

    /// Every end reported so far, with the time it was reported at.
    pub(crate) fn timed(&self) -> Vec<(actix_typed_session::store::SessionEnd, OffsetDateTime)> {
        self.ends.lock().unwrap().clone()
    }

    /// How many ends were reported so far.
    pub(crate) fn len(&self) -> usize {
        self.ends.lock().unwrap().len()
    }

    /// The ends of session `id` reported so far.
    pub(crate) fn of(&self, id: &str) -> Vec<actix_typed_session::store::SessionEnd> {
        self.ends()
            .into_iter()
            .filter(|end| end.id() == id)
            .collect()
    }

    /// Waits (at most `within`) until `n` ends of session `id` are reported, then a little more
    /// for any duplicate; answers them.
    pub(crate) async fn wait_for(
        &self,
        id: &str,
        n: usize,
        within: Duration,
    ) -> Vec<actix_typed_session::store::SessionEnd> {
        let deadline = std::time::Instant::now() + within;
        while self.of(id).len() < n && std::time::Instant::now() < deadline {
            sleep(Duration::from_millis(5)).await;
        }
        sleep(Duration::from_millis(100)).await;
        self.of(id)
    }
}

/// One `#[actix_web::test]` per session end behaviour, each on a store and its [`EndLog`] made by
/// `$make` (an expression callable with no argument answering `(store, Arc<EndLog>)`).
#[allow(unused_macros)]
macro_rules! session_end_acceptance_tests {
    ($make:expr) => {
        $crate::support::acceptance::session_end_acceptance_tests!(
            @each $make;
            destroy_reports_destroyed_once_with_the_last_data,
            end_with_regenerated_reports_regenerated_once,
            an_expiring_session_reports_expired_once_with_its_last_data,
            clear_reports_each_session_as_cleared_once,
        );
    };
    (@each_async $make:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[actix_web::test]
            async fn $behaviour() {
                let store = ($make)().await;
                $crate::support::acceptance::$behaviour(&store).await;
            }
        )*
    };
    (@each $make:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[actix_web::test]
            async fn $behaviour() {
                let (store, log) = ($make)();
                $crate::support::acceptance::$behaviour(&store, &log).await;
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use session_end_acceptance_tests;

#[track_caller]
fn assert_one_end(
    ends: &[actix_typed_session::store::SessionEnd],
    reason: actix_typed_session::store::EndReason,
    user: &str,
) {
    assert_eq!(ends.len(), 1, "reported once: {ends:?}");
    assert_eq!(ends[0].reason(), reason);
    assert_eq!(
        ends[0].record().fields.get("user").map(|v| v.get()),
        Some(user),
        "the last stored data"
    );
}

pub(crate) async fn destroy_reports_destroyed_once_with_the_last_data<S: SessionStore>(
    store: &S,
    log: &EndLog,
) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    let mut changes = ChangeSet::new();
    changes.set("user", json(r#""alice""#));
    update(store, &id, &stored.cookie, &changes).await;
    store.destroy(&id).await.unwrap();
    store.destroy(&id).await.unwrap();
    let ends = log.wait_for(&id, 1, Duration::from_secs(2)).await;
    assert_one_end(
        &ends,
        actix_typed_session::store::EndReason::Destroyed,
        r#""alice""#,
    );
    let never = unique_id();
    store.destroy(&never).await.unwrap();
    assert!(
        log.of(&never).is_empty(),
        "nothing stored, nothing reported"
    );
}

pub(crate) async fn end_with_regenerated_reports_regenerated_once<S: SessionStore>(
    store: &S,
    log: &EndLog,
) {
    let id = unique_id();
    create(store, &id, &record(HOUR, &[("user", r#""bob""#)])).await;
    store
        .end(&id, actix_typed_session::store::EndReason::Regenerated)
        .await
        .unwrap();
    store
        .end(&id, actix_typed_session::store::EndReason::Destroyed)
        .await
        .unwrap();
    let ends = log.wait_for(&id, 1, Duration::from_secs(2)).await;
    assert_one_end(
        &ends,
        actix_typed_session::store::EndReason::Regenerated,
        r#""bob""#,
    );
}

pub(crate) async fn an_expiring_session_reports_expired_once_with_its_last_data<S: SessionStore>(
    store: &S,
    log: &EndLog,
) {
    let id = unique_id();
    let stored = record(Duration::from_millis(300), &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    let mut changes = ChangeSet::new();
    changes.set("user", json(r#""carol""#));
    update(store, &id, &stored.cookie, &changes).await;
    let ends = log.wait_for(&id, 1, Duration::from_secs(3)).await;
    assert_one_end(
        &ends,
        actix_typed_session::store::EndReason::Expired,
        r#""carol""#,
    );
    assert!(
        OffsetDateTime::now_utc() >= stored.cookie.expires().unwrap(),
        "not before its expiry"
    );
    assert_eq!(stored_json(store, &id).await, None);
}

/// Needs a store of its own.
pub(crate) async fn clear_reports_each_session_as_cleared_once<S: SessionStore>(
    store: &S,
    log: &EndLog,
) {
    let ids: BTreeSet<String> = (0..5).map(|_| unique_id()).collect();
    for id in &ids {
        create(store, id, &record(HOUR, &[("user", r#""bob""#)])).await;
    }
    store.clear().await.unwrap();
    store.clear().await.unwrap();
    for id in &ids {
        let ends = log.wait_for(id, 1, Duration::from_secs(2)).await;
        assert_one_end(
            &ends,
            actix_typed_session::store::EndReason::Cleared,
            r#""bob""#,
        );
    }
}
