//! One login shared by a Node express-session app and this crate through PostgreSQL: the Node twin
//! (`tests/interop/server.js` with `DATABASE_URL`: express + express-session +
//! connect-pg-simple) and the Rust twin (`examples/express_interop.rs` on a `PgStore`) on one real
//! PostgreSQL server (`TimeZone` UTC, as sharing needs), in one table, with one secret, driven by
//! a cookie-jar HTTP client. The scenarios and assertions of `tests/interop.rs` (Redis), and
//! what differs on PostgreSQL: connect-pg-simple stores `expire` rounded up to the second, and
//! each side uses the table the other created.
//!
//! Needs PostgreSQL's server programs, `node` and the Node packages (`npm ci` in
//! `tests/interop`): the README's test command, `scripts/test`, provides them.

#[path = "support/postgres.rs"]
mod postgres;

#[allow(dead_code)]
#[path = "../examples/express_interop.rs"]
mod twin_app;

#[path = "interop/http.rs"]
mod http;

#[path = "interop/twins.rs"]
mod twins;

use std::{
    collections::HashMap,
    sync::{Arc, Barrier, OnceLock},
    thread::{self, sleep},
    time::Duration,
};

use actix_typed_session::PgStore;
use actix_web::rt::System;
use http::{get, Jar, Response};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use postgres::PgServer;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use twins::{NodeTwin, RustTwin};

const SECRET: &str = "interop secret";
const HOUR: Duration = Duration::from_secs(3600);
/// The table of the twins that most tests share, created by `PgStore`.
const TABLE: &str = "interop";

fn pg() -> &'static PgServer {
    postgres::shared()
}

/// The database as a URL, which both node-postgres and `PgStore` read.
fn database_url() -> String {
    format!("postgres://postgres@127.0.0.1:{}/postgres", pg().port())
}

/// A `PgStore` on `table`, which it creates when missing if `create`.
fn store(table: &str, create: bool) -> PgStore {
    PgStore::builder(&database_url())
        .expect("a valid database URL")
        .table_name(table)
        .create_table_if_missing(create)
        .query_timeout(Duration::from_secs(10))
        .build()
}

/// The Rust twin on `table` (created by `PgStore` if missing when `create`).
fn rust_twin(table: &str, create: bool, secrets: &str, max_age: Duration) -> RustTwin {
    RustTwin::serve(store(table, create), secrets, max_age)
}

/// The Node twin on `table` (created by connect-pg-simple's `createTableIfMissing` if `create`).
fn node_twin(table: &str, create: bool, secrets: &str, max_age: Duration) -> NodeTwin {
    let url = database_url();
    let create = if create { "1" } else { "0" };
    NodeTwin::with_store(
        &[
            ("DATABASE_URL", &url),
            ("PG_TABLE", table),
            ("PG_CREATE_TABLE", create),
        ],
        secrets,
        max_age,
    )
}

/// Creates `table` as an app does at start-up: `PgStore`'s `connect` with
/// `create_table_if_missing`.
fn create_table(table: &str) {
    let builder = PgStore::builder(&database_url())
        .expect("a valid database URL")
        .table_name(table)
        .create_table_if_missing(true);
    thread::spawn(move || System::new().block_on(builder.connect()))
        .join()
        .expect("the connecting thread")
        .expect("PgStore connects and creates the table");
}

/// The two twins that most tests share: one table, one secret, sessions of one hour.
struct Twins {
    node: NodeTwin,
    rust: RustTwin,
}

impl Twins {
    fn node(&self) -> u16 {
        self.node.port()
    }

    fn rust(&self) -> u16 {
        self.rust.port()
    }
}

fn twins() -> &'static Twins {
    static TWINS: OnceLock<Twins> = OnceLock::new();
    TWINS.get_or_init(|| {
        create_table(TABLE);
        Twins {
            node: node_twin(TABLE, false, SECRET, HOUR),
            rust: rust_twin(TABLE, false, SECRET, HOUR),
        }
    })
}

