//! The sessions of a memory store, found by id and ordered by expiry.
//!
//! Three arrays, and one allocation per session: the slots (each session's packed string, its
//! cookie's `expires` and its place in the heap), hash tables of slot numbers keyed by the id
//! inside the packed string, and a binary min-heap of (expiry tick, slot number). A removal moves
//! the last slot into the freed one, so the slots stay dense and give memory back by shrinking.
//!
//! A hash table that fills up moves every entry to a table twice its size, under the store's
//! lock: every request waits for it. So that this pause stays short at millions of sessions, the
//! ids are spread over [`SHARDS`] tables that grow one at a time, and each entry keeps 32 bits of
//! its id's hash beside its slot number, so that moving it needs no read of the session (one
//! random memory access per session, 1 µs per entry at 7 million sessions, made the move a pause
//! of seconds).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::packed::{self, Expires};

/// One stored session: 32 bytes beside its packed string.
pub(super) struct Slot {
    /// The id, cookie attributes and fields ([`packed`]).
    pub(super) packed: Box<str>,
    expires_ms: i64,
    expires_sub_ms: u32,
    /// Where its expiry is in the heap.
    heap_pos: u32,
}

impl Slot {
    pub(super) fn expires(&self) -> Expires {
        Expires {
            ms: self.expires_ms,
            sub_ms: self.expires_sub_ms,
        }
    }

    pub(super) fn set_expires(&mut self, expires: Expires) {
        self.expires_ms = expires.ms;
        self.expires_sub_ms = expires.sub_ms;
    }
}

/// A heap entry: when slot `slot` expires, in ticks (nanoseconds since the store's start).
#[derive(Clone, Copy)]
struct Timer {
    at: u64,
    slot: u32,
}

/// How many hash tables the ids are spread over (by the top bits of their hash).
const SHARDS: usize = 64;

/// A hash table entry: a slot number and the top 32 bits of its id's hash.
#[derive(Clone, Copy)]
struct Entry {
    slot: u32,
    hash: u32,
}

impl Entry {
    /// The hash the tables use: the stored 32 bits spread over 64 (hashbrown takes its bucket
    /// from the low bits and its tag from the top ones), so that a table grows from the entries
    /// alone.
    fn table_hash(&self) -> u64 {
        spread(self.hash)
    }
}

