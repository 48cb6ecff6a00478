//! Helpers shared by the HTTP-level integration tests.
#![allow(dead_code, unreachable_pub)]

use std::{
    cell::RefCell,
    collections::HashMap,
    rc::Rc,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use actix_typed_session::{
    store::{EndReason, SaveOutcome, SaveRequest, SessionStore, StoreError},
    ChangeSet, MemoryStore, Record, SessionCookie,
};
use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::header::{HeaderMap, SET_COOKIE},
    test, Error,
};

/// The express-session test vector's secret.
pub const SECRET: &str = "keyboard cat";

/// All `Set-Cookie` header values of a response.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .map(|v| v.to_str().expect("Set-Cookie is ASCII").to_owned())
        .collect()
}

/// The `Set-Cookie` for cookie `name`, if the response has one.
pub fn set_cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    set_cookies(headers)
        .into_iter()
        .find(|c| c.starts_with(&prefix))
}

/// The `name=value` pair of a `Set-Cookie`, as a browser sends it back.
#[track_caller]
pub fn pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .expect("a Set-Cookie has a name=value pair")
        .to_owned()
}

/// The session id inside a `connect.sid=s%3A<id>.<sig>` cookie (unverified; tests only).
#[track_caller]
pub fn id_of(set_cookie: &str) -> String {
    let value = pair(set_cookie);
    let value = value.split_once('=').expect("name=value").1;
    let decoded = percent_decode(value);
    let signed = decoded.strip_prefix("s:").expect("signed value");
    signed[..signed.rfind('.').expect("signature")].to_owned()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Sends a GET with an optional `Cookie` header; answers status, headers and body text.
pub async fn get<S, B>(app: &S, path: &str, cookie: Option<&str>) -> (u16, HeaderMap, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::get().uri(path);
    if let Some(c) = cookie {
        req = req.insert_header(("cookie", c.to_owned()));
    }
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// What a [`CountingStore`] was asked to do.
#[derive(Debug, Default)]
pub struct Calls {
    pub loads: AtomicUsize,
    pub creates: AtomicUsize,
    pub updates: AtomicUsize,
    pub destroys: AtomicUsize,
    pub touches: AtomicUsize,
}

impl Calls {
    pub fn get(&self) -> [usize; 5] {
        [
            self.loads.load(Ordering::SeqCst),
            self.creates.load(Ordering::SeqCst),
            self.updates.load(Ordering::SeqCst),
            self.destroys.load(Ordering::SeqCst),
            self.touches.load(Ordering::SeqCst),
        ]
    }

    pub fn writes(&self) -> usize {
        let [_, c, u, d, t] = self.get();
        c + u + d + t
    }
}

/// A [`MemoryStore`] that counts the calls the middleware makes and remembers the last change
/// set it was asked to write.
#[derive(Clone, Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    pub calls: Arc<Calls>,
    pub last_changes: Arc<std::sync::Mutex<Option<ChangeSet>>>,
}

impl SessionStore for CountingStore {
    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.calls.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(id).await
    }

    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        match request {
            SaveRequest::Create(_) => self.calls.creates.fetch_add(1, Ordering::SeqCst),
            SaveRequest::Update { changes, .. } => {
                *self.last_changes.lock().unwrap() = Some(changes.clone());
                self.calls.updates.fetch_add(1, Ordering::SeqCst)
            }
            _ => unreachable!("no other save requests exist"),
        };
        self.inner.save(id, request).await
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.calls.destroys.fetch_add(1, Ordering::SeqCst);
        self.inner.destroy(id).await
    }

    async fn touch(
        &self,
        id: &str,
        cookie: Option<&SessionCookie>,
    ) -> Result<Option<SessionCookie>, StoreError> {
        self.calls.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(id, cookie).await
    }

    async fn load_touched(&self, id: &str) -> Result<Option<Record>, StoreError> {
        // One store operation that both reads and touches: counted as both.
        self.calls.loads.fetch_add(1, Ordering::SeqCst);
        self.calls.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.load_touched(id).await
    }

    async fn end(&self, id: &str, reason: EndReason) -> Result<(), StoreError> {
        self.calls.destroys.fetch_add(1, Ordering::SeqCst);
        self.inner.end(id, reason).await
    }

    async fn len(&self) -> Result<usize, StoreError> {
        self.inner.len().await
    }
}

