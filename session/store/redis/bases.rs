//! The records that this worker thread last read, by session key: the bases of compare-and-set
//! saves.
//!
//! A request reads its session (`load_touched`), then, if it changed something, saves it. When
//! the JSON read is still what Redis holds at the save, the save merges the change set in Rust
//! and writes the result only if the key still holds exactly that JSON (`cas.lua`), so Redis
//! never decodes JSON for it. A base is only a hint: a stale one costs a retry, never a wrong
//! write, because the script compares it with what is stored.
//!
//! A base that this thread's own save wrote keeps the fields that save merged, so that the next
//! save of the session (the same request pattern again, mostly) merges onto them without reading
//! the JSON again: they are what reading it would give, and the JSON is in the layout the merge
//! reproduces, as [`Record::to_json`] wrote it.
//!
//! Per thread (each actix worker runs its requests on one thread) and bounded: at most
//! [`CAPACITY`] keys and [`MAX_BYTES`] of JSON (a base's, and the JSON text its fields hold), the
//! oldest evicted first. A record larger than [`MAX_BASE_BYTES`] is not kept: its saves use the
//! merging script, which sends only the changes (a compare-and-set would send the record twice).

use std::{
    cell::RefCell,
    collections::{HashMap, VecDeque},
};

// foldhash, seeded per process: a fraction of SipHash's cost per lookup, and the keys are this
// server's own session ids (a signed cookie names them), not chosen by a client.
use foldhash::fast::RandomState;

use crate::record::{ChangeSet, Fields, Record, SessionCookie};

/// The most bases one thread keeps.
const CAPACITY: usize = 256;

/// The most bytes of JSON one thread keeps in its bases.
const MAX_BYTES: usize = 1024 * 1024;

/// The largest JSON kept as a base.
const MAX_BASE_BYTES: usize = 64 * 1024;

#[derive(Default)]
struct Bases {
    json: HashMap<String, Base, RandomState>,
    /// Keys in the order they were added, with the number of their addition: an entry whose
    /// number is not its key's (the key was forgotten and added again) is stale. Never more than
    /// `CAPACITY` entries.
    order: VecDeque<(String, u64)>,
    /// The number of the last addition.
    added: u64,
    /// The bytes of JSON held.
    bytes: usize,
}

struct Base {
    json: Vec<u8>,
    /// Compare-and-set saves of this key sent by this thread and not answered yet: `json` is what
    /// the last of them writes, which a read answered meanwhile must not replace (it was read
    /// before those writes reach Redis).
    writes: u32,
    /// The number of its addition (see [`Bases::order`]).
    added: u64,
    /// The data fields of `json`, when this thread's save wrote it.
    fields: Option<Fields>,
}

impl Base {
    /// What the base counts against [`MAX_BYTES`]: its JSON, and the JSON text its fields hold.
    fn weight(&self) -> usize {
        self.json.len() + self.fields.as_ref().map_or(0, Fields::json_bytes)
    }
}

thread_local! {
    static BASES: RefCell<Bases> = RefCell::new(Bases::default());
}

impl Bases {
    /// Sets what `key` holds (adding one write on its way with `write`), with its fields when
    /// known (kept from before when the JSON is the same), then evicts the oldest while over a
    /// bound. A JSON over [`MAX_BASE_BYTES`] forgets the key instead.
    fn set(&mut self, key: &str, json: Vec<u8>, write: bool, fields: Option<Fields>) {
        if json.len() > MAX_BASE_BYTES {
            self.forget(key);
            return;
        }
        match self.json.get_mut(key) {
            Some(base) => {
                self.bytes -= base.weight();
                let fields = match fields {
                    Some(fields) => Some(fields),
                    None if base.json == json => base.fields.take(),
                    None => None,
                };
                base.json = json;
                base.fields = fields;
                base.writes += u32::from(write);
                self.bytes += base.weight();
            }
            None => {
                self.added += 1;
                let base = Base {
                    json,
                    writes: u32::from(write),
                    added: self.added,
                    fields,
                };
                self.bytes += base.weight();
                self.json.insert(key.to_owned(), base);
                self.order.push_back((key.to_owned(), self.added));
            }
        }
        while self.order.len() > CAPACITY || self.bytes > MAX_BYTES {
            let Some((old, added)) = self.order.pop_front() else {
                break;
            };
            if self.json.get(&old).is_some_and(|base| base.added == added) {
                self.forget(&old);
            }
        }
    }

