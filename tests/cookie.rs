//! The session cookie on the wire: which requests have a session (the path gate), how the
//! `Cookie` header is read, and the exact `Set-Cookie` sent back.

mod common;

use std::{cell::RefCell, collections::HashMap, rc::Rc, time::Duration};

use actix_typed_session::{
    store::{SaveOutcome, SaveRequest, SessionStore, StoreError},
    CookieSecure, MemoryStore, Priority, Record, SameSite, Session, SessionCodec, SessionCookie,
    SessionMiddleware,
};
use actix_web::{
    http::header::{HeaderValue, COOKIE, SET_COOKIE},
    test::{self, TestRequest},
    web, App, HttpResponse,
};
use common::{
    count, expires_of, id_and_views, id_of, no_set_cookie, only_set_cookie, pair, peek, send,
    set_cookies, stored_json, CountingStore, Visit, SECRET,
};
use time::OffsetDateTime;

/// express-session's test vector: session `apple` signed with `keyboard cat`.
const APPLE_COOKIE: &str =
    "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU";
/// The same value before percent-encoding.
const APPLE_RAW: &str = "s:apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU";

/// Does not use the session.
async fn plain() -> &'static str {
    "plain"
}

/// Counts a view and sets two cookies of its own.
async fn count_with_own_cookies(mut session: Session<Visit>) -> HttpResponse {
    session.views += 1;
    let body = format!("{} {}", session.id(), session.views);
    HttpResponse::Ok()
        .insert_header((SET_COOKIE, "theme=dark; Path=/"))
        .append_header((SET_COOKIE, "lang=fr; Path=/; Max-Age=60"))
        .body(body)
}

async fn destroy(session: Session<Visit>) -> &'static str {
    session.destroy().await.expect("destroyed");
    "destroyed"
}

macro_rules! app {
    ($middleware:expr) => {
        test::init_service(
            App::new()
                .wrap($middleware)
                .route("/count", web::get().to(count))
                .route("/peek", web::get().to(peek))
                .route("/own-cookies", web::get().to(count_with_own_cookies))
                .route("/destroy", web::get().to(destroy))
                .route("/public", web::get().to(count))
                .route("/public/plain", web::get().to(plain))
                .route("/admin", web::get().to(count))
                .route("/admin/x", web::get().to(count))
                .route("/adminfoo", web::get().to(count)),
        )
        .await
    };
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(path)
}

fn with_cookie(path: &str, cookie: &str) -> TestRequest {
    get(path).insert_header((COOKIE, cookie.to_owned()))
}

fn codec() -> SessionCodec {
    SessionCodec::new("connect.sid", SECRET)
}

/// `connect.sid=<signed id>`, as a browser sends it back.
fn cookie_for(id: &str) -> String {
    format!("connect.sid={}", codec().cookie_value(id))
}

/// Stores a browser-session record for `id` with `views` views.
async fn put<S: SessionStore>(store: &S, id: &str, views: u32) {
    let mut record = Record::new(SessionCookie::default());
    record.set_data(&Visit { views }).unwrap();
    let outcome = SessionStore::save(store, id, SaveRequest::Create(&record))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Saved);
}

fn loads(store: &CountingStore) -> usize {
    store.calls.get()[0]
}

// 10. The path gate

#[actix_web::test]
async fn requests_outside_the_cookie_path_get_no_session() {
    let store = CountingStore::default();
    put(&store.inner, "known", 3).await;
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_path("/admin")
        .save_uninitialized(true)
        .rolling(true)
        .build());

    // A handler that needs the session fails: there is none.
    let (status, headers, body) = send(&app, get("/public")).await;
    assert_eq!(status, 500, "{body}");
    no_set_cookie(&headers);
    let (status, headers, _) = send(&app, with_cookie("/public", &cookie_for("known"))).await;
    assert_eq!(status, 500);
    no_set_cookie(&headers);

    // A handler that does not is unaffected, and nothing is loaded, touched or written.
    let (status, headers, body) =
        send(&app, with_cookie("/public/plain", &cookie_for("known"))).await;
    assert_eq!((status, body.as_str()), (200, "plain"));
    no_set_cookie(&headers);
    let (status, headers, _) = send(&app, get("/public/plain")).await;
    assert_eq!(status, 200);
    no_set_cookie(&headers);

    assert_eq!(store.calls.get(), [0; 5], "the store was never asked");
    assert_eq!(store.len().await.unwrap(), 1);
}

