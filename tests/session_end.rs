//! Session end events (EXPRESS_SEMANTICS 34) on the memory store: each session that ends is
//! reported exactly once, with its last stored data and the reason, expiries at their true
//! instant.

#[allow(dead_code)]
#[path = "../examples/presence.rs"]
mod presence;

mod common;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use actix_typed_session::{
    store::{EndReason, SaveOutcome, SaveRequest, SessionEnd, SessionStore},
    MemoryStore, Record, Session, SessionCookie, SessionData, SessionError, SessionMiddleware,
    Unset,
};
use actix_web::{rt::time::sleep, test, web, App, HttpResponse};
use common::{get, id_of, pair, set_cookie_named, SECRET};
use time::OffsetDateTime;

/// The session end behaviours every store must have (`actix_typed_session::testing::end`).
mod acceptance {
    actix_typed_session::testing::session_end_acceptance_tests!(|| {
        let log = actix_typed_session::testing::EndLog::new();
        let store = actix_typed_session::MemoryStore::builder()
            .on_session_end(log.callback())
            .build();
        (store, log)
    });
}

/// One reported end, with the wall-clock and monotonic time it was reported at.
#[derive(Debug, Clone)]
struct Reported {
    end: SessionEnd,
    at: OffsetDateTime,
    instant: Instant,
}

/// The ends a store reported, and how many (read without taking the lock that the store's
/// threads push under).
#[derive(Default)]
struct Log {
    entries: Mutex<Vec<Reported>>,
    count: AtomicUsize,
}

impl Log {
    fn lock(&self) -> std::sync::LockResult<std::sync::MutexGuard<'_, Vec<Reported>>> {
        self.entries.lock()
    }
}

/// A memory store whose session ends are collected, and the collection.
fn recording_store(
    builder: actix_typed_session::store::MemoryStoreBuilder,
) -> (MemoryStore, Arc<Log>) {
    let log = Arc::new(Log::default());
    let sink = Arc::clone(&log);
    let store = builder
        .on_session_end(move |end| {
            let reported = Reported {
                end,
                at: OffsetDateTime::now_utc(),
                instant: Instant::now(),
            };
            sink.entries.lock().unwrap().push(reported);
            sink.count.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    (store, log)
}

fn ends(log: &Log) -> Vec<(String, EndReason)> {
    log.lock()
        .unwrap()
        .iter()
        .map(|r| (r.end.id().to_owned(), r.end.reason()))
        .collect()
}

/// Waits (at most `within`) until `n` ends are reported; answers how many were.
async fn wait_for(log: &Log, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let len = log.count.load(Ordering::SeqCst);
        if len >= n || Instant::now() >= deadline {
            return len;
        }
        sleep(Duration::from_millis(5)).await;
    }
}

#[derive(SessionData, Default, Debug, PartialEq)]
struct Tag {
    n: u64,
}

fn record_expiring_in(lifetime: Duration, n: u64) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(lifetime));
    let mut record = Record::new(cookie);
    record.set_data(&Tag { n }).unwrap();
    record
}

/// splitmix64: reproducible lifetimes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn between_ms(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low + 1))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const SESSIONS: u64 = 10_000;
/// The latest an expiry may be reported after its instant.
const MAX_LATENESS: Duration = Duration::from_millis(100);

