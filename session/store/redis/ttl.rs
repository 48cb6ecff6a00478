//! The TTL rules of a [`RedisStore`](super::RedisStore): a key's TTL is the truth about a
//! session's expiry, and a first read renews it only when due.

use std::time::Duration;

use time::OffsetDateTime;

use crate::record::{add_ms, SessionCookie};

/// Whether a first read must renew a key that a renewal gives `full_ttl_ms` and that has
/// `pttl_ms` left: its last renewal (or write) is `touch_after_ms` old or more, or it has no
/// expiry (`-1`) or is gone (`-2`: removed between the `GET` and the `PTTL`).
pub(super) fn renewal_due(full_ttl_ms: i64, pttl_ms: i64, touch_after_ms: i64) -> bool {
    pttl_ms < 0 || full_ttl_ms.saturating_sub(pttl_ms) >= touch_after_ms
}

/// The TTL a renewal gives a record that begins as express (and this crate) write it, read from
/// its text without parsing, as `load_touched.lua`'s prelude reads it: `originalMaxAge` as a
/// positive integer of at most 15 digits for
/// `{"cookie":{"originalMaxAge":<ms>,…`, `default_ttl_ms` for a browser-session cookie
/// `{"cookie":{"originalMaxAge":null,"expires":null,…`; `None` for anything else (a renewal
/// rewrites such a record's cookie: `touch.lua`).
pub(super) fn plain_renewal_ttl(json: &[u8], default_ttl_ms: i64) -> Option<i64> {
    const MAX_AGE: &[u8] = br#"{"cookie":{"originalMaxAge":"#;
    const BROWSER: &[u8] = br#"null,"expires":null"#;
    let rest = json.strip_prefix(MAX_AGE)?;
    let ends_member = |b: Option<&u8>| matches!(b, Some(b',' | b'}'));
    if let Some(after) = rest.strip_prefix(BROWSER) {
        return ends_member(after.first()).then_some(default_ttl_ms);
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=15).contains(&digits) || rest[0] == b'0' || !ends_member(rest.get(digits)) {
        return None;
    }
    rest[..digits]
        .iter()
        .try_fold(0i64, |n, d| Some(n * 10 + i64::from(d - b'0')))
}