#[actix_web::test]
async fn requests_under_the_cookie_path_get_a_session() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_path("/admin")
        .build());
    let (status, headers, body) = send(&app, get("/admin/x")).await;
    assert_eq!(status, 200);
    let (id, views) = id_and_views(&body);
    assert_eq!(views, 1);
    assert_eq!(
        only_set_cookie(&headers),
        format!("{}; Path=/admin; HttpOnly; SameSite=Lax", cookie_for(&id))
    );
    assert_eq!(
        stored_json(&store, &id).await.as_deref(),
        Some(
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/admin","sameSite":"lax"},"views":1}"#
        )
    );
    let (_, _, body) = send(&app, with_cookie("/admin", &cookie_for(&id))).await;
    assert_eq!(body, format!("{id} 2"));
}

#[actix_web::test]
async fn cookie_path_is_a_plain_prefix() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_path("/admin")
        .build());
    // express tests `pathname.indexOf(cookiePath) === 0`: `/adminfoo` is inside `/admin`.
    let (status, headers, body) = send(&app, get("/adminfoo")).await;
    assert_eq!(status, 200, "{body}");
    let (id, views) = id_and_views(&body);
    assert_eq!(views, 1);
    assert_eq!(id_of(&only_set_cookie(&headers)), id);
    let (_, _, body) = send(&app, with_cookie("/adminfoo", &cookie_for(&id))).await;
    assert_eq!(body, format!("{id} 2"));
}

// 11. Reading the Cookie header

#[actix_web::test]
async fn first_cookie_of_the_name_wins() {
    let store = CountingStore::default();
    put(&store.inner, "first", 10).await;
    put(&store.inner, "second", 20).await;
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());

    let header = format!("other=1; {}; {}", cookie_for("first"), cookie_for("second"));
    let (_, _, body) = send(&app, with_cookie("/peek", &header)).await;
    assert_eq!(body, "first 10");

    // An invalid first cookie hides a valid second one: no session, and no load.
    let loads_before = loads(&store);
    let header = format!("connect.sid=s%3Aforged.sig; {}", cookie_for("second"));
    let (status, headers, body) = send(&app, with_cookie("/count", &header)).await;
    let (id, views) = id_and_views(&body);
    assert_eq!((status, views), (200, 1));
    assert_ne!(id, "second");
    assert_eq!(id_of(&only_set_cookie(&headers)), id);
    assert_eq!(loads(&store), loads_before, "the store was not asked");

    // Across several Cookie headers, the first header's cookie wins too.
    let req = get("/peek")
        .append_header((COOKIE, cookie_for("second")))
        .append_header((COOKIE, cookie_for("first")));
    let (_, _, body) = send(&app, req).await;
    assert_eq!(body, "second 20");
    let req = get("/peek")
        .append_header((COOKIE, "connect.sid=garbage"))
        .append_header((COOKIE, cookie_for("first")));
    let (_, _, body) = send(&app, req).await;
    assert_eq!(id_and_views(&body).1, 0, "{body}");
}

#[actix_web::test]
async fn value_with_percent_is_percent_decoded() {
    let store = MemoryStore::default();
    put(&store, "apple", 4).await;
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    // Only `:` encoded: the `+` and `/` stay as they are (decodeURIComponent, not form decoding).
    let partly = format!("connect.sid={}", APPLE_RAW.replacen(':', "%3A", 1));
    let (_, _, body) = send(&app, with_cookie("/peek", &partly)).await;
    assert_eq!(body, "apple 4");
    // Every byte encoded, lower-case hex.
    let all: String = APPLE_RAW.bytes().map(|b| format!("%{b:02x}")).collect();
    let (_, _, body) = send(&app, with_cookie("/peek", &format!("connect.sid={all}"))).await;
    assert_eq!(body, "apple 4");
}

