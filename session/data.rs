//! The [`SessionData`] trait and the per-field functions that `#[derive(SessionData)]` calls.

use std::{collections::BTreeMap, fmt};

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
    /// The stored names of the fields marked `#[session(index)]`: the fields a store can index
    /// sessions by (see [`MemoryStoreBuilder::indexes`](crate::store::MemoryStoreBuilder::indexes)).
    #[doc(hidden)]
    const __INDEXES: &'static [&'static str] = &[];

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
    match fields.json(name) {
        Some(json) if json != "null" => serde_json::from_str(json).map_err(|source| DecodeError {
            field: name,
            source,
        }),
        _ => Ok(default()),
    }
}

/// Compares field `name` with what the record holds and records a change when it differs.
///
/// A value that encodes to the same JSON as the stored one is unchanged. So is a value whose JSON
/// differs only in form from what another program stored (whitespace, escapes, key order, and
/// number spellings such as `1.0` for `1` or Node's `1e+21` for `1000000000000000000000`): its
/// stored bytes are kept. A missing field is unchanged while the value equals `default()`.
///
/// Numbers are equal only when they denote the same exact decimal value, never by a lossy
/// conversion: `9007199254740993` and `9007199254740992` differ (they are one `f64`), and so do
/// two integers beyond 64 bits that differ in their last digit. Zero keeps its sign: `-0.0`
/// differs from `0`, because a stored `0` would read back as `+0.0`. Whenever two texts cannot
/// be shown to denote the same value, the field counts as changed and is written.
pub fn diff_field<F: Serialize>(
    fields: &Fields,
    name: &'static str,
    value: &F,
    default: impl FnOnce() -> F,
    changes: &mut ChangeSet,
) -> Result<(), EncodeError> {
    let encode_error = |source| EncodeError {
        field: name,
        source,
    };
    // Most fields are unchanged: compared as text written into a reused buffer, so that only a
    // changed field allocates its new value, copied from the buffer at its exact length. A field
    // the record does not have is compared there with `null` and with its default's JSON.
    // `Some(same)` once compared; `None` when the buffer is in use (a field's `Serialize` that
    // diffs another session), and this compares below.
    let stored = fields.json(name);
    let mut default = Some(default);
    let mut copied = None;
    let compared = ENCODE_BUFFER.with(|buffer| -> Result<Option<bool>, EncodeError> {
        let Ok(mut buffer) = buffer.try_borrow_mut() else {
            return Ok(None);
        };
        buffer.clear();
        serde_json::to_writer(&mut *buffer, value).map_err(encode_error)?;
        let len = buffer.len();
        let unchanged = match stored {
            Some(stored) => {
                stored.as_bytes() == buffer.as_slice()
                    || std::str::from_utf8(&buffer).is_ok_and(|encoded| same_json(stored, encoded))
            }
            None if buffer.as_slice() == b"null" => true,
            None => {
                let default = default.take().expect("taken once");
                serde_json::to_writer(&mut *buffer, &default()).map_err(encode_error)?;
                buffer[..len] == buffer[len..]
            }
        };
        if !unchanged {
            // `serde_json` writes valid JSON, which `from_string` checks again; were it not, the
            // value is encoded below as before.
            copied = std::str::from_utf8(&buffer[..len])
                .ok()
                .and_then(|encoded| RawValue::from_string(encoded.to_owned()).ok());
        }
        if buffer.capacity() > MAX_KEPT_BUFFER {
            // A large field once: its buffer is not kept for the thread's lifetime.
            *buffer = Vec::new();
        }
        Ok(Some(unchanged))
    })?;
    if compared == Some(true) {
        return Ok(());
    }
    let encoded = match copied {
        Some(encoded) => encoded,
        None => serde_json::value::to_raw_value(value).map_err(encode_error)?,
    };
    let is_null = encoded.get() == "null";
    match (stored, compared) {
        // Compared above (and changed): the stored value is not compared again.
        (Some(_), Some(_)) if is_null => changes.remove(name),
        (Some(_), Some(_)) => changes.set(name, encoded),
        // Neither `null` nor the default's JSON, as compared above.
        (None, Some(_)) => changes.set(name, encoded),
        (Some(stored), None) if stored == encoded.get() || same_json(stored, encoded.get()) => {}
        (Some(_), None) if is_null => changes.remove(name),
        (Some(_), None) => changes.set(name, encoded),
        (None, None) if is_null => {}
        (None, None) => {
            let default = default.take().expect("taken once");
            if !encodes_as(&default(), encoded.get()).map_err(encode_error)? {
                changes.set(name, encoded);
            }
        }
    }
    Ok(())
}

