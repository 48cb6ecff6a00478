//! `RedisStore` against real Redis servers started by the harness (`support::redis_server`): the
//! store acceptance suite on a single server, on a three-master cluster and on the servers with
//! a compare-and-set of their own (Valkey 8.1 and Redis 8.4 or later), connect-redis's key layout
//! and TTLs, byte fidelity of merged saves, concurrent requests on one session, and the Redis
//! round trips each kind of request costs.

mod common;
mod support;

use std::{
    collections::BTreeSet,
    future::Future,
    io::{Read as _, Write as _},
    net::TcpStream,
    sync::{mpsc, Arc, Barrier},
    thread,
    time::Duration,
};

use actix_typed_session::testing::{self as acceptance, json, record, unique_id};
use actix_typed_session::{
    store::{SaveOutcome, SaveRequest, SessionStore, StoreErrorKind},
    ChangeSet, Record, RedisStore, Session, SessionCookie, SessionData, SessionError,
    SessionMiddleware,
};
use actix_web::{
    dev::ServerHandle,
    rt::{self, System},
    test as actix_test, web, App, HttpServer,
};
use common::{get, id_of, pair, set_cookie_named, SECRET};
use support::redis_server::{self, CommandLog, NativeCas, RedisServer};
use time::OffsetDateTime;

const HOUR: Duration = Duration::from_secs(3600);

/// A store on the shared server, with a key prefix of its own.
fn single() -> RedisStore {
    store_on(redis_server::shared())
}

/// A store on `server`, with a key prefix of its own.
fn store_on(server: &RedisServer) -> RedisStore {
    RedisStore::builder(&server.url())
        .unwrap()
        .key_prefix(format!("test:{}:", unique_id()))
        .command_timeout(redis_server::GENEROUS_TIMEOUT)
        .build()
}

/// A store on the shared cluster, with a key prefix of its own.
fn cluster() -> RedisStore {
    RedisStore::cluster_builder(redis_server::shared_cluster().urls())
        .unwrap()
        .key_prefix(format!("test:{}:", unique_id()))
        .command_timeout(redis_server::GENEROUS_TIMEOUT)
        .build()
}

mod single_server {
    actix_typed_session::testing::store_acceptance_tests!(crate::single);
}

mod cluster {
    actix_typed_session::testing::store_acceptance_tests!(crate::cluster);
}

/// The store on a server with a compare-and-set of its own (`SET … IFEQ`, which its saves send
/// instead of a script): the acceptance suite, and the behaviours the compare-and-set carries
/// (a merge onto a concurrent write or destroy, concurrent saves and requests, the commands of
/// each kind of request), each as on Redis 7 above.
macro_rules! native_cas_tests {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::*;

            /// A store on the shared server of this kind, with a key prefix of its own.
            fn store() -> RedisStore {
                store_on($kind.shared())
            }

            mod acceptance_suite {
                actix_typed_session::testing::store_acceptance_tests!(super::store);
            }

            #[actix_web::test]
            async fn a_save_after_a_load_merges_onto_what_the_server_holds_now_by_set_ifeq() {
                a_save_after_a_load_merges_onto_what_the_server_holds_now($kind.shared(), store())
                    .await;
            }

            #[test]
            fn two_hundred_concurrent_saves_of_different_fields_all_survive() {
                concurrent_saves_of_different_fields_all_survive(store());
            }

            #[test]
            fn a_destroy_racing_a_hundred_saves_leaves_the_session_destroyed() {
                a_destroy_racing_saves_leaves_the_session_destroyed(store());
            }

            #[test]
            fn two_hundred_concurrent_requests_setting_different_fields_all_survive() {
                concurrent_requests_setting_different_fields_all_survive(&$kind.start());
            }

            #[test]
            fn a_destroy_racing_a_hundred_requests_leaves_the_session_destroyed() {
                a_destroy_racing_requests_leaves_the_session_destroyed(&$kind.start());
            }

            #[actix_web::test]
            async fn round_trips_per_request_kind() {
                // The compare-and-set save is one `SET … IFEQ … PX`, no script.
                super::round_trips_per_request_kind(&$kind.start(), "SET").await;
            }

            /// See [`redis_cpu_per_request`](super::redis_cpu_per_request).
            #[actix_web::test]
            #[ignore = "a measurement, not a test"]
            async fn cpu_per_request() {
                redis_cpu_per_request_on(&$kind.start()).await;
            }
        }
    };
}

native_cas_tests!(valkey_server, NativeCas::Valkey);
native_cas_tests!(redis8_server, NativeCas::Redis8);

/// The JSON of a cookie object, as express-session writes it.
fn cookie_json(cookie: &SessionCookie) -> String {
    let record = Record::new(cookie.clone()).to_json();
    record["{\"cookie\":".len()..record.len() - 1].to_owned()
}

/// An ISO-8601 instant, as JavaScript's `toISOString`.
fn iso(t: OffsetDateTime) -> String {
    let mut cookie = SessionCookie::default();
    cookie.set_expires(Some(t));
    let json = cookie_json(&cookie);
    let start = json.find("\"expires\":\"").unwrap() + "\"expires\":\"".len();
    json[start..start + 24].to_owned()
}

#[track_caller]
fn pttl(server: &RedisServer, key: &str) -> i64 {
    server.cli(&["pttl", key]).trim().parse().unwrap()
}

#[track_caller]
fn assert_between(value: i64, low: i64, high: i64) {
    assert!(
        (low..=high).contains(&value),
        "{value} is not in {low}..={high}"
    );
}

#[test]
fn the_store_is_a_send_sync_handle() {
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    send_sync::<RedisStore>();
}

