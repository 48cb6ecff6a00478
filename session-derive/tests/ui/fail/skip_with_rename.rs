use actix_typed_session::SessionData;

#[derive(SessionData)]
struct Visit {
    #[session(skip, rename = "scratchpad")]
    scratch: Vec<u8>,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
