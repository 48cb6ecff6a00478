//! The session of one request: loaded on first use, changed by typed views, and settled at the end
//! of the request with express-session's decisions (save, touch, Set-Cookie).

use std::{
    borrow::Cow,
    cell::{Ref, RefCell, RefMut},
    mem,
    rc::Rc,
    time::Duration,
};

use actix_web::{HttpMessage, HttpRequest};

use crate::{
    config::{Config, CookieOptions, Unset},
    cookie::{clear_cookie, set_cookie},
    data::SessionData,
    error::{SessionError, SessionErrorKind},
    lifetime,
    record::{now_ms, ChangeSet, Record, SessionCookie},
    store::{
        value_of, DynStore, EndReason, IndexKey, IndexedSession, SaveOutcome, SaveRequest,
        StoreError, StoreErrorKind,
    },
    trace::{Event, Trace},
    verified::VerifiedCookie,
};

/// How many fresh ids to try when the store reports an id as taken.
const CREATE_ATTEMPTS: usize = 3;

pub(crate) type SharedState = Rc<Shared>;

/// One request's session state and what the middleware learned before the handler ran, in one
/// allocation.
pub(crate) struct Shared {
    pub(crate) ctx: RequestContext,
    state: RefCell<RequestState>,
}

impl Shared {
    pub(crate) fn new(ctx: RequestContext) -> Self {
        Self {
            ctx,
            state: RefCell::new(RequestState {
                phase: Phase::Unloaded,
                failure: None,
            }),
        }
    }

    pub(crate) fn borrow(&self) -> Ref<'_, RequestState> {
        self.state.borrow()
    }

    pub(crate) fn borrow_mut(&self) -> RefMut<'_, RequestState> {
        self.state.borrow_mut()
    }

    pub(crate) fn try_borrow(&self) -> Result<Ref<'_, RequestState>, std::cell::BorrowError> {
        self.state.try_borrow()
    }

    pub(crate) fn try_borrow_mut(
        &self,
    ) -> Result<RefMut<'_, RequestState>, std::cell::BorrowMutError> {
        self.state.try_borrow_mut()
    }
}

/// What the middleware learned about the request before the handler ran.
pub(crate) struct RequestContext {
    pub(crate) config: Rc<Config>,
    pub(crate) store: Rc<dyn DynStore>,
    pub(crate) options: Rc<CookieOptions>,
    /// The request's session cookie, when its signature verified.
    pub(crate) cookie: Option<Rc<VerifiedCookie>>,
    pub(crate) secure_request: bool,
    /// The request's `session` span and what it records.
    pub(crate) trace: Trace,
}

/// What the middleware and the extractors change about one request's session.
pub(crate) struct RequestState {
    pub(crate) phase: Phase,
    /// A failure that surfaced where it could not be returned (a typed view dropped with a field
    /// that does not encode); the request then ends with an error and nothing is written.
    pub(crate) failure: Option<SessionError>,
}

pub(crate) enum Phase {
    /// No handler asked for the session yet.
    Unloaded,
    /// Loading failed; nothing is written at the end.
    Failed,
    /// The session is in use.
    Live(Live),
    /// A store operation on the session is in flight.
    Busy,
    /// Destroyed in this request (or found gone); the client cookie, if any, is cleared.
    Ended { cookie: Option<SessionCookie> },
    /// Unset in this request (express's `req.session = null`).
    Unset(Live),
    /// Purged in this request (actix-session's `purge`): the stored session is destroyed at the
    /// end of the request and the client's cookie cleared.
    Purged(Live),
}

/// A session in use by this request.
pub(crate) struct Live {
    pub(crate) id: String,
    /// A record with this id exists in the store (it was loaded or has been written).
    pub(crate) stored: bool,
    pub(crate) record: Record,
    /// Field changes not yet written.
    pub(crate) dirty: ChangeSet,
    /// The id or the data changed in this request.
    pub(crate) modified: bool,
    /// Written in this request and unchanged since.
    pub(crate) saved: bool,
    /// The store renewed the expiry when it loaded the session (so the end of the request owes
    /// no touch unless the cookie changed).
    pub(crate) touched: bool,
    /// The handler changed the cookie (its lifetime) through `cookie_mut`.
    pub(crate) cookie_changed: bool,
    /// The session is to get a new id, keeping its data, at the end of the request
    /// (actix-session's `renew`).
    pub(crate) renew: bool,
}

