//! The end-of-request decisions (EXPRESS_SEMANTICS 15–19, 21, 23) and the session methods
//! (24–29), pinned through real requests on the memory store.

mod common;

use std::time::Duration;

use actix_typed_session::{
    store::{SaveRequest, SessionStore},
    MemoryStore, Session, SessionData, SessionErrorKind, SessionMiddleware, Unset,
};
use actix_web::{test, web, App, HttpResponse};
use common::{get, id_of, pair, set_cookie_named, CountingStore, SECRET};

#[derive(SessionData, Default, Debug)]
struct Visit {
    views: u32,
    user: Option<String>,
}

async fn read(session: Session<Visit>) -> String {
    format!("views={} user={:?}", session.views, session.user)
}

async fn incr(mut session: Session<Visit>) -> String {
    session.views += 1;
    format!("views={}", session.views)
}

async fn noop() -> &'static str {
    "no session here"
}

macro_rules! app {
    ($builder:expr) => {
        test::init_service(
            App::new()
                .wrap($builder.build())
                .route("/read", web::get().to(read))
                .route("/incr", web::get().to(incr))
                .route("/noop", web::get().to(noop))
                .route("/regenerate", web::get().to(regenerate))
                .route("/regenerate-save", web::get().to(regenerate_save))
                .route("/cycle", web::get().to(cycle))
                .route("/destroy", web::get().to(destroy))
                .route("/destroy-then-extract", web::get().to(destroy_then_extract))
                .route("/reload", web::get().to(reload))
                .route("/save", web::get().to(save))
                .route("/reload-save", web::get().to(reload_save))
                .route("/unset", web::get().to(unset))
                .route("/remember", web::get().to(remember))
                .route("/max-age", web::get().to(max_age))
                .route("/touch", web::get().to(touch)),
        )
        .await
    };
}

fn builder(store: &CountingStore) -> actix_typed_session::SessionMiddlewareBuilder<CountingStore> {
    SessionMiddleware::builder(store.clone(), SECRET)
}

/// Starts a session with `views=1`; answers its cookie pair and id.
async fn start<S, B>(app: &S) -> (String, String)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let (status, headers, _) = get(app, "/incr", None).await;
    assert_eq!(status, 200);
    let set =
        set_cookie_named(&headers, "connect.sid").expect("a new modified session sets its cookie");
    (pair(&set), id_of(&set))
}

#[actix_web::test]
async fn new_unmodified_session_is_neither_saved_nor_sent() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (status, headers, body) = get(&app, "/read", None).await;
    assert_eq!((status, body.as_str()), (200, "views=0 user=None"));
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
    assert_eq!(store.calls.writes(), 0);
    assert_eq!(store.inner.len().await.unwrap(), 0);
}

#[actix_web::test]
async fn save_uninitialized_saves_and_sends_new_unmodified_session() {
    let store = CountingStore::default();
    let app = app!(builder(&store).save_uninitialized(true));
    let (_, headers, _) = get(&app, "/read", None).await;
    let set = set_cookie_named(&headers, "connect.sid").expect("cookie sent");
    assert!(store.inner.load(&id_of(&set)).await.unwrap().is_some());
}

#[actix_web::test]
async fn save_uninitialized_applies_to_requests_that_never_extract() {
    let store = CountingStore::default();
    let app = app!(builder(&store).save_uninitialized(true));
    let (_, headers, _) = get(&app, "/noop", None).await;
    let set = set_cookie_named(&headers, "connect.sid")
        .expect("express creates a session for every request");
    assert!(store.inner.load(&id_of(&set)).await.unwrap().is_some());
}

#[actix_web::test]
async fn modified_new_session_is_saved_and_sent() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, id) = start(&app).await;
    assert!(cookie.starts_with("connect.sid=s%3A"));
    let record = store.inner.load(&id).await.unwrap().expect("saved");
    assert_eq!(
        record.to_json(),
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
    );
    let (_, _, body) = get(&app, "/read", Some(&cookie)).await;
    assert_eq!(body, "views=1 user=None");
}

