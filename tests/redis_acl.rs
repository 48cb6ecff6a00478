//! `RedisStore` as a Redis ACL user (`redis://user:password@host`), against a real
//! `redis-server`: a user allowed only the session keys serves sessions, a wrong password is a
//! clear start-up error.

mod common;
mod support;

use actix_typed_session::{
    store::StoreErrorKind, RedisStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{test as actix_test, web, App};
use common::{get, id_of, pair, set_cookie_named, SECRET};
use support::redis_server::RedisServer;

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn visit(mut session: Session<Visit>) -> String {
    session.views += 1;
    session.views.to_string()
}

#[actix_web::test]
async fn an_acl_user_in_the_url_serves_sessions_and_a_wrong_password_is_a_clear_error() {
    let server = RedisServer::start();
    // The commands a session store needs, on session keys and their shadows only.
    server.cli(&[
        "acl",
        "setuser",
        "app",
        "on",
        ">app-secret",
        "~sess:*",
        "~{sess:*",
        "+@read",
        "+@write",
        "+@scripting",
        "+ping",
        "+info",
        "+config|get",
        "+select",
    ]);
    let url = |password: &str| format!("redis://app:{password}@127.0.0.1:{}", server.port());
    let store = RedisStore::builder(&url("app-secret"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let app = actix_test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/", web::get().to(visit)),
    )
    .await;
    let (_, headers, body) = get(&app, "/", None).await;
    assert_eq!(body, "1");
    let cookie = set_cookie_named(&headers, "connect.sid").unwrap();
    let (status, _, body) = get(&app, "/", Some(&pair(&cookie))).await;
    assert_eq!((status, body.as_str()), (200, "2"));
    let id = id_of(&cookie);
    assert!(server
        .cli(&["get", &format!("sess:{id}")])
        .contains(r#""views":2"#));

    let e = RedisStore::builder(&url("not-the-password-9f3"))
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Other, "{e}");
    assert!(
        e.to_string().contains("refused the store's credentials"),
        "{e}"
    );
    assert!(
        !e.to_string().contains("not-the-password-9f3"),
        "the error does not repeat the password: {e}"
    );
}
