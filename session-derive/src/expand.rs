//! The generated code: the `SessionData` impl, or the errors and a placeholder impl.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{spanned::Spanned, DeriveInput};

use crate::{
    ast::{Field, Input},
    ctxt::Ctxt,
    generics, valid,
};

/// Expands `#[derive(SessionData)]` on `node`.
pub(crate) fn derive(node: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let input = Input::from_syn(&mut cx, node);
    valid::check(&mut cx, &input);
    match (cx.finish(), input.named_fields()) {
        (Ok(()), Some(fields)) => impl_session_data(node, fields),
        (Err(errors), _) => {
            let errors = errors.to_compile_error();
            let placeholder = placeholder(node);
            quote!(#errors #placeholder)
        }
        (Ok(()), None) => unreachable!("valid.rs rejects all but structs with named fields"),
    }
}

fn impl_session_data(node: &DeriveInput, fields: &[Field<'_>]) -> TokenStream {
    let private = quote!(::actix_typed_session::__private);
    let ident = &node.ident;
    let generics = generics::with_bounds(&node.generics, fields);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    // The calls for a field carry the span of its type, so that a type that cannot be stored
    // (not `Serialize`, say) is reported at the field rather than at the derive.
    let decode = fields.iter().map(|field| {
        let (member, ty, default) = (field.ident, field.ty, default_fn(field));
        match &field.stored {
            Some(stored) => {
                let name = &stored.name;
                quote_spanned! {ty.span()=>
                    #member: ::actix_typed_session::__private::decode_field::<#ty>(
                        __fields, #name, #default,
                    )?
                }
            }
            None => quote!(#member: #default()),
        }
    });
    let diff = fields.iter().filter_map(|field| {
        let stored = field.stored.as_ref()?;
        let (member, ty, name, default) = (field.ident, field.ty, &stored.name, default_fn(field));
        Some(quote_spanned! {ty.span()=>
            ::actix_typed_session::__private::diff_field::<#ty>(
                __fields, #name, &self.#member, #default, __changes,
            )?;
        })
    });
    let indexes: Vec<_> = fields
        .iter()
        .filter_map(|field| {
            field.attrs.index.as_ref()?;
            let name = &field.stored.as_ref()?.name;
            Some(quote!(#name))
        })
        .collect();
    // Only types with indexed fields override the trait's empty list.
    let indexes = (!indexes.is_empty())
        .then(|| quote!(const __INDEXES: &'static [&'static str] = &[#(#indexes),*];));

    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #private::SessionData for #ident #ty_generics #where_clause {
                #indexes

                fn __decode(
                    __fields: &#private::Fields,
                ) -> ::core::result::Result<Self, #private::DecodeError> {
                    ::core::result::Result::Ok(Self { #(#decode,)* })
                }

                fn __diff(
                    &self,
                    __fields: &#private::Fields,
                    __changes: &mut #private::ChangeSet,
                ) -> ::core::result::Result<(), #private::EncodeError> {
                    #(#diff)*
                    ::core::result::Result::Ok(())
                }
            }
        };
    }
}

/// The function that makes the field's default: its `default = "path"`, or `Default::default`.
fn default_fn(field: &Field<'_>) -> TokenStream {
    match &field.attrs.default {
        Some(path) => quote!(#path),
        None => quote_spanned!(field.ty.span()=> ::core::default::Default::default),
    }
}

/// An impl whose methods are never meant to run, emitted next to the errors so that the uses of
/// the type do not fail too, with errors that would hide the ones that explain the mistake.
fn placeholder(node: &DeriveInput) -> TokenStream {
    let private = quote!(::actix_typed_session::__private);
    let ident = &node.ident;
    let mut generics = node.generics.clone();
    generics
        .make_where_clause()
        .predicates
        .push(syn::parse_quote!(Self: 'static));
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #private::SessionData for #ident #ty_generics #where_clause {
                fn __decode(
                    _: &#private::Fields,
                ) -> ::core::result::Result<Self, #private::DecodeError> {
                    ::core::unimplemented!("#[derive(SessionData)] failed")
                }

                fn __diff(
                    &self,
                    _: &#private::Fields,
                    _: &mut #private::ChangeSet,
                ) -> ::core::result::Result<(), #private::EncodeError> {
                    ::core::unimplemented!("#[derive(SessionData)] failed")
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_tokens(actual: TokenStream, expected: TokenStream) {
        assert_eq!(actual.to_string(), expected.to_string());
    }

    #[test]
    fn each_field_is_decoded_and_diffed_under_its_stored_name() {
        let node = syn::parse_quote! {
            #[session(rename_all = "camelCase")]
            struct Visit {
                views: u32,
                #[session(rename = "uid")]
                user_id: Option<u64>,
                #[session(skip)]
                tmp: Vec<u8>,
                #[session(default = "path::to::f")]
                theme: String,
                r#type: u8,
            }
        };
        let p = quote!(::actix_typed_session::__private);
        let default = quote!(::core::default::Default::default);
        assert_tokens(
            derive(&node),
            quote! {
                const _: () = {
                    #[automatically_derived]
                    impl #p::SessionData for Visit {
                        fn __decode(
                            __fields: &#p::Fields,
                        ) -> ::core::result::Result<Self, #p::DecodeError> {
                            ::core::result::Result::Ok(Self {
                                views: #p::decode_field::<u32>(__fields, "views", #default,)?,
                                user_id: #p::decode_field::<Option<u64> >(
                                    __fields, "uid", #default,
                                )?,
                                tmp: #default(),
                                theme: #p::decode_field::<String>(
                                    __fields, "theme", path::to::f,
                                )?,
                                r#type: #p::decode_field::<u8>(__fields, "type", #default,)?,
                            })
                        }

                        fn __diff(
                            &self,
                            __fields: &#p::Fields,
                            __changes: &mut #p::ChangeSet,
                        ) -> ::core::result::Result<(), #p::EncodeError> {
                            #p::diff_field::<u32>(
                                __fields, "views", &self.views, #default, __changes,
                            )?;
                            #p::diff_field::<Option<u64> >(
                                __fields, "uid", &self.user_id, #default, __changes,
                            )?;
                            #p::diff_field::<String>(
                                __fields, "theme", &self.theme, path::to::f, __changes,
                            )?;
                            #p::diff_field::<u8>(
                                __fields, "type", &self.r#type, #default, __changes,
                            )?;
                            ::core::result::Result::Ok(())
                        }
                    }
                };
            },
        );
    }

    #[test]
    fn generic_field_types_are_bounded_by_what_the_impl_does_with_them() {
        let node: DeriveInput = syn::parse_quote! {
            struct Tagged<T: Clone, U, const N: usize> where U: Copy {
                plain: u32,
                value: T,
                again: T,
                #[session(default = "make")]
                made: Vec<U>,
                #[session(skip)]
                scratch: [U; N],
            }
        };
        let output: syn::File = syn::parse2(derive(&node)).unwrap();
        let syn::Item::Const(item) = &output.items[0] else {
            panic!("expected `const _`");
        };
        let syn::Expr::Block(block) = &*item.expr else {
            panic!("expected a block");
        };
        let syn::Stmt::Item(syn::Item::Impl(imp)) = &block.block.stmts[0] else {
            panic!("expected the impl");
        };
        let p = quote!(::actix_typed_session::__private);
        let params = &imp.generics.params;
        let where_clause = &imp.generics.where_clause;
        assert_tokens(quote!(#params), quote!(T: Clone, U, const N: usize));
        assert_tokens(
            quote!(#where_clause),
            quote! {
                where
                    U: Copy,
                    T: 'static,
                    U: 'static,
                    T: #p::serde::Serialize + #p::serde::de::DeserializeOwned
                        + ::core::default::Default,
                    Vec<U>: #p::serde::Serialize + #p::serde::de::DeserializeOwned,
                    [U; N]: ::core::default::Default
            },
        );
    }

    #[test]
    fn mistakes_are_reported_next_to_a_placeholder_impl() {
        let node = syn::parse_quote! {
            #[session(rename_all = "camel")]
            struct Visit<'a> {
                #[session(renam = "x")]
                cookie: &'a str,
            }
        };
        let output = derive(&node).to_string();
        assert_eq!(output.matches("compile_error").count(), 4, "{output}");
        assert!(output.contains("unimplemented"), "{output}");
        assert!(!output.contains("decode_field"), "{output}");
    }

    #[test]
    fn indexed_fields_are_listed_by_their_stored_names() {
        let node = syn::parse_quote! {
            #[session(rename_all = "camelCase")]
            struct Account {
                #[session(index)]
                user_id: Option<u64>,
                #[session(index, rename = "team")]
                group: String,
                views: u32,
            }
        };
        let output = derive(&node).to_string();
        assert!(
            output.contains(
                r#"const __INDEXES : & 'static [& 'static str] = & ["userId" , "team"] ;"#
            ),
            "{output}"
        );
    }

    #[test]
    fn index_on_a_skipped_field_or_with_a_value_is_an_error() {
        for node in [
            syn::parse_quote! {
                struct Account {
                    #[session(skip, index)]
                    user: Option<u64>,
                }
            },
            syn::parse_quote! {
                struct Account {
                    #[session(index = "yes")]
                    user: Option<u64>,
                }
            },
            syn::parse_quote! {
                struct Account {
                    #[session(index, index)]
                    user: Option<u64>,
                }
            },
        ] {
            let output = derive(&node).to_string();
            assert_eq!(output.matches("compile_error").count(), 1, "{output}");
            assert!(output.contains("index"), "{output}");
        }
    }
}
