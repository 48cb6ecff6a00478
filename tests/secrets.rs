//! Signing secrets (express-session's `secret`): rotation, refusal of empty secrets, binary keys,
//! actix-web's `cookie::Key`, and the warning for short secrets, as a client and an operator see
//! them.

mod common;

use std::{
    io,
    sync::{Arc, Mutex},
};

use actix_typed_session::{MemoryStore, SessionCodec, SessionMiddleware, SessionSecrets};
use actix_web::{
    test::{self, TestRequest},
    web, App,
};
use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine as _};
use common::{
    count, id_and_views, id_of, only_set_cookie, pair, peek, send, CountingStore, SECRET,
};
use ring::hmac;
use tracing_subscriber::fmt::MakeWriter;

macro_rules! app {
    ($middleware:expr) => {
        test::init_service(
            App::new()
                .wrap($middleware)
                .route("/count", web::get().to(count))
                .route("/peek", web::get().to(peek)),
        )
        .await
    };
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(path)
}

fn with_cookie(path: &str, cookie: &str) -> TestRequest {
    get(path).insert_header(("cookie", cookie.to_owned()))
}

/// The cookie value express would send for `id` signed with `secret`.
fn signed(id: &str, secret: &str) -> String {
    SessionCodec::new("connect.sid", secret).cookie_value(id)
}

/// The cookie value for `id` under HMAC key `key`, computed here with `ring` alone:
/// `s:` + id + `.` + base64(HMAC-SHA256(key, id)) without padding, then encoded as
/// `encodeURIComponent` does (the signature's alphabet needs `:`, `+` and `/` escaped).
fn hmac_cookie_value(key: &[u8], id: &str) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), id.as_bytes());
    format!("s:{id}.{}", STANDARD_NO_PAD.encode(tag.as_ref()))
        .replace(':', "%3A")
        .replace('+', "%2B")
        .replace('/', "%2F")
}

/// 86 key bytes, most of them not UTF-8 on their own.
fn binary_key() -> Vec<u8> {
    (0..=255u8).rev().step_by(3).collect()
}

/// A `Write` that keeps what the log subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What `f` logs at `WARN` and above, as formatted text.
fn warnings_while(f: impl FnOnce()) -> String {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = captured.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn independent_hmac_matches_the_express_test_vector() {
    assert_eq!(
        hmac_cookie_value(b"keyboard cat", "apple"),
        "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"
    );
    assert_eq!(
        signed("apple", SECRET),
        hmac_cookie_value(SECRET.as_bytes(), "apple")
    );
}

// Rotation: the first secret signs, every one verifies.

#[actix_web::test]
async fn first_secret_signs_the_cookie() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store, vec!["new secret", "old secret"]).build());
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let set_cookie = only_set_cookie(&headers);
    assert_eq!(
        pair(&set_cookie),
        format!("connect.sid={}", signed(&id, "new secret"))
    );
    assert_ne!(signed(&id, "new secret"), signed(&id, "old secret"));
}

