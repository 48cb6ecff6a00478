//! `SessionMiddlewareBuilder`: express-session's options as builder methods.

use std::{borrow::Cow, fmt, rc::Rc, time::Duration};

use actix_web::{dev::ServiceRequest, HttpRequest};
use time::OffsetDateTime;

use crate::{
    codec::SessionCodec,
    config::{Config, CookieOptions, CookieOptionsFn, CookieSecure, GenId, Unset},
    cookie::{Secrets, SecretsError},
    middleware::SessionMiddleware,
    record::Priority,
    record::SameSite,
    secrets::SessionSecrets,
    store::LocalSessionStore,
    verified::VerifiedCookies,
};

/// Options of [`SessionMiddleware`], named after express-session's.
#[must_use]
pub struct SessionMiddlewareBuilder<S: LocalSessionStore> {
    store: S,
    secrets: SessionSecrets,
    name: String,
    cookie: CookieOptions,
    cookie_fn: Option<Rc<CookieOptionsFn>>,
    genid: Option<Rc<GenId>>,
    proxy: bool,
    resave: bool,
    rolling: bool,
    save_uninitialized: bool,
    unset: Unset,
    absolute_timeout: Option<Duration>,
    cookie_lifetime: Option<Duration>,
}

/// The middleware's options are inconsistent, or its secrets cannot sign cookies (none, or an
/// empty one).
#[derive(Debug)]
pub struct ConfigError {
    message: Cow<'static, str>,
}

impl From<SecretsError> for ConfigError {
    fn from(e: SecretsError) -> Self {
        let message = match e {
            SecretsError::Missing => Cow::Borrowed(
                "actix-typed-session: at least one secret is required to sign session cookies",
            ),
            SecretsError::Empty(i) => Cow::Owned(format!(
                "actix-typed-session: session secret {} is empty; an empty secret would sign \
                 session cookies with an empty HMAC key",
                i + 1
            )),
        };
        Self { message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl<S: LocalSessionStore> SessionMiddlewareBuilder<S> {
    /// Every option at its default: express-session's, with `resave` and `saveUninitialized`
    /// off, and the cookie `SameSite=Lax` and `Secure` over secure requests.
    pub(crate) fn new(store: S, secrets: SessionSecrets) -> Self {
        Self {
            store,
            secrets,
            name: "connect.sid".to_owned(),
            cookie: CookieOptions::default(),
            cookie_fn: None,
            genid: None,
            proxy: false,
            resave: false,
            rolling: false,
            save_uninitialized: false,
            unset: Unset::Keep,
            absolute_timeout: None,
            cookie_lifetime: None,
        }
    }

    /// The cookie's name (express's `name`; default `connect.sid`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// All cookie attributes at once (express's `cookie` object).
    pub fn cookie(mut self, options: CookieOptions) -> Self {
        self.cookie = options;
        self
    }

    /// Cookie attributes computed for each request (express's `cookie` as a function of `req`).
    /// Overrides [`cookie`](Self::cookie) and the `cookie_*` methods.
    pub fn cookie_per_request(
        mut self,
        options: impl Fn(&ServiceRequest) -> CookieOptions + 'static,
    ) -> Self {
        self.cookie_fn = Some(Rc::new(options));
        self
    }

    /// `Path` (default `/`); requests outside it get no session.
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie = self.cookie.path(path);
        self
    }

    /// `Domain` (default: the request's host only).
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie = self.cookie.domain(Some(domain.into()));
        self
    }

    /// `HttpOnly` (default `true`).
    pub fn cookie_http_only(mut self, http_only: bool) -> Self {
        self.cookie = self.cookie.http_only(http_only);
        self
    }

    /// `Secure` (default [`CookieSecure::Auto`]: when the request that creates the session is
    /// secure, so that plain `http://127.0.0.1` works in development).
    pub fn cookie_secure(mut self, secure: CookieSecure) -> Self {
        self.cookie = self.cookie.secure(secure);
        self
    }

    /// `SameSite` (default [`SameSite::Lax`]). `None` sends no `SameSite` attribute, as
    /// express-session's default (while [`SameSite::None`] sends `SameSite=None`). For
    /// express's `'auto'`, see [`cookie_same_site_auto`](Self::cookie_same_site_auto).
    ///
    /// ```
    /// use actix_typed_session::{MemoryStore, SameSite, SessionMiddleware};
    ///
    /// let strict = SessionMiddleware::builder(MemoryStore::default(), "keyboard cat")
    ///     .cookie_same_site(SameSite::Strict)
    ///     .build();
    /// let like_express = SessionMiddleware::builder(MemoryStore::default(), "keyboard cat")
    ///     .cookie_same_site(None)
    ///     .build();
    /// # drop((strict, like_express));
    /// ```
    pub fn cookie_same_site(mut self, same_site: impl Into<Option<SameSite>>) -> Self {
        self.cookie = self.cookie.same_site(same_site.into());
        self
    }

    /// `SameSite=None` when the request that creates the session is secure, else `SameSite=Lax`
    /// (express's `sameSite: 'auto'`), resolved when the session is created and stored with it.
    pub fn cookie_same_site_auto(mut self) -> Self {
        self.cookie = self.cookie.same_site_auto();
        self
    }

    /// `Partitioned` (default `false`).
    pub fn cookie_partitioned(mut self, partitioned: bool) -> Self {
        self.cookie = self.cookie.partitioned(partitioned);
        self
    }

    /// `Priority` (default: not set).
    pub fn cookie_priority(mut self, priority: Priority) -> Self {
        self.cookie = self.cookie.priority(Some(priority));
        self
    }

    /// The session lifetime, renewed by each request that touches it (express's `cookie.maxAge`).
    /// `None` (the default) makes a browser-session cookie.
    pub fn cookie_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.cookie = self.cookie.max_age(max_age);
        self
    }

