//! Persons as clusters of records: creating one, adding and removing a record, merging
//! two (the older keeps its id).

use super::{Cluster, Resolver};
use crate::identity::store::{DEAD, NONE};

impl Resolver {
    /// A person without records yet; returns its handle.
    pub(super) fn new_person(&mut self, pid: u64) -> u32 {
        crate::identity::store::grow(&mut self.clusters, 1);
        self.clusters.push(Cluster {
            pid,
            head: NONE,
            len: 0,
            id: 0,
            version: 0,
        });
        let handle = (self.clusters.len() - 1) as u32;
        self.lookup.add(&self.clusters, handle);
        handle
    }

    pub(super) fn attach(&mut self, slot: u32, cluster: u32) {
        let c = &mut self.clusters[cluster as usize];
        let rec = &mut self.store.recs[slot as usize];
        rec.person = cluster;
        rec.next_member = c.head;
        c.head = slot;
        c.len += 1;
        c.version += 1;
        if c.len == 1 {
            self.stats.residents += 1;
        }
        self.stats.records += 1;
        if rec.id() != 0 && c.id == 0 {
            c.id = rec.id();
            self.by_id.insert(&self.clusters, cluster);
        }
    }

    /// Takes a record out of its person (it stays in the blocking chains, marked dead).
    pub(super) fn detach(&mut self, slot: u32) {
        let cluster = self.store.recs[slot as usize].person;
        let next = self.store.recs[slot as usize].next_member;
        let c = &mut self.clusters[cluster as usize];
        if c.head == slot {
            c.head = next;
        } else {
            let mut at = c.head;
            while at != NONE {
                let member = &mut self.store.recs[at as usize];
                if member.next_member == slot {
                    member.next_member = next;
                    break;
                }
                at = member.next_member;
            }
        }
        c.len -= 1;
        c.version += 1;
        self.store.recs[slot as usize].person = DEAD;
        self.stats.records -= 1;
        if c.len == 0 {
            self.stats.residents -= 1;
        }
        let id = self.store.recs[slot as usize].id();
        if id != 0 && self.clusters[cluster as usize].id == id {
            // The person's ID now comes from another record, if any still has it.
            let mut at = self.clusters[cluster as usize].head;
            let mut still = 0;
            while at != NONE {
                let member = &self.store.recs[at as usize];
                if member.id() != 0 {
                    still = member.id();
                    if member.id() == id {
                        break;
                    }
                }
                at = member.next_member;
            }
            self.by_id.remove(id, cluster);
            self.clusters[cluster as usize].id = still;
            if still != 0 {
                self.by_id.insert(&self.clusters, cluster);
            }
        }
    }

    /// Moves every record of `from` into `into`.
    pub(super) fn merge(&mut self, from: u32, into: u32) {
        let mut at = self.clusters[from as usize].head;
        let mut tail = NONE;
        while at != NONE {
            let rec = &mut self.store.recs[at as usize];
            rec.person = into;
            tail = at;
            at = rec.next_member;
        }
        if tail == NONE {
            return;
        }
        let from_id = self.clusters[from as usize].id;
        if from_id != 0 {
            self.by_id.remove(from_id, from);
        }
        let (head, len, id) = {
            let c = &mut self.clusters[from as usize];
            let taken = (c.head, c.len, c.id);
            c.head = NONE;
            c.len = 0;
            c.id = 0;
            taken
        };
        let c = &mut self.clusters[into as usize];
        self.store.recs[tail as usize].next_member = c.head;
        c.head = head;
        c.len += len;
        c.version += 1;
        if c.id == 0 && id != 0 {
            c.id = id;
            self.by_id.insert(&self.clusters, into);
        }
        self.stats.residents -= 1;
    }

    /// Persons whose records come from more than one department (walks every record).
    pub fn unified_across_departments(&self) -> u64 {
        let department = |slot: u32| {
            let source = self.store.recs[slot as usize].source();
            self.store.sources[usize::from(source)].0.as_str()
        };
        let mut unified = 0;
        for c in self.clusters.iter().filter(|c| c.len > 1) {
            let first = department(c.head);
            let mut at = self.store.recs[c.head as usize].next_member;
            while at != NONE {
                if department(at) != first {
                    unified += 1;
                    break;
                }
                at = self.store.recs[at as usize].next_member;
            }
        }
        unified
    }
}
