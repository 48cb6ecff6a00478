//! The index suite: what a store that indexes sessions by a field does, one public function per
//! behaviour, each on a store indexed by field `"user"` as an [`IndexSetup`] says.
//!
//! [`index_acceptance_tests!`](crate::testing::index_acceptance_tests) runs them all.

use std::{sync::Arc, time::Duration};

use actix_web::rt::time::sleep;
use time::OffsetDateTime;

use super::{after_expiry, create, json, record, stored_json, unique_id, update, EndLog, HOUR};
use crate::{
    store::{
        EndReason, IndexKey, LocalSessionStore, OverLimit, SaveOutcome, SaveRequest, SessionStart,
        StoreErrorKind,
    },
    ChangeSet,
};

/// See [`index_acceptance_tests`](crate::testing::index_acceptance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __index_acceptance_tests {
    (async $make:expr) => {
        $crate::testing::index_acceptance_tests!(@names @each_async $make);
    };
    ($make:expr) => {
        $crate::testing::index_acceptance_tests!(@names @each $make);
    };
    (@names @$each:ident $make:expr) => {
        $crate::testing::index_acceptance_tests!(
            @$each $make;
            a_created_session_is_listed_under_its_value,
            sessions_of_a_value_are_listed_oldest_first_with_their_records,
            an_update_moves_the_session_to_its_new_value,
            removing_the_field_or_setting_it_null_unlists_the_session,
            a_destroyed_or_regenerated_session_is_unlisted,
            an_expired_session_is_unlisted,
            a_value_stored_with_escapes_is_found_by_its_plain_key,
            end_sessions_by_ends_each_session_of_the_value_once_as_revoked,
            end_sessions_by_keeps_the_session_excepted,
            a_query_on_a_field_without_index_is_unsupported,
            over_the_limit_the_oldest_session_is_displaced,
            over_the_limit_a_refusing_index_refuses_and_writes_nothing,
            a_session_start_is_reported_once_per_created_session,
        );
    };
    (@each_async $make:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[::core::prelude::v1::test]
            fn $behaviour() {
                $crate::testing::run(async {
                    let setup = $crate::testing::index::IndexSetup::new(
                        $crate::testing::index::$behaviour::LIMIT,
                    );
                    let store = ($make)(&setup).await;
                    $crate::testing::index::$behaviour::run(&store, &setup).await;
                });
            }
        )*
    };
    (@each $make:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[::core::prelude::v1::test]
            fn $behaviour() {
                $crate::testing::run(async {
                    let setup = $crate::testing::index::IndexSetup::new(
                        $crate::testing::index::$behaviour::LIMIT,
                    );
                    let store = ($make)(&setup);
                    $crate::testing::index::$behaviour::run(&store, &setup).await;
                });
            }
        )*
    };
}

/// The field the suite's stores index.
pub const FIELD: &str = "user";

/// How to build a store for one behaviour of the suite: indexed by [`FIELD`] with `limit` (per
/// value, and what happens over it), reporting ends to `ends` and starts to `starts`.
pub struct IndexSetup {
    /// The limit of the index on [`FIELD`], if the behaviour needs one.
    pub limit: Option<(usize, OverLimit)>,
    /// Where the store reports session ends (`on_session_end(setup.ends.callback())`).
    pub ends: Arc<EndLog>,
    /// Where the store reports session starts (`on_session_start(setup.starts.callback())`).
    pub starts: Arc<StartLog>,
}

impl IndexSetup {
    /// A setup with `limit` and empty logs.
    pub fn new(limit: Option<(usize, OverLimit)>) -> Self {
        Self {
            limit,
            ends: EndLog::new(),
            starts: StartLog::new(),
        }
    }
}

/// The session starts a store reported, collected by the callback it was given.
#[derive(Default)]
pub struct StartLog {
    starts: std::sync::Mutex<Vec<SessionStart>>,
}

impl StartLog {
    /// A new log, shared with the callback that fills it.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The callback to register with `on_session_start`.
    pub fn callback(self: &Arc<Self>) -> impl Fn(SessionStart) + Send + Sync + 'static {
        let log = Arc::clone(self);
        move |start| log.starts.lock().unwrap().push(start)
    }

    /// The starts of session `id` reported so far.
    pub fn of(&self, id: &str) -> Vec<SessionStart> {
        let starts = self.starts.lock().unwrap();
        starts.iter().filter(|s| s.id() == id).cloned().collect()
    }
}

/// A fresh value of [`FIELD`], as raw JSON, and its key.
fn fresh_user() -> (String, IndexKey) {
    let name = format!("user-{}", unique_id());
    let key = IndexKey::new(FIELD, &name).unwrap();
    (format!("\"{name}\""), key)
}

