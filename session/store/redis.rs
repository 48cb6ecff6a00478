//! [`RedisStore`]: sessions in Redis, Redis Cluster or a Sentinel-watched master, in
//! connect-redis's layout.

mod bases;
mod builder;
mod conn;
mod events;
mod index;
mod indexed;
mod options;
mod scan;
mod script;
mod sentinel;
#[cfg(feature = "redis-rustls")]
mod tls;
mod ttl;

use std::{
    fmt,
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use ::redis::{cluster::ClusterClient, cmd, Client, Cmd, IntoConnectionInfo, Pipeline, Value};
use futures_util::future::Either;
use time::OffsetDateTime;

pub use self::builder::RedisStoreBuilder;
use self::{
    conn::{Connections, Target},
    events::shadow_key,
    options::{connection_infos, invalid_config, SentinelSource, Source},
    script::Shadow,
    ttl::{follow_ttl, millis, plain_renewal_ttl, renewal_due},
};
#[cfg(doc)]
use crate::store::{OverLimit, SessionEnd, StoreErrorKind};
use crate::{
    record::{now_ms, ChangeSet, Fields, Record, SessionCookie},
    store::{
        EndListener, EndReason, IndexKey, IndexSpec, IndexedSession, SaveOutcome, SaveRequest,
        SessionStart, SessionStore, StartListener, StoreError,
    },
};

/// Sessions in Redis (a single server, a Redis Cluster, or the master that Redis Sentinel
/// watches), shared by every app server that uses the same Redis.
///
/// # Key layout (connect-redis's)
///
/// A session is one string key, `<prefix><id>` (prefix `sess:` by default), holding the
/// express-session JSON of the record:
/// `{"cookie":{"originalMaxAge":60000,"expires":"2026-11-25T16:58:00.603Z","httpOnly":true,"path":"/"},"user":"bob"}`.
/// That is what Node's connect-redis reads and writes, so a Node app and this crate can share
/// sessions.
///
/// # Expiry
///
/// The key's TTL follows the cookie: it expires at `cookie.expires` (set with `PX`, to the
/// millisecond), or, for a cookie without expiry (a browser-session cookie), after the
/// [default TTL](RedisStoreBuilder::default_ttl) (one day), renewed by every save and touch. A
/// write whose cookie has already expired ends the session (`DEL`).
///
/// The key's TTL is the truth. connect-redis touches a session with `EXPIRE` alone, so a session
/// that a Node app keeps alive carries a stale `cookie.expires` in its JSON; [`load`] answers
/// such a record with `expires` moved to the key's own expiry (read with `PTTL` in the same round
/// trip) whenever the two differ by more than a second, or the stored one has passed. A session
/// is therefore alive here exactly as long as Node (and Redis) consider it alive.
///
/// [`load`]: SessionStore::load
///
/// # Round trips and atomicity
///
/// | operation | Redis round trips |
/// |---|---|
/// | `load` | 1 (a Lua script: `GET` and `PTTL`) |
/// | `save`, new session | 1 (`SET … NX PX`: a taken id answers [`SaveOutcome::Conflict`]) |
/// | `save`, change set | 1 (after a read on the same thread, a compare-and-set: `SET … IFEQ … PX` on Valkey 8.1 and Redis 8.4, a script before them; otherwise a Lua script that reads, merges the changed fields and writes, atomically) |
/// | `touch` | 1 (a Lua script: read, renew `cookie.expires`, write) |
/// | `load_touched` (a request's first read) | 1 (`PTTL` and `GETEX … PX`, pipelined, no script; 2 when the session's lifetime differs from the last renewal's: `PEXPIRE`; with session end events, or lifetimes under a second, a Lua script: `GET`, `PTTL`, `PEXPIRE`); answers the record as it was |
/// | `load_touched` with [`touch_after`](RedisStoreBuilder::touch_after) | 1 (`GET` and `PTTL`, pipelined, no script) while the last renewal is younger than the interval; then 2 (the same, and the renewing read above) |
/// | `destroy` | 1 (`DEL`; with session end events, a script that also claims the shadow) |
/// | `len`, `ids`, `clear` | `SCAN` pages (never `KEYS`), on every master of a cluster |
/// | with indexes: see "Indexes" below | |
///
/// `load_touched` renews a session as connect-redis's touch does, by moving its key's TTL alone
/// (to the cookie's `originalMaxAge`, or the default TTL for a browser-session cookie), read
/// from the start of the stored JSON (`{"cookie":{"originalMaxAge":…`, as express and this crate
/// write it) without decoding it. Without end events, `GETEX` sets the lifetime that the last
/// renewal gave (an app's sessions mostly share one) in the round trip that reads the session,
/// and a session with another lifetime gets its own by `PEXPIRE` right after; `GETEX` never
/// creates a key. With end events (whose shadow key is rewritten with the session), and for
/// lifetimes under a second, a script reads and renews in one atomic step. The `cookie.expires`
/// stored in the JSON then goes stale, which every load corrects from the key's TTL (see
/// Expiry). A record laid out otherwise is renewed as [`touch`] does: its cookie's `expires` is
/// rewritten in the JSON.
///
/// [`touch`]: SessionStore::touch
///
/// With session end events, a new session is created by a script (the key and its shadow), and
/// the other writes keep the shadow in the same script: still one round trip each.
///
/// A script is sent by its SHA1 (`EVALSHA`); a server that does not know it yet (first use, or
/// after a restart) costs two more round trips, once.
///
/// A save applies only the changed fields on top of what Redis holds at that moment, so
/// concurrent requests that change different fields of one session all survive. A save of a
/// session that is no longer stored answers [`SaveOutcome::Gone`] and writes nothing: a destroyed
/// session is never brought back. The scripts edit the stored JSON as text rather than decode and
/// re-encode it (cjson would rewrite numbers, escapes and key order): the fields a request did not
/// change keep their exact bytes and their order; only the spacing between top-level members is
/// normalized.
///
/// A save that follows a read of the same session on the same worker thread (the usual request:
/// `load_touched`, then `save`) does that merge in Rust instead, on the JSON it read (each thread
/// keeps the last JSON it read for at most 256 sessions and 1 MiB in all, oldest evicted, and
/// none over 64 KiB, whose saves the merging script does on the changes alone), and writes the
/// result only if the key still holds exactly that JSON (compare-and-set). A key that is gone
/// is not written ("gone"); a key that holds another JSON is merged onto and tried again (three
/// attempts in all, then the merging script). Redis then decodes no JSON for the save.
///
/// The compare-and-set is the server's own `SET key merged IFEQ read PX ttl` where it has one
/// (Valkey 8.1 and later and Redis 8.4 and later; the tests run against Valkey 8.1 and Redis
/// 8.6), with no script.
/// It answers `OK` or nil; when nil, a `GET` tells a gone key from a changed one. A server
/// without it answers the first such save with a syntax error, and from then on the store sends
/// a compare-and-set script instead, which answers "gone" or what the key holds in the same
/// round trip. With session end events (whose shadow key is rewritten with the session) the
/// script is always used.
///
/// Either way the result is byte for byte what the merging script would write: the Rust merge is
/// used only on a record in the layout this crate and express write (cookie first, no spacing
/// between members, keys escaped as `JSON.stringify` does, no duplicate keys), and anything else
/// is left to the script.
///
/// # Indexes: who is signed in where
///
/// With [`RedisStoreBuilder::index`] (or [`indexes`](RedisStoreBuilder::indexes),
/// [`index_limit`](RedisStoreBuilder::index_limit)) the store keeps, for each value of an indexed
/// field, the sessions that hold it, for [`SessionStore::sessions_by`],
/// [`SessionStore::count_by`] and [`SessionStore::end_sessions_by`]:
///
/// | key | type | holds |
/// |---|---|---|
/// | `<prefix><id>` | string | the session (connect-redis's layout, above) |
/// | `<prefix>index:<field>:<value>`, e.g. `sess:index:user:"alice"` | sorted set | member: the id of a session whose `<field>` holds `<value>`; score: the millisecond it got the value |
///
/// `<value>` is the value's canonical JSON text ([`IndexKey::value_json`]: a string keeps its
/// quotes, `7` is `7`). An index key's TTL is kept at least as long as the longest TTL of its
/// sessions: every write of a session that holds an indexed value, and every renewal of one,
/// raises it when it is lower. Once every session of a value has expired, its key has too:
/// Redis holds no index key for sessions that are gone. `len`, `ids` and `clear` leave the index
/// keys out of the sessions (`clear` deletes them too).
///
/// **Writes.** On a single server (and behind Sentinel) a write that gives a session an indexed
/// value, changes it or removes it updates the index in the same Lua script, atomically: a create
/// with an indexed value, and every update of a store with indexes, which is a compare-and-set
/// on the JSON this thread last read of the session (or read first: one more round trip), so
/// that the store knows the value it replaces. A destroy (or regenerate, revoke, clear) removes
/// the session from its index keys right after the script that ends it, from the record that
/// script answers (one more round trip). In a Redis Cluster the session and its index keys are on
/// different nodes: a write lists the session under its new value before it writes the session,
/// and removes it from the old value after.
///
/// **Reads verify.** `sessions_by`, `count_by`, `end_sessions_by` and the limit checks read
/// every session listed under the value (one pipeline on a single server, concurrent reads in a
/// cluster), answer only those still stored that hold the value, oldest first, and drop the
/// others from the key. So a reader never sees a stale entry, whatever left it (an end not
/// reported, a Node app's destroy, a crash between the steps of a cluster write). In a cluster
/// an entry is dropped only once it is 5 s old, since a write in flight lists a session just
/// before it stores it; a younger one is only not shown.
///
/// **Limits.** On a single server the limit is checked in the write's script, after the value's
/// sessions have been verified: concurrent logins on any number of app servers never exceed it.
/// With [`OverLimit::EndOldest`] the script ends the sessions that got the value earliest, and
/// each is reported once, as [`EndReason::Displaced`]. In a Redis Cluster the limit is checked
/// just before the write, from the verified sessions, and logins of one value that race on
/// several app servers can each find room. With [`OverLimit::EndOldest`] each login counts again
/// after its write and ends the oldest sessions beyond the limit, so the value is back at its
/// limit once the racing logins are done (a login that succeeded can then be displaced at once
/// by a racing one that got the value after it). With [`OverLimit::Refuse`] a new session
/// (a login through [`Session::cycle_id`](crate::Session::cycle_id) or `regenerate`) counts
/// again after its write: of racing logins the earliest keep the places, and the others are
/// deleted again, unreported, and answer [`SaveOutcome::Refused`] (a reader may list one of them
/// for the few milliseconds in between). In a test, 20 logins at once on two app servers under
/// a limit of 2 left exactly 2, in 5 runs out of 5. An update that gives an existing session the
/// value is checked before its write only: updates that race can exceed the limit by one each.
///
/// **Ends.** `end_sessions_by` ends each session through the same script as a destroy, so each
/// is reported once, as [`EndReason::Revoked`], even when app servers revoke the same value at
/// once; it answers how many sessions this call ended. An expiry leaves the index as it is
/// reported: with session end events, the listener that claims it removes it from its index
/// keys; without, the next read of the index drops it, and the index key's TTL frees the memory.
///
/// **Round trips.** A first read (or `touch`) that renews a session holding an indexed value
/// costs one more round trip (raising its index keys' TTL); with
/// [`touch_after`](RedisStoreBuilder::touch_after), only when it renews. A session without an
/// indexed value costs nothing more. `sessions_by` costs two round trips on a single server
/// (`ZRANGE`, then one pipeline of reads), plus one when it drops stale entries.
///
/// **Node apps sharing the sessions** (express-session and connect-redis) do not maintain the
/// index. A session that Node destroys (`DEL`) stays listed in Redis until the next read of its
/// value drops it, and is never shown. A session in which Node sets the field (a login on the
/// Node side) is not listed until this store writes it (any write of a session lists it under
/// the values it holds). A session in which Node changes the field is not shown under the old
/// value, and not listed under the new one until this store writes it. A value that Node writes
/// with other spacing or escapes is found by its canonical key.
///
/// A store without end events ends a session with `GETDEL` (Redis 6.2 or later) to know which
/// index keys it leaves.
///
/// # Connections
///
/// A `RedisStore` is a cheap-clone handle (`Send + Sync`). Each worker thread gets its own
/// multiplexed connection on first use, driven by that worker's own runtime, so no command hops
/// threads; a handle cloned in `main()` and moved into `HttpServer::new` works as well. A
/// connection that fails is replaced by a new one on the next command, so the app serves sessions
/// again as soon as Redis is back, without a restart.
///
/// # Failures
///
/// Every command answers within the [command timeout](RedisStoreBuilder::command_timeout) (500 ms
/// by default). An unreachable or timed-out Redis is a [`StoreErrorKind::Unavailable`] error, which
/// the middleware answers with `503 Service Unavailable`; a request that does not use its session
/// is not affected. From that failure on the store is known to be down
/// ([`SessionStore::is_ready`] answers `false`): requests get no session and make no Redis call,
/// so a hung Redis costs them nothing, except for one request every 200 ms that probes Redis; the
/// first probe that succeeds brings sessions back. A read or renewal whose connection went stale
/// (Redis restarted since its last use) is tried once more on a fresh connection. A value under a session key that is not a session record is
/// [`StoreErrorKind::Corrupt`].
///
/// # Redis Cluster
///
/// [`RedisStore::cluster`] connects to a cluster. A session is a single key, so every command of
/// one session goes to one slot; `len`, `ids` and `clear` scan every master. An index key is a
/// key of its own, on the slot of its name (see "Indexes" for what that changes).
///
/// # TLS and credentials
///
/// With the feature `redis-rustls`, a `rediss://` URL connects with TLS (rustls): the server's
/// certificate must chain to a root the system trusts, or to the private CA given with
/// [`RedisStoreBuilder::tls_ca_cert`]; [`RedisStoreBuilder::tls_client_cert`] presents a client
/// certificate (mutual TLS, `tls-auth-clients yes`). Both apply to every TLS connection of the
/// store: a server, every node of a cluster, the sentinels and the master behind them. The PEM
/// files are checked when the store is built, and a failed handshake is an
/// [`StoreErrorKind::Unavailable`](crate::store::StoreErrorKind::Unavailable) error that names the
/// certificate problem (e.g. `invalid peer certificate: UnknownIssuer`);
/// [`RedisStoreBuilder::connect`] makes it a start-up error. An ACL user goes in the URL,
/// `redis://user:password@host`; refused credentials are an error that says so (and does not
/// repeat the password).
///
/// # Sentinel
///
/// [`RedisStore::sentinel_builder`] connects to the master that Redis Sentinel watches under a
/// name. Each new connection asks the sentinels where the master is, and a thread of the store
/// (`sentinel-watch`) follows the failover events of every sentinel:
///
/// - When the leading sentinel starts promoting a replica (`+failover-state-send-slaveof-noone`,
///   a timer tick before it sends `REPLICAOF NO ONE`), the store stops sending commands to the
///   old master: writes it accepted from then on would never reach the new one. Session
///   requests fail with `503` until the switch, for at most 10 s.
/// - On `+switch-master`, every connection is replaced by one to the new master, and the
///   session end listener subscribes there (enabling `notify-keyspace-events` on it, as at
///   start) and sweeps the ends it may have missed.
///
/// Measured on one machine (tests/redis_sentinel.rs, a request every 10 ms during
/// `SENTINEL FAILOVER`, default timeouts): requests failed with `503` for 1.2–1.3 s, the
/// sentinels named the new master 1.3–1.4 s after the failover was asked for, and no
/// acknowledged write was lost. After a `SIGKILL` of the master (`down-after-milliseconds`
/// 2000), requests failed for 3.3 s. Replication is asynchronous: a write acknowledged by the old
/// master that had not reached the replica when it was promoted is lost (after a crash, those
/// of the last moments before it; `min-replicas-to-write` bounds them on the server), and a
/// session then comes back as it was before that write.
///
/// # Session end events
///
/// [`RedisStoreBuilder::on_session_end`] registers a callback that receives every session that
/// ends, as a [`SessionEnd`]: expired, destroyed, regenerated (the old id) or cleared, **exactly
/// once in total** across every app server (every `RedisStore`, in any process) that shares the
/// Redis or Redis Cluster, with the session's last stored record.
///
/// - **Shadows.** Every write of a session also writes its *shadow*, `{sess:<id>}:end`: a copy of
///   the record whose TTL is the session's plus a [grace](RedisStoreBuilder::end_grace) (one
///   day). Its hash tag puts it on the session key's cluster slot, so one script writes both
///   (still one round trip); the session key stays `sess:<id>` for connect-redis. The shadows
///   double the memory the sessions take in Redis.
/// - **One claim.** An end is reported by whoever atomically claims (reads and deletes) the
///   shadow: a destroy, regeneration or clear by the store that did it, in the same script that
///   deletes the key; an expiry by the first listener that claims it once the key is gone.
/// - **Expiries.** Each store with a callback runs a listener thread (`session-end-events`,
///   its own runtime) subscribed to keyevent notifications of expired keys
///   (`__keyevent@<db>__:expired`) on the server, or on every master of a cluster (they are
///   node-local). Redis announces an expiry only when it deletes the key, which its sampling of
///   keys with a TTL does some time after the instant; so each store also claims the sessions
///   *it* wrote at their expiry instant (a priority queue, O(log n) per write, of the 100,000
///   nearest expiries: a session beyond them is reported from the notification). Measured (500
///   sessions, three app servers, two shared cores): reported p50 3 ms, p99 5 ms, at most 8 ms
///   after the instant when the app server that last wrote the session runs; from the
///   notification alone (that app server gone), p50 130–200 ms, p99 0.6–0.9 s, at most 1 s,
///   more in a large keyspace (Redis's `hz` setting makes it sample more often).
/// - **Missed ends.** Shadows whose session key is gone are the to-do list: the listener sweeps
///   them (`SCAN`, never `KEYS`) at start, after every reconnection and every
///   [30 s](RedisStoreBuilder::end_sweep_interval), and reports them as expired. At most
///   100,000 expiry notifications wait for the listener; beyond that (a mass expiry) they are
///   dropped and the listener sweeps as soon as it has handled the others. Ends that
///   happen while no app server runs are reported when one starts, within the grace.
/// - **Start-up.** The listener needs `notify-keyspace-events` to include `Ex`; it adds them with
///   `CONFIG SET` (keeping the flags already set) at start and after every reconnection. A server
///   that refuses `CONFIG` (managed Redis often does) must be configured so: it is then checked
///   with a probe key, and otherwise [`RedisStoreBuilder::try_build`] fails with an error that
///   says what to configure. Never silent loss.
/// - **Reconnection.** The listener reconnects when Redis restarts, enables notifications again,
///   subscribes again and sweeps; it stops when the last clone of the store is dropped.
/// - **Limits.** A session that only Node (connect-redis) ever wrote has no shadow and is not
///   reported. A session deleted by another program (`DEL`, connect-redis's destroy) is reported
///   as expired by the next sweep. An end that nobody reports within the grace (every app server
///   down longer than that) is lost with its shadow. The callback runs on the listener thread
///   (expiries) or on the thread that ended the session; keep it quick.
///
/// # Example
///
/// ```no_run
/// use actix_typed_session::{RedisStore, SessionMiddleware};
/// use actix_web::{App, HttpServer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379")?
///     .key_prefix("myapp:sess:")
///     .build();
/// HttpServer::new(move || {
///     App::new().wrap(SessionMiddleware::new(store.clone(), "keyboard cat"))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await?;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    default_ttl: Duration,
    max_record_bytes: usize,
    /// With [`RedisStoreBuilder::touch_after`]: a first read renews the key only when its last
    /// renewal is at least this old (milliseconds).
    touch_after_ms: Option<i64>,
    conns: Connections,
    events: Option<Events>,
    /// The fields this store indexes (see [`index`]).
    indexes: Vec<IndexSpec>,
    on_start: Option<StartListener>,
    /// The TTL the last renewal by a first read gave a key (at first the default TTL), which the
    /// next one guesses for its session (see [`RedisStore::load_renewed_plain`]).
    renewal_guess_ms: AtomicI64,
    /// Whether a compare-and-set save tries the server's own conditional write (`SET … IFEQ`)
    /// before the script; cleared the first time the server rejects it as a syntax error.
    set_ifeq: AtomicBool,
}

