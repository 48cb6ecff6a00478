//! One login shared by a Node express-session app and this crate: the Node twin
//! (`tests/interop/server.js`: express + express-session + connect-redis) and the Rust twin
//! (`examples/express_interop.rs`) on one real `redis-server`, with one secret, driven by a
//! cookie-jar HTTP client.
//!
//! Needs `redis-server`, `node` and the Node packages (`npm ci` in `tests/interop`): the README's
//! test command, `scripts/test`, provides them.

#[path = "support/redis_server.rs"]
mod redis_server;

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

use http::{get, Jar, Response};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use redis_server::RedisServer;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use twins::{NodeTwin, RustTwin};

const SECRET: &str = "interop secret";
const HOUR: Duration = Duration::from_secs(3600);

fn redis() -> &'static RedisServer {
    redis_server::shared()
}

/// The two twins that most tests share: one secret, sessions of one hour.
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
    TWINS.get_or_init(|| Twins {
        node: NodeTwin::start(&redis().url(), SECRET, HOUR),
        rust: RustTwin::start(&redis().url(), SECRET, HOUR),
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

/// The Redis key of the session in `jar`: `sess:` + the id inside `connect.sid=s%3A<id>.<sig>`.
#[track_caller]
fn session_key(jar: &Jar) -> String {
    let value = jar.value("connect.sid").expect("a session cookie");
    let value = percent_decode_str(value).decode_utf8().expect("UTF-8");
    let signed = value.strip_prefix("s:").expect("a signed cookie");
    format!(
        "sess:{}",
        &signed[..signed.rfind('.').expect("a signature")]
    )
}

/// The JSON stored under `key`, if any.
#[track_caller]
fn stored(key: &str) -> Option<String> {
    let value = redis().cli(&["get", key]);
    let value = value.strip_suffix('\n').unwrap_or(&value);
    (!value.is_empty()).then(|| value.to_owned())
}

#[track_caller]
fn pttl(key: &str) -> i64 {
    redis().cli(&["pttl", key]).trim().parse().expect("a PTTL")
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
            let json = stored(&session_key(&browser)).expect("the visit is stored");
            (
                cookie_shape(&response.set_cookies[0]),
                stored_cookie_shape(&json),
            )
        })
        .collect();
    // The defaults here (SameSite=Lax, Secure only over HTTPS), which the Node twin sets as
    // `sameSite: 'lax'` and `secure: 'auto'`; plain HTTP, so no `Secure`.
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
    let old_key = session_key(&browser);
    ok(
        browser.get(twins.rust(), "/login?user=alice2"),
        "user=alice2",
    );
    assert_ne!(session_key(&browser), old_key);
    assert_eq!(stored(&old_key), None, "the old id is gone");
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

    let old_key = session_key(&browser);
    ok(browser.get(twins.node(), "/login?user=bob2"), "user=bob2");
    assert_ne!(session_key(&browser), old_key);
    assert_eq!(stored(&old_key), None, "the old id is gone");
    ok(browser.get(twins.rust(), "/whoami"), "user=bob2 views=2");
}

#[test]
fn a_logout_on_rust_ends_the_session_for_node() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=carol"), "user=carol");
    let (cookie, key) = (browser.header(), session_key(&browser));

    ok(browser.get(twins.rust(), "/logout"), "logged out");
    assert_eq!(browser.value("connect.sid"), None, "the cookie is cleared");
    assert_eq!(stored(&key), None);
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
    let (cookie, key) = (browser.header(), session_key(&browser));

    ok(browser.get(twins.node(), "/logout"), "logged out");
    assert_eq!(browser.value("connect.sid"), None, "the cookie is cleared");
    assert_eq!(stored(&key), None);
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
    // Rust applies only the fields a request changed, on top of what Redis holds now; Node's
    // connect-redis writes the whole session it loaded. So Rust never loses Node's fields, while
    // a Node save can overwrite a Rust change made meanwhile (the limit stated in the README).
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
                // Node reads its field back each time: no Rust save ever changed it.
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
    // Not a guarantee, a measure: concurrent increments of one field overwrite each other (on
    // either side), and Node's whole-session saves overwrite Rust changes made meanwhile.
    println!(
        "{views} of {} concurrent Rust increments of `views` survived; all {NODE_WRITES} Node \
         increments of `nodeHits` survived the Rust saves",
        RUST_CLIENTS * RUST_VISITS
    );
}

