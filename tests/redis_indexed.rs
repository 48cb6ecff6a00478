//! Sessions indexed by a field on `RedisStore` against real Redis servers
//! (`support::redis_server`): the index suite on a single server and on a three-master cluster;
//! the index key layout and its TTL; a session deleted behind the store's back (a Node app's
//! destroy) is not listed; and, under a mixed load of two app servers (creates, field changes,
//! renewals, destroys, regenerations, expiries), every user's listed sessions equal the live
//! ones at every check, and no index key is left once every session has expired.

mod support;

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use actix_typed_session::{
    store::{
        EndReason, IndexKey, OverLimit, RedisStoreBuilder, SaveOutcome, SaveRequest, SessionStore,
    },
    testing::{create, index::IndexSetup, json, record, unique_id, EndLog},
    ChangeSet, RedisStore, SessionCookie,
};
use actix_web::rt::time::sleep;
use futures_util::future::join_all;
use support::redis_server::{self, RedisServer};

const HOUR: Duration = Duration::from_secs(3600);

/// A command timeout for stores that the load below drives hard on a small, shared machine.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

fn fresh_prefix() -> String {
    format!("test:{}:", unique_id())
}

fn single_builder(prefix: &str) -> RedisStoreBuilder {
    RedisStore::builder(&redis_server::shared().url())
        .unwrap()
        .key_prefix(prefix)
        .command_timeout(LOAD_TIMEOUT)
}

fn cluster_builder(prefix: &str) -> RedisStoreBuilder {
    RedisStore::cluster_builder(redis_server::shared_cluster().urls())
        .unwrap()
        .key_prefix(prefix)
        .command_timeout(LOAD_TIMEOUT)
}

/// A store indexed by `user` as the suite's `setup` says, reporting ends and starts.
fn indexed(builder: RedisStoreBuilder, setup: &IndexSetup) -> RedisStore {
    let builder = builder
        .on_session_end(setup.ends.callback())
        .on_session_start(setup.starts.callback());
    match setup.limit {
        Some((max, over)) => builder.index_limit("user", max, over),
        None => builder.index("user"),
    }
    .try_build()
    .unwrap()
}

mod single_server {
    actix_typed_session::testing::index_acceptance_tests!(|setup| crate::indexed(
        crate::single_builder(&crate::fresh_prefix()),
        setup
    ));
}

mod cluster {
    actix_typed_session::testing::index_acceptance_tests!(|setup| crate::indexed(
        crate::cluster_builder(&crate::fresh_prefix()),
        setup
    ));
}

/// The node that holds `key`: the single server, or the cluster master that answers for it.
fn cli_on(nodes: &[RedisServer], args: &[&str]) -> String {
    for node in nodes {
        let answer = node.cli(args);
        if !answer.starts_with("MOVED") && !answer.contains("MOVED ") {
            return answer;
        }
    }
    panic!("no node answered {args:?}");
}

