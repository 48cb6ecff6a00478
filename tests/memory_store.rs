//! `MemoryStore`: the store acceptance suite, then what only the memory store promises: the
//! default lifetime of browser-session cookies, expiry of many sessions at their own instants,
//! memory given back, and its expiry thread ending with the store.

mod common;

use std::{
    alloc::System,
    env,
    future::Future,
    pin::pin,
    process::Command,
    sync::Mutex,
    task::{Context, Poll, Waker},
    thread,
    time::{Duration, Instant},
};

use actix_typed_session::testing::{self as acceptance, json, record, unique_id};
use actix_typed_session::{
    store::{EndReason, SaveOutcome, SessionStore, StoreErrorKind},
    ChangeSet, MemoryStore, Record, Session, SessionCookie, SessionData, SessionError,
    SessionErrorKind, SessionMiddleware,
};
use actix_web::{rt::time::sleep, web, App};
use cap::Cap;
use common::{get, id_of, pair, set_cookie_named, SECRET};

const HOUR: Duration = Duration::from_secs(3600);

/// Counts the bytes this test binary has allocated and not yet freed.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

acceptance::store_acceptance_tests!(MemoryStore::new);

#[actix_web::test]
async fn browser_session_cookie_lives_for_the_default_ttl_renewed_by_each_save() {
    let store = MemoryStore::builder()
        .default_ttl(Duration::from_millis(300))
        .build();
    let id = unique_id();
    let stored = Record::new(SessionCookie::default());
    acceptance::create(&store, &id, &stored).await;
    sleep(Duration::from_millis(200)).await;
    let mut changes = ChangeSet::new();
    changes.set("views", json("1"));
    let outcome = acceptance::update(&store, &id, &stored.cookie, &changes).await;
    assert_eq!(outcome, SaveOutcome::Saved);
    sleep(Duration::from_millis(200)).await;
    assert!(
        store.load(&id).await.unwrap().is_some(),
        "the save renewed it"
    );
    assert!(store.touch(&id, None).await.unwrap().is_some());
    sleep(Duration::from_millis(200)).await;
    assert!(
        store.load(&id).await.unwrap().is_some(),
        "the touch renewed it"
    );
    sleep(Duration::from_millis(150)).await;
    assert_eq!(store.load(&id).await.unwrap(), None);
}

#[actix_web::test]
async fn expired_sessions_are_not_counted_by_len_or_ids() {
    let store = MemoryStore::new();
    let (short, long) = (unique_id(), unique_id());
    acceptance::create(&store, &short, &record(Duration::from_millis(50), &[])).await;
    acceptance::create(&store, &long, &record(Duration::from_secs(60), &[])).await;
    assert_eq!(store.len().await.unwrap(), 2);
    sleep(Duration::from_millis(80)).await;
    assert_eq!(store.len().await.unwrap(), 1);
    assert_eq!(store.ids().await.unwrap(), [long]);
}

/// Runs a store future: the memory store never waits, so one poll finishes it.
#[track_caller]
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a memory store future was pending"),
    }
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): reproducible and allocation
/// free.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }

    /// A 32-character id, as long as express-session's.
    fn id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
}

const ALONE: &str = "MEMORY_STORE_TEST_ALONE";
const EXPIRY_TEST: &str = "ten_thousand_sessions_expire_on_time_and_memory_returns_to_baseline";
const SHORT: usize = 10_000;
const LONG: usize = 100;

/// Whether this is the process of its own that test `name` runs in; if not, runs it there (and
/// fails if it fails).
fn in_own_process(name: &str) -> bool {
    if env::var_os(ALONE).is_some() {
        return true;
    }
    let out = Command::new(env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, "1")
        .output()
        .expect("run this test in its own process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the test failed in its own process");
    assert!(
        stdout.contains("1 passed"),
        "the test did not run in its own process"
    );
    false
}