#[actix_web::test]
async fn request_that_never_extracts_reads_nothing_and_touches_once() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (_, _, _) = get(&app, "/noop", None).await;
    assert_eq!(
        store.calls.get(),
        [0, 0, 0, 0, 0],
        "no cookie: no store call at all"
    );
    let (cookie, _) = start(&app).await;
    let before = store.calls.get();
    let (status, headers, _) = get(&app, "/noop", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
    let after = store.calls.get();
    assert_eq!(after[0], before[0], "no load");
    assert_eq!(after[4], before[4] + 1, "one touch");
    assert_eq!(
        store.calls.writes() - (before[1] + before[2] + before[3] + before[4]),
        1
    );
}

#[actix_web::test]
async fn unchanged_revisit_touches_instead_of_saving() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, _) = start(&app).await;
    let [_, creates, updates, _, touches] = store.calls.get();
    let (_, headers, body) = get(&app, "/read", Some(&cookie)).await;
    assert_eq!(body, "views=1 user=None");
    assert_eq!(
        set_cookie_named(&headers, "connect.sid"),
        None,
        "not rolling: no cookie"
    );
    let [_, c2, u2, _, t2] = store.calls.get();
    assert_eq!((c2, u2, t2), (creates, updates, touches + 1));
}

#[actix_web::test]
async fn changed_revisit_writes_only_the_changed_fields() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, id) = start(&app).await;
    // Another field, set behind the middleware's back, must survive the next save untouched.
    let mut changes = actix_typed_session::ChangeSet::new();
    changes.set(
        "other",
        serde_json::value::RawValue::from_string("[1, 2]".into()).unwrap(),
    );
    let record = store.inner.load(&id).await.unwrap().unwrap();
    store
        .inner
        .save(
            &id,
            SaveRequest::Update {
                cookie: &record.cookie,
                changes: &changes,
            },
        )
        .await
        .unwrap();
    let (_, _, body) = get(&app, "/incr", Some(&cookie)).await;
    assert_eq!(body, "views=2");
    let written = store.last_changes.lock().unwrap().clone().unwrap();
    let fields: Vec<_> = written
        .iter()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.get().to_owned())))
        .collect();
    assert_eq!(fields, [("views".to_owned(), Some("2".to_owned()))]);
    let json = store.inner.load(&id).await.unwrap().unwrap().to_json();
    assert!(json.ends_with(r#","views":2,"other":[1, 2]}"#), "{json}");
}

#[actix_web::test]
async fn resave_writes_an_unchanged_session() {
    let store = CountingStore::default();
    let app = app!(builder(&store).resave(true));
    let (cookie, _) = start(&app).await;
    let [_, _, updates, _, touches] = store.calls.get();
    get(&app, "/read", Some(&cookie)).await;
    let [_, _, u2, _, t2] = store.calls.get();
    assert_eq!(
        (u2, t2),
        (updates + 1, touches + 1),
        "saved (after the renewal on load)"
    );
}

#[actix_web::test]
async fn rolling_sets_cookie_on_every_response() {
    let store = CountingStore::default();
    let app = app!(builder(&store)
        .rolling(true)
        .cookie_max_age(Some(Duration::from_secs(60))));
    let (cookie, id) = start(&app).await;
    for path in ["/read", "/noop", "/incr"] {
        let (_, headers, _) = get(&app, path, Some(&cookie)).await;
        let set = set_cookie_named(&headers, "connect.sid")
            .unwrap_or_else(|| panic!("{path}: no cookie"));
        assert_eq!(id_of(&set), id);
        assert!(set.contains("; Expires="), "{set}");
    }
}

#[actix_web::test]
async fn modified_session_with_expiry_resends_cookie() {
    let store = CountingStore::default();
    let app = app!(builder(&store).cookie_max_age(Some(Duration::from_secs(60))));
    let (cookie, _) = start(&app).await;
    let (_, headers, _) = get(&app, "/read", Some(&cookie)).await;
    assert_eq!(
        set_cookie_named(&headers, "connect.sid"),
        None,
        "unmodified: no cookie"
    );
    let (_, headers, _) = get(&app, "/incr", Some(&cookie)).await;
    assert!(
        set_cookie_named(&headers, "connect.sid").is_some(),
        "modified with expiry: cookie re-sent"
    );
}

#[actix_web::test]
async fn browser_session_cookie_is_not_resent_on_modification() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, _) = start(&app).await;
    let (_, headers, body) = get(&app, "/incr", Some(&cookie)).await;
    assert_eq!(body, "views=2");
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
}

