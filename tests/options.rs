//! The middleware's options and their defaults (express-session's `name`, `secret`, `genid`,
//! `resave`, `saveUninitialized`, `rolling`, `proxy` and `cookie`), as a client sees them.

mod common;

use std::time::Duration;

use actix_service::{IntoServiceFactory as _, ServiceFactory as _};
use actix_typed_session::{
    store::SessionStore, CookieOptions, CookieSecure, MemoryStore, Priority, SameSite,
    SessionCodec, SessionMiddleware, SessionMiddlewareBuilder,
};
use actix_web::{
    http::header::SET_COOKIE,
    test::{self, TestRequest},
    web, App, HttpRequest,
};
use common::{
    count, expires_of, id_and_views, id_of, no_set_cookie, only_set_cookie, pair, peek, send,
    set_cookies, stored_json, CountingStore, SECRET,
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

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

type Builder = SessionMiddlewareBuilder<MemoryStore>;

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(path)
}

fn with_cookie(path: &str, cookie: &str) -> TestRequest {
    get(path).insert_header(("cookie", cookie.to_owned()))
}

/// A request that a trusted proxy says arrived over HTTPS.
fn forwarded(path: &str, proto: &str) -> TestRequest {
    get(path).insert_header(("x-forwarded-proto", proto.to_owned()))
}

/// The cookie value express would send for `id` signed with `secret`.
fn signed(id: &str, secret: &str) -> String {
    SessionCodec::new("connect.sid", secret).cookie_value(id)
}

/// One counted visit on a fresh store with the given options: the response's `Set-Cookie` (if
/// any), the session id and the stored JSON.
async fn first_visit(
    configure: impl FnOnce(Builder) -> Builder,
    req: TestRequest,
) -> (Option<String>, String, String) {
    let store = MemoryStore::default();
    let app = app!(configure(SessionMiddleware::builder(store.clone(), SECRET)).build());
    let (status, headers, body) = send(&app, req).await;
    assert_eq!(status, 200, "{body}");
    let (id, views) = id_and_views(&body);
    assert_eq!(views, 1);
    let set_cookie = set_cookies(&headers).into_iter().next();
    let json = stored_json(&store, &id)
        .await
        .expect("the counted session is stored");
    (set_cookie, id, json)
}

// 1. name

#[actix_web::test]
async fn cookie_name_defaults_to_connect_sid() {
    let (set_cookie, id, _) = first_visit(|b| b, get("/count")).await;
    let set_cookie = set_cookie.expect("a modified new session sets its cookie");
    assert_eq!(
        pair(&set_cookie),
        format!("connect.sid={}", signed(&id, SECRET))
    );
}

#[actix_web::test]
async fn cookie_name_renames_the_cookie_and_the_old_name_is_not_read() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_name("sid")
        .build());
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let set_cookie = only_set_cookie(&headers);
    let value = signed(&id, SECRET);
    assert_eq!(pair(&set_cookie), format!("sid={value}"));

    // The same signed value under the default name is not this middleware's cookie.
    let (_, headers, body) =
        send(&app, with_cookie("/count", &format!("connect.sid={value}"))).await;
    let (other, views) = id_and_views(&body);
    assert_eq!(views, 1, "a cookie called connect.sid is not read");
    assert_ne!(other, id);
    assert!(pair(&only_set_cookie(&headers)).starts_with("sid="));

    let (_, _, body) = send(&app, with_cookie("/count", &format!("sid={value}"))).await;
    assert_eq!(body, format!("{id} 2"));
}

// 3. secrets: tests/secrets.rs

// 4. genid

#[actix_web::test]
async fn genid_names_new_sessions_from_the_request() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .genid(|req: &HttpRequest| {
            let tenant = req
                .headers()
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            format!("{tenant}-{}", req.path().trim_start_matches('/'))
        })
        .build());
    let (_, headers, body) = send(&app, get("/count").insert_header(("x-tenant", "acme"))).await;
    assert_eq!(body, "acme-count 1");
    assert_eq!(
        pair(&only_set_cookie(&headers)),
        format!("connect.sid={}", signed("acme-count", SECRET))
    );
    assert_eq!(
        stored_json(&store, "acme-count").await.as_deref(),
        Some(
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
        )
    );
}

