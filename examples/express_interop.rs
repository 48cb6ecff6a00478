//! The Rust half of a shared login with a Node express-session app (its twin is
//! `tests/interop/server.js`): both read and write the same sessions in one Redis, in
//! connect-redis's layout, with the same signed `connect.sid` cookie.
//!
//! Routes: `GET /login?user=NAME` (keeps the data under a new id, sets `user`), `GET /visit`
//! (`views += 1`), `GET /whoami` (body `user=<NAME or none> views=<N>`), `GET /logout` (destroys
//! the session).
//!
//! Environment: `PORT` (default 8080), `SESSION_SECRET` (several, comma-separated: the first
//! signs, all verify), `REDIS_URL` (default `redis://127.0.0.1:6379`).
//!
//! Run with `cargo run --example express_interop --features redis`.

use std::{env, time::Duration};

use actix_typed_session::{RedisStore, Session, SessionData, SessionError, SessionMiddleware};
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
    Ok(format!("user={}", session.user.as_deref().unwrap_or_default()))
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
    Ok(HttpResponse::Ok().content_type("text/plain").body("logged out"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let secrets: Vec<String> = env::var("SESSION_SECRET")
        .unwrap_or_else(|_| "development secret".to_owned())
        .split(',')
        .map(str::to_owned)
        .collect();
    let url = env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let store = RedisStore::new(&url).map_err(std::io::Error::other)?;

    println!("rust twin listening on {port}");
    HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), secrets.clone())
                    .cookie_max_age(Some(Duration::from_secs(3600)))
                    .build(),
            )
            .route("/login", web::get().to(login))
            .route("/visit", web::get().to(visit))
            .route("/whoami", web::get().to(whoami))
            .route("/logout", web::get().to(logout))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
