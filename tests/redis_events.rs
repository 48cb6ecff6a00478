//! Session end events of `RedisStore` against real Redis servers (`support::redis_server`): the
//! session end acceptance suite on a single server and on a three-master cluster; three app
//! servers (three store handles, each with its own listener) sharing one Redis, where every end
//! is reported exactly once in total, with its data; ends missed while no app server listened;
//! and the start-up error when Redis cannot publish expiries.

#[allow(dead_code)]
#[path = "../examples/presence.rs"]
mod presence;

mod common;
mod support;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_typed_session::testing::{unique_id, EndLog};
use actix_typed_session::{
    store::{
        EndReason, RedisStoreBuilder, SaveOutcome, SaveRequest, SessionEnd, SessionStore,
        StoreErrorKind,
    },
    Record, RedisStore, Session, SessionCookie, SessionMiddleware,
};
use actix_web::{rt::time::sleep, test, web, App};
use common::{get, id_of, pair, set_cookie_named, SECRET};
use support::redis_server::{self, RedisServer};
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
    actix_typed_session::testing::session_end_acceptance_tests!(|| crate::with_log(
        crate::single_builder(&crate::fresh_prefix())
    ));
}

mod cluster {
    actix_typed_session::testing::session_end_acceptance_tests!(|| crate::with_log(
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
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
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
    let record = actix_typed_session::testing::record(Duration::from_millis(100), &[("user", "1")]);
    actix_typed_session::testing::create(&store, &id, &record).await;
    let ends = log.wait_for(&id, 1, Duration::from_secs(3)).await;
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reason(), EndReason::Expired);
}

/// Three app servers: three stores on one Redis (same key prefix), each with its own listener
/// and its own log.
fn three_app_servers(builder: impl Fn() -> RedisStoreBuilder) -> Vec<(RedisStore, Arc<EndLog>)> {
    (0..3).map(|_| with_log(builder())).collect()
}

/// Every end reported by the logs, with its time.
fn all_ends(logs: &[Arc<EndLog>]) -> Vec<(SessionEnd, OffsetDateTime)> {
    logs.iter().flat_map(|log| log.timed()).collect()
}

/// Waits (at most `within`) until the logs hold `n` ends in total, then a little more for
/// duplicates.
async fn wait_for_total(logs: &[Arc<EndLog>], n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while logs.iter().map(|l| l.len()).sum::<usize>() < n && Instant::now() < deadline {
        sleep(Duration::from_millis(10)).await;
    }
    sleep(Duration::from_millis(300)).await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// splitmix64: reproducible lifetimes without a dependency.
struct Rng(u64);

impl Rng {
    fn between_ms(&mut self, low: u64, high: u64) -> Duration {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Duration::from_millis(low + z % (high - low + 1))
    }
}

const SESSIONS: usize = 500;

/// Creates `SESSIONS` sessions with lifetimes between `low` and `high` ms on `store`; answers
/// each one's id, `n` (stored as field `n`) and expiry.
async fn create_expiring(
    store: &RedisStore,
    low: u64,
    high: u64,
) -> HashMap<String, (usize, OffsetDateTime)> {
    let mut rng = Rng(0x5e55_10e5);
    let mut due = HashMap::new();
    for n in 0..SESSIONS {
        let id = unique_id();
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(rng.between_ms(low, high)));
        let mut record = Record::new(cookie);
        record
            .fields
            .set("n", actix_typed_session::testing::json(&n.to_string()));
        let outcome = store.save(&id, SaveRequest::Create(&record)).await.unwrap();
        assert_eq!(outcome, SaveOutcome::Saved);
        due.insert(id, (n, record.cookie.expires().unwrap()));
    }
    due
}

/// Checks that every session of `due` was reported exactly once in total, as expired, with its
/// data, never before its expiry; answers the lateness of each report.
#[track_caller]
fn assert_each_expired_once(
    due: &HashMap<String, (usize, OffsetDateTime)>,
    ends: &[(SessionEnd, OffsetDateTime)],
) -> Vec<Duration> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut lateness = Vec::with_capacity(ends.len());
    for (end, at) in ends {
        let Some(&(n, expires)) = due.get(end.id()) else {
            continue;
        };
        *seen.entry(end.id()).or_default() += 1;
        assert_eq!(end.reason(), EndReason::Expired, "{}", end.id());
        assert_eq!(
            end.record().fields.get("n").map(|v| v.get().to_owned()),
            Some(n.to_string()),
            "the data of {}",
            end.id()
        );
        assert!(
            *at >= expires,
            "{} reported {} early",
            end.id(),
            expires - *at
        );
        lateness.push((*at - expires).unsigned_abs());
    }
    let missing: Vec<_> = due
        .keys()
        .filter(|id| !seen.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} never reported, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let twice: Vec<_> = seen.iter().filter(|(_, &count)| count > 1).collect();
    assert!(twice.is_empty(), "reported more than once: {twice:?}");
    lateness.sort();
    lateness
}

