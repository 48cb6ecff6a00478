//! The SQL of a [`PgStore`](super::PgStore): connect-pg-simple's table, and one statement per
//! operation, prepared once per connection.
//!
//! Instants cross the wire as milliseconds since the Unix epoch (`int8`) and are stored as UTC
//! wall-clock time in `expire` (`timestamp(6)`, without time zone), as connect-pg-simple stores
//! them on a server whose `TimeZone` is UTC; the conversion is spelled out in SQL so that it does
//! not depend on the connection's `TimeZone`.

use crate::record::MAX_LIFETIME_MS;

/// `ms` (milliseconds since the epoch, parameter `$n`) as a UTC `timestamp`.
pub(super) fn at(n: u8) -> String {
    format!("('epoch'::timestamp + ${n}::int8 * interval '1 millisecond')")
}

/// A `timestamp` column as milliseconds since the epoch.
pub(super) fn ms(column: &str) -> String {
    format!("(extract(epoch from {column}) * 1000)::int8")
}

/// `name` as a quoted SQL identifier: `"name"`, inner quotes doubled.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The table's name as SQL: `"schema"."table"`, or `"table"` (found through the `search_path`).
pub(super) fn qualified(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(table)),
        None => quote(table),
    }
}

/// connect-pg-simple's `table.sql` for table `table` (named `qualified`), if it does not exist.
/// Its constraint and index are named as connect-pg-simple names them for the default table
/// (`session_pkey`, `IDX_session_expire`), and after the table otherwise (two session tables in
/// one schema must not share index names).
pub(super) fn create_table(qualified: &str, table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {qualified} (\
           \"sid\" varchar NOT NULL COLLATE \"default\", \
           \"sess\" json NOT NULL, \
           \"expire\" timestamp(6) NOT NULL, \
           CONSTRAINT {pkey} PRIMARY KEY (\"sid\") NOT DEFERRABLE INITIALLY IMMEDIATE); \
         CREATE INDEX IF NOT EXISTS {index} ON {qualified} (\"expire\")",
        pkey = quote(&format!("{table}_pkey")),
        index = quote(&format!("IDX_{table}_expire")),
    )
}

/// The statements of one store, as SQL text.
pub(super) struct Sql {
    /// `$1` id, `$2` now: the stored JSON and `expire` of a live session.
    pub(super) load: String,
    /// `$1` id, `$2` now, `$3` the default TTL (ms): renews a live session's `expire` to now plus
    /// its cookie's `originalMaxAge` (or the default TTL for a cookie without one), answering its
    /// JSON and its `expire` before the renewal. A negative `originalMaxAge` ends the session
    /// (`expire` = now).
    pub(super) load_renew: String,
    /// `$1` id, `$2` JSON, `$3` expire, `$4` now: inserts a session unless a live one has the
    /// id (an expired row in the way is replaced). One row affected when written.
    pub(super) create: String,
    /// `$1` id, `$2` the JSON the write is based on, `$3` the new JSON, `$4` expire, `$5` now:
    /// writes only if the live row still holds exactly `$2`; answers how many rows were
    /// written and the JSON the row holds (null when there is no live row).
    pub(super) compare_and_set: String,
    /// `$1` id, `$2` now: deletes a live session (an update whose cookie expired). When the
    /// store reports ends, answers the deleted row's JSON.
    pub(super) end_live: String,
    /// `$1` id: deletes a session. When the store reports ends, answers the deleted row's JSON
    /// and `expire` (ms).
    pub(super) delete: String,
    /// `$1` now: the number of live sessions.
    pub(super) count: String,
    /// `$1` now: the ids of the live sessions.
    pub(super) ids: String,
    /// Deletes every session. When the store reports ends, answers each deleted row's id, JSON
    /// and `expire` (ms).
    pub(super) clear: String,
    /// `$1` now: deletes the expired rows.
    pub(super) prune: String,
}

