//! [`PgStore`]: sessions in PostgreSQL, in connect-pg-simple's table layout.

mod bases;
mod builder;
mod conn;
mod events;
mod index;
mod indexed;
mod sql;
mod tls;
mod turns;

use std::{fmt, sync::Arc};

use time::OffsetDateTime;
use tokio_postgres::Config;

pub use self::builder::PgStoreBuilder;
use self::{
    conn::Connections,
    indexed::{IndexedWrite, Write},
    turns::Turns,
};
#[cfg(doc)]
use crate::store::StoreErrorKind;
use crate::{
    record::{add_ms, now_ms, Record, SessionCookie},
    store::{
        EndListener, EndReason, IndexKey, IndexSpec, IndexedSession, SaveOutcome, SaveRequest,
        SessionStart, SessionStore, StartListener, StoreError,
    },
};

/// Sessions in PostgreSQL, shared by every app server that uses the same table, and with a Node
/// app on connect-pg-simple.
///
/// # Table layout (connect-pg-simple's)
///
/// One row per session in table `session` (see [`PgStoreBuilder::schema_name`] and
/// [`PgStoreBuilder::table_name`]):
///
/// ```sql
/// CREATE TABLE "session" (
///   "sid" varchar NOT NULL COLLATE "default" PRIMARY KEY,
///   "sess" json NOT NULL,
///   "expire" timestamp(6) NOT NULL
/// );
/// CREATE INDEX "IDX_session_expire" ON "session" ("expire");
/// ```
///
/// `sid` is the session id, `sess` the express-session JSON of the record
/// (`{"cookie":{"originalMaxAge":60000,"expires":"2026-11-25T16:58:00.603Z","httpOnly":true,"path":"/"},"user":"bob"}`),
/// and `expire` the instant the session ends, in UTC. That is what connect-pg-simple reads and
/// writes, so a Node app and this crate can share sessions. [`create_table_if_missing`] creates
/// the table (connect-pg-simple's `createTableIfMissing`).
///
/// `sess` is a `json` column, not `jsonb`: PostgreSQL keeps its exact text, so a field that a
/// save did not change keeps its bytes (numbers, escapes, key order), as on Redis. A save
/// rewrites the members around them: the cookie first, no spacing between members, keys escaped
/// as `JSON.stringify` escapes them (the layout express and this crate write).
///
/// [`create_table_if_missing`]: PgStoreBuilder::create_table_if_missing
///
/// # Expiry
///
/// `expire` is the cookie's `expires`, to the millisecond (connect-pg-simple rounds it up to the
/// second), or, for a cookie without expiry (a browser-session cookie), now plus the
/// [default TTL](PgStoreBuilder::default_ttl) (one day), renewed by every save and touch. A row
/// whose `expire` has passed is never loaded, touched or updated, whether or not it was deleted
/// yet; an update whose cookie has expired deletes the row. Expired rows are deleted every
/// [15 minutes](PgStoreBuilder::prune_interval), or, with a
/// [session end callback](PgStoreBuilder::on_session_end), at their instant (see "Session end
/// events").
///
/// Instants are stored as UTC wall-clock time (`timestamp` without time zone). connect-pg-simple
/// converts them with the connection's `TimeZone`: a Node app sharing the table needs a server
/// (or connection) `TimeZone` of `UTC`, which is what `initdb` sets on a host in UTC.
///
/// `expire` is the truth. connect-pg-simple touches a session by moving `expire` alone, so a
/// session that a Node app keeps alive carries a stale `cookie.expires` in its JSON; a load
/// answers such a record with `expires` moved to `expire` whenever the two differ by more than a
/// second, or the stored one has passed. The first read of a request renews the same way (see
/// below).
///
/// # Round trips and atomicity
///
/// | operation | round trips |
/// |---|---|
/// | `load` | 1 (`SELECT … WHERE sid = $1 AND expire > now`) |
/// | `load_touched` (a request's first read) | 1 (an `UPDATE … RETURNING` that renews `expire` to now plus the cookie's `originalMaxAge`, read from the JSON by PostgreSQL, and answers the row with its `expire` before the renewal) |
/// | `save`, new session | 1 (`INSERT … ON CONFLICT DO NOTHING`, in effect: a live session on the id answers [`SaveOutcome::Conflict`]; an expired row not yet deleted is replaced) |
/// | `save`, change set | 1 after a read on the same thread (a compare-and-set `UPDATE`); otherwise 2 (a read, then the compare-and-set) |
/// | `touch` | as `save` with a change set |
/// | `destroy` | 1 (`DELETE`; with an end callback, `DELETE … RETURNING` the last data) |
/// | `len`, `ids`, `clear` | 1 |
/// | with indexes: `save` of a new session that holds an indexed value, or of a change set that gives, changes or removes one (a login) | as without indexes, with one call of the index's write function in place of the `INSERT` or the compare-and-set |
/// | `sessions_by`, `count_by`, `end_sessions_by` | 1 |
///
/// A save applies only the changed fields on top of what the row holds at that moment, so
/// concurrent requests (on any app server) that change different fields of one session all
/// survive. It merges in Rust, onto the JSON that this worker thread last read or wrote for the
/// session (each thread keeps it for at most 256 sessions, none over 64 KiB), and writes with
/// `UPDATE … WHERE sid = $1 AND sess::text = $base AND expire > now`: if the row holds something
/// else, the same statement answers what it holds, and the save merges onto that and tries again
/// (up to 64 attempts; each failed one means another save succeeded). Saves of one session in
/// one process take turns (first come, first served), so each compares against what the one
/// before it wrote: 32 requests changing one session at once cost at most 34 compare-and-sets,
/// where racing cost 26 to 28 per request, and some gave up. A save of a session that
/// is no longer stored answers [`SaveOutcome::Gone`] and writes nothing: a destroyed session is
/// never brought back.
///
/// `load_touched` answers the record as it was before the renewal as PostgreSQL allows without
/// `RETURNING OLD` (PostgreSQL 18): the `UPDATE` locks the row in a subquery that reads its old
/// `expire`, and answers the JSON, which the renewal does not change. Like connect-pg-simple's
/// `touch`, it moves `expire` alone, so `cookie.expires` in the JSON goes stale, and every load
/// corrects it (see Expiry).
///
/// # Connections
///
/// A `PgStore` is a cheap-clone handle (`Send + Sync`). Each worker runtime gets its own
/// connection on first use, driven by a task on that runtime, so no query hops threads; the
/// requests of one worker share its connection, their queries pipelined. Each statement is
/// prepared once per connection. A connection that fails is replaced by a new one on the next
/// operation, so the app serves sessions again as soon as PostgreSQL is back, without a restart.
/// Connections are TCP or Unix sockets, with TLS as the next section says.
///
/// The driver is tokio-postgres: PostgreSQL's own protocol with pipelining on one connection,
/// no macros and no database at compile time, and far fewer dependencies than sqlx. A pool is not
/// needed: one pipelined connection per worker serves all of that worker's requests.
///
/// # TLS
///
/// With the feature `postgres-rustls` (rustls with the `ring` provider: no OpenSSL, no C
/// toolchain), every connection of the store, its [end listener](Self#session-end-events)'s
/// included, speaks TLS as libpq's `sslmode` in the connection string and the builder say:
///
/// | asked for | with `postgres-rustls` | without |
/// |---|---|---|
/// | `sslmode=disable` | plaintext | plaintext |
/// | `sslmode=prefer` (the default) | TLS when the server offers it, otherwise plaintext; the certificate is not checked | plaintext |
/// | `sslmode=require` | TLS, or an error; the certificate is not checked | an error from [`PgStore::builder`] that names the feature |
/// | [`tls_verify_server(true)`](PgStoreBuilder::tls_verify_server) | TLS, or an error; the certificate must chain to a root the system trusts and name the host (libpq's `verify-full`) | — |
/// | [`tls_ca_cert(pem)`](PgStoreBuilder::tls_ca_cert) | the same, with this CA instead of the system's roots | — |
/// | [`tls_verify_host_name(false)`](PgStoreBuilder::tls_verify_host_name), with one of those | the certificate must chain to the roots, whatever host it names (libpq's `verify-ca`) | — |
/// | [`tls_client_cert(cert, key)`](PgStoreBuilder::tls_client_cert) | TLS, presenting this certificate (`cert` authentication) | — |
///
/// What `require` and `prefer` check: the handshake's signatures, so the server holds the key
/// of the certificate it sent, and nothing about who signed that certificate or which host it
/// names. The connection is encrypted against eavesdroppers, not against an active man in the
/// middle; verify the server (`tls_verify_server` or `tls_ca_cert`) for that. The store
/// verifies only when its builder says so (unlike libpq, it reads no `~/.postgresql/root.crt`).
/// A CA, a client certificate or verification makes TLS required whatever the `sslmode` (and
/// `sslmode=disable` with them is a build error): a server without TLS is then an error, never
/// a plaintext connection.
///
/// tokio-postgres parses `sslmode` `disable`, `prefer` and `require` only, and no certificate
/// files: a connection string with `sslmode=verify-full`, `verify-ca` or `sslrootcert` is an
/// error that says to use the builder instead. PostgreSQL offers no TLS on its Unix socket:
/// there, `prefer` connects without it, and `require` (or any TLS setting) is an error (libpq
/// ignores `sslmode` on a Unix socket). The system's root certificates are read with
/// `rustls-native-certs`, as `RedisStore`'s TLS reads them. SCRAM with channel binding
/// (`channel_binding=require`, which some managed PostgreSQL asks for) works over TLS.
///
/// A handshake that fails (a certificate that the CA did not sign or that does not name the
/// host, a server without TLS) is a [`StoreErrorKind::Unavailable`] error that names why
/// (``the TLS handshake with PostgreSQL failed for `connect`: invalid peer certificate:
/// UnknownIssuer``); a server that wants a client certificate and gets none refuses the
/// credentials (`FATAL 28000: connection requires a valid client certificate`).
/// [`PgStoreBuilder::connect`] makes either a start-up error.
///
/// # Failures
///
/// Every query answers within the [query timeout](PgStoreBuilder::query_timeout) (1 s by
/// default), and a new connection within the [connect timeout](PgStoreBuilder::connect_timeout)
/// (2 s). An unreachable, shutting down or timed-out database is a
/// [`StoreErrorKind::Unavailable`] error, which the middleware answers with `503 Service
/// Unavailable`; a request that does not use its session is not affected. From that failure on
/// the store is known to be down ([`SessionStore::is_ready`] answers `false`): requests get no
/// session and make no query, except for one request every 200 ms that probes the database; the
/// first probe that succeeds brings sessions back. A read whose connection was closed (the
/// server restarted since its last use) is tried once more on a fresh connection. A `sess` that
/// is not a session record is [`StoreErrorKind::Corrupt`]. Error messages never hold a session
/// id.
///
/// # Session end events
///
/// [`PgStoreBuilder::on_session_end`] registers a callback that receives every session that
/// ends, as a [`SessionEnd`](crate::store::SessionEnd): expired, destroyed, regenerated (the old
/// id) or cleared, **exactly once in total** across every app server (every `PgStore`, in any
/// process) that reports ends from the same table, with the session's last stored record.
///
/// - **One deleter.** Every end is a `DELETE … RETURNING`, and PostgreSQL hands a deleted row to
///   one statement only: whoever deletes it reports it. A destroy, regeneration, clear, or an
///   update whose cookie expired, is reported by the store that did it, from the statement that
///   deletes the row (still one round trip). A row found expired by a destroy or clear is
///   reported as expired.
/// - **Expiry at the instant.** Each store with a callback runs a listener thread
///   (`session-end-events`, its own runtime and connection) with a timer at the earliest
///   `expire` it knows: each of the store's own writes moves it forward at once (an atomic
///   minimum, no query), and `SELECT min(expire)` after each sweep, and at least every
///   [poll interval](PgStoreBuilder::end_poll_interval) (1 s), brings in the rows that others
///   wrote. At the instant it runs `DELETE … WHERE expire <= now … FOR UPDATE SKIP LOCKED
///   RETURNING`, so app servers racing for a row take disjoint rows, and reports them. The
///   listener replaces the [periodic prune](PgStoreBuilder::prune_interval). A session that
///   this store wrote is reported at its instant; one that only others wrote (a Node app, an
///   app server without a callback) within the poll interval of it. Measured (tests/pg_events.rs,
///   200 sessions, three app servers, two shared cores, four runs): after the instant p50
///   3–8 ms, p99 15–28 ms, at most 44 ms; written by a store without a callback, p50 10–14 ms,
///   p99 0.65–0.71 s, at most 0.79 s; a Node app's destroy, 9–16 ms after it (`NOTIFY`).
/// - **Deletes by others**, with [`report_deletes_by_others`](PgStoreBuilder::report_deletes_by_others):
///   an `AFTER DELETE` row trigger copies each row that another program deletes (a Node app's
///   `destroy`, connect-pg-simple's pruning, `psql`) into an outbox table and `NOTIFY`s; app
///   servers claim the outbox's rows with `DELETE … RETURNING` (`FOR UPDATE SKIP LOCKED`),
///   woken by `LISTEN`. A row whose `expire` had passed when it was deleted (or was less than a
///   second away, as connect-pg-simple prunes) is reported as expired, any other as destroyed.
///   The connections of a store with a callback carry the setting
///   `actix_typed_session.reports_ends=on` (in their start-up options), and the trigger's
///   `WHEN` skips their deletes, which they report themselves.
/// - **Outages.** While PostgreSQL is down nothing is deleted, so nothing is lost: the expired
///   rows wait in the table, the others' deletes in the outbox, and the listener reports them
///   once it connects again (it retries every 0.5–2 s).
/// - **What cannot be seen.** `TRUNCATE` (no row trigger fires). Deletes by other programs
///   without the trigger (option off, the trigger dropped or disabled, or
///   `session_replication_role = replica`, as `pg_restore` and logical replication set it).
///   A delete by a store without a callback is another program's: reported through the trigger
///   as destroyed or expired, never as regenerated or cleared. A session whose expired row is
///   overwritten by a new session on the same id (a Node app's `set`, or a create with a custom
///   `genid` that reuses ids) before any app server deletes it. A delete
///   whose answer is lost with its connection, or an app server that dies between a delete and
///   the callback: that end is not reported. Rows that end while no app server with a callback
///   runs are reported when one starts: expired rows from the table, others' deletes from the
///   outbox (by an app server with the trigger option). Behind a pooler that drops start-up
///   options (PgBouncer in transaction mode), set the setting for the role instead (`ALTER ROLE
///   app SET actix_typed_session.reports_ends = on`, for a role that only reporting stores use).
///   Instants are the app server's clock, as for loads.
/// - The callback runs on the listener thread (expiries, others' deletes) or on the thread that
///   ended the session; keep it quick.
///
/// # Session index
///
/// [`PgStoreBuilder::index`] (or [`indexes::<T>()`](PgStoreBuilder::indexes),
/// [`index_limit`](PgStoreBuilder::index_limit)) indexes sessions by a field, for
/// [`SessionStore::sessions_by`], [`count_by`](SessionStore::count_by) and
/// [`end_sessions_by`](SessionStore::end_sessions_by); [`PgStoreBuilder::on_session_start`]
/// reports each session that a create stores, once, by the app server that created it.
///
/// - **The table is the index.** Queries read the session table itself, `WHERE
///   session_index_value(sess, 'user') = $1 AND expire > now`, through an expression index on
///   that value (`IDX_<table>_<field>`). A listed session therefore exists, is unexpired and holds the
///   value at the moment of the query, whoever wrote it: a row that a Node app writes is listed
///   by its value, one it changes moves to its new value, one it deletes is gone; no copy of
///   ours can go stale, so there is nothing to verify or repair. Values compare as `jsonb`:
///   another spelling of a value (escapes, spaces) finds the same sessions, and numbers compare
///   by value (`7` and `7.0` are one value). `<table>_index_value` reads the field as `jsonb`
///   with PostgreSQL's JSON operators, which fail on a JSON that holds a `\u0000` or a lone
///   surrogate escape anywhere (`JSON.stringify` writes both): for such a session it answers
///   null, so its writes (a Node app's included) succeed, and it is not listed, counted or
///   limited until its JSON no longer holds them. Only a JSON with a `\u` escape pays for that
///   care (a PL/pgSQL exception block).
/// - **`indexed_at`** is kept beside the table, in `<table>_indexed` (`sid`, `field`, `value`
///   jsonb, `indexed_at`): the instant (the app server's clock) of the write of this crate that
///   gave the session its value. It is believed only while its value equals the row's. A session
///   that another program gave its value (a Node app) has no such entry: its `indexed_at` is its
///   last renewal (`expire` minus the cookie's `originalMaxAge`, or minus the
///   [default TTL](PgStoreBuilder::default_ttl)), at most now, so it moves with each renewal.
///   Entries of sessions ended through the index go with them; the others (destroyed, expired,
///   deleted by Node) are deleted every [prune interval](PgStoreBuilder::prune_interval), with
///   or without end events (with `None`, never), and are ignored meanwhile.
/// - **Writes of an indexed value.** A write that gives a session a value, changes or removes
///   one (a login, a logout) is one statement: a call of the PL/pgSQL function
///   `<table>_index_write`. It takes a transaction-level advisory lock per value involved (old
///   and new, `hashtextextended` of table, field and value, in a fixed order so that writers
///   never deadlock), then checks the compare-and-set base (as without indexes), the limits,
///   writes the row and its `indexed_at`, and ends the sessions over a limit. A `VOLATILE`
///   function takes a fresh snapshot for each of its queries, so each sees what the previous
///   holder of the lock committed: **limits are exact across app servers** (20 logins at once
///   from two app servers under a limit of 2 leave 2; refusing, 2 are admitted and 18 refused).
///   One statement rather than a transaction, because a worker's connection is shared and
///   pipelined: a `BEGIN … COMMIT` on it would take in the other requests' statements (or hold
///   them back) until it ends, and a dedicated connection per worker would cost a second
///   connection and four round trips (begin, lock, write, commit) per login. The lock lasts
///   until the statement's own implicit transaction commits. The limits apply to the writes of
///   `PgStore`s: a Node app's writes do not check them (its sessions count, and the next login
///   here brings the value back to its limit).
/// - **Ends through the index, once.** [`end_sessions_by`](SessionStore::end_sessions_by) is one
///   statement (the function `<table>_index_end`, under the value's lock) that deletes the
///   sessions with `DELETE … RETURNING`, and displacement deletes the same way: PostgreSQL gives
///   each deleted row to one statement, so each end is reported once (`revoked`, `displaced`),
///   by the app server that deleted it, also when several end one value's sessions at once.
/// - **Costs.** A request that does not change an indexed value sends the same statements as
///   without indexes (one to read and renew, one compare-and-set); a login or logout sends one
///   function call instead of the compare-and-set. Every write of the table (a Node app's
///   included) that changes `sess` also updates the expression index, a call of
///   `<table>_index_value` per indexed field (a renewal, which moves `expire` alone, does not).
///   A store without indexes is unchanged: no objects, no statements of the index.
/// - **What it creates.** The store's first connection creates, when missing and under an
///   advisory lock: `<table>_indexed`, the functions `<table>_index_value`,
///   `<table>_index_write` and `<table>_index_end`, and one expression index per field, in the
///   table's schema (the table's owner can; PostgreSQL 11 or later). Connect-pg-simple's table
///   itself is not altered. Building an expression index reads every row and blocks writes to
///   the table meanwhile: on a large table, start the first indexed store at a quiet time.
///
/// # Example
///
/// ```no_run
/// use actix_typed_session::{PgStore, SessionMiddleware};
/// use actix_web::{App, HttpServer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PgStore::builder("postgres://app:secret@127.0.0.1/app")?
///     .create_table_if_missing(true)
///     .connect()
///     .await?;
/// HttpServer::new(move || {
///     App::new().wrap(SessionMiddleware::new(store.clone(), "keyboard cat"))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await?;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    default_ttl_ms: i64,
    max_record_bytes: usize,
    conns: Connections,
    /// The session end callback: with it, every delete answers what it deleted.
    on_end: Option<EndListener>,
    /// The listener that reports expiries (and deletes by others); dropping it stops it.
    events: Option<events::Handle>,
    /// The indexed fields, in the order of their statements.
    indexes: Vec<IndexSpec>,
    /// The session start callback.
    on_start: Option<StartListener>,
    /// The sessions being written: their writers take turns.
    turns: Turns,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("table", &self.inner.conns.table())
            .field("default_ttl_ms", &self.inner.default_ttl_ms)
            .field("max_record_bytes", &self.inner.max_record_bytes)
            .field("connect_timeout", &self.inner.conns.connect_timeout())
            .field("query_timeout", &self.inner.conns.query_timeout())
            .field("session_end_events", &self.inner.on_end.is_some())
            .field("indexes", &self.inner.indexes)
            .field("session_start_events", &self.inner.on_start.is_some())
            .finish_non_exhaustive()
    }
}