impl Live {
    fn new(id: String, cookie: SessionCookie) -> Self {
        Self {
            id,
            stored: false,
            record: Record::new(cookie),
            dirty: ChangeSet::new(),
            modified: false,
            saved: false,
            touched: false,
            cookie_changed: false,
            renew: false,
        }
    }

    fn loaded(id: String, record: Record) -> Self {
        Self {
            id,
            stored: true,
            record,
            dirty: ChangeSet::new(),
            modified: false,
            saved: false,
            touched: false,
            cookie_changed: false,
            renew: false,
        }
    }
}

impl RequestState {
    pub(crate) fn live(&self) -> Result<&Live, SessionError> {
        match &self.phase {
            Phase::Live(live) => Ok(live),
            _ => Err(SessionError::plain(SessionErrorKind::Ended)),
        }
    }

    pub(crate) fn live_mut(&mut self) -> Result<&mut Live, SessionError> {
        match &mut self.phase {
            Phase::Live(live) => Ok(live),
            _ => Err(SessionError::plain(SessionErrorKind::Ended)),
        }
    }
}

impl RequestContext {
    /// The id of the request's cookie, when its signature verified.
    pub(crate) fn cookie_id(&self) -> Option<&str> {
        self.cookie.as_deref().map(|cookie| cookie.id.as_str())
    }

    /// A brand-new session for this request, with its creation time when an option counts from
    /// it.
    fn new_live(&self, req: &HttpRequest) -> Live {
        let mut live = Live::new(
            self.new_id(req),
            self.options.new_cookie(self.secure_request),
        );
        self.trace.note(Event::New);
        if self.config.tracks_creation() {
            lifetime::record_created_at(&mut live.record.fields, None, now_ms());
        }
        live
    }

    /// A new session id for this request, noted on its span.
    fn new_id(&self, req: &HttpRequest) -> String {
        let id = self.config.generate_id(req);
        self.trace.note_id(&self.config.secrets, &id);
        id
    }

    /// Ends stored session `id` for `reason`, noted on the request's span.
    async fn end(&self, id: &str, reason: EndReason) -> Result<(), StoreError> {
        self.trace.time(self.store.end(id, reason)).await?;
        self.trace.note_end(reason);
        Ok(())
    }

    /// The instant the absolute timeout ends the session of `record`, if it has one.
    fn deadline(&self, record: &Record) -> Option<time::OffsetDateTime> {
        let timeout = self.config.absolute_timeout?;
        Some(lifetime::after(record.created_at()?, timeout))
    }

    /// Caps the session's expiry at its absolute deadline, so that the store removes it then
    /// however the session was renewed.
    fn cap_expiry(&self, record: &mut Record) {
        if let Some(deadline) = self.deadline(record) {
            if record.cookie.expires.is_some_and(|e| e > deadline) {
                record.cookie.expires = Some(deadline);
            }
        }
    }

    /// Checks a record loaded for session `id`: `None` when it has expired (by its cookie, or
    /// past its absolute deadline, which ends it in the store as expired), else the live
    /// session, with a creation time recorded (and to be written) if an option needs one and
    /// the record had none.
    async fn check_loaded(&self, id: &str, record: Record) -> Result<Option<Live>, SessionError> {
        let now = now_ms();
        if record.cookie.is_expired_at(now) {
            return Ok(None);
        }
        if self
            .deadline(&record)
            .is_some_and(|deadline| deadline <= now)
        {
            self.end(id, EndReason::Expired).await?;
            return Ok(None);
        }
        let mut live = Live::loaded(id.to_owned(), record);
        if live.record.cookie.path.is_empty() {
            // The stored path was not a valid cookie path: this request's path, not `/`.
            live.record.cookie.path.clone_from(&self.options.path);
        }
        if self.config.tracks_creation() && live.record.created_at().is_none() {
            // Stored before the option was set (or by another program): counted from now.
            lifetime::record_created_at(&mut live.record.fields, Some(&mut live.dirty), now);
        }
        Ok(Some(live))
    }

