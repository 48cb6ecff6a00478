//! The `devices` example's contract, checked from outside: the binary (built with every
//! feature) runs with the environment a deployment gives it (`PORT`, `SESSION_SECRET`,
//! `SESSION_TTL_MS`, `MAX_SESSIONS_PER_USER`, `REDIS_URL`, `DATABASE_URL`), is driven over
//! HTTP, and every session end it prints on stdout is counted, also across two processes on one
//! Redis and on one PostgreSQL database.

mod support;

use std::{
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};

use support::{example::get, postgres, redis_server::RedisServer};

/// The example's binary (built once per test binary).
fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| support::example::build("devices"))
}

/// A running devices process.
type Devices = support::example::Running;

/// Starts the example with `env`, once it listens.
fn start(env: &[(&str, String)]) -> Devices {
    support::example::start(binary(), env)
        .unwrap_or_else(|e| panic!("the devices example exited: {e}"))
}

/// Logs `user` in; answers the cookie pair and the session id (from `/sessions`).
fn login(devices: &Devices, user: &str) -> (String, String) {
    let answer = get(devices, &format!("/login?user={user}"), None);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, format!("logged in as {user}\n").as_str())
    );
    let cookie = answer.cookie.expect("a session cookie");
    let listed = get(devices, "/sessions", Some(&cookie)).body;
    let id = listed
        .lines()
        .find_map(|l| l.strip_suffix(" current=yes"))
        .expect("the current session is listed")
        .to_owned();
    (cookie, id)
}

/// Waits (at most 5 s) until the processes printed `line`, then a little more for duplicates;
/// answers how many times they printed it in all.
fn printed(processes: &[&Devices], line: &str) -> usize {
    let count = || {
        processes
            .iter()
            .map(|p| {
                p.lines
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|l| *l == line)
                    .count()
            })
            .sum::<usize>()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while count() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    count()
}

fn end_line(id: &str, reason: &str, user: &str) -> String {
    format!("session ended id={id} reason={reason} user={user}")
}

/// The contract on one process: login, whoami, sessions, logout-others, logout-everywhere.
fn routes_work(first: &Devices, second: &Devices, printers: &[&Devices]) {
    let (a, a_id) = login(first, "alice");
    let (b, b_id) = login(second, "alice");
    let (c, _) = login(first, "bob");
    assert_eq!(get(second, "/whoami", Some(&a)).body, "user=alice\n");
    assert_eq!(get(first, "/whoami", None).body, "user=none\n");
    let listed = get(first, "/sessions", Some(&a));
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.body,
        format!("{a_id} current=yes\n{b_id} current=no\n")
    );
    assert_eq!(get(first, "/sessions", None).status, 401);

    assert_eq!(get(first, "/logout-others", Some(&a)).body, "ended 1\n");
    assert_eq!(printed(printers, &end_line(&b_id, "revoked", "alice")), 1);
    assert_eq!(get(second, "/whoami", Some(&b)).body, "user=none\n");

    let (_, d_id) = login(second, "alice");
    assert_eq!(
        get(second, "/logout-everywhere", Some(&a)).body,
        "ended 2\n"
    );
    for id in [&a_id, &d_id] {
        assert_eq!(printed(printers, &end_line(id, "revoked", "alice")), 1);
    }
    assert_eq!(get(first, "/whoami", Some(&a)).body, "user=none\n");
    assert_eq!(get(first, "/whoami", Some(&c)).body, "user=bob\n");
}

#[test]
fn on_the_memory_store_the_routes_list_and_end_a_users_sessions() {
    let devices = start(&[]);
    routes_work(&devices, &devices, &[&devices]);
}

#[test]
fn a_limit_of_one_session_per_user_ends_the_older_one_and_idle_sessions_expire() {
    let devices = start(&[
        ("MAX_SESSIONS_PER_USER", "1".to_owned()),
        ("SESSION_TTL_MS", "1500".to_owned()),
    ]);
    let (first, first_id) = login(&devices, "ada");
    let (_, second_id) = login(&devices, "ada");
    assert_eq!(get(&devices, "/whoami", Some(&first)).body, "user=none\n");
    assert_eq!(
        printed(&[&devices], &end_line(&first_id, "displaced", "ada")),
        1
    );
    assert_eq!(
        printed(&[&devices], &end_line(&second_id, "expired", "ada")),
        1,
        "the second session expires after 1.5 s without a request"
    );
}

#[test]
fn two_processes_on_one_redis_share_the_index_and_print_each_end_once() {
    let redis = RedisServer::start();
    two_processes_share_the_index_and_print_each_end_once("REDIS_URL", redis.url());
}

#[test]
fn two_processes_on_one_postgresql_database_share_the_index_and_print_each_end_once() {
    let server = postgres::PgServer::start();
    two_processes_share_the_index_and_print_each_end_once("DATABASE_URL", server.url());
}

/// The routes across two processes on one store at `url` (`var`: `REDIS_URL` or
/// `DATABASE_URL`), then a limit of two across two more.
fn two_processes_share_the_index_and_print_each_end_once(var: &str, url: String) {
    let env = [(var, url.clone()), ("SESSION_TTL_MS", "60000".to_owned())];
    let (first, second) = (start(&env), start(&env));
    routes_work(&first, &second, &[&first, &second]);

    let limited = [
        (var, url),
        ("MAX_SESSIONS_PER_USER", "2".to_owned()),
        ("SESSION_TTL_MS", "1500".to_owned()),
    ];
    let (third, fourth) = (start(&limited), start(&limited));
    let (_, one) = login(&third, "grace");
    let (_, two) = login(&fourth, "grace");
    let (_, three) = login(&third, "grace");
    let both = [&first, &second, &third, &fourth];
    assert_eq!(printed(&both, &end_line(&one, "displaced", "grace")), 1);
    for id in [&two, &three] {
        assert_eq!(
            printed(&both, &end_line(id, "expired", "grace")),
            1,
            "expired once across the processes"
        );
    }
}
