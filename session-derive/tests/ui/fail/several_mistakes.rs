use actix_typed_session::SessionData;

#[derive(SessionData)]
#[session(rename_all = "camel")]
struct Visit<'a> {
    cookie: String,
    #[session(renam = "page")]
    last_page: &'a str,
    #[session(rename = "views")]
    count: u32,
    views: u32,
    #[session(skip, rename = "tmp")]
    scratch: Vec<u8>,
    #[session(default = "not a path")]
    theme: String,
    #[session(skip, skip)]
    retries: u8,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Visit<'static>>();
}
