//! The session end suite: what a store that reports session ends reports, one public function
//! per behaviour, each reading the ends from an [`EndLog`].
//!
//! [`session_end_acceptance_tests!`](crate::testing::session_end_acceptance_tests) runs them all.

use std::{collections::BTreeSet, time::Duration};

use time::OffsetDateTime;

use super::{create, json, record, stored_json, unique_id, update, EndLog, HOUR};
use crate::{store::LocalSessionStore, ChangeSet};

/// See [`session_end_acceptance_tests`](crate::testing::session_end_acceptance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __session_end_acceptance_tests {
    ($make:expr) => {
        $crate::testing::session_end_acceptance_tests!(
            @each $make;
            destroy_reports_destroyed_once_with_the_last_data,
            end_with_regenerated_reports_regenerated_once,
            an_expiring_session_reports_expired_once_with_its_last_data,
            clear_reports_each_session_as_cleared_once,
        );
    };
    (@each $make:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[::core::prelude::v1::test]
            fn $behaviour() {
                $crate::testing::run(async {
                    let (store, log) = ($make)();
                    $crate::testing::end::$behaviour(&store, &log).await;
                });
            }
        )*
    };
}

#[track_caller]
fn assert_one_end(ends: &[crate::store::SessionEnd], reason: crate::store::EndReason, user: &str) {
    assert_eq!(ends.len(), 1, "reported once: {ends:?}");
    assert_eq!(ends[0].reason(), reason);
    assert_eq!(
        ends[0].record().fields.get("user").map(|v| v.get()),
        Some(user),
        "the last stored data"
    );
}

/// Destroy reports the session once as [`EndReason::Destroyed`](crate::store::EndReason::Destroyed), with its last stored data; destroying it again or destroying an id never stored reports nothing.
pub async fn destroy_reports_destroyed_once_with_the_last_data<S: LocalSessionStore>(
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
    assert_one_end(&ends, crate::store::EndReason::Destroyed, r#""alice""#);
    let never = unique_id();
    store.destroy(&never).await.unwrap();
    assert!(
        log.of(&never).is_empty(),
        "nothing stored, nothing reported"
    );
}

/// `end(id, Regenerated)` reports the session once as [`EndReason::Regenerated`](crate::store::EndReason::Regenerated); ending it again reports nothing.
pub async fn end_with_regenerated_reports_regenerated_once<S: LocalSessionStore>(
    store: &S,
    log: &EndLog,
) {
    let id = unique_id();
    create(store, &id, &record(HOUR, &[("user", r#""bob""#)])).await;
    store
        .end(&id, crate::store::EndReason::Regenerated)
        .await
        .unwrap();
    store
        .end(&id, crate::store::EndReason::Destroyed)
        .await
        .unwrap();
    let ends = log.wait_for(&id, 1, Duration::from_secs(2)).await;
    assert_one_end(&ends, crate::store::EndReason::Regenerated, r#""bob""#);
}

/// A session left to expire is reported once as [`EndReason::Expired`](crate::store::EndReason::Expired), not before its expiry (within 3 s of it), with its last stored data.
pub async fn an_expiring_session_reports_expired_once_with_its_last_data<S: LocalSessionStore>(
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
    assert_one_end(&ends, crate::store::EndReason::Expired, r#""carol""#);
    assert!(
        OffsetDateTime::now_utc() >= stored.cookie.expires().unwrap(),
        "not before its expiry"
    );
    assert_eq!(stored_json(store, &id).await, None);
}

/// `clear` reports each stored session once as [`EndReason::Cleared`](crate::store::EndReason::Cleared); clearing again reports nothing. Needs a store of its own.
pub async fn clear_reports_each_session_as_cleared_once<S: LocalSessionStore>(
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
        assert_one_end(&ends, crate::store::EndReason::Cleared, r#""bob""#);
    }
}
