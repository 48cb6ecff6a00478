//! Sessions indexed by a field on the memory store: the index suite, the `devices` example's app
//! through the middleware (two app instances on one store), per-value limits through the
//! middleware, start events, and the index kept equal to the live sessions under a mixed load of
//! 10,000 sessions.

#[allow(dead_code)]
#[path = "../examples/devices.rs"]
mod devices;

mod common;

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_typed_session::{
    store::{
        EndReason, IndexKey, MemoryStoreBuilder, OverLimit, SaveOutcome, SaveRequest, SessionStore,
    },
    testing::{self as acceptance, index::IndexSetup, json, record, unique_id, EndLog},
    ChangeSet, MemoryStore, SessionMiddleware,
};
use actix_web::{rt::time::sleep, test, App};
use common::{get, pair, set_cookie_named, SECRET};

fn indexed_store(setup: &IndexSetup) -> MemoryStore {
    let builder = MemoryStore::builder()
        .on_session_end(setup.ends.callback())
        .on_session_start(setup.starts.callback());
    match setup.limit {
        Some((max, over)) => builder.index_limit("user", max, over),
        None => builder.index("user"),
    }
    .build()
}

acceptance::index_acceptance_tests!(indexed_store);

/// The devices example's app on `store`.
macro_rules! devices_app {
    ($store:expr) => {
        test::init_service(
            App::new()
                .wrap(
                    SessionMiddleware::builder($store.clone(), SECRET)
                        .cookie_max_age(Some(Duration::from_secs(3600)))
                        .rolling(true)
                        .build(),
                )
                .configure(devices::routes),
        )
        .await
    };
}

/// The end lines the devices example prints, collected.
fn printed(builder: MemoryStoreBuilder) -> (MemoryStoreBuilder, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&lines);
    let builder =
        builder.on_session_end(move |end| log.lock().unwrap().push(devices::end_line(&end)));
    (builder, lines)
}

/// Logs `user` in on `app`; answers the cookie pair and the session id.
macro_rules! login {
    ($app:expr, $user:expr) => {{
        let (status, headers, body) = get(&$app, &format!("/login?user={}", $user), None).await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("logged in as {}\n", $user).as_str())
        );
        let cookie = pair(&set_cookie_named(&headers, "connect.sid").expect("a cookie"));
        let id = common::id_of(&cookie);
        (cookie, id)
    }};
}

#[actix_web::test]
async fn devices_lists_and_ends_a_users_sessions_across_two_app_instances() {
    let (builder, lines) = printed(MemoryStore::builder().indexes::<devices::Device>());
    let store = builder.build();
    let (first, second) = (devices_app!(store), devices_app!(store));
    let (a, a_id) = login!(first, "alice");
    let (b, b_id) = login!(second, "alice");
    let (c, c_id) = login!(second, "bob");

    let (_, _, body) = get(&first, "/whoami", Some(&a)).await;
    assert_eq!(body, "user=alice\n");
    let (status, _, body) = get(&second, "/sessions", Some(&a)).await;
    assert_eq!(status, 200);
    assert_eq!(body, format!("{a_id} current=yes\n{b_id} current=no\n"));
    let (status, _, body) = get(&first, "/sessions", None).await;
    assert_eq!((status, body.as_str()), (401, "not logged in\n"));

    let (_, _, body) = get(&first, "/logout-others", Some(&a)).await;
    assert_eq!(body, "ended 1\n");
    assert_eq!(get(&second, "/whoami", Some(&b)).await.2, "user=none\n");
    assert_eq!(get(&first, "/whoami", Some(&a)).await.2, "user=alice\n");
    assert_eq!(
        get(&first, "/sessions", Some(&a)).await.2,
        format!("{a_id} current=yes\n")
    );

    let (_, _, b2_id) = {
        let (b2, b2_id) = login!(second, "alice");
        (b2, (), b2_id)
    };
    let (status, headers, body) = get(&second, "/logout-everywhere", Some(&a)).await;
    assert_eq!((status, body.as_str()), (200, "ended 2\n"));
    let cleared = set_cookie_named(&headers, "connect.sid").expect("the cookie is cleared");
    assert!(cleared.contains("Expires=Thu, 01 Jan 1970"), "{cleared}");
    assert_eq!(get(&first, "/whoami", Some(&a)).await.2, "user=none\n");
    assert_eq!(get(&first, "/whoami", Some(&c)).await.2, "user=bob\n");
    let key = IndexKey::new("user", "alice").unwrap();
    assert_eq!(store.count_by(&key).await.unwrap(), 0);

    let lines = lines.lock().unwrap().clone();
    let ended: Vec<&String> = lines
        .iter()
        .filter(|l| !l.contains("reason=regenerated"))
        .collect();
    assert_eq!(
        ended,
        [
            &format!("session ended id={b_id} reason=revoked user=alice"),
            &format!("session ended id={b2_id} reason=revoked user=alice"),
            &format!("session ended id={a_id} reason=revoked user=alice"),
        ],
        "each end printed once: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains(&c_id)),
        "bob stays signed in"
    );
}

