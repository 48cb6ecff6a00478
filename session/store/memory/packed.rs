//! The packed form of a stored session: its id, cookie attributes and fields in one string, one
//! allocation per session.
//!
//! Layout, every number a [varint](put_varint) whose bytes are all ASCII, so that the whole is a
//! valid `str` and its strings are read back without UTF-8 validation:
//!
//! ```text
//! id_len id  flags  [originalMaxAge]  [path_len path]  [domain_len domain]  count
//! (name_len name value_len value) × count
//! ```
//!
//! `flags` holds the cookie's small attributes; `originalMaxAge` (zigzag), the path (left out
//! when it is `/`) and the domain follow when present. Values are the fields' raw JSON, as
//! stored: untouched bytes come back as they went in. The cookie's `expires`, which every touch
//! renews, lives beside the string (in [`Expires`]), so that a touch never rewrites it.

use time::OffsetDateTime;

use crate::record::{
    clamp_instant, ChangeSet, Fields, Priority, Record, SameSite, SessionCookie, MAX_INSTANT,
    MIN_INSTANT,
};

const HTTP_ONLY: u64 = 1;
const MAX_AGE: u64 = 1 << 1;
const PATH: u64 = 1 << 2;
const DOMAIN: u64 = 1 << 3;
/// Two bits each: 0 absent, then the variants in order.
const SAME_SITE: u32 = 4;
const PRIORITY: u32 = 6;
const SECURE: u32 = 8;
const PARTITIONED: u32 = 10;

/// The earliest and latest `expires` kept, in milliseconds since the Unix epoch.
const MIN_MS: i64 = (MIN_INSTANT.unix_timestamp_nanos() / 1_000_000) as i64;
const MAX_MS: i64 = (MAX_INSTANT.unix_timestamp_nanos() / 1_000_000) as i64;

/// A cookie's `expires`, as kept beside the packed string: milliseconds since the Unix epoch
/// and the nanoseconds below them. `sub_ms == NO_EXPIRES` for a browser-session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Expires {
    pub(super) ms: i64,
    pub(super) sub_ms: u32,
}

const NO_EXPIRES: u32 = u32::MAX;

impl Expires {
    pub(super) const NONE: Self = Self {
        ms: 0,
        sub_ms: NO_EXPIRES,
    };

    /// `at` in UTC, saturated to the instants a record keeps.
    pub(super) fn new(at: Option<OffsetDateTime>) -> Self {
        match at {
            None => Self::NONE,
            Some(at) => {
                let ns = clamp_instant(at).unix_timestamp_nanos();
                Self {
                    ms: ns.div_euclid(1_000_000) as i64,
                    sub_ms: ns.rem_euclid(1_000_000) as u32,
                }
            }
        }
    }

    /// `now_ms` (whole milliseconds) plus `ms`, saturated as [`crate::record::add_ms`] does.
    pub(super) fn after(now_ms: i64, ms: i64) -> Self {
        Self {
            ms: now_ms.saturating_add(ms).clamp(MIN_MS, MAX_MS),
            sub_ms: 0,
        }
    }

    /// Nanoseconds since the Unix epoch; `None` for a browser-session cookie.
    pub(super) fn nanos(self) -> Option<i128> {
        (self.sub_ms != NO_EXPIRES)
            .then(|| i128::from(self.ms) * 1_000_000 + i128::from(self.sub_ms))
    }

    fn datetime(self) -> Option<Option<OffsetDateTime>> {
        match self.nanos() {
            None => Some(None),
            Some(ns) => OffsetDateTime::from_unix_timestamp_nanos(ns).ok().map(Some),
        }
    }
}

/// Appends `v` in groups of 6 bits, least significant first, with bit 6 set on every byte but
/// the last: each byte is below 0x80, an ASCII character.
fn put_varint(out: &mut String, v: u64) {
    varint_bytes(v, |byte| out.push(char::from(byte)));
}

/// Gives `put` the bytes of [`put_varint`]'s form of `v`, in order.
#[inline(always)]
fn varint_bytes(mut v: u64, mut put: impl FnMut(u8)) {
    loop {
        let group = (v & 0x3f) as u8;
        v >>= 6;
        if v == 0 {
            put(group);
            return;
        }
        put(group | 0x40);
    }
}

fn varint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize).max(1).div_ceil(6)
}

