//! [`LocalSessionStore`], the store trait without `Send` futures, its blanket impl for every
//! [`SessionStore`], and [`DynStore`], the object-safe view that request state holds.

use std::{future::Future, pin::Pin};

use super::{
    touch_by_load_and_save, EndReason, IndexKey, IndexedSession, SaveOutcome, SaveRequest,
    SessionStore, StoreError,
};
use crate::record::{ChangeSet, Record, SessionCookie};

/// A place where sessions live between requests, for one thread at a time: its futures need not
/// be `Send`.
///
/// actix-web runs each worker on its own single-threaded runtime, so the middleware needs no more
/// than this. Implement it for a store whose futures cannot be `Send` (one that holds an `Rc`, or
/// a connection bound to its worker thread); a store that can be shared across threads implements
/// [`SessionStore`] instead, and is a `LocalSessionStore` through the blanket impl.
///
/// The methods and their contracts are [`SessionStore`]'s; see there.
///
/// Import one of the two traits where you call store methods: with both in scope, a method call
/// on a `SessionStore` is ambiguous (it has both traits' methods), so name the trait then
/// (`SessionStore::load(&store, id)`).
#[allow(async_fn_in_trait)]
pub trait LocalSessionStore: Clone + 'static {
    /// See [`SessionStore::load`].
    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError>;

    /// See [`SessionStore::save`].
    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError>;

    /// See [`SessionStore::destroy`].
    async fn destroy(&self, id: &str) -> Result<(), StoreError>;

    /// See [`SessionStore::end`]; the default calls [`destroy`](Self::destroy).
    async fn end(&self, id: &str, reason: EndReason) -> Result<(), StoreError> {
        let _ = reason;
        LocalSessionStore::destroy(self, id).await
    }

    /// See [`SessionStore::touch`]; the default loads, then saves the renewed cookie.
    async fn touch(
        &self,
        id: &str,
        cookie: Option<&SessionCookie>,
    ) -> Result<Option<SessionCookie>, StoreError> {
        touch_by_load_and_save!(LocalSessionStore, self, id, cookie)
    }

    /// See [`SessionStore::load_touched`]; the default loads, then touches.
    async fn load_touched(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let Some(record) = LocalSessionStore::load(self, id).await? else {
            return Ok(None);
        };
        Ok(LocalSessionStore::touch(self, id, None)
            .await?
            .map(|_| record))
    }

    /// See [`SessionStore::is_ready`]; the default is always ready.
    fn is_ready(&self) -> bool {
        true
    }

    /// See [`SessionStore::len`]; the default is [`StoreErrorKind::Unsupported`](super::StoreErrorKind::Unsupported).
    async fn len(&self) -> Result<usize, StoreError> {
        Err(StoreError::unsupported("len"))
    }

    /// See [`SessionStore::is_empty`].
    async fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(LocalSessionStore::len(self).await? == 0)
    }

    /// See [`SessionStore::clear`]; the default is [`StoreErrorKind::Unsupported`](super::StoreErrorKind::Unsupported).
    async fn clear(&self) -> Result<(), StoreError> {
        Err(StoreError::unsupported("clear"))
    }

    /// See [`SessionStore::ids`]; the default is [`StoreErrorKind::Unsupported`](super::StoreErrorKind::Unsupported).
    async fn ids(&self) -> Result<Vec<String>, StoreError> {
        Err(StoreError::unsupported("ids"))
    }

    /// See [`SessionStore::sessions_by`]; the default is [`StoreErrorKind::Unsupported`](super::StoreErrorKind::Unsupported).
    async fn sessions_by(&self, key: &IndexKey) -> Result<Vec<IndexedSession>, StoreError> {
        let _ = key;
        Err(StoreError::unsupported("sessions_by"))
    }

    /// See [`SessionStore::count_by`]; the default counts [`sessions_by`](Self::sessions_by).
    async fn count_by(&self, key: &IndexKey) -> Result<usize, StoreError> {
        Ok(LocalSessionStore::sessions_by(self, key).await?.len())
    }

    /// See [`SessionStore::end_sessions_by`]; the default is [`StoreErrorKind::Unsupported`](super::StoreErrorKind::Unsupported).
    async fn end_sessions_by(
        &self,
        key: &IndexKey,
        except: Option<&str>,
    ) -> Result<usize, StoreError> {
        let _ = (key, except);
        Err(StoreError::unsupported("end_sessions_by"))
    }
}

/// Every [`SessionStore`] is a [`LocalSessionStore`]: each method forwards, defaults included,
/// so a store's own overrides are the ones that run. The request path's methods hand back the
/// store's own future rather than wrap it in another, so what the middleware boxes per call is
/// no larger than the store's future.
impl<S: SessionStore> LocalSessionStore for S {
    fn load(&self, id: &str) -> impl Future<Output = Result<Option<Record>, StoreError>> {
        SessionStore::load(self, id)
    }

