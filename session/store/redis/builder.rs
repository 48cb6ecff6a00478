//! [`RedisStoreBuilder`]: the settings of a [`RedisStore`], where it connects and how.

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicI64},
        Arc,
    },
    time::Duration,
};

use super::{
    conn::Connections,
    events,
    options::{self, MasterSettings, Source, TlsFiles},
    ttl::millis,
    Events, Inner, RedisStore,
};
#[cfg(doc)]
use crate::store::{EndReason, SaveOutcome, SessionStore};
use crate::{
    store::{
        add_spec, EndListener, IndexSpec, OverLimit, SessionEnd, SessionStart, StartListener,
        StoreError, StoreErrorKind,
    },
    SessionData,
};

/// Settings of a [`RedisStore`]: key prefix, default TTL, timeouts, session end events, and how
/// it connects (TLS certificates, the master's settings behind Sentinel).
///
/// ```no_run
/// use std::time::Duration;
///
/// use actix_typed_session::RedisStore;
///
/// # fn make() -> Result<RedisStore, actix_typed_session::store::StoreError> {
/// let store = RedisStore::cluster_builder(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?
///     .key_prefix("shop:sess:")
///     .default_ttl(Duration::from_secs(8 * 3600))
///     .command_timeout(Duration::from_millis(500))
///     .build();
/// # Ok(store)
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[must_use]
pub struct RedisStoreBuilder {
    source: Source,
    tls: TlsFiles,
    master: MasterSettings,
    /// Whether a master setting was given (they apply to Sentinel only).
    master_set: bool,
    prefix: String,
    default_ttl: Duration,
    max_record_bytes: usize,
    touch_after: Option<Duration>,
    connect_timeout: Duration,
    command_timeout: Duration,
    on_end: Option<EndListener>,
    end_grace: Duration,
    end_sweep_interval: Duration,
    indexes: Vec<IndexSpec>,
    on_start: Option<StartListener>,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Single(_) => "single",
            Source::ClusterNodes(_) | Source::ClusterClient(_) => "cluster",
            Source::Sentinel(_) => "sentinel",
        };
        f.debug_struct("RedisStoreBuilder")
            .field("target", &source)
            .field("tls_ca_cert", &self.tls.ca.is_some())
            .field("tls_client_cert", &self.tls.client.is_some())
            .field("key_prefix", &self.prefix)
            .field("default_ttl", &self.default_ttl)
            .field("max_record_bytes", &self.max_record_bytes)
            .field("touch_after", &self.touch_after)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("on_session_end", &self.on_end.is_some())
            .field("end_grace", &self.end_grace)
            .field("end_sweep_interval", &self.end_sweep_interval)
            .field("indexes", &self.indexes)
            .field("on_session_start", &self.on_start.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    pub(super) fn new(source: Source) -> Self {
        Self {
            source,
            tls: TlsFiles::default(),
            master: MasterSettings::default(),
            master_set: false,
            prefix: "sess:".to_owned(),
            default_ttl: Duration::from_secs(24 * 3600),
            max_record_bytes: crate::store::size::DEFAULT_MAX_RECORD_BYTES,
            touch_after: None,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_millis(500),
            on_end: None,
            end_grace: Duration::from_secs(24 * 3600),
            end_sweep_interval: Duration::from_secs(30),
            indexes: Vec::new(),
            on_start: None,
        }
    }

    /// The prefix of every session key (default `sess:`, connect-redis's). Stores with different
    /// prefixes on one Redis do not see each other's sessions.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a session whose cookie has no expiry lives after its last save or touch (default
    /// one day, connect-redis's).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The largest record a save may store, in bytes of its express-session JSON as stored
    /// (default 1 MiB, 1,048,576 bytes).
    ///
    /// A save whose record would be larger is refused with a [`StoreError`] of kind
    /// [`StoreErrorKind::TooLarge`] that names the size and the limit, and nothing is written: a
    /// new session is checked before it is sent, a change set inside the script that merges it
    /// (on what Redis holds at that moment), so the stored session keeps its previous data.
    /// Through the middleware the request fails with `500`, and
    /// [`Session::save`](crate::Session::save) returns the error. A touch, which replaces only
    /// the cookie, is not checked; records that a Node app wrote are not either.
    pub fn max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max;
        self
    }

    /// Renews a session on a request's first read only when its last renewal is at least
    /// `interval` old (connect-mongo's `touchAfter`; default: off, every first read renews, as
    /// express-session's `touch` does).
    ///
    /// The first read is then `GET` and `PTTL` in one pipelined round trip, with no script: the
    /// time since the last renewal is what a renewal would give the key (its cookie's
    /// `originalMaxAge`, or the [default TTL](Self::default_ttl) for a browser-session cookie)
    /// less the key's PTTL. When that is `interval` or more, the read is followed by the renewing
    /// script (a second round trip), as without this option. Every save still renews the key.
    ///
    /// The price: a session lives between `max_age - interval` and `max_age` after its last
    /// request, instead of exactly `max_age` (a rolling cookie sent meanwhile may outlive it by up
    /// to `interval`). With session end events, a session that was not renewed ends, and is
    /// reported, at its key's own expiry (its shadow follows the key: both were written or
    /// renewed together). Choose an interval well below the cookie's max age, e.g. a minute for
    /// an hour.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use actix_typed_session::RedisStore;
    ///
    /// # fn make() -> Result<RedisStore, actix_typed_session::store::StoreError> {
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")?
    ///     .touch_after(Duration::from_secs(60))
    ///     .build();
    /// # Ok(store)
    /// # }
    /// ```
    pub fn touch_after(mut self, interval: Duration) -> Self {
        self.touch_after = Some(interval);
        self
    }

    /// How long to wait for a connection to Redis (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one Redis command may take, connecting included, before it fails as
    /// [`StoreErrorKind::Unavailable`] (default 500 ms: Redis answers in well under a
    /// millisecond, and a request waits at most this long before a stuck Redis is known to be
    /// down).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Trusts the certificate authority in `pem` (PEM, one or more certificates) for TLS
    /// connections (`rediss://`), instead of the system's roots: for a Redis whose certificate
    /// a private CA signed. It applies to every TLS connection of the store: the server, every
    /// cluster node, the sentinels and the master behind them.
    ///
    /// The PEM is checked when the store is built: one that holds no certificate, or one that
    /// cannot be a trust anchor, fails [`try_build`](Self::try_build) with an error that says
    /// so. A server whose certificate this CA did not sign fails the TLS handshake; the error
    /// names it (`invalid peer certificate: UnknownIssuer`): use [`connect`](Self::connect) to
    /// see it at start-up.
    ///
    /// ```no_run
    /// use actix_typed_session::RedisStore;
    ///
    /// # async fn make() -> Result<RedisStore, Box<dyn std::error::Error>> {
    /// let store = RedisStore::builder("rediss://redis.internal:6380")?
    ///     .tls_ca_cert(std::fs::read("/etc/redis/ca.pem")?)
    ///     .connect() // a wrong CA is an error here, not on the first request
    ///     .await?;
    /// # Ok(store)
    /// # }
    /// ```
    #[cfg(feature = "redis-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-rustls")))]
    pub fn tls_ca_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca = Some(pem.into());
        self
    }

    /// Presents the client certificate `cert` (PEM, the certificate and any intermediates) with
    /// its private key `key` (PEM: PKCS#8, PKCS#1 or SEC1) on every TLS connection of the
    /// store: mutual TLS, for a server with `tls-auth-clients yes`.
    ///
    /// Both are checked when the store is built: PEM that holds no certificate or no key, or a
    /// key that is not the certificate's, fails [`try_build`](Self::try_build) with an error
    /// that says which.
    ///
    /// ```no_run
    /// use actix_typed_session::RedisStore;
    ///
    /// # async fn make() -> Result<RedisStore, Box<dyn std::error::Error>> {
    /// let store = RedisStore::builder("rediss://redis.internal:6380")?
    ///     .tls_ca_cert(std::fs::read("/etc/redis/ca.pem")?)
    ///     .tls_client_cert(
    ///         std::fs::read("/etc/app/redis-client.pem")?,
    ///         std::fs::read("/etc/app/redis-client.key")?,
    ///     )
    ///     .connect()
    ///     .await?;
    /// # Ok(store)
    /// # }
    /// ```
    #[cfg(feature = "redis-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-rustls")))]
    pub fn tls_client_cert(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.tls.client = Some((cert.into(), key.into()));
        self
    }

    /// With Sentinel ([`RedisStore::sentinel_builder`]): the master's credentials, an ACL user
    /// and its password, or `None` and the `requirepass` password. The sentinels' own
    /// credentials go in their URLs (`redis://:sentinel-password@host:26379`). On a store
    /// built otherwise, [`try_build`](Self::try_build) fails: a server's credentials go in its
    /// URL.
    pub fn master_auth(mut self, username: Option<&str>, password: &str) -> Self {
        self.master.username = username.map(str::to_owned);
        self.master.password = Some(password.to_owned());
        self.master_set = true;
        self
    }

    /// With Sentinel: the database number on the master (default 0).
    pub fn master_db(mut self, db: i64) -> Self {
        self.master.db = db;
        self.master_set = true;
        self
    }

    /// With Sentinel: whether the master (and so every server the sentinels may promote)
    /// speaks TLS; by default it does when the sentinels' URLs are `rediss://`. The
    /// [CA](Self::tls_ca_cert) and [client certificate](Self::tls_client_cert) apply to it too.
    #[cfg(feature = "redis-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-rustls")))]
    pub fn master_tls(mut self, tls: bool) -> Self {
        self.master.tls = Some(tls);
        self.master_set = true;
        self
    }

    /// Calls `callback` with every session that ends: expired (Redis expired its key),
    /// destroyed, regenerated (the old id) or cleared, exactly once in total across every app
    /// server that shares the Redis (see [`RedisStore`]'s "Session end events"). The callback type
    /// is [`MemoryStoreBuilder::on_session_end`](crate::store::MemoryStoreBuilder::on_session_end)'s.
    ///
    /// Expiries are reported on the store's listener thread (`session-end-events`), destroys,
    /// regenerations and clears on the thread that called the store (an actix worker). Keep the
    /// callback quick and non-blocking; hand slow work to a channel. A panic in it is caught and
    /// logged.
    ///
    /// With a callback, build the store with [`try_build`](Self::try_build): it starts the
    /// listener, which needs keyspace notifications of expired keys (`notify-keyspace-events
    /// Ex`) and enables them with `CONFIG SET` if they are off; a server that refuses `CONFIG`
    /// and is not configured so is a start-up error that says what to configure.
    ///
    /// ```no_run
    /// use actix_typed_session::{RedisStore, store::SessionEnd};
    ///
    /// # fn make() -> Result<RedisStore, actix_typed_session::store::StoreError> {
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")?
    ///     .on_session_end(|end: SessionEnd| {
    ///         println!("session {} ended ({})", end.id(), end.reason());
    ///     })
    ///     .try_build()?; // fails if Redis cannot publish expiries
    /// # Ok(store)
    /// # }
    /// ```
    ///
    /// A later call replaces the callback.
    pub fn on_session_end(mut self, callback: impl Fn(SessionEnd) + Send + Sync + 'static) -> Self {
        self.on_end = Some(EndListener::new(callback));
        self
    }

    /// Calls `callback` with every session that starts: once per session, by the app server whose
    /// write created it (a create succeeds once, so once across every app server that shares
    /// the Redis), Spring's `SessionCreatedEvent`. A session given a new id
    /// ([`Session::cycle_id`](crate::Session::cycle_id), `regenerate`) starts again under it.
    /// A session that a Node app creates is not reported.
    ///
    /// The callback runs on the thread of the write, after it: keep it quick and non-blocking,
    /// as [`on_session_end`](Self::on_session_end)'s. A later call replaces it.
    pub fn on_session_start(
        mut self,
        callback: impl Fn(SessionStart) + Send + Sync + 'static,
    ) -> Self {
        self.on_start = Some(StartListener::new(callback));
        self
    }

    /// Indexes sessions by field `name` (its stored name): the store keeps, for each value of
    /// the field, the live sessions that hold it, for
    /// [`sessions_by`](SessionStore::sessions_by), [`count_by`](SessionStore::count_by) and
    /// [`end_sessions_by`](SessionStore::end_sessions_by) ("where am I signed in", "log out
    /// everywhere"). See [`RedisStore`]'s "Indexes" for the keys it writes, what it costs, and
    /// what a Node app sharing the sessions means for it.
    ///
    /// On a single server (or behind Sentinel) the index changes in the same script as the
    /// write that sets, changes or removes the field; in a Redis Cluster, in steps that no
    /// reader can see half done. A session leaves the index when it ends (expiry, destroy,
    /// regenerate, clear, a Node app's destroy found on the next read). A field that is missing
    /// or `null` indexes nothing.
    ///
    /// ```no_run
    /// use actix_typed_session::{RedisStore, SessionData};
    ///
    /// #[derive(SessionData, Default)]
    /// struct Account {
    ///     #[session(index)]
    ///     user: Option<String>,
    /// }
    ///
    /// # fn make() -> Result<(), actix_typed_session::store::StoreError> {
    /// // The same: index the fields that `Account` marks `#[session(index)]`.
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")?.index("user").build();
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")?.indexes::<Account>().build();
    /// # Ok(())
    /// # }
    /// ```
    pub fn index(mut self, name: &str) -> Self {
        add_spec(&mut self.indexes, name, None);
        self
    }

    /// Indexes every field that `T` marks `#[session(index)]`, as [`index`](Self::index).
    pub fn indexes<T: SessionData>(mut self) -> Self {
        for name in T::__INDEXES {
            add_spec(&mut self.indexes, name, None);
        }
        self
    }

    /// Indexes field `name` (as [`index`](Self::index)) with at most `max` live sessions per
    /// value (0 counts as 1): Spring Security's maximum sessions, e.g. "at most two devices per
    /// account". A write that would give a value one session more does what `over` says:
    /// [`OverLimit::EndOldest`] ends the sessions that got the value earliest (reported as
    /// [`EndReason::Displaced`], once across every app server), [`OverLimit::Refuse`] refuses
    /// the write ([`SaveOutcome::Refused`]: through the middleware, `403 Forbidden`, and
    /// [`Session::save`](crate::Session::save) fails with
    /// [`SessionErrorKind::LimitReached`](crate::SessionErrorKind::LimitReached)).
    ///
    /// On a single server the limit is checked in the write's script, so concurrent logins
    /// never exceed it. In a Redis Cluster it is checked just before the write, so logins of one
    /// value racing on several app servers can each find room, and each counts again after its
    /// write: with `EndOldest` the value comes back to its limit once they are done, with
    /// `Refuse` the earliest new sessions keep the places and the others are undone (an update
    /// that gives an existing session the value is checked before its write only; see
    /// [`RedisStore`]'s "Indexes").
    ///
    /// ```no_run
    /// use actix_typed_session::{RedisStore, store::OverLimit};
    ///
    /// # fn make() -> Result<RedisStore, actix_typed_session::store::StoreError> {
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")?
    ///     .index_limit("user", 2, OverLimit::EndOldest)
    ///     .build();
    /// # Ok(store)
    /// # }
    /// ```
    pub fn index_limit(mut self, name: &str, max: usize, over: OverLimit) -> Self {
        add_spec(&mut self.indexes, name, Some((max.max(1), over)));
        self
    }

    /// With session end events: how much longer than its session the shadow of a session (the
    /// copy of its last record, kept to report its expiry) lives (default one day). An expiry
    /// that no app server hears of is reported when one starts, as long as it starts within
    /// this time.
    pub fn end_grace(mut self, grace: Duration) -> Self {
        self.end_grace = grace;
        self
    }

    /// With session end events: how often the listener sweeps the shadows of sessions whose key
    /// is gone, to report ends that no notification announced (default 30 s; it also sweeps at
    /// start and after every reconnection).
    pub fn end_sweep_interval(mut self, interval: Duration) -> Self {
        self.end_sweep_interval = interval;
        self
    }

    /// The store.
    ///
    /// # Panics
    ///
    /// With [`on_session_end`](Self::on_session_end), if the listener cannot start: see
    /// [`try_build`](Self::try_build), which answers that as an error.
    pub fn build(self) -> RedisStore {
        match self.try_build() {
            Ok(store) => store,
            Err(e) => panic!("{e}"),
        }
    }

    /// The store, once Redis has answered a `PING` on a connection made as the store makes
    /// them (behind Sentinel: to the master the sentinels name). A wrong address, password,
    /// CA, client certificate or master name is then an error here, at start-up, rather than
    /// a `503` on every request. Otherwise as [`try_build`](Self::try_build).
    ///
    /// # Errors
    ///
    /// Those of [`try_build`](Self::try_build), and Redis's answer to the `PING`:
    /// [`StoreErrorKind::Unavailable`] when it cannot be reached in the
    /// [command timeout](Self::command_timeout) or the TLS handshake fails (the error names the
    /// certificate problem), [`StoreErrorKind::Other`] when it refuses the credentials.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let store = self.try_build()?;
        store.inner.conns.verify().await?;
        Ok(store)
    }

    /// The store; with [`on_session_end`](Self::on_session_end), also starts its listener and
    /// waits until it listens (a few round trips to every master).
    ///
    /// Without a callback this never fails and nothing connects until the first command.
    ///
    /// # Errors
    ///
    /// With a callback:
    /// - Redis does not publish expired keyevent notifications and refuses to enable them
    ///   (managed Redis often refuses `CONFIG`): the error says to configure
    ///   `notify-keyspace-events Ex`.
    /// - Redis cannot be reached ([`StoreErrorKind::Unavailable`]).
    /// - The key prefix is empty or contains `{` or `}` (the shadows' keys rely on a hash tag).
    pub fn try_build(self) -> Result<RedisStore, StoreError> {
        if self.master_set && !matches!(self.source, Source::Sentinel(_)) {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                "invalid Redis configuration: the master's settings (`master_auth`, `master_db`, \
                 `master_tls`) apply to a store on a Sentinel-watched master \
                 (`RedisStore::sentinel_builder`); give a server's credentials in its URL",
            ));
        }
        let mut source = self.source;
        if let Source::Sentinel(sentinel) = &mut source {
            sentinel.master = self.master;
        }
        let (target, cluster_template) = options::target(
            source,
            &self.tls,
            (self.connect_timeout, self.command_timeout),
        )?;
        let events = match self.on_end {
            None => None,
            Some(listener) => {
                if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
                    return Err(StoreError::new(
                        StoreErrorKind::Other,
                        format!(
                            "session end events need a key prefix that is not empty and has no                              `{{` or `}}`, not {:?}",
                            self.prefix
                        ),
                    ));
                }
                let handle = events::start(events::Config {
                    target: target.clone(),
                    cluster_template,
                    prefix: self.prefix.clone(),
                    listener: listener.clone(),
                    connect_timeout: self.connect_timeout,
                    command_timeout: self.command_timeout,
                    sweep_interval: self.end_sweep_interval,
                    indexes: self.indexes.clone(),
                })?;
                Some(Events {
                    listener,
                    grace_ms: millis(self.end_grace),
                    handle,
                })
            }
        };
        Ok(RedisStore {
            inner: Arc::new(Inner {
                prefix: self.prefix,
                default_ttl: self.default_ttl,
                max_record_bytes: self.max_record_bytes,
                touch_after_ms: self.touch_after.map(millis),
                conns: Connections::new(target, self.connect_timeout, self.command_timeout),
                events,
                indexes: self.indexes,
                on_start: self.on_start,
                renewal_guess_ms: AtomicI64::new(millis(self.default_ttl)),
                set_ifeq: AtomicBool::new(true),
            }),
        })
    }
}
