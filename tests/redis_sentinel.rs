//! `RedisStore` on a master watched by Redis Sentinel, against real servers: a master, a
//! replica and three sentinels, each with a password (`support::sentinel`). The store
//! acceptance suite behind Sentinel; a failover (`SENTINEL FAILOVER`) that the store and its
//! session end listener follow without being rebuilt, measured; a master crash, measured;
//! Sentinel over TLS; a master that requires replicas refusing a write.

mod common;
mod support;

use std::{
    collections::BTreeSet,
    sync::{mpsc, Arc, Mutex, OnceLock},
    thread,
    time::{Duration, Instant},
};

use actix_typed_session::testing::{self as acceptance, record, unique_id};
use actix_typed_session::{
    store::{EndReason, RedisStoreBuilder, SessionEnd, SessionStore, StoreErrorKind},
    RedisStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{rt::time::sleep, test as actix_test, web, App};
use common::{get, pair, set_cookie_named, SECRET};
use support::sentinel::{Sentinels, MASTER_NAME, MASTER_PASSWORD};

/// The setup that the acceptance suite shares (no failover happens there).
fn shared() -> &'static Sentinels {
    static SHARED: OnceLock<Sentinels> = OnceLock::new();
    SHARED.get_or_init(|| Sentinels::start(None))
}

fn builder(sentinels: &Sentinels) -> RedisStoreBuilder {
    RedisStore::sentinel_builder(sentinels.urls(), MASTER_NAME)
        .unwrap()
        .master_auth(None, MASTER_PASSWORD)
}

/// A store behind the shared sentinels, with a key prefix of its own, connected (asking the
/// sentinels is not part of the behaviours' timing).
async fn behind_sentinel() -> RedisStore {
    let store = builder(shared())
        .key_prefix(format!("test:{}:", unique_id()))
        .command_timeout(support::redis_server::GENEROUS_TIMEOUT)
        .connect()
        .await
        .unwrap();
    // This runtime's connection, made before the behaviour's clock starts.
    store.load(&unique_id()).await.unwrap();
    store
}

mod behind_sentinels {
    actix_typed_session::testing::store_acceptance_tests!(async crate::behind_sentinel);
}

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn visit(mut session: Session<Visit>) -> String {
    session.views += 1;
    session.views.to_string()
}

#[actix_web::test]
async fn the_sessions_live_on_the_master_that_the_sentinels_name() {
    let sentinels = shared();
    let store = behind_sentinel().await;
    let id = unique_id();
    acceptance::create(&store, &id, &record(Duration::from_secs(60), &[("n", "1")])).await;
    let key = format!("{}{id}", store.key_prefix());
    assert!(sentinels
        .master()
        .server
        .cli(&["get", &key])
        .contains(r#""n":1"#));
}

#[actix_web::test]
async fn an_unknown_master_name_or_a_wrong_master_password_is_a_start_up_error() {
    let sentinels = shared();
    let e = RedisStore::sentinel_builder(sentinels.urls(), "no-such-master")
        .unwrap()
        .master_auth(None, MASTER_PASSWORD)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("not found"), "{e}");

    let e = RedisStore::sentinel_builder(sentinels.urls(), MASTER_NAME)
        .unwrap()
        .master_auth(None, "not-the-master-password")
        .connect()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("credentials"), "{e}");
    assert!(!e.to_string().contains("not-the-master-password"), "{e}");

    let e = RedisStore::builder("redis://127.0.0.1:6379")
        .unwrap()
        .master_db(1)
        .try_build()
        .unwrap_err();
    assert!(e.to_string().contains("sentinel_builder"), "{e}");
}

/// What one request saw during the failover: when it was sent (since the failover was asked
/// for), its status, and the count it answered.
struct Seen {
    at: Duration,
    status: u16,
    views: Option<u32>,
}