/// A store that is down: every operation fails as unreachable.
#[derive(Clone, Default)]
pub struct DownStore {
    pub attempts: Rc<RefCell<HashMap<&'static str, usize>>>,
}

impl DownStore {
    fn fail(&self, op: &'static str) -> StoreError {
        *self.attempts.borrow_mut().entry(op).or_default() += 1;
        StoreError::unavailable(format!(
            "connection refused (secret detail 10.0.0.7:6379, op {op})"
        ))
    }

    pub fn attempts(&self, op: &str) -> usize {
        self.attempts.borrow().get(op).copied().unwrap_or(0)
    }
}

/// `Rc` inside: not `Send`, so a [`LocalSessionStore`](actix_typed_session::store::LocalSessionStore).
impl actix_typed_session::store::LocalSessionStore for DownStore {
    async fn load(&self, _: &str) -> Result<Option<Record>, StoreError> {
        Err(self.fail("load"))
    }

    async fn save(&self, _: &str, _: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        Err(self.fail("save"))
    }

    async fn destroy(&self, _: &str) -> Result<(), StoreError> {
        Err(self.fail("destroy"))
    }

    async fn touch(
        &self,
        _: &str,
        _: Option<&SessionCookie>,
    ) -> Result<Option<SessionCookie>, StoreError> {
        Err(self.fail("touch"))
    }
}

/// Sends a prepared request (extra headers, raw `Cookie` bytes); answers status, headers and body
/// text.
pub async fn send<S, B>(app: &S, req: test::TestRequest) -> (u16, HeaderMap, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// The express JSON a store holds for session `id`, if it holds one.
pub async fn stored_json<S: SessionStore>(store: &S, id: &str) -> Option<String> {
    store
        .load(id)
        .await
        .expect("the store answers")
        .map(|record| record.to_json())
}

/// The `Expires` attribute of a `Set-Cookie`, parsed from its IMF-fixdate.
#[track_caller]
pub fn expires_of(set_cookie: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    set_cookie
        .split("; ")
        .find_map(|attr| attr.strip_prefix("Expires="))
        .map(|date| {
            time::PrimitiveDateTime::parse(date, format)
                .unwrap_or_else(|e| panic!("Expires={date} is not an IMF-fixdate: {e}"))
                .assume_utc()
        })
}

/// The `<id> <views>` body split in two.
#[track_caller]
pub fn id_and_views(body: &str) -> (String, u32) {
    let (id, views) = body
        .split_once(' ')
        .unwrap_or_else(|| panic!("body `{body}` is `<id> <views>`"));
    (id.to_owned(), views.parse().expect("a view count"))
}

#[track_caller]
pub fn only_set_cookie(headers: &HeaderMap) -> String {
    let all = set_cookies(headers);
    assert_eq!(all.len(), 1, "exactly one Set-Cookie expected: {all:?}");
    all.into_iter().next().unwrap()
}

#[track_caller]
pub fn no_set_cookie(headers: &HeaderMap) {
    assert!(
        headers.get(SET_COOKIE).is_none(),
        "no Set-Cookie expected: {:?}",
        set_cookies(headers)
    );
}

/// A view counter, the session of the cookie and option tests.
#[derive(actix_typed_session::SessionData, Default)]
pub struct Visit {
    pub views: u32,
}

/// Counts a view; answers `<id> <views>`.
pub async fn count(mut session: actix_typed_session::Session<Visit>) -> String {
    session.views += 1;
    format!("{} {}", session.id(), session.views)
}

/// Reads the session without changing it; answers `<id> <views>`.
pub async fn peek(session: actix_typed_session::Session<Visit>) -> String {
    format!("{} {}", session.id(), session.views)
}
