use actix_typed_session::SessionData;

#[derive(SessionData)]
struct Visit {
    #[session(renam = "userId")]
    user_id: u64,
    #[session(flatten)]
    extra: Vec<u8>,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
