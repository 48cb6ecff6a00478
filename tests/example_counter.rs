//! The `counter` example's Redis contract, checked from outside: the binary, built with
//! `--features redis,redis-rustls`, is run with the environment a deployment gives it
//! (`REDIS_URL`, `REDIS_CA_CERT`, `REDIS_CLIENT_CERT`, `REDIS_CLIENT_KEY`, `REDIS_SENTINELS`,
//! `REDIS_SENTINEL_MASTER`) against real servers, and counts a visitor's visits over HTTP; built
//! with `--features postgres` too, the same with `DATABASE_URL` on a real PostgreSQL.

mod support;

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use support::{
    redis_server::free_port,
    sentinel::{Sentinels, MASTER_NAME, MASTER_PASSWORD, SENTINEL_PASSWORD},
    tls::{TestCa, TlsServer},
};

/// The example's binary (built once per test binary).
fn counter() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| support::example::build("counter"))
}

/// A running counter process, killed when dropped.
struct Counter {
    child: Child,
    port: u16,
}

impl Drop for Counter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the counter with `env`; answers it once it listens, or its output if it exits.
fn start(env: &[(&str, String)]) -> Result<Counter, String> {
    let port = free_port(false);
    let mut child = Command::new(counter())
        .env_clear()
        .env("PORT", port.to_string())
        .env("SESSION_SECRET", "a secret of the counter's test")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the counter");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("the counter's status") {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            return Err(format!("{status}: {out}"));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Counter { child, port });
        }
        assert!(Instant::now() < deadline, "the counter did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /` with `cookie`; answers the body and the session cookie it set, if any.
fn visit(counter: &Counter, cookie: Option<&str>) -> (String, Option<String>) {
    let mut stream = TcpStream::connect(("127.0.0.1", counter.port)).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut set_cookie = None;
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        const SET_COOKIE: &str = "set-cookie: ";
        if line.to_ascii_lowercase().starts_with(SET_COOKIE) {
            let value = &line[SET_COOKIE.len()..];
            let pair = value.split(';').next().unwrap_or(value).trim();
            set_cookie = Some(pair.to_owned());
        }
    }
    let mut body = String::new();
    reader.read_to_string(&mut body).unwrap();
    (body, set_cookie)
}

/// Two visits of one browser to `first`, a third to `second`: the count goes on.
#[track_caller]
fn counts_across(first: &Counter, second: &Counter) {
    let (body, cookie) = visit(first, None);
    assert_eq!(body, "views: 1\n");
    let cookie = cookie.expect("a session cookie");
    assert_eq!(visit(first, Some(&cookie)).0, "views: 2\n");
    assert_eq!(visit(second, Some(&cookie)).0, "views: 3\n");
}

#[test]
fn over_mutual_tls_with_a_private_ca_two_counters_share_a_count() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca, true);
    let path = |name: &str| ca.path(name).to_str().unwrap().to_owned();
    let env = [
        ("REDIS_URL", server.url()),
        ("REDIS_CA_CERT", path("ca.pem")),
        ("REDIS_CLIENT_CERT", path("client.pem")),
        ("REDIS_CLIENT_KEY", path("client.key")),
    ];
    let first = start(&env).unwrap();
    let second = start(&env).unwrap();
    counts_across(&first, &second);
}

#[test]
fn a_wrong_ca_or_no_client_certificate_ends_the_counter_with_an_error_that_says_so() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca, true);
    let path = |name: &str| ca.path(name).to_str().unwrap().to_owned();
    let error = start(&[
        ("REDIS_URL", server.url()),
        ("REDIS_CA_CERT", path("other-ca.pem")),
        ("REDIS_CLIENT_CERT", path("client.pem")),
        ("REDIS_CLIENT_KEY", path("client.key")),
    ])
    .err()
    .expect("the counter does not start");
    assert!(error.contains("UnknownIssuer"), "{error}");

    let error = start(&[
        ("REDIS_URL", server.url()),
        ("REDIS_CA_CERT", path("ca.pem")),
    ])
    .err()
    .expect("the counter does not start");
    assert!(error.contains("cannot use Redis"), "{error}");
}

#[test]
fn behind_sentinels_two_counters_share_a_count() {
    let sentinels = Sentinels::start(None);
    let list = sentinels
        .sentinels
        .iter()
        .map(|s| format!("redis://:{SENTINEL_PASSWORD}@127.0.0.1:{}", s.port))
        .collect::<Vec<_>>()
        .join(",");
    let env = [
        ("REDIS_SENTINELS", list),
        ("REDIS_SENTINEL_MASTER", MASTER_NAME.to_owned()),
        ("REDIS_MASTER_PASSWORD", MASTER_PASSWORD.to_owned()),
    ];
    let first = start(&env).unwrap();
    let second = start(&env).unwrap();
    counts_across(&first, &second);
}

#[test]
fn on_one_postgres_database_two_counters_share_a_count_in_connect_pg_simples_table() {
    let server = support::postgres::shared();
    let env = [("DATABASE_URL", server.url())];
    let first = start(&env).unwrap();
    let second = start(&env).unwrap();
    counts_across(&first, &second);
    let stored = server.psql("SELECT sess::json ->> 'views' FROM session");
    assert_eq!(stored, "3", "the count is a row of the `session` table");
}

#[test]
fn an_unreachable_database_ends_the_counter_with_an_error_that_says_so() {
    let port = free_port(false);
    let error = start(&[(
        "DATABASE_URL",
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
    )])
    .err()
    .expect("the counter does not start");
    assert!(error.contains("cannot use PostgreSQL"), "{error}");
}