#[actix_web::test]
async fn over_the_limit_a_login_ends_the_users_oldest_session() {
    let (builder, lines) =
        printed(MemoryStore::builder().index_limit("user", 2, OverLimit::EndOldest));
    let store = builder.build();
    let app = devices_app!(store);
    let (first, first_id) = login!(app, "ada");
    let (_, second_id) = login!(app, "ada");
    let (third, third_id) = login!(app, "ada");
    assert_eq!(get(&app, "/whoami", Some(&first)).await.2, "user=none\n");
    assert_eq!(
        get(&app, "/sessions", Some(&third)).await.2,
        format!("{second_id} current=no\n{third_id} current=yes\n")
    );
    assert_eq!(
        *lines.lock().unwrap(),
        [format!(
            "session ended id={first_id} reason=displaced user=ada"
        )]
    );
}

#[actix_web::test]
async fn over_a_refusing_limit_a_login_fails_with_403_and_writes_nothing() {
    let store = MemoryStore::builder()
        .index_limit("user", 1, OverLimit::Refuse)
        .build();
    let app = devices_app!(store);
    let (first, _) = login!(app, "ada");
    let (status, headers, body) = get(&app, "/login?user=ada", None).await;
    assert_eq!((status, body.as_str()), (403, "session limit reached"));
    assert!(set_cookie_named(&headers, "connect.sid").is_none());
    assert_eq!(store.len().await.unwrap(), 1);
    assert_eq!(get(&app, "/whoami", Some(&first)).await.2, "user=ada\n");
    let _ = login!(app, "grace");
}

#[actix_web::test]
async fn a_session_start_is_reported_once_when_the_middleware_first_stores_it() {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&starts);
    let store = MemoryStore::builder()
        .indexes::<devices::Device>()
        .on_session_start(move |start| {
            let user = start.data::<devices::Device>().unwrap().user;
            log.lock().unwrap().push((start.id().to_owned(), user));
        })
        .build();
    let app = devices_app!(store);
    let (cookie, id) = login!(app, "ada");
    get(&app, "/whoami", Some(&cookie)).await;
    get(&app, "/logout-others", Some(&cookie)).await;
    assert_eq!(*starts.lock().unwrap(), [(id, Some("ada".to_owned()))]);
}

/// A session of the model: its user and when it expires.
struct Live {
    user: usize,
    expires: Instant,
}

