//! The store suite: the behaviours every session store has, one public function each.
//!
//! [`store_acceptance_tests!`](crate::testing::store_acceptance_tests) runs them all.

use std::{collections::BTreeSet, time::Duration};

use actix_web::rt::time::sleep;
use time::OffsetDateTime;

use super::{
    after_expiry, create, json, record, stored_json, unique_id, update, HOUR, MAX_RECORD_BYTES,
};
use crate::{
    store::{LocalSessionStore, SaveOutcome, SaveRequest},
    ChangeSet, Record,
};

/// See [`store_acceptance_tests`](crate::testing::store_acceptance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __store_acceptance_tests {
    // A store made by an `async` function, awaited in each test (e.g. one that connects first).
    (async $make:expr) => {
        $crate::testing::store_acceptance_tests!(@names @each_async $make);
    };
    ($make:expr) => {
        $crate::testing::store_acceptance_tests!(@names @each $make);
    };
    (@names @$each:ident $make:expr) => {
        $crate::testing::store_acceptance_tests!(
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
            load_touched_answers_the_record_and_renews_its_expiry,
            load_touched_of_an_absent_session_answers_none,
            touch_with_a_cookie_stores_that_cookie,
            touch_of_an_absent_session_answers_none_and_creates_nothing,
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
            #[::core::prelude::v1::test]
            fn $behaviour() {
                $crate::testing::run(async {
                    let store = ($make)().await;
                    $crate::testing::store::$behaviour(&store).await;
                });
            }
        )*
    };
    (@each $make:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[::core::prelude::v1::test]
            fn $behaviour() {
                $crate::testing::run(async {
                    let store = ($make)();
                    $crate::testing::store::$behaviour(&store).await;
                });
            }
        )*
    };
}

