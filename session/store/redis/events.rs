//! Session end events of a [`RedisStore`](super::RedisStore): the listener that reports the
//! sessions Redis expires.
//!
//! Every write of a session also writes its *shadow* (`{<session key>}:end`, on the session's
//! cluster slot), a copy of the record that lives a grace period longer than the session's key.
//! When Redis expires a session key, it publishes a keyevent notification on the node that held
//! it. Each store with events runs one listener thread, subscribed on the single server or on
//! every cluster master; every listener that hears of an expiry tries to claim the shadow
//! (`claim.lua`: the session key must be gone; read and delete the shadow, atomically), and the
//! one that gets it reports the end. Shadows whose session key is gone are the to-do list of ends
//! nobody reported (every listener was down, or a notification was lost with its connection): the
//! listener sweeps them at start, after every reconnection and periodically.
//!
//! Redis publishes an expiry only when it deletes the key, which its sampling of keys with a TTL
//! may do hundreds of milliseconds after the key's instant (or later, in a large keyspace). So
//! each store also keeps the expiry instant of every session it wrote (a priority queue, as the
//! memory store): at that instant its listener claims the shadow itself, which Redis answers as
//! expired whether or not it has deleted the key yet. A session renewed since by another app
//! server is still stored: the claim answers its PTTL and claims nothing.

use std::{
    collections::HashMap,
    sync::{mpsc, Arc},
    thread,
    time::{Duration, Instant},
};

use ::redis::{
    aio::MultiplexedConnection, cluster_routing::SingleNodeRoutingInfo, cmd, from_redis_value,
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    Pipeline, ProtocolVersion, RedisError, Value,
};
use actix_web::rt::{
    time::{sleep, timeout},
    Runtime,
};

mod inbox;

pub(super) use self::inbox::Handle;
use self::inbox::{Inbox, Note, Sender};
use super::{
    conn::{error, is_unavailable, Conn, Connections, Target},
    index, parse, scan, script,
};
use crate::store::unix_ms;
use crate::store::{EndListener, EndReason, IndexSpec, SessionEnd, StoreError, StoreErrorKind};

/// What the listener needs: where Redis is, which keys are sessions, whom to tell.
pub(super) struct Config {
    pub(super) target: Target,
    /// Connection settings (credentials, TLS) for each cluster master, taken from the first node
    /// URL the store was given.
    pub(super) cluster_template: Option<ConnectionInfo>,
    pub(super) prefix: String,
    pub(super) listener: EndListener,
    pub(super) connect_timeout: Duration,
    pub(super) command_timeout: Duration,
    pub(super) sweep_interval: Duration,
    /// The store's indexes: a session whose expiry the listener reports leaves them.
    pub(super) indexes: Vec<IndexSpec>,
}

/// The key of the shadow of the session whose key is `key`.
pub(super) fn shadow_key(key: &str) -> String {
    format!("{{{key}}}:end")
}

/// The session key of a shadow key, if `key` is one.
fn session_of_shadow(key: &[u8]) -> Option<&[u8]> {
    key.strip_prefix(b"{")?.strip_suffix(b"}:end")
}

/// How long a probe waits for its own expiry notification.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// Behind Sentinel: how often the listener looks whether the master switched.
const SWITCH_CHECK: Duration = Duration::from_millis(100);

/// How long to wait before connecting again after a failure.
const RETRY: Duration = Duration::from_millis(500);

/// Starts the listener thread and waits until it listens: subscribed on every node, with expired
/// keyevent notifications enabled (or verified) there.
pub(super) fn start(config: Config) -> Result<Handle, StoreError> {
    let inbox = Arc::new(Inbox::default());
    let handle = Handle {
        inbox: Arc::clone(&inbox),
    };
    let wait = config.connect_timeout + 4 * config.command_timeout + 2 * PROBE_WAIT;
    let (ready_tx, ready_rx) = mpsc::channel();
    thread::Builder::new()
        .name("session-end-events".to_owned())
        .spawn(move || match Runtime::new() {
            Ok(runtime) => runtime.block_on(Listener::new(config, inbox).run(ready_tx)),
            Err(e) => {
                let _ = ready_tx.send(Err(StoreError::new(
                    StoreErrorKind::Other,
                    "cannot start the runtime of the session end listener",
                )
                .with_source(e)));
            }
        })
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Other,
                "cannot start the session end listener thread",
            )
            .with_source(e)
        })?;
    match ready_rx.recv_timeout(wait) {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(StoreError::unavailable(format!(
            "the session end listener did not connect to Redis within {wait:?}"
        ))),
    }
}

