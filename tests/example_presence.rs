//! The `presence` example's PostgreSQL contract, checked from outside: the binary, built with
//! `--features postgres` (and every other feature), is run twice with `DATABASE_URL` on one
//! real database, and every session that ends (a regeneration, a logout, an expiry, a Node app's
//! destroy) is printed exactly once across the two processes.

mod support;

use std::{
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};

use support::example::{self, Running};

/// The example's binary (built once per test binary).
fn presence() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| example::build("presence"))
}

/// The id in a `connect.sid=s%3A<id>.<signature>` cookie pair.
fn id_of(cookie: &str) -> String {
    let value = cookie
        .strip_prefix("connect.sid=s%3A")
        .expect("a signed cookie");
    value.rsplit_once('.').expect("a signature").0.to_owned()
}

/// The `session ended` lines both processes printed so far.
fn ended(processes: &[&Running]) -> Vec<String> {
    let mut lines: Vec<String> = processes
        .iter()
        .flat_map(|p| p.lines.lock().unwrap().clone())
        .filter(|line| line.starts_with("session ended "))
        .collect();
    lines.sort();
    lines
}

#[test]
fn two_presence_processes_on_one_database_print_each_end_once_between_them() {
    let server = support::postgres::shared();
    let env = [
        ("DATABASE_URL", server.url()),
        ("SESSION_TTL_MS", "1500".to_owned()),
    ];
    let first = example::start(presence(), &env).unwrap();
    let second = example::start(presence(), &env).unwrap();

    // Logged in on the first, logged in again (regenerated) on the second, logged out there.
    let alice = example::get(&first, "/login?user=alice", None)
        .cookie
        .expect("a cookie");
    let bob = example::get(&second, "/login?user=bob", Some(&alice))
        .cookie
        .expect("a new cookie");
    assert_eq!(
        example::get(&second, "/logout", Some(&bob)).body,
        "logged out\n"
    );
    // Left to expire.
    let carol = example::get(&first, "/login?user=carol", None)
        .cookie
        .expect("a cookie");
    // Destroyed by a Node app on connect-pg-simple (its `destroy`).
    let dan = example::get(&second, "/login?user=dan", None)
        .cookie
        .expect("a cookie");
    server.psql(&format!(
        "DELETE FROM \"session\" WHERE sid = '{}'",
        id_of(&dan)
    ));

    let mut want = vec![
        format!(
            "session ended id={} reason=regenerated user=alice",
            id_of(&alice)
        ),
        format!("session ended id={} reason=destroyed user=bob", id_of(&bob)),
        format!(
            "session ended id={} reason=expired user=carol",
            id_of(&carol)
        ),
        format!("session ended id={} reason=destroyed user=dan", id_of(&dan)),
    ];
    want.sort();
    let deadline = Instant::now() + Duration::from_secs(6);
    while ended(&[&first, &second]).len() < want.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Time for a duplicate to show.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ended(&[&first, &second]), want);
}
