//! Persons by resident ID: a table of person handles hashed by each person's ID, as
//! [`Cluster::id`] holds it. It keeps handles only (4 bytes an entry, not a 16-byte
//! ID-and-handle pair), and hashes a handle from its person when it grows; so a person's
//! entry is removed before its ID changes and added again after.

use hashbrown::HashTable;

use super::Cluster;

#[derive(Debug, Default)]
pub(super) struct ById(HashTable<u32>);

/// A packed resident ID spread over 64 bits (the table uses the top and bottom bits).
fn spread(id: u64) -> u64 {
    let mut h = id ^ (id >> 33);
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl ById {
    /// The person whose ID is `id`.
    pub(super) fn get(&self, clusters: &[Cluster], id: u64) -> Option<u32> {
        self.0
            .find(spread(id), |c| clusters[*c as usize].id == id)
            .copied()
    }

    /// Adds person `handle` under the ID it has now (not 0).
    pub(super) fn insert(&mut self, clusters: &[Cluster], handle: u32) {
        let id = clusters[handle as usize].id;
        self.0
            .insert_unique(spread(id), handle, |c| spread(clusters[*c as usize].id));
    }

    /// Removes person `handle`, found under the ID `id` it had until now.
    pub(super) fn remove(&mut self, id: u64, handle: u32) {
        if let Ok(entry) = self.0.find_entry(spread(id), |c| *c == handle) {
            entry.remove();
        }
    }

    /// Heap bytes at the allocated capacity.
    pub(super) fn heap_bytes(&self) -> usize {
        self.0.allocation_size()
    }
}
