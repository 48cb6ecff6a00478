//! Connections of a [`RedisStore`](super::RedisStore): one per worker thread, driven on that
//! worker's own runtime, each command bounded by a timeout.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    thread::{self, ThreadId},
    time::Duration,
};

use ::redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection},
    cluster::{ClusterClient, ClusterConfig},
    cluster_async::ClusterConnection,
    cmd, AsyncConnectionConfig, Client, Cmd, ErrorKind, FromRedisValue, Pipeline, ProtocolVersion,
    RedisError, RedisFuture, RedisResult, ScriptInvocation, ServerErrorKind, Value,
};
use actix_web::rt::{time::timeout, System};
use futures_util::FutureExt as _;
use tokio::sync::OnceCell;

use super::options::SentinelTarget;
use crate::store::{health::Health, StoreError};

/// Where the store's connections go.
// One per store (and its listener): the size of a `Client` with TLS settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(super) enum Target {
    Single(Client),
    Cluster(Box<ClusterClient>),
    Sentinel(Arc<SentinelTarget>),
}

/// One connection: to a single server (reconnecting by itself), to a cluster, or to the master
/// that the sentinels name when it connects.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelConn),
    /// A plain connection (start-up checks).
    Multiplexed(MultiplexedConnection),
}

/// A connection to the master that the sentinels name, made on its first command. It does not
/// reconnect: once it fails, the store drops it, and the next connection asks the sentinels
/// again (so it reaches the new master after a failover).
#[derive(Clone)]
pub(super) struct SentinelConn {
    target: Arc<SentinelTarget>,
    config: AsyncConnectionConfig,
    db: i64,
    conn: Arc<OnceCell<MultiplexedConnection>>,
}