fn put_str(out: &mut String, s: &str) {
    put_varint(out, s.len() as u64);
    out.push_str(s);
}

fn str_len(s: &str) -> usize {
    varint_len(s.len() as u64) + s.len()
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn two_bits(v: Option<u8>) -> u64 {
    v.map_or(0, |v| u64::from(v) + 1)
}

fn flags(cookie: &SessionCookie) -> u64 {
    let mut flags = 0;
    if cookie.http_only {
        flags |= HTTP_ONLY;
    }
    if cookie.original_max_age.is_some() {
        flags |= MAX_AGE;
    }
    if cookie.path != "/" {
        flags |= PATH;
    }
    if cookie.domain.is_some() {
        flags |= DOMAIN;
    }
    let same_site = cookie.same_site.map(|s| match s {
        SameSite::Strict => 0,
        SameSite::Lax => 1,
        SameSite::None => 2,
    });
    let priority = cookie.priority.map(|p| match p {
        Priority::Low => 0,
        Priority::Medium => 1,
        Priority::High => 2,
    });
    flags
        | two_bits(same_site) << SAME_SITE
        | two_bits(priority) << PRIORITY
        | two_bits(cookie.secure.map(u8::from)) << SECURE
        | two_bits(cookie.partitioned.map(u8::from)) << PARTITIONED
}

/// The packed form of session `id` with `cookie` and `fields` (names unique, each value the text
/// of a `RawValue`, which [`View::record`] takes unchecked); the cookie's `expires` is not in it
/// (see [`Expires`]).
/// `fields` makes the iterator twice: once to measure, once to write.
pub(super) fn encode<'a, I>(id: &str, cookie: &SessionCookie, fields: impl Fn() -> I) -> Box<str>
where
    I: Iterator<Item = (&'a str, &'a str)>,
{
    let flags = flags(cookie);
    let (mut count, mut len) = (0_u64, 0);
    for (name, value) in fields() {
        count += 1;
        len += str_len(name) + str_len(value);
    }
    len += header_len(id, cookie, flags) + varint_len(count);

    let mut out = String::with_capacity(len);
    put_header(&mut out, id, cookie, flags);
    put_varint(&mut out, count);
    for (name, value) in fields() {
        put_str(&mut out, name);
        put_str(&mut out, value);
    }
    debug_assert_eq!(out.len(), len);
    out.into_boxed_str()
}

/// The length of what [`put_header`] writes.
fn header_len(id: &str, cookie: &SessionCookie, flags: u64) -> usize {
    let mut len = str_len(id) + varint_len(flags);
    if let Some(ms) = cookie.original_max_age {
        len += varint_len(zigzag(ms));
    }
    if flags & PATH != 0 {
        len += str_len(&cookie.path);
    }
    if let Some(domain) = &cookie.domain {
        len += str_len(domain);
    }
    len
}

/// Appends the packed form's start, up to the field count: the id, `flags` (the cookie's, from
/// [`flags`]) and the cookie's attributes that follow them.
fn put_header(out: &mut String, id: &str, cookie: &SessionCookie, flags: u64) {
    put_str(out, id);
    put_varint(out, flags);
    if let Some(ms) = cookie.original_max_age {
        put_varint(out, zigzag(ms));
    }
    if flags & PATH != 0 {
        put_str(out, &cookie.path);
    }
    if let Some(domain) = &cookie.domain {
        put_str(out, domain);
    }
}

/// The packed form of session `id` with `cookie` and the fields of `view` with `changes`
/// applied ([`merged`]): what [`encode`] writes, in one pass over the merged fields instead of
/// two. Their count, which precedes them, is written after them into room kept for the most
/// there can be, and the room left over is closed up.
pub(super) fn encode_update(
    id: &str,
    cookie: &SessionCookie,
    view: &View<'_>,
    changes: &ChangeSet,
) -> Box<str> {
    let flags = flags(cookie);
    let max_count = (view.count + changes.len()) as u64;
    let count_room = varint_len(max_count);
    // The stored fields with their length prefixes, and every change with room for its
    // prefixes: at least what the merged fields take.
    let mut fields_len = view.text.len() - view.fields;
    for (name, value) in changes.iter() {
        fields_len += str_len(name) + value.map_or(0, |v| str_len(v.get()));
    }
    let len = header_len(id, cookie, flags) + count_room + fields_len;

    let mut out = String::with_capacity(len);
    put_header(&mut out, id, cookie, flags);
    let count_at = out.len();
    out.extend(std::iter::repeat_n('\0', count_room));
    let mut count = 0_u64;
    for (name, value) in merged(view.fields(), changes) {
        count += 1;
        put_str(&mut out, name);
        put_str(&mut out, value);
    }
    let (mut digits, mut n) = ([0_u8; 11], 0);
    varint_bytes(count, |byte| {
        digits[n] = byte;
        n += 1;
    });
    let digits = std::str::from_utf8(&digits[..n]).expect("varint bytes are ASCII");
    out.replace_range(count_at..count_at + count_room, digits);
    debug_assert!(out.len() <= len);
    out.into_boxed_str()
}

/// The packed form of `record` stored as session `id`, and its expiry.
pub(super) fn encode_record(id: &str, record: &Record) -> (Box<str>, Expires) {
    let fields = || record.fields.iter_json();
    (
        encode(id, &record.cookie, fields),
        Expires::new(record.cookie.expires),
    )
}

/// Reads a packed string from the start.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let (mut v, mut shift) = (0_u64, 0);
        loop {
            let byte = *self.text.as_bytes().get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x3f) << shift;
            if byte & 0x40 == 0 {
                return Some(v);
            }
            shift += 6;
            if shift >= 64 {
                return None;
            }
        }
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let s = self.text.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
}

