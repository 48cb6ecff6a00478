use actix_typed_session::SessionData;

#[derive(SessionData)]
#[session(rename_all = "camelCase")]
struct Visit {
    views: u32,
    #[session(rename = "uid")]
    user_id: Option<u64>,
    #[session(skip)]
    scratch: Vec<u8>,
    #[session(default = "defaults::theme")]
    theme: String,
    #[session(skip, default = "defaults::retries")]
    retries: u8,
    // Several attributes on one field, and several keys in one attribute.
    #[session(rename = "lang")]
    #[session(default = "defaults::language")]
    language: String,
    r#type: u8,
}

mod defaults {
    pub fn theme() -> String {
        "dark".to_owned()
    }

    pub fn retries() -> u8 {
        3
    }

    pub fn language() -> String {
        "en".to_owned()
    }
}

// A struct with no fields is a session with no typed data.
#[derive(SessionData)]
struct Nothing {}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
    requires_session_data::<Nothing>();
}
