//! A fixed number of in-process requests through one server's app, for instruction-level
//! profiles (`valgrind --tool=callgrind`), which the machine's other work does not disturb:
//! `profile bare|memory|redis|cookie|actix-redis new|read|incr N [REDIS_URL]` (`cookie`,
//! `actix-redis`: actix-session with its `CookieSessionStore` or `RedisSessionStore`, configured
//! as the load servers configure it).
//!
//! Requests go through `actix_web::test::call_service`, as in the criterion benchmarks: no
//! sockets, no HTTP parsing. Each is checked for status 200.

use std::{process::ExitCode, time::Duration};

use actix_typed_session::{
    store::SessionStore, MemoryStore, RedisStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::header::{COOKIE, SET_COOKIE},
    rt::System,
    test, web, App, HttpResponse,
};

#[derive(SessionData, Default)]
#[session(rename_all = "camelCase")]
struct Visit {
    user_id: u64,
    name: String,
    visits: u64,
}

async fn new_visit(mut session: Session<Visit>) -> HttpResponse {
    session.user_id = 7;
    session.name = "ada".to_owned();
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

mod peer {
    use actix_session::Session;
    use actix_web::HttpResponse;

    pub(crate) async fn new_visit(session: Session) -> actix_web::Result<HttpResponse> {
        session.insert("userId", 7u64)?;
        session.insert("name", "ada")?;
        session.insert("visits", 1u64)?;
        Ok(HttpResponse::Ok().body("1"))
    }

    pub(crate) async fn read_visit(session: Session) -> actix_web::Result<HttpResponse> {
        Ok(match session.get::<u64>("visits")? {
            Some(visits) => HttpResponse::Ok().body(visits.to_string()),
            None => HttpResponse::Conflict().finish(),
        })
    }

    pub(crate) async fn incr_visit(session: Session) -> actix_web::Result<HttpResponse> {
        let Some(visits) = session.get::<u64>("visits")? else {
            return Ok(HttpResponse::Conflict().finish());
        };
        session.insert("visits", visits + 1)?;
        Ok(HttpResponse::Ok().body((visits + 1).to_string()))
    }
}

async fn bare() -> HttpResponse {
    HttpResponse::Ok().body("1")
}

/// Runs `n` requests to `path`, with the cookie of a session made first unless `path` is `/new`.
async fn drive<S, B>(app: S, path: &str, n: usize)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut cookie = None;
    if path != "/new" {
        let res = test::call_service(&app, test::TestRequest::get().uri("/new").to_request()).await;
        cookie = res
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    }
    for _ in 0..n {
        let mut req = test::TestRequest::get().uri(path);
        if let Some(cookie) = &cookie {
            req = req.insert_header((COOKIE, cookie.as_str()));
        }
        let res = test::call_service(&app, req.to_request()).await;
        assert!(res.status().is_success(), "{}", res.status());
    }
}

async fn with_store<St: SessionStore>(store: St, path: &str, n: usize) {
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store, "keyboard cat")
                    .cookie_max_age(Some(Duration::from_secs(3600)))
                    .build(),
            )
            .route("/new", web::get().to(new_visit))
            .route("/read", web::get().to(read_visit))
            .route("/incr", web::get().to(incr_visit)),
    )
    .await;
    drive(app, path, n).await;
}

/// actix-session's middleware with `store`, configured as the load servers configure it.
async fn with_peer<St: actix_session::storage::SessionStore + 'static>(
    store: St,
    path: &str,
    n: usize,
) {
    use actix_session::config::{PersistentSession, TtlExtensionPolicy};
    let lifecycle = PersistentSession::default()
        .session_ttl(actix_web::cookie::time::Duration::seconds(3600))
        .session_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest);
    let app = test::init_service(
        App::new()
            .wrap(
                actix_session::SessionMiddleware::builder(
                    store,
                    actix_web::cookie::Key::from(&[7u8; 64]),
                )
                .cookie_secure(false)
                .session_lifecycle(lifecycle)
                .build(),
            )
            .route("/new", web::get().to(peer::new_visit))
            .route("/read", web::get().to(peer::read_visit))
            .route("/incr", web::get().to(peer::incr_visit)),
    )
    .await;
    drive(app, path, n).await;
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(server), Some(workload), Some(n)) = (
        args.first(),
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: profile bare|memory|redis|cookie|actix-redis new|read|incr N [REDIS_URL]");
        return ExitCode::from(2);
    };
    let path = format!("/{workload}");
    let url = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    System::new().block_on(async {
        match server.as_str() {
            "bare" => {
                let app = test::init_service(
                    App::new()
                        .route("/new", web::get().to(bare))
                        .route("/read", web::get().to(bare))
                        .route("/incr", web::get().to(bare)),
                )
                .await;
                drive(app, &path, n).await;
            }
            "memory" => with_store(MemoryStore::new(), &path, n).await,
            "cookie" => {
                with_peer(actix_session::storage::CookieSessionStore::default(), &path, n).await
            }
            "actix-redis" => {
                let store = actix_session::storage::RedisSessionStore::new(url.as_str())
                    .await
                    .expect("a Redis URL");
                with_peer(store, &path, n).await
            }
            "redis" => with_store(RedisStore::new(&url).expect("a Redis URL"), &path, n).await,
            other => panic!("unknown server {other}"),
        }
    });
    ExitCode::SUCCESS
}
