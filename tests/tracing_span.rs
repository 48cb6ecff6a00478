//! The `session` span of every request: what it records about the session, and that it never
//! holds the session id or the cookie.

mod common;

use std::{
    collections::HashMap,
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use actix_typed_session::{MemoryStore, Session, SessionData, SessionMiddleware};
use actix_web::{test, web, App};
use common::{get, id_of, pair, set_cookie_named, SECRET};
use tracing::{
    field::{Field, Visit as FieldVisit},
    span, Event, Metadata, Subscriber,
};

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn incr(mut session: Session<Visit>) -> String {
    tracing::info!("handler ran");
    session.views += 1;
    session.views.to_string()
}

async fn read(session: Session<Visit>) -> String {
    session.views.to_string()
}

async fn destroy(session: Session<Visit>) -> &'static str {
    session.destroy().await.unwrap();
    "destroyed"
}

async fn regenerate(mut session: Session<Visit>) -> &'static str {
    session.regenerate().await.unwrap();
    session.views = 1;
    "regenerated"
}

async fn noop() -> &'static str {
    "no session"
}

/// One span as the subscriber saw it: its name and every value recorded on it, in order.
#[derive(Debug, Clone, Default)]
struct SpanRecord {
    name: String,
    values: Vec<(String, String)>,
}

impl SpanRecord {
    fn all(&self, field: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    fn one(&self, field: &str) -> &str {
        match self.all(field)[..] {
            [value] => value,
            ref other => panic!("{field}: expected one value, got {other:?} in {self:?}"),
        }
    }
}

/// A subscriber that keeps every span, what is recorded on it, and the span each event was
/// emitted in.
#[derive(Clone, Default)]
struct Recorder {
    next: Arc<AtomicU64>,
    spans: Arc<Mutex<HashMap<u64, SpanRecord>>>,
    stack: Arc<Mutex<Vec<u64>>>,
    events: Arc<Mutex<Vec<EmittedEvent>>>,
}

/// An event's text and the span it was emitted in.
type EmittedEvent = (String, Option<u64>);

struct Values<'a>(&'a mut Vec<(String, String)>);

impl FieldVisit for Values<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Recorder {
    fn sessions(&self) -> Vec<SpanRecord> {
        let spans = self.spans.lock().unwrap();
        let mut ids: Vec<_> = spans
            .iter()
            .filter(|(_, span)| span.name == "session")
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.iter().map(|id| spans[id].clone()).collect()
    }

    fn clear(&self) {
        self.spans.lock().unwrap().clear();
        self.events.lock().unwrap().clear();
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &span::Attributes<'_>) -> span::Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut record = SpanRecord {
            name: attrs.metadata().name().to_owned(),
            values: Vec::new(),
        };
        attrs.record(&mut Values(&mut record.values));
        self.spans.lock().unwrap().insert(id, record);
        span::Id::from_u64(id)
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        if let Some(record) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Values(&mut record.values));
        }
    }

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Vec::new();
        event.record(&mut Values(&mut message));
        let text = message
            .into_iter()
            .map(|(_, value)| value)
            .collect::<Vec<_>>()
            .join(" ");
        let current = self.stack.lock().unwrap().last().copied();
        self.events.lock().unwrap().push((text, current));
    }

    fn enter(&self, span: &span::Id) {
        self.stack.lock().unwrap().push(span.into_u64());
    }

    fn exit(&self, span: &span::Id) {
        let mut stack = self.stack.lock().unwrap();
        if let Some(at) = stack.iter().rposition(|id| *id == span.into_u64()) {
            stack.remove(at);
        }
    }
}