#[actix_web::test]
async fn value_without_percent_is_taken_raw() {
    let store = MemoryStore::default();
    put(&store, "apple", 4).await;
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    let (status, _, body) = send(
        &app,
        with_cookie("/peek", &format!("connect.sid={APPLE_RAW}")),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "apple 4"));
    // Spaces around the pair are not part of it.
    let (_, _, body) = send(
        &app,
        with_cookie("/peek", &format!("a=b;  connect.sid = {APPLE_RAW} ;c=d")),
    )
    .await;
    assert_eq!(body, "apple 4");
}

#[actix_web::test]
async fn double_quoted_value_is_unquoted() {
    let store = MemoryStore::default();
    put(&store, "apple", 4).await;
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    let value = APPLE_COOKIE.strip_prefix("connect.sid=").unwrap();
    let (_, _, body) = send(
        &app,
        with_cookie("/peek", &format!("connect.sid=\"{value}\"")),
    )
    .await;
    assert_eq!(body, "apple 4");
}

#[actix_web::test]
async fn unsigned_value_is_no_session_and_the_store_is_not_asked() {
    let store = CountingStore::default();
    put(&store.inner, "apple", 4).await;
    put(&store.inner, "abc", 4).await;
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    for cookie in [
        "connect.sid=abc",
        "connect.sid=apple",
        "connect.sid=s%3Aapple",
        "connect.sid=s:apple.",
        "connect.sid=apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU",
    ] {
        let (status, headers, body) = send(&app, with_cookie("/count", cookie)).await;
        let (id, views) = id_and_views(&body);
        assert_eq!((status, views), (200, 1), "{cookie}");
        assert!(id != "abc" && id != "apple", "{cookie}: {id}");
        assert_eq!(id_of(&only_set_cookie(&headers)), id);
    }
    assert_eq!(loads(&store), 0, "the store was never asked");
    assert!(stored_json(&store.inner, "apple")
        .await
        .unwrap()
        .ends_with(r#""views":4}"#));
}

#[actix_web::test]
async fn non_utf8_bytes_elsewhere_in_the_header_do_not_hide_the_cookie() {
    let store = MemoryStore::default();
    put(&store, "apple", 4).await;
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    let mut header = b"junk=\xff\xfe; ".to_vec();
    header.extend_from_slice(APPLE_COOKIE.as_bytes());
    let req = get("/peek").insert_header((COOKIE, HeaderValue::from_bytes(&header).unwrap()));
    let (status, _, body) = send(&app, req).await;
    assert_eq!((status, body.as_str()), (200, "apple 4"));
}

#[actix_web::test]
async fn value_with_an_invalid_escape_is_kept_raw() {
    // `%of` is no escape: decodeURIComponent throws, and the cookie package keeps the raw value.
    let store = MemoryStore::default();
    put(&store, "50%off", 4).await;
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    let signed = codec().cookie_value("50%off");
    assert!(signed.starts_with("s%3A50%25off."), "{signed}");
    // As the middleware sends it: encoded, decoded on the way back.
    let (_, _, body) = send(&app, with_cookie("/peek", &format!("connect.sid={signed}"))).await;
    assert_eq!(body, "50%off 4");
    // Sent unencoded: the `%` does not start a valid escape, so the raw value is the signed one.
    let raw = signed
        .replace("%3A", ":")
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%25", "%");
    assert!(
        raw.starts_with("s:50%off.") && !raw[9..].contains('%'),
        "{raw}"
    );
    let (_, _, body) = send(&app, with_cookie("/peek", &format!("connect.sid={raw}"))).await;
    assert_eq!(body, "50%off 4");
}

// 12. A verified id that the store does not have

#[actix_web::test]
async fn verified_unknown_id_gets_a_new_session_with_a_new_id() {
    let store = CountingStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    let (status, headers, body) = send(&app, with_cookie("/count", &cookie_for("ghost"))).await;
    let (id, views) = id_and_views(&body);
    assert_eq!((status, views), (200, 1));
    assert_ne!(id, "ghost", "an unknown id is never adopted");
    assert_eq!(id.len(), 32);
    assert_eq!(
        only_set_cookie(&headers),
        format!("{}; Path=/; HttpOnly; SameSite=Lax", cookie_for(&id))
    );
    assert_eq!(loads(&store), 1, "the verified id was looked up");
    assert_eq!(stored_json(&store.inner, "ghost").await, None);
    assert!(stored_json(&store.inner, &id).await.is_some());
}

#[actix_web::test]
async fn expired_session_gets_a_new_session_with_a_new_id() {
    let store = MemoryStore::default();
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_millis(30)));
    let mut record = Record::new(cookie);
    record.set_data(&Visit { views: 7 }).unwrap();
    actix_typed_session::store::LocalSessionStore::save(
        &store,
        "stale",
        SaveRequest::Create(&record),
    )
    .await
    .unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(60)).await;

    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    let (status, headers, body) = send(&app, with_cookie("/count", &cookie_for("stale"))).await;
    let (id, views) = id_and_views(&body);
    assert_eq!((status, views), (200, 1));
    assert_ne!(id, "stale");
    assert_eq!(id_of(&only_set_cookie(&headers)), id);
}

