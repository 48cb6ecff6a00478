//! The SQL of a [`PgStore`](super::PgStore)'s session index: what it creates beside
//! connect-pg-simple's table, and the statements that list, count, end and write sessions by the
//! value of an indexed field.
//!
//! The session table is the index's truth: sessions are found by an expression index on the
//! field's value in `sess` (`<table>_index_value(sess, 'user')`), so a row that a Node app
//! writes, changes or deletes is listed, moved or dropped with no bookkeeping of ours, and a listed
//! session exists, is unexpired and holds the value at the moment of the query. Beside the table,
//! `<table>_indexed` keeps, per session and field, the value this crate's writes gave it and
//! when (`indexed_at`); it is only believed while it agrees with the row.
//!
//! Writes that give a session a value, change it or remove it go through the function
//! `<table>_index_write` in one statement: it takes an advisory lock per value (old and new,
//! in a fixed order, so that writers of one value take turns and never deadlock), then each of
//! its queries sees what the writer before it committed (a `VOLATILE` function takes a fresh
//! snapshot per query), so limits are exact across app servers. One statement on the worker's
//! shared, pipelined connection: no transaction block holds that connection, and the lock lasts
//! until the statement's own implicit transaction ends. `end_sessions_by` goes through
//! `<table>_index_end`, which takes the value's lock before it deletes, so that it takes turns
//! with the writes of the value rather than deadlocking with a displacement.
//!
//! `hashtextextended` needs PostgreSQL 11 or later.

use super::sql::{at, fnv1a, literal, ms, quote};
use crate::{record::MAX_LIFETIME_MS, store::IndexSpec};

/// The statements of one indexed field.
pub(super) struct FieldSql {
    /// `$1` value (canonical JSON), `$2` now, `$3` default TTL (ms): the live sessions of the
    /// value, oldest `indexed_at` first: id, JSON, `expire` (ms), `indexed_at` (ms).
    pub(super) list: String,
    /// `$1` value, `$2` now: how many live sessions hold the value.
    pub(super) count: String,
}

/// The index objects and statements of one store.
pub(super) struct IndexSql {
    /// Creates, when missing, the table of `indexed_at`s, the value, write and end functions and
    /// the expression indexes: one simple query, so one transaction, under an advisory lock.
    pub(super) install: String,
    /// The write (see the module's docs): `$1` id, `$2` the JSON the write is based on (null: a
    /// create), `$3` the new JSON, `$4` expire, `$5` now, `$6` default TTL (ms), `$7` the
    /// indexed fields, `$8` their values before (canonical JSON or null), `$9` after, `$10`
    /// their limits (null: none), `$11` whether over the limit refuses. Answers rows of
    /// `(kind, id, JSON, expire)`: `saved`, `displaced` (one per session ended), `conflict` (a
    /// create on a live id), `gone` (no live row), `changed` (the row holds the JSON answered),
    /// `refused`.
    pub(super) write: String,
    /// `$1` field, `$2` value, `$3` now, `$4` an id to keep (or null): deletes the live sessions
    /// of the value (through the end function, under the value's advisory lock, so that it
    /// takes turns with the writes of that value), answering each one's id, JSON and `expire`
    /// (ms).
    pub(super) end: String,
    /// The statements of each field, in the order of the store's indexes.
    pub(super) fields: Vec<FieldSql>,
    /// `$1` now: deletes the `indexed_at`s of sessions that ended.
    pub(super) prune: String,
}

/// The name of the expression index on field `field` of table `table` (unquoted):
/// `IDX_<table>_<field>`, or a hash of it when that is longer than PostgreSQL's 63 bytes.
fn expression_index_name(table: &str, field: &str) -> String {
    let name = format!("IDX_{table}_{field}");
    if name.len() <= 63 {
        name
    } else {
        format!("IDX_{:016x}", fnv1a(&name))
    }
}

/// `name` in schema `schema` (if given) as SQL.
fn in_schema(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(name)),
        None => quote(name),
    }
}

/// The value of field `field` (an SQL literal) in column `sess` (as SQL: `sess`, `t.sess`), as
/// `jsonb`, through `function` (the value function, see [`VALUE_FUNCTION`]):
/// the expression the expression index holds.
fn value(function: &str, sess: &str, field: &str) -> String {
    format!("{function}({sess}, {field})")
}