#[actix_web::test]
async fn ten_thousand_sessions_each_end_once_at_their_expiry_instant() {
    let (store, log) = recording_store(MemoryStore::builder());
    let mut rng = Rng(0x5e55_10e5);
    let start = Instant::now();
    // The expiry each session must be reported at: its stored cookie's `expires`.
    let mut due: HashMap<String, OffsetDateTime> = HashMap::new();
    for n in 0..SESSIONS {
        let id = format!("s{n}");
        let record = record_expiring_in(rng.between_ms(50, 3000), n);
        let outcome = store.save(&id, SaveRequest::Create(&record)).await;
        assert_eq!(outcome.unwrap(), SaveOutcome::Saved);
        due.insert(id, record.cookie.expires().unwrap());
    }
    let created_in = start.elapsed();

    // At 500 ms, renew every tenth session still stored: its end moves by the time elapsed.
    sleep(Duration::from_millis(500).saturating_sub(start.elapsed())).await;
    let mut touched = 0;
    for n in (0..SESSIONS).step_by(10) {
        let id = format!("s{n}");
        if let Some(cookie) = store.touch(&id, None).await.unwrap() {
            let old = due.insert(id, cookie.expires().unwrap()).unwrap();
            assert!(cookie.expires().unwrap() > old);
            touched += 1;
        }
    }
    assert!(touched > 700, "{touched} sessions touched");

    // The last expiry is at most 3.5 s after the start.
    let reported = wait_for(&log, SESSIONS as usize, Duration::from_secs(5)).await;
    // Anything reported twice would come in this time.
    sleep(Duration::from_millis(150)).await;
    let log = log.lock().unwrap().clone();
    assert_eq!(reported, SESSIONS as usize, "sessions reported");
    assert_eq!(
        log.len(),
        SESSIONS as usize,
        "ends reported, duplicates included"
    );
    assert_eq!(store.len().await.unwrap(), 0);

    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut lateness = Vec::with_capacity(log.len());
    let mut previous: Option<(&Reported, OffsetDateTime)> = None;
    for r in &log {
        let id = r.end.id();
        *seen.entry(id).or_default() += 1;
        assert_eq!(r.end.reason(), EndReason::Expired, "{id}");
        let n: u64 = id[1..].parse().unwrap();
        assert_eq!(r.end.data::<Tag>().unwrap(), Tag { n }, "last data of {id}");
        let at = due[id];
        assert!(r.at >= at, "{id} reported {} early", at - r.at);
        let late = (r.at - at).unsigned_abs();
        assert!(late <= MAX_LATENESS, "{id} reported {late:?} late");
        lateness.push(late);
        // Reported by one thread in expiry order: a later report never has an earlier expiry,
        // except among sessions that were already due when the thread woke.
        if let Some((p, p_due)) = previous {
            assert!(
                at >= p_due || at <= p.at,
                "{id} (due {at}) reported after {} (due {p_due})",
                p.end.id()
            );
        }
        assert!(r.instant >= start);
        previous = Some((r, at));
    }
    assert_eq!(seen.len(), SESSIONS as usize);
    assert!(seen.values().all(|&count| count == 1));

    lateness.sort();
    eprintln!(
        "{SESSIONS} sessions created in {created_in:?}, {touched} touched; lateness of the end \
         events: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&lateness, 0.50),
        percentile(&lateness, 0.99),
        lateness.last().unwrap(),
    );
}

#[actix_web::test]
async fn destroy_and_end_report_their_reason_once() {
    let (store, log) = recording_store(MemoryStore::builder());
    for (n, id) in ["d", "r", "x"].into_iter().enumerate() {
        let record = record_expiring_in(Duration::from_secs(60), n as u64);
        store.save(id, SaveRequest::Create(&record)).await.unwrap();
    }
    store.destroy("d").await.unwrap();
    store.destroy("d").await.unwrap();
    store.end("r", EndReason::Regenerated).await.unwrap();
    store.end("r", EndReason::Destroyed).await.unwrap();
    store.destroy("never-stored").await.unwrap();
    assert_eq!(
        ends(&log),
        [
            ("d".to_owned(), EndReason::Destroyed),
            ("r".to_owned(), EndReason::Regenerated)
        ]
    );
    let first = log.lock().unwrap()[0].end.clone();
    assert_eq!(first.data::<Tag>().unwrap(), Tag { n: 0 });
    assert_eq!(store.ids().await.unwrap(), ["x"]);
}

#[actix_web::test]
async fn clear_reports_each_session_as_cleared() {
    let (store, log) = recording_store(MemoryStore::builder());
    for n in 0..100 {
        let record = record_expiring_in(Duration::from_secs(60), n);
        store
            .save(&format!("c{n}"), SaveRequest::Create(&record))
            .await
            .unwrap();
    }
    store.clear().await.unwrap();
    store.clear().await.unwrap();
    let mut got = ends(&log);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<_> = (0..100)
        .map(|n| (format!("c{n}"), EndReason::Cleared))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
}

#[actix_web::test]
async fn a_panicking_callback_does_not_stop_expiry() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let store = MemoryStore::builder()
        .on_session_end(move |end| {
            sink.lock().unwrap().push(end.id().to_owned());
            if end.id() == "first" {
                panic!("a bug in the application's callback");
            }
        })
        .build();
    for (id, ms) in [("first", 20), ("second", 60)] {
        let record = record_expiring_in(Duration::from_millis(ms), 0);
        store.save(id, SaveRequest::Create(&record)).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while seen.lock().unwrap().len() < 2 && Instant::now() < deadline {
        sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*seen.lock().unwrap(), ["first", "second"]);
}