/// 10,000 sessions over 100 users on one store shared by two handles (two app servers), with
/// lifetimes from 300 ms to 2 s, destroys, regenerations (end + create under a new id) and
/// moves between users: every 1,000 operations each user's indexed sessions equal the model's
/// live sessions of that user (sessions within 50 ms of their expiry may be either), and once
/// everything has expired no user has a session left and no session end is reported twice.
#[actix_web::test]
async fn the_index_equals_the_live_sessions_under_a_mixed_load_of_ten_thousand_sessions() {
    const USERS: usize = 100;
    const SESSIONS: usize = 10_000;
    let ends = EndLog::new();
    let first = MemoryStore::builder()
        .index("user")
        .on_session_end(ends.callback())
        .build();
    let second = first.clone();
    let keys: Vec<IndexKey> = (0..USERS)
        .map(|u| IndexKey::new("user", &format!("u{u}")).unwrap())
        .collect();
    let mut model: HashMap<String, Live> = HashMap::new();
    let mut seed = 0x1d_5eed_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let margin = Duration::from_millis(50);
    for n in 0..SESSIONS {
        let store = if n % 2 == 0 { &first } else { &second };
        let user = (next() % USERS as u64) as usize;
        let lifetime = Duration::from_millis(300 + next() % 1700);
        let id = unique_id();
        let value = format!("\"u{user}\"");
        let stored = record(lifetime, &[("user", &value)]);
        acceptance::create(store, &id, &stored).await;
        model.insert(
            id.clone(),
            Live {
                user,
                expires: Instant::now() + lifetime,
            },
        );
        // Now and then, something happens to a session stored earlier.
        let ids: Vec<&String> = model.keys().take(8).collect();
        let Some(&other) = ids.get((next() % 8) as usize) else {
            continue;
        };
        let other = other.clone();
        match next() % 10 {
            0 => {
                store.destroy(&other).await.unwrap();
                model.remove(&other);
            }
            1 => {
                let Some(loaded) = store.load(&other).await.unwrap() else {
                    model.remove(&other);
                    continue;
                };
                store.end(&other, EndReason::Regenerated).await.unwrap();
                let moved = unique_id();
                let outcome = store
                    .save(&moved, SaveRequest::Create(&loaded))
                    .await
                    .unwrap();
                assert_eq!(outcome, SaveOutcome::Saved);
                let live = model.remove(&other).unwrap();
                model.insert(moved, live);
            }
            2 => {
                let Some(loaded) = store.load(&other).await.unwrap() else {
                    model.remove(&other);
                    continue;
                };
                let to = (next() % USERS as u64) as usize;
                let mut changes = ChangeSet::new();
                changes.set("user", json(&format!("\"u{to}\"")));
                let outcome = acceptance::update(store, &other, &loaded.cookie, &changes).await;
                if outcome == SaveOutcome::Saved {
                    model.get_mut(&other).unwrap().user = to;
                } else {
                    model.remove(&other);
                }
            }
            _ => {}
        }
        if n % 1000 == 999 {
            model.retain(|_, live| live.expires + margin > Instant::now());
            for (u, key) in keys.iter().enumerate() {
                let store = if u % 2 == 0 { &first } else { &second };
                let before = Instant::now();
                let listed: BTreeSet<String> = store
                    .sessions_by(key)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
                let after = Instant::now();
                let of_user = |live: &&Live| live.user == u;
                let sure: BTreeSet<&String> = model
                    .iter()
                    .filter(|(_, live)| of_user(live) && live.expires > after + margin)
                    .map(|(id, _)| id)
                    .collect();
                let maybe: BTreeSet<&String> = model
                    .iter()
                    .filter(|(_, live)| of_user(live) && live.expires + margin > before)
                    .map(|(id, _)| id)
                    .collect();
                let listed: BTreeSet<&String> = listed.iter().collect();
                assert!(
                    sure.is_subset(&listed),
                    "user {u} after {n}: a live session is missing"
                );
                assert!(
                    listed.is_subset(&maybe),
                    "user {u} after {n}: a stale entry is listed"
                );
            }
        }
    }
    // The last sessions created live at most 2 s.
    sleep(Duration::from_millis(2100)).await;
    for key in &keys {
        assert_eq!(first.count_by(key).await.unwrap(), 0);
    }
    assert_eq!(first.len().await.unwrap(), 0);
    let mut seen = BTreeSet::new();
    for end in ends.ends() {
        assert!(seen.insert(end.id().to_owned()), "one end per session");
    }
}

async fn untyped_logout_others(
    session: actix_typed_session::untyped::Session,
) -> Result<String, actix_web::Error> {
    let user: String = session.get("user")?.unwrap_or_default();
    let key = IndexKey::new("user", &user).unwrap();
    let listed = session.sessions_by(&key).await?.len();
    let ended = session.end_other_sessions(&key).await?;
    Ok(format!("listed {listed} ended {ended}"))
}

#[actix_web::test]
async fn the_untyped_view_lists_and_ends_other_sessions_too() {
    let store = MemoryStore::builder().index("user").build();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .configure(devices::routes)
            .route(
                "/untyped-logout-others",
                actix_web::web::get().to(untyped_logout_others),
            ),
    )
    .await;
    let (a, _) = login!(app, "ada");
    let (b, _) = login!(app, "ada");
    let (_, _, body) = get(&app, "/untyped-logout-others", Some(&a)).await;
    assert_eq!(body, "listed 2 ended 1");
    assert_eq!(get(&app, "/whoami", Some(&b)).await.2, "user=none\n");
    assert_eq!(get(&app, "/whoami", Some(&a)).await.2, "user=ada\n");
}
