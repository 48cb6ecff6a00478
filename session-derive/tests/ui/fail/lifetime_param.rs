use actix_typed_session::SessionData;

#[derive(SessionData)]
struct Visit<'a> {
    last_page: &'a str,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit<'static>>();
}
