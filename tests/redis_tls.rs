//! `RedisStore` over TLS (feature `redis-rustls`), against real `redis-server`s with TLS ports
//! and certificates made for the run by `openssl`: the store acceptance suite over mutual TLS
//! with a private CA, a wrong CA and a missing client certificate as clear start-up errors,
//! certificate files that are not what they claim, and a Redis Cluster over TLS.

mod common;
mod support;

use std::{
    sync::{mpsc, Mutex, OnceLock},
    time::Duration,
};

use actix_typed_session::testing::{self as acceptance, unique_id};
use actix_typed_session::{
    store::{EndReason, SessionEnd, SessionStore, StoreError, StoreErrorKind},
    RedisStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{test as actix_test, web, App};
use common::{get, id_of, pair, set_cookie_named, SECRET};
use support::tls::{TestCa, TlsCluster, TlsServer};

const HOUR: Duration = Duration::from_secs(3600);

/// The CA and the server (client certificates required) that the acceptance suite shares.
fn shared() -> &'static (TestCa, TlsServer) {
    static SHARED: OnceLock<(TestCa, TlsServer)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let ca = TestCa::new();
        let server = TlsServer::start(&ca, true);
        (ca, server)
    })
}

/// A store over mutual TLS on the shared server, with a key prefix of its own, connected (the
/// handshake is not part of the behaviours' timing).
async fn mutual_tls() -> RedisStore {
    let (ca, server) = shared();
    let store = RedisStore::builder(&server.url())
        .unwrap()
        .tls_ca_cert(ca.pem("ca.pem"))
        .tls_client_cert(ca.pem("client.pem"), ca.pem("client.key"))
        .key_prefix(format!("test:{}:", unique_id()))
        .command_timeout(support::redis_server::GENEROUS_TIMEOUT)
        .connect()
        .await
        .unwrap();
    // This runtime's connection, made before the behaviour's clock starts.
    store.load(&unique_id()).await.unwrap();
    store
}

