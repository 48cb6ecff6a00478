//! Stored session records are not trusted: absurd lifetimes and dates, hostile cookie attributes
//! and arbitrary JSON in a record are served (as the session, saturated, or as no session), never
//! a panic, never a 500, and never a `Set-Cookie` with an attribute the record injected.

mod common;

use std::time::Duration;

use actix_typed_session::{
    MemoryStore, Record, SaveRequest, Session, SessionCodec, SessionError, SessionMiddleware,
    SessionStore,
};
use actix_web::{web, App};
use common::{count, get, set_cookie_named, stored_json, Visit, SECRET};

/// The latest `Expires` a cookie can carry: every later expiry saturates to it.
const LAST_HTTP_DATE: &str = "Fri, 31 Dec 9999 23:59:59 GMT";
/// The latest expiry a record can carry.
const LAST_ISO_DATE: &str = "9999-12-31T23:59:59.999Z";

/// The `Cookie` header of a request for session `id`.
fn cookie_for(id: &str) -> String {
    format!(
        "connect.sid={}",
        SessionCodec::new("connect.sid", SECRET).cookie_value(id)
    )
}

/// Puts the record `json` into `store` as session `id`.
async fn put(store: &MemoryStore, id: &str, json: &str) {
    let record = Record::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    store.save(id, SaveRequest::Create(&record)).await.unwrap();
}

async fn plain() -> &'static str {
    "plain"
}

/// Sets the session's lifetime to `ms` milliseconds (`u64`), as a "remember me" login would.
async fn remember(
    mut session: Session<Visit>,
    ms: web::Path<u64>,
) -> Result<&'static str, SessionError> {
    session
        .cookie_mut()?
        .set_max_age(Some(Duration::from_millis(ms.into_inner())));
    session.views += 1;
    Ok("remembered")
}

macro_rules! app {
    ($store:expr, $builder:expr) => {
        actix_web::test::init_service(
            App::new()
                .wrap($builder(SessionMiddleware::builder($store.clone(), SECRET)).build())
                .route("/count", web::get().to(count))
                .route("/plain", web::get().to(plain))
                .route("/remember/{ms}", web::get().to(remember)),
        )
        .await
    };
}

/// Records whose lifetime goes past what a date can hold: the issue's `originalMaxAge`s
/// (2^53 - 1 and 10^15 - 1 milliseconds), a lifetime of 1e300 ms, and JavaScript's last date.
const ABSURD_LIFETIMES: &[&str] = &[
    r#"{"cookie":{"originalMaxAge":9007199254740991,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"views":4}"#,
    r#"{"cookie":{"originalMaxAge":999999999999999,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"views":4}"#,
    r#"{"cookie":{"originalMaxAge":1e300,"expires":null,"httpOnly":true,"path":"/"},"views":4}"#,
    r#"{"cookie":{"originalMaxAge":9007199254740991,"expires":"+275760-09-13T00:00:00.000Z","httpOnly":true,"path":"/"},"views":4}"#,
    r#"{"cookie":{"originalMaxAge":null,"expires":"9999-12-31T23:59:59.999Z","httpOnly":true,"path":"/"},"views":4}"#,
];

#[actix_web::test]
async fn sessions_with_lifetimes_beyond_year_9999_are_served_with_the_last_date() {
    for (n, json) in ABSURD_LIFETIMES.iter().enumerate() {
        for rolling in [false, true] {
            let store = MemoryStore::default();
            let id = format!("absurd-lifetime-{n}-{rolling}-000000000");
            put(&store, &id, json).await;
            let app = app!(store, |b: actix_typed_session::SessionMiddlewareBuilder<
                _,
            >| b.rolling(rolling));

            let (status, headers, body) = get(&app, "/count", Some(&cookie_for(&id))).await;
            assert_eq!((status, body), (200, format!("{id} 5")), "{json}");
            let set = set_cookie_named(&headers, "connect.sid").expect("modified, with expiry");
            assert!(
                set.contains(&format!("; Expires={LAST_HTTP_DATE};")),
                "{set}"
            );
            let stored = stored_json(&store, &id).await.unwrap();
            assert!(stored.contains(LAST_ISO_DATE), "{stored}");

            // A request that never extracts the session still touches it.
            let (status, _, body) = get(&app, "/plain", Some(&cookie_for(&id))).await;
            assert_eq!((status, body.as_str()), (200, "plain"), "{json}");
            let (status, _, body) = get(&app, "/count", Some(&cookie_for(&id))).await;
            assert_eq!((status, body), (200, format!("{id} 6")), "{json}");
        }
    }
}