/// Who wrote the sessions of a test.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Writer {
    /// One of the three app servers, which claims each expiry at its instant.
    Listening,
    /// A fourth app server that stops once it wrote them: the three others learn of each expiry
    /// from Redis's notification, when Redis deletes the key.
    Gone,
}

async fn five_hundred_expiries_are_each_reported_once_across_three_app_servers(
    builder: impl Fn() -> RedisStoreBuilder,
    writer: Writer,
    what: &str,
) {
    let servers = three_app_servers(&builder);
    let mut logs: Vec<_> = servers.iter().map(|(_, log)| Arc::clone(log)).collect();
    let started = Instant::now();
    let due = match writer {
        Writer::Listening => create_expiring(&servers[0].0, 200, 1500).await,
        Writer::Gone => {
            let (store, log) = with_log(builder());
            logs.push(log);
            create_expiring(&store, 200, 1500).await
        }
    };
    wait_for_total(&logs, SESSIONS, Duration::from_secs(8)).await;
    let lateness = assert_each_expired_once(&due, &all_ends(&logs));
    let per_server: Vec<usize> = logs.iter().map(|l| l.len()).collect();
    eprintln!(
        "{what}, writer {writer:?}: {SESSIONS} expiries reported once each in {:?} (per app \
         server {per_server:?}); lateness after the key's expiry: p50 {:?}, p99 {:?}, max {:?}",
        started.elapsed(),
        percentile(&lateness, 0.50),
        percentile(&lateness, 0.99),
        lateness.last().unwrap(),
    );
    for (store, _) in &servers {
        assert_eq!(store.len().await.unwrap(), 0);
    }
}

#[actix_web::test]
async fn five_hundred_expiries_are_each_reported_once_across_three_app_servers_on_one_redis() {
    let prefix = fresh_prefix();
    five_hundred_expiries_are_each_reported_once_across_three_app_servers(
        || single_builder(&prefix),
        Writer::Listening,
        "single server",
    )
    .await;
}

#[actix_web::test]
async fn five_hundred_expiries_are_each_reported_once_across_three_app_servers_on_a_cluster() {
    let prefix = fresh_prefix();
    five_hundred_expiries_are_each_reported_once_across_three_app_servers(
        || cluster_builder(&prefix),
        Writer::Listening,
        "cluster",
    )
    .await;
}

#[actix_web::test]
async fn five_hundred_expiries_announced_by_redis_alone_are_each_reported_once_on_one_redis() {
    let prefix = fresh_prefix();
    five_hundred_expiries_are_each_reported_once_across_three_app_servers(
        || single_builder(&prefix),
        Writer::Gone,
        "single server",
    )
    .await;
}

#[actix_web::test]
async fn five_hundred_expiries_announced_by_redis_alone_are_each_reported_once_on_a_cluster() {
    let prefix = fresh_prefix();
    five_hundred_expiries_are_each_reported_once_across_three_app_servers(
        || cluster_builder(&prefix),
        Writer::Gone,
        "cluster",
    )
    .await;
}

