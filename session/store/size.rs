//! The limit on the size of a stored record, and the size of a record's express JSON computed
//! without writing it.
//!
//! Every store measures a record as it would store it: the bytes of its express-session JSON
//! (`{"cookie":{…},"field":value,…}`), as [`Record::to_json`] writes it (or, in Redis, the stored
//! text a save produces).

use crate::record::{json_str_len, Fields, Record, SessionCookie};

/// The default largest record a store accepts, in bytes of JSON: 1 MiB.
///
/// Far above any session that keeps what sessions are for (ids, a user, flags, a cart of a few
/// hundred items is tens of KiB), and well below what starts to hurt: a record is decoded on every
/// load, and a megabyte Redis value blocks the server for a millisecond per command.
pub(crate) const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;

/// `{"cookie":` and the closing `}`.
const FRAME: usize = r#"{"cookie":}"#.len();

/// The length of `record.to_json()`.
pub(crate) fn json_len(record: &Record) -> usize {
    record_len(&record.cookie, &record.fields)
}

/// The length of the JSON of a record with `cookie` and `fields`.
pub(crate) fn record_len(cookie: &SessionCookie, fields: &Fields) -> usize {
    FRAME + cookie_len(cookie) + fields_len(fields)
}

/// The length of the record JSON with a cookie of `cookie_len` bytes and `fields` (name and raw
/// JSON value).
pub(crate) fn json_len_of<'a>(
    cookie_len: usize,
    fields: impl Iterator<Item = (&'a str, &'a str)>,
) -> usize {
    FRAME
        + cookie_len
        + fields
            .map(|(name, value)| text_member_len(name, value))
            .sum::<usize>()
}

/// The length of the cookie object's express JSON.
pub(crate) fn cookie_len(cookie: &SessionCookie) -> usize {
    cookie.json_len()
}

/// The length of the members after the cookie: `,"name":value` each.
fn fields_len(fields: &Fields) -> usize {
    fields
        .iter_json()
        .map(|(name, value)| text_member_len(name, value))
        .sum()
}

/// The length of `,"name":value` for a value's JSON text.
fn text_member_len(name: &str, value: &str) -> usize {
    1 + json_str_len(name) + 1 + value.len()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::value::RawValue;

    use super::*;
    use crate::record::ChangeSet;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn string_len_is_the_length_serde_json_writes() {
        let mut all_ascii = String::new();
        for b in 0..=0x7f_u8 {
            all_ascii.push(char::from(b));
            let one = char::from(b).to_string();
            assert_eq!(
                json_str_len(&one),
                serde_json::to_string(&one).unwrap().len(),
                "{b:#x}"
            );
        }
        for s in [all_ascii.as_str(), "", "café", "é\"", "😀 \u{2028}", "a\\b"] {
            assert_eq!(
                json_str_len(s),
                serde_json::to_string(s).unwrap().len(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn json_len_is_the_length_of_the_json() {
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_secs(60)));
        let mut record = Record::new(cookie);
        assert_eq!(json_len(&record), record.to_json().len());
        record.fields.set("views", raw("3"));
        record.fields.set("user\nname", raw(r#"{"a":[1, 2]}"#));
        assert_eq!(json_len(&record), record.to_json().len());
    }

    #[test]
    fn json_len_of_is_the_length_of_the_fields_once_applied() {
        let mut record = Record::default();
        record.fields.set("a", raw("1"));
        record.fields.set("b", raw(r#""two""#));
        record.fields.set("c", raw("[3]"));
        let mut changes = ChangeSet::new();
        changes.set("b", raw(r#""a longer value""#));
        changes.remove("c");
        changes.remove("absent");
        changes.set("new", raw("true"));
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_secs(3600)));

        let mut applied = record.fields.clone();
        applied.apply(&changes);
        let predicted = json_len_of(
            cookie_len(&cookie),
            applied.iter().map(|(k, v)| (k, v.get())),
        );
        record.cookie = cookie;
        record.fields.apply(&changes);
        assert_eq!(predicted, record.to_json().len());
    }
}