/// Runs a memory store future, which never waits, to completion.
fn at_once<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    match std::pin::pin!(future).poll(&mut std::task::Context::from_waker(waker)) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a memory store future was pending"),
    }
}

#[actix_web::test]
async fn the_callback_runs_outside_the_store_lock_and_may_use_the_store() {
    let slot: Arc<Mutex<Option<MemoryStore>>> = Arc::default();
    let inner = Arc::clone(&slot);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let store = MemoryStore::builder()
        .on_session_end(move |end| {
            let store = inner.lock().unwrap().clone();
            if let Some(store) = store {
                // Would deadlock if the store's lock were held.
                let left = at_once(store.len()).unwrap();
                sink.lock().unwrap().push((end.id().to_owned(), left));
            }
        })
        .build();
    *slot.lock().unwrap() = Some(store.clone());
    for (id, ms) in [("destroyed", 60_000), ("expired", 30)] {
        let record = record_expiring_in(Duration::from_millis(ms), 0);
        store.save(id, SaveRequest::Create(&record)).await.unwrap();
    }
    store.destroy("destroyed").await.unwrap(); // reported on this thread
    let deadline = Instant::now() + Duration::from_secs(3);
    while seen.lock().unwrap().len() < 2 && Instant::now() < deadline {
        sleep(Duration::from_millis(5)).await;
    }
    // The store's own clone in the callback would keep it alive: break the cycle.
    slot.lock().unwrap().take();
    assert_eq!(
        *seen.lock().unwrap(),
        [("destroyed".to_owned(), 1), ("expired".to_owned(), 0)]
    );
}

// Through the middleware: the presence example's app, in process.

use presence::{end_line as presence_line, login, logout, Presence};

async fn sudo(mut session: Session<Presence>) -> Result<HttpResponse, SessionError> {
    session.cycle_id().await?;
    Ok(HttpResponse::Ok().body("moved"))
}

async fn leave(session: Session<Presence>) -> Result<HttpResponse, SessionError> {
    session.unset()?;
    Ok(HttpResponse::Ok().body("unset"))
}

async fn whoami(session: Session<Presence>) -> String {
    session.user.clone().unwrap_or_default()
}

macro_rules! presence_app {
    ($store:expr, $ttl:expr) => {
        test::init_service(
            App::new()
                .wrap(
                    SessionMiddleware::builder($store.clone(), SECRET)
                        .cookie_max_age(Some($ttl))
                        .rolling(true)
                        .unset(Unset::Destroy)
                        .build(),
                )
                .route("/login", web::get().to(login))
                .route("/logout", web::get().to(logout))
                .route("/sudo", web::get().to(sudo))
                .route("/leave", web::get().to(leave))
                .route("/whoami", web::get().to(whoami)),
        )
        .await
    };
}

#[actix_web::test]
async fn presence_app_prints_one_line_per_session_end() {
    let (store, log) = recording_store(MemoryStore::builder());
    let app = presence_app!(store, Duration::from_millis(600));
    let lines = || -> Vec<String> {
        log.lock()
            .unwrap()
            .iter()
            .map(|r| presence_line(&r.end))
            .collect()
    };

    // A login starts a session; a second login on it regenerates: the old id ends with the data
    // it had.
    let (_, headers, _) = get(&app, "/login?user=alice", None).await;
    let alice = set_cookie_named(&headers, "connect.sid").unwrap();
    let (_, headers, _) = get(&app, "/login?user=bob", Some(&pair(&alice))).await;
    let bob = set_cookie_named(&headers, "connect.sid").unwrap();
    assert_ne!(id_of(&alice), id_of(&bob));
    assert_eq!(
        lines(),
        [format!(
            "session ended id={} reason=regenerated user=alice",
            id_of(&alice)
        )]
    );

    // cycle_id ends the old id as regenerated too; the data moves to the new id.
    let (_, headers, _) = get(&app, "/sudo", Some(&pair(&bob))).await;
    let moved = set_cookie_named(&headers, "connect.sid").unwrap();
    let (_, _, body) = get(&app, "/whoami", Some(&pair(&moved))).await;
    assert_eq!(body, "bob");

    // Logout destroys; unset with `Unset::Destroy` destroys at the end of the request.
    get(&app, "/logout", Some(&pair(&moved))).await;
    let (_, headers, _) = get(&app, "/login?user=carol", None).await;
    let carol = set_cookie_named(&headers, "connect.sid").unwrap();
    get(&app, "/leave", Some(&pair(&carol))).await;

    // An idle session expires on its own.
    let (_, headers, _) = get(&app, "/login?user=dave", None).await;
    let dave = set_cookie_named(&headers, "connect.sid").unwrap();
    assert_eq!(wait_for(&log, 5, Duration::from_secs(2)).await, 5);
    sleep(Duration::from_millis(50)).await;
    assert_eq!(
        lines(),
        [
            format!(
                "session ended id={} reason=regenerated user=alice",
                id_of(&alice)
            ),
            format!(
                "session ended id={} reason=regenerated user=bob",
                id_of(&bob)
            ),
            format!(
                "session ended id={} reason=destroyed user=bob",
                id_of(&moved)
            ),
            format!(
                "session ended id={} reason=destroyed user=carol",
                id_of(&carol)
            ),
            format!("session ended id={} reason=expired user=dave", id_of(&dave)),
        ]
    );
}