#[actix_web::test]
async fn default_id_is_32_base64url_chars() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store, SECRET).build());
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, headers, body) = send(&app, get("/count")).await;
        let (id, _) = id_and_views(&body);
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{id} is base64url without padding"
        );
        assert_eq!(id_of(&only_set_cookie(&headers)), id);
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "ids are random");
}

// 5. resave, saveUninitialized, rolling default to false

#[actix_web::test]
async fn new_unmodified_session_sets_no_cookie_and_stores_nothing_by_default() {
    let store = CountingStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET).build());
    let (status, headers, body) = send(&app, get("/peek")).await;
    assert_eq!(status, 200);
    let (_, views) = id_and_views(&body);
    assert_eq!(views, 0);
    no_set_cookie(&headers);
    assert_eq!(store.len().await.unwrap(), 0);
    assert_eq!(store.calls.writes(), 0);
}

#[actix_web::test]
async fn unmodified_revisit_sends_no_cookie_and_rewrites_nothing_by_default() {
    let store = CountingStore::default();
    // With an expiry, `rolling` would resend the cookie on every response.
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_max_age(Some(Duration::from_secs(60)))
        .build());
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let cookie = pair(&only_set_cookie(&headers));
    let stored = stored_json(&store, &id).await.unwrap();
    assert!(stored.ends_with(r#""views":1}"#), "{stored}");

    let (status, headers, body) = send(&app, with_cookie("/peek", &cookie)).await;
    assert_eq!((status, body), (200, format!("{id} 1")));
    no_set_cookie(&headers);
    let [_, creates, updates, destroys, _] = store.calls.get();
    assert_eq!((creates, updates, destroys), (1, 0, 0), "no resave");
}

// 6. proxy

#[actix_web::test]
async fn proxy_unset_ignores_x_forwarded_proto() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_secure(CookieSecure::Always)
        .build());
    let (status, headers, body) = send(&app, forwarded("/count", "https")).await;
    assert_eq!(status, 200);
    no_set_cookie(&headers);
    let (id, _) = id_and_views(&body);
    assert!(stored_json(&store, &id).await.is_some(), "still saved");
}

#[actix_web::test]
async fn proxy_false_ignores_x_forwarded_proto() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_secure(CookieSecure::Always)
        .proxy(false)
        .build());
    let (status, headers, _) = send(&app, forwarded("/count", "https")).await;
    assert_eq!(status, 200);
    no_set_cookie(&headers);
    assert_eq!(store.len().await.unwrap(), 1);
}

#[actix_web::test]
async fn proxy_true_trusts_x_forwarded_proto_https() {
    let app = app!(SessionMiddleware::builder(MemoryStore::default(), SECRET)
        .cookie_secure(CookieSecure::Always)
        .proxy(true)
        .build());
    let (_, headers, body) = send(&app, forwarded("/count", "https")).await;
    let (id, _) = id_and_views(&body);
    assert_eq!(
        only_set_cookie(&headers),
        format!(
            "connect.sid={}; Path=/; HttpOnly; Secure; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
}

#[actix_web::test]
async fn proxy_true_takes_the_first_value_trimmed_and_case_insensitive() {
    let app = app!(SessionMiddleware::builder(MemoryStore::default(), SECRET)
        .cookie_secure(CookieSecure::Always)
        .proxy(true)
        .build());
    for proto in ["HTTPS , http", " https", "Https,http,http"] {
        let (_, headers, _) = send(&app, forwarded("/count", proto)).await;
        let all = set_cookies(&headers);
        assert_eq!(all.len(), 1, "X-Forwarded-Proto: {proto}");
        assert!(all[0].ends_with("; Secure; SameSite=Lax"), "{}", all[0]);
    }
}

#[actix_web::test]
async fn proxy_true_needs_https_as_the_first_value() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_secure(CookieSecure::Always)
        .proxy(true)
        .build());
    for proto in ["http, https", "http", "", "https2", "wss"] {
        let (status, headers, _) = send(&app, forwarded("/count", proto)).await;
        assert_eq!(status, 200);
        assert!(
            headers.get(SET_COOKIE).is_none(),
            "X-Forwarded-Proto: {proto:?} is not secure"
        );
    }
    let (_, headers, _) = send(&app, get("/count")).await;
    no_set_cookie(&headers);
    assert_eq!(store.len().await.unwrap(), 6, "every session still saved");
}

