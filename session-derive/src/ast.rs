//! The derive input in typed form: its shape, its fields with their parsed attributes and stored
//! names, and the original syn nodes for spans.

use proc_macro2::Span;
use syn::{
    ext::IdentExt, Data, DataEnum, DataStruct, DataUnion, DeriveInput, Fields, FieldsUnnamed,
    Ident, Type,
};

use crate::{attr, ctxt::Ctxt};

/// The type `#[derive(SessionData)]` is on.
pub(crate) struct Input<'a> {
    pub(crate) original: &'a DeriveInput,
    pub(crate) attrs: attr::Container,
    pub(crate) shape: Shape<'a>,
}

/// What kind of type it is. Only `Named` can be derived; `valid.rs` rejects the others.
pub(crate) enum Shape<'a> {
    Named(Vec<Field<'a>>),
    Tuple(&'a FieldsUnnamed),
    Unit(&'a DataStruct),
    Enum(&'a DataEnum),
    Union(&'a DataUnion),
}

/// A named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: attr::Field,
    /// Where the field is stored; `None` for a skipped field.
    pub(crate) stored: Option<StoredName>,
}

/// The name a field is stored under in the session record.
pub(crate) struct StoredName {
    pub(crate) name: String,
    /// The `rename` string, or else the field's name.
    pub(crate) span: Span,
    pub(crate) origin: Origin,
}

/// Where a stored name comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The field's own name.
    Field,
    /// `rename = "…"`.
    Rename,
    /// The field's name, changed by the struct's `rename_all`.
    RenameAll,
}

impl<'a> Input<'a> {
    /// Reads `node`, recording the mistakes in its attributes in `cx`.
    pub(crate) fn from_syn(cx: &mut Ctxt, node: &'a DeriveInput) -> Self {
        let attrs = attr::container(cx, &node.attrs);
        let shape = match &node.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(fields) => Shape::Named(
                    fields
                        .named
                        .iter()
                        .map(|field| Field::from_syn(cx, field, &attrs))
                        .collect(),
                ),
                Fields::Unnamed(fields) => Shape::Tuple(fields),
                Fields::Unit => Shape::Unit(data),
            },
            Data::Enum(data) => Shape::Enum(data),
            Data::Union(data) => Shape::Union(data),
        };
        Input {
            original: node,
            attrs,
            shape,
        }
    }

    /// The fields, when the input is a struct with named fields.
    pub(crate) fn named_fields(&self) -> Option<&[Field<'a>]> {
        match &self.shape {
            Shape::Named(fields) => Some(fields),
            _ => None,
        }
    }
}

impl<'a> Field<'a> {
    fn from_syn(cx: &mut Ctxt, field: &'a syn::Field, container: &attr::Container) -> Self {
        let ident = field
            .ident
            .as_ref()
            .expect("a field of a struct with named fields has a name");
        let attrs = attr::field(cx, &field.attrs);
        let stored = if attrs.skip.is_some() {
            None
        } else if let Some(lit) = &attrs.rename {
            Some(StoredName {
                name: lit.value(),
                span: lit.span(),
                origin: Origin::Rename,
            })
        } else {
            let name = ident.unraw().to_string();
            Some(match &container.rename_all {
                Some(rename_all) => StoredName {
                    name: rename_all.rule.apply(&name),
                    span: ident.span(),
                    origin: Origin::RenameAll,
                },
                None => StoredName {
                    name,
                    span: ident.span(),
                    origin: Origin::Field,
                },
            })
        };
        Field {
            ident,
            ty: &field.ty,
            attrs,
            stored,
        }
    }
}