    /// Loads the session of the request's cookie: `None` when there is no cookie, or the store
    /// does not have the session or it has expired.
    async fn load_cookie_session(&self) -> Result<Option<Live>, SessionError> {
        let Some(id) = self.cookie_id() else {
            return Ok(None);
        };
        // express touches every session a request loads: without an absolute timeout to cap the
        // renewed expiry, the store renews it in the same round trip as the read.
        let touch_on_load = self.config.absolute_timeout.is_none();
        let loaded = if touch_on_load {
            self.trace.time(self.store.load_touched(id)).await
        } else {
            self.trace.time(self.store.load(id)).await
        };
        let loaded = match loaded {
            Ok(loaded) => loaded,
            // A stored record that cannot be read is no session: a new one starts under a new id
            // (the unreadable record is left to expire). The id is a secret: not logged.
            Err(e) if e.kind() == StoreErrorKind::Corrupt => {
                tracing::warn!(error = %e, "stored session is not a valid record; starting anew");
                None
            }
            Err(e) => return Err(e.into()),
        };
        match loaded {
            Some(record) => {
                self.trace.note(Event::Loaded);
                if touch_on_load {
                    self.trace.note(Event::Touched);
                }
                Ok(self.check_loaded(id, record).await?.map(|mut live| {
                    live.touched = touch_on_load;
                    live
                }))
            }
            None => Ok(None),
        }
    }

    /// Whether a cookie with these attributes may be sent on this request.
    fn may_send(&self, cookie: &SessionCookie) -> bool {
        !cookie.secure() || self.secure_request
    }

    /// Clears the client's cookie if the request came with one.
    fn clear_for_client(&self, cookie: &SessionCookie) -> Option<String> {
        (self.cookie.is_some() && self.may_send(cookie))
            .then(|| clear_cookie(&self.config.name, cookie, &self.options.path))
    }

    /// The `Set-Cookie` for session `id` stored as `record`; with a fixed cookie lifetime, its
    /// `Expires` is the session's creation plus that lifetime.
    fn set_cookie_for(&self, id: &str, record: &Record) -> Option<String> {
        let cookie = &record.cookie;
        if !self.may_send(cookie) {
            return None;
        }
        let fixed = self.config.cookie_lifetime.and_then(|lifetime| {
            Some(SessionCookie {
                expires: Some(lifetime::after(record.created_at()?, lifetime)),
                ..cookie.clone()
            })
        });
        // The cookie the request came with, when it is this id's signed with the first secret:
        // the same value that signing again would give.
        let value = match self.cookie.as_deref() {
            Some(VerifiedCookie {
                id: cookie_id,
                current_value: Some(value),
            }) if cookie_id == id => Cow::Borrowed(value.as_str()),
            _ => Cow::Owned(self.config.secrets.sign_encoded(id)),
        };
        Some(set_cookie(
            &self.config.name,
            &value,
            fixed.as_ref().unwrap_or(cookie),
            &self.options.path,
        ))
    }
}

/// The request's session state, made live: what every session extractor starts from.
pub(crate) async fn extract_live(req: &HttpRequest) -> Result<SharedState, SessionError> {
    let state = req
        .extensions()
        .get::<SharedState>()
        .cloned()
        .ok_or_else(|| SessionError::plain(SessionErrorKind::NotConfigured))?;
    ensure_live(&state, req).await?;
    Ok(state)
}