/// A packed string read up to its fields.
pub(super) struct View<'a> {
    pub(super) id: &'a str,
    flags: u64,
    original_max_age: Option<i64>,
    path: &'a str,
    domain: Option<&'a str>,
    count: usize,
    /// Where the fields start.
    fields: usize,
    text: &'a str,
}

impl<'a> View<'a> {
    /// `None` only for a string that [`encode`] did not write.
    pub(super) fn new(text: &'a str) -> Option<Self> {
        let mut r = Reader { text, pos: 0 };
        let id = r.str()?;
        let flags = r.varint()?;
        let original_max_age = match flags & MAX_AGE {
            0 => None,
            _ => Some(unzigzag(r.varint()?)),
        };
        let path = match flags & PATH {
            0 => "/",
            _ => r.str()?,
        };
        let domain = match flags & DOMAIN {
            0 => None,
            _ => Some(r.str()?),
        };
        let count = usize::try_from(r.varint()?).ok()?;
        Some(Self {
            id,
            flags,
            original_max_age,
            path,
            domain,
            count,
            fields: r.pos,
            text,
        })
    }

    pub(super) fn original_max_age(&self) -> Option<i64> {
        self.original_max_age
    }

    /// The cookie, with `expires`.
    pub(super) fn cookie(&self, expires: Expires) -> Option<SessionCookie> {
        let field = |shift: u32| (self.flags >> shift) & 3;
        let boolean = |shift| match field(shift) {
            0 => None,
            v => Some(v == 2),
        };
        Some(SessionCookie {
            original_max_age: self.original_max_age,
            partitioned: boolean(PARTITIONED),
            priority: match field(PRIORITY) {
                0 => None,
                1 => Some(Priority::Low),
                2 => Some(Priority::Medium),
                _ => Some(Priority::High),
            },
            expires: expires.datetime()?,
            secure: boolean(SECURE),
            http_only: self.flags & HTTP_ONLY != 0,
            domain: self.domain.map(str::to_owned),
            path: self.path.into(),
            same_site: match field(SAME_SITE) {
                0 => None,
                1 => Some(SameSite::Strict),
                2 => Some(SameSite::Lax),
                _ => Some(SameSite::None),
            },
        })
    }

    /// The fields' names and raw JSON values, in order.
    pub(super) fn fields(&self) -> FieldIter<'a> {
        FieldIter {
            reader: Reader {
                text: self.text,
                pos: self.fields,
            },
            left: self.count,
        }
    }

    /// The whole record, with `expires`.
    pub(super) fn record(&self, expires: Expires) -> Option<Record> {
        // The fields' part of the string bounds their values' length.
        let mut fields = Fields::with_read_capacity(self.count, self.text.len() - self.fields);
        let mut iter = self.fields();
        for (name, value) in iter.by_ref() {
            // Names are unique and each value is a `RawValue`'s text, as `encode` was given them.
            fields.push_read(name, value);
        }
        if iter.left != 0 {
            return None;
        }
        Some(Record {
            cookie: self.cookie(expires)?,
            fields,
        })
    }
}

