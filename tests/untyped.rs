//! `untyped::Session`, actix-session's `Session` API: each method end to end through the
//! middleware, the per-key merge with typed views (in one request, and in concurrent requests on
//! `MemoryStore` and on a real `redis-server`), `renew` and `purge` with their end events, and
//! errors that become responses instead of panics.

mod common;
#[cfg(feature = "redis")]
mod support;

use std::{sync::Arc, time::Duration};

use actix_typed_session::testing::EndLog;
use actix_typed_session::{
    store::{EndReason, SessionStore},
    untyped::{self, SessionStatus},
    MemoryStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{
    dev::{Service, ServiceResponse},
    test, web, App, Error, HttpResponse,
};
use common::{get, id_of, pair, set_cookie_named, CountingStore, SECRET};
use tokio::sync::Barrier;

/// actix-session's README handler, with only the import changed.
mod readme {
    use actix_typed_session::untyped::Session;
    use actix_web::{Error, HttpResponse};

    pub(crate) async fn index(session: Session) -> Result<HttpResponse, Error> {
        if let Some(count) = session.get::<i32>("counter")? {
            session.insert("counter", count + 1)?;
        } else {
            session.insert("counter", 1)?;
        }
        Ok(HttpResponse::Ok().body(format!("Count is {:?}!", session.get::<i32>("counter")?)))
    }
}

#[derive(SessionData, Default, Debug)]
struct Visit {
    views: u32,
}

#[derive(SessionData, Default, Debug)]
struct Note {
    note: Option<String>,
}

/// Writes a few keys of several JSON types.
async fn fill(session: untyped::Session) -> Result<String, Error> {
    assert_eq!(session.status(), SessionStatus::Unchanged);
    session.insert("name", "alice")?;
    session.insert("tags", vec!["a", "b"])?;
    session.insert(String::from("n"), 7u64)?;
    session.insert("gone", None::<u32>)?; // null: never stored
    Ok(format!("{:?}", session.status()))
}

/// Reads every key back.
async fn read(session: untyped::Session) -> Result<String, Error> {
    let mut entries: Vec<_> = session.entries().into_iter().collect();
    entries.sort();
    Ok(format!(
        "name={:?} tags={:?} n={:?} gone={:?} has_n={} has_gone={} entries={entries:?}",
        session.get::<String>("name")?,
        session.get::<Vec<String>>("tags")?,
        session.get::<u64>("n")?,
        session.get::<u32>("gone")?,
        session.contains_key("n"),
        session.contains_key("gone"),
    ))
}

async fn update(session: untyped::Session) -> Result<String, Error> {
    session.update("n", |n: u64| n * 6)?;
    session.update("absent", |n: u64| n + 1)?; // no value: nothing happens
    session.update_or("visits", 1u32, |v: u32| v + 1)?;
    Ok(format!(
        "n={:?} absent={:?} visits={:?}",
        session.get::<u64>("n")?,
        session.get::<u64>("absent")?,
        session.get::<u32>("visits")?
    ))
}

async fn remove(session: untyped::Session) -> Result<String, Error> {
    let name = session.remove("name");
    let tags = session.remove_as::<Vec<String>>("tags");
    let n_as_text = session.remove_as::<String>("n"); // not a string: the JSON text back
    let again = session.remove("name");
    Ok(format!(
        "name={name:?} tags={tags:?} n={n_as_text:?} again={again:?} status={:?}",
        session.status()
    ))
}

async fn same_value(session: untyped::Session) -> Result<String, Error> {
    session.insert("name", "alice")?; // already holds it
    Ok(format!("{:?}", session.status()))
}

async fn unset_name(session: untyped::Session) -> Result<String, Error> {
    session.insert("name", None::<String>)?; // null removes the key
    Ok(format!("{:?}", session.contains_key("name")))
}

async fn clear(session: untyped::Session) -> Result<String, Error> {
    session.clear();
    Ok(format!("{:?} {:?}", session.entries(), session.status()))
}

async fn renew(session: untyped::Session) -> Result<String, Error> {
    let before = session.id();
    session.renew();
    session.insert("after_renew", true)?;
    Ok(format!(
        "{:?} same_id_during_request={}",
        session.status(),
        session.id() == before
    ))
}

async fn purge(session: untyped::Session) -> Result<String, Error> {
    session.purge();
    session.insert("ignored", 1)?; // gone for the rest of the request: ignored
    Ok(format!(
        "{:?} get={:?} entries={}",
        session.status(),
        session.get::<String>("name")?,
        session.entries().len()
    ))
}

async fn wrong_type(session: untyped::Session) -> Result<String, Error> {
    let n = session.get::<bool>("name")?; // a string stored: an error, no panic
    Ok(format!("{n:?}"))
}

async fn get_cookie(session: untyped::Session) -> Result<String, Error> {
    Ok(format!("{:?}", session.get::<serde_json::Value>("cookie")?))
}

async fn insert_cookie(session: untyped::Session) -> Result<String, Error> {
    session.insert("cookie", 1)?;
    Ok("inserted".into())
}

async fn cookie_errors(session: untyped::Session) -> String {
    let get = session.get::<serde_json::Value>("cookie").unwrap_err();
    let insert = session.insert("cookie", 1).unwrap_err();
    let update = session.update("cookie", |v: u32| v).unwrap_err();
    format!(
        "{}|{:?}|{}|{}|remove={:?}|has={}",
        get,
        insert.key(),
        update,
        session.get::<bool>("name").unwrap_err(),
        session.remove("cookie"),
        session.contains_key("cookie")
    )
}

/// A typed and an untyped view extracted together.
async fn both(mut visit: Session<Visit>, session: untyped::Session) -> Result<String, Error> {
    visit.views += 1;
    session.insert("note", "from untyped")?;
    // The typed view's change is folded in when it is dropped.
    drop(visit);
    Ok(format!(
        "views={:?} note={:?}",
        session.get::<u32>("views")?,
        session.get::<String>("note")?
    ))
}

#[derive(SessionData, Default)]
struct Counter {
    counter: i32,
}

/// README "One handler at a time": the same key as a typed field.
async fn typed_counter(mut visit: Session<Counter>) -> String {
    visit.counter += 1;
    format!("Count is {}!", visit.counter)
}

async fn typed_reads(visit: Session<Visit>, note: Session<Note>) -> String {
    format!("views={} note={:?}", visit.views, note.note)
}

/// A typed view's `cookie_mut()` guard is alive while the untyped view writes.
async fn while_cookie_borrowed(mut visit: Session<Visit>, session: untyped::Session) -> String {
    let guard = visit.cookie_mut().unwrap();
    let insert = session.insert("x", 1).map_err(|e| e.to_string());
    drop(guard);
    let after = session.insert("x", 2).map_err(|e| e.to_string());
    format!("{insert:?} {after:?}")
}

async fn maybe(session: Option<untyped::Session>) -> String {
    format!("extracted={}", session.is_some())
}

async fn plain(session: untyped::Session) -> String {
    format!("{:?}", session.status())
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(readme::index))
        .route("/fill", web::get().to(fill))
        .route("/read", web::get().to(read))
        .route("/update", web::get().to(update))
        .route("/remove", web::get().to(remove))
        .route("/same", web::get().to(same_value))
        .route("/unset-name", web::get().to(unset_name))
        .route("/clear", web::get().to(clear))
        .route("/renew", web::get().to(renew))
        .route("/purge", web::get().to(purge))
        .route("/wrong-type", web::get().to(wrong_type))
        .route("/get-cookie", web::get().to(get_cookie))
        .route("/insert-cookie", web::get().to(insert_cookie))
        .route("/cookie-errors", web::get().to(cookie_errors))
        .route("/both", web::get().to(both))
        .route("/typed", web::get().to(typed_reads))
        .route("/typed-counter", web::get().to(typed_counter))
        .route("/maybe", web::get().to(maybe))
        .route(
            "/while-cookie-borrowed",
            web::get().to(while_cookie_borrowed),
        )
        .route("/plain", web::get().to(plain));
}

