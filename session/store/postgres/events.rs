//! Session end events of a [`PgStore`](super::PgStore): the listener that reports the sessions
//! that expire, and those that other programs delete.
//!
//! Every end is a `DELETE … RETURNING`, and PostgreSQL gives a deleted row to one statement
//! only: whoever deletes reports, so each end is reported once across every app server.
//!
//! - The store's own ends (destroy, regenerate, an update whose cookie expired, clear) are
//!   reported by the store, from the statement that deletes the row.
//! - Expiries: a listener thread per store (`session-end-events`, its own runtime and its own
//!   connection) keeps a timer at the earliest `expire` it knows: the store's own writes tell it
//!   at once, and `SELECT min(expire)` after each sweep, and at least every poll interval,
//!   brings in other writers' rows. At the instant it deletes the rows whose `expire` has
//!   passed (`FOR UPDATE SKIP LOCKED`, so racing app servers take disjoint rows) and reports
//!   them.
//! - Deletes by other programs, with the outbox (see [`outbox`]): claimed the same way, woken by
//!   `NOTIFY`.
//!
//! While PostgreSQL is down, nothing is deleted, so nothing is lost: the rows wait in the table
//! (and the outbox), and the listener reports them once it connects again.

mod outbox;

use std::{
    future::poll_fn,
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use actix_web::rt::{time::timeout, Runtime};
use tokio::sync::{watch, Notify};
use tokio_postgres::{AsyncMessage, Client, Config as PgConfig, Statement};

pub(super) use self::outbox::SETTING;
use self::outbox::{Outbox, BATCH};
use super::{
    conn::{create_table, error},
    parse,
    sql::{at, ms},
    tls::Connector,
};
use crate::store::{unix_ms, EndListener, EndReason, SessionEnd, StoreError, StoreErrorKind};

/// What the listener needs.
pub(super) struct Config {
    /// Where PostgreSQL is; its start-up options carry [`SETTING`].
    pub(super) pg: PgConfig,
    /// TLS (or none), as the store's connections.
    pub(super) tls: Connector,
    /// The session table, as SQL.
    pub(super) table: String,
    /// With `create_table_if_missing`: the statements that create the table.
    pub(super) create_table: Option<String>,
    /// Install the outbox trigger and report what other programs delete.
    pub(super) others: bool,
    pub(super) listener: EndListener,
    pub(super) connect_timeout: Duration,
    pub(super) query_timeout: Duration,
    /// How often, at most, the listener looks for the earliest `expire` in the table.
    pub(super) poll_interval: Duration,
}

/// How the listener's start went, for [`Handle::listening`].
#[derive(Clone, Debug)]
enum Ready {
    Starting,
    Listening,
    Failed(String),
}

/// What the store and its listener share.
struct Shared {
    stopped: AtomicBool,
    /// Wakes the listener: a write brought the earliest expiry forward, a `NOTIFY` came, the
    /// connection ended, or the store was dropped.
    wake: Notify,
    /// The earliest `expire` (ms) that the store wrote since the listener last looked.
    earliest: AtomicI64,
    ready: watch::Sender<Ready>,
}

/// Owned by the store (all its clones): dropping it stops the listener.
pub(super) struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

impl Handle {
    /// The store wrote a row that expires at `expire_ms`: the listener's timer moves there if
    /// that is earlier than it knew. An atomic minimum; no query.
    pub(super) fn schedule(&self, expire_ms: i64) {
        if self.shared.earliest.fetch_min(expire_ms, Ordering::SeqCst) > expire_ms {
            self.shared.wake.notify_one();
        }
    }

    /// Waits (at most `within`) until the listener listens: connected, the table and the outbox
    /// trigger made, `LISTEN` sent.
    pub(super) async fn listening(&self, within: Duration) -> Result<(), StoreError> {
        let mut ready = self.shared.ready.subscribe();
        let waited = timeout(
            within,
            ready.wait_for(|state| !matches!(state, Ready::Starting)),
        )
        .await;
        match waited {
            Ok(Ok(state)) => match &*state {
                Ready::Failed(message) => Err(StoreError::new(
                    StoreErrorKind::Other,
                    format!("the session end listener cannot start: {message}"),
                )),
                _ => Ok(()),
            },
            Ok(Err(_)) => Err(StoreError::new(
                StoreErrorKind::Other,
                "the session end listener stopped",
            )),
            Err(_) => Err(StoreError::unavailable(format!(
                "the session end listener did not connect to PostgreSQL within {within:?}"
            ))),
        }
    }
}

/// Starts the listener thread; it connects (and reconnects) on its own.
pub(super) fn start(config: Config) -> Result<Handle, StoreError> {
    let shared = Arc::new(Shared {
        stopped: AtomicBool::new(false),
        wake: Notify::new(),
        earliest: AtomicI64::new(i64::MAX),
        ready: watch::Sender::new(Ready::Starting),
    });
    let listener = Listener {
        config,
        shared: Arc::clone(&shared),
    };
    thread::Builder::new()
        .name("session-end-events".to_owned())
        .spawn(move || match Runtime::new() {
            Ok(runtime) => runtime.block_on(listener.run()),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the runtime of the session end listener");
                listener
                    .shared
                    .ready
                    .send_replace(Ready::Failed(format!("no runtime: {e}")));
            }
        })
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Other,
                "cannot start the session end listener thread",
            )
            .with_source(e)
        })?;
    Ok(Handle { shared })
}

