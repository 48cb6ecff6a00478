//! `PgStore` over TLS (feature `postgres-rustls`), against a real PostgreSQL with `ssl=on` that
//! refuses plaintext TCP connections (`hostnossl … reject`), with certificates made for the run
//! by `openssl`: the store and session end acceptance suites over verified TLS, what the server
//! sees, what `sslmode=require` checks and what it does not, a wrong CA or host name, client
//! certificate authentication, no plaintext fallback, and certificate files that are not what
//! they claim.

mod common;
mod support;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use actix_typed_session::{
    store::{PgStoreBuilder, SessionEnd, StoreError, StoreErrorKind},
    testing::EndLog,
    PgStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{test as actix_test, web, App};
use common::{get, id_of, pair, set_cookie_named, SECRET};
use support::{postgres::PgServer, tls::TestCa};

/// The test CA's files, read once: its directory is removed as soon as the server has its
/// copies (a `TestCa` in a static would never be dropped).
struct Pems(Vec<(&'static str, Vec<u8>)>);

impl Pems {
    /// The contents of one of the CA's files (see [`TestCa::path`]).
    fn pem(&self, name: &str) -> Vec<u8> {
        let (_, pem) = self
            .0
            .iter()
            .find(|(n, _)| *n == name)
            .expect("a test file");
        pem.clone()
    }
}

/// The CA's files and the TLS server that the tests share (each test uses a table of its own).
fn shared() -> &'static (Pems, PgServer) {
    static SHARED: OnceLock<(Pems, PgServer)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let ca = TestCa::new();
        let server = PgServer::start_tls(ca.dir());
        server.psql("CREATE ROLE client LOGIN SUPERUSER");
        server.psql("CREATE ROLE scram LOGIN SUPERUSER PASSWORD 'scram-password'");
        let names = ["ca.pem", "other-ca.pem", "client.pem", "client.key"];
        (
            Pems(names.map(|name| (name, ca.pem(name))).to_vec()),
            server,
        )
    })
}

/// A table name (and application name) no other test uses.
fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "tls_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The shared server's connection string (no `sslmode`: libpq's default, `prefer`), as user
/// `user`, with `more` options.
fn url(user: &str, more: &str) -> String {
    let (_, server) = shared();
    format!(
        "host=127.0.0.1 port={} user={user} dbname=postgres {more}",
        server.port()
    )
}

/// A builder on `url`, in a table of its own (created on first use), with generous timeouts:
/// the subject here is not the timeouts.
fn builder_on(url: &str, table: &str) -> PgStoreBuilder {
    PgStore::builder(url)
        .unwrap()
        .table_name(table)
        .create_table_if_missing(true)
        .connect_timeout(Duration::from_secs(10))
        .query_timeout(Duration::from_secs(10))
}

/// A store that verifies the server with the test CA (libpq's `verify-full`).
fn verified() -> PgStore {
    let (ca, _) = shared();
    builder_on(&url("postgres", ""), &unique_name())
        .tls_ca_cert(ca.pem("ca.pem"))
        .build()
}

mod store_suite_over_verified_tls {
    actix_typed_session::testing::store_acceptance_tests!(crate::verified);
}

/// A store that verifies the server with the test CA and reports ends to a log of its own.
fn verified_with_log() -> (PgStore, Arc<EndLog>) {
    let (ca, _) = shared();
    let log = EndLog::new();
    let store = builder_on(&url("postgres", ""), &unique_name())
        .tls_ca_cert(ca.pem("ca.pem"))
        .on_session_end(log.callback())
        .try_build()
        .unwrap();
    (store, log)
}

mod end_suite_over_verified_tls {
    actix_typed_session::testing::session_end_acceptance_tests!(crate::verified_with_log);
}

/// A store with an end callback that sends into a channel, once its listener listens.
async fn with_ends(builder: PgStoreBuilder) -> (PgStore, mpsc::Receiver<SessionEnd>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let store = builder
        .on_session_end(move |end| {
            let _ = tx.lock().unwrap().send(end);
        })
        .connect()
        .await
        .unwrap();
    (store, rx)
}

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn visit(mut session: Session<Visit>) -> String {
    session.views += 1;
    session.views.to_string()
}

