//! The session index of `PgStore` against a real PostgreSQL server (`support::postgres`): the
//! index suite; limits exact under concurrent logins from two app servers (ending the oldest,
//! and refusing); each end through the index reported once when two app servers end one value's
//! sessions at once; rows that a Node app writes, changes and deletes (connect-pg-simple's
//! statements from a client of its own), JSON that PostgreSQL's JSON operators refuse; the
//! objects beside the table and the expression index used by the queries; the statements a
//! request costs on an indexed store; pruning; and, under a mixed load of two app servers, every
//! user's listed sessions equal to the live ones, each end reported once.

mod common;
mod support;

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Barrier,
    },
    thread,
    time::Duration,
};

use actix_typed_session::{
    store::{
        EndReason, IndexKey, OverLimit, PgStoreBuilder, SaveOutcome, SaveRequest, SessionStore,
    },
    testing::{
        self as acceptance,
        index::{IndexSetup, StartLog},
        json, record, unique_id, EndLog,
    },
    ChangeSet, PgStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{rt::time::sleep, test as actix_test, web, App};
use common::{get, pair, set_cookie_named, SECRET};
use support::postgres;
use time::OffsetDateTime;

const HOUR: Duration = Duration::from_secs(3600);

/// A table name no other test uses.
fn unique_table() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "indexed_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A builder on table `table` (created on first use), with generous timeouts: the subject here
/// is not the timeouts.
fn builder(table: &str) -> PgStoreBuilder {
    PgStore::builder(&postgres::shared().url())
        .unwrap()
        .table_name(table)
        .create_table_if_missing(true)
        .connect_timeout(Duration::from_secs(10))
        .query_timeout(Duration::from_secs(10))
}

/// A store indexed by `user` as the suite's `setup` says, reporting ends and starts, once its
/// listener listens.
async fn indexed(setup: &IndexSetup) -> PgStore {
    let builder = builder(&unique_table())
        .on_session_end(setup.ends.callback())
        .on_session_start(setup.starts.callback());
    match setup.limit {
        Some((max, over)) => builder.index_limit("user", max, over),
        None => builder.index("user"),
    }
    .connect()
    .await
    .unwrap()
}

mod index_suite {
    actix_typed_session::testing::index_acceptance_tests!(async crate::indexed);
}

async fn listed(store: &PgStore, key: &IndexKey) -> Vec<String> {
    let sessions = store.sessions_by(key).await.unwrap();
    sessions.into_iter().map(|s| s.id).collect()
}

fn user_key(user: &str) -> IndexKey {
    IndexKey::new("user", user).unwrap()
}

/// Two app servers (stores of their own, each on a thread and runtime of its own) on one table
/// indexed by `user` with `limit`, each reporting ends to its own log.
fn two_app_servers(table: &str, limit: (usize, OverLimit)) -> Vec<(PgStore, Arc<EndLog>)> {
    (0..2)
        .map(|_| {
            let log = EndLog::new();
            let store = builder(table)
                .index_limit("user", limit.0, limit.1)
                .on_session_end(log.callback())
                .try_build()
                .unwrap();
            (store, log)
        })
        .collect()
}

/// Logs `user` in on 10 sessions from each app server at once: 5 creates with the user, and 5
/// updates that give it to a session created without it. Answers each session's id and outcome.
fn twenty_logins(servers: &[(PgStore, Arc<EndLog>)], user: &str) -> Vec<(String, SaveOutcome)> {
    let barrier = Arc::new(Barrier::new(servers.len()));
    let threads: Vec<_> = servers
        .iter()
        .map(|(store, _)| {
            let (store, barrier, user) = (store.clone(), Arc::clone(&barrier), user.to_owned());
            thread::spawn(move || {
                acceptance::run(async move {
                    let anonymous: Vec<String> = (0..5).map(|_| unique_id()).collect();
                    for id in &anonymous {
                        acceptance::create(&store, id, &record(HOUR, &[("n", "1")])).await;
                    }
                    let user_json = format!("\"{user}\"");
                    let mut tasks = Vec::new();
                    barrier.wait();
                    for n in 0..10 {
                        let (store, user_json) = (store.clone(), user_json.clone());
                        let existing = anonymous.get(n).cloned();
                        tasks.push(actix_web::rt::spawn(async move {
                            match existing {
                                None => {
                                    let id = unique_id();
                                    let stored = record(HOUR, &[("user", &user_json)]);
                                    let outcome =
                                        store.save(&id, SaveRequest::Create(&stored)).await;
                                    (id, outcome.unwrap())
                                }
                                Some(id) => {
                                    let loaded = store.load(&id).await.unwrap().unwrap();
                                    let mut changes = ChangeSet::new();
                                    changes.set("user", json(&user_json));
                                    let outcome = store
                                        .save(
                                            &id,
                                            SaveRequest::Update {
                                                cookie: &loaded.cookie,
                                                changes: &changes,
                                            },
                                        )
                                        .await;
                                    (id, outcome.unwrap())
                                }
                            }
                        }));
                    }
                    let mut outcomes = Vec::new();
                    for task in tasks {
                        outcomes.push(task.await.unwrap());
                    }
                    outcomes
                })
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

#[test]
fn twenty_logins_at_once_from_two_app_servers_under_a_limit_of_two_leave_two() {
    let table = unique_table();
    let servers = two_app_servers(&table, (2, OverLimit::EndOldest));
    let user = format!("user-{}", unique_id());
    let outcomes = twenty_logins(&servers, &user);
    assert_eq!(outcomes.len(), 20);
    assert!(
        outcomes.iter().all(|(_, o)| *o == SaveOutcome::Saved),
        "{outcomes:?}"
    );
    acceptance::run(async {
        let store = &servers[0].0;
        let key = user_key(&user);
        let left = listed(store, &key).await;
        assert_eq!(left.len(), 2, "the limit holds: {left:?}");
        assert_eq!(store.count_by(&key).await.unwrap(), 2);
        // Every other session was displaced, and reported once, by one of the two.
        let mut displaced = Vec::new();
        for _ in 0..100 {
            displaced = servers
                .iter()
                .flat_map(|(_, log)| log.ends())
                .filter(|end| end.reason() == EndReason::Displaced)
                .map(|end| end.id().to_owned())
                .collect();
            if displaced.len() >= 18 {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        sleep(Duration::from_millis(100)).await;
        let all_ends: Vec<_> = servers.iter().flat_map(|(_, log)| log.ends()).collect();
        assert_eq!(all_ends.len(), 18, "each displaced session reported once");
        let unique: HashSet<&String> = displaced.iter().collect();
        assert_eq!(unique.len(), 18);
        for (id, _) in &outcomes {
            assert!(
                left.contains(id) != unique.contains(id),
                "a session is either signed in or was displaced"
            );
        }
    });
}

#[test]
fn twenty_logins_at_once_from_two_app_servers_under_a_refusing_limit_of_two_admit_two() {
    let table = unique_table();
    let servers = two_app_servers(&table, (2, OverLimit::Refuse));
    let user = format!("user-{}", unique_id());
    let outcomes = twenty_logins(&servers, &user);
    let saved: Vec<&String> = outcomes
        .iter()
        .filter(|(_, o)| *o == SaveOutcome::Saved)
        .map(|(id, _)| id)
        .collect();
    let refused = outcomes
        .iter()
        .filter(|(_, o)| *o == SaveOutcome::Refused)
        .count();
    assert_eq!((saved.len(), refused), (2, 18), "{outcomes:?}");
    acceptance::run(async {
        let store = &servers[0].0;
        let key = user_key(&user);
        let mut left = listed(store, &key).await;
        left.sort();
        let mut expected: Vec<String> = saved.into_iter().cloned().collect();
        expected.sort();
        assert_eq!(left, expected, "the admitted ones are the ones listed");
        // A refused update wrote nothing: its session is still there, without the user.
        for (id, outcome) in &outcomes {
            let stored = acceptance::stored_json(store, id).await;
            if *outcome == SaveOutcome::Refused {
                if let Some(stored) = stored {
                    assert!(!stored.contains(&user), "nothing written: {stored}");
                }
            }
        }
        assert!(
            servers.iter().all(|(_, log)| log.is_empty()),
            "nothing ended"
        );
    });
}

#[test]
fn two_app_servers_ending_one_users_sessions_at_once_report_each_end_once() {
    let table = unique_table();
    let servers = two_app_servers(&table, (100, OverLimit::EndOldest));
    let user = format!("user-{}", unique_id());
    let ids: Vec<String> = (0..10).map(|_| unique_id()).collect();
    acceptance::run(async {
        for id in &ids {
            let stored = record(HOUR, &[("user", &format!("\"{user}\""))]);
            acceptance::create(&servers[0].0, id, &stored).await;
        }
    });
    let barrier = Arc::new(Barrier::new(2));
    let ended: usize = servers
        .iter()
        .map(|(store, _)| {
            let (store, barrier, key) = (store.clone(), Arc::clone(&barrier), user_key(&user));
            thread::spawn(move || {
                acceptance::run(async move {
                    barrier.wait();
                    store.end_sessions_by(&key, None).await.unwrap()
                })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(ended, 10, "the two calls ended 10 sessions between them");
    let logs: Vec<Arc<EndLog>> = servers.iter().map(|(_, log)| Arc::clone(log)).collect();
    for id in &ids {
        let ends: Vec<_> = logs.iter().flat_map(|log| log.of(id)).collect();
        assert_eq!(ends.len(), 1, "reported once");
        assert_eq!(ends[0].reason(), EndReason::Revoked);
    }
}

// A Node app on connect-pg-simple: its statements, exactly as it sends them, from a client of
// its own.

async fn node_client() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&postgres::shared().url(), tokio_postgres::NoTls)
            .await
            .unwrap();
    actix_web::rt::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// connect-pg-simple's `set`, for a session that expires in `ttl`.
async fn node_set(node: &tokio_postgres::Client, table: &str, id: &str, json: &str, ttl: Duration) {
    let expire = (OffsetDateTime::now_utc() + ttl).unix_timestamp_nanos() as f64 / 1e9;
    node.execute(
        &format!(
            "INSERT INTO \"{table}\" (sess, expire, sid) SELECT $1::text::json, to_timestamp($2), $3 \
             ON CONFLICT (sid) DO UPDATE SET sess=$1::text::json, expire=to_timestamp($2) RETURNING sid"
        ),
        &[&json, &expire, &id],
    )
    .await
    .unwrap();
}

/// connect-pg-simple's `destroy`.
async fn node_destroy(node: &tokio_postgres::Client, table: &str, id: &str) {
    node.execute(&format!("DELETE FROM \"{table}\" WHERE sid = $1"), &[&id])
        .await
        .unwrap();
}

/// A session as express-session writes it (with a space in the user's member, as another
/// program may write it).
fn node_json(user: &str) -> String {
    format!(
        r#"{{"cookie":{{"originalMaxAge":3600000,"expires":"2030-01-01T00:00:00.000Z","httpOnly":true,"path":"/"}},"user": "{user}"}}"#
    )
}

#[actix_web::test]
async fn rows_that_a_node_app_writes_changes_and_deletes_are_listed_by_their_value_now() {
    let table = unique_table();
    let store = builder(&table).index("user").connect().await.unwrap();
    let node = node_client().await;
    let (alice, bob) = (
        format!("alice-{}", unique_id()),
        format!("bob-{}", unique_id()),
    );
    let (node_only, ours) = (unique_id(), unique_id());

    // Written by Node alone: listed, with the time of its last renewal as `indexed_at`.
    let before = OffsetDateTime::now_utc() - Duration::from_secs(2);
    node_set(&node, &table, &node_only, &node_json(&alice), HOUR).await;
    let sessions = store.sessions_by(&user_key(&alice)).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, node_only);
    assert!(sessions[0].indexed_at > before);
    assert!(sessions[0].indexed_at < OffsetDateTime::now_utc() + Duration::from_secs(2));
    assert_eq!(store.count_by(&user_key(&alice)).await.unwrap(), 1);

    // Ours, then Node moves it to another user: listed under the new one only.
    let stored = record(HOUR, &[("user", &format!("\"{alice}\""))]);
    acceptance::create(&store, &ours, &stored).await;
    assert_eq!(
        listed(&store, &user_key(&alice)).await,
        [node_only.clone(), ours.clone()]
    );
    let indexed_at = |sessions: Vec<actix_typed_session::store::IndexedSession>| {
        sessions
            .into_iter()
            .find(|s| s.id == ours)
            .unwrap()
            .indexed_at
    };
    let ours_at = indexed_at(store.sessions_by(&user_key(&alice)).await.unwrap());
    sleep(Duration::from_millis(300)).await;
    node_set(&node, &table, &ours, &node_json(&bob), HOUR).await;
    assert_eq!(
        listed(&store, &user_key(&alice)).await,
        std::slice::from_ref(&node_only)
    );
    // Our entry says alice: for bob, the time of Node's write counts.
    let bob_at = indexed_at(store.sessions_by(&user_key(&bob)).await.unwrap());
    assert!(
        bob_at > ours_at + Duration::from_millis(250),
        "{ours_at} then {bob_at}"
    );
    assert_eq!(
        listed(&store, &user_key(&bob)).await,
        std::slice::from_ref(&ours)
    );

    // Deleted by Node: no longer listed, nor counted, nor ended.
    node_destroy(&node, &table, &node_only).await;
    node_destroy(&node, &table, &ours).await;
    assert!(listed(&store, &user_key(&alice)).await.is_empty());
    assert!(listed(&store, &user_key(&bob)).await.is_empty());
    assert_eq!(store.count_by(&user_key(&bob)).await.unwrap(), 0);
    assert_eq!(
        store.end_sessions_by(&user_key(&bob), None).await.unwrap(),
        0
    );

    // Values compare as `jsonb`: a number by its value, whatever its spelling.
    let number = unique_id();
    let json = node_json("x").replace(r#""user": "x""#, r#""user": 7.0e0"#);
    node_set(&node, &table, &number, &json, HOUR).await;
    let seven = IndexKey::new("user", &7).unwrap();
    assert_eq!(listed(&store, &seven).await, std::slice::from_ref(&number));

    // A row that expired but was not deleted yet is not listed.
    let expired = unique_id();
    node_set(&node, &table, &expired, &node_json(&alice), Duration::ZERO).await;
    sleep(Duration::from_millis(20)).await;
    assert!(listed(&store, &user_key(&alice)).await.is_empty());
}

#[actix_web::test]
async fn sessions_holding_escapes_that_postgresqls_json_operators_refuse_are_written_not_listed() {
    let table = unique_table();
    let store = builder(&table).index("user").connect().await.unwrap();
    let node = node_client().await;
    let user = format!("user-{}", unique_id());
    // `JSON.stringify` writes a NUL as `\u0000` and a lone surrogate as `\ud800`; PostgreSQL's
    // JSON operators fail on both, wherever they are in the JSON. The expression index must not
    // make such writes fail (a Node app's included); those sessions are left out of the index.
    let (nul, surrogate, ours, plain) = (unique_id(), unique_id(), unique_id(), unique_id());
    let with = |extra: &str| {
        node_json(&user).replace(
            r#""path":"/"}"#,
            &format!(r#""path":"/"}},"note":"{extra}""#),
        )
    };
    node_set(&node, &table, &nul, &with(r"a\u0000b"), HOUR).await;
    node_set(&node, &table, &surrogate, &with(r"\ud800"), HOUR).await;
    node_set(&node, &table, &plain, &with("plain"), HOUR).await;
    let stored = record(
        HOUR,
        &[("user", &format!("\"{user}\"")), ("note", r#""\u0000""#)],
    );
    acceptance::create(&store, &ours, &stored).await;
    for id in [&nul, &surrogate, &ours] {
        assert!(
            acceptance::stored_json(&store, id).await.is_some(),
            "written"
        );
    }
    assert_eq!(
        listed(&store, &user_key(&user)).await,
        std::slice::from_ref(&plain),
        "the others are not listed"
    );
    // Ours, once the escape is gone, is listed again.
    let loaded = store.load(&ours).await.unwrap().unwrap();
    let mut changes = ChangeSet::new();
    changes.remove("note");
    acceptance::update(&store, &ours, &loaded.cookie, &changes).await;
    assert_eq!(listed(&store, &user_key(&user)).await.len(), 2);
}

#[actix_web::test]
async fn the_queries_use_the_expression_index_on_the_field() {
    let table = unique_table();
    let store = builder(&table).index("user").connect().await.unwrap();
    drop(store);
    let indexes = postgres::shared().psql(&format!(
        "SELECT indexdef FROM pg_indexes WHERE tablename = '{table}' AND indexname LIKE '%user'"
    ));
    assert_eq!(
        indexes,
        format!(
            "CREATE INDEX \"IDX_{table}_user\" ON public.{table} USING btree ({table}_index_value(sess, 'user'::text))"
        )
    );
    let plan = postgres::shared().psql(&format!(
        "SET enable_seqscan = off; EXPLAIN SELECT count(*) FROM \"{table}\" t \
         WHERE \"{table}_index_value\"(t.sess, 'user') = '\"alice\"'::jsonb"
    ));
    assert!(plan.contains(&format!("IDX_{table}_user")), "{plan}");
    let columns = postgres::shared().psql(&format!(
        "SELECT column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_name = '{table}' ORDER BY ordinal_position"
    ));
    assert_eq!(
        columns, "sid character varying\nsess json\nexpire timestamp without time zone",
        "connect-pg-simple's table is as it was"
    );
}

/// How many times each statement on `table` ran, by what it does (`pg_stat_statements`).
fn statements_on(table: &str) -> Vec<(String, i64)> {
    let out = postgres::shared().psql(&format!(
        "SELECT what || ' ' || sum(calls) FROM (SELECT CASE \
           WHEN query LIKE 'SELECT sess::text%' THEN 'load' \
           WHEN query LIKE 'UPDATE % SET expire =%' THEN 'load_touched' \
           WHEN query LIKE 'WITH cur AS%' THEN 'compare_and_set' \
           WHEN query LIKE 'INSERT INTO%' THEN 'create' \
           WHEN query LIKE 'SELECT o_kind%' THEN 'index_write' \
           WHEN query LIKE 'SELECT o_sid%' THEN 'end_sessions_by' \
           WHEN query LIKE 'SELECT t.sid%' THEN 'sessions_by' \
           WHEN query LIKE 'SELECT count(*)%' THEN 'count_by' \
           ELSE 'other' END AS what, calls \
         FROM pg_stat_statements WHERE (query LIKE '%\"{table}\"%' \
           OR query LIKE '%\"{table}_index_%') \
           AND query NOT LIKE 'CREATE%') AS s \
         GROUP BY what ORDER BY what"
    ));
    out.lines()
        .map(|line| {
            let (what, calls) = line.rsplit_once(' ').unwrap();
            (what.to_owned(), calls.parse().unwrap())
        })
        .collect()
}

#[derive(SessionData, Default)]
struct Account {
    #[session(index)]
    user: Option<String>,
    views: u32,
}

async fn visit(mut session: Session<Account>) -> String {
    session.views += 1;
    session.views.to_string()
}

async fn login(mut session: Session<Account>) -> String {
    session.user = Some("carol".to_owned());
    "welcome".to_owned()
}

#[actix_web::test]
async fn on_an_indexed_store_a_request_costs_one_statement_to_read_and_one_to_write() {
    postgres::shared().psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    let table = unique_table();
    let store = builder(&table).indexes::<Account>().build();
    let app = actix_test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/visit", web::get().to(visit))
            .route("/login", web::get().to(login)),
    )
    .await;
    let (_, headers, _) = get(&app, "/visit", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    assert_eq!(statements_on(&table), [("create".to_owned(), 1)]);
    get(&app, "/visit", Some(&cookie)).await;
    assert_eq!(
        statements_on(&table),
        [
            ("compare_and_set".to_owned(), 1),
            ("create".to_owned(), 1),
            ("load_touched".to_owned(), 1),
        ],
        "a request that leaves the indexed field alone costs what it costs without an index"
    );
    let (_, _, body) = get(&app, "/login", Some(&cookie)).await;
    assert_eq!(body, "welcome");
    assert_eq!(
        statements_on(&table),
        [
            ("compare_and_set".to_owned(), 1),
            ("create".to_owned(), 1),
            ("index_write".to_owned(), 1),
            ("load_touched".to_owned(), 2),
        ],
        "a login: the read, then one statement that writes the session and its index"
    );
    let key = user_key("carol");
    assert_eq!(listed(&store, &key).await.len(), 1);
    assert_eq!(store.count_by(&key).await.unwrap(), 1);
    assert_eq!(store.end_sessions_by(&key, None).await.unwrap(), 1);
    assert_eq!(
        statements_on(&table),
        [
            ("compare_and_set".to_owned(), 1),
            ("count_by".to_owned(), 1),
            ("create".to_owned(), 1),
            ("end_sessions_by".to_owned(), 1),
            ("index_write".to_owned(), 1),
            ("load_touched".to_owned(), 2),
            ("sessions_by".to_owned(), 1),
        ],
        "listing, counting and ending: one statement each"
    );
}

#[actix_web::test]
async fn the_indexed_at_of_ended_sessions_go_with_them_or_at_the_next_prune() {
    let table = unique_table();
    let built = std::time::Instant::now();
    let interval = Duration::from_secs(2);
    let store = builder(&table)
        .index("user")
        .prune_interval(Some(interval))
        .on_session_end(|_| {})
        .connect()
        .await
        .unwrap();
    let entries = || postgres::shared().psql(&format!("SELECT count(*) FROM \"{table}_indexed\""));
    let user = format!("user-{}", unique_id());
    let ids: Vec<String> = (0..3).map(|_| unique_id()).collect();
    for id in &ids {
        let stored = record(HOUR, &[("user", &format!("\"{user}\""))]);
        acceptance::create(&store, id, &stored).await;
    }
    assert_eq!(entries(), "3");
    let key = user_key(&user);
    assert_eq!(store.end_sessions_by(&key, Some(&ids[0])).await.unwrap(), 2);
    assert_eq!(entries(), "1", "ended through the index: gone with them");
    store.destroy(&ids[0]).await.unwrap();
    if built.elapsed() < interval - Duration::from_millis(300) {
        assert_eq!(entries(), "1", "destroyed: left for the prune");
    }
    sleep((interval + Duration::from_millis(50)).saturating_sub(built.elapsed())).await;
    // The next operation finds the prune due and runs it beside itself.
    assert_eq!(store.count_by(&key).await.unwrap(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while entries() != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the entry of the destroyed session was not pruned"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn an_indexed_store_in_a_schema_keeps_its_objects_beside_its_table() {
    let schema = format!("s_{}", unique_table());
    postgres::shared().psql(&format!("CREATE SCHEMA \"{schema}\""));
    let store = PgStore::builder(&postgres::shared().url())
        .unwrap()
        .schema_name(&schema)
        .create_table_if_missing(true)
        .index_limit("user", 1, OverLimit::EndOldest)
        .connect()
        .await
        .unwrap();
    let objects = postgres::shared().psql(&format!(
        "SELECT string_agg(name, ' ' ORDER BY name) FROM (\
           SELECT relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'i') \
           UNION ALL SELECT proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = '{schema}') AS o"
    ));
    assert_eq!(
        objects,
        "IDX_session_expire IDX_session_user session session_index_end session_index_value \
         session_index_write session_indexed session_indexed_pkey session_pkey"
    );
    let (first, second) = (unique_id(), unique_id());
    let stored = record(HOUR, &[("user", r#""ada""#)]);
    acceptance::create(&store, &first, &stored).await;
    acceptance::create(&store, &second, &stored).await;
    let key = user_key("ada");
    assert_eq!(listed(&store, &key).await, std::slice::from_ref(&second));
    assert_eq!(acceptance::stored_json(&store, &first).await, None);
    assert_eq!(store.end_sessions_by(&key, None).await.unwrap(), 1);
}

#[actix_web::test]
async fn an_indexed_store_on_a_missing_table_says_how_to_create_it() {
    let error = PgStore::builder(&postgres::shared().url())
        .unwrap()
        .table_name(unique_table())
        .index("user")
        .connect()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("does not exist: create it"),
        "{error}"
    );
}

#[test]
fn revocations_racing_logins_and_displacements_of_one_user_report_each_end_once() {
    let table = unique_table();
    let servers = two_app_servers(&table, (3, OverLimit::EndOldest));
    let user = format!("user-{}", unique_id());
    let barrier = Arc::new(Barrier::new(2));
    let (logins, revokes) = {
        let (store, start, name) = (servers[0].0.clone(), Arc::clone(&barrier), user.clone());
        let logins = thread::spawn(move || {
            acceptance::run(async move {
                start.wait();
                let tasks: Vec<_> = (0..30)
                    .map(|_| {
                        let (store, user) = (store.clone(), name.clone());
                        actix_web::rt::spawn(async move {
                            let id = unique_id();
                            let stored = record(HOUR, &[("user", &format!("\"{user}\""))]);
                            let outcome = store.save(&id, SaveRequest::Create(&stored)).await;
                            assert_eq!(outcome.unwrap(), SaveOutcome::Saved);
                            id
                        })
                    })
                    .collect();
                let mut ids = Vec::new();
                for task in tasks {
                    ids.push(task.await.unwrap());
                }
                ids
            })
        });
        let (store, barrier, key) = (servers[1].0.clone(), Arc::clone(&barrier), user_key(&user));
        let revokes = thread::spawn(move || {
            acceptance::run(async move {
                barrier.wait();
                let mut ended = 0;
                for _ in 0..10 {
                    ended += store.end_sessions_by(&key, None).await.unwrap();
                    sleep(Duration::from_millis(2)).await;
                }
                ended
            })
        });
        (logins.join().unwrap(), revokes.join().unwrap())
    };
    acceptance::run(async {
        let left = listed(&servers[0].0, &user_key(&user)).await;
        assert!(left.len() <= 3, "{left:?}");
        sleep(Duration::from_millis(200)).await;
        let mut revoked = 0;
        for id in &logins {
            let ends: Vec<EndReason> = servers
                .iter()
                .flat_map(|(_, log)| log.of(id))
                .map(|end| end.reason())
                .collect();
            match (left.contains(id), ends.as_slice()) {
                (true, []) | (false, [EndReason::Displaced]) => {}
                (false, [EndReason::Revoked]) => revoked += 1,
                other => panic!("session {id}: {other:?}"),
            }
        }
        assert_eq!(
            revoked, revokes,
            "each revocation counted and reported once"
        );
    });
}

/// A small xorshift generator: the load below is the same on every run with the same seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// How close to its expiry a session may be for a check to accept it either way.
const MARGIN: Duration = Duration::from_millis(150);

#[test]
fn under_a_mixed_load_of_two_app_servers_each_users_listed_sessions_are_the_live_ones() {
    use std::{collections::HashMap, time::Instant};

    let table = unique_table();
    let servers: Vec<(PgStore, Arc<EndLog>, Arc<StartLog>)> = (0..2)
        .map(|_| {
            let (ends, starts) = (EndLog::new(), StartLog::new());
            let store = builder(&table)
                .index("user")
                .on_session_end(ends.callback())
                .on_session_start(starts.callback())
                .try_build()
                .unwrap();
            (store, ends, starts)
        })
        .collect();
    let prefix = unique_id();
    let users: Vec<String> = (0..8).map(|n| format!("{prefix}-{n}")).collect();
    acceptance::run(async {
        // id -> (user, expiry); every id ever created.
        let mut live: HashMap<String, (Option<usize>, Instant)> = HashMap::new();
        let mut created = Vec::new();
        // The ids created by `acceptance::create`, each with at least 300 ms to live: stored.
        let mut fresh = HashSet::new();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for op in 0..600_u64 {
            let store = &servers[(op % 2) as usize].0;
            let pick = |rng: &mut Rng, live: &HashMap<String, _>| {
                let mut ids: Vec<&String> = live.keys().collect();
                ids.sort();
                (!ids.is_empty()).then(|| ids[rng.below(ids.len() as u64) as usize].clone())
            };
            match rng.below(10) {
                0..=3 => {
                    let id = unique_id();
                    let user = (rng.below(5) > 0).then(|| rng.below(users.len() as u64) as usize);
                    let lifetime = match rng.below(2) {
                        0 => Duration::from_millis(300 + rng.below(1200)),
                        _ => HOUR,
                    };
                    let value = user.map(|u| format!("\"{}\"", users[u]));
                    let mut fields = vec![("n", "1")];
                    if let Some(value) = &value {
                        fields.push(("user", value));
                    }
                    let stored = record(lifetime, &fields);
                    acceptance::create(store, &id, &stored).await;
                    live.insert(id.clone(), (user, Instant::now() + lifetime));
                    fresh.insert(id.clone());
                    created.push(id);
                }
                4..=6 => {
                    let Some(id) = pick(&mut rng, &live) else {
                        continue;
                    };
                    let Some(loaded) = store.load(&id).await.unwrap() else {
                        live.remove(&id);
                        continue;
                    };
                    let mut changes = ChangeSet::new();
                    let user = (rng.below(4) > 0).then(|| rng.below(users.len() as u64) as usize);
                    match user {
                        Some(u) => changes.set("user", json(&format!("\"{}\"", users[u]))),
                        None => changes.remove("user"),
                    }
                    let outcome = store
                        .save(
                            &id,
                            SaveRequest::Update {
                                cookie: &loaded.cookie,
                                changes: &changes,
                            },
                        )
                        .await
                        .unwrap();
                    match outcome {
                        SaveOutcome::Saved => live.get_mut(&id).unwrap().0 = user,
                        _ => {
                            live.remove(&id);
                        }
                    }
                }
                7 | 8 => {
                    let Some(id) = pick(&mut rng, &live) else {
                        continue;
                    };
                    store.destroy(&id).await.unwrap();
                    live.remove(&id);
                }
                _ => {
                    // `cycle_id`: the data under a new id, the old one ended as regenerated.
                    let Some(id) = pick(&mut rng, &live) else {
                        continue;
                    };
                    let Some(loaded) = store.load(&id).await.unwrap() else {
                        live.remove(&id);
                        continue;
                    };
                    store.end(&id, EndReason::Regenerated).await.unwrap();
                    let entry = live.remove(&id).unwrap();
                    let moved = unique_id();
                    if store
                        .save(&moved, SaveRequest::Create(&loaded))
                        .await
                        .unwrap()
                        == SaveOutcome::Saved
                    {
                        live.insert(moved.clone(), entry);
                        created.push(moved);
                    }
                }
            }
            if op % 50 == 49 {
                let reader = &servers[(op / 50 % 2) as usize].0;
                for (u, user) in users.iter().enumerate() {
                    let listed: HashSet<String> =
                        listed(reader, &user_key(user)).await.into_iter().collect();
                    let now = Instant::now();
                    for (id, (holder, expires)) in &live {
                        let near = *expires < now + MARGIN && *expires + MARGIN > now;
                        if *holder == Some(u) && !near && *expires > now {
                            assert!(listed.contains(id), "op {op}: a live session is missing");
                        }
                    }
                    for id in &listed {
                        let Some((holder, expires)) = live.get(id) else {
                            panic!("op {op}: an ended session is listed");
                        };
                        assert_eq!(*holder, Some(u), "op {op}: listed under another user");
                        assert!(
                            *expires + MARGIN > now,
                            "op {op}: an expired session is listed"
                        );
                    }
                }
            }
        }
        // End the rest: the short ones expire, the others are revoked or destroyed.
        sleep(Duration::from_millis(1700)).await;
        let store = &servers[0].0;
        for user in &users {
            store.end_sessions_by(&user_key(user), None).await.unwrap();
        }
        for id in live.keys() {
            store.destroy(id).await.unwrap();
        }
        sleep(Duration::from_millis(500)).await;
        // A session moved to a new id when its cookie had just expired is not stored (`Create`
        // of an expired record keeps nothing): it neither starts nor ends.
        for id in &created {
            let starts: usize = servers.iter().map(|(_, _, log)| log.of(id).len()).sum();
            let ends: usize = servers.iter().map(|(_, log, _)| log.of(id).len()).sum();
            assert!(starts <= 1, "a session's start reported once");
            if fresh.contains(id) {
                assert_eq!(starts, 1, "a created session's start is reported");
            }
            assert_eq!(ends, starts, "every stored session's end reported once");
        }
    });
}
