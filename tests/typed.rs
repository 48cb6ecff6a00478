//! Typed views: several types over one session, fields no type names, decode failures.

mod common;

use actix_typed_session::{
    store::{SaveRequest, SessionStore},
    MemoryStore, Record, Session, SessionCookie, SessionData, SessionError, SessionMiddleware,
};
use actix_web::{test, web, App, HttpResponse};
use common::{get, id_of, pair, set_cookie_named, CountingStore, SECRET};
use serde_json::value::RawValue;

#[derive(SessionData, Default)]
struct Counter {
    views: u32,
}

#[derive(SessionData, Default)]
#[session(rename_all = "camelCase")]
struct Login {
    user_id: Option<u64>,
}

async fn both(mut counter: Session<Counter>, mut login: Session<Login>) -> String {
    counter.views += 1;
    login.user_id = Some(7);
    format!("views={} user={:?}", counter.views, login.user_id)
}

async fn count(mut counter: Session<Counter>) -> String {
    counter.views += 1;
    format!("views={}", counter.views)
}

async fn logout(mut login: Session<Login>) -> String {
    login.user_id = None;
    "logged out".to_owned()
}

async fn checked(counter: Result<Session<Counter>, SessionError>) -> HttpResponse {
    match counter {
        Ok(c) => HttpResponse::Ok().body(format!("views={}", c.views)),
        Err(e) => HttpResponse::Ok().body(format!("{:?} field={:?}", e.kind(), e.field())),
    }
}

async fn app_with(
    store: &CountingStore,
) -> impl actix_web::dev::Service<
    actix_http::Request,
    Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/both", web::get().to(both))
            .route("/count", web::get().to(count))
            .route("/logout", web::get().to(logout))
            .route("/checked", web::get().to(checked)),
    )
    .await
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

/// Stores a session with the given raw fields; answers its cookie.
async fn seed(store: &MemoryStore, id: &str, fields: &[(&str, &str)]) -> String {
    let mut record = Record::new(SessionCookie::default());
    for (k, v) in fields {
        record.fields.set(k, raw(v));
    }
    store.save(id, SaveRequest::Create(&record)).await.unwrap();
    format!(
        "connect.sid={}",
        actix_typed_session::SessionCodec::new("connect.sid", SECRET).cookie_value(id)
    )
}