/// How many times a save merges onto what the row holds before it gives up.
const CAS_ATTEMPTS: usize = 64;

/// What a write did.
enum Written {
    /// The row holds the record now.
    Saved(Record),
    /// The record's cookie had expired: the row was deleted.
    Ended,
    /// There was no live row; nothing was written.
    Gone,
    /// A limit of an index refused the write; nothing was written.
    Refused,
}

impl PgStore {
    /// A store on the database that `url` names, with the default settings. Nothing connects
    /// until the first operation.
    ///
    /// The URL is libpq's: a URL (`postgres://user:password@host:5432/dbname`) or key-value
    /// pairs (`host=/run/postgresql user=app dbname=app`). Percent-encode reserved characters of
    /// a password in a URL (`@` as `%40`).
    ///
    /// # Errors
    ///
    /// `url` is not a valid connection string.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        Self::builder(url)?.try_build()
    }

    /// A builder for a store on the database that `url` names (see [`new`](Self::new)).
    ///
    /// # Errors
    ///
    /// `url` is not a valid connection string.
    pub fn builder(url: &str) -> Result<PgStoreBuilder, StoreError> {
        let config: Config = url.parse().map_err(|e: tokio_postgres::Error| {
            // The parser's message names the part it could not read, never the password.
            StoreError::new(
                crate::store::StoreErrorKind::Other,
                format!(
                    "invalid PostgreSQL connection string: {e}{}",
                    tls::parse_hint(url)
                ),
            )
        })?;
        tls::check_url(&config)?;
        Ok(PgStoreBuilder::new(config))
    }

    /// The key of session `id` among this thread's bases.
    fn base_key(&self, id: &str) -> String {
        let table = self.inner.conns.table();
        let mut key = String::with_capacity(table.len() + 1 + id.len());
        key.push_str(table);
        key.push('\0');
        key.push_str(id);
        key
    }

    /// The `expire` of a session with `cookie`, written at `now` (milliseconds since the epoch).
    fn expire_ms(&self, cookie: &SessionCookie, now: OffsetDateTime) -> i64 {
        match cookie.expires() {
            Some(at) => epoch_ms(at),
            None => epoch_ms(now).saturating_add(self.inner.default_ttl_ms),
        }
    }

    /// Tells the end listener, if any, that a row expires at `expire` (ms).
    fn scheduled(&self, expire: i64) {
        if let Some(events) = &self.inner.events {
            events.schedule(expire);
        }
    }

    /// Session `id` was created with `record` (stored as `json`, expiring at `expire`): its base
    /// is remembered, the end listener told, and its start reported.
    fn created(&self, id: &str, record: &Record, json: &str, expire: i64) {
        bases::remember(&self.base_key(id), json);
        self.scheduled(expire);
        if let Some(listener) = &self.inner.on_start {
            listener.deliver(SessionStart::new(id, record.clone()));
        }
    }

    /// Deletes session `id`; with a callback, reports it for `reason` (as expired if its
    /// `expire` had passed).
    async fn delete(&self, id: &str, reason: EndReason) -> Result<(), StoreError> {
        bases::forget(&self.base_key(id));
        let Some(listener) = &self.inner.on_end else {
            self.inner
                .conns
                .run("destroy", |c| async move {
                    c.client.execute(&c.delete, &[&id]).await
                })
                .await?;
            return Ok(());
        };
        let row = self
            .inner
            .conns
            .run("destroy", |c| async move {
                c.client.query_opt(&c.delete, &[&id]).await
            })
            .await?;
        if let Some(row) = row {
            let (json, expire): (Option<&str>, Option<i64>) = (row.get(0), row.get(1));
            let reason = match expire.is_some_and(|expire| expire <= epoch_ms(now_ms())) {
                true => EndReason::Expired,
                false => reason,
            };
            events::deliver(listener, id, json, reason);
        }
        Ok(())
    }

    /// The live row of session `id`: its JSON and `expire`.
    async fn read(&self, id: &str, now: i64) -> Result<Option<(String, i64)>, StoreError> {
        let row = self
            .inner
            .conns
            .run_idempotent("load", |c| async move {
                c.client.query_opt(&c.load, &[&id, &now]).await
            })
            .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    /// Writes `edit` of the record that session `id` holds now, by compare-and-set (see the type's
    /// docs), refusing a record over the size limit when `limit` is set.
    async fn write(
        &self,
        id: &str,
        edit: impl Fn(Record, OffsetDateTime) -> Record,
        limit: bool,
    ) -> Result<Written, StoreError> {
        let key = self.base_key(id);
        let _turn = self.inner.turns.take(&key).await;
        let mut base = bases::get(&key);
        for _ in 0..CAS_ATTEMPTS {
            let now = now_ms();
            let now_ms = epoch_ms(now);
            let stored = match base.take() {
                Some(stored) => stored,
                None => match self.read(id, now_ms).await? {
                    Some((stored, _)) => stored,
                    None => {
                        bases::forget(&key);
                        return Ok(Written::Gone);
                    }
                },
            };
            let old_record = parse(&stored)?;
            let old = self.index_values(&old_record);
            let record = edit(old_record, now);
            if record.cookie.is_expired_at(now) {
                bases::forget(&key);
                let ended = match &self.inner.on_end {
                    None => {
                        self.inner
                            .conns
                            .run("save", |c| async move {
                                c.client.execute(&c.end_live, &[&id, &now_ms]).await
                            })
                            .await?
                            > 0
                    }
                    Some(listener) => {
                        let row = self
                            .inner
                            .conns
                            .run("save", |c| async move {
                                c.client.query_opt(&c.end_live, &[&id, &now_ms]).await
                            })
                            .await?;
                        if let Some(row) = &row {
                            events::deliver(listener, id, row.get(0), EndReason::Expired);
                        }
                        row.is_some()
                    }
                };
                return Ok(if ended { Written::Ended } else { Written::Gone });
            }
            let json = record.to_json();
            if limit && json.len() > self.inner.max_record_bytes {
                return Err(StoreError::too_large(
                    json.len(),
                    self.inner.max_record_bytes,
                ));
            }
            let expire = self.expire_ms(&record.cookie, now);
            let new = self.index_values(&record);
            if old != new {
                let write = Write {
                    base: Some(&stored),
                    json: &json,
                    expire,
                    now: now_ms,
                    old: &old,
                    new: &new,
                };
                match self.write_indexed(id, write).await? {
                    IndexedWrite::Saved => {
                        bases::remember(&key, &json);
                        self.scheduled(expire);
                        return Ok(Written::Saved(record));
                    }
                    IndexedWrite::Refused => return Ok(Written::Refused),
                    IndexedWrite::Gone | IndexedWrite::Conflict => {
                        bases::forget(&key);
                        return Ok(Written::Gone);
                    }
                    IndexedWrite::Changed(now) if now != stored => base = Some(now),
                    IndexedWrite::Changed(_) => base = None,
                }
                continue;
            }
            let (json_ref, stored_ref) = (&json, &stored);
            let row = self
                .inner
                .conns
                .run("save", |c| async move {
                    c.client
                        .query_one(
                            &c.compare_and_set,
                            &[&id, stored_ref, json_ref, &expire, &now_ms],
                        )
                        .await
                })
                .await?;
            let written: i64 = row.get(0);
            if written > 0 {
                bases::remember(&key, &json);
                self.scheduled(expire);
                return Ok(Written::Saved(record));
            }
            match row.get::<_, Option<String>>(1) {
                None => {
                    bases::forget(&key);
                    return Ok(Written::Gone);
                }
                // Changed meanwhile: merge onto what it holds now.
                Some(now) if now != stored => base = Some(now),
                // The statement's snapshot predates the change that beat this save: read again.
                Some(_) => base = None,
            }
        }
        bases::forget(&key);
        Err(StoreError::new(
            crate::store::StoreErrorKind::Other,
            format!(
                "a session changed under {CAS_ATTEMPTS} saves in a row (too many concurrent \
                 writers); nothing was written"
            ),
        ))
    }
}