#[actix_web::test]
async fn cookie_expiry_is_renewed_once_per_request() {
    let store = CountingStore::default();
    let app = app!(builder(&store).cookie_max_age(Some(Duration::from_secs(60))));
    let (cookie, id) = start(&app).await;
    let first = store
        .inner
        .load(&id)
        .await
        .unwrap()
        .unwrap()
        .cookie
        .expires()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    get(&app, "/read", Some(&cookie)).await;
    let second = store
        .inner
        .load(&id)
        .await
        .unwrap()
        .unwrap()
        .cookie
        .expires()
        .unwrap();
    assert!(second > first, "{second} > {first}");
}

#[actix_web::test]
async fn changing_only_the_cookie_is_not_a_modification() {
    let store = CountingStore::default();
    let app = app!(builder(&store).cookie_max_age(Some(Duration::from_secs(60))));
    let (cookie, id) = start(&app).await;
    let [_, _, updates, _, touches] = store.calls.get();
    let (_, headers, _) = get(&app, "/remember", Some(&cookie)).await;
    let [_, _, u2, _, t2] = store.calls.get();
    assert_eq!(
        (u2, t2),
        (updates, touches + 2),
        "no save: the renewal on load, then a touch storing the changed cookie"
    );
    assert_eq!(
        set_cookie_named(&headers, "connect.sid"),
        None,
        "not modified: no cookie"
    );
    let stored = store.inner.load(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.cookie.original_max_age_ms(),
        Some(30 * 24 * 3600 * 1000),
        "the touch stored the new lifetime"
    );
}

// --- unset (21) ---

async fn unset(mut session: Session<Visit>) -> Result<&'static str, actix_web::Error> {
    session.views += 100;
    session.unset()?;
    Ok("unset")
}

#[actix_web::test]
async fn unset_keep_leaves_the_stored_session_and_drops_changes() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, id) = start(&app).await;
    let before = store.inner.load(&id).await.unwrap().unwrap().to_json();
    let (status, headers, _) = get(&app, "/unset", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
    assert_eq!(
        store.inner.load(&id).await.unwrap().unwrap().to_json(),
        before
    );
}

#[actix_web::test]
async fn unset_destroy_destroys_the_stored_session() {
    let store = CountingStore::default();
    let app = app!(builder(&store).unset(Unset::Destroy));
    let (cookie, id) = start(&app).await;
    let (_, headers, _) = get(&app, "/unset", Some(&cookie)).await;
    assert!(store.inner.load(&id).await.unwrap().is_none());
    let set = set_cookie_named(&headers, "connect.sid").expect("cookie expired");
    assert!(
        set.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        "{set}"
    );
}

#[actix_web::test]
async fn unset_destroy_on_a_first_request_sets_no_cookie() {
    let store = CountingStore::default();
    let app = app!(builder(&store)
        .unset(Unset::Destroy)
        .save_uninitialized(true));
    let (_, headers, _) = get(&app, "/unset", None).await;
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
    assert_eq!(store.inner.len().await.unwrap(), 0);
}

// --- regenerate (24) ---

