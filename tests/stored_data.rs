//! Stored session records are not trusted: absurd lifetimes and dates, hostile cookie attributes
//! and arbitrary JSON in a record are served (as the session, saturated, or as no session), never
//! a panic, never a 500, and never a `Set-Cookie` with an attribute the record injected.

mod common;

use std::time::Duration;

use actix_typed_session::{
    store::{SaveRequest, SessionStore},
    MemoryStore, Record, Session, SessionCodec, SessionError, SessionMiddleware,
};
use actix_web::{web, App};
use common::{count, get, set_cookie_named, stored_json, Visit, SECRET};
use proptest::prelude::*;

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
    // The renewal put the expiry in the past: the store ends the session, so the response may
    // carry no cookie at all; one that it carries expires at the epoch.
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

/// A record whose stored cookie attributes would inject others into `Set-Cookie`.
const HOSTILE_ATTRIBUTES: &str = r#"{"cookie":{"originalMaxAge":3600000,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"domain":"evil.example; SameSite=None","path":"/app; Domain=evil.example"},"views":4}"#;

#[actix_web::test]
async fn stored_cookie_attributes_cannot_inject_into_set_cookie() {
    let store = MemoryStore::default();
    let id = "hostile-attributes-00000000000000";
    put(&store, id, HOSTILE_ATTRIBUTES).await;
    let app = actix_web::test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), SECRET)
                    .cookie_path("/app")
                    .rolling(true)
                    .build(),
            )
            .route("/app/count", web::get().to(count))
            .route("/app/plain", web::get().to(plain)),
    )
    .await;
    for path in ["/app/count", "/app/plain"] {
        let (status, headers, _) = get(&app, path, Some(&cookie_for(id))).await;
        assert_eq!(status, 200, "{path}");
        let set = set_cookie_named(&headers, "connect.sid").expect("rolling");
        let value = SessionCodec::new("connect.sid", SECRET).cookie_value(id);
        // No Domain (host-only), the configured Path, nothing injected.
        assert!(
            set.starts_with(&format!("connect.sid={value}; Path=/app; Expires=")),
            "{path}: {set}"
        );
        assert!(set.ends_with(" GMT; HttpOnly"), "{path}: {set}");
        assert!(
            !set.contains("evil") && !set.contains("SameSite"),
            "{path}: {set}"
        );
    }
    // What the store holds now is the attributes the cookie was sent with.
    let stored = stored_json(&store, id).await.unwrap();
    assert!(!stored.contains("evil"), "{stored}");
    assert!(
        stored.contains(r#""httpOnly":true,"path":"/app"}"#),
        "{stored}"
    );
}

/// Everything logged on this thread while the returned guard lives.
fn capture_logs() -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    #[derive(Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = std::sync::Arc::default();
    let sink = Sink(std::sync::Arc::clone(&logs));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

fn text(logs: &std::sync::Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
}

#[test]
fn a_dropped_stored_attribute_is_logged() {
    let (logs, _guard) = capture_logs();
    let record = Record::from_json(HOSTILE_ATTRIBUTES).unwrap();
    assert_eq!((record.cookie.domain(), record.cookie.path()), (None, ""));
    let logs = text(&logs);
    assert!(
        logs.contains("stored cookie.domain is not a host name; dropped"),
        "{logs}"
    );
    assert!(
        logs.contains("stored cookie.path is not a valid cookie path; dropped"),
        "{logs}"
    );
}

/// A store whose every record is unreadable.
#[derive(Clone)]
struct CorruptStore;

impl SessionStore for CorruptStore {
    async fn load(
        &self,
        _: &str,
    ) -> Result<Option<Record>, actix_typed_session::store::StoreError> {
        Err(actix_typed_session::store::StoreError::corrupt(
            "invalid session record: cookie.expires \"yesterday\"",
        ))
    }