/// Session end events: the callback, the shadows' grace, and the listener (stopped when the
/// last clone of the store drops this).
struct Events {
    listener: EndListener,
    grace_ms: i64,
    handle: events::Handle,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match self.inner.conns.target() {
            Target::Single(_) => "single",
            Target::Cluster(_) => "cluster",
            Target::Sentinel(_) => "sentinel",
        };
        f.debug_struct("RedisStore")
            .field("target", &target)
            .field("key_prefix", &self.inner.prefix)
            .field("default_ttl", &self.inner.default_ttl)
            .field("max_record_bytes", &self.inner.max_record_bytes)
            .field("touch_after_ms", &self.inner.touch_after_ms)
            .field("connect_timeout", &self.inner.conns.connect_timeout())
            .field("command_timeout", &self.inner.conns.command_timeout())
            .field("session_end_events", &self.inner.events.is_some())
            .field("indexes", &self.inner.indexes)
            .field("session_start_events", &self.inner.on_start.is_some())
            .finish()
    }
}

impl RedisStore {
    /// Sends a compare-and-set script that writes `merged` to `key`, and answers what the script
    /// answered.
    ///
    /// This thread's commands reach Redis in the order they are sent, on one connection: a save
    /// of the same session sent after this one finds what this one writes, so `merged` is the
    /// base from now on (a wrong guess costs that save a retry, never a wrong write). A failed
    /// send forgets the base.
    pub(super) async fn send_compare_and_set(
        &self,
        key: &str,
        invocation: ::redis::ScriptInvocation<'static>,
        merged: String,
        fields: Option<Fields>,
    ) -> Result<Value, StoreError> {
        bases::begin_write(key, merged.into_bytes(), fields);
        let answer = self
            .inner
            .conns
            .run("save", |mut c| async move {
                invocation.invoke_async::<Value>(&mut c).await
            })
            .await;
        bases::end_write(key);
        if answer.is_err() {
            bases::forget(key);
        }
        answer
    }

