//! The resolver on disk: opening replays the journal (decisions, not scores), a commit
//! appends to it, a rollback rebuilds from it, and a long journal is compacted.

use std::path::Path;

use rustc_hash::FxHashMap;

use super::{IdentityConfig, NONE, ResolveError, Resolver, parse_pid, pid_text};
use crate::identity::features::Owned;
use crate::identity::journal::{Entry, Journal};

/// Journal lines beyond twice the live records tolerated before compacting.
const COMPACT_SLACK: usize = 1000;

impl Resolver {
    /// A resolver persisted under `dir`: replays the journal there (decisions only, no
    /// scoring) and appends to it on [`Resolver::commit`].
    pub fn open(dir: &Path, config: &IdentityConfig) -> Result<Resolver, ResolveError> {
        let model = Self::load_model(config)?;
        let mut resolver = Self::in_memory(config, &model)?;
        let (mut journal, entries) = Journal::open(dir)?;
        let written = entries.len();
        resolver.replay(entries);
        // Every change of a record adds a line: once the journal holds more than twice
        // the live records, it is rewritten as one line per live record.
        if written > 2 * resolver.stats.records as usize + COMPACT_SLACK {
            journal.rewrite(resolver.snapshot())?;
        }
        resolver.journal = Some(journal);
        resolver.persisted = Some((dir.to_owned(), config.clone()));
        Ok(resolver)
    }

    /// The state as journal entries: each live record with its person, persons in the
    /// order they were created (so "the older id" stays the older on replay).
    pub(super) fn snapshot(&self) -> Vec<Entry> {
        let mut entries = Vec::with_capacity(self.stats.records as usize);
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
                    observation: self.observation_of(slot),
                    person: person.clone(),
                    version: (Some(slot) == last).then_some(c.version),
                });
            }
        }
        entries
    }

    /// Forgets every decision since the last commit by rebuilding from the journal
    /// (after the sink refused a batch: its records are resolved again when re-read,
    /// and their events published then). A resolver without a journal keeps its state.
    pub fn rollback(&mut self) -> Result<(), ResolveError> {
        if let Some((dir, config)) = self.persisted.take() {
            *self = Resolver::open(&dir, &config)?;
        }
        Ok(())
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
                    if let Some(old) = self
                        .store
                        .find(source, &observation.record.source_record_id)
                    {
                        self.detach(old);
                    }
                    let slot = self.store.insert(
                        source,
                        &observation.record.source_record_id,
                        &f,
                        observation.at_ms,
                    );
                    let cluster = match by_pid.get(&pid) {
                        Some(&cluster) => cluster,
                        None => {
                            let cluster = self.new_person(pid);
                            by_pid.insert(pid, cluster);
                            cluster
                        }
                    };
                    self.attach(slot, cluster);
                    if let Some(v) = version {
                        let c = &mut self.clusters[cluster as usize];
                        c.version = c.version.max(v);
                    }
                    self.stats.links += 1;
                }
                Entry::Merge { from, into } => {
                    let (Some(&from), Some(&into)) =
                        (by_pid.get(&parse_pid(&from)), by_pid.get(&parse_pid(&into)))
                    else {
                        continue;
                    };
                    self.merge(from, into);
                    self.stats.merges += 1;
                }
            }
        }
    }

    /// Writes the decisions since the last commit (call after the sink confirmed the
    /// events they caused).
    pub fn commit(&mut self) -> Result<(), ResolveError> {
        if let Some(journal) = &mut self.journal {
            journal.commit()?;
        }
        Ok(())
    }
}
