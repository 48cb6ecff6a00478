//! Who is online: one line on stdout for every session that ends.
//!
//! - `GET /login?user=NAME` starts a fresh session for NAME (`regenerate`: a session the browser
//!   had before ends, reported as `regenerated`).
//! - `GET /logout` destroys the session (reported as `destroyed`).
//! - `GET /` tells who is logged in.
//! - A session that sees no request for `SESSION_TTL_MS` expires (reported as `expired`).
//!
//! Each end prints exactly one line:
//!
//! ```text
//! session ended id=<id> reason=<expired|destroyed|regenerated|cleared|evicted> user=<NAME>
//! ```
//!
//! Environment: `PORT` (default 8080), `SESSION_SECRET`, `SESSION_TTL_MS` (the server-side idle
//! lifetime, also the cookie's max age; default 30 minutes), `REDIS_URL` or `DATABASE_URL`
//! (neither: the memory store).
//!
//! Run it with `cargo run --example presence`, then
//! `curl -c jar -b jar 'localhost:8080/login?user=ada'` and `curl -c jar -b jar localhost:8080/logout`.
//!
//! With `REDIS_URL` (and `--features redis`), sessions live in Redis, and several processes
//! behind one load balancer print each end exactly once between them:
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 PORT=8081 cargo run --example presence --features redis &
//! REDIS_URL=redis://127.0.0.1:6379 PORT=8082 cargo run --example presence --features redis &
//! ```
//!
//! With `DATABASE_URL` (and `--features postgres`), sessions live in PostgreSQL, in
//! connect-pg-simple's `session` table (created when missing), and the processes likewise print
//! each end once between them. Sessions that a Node app on connect-pg-simple destroys or prunes
//! are printed too (as `destroyed` or `expired`): the store creates a trigger on the table for
//! them (see `PgStoreBuilder::report_deletes_by_others`).
//!
//! ```sh
//! DATABASE_URL=postgres://app:secret@127.0.0.1/app PORT=8081 cargo run --example presence --features postgres &
//! DATABASE_URL=postgres://app:secret@127.0.0.1/app PORT=8082 cargo run --example presence --features postgres &
//! ```

use std::{
    env,
    io::{self, Write as _},
    process::ExitCode,
    time::Duration,
};

use actix_typed_session::{
    store::{SessionEnd, SessionStore},
    MemoryStore, Session, SessionCodec, SessionData, SessionError, SessionMiddleware,
};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;

#[derive(SessionData, Default, Debug)]
pub(crate) struct Presence {
    pub(crate) user: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Login {
    user: String,
}

pub(crate) async fn login(
    mut session: Session<Presence>,
    query: web::Query<Login>,
) -> Result<HttpResponse, SessionError> {
    session.regenerate().await?;
    session.user = Some(query.user.clone());
    Ok(HttpResponse::Ok().body(format!("logged in as {}\n", query.user)))
}

pub(crate) async fn logout(session: Session<Presence>) -> Result<HttpResponse, SessionError> {
    session.destroy().await?;
    Ok(HttpResponse::Ok().body("logged out\n"))
}

async fn index(session: Session<Presence>) -> String {
    match &session.user {
        Some(user) => format!("logged in as {user}\n"),
        None => "not logged in\n".to_owned(),
    }
}

/// The session end callback: runs on the store's expiry (or listener) thread or on the worker
/// that ended the session, so it only writes one line.
fn report(end: SessionEnd) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{}", end_line(&end));
    let _ = out.flush();
}

/// `session ended id=<id> reason=<reason> user=<NAME>`.
pub(crate) fn end_line(end: &SessionEnd) -> String {
    let user = end.data::<Presence>().unwrap_or_default().user;
    format!(
        "session ended id={} reason={} user={}",
        end.id(),
        end.reason(),
        user.unwrap_or_default()
    )
}

fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name}={value:?} is not valid")),
        Err(_) => Ok(default),
    }
}

