//! A session store written from scratch: sessions in a `HashMap` behind a mutex, in this process.
//!
//! It is complete: every behaviour of the store acceptance suite holds (`tests/custom_store.rs`
//! runs `actix_typed_session::testing::store_acceptance_tests!` on it), with expiry, per-field
//! updates, no resurrection of a destroyed session, and the 1 MiB record limit. Expired sessions
//! are dropped when they are read and on every new session, so none outlives its expiry by more
//! than the next session's creation. `cargo run --example custom_store` serves a visit counter
//! from it on <http://127.0.0.1:8080/>.
//!
//! `MemoryStore` does the same with an expiry thread, a capacity and a packed layout; this one
//! shows what a store has to do, and nothing more.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use actix_typed_session::{
    store::{SaveOutcome, SaveRequest, SessionStore, StoreError},
    Record, Session, SessionData, SessionMiddleware,
};
use actix_web::{web, App, HttpServer};
use time::OffsetDateTime;

/// The largest record a save may store, in bytes of JSON (as `MemoryStore` and `RedisStore`).
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// How long a session whose cookie has no expiry (a browser-session cookie) lives after its last
/// write: one day, as connect-redis.
const BROWSER_SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Sessions in a `HashMap` behind a mutex; clones share the map.
#[derive(Clone, Default)]
pub(crate) struct MapStore {
    sessions: Arc<Mutex<HashMap<String, Stored>>>,
}

/// A session and the instant it ends.
struct Stored {
    record: Record,
    ends_at: OffsetDateTime,
}

impl Stored {
    fn new(record: Record) -> Self {
        let ends_at = record
            .cookie
            .expires()
            .unwrap_or_else(|| OffsetDateTime::now_utc() + BROWSER_SESSION_TTL);
        Self { record, ends_at }
    }

    fn is_live(&self) -> bool {
        self.ends_at > OffsetDateTime::now_utc()
    }
}

impl MapStore {
    /// An empty store.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The map, with every expired session dropped from it.
    fn live(&self) -> Result<MutexGuard<'_, HashMap<String, Stored>>, StoreError> {
        let mut sessions = self.lock()?;
        sessions.retain(|_, stored| stored.is_live());
        Ok(sessions)
    }

    fn lock(&self) -> Result<MutexGuard<'_, HashMap<String, Stored>>, StoreError> {
        // A thread that panicked while holding the lock may have left the map half-written.
        self.sessions
            .lock()
            .map_err(|_| StoreError::corrupt("the session map was poisoned by a panic"))
    }
}

/// Refuses a record larger than the limit: nothing is written.
fn check_size(record: &Record) -> Result<(), StoreError> {
    let size = record.to_json().len();
    if size > MAX_RECORD_BYTES {
        return Err(StoreError::too_large(size, MAX_RECORD_BYTES));
    }
    Ok(())
}

impl SessionStore for MapStore {
    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let mut sessions = self.lock()?;
        match sessions.get(id) {
            Some(stored) if stored.is_live() => Ok(Some(stored.record.clone())),
            Some(_) => {
                sessions.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        match request {
            SaveRequest::Create(record) => {
                check_size(record)?;
                let mut sessions = self.live()?;
                if sessions.contains_key(id) {
                    return Ok(SaveOutcome::Conflict);
                }
                sessions.insert(id.to_owned(), Stored::new(record.clone()));
                Ok(SaveOutcome::Saved)
            }
            SaveRequest::Update { cookie, changes } => {
                let mut sessions = self.lock()?;
                let Some(stored) = sessions.get(id).filter(|stored| stored.is_live()) else {
                    // Destroyed or expired meanwhile: never recreated by a late save.
                    sessions.remove(id);
                    return Ok(SaveOutcome::Gone);
                };
                // The changes go on top of what is stored now, not of what the request loaded.
                let mut record = stored.record.clone();
                record.cookie = cookie.clone();
                record.fields.apply(changes);
                check_size(&record)?;
                let stored = Stored::new(record);
                if stored.is_live() {
                    sessions.insert(id.to_owned(), stored);
                } else {
                    // Saved with an expiry in the past: the session ends now.
                    sessions.remove(id);
                }
                Ok(SaveOutcome::Saved)
            }
            // `SaveRequest` is non-exhaustive: a kind of save this store does not know yet.
            _ => Err(StoreError::unsupported("this kind of save")),
        }
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.lock()?.remove(id);
        Ok(())
    }

    async fn len(&self) -> Result<usize, StoreError> {
        Ok(self.live()?.len())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.lock()?.clear();
        Ok(())
    }

    async fn ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.live()?.keys().cloned().collect())
    }
}

#[derive(SessionData, Default)]
struct Visit {
    views: u32,
}

async fn index(mut session: Session<Visit>) -> String {
    session.views += 1;
    format!("views: {}", session.views)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let store = MapStore::new();
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), "keyboard cat"))
            .route("/", web::get().to(index))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await
}