/// The fields of a [`View`].
#[derive(Clone)]
pub(super) struct FieldIter<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl Clone for Reader<'_> {
    fn clone(&self) -> Self {
        Self {
            text: self.text,
            pos: self.pos,
        }
    }
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let name = self.reader.str()?;
        let value = self.reader.str()?;
        self.left -= 1;
        Some((name, value))
    }
}

/// The session id of a packed string (empty for one that [`encode`] did not write).
pub(super) fn id(text: &str) -> &str {
    Reader { text, pos: 0 }.str().unwrap_or_default()
}

/// At least the length of the fields' part of the record JSON (`,"name":value` each) once
/// `changes` are applied to the fields of a packed string of `packed_len` bytes, computed without
/// reading it: a stored field takes at least its name, its value and two length bytes here, and
/// at most `4 + 6 × name + value` bytes of JSON (every name byte escaped as `\u00XX`).
pub(super) fn fields_json_len_bound(packed_len: usize, changes: &ChangeSet) -> usize {
    changes
        .iter()
        .map(|(name, value)| {
            4_usize
                .saturating_add(name.len().saturating_mul(6))
                .saturating_add(value.map_or(0, |v| v.get().len()))
        })
        .fold(packed_len.saturating_mul(6), usize::saturating_add)
}

/// The fields of `stored` with `changes` applied, as [`Fields::apply`] applies them: changed
/// fields keep their place, removed ones go, new ones follow in the change set's order.
pub(super) fn merged<'a>(stored: FieldIter<'a>, changes: &'a ChangeSet) -> Merged<'a> {
    Merged {
        all: stored.clone(),
        stored,
        changes,
        added: 0,
    }
}

/// The iterator of [`merged`].
pub(super) struct Merged<'a> {
    /// The stored fields not yet visited.
    stored: FieldIter<'a>,
    all: FieldIter<'a>,
    changes: &'a ChangeSet,
    /// Once the stored fields are done: how many changes were looked at for new fields.
    added: usize,
}

