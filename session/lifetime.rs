//! The session's creation time, kept in its record, and the two lifetimes counted from it: the
//! absolute lifetime of the session and the fixed lifetime of the browser's cookie.
//!
//! The creation time is a top-level key of the record, [`CREATED_AT`], holding an ISO-8601 string
//! as JavaScript's `Date.prototype.toJSON` writes it (`"2026-11-25T16:58:00.603Z"`). A top-level
//! key survives express-session reading and re-saving the record (it keeps every key of the
//! session object; inside `cookie` it keeps only its own), and `#[derive(SessionData)]` refuses
//! to store a field under that name, so no typed view sees or changes it.

use std::time::Duration;

use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::record::{add_ms, parse_expires, push_iso, ChangeSet, Fields, Record};

/// The record key that holds the session's creation time. Reserved: `#[derive(SessionData)]`
/// rejects a field stored under it (the derive crate repeats the name).
pub(crate) const CREATED_AT: &str = "sessionCreatedAt";

impl Record {
    /// When the session was created, if its record says so.
    ///
    /// The middleware records it (under the top-level key `"sessionCreatedAt"`, an ISO-8601
    /// string) when it creates a session with
    /// [`absolute_timeout`](crate::SessionMiddlewareBuilder::absolute_timeout) or
    /// [`cookie_lifetime`](crate::SessionMiddlewareBuilder::cookie_lifetime) configured, and on
    /// the first request that loads an older session under such a configuration. `None` when the
    /// record has no creation time or it is not a date.
    ///
    /// ```
    /// use actix_typed_session::Record;
    ///
    /// let json = r#"{"cookie":{"path":"/"},"sessionCreatedAt":"2026-11-25T16:58:00.603Z"}"#;
    /// let record = Record::from_json(json).unwrap();
    /// assert_eq!(record.created_at().unwrap().unix_timestamp(), 1_795_625_880);
    /// ```
    pub fn created_at(&self) -> Option<OffsetDateTime> {
        created_at(&self.fields)
    }
}

/// The creation time in `fields`, if it holds a valid one.
pub(crate) fn created_at(fields: &Fields) -> Option<OffsetDateTime> {
    let text: String = serde_json::from_str(fields.json(CREATED_AT)?).ok()?;
    parse_expires(&text)
}

/// Records `at` as the creation time in `fields`, and in `changes` when given (so that a stored
/// session gets it with its next write).
pub(crate) fn record_created_at(
    fields: &mut Fields,
    changes: Option<&mut ChangeSet>,
    at: OffsetDateTime,
) {
    let mut json = String::with_capacity(26);
    json.push('"');
    push_iso(&mut json, at);
    json.push('"');
    let value = RawValue::from_string(json).expect("an ISO-8601 date is a JSON string");
    if let Some(changes) = changes {
        changes.set(CREATED_AT, value.clone());
    }
    fields.set(CREATED_AT, value);
}

/// `created + lifetime`, in whole milliseconds as JavaScript dates hold them, saturated at
/// `9999-12-31T23:59:59.999Z`.
pub(crate) fn after(created: OffsetDateTime, lifetime: Duration) -> OffsetDateTime {
    let ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    add_ms(created, ms)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn creation_time_round_trips_as_a_javascript_date_string() {
        let mut record = Record::default();
        let mut changes = ChangeSet::new();
        let at = datetime!(2026-11-25 16:58:00.6 UTC);
        record_created_at(&mut record.fields, Some(&mut changes), at);
        assert_eq!(
            record.to_json(),
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"sessionCreatedAt":"2026-11-25T16:58:00.600Z"}"#
        );
        assert_eq!(changes.len(), 1);
        let read = Record::from_json(&record.to_json()).unwrap();
        assert_eq!(read.created_at(), Some(at));
    }

    #[test]
    fn a_creation_time_that_is_not_a_date_is_none() {
        for json in [
            r#"{"cookie":{},"sessionCreatedAt":12}"#,
            r#"{"cookie":{},"sessionCreatedAt":"yesterday"}"#,
            r#"{"cookie":{}}"#,
        ] {
            assert_eq!(
                Record::from_json(json).unwrap().created_at(),
                None,
                "{json}"
            );
        }
    }

    #[test]
    fn after_counts_whole_milliseconds() {
        let at = datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(
            after(at, Duration::from_micros(1_500_700)),
            datetime!(2026-01-01 00:00:01.5 UTC)
        );
        assert_eq!(
            after(at, Duration::MAX),
            datetime!(9999-12-31 23:59:59.999 UTC)
        );
    }

    #[test]
    fn a_creation_time_near_the_last_date_saturates() {
        let json = r#"{"cookie":{},"sessionCreatedAt":"9999-12-31T23:00:00.000-05:00"}"#;
        let created = Record::from_json(json).unwrap().created_at().unwrap();
        assert_eq!(created, datetime!(9999-12-31 23:59:59.999 UTC));
        assert_eq!(
            after(created, Duration::from_secs(3600)),
            datetime!(9999-12-31 23:59:59.999 UTC)
        );
        let json = r#"{"cookie":{},"sessionCreatedAt":"+275760-09-13T00:00:00.000Z"}"#;
        assert_eq!(
            Record::from_json(json).unwrap().created_at(),
            Some(datetime!(9999-12-31 23:59:59.999 UTC))
        );
    }
}
