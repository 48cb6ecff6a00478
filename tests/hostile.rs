//! Hostile `Cookie` headers: each one is "no session cookie". The handler gets a fresh session and
//! answers 2xx (never a 500 or a panic), a new id is issued, and the store is never asked to load
//! the id the attacker named. A real session (`victim`, 5 views) is in the store, so a cookie that
//! wrongly verified would show up as 6 views.

mod common;

use actix_typed_session::{
    store::{SaveOutcome, SaveRequest, SessionStore},
    Record, SessionCodec, SessionCookie, SessionMiddleware,
};
use actix_web::{
    http::header::{HeaderValue, COOKIE},
    test::{self, TestRequest},
    web, App,
};
use common::{count, id_of, send, set_cookies, stored_json, CountingStore, Visit, SECRET};

const VICTIM: &str = "victim";
const VICTIM_JSON: &str =
    r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"views":5}"#;

/// The encoded cookie value of `id`, signed with `secret`.
fn value_for(id: &str, secret: &str) -> String {
    SessionCodec::new("connect.sid", secret).cookie_value(id)
}

/// The victim's genuine cookie value (percent-encoded).
fn victim_value() -> String {
    value_for(VICTIM, SECRET)
}

/// A 10 KB session id, stored too: only its size keeps it out.
fn long_id() -> String {
    "L".repeat(10 * 1024)
}

async fn put(store: &CountingStore, id: &str, views: u32) {
    let mut record = Record::new(SessionCookie::default());
    record.set_data(&Visit { views }).unwrap();
    let outcome = store
        .inner
        .save(id, SaveRequest::Create(&record))
        .await
        .unwrap();
    assert_eq!(outcome, SaveOutcome::Saved);
}

/// Sends `cookie` as the `Cookie` header and checks that it counted as no cookie at all.
async fn assert_fresh_session(cookie: HeaderValue) {
    let shown = String::from_utf8_lossy(cookie.as_bytes()).into_owned();
    let shown = if shown.len() > 200 {
        format!("{}… ({} bytes)", &shown[..200], shown.len())
    } else {
        shown
    };
    let store = CountingStore::default();
    put(&store, VICTIM, 5).await;
    put(&store, &long_id(), 5).await;
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::builder(store.clone(), SECRET).build())
            .route("/", web::get().to(count)),
    )
    .await;

    let (status, headers, body) = send(
        &app,
        TestRequest::get().uri("/").insert_header((COOKIE, cookie)),
    )
    .await;
    assert_eq!(status, 200, "Cookie: {shown}: {body}");
    let set_cookie = set_cookies(&headers);
    assert_eq!(set_cookie.len(), 1, "Cookie: {shown}: {set_cookie:?}");
    let id = id_of(&set_cookie[0]);
    assert_eq!(body, format!("{id} 1"), "Cookie: {shown}: a fresh session");
    assert_eq!(id.len(), 32, "Cookie: {shown}: a new random id");
    assert_eq!(
        set_cookie[0],
        format!(
            "connect.sid={}; Path=/; HttpOnly; SameSite=Lax",
            value_for(&id, SECRET)
        ),
        "Cookie: {shown}"
    );
    assert_eq!(
        store.calls.get()[0],
        0,
        "Cookie: {shown}: the store was asked to load"
    );
    assert_eq!(
        stored_json(&store.inner, &id).await.as_deref(),
        Some(
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
        ),
        "Cookie: {shown}"
    );
    assert_eq!(
        stored_json(&store.inner, VICTIM).await.as_deref(),
        Some(VICTIM_JSON),
        "Cookie: {shown}: the victim's session is untouched"
    );
}

async fn assert_fresh_session_str(cookie: &str) {
    assert_fresh_session(HeaderValue::from_str(cookie).expect("a visible ASCII header")).await;
}