async fn regenerate(mut session: Session<Visit>) -> Result<String, actix_web::Error> {
    let old = session.id();
    session.regenerate().await?;
    assert_eq!(session.views, 0, "fresh empty session");
    Ok(format!("{old} -> {}", session.id()))
}

async fn regenerate_save(mut session: Session<Visit>) -> Result<String, actix_web::Error> {
    session.regenerate().await?;
    session.user = Some("eve".into());
    session.save().await?;
    Ok(session.id())
}

#[actix_web::test]
async fn regenerate_destroys_the_old_record_and_always_saves_the_new_one() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, id) = start(&app).await;
    let (_, headers, body) = get(&app, "/regenerate", Some(&cookie)).await;
    let set = set_cookie_named(&headers, "connect.sid").expect("new id's cookie always set");
    let new_id = id_of(&set);
    assert_eq!(body, format!("{id} -> {new_id}"));
    assert_ne!(new_id, id);
    assert!(
        store.inner.load(&id).await.unwrap().is_none(),
        "old destroyed"
    );
    let new = store
        .inner
        .load(&new_id)
        .await
        .unwrap()
        .expect("new saved though unmodified");
    assert!(new.fields.is_empty());
}

#[actix_web::test]
async fn save_after_regenerate_writes_once() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, _) = start(&app).await;
    let [_, creates, updates, ..] = store.calls.get();
    let (_, headers, new_id) = get(&app, "/regenerate-save", Some(&cookie)).await;
    let [_, c2, u2, ..] = store.calls.get();
    assert_eq!(
        (c2, u2),
        (creates + 1, updates),
        "one create, no second write"
    );
    assert_eq!(
        id_of(&set_cookie_named(&headers, "connect.sid").unwrap()),
        new_id
    );
    let json = store.inner.load(&new_id).await.unwrap().unwrap().to_json();
    assert!(json.ends_with(r#""user":"eve"}"#), "{json}");
}

// --- cycle_id (departure) ---

async fn cycle(mut session: Session<Visit>) -> Result<String, actix_web::Error> {
    session.cycle_id().await?;
    session.user = Some("bob".into());
    Ok(session.id())
}

#[actix_web::test]
async fn cycle_id_keeps_the_data_under_a_new_id() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, id) = start(&app).await;
    let (_, headers, new_id) = get(&app, "/cycle", Some(&cookie)).await;
    assert_ne!(new_id, id);
    assert_eq!(
        id_of(&set_cookie_named(&headers, "connect.sid").unwrap()),
        new_id
    );
    assert!(
        store.inner.load(&id).await.unwrap().is_none(),
        "old id destroyed"
    );
    let (_, _, body) = get(
        &app,
        "/read",
        Some(&pair(&set_cookie_named(&headers, "connect.sid").unwrap())),
    )
    .await;
    assert_eq!(body, r#"views=1 user=Some("bob")"#);
    let (_, _, body) = get(&app, "/read", Some(&cookie)).await;
    assert_eq!(body, "views=0 user=None", "the old cookie no longer works");
}

// --- destroy (25, departure) ---

async fn destroy(session: Session<Visit>) -> Result<&'static str, actix_web::Error> {
    session.destroy().await?;
    Ok("bye")
}

async fn destroy_then_extract(
    req: actix_web::HttpRequest,
    session: Session<Visit>,
) -> HttpResponse {
    session.destroy().await.unwrap();
    let again = <Session<Visit> as actix_web::FromRequest>::extract(&req).await;
    match again {
        Err(e) if e.kind() == SessionErrorKind::Ended => HttpResponse::Ok().body("gone"),
        Err(e) => HttpResponse::Ok().body(format!("wrong error {e}")),
        Ok(_) => HttpResponse::Ok().body("still there"),
    }
}