impl SentinelConn {
    async fn get(&self) -> RedisResult<MultiplexedConnection> {
        self.conn
            .get_or_try_init(|| async {
                let client = self.target.master(ProtocolVersion::RESP2).await?;
                client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await
            })
            .await
            .cloned()
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Multiplexed(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => Box::pin(async move {
                c.target.check_failover()?;
                let mut conn = c.get().await?;
                conn.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(c) => Box::pin(async move {
                c.target.check_failover()?;
                let mut conn = c.get().await?;
                conn.req_packed_commands(pipeline, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Multiplexed(c) => c.get_db(),
            Conn::Sentinel(c) => c.db,
        }
    }
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
    /// Behind Sentinel: the master's switches when it connected (stale after the next).
    switches: u64,
    conn: Conn,
}

/// More runtimes than this share one store only when threads come and go (tests); the oldest
/// connection is then dropped.
const MAX_SLOTS: usize = 256;

/// The connections of one store and its clones, one per runtime.
pub(super) struct Connections {
    target: Target,
    connect_timeout: Duration,
    command_timeout: Duration,
    slots: Mutex<Vec<Slot>>,
    serial: AtomicU64,
    health: Health,
}

impl Connections {
    pub(super) fn new(
        target: Target,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Self {
        Self {
            target,
            connect_timeout,
            command_timeout,
            slots: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
            health: Health::new("Redis"),
        }
    }

    pub(super) fn target(&self) -> &Target {
        &self.target
    }

    pub(super) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    pub(super) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Whether Redis is known to be down (see [`Health`]).
    pub(super) fn health(&self) -> &Health {
        &self.health
    }

    /// This runtime's connection, made on first use. Making one does not wait: it connects on
    /// its first command, and its background task runs on the calling runtime.
    fn lease(&self) -> Result<(u64, Conn), StoreError> {
        let runtime = current_runtime();
        let switches = self.switches();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = slots.iter().position(|s| s.runtime == runtime) {
            if slots[at].switches == switches {
                return Ok((slots[at].serial, slots[at].conn.clone()));
            }
            // The master switched since: connect to the new one.
            slots.remove(at);
        }
        let conn = self.connect()?;
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        if slots.len() >= MAX_SLOTS {
            slots.remove(0);
        }
        slots.push(Slot {
            runtime,
            serial,
            switches,
            conn: conn.clone(),
        });
        Ok((serial, conn))
    }

    /// Behind Sentinel, how many times the master switched; otherwise 0.
    pub(super) fn switches(&self) -> u64 {
        match &self.target {
            Target::Sentinel(target) => target.failover().switches(),
            _ => 0,
        }
    }

    /// Drops a connection that failed, so that the next command starts afresh.
    fn forget(&self, serial: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|s| s.serial != serial);
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        match &self.target {
            // No response timeout of the client's own: every command already runs within the
            // command timeout (`within_timeout`), and a second timer per command costs a timer
            // wheel insert and removal for nothing.
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(None)
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .map(Conn::Single)
                    .map_err(|e| error("connect", e))
            }
            Target::Cluster(client) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(self.connect_timeout)
                    .set_response_timeout(self.command_timeout);
                Ok(Conn::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
            Target::Sentinel(target) => Ok(Conn::Sentinel(SentinelConn {
                target: Arc::clone(target),
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(None),
                db: target.master_db(),
                conn: Arc::new(OnceCell::new()),
            })),
        }
    }

    /// One `PING` on a connection of its own, made as the store makes them (behind Sentinel:
    /// to the master the sentinels name) but without retries, so that its error is the first
    /// one: a refused connection, a failed TLS handshake, refused credentials.
    pub(super) async fn verify(&self) -> Result<(), StoreError> {
        let limit = self.connect_timeout + self.command_timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout));
        let ping = async {
            let mut conn = match &self.target {
                Target::Single(client) => Conn::Multiplexed(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ),
                Target::Cluster(client) => Conn::Cluster(
                    client
                        .get_async_connection_with_config(
                            ClusterConfig::new()
                                .set_connection_timeout(self.connect_timeout)
                                .set_response_timeout(self.command_timeout),
                        )
                        .await?,
                ),
                Target::Sentinel(target) => Conn::Multiplexed(
                    target
                        .master(ProtocolVersion::RESP2)
                        .await?
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ),
            };
            cmd("PING").query_async::<()>(&mut conn).await
        };
        match timeout(limit, ping).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(error("connect", e)),
            Err(_) => Err(StoreError::unavailable(format!(
                "Redis did not answer a `PING` within {limit:?}"
            ))),
        }
    }

    /// Runs one command (`f` gets this runtime's connection), within the command timeout. An
    /// outage ends as [`StoreError::unavailable`], marks the store down, and the connection is
    /// replaced on next use.
    pub(super) async fn run<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempt = async {
            let (serial, conn) = self.lease()?;
            self.settle(what, serial, f(conn).await)
        };
        self.within_timeout(what, attempt).await
    }

    /// Runs a command that may safely run twice (a read, a renewal) like [`run`](Self::run),
    /// except that when this runtime's connection fails at once (it went stale: Redis restarted
    /// since its last use) the command is tried once more on a fresh connection, within the same
    /// timeout.
    pub(super) async fn run_idempotent<T, F, Fut>(
        &self,
        what: &'static str,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempt = async {
            let (serial, conn) = self.lease()?;
            match f(conn).await {
                Err(e) if is_unavailable(&e) && !e.is_timeout() => {
                    tracing::debug!(error = %e, "Redis connection failed; trying a fresh one");
                    self.forget(serial);
                    let (serial, conn) = self.lease()?;
                    self.settle(what, serial, f(conn).await)
                }
                answer => self.settle(what, serial, answer),
            }
        };
        self.within_timeout(what, attempt).await
    }

    /// Runs a script that may safely run twice (a read, a renewal), as
    /// [`run_idempotent`](Self::run_idempotent) runs a command.
    pub(super) async fn invoke_idempotent<T: FromRedisValue>(
        &self,
        what: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.run_idempotent(what, |mut c| async move {
            invocation.invoke_async(&mut c).await
        })
        .await
    }

