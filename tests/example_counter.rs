//! The `counter` example's Redis contract, checked from outside: the binary, built with
//! `--features redis,redis-rustls`, is run with the environment a deployment gives it
//! (`REDIS_URL`, `REDIS_CA_CERT`, `REDIS_CLIENT_CERT`, `REDIS_CLIENT_KEY`, `REDIS_SENTINELS`,
//! `REDIS_SENTINEL_MASTER`) against real servers, and counts a visitor's visits over HTTP; built
//! with `--features postgres` too, the same with `DATABASE_URL` on a real PostgreSQL, and with
//! `--features postgres-rustls` over TLS (`sslmode=require`, `DATABASE_CA_CERT`,
//! `DATABASE_CLIENT_CERT`, `DATABASE_CLIENT_KEY`).

mod support;

use std::{path::PathBuf, sync::OnceLock};

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

/// A running counter process.
type Counter = support::example::Running;

/// Starts the counter with `env`; answers it once it listens, or its output if it exits.
fn start(env: &[(&str, String)]) -> Result<Counter, String> {
    support::example::start(counter(), env)
}

/// `GET /` with `cookie`; answers the body and the session cookie it set, if any.
fn visit(counter: &Counter, cookie: Option<&str>) -> (String, Option<String>) {
    let answer = support::example::get(counter, "/", cookie);
    (answer.body, answer.cookie)
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
fn over_tls_to_postgres_two_counters_share_a_count_and_a_wrong_ca_ends_the_counter() {
    let ca = TestCa::new();
    let server = support::postgres::PgServer::start_tls(ca.dir());
    server.psql("CREATE ROLE client LOGIN SUPERUSER");
    let path = |name: &str| ca.path(name).to_str().unwrap().to_owned();
    // `sslmode=require` (the server refuses plaintext), then verified with the CA and a client
    // certificate for `cert` authentication.
    let url = format!("postgres://127.0.0.1:{}/postgres", server.port());
    let first = start(&[(
        "DATABASE_URL",
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
            server.port()
        ),
    )])
    .unwrap();
    let second = start(&[
        ("DATABASE_URL", url.replace("//", "//client@")),
        ("DATABASE_CA_CERT", path("ca.pem")),
        ("DATABASE_CLIENT_CERT", path("client.pem")),
        ("DATABASE_CLIENT_KEY", path("client.key")),
    ])
    .unwrap();
    counts_across(&first, &second);
    let error = start(&[
        ("DATABASE_URL", url.replace("//", "//postgres@")),
        ("DATABASE_CA_CERT", path("other-ca.pem")),
    ])
    .err()
    .expect("the counter does not start");
    assert!(
        error.contains("cannot use PostgreSQL") && error.contains("UnknownIssuer"),
        "{error}"
    );
    // The system's roots did not sign the test CA's certificates either.
    let error = start(&[
        ("DATABASE_URL", url.replace("//", "//postgres@")),
        ("DATABASE_VERIFY_SERVER", "1".to_owned()),
    ])
    .err()
    .expect("the counter does not start");
    assert!(error.contains("UnknownIssuer"), "{error}");
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
