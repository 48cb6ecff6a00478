//! Options of the session middleware: the cookie's attributes and express-session's options.

use std::{rc::Rc, time::Duration};

use actix_web::{dev::ServiceRequest, HttpRequest};
use compact_str::CompactString;
use time::OffsetDateTime;

// The middleware names the secrets through this module.
pub(crate) use crate::secrets::SessionSecrets;
use crate::{
    cookie::Secrets,
    record::{Priority, SameSite, SessionCookie},
    verified::VerifiedCookies,
};

/// When the session cookie carries the `Secure` attribute (express's `cookie.secure`).
///
/// The default is [`Auto`](Self::Auto), where express-session's is `false`: a session created over
/// HTTPS gets a `Secure` cookie, and one created over plain HTTP (`http://127.0.0.1` in
/// development) still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CookieSecure {
    /// Never (express: `false`, its default).
    Never,
    /// Always (express: `true`). Over plain HTTP the cookie is then not sent at all, but the
    /// session is still saved.
    Always,
    /// Exactly when the request that created the session was secure (express: `'auto'`; the
    /// default here): a TLS connection to this server, or with
    /// [`proxy(true)`](crate::SessionMiddlewareBuilder::proxy) `X-Forwarded-Proto: https`.
    #[default]
    Auto,
}

/// The configured `SameSite` of new sessions' cookies: one value, or express's `'auto'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SameSitePolicy {
    Fixed(SameSite),
    /// `None` when the request that creates the session is secure, else `Lax`.
    Auto,
}

/// What happens to the stored session when a handler calls
/// [`Session::unset`](crate::Session::unset) (express's `unset` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Unset {
    /// The stored session is left as it was; the request's changes are dropped (the default).
    #[default]
    Keep,
    /// The stored session is destroyed at the end of the request.
    Destroy,
}

/// The session cookie's attributes and lifetime (express's `cookie` option).
///
/// Defaults: path `/`, `HttpOnly`, `SameSite=Lax`, `Secure` when the request that creates the
/// session is secure ([`CookieSecure::Auto`]), no max age (a browser-session cookie).
/// express-session's defaults differ in two: no `SameSite` and never `Secure`; a Node app that
/// shares sessions sets `sameSite: 'lax'` and `secure: 'auto'` to send the same cookie.
///
/// ```
/// use std::time::Duration;
/// use actix_typed_session::{CookieOptions, CookieSecure, SameSite};
///
/// // An hour-long cookie for an HTTPS-only site, never sent cross-site.
/// let options = CookieOptions::default()
///     .max_age(Some(Duration::from_secs(3600)))
///     .secure(CookieSecure::Always)
///     .same_site(Some(SameSite::Strict));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct CookieOptions {
    pub(crate) path: CompactString,
    pub(crate) domain: Option<String>,
    pub(crate) http_only: bool,
    pub(crate) secure: CookieSecure,
    pub(crate) same_site: Option<SameSitePolicy>,
    pub(crate) partitioned: bool,
    pub(crate) priority: Option<Priority>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) expires: Option<OffsetDateTime>,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            path: CompactString::const_new("/"),
            domain: None,
            http_only: true,
            secure: CookieSecure::Auto,
            same_site: Some(SameSitePolicy::Fixed(SameSite::Lax)),
            partitioned: false,
            priority: None,
            max_age: None,
            expires: None,
        }
    }
}