impl<'a> Iterator for Merged<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        for (name, value) in self.stored.by_ref() {
            match self.changes.iter().find(|(changed, _)| *changed == name) {
                None => return Some((name, value)),
                Some((_, Some(new))) => return Some((name, new.get())),
                Some((_, None)) => {}
            }
        }
        for (name, value) in self.changes.iter().skip(self.added) {
            self.added += 1;
            if let Some(value) = value {
                if !self.all.clone().any(|(old, _)| old == name) {
                    return Some((name, value.get()));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::value::RawValue;
    use time::macros::datetime;

    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn decode(packed: &str, expires: Expires) -> Record {
        View::new(packed).unwrap().record(expires).unwrap()
    }

    #[test]
    fn varints_are_ascii_and_read_back() {
        for v in [0, 1, 63, 64, 4095, 4096, u64::from(u32::MAX), u64::MAX] {
            let mut out = String::new();
            put_varint(&mut out, v);
            assert!(out.is_ascii());
            assert_eq!(out.len(), varint_len(v), "{v}");
            assert_eq!(Reader { text: &out, pos: 0 }.varint(), Some(v));
        }
        for v in [0, 1, -1, i64::MIN, i64::MAX, 3_600_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn a_record_reads_back_as_it_was_with_its_bytes() {
        let json = r#"{"cookie":{"originalMaxAge":1000,"partitioned":true,"priority":"high","expires":"2026-01-02T03:04:05.006Z","secure":true,"httpOnly":false,"domain":"example.com","path":"/app","sameSite":"none"},"z":1.50,"a":{"x" : [1,2]},"u":"\u00e9","é":"ü😀"}"#;
        let record = Record::from_json(json).unwrap();
        let (packed, expires) = encode_record("the-id", &record);
        assert_eq!(id(&packed), "the-id");
        let back = decode(&packed, expires);
        assert_eq!(back, record);
        assert_eq!(back.to_json(), json);
    }

    #[test]
    fn the_benchmark_record_packs_in_under_ninety_bytes() {
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(std::time::Duration::from_secs(3600)));
        let mut record = Record::new(cookie);
        record.fields.set("userId", raw("1000000"));
        record.fields.set("name", raw(r#""Ada Lovelace""#));
        record.fields.set("visits", raw("42"));
        let (packed, expires) = encode_record(&"0".repeat(32), &record);
        assert!(packed.len() < 90, "{}", packed.len());
        assert_eq!(decode(&packed, expires), record);
    }

    #[test]
    fn expires_keeps_nanoseconds_and_saturates() {
        let at = datetime!(2026-01-02 03:04:05.006_007_008 UTC);
        let e = Expires::new(Some(at));
        assert_eq!((e.ms % 1000, e.sub_ms), (6, 7_008));
        assert_eq!(e.datetime(), Some(Some(at)));
        let before_1970 = datetime!(1969-12-31 23:59:59.999_5 UTC);
        assert_eq!(
            Expires::new(Some(before_1970)).datetime(),
            Some(Some(before_1970))
        );
        assert_eq!(Expires::new(None).datetime(), Some(None));
        assert_eq!(Expires::after(MAX_MS, 1).ms, MAX_MS);
        assert_eq!(Expires::after(0, i64::MIN).ms, MIN_MS);
        assert_eq!(
            Expires::new(Some(datetime!(9999-12-31 23:00 -05:00))).datetime(),
            Some(Some(MAX_INSTANT))
        );
    }

    #[test]
    fn merged_fields_are_those_fields_apply_gives() {
        let mut fields = Fields::default();
        for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
            fields.set(k, raw(v));
        }
        let mut changes = ChangeSet::new();
        changes.set("d", raw("4"));
        changes.set("b", raw(r#""two""#));
        changes.remove("a");
        changes.remove("absent");
        let record = Record {
            cookie: SessionCookie::default(),
            fields: fields.clone(),
        };
        let (packed, _) = encode_record("s", &record);
        let view = View::new(&packed).unwrap();
        let got: Vec<_> = merged(view.fields(), &changes).collect();
        fields.apply(&changes);
        let want: Vec<_> = fields.iter().map(|(k, v)| (k, v.get())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_update_packs_counts_of_one_and_two_varint_bytes_as_encode() {
        let mut record = Record::default();
        for n in 0..40 {
            record.fields.set(&format!("f{n}"), raw(&n.to_string()));
        }
        let (packed, _) = encode_record("s", &record);
        let view = View::new(&packed).unwrap();
        let cookie = SessionCookie::default();
        // 70 fields after (a count of two bytes), then 10 (one byte, in room kept for two).
        let (mut added, mut removed) = (ChangeSet::new(), ChangeSet::new());
        for n in 0..30 {
            added.set(&format!("g{n}"), raw("true"));
            removed.remove(&format!("f{n}"));
        }
        for changes in [added, removed] {
            let two_passes = encode("s", &cookie, || merged(view.fields(), &changes));
            let one_pass = encode_update("s", &cookie, &view, &changes);
            assert_eq!(one_pass, two_passes);
            let mut fields = record.fields.clone();
            fields.apply(&changes);
            let read = View::new(&one_pass).unwrap().record(Expires::NONE).unwrap();
            assert_eq!(read.fields, fields);
        }
    }

    #[test]
    fn a_string_not_written_by_encode_reads_as_nothing() {
        for text in ["", "\x05ab", "\x01a\x7f\x7f\x7f", "\x01a\x01\x05"] {
            assert!(View::new(text)
                .and_then(|v| v.record(Expires::NONE))
                .is_none());
        }
    }

    fn cookie_strategy() -> impl Strategy<Value = SessionCookie> {
        let opt_bool = prop::option::of(any::<bool>());
        (
            prop::option::of(any::<i64>()),
            opt_bool.clone(),
            0..4_u8,
            prop::option::of(-62_167_219_200_000_i64..253_402_300_799_999),
            opt_bool,
            any::<bool>(),
            prop::option::of("[a-z.é]{0,20}"),
            "[/a-z]{0,10}",
            0..4_u8,
        )
            .prop_map(|(oma, part, prio, exp, sec, http, domain, path, ss)| {
                SessionCookie {
                    original_max_age: oma,
                    partitioned: part,
                    priority: [
                        None,
                        Some(Priority::Low),
                        Some(Priority::Medium),
                        Some(Priority::High),
                    ][usize::from(prio)],
                    expires: exp.map(|ms| {
                        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                            .unwrap()
                    }),
                    secure: sec,
                    http_only: http,
                    domain,
                    path: path.into(),
                    same_site: [
                        None,
                        Some(SameSite::Strict),
                        Some(SameSite::Lax),
                        Some(SameSite::None),
                    ][usize::from(ss)],
                }
            })
    }

    #[test]
    fn the_fields_bound_holds_for_names_of_control_characters() {
        let name = "\u{1}".repeat(12);
        let mut record = Record::default();
        record.fields.set(&name, raw("0"));
        let (packed, _) = encode_record("", &record);
        let view = View::new(&packed).unwrap();
        let mut changes = ChangeSet::new();
        changes.set(&"\u{2}".repeat(12), raw("1"));
        let exact = crate::store::size::json_len_of(0, merged(view.fields(), &changes))
            - r#"{"cookie":}"#.len();
        assert_eq!(exact, 2 * (4 + 6 * 12 + 1));
        assert!(fields_json_len_bound(packed.len(), &changes) >= exact);
    }

    /// A record of string fields `stored`, and a change set that sets (`Some`) or removes
    /// (`None`) each of `changes`.
    fn record_and_changes(
        stored: &[(String, String)],
        changes: &[(String, Option<String>)],
    ) -> (Record, ChangeSet) {
        let mut record = Record::default();
        for (name, s) in stored {
            record
                .fields
                .set(name, serde_json::value::to_raw_value(s).unwrap());
        }
        let mut set = ChangeSet::new();
        for (name, value) in changes {
            match value {
                Some(s) => set.set(name, serde_json::value::to_raw_value(s).unwrap()),
                None => set.remove(name),
            }
        }
        (record, set)
    }

    proptest! {
        #[test]
        fn the_fields_bound_is_never_below_the_merged_fields_json(
            id in "[a-z]{0,2}",
            stored in prop::collection::vec(("[\\u{0}-\\u{1f}\"\\\\a-zé]{0,12}", "\\PC{0,6}"), 0..8),
            changes in prop::collection::vec(("[\\u{0}-\\u{1f}\"\\\\a-zé]{0,12}", prop::option::of("\\PC{0,6}")), 0..8),
        ) {
            let (record, set) = record_and_changes(&stored, &changes);
            let (packed, _) = encode_record(&id, &record);
            let view = View::new(&packed).unwrap();
            let exact = crate::store::size::json_len_of(0, merged(view.fields(), &set))
                - r#"{"cookie":}"#.len();
            prop_assert!(fields_json_len_bound(packed.len(), &set) >= exact);
        }

        /// One pass writes what two do, whatever the stored fields, the changes (names stored
        /// or not, values longer or shorter, removals) and the new cookie.
        #[test]
        fn an_update_packs_as_encode_packs_the_merged_fields(
            id in "\\PC{0,40}",
            cookie in cookie_strategy(),
            stored in prop::collection::vec(("[a-e]{0,2}", "\\PC{0,30}"), 0..70),
            changes in prop::collection::vec(("[a-f]{0,2}", prop::option::of("\\PC{0,90}")), 0..70),
        ) {
            let (record, set) = record_and_changes(&stored, &changes);
            let (packed, _) = encode_record(&id, &record);
            let view = View::new(&packed).unwrap();
            let two_passes = encode(&id, &cookie, || merged(view.fields(), &set));
            prop_assert_eq!(encode_update(&id, &cookie, &view, &set), two_passes);
        }

        #[test]
        fn every_record_reads_back(
            cookie in cookie_strategy(),
            id in "\\PC{0,40}",
            fields in prop::collection::vec(("\\PC{0,12}", any::<i64>(), "\\PC{0,80}"), 0..8),
        ) {
            let mut record = Record::new(cookie);
            for (name, n, s) in &fields {
                let value = if n % 2 == 0 {
                    serde_json::value::to_raw_value(s).unwrap()
                } else {
                    serde_json::value::to_raw_value(n).unwrap()
                };
                record.fields.set(name, value);
            }
            let (packed, expires) = encode_record(&id, &record);
            let view = View::new(&packed).unwrap();
            prop_assert_eq!(view.id, id.as_str());
            prop_assert_eq!(view.record(expires).unwrap(), record);
        }
    }
}