macro_rules! app {
    ($store:expr) => {
        test::init_service(
            App::new()
                .wrap(
                    SessionMiddleware::builder($store.clone(), SECRET)
                        .cookie_max_age(Some(Duration::from_secs(3600)))
                        .build(),
                )
                .configure(routes),
        )
        .await
    };
}

/// The cookie a response set, as the browser sends it back.
#[track_caller]
fn cookie_of(headers: &actix_web::http::header::HeaderMap) -> String {
    pair(&set_cookie_named(headers, "connect.sid").expect("a session cookie"))
}

/// The stored JSON of session `id`.
async fn stored<S: SessionStore>(store: &S, id: &str) -> Option<String> {
    store.load(id).await.unwrap().map(|record| record.to_json())
}

#[actix_web::test]
async fn actix_session_readme_handler_counts_with_only_the_import_changed() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (status, headers, body) = get(&app, "/", None).await;
    assert_eq!((status, body.as_str()), (200, "Count is Some(1)!"));
    let cookie = cookie_of(&headers);
    let (_, _, body) = get(&app, "/", Some(&cookie)).await;
    assert_eq!(body, "Count is Some(2)!");
    let (_, _, body) = get(&app, "/", Some(&cookie)).await;
    assert_eq!(body, "Count is Some(3)!");
    let json = stored(&store, &id_of(&cookie)).await.unwrap();
    assert!(json.ends_with(r#""counter":3}"#), "{json}");
}

#[actix_web::test]
async fn insert_stores_json_values_and_get_entries_contains_key_read_them_back() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (status, headers, body) = get(&app, "/fill", None).await;
    assert_eq!((status, body.as_str()), (200, "Changed"));
    let cookie = cookie_of(&headers);
    let json = stored(&store, &id_of(&cookie)).await.unwrap();
    assert!(
        json.ends_with(r#""name":"alice","tags":["a","b"],"n":7}"#),
        "{json}"
    );
    let (_, _, body) = get(&app, "/read", Some(&cookie)).await;
    assert_eq!(
        body,
        r#"name=Some("alice") tags=Some(["a", "b"]) n=Some(7) gone=None has_n=true has_gone=false entries=[("n", "7"), ("name", "\"alice\""), ("tags", "[\"a\",\"b\"]")]"#
    );
}

#[actix_web::test]
async fn update_changes_present_keys_and_update_or_inserts_the_default() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/fill", None).await;
    let cookie = cookie_of(&headers);
    let (_, _, body) = get(&app, "/update", Some(&cookie)).await;
    assert_eq!(body, "n=Some(42) absent=None visits=Some(1)");
    let (_, _, body) = get(&app, "/update", Some(&cookie)).await;
    assert_eq!(body, "n=Some(252) absent=None visits=Some(2)");
    let json = stored(&store, &id_of(&cookie)).await.unwrap();
    assert!(json.contains(r#""n":252"#), "{json}");
    assert!(json.contains(r#""visits":2"#), "{json}");
    assert!(!json.contains("absent"), "{json}");
}

#[actix_web::test]
async fn remove_answers_the_json_text_and_removes_the_key_from_the_store() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/fill", None).await;
    let cookie = cookie_of(&headers);
    let (_, _, body) = get(&app, "/remove", Some(&cookie)).await;
    assert_eq!(
        body,
        r#"name=Some("\"alice\"") tags=Some(Ok(["a", "b"])) n=Some(Err("7")) again=None status=Changed"#
    );
    let json = stored(&store, &id_of(&cookie)).await.unwrap();
    assert!(
        json.starts_with(r#"{"cookie":{"#) && json.ends_with("}}"),
        "{json}"
    );
    for key in ["name", "tags", r#""n""#] {
        assert!(!json.contains(key), "{key} left in {json}");
    }
}

#[actix_web::test]
async fn inserting_the_stored_value_writes_nothing_and_inserting_null_removes_the_key() {
    let store = CountingStore::default();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/fill", None).await;
    let cookie = cookie_of(&headers);
    let saves = |calls: &common::Calls| {
        let [_, creates, updates, _, _] = calls.get();
        creates + updates
    };
    let before = saves(&store.calls);
    let (_, _, body) = get(&app, "/same", Some(&cookie)).await;
    assert_eq!(body, "Unchanged");
    assert_eq!(saves(&store.calls), before, "no save for an unchanged key");

    let (_, _, body) = get(&app, "/unset-name", Some(&cookie)).await;
    assert_eq!(body, "false");
    let changes = store.last_changes.lock().unwrap().clone().unwrap();
    assert_eq!(
        changes
            .iter()
            .map(|(k, v)| (k, v.is_none()))
            .collect::<Vec<_>>(),
        [("name", true)],
        "only the removal of `name` is written"
    );
    let json = stored(&store.inner, &id_of(&cookie)).await.unwrap();
    assert!(!json.contains("alice"), "{json}");
}

#[actix_web::test]
async fn clear_removes_every_key_and_keeps_the_session() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/fill", None).await;
    let cookie = cookie_of(&headers);
    let (status, _, body) = get(&app, "/clear", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (200, "{} Changed"));
    let json = stored(&store, &id_of(&cookie)).await.unwrap();
    assert!(
        json.starts_with(r#"{"cookie":{"#) && json.ends_with("}}"),
        "{json}"
    );
    assert!(!json.contains("alice"), "{json}");
}

#[actix_web::test]
async fn renew_keeps_the_data_under_a_new_id_and_ends_the_old_one_as_regenerated() {
    let log = EndLog::new();
    let store = MemoryStore::builder()
        .on_session_end(log.callback())
        .build();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/fill", None).await;
    let old_cookie = cookie_of(&headers);
    let old = id_of(&old_cookie);

    let (status, headers, body) = get(&app, "/renew", Some(&old_cookie)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "Renewed same_id_during_request=true")
    );
    let new_cookie = cookie_of(&headers);
    let new = id_of(&new_cookie);
    assert_ne!(new, old);
    assert_eq!(stored(&store, &old).await, None, "the old id is gone");
    let json = stored(&store, &new).await.unwrap();
    assert!(
        json.ends_with(r#""name":"alice","tags":["a","b"],"n":7,"after_renew":true}"#),
        "{json}"
    );
    let ends = log.of(&old);
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].reason(), EndReason::Regenerated);
    assert!(ends[0].record().to_json().contains(r#""name":"alice""#));

    // The new cookie reads the data; the old one is not adopted.
    let (_, _, body) = get(&app, "/read", Some(&new_cookie)).await;
    assert!(body.starts_with(r#"name=Some("alice")"#), "{body}");
    let (_, _, body) = get(&app, "/read", Some(&old_cookie)).await;
    assert!(body.starts_with("name=None"), "{body}");
}

#[actix_web::test]
async fn purge_destroys_the_session_clears_the_cookie_and_ignores_later_writes() {
    let log = EndLog::new();
    let store = MemoryStore::builder()
        .on_session_end(log.callback())
        .build();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/fill", None).await;
    let cookie = cookie_of(&headers);
    let id = id_of(&cookie);

    let (status, headers, body) = get(&app, "/purge", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (200, "Purged get=None entries=0"));
    let cleared = set_cookie_named(&headers, "connect.sid").unwrap();
    assert!(
        cleared.starts_with("connect.sid=;") && cleared.contains("Expires=Thu, 01 Jan 1970"),
        "{cleared}"
    );
    assert_eq!(stored(&store, &id).await, None);
    let ends = log.of(&id);
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].reason(), EndReason::Destroyed);
    assert!(!ends[0].record().to_json().contains("ignored"));
}

#[actix_web::test]
async fn get_of_the_wrong_type_is_a_500_and_leaves_the_record_as_it_was() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/fill", None).await;
    let cookie = cookie_of(&headers);
    let before = stored(&store, &id_of(&cookie)).await.unwrap();
    let (status, _, body) = get(&app, "/wrong-type", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (500, "session error"));
    let after = stored(&store, &id_of(&cookie)).await.unwrap();
    let fields = |json: &str| json[json.find("}").unwrap()..].to_owned();
    assert_eq!(fields(&after), fields(&before));
}

#[actix_web::test]
async fn the_cookie_key_is_refused_with_a_clear_error() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (_, headers, _) = get(&app, "/fill", None).await;
    let cookie = cookie_of(&headers);
    for path in ["/get-cookie", "/insert-cookie"] {
        let (status, _, body) = get(&app, path, Some(&cookie)).await;
        assert_eq!((status, body.as_str()), (500, "session error"), "{path}");
    }
    let (status, _, body) = get(&app, "/cookie-errors", Some(&cookie)).await;
    assert_eq!(status, 200);
    let parts: Vec<&str> = body.split('|').collect();
    assert!(
        parts[0].starts_with("`cookie` is not a session key"),
        "{body}"
    );
    assert_eq!(parts[1], r#"Some("cookie")"#);
    assert!(
        parts[2].starts_with("`cookie` is not a session key"),
        "{body}"
    );
    assert!(
        parts[3].starts_with("session key `name` could not be decoded as `bool`"),
        "{body}"
    );
    assert_eq!(&parts[4..], ["remove=None", "has=false"]);
    let json = stored(&store, &id_of(&cookie)).await.unwrap();
    assert!(
        json.starts_with(r#"{"cookie":{"originalMaxAge":3600000"#),
        "{json}"
    );
}

#[actix_web::test]
async fn typed_and_untyped_views_in_one_request_see_and_keep_each_others_fields() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (status, headers, body) = get(&app, "/both", None).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"views=Some(1) note=Some("from untyped")"#)
    );
    let cookie = cookie_of(&headers);
    let (_, _, body) = get(&app, "/both", Some(&cookie)).await;
    assert_eq!(body, r#"views=Some(2) note=Some("from untyped")"#);
    let (_, _, body) = get(&app, "/typed", Some(&cookie)).await;
    assert_eq!(body, r#"views=2 note=Some("from untyped")"#);
}

#[actix_web::test]
async fn untyped_and_typed_handlers_take_turns_on_one_key() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (_, headers, body) = get(&app, "/", None).await;
    assert_eq!(body, "Count is Some(1)!");
    let cookie = cookie_of(&headers);
    let (_, _, body) = get(&app, "/typed-counter", Some(&cookie)).await;
    assert_eq!(body, "Count is 2!");
    let (_, _, body) = get(&app, "/", Some(&cookie)).await;
    assert_eq!(body, "Count is Some(3)!");
    let (_, _, body) = get(&app, "/typed-counter", Some(&cookie)).await;
    assert_eq!(body, "Count is 4!");
    let json = stored(&store, &id_of(&cookie)).await.unwrap();
    assert!(json.ends_with(r#""counter":4}"#), "{json}");
}

#[actix_web::test]
async fn a_write_while_a_typed_cookie_guard_is_alive_is_an_error_not_a_panic() {
    let store = MemoryStore::default();
    let app = app!(store);
    let (status, headers, body) = get(&app, "/while-cookie-borrowed", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"Err("the session is borrowed: a typed view's cookie_mut() guard is still alive") Ok(())"#
    );
    let json = stored(&store, &id_of(&cookie_of(&headers))).await.unwrap();
    assert!(json.ends_with(r#""x":2}"#), "{json}");
}

#[actix_web::test]
async fn without_the_middleware_the_extractor_fails_and_its_option_is_none() {
    let app = test::init_service(App::new().configure(routes)).await;
    let (status, _, body) = get(&app, "/maybe", None).await;
    assert_eq!((status, body.as_str()), (200, "extracted=false"));
    let (status, _, body) = get(&app, "/plain", None).await;
    assert_eq!((status, body.as_str()), (500, "session error"));
}

// Concurrent requests on one session: an untyped handler and a typed handler.

async fn untyped_note(session: untyped::Session, barrier: web::Data<Barrier>) -> HttpResponse {
    barrier.wait().await; // both requests hold the same loaded session
    session.insert("note", "untyped").unwrap();
    HttpResponse::Ok().body("noted")
}

async fn typed_views(mut visit: Session<Visit>, barrier: web::Data<Barrier>) -> HttpResponse {
    barrier.wait().await;
    visit.views += 10;
    HttpResponse::Ok().body("viewed")
}

async fn concurrent_untyped_and_typed_handlers_both_survive<S: SessionStore>(store: S) {
    let barrier = web::Data::from(Arc::new(Barrier::new(2)));
    let app = test::init_service(
        App::new()
            .app_data(barrier.clone())
            .wrap(
                SessionMiddleware::builder(store.clone(), SECRET)
                    .cookie_max_age(Some(Duration::from_secs(3600)))
                    .build(),
            )
            .configure(routes)
            .route("/untyped-note", web::get().to(untyped_note))
            .route("/typed-views", web::get().to(typed_views)),
    )
    .await;
    let (_, headers, _) = get(&app, "/fill", None).await;
    let cookie = cookie_of(&headers);
    let id = id_of(&cookie);
    // A field that neither handler names, as a Node app writes it (spacing kept byte for byte).
    let mut record = store.load(&id).await.unwrap().unwrap();
    record.fields.set(
        "node",
        serde_json::value::RawValue::from_string(r#"{ "a" : 1.0 }"#.into()).unwrap(),
    );
    let mut changes = actix_typed_session::ChangeSet::new();
    changes.set("node", record.fields.get("node").unwrap().to_owned());
    store
        .save(
            &id,
            actix_typed_session::store::SaveRequest::Update {
                cookie: &record.cookie,
                changes: &changes,
            },
        )
        .await
        .unwrap();

    let (a, b) = tokio::join!(
        call(&app, "/untyped-note", &cookie),
        call(&app, "/typed-views", &cookie)
    );
    assert_eq!((a.as_str(), b.as_str()), ("noted", "viewed"));
    let json = stored(&store, &id).await.unwrap();
    for part in [
        r#""name":"alice""#,
        r#""tags":["a","b"]"#,
        r#""n":7"#,
        r#""node":{ "a" : 1.0 }"#,
        r#""note":"untyped""#,
        r#""views":10"#,
    ] {
        assert!(json.contains(part), "{part} missing from {json}");
    }
}

async fn call<S, B>(app: &S, path: &str, cookie: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = Error>,
    B: actix_web::body::MessageBody,
{
    let (status, _, body) = get(app, path, Some(cookie)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[actix_web::test]
async fn memory_store_concurrent_untyped_and_typed_handlers_both_survive() {
    concurrent_untyped_and_typed_handlers_both_survive(MemoryStore::default()).await;
}

#[cfg(feature = "redis")]
mod redis {
    use actix_typed_session::RedisStore;

    use super::*;
    use actix_typed_session::testing::unique_id;

    use crate::support::redis_server;

    fn store() -> RedisStore {
        RedisStore::builder(&redis_server::shared().url())
            .unwrap()
            .key_prefix(format!("untyped:{}:", unique_id()))
            .build()
    }

    #[actix_web::test]
    async fn redis_store_concurrent_untyped_and_typed_handlers_both_survive() {
        concurrent_untyped_and_typed_handlers_both_survive(store()).await;
    }

    #[actix_web::test]
    async fn redis_store_renew_keeps_the_data_under_a_new_id_and_removes_the_old_key() {
        let store = store();
        let app = app!(store);
        let (_, headers, _) = get(&app, "/fill", None).await;
        let old_cookie = cookie_of(&headers);
        let (_, headers, body) = get(&app, "/renew", Some(&old_cookie)).await;
        assert_eq!(body, "Renewed same_id_during_request=true");
        let new_cookie = cookie_of(&headers);
        assert_ne!(id_of(&new_cookie), id_of(&old_cookie));
        assert_eq!(stored(&store, &id_of(&old_cookie)).await, None);
        let json = stored(&store, &id_of(&new_cookie)).await.unwrap();
        assert!(json.contains(r#""name":"alice""#), "{json}");
        assert!(json.contains(r#""after_renew":true"#), "{json}");
    }

    #[actix_web::test]
    async fn redis_store_purge_deletes_the_key() {
        let store = store();
        let app = app!(store);
        let (_, headers, _) = get(&app, "/fill", None).await;
        let cookie = cookie_of(&headers);
        let (_, _, body) = get(&app, "/purge", Some(&cookie)).await;
        assert_eq!(body, "Purged get=None entries=0");
        assert_eq!(stored(&store, &id_of(&cookie)).await, None);
    }
}
