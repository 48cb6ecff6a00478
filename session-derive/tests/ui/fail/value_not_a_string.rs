use actix_typed_session::SessionData;

#[derive(SessionData)]
#[session(rename_all = camelCase)]
struct Visit {
    #[session(rename = 42)]
    views: u32,
    #[session(default = default_theme)]
    theme: String,
}

fn default_theme() -> String {
    "dark".to_owned()
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