/// `d` in milliseconds, at least 1 (a TTL of 0 would delete the key).
pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// Makes a loaded cookie's `expires` follow its key's remaining lifetime (`pttl_ms`, read at
/// about `now`) when the two disagree. connect-redis's touch only moves the key's TTL (`EXPIRE`),
/// so a session that a Node app keeps alive carries a stale `expires` in its JSON: the TTL is
/// the truth. A cookie without expiry, or a key without TTL (`-1`), is left as stored.
pub(super) fn follow_ttl(cookie: &mut SessionCookie, pttl_ms: i64, now: OffsetDateTime) {
    if pttl_ms < 0 {
        return;
    }
    // Saturated: a key may live longer than an expiry can be written (a huge stored
    // `originalMaxAge` that connect-redis or the load script turned into a TTL).
    cookie.follow_store_expiry(add_ms(now, pttl_ms), now);
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn expiring_at(expires: OffsetDateTime) -> SessionCookie {
        SessionCookie {
            original_max_age: Some(60_000),
            expires: Some(expires),
            ..SessionCookie::default()
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-25 16:58:00.000 UTC);

    #[test]
    fn a_stale_expires_follows_the_key_ttl() {
        // Node touched the key (EXPIRE 60) long after the JSON was written.
        let mut cookie = expiring_at(datetime!(2026-11-25 16:57:30.000 UTC));
        follow_ttl(&mut cookie, 45_000, NOW);
        assert_eq!(cookie.expires, Some(datetime!(2026-11-25 16:58:45.000 UTC)));
        assert_eq!(
            cookie.original_max_age,
            Some(60_000),
            "the lifetime is kept"
        );

        // Not passed yet, but behind the TTL by more than a second.
        let mut cookie = expiring_at(datetime!(2026-11-25 16:58:10.000 UTC));
        follow_ttl(&mut cookie, 50_000, NOW);
        assert_eq!(cookie.expires, Some(datetime!(2026-11-25 16:58:50.000 UTC)));

        // A key that expires earlier than its JSON says.
        let mut cookie = expiring_at(datetime!(2026-11-25 17:58:00.000 UTC));
        follow_ttl(&mut cookie, 5_000, NOW);
        assert_eq!(cookie.expires, Some(datetime!(2026-11-25 16:58:05.000 UTC)));
    }

    #[test]
    fn an_expires_that_agrees_with_the_ttl_is_kept_to_the_millisecond() {
        // connect-redis rounds its TTL up to whole seconds; a round trip takes time.
        let stored = datetime!(2026-11-25 16:59:00.603 UTC);
        for pttl in [60_603, 60_000, 61_500] {
            let mut cookie = expiring_at(stored);
            follow_ttl(&mut cookie, pttl, NOW);
            assert_eq!(cookie.expires, Some(stored), "PTTL {pttl}");
        }
    }

    #[test]
    fn a_passed_expires_follows_a_key_that_is_still_alive() {
        // Within connect-redis's rounding: the JSON says expired, Redis still serves the key.
        let mut cookie = expiring_at(datetime!(2026-11-25 16:57:59.700 UTC));
        follow_ttl(&mut cookie, 600, NOW);
        assert_eq!(cookie.expires, Some(datetime!(2026-11-25 16:58:00.600 UTC)));
    }

    #[test]
    fn no_expires_or_no_ttl_leaves_the_cookie_as_stored() {
        let mut browser = SessionCookie::default();
        follow_ttl(&mut browser, 30_000, NOW);
        assert_eq!(browser, SessionCookie::default());

        let stale = expiring_at(datetime!(2026-11-25 16:57:00.000 UTC));
        let mut cookie = stale.clone();
        follow_ttl(&mut cookie, -1, NOW);
        assert_eq!(cookie, stale, "a key without TTL: the JSON is all there is");
    }

    #[test]
    fn a_renewal_is_due_once_the_last_one_is_touch_after_old() {
        // An hour-long session, `touch_after` one minute.
        let (hour, minute) = (3_600_000, 60_000);
        assert!(!renewal_due(hour, hour, minute), "just written");
        assert!(!renewal_due(hour, hour - minute + 1, minute));
        assert!(renewal_due(hour, hour - minute, minute));
        assert!(renewal_due(hour, 5_000, minute));
        assert!(
            !renewal_due(hour, hour + 500, minute),
            "a key that lives longer than a renewal would make it was just written"
        );
        assert!(renewal_due(hour, -1, minute), "a key without expiry");
        assert!(renewal_due(hour, -2, minute), "a key gone since the read");
        assert!(renewal_due(i64::MAX, -2, minute), "no overflow");
    }

    #[test]
    fn a_plain_renewal_ttl_is_read_as_the_load_script_reads_it() {
        let day = 86_400_000;
        let plain = |json: &str| plain_renewal_ttl(json.as_bytes(), day);
        let stored = r#"{"cookie":{"originalMaxAge":3600000,"expires":"2026-11-25T17:58:00.000Z","httpOnly":true,"path":"/"},"n":1}"#;
        assert_eq!(plain(stored), Some(3_600_000));
        assert_eq!(plain(r#"{"cookie":{"originalMaxAge":5}}"#), Some(5));
        assert_eq!(
            plain(r#"{"cookie":{"originalMaxAge":999999999999999,"expires":null}}"#),
            Some(999_999_999_999_999)
        );
        assert_eq!(
            plain(r#"{"cookie":{"originalMaxAge":null,"expires":null,"path":"/"}}"#),
            Some(day),
            "a browser-session cookie lives the default TTL"
        );
        assert_eq!(
            plain(r#"{"cookie":{"originalMaxAge":null,"expires":null}}"#),
            Some(day)
        );
        for unusual in [
            // 16 digits, a leading zero, zero, negative, fractional, exponent.
            r#"{"cookie":{"originalMaxAge":1000000000000000,"expires":null}}"#,
            r#"{"cookie":{"originalMaxAge":0100,"expires":null}}"#,
            r#"{"cookie":{"originalMaxAge":0,"expires":null}}"#,
            r#"{"cookie":{"originalMaxAge":-5,"expires":null}}"#,
            r#"{"cookie":{"originalMaxAge":1.5,"expires":null}}"#,
            r#"{"cookie":{"originalMaxAge":1e3,"expires":null}}"#,
            // An absolute expiry without a lifetime, another key order, spaces, truncated.
            r#"{"cookie":{"originalMaxAge":null,"expires":"2026-11-25T17:58:00.000Z"}}"#,
            r#"{"cookie":{"expires":null,"originalMaxAge":60000}}"#,
            r#"{"n":1,"cookie":{"originalMaxAge":60000}}"#,
            r#"{ "cookie":{"originalMaxAge":60000}}"#,
            r#"{"cookie":{"originalMaxAge":60000"#,
            r#"{"cookie":{"originalMaxAge":null,"expires":nullx}}"#,
            "",
        ] {
            assert_eq!(plain(unusual), None, "{unusual}");
        }
    }

    #[test]
    fn a_ttl_beyond_year_9999_saturates() {
        // The load script renews a stored originalMaxAge of up to 15 digits (31,000 years).
        for pttl in [999_999_999_999_999, i64::MAX] {
            let mut cookie = expiring_at(datetime!(2099-01-01 00:00:00.000 UTC));
            follow_ttl(&mut cookie, pttl, NOW);
            assert_eq!(
                cookie.expires,
                Some(datetime!(9999-12-31 23:59:59.999 UTC)),
                "{pttl}"
            );
        }
    }
}
