//! `SessionStore` futures are `Send`: code generic over the store spawns them on a multi-threaded
//! tokio runtime, where they run on its worker threads. `MemoryStore` here; `RedisStore` against a
//! real `redis-server` with feature `redis`.

use std::{collections::BTreeSet, future::Future, time::Duration};

use actix_typed_session::{
    store::{EndReason, SaveOutcome, SaveRequest, SessionStore},
    testing::{json, record, unique_id},
    ChangeSet, MemoryStore,
};

const HOUR: Duration = Duration::from_secs(3600);
/// Tasks spawned at once for each operation.
const TASKS: usize = 16;

/// Spawns `future` on the runtime and answers its output; asserts that it finished on one of the
/// runtime's worker threads, not on the thread that spawned it.
async fn on_a_worker<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let spawner = std::thread::current().id();
    let task = tokio::spawn(async move {
        let output = future.await;
        assert_ne!(
            std::thread::current().id(),
            spawner,
            "the task ran on the thread that spawned it"
        );
        output
    });
    task.await.expect("the task ran to completion")
}

/// Generic over the store: every operation, each in tasks of its own, many at once.
async fn spawn_every_operation<S: SessionStore>(store: S) {
    let id = unique_id();
    let stored = record(HOUR, &[("user", r#""bob""#)]);

    let (s, i, r) = (store.clone(), id.clone(), stored.clone());
    let created = on_a_worker(async move { s.save(&i, SaveRequest::Create(&r)).await }).await;
    assert_eq!(created.unwrap(), SaveOutcome::Saved);

    // Many loads at once, each in its own task.
    let loads: Vec<_> = (0..TASKS)
        .map(|_| {
            let (s, i) = (store.clone(), id.clone());
            tokio::spawn(async move { s.load(&i).await })
        })
        .collect();
    for load in loads {
        let record = load.await.unwrap().unwrap().expect("stored");
        assert_eq!(record.to_json(), stored.to_json());
    }

    // Updates of different fields from different tasks: every one lands.
    let updates: Vec<_> = (0..TASKS)
        .map(|n| {
            let (s, i, cookie) = (store.clone(), id.clone(), stored.cookie.clone());
            tokio::spawn(async move {
                let mut changes = ChangeSet::new();
                changes.set(&format!("f{n}"), json(&n.to_string()));
                let request = SaveRequest::Update {
                    cookie: &cookie,
                    changes: &changes,
                };
                s.save(&i, request).await
            })
        })
        .collect();
    for update in updates {
        assert_eq!(update.await.unwrap().unwrap(), SaveOutcome::Saved);
    }
    let (s, i) = (store.clone(), id.clone());
    let merged = on_a_worker(async move { s.load(&i).await }).await;
    let merged = merged.unwrap().expect("stored");
    let fields: BTreeSet<String> = merged.fields.iter().map(|(k, _)| k.to_owned()).collect();
    let mut want: BTreeSet<String> = (0..TASKS).map(|n| format!("f{n}")).collect();
    want.insert("user".to_owned());
    assert_eq!(fields, want);

    let (s, i) = (store.clone(), id.clone());
    let touched = on_a_worker(async move { s.touch(&i, None).await }).await;
    assert!(touched.unwrap().is_some(), "touched");
    let (s, i) = (store.clone(), id.clone());
    let loaded = on_a_worker(async move { s.load_touched(&i).await }).await;
    assert_eq!(loaded.unwrap().expect("stored").fields, merged.fields);

    let s = store.clone();
    assert_eq!(on_a_worker(async move { s.len().await }).await.unwrap(), 1);
    let s = store.clone();
    let ids = on_a_worker(async move { s.ids().await }).await.unwrap();
    assert_eq!(ids, std::slice::from_ref(&id));

    let (s, i) = (store.clone(), id.clone());
    on_a_worker(async move { s.end(&i, EndReason::Regenerated).await })
        .await
        .unwrap();
    let (s, i) = (store.clone(), id.clone());
    assert!(on_a_worker(async move { s.load(&i).await })
        .await
        .unwrap()
        .is_none());

    let (s, i) = (store.clone(), id.clone());
    on_a_worker(async move { s.save(&i, SaveRequest::Create(&stored)).await })
        .await
        .unwrap();
    let s = store.clone();
    on_a_worker(async move { s.clear().await }).await.unwrap();
    let s = store.clone();
    assert!(on_a_worker(async move { s.is_empty().await })
        .await
        .unwrap());
    let (s, i) = (store, id);
    on_a_worker(async move { s.destroy(&i).await })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_futures_run_on_a_multi_threaded_runtime() {
    spawn_every_operation(MemoryStore::new()).await;
}

#[cfg(feature = "redis")]
mod support;

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_futures_run_on_a_multi_threaded_runtime() {
    let store = actix_typed_session::RedisStore::builder(&support::redis_server::shared().url())
        .unwrap()
        .key_prefix(format!("test:{}:", unique_id()))
        .build();
    spawn_every_operation(store).await;
}