#[track_caller]
fn ok(response: Response, body: &str) {
    assert_eq!(
        (response.status, response.body.as_str()),
        (200, body),
        "{response:?}"
    );
}

/// The session id inside `connect.sid=s%3A<id>.<sig>`: the row's `sid`.
#[track_caller]
fn session_id(jar: &Jar) -> String {
    let value = jar.value("connect.sid").expect("a session cookie");
    let value = percent_decode_str(value).decode_utf8().expect("UTF-8");
    let signed = value.strip_prefix("s:").expect("a signed cookie");
    signed[..signed.rfind('.').expect("a signature")].to_owned()
}

/// A session's row: the exact text of `sess`, and `expire` in milliseconds since the epoch (read
/// as UTC, as both sides write it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    sess: String,
    expire: i64,
}

/// The row of session `id` in `table`, if any. `sess` crosses psql as hex, so that its bytes
/// arrive as stored whatever psql's client encoding.
#[track_caller]
fn row(table: &str, id: &str) -> Option<Row> {
    let out = pg().psql(&format!(
        "SELECT encode(convert_to(sess::text, 'UTF8'), 'hex') || ' ' || \
           (extract(epoch from expire) * 1000)::int8 FROM \"{table}\" WHERE sid = '{id}'"
    ));
    let (hex, expire) = out.split_once(' ')?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    Some(Row {
        sess: String::from_utf8(bytes).expect("UTF-8"),
        expire: expire.parse().expect("milliseconds"),
    })
}

