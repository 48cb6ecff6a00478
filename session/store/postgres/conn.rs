//! Connections of a [`PgStore`](super::PgStore): one per worker runtime, made on first use and
//! driven by a task on that runtime, its statements prepared once; every query bounded by a
//! timeout.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    thread::{self, ThreadId},
    time::{Duration, Instant},
};

use actix_web::rt::{time::timeout, System};
use tokio::sync::OnceCell;
use tokio_postgres::{error::SqlState, Client, Config, Statement};

use super::{events::SETTING, index::IndexSql, sql::Sql, tls::Connector};
use crate::store::{health::Health, StoreError, StoreErrorKind};

/// One connection and the store's statements prepared on it.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) load: Statement,
    pub(super) load_renew: Statement,
    pub(super) create: Statement,
    pub(super) compare_and_set: Statement,
    pub(super) end_live: Statement,
    pub(super) delete: Statement,
    pub(super) count: Statement,
    pub(super) ids: Statement,
    pub(super) clear: Statement,
    pub(super) prune: Statement,
    /// With indexes: their statements.
    pub(super) index: Option<IndexStatements>,
}

/// The statements of a store's indexes, prepared on one connection.
pub(super) struct IndexStatements {
    pub(super) write: Statement,
    pub(super) end: Statement,
    /// Per index, in the order of the store's indexes: list, count.
    pub(super) fields: Vec<(Statement, Statement)>,
    pub(super) prune: Statement,
}

/// The runtime a connection is driven on: a thread, and the actix `System` running there (a
/// thread may run several runtimes one after the other, e.g. in tests).
type RuntimeKey = (ThreadId, Option<usize>);

fn current_runtime() -> RuntimeKey {
    (
        thread::current().id(),
        System::try_current().map(|s| s.id()),
    )
}

struct Slot {
    runtime: RuntimeKey,
    serial: u64,
    conn: Arc<OnceCell<Arc<Conn>>>,
}

/// More runtimes than this share one store only when threads come and go (tests); the oldest
/// connection is then dropped.
const MAX_SLOTS: usize = 256;

/// The connections of one store and its clones, one per runtime.
pub(super) struct Connections {
    config: Config,
    sql: Sql,
    /// With `create_table_if_missing`: the statements that create the table.
    create_table: Option<String>,
    /// Set once the table is known to exist (created, or found).
    table_ready: OnceCell<()>,
    /// With indexes: their objects and statements.
    index: Option<IndexSql>,
    /// Set once the index objects exist (created, or found).
    index_ready: OnceCell<()>,
    /// Whether the periodic prune deletes expired rows (without end events), or only the
    /// `indexed_at`s of ended sessions.
    prune_rows: bool,
    /// The table's name as SQL, for messages.
    table: String,
    /// TLS (or none), as the connection string and the builder say.
    tls: Connector,
    connect_timeout: Duration,
    query_timeout: Duration,
    slots: Mutex<Vec<Slot>>,
    serial: AtomicU64,
    health: Health,
    /// With pruning: the interval, and when the next prune is due (ms since `epoch`).
    prune: Option<(Duration, AtomicU64)>,
    epoch: Instant,
}

/// What [`Connections::new`] needs.
pub(super) struct Settings {
    pub(super) config: Config,
    pub(super) tls: Connector,
    pub(super) table: String,
    pub(super) create_table: Option<String>,
    pub(super) connect_timeout: Duration,
    pub(super) query_timeout: Duration,
    pub(super) prune_interval: Option<Duration>,
    /// The store reports session ends: its deletes answer what they deleted, its connections
    /// carry [`SETTING`] (the outbox trigger skips their deletes), and its listener, not a
    /// periodic prune, deletes expired rows.
    pub(super) reports_ends: bool,
    /// With indexes: their objects and statements.
    pub(super) index: Option<IndexSql>,
}

/// `config` with [`SETTING`] in its start-up options, so that the outbox trigger skips the
/// deletes of its connections (see [`events`](super::events)).
pub(super) fn reporting_ends(mut config: Config) -> Config {
    let mine = format!("-c {SETTING}=on");
    let options = match config.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {mine}"),
        _ => mine,
    };
    config.options(options);
    config
}