/// Every key that starts with `prefix`, on every node.
fn keys_on(nodes: &[RedisServer], prefix: &str) -> Vec<String> {
    let pattern = format!("{prefix}*");
    nodes
        .iter()
        .flat_map(|node| {
            node.cli(&["--raw", "keys", &pattern])
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn single_nodes() -> &'static [RedisServer] {
    std::slice::from_ref(redis_server::shared())
}

fn cluster_nodes() -> &'static [RedisServer] {
    redis_server::shared_cluster().nodes()
}

async fn listed(store: &RedisStore, key: &IndexKey) -> Vec<String> {
    let sessions = store.sessions_by(key).await.unwrap();
    sessions.into_iter().map(|s| s.id).collect()
}

#[actix_web::test]
async fn an_index_value_is_a_sorted_set_of_ids_scored_by_login_time_that_outlives_its_sessions() {
    let prefix = fresh_prefix();
    let store = single_builder(&prefix).index("user").build();
    let (short, long) = (unique_id(), unique_id());
    let before = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    create(
        &store,
        &short,
        &record(Duration::from_secs(60), &[("user", "\"ann\"")]),
    )
    .await;
    create(&store, &long, &record(HOUR, &[("user", "\"ann\"")])).await;
    let index_key = format!("{prefix}index:user:\"ann\"");
    let nodes = single_nodes();
    assert_eq!(cli_on(nodes, &["type", &index_key]).trim(), "zset");
    let score: i64 = cli_on(nodes, &["zscore", &index_key, &short])
        .trim()
        .parse()
        .unwrap();
    assert!(score >= before && score < before + 60_000, "{score}");
    let pttl = |key: &str| -> i64 { cli_on(nodes, &["pttl", key]).trim().parse().unwrap() };
    let session_ttl = pttl(&format!("{prefix}{long}"));
    assert!(
        pttl(&index_key) >= session_ttl - 2_000,
        "the index key outlives its sessions"
    );
    assert!(pttl(&index_key) <= HOUR.as_millis() as i64);

    // A renewal (a request's first read) moves the session's TTL, and its index key's with it.
    let renewing = unique_id();
    let mut brief = record(Duration::from_secs(100), &[("user", "\"bea\"")]);
    brief.cookie.set_max_age(Some(Duration::from_secs(100)));
    create(&store, &renewing, &brief).await;
    let bea_key = format!("{prefix}index:user:\"bea\"");
    // The stored cookie now says 200 s; the key still has 100 s.
    let mut changes = ChangeSet::new();
    changes.set("n", json("1"));
    let mut longer = brief.cookie.clone();
    longer.set_max_age(Some(Duration::from_secs(200)));
    let request = SaveRequest::Update {
        cookie: &longer,
        changes: &changes,
    };
    assert_eq!(
        store.save(&renewing, request).await.unwrap(),
        SaveOutcome::Saved
    );
    assert!(pttl(&bea_key) > 150_000, "a write renews the index key");
    cli_on(nodes, &["pexpire", &bea_key, "1000"]);
    store.load_touched(&renewing).await.unwrap().unwrap();
    assert!(pttl(&bea_key) > 150_000, "a renewal renews the index key");
}

/// The race between a renewal and the expiry of the session's index key: the index key outlives
/// its sessions, but a session renewed in its last moments is renewed on its own key first and on
/// its index key in a second command (on a Cluster they are on different nodes). When the index
/// key expires between the two, the renewal lists the session again: a live session is never
/// left out of its value's list (which "log out everywhere" reads).
#[actix_web::test]
async fn a_renewal_lists_the_session_again_when_its_index_key_expired_in_between() {
    for (builder, nodes) in [
        (
            single_builder as fn(&str) -> RedisStoreBuilder,
            single_nodes(),
        ),
        (cluster_builder, cluster_nodes()),
    ] {
        let prefix = fresh_prefix();
        let store = builder(&prefix).index("user").build();
        let key = IndexKey::new("user", "cy").unwrap();
        let (renewed, other) = (unique_id(), unique_id());
        create(&store, &renewed, &record(HOUR, &[("user", "\"cy\"")])).await;
        let index_key = format!("{prefix}index:user:\"cy\"");
        // The index key's expiry, as it happens between the session's renewal and its index
        // key's: the key is gone while the session lives.
        assert_eq!(cli_on(nodes, &["del", &index_key]).trim(), "1");
        store.load_touched(&renewed).await.unwrap().unwrap();
        assert_eq!(listed(&store, &key).await, vec![renewed.clone()]);
        let pttl: i64 = cli_on(nodes, &["pttl", &index_key]).trim().parse().unwrap();
        assert!(pttl > 3_000_000, "{pttl}");
        // A session that was taken off a list that still exists (moved to another value, or
        // ended) is not listed again by a renewal.
        create(&store, &other, &record(HOUR, &[("user", "\"cy\"")])).await;
        assert_eq!(cli_on(nodes, &["zrem", &index_key, &renewed]).trim(), "1");
        store.load_touched(&renewed).await.unwrap().unwrap();
        assert_eq!(listed(&store, &key).await, vec![other.clone()]);
    }
}

#[actix_web::test]
async fn a_session_deleted_behind_the_stores_back_is_not_listed_and_its_entry_is_dropped() {
    for (builder, nodes, cluster) in [
        (
            single_builder as fn(&str) -> RedisStoreBuilder,
            single_nodes(),
            false,
        ),
        (cluster_builder, cluster_nodes(), true),
    ] {
        let prefix = fresh_prefix();
        let store = builder(&prefix).index("user").build();
        let (kept, deleted) = (unique_id(), unique_id());
        create(&store, &kept, &record(HOUR, &[("user", "\"cy\"")])).await;
        create(&store, &deleted, &record(HOUR, &[("user", "\"cy\"")])).await;
        // What connect-redis's destroy does: a plain DEL of the session key.
        cli_on(nodes, &["del", &format!("{prefix}{deleted}")]);
        let key = IndexKey::new("user", "cy").unwrap();
        assert_eq!(listed(&store, &key).await, std::slice::from_ref(&kept));
        assert_eq!(store.count_by(&key).await.unwrap(), 1);
        assert_eq!(store.end_sessions_by(&key, None).await.unwrap(), 1);
        let index_key = format!("{prefix}index:user:\"cy\"");
        let left = cli_on(nodes, &["zcard", &index_key]);
        if cluster {
            // Young entries are left for a moment (a cluster write lists before it writes),
            // never shown.
            assert!(left.trim() == "0" || left.trim() == "1", "{left}");
        } else {
            assert_eq!(left.trim(), "0", "the stale entry was dropped");
        }
    }
}

#[actix_web::test]
async fn a_session_whose_value_another_program_changed_is_listed_under_the_new_one_once_written() {
    for (builder, nodes) in [
        (
            single_builder as fn(&str) -> RedisStoreBuilder,
            single_nodes(),
        ),
        (cluster_builder, cluster_nodes()),
    ] {
        let prefix = fresh_prefix();
        let store = builder(&prefix).index("user").build();
        let id = unique_id();
        create(
            &store,
            &id,
            &record(HOUR, &[("user", "\"dee\""), ("n", "1")]),
        )
        .await;
        let (dee, eve) = (
            IndexKey::new("user", "dee").unwrap(),
            IndexKey::new("user", "eve").unwrap(),
        );
        assert_eq!(listed(&store, &dee).await, std::slice::from_ref(&id));
        // A Node app logs the session in as someone else: it rewrites the JSON.
        let stored = store.load(&id).await.unwrap().unwrap().to_json();
        let changed = stored.replace("\"dee\"", "\"eve\"");
        let key = format!("{prefix}{id}");
        cli_on(nodes, &["set", &key, &changed, "keepttl"]);
        assert!(
            listed(&store, &dee).await.is_empty(),
            "not under the old value"
        );
        assert!(
            listed(&store, &eve).await.is_empty(),
            "not listed until written here"
        );
        let cookie = store.load(&id).await.unwrap().unwrap().cookie;
        let mut changes = ChangeSet::new();
        changes.set("n", json("2"));
        let request = SaveRequest::Update {
            cookie: &cookie,
            changes: &changes,
        };
        assert_eq!(store.save(&id, request).await.unwrap(), SaveOutcome::Saved);
        assert_eq!(listed(&store, &eve).await, [id]);
    }
}

#[actix_web::test]
async fn two_app_servers_revoking_and_displacing_at_once_report_each_end_once() {
    for builder in [
        single_builder as fn(&str) -> RedisStoreBuilder,
        cluster_builder,
    ] {
        let prefix = fresh_prefix();
        let (log_a, log_b) = (EndLog::new(), EndLog::new());
        let make = |log: &std::sync::Arc<EndLog>| {
            builder(&prefix)
                .index_limit("user", 3, OverLimit::EndOldest)
                .on_session_end(log.callback())
                .try_build()
                .unwrap()
        };
        let (a, b) = (make(&log_a), make(&log_b));
        let ids: Vec<String> = (0..6).map(|_| unique_id()).collect();
        for (n, id) in ids.iter().enumerate() {
            let store = if n % 2 == 0 { &a } else { &b };
            create(store, id, &record(HOUR, &[("user", "\"fay\"")])).await;
            sleep(Duration::from_millis(3)).await;
        }
        let key = IndexKey::new("user", "fay").unwrap();
        // The three oldest made room for the three newest, one at a time.
        assert_eq!(listed(&a, &key).await, &ids[3..]);
        let (by_a, by_b) = futures_util::future::join(
            a.end_sessions_by(&key, None),
            b.end_sessions_by(&key, None),
        )
        .await;
        assert_eq!(
            by_a.unwrap() + by_b.unwrap(),
            3,
            "each ended by one of them"
        );
        assert!(listed(&b, &key).await.is_empty());
        sleep(Duration::from_millis(200)).await;
        for (n, id) in ids.iter().enumerate() {
            let ends: Vec<EndReason> = log_a
                .of(id)
                .into_iter()
                .chain(log_b.of(id))
                .map(|e| e.reason())
                .collect();
            let reason = if n < 3 {
                EndReason::Displaced
            } else {
                EndReason::Revoked
            };
            assert_eq!(ends, [reason], "session {n} reported once");
        }
    }
}

#[actix_web::test]
async fn a_write_whose_cookie_has_expired_ends_the_session_and_removes_its_entry() {
    let prefix = fresh_prefix();
    let store = single_builder(&prefix)
        .index("user")
        .on_session_end(|_| {})
        .try_build()
        .unwrap();
    let id = unique_id();
    create(&store, &id, &record(HOUR, &[("user", "\"ivy\"")])).await;
    let index_key = format!("{prefix}index:user:\"ivy\"");
    assert_eq!(cli_on(single_nodes(), &["zcard", &index_key]).trim(), "1");
    let mut expired = SessionCookie::default();
    expired.set_expires(Some(
        time::OffsetDateTime::now_utc() - Duration::from_secs(1),
    ));
    let request = SaveRequest::Update {
        cookie: &expired,
        changes: &ChangeSet::new(),
    };
    assert_eq!(store.save(&id, request).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(store.load(&id).await.unwrap(), None, "ended");
    // Not left for a read to drop: the key is gone at once.
    assert_eq!(cli_on(single_nodes(), &["zcard", &index_key]).trim(), "0");
}

#[actix_web::test]
async fn on_a_single_server_concurrent_logins_on_two_app_servers_never_exceed_the_limit() {
    let prefix = fresh_prefix();
    let make = || {
        single_builder(&prefix)
            .index_limit("user", 2, OverLimit::Refuse)
            .build()
    };
    let (a, b) = (make(), make());
    let ids: Vec<String> = (0..20).map(|_| unique_id()).collect();
    let stored = record(HOUR, &[("user", "\"joy\"")]);
    let logins = ids.iter().enumerate().map(|(n, id)| {
        let store = if n % 2 == 0 { &a } else { &b };
        store.save(id, SaveRequest::Create(&stored))
    });
    let outcomes: Vec<SaveOutcome> = join_all(logins)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let saved = outcomes
        .iter()
        .filter(|o| **o == SaveOutcome::Saved)
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| **o == SaveOutcome::Refused)
        .count();
    assert_eq!((saved, refused), (2, 18));
    let key = IndexKey::new("user", "joy").unwrap();
    assert_eq!(a.count_by(&key).await.unwrap(), 2);
    let mut stored_ids = 0;
    for id in &ids {
        stored_ids += usize::from(a.load(id).await.unwrap().is_some());
    }
    assert_eq!(stored_ids, 2, "a refused login wrote nothing");
}

#[actix_web::test]
async fn on_a_cluster_concurrent_logins_displacing_the_oldest_come_back_to_the_limit() {
    let prefix = fresh_prefix();
    let log = EndLog::new();
    let make = || {
        cluster_builder(&prefix)
            .index_limit("user", 2, OverLimit::EndOldest)
            .on_session_end(log.callback())
            .try_build()
            .unwrap()
    };
    let (a, b) = (make(), make());
    let ids: Vec<String> = (0..20).map(|_| unique_id()).collect();
    let stored = record(HOUR, &[("user", "\"kit\"")]);
    let logins = ids.iter().enumerate().map(|(n, id)| {
        let store = if n % 2 == 0 { &a } else { &b };
        store.save(id, SaveRequest::Create(&stored))
    });
    for outcome in join_all(logins).await {
        assert_eq!(outcome.unwrap(), SaveOutcome::Saved);
    }
    let key = IndexKey::new("user", "kit").unwrap();
    assert_eq!(a.count_by(&key).await.unwrap(), 2);
    sleep(Duration::from_millis(200)).await;
    let mut displaced = 0;
    for id in &ids {
        let ends = log.of(id);
        assert!(ends.len() <= 1, "reported once");
        if let Some(end) = ends.first() {
            assert_eq!(end.reason(), EndReason::Displaced);
            assert_eq!(a.load(id).await.unwrap(), None);
            displaced += 1;
        }
    }
    assert_eq!(displaced, 18);
}

#[actix_web::test]
async fn on_a_cluster_concurrent_logins_refused_over_the_limit_leave_the_earliest() {
    let prefix = fresh_prefix();
    let make = || {
        cluster_builder(&prefix)
            .index_limit("user", 2, OverLimit::Refuse)
            .build()
    };
    let (a, b) = (make(), make());
    let ids: Vec<String> = (0..20).map(|_| unique_id()).collect();
    let stored = record(HOUR, &[("user", "\"lou\"")]);
    let logins = ids.iter().enumerate().map(|(n, id)| {
        let store = if n % 2 == 0 { &a } else { &b };
        store.save(id, SaveRequest::Create(&stored))
    });
    let outcomes: Vec<SaveOutcome> = join_all(logins)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let saved: Vec<&String> = ids
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == SaveOutcome::Saved)
        .map(|(id, _)| id)
        .collect();
    assert!(
        !saved.is_empty() && saved.len() <= 2,
        "{} of 20 accepted",
        saved.len()
    );
    let key = IndexKey::new("user", "lou").unwrap();
    let mut listed = listed(&a, &key).await;
    listed.sort();
    let mut accepted: Vec<String> = saved.into_iter().cloned().collect();
    accepted.sort();
    assert_eq!(
        listed, accepted,
        "the accepted ones, and only they, are listed"
    );
    for (id, outcome) in ids.iter().zip(&outcomes) {
        let stored = a.load(id).await.unwrap();
        assert_eq!(stored.is_some(), *outcome == SaveOutcome::Saved);
    }
}

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the test knows of a session it wrote.
struct Known {
    user: Option<u64>,
    expires: Instant,
    lifetime: Duration,
}