// 7. cookie attributes

#[actix_web::test]
async fn cookie_defaults_are_path_root_http_only_same_site_lax_and_a_browser_session() {
    let (set_cookie, id, json) = first_visit(|b| b, get("/count")).await;
    assert_eq!(
        set_cookie.as_deref(),
        Some(
            format!(
                "connect.sid={}; Path=/; HttpOnly; SameSite=Lax",
                signed(&id, SECRET)
            )
            .as_str()
        )
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
    );
}

#[actix_web::test]
async fn default_cookie_is_secure_over_https_from_a_trusted_proxy() {
    let (set_cookie, id, json) = first_visit(|b| b.proxy(true), forwarded("/count", "https")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Path=/; HttpOnly; Secure; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":true,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
    );
}

#[actix_web::test]
async fn default_cookie_is_secure_over_a_tls_connection() {
    // `init_service` serves as plain HTTP; this is what `HttpServer::bind_rustls*` gives the app.
    // (actix-web exposes no other way to build a TLS `AppConfig` without a TLS stack.)
    let tls = actix_web::dev::AppConfig::__priv_test_new(
        true,
        "localhost:8443".to_owned(),
        "127.0.0.1:8443".parse().unwrap(),
    );
    let store = MemoryStore::default();
    let app = App::new()
        .wrap(SessionMiddleware::new(store.clone(), SECRET))
        .route("/count", web::get().to(count))
        .into_factory()
        .new_service(tls)
        .await
        .unwrap();
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    assert_eq!(
        only_set_cookie(&headers),
        format!(
            "connect.sid={}; Path=/; HttpOnly; Secure; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    let json = stored_json(&store, &id).await.unwrap();
    assert!(json.contains(r#""secure":true,"#), "{json}");
}

#[actix_web::test]
async fn default_cookie_over_plain_http_is_not_secure_and_works_on_the_next_request() {
    // What `cargo run --example counter` on http://127.0.0.1 sees.
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::new(store.clone(), SECRET));
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, views) = id_and_views(&body);
    assert_eq!(views, 1);
    let set_cookie = only_set_cookie(&headers);
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let (status, _, body) = send(&app, with_cookie("/count", &pair(&set_cookie))).await;
    assert_eq!((status, body), (200, format!("{id} 2")));
    // A proxy's header is not trusted without `proxy(true)`: still plain HTTP.
    let (_, headers, _) = send(&app, forwarded("/count", "https")).await;
    assert!(!only_set_cookie(&headers).contains("Secure"));
}

#[actix_web::test]
async fn express_defaults_are_one_option_away() {
    let express = |b: Builder| {
        b.cookie_secure(CookieSecure::Never)
            .cookie_same_site(None)
            .proxy(true)
    };
    let (set_cookie, id, json) = first_visit(express, forwarded("/count", "https")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!("connect.sid={}; Path=/; HttpOnly", signed(&id, SECRET))
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"views":1}"#
    );
    let (set_cookie, _, _) = first_visit(
        |b| b.cookie(CookieOptions::default().same_site(None)),
        get("/count"),
    )
    .await;
    assert!(set_cookie.unwrap().ends_with("; Path=/; HttpOnly"));
}

#[actix_web::test]
async fn cookie_domain_is_sent_and_stored() {
    let (set_cookie, id, json) =
        first_visit(|b| b.cookie_domain("example.com"), get("/count")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Domain=example.com; Path=/; HttpOnly; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"domain":"example.com","path":"/","sameSite":"lax"},"views":1}"#
    );
}

