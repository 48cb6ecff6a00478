//! The session cookie on the wire, byte-compatible with express-session: signing with
//! `cookie-signature`'s scheme, reading the `Cookie` header as the `cookie` package does, and
//! writing `Set-Cookie` with express's attribute order.

use std::cell::Cell;

use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine as _};
use ring::hmac;
use time::{format_description::BorrowedFormatItem, macros::format_description, OffsetDateTime};

use crate::record::{clamp_instant, SessionCookie};

/// Longest cookie value considered; longer values are not a session cookie (browsers keep at most
/// 4096 bytes per cookie).
const MAX_VALUE_LEN: usize = 4096;

/// The bytes that JavaScript's `encodeURIComponent` leaves as they are: ASCII letters and digits
/// and `-_.!~*'()`. Every other byte of the UTF-8 encoding becomes `%XX` (upper-case hex).
const URI_COMPONENT_KEEP: [bool; 256] = {
    let mut keep = [false; 256];
    let mut b = 0;
    while b < 128 {
        keep[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let marks = b"-_.!~*'()";
    let mut i = 0;
    while i < marks.len() {
        keep[marks[i] as usize] = true;
        i += 1;
    }
    keep
};

/// IMF-fixdate, as JavaScript's `Date.prototype.toUTCString`.
const IMF_FIXDATE: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// The signing keys: the first signs, every one verifies.
#[derive(Clone)]
pub(crate) struct Secrets {
    keys: Vec<hmac::Key>,
    /// The key of [`Secrets::log_id`], derived from the first secret.
    log_key: hmac::Key,
}

/// A session id as logs show it: the first 6 bytes of its HMAC under a key of its own, in hex.
pub(crate) struct LogId([u8; 6]);

impl std::fmt::Display for LogId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Secrets shorter than this are accepted with a warning: HMAC-SHA256 takes 32-byte keys, and a
/// shorter secret (a passphrase) may be guessed offline from one signed cookie.
const RECOMMENDED_SECRET_LEN: usize = 32;

/// Why a list of secrets cannot sign cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretsError {
    /// The list is empty.
    Missing,
    /// The secret at this position (from 0) has no bytes.
    Empty(usize),
}

impl Secrets {
    /// Keys from the given secrets, in order. An empty list or an empty secret is refused (as
    /// express-session refuses a missing or empty `secret`); a secret shorter than 32 bytes is
    /// logged as a warning, by position and length only.
    pub(crate) fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Result<Self, SecretsError> {
        if secrets.is_empty() {
            return Err(SecretsError::Missing);
        }
        if let Some(i) = secrets.iter().position(|s| s.as_ref().is_empty()) {
            return Err(SecretsError::Empty(i));
        }
        for (i, s) in secrets.iter().enumerate() {
            let len = s.as_ref().len();
            if len < RECOMMENDED_SECRET_LEN {
                tracing::warn!(
                    secret = i + 1,
                    of = secrets.len(),
                    bytes = len,
                    "actix-typed-session: a session secret is shorter than 32 bytes; \
                     use at least 32 random bytes"
                );
            }
        }
        let keys: Vec<hmac::Key> = secrets
            .iter()
            .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_ref()))
            .collect();
        // A key of its own for log hashes, so that a hash is never a cookie signature.
        let log_key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&keys[0], b"actix-typed-session: session id in logs").as_ref(),
        );
        Ok(Self { keys, log_key })
    }

    /// A short keyed hash of session `id` for logs: the same on every server with the same first
    /// secret, and useless for forging a cookie (ids are bearer secrets; logs never hold them).
    pub(crate) fn log_id(&self, id: &str) -> LogId {
        let tag = hmac::sign(&self.log_key, id.as_bytes());
        let mut out = [0u8; 6];
        out.copy_from_slice(&tag.as_ref()[..6]);
        LogId(out)
    }

    /// `s:` + id + `.` + base64(HMAC-SHA256(id)) without padding: the value before percent-encoding.
    #[cfg(test)]
    pub(crate) fn sign(&self, id: &str) -> String {
        let tag = self.tag(id);
        let mut out = String::with_capacity(id.len() + 46);
        out.push_str("s:");
        out.push_str(id);
        out.push('.');
        out.push_str(tag.as_str());
        out
    }

    /// The signed value of `id`, percent-encoded as the browser holds it: what
    /// `encode_value(&self.sign(id))` answers, built in one allocation of the exact size.
    pub(crate) fn sign_encoded(&self, id: &str) -> String {
        let tag = self.tag(id);
        let signed = ["s:", id, ".", tag.as_str()];
        let mut out = Vec::with_capacity(signed.iter().map(|part| encoded_len(part)).sum());
        for part in signed {
            push_encoded(&mut out, part);
        }
        encoded_string(out)
    }

    /// base64(HMAC-SHA256(id)) under the first key, without padding.
    fn tag(&self, id: &str) -> Tag {
        let tag = hmac::sign(&self.keys[0], id.as_bytes());
        let mut out = [0u8; TAG_LEN];
        let n = STANDARD_NO_PAD
            .encode_slice(tag.as_ref(), &mut out)
            .expect("32 bytes are 43 base64 characters");
        debug_assert_eq!(n, TAG_LEN);
        Tag(out)
    }

    /// The id of a signed value (`s:<id>.<signature>`) if one of the secrets verifies it, in
    /// constant time per key.
    pub(crate) fn unsign<'a>(&self, value: &'a str) -> Option<&'a str> {
        self.unsign_by(value).map(|(id, _)| id)
    }

    /// The id of a signed value and the position of the secret that verified it (0: the one
    /// that signs), if one does.
    pub(crate) fn unsign_by<'a>(&self, value: &'a str) -> Option<(&'a str, usize)> {
        let signed = value.strip_prefix("s:")?;
        let dot = signed.rfind('.')?;
        let (id, sig) = (&signed[..dot], &signed[dot + 1..]);
        // HMAC-SHA256 is 32 bytes: 43 base64 characters without padding. Decoding is strict
        // (no padding, no stray bits), so only the exact string express produces verifies.
        if sig.len() != TAG_LEN {
            return None;
        }
        let mut tag = [0u8; 32];
        let n = STANDARD_NO_PAD.decode_slice(sig, &mut tag).ok()?;
        if n != tag.len() {
            return None;
        }
        self.keys
            .iter()
            .position(|key| hmac::verify(key, id.as_bytes(), &tag).is_ok())
            .map(|by| (id, by))
    }
}

