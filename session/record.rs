//! The stored form of a session: cookie metadata plus a map of field name to JSON value.
//!
//! The JSON form is express-session's, byte for byte:
//! `{"cookie":{"originalMaxAge":60000,"expires":"2026-11-25T16:58:00.603Z","httpOnly":true,"path":"/"},"user":"bob"}`.
//! Field values are kept as raw JSON text, so fields that no Rust type names (or that a Rust type
//! cannot decode) are written back exactly as they were read.

use std::{
    borrow::Cow,
    cell::Cell,
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use compact_str::CompactString;
use serde::{
    de::{self, MapAccess, Visitor},
    Deserialize, Deserializer,
};
use serde_json::value::RawValue;
use time::{
    format_description::well_known::Rfc3339, macros::datetime, Date, Month, OffsetDateTime,
    PrimitiveDateTime, Time, UtcOffset,
};

use crate::cookie::{is_valid_domain, is_valid_path};

/// The `SameSite` attribute of the session cookie (express's `cookie.sameSite`).
///
/// The middleware's default is [`Lax`](Self::Lax), where express-session sends none: the browser
/// then sends the cookie on top-level navigations from other sites, but not on their cross-site
/// sub-requests and form posts (a defence against CSRF). Express's `'auto'` is
/// [`cookie_same_site_auto`](crate::SessionMiddlewareBuilder::cookie_same_site_auto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SameSite {
    /// `SameSite=Strict` (express: `true` or `'strict'`).
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
}

impl SameSite {
    fn as_json(self) -> &'static str {
        match self {
            SameSite::Strict => "strict",
            SameSite::Lax => "lax",
            SameSite::None => "none",
        }
    }

    pub(crate) fn as_attribute(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// The `Priority` attribute of the session cookie (a Chromium extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// `Priority=Low`.
    Low,
    /// `Priority=Medium`.
    Medium,
    /// `Priority=High`.
    High,
}

impl Priority {
    fn as_json(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }

    pub(crate) fn as_attribute(self) -> &'static str {
        match self {
            Priority::Low => "Low",
            Priority::Medium => "Medium",
            Priority::High => "High",
        }
    }
}

/// The cookie of one session: its lifetime and the attributes it is sent with.
///
/// This is express-session's `req.session.cookie`. It is stored with the session, so a lifetime
/// changed for one session (a "remember me" login) stays with that session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    pub(crate) original_max_age: Option<i64>,
    pub(crate) partitioned: Option<bool>,
    pub(crate) priority: Option<Priority>,
    pub(crate) expires: Option<OffsetDateTime>,
    pub(crate) secure: Option<bool>,
    pub(crate) http_only: bool,
    pub(crate) domain: Option<String>,
    pub(crate) path: CompactString,
    pub(crate) same_site: Option<SameSite>,
}

impl Default for SessionCookie {
    /// express-session's default cookie: path `/`, `HttpOnly`, no expiry (a browser-session cookie).
    fn default() -> Self {
        Self {
            original_max_age: None,
            partitioned: None,
            priority: None,
            expires: None,
            secure: None,
            http_only: true,
            domain: None,
            path: CompactString::const_new("/"),
            same_site: None,
        }
    }
}

/// The latest expiry a session can have: `9999-12-31T23:59:59.999Z`, the last millisecond that
/// both the record's ISO-8601 form and the cookie's HTTP date can write. Later instants (a huge
/// `originalMaxAge`, a stored date such as JavaScript's `+275760-09-13T00:00:00.000Z`) saturate
/// to it.
pub(crate) const MAX_INSTANT: OffsetDateTime = datetime!(9999-12-31 23:59:59.999 UTC);

/// The earliest instant kept: `0000-01-01T00:00:00.000Z`. Earlier ones (long past either way)
/// saturate to it.
pub(crate) const MIN_INSTANT: OffsetDateTime = datetime!(0000-01-01 00:00:00 UTC);

/// The longest lifetime (`originalMaxAge`) kept, in milliseconds: from [`MIN_INSTANT`] to
/// [`MAX_INSTANT`]. A longer one (stored, or set) reads as this long, in either direction.
pub(crate) const MAX_LIFETIME_MS: i64 = 315_569_519_999_999;

/// `t` in UTC, saturated to [`MIN_INSTANT`]..=[`MAX_INSTANT`].
pub(crate) fn clamp_instant(t: OffsetDateTime) -> OffsetDateTime {
    // Nearly every instant: in UTC already, and a year from 0 to 9998 lies within the bounds.
    // (Comparing `OffsetDateTime`s converts both to UTC, twice for a clamp.)
    if t.offset().is_utc() && (0..=9998).contains(&t.year()) {
        return t;
    }
    match t.checked_to_offset(UtcOffset::UTC) {
        Some(utc) => utc.clamp(MIN_INSTANT, MAX_INSTANT),
        // Beyond what `time` holds in UTC: late on 31 Dec 9999 west of Greenwich, or early on
        // 1 Jan -9999 east of it.
        None if t.offset().is_negative() => MAX_INSTANT,
        None => MIN_INSTANT,
    }
}

/// `t` plus `ms` milliseconds, saturated as [`clamp_instant`] does.
pub(crate) fn add_ms(t: OffsetDateTime, ms: i64) -> OffsetDateTime {
    clamp_instant(t.saturating_add(time::Duration::milliseconds(ms)))
}

/// The current time, truncated to milliseconds as JavaScript's `Date` holds it.
pub(crate) fn now_ms() -> OffsetDateTime {
    truncate_ms(now_utc())
}

thread_local! {
    /// The last whole second [`now_utc`] read on this thread, as a Unix timestamp and as a date
    /// and time.
    static LAST_SECOND: Cell<(u64, OffsetDateTime)> =
        const { Cell::new((u64::MAX, OffsetDateTime::UNIX_EPOCH)) };
}

/// The wall clock, as [`OffsetDateTime::now_utc`] reads it. A request reads the clock a few
/// times; the calendar date and time of day of the current second are computed once per second
/// and thread, and each reading adds its nanoseconds to them.
pub(crate) fn now_utc() -> OffsetDateTime {
    let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return OffsetDateTime::now_utc();
    };
    LAST_SECOND.with(|last| at_second(last, since_epoch.as_secs(), since_epoch.subsec_nanos()))
}

/// `secs` seconds and `nanos` nanoseconds after the Unix epoch, the date and time of whole second
/// `secs` taken from `last` when it holds that second (and kept there otherwise).
fn at_second(last: &Cell<(u64, OffsetDateTime)>, secs: u64, nanos: u32) -> OffsetDateTime {
    let (last_secs, last_at) = last.get();
    let second = if last_secs == secs {
        last_at
    } else {
        let Some(second) = i64::try_from(secs)
            .ok()
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        else {
            return OffsetDateTime::now_utc();
        };
        last.set((secs, second));
        second
    };
    second
        .replace_nanosecond(nanos)
        .expect("a second has fewer than 10^9 nanoseconds")
}

fn truncate_ms(t: OffsetDateTime) -> OffsetDateTime {
    let ms = t.millisecond();
    t.replace_nanosecond(u32::from(ms) * 1_000_000)
        .expect("a whole number of milliseconds is a valid nanosecond")
}

/// A lifetime in whole milliseconds, saturated at [`MAX_LIFETIME_MS`].
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis())
        .unwrap_or(i64::MAX)
        .min(MAX_LIFETIME_MS)
}

impl SessionCookie {
    /// Makes a loaded `expires` follow `truth`, the instant its store will drop the session (a
    /// Redis key's TTL, a PostgreSQL row's `expire`), when the two differ by more than a second or
    /// the stored one has passed. A Node store's touch moves only its own expiry (connect-redis's
    /// `EXPIRE`, connect-pg-simple's `expire` column, both in whole seconds), so a session that a
    /// Node app keeps alive carries a stale `expires` in its JSON. A cookie without expiry is left
    /// as stored.
    #[cfg(any(feature = "redis", feature = "postgres"))]
    pub(crate) fn follow_store_expiry(&mut self, truth: OffsetDateTime, now: OffsetDateTime) {
        /// Whole seconds, rounded up, and a round trip.
        const TOLERANCE_MS: i128 = 1000;
        let Some(stored) = self.expires else {
            return;
        };
        if stored <= now || (truth - stored).whole_milliseconds().abs() > TOLERANCE_MS {
            self.expires = Some(truth);
        }
    }

