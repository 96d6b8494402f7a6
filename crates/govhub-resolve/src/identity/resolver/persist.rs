//! The resolver's state as journal entries: restoring from them (decisions, not
//! scores), handing out the decisions made since, and a snapshot for compaction.

use rustc_hash::FxHashMap;

use super::{IdentityConfig, Model, NONE, ResolveError, Resolver, parse_pid, pid_text};
use crate::identity::features::Owned;
use crate::identity::journal::Entry;
use crate::state::StateStore;

/// Journal entries beyond twice the live records tolerated before compacting.
const COMPACT_SLACK: usize = 1000;

impl Resolver {
    /// A resolver restored from `entries` (a journal, in order) without scoring
    /// anything, that from now on keeps every decision for [`Resolver::take_journal`].
    pub fn restore(config: &IdentityConfig, entries: Vec<Entry>) -> Result<Resolver, ResolveError> {
        let model = Self::load_model(config)?;
        Self::restore_with(config, &model, entries)
    }

    fn restore_with(
        config: &IdentityConfig,
        model: &Model,
        entries: Vec<Entry>,
    ) -> Result<Resolver, ResolveError> {
        let mut resolver = Self::in_memory(config, model)?;
        resolver.replay(entries);
        resolver.journal = Some(Vec::new());
        Ok(resolver)
    }

    /// A resolver restored from the journal in `store`, which is compacted first when it
    /// has grown long. A model re-estimated earlier from this store's records
    /// (`retrain_after`) is used instead of the configured one.
    pub fn open(store: &mut StateStore, config: &IdentityConfig) -> Result<Resolver, ResolveError> {
        let (resolver, compaction) = Self::load(store, config)?;
        if let Some(entries) = compaction {
            store.rewrite_journal(&entries)?;
        }
        Ok(resolver)
    }

    /// Like [`Resolver::open`], but the store is left as it is: the second value is the
    /// compacted journal ([`Resolver::snapshot`]) when the journal has grown long, for
    /// the caller to write where the store's changes go too (the state topic) before
    /// [`StateStore::rewrite_journal`].
    pub fn load(
        store: &StateStore,
        config: &IdentityConfig,
    ) -> Result<(Resolver, Option<Vec<Entry>>), ResolveError> {
        let entries = store.journal()?;
        let written = entries.len();
        let resolver = match store.trained_model()? {
            Some(text) => {
                let mut resolver = Self::restore_with(config, &Model::from_json(&text)?, entries)?;
                resolver.retrained = true;
                resolver
            }
            None => Self::restore(config, entries)?,
        };
        let compaction = resolver
            .needs_compaction(written)
            .then(|| resolver.snapshot());
        Ok((resolver, compaction))
    }

    /// Whether a journal of `entries` entries has grown past twice the live records
    /// (every change of a record adds one) and is worth rewriting as a
    /// [`Resolver::snapshot`]. The retired ids a snapshot keeps do not count.
    pub fn needs_compaction(&self, entries: usize) -> bool {
        entries > 2 * self.stats.records as usize + self.lookup.retired() + COMPACT_SLACK
    }

    /// The decisions made since the last call, in order: what the caller commits with
    /// the events they caused.
    pub fn take_journal(&mut self) -> Vec<Entry> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The state as journal entries: each live record with its person, persons in the
    /// order they were created (so "the older id" stays the older on replay); then each
    /// retired person id as a merge into the id it went into, so that
    /// [`Resolver::person`] still follows it and no new person is given it.
    pub fn snapshot(&self) -> Vec<Entry> {
        let retired = self.lookup.successors();
        let mut entries = Vec::with_capacity(self.stats.records as usize + retired.len());
        for c in self.clusters.iter().filter(|c| c.len > 0) {
            let person = pid_text(c.pid);
            let mut members = Vec::with_capacity(c.len as usize);
            let mut at = c.head;
            while at != NONE {
                members.push(at);
                at = self.store.recs[at as usize].next_member;
            }
            // Oldest record first, as they joined; the last carries the version.
            let last = members.first().copied();
            for slot in members.into_iter().rev() {
                entries.push(Entry::Record {
                    observation: Box::new(self.observation_of(slot)),
                    person: person.clone(),
                    version: (Some(slot) == last).then_some(c.version),
                });
            }
        }
        entries.extend(retired.into_iter().map(|(from, into)| Entry::Merge {
            from: pid_text(from),
            into: pid_text(into),
        }));
        entries
    }

    pub(super) fn replay(&mut self, entries: Vec<Entry>) {
        let mut by_pid: FxHashMap<u64, u32> = FxHashMap::default();
        for entry in entries {
            match entry {
                Entry::Record {
                    observation,
                    person,
                    version,
                } => {
                    let pid = parse_pid(&person);
                    let f = Owned::of(&observation);
                    let source = self.store.source(
                        &observation.record.department,
                        &observation.record.connector,
                    );
                    // The person the record leaves, when that leaves them without records.
                    let mut emptied = None;
                    if let Some(old) = self
                        .store
                        .find(source, &observation.record.source_record_id)
                    {
                        let left = self.store.recs[old as usize].person;
                        self.detach(old);
                        emptied = (self.clusters[left as usize].len == 0).then_some(left);
                    }
                    let slot = self.store.insert(
                        source,
                        &observation.record.source_record_id,
                        &f,
                        observation.at_ms,
                    );
                    let cluster = match by_pid.get(&pid) {
                        Some(&cluster) => {
                            self.stats.links += 1;
                            cluster
                        }
                        None => {
                            let cluster = self.new_person(pid);
                            by_pid.insert(pid, cluster);
                            cluster
                        }
                    };
                    self.attach(slot, cluster);
                    if let Some(left) = emptied.filter(|left| *left != cluster) {
                        self.retired_into(left, cluster);
                    }
                    if let Some(v) = version {
                        let c = &mut self.clusters[cluster as usize];
                        c.version = c.version.max(v);
                    }
                }
                Entry::Merge { from, into } => {
                    let (from, into) = (parse_pid(&from), parse_pid(&into));
                    // A compacted journal names retired ids only here; once noted,
                    // they are never given again.
                    self.lookup.retire(from, into);
                    let (Some(&from), Some(&into)) = (by_pid.get(&from), by_pid.get(&into)) else {
                        continue;
                    };
                    self.merge(from, into);
                    self.stats.merges += 1;
                }
            }
        }
    }
}