const USERS: u64 = 100;
const SESSIONS: usize = 10_000;
const CHECK_EVERY: usize = 1_000;
/// How close to its expiry a session is neither surely live nor surely gone.
const MARGIN: Duration = Duration::from_millis(150);

fn user_json(user: u64) -> String {
    format!("\"u{user}\"")
}

/// One operation of the load, on sessions no other operation of its batch touches.
enum Op {
    Create {
        id: String,
        user: Option<u64>,
        lifetime: Duration,
    },
    Change {
        id: String,
        user: Option<u64>,
        lifetime: Duration,
    },
    Renew {
        id: String,
    },
    Destroy {
        id: String,
    },
    /// Ends `id` as regenerated and stores its data under `new_id` (cycle_id).
    Regenerate {
        id: String,
        new_id: String,
        lifetime: Duration,
    },
}

/// What an operation did, for the model.
enum Done {
    /// Session `id` now holds `user` and expires `lifetime` after `sent`.
    Written {
        id: String,
        user: Option<u64>,
        sent: Instant,
    },
    /// Session `id` was renewed at `sent`.
    Renewed { id: String, sent: Instant },
    /// Session `id` ended (or had expired) at `at`.
    Ended { id: String, at: Instant },
    /// Session `id` was not stored any more (it had expired).
    Gone { id: String },
    /// `id` ended at `at`; `new_id`, holding `user`, was created at `sent`.
    Moved {
        id: String,
        at: Instant,
        new_id: String,
        sent: Instant,
    },
}