/// Two visits through the middleware on `store`; answers the session id.
async fn two_visits(store: &PgStore) -> String {
    let app = actix_test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), SECRET))
            .route("/", web::get().to(visit)),
    )
    .await;
    let (status, headers, body) = get(&app, "/", None).await;
    assert_eq!((status, body.as_str()), (200, "1"));
    let cookie = set_cookie_named(&headers, "connect.sid").unwrap();
    let (status, _, body) = get(&app, "/", Some(&pair(&cookie))).await;
    assert_eq!((status, body.as_str()), (200, "2"));
    id_of(&cookie)
}

/// The `sess` of session `id` in `table`, read with `psql`.
fn stored(table: &str, id: &str) -> String {
    let (_, server) = shared();
    server.psql(&format!(
        "SELECT sess::text FROM \"{table}\" WHERE sid = '{id}'"
    ))
}

/// What the server says of the connections of `application`: `ssl|version|client_dn` per
/// connection, sorted.
fn connections_of(application: &str) -> Vec<String> {
    let (_, server) = shared();
    let out = server.psql(&format!(
        "SELECT s.ssl || '|' || coalesce(s.version, '') || '|' || coalesce(s.client_dn, '') \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = '{application}' ORDER BY 1"
    ));
    out.lines().map(str::to_owned).collect()
}

#[track_caller]
fn assert_error(e: &StoreError, kind: StoreErrorKind, mentions: &[&str]) {
    assert_eq!(e.kind(), kind, "{e}");
    let text = e.to_string();
    for m in mentions {
        assert!(text.contains(m), "{text:?} does not mention {m:?}");
    }
}