/// A store without expiry of its own: it hands back records as stored, expired or not.
#[derive(Clone, Default)]
struct NoExpiryStore {
    records: Rc<RefCell<HashMap<String, Record>>>,
}

/// `Rc` inside: not `Send`, so a [`LocalSessionStore`](actix_typed_session::store::LocalSessionStore),
/// which the middleware takes as well.
impl actix_typed_session::store::LocalSessionStore for NoExpiryStore {
    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.records.borrow().get(id).cloned())
    }

    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        let mut records = self.records.borrow_mut();
        Ok(match request {
            SaveRequest::Create(_) if records.contains_key(id) => SaveOutcome::Conflict,
            SaveRequest::Create(record) => {
                records.insert(id.to_owned(), record.clone());
                SaveOutcome::Saved
            }
            SaveRequest::Update { cookie, changes } => match records.get_mut(id) {
                Some(record) => {
                    record.cookie = cookie.clone();
                    record.fields.apply(changes);
                    SaveOutcome::Saved
                }
                None => SaveOutcome::Gone,
            },
            _ => unreachable!("no other save requests exist"),
        })
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.records.borrow_mut().remove(id);
        Ok(())
    }
}

#[actix_web::test]
async fn expired_record_handed_back_by_the_store_gets_a_new_id() {
    let store = NoExpiryStore::default();
    let mut cookie = SessionCookie::default();
    cookie.set_expires(Some(OffsetDateTime::now_utc() - Duration::from_secs(3600)));
    let mut record = Record::new(cookie);
    record.set_data(&Visit { views: 7 }).unwrap();
    store
        .records
        .borrow_mut()
        .insert("stale".to_owned(), record);

    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    let (status, headers, body) = send(&app, with_cookie("/count", &cookie_for("stale"))).await;
    let (id, views) = id_and_views(&body);
    assert_eq!((status, views), (200, 1), "the expired data is not used");
    assert_ne!(id, "stale");
    assert_eq!(id_of(&only_set_cookie(&headers)), id);
    assert!(store.records.borrow()[&id]
        .to_json()
        .ends_with(r#""views":1}"#));
}

// 20. A secure cookie on an insecure request

#[actix_web::test]
async fn secure_cookie_over_http_is_not_sent_but_the_session_is_saved() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_secure(CookieSecure::Always)
        .build());
    let (status, headers, body) = send(&app, get("/count")).await;
    assert_eq!(status, 200);
    no_set_cookie(&headers);
    let (id, _) = id_and_views(&body);
    assert_eq!(store.ids().await.unwrap(), vec![id.as_str()]);
    assert_eq!(
        stored_json(&store, &id).await.as_deref(),
        Some(
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":true,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
        )
    );
}

// 22. The handler's own Set-Cookie headers

