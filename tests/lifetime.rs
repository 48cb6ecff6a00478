//! Lifetimes counted from the session's creation (EXPRESS_SEMANTICS 36, 37): the absolute
//! timeout, enforced whatever rolling and touching do, and the fixed cookie lifetime.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_typed_session::{
    store::{EndReason, SaveRequest, SessionEnd, SessionStore},
    MemoryStore, Record, Session, SessionCodec, SessionData, SessionMiddleware,
};
use actix_web::{rt::time::sleep, test, web, App};
use common::{expires_of, get, id_of, pair, set_cookie_named, stored_json, SECRET};
use time::OffsetDateTime;

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn incr(mut session: Session<Visit>) -> String {
    session.views += 1;
    format!("{} {}", session.id(), session.views)
}

async fn read(session: Session<Visit>) -> String {
    format!("{} {}", session.id(), session.views)
}

async fn noop() -> &'static str {
    "no session here"
}

async fn cycle(mut session: Session<Visit>) -> Result<String, actix_typed_session::SessionError> {
    session.cycle_id().await?;
    Ok(session.id())
}

macro_rules! app {
    ($builder:expr) => {
        test::init_service(
            App::new()
                .wrap($builder.build())
                .route("/incr", web::get().to(incr))
                .route("/read", web::get().to(read))
                .route("/noop", web::get().to(noop))
                .route("/cycle", web::get().to(cycle)),
        )
        .await
    };
}

type Log = Arc<Mutex<Vec<(SessionEnd, OffsetDateTime)>>>;

fn recording_store() -> (MemoryStore, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let store = MemoryStore::builder()
        .on_session_end(move |end| sink.lock().unwrap().push((end, OffsetDateTime::now_utc())))
        .build();
    (store, log)
}

/// The ends reported for session `id`: reason and when.
fn ends_of(log: &Log, id: &str) -> Vec<(EndReason, OffsetDateTime)> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(end, _)| end.id() == id)
        .map(|(end, at)| (end.reason(), *at))
        .collect()
}

async fn stored(store: &MemoryStore, id: &str) -> Option<Record> {
    store.load(id).await.unwrap()
}

/// A record stored directly, as another app server (or an older version) would have written it.
async fn store_record(store: &MemoryStore, id: &str, json: &str) -> String {
    let record = Record::from_json(json).unwrap();
    store.save(id, SaveRequest::Create(&record)).await.unwrap();
    format!(
        "connect.sid={}",
        SessionCodec::new("connect.sid", SECRET).cookie_value(id)
    )
}

fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

const ABSOLUTE: Duration = Duration::from_secs(1);

#[actix_web::test]
async fn a_rolling_session_touched_every_100_ms_still_ends_at_its_absolute_age() {
    let (store, log) = recording_store();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_max_age(Some(Duration::from_millis(400)))
        .rolling(true)
        .absolute_timeout(ABSOLUTE));

    let (_, headers, _) = get(&app, "/incr", None).await;
    let first = set_cookie_named(&headers, "connect.sid").unwrap();
    let (cookie, id) = (pair(&first), id_of(&first));
    let created = stored(&store, &id).await.unwrap().created_at().unwrap();
    let deadline = created + ABSOLUTE;
    let started = Instant::now();

    // Requests that use the session and requests that do not, every 100 ms, past the deadline.
    let mut alive_until = None;
    for round in 1.. {
        sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_millis(1400) {
            break;
        }
        let path = if round % 2 == 0 { "/incr" } else { "/noop" };
        let sent = OffsetDateTime::now_utc();
        let (status, headers, body) = get(&app, path, Some(&cookie)).await;
        assert_eq!(status, 200);
        let now = OffsetDateTime::now_utc();
        if let Some(set) = set_cookie_named(&headers, "connect.sid") {
            // Rolling renews the cookie, never past the deadline.
            if id_of(&set) == id {
                assert!(expires_of(&set).unwrap() <= deadline, "{set}");
            }
        }
        if let Some(record) = stored(&store, &id).await {
            assert!(record.cookie.expires().unwrap() <= deadline);
            assert!(
                now < deadline + Duration::from_millis(5),
                "still stored at {now}"
            );
            alive_until = Some(now);
        }
        if path == "/incr" && now + Duration::from_millis(50) < deadline {
            assert!(
                body.starts_with(&id),
                "the session lives on before its deadline"
            );
        }
        if path == "/incr" && sent > deadline {
            assert!(
                !body.starts_with(&id),
                "a new session after the deadline: {body}"
            );
        }
    }
    // Rolling kept it alive well past its 400 ms idle lifetime.
    let alive_until = alive_until.expect("the session lived");
    assert!(alive_until > created + Duration::from_millis(700));

    let ends = ends_of(&log, &id);
    assert_eq!(ends.len(), 1, "{ends:?}");
    let (reason, at) = ends[0];
    eprintln!("ended {} after its absolute deadline", at - deadline);
    assert_eq!(reason, EndReason::Expired);
    assert!(at >= deadline, "ended {} early", deadline - at);
    assert!(
        at <= deadline + Duration::from_millis(100),
        "ended {} late",
        at - deadline
    );
}

