//! [`PgStoreBuilder`]: the settings of a [`PgStore`], where it connects and what it keeps where.

use std::{fmt, sync::Arc, time::Duration};

use tokio_postgres::Config;

use super::{
    conn::{Connections, Settings},
    events,
    index::IndexSql,
    sql,
    tls::{self, TlsSettings},
    turns::Turns,
    Inner, PgStore,
};
use crate::{
    store::{
        add_spec, EndListener, IndexSpec, OverLimit, SessionEnd, SessionStart, StartListener,
        StoreError, StoreErrorKind,
    },
    SessionData,
};

/// Settings of a [`PgStore`]: the table, the default TTL, the record size limit, timeouts,
/// pruning, session end events and TLS.
///
/// ```no_run
/// use std::time::Duration;
///
/// use actix_typed_session::PgStore;
///
/// # fn make() -> Result<PgStore, actix_typed_session::store::StoreError> {
/// let store = PgStore::builder("postgres://app:secret@db.internal/shop")?
///     .schema_name("sessions")
///     .table_name("web_session")
///     .create_table_if_missing(true)
///     .query_timeout(Duration::from_millis(500))
///     .try_build()?;
/// # Ok(store)
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[must_use]
pub struct PgStoreBuilder {
    config: Config,
    schema: Option<String>,
    table: String,
    create_table: bool,
    default_ttl: Duration,
    max_record_bytes: usize,
    connect_timeout: Duration,
    query_timeout: Duration,
    prune_interval: Option<Duration>,
    on_end: Option<EndListener>,
    deletes_by_others: bool,
    end_poll_interval: Duration,
    indexes: Vec<IndexSpec>,
    on_start: Option<StartListener>,
    tls: TlsSettings,
}

impl fmt::Debug for PgStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the configuration itself: it may hold a password.
        f.debug_struct("PgStoreBuilder")
            .field("schema_name", &self.schema)
            .field("table_name", &self.table)
            .field("create_table_if_missing", &self.create_table)
            .field("default_ttl", &self.default_ttl)
            .field("max_record_bytes", &self.max_record_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("prune_interval", &self.prune_interval)
            .field("on_session_end", &self.on_end.is_some())
            .field("report_deletes_by_others", &self.deletes_by_others)
            .field("end_poll_interval", &self.end_poll_interval)
            .field("indexes", &self.indexes)
            .field("on_session_start", &self.on_start.is_some())
            .field("tls_ca_cert", &self.tls.ca.is_some())
            .field("tls_client_cert", &self.tls.client.is_some())
            .field("tls_verify_server", &self.tls.verify)
            .field("tls_verify_host_name", &self.tls.host_name)
            .finish_non_exhaustive()
    }
}

impl PgStoreBuilder {
    pub(super) fn new(config: Config) -> Self {
        Self {
            config,
            schema: None,
            table: "session".to_owned(),
            create_table: false,
            default_ttl: Duration::from_secs(24 * 3600),
            max_record_bytes: crate::store::size::DEFAULT_MAX_RECORD_BYTES,
            connect_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(1),
            prune_interval: Some(Duration::from_secs(15 * 60)),
            on_end: None,
            deletes_by_others: false,
            end_poll_interval: Duration::from_secs(1),
            indexes: Vec::new(),
            on_start: None,
            tls: TlsSettings::default(),
        }
    }

