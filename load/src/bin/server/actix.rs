//! actix-session 0.11, configured as close to this crate's defaults as it goes: a persistent
//! cookie of one hour whose lifetime every request extends (`TtlExtensionPolicy::OnEveryRequest`,
//! its nearest to express's touch), and no `Secure` flag (the load runs over plain HTTP).
//!
//! The Redis store is created once in `main` and cloned into the worker, as actix-session's
//! documentation does.

use std::io;

use actix_session::{
    config::{PersistentSession, TtlExtensionPolicy},
    storage::{CookieSessionStore, RedisSessionStore, SessionStore},
    Session, SessionMiddleware,
};
use actix_web::{
    cookie::{time::Duration, Key},
    web, App, HttpResponse, HttpServer,
};

use crate::{MAX_AGE_SECS, NAME, USER_ID};

async fn new_visit(session: Session) -> actix_web::Result<HttpResponse> {
    session.insert("userId", USER_ID)?;
    session.insert("name", NAME)?;
    session.insert("visits", 1u64)?;
    Ok(HttpResponse::Ok().body("1"))
}

async fn read_visit(session: Session) -> actix_web::Result<HttpResponse> {
    Ok(match session.get::<u64>("visits")? {
        Some(visits) => HttpResponse::Ok().body(visits.to_string()),
        None => HttpResponse::Conflict().finish(),
    })
}

async fn incr_visit(session: Session) -> actix_web::Result<HttpResponse> {
    let Some(visits) = session.get::<u64>("visits")? else {
        return Ok(HttpResponse::Conflict().finish());
    };
    session.insert("visits", visits + 1)?;
    Ok(HttpResponse::Ok().body((visits + 1).to_string()))
}

async fn run<S: SessionStore + 'static>(
    store: impl Fn() -> S + Send + Clone + 'static,
    port: u16,
) -> io::Result<()> {
    let key = Key::from(&[7u8; 64]);
    HttpServer::new(move || {
        let lifecycle = PersistentSession::default()
            .session_ttl(Duration::seconds(MAX_AGE_SECS as i64))
            .session_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest);
        App::new()
            .wrap(
                SessionMiddleware::builder(store(), key.clone())
                    .cookie_secure(false)
                    .session_lifecycle(lifecycle)
                    .build(),
            )
            .route("/new", web::get().to(new_visit))
            .route("/read", web::get().to(read_visit))
            .route("/incr", web::get().to(incr_visit))
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

pub(crate) async fn run_cookie(port: u16) -> io::Result<()> {
    run(CookieSessionStore::default, port).await
}

pub(crate) async fn run_redis(port: u16, url: &str) -> io::Result<()> {
    let store = RedisSessionStore::new(url)
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
    run(move || store.clone(), port).await
}