/// The ids listed under `key`, in the store's order.
///
/// # Panics
///
/// If the store fails.
pub async fn listed<S: LocalSessionStore>(store: &S, key: &IndexKey) -> Vec<String> {
    let sessions = store.sessions_by(key).await.expect("sessions_by");
    let count = store.count_by(key).await.expect("count_by");
    assert_eq!(count, sessions.len(), "count_by agrees with sessions_by");
    sessions.into_iter().map(|s| s.id).collect()
}

async fn set_user<S: LocalSessionStore>(store: &S, id: &str, value: Option<&str>) -> SaveOutcome {
    let loaded = store.load(id).await.unwrap().expect("stored");
    let mut changes = ChangeSet::new();
    match value {
        Some(v) => changes.set(FIELD, json(v)),
        None => changes.remove(FIELD),
    }
    update(store, id, &loaded.cookie, &changes).await
}

macro_rules! behaviour {
    ($(#[$doc:meta])* $name:ident, $limit:expr, |$store:ident, $setup:ident| $body:block) => {
        $(#[$doc])*
        #[allow(non_snake_case)]
        pub mod $name {
            use super::*;

            /// The index limit this behaviour's store is built with.
            pub const LIMIT: Option<(usize, OverLimit)> = $limit;

            /// Runs the behaviour.
            pub async fn run<S: LocalSessionStore>($store: &S, $setup: &IndexSetup) {
                let _ = $setup;
                $body
            }
        }
    };
}

behaviour!(
    /// A created session with a value of the indexed field is listed under that value, and
    /// counted; another value lists nothing.
    a_created_session_is_listed_under_its_value,
    None,
    |store, setup| {
        let (user, key) = fresh_user();
        let id = unique_id();
        create(store, &id, &record(HOUR, &[(FIELD, &user), ("n", "1")])).await;
        assert_eq!(listed(store, &key).await, std::slice::from_ref(&id));
        let (_, other) = fresh_user();
        assert!(listed(store, &other).await.is_empty());
        let plain = unique_id();
        create(store, &plain, &record(HOUR, &[("n", "1")])).await;
        assert_eq!(listed(store, &key).await, [id]);
    }
);

behaviour!(
    /// The sessions of a value are listed in the order they got it, each with its stored record,
    /// the time it got the value, and its expiry.
    sessions_of_a_value_are_listed_oldest_first_with_their_records,
    None,
    |store, setup| {
        let (user, key) = fresh_user();
        let before = OffsetDateTime::now_utc() - Duration::from_secs(1);
        let mut ids = Vec::new();
        for n in 0..3 {
            let id = unique_id();
            let n = n.to_string();
            create(store, &id, &record(HOUR, &[(FIELD, &user), ("n", &n)])).await;
            ids.push(id);
            sleep(Duration::from_millis(5)).await;
        }
        let sessions = store.sessions_by(&key).await.unwrap();
        let listed: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
        let after = OffsetDateTime::now_utc() + Duration::from_secs(1);
        for (n, session) in sessions.iter().enumerate() {
            assert_eq!(
                session.record.fields.get("n").map(|v| v.get()),
                Some(n.to_string().as_str())
            );
            assert!(session.indexed_at > before && session.indexed_at < after);
            let expires = session.expires().expect("an expiry");
            assert!(expires > after && expires < after + HOUR);
            let renewed = session.last_renewal().expect("a last renewal");
            assert!(renewed > before && renewed < after);
        }
    }
);

behaviour!(
    /// An update that changes the indexed field moves the session from its old value to its new
    /// one; an update of other fields keeps it where it is.
    an_update_moves_the_session_to_its_new_value,
    None,
    |store, setup| {
        let (alice, alice_key) = fresh_user();
        let (bob, bob_key) = fresh_user();
        let id = unique_id();
        create(store, &id, &record(HOUR, &[(FIELD, &alice)])).await;
        let loaded = store.load(&id).await.unwrap().unwrap();
        let mut other = ChangeSet::new();
        other.set("n", json("2"));
        update(store, &id, &loaded.cookie, &other).await;
        assert_eq!(listed(store, &alice_key).await, std::slice::from_ref(&id));
        assert_eq!(set_user(store, &id, Some(&bob)).await, SaveOutcome::Saved);
        assert!(listed(store, &alice_key).await.is_empty());
        assert_eq!(listed(store, &bob_key).await, [id]);
    }
);

behaviour!(
    /// A session whose indexed field is removed, or set to `null`, is no longer listed; one
    /// created without it is listed once it is set.
    removing_the_field_or_setting_it_null_unlists_the_session,
    None,
    |store, setup| {
        let (user, key) = fresh_user();
        let (a, b) = (unique_id(), unique_id());
        create(store, &a, &record(HOUR, &[(FIELD, &user)])).await;
        create(store, &b, &record(HOUR, &[("n", "1")])).await;
        assert_eq!(set_user(store, &b, Some(&user)).await, SaveOutcome::Saved);
        let mut both = listed(store, &key).await;
        both.sort();
        let mut expected = vec![a.clone(), b.clone()];
        expected.sort();
        assert_eq!(both, expected);
        set_user(store, &a, None).await;
        set_user(store, &b, Some("null")).await;
        assert!(listed(store, &key).await.is_empty());
        assert!(stored_json(store, &a).await.is_some(), "the sessions stay");
    }
);

behaviour!(
    /// Destroying a session, or ending it as regenerated and storing its data under a new id
    /// (`cycle_id`), lists the new id in place of the old.
    a_destroyed_or_regenerated_session_is_unlisted,
    None,
    |store, setup| {
        let (user, key) = fresh_user();
        let (a, b) = (unique_id(), unique_id());
        let stored = record(HOUR, &[(FIELD, &user)]);
        create(store, &a, &stored).await;
        create(store, &b, &stored).await;
        store.destroy(&a).await.unwrap();
        assert_eq!(listed(store, &key).await, std::slice::from_ref(&b));
        let moved = unique_id();
        store.end(&b, EndReason::Regenerated).await.unwrap();
        create(store, &moved, &stored).await;
        assert_eq!(listed(store, &key).await, [moved]);
    }
);

behaviour!(
    /// A session is no longer listed once it has expired.
    an_expired_session_is_unlisted,
    None,
    |store, setup| {
        let (user, key) = fresh_user();
        let (short, long) = (unique_id(), unique_id());
        let brief = record(Duration::from_millis(200), &[(FIELD, &user)]);
        create(store, &short, &brief).await;
        create(store, &long, &record(HOUR, &[(FIELD, &user)])).await;
        assert_eq!(listed(store, &key).await.len(), 2);
        sleep(after_expiry(&brief.cookie)).await;
        assert_eq!(listed(store, &key).await, [long]);
    }
);

behaviour!(
    /// A value that another program stored with escapes or spaces is found by the key of its
    /// plain value.
    a_value_stored_with_escapes_is_found_by_its_plain_key,
    None,
    |store, setup| {
        let name = format!("user-{}", unique_id());
        let key = IndexKey::new(FIELD, &name).unwrap();
        let escaped = format!(" \"\\u0075{}\" ", &name[1..]);
        let id = unique_id();
        create(store, &id, &record(HOUR, &[(FIELD, &escaped)])).await;
        assert_eq!(listed(store, &key).await, [id]);
    }
);

behaviour!(
    /// `end_sessions_by` ends every session of the value, each reported once as revoked with
    /// its last data, answers how many, and leaves other values' sessions alone.
    end_sessions_by_ends_each_session_of_the_value_once_as_revoked,
    None,
    |store, setup| {
        let (user, key) = fresh_user();
        let (other_user, other_key) = fresh_user();
        let ids: Vec<String> = (0..3).map(|_| unique_id()).collect();
        for id in &ids {
            create(store, id, &record(HOUR, &[(FIELD, &user)])).await;
        }
        let other = unique_id();
        create(store, &other, &record(HOUR, &[(FIELD, &other_user)])).await;
        assert_eq!(store.end_sessions_by(&key, None).await.unwrap(), 3);
        assert!(listed(store, &key).await.is_empty());
        for id in &ids {
            assert_eq!(stored_json(store, id).await, None, "ended");
            let ends = setup.ends.wait_for(id, 1, Duration::from_secs(2)).await;
            assert_eq!(ends.len(), 1, "reported once");
            assert_eq!(ends[0].reason(), EndReason::Revoked);
            assert_eq!(
                ends[0].record().fields.get(FIELD).map(|v| v.get()),
                Some(user.as_str())
            );
        }
        assert_eq!(listed(store, &other_key).await, std::slice::from_ref(&other));
        assert!(setup.ends.of(&other).is_empty());
        assert_eq!(store.end_sessions_by(&key, None).await.unwrap(), 0);
    }
);

behaviour!(
    /// `end_sessions_by` with an id to keep ends the others and keeps that one ("log out
    /// everywhere else").
    end_sessions_by_keeps_the_session_excepted,
    None,
    |store, setup| {
        let (user, key) = fresh_user();
        let (mine, theirs) = (unique_id(), unique_id());
        create(store, &mine, &record(HOUR, &[(FIELD, &user)])).await;
        create(store, &theirs, &record(HOUR, &[(FIELD, &user)])).await;
        assert_eq!(store.end_sessions_by(&key, Some(&mine)).await.unwrap(), 1);
        assert_eq!(listed(store, &key).await, std::slice::from_ref(&mine));
        assert!(stored_json(store, &mine).await.is_some());
        assert!(setup.ends.of(&mine).is_empty());
    }
);

behaviour!(
    /// A query on a field that the store does not index fails as unsupported.
    a_query_on_a_field_without_index_is_unsupported,
    None,
    |store, setup| {
        let key = IndexKey::new("not-indexed", "x").unwrap();
        let error = store.sessions_by(&key).await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Unsupported, "{error}");
        let error = store.end_sessions_by(&key, None).await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Unsupported, "{error}");
    }
);

