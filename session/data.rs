//! The [`SessionData`] trait and the per-field functions that `#[derive(SessionData)]` calls.

use std::fmt;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::value::RawValue;

use crate::record::{ChangeSet, Fields};

/// A struct whose fields are stored in a session.
///
/// Derive it with `#[derive(SessionData)]`; a hand-written impl is not supported. Each named field
/// is stored under its name (or its `#[session(rename = "…")]`) as JSON. A field missing from the
/// stored session reads as its default; a field whose value serializes to `null` is removed from
/// the stored session (as JavaScript's `delete`), and so reads back as its default too.
///
/// ```
/// use actix_typed_session::SessionData;
///
/// #[derive(SessionData, Default)]
/// #[session(rename_all = "camelCase")]
/// struct Visit {
///     views: u32,
///     user_id: Option<u64>,          // stored as "userId"
///     #[session(skip)]
///     scratch: Vec<u8>,              // never stored
///     #[session(default = "default_theme")]
///     theme: String,                 // "dark" when the session has no theme yet
/// }
///
/// fn default_theme() -> String {
///     "dark".to_owned()
/// }
/// ```
pub trait SessionData: Sized + 'static {
    #[doc(hidden)]
    fn __decode(fields: &Fields) -> Result<Self, DecodeError>;

    #[doc(hidden)]
    fn __diff(&self, fields: &Fields, changes: &mut ChangeSet) -> Result<(), EncodeError>;
}

/// A stored field could not be decoded into its Rust type (for example, after the type changed
/// across deploys). The stored session is left as it was.
#[derive(Debug)]
pub struct DecodeError {
    field: &'static str,
    source: serde_json::Error,
}

impl DecodeError {
    /// The stored name of the field that failed.
    pub fn field(&self) -> &str {
        self.field
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session field `{}` could not be decoded: {}",
            self.field, self.source
        )
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A field could not be encoded as JSON (its `Serialize` impl failed).
#[derive(Debug)]
pub struct EncodeError {
    field: &'static str,
    source: serde_json::Error,
}

impl EncodeError {
    /// The stored name of the field that failed.
    pub fn field(&self) -> &str {
        self.field
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session field `{}` could not be encoded: {}",
            self.field, self.source
        )
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Reads field `name`: its stored value, or `default()` when the session has none.
pub fn decode_field<F: DeserializeOwned>(
    fields: &Fields,
    name: &'static str,
    default: impl FnOnce() -> F,
) -> Result<F, DecodeError> {
    match fields.get(name) {
        Some(raw) if raw.get() != "null" => {
            serde_json::from_str(raw.get()).map_err(|source| DecodeError {
                field: name,
                source,
            })
        }
        _ => Ok(default()),
    }
}

/// Compares field `name` with what the record holds and records a change when it differs.
///
/// A value that encodes to the same JSON as the stored one is unchanged. So is a value whose JSON
/// differs only in form (whitespace, `1.0` for `1`, escapes) from what another program stored: its
/// stored bytes are kept. A missing field is unchanged while the value equals `default()`.
pub fn diff_field<F: Serialize>(
    fields: &Fields,
    name: &'static str,
    value: &F,
    default: impl FnOnce() -> F,
    changes: &mut ChangeSet,
) -> Result<(), EncodeError> {
    let encoded = serde_json::value::to_raw_value(value).map_err(|source| EncodeError {
        field: name,
        source,
    })?;
    let is_null = encoded.get() == "null";
    match fields.get(name) {
        Some(stored) if stored.get() == encoded.get() => {}
        Some(stored) if same_json(stored, &encoded) => {}
        Some(_) if is_null => changes.remove(name),
        Some(_) => changes.set(name, encoded),
        None if is_null => {}
        None => {
            let default =
                serde_json::value::to_raw_value(&default()).map_err(|source| EncodeError {
                    field: name,
                    source,
                })?;
            if default.get() != encoded.get() {
                changes.set(name, encoded);
            }
        }
    }
    Ok(())
}

/// Whether two JSON texts denote the same value (numbers compared as JavaScript would).
fn same_json(a: &RawValue, b: &RawValue) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a.get()),
        serde_json::from_str::<serde_json::Value>(b.get()),
    ) {
        (Ok(a), Ok(b)) => same_value(&a, &b),
        _ => false,
    }
}

fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::default();
        for (k, v) in pairs {
            f.set(k, RawValue::from_string((*v).to_owned()).unwrap());
        }
        f
    }

    fn diff<F: Serialize>(f: &Fields, value: F, default: F) -> Vec<(String, Option<String>)> {
        let mut changes = ChangeSet::new();
        diff_field(f, "x", &value, || default, &mut changes).unwrap();
        changes
            .iter()
            .map(|(k, v)| (k.to_owned(), v.map(|v| v.get().to_owned())))
            .collect()
    }

    #[test]
    fn missing_or_null_field_decodes_to_default() {
        let f = fields(&[("n", "null")]);
        assert_eq!(decode_field(&f, "x", || 7u32).unwrap(), 7);
        assert_eq!(decode_field(&f, "n", || 8u32).unwrap(), 8);
    }

    #[test]
    fn decode_error_names_the_field() {
        let f = fields(&[("x", "\"text\"")]);
        let err = decode_field(&f, "x", || 0u32).unwrap_err();
        assert_eq!(err.field(), "x");
        assert!(err.to_string().contains("`x`"), "{err}");
    }

    #[test]
    fn unchanged_value_records_nothing() {
        assert!(diff(&fields(&[("x", "3")]), 3u32, 0).is_empty());
        assert!(diff(&fields(&[("x", "3.0")]), 3u32, 0).is_empty());
        assert!(diff(
            &fields(&[("x", "{ \"a\" : 1 }")]),
            serde_json::json!({"a": 1}),
            serde_json::json!(null)
        )
        .is_empty());
        assert!(diff(&fields(&[]), 0u32, 0).is_empty());
        assert!(diff(&fields(&[]), None::<u32>, None).is_empty());
    }

    #[test]
    fn changed_value_is_set_and_null_is_removed() {
        assert_eq!(
            diff(&fields(&[("x", "3")]), 4u32, 0),
            [("x".to_owned(), Some("4".to_owned()))]
        );
        assert_eq!(
            diff(&fields(&[]), 1u32, 0),
            [("x".to_owned(), Some("1".to_owned()))]
        );
        assert_eq!(
            diff(&fields(&[("x", "5")]), None::<u32>, None),
            [("x".to_owned(), None)]
        );
    }
}