#[actix_web::test]
async fn a_session_loaded_past_its_absolute_deadline_ends_as_expired() {
    let (store, log) = recording_store();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).absolute_timeout(ABSOLUTE));
    // Idle expiry a minute away, created two seconds ago (as on a store whose expiry is coarse).
    let old = iso(OffsetDateTime::now_utc() - Duration::from_secs(2));
    let json = format!(
        r#"{{"cookie":{{"originalMaxAge":60000,"expires":"{}","httpOnly":true,"path":"/"}},"views":5,"sessionCreatedAt":"{old}"}}"#,
        iso(OffsetDateTime::now_utc() + Duration::from_secs(60))
    );

    // A request that uses the session gets a new one.
    let used = store_record(&store, "used", &json).await;
    let (_, _, body) = get(&app, "/read", Some(&used)).await;
    assert!(!body.starts_with("used"), "{body}");
    assert!(body.ends_with(" 0"), "{body}");
    // A request that does not use it ends it too.
    let unused = store_record(&store, "unused", &json).await;
    let (_, headers, _) = get(&app, "/noop", Some(&unused)).await;
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);

    for id in ["used", "unused"] {
        assert_eq!(stored(&store, id).await, None, "{id}");
        let ends = ends_of(&log, id);
        assert_eq!(
            ends.iter().map(|e| e.0).collect::<Vec<_>>(),
            [EndReason::Expired],
            "{id}"
        );
        let end = log
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.0.id() == id)
            .unwrap()
            .0
            .clone();
        assert_eq!(end.data::<Visit>().unwrap().views, 5);
    }
}

#[actix_web::test]
async fn an_older_session_counts_its_absolute_age_from_its_first_load() {
    let (store, _log) = recording_store();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).absolute_timeout(ABSOLUTE));
    let json = format!(
        r#"{{"cookie":{{"originalMaxAge":60000,"expires":"{}","httpOnly":true,"path":"/"}},"views":5}}"#,
        iso(OffsetDateTime::now_utc() + Duration::from_secs(60))
    );
    let cookie = store_record(&store, "legacy", &json).await;
    let before = OffsetDateTime::now_utc() - Duration::from_millis(1);
    let (_, headers, body) = get(&app, "/read", Some(&cookie)).await;
    assert_eq!(body, "legacy 5");
    assert_eq!(
        set_cookie_named(&headers, "connect.sid"),
        None,
        "not modified"
    );
    let record = stored(&store, "legacy").await.unwrap();
    let created = record.created_at().expect("a creation time is recorded");
    assert!(created >= before && created <= OffsetDateTime::now_utc());
    // The data is untouched, and the expiry now capped at the deadline.
    assert_eq!(record.data::<Visit>().unwrap().views, 5);
    assert_eq!(record.cookie.expires(), Some(created + ABSOLUTE));
}

