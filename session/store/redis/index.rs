//! The indexes of a [`RedisStore`](super::RedisStore): per value of an indexed field, one sorted
//! set `<prefix>index:<field>:<canonical value>` whose members are the ids of the sessions that
//! hold the value, each scored by the millisecond it got it.
//!
//! Every read of an index verifies its members (the session key exists and holds the value) and
//! drops the ones that do not: a reader never sees a stale entry, whatever left it behind (a Node
//! app's destroy, an expiry nobody reported, a crash between the steps of a cluster write).

use std::sync::LazyLock;

use ::redis::{cmd, Pipeline, Script, ScriptInvocation, Value};

use futures_util::future::join_all;

use super::{conn::Connections, parse, script, ttl::follow_ttl};
use crate::{
    record::{now_ms, ChangeSet, Record},
    store::{unix_ms, value_of, IndexSpec, OverLimit, StoreError},
};

/// Writes a session and its index entries atomically (a single server).
static WRITE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("index_write.lua")));

/// Lists a session under one index key and keeps the key alive as long as the session.
static ADD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("index_add.lua")));

/// Drops the members of one index key found stale, unless they got the value again since.
static DROP: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("index_drop.lua")));

/// In a Redis Cluster, how old (by its score) an entry whose session does not hold its value
/// must be before a reader drops it. A cluster write lists a session under its new value before
/// it writes the session (they are on different nodes), so a reader may find a young entry whose
/// session is not written yet: it is not listed, and is dropped only once it is older than this.
const PENDING_MS: i64 = 5_000;

/// The Redis key of the sessions whose field `name` holds the canonical JSON `value`.
pub(super) fn key(prefix: &str, name: &str, value: &str) -> String {
    format!("{prefix}index:{name}:{value}")
}

/// The start of every index key of a store with key prefix `prefix`.
pub(super) fn keys_prefix(prefix: &str) -> String {
    format!("{prefix}index:")
}

/// The canonical value of each index (in `specs` order) that `record` holds.
pub(super) fn values(specs: &[IndexSpec], record: &Record) -> Vec<Option<String>> {
    specs
        .iter()
        .map(|spec| value_of(record.fields.iter_json(), &spec.name))
        .collect()
}

/// The values of each index once `changes` apply to a record that held `old`: a field the change
/// set names takes its value from it, whatever the record held.
pub(super) fn values_after(
    specs: &[IndexSpec],
    old: &[Option<String>],
    changes: &ChangeSet,
) -> Vec<Option<String>> {
    specs
        .iter()
        .zip(old)
        .map(
            |(spec, old)| match changes.iter().filter(|(n, _)| *n == &*spec.name).last() {
                None => old.clone(),
                Some((_, None)) => None,
                Some((name, Some(value))) => value_of(std::iter::once((name, value.get())), name),
            },
        )
        .collect()
}

/// What a write does to one index key of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// The session gets the value.
    Add,
    /// The session loses the value.
    Remove,
    /// The session keeps the value (its key must live as long as the session).
    Keep,
}

impl Step {
    fn as_arg(self) -> &'static str {
        match self {
            Step::Add => "add",
            Step::Remove => "rem",
            Step::Keep => "keep",
        }
    }
}

/// One index key a write changes.
#[derive(Debug, Clone)]
pub(super) struct Change {
    /// The stored name of the indexed field.
    pub(super) name: Box<str>,
    /// The canonical value.
    pub(super) value: String,
    /// The index key.
    pub(super) key: String,
    pub(super) step: Step,
    /// The index's limit per value.
    pub(super) limit: Option<(usize, OverLimit)>,
}

/// The index keys a write changes when a session's values go from `old` to `new` (`old` empty:
/// a new session).
pub(super) fn changes(
    prefix: &str,
    specs: &[IndexSpec],
    old: &[Option<String>],
    new: &[Option<String>],
) -> Vec<Change> {
    let mut out = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let before = old.get(n).cloned().flatten();
        let after = new.get(n).cloned().flatten();
        let mut push = |value: String, step| {
            out.push(Change {
                name: spec.name.clone(),
                key: key(prefix, &spec.name, &value),
                value,
                step,
                limit: spec.limit,
            });
        };
        match (before, after) {
            (Some(b), Some(a)) if a == b => push(a, Step::Keep),
            (before, after) => {
                if let Some(b) = before {
                    push(b, Step::Remove);
                }
                if let Some(a) = after {
                    push(a, Step::Add);
                }
            }
        }
    }
    out
}

