use actix_typed_session::SessionData;

struct Theme;

#[derive(SessionData)]
struct Visit {
    views: u32,
    theme: Theme,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