/// Length of an HMAC-SHA256 tag in base64 without padding.
const TAG_LEN: usize = 43;

/// A signature as the cookie carries it: 43 base64 characters.
struct Tag([u8; TAG_LEN]);

impl Tag {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("base64 is ASCII")
    }
}

/// The cookie value sent to the browser: the signed id, encoded as `encodeURIComponent` does.
pub(crate) fn encode_value(signed: &str) -> String {
    let mut out = Vec::with_capacity(encoded_len(signed));
    push_encoded(&mut out, signed);
    encoded_string(out)
}

/// The length of `s` percent-encoded as `encodeURIComponent` does.
fn encoded_len(s: &str) -> usize {
    s.bytes()
        .map(|b| {
            if URI_COMPONENT_KEEP[usize::from(b)] {
                1
            } else {
                3
            }
        })
        .sum()
}

/// Appends `s` percent-encoded as `encodeURIComponent` does (the caller reserves
/// [`encoded_len`]): runs of bytes kept as they are copied at once, a table look-up per byte.
/// This encodes the cookie of every response that sets one (percent-encoding's iterator of pieces
/// cost about three times as much).
fn push_encoded(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rest = s.as_bytes();
    while let Some(at) = rest
        .iter()
        .position(|&b| !URI_COMPONENT_KEEP[usize::from(b)])
    {
        let b = rest[at];
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
}

/// The bytes [`push_encoded`] wrote, as the string they are (percent-encoding leaves only ASCII).
fn encoded_string(out: Vec<u8>) -> String {
    String::from_utf8(out).expect("percent-encoded text is ASCII")
}

/// The value of the first cookie called `name` in the given `Cookie` header values, decoded as
/// the `cookie` package does: surrounding double quotes removed, percent-decoded only if it
/// contains `%`, the raw value kept when decoding fails. Header values that are not UTF-8 are
/// searched byte-wise; a cookie of that name whose value is not UTF-8 counts as absent.
pub(crate) fn find_cookie<'a>(
    headers: impl IntoIterator<Item = &'a [u8]>,
    name: &str,
) -> Option<String> {
    decode_raw(find_raw_cookie(headers, name)?)
}