    /// A fixed expiry date for new sessions (express's `cookie.expires`).
    pub fn cookie_expires(mut self, expires: OffsetDateTime) -> Self {
        self.cookie = self.cookie.expires(Some(expires));
        self
    }

    /// The id generator for new sessions (express's `genid`). The default draws 24 bytes from the
    /// operating system's CSPRNG (32 base64url characters). Ids must be unique and unguessable.
    pub fn genid(mut self, genid: impl Fn(&HttpRequest) -> String + 'static) -> Self {
        self.genid = Some(Rc::new(genid));
        self
    }

    /// Trust `X-Forwarded-Proto` to tell whether a request is secure (express's `proxy: true`).
    /// Default `false`: only a TLS connection to this server is secure.
    pub fn proxy(mut self, trust: bool) -> Self {
        self.proxy = trust;
        self
    }

    /// Write the session back even when unchanged (express's `resave`; default `false`).
    pub fn resave(mut self, resave: bool) -> Self {
        self.resave = resave;
        self
    }

    /// Send the cookie, with a renewed expiry, on every response (express's `rolling`; default
    /// `false`).
    pub fn rolling(mut self, rolling: bool) -> Self {
        self.rolling = rolling;
        self
    }

    /// Store new sessions even when unmodified, and send their cookie (express's
    /// `saveUninitialized`; default `false`).
    pub fn save_uninitialized(mut self, save: bool) -> Self {
        self.save_uninitialized = save;
        self
    }

    /// What [`Session::unset`](crate::Session::unset) does to the stored session (express's
    /// `unset`; default [`Unset::Keep`]).
    pub fn unset(mut self, unset: Unset) -> Self {
        self.unset = unset;
        self
    }