/// Live bytes are measured for the whole process, so this test reruns itself in a process of its
/// own, where no other test allocates meanwhile.
#[test]
fn ten_thousand_sessions_expire_on_time_and_memory_returns_to_baseline() {
    if !in_own_process(EXPIRY_TEST) {
        return;
    }

    let store = MemoryStore::new();
    // Whatever the first operations initialise once is not the sessions' memory.
    ready(acceptance::create(
        &store,
        "warm-up",
        &record(Duration::from_secs(1), &[]),
    ));
    ready(store.destroy("warm-up")).unwrap();

    // Everything the test itself keeps is allocated before the baseline.
    let mut rng = Lcg(0x5eed);
    let long: Vec<String> = (0..LONG).map(|_| rng.id()).collect();
    let short: Vec<String> = (0..SHORT).map(|_| rng.id()).collect();
    let lifetimes: Vec<Duration> = (0..SHORT)
        .map(|_| Duration::from_millis(50 + rng.next() % 1450))
        .collect();
    // When each short session expires: no earlier than the first instant, no later than the
    // second (its record takes the clock between the two, and this process may be preempted
    // between any two lines).
    let mut due: Vec<(Instant, Instant)> = Vec::with_capacity(SHORT);
    let session = |i: usize, lifetime| {
        let views = i.to_string();
        let user = format!(r#""user{i}""#);
        record(lifetime, &[("views", &views), ("user", &user)])
    };

    let json_bytes = session(0, Duration::from_secs(1)).to_json().len();

    let baseline = ALLOCATOR.allocated();
    for (i, id) in long.iter().enumerate() {
        ready(acceptance::create(
            &store,
            id,
            &session(i, Duration::from_secs(60)),
        ));
    }
    let with_long = ALLOCATOR.allocated();
    for (i, (id, &lifetime)) in short.iter().zip(&lifetimes).enumerate() {
        let earliest = Instant::now() + lifetime;
        let stored = session(i, lifetime);
        due.push((earliest, Instant::now() + lifetime));
        ready(acceptance::create(&store, id, &stored));
    }
    let full = ALLOCATOR.allocated();
    let per_session = (full - with_long) / SHORT;
    println!(
        "memory store: {per_session} bytes per session at {SHORT} sessions ({json_bytes} bytes of JSON each, 32-byte ids)",
    );
    // The store's documented figure (`MemoryStore`, "Memory"): about 155 bytes here.
    assert!(per_session <= 165, "{per_session} bytes per session");

    // At instants along the way, a sample of the sessions (the expiry thread alone removes the
    // others) is loaded: none past its expiry, none missing before it.
    let margin = Duration::from_millis(5);
    let last_due = due.iter().map(|&(_, latest)| latest).max().unwrap();
    let (mut seen_live, mut seen_gone) = (0, 0);
    while Instant::now() < last_due + margin {
        for i in (0..SHORT).step_by(10) {
            let before = Instant::now();
            let loaded = ready(store.load(&short[i])).unwrap().is_some();
            let after = Instant::now();
            let (earliest, latest) = due[i];
            if before >= latest + margin {
                assert!(
                    !loaded,
                    "session {i} loaded {:?} after its expiry",
                    before - latest
                );
                seen_gone += 1;
            } else if after + margin <= earliest {
                assert!(
                    loaded,
                    "session {i} missing {:?} before its expiry",
                    earliest - after
                );
                seen_live += 1;
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        seen_live > SHORT / 10 && seen_gone > SHORT / 10,
        "{seen_live} {seen_gone}"
    );

    // The expiry thread removes the rest and gives their memory back, with no request helping.
    let deadline = Instant::now() + Duration::from_secs(3);
    // The index gives memory back by halving once it is a quarter full (amortized O(1) per
    // removal), so with LONG sessions left it may keep spare room for up to 3 × LONG entries
    // (about 60 KiB here); the 10,000 expired sessions held about 3.7 MB.
    let slack = 8 * 1024 + 3 * LONG * 256;
    while ALLOCATOR.allocated() > with_long + slack && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let after_expiry = ALLOCATOR.allocated();
    println!(
        "memory store: {} bytes live after expiry against {} before the {SHORT} sessions",
        after_expiry - baseline,
        with_long - baseline,
    );
    assert!(
        after_expiry <= with_long + slack,
        "{} bytes more than before the sessions",
        after_expiry - with_long
    );
    for id in &short {
        assert_eq!(ready(store.load(id)).unwrap(), None);
    }
    for id in &long {
        assert!(
            ready(store.load(id)).unwrap().is_some(),
            "long-lived session gone"
        );
    }
    assert_eq!(ready(store.len()).unwrap(), LONG);

    for id in &long {
        ready(store.destroy(id)).unwrap();
    }
    let empty = ALLOCATOR.allocated();
    println!(
        "memory store: {} bytes live once empty against the baseline",
        empty as isize - baseline as isize
    );
    assert!(
        empty <= baseline + 256,
        "{} bytes over the baseline",
        empty - baseline
    );

    drop(store);
    expiry_thread_ends();
}

/// Waits until no thread of this process is the store's expiry thread.
fn expiry_thread_ends() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let expiry_threads = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter(|task| {
                let comm = task.as_ref().unwrap().path().join("comm");
                std::fs::read_to_string(comm).is_ok_and(|name| name.trim() == "session-expiry")
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while expiry_threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "the expiry thread outlived the store"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// A shopping cart: the session express apps outgrow.
#[derive(SessionData, Default)]
struct Cart {
    items: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Add {
    bytes: usize,
}

/// Adds an item of `bytes` bytes to the cart; answers the cart's size.
async fn add(mut cart: Session<Cart>, add: web::Query<Add>) -> String {
    cart.items.push("x".repeat(add.bytes));
    format!("{} items", cart.items.len())
}

/// Adds a two-megabyte item and saves at once, telling what `save()` answered.
async fn add_and_save(
    mut cart: Session<Cart>,
    seen: web::Data<Mutex<Option<SessionErrorKind>>>,
) -> Result<String, SessionError> {
    cart.items.push("x".repeat(2_000_000));
    if let Err(e) = cart.save().await {
        *seen.lock().unwrap() = Some(e.kind());
        return Err(e);
    }
    Ok("saved".to_owned())
}

async fn show(cart: Session<Cart>) -> String {
    let sizes: Vec<String> = cart.items.iter().map(|i| i.len().to_string()).collect();
    sizes.join(",")
}

#[actix_web::test]
async fn a_handler_storing_two_megabytes_gets_an_error_response_and_nothing_is_stored() {
    let store = MemoryStore::new();
    let seen = web::Data::new(Mutex::new(None));
    let app = actix_web::test::init_service(
        App::new()
            .app_data(seen.clone())
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/add", web::get().to(add))
            .route("/add-and-save", web::get().to(add_and_save))
            .route("/show", web::get().to(show)),
    )
    .await;

    // A new visitor whose first request stores two megabytes: no session at all.
    let (status, headers, body) = get(&app, "/add?bytes=2000000", None).await;
    assert_eq!((status, body.as_str()), (500, "session error"));
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
    assert_eq!(store.len().await.unwrap(), 0);

    // A session with a small cart, then a request that would make it two megabytes.
    let (status, headers, _) = get(&app, "/add?bytes=10", None).await;
    assert_eq!(status, 200);
    let set_cookie = set_cookie_named(&headers, "connect.sid").expect("a session cookie");
    let cookie = pair(&set_cookie);
    let id = id_of(&set_cookie);
    let before = common::stored_json(&store, &id).await.expect("stored");

    let (status, _, body) = get(&app, "/add?bytes=2000000", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (500, "session error"));
    assert!(!body.contains(&id));
    assert_eq!(common::stored_json(&store, &id).await, Some(before.clone()));
    let (status, _, body) = get(&app, "/show", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (200, "10"), "the previous cart");

    // `session.save()` answers the error; the request still fails.
    let (status, _, body) = get(&app, "/add-and-save", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (500, "session error"));
    assert_eq!(
        *seen.lock().unwrap(),
        Some(SessionErrorKind::Store(StoreErrorKind::TooLarge))
    );
    assert_eq!(common::stored_json(&store, &id).await, Some(before));
    assert_eq!(store.len().await.unwrap(), 1);
}

#[actix_web::test]
async fn a_full_store_evicts_the_sessions_nearest_their_expiry_each_reported_once_with_its_data() {
    let log = acceptance::EndLog::new();
    let store = MemoryStore::builder()
        .max_sessions(100)
        .on_session_end(log.callback())
        .build();
    // Lifetimes of 1 h plus a whole number of seconds, in an order unrelated to creation.
    let lifetime = |i: u64| Duration::from_secs(3600 + (i * 7919) % 1000);
    let ids: Vec<String> = (0..1000).map(|_| unique_id()).collect();
    // What the store should do: at each create beyond 100, evict the earliest expiry held.
    let mut held = std::collections::BTreeSet::<(Duration, u64)>::new();
    let mut evicted = Vec::new();
    for (i, id) in (0_u64..).zip(&ids) {
        let n = i.to_string();
        acceptance::create(&store, id, &record(lifetime(i), &[("n", &n)])).await;
        if held.len() == 100 {
            let first = *held.iter().next().unwrap();
            held.remove(&first);
            evicted.push(first.1);
        }
        held.insert((lifetime(i), i));
    }
    assert_eq!(store.len().await.unwrap(), 100);
    let mut kept: Vec<String> = held.iter().map(|(_, i)| ids[*i as usize].clone()).collect();
    let mut stored = store.ids().await.unwrap();
    kept.sort();
    stored.sort();
    assert_eq!(stored, kept);

    let ends = log.ends();
    let reported: Vec<(&str, EndReason, u64)> = ends
        .iter()
        .map(|end| {
            let n = end.record().fields.get("n").expect("its data").get();
            (end.id(), end.reason(), n.parse().unwrap())
        })
        .collect();
    let want: Vec<(&str, EndReason, u64)> = evicted
        .iter()
        .map(|&i| (ids[i as usize].as_str(), EndReason::Evicted, i))
        .collect();
    assert_eq!(reported.len(), 900);
    assert_eq!(
        reported, want,
        "each evicted session reported once, nearest expiry first"
    );
}

#[actix_web::test]
async fn a_full_store_still_saves_and_touches_the_sessions_it_holds() {
    let store = MemoryStore::builder().max_sessions(2).build();
    let (a, b) = (unique_id(), unique_id());
    let stored = record(HOUR, &[("views", "1")]);
    acceptance::create(&store, &a, &stored).await;
    acceptance::create(&store, &b, &stored).await;
    let mut changes = ChangeSet::new();
    changes.set("views", json("2"));
    let outcome = acceptance::update(&store, &a, &stored.cookie, &changes).await;
    assert_eq!(outcome, SaveOutcome::Saved);
    assert!(store.touch(&b, None).await.unwrap().is_some());
    assert_eq!(store.len().await.unwrap(), 2);
    let loaded = store.load(&a).await.unwrap().unwrap();
    assert_eq!(loaded.fields.get("views").unwrap().get(), "2");
}

const FLOOD_TEST: &str = "memory_stays_bounded_under_a_flood_of_new_sessions";
const FLOOD_CAPACITY: usize = 20_000;

/// Anonymous traffic to a route that writes the session: every request a new session.
#[test]
fn memory_stays_bounded_under_a_flood_of_new_sessions() {
    if !in_own_process(FLOOD_TEST) {
        return;
    }
    let store = MemoryStore::builder().max_sessions(FLOOD_CAPACITY).build();
    let mut rng = Lcg(0xf100d);
    // The README counter's session: `{"cookie":{…},"views":1}` with a one-hour cookie.
    let session = record(HOUR, &[("views", "1")]);
    let baseline = ALLOCATOR.allocated();
    let mut id = String::with_capacity(32);
    let mut create = |rng: &mut Lcg| {
        id.clear();
        id.push_str(&rng.id());
        ready(acceptance::create(&store, &id, &session));
    };
    for _ in 0..FLOOD_CAPACITY {
        create(&mut rng);
    }
    let full = ALLOCATOR.allocated();
    println!(
        "memory store: {} bytes per session at {FLOOD_CAPACITY} sessions ({} bytes of JSON each)",
        (full - baseline) / FLOOD_CAPACITY,
        session.to_json().len(),
    );
    // The README's figure: about 109 bytes per session (one 70-byte allocation holding id,
    // cookie and field, and the index); 385 before sessions were packed.
    assert!(
        (full - baseline) / FLOOD_CAPACITY <= 112,
        "{} bytes per session",
        (full - baseline) / FLOOD_CAPACITY
    );
    let mut peak = full;
    for _ in 0..10 * FLOOD_CAPACITY {
        create(&mut rng);
        peak = peak.max(ALLOCATOR.allocated());
    }
    let after = ALLOCATOR.allocated();
    println!(
        "memory store: {} bytes live after {} more new sessions against {} when full (peak {})",
        after - baseline,
        10 * FLOOD_CAPACITY,
        full - baseline,
        peak - baseline,
    );
    assert_eq!(ready(store.len()).unwrap(), FLOOD_CAPACITY);
    // The only slack: the index's hash tables, each of which may double once as deletions leave
    // tombstones in it (measured: 261 KiB, 12% here); after that they rehash in place.
    assert!(
        after <= full + full * 15 / 100,
        "{} bytes more after the flood than when full",
        after - full
    );
    assert!(
        peak <= full + full * 15 / 100,
        "peak {} over {}",
        peak,
        full
    );
}