/// When the session of row `t` got its value, `x` the row of `<table>_indexed` that agrees with
/// it (if any): for a value that this crate's write gave, the instant of that write; for one
/// that another program gave, the row's last renewal (`expire` minus the cookie's
/// `originalMaxAge`, or minus the default TTL `ttl`), at most now.
fn indexed_at(function: &str, now: &str, ttl: &str) -> String {
    let cookie = value(function, "t.sess", "'cookie'");
    format!(
        "coalesce(x.indexed_at, least(CASE \
           WHEN jsonb_typeof({cookie} -> 'originalMaxAge') = 'number' \
           THEN t.expire - least(greatest(({cookie} ->> 'originalMaxAge')::float8, 0), \
                {MAX_LIFETIME_MS}) * interval '1 millisecond' \
           ELSE t.expire - {ttl}::int8 * interval '1 millisecond' END, {now}))"
    )
}

/// The value function: member `p_field` of `p_sess` as `jsonb`, or null when it is missing or
/// cannot be read. PostgreSQL's JSON operators decode every string of the JSON and fail on a
/// `\u0000` or a lone surrogate escape (which `JSON.stringify` writes) anywhere in it: the
/// expression index would then fail every write of such a session, a Node app's included. A JSON
/// with a `\u` escape is read in a block that answers null on failure (a subtransaction, so only
/// then); any other, directly.
const VALUE_FUNCTION: &str = r#"CREATE OR REPLACE FUNCTION @FUNCTION@(p_sess json, p_field text)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $actix_typed_session$
BEGIN
  IF strpos(p_sess::text, '\u') = 0 THEN
    RETURN (p_sess -> p_field)::jsonb;
  END IF;
  BEGIN
    RETURN (p_sess -> p_field)::jsonb;
  EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
  END;
END $actix_typed_session$"#;

/// The write function's body; `@…@` are filled in by [`IndexSql::new`].
const WRITE_FUNCTION: &str = r#"CREATE OR REPLACE FUNCTION @FUNCTION@(
  p_sid text, p_base text, p_json text, p_expire timestamp, p_now timestamp, p_ttl int8,
  p_fields text[], p_old text[], p_new text[], p_max int4[], p_refuse bool[])
RETURNS TABLE (o_kind text, o_sid text, o_sess text, o_expire int8)
LANGUAGE plpgsql VOLATILE AS $actix_typed_session$
DECLARE
  v_lock int8;
  v_cur text;
  v_count int8;
  v_i int4;
  v_n int4 := coalesce(array_length(p_fields, 1), 0);