    async fn save(
        &self,
        _: &str,
        _: SaveRequest<'_>,
    ) -> Result<actix_typed_session::store::SaveOutcome, actix_typed_session::store::StoreError>
    {
        Ok(actix_typed_session::store::SaveOutcome::Saved)
    }

    async fn destroy(&self, _: &str) -> Result<(), actix_typed_session::store::StoreError> {
        Ok(())
    }
}

#[actix_web::test]
async fn an_unreadable_record_is_logged_without_its_id() {
    let id = "the-secret-id-of-a-damaged-record";
    let (logs, _guard) = capture_logs();
    let app = app!(
        CorruptStore,
        |b: actix_typed_session::SessionMiddlewareBuilder<_>| b
    );
    let (status, headers, body) = get(&app, "/count", Some(&cookie_for(id))).await;
    let set = set_cookie_named(&headers, "connect.sid").expect("a new session");
    assert_eq!((status, body), (200, format!("{} 1", common::id_of(&set))));
    let logs = text(&logs);
    assert!(
        logs.contains("stored session is not a valid record; starting anew"),
        "{logs}"
    );
    assert!(logs.contains("cookie.expires"), "the detail: {logs}");
    assert!(!logs.contains(id), "the id is a secret: {logs}");
    let value = SessionCodec::new("connect.sid", SECRET).cookie_value(id);
    let signature = value.rsplit_once('.').unwrap().1;
    assert!(!logs.contains(signature), "{logs}");
}

// Arbitrary records, through `Record::from_json` and a `MemoryStore` behind the middleware.

/// Any JSON value, biased to what breaks dates and numbers.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| serde_json::to_string(&f).unwrap()),
        "-?[1-9][0-9]{0,20}(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,3})?",
        "\"[+-]?[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,3})?(Z|[+-][0-9]{2}:[0-9]{2})\"",
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        "\"[ -~]{0,12}\"",
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|members| {
                let members: Vec<_> = members
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// A number as a store may hold it: any size, any spelling.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| serde_json::to_string(&f).unwrap()),
        "-?[1-9][0-9]{0,20}(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,3})?",
        (0i64..100_000_000).prop_map(|n| n.to_string()),
        Just("9007199254740991".to_owned()),
        Just("999999999999999".to_owned()),
        Just("-1e300".to_owned()),
        Just("null".to_owned()),
    ]
}

/// A date as JavaScript writes it, with any year it can hold (six digits and a sign outside
/// 0000..=9999), or with an offset as other programs write it.
fn date() -> impl Strategy<Value = String> {
    let year = prop_oneof![
        (0u32..=9999).prop_map(|y| format!("{y:04}")),
        (0u32..=275_760).prop_map(|y| format!("+{y:06}")),
        (0u32..=271_821).prop_map(|y| format!("-{y:06}")),
    ];
    let offset = prop_oneof![
        Just("Z".to_owned()),
        (any::<bool>(), 0u8..24, 0u8..60)
            .prop_map(|(west, h, m)| { format!("{}{h:02}:{m:02}", if west { '-' } else { '+' }) }),
    ];
    prop_oneof![
        (
            year,
            1u8..=12,
            1u8..=28,
            0u8..24,
            0u8..60,
            0u8..60,
            0u16..1000,
            offset
        )
            .prop_map(|(y, mo, d, h, mi, s, ms, off)| {
                format!("\"{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}{off}\"")
            }),
        Just("null".to_owned()),
        json_value(),
    ]
}

/// The text of a `path` or `domain`: well-formed, or made to inject attributes.
fn attribute_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "/[a-z0-9/._-]{0,10}",
        "\\.?[a-z0-9-]{1,8}(\\.[a-z0-9-]{1,8}){0,2}",
        "[ -~]{0,12}",
        "[\\x00-\\x7f]{0,8}",
        Just("evil.example; SameSite=None".to_owned()),
        Just("/; Domain=evil.example".to_owned()),
        Just("/\r\nSet-Cookie: x=1".to_owned()),
        any::<String>(),
    ]
    .prop_map(|s| serde_json::to_string(&s).unwrap())
}