behaviour!(
    /// With a limit of 2 and [`OverLimit::EndOldest`], a third session of a value (created, or
    /// updated to it) ends the one that got the value earliest, reported as displaced.
    over_the_limit_the_oldest_session_is_displaced,
    Some((2, OverLimit::EndOldest)),
    |store, setup| {
        let (user, key) = fresh_user();
        let ids: Vec<String> = (0..4).map(|_| unique_id()).collect();
        for id in &ids[..3] {
            create(store, id, &record(HOUR, &[(FIELD, &user)])).await;
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(listed(store, &key).await, [ids[1].clone(), ids[2].clone()]);
        let ends = setup.ends.wait_for(&ids[0], 1, Duration::from_secs(2)).await;
        assert_eq!(ends.len(), 1);
        assert_eq!(ends[0].reason(), EndReason::Displaced);
        assert_eq!(stored_json(store, &ids[0]).await, None);
        create(store, &ids[3], &record(HOUR, &[("n", "1")])).await;
        assert_eq!(set_user(store, &ids[3], Some(&user)).await, SaveOutcome::Saved);
        assert_eq!(listed(store, &key).await, [ids[2].clone(), ids[3].clone()]);
        let ends = setup.ends.wait_for(&ids[1], 1, Duration::from_secs(2)).await;
        assert_eq!(ends[0].reason(), EndReason::Displaced);
    }
);

behaviour!(
    /// With a limit of 1 and [`OverLimit::Refuse`], a second session of a value is refused, as a
    /// create or as an update, and nothing is written; once the first ends, it is accepted.
    over_the_limit_a_refusing_index_refuses_and_writes_nothing,
    Some((1, OverLimit::Refuse)),
    |store, setup| {
        let (user, key) = fresh_user();
        let (first, second, third) = (unique_id(), unique_id(), unique_id());
        let stored = record(HOUR, &[(FIELD, &user)]);
        create(store, &first, &stored).await;
        let outcome = store.save(&second, SaveRequest::Create(&stored)).await;
        assert_eq!(outcome.unwrap(), SaveOutcome::Refused);
        assert_eq!(stored_json(store, &second).await, None, "nothing written");
        create(store, &third, &record(HOUR, &[("n", "1")])).await;
        let before = stored_json(store, &third).await;
        assert_eq!(set_user(store, &third, Some(&user)).await, SaveOutcome::Refused);
        assert_eq!(stored_json(store, &third).await, before, "nothing written");
        assert_eq!(listed(store, &key).await, std::slice::from_ref(&first));
        assert!(setup.ends.of(&first).is_empty(), "nothing displaced");
        store.destroy(&first).await.unwrap();
        assert_eq!(set_user(store, &third, Some(&user)).await, SaveOutcome::Saved);
        assert_eq!(listed(store, &key).await, [third]);
    }
);

behaviour!(
    /// A session start is reported once for each create that stores a session, with its record;
    /// a refused create (taken id) and updates report none.
    a_session_start_is_reported_once_per_created_session,
    None,
    |store, setup| {
        let (user, _) = fresh_user();
        let id = unique_id();
        let stored = record(HOUR, &[(FIELD, &user)]);
        create(store, &id, &stored).await;
        let taken = store.save(&id, SaveRequest::Create(&stored)).await;
        assert_eq!(taken.unwrap(), SaveOutcome::Conflict);
        set_user(store, &id, Some("\"someone else\"")).await;
        sleep(Duration::from_millis(50)).await;
        let starts = setup.starts.of(&id);
        assert_eq!(starts.len(), 1, "reported once");
        assert_eq!(
            starts[0].record().fields.get(FIELD).map(|v| v.get()),
            Some(user.as_str())
        );
    }
);
