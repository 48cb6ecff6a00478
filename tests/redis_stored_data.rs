//! Stored records that a `RedisStore` holds are not trusted either: the records of
//! `tests/stored_data.rs`, written raw into Redis (as a Node app or an attacker with Redis access
//! would), are served through the middleware without a panic or a 500.

mod common;
mod support;

use actix_typed_session::testing::unique_id;
use actix_typed_session::{RedisStore, SessionCodec, SessionMiddleware};
use actix_web::{web, App};
use common::{count, get, set_cookie_named, SECRET};
use support::redis_server;

const LAST_HTTP_DATE: &str = "Fri, 31 Dec 9999 23:59:59 GMT";

async fn plain() -> &'static str {
    "plain"
}

fn cookie_for(id: &str) -> String {
    format!(
        "connect.sid={}",
        SessionCodec::new("connect.sid", SECRET).cookie_value(id)
    )
}

/// A store on the shared server, with a key prefix of its own.
fn store() -> RedisStore {
    RedisStore::builder(&redis_server::shared().url())
        .unwrap()
        .key_prefix(format!("test:{}:", unique_id()))
        .build()
}

macro_rules! app {
    ($store:expr, $rolling:expr) => {
        actix_web::test::init_service(
            App::new()
                .wrap(
                    SessionMiddleware::builder($store.clone(), SECRET)
                        .rolling($rolling)
                        .cookie_path("/app")
                        .build(),
                )
                .route("/app/count", web::get().to(count))
                .route("/app/plain", web::get().to(plain)),
        )
        .await
    };
}

/// The issue's records: lifetimes of 2^53 - 1 and 10^15 - 1 milliseconds (the second one is
/// renewed by the load script's fast path, the first by `touch.lua`), 1e300 ms, and JavaScript's
/// last date.
const ABSURD_LIFETIMES: &[&str] = &[
    r#"{"cookie":{"originalMaxAge":9007199254740991,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"path":"/app"},"views":4}"#,
    r#"{"cookie":{"originalMaxAge":999999999999999,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"path":"/app"},"views":4}"#,
    r#"{"cookie":{"originalMaxAge":1e300,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"path":"/app"},"views":4}"#,
    r#"{"cookie":{"originalMaxAge":null,"expires":"+275760-09-13T00:00:00.000Z","httpOnly":true,"path":"/app"},"views":4}"#,
];

#[actix_web::test]
async fn redis_sessions_with_lifetimes_beyond_year_9999_are_served_with_the_last_date() {
    let server = redis_server::shared();
    for (n, json) in ABSURD_LIFETIMES.iter().enumerate() {
        // With session end events, every renewal also rewrites the session's shadow key.
        for (rolling, events) in [(false, false), (true, false), (false, true)] {
            let store = if events {
                RedisStore::builder(&server.url())
                    .unwrap()
                    .key_prefix(format!("test:{}:", unique_id()))
                    .on_session_end(|_| {})
                    .try_build()
                    .unwrap()
            } else {
                store()
            };
            let id = format!("absurd-{n}-{rolling}-{events}-{}", unique_id());
            server.cli(&["set", &store.key(&id), json, "px", "3600000"]);
            let app = app!(store, rolling);
            for views in [5, 6] {
                let (status, headers, body) = get(&app, "/app/count", Some(&cookie_for(&id))).await;
                assert_eq!((status, body), (200, format!("{id} {views}")), "{json}");
                let set = set_cookie_named(&headers, "connect.sid").expect("with expiry");
                if json.contains(r#""originalMaxAge":null"#) {
                    // No lifetime to renew from: the key's TTL is the truth (see `follow_ttl`).
                    let expires = common::expires_of(&set).expect("an Expires");
                    let hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
                    assert!((expires - hour).abs() < time::Duration::minutes(1), "{set}");
                } else {
                    assert!(
                        set.contains(&format!("; Expires={LAST_HTTP_DATE};")),
                        "{json}: {set}"
                    );
                }
                let (status, _, body) = get(&app, "/app/plain", Some(&cookie_for(&id))).await;
                assert_eq!((status, body.as_str()), (200, "plain"), "{json}");
            }
        }
    }
}

/// Records that are not records (a date no program writes, a cookie that is not an object, not
/// JSON at all): the request gets a fresh session, and the stored value is left alone.
#[actix_web::test]
async fn an_unreadable_redis_record_is_no_session() {
    let server = redis_server::shared();
    for json in [
        r#"{"cookie":{"originalMaxAge":null,"expires":"+1-01-01T00:00:00Z","path":"/app"},"views":4}"#,
        r#"{"cookie":{"originalMaxAge":1000,"expires":"yesterday","path":"/app"},"views":4}"#,
        r#"{"cookie":7,"views":4}"#,
        "not json",
    ] {
        let store = store();
        let id = unique_id();
        let key = store.key(&id);
        server.cli(&["set", &key, json, "px", "3600000"]);
        let app = app!(store, false);
        let (status, headers, body) = get(&app, "/app/count", Some(&cookie_for(&id))).await;
        assert_eq!(status, 200, "{json}: {body}");
        let set = set_cookie_named(&headers, "connect.sid").expect("a new session");
        let new_id = common::id_of(&set);
        assert_ne!(new_id, id, "{json}");
        assert_eq!(body, format!("{new_id} 1"), "{json}");
        assert_eq!(server.cli(&["get", &key]).trim_end(), json, "left alone");
    }
}

#[actix_web::test]
async fn redis_stored_cookie_attributes_cannot_inject_into_set_cookie() {
    let server = redis_server::shared();
    let store = store();
    let id = unique_id();
    let json = r#"{"cookie":{"originalMaxAge":3600000,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"domain":"evil.example; SameSite=None","path":"/app; Domain=evil.example"},"views":4}"#;
    server.cli(&["set", &store.key(&id), json, "px", "3600000"]);
    let app = app!(store, true);
    for path in ["/app/count", "/app/plain"] {
        let (status, headers, _) = get(&app, path, Some(&cookie_for(&id))).await;
        assert_eq!(status, 200, "{path}");
        let set = set_cookie_named(&headers, "connect.sid").expect("rolling");
        let value = SessionCodec::new("connect.sid", SECRET).cookie_value(&id);
        assert!(
            set.starts_with(&format!("connect.sid={value}; Path=/app; Expires=")),
            "{path}: {set}"
        );
        assert!(set.ends_with(" GMT; HttpOnly"), "{path}: {set}");
    }
    let stored = server.cli(&["get", &store.key(&id)]);
    assert!(!stored.contains("evil"), "{stored}");
}