#[actix_web::test]
async fn the_creation_time_is_recorded_only_when_an_option_counts_from_it() {
    let (store, _log) = recording_store();
    let plain = app!(SessionMiddleware::builder(store.clone(), SECRET));
    let (_, headers, _) = get(&plain, "/incr", None).await;
    let id = id_of(&set_cookie_named(&headers, "connect.sid").unwrap());
    assert_eq!(
        stored_json(&store, &id).await.unwrap(),
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
    );

    let timed = app!(SessionMiddleware::builder(store.clone(), SECRET).absolute_timeout(ABSOLUTE));
    let (_, headers, _) = get(&timed, "/incr", None).await;
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    let id = id_of(&set);
    let json = stored_json(&store, &id).await.unwrap();
    // A top-level key, after the data the session had when it was created (none yet).
    let created = iso(stored(&store, &id).await.unwrap().created_at().unwrap());
    assert_eq!(
        json,
        format!(
            r#"{{"cookie":{{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"}},"sessionCreatedAt":"{created}","views":1}}"#
        )
    );

    // cycle_id keeps the creation time: the same session under a new id.
    let (_, headers, new_id) = get(&timed, "/cycle", Some(&pair(&set))).await;
    assert!(set_cookie_named(&headers, "connect.sid").is_some());
    let moved = stored(&store, &new_id).await.unwrap();
    assert_eq!(iso(moved.created_at().unwrap()), created);
}

#[actix_web::test]
async fn a_fixed_cookie_lifetime_keeps_the_browser_cookie_while_the_session_idles_out() {
    let (store, log) = recording_store();
    let day = Duration::from_secs(24 * 60 * 60);
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_max_age(Some(Duration::from_millis(300)))
        .rolling(true)
        .cookie_lifetime(day));

    let (_, headers, _) = get(&app, "/incr", None).await;
    let first = set_cookie_named(&headers, "connect.sid").unwrap();
    let id = id_of(&first);
    let record = stored(&store, &id).await.unwrap();
    let created = record.created_at().unwrap();
    // The browser keeps the cookie for a day from the session's creation…
    let browser_expiry = expires_of(&first).unwrap();
    assert_eq!(
        browser_expiry,
        (created + day).replace_millisecond(0).unwrap(),
        "{first}"
    );
    // …while the server-side session lives 300 ms after each request.
    let server_expiry = record.cookie.expires().unwrap();
    assert!(server_expiry <= OffsetDateTime::now_utc() + Duration::from_millis(300));
    assert_eq!(record.cookie.original_max_age_ms(), Some(300));

    // Rolling re-sends the cookie with the same, fixed expiry, and renews the session.
    sleep(Duration::from_millis(150)).await;
    let (_, headers, body) = get(&app, "/incr", Some(&pair(&first))).await;
    assert_eq!(body, format!("{id} 2"));
    let again = set_cookie_named(&headers, "connect.sid").unwrap();
    assert_eq!(again, first);
    let renewed = stored(&store, &id).await.unwrap().cookie.expires().unwrap();
    assert!(renewed > server_expiry);

    // Idle for longer than the session's lifetime: it ends, though the browser still holds the
    // cookie; that cookie then gets a new session with a new id.
    let deadline = Instant::now() + Duration::from_secs(2);
    while ends_of(&log, &id).is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(10)).await;
    }
    let ends = ends_of(&log, &id);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].0, EndReason::Expired);
    let (_, headers, body) = get(&app, "/incr", Some(&pair(&first))).await;
    let next = set_cookie_named(&headers, "connect.sid").unwrap();
    assert_ne!(id_of(&next), id);
    assert!(body.ends_with(" 1"), "{body}");
}

#[actix_web::test]
async fn a_browser_session_cookie_gets_a_fixed_lifetime_too() {
    // Without a max age the server-side session has no cookie expiry; the browser cookie still
    // gets the fixed one.
    let (store, _log) = recording_store();
    let hour = Duration::from_secs(3600);
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).cookie_lifetime(hour));
    let (_, headers, _) = get(&app, "/incr", None).await;
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    let record = stored(&store, &id_of(&set)).await.unwrap();
    assert_eq!(
        (record.cookie.expires(), record.cookie.original_max_age_ms()),
        (None, None)
    );
    let created = record.created_at().unwrap();
    assert_eq!(
        expires_of(&set),
        Some((created + hour).replace_millisecond(0).unwrap())
    );
}