    /// [`run_idempotent`](Self::run_idempotent) for one command.
    pub(super) async fn cmd_idempotent<T: FromRedisValue>(
        &self,
        what: &'static str,
        command: &Cmd,
    ) -> Result<T, StoreError> {
        self.run_idempotent(
            what,
            |mut c| async move { command.query_async(&mut c).await },
        )
        .await
    }

    /// [`run_idempotent`](Self::run_idempotent) for a pipeline, in one round trip.
    pub(super) async fn pipe_idempotent<T: FromRedisValue>(
        &self,
        what: &'static str,
        pipe: &Pipeline,
    ) -> Result<T, StoreError> {
        self.run_idempotent(what, |mut c| async move { pipe.query_async(&mut c).await })
            .await
    }

    /// The store's answer for one command's result, keeping the health and the connection
    /// slots up to date.
    fn settle<T>(
        &self,
        what: &'static str,
        serial: u64,
        answer: RedisResult<T>,
    ) -> Result<T, StoreError> {
        match answer {
            Ok(value) => {
                self.health.mark_up();
                Ok(value)
            }
            Err(e) => {
                if is_unavailable(&e) {
                    self.forget(serial);
                    self.health.mark_down();
                } else {
                    // Redis answered: it is reachable.
                    self.health.mark_up();
                }
                Err(error(what, e))
            }
        }
    }

    /// `attempt` within the command timeout. Not an `async fn` or block: either would keep
    /// `attempt` (or the [`timeout`] holding it) twice in its state, once as its argument and
    /// once as the future it awaits, doubling the future that each store call boxes.
    fn within_timeout<'a, T: 'a>(
        &'a self,
        what: &'static str,
        attempt: impl Future<Output = Result<T, StoreError>> + 'a,
    ) -> impl Future<Output = Result<T, StoreError>> + 'a {
        timeout(self.command_timeout, attempt).map(move |timed| self.settle_timeout(what, timed))
    }

    fn settle_timeout<T>(
        &self,
        what: &'static str,
        timed: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        match timed {
            Ok(answer) => answer,
            Err(_) => {
                // Whichever connection hung, every connection of this runtime starts afresh.
                let runtime = current_runtime();
                self.slots
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .retain(|s| s.runtime != runtime);
                self.health.mark_down();
                Err(StoreError::unavailable(format!(
                    "Redis did not answer `{what}` within {:?}",
                    self.command_timeout
                )))
            }
        }
    }
}

/// Whether `e` means that Redis cannot be reached (or cannot serve) right now.
pub(super) fn is_unavailable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                // Sentinel: the master is being switched (no master yet, or a connection that
                // still reaches the old one, now a replica).
                | ErrorKind::MasterNameNotFoundBySentinel
                | ErrorKind::Server(ServerErrorKind::ReadOnly)
                | ErrorKind::Server(
                    ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::BusyLoading
                )
        )
}

/// The store error for a failed Redis operation.
pub(super) fn error(what: &str, e: RedisError) -> StoreError {
    #[cfg(feature = "redis-rustls")]
    if let Some(tls) = super::tls::failure(&e) {
        return StoreError::unavailable(format!(
            "the TLS handshake with Redis failed for `{what}`: {tls} (check the CA the store \
             trusts, `tls_ca_cert`, and the client certificate, `tls_client_cert`)"
        ))
        .with_source(e);
    }
    if e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
    {
        return StoreError::new(
            crate::store::StoreErrorKind::Other,
            format!("Redis refused the store's credentials for `{what}`: {e}"),
        )
        .with_source(e);
    }
    let error = if is_unavailable(&e) {
        StoreError::unavailable(format!("Redis is unavailable for `{what}`: {e}"))
    } else if e.code() == Some("CORRUPT") {
        StoreError::corrupt(format!("`{what}`: {e}"))
    } else {
        StoreError::new(
            crate::store::StoreErrorKind::Other,
            format!("Redis failed `{what}`: {e}"),
        )
    };
    error.with_source(e)
}
