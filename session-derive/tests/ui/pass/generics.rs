use actix_typed_session::SessionData;
use serde::{Deserialize, Serialize};

#[derive(SessionData)]
struct Wrapper<T, U = u32, const N: usize = 4>
where
    T: Clone,
{
    value: T,
    numbers: [U; N],
    #[session(default = "empty")]
    list: Vec<T>,
    #[session(skip)]
    scratch: Option<U>,
    plain: String,
}

fn empty<T>() -> Vec<T> {
    Vec::new()
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct Cart {
    items: Vec<String>,
}

fn requires_session_data<T: SessionData>() {}

fn main() {
    requires_session_data::<Wrapper<Cart>>();
    requires_session_data::<Wrapper<String, i8, 0>>();
}
