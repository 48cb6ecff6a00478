//! Following a Sentinel failover: a thread per store on a Sentinel-watched master, subscribed
//! on every sentinel to the events of a failover.
//!
//! - `+failover-state-send-slaveof-noone` (the leading sentinel is about to promote a replica):
//!   the store stops sending commands to the master, whose writes from then on would be lost
//!   (the promoted replica does not get them, and the old master becomes its replica): commands
//!   fail as unavailable until the switch, for at most [`PAUSE_LIMIT`].
//! - `+switch-master`: every connection of the store (and of its session end listener) is
//!   stale; the next command connects again and asks the sentinels where the master is.
//! - `-failover-abort-*`: the pause ends; the master stays.
//!
//! Without this, a connection to the old master would go on writing there until the sentinels
//! reconfigure it as a replica (they look at it once every few seconds), and those writes would
//! be lost.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError, Weak,
    },
    thread,
    time::{Duration, Instant},
};

use ::redis::{
    aio::MultiplexedConnection, cmd, AsyncConnectionConfig, Client, ConnectionAddr,
    IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisResult, Value,
};
use actix_web::rt::{
    spawn,
    time::{sleep, timeout},
    Runtime,
};
use tokio::sync::mpsc;

use super::options::SentinelTarget;

/// How long to wait before trying a sentinel again after a failure.
const RETRY: Duration = Duration::from_millis(500);

/// How often the watcher checks that its store still exists and its sentinels still answer.
const CHECK: Duration = Duration::from_secs(1);

/// The longest a failover pauses the store: if no switch (or abort) is heard of by then, the
/// store uses the master that the sentinels name.
pub(super) const PAUSE_LIMIT: Duration = Duration::from_secs(10);

/// What the store knows of the master's failovers.
pub(super) struct Failover {
    /// How many times the master switched since the store was built.
    switches: AtomicU64,
    /// While a failover is under way: until when (milliseconds since `epoch`); 0 otherwise.
    paused_until: AtomicU64,
    epoch: Instant,
    /// The master's address (`host:port`), as the sentinels last named it.
    master: Mutex<Option<String>>,
}

impl Default for Failover {
    fn default() -> Self {
        Self {
            switches: AtomicU64::new(0),
            paused_until: AtomicU64::new(0),
            epoch: Instant::now(),
            master: Mutex::new(None),
        }
    }
}