mod over_mutual_tls {
    actix_typed_session::testing::store_acceptance_tests!(async crate::mutual_tls);
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
async fn two_visits(store: &RedisStore) -> String {
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

#[track_caller]
fn assert_error(e: &StoreError, kind: StoreErrorKind, mentions: &[&str]) {
    assert_eq!(e.kind(), kind, "{e}");
    let text = e.to_string();
    for m in mentions {
        assert!(text.contains(m), "{text:?} does not mention {m:?}");
    }
}

#[actix_web::test]
async fn a_private_ca_serves_sessions_over_tls_and_they_are_stored_on_the_server() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca, false);
    let store = RedisStore::builder(&server.url())
        .unwrap()
        .tls_ca_cert(ca.pem("ca.pem"))
        .connect()
        .await
        .unwrap();
    let id = two_visits(&store).await;
    let stored = server.server.cli(&["get", &format!("sess:{id}")]);
    assert!(stored.contains(r#""views":2"#), "{stored}");
}

#[actix_web::test]
async fn a_server_signed_by_another_ca_is_a_start_up_error_that_names_the_certificate() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca, false);
    let e = RedisStore::builder(&server.url())
        .unwrap()
        .tls_ca_cert(ca.pem("other-ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert_error(
        &e,
        StoreErrorKind::Unavailable,
        &["TLS handshake", "invalid peer certificate", "UnknownIssuer"],
    );
    // Without a CA of its own, the store trusts the system's roots, which did not sign it.
    let e = RedisStore::builder(&server.url())
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert_error(&e, StoreErrorKind::Unavailable, &["UnknownIssuer"]);
}

#[actix_web::test]
async fn a_server_that_requires_client_certificates_serves_a_client_with_one() {
    let (ca, server) = shared();
    let store = RedisStore::builder(&server.url())
        .unwrap()
        .tls_ca_cert(ca.pem("ca.pem"))
        .tls_client_cert(ca.pem("client.pem"), ca.pem("client.key"))
        .key_prefix(format!("test:{}:", unique_id()))
        .connect()
        .await
        .unwrap();
    let id = two_visits(&store).await;
    let stored = server
        .server
        .cli(&["get", &format!("{}{id}", store.key_prefix())]);
    assert!(stored.contains(r#""views":2"#), "{stored}");
}

#[actix_web::test]
async fn a_server_that_requires_client_certificates_refuses_a_client_without_one() {
    let (ca, server) = shared();
    let e = RedisStore::builder(&server.url())
        .unwrap()
        .tls_ca_cert(ca.pem("ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("CertificateRequired") || text.contains("certificate"),
        "the error names the missing certificate: {text}"
    );
}

#[actix_web::test]
async fn certificate_files_that_are_not_what_they_claim_are_build_errors_that_say_which() {
    let ca = TestCa::new();
    let url = "rediss://127.0.0.1:6380";
    let build = |b: actix_typed_session::store::RedisStoreBuilder| b.try_build().unwrap_err();

    let e = build(
        RedisStore::builder(url)
            .unwrap()
            .tls_ca_cert(b"not a certificate".to_vec()),
    );
    assert_error(
        &e,
        StoreErrorKind::Other,
        &["CA certificate", "no certificate"],
    );

    let e = build(
        RedisStore::builder(url)
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
        RedisStore::builder(url)
            .unwrap()
            .tls_client_cert(ca.pem("client.pem"), ca.pem("client.pem")),
    );
    assert_error(&e, StoreErrorKind::Other, &["client key", "no private key"]);

    // The server's key with the client's certificate.
    let e = build(
        RedisStore::builder(url)
            .unwrap()
            .tls_client_cert(ca.pem("client.pem"), ca.pem("server.key")),
    );
    assert_error(&e, StoreErrorKind::Other, &["client certificate and key"]);

    let e = build(
        RedisStore::builder("redis://127.0.0.1:6379")
            .unwrap()
            .tls_ca_cert(ca.pem("ca.pem")),
    );
    assert_error(&e, StoreErrorKind::Other, &["not `rediss://`"]);
}

#[actix_web::test]
async fn a_cluster_over_tls_serves_sessions_on_every_master_and_reports_their_ends() {
    let ca = TestCa::new();
    let cluster = TlsCluster::start(&ca);
    let (ends_tx, ends) = mpsc::channel::<SessionEnd>();
    let ends_tx = Mutex::new(ends_tx);
    let store = RedisStore::cluster_builder(cluster.urls())
        .unwrap()
        .tls_ca_cert(ca.pem("ca.pem"))
        .command_timeout(Duration::from_secs(5))
        .on_session_end(move |end| {
            let _ = ends_tx.lock().unwrap().send(end);
        })
        .try_build()
        .unwrap();
    let ids: Vec<String> = (0..30).map(|_| unique_id()).collect();
    for id in &ids {
        acceptance::create(&store, id, &acceptance::record(HOUR, &[("n", "1")])).await;
    }
    for id in &ids {
        assert!(store.load(id).await.unwrap().is_some(), "{id}");
    }
    for node in &cluster.nodes {
        let keys = node.server.cli(&["--scan", "--pattern", "sess:*"]);
        assert!(keys.lines().count() > 0, "every master holds some sessions");
    }
    assert_eq!(store.len().await.unwrap(), ids.len());

    // Ends: a destroy, and an expiry that the listener (subscribed on every master, over TLS)
    // reports.
    store.destroy(&ids[0]).await.unwrap();
    let short = unique_id();
    let record = acceptance::record(Duration::from_millis(300), &[("n", "2")]);
    acceptance::create(&store, &short, &record).await;
    let mut reported = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reported.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(end) = ends.recv_timeout(Duration::from_millis(100)) {
            reported.push((end.id().to_owned(), end.reason()));
        }
    }
    reported.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str()));
    assert_eq!(
        reported,
        vec![
            (ids[0].clone(), EndReason::Destroyed),
            (short, EndReason::Expired)
        ]
    );
}