/// Whether `value` encodes to exactly the JSON text `text`, written into the reused buffer (no
/// allocation of its own).
fn encodes_as<F: Serialize>(value: &F, text: &str) -> Result<bool, serde_json::Error> {
    ENCODE_BUFFER.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            serde_json::to_writer(&mut *buffer, value)?;
            let same = buffer.as_slice() == text.as_bytes();
            if buffer.capacity() > MAX_KEPT_BUFFER {
                *buffer = Vec::new();
            }
            Ok(same)
        }
        Err(_) => Ok(serde_json::to_string(value)? == text),
    })
}

/// The largest buffer [`diff_field`] keeps between fields.
const MAX_KEPT_BUFFER: usize = 16 * 1024;

thread_local! {
    /// The text of the field [`diff_field`] compares, reused from one field to the next.
    static ENCODE_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether two JSON texts denote the same value: objects by their members (in any order, the
/// last of duplicate keys winning, as `JSON.parse` reads them), arrays element by element,
/// numbers by exact decimal value, strings after unescaping. Texts that are not JSON are not
/// the same.
pub(crate) fn same_json(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_matches(JSON_SPACE), b.trim_matches(JSON_SPACE));
    if a == b {
        return true;
    }
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(b'{'), Some(b'{')) => {
            type Members<'a> = BTreeMap<String, &'a RawValue>;
            match (
                serde_json::from_str::<Members<'_>>(a),
                serde_json::from_str::<Members<'_>>(b),
            ) {
                (Ok(x), Ok(y)) => {
                    x.len() == y.len()
                        && x.iter()
                            .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v.get(), w.get())))
                }
                _ => false,
            }
        }
        (Some(b'['), Some(b'[')) => {
            match (
                serde_json::from_str::<Vec<&RawValue>>(a),
                serde_json::from_str::<Vec<&RawValue>>(b),
            ) {
                (Ok(x), Ok(y)) => {
                    x.len() == y.len() && x.iter().zip(&y).all(|(v, w)| same_json(v.get(), w.get()))
                }
                _ => false,
            }
        }
        // Two integers as JSON writes them (no fraction, no exponent, no leading zero) and not the
        // same text: not the same number. A changed counter takes this way.
        (Some(_), Some(_)) if plain_integer(a) && plain_integer(b) => false,
        (Some(x), Some(y)) if starts_number(*x) && starts_number(*y) => {
            match (ExactNumber::parse(a), ExactNumber::parse(b)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            }
        }
        (Some(b'"'), Some(b'"')) => match (
            serde_json::from_str::<String>(a),
            serde_json::from_str::<String>(b),
        ) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        // `true`, `false` and `null` have one spelling each, compared above.
        _ => false,
    }
}

/// JSON's insignificant whitespace.
const JSON_SPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// `-?(0|[1-9][0-9]*)`: an integer in the one spelling JSON has for it (`-0` included, which
/// differs from `0`).
fn plain_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    match digits {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

fn starts_number(byte: u8) -> bool {
    byte == b'-' || byte.is_ascii_digit()
}

/// The exact value of a JSON number text: `(-1)^negative × digits × 10^exponent`, with `digits`
/// free of leading and trailing zeros (empty for zero). Two texts denote the same number exactly
/// when their forms are equal.
#[derive(Debug, PartialEq, Eq)]
struct ExactNumber<'a> {
    negative: bool,
    /// The significant digits, as the (possibly split) runs of the text that hold them.
    digits: Digits<'a>,
    exponent: i128,
}

/// Significant digits spread over the integer and the fraction part of a number text.
#[derive(Debug)]
struct Digits<'a>(&'a str, &'a str);

impl PartialEq for Digits<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() + self.1.len() == other.0.len() + other.1.len()
            && self
                .0
                .bytes()
                .chain(self.1.bytes())
                .eq(other.0.bytes().chain(other.1.bytes()))
    }
}

impl Eq for Digits<'_> {}