/// The row of session `id` in the shared table.
#[track_caller]
fn stored(id: &str) -> Option<Row> {
    row(TABLE, id)
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `cookie.expires` of stored session JSON, in milliseconds since the epoch.
#[track_caller]
fn stored_expires(json: &str) -> i64 {
    let start = json.find(r#""expires":""#).expect("an expiring cookie") + r#""expires":""#.len();
    let end = start + json[start..].find('"').expect("a closing quote");
    let at = OffsetDateTime::parse(&json[start..end], &Rfc3339).expect("an ISO-8601 instant");
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The stored JSON after its cookie object (express writes it first): `,"user":"bob"}`.
#[track_caller]
fn after_cookie(json: &str) -> &str {
    let rest = json
        .strip_prefix(r#"{"cookie":{"#)
        .unwrap_or_else(|| panic!("the cookie comes first: {json}"));
    &rest[rest.find('}').expect("the cookie object ends") + 1..]
}

/// `/test/cookie` of either twin: `expires`, `maxAge` and `originalMaxAge` as numbers.
#[track_caller]
fn cookie_seen_by(port: u16, jar: &Jar) -> HashMap<String, i64> {
    let response = get(port, "/test/cookie", jar.header().as_deref());
    assert_eq!(response.status, 200, "{response:?}");
    response
        .body
        .split(' ')
        .map(|item| {
            let (name, value) = item.split_once('=').expect("name=value");
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value} in {:?}", response.body));
            (name.to_owned(), value)
        })
        .collect()
}

#[track_caller]
fn assert_within(value: i64, low: i64, high: i64, what: &str) {
    assert!(
        (low..=high).contains(&value),
        "{what}: {value} is not in {low}..={high}"
    );
}

/// `ms` rounded up to the whole second, as connect-pg-simple stores `expire`.
fn ceil_to_second(ms: i64) -> i64 {
    (ms + 999).div_euclid(1000) * 1000
}

/// A `Set-Cookie` with its value and its `Expires` date replaced by placeholders.
fn cookie_shape(set_cookie: &str) -> String {
    set_cookie
        .split("; ")
        .enumerate()
        .map(|(i, part)| match part.split_once('=') {
            Some((name, _)) if i == 0 => format!("{name}=<value>"),
            Some(("Expires", _)) => "Expires=<date>".to_owned(),
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The stored JSON's cookie object, with its `expires` replaced by a placeholder.
#[track_caller]
fn stored_cookie_shape(json: &str) -> String {
    let object = json
        .strip_prefix(r#"{"cookie":"#)
        .unwrap_or_else(|| panic!("the cookie comes first: {json}"));
    let object = &object[..=object.find('}').expect("the cookie object ends")];
    let start = object.find(r#""expires":""#).expect("an expiring cookie") + r#""expires":""#.len();
    let end = start + object[start..].find('"').expect("a closing quote");
    format!("{}<date>{}", &object[..start], &object[end..])
}

// ---------------------------------------------------------------------------------------------
// The table: each side uses the one the other created.

/// `table`'s columns (`name type precision nullable collation`) and its indexes, with the
/// table's own name in them replaced by `<table>`.
fn table_shape(table: &str) -> String {
    pg().psql(&format!(
        "SELECT string_agg(line, E'\\n' ORDER BY n) FROM ( \
           SELECT ordinal_position AS n, column_name || ' ' || data_type || ' ' || \
             coalesce(datetime_precision::text, '-') || ' ' || is_nullable || ' ' || \
             coalesce(collation_name, '-') AS line \
           FROM information_schema.columns WHERE table_name = '{table}' \
           UNION ALL \
           SELECT 100, replace(string_agg(indexdef, E'\\n' ORDER BY indexdef), '{table}', '<table>') \
           FROM pg_indexes WHERE tablename = '{table}') AS shape"
    ))
}

#[test]
fn each_side_serves_sessions_from_the_table_the_other_created() {
    // connect-pg-simple's `createTableIfMissing` creates the table of its `table.sql` (with the
    // index name `IDX_session_expire` whatever the table's name, so the default table here).
    let node_made = "session";
    let node = node_twin(node_made, true, SECRET, HOUR);
    let mut browser = Jar::default();
    ok(browser.get(node.port(), "/login?user=tess"), "user=tess");
    assert!(row(node_made, &session_id(&browser)).is_some());
    let rust = rust_twin(node_made, false, SECRET, HOUR);
    ok(browser.get(rust.port(), "/visit"), "views=1");
    let mut other = Jar::default();
    ok(other.get(rust.port(), "/login?user=ursula"), "user=ursula");
    ok(other.get(node.port(), "/whoami"), "user=ursula views=0");
    ok(browser.get(node.port(), "/whoami"), "user=tess views=1");

    // PgStore's `create_table_if_missing` creates the same table.
    let rust_made = "made_by_pg_store";
    let rust = rust_twin(rust_made, true, SECRET, HOUR);
    let mut browser = Jar::default();
    ok(browser.get(rust.port(), "/login?user=vera"), "user=vera");
    assert!(row(rust_made, &session_id(&browser)).is_some());
    let node = node_twin(rust_made, false, SECRET, HOUR);
    ok(browser.get(node.port(), "/visit"), "views=1");
    let mut other = Jar::default();
    ok(other.get(node.port(), "/login?user=walt"), "user=walt");
    ok(other.get(rust.port(), "/whoami"), "user=walt views=0");
    ok(browser.get(rust.port(), "/whoami"), "user=vera views=1");

    let shape = table_shape(node_made);
    assert_eq!(
        shape,
        "sid character varying - NO -\n\
         sess json - NO -\n\
         expire timestamp without time zone 6 NO -\n\
         CREATE INDEX \"IDX_<table>_expire\" ON public.<table> USING btree (expire)\n\
         CREATE UNIQUE INDEX <table>_pkey ON public.<table> USING btree (sid)"
    );
    assert_eq!(table_shape(rust_made), shape, "PgStore's table");
}

// ---------------------------------------------------------------------------------------------
// The same cookie from both apps.

#[test]
fn both_twins_send_the_same_cookie_and_store_the_same_cookie_object() {
    let twins = twins();
    let seen: Vec<(String, String)> = [twins.node(), twins.rust()]
        .into_iter()
        .map(|port| {
            let mut browser = Jar::default();
            let response = browser.get(port, "/visit");
            assert_eq!(response.set_cookies.len(), 1, "{response:?}");
            let row = stored(&session_id(&browser)).expect("the visit is stored");
            (
                cookie_shape(&response.set_cookies[0]),
                stored_cookie_shape(&row.sess),
            )
        })
        .collect();
    assert_eq!(
        seen[1],
        (
            "connect.sid=<value>; Path=/; Expires=<date>; HttpOnly; SameSite=Lax".to_owned(),
            r#"{"originalMaxAge":3600000,"expires":"<date>","secure":false,"httpOnly":true,"path":"/","sameSite":"lax"}"#
                .to_owned()
        ),
        "Rust"
    );
    assert_eq!(seen[0], seen[1], "Node sends and stores what Rust does");
}

// ---------------------------------------------------------------------------------------------
// One login, both apps.

#[test]
fn a_login_on_node_is_seen_by_rust_and_visits_count_on_both_sides() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=alice"), "user=alice");
    ok(browser.get(twins.rust(), "/whoami"), "user=alice views=0");
    ok(browser.get(twins.rust(), "/visit"), "views=1");
    ok(browser.get(twins.node(), "/whoami"), "user=alice views=1");
    ok(browser.get(twins.node(), "/visit"), "views=2");
    ok(browser.get(twins.rust(), "/whoami"), "user=alice views=2");

    // Logging in again on the Rust side keeps the data under a new id, as Node's login does.
    let old_id = session_id(&browser);
    ok(
        browser.get(twins.rust(), "/login?user=alice2"),
        "user=alice2",
    );
    assert_ne!(session_id(&browser), old_id);
    assert_eq!(stored(&old_id), None, "the old row is gone");
    ok(browser.get(twins.node(), "/whoami"), "user=alice2 views=2");
}

#[test]
fn a_login_on_rust_is_seen_by_node_and_visits_count_on_both_sides() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.rust(), "/login?user=bob"), "user=bob");
    ok(browser.get(twins.node(), "/whoami"), "user=bob views=0");
    ok(browser.get(twins.node(), "/visit"), "views=1");
    ok(browser.get(twins.rust(), "/whoami"), "user=bob views=1");
    ok(browser.get(twins.rust(), "/visit"), "views=2");
    ok(browser.get(twins.node(), "/whoami"), "user=bob views=2");

    let old_id = session_id(&browser);
    ok(browser.get(twins.node(), "/login?user=bob2"), "user=bob2");
    assert_ne!(session_id(&browser), old_id);
    assert_eq!(stored(&old_id), None, "the old row is gone");
    ok(browser.get(twins.rust(), "/whoami"), "user=bob2 views=2");
}

#[test]
fn a_logout_on_rust_ends_the_session_for_node() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=carol"), "user=carol");
    let (cookie, id) = (browser.header(), session_id(&browser));

    ok(browser.get(twins.rust(), "/logout"), "logged out");
    assert_eq!(browser.value("connect.sid"), None, "the cookie is cleared");
    assert_eq!(stored(&id), None);
    // Even with the old cookie, Node finds no session.
    ok(
        get(twins.node(), "/whoami", cookie.as_deref()),
        "user=none views=0",
    );
    ok(browser.get(twins.node(), "/whoami"), "user=none views=0");
}

#[test]
fn a_logout_on_node_ends_the_session_for_rust() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.rust(), "/login?user=dave"), "user=dave");
    let (cookie, id) = (browser.header(), session_id(&browser));

    ok(browser.get(twins.node(), "/logout"), "logged out");
    assert_eq!(browser.value("connect.sid"), None, "the cookie is cleared");
    assert_eq!(stored(&id), None);
    ok(
        get(twins.rust(), "/whoami", cookie.as_deref()),
        "user=none views=0",
    );
    ok(browser.get(twins.rust(), "/whoami"), "user=none views=0");
}

