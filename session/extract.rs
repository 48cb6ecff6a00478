//! `Session<T>`: the typed session extractor and express-session's session methods.

use std::{
    cell::RefMut,
    fmt,
    future::Future,
    ops::{Deref, DerefMut},
    pin::Pin,
};

use actix_web::{dev::Payload, FromRequest, HttpRequest};

use crate::{
    data::SessionData,
    error::{SessionError, SessionErrorKind},
    record::{now_ms, SessionCookie},
    state::{self, SharedState},
    store::{IndexKey, IndexedSession},
};

/// A typed view of the request's session.
///
/// Extract it in a handler and use it like the struct: `Session<T>` dereferences to `T`. The first
/// extraction in a request loads the session from the store (a request that never extracts one
/// costs no store read). When the handler is done, the fields it changed are compared with what was
/// loaded, and only those are written.
///
/// ```
/// use actix_typed_session::{Session, SessionData};
///
/// #[derive(SessionData, Default)]
/// struct Visit {
///     views: u32,
/// }
///
/// async fn index(mut session: Session<Visit>) -> String {
///     session.views += 1;
///     format!("views: {}", session.views)
/// }
/// ```
///
/// Several types may view one session in the same request; fields that `T` does not name are kept
/// untouched. Changes are folded into the request's session when the `Session` is dropped (at the
/// end of the handler) or when one of its methods runs, so keep it within the handler.
pub struct Session<T: SessionData> {
    value: T,
    state: SharedState,
    req: HttpRequest,
    /// `&mut T` was handed out since the last commit.
    touched: bool,
}

impl<T: SessionData> Session<T> {
    /// The session id.
    pub fn id(&self) -> String {
        self.state
            .borrow()
            .live()
            .map(|live| live.id.clone())
            .unwrap_or_default()
    }

    /// Whether this session was created by this request (it was not in the store).
    pub fn is_new(&self) -> bool {
        self.state
            .borrow()
            .live()
            .map(|live| !live.stored)
            .unwrap_or(false)
    }

    fn commit(&mut self) -> Result<(), SessionError> {
        if self.touched {
            state::commit(&self.state, &self.value)?;
            self.touched = false;
        }
        Ok(())
    }

    fn redecode(&mut self) -> Result<(), SessionError> {
        self.value = state::decode(&self.state)?;
        self.touched = false;
        Ok(())
    }

    /// Replaces the session by a new, empty one under a new id, destroying the stored one now
    /// (express's `req.session.regenerate()`). The new session is saved and its cookie sent at the
    /// end of the request, whatever `save_uninitialized` says.
    pub async fn regenerate(&mut self) -> Result<(), SessionError> {
        self.touched = false;
        state::regenerate(&self.state, &self.req).await?;
        self.redecode()
    }

    /// Keeps the data under a new id and destroys the old id now: what to do on login, against
    /// session fixation.
    pub async fn cycle_id(&mut self) -> Result<(), SessionError> {
        self.commit()?;
        state::cycle_id(&self.state, &self.req).await
    }

    /// Removes the session from the store now and expires the client's cookie at the end of the
    /// request (express's `req.session.destroy()`). The session is gone for the rest of the
    /// request: extracting it again fails with [`SessionErrorKind::Ended`].
    pub async fn destroy(mut self) -> Result<(), SessionError> {
        self.touched = false;
        state::destroy(&self.state).await
    }

    /// Re-reads the session from the store, dropping changes not yet saved (express's
    /// `req.session.reload()`). Fails with [`SessionErrorKind::Gone`] if the store does not have
    /// it (it was destroyed, it expired, or it was never saved); the session then stays as it
    /// was, changes included, as express keeps `req.session` when a reload fails.
    pub async fn reload(&mut self) -> Result<(), SessionError> {
        state::reload(&self.state).await?;
        self.redecode()
    }

    /// Writes the session now (express's `req.session.save()`). The end of the request writes
    /// again only if the session changes again.
    pub async fn save(&mut self) -> Result<(), SessionError> {
        self.commit()?;
        state::save_now(&self.state, &self.req).await
    }

