//! Reading and writing the session cookie outside the middleware.

use actix_web::{
    http::header::{HeaderValue, COOKIE},
    HttpRequest,
};

use crate::{
    builder::ConfigError,
    cookie::{find_cookie, set_cookie, Secrets},
    data::{DecodeError, EncodeError, SessionData},
    record::{ChangeSet, Record, SessionCookie},
    secrets::SessionSecrets,
};

/// The session cookie's name and secrets, to find a session where the middleware does not run
/// (a WebSocket handshake, another service) and to issue a session cookie from a custom flow.
///
/// ```
/// use actix_typed_session::{MemoryStore, SessionCodec, SessionData, store::SessionStore};
///
/// #[derive(SessionData, Default)]
/// struct User {
///     name: Option<String>,
/// }
///
/// # actix_web::rt::System::new().block_on(async {
/// let store = MemoryStore::default();
/// let codec = SessionCodec::new("connect.sid", "keyboard cat");
/// let header = "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU";
/// let id = codec.id_from_cookie_header(header.as_bytes()).expect("signature verifies");
/// assert_eq!(id, "apple");
/// if let Some(record) = store.load(&id).await.unwrap() {
///     let user: User = record.data().unwrap();
///     println!("{:?}", user.name);
/// }
/// # });
/// ```
#[derive(Clone)]
pub struct SessionCodec {
    name: String,
    secrets: Secrets,
}

impl std::fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCodec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SessionCodec {
    /// A codec for cookie `name` signed with `secrets` (the first signs, all verify).
    ///
    /// # Panics
    /// If `secrets` is an empty list or holds an empty secret (see [`try_new`](Self::try_new)).
    pub fn new(name: impl Into<String>, secrets: impl Into<SessionSecrets>) -> Self {
        match Self::try_new(name, secrets) {
            Ok(codec) => codec,
            Err(e) => panic!("{e}"),
        }
    }

    /// A codec for cookie `name` signed with `secrets`, or an error if `secrets` is an empty list
    /// or holds an empty secret (`""`), as [`SessionMiddlewareBuilder::try_build`] refuses them.
    /// A secret shorter than 32 bytes is accepted with a `tracing` warning.
    ///
    /// ```
    /// use actix_typed_session::SessionCodec;
    ///
    /// assert!(SessionCodec::try_new("connect.sid", "").is_err());
    /// assert!(SessionCodec::try_new("connect.sid", vec!["new secret", ""]).is_err());
    /// assert!(SessionCodec::try_new("connect.sid", "keyboard cat").is_ok());
    /// ```
    ///
    /// [`SessionMiddlewareBuilder::try_build`]: crate::SessionMiddlewareBuilder::try_build
    pub fn try_new(
        name: impl Into<String>,
        secrets: impl Into<SessionSecrets>,
    ) -> Result<Self, ConfigError> {
        let secrets = Secrets::new(&secrets.into().0)?;
        Ok(Self::from_parts(name.into(), secrets))
    }

    pub(crate) fn from_parts(name: String, secrets: Secrets) -> Self {
        Self { name, secrets }
    }

    /// The verified session id of a request's cookie, if it has a validly signed one.
    pub fn id_from_request(&self, req: &HttpRequest) -> Option<String> {
        self.verify(find_cookie(
            req.headers().get_all(COOKIE).map(HeaderValue::as_bytes),
            &self.name,
        ))
    }

    /// The verified session id in a raw `Cookie` header value.
    pub fn id_from_cookie_header(&self, header: &[u8]) -> Option<String> {
        self.verify(find_cookie([header], &self.name))
    }

    fn verify(&self, value: Option<String>) -> Option<String> {
        value.and_then(|v| self.secrets.unsign(&v).map(str::to_owned))
    }

    /// The cookie value for session `id`: signed and percent-encoded, as the browser holds it.
    pub fn cookie_value(&self, id: &str) -> String {
        self.secrets.sign_encoded(id)
    }

    /// A full `Set-Cookie` header value for session `id` with the session's cookie attributes.
    /// A path that is not a valid cookie path (dropped when the record was read) is written as
    /// `/`, and a domain that is not a host name is left out.
    pub fn set_cookie(&self, id: &str, cookie: &SessionCookie) -> String {
        set_cookie(&self.name, &self.cookie_value(id), cookie, "/")
    }
}

impl Record {
    /// A typed view of this record's data.
    pub fn data<T: SessionData>(&self) -> Result<T, DecodeError> {
        T::__decode(&self.fields)
    }

    /// Writes `value`'s fields into this record, answering what changed (the change set to hand a
    /// store's [`SaveRequest::Update`](crate::store::SaveRequest::Update)).
    pub fn set_data<T: SessionData>(&mut self, value: &T) -> Result<ChangeSet, EncodeError> {
        let mut changes = ChangeSet::new();
        value.__diff(&self.fields, &mut changes)?;
        self.fields.apply(&changes);
        Ok(changes)
    }
}