// ---------------------------------------------------------------------------------------------
// Concurrent requests on both sides.

#[test]
fn concurrent_rust_saves_never_lose_a_field_that_node_changes() {
    // Rust applies only the fields a request changed, on top of what the row holds now (a
    // compare-and-set UPDATE); connect-pg-simple upserts the whole session it loaded. So Rust
    // never loses Node's fields, while a Node save can overwrite a Rust change made meanwhile.
    const NODE_WRITES: usize = 40;
    const RUST_CLIENTS: usize = 4;
    const RUST_VISITS: usize = 25;
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=erin"), "user=erin");
    let cookie = browser.header().expect("a session cookie");

    let start = Arc::new(Barrier::new(RUST_CLIENTS + 1));
    let node = {
        let (cookie, start, port) = (cookie.clone(), Arc::clone(&start), twins.node());
        thread::spawn(move || {
            start.wait();
            for n in 1..=NODE_WRITES {
                ok(
                    get(port, "/test/incr?field=nodeHits", Some(&cookie)),
                    &format!("nodeHits={n}"),
                );
            }
        })
    };
    let rust: Vec<_> = (0..RUST_CLIENTS)
        .map(|_| {
            let (cookie, start, port) = (cookie.clone(), Arc::clone(&start), twins.rust());
            thread::spawn(move || {
                start.wait();
                for _ in 0..RUST_VISITS {
                    let response = get(port, "/visit", Some(&cookie));
                    assert_eq!(response.status, 200, "{response:?}");
                }
            })
        })
        .collect();
    node.join().expect("the Node client");
    for client in rust {
        client.join().expect("a Rust client");
    }

    ok(
        get(twins.node(), "/test/get?field=nodeHits", Some(&cookie)),
        &NODE_WRITES.to_string(),
    );
    let views: usize = get(twins.node(), "/test/get?field=views", Some(&cookie))
        .body
        .parse()
        .expect("a number of views");
    assert!((1..=RUST_CLIENTS * RUST_VISITS).contains(&views));
    ok(
        get(twins.rust(), "/whoami", Some(&cookie)),
        &format!("user=erin views={views}"),
    );
    println!(
        "{views} of {} concurrent Rust increments of `views` survived; all {NODE_WRITES} Node \
         increments of `nodeHits` survived the Rust saves",
        RUST_CLIENTS * RUST_VISITS
    );
}