    fn forget(&mut self, key: &str) {
        if let Some(base) = self.json.remove(key) {
            self.bytes -= base.weight();
        }
    }
}

/// Remembers `json` as what session key `key` holds, read by this thread (ignored while this
/// thread's own saves of the key are on their way: they write after that read).
pub(super) fn remember_read(key: &str, json: Vec<u8>) {
    BASES.with_borrow_mut(|bases| {
        if bases.json.get(key).is_none_or(|base| base.writes == 0) {
            bases.set(key, json, false, None);
        }
    });
}

/// Remembers `json` as what session key `key` holds now (a save's answer).
pub(super) fn remember(key: &str, json: Vec<u8>) {
    BASES.with_borrow_mut(|bases| bases.set(key, json, false, None));
}

/// A compare-and-set save of `key` that writes `json` (whose data fields are `fields`, when the
/// caller has them) is sent: this thread's commands reach Redis in order on one connection, so a
/// later save of the key finds what this one writes.
pub(super) fn begin_write(key: &str, json: Vec<u8>, fields: Option<Fields>) {
    BASES.with_borrow_mut(|bases| bases.set(key, json, true, fields));
}

/// The save announced by [`begin_write`] was answered.
pub(super) fn end_write(key: &str) {
    BASES.with_borrow_mut(|bases| {
        if let Some(base) = bases.json.get_mut(key) {
            base.writes = base.writes.saturating_sub(1);
        }
    });
}

/// What session key `key` holds as far as this thread knows (its last read, or what its last
/// save writes), if remembered.
pub(super) fn get(key: &str) -> Option<Vec<u8>> {
    BASES.with_borrow(|bases| {
        bases
            .json
            .get(key)
            .filter(|base| !base.json.is_empty())
            .map(|base| base.json.clone())
    })
}

/// [`get`], with the base's fields when this thread's save wrote it (taken: the save that merges
/// onto them writes the next ones).
pub(super) fn get_with_fields(key: &str) -> Option<(Vec<u8>, Option<Fields>)> {
    BASES.with_borrow_mut(|bases| {
        let base = bases
            .json
            .get_mut(key)
            .filter(|base| !base.json.is_empty())?;
        let fields = base.fields.take();
        bases.bytes -= fields.as_ref().map_or(0, Fields::json_bytes);
        Some((base.json.clone(), fields))
    })
}

/// Forgets session key `key` (its stored JSON is no longer known here).
pub(super) fn forget(key: &str) {
    BASES.with_borrow_mut(|bases| bases.forget(key));
}

/// How many bases this thread holds.
#[cfg(test)]
fn len() -> usize {
    BASES.with_borrow(|bases| bases.json.len())
}

