//! Store failures become opaque error responses (EXPRESS_SEMANTICS 13, 14); handlers that do not
//! use the session are unaffected; a failed write never reports success.

mod common;

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use actix_typed_session::{
    store::{LocalSessionStore, SaveOutcome, SaveRequest, SessionStore, StoreError},
    MemoryStore, Record, Session, SessionCodec, SessionCookie, SessionData, SessionMiddleware,
};
use actix_web::{test, web, App};
use common::{get, set_cookie_named, DownStore, SECRET};

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn incr(mut session: Session<Visit>) -> String {
    session.views += 1;
    format!("views={}", session.views)
}

async fn plain() -> &'static str {
    "fine"
}

fn signed_cookie(id: &str) -> String {
    format!(
        "connect.sid={}",
        SessionCodec::new("connect.sid", SECRET).cookie_value(id)
    )
}

macro_rules! app {
    ($store:expr) => {
        test::init_service(
            App::new()
                .wrap(SessionMiddleware::new($store.clone(), SECRET))
                .route("/incr", web::get().to(incr))
                .route("/plain", web::get().to(plain)),
        )
        .await
    };
}

#[actix_web::test]
async fn store_read_failure_is_an_opaque_503() {
    let store = DownStore::default();
    let app = app!(store);
    let (status, headers, body) = get(&app, "/incr", Some(&signed_cookie("some-id"))).await;
    assert_eq!(status, 503);
    assert_eq!(body, "session store unavailable");
    assert!(!body.contains("10.0.0.7"), "no detail leaks: {body}");
    assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
    assert_eq!(store.attempts("load"), 1);
    assert_eq!(
        store.attempts("touch") + store.attempts("save"),
        0,
        "nothing more is tried"
    );
}

#[actix_web::test]
async fn new_session_save_failure_is_an_error_not_a_success() {
    let store = DownStore::default();
    let app = app!(store);
    let (status, headers, body) = get(&app, "/incr", None).await;
    assert_eq!((status, body.as_str()), (503, "session store unavailable"));
    assert_eq!(
        set_cookie_named(&headers, "connect.sid"),
        None,
        "no cookie for an unsaved session"
    );
    assert_eq!(store.attempts("save"), 1);
}

#[actix_web::test]
async fn handler_that_never_extracts_is_unaffected_by_an_outage() {
    let store = DownStore::default();
    let app = app!(store);
    let (status, _, body) = get(&app, "/plain", Some(&signed_cookie("some-id"))).await;
    assert_eq!((status, body.as_str()), (200, "fine"));
    assert_eq!(store.attempts("load"), 0, "no read");
    let (status, _, _) = get(&app, "/plain", None).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn with_save_uninitialized_a_handler_that_never_extracts_is_unaffected_by_an_outage() {
    let store = DownStore::default();
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), SECRET)
                    .save_uninitialized(true)
                    .build(),
            )
            .route("/plain", web::get().to(plain)),
    )
    .await;
    for cookie in [None, Some(signed_cookie("some-id"))] {
        let (status, headers, body) = get(&app, "/plain", cookie.as_deref()).await;
        assert_eq!((status, body.as_str()), (200, "fine"));
        assert_eq!(
            set_cookie_named(&headers, "connect.sid"),
            None,
            "no cookie for a session that could not be saved"
        );
    }
    assert_eq!(
        (store.attempts("save"), store.attempts("touch")),
        (1, 1),
        "the uninitialized session was tried, and the cookie's session touched"
    );
}

/// A store that knows it is down: [`LocalSessionStore::is_ready`] answers `false`.
#[derive(Clone, Default)]
struct NotReadyStore {
    down: DownStore,
}

impl LocalSessionStore for NotReadyStore {
    fn is_ready(&self) -> bool {
        false
    }

    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.down.load(id).await
    }

    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        self.down.save(id, request).await
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.down.destroy(id).await
    }

    async fn touch(
        &self,
        id: &str,
        cookie: Option<&SessionCookie>,
    ) -> Result<Option<SessionCookie>, StoreError> {
        self.down.touch(id, cookie).await
    }
}

async fn maybe(session: Option<Session<Visit>>) -> String {
    match session {
        Some(session) => format!("views={}", session.views),
        None => "no session".to_owned(),
    }
}