#[test]
fn node_requests_that_only_read_never_lose_a_rust_increment() {
    // A Node request that does not change the session only touches it (connect-pg-simple's
    // `UPDATE … SET expire`): the data Rust writes meanwhile stays.
    const RUST_VISITS: usize = 50;
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.rust(), "/login?user=frank"), "user=frank");
    let cookie = browser.header().expect("a session cookie");

    let done = Arc::new(OnceLock::new());
    let node = {
        let (cookie, done, port) = (cookie.clone(), Arc::clone(&done), twins.node());
        thread::spawn(move || {
            let mut seen = 0;
            let mut reads = 0;
            while done.get().is_none() {
                let response = get(port, "/whoami", Some(&cookie));
                assert_eq!(response.status, 200, "{response:?}");
                let views: usize = response
                    .body
                    .strip_prefix("user=frank views=")
                    .unwrap_or_else(|| panic!("{response:?}"))
                    .parse()
                    .expect("a number of views");
                assert!(views >= seen, "views went back from {seen} to {views}");
                seen = views;
                reads += 1;
            }
            reads
        })
    };
    for n in 1..=RUST_VISITS {
        ok(
            get(twins.rust(), "/visit", Some(&cookie)),
            &format!("views={n}"),
        );
    }
    done.set(()).expect("set once");
    let reads = node.join().expect("the Node client");
    assert!(reads > 0);
    ok(
        get(twins.node(), "/whoami", Some(&cookie)),
        &format!("user=frank views={RUST_VISITS}"),
    );
}

// ---------------------------------------------------------------------------------------------
// Lifetimes: the `expire` column and the JSON's `cookie.expires`.