/// The JSON that `save.lua` would write for `stored` with `cookie` and `changes`, computed here,
/// and its data fields; `None` when this could differ from the script's bytes, so the script
/// must do it: `stored` is not a record, or not in the canonical layout that
/// [`Record::to_json`] writes (cookie first, no spacing between members, keys escaped as
/// JSON.stringify does, no duplicate keys), or a change names `cookie`. `fields`, when given,
/// are `stored`'s, as this thread's save that wrote it merged them (see [`get_with_fields`]):
/// `stored` is then not read again.
///
/// On a canonical record the script's text surgery and [`Record::to_json`] agree byte for byte:
/// the cookie is replaced in place (first), changed fields are replaced in place or removed, new
/// fields are appended in the change set's order, and every other member keeps its bytes.
pub(super) fn merge(
    stored: &[u8],
    fields: Option<Fields>,
    cookie: &SessionCookie,
    changes: &ChangeSet,
) -> Option<(String, Fields)> {
    if changes.iter().any(|(name, _)| name == "cookie") {
        return None;
    }
    let mut fields = match fields {
        Some(fields) => fields,
        None => {
            let text = std::str::from_utf8(stored).ok()?;
            let record = Record::from_json(text).ok()?;
            if record.to_json() != text {
                return None;
            }
            record.fields
        }
    };
    fields.apply(changes);
    let json = Record::json_of(cookie, &fields);
    Some((json, fields))
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn bases_are_bounded_kept_until_forgotten_and_replaced_by_newer() {
        for n in 0..CAPACITY * 3 {
            remember(&format!("k{n}"), b"{}".to_vec());
            assert!(len() <= CAPACITY);
        }
        assert_eq!(len(), CAPACITY);
        assert_eq!(get("k0"), None, "the oldest were evicted");
        let last = format!("k{}", CAPACITY * 3 - 1);
        assert_eq!(get(&last).as_deref(), Some(&b"{}"[..]));
        assert_eq!(get(&last).as_deref(), Some(&b"{}"[..]), "still there");
        forget(&last);
        assert_eq!(get(&last), None);
        remember("again", b"1".to_vec());
        remember("again", b"2".to_vec());
        assert_eq!(get("again").as_deref(), Some(&b"2"[..]));
    }

    /// Bytes of JSON held and entries in the eviction order.
    fn held() -> (usize, usize) {
        BASES.with_borrow(|bases| {
            let bytes: usize = bases.json.values().map(Base::weight).sum();
            assert_eq!(bytes, bases.bytes, "the count of bytes is exact");
            (bytes, bases.order.len())
        })
    }

    #[test]
    fn bases_hold_at_most_a_mebibyte_and_no_record_over_64_kib() {
        let record = vec![b'x'; 60 * 1024];
        for n in 0..100 {
            remember(&format!("k{n}"), record.clone());
            assert!(held().0 <= MAX_BYTES, "{n}");
        }
        assert_eq!(len(), MAX_BYTES / record.len());
        assert!(
            get("k99").is_some() && get("k0").is_none(),
            "the oldest were evicted"
        );
        // Too large to keep: forgotten, whatever it held before.
        remember_read("k99", vec![b'x'; MAX_BASE_BYTES + 1]);
        assert_eq!(get("k99"), None);
        begin_write("k98", vec![b'x'; MAX_BASE_BYTES + 1], None);
        end_write("k98");
        assert_eq!(get("k98"), None);
        // A replaced record counts its new size only.
        remember("k97", b"{}".to_vec());
        assert_eq!(get("k97").as_deref(), Some(&b"{}"[..]));
        held();
    }

    #[test]
    fn forgetting_and_remembering_one_key_forever_stays_bounded() {
        for _ in 0..CAPACITY * 4 {
            remember("k", b"{}".to_vec());
            forget("k");
        }
        let (bytes, order) = held();
        assert_eq!(bytes, 0);
        assert!(order <= CAPACITY, "{order}");
    }

    #[test]
    fn a_read_answered_while_this_threads_saves_are_on_their_way_does_not_replace_them() {
        remember_read("k", b"v0".to_vec());
        begin_write("k", b"v1".to_vec(), None);
        begin_write("k", b"v2".to_vec(), None);
        remember_read("k", b"v0 read before the writes".to_vec());
        assert_eq!(get("k").as_deref(), Some(&b"v2"[..]));
        end_write("k");
        end_write("k");
        remember_read("k", b"v3".to_vec());
        assert_eq!(get("k").as_deref(), Some(&b"v3"[..]), "no write on its way");
        forget("k");
    }

    #[test]
    fn a_canonical_record_merges_as_the_script_would() {
        let stored = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1.50,"s":"caf\u00e9","o":{"b":1, "a":[1e3]},"gone":true}"#;
        let cookie = SessionCookie {
            original_max_age: Some(1000),
            ..SessionCookie::default()
        };
        let mut changes = ChangeSet::new();
        changes.set("n", raw("2"));
        changes.remove("gone");
        changes.set("added", raw(r#"{"x":1}"#));
        changes.set("é\"", raw("3"));
        let (merged, fields) = merge(stored.as_bytes(), None, &cookie, &changes).unwrap();
        assert_eq!(
            merged,
            r#"{"cookie":{"originalMaxAge":1000,"expires":null,"httpOnly":true,"path":"/"},"n":2,"s":"caf\u00e9","o":{"b":1, "a":[1e3]},"added":{"x":1},"é\"":3}"#
        );
        assert_eq!(fields, Record::from_json(&merged).unwrap().fields);
    }

    /// A base with fields counts what they hold besides its JSON: the values read, including one
    /// a change replaced, and the replacement.
    #[test]
    fn a_base_counts_its_json_and_the_json_its_fields_hold() {
        let stored = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1,"name":"ada lovelace"}"#;
        let mut changes = ChangeSet::new();
        changes.set("n", raw("1000"));
        let (written, fields) =
            merge(stored.as_bytes(), None, &SessionCookie::default(), &changes).unwrap();
        let held_by_fields = "1".len() + r#""ada lovelace""#.len() + "1000".len();
        assert_eq!(fields.json_bytes(), held_by_fields);
        let before = held().0;
        begin_write("kw", written.clone().into_bytes(), Some(fields));
        assert_eq!(held().0 - before, written.len() + held_by_fields);
        let (_, taken) = get_with_fields("kw").unwrap();
        assert!(taken.is_some());
        assert_eq!(
            held().0 - before,
            written.len(),
            "taken fields no longer count"
        );
        end_write("kw");
        forget("kw");
        assert_eq!(held().0, before);
    }

    /// A save's fields, kept with the JSON it writes, give the next merge what reading that JSON
    /// would; a base replaced by other bytes loses them.
    #[test]
    fn the_fields_a_save_wrote_are_merged_onto_without_reading_the_json() {
        let stored = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1,"s":"x"}"#;
        let cookie = SessionCookie::default();
        let mut changes = ChangeSet::new();
        changes.set("n", raw("2"));
        let (written, fields) = merge(stored.as_bytes(), None, &cookie, &changes).unwrap();
        begin_write("kf", written.clone().into_bytes(), Some(fields));
        end_write("kf");
        // The read that follows finds the same JSON: the fields stay.
        remember_read("kf", written.clone().into_bytes());
        let (json, fields) = get_with_fields("kf").unwrap();
        assert_eq!(json, written.as_bytes());
        let fields = fields.expect("kept with the same JSON");
        let mut next = ChangeSet::new();
        next.set("n", raw("3"));
        next.remove("s");
        let by_fields = merge(&json, Some(fields), &cookie, &next).unwrap();
        let by_reading = merge(&json, None, &cookie, &next).unwrap();
        assert_eq!(by_fields, by_reading);
        // Taken by the merge: the next save reads the JSON, unless its own save leaves fields.
        assert!(get_with_fields("kf").unwrap().1.is_none());
        begin_write("kf", by_fields.0.clone().into_bytes(), Some(by_fields.1));
        end_write("kf");
        remember_read("kf", b"{\"cookie\":{},\"other\":1}".to_vec());
        assert!(
            get_with_fields("kf").unwrap().1.is_none(),
            "other bytes, other fields"
        );
        held();
        forget("kf");
        assert_eq!(held().0, 0);
    }

    #[test]
    fn anything_else_is_left_to_the_script() {
        let cookie = SessionCookie::default();
        let changes = ChangeSet::new();
        for stored in [
            "not json",
            "[1,2]",
            r#"{"a":1,"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}}"#,
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}, "a":1}"#,
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"a":1,"a":2}"#,
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"caf\u00e9":1}"#,
            r#"{"cookie":{"path":"/"}}"#,
        ] {
            assert_eq!(
                merge(stored.as_bytes(), None, &cookie, &changes),
                None,
                "{stored}"
            );
        }
        let mut changes = ChangeSet::new();
        changes.set("cookie", raw("1"));
        let stored =
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}}"#;
        assert_eq!(merge(stored.as_bytes(), None, &cookie, &changes), None);
        let fields = Record::from_json(stored).unwrap().fields;
        assert_eq!(
            merge(stored.as_bytes(), Some(fields), &cookie, &changes),
            None
        );
    }
}
