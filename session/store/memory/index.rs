//! The indexes of a memory store: for each indexed field, the ids of the live sessions holding
//! each of its values, kept under the store's lock with the sessions themselves.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::packed::View;
use crate::store::{value_of, IndexSpec};

/// A session in an index entry: its id, and when it got the value (wall clock, milliseconds).
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) id: Box<str>,
    pub(super) at_ms: i64,
}

/// One indexed field: its spec and, per canonical value, its sessions in the order they got it.
pub(super) struct Index {
    pub(super) spec: IndexSpec,
    values: HashMap<Box<str>, Vec<Entry>, RandomState>,
}

/// Every index of a store. With none configured, each method returns at once.
#[derive(Default)]
pub(super) struct Indexes {
    pub(super) all: Vec<Index>,
}

impl Indexes {
    pub(super) fn new(specs: Vec<IndexSpec>) -> Self {
        Self {
            all: specs
                .into_iter()
                .map(|spec| Index {
                    spec,
                    values: HashMap::default(),
                })
                .collect(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The position of the index on field `name`.
    pub(super) fn position(&self, name: &str) -> Option<usize> {
        self.all.iter().position(|i| &*i.spec.name == name)
    }

    /// The values a packed session holds for each index, in index order.
    pub(super) fn values_of(&self, packed: &str) -> Vec<Option<String>> {
        let Some(view) = View::new(packed) else {
            return vec![None; self.all.len()];
        };
        self.all
            .iter()
            .map(|index| value_of(view.fields(), &index.spec.name))
            .collect()
    }

    /// The sessions of `value` in index `index`, in the order they got it.
    pub(super) fn entries(&self, index: usize, value: &str) -> &[Entry] {
        self.all[index].values.get(value).map_or(&[], Vec::as_slice)
    }

    /// Adds session `id` to `value` of index `index`, as of `at_ms`.
    pub(super) fn add(&mut self, index: usize, value: &str, id: &str, at_ms: i64) {
        let entries = self.all[index].values.entry(value.into()).or_default();
        if !entries.iter().any(|e| &*e.id == id) {
            entries.push(Entry {
                id: id.into(),
                at_ms,
            });
        }
    }

    /// Removes session `id` from `value` of index `index`; a value left without sessions goes.
    pub(super) fn remove(&mut self, index: usize, value: &str, id: &str) {
        let values = &mut self.all[index].values;
        if let Some(entries) = values.get_mut(value) {
            entries.retain(|e| &*e.id != id);
            if entries.is_empty() {
                values.remove(value);
                if values.capacity() > 64 && values.len() < values.capacity() / 4 {
                    values.shrink_to_fit();
                }
            }
        }
    }

    /// Removes the session packed as `packed` from every index: it left the store.
    pub(super) fn unindex(&mut self, packed: &str) {
        if self.is_empty() {
            return;
        }
        let Some(view) = View::new(packed) else {
            return;
        };
        for index in 0..self.all.len() {
            if let Some(value) = value_of(view.fields(), &self.all[index].spec.name) {
                self.remove(index, &value, view.id);
            }
        }
    }

    /// Empties every index (the store was cleared).
    pub(super) fn clear(&mut self) {
        for index in &mut self.all {
            index.values = HashMap::default();
        }
    }

    /// The number of index entries over all values, for tests that check nothing is left.
    #[cfg(test)]
    pub(super) fn entry_count(&self) -> usize {
        self.all
            .iter()
            .flat_map(|i| i.values.values())
            .map(Vec::len)
            .sum()
    }
}
