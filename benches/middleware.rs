//! In-process cost of one request through the session middleware on a `MemoryStore`, against the
//! same handlers on bare actix-web: a new visitor (a session created and saved, `Set-Cookie`), a
//! read-only visit (a valid cookie; the handler reads a field; the store is touched) and a
//! modifying visit (one field incremented and saved).
//!
//! Each request is built, run through `actix_web::test::call_service` and checked for status 200;
//! the handlers answer 409 when the session they expect is missing, so a broken cookie cannot
//! pass for a fast request.

use std::{
    cell::Cell,
    hint::black_box,
    time::{Duration, Instant},
};

use actix_typed_session::{
    store::SessionStore, MemoryStore, Session, SessionData, SessionMiddleware,
};
use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::{
        header::{COOKIE, SET_COOKIE},
        StatusCode,
    },
    rt::{System, SystemRunner},
    test, web, App, HttpResponse,
};
use criterion::{criterion_group, criterion_main, Criterion};

/// The session of the workloads: three fields, as the load comparison uses.
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

/// The same handlers without sessions: a counter in app state stands in for the session.
struct Counter(Cell<u64>);

async fn bare_new() -> HttpResponse {
    HttpResponse::Ok().body("1")
}

async fn bare_read(counter: web::Data<Counter>) -> HttpResponse {
    HttpResponse::Ok().body(counter.0.get().to_string())
}

async fn bare_incr(counter: web::Data<Counter>) -> HttpResponse {
    counter.0.set(counter.0.get() + 1);
    HttpResponse::Ok().body(counter.0.get().to_string())
}

/// Runs `iters` requests made by `request` through `app`, timing them all.
fn run<S, B>(
    sys: &SystemRunner,
    app: &S,
    request: &dyn Fn() -> actix_http::Request,
    iters: u64,
) -> Duration
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    sys.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            let res = test::call_service(app, request()).await;
            assert_eq!(res.status(), StatusCode::OK);
            black_box(res);
        }
        start.elapsed()
    })
}

fn get(path: &'static str) -> impl Fn() -> actix_http::Request {
    move || test::TestRequest::get().uri(path).to_request()
}

fn get_with_cookie(path: &'static str, cookie: String) -> impl Fn() -> actix_http::Request {
    move || {
        test::TestRequest::get()
            .uri(path)
            .insert_header((COOKIE, cookie.as_str()))
            .to_request()
    }
}

fn middleware(c: &mut Criterion) {
    let sys = System::new();
    let mut group = c.benchmark_group("request");

    let bare = sys.block_on(test::init_service(
        App::new()
            .app_data(web::Data::new(Counter(Cell::new(1))))
            .route("/new", web::get().to(bare_new))
            .route("/read", web::get().to(bare_read))
            .route("/incr", web::get().to(bare_incr)),
    ));
    for (name, path) in [
        ("bare_new", "/new"),
        ("bare_read", "/read"),
        ("bare_incr", "/incr"),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| run(&sys, &bare, &get(path), iters))
        });
    }

    let store = MemoryStore::new();
    let app = sys.block_on(test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), "keyboard cat")
                    .cookie_max_age(Some(Duration::from_secs(3600)))
                    .build(),
            )
            .route("/new", web::get().to(new_visit))
            .route("/read", web::get().to(read_visit))
            .route("/incr", web::get().to(incr_visit)),
    ));

    group.bench_function("session_new_visitor", |b| {
        b.iter_custom(|iters| {
            let elapsed = run(&sys, &app, &get("/new"), iters);
            // Empty the store between batches, untimed, so that it does not grow without bound.
            sys.block_on(store.clear()).unwrap();
            elapsed
        })
    });

    // One session, created through the middleware, for the visits that bring a cookie.
    let cookie = sys.block_on(async {
        let res = test::call_service(&app, get("/new")()).await;
        let set_cookie = res
            .headers()
            .get(SET_COOKIE)
            .expect("a new session sets its cookie");
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        pair.to_owned()
    });
    group.bench_function("session_read_only", |b| {
        let request = get_with_cookie("/read", cookie.clone());
        b.iter_custom(|iters| run(&sys, &app, &request, iters))
    });
    group.bench_function("session_modify_one_field", |b| {
        let request = get_with_cookie("/incr", cookie.clone());
        b.iter_custom(|iters| run(&sys, &app, &request, iters))
    });
    group.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);