    /// Milliseconds until the cookie expires, as express's `cookie.maxAge` reads (negative once
    /// past); `None` for a browser-session cookie.
    pub fn max_age_ms(&self) -> Option<i64> {
        self.max_age_ms_at(now_ms())
    }

    pub(crate) fn max_age_ms_at(&self, now: OffsetDateTime) -> Option<i64> {
        self.expires
            .map(|e| i64::try_from((e - now).whole_milliseconds()).unwrap_or(i64::MIN))
    }

    /// Sets the lifetime from now, as express's `cookie.maxAge = ms`: the cookie expires after
    /// `max_age`, and that becomes this session's lifetime on every later touch. `None` makes it a
    /// browser-session cookie.
    ///
    /// Lifetimes saturate: the expiry is at most `9999-12-31T23:59:59.999Z`, and the lifetime at
    /// most the ten thousand years from year 0 to then.
    pub fn set_max_age(&mut self, max_age: Option<Duration>) {
        let now = now_ms();
        match max_age {
            Some(d) => {
                let ms = millis(d);
                self.expires = Some(add_ms(now, ms));
                self.original_max_age = Some(ms);
            }
            None => {
                self.expires = None;
                self.original_max_age = None;
            }
        }
    }

    /// The lifetime that every touch renews (`cookie.originalMaxAge`), in milliseconds.
    pub fn original_max_age_ms(&self) -> Option<i64> {
        self.original_max_age
    }

    /// When the cookie expires; `None` for a browser-session cookie.
    pub fn expires(&self) -> Option<OffsetDateTime> {
        self.expires
    }

    /// Sets the expiry directly, as express's `cookie.expires = date`: the time from now to `at`
    /// becomes the session's lifetime. `None` makes it a browser-session cookie. The expiry is
    /// kept in UTC, between `0000-01-01T00:00:00.000Z` and `9999-12-31T23:59:59.999Z`.
    pub fn set_expires(&mut self, at: Option<OffsetDateTime>) {
        let now = now_ms();
        self.expires = at.map(|at| truncate_ms(clamp_instant(at)));
        self.original_max_age = self.max_age_ms_at(now);
    }

    /// Renews the expiry: `expires = now + originalMaxAge` (express's `session.touch()`).
    pub(crate) fn touch_at(&mut self, now: OffsetDateTime) {
        if let Some(ms) = self.original_max_age {
            self.expires = Some(add_ms(now, ms));
        }
    }

    /// Whether the cookie carries the `Secure` attribute.
    pub fn secure(&self) -> bool {
        self.secure.unwrap_or(false)
    }

    /// Whether the cookie carries the `HttpOnly` attribute.
    pub fn http_only(&self) -> bool {
        self.http_only
    }

    /// The cookie's `Path`. Empty when the stored path was not a valid cookie path (it then
    /// was dropped when the record was read, and the middleware uses its configured path).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The cookie's `Domain`, if any. A stored domain that is not a host name is dropped when the
    /// record is read (the cookie is then for the request's host only).
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The cookie's `SameSite`, if any.
    pub fn same_site(&self) -> Option<SameSite> {
        self.same_site
    }

    /// The cookie's `Priority`, if any.
    pub fn priority(&self) -> Option<Priority> {
        self.priority
    }

    /// Whether the cookie carries the `Partitioned` attribute.
    pub fn partitioned(&self) -> bool {
        self.partitioned.unwrap_or(false)
    }

    /// Whether the session has expired at `now`.
    pub(crate) fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// Appends the express JSON form of the cookie object.
    /// The length of what [`write_json`](Self::write_json) writes, computed without writing it.
    pub(crate) fn json_len(&self) -> usize {
        let mut n = r#"{"originalMaxAge":"#.len()
            + self
                .original_max_age
                .map_or(4, |ms| itoa::Buffer::new().format(ms).len());
        if let Some(p) = self.partitioned {
            n += r#","partitioned":"#.len() + bool_len(p);
        }
        if let Some(p) = self.priority {
            n += r#","priority":"#.len() + p.as_json().len() + 2;
        }
        n += r#","expires":"#.len()
            + if self.expires.is_some() {
                QUOTED_ISO_LEN
            } else {
                4
            };
        if let Some(s) = self.secure {
            n += r#","secure":"#.len() + bool_len(s);
        }
        n += r#","httpOnly":"#.len() + bool_len(self.http_only);
        if let Some(d) = &self.domain {
            n += r#","domain":"#.len() + json_str_len(d);
        }
        n += r#","path":"#.len() + json_str_len(&self.path);
        if let Some(s) = self.same_site {
            n += r#","sameSite":"#.len() + s.as_json().len() + 2;
        }
        n + 1
    }

    pub(crate) fn write_json(&self, out: &mut String) {
        out.push('{');
        out.push_str("\"originalMaxAge\":");
        match self.original_max_age {
            Some(ms) => push_int(out, ms),
            None => out.push_str("null"),
        }
        if let Some(p) = self.partitioned {
            out.push_str(",\"partitioned\":");
            out.push_str(if p { "true" } else { "false" });
        }
        if let Some(p) = self.priority {
            out.push_str(",\"priority\":\"");
            out.push_str(p.as_json());
            out.push('"');
        }
        out.push_str(",\"expires\":");
        match self.expires {
            Some(e) => {
                out.push('"');
                push_iso(out, e);
                out.push('"');
            }
            None => out.push_str("null"),
        }
        if let Some(s) = self.secure {
            out.push_str(",\"secure\":");
            out.push_str(if s { "true" } else { "false" });
        }
        out.push_str(",\"httpOnly\":");
        out.push_str(if self.http_only { "true" } else { "false" });
        if let Some(d) = &self.domain {
            out.push_str(",\"domain\":");
            push_json_str(out, d);
        }
        out.push_str(",\"path\":");
        push_json_str(out, &self.path);
        if let Some(s) = self.same_site {
            out.push_str(",\"sameSite\":\"");
            out.push_str(s.as_json());
            out.push('"');
        }
        out.push('}');
    }
}

fn push_int(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Whether `s` is written as a JSON string literal without any escape.
fn needs_no_escape(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

fn push_json_str(out: &mut String, s: &str) {
    if needs_no_escape(s) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
    }
}

/// The length of `s` as a JSON string literal, escaped as `serde_json` (and `JSON.stringify`)
/// escape it: quotes, `\"`, `\\`, the short escapes of `\b \f \n \r \t`, `\u00XX` for the other
/// control characters, everything else as is.
pub(crate) fn json_str_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | 0x08 | 0x0c | b'\n' | b'\r' | b'\t' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// The length of `true` or `false`.
fn bool_len(b: bool) -> usize {
    if b {
        4
    } else {
        5
    }
}

/// The length of an ISO-8601 instant in quotes, `"2026-11-25T16:58:00.603Z"`: always 26, as
/// instants are clamped to the years 0000 to 9999.
const QUOTED_ISO_LEN: usize = 26;

/// JavaScript's `Date.prototype.toISOString`: `2026-11-25T16:58:00.603Z`.
/// Instants outside `0000`..=`9999` are written saturated (see [`clamp_instant`]).
pub(crate) fn push_iso(out: &mut String, t: OffsetDateTime) {
    let t = clamp_instant(t);
    // Every part is in range after the clamp: the year 0..=9999, the rest as a date has them.
    let year = u32::try_from(t.year()).unwrap_or(0);
    let mut text = [0u8; 24];
    let parts: [(u32, usize); 7] = [
        (year, 4),
        (u32::from(u8::from(t.month())), 2),
        (u32::from(t.day()), 2),
        (u32::from(t.hour()), 2),
        (u32::from(t.minute()), 2),
        (u32::from(t.second()), 2),
        (u32::from(t.millisecond()), 3),
    ];
    let mut at = 0;
    for (i, (mut value, width)) in parts.into_iter().enumerate() {
        for d in (0..width).rev() {
            text[at + d] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        at += width;
        if let Some(separator) = b"--T::.Z".get(i) {
            text[at] = *separator;
            at += 1;
        }
    }
    out.push_str(std::str::from_utf8(&text).expect("ASCII digits and separators"));
}

/// The data fields of a session record: field name to raw JSON value, in the order first seen.
///
/// Names of up to 24 bytes, which every usual field name is, are kept inline (`CompactString`).
/// The values of a record read from a store are kept side by side in one string, so reading a
/// record allocates twice (that string and the list of fields) whatever its number of fields.
#[derive(Clone, Default)]
pub struct Fields {
    /// The values read from a store, side by side: what [`Value::Read`] ranges index.
    read: String,
    entries: Vec<(CompactString, Value)>,
}

/// A field's raw JSON value, in 16 bytes.
#[derive(Debug, Clone)]
enum Value {
    /// `Fields::read[start..end]`: the text of a `RawValue` (valid JSON, no space around it),
    /// read from a store.
    Read { start: u32, end: u32 },
    /// A value set since, or read beyond the first 4 GiB of `Fields::read`.
    Set(Box<RawValue>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 16);

impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self.iter_json().zip(other.iter_json()).all(|(a, b)| a == b)
    }
}

/// The fields as a map of names to their raw JSON: `{"user": "bob", "n": 1}`.
impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// A value's JSON as it is, unquoted.
        struct Json<'a>(&'a str);

        impl fmt::Debug for Json<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }

        f.debug_map()
            .entries(self.iter_json().map(|(name, json)| (name, Json(json))))
            .finish()
    }
}