#[actix_web::test]
async fn cookie_same_site_is_sent_and_stored() {
    for (same_site, attribute, stored) in [
        (SameSite::Strict, "Strict", "strict"),
        (SameSite::Lax, "Lax", "lax"),
        (SameSite::None, "None", "none"),
    ] {
        let (set_cookie, id, json) =
            first_visit(|b| b.cookie_same_site(same_site), get("/count")).await;
        assert_eq!(
            set_cookie.unwrap(),
            format!(
                "connect.sid={}; Path=/; HttpOnly; SameSite={attribute}",
                signed(&id, SECRET)
            )
        );
        assert_eq!(
            json,
            format!(
                r#"{{"cookie":{{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"{stored}"}},"views":1}}"#
            )
        );
    }
}

#[actix_web::test]
async fn cookie_partitioned_is_sent_and_stored() {
    let (set_cookie, id, json) = first_visit(|b| b.cookie_partitioned(true), get("/count")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Path=/; HttpOnly; Partitioned; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"partitioned":true,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
    );
}

#[actix_web::test]
async fn cookie_priority_is_sent_and_stored() {
    for (priority, attribute, stored) in [
        (Priority::Low, "Low", "low"),
        (Priority::Medium, "Medium", "medium"),
        (Priority::High, "High", "high"),
    ] {
        let (set_cookie, id, json) =
            first_visit(|b| b.cookie_priority(priority), get("/count")).await;
        assert_eq!(
            set_cookie.unwrap(),
            format!(
                "connect.sid={}; Path=/; HttpOnly; Priority={attribute}; SameSite=Lax",
                signed(&id, SECRET)
            )
        );
        assert_eq!(
            json,
            format!(
                r#"{{"cookie":{{"originalMaxAge":null,"priority":"{stored}","expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"}},"views":1}}"#
            )
        );
    }
}

#[actix_web::test]
async fn cookie_http_only_false_drops_the_attribute() {
    let (set_cookie, id, json) = first_visit(|b| b.cookie_http_only(false), get("/count")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!("connect.sid={}; Path=/; SameSite=Lax", signed(&id, SECRET))
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":false,"path":"/","sameSite":"lax"},"views":1}"#
    );
}

#[actix_web::test]
async fn cookie_options_object_sets_every_attribute_at_once() {
    let options = CookieOptions::default()
        .domain(Some("example.org".to_owned()))
        .partitioned(true)
        .priority(Some(Priority::Medium))
        .same_site(Some(SameSite::Lax))
        .http_only(false);
    let (set_cookie, id, json) = first_visit(|b| b.cookie(options), get("/count")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Domain=example.org; Path=/; Partitioned; Priority=Medium; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"partitioned":true,"priority":"medium","expires":null,"secure":false,"httpOnly":false,"domain":"example.org","path":"/","sameSite":"lax"},"views":1}"#
    );
}

// maxAge / expires