    /// The live sessions whose indexed field holds the value of `key` ("where am I signed in"),
    /// oldest first: see [`SessionStore::sessions_by`](crate::store::SessionStore::sessions_by).
    /// This request's session is among them once it is stored with that value; compare
    /// [`IndexedSession::id`] with [`id`](Self::id) to mark it.
    ///
    /// ```
    /// use actix_typed_session::{store::IndexKey, Session, SessionData};
    ///
    /// #[derive(SessionData, Default)]
    /// struct Account {
    ///     #[session(index)]
    ///     user: Option<String>,
    /// }
    ///
    /// async fn devices(session: Session<Account>) -> Result<String, actix_web::Error> {
    ///     let Some(user) = &session.user else {
    ///         return Ok("not signed in".to_owned());
    ///     };
    ///     let key = IndexKey::new("user", user).map_err(actix_web::error::ErrorBadRequest)?;
    ///     let current = session.id();
    ///     let mut out = String::new();
    ///     for other in session.sessions_by(&key).await? {
    ///         let here = if other.id == current { " (this device)" } else { "" };
    ///         out += &format!("signed in since {}{here}\n", other.indexed_at);
    ///     }
    ///     Ok(out)
    /// }
    /// ```
    pub async fn sessions_by(&self, key: &IndexKey) -> Result<Vec<IndexedSession>, SessionError> {
        state::sessions_by(&self.state, key).await
    }

    /// Ends every other session whose indexed field holds the value of `key` ("log out
    /// everywhere else"), each reported once as
    /// [`EndReason::Revoked`](crate::store::EndReason::Revoked); this request's session stays.
    /// Answers how many ended.
    pub async fn end_other_sessions(&mut self, key: &IndexKey) -> Result<usize, SessionError> {
        self.commit()?;
        state::end_sessions_by(&self.state, key, true).await
    }

    /// Ends every session whose indexed field holds the value of `key` ("log out everywhere"),
    /// each reported once as [`EndReason::Revoked`](crate::store::EndReason::Revoked). When this
    /// request's session holds that value too, it ends with them: as with
    /// [`destroy`](Self::destroy), the client's cookie is expired at the end of the request. An
    /// admin's session that ends another user's sessions stays. Answers how many ended, this
    /// one included.
    pub async fn end_all_sessions(mut self, key: &IndexKey) -> Result<usize, SessionError> {
        self.commit()?;
        self.touched = false;
        state::end_sessions_by(&self.state, key, false).await
    }

    /// Renews the cookie's expiry: `expires = now + original max age` (express's
    /// `req.session.touch()`; the middleware does it once per request anyway).
    pub fn touch(&mut self) {
        if let Ok(live) = self.state.borrow_mut().live_mut() {
            live.record.cookie.touch_at(now_ms());
        }
    }

    /// Drops the session from this request (express's `req.session = null`). With
    /// [`Unset::Keep`](crate::Unset::Keep) the stored session stays as it was and this request's
    /// changes are discarded; with [`Unset::Destroy`](crate::Unset::Destroy) it is destroyed at the
    /// end of the request.
    pub fn unset(mut self) -> Result<(), SessionError> {
        self.touched = false;
        state::unset(&self.state)
    }

    /// A copy of the session's cookie: lifetime and attributes.
    pub fn cookie(&self) -> SessionCookie {
        self.state
            .borrow()
            .live()
            .map(|live| live.record.cookie.clone())
            .unwrap_or_default()
    }

    /// The session's cookie, to change this session's lifetime (for example a "remember me"
    /// login): `session.cookie_mut()?.set_max_age(Some(Duration::from_secs(30 * 86400)))`.
    ///
    /// A cookie change alone does not count as a modification of the session: it is stored with
    /// the end-of-request touch. Do not hold the returned guard across an `.await`.
    pub fn cookie_mut(
        &mut self,
    ) -> Result<impl DerefMut<Target = SessionCookie> + '_, SessionError> {
        let s = self.state.borrow_mut();
        s.live()?;
        Ok(RefMut::map(s, |s| match &mut s.phase {
            state::Phase::Live(live) => {
                live.cookie_changed = true;
                &mut live.record.cookie
            }
            _ => unreachable!("checked above"),
        }))
    }
}

impl<T: SessionData> Deref for Session<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: SessionData> DerefMut for Session<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.touched = true;
        &mut self.value
    }
}

impl<T: SessionData + fmt::Debug> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id())
            .field("data", &self.value)
            .finish()
    }
}

impl<T: SessionData> Drop for Session<T> {
    fn drop(&mut self) {
        if !self.touched {
            return;
        }
        // The request may already be settling (a view kept past its handler); then the change
        // comes too late to be written.
        if self.state.try_borrow_mut().is_err() {
            tracing::warn!("session view dropped after the response was settled; change not saved");
            return;
        }
        if let Err(e) = state::commit(&self.state, &self.value) {
            if e.kind() != SessionErrorKind::Ended {
                self.state.borrow_mut().failure = Some(e);
            }
        }
    }
}

impl<T: SessionData> FromRequest for Session<T> {
    type Error = SessionError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, SessionError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state::extract_live(&req).await?;
            let value = state::decode(&state)?;
            Ok(Session {
                value,
                state,
                req,
                touched: false,
            })
        })
    }
}