#[actix_web::test]
async fn genuine_cookie_is_the_control_case() {
    // The setup that every hostile test reuses does find the victim with its genuine cookie.
    let store = CountingStore::default();
    put(&store, VICTIM, 5).await;
    put(&store, &long_id(), 5).await;
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::builder(store.clone(), SECRET).build())
            .route("/", web::get().to(count)),
    )
    .await;
    let req = TestRequest::get()
        .uri("/")
        .insert_header((COOKIE, format!("connect.sid={}", victim_value())));
    let (status, _, body) = send(&app, req).await;
    assert_eq!((status, body.as_str()), (200, "victim 6"));
    assert_eq!(store.calls.get()[0], 1);
}

#[actix_web::test]
async fn tampered_signature_gives_a_fresh_session() {
    let genuine = victim_value();
    // Flip one character of the signature (the end of the value), keeping its length.
    let last = genuine.chars().last().unwrap();
    let flipped = if last == 'A' { 'B' } else { 'A' };
    let tampered = format!("{}{flipped}", &genuine[..genuine.len() - 1]);
    assert_fresh_session_str(&format!("connect.sid={tampered}")).await;
    // Flip one in the middle of the signature too.
    let dot = genuine.rfind('.').unwrap();
    let mut bytes = genuine.into_bytes();
    bytes[dot + 5] = if bytes[dot + 5] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_fresh_session_str(&format!("connect.sid={tampered}")).await;
}

#[actix_web::test]
async fn tampered_id_gives_a_fresh_session() {
    // The victim's signature on another id.
    let genuine = victim_value();
    let sig = &genuine[genuine.rfind('.').unwrap()..];
    assert_fresh_session_str(&format!("connect.sid=s%3Avictin{sig}")).await;
    assert_fresh_session_str(&format!("connect.sid=s%3Avictim.victim{sig}")).await;
}

#[actix_web::test]
async fn wrong_secret_gives_a_fresh_session() {
    let forged = value_for(VICTIM, "not the secret");
    assert_fresh_session_str(&format!("connect.sid={forged}")).await;
    // Signed with an empty HMAC key (no middleware or codec accepts "" as a secret any more).
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b""),
        VICTIM.as_bytes(),
    );
    let empty_key = format!(
        "s%3A{VICTIM}.{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, tag)
            .replace('+', "%2B")
            .replace('/', "%2F")
    );
    assert_fresh_session_str(&format!("connect.sid={empty_key}")).await;
}

#[actix_web::test]
async fn missing_s_prefix_gives_a_fresh_session() {
    let genuine = victim_value();
    let unprefixed = genuine.strip_prefix("s%3A").unwrap();
    assert_fresh_session_str(&format!("connect.sid={unprefixed}")).await;
    assert_fresh_session_str(&format!("connect.sid=S%3A{unprefixed}")).await;
    assert_fresh_session_str(&format!("connect.sid=x%3A{unprefixed}")).await;
}

#[actix_web::test]
async fn truncated_value_gives_a_fresh_session() {
    let genuine = victim_value();
    for cut in [1, 3, 10, 43] {
        let truncated = &genuine[..genuine.len() - cut];
        assert_fresh_session_str(&format!("connect.sid={truncated}")).await;
    }
    // Cut inside a percent-escape.
    assert_fresh_session_str("connect.sid=s%3").await;
    assert_fresh_session_str("connect.sid=s%").await;
}

#[actix_web::test]
async fn invalid_percent_encoding_gives_a_fresh_session() {
    let genuine = victim_value();
    assert_fresh_session_str(&format!("connect.sid={genuine}%ZZ")).await;
    assert_fresh_session_str(&format!("connect.sid={genuine}%")).await;
    assert_fresh_session_str("connect.sid=%").await;
    assert_fresh_session_str("connect.sid=%ZZ").await;
    // Escapes that decode to bytes that are not UTF-8.
    assert_fresh_session_str(&format!("connect.sid={genuine}%FF")).await;
    assert_fresh_session_str("connect.sid=s%3A%C3%28.abc").await;
}