#[actix_web::test]
async fn every_request_has_a_session_span_with_what_happened_and_no_session_id() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default(), SECRET))
            .route("/incr", web::get().to(incr))
            .route("/read", web::get().to(read))
            .route("/destroy", web::get().to(destroy))
            .route("/regenerate", web::get().to(regenerate))
            .route("/noop", web::get().to(noop)),
    )
    .await;

    // A new visitor whose handler changes the session: new and saved.
    let (status, headers, _) = get(&app, "/incr", None).await;
    assert_eq!(status, 200);
    let set = set_cookie_named(&headers, "connect.sid").unwrap();
    let (cookie, id) = (pair(&set), id_of(&set));
    let spans = recorder.sessions();
    assert_eq!(spans.len(), 1, "one session span per request: {spans:?}");
    let new = &spans[0];
    let hash = new.one("id_hash").to_owned();
    assert_eq!(hash.len(), 12, "{hash}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
    assert_eq!(
        [
            new.one("new"),
            new.one("loaded"),
            new.one("saved"),
            new.one("touched")
        ],
        ["true", "false", "true", "false"]
    );
    assert!(new.all("ended").is_empty());
    new.one("store_us")
        .parse::<u64>()
        .expect("store time in µs");
    // The handler's own events are inside the span.
    let events = recorder.events.lock().unwrap().clone();
    let (_, parent) = events
        .iter()
        .find(|(text, _)| text.contains("handler ran"))
        .expect("the handler's event");
    let parent = parent.expect("the handler ran inside a span");
    assert_eq!(recorder.spans.lock().unwrap()[&parent].name, "session");
    recorder.clear();

    // A returning visitor reading: loaded and touched (the load renews), not saved; the same
    // hash as the request that created the session.
    let (status, _, body) = get(&app, "/read", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (200, "1"));
    let read = &recorder.sessions()[0];
    assert_eq!(read.one("id_hash"), hash);
    assert_eq!(
        [
            read.one("new"),
            read.one("loaded"),
            read.one("saved"),
            read.one("touched")
        ],
        ["false", "true", "false", "true"]
    );
    recorder.clear();

    // A request that never extracts the session: the end of the request touches it.
    get(&app, "/noop", Some(&cookie)).await;
    let noop = &recorder.sessions()[0];
    assert_eq!(
        [noop.one("loaded"), noop.one("saved"), noop.one("touched")],
        ["false", "false", "true"]
    );
    recorder.clear();

    // Regenerate: the old session ended as regenerated, the new id hashed beside the old one.
    let (_, headers, _) = get(&app, "/regenerate", Some(&cookie)).await;
    let regenerated_set = set_cookie_named(&headers, "connect.sid").unwrap();
    let regenerated = &recorder.sessions()[0];
    assert_eq!(regenerated.one("ended"), "regenerated");
    let hashes = regenerated.all("id_hash");
    assert_eq!(hashes.len(), 2, "{regenerated:?}");
    assert_eq!(hashes[0], hash);
    assert_ne!(hashes[1], hash);
    assert_eq!(
        [regenerated.one("new"), regenerated.one("saved")],
        ["true", "true"]
    );
    recorder.clear();

    // Destroy: ended as destroyed.
    get(&app, "/destroy", Some(&pair(&regenerated_set))).await;
    let destroyed = &recorder.sessions()[0];
    assert_eq!(destroyed.one("ended"), "destroyed");
    assert_eq!(destroyed.one("id_hash"), hashes[1]);

    // Nothing recorded anywhere holds an id or the cookie.
    let regenerated_id = id_of(&regenerated_set);
    for span in recorder.spans.lock().unwrap().values() {
        for (field, value) in &span.values {
            for secret in [&id, &regenerated_id] {
                assert!(
                    !value.contains(secret.as_str()),
                    "{field}={value} holds an id"
                );
            }
        }
    }
    for (text, _) in recorder.events.lock().unwrap().iter() {
        assert!(!text.contains(id.as_str()), "event {text} holds an id");
    }
}

#[actix_web::test]
async fn the_hash_of_an_id_depends_on_the_secret() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let store = MemoryStore::default();
    let app = |secret: &'static str| {
        let store = store.clone();
        async move {
            test::init_service(
                App::new()
                    .wrap(SessionMiddleware::new(store, secret))
                    .route("/incr", web::get().to(incr)),
            )
            .await
        }
    };
    let first = app(SECRET).await;
    let (_, headers, _) = get(&first, "/incr", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let hash = recorder.sessions()[0].one("id_hash").to_owned();
    recorder.clear();

    // The same session, verified by a list whose first secret is another one.
    let rotated = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(
                store.clone(),
                ["another secret of at least 32 bytes!", SECRET],
            ))
            .route("/incr", web::get().to(incr)),
    )
    .await;
    let (status, _, body) = get(&rotated, "/incr", Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (200, "2"));
    let other = recorder.sessions()[0].one("id_hash").to_owned();
    assert_ne!(other, hash, "the hash is keyed by the first secret");
}

async fn untyped_renew(session: actix_typed_session::untyped::Session) -> &'static str {
    session.renew();
    "renewed"
}

async fn untyped_purge(session: actix_typed_session::untyped::Session) -> &'static str {
    session.purge();
    "purged"
}

#[actix_web::test]
async fn untyped_renew_and_purge_record_their_ends() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default(), SECRET))
            .route("/incr", web::get().to(incr))
            .route("/renew", web::get().to(untyped_renew))
            .route("/purge", web::get().to(untyped_purge)),
    )
    .await;
    let (_, headers, _) = get(&app, "/incr", None).await;
    let cookie = pair(&set_cookie_named(&headers, "connect.sid").unwrap());
    let hash = recorder.sessions()[0].one("id_hash").to_owned();
    recorder.clear();

    // Renew: the old id ended as regenerated at the end of the request, the new one saved and
    // hashed beside it.
    let (_, headers, _) = get(&app, "/renew", Some(&cookie)).await;
    let renewed_set = set_cookie_named(&headers, "connect.sid").unwrap();
    let renewed = &recorder.sessions()[0];
    assert_eq!(renewed.one("ended"), "regenerated");
    let hashes = renewed.all("id_hash");
    assert_eq!(hashes.len(), 2, "{renewed:?}");
    assert_eq!(hashes[0], hash);
    assert_ne!(hashes[1], hash);
    assert_eq!(renewed.one("saved"), "true");
    let new_hash = hashes[1].to_owned();
    recorder.clear();

    // Purge: ended as destroyed.
    get(&app, "/purge", Some(&pair(&renewed_set))).await;
    let purged = &recorder.sessions()[0];
    assert_eq!(purged.one("ended"), "destroyed");
    assert_eq!(purged.one("id_hash"), new_hash);
}