impl Fields {
    /// No fields, with room for `n` read from a store whose values take `json_len` bytes.
    pub(crate) fn with_read_capacity(n: usize, json_len: usize) -> Self {
        Self {
            read: String::with_capacity(json_len),
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends field `name`, which the fields do not have, with `json`, the text of a `RawValue`
    /// that a store holds (valid JSON, no space around it, as [`RawValue::get`] gives it): for
    /// readers of a stored record, whose names are unique and whose values are checked already,
    /// without [`set`](Self::set)'s search and without checking the value again.
    pub(crate) fn push_read(&mut self, name: &str, json: &str) {
        debug_assert!(self.json(name).is_none(), "duplicate field");
        debug_assert!(
            serde_json::from_str::<&RawValue>(json).is_ok_and(|raw| raw.get() == json),
            "not the text of a RawValue: {json:?}"
        );
        let value = self.keep_read(json).unwrap_or_else(|| {
            Value::Set(
                RawValue::from_string(json.to_owned())
                    .expect("a value read from a store is the text of a RawValue"),
            )
        });
        self.entries.push((name.into(), value));
    }

    /// `json`, the text of a `RawValue`, kept in `read`; `None` where `read` would outgrow
    /// 4 GiB, past what a range of `u32`s indexes (the value then takes a `RawValue` of its own).
    fn keep_read(&mut self, json: &str) -> Option<Value> {
        let start = u32::try_from(self.read.len()).ok()?;
        let end = u32::try_from(self.read.len() + json.len()).ok()?;
        self.read.push_str(json);
        Some(Value::Read { start, end })
    }

    /// Sets field `name` to `raw`, read from a store: [`set`](Self::set) without copying the
    /// value into an allocation of its own.
    fn set_read(&mut self, name: &str, raw: &RawValue) {
        let value = self
            .keep_read(raw.get())
            .unwrap_or_else(|| Value::Set(raw.to_owned()));
        self.put(name, value);
    }

    /// Sets field `name` to `value`, keeping its position if it exists (an owned name is kept
    /// as it is when appended).
    fn put<N: AsRef<str> + Into<CompactString>>(&mut self, name: N, value: Value) {
        match self.entries.iter_mut().find(|(k, _)| k == name.as_ref()) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name.into(), value)),
        }
    }

    /// The text of `value`.
    fn text<'a>(&'a self, value: &'a Value) -> &'a str {
        match value {
            Value::Read { start, end } => &self.read[*start as usize..*end as usize],
            Value::Set(raw) => raw.get(),
        }
    }

    /// `value` as a `RawValue`. A value read from a store is the text of one, so reading it
    /// again as one gives back that text.
    fn raw<'a>(&'a self, value: &'a Value) -> &'a RawValue {
        match value {
            Value::Read { start, end } => {
                serde_json::from_str(&self.read[*start as usize..*end as usize])
                    .expect("a value read from a store is the text of a RawValue")
            }
            Value::Set(raw) => raw,
        }
    }

    /// The raw JSON of field `name`, if the record has it.
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.entries
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| self.raw(v))
    }

    /// The bytes of JSON text the fields hold: their values' and, when read from a store, those
    /// of values since replaced or removed, which stay until the fields are dropped.
    #[cfg(feature = "redis")]
    pub(crate) fn json_bytes(&self) -> usize {
        self.read.len()
            + self
                .entries
                .iter()
                .map(|(_, value)| match value {
                    Value::Read { .. } => 0,
                    Value::Set(raw) => raw.get().len(),
                })
                .sum::<usize>()
    }

    /// The raw JSON text of field `name`, if the record has it: [`get`](Self::get)`(name)?.get()`.
    pub(crate) fn json(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| self.text(v))
    }

    /// Sets field `name` to a raw JSON value, keeping its position if it exists.
    pub fn set(&mut self, name: &str, value: Box<RawValue>) {
        self.put(name, Value::Set(value));
    }

    /// Removes field `name`.
    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(k, _)| &**k != name);
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.entries.iter().map(|(k, v)| (&**k, self.raw(v)))
    }

    /// The fields' names and raw JSON texts in order: [`iter`](Self::iter) with each value's
    /// [`RawValue::get`].
    pub(crate) fn iter_json(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (&**k, self.text(v)))
    }

    /// Applies a change set: sets and removals, in order.
    pub fn apply(&mut self, changes: &ChangeSet) {
        for (name, value) in changes.iter() {
            match value {
                Some(v) => self.set(name, v.to_owned()),
                None => self.remove(name),
            }
        }
    }

    /// [`apply`](Self::apply), taking the change set's values instead of copying them.
    pub(crate) fn apply_owned(&mut self, changes: ChangeSet) {
        for (name, value) in changes.changes {
            match value {
                Some(v) => self.put(name, Value::Set(v)),
                None => self.remove(&name),
            }
        }
    }
}

/// The fields a request changed: each one either set to a new JSON value or removed.
///
/// Stores apply a change set on top of what they hold *now*, so concurrent requests that change
/// different fields of one session do not overwrite each other.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    changes: Vec<(CompactString, Option<Box<RawValue>>)>,
}

impl ChangeSet {
    /// An empty change set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that field `name` is set to `value` (replacing an earlier change of it).
    pub fn set(&mut self, name: &str, value: Box<RawValue>) {
        self.put(name, Some(value));
    }

    /// Records that field `name` is removed (replacing an earlier change of it).
    pub fn remove(&mut self, name: &str) {
        self.put(name, None);
    }

    fn put(&mut self, name: &str, value: Option<Box<RawValue>>) {
        match self.changes.iter_mut().find(|(k, _)| &**k == name) {
            Some(entry) => entry.1 = value,
            None => self.changes.push((name.into(), value)),
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The number of changed fields.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// The changes: field name and new raw JSON value, `None` for a removed field.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&RawValue>)> {
        self.changes.iter().map(|(k, v)| (&**k, v.as_deref()))
    }

    pub(crate) fn clear(&mut self) {
        self.changes.clear();
    }

    /// Adds `other`'s changes, later ones replacing earlier changes of the same field.
    pub(crate) fn extend(&mut self, other: &ChangeSet) {
        for (name, value) in &other.changes {
            self.put(name, value.clone());
        }
    }
}

impl PartialEq for ChangeSet {
    fn eq(&self, other: &Self) -> bool {
        self.iter()
            .map(|(k, v)| (k, v.map(RawValue::get)))
            .eq(other.iter().map(|(k, v)| (k, v.map(RawValue::get))))
    }
}

/// One stored session: its cookie and its data fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// The session's cookie (lifetime and attributes).
    pub cookie: SessionCookie,
    /// The session's data fields.
    pub fields: Fields,
}

/// A stored record that could not be read.
#[derive(Debug)]
pub struct RecordError {
    message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid session record: {}", self.message)
    }
}

impl std::error::Error for RecordError {}

impl Record {
    /// A record with the given cookie and no data.
    pub fn new(cookie: SessionCookie) -> Self {
        Self {
            cookie,
            fields: Fields::default(),
        }
    }

    /// The express-session JSON form: `{"cookie":{…},"field":value,…}`.
    pub fn to_json(&self) -> String {
        Self::json_of(&self.cookie, &self.fields)
    }