#[test]
fn a_session_made_by_rust_for_an_hour_has_the_same_lifetime_seen_from_node() {
    let twins = twins();
    let mut browser = Jar::default();
    let before = now_ms();
    ok(browser.get(twins.rust(), "/login?user=gina"), "user=gina");
    let row = stored(&session_id(&browser)).expect("stored");
    let expires = stored_expires(&row.sess);
    // PgStore stores the cookie's expiry to the millisecond.
    assert_eq!(row.expire, expires, "expire = the JSON's cookie.expires");
    assert_within(
        expires - before,
        3_598_000,
        3_602_000,
        "expire - time of login",
    );

    let node = cookie_seen_by(twins.node(), &browser);
    assert_eq!(node["expires"], expires, "Node's cookie.expires");
    assert_eq!(node["originalMaxAge"], 3_600_000);
    assert_within(node["maxAge"], 3_598_000, 3_600_000, "Node's cookie.maxAge");
    let rust = cookie_seen_by(twins.rust(), &browser);
    assert_eq!(rust["originalMaxAge"], 3_600_000);
    assert_within(rust["expires"] - expires, 0, 2_000, "Rust's cookie.expires");
}

#[test]
fn a_session_made_by_node_for_an_hour_has_the_same_lifetime_seen_from_rust() {
    let twins = twins();
    let mut browser = Jar::default();
    let before = now_ms();
    ok(browser.get(twins.node(), "/login?user=hank"), "user=hank");
    let row = stored(&session_id(&browser)).expect("stored");
    let expires = stored_expires(&row.sess);
    // connect-pg-simple: `to_timestamp(Math.ceil(expires / 1000))`, whole seconds rounded up.
    assert_eq!(
        row.expire,
        ceil_to_second(expires),
        "expire = cookie.expires rounded up to the second"
    );
    assert_within(
        expires - before,
        3_598_000,
        3_602_000,
        "expires - time of login",
    );

    // As loaded: the JSON's expiry is within a second of `expire`, so it is kept to the
    // millisecond.
    let rust = cookie_seen_by(twins.rust(), &browser);
    assert_eq!(rust["expires"], expires, "Rust's cookie.expires");
    assert_eq!(rust["originalMaxAge"], 3_600_000);
    assert_within(rust["maxAge"], 3_598_000, 3_600_000, "Rust's cookie.maxAge");
    let node = cookie_seen_by(twins.node(), &browser);
    assert_eq!(node["originalMaxAge"], 3_600_000);
    assert_within(node["expires"] - expires, 0, 2_000, "Node's cookie.expires");
}

#[test]
fn a_session_kept_alive_by_node_touches_alone_is_accepted_by_rust_past_its_stored_expires() {
    // connect-pg-simple's touch moves `expire` alone: the JSON keeps the expiry of the last save
    // while `expire` moves on. `expire` is the truth.
    const MAX_AGE: Duration = Duration::from_secs(3);
    let table = "kept_alive";
    create_table(table);
    let (node, rust) = (
        node_twin(table, false, SECRET, MAX_AGE),
        rust_twin(table, false, SECRET, MAX_AGE),
    );
    let mut browser = Jar::default();
    ok(browser.get(node.port(), "/login?user=ivy"), "user=ivy");
    let id = session_id(&browser);
    let saved = row(table, &id).expect("stored");
    let expires = stored_expires(&saved.sess);
    while now_ms() < expires + 700 {
        sleep(Duration::from_millis(600));
        let touched_at = now_ms();
        ok(browser.get(node.port(), "/whoami"), "user=ivy views=0");
        let touched = row(table, &id).expect("stored");
        assert_eq!(touched.sess, saved.sess, "Node only touched the row");
        // Node's touch: `expire` = now + maxAge, rounded up to the second.
        assert_eq!(touched.expire % 1000, 0, "whole seconds");
        assert_within(
            touched.expire - touched_at,
            2_500,
            4_500,
            "expire - time of Node's touch",
        );
    }
    assert!(expires < now_ms(), "the stored expires has passed");

    let touched_at = now_ms();
    ok(browser.get(rust.port(), "/whoami"), "user=ivy views=0");
    // Rust's touch, like connect-pg-simple's, renews `expire` alone (to the millisecond): the
    // JSON is left as it was.
    let touched = row(table, &id).expect("stored");
    assert_eq!(touched.sess, saved.sess, "Rust only touched the row");
    assert_within(
        touched.expire - touched_at,
        2_000,
        3_500,
        "expire - time of Rust's touch",
    );
    ok(browser.get(node.port(), "/whoami"), "user=ivy views=0");
    ok(browser.get(rust.port(), "/visit"), "views=1");
    // A save writes the renewed expiry into the JSON too, and `expire` is it, to the millisecond.
    let saved = row(table, &id).expect("stored");
    assert_eq!(saved.expire, stored_expires(&saved.sess));
    assert!(saved.expire > now_ms() + 2_000, "{saved:?}");
}

