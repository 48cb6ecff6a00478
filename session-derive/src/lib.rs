//! `#[derive(SessionData)]` for [`actix-typed-session`](https://docs.rs/actix-typed-session).
//!
//! This crate is an implementation detail: depend on `actix-typed-session`, whose `derive` feature
//! (on by default) re-exports the derive next to the trait it implements. The generated code names
//! only `::actix_typed_session::__private`, whose contents may change in any release, so the two
//! crates are versioned together and pinned exactly.
//!
//! The derive is a pipeline, one file per step:
//!
//! - `ast`: the input in typed form, attributes parsed (`attr`), original syn nodes kept for spans;
//! - `valid`: the checks that need the whole input (shape, generics, stored names);
//! - `expand`: the impl, or, when anything was wrong, every error at once plus a placeholder impl,
//!   so that one mistake does not cascade into "trait not implemented" errors elsewhere.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod generics;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `SessionData` for a struct with named fields.
///
/// Each field is stored in the session record under its name, as JSON. A field missing from the
/// record reads as its default.
///
/// On the struct:
///
/// - `#[session(rename_all = "…")]`: store every field under its name in another case, one of
///   `"lowercase"`, `"UPPERCASE"`, `"PascalCase"`, `"camelCase"`, `"snake_case"`,
///   `"SCREAMING_SNAKE_CASE"`, `"kebab-case"`, `"SCREAMING-KEBAB-CASE"` (as serde's).
///
/// On a field:
///
/// - `#[session(rename = "…")]`: store the field under this name;
/// - `#[session(skip)]`: never store the field; it reads as its default;
/// - `#[session(default = "path::to::function")]`: the field's default is what this function
///   returns, instead of `Default::default()`.
///
/// The name `cookie` is reserved (the record keeps the cookie's settings under it), and no two
/// fields may be stored under one name.
///
/// Type and const parameters are supported: the impl requires each stored field's type to be
/// `Serialize + DeserializeOwned` (and `Default` where its default is used). Lifetime parameters
/// are not, as a session's data outlives the request it was read in.
#[proc_macro_derive(SessionData, attributes(session))]
pub fn derive_session_data(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
