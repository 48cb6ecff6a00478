//! The store written from scratch in `examples/custom_store.rs` (the worked store of the
//! `testing` module's docs): the store acceptance suite, run as a store published elsewhere runs
//! it, then the store behind the middleware.

#[allow(dead_code)]
#[path = "../examples/custom_store.rs"]
mod custom_store;

mod common;

use actix_typed_session::SessionMiddleware;
use actix_web::{test, web, App};
use common::{count, get, id_and_views, pair, set_cookie_named, SECRET};
use custom_store::MapStore;

actix_typed_session::testing::store_acceptance_tests!(MapStore::new);

#[actix_web::test]
async fn the_custom_store_keeps_a_session_across_requests_behind_the_middleware() {
    let store = MapStore::new();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/", web::get().to(count)),
    )
    .await;
    let (status, headers, body) = get(&app, "/", None).await;
    assert_eq!(status, 200);
    let cookie = set_cookie_named(&headers, "connect.sid").expect("a session cookie");
    let (id, views) = id_and_views(&body);
    assert_eq!(views, 1);
    let (_, _, body) = get(&app, "/", Some(&pair(&cookie))).await;
    assert_eq!(id_and_views(&body), (id.clone(), 2));
    let stored = actix_typed_session::store::SessionStore::load(&store, &id)
        .await
        .unwrap()
        .expect("the session is stored");
    assert_eq!(stored.fields.get("views").map(|v| v.get()), Some("2"));
}
