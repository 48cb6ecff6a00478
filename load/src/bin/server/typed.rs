//! This crate, with its defaults (`resave(false)`, `save_uninitialized(false)`, not rolling): an
//! unmodified visit touches the stored session, a modified one writes the changed field.

use std::{io, time::Duration};

use actix_typed_session::{
    store::SessionStore, MemoryStore, PgStore, RedisStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::{MAX_AGE_SECS, NAME, USER_ID};

#[derive(SessionData, Default)]
#[session(rename_all = "camelCase")]
struct Visit {
    user_id: u64,
    name: String,
    visits: u64,
}

async fn new_visit(mut session: Session<Visit>) -> HttpResponse {
    session.user_id = USER_ID;
    session.name = NAME.to_owned();
    session.visits = 1;
    HttpResponse::Ok().body("1")
}

async fn read_visit(session: Session<Visit>) -> HttpResponse {
    if session.visits == 0 {
        return HttpResponse::Conflict().finish();
    }
    HttpResponse::Ok().body(session.visits.to_string())
}

async fn incr_visit(mut session: Session<Visit>) -> HttpResponse {
    if session.visits == 0 {
        return HttpResponse::Conflict().finish();
    }
    session.visits += 1;
    HttpResponse::Ok().body(session.visits.to_string())
}

async fn run<S: SessionStore + Send>(store: S, port: u16) -> io::Result<()> {
    HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), "keyboard cat")
                    .cookie_max_age(Some(Duration::from_secs(MAX_AGE_SECS)))
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

pub(crate) async fn run_memory(port: u16) -> io::Result<()> {
    run(MemoryStore::new(), port).await
}

pub(crate) async fn run_redis(port: u16, url: &str) -> io::Result<()> {
    let store = RedisStore::new(url).map_err(io::Error::other)?;
    run(store, port).await
}

/// RedisStore with `touch_after(60 s)`: a read-only visit renews the session at most once a
/// minute, and is otherwise a pipelined `GET` and `PTTL`.
pub(crate) async fn run_redis_touch_after(port: u16, url: &str) -> io::Result<()> {
    let store = RedisStore::builder(url)
        .map_err(io::Error::other)?
        .touch_after(Duration::from_secs(60))
        .build();
    run(store, port).await
}

/// PgStore on connect-pg-simple's table `session`, which must exist (`scripts/bench` creates it
/// from connect-pg-simple's `table.sql`, so that both servers use the same table). Connects
/// before serving, so that a wrong URL fails here rather than in every request.
pub(crate) async fn run_postgres(port: u16, url: &str) -> io::Result<()> {
    let store = PgStore::builder(url)
        .map_err(io::Error::other)?
        .connect()
        .await
        .map_err(io::Error::other)?;
    run(store, port).await
}