#[actix_web::test]
async fn the_server_sees_every_connection_of_the_store_encrypted_the_end_listener_included() {
    let (ca, _) = shared();
    let (table, application) = (unique_name(), unique_name());
    let (store, _ends) = with_ends(
        builder_on(
            &url("postgres", &format!("application_name={application}")),
            &table,
        )
        .tls_ca_cert(ca.pem("ca.pem")),
    )
    .await;
    let id = two_visits(&store).await;
    assert!(stored(&table, &id).contains(r#""views":2"#));
    // This worker's connection and the listener's, both TLS 1.3.
    assert_eq!(
        connections_of(&application),
        vec!["true|TLSv1.3|".to_owned(); 2]
    );
}

#[actix_web::test]
async fn sslmode_require_and_the_default_encrypt_without_checking_the_certificate_or_the_name() {
    // A host name that the certificate does not name, reached at 127.0.0.1, and no CA: libpq's
    // `require` (and `prefer`, the default) encrypt and check neither.
    for sslmode in ["sslmode=require", ""] {
        let (table, application) = (unique_name(), unique_name());
        let url = format!(
            "host=db.invalid hostaddr=127.0.0.1 port={} user=postgres dbname=postgres \
             application_name={application} {sslmode}",
            shared().1.port()
        );
        let store = builder_on(&url, &table).connect().await.unwrap();
        let id = two_visits(&store).await;
        assert!(stored(&table, &id).contains(r#""views":2"#), "{sslmode}");
        assert_eq!(
            connections_of(&application),
            vec!["true|TLSv1.3|".to_owned()],
            "{sslmode}"
        );
    }
}

#[actix_web::test]
async fn a_server_signed_by_another_ca_is_a_start_up_error_that_names_the_certificate() {
    let (ca, _) = shared();
    let e = builder_on(&url("postgres", ""), &unique_name())
        .tls_ca_cert(ca.pem("other-ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert_error(
        &e,
        StoreErrorKind::Unavailable,
        &["TLS handshake", "invalid peer certificate", "UnknownIssuer"],
    );
    // Verification with the system's roots, which did not sign it either.
    let e = builder_on(&url("postgres", "sslmode=require"), &unique_name())
        .tls_verify_server(true)
        .connect()
        .await
        .unwrap_err();
    assert_error(
        &e,
        StoreErrorKind::Unavailable,
        &["TLS handshake", "UnknownIssuer"],
    );
}

#[actix_web::test]
async fn a_certificate_that_does_not_name_the_host_is_a_start_up_error_unless_only_the_chain_is_checked(
) {
    let (ca, server) = shared();
    let url = format!(
        "host=db.invalid hostaddr=127.0.0.1 port={} user=postgres dbname=postgres",
        server.port()
    );
    let e = builder_on(&url, &unique_name())
        .tls_ca_cert(ca.pem("ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert_error(
        &e,
        StoreErrorKind::Unavailable,
        &[
            "TLS handshake",
            r#"certificate not valid for name "db.invalid""#,
        ],
    );
    // libpq's `verify-ca`: the chain is checked, the name is not.
    builder_on(&url, &unique_name())
        .tls_ca_cert(ca.pem("ca.pem"))
        .tls_verify_host_name(false)
        .connect()
        .await
        .unwrap();
    let e = builder_on(&url, &unique_name())
        .tls_ca_cert(ca.pem("other-ca.pem"))
        .tls_verify_host_name(false)
        .connect()
        .await
        .unwrap_err();
    assert_error(
        &e,
        StoreErrorKind::Unavailable,
        &["TLS handshake", "UnknownIssuer"],
    );
    // The same certificate, for a name that it holds.
    let url = format!(
        "host=localhost hostaddr=127.0.0.1 port={} user=postgres dbname=postgres",
        server.port()
    );
    builder_on(&url, &unique_name())
        .tls_ca_cert(ca.pem("ca.pem"))
        .connect()
        .await
        .unwrap();
}

#[actix_web::test]
async fn a_client_certificate_authenticates_its_user_and_without_it_the_user_is_refused() {
    let (ca, _) = shared();
    let (table, application) = (unique_name(), unique_name());
    let store = builder_on(
        &url("client", &format!("application_name={application}")),
        &table,
    )
    .tls_ca_cert(ca.pem("ca.pem"))
    .tls_client_cert(ca.pem("client.pem"), ca.pem("client.key"))
    .connect()
    .await
    .unwrap();
    let id = two_visits(&store).await;
    assert!(stored(&table, &id).contains(r#""views":2"#));
    assert_eq!(
        connections_of(&application),
        vec!["true|TLSv1.3|/CN=client".to_owned()]
    );

    let e = builder_on(&url("client", ""), &unique_name())
        .tls_ca_cert(ca.pem("ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert_error(
        &e,
        StoreErrorKind::Other,
        &["refused the store's credentials", "28000", "certificate"],
    );
}

#[actix_web::test]
async fn a_password_with_channel_binding_required_is_accepted_over_tls() {
    // SCRAM-SHA-256-PLUS: the password exchange is bound to the server's certificate
    // (`tls-server-end-point`), as managed PostgreSQL may require (`channel_binding=require`).
    let (table, application) = (unique_name(), unique_name());
    let store = builder_on(
        &url(
            "scram",
            &format!(
                "password=scram-password sslmode=require channel_binding=require \
                 application_name={application}"
            ),
        ),
        &table,
    )
    .connect()
    .await
    .unwrap();
    let id = two_visits(&store).await;
    assert!(stored(&table, &id).contains(r#""views":2"#));
    assert_eq!(
        connections_of(&application),
        vec!["true|TLSv1.3|".to_owned()]
    );
}

#[actix_web::test]
async fn plaintext_is_never_a_fallback() {
    let (ca, _) = shared();
    // A server without TLS: a store given a CA, or `sslmode=require`, does not connect in
    // plaintext.
    let plain = PgServer::start();
    let asking_for_tls: [fn(PgStoreBuilder) -> PgStoreBuilder; 3] = [
        |b| b.tls_ca_cert(shared().0.pem("ca.pem")),
        |b| b.tls_verify_server(true),
        |b| b.tls_client_cert(shared().0.pem("client.pem"), shared().0.pem("client.key")),
    ];
    for ask in asking_for_tls {
        let e = ask(builder_on(&plain.url(), &unique_name()))
            .connect()
            .await
            .unwrap_err();
        assert_error(
            &e,
            StoreErrorKind::Unavailable,
            &["TLS handshake", "server does not support TLS"],
        );
    }
    let e = builder_on(&format!("{} sslmode=require", plain.url()), &unique_name())
        .connect()
        .await
        .unwrap_err();
    assert_error(
        &e,
        StoreErrorKind::Unavailable,
        &["server does not support TLS"],
    );
    assert_eq!(
        plain.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'tls_%'"),
        "0"
    );
    // Without TLS settings, `prefer` (the default) connects in plaintext to a server without
    // TLS.
    let store = builder_on(&plain.url(), &unique_name())
        .connect()
        .await
        .unwrap();
    two_visits(&store).await;

    // TLS settings with `sslmode=disable` contradict each other.
    let e = builder_on(&url("postgres", "sslmode=disable"), &unique_name())
        .tls_ca_cert(ca.pem("ca.pem"))
        .try_build()
        .unwrap_err();
    assert_error(&e, StoreErrorKind::Other, &["sslmode=disable"]);

    // The TLS server refuses plaintext (what makes the other tests' connections TLS ones).
    let e = builder_on(&url("postgres", "sslmode=disable"), &unique_name())
        .connect()
        .await
        .unwrap_err();
    assert_error(&e, StoreErrorKind::Other, &["no encryption"]);
}

#[actix_web::test]
async fn over_a_unix_socket_there_is_no_tls_so_sslmode_require_is_an_error() {
    let (_, server) = shared();
    let socket = |more: &str| {
        format!(
            "host={} port={} user=postgres dbname=postgres {more}",
            server.socket_dir().display(),
            server.port()
        )
    };
    let store = builder_on(&socket(""), &unique_name())
        .connect()
        .await
        .unwrap();
    two_visits(&store).await;
    let e = builder_on(&socket("sslmode=require"), &unique_name())
        .connect()
        .await
        .unwrap_err();
    assert_error(
        &e,
        StoreErrorKind::Unavailable,
        &["server does not support TLS"],
    );
}

#[actix_web::test]
async fn certificate_files_that_are_not_what_they_claim_are_build_errors_that_say_which() {
    let ca = TestCa::new();
    let url = "host=127.0.0.1 sslmode=require";
    let build = |b: PgStoreBuilder| b.try_build().unwrap_err();

    let e = build(
        PgStore::builder(url)
            .unwrap()
            .tls_ca_cert(b"not a certificate".to_vec()),
    );
    assert_error(
        &e,
        StoreErrorKind::Other,
        &["CA certificate", "no certificate"],
    );

    let e = build(
        PgStore::builder(url)
            .unwrap()
            .tls_ca_cert(ca.pem("ca.pem"))
            .tls_client_cert(ca.pem("client.key"), ca.pem("client.key")),
    );
    assert_error(
        &e,
        StoreErrorKind::Other,
        &["client certificate", "no certificate"],
    );

    let e = build(
        PgStore::builder(url)
            .unwrap()
            .tls_client_cert(ca.pem("client.pem"), ca.pem("client.pem")),
    );
    assert_error(&e, StoreErrorKind::Other, &["client key", "no private key"]);

    // The server's key with the client's certificate.
    let e = build(
        PgStore::builder(url)
            .unwrap()
            .tls_client_cert(ca.pem("client.pem"), ca.pem("server.key")),
    );
    assert_error(&e, StoreErrorKind::Other, &["client certificate and key"]);

    let e = build(
        PgStore::builder(url)
            .unwrap()
            .tls_ca_cert(ca.pem("ca.pem"))
            .tls_verify_server(false),
    );
    assert_error(&e, StoreErrorKind::Other, &["tls_verify_server(false)"]);

    let e = build(PgStore::builder(url).unwrap().tls_verify_host_name(false));
    assert_error(
        &e,
        StoreErrorKind::Other,
        &["tls_verify_host_name(false)", "needs a verified server"],
    );

    // libpq's options that tokio-postgres does not know: an error that says what to use.
    for url in [
        "host=db sslmode=verify-full",
        "postgres://db/app?sslmode=verify-ca",
        "host=db sslmode=require sslrootcert=/etc/ca.pem",
    ] {
        let e = PgStore::builder(url).unwrap_err();
        assert_error(
            &e,
            StoreErrorKind::Other,
            &[
                "invalid PostgreSQL connection string",
                "tls_verify_server(true)",
                "tls_ca_cert",
                "tls_verify_host_name(false)",
            ],
        );
    }
}