    /// Writes `merged` to `key` with the server's own compare-and-set, `SET key merged IFEQ base
    /// PX ttl` (no script; sessions without end events), keeping `merged` as the thread's base
    /// like [`send_compare_and_set`](Self::send_compare_and_set). The answer is `OK` or nil
    /// alone, never the value (`GET` beside `IFEQ` answers differently across servers).
    async fn send_set_if_equal(
        &self,
        key: &str,
        base: &[u8],
        merged: String,
        fields: Fields,
        ttl: i64,
    ) -> Result<SetIfEqual, StoreError> {
        let mut set = command(
            "SET",
            6,
            key.len() + merged.len() + base.len() + 6 + I64_DIGITS,
        );
        set.arg(key)
            .arg(merged.as_bytes())
            .arg("IFEQ")
            .arg(base)
            .arg("PX")
            .arg(ttl);
        bases::begin_write(key, merged.into_bytes(), Some(fields));
        let answer = self
            .inner
            .conns
            .run("save", |mut c| async move {
                match set.query_async::<Value>(&mut c).await {
                    Err(e) if rejects_syntax(&e) => Ok(None),
                    answer => answer.map(Some),
                }
            })
            .await;
        bases::end_write(key);
        let outcome = match answer {
            Ok(Some(Value::Okay)) => return Ok(SetIfEqual::Written),
            Ok(Some(Value::Nil)) => Ok(SetIfEqual::NotWritten),
            Ok(None) => Ok(SetIfEqual::Unsupported),
            Ok(Some(other)) => Err(StoreError::corrupt(format!(
                "an unexpected answer to `SET … IFEQ`: {other:?}"
            ))),
            Err(e) => Err(e),
        };
        // Nothing written, or not known to be: the base is no longer known here.
        bases::forget(key);
        outcome
    }