#[actix_web::test]
async fn two_typed_views_of_one_session_both_work() {
    let store = CountingStore::default();
    let app = app_with(&store).await;
    let (_, headers, body) = get(&app, "/both", None).await;
    assert_eq!(body, "views=1 user=Some(7)");
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    let json = store
        .inner
        .load(&id_of(&set))
        .await
        .unwrap()
        .unwrap()
        .to_json();
    assert!(json.contains(r#","views":1"#), "{json}");
    assert!(json.contains(r#","userId":7"#), "{json}");
    assert_eq!(store.calls.get()[1], 1, "one create for both views");
}

#[actix_web::test]
async fn fields_no_type_names_are_kept_byte_for_byte() {
    let store = CountingStore::default();
    let app = app_with(&store).await;
    let cookie = seed(
        &store.inner,
        "legacy-session-id-0000000000000000",
        &[
            ("legacy", r#"{"price" : 1.50, "tags":["a"]}"#),
            ("views", "4"),
        ],
    )
    .await;
    let (_, _, body) = get(&app, "/count", Some(&cookie)).await;
    assert_eq!(body, "views=5");
    let json = store
        .inner
        .load("legacy-session-id-0000000000000000")
        .await
        .unwrap()
        .unwrap()
        .to_json();
    assert!(
        json.ends_with(r#","legacy":{"price" : 1.50, "tags":["a"]},"views":5}"#),
        "{json}"
    );
}

#[actix_web::test]
async fn a_field_set_to_null_is_removed_from_the_record() {
    let store = CountingStore::default();
    let app = app_with(&store).await;
    let (_, headers, _) = get(&app, "/both", None).await;
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    get(&app, "/logout", Some(&pair(&set))).await;
    let json = store
        .inner
        .load(&id_of(&set))
        .await
        .unwrap()
        .unwrap()
        .to_json();
    assert!(!json.contains("userId"), "{json}");
    assert!(json.ends_with(r#""views":1}"#), "{json}");
}

#[actix_web::test]
async fn unchanged_view_after_mutable_access_writes_nothing() {
    let store = CountingStore::default();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/count", web::get().to(count))
            .route(
                "/same",
                web::get().to(|mut c: Session<Counter>| async move {
                    let views = c.views;
                    *c = Counter { views }; // &mut access, same value
                    "same"
                }),
            ),
    )
    .await;
    let (_, headers, _) = get(&app, "/count", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let [_, _, updates, _, touches] = store.calls.get();
    get(&app, "/same", Some(&cookie)).await;
    let [_, _, u2, _, t2] = store.calls.get();
    assert_eq!(
        (u2, t2),
        (updates, touches + 1),
        "compared equal: touch only"
    );
}

#[actix_web::test]
async fn decode_failure_names_the_field_and_leaves_the_record() {
    let store = CountingStore::default();
    let app = app_with(&store).await;
    let cookie = seed(
        &store.inner,
        "typed-changed-across-deploys-00000",
        &[("views", r#""twelve""#)],
    )
    .await;
    let (status, _, body) = get(&app, "/checked", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"Decode field=Some("views")"#);
    let (status, _, body) = get(&app, "/count", Some(&cookie)).await;
    assert_eq!(
        (status, body.as_str()),
        (500, "session error"),
        "opaque response"
    );
    let json = store
        .inner
        .load("typed-changed-across-deploys-00000")
        .await
        .unwrap()
        .unwrap()
        .to_json();
    assert!(
        json.ends_with(r#""views":"twelve"}"#),
        "not overwritten: {json}"
    );
}

async fn login_as(mut login: Session<Login>, user: web::Path<u64>) -> String {
    login.user_id = Some(user.into_inner());
    format!("user={:?}", login.user_id)
}

async fn whoami(login: Session<Login>) -> String {
    format!("user={:?}", login.user_id)
}

/// A login on a browser that holds another user's session must switch users, even when the two
/// ids are one `f64` apart (2^53 + 1 and 2^53).
#[actix_web::test]
async fn a_user_id_changed_by_one_beyond_two_to_the_53_is_saved_and_read_back() {
    let store = CountingStore::default();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/login/{user}", web::get().to(login_as))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;
    for (earlier, later) in [
        (9_007_199_254_740_993u64, 9_007_199_254_740_992u64),
        (1_234_567_890_123_456_789, 1_234_567_890_123_456_790),
        (u64::MAX, u64::MAX - 1),
    ] {
        let (_, headers, _) = get(&app, &format!("/login/{earlier}"), None).await;
        let set = set_cookie_named(&headers, "connect.sid").unwrap();
        let (cookie, id) = (pair(&set), id_of(&set));
        let (status, _, body) = get(&app, &format!("/login/{later}"), Some(&cookie)).await;
        assert_eq!((status, body), (200, format!("user=Some({later})")));

        let json = common::stored_json(&store.inner, &id).await.unwrap();
        assert!(json.ends_with(&format!(r#","userId":{later}}}"#)), "{json}");
        let (_, _, body) = get(&app, "/whoami", Some(&cookie)).await;
        assert_eq!(body, format!("user=Some({later})"), "after {earlier}");
    }
}

/// The extractor's future, boxed for every request that takes a session, is a block that
/// glibc's per-thread cache hands out (up to 1,032 bytes): a larger one takes `malloc`'s slow
/// path on every request.
#[actix_web::test]
async fn the_extractors_boxed_future_fits_the_allocators_thread_cache() {
    async fn measured(req: actix_web::HttpRequest) -> String {
        let future = <Session<Counter> as actix_web::FromRequest>::extract(&req);
        let size = std::mem::size_of_val(&*future);
        let counter = future.await.expect("the session");
        format!("{size} {}", counter.views)
    }
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::new(), SECRET))
            .route("/measured", web::get().to(measured)),
    )
    .await;
    let body =
        test::call_and_read_body(&app, test::TestRequest::get().uri("/measured").to_request())
            .await;
    let body = String::from_utf8(body.to_vec()).unwrap();
    let (size, views) = body.split_once(' ').unwrap();
    let size: usize = size.parse().unwrap();
    assert!(size <= 1032, "{size} bytes");
    assert_eq!(views, "0");
}