#[actix_web::test]
async fn every_secret_verifies_the_cookie() {
    let store = MemoryStore::default();
    let before_rotation = app!(SessionMiddleware::builder(store.clone(), "old secret").build());
    let (_, headers, body) = send(&before_rotation, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let old_cookie = pair(&only_set_cookie(&headers));
    assert_eq!(
        old_cookie,
        format!("connect.sid={}", signed(&id, "old secret"))
    );

    let rotated = app!(SessionMiddleware::builder(
        store.clone(),
        vec!["newest", "new secret", "old secret"]
    )
    .build());
    let (status, _, body) = send(&rotated, with_cookie("/count", &old_cookie)).await;
    assert_eq!((status, body), (200, format!("{id} 2")));
    let (_, _, body) = send(&rotated, with_cookie("/peek", &old_cookie)).await;
    assert_eq!(body, format!("{id} 2"));
}

#[actix_web::test]
async fn a_cookie_of_an_older_secret_is_sent_back_signed_with_the_first() {
    let store = MemoryStore::default();
    let hour = Some(std::time::Duration::from_secs(3600));
    let before_rotation = app!(SessionMiddleware::builder(store.clone(), "old secret")
        .cookie_max_age(hour)
        .build());
    let (_, headers, body) = send(&before_rotation, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let old_cookie = pair(&only_set_cookie(&headers));

    let rotated = app!(
        SessionMiddleware::builder(store.clone(), vec!["new secret", "old secret"])
            .cookie_max_age(hour)
            .build()
    );
    // Twice: the second visit finds the cookie verified already, and still re-signs it.
    for views in [2, 3] {
        let (status, headers, body) = send(&rotated, with_cookie("/count", &old_cookie)).await;
        assert_eq!((status, body), (200, format!("{id} {views}")));
        assert_eq!(
            pair(&only_set_cookie(&headers)),
            format!("connect.sid={}", signed(&id, "new secret"))
        );
    }
}

#[actix_web::test]
async fn a_cookie_of_the_first_secret_is_sent_back_as_express_signs_it() {
    let store = MemoryStore::default();
    let app = app!(
        SessionMiddleware::builder(store, vec!["new secret", "old secret"])
            .cookie_max_age(Some(std::time::Duration::from_secs(3600)))
            .build()
    );
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let cookie = pair(&only_set_cookie(&headers));
    let expected = format!("connect.sid={}", signed(&id, "new secret"));
    assert_eq!(cookie, expected);
    // As the browser sent it, and unencoded (`s:` and the signature's `+` and `/` as they are):
    // the same id, and express's encoding back.
    let unencoded = format!(
        "connect.sid=s:{id}.{}",
        signed(&id, "new secret")
            .rsplit_once('.')
            .unwrap()
            .1
            .replace("%2B", "+")
            .replace("%2F", "/")
    );
    for sent in [&cookie, &unencoded, &cookie] {
        let (status, headers, _) = send(&app, with_cookie("/count", sent)).await;
        assert_eq!(status, 200);
        assert_eq!(pair(&only_set_cookie(&headers)), expected, "{sent}");
    }
}

#[actix_web::test]
async fn cookie_signed_with_an_unlisted_secret_is_no_session() {
    let store = CountingStore::default();
    let elsewhere = app!(SessionMiddleware::builder(store.clone(), "retired secret").build());
    let (_, headers, body) = send(&elsewhere, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let cookie = pair(&only_set_cookie(&headers));
    let loads_before = store.calls.get()[0];

    let app =
        app!(SessionMiddleware::builder(store.clone(), vec!["new secret", "old secret"]).build());
    let (status, headers, body) = send(&app, with_cookie("/count", &cookie)).await;
    let (other, views) = id_and_views(&body);
    assert_eq!((status, views), (200, 1));
    assert_ne!(other, id);
    assert_eq!(id_of(&only_set_cookie(&headers)), other);
    assert_eq!(
        store.calls.get()[0],
        loads_before,
        "the store was not asked"
    );
}

#[test]
fn empty_secret_list_is_a_build_error() {
    let result = SessionMiddleware::builder(MemoryStore::default(), Vec::<&str>::new()).try_build();
    let err = result.expect_err("no secret is a configuration error");
    assert!(err.to_string().contains("secret"), "{err}");
}

#[test]
#[should_panic(expected = "at least one secret")]
fn build_panics_on_an_empty_secret_list() {
    let _ = SessionMiddleware::builder(MemoryStore::default(), Vec::<&str>::new()).build();
}

// Empty secrets are refused, as express-session refuses a missing or empty `secret`.

#[test]
fn empty_secret_is_a_build_error() {
    let err = SessionMiddleware::builder(MemoryStore::default(), "")
        .try_build()
        .expect_err("an empty secret is a configuration error");
    assert_eq!(
        err.to_string(),
        "actix-typed-session: session secret 1 is empty; an empty secret would sign session \
         cookies with an empty HMAC key"
    );
}

#[test]
fn empty_secret_in_a_list_is_a_build_error() {
    for secrets in [vec!["new secret", ""], vec!["", "old secret"]] {
        let position = if secrets[0].is_empty() { 1 } else { 2 };
        let err = SessionMiddleware::builder(MemoryStore::default(), secrets)
            .try_build()
            .expect_err("an empty secret in a list is a configuration error");
        assert!(
            err.to_string()
                .contains(&format!("session secret {position} is empty")),
            "{err}"
        );
    }
}

#[test]
fn empty_binary_key_is_a_build_error() {
    let err = SessionMiddleware::builder(MemoryStore::default(), Vec::<u8>::new())
        .try_build()
        .expect_err("an empty key is one empty secret");
    assert!(err.to_string().contains("secret 1 is empty"), "{err}");
    let err = SessionMiddleware::builder(
        MemoryStore::default(),
        SessionSecrets::from_keys([binary_key(), Vec::new()]),
    )
    .try_build()
    .expect_err("an empty key in a list");
    assert!(err.to_string().contains("secret 2 is empty"), "{err}");
}

#[test]
#[should_panic(expected = "session secret 1 is empty")]
fn build_panics_on_an_empty_secret() {
    let _ = SessionMiddleware::builder(MemoryStore::default(), "").build();
}

#[test]
#[should_panic(expected = "session secret 2 is empty")]
fn new_panics_on_an_empty_secret_in_a_list() {
    let _ = SessionMiddleware::new(MemoryStore::default(), ["keyboard cat", ""]);
}

#[test]
fn codec_refuses_an_empty_secret() {
    let err = SessionCodec::try_new("connect.sid", "").expect_err("an empty secret");
    assert!(err.to_string().contains("secret 1 is empty"), "{err}");
    let err = SessionCodec::try_new("connect.sid", vec!["new secret", ""])
        .expect_err("an empty secret in a list");
    assert!(err.to_string().contains("secret 2 is empty"), "{err}");
    let err = SessionCodec::try_new("connect.sid", Vec::<String>::new()).expect_err("no secret");
    assert!(err.to_string().contains("at least one secret"), "{err}");
    let builder = SessionMiddleware::builder(MemoryStore::default(), "");
    assert!(
        builder.codec().is_err(),
        "the builder's codec refuses it too"
    );
}

#[test]
#[should_panic(expected = "session secret 1 is empty")]
fn codec_new_panics_on_an_empty_secret() {
    let _ = SessionCodec::new("connect.sid", "");
}

// Binary keys

#[actix_web::test]
async fn vec_u8_is_one_key_that_signs_with_exactly_its_bytes() {
    let key = binary_key();
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store, key.clone()).build());
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let cookie = pair(&only_set_cookie(&headers));
    assert_eq!(
        cookie,
        format!("connect.sid={}", hmac_cookie_value(&key, &id))
    );
    let (status, _, body) = send(&app, with_cookie("/count", &cookie)).await;
    assert_eq!((status, body), (200, format!("{id} 2")));
}

#[test]
fn every_binary_key_form_is_one_key() {
    let key = binary_key();
    let array: [u8; 32] = key[..32].try_into().unwrap();
    let expected = hmac_cookie_value(&key, "apple");
    let expected_array = hmac_cookie_value(&array, "apple");
    let value =
        |secrets: SessionSecrets| SessionCodec::new("connect.sid", secrets).cookie_value("apple");
    assert_eq!(value(key.clone().into()), expected, "Vec<u8>");
    assert_eq!(value(key.as_slice().into()), expected, "&[u8]");
    assert_eq!(value(array.into()), expected_array, "[u8; 32]");
    assert_eq!(value((&array).into()), expected_array, "&[u8; 32]");
    assert_eq!(
        value(b"a byte string literal, 32 bytes or more".into()),
        hmac_cookie_value(b"a byte string literal, 32 bytes or more", "apple"),
        "b\"...\""
    );
}

#[actix_web::test]
async fn a_list_of_binary_keys_rotates_like_a_list_of_strings() {
    let (new, old) = (binary_key(), vec![0x42u8; 48]);
    let store = MemoryStore::default();
    let before = app!(SessionMiddleware::builder(store.clone(), old.clone()).build());
    let (_, headers, body) = send(&before, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let old_cookie = pair(&only_set_cookie(&headers));
    assert_eq!(
        old_cookie,
        format!("connect.sid={}", hmac_cookie_value(&old, &id))
    );

    for secrets in [
        SessionSecrets::from_keys([new.clone(), old.clone()]),
        vec![new.clone(), old.clone()].into(),
        [new.as_slice(), old.as_slice()].into(),
    ] {
        let rotated = app!(SessionMiddleware::builder(store.clone(), secrets)
            .rolling(true)
            .build());
        let (status, headers, body) = send(&rotated, with_cookie("/peek", &old_cookie)).await;
        assert_eq!(
            (status, body),
            (200, format!("{id} 1")),
            "the old key verifies"
        );
        assert_eq!(
            pair(&only_set_cookie(&headers)),
            format!("connect.sid={}", hmac_cookie_value(&new, &id)),
            "the first key signs"
        );
    }
}

#[cfg(feature = "cookie-key")]
#[actix_web::test]
async fn actix_cookie_key_signs_with_its_signing_bytes() {
    use actix_web::cookie::Key;

    let key = Key::from(&[0x17u8; 64]);
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store, key.clone()).build());
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let cookie = pair(&only_set_cookie(&headers));
    assert_eq!(
        cookie,
        format!("connect.sid={}", hmac_cookie_value(key.signing(), &id))
    );
    let (status, _, body) = send(&app, with_cookie("/count", &cookie)).await;
    assert_eq!((status, body), (200, format!("{id} 2")));

    let other = Key::from(&[0x71u8; 64]);
    let rotated = SessionCodec::new("connect.sid", [&other, &key]);
    assert_eq!(
        rotated.id_from_cookie_header(cookie.as_bytes()),
        Some(id.clone())
    );
    assert_eq!(
        SessionCodec::new("connect.sid", &other).cookie_value(&id),
        hmac_cookie_value(other.signing(), &id)
    );
}

