//! Who is signed in where: sessions indexed by user, "log out everywhere", a per-user limit.
//!
//! - `GET /login?user=NAME` starts a fresh session (new id) for NAME: `logged in as NAME`.
//! - `GET /whoami`: `user=NAME`, or `user=none`.
//! - `GET /sessions`: one line per live session of the current user, oldest first,
//!   `<id> current=<yes|no>` (`401` when not logged in).
//! - `GET /logout-others`: ends the user's other sessions: `ended N`.
//! - `GET /logout-everywhere`: ends every session of the user, this one included: `ended N`.
//!
//! Every session that ends prints exactly one line on stdout, across all processes that share
//! one Redis or one PostgreSQL database:
//!
//! ```text
//! session ended id=<id> reason=<expired|destroyed|regenerated|revoked|displaced|…> user=<NAME>
//! ```
//!
//! Environment: `PORT` (default 8080), `SESSION_SECRET`, `SESSION_TTL_MS` (the idle lifetime,
//! also the cookie's max age; default 30 minutes), `MAX_SESSIONS_PER_USER` (unset: no limit; with
//! a limit, a login beyond it ends the user's oldest session, reported as `displaced`),
//! `REDIS_URL` (set: `RedisStore`, built with `--features redis`) or `DATABASE_URL` (set:
//! `PgStore`, built with `--features postgres`, in connect-pg-simple's `session` table, created
//! when missing); neither: the memory store.
//!
//! ```sh
//! cargo run --example devices
//! curl -c a -b a 'localhost:8080/login?user=ada'; curl -c b -b b 'localhost:8080/login?user=ada'
//! curl -b a localhost:8080/sessions; curl -b a localhost:8080/logout-others
//! DATABASE_URL=postgres://app:secret@127.0.0.1/app MAX_SESSIONS_PER_USER=2 \
//!   cargo run --example devices --features postgres
//! ```

use std::{
    env,
    io::{self, Write as _},
    process::ExitCode,
    time::Duration,
};

use actix_typed_session::{
    store::{IndexKey, OverLimit, SessionEnd, SessionStore},
    MemoryStore, Session, SessionCodec, SessionData, SessionError, SessionMiddleware,
};
use actix_web::{error::ErrorBadRequest, web, App, HttpResponse, HttpServer};
use serde::Deserialize;

/// The session: who is signed in. Stores index sessions by `user`.
#[derive(SessionData, Default, Debug)]
pub(crate) struct Device {
    #[session(index)]
    pub(crate) user: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Login {
    user: String,
}

/// The index key of `user`.
fn key(user: &str) -> Result<IndexKey, actix_web::Error> {
    IndexKey::new("user", user).map_err(ErrorBadRequest)
}

pub(crate) async fn login(
    mut session: Session<Device>,
    query: web::Query<Login>,
) -> Result<HttpResponse, SessionError> {
    session.regenerate().await?;
    session.user = Some(query.user.clone());
    // Stored now, so that a limit applies (and any displaced session ends) before the answer.
    session.save().await?;
    Ok(HttpResponse::Ok().body(format!("logged in as {}\n", query.user)))
}

pub(crate) async fn whoami(session: Session<Device>) -> String {
    format!("user={}\n", session.user.as_deref().unwrap_or("none"))
}

pub(crate) async fn sessions(session: Session<Device>) -> Result<HttpResponse, actix_web::Error> {
    let Some(user) = &session.user else {
        return Ok(HttpResponse::Unauthorized().body("not logged in\n"));
    };
    let current = session.id();
    let mut body = String::new();
    for other in session.sessions_by(&key(user)?).await? {
        let here = if other.id == current { "yes" } else { "no" };
        body += &format!("{} current={here}\n", other.id);
    }
    Ok(HttpResponse::Ok().body(body))
}

pub(crate) async fn logout_others(
    mut session: Session<Device>,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(user) = session.user.clone() else {
        return Ok(HttpResponse::Unauthorized().body("not logged in\n"));
    };
    let ended = session.end_other_sessions(&key(&user)?).await?;
    Ok(HttpResponse::Ok().body(format!("ended {ended}\n")))
}

pub(crate) async fn logout_everywhere(
    session: Session<Device>,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(user) = session.user.clone() else {
        return Ok(HttpResponse::Unauthorized().body("not logged in\n"));
    };
    let ended = session.end_all_sessions(&key(&user)?).await?;
    Ok(HttpResponse::Ok().body(format!("ended {ended}\n")))
}

/// The session end callback: one line per end.
fn report(end: SessionEnd) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{}", end_line(&end));
    let _ = out.flush();
}

/// `session ended id=<id> reason=<reason> user=<NAME>`.
pub(crate) fn end_line(end: &SessionEnd) -> String {
    let user = end.data::<Device>().unwrap_or_default().user;
    format!(
        "session ended id={} reason={} user={}",
        end.id(),
        end.reason(),
        user.unwrap_or_default()
    )
}

/// The app's routes.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login))
        .route("/whoami", web::get().to(whoami))
        .route("/sessions", web::get().to(sessions))
        .route("/logout-others", web::get().to(logout_others))
        .route("/logout-everywhere", web::get().to(logout_everywhere));
}