async fn run(store: &RedisStore, op: Op) -> Done {
    match op {
        Op::Create { id, user, lifetime } => {
            let user = user.map(user_json);
            let mut fields = vec![("n", "1")];
            if let Some(user) = &user {
                fields.push(("user", user));
            }
            let sent = Instant::now();
            create(store, &id, &record(lifetime, &fields)).await;
            let user = user.map(|u| u[2..u.len() - 1].parse().unwrap());
            Done::Written { id, user, sent }
        }
        Op::Change { id, user, lifetime } => {
            let mut changes = ChangeSet::new();
            match user {
                Some(u) => changes.set("user", json(&user_json(u))),
                None => changes.remove("user"),
            }
            let mut cookie = SessionCookie::default();
            cookie.set_max_age(Some(lifetime));
            let sent = Instant::now();
            let request = SaveRequest::Update {
                cookie: &cookie,
                changes: &changes,
            };
            match store.save(&id, request).await.unwrap() {
                SaveOutcome::Saved => Done::Written { id, user, sent },
                SaveOutcome::Gone => Done::Gone { id },
                other => panic!("update: {other:?}"),
            }
        }
        Op::Renew { id } => {
            let sent = Instant::now();
            match store.load_touched(&id).await.unwrap() {
                Some(_) => Done::Renewed { id, sent },
                None => Done::Gone { id },
            }
        }
        Op::Destroy { id } => {
            let at = Instant::now();
            store.destroy(&id).await.unwrap();
            Done::Ended { id, at }
        }
        Op::Regenerate {
            id,
            new_id,
            lifetime,
        } => {
            let Some(mut moved) = store.load(&id).await.unwrap() else {
                return Done::Gone { id };
            };
            let at = Instant::now();
            store.end(&id, EndReason::Regenerated).await.unwrap();
            moved.cookie.set_max_age(Some(lifetime));
            let sent = Instant::now();
            create(store, &new_id, &moved).await;
            Done::Moved {
                id,
                at,
                new_id,
                sent,
            }
        }
    }
}