impl Connections {
    pub(super) fn new(settings: Settings) -> Self {
        let mut config = settings.config;
        config.connect_timeout(settings.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("actix-typed-session");
        }
        if settings.reports_ends {
            config = reporting_ends(config);
        }
        Self {
            config,
            sql: Sql::new(&settings.table, settings.reports_ends),
            create_table: settings.create_table,
            table_ready: OnceCell::new(),
            index_ready: OnceCell::new(),
            prune_rows: !settings.reports_ends,
            table: settings.table,
            tls: settings.tls,
            connect_timeout: settings.connect_timeout,
            query_timeout: settings.query_timeout,
            slots: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
            health: Health::new("PostgreSQL"),
            prune: settings
                .prune_interval
                .filter(|_| !settings.reports_ends || settings.index.is_some())
                .map(|interval| (interval, AtomicU64::new(millis(interval)))),
            epoch: Instant::now(),
            index: settings.index,
        }
    }

    /// Where and how the store connects.
    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    /// The TLS connector of the store's connections (`Copy` without TLS support, hence no
    /// `.clone()`).
    pub(super) fn tls(&self) -> Connector {
        Connector::clone(&self.tls)
    }

    /// The statements that create the table, with `create_table_if_missing`.
    pub(super) fn create_table_sql(&self) -> Option<&str> {
        self.create_table.as_deref()
    }

    pub(super) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    pub(super) fn query_timeout(&self) -> Duration {
        self.query_timeout
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }

    /// Whether PostgreSQL is known to be down (see [`Health`]).
    pub(super) fn health(&self) -> &Health {
        &self.health
    }

    /// This runtime's connection slot, made (empty) on first use.
    fn slot(&self) -> (u64, Arc<OnceCell<Arc<Conn>>>) {
        let runtime = current_runtime();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.iter().find(|s| s.runtime == runtime) {
            let closed = slot.conn.get().is_some_and(|c| c.client.is_closed());
            if !closed {
                return (slot.serial, Arc::clone(&slot.conn));
            }
            // Its connection ended (the server restarted or dropped it): start afresh.
            slots.retain(|s| s.runtime != runtime);
        }
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(OnceCell::new());
        if slots.len() >= MAX_SLOTS {
            slots.remove(0);
        }
        slots.push(Slot {
            runtime,
            serial,
            conn: Arc::clone(&conn),
        });
        (serial, conn)
    }

