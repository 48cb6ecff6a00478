//! Reading and writing sessions outside the middleware (the seed's getcookie/setcookie): a
//! WebSocket handshake finds its session, a custom login flow issues a cookie the middleware
//! accepts.

mod common;

use std::time::Duration;

use actix_typed_session::{
    store::{SaveRequest, SessionStore},
    MemoryStore, Record, Session, SessionCodec, SessionCookie, SessionData, SessionMiddleware,
};
use actix_web::{test, web, App, HttpRequest, HttpResponse};
use common::{get, id_of, pair, set_cookie_named, SECRET};

#[derive(SessionData, Default, Debug, PartialEq)]
struct User {
    name: Option<String>,
    views: u32,
}

async fn incr(mut session: Session<User>) -> String {
    session.views += 1;
    format!("views={} name={:?}", session.views, session.name)
}

/// A route outside the middleware (think WebSocket handshake) that finds the session by itself.
async fn handshake(req: HttpRequest, store: web::Data<MemoryStore>) -> HttpResponse {
    let codec = SessionCodec::new("connect.sid", SECRET);
    let Some(id) = codec.id_from_request(&req) else {
        return HttpResponse::Unauthorized().body("no session");
    };
    match store.load(&id).await {
        Ok(Some(record)) => {
            let user: User = record.data().unwrap();
            HttpResponse::Ok().body(format!("ws for {id}: views={}", user.views))
        }
        _ => HttpResponse::Unauthorized().body("unknown session"),
    }
}

#[actix_web::test]
async fn a_request_outside_the_middleware_finds_the_session() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(store.clone()))
            .route("/ws", web::get().to(handshake))
            .service(
                web::scope("/app")
                    .wrap(SessionMiddleware::new(store.clone(), SECRET))
                    .route("/incr", web::get().to(incr)),
            ),
    )
    .await;
    let (_, headers, _) = get(&app, "/app/incr", None).await;
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    let (status, _, body) = get(&app, "/ws", Some(&pair(&set))).await;
    assert_eq!(status, 200);
    assert_eq!(body, format!("ws for {}: views=1", id_of(&set)));
    let (status, _, _) = get(&app, "/ws", Some("connect.sid=s%3Aforged.sig")).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn id_from_a_raw_cookie_header_is_verified() {
    let codec = SessionCodec::new("connect.sid", vec!["new", SECRET]);
    let header = b"a=b; connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU";
    assert_eq!(
        codec.id_from_cookie_header(header).as_deref(),
        Some("apple")
    );
    assert_eq!(
        SessionCodec::new("connect.sid", "other").id_from_cookie_header(header),
        None
    );
    assert_eq!(
        codec.cookie_value("apple"),
        "s%3Aapple.BtOa0k9reUvI6Tx6aUwjQg7hpElEOF5VEyZ0KM9IwDk", // node: HMAC-SHA256("new", "apple")
        "the first secret signs"
    );
}

#[actix_web::test]
async fn a_session_created_outside_is_accepted_by_the_middleware() {
    let store = MemoryStore::default();
    // A custom login flow: create the record, store it, hand out the cookie.
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)));
    let mut record = Record::new(cookie);
    let changes = record
        .set_data(&User {
            name: Some("ada".into()),
            views: 41,
        })
        .unwrap();
    assert_eq!(changes.len(), 2);
    store
        .save("made-outside", SaveRequest::Create(&record))
        .await
        .unwrap();
    let codec = SessionCodec::new("connect.sid", SECRET);
    let set_cookie = codec.set_cookie("made-outside", &record.cookie);
    assert!(
        set_cookie.starts_with("connect.sid=s%3Amade-outside."),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("; Path=/; Expires="), "{set_cookie}");

    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/incr", web::get().to(incr)),
    )
    .await;
    let (_, _, body) = get(&app, "/incr", Some(&pair(&set_cookie))).await;
    assert_eq!(body, r#"views=42 name=Some("ada")"#);
    let stored: User = store
        .load("made-outside")
        .await
        .unwrap()
        .unwrap()
        .data()
        .unwrap();
    assert_eq!(
        stored,
        User {
            name: Some("ada".into()),
            views: 42
        }
    );
}