/// The raw value of the first cookie called `name`: as it stands in the header, surrounding
/// double quotes removed, not decoded; `None` when there is none or it is longer than a cookie
/// can be. [`decode_raw`] turns it into what [`find_cookie`] answers.
pub(crate) fn find_raw_cookie<'a>(
    headers: impl IntoIterator<Item = &'a [u8]>,
    name: &str,
) -> Option<&'a [u8]> {
    for header in headers {
        for pair in memchr::memchr_iter(b';', header)
            .chain([header.len()])
            .scan(0, |start, end| {
                let pair = &header[*start..end];
                *start = end + 1;
                Some(pair)
            })
        {
            let Some(eq) = memchr::memchr(b'=', pair) else {
                continue;
            };
            if trim(&pair[..eq]) != name.as_bytes() {
                continue;
            }
            let mut value = trim(&pair[eq + 1..]);
            if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
                value = &value[1..value.len() - 1];
            }
            // The first cookie of that name wins, whatever it holds.
            return (value.len() <= MAX_VALUE_LEN).then_some(value);
        }
    }
    None
}

/// A raw cookie value decoded: `None` if it is not UTF-8, else percent-decoded as the `cookie`
/// package does.
pub(crate) fn decode_raw(raw: &[u8]) -> Option<String> {
    std::str::from_utf8(raw).ok().map(decode_uri_component)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// `decodeURIComponent`, falling back to the raw value where it would throw (a `%` not followed by
/// two hex digits, or bytes that are not UTF-8).
fn decode_uri_component(value: &str) -> String {
    if !value.contains('%') {
        return value.to_owned();
    }
    // One pass into a buffer of the right size: this runs on every request with a cookie.
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            match (hex_digit(bytes.get(i + 1)), hex_digit(bytes.get(i + 2))) {
                (Some(high), Some(low)) => out.push(high << 4 | low),
                _ => return value.to_owned(),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

fn hex_digit(byte: Option<&u8>) -> Option<u8> {
    char::from(*byte?).to_digit(16).map(|d| d as u8)
}

/// A `Set-Cookie` header value in express's attribute order: Domain; Path; Expires; HttpOnly;
/// Secure; Partitioned; Priority; SameSite. Never `Max-Age`.
///
/// A `Domain` or `Path` that is not a valid attribute value is not written as it is: an invalid
/// domain is left out (the cookie is then for the request's host only), an invalid path is
/// replaced by `default_path`, the middleware's configured path (or `/` if that is invalid too).
///
/// The string is allocated once, at its exact length: a header value made from it then takes
/// the allocation over as it is.
pub(crate) fn set_cookie(
    name: &str,
    encoded_value: &str,
    cookie: &SessionCookie,
    default_path: &str,
) -> String {
    let expires = cookie.expires().map(http_date);
    let expires = expires.as_ref().map(HttpDate::as_str);
    attributes(name, encoded_value, cookie, default_path, expires)
}

/// A `Set-Cookie` that makes the browser drop the session cookie at once.
pub(crate) fn clear_cookie(name: &str, cookie: &SessionCookie, default_path: &str) -> String {
    attributes(name, "", cookie, default_path, Some(EPOCH_DATE))
}

const EPOCH_DATE: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

/// `name=value` and the attributes, in one allocation of the exact size.
fn attributes(
    name: &str,
    value: &str,
    cookie: &SessionCookie,
    default_path: &str,
    expires: Option<&str>,
) -> String {
    let domain = scope_domain(cookie);
    let path = scope_path(cookie, default_path);
    let priority = cookie.priority().map(|p| p.as_attribute());
    let same_site = cookie.same_site().map(|s| s.as_attribute());
    let parts: [(&str, Option<&str>); 8] = [
        ("; Domain=", domain),
        ("; Path=", Some(path)),
        ("; Expires=", expires),
        ("; HttpOnly", cookie.http_only().then_some("")),
        ("; Secure", cookie.secure().then_some("")),
        ("; Partitioned", cookie.partitioned().then_some("")),
        ("; Priority=", priority),
        ("; SameSite=", same_site),
    ];
    let len = name.len()
        + 1
        + value.len()
        + parts
            .iter()
            .filter_map(|(key, value)| value.map(|v| key.len() + v.len()))
            .sum::<usize>();
    let mut out = String::with_capacity(len);
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    for (key, value) in parts {
        if let Some(value) = value {
            out.push_str(key);
            out.push_str(value);
        }
    }
    debug_assert_eq!(out.len(), len);
    out
}

/// The `Domain` to write: the cookie's, if it is a valid attribute value (see [`set_cookie`]).
fn scope_domain(cookie: &SessionCookie) -> Option<&str> {
    match cookie.domain() {
        Some(domain) if is_valid_domain(domain) => Some(domain),
        Some(domain) => {
            tracing::warn!(
                ?domain,
                "cookie domain is not a host name; left out of Set-Cookie"
            );
            None
        }
        None => None,
    }
}

/// The `Path` to write: the cookie's, else `default_path`, else `/` (see [`set_cookie`]).
fn scope_path<'a>(cookie: &'a SessionCookie, default_path: &'a str) -> &'a str {
    let path = [cookie.path(), default_path]
        .into_iter()
        .find(|path| is_valid_path(path))
        .unwrap_or("/");
    if path != cookie.path() && !cookie.path().is_empty() {
        tracing::warn!(path = ?cookie.path(), "cookie path is not valid; the configured path is used");
    }
    path
}

/// Whether `domain` is a valid `Domain` attribute value: a host name (labels of letters, digits and
/// inner hyphens, 1 to 63 characters, joined by dots) with an optional leading dot, as the
/// `cookie` package that express-session uses accepts it.
pub(crate) fn is_valid_domain(domain: &str) -> bool {
    let host = domain.strip_prefix('.').unwrap_or(domain);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            let bytes = label.as_bytes();
            (1..=63).contains(&bytes.len())
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether `path` is a valid `Path` attribute value: RFC 6265's path-value (any character but
/// controls and `;`), here printable ASCII, starting with `/` (browsers replace any other path by
/// the request's directory), at most 1024 bytes (RFC 6265bis).
pub(crate) fn is_valid_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 1024
        && path
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b';')
}

/// An IMF-fixdate: 29 ASCII characters.
struct HttpDate([u8; 29]);

impl HttpDate {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an IMF-fixdate is ASCII")
    }
}

thread_local! {
    /// The last `Expires` text formatted on this thread, by its second since the epoch: every
    /// response within one second carries the same one (the time of day of a cookie's expiry
    /// moves with the clock).
    static LAST_DATE: Cell<(i64, [u8; 29])> = const { Cell::new((i64::MIN, [0; 29])) };
}

/// An `Expires` date. An instant before 1970 is written as the epoch: browsers read a year
/// before 1601 as no date at all (the cookie would outlive the browser session instead of
/// expiring), and a year below 100 as 19xx or 20xx. An instant after 9999 is written as the
/// last second of 9999.
fn http_date(t: OffsetDateTime) -> HttpDate {
    let t = clamp_instant(t);
    let second = t.unix_timestamp().max(0);
    let (cached, text) = LAST_DATE.get();
    if cached == second {
        return HttpDate(text);
    }
    let date = format_http_date(t);
    LAST_DATE.set((second, date.0));
    date
}

fn format_http_date(t: OffsetDateTime) -> HttpDate {
    const LAST: &str = "Fri, 31 Dec 9999 23:59:59 GMT";
    let fallback = if t < OffsetDateTime::UNIX_EPOCH {
        EPOCH_DATE
    } else {
        LAST
    };
    let formatted = (t >= OffsetDateTime::UNIX_EPOCH)
        .then(|| t.format(IMF_FIXDATE).ok())
        .flatten();
    // Every instant from 1970 to 9999 has an IMF-fixdate of 29 characters: the fallbacks are
    // for the clamped ends.
    let text = formatted.as_deref().unwrap_or(fallback);
    HttpDate(
        text.as_bytes()
            .try_into()
            .unwrap_or_else(|_| fallback.as_bytes().try_into().expect("29 characters")),
    )
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::record::{Priority, SameSite};

    fn secrets(list: &[&str]) -> Secrets {
        Secrets::new(list).unwrap()
    }

    /// `encodeURIComponent`'s set as percent-encoding spells it: the reference for the table.
    const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');

    fn reference_encode(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, URI_COMPONENT).to_string()
    }

    #[test]
    fn encoding_matches_percent_encoding_for_every_character_class() {
        let every_ascii: String = (0u8..128).map(char::from).collect();
        for s in [every_ascii.as_str(), "", "é€😀 a+b/c=d%", "s:id.tag+/"] {
            assert_eq!(encode_value(s), reference_encode(s), "{s:?}");
            assert_eq!(encoded_len(s), reference_encode(s).len(), "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn encoding_matches_percent_encoding(s in "\\PC*") {
            proptest::prop_assert_eq!(encode_value(&s), reference_encode(&s));
        }
    }

    #[test]
    fn express_test_vector_byte_for_byte() {
        let signed = secrets(&["keyboard cat"]).sign("apple");
        assert_eq!(
            encode_value(&signed),
            "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"
        );
    }

    #[test]
    fn sign_encoded_is_the_signed_value_encoded_in_one_exact_allocation() {
        let keys = secrets(&["keyboard cat"]);
        for id in ["apple", "Y2hhcmxpZS1icm93bi1jaGFybGllLWJy", "a b+c/é", ""] {
            let value = keys.sign_encoded(id);
            assert_eq!(value, encode_value(&keys.sign(id)), "{id}");
            assert_eq!(value.capacity(), value.len(), "{id}");
            let encoded = encode_value(id);
            assert_eq!(encoded.capacity(), encoded.len(), "{id}");
        }
        assert_eq!(
            keys.sign_encoded("apple"),
            "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"
        );
    }

    #[test]
    fn unsign_by_names_the_secret_that_verified() {
        let rotated = secrets(&["new", "old"]);
        assert_eq!(
            rotated.unsign_by(&secrets(&["new"]).sign("a")),
            Some(("a", 0))
        );
        assert_eq!(
            rotated.unsign_by(&secrets(&["old"]).sign("a")),
            Some(("a", 1))
        );
        assert_eq!(rotated.unsign_by(&secrets(&["other"]).sign("a")), None);
    }

    #[test]
    fn unsign_accepts_any_listed_secret_and_rejects_tampering() {
        let old = secrets(&["old"]).sign("abc");
        let rotated = secrets(&["new", "old"]);
        assert_eq!(rotated.unsign(&old), Some("abc"));
        assert_eq!(secrets(&["new"]).unsign(&old), None);
        let mut tampered = old.clone();
        tampered.replace_range(2..3, "x");
        assert_eq!(rotated.unsign(&tampered), None);
        assert_eq!(rotated.unsign(&old[2..]), None, "missing s: prefix");
        assert_eq!(rotated.unsign(&old[..old.len() - 1]), None, "truncated");
        assert_eq!(rotated.unsign("s:abc"), None);
        assert_eq!(rotated.unsign(""), None);
    }

    #[test]
    fn unsign_rejects_non_canonical_base64() {
        let signed = secrets(&["k"]).sign("id");
        // The last base64 character carries 2 unused bits; flipping one keeps the decoded bytes.
        let last = signed.chars().last().unwrap();
        let idx = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            .find(last)
            .unwrap();
        let alt = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            .chars()
            .nth(idx ^ 1)
            .unwrap();
        let mut forged = signed[..signed.len() - 1].to_owned();
        forged.push(alt);
        assert_eq!(secrets(&["k"]).unsign(&forged), None);
        assert_eq!(secrets(&["k"]).unsign(&format!("{signed}=")), None);
    }

    #[test]
    fn first_cookie_of_the_name_wins_and_is_decoded() {
        let headers: [&[u8]; 2] = [b"a=1; connect.sid=s%3Afirst; x=2", b"connect.sid=second"];
        assert_eq!(
            find_cookie(headers, "connect.sid").as_deref(),
            Some("s:first")
        );
        assert_eq!(
            find_cookie([&b"connect.sid=\"q\""[..]], "connect.sid").as_deref(),
            Some("q")
        );
        assert_eq!(find_cookie([&b"other=1"[..]], "connect.sid"), None);
    }

    #[test]
    fn invalid_percent_encoding_keeps_the_raw_value() {
        assert_eq!(decode_uri_component("s%3Aa%ZZ"), "s%3Aa%ZZ");
        assert_eq!(decode_uri_component("abc%"), "abc%");
        assert_eq!(decode_uri_component("a%ff"), "a%ff", "not UTF-8");
        assert_eq!(decode_uri_component("s%3Aok"), "s:ok");
    }

    #[test]
    fn non_utf8_header_still_finds_the_cookie() {
        let header: &[u8] = b"junk=\xff\xfe; sid=s%3Aid";
        assert_eq!(find_cookie([header], "sid").as_deref(), Some("s:id"));
        let bad: &[u8] = b"sid=\xff";
        assert_eq!(find_cookie([bad], "sid"), None);
    }

    #[test]
    fn oversized_cookie_is_ignored() {
        let value = format!("sid=s:{}", "a".repeat(10 * 1024));
        assert_eq!(find_cookie([value.as_bytes()], "sid"), None);
    }

    #[test]
    fn set_cookie_attribute_order_matches_express() {
        let mut cookie = SessionCookie {
            expires: Some(datetime!(2026-11-25 16:58:00.603 UTC)),
            ..SessionCookie::default()
        };
        assert_eq!(
            set_cookie("connect.sid", "v", &cookie, "/"),
            "connect.sid=v; Path=/; Expires=Wed, 25 Nov 2026 16:58:00 GMT; HttpOnly"
        );
        cookie.domain = Some("example.com".into());
        cookie.secure = Some(true);
        cookie.partitioned = Some(true);
        cookie.priority = Some(Priority::High);
        cookie.same_site = Some(SameSite::Strict);
        assert_eq!(
            set_cookie("connect.sid", "v", &cookie, "/"),
            "connect.sid=v; Domain=example.com; Path=/; Expires=Wed, 25 Nov 2026 16:58:00 GMT; HttpOnly; Secure; Partitioned; Priority=High; SameSite=Strict"
        );
        assert_eq!(
            set_cookie("n", "v", &SessionCookie::default(), "/"),
            "n=v; Path=/; HttpOnly"
        );
    }

    #[test]
    fn set_cookie_is_allocated_at_its_exact_length() {
        let mut cookie = SessionCookie {
            expires: Some(datetime!(2026-11-25 16:58:00.603 UTC)),
            domain: Some("example.com".into()),
            secure: Some(true),
            partitioned: Some(true),
            priority: Some(Priority::Low),
            same_site: Some(SameSite::None),
            ..SessionCookie::default()
        };
        let full = set_cookie("connect.sid", "s%3Aabc.def", &cookie, "/");
        assert_eq!(full.capacity(), full.len());
        cookie.domain = Some("bad domain".into());
        cookie.path = "bad path".into();
        let fixed = set_cookie("n", "v", &cookie, "/app");
        assert_eq!(fixed.capacity(), fixed.len());
        let cleared = clear_cookie("n", &SessionCookie::default(), "/");
        assert_eq!(cleared.capacity(), cleared.len());
        let plain = set_cookie("n", "v", &SessionCookie::default(), "/");
        assert_eq!(plain.capacity(), plain.len());
    }

    #[test]
    fn expires_text_is_right_within_and_across_seconds() {
        let at = |t| {
            let cookie = SessionCookie {
                expires: Some(t),
                ..SessionCookie::default()
            };
            set_cookie("n", "v", &cookie, "/")
        };
        // The same second again (from the last text made on this thread), then its neighbours,
        // back and forth, and the clamped ends in between.
        let cases = [
            (
                datetime!(2026-11-25 16:58:00.001 UTC),
                "Wed, 25 Nov 2026 16:58:00 GMT",
            ),
            (
                datetime!(2026-11-25 16:58:00.999 UTC),
                "Wed, 25 Nov 2026 16:58:00 GMT",
            ),
            (
                datetime!(2026-11-25 16:58:01.000 UTC),
                "Wed, 25 Nov 2026 16:58:01 GMT",
            ),
            (
                datetime!(2026-11-25 16:57:59.999 UTC),
                "Wed, 25 Nov 2026 16:57:59 GMT",
            ),
            (
                datetime!(2026-11-25 17:58:00.5 +01:00),
                "Wed, 25 Nov 2026 16:58:00 GMT",
            ),
            (
                datetime!(1969-12-31 23:59:59 UTC),
                "Thu, 01 Jan 1970 00:00:00 GMT",
            ),
            (
                datetime!(1970-01-01 00:00:00.5 UTC),
                "Thu, 01 Jan 1970 00:00:00 GMT",
            ),
            (
                datetime!(1970-01-01 00:00:01 UTC),
                "Thu, 01 Jan 1970 00:00:01 GMT",
            ),
            (
                datetime!(1969-12-31 23:59:59 UTC),
                "Thu, 01 Jan 1970 00:00:00 GMT",
            ),
            (
                datetime!(9999-12-31 23:59:59.999 UTC),
                "Fri, 31 Dec 9999 23:59:59 GMT",
            ),
            (
                datetime!(2027-01-01 00:00:00 UTC),
                "Fri, 01 Jan 2027 00:00:00 GMT",
            ),
        ];
        for _ in 0..2 {
            for (t, text) in cases {
                assert_eq!(
                    at(t),
                    format!("n=v; Path=/; Expires={text}; HttpOnly"),
                    "{t}"
                );
            }
        }
        // Any instant: the same text as formatting it afresh.
        let mut t = datetime!(2026-01-01 00:00:00 UTC);
        for step in 0..2_000i64 {
            t += time::Duration::milliseconds(step * 997 % 3_001);
            let fresh = t.format(IMF_FIXDATE).unwrap();
            assert_eq!(at(t), format!("n=v; Path=/; Expires={fresh}; HttpOnly"));
        }
    }

    #[test]
    fn clear_cookie_expires_in_the_past() {
        assert_eq!(
            clear_cookie("sid", &SessionCookie::default(), "/"),
            "sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
        );
    }

    #[test]
    fn expires_is_a_date_browsers_read_as_meant() {
        let at = |t| {
            let cookie = SessionCookie {
                expires: Some(t),
                ..SessionCookie::default()
            };
            set_cookie("n", "v", &cookie, "/")
        };
        assert_eq!(
            at(datetime!(9999-12-31 23:59:59.999 UTC)),
            "n=v; Path=/; Expires=Fri, 31 Dec 9999 23:59:59 GMT; HttpOnly"
        );
        assert_eq!(
            at(datetime!(9999-12-31 23:00 -05:00)),
            "n=v; Path=/; Expires=Fri, 31 Dec 9999 23:59:59 GMT; HttpOnly",
            "after 9999 in UTC"
        );
        // Year 50 would read as 2050, and a year before 1601 as no expiry at all.
        for past in [
            datetime!(0050-06-01 00:00 UTC),
            datetime!(-0001-01-01 00:00 UTC),
            datetime!(1969-12-31 23:59:59 UTC),
        ] {
            assert_eq!(
                at(past),
                "n=v; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly",
                "{past}"
            );
        }
    }

    #[test]
    fn domain_and_path_follow_the_cookie_attribute_grammar() {
        for good in [
            "example.com",
            ".example.com",
            "a",
            "xn--bcher-kva.example",
            "127.0.0.1",
        ] {
            assert!(is_valid_domain(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "evil.example; SameSite=None",
            "example.com.",
            "-a.example",
            "a-.example",
            "a..b",
            "exa mple.com",
            "bücher.example",
            "a\r\nb",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_domain(bad), "{bad:?}");
        }
        for good in ["/", "/app", "/a b/c=d,e\"f", "/~x"] {
            assert!(is_valid_path(good), "{good}");
        }
        for bad in [
            "",
            "app",
            "/; Domain=evil.example",
            "/a\tb",
            "/a\r\n",
            "/é",
            &format!("/{}", "a".repeat(1024)),
        ] {
            assert!(!is_valid_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn set_cookie_never_writes_an_invalid_domain_or_path() {
        let cookie = SessionCookie {
            domain: Some("evil.example; SameSite=None".into()),
            path: "/; Domain=evil.example".into(),
            ..SessionCookie::default()
        };
        assert_eq!(
            set_cookie("n", "v", &cookie, "/app"),
            "n=v; Path=/app; HttpOnly"
        );
        assert_eq!(
            clear_cookie("n", &cookie, "/app"),
            "n=; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
        );
        let dropped = SessionCookie {
            path: Default::default(),
            ..SessionCookie::default()
        };
        assert_eq!(
            set_cookie("n", "v", &dropped, "/app"),
            "n=v; Path=/app; HttpOnly"
        );
        assert_eq!(
            set_cookie("n", "v", &dropped, "bad;"),
            "n=v; Path=/; HttpOnly"
        );
    }
}
