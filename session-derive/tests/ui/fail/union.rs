use actix_typed_session::SessionData;

#[derive(SessionData)]
union Visit {
    views: u32,
    user_id: u64,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