    fn save(
        &self,
        id: &str,
        request: SaveRequest<'_>,
    ) -> impl Future<Output = Result<SaveOutcome, StoreError>> {
        SessionStore::save(self, id, request)
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        SessionStore::destroy(self, id).await
    }

    async fn end(&self, id: &str, reason: EndReason) -> Result<(), StoreError> {
        SessionStore::end(self, id, reason).await
    }

    fn touch(
        &self,
        id: &str,
        cookie: Option<&SessionCookie>,
    ) -> impl Future<Output = Result<Option<SessionCookie>, StoreError>> {
        SessionStore::touch(self, id, cookie)
    }

    fn load_touched(&self, id: &str) -> impl Future<Output = Result<Option<Record>, StoreError>> {
        SessionStore::load_touched(self, id)
    }

    fn is_ready(&self) -> bool {
        SessionStore::is_ready(self)
    }

    async fn len(&self) -> Result<usize, StoreError> {
        SessionStore::len(self).await
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        SessionStore::is_empty(self).await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        SessionStore::clear(self).await
    }

    async fn ids(&self) -> Result<Vec<String>, StoreError> {
        SessionStore::ids(self).await
    }

    async fn sessions_by(&self, key: &IndexKey) -> Result<Vec<IndexedSession>, StoreError> {
        SessionStore::sessions_by(self, key).await
    }

    async fn count_by(&self, key: &IndexKey) -> Result<usize, StoreError> {
        SessionStore::count_by(self, key).await
    }

    async fn end_sessions_by(
        &self,
        key: &IndexKey,
        except: Option<&str>,
    ) -> Result<usize, StoreError> {
        SessionStore::end_sessions_by(self, key, except).await
    }
}

type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// An object-safe view of a [`LocalSessionStore`], so that request state need not name the store
/// type.
pub(crate) trait DynStore {
    fn is_ready(&self) -> bool;
    fn load<'a>(&'a self, id: &'a str) -> LocalBoxFuture<'a, Result<Option<Record>, StoreError>>;
    fn load_touched<'a>(
        &'a self,
        id: &'a str,
    ) -> LocalBoxFuture<'a, Result<Option<Record>, StoreError>>;
    fn save<'a>(
        &'a self,
        id: &'a str,
        request: SaveRequest<'a>,
    ) -> LocalBoxFuture<'a, Result<SaveOutcome, StoreError>>;
    fn end<'a>(
        &'a self,
        id: &'a str,
        reason: EndReason,
    ) -> LocalBoxFuture<'a, Result<(), StoreError>>;
    fn touch<'a>(
        &'a self,
        id: &'a str,
        cookie: Option<&'a SessionCookie>,
    ) -> LocalBoxFuture<'a, Result<Option<SessionCookie>, StoreError>>;
    fn sessions_by<'a>(
        &'a self,
        key: &'a IndexKey,
    ) -> LocalBoxFuture<'a, Result<Vec<IndexedSession>, StoreError>>;
    fn end_sessions_by<'a>(
        &'a self,
        key: &'a IndexKey,
        except: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<usize, StoreError>>;
}

impl<S: LocalSessionStore> DynStore for S {
    fn is_ready(&self) -> bool {
        LocalSessionStore::is_ready(self)
    }

    fn load<'a>(&'a self, id: &'a str) -> LocalBoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(LocalSessionStore::load(self, id))
    }

    fn load_touched<'a>(
        &'a self,
        id: &'a str,
    ) -> LocalBoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(LocalSessionStore::load_touched(self, id))
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        request: SaveRequest<'a>,
    ) -> LocalBoxFuture<'a, Result<SaveOutcome, StoreError>> {
        Box::pin(LocalSessionStore::save(self, id, request))
    }

    fn end<'a>(
        &'a self,
        id: &'a str,
        reason: EndReason,
    ) -> LocalBoxFuture<'a, Result<(), StoreError>> {
        Box::pin(LocalSessionStore::end(self, id, reason))
    }

    fn touch<'a>(
        &'a self,
        id: &'a str,
        cookie: Option<&'a SessionCookie>,
    ) -> LocalBoxFuture<'a, Result<Option<SessionCookie>, StoreError>> {
        Box::pin(LocalSessionStore::touch(self, id, cookie))
    }

    fn sessions_by<'a>(
        &'a self,
        key: &'a IndexKey,
    ) -> LocalBoxFuture<'a, Result<Vec<IndexedSession>, StoreError>> {
        Box::pin(LocalSessionStore::sessions_by(self, key))
    }

    fn end_sessions_by<'a>(
        &'a self,
        key: &'a IndexKey,
        except: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(LocalSessionStore::end_sessions_by(self, key, except))
    }
}