/// Makes the session live: loads it by the request's cookie on first use, or starts a new one.
pub(crate) async fn ensure_live(
    state: &SharedState,
    req: &HttpRequest,
) -> Result<(), SessionError> {
    match &state.borrow().phase {
        Phase::Live(_) => return Ok(()),
        Phase::Unloaded | Phase::Failed => {}
        Phase::Busy | Phase::Ended { .. } | Phase::Unset(_) | Phase::Purged(_) => {
            return Err(SessionError::plain(SessionErrorKind::Ended))
        }
    }
    let ctx = &state.ctx;
    if !ctx.store.is_ready() {
        // express skips the session while its store is disconnected: no store call, no cookie.
        state.borrow_mut().phase = Phase::Failed;
        return Err(StoreError::unavailable(
            "the session store is down (an earlier operation could not reach it); retrying shortly",
        )
        .into());
    }
    let loaded = match ctx.load_cookie_session().await {
        Ok(live) => live,
        Err(e) => {
            state.borrow_mut().phase = Phase::Failed;
            return Err(e);
        }
    };
    let mut s = state.borrow_mut();
    if matches!(s.phase, Phase::Unloaded | Phase::Failed) {
        // No cookie, or an id the store does not know: never adopt it, start anew.
        s.phase = Phase::Live(loaded.unwrap_or_else(|| ctx.new_live(req)));
    }
    Ok(())
}

/// Decodes a typed view of the live session.
pub(crate) fn decode<T: SessionData>(state: &SharedState) -> Result<T, SessionError> {
    let s = state.borrow();
    Ok(T::__decode(&s.live()?.record.fields)?)
}

/// Folds a typed view's changes into the session.
pub(crate) fn commit<T: SessionData>(state: &SharedState, value: &T) -> Result<(), SessionError> {
    let mut s = state.borrow_mut();
    let live = s.live_mut()?;
    let mut changes = ChangeSet::new();
    value.__diff(&live.record.fields, &mut changes)?;
    if !changes.is_empty() {
        if live.stored {
            live.record.fields.apply(&changes);
            if live.dirty.is_empty() {
                live.dirty = changes;
            } else {
                live.dirty.extend(&changes);
            }
        } else {
            // A session not stored yet is created from its record, never updated by its change
            // set (`write`): the fields take the values instead of copies.
            live.record.fields.apply_owned(changes);
        }
        live.modified = true;
        live.saved = false;
    }
    Ok(())
}

/// Writes the live session now: a create for a session not stored yet, else the changed fields.
/// Answers `false` when the store no longer has the session.
async fn write(
    ctx: &RequestContext,
    req: &HttpRequest,
    live: &mut Live,
) -> Result<bool, SessionError> {
    ctx.cap_expiry(&mut live.record);
    for _ in 0..CREATE_ATTEMPTS {
        let request = if live.stored {
            SaveRequest::Update {
                cookie: &live.record.cookie,
                changes: &live.dirty,
            }
        } else {
            SaveRequest::Create(&live.record)
        };
        match ctx.trace.time(ctx.store.save(&live.id, request)).await? {
            SaveOutcome::Saved => {
                ctx.trace.note(Event::Saved);
                live.stored = true;
                live.saved = true;
                live.dirty.clear();
                return Ok(true);
            }
            SaveOutcome::Gone => return Ok(false),
            SaveOutcome::Refused => {
                return Err(SessionError::plain(SessionErrorKind::LimitReached))
            }
            SaveOutcome::Conflict => {
                tracing::warn!("session id already taken; generating another");
                live.id = ctx.new_id(req);
            }
        }
    }
    Err(SessionError::plain(SessionErrorKind::IdConflict))
}

/// Takes the live session out for a store operation, so that no borrow is held across an await;
/// [`put_live`] puts it back.
fn take_live(state: &SharedState) -> Result<(Live, &RequestContext), SessionError> {
    let mut s = state.borrow_mut();
    if !matches!(s.phase, Phase::Live(_)) {
        return Err(SessionError::plain(SessionErrorKind::Ended));
    }
    let Phase::Live(live) = mem::replace(&mut s.phase, Phase::Busy) else {
        unreachable!("checked above")
    };
    Ok((live, &state.ctx))
}

fn put_live(state: &SharedState, live: Live) {
    state.borrow_mut().phase = Phase::Live(live);
}

/// `session.save()`: writes now; the end of the request writes again only if changed again.
pub(crate) async fn save_now(state: &SharedState, req: &HttpRequest) -> Result<(), SessionError> {
    let (mut live, ctx) = take_live(state)?;
    match write(ctx, req, &mut live).await {
        Ok(true) => {
            put_live(state, live);
            Ok(())
        }
        Ok(false) => {
            state.borrow_mut().phase = Phase::Ended { cookie: None };
            Err(SessionError::plain(SessionErrorKind::Gone))
        }
        Err(e) => {
            put_live(state, live);
            Err(e)
        }
    }
}

