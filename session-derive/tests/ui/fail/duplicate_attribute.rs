use actix_typed_session::SessionData;

#[derive(SessionData)]
#[session(rename_all = "camelCase")]
#[session(rename_all = "kebab-case")]
struct Visit {
    #[session(rename = "uid", rename = "userId")]
    user_id: u64,
    #[session(skip)]
    #[session(skip)]
    scratch: Vec<u8>,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