#[actix_web::test]
async fn cookie_max_age_sets_expires_and_original_max_age() {
    let before = OffsetDateTime::now_utc();
    let (set_cookie, id, json) = first_visit(
        |b| b.cookie_max_age(Some(Duration::from_secs(60))),
        get("/count"),
    )
    .await;
    let set_cookie = set_cookie.unwrap();
    let expires = expires_of(&set_cookie).expect("a max age gives the cookie an Expires");
    let expected = before + Duration::from_secs(60);
    assert!(
        (expires - expected).abs() <= time::Duration::seconds(2),
        "Expires={expires} is not about {expected}"
    );
    let date = set_cookie
        .split("; ")
        .find_map(|a| a.strip_prefix("Expires="))
        .unwrap();
    assert_eq!(
        set_cookie,
        format!(
            "connect.sid={}; Path=/; Expires={date}; HttpOnly; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert!(!set_cookie.contains("Max-Age"), "{set_cookie}");

    let prefix = r#"{"cookie":{"originalMaxAge":60000,"expires":""#;
    let suffix = r#"","secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#;
    assert!(json.starts_with(prefix) && json.ends_with(suffix), "{json}");
    let iso = &json[prefix.len()..json.len() - suffix.len()];
    assert_eq!(iso.len(), "2026-11-25T16:58:00.603Z".len(), "{iso}");
    let stored = OffsetDateTime::parse(iso, &Rfc3339).unwrap();
    assert_eq!(
        stored.replace_millisecond(0).unwrap(),
        expires,
        "the stored expiry is the cookie's"
    );
}

#[actix_web::test]
async fn cookie_expires_sets_a_fixed_expiry() {
    let at = time::macros::datetime!(2031-01-07 09:30:00 UTC);
    let (set_cookie, id, json) = first_visit(|b| b.cookie_expires(at), get("/count")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Path=/; Expires=Tue, 07 Jan 2031 09:30:00 GMT; HttpOnly; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert!(
        json.contains(r#","expires":"2031-01-07T09:30:00."#),
        "{json}"
    );
}

// 8. secure: auto, sameSite: auto

#[actix_web::test]
async fn secure_auto_is_secure_over_https() {
    let (set_cookie, id, json) = first_visit(
        |b| b.cookie_secure(CookieSecure::Auto).proxy(true),
        forwarded("/count", "https"),
    )
    .await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Path=/; HttpOnly; Secure; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":true,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
    );
}

#[actix_web::test]
async fn secure_auto_is_not_secure_over_http() {
    let (set_cookie, id, json) = first_visit(
        |b| b.cookie_secure(CookieSecure::Auto).proxy(true),
        get("/count"),
    )
    .await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Path=/; HttpOnly; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
    );
}

#[actix_web::test]
async fn same_site_auto_is_none_when_secure_and_lax_otherwise() {
    let configure = |b: Builder| {
        b.cookie_secure(CookieSecure::Auto)
            .cookie_same_site_auto()
            .proxy(true)
    };
    let (set_cookie, id, json) = first_visit(configure, forwarded("/count", "https")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Path=/; HttpOnly; Secure; SameSite=None",
            signed(&id, SECRET)
        )
    );
    assert!(
        json.contains(r#""secure":true,"httpOnly":true,"path":"/","sameSite":"none"}"#),
        "{json}"
    );

    let (set_cookie, id, json) = first_visit(configure, get("/count")).await;
    assert_eq!(
        set_cookie.unwrap(),
        format!(
            "connect.sid={}; Path=/; HttpOnly; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert!(
        json.contains(r#""secure":false,"httpOnly":true,"path":"/","sameSite":"lax"}"#),
        "{json}"
    );

    // Without a secure cookie, sameSite auto still follows the request.
    let (set_cookie, _, _) = first_visit(
        |b| {
            b.cookie_same_site_auto()
                .cookie_secure(CookieSecure::Never)
                .proxy(true)
        },
        forwarded("/count", "https"),
    )
    .await;
    assert!(set_cookie.unwrap().ends_with("; HttpOnly; SameSite=None"));
}

#[actix_web::test]
async fn auto_attributes_are_resolved_at_creation_and_kept() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        .cookie_secure(CookieSecure::Auto)
        .cookie_same_site_auto()
        .proxy(true)
        .rolling(true)
        .build());

    // Created over http: not secure, Lax, even when later seen over https.
    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    let cookie = pair(&only_set_cookie(&headers));
    let (_, headers, body) = send(
        &app,
        forwarded("/peek", "https").insert_header(("cookie", cookie.clone())),
    )
    .await;
    assert_eq!(body, format!("{id} 1"));
    assert_eq!(
        only_set_cookie(&headers),
        format!("{cookie}; Path=/; HttpOnly; SameSite=Lax")
    );

    // Created over https: secure, so never sent over http again (but still touched).
    let (_, headers, body) = send(&app, forwarded("/count", "https")).await;
    let (id, _) = id_and_views(&body);
    let cookie = pair(&only_set_cookie(&headers));
    let (status, headers, body) = send(&app, with_cookie("/peek", &cookie)).await;
    assert_eq!((status, body), (200, format!("{id} 1")));
    no_set_cookie(&headers);
    let json = stored_json(&store, &id).await.unwrap();
    assert!(
        json.contains(r#""secure":true,"httpOnly":true,"path":"/","sameSite":"none"}"#),
        "{json}"
    );
}

// 9. cookie options per request

#[actix_web::test]
async fn cookie_per_request_options_follow_the_request() {
    let store = MemoryStore::default();
    let app = app!(SessionMiddleware::builder(store.clone(), SECRET)
        // Ignored: per-request options take over.
        .cookie_domain("ignored.example")
        .cookie_per_request(|req| {
            if req.headers().contains_key("x-remember-me") {
                CookieOptions::default()
                    .max_age(Some(Duration::from_secs(30 * 24 * 3600)))
                    .path("/count")
            } else {
                CookieOptions::default()
            }
        })
        .build());

    let before = OffsetDateTime::now_utc();
    let (_, headers, body) = send(&app, get("/count").insert_header(("x-remember-me", "1"))).await;
    let (id, _) = id_and_views(&body);
    let set_cookie = only_set_cookie(&headers);
    let expires = expires_of(&set_cookie).expect("a 30-day cookie");
    let expected = before + Duration::from_secs(30 * 24 * 3600);
    assert!(
        (expires - expected).abs() <= time::Duration::seconds(2),
        "{set_cookie}"
    );
    assert!(
        set_cookie.starts_with(&format!(
            "connect.sid={}; Path=/count; Expires=",
            signed(&id, SECRET)
        )),
        "{set_cookie}"
    );
    let json = stored_json(&store, &id).await.unwrap();
    assert!(
        json.starts_with(r#"{"cookie":{"originalMaxAge":2592000000,"expires":""#),
        "{json}"
    );

    let (_, headers, body) = send(&app, get("/count")).await;
    let (id, _) = id_and_views(&body);
    assert_eq!(
        only_set_cookie(&headers),
        format!(
            "connect.sid={}; Path=/; HttpOnly; SameSite=Lax",
            signed(&id, SECRET)
        )
    );
    assert_eq!(
        stored_json(&store, &id).await.unwrap(),
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"views":1}"#
    );
}

#[test]
fn a_cookie_path_or_domain_that_cannot_be_sent_is_a_build_error() {
    for path in ["app", "/café", "/a;Domain=evil.example", ""] {
        let error = SessionMiddleware::builder(MemoryStore::default(), SECRET)
            .cookie_path(path)
            .try_build()
            .err()
            .unwrap_or_else(|| panic!("cookie path {path:?} was accepted"));
        assert!(error.to_string().contains("cookie path"), "{error}");
    }
    for domain in [
        "evil.example; SameSite=None",
        "exa mple.com",
        "-bad.example",
        "",
    ] {
        let error = SessionMiddleware::builder(MemoryStore::default(), SECRET)
            .cookie_domain(domain)
            .try_build()
            .err()
            .unwrap_or_else(|| panic!("cookie domain {domain:?} was accepted"));
        assert!(error.to_string().contains("cookie domain"), "{error}");
    }
    for (path, domain) in [("/", "example.com"), ("/app/v1", ".example.com")] {
        assert!(SessionMiddleware::builder(MemoryStore::default(), SECRET)
            .cookie_path(path)
            .cookie_domain(domain)
            .try_build()
            .is_ok());
    }
}
