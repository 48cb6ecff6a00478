//! A visit counter: `GET /` answers `views: N`, N counting this browser's visits from 1.
//!
//! Run it with `cargo run --example counter`, then open <http://127.0.0.1:8080/>. The cookie is
//! `SameSite=Lax`, and `Secure` only when the request is secure, so plain HTTP works here.
//!
//! Environment:
//! - `PORT`: the port to listen on (default 8080).
//! - `SESSION_SECRET`: the secret that signs session cookies. Without it a fixed development
//!   secret is used, which must never be used in production.
//! - `REDIS_URL`: keep sessions in Redis (build with `--features redis`), so that several counter
//!   processes share a visitor's count. Without it, sessions live in the process's memory store.
//!   `redis://user:password@host:port` for an ACL user, `rediss://…` for TLS (build with
//!   `--features redis,redis-rustls`).
//! - `REDIS_CA_CERT`: a PEM file; trust this CA for `rediss://` (instead of the system's roots).
//! - `REDIS_CLIENT_CERT` and `REDIS_CLIENT_KEY`: PEM files; present this client certificate
//!   (mutual TLS, for a server with `tls-auth-clients yes`).
//! - `REDIS_SENTINELS` (`host:port,host:port`, or sentinel URLs such as
//!   `rediss://:password@host:port`) with `REDIS_SENTINEL_MASTER` (the master's name), instead
//!   of `REDIS_URL`: sessions on the master that Redis Sentinel watches, followed across
//!   failovers. `REDIS_MASTER_PASSWORD`: the master's password, if it has one.
//! - `DATABASE_URL`: keep sessions in PostgreSQL instead (build with `--features postgres`), in
//!   connect-pg-simple's `session` table, created when missing:
//!   `postgres://user:password@host:port/dbname`, or libpq's `host=… user=… dbname=…`. For TLS,
//!   build with `--features postgres,postgres-rustls`: `?sslmode=require` (or ` sslmode=require`)
//!   encrypts without checking the server's certificate, as libpq does.
//! - `DATABASE_CA_CERT`: a PEM file; verify the server's certificate with this CA and its host
//!   name (libpq's `verify-full`). `DATABASE_VERIFY_SERVER=1`: the same with the system's roots.
//! - `DATABASE_CLIENT_CERT` and `DATABASE_CLIENT_KEY`: PEM files; present this client
//!   certificate (`cert` authentication).
//!
//! With Redis or PostgreSQL, the counter checks at start-up that it can reach it (a wrong
//! address, password, table, CA or client certificate ends it with an error that says which).

use std::{env, time::Duration};

use actix_typed_session::{
    store::SessionStore, MemoryStore, Session, SessionCodec, SessionData, SessionMiddleware,
};
use actix_web::{web, App, HttpServer};

/// Development-only secret used when `SESSION_SECRET` is not set.
const DEVELOPMENT_SECRET: &str = "development secret: set SESSION_SECRET in production";

#[derive(SessionData, Default)]
struct Visit {
    views: u64,
}

async fn index(mut session: Session<Visit>) -> String {
    session.views += 1;
    format!("views: {}\n", session.views)
}

