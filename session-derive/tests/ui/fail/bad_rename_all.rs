use actix_typed_session::SessionData;

#[derive(SessionData)]
#[session(rename_all = "camelcase")]
struct Visit {
    user_id: u64,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
