use actix_typed_session::SessionData;

#[derive(SessionData)]
struct Visit {
    views: u32,
    #[session(rename = "cookie")]
    consent: bool,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
