//! The session index of a [`PgStore`]: listing, counting and ending the sessions of a value, and
//! the writes that give a session a value, change it or remove it (see [`index`](super::index)
//! for the SQL).

use super::{bases, epoch_ms, events, follow_expire, parse, PgStore};
use crate::{
    record::{now_ms, Record},
    store::{
        from_unix_ms, no_index, value_of, EndReason, IndexKey, IndexedSession, OverLimit,
        StoreError,
    },
};

/// What an indexed write did.
pub(super) enum IndexedWrite {
    /// The row holds the new JSON (sessions over a limit were displaced and reported).
    Saved,
    /// A create found a live session on the id.
    Conflict,
    /// An update found no live row.
    Gone,
    /// An update found the row holding this JSON instead of its base.
    Changed(String),
    /// A value's limit refuses the write; nothing was written.
    Refused,
}

/// A write through the index: the JSON it is based on (none for a create), the JSON it writes,
/// its `expire` and now (ms), and the index values before and after.
pub(super) struct Write<'a> {
    pub(super) base: Option<&'a str>,
    pub(super) json: &'a str,
    pub(super) expire: i64,
    pub(super) now: i64,
    pub(super) old: &'a [Option<String>],
    pub(super) new: &'a [Option<String>],
}

impl PgStore {
    /// The position of `key`'s field among the store's indexes.
    fn index_position(&self, key: &IndexKey) -> Result<usize, StoreError> {
        self.inner
            .indexes
            .iter()
            .position(|spec| &*spec.name == key.name())
            .ok_or_else(|| no_index(key))
    }

    /// The value of each index in `record` (canonical JSON), in the order of the store's
    /// indexes; empty for a store without indexes.
    pub(super) fn index_values(&self, record: &Record) -> Vec<Option<String>> {
        self.inner
            .indexes
            .iter()
            .map(|spec| value_of(record.fields.iter_json(), &spec.name))
            .collect()
    }

    /// [`SessionStore::sessions_by`](crate::store::SessionStore::sessions_by).
    pub(super) async fn indexed_sessions(
        &self,
        key: &IndexKey,
    ) -> Result<Vec<IndexedSession>, StoreError> {
        let position = self.index_position(key)?;
        let now = now_ms();
        let (now_ms, ttl, value) = (epoch_ms(now), self.inner.default_ttl_ms, key.value_json());
        let rows = self
            .inner
            .conns
            .run_idempotent("sessions_by", |c| async move {
                let list = &c.index.as_ref().expect("indexed").fields[position].0;
                c.client.query(list, &[&value, &now_ms, &ttl]).await
            })
            .await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for row in &rows {
            let (id, json, expire, at): (String, String, i64, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let Ok(mut record) = parse(&json) else {
                tracing::warn!("a session listed by an index is not a session record: left out");
                continue;
            };
            follow_expire(&mut record.cookie, expire, now);
            sessions.push(IndexedSession {
                id,
                indexed_at: from_unix_ms(at),
                record,
            });
        }
        Ok(sessions)
    }

    /// [`SessionStore::count_by`](crate::store::SessionStore::count_by).
    pub(super) async fn indexed_count(&self, key: &IndexKey) -> Result<usize, StoreError> {
        let position = self.index_position(key)?;
        let (now, value) = (epoch_ms(now_ms()), key.value_json());
        let row = self
            .inner
            .conns
            .run_idempotent("count_by", |c| async move {
                let count = &c.index.as_ref().expect("indexed").fields[position].1;
                c.client.query_one(count, &[&value, &now]).await
            })
            .await?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// [`SessionStore::end_sessions_by`](crate::store::SessionStore::end_sessions_by): one
    /// `DELETE … RETURNING`, so each session is reported once, by whichever app server deletes
    /// it.
    pub(super) async fn end_indexed(
        &self,
        key: &IndexKey,
        except: Option<&str>,
    ) -> Result<usize, StoreError> {
        self.index_position(key)?;
        let (now, field, value) = (epoch_ms(now_ms()), key.name(), key.value_json());
        let rows = self
            .inner
            .conns
            .run("end_sessions_by", |c| async move {
                let end = &c.index.as_ref().expect("indexed").end;
                c.client.query(end, &[&field, &value, &now, &except]).await
            })
            .await?;
        for row in &rows {
            let (id, json): (&str, Option<&str>) = (row.get(0), row.get(1));
            bases::forget(&self.base_key(id));
            if let Some(listener) = &self.inner.on_end {
                events::deliver(listener, id, json, EndReason::Revoked);
            }
        }
        Ok(rows.len())
    }

    /// Writes session `id` through the index's write function (one statement): a create, or an
    /// update whose index values change. Sessions it displaces are reported here.
    pub(super) async fn write_indexed(
        &self,
        id: &str,
        write: Write<'_>,
    ) -> Result<IndexedWrite, StoreError> {
        let specs = &self.inner.indexes;
        let fields: Vec<&str> = specs.iter().map(|s| &*s.name).collect();
        let max: Vec<Option<i32>> = specs
            .iter()
            .map(|s| {
                s.limit
                    .map(|(max, _)| i32::try_from(max).unwrap_or(i32::MAX))
            })
            .collect();
        let refuse: Vec<bool> = specs
            .iter()
            .map(|s| matches!(s.limit, Some((_, OverLimit::Refuse))))
            .collect();
        let ttl = self.inner.default_ttl_ms;
        let (fields, max, refuse, write) = (&fields, &max, &refuse, &write);
        let rows = self
            .inner
            .conns
            .run("save", |c| async move {
                let statement = &c.index.as_ref().expect("indexed").write;
                c.client
                    .query(
                        statement,
                        &[
                            &id,
                            &write.base,
                            &write.json,
                            &write.expire,
                            &write.now,
                            &ttl,
                            fields,
                            &write.old,
                            &write.new,
                            max,
                            refuse,
                        ],
                    )
                    .await
            })
            .await?;
        let mut outcome = None;
        for row in &rows {
            let kind: &str = row.get(0);
            match kind {
                "displaced" => {
                    let (displaced, json): (&str, Option<&str>) = (row.get(1), row.get(2));
                    bases::forget(&self.base_key(displaced));
                    if let Some(listener) = &self.inner.on_end {
                        events::deliver(listener, displaced, json, EndReason::Displaced);
                    }
                }
                "saved" => outcome = Some(IndexedWrite::Saved),
                "conflict" => outcome = Some(IndexedWrite::Conflict),
                "gone" => outcome = Some(IndexedWrite::Gone),
                "refused" => outcome = Some(IndexedWrite::Refused),
                "changed" => outcome = Some(IndexedWrite::Changed(row.get(2))),
                _ => {}
            }
        }
        outcome.ok_or_else(|| {
            StoreError::new(
                crate::store::StoreErrorKind::Other,
                "the session index's write function answered no outcome",
            )
        })
    }
}