/// `session.reload()`: re-reads the stored record, dropping unsaved changes.
pub(crate) async fn reload(state: &SharedState) -> Result<(), SessionError> {
    let (mut live, ctx) = take_live(state)?;
    let loaded = if live.stored {
        ctx.trace.time(ctx.store.load(&live.id)).await
    } else {
        Ok(None)
    };
    let checked = match loaded {
        Ok(Some(record)) => ctx.check_loaded(&live.id, record).await,
        Ok(None) => Ok(None),
        Err(e) => Err(e.into()),
    };
    let result = match checked {
        Ok(Some(reloaded)) => {
            live.record = reloaded.record;
            live.dirty = reloaded.dirty;
            live.saved = false;
            Ok(())
        }
        Ok(None) => Err(SessionError::plain(SessionErrorKind::Gone)),
        Err(e) => Err(e),
    };
    put_live(state, live);
    result
}

/// Ends the stored record of `live` for `reason`, if it has one; on failure the session stays as
/// it was.
async fn end_stored(
    state: &SharedState,
    ctx: &RequestContext,
    live: Live,
    reason: EndReason,
) -> Result<Live, SessionError> {
    if live.stored {
        if let Err(e) = ctx.end(&live.id, reason).await {
            put_live(state, live);
            return Err(e.into());
        }
    }
    Ok(live)
}

/// `session.regenerate()`: destroys the stored session and starts an empty one under a new id.
pub(crate) async fn regenerate(state: &SharedState, req: &HttpRequest) -> Result<(), SessionError> {
    let (live, ctx) = take_live(state)?;
    end_stored(state, ctx, live, EndReason::Regenerated).await?;
    let mut live = ctx.new_live(req);
    live.modified = true;
    put_live(state, live);
    Ok(())
}

/// `session.cycle_id()`: the same data (and creation time) under a new id; the old id is ended
/// now.
pub(crate) async fn cycle_id(state: &SharedState, req: &HttpRequest) -> Result<(), SessionError> {
    let (live, ctx) = take_live(state)?;
    let mut live = end_stored(state, ctx, live, EndReason::Regenerated).await?;
    live.id = ctx.new_id(req);
    live.stored = false;
    live.saved = false;
    live.dirty.clear();
    live.modified = true;
    live.renew = false;
    put_live(state, live);
    Ok(())
}

/// `session.destroy()`: removes the stored session now; the client cookie is cleared at the end.
pub(crate) async fn destroy(state: &SharedState) -> Result<(), SessionError> {
    let (live, ctx) = take_live(state)?;
    let live = end_stored(state, ctx, live, EndReason::Destroyed).await?;
    state.borrow_mut().phase = Phase::Ended {
        cookie: Some(live.record.cookie),
    };
    Ok(())
}

/// The live sessions whose indexed field holds the value of `key` (the store's
/// [`sessions_by`](crate::store::SessionStore::sessions_by)).
pub(crate) async fn sessions_by(
    state: &SharedState,
    key: &IndexKey,
) -> Result<Vec<IndexedSession>, SessionError> {
    let ctx = &state.ctx;
    Ok(ctx.trace.time(ctx.store.sessions_by(key)).await?)
}

/// Ends the sessions whose indexed field holds the value of `key`, as
/// [`EndReason::Revoked`]: all but this request's session, and this one too unless
/// `keep_current` (it then ends now, as [`destroy`] does, when its own value is `key`'s).
/// Answers how many stored sessions ended.
pub(crate) async fn end_sessions_by(
    state: &SharedState,
    key: &IndexKey,
    keep_current: bool,
) -> Result<usize, SessionError> {
    let (live, ctx) = take_live(state)?;
    let mut ended = match ctx
        .trace
        .time(ctx.store.end_sessions_by(key, Some(&live.id)))
        .await
    {
        Ok(n) => n,
        Err(e) => {
            put_live(state, live);
            return Err(e.into());
        }
    };
    let holds_key =
        value_of(live.record.fields.iter_json(), key.name()).as_deref() == Some(key.value_json());
    if keep_current || !holds_key {
        put_live(state, live);
        return Ok(ended);
    }
    let stored = live.stored;
    let live = end_stored(state, ctx, live, EndReason::Revoked).await?;
    ended += usize::from(stored);
    state.borrow_mut().phase = Phase::Ended {
        cookie: Some(live.record.cookie),
    };
    Ok(ended)
}

