use actix_typed_session::SessionData;

#[derive(SessionData)]
#[session(deny_unknown_fields)]
struct Visit {
    views: u32,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