#[actix_web::test]
async fn destroy_removes_the_record_and_expires_the_cookie() {
    let store = CountingStore::default();
    let app = app!(builder(&store).cookie_max_age(Some(Duration::from_secs(60))));
    let (cookie, id) = start(&app).await;
    let (status, headers, _) = get(&app, "/destroy", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(store.inner.load(&id).await.unwrap().is_none());
    assert_eq!(
        set_cookie_named(&headers, "connect.sid").as_deref(),
        Some("connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax")
    );
}

#[actix_web::test]
async fn destroyed_session_is_gone_for_the_rest_of_the_request() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, _) = start(&app).await;
    let (_, _, body) = get(&app, "/destroy-then-extract", Some(&cookie)).await;
    assert_eq!(body, "gone");
}

// --- reload (26) ---

async fn reload(
    mut session: Session<Visit>,
    store: web::Data<CountingStore>,
) -> Result<String, actix_web::Error> {
    session.views = 999; // unsaved: dropped by reload
    let id = session.id();
    let record = store
        .inner
        .load(&id)
        .await
        .map_err(actix_web::error::ErrorInternalServerError)?;
    if let Some(record) = record {
        let mut changes = actix_typed_session::ChangeSet::new();
        changes.set(
            "user",
            serde_json::value::RawValue::from_string("\"mallory\"".into()).unwrap(),
        );
        store
            .inner
            .save(
                &id,
                SaveRequest::Update {
                    cookie: &record.cookie,
                    changes: &changes,
                },
            )
            .await
            .map_err(actix_web::error::ErrorInternalServerError)?;
    }
    match session.reload().await {
        Ok(()) => Ok(format!("views={} user={:?}", session.views, session.user)),
        Err(e) if e.kind() == SessionErrorKind::Gone => Ok("reload: gone".to_owned()),
        Err(e) => Err(e.into()),
    }
}