    /// Drops a connection that failed, so that the next query starts afresh.
    fn forget(&self, serial: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|s| s.serial != serial);
    }

    /// This runtime's connection, connecting (within the connect timeout) if it has none.
    async fn lease(&self) -> Result<(u64, Arc<Conn>), StoreError> {
        let (serial, cell) = self.slot();
        let connecting = cell.get_or_try_init(|| async {
            match timeout(self.connect_timeout, self.connect()).await {
                Ok(conn) => conn.map(Arc::new),
                Err(_) => Err(StoreError::unavailable(format!(
                    "PostgreSQL did not accept a connection within {:?}",
                    self.connect_timeout
                ))),
            }
        });
        match connecting.await {
            Ok(conn) => Ok((serial, Arc::clone(conn))),
            Err(e) => {
                self.forget(serial);
                if e.kind() == StoreErrorKind::Unavailable {
                    self.health.mark_down();
                }
                Err(e)
            }
        }
    }

    /// A new connection, its task spawned on the calling runtime, the table created if missing
    /// and asked for, and the store's statements prepared.
    async fn connect(&self) -> Result<Conn, StoreError> {
        let (client, connection) = self
            .config
            .connect(self.tls())
            .await
            .map_err(|e| error("connect", e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        if let Some(create) = &self.create_table {
            self.table_ready
                .get_or_try_init(|| create_table(&client, create))
                .await?;
        }
        let prepare = |text: &str| {
            let client = &client;
            let text = text.to_owned();
            async move {
                client.prepare(&text).await.map_err(|e| {
                    if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
                        StoreError::new(
                            StoreErrorKind::Other,
                            format!(
                                "the session table {} does not exist: create it (connect-pg-simple's \
                                 table.sql) or build the store with `create_table_if_missing(true)`",
                                self.table
                            ),
                        )
                        .with_source(e)
                    } else {
                        error("prepare", e)
                    }
                })
            }
        };
        let index = match &self.index {
            None => None,
            Some(index) => {
                self.index_ready
                    .get_or_try_init(|| install_index(&client, &index.install, &self.table))
                    .await?;
                let mut fields = Vec::with_capacity(index.fields.len());
                for field in &index.fields {
                    fields.push((prepare(&field.list).await?, prepare(&field.count).await?));
                }
                Some(IndexStatements {
                    write: prepare(&index.write).await?,
                    end: prepare(&index.end).await?,
                    fields,
                    prune: prepare(&index.prune).await?,
                })
            }
        };
        let sql = &self.sql;
        Ok(Conn {
            index,
            load: prepare(&sql.load).await?,
            load_renew: prepare(&sql.load_renew).await?,
            create: prepare(&sql.create).await?,
            compare_and_set: prepare(&sql.compare_and_set).await?,
            end_live: prepare(&sql.end_live).await?,
            delete: prepare(&sql.delete).await?,
            count: prepare(&sql.count).await?,
            ids: prepare(&sql.ids).await?,
            clear: prepare(&sql.clear).await?,
            prune: prepare(&sql.prune).await?,
            client,
        })
    }

    /// Runs one operation (`f` gets this runtime's connection), within the connect timeout (if
    /// it must connect) and the query timeout. An outage ends as [`StoreError::unavailable`],
    /// marks the store down, and the connection is replaced on next use.
    pub(super) async fn run<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Conn>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let (serial, conn) = self.lease().await?;
        self.maybe_prune(&conn);
        let answer = self.within_timeout(what, f(conn)).await;
        self.settle(what, serial, answer)
    }

    /// Runs an operation that may safely run twice (a read, a renewal) like
    /// [`run`](Self::run), except that when this runtime's connection turns out closed (the
    /// server restarted since its last use) it is tried once more on a fresh connection.
    pub(super) async fn run_idempotent<T, F, Fut>(
        &self,
        what: &'static str,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: Fn(Arc<Conn>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let (serial, conn) = self.lease().await?;
        self.maybe_prune(&conn);
        match self.within_timeout(what, f(conn)).await {
            Ok(Err(e)) if e.is_closed() => {
                tracing::debug!(error = %e, "PostgreSQL connection closed; trying a fresh one");
                self.forget(serial);
                let (serial, conn) = self.lease().await?;
                let answer = self.within_timeout(what, f(conn)).await;
                self.settle(what, serial, answer)
            }
            answer => self.settle(what, serial, answer),
        }
    }

    async fn within_timeout<T>(
        &self,
        what: &'static str,
        query: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<Result<T, tokio_postgres::Error>, StoreError> {
        timeout(self.query_timeout, query).await.map_err(|_| {
            StoreError::unavailable(format!(
                "PostgreSQL did not answer `{what}` within {:?}",
                self.query_timeout
            ))
        })
    }

    /// The store's answer for one query's result, keeping the health and the connection slots
    /// up to date.
    fn settle<T>(
        &self,
        what: &'static str,
        serial: u64,
        answer: Result<Result<T, tokio_postgres::Error>, StoreError>,
    ) -> Result<T, StoreError> {
        let error = match answer {
            Ok(Ok(value)) => {
                self.health.mark_up();
                return Ok(value);
            }
            Ok(Err(e)) => error(what, e),
            // Timed out: the connection may be stuck; the next query starts afresh.
            Err(e) => e,
        };
        if error.kind() == StoreErrorKind::Unavailable {
            self.forget(serial);
            self.health.mark_down();
        } else {
            // PostgreSQL answered: it is reachable.
            self.health.mark_up();
        }
        Err(error)
    }

    /// Deletes the expired rows in the background of this runtime, when due.
    fn maybe_prune(&self, conn: &Arc<Conn>) {
        let Some((interval, next)) = &self.prune else {
            return;
        };
        let now = millis(self.epoch.elapsed());
        let due = next.load(Ordering::Relaxed);
        if now < due
            || next
                .compare_exchange(
                    due,
                    now.saturating_add(millis(*interval)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        let conn = Arc::clone(conn);
        let rows = self.prune_rows;
        tokio::spawn(async move {
            let now = super::epoch_ms(crate::record::now_ms());
            if rows {
                match conn.client.execute(&conn.prune, &[&now]).await {
                    Ok(pruned) => tracing::debug!(pruned, "expired sessions pruned"),
                    Err(e) => tracing::warn!(error = %e, "pruning expired sessions failed"),
                }
            }
            if let Some(index) = &conn.index {
                match conn.client.execute(&index.prune, &[&now]).await {
                    Ok(pruned) => tracing::debug!(pruned, "ended sessions' indexed_at pruned"),
                    Err(e) => {
                        tracing::warn!(error = %e, "pruning ended sessions' indexed_at failed")
                    }
                }
            }
        });
    }
}

/// Runs `create` (the statements that create the session table if it does not exist).
pub(super) async fn create_table(client: &Client, create: &str) -> Result<(), StoreError> {
    match client.batch_execute(create).await {
        Ok(()) => Ok(()),
        // Another connection (or process) created it at the same moment.
        Err(e)
            if e.code().is_some_and(|c| {
                *c == SqlState::UNIQUE_VIOLATION
                    || *c == SqlState::DUPLICATE_TABLE
                    || *c == SqlState::DUPLICATE_OBJECT
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(error("create the session table", e)),
    }
}

/// Runs `install` (the statements that create the index objects of table `table` when missing).
async fn install_index(client: &Client, install: &str, table: &str) -> Result<(), StoreError> {
    match client.batch_execute(install).await {
        Ok(()) => Ok(()),
        // Another process created one of them at the same moment.
        Err(e)
            if e.code().is_some_and(|c| {
                *c == SqlState::UNIQUE_VIOLATION
                    || *c == SqlState::DUPLICATE_TABLE
                    || *c == SqlState::DUPLICATE_OBJECT
            }) =>
        {
            Ok(())
        }
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Err(StoreError::new(
            StoreErrorKind::Other,
            format!(
                "the session table {table} does not exist: create it (connect-pg-simple's \
                 table.sql) or build the store with `create_table_if_missing(true)`"
            ),
        )
        .with_source(e)),
        Err(e) => Err(error("create the session index", e)),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether `e` means that PostgreSQL cannot be reached (or cannot serve) right now: no answer
/// from the server (I/O, a closed connection), or its answer that it is shutting down, starting,
/// or out of connections.
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        return true;
    };
    let code = db.code();
    code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::TOO_MANY_CONNECTIONS
}

/// What went wrong, for a message: tokio-postgres shows an error from the server as `db error`
/// alone, so its SQLSTATE and message are added. Not its detail, which may repeat a key (a
/// session id).
fn shown(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// The store error for a failed PostgreSQL operation. The message never holds a session id: the
/// queries take them as parameters, which PostgreSQL's messages do not repeat (their details,
/// left out, may).
pub(super) fn error(what: &str, e: tokio_postgres::Error) -> StoreError {
    if let Some(tls) = super::tls::failure(&e) {
        return StoreError::unavailable(format!(
            "the TLS handshake with PostgreSQL failed for `{what}`: {tls} (check the CA the store \
             trusts, `tls_ca_cert`, the host name in the connection string, and the server's \
             `ssl` setting)"
        ))
        .with_source(e);
    }
    let shown = shown(&e);
    if is_unavailable(&e) {
        return StoreError::unavailable(format!("PostgreSQL is unavailable for `{what}`: {shown}"))
            .with_source(e);
    }
    let code = e.code().map(SqlState::code).unwrap_or_default();
    if code.starts_with("28") {
        return StoreError::new(
            StoreErrorKind::Other,
            format!("PostgreSQL refused the store's credentials for `{what}`: {shown}"),
        )
        .with_source(e);
    }
    StoreError::new(
        StoreErrorKind::Other,
        format!("PostgreSQL failed `{what}`: {shown}"),
    )
    .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_joins_the_start_up_options_given() {
        let config: Config = "host=db options='-c search_path=app'".parse().unwrap();
        assert_eq!(
            reporting_ends(config).get_options(),
            Some("-c search_path=app -c actix_typed_session.reports_ends=on")
        );
        let config: Config = "host=db".parse().unwrap();
        assert_eq!(
            reporting_ends(config).get_options(),
            Some("-c actix_typed_session.reports_ends=on")
        );
    }
}
