//! The Rust half of a shared login with a Node express-session app (its twin is
//! `tests/interop/server.js`): both read and write the same sessions in one Redis, in
//! connect-redis's layout, with the same signed `connect.sid` cookie.
//!
//! Routes: `GET /login?user=NAME` (keeps the data under a new id, sets `user`), `GET /visit`
//! (`views += 1`), `GET /whoami` (body `user=<NAME or none> views=<N>`), `GET /logout` (destroys
//! the session).
//!
//! Environment: `PORT` (default 8080), `SESSION_SECRET` (several, comma-separated: the first
//! signs, all verify), `REDIS_URL` (default `redis://127.0.0.1:6379`), `MAX_AGE_MS` (the session
//! lifetime, default one hour).
//!
//! Run with `cargo run --example express_interop --features redis`. The interop tests
//! (`tests/interop.rs`) serve [`sessions`] and [`routes`] next to the Node twin.

use std::{env, time::Duration};

use actix_typed_session::{
    RedisStore, Session, SessionCodec, SessionData, SessionError, SessionMiddleware,
};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;

#[derive(SessionData, Default)]
struct Visitor {
    user: Option<String>,
    views: u64,
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

async fn login(
    mut session: Session<Visitor>,
    query: web::Query<Login>,
) -> Result<String, SessionError> {
    session.cycle_id().await?;
    session.user = Some(query.into_inner().user);
    Ok(format!(
        "user={}",
        session.user.as_deref().unwrap_or_default()
    ))
}

async fn visit(mut session: Session<Visitor>) -> String {
    session.views += 1;
    format!("views={}", session.views)
}

async fn whoami(session: Session<Visitor>) -> String {
    format!(
        "user={} views={}",
        session.user.as_deref().unwrap_or("none"),
        session.views
    )
}

async fn logout(session: Session<Visitor>) -> Result<HttpResponse, SessionError> {
    session.destroy().await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .body("logged out"))
}

/// The twin's settings, as read from the environment.
pub(crate) struct Settings {
    /// The port to listen on (127.0.0.1).
    pub(crate) port: u16,
    /// The secrets: the first signs, all verify.
    pub(crate) secrets: Vec<String>,
    /// The Redis that both twins share.
    pub(crate) redis_url: String,
    /// The session lifetime (`cookie.maxAge`).
    pub(crate) max_age: Duration,
}

impl Settings {
    /// `PORT`, `SESSION_SECRET`, `REDIS_URL` and `MAX_AGE_MS`, with their defaults.
    pub(crate) fn from_env() -> Self {
        let port = env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8080);
        let secrets = env::var("SESSION_SECRET")
            .unwrap_or_else(|_| "development secret".to_owned())
            .split(',')
            .map(str::to_owned)
            .collect();
        let redis_url =
            env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let max_age_ms = env::var("MAX_AGE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(3600 * 1000);
        Self {
            port,
            secrets,
            redis_url,
            max_age: Duration::from_millis(max_age_ms),
        }
    }
}

/// The session middleware that matches the Node twin's `session({…})`: cookie `connect.sid`
/// (the default name), the same secrets, `resave` and `saveUninitialized` false (the defaults
/// here), `cookie.maxAge` = `max_age`, and a `RedisStore` with connect-redis's `sess:` prefix.
/// The cookie's `SameSite=Lax` and `Secure` over HTTPS are the defaults here but not
/// express-session's: the Node twin sets `sameSite: 'lax'` and `secure: 'auto'`, so both apps
/// send the same cookie.
pub(crate) fn sessions(
    store: RedisStore,
    secrets: Vec<String>,
    max_age: Duration,
) -> SessionMiddleware<RedisStore> {
    SessionMiddleware::builder(store, secrets)
        .cookie_max_age(Some(max_age))
        .build()
}

/// The twin's routes: `/login`, `/visit`, `/whoami`, `/logout`.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login))
        .route("/visit", web::get().to(visit))
        .route("/whoami", web::get().to(whoami))
        .route("/logout", web::get().to(logout));
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Settings {
        port,
        secrets,
        redis_url,
        max_age,
    } = Settings::from_env();
    // An empty secret is refused; say so once here rather than panic in every worker.
    SessionCodec::try_new("connect.sid", secrets.clone())
        .map_err(|e| std::io::Error::other(format!("SESSION_SECRET: {e}")))?;
    let store = RedisStore::new(&redis_url).map_err(std::io::Error::other)?;

    println!("rust twin listening on {port}");
    HttpServer::new(move || {
        App::new()
            .wrap(sessions(store.clone(), secrets.clone(), max_age))
            .configure(routes)
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