async fn serve<S: SessionStore + Send>(store: S, port: u16, secret: String) -> std::io::Result<()> {
    println!("counter listening on http://127.0.0.1:{port}/");
    HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), secret.as_str())
                    .cookie_max_age(Some(Duration::from_secs(24 * 3600)))
                    .build(),
            )
            .route("/", web::get().to(index))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|e| std::io::Error::other(format!("PORT={p:?}: {e}")))?,
        Err(_) => 8080,
    };
    let secret = env::var("SESSION_SECRET").unwrap_or_else(|_| {
        eprintln!("SESSION_SECRET is not set: using the development secret");
        DEVELOPMENT_SECRET.to_owned()
    });
    // An empty secret is refused; say so once here rather than panic in every worker.
    SessionCodec::try_new("connect.sid", secret.as_str())
        .map_err(|e| std::io::Error::other(format!("SESSION_SECRET: {e}")))?;

    #[cfg(feature = "postgres")]
    if let Ok(url) = env::var("DATABASE_URL") {
        if env::var_os("REDIS_URL").is_some() || env::var_os("REDIS_SENTINELS").is_some() {
            return Err(std::io::Error::other(
                "set DATABASE_URL or REDIS_URL (REDIS_SENTINELS), not both",
            ));
        }
        let builder = actix_typed_session::PgStore::builder(&url)
            .map_err(|e| std::io::Error::other(format!("DATABASE_URL: {e}")))?;
        let store = postgres::tls(builder)?
            .create_table_if_missing(true)
            .connect()
            .await
            .map_err(|e| std::io::Error::other(format!("cannot use PostgreSQL: {e}")))?;
        println!("sessions in PostgreSQL");
        return serve(store, port, secret).await;
    }
    #[cfg(not(feature = "postgres"))]
    if env::var_os("DATABASE_URL").is_some() {
        return Err(std::io::Error::other(
            "DATABASE_URL is set but this build has no PostgreSQL support: run with --features \
             postgres",
        ));
    }
    #[cfg(feature = "redis")]
    if let Some(store) = redis::store().await? {
        return serve(store, port, secret).await;
    }
    #[cfg(not(feature = "redis"))]
    if env::var_os("REDIS_URL").is_some() || env::var_os("REDIS_SENTINELS").is_some() {
        return Err(std::io::Error::other(
            "REDIS_URL or REDIS_SENTINELS is set but this build has no Redis support: run with \
             --features redis",
        ));
    }
    serve(MemoryStore::default(), port, secret).await
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::{env, io};

    use actix_typed_session::store::PgStoreBuilder;

    /// The PEM file named by environment variable `name`, if it is set.
    #[cfg(feature = "postgres-rustls")]
    fn pem(name: &str) -> io::Result<Option<Vec<u8>>> {
        match env::var(name) {
            Err(_) => Ok(None),
            Ok(path) => std::fs::read(&path)
                .map(Some)
                .map_err(|e| io::Error::other(format!("{name}={path:?}: {e}"))),
        }
    }

    /// `builder` with the TLS settings of the environment (`sslmode` is in `DATABASE_URL`).
    #[cfg(feature = "postgres-rustls")]
    pub(crate) fn tls(mut builder: PgStoreBuilder) -> io::Result<PgStoreBuilder> {
        if env::var("DATABASE_VERIFY_SERVER").is_ok_and(|v| v == "1") {
            builder = builder.tls_verify_server(true);
        }
        if let Some(ca) = pem("DATABASE_CA_CERT")? {
            builder = builder.tls_ca_cert(ca);
        }
        match (pem("DATABASE_CLIENT_CERT")?, pem("DATABASE_CLIENT_KEY")?) {
            (Some(cert), Some(key)) => builder = builder.tls_client_cert(cert, key),
            (None, None) => {}
            _ => {
                return Err(io::Error::other(
                    "DATABASE_CLIENT_CERT and DATABASE_CLIENT_KEY go together",
                ))
            }
        }
        Ok(builder)
    }

    /// Without TLS support, TLS settings are an error (`sslmode=require` in `DATABASE_URL` is
    /// one from `PgStore::builder`).
    #[cfg(not(feature = "postgres-rustls"))]
    pub(crate) fn tls(builder: PgStoreBuilder) -> io::Result<PgStoreBuilder> {
        for name in [
            "DATABASE_CA_CERT",
            "DATABASE_VERIFY_SERVER",
            "DATABASE_CLIENT_CERT",
            "DATABASE_CLIENT_KEY",
        ] {
            if env::var_os(name).is_some() {
                return Err(io::Error::other(format!(
                    "{name} is set but this build has no TLS for PostgreSQL: run with \
                     --features postgres,postgres-rustls"
                )));
            }
        }
        Ok(builder)
    }
}