/// Applies field changes made through the untyped view: the fields change now, and the store
/// gets them with the end-of-request write.
pub(crate) fn apply_changes(state: &SharedState, changes: &ChangeSet) -> Result<(), SessionError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut s = state.borrow_mut();
    let live = s.live_mut()?;
    live.record.fields.apply(changes);
    live.dirty.extend(changes);
    live.modified = true;
    live.saved = false;
    Ok(())
}

/// actix-session's `purge`: the session is gone for the rest of the request; its stored record
/// is destroyed (reported as [`EndReason::Destroyed`]) and the client's cookie cleared at the end
/// of the request.
pub(crate) fn purge(state: &SharedState) -> Result<(), SessionError> {
    let (live, _) = take_live(state)?;
    state.borrow_mut().phase = Phase::Purged(live);
    Ok(())
}

/// actix-session's `renew`: at the end of the request the session gets a new id, keeping its
/// data, and the old id is ended as [`EndReason::Regenerated`].
pub(crate) fn request_renewal(state: &SharedState) -> Result<(), SessionError> {
    state.borrow_mut().live_mut()?.renew = true;
    Ok(())
}

/// Gives a session marked by [`request_renewal`] its new id: the stored record of the old id is
/// ended, and the data is written under the new one.
async fn renew(
    ctx: &RequestContext,
    req: &HttpRequest,
    live: &mut Live,
) -> Result<(), SessionError> {
    live.renew = false;
    if live.stored {
        ctx.end(&live.id, EndReason::Regenerated).await?;
    }
    live.id = ctx.new_id(req);
    live.stored = false;
    live.saved = false;
    live.dirty.clear();
    live.modified = true;
    Ok(())
}

/// `req.session = null`: what happens to the stored session is the `unset` option's call.
pub(crate) fn unset(state: &SharedState) -> Result<(), SessionError> {
    let (live, _) = take_live(state)?;
    state.borrow_mut().phase = Phase::Unset(live);
    Ok(())
}

/// Settles the session at the end of the request: the store write (or touch, or destroy) that
/// express-session would make, and the `Set-Cookie` header value to add, if any.
pub(crate) async fn finish(
    state: &SharedState,
    req: &HttpRequest,
) -> Result<Option<String>, SessionError> {
    let mut phase = {
        let mut s = state.borrow_mut();
        if let Some(failure) = s.failure.take() {
            return Err(failure);
        }
        mem::replace(&mut s.phase, Phase::Busy)
    };
    let ctx = &state.ctx;
    // The session stays in `phase` while the store works on it: the futures awaited below borrow
    // it rather than take it, so that this future (boxed for every request) holds it once.
    match &mut phase {
        Phase::Unloaded => finish_unused(state, req).await,
        Phase::Live(live) => {
            if live.renew {
                renew(ctx, req, live).await?;
            }
            finish_live(ctx, req, live).await
        }
        Phase::Failed | Phase::Busy => Ok(None),
        Phase::Ended { cookie } => Ok(cookie
            .as_ref()
            .and_then(|cookie| ctx.clear_for_client(cookie))),
        Phase::Unset(live) => match ctx.config.unset {
            Unset::Keep => Ok(None),
            Unset::Destroy => {
                if live.stored {
                    ctx.end(&live.id, EndReason::Destroyed).await?;
                }
                Ok(ctx.clear_for_client(&live.record.cookie))
            }
        },
        Phase::Purged(live) => {
            if live.stored {
                ctx.end(&live.id, EndReason::Destroyed).await?;
            }
            Ok(ctx.clear_for_client(&live.record.cookie))
        }
    }
}

