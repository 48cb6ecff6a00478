use actix_typed_session::SessionData;

#[derive(SessionData)]
#[session(rename_all = "camelCase")]
struct Visit {
    views: u32,
    session_created_at: String,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
