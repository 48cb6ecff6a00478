//! `PgStore` against a real PostgreSQL server started by the harness (`support::postgres`): the
//! store acceptance suite, connect-pg-simple's table layout (schema and table names, the table
//! created when missing), the stored JSON kept byte for byte, expired rows, concurrent per-field
//! saves from two stores on one database, no resurrection of a destroyed session, and an outage.

mod common;
mod support;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Barrier,
    },
    thread,
    time::{Duration, Instant},
};

use actix_typed_session::{
    store::{SaveOutcome, SaveRequest, SessionStore, StoreErrorKind},
    testing::{self as acceptance, json, record, unique_id},
    ChangeSet, PgStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{rt, test as actix_test, web, App};
use common::{get, pair, set_cookie_named, SECRET};
use support::postgres::{self, PgServer};

const HOUR: Duration = Duration::from_secs(3600);

/// A table name no other test uses.
fn unique_table() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("session_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A store on the shared server, in a table of its own, created on first use. Generous timeouts:
/// the subject of these tests is not timing (the outage test pins the defaults).
fn fresh() -> PgStore {
    on_table(&unique_table())
}

fn on_table(table: &str) -> PgStore {
    PgStore::builder(&postgres::shared().url())
        .unwrap()
        .table_name(table)
        .create_table_if_missing(true)
        .connect_timeout(Duration::from_secs(10))
        .query_timeout(Duration::from_secs(10))
        .build()
}

mod acceptance_suite {
    actix_typed_session::testing::store_acceptance_tests!(crate::fresh);
}

/// The row of session `id` in `table` (quoted SQL): its `sess` text and its `expire` in
/// ISO-8601.
fn row(table: &str, id: &str) -> Option<(String, String)> {
    let out = postgres::shared().psql(&format!(
        "SELECT sess::text || E'\\x1f' || \
           to_char(expire, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM {table} WHERE sid = '{id}'"
    ));
    let (sess, expire) = out.split_once('\u{1f}')?;
    Some((sess.to_owned(), expire.to_owned()))
}

#[test]
fn sessions_are_rows_of_connect_pg_simples_table_with_expire_in_utc() {
    acceptance::run(async {
        let table = unique_table();
        let store = on_table(&table);
        let id = unique_id();
        let stored = record(HOUR, &[("user", r#""bob""#)]);
        acceptance::create(&store, &id, &stored).await;

        let columns = postgres::shared().psql(&format!(
            "SELECT column_name || ' ' || data_type || ' ' || coalesce(datetime_precision::text, '') \
               || ' ' || is_nullable FROM information_schema.columns \
             WHERE table_name = '{table}' ORDER BY ordinal_position"
        ));
        assert_eq!(
            columns,
            "sid character varying  NO\nsess json  NO\nexpire timestamp without time zone 6 NO"
        );
        let indexes = postgres::shared().psql(&format!(
            "SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE tablename = '{table}' \
             ORDER BY indexname"
        ));
        assert_eq!(
            indexes,
            format!(
                "IDX_{table}_expire: CREATE INDEX \"IDX_{table}_expire\" ON public.{table} USING btree (expire)\n\
                 {table}_pkey: CREATE UNIQUE INDEX {table}_pkey ON public.{table} USING btree (sid)"
            )
        );

        let (sess, expire) = row(&table, &id).expect("a row");
        assert_eq!(sess, stored.to_json());
        let mut iso = String::new();
        let expires = stored.cookie.expires().unwrap();
        iso.push_str(
            &expires
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
        );
        assert_eq!(
            expire,
            format!(
                "{}.{:03}Z",
                expires
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second]"
                    ))
                    .unwrap(),
                expires.millisecond()
            ),
            "expire is the cookie's expiry, in UTC, to the millisecond ({iso})"
        );
    });
}

#[test]
fn a_browser_session_cookie_expires_after_the_default_ttl() {
    acceptance::run(async {
        let table = unique_table();
        let store = PgStore::builder(&postgres::shared().url())
            .unwrap()
            .table_name(&table)
            .create_table_if_missing(true)
            .default_ttl(Duration::from_secs(600))
            .build();
        let id = unique_id();
        let stored = actix_typed_session::Record::default();
        acceptance::create(&store, &id, &stored).await;
        let left = postgres::shared().psql(&format!(
            "SELECT round(extract(epoch from expire - (now() AT TIME ZONE 'UTC'))) FROM \"{table}\""
        ));
        let left: f64 = left.parse().unwrap();
        assert!((595.0..=600.0).contains(&left), "{left} s left");
        let loaded = store.load(&id).await.unwrap().expect("stored");
        assert_eq!(
            loaded.cookie.expires(),
            None,
            "still a browser-session cookie"
        );
    });
}

#[test]
fn the_default_table_in_a_named_schema_is_created_with_connect_pg_simples_names() {
    acceptance::run(async {
        let schema = format!("app_{}", unique_table());
        postgres::shared().psql(&format!("CREATE SCHEMA \"{schema}\""));
        let store = PgStore::builder(&postgres::shared().url())
            .unwrap()
            .schema_name(&schema)
            .create_table_if_missing(true)
            .build();
        let id = unique_id();
        acceptance::create(&store, &id, &record(HOUR, &[])).await;
        let names = postgres::shared().psql(&format!(
            "SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' UNION ALL \
             SELECT indexname FROM pg_indexes WHERE schemaname = '{schema}' ORDER BY 1"
        ));
        assert_eq!(names, "IDX_session_expire\nsession\nsession_pkey");
        assert!(row(&format!("\"{schema}\".session"), &id).is_some());
        // Nothing in the default schema.
        assert_eq!(
            postgres::shared().psql("SELECT count(*) FROM pg_tables WHERE tablename = 'session'"),
            "1"
        );
    });
}

#[test]
fn schema_and_table_names_are_quoted_identifiers() {
    acceptance::run(async {
        let schema = format!("My \"Schema\" {}", unique_table());
        let table = format!("Odd \"Table\" {}", unique_table());
        let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        postgres::shared().psql(&format!("CREATE SCHEMA {}", quote(&schema)));
        let store = PgStore::builder(&postgres::shared().url())
            .unwrap()
            .schema_name(&schema)
            .table_name(&table)
            .create_table_if_missing(true)
            .build();
        let id = unique_id();
        let stored = record(HOUR, &[("user", r#""bob""#)]);
        acceptance::create(&store, &id, &stored).await;
        let (sess, _) =
            row(&format!("{}.{}", quote(&schema), quote(&table)), &id).expect("in that table");
        assert_eq!(sess, stored.to_json());
        assert_eq!(store.len().await.unwrap(), 1);
    });
}

#[test]
fn a_missing_table_is_an_error_that_names_it_unless_created() {
    acceptance::run(async {
        let table = unique_table();
        let store = PgStore::builder(&postgres::shared().url())
            .unwrap()
            .table_name(&table)
            .build();
        let error = store.load(&unique_id()).await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Other);
        let message = error.to_string();
        assert!(
            message.contains(&format!("\"{table}\" does not exist")),
            "{message}"
        );
        assert!(message.contains("create_table_if_missing"), "{message}");
        assert!(store.is_ready(), "the database answered: it is not down");
        assert_eq!(
            postgres::shared().psql(&format!(
                "SELECT count(*) FROM pg_tables WHERE tablename = '{table}'"
            )),
            "0",
            "nothing created"
        );
        // The same table, once created by connect-pg-simple's table.sql, serves sessions.
        postgres::shared().psql(&format!(
            "CREATE TABLE \"{table}\" (\"sid\" varchar NOT NULL COLLATE \"default\", \
               \"sess\" json NOT NULL, \"expire\" timestamp(6) NOT NULL) WITH (OIDS=FALSE); \
             ALTER TABLE \"{table}\" ADD CONSTRAINT \"{table}_pkey\" PRIMARY KEY (\"sid\") \
               NOT DEFERRABLE INITIALLY IMMEDIATE; \
             CREATE INDEX \"IDX_{table}_e\" ON \"{table}\" (\"expire\")"
        ));
        let store = PgStore::builder(&postgres::shared().url())
            .unwrap()
            .table_name(&table)
            .build();
        let id = unique_id();
        acceptance::create(&store, &id, &record(HOUR, &[])).await;
        assert!(store.load(&id).await.unwrap().is_some());
    });
}

#[test]
fn a_save_keeps_the_exact_bytes_of_the_fields_it_did_not_change() {
    acceptance::run(async {
        let table = unique_table();
        let store = on_table(&table);
        let id = unique_id();
        // Created first so that the table exists; then replaced with what a Node app wrote.
        acceptance::create(&store, &id, &record(HOUR, &[])).await;
        let expires = (time::OffsetDateTime::now_utc() + HOUR)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let node = format!(
            r#"{{"cookie":{{"originalMaxAge":3600000,"expires":"{expires}","httpOnly":true,"path":"/"}},"price":1.50,"big":12345678901234567890,"name":"caf\u00e9","list":[1, 2 ,3],"user":"bob"}}"#
        );
        postgres::shared().psql(&format!(
            "UPDATE \"{table}\" SET sess = '{node}' WHERE sid = '{id}'"
        ));
        let loaded = store.load_touched(&id).await.unwrap().expect("stored");
        let mut changes = ChangeSet::new();
        changes.set("user", json(r#""alice""#));
        let request = SaveRequest::Update {
            cookie: &loaded.cookie,
            changes: &changes,
        };
        assert_eq!(store.save(&id, request).await.unwrap(), SaveOutcome::Saved);
        let (sess, _) = row(&format!("\"{table}\""), &id).unwrap();
        assert!(
            sess.ends_with(
                r#","price":1.50,"big":12345678901234567890,"name":"caf\u00e9","list":[1, 2 ,3],"user":"alice"}"#
            ),
            "{sess}"
        );
    });
}

#[test]
fn an_expired_row_never_loads_even_before_it_is_deleted() {
    acceptance::run(async {
        let table = unique_table();
        let store = on_table(&table);
        let id = unique_id();
        let stored = record(HOUR, &[("user", r#""bob""#)]);
        acceptance::create(&store, &id, &stored).await;
        // Its JSON says an hour more, its row says it ended a second ago (connect-pg-simple's
        // pruning has not run yet).
        postgres::shared().psql(&format!(
            "UPDATE \"{table}\" SET expire = (now() AT TIME ZONE 'UTC') - interval '1 second' \
             WHERE sid = '{id}'"
        ));
        assert!(store.load(&id).await.unwrap().is_none());
        assert!(store.load_touched(&id).await.unwrap().is_none());
        assert_eq!(store.touch(&id, None).await.unwrap(), None);
        assert_eq!(
            acceptance::update(&store, &id, &stored.cookie, &ChangeSet::new()).await,
            SaveOutcome::Gone
        );
        assert_eq!(store.len().await.unwrap(), 0);
        assert!(store.ids().await.unwrap().is_empty());
        // The row is still there, and a new session on the id replaces it.
        assert!(row(&format!("\"{table}\""), &id).is_some());
        let fresh = record(HOUR, &[("user", r#""carol""#)]);
        acceptance::create(&store, &id, &fresh).await;
        assert_eq!(
            acceptance::stored_json(&store, &id).await,
            Some(fresh.to_json())
        );
    });
}

#[test]
fn a_stale_cookie_expires_follows_the_rows_expire() {
    acceptance::run(async {
        let table = unique_table();
        let store = on_table(&table);
        let id = unique_id();
        let stored = record(Duration::from_secs(60), &[]);
        acceptance::create(&store, &id, &stored).await;
        // connect-pg-simple's touch moves `expire` alone: an hour on.
        postgres::shared().psql(&format!(
            "UPDATE \"{table}\" SET expire = expire + interval '1 hour' WHERE sid = '{id}'"
        ));
        let loaded = store.load(&id).await.unwrap().expect("stored");
        assert_eq!(
            loaded.cookie.expires(),
            Some(stored.cookie.expires().unwrap() + HOUR)
        );
    });
}

#[test]
fn load_touched_renews_expire_in_one_statement_and_answers_the_expiry_before() {
    acceptance::run(async {
        let table = unique_table();
        let store = on_table(&table);
        let id = unique_id();
        let stored = record(Duration::from_secs(600), &[]);
        acceptance::create(&store, &id, &stored).await;
        postgres::shared().psql(&format!(
            "UPDATE \"{table}\" SET expire = expire - interval '300 seconds' WHERE sid = '{id}'"
        ));
        let loaded = store.load_touched(&id).await.unwrap().expect("stored");
        assert_eq!(
            loaded.cookie.expires(),
            Some(stored.cookie.expires().unwrap() - Duration::from_secs(300)),
            "what was left before the renewal"
        );
        let left: f64 = postgres::shared()
            .psql(&format!(
                "SELECT extract(epoch from expire - (now() AT TIME ZONE 'UTC')) FROM \"{table}\""
            ))
            .parse()
            .unwrap();
        assert!(
            (595.0..=600.0).contains(&left),
            "renewed to 600 s, {left} left"
        );
    });
}

#[test]
fn load_touched_renews_a_session_holding_strings_that_postgresql_cannot_decode() {
    // `JSON.stringify` writes a NUL as `\u0000` and a lone surrogate as such an escape: the
    // `json` column keeps them, and PostgreSQL's JSON operators, which decode every string, fail
    // on them. The renewal reads `originalMaxAge` without them.
    acceptance::run(async {
        let table = unique_table();
        let store = on_table(&table);
        let fields = [("nul", r#""\u0000""#), ("lone", r#""\ud800""#)];
        for (max_age, left) in [(Some(600), 600.0), (None, 86_400.0)] {
            let id = unique_id();
            let mut stored = record(Duration::from_secs(600), &fields);
            if max_age.is_none() {
                stored.cookie.set_max_age(None);
            }
            acceptance::create(&store, &id, &stored).await;
            let loaded = store.load_touched(&id).await.unwrap().expect("stored");
            assert_eq!(loaded.fields, stored.fields, "{max_age:?}");
            let renewed: f64 = postgres::shared()
                .psql(&format!(
                    "SELECT extract(epoch from expire - (now() AT TIME ZONE 'UTC')) \
                     FROM \"{table}\" WHERE sid = '{id}'"
                ))
                .parse()
                .unwrap();
            assert!(
                (left - 5.0..=left).contains(&renewed),
                "{max_age:?}: renewed to {left} s, {renewed} left"
            );
        }
    });
}

/// Applies `n` saves on one thread with its own runtime and its own store: each loads the
/// session and sets field `<prefix><i>`, as a request does.
fn saves_on_their_own_app_server(
    table: String,
    id: String,
    prefix: &'static str,
    n: usize,
    start: Arc<Barrier>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        acceptance::run(async move {
            let store = on_table(&table);
            store.len().await.unwrap();
            start.wait();
            for i in 0..n {
                let loaded = store.load_touched(&id).await.unwrap().expect("stored");
                let mut changes = ChangeSet::new();
                changes.set(&format!("{prefix}{i}"), json(&i.to_string()));
                let request = SaveRequest::Update {
                    cookie: &loaded.cookie,
                    changes: &changes,
                };
                assert_eq!(store.save(&id, request).await.unwrap(), SaveOutcome::Saved);
            }
        });
    })
}

#[test]
fn two_app_servers_changing_different_fields_of_one_session_lose_nothing() {
    let table = unique_table();
    let id = unique_id();
    acceptance::run(async {
        acceptance::create(
            &on_table(&table),
            &id,
            &record(HOUR, &[("user", r#""bob""#)]),
        )
        .await;
    });
    const N: usize = 60;
    let start = Arc::new(Barrier::new(2));
    let a = saves_on_their_own_app_server(table.clone(), id.clone(), "a", N, Arc::clone(&start));
    let b = saves_on_their_own_app_server(table.clone(), id.clone(), "b", N, start);
    a.join().unwrap();
    b.join().unwrap();
    acceptance::run(async {
        let stored = on_table(&table).load(&id).await.unwrap().expect("stored");
        for i in 0..N {
            for prefix in ["a", "b"] {
                assert_eq!(
                    stored.fields.get(&format!("{prefix}{i}")).map(|v| v.get()),
                    Some(i.to_string().as_str()),
                    "{prefix}{i}"
                );
            }
        }
        assert_eq!(stored.fields.len(), 2 * N + 1);
    });
}

#[test]
fn a_save_on_one_app_server_never_brings_back_a_session_destroyed_on_another() {
    acceptance::run(async {
        let table = unique_table();
        let (one, other) = (on_table(&table), on_table(&table));
        let id = unique_id();
        acceptance::create(&one, &id, &record(HOUR, &[("user", r#""bob""#)])).await;
        let loaded = one.load_touched(&id).await.unwrap().expect("stored");
        other.destroy(&id).await.unwrap();
        let mut changes = ChangeSet::new();
        changes.set("user", json(r#""mallory""#));
        let request = SaveRequest::Update {
            cookie: &loaded.cookie,
            changes: &changes,
        };
        assert_eq!(one.save(&id, request).await.unwrap(), SaveOutcome::Gone);
        assert_eq!(one.touch(&id, Some(&loaded.cookie)).await.unwrap(), None);
        assert_eq!(row(&format!("\"{table}\""), &id), None);
    });
}

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn visit(mut session: Session<Visit>) -> String {
    session.views += 1;
    session.views.to_string()
}

async fn plain() -> &'static str {
    "no session needed"
}

#[actix_web::test]
async fn with_the_database_stopped_session_requests_fail_fast_and_recover_without_a_restart() {
    let mut server = PgServer::start();
    let store = PgStore::builder(&server.url())
        .unwrap()
        .create_table_if_missing(true)
        .build();
    let app = actix_test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/visit", web::get().to(visit))
            .route("/plain", web::get().to(plain)),
    )
    .await;
    let (_, headers, body) = get(&app, "/visit", None).await;
    assert_eq!(body, "1");
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let (_, _, body) = get(&app, "/visit", Some(&cookie)).await;
    assert_eq!(body, "2");

    server.stop();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let (status, headers, body) = get(&app, "/visit", Some(&cookie)).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!((status, body.as_str()), (503, "session store unavailable"));
        assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
        let (status, _, body) = get(&app, "/plain", Some(&cookie)).await;
        assert_eq!((status, body.as_str()), (200, "no session needed"));
        rt::time::sleep(Duration::from_millis(30)).await;
    }
    println!("PostgreSQL stopped: slowest session request {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    assert!(!store.is_ready(), "known down");
    let error = store.load(&unique_id()).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable, "{error}");

    server.restart();
    let back = Instant::now();
    loop {
        let (status, _, body) = get(&app, "/visit", Some(&cookie)).await;
        if status == 200 {
            assert_eq!(body, "3", "the session survived the outage");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(back.elapsed() < Duration::from_secs(5), "no recovery");
        rt::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "sessions back {:?} after PostgreSQL started",
        back.elapsed()
    );
    assert!(store.is_ready());
}

#[test]
fn a_database_that_never_answers_is_unavailable_within_the_connect_timeout() {
    // A socket that accepts connections and never says a word: a hung server.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    acceptance::run(async move {
        let store = PgStore::builder(&format!("host=127.0.0.1 port={port} user=postgres"))
            .unwrap()
            .connect_timeout(Duration::from_millis(300))
            .build();
        let started = Instant::now();
        let error = store.load(&unique_id()).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.kind(), StoreErrorKind::Unavailable, "{error}");
        assert!(
            (Duration::from_millis(250)..Duration::from_millis(900)).contains(&took),
            "{took:?}"
        );
        assert!(!store.is_ready(), "known down");
        drop(listener);
    });
}

#[test]
fn a_hung_database_is_unavailable_within_the_query_timeout_and_serves_again_once_it_resumes() {
    let server = PgServer::start();
    acceptance::run(async {
        let store = PgStore::builder(&server.url())
            .unwrap()
            .create_table_if_missing(true)
            .query_timeout(Duration::from_millis(300))
            .build();
        let id = unique_id();
        let stored = record(HOUR, &[("user", r#""bob""#)]);
        acceptance::create(&store, &id, &stored).await;

        let pids = server.freeze();
        let started = Instant::now();
        let error = store.load(&id).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.kind(), StoreErrorKind::Unavailable, "{error}");
        assert!(
            (Duration::from_millis(250)..Duration::from_millis(900)).contains(&took),
            "{took:?}"
        );
        assert!(!store.is_ready(), "known down");
        server.thaw(&pids);

        let resumed = Instant::now();
        loop {
            rt::time::sleep(Duration::from_millis(20)).await;
            if !store.is_ready() {
                continue;
            }
            match store.load(&id).await {
                Ok(loaded) => {
                    assert_eq!(loaded.expect("still stored").fields, stored.fields);
                    break;
                }
                Err(e) => assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}"),
            }
            assert!(resumed.elapsed() < Duration::from_secs(3), "no recovery");
        }
        println!(
            "a hung PostgreSQL: Unavailable after {took:?}, back {:?} after it resumed",
            resumed.elapsed()
        );
        assert!(store.is_ready());
    });
}

/// How many times each statement on `table` ran, by what it does (`pg_stat_statements`).
fn statements_on(table: &str) -> Vec<(String, i64)> {
    let out = postgres::shared().psql(&format!(
        "SELECT what || ' ' || sum(calls) FROM (SELECT CASE \
           WHEN query LIKE 'SELECT sess::text%' THEN 'load' \
           WHEN query LIKE 'UPDATE % SET expire =%' THEN 'load_touched' \
           WHEN query LIKE 'WITH cur AS%' THEN 'compare_and_set' \
           WHEN query LIKE 'INSERT INTO%' THEN 'create' \
           ELSE 'other' END AS what, calls \
         FROM pg_stat_statements WHERE query LIKE '%\"{table}\"%' \
           AND query NOT LIKE 'CREATE%') AS s GROUP BY what ORDER BY what"
    ));
    out.lines()
        .map(|line| {
            let (what, calls) = line.rsplit_once(' ').unwrap();
            (what.to_owned(), calls.parse().unwrap())
        })
        .collect()
}

#[actix_web::test]
async fn a_request_costs_one_statement_to_read_and_one_to_write() {
    postgres::shared().psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    let table = unique_table();
    let store = on_table(&table);
    let app = actix_test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/visit", web::get().to(visit)),
    )
    .await;
    let (_, headers, body) = get(&app, "/visit", None).await;
    assert_eq!(body, "1");
    assert_eq!(statements_on(&table), [("create".to_owned(), 1)]);
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());

    let (_, _, body) = get(&app, "/visit", Some(&cookie)).await;
    assert_eq!(body, "2");
    let (_, _, body) = get(&app, "/visit", Some(&cookie)).await;
    assert_eq!(body, "3");
    assert_eq!(
        statements_on(&table),
        [
            ("compare_and_set".to_owned(), 2),
            ("create".to_owned(), 1),
            ("load_touched".to_owned(), 2),
        ],
        "each request: the read that renews, then the compare-and-set on what it read"
    );
}

#[test]
fn expired_rows_are_deleted_once_the_prune_interval_has_passed() {
    acceptance::run(async {
        let table = unique_table();
        let store = PgStore::builder(&postgres::shared().url())
            .unwrap()
            .table_name(&table)
            .create_table_if_missing(true)
            .prune_interval(Some(Duration::from_millis(200)))
            .build();
        let (live, expired) = (unique_id(), unique_id());
        acceptance::create(&store, &live, &record(HOUR, &[])).await;
        acceptance::create(&store, &expired, &record(HOUR, &[])).await;
        postgres::shared().psql(&format!(
            "UPDATE \"{table}\" SET expire = (now() AT TIME ZONE 'UTC') - interval '1 second' \
             WHERE sid = '{expired}'"
        ));
        let count = || postgres::shared().psql(&format!("SELECT count(*) FROM \"{table}\""));
        assert_eq!(count(), "2", "not deleted before the interval");
        rt::time::sleep(Duration::from_millis(250)).await;
        // The next operation finds the prune due and runs it beside itself.
        assert!(store.load(&live).await.unwrap().is_some());
        let deadline = Instant::now() + Duration::from_secs(3);
        while count() != "1" {
            assert!(Instant::now() < deadline, "the expired row was not deleted");
            rt::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            row(&format!("\"{table}\""), &live).is_some(),
            "the live row stays"
        );
    });
}