/// How many expired rows one sweep deletes at most (it sweeps again while it finds as many).
const SWEEP_BATCH: i64 = 500;

/// The first wait before connecting again after a failure; it doubles up to [`MAX_RETRY`].
const RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// The listener's connection and its statements.
struct Session {
    client: Client,
    /// `$1` now, `$2` how many: deletes expired rows, answering `sid`, `sess`, `expire` (ms).
    sweep: Statement,
    /// The earliest `expire` in the table (ms), null when it is empty.
    earliest: Statement,
    outbox: Option<Statement>,
}

struct Listener {
    config: Config,
    shared: Arc<Shared>,
}

impl Listener {
    fn stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
    }

    async fn run(self) {
        let (mut failures, mut lost) = (0_u32, false);
        while !self.stopped() {
            match self.connect().await {
                Ok(session) => {
                    if failures > 0 || lost {
                        tracing::info!("session end listener: connected again");
                    }
                    (failures, lost) = (0, true);
                    self.shared.ready.send_replace(Ready::Listening);
                    match self.serve(&session).await {
                        Ok(()) => return,
                        Err(e) => tracing::warn!(
                            error = %e,
                            "session end listener: PostgreSQL failed; reconnecting (ends wait in \
                             the table and are reported once it is back)"
                        ),
                    }
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::error!(
                            error = %e,
                            "session end listener: cannot connect to PostgreSQL; retrying (ends \
                             wait in the table and are reported once it succeeds)"
                        );
                    }
                    if failures == 1 && e.kind() != StoreErrorKind::Unavailable {
                        // Its message, without the `session store: ` that `Display` adds: the
                        // error `listening` answers adds it again.
                        let shown = e.to_string();
                        let message = shown.strip_prefix("session store: ").unwrap_or(&shown);
                        self.shared
                            .ready
                            .send_replace(Ready::Failed(message.to_owned()));
                    }
                }
            }
            let backoff = RETRY
                .saturating_mul(2_u32.saturating_pow(failures.min(8)))
                .min(MAX_RETRY);
            let _ = timeout(backoff, self.shared.wake.notified()).await;
        }
    }

    /// Connects, makes the table (when asked) and the outbox (when asked), `LISTEN`s and
    /// prepares the listener's statements.
    async fn connect(&self) -> Result<Session, StoreError> {
        let config = &self.config;
        let tls = Connector::clone(&config.tls);
        let (client, mut connection) = timeout(config.connect_timeout, config.pg.connect(tls))
            .await
            .map_err(|_| {
                StoreError::unavailable(format!(
                    "PostgreSQL did not accept a connection within {:?}",
                    config.connect_timeout
                ))
            })?
            .map_err(|e| error("connect", e))?;
        let shared = Arc::clone(&self.shared);
        actix_web::rt::spawn(async move {
            loop {
                match poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => shared.wake.notify_one(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "session end listener: connection ended");
                        break;
                    }
                    None => break,
                }
            }
            shared.wake.notify_one();
        });
        let setup = async {
            if let Some(create) = &config.create_table {
                create_table(&client, create).await?;
            }
            let outbox = match config.others {
                true => {
                    let Outbox { listen, claim } = outbox::install(&client, &config.table)
                        .await
                        .map_err(|e| error("install the session end trigger", e))?;
                    client
                        .batch_execute(&listen)
                        .await
                        .map_err(|e| error("listen", e))?;
                    Some(
                        client
                            .prepare(&claim)
                            .await
                            .map_err(|e| error("prepare", e))?,
                    )
                }
                false => None,
            };
            let table = &config.table;
            let sweep = client
                .prepare(&format!(
                    "DELETE FROM {table} WHERE sid IN (SELECT sid FROM {table} \
                       WHERE expire <= {now} ORDER BY expire LIMIT $2::int8 FOR UPDATE SKIP LOCKED) \
                     RETURNING sid::text, sess::text, {expire}",
                    now = at(1),
                    expire = ms("expire"),
                ))
                .await
                .map_err(|e| error("prepare", e))?;
            let earliest = client
                .prepare(&format!("SELECT {} FROM {table}", ms("min(expire)")))
                .await
                .map_err(|e| error("prepare", e))?;
            Ok::<_, StoreError>((outbox, sweep, earliest))
        };
        let within = config.connect_timeout + 4 * config.query_timeout;
        let (outbox, sweep, earliest) = timeout(within, setup).await.map_err(|_| {
            StoreError::unavailable(format!(
                "PostgreSQL did not set up the session end listener within {within:?}"
            ))
        })??;
        Ok(Session {
            client,
            sweep,
            earliest,
            outbox,
        })
    }

    /// Reports ends until the store is dropped (`Ok`) or the connection fails (`Err`).
    async fn serve(&self, session: &Session) -> Result<(), StoreError> {
        // What this loop last left in `earliest`: a value below it came from a write since.
        let mut left = i64::MAX;
        loop {
            if self.stopped() {
                return Ok(());
            }
            self.sweep(session).await?;
            if let Some(claim) = &session.outbox {
                self.claim(session, claim).await?;
            }
            let row = self
                .query(session.client.query_one(&session.earliest, &[]), "earliest")
                .await?;
            let in_table = row.get::<_, Option<i64>>(0).unwrap_or(i64::MAX);
            // The table holds every row scheduled before the query above. `earliest` may also
            // hold a write scheduled since (committed after the query): keep that one, but not
            // the value this loop left last time, which the sweep and the query have dealt with
            // (kept, a passed expiry would make the listener look again every 10 ms for good).
            let written = self.shared.earliest.swap(in_table, Ordering::SeqCst);
            let due = match written < left {
                true => written.min(in_table),
                false => in_table,
            };
            // From here on, only a write that expires before `due` wakes the listener. One that
            // lowered `earliest` since the swap left a wake-up, so it is not missed.
            self.shared.earliest.fetch_min(due, Ordering::SeqCst);
            left = due;
            let now = unix_ms();
            let wait = match u64::try_from(due.saturating_sub(now)) {
                // Due now, yet not deleted: locked by a request renewing it. Look again soon.
                Ok(0) | Err(_) => Duration::from_millis(10),
                Ok(ms) => Duration::from_millis(ms),
            };
            let _ = timeout(
                wait.min(self.config.poll_interval),
                self.shared.wake.notified(),
            )
            .await;
            if session.client.is_closed() && !self.stopped() {
                return Err(StoreError::unavailable(
                    "the session end listener's connection closed",
                ));
            }
        }
    }

    /// Deletes the rows whose `expire` has passed and reports them as expired, earliest first.
    async fn sweep(&self, session: &Session) -> Result<(), StoreError> {
        loop {
            let now = unix_ms();
            let rows = self
                .query(
                    session.client.query(&session.sweep, &[&now, &SWEEP_BATCH]),
                    "sweep",
                )
                .await?;
            let mut ends: Vec<(Option<i64>, String, Option<String>)> = rows
                .iter()
                .map(|row| (row.get(2), row.get(0), row.get(1)))
                .collect();
            ends.sort();
            for (_, id, json) in &ends {
                deliver(
                    &self.config.listener,
                    id,
                    json.as_deref(),
                    EndReason::Expired,
                );
            }
            if (ends.len() as i64) < SWEEP_BATCH {
                return Ok(());
            }
        }
    }

    /// Claims the outbox's rows (deletes by other programs) and reports them, oldest first.
    async fn claim(&self, session: &Session, claim: &Statement) -> Result<(), StoreError> {
        loop {
            let rows = self
                .query(session.client.query(claim, &[&BATCH]), "claim")
                .await?;
            let mut ends: Vec<(i64, String, Option<String>, Option<bool>)> = rows
                .iter()
                .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
                .collect();
            ends.sort();
            for (_, id, json, expired) in &ends {
                let reason = match expired {
                    Some(true) => EndReason::Expired,
                    _ => EndReason::Destroyed,
                };
                deliver(&self.config.listener, id, json.as_deref(), reason);
            }
            if (ends.len() as i64) < BATCH {
                return Ok(());
            }
        }
    }

    async fn query<T>(
        &self,
        query: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
        what: &'static str,
    ) -> Result<T, StoreError> {
        timeout(self.config.query_timeout, query)
            .await
            .map_err(|_| {
                StoreError::unavailable(format!(
                    "PostgreSQL did not answer `{what}` within {:?}",
                    self.config.query_timeout
                ))
            })?
            .map_err(|e| error(what, e))
    }
}

/// Reports the end of session `id`, whose last record is `json` (a `sess` that is `NULL` or not
/// a session record is logged, not reported).
pub(super) fn deliver(listener: &EndListener, id: &str, json: Option<&str>, reason: EndReason) {
    let Some(json) = json else {
        tracing::error!(%reason, "a session ended, but its row had no record: not reported");
        return;
    };
    match parse(json) {
        Ok(record) => listener.deliver(SessionEnd::new(id, record, reason)),
        Err(e) => tracing::error!(
            error = %e,
            %reason,
            "a session ended, but its last record is not a session: not reported"
        ),
    }
}
