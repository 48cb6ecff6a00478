//! The JSON that this worker thread last read or wrote, by session: the bases of compare-and-set
//! saves.
//!
//! A request reads its session (`load_touched`), then, if it changed something, saves it. The
//! save merges its change set onto the JSON read and writes the result only if the row still
//! holds exactly that JSON, in one round trip. A base is only a hint: a stale one costs a retry,
//! never a wrong write, because the database compares it with what the row holds.
//!
//! Per thread (each actix worker runs its requests on one thread) and bounded: at most
//! [`CAPACITY`] sessions, none over [`MAX_BASE_BYTES`] (a larger record's save reads the row
//! first), the oldest evicted first.

use std::{cell::RefCell, collections::VecDeque};

/// The most bases one thread keeps.
const CAPACITY: usize = 256;

/// The largest JSON kept as a base.
const MAX_BASE_BYTES: usize = 64 * 1024;

thread_local! {
    /// `(key, JSON)`, oldest first.
    static BASES: RefCell<VecDeque<(String, String)>> = const { RefCell::new(VecDeque::new()) };
}

/// Remembers `json` as what session `key` holds.
pub(super) fn remember(key: &str, json: &str) {
    BASES.with_borrow_mut(|bases| {
        bases.retain(|(k, _)| k != key);
        if json.len() > MAX_BASE_BYTES {
            return;
        }
        if bases.len() >= CAPACITY {
            bases.pop_front();
        }
        bases.push_back((key.to_owned(), json.to_owned()));
    });
}

/// What session `key` holds as far as this thread knows, if remembered.
pub(super) fn get(key: &str) -> Option<String> {
    BASES.with_borrow(|bases| {
        bases
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, json)| json.clone())
    })
}

/// Forgets session `key`.
pub(super) fn forget(key: &str) {
    BASES.with_borrow_mut(|bases| bases.retain(|(k, _)| k != key));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_bounded_replaced_by_newer_and_forgotten() {
        for n in 0..CAPACITY * 2 {
            remember(&format!("k{n}"), "{}");
        }
        assert_eq!(BASES.with_borrow(VecDeque::len), CAPACITY);
        assert_eq!(get("k0"), None, "the oldest were evicted");
        let last = format!("k{}", CAPACITY * 2 - 1);
        assert_eq!(get(&last).as_deref(), Some("{}"));
        remember(&last, "{\"a\":1}");
        assert_eq!(get(&last).as_deref(), Some("{\"a\":1}"));
        assert_eq!(BASES.with_borrow(VecDeque::len), CAPACITY);
        forget(&last);
        assert_eq!(get(&last), None);
        remember("big", &"x".repeat(MAX_BASE_BYTES + 1));
        assert_eq!(get("big"), None, "a large record is not kept");
    }
}