/// `t` in milliseconds since the Unix epoch.
pub(super) fn epoch_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Makes a loaded cookie's `expires` follow its row's `expire` (milliseconds since the epoch)
/// when the two disagree, or the stored one has passed (see the type's docs). A cookie without
/// expiry is left as stored.
fn follow_expire(cookie: &mut SessionCookie, expire_ms: i64, now: OffsetDateTime) {
    cookie.follow_store_expiry(add_ms(OffsetDateTime::UNIX_EPOCH, expire_ms), now);
}

fn parse(json: &str) -> Result<Record, StoreError> {
    Record::from_json(json).map_err(|e| StoreError::corrupt(e.to_string()).with_source(e))
}

impl SessionStore for PgStore {
    /// `false` while PostgreSQL is known to be unreachable (an operation timed out or found the
    /// connection refused or closed), except for one request every 200 ms that probes it; `true`
    /// again as soon as an operation succeeds.
    fn is_ready(&self) -> bool {
        self.inner.conns.health().is_ready()
    }

    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let now = now_ms();
        let Some((json, expire)) = self.read(id, epoch_ms(now)).await? else {
            return Ok(None);
        };
        let mut record = parse(&json)?;
        bases::remember(&self.base_key(id), &json);
        follow_expire(&mut record.cookie, expire, now);
        Ok(Some(record))
    }

    async fn load_touched(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let now = now_ms();
        let now_ms = epoch_ms(now);
        let ttl = self.inner.default_ttl_ms;
        let row = self
            .inner
            .conns
            .run_idempotent("load", |c| async move {
                c.client
                    .query_opt(&c.load_renew, &[&id, &now_ms, &ttl])
                    .await
            })
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (json, expire): (String, i64) = (row.get(0), row.get(1));
        let mut record = parse(&json)?;
        bases::remember(&self.base_key(id), &json);
        follow_expire(&mut record.cookie, expire, now);
        Ok(Some(record))
    }

    async fn save(&self, id: &str, request: SaveRequest<'_>) -> Result<SaveOutcome, StoreError> {
        match request {
            SaveRequest::Create(record) => {
                let json = record.to_json();
                if json.len() > self.inner.max_record_bytes {
                    return Err(StoreError::too_large(
                        json.len(),
                        self.inner.max_record_bytes,
                    ));
                }
                let now = now_ms();
                if record.cookie.is_expired_at(now) {
                    // Already expired: there is nothing to keep.
                    return Ok(SaveOutcome::Saved);
                }
                let (expire, now_ms) = (self.expire_ms(&record.cookie, now), epoch_ms(now));
                let new = self.index_values(record);
                if new.iter().any(Option::is_some) {
                    let old = vec![None; new.len()];
                    let write = Write {
                        base: None,
                        json: &json,
                        expire,
                        now: now_ms,
                        old: &old,
                        new: &new,
                    };
                    return Ok(match self.write_indexed(id, write).await? {
                        IndexedWrite::Saved => {
                            self.created(id, record, &json, expire);
                            SaveOutcome::Saved
                        }
                        IndexedWrite::Refused => SaveOutcome::Refused,
                        IndexedWrite::Conflict | IndexedWrite::Gone | IndexedWrite::Changed(_) => {
                            SaveOutcome::Conflict
                        }
                    });
                }
                let json_ref = &json;
                let created = self
                    .inner
                    .conns
                    .run("create", |c| async move {
                        c.client
                            .execute(&c.create, &[&id, json_ref, &expire, &now_ms])
                            .await
                    })
                    .await?;
                if created == 0 {
                    return Ok(SaveOutcome::Conflict);
                }
                self.created(id, record, &json, expire);
                Ok(SaveOutcome::Saved)
            }
            SaveRequest::Update { cookie, changes } => {
                let edit = |mut record: Record, _: OffsetDateTime| {
                    record.cookie = cookie.clone();
                    record.fields.apply(changes);
                    record
                };
                Ok(match self.write(id, edit, true).await? {
                    Written::Saved(_) | Written::Ended => SaveOutcome::Saved,
                    Written::Gone => SaveOutcome::Gone,
                    Written::Refused => SaveOutcome::Refused,
                })
            }
        }
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.delete(id, EndReason::Destroyed).await
    }

    async fn end(&self, id: &str, reason: EndReason) -> Result<(), StoreError> {
        self.delete(id, reason).await
    }

    async fn touch(
        &self,
        id: &str,
        cookie: Option<&SessionCookie>,
    ) -> Result<Option<SessionCookie>, StoreError> {
        let edit = |mut record: Record, now: OffsetDateTime| {
            match cookie {
                Some(cookie) => record.cookie = cookie.clone(),
                None => record.cookie.touch_at(now),
            }
            record
        };
        Ok(match self.write(id, edit, false).await? {
            Written::Saved(record) => Some(record.cookie),
            Written::Ended | Written::Gone | Written::Refused => None,
        })
    }

    async fn len(&self) -> Result<usize, StoreError> {
        let now = epoch_ms(now_ms());
        let row = self
            .inner
            .conns
            .run_idempotent("len", |c| async move {
                c.client.query_one(&c.count, &[&now]).await
            })
            .await?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let Some(listener) = &self.inner.on_end else {
            self.inner
                .conns
                .run(
                    "clear",
                    |c| async move { c.client.execute(&c.clear, &[]).await },
                )
                .await?;
            return Ok(());
        };
        let rows = self
            .inner
            .conns
            .run(
                "clear",
                |c| async move { c.client.query(&c.clear, &[]).await },
            )
            .await?;
        // A row whose `expire` had passed had ended already: it is reported as expired.
        let now = epoch_ms(now_ms());
        for row in &rows {
            let (id, json, expire): (&str, Option<&str>, Option<i64>) =
                (row.get(0), row.get(1), row.get(2));
            let reason = match expire.is_some_and(|expire| expire <= now) {
                true => EndReason::Expired,
                false => EndReason::Cleared,
            };
            events::deliver(listener, id, json, reason);
        }
        Ok(())
    }

    async fn ids(&self) -> Result<Vec<String>, StoreError> {
        let now = epoch_ms(now_ms());
        let rows = self
            .inner
            .conns
            .run_idempotent(
                "ids",
                |c| async move { c.client.query(&c.ids, &[&now]).await },
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
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

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn expiring_at(expires: OffsetDateTime) -> SessionCookie {
        SessionCookie {
            original_max_age: Some(60_000),
            expires: Some(expires),
            ..SessionCookie::default()
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-25 16:58:00.000 UTC);

    #[test]
    fn a_stale_expires_follows_the_rows_expire() {
        // Node touched the row (`expire` only) long after the JSON was written.
        let mut cookie = expiring_at(datetime!(2026-11-25 16:57:30.000 UTC));
        follow_expire(
            &mut cookie,
            epoch_ms(datetime!(2026-11-25 16:58:45.000 UTC)),
            NOW,
        );
        assert_eq!(
            cookie.expires(),
            Some(datetime!(2026-11-25 16:58:45.000 UTC))
        );
        assert_eq!(
            cookie.original_max_age_ms(),
            Some(60_000),
            "the lifetime is kept"
        );

        // Not passed yet, but more than a second away from `expire`.
        let mut cookie = expiring_at(datetime!(2026-11-25 16:58:10.000 UTC));
        follow_expire(
            &mut cookie,
            epoch_ms(datetime!(2026-11-25 16:58:50.000 UTC)),
            NOW,
        );
        assert_eq!(
            cookie.expires(),
            Some(datetime!(2026-11-25 16:58:50.000 UTC))
        );
    }

    #[test]
    fn an_expires_within_a_second_of_the_rows_expire_is_kept() {
        // connect-pg-simple rounds `expire` up to the second.
        let stored = datetime!(2026-11-25 16:59:00.603 UTC);
        let mut cookie = expiring_at(stored);
        follow_expire(
            &mut cookie,
            epoch_ms(datetime!(2026-11-25 16:59:01.000 UTC)),
            NOW,
        );
        assert_eq!(cookie.expires(), Some(stored));
    }

    #[test]
    fn a_browser_session_cookie_stays_without_expiry() {
        let mut cookie = SessionCookie::default();
        follow_expire(&mut cookie, epoch_ms(NOW) + 86_400_000, NOW);
        assert_eq!(cookie.expires(), None);
    }
}
