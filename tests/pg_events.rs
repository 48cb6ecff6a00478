//! Session end events of `PgStore` against a real PostgreSQL server (`support::postgres`): the
//! session end acceptance suite; several app servers (store handles with their own connections
//! and listeners) on one table, where every end is reported exactly once in total (destroys,
//! regenerations, racing destroys, expiries at their instant); deletes by a Node app (the exact
//! statements of connect-pg-simple, from a client of its own), also while no app server
//! listened; an outage; and the presence example's app on three app servers.

#[allow(dead_code)]
#[path = "../examples/presence.rs"]
mod presence;

mod common;
mod support;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use actix_typed_session::{
    store::{EndReason, PgStoreBuilder, SaveOutcome, SaveRequest, SessionEnd, SessionStore},
    testing::{self as acceptance, record, unique_id, EndLog},
    PgStore, Record, Session, SessionCookie, SessionMiddleware,
};
use actix_web::{rt::time::sleep, test as actix_test, web, App};
use common::{get, id_of, pair, set_cookie_named, SECRET};
use support::postgres::{self, PgServer};
use time::OffsetDateTime;

const HOUR: Duration = Duration::from_secs(3600);

/// A table name no other test uses.
fn unique_table() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ends_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A builder on `url`, table `table` (created on first use), with generous timeouts: the
/// subject here is not the timeouts.
fn builder_on(url: &str, table: &str) -> PgStoreBuilder {
    PgStore::builder(url)
        .unwrap()
        .table_name(table)
        .create_table_if_missing(true)
        .connect_timeout(Duration::from_secs(10))
        .query_timeout(Duration::from_secs(10))
}

fn builder(table: &str) -> PgStoreBuilder {
    builder_on(&postgres::shared().url(), table)
}

/// A store that reports ends to a log of its own.
fn with_log(builder: PgStoreBuilder) -> (PgStore, Arc<EndLog>) {
    let log = EndLog::new();
    let store = builder.on_session_end(log.callback()).try_build().unwrap();
    (store, log)
}

/// `n` app servers on one table: stores with their own connections, listeners and logs, once
/// each listens.
async fn app_servers(
    n: usize,
    builder: impl Fn() -> PgStoreBuilder,
) -> Vec<(PgStore, Arc<EndLog>)> {
    let mut servers = Vec::new();
    for _ in 0..n {
        let log = EndLog::new();
        let store = builder()
            .on_session_end(log.callback())
            .connect()
            .await
            .unwrap();
        servers.push((store, log));
    }
    servers
}

mod acceptance_suite {
    actix_typed_session::testing::session_end_acceptance_tests!(|| crate::with_log(
        crate::builder(&crate::unique_table())
    ));
}

/// Every end reported by the logs, with its time.
fn all_ends(logs: &[Arc<EndLog>]) -> Vec<(SessionEnd, OffsetDateTime)> {
    logs.iter().flat_map(|log| log.timed()).collect()
}

