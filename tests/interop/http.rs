//! A minimal HTTP/1.1 client over `std::net::TcpStream` (one `GET` per connection) and a
//! browser-like cookie jar.
//!
//! A browser keeps cookies per host, not per port: both twins listen on 127.0.0.1, so one jar
//! sends the same `connect.sid` to either, as it would to two apps behind one domain.

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    net::TcpStream,
    time::Duration,
};

use time::{format_description::BorrowedFormatItem, macros::format_description, PrimitiveDateTime};

/// One response: status, `Set-Cookie` headers and body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) set_cookies: Vec<String>,
    pub(crate) body: String,
}

/// Sends `GET path` to 127.0.0.1:`port` with an optional `Cookie` header.
#[track_caller]
pub(crate) fn get(port: u16, path: &str, cookie: Option<&str>) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set a read timeout");
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{cookie}\r\n"
    )
    .expect("send the request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read the response to GET {path} on {port}: {e}"));
    let raw = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head for GET {path} on {port}: {raw:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let mut set_cookies = Vec::new();
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').expect("a header line");
        let value = value.trim();
        if name.eq_ignore_ascii_case("set-cookie") {
            set_cookies.push(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    assert!(!chunked, "chunked responses are not expected here");
    Response {
        status,
        set_cookies,
        body: body.to_owned(),
    }
}

/// The cookies a browser holds for 127.0.0.1.
#[derive(Debug, Clone, Default)]
pub(crate) struct Jar {
    cookies: BTreeMap<String, String>,
}

const EXPIRES: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

impl Jar {
    /// `GET path` on `port` with the jar's cookies; the response's cookies go into the jar.
    #[track_caller]
    pub(crate) fn get(&mut self, port: u16, path: &str) -> Response {
        let response = get(port, path, self.header().as_deref());
        for set_cookie in &response.set_cookies {
            self.store(set_cookie);
        }
        response
    }

    /// The `Cookie` header the jar sends, if it holds any cookie.
    pub(crate) fn header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// The value of cookie `name`, if held.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Keeps a `Set-Cookie`, or drops the cookie when it is cleared (empty, or expired).
    fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|pair| pair.split_once('='))
            .unwrap_or_else(|| panic!("a Set-Cookie without name=value: {set_cookie:?}"));
        let expired = parts.any(|attribute| {
            let Some((key, at)) = attribute.split_once('=') else {
                return false;
            };
            key.eq_ignore_ascii_case("expires")
                && PrimitiveDateTime::parse(at, EXPIRES)
                    .unwrap_or_else(|e| panic!("Expires {at:?}: {e}"))
                    .assume_utc()
                    <= time::OffsetDateTime::now_utc()
        });
        if value.is_empty() || expired {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }
}
