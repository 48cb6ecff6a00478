//! Parsing of `#[session(...)]` attributes.
//!
//! Mistakes within one attribute (unknown or repeated keys, values of the wrong form) are recorded
//! here, and parsing goes on with the next key. How the attributes of a field combine with each
//! other and with the rest of the struct is checked in `valid.rs`.

use heck::{
    ToKebabCase, ToLowerCamelCase, ToPascalCase, ToShoutyKebabCase, ToShoutySnakeCase, ToSnakeCase,
};
use proc_macro2::TokenTree;
use quote::ToTokens;
use syn::{meta::ParseNestedMeta, Attribute, Expr, ExprLit, ExprPath, Lit, LitStr, Path, Token};

use crate::ctxt::Ctxt;

/// The attributes of the struct.
#[derive(Default)]
pub(crate) struct Container {
    /// `rename_all = "…"`, when its value is a known case.
    pub(crate) rename_all: Option<RenameAll>,
}

/// `rename_all = "…"`.
pub(crate) struct RenameAll {
    pub(crate) rule: RenameRule,
    pub(crate) lit: LitStr,
}

/// The attributes of one field.
#[derive(Default)]
pub(crate) struct Field {
    /// `rename = "…"`.
    pub(crate) rename: Option<LitStr>,
    /// The `skip` keyword, when present.
    pub(crate) skip: Option<Path>,
    /// `default = "path"`, when the string is a path.
    pub(crate) default: Option<ExprPath>,
    /// The `index` keyword, when present: stores can index sessions by this field's value.
    pub(crate) index: Option<Path>,
}

const CONTAINER_KEYS: &[&str] = &["rename_all"];
const FIELD_KEYS: &[&str] = &["rename", "skip", "default", "index"];

/// Parses the `#[session(...)]` attributes of the struct.
pub(crate) fn container(cx: &mut Ctxt, attrs: &[Attribute]) -> Container {
    let mut out = Container::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("session")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                let Some(lit) = string_value(cx, &meta, "rename_all = \"camelCase\"")? else {
                    return Ok(());
                };
                if out.rename_all.is_some() {
                    duplicate(cx, &meta.path);
                } else {
                    match RenameRule::from_name(&lit.value()) {
                        Ok(rule) => out.rename_all = Some(RenameAll { rule, lit }),
                        Err(message) => cx.error_spanned_by(&lit, message),
                    }
                }
            } else if let Some(key) = FIELD_KEYS.iter().find(|key| meta.path.is_ident(key)) {
                cx.error_spanned_by(
                    &meta.path,
                    format_args!(
                        "`{key}` is a field attribute: put `#[session({key}{})]` on a field \
                         (on the struct, only `rename_all = \"...\"` is allowed)",
                        if *key == "skip" { "" } else { " = \"...\"" },
                    ),
                );
                skip_value(&meta)?;
            } else {
                unknown(cx, &meta, "struct", CONTAINER_KEYS)?;
            }
            Ok(())
        });
        if let Err(error) = result {
            cx.push(error);
        }
    }
    out
}