#[actix_web::test]
async fn handler_set_cookies_are_kept_and_the_session_cookie_appended() {
    let app = app!(SessionMiddleware::builder(MemoryStore::default(), SECRET).build());
    let (status, headers, body) = send(&app, get("/own-cookies")).await;
    assert_eq!(status, 200);
    let (id, _) = id_and_views(&body);
    assert_eq!(
        set_cookies(&headers),
        [
            "theme=dark; Path=/".to_owned(),
            "lang=fr; Path=/; Max-Age=60".to_owned(),
            format!("{}; Path=/; HttpOnly; SameSite=Lax", cookie_for(&id)),
        ]
    );
}

// 30. The express-session test vector

#[actix_web::test]
async fn express_test_vector_cookie_resolves_session_apple() {
    let store = MemoryStore::default();
    put(&store, "apple", 41).await;
    let app = app!(SessionMiddleware::builder(store.clone(), "keyboard cat").build());
    let (status, headers, body) = send(&app, with_cookie("/count", APPLE_COOKIE)).await;
    assert_eq!((status, body.as_str()), (200, "apple 42"));
    // A browser-session cookie is not re-sent on modification.
    no_set_cookie(&headers);
    assert_eq!(
        stored_json(&store, "apple").await.as_deref(),
        Some(
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"views":42}"#
        )
    );
}

#[actix_web::test]
async fn genid_apple_sets_the_express_test_vector_byte_for_byte() {
    let app = app!(
        SessionMiddleware::builder(MemoryStore::default(), "keyboard cat")
            .genid(|_| "apple".into())
            .build()
    );
    let (_, headers, body) = send(&app, get("/count")).await;
    assert_eq!(body, "apple 1");
    assert_eq!(
        only_set_cookie(&headers),
        "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU; Path=/; HttpOnly; SameSite=Lax"
    );
}

// 31. Set-Cookie attribute order

#[actix_web::test]
async fn set_cookie_attribute_order_with_every_attribute() {
    let app = app!(SessionMiddleware::builder(MemoryStore::default(), SECRET)
        .cookie_domain("example.com")
        .cookie_max_age(Some(Duration::from_secs(3600)))
        .cookie_secure(CookieSecure::Always)
        .cookie_partitioned(true)
        .cookie_priority(Priority::High)
        .cookie_same_site(SameSite::Strict)
        .proxy(true)
        .build());
    let before = OffsetDateTime::now_utc();
    let req = get("/count").insert_header(("x-forwarded-proto", "https"));
    let (_, headers, body) = send(&app, req).await;
    let (id, _) = id_and_views(&body);
    let set_cookie = only_set_cookie(&headers);
    let expires = expires_of(&set_cookie).expect("Expires");
    let expected = before + Duration::from_secs(3600);
    assert!(
        (expires - expected).abs() <= time::Duration::seconds(2),
        "{set_cookie}"
    );
    let date = set_cookie
        .split("; ")
        .find_map(|a| a.strip_prefix("Expires="))
        .unwrap();
    assert_eq!(
        set_cookie,
        format!(
            "{}; Domain=example.com; Path=/; Expires={date}; HttpOnly; Secure; Partitioned; Priority=High; SameSite=Strict",
            cookie_for(&id)
        )
    );
}

#[actix_web::test]
async fn set_cookie_never_has_max_age() {
    let app = app!(SessionMiddleware::builder(MemoryStore::default(), SECRET)
        .cookie_max_age(Some(Duration::from_secs(60)))
        .rolling(true)
        .build());
    let (_, headers, _) = send(&app, get("/count")).await;
    let first = only_set_cookie(&headers);
    let cookie = pair(&first);
    let (_, headers, _) = send(&app, with_cookie("/peek", &cookie)).await;
    let rolled = only_set_cookie(&headers);
    let (_, headers, body) = send(&app, with_cookie("/destroy", &cookie)).await;
    assert_eq!(body, "destroyed");
    let cleared = only_set_cookie(&headers);
    assert_eq!(
        cleared,
        "connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
    );
    for set_cookie in [first, rolled, cleared] {
        assert!(set_cookie.contains("; Expires="), "{set_cookie}");
        assert!(
            !set_cookie.to_ascii_lowercase().contains("max-age"),
            "{set_cookie}"
        );
    }
}