BEGIN
  FOR v_lock IN
    SELECT DISTINCT hashtextextended(@TABLE_LITERAL@ || chr(31) || u.f || chr(31) || u.v::jsonb::text, 0)
    FROM unnest(p_fields || p_fields, p_old || p_new) AS u(f, v) WHERE u.v IS NOT NULL ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(v_lock);
  END LOOP;
  IF p_base IS NULL THEN
    PERFORM 1 FROM @TABLE@ t WHERE t.sid = p_sid AND t.expire > p_now;
    IF FOUND THEN
      RETURN QUERY SELECT 'conflict'::text, NULL::text, NULL::text, NULL::int8;
      RETURN;
    END IF;
  ELSE
    SELECT t.sess::text INTO v_cur FROM @TABLE@ t
      WHERE t.sid = p_sid AND t.expire > p_now FOR UPDATE;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'gone'::text, NULL::text, NULL::text, NULL::int8;
      RETURN;
    END IF;
    IF v_cur IS DISTINCT FROM p_base THEN
      RETURN QUERY SELECT 'changed'::text, NULL::text, v_cur, NULL::int8;
      RETURN;
    END IF;
  END IF;
  FOR v_i IN 1 .. v_n LOOP
    CONTINUE WHEN p_new[v_i] IS NULL OR p_max[v_i] IS NULL OR NOT p_refuse[v_i]
      OR p_new[v_i]::jsonb IS NOT DISTINCT FROM p_old[v_i]::jsonb;
    EXECUTE format($q$SELECT count(*) FROM @TABLE@ t
        WHERE @VALUE@(t.sess, %L) = $1::jsonb AND t.expire > $2 AND t.sid <> $3$q$,
        p_fields[v_i])
      INTO v_count USING p_new[v_i], p_now, p_sid;
    IF v_count >= p_max[v_i] THEN
      RETURN QUERY SELECT 'refused'::text, NULL::text, NULL::text, NULL::int8;
      RETURN;
    END IF;
  END LOOP;
  IF p_base IS NULL THEN
    INSERT INTO @TABLE@ AS t (sid, sess, expire) VALUES (p_sid, p_json::json, p_expire)
      ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire
      WHERE t.expire <= p_now;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'conflict'::text, NULL::text, NULL::text, NULL::int8;
      RETURN;
    END IF;
  ELSE
    UPDATE @TABLE@ t SET sess = p_json::json, expire = p_expire WHERE t.sid = p_sid;
  END IF;
  FOR v_i IN 1 .. v_n LOOP
    CONTINUE WHEN p_base IS NOT NULL AND p_new[v_i]::jsonb IS NOT DISTINCT FROM p_old[v_i]::jsonb;
    IF p_new[v_i] IS NULL THEN
      DELETE FROM @SIDE@ x WHERE x.sid = p_sid AND x.field = p_fields[v_i];
      CONTINUE;
    END IF;
    INSERT INTO @SIDE@ AS x (sid, field, value, indexed_at)
      VALUES (p_sid, p_fields[v_i], p_new[v_i]::jsonb, p_now)
      ON CONFLICT (sid, field) DO UPDATE SET value = EXCLUDED.value, indexed_at = EXCLUDED.indexed_at;
    CONTINUE WHEN p_max[v_i] IS NULL OR p_refuse[v_i];
    RETURN QUERY EXECUTE format($q$WITH gone AS (DELETE FROM @TABLE@ d WHERE d.sid IN (
          SELECT t.sid FROM @TABLE@ t LEFT JOIN @SIDE@ x ON x.sid = t.sid AND x.field = %1$L
            AND x.value = @VALUE@(t.sess, %1$L)
          WHERE @VALUE@(t.sess, %1$L) = $1::jsonb AND t.expire > $2 AND t.sid <> $3
          ORDER BY @INDEXED_AT@ DESC, t.sid DESC OFFSET $4)
        RETURNING d.sid, d.sess, d.expire),
      cleared AS (DELETE FROM @SIDE@ c USING gone WHERE c.sid = gone.sid)
      SELECT 'displaced'::text, gone.sid::text, gone.sess::text, @GONE_EXPIRE@ FROM gone$q$,
        p_fields[v_i])
      USING p_new[v_i], p_now, p_sid, p_max[v_i] - 1, p_ttl;
  END LOOP;
  RETURN QUERY SELECT 'saved'::text, NULL::text, NULL::text, NULL::int8;
END $actix_typed_session$"#;

/// The end function's body; `@…@` are filled in by [`IndexSql::new`].
const END_FUNCTION: &str = r#"CREATE OR REPLACE FUNCTION @FUNCTION@(
  p_field text, p_value text, p_now timestamp, p_except text)
RETURNS TABLE (o_sid text, o_sess text, o_expire int8)
LANGUAGE plpgsql VOLATILE AS $actix_typed_session$
BEGIN
  PERFORM pg_advisory_xact_lock(
    hashtextextended(@TABLE_LITERAL@ || chr(31) || p_field || chr(31) || p_value::jsonb::text, 0));
  RETURN QUERY EXECUTE format($q$WITH gone AS (DELETE FROM @TABLE@ t
        WHERE @VALUE@(t.sess, %L) = $1::jsonb AND t.expire > $2 AND t.sid IS DISTINCT FROM $3
        RETURNING t.sid, t.sess, t.expire),
      cleared AS (DELETE FROM @SIDE@ c USING gone WHERE c.sid = gone.sid)
      SELECT gone.sid::text, gone.sess::text, @GONE_EXPIRE@ FROM gone$q$, p_field)
    USING p_value, p_now, p_except;
END $actix_typed_session$"#;