#[test]
fn node_requests_that_only_read_never_lose_a_rust_increment() {
    // A Node request that does not change the session only touches it (`EXPIRE`): the data
    // Rust writes meanwhile stays.
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
// Lifetimes.

#[test]
fn a_session_made_by_rust_for_an_hour_has_the_same_lifetime_seen_from_node() {
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.rust(), "/login?user=gina"), "user=gina");
    let key = session_key(&browser);
    let (json, ttl, now) = (stored(&key).expect("stored"), pttl(&key), now_ms());
    assert_within(ttl, 3_598_000, 3_600_000, "PTTL");
    let expires = stored_expires(&json);
    assert_within(
        expires - (now + ttl),
        -1000,
        1000,
        "JSON expires - key expiry",
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
    ok(browser.get(twins.node(), "/login?user=hank"), "user=hank");
    let key = session_key(&browser);
    let (json, ttl, now) = (stored(&key).expect("stored"), pttl(&key), now_ms());
    // connect-redis: `EX`, whole seconds rounded up.
    assert_within(ttl, 3_598_000, 3_600_000, "PTTL");
    let expires = stored_expires(&json);
    assert_within(
        expires - (now + ttl),
        -1000,
        1000,
        "JSON expires - key expiry",
    );

    // As loaded: the JSON's expiry agrees with the key's, so it is kept to the millisecond.
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
    // connect-redis's touch is `EXPIRE`: the JSON keeps the expiry of the last save while the
    // key's TTL moves on. The TTL is the truth.
    const MAX_AGE: Duration = Duration::from_secs(3);
    let url = redis().url();
    let (node, rust) = (
        NodeTwin::start(&url, SECRET, MAX_AGE),
        RustTwin::start(&url, SECRET, MAX_AGE),
    );
    let mut browser = Jar::default();
    ok(browser.get(node.port(), "/login?user=ivy"), "user=ivy");
    let key = session_key(&browser);
    let saved = stored(&key).expect("stored");
    let expires = stored_expires(&saved);
    while now_ms() < expires + 700 {
        sleep(Duration::from_millis(600));
        ok(browser.get(node.port(), "/whoami"), "user=ivy views=0");
    }
    assert_eq!(
        stored(&key).as_deref(),
        Some(saved.as_str()),
        "Node only touched the key"
    );
    assert!(expires < now_ms(), "the stored expires has passed");
    assert!(pttl(&key) > 0, "the key is alive");

    ok(browser.get(rust.port(), "/whoami"), "user=ivy views=0");
    // Rust's touch, like connect-redis's, renews the key's TTL alone: the JSON is left as it was.
    let touched = stored(&key).expect("stored");
    assert_eq!(touched, saved, "Rust only touched the key");
    assert!(
        pttl(&key) > 2_000,
        "the key lives originalMaxAge from the touch"
    );
    ok(browser.get(node.port(), "/whoami"), "user=ivy views=0");
    ok(browser.get(rust.port(), "/visit"), "views=1");
}

// ---------------------------------------------------------------------------------------------
// Secret rotation.

#[test]
fn node_signing_with_a_new_secret_keeps_old_cookies_valid_for_rust() {
    let url = redis().url();
    let node_old = NodeTwin::start(&url, "old", HOUR);
    let node_rotated = NodeTwin::start(&url, "new,old", HOUR);
    let rust_old = RustTwin::start(&url, "old", HOUR);
    let rust_both = RustTwin::start(&url, "old,new", HOUR);

    // A cookie signed before the rotation is verified everywhere.
    let mut before = Jar::default();
    ok(before.get(node_old.port(), "/login?user=jack"), "user=jack");
    for port in [node_rotated.port(), rust_old.port(), rust_both.port()] {
        ok(before.get(port, "/whoami"), "user=jack views=0");
    }

    // After it, Node signs with the new secret: a Rust app that lists it verifies.
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
    // (Only the apps that know the new secret can: it really is signed with it.)
    for port in [rust_old.port(), node_old.port()] {
        ok(get(port, "/whoami", cookie.as_deref()), "user=none views=0");
    }
}

#[test]
fn rust_signing_with_a_new_secret_keeps_old_cookies_valid_for_node() {
    let url = redis().url();
    let rust_old = RustTwin::start(&url, "old", HOUR);
    let rust_rotated = RustTwin::start(&url, "new,old", HOUR);
    let node_old = NodeTwin::start(&url, "old", HOUR);
    let node_both = NodeTwin::start(&url, "old,new", HOUR);

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
    // What JSON.stringify writes: raw non-ASCII, escapes, exponents, a lone surrogate.
    node_sets(
        &mut browser,
        "cart",
        r#"[{"sku":"caf\u00e9 ☃ 🛒","qty":2,"price":0.1,"big":1e21,"tiny":5e-7,"neg":-0,"note":"say \"hi\" \\ / \n\t\u0001\u2028","lone":"\ud800"},[],{},null,true]"#,
    );
    let key = session_key(&browser);
    let by_node = stored(&key).expect("stored");
    let cart = by_node
        .split_once(r#","cart":"#)
        .and_then(|(_, rest)| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("the cart is the last field: {by_node}"))
        .to_owned();

    ok(browser.get(twins.rust(), "/visit"), "views=1");
    let by_rust = stored(&key).expect("stored");
    assert_eq!(
        after_cookie(&by_rust),
        format!(r#","user":"noah","cart":{cart},"views":1}}"#),
        "Rust changed only `views`"
    );
    // Node reads what Rust saved, and its cart is what it wrote.
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
    let key = session_key(&browser);
    let by_node = stored(&key).expect("stored");

    for path in ["/visit", "/whoami"] {
        let response = browser.get(twins.rust(), path);
        assert_eq!(response.status, 500, "{path}: {response:?}");
    }
    let after = stored(&key).expect("still stored");
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
    // express-session's Session constructor does not copy `id`, `req` or its method names
    // (`save`, `resetMaxAge`, …) from the stored data; the session then differs from what was
    // stored, so even a Node request that changes nothing writes it back without them.
    let twins = twins();
    let mut browser = Jar::default();
    ok(browser.get(twins.node(), "/login?user=paul"), "user=paul");
    ok(browser.get(twins.rust(), "/test/reserved"), "set");
    let key = session_key(&browser);
    assert_eq!(
        after_cookie(&stored(&key).expect("stored")),
        r#","user":"paul","id":"rust","save":"rust","resetMaxAge":"rust","kept":"rust"}"#
    );

    ok(browser.get(twins.node(), "/whoami"), "user=paul views=0");
    assert_eq!(
        after_cookie(&stored(&key).expect("stored")),
        r#","user":"paul","kept":"rust"}"#
    );
}