#[actix_web::test]
async fn reload_rereads_the_store_and_drops_unsaved_changes() {
    let store = CountingStore::default();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(store.clone()))
            .wrap(builder(&store).build())
            .route("/incr", web::get().to(incr))
            .route("/reload", web::get().to(reload)),
    )
    .await;
    let (cookie, id) = start(&app).await;
    let [_, _, updates, _, touches] = store.calls.get();
    let (_, _, body) = get(&app, "/reload", Some(&cookie)).await;
    assert_eq!(body, r#"views=1 user=Some("mallory")"#);
    let [_, _, u2, _, t2] = store.calls.get();
    assert_eq!(
        (u2, t2),
        (updates, touches + 1),
        "unchanged after reload: touched, not saved"
    );
    assert!(store
        .inner
        .load(&id)
        .await
        .unwrap()
        .unwrap()
        .to_json()
        .contains(r#""views":1"#));
    let (_, _, body) = get(&app, "/reload", None).await;
    assert_eq!(
        body, "reload: gone",
        "a session the store does not have cannot be reloaded"
    );
}

// --- save (27) ---

async fn save(mut session: Session<Visit>) -> Result<String, actix_web::Error> {
    session.views += 1;
    session.save().await?;
    Ok(format!("views={}", session.views))
}

async fn reload_save(mut session: Session<Visit>) -> Result<String, actix_web::Error> {
    session.reload().await?;
    session.views += 1;
    session.save().await?;
    Ok(format!("views={}", session.views))
}

#[actix_web::test]
async fn save_writes_now_and_not_again_at_the_end() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (cookie, id) = start(&app).await;
    let [_, _, updates, _, touches] = store.calls.get();
    let (_, _, body) = get(&app, "/save", Some(&cookie)).await;
    assert_eq!(body, "views=2");
    let [_, _, u2, _, t2] = store.calls.get();
    assert_eq!(
        (u2, t2),
        (updates + 1, touches + 1),
        "the renewal on load and one write; no end-of-request save or touch"
    );
    assert!(store
        .inner
        .load(&id)
        .await
        .unwrap()
        .unwrap()
        .to_json()
        .contains(r#""views":2"#));
    get(&app, "/reload-save", Some(&cookie)).await;
    let [_, _, u3, _, t3] = store.calls.get();
    assert_eq!((u3, t3), (u2 + 1, t2 + 1), "after reload too: one write");
}

#[actix_web::test]
async fn save_of_a_new_session_creates_it() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    let (_, headers, body) = get(&app, "/save", None).await;
    assert_eq!(body, "views=1");
    let set = set_cookie_named(&headers, "connect.sid").expect("modified new session: cookie");
    assert_eq!(store.calls.get()[1], 1, "exactly one create");
    assert!(store.inner.load(&id_of(&set)).await.unwrap().is_some());
}

// --- cookie maxAge arithmetic (28, 29) ---

async fn remember(mut session: Session<Visit>) -> Result<String, actix_web::Error> {
    session
        .cookie_mut()?
        .set_max_age(Some(Duration::from_secs(30 * 24 * 3600)));
    Ok("remembered".into())
}

async fn max_age(session: Session<Visit>) -> String {
    let c = session.cookie();
    format!("{:?} {:?}", c.max_age_ms(), c.original_max_age_ms())
}

async fn touch(mut session: Session<Visit>) -> String {
    let before = session.cookie().max_age_ms().unwrap();
    session.touch();
    let after = session.cookie().max_age_ms().unwrap();
    format!("{before} {after}")
}

#[actix_web::test]
async fn max_age_reads_the_milliseconds_remaining() {
    let store = CountingStore::default();
    let app = app!(builder(&store).cookie_max_age(Some(Duration::from_secs(60))));
    let (cookie, _) = start(&app).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (_, _, body) = get(&app, "/max-age", Some(&cookie)).await;
    let (left, orig) = body.split_once(' ').unwrap();
    let left: i64 = left
        .trim_start_matches("Some(")
        .trim_end_matches(')')
        .parse()
        .unwrap();
    assert!((59_000..=59_885).contains(&left), "remaining {left}");
    assert_eq!(orig, "Some(60000)");
}

#[actix_web::test]
async fn touch_resets_the_expiry_to_the_original_max_age() {
    let store = CountingStore::default();
    let app = app!(builder(&store).cookie_max_age(Some(Duration::from_secs(60))));
    let (cookie, _) = start(&app).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (_, _, body) = get(&app, "/touch", Some(&cookie)).await;
    let (before, after): (i64, i64) = body
        .split_once(' ')
        .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        .unwrap();
    assert!(before <= 59_885, "{before}");
    assert!(after >= 59_990, "{after}");
}

#[actix_web::test]
async fn per_session_max_age_persists_and_sets_the_cookie_expiry() {
    let store = CountingStore::default();
    let app = app!(builder(&store)
        .cookie_max_age(Some(Duration::from_secs(60)))
        .rolling(true));
    let (cookie, _) = start(&app).await;
    get(&app, "/remember", Some(&cookie)).await;
    let (_, headers, body) = get(&app, "/max-age", Some(&cookie)).await;
    assert!(body.ends_with("Some(2592000000)"), "{body}");
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    let expires = set
        .split("Expires=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let in_a_month = time::OffsetDateTime::now_utc() + Duration::from_secs(30 * 24 * 3600);
    assert!(expires.contains(&in_a_month.year().to_string()), "{set}");
    assert!(
        expires.contains(&format!("{:02} ", in_a_month.day())),
        "{set} vs {in_a_month}"
    );
}

// --- response released after the write (23) ---

#[actix_web::test]
async fn response_is_released_after_the_store_write() {
    let store = CountingStore::default();
    let app = app!(builder(&store));
    // Each response must find its own write already in the store.
    let mut cookie = None::<String>;
    for n in 1..=5 {
        let (_, headers, body) = get(&app, "/incr", cookie.as_deref()).await;
        assert_eq!(body, format!("views={n}"));
        if let Some(set) = set_cookie_named(&headers, "connect.sid") {
            cookie = Some(pair(&set));
        }
        let id = common::id_of(&format!("{}; x", cookie.as_ref().unwrap()));
        let json = store.inner.load(&id).await.unwrap().unwrap().to_json();
        assert!(json.contains(&format!(r#""views":{n}"#)), "{json}");
    }
}

#[actix_web::test]
async fn memory_store_is_the_default_kind_of_store() {
    // A plain MemoryStore works without a wrapper.
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/incr", web::get().to(incr)),
    )
    .await;
    let (cookie, _) = start(&app).await;
    let (_, _, body) = get(&app, "/incr", Some(&cookie)).await;
    assert_eq!(body, "views=2");
    assert_eq!(store.len().await.unwrap(), 1);
}

// --- a failed reload keeps the session as it was (26) ---

async fn change_reload_save(mut session: Session<Visit>) -> Result<String, actix_web::Error> {
    session.user = Some("alice".to_owned());
    let reloaded = match session.reload().await {
        Ok(()) => "reloaded".to_owned(),
        Err(e) if e.kind() == SessionErrorKind::Gone => "gone".to_owned(),
        Err(e) => return Err(e.into()),
    };
    let user = session.user.clone();
    session.save().await?;
    Ok(format!("{reloaded} user={user:?}"))
}

#[actix_web::test]
async fn a_failed_reload_keeps_the_change_made_before_it_and_a_later_save_stores_it() {
    let store = CountingStore::default();
    let app = test::init_service(
        App::new()
            .wrap(builder(&store).build())
            .route("/read", web::get().to(read))
            .route("/change-reload-save", web::get().to(change_reload_save)),
    )
    .await;
    // A new session is not stored yet: express's reload fails and keeps req.session as it was.
    let (status, headers, body) = get(&app, "/change-reload-save", None).await;
    assert_eq!((status, body.as_str()), (200, r#"gone user=Some("alice")"#));
    let set = set_cookie_named(&headers, "connect.sid").expect("the saved session sets its cookie");
    let stored = store.inner.load(&id_of(&set)).await.unwrap().unwrap();
    assert!(
        stored.to_json().contains(r#""user":"alice""#),
        "the change made before the failed reload was saved: {}",
        stored.to_json()
    );
    let (_, _, body) = get(&app, "/read", Some(&pair(&set))).await;
    assert_eq!(body, r#"views=0 user=Some("alice")"#);
}

// --- two session middlewares on one request ---

#[actix_web::test]
async fn an_inner_session_middleware_does_nothing_when_the_request_already_has_a_session() {
    let outer = CountingStore::default();
    let inner = CountingStore::default();
    let app = test::init_service(
        App::new().wrap(builder(&outer).build()).service(
            web::scope("/scoped")
                .wrap(SessionMiddleware::new(inner.clone(), SECRET))
                .route("/incr", web::get().to(incr))
                .route("/read", web::get().to(read)),
        ),
    )
    .await;
    let (status, headers, body) = get(&app, "/scoped/incr", None).await;
    assert_eq!((status, body.as_str()), (200, "views=1"));
    let cookies = common::set_cookies(&headers);
    assert_eq!(cookies.len(), 1, "one session, one cookie: {cookies:?}");
    let cookie = pair(&cookies[0]);
    assert_eq!(
        inner.calls.get(),
        [0; 5],
        "the inner middleware made no store call"
    );
    assert_eq!(outer.inner.len().await.unwrap(), 1);
    let (_, headers, body) = get(&app, "/scoped/incr", Some(&cookie)).await;
    assert_eq!(
        body, "views=2",
        "the session the browser holds has the data"
    );
    common::no_set_cookie(&headers);
    let (_, _, body) = get(&app, "/scoped/read", Some(&cookie)).await;
    assert_eq!(body, "views=2 user=None");
    assert_eq!(inner.calls.get(), [0; 5]);
}