/// `index_write.lua` in `mode` ('create' or 'cas'); see the script for the arguments.
#[allow(clippy::too_many_arguments)]
pub(super) fn write(
    mode: &str,
    key: &str,
    shadow: (&str, Option<i64>),
    base_or_record: &[u8],
    merged: &str,
    ttl_ms: i64,
    now_ms: i64,
    id: &str,
    prefix: &str,
    changes: &[Change],
) -> ScriptInvocation<'static> {
    let mut invocation = WRITE.key(key);
    invocation.key(shadow.0);
    invocation
        .arg(mode)
        .arg(base_or_record)
        .arg(merged)
        .arg(ttl_ms)
        .arg(shadow.1.map_or(String::new(), |g| g.to_string()))
        .arg(now_ms)
        .arg(id)
        .arg(prefix);
    for change in changes {
        let (max, over) = match change.limit {
            Some((max, OverLimit::Refuse)) => (max, "refuse"),
            Some((max, _)) => (max, "end"),
            None => (0, ""),
        };
        invocation
            .key(&change.key)
            .arg(change.step.as_arg())
            .arg(max)
            .arg(over);
    }
    invocation
}

/// Lists session `id` under `index_key` as `mode` says (`index_add.lua`: 'set', 'keep' or
/// 'renew'), and keeps the key alive at least `ttl_ms`.
pub(super) async fn add(
    conns: &Connections,
    index_key: &str,
    id: &str,
    at_ms: i64,
    ttl_ms: i64,
    mode: &str,
) -> Result<(), StoreError> {
    let mut invocation = ADD.key(index_key);
    invocation.arg(id).arg(at_ms).arg(ttl_ms).arg(mode);
    conns
        .invoke_idempotent::<i64>("index", &invocation)
        .await
        .map(|_| ())
}

/// Removes session `id` from `index_key`.
pub(super) async fn remove(
    conns: &Connections,
    index_key: &str,
    id: &str,
) -> Result<(), StoreError> {
    let mut zrem = cmd("ZREM");
    zrem.arg(index_key).arg(id);
    conns
        .cmd_idempotent::<i64>("index", &zrem)
        .await
        .map(|_| ())
}

/// Removes session `id`, whose last record was `json`, from the index keys of its values.
pub(super) async fn unindex(
    conns: &Connections,
    prefix: &str,
    specs: &[IndexSpec],
    id: &str,
    json: &[u8],
) -> Result<(), StoreError> {
    let Ok(record) = parse(json) else {
        return Ok(());
    };
    for (spec, value) in specs.iter().zip(values(specs, &record)) {
        if let Some(value) = value {
            remove(conns, &key(prefix, &spec.name, &value), id).await?;
        }
    }
    Ok(())
}

/// A session listed under an index key that holds the value.
pub(super) struct Member {
    pub(super) id: String,
    /// When it got the value (its score), milliseconds since the epoch.
    pub(super) at_ms: i64,
    /// Its record as stored, the expiry following its key's TTL.
    pub(super) record: Record,
}

/// The sessions listed under the index key of field `name` and value `value`, oldest first,
/// other than `except`, each read and kept only if its session is stored and holds the value.
/// The others are dropped from the key, at once on a single server; in a cluster, once older
/// than [`PENDING_MS`] (a write in flight lists a session before it writes it).
pub(super) async fn live(
    conns: &Connections,
    prefix: &str,
    cluster: bool,
    name: &str,
    value: &str,
    except: Option<&str>,
) -> Result<Vec<Member>, StoreError> {
    Ok(listing(conns, prefix, cluster, name, value, except)
        .await?
        .live)
}

/// What a read of an index key found.
pub(super) struct Listing {
    /// The verified sessions, oldest first.
    pub(super) live: Vec<Member>,
    /// In a cluster, the young entries whose sessions do not hold the value (yet): id, score.
    pub(super) pending: Vec<(String, i64)>,
}