#[actix_web::test]
async fn absurd_lifetimes_with_an_absolute_timeout_or_a_fixed_cookie_lifetime_are_served() {
    for (n, json) in ABSURD_LIFETIMES.iter().enumerate() {
        for (option, timeout) in [
            ("timeout", Duration::from_secs(3600)),
            ("fixed", Duration::MAX),
        ] {
            let store = MemoryStore::default();
            let id = format!("absurd-with-{option}-{n}-00000000000");
            put(&store, &id, json).await;
            let app = app!(store, |b: actix_typed_session::SessionMiddlewareBuilder<
                _,
            >| {
                if option == "timeout" {
                    b.absolute_timeout(timeout)
                } else {
                    b.cookie_lifetime(timeout)
                }
            });
            let (status, headers, body) = get(&app, "/count", Some(&cookie_for(&id))).await;
            assert_eq!((status, body), (200, format!("{id} 5")), "{option} {json}");
            for set in common::set_cookies(&headers) {
                assert_well_formed(&set);
            }
            let (status, _, _) = get(&app, "/plain", Some(&cookie_for(&id))).await;
            assert_eq!(status, 200, "{option} {json}");
        }
    }
}

#[actix_web::test]
async fn a_lifetime_set_beyond_year_9999_saturates() {
    let store = MemoryStore::default();
    let app = app!(store, |b: actix_typed_session::SessionMiddlewareBuilder<
        _,
    >| b);
    let (status, headers, _) = get(&app, &format!("/remember/{}", u64::MAX), None).await;
    assert_eq!(status, 200);
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    assert!(
        set.contains(&format!("; Expires={LAST_HTTP_DATE};")),
        "{set}"
    );
    let stored = stored_json(&store, &common::id_of(&set)).await.unwrap();
    assert!(
        stored.starts_with(&format!(
            r#"{{"cookie":{{"originalMaxAge":315569519999999,"expires":"{LAST_ISO_DATE}""#
        )),
        "{stored}"
    );
}

#[actix_web::test]
async fn a_negative_lifetime_beyond_year_0_ends_the_session() {
    let store = MemoryStore::default();
    let id = "negative-lifetime-0000000000000000";
    put(
        &store,
        id,
        r#"{"cookie":{"originalMaxAge":-1e300,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"views":4}"#,
    )
    .await;
    let app = app!(store, |b: actix_typed_session::SessionMiddlewareBuilder<
        _,
    >| b);
    let (status, headers, _) = get(&app, "/count", Some(&cookie_for(id))).await;
    assert_eq!(status, 200);
    if let Some(set) = set_cookie_named(&headers, "connect.sid") {
        assert!(
            set.contains("; Expires=Thu, 01 Jan 1970 00:00:00 GMT;"),
            "an expiry in the past is the epoch, never a year browsers misread: {set}"
        );
    }
    let (status, _, body) = get(&app, "/count", Some(&cookie_for(id))).await;
    assert_eq!(status, 200);
    assert!(body.ends_with(" 1"), "the session ended: {body}");
}

/// Checks a `Set-Cookie` that the middleware sent: only the attributes it writes, each well formed.
#[track_caller]
fn assert_well_formed(set: &str) {
    let mut parts = set.split("; ");
    let pair = parts.next().unwrap();
    assert!(pair.starts_with("connect.sid="), "{set}");
    for attribute in parts {
        let (name, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        match name {
            "Domain" => assert!(
                !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
                "{set}"
            ),
            "Path" => assert!(value.starts_with('/'), "{set}"),
            "Expires" => assert!(common::expires_of(set).is_some(), "{set}"),
            "HttpOnly" | "Secure" | "Partitioned" => assert!(value.is_empty(), "{set}"),
            "Priority" => assert!(["Low", "Medium", "High"].contains(&value), "{set}"),
            "SameSite" => assert!(["Strict", "Lax", "None"].contains(&value), "{set}"),
            _ => panic!("unexpected attribute {attribute:?} in {set}"),
        }
    }
}
