use actix_typed_session::SessionData;

#[derive(SessionData)]
#[session(rename_all = "camelCase")]
struct Visit {
    user_id: u64,
    #[session(rename = "userId")]
    legacy_user_id: u64,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
