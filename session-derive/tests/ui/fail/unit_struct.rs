use actix_typed_session::SessionData;

#[derive(SessionData)]
struct Visit;

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
