//! Logging in and out with sessions.
//!
//! - `GET /` shows who is logged in.
//! - `GET /login?user=NAME[&remember=1]` starts a fresh session for NAME (`regenerate`: nothing
//!   from before the login survives, and the pre-login id is dead). With `remember=1` the session
//!   and its cookie last 30 days instead of the default hour.
//! - `GET /cart/add?item=X` adds to the session's cart: a login empties it (regenerate), `/sudo`
//!   keeps it (cycle_id).
//! - `GET /sudo` raises the privilege level and moves the session to a new id, keeping its data
//!   (`cycle_id`): a change of privilege must not keep an id an attacker could have planted.
//! - `GET /logout` destroys the session and expires the browser's cookie.
//!
//! Run it with `cargo run --example login` (`PORT`, default 8080; `SESSION_SECRET`).

use std::{env, time::Duration};

use actix_typed_session::{
    MemoryStore, Session, SessionCodec, SessionData, SessionError, SessionMiddleware,
};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;

#[derive(SessionData, Default)]
struct Account {
    user: Option<String>,
    sudo: bool,
    cart: Vec<String>,
}

#[derive(Deserialize)]
struct LoginQuery {
    user: String,
    #[serde(default)]
    remember: Option<String>,
}

#[derive(Deserialize)]
struct AddQuery {
    item: String,
}

async fn index(session: Session<Account>) -> String {
    match &session.user {
        Some(user) => format!(
            "logged in as {user}{} (cart: {:?}, {} ms left)\n",
            if session.sudo { " [sudo]" } else { "" },
            session.cart,
            session.cookie().max_age_ms().unwrap_or_default()
        ),
        None => format!("not logged in (cart: {:?})\n", session.cart),
    }
}

async fn login(
    mut session: Session<Account>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, SessionError> {
    session.regenerate().await?;
    session.user = Some(query.user.clone());
    if query.remember.as_deref() == Some("1") {
        session
            .cookie_mut()?
            .set_max_age(Some(Duration::from_secs(30 * 24 * 3600)));
    }
    Ok(HttpResponse::Ok().body(format!("welcome, {}\n", query.user)))
}

async fn add(mut session: Session<Account>, query: web::Query<AddQuery>) -> String {
    session.cart.push(query.item.clone());
    format!("cart: {:?}\n", session.cart)
}

async fn sudo(mut session: Session<Account>) -> Result<HttpResponse, SessionError> {
    if session.user.is_none() {
        return Ok(HttpResponse::Forbidden().body("log in first\n"));
    }
    session.cycle_id().await?;
    session.sudo = true;
    Ok(HttpResponse::Ok().body("privileges raised; session moved to a new id\n"))
}

async fn logout(session: Session<Account>) -> Result<HttpResponse, SessionError> {
    session.destroy().await?;
    Ok(HttpResponse::Ok().body("logged out\n"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let secret = env::var("SESSION_SECRET")
        .unwrap_or_else(|_| "development secret: set SESSION_SECRET in production".to_owned());
    // An empty secret is refused; say so once here rather than panic in every worker.
    SessionCodec::try_new("connect.sid", secret.as_str())
        .map_err(|e| std::io::Error::other(format!("SESSION_SECRET: {e}")))?;
    let store = MemoryStore::default();

    println!("login example on http://127.0.0.1:{port}/");
    HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), secret.as_str())
                    .cookie_max_age(Some(Duration::from_secs(3600)))
                    .build(),
            )
            .route("/", web::get().to(index))
            .route("/login", web::get().to(login))
            .route("/cart/add", web::get().to(add))
            .route("/sudo", web::get().to(sudo))
            .route("/logout", web::get().to(logout))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