    /// The express-session JSON form of a record with `cookie` and `fields`.
    pub(crate) fn json_of(cookie: &SessionCookie, fields: &Fields) -> String {
        let mut out = String::with_capacity(crate::store::size::record_len(cookie, fields));
        out.push_str("{\"cookie\":");
        cookie.write_json(&mut out);
        for (k, v) in fields.iter_json() {
            out.push(',');
            push_json_str(&mut out, k);
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        out
    }

    /// Reads the express-session JSON form. A record without its `cookie` object is an error.
    pub fn from_json(json: &str) -> Result<Self, RecordError> {
        match Self::from_plain_json(json) {
            Some(record) => Ok(record),
            None => Self::from_json_in_general(json),
        }
    }

    /// [`from_json`](Self::from_json) for any layout.
    fn from_json_in_general(json: &str) -> Result<Self, RecordError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let record = de
            .deserialize_map(RecordVisitor(json.len()))
            .map_err(|e| RecordError {
                message: e.to_string(),
            })?;
        de.end().map_err(|e| RecordError {
            message: e.to_string(),
        })?;
        Ok(record)
    }

    /// [`from_json`](Self::from_json) for express-session's own layout, the plain `cookie`
    /// object first (see [`read_plain_cookie`]), the data members then read by `serde_json`;
    /// `None` for any other text, valid or not, which the general reader then reads or rejects.
    fn from_plain_json(json: &str) -> Option<Self> {
        let (cookie, rest) = read_plain_cookie(json.strip_prefix(r#"{"cookie":"#)?)?;
        let fields = if rest == "}" {
            Fields::default()
        } else {
            // The members after the cookie, as an object of their own.
            let members = rest.strip_prefix(',').filter(|m| m.starts_with('"'))?;
            let mut object = String::with_capacity(1 + members.len());
            object.push('{');
            object.push_str(members);
            let mut de = serde_json::Deserializer::from_str(&object);
            let fields = de.deserialize_map(FieldsVisitor(members.len())).ok()?;
            de.end().ok()?;
            fields
        };
        let cookie = cookie.into_cookie().ok()?;
        Some(Record { cookie, fields })
    }
}

/// Reads a record's members in order: the data members into [`Fields`] (a later one replacing an
/// earlier one of the same name), each `cookie` member by `on_cookie`. `json_len`, the length of
/// the text read, bounds the values' (the room the fields make for them at once).
fn read_members<'de, A: MapAccess<'de>>(
    map: &mut A,
    json_len: usize,
    mut on_cookie: impl FnMut(&mut A) -> Result<(), A::Error>,
) -> Result<Fields, A::Error> {
    let mut fields = Fields::with_read_capacity(map.size_hint().unwrap_or(4), json_len);
    while let Some(Key(key)) = map.next_key()? {
        if key == "cookie" {
            on_cookie(map)?;
        } else {
            let value: &RawValue = map.next_value()?;
            fields.set_read(&key, value);
        }
    }
    Ok(fields)
}

/// The data members of a record, none of them named `cookie`, read from a text of the given
/// length.
struct FieldsVisitor(usize);

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a session's data members")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        read_members(&mut map, self.0, |_| {
            Err(de::Error::custom("a second `cookie`"))
        })
    }
}

/// A record, read from a text of the given length.
struct RecordVisitor(usize);

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a session object with a `cookie` object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut cookie = None;
        let fields = read_members(&mut map, self.0, |map| {
            let c: CookieJson<'de> = map.next_value()?;
            cookie = Some(c.into_cookie().map_err(de::Error::custom)?);
            Ok(())
        })?;
        let cookie = cookie.ok_or_else(|| de::Error::missing_field("cookie"))?;
        Ok(Record { cookie, fields })
    }
}

/// A JSON string borrowed from the record's text when it has no escapes (member names, dates,
/// attribute names), so reading it allocates nothing.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The stored `cookie` object as written: every member optional, unknown members ignored, a
/// member given twice an error. Each slot is `Some` once its member was seen (`Some(None)` for
/// `null`).
#[derive(Default)]
struct CookieJson<'de> {
    original_max_age: Option<Option<f64>>,
    partitioned: Option<Option<bool>>,
    priority: Option<Option<Key<'de>>>,
    expires: Option<Option<Key<'de>>>,
    secure: Option<Option<bool>>,
    http_only: Option<Option<bool>>,
    domain: Option<Option<String>>,
    path: Option<Option<Key<'de>>>,
    same_site: Option<Option<SameSiteJson<'de>>>,
}

impl<'de> Deserialize<'de> for CookieJson<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CookieVisitor;

        impl<'de> Visitor<'de> for CookieVisitor {
            type Value = CookieJson<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cookie object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CookieJson<'de>, A::Error> {
                /// Reads a member's value into its slot, once.
                fn fill<'de, A: MapAccess<'de>, V: Deserialize<'de>>(
                    map: &mut A,
                    slot: &mut Option<Option<V>>,
                    name: &'static str,
                ) -> Result<(), A::Error> {
                    if slot.is_some() {
                        return Err(de::Error::duplicate_field(name));
                    }
                    *slot = Some(map.next_value()?);
                    Ok(())
                }

                let mut c = CookieJson::default();
                while let Some(Key(key)) = map.next_key()? {
                    match &*key {
                        "originalMaxAge" => {
                            fill(&mut map, &mut c.original_max_age, "originalMaxAge")?
                        }
                        "partitioned" => fill(&mut map, &mut c.partitioned, "partitioned")?,
                        "priority" => fill(&mut map, &mut c.priority, "priority")?,
                        "expires" => fill(&mut map, &mut c.expires, "expires")?,
                        "secure" => fill(&mut map, &mut c.secure, "secure")?,
                        "httpOnly" => fill(&mut map, &mut c.http_only, "httpOnly")?,
                        "domain" => fill(&mut map, &mut c.domain, "domain")?,
                        "path" => fill(&mut map, &mut c.path, "path")?,
                        "sameSite" => fill(&mut map, &mut c.same_site, "sameSite")?,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(c)
            }
        }

        deserializer.deserialize_map(CookieVisitor)
    }
}

/// A stored `cookie.sameSite`: express-session keeps `true` (strict), `false` (none), or a name in
/// any case; anything else is an error when the cookie is read.
enum SameSiteJson<'de> {
    Bool(bool),
    Name(Cow<'de, str>),
    Other(&'de str),
}

impl<'de> Deserialize<'de> for SameSiteJson<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        Ok(match raw.get() {
            "true" => SameSiteJson::Bool(true),
            "false" => SameSiteJson::Bool(false),
            text => match serde_json::from_str::<Key<'de>>(text) {
                Ok(Key(name)) => SameSiteJson::Name(name),
                Err(_) => SameSiteJson::Other(text),
            },
        })
    }
}

/// Reads a `cookie` object as express-session and this crate write it (`JSON.stringify`'s
/// form): no whitespace, known members only, names and strings without escapes, numbers as
/// integers of at most 15 digits. `None` for anything else, which `CookieJson`'s `Deserialize`
/// then reads (or rejects); what this reads, that reads the same. Stores that keep the JSON
/// (Redis, PostgreSQL) read a record on every request.
fn read_plain_cookie(text: &str) -> Option<(CookieJson<'_>, &str)> {
    /// Fills a member's slot, once: a member given twice is left to the full reader's error.
    fn once<V>(slot: &mut Option<Option<V>>, value: Option<V>) -> Option<()> {
        slot.is_none().then(|| *slot = Some(value))
    }

    let mut c = CookieJson::default();
    let mut rest = text.strip_prefix('{')?;
    if let Some(after) = rest.strip_prefix('}') {
        return Some((c, after));
    }
    loop {
        let (name, after) = plain_string(rest)?;
        let (value, after) = PlainValue::read(after.strip_prefix(':')?)?;
        match name {
            "originalMaxAge" => once(&mut c.original_max_age, value.int()?.map(|n| n as f64))?,
            "expires" => once(&mut c.expires, value.str()?.map(|s| Key(Cow::Borrowed(s))))?,
            "httpOnly" => once(&mut c.http_only, value.bool()?)?,
            "secure" => once(&mut c.secure, value.bool()?)?,
            "partitioned" => once(&mut c.partitioned, value.bool()?)?,
            "path" => once(&mut c.path, value.str()?.map(|s| Key(Cow::Borrowed(s))))?,
            "domain" => once(&mut c.domain, value.str()?.map(str::to_owned))?,
            "priority" => once(&mut c.priority, value.str()?.map(|s| Key(Cow::Borrowed(s))))?,
            "sameSite" => {
                let same_site = match value {
                    PlainValue::Null => None,
                    PlainValue::Bool(b) => Some(SameSiteJson::Bool(b)),
                    PlainValue::Str(s) => Some(SameSiteJson::Name(Cow::Borrowed(s))),
                    PlainValue::Int(_) => return None,
                };
                once(&mut c.same_site, same_site)?
            }
            _ => return None,
        }
        match after.as_bytes().first()? {
            b',' => rest = &after[1..],
            b'}' => return Some((c, &after[1..])),
            _ => return None,
        }
    }
}

