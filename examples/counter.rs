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

    match env::var("REDIS_URL") {
        Err(_) => serve(MemoryStore::default(), port, secret).await,
        #[cfg(feature = "redis")]
        Ok(url) => {
            let store =
                actix_typed_session::RedisStore::new(&url).map_err(std::io::Error::other)?;
            println!("sessions in Redis at {url}");
            serve(store, port, secret).await
        }
        #[cfg(not(feature = "redis"))]
        Ok(_) => Err(std::io::Error::other(
            "REDIS_URL is set but this build has no Redis support: run with --features redis",
        )),
    }
}