#[cfg(feature = "redis")]
mod redis {
    use std::{env, io};

    use actix_typed_session::{store::RedisStoreBuilder, RedisStore};

    /// The Redis store that the environment asks for, connected; `None` without `REDIS_URL`
    /// and `REDIS_SENTINELS`.
    pub(crate) async fn store() -> io::Result<Option<RedisStore>> {
        let builder = match (env::var("REDIS_URL"), env::var("REDIS_SENTINELS")) {
            (Ok(_), Ok(_)) => {
                return Err(io::Error::other(
                    "set REDIS_URL or REDIS_SENTINELS, not both",
                ))
            }
            (Ok(url), Err(_)) => {
                println!("sessions in Redis at {}", redacted(&url));
                RedisStore::builder(&url)
                    .map_err(|e| io::Error::other(format!("REDIS_URL: {e}")))?
            }
            (Err(_), Ok(sentinels)) => {
                let master = env::var("REDIS_SENTINEL_MASTER").map_err(|_| {
                    io::Error::other(
                        "REDIS_SENTINELS needs REDIS_SENTINEL_MASTER, the master's name",
                    )
                })?;
                let urls: Vec<String> = sentinels
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        if s.contains("://") {
                            s.to_owned()
                        } else {
                            format!("redis://{s}")
                        }
                    })
                    .collect();
                println!(
                    "sessions in Redis on the master {master:?} that the sentinels {} name",
                    urls.iter()
                        .map(|u| redacted(u))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut builder = RedisStore::sentinel_builder(urls, &master)
                    .map_err(|e| io::Error::other(format!("REDIS_SENTINELS: {e}")))?;
                if let Ok(password) = env::var("REDIS_MASTER_PASSWORD") {
                    builder = builder.master_auth(None, &password);
                }
                builder
            }
            (Err(_), Err(_)) => return Ok(None),
        };
        let store = tls(builder)?
            .connect()
            .await
            .map_err(|e| io::Error::other(format!("cannot use Redis: {e}")))?;
        Ok(Some(store))
    }

    /// `url` without its password.
    fn redacted(url: &str) -> String {
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &url[..scheme + 3], &url[at..])
            }
            _ => url.to_owned(),
        }
    }

    /// The PEM file named by environment variable `name`, if it is set.
    fn pem(name: &str) -> io::Result<Option<Vec<u8>>> {
        match env::var(name) {
            Err(_) => Ok(None),
            Ok(path) => std::fs::read(&path)
                .map(Some)
                .map_err(|e| io::Error::other(format!("{name}={path:?}: {e}"))),
        }
    }

    #[cfg(feature = "redis-rustls")]
    fn tls(mut builder: RedisStoreBuilder) -> io::Result<RedisStoreBuilder> {
        if let Some(ca) = pem("REDIS_CA_CERT")? {
            builder = builder.tls_ca_cert(ca);
        }
        match (pem("REDIS_CLIENT_CERT")?, pem("REDIS_CLIENT_KEY")?) {
            (Some(cert), Some(key)) => builder = builder.tls_client_cert(cert, key),
            (None, None) => {}
            _ => {
                return Err(io::Error::other(
                    "REDIS_CLIENT_CERT and REDIS_CLIENT_KEY go together",
                ))
            }
        }
        Ok(builder)
    }

    #[cfg(not(feature = "redis-rustls"))]
    fn tls(builder: RedisStoreBuilder) -> io::Result<RedisStoreBuilder> {
        for name in ["REDIS_CA_CERT", "REDIS_CLIENT_CERT", "REDIS_CLIENT_KEY"] {
            if pem(name)?.is_some() {
                return Err(io::Error::other(format!(
                    "{name} is set but this build has no TLS: run with --features redis,redis-rustls"
                )));
            }
        }
        Ok(builder)
    }
}