fn var<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match env::var(name) {
        Ok(value) => value
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={value:?} is not valid")),
        Err(_) => Ok(None),
    }
}

/// The settings read from the environment.
struct Settings {
    port: u16,
    ttl: Duration,
    limit: Option<usize>,
    secret: String,
}

fn settings() -> Result<Settings, String> {
    let port = var::<u16>("PORT")?.unwrap_or(8080);
    let ttl_ms = var::<u64>("SESSION_TTL_MS")?.unwrap_or(30 * 60 * 1000);
    let limit = var::<usize>("MAX_SESSIONS_PER_USER")?;
    if limit == Some(0) {
        return Err("MAX_SESSIONS_PER_USER must be at least 1".to_owned());
    }
    let secret = env::var("SESSION_SECRET").unwrap_or_else(|_| {
        eprintln!("devices: SESSION_SECRET is not set; using a development secret");
        "development secret: set SESSION_SECRET in production".to_owned()
    });
    SessionCodec::try_new("connect.sid", secret.as_str())
        .map_err(|e| format!("SESSION_SECRET: {e}"))?;
    Ok(Settings {
        port,
        ttl: Duration::from_millis(ttl_ms),
        limit,
        secret,
    })
}

fn main() -> ExitCode {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("devices: {message}");
            return ExitCode::from(2);
        }
    };
    let given = |name: &str| env::var(name).ok().filter(|url| !url.is_empty());
    let store = match (given("REDIS_URL"), given("DATABASE_URL")) {
        (Some(_), Some(_)) => Some(Err("set REDIS_URL or DATABASE_URL, not both".to_owned())),
        (Some(url), None) => Some(redis_store(&url, settings.limit)),
        (None, Some(url)) => Some(pg_store(&url, settings.limit)),
        (None, None) => None,
    };
    let served = match store {
        Some(Ok(served)) => served(settings),
        Some(Err(message)) => {
            eprintln!("devices: {message}");
            return ExitCode::from(2);
        }
        None => {
            let builder = MemoryStore::builder().on_session_end(report);
            let builder = match settings.limit {
                Some(max) => builder.index_limit("user", max, OverLimit::EndOldest),
                None => builder.indexes::<Device>(),
            };
            serve(builder.build(), settings)
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devices: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How to serve on a store, once it is made.
type Serve = Box<dyn FnOnce(Settings) -> io::Result<()>>;

/// A Redis store at `url`, indexed by user, that reports session ends.
#[cfg(feature = "redis")]
fn redis_store(url: &str, limit: Option<usize>) -> Result<Serve, String> {
    let store = actix_typed_session::RedisStore::builder(url)
        .and_then(|builder| {
            let builder = builder.on_session_end(report);
            match limit {
                Some(max) => builder.index_limit("user", max, OverLimit::EndOldest),
                None => builder.indexes::<Device>(),
            }
            .try_build()
        })
        .map_err(|e| format!("REDIS_URL={url}: {e}"))?;
    Ok(Box::new(move |settings| serve(store, settings)))
}

#[cfg(not(feature = "redis"))]
fn redis_store(_url: &str, _limit: Option<usize>) -> Result<Serve, String> {
    Err(
        "REDIS_URL is set, but this build has no Redis store: run it with `--features redis` \
         (cargo run --example devices --features redis), or unset REDIS_URL to use the memory \
         store"
            .to_owned(),
    )
}

/// A PostgreSQL store at `url`, indexed by user, that reports session ends, once PostgreSQL has
/// accepted it (the table and the index objects created when missing) and its listener listens.
#[cfg(feature = "postgres")]
fn pg_store(url: &str, limit: Option<usize>) -> Result<Serve, String> {
    let builder = actix_typed_session::PgStore::builder(url)
        .map_err(|e| format!("DATABASE_URL: {e}"))?
        .create_table_if_missing(true)
        .on_session_end(report);
    let builder = match limit {
        Some(max) => builder.index_limit("user", max, OverLimit::EndOldest),
        None => builder.indexes::<Device>(),
    };
    let store = actix_web::rt::System::new()
        .block_on(builder.connect())
        .map_err(|e| format!("cannot use PostgreSQL: {e}"))?;
    Ok(Box::new(move |settings| serve(store, settings)))
}

#[cfg(not(feature = "postgres"))]
fn pg_store(_url: &str, _limit: Option<usize>) -> Result<Serve, String> {
    Err(
        "DATABASE_URL is set, but this build has no PostgreSQL store: run it with `--features \
         postgres` (cargo run --example devices --features postgres), or unset DATABASE_URL to \
         use the memory store"
            .to_owned(),
    )
}

fn serve<S: SessionStore + Send>(store: S, settings: Settings) -> io::Result<()> {
    let Settings {
        port, ttl, secret, ..
    } = settings;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), secret.as_str())
                    .cookie_max_age(Some(ttl))
                    .rolling(true)
                    .build(),
            )
            .configure(routes)
    })
    .bind(("127.0.0.1", port))?;
    eprintln!("devices example on http://127.0.0.1:{port}/");
    actix_web::rt::System::new().block_on(server.run())
}
