//! Concurrent requests on one session (the deliberate departures from express-session): changes to
//! different fields all survive, and a destroyed session is never brought back.

mod common;

use std::{sync::Arc, time::Duration};

use actix_typed_session::{store::SessionStore, Session, SessionData, SessionMiddleware};
use actix_web::{test, web, App};
use common::{get, id_of, pair, set_cookie_named, CountingStore, SECRET};
use tokio::sync::{Barrier, Notify};

#[derive(SessionData, Default)]
struct Cart {
    items: Vec<String>,
}

#[derive(SessionData, Default)]
struct Prefs {
    theme: Option<String>,
}

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

struct Sync {
    loaded: Barrier,
    destroyed: Notify,
}

async fn add_item(mut cart: Session<Cart>, sync: web::Data<Sync>) -> String {
    sync.loaded.wait().await; // both requests hold the same loaded session
    cart.items.push("book".into());
    "added".into()
}

async fn set_theme(mut prefs: Session<Prefs>, sync: web::Data<Sync>) -> String {
    sync.loaded.wait().await;
    prefs.theme = Some("dark".into());
    "themed".into()
}

async fn slow_incr(mut visit: Session<Visit>, sync: web::Data<Sync>) -> String {
    sync.loaded.wait().await;
    sync.destroyed.notified().await; // the other request destroys the session meanwhile
    visit.views += 1;
    format!("views={}", visit.views)
}

async fn logout(visit: Session<Visit>, sync: web::Data<Sync>) -> String {
    sync.loaded.wait().await;
    visit.destroy().await.unwrap();
    sync.destroyed.notify_one();
    "bye".into()
}

async fn incr(mut visit: Session<Visit>) -> String {
    visit.views += 1;
    format!("views={}", visit.views)
}

macro_rules! app {
    ($store:expr, $sync:expr) => {
        test::init_service(
            App::new()
                .app_data($sync.clone())
                .wrap(
                    SessionMiddleware::builder($store.clone(), SECRET)
                        // With an expiry, a modified session re-sends its cookie.
                        .cookie_max_age(Some(Duration::from_secs(60)))
                        .build(),
                )
                .route("/incr", web::get().to(incr))
                .route("/add", web::get().to(add_item))
                .route("/theme", web::get().to(set_theme))
                .route("/slow-incr", web::get().to(slow_incr))
                .route("/logout", web::get().to(logout)),
        )
        .await
    };
}

fn sync() -> web::Data<Sync> {
    web::Data::from(Arc::new(Sync {
        loaded: Barrier::new(2),
        destroyed: Notify::new(),
    }))
}

#[actix_web::test]
async fn concurrent_requests_changing_different_fields_both_survive() {
    let store = CountingStore::default();
    let sync = sync();
    let app = app!(store, sync);
    let (_, headers, _) = get(&app, "/incr", None).await;
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    let cookie = pair(&set);
    let (a, b) = tokio::join!(
        get(&app, "/add", Some(&cookie)),
        get(&app, "/theme", Some(&cookie))
    );
    assert_eq!(
        (a.0, a.2.as_str(), b.0, b.2.as_str()),
        (200, "added", 200, "themed")
    );
    let json = store
        .inner
        .load(&id_of(&set))
        .await
        .unwrap()
        .unwrap()
        .to_json();
    assert!(json.contains(r#""views":1"#), "{json}");
    assert!(json.contains(r#""items":["book"]"#), "{json}");
    assert!(json.contains(r#""theme":"dark""#), "{json}");
}

#[actix_web::test]
async fn destroyed_session_is_not_recreated_by_a_concurrent_save() {
    let store = CountingStore::default();
    let sync = sync();
    let app = app!(store, sync);
    let (_, headers, _) = get(&app, "/incr", None).await;
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    let cookie = pair(&set);
    let (slow, bye) = tokio::join!(
        get(&app, "/slow-incr", Some(&cookie)),
        get(&app, "/logout", Some(&cookie))
    );
    assert_eq!((slow.0, slow.2.as_str()), (200, "views=2"));
    assert_eq!(bye.2, "bye");
    assert!(
        store.inner.load(&id_of(&set)).await.unwrap().is_none(),
        "the slow request's save must not bring the session back"
    );
    assert_eq!(store.inner.len().await.unwrap(), 0);
    assert_eq!(
        set_cookie_named(&slow.1, "connect.sid"),
        None,
        "no cookie for a session that is gone"
    );
    let (_, _, body) = get(&app, "/incr", Some(&cookie)).await;
    assert_eq!(body, "views=1", "the old cookie starts afresh");
}
