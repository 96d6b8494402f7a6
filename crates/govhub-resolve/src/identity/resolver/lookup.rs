//! A person by id, retired ids included: what the admin API's `GET /api/persons/{id}`
//! answers.
//!
//! A person id is retired when its person is merged into another (the older id is
//! kept), or when a split takes the person's last record elsewhere (the record's ID was
//! corrected, or it changed and now resolves to someone else). Either way the retired
//! id's successor is the person its records went to: whoever holds the old id learns
//! who the resident is now by following successors to a live person. The person topic
//! names the successor of a merged id (`merged_into`); a person emptied by a split gets
//! only its tombstone there, and is followed here too.
//!
//! Successors are rebuilt on reopening: from the journal's merges, from the records it
//! shows leaving a person empty, and, once compacted, from the merge entries the
//! snapshot writes for every retired id.

use hashbrown::HashTable;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{Cluster, Resolver, pid_text};
use crate::identity::observation::RecordRef;
use crate::identity::store::{NONE, table_bytes};

/// Every person's handle by person id, and each retired id's successor.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// Handles into the resolver's persons, found by their person id (which is a hash
    /// already, so it is its own hash here).
    handles: HashTable<u32>,
    /// Retired person id → the person id its records went to.
    successors: FxHashMap<u64, u64>,
}

impl Index {
    /// Indexes the person `handle` of `clusters` (just created) by its id.
    pub(super) fn add(&mut self, clusters: &[Cluster], handle: u32) {
        let pid = clusters[handle as usize].pid;
        // An id given again is live again, whatever it was retired into before.
        self.successors.remove(&pid);
        self.handles
            .insert_unique(pid, handle, |h| clusters[*h as usize].pid);
    }

    /// Notes that person `retired` went into person `into`.
    pub(super) fn retire(&mut self, retired: u64, into: u64) {
        if retired != into {
            self.successors.insert(retired, into);
        }
    }

    /// The handle of the person with id `pid`, live or not.
    fn handle(&self, clusters: &[Cluster], pid: u64) -> Option<u32> {
        self.handles
            .find(pid, |h| clusters[*h as usize].pid == pid)
            .copied()
    }

    /// Whether `pid` was ever given to a person (live or retired): a new person never
    /// gets it again.
    pub(super) fn given(&self, clusters: &[Cluster], pid: u64) -> bool {
        self.handle(clusters, pid).is_some() || self.successors.contains_key(&pid)
    }

    /// Every retired id with its successor, in id order.
    pub(super) fn successors(&self) -> Vec<(u64, u64)> {
        let mut all: Vec<_> = self.successors.iter().map(|(r, i)| (*r, *i)).collect();
        all.sort_unstable();
        all
    }

    /// How many ids are retired.
    pub(super) fn retired(&self) -> usize {
        self.successors.len()
    }

    /// Heap bytes of both tables, at their allocated capacity.
    pub(super) fn heap_bytes(&self) -> usize {
        self.handles.allocation_size() + table_bytes(&self.successors)
    }
}

/// A person as [`Resolver::person`] finds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonView {
    /// The person id asked for.
    pub requested: String,
    /// The live person it leads to: itself, or where its merges (and splits) took it.
    pub person_id: String,
    /// The retired ids passed on the way, the requested one first, each gone into the
    /// next and the last into `person_id`; empty when the requested id is live.
    pub merged_chain: Vec<String>,
    /// The person's golden record, as published on the person topic.
    pub golden: serde_json::Value,
    /// The person's records, ordered by department, connector and source record id.
    pub records: Vec<RecordRef>,
}

/// Whether `text` is a person id as govhub gives them: `p` and 16 lowercase hex digits.
pub fn is_person_id(text: &str) -> bool {
    parse(text).is_some()
}

fn parse(text: &str) -> Option<u64> {
    let hex = text.strip_prefix('p')?;
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex.len() != 16 || !hex.bytes().all(lower_hex) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

impl Resolver {
    /// Notes that person `from` went into person `into` (both handles): merged, or left
    /// without records by a split.
    pub(super) fn retired_into(&mut self, from: u32, into: u32) {
        let (gone, kept) = (
            self.clusters[from as usize].pid,
            self.clusters[into as usize].pid,
        );
        self.lookup.retire(gone, kept);
    }

    /// The person with id `id`, following a retired id to the live person it went into;
    /// `None` for an id never given, or not well formed. Takes the person's records
    /// (one golden record's work), not the number of persons.
    pub fn person(&self, id: &str) -> Option<PersonView> {
        let mut pid = parse(id)?;
        let mut merged_chain = Vec::new();
        let cluster = loop {
            let live = self
                .lookup
                .handle(&self.clusters, pid)
                .filter(|h| self.clusters[*h as usize].len > 0);
            if let Some(handle) = live {
                break handle;
            }
            let next = *self.lookup.successors.get(&pid)?;
            merged_chain.push(pid_text(pid));
            // A chain longer than there are retired ids has come round again: only a
            // damaged journal could say so, and such an id leads nowhere.
            if merged_chain.len() > self.lookup.retired() {
                return None;
            }
            pid = next;
        };
        let (person_id, golden) = self.golden(cluster)?;
        let mut records = Vec::with_capacity(self.clusters[cluster as usize].len as usize);
        let mut at = self.clusters[cluster as usize].head;
        while at != NONE {
            records.push(self.observation_of(at).record);
            at = self.store.recs[at as usize].next_member;
        }
        records.sort_unstable();
        Some(PersonView {
            requested: id.to_owned(),
            person_id,
            merged_chain,
            golden,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_ids_are_p_and_16_lowercase_hex_digits() {
        assert_eq!(parse("p00000000000000a1"), Some(0xa1));
        assert!(is_person_id("p3f9c0a7d51e2b846"));
        for bad in [
            "",
            "p",
            "3f9c0a7d51e2b846",
            "P3f9c0a7d51e2b846",
            "p3F9C0A7D51E2B846",
            "p3f9c0a7d51e2b84",
            "p3f9c0a7d51e2b8467",
            "pp3f9c0a7d51e2b84",
            "p+f9c0a7d51e2b846",
            "p3f9c0a7d51e2b84g",
            "p３f9c0a7d51e2b84",
        ] {
            assert!(!is_person_id(bad), "{bad:?}");
        }
    }
}