/// [`live`], with the entries left pending.
pub(super) async fn listing(
    conns: &Connections,
    prefix: &str,
    cluster: bool,
    name: &str,
    value: &str,
    except: Option<&str>,
) -> Result<Listing, StoreError> {
    let index_key = key(prefix, name, value);
    let mut zrange = cmd("ZRANGE");
    zrange.arg(&index_key).arg(0).arg(-1).arg("WITHSCORES");
    let listed: Vec<(String, f64)> = conns.cmd_idempotent("index", &zrange).await?;
    let listed: Vec<(String, i64)> = listed
        .into_iter()
        .filter(|(id, _)| Some(id.as_str()) != except)
        // Scores are whole milliseconds, exact in a double.
        .map(|(id, score)| (id, score as i64))
        .collect();
    if listed.is_empty() {
        return Ok(Listing {
            live: Vec::new(),
            pending: Vec::new(),
        });
    }
    // Before the reads, so that an expiry derived from a TTL is never later than the key's.
    let now = now_ms();
    let read = if cluster {
        // One read per session, all at once: the sessions are on different nodes.
        let reads = listed.iter().map(|(id, _)| {
            let invocation = script::load(&format!("{prefix}{id}"));
            async move {
                let found: Option<(Vec<u8>, i64)> =
                    conns.invoke_idempotent("index", &invocation).await?;
                Ok::<_, StoreError>(match found {
                    Some((json, pttl)) => [Value::BulkString(json), Value::Int(pttl)],
                    None => [Value::Nil, Value::Nil],
                })
            }
        });
        let mut read = Vec::with_capacity(listed.len() * 2);
        for answer in join_all(reads).await {
            read.extend(answer?);
        }
        read
    } else {
        let mut pipe = Pipeline::new();
        for (id, _) in &listed {
            let session_key = format!("{prefix}{id}");
            pipe.cmd("GET")
                .arg(&session_key)
                .cmd("PTTL")
                .arg(&session_key);
        }
        conns.pipe_idempotent::<Vec<Value>>("index", &pipe).await?
    };
    let now_unix = unix_ms();
    let mut found = Vec::with_capacity(listed.len());
    let mut stale = Vec::new();
    let mut pending = Vec::new();
    let mut answers = read.into_iter();
    for (id, at_ms) in listed {
        let (json, pttl) = (answers.next(), answers.next());
        let member = match (json, pttl) {
            (Some(Value::BulkString(json)), Some(Value::Int(pttl))) => match parse(&json) {
                Ok(mut record) => {
                    let holds =
                        value_of(record.fields.iter_json(), name).is_some_and(|v| v == value);
                    follow_ttl(&mut record.cookie, pttl, now);
                    holds.then_some(record)
                }
                Err(_) => None,
            },
            _ => None,
        };
        match member {
            Some(record) => found.push(Member { id, at_ms, record }),
            None if !cluster || now_unix - at_ms > PENDING_MS => stale.push((id, at_ms)),
            None => pending.push((id, at_ms)),
        }
    }
    if !stale.is_empty() {
        let mut invocation = DROP.key(&index_key);
        for (id, at_ms) in &stale {
            invocation.arg(id).arg(at_ms);
        }
        let dropped: i64 = conns.invoke_idempotent("index", &invocation).await?;
        tracing::debug!(
            field = name,
            dropped,
            "dropped index entries whose sessions no longer hold the value"
        );
    }
    Ok(Listing {
        live: found,
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> IndexSpec {
        IndexSpec {
            name: name.into(),
            limit: None,
        }
    }

    #[test]
    fn an_index_key_names_the_field_and_the_canonical_value() {
        assert_eq!(
            key("sess:", "user", "\"alice\""),
            "sess:index:user:\"alice\""
        );
        assert!(key("sess:", "user", "7").starts_with(&keys_prefix("sess:")));
    }

    #[test]
    fn a_change_set_decides_the_values_of_the_fields_it_names() {
        let specs = [spec("user"), spec("team")];
        let old = vec![Some("\"a\"".to_owned()), Some("1".to_owned())];
        let raw = |json: &str| serde_json::value::RawValue::from_string(json.into()).unwrap();
        let mut set = ChangeSet::new();
        // Another program's spacing and escapes: the canonical value names the key.
        set.set("user", raw(r#" "\u0062" "#));
        set.remove("team");
        let after = values_after(&specs, &old, &set);
        assert_eq!(after, [Some("\"b\"".to_owned()), None]);
        let mut null = ChangeSet::new();
        null.set("user", raw("null"));
        assert_eq!(values_after(&specs, &old, &null), [None, old[1].clone()]);
        let steps: Vec<Step> = changes("p:", &specs, &old, &after)
            .into_iter()
            .map(|c| c.step)
            .collect();
        assert_eq!(steps, [Step::Remove, Step::Add, Step::Remove]);
        let kept = changes("p:", &specs, &old, &old);
        assert!(kept.iter().all(|c| c.step == Step::Keep));
        assert_eq!(kept[0].key, "p:index:user:\"a\"");
    }
}