impl Failover {
    /// How many times the master switched (a connection made before the last switch is stale).
    pub(super) fn switches(&self) -> u64 {
        self.switches.load(Ordering::Acquire)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a failover is under way (the store must not write to the old master).
    pub(super) fn under_way(&self) -> bool {
        let until = self.paused_until.load(Ordering::Acquire);
        until != 0 && self.now() < until
    }

    /// A replica is being promoted: no more commands to the old master.
    fn pause(&self) {
        let limit = u64::try_from(PAUSE_LIMIT.as_millis()).unwrap_or(u64::MAX);
        self.paused_until
            .store(self.now().saturating_add(limit).max(1), Ordering::Release);
        self.switches.fetch_add(1, Ordering::AcqRel);
    }

    fn resume(&self) {
        self.paused_until.store(0, Ordering::Release);
    }

    /// A sentinel names `master`; when it is another than the last one named, the connections
    /// are stale. Answers whether it changed.
    fn named(&self, master: String) -> bool {
        let mut known = self.master.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = known.as_ref().is_some_and(|k| *k != master);
        *known = Some(master);
        if changed {
            self.switches.fetch_add(1, Ordering::AcqRel);
        }
        changed
    }
}

/// Starts the watcher thread of `target`; it stops once `target` is dropped.
pub(super) fn watch(target: &Arc<SentinelTarget>) {
    let weak = Arc::downgrade(target);
    let addrs = target.sentinels().to_vec();
    let started = thread::Builder::new()
        .name("sentinel-watch".to_owned())
        .spawn(move || match Runtime::new() {
            Ok(runtime) => runtime.block_on(async move {
                for addr in addrs {
                    spawn(watch_one(weak.clone(), addr));
                }
                while weak.strong_count() > 0 {
                    sleep(CHECK).await;
                }
            }),
            Err(e) => tracing::error!(
                error = %e,
                "cannot start the runtime of the Sentinel watcher: failovers are noticed only \
                 when the old master's connections close"
            ),
        });
    if let Err(e) = started {
        tracing::error!(
            error = %e,
            "cannot start the Sentinel watcher thread: failovers are noticed only when the old \
             master's connections close"
        );
    }
}

/// Follows the failover events that the sentinel at `addr` publishes.
async fn watch_one(weak: Weak<SentinelTarget>, addr: ConnectionAddr) {
    let mut failures = 0_u32;
    loop {
        let Some(target) = weak.upgrade() else {
            return;
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<PushInfo>();
        let mut conn = match subscribe(&target, &addr, tx).await {
            Ok((conn, master)) => {
                failures = 0;
                if let Some(master) = master {
                    if target.failover().named(master) {
                        tracing::info!(
                            master = target.master_name(),
                            "Redis Sentinel: the master changed; reconnecting"
                        );
                    }
                }
                conn
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(
                        error = %e,
                        sentinel = %addr,
                        "Redis Sentinel watcher: cannot subscribe to the failover events of a \
                         sentinel; retrying"
                    );
                }
                drop(target);
                sleep(RETRY).await;
                continue;
            }
        };
        drop(target);
        loop {
            match timeout(CHECK, rx.recv()).await {
                Ok(Some(push)) if push.kind == PushKind::Disconnection => break,
                Ok(Some(push)) => {
                    let Some(target) = weak.upgrade() else {
                        return;
                    };
                    handle(&target, &push);
                }
                Ok(None) => break,
                Err(_) => {
                    if weak.strong_count() == 0 {
                        return;
                    }
                    if cmd("PING").query_async::<Value>(&mut conn).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// The failover events the watcher follows.
const EVENTS: &[&str] = &["+failover-state-send-slaveof-noone", "+switch-master"];

/// Subscribes to the failover events on the sentinel at `addr`; answers its connection and the
/// master's address (`host:port`) as it names it now.
async fn subscribe(
    target: &SentinelTarget,
    addr: &ConnectionAddr,
    tx: mpsc::UnboundedSender<PushInfo>,
) -> RedisResult<(MultiplexedConnection, Option<String>)> {
    let info = addr.clone().into_connection_info()?;
    let settings = target
        .sentinel_settings()
        .set_protocol(ProtocolVersion::RESP3);
    let client = Client::open(info.set_redis_settings(settings))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(target.connect_timeout()))
        .set_response_timeout(Some(target.command_timeout()))
        .set_push_sender(tx);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    conn.subscribe(EVENTS).await?;
    conn.psubscribe("-failover-abort-*").await?;
    let master: Option<(String, String)> = cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(target.master_name())
        .query_async(&mut conn)
        .await?;
    Ok((conn, master.map(|(host, port)| format!("{host}:{port}"))))
}

/// What a sentinel's event means for the store.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    /// A replica of this master is being promoted.
    Promoting,
    /// This master switched to the address.
    Switched(String),
    /// The failover of this master was abandoned.
    Aborted,
}

fn handle(target: &SentinelTarget, push: &PushInfo) {
    let Some(event) = event(push, target.master_name()) else {
        return;
    };
    let failover = target.failover();
    match event {
        Event::Promoting => {
            tracing::warn!(
                master = target.master_name(),
                "Redis Sentinel: failover under way; session requests fail until the new \
                 master is named (at most {PAUSE_LIMIT:?})"
            );
            failover.pause();
        }
        Event::Switched(to) => {
            failover.resume();
            if failover.named(to.clone()) {
                tracing::info!(
                    master = target.master_name(),
                    %to,
                    "Redis Sentinel: +switch-master; reconnecting to the new master"
                );
            }
        }
        Event::Aborted => {
            tracing::warn!(
                master = target.master_name(),
                "Redis Sentinel: the failover was aborted; the master stays"
            );
            failover.resume();
        }
    }
}

/// The event of master `name` that `push` carries, if any. Payloads: `+switch-master`
/// `<name> <old ip> <old port> <new ip> <new port>`; other events `<type> <instance> <ip>
/// <port> @ <master name> <ip> <port>` about an instance of a master, or
/// `master <name> <ip> <port>` about a master itself.
fn event(push: &PushInfo, name: &str) -> Option<Event> {
    let (channel, payload) = match (push.kind.clone(), push.data.as_slice()) {
        (PushKind::Message, [Value::BulkString(channel), Value::BulkString(payload)])
        | (PushKind::PMessage, [_, Value::BulkString(channel), Value::BulkString(payload)]) => {
            (channel, payload)
        }
        _ => return None,
    };
    let channel = std::str::from_utf8(channel).ok()?;
    let words: Vec<&str> = std::str::from_utf8(payload).ok()?.split(' ').collect();
    let master = match words.iter().position(|w| *w == "@") {
        Some(at) => words.get(at + 1).copied(),
        None if words.first() == Some(&"master") => words.get(1).copied(),
        None => words.first().copied(),
    };
    if master != Some(name) {
        return None;
    }
    match channel {
        "+switch-master" => match words.as_slice() {
            [_, _, _, host, port] => Some(Event::Switched(format!("{host}:{port}"))),
            _ => None,
        },
        "+failover-state-send-slaveof-noone" => Some(Event::Promoting),
        abort if abort.starts_with("-failover-abort") => Some(Event::Aborted),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: &str, payload: &str) -> PushInfo {
        PushInfo {
            kind: PushKind::Message,
            data: vec![
                Value::BulkString(channel.as_bytes().to_vec()),
                Value::BulkString(payload.as_bytes().to_vec()),
            ],
        }
    }

    #[test]
    fn a_switch_of_this_master_names_the_new_address() {
        let push = message("+switch-master", "sessions 10.0.0.1 6379 10.0.0.2 6380");
        assert_eq!(
            event(&push, "sessions"),
            Some(Event::Switched("10.0.0.2:6380".to_owned()))
        );
        assert_eq!(event(&push, "other"), None, "another master's switch");
        let other = message("+sdown", "master sessions 10.0.0.1 6379");
        assert_eq!(event(&other, "sessions"), None);
    }

    #[test]
    fn a_promotion_and_an_abort_of_this_master_are_told_apart() {
        let promoting = message(
            "+failover-state-send-slaveof-noone",
            "slave 10.0.0.2:6380 10.0.0.2 6380 @ sessions 10.0.0.1 6379",
        );
        assert_eq!(event(&promoting, "sessions"), Some(Event::Promoting));
        assert_eq!(event(&promoting, "other"), None);
        let aborted = PushInfo {
            kind: PushKind::PMessage,
            data: vec![
                Value::BulkString(b"-failover-abort-*".to_vec()),
                Value::BulkString(b"-failover-abort-no-good-slave".to_vec()),
                Value::BulkString(b"master sessions 10.0.0.1 6379".to_vec()),
            ],
        };
        assert_eq!(event(&aborted, "sessions"), Some(Event::Aborted));
    }

    #[test]
    fn a_pause_makes_connections_stale_and_a_switch_ends_it() {
        let failover = Failover::default();
        assert!(
            !failover.named("10.0.0.1:6379".to_owned()),
            "the first name"
        );
        assert_eq!(failover.switches(), 0);
        failover.pause();
        assert!(failover.under_way());
        assert_eq!(
            failover.switches(),
            1,
            "no more commands on the old connections"
        );
        failover.resume();
        assert!(failover.named("10.0.0.2:6380".to_owned()));
        assert!(!failover.under_way());
        assert_eq!(failover.switches(), 2);
        assert!(
            !failover.named("10.0.0.2:6380".to_owned()),
            "another sentinel, same news"
        );
        assert_eq!(failover.switches(), 2);
    }
}
