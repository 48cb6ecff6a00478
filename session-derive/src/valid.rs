//! The checks that need more than one attribute: the shape of the type, its generics, and the names
//! its fields are stored under.

use std::collections::HashMap;

use quote::quote;
use syn::GenericParam;

use crate::{
    ast::{Field, Input, Origin, Shape},
    ctxt::Ctxt,
};

/// The top-level keys of a session record that are not data fields, each with what it holds and
/// a name to suggest instead: the cookie (as express-session keeps it), and the session's creation
/// time (`CREATED_AT` in the main crate's `lifetime.rs`).
const RESERVED: &[(&str, &str, &str)] = &[
    ("cookie", "its cookie's settings", "cookieValue"),
    (
        "sessionCreatedAt",
        "the session's creation time (for the absolute timeout)",
        "createdAt",
    ),
];

/// Records in `cx` every reason why `input` cannot be derived.
pub(crate) fn check(cx: &mut Ctxt, input: &Input<'_>) {
    let node = input.original;
    let ident = &node.ident;
    let fields_instead = format!("write `struct {ident} {{ field: Type, ... }}`");
    match &input.shape {
        Shape::Named(_) => {}
        Shape::Enum(data) => {
            let keyword = data.enum_token;
            cx.error_spanned_by(
                quote!(#keyword #ident),
                format_args!(
                    "SessionData cannot be derived for an enum: a session stores named fields. \
                     Keep the enum in a field instead, as `struct MySession {{ state: {ident} }}` \
                     with `{ident}: Serialize + Deserialize`",
                ),
            );
        }
        Shape::Union(data) => {
            let keyword = data.union_token;
            cx.error_spanned_by(
                quote!(#keyword #ident),
                format_args!(
                    "SessionData cannot be derived for a union: a session stores named fields; \
                     {fields_instead}",
                ),
            );
        }
        Shape::Tuple(fields) => cx.error_spanned_by(
            fields,
            format_args!(
                "SessionData needs named fields, as each field is stored under its name; \
                 {fields_instead}",
            ),
        ),
        Shape::Unit(data) => {
            let (keyword, semi) = (data.struct_token, data.semi_token);
            cx.error_spanned_by(
                quote!(#keyword #ident #semi),
                format_args!(
                    "SessionData needs named fields, as each field is stored under its name; \
                     {fields_instead} (or `struct {ident} {{}}` for a session with no data)",
                ),
            );
        }
    }

    for param in &node.generics.params {
        if let GenericParam::Lifetime(param) = param {
            cx.error_spanned_by(
                param,
                "SessionData cannot have lifetime parameters: session data is decoded into owned \
                 values that outlive the request. Use owned types instead (`String` for `&str`, \
                 `Vec<T>` for `&[T]`)",
            );
        }
    }

    if let Some(fields) = input.named_fields() {
        check_fields(cx, input, fields);
    }
}

fn check_fields(cx: &mut Ctxt, input: &Input<'_>, fields: &[Field<'_>]) {
    let mut by_name: HashMap<&str, &Field<'_>> = HashMap::new();
    for field in fields {
        if let (Some(skip), Some(rename)) = (&field.attrs.skip, &field.attrs.rename) {
            cx.error_spanned_by(
                rename,
                format_args!(
                    "`rename` has no effect on a skipped field, which is never stored: remove \
                     `rename = {:?}`, or remove `{}` to store the field",
                    rename.value(),
                    quote!(#skip),
                ),
            );
        }
        if let (Some(skip), Some(index)) = (&field.attrs.skip, &field.attrs.index) {
            cx.error_spanned_by(
                index,
                format_args!(
                    "`index` has no effect on a skipped field, which is never stored: remove \
                     `index`, or remove `{}` to store the field",
                    quote!(#skip),
                ),
            );
        }
        let Some(stored) = &field.stored else {
            continue;
        };
        let ident = field.ident;
        if let Some((reserved, holds, instead)) =
            RESERVED.iter().find(|(name, ..)| *name == stored.name)
        {
            let what = match stored.origin {
                Origin::Field => format!("field `{ident}` would be stored under"),
                Origin::Rename => "`rename` cannot choose".to_owned(),
                Origin::RenameAll => format!(
                    "`rename_all = {:?}` stores field `{ident}` under",
                    input
                        .attrs
                        .rename_all
                        .as_ref()
                        .map(|r| r.lit.value())
                        .unwrap_or_default(),
                ),
            };
            cx.push(syn::Error::new(
                stored.span,
                format_args!(
                    "{what} the reserved name \"{reserved}\": the session record keeps {holds} \
                     under it. Store the field under another name, e.g. \
                     `#[session(rename = \"{instead}\")]`",
                ),
            ));
        } else if stored.name.is_empty() {
            cx.push(syn::Error::new(
                stored.span,
                "a field cannot be stored under the empty name; write a name, or `#[session(skip)]` \
                 to not store the field",
            ));
        } else if let Some(first) = by_name.get(stored.name.as_str()) {
            cx.push(syn::Error::new(
                stored.span,
                format_args!(
                    "fields `{}` and `{ident}` are both stored under {:?}: give one of them \
                     another name with `#[session(rename = \"...\")]`",
                    first.ident, stored.name,
                ),
            ));
        } else {
            by_name.insert(&stored.name, field);
        }
    }
}