/// A member value [`read_plain_cookie`] reads.
enum PlainValue<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'a str),
}

impl<'a> PlainValue<'a> {
    /// An integer member: `Some(None)` for `null`, `None` for another type.
    fn int(self) -> Option<Option<i64>> {
        match self {
            PlainValue::Null => Some(None),
            PlainValue::Int(n) => Some(Some(n)),
            _ => None,
        }
    }

    /// A boolean member: `Some(None)` for `null`, `None` for another type.
    fn bool(self) -> Option<Option<bool>> {
        match self {
            PlainValue::Null => Some(None),
            PlainValue::Bool(b) => Some(Some(b)),
            _ => None,
        }
    }

    /// A string member: `Some(None)` for `null`, `None` for another type.
    fn str(self) -> Option<Option<&'a str>> {
        match self {
            PlainValue::Null => Some(None),
            PlainValue::Str(s) => Some(Some(s)),
            _ => None,
        }
    }

    /// The value at the start of `text` and what follows it.
    fn read(text: &'a str) -> Option<(Self, &'a str)> {
        for (literal, value) in [
            ("null", PlainValue::Null),
            ("true", PlainValue::Bool(true)),
            ("false", PlainValue::Bool(false)),
        ] {
            if let Some(rest) = text.strip_prefix(literal) {
                return Some((value, rest));
            }
        }
        if text.starts_with('"') {
            let (s, rest) = plain_string(text)?;
            return Some((PlainValue::Str(s), rest));
        }
        let (negative, digits) = match text.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, text),
        };
        let len = digits.bytes().take_while(u8::is_ascii_digit).count();
        // JSON has no leading zeros; 15 digits are exact in an f64, as JavaScript holds them.
        if len == 0 || len > 15 || (len > 1 && digits.starts_with('0')) {
            return None;
        }
        let n: i64 = digits[..len].parse().ok()?;
        Some((
            PlainValue::Int(if negative { -n } else { n }),
            &digits[len..],
        ))
    }
}

/// The JSON string at the start of `text`, if it has no escapes and no control characters, and
/// what follows it.
fn plain_string(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_prefix('"')?;
    let end = body
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    (body.as_bytes()[end] == b'"').then(|| (&body[..end], &body[end + 1..]))
}

impl CookieJson<'_> {
    fn into_cookie(self) -> Result<SessionCookie, String> {
        let expires = match self.expires.flatten() {
            Some(Key(s)) => Some(parse_expires(&s).ok_or_else(|| format!("cookie.expires {s:?}"))?),
            None => None,
        };
        let priority = match self.priority.flatten() {
            None => None,
            Some(Key(p)) if p.eq_ignore_ascii_case("low") => Some(Priority::Low),
            Some(Key(p)) if p.eq_ignore_ascii_case("medium") => Some(Priority::Medium),
            Some(Key(p)) if p.eq_ignore_ascii_case("high") => Some(Priority::High),
            Some(Key(p)) => return Err(format!("cookie.priority {p:?}")),
        };
        // express-session keeps `true` (strict), `false` (none), or a name in any case.
        let same_site = match self.same_site.flatten() {
            None | Some(SameSiteJson::Bool(false)) => None,
            Some(SameSiteJson::Bool(true)) => Some(SameSite::Strict),
            // Names compared in any case without a lowercased copy: a stored record is read on
            // every request.
            Some(SameSiteJson::Name(s)) if s.eq_ignore_ascii_case("strict") => {
                Some(SameSite::Strict)
            }
            Some(SameSiteJson::Name(s)) if s.eq_ignore_ascii_case("lax") => Some(SameSite::Lax),
            Some(SameSiteJson::Name(s)) if s.eq_ignore_ascii_case("none") => Some(SameSite::None),
            Some(SameSiteJson::Name(s)) => return Err(format!("cookie.sameSite {s:?}")),
            Some(SameSiteJson::Other(text)) => return Err(format!("cookie.sameSite {text}")),
        };
        Ok(SessionCookie {
            // JavaScript numbers: a lifetime is a whole number of milliseconds, saturated (the
            // bounds are exact in an f64, and so is the cast of any value between them).
            original_max_age: self
                .original_max_age
                .flatten()
                .map(|ms| ms.clamp(-(MAX_LIFETIME_MS as f64), MAX_LIFETIME_MS as f64) as i64),
            partitioned: self.partitioned.flatten(),
            priority,
            expires,
            secure: self.secure.flatten(),
            http_only: self.http_only.flatten().unwrap_or(true),
            domain: self.domain.flatten().filter(|domain| {
                let valid = is_valid_domain(domain);
                if !valid {
                    tracing::warn!(?domain, "stored cookie.domain is not a host name; dropped");
                }
                valid
            }),
            path: match self.path.flatten() {
                None => CompactString::const_new("/"),
                Some(Key(path)) if is_valid_path(&path) => CompactString::from(path),
                Some(Key(path)) => {
                    tracing::warn!(
                        ?path,
                        "stored cookie.path is not a valid cookie path; dropped"
                    );
                    CompactString::default()
                }
            },
            same_site,
        })
    }
}

/// A stored `cookie.expires`: an RFC 3339 date, in UTC and saturated (see [`clamp_instant`]).
/// JavaScript writes years beyond `0000`..=`9999` with six digits and a sign
/// (`+275760-09-13T00:00:00.000Z`); those read as the latest or earliest instant kept.
pub(crate) fn parse_expires(text: &str) -> Option<OffsetDateTime> {
    parse_iso_ms(text).or_else(|| parse_expires_in_general(text))
}

/// JavaScript's `toISOString` form of years `0000` to `9999`, `2026-11-25T16:58:00.603Z`, which is
/// what express-session writes and reads on every request, taken apart by position. Anything
/// else (another precision or offset, a leap second, lowercase letters) is `None`, for
/// [`parse_expires_in_general`] to read; what this reads, that reads the same.
fn parse_iso_ms(text: &str) -> Option<OffsetDateTime> {
    let b: &[u8; 24] = text.as_bytes().try_into().ok()?;
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    if separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u16, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0'))
        })
    };
    let small = |from: usize| number(from, from + 2).and_then(|n| u8::try_from(n).ok());
    let (second, millisecond) = (small(17)?, number(20, 23)?);
    if second > 59 {
        return None;
    }
    let date = Date::from_calendar_date(
        i32::from(number(0, 4)?),
        Month::try_from(small(5)?).ok()?,
        small(8)?,
    )
    .ok()?;
    let time = Time::from_hms_milli(small(11)?, small(14)?, second, millisecond).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// [`parse_expires`] for any RFC 3339 date and JavaScript's six-digit years.