#[actix_web::test]
async fn ten_kilobyte_id_gives_a_fresh_session() {
    // Correctly signed, and stored: only its size keeps it out.
    let value = value_for(&long_id(), SECRET);
    assert!(value.len() > 10 * 1024);
    assert_fresh_session_str(&format!("connect.sid={value}")).await;
}

#[actix_web::test]
async fn fifty_cookies_of_the_same_name_give_a_fresh_session() {
    // The first one is garbage; the 49 after it are the victim's genuine cookie.
    let genuine = format!("connect.sid={}", victim_value());
    let mut header = "connect.sid=garbage".to_owned();
    for _ in 1..50 {
        header.push_str("; ");
        header.push_str(&genuine);
    }
    assert_eq!(header.matches("connect.sid=").count(), 50);
    assert_fresh_session_str(&header).await;
    // Fifty pieces of garbage.
    let garbage = vec!["connect.sid=s%3Ax.y"; 50].join("; ");
    assert_fresh_session_str(&garbage).await;
}

#[actix_web::test]
async fn non_utf8_cookie_header_gives_a_fresh_session() {
    assert_fresh_session(HeaderValue::from_bytes(b"connect.sid=\xff\xfe").unwrap()).await;
    let mut header = b"connect.sid=s:victim\xff.".to_vec();
    header.extend_from_slice(b"x");
    assert_fresh_session(HeaderValue::from_bytes(&header).unwrap()).await;
    // A non-UTF-8 first cookie of the name still wins over a genuine second one.
    let mut header = b"connect.sid=\xc3\x28; ".to_vec();
    header.extend_from_slice(format!("connect.sid={}", victim_value()).as_bytes());
    assert_fresh_session(HeaderValue::from_bytes(&header).unwrap()).await;
}

#[actix_web::test]
async fn empty_value_gives_a_fresh_session() {
    assert_fresh_session_str("connect.sid=").await;
    assert_fresh_session_str("connect.sid=\"\"").await;
    assert_fresh_session_str("connect.sid").await;
    assert_fresh_session_str("connect.sid=;").await;
    assert_fresh_session_str("=; connect.sid=").await;
}

#[actix_web::test]
async fn only_s_prefix_gives_a_fresh_session() {
    assert_fresh_session_str("connect.sid=s:").await;
    assert_fresh_session_str("connect.sid=s%3A").await;
    assert_fresh_session_str("connect.sid=s%3A.").await;
    assert_fresh_session_str("connect.sid=s:.").await;
}

#[actix_web::test]
async fn signature_with_an_extra_equals_gives_a_fresh_session() {
    let genuine = victim_value();
    assert_fresh_session_str(&format!("connect.sid={genuine}%3D")).await;
    assert_fresh_session_str(&format!("connect.sid={genuine}=")).await;
    assert_fresh_session_str(&format!("connect.sid={genuine}%3D%3D")).await;
}

#[actix_web::test]
async fn non_canonical_signature_gives_a_fresh_session() {
    // The signature's last base64 character carries 2 unused bits: a forger can flip them
    // without changing the decoded bytes. Only the exact string express produces verifies.
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("s:{VICTIM}.{}", {
        let genuine = victim_value();
        let sig = genuine[genuine.rfind('.').unwrap() + 1..].to_owned();
        sig.replace("%2B", "+").replace("%2F", "/")
    });
    let last = raw.chars().last().unwrap();
    let index = ALPHABET.find(last).unwrap();
    for bits in 1..4 {
        let alt = ALPHABET.as_bytes()[index ^ bits] as char;
        let forged = format!("{}{alt}", &raw[..raw.len() - 1]);
        assert_fresh_session_str(&format!("connect.sid={forged}")).await;
    }
    // Base64url instead of base64.
    let url = raw.replace('+', "-").replace('/', "_");
    if url != raw {
        assert_fresh_session_str(&format!("connect.sid={url}")).await;
    }
}