// Short secrets

#[test]
fn short_secret_is_accepted_with_a_warning_that_does_not_show_it() {
    let log = warnings_while(|| {
        SessionMiddleware::builder(MemoryStore::default(), "keyboard cat")
            .try_build()
            .expect("a short secret still builds");
    });
    assert!(log.contains(" WARN "), "{log}");
    assert!(
        log.contains("a session secret is shorter than 32 bytes"),
        "{log}"
    );
    assert!(log.contains("secret=1 of=1 bytes=12"), "{log}");
    assert!(
        !log.contains("keyboard"),
        "the secret is never logged: {log}"
    );
}

#[test]
fn short_secret_in_a_list_is_named_by_position() {
    let long = "a secret of 32 bytes or more.....";
    let log = warnings_while(|| {
        let _ = SessionCodec::new("connect.sid", [long, "old"]);
    });
    assert!(log.contains("secret=2 of=2 bytes=3"), "{log}");
    assert_eq!(log.lines().count(), 1, "only the short one: {log}");
    assert!(!log.contains("old\""), "{log}");
}

#[test]
fn secrets_of_32_bytes_or_more_log_nothing() {
    let log = warnings_while(|| {
        let _ = SessionMiddleware::builder(MemoryStore::default(), [[7u8; 32], [8u8; 32]]).build();
        let _ = SessionCodec::new("connect.sid", binary_key());
    });
    assert_eq!(log, "");
}

#[test]
fn debug_shows_no_secret_bytes() {
    let secrets = SessionSecrets::from(vec!["keyboard cat", "old"]);
    assert_eq!(
        format!("{secrets:?}"),
        "SessionSecrets { lengths: [12, 3], .. }"
    );
}
