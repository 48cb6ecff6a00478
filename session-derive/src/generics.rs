//! The where-clause of the generated impl.

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::{spanned::Spanned, GenericParam, Generics, Ident, Type, WherePredicate};

use crate::ast::Field;

/// The struct's generics, with the bounds the impl needs added to its where-clause:
///
/// - every type parameter `'static` (the trait requires `Self: 'static`);
/// - the type of each stored field that mentions a type or const parameter
///   `Serialize + DeserializeOwned`;
/// - the type of each field that mentions one and defaults to `Default::default()`, `Default`.
///
/// Types that mention no parameter get no bound: the calls in the impl's body check them, with
/// errors that point at the field.
pub(crate) fn with_bounds(generics: &Generics, fields: &[Field<'_>]) -> Generics {
    let params: Vec<&Ident> = generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(&param.ident),
            GenericParam::Const(param) => Some(&param.ident),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    if params.is_empty() {
        return generics.clone();
    }

    let private = quote!(::actix_typed_session::__private);
    let mut predicates: Vec<WherePredicate> = generics
        .type_params()
        .map(|param| {
            let ident = &param.ident;
            syn::parse_quote!(#ident: 'static)
        })
        .collect();

    // One predicate per distinct field type, in the order of the fields.
    let mut bounds: Vec<(String, &Type, Vec<TokenStream>)> = Vec::new();
    for field in fields {
        if !mentions(field.ty.to_token_stream(), &params) {
            continue;
        }
        let span = field.ty.span();
        let mut needs = Vec::new();
        if field.stored.is_some() {
            needs.push(quote_spanned!(span=> #private::serde::Serialize));
            needs.push(quote_spanned!(span=> #private::serde::de::DeserializeOwned));
        }
        if field.attrs.default.is_none() {
            needs.push(quote_spanned!(span=> ::core::default::Default));
        }
        let key = field.ty.to_token_stream().to_string();
        let index = match bounds.iter().position(|(have, ..)| *have == key) {
            Some(index) => index,
            None => {
                bounds.push((key, field.ty, Vec::new()));
                bounds.len() - 1
            }
        };
        let have = &mut bounds[index].2;
        for need in needs {
            if !have.iter().any(|had| had.to_string() == need.to_string()) {
                have.push(need);
            }
        }
    }
    for (_, ty, needs) in bounds.into_iter().filter(|(.., needs)| !needs.is_empty()) {
        predicates.push(syn::parse_quote_spanned!(ty.span()=> #ty: #(#needs)+*));
    }

    let mut generics = generics.clone();
    generics.make_where_clause().predicates.extend(predicates);
    generics
}

/// Whether `tokens` name one of `params`.
fn mentions(tokens: TokenStream, params: &[&Ident]) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => params.iter().any(|param| **param == ident),
        TokenTree::Group(group) => mentions(group.stream(), params),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}
