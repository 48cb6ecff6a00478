//! The ceiling: the same routes on actix-web without sessions.

use std::{cell::Cell, io};

use actix_web::{web, App, HttpResponse, HttpServer};

/// Stands in for the session's visit counter.
struct Visits(Cell<u64>);

async fn new_visit() -> HttpResponse {
    HttpResponse::Ok().body("1")
}

async fn read_visit(visits: web::Data<Visits>) -> HttpResponse {
    HttpResponse::Ok().body(visits.0.get().to_string())
}

async fn incr_visit(visits: web::Data<Visits>) -> HttpResponse {
    visits.0.set(visits.0.get() + 1);
    HttpResponse::Ok().body(visits.0.get().to_string())
}

pub(crate) async fn run(port: u16) -> io::Result<()> {
    HttpServer::new(|| {
        App::new()
            .app_data(web::Data::new(Visits(Cell::new(1))))
            .route("/new", web::get().to(new_visit))
            .route("/read", web::get().to(read_visit))
            .route("/incr", web::get().to(incr_visit))
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