#[test]
fn a_session_whose_expire_has_passed_is_gone_for_both_even_before_it_is_deleted() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=jill"), "user=jill");
    let id = session_id(&browser);
    let cookie = browser.header();
    pg().psql(&format!(
        "UPDATE \"{TABLE}\" SET expire = now() AT TIME ZONE 'UTC' - interval '2 seconds' \
         WHERE sid = '{id}'"
    ));
    ok(
        get(twins.rust(), "/whoami", cookie.as_deref()),
        "user=none views=0",
    );
    ok(
        get(twins.node(), "/whoami", cookie.as_deref()),
        "user=none views=0",
    );
    assert!(stored(&id).is_some(), "the expired row is still there");
}

// ---------------------------------------------------------------------------------------------
// Secret rotation.

#[test]
fn node_signing_with_a_new_secret_keeps_old_cookies_valid_for_rust() {
    twins(); // the shared table exists
    let node_old = node_twin(TABLE, false, "old", HOUR);
    let node_rotated = node_twin(TABLE, false, "new,old", HOUR);
    let rust_old = rust_twin(TABLE, false, "old", HOUR);
    let rust_both = rust_twin(TABLE, false, "old,new", HOUR);

    let mut before = Jar::default();
    ok(before.get(node_old.port(), "/login?user=jack"), "user=jack");
    for port in [node_rotated.port(), rust_old.port(), rust_both.port()] {
        ok(before.get(port, "/whoami"), "user=jack views=0");
    }

    let mut after = Jar::default();
    ok(
        after.get(node_rotated.port(), "/login?user=kate"),
        "user=kate",
    );
    let cookie = after.header();
    ok(
        get(rust_both.port(), "/whoami", cookie.as_deref()),
        "user=kate views=0",
    );
    for port in [rust_old.port(), node_old.port()] {
        ok(get(port, "/whoami", cookie.as_deref()), "user=none views=0");
    }
}

#[test]
fn rust_signing_with_a_new_secret_keeps_old_cookies_valid_for_node() {
    twins(); // the shared table exists
    let rust_old = rust_twin(TABLE, false, "old", HOUR);
    let rust_rotated = rust_twin(TABLE, false, "new,old", HOUR);
    let node_old = node_twin(TABLE, false, "old", HOUR);
    let node_both = node_twin(TABLE, false, "old,new", HOUR);

    let mut before = Jar::default();
    ok(before.get(rust_old.port(), "/login?user=liam"), "user=liam");
    for port in [rust_rotated.port(), node_old.port(), node_both.port()] {
        ok(before.get(port, "/whoami"), "user=liam views=0");
    }

    let mut after = Jar::default();
    ok(
        after.get(rust_rotated.port(), "/login?user=mia"),
        "user=mia",
    );
    let cookie = after.header();
    ok(
        get(node_both.port(), "/whoami", cookie.as_deref()),
        "user=mia views=0",
    );
    for port in [node_old.port(), rust_old.port()] {
        ok(get(port, "/whoami", cookie.as_deref()), "user=none views=0");
    }
}

