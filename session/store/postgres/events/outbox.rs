//! The outbox of deletes made by other programs: an `AFTER DELETE` row trigger on the session
//! table copies each row that a connection of another program deletes (a Node app's `destroy`,
//! connect-pg-simple's pruning, `psql`) into a table beside it, and `NOTIFY`s the listeners;
//! app servers claim its rows with `DELETE … RETURNING`, so each one is reported once.
//!
//! The connections of a store that reports ends set [`SETTING`] at start-up, and the trigger's
//! `WHEN` skips their deletes: the store reports those itself, from its own `DELETE …
//! RETURNING`, with the reason it knows (regenerated, cleared…).

use tokio_postgres::Client;

use super::super::sql::{fnv1a, literal, quote};

/// The setting that the connections of a store that reports ends carry (`-c
/// actix_typed_session.reports_ends=on` in their start-up options).
pub(in crate::store::postgres) const SETTING: &str = "actix_typed_session.reports_ends";

/// The trigger's name (one per table, so the same for every table).
const TRIGGER: &str = "actix_typed_session_end";

/// How many outbox rows one claim takes.
pub(super) const BATCH: i64 = 500;

/// The outbox of one session table, its trigger installed.
pub(super) struct Outbox {
    /// `LISTEN` on the channel the trigger notifies.
    pub(super) listen: String,
    /// `$1` how many: claims the oldest outbox rows, answering each one's `id`, `sid`, `sess`
    /// and whether it had expired when it was deleted.
    pub(super) claim: String,
}

/// Creates (if missing) the outbox of session table `table` (quoted SQL), its trigger function
/// and its trigger, serialized with other app servers doing the same by an advisory lock, and
/// answers the statements that read it. The outbox and the function live in the table's schema,
/// named after it: `<table>_ended` and `<table>_ended_report`.
pub(super) async fn install(client: &Client, table: &str) -> Result<Outbox, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::text::regclass",
            &[&table],
        )
        .await?;
    let (schema, name): (String, String) = (row.get(0), row.get(1));
    let resolved = format!("{}.{}", quote(&schema), quote(&name));
    let outbox = format!("{}.{}", quote(&schema), quote(&format!("{name}_ended")));
    let function = format!(
        "{}.{}",
        quote(&schema),
        quote(&format!("{name}_ended_report"))
    );
    let channel = format!("session_end_{:016x}", fnv1a(&resolved));
    let lock = fnv1a(&format!("actix-typed-session end trigger {resolved}")) as i64;
    // One simple query: one implicit transaction, holding the lock to its end.
    client
        .batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({lock}); \
             CREATE TABLE IF NOT EXISTS {outbox} (\
               \"id\" bigserial PRIMARY KEY, \
               \"sid\" varchar NOT NULL, \
               \"sess\" json NOT NULL, \
               \"expire\" timestamp(6) NOT NULL, \
               \"ended\" timestamp(6) NOT NULL); \
             CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS \
               $actix_typed_session$ BEGIN \
                 INSERT INTO {outbox} (sid, sess, expire, ended) \
                   VALUES (OLD.sid, OLD.sess, OLD.expire, statement_timestamp() AT TIME ZONE 'UTC'); \
                 PERFORM pg_notify({channel_literal}, ''); \
                 RETURN NULL; \
               END $actix_typed_session$; \
             DO $actix_typed_session$ BEGIN \
               IF NOT EXISTS (SELECT 1 FROM pg_trigger \
                   WHERE tgrelid = {table_literal}::regclass AND tgname = {trigger_literal}) THEN \
                 CREATE TRIGGER {trigger} AFTER DELETE ON {resolved} FOR EACH ROW \
                   WHEN (current_setting({setting_literal}, true) IS DISTINCT FROM 'on') \
                   EXECUTE FUNCTION {function}(); \
               END IF; \
             END $actix_typed_session$",
            channel_literal = literal(&channel),
            table_literal = literal(&resolved),
            trigger_literal = literal(TRIGGER),
            trigger = quote(TRIGGER),
            setting_literal = literal(SETTING),
        ))
        .await?;
    Ok(Outbox {
        listen: format!("LISTEN {}", quote(&channel)),
        // An outbox row whose `expire` had passed when it was deleted (or was less than a second
        // away: connect-pg-simple prunes `expire < to_timestamp(<now, rounded up to the
        // second>)`) is an expiry; any other, a destroy.
        claim: format!(
            "DELETE FROM {outbox} WHERE id IN \
               (SELECT id FROM {outbox} ORDER BY id LIMIT $1::int8 FOR UPDATE SKIP LOCKED) \
             RETURNING id, sid::text, sess::text, expire <= ended + interval '1 second'"
        ),
    })
}