/// How many operations run at once (on distinct sessions), half on each app server.
const BATCH: usize = 32;

/// Two app servers (two stores) with one prefix create 10^4 sessions over 100 users with
/// lifetimes of 0.3 to 2 s, and change users, renew, destroy and regenerate them; every 1,000
/// operations each user's listed sessions are compared with the sessions the test knows are live;
/// once every session has expired, no key of the prefix is left.
async fn the_index_equals_the_live_sessions(
    builder: fn(&str) -> RedisStoreBuilder,
    nodes: &[RedisServer],
) {
    let prefix = fresh_prefix();
    // One app server reports ends (its listener removes expired sessions from the index), the
    // other does not (reads drop them, and the index keys expire).
    let a = builder(&prefix)
        .index("user")
        .on_session_end(|_| {})
        .try_build()
        .unwrap();
    let b = builder(&prefix).index("user").build();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut ids: Vec<String> = Vec::new();
    let (mut created, mut ops, mut checks) = (0, 0, 0);
    let started = Instant::now();
    let mut checking = Duration::ZERO;
    while created < SESSIONS {
        let mut batch = Vec::with_capacity(BATCH);
        let mut touched = HashSet::new();
        while batch.len() < BATCH {
            let pick = (!ids.is_empty()).then(|| ids[rng.below(ids.len() as u64) as usize].clone());
            let kind = rng.below(100);
            let lifetime = Duration::from_millis(300 + rng.below(1700));
            let op = match (kind, pick) {
                (0..=49, _) | (_, None) => {
                    let user = (rng.below(10) != 0).then(|| rng.below(USERS));
                    created += 1;
                    Op::Create {
                        id: unique_id(),
                        user,
                        lifetime,
                    }
                }
                (_, Some(id)) if !touched.insert(id.clone()) => continue,
                (50..=64, Some(id)) => {
                    let user = (rng.below(5) != 0).then(|| rng.below(USERS));
                    Op::Change {
                        lifetime: known[&id].lifetime,
                        id,
                        user,
                    }
                }
                (65..=74, Some(id)) => Op::Renew { id },
                (75..=86, Some(id)) => Op::Destroy { id },
                (_, Some(id)) => Op::Regenerate {
                    lifetime: known[&id].lifetime,
                    id,
                    new_id: unique_id(),
                },
            };
            if let Op::Create { id, user, lifetime } = &op {
                known.insert(
                    id.clone(),
                    Known {
                        user: *user,
                        expires: Instant::now() + Duration::from_secs(3600),
                        lifetime: *lifetime,
                    },
                );
            }
            batch.push(op);
        }
        let runs = batch
            .into_iter()
            .enumerate()
            .map(|(n, op)| run(if n % 2 == 0 { &a } else { &b }, op));
        for done in join_all(runs).await {
            match done {
                Done::Written { id, user, sent } => {
                    let session = known.get_mut(&id).unwrap();
                    session.user = user;
                    session.expires = sent + session.lifetime;
                    ids.push(id);
                }
                Done::Renewed { id, sent } => {
                    let session = known.get_mut(&id).unwrap();
                    session.expires = sent + session.lifetime;
                }
                Done::Ended { id, at } => {
                    let session = known.get_mut(&id).unwrap();
                    session.expires = session.expires.min(at);
                }
                Done::Gone { id } => {
                    let session = known.get_mut(&id).unwrap();
                    assert!(
                        session.expires < Instant::now() + MARGIN,
                        "gone before expiry"
                    );
                }
                Done::Moved {
                    id,
                    at,
                    new_id,
                    sent,
                } => {
                    let old = known.get_mut(&id).unwrap();
                    old.expires = old.expires.min(at);
                    let (user, lifetime) = (old.user, old.lifetime);
                    let expires = sent + lifetime;
                    known.insert(
                        new_id.clone(),
                        Known {
                            user,
                            expires,
                            lifetime,
                        },
                    );
                    ids.push(new_id);
                }
            }
            ops += 1;
        }
        // Between batches, when every answer is in the model.
        if ops / CHECK_EVERY > checks {
            let t = Instant::now();
            check(&a, &b, &known, checks).await;
            checking += t.elapsed();
            checks += 1;
            // Forget sessions surely gone, so that picks find live ones.
            let horizon = Instant::now() - MARGIN;
            ids.retain(|id| known[id].expires > horizon);
            ids.sort();
            ids.dedup();
        }
    }
    check(&a, &b, &known, checks).await;
    let load = started.elapsed();
    let last = known.values().map(|k| k.expires).max().unwrap();
    sleep(last.saturating_duration_since(Instant::now()) + Duration::from_millis(300)).await;
    // Before any read of the index, which would drop what is left.
    let left = keys_on(nodes, &prefix);
    assert!(
        left.is_empty(),
        "{} keys left, e.g. {:?}",
        left.len(),
        left.first()
    );
    for user in 0..USERS {
        let key = IndexKey::new("user", &format!("u{user}")).unwrap();
        assert!(
            listed(&a, &key).await.is_empty(),
            "user {user} after every expiry"
        );
    }
    println!(
        "{ops} operations ({SESSIONS} sessions created) and {} checks in {load:?} \
         ({checking:?} checking)",
        checks + 1
    );
}