#[actix_web::test]
async fn the_event_carries_the_last_stored_data_not_unsaved_changes() {
    #[derive(SessionData, Default)]
    struct Counter {
        views: u32,
    }

    async fn bump_then_regenerate(mut session: Session<Counter>) -> Result<String, SessionError> {
        session.views += 1;
        session.regenerate().await?;
        Ok("regenerated".to_owned())
    }

    async fn bump(mut session: Session<Counter>) -> String {
        session.views += 1;
        session.views.to_string()
    }

    let (store, log) = recording_store(MemoryStore::builder());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/bump", web::get().to(bump))
            .route("/regenerate", web::get().to(bump_then_regenerate)),
    )
    .await;
    let (_, headers, _) = get(&app, "/bump", None).await;
    let first = set_cookie_named(&headers, "connect.sid").unwrap();
    get(&app, "/bump", Some(&pair(&first))).await;
    get(&app, "/regenerate", Some(&pair(&first))).await;
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].end.id(), id_of(&first));
    assert_eq!(log[0].end.reason(), EndReason::Regenerated);
    assert_eq!(log[0].end.data::<Counter>().unwrap().views, 2);
}

#[actix_web::test]
async fn a_full_store_evicts_the_idlest_session_and_the_presence_app_prints_it_as_evicted() {
    let (store, log) = recording_store(MemoryStore::builder().max_sessions(2));
    let app = presence_app!(store, Duration::from_secs(3600));
    let lines = || -> Vec<String> {
        log.lock()
            .unwrap()
            .iter()
            .map(|r| presence_line(&r.end))
            .collect()
    };
    let (_, headers, _) = get(&app, "/login?user=alice", None).await;
    let alice = set_cookie_named(&headers, "connect.sid").unwrap();
    sleep(Duration::from_millis(5)).await;
    let (_, headers, _) = get(&app, "/login?user=bob", None).await;
    let bob = set_cookie_named(&headers, "connect.sid").unwrap();
    sleep(Duration::from_millis(5)).await;
    // Alice comes back (rolling: her expiry is now the latest); Bob is now the idlest.
    let (_, _, body) = get(&app, "/whoami", Some(&pair(&alice))).await;
    assert_eq!(body, "alice");
    sleep(Duration::from_millis(5)).await;
    assert!(lines().is_empty());

    let (_, headers, _) = get(&app, "/login?user=carol", None).await;
    let carol = set_cookie_named(&headers, "connect.sid").unwrap();
    assert_eq!(
        lines(),
        [format!(
            "session ended id={} reason=evicted user=bob",
            id_of(&bob)
        )]
    );
    // Bob's cookie now finds no session: he is logged out, and his id is not adopted.
    let (_, headers, body) = get(&app, "/whoami", Some(&pair(&bob))).await;
    assert_eq!(body, "");
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
    let (_, _, body) = get(&app, "/whoami", Some(&pair(&carol))).await;
    assert_eq!(body, "carol");
    assert_eq!(store.len().await.unwrap(), 2);
    assert_eq!(lines().len(), 1, "reported once");
}