impl IndexSql {
    /// The index objects and statements of table `table` (quoted SQL) named `name` in schema
    /// `schema`, for `specs`.
    pub(super) fn new(table: &str, schema: Option<&str>, name: &str, specs: &[IndexSpec]) -> Self {
        let side = in_schema(schema, &format!("{name}_indexed"));
        let function = in_schema(schema, &format!("{name}_index_write"));
        let end_function = in_schema(schema, &format!("{name}_index_end"));
        let value_function = in_schema(schema, &format!("{name}_index_value"));
        let lock = fnv1a(&format!("actix-typed-session index {table}")) as i64;
        let mut install = format!(
            "SELECT pg_advisory_xact_lock({lock}); \
             CREATE TABLE IF NOT EXISTS {side} (\
               \"sid\" varchar NOT NULL, \
               \"field\" text NOT NULL, \
               \"value\" jsonb NOT NULL, \
               \"indexed_at\" timestamp(6) NOT NULL, \
               PRIMARY KEY (\"sid\", \"field\")); "
        );
        install.push_str(&VALUE_FUNCTION.replace("@FUNCTION@", &value_function));
        install.push_str("; ");
        for spec in specs {
            let index = quote(&expression_index_name(name, &spec.name));
            install.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS {index} ON {table} ({}); ",
                value(&value_function, "sess", &literal(&spec.name)),
            ));
        }
        install.push_str(
            &WRITE_FUNCTION
                .replace("@FUNCTION@", &function)
                .replace("@TABLE_LITERAL@", &literal(table))
                .replace("@TABLE@", table)
                .replace("@SIDE@", &side)
                .replace("@INDEXED_AT@", &indexed_at(&value_function, "$2", "$5"))
                .replace("@VALUE@", &value_function)
                .replace("@GONE_EXPIRE@", &ms("gone.expire")),
        );
        install.push_str("; ");
        install.push_str(
            &END_FUNCTION
                .replace("@FUNCTION@", &end_function)
                .replace("@TABLE_LITERAL@", &literal(table))
                .replace("@TABLE@", table)
                .replace("@SIDE@", &side)
                .replace("@VALUE@", &value_function)
                .replace("@GONE_EXPIRE@", &ms("gone.expire")),
        );
        let write = format!(
            "SELECT o_kind, o_sid, o_sess, o_expire FROM {function}($1::text, $2::text, \
             $3::text, {expire}, {now}, $6::int8, $7::text[], $8::text[], $9::text[], \
             $10::int4[], $11::bool[])",
            expire = at(4),
            now = at(5),
        );
        let fields = specs
            .iter()
            .map(|spec| {
                let field = literal(&spec.name);
                let v = value(&value_function, "t.sess", &field);
                FieldSql {
                    list: format!(
                        "SELECT t.sid::text, t.sess::text, {expire}, {at} FROM {table} t \
                         LEFT JOIN {side} x ON x.sid = t.sid AND x.field = {field} AND x.value = {v} \
                         WHERE {v} = $1::text::jsonb AND t.expire > {now} ORDER BY 4, 1",
                        expire = ms("t.expire"),
                        at = ms(&indexed_at(&value_function, &at(2), "$3")),
                        now = at(2),
                    ),
                    count: format!(
                        "SELECT count(*) FROM {table} t WHERE {v} = $1::text::jsonb AND t.expire > {now}",
                        now = at(2),
                    ),
                }
            })
            .collect();
        Self {
            install,
            write,
            end: format!(
                "SELECT o_sid, o_sess, o_expire FROM {end_function}($1::text, $2::text, {now}, \
                 $4::text)",
                now = at(3),
            ),
            fields,
            prune: format!(
                "DELETE FROM {side} x WHERE NOT EXISTS \
                   (SELECT 1 FROM {table} t WHERE t.sid = x.sid AND t.expire > {now})",
                now = at(1),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_expression_index_name_is_hashed_to_fit() {
        assert_eq!(expression_index_name("session", "user"), "IDX_session_user");
        let long = expression_index_name(&"t".repeat(40), &"f".repeat(40));
        assert_eq!(long.len(), 20);
        assert!(long.starts_with("IDX_"), "{long}");
    }

    #[test]
    fn the_index_expression_is_the_same_in_the_index_and_the_queries() {
        let specs = [IndexSpec {
            name: "user".into(),
            limit: None,
        }];
        let sql = IndexSql::new("\"session\"", None, "session", &specs);
        assert!(
            sql.install.contains(
                r#"CREATE INDEX IF NOT EXISTS "IDX_session_user" ON "session" ("session_index_value"(sess, 'user'))"#
            ),
            "{}",
            sql.install
        );
        assert!(
            sql.fields[0]
                .count
                .contains(r#""session_index_value"(t.sess, 'user') = $1::text::jsonb"#),
            "{}",
            sql.fields[0].count
        );
    }
}
