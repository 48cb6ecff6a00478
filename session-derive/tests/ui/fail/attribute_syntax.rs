use actix_typed_session::SessionData;

#[derive(SessionData)]
struct Visit {
    #[session]
    views: u32,
    #[session = "uid"]
    user_id: u64,
    #[session(rename =)]
    theme: String,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
