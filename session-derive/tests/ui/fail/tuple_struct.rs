use actix_typed_session::SessionData;

#[derive(SessionData)]
struct Visit(u32, Option<u64>);

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