/// Every user's listed sessions, on both app servers, against the sessions the test knows.
async fn check(a: &RedisStore, b: &RedisStore, known: &HashMap<String, Known>, n: usize) {
    let keys: Vec<IndexKey> = (0..USERS)
        .map(|user| IndexKey::new("user", &format!("u{user}")).unwrap())
        .collect();
    let before = Instant::now();
    let queries = keys.iter().enumerate().map(|(user, key)| {
        let store = if (user + n).is_multiple_of(2) { a } else { b };
        listed(store, key)
    });
    let answers = join_all(queries).await;
    let after = Instant::now();
    let mut live: Vec<HashSet<&str>> = vec![HashSet::new(); USERS as usize];
    for (id, session) in known {
        if let Some(user) = session.user {
            if session.expires > after + MARGIN {
                live[user as usize].insert(id);
            }
        }
    }
    for (user, listed) in answers.into_iter().enumerate() {
        let listed: HashSet<&str> = listed.iter().map(String::as_str).collect();
        assert!(
            live[user].is_subset(&listed),
            "check {n}: {} live sessions of u{user} are missing",
            live[user].difference(&listed).count()
        );
        for id in listed {
            let session = known.get(id).expect("a session the test wrote");
            assert_eq!(
                session.user,
                Some(user as u64),
                "check {n}: listed under another user"
            );
            assert!(
                session.expires > before - MARGIN,
                "check {n}: a session of u{user} that ended is listed"
            );
        }
    }
}

#[actix_web::test]
async fn on_a_single_server_the_index_equals_the_live_sessions_and_leaves_no_key() {
    the_index_equals_the_live_sessions(single_builder, single_nodes()).await;
}

#[actix_web::test]
async fn on_a_cluster_the_index_equals_the_live_sessions_and_leaves_no_key() {
    the_index_equals_the_live_sessions(cluster_builder, cluster_nodes()).await;
}
