//! `RedisStore` when Redis goes away: killed, restarted or hung (`SIGSTOP`), with the default
//! settings. Requests that do not use their session never wait for Redis; session requests fail
//! fast with `503`; the app serves sessions again soon after Redis is back, without a restart.

mod common;
mod support;

use std::time::{Duration, Instant};

use actix_typed_session::{RedisStore, Session, SessionData, SessionMiddleware};
use actix_web::{rt, test as actix_test, web, App};
use common::{get, pair, set_cookie_named, SECRET};
use support::redis_server::RedisServer;

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn visit(mut session: Session<Visit>) -> String {
    session.views += 1;
    session.views.to_string()
}

async fn maybe(session: Option<Session<Visit>>) -> String {
    match session {
        Some(session) => session.views.to_string(),
        None => "no session".to_owned(),
    }
}

async fn plain() -> &'static str {
    "no session needed"
}

macro_rules! app {
    ($store:expr) => {
        actix_test::init_service(
            App::new()
                .wrap(SessionMiddleware::new($store.clone(), SECRET))
                .route("/visit", web::get().to(visit))
                .route("/maybe", web::get().to(maybe))
                .route("/plain", web::get().to(plain)),
        )
        .await
    };
}

/// Sends `path` until it answers 200 (every 20 ms, for at most `limit`); answers the body and how
/// long it took.
macro_rules! until_ok {
    ($app:expr, $path:expr, $cookie:expr, $limit:expr) => {{
        let started = Instant::now();
        loop {
            let (status, headers, body) = get(&$app, $path, $cookie).await;
            if status == 200 {
                break (headers, body, started.elapsed());
            }
            assert_eq!(status, 503, "{body}");
            assert!(
                started.elapsed() < $limit,
                "no recovery within {:?}",
                $limit
            );
            rt::time::sleep(Duration::from_millis(20)).await;
        }
    }};
}

#[actix_web::test]
async fn with_redis_hung_requests_without_session_answer_at_once_and_session_requests_fail_fast() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url()).unwrap();
    let app = app!(store);
    let (_, headers, body) = get(&app, "/visit", None).await;
    assert_eq!(body, "1");
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());

    let pid = redis.freeze();
    let hung = Instant::now();
    let mut slowest_plain = Duration::ZERO;
    let mut slowest_session = Duration::ZERO;
    let mut fast_session = 0;
    for round in 0..10 {
        // A route that never extracts the session, whatever cookie it carries.
        for cookie in [Some(cookie.as_str()), None] {
            let started = Instant::now();
            let (status, headers, body) = get(&app, "/plain", cookie).await;
            let took = started.elapsed();
            assert_eq!((status, body.as_str()), (200, "no session needed"));
            assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
            slowest_plain = slowest_plain.max(took);
        }
        // Session routes: 503 within a second, at once when Redis is known down.
        for cookie in [Some(cookie.as_str()), None] {
            let started = Instant::now();
            let (status, headers, body) = get(&app, "/visit", cookie).await;
            let took = started.elapsed();
            assert_eq!((status, body.as_str()), (503, "session store unavailable"));
            assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
            slowest_session = slowest_session.max(took);
            if took < Duration::from_millis(50) {
                fast_session += 1;
            }
        }
        let (status, _, body) = get(&app, "/maybe", Some(&cookie)).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "no session"),
            "round {round}"
        );
        // Long enough in total for the store to probe the hung Redis a few times.
        rt::time::sleep(Duration::from_millis(60)).await;
    }
    println!(
        "Redis hung for {:?}: slowest request without session {slowest_plain:?}, slowest session \
         request {slowest_session:?}, {fast_session} of 20 session requests answered in < 50 ms",
        hung.elapsed()
    );
    assert!(
        slowest_plain <= Duration::from_millis(200),
        "a request that does not use its session waited {slowest_plain:?}"
    );
    assert!(
        slowest_session <= Duration::from_secs(1),
        "a session request waited {slowest_session:?}"
    );
    assert!(
        fast_session >= 10,
        "once Redis is known down, session requests fail without waiting ({fast_session} of 20 did)"
    );

    redis.thaw(pid);
    let resumed = Instant::now();
    let (_, body, took) = until_ok!(app, "/visit", Some(&cookie), Duration::from_secs(1));
    println!("sessions back {took:?} after Redis resumed");
    assert_eq!(body, "2", "the session survived the hang");
    assert!(resumed.elapsed() <= Duration::from_secs(1));
    let (_, _, body) = get(&app, "/maybe", Some(&cookie)).await;
    assert_eq!(body, "2");
}

#[actix_web::test]
async fn the_first_request_after_a_redis_restart_is_served() {
    let mut redis = RedisServer::start();
    let store = RedisStore::new(&redis.url()).unwrap();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/visit", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let (_, _, body) = get(&app, "/visit", Some(&cookie)).await;
    assert_eq!(body, "2");

    // Restarted between two requests (empty: no persistence): this worker's connection is stale.
    redis.restart();
    let (status, headers, body) = get(&app, "/visit", Some(&cookie)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "1"),
        "the read is tried again on a fresh connection; the lost session starts anew"
    );
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let (status, _, body) = get(&app, "/visit", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (200, "2"));
}

#[actix_web::test]
async fn with_redis_down_session_requests_fail_fast_with_503_and_recover_without_a_restart() {
    let mut redis = RedisServer::start();
    let store = RedisStore::new(&redis.url()).unwrap();
    let app = app!(store);
    let (status, headers, body) = get(&app, "/visit", None).await;
    assert_eq!((status, body.as_str()), (200, "1"));
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());

    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, _, body) = get(&app, "/visit", Some(&cookie)).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        let (status, _, body) = get(&app, "/plain", Some(&cookie)).await;
        assert_eq!((status, body.as_str()), (200, "no session needed"));
        let (status, _, _) = get(&app, "/visit", None).await;
        assert_eq!(status, 503, "a new session cannot be saved either");
    }

    // Back, empty (no persistence): the same app serves sessions again within a second.
    redis.restart();
    let (headers, body, took) = until_ok!(app, "/visit", Some(&cookie), Duration::from_secs(1));
    println!("sessions back {took:?} after Redis restarted");
    assert_eq!(body, "1", "the lost session starts anew");
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let (status, _, body) = get(&app, "/visit", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (200, "2"));
}

#[actix_web::test]
async fn with_redis_paused_by_its_clients_session_requests_time_out_as_503_and_then_recover() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url()).unwrap();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/visit", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());

    // Every client's commands wait for 3 s, as behind a stuck server.
    redis.cli(&["client", "pause", "3000", "all"]);
    let paused = Instant::now();
    let (status, _, _) = get(&app, "/visit", Some(&cookie)).await;
    assert_eq!(status, 503);
    assert!(
        paused.elapsed() < Duration::from_secs(1),
        "took {:?}",
        paused.elapsed()
    );
    let started = Instant::now();
    let (status, _, _) = get(&app, "/plain", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() <= Duration::from_millis(200));

    rt::time::sleep(Duration::from_secs(3).saturating_sub(paused.elapsed())).await;
    let (_, body, _) = until_ok!(app, "/visit", Some(&cookie), Duration::from_secs(1));
    assert_eq!(body, "2", "the session survived the pause");
}