    /// A store on the Redis server at `url`, with the default settings. Nothing connects until
    /// the first command.
    ///
    /// The URL is the `redis` crate's: `redis://[[user]:password@]host[:port][/db]`, or
    /// `rediss://` for TLS (feature `redis-rustls`; the server's certificate must chain to a
    /// root the system trusts, or to the CA given with
    /// [`RedisStoreBuilder::tls_ca_cert`]). An ACL user is `redis://user:password@host`, a
    /// `requirepass` password `redis://:password@host`. Percent-encode reserved characters of
    /// a password (`@` as `%40`).
    ///
    /// # Errors
    ///
    /// The URL is not a valid Redis URL, or it is `rediss://` and this build has no TLS (the
    /// error says to enable `redis-rustls`).
    pub fn new(url: &str) -> Result<Self, StoreError> {
        Ok(Self::builder(url)?.build())
    }

    /// A builder for a store on the Redis server at `url`.
    ///
    /// # Errors
    ///
    /// The URL is not a valid Redis URL.
    pub fn builder(url: &str) -> Result<RedisStoreBuilder, StoreError> {
        let client = Client::open(url).map_err(invalid_config)?;
        Ok(Self::from_client(client))
    }

    /// A builder for a store that connects with an existing `redis` client.
    pub fn from_client(client: Client) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Source::Single(client))
    }

    /// A store on the Redis Cluster reached through `nodes` (some of its nodes' URLs), with the
    /// default settings. Nothing connects until the first command.
    ///
    /// # Errors
    ///
    /// A URL is not a valid Redis URL.
    pub fn cluster<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> Result<Self, StoreError> {
        Ok(Self::cluster_builder(nodes)?.build())
    }

    /// A builder for a store on the Redis Cluster reached through `nodes`.
    ///
    /// # Errors
    ///
    /// A URL is not a valid Redis URL.
    pub fn cluster_builder<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> Result<RedisStoreBuilder, StoreError> {
        let nodes = connection_infos(nodes)?;
        // Checked now (no node, mixed schemes); built again with the TLS settings.
        ClusterClient::new(nodes.clone()).map_err(invalid_config)?;
        Ok(RedisStoreBuilder::new(Source::ClusterNodes(nodes)))
    }

    /// A builder for a store that connects with an existing Redis Cluster client.
    pub fn from_cluster_client(client: ClusterClient) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Source::ClusterClient(Box::new(client)))
    }

    /// A builder for a store on the master that Redis Sentinel watches under `master_name`,
    /// found through `sentinels` (the sentinels' URLs, e.g.
    /// `redis://:sentinel-password@10.0.0.1:26379`, or `rediss://` when they speak TLS).
    /// Nothing connects until the first command.
    ///
    /// Every new connection asks the sentinels where the master is (and checks that it answers
    /// `ROLE` as a master). After a failover the sentinels reconfigure the old master and close
    /// its clients' connections; the store then connects to the new master on the next
    /// command, without a restart, and session end events follow it (see
    /// [`RedisStore`]'s "Sentinel"). The master's own credentials, database and TLS are
    /// [`master_auth`](RedisStoreBuilder::master_auth),
    /// [`master_db`](RedisStoreBuilder::master_db) and `master_tls`.
    ///
    /// ```no_run
    /// use actix_typed_session::RedisStore;
    ///
    /// # async fn make() -> Result<RedisStore, actix_typed_session::store::StoreError> {
    /// let store = RedisStore::sentinel_builder(
    ///     ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"],
    ///     "mymaster",
    /// )?
    /// .master_auth(Some("app"), "app-password")
    /// .connect() // asks the sentinels, then PINGs the master
    /// .await?;
    /// # Ok(store)
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A URL is not a valid Redis URL, or there is none.
    pub fn sentinel_builder<T: IntoConnectionInfo>(
        sentinels: impl IntoIterator<Item = T>,
        master_name: &str,
    ) -> Result<RedisStoreBuilder, StoreError> {
        let sentinels = connection_infos(sentinels)?;
        if sentinels.is_empty() {
            return Err(StoreError::new(
                crate::store::StoreErrorKind::Other,
                "invalid Redis configuration: Sentinel needs the address of at least one sentinel",
            ));
        }
        Ok(RedisStoreBuilder::new(Source::Sentinel(SentinelSource {
            sentinels,
            master_name: master_name.to_owned(),
            master: options::MasterSettings::default(),
        })))
    }

    /// The prefix of every session key.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The Redis key of session `id`.
    pub fn key(&self, id: &str) -> String {
        // Concatenated directly: `format!` costs several times as much on every request.
        [&*self.inner.prefix, id].concat()
    }

    /// How long the key of a session with cookie `cookie` lives from `now`, in milliseconds.
    fn ttl_ms(&self, cookie: &SessionCookie, now: OffsetDateTime) -> i64 {
        cookie
            .max_age_ms_at(now)
            .unwrap_or_else(|| millis(self.inner.default_ttl))
    }

    /// Every session key (the index keys, under the same prefix, left out).
    async fn keys(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let index_keys = index::keys_prefix(&self.inner.prefix);
        let mut keys = scan::keys(&self.inner.conns, &scan::pattern(&self.inner.prefix)).await?;
        keys.retain(|key| !key.starts_with(index_keys.as_bytes()));
        Ok(keys)
    }

    /// The shadow of session key `key` (see [`events`]), written with it when events are on.
    fn shadow<'k>(&self, shadow_key: &'k Option<String>) -> Option<Shadow<'k>> {
        let events = self.inner.events.as_ref()?;
        Some(Shadow {
            key: shadow_key.as_deref()?,
            grace_ms: events.grace_ms,
        })
    }

    /// The shadow key of session key `key`, when events are on.
    fn shadow_key(&self, key: &str) -> Option<String> {
        self.inner.events.as_ref().map(|_| shadow_key(key))
    }

    /// Reports that a write ended session `id` (its cookie had expired), when the script says so.
    fn ended_by_write(&self, id: &str, answer: &Value) -> bool {
        let (Some(events), Value::Array(parts)) = (&self.inner.events, answer) else {
            return false;
        };
        match parts.as_slice() {
            [Value::BulkString(tag), Value::BulkString(json)] if tag == b"ended" => {
                events.handle.cancel(&self.key(id));
                events::deliver(&events.listener, id, json, EndReason::Expired);
                true
            }
            _ => false,
        }
    }

    /// With events: session key `key` was written to expire in `ttl_ms`; this store's listener
    /// claims it at that instant.
    fn schedule(&self, key: &str, ttl_ms: i64) {
        if let Some(events) = &self.inner.events {
            events.handle.schedule(key, ttl_ms);
        }
    }

    /// With events: session key `key` is no longer stored.
    fn unschedule(&self, key: &str) {
        if let Some(events) = &self.inner.events {
            events.handle.cancel(key);
        }
    }

    /// Saves a change set by compare-and-set on `base`, the JSON this thread last read for `key`
    /// (with its fields when this thread's save wrote it, see [`bases::get_with_fields`]):
    /// merges here and writes if Redis still holds `base`, merging again onto what it holds
    /// instead, up to [`CAS_ATTEMPTS`] times. `None` when `save.lua` must do it (a record this
    /// merge cannot reproduce byte for byte, or too many concurrent writes).
    async fn compare_and_set(
        &self,
        key: &str,
        shadow_key: &Option<String>,
        (mut base, mut fields): (Vec<u8>, Option<Fields>),
        ttl: i64,
        cookie: &SessionCookie,
        changes: &ChangeSet,
    ) -> Result<Option<SaveOutcome>, StoreError> {
        let mut attempts = 0;
        while attempts < CAS_ATTEMPTS {
            let Some((merged, merged_fields)) = bases::merge(&base, fields.take(), cookie, changes)
            else {
                return Ok(None);
            };
            if merged.len() > self.inner.max_record_bytes {
                // Merged onto what this thread last saw: `save.lua` measures what Redis holds.
                return Ok(None);
            }
            if shadow_key.is_none() && self.inner.set_ifeq.load(Ordering::Relaxed) {
                match self
                    .send_set_if_equal(key, &base, merged, merged_fields, ttl)
                    .await?
                {
                    SetIfEqual::Written => return Ok(Some(SaveOutcome::Saved)),
                    SetIfEqual::NotWritten => {
                        attempts += 1;
                        // The key is gone or holds another JSON: read which, and merge onto it.
                        let mut get = cmd("GET");
                        get.arg(key);
                        let now: Option<Vec<u8>> =
                            self.inner.conns.cmd_idempotent("save", &get).await?;
                        let Some(now) = now else {
                            bases::forget(key);
                            return Ok(Some(SaveOutcome::Gone));
                        };
                        bases::remember(key, now.clone());
                        base = now;
                    }
                    SetIfEqual::Unsupported => {
                        tracing::debug!(
                            "Redis has no `SET … IFEQ` (Valkey 8.1 and Redis 8.4 have it): \
                             saves use the compare-and-set script"
                        );
                        self.inner.set_ifeq.store(false, Ordering::Relaxed);
                        // Nothing was written (not an attempt): merge onto the same base again,
                        // for the script.
                    }
                }
                continue;
            }
            attempts += 1;
            let invocation = script::cas(key, self.shadow(shadow_key), &base, &merged, ttl);
            match self
                .send_compare_and_set(key, invocation, merged, Some(merged_fields))
                .await?
            {
                Value::Int(0) => {
                    bases::forget(key);
                    self.unschedule(key);
                    return Ok(Some(SaveOutcome::Gone));
                }
                Value::Int(_) => {
                    self.schedule(key, ttl);
                    return Ok(Some(SaveOutcome::Saved));
                }
                Value::BulkString(now) => {
                    bases::remember(key, now.clone());
                    base = now;
                }
                other => {
                    return Err(StoreError::corrupt(format!(
                        "an unexpected answer to `save`: {other:?}"
                    )))
                }
            }
        }
        Ok(None)
    }

    /// Stores a new session (its shadow too, with events); `Conflict` when the id is taken.
    async fn create(
        &self,
        key: &str,
        shadow_key: &Option<String>,
        json: &str,
        ttl: i64,
    ) -> Result<SaveOutcome, StoreError> {
        if let Some(shadow) = self.shadow(shadow_key) {
            let invocation = script::create(key, shadow, json, ttl);
            let created: i64 = self
                .inner
                .conns
                .run("create", |mut c| async move {
                    invocation.invoke_async(&mut c).await
                })
                .await?;
            if created != 1 {
                return Ok(SaveOutcome::Conflict);
            }
            self.schedule(key, ttl);
            return Ok(SaveOutcome::Saved);
        }
        let mut set = command("SET", 5, key.len() + json.len() + 4 + I64_DIGITS);
        set.arg(key).arg(json).arg("NX").arg("PX").arg(ttl);
        let done: Option<String> = self
            .inner
            .conns
            .run(
                "create",
                |mut c| async move { set.query_async(&mut c).await },
            )
            .await?;
        Ok(match done {
            Some(_) => SaveOutcome::Saved,
            None => SaveOutcome::Conflict,
        })
    }

    /// Applies a change set to a stored session (see [`SaveRequest::Update`]), by
    /// compare-and-set on the JSON this thread last read, or by `save.lua`.
    async fn update(
        &self,
        id: &str,
        key: &str,
        shadow_key: &Option<String>,
        ttl: i64,
        cookie: &SessionCookie,
        changes: &ChangeSet,
    ) -> Result<SaveOutcome, StoreError> {
        if ttl > 0 {
            if let Some(base) = bases::get_with_fields(key) {
                if let Some(outcome) = self
                    .compare_and_set(key, shadow_key, base, ttl, cookie, changes)
                    .await?
                {
                    return Ok(outcome);
                }
            }
        }
        bases::forget(key);
        let invocation = script::save(
            key,
            self.shadow(shadow_key),
            ttl,
            cookie,
            changes,
            self.inner.max_record_bytes,
        );
        let written: Value = self
            .inner
            .conns
            .run("save", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(match written {
            Value::Int(0) => {
                self.unschedule(key);
                SaveOutcome::Gone
            }
            Value::Int(_) => {
                if ttl > 0 {
                    self.schedule(key, ttl);
                }
                SaveOutcome::Saved
            }
            Value::Array(parts)
                if parts.first() == Some(&Value::BulkString(b"too_large".to_vec())) =>
            {
                let size = match parts.get(1) {
                    Some(Value::Int(size)) => usize::try_from(*size).unwrap_or(usize::MAX),
                    _ => usize::MAX,
                };
                return Err(StoreError::too_large(size, self.inner.max_record_bytes));
            }
            ended => {
                if self.ended_by_write(id, &ended) {
                    // The write's expired cookie ended the session: it leaves its index keys.
                    if let Value::Array(parts) = &ended {
                        if let [_, Value::BulkString(json)] = parts.as_slice() {
                            self.unindex(id, json).await?;
                        }
                    }
                }
                SaveOutcome::Saved
            }
        })
    }

    /// Removes session `id` for `reason` (reported with events), and from its index keys;
    /// whether this call removed it.
    async fn end_session(&self, id: &str, reason: EndReason) -> Result<bool, StoreError> {
        let key = self.key(id);
        let Some(events) = &self.inner.events else {
            if self.inner.indexes.is_empty() {
                let removed: i64 = self
                    .inner
                    .conns
                    .run("destroy", |mut c| async move {
                        cmd("DEL").arg(key).query_async(&mut c).await
                    })
                    .await?;
                return Ok(removed > 0);
            }
            // The last record names the index keys to leave (`GETDEL`: Redis 6.2 or later).
            let mut getdel = cmd("GETDEL");
            getdel.arg(&key);
            let last: Option<Vec<u8>> = self
                .inner
                .conns
                .run("destroy", |mut c| async move {
                    getdel.query_async(&mut c).await
                })
                .await?;
            let Some(json) = last else {
                return Ok(false);
            };
            self.unindex(id, &json).await?;
            return Ok(true);
        };
        events.handle.cancel(&key);
        let invocation = script::end(&key, &shadow_key(&key));
        let ended: Option<(i64, Vec<u8>)> = self
            .inner
            .conns
            .run("destroy", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        match ended {
            Some((1, json)) => {
                events::deliver(&events.listener, id, &json, reason);
                self.unindex(id, &json).await?;
                Ok(true)
            }
            // The key had expired, and nobody had reported it yet.
            Some((_, json)) => {
                events::deliver(&events.listener, id, &json, EndReason::Expired);
                self.unindex(id, &json).await?;
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// A request's first read that renews the session's key: the record as it was before the
    /// renewal. Without end events, plain commands
    /// ([`load_renewed_plain`](Self::load_renewed_plain)) unless the last renewal gave a key less
    /// than [`MIN_RENEWAL_GUESS_MS`]; otherwise `load_touched.lua`.
    fn load_renewed<'s, 'i>(
        &'s self,
        id: &'i str,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send + use<'s, 'i> {
        if self.inner.events.is_none() {
            let guess = self.inner.renewal_guess_ms.load(Ordering::Relaxed);
            if guess >= MIN_RENEWAL_GUESS_MS {
                return Either::Left(self.load_renewed_plain(id, guess));
            }
        }
        Either::Right(Box::pin(self.load_renewed_by_script(id)))
    }

    /// [`load_renewed`](Self::load_renewed) by `load_touched.lua`; boxed there, so that the plain
    /// commands' future, which most reads take, is not as large as this one.
    async fn load_renewed_by_script(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let now = now_ms();
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000)
            .expect("the current time fits in milliseconds");
        let key = self.key(id);
        let shadow_key = self.shadow_key(&key);
        let invocation = script::load_renew(
            &key,
            self.shadow(&shadow_key),
            now_ms,
            millis(self.inner.default_ttl),
        );
        let found: Value = self
            .inner
            .conns
            .invoke_idempotent("load", &invocation)
            .await?;
        if self.ended_by_write(id, &found) {
            return Ok(None);
        }
        let found: Option<(Vec<u8>, i64)> = ::redis::from_redis_value(found)
            .map_err(|e| StoreError::corrupt("an unexpected answer to `load`").with_source(e))?;
        let Some((json, pttl_ms)) = found else {
            self.unschedule(&key);
            return Ok(None);
        };
        let mut record = parse(&json)?;
        let renewed_ttl = self.renewed_ttl_ms(&record.cookie, now);
        if self.inner.events.is_some() {
            self.schedule(&key, renewed_ttl);
        } else if let Some(ttl) = plain_renewal_ttl(&json, millis(self.inner.default_ttl)) {
            self.inner.renewal_guess_ms.store(ttl, Ordering::Relaxed);
        }
        self.renew_index_boxed(id, &record, renewed_ttl).await?;
        bases::remember_read(&key, json);
        follow_ttl(&mut record.cookie, pttl_ms, now);
        Ok(Some(record))
    }

    /// [`load_renewed`](Self::load_renewed) without a script, for a store without end events:
    /// `PTTL` and `GETEX … PX guess_ms` in one pipelined round trip, the TTL guessed from the
    /// last renewal (sessions of one app mostly share their cookie's maxAge). A record that
    /// begins as express writes it needs `guess_ms` (its `originalMaxAge`, or the default TTL
    /// for a browser-session cookie, as `load_touched.lua` reads it): done; another lifetime is
    /// set by `PEXPIRE` in a second round trip; any other record is renewed by `touch.lua`, as
    /// the script would have done. `GETEX` never creates a key, and a guess is never under
    /// [`MIN_RENEWAL_GUESS_MS`], so a key that lives shorter than its own lifetime until the
    /// correction lives at least that long.
    ///
    /// The two commands are not one transaction (a Cluster cannot run `MULTI` for a client
    /// that pipelines to the key's node): a write between them makes the answered PTTL that of
    /// the version before it, which only moves the loaded cookie's `expires` by that write's
    /// renewal.
    async fn load_renewed_plain(
        &self,
        id: &str,
        guess_ms: i64,
    ) -> Result<Option<Record>, StoreError> {
        let key = self.key(id);
        // Before the read, so that an expiry derived from the TTL is never later than the key's.
        let now = now_ms();
        let (pttl_ms, json): (i64, Option<Vec<u8>>) = {
            // Dropped after the round trip: the rest of the read does not carry it.
            let pipe = pttl_getex(&key, guess_ms);
            self.inner.conns.pipe_idempotent("load", &pipe).await?
        };
        let Some(json) = json else {
            return Ok(None);
        };
        let mut record = parse(&json)?;
        let renewal = plain_renewal_ttl(&json, millis(self.inner.default_ttl));
        if renewal != Some(guess_ms)
            && !Box::pin(self.correct_renewal(&key, renewal, pttl_ms, now)).await?
        {
            return Ok(None);
        }
        let renewed_ttl = self.renewed_ttl_ms(&record.cookie, now);
        self.renew_index_boxed(id, &record, renewed_ttl).await?;
        bases::remember_read(&key, json);
        follow_ttl(&mut record.cookie, pttl_ms, now);
        Ok(Some(record))
    }

    /// After [`load_renewed_plain`](Self::load_renewed_plain)'s `GETEX` with a guess other than
    /// the session's lifetime `renewal` (as `plain_renewal_ttl` reads it): the key gets its own
    /// lifetime by `PEXPIRE`, or, for a record that `touch.lua` must renew, back the expiry it had
    /// (`pttl_ms`, read at `now`) before the script renews it. `false` when the session is gone
    /// (or the renewal ended it). Boxed by its caller: most reads never come here.
    async fn correct_renewal(
        &self,
        key: &str,
        renewal: Option<i64>,
        pttl_ms: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if let Some(ttl) = renewal {
            let mut pexpire = cmd("PEXPIRE");
            pexpire.arg(key).arg(ttl);
            let _: i64 = self.inner.conns.cmd_idempotent("load", &pexpire).await?;
            self.inner.renewal_guess_ms.store(ttl, Ordering::Relaxed);
            return Ok(true);
        }
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000)
            .expect("the current time fits in milliseconds");
        // `touch.lua` keeps the expiry of a cookie without originalMaxAge: give the key back the
        // expiry it had (never later: `now` is from before the read).
        let mut restore = match pttl_ms {
            -1 => cmd("PERSIST"),
            _ => cmd("PEXPIREAT"),
        };
        restore.arg(key);
        if pttl_ms >= 0 {
            restore.arg(now_ms.saturating_add(pttl_ms));
        }
        if pttl_ms != -2 {
            let _: i64 = self.inner.conns.cmd_idempotent("load", &restore).await?;
        }
        let renewal = script::renew(key, None, now_ms, millis(self.inner.default_ttl));
        let renewed: Option<Vec<u8>> = self.inner.conns.invoke_idempotent("load", &renewal).await?;
        // Gone since the read, or ended by the renewal (an originalMaxAge of 0).
        Ok(renewed.is_some())
    }

    /// A request's first read with [`RedisStoreBuilder::touch_after`]: `GET` and `PTTL` in one
    /// pipelined round trip, no script; only when the key's last renewal is `touch_after_ms` old
    /// or more (`originalMaxAge - PTTL`, or the default TTL for a browser-session cookie), the
    /// renewing read follows ([`load_renewed`](Self::load_renewed)), in a second round trip.
    async fn load_touched_after(
        &self,
        id: &str,
        touch_after_ms: i64,
    ) -> Result<Option<Record>, StoreError> {
        let key = self.key(id);
        let mut get = command("GET", 1, key.len());
        get.arg(&key);
        let mut pttl = command("PTTL", 1, key.len());
        pttl.arg(&key);
        let mut pipe = Pipeline::with_capacity(2);
        pipe.add_command(get).add_command(pttl);
        // Before the read, so that an expiry derived from the TTL is never later than the key's.
        let now = now_ms();
        let (json, pttl_ms): (Option<Vec<u8>>, i64) =
            self.inner.conns.pipe_idempotent("load", &pipe).await?;
        let Some(json) = json else {
            self.unschedule(&key);
            return Ok(None);
        };
        let mut record = parse(&json)?;
        if renewal_due(
            self.renewed_ttl_ms(&record.cookie, now),
            pttl_ms,
            touch_after_ms,
        ) {
            return Box::pin(self.load_renewed(id)).await;
        }
        // Not renewed: the key (and its shadow) keep the expiry of their last write or renewal,
        // which is when this store's listener claims it.
        self.schedule(&key, pttl_ms);
        bases::remember_read(&key, json);
        follow_ttl(&mut record.cookie, pttl_ms, now);
        Ok(Some(record))
    }

    /// The TTL that renewing `cookie` (as stored before the renewal) gave its key.
    fn renewed_ttl_ms(&self, cookie: &SessionCookie, now: OffsetDateTime) -> i64 {
        match cookie.original_max_age_ms() {
            Some(max_age) => max_age,
            None => self.ttl_ms(cookie, now),
        }
    }
}

/// The shortest TTL that a first read guesses for a key (see [`RedisStore::load_renewed_plain`]):
/// shorter lifetimes are renewed by the script, in one atomic step.
const MIN_RENEWAL_GUESS_MS: i64 = 1_000;

/// Command `name`, with room for `args` more arguments of `bytes` bytes in all, so that adding
/// them allocates nothing (`redis::cmd` grows its buffers argument by argument).
fn command(name: &str, args: usize, bytes: usize) -> Cmd {
    let mut command = Cmd::with_capacity(1 + args, name.len() + bytes);
    command.arg(name);
    command
}

/// `PTTL key` and `GETEX key PX guess_ms`, pipelined. Built outside the read's `async fn`, whose
/// future would otherwise keep room for both commands beside the pipeline they are moved into
/// (144 bytes, enough to push the future the store boxes for every read past glibc's per-thread
/// cache of blocks up to 1,032 bytes).
fn pttl_getex(key: &str, guess_ms: i64) -> Pipeline {
    let mut pttl = command("PTTL", 1, key.len());
    pttl.arg(key);
    let mut getex = command("GETEX", 3, key.len() + 2 + I64_DIGITS);
    getex.arg(key).arg("PX").arg(guess_ms);
    let mut pipe = Pipeline::with_capacity(2);
    pipe.add_command(pttl).add_command(getex);
    pipe
}

/// The most bytes an `i64` argument takes.
const I64_DIGITS: usize = 20;

/// The answer to `SET … IFEQ`.
enum SetIfEqual {
    /// The key held the base: the merged JSON is stored.
    Written,
    /// The key is gone or holds another JSON: nothing was written.
    NotWritten,
    /// The server does not know the option (before Valkey 8.1 and Redis 8.4): nothing was
    /// written.
    Unsupported,
}

/// Whether the server rejected a command's arguments as a syntax error (`ERR syntax error`, what
/// Redis 7 answers to an option it does not know).
fn rejects_syntax(e: &::redis::RedisError) -> bool {
    e.code() == Some("ERR")
        && e.detail()
            .is_some_and(|detail| detail.contains("syntax error"))
}

/// How many times a save by compare-and-set merges onto what Redis holds before leaving the merge
/// to `save.lua`.
const CAS_ATTEMPTS: usize = 3;

fn parse(json: &[u8]) -> Result<Record, StoreError> {
    let text = std::str::from_utf8(json)
        .map_err(|e| StoreError::corrupt("a stored session is not UTF-8").with_source(e))?;
    Record::from_json(text).map_err(|e| StoreError::corrupt(e.to_string()).with_source(e))
}

impl SessionStore for RedisStore {
    /// `false` while Redis is known to be unreachable (an operation timed out or found the
    /// connection refused or dropped), except for one request every 200 ms that probes it; `true`
    /// again as soon as an operation succeeds.
    fn is_ready(&self) -> bool {
        self.inner.conns.health().is_ready()
    }

    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let invocation = script::load(&self.key(id));
        // Before the read, so that an expiry derived from the TTL is never later than the key's.
        let now = now_ms();
        let found: Option<(Vec<u8>, i64)> = self
            .inner
            .conns
            .invoke_idempotent("load", &invocation)
            .await?;
        let Some((json, pttl_ms)) = found else {
            return Ok(None);
        };
        let mut record = parse(&json)?;
        bases::remember_read(&self.key(id), json);
        follow_ttl(&mut record.cookie, pttl_ms, now);
        Ok(Some(record))
    }

    /// Not an `async fn`: the future is the chosen read's own, so that what the middleware boxes
    /// for each read stays within the allocator's per-thread cache (1,032 bytes) on the common
    /// path (`touch_after`'s read is boxed on its own).
    fn load_touched<'s, 'i>(
        &'s self,
        id: &'i str,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send + use<'s, 'i> {
        match self.inner.touch_after_ms {
            Some(touch_after_ms) => {
                Either::Left(Box::pin(self.load_touched_after(id, touch_after_ms)))
            }
            None => Either::Right(self.load_renewed(id)),
        }
    }

    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        let key = self.key(id);
        let shadow_key = self.shadow_key(&key);
        let ttl = self.ttl_ms(request.cookie(), now_ms());
        match request {
            SaveRequest::Create(record) => {
                let json = record.to_json();
                if json.len() > self.inner.max_record_bytes {
                    return Err(StoreError::too_large(
                        json.len(),
                        self.inner.max_record_bytes,
                    ));
                }
                if ttl <= 0 {
                    // Already expired: there is nothing to keep.
                    return Ok(SaveOutcome::Saved);
                }
                let outcome = if self.inner.indexes.is_empty() {
                    self.create(&key, &shadow_key, &json, ttl).await?
                } else {
                    self.create_indexed(id, &key, &shadow_key, record, &json, ttl)
                        .await?
                };
                if outcome == SaveOutcome::Saved {
                    if let Some(listener) = &self.inner.on_start {
                        listener.deliver(SessionStart::new(id, record.clone()));
                    }
                }
                Ok(outcome)
            }
            SaveRequest::Update { cookie, changes } => {
                if ttl > 0 && !self.inner.indexes.is_empty() {
                    return self
                        .update_indexed(id, &key, &shadow_key, ttl, cookie, changes)
                        .await;
                }
                self.update(id, &key, &shadow_key, ttl, cookie, changes)
                    .await
            }
        }
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.end(id, EndReason::Destroyed).await
    }

    async fn end(&self, id: &str, reason: EndReason) -> Result<(), StoreError> {
        self.end_session(id, reason).await.map(|_| ())
    }

    async fn touch(
        &self,
        id: &str,
        cookie: Option<&SessionCookie>,
    ) -> Result<Option<SessionCookie>, StoreError> {
        let key = self.key(id);
        let now = now_ms();
        if cookie.is_none() && !self.inner.indexes.is_empty() {
            // Renewed as a first read renews, which also renews the session's index keys.
            let Some(record) = self.load_renewed(id).await? else {
                return Ok(None);
            };
            let mut renewed = record.cookie;
            renewed.touch_at(now);
            return Ok(Some(renewed));
        }
        let shadow_key = self.shadow_key(&key);
        let shadow = self.shadow(&shadow_key);
        let invocation = match cookie {
            Some(cookie) => script::touch_with(&key, shadow, self.ttl_ms(cookie, now), cookie),
            None => {
                let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000)
                    .expect("the current time fits in milliseconds");
                script::renew(&key, shadow, now_ms, millis(self.inner.default_ttl))
            }
        };
        let answer: Value = self
            .inner
            .conns
            .invoke_idempotent("touch", &invocation)
            .await?;
        if self.ended_by_write(id, &answer) {
            return Ok(None);
        }
        let json: Option<Vec<u8>> = ::redis::from_redis_value(answer)
            .map_err(|e| StoreError::corrupt("an unexpected answer to `touch`").with_source(e))?;
        let Some(json) = json else {
            self.unschedule(&key);
            return Ok(None);
        };
        if let Some(cookie) = cookie {
            let ttl = self.ttl_ms(cookie, now);
            self.schedule(&key, ttl);
            self.renew_index_after_touch(id, &key, ttl).await?;
            return Ok(Some(cookie.clone()));
        }
        let mut record = b"{\"cookie\":".to_vec();
        record.extend_from_slice(&json);
        record.push(b'}');
        let renewed = parse(&record)?.cookie;
        if self.inner.events.is_some() {
            self.schedule(&key, self.ttl_ms(&renewed, now));
        }
        Ok(Some(renewed))
    }

    async fn len(&self) -> Result<usize, StoreError> {
        Ok(self.keys().await?.len())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        if self.inner.events.is_some() {
            // One session at a time, each reported as cleared (a cluster spreads them over slots).
            for id in self.ids().await? {
                self.end(&id, EndReason::Cleared).await?;
            }
            return self.clear_indexes().await;
        }
        let mut keys = self.keys().await?;
        if !self.inner.indexes.is_empty() {
            let pattern = scan::pattern(&index::keys_prefix(&self.inner.prefix));
            keys.extend(scan::keys(&self.inner.conns, &pattern).await?);
        }
        for batch in keys.chunks(500) {
            let mut del = cmd("DEL");
            for key in batch {
                del.arg(key);
            }
            self.inner
                .conns
                .run("clear", |mut c| async move {
                    del.query_async::<()>(&mut c).await
                })
                .await?;
        }
        Ok(())
    }

    async fn ids(&self) -> Result<Vec<String>, StoreError> {
        let prefix = self.inner.prefix.as_bytes();
        Ok(self
            .keys()
            .await?
            .into_iter()
            .filter_map(|key| {
                let id = key.strip_prefix(prefix)?;
                String::from_utf8(id.to_vec()).ok()
            })
            .collect())
    }

    async fn sessions_by(&self, key: &IndexKey) -> Result<Vec<IndexedSession>, StoreError> {
        self.indexed_sessions(key).await
    }

    async fn count_by(&self, key: &IndexKey) -> Result<usize, StoreError> {
        self.indexed_count(key).await
    }

    async fn end_sessions_by(
        &self,
        key: &IndexKey,
        except: Option<&str>,
    ) -> Result<usize, StoreError> {
        self.end_indexed(key, except).await
    }
}