async fn a_destroy_is_reported_once_by_the_app_server_that_destroyed(
    builder: impl Fn() -> RedisStoreBuilder,
) {
    let servers = three_app_servers(builder);
    let logs: Vec<_> = servers.iter().map(|(_, log)| Arc::clone(log)).collect();
    let id = unique_id();
    let record =
        actix_typed_session::testing::record(Duration::from_secs(3600), &[("user", r#""ada""#)]);
    actix_typed_session::testing::create(&servers[0].0, &id, &record).await;
    servers[1].0.destroy(&id).await.unwrap();
    servers[2].0.destroy(&id).await.unwrap();
    wait_for_total(&logs, 1, Duration::from_secs(2)).await;
    assert!(logs[0].of(&id).is_empty() && logs[2].of(&id).is_empty());
    let ends = logs[1].of(&id);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reason(), EndReason::Destroyed);
    assert_eq!(
        ends[0].record().fields.get("user").unwrap().get(),
        r#""ada""#
    );
}

#[actix_web::test]
async fn a_destroy_is_reported_once_by_the_app_server_that_destroyed_on_one_redis() {
    let prefix = fresh_prefix();
    a_destroy_is_reported_once_by_the_app_server_that_destroyed(|| single_builder(&prefix)).await;
}

#[actix_web::test]
async fn a_destroy_is_reported_once_by_the_app_server_that_destroyed_on_a_cluster() {
    let prefix = fresh_prefix();
    a_destroy_is_reported_once_by_the_app_server_that_destroyed(|| cluster_builder(&prefix)).await;
}

async fn ends_missed_while_no_app_server_listened_are_reported_by_the_next_one(
    builder: impl Fn() -> RedisStoreBuilder,
) {
    // Two app servers listen while the first sessions expire, then both stop.
    let first = three_app_servers(&builder);
    let mut logs: Vec<_> = first.iter().map(|(_, log)| Arc::clone(log)).collect();
    let started = Instant::now();
    let due = create_expiring(&first[0].0, 300, 2500).await;
    sleep(Duration::from_millis(900).saturating_sub(started.elapsed())).await;
    drop(first);
    let reported_before = logs.iter().map(|l| l.len()).sum::<usize>();
    // The rest expire with nobody listening.
    sleep(Duration::from_millis(2600).saturating_sub(started.elapsed())).await;
    let stopped = logs.iter().map(|l| l.len()).sum::<usize>();
    assert!(
        reported_before > 0 && stopped < SESSIONS,
        "some ends before the stop ({reported_before}), some after ({stopped})"
    );
    // A new app server reports the missed ones when it starts.
    let (later, log) = with_log(builder());
    logs.push(log);
    wait_for_total(&logs, SESSIONS, Duration::from_secs(5)).await;
    assert_each_expired_once(&due, &all_ends(&logs));
    eprintln!(
        "{} of {SESSIONS} ends reported while the first app servers ran, {} by the next one",
        stopped,
        logs.last().unwrap().len()
    );
    assert_eq!(later.len().await.unwrap(), 0);
}

#[actix_web::test]
async fn ends_missed_while_no_app_server_listened_are_reported_by_the_next_one_on_one_redis() {
    let prefix = fresh_prefix();
    ends_missed_while_no_app_server_listened_are_reported_by_the_next_one(|| {
        single_builder(&prefix)
    })
    .await;
}

#[actix_web::test]
async fn ends_missed_while_no_app_server_listened_are_reported_by_the_next_one_on_a_cluster() {
    let prefix = fresh_prefix();
    ends_missed_while_no_app_server_listened_are_reported_by_the_next_one(|| {
        cluster_builder(&prefix)
    })
    .await;
}

// Through the middleware: the presence example's app on one app server, two more listening.

use presence::{end_line as presence_line, login, logout, Presence};

async fn whoami(session: Session<Presence>) -> String {
    session.user.clone().unwrap_or_default()
}

async fn the_presence_app_reports_each_end_once_across_three_app_servers(
    builder: impl Fn() -> RedisStoreBuilder,
) {
    let servers = three_app_servers(builder);
    let logs: Vec<_> = servers.iter().map(|(_, log)| Arc::clone(log)).collect();
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(servers[0].0.clone(), SECRET)
                    .cookie_max_age(Some(Duration::from_millis(700)))
                    .rolling(true)
                    .build(),
            )
            .route("/login", web::get().to(login))
            .route("/logout", web::get().to(logout))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;

    // A second login regenerates: the old id ends with the data it had.
    let (_, headers, _) = get(&app, "/login?user=alice", None).await;
    let alice = set_cookie_named(&headers, "connect.sid").unwrap();
    let (_, headers, _) = get(&app, "/login?user=bob", Some(&pair(&alice))).await;
    let bob = set_cookie_named(&headers, "connect.sid").unwrap();
    assert_ne!(id_of(&alice), id_of(&bob));
    // Logout destroys.
    get(&app, "/logout", Some(&pair(&bob))).await;
    // A session kept alive by requests (rolling) past its first expiry, then left idle.
    let (_, headers, _) = get(&app, "/login?user=dave", None).await;
    let dave = set_cookie_named(&headers, "connect.sid").unwrap();
    for _ in 0..4 {
        sleep(Duration::from_millis(250)).await;
        let (_, _, body) = get(&app, "/whoami", Some(&pair(&dave))).await;
        assert_eq!(body, "dave", "renewed by every request");
    }
    assert!(
        all_ends(&logs)
            .iter()
            .all(|(end, _)| end.id() != id_of(&dave)),
        "not reported while requests keep it alive"
    );
    wait_for_total(&logs, 3, Duration::from_secs(3)).await;
    let mut lines: Vec<String> = all_ends(&logs)
        .iter()
        .map(|(end, _)| presence_line(end))
        .collect();
    lines.sort();
    let mut want = vec![
        format!(
            "session ended id={} reason=regenerated user=alice",
            id_of(&alice)
        ),
        format!("session ended id={} reason=destroyed user=bob", id_of(&bob)),
        format!("session ended id={} reason=expired user=dave", id_of(&dave)),
    ];
    want.sort();
    assert_eq!(lines, want);
}

#[actix_web::test]
async fn the_presence_app_reports_each_end_once_across_three_app_servers_on_one_redis() {
    let prefix = fresh_prefix();
    the_presence_app_reports_each_end_once_across_three_app_servers(|| single_builder(&prefix))
        .await;
}

#[actix_web::test]
async fn the_presence_app_reports_each_end_once_across_three_app_servers_on_a_cluster() {
    let prefix = fresh_prefix();
    the_presence_app_reports_each_end_once_across_three_app_servers(|| cluster_builder(&prefix))
        .await;
}

/// How many clients of `server` are subscribed to a channel.
fn subscribers(server: &RedisServer) -> usize {
    server
        .cli(&["client", "list"])
        .lines()
        .filter(|line| line.contains(" sub=1 "))
        .count()
}

#[actix_web::test]
async fn the_listener_subscribes_again_after_redis_restarts_and_stops_with_the_store() {
    let mut server = RedisServer::start();
    let builder = || RedisStore::builder(&server.url()).unwrap();
    let (listening, log) = with_log(builder());
    assert_eq!(subscribers(&server), 1);

    // Restarted empty, with notifications off again: the listener reconnects, enables them and
    // subscribes again.
    server.restart();
    assert_eq!(
        server
            .cli(&["config", "get", "notify-keyspace-events"])
            .lines()
            .nth(1),
        Some("")
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while subscribers(&server) == 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(subscribers(&server), 1, "subscribed again");
    let builder = || RedisStore::builder(&server.url()).unwrap();
    // Written by an app server that stops at once: only Redis's notification tells the listener.
    let id = unique_id();
    {
        let (writer, _) = with_log(builder());
        let record =
            actix_typed_session::testing::record(Duration::from_millis(200), &[("user", "7")]);
        actix_typed_session::testing::create(&writer, &id, &record).await;
    }
    let ends = log.wait_for(&id, 1, Duration::from_secs(5)).await;
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reason(), EndReason::Expired);

    // The last handle of the store stops its listener.
    let clone = listening.clone();
    drop(listening);
    assert_eq!(subscribers(&server), 1, "a clone keeps it");
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(3);
    while subscribers(&server) > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(subscribers(&server), 0, "the listener stopped");
}

#[actix_web::test]
async fn every_write_keeps_a_shadow_that_outlives_the_session_by_the_grace() {
    let server = redis_server::shared();
    let prefix = fresh_prefix();
    let (store, _log) = with_log(single_builder(&prefix).end_grace(Duration::from_secs(60)));
    let id = unique_id();
    let key = format!("{prefix}{id}");
    let shadow = format!("{{{key}}}:end");
    let record =
        actix_typed_session::testing::record(Duration::from_secs(10), &[("user", r#""ada""#)]);
    actix_typed_session::testing::create(&store, &id, &record).await;
    let pttl = |k: &str| -> i64 { server.cli(&["pttl", k]).trim().parse().unwrap() };
    assert_eq!(server.cli(&["get", &key]).trim(), record.to_json());
    assert_eq!(server.cli(&["get", &shadow]).trim(), record.to_json());
    let grace = pttl(&shadow) - pttl(&key);
    assert!((59_800..=60_200).contains(&grace), "{grace}");

    // A save rewrites the shadow with the session.
    let mut changes = actix_typed_session::ChangeSet::new();
    changes.set("user", actix_typed_session::testing::json(r#""bea""#));
    actix_typed_session::testing::update(&store, &id, &record.cookie, &changes).await;
    assert_eq!(server.cli(&["get", &shadow]), server.cli(&["get", &key]));
    // So does a request's first read, which renews both keys.
    server.cli(&["pexpire", &key, "5000"]);
    server.cli(&["del", &shadow]);
    store.load_touched(&id).await.unwrap().expect("stored");
    assert_eq!(server.cli(&["get", &shadow]), server.cli(&["get", &key]));
    assert!(pttl(&key) > 9_000, "renewed");
    let grace = pttl(&shadow) - pttl(&key);
    assert!((59_800..=60_200).contains(&grace), "{grace}");
    // The shadow is not a session.
    assert_eq!(store.ids().await.unwrap(), std::slice::from_ref(&id));
    store.destroy(&id).await.unwrap();
    assert_eq!(server.cli(&["exists", &key, &shadow]).trim(), "0");
}

#[actix_web::test]
async fn with_touch_after_a_session_not_renewed_ends_at_its_key_expiry() {
    // Redis announces no expiry here (notifications are switched off once the listener runs, and
    // the sweep is a minute away): only the claim that the store schedules reports the end, so
    // its time is the store's own idea of when the key expires.
    let server = RedisServer::start();
    let (store, log) = with_log(
        RedisStore::builder(&server.url())
            .unwrap()
            .touch_after(Duration::from_secs(10))
            .end_sweep_interval(Duration::from_secs(60)),
    );
    server.cli(&["config", "set", "notify-keyspace-events", ""]);
    let id = unique_id();
    let key = store.key(&id);
    let record = actix_typed_session::testing::record(Duration::from_millis(3000), &[("n", "7")]);
    actix_typed_session::testing::create(&store, &id, &record).await;
    let expires = record.cookie.expires().expect("an expiry");

    // Half-way: not renewed (the last write is 1.5 s old, under 10 s), so the session still ends
    // 3 s after its creation, not 3 s after this read.
    sleep(Duration::from_millis(1500)).await;
    let loaded = store.load_touched(&id).await.unwrap().expect("stored");
    assert_eq!(loaded.fields.get("n").map(|v| v.get()), Some("7"));
    let pttl: i64 = server.cli(&["pttl", &key]).trim().parse().unwrap();
    assert!(pttl <= 1500, "the key was renewed: PTTL {pttl}");

    wait_for_total(std::slice::from_ref(&log), 1, Duration::from_secs(6)).await;
    let ends = log.timed();
    assert_eq!(ends.len(), 1, "{ends:?}");
    let (end, at) = &ends[0];
    assert_eq!((end.id(), end.reason()), (id.as_str(), EndReason::Expired));
    assert_eq!(end.record().fields.get("n").map(|v| v.get()), Some("7"));
    assert!(*at >= expires, "reported {} early", expires - *at);
    assert!(
        *at - expires < time::Duration::milliseconds(600),
        "reported {} after the key's expiry",
        *at - expires
    );
}