// ---------------------------------------------------------------------------------------------
// Node's data is never damaged by Rust.

/// Sets field `name` to the JSON `json` on the Node side (`JSON.parse` there).
#[track_caller]
fn node_sets(browser: &mut Jar, name: &str, json: &str) {
    let json = utf8_percent_encode(json, NON_ALPHANUMERIC);
    ok(
        browser.get(
            twins().node(),
            &format!("/test/set?field={name}&json={json}"),
        ),
        &format!("set {name}"),
    );
}

#[test]
fn fields_rust_does_not_know_keep_the_bytes_node_wrote_through_rust_saves() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=noah"), "user=noah");
    // What JSON.stringify writes: raw non-ASCII, escapes, exponents, a lone surrogate, and (unlike
    // the Redis test) a NUL. The `sess` column is `json`, not `jsonb`: PostgreSQL keeps its text
    // as written, and PgStore never has PostgreSQL decode its strings (which fails on `\u0000`
    // and on a lone surrogate).
    node_sets(
        &mut browser,
        "cart",
        r#"[{"sku":"caf\u00e9 ☃ 🛒","qty":2,"price":0.1,"big":1e21,"tiny":5e-7,"neg":-0,"note":"say \"hi\" \\ / \n\t\u0001\u2028","lone":"\ud800","nul":"\u0000"},[],{},null,true]"#,
    );
    let id = session_id(&browser);
    let by_node = stored(&id).expect("stored").sess;
    let cart = by_node
        .split_once(r#","cart":"#)
        .and_then(|(_, rest)| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("the cart is the last field: {by_node}"))
        .to_owned();

    ok(browser.get(twins.rust(), "/visit"), "views=1");
    let by_rust = stored(&id).expect("stored").sess;
    assert_eq!(
        after_cookie(&by_rust),
        format!(r#","user":"noah","cart":{cart},"views":1}}"#),
        "Rust changed only `views`"
    );
    ok(browser.get(twins.node(), "/test/get?field=cart"), &cart);
    ok(browser.get(twins.node(), "/visit"), "views=2");
    ok(browser.get(twins.rust(), "/whoami"), "user=noah views=2");
    ok(browser.get(twins.node(), "/test/get?field=cart"), &cart);
}

#[test]
fn a_value_rust_cannot_decode_is_an_error_and_stays_as_node_wrote_it() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=olga"), "user=olga");
    node_sets(&mut browser, "views", r#""seven""#);
    node_sets(&mut browser, "cart", r#"[{"sku":"tea","qty":1}]"#);
    let id = session_id(&browser);
    let by_node = stored(&id).expect("stored").sess;

    for path in ["/visit", "/whoami"] {
        let response = browser.get(twins.rust(), path);
        assert_eq!(response.status, 500, "{path}: {response:?}");
    }
    let after = stored(&id).expect("still stored").sess;
    assert_eq!(
        after_cookie(&after),
        after_cookie(&by_node),
        "no field was written"
    );
    ok(
        browser.get(twins.node(), "/whoami"),
        "user=olga views=seven",
    );
    ok(
        browser.get(twins.node(), "/test/get?field=cart"),
        r#"[{"sku":"tea","qty":1}]"#,
    );
}

#[test]
fn fields_named_like_express_session_internals_are_dropped_by_the_next_node_request() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=paul"), "user=paul");
    ok(browser.get(twins.rust(), "/test/reserved"), "set");
    let id = session_id(&browser);
    assert_eq!(
        after_cookie(&stored(&id).expect("stored").sess),
        r#","user":"paul","id":"rust","save":"rust","resetMaxAge":"rust","kept":"rust"}"#
    );

    ok(browser.get(twins.node(), "/whoami"), "user=paul views=0");
    assert_eq!(
        after_cookie(&stored(&id).expect("stored").sess),
        r#","user":"paul","kept":"rust"}"#
    );
}