fn spread(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Sessions by id, earliest expiry first. Slot numbers are valid until the next removal.
pub(super) struct Sessions {
    slots: Vec<Slot>,
    tables: Box<[HashTable<Entry>]>,
    heap: Vec<Timer>,
    hasher: RandomState,
    /// The most slots ever held: the arrays do not grow beyond it.
    max: usize,
}

impl Sessions {
    /// At most `max` sessions (at most `u32::MAX`).
    pub(super) fn new(max: usize) -> Self {
        Self {
            slots: Vec::new(),
            tables: empty_tables(),
            heap: Vec::new(),
            hasher: RandomState::default(),
            max: max.min(u32::MAX as usize),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many sessions fit without growing.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// The table that holds `id` and the 32 bits of its hash that its entry keeps.
    fn locate(&self, id: &str) -> (usize, u32) {
        let hash = self.hasher.hash_one(id);
        // The top 6 bits pick the table; the next 32 are kept in the entry.
        ((hash >> 58) as usize % SHARDS, (hash >> 26) as u32)
    }

    /// The slot of session `id`.
    pub(super) fn find(&self, id: &str) -> Option<u32> {
        let (shard, hash) = self.locate(id);
        let slots = &self.slots;
        self.tables[shard]
            .find(spread(hash), |e| {
                e.hash == hash && packed::id(&slots[e.slot as usize].packed) == id
            })
            .map(|e| e.slot)
    }

    pub(super) fn slot(&self, slot: u32) -> &Slot {
        &self.slots[slot as usize]
    }

    pub(super) fn slot_mut(&mut self, slot: u32) -> &mut Slot {
        &mut self.slots[slot as usize]
    }

    /// When slot `slot` expires.
    pub(super) fn at(&self, slot: u32) -> u64 {
        self.heap[self.slots[slot as usize].heap_pos as usize].at
    }

    /// The session nearest its expiry, and when.
    pub(super) fn first(&self) -> Option<(u32, u64)> {
        self.heap.first().map(|t| (t.slot, t.at))
    }

    /// Stores a session whose id is not stored (the caller checked), expiring at `at`. The caller
    /// keeps the count below the maximum.
    pub(super) fn insert(&mut self, packed: Box<str>, expires: Expires, at: u64) -> u32 {
        let slot = self.slots.len() as u32;
        let (shard, hash) = self.locate(packed::id(&packed));
        grow(&mut self.slots, self.max);
        grow(&mut self.heap, self.max);
        self.tables[shard].insert_unique(spread(hash), Entry { slot, hash }, Entry::table_hash);
        let pos = self.heap.len();
        self.slots.push(Slot {
            packed,
            expires_ms: expires.ms,
            expires_sub_ms: expires.sub_ms,
            heap_pos: pos as u32,
        });
        self.heap.push(Timer { at, slot });
        self.sift_up(pos);
        slot
    }

    /// Moves slot `slot`'s expiry to `at`.
    pub(super) fn set_at(&mut self, slot: u32, at: u64) {
        let pos = self.slots[slot as usize].heap_pos as usize;
        let before = self.heap[pos].at;
        self.heap[pos].at = at;
        if at < before {
            self.sift_up(pos);
        } else {
            self.sift_down(pos);
        }
    }

    /// Removes slot `slot` (the last slot takes its number).
    pub(super) fn remove(&mut self, slot: u32) -> Slot {
        let (shard, hash) = self.locate(packed::id(&self.slots[slot as usize].packed));
        if let Ok(entry) = self.tables[shard].find_entry(spread(hash), |e| e.slot == slot) {
            entry.remove();
        }
        // Out of the heap: the last timer takes its place.
        let pos = self.slots[slot as usize].heap_pos as usize;
        self.heap.swap_remove(pos);
        if pos < self.heap.len() {
            let moved = self.heap[pos].slot;
            self.slots[moved as usize].heap_pos = pos as u32;
            self.sift_down(pos);
            self.sift_up(self.slots[moved as usize].heap_pos as usize);
        }
        // Out of the slots: the last slot takes its number.
        let last = (self.slots.len() - 1) as u32;
        let removed = self.slots.swap_remove(slot as usize);
        if slot != last {
            let moved = &self.slots[slot as usize];
            self.heap[moved.heap_pos as usize].slot = slot;
            let (shard, hash) = self.locate(packed::id(&moved.packed));
            if let Some(e) = self.tables[shard].find_mut(spread(hash), |e| e.slot == last) {
                e.slot = slot;
            }
        }
        removed
    }

    /// Removes every session.
    pub(super) fn drain(&mut self) -> Vec<Slot> {
        self.tables = empty_tables();
        self.heap = Vec::new();
        std::mem::take(&mut self.slots)
    }

    /// The stored sessions, in no order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter()
    }

    /// Gives memory back once less than a quarter of the capacity is used (all of it when empty,
    /// none below `min` slots otherwise): halving at a quarter keeps it amortized O(1) per
    /// removal.
    pub(super) fn shrink_if_sparse(&mut self, min: usize) {
        let (len, capacity) = (self.slots.len(), self.slots.capacity());
        if (len == 0 && capacity > 0) || (capacity > min && len < capacity / 4) {
            self.slots.shrink_to_fit();
            self.heap.shrink_to_fit();
            for table in &mut self.tables {
                table.shrink_to(table.len(), Entry::table_hash);
            }
        }
    }

    fn sift_up(&mut self, mut pos: usize) {
        let timer = self.heap[pos];
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.heap[parent].at <= timer.at {
                break;
            }
            self.place(pos, self.heap[parent]);
            pos = parent;
        }
        self.place(pos, timer);
    }

    fn sift_down(&mut self, mut pos: usize) {
        let timer = self.heap[pos];
        let len = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].at < self.heap[left].at {
                right
            } else {
                left
            };
            if timer.at <= self.heap[child].at {
                break;
            }
            self.place(pos, self.heap[child]);
            pos = child;
        }
        self.place(pos, timer);
    }

    fn place(&mut self, pos: usize, timer: Timer) {
        self.heap[pos] = timer;
        self.slots[timer.slot as usize].heap_pos = pos as u32;
    }

    /// Checks every invariant (tests).
    #[cfg(test)]
    pub(super) fn check(&self) {
        let entries: usize = self.tables.iter().map(HashTable::len).sum();
        assert_eq!(entries, self.slots.len());
        assert_eq!(self.heap.len(), self.slots.len());
        for (i, slot) in self.slots.iter().enumerate() {
            assert_eq!(self.find(packed::id(&slot.packed)), Some(i as u32));
            assert_eq!(self.heap[slot.heap_pos as usize].slot, i as u32);
        }
        for (pos, timer) in self.heap.iter().enumerate().skip(1) {
            assert!(self.heap[(pos - 1) / 2].at <= timer.at);
        }
    }
}