/// The read a request starts with (`load_touched`, boxed once per request by the middleware) is
/// a block that glibc's per-thread cache hands out (up to 1,032 bytes): a larger one takes
/// `malloc`'s slow path on every request that carries a session cookie.
#[actix_web::test]
async fn the_read_boxed_for_every_request_fits_the_allocators_thread_cache() {
    let server = redis_server::shared();
    for touch_after in [None, Some(Duration::from_secs(60))] {
        let mut builder = RedisStore::builder(&server.url()).unwrap();
        if let Some(after) = touch_after {
            builder = builder.touch_after(after);
        }
        let store = builder.build();
        let id = unique_id();
        acceptance::create(&store, &id, &record(HOUR, &[("user", r#""bob""#)])).await;
        let read = SessionStore::load_touched(&store, &id);
        let size = std::mem::size_of_val(&read);
        let loaded = read.await.unwrap().expect("the session");
        assert_eq!(loaded.fields.get("user").map(|v| v.get()), Some(r#""bob""#));
        assert!(
            size <= 1032,
            "{size} bytes with touch_after {touch_after:?}"
        );
        store.destroy(&id).await.unwrap();
    }
}

#[actix_web::test]
async fn a_session_is_express_json_under_sess_id_with_the_cookie_ttl() {
    let server = redis_server::shared();
    let store = RedisStore::new(&server.url()).unwrap();
    assert_eq!(store.key_prefix(), "sess:");
    let id = unique_id();
    let session = record(HOUR, &[("user", r#""bob""#)]);
    acceptance::create(&store, &id, &session).await;
    let key = format!("sess:{id}");
    assert_eq!(store.key(&id), key);
    assert_eq!(server.cli(&["get", &key]).trim_end(), session.to_json());
    assert_between(pttl(server, &key), 3_595_000, 3_600_000);
    store.destroy(&id).await.unwrap();
}

#[actix_web::test]
async fn browser_session_cookies_live_the_default_ttl_renewed_by_saves_and_touches() {
    let server = redis_server::shared();
    let store = RedisStore::builder(&server.url())
        .unwrap()
        .default_ttl(Duration::from_secs(300))
        .build();
    let (id, key) = {
        let id = unique_id();
        let key = store.key(&id);
        (id, key)
    };
    let session = Record::new(SessionCookie::default());
    acceptance::create(&store, &id, &session).await;
    assert_between(pttl(server, &key), 295_000, 300_000);

    server.cli(&["pexpire", &key, "1000"]);
    let mut changes = ChangeSet::new();
    changes.set("views", json("1"));
    let outcome = acceptance::update(&store, &id, &session.cookie, &changes).await;
    assert_eq!(outcome, SaveOutcome::Saved);
    assert_between(pttl(server, &key), 295_000, 300_000);

    server.cli(&["pexpire", &key, "1000"]);
    let touched = store.touch(&id, None).await.unwrap();
    assert_eq!(
        touched,
        Some(session.cookie.clone()),
        "a browser-session cookie has no expiry to move"
    );
    assert_between(pttl(server, &key), 295_000, 300_000);
    store.destroy(&id).await.unwrap();
}

#[actix_web::test]
async fn a_save_keeps_the_bytes_of_the_fields_it_does_not_change() {
    let server = redis_server::shared();
    let store = single();
    let id = unique_id();
    let key = store.key(&id);
    let expires = iso(OffsetDateTime::now_utc() + HOUR);
    // As another implementation might have written it: number formats, escapes and spacing
    // that a JSON re-encoder would change.
    let stored = format!(
        r#"{{"cookie":{{"originalMaxAge":3600000,"expires":"{expires}","httpOnly":true,"path":"/"}},"n":1.50,"big":12345678901234567890,"s":"caf\u00e9 \"q\" \/","o":{{"b":1, "a":[1e3, {{}}]}},"gone":true,"caf\u00e9":0}}"#
    );
    server.cli(&["set", &key, &stored, "px", "3600000"]);

    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(2 * HOUR));
    let mut changes = ChangeSet::new();
    changes.set("n", json("2"));
    changes.remove("gone");
    changes.set("added", json(r#"{"x":[1,2]}"#));
    changes.remove("café");
    let outcome = acceptance::update(&store, &id, &cookie, &changes).await;
    assert_eq!(outcome, SaveOutcome::Saved);

    let want = format!(
        r#"{{"cookie":{},"n":2,"big":12345678901234567890,"s":"caf\u00e9 \"q\" \/","o":{{"b":1, "a":[1e3, {{}}]}},"added":{{"x":[1,2]}}}}"#,
        cookie_json(&cookie)
    );
    assert_eq!(server.cli(&["get", &key]).trim_end(), want);
    assert_between(pttl(server, &key), 7_195_000, 7_200_000);
    let loaded = store.load(&id).await.unwrap().expect("stored");
    assert_eq!(loaded.to_json(), want);
}

#[actix_web::test]
async fn a_save_after_a_load_merges_onto_what_redis_holds_now() {
    a_save_after_a_load_merges_onto_what_the_server_holds_now(redis_server::shared(), single())
        .await;
}

async fn a_save_after_a_load_merges_onto_what_the_server_holds_now(
    server: &RedisServer,
    store: RedisStore,
) {
    // The save compares what it loaded with what is stored: a write in between is merged onto,
    // a destroy in between is not undone, and a layout of another program is left to the script.
    let id = unique_id();
    let key = store.key(&id);
    let created = record(HOUR, &[("a", "1"), ("b", "2")]);
    acceptance::create(&store, &id, &created).await;
    let loaded = store.load_touched(&id).await.unwrap().expect("stored");

    // Another program changes `b` meanwhile.
    let mut other = ChangeSet::new();
    other.set("b", json("20"));
    let mut meanwhile = created.clone();
    meanwhile.fields.apply(&other);
    server.cli(&["set", &key, &meanwhile.to_json(), "px", "3600000"]);
    let mut changes = ChangeSet::new();
    changes.set("a", json("10"));
    changes.set("c", json(r#""new""#));
    assert_eq!(
        acceptance::update(&store, &id, &loaded.cookie, &changes).await,
        SaveOutcome::Saved
    );
    let mut want = created.clone();
    want.cookie = loaded.cookie.clone();
    want.fields.apply(&other);
    want.fields.apply(&changes);
    assert_eq!(server.cli(&["get", &key]).trim_end(), want.to_json());
    assert_between(pttl(server, &key), 3_595_000, 3_600_000);

    // Written by someone else in another layout after the load: merged as text, bytes kept.
    store.load(&id).await.unwrap().expect("stored");
    let spaced = format!(
        r#"{{"cookie":{}, "a":1.50, "café":true}}"#,
        cookie_json(&loaded.cookie)
    );
    server.cli(&["set", &key, &spaced, "px", "3600000"]);
    assert_eq!(
        acceptance::update(&store, &id, &loaded.cookie, &changes).await,
        SaveOutcome::Saved
    );
    assert_eq!(
        server.cli(&["get", &key]).trim_end(),
        format!(
            r#"{{"cookie":{},"a":10,"café":true,"c":"new"}}"#,
            cookie_json(&loaded.cookie)
        )
    );

    // Destroyed after the load: the save writes nothing.
    store.load_touched(&id).await.unwrap().expect("stored");
    server.cli(&["del", &key]);
    assert_eq!(
        acceptance::update(&store, &id, &loaded.cookie, &changes).await,
        SaveOutcome::Gone
    );
    assert_eq!(server.cli(&["exists", &key]).trim(), "0");
}

#[actix_web::test]
async fn a_touch_writes_the_renewed_expiry_into_the_stored_json_as_javascript_would() {
    let server = redis_server::shared();
    let store = single();
    for max_age in [
        Duration::from_millis(1500),
        Duration::from_secs(400 * 24 * 3600),
        Duration::from_secs(90 * 365 * 24 * 3600),
    ] {
        let id = unique_id();
        // A renewable lifetime of `max_age`, and an expiry that is near.
        let json = format!(
            r#"{{"cookie":{{"originalMaxAge":{},"partitioned":true,"priority":"high","expires":"{}","secure":true,"httpOnly":false,"domain":"example.com","path":"/app","sameSite":"lax"}},"user":"bob","n":1.0}}"#,
            max_age.as_millis(),
            iso(OffsetDateTime::now_utc() + Duration::from_secs(5))
        );
        server.cli(&["set", &store.key(&id), &json, "px", "5000"]);

        let before = OffsetDateTime::now_utc();
        let touched = store.touch(&id, None).await.unwrap().expect("stored");
        let after = OffsetDateTime::now_utc();
        let expires = touched.expires().unwrap();
        assert!(
            expires >= before + max_age - Duration::from_millis(1) && expires <= after + max_age
        );
        assert_eq!(
            touched.original_max_age_ms(),
            Some(max_age.as_millis() as i64)
        );

        let mut want = Record::from_json(&json).unwrap();
        want.cookie = touched;
        assert_eq!(
            server.cli(&["get", &store.key(&id)]).trim_end(),
            want.to_json()
        );
        let ttl = pttl(server, &store.key(&id));
        assert_between(
            ttl,
            max_age.as_millis() as i64 - 5_000,
            max_age.as_millis() as i64,
        );
    }
}

#[actix_web::test]
async fn a_first_read_renews_the_key_alone_as_connect_redis_touches() {
    let server = redis_server::shared();
    let store = single();
    let soon = iso(OffsetDateTime::now_utc() + Duration::from_secs(10));
    // express's layout: the key's TTL moves (`PEXPIRE`), the JSON is left as it was.
    for (json, ttl) in [
        (
            format!(
                r#"{{"cookie":{{"originalMaxAge":3600000,"expires":"{soon}","httpOnly":true,"path":"/"}},"user":"bob"}}"#
            ),
            3_600_000,
        ),
        (
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"user":"bob"}"#
                .to_owned(),
            24 * 3_600_000,
        ),
    ] {
        let id = unique_id();
        let key = store.key(&id);
        server.cli(&["set", &key, &json, "px", "10000"]);
        let loaded = store.load_touched(&id).await.unwrap().expect("stored");
        assert_eq!(loaded.to_json(), json, "answered as it was before the renewal");
        assert_eq!(server.cli(&["get", &key]).trim_end(), json);
        assert_between(pttl(server, &key), ttl - 5_000, ttl);
        // Later loads follow the key's TTL.
        let later = store.load(&id).await.unwrap().expect("stored");
        if let Some(expires) = later.cookie.expires() {
            assert!(expires > OffsetDateTime::now_utc() + Duration::from_secs(3590));
        }
        store.destroy(&id).await.unwrap();
    }

    // Another layout (the cookie after the data) is renewed in the JSON, in the same round trip.
    let id = unique_id();
    let key = store.key(&id);
    let json = format!(
        r#"{{"user":"bob","cookie":{{"originalMaxAge":3600000,"expires":"{soon}","httpOnly":true,"path":"/"}}}}"#
    );
    server.cli(&["set", &key, &json, "px", "10000"]);
    let loaded = store.load_touched(&id).await.unwrap().expect("stored");
    assert_eq!(loaded.fields.get("user").map(|v| v.get()), Some(r#""bob""#));
    let stored = Record::from_json(server.cli(&["get", &key]).trim_end()).unwrap();
    assert!(
        stored.cookie.expires().unwrap() > OffsetDateTime::now_utc() + Duration::from_secs(3590)
    );
    assert_between(pttl(server, &key), 3_595_000, 3_600_000);

    // A lifetime of zero ends the session.
    let json = r#"{"cookie":{"originalMaxAge":0,"expires":null,"httpOnly":true,"path":"/"}}"#;
    server.cli(&["set", &key, json, "px", "10000"]);
    assert!(store.load_touched(&id).await.unwrap().is_none());
    assert_eq!(server.cli(&["exists", &key]).trim(), "0");
}

#[actix_web::test]
async fn a_key_kept_alive_by_expire_alone_loads_with_the_key_expiry() {
    // connect-redis's touch is `EXPIRE`: the JSON's `expires` stays where the last save put it.
    let server = redis_server::shared();
    let store = single();
    let id = unique_id();
    let key = store.key(&id);
    let stale = OffsetDateTime::now_utc() - Duration::from_secs(30);
    let json = format!(
        r#"{{"cookie":{{"originalMaxAge":60000,"expires":"{}","httpOnly":true,"path":"/"}},"user":"bob"}}"#,
        iso(stale)
    );
    server.cli(&["set", &key, &json, "ex", "60"]);

    let before = OffsetDateTime::now_utc();
    let loaded = store.load(&id).await.unwrap().expect("the key is alive");
    let expires = loaded.cookie.expires().unwrap();
    assert!(
        expires > before + Duration::from_secs(58) && expires <= before + Duration::from_secs(61),
        "{expires} does not follow the key's TTL"
    );
    assert_eq!(loaded.cookie.original_max_age_ms(), Some(60_000));
    assert_eq!(loaded.fields.get("user").map(|v| v.get()), Some(r#""bob""#));
    assert_eq!(
        server.cli(&["get", &key]).trim_end(),
        json,
        "loading writes nothing"
    );

    // An `expires` that agrees with the TTL (connect-redis rounds up to seconds) is kept as is.
    let expires = iso(OffsetDateTime::now_utc() + Duration::from_millis(59_400));
    let json = format!(
        r#"{{"cookie":{{"originalMaxAge":60000,"expires":"{expires}","httpOnly":true,"path":"/"}}}}"#
    );
    server.cli(&["set", &key, &json, "ex", "60"]);
    let loaded = store.load(&id).await.unwrap().expect("stored");
    assert_eq!(loaded.to_json(), json);
    store.destroy(&id).await.unwrap();
}

#[actix_web::test]
async fn a_value_that_is_not_a_session_is_reported_as_corrupt() {
    let server = redis_server::shared();
    let store = single();
    for garbage in [
        "not json",
        r#"{"user":"bob"}"#,
        r#"{"cookie":{"path":"/"},"#,
    ] {
        let id = unique_id();
        server.cli(&["set", &store.key(&id), garbage]);
        let err = store.load(&id).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{garbage}: {err}");
    }
    let id = unique_id();
    server.cli(&["set", &store.key(&id), "[1,2]"]);
    let cookie = record(HOUR, &[]).cookie;
    let err = store
        .save(
            &id,
            SaveRequest::Update {
                cookie: &cookie,
                changes: &ChangeSet::new(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    let err = store.touch(&id, None).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    assert_eq!(
        server.cli(&["get", &store.key(&id)]).trim_end(),
        "[1,2]",
        "left as it was"
    );
}

#[test]
fn an_invalid_url_is_an_error() {
    assert!(RedisStore::new("http://example.com").is_err());
    assert!(RedisStore::cluster(["not a url"]).is_err());
}

#[actix_web::test]
async fn len_ids_and_clear_see_only_their_prefix_even_with_glob_characters() {
    let url = redis_server::shared().url();
    let tag = unique_id();
    let odd = RedisStore::builder(&url)
        .unwrap()
        .key_prefix(format!("{tag}*[a]?\\:"))
        .build();
    let other = RedisStore::builder(&url)
        .unwrap()
        .key_prefix(format!("{tag}x[a]?\\:"))
        .build();
    let (a, b) = (unique_id(), unique_id());
    acceptance::create(&odd, &a, &record(HOUR, &[])).await;
    acceptance::create(&other, &b, &record(HOUR, &[])).await;
    assert_eq!(odd.ids().await.unwrap(), [a]);
    assert_eq!(other.ids().await.unwrap(), [b]);
    odd.clear().await.unwrap();
    assert_eq!(odd.len().await.unwrap(), 0);
    assert_eq!(
        other.len().await.unwrap(),
        1,
        "another prefix is not cleared"
    );
    other.clear().await.unwrap();
}

#[actix_web::test]
async fn a_cluster_store_spreads_sessions_over_every_master_and_scans_them_all() {
    let nodes = redis_server::shared_cluster().nodes();
    let store = cluster();
    let ids: BTreeSet<String> = (0..60).map(|_| unique_id()).collect();
    for id in &ids {
        acceptance::create(&store, id, &record(HOUR, &[("user", r#""bob""#)])).await;
    }
    let pattern = format!("{}*", store.key_prefix());
    for node in nodes {
        let keys = node.cli(&["--scan", "--pattern", &pattern]);
        assert!(
            keys.lines().count() > 0,
            "master {} holds some sessions",
            node.port()
        );
    }
    assert_eq!(store.len().await.unwrap(), 60);
    let listed: BTreeSet<String> = store.ids().await.unwrap().into_iter().collect();
    assert_eq!(listed, ids);
    store.clear().await.unwrap();
    assert_eq!(store.len().await.unwrap(), 0);
}

/// Runs `task(0..tasks)` concurrently on `threads` threads, each an actix runtime of its own (as
/// actix-web workers are), and answers the results in task order.
fn on_threads<T, F, Fut>(threads: usize, tasks: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + 'static,
{
    let task = Arc::new(task);
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (task, start) = (Arc::clone(&task), Arc::clone(&start));
            thread::spawn(move || {
                System::new().block_on(async move {
                    start.wait();
                    let running: Vec<_> = (t..tasks)
                        .step_by(threads)
                        .map(|n| (n, rt::spawn(task(n))))
                        .collect();
                    let mut done = Vec::new();
                    for (n, handle) in running {
                        done.push((n, handle.await.expect("task")));
                    }
                    done
                })
            })
        })
        .collect();
    let mut results: Vec<(usize, T)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    results.sort_by_key(|(n, _)| *n);
    results.into_iter().map(|(_, r)| r).collect()
}

fn concurrent_saves_of_different_fields_all_survive(store: RedisStore) {
    let id = unique_id();
    let session = record(HOUR, &[("user", r#""bob""#)]);
    System::new().block_on(acceptance::create(&store, &id, &session));
    let (s, i, cookie) = (store.clone(), id.clone(), session.cookie.clone());
    let outcomes = on_threads(8, 200, move |n| {
        let (store, id, cookie) = (s.clone(), i.clone(), cookie.clone());
        async move {
            let mut changes = ChangeSet::new();
            changes.set(&format!("f{n}"), json(&n.to_string()));
            acceptance::update(&store, &id, &cookie, &changes).await
        }
    });
    assert!(outcomes.iter().all(|o| *o == SaveOutcome::Saved));
    let stored = System::new()
        .block_on(store.load(&id))
        .unwrap()
        .expect("stored");
    assert_eq!(stored.fields.len(), 201);
    assert_eq!(stored.fields.get("user").unwrap().get(), r#""bob""#);
    for n in 0..200 {
        let value = stored
            .fields
            .get(&format!("f{n}"))
            .map(|v| v.get().to_owned());
        assert_eq!(value, Some(n.to_string()), "field f{n}");
    }
}

#[test]
fn two_hundred_concurrent_saves_of_different_fields_all_survive() {
    concurrent_saves_of_different_fields_all_survive(single());
}

#[test]
fn two_hundred_concurrent_saves_of_different_fields_all_survive_on_a_cluster() {
    concurrent_saves_of_different_fields_all_survive(cluster());
}

fn a_destroy_racing_saves_leaves_the_session_destroyed(store: RedisStore) {
    for _ in 0..5 {
        let id = unique_id();
        let session = record(HOUR, &[("user", r#""bob""#)]);
        System::new().block_on(acceptance::create(&store, &id, &session));
        let (s, i, cookie) = (store.clone(), id.clone(), session.cookie.clone());
        let outcomes = on_threads(4, 101, move |n| {
            let (store, id, cookie) = (s.clone(), i.clone(), cookie.clone());
            async move {
                if n == 50 {
                    store.destroy(&id).await.unwrap();
                    return None;
                }
                let mut changes = ChangeSet::new();
                changes.set(&format!("f{n}"), json("1"));
                Some(acceptance::update(&store, &id, &cookie, &changes).await)
            }
        });
        assert_eq!(outcomes.iter().filter(|o| o.is_none()).count(), 1);
        assert!(outcomes
            .iter()
            .flatten()
            .all(|o| matches!(o, SaveOutcome::Saved | SaveOutcome::Gone)));
        let stored = System::new().block_on(store.load(&id)).unwrap();
        assert!(
            stored.is_none(),
            "a save brought the destroyed session back: {stored:?}"
        );
    }
}

#[test]
fn a_destroy_racing_a_hundred_saves_leaves_the_session_destroyed() {
    a_destroy_racing_saves_leaves_the_session_destroyed(single());
}

#[test]
fn a_destroy_racing_a_hundred_saves_leaves_the_session_destroyed_on_a_cluster() {
    a_destroy_racing_saves_leaves_the_session_destroyed(cluster());
}

// ---------------------------------------------------------------------------------------------
// Through the middleware.

macro_rules! many_fields {
    ($($field:ident)*) => {
        /// A session with 200 fields, `f0` … `f199`, and `init`.
        #[derive(SessionData, Default)]
        struct Many {
            init: bool,
            $($field: Option<usize>,)*
        }

        impl Many {
            fn set(&mut self, n: usize) {
                let fields = [$(&mut self.$field),*];
                *fields[n] = Some(n);
            }

            fn count(&self) -> usize {
                [$(&self.$field),*].iter().filter(|f| f.is_some()).count()
            }
        }
    };
}

many_fields! {
    f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15 f16 f17 f18 f19
    f20 f21 f22 f23 f24 f25 f26 f27 f28 f29 f30 f31 f32 f33 f34 f35 f36 f37 f38 f39
    f40 f41 f42 f43 f44 f45 f46 f47 f48 f49 f50 f51 f52 f53 f54 f55 f56 f57 f58 f59
    f60 f61 f62 f63 f64 f65 f66 f67 f68 f69 f70 f71 f72 f73 f74 f75 f76 f77 f78 f79
    f80 f81 f82 f83 f84 f85 f86 f87 f88 f89 f90 f91 f92 f93 f94 f95 f96 f97 f98 f99
    f100 f101 f102 f103 f104 f105 f106 f107 f108 f109 f110 f111 f112 f113 f114 f115 f116 f117 f118 f119
    f120 f121 f122 f123 f124 f125 f126 f127 f128 f129 f130 f131 f132 f133 f134 f135 f136 f137 f138 f139
    f140 f141 f142 f143 f144 f145 f146 f147 f148 f149 f150 f151 f152 f153 f154 f155 f156 f157 f158 f159
    f160 f161 f162 f163 f164 f165 f166 f167 f168 f169 f170 f171 f172 f173 f174 f175 f176 f177 f178 f179
    f180 f181 f182 f183 f184 f185 f186 f187 f188 f189 f190 f191 f192 f193 f194 f195 f196 f197 f198 f199
}

async fn init(mut session: Session<Many>) -> &'static str {
    session.init = true;
    "started"
}

async fn set_field(n: web::Path<usize>, mut session: Session<Many>) -> &'static str {
    session.set(n.into_inner());
    "set"
}

async fn count(session: Session<Many>) -> String {
    session.count().to_string()
}

async fn logout(session: Session<Many>) -> Result<&'static str, SessionError> {
    session.destroy().await?;
    Ok("bye")
}

/// A real `HttpServer` with four workers on a free port, running on a thread of its own.
struct TestServer {
    port: u16,
    handle: ServerHandle,
    thread: Option<thread::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `store`, which is cloned here, outside the workers, as in a `main()`.
    fn start(store: RedisStore) -> Self {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(SessionMiddleware::new(store.clone(), SECRET))
                        .route("/init", web::get().to(init))
                        .route("/set/{n}", web::get().to(set_field))
                        .route("/count", web::get().to(count))
                        .route("/logout", web::get().to(logout))
                        .route("/incr", web::get().to(visit))
                        .route("/views", web::get().to(read))
                })
                .workers(4)
                .bind(("127.0.0.1", 0))?;
                let port = server.addrs()[0].port();
                let server = server.run();
                tx.send((port, server.handle())).unwrap();
                server.await
            })
        });
        let (port, handle) = rx.recv().expect("the server started");
        Self {
            port,
            handle,
            thread: Some(thread),
        }
    }

    /// A GET with an optional `Cookie`: status, `Set-Cookie` of the session, body.
    fn get(&self, path: &str, cookie: Option<&str>) -> (u16, Option<String>, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{cookie}\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
        let status = head[9..12].parse().unwrap();
        let set_cookie = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("set-cookie: ")
                    .or_else(|| l.strip_prefix("Set-Cookie: "))
            })
            .map(|c| pair(c));
        (status, set_cookie, body.to_owned())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        System::new().block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn two_hundred_concurrent_requests_setting_different_fields_all_survive() {
    concurrent_requests_setting_different_fields_all_survive(&RedisServer::start());
}

/// 200 requests at once, each setting a field of its own on one session through `redis`.
fn concurrent_requests_setting_different_fields_all_survive(redis: &RedisServer) {
    let store = RedisStore::builder(&redis.url())
        .unwrap()
        .command_timeout(redis_server::GENEROUS_TIMEOUT)
        .build();
    let server = Arc::new(TestServer::start(store.clone()));
    let (status, cookie, _) = server.get("/init", None);
    assert_eq!(status, 200);
    let cookie = cookie.expect("a session cookie");

    let start = Arc::new(Barrier::new(200));
    let clients: Vec<_> = (0..200)
        .map(|n| {
            let (server, cookie, start) = (Arc::clone(&server), cookie.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                server.get(&format!("/set/{n}"), Some(&cookie))
            })
        })
        .collect();
    for client in clients {
        let (status, _, body) = client.join().unwrap();
        assert_eq!((status, body.as_str()), (200, "set"));
    }
    assert_eq!(server.get("/count", Some(&cookie)).2, "200");

    // Every worker that served requests used a connection of its own.
    let clients = redis.cli(&["client", "list"]).lines().count() - 1;
    assert!(
        (2..=4).contains(&clients),
        "{clients} connections for 4 workers"
    );
}

#[test]
fn a_destroy_racing_a_hundred_requests_leaves_the_session_destroyed() {
    a_destroy_racing_requests_leaves_the_session_destroyed(&RedisServer::start());
}

/// A logout among 100 requests that set fields of one session through `redis`.
fn a_destroy_racing_requests_leaves_the_session_destroyed(redis: &RedisServer) {
    let store = RedisStore::builder(&redis.url())
        .unwrap()
        .command_timeout(redis_server::GENEROUS_TIMEOUT)
        .build();
    let server = Arc::new(TestServer::start(store.clone()));
    for _ in 0..3 {
        let cookie = server.get("/init", None).1.expect("a session cookie");
        let id = id_of(&cookie);
        let start = Arc::new(Barrier::new(101));
        let clients: Vec<_> = (0..101)
            .map(|n| {
                let (server, cookie, start) =
                    (Arc::clone(&server), cookie.clone(), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let path = if n == 50 {
                        "/logout".to_owned()
                    } else {
                        format!("/set/{n}")
                    };
                    server.get(&path, Some(&cookie)).0
                })
            })
            .collect();
        for client in clients {
            assert_eq!(client.join().unwrap(), 200);
        }
        let stored = System::new().block_on(store.load(&id)).unwrap();
        assert!(
            stored.is_none(),
            "a request brought the destroyed session back: {stored:?}"
        );
        // (Requests that found the session gone started sessions of their own, with new ids.)
    }
}

#[actix_web::test]
async fn touch_after_renews_a_key_only_when_its_last_renewal_is_that_old() {
    let redis = redis_server::shared();
    let log = CommandLog::start(redis.port());
    let store = RedisStore::builder(&log.url())
        .unwrap()
        .key_prefix(format!("test:{}:", unique_id()))
        .touch_after(Duration::from_secs(10))
        .build();
    let id = unique_id();
    let key = store.key(&id);
    let stored = record(Duration::from_secs(60), &[("user", r#""ada""#)]);
    acceptance::create(&store, &id, &stored).await;
    // Warm up: the script is loaded into the server on its first use.
    let warm = unique_id();
    acceptance::create(&store, &warm, &stored).await;
    redis.cli(&["pexpire", &store.key(&warm), "1000"]);
    store.load_touched(&warm).await.unwrap().expect("stored");
    log.take();

    // Renewed (written) 5 s ago: a read, nothing renewed, the expiry the key's own.
    redis.cli(&["pexpire", &key, "55000"]);
    let before = OffsetDateTime::now_utc();
    let loaded = store.load_touched(&id).await.unwrap().expect("stored");
    assert_eq!(log.take(), ["GET", "PTTL"]);
    assert_between(pttl(redis, &key), 50_000, 55_000);
    assert_eq!(loaded.fields, stored.fields);
    let expires = loaded.cookie.expires().expect("an expiry");
    let left = (expires - before).whole_milliseconds();
    assert!((50_000..=56_000).contains(&left), "{left}");

    // Renewed 15 s ago: renewed now, by `GETEX` with the lifetime the last renewal gave (the
    // warm-up session's, also 60 s).
    redis.cli(&["pexpire", &key, "45000"]);
    store.load_touched(&id).await.unwrap().expect("stored");
    assert_eq!(log.take(), ["GET", "PTTL", "PTTL", "GETEX"]);
    assert_between(pttl(redis, &key), 59_000, 60_000);

    // A browser-session cookie: the default TTL (one day) is what a renewal gives.
    let browser = unique_id();
    acceptance::create(&store, &browser, &Record::new(SessionCookie::default())).await;
    let browser_key = store.key(&browser);
    redis.cli(&["pexpire", &browser_key, "86395000"]);
    log.take();
    store.load_touched(&browser).await.unwrap().expect("stored");
    assert_eq!(log.take(), ["GET", "PTTL"], "renewed 5 s ago");
    redis.cli(&["pexpire", &browser_key, "86000000"]);
    store.load_touched(&browser).await.unwrap().expect("stored");
    assert_eq!(
        log.take(),
        ["GET", "PTTL", "PTTL", "GETEX", "PEXPIRE"],
        "renewed 400 s ago, to a lifetime other than the last renewal's"
    );
    assert_between(pttl(redis, &browser_key), 86_399_000, 86_400_000);

    // A session that is not stored, or no longer: nothing, and nothing created.
    redis.cli(&["del", &key]);
    assert!(store.load_touched(&id).await.unwrap().is_none());
    assert_eq!(redis.cli(&["exists", &key]).trim(), "0");
}

#[actix_web::test]
async fn without_touch_after_every_first_read_renews() {
    let redis = redis_server::shared();
    let store = single();
    let id = unique_id();
    let key = store.key(&id);
    acceptance::create(&store, &id, &record(Duration::from_secs(60), &[])).await;
    redis.cli(&["pexpire", &key, "59000"]);
    store.load_touched(&id).await.unwrap().expect("stored");
    assert_between(pttl(redis, &key), 59_500, 60_000);
}

/// A first read renews with plain commands (`PTTL` and `GETEX … PX` the lifetime the last renewal
/// gave): each session still gets its own lifetime, on a single server and a Cluster.
#[actix_web::test]
async fn a_first_read_renews_each_session_to_its_own_lifetime_whatever_the_last_one_was() {
    // `redis-cli -c` follows a Cluster's redirections.
    for (server, follow, store) in [
        (redis_server::shared(), None, single()),
        (
            &redis_server::shared_cluster().nodes()[0],
            Some("-c"),
            cluster(),
        ),
    ] {
        let cli =
            |args: &[&str]| server.cli(&[follow.into_iter().collect(), args.to_vec()].concat());
        let pttl = |key: &str| -> i64 { cli(&["pttl", key]).trim().parse().unwrap() };
        let minute = unique_id();
        let hour = unique_id();
        let browser = unique_id();
        acceptance::create(&store, &minute, &record(Duration::from_secs(60), &[])).await;
        acceptance::create(&store, &hour, &record(Duration::from_secs(3600), &[])).await;
        acceptance::create(&store, &browser, &Record::new(SessionCookie::default())).await;
        for id in [&minute, &hour, &browser] {
            cli(&["pexpire", &store.key(id), "30000"]);
        }
        // Every order of the three, twice: the last renewal's lifetime is each other one's.
        for id in [
            &minute, &hour, &minute, &browser, &browser, &hour, &browser, &minute,
        ] {
            let before = pttl(&store.key(id));
            let loaded = store.load_touched(id).await.unwrap().expect("stored");
            let left = pttl(&store.key(id));
            if *id == minute {
                assert_between(left, 59_000, 60_000);
            } else if *id == hour {
                assert_between(left, 3_599_000, 3_600_000);
            } else {
                // A browser-session cookie lives the default TTL, one day.
                assert_between(left, 86_399_000, 86_400_000);
                assert_eq!(loaded.cookie.expires(), None);
                continue;
            }
            // The loaded expiry follows the key as it was before the renewal.
            let expires = loaded.cookie.expires().expect("an expiry");
            let loaded_left = (expires - OffsetDateTime::now_utc()).whole_milliseconds();
            assert!(
                (i128::from(before) - 1_000..=i128::from(before)).contains(&loaded_left),
                "{loaded_left} vs {before}"
            );
            cli(&["pexpire", &store.key(id), "30000"]);
        }
    }
}

/// A record that does not begin as express writes it (no originalMaxAge with an absolute expiry,
/// another key order) is renewed as `touch.lua` renews it, not given another session's lifetime.
#[actix_web::test]
async fn a_first_read_renews_a_record_express_did_not_write_as_the_touch_script_does() {
    let server = redis_server::shared();
    let store = single();
    // The last renewal: an hour.
    let hour = unique_id();
    acceptance::create(&store, &hour, &record(Duration::from_secs(3600), &[])).await;
    store.load_touched(&hour).await.unwrap().expect("stored");

    // An absolute expiry, no lifetime: kept, the key's TTL too.
    let fixed = unique_id();
    let expires = OffsetDateTime::now_utc() + Duration::from_secs(50);
    let json = format!(
        r#"{{"cookie":{{"originalMaxAge":null,"expires":"{}","httpOnly":true,"path":"/"}},"user":"ada"}}"#,
        expires
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    server.cli(&["set", &store.key(&fixed), &json, "px", "50000"]);
    let loaded = store.load_touched(&fixed).await.unwrap().expect("stored");
    assert_between(pttl(server, &store.key(&fixed)), 48_000, 50_000);
    assert_eq!(loaded.fields.get("user").map(|v| v.get()), Some(r#""ada""#));
    assert_eq!(server.cli(&["get", &store.key(&fixed)]).trim(), json);

    // Without a TTL: still without one.
    server.cli(&["set", &store.key(&fixed), &json]);
    store.load_touched(&fixed).await.unwrap().expect("stored");
    assert_eq!(pttl(server, &store.key(&fixed)), -1);

    // A lifetime after other members: renewed to it, the stored expiry rewritten.
    let reordered = unique_id();
    server.cli(&[
        "set",
        &store.key(&reordered),
        r#"{"cookie":{"path":"/","originalMaxAge":120000,"expires":"2000-01-01T00:00:00.000Z"}}"#,
        "px",
        "1000",
    ]);
    store
        .load_touched(&reordered)
        .await
        .unwrap()
        .expect("stored");
    assert_between(pttl(server, &store.key(&reordered)), 119_000, 120_000);
    let renewed = server.cli(&["get", &store.key(&reordered)]);
    assert!(!renewed.contains("2000-01-01"), "{renewed}");

    // A lifetime of 0: the renewal ends it.
    let zero = unique_id();
    server.cli(&[
        "set",
        &store.key(&zero),
        r#"{"cookie":{"path":"/","originalMaxAge":0,"expires":null}}"#,
        "px",
        "60000",
    ]);
    assert!(store.load_touched(&zero).await.unwrap().is_none());
    assert_eq!(server.cli(&["exists", &store.key(&zero)]).trim(), "0");
}

/// Sessions that live under a second are renewed by the script, in one atomic step: a guessed
/// lifetime could only be corrected a round trip later.
#[actix_web::test]
async fn a_lifetime_under_a_second_is_renewed_by_the_script() {
    let redis = RedisServer::start();
    let log = CommandLog::start(redis.port());
    let store = RedisStore::builder(&log.url()).unwrap().build();
    let short = unique_id();
    acceptance::create(&store, &short, &record(Duration::from_millis(800), &[])).await;
    // The first renewal guesses the default TTL and corrects it; the second loads the script.
    store.load_touched(&short).await.unwrap().expect("stored");
    store.load_touched(&short).await.unwrap().expect("stored");
    log.take();
    store.load_touched(&short).await.unwrap().expect("stored");
    assert_eq!(log.take(), ["EVALSHA"]);
    assert_between(pttl(&redis, &store.key(&short)), 500, 800);

    let long = unique_id();
    acceptance::create(&store, &long, &record(Duration::from_secs(60), &[])).await;
    log.take();
    store.load_touched(&long).await.unwrap().expect("stored");
    assert_eq!(log.take(), ["EVALSHA"], "the last renewal gave 800 ms");
    store.load_touched(&long).await.unwrap().expect("stored");
    assert_eq!(log.take(), ["PTTL", "GETEX"]);
    assert_between(pttl(&redis, &store.key(&long)), 59_000, 60_000);
}

#[actix_web::test]
async fn with_touch_after_a_read_only_visit_is_one_pipelined_get_and_pttl() {
    let redis = RedisServer::start();
    let log = CommandLog::start(redis.port());
    let store = RedisStore::builder(&log.url())
        .unwrap()
        .touch_after(Duration::from_secs(60))
        .build();
    let app = actix_test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), SECRET)
                    .cookie_max_age(Some(HOUR))
                    .build(),
            )
            .route("/visit", web::get().to(visit))
            .route("/read", web::get().to(read)),
    )
    .await;
    let (_, headers, _) = get(&app, "/visit", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    assert_eq!(get(&app, "/visit", Some(&cookie)).await.2, "2");
    log.take();

    assert_eq!(get(&app, "/read", Some(&cookie)).await.2, "2");
    assert_eq!(log.take(), ["GET", "PTTL"], "no script, no renewal");
    assert_eq!(get(&app, "/visit", Some(&cookie)).await.2, "3");
    assert_eq!(
        log.take(),
        ["GET", "PTTL", "EVALSHA"],
        "the read, then the compare-and-set save"
    );
}

/// Concurrent increments of one field of one session, from `clients` threads through a real
/// server: how many survive (field-level last writer wins: each request adds one to what it
/// read, so concurrent ones overwrite each other).
fn increments_kept(store: RedisStore, clients: usize, visits: usize) -> usize {
    let server = Arc::new(TestServer::start(store));
    let cookie = server.get("/incr", None).1.expect("a session cookie");
    let start = Arc::new(Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (server, cookie, start) = (Arc::clone(&server), cookie.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for _ in 0..visits {
                    assert_eq!(server.get("/incr", Some(&cookie)).0, 200);
                }
            })
        })
        .collect();
    for client in threads {
        client.join().unwrap();
    }
    let views: usize = server.get("/views", Some(&cookie)).2.parse().unwrap();
    views - 1
}

/// Not a guarantee, a measure: how many concurrent increments of one field survive, with and
/// without `touch_after`. Run with `cargo test --all-features --test redis -- --ignored
/// --nocapture increments`.
#[test]
#[ignore = "a measurement, not a test"]
fn concurrent_increments_of_one_field_kept() {
    const CLIENTS: usize = 8;
    const VISITS: usize = 100;
    let redis = RedisServer::start();
    for round in 0..4 {
        // Alternating which goes first, so that neither always meets a warmer (or busier) machine.
        let mut settings = [("default", None), ("touch_after(60 s)", Some(60))];
        if round % 2 == 1 {
            settings.reverse();
        }
        for (setting, touch_after) in settings {
            let mut builder = RedisStore::builder(&redis.url()).unwrap();
            if let Some(secs) = touch_after {
                builder = builder.touch_after(Duration::from_secs(secs));
            }
            let kept = increments_kept(builder.build(), CLIENTS, VISITS);
            println!(
                "round {round}, {setting}: {kept} of {} concurrent increments kept",
                CLIENTS * VISITS
            );
        }
    }
}

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn visit(mut session: Session<Visit>) -> String {
    session.views += 1;
    session.views.to_string()
}

async fn read(session: Session<Visit>) -> String {
    session.views.to_string()
}

async fn plain() -> &'static str {
    "no session needed"
}

#[actix_web::test]
async fn redis_round_trips_per_request_kind() {
    // Redis 7 has no `SET … IFEQ`: the first compare-and-set save tries it, is told "syntax
    // error", and every save from then on sends the script alone.
    let redis = RedisServer::start();
    round_trips_per_request_kind(&redis, "EVALSHA").await;
}

/// Pins the commands of each kind of request, through a command-counting proxy in front of
/// `redis`, whose compare-and-set save is `save` (the command).
async fn round_trips_per_request_kind(redis: &RedisServer, save: &str) {
    let log = CommandLog::start(redis.port());
    let store = RedisStore::new(&log.url()).unwrap();
    let app = actix_test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), SECRET)
                    .cookie_max_age(Some(HOUR))
                    .build(),
            )
            .route("/visit", web::get().to(visit))
            .route("/read", web::get().to(read))
            .route("/plain", web::get().to(plain)),
    )
    .await;
    // Warm up: connect, and load both scripts into the server.
    let (_, headers, _) = get(&app, "/visit", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    log.take();
    assert_eq!(get(&app, "/visit", Some(&cookie)).await.2, "2");
    // (The first read also sets the cookie's lifetime of an hour, where it guessed the default.)
    let first_save: Vec<String> = log.take().into_iter().filter(|c| c != "PEXPIRE").collect();
    assert_eq!(
        first_save[..3],
        ["PTTL", "GETEX", "SET"],
        "the first save tries `SET … IFEQ`"
    );
    if save == "SET" {
        assert_eq!(first_save.len(), 3, "{first_save:?}");
    } else {
        assert!(first_save[3..].contains(&save.to_owned()), "{first_save:?}");
    }
    for path in ["/read", "/plain"] {
        assert_eq!(get(&app, path, Some(&cookie)).await.0, 200);
    }
    log.take();

    let mut report = Vec::new();
    let mut measure = |kind: &'static str, commands: Vec<String>| {
        report.push(format!(
            "{kind}: {} ({})",
            commands.len(),
            commands.join(", ")
        ));
        commands
    };
    let (status, headers, _) = get(&app, "/visit", None).await;
    assert_eq!(status, 200);
    assert!(set_cookie_named(&headers, "connect.sid").is_some());
    let new_visitor = measure("new visitor", log.take());
    assert_eq!(new_visitor, ["SET"]);

    assert_eq!(get(&app, "/read", Some(&cookie)).await.2, "2");
    let read_only = measure("read-only visit", log.take());
    assert_eq!(
        read_only,
        ["PTTL", "GETEX"],
        "one pipelined round trip reads and renews, no script"
    );

    assert_eq!(get(&app, "/visit", Some(&cookie)).await.2, "3");
    let modifying = measure("modifying visit", log.take());
    assert_eq!(modifying, ["PTTL", "GETEX", save]);

    assert_eq!(get(&app, "/plain", Some(&cookie)).await.0, 200);
    let unextracted = measure("visit that does not extract the session", log.take());
    assert_eq!(
        unextracted,
        ["EVALSHA"],
        "one script renews the key and the stored expiry"
    );

    println!("Redis round trips per request:\n  {}", report.join("\n  "));
}

/// What Redis reports after a run of `requests` requests (`CONFIG RESETSTAT` before it, and
/// `before` its `INFO cpu` then): the CPU time of its
/// main thread per request (`INFO cpu`: commands, network and event loop, as the load benchmark
/// measures it), and each command's calls and time per call (`INFO commandstats`; a command that a
/// script calls is counted on its own line too).
fn redis_cost_since(redis: &RedisServer, before: &str, requests: usize) -> String {
    let cpu = |info: &str| -> f64 {
        info.lines()
            .filter(|l| {
                l.starts_with("used_cpu_sys_main_thread:")
                    || l.starts_with("used_cpu_user_main_thread:")
            })
            .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
            .sum()
    };
    let stats = redis.cli(&["info", "commandstats"]);
    let mut lines = Vec::new();
    for line in stats.lines().filter(|l| l.starts_with("cmdstat_")) {
        let field = |name: &str| -> f64 {
            line.split([':', ','])
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        if line.starts_with("cmdstat_config") || line.starts_with("cmdstat_info") {
            continue;
        }
        lines.push(format!(
            "{} ×{:.2} ({:.2} µs)",
            line.split(':')
                .next()
                .unwrap()
                .trim_start_matches("cmdstat_"),
            field("calls") / requests as f64,
            field("usec_per_call")
        ));
    }
    let used = cpu(&redis.cli(&["info", "cpu"])) - cpu(before);
    format!(
        "{:.2} µs of Redis main-thread CPU per request; {}",
        used * 1e6 / requests as f64,
        lines.join(", ")
    )
}

/// Redis's own CPU time per request, for read-only and modifying visits through the middleware,
/// with and without `touch_after`, and for the commands actix-session's `RedisSessionStore` sends
/// for the same visits (`GET` + `EXPIRE`; `GET` + `SET … XX`), on the same kind of connection.
/// Run with `cargo test --all-features --test redis -- --ignored --nocapture redis_cpu`;
/// `REDIS_CPU_REQUESTS` sets the number of requests of each kind (default 20000).
#[actix_web::test]
#[ignore = "a measurement, not a test"]
async fn redis_cpu_per_request() {
    redis_cpu_per_request_on(&RedisServer::start()).await;
}

/// Prints the server's CPU time per request (see [`redis_cost_since`]) for this store's
/// read-only and modifying visits, with and without `touch_after`, and for actix-session's
/// commands, on `redis`.
async fn redis_cpu_per_request_on(redis: &RedisServer) {
    let requests: usize = std::env::var("REDIS_CPU_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let mut report = Vec::new();
    for (setting, touch_after) in [("default", None), ("touch_after(60 s)", Some(60))] {
        let mut builder = RedisStore::builder(&redis.url()).unwrap();
        if let Some(secs) = touch_after {
            builder = builder.touch_after(Duration::from_secs(secs));
        }
        let store = builder.build();
        for (kind, path) in [("read-only", "/read"), ("modifying", "/visit")] {
            let app = actix_test::init_service(
                App::new()
                    .wrap(
                        SessionMiddleware::builder(store.clone(), SECRET)
                            .cookie_max_age(Some(HOUR))
                            .build(),
                    )
                    .route("/visit", web::get().to(visit))
                    .route("/read", web::get().to(read)),
            )
            .await;
            let (_, headers, _) = get(&app, "/visit", None).await;
            let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
            for path in ["/visit", "/read"] {
                assert_eq!(get(&app, path, Some(&cookie)).await.0, 200);
            }
            redis.cli(&["config", "resetstat"]);
            let before = redis.cli(&["info", "cpu"]);
            for _ in 0..requests {
                assert_eq!(get(&app, path, Some(&cookie)).await.0, 200);
            }
            report.push(format!(
                "{setting}, {kind}: {}",
                redis_cost_since(redis, &before, requests)
            ));
        }
    }
    // actix-session's RedisSessionStore (TtlExtensionPolicy::OnEveryRequest): a read-only visit
    // is `GET` then `EXPIRE`, a modifying one `GET` then `SET key value XX EX ttl`.
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut conn = ::redis::aio::ConnectionManager::new(client).await.unwrap();
    for kind in ["read-only", "modifying"] {
        let value = r#"{"views":"1"}"#;
        let _: () = ::redis::cmd("SET")
            .arg("session:k")
            .arg(value)
            .arg("EX")
            .arg(3600)
            .query_async(&mut conn)
            .await
            .unwrap();
        redis.cli(&["config", "resetstat"]);
        let before = redis.cli(&["info", "cpu"]);
        for _ in 0..requests {
            let read: Option<String> = ::redis::cmd("GET")
                .arg("session:k")
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(read.is_some());
            let mut write = ::redis::cmd(if kind == "read-only" { "EXPIRE" } else { "SET" });
            write.arg("session:k");
            if kind != "read-only" {
                write.arg(value).arg("XX").arg("EX");
            }
            let _: ::redis::Value = write.arg(3600).query_async(&mut conn).await.unwrap();
        }
        report.push(format!(
            "actix-session's commands, {kind}: {}",
            redis_cost_since(redis, &before, requests)
        ));
    }
    println!(
        "Redis CPU per request ({requests} requests each):\n  {}",
        report.join("\n  ")
    );
}