fn parse_expires_in_general(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(clamp_instant(t));
    }
    let (sign, rest) = text.split_at_checked(1)?;
    let (year, rest) = rest.split_at_checked(6)?;
    if !year.bytes().all(|b| b.is_ascii_digit()) || !rest.starts_with('-') {
        return None;
    }
    // The rest must be a date and time as such (checked with a leap year in place of the year).
    OffsetDateTime::parse(&format!("2000{rest}"), &Rfc3339).ok()?;
    match (sign, year.parse::<u32>().ok()?) {
        ("+", year) if year > 9999 => Some(MAX_INSTANT),
        ("-", _) => Some(MIN_INSTANT),
        _ => None,
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn the_clock_reads_as_time_reads_it() {
        let before = OffsetDateTime::now_utc();
        let ours = now_utc();
        let after = OffsetDateTime::now_utc();
        assert!(before <= ours && ours <= after, "{before} {ours} {after}");
        assert_eq!(ours.offset(), UtcOffset::UTC);
    }

    #[test]
    fn instants_at_the_bounds_clamp_to_them() {
        use time::macros::datetime;
        let kept = datetime!(9998-12-31 23:59:59.999_999_999 UTC);
        assert_eq!(clamp_instant(kept), kept);
        assert_eq!(clamp_instant(datetime!(0000-01-01 00:00 UTC)), MIN_INSTANT);
        assert_eq!(
            clamp_instant(datetime!(9999-12-31 23:59:59.999_5 UTC)),
            MAX_INSTANT
        );
        assert_eq!(clamp_instant(datetime!(-0001-12-31 23:59 UTC)), MIN_INSTANT);
        // Year 0 in its own offset, but still year -1 in UTC.
        assert_eq!(
            clamp_instant(datetime!(0000-01-01 00:30 +01:00)),
            MIN_INSTANT
        );
        // Year 9998 in its own offset, 9999 in UTC.
        let east = datetime!(9998-12-31 23:30 -01:00);
        assert_eq!(clamp_instant(east), datetime!(9999-01-01 00:30 UTC));
        assert!(clamp_instant(east).offset().is_utc());
    }

    proptest::proptest! {
        #[test]
        fn javascript_iso_dates_read_as_the_rfc_3339_parser_reads_them(
            text in "[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9][.][0-9]{3}Z",
        ) {
            proptest::prop_assert_eq!(parse_expires(&text), parse_expires_in_general(&text));
        }

        /// The shortcut for UTC instants of years 0 to 9998 agrees with the full clamp, for
        /// any instant `time` holds (years -9999 to 9999) at any offset.
        #[test]
        fn clamping_an_instant_takes_the_full_clamps_result(
            seconds in -377_705_116_800i64..=253_402_300_799,
            nanos in 0u32..1_000_000_000,
            offset in proptest::prop_oneof![
                proptest::strategy::Just(0i32),
                -86_399i32..=86_399,
            ],
        ) {
            let utc = OffsetDateTime::from_unix_timestamp(seconds).unwrap()
                + time::Duration::nanoseconds(i64::from(nanos));
            let Some(t) = utc.checked_to_offset(UtcOffset::from_whole_seconds(offset).unwrap())
            else {
                return Ok(());
            };
            let full = match t.checked_to_offset(UtcOffset::UTC) {
                Some(utc) => utc.clamp(MIN_INSTANT, MAX_INSTANT),
                None if t.offset().is_negative() => MAX_INSTANT,
                None => MIN_INSTANT,
            };
            let ours = clamp_instant(t);
            proptest::prop_assert_eq!(ours, full);
            proptest::prop_assert!(ours.offset().is_utc());
        }

        #[test]
        fn every_instant_written_reads_back(ms in 0i64..=MAX_LIFETIME_MS) {
            let at = MIN_INSTANT + time::Duration::milliseconds(ms);
            let mut text = String::new();
            push_iso(&mut text, at);
            proptest::prop_assert_eq!(parse_iso_ms(&text), Some(at));
            proptest::prop_assert_eq!(parse_expires_in_general(&text), Some(at));
        }
    }

    /// A cookie object read by `read_plain_cookie` and by `CookieJson`'s `Deserialize`.
    fn both_ways(
        text: &str,
    ) -> (
        Option<Result<SessionCookie, String>>,
        Result<SessionCookie, String>,
    ) {
        let plain = read_plain_cookie(text)
            .filter(|(_, rest)| rest.is_empty())
            .map(|(c, _)| c.into_cookie());
        let full = serde_json::from_str::<CookieJson<'_>>(text)
            .map_err(|e| e.to_string())
            .and_then(CookieJson::into_cookie);
        (plain, full)
    }

    proptest::proptest! {
        // Most generated texts are not JSON, or not plain: more cases, for more that are.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// Whatever the plain reader reads (valid or not, every member, name and value type and
        /// their repetitions), the full reader reads the same.
        #[test]
        fn the_plain_cookie_reader_reads_as_serde_reads(
            text in concat!(
                r#"\{(("(originalMaxAge|expires|httpOnly|secure|partitioned|path|domain|priority|sameSite|other)"|"a\\u0062"|path)"#,
                r#"( ?: ?)(null|true|false|nul|-?(0|[1-9][0-9]{0,16})(\.5|e3)?|-|01"#,
                r#"|"(2026-0[1-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3}Z|[a-zA-Z/. ;=é]{0,8}|\\"|\u{1})"|\{\}|\[1\])"#,
                r#"(,| ,|, )?){0,5}\} ?"#,
            ),
        ) {
            let (plain, full) = both_ways(&text);
            if let Some(plain) = plain {
                proptest::prop_assert_eq!(plain.ok(), full.ok(), "{}", text);
            }
        }

        /// Every cookie this crate writes is read by the plain reader.
        #[test]
        fn every_cookie_written_reads_plainly(
            original_max_age in proptest::option::of(-MAX_LIFETIME_MS..=MAX_LIFETIME_MS),
            partitioned in proptest::option::of(proptest::bool::ANY),
            priority in proptest::option::of(0..3u8),
            expires_ms in proptest::option::of(0..=MAX_LIFETIME_MS),
            secure in proptest::option::of(proptest::bool::ANY),
            http_only in proptest::bool::ANY,
            domain in proptest::option::of("[a-z]{1,8}\\.[a-z]{2,4}"),
            path in "/[a-z/]{0,12}",
            same_site in proptest::option::of(0..3u8),
        ) {
            let cookie = SessionCookie {
                original_max_age,
                partitioned,
                priority: priority.map(|p| [Priority::Low, Priority::Medium, Priority::High][p as usize]),
                expires: expires_ms.map(|ms| MIN_INSTANT + time::Duration::milliseconds(ms)),
                secure,
                http_only,
                domain,
                path: path.into(),
                same_site: same_site.map(|s| [SameSite::Strict, SameSite::Lax, SameSite::None][s as usize]),
            };
            let mut text = String::new();
            cookie.write_json(&mut text);
            let (plain, full) = both_ways(&text);
            proptest::prop_assert_eq!(plain, Some(Ok(cookie.clone())), "{}", text);
            proptest::prop_assert_eq!(full, Ok(cookie), "{}", text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// Whatever record the plain reader reads, the general reader reads the same; and every
        /// record this crate writes, it reads.
        #[test]
        fn the_plain_record_reader_reads_as_the_general_one(
            cookie in r#"\{("originalMaxAge":(null|86400000|1.5)|"path":"/"|"httpOnly":true|"p":1)?(,"expires":"2026-12-03T08:00:00.000Z")?\}"#,
            members in r#"(, ?"(cookie|user|n|\\u0063ookie|é)": ?(1|"x"|\{"a":\[1,"b"\]\}|null|\[|"\\"\\u00e9"))*"#,
            end in r#"\}|\} |,\}|"#,
        ) {
            let text = format!(r#"{{"cookie":{cookie}{members}{end}"#);
            let general = Record::from_json_in_general(&text);
            if let Some(plain) = Record::from_plain_json(&text) {
                let general = general.as_ref().map_err(ToString::to_string);
                proptest::prop_assert_eq!(Ok(&plain), general, "{}", text);
                let again = Record::from_plain_json(&plain.to_json());
                proptest::prop_assert_eq!(again, Some(plain));
            }
        }
    }

    #[test]
    fn records_in_another_layout_are_left_to_the_general_reader() {
        for text in [
            r#"{"user":"bob","cookie":{"path":"/"}}"#,
            r#"{ "cookie":{"path":"/"}}"#,
            r#"{"cookie":{"path":"/"},"cookie":{"path":"/a"}}"#,
            r#"{"cookie":{"path":"/"},}"#,
            r#"{"cookie":{"path":"/"},"user":bob}"#,
            r#"{"cookie":{"expires":"yesterday"}}"#,
        ] {
            assert!(Record::from_plain_json(text).is_none(), "{text}");
        }
        let r = Record::from_plain_json(r#"{"cookie":{"path":"/"},"user":"bob","n":[1]}"#).unwrap();
        assert_eq!(
            r.to_json(),
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"user":"bob","n":[1]}"#
        );
    }

    #[test]
    fn cookies_in_another_form_are_left_to_serde() {
        for text in [
            r#"{"path":"/","path":"/"}"#,
            r#"{"path":"/" }"#,
            r#"{ "path":"/"}"#,
            r#"{"path":"/a\u0062"}"#,
            r#"{"originalMaxAge":1.5}"#,
            r#"{"originalMaxAge":1e3}"#,
            r#"{"originalMaxAge":0123}"#,
            r#"{"originalMaxAge":1234567890123456}"#,
            r#"{"unknown":1}"#,
            r#"{"path":"/",}"#,
            r#"{"sameSite":1}"#,
            "[]",
        ] {
            assert!(read_plain_cookie(text).is_none(), "{text}");
        }
        let (c, rest) =
            read_plain_cookie(r#"{"originalMaxAge":-5,"sameSite":true,"path":null},"a":1}"#)
                .unwrap();
        assert_eq!(rest, r#","a":1}"#);
        let c = c.into_cookie().unwrap();
        assert_eq!(
            (c.original_max_age_ms(), c.same_site(), c.path()),
            (Some(-5), Some(SameSite::Strict), "/")
        );
    }

    #[test]
    fn dates_in_another_form_are_left_to_the_rfc_3339_parser() {
        for text in [
            "2026-01-01T01:00:00.000+01:00",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.5Z",
            "2026-01-01t00:00:00.000z",
            "2016-12-31T23:59:60.000Z",
            "2026-02-29T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T00:00:00.000Z ",
            "+02026-01-01T00:00:00.000Z",
        ] {
            assert_eq!(parse_iso_ms(text), None, "{text:?}");
        }
        assert_eq!(
            parse_iso_ms("2026-01-01T00:00:00.000Z"),
            Some(datetime!(2026-01-01 00:00 UTC))
        );
        assert_eq!(parse_iso_ms("0000-01-01T00:00:00.000Z"), Some(MIN_INSTANT));
        assert_eq!(parse_iso_ms("9999-12-31T23:59:59.999Z"), Some(MAX_INSTANT));
    }

    proptest::proptest! {
        #[test]
        fn a_reading_within_a_remembered_second_is_the_full_conversion(
            secs in 0u64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            other in 0u32..1_000_000_000,
            earlier in 0u64..100_000,
        ) {
            let exact = |secs: u64, nanos: u32| {
                OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(secs) * 1_000_000_000 + i128::from(nanos),
                )
                .unwrap()
            };
            let last = Cell::new((u64::MAX, OffsetDateTime::UNIX_EPOCH));
            proptest::prop_assert_eq!(at_second(&last, secs, nanos), exact(secs, nanos));
            // The same second again: from what was kept.
            proptest::prop_assert_eq!(at_second(&last, secs, other), exact(secs, other));
            proptest::prop_assert_eq!(last.get().0, secs);
            // Another second (the clock may step back): computed afresh and kept.
            let back = secs.saturating_sub(earlier + 1);
            proptest::prop_assert_eq!(at_second(&last, back, nanos), exact(back, nanos));
            proptest::prop_assert_eq!(last.get().0, back);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// `json_len` is the length `write_json` writes, for any cookie; the fast paths of
        /// `write_json` write what `serde_json` and `time`'s formatting write.
        #[test]
        fn cookie_json_len_is_the_length_written_and_the_text_is_json(
            original_max_age in proptest::option::of(proptest::num::i64::ANY),
            partitioned in proptest::option::of(proptest::bool::ANY),
            priority in proptest::option::of(0..3u8),
            expires_ms in proptest::option::of(-400_000_000_000_000i64..400_000_000_000_000),
            secure in proptest::option::of(proptest::bool::ANY),
            http_only in proptest::bool::ANY,
            domain in proptest::option::of("[a-z.\\\"\u{0}-\u{1f}é😀]{0,12}"),
            path in "[/a-z\\\"\u{0}-\u{1f}é]{0,12}",
            same_site in proptest::option::of(0..3u8),
        ) {
            let cookie = SessionCookie {
                original_max_age,
                partitioned,
                priority: priority.map(|p| [Priority::Low, Priority::Medium, Priority::High][p as usize]),
                expires: expires_ms.map(|ms| add_ms(OffsetDateTime::UNIX_EPOCH, ms)),
                secure,
                http_only,
                domain: domain.clone(),
                path: path.as_str().into(),
                same_site: same_site.map(|s| [SameSite::Strict, SameSite::Lax, SameSite::None][s as usize]),
            };
            let mut out = String::new();
            cookie.write_json(&mut out);
            proptest::prop_assert_eq!(cookie.json_len(), out.len(), "{}", out);
            let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(&parsed["path"], &serde_json::Value::from(path));
            if let Some(domain) = domain {
                proptest::prop_assert_eq!(&parsed["domain"], &serde_json::Value::from(domain));
            }
            if let Some(ms) = original_max_age {
                proptest::prop_assert_eq!(&parsed["originalMaxAge"], &serde_json::Value::from(ms));
            }
            if let Some(expires) = cookie.expires {
                let t = clamp_instant(expires);
                let by_format = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                    t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second(), t.millisecond()
                );
                proptest::prop_assert_eq!(parsed["expires"].as_str(), Some(by_format.as_str()));
            }
        }
    }

    #[test]
    fn json_matches_express_key_order_and_date_format() {
        let mut cookie = SessionCookie {
            original_max_age: Some(60_000),
            expires: Some(datetime!(2026-11-25 16:58:00.603 UTC)),
            ..SessionCookie::default()
        };
        let mut record = Record::new(cookie.clone());
        record
            .fields
            .set("user", RawValue::from_string("\"bob\"".into()).unwrap());
        assert_eq!(
            record.to_json(),
            r#"{"cookie":{"originalMaxAge":60000,"expires":"2026-11-25T16:58:00.603Z","httpOnly":true,"path":"/"},"user":"bob"}"#
        );
        cookie.original_max_age = None;
        cookie.expires = None;
        assert_eq!(
            Record::new(cookie).to_json(),
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}}"#
        );
    }

    #[test]
    fn every_cookie_key_in_express_order() {
        let cookie = SessionCookie {
            original_max_age: Some(1000),
            partitioned: Some(true),
            priority: Some(Priority::High),
            expires: Some(datetime!(2026-01-02 03:04:05.006 UTC)),
            secure: Some(true),
            http_only: false,
            domain: Some("example.com".into()),
            path: "/app".into(),
            same_site: Some(SameSite::None),
        };
        let json = Record::new(cookie.clone()).to_json();
        assert_eq!(
            json,
            r#"{"cookie":{"originalMaxAge":1000,"partitioned":true,"priority":"high","expires":"2026-01-02T03:04:05.006Z","secure":true,"httpOnly":false,"domain":"example.com","path":"/app","sameSite":"none"}}"#
        );
        assert_eq!(Record::from_json(&json).unwrap().cookie, cookie);
    }

    #[test]
    fn round_trip_keeps_field_bytes_and_order() {
        let json = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"z":1.50,"a":{"x" : [1,2]},"u":"\u00e9"}"#;
        let record = Record::from_json(json).unwrap();
        let written = record.to_json();
        assert_eq!(written, json);
        assert_eq!(written.capacity(), written.len(), "allocated once, to size");
    }

    #[test]
    fn fields_read_from_a_store_read_and_change_as_fields_set_one_by_one() {
        let json = r#"{"cookie":{"path":"/"},"a":1,"b" : {"x" : [1, 2]},"a":"again","c":null}"#;
        let read = Record::from_json(json).unwrap().fields;
        let mut set = Fields::default();
        for (name, value) in [
            ("a", r#""again""#),
            ("b", r#"{"x" : [1, 2]}"#),
            ("c", "null"),
        ] {
            set.set(name, RawValue::from_string(value.into()).unwrap());
        }
        assert_eq!(
            read, set,
            "a later member replaces an earlier one in its place"
        );
        let texts = |f: &Fields| -> Vec<(String, String)> {
            f.iter()
                .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
                .collect()
        };
        assert_eq!(texts(&read), texts(&set));
        let by_text: Vec<_> = read
            .iter_json()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(by_text, texts(&set));
        for name in ["a", "b", "c", "d"] {
            assert_eq!(read.get(name).map(RawValue::get), set.json(name), "{name}");
            assert_eq!(read.json(name), set.json(name), "{name}");
        }

        let mut changed = read.clone();
        changed.set("b", RawValue::from_string("2".into()).unwrap());
        changed.remove("a");
        let mut changes = ChangeSet::new();
        changes.set("d", RawValue::from_string("[]".into()).unwrap());
        changed.apply(&changes);
        let got: Vec<_> = changed.iter_json().collect();
        assert_eq!(got, [("b", "2"), ("c", "null"), ("d", "[]")]);
        assert_eq!(
            read.json("b"),
            Some(r#"{"x" : [1, 2]}"#),
            "the clone is apart"
        );
        assert_eq!(
            format!("{read:?}"),
            r#"{"a": "again", "b": {"x" : [1, 2]}, "c": null}"#
        );
    }

    #[test]
    fn record_without_cookie_is_an_error() {
        let err = Record::from_json(r#"{"user":"bob"}"#).unwrap_err();
        assert!(err.to_string().contains("cookie"), "{err}");
        assert!(Record::from_json("not json").is_err());
        assert!(Record::from_json(r#"{"cookie":{"expires":"yesterday"}}"#).is_err());
    }

    #[test]
    fn cookie_members_are_read_escaped_or_not_once_each() {
        let r = Record::from_json(
            r#"{"cookie":{"p\u0061th":"/a\u0062","expires":"2026-01-02T03:04:05.006\u005a","priority":"H\u0069gh","sameSite":"L\u0061X","extra":[1,{"x":2}],"originalMaxAge":1000},"n\u00e4me":"v"}"#,
        )
        .unwrap();
        assert_eq!(r.cookie.path(), "/ab");
        assert_eq!(
            r.cookie.expires(),
            Some(datetime!(2026-01-02 03:04:05.006 UTC))
        );
        assert_eq!(r.cookie.priority(), Some(Priority::High));
        assert_eq!(r.cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(r.cookie.original_max_age_ms(), Some(1000));
        assert_eq!(r.fields.get("näme").map(RawValue::get), Some(r#""v""#));
        for json in [
            r#"{"cookie":{"path":"/","path":"/"}}"#,
            r#"{"cookie":{"expires":null,"expires":null}}"#,
            r#"{"cookie":{"sameSite":1}}"#,
            r#"{"cookie":{"sameSite":"sometimes"}}"#,
            r#"{"cookie":{"originalMaxAge":"1000"}}"#,
            r#"{"cookie":[]}"#,
        ] {
            assert!(Record::from_json(json).is_err(), "{json}");
        }
        let r = Record::from_json(r#"{"cookie":{"sameSite":false,"priority":null}}"#).unwrap();
        assert_eq!((r.cookie.same_site(), r.cookie.priority()), (None, None));
    }

    #[test]
    fn same_site_true_reads_as_strict() {
        let r = Record::from_json(r#"{"cookie":{"sameSite":true,"path":"/"}}"#).unwrap();
        assert_eq!(r.cookie.same_site, Some(SameSite::Strict));
    }

    #[test]
    fn set_max_age_moves_expiry_and_original_max_age() {
        let mut c = SessionCookie::default();
        c.set_max_age(Some(Duration::from_secs(60)));
        assert_eq!(c.original_max_age_ms(), Some(60_000));
        let left = c.max_age_ms().unwrap();
        assert!((59_000..=60_000).contains(&left), "{left}");
        c.set_expires(Some(now_ms() + Duration::from_secs(10)));
        let orig = c.original_max_age_ms().unwrap();
        assert!((9_000..=10_000).contains(&orig), "{orig}");
        c.set_max_age(None);
        assert_eq!((c.expires(), c.original_max_age_ms()), (None, None));
    }

    #[test]
    fn change_set_applies_sets_and_removals() {
        let mut fields = Fields::default();
        fields.set("a", RawValue::from_string("1".into()).unwrap());
        fields.set("b", RawValue::from_string("2".into()).unwrap());
        let mut changes = ChangeSet::new();
        changes.set("b", RawValue::from_string("3".into()).unwrap());
        changes.remove("a");
        changes.set("c", RawValue::from_string("4".into()).unwrap());
        let mut owned = fields.clone();
        fields.apply(&changes);
        let got: Vec<_> = fields.iter().map(|(k, v)| (k, v.get())).collect();
        assert_eq!(got, [("b", "3"), ("c", "4")]);
        owned.apply_owned(changes);
        assert_eq!(owned, fields, "taking the values changes the fields alike");
    }

    #[test]
    fn the_longest_lifetime_spans_year_0_to_the_last_instant() {
        assert_eq!(
            (MAX_INSTANT - MIN_INSTANT).whole_milliseconds(),
            i128::from(MAX_LIFETIME_MS)
        );
        // Both bounds and every value between them are exact in an f64 (JavaScript's number).
        assert_eq!(MAX_LIFETIME_MS as f64 as i64, MAX_LIFETIME_MS);
    }

    #[test]
    fn stored_lifetimes_beyond_year_9999_saturate_on_touch() {
        let now = datetime!(2026-12-01 12:00:00 UTC);
        for (stored, original) in [
            ("9007199254740991", MAX_LIFETIME_MS),
            ("999999999999999", MAX_LIFETIME_MS),
            ("1e300", MAX_LIFETIME_MS),
            ("315569519999999", MAX_LIFETIME_MS),
            ("-1e300", -MAX_LIFETIME_MS),
        ] {
            let json = format!(r#"{{"cookie":{{"originalMaxAge":{stored},"path":"/"}}}}"#);
            let mut record = Record::from_json(&json).unwrap();
            assert_eq!(
                record.cookie.original_max_age_ms(),
                Some(original),
                "{stored}"
            );
            record.cookie.touch_at(now);
            let expected = if original > 0 {
                MAX_INSTANT
            } else {
                MIN_INSTANT
            };
            assert_eq!(record.cookie.expires(), Some(expected), "{stored}");
            assert!(record.cookie.max_age_ms_at(now).is_some());
            let written = record.to_json();
            let date = if original > 0 {
                "9999-12-31T23:59:59.999Z"
            } else {
                "0000-01-01T00:00:00.000Z"
            };
            assert!(written.contains(date), "{written}");
            assert_eq!(Record::from_json(&written).unwrap().cookie, record.cookie);
        }
    }

    #[test]
    fn a_lifetime_set_beyond_year_9999_saturates() {
        let mut c = SessionCookie::default();
        c.set_max_age(Some(Duration::MAX));
        assert_eq!(c.expires(), Some(MAX_INSTANT));
        assert_eq!(c.original_max_age_ms(), Some(MAX_LIFETIME_MS));
        c.set_expires(Some(datetime!(9999-12-31 23:59:59.999 -05:00)));
        assert_eq!(c.expires(), Some(MAX_INSTANT));
        c.set_expires(Some(datetime!(-9999-01-01 00:00 +05:00)));
        assert_eq!(c.expires(), Some(MIN_INSTANT));
        assert!(c.is_expired_at(now_ms()));
    }

    #[test]
    fn javascript_dates_beyond_year_9999_read_as_the_bounds() {
        for (text, expected) in [
            ("+275760-09-13T00:00:00.000Z", Some(MAX_INSTANT)),
            ("+010000-01-01T00:00:00.000Z", Some(MAX_INSTANT)),
            ("-271821-04-20T00:00:00.000Z", Some(MIN_INSTANT)),
            ("-000001-12-31T23:59:59.999Z", Some(MIN_INSTANT)),
            ("9999-12-31T23:59:59.999Z", Some(MAX_INSTANT)),
            (
                "2026-01-01T01:00:00.000+01:00",
                Some(datetime!(2026-01-01 00:00 UTC)),
            ),
            ("+275760-13-13T00:00:00.000Z", None),
            ("+002026-01-01T00:00:00.000Z", None),
            ("+27576-09-13T00:00:00.000Z", None),
            ("+275760-09-13", None),
            ("", None),
            ("+", None),
        ] {
            assert_eq!(parse_expires(text), expected, "{text:?}");
        }
        let r =
            Record::from_json(r#"{"cookie":{"expires":"+275760-09-13T00:00:00.000Z","path":"/"}}"#)
                .unwrap();
        assert!(r
            .to_json()
            .contains(r#""expires":"9999-12-31T23:59:59.999Z""#));
        assert!(Record::from_json(r#"{"cookie":{"expires":"+1-01-01T00:00:00Z"}}"#).is_err());
    }

    #[test]
    fn an_expiry_with_an_offset_is_kept_in_utc() {
        let r = Record::from_json(
            r#"{"cookie":{"expires":"2026-01-01T01:00:00.000+01:00","path":"/"}}"#,
        )
        .unwrap();
        assert_eq!(r.cookie.expires().unwrap().offset(), UtcOffset::UTC);
        assert!(r
            .to_json()
            .contains(r#""expires":"2026-01-01T00:00:00.000Z""#));
        let mut out = String::new();
        push_iso(&mut out, datetime!(9999-12-31 23:00 -05:00));
        assert_eq!(out, "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_stored_domain_or_path_that_would_inject_attributes_is_dropped() {
        let r = Record::from_json(
            r#"{"cookie":{"domain":"evil.example; SameSite=None","path":"/; Domain=evil.example"}}"#,
        )
        .unwrap();
        assert_eq!(r.cookie.domain(), None);
        assert_eq!(r.cookie.path(), "");
        let r = Record::from_json(r#"{"cookie":{"domain":".example.com","path":"/app"}}"#).unwrap();
        assert_eq!(
            (r.cookie.domain(), r.cookie.path()),
            (Some(".example.com"), "/app")
        );
        let r = Record::from_json(r#"{"cookie":{}}"#).unwrap();
        assert_eq!((r.cookie.domain(), r.cookie.path()), (None, "/"));
    }
}
