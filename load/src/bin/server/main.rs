//! One HTTP server of the load comparison: `server MODE PORT [STORE_URL]`, where `STORE_URL`
//! is the Redis URL (default `redis://127.0.0.1:6379`) or, for `typed-pg`, the PostgreSQL one.
//!
//! Every mode serves the same three routes with one worker on 127.0.0.1:
//!
//! - `GET /new`: a visitor without a cookie; the handler sets the session's three fields, so a new
//!   session is stored and its cookie sent.
//! - `GET /read`: a visit with the session cookie; the handler reads a field. Stores renew the
//!   session's lifetime (touch / TTL extension).
//! - `GET /incr`: a visit with the session cookie; the handler increments one field.
//!
//! `/read` and `/incr` answer `409 Conflict` when the request has no stored session, so a visit
//! whose cookie did not work counts as an error in the results rather than as a fast request.
//!
//! Modes: `bare` (no sessions, a counter in app state), `typed-memory`, `typed-redis`,
//! `typed-redis-touch-after` and `typed-pg` (this crate; `touch_after(60 s)`, and `PgStore` on
//! connect-pg-simple's table `session`), `actix-cookie` and `actix-redis` (actix-session).

mod actix;
mod bare;
mod typed;

use std::{io, process::ExitCode};

/// Every session lives one hour, renewed by each visit.
pub(crate) const MAX_AGE_SECS: u64 = 3600;

/// The session data of the workloads: the same three fields in every server.
pub(crate) const USER_ID: u64 = 7;
pub(crate) const NAME: &str = "ada";

fn usage() -> ExitCode {
    eprintln!(
        "usage: server bare|typed-memory|typed-redis|typed-redis-touch-after|typed-pg|actix-cookie|\
         actix-redis PORT [STORE_URL]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(port)) = (args.first(), args.get(1).and_then(|p| p.parse().ok())) else {
        return usage();
    };
    let url = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let result: io::Result<()> = actix_web::rt::System::new().block_on(async move {
        match mode.as_str() {
            "bare" => bare::run(port).await,
            "typed-memory" => typed::run_memory(port).await,
            "typed-redis" => typed::run_redis(port, &url).await,
            "typed-redis-touch-after" => typed::run_redis_touch_after(port, &url).await,
            "typed-pg" => typed::run_postgres(port, &url).await,
            "actix-cookie" => actix::run_cookie(port).await,
            "actix-redis" => actix::run_redis(port, &url).await,
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "unknown mode")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            eprintln!("server: {e}");
            usage()
        }
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}