    /// The schema of the session table (connect-pg-simple's `schemaName`; default: none, the
    /// table is found through the connection's `search_path`, usually `public`). Quoted as an
    /// identifier, so it is taken exactly as written, case included.
    pub fn schema_name(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The name of the session table (connect-pg-simple's `tableName`; default `session`).
    /// Quoted as an identifier, so it is taken exactly as written, case included.
    pub fn table_name(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Creates the session table, in connect-pg-simple's layout, when it does not exist
    /// (connect-pg-simple's `createTableIfMissing`; default `false`). It is checked once, by the
    /// store's first connection (`CREATE TABLE IF NOT EXISTS`, and the index on `expire`); the
    /// schema must exist. Without it, a missing table fails every operation with an error that
    /// names the table.
    pub fn create_table_if_missing(mut self, create: bool) -> Self {
        self.create_table = create;
        self
    }

    /// How long a session whose cookie has no expiry (a browser-session cookie) lives after its
    /// last save or touch (default one day, connect-pg-simple's `ttl`).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The largest record a save may store, in bytes of its express-session JSON as stored
    /// (default 1 MiB, 1,048,576 bytes).
    ///
    /// A save whose record would be larger is refused with a [`StoreError`] of kind
    /// [`StoreErrorKind::TooLarge`] that names the size and the limit, and nothing is written
    /// (a change set is measured once merged onto what the row holds). A touch, which replaces
    /// only the cookie, is not checked; records that a Node app wrote are not either.
    pub fn max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max;
        self
    }

    /// How long to wait for a new connection to PostgreSQL, its start-up and the preparation of
    /// the store's statements included (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one query may take before it fails as [`StoreErrorKind::Unavailable`] (default
    /// 1 s). A request waits at most this long (plus the connect timeout when it must connect)
    /// before a stuck database is known to be down.
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// How often expired rows are deleted (default every 15 minutes, connect-pg-simple's
    /// `pruneSessionInterval`); `None` never deletes them (another program prunes, e.g.
    /// connect-pg-simple's own pruning). An expired row is never loaded either way. The prune is
    /// one `DELETE` by whichever worker's operation finds it due, run beside that operation.
    ///
    /// With [`on_session_end`](Self::on_session_end) there is no periodic prune of rows: the
    /// store's listener deletes (and reports) each expired row at its instant. With
    /// [indexes](Self::index), the prune also deletes the `indexed_at` entries of sessions that
    /// ended (with or without `on_session_end`).
    pub fn prune_interval(mut self, interval: Option<Duration>) -> Self {
        self.prune_interval = interval;
        self
    }

    /// Calls `callback` with every session that ends: expired, destroyed, regenerated (the old
    /// id) or cleared, **exactly once in total** across every app server (every `PgStore`, in
    /// any process) that reports ends from the same table, with the session's last stored
    /// record. See [`PgStore`]'s "Session end events" for how, and what it cannot see. The
    /// callback type is
    /// [`MemoryStoreBuilder::on_session_end`](crate::store::MemoryStoreBuilder::on_session_end)'s.
    ///
    /// The store then runs a listener thread (`session-end-events`) with a connection of its
    /// own, which deletes and reports sessions at their expiry instant (it replaces the
    /// [periodic prune](Self::prune_interval)). Expiries are reported on that thread, destroys,
    /// regenerations and clears on the thread that called the store (an actix worker). Keep the
    /// callback quick and non-blocking; hand slow work to a channel. A panic in it is caught
    /// and logged.
    ///
    /// ```no_run
    /// use actix_typed_session::{store::SessionEnd, PgStore};
    ///
    /// # async fn make() -> Result<PgStore, actix_typed_session::store::StoreError> {
    /// let store = PgStore::builder("postgres://app:secret@127.0.0.1/app")?
    ///     .on_session_end(|end: SessionEnd| {
    ///         println!("session ended ({})", end.reason());
    ///     })
    ///     .connect() // fails if the listener cannot start
    ///     .await?;
    /// # Ok(store)
    /// # }
    /// ```
    ///
    /// A later call replaces the callback.
    pub fn on_session_end(mut self, callback: impl Fn(SessionEnd) + Send + Sync + 'static) -> Self {
        self.on_end = Some(EndListener::new(callback));
        self
    }

    /// With [`on_session_end`](Self::on_session_end): also report the sessions that other
    /// programs delete (a Node app's `destroy`, connect-pg-simple's pruning, a `DELETE` in
    /// `psql`) (default `false`).
    ///
    /// The listener then creates, when missing, an `AFTER DELETE` row trigger on the session
    /// table (`actix_typed_session_end`), its function (`<table>_ended_report`) and an outbox
    /// table (`<table>_ended`) in the table's schema: the trigger copies each row deleted by a
    /// connection that is not a reporting store's into the outbox and `NOTIFY`s, and app servers
    /// claim the outbox's rows, each once. A row deleted when its `expire` had passed (or was
    /// less than a second away) is reported as expired, any other as destroyed. Creating a
    /// trigger needs the table's owner (or a role with `TRIGGER` and `CREATE` on the schema).
    ///
    /// Turn it on on every app server that shares the table, or at least on one that always
    /// runs: rows wait in the outbox until an app server with it claims them. To stop using it,
    /// drop the trigger (`DROP TRIGGER actix_typed_session_end ON session`) and the outbox.
    pub fn report_deletes_by_others(mut self, report: bool) -> Self {
        self.deletes_by_others = report;
        self
    }

    /// With [`on_session_end`](Self::on_session_end): how long, at most, the listener goes
    /// without looking for the earliest `expire` in the table (default 1 s). The expiries of
    /// sessions that this store wrote are reported at their instant regardless; this bounds how
    /// late the expiry of a session written only by others (a Node app, an app server that
    /// stopped) is reported.
    pub fn end_poll_interval(mut self, interval: Duration) -> Self {
        self.end_poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    // TLS (feature `postgres-rustls`).

    /// Verifies the server's certificate (libpq's `sslmode=verify-full`): it must chain to a
    /// root that the system trusts (read with `rustls-native-certs`, as `RedisStore`'s TLS
    /// does), or to the CA given to [`tls_ca_cert`](Self::tls_ca_cert), and name the host of
    /// the connection string (a DNS name, or an IP address in its subject alternative names).
    /// Default: `false` (what the connection string's `sslmode` says, see [`PgStore`]'s
    /// "TLS"), `true` once a CA is given (`false` with a CA is a build error: a CA only serves
    /// to verify).
    ///
    /// With `true`, TLS is required: a server without TLS is an error, never a plaintext
    /// connection. A server that fails the check fails the TLS handshake, and
    /// [`connect`](Self::connect) answers an error that names why (`invalid peer certificate:
    /// UnknownIssuer`, `certificate not valid for name "db.example.com"`).
    ///
    /// ```no_run
    /// use actix_typed_session::PgStore;
    ///
    /// # async fn make() -> Result<PgStore, actix_typed_session::store::StoreError> {
    /// let store = PgStore::builder("postgres://app:secret@db.example.com/app?sslmode=require")?
    ///     .tls_verify_server(true)
    ///     .connect()
    ///     .await?;
    /// # Ok(store)
    /// # }
    /// ```
    #[cfg(feature = "postgres-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres-rustls")))]
    pub fn tls_verify_server(mut self, verify: bool) -> Self {
        self.tls.verify = Some(verify);
        self
    }

    /// Trusts the certificate authority in `pem` (PEM, one or more certificates) instead of the
    /// system's roots, and verifies the server with it as
    /// [`tls_verify_server(true)`](Self::tls_verify_server) does: its certificate must chain to
    /// this CA and name the host (libpq's `sslmode=verify-full` with `sslrootcert`). Managed
    /// PostgreSQL publishes its CA (RDS's regional bundle, Azure's and Cloud SQL's server CA).
    /// TLS is then required. The PEM is checked when the store is built: one that holds no
    /// certificate is an error that says so.
    ///
    /// ```no_run
    /// use actix_typed_session::PgStore;
    ///
    /// # async fn make() -> Result<PgStore, Box<dyn std::error::Error>> {
    /// let store = PgStore::builder("host=db.internal user=app dbname=app")?
    ///     .tls_ca_cert(std::fs::read("/etc/postgresql/ca.pem")?)
    ///     .connect()
    ///     .await?;
    /// # Ok(store)
    /// # }
    /// ```
    #[cfg(feature = "postgres-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres-rustls")))]
    pub fn tls_ca_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca = Some(pem.into());
        self
    }

    /// Presents the client certificate `cert` (PEM, the certificate and any intermediates) with
    /// its private key `key` (PEM: PKCS#8, PKCS#1 or SEC1) on every connection of the store:
    /// for `cert` authentication (`hostssl … cert` in `pg_hba.conf`, the certificate's common
    /// name being the user) or `clientcert=verify-full`. TLS is then required; the server is
    /// verified only with [`tls_ca_cert`](Self::tls_ca_cert) or
    /// [`tls_verify_server(true)`](Self::tls_verify_server). Both PEMs are
    /// checked when the store is built: no certificate, no key, or a key that is not the
    /// certificate's is an error that says which.
    ///
    /// ```no_run
    /// use actix_typed_session::PgStore;
    ///
    /// # async fn make() -> Result<PgStore, Box<dyn std::error::Error>> {
    /// let store = PgStore::builder("host=db.internal user=app dbname=app")?
    ///     .tls_ca_cert(std::fs::read("/etc/postgresql/ca.pem")?)
    ///     .tls_client_cert(
    ///         std::fs::read("/etc/app/client.pem")?,
    ///         std::fs::read("/etc/app/client.key")?,
    ///     )
    ///     .connect()
    ///     .await?;
    /// # Ok(store)
    /// # }
    /// ```
    #[cfg(feature = "postgres-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres-rustls")))]
    pub fn tls_client_cert(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.tls.client = Some((cert.into(), key.into()));
        self
    }

    /// With a verified server ([`tls_verify_server(true)`](Self::tls_verify_server) or
    /// [`tls_ca_cert`](Self::tls_ca_cert)): whether its certificate must name the host of the
    /// connection string (default `true`, libpq's `verify-full`). `false` is libpq's
    /// `verify-ca`: the certificate must chain to a trusted root, whatever host it names, for a
    /// server reached by an IP address that its certificate does not name (as Cloud SQL's often
    /// is). Without verification, `false` is a build error.
    ///
    /// ```no_run
    /// use actix_typed_session::PgStore;
    ///
    /// # async fn make() -> Result<PgStore, Box<dyn std::error::Error>> {
    /// let store = PgStore::builder("host=10.20.0.3 user=app dbname=app")?
    ///     .tls_ca_cert(std::fs::read("/etc/cloudsql/server-ca.pem")?)
    ///     .tls_verify_host_name(false)
    ///     .connect()
    ///     .await?;
    /// # Ok(store)
    /// # }
    /// ```
    #[cfg(feature = "postgres-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres-rustls")))]
    pub fn tls_verify_host_name(mut self, verify: bool) -> Self {
        self.tls.host_name = Some(verify);
        self
    }

    // End of TLS.

    /// The store. Nothing connects until the first operation.
    ///
    /// # Panics
    ///
    /// When [`try_build`](Self::try_build) fails: a schema or table name that is empty or
    /// holds a NUL character, or TLS settings that cannot work.
    pub fn build(self) -> PgStore {
        match self.try_build() {
            Ok(store) => store,
            Err(e) => panic!("{e}"),
        }
    }

    /// The store. Nothing connects until the first operation; with
    /// [`on_session_end`](Self::on_session_end), the listener thread starts and connects on its
    /// own (and retries until PostgreSQL answers).
    ///
    /// # Errors
    ///
    /// A schema or table name that is empty or holds a NUL character; TLS settings that cannot
    /// work (a PEM that holds no certificate or key, a key that is not the client
    /// certificate's, TLS settings with `sslmode=disable`, server verification on a system
    /// without root certificates); with a callback, a thread that cannot start.
    pub fn try_build(mut self) -> Result<PgStore, StoreError> {
        for (what, name) in [
            ("schema", self.schema.as_deref()),
            ("table", Some(&self.table)),
        ] {
            if let Some(name) = name {
                if name.is_empty() || name.contains('\0') {
                    return Err(StoreError::new(
                        StoreErrorKind::Other,
                        format!(
                            "invalid PostgreSQL configuration: the {what} name {name:?} is empty \
                             or holds a NUL character"
                        ),
                    ));
                }
            }
        }
        let table = sql::qualified(self.schema.as_deref(), &self.table);
        let create_table = self
            .create_table
            .then(|| sql::create_table(&table, &self.table));
        let index = (!self.indexes.is_empty())
            .then(|| IndexSql::new(&table, self.schema.as_deref(), &self.table, &self.indexes));
        let tls = tls::connector(&mut self.config, &self.tls)?;
        let conns = Connections::new(Settings {
            config: self.config,
            tls,
            table,
            create_table,
            connect_timeout: self.connect_timeout,
            query_timeout: self.query_timeout,
            prune_interval: self.prune_interval,
            reports_ends: self.on_end.is_some(),
            index,
        });
        let events = match &self.on_end {
            None => None,
            Some(listener) => Some(events::start(events::Config {
                pg: conns.config().clone(),
                tls: conns.tls(),
                table: conns.table().to_owned(),
                create_table: conns.create_table_sql().map(str::to_owned),
                others: self.deletes_by_others,
                listener: listener.clone(),
                connect_timeout: self.connect_timeout,
                query_timeout: self.query_timeout,
                poll_interval: self.end_poll_interval,
            })?),
        };
        Ok(PgStore {
            inner: Arc::new(Inner {
                default_ttl_ms: i64::try_from(self.default_ttl.as_millis())
                    .unwrap_or(i64::MAX)
                    .max(1),
                max_record_bytes: self.max_record_bytes,
                conns,
                on_end: self.on_end,
                events,
                indexes: self.indexes,
                on_start: self.on_start,
                turns: Turns::default(),
            }),
        })
    }

    /// The store, once PostgreSQL has accepted a connection made as the store makes them, with
    /// the table created (with [`create_table_if_missing`](Self::create_table_if_missing)) or
    /// found. A wrong address, password or table name is then an error here, at start-up,
    /// rather than a failure of every request.
    ///
    /// With [`on_session_end`](Self::on_session_end), also waits until the listener listens
    /// (its connection made, the outbox trigger created when asked).
    ///
    /// # Errors
    ///
    /// Those of [`try_build`](Self::try_build), and [`StoreErrorKind::Unavailable`] when the
    /// database cannot be reached in the timeouts or the TLS handshake fails, [`StoreErrorKind::Other`] when it refuses the
    /// credentials, the table is missing, or the outbox trigger cannot be created.
    pub async fn connect(self) -> Result<PgStore, StoreError> {
        let within = self.connect_timeout + 4 * self.query_timeout;
        let store = self.try_build()?;
        crate::store::SessionStore::len(&store).await?;
        if let Some(events) = &store.inner.events {
            events.listening(within).await?;
        }
        Ok(store)
    }
}

/// The session index: who is signed in where.
impl PgStoreBuilder {
    /// Indexes sessions by field `name` (its stored name), for
    /// [`sessions_by`](crate::store::SessionStore::sessions_by),
    /// [`count_by`](crate::store::SessionStore::count_by) and
    /// [`end_sessions_by`](crate::store::SessionStore::end_sessions_by) ("where am I signed in",
    /// "log out everywhere"). See [`PgStore`]'s "Session index" for what it creates beside the
    /// table, what it costs, and what a Node app sharing the table means for it.
    ///
    /// Sessions are found in the session table itself, through an expression index on the
    /// field's value (`IDX_<table>_<field>`), so a listed session exists, is unexpired and holds
    /// the value when it is read, whoever wrote it. The store's first connection creates, when
    /// missing, that index, a table of `indexed_at`s (`<table>_indexed`) and the write function
    /// (`<table>_index_write`) in the table's schema, which needs the table's owner. A field
    /// that is missing or `null` indexes nothing.
    ///
    /// ```no_run
    /// use actix_typed_session::{PgStore, SessionData};
    ///
    /// #[derive(SessionData, Default)]
    /// struct Account {
    ///     #[session(index)]
    ///     user: Option<String>,
    /// }
    ///
    /// # fn make() -> Result<(), actix_typed_session::store::StoreError> {
    /// // The same: index the fields that `Account` marks `#[session(index)]`.
    /// let store = PgStore::builder("postgres://app:secret@127.0.0.1/app")?.index("user").build();
    /// let store = PgStore::builder("postgres://app:secret@127.0.0.1/app")?
    ///     .indexes::<Account>()
    ///     .build();
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
    /// [`EndReason::Displaced`](crate::store::EndReason::Displaced), once across every app
    /// server), [`OverLimit::Refuse`] refuses the write
    /// ([`SaveOutcome::Refused`](crate::store::SaveOutcome::Refused): through the middleware,
    /// `403 Forbidden`, and [`Session::save`](crate::Session::save) fails with
    /// [`SessionErrorKind::LimitReached`](crate::SessionErrorKind::LimitReached)).
    ///
    /// The limit is exact across app servers on one database: the writes that give a value take
    /// turns on an advisory lock of that value, within their one statement. It applies to the
    /// writes of `PgStore`s; a Node app's writes do not check it (their sessions count, and the
    /// next write here that gives the value brings it back to the limit).
    ///
    /// ```no_run
    /// use actix_typed_session::{store::OverLimit, PgStore};
    ///
    /// # fn make() -> Result<PgStore, actix_typed_session::store::StoreError> {
    /// let store = PgStore::builder("postgres://app:secret@127.0.0.1/app")?
    ///     .index_limit("user", 2, OverLimit::EndOldest)
    ///     .build();
    /// # Ok(store)
    /// # }
    /// ```
    pub fn index_limit(mut self, name: &str, max: usize, over: OverLimit) -> Self {
        add_spec(&mut self.indexes, name, Some((max.max(1), over)));
        self
    }

    /// Calls `callback` with every session that starts: once per session, by the app server
    /// whose write created it (a create succeeds once, so once across every app server that
    /// shares the table), Spring's `SessionCreatedEvent`. A session given a new id
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
}
