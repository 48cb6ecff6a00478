//! Session end events of `RedisStore` against real Redis servers (`support::redis_server`): the
//! session end acceptance suite on a single server and on a three-master cluster; three app
//! servers (three store handles, each with its own listener) sharing one Redis, where every end
//! is reported exactly once in total, with its data; ends missed while no app server listened;
//! and the start-up error when Redis cannot publish expiries.

mod common;
mod support;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_typed_session::{
    EndReason, Record, RedisStore, RedisStoreBuilder, SaveOutcome, SaveRequest, SessionCookie,
    SessionEnd, StoreErrorKind,
};
use actix_web::rt::time::sleep;
use support::{
    acceptance::{unique_id, EndLog},
    redis_server::{self, RedisServer},
};
use time::OffsetDateTime;

/// A builder on the shared server.
fn single_builder(prefix: &str) -> RedisStoreBuilder {
    RedisStore::builder(&redis_server::shared().url())
        .unwrap()
        .key_prefix(prefix)
}

/// A builder on the shared cluster.
fn cluster_builder(prefix: &str) -> RedisStoreBuilder {
    RedisStore::cluster_builder(redis_server::shared_cluster().urls())
        .unwrap()
        .key_prefix(prefix)
}

fn with_log(builder: RedisStoreBuilder) -> (RedisStore, Arc<EndLog>) {
    let log = EndLog::new();
    let store = builder.on_session_end(log.callback()).try_build().unwrap();
    (store, log)
}

fn fresh_prefix() -> String {
    format!("test:{}:", unique_id())
}

mod single_server {
    crate::support::acceptance::session_end_acceptance_tests!(|| crate::with_log(
        crate::single_builder(&crate::fresh_prefix())
    ));
}

mod cluster {
    crate::support::acceptance::session_end_acceptance_tests!(|| crate::with_log(
        crate::cluster_builder(&crate::fresh_prefix())
    ));
}

#[actix_web::test]
async fn a_server_that_refuses_config_without_notifications_is_a_start_up_error() {
    let server = RedisServer::start_with_args(&["--rename-command", "CONFIG", ""]);
    let started = Instant::now();
    let error = RedisStore::builder(&server.url())
        .unwrap()
        .on_session_end(|_| {})
        .try_build()
        .unwrap_err();
    let message = error.to_string();
    assert_eq!(error.kind(), StoreErrorKind::Other);
    assert!(
        message.contains("notify-keyspace-events Ex"),
        "says what to configure: {message}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[actix_web::test]
async fn a_server_that_refuses_config_but_publishes_expiries_is_accepted() {
    let server = RedisServer::start_with_args(&[
        "--rename-command",
        "CONFIG",
        "",
        "--notify-keyspace-events",
        "Ex",
    ]);
    let (store, log) = with_log(RedisStore::builder(&server.url()).unwrap());
    let id = unique_id();
    let record = support::acceptance::record(Duration::from_millis(100), &[("user", "1")]);
    support::acceptance::create(&store, &id, &record).await;
    let ends = log.wait_for(&id, 1, Duration::from_secs(3)).await;
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reason(), EndReason::Expired);
}