    /// An absolute lifetime: a session ends `timeout` after it was created, however often
    /// requests touch it and whatever `rolling` does (express issue #557; the seed's absolute
    /// expiry). Default: none, a session lives as long as requests keep renewing it.
    ///
    /// The creation time is kept in the record (see [`Record::created_at`](crate::Record::created_at)),
    /// so it holds across app servers and restarts, and an older session without one counts from
    /// the first request that loads it under this option. The session's expiry is capped at
    /// `created + timeout` on every save and touch, so the store removes it, and reports it
    /// [`EndReason::Expired`](crate::store::EndReason::Expired), at that instant. A session found past
    /// it (a store with coarse expiry) is ended as expired and replaced by a new one.
    ///
    /// A browser-session cookie (no [`cookie_max_age`](Self::cookie_max_age)) has no expiry to
    /// cap: such a session is still refused from its absolute deadline on, but the store removes
    /// it at its idle expiry (or the request that finds it past the deadline ends it).
    ///
    /// With this option (or [`cookie_lifetime`](Self::cookie_lifetime)), a request whose handlers
    /// never extract the session costs a load and a touch instead of one touch, as the record
    /// must be read to know its creation time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_typed_session::{MemoryStore, SessionMiddleware};
    ///
    /// // Idle sessions end after 30 minutes, every session after 12 hours.
    /// let middleware = SessionMiddleware::builder(MemoryStore::default(), "keyboard cat")
    ///     .cookie_max_age(Some(Duration::from_secs(30 * 60)))
    ///     .rolling(true)
    ///     .absolute_timeout(Duration::from_secs(12 * 60 * 60))
    ///     .build();
    /// # drop(middleware);
    /// ```
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.absolute_timeout = Some(timeout);
        self
    }

    /// A fixed lifetime for the browser's cookie, separate from the server-side session's: the
    /// `Expires` of every `Set-Cookie` for a session is its creation time plus `lifetime`, and
    /// does not move when requests renew the session (the seed's fixed cookie lifetime).
    /// Default: none, the cookie expires with the session (its
    /// [`cookie_max_age`](Self::cookie_max_age)).
    ///
    /// The server-side session keeps its own idle expiry (`cookie_max_age`, stored in the record
    /// as `cookie.expires`) and absolute timeout; a browser that still holds the cookie after the
    /// session ended gets a new session with a new id, never the old one back. The creation time
    /// is kept in the record, as for [`absolute_timeout`](Self::absolute_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_typed_session::{MemoryStore, SessionMiddleware};
    ///
    /// // The session ends after 20 idle minutes; the browser keeps its cookie for 30 days.
    /// let middleware = SessionMiddleware::builder(MemoryStore::default(), "keyboard cat")
    ///     .cookie_max_age(Some(Duration::from_secs(20 * 60)))
    ///     .cookie_lifetime(Duration::from_secs(30 * 24 * 60 * 60))
    ///     .build();
    /// # drop(middleware);
    /// ```
    pub fn cookie_lifetime(mut self, lifetime: Duration) -> Self {
        self.cookie_lifetime = Some(lifetime);
        self
    }

    /// A codec for this builder's cookie name and secrets, to read and write the session cookie
    /// outside the middleware; an error for the secrets that [`try_build`](Self::try_build)
    /// refuses.
    pub fn codec(&self) -> Result<SessionCodec, ConfigError> {
        Ok(SessionCodec::from_parts(self.name.clone(), self.secrets()?))
    }

    fn secrets(&self) -> Result<Secrets, ConfigError> {
        Ok(Secrets::new(&self.secrets.0)?)
    }

    /// The middleware, or an error if the options are inconsistent: no secret, or an empty
    /// secret (`""`, alone or in a list), or a cookie path or domain that is not a valid
    /// attribute value (it could not be sent as configured). A secret shorter than 32 bytes is
    /// accepted with a `tracing` warning.
    pub fn try_build(self) -> Result<SessionMiddleware<S>, ConfigError> {
        let secrets = self.secrets()?;
        if !crate::cookie::is_valid_path(&self.cookie.path) {
            return Err(ConfigError {
                message: Cow::Borrowed(
                    "actix-typed-session: the cookie path must start with `/` and hold only \
                     printable ASCII other than `;` (at most 1024 bytes)",
                ),
            });
        }
        if let Some(domain) = &self.cookie.domain {
            if !crate::cookie::is_valid_domain(domain) {
                return Err(ConfigError {
                    message: Cow::Borrowed(
                        "actix-typed-session: the cookie domain must be a host name (letters, \
                         digits, inner hyphens and dots, an optional leading dot)",
                    ),
                });
            }
        }
        Ok(SessionMiddleware {
            store: self.store,
            config: Rc::new(Config {
                name: self.name,
                secrets,
                verified: VerifiedCookies::new(),
                cookie: Rc::new(self.cookie),
                cookie_fn: self.cookie_fn,
                genid: self.genid,
                proxy: self.proxy,
                resave: self.resave,
                rolling: self.rolling,
                save_uninitialized: self.save_uninitialized,
                unset: self.unset,
                absolute_timeout: self.absolute_timeout,
                cookie_lifetime: self.cookie_lifetime,
            }),
        })
    }

    /// The middleware.
    ///
    /// # Panics
    /// If the options are inconsistent (see [`try_build`](Self::try_build)).
    pub fn build(self) -> SessionMiddleware<S> {
        match self.try_build() {
            Ok(middleware) => middleware,
            Err(e) => panic!("{e}"),
        }
    }
}