/// The listener task, on its own thread and runtime.
struct Listener {
    config: Config,
    inbox: Arc<Inbox>,
    /// For claims, sweeps and cluster topology (this thread's own connection).
    conns: Connections,
}

/// The connections a listener is subscribed on, and to which nodes.
struct Subscription {
    conns: Vec<MultiplexedConnection>,
    masters: Vec<(String, u16)>,
    /// Behind Sentinel: the master's switches when it subscribed.
    switches: u64,
}

enum Outcome {
    Stopped,
    Reconnect,
}

impl Listener {
    fn new(config: Config, inbox: Arc<Inbox>) -> Self {
        let conns = Connections::new(
            config.target.clone(),
            config.connect_timeout,
            config.command_timeout,
        );
        Self {
            config,
            inbox,
            conns,
        }
    }

    async fn run(self, ready: mpsc::Sender<Result<(), StoreError>>) {
        let mut ready = Some(ready);
        let mut generation = 0;
        let mut failures = 0_u32;
        while !self.inbox.is_stopped() {
            generation += 1;
            match self.subscribe(generation).await {
                Ok(subscription) => {
                    if let Some(ready) = ready.take() {
                        if ready.send(Ok(())).is_err() {
                            return; // `start` gave up waiting: the store was not built
                        }
                    } else {
                        tracing::info!("session end listener: subscribed again");
                    }
                    failures = 0;
                    match self.serve(subscription, generation).await {
                        Outcome::Stopped => return,
                        Outcome::Reconnect => {
                            tracing::warn!("session end listener: connection lost, reconnecting");
                        }
                    }
                }
                Err(e) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Err(e));
                        return;
                    }
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::error!(
                            error = %e,
                            "session end listener: cannot subscribe to expiry notifications; \
                             retrying (ends are reported by the sweep once it succeeds)"
                        );
                    }
                    self.inbox.pause(RETRY).await;
                }
            }
        }
    }

    /// Connects to every node, enables (or verifies) expired keyevent notifications there and
    /// subscribes.
    async fn subscribe(&self, generation: u64) -> Result<Subscription, StoreError> {
        let switches = self.conns.switches();
        let (infos, masters, db) = match &self.config.target {
            Target::Single(client) => {
                let info = client.get_connection_info().clone();
                let db = info.redis_settings().db();
                (vec![info], Vec::new(), db)
            }
            Target::Sentinel(sentinel) => {
                // The master the sentinels name now; after a failover, the new one.
                let info = self.sentinel_master(sentinel).await?;
                let db = info.redis_settings().db();
                let master = node_address(&info);
                tracing::info!(
                    master = sentinel.master_name(),
                    node = %info.addr(),
                    "session end listener: subscribing on the master that Sentinel names"
                );
                (vec![info], master.into_iter().collect(), db)
            }
            Target::Cluster(_) => {
                let masters = scan::masters(&self.conns).await?;
                let infos = masters
                    .iter()
                    .map(|(host, port)| self.node_info(host, *port))
                    .collect::<Result<Vec<_>, _>>()?;
                (infos, masters, 0)
            }
        };
        let channel = format!("__keyevent@{db}__:expired");
        let mut conns = Vec::with_capacity(infos.len());
        for info in infos {
            let node = info.addr().to_string();
            let settings = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            let client = Client::open(info.set_redis_settings(settings))
                .map_err(|e| error("subscribe", e))?;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.config.connect_timeout))
                .set_response_timeout(Some(self.config.command_timeout))
                .set_push_sender(Sender {
                    inbox: Arc::clone(&self.inbox),
                    generation,
                });
            let mut conn = timeout(
                self.config.connect_timeout + self.config.command_timeout,
                client.get_multiplexed_async_connection_with_config(&config),
            )
            .await
            .map_err(|_| StoreError::unavailable(format!("cannot connect to Redis at {node}")))?
            .map_err(|e| error("subscribe", e))?;
            conn.subscribe(&channel)
                .await
                .map_err(|e| error("subscribe", e))?;
            self.enable_notifications(&mut conn, &node).await?;
            conns.push(conn);
        }
        Ok(Subscription {
            conns,
            masters,
            switches,
        })
    }

    /// The connection settings of the master that the sentinels name now.
    async fn sentinel_master(
        &self,
        sentinel: &super::options::SentinelTarget,
    ) -> Result<ConnectionInfo, StoreError> {
        let found = timeout(
            self.config.connect_timeout + self.config.command_timeout,
            sentinel.master(ProtocolVersion::RESP3),
        )
        .await
        .map_err(|_| {
            StoreError::unavailable(format!(
                "the sentinels did not name the master {:?} in time",
                sentinel.master_name()
            ))
        })?
        .map_err(|e| error("find the master", e))?;
        Ok(found.get_connection_info().clone())
    }

    /// The connection settings of cluster master `host:port`.
    fn node_info(&self, host: &str, port: u16) -> Result<ConnectionInfo, StoreError> {
        let Some(template) = &self.config.cluster_template else {
            return format!("redis://{host}:{port}")
                .into_connection_info()
                .map_err(|e| error("subscribe", e));
        };
        let addr = match template.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.to_owned(), port),
        };
        Ok(template.clone().set_addr(addr))
    }

    /// Makes sure the node publishes expired keyevent notifications: reads
    /// `notify-keyspace-events` and adds `Ex` if missing; a server that refuses `CONFIG` must
    /// prove it publishes them (a probe key that expires), or the listener does not start.
    async fn enable_notifications(
        &self,
        conn: &mut MultiplexedConnection,
        node: &str,
    ) -> Result<(), StoreError> {
        let got: Result<HashMap<String, String>, RedisError> = cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events")
            .query_async(conn)
            .await;
        let refusal = match got {
            Ok(config) => {
                let flags = config
                    .get("notify-keyspace-events")
                    .cloned()
                    .unwrap_or_default();
                if publishes_expired_keyevents(&flags) {
                    return Ok(());
                }
                let wanted = with_expired_keyevents(&flags);
                match cmd("CONFIG")
                    .arg("SET")
                    .arg("notify-keyspace-events")
                    .arg(&wanted)
                    .query_async::<()>(conn)
                    .await
                {
                    Ok(()) => {
                        tracing::info!(
                            node,
                            from = %flags,
                            to = %wanted,
                            "session end events: enabled expired keyevent notifications \
                             (notify-keyspace-events)"
                        );
                        return Ok(());
                    }
                    Err(e) if is_unavailable(&e) => return Err(error("config set", e)),
                    Err(e) => format!("it refused `CONFIG SET notify-keyspace-events {wanted}` ({e}); it has {flags:?}"),
                }
            }
            Err(e) if is_unavailable(&e) => return Err(error("config get", e)),
            Err(e) => {
                // Managed Redis often refuses CONFIG: the server may still be configured.
                if self.probe(conn).await? {
                    return Ok(());
                }
                format!(
                    "it refused `CONFIG GET notify-keyspace-events` ({e}), and a key that \
                     expired there raised no notification"
                )
            }
        };
        Err(StoreError::new(
            StoreErrorKind::Other,
            format!(
                "session end events need Redis to publish keyevent notifications for expired \
                 keys, and Redis at {node} does not: {refusal}. Configure the server with \
                 `notify-keyspace-events Ex` (in redis.conf, or your provider's parameter of that \
                 name; keep flags already set, e.g. `KEx`), on every master of a cluster"
            ),
        ))
    }

    /// Whether this node publishes the expiry of a probe key within [`PROBE_WAIT`].
    async fn probe(&self, conn: &mut MultiplexedConnection) -> Result<bool, StoreError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        // On a cluster node, a key of one of its own slots: try hash tags until one fits.
        for tag in 0..256 {
            let key = format!("{{session-end-probe-{tag}}}:{nanos}");
            let set = cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("PX")
                .arg(1)
                .query_async::<()>(conn)
                .await;
            match set {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Server(::redis::ServerErrorKind::Moved) => {
                    continue
                }
                Err(e) if is_unavailable(&e) => return Err(error("probe", e)),
                Err(_) => return Ok(false),
            }
            let deadline = Instant::now() + PROBE_WAIT;
            while Instant::now() < deadline {
                sleep(Duration::from_millis(10)).await;
                // A read expires the key now rather than at the next active cycle.
                let _ = cmd("EXISTS").arg(&key).query_async::<i64>(conn).await;
                if self.inbox.take_expired(key.as_bytes()) {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        Ok(false)
    }

    /// Reports expiries until the store is dropped or a connection is lost; sweeps the to-do
    /// list first and then every sweep interval.
    async fn serve(&self, subscription: Subscription, generation: u64) -> Outcome {
        let mut subscription = subscription;
        let interval = self.config.sweep_interval;
        self.sweep().await;
        let mut next_sweep = Instant::now() + interval;
        loop {
            for key in self.inbox.take_due(unix_ms()) {
                self.claim(&key, true).await;
            }
            if self.inbox.take_overflowed() {
                tracing::warn!(
                    "session end listener: more expiry notifications than it keeps waiting; \
                     the sessions of those it dropped are reported by a sweep once it has \
                     handled the others"
                );
                next_sweep = Instant::now();
            }
            if self.conns.switches() != subscription.switches {
                tracing::info!(
                    "session end listener: the master switched (Sentinel); subscribing on the \
                     new one"
                );
                return Outcome::Reconnect;
            }
            let mut wait = next_sweep.saturating_duration_since(Instant::now());
            if matches!(self.config.target, Target::Sentinel(_)) {
                wait = wait.min(SWITCH_CHECK);
            }
            if let Some(due) = self.inbox.next_due() {
                let ms = u64::try_from(due - unix_ms()).unwrap_or(0);
                wait = wait.min(Duration::from_millis(ms));
            }
            match timeout(wait, self.inbox.recv()).await {
                Ok(None) => return Outcome::Stopped,
                Ok(Some(Note::Expired { generation: g, key })) if g == generation => {
                    self.expired(&key).await;
                }
                Ok(Some(Note::Lost { generation: g })) if g == generation => {
                    return Outcome::Reconnect;
                }
                Ok(Some(_)) => {} // a wake, or from connections of an earlier generation
                Err(_) if Instant::now() < next_sweep => {} // a scheduled claim is due
                Err(_) => {
                    if !self.still_subscribed(&mut subscription).await {
                        return Outcome::Reconnect;
                    }
                    self.sweep().await;
                    next_sweep = Instant::now() + interval;
                }
            }
        }
    }

    /// Whether every subscription connection answers, and (cluster) the masters are the same.
    async fn still_subscribed(&self, subscription: &mut Subscription) -> bool {
        for conn in &mut subscription.conns {
            if cmd("PING").query_async::<Value>(conn).await.is_err() {
                return false;
            }
        }
        if let Target::Sentinel(sentinel) = &self.config.target {
            // The sentinels close the old master's connections when they reconfigure it; this
            // also catches a switch whose old master kept them.
            match self.sentinel_master(sentinel).await {
                Ok(info) => {
                    if node_address(&info).as_ref() != subscription.masters.first() {
                        tracing::info!("session end listener: Sentinel names another master");
                        return false;
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "session end listener: asking the sentinels for the master failed"
                ),
            }
        }
        if matches!(self.config.target, Target::Cluster(_)) {
            match scan::masters(&self.conns).await {
                Ok(mut masters) => {
                    let mut known = subscription.masters.clone();
                    masters.sort();
                    known.sort();
                    if masters != known {
                        tracing::info!("session end listener: the cluster's masters changed");
                        return false;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "session end listener: CLUSTER SLOTS failed"),
            }
        }
        true
    }

    /// Redis expired `key`: if it is one of this store's sessions, claim its shadow and report.
    async fn expired(&self, key: &[u8]) {
        let prefix = self.config.prefix.as_bytes();
        if !key.starts_with(prefix)
            || session_of_shadow(key).is_some()
            || key.starts_with(index::keys_prefix(&self.config.prefix).as_bytes())
        {
            return;
        }
        let Ok(key) = std::str::from_utf8(key) else {
            return;
        };
        self.claim(key, false).await;
    }

    /// Claims the shadow of session key `key`, whose key is gone, and reports it as expired.
    /// `scheduled`: at the instant this store scheduled; if Redis still has the key for at most
    /// a second more (the clocks differ), try again then.
    async fn claim(&self, key: &str, scheduled: bool) {
        let invocation = script::claim(key, &shadow_key(key));
        let claimed: Result<Value, StoreError> = self
            .conns
            .run("claim", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await;
        match claimed {
            Ok(Value::BulkString(json)) => {
                let id = &key[self.config.prefix.len()..];
                deliver(&self.config.listener, id, &json, EndReason::Expired);
                if !self.config.indexes.is_empty() {
                    let prefix = &self.config.prefix;
                    let unindexed =
                        index::unindex(&self.conns, prefix, &self.config.indexes, id, &json).await;
                    if let Err(e) = unindexed {
                        tracing::warn!(
                            error = %e,
                            "session end listener: removing an expired session from its index \
                             failed; the next read of the index drops it"
                        );
                    }
                }
            }
            Ok(Value::Int(pttl)) if scheduled && (0..=1000).contains(&pttl) => {
                self.inbox.reschedule(key.to_owned(), pttl);
            }
            // Another app server reported it, or it is still stored (renewed by another app
            // server, which scheduled it).
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "session end listener: claiming an expired session failed; the sweep retries"
            ),
        }
    }

    /// Reports every session whose key is gone but whose shadow is left (the to-do list).
    async fn sweep(&self) {
        if let Err(e) = self.try_sweep().await {
            tracing::warn!(error = %e, "session end listener: the sweep of missed ends failed");
        }
    }

    async fn try_sweep(&self) -> Result<(), StoreError> {
        let pattern = format!("{{{}}}:end", scan::pattern(&self.config.prefix));
        let nodes: Vec<Option<(String, u16)>> = match &self.config.target {
            Target::Single(_) | Target::Sentinel(_) => vec![None],
            Target::Cluster(_) => scan::masters(&self.conns)
                .await?
                .into_iter()
                .map(Some)
                .collect(),
        };
        for node in nodes {
            let mut cursor = 0_u64;
            loop {
                let mut page = cmd("SCAN");
                page.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000);
                let route = node.clone();
                let (next, shadows): (u64, Vec<Vec<u8>>) = self
                    .conns
                    .run("sweep", |mut conn| async move {
                        let value = scan::route(&mut conn, page, route).await?;
                        Ok(from_redis_value(value)?)
                    })
                    .await?;
                let sessions: Vec<String> = shadows
                    .iter()
                    .filter_map(|s| session_of_shadow(s))
                    .filter_map(|k| String::from_utf8(k.to_vec()).ok())
                    .filter(|k| k.starts_with(&self.config.prefix))
                    .collect();
                if !sessions.is_empty() {
                    for gone in self.gone(&sessions, node.clone()).await? {
                        self.claim(gone, false).await;
                    }
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Those of the session keys `keys` (all on `node`) that are not stored: one pipeline of
    /// `EXISTS`.
    async fn gone<'k>(
        &self,
        keys: &'k [String],
        node: Option<(String, u16)>,
    ) -> Result<Vec<&'k str>, StoreError> {
        let mut pipe = Pipeline::new();
        for key in keys {
            pipe.cmd("EXISTS").arg(key);
        }
        let count = keys.len();
        let answers: Vec<Value> = self
            .conns
            .run("sweep", |conn| async move {
                match (conn, node) {
                    (Conn::Cluster(mut cluster), Some((host, port))) => {
                        let route = SingleNodeRoutingInfo::ByAddress { host, port };
                        cluster.route_pipeline(pipe, 0, count, route).await
                    }
                    (mut conn, _) => pipe.query_async(&mut conn).await,
                }
            })
            .await?;
        Ok(keys
            .iter()
            .zip(answers)
            .filter(|(_, answer)| matches!(answer, Value::Int(0)))
            .map(|(key, _)| key.as_str())
            .collect())
    }
}

/// The host and port of a node.
fn node_address(info: &ConnectionInfo) -> Option<(String, u16)> {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            Some((host.clone(), *port))
        }
        _ => None,
    }
}

/// Reports the end of session `id`, whose last record is `json`.
pub(super) fn deliver(listener: &EndListener, id: &str, json: &[u8], reason: EndReason) {
    match parse(json) {
        Ok(record) => listener.deliver(SessionEnd::new(id, record, reason)),
        Err(e) => tracing::error!(
            error = %e,
            %reason,
            "a session ended, but its last record is not a session: not reported"
        ),
    }
}

/// Whether `notify-keyspace-events` flags publish keyevent notifications of expired keys.
fn publishes_expired_keyevents(flags: &str) -> bool {
    flags.contains('E') && (flags.contains('x') || flags.contains('A'))
}

/// `flags` with what expired keyevent notifications need added.
fn with_expired_keyevents(flags: &str) -> String {
    let mut out = flags.to_owned();
    if !out.contains('E') {
        out.push('E');
    }
    if !out.contains('x') && !out.contains('A') {
        out.push('x');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_gain_only_what_expired_keyevents_need() {
        assert!(!publishes_expired_keyevents(""));
        assert_eq!(with_expired_keyevents(""), "Ex");
        assert_eq!(with_expired_keyevents("Kg"), "KgEx");
        assert_eq!(with_expired_keyevents("KA"), "KAE");
        assert!(publishes_expired_keyevents("AKE"));
        assert!(publishes_expired_keyevents("xE"));
        assert!(!publishes_expired_keyevents("Kx"));
    }

    #[test]
    fn shadow_keys_share_the_session_slot_and_map_back() {
        assert_eq!(shadow_key("sess:abc"), "{sess:abc}:end");
        assert_eq!(session_of_shadow(b"{sess:abc}:end"), Some(&b"sess:abc"[..]));
        assert_eq!(session_of_shadow(b"sess:abc"), None);
    }
}
