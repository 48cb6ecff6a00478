//! The Rust half of a shared login with a Node express-session app (its twin is
//! `tests/interop/server.js`): both read and write the same sessions, in one Redis in
//! connect-redis's layout, or in one PostgreSQL table in connect-pg-simple's, with the same signed
//! `connect.sid` cookie.
//!
//! Routes: `GET /login?user=NAME` (keeps the data under a new id, sets `user`), `GET /visit`
//! (`views += 1`), `GET /whoami` (body `user=<NAME or none> views=<N>`), `GET /logout` (destroys
//! the session).
//!
//! Environment: `PORT` (default 8080), `SESSION_SECRET` (several, comma-separated: the first
//! signs, all verify), `MAX_AGE_MS` (the session lifetime, default one hour), and the store:
//! `DATABASE_URL` (with the `postgres` feature: a [`PgStore`] on that database, in table
//! `PG_TABLE`, default `session`, created when missing if `PG_CREATE_TABLE=1`, as the Node twin
//! does with connect-pg-simple), otherwise `REDIS_URL` (default `redis://127.0.0.1:6379`).
//!
//! Run with `cargo run --example express_interop --features redis` (Redis), or
//! `DATABASE_URL=postgres://… cargo run --example express_interop --features redis,postgres`
//! (PostgreSQL, whose `TimeZone` must be UTC for Node to read `expire` right: see [`PgStore`]).
//! The interop tests (`tests/interop.rs`, `tests/interop_pg.rs`) serve [`sessions`] and
//! [`routes`] next to the Node twin.
//!
//! [`PgStore`]: https://docs.rs/actix-typed-session/latest/actix_typed_session/struct.PgStore.html

use std::{env, time::Duration};

#[cfg(feature = "postgres")]
use actix_typed_session::PgStore;
use actix_typed_session::{
    store::SessionStore, RedisStore, Session, SessionCodec, SessionData, SessionError,
    SessionMiddleware,
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

/// The store both twins share, as the environment names it.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) enum StoreUrl {
    /// `REDIS_URL`: connect-redis's layout (`sess:<id>` keys).
    Redis(String),
    /// `DATABASE_URL`: connect-pg-simple's table `table`, created when missing if `create`.
    Postgres {
        url: String,
        table: String,
        create: bool,
    },
}

/// The twin's settings, as read from the environment.
pub(crate) struct Settings {
    /// The port to listen on (127.0.0.1).
    pub(crate) port: u16,
    /// The secrets: the first signs, all verify.
    pub(crate) secrets: Vec<String>,
    /// The store that both twins share.
    pub(crate) store: StoreUrl,
    /// The session lifetime (`cookie.maxAge`).
    pub(crate) max_age: Duration,
}

impl Settings {
    /// `PORT`, `SESSION_SECRET`, `DATABASE_URL` (with `PG_TABLE` and `PG_CREATE_TABLE`) or
    /// `REDIS_URL`, and `MAX_AGE_MS`, with their defaults.
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
        let store = match env::var("DATABASE_URL") {
            Ok(url) => StoreUrl::Postgres {
                url,
                table: env::var("PG_TABLE").unwrap_or_else(|_| "session".to_owned()),
                create: env::var("PG_CREATE_TABLE").is_ok_and(|v| v == "1"),
            },
            Err(_) => StoreUrl::Redis(
                env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
            ),
        };
        let max_age_ms = env::var("MAX_AGE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(3600 * 1000);
        Self {
            port,
            secrets,
            store,
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
pub(crate) fn sessions<S: SessionStore>(
    store: S,
    secrets: Vec<String>,
    max_age: Duration,
) -> SessionMiddleware<S> {
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

/// Serves the twin with `store` on 127.0.0.1:`port`.
async fn serve<S: SessionStore>(
    store: S,
    port: u16,
    secrets: Vec<String>,
    max_age: Duration,
) -> std::io::Result<()> {
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

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Settings {
        port,
        secrets,
        store,
        max_age,
    } = Settings::from_env();
    // An empty secret is refused; say so once here rather than panic in every worker.
    SessionCodec::try_new("connect.sid", secrets.clone())
        .map_err(|e| std::io::Error::other(format!("SESSION_SECRET: {e}")))?;
    match store {
        StoreUrl::Redis(url) => {
            let store = RedisStore::new(&url).map_err(std::io::Error::other)?;
            serve(store, port, secrets, max_age).await
        }
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres { url, table, create } => {
            let store = PgStore::builder(&url)
                .map_err(std::io::Error::other)?
                .table_name(table)
                .create_table_if_missing(create)
                .connect()
                .await
                .map_err(std::io::Error::other)?;
            serve(store, port, secrets, max_age).await
        }
        #[cfg(not(feature = "postgres"))]
        StoreUrl::Postgres { .. } => Err(std::io::Error::other(
            "DATABASE_URL is set: build with `--features redis,postgres` for PostgreSQL",
        )),
    }
}