fn empty_tables() -> Box<[HashTable<Entry>]> {
    (0..SHARDS).map(|_| HashTable::new()).collect()
}

/// Before a push: a full vector doubles, up to `max` entries.
fn grow<T>(v: &mut Vec<T>, max: usize) {
    if v.len() == v.capacity() {
        let target = (v.capacity() * 2).max(8).min(max.max(v.len() + 1));
        v.reserve_exact(target - v.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SessionCookie;

    fn packed(id: &str) -> Box<str> {
        packed::encode(id, &SessionCookie::default(), std::iter::empty)
    }

    /// A reproducible shuffle of inserts, moves and removals, checked against a plain model.
    #[test]
    fn inserts_moves_and_removals_keep_the_index_and_the_heap() {
        let mut sessions = Sessions::new(1000);
        let mut model = std::collections::BTreeMap::<String, u64>::new();
        let mut x = 0x5eed_u64;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            x >> 33
        };
        for _ in 0..5000 {
            let id = format!("s{}", next() % 300);
            let at = next() % 1000;
            match (sessions.find(&id), next() % 3) {
                (None, _) => {
                    if sessions.len() < 1000 {
                        sessions.insert(packed(&id), Expires::NONE, at);
                        model.insert(id, at);
                    }
                }
                (Some(slot), 0) => {
                    let removed = sessions.remove(slot);
                    assert_eq!(packed::id(&removed.packed), id);
                    model.remove(&id);
                }
                (Some(slot), _) => {
                    sessions.set_at(slot, at);
                    model.insert(id, at);
                }
            }
            sessions.check();
            let (slot, at) = sessions.first().unwrap_or((0, 0));
            if !model.is_empty() {
                assert_eq!(at, *model.values().min().unwrap());
                assert_eq!(model[packed::id(&sessions.slot(slot).packed)], at);
            }
        }
        assert_eq!(sessions.len(), model.len());
        while let Some((slot, _)) = sessions.first() {
            sessions.remove(slot);
            sessions.check();
        }
        sessions.shrink_if_sparse(64);
        assert_eq!(sessions.capacity(), 0);
    }

    /// A table that grows moves its entries without reading their sessions, and holds about
    /// 1/64 of them: the pause of a growth is a small fraction of what one table of every id
    /// would cost.
    #[test]
    fn the_ids_spread_over_the_tables_that_grow_from_their_entries_alone() {
        let mut sessions = Sessions::new(200_000);
        for i in 0..100_000 {
            sessions.insert(packed(&format!("{i:032x}")), Expires::NONE, i);
        }
        sessions.check();
        let largest = sessions.tables.iter().map(HashTable::len).max().unwrap();
        // 1,562 on average; a table of more than twice that would take the growths' pauses
        // back up.
        assert!(largest < 2 * 100_000 / SHARDS, "{largest}");
        // Growing a table again from its entries only (the hasher has no access to the
        // sessions) keeps every id findable.
        for table in sessions.tables.iter_mut() {
            table.reserve(table.capacity() + 1, Entry::table_hash);
        }
        sessions.check();
    }

    #[test]
    fn the_arrays_grow_no_further_than_the_maximum() {
        let mut sessions = Sessions::new(100);
        for i in 0..100 {
            sessions.insert(packed(&format!("s{i}")), Expires::NONE, i);
        }
        assert_eq!((sessions.capacity(), sessions.heap.capacity()), (100, 100));
    }
}
