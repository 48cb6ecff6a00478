//! Sessions indexed by a field on the memory store: the index suite, the handler methods, the
//! per-value limit through the middleware, and the index kept equal to the live sessions under
//! a mixed load.

mod common;

use actix_typed_session::{
    store::{IndexKey, OverLimit, SessionStore},
    testing::{self as acceptance, index::IndexSetup},
    MemoryStore,
};

fn indexed_store(setup: &IndexSetup) -> MemoryStore {
    let builder = MemoryStore::builder()
        .on_session_end(setup.ends.callback())
        .on_session_start(setup.starts.callback());
    match setup.limit {
        Some((max, over)) => builder.index_limit("user", max, over),
        None => builder.index("user"),
    }
    .build()
}

acceptance::index_acceptance_tests!(indexed_store);

#[actix_web::test]
async fn a_store_without_the_index_answers_unsupported() {
    let store = MemoryStore::new();
    let key = IndexKey::new("user", "alice").unwrap();
    assert!(store.sessions_by(&key).await.is_err());
    let _ = OverLimit::Refuse;
}