/// A created session loads as the same record, cookie and fields.
pub async fn create_then_load_returns_the_same_record<S: LocalSessionStore>(store: &S) {
    let id = unique_id();
    let record = record(
        HOUR,
        &[("user", r#""bob""#), ("cart", r#"{"items":[1,2]}"#)],
    );
    create(store, &id, &record).await;
    assert_eq!(stored_json(store, &id).await, Some(record.to_json()));
}

/// A create on a stored id answers [`SaveOutcome::Conflict`] and leaves the stored session as it was.
pub async fn create_on_a_taken_id_conflicts_and_keeps_the_original<S: LocalSessionStore>(
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

/// Two updates that change different fields both land: each applies its change set on top of what is stored now.
pub async fn updates_apply_their_changes_on_top_of_what_is_stored_now<S: LocalSessionStore>(
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

/// An update that removes a field removes it and keeps the others.
pub async fn update_removes_a_field<S: LocalSessionStore>(store: &S) {
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

/// An update stores its cookie in place of the stored one and keeps the fields.
pub async fn update_replaces_the_cookie<S: LocalSessionStore>(store: &S) {
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

/// An update of a destroyed session answers [`SaveOutcome::Gone`] and does not recreate it.
pub async fn update_of_a_destroyed_session_is_gone_and_does_not_recreate_it<
    S: LocalSessionStore,
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

/// An update of an id never stored answers [`SaveOutcome::Gone`] and creates nothing.
pub async fn update_of_a_never_created_session_is_gone<S: LocalSessionStore>(store: &S) {
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

/// Destroy removes that session and no other.
pub async fn destroy_removes_the_session<S: LocalSessionStore>(store: &S) {
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

/// Destroying an id that is not stored succeeds, twice.
pub async fn destroy_of_an_absent_id_is_ok<S: LocalSessionStore>(store: &S) {
    let id = unique_id();
    store.destroy(&id).await.unwrap();
    store.destroy(&id).await.unwrap();
    assert_eq!(stored_json(store, &id).await, None);
}

/// A touch without a cookie renews the expiry (`now + originalMaxAge`) and keeps the fields: the session outlives its first expiry.
pub async fn touch_renews_the_expiry_without_touching_fields<S: LocalSessionStore>(store: &S) {
    let id = unique_id();
    // Lifetimes long enough that a loaded machine's oversleeping (up to 0.8 s) cannot end the
    // session before the touch, nor the renewed one before the load.
    let stored = record(Duration::from_millis(2000), &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    sleep(Duration::from_millis(1200)).await;
    let touched = store.touch(&id, None).await.unwrap().expect("still stored");
    let (before, after) = (stored.cookie.expires().unwrap(), touched.expires().unwrap());
    assert!(
        after - before >= time::Duration::milliseconds(1000),
        "{before} -> {after}"
    );
    assert_eq!(touched.original_max_age_ms(), Some(2000));
    // Past the first expiry, within the renewed one.
    sleep(Duration::from_millis(1200)).await;
    let got = store
        .load(&id)
        .await
        .unwrap()
        .expect("the touch renewed the expiry");
    assert_eq!(got.cookie, touched);
    assert_eq!(got.fields, stored.fields);
}

/// `load_touched` answers the record as it was before the renewal and renews its expiry.
pub async fn load_touched_answers_the_record_and_renews_its_expiry<S: LocalSessionStore>(
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

/// `load_touched` of an id not stored answers `None` and creates nothing.
pub async fn load_touched_of_an_absent_session_answers_none<S: LocalSessionStore>(store: &S) {
    let id = unique_id();
    assert!(store.load_touched(&id).await.unwrap().is_none());
    assert!(store.load(&id).await.unwrap().is_none(), "nothing created");
}

/// A touch with a cookie stores that cookie and keeps the fields.
pub async fn touch_with_a_cookie_stores_that_cookie<S: LocalSessionStore>(store: &S) {
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

/// A touch of an id not stored, with or without a cookie, answers `None` and creates nothing.
pub async fn touch_of_an_absent_session_answers_none_and_creates_nothing<S: LocalSessionStore>(
    store: &S,
) {
    let id = unique_id();
    assert_eq!(store.touch(&id, None).await.unwrap(), None);
    let cookie = record(HOUR, &[]).cookie;
    assert_eq!(store.touch(&id, Some(&cookie)).await.unwrap(), None);
    assert_eq!(stored_json(store, &id).await, None);
}

/// A session created with an expiry in the past is not loaded.
pub async fn session_whose_expiry_is_past_is_not_loaded<S: LocalSessionStore>(store: &S) {
    let id = unique_id();
    let mut past = record(HOUR, &[("user", r#""bob""#)]);
    past.cookie
        .set_expires(Some(OffsetDateTime::now_utc() - Duration::from_secs(60)));
    let outcome = store.save(&id, SaveRequest::Create(&past)).await.unwrap();
    assert_eq!(outcome, SaveOutcome::Saved);
    assert_eq!(stored_json(store, &id).await, None);
}

/// A session is not loaded once its max age has passed, and a touch does not revive it.
pub async fn session_is_not_loaded_after_its_max_age<S: LocalSessionStore>(store: &S) {
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

/// An update whose cookie expired ends the session.
pub async fn update_with_a_past_expiry_ends_the_session<S: LocalSessionStore>(store: &S) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#)]);
    create(store, &id, &stored).await;
    let mut expired = stored.cookie.clone();
    expired.set_expires(Some(OffsetDateTime::now_utc() - Duration::from_secs(1)));
    update(store, &id, &expired, &ChangeSet::new()).await;
    assert_eq!(stored_json(store, &id).await, None);
}

/// `len`, `is_empty` and `ids` count and list the stored sessions. Needs a store of its own.
pub async fn len_and_ids_count_the_stored_sessions<S: LocalSessionStore>(store: &S) {
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

/// `clear` removes every session, and the store keeps working. Needs a store of its own.
pub async fn clear_removes_every_session<S: LocalSessionStore>(store: &S) {
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

/// A record of exactly [`MAX_RECORD_BYTES`] is stored; one byte more, by an update or a create, is refused with [`StoreError::too_large`](crate::store::StoreError::too_large) and writes nothing.
pub async fn a_record_up_to_the_size_limit_is_stored_and_one_byte_more_is_refused<
    S: LocalSessionStore,
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
        super::assert_too_large(store.save(&id, request).await, MAX_RECORD_BYTES + 1, &id);
    }
    assert_eq!(stored_json(store, &id).await, Some(stored));

    // One more byte in a new session.
    let other = unique_id();
    let mut over = base.clone();
    over.fields
        .set("pad", json(&padding_to(&base, MAX_RECORD_BYTES + 1)));
    super::assert_too_large(
        store.save(&other, SaveRequest::Create(&over)).await,
        MAX_RECORD_BYTES + 1,
        &other,
    );
    assert_eq!(stored_json(store, &other).await, None);
}

/// A create of a 2 MB record is refused as too large and leaves the id free.
pub async fn a_create_over_the_size_limit_is_refused_and_writes_nothing<S: LocalSessionStore>(
    store: &S,
) {
    let id = unique_id();
    let big = record(HOUR, &[("cart", &two_megabyte_cart())]);
    let size = big.to_json().len();
    assert!(size > 2_000_000, "{size}");
    super::assert_too_large(store.save(&id, SaveRequest::Create(&big)).await, size, &id);
    assert_eq!(stored_json(store, &id).await, None);
    // The id is still free.
    create(store, &id, &record(HOUR, &[])).await;
}

/// An update that would make the record larger than the limit is refused and keeps the stored data; a smaller one is still saved.
pub async fn an_update_over_the_size_limit_is_refused_and_keeps_the_previous_data<
    S: LocalSessionStore,
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
    super::assert_too_large(store.save(&id, request).await, size, &id);
    let before = store.load(&id).await.unwrap().expect("still stored");
    assert_eq!(before.fields, stored.fields);
    let request = SaveRequest::Update {
        cookie: &renewed,
        changes: &changes,
    };
    super::assert_too_large(store.save(&id, request).await, size, &id);
    assert_eq!(stored_json(store, &id).await, Some(stored.to_json()));

    // A change set that fits is still saved.
    let mut small = ChangeSet::new();
    small.set("user", json(r#""alice""#));
    assert_eq!(
        update(store, &id, &renewed, &small).await,
        SaveOutcome::Saved
    );
}
