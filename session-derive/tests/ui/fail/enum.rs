use actix_typed_session::SessionData;

#[derive(SessionData)]
enum Visit {
    Anonymous,
    LoggedIn { user_id: u64 },
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