/// One member of a cookie object: each of express's keys with values of its type and of others.
fn cookie_member() -> impl Strategy<Value = String> {
    let flag = || {
        prop_oneof![
            any::<bool>().prop_map(|b| b.to_string()),
            Just("null".to_owned())
        ]
    };
    let named = |name: &'static str| move |v: String| format!("\"{name}\":{v}");
    prop_oneof![
        3 => number().prop_map(named("originalMaxAge")),
        3 => date().prop_map(named("expires")),
        3 => attribute_text().prop_map(named("path")),
        3 => attribute_text().prop_map(named("domain")),
        1 => flag().prop_map(named("httpOnly")),
        1 => flag().prop_map(named("secure")),
        1 => flag().prop_map(named("partitioned")),
        1 => prop_oneof![
            Just("true"), Just("false"), Just("\"lax\""), Just("\"None\""), Just("\"strict\"")
        ]
        .prop_map(|v| format!("\"sameSite\":{v}")),
        1 => prop_oneof![Just("\"low\""), Just("\"High\""), Just("null")]
            .prop_map(|v| format!("\"priority\":{v}")),
        1 => ("[a-zA-Z]{1,14}", json_value()).prop_map(|(k, v)| format!("\"{k}\":{v}")),
    ]
}

/// A cookie object of such members.
fn cookie_object() -> impl Strategy<Value = String> {
    prop::collection::vec(cookie_member(), 0..8).prop_map(|m| format!("{{{}}}", m.join(",")))
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

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        // The minimal failing input is printed; no regression files next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_stored_record_is_served_without_a_panic_or_a_500(
        cookie in cookie_object(),
        views in json_value(),
        max_age_ms in any::<u64>(),
    ) {
        // `count` adds one view per request: no room for an overflow in the test's own handler.
        let decoded = serde_json::from_str::<Option<u32>>(&views);
        prop_assume!(!matches!(decoded, Ok(Some(n)) if n > u32::MAX - 4));
        let json = format!(r#"{{"cookie":{cookie},"views":{views}}}"#);
        let Ok(record) = Record::from_json(&json) else {
            // Not a record: a store reports it as corrupt (see `tests/opaque_errors.rs`).
            return Ok(());
        };
        // Everything a record can be turned into.
        let _ = record.to_json();
        let _ = record.cookie.max_age_ms();
        let mut cookie = record.cookie.clone();
        cookie.set_max_age(Some(Duration::from_millis(max_age_ms)));
        let _ = Record::new(cookie.clone()).to_json();
        cookie.set_expires(record.cookie.expires());
        let _ = Record::new(cookie).to_json();

        actix_web::rt::System::new().block_on(async {
            let store = MemoryStore::default();
            let id = "arbitrary-record-000000000000000";
            store.save(id, SaveRequest::Create(&record)).await.unwrap();
            let _ = store.load(id).await.unwrap();
            let _ = store.touch(id, None).await.unwrap();
            let _ = stored_json(&store, id).await;
            let app = app!(store, |b: actix_typed_session::SessionMiddlewareBuilder<_>| b
                .rolling(true));
            for path in ["/plain", "/count", "/count", &format!("/remember/{max_age_ms}")] {
                let (status, headers, body) = get(&app, path, Some(&cookie_for(id))).await;
                // A `views` that is not a number is a typed decode error (500 by design, as for
                // a field whose type changed across deploys); anything else is served.
                // (unless the record had expired: then the request has a fresh session).
                if decoded.is_ok() || path == "/plain" {
                    assert_eq!(status, 200, "{path} {json}: {body}");
                } else if status != 200 {
                    assert_eq!((status, body.as_str()), (500, "session error"), "{path} {json}");
                }
                for set in common::set_cookies(&headers) {
                    assert_well_formed(&set);
                }
            }
        });
    }
}