impl CookieOptions {
    /// `Path` (default `/`). Requests whose path does not start with it get no session.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = CompactString::from(path.into());
        self
    }

    /// `Domain` (default: none, the cookie is for the request's host only).
    pub fn domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain;
        self
    }

    /// `HttpOnly` (default `true`).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// `Secure` (default [`CookieSecure::Auto`]: when the request that creates the session is
    /// secure).
    pub fn secure(mut self, secure: CookieSecure) -> Self {
        self.secure = secure;
        self
    }

    /// `SameSite` (default `Some(SameSite::Lax)`; `None` sends no `SameSite`, as
    /// express-session's default).
    pub fn same_site(mut self, same_site: Option<SameSite>) -> Self {
        self.same_site = same_site.map(SameSitePolicy::Fixed);
        self
    }

    /// `SameSite=None` when the request that creates the session is secure, else
    /// `SameSite=Lax` (express's `sameSite: 'auto'`), resolved when the session is created and
    /// stored with it.
    pub fn same_site_auto(mut self) -> Self {
        self.same_site = Some(SameSitePolicy::Auto);
        self
    }

    /// `Partitioned` (default `false`).
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        self
    }

    /// `Priority` (default: not set).
    pub fn priority(mut self, priority: Option<Priority>) -> Self {
        self.priority = priority;
        self
    }

    /// The session's lifetime (express's `cookie.maxAge`): the cookie expires this long after the
    /// last request that touched it. `None` (the default) makes a browser-session cookie.
    /// Takes precedence over [`expires`](Self::expires).
    pub fn max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// A fixed expiry date for new sessions (express's `cookie.expires`); prefer
    /// [`max_age`](Self::max_age).
    pub fn expires(mut self, expires: Option<OffsetDateTime>) -> Self {
        self.expires = expires;
        self
    }

    /// The cookie of a session created now by a request that is (or is not) secure.
    pub(crate) fn new_cookie(&self, secure_request: bool) -> SessionCookie {
        let mut cookie = SessionCookie {
            partitioned: self.partitioned.then_some(true),
            priority: self.priority,
            secure: match self.secure {
                CookieSecure::Never => None,
                CookieSecure::Always => Some(true),
                CookieSecure::Auto => Some(secure_request),
            },
            http_only: self.http_only,
            domain: self.domain.clone(),
            path: self.path.clone(),
            same_site: self.same_site.map(|s| match s {
                SameSitePolicy::Fixed(same_site) => same_site,
                SameSitePolicy::Auto if secure_request => SameSite::None,
                SameSitePolicy::Auto => SameSite::Lax,
            }),
            ..SessionCookie::default()
        };
        match (self.max_age, self.expires) {
            (Some(max_age), _) => cookie.set_max_age(Some(max_age)),
            (None, Some(expires)) => cookie.set_expires(Some(expires)),
            (None, None) => {}
        }
        cookie
    }
}

pub(crate) type CookieOptionsFn = dyn Fn(&ServiceRequest) -> CookieOptions;
pub(crate) type GenId = dyn Fn(&HttpRequest) -> String;

/// The middleware's configuration, shared by every request of a worker.
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) secrets: Secrets,
    /// This worker's cookies that `secrets` verified.
    pub(crate) verified: VerifiedCookies,
    pub(crate) cookie: Rc<CookieOptions>,
    pub(crate) cookie_fn: Option<Rc<CookieOptionsFn>>,
    pub(crate) genid: Option<Rc<GenId>>,
    pub(crate) proxy: bool,
    pub(crate) resave: bool,
    pub(crate) rolling: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) unset: Unset,
    /// The most a session lives after its creation, whatever touches it.
    pub(crate) absolute_timeout: Option<Duration>,
    /// The browser cookie's lifetime from the session's creation, separate from the session's.
    pub(crate) cookie_lifetime: Option<Duration>,
}

impl Config {
    /// Whether sessions carry their creation time (an option counts from it).
    pub(crate) fn tracks_creation(&self) -> bool {
        self.absolute_timeout.is_some() || self.cookie_lifetime.is_some()
    }

    /// The cookie options for this request: per-request ones if configured, else the fixed ones.
    pub(crate) fn cookie_options(&self, req: &ServiceRequest) -> Rc<CookieOptions> {
        match &self.cookie_fn {
            Some(f) => Rc::new(f(req)),
            None => Rc::clone(&self.cookie),
        }
    }

    /// A new session id: the configured generator, or 24 random bytes in base64url (32 chars).
    pub(crate) fn generate_id(&self, req: &HttpRequest) -> String {
        match &self.genid {
            Some(f) => f(req),
            None => crate::id::random_id(),
        }
    }
}

/// Whether `req` arrived over TLS, directly or (with `proxy`) as `X-Forwarded-Proto` says.
pub(crate) fn is_secure(req: &ServiceRequest, proxy: bool) -> bool {
    if req.app_config().secure() {
        return true;
    }
    if !proxy {
        return false;
    }
    let Some(header) = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let first = header.split(',').next().unwrap_or("");
    first.trim().eq_ignore_ascii_case("https")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::now_ms;

    #[test]
    fn auto_attributes_follow_the_request() {
        let options = CookieOptions::default()
            .secure(CookieSecure::Auto)
            .same_site_auto();
        let secure = options.new_cookie(true);
        assert_eq!(
            (secure.secure(), secure.same_site()),
            (true, Some(SameSite::None))
        );
        let plain = options.new_cookie(false);
        assert_eq!(
            (plain.secure(), plain.same_site()),
            (false, Some(SameSite::Lax))
        );
    }

    #[test]
    fn max_age_sets_expiry_and_original_max_age() {
        let before = now_ms();
        let cookie = CookieOptions::default()
            .max_age(Some(Duration::from_millis(60_000)))
            .new_cookie(false);
        assert_eq!(cookie.original_max_age_ms(), Some(60_000));
        assert!(cookie.expires().unwrap() >= before + Duration::from_millis(60_000));
        let session_cookie = CookieOptions::default().new_cookie(false);
        assert_eq!(session_cookie.expires(), None);
        assert_eq!(session_cookie.original_max_age_ms(), None);
    }
}