fn logs_of(servers: &[(PgStore, Arc<EndLog>)]) -> Vec<Arc<EndLog>> {
    servers.iter().map(|(_, log)| Arc::clone(log)).collect()
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

/// The one end of `id` across the logs, with its reason and field `user`; fails on none or more.
#[track_caller]
fn one_end(logs: &[Arc<EndLog>], id: &str) -> (EndReason, String) {
    let ends: Vec<SessionEnd> = logs.iter().flat_map(|log| log.of(id)).collect();
    assert_eq!(ends.len(), 1, "reported once in total: {ends:?}");
    let user = ends[0]
        .record()
        .fields
        .get("user")
        .map(|v| v.get().to_owned())
        .unwrap_or_default();
    (ends[0].reason(), user)
}

#[actix_web::test]
async fn a_destroy_and_a_regeneration_are_each_reported_once_by_the_app_server_that_did_it() {
    let table = unique_table();
    let servers = app_servers(3, || builder(&table)).await;
    let logs = logs_of(&servers);
    let destroyed = unique_id();
    let regenerated = unique_id();
    acceptance::create(
        &servers[0].0,
        &destroyed,
        &record(HOUR, &[("user", r#""ada""#)]),
    )
    .await;
    acceptance::create(
        &servers[0].0,
        &regenerated,
        &record(HOUR, &[("user", r#""bea""#)]),
    )
    .await;
    // Two app servers end each session at the same moment.
    let (a, b) = futures_join(
        servers[1].0.destroy(&destroyed),
        servers[2].0.destroy(&destroyed),
    )
    .await;
    a.unwrap();
    b.unwrap();
    let (a, b) = futures_join(
        servers[2].0.end(&regenerated, EndReason::Regenerated),
        servers[0].0.end(&regenerated, EndReason::Regenerated),
    )
    .await;
    a.unwrap();
    b.unwrap();
    wait_for_total(&logs, 2, Duration::from_secs(2)).await;
    assert_eq!(
        one_end(&logs, &destroyed),
        (EndReason::Destroyed, r#""ada""#.to_owned())
    );
    assert_eq!(
        one_end(&logs, &regenerated),
        (EndReason::Regenerated, r#""bea""#.to_owned())
    );
    assert!(
        logs[0].of(&destroyed).is_empty(),
        "only a destroyer reports"
    );
    assert!(logs[1].of(&regenerated).is_empty(), "only an ender reports");
}

/// Both futures, polled together on this thread (their queries race on two connections).
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

#[test]
fn racing_destroys_on_three_threads_report_each_session_once() {
    let table = unique_table();
    let servers = acceptance::run(app_servers(3, || builder(&table)));
    let logs = logs_of(&servers);
    let ids: Vec<String> = (0..100).map(|_| unique_id()).collect();
    acceptance::run(async {
        for id in &ids {
            acceptance::create(&servers[0].0, id, &record(HOUR, &[("user", r#""x""#)])).await;
        }
    });
    // Each app server destroys every session, on its own thread and runtime, all at once.
    let barrier = Arc::new(std::sync::Barrier::new(3));
    std::thread::scope(|scope| {
        for (store, _) in &servers {
            let (store, ids, barrier) = (store.clone(), &ids, Arc::clone(&barrier));
            scope.spawn(move || {
                acceptance::run(async move {
                    barrier.wait();
                    for id in ids {
                        store.destroy(id).await.unwrap();
                    }
                })
            });
        }
    });
    acceptance::run(wait_for_total(&logs, ids.len(), Duration::from_secs(3)));
    for id in &ids {
        assert_eq!(
            one_end(&logs, id),
            (EndReason::Destroyed, r#""x""#.to_owned())
        );
    }
    let per_server: Vec<usize> = logs.iter().map(|l| l.len()).collect();
    eprintln!("100 racing destroys, reported per app server: {per_server:?}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const SESSIONS: usize = 200;

/// Creates `SESSIONS` sessions with lifetimes spread between 200 and 1500 ms on `store`;
/// answers each one's id, `n` (stored as field `n`) and expiry.
async fn create_expiring(store: &PgStore) -> HashMap<String, (usize, OffsetDateTime)> {
    let mut due = HashMap::new();
    for n in 0..SESSIONS {
        let id = unique_id();
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_millis(200 + (n as u64 * 6_491) % 1300)));
        let mut record = Record::new(cookie);
        record.fields.set("n", acceptance::json(&n.to_string()));
        let outcome = store.save(&id, SaveRequest::Create(&record)).await.unwrap();
        assert_eq!(outcome, SaveOutcome::Saved);
        due.insert(id, (n, record.cookie.expires().unwrap()));
    }
    due
}

/// Checks that every session of `due` was reported exactly once in total, as expired, with its
/// data, never before its expiry; answers the lateness of each report, sorted.
#[track_caller]
fn assert_each_expired_once(
    due: &HashMap<String, (usize, OffsetDateTime)>,
    ends: &[(SessionEnd, OffsetDateTime)],
) -> Vec<Duration> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut lateness = Vec::new();
    for (end, at) in ends {
        let Some(&(n, expires)) = due.get(end.id()) else {
            continue;
        };
        *seen.entry(end.id()).or_default() += 1;
        assert_eq!(end.reason(), EndReason::Expired);
        assert_eq!(
            end.record().fields.get("n").map(|v| v.get().to_owned()),
            Some(n.to_string()),
            "the data"
        );
        assert!(*at >= expires, "reported {} early", expires - *at);
        lateness.push((*at - expires).unsigned_abs());
    }
    assert_eq!(seen.len(), due.len(), "every session reported");
    assert!(
        seen.values().all(|&count| count == 1),
        "reported more than once"
    );
    lateness.sort();
    lateness
}

#[actix_web::test]
async fn expiries_are_each_reported_once_across_three_app_servers_at_their_instant() {
    let table = unique_table();
    // With the trigger too: the listeners' own deletes must not come back through it.
    let servers = app_servers(3, || builder(&table).report_deletes_by_others(true)).await;
    let logs = logs_of(&servers);
    let started = Instant::now();
    let due = create_expiring(&servers[0].0).await;
    wait_for_total(&logs, SESSIONS, Duration::from_secs(6)).await;
    let lateness = assert_each_expired_once(&due, &all_ends(&logs));
    let per_server: Vec<usize> = logs.iter().map(|l| l.len()).collect();
    eprintln!(
        "{SESSIONS} expiries reported once each in {:?} (per app server {per_server:?}); \
         lateness: p50 {:?}, p99 {:?}, max {:?}",
        started.elapsed(),
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness.last().unwrap()
    );
    assert!(
        *lateness.last().unwrap() < Duration::from_millis(1500),
        "reported at the instant, not on a sweep: max {:?}",
        lateness.last().unwrap()
    );
    assert_eq!(
        postgres::shared().psql(&format!("SELECT count(*) FROM \"{table}\"")),
        "0"
    );
}

#[actix_web::test]
async fn after_an_expiry_an_idle_listener_looks_at_the_table_once_per_poll_interval() {
    let table = unique_table();
    let servers = app_servers(1, || builder(&table)).await;
    let logs = logs_of(&servers);
    let id = unique_id();
    acceptance::create(
        &servers[0].0,
        &id,
        &record(Duration::from_millis(200), &[("n", "1")]),
    )
    .await;
    wait_for_total(&logs, 1, Duration::from_secs(3)).await;
    assert_eq!(one_end(&logs, &id).0, EndReason::Expired);
    // Each look is a sweep and a `min(expire)`, both scans of the table, which nothing else
    // reads now. PostgreSQL publishes a connection's counts at most once a second.
    let scans = || -> u64 {
        postgres::shared()
            .psql(&format!(
                "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables \
                 WHERE relname = '{table}'"
            ))
            .parse()
            .unwrap()
    };
    sleep(Duration::from_millis(1500)).await;
    let before = scans();
    sleep(Duration::from_secs(4)).await;
    let looked = scans() - before;
    // The default poll interval is 1 s: about 4 looks. Looking every 10 ms would be ~400.
    assert!(
        looked <= 40,
        "{looked} scans in 4 s: the listener polls the table without a reason"
    );
    // A write still wakes it: a session written now is reported at its expiry, not at a look.
    let id = unique_id();
    let stored = record(Duration::from_millis(300), &[("n", "2")]);
    acceptance::create(&servers[0].0, &id, &stored).await;
    wait_for_total(&logs, 2, Duration::from_secs(3)).await;
    assert_eq!(one_end(&logs, &id).0, EndReason::Expired);
    let (_, at) = logs[0]
        .timed()
        .into_iter()
        .find(|(end, _)| end.id() == id)
        .unwrap();
    let late = at - stored.cookie.expires().unwrap();
    assert!(
        late >= time::Duration::ZERO && late < time::Duration::milliseconds(700),
        "reported {late} after its expiry"
    );
}

#[actix_web::test]
async fn expiries_of_sessions_written_by_an_app_server_without_a_listener_are_reported_within_the_poll_interval(
) {
    let table = unique_table();
    let servers = app_servers(2, || builder(&table)).await;
    let logs = logs_of(&servers);
    // Its deletes would be the trigger's business; its writes, only the table's.
    let writer = builder(&table).try_build().unwrap();
    let due = create_expiring(&writer).await;
    wait_for_total(&logs, SESSIONS, Duration::from_secs(6)).await;
    let lateness = assert_each_expired_once(&due, &all_ends(&logs));
    eprintln!(
        "written without a listener: lateness p50 {:?}, p99 {:?}, max {:?}",
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness.last().unwrap()
    );
    assert!(
        *lateness.last().unwrap() < Duration::from_millis(2000),
        "within the 1 s poll interval (and a loaded machine's delays): {:?}",
        lateness.last().unwrap()
    );
}

// A Node app on connect-pg-simple: its statements, exactly as it sends them, from a client of
// its own.

/// A connection as connect-pg-simple's pool makes one.
async fn node_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    actix_web::rt::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// connect-pg-simple's `set`, for a session that expires in `ttl` (its `sess` parameter is
/// JSON text: node-postgres sends a JSON object as such).
async fn node_set(node: &tokio_postgres::Client, table: &str, id: &str, json: &str, ttl: Duration) {
    let expire = (OffsetDateTime::now_utc() + ttl).unix_timestamp_nanos() as f64 / 1e9;
    node.execute(
        &format!(
            "INSERT INTO \"{table}\" (sess, expire, sid) SELECT $1::text::json, to_timestamp($2), $3 \
             ON CONFLICT (sid) DO UPDATE SET sess=$1::text::json, expire=to_timestamp($2) RETURNING sid"
        ),
        &[&json, &expire, &id],
    )
    .await
    .unwrap();
}

/// connect-pg-simple's `destroy`.
async fn node_destroy(node: &tokio_postgres::Client, table: &str, id: &str) {
    node.execute(&format!("DELETE FROM \"{table}\" WHERE sid = $1"), &[&id])
        .await
        .unwrap();
}

/// connect-pg-simple's `pruneSessions`: `currentTimestamp()` is `Math.ceil(Date.now() / 1000)`.
async fn node_prune(node: &tokio_postgres::Client, table: &str) -> u64 {
    let now = (OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9).ceil();
    node.execute(
        &format!("DELETE FROM \"{table}\" WHERE expire < to_timestamp($1)"),
        &[&now],
    )
    .await
    .unwrap()
}

fn user_json(user: &str) -> String {
    format!(
        r#"{{"cookie":{{"originalMaxAge":3600000,"expires":"2030-01-01T00:00:00.000Z","httpOnly":true,"path":"/"}},"user":"{user}"}}"#
    )
}

#[actix_web::test]
async fn a_session_that_a_node_app_destroys_is_reported_once_with_its_last_data() {
    let table = unique_table();
    // No poll within the test: only the trigger's NOTIFY can wake the listeners in time.
    let servers = app_servers(2, || {
        builder(&table)
            .report_deletes_by_others(true)
            .end_poll_interval(Duration::from_secs(60))
    })
    .await;
    let logs = logs_of(&servers);
    let node = node_client(&postgres::shared().url()).await;
    // One written by this crate, one by Node.
    let ours = unique_id();
    let mut stored = record(HOUR, &[("user", r#""ada""#)]);
    acceptance::create(&servers[0].0, &ours, &stored).await;
    let mut changes = actix_typed_session::ChangeSet::new();
    changes.set("user", acceptance::json(r#""ada2""#));
    acceptance::update(&servers[1].0, &ours, &stored.cookie, &changes).await;
    stored.fields.apply(&changes);
    let theirs = unique_id();
    node_set(&node, &table, &theirs, &user_json("bob"), HOUR).await;

    let destroyed_at = OffsetDateTime::now_utc();
    node_destroy(&node, &table, &ours).await;
    node_destroy(&node, &table, &theirs).await;
    node_destroy(&node, &table, &theirs).await;
    wait_for_total(&logs, 2, Duration::from_secs(3)).await;
    let latest = all_ends(&logs)
        .iter()
        .map(|(_, at)| *at - destroyed_at)
        .max()
        .unwrap();
    eprintln!("Node's destroys reported {latest} after them");
    assert!(
        latest < time::Duration::seconds(1),
        "woken by NOTIFY, not a poll: {latest}"
    );
    assert_eq!(
        one_end(&logs, &ours),
        (EndReason::Destroyed, r#""ada2""#.to_owned())
    );
    assert_eq!(
        one_end(&logs, &theirs),
        (EndReason::Destroyed, r#""bob""#.to_owned())
    );
    assert_eq!(
        postgres::shared().psql(&format!("SELECT count(*) FROM \"{table}_ended\"")),
        "0",
        "the outbox is emptied by the claims"
    );
    // The store's own deletes skip the trigger: reported once, with the store's reason.
    let regenerated = unique_id();
    acceptance::create(
        &servers[0].0,
        &regenerated,
        &record(HOUR, &[("user", r#""cy""#)]),
    )
    .await;
    servers[0]
        .0
        .end(&regenerated, EndReason::Regenerated)
        .await
        .unwrap();
    wait_for_total(&logs, 3, Duration::from_secs(2)).await;
    assert_eq!(
        one_end(&logs, &regenerated),
        (EndReason::Regenerated, r#""cy""#.to_owned())
    );
}

#[actix_web::test]
async fn a_session_that_connect_pg_simples_prune_deletes_is_reported_once_as_expired() {
    let table = unique_table();
    let servers = app_servers(2, || {
        builder(&table)
            .report_deletes_by_others(true)
            .end_poll_interval(Duration::from_secs(60))
    })
    .await;
    let logs = logs_of(&servers);
    let node = node_client(&postgres::shared().url()).await;
    // Early in a second, a session that expires late in it: connect-pg-simple prunes up to
    // `now` rounded up to the second, so it deletes this one a little before its instant.
    let into_second = OffsetDateTime::now_utc().nanosecond() as u64 / 1_000_000;
    sleep(Duration::from_millis((1050 - into_second) % 1000)).await;
    let left = Duration::from_millis(
        900_u64.saturating_sub(u64::from(OffsetDateTime::now_utc().millisecond())),
    );
    let pruned = unique_id();
    node_set(&node, &table, &pruned, &user_json("eli"), left).await;
    let live = unique_id();
    node_set(&node, &table, &live, &user_json("fay"), HOUR).await;
    assert_eq!(
        node_prune(&node, &table).await,
        1,
        "the one about to expire"
    );
    wait_for_total(&logs, 1, Duration::from_secs(2)).await;
    assert_eq!(
        one_end(&logs, &pruned),
        (EndReason::Expired, r#""eli""#.to_owned())
    );
    assert!(logs.iter().all(|log| log.of(&live).is_empty()));
}

#[actix_web::test]
async fn deletes_by_node_while_no_app_server_listened_are_reported_by_the_next_one() {
    let table = unique_table();
    let url = postgres::shared().url();
    // An app server made the trigger, then stopped.
    drop(app_servers(1, || builder(&table).report_deletes_by_others(true)).await);
    sleep(Duration::from_millis(100)).await;
    let node = node_client(&url).await;
    let expiring: Vec<String> = (0..3).map(|_| unique_id()).collect();
    for (n, id) in expiring.iter().enumerate() {
        node_set(
            &node,
            &table,
            id,
            &user_json(&format!("old{n}")),
            Duration::from_millis(100),
        )
        .await;
    }
    let live = unique_id();
    node_set(&node, &table, &live, &user_json("dora"), HOUR).await;
    sleep(Duration::from_millis(300)).await;
    // connect-pg-simple prunes the expired rows; the Node app logs one user out.
    assert_eq!(node_prune(&node, &table).await, 3);
    node_destroy(&node, &table, &live).await;
    assert_eq!(
        postgres::shared().psql(&format!("SELECT count(*) FROM \"{table}_ended\"")),
        "4",
        "kept in the outbox while nobody listens"
    );

    let servers = app_servers(2, || builder(&table).report_deletes_by_others(true)).await;
    let logs = logs_of(&servers);
    wait_for_total(&logs, 4, Duration::from_secs(3)).await;
    for (n, id) in expiring.iter().enumerate() {
        assert_eq!(
            one_end(&logs, id),
            (EndReason::Expired, format!(r#""old{n}""#))
        );
    }
    assert_eq!(
        one_end(&logs, &live),
        (EndReason::Destroyed, r#""dora""#.to_owned())
    );
}

#[actix_web::test]
async fn a_store_without_a_callback_is_another_program_its_destroys_come_through_the_trigger() {
    let table = unique_table();
    let servers = app_servers(2, || builder(&table).report_deletes_by_others(true)).await;
    let logs = logs_of(&servers);
    let plain = builder(&table).try_build().unwrap();
    let id = unique_id();
    acceptance::create(&plain, &id, &record(HOUR, &[("user", r#""gus""#)])).await;
    plain.end(&id, EndReason::Regenerated).await.unwrap();
    wait_for_total(&logs, 1, Duration::from_secs(3)).await;
    assert_eq!(
        one_end(&logs, &id),
        (EndReason::Destroyed, r#""gus""#.to_owned()),
        "its reason does not reach the trigger"
    );
}

#[actix_web::test]
async fn a_role_that_cannot_make_the_trigger_is_a_start_up_error_that_says_so() {
    let table = unique_table();
    let server = postgres::shared();
    // The table exists, owned by another role; this one may use it, but neither create the
    // outbox in the schema nor add a trigger to the table.
    drop(app_servers(1, || builder(&table)).await);
    let role = format!("r_{table}");
    server.psql(&format!(
        "CREATE ROLE \"{role}\" LOGIN; GRANT SELECT, INSERT, UPDATE, DELETE ON \"{table}\" TO \"{role}\""
    ));
    let url = format!(
        "host=127.0.0.1 port={} user={role} dbname=postgres",
        server.port()
    );
    let error = PgStore::builder(&url)
        .unwrap()
        .table_name(&table)
        .report_deletes_by_others(true)
        .on_session_end(|_| {})
        .connect()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("install the session end trigger")
            && message.contains("42501: permission denied"),
        "{message}"
    );
}

#[actix_web::test]
async fn without_report_deletes_by_others_there_is_no_trigger() {
    let table = unique_table();
    let (_store, _log) = app_servers(1, || builder(&table)).await.pop().unwrap();
    assert_eq!(
        postgres::shared().psql(&format!(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = '\"{table}\"'::regclass AND NOT tgisinternal"
        )),
        "0"
    );
    assert_eq!(
        postgres::shared().psql(&format!(
            "SELECT count(*) FROM pg_tables WHERE tablename = '{table}_ended'"
        )),
        "0"
    );
}

#[actix_web::test]
async fn ends_while_the_database_is_down_are_reported_once_it_is_back() {
    let mut server = PgServer::start();
    let table = unique_table();
    let make = || {
        builder_on(&server.url(), &table)
            .connect_timeout(Duration::from_millis(500))
            .query_timeout(Duration::from_millis(500))
    };
    let (store, log) = app_servers(1, make).await.pop().unwrap();
    let id = unique_id();
    let created = Instant::now();
    acceptance::create(
        &store,
        &id,
        &record(Duration::from_millis(1200), &[("user", r#""eve""#)]),
    )
    .await;
    server.stop();
    assert!(
        created.elapsed() < Duration::from_millis(1200),
        "stopped before the expiry"
    );
    sleep(Duration::from_millis(2000).saturating_sub(created.elapsed())).await;
    assert!(
        log.of(&id).is_empty(),
        "nothing to report from while the database is down"
    );
    server.restart();
    let ends = log.wait_for(&id, 1, Duration::from_secs(8)).await;
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].reason(), EndReason::Expired);
    assert_eq!(
        ends[0].record().fields.get("user").unwrap().get(),
        r#""eve""#
    );
    drop(store);
}

#[actix_web::test]
async fn the_listener_stops_with_the_last_handle_of_the_store() {
    let table = unique_table();
    let listeners = || {
        postgres::shared().psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{table}'"
        ))
    };
    let url = format!("{} application_name={table}", postgres::shared().url());
    let (store, _log) = app_servers(1, || builder_on(&url, &table))
        .await
        .pop()
        .unwrap();
    assert_eq!(
        listeners(),
        "2",
        "the listener's connection and this runtime's"
    );
    let clone = store.clone();
    drop(store);
    sleep(Duration::from_millis(200)).await;
    assert_eq!(listeners(), "2", "a clone keeps it");
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(3);
    while listeners() != "0" && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(listeners(), "0", "the listener and the connections closed");
}

/// How many times each statement on `table` ran, by what it does (`pg_stat_statements`); the
/// listener's statements (its sweep and its `min(expire)`) and the start-up check (`connect`'s
/// count) apart.
fn statements_on(table: &str) -> Vec<(String, i64)> {
    let out = postgres::shared().psql(&format!(
        "SELECT what || ' ' || sum(calls) FROM (SELECT CASE \
           WHEN query LIKE '%SKIP LOCKED%' OR query LIKE '%min(expire)%' THEN 'listener' \
           WHEN query LIKE 'SELECT count(*)%' THEN 'listener' \
           WHEN query LIKE 'UPDATE % SET expire =%' THEN 'load_touched' \
           WHEN query LIKE 'WITH cur AS%' THEN 'compare_and_set' \
           WHEN query LIKE 'INSERT INTO%' THEN 'create' \
           WHEN query LIKE 'DELETE FROM % WHERE sid = $1::text RETURNING sess::text%' \
             THEN 'delete_returning' \
           ELSE query END AS what, calls \
         FROM pg_stat_statements WHERE query LIKE '%\"{table}\"%' \
           AND query NOT LIKE 'CREATE%') AS s WHERE what <> 'listener' \
         GROUP BY what ORDER BY what"
    ));
    out.lines()
        .map(|line| {
            let (what, calls) = line.rsplit_once(' ').unwrap();
            (what.to_owned(), calls.parse().unwrap())
        })
        .collect()
}

#[derive(actix_typed_session::SessionData, Default)]
struct Visit {
    views: u32,
}

async fn visit(mut session: Session<Visit>) -> String {
    session.views += 1;
    session.views.to_string()
}

async fn leave(session: Session<Visit>) -> Result<&'static str, actix_typed_session::SessionError> {
    session.destroy().await?;
    Ok("bye")
}

#[actix_web::test]
async fn with_an_end_callback_a_request_still_costs_one_statement_to_read_and_one_to_write() {
    postgres::shared().psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    let table = unique_table();
    let (store, log) = app_servers(1, || builder(&table)).await.pop().unwrap();
    let app = actix_test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/visit", web::get().to(visit))
            .route("/leave", web::get().to(leave)),
    )
    .await;
    let (_, headers, _) = get(&app, "/visit", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    get(&app, "/visit", Some(&cookie)).await;
    get(&app, "/visit", Some(&cookie)).await;
    let (_, _, body) = get(&app, "/leave", Some(&cookie)).await;
    assert_eq!(body, "bye");
    assert_eq!(
        statements_on(&table),
        [
            ("compare_and_set".to_owned(), 2),
            ("create".to_owned(), 1),
            ("delete_returning".to_owned(), 1),
            ("load_touched".to_owned(), 3),
        ],
        "the destroy answers the last data in its own statement"
    );
    let ends = log
        .wait_for(&id_of(&cookie), 1, Duration::from_secs(2))
        .await;
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reason(), EndReason::Destroyed);
    assert_eq!(ends[0].record().fields.get("views").unwrap().get(), "3");
}

// Through the middleware: the presence example's app on one app server, two more listening.

use presence::{end_line as presence_line, login, logout, Presence};

async fn whoami(session: Session<Presence>) -> String {
    session.user.clone().unwrap_or_default()
}

#[actix_web::test]
async fn the_presence_app_reports_each_end_once_across_three_app_servers() {
    let table = unique_table();
    let servers = app_servers(3, || builder(&table)).await;
    let logs = logs_of(&servers);
    let app = actix_test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(servers[0].0.clone(), SECRET)
                    .cookie_max_age(Some(Duration::from_millis(1000)))
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
    // A session kept alive by requests (rolling) past its first expiry, then left idle (each
    // request comes 750 ms before the expiry it renews: room for a loaded machine).
    let (_, headers, _) = get(&app, "/login?user=dave", None).await;
    let dave = set_cookie_named(&headers, "connect.sid").unwrap();
    for _ in 0..5 {
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