#[actix_web::test]
async fn while_the_store_is_not_ready_requests_get_no_session_and_make_no_store_call() {
    let store = NotReadyStore::default();
    for save_uninitialized in [false, true] {
        let app = test::init_service(
            App::new()
                .wrap(
                    SessionMiddleware::builder(store.clone(), SECRET)
                        .save_uninitialized(save_uninitialized)
                        .rolling(true)
                        .build(),
                )
                .route("/incr", web::get().to(incr))
                .route("/maybe", web::get().to(maybe))
                .route("/plain", web::get().to(plain)),
        )
        .await;
        for cookie in [None, Some(signed_cookie("some-id"))] {
            let (status, headers, body) = get(&app, "/incr", cookie.as_deref()).await;
            assert_eq!((status, body.as_str()), (503, "session store unavailable"));
            assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
            let (status, headers, body) = get(&app, "/maybe", cookie.as_deref()).await;
            assert_eq!((status, body.as_str()), (200, "no session"));
            assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
            let (status, headers, body) = get(&app, "/plain", cookie.as_deref()).await;
            assert_eq!((status, body.as_str()), (200, "fine"));
            assert_eq!(set_cookie_named(&headers, "connect.sid"), None);
        }
    }
    for op in ["load", "save", "touch", "destroy"] {
        assert_eq!(
            store.down.attempts(op),
            0,
            "no `{op}` on a store that is not ready"
        );
    }
}

/// A store that reads but cannot write.
#[derive(Clone, Default)]
struct ReadOnlyStore {
    inner: MemoryStore,
}

impl SessionStore for ReadOnlyStore {
    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        // Both store traits are in scope here: name the one to call.
        SessionStore::load(&self.inner, id).await
    }

    async fn save(&self, _: &str, _: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        Err(StoreError::unavailable("read-only replica"))
    }

    async fn destroy(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::unavailable("read-only replica"))
    }
}

#[actix_web::test]
async fn failed_end_of_request_write_replaces_the_handlers_response() {
    let store = ReadOnlyStore::default();
    let mut record = Record::new(SessionCookie::default());
    record.fields.set(
        "views",
        serde_json::value::RawValue::from_string("1".into()).unwrap(),
    );
    SessionStore::save(&store.inner, "existing-id", SaveRequest::Create(&record))
        .await
        .unwrap();
    let app = app!(store);
    let (status, _, body) = get(&app, "/incr", Some(&signed_cookie("existing-id"))).await;
    assert_eq!((status, body.as_str()), (503, "session store unavailable"));
    assert!(SessionStore::load(&store.inner, "existing-id")
        .await
        .unwrap()
        .unwrap()
        .to_json()
        .ends_with(r#""views":1}"#));
}

/// A store that holds express JSON strings, as a networked store would.
#[derive(Clone, Default)]
struct JsonStore {
    map: Rc<RefCell<HashMap<String, String>>>,
}

/// `Rc` inside: not `Send`, so a [`LocalSessionStore`], which the middleware takes as well.
impl LocalSessionStore for JsonStore {
    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        match self.map.borrow().get(id) {
            None => Ok(None),
            Some(json) => Record::from_json(json)
                .map(Some)
                .map_err(|e| StoreError::corrupt("bad record").with_source(e)),
        }
    }

    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        if let SaveRequest::Create(record) = request {
            self.map
                .borrow_mut()
                .insert(id.to_owned(), record.to_json());
        }
        Ok(SaveOutcome::Saved)
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.map.borrow_mut().remove(id);
        Ok(())
    }
}

/// A stored record that cannot be read is no session (as a tampered cookie is): a fresh session
/// under a new id, never an error page; the unreadable record is left as it was.
#[actix_web::test]
async fn record_without_its_cookie_object_is_no_session() {
    let store = JsonStore::default();
    store
        .map
        .borrow_mut()
        .insert("no-cookie".into(), r#"{"views":3}"#.into());
    let app = app!(store);
    let (status, headers, body) = get(&app, "/incr", Some(&signed_cookie("no-cookie"))).await;
    assert_eq!((status, body.as_str()), (200, "views=1"), "a fresh session");
    let set = set_cookie_named(&headers, "connect.sid").expect("a new session cookie");
    assert_ne!(common::id_of(&set), "no-cookie", "a new id");
    assert_eq!(
        store.map.borrow().get("no-cookie").map(String::as_str),
        Some(r#"{"views":3}"#)
    );
}