fn main() -> ExitCode {
    let settings = (|| {
        Ok::<_, String>((
            var::<u16>("PORT", 8080)?,
            var::<u64>("SESSION_TTL_MS", 30 * 60 * 1000)?,
        ))
    })();
    let (port, ttl_ms) = match settings {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("presence: {message}");
            return ExitCode::from(2);
        }
    };
    let secret = env::var("SESSION_SECRET").unwrap_or_else(|_| {
        eprintln!("presence: SESSION_SECRET is not set; using a development secret");
        "development secret: set SESSION_SECRET in production".to_owned()
    });
    // An empty secret is refused; say so once here rather than panic in every worker.
    if let Err(e) = SessionCodec::try_new("connect.sid", secret.as_str()) {
        eprintln!("presence: SESSION_SECRET: {e}");
        return ExitCode::from(2);
    }
    let ttl = Duration::from_millis(ttl_ms);
    let given = |name: &str| env::var(name).ok().filter(|url| !url.is_empty());
    let store = match (given("REDIS_URL"), given("DATABASE_URL")) {
        (Some(_), Some(_)) => Some(Err("set REDIS_URL or DATABASE_URL, not both".to_owned())),
        (Some(url), None) => Some(redis_store(&url)),
        (None, Some(url)) => Some(pg_store(&url)),
        (None, None) => None,
    };
    let served = match store {
        Some(Ok(served)) => served(secret, port, ttl),
        Some(Err(message)) => {
            eprintln!("presence: {message}");
            return ExitCode::from(2);
        }
        None => serve(
            MemoryStore::builder().on_session_end(report).build(),
            secret,
            port,
            ttl,
        ),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("presence: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How to serve on a store, once it is made.
type Serve = Box<dyn FnOnce(String, u16, Duration) -> io::Result<()>>;

/// A Redis store at `url` that reports session ends (its listener started), ready to serve.
#[cfg(feature = "redis")]
fn redis_store(url: &str) -> Result<Serve, String> {
    let store = actix_typed_session::RedisStore::builder(url)
        .and_then(|builder| builder.on_session_end(report).try_build())
        .map_err(|e| format!("REDIS_URL={url}: {e}"))?;
    Ok(Box::new(move |secret, port, ttl| {
        serve(store, secret, port, ttl)
    }))
}

#[cfg(not(feature = "redis"))]
fn redis_store(_url: &str) -> Result<Serve, String> {
    Err(
        "REDIS_URL is set, but this build has no Redis store: run it with `--features redis` \
         (cargo run --example presence --features redis), or unset REDIS_URL to use the memory \
         store"
            .to_owned(),
    )
}

/// A PostgreSQL store at `url` that reports session ends, those of a Node app sharing the table
/// included, once PostgreSQL has accepted it and its listener listens; ready to serve.
#[cfg(feature = "postgres")]
fn pg_store(url: &str) -> Result<Serve, String> {
    let builder = actix_typed_session::PgStore::builder(url)
        .map_err(|e| format!("DATABASE_URL: {e}"))?
        .create_table_if_missing(true)
        .report_deletes_by_others(true)
        .on_session_end(report);
    let store = actix_web::rt::System::new()
        .block_on(builder.connect())
        .map_err(|e| format!("cannot use PostgreSQL: {e}"))?;
    Ok(Box::new(move |secret, port, ttl| {
        serve(store, secret, port, ttl)
    }))
}

#[cfg(not(feature = "postgres"))]
fn pg_store(_url: &str) -> Result<Serve, String> {
    Err(
        "DATABASE_URL is set, but this build has no PostgreSQL store: run it with `--features \
         postgres` (cargo run --example presence --features postgres), or unset DATABASE_URL to \
         use the memory store"
            .to_owned(),
    )
}

fn serve<S: SessionStore + Send>(
    store: S,
    secret: String,
    port: u16,
    ttl: Duration,
) -> io::Result<()> {
    let server = HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), secret.as_str())
                    .cookie_max_age(Some(ttl))
                    .rolling(true)
                    .build(),
            )
            .route("/", web::get().to(index))
            .route("/login", web::get().to(login))
            .route("/logout", web::get().to(logout))
    })
    .bind(("127.0.0.1", port))?;
    eprintln!("presence example on http://127.0.0.1:{port}/");
    actix_web::rt::System::new().block_on(server.run())
}
