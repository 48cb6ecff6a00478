use actix_typed_session::SessionData;

#[derive(SessionData)]
struct Visit {
    #[session(default = "default_views")]
    views: u32,
}

fn default_views() -> String {
    "none".to_owned()
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
