//! The writes and queries of a [`RedisStore`] with indexes: a write that gives a session an
//! indexed value, changes or removes it, or renews a session that holds one, keeps its index
//! keys (see [`index`](super::index)) in step; on a single server in the write's own script, in a
//! Redis Cluster in steps around it.

use ::redis::{cmd, Value};

use super::{
    bases,
    conn::Target,
    events::{self, shadow_key},
    index::{self, Change, Step},
    parse, scan, RedisStore,
};
use crate::{
    record::{ChangeSet, Record, SessionCookie},
    store::{
        from_unix_ms, no_index, unix_ms, EndReason, IndexKey, IndexedSession, OverLimit,
        SaveOutcome, StoreError,
    },
};

/// How many times an indexed update merges onto what Redis holds before it gives up.
const ATTEMPTS: usize = 8;

impl RedisStore {
    /// Whether the store is on a Redis Cluster (index keys and session keys on different nodes).
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.inner.conns.target(), Target::Cluster(_))
    }

    /// The error for a query on a field this store does not index.
    fn indexed(&self, key: &IndexKey) -> Result<(), StoreError> {
        if self.inner.indexes.iter().any(|s| &*s.name == key.name()) {
            Ok(())
        } else {
            Err(no_index(key))
        }
    }

    /// The live sessions of `key` other than `except`, oldest first, verified.
    async fn live(
        &self,
        key: &IndexKey,
        except: Option<&str>,
    ) -> Result<Vec<index::Member>, StoreError> {
        self.indexed(key)?;
        index::live(
            &self.inner.conns,
            &self.inner.prefix,
            self.is_cluster(),
            key.name(),
            key.value_json(),
            except,
        )
        .await
    }

    /// [`SessionStore::sessions_by`](crate::store::SessionStore::sessions_by).
    pub(super) async fn indexed_sessions(
        &self,
        key: &IndexKey,
    ) -> Result<Vec<IndexedSession>, StoreError> {
        Ok(self
            .live(key, None)
            .await?
            .into_iter()
            .map(|m| IndexedSession {
                id: m.id,
                indexed_at: from_unix_ms(m.at_ms),
                record: m.record,
            })
            .collect())
    }

    /// [`SessionStore::count_by`](crate::store::SessionStore::count_by).
    pub(super) async fn indexed_count(&self, key: &IndexKey) -> Result<usize, StoreError> {
        Ok(self.live(key, None).await?.len())
    }

    /// [`SessionStore::end_sessions_by`](crate::store::SessionStore::end_sessions_by): each
    /// session ends through [`end_session`](Self::end_session), so each is reported once, by
    /// whichever app server removes it; answers how many this call removed.
    pub(super) async fn end_indexed(
        &self,
        key: &IndexKey,
        except: Option<&str>,
    ) -> Result<usize, StoreError> {
        let mut ended = 0;
        for member in self.live(key, except).await? {
            if self.end_session(&member.id, EndReason::Revoked).await? {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Removes session `id`, whose last record was `json`, from the index keys of its values.
    pub(super) async fn unindex(&self, id: &str, json: &[u8]) -> Result<(), StoreError> {
        if self.inner.indexes.is_empty() {
            return Ok(());
        }
        index::unindex(
            &self.inner.conns,
            &self.inner.prefix,
            &self.inner.indexes,
            id,
            json,
        )
        .await
    }

    /// [`renew_index`](Self::renew_index) boxed, for a read: without indexes there is nothing
    /// to wait for, and with them the renewal's future does not enlarge every read's.
    pub(super) async fn renew_index_boxed(
        &self,
        id: &str,
        record: &Record,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        if self.inner.indexes.is_empty() {
            return Ok(());
        }
        Box::pin(self.renew_index(id, record, ttl_ms)).await
    }

    /// A session that holds indexed values had its key renewed to live `ttl_ms`: its index keys
    /// must live as long.
    pub(super) async fn renew_index(
        &self,
        id: &str,
        record: &Record,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        if self.inner.indexes.is_empty() || ttl_ms <= 0 {
            return Ok(());
        }
        let values = index::values(&self.inner.indexes, record);
        for (spec, value) in self.inner.indexes.iter().zip(values) {
            if let Some(value) = value {
                let key = index::key(&self.inner.prefix, &spec.name, &value);
                let (conns, now) = (&self.inner.conns, unix_ms());
                index::add(conns, &key, id, now, ttl_ms, "renew").await?;
            }
        }
        Ok(())
    }

    /// `touch` with a cookie renewed session `id` to live `ttl_ms`: its index keys follow, found
    /// from the JSON this thread last read of it, or read now.
    pub(super) async fn renew_index_after_touch(
        &self,
        id: &str,
        key: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        if self.inner.indexes.is_empty() {
            return Ok(());
        }
        let json = match bases::get(key) {
            Some(json) => json,
            None => match self.get_json(key).await? {
                Some(json) => json,
                None => return Ok(()),
            },
        };
        match parse(&json) {
            Ok(record) => self.renew_index(id, &record, ttl_ms).await,
            Err(_) => Ok(()),
        }
    }

    /// The JSON stored under `key`, if any.
    async fn get_json(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut get = cmd("GET");
        get.arg(key);
        self.inner.conns.cmd_idempotent("load", &get).await
    }

    /// Creates a session on a store with indexes.
    pub(super) async fn create_indexed(
        &self,
        id: &str,
        key: &str,
        shadow: &Option<String>,
        record: &Record,
        json: &str,
        ttl: i64,
    ) -> Result<SaveOutcome, StoreError> {
        let values = index::values(&self.inner.indexes, record);
        if values.iter().all(Option::is_none) {
            return self.create(key, shadow, json, ttl).await;
        }
        let changes = index::changes(&self.inner.prefix, &self.inner.indexes, &[], &values);
        let now = unix_ms();
        if self.is_cluster() {
            if !self.admit(id, &changes).await? {
                return Ok(SaveOutcome::Refused);
            }
            for change in &changes {
                index::add(&self.inner.conns, &change.key, id, now, ttl, "set").await?;
            }
            let outcome = self.create(key, shadow, json, ttl).await?;
            if outcome == SaveOutcome::Saved && self.refused_after(id, now, &changes).await? {
                // Nothing was reported: to its caller, this session never started.
                let mut del = cmd("DEL");
                del.arg(key).arg(shadow_key(key));
                self.inner
                    .conns
                    .run("create", |mut c| async move {
                        del.query_async::<i64>(&mut c).await
                    })
                    .await?;
                self.unschedule(key);
                for change in &changes {
                    index::remove(&self.inner.conns, &change.key, id).await?;
                }
                return Ok(SaveOutcome::Refused);
            }
            if outcome != SaveOutcome::Saved {
                for change in &changes {
                    index::remove(&self.inner.conns, &change.key, id).await?;
                }
                return Ok(outcome);
            }
            self.displace_after(&changes).await?;
            return Ok(outcome);
        }
        self.prune(id, &changes).await?;
        let invocation = index::write(
            "create",
            key,
            (&shadow_key(key), self.grace_ms()),
            json.as_bytes(),
            "",
            ttl,
            now,
            id,
            &self.inner.prefix,
            &changes,
        );
        let answer: Value = self
            .inner
            .conns
            .run("create", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        match answer {
            Value::Int(0) => Ok(SaveOutcome::Conflict),
            Value::Array(parts) => match parts.split_first() {
                Some((Value::Int(1), displaced)) => {
                    self.schedule(key, ttl);
                    self.displaced(displaced).await?;
                    Ok(SaveOutcome::Saved)
                }
                Some((Value::Int(3), _)) => Ok(SaveOutcome::Refused),
                _ => Err(unexpected("create", &parts)),
            },
            other => Err(unexpected("create", &other)),
        }
    }

    /// Applies a change set to a stored session on a store with indexes: the base it merges onto
    /// (this thread's last read, or a read now) gives the values the session had.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn update_indexed(
        &self,
        id: &str,
        key: &str,
        shadow: &Option<String>,
        ttl: i64,
        cookie: &SessionCookie,
        changes: &ChangeSet,
    ) -> Result<SaveOutcome, StoreError> {
        let mut base = match bases::get(key) {
            Some(base) => base,
            None => match self.get_json(key).await? {
                Some(base) => {
                    bases::remember_read(key, base.clone());
                    base
                }
                None => {
                    self.unschedule(key);
                    return Ok(SaveOutcome::Gone);
                }
            },
        };
        if self.is_cluster() {
            return self
                .update_in_cluster(id, key, shadow, &base, ttl, cookie, changes)
                .await;
        }
        let specs = &self.inner.indexes;
        for _ in 0..ATTEMPTS {
            let record = parse(&base)?;
            let old = index::values(specs, &record);
            let new = index::values_after(specs, &old, changes);
            let merged = match bases::merge(&base, None, cookie, changes) {
                Some((merged, _)) => merged,
                None => {
                    // A layout the text merge does not reproduce: re-encoded (field values keep
                    // their bytes).
                    let mut record = record;
                    record.cookie = cookie.clone();
                    record.fields.apply(changes);
                    record.to_json()
                }
            };
            if merged.len() > self.inner.max_record_bytes {
                return Err(StoreError::too_large(
                    merged.len(),
                    self.inner.max_record_bytes,
                ));
            }
            let index_changes = index::changes(&self.inner.prefix, specs, &old, &new);
            self.prune(id, &index_changes).await?;
            let invocation = index::write(
                "cas",
                key,
                (&shadow_key(key), self.grace_ms()),
                &base,
                &merged,
                ttl,
                unix_ms(),
                id,
                &self.inner.prefix,
                &index_changes,
            );
            match self
                .send_compare_and_set(key, invocation, merged, None)
                .await?
            {
                Value::Int(0) => {
                    bases::forget(key);
                    self.unschedule(key);
                    return Ok(SaveOutcome::Gone);
                }
                Value::Array(parts) => match parts.split_first() {
                    Some((Value::Int(1), displaced)) => {
                        self.schedule(key, ttl);
                        self.displaced(displaced).await?;
                        return Ok(SaveOutcome::Saved);
                    }
                    Some((Value::Int(2), [Value::BulkString(now)])) => {
                        bases::remember(key, now.clone());
                        base = now.clone();
                    }
                    Some((Value::Int(3), _)) => {
                        bases::remember(key, base);
                        return Ok(SaveOutcome::Refused);
                    }
                    _ => return Err(unexpected("save", &parts)),
                },
                other => return Err(unexpected("save", &other)),
            }
        }
        bases::forget(key);
        Err(StoreError::unavailable(format!(
            "a session changed by {ATTEMPTS} concurrent writes while this one was merged; \
             nothing was written"
        )))
    }

    /// An update in a Redis Cluster, where the session and its index keys are on different
    /// nodes: the session is listed under a new value before the write, and leaves its old value
    /// after it, so that no reader can find it stored with a value it is not listed under (a
    /// listed session that does not hold the value is never shown: see [`index::live`]).
    #[allow(clippy::too_many_arguments)]
    async fn update_in_cluster(
        &self,
        id: &str,
        key: &str,
        shadow: &Option<String>,
        base: &[u8],
        ttl: i64,
        cookie: &SessionCookie,
        changes: &ChangeSet,
    ) -> Result<SaveOutcome, StoreError> {
        let specs = &self.inner.indexes;
        let old = index::values(specs, &parse(base)?);
        let new = index::values_after(specs, &old, changes);
        let index_changes = index::changes(&self.inner.prefix, specs, &old, &new);
        let conns = &self.inner.conns;
        let now = unix_ms();
        if !self.admit(id, &index_changes).await? {
            return Ok(SaveOutcome::Refused);
        }
        let added = || index_changes.iter().filter(|c| c.step == Step::Add);
        for change in added() {
            index::add(conns, &change.key, id, now, ttl, "set").await?;
        }
        let outcome = self.update(id, key, shadow, ttl, cookie, changes).await?;
        if outcome != SaveOutcome::Saved {
            for change in added() {
                index::remove(conns, &change.key, id).await?;
            }
            return Ok(outcome);
        }
        for change in &index_changes {
            match change.step {
                Step::Remove => index::remove(conns, &change.key, id).await?,
                Step::Keep => index::add(conns, &change.key, id, now, ttl, "keep").await?,
                Step::Add => {}
            }
        }
        self.displace_after(&index_changes).await?;
        Ok(outcome)
    }

    /// In a Redis Cluster, after creating session `id`, listed as of `at_ms` under values with
    /// [`OverLimit::Refuse`]: whether a value has its limit of sessions that got it before this
    /// one (verified, or listed by a write still in flight), so that this one must go. Of logins
    /// racing on several app servers, the earliest keep the places.
    async fn refused_after(
        &self,
        id: &str,
        at_ms: i64,
        changes: &[Change],
    ) -> Result<bool, StoreError> {
        for change in changes {
            let Some((max, OverLimit::Refuse)) = change.limit else {
                continue;
            };
            if change.step != Step::Add {
                continue;
            }
            let listing = index::listing(
                &self.inner.conns,
                &self.inner.prefix,
                true,
                &change.name,
                &change.value,
                Some(id),
            )
            .await?;
            let before = |other_id: &str, other_at: i64| (other_at, other_id) < (at_ms, id);
            let ahead = listing
                .live
                .iter()
                .filter(|m| before(&m.id, m.at_ms))
                .count()
                + listing
                    .pending
                    .iter()
                    .filter(|(other, at)| before(other, *at))
                    .count();
            if ahead >= max {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// In a Redis Cluster, after a write that gave a session values with
    /// [`OverLimit::EndOldest`]: the value's sessions are counted again, and those beyond the
    /// limit that got it earliest end as displaced. Logins racing on several app servers each
    /// found room before their writes; whichever counts last sees all of them, so the value
    /// comes back to its limit once they are done.
    async fn displace_after(&self, changes: &[Change]) -> Result<(), StoreError> {
        for change in changes {
            let Some((max, OverLimit::EndOldest)) = change.limit else {
                continue;
            };
            if change.step != Step::Add {
                continue;
            }
            let members = index::live(
                &self.inner.conns,
                &self.inner.prefix,
                true,
                &change.name,
                &change.value,
                None,
            )
            .await?;
            // Every app server counts in the same order (oldest first), so racing ones end the
            // same sessions; this one too, if racing logins got the value after it.
            let excess = members.len().saturating_sub(max);
            for member in members.iter().take(excess) {
                self.end_session(&member.id, EndReason::Displaced).await?;
            }
        }
        Ok(())
    }

    /// In a Redis Cluster, before a write that gives session `id` new values: whether every
    /// value with [`OverLimit::Refuse`] has room for it; then, for values with
    /// [`OverLimit::EndOldest`], the sessions that got them earliest end as displaced until it
    /// fits. Counted from the verified sessions of each value.
    async fn admit(&self, id: &str, changes: &[Change]) -> Result<bool, StoreError> {
        let limited = || {
            changes.iter().filter_map(|c| match c.limit {
                Some((max, over)) if c.step == Step::Add => Some((c, max, over)),
                _ => None,
            })
        };
        let mut live = Vec::new();
        for (change, max, over) in limited() {
            let members = index::live(
                &self.inner.conns,
                &self.inner.prefix,
                true,
                &change.name,
                &change.value,
                Some(id),
            )
            .await?;
            if over == OverLimit::Refuse && members.len() >= max {
                return Ok(false);
            }
            live.push(members);
        }
        for ((_, max, over), members) in limited().zip(live) {
            if over != OverLimit::EndOldest {
                continue;
            }
            let excess = (members.len() + 1).saturating_sub(max);
            for member in members.iter().take(excess) {
                self.end_session(&member.id, EndReason::Displaced).await?;
            }
        }
        Ok(true)
    }

    /// On a single server, before a write that gives session `id` a value with a limit: the
    /// value's listed sessions are verified, and those that no longer hold it dropped, so that
    /// the write's script, which counts the listed sessions still stored, counts only these.
    async fn prune(&self, id: &str, changes: &[Change]) -> Result<(), StoreError> {
        for change in changes {
            if change.step == Step::Add && change.limit.is_some() {
                index::live(
                    &self.inner.conns,
                    &self.inner.prefix,
                    false,
                    &change.name,
                    &change.value,
                    Some(id),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Reports the sessions a write's script ended to make room under a limit (`displaced`:
    /// id, last record, …), and removes them from their other index keys.
    async fn displaced(&self, displaced: &[Value]) -> Result<(), StoreError> {
        for pair in displaced.chunks(2) {
            let [Value::BulkString(id), Value::BulkString(json)] = pair else {
                continue;
            };
            let Ok(id) = std::str::from_utf8(id) else {
                continue;
            };
            if let Some(events) = &self.inner.events {
                events.handle.cancel(&self.key(id));
                events::deliver(&events.listener, id, json, EndReason::Displaced);
            }
            self.unindex(id, json).await?;
        }
        Ok(())
    }

    /// Deletes every index key (the store was cleared, and its sessions left them).
    pub(super) async fn clear_indexes(&self) -> Result<(), StoreError> {
        if self.inner.indexes.is_empty() {
            return Ok(());
        }
        let pattern = scan::pattern(&index::keys_prefix(&self.inner.prefix));
        for key in scan::keys(&self.inner.conns, &pattern).await? {
            let mut del = cmd("DEL");
            del.arg(key);
            self.inner
                .conns
                .run("clear", |mut c| async move {
                    del.query_async::<()>(&mut c).await
                })
                .await?;
        }
        Ok(())
    }

    /// With session end events, how much longer than a session its shadow lives.
    fn grace_ms(&self) -> Option<i64> {
        self.inner.events.as_ref().map(|e| e.grace_ms)
    }
}

/// An answer no script gives (its content is not shown: it may hold session ids).
fn unexpected<T: ?Sized>(what: &str, _answer: &T) -> StoreError {
    StoreError::corrupt(format!("an unexpected answer to `{what}`"))
}