#[actix_web::test]
async fn a_failover_keeps_sessions_and_end_events_working_without_rebuilding_the_store() {
    let sentinels = Arc::new(Sentinels::start(None));
    let old_master = sentinels.master_port();
    let (ends_tx, ends) = mpsc::channel::<SessionEnd>();
    let ends_tx = Mutex::new(ends_tx);
    let store = builder(&sentinels)
        // Ends are reported by notifications (and at start and reconnection), not a timer.
        .end_sweep_interval(Duration::from_secs(3600))
        .on_session_end(move |end| {
            let _ = ends_tx.lock().unwrap().send(end);
        })
        .try_build()
        .unwrap();
    let app = actix_test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/", web::get().to(visit)),
    )
    .await;

    // Sessions written before the failover, replicated (WAIT) before it is asked for.
    let before: Vec<String> = (0..20).map(|_| unique_id()).collect();
    for id in &before {
        acceptance::create(&store, id, &record(Duration::from_secs(120), &[("n", "1")])).await;
    }
    let (_, headers, body) = get(&app, "/", None).await;
    assert_eq!(body, "1");
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let replicated = sentinels.master().server.cli(&["wait", "1", "2000"]);
    assert_eq!(replicated.trim(), "1", "the replica has every write");

    // A request every 10 ms while the sentinels switch the master.
    let started = Instant::now();
    let (done_tx, done) = mpsc::channel();
    let switching = thread::spawn({
        let sentinels = Arc::clone(&sentinels);
        move || {
            let new = sentinels.failover();
            let _ = done_tx.send((new, started.elapsed()));
        }
    });
    let mut seen = Vec::new();
    let mut switched = None;
    loop {
        let at = started.elapsed();
        let (status, _, body) = get(&app, "/", Some(&cookie)).await;
        seen.push(Seen {
            at,
            status,
            views: body.trim().parse().ok().filter(|_| status == 200),
        });
        if switched.is_none() {
            switched = done.try_recv().ok();
        }
        if let Some((_, switched_at)) = switched {
            let recent_ok =
                seen.len() >= 50 && seen[seen.len() - 50..].iter().all(|s| s.status == 200);
            if recent_ok && at > switched_at {
                break;
            }
        }
        assert!(
            at < Duration::from_secs(30),
            "requests did not succeed again within 30 s of the failover"
        );
        sleep(Duration::from_millis(10)).await;
    }
    switching.join().unwrap();
    let (new_master, switched_at) = switched.unwrap();
    assert_ne!(new_master, old_master);

    // The measurements.
    let failed: Vec<&Seen> = seen.iter().filter(|s| s.status != 200).collect();
    let window = match (failed.first(), failed.last()) {
        (Some(first), Some(last)) => last.at - first.at + Duration::from_millis(10),
        _ => Duration::ZERO,
    };
    let counts: Vec<u32> = seen.iter().filter_map(|s| s.views).collect();
    let lost = counts
        .windows(2)
        .map(|w| (w[0] + 1).saturating_sub(w[1]))
        .sum::<u32>();
    eprintln!(
        "failover: the sentinels named the new master {:?} after it was asked for; \
         {} of {} requests failed ({:?}), over {:?}; {} acknowledged increments lost",
        switched_at,
        failed.len(),
        seen.len(),
        failed.iter().map(|s| s.status).collect::<BTreeSet<_>>(),
        window,
        lost,
    );
    for s in &failed {
        assert_eq!(s.status, 503, "a failing request answers 503");
    }
    assert!(
        window < Duration::from_secs(5),
        "requests failed for {window:?}"
    );
    // The store stopped writing to the old master when the promotion began (the sentinel
    // announces it a timer tick, 100 ms, before it sends `REPLICAOF NO ONE`), so every write it
    // acknowledged had reached the replica.
    assert_eq!(lost, 0, "acknowledged increments were lost: {counts:?}");

    // The sessions written before the failover are on the new master, the same store serves
    // them, and it writes there.
    assert_eq!(sentinels.master_port(), new_master);
    for id in &before {
        let loaded = store.load(id).await.unwrap();
        assert!(loaded.is_some(), "session {id} survived the failover");
    }
    let after = unique_id();
    acceptance::create(
        &store,
        &after,
        &record(Duration::from_secs(60), &[("n", "2")]),
    )
    .await;
    let key = format!("sess:{after}");
    assert!(sentinels
        .master()
        .server
        .cli(&["get", &key])
        .contains(r#""n":2"#));

    // End events: destroyed by this store, and expired on the new master (sessions that another
    // app server wrote, so only the new master's notifications can tell this store of them).
    store.destroy(&before[0]).await.unwrap();
    let flags = sentinels
        .master()
        .server
        .cli(&["config", "get", "notify-keyspace-events"]);
    let writer = builder(&sentinels)
        .on_session_end(|_| {})
        .try_build()
        .unwrap();
    let expiring: BTreeSet<String> = (0..5).map(|_| unique_id()).collect();
    for id in &expiring {
        acceptance::create(
            &writer,
            id,
            &record(Duration::from_millis(1500), &[("n", "3")]),
        )
        .await;
    }
    drop(writer);
    let mut destroyed = false;
    let mut expired = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (!destroyed || expired != expiring) && Instant::now() < deadline {
        match ends.recv_timeout(Duration::from_millis(100)) {
            Ok(end) if end.id() == before[0] => {
                assert_eq!(end.reason(), EndReason::Destroyed);
                destroyed = true;
            }
            Ok(end) if expiring.contains(end.id()) => {
                assert_eq!(end.reason(), EndReason::Expired);
                expired.insert(end.id().to_owned());
            }
            Ok(_) | Err(_) => {}
        }
    }
    assert!(destroyed, "the destroy was reported");
    assert_eq!(
        expired, expiring,
        "every session that expired on the new master was reported (notify-keyspace-events \
         there: {flags:?})"
    );
}

#[cfg(feature = "redis-rustls")]
#[actix_web::test]
async fn sentinels_and_master_over_tls_with_a_private_ca() {
    let ca = support::tls::TestCa::new();
    let sentinels = Sentinels::start(Some(&ca));
    // Unoptimized rustls: four handshakes before the first command (three sentinels asked at
    // once, the master's ROLE, the connection) take longer than the default 500 ms here.
    let store = builder(&sentinels)
        .tls_ca_cert(ca.pem("ca.pem"))
        .command_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let id = unique_id();
    acceptance::create(&store, &id, &record(Duration::from_secs(60), &[("n", "1")])).await;
    assert!(store.load(&id).await.unwrap().is_some());
    assert!(sentinels
        .master()
        .server
        .cli(&["get", &format!("sess:{id}")])
        .contains(r#""n":1"#));

    // The wrong CA: the sentinels' handshake fails.
    let e = builder(&sentinels)
        .tls_ca_cert(ca.pem("other-ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
}

#[actix_web::test]
async fn a_master_without_the_replicas_it_requires_refuses_a_save_as_an_error() {
    // `min-replicas-to-write 1` and no replica: the master refuses writes (`NOREPLICAS`).
    let server =
        support::redis_server::RedisServer::start_with_args(&["--min-replicas-to-write", "1"]);
    let store = RedisStore::new(&server.url()).unwrap();
    let id = unique_id();
    let created = store
        .save(
            &id,
            actix_typed_session::store::SaveRequest::Create(&record(
                Duration::from_secs(60),
                &[("n", "1")],
            )),
        )
        .await;
    let e = created.unwrap_err();
    assert!(e.to_string().contains("NOREPLICAS"), "{e}");
    assert_eq!(server.cli(&["exists", &format!("sess:{id}")]).trim(), "0");
}

#[actix_web::test]
async fn a_master_crash_is_followed_once_the_sentinels_promote_the_replica() {
    let sentinels = Sentinels::start(None);
    let old_master = sentinels.master_port();
    let store = builder(&sentinels).build();
    let app = actix_test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/", web::get().to(visit)),
    )
    .await;
    let (_, headers, body) = get(&app, "/", None).await;
    assert_eq!(body, "1");
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let replicated = sentinels.master().server.cli(&["wait", "1", "2000"]);
    assert_eq!(replicated.trim(), "1", "the replica has the session");

    // SIGKILL: no goodbye to clients or sentinels.
    let pid = sentinels.master().server.pid();
    let started = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut seen: Vec<Seen> = Vec::new();
    loop {
        let at = started.elapsed();
        let (status, _, body) = get(&app, "/", Some(&cookie)).await;
        seen.push(Seen {
            at,
            status,
            views: body.trim().parse().ok().filter(|_| status == 200),
        });
        let failed_once = seen.iter().any(|s| s.status != 200);
        if failed_once
            && seen.len() >= 50
            && seen[seen.len() - 50..].iter().all(|s| s.status == 200)
        {
            break;
        }
        assert!(
            at < Duration::from_secs(30),
            "requests did not succeed again within 30 s of the crash"
        );
        sleep(Duration::from_millis(10)).await;
    }
    let failed: Vec<&Seen> = seen.iter().filter(|s| s.status != 200).collect();
    let back = failed.last().map(|s| s.at).unwrap_or_default();
    let counts: Vec<u32> = seen.iter().filter_map(|s| s.views).collect();
    eprintln!(
        "crash: {} of {} requests failed ({:?}); served again {:?} after the SIGKILL \
         (down-after-milliseconds 2000); counts {:?}..{:?}",
        failed.len(),
        seen.len(),
        failed.iter().map(|s| s.status).collect::<BTreeSet<_>>(),
        back,
        counts.first(),
        counts.last(),
    );
    for s in &failed {
        assert_eq!(s.status, 503, "a failing request answers 503");
    }
    assert_ne!(
        sentinels.master_port(),
        old_master,
        "the replica was promoted"
    );
    // Every increment after the crash went to the new master, on the session as it was
    // replicated before the crash.
    assert_eq!(counts.first(), Some(&2), "the session survived the crash");
    assert!(
        counts.windows(2).all(|w| w[1] == w[0] + 1),
        "no acknowledged increment was lost: {counts:?}"
    );
}
