// The generated code names everything by absolute paths, so it compiles without the prelude and
// next to items that shadow the names it uses.
#![no_implicit_prelude]
#![deny(warnings, unused_qualifications, unused_results)]

mod core {}
mod actix_typed_session {}
mod __private {}

#[allow(dead_code)]
struct Ok;
#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Default;
#[allow(dead_code)]
struct Fields;

#[derive(::actix_typed_session::SessionData)]
struct Visit {
    views: u32,
    fields: ::std::string::String,
    changes: ::std::option::Option<u64>,
    #[session(skip)]
    #[allow(dead_code)]
    __fields: u8,
}

fn requires_session_data<T: ::actix_typed_session::SessionData>() {}

fn main() {
    requires_session_data::<Visit>();
}