impl<'a> ExactNumber<'a> {
    /// Reads a JSON number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`); `None` for any
    /// other text, or an exponent too large to hold.
    fn parse(text: &'a str) -> Option<Self> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, rest) = rest.split_at(int_len);
        if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
            return None;
        }
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(rest) => {
                let len = rest.bytes().take_while(u8::is_ascii_digit).count();
                if len == 0 {
                    return None;
                }
                rest.split_at(len)
            }
            None => ("", rest),
        };
        let exponent: i128 = match rest.strip_prefix(['e', 'E']) {
            Some(exp) => {
                let (negative_exp, digits) = match exp.as_bytes().first() {
                    Some(b'-') => (true, &exp[1..]),
                    Some(b'+') => (false, &exp[1..]),
                    _ => (false, exp),
                };
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                // An exponent of more than 30 digits is not read: such a number is then never the
                // same as another (a value that serializes to one cannot be held without loss).
                let digits = digits.trim_start_matches('0');
                if digits.len() > 30 {
                    return None;
                }
                let magnitude: i128 = if digits.is_empty() {
                    0
                } else {
                    digits.parse().ok()?
                };
                if negative_exp {
                    -magnitude
                } else {
                    magnitude
                }
            }
            None if rest.is_empty() => 0,
            None => return None,
        };
        // The text is int ++ frac × 10^(exponent - frac.len()). Trailing zeros move into the
        // exponent (they may reach back from the fraction into the integer part); leading zeros
        // carry no value (they may reach from the integer part into the fraction).
        let frac_len = i128::try_from(frac.len()).ok()?;
        let (int, frac, trailing) = match frac.trim_end_matches('0') {
            "" => {
                let kept = int.trim_end_matches('0');
                (kept, "", frac.len() + (int.len() - kept.len()))
            }
            kept => (int, kept, frac.len() - kept.len()),
        };
        let (int, frac) = match int.trim_start_matches('0') {
            "" => ("", frac.trim_start_matches('0')),
            int => (int, frac),
        };
        let digits = Digits(int, frac);
        if int.is_empty() && frac.is_empty() {
            // Zero: only its sign tells two spellings apart.
            return Some(Self {
                negative,
                digits,
                exponent: 0,
            });
        }
        Some(Self {
            negative,
            digits,
            exponent: exponent - frac_len + i128::try_from(trailing).ok()?,
        })
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
    fn a_large_unchanged_field_is_unchanged_and_its_buffer_not_kept() {
        let big = "é".repeat(40_000);
        let f = fields(&[("x", &serde_json::to_string(&big).unwrap())]);
        assert_eq!(diff(&f, big.clone(), String::new()), vec![]);
        let mut longer = big;
        longer.push('!');
        assert_eq!(diff(&f, longer.clone(), String::new()).len(), 1);
        ENCODE_BUFFER.with_borrow(|buffer| assert!(buffer.capacity() <= MAX_KEPT_BUFFER));
    }

    /// A value whose serialization compares another field: the inner comparison cannot use the
    /// buffer the outer one holds, and still answers.
    struct Nested(Fields);

    impl Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut changes = ChangeSet::new();
            diff_field(&self.0, "y", &5u32, || 0, &mut changes).unwrap();
            s.serialize_u64(changes.len() as u64)
        }
    }

    #[test]
    fn a_comparison_inside_a_serialization_still_answers() {
        let inner = fields(&[("y", "4")]);
        let f = fields(&[("x", "1")]);
        assert_eq!(
            diff(&f, Nested(inner.clone()), Nested(inner.clone())),
            vec![]
        );
        let same = fields(&[("y", "5")]);
        assert_eq!(
            diff(&f, Nested(same.clone()), Nested(same.clone())),
            vec![("x".to_owned(), Some("0".to_owned()))]
        );
        // The inner field missing too: compared with its default without the buffer.
        let missing = fields(&[]);
        assert_eq!(
            diff(&f, Nested(missing.clone()), Nested(missing.clone())),
            vec![]
        );
        assert_eq!(
            diff(&missing, Nested(missing.clone()), Nested(same)),
            vec![("x".to_owned(), Some("1".to_owned()))]
        );
        assert_eq!(
            diff(&missing, Nested(missing.clone()), Nested(missing.clone())),
            vec![]
        );
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

    /// Whether a value that encodes as `value` counts as changed against a stored `stored`.
    fn changed<F: Serialize>(stored: &str, value: F) -> bool {
        let mut changes = ChangeSet::new();
        let stored = fields(&[("x", stored)]);
        let default = || -> F { unreachable!("the field is stored") };
        diff_field(&stored, "x", &value, default, &mut changes).unwrap();
        !changes.is_empty()
    }

    #[test]
    fn integers_beyond_two_to_the_53_are_compared_exactly() {
        // One f64 holds both 2^53 and 2^53 + 1: a lossy comparison called them equal.
        assert!(changed("9007199254740993", 9_007_199_254_740_992u64));
        assert!(changed("9007199254740992", 9_007_199_254_740_993u64));
        assert!(changed("-9007199254740993", -9_007_199_254_740_992i64));
        assert!(changed("-9007199254740991", -9_007_199_254_740_992i64));
        assert!(changed("1234567890123456789", 1_234_567_890_123_456_790u64));
        assert!(changed("18446744073709551615", u64::MAX - 1));
        assert!(changed("18446744073709551614", u64::MAX));
        assert!(changed("-9223372036854775808", i64::MIN + 1));
        assert!(changed("-9223372036854775807", i64::MIN));
        assert!(changed(
            "170141183460469231731687303715884105727",
            i128::MAX - 1
        ));
        assert!(changed(
            "-170141183460469231731687303715884105728",
            i128::MIN + 1
        ));
        assert!(changed("1e21", 1_000_000_000_000_000_000_001u128));
    }

    #[test]
    fn the_same_exact_value_in_another_spelling_is_unchanged() {
        // Node writes 1e21 as `1e+21`; serde_json as `1e21`; both are 10^21.
        assert!(!changed("1e+21", 1e21f64));
        assert!(!changed("1000000000000000000000", 1e21f64));
        assert!(!changed("1E21", 1_000_000_000_000_000_000_000u128));
        assert!(!changed("1.8446744073709551615e19", u64::MAX));
        assert!(!changed("-9.223372036854775808e+18", i64::MIN));
        assert!(!changed("9007199254740993.000", 9_007_199_254_740_993u64));
        assert!(!changed("1", 1.0f64));
        assert!(!changed("1.0", 1u8));
        assert!(!changed("100e-2", 1u8));
        assert!(!changed("0.05", 0.05f64));
        assert!(!changed("5e-2", 0.05f64));
        assert!(!changed("0.0", 0u8));
        assert!(!changed("0e7", 0u8));
        assert!(!changed("-0", -0.0f64));
        assert!(!changed(
            "[1e+21, {\"a\": 10.0}]",
            serde_json::json!([1e21, {"a": 10}])
        ));
    }

    #[test]
    fn zero_keeps_its_sign() {
        // A stored `0` reads back as +0.0: a -0.0 must be written.
        assert!(changed("0", -0.0f64));
        assert!(changed("0.0", -0.0f64));
        assert!(changed("-0", 0.0f64));
        assert!(changed("-0.0", 0u8));
    }

    #[test]
    fn floats_that_differ_in_the_last_bit_are_changed() {
        let next = f64::from_bits(0.1f64.to_bits() + 1);
        assert!(changed("0.1", next));
        assert!(changed("0.30000000000000004", 0.3f64));
        assert!(!changed("0.30000000000000004", 0.1f64 + 0.2));
        assert!(changed(
            "1.7976931348623157e308",
            f64::from_bits(f64::MAX.to_bits() - 1)
        ));
        assert!(changed("5e-324", 0.0f64));
    }

    #[test]
    fn nested_numbers_are_compared_exactly() {
        assert!(changed(
            r#"{"user":{"id":9007199254740993}}"#,
            serde_json::json!({"user": {"id": 9_007_199_254_740_992u64}})
        ));
        assert!(changed("[9007199254740993]", [9_007_199_254_740_992u64]));
        assert!(!changed(
            r#"{"b":[1.0],"a":"\u00e9"}"#,
            serde_json::json!({"a": "é", "b": [1]})
        ));
        // JSON.parse keeps the last of duplicate keys.
        assert!(!changed(r#"{"a":1,"a":2}"#, serde_json::json!({"a": 2})));
        assert!(changed(r#"{"a":1,"a":2}"#, serde_json::json!({"a": 1})));
        assert!(changed("[1,2]", [1, 2, 3]));
        assert!(changed(r#"{"a":1}"#, serde_json::json!({"b": 1})));
        assert!(changed("\"1\"", 1u8));
        assert!(changed("true", 1u8));
    }

    #[test]
    fn number_texts_read_as_their_exact_decimal_value() {
        let n = |t| ExactNumber::parse(t).unwrap();
        assert_eq!(n("1.50"), n("15e-1"));
        assert_eq!(n("100"), n("1e2"));
        assert_eq!(n("10.0"), n("1E+1"));
        assert_eq!(n("0.000"), n("0"));
        assert_ne!(n("0.05"), n("0.5"));
        assert_ne!(n("12"), n("1.2"));
        assert_ne!(n("-1"), n("1"));
        for bad in [
            "",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "1x",
            "--1",
            "1e1000000000000000000000000000000",
        ] {
            assert!(ExactNumber::parse(bad).is_none(), "{bad:?}");
        }
    }

    /// JavaScript's `Number.prototype.toString` (which `JSON.stringify` uses) of a finite `x`.
    fn js_number_to_string(x: f64) -> String {
        if x == 0.0 {
            return "0".to_owned();
        }
        // The shortest round-trip digits, ties to even as ECMAScript's Number::toString picks
        // them: serde_json's (ryu's). Rust's `{:e}` breaks ties the other way.
        let ryu = serde_json::to_string(&x.abs()).unwrap();
        let (mantissa, exp) = match ryu.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap()),
            None => (ryu.as_str(), 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all = format!("{int}{frac}");
        let leading = (all.len() - all.trim_start_matches('0').len()) as i32;
        let digits = all.trim_start_matches('0').trim_end_matches('0').to_owned();
        let k = digits.len() as i32;
        // The decimal point sits after the first `n` digits.
        let n = int.len() as i32 - leading + exp;
        let body = if k <= n && n <= 21 {
            format!("{digits}{}", "0".repeat((n - k) as usize))
        } else if 0 < n && n <= 21 {
            format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
        } else if -6 < n && n <= 0 {
            format!("0.{}{digits}", "0".repeat((-n) as usize))
        } else {
            let (first, rest) = digits.split_at(1);
            let rest = if rest.is_empty() {
                String::new()
            } else {
                format!(".{rest}")
            };
            let sign = if n - 1 < 0 { '-' } else { '+' };
            format!("{first}{rest}e{sign}{}", (n - 1).abs())
        };
        if x < 0.0 {
            format!("-{body}")
        } else {
            body
        }
    }

    #[test]
    fn javascript_number_spelling_helper_matches_node() {
        for (x, js) in [
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123.0, "123"),
            (0.1, "0.1"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (-2.5e300, "-2.5e+300"),
            (9007199254740993.0, "9007199254740992"),
            (100.0, "100"),
            (0.05, "0.05"),
            // Exactly -16423330831140.3125, a tie between two shortest spellings (…312 and
            // …313): JavaScript takes the even digit.
            (-16_423_330_831_140.312, "-16423330831140.312"),
        ] {
            assert_eq!(js_number_to_string(x), js);
        }
    }

    /// Any finite `f64`: normal, subnormal or zero, of either sign.
    fn finite() -> proptest::num::f64::Any {
        use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
        POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            // The minimal failing input is printed; no regression files in the source tree.
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn integers_are_unchanged_exactly_when_equal(a: i128, b: i128) {
            proptest::prop_assert_eq!(changed(&a.to_string(), b), a != b);
        }

        #[test]
        fn floats_are_unchanged_exactly_when_they_read_back_the_same(a in finite(), b in finite()) {
            let stored = serde_json::to_string(&a).unwrap();
            proptest::prop_assert_eq!(changed(&stored, b), a.to_bits() != b.to_bits());
        }

        /// A changed field is recorded as exactly what `serde_json` writes for the value,
        /// whether it was compared with a stored value (its text copied from the comparison's
        /// buffer) or not (encoded on its own).
        #[test]
        fn a_changed_field_is_recorded_as_serde_json_writes_it(
            text in "[\\PC\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}]{0,40}",
            number in finite(),
            stored in proptest::sample::select(vec!["0", "\"other\"", "[1,2]"]),
        ) {
            let value = (text, number, vec![Some(number), None]);
            let expected = serde_json::to_string(&value).unwrap();
            let compared = diff(&fields(&[("x", stored)]), &value, &value);
            proptest::prop_assert_eq!(compared, vec![("x".to_owned(), Some(expected.clone()))]);
            let default = (String::new(), 0.5, Vec::new());
            let alone = diff(&fields(&[]), value.clone(), default);
            proptest::prop_assert_eq!(alone, vec![("x".to_owned(), Some(expected))]);
        }

        #[test]
        fn node_spellings_of_a_float_are_unchanged(a in finite()) {
            // JavaScript writes -0 as `0`, which reads back as +0.0: that one is written (see
            // `zero_keeps_its_sign`), so -0 is taken as +0 here.
            let a = if a == 0.0 { 0.0 } else { a };
            let node = js_number_to_string(a);
            proptest::prop_assert!(!changed(&node, a), "{} vs {}", node, serde_json::to_string(&a).unwrap());
        }
    }
}
