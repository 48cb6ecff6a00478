//! [`PgStoreBuilder`]: the settings of a [`PgStore`], where it connects and what it keeps where.

use std::{fmt, sync::Arc, time::Duration};

use tokio_postgres::Config;

use super::{
    conn::{Connections, Settings},
    sql, Inner, PgStore,
};
use crate::store::{StoreError, StoreErrorKind};

/// Settings of a [`PgStore`]: the table, the default TTL, the record size limit, timeouts and
/// pruning.
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
    pub fn prune_interval(mut self, interval: Option<Duration>) -> Self {
        self.prune_interval = interval;
        self
    }

    /// The store. Nothing connects until the first operation.
    ///
    /// # Panics
    ///
    /// When [`try_build`](Self::try_build) fails: a schema or table name that is empty or
    /// holds a NUL character.
    pub fn build(self) -> PgStore {
        match self.try_build() {
            Ok(store) => store,
            Err(e) => panic!("{e}"),
        }
    }

    /// The store. Nothing connects until the first operation.
    ///
    /// # Errors
    ///
    /// A schema or table name that is empty or holds a NUL character.
    pub fn try_build(self) -> Result<PgStore, StoreError> {
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
        Ok(PgStore {
            inner: Arc::new(Inner {
                default_ttl_ms: i64::try_from(self.default_ttl.as_millis())
                    .unwrap_or(i64::MAX)
                    .max(1),
                max_record_bytes: self.max_record_bytes,
                conns: Connections::new(Settings {
                    config: self.config,
                    table,
                    create_table,
                    connect_timeout: self.connect_timeout,
                    query_timeout: self.query_timeout,
                    prune_interval: self.prune_interval,
                }),
            }),
        })
    }

    /// The store, once PostgreSQL has accepted a connection made as the store makes them, with
    /// the table created (with [`create_table_if_missing`](Self::create_table_if_missing)) or
    /// found. A wrong address, password or table name is then an error here, at start-up,
    /// rather than a failure of every request.
    ///
    /// # Errors
    ///
    /// Those of [`try_build`](Self::try_build), and [`StoreErrorKind::Unavailable`] when the
    /// database cannot be reached in the timeouts, [`StoreErrorKind::Other`] when it refuses the
    /// credentials or the table is missing.
    pub async fn connect(self) -> Result<PgStore, StoreError> {
        let store = self.try_build()?;
        crate::store::SessionStore::len(&store).await?;
        Ok(store)
    }
}