/// How long a response whose handlers never used the session waits for what express still owes
/// it (the store's touch, a rolling cookie, a `save_uninitialized` session). A store that has not
/// answered by then finishes in the background, and the response goes without a cookie.
const UNUSED_SESSION_WAIT: Duration = Duration::from_millis(100);

/// Settles a request whose handlers never extracted the session. Its response does not depend on
/// the store, so a store that is down or slow never holds it up or fails it: the work waits at
/// most [`UNUSED_SESSION_WAIT`], and a failure is logged, not answered.
async fn finish_unused(
    state: &SharedState,
    req: &HttpRequest,
) -> Result<Option<String>, SessionError> {
    let ctx = &state.ctx;
    if ctx.cookie.is_none() && !ctx.config.save_uninitialized {
        return Ok(None);
    }
    if !ctx.store.is_ready() {
        return Ok(None);
    }
    let (state, req) = (Rc::clone(state), req.clone());
    let mut work = Box::pin(async move {
        let settled = finish_unloaded(&state.ctx, &req).await;
        if let Err(e) = &settled {
            tracing::warn!(error = %e, "session touch or save failed for a request that did not use its session");
        }
        settled.unwrap_or(None)
    });
    match actix_web::rt::time::timeout(UNUSED_SESSION_WAIT, &mut work).await {
        Ok(cookie) => Ok(cookie),
        Err(_) => {
            tracing::warn!(
                "the session store did not answer within {UNUSED_SESSION_WAIT:?}; finishing in the background"
            );
            actix_web::rt::spawn(work);
            Ok(None)
        }
    }
}

/// A request whose handlers never extracted the session: express would still have loaded it to
/// touch it (and send a rolling cookie), which costs one store round trip here.
async fn finish_unloaded(
    ctx: &RequestContext,
    req: &HttpRequest,
) -> Result<Option<String>, SessionError> {
    if ctx.cookie.is_some() && ctx.config.tracks_creation() {
        // The creation time is in the record: load it, then settle it as a loaded session.
        if let Some(mut live) = ctx.load_cookie_session().await? {
            return finish_live(ctx, req, &mut live).await;
        }
    } else if let Some(id) = ctx.cookie_id() {
        if let Some(cookie) = ctx.trace.time(ctx.store.touch(id, None)).await? {
            ctx.trace.note(Event::Touched);
            return Ok(if ctx.config.rolling {
                ctx.set_cookie_for(id, &Record::new(cookie))
            } else {
                None
            });
        }
    }
    if !ctx.config.save_uninitialized {
        return Ok(None);
    }
    finish_live(ctx, req, &mut ctx.new_live(req)).await
}

/// Settles a session the request used: the store write or touch it owes, and its cookie.
async fn finish_live(
    ctx: &RequestContext,
    req: &HttpRequest,
    live: &mut Live,
) -> Result<Option<String>, SessionError> {
    live.record.cookie.touch_at(now_ms());
    ctx.cap_expiry(&mut live.record);
    let config = &ctx.config;
    let from_cookie = ctx.cookie_id() == Some(live.id.as_str());

    let should_save = if !live.stored {
        config.save_uninitialized || live.modified
    } else {
        !live.dirty.is_empty() || (config.resave && !live.saved)
    };
    if should_save {
        if !write(ctx, req, live).await? {
            tracing::debug!("session ended by another request; not recreated");
            return Ok(None);
        }
    } else if from_cookie && !live.saved && (!live.touched || live.cookie_changed) {
        let touched = ctx
            .trace
            .time(ctx.store.touch(&live.id, Some(&live.record.cookie)))
            .await?;
        if touched.is_none() {
            return Ok(None);
        }
        ctx.trace.note(Event::Touched);
    }
    if !live.stored {
        return Ok(None);
    }

    let send = if from_cookie {
        config.rolling || (live.record.cookie.expires().is_some() && live.modified)
    } else {
        config.save_uninitialized || live.modified
    };
    Ok(if send {
        ctx.set_cookie_for(&live.id, &live.record)
    } else {
        None
    })
}