impl Sql {
    /// The statements on `table`; with `reports_ends`, the deletes answer what they deleted
    /// (`DELETE … RETURNING`), so that whoever deletes a row reports its end, once.
    pub(super) fn new(table: &str, reports_ends: bool) -> Self {
        let returning = |columns: &str| {
            if reports_ends {
                format!(" RETURNING {columns}")
            } else {
                String::new()
            }
        };
        let renewed = format!(
            // `old.max_age`, read from the text, when the JSON starts as express and this crate
            // write it; the JSON operators otherwise. They decode every string of the JSON, and
            // fail on a `\u0000` or a lone surrogate escape, which `JSON.stringify` writes.
            "CASE WHEN old.max_age = 'null' THEN {now} + $3::int8 * interval '1 millisecond' \
               WHEN old.max_age IS NOT NULL \
               THEN {now} + least(greatest(old.max_age::float8, 0), \
                    {MAX_LIFETIME_MS}) * interval '1 millisecond' \
               WHEN json_typeof(s.sess -> 'cookie' -> 'originalMaxAge') = 'number' \
               THEN {now} + least(greatest((s.sess -> 'cookie' ->> 'originalMaxAge')::float8, 0), \
                    {MAX_LIFETIME_MS}) * interval '1 millisecond' \
               ELSE {now} + $3::int8 * interval '1 millisecond' END",
            now = at(2),
        );
        // The cookie's `originalMaxAge` (a JSON number, or `null`) when the JSON starts with it.
        let max_age = "substring(sess::text from \
             '^\\{\"cookie\":\\{\"originalMaxAge\":(null|-?[0-9]+(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)[,}]')";
        Self {
            load: format!(
                "SELECT sess::text, {expire} FROM {table} WHERE sid = $1::text AND expire > {now}",
                expire = ms("expire"),
                now = at(2),
            ),
            load_renew: format!(
                "UPDATE {table} AS s SET expire = {renewed} \
                 FROM (SELECT sid, expire, {max_age} AS max_age FROM {table} \
                   WHERE sid = $1::text FOR UPDATE) AS old \
                 WHERE s.sid = old.sid AND old.expire > {now} \
                 RETURNING s.sess::text, {old}",
                now = at(2),
                old = ms("old.expire"),
            ),
            create: format!(
                "INSERT INTO {table} AS s (sid, sess, expire) VALUES ($1::text, $2::text::json, {expire}) \
                 ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire \
                 WHERE s.expire <= {now}",
                expire = at(3),
                now = at(4),
            ),
            compare_and_set: format!(
                "WITH cur AS (SELECT sess::text AS sess FROM {table} \
                   WHERE sid = $1::text AND expire > {now}), \
                 upd AS (UPDATE {table} SET sess = $3::text::json, expire = {expire} \
                   WHERE sid = $1::text AND sess::text = $2::text AND expire > {now} RETURNING 1) \
                 SELECT (SELECT count(*) FROM upd), (SELECT sess FROM cur)",
                expire = at(4),
                now = at(5),
            ),
            end_live: format!(
                "DELETE FROM {table} WHERE sid = $1::text AND expire > {now}{returning}",
                now = at(2),
                returning = returning("sess::text"),
            ),
            delete: format!(
                "DELETE FROM {table} WHERE sid = $1::text{returning}",
                returning = returning(&format!("sess::text, {}", ms("expire"))),
            ),
            count: format!(
                "SELECT count(*) FROM {table} WHERE expire > {now}",
                now = at(1)
            ),
            ids: format!("SELECT sid FROM {table} WHERE expire > {now}", now = at(1)),
            clear: format!(
                "DELETE FROM {table}{returning}",
                returning = returning(&format!("sid, sess::text, {}", ms("expire"))),
            ),
            prune: format!("DELETE FROM {table} WHERE expire <= {now}", now = at(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote("session"), r#""session""#);
        assert_eq!(quote(r#"my "odd" table"#), r#""my ""odd"" table""#);
        assert_eq!(qualified(None, "session"), r#""session""#);
        assert_eq!(qualified(Some("app"), "Sessions"), r#""app"."Sessions""#);
    }

    #[test]
    fn the_default_table_is_created_as_connect_pg_simple_creates_it() {
        let sql = create_table(&qualified(None, "session"), "session");
        assert!(
            sql.contains(r#""sid" varchar NOT NULL COLLATE "default""#),
            "{sql}"
        );
        assert!(sql.contains(r#""sess" json NOT NULL"#), "{sql}");
        assert!(sql.contains(r#""expire" timestamp(6) NOT NULL"#), "{sql}");
        assert!(
            sql.contains(r#"CONSTRAINT "session_pkey" PRIMARY KEY ("sid")"#),
            "{sql}"
        );
        assert!(
            sql.contains(
                r#"CREATE INDEX IF NOT EXISTS "IDX_session_expire" ON "session" ("expire")"#
            ),
            "{sql}"
        );
    }
}