/// Parses the `#[session(...)]` attributes of a field.
pub(crate) fn field(cx: &mut Ctxt, attrs: &[Attribute]) -> Field {
    let mut out = Field::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("session")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let Some(lit) = string_value(cx, &meta, "rename = \"name\"")? else {
                    return Ok(());
                };
                if out.rename.is_some() {
                    duplicate(cx, &meta.path);
                } else {
                    out.rename = Some(lit);
                }
            } else if meta.path.is_ident("skip") {
                if !(meta.input.is_empty() || meta.input.peek(Token![,])) {
                    cx.error_spanned_by(&meta.path, "`skip` takes no value: write `skip`");
                    skip_value(&meta)?;
                }
                if out.skip.is_some() {
                    duplicate(cx, &meta.path);
                } else {
                    out.skip = Some(meta.path.clone());
                }
            } else if meta.path.is_ident("index") {
                if !(meta.input.is_empty() || meta.input.peek(Token![,])) {
                    cx.error_spanned_by(&meta.path, "`index` takes no value: write `index`");
                    skip_value(&meta)?;
                }
                if out.index.is_some() {
                    duplicate(cx, &meta.path);
                } else {
                    out.index = Some(meta.path.clone());
                }
            } else if meta.path.is_ident("default") {
                if !meta.input.peek(Token![=]) {
                    cx.error_spanned_by(
                        &meta.path,
                        "`default` needs the function that makes the default: write \
                         `default = \"path::to::function\"` (without `default`, a field already \
                         defaults to `Default::default()`)",
                    );
                    return skip_value(&meta);
                }
                let example = "default = \"path::to::function\"";
                let Some(lit) = string_value(cx, &meta, example)? else {
                    return Ok(());
                };
                if out.default.is_some() {
                    duplicate(cx, &meta.path);
                } else {
                    match lit.parse::<ExprPath>() {
                        Ok(path) => out.default = Some(path),
                        Err(_) => cx.error_spanned_by(
                            &lit,
                            format_args!(
                                "`default` must be the path of a function that returns the \
                                 field's default, like `{example}`; {:?} is not a path",
                                lit.value(),
                            ),
                        ),
                    }
                }
            } else if meta.path.is_ident("rename_all") {
                cx.error_spanned_by(
                    &meta.path,
                    "`rename_all` is a struct attribute: put it on the struct, or rename this \
                     field alone with `rename = \"...\"`",
                );
                skip_value(&meta)?;
            } else {
                unknown(cx, &meta, "field", FIELD_KEYS)?;
            }
            Ok(())
        });
        if let Err(error) = result {
            cx.push(error);
        }
    }
    out
}

/// Parses `= "…"` after a key. When the value is missing or not a string, records an error that
/// shows `example`, skips the value and returns `None`.
fn string_value(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    let key = key_name(&meta.path);
    let fork = meta.input.fork();
    let no_value = fork.parse::<Token![=]>().is_err() || fork.is_empty() || fork.peek(Token![,]);
    if no_value {
        cx.error_spanned_by(
            &meta.path,
            format_args!("`{key}` needs a value: write `{example}`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    match meta.value()?.parse::<Expr>()? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(lit)),
        Expr::Path(path) => {
            let text = key_name(&path.path);
            cx.error_spanned_by(
                &path,
                format_args!("the value of `{key}` is a string: write `{key} = \"{text}\"`"),
            );
            Ok(None)
        }
        other => {
            cx.error_spanned_by(
                &other,
                format_args!("the value of `{key}` is a string: write `{example}`"),
            );
            Ok(None)
        }
    }
}

/// Records that the key of `meta` is not a session attribute, and skips its value.
fn unknown(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    place: &str,
    known: &[&str],
) -> syn::Result<()> {
    let key = key_name(&meta.path);
    let list = known
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = match known.iter().find(|known| similar(&key, known)) {
        Some(suggestion) => format!(
            "unknown session attribute `{key}`: did you mean `{suggestion}`? \
             (on a {place}: {list})"
        ),
        None => format!("unknown session attribute `{key}` (on a {place}: {list})"),
    };
    cx.error_spanned_by(&meta.path, message);
    skip_value(meta)
}

fn duplicate(cx: &mut Ctxt, path: &Path) {
    cx.error_spanned_by(
        path,
        format_args!(
            "duplicate session attribute `{}`: keep only one",
            key_name(path)
        ),
    );
}

/// Skips whatever follows a key (`= value`, `(…)`), up to the next comma.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, TokenTree::Punct(punct) if punct.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

fn key_name(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// Whether `written` looks like a misspelling of `known`: one letter added, removed or changed
/// (or two swapped), or `known` with a suffix, such as serde's `skip_serializing` for `skip`.
fn similar(written: &str, known: &str) -> bool {
    let (a, b) = (written.as_bytes(), known.as_bytes());
    if a.len() > b.len() && a.starts_with(b) && a[b.len()] == b'_' {
        return true;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substituted = previous + usize::from(x != y);
            previous = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()] <= 1 || (a.len() == b.len() && row[b.len()] == 2 && is_swap(a, b))
}

fn is_swap(a: &[u8], b: &[u8]) -> bool {
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    matches!(differ[..], [i, j] if j == i + 1 && a[i] == b[j] && a[j] == b[i])
}

/// A case for `rename_all`, as serde's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

const RULES: &[(&str, RenameRule)] = &[
    ("lowercase", RenameRule::Lower),
    ("UPPERCASE", RenameRule::Upper),
    ("PascalCase", RenameRule::Pascal),
    ("camelCase", RenameRule::Camel),
    ("snake_case", RenameRule::Snake),
    ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
    ("kebab-case", RenameRule::Kebab),
    ("SCREAMING-KEBAB-CASE", RenameRule::ScreamingKebab),
];

impl RenameRule {
    /// The rule named `name`, or an error message that lists the names.
    fn from_name(name: &str) -> Result<Self, String> {
        if let Some((_, rule)) = RULES.iter().find(|(known, _)| *known == name) {
            return Ok(*rule);
        }
        let list = RULES
            .iter()
            .map(|(known, _)| format!("{known:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let loose = |s: &str| s.replace(['_', '-'], "").to_ascii_lowercase();
        let suggestion = match loose(name).as_str() {
            "uppercamelcase" => Some("PascalCase"),
            "lowercamelcase" => Some("camelCase"),
            "screamingcase" | "shoutysnakecase" => Some("SCREAMING_SNAKE_CASE"),
            "shoutykebabcase" => Some("SCREAMING-KEBAB-CASE"),
            loosened => RULES
                .iter()
                .map(|(known, _)| *known)
                .find(|known| loose(known) == loosened),
        };
        Err(match suggestion {
            Some(suggestion) => format!(
                "unknown case {name:?} for `rename_all`: did you mean {suggestion:?}? \
                 (the cases are {list})"
            ),
            None => format!("unknown case {name:?} for `rename_all`; the cases are {list}"),
        })
    }

    /// The stored name of a field whose Rust name (snake_case, without `r#`) is `field`.
    pub(crate) fn apply(self, field: &str) -> String {
        match self {
            Self::Lower => field.to_lowercase(),
            Self::Upper => field.to_uppercase(),
            Self::Pascal => field.to_pascal_case(),
            Self::Camel => field.to_lower_camel_case(),
            Self::Snake => field.to_snake_case(),
            Self::ScreamingSnake => field.to_shouty_snake_case(),
            Self::Kebab => field.to_kebab_case(),
            Self::ScreamingKebab => field.to_shouty_kebab_case(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_converts_a_snake_case_field() {
        let stored: Vec<String> = RULES
            .iter()
            .map(|(_, rule)| rule.apply("user_id2"))
            .collect();
        assert_eq!(
            stored,
            [
                "user_id2", "USER_ID2", "UserId2", "userId2", "user_id2", "USER_ID2", "user-id2",
                "USER-ID2"
            ]
        );
    }

    #[test]
    fn rule_names_are_serdes_and_near_misses_get_a_suggestion() {
        assert_eq!(
            RenameRule::from_name("SCREAMING-KEBAB-CASE"),
            Ok(RenameRule::ScreamingKebab)
        );
        let error = RenameRule::from_name("camelcase").unwrap_err();
        assert!(error.contains("did you mean \"camelCase\"?"), "{error}");
        let error = RenameRule::from_name("UpperCamelCase").unwrap_err();
        assert!(error.contains("did you mean \"PascalCase\"?"), "{error}");
        let error = RenameRule::from_name("title").unwrap_err();
        assert!(!error.contains("did you mean"), "{error}");
    }

    #[test]
    fn misspelled_keys_are_similar_to_known_ones() {
        assert!(similar("renam", "rename"));
        assert!(similar("reanme", "rename"));
        assert!(similar("skip_serializing", "skip"));
        assert!(similar("defualt", "default"));
        assert!(!similar("flatten", "rename"));
        assert!(!similar("alias", "skip"));
    }
}
