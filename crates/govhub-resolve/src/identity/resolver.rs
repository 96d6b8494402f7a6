//! Resolution record by record: deterministic by resident ID, probabilistic otherwise,
//! clusters with stable person ids, merges and splits.

use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::compare::compare;
use super::features::{Owned, hash, unpack_id};
use super::golden::{Candidate, Provenance, Survivorship};
use super::journal::{Entry, Journal, JournalError};
use super::model::{Evidence, Model, ModelError, Weights, probability, weight_of};
use super::observation::{Observation, RecordRef, Sex};
use super::store::{BLOCKS, DEAD, NONE, Store, block_keys};

/// Resolution settings (`[identity]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Match probability from which a record without a usable resident ID is linked to
    /// a resident (0.5–1; higher: fewer wrong merges, more missed links).
    pub link_threshold: f64,
    /// A model file (JSON, as `govhub eval --train` writes); default: the built-in one.
    pub model: Option<std::path::PathBuf>,
    /// Records compared per blocking key at most (the newest); bounds the work per
    /// record when a key is very common.
    pub max_block_size: usize,
    /// Survivorship rule per golden-record field.
    pub survivorship: Survivorship,
}

impl Default for IdentityConfig {
    fn default() -> IdentityConfig {
        IdentityConfig {
            link_threshold: 0.99,
            model: None,
            max_block_size: 50,
            survivorship: Survivorship::default(),
        }
    }
}

impl IdentityConfig {
    /// What is wrong with these settings, as `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(self.link_threshold >= 0.5 && self.link_threshold < 1.0) {
            out.push(("link_threshold", "must be at least 0.5 and below 1".into()));
        }
        if self.max_block_size == 0 {
            out.push(("max_block_size", "must be > 0".into()));
        }
        out
    }
}

/// A decision about a record, as published on the identity topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityEvent {
    /// `link` (a record joined a person), `merge` (persons found to be one; the older id
    /// is kept) or `split` (a record left a person it had been linked to).
    pub event: String,
    /// The person the record belongs to now (the kept id of a merge).
    pub person_id: String,
    /// Merge: the retired person ids; split: the person the record left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_person_ids: Vec<String>,
    /// The record the decision is about.
    pub record: RecordRef,
    /// `resident_id` (same ID), `probabilistic` (match weight over the threshold) or
    /// `new` (nothing matched: a new person).
    pub rule: String,
    /// Match weight in bits (probabilistic decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Match probability (probabilistic decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// The weight of each comparison (probabilistic decisions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// When the record was fetched, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// What resolving one record changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The record's unified person id.
    pub person_id: String,
    /// Identity decisions to publish.
    pub events: Vec<IdentityEvent>,
    /// Persons whose golden record may have changed (cluster handles).
    pub changed: Vec<u32>,
    /// Person ids that no longer exist (merged away, or left without records).
    pub retired: Vec<String>,
}

/// Counters for metrics and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityStats {
    /// Residents (persons with at least one record).
    pub residents: u64,
    /// Records resolved (their latest versions).
    pub records: u64,
    /// Link decisions.
    pub links: u64,
    /// Merges.
    pub merges: u64,
    /// Splits.
    pub splits: u64,
    /// Pairs compared.
    pub comparisons: u64,
}

/// The resolver could not start or persist.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The model does not load.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model file cannot be read.
    #[error("identity model {path}: {message}")]
    ModelFile {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The journal cannot be read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

#[derive(Debug, Clone)]
struct Cluster {
    pid: u64,
    head: u32,
    len: u32,
    /// Packed resident ID of the person, 0 when none of their records has one.
    id: u64,
    version: u32,
}

/// A candidate person for a record.
#[derive(Debug, Clone, Copy)]
struct Target {
    cluster: u32,
    score: f64,
    /// The record that scored best (NONE: matched by resident ID).
    slot: u32,
}

/// Resolves records into residents.
#[derive(Debug)]
pub struct Resolver {
    weights: Weights,
    link_weight: f64,
    per_block: usize,
    survivorship: Survivorship,
    store: Store,
    clusters: Vec<Cluster>,
    by_id: FxHashMap<u64, u32>,
    stats: IdentityStats,
    journal: Option<Journal>,
    /// Where the journal lives and the settings, to rebuild from it.
    persisted: Option<(std::path::PathBuf, IdentityConfig)>,
    scratch: Vec<u32>,
}

impl Resolver {
    /// A resolver with nothing resolved yet and no persistence (tests, evaluation).
    pub fn in_memory(config: &IdentityConfig, model: &Model) -> Result<Resolver, ResolveError> {
        Ok(Resolver {
            weights: model.compile()?,
            link_weight: weight_of(config.link_threshold),
            per_block: config.max_block_size,
            survivorship: config.survivorship.clone(),
            store: Store::default(),
            clusters: Vec::new(),
            by_id: FxHashMap::default(),
            stats: IdentityStats::default(),
            journal: None,
            persisted: None,
            scratch: Vec::new(),
        })
    }

    /// The model `config` names, or the built-in one.
    pub fn load_model(config: &IdentityConfig) -> Result<Model, ResolveError> {
        match &config.model {
            None => Ok(Model::builtin()?),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ResolveError::ModelFile {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                Ok(Model::from_json(&text)?)
            }
        }
    }

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
    fn snapshot(&self) -> Vec<Entry> {
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

    fn replay(&mut self, entries: Vec<Entry>) {
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
                    let cluster = *by_pid.entry(pid).or_insert_with(|| {
                        super::store::grow(&mut self.clusters, 1);
                        self.clusters.push(Cluster {
                            pid,
                            head: NONE,
                            len: 0,
                            id: 0,
                            version: 0,
                        });
                        (self.clusters.len() - 1) as u32
                    });
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

    /// Resolves one record: returns its person id and what changed.
    pub fn observe(&mut self, o: &Observation) -> Outcome {
        let f = Owned::of(o);
        let source = self.store.source(&o.record.department, &o.record.connector);
        let mut out = Outcome::default();

        // A new version of a record already resolved: unchanged person fields change
        // nothing; otherwise it is taken out and resolved afresh.
        let previous = self.store.find(source, &o.record.source_record_id);
        let mut left = None;
        if let Some(old) = previous {
            let cluster = self.store.recs[old as usize].person;
            if self.same_fields(old, &f) {
                out.person_id = pid_text(self.clusters[cluster as usize].pid);
                return out;
            }
            self.detach(old);
            left = Some(cluster);
        }

        let features = f.features();
        let keys = block_keys(&features, f.initial);
        let mut scratch = std::mem::take(&mut self.scratch);
        self.store
            .candidates(&keys, self.per_block, NONE, &mut scratch);
        let mut best: Vec<Target> = Vec::new();
        let mut conflicting = Vec::new();
        for &slot in &scratch {
            let cluster = self.store.recs[slot as usize].person;
            let cid = self.clusters[cluster as usize].id;
            if f.id != 0 && cid != 0 && cid != f.id {
                conflicting.push(slot);
                continue;
            }
            let levels = compare(&features, &self.store.features(slot));
            self.stats.comparisons += 1;
            let score = self.weights.score(&features, &levels);
            match best.iter_mut().find(|t| t.cluster == cluster) {
                Some(t) if t.score >= score => {}
                Some(t) => {
                    *t = Target {
                        cluster,
                        score,
                        slot,
                    }
                }
                None => best.push(Target {
                    cluster,
                    score,
                    slot,
                }),
            }
        }
        self.scratch = scratch;

        // Targets: the person with this resident ID, then every person scoring over the
        // threshold, best first; a person whose ID differs from one already taken is
        // left out (two different IDs are never merged).
        best.retain(|t| t.score >= self.link_weight);
        best.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.cluster.cmp(&b.cluster)));
        let mut targets: Vec<Target> = Vec::new();
        let mut id = f.id;
        if let Some(&cluster) = (f.id != 0).then(|| self.by_id.get(&f.id)).flatten() {
            targets.push(Target {
                cluster,
                score: f64::INFINITY,
                slot: NONE,
            });
        }
        for t in best {
            if targets.iter().any(|x| x.cluster == t.cluster) {
                continue;
            }
            let cid = self.clusters[t.cluster as usize].id;
            if cid == 0 || id == 0 || cid == id {
                if cid != 0 {
                    id = cid;
                }
                targets.push(t);
            }
        }

        let slot = self
            .store
            .insert(source, &o.record.source_record_id, &f, o.at_ms);
        let into = match targets.iter().map(|t| t.cluster).min() {
            Some(oldest) => oldest,
            None => {
                super::store::grow(&mut self.clusters, 1);
                self.clusters.push(Cluster {
                    pid: new_pid(&o.record, self.clusters.len()),
                    head: NONE,
                    len: 0,
                    id: 0,
                    version: 0,
                });
                (self.clusters.len() - 1) as u32
            }
        };
        self.attach(slot, into);
        let person_id = pid_text(self.clusters[into as usize].pid);
        self.journal(Entry::Record {
            observation: o.clone(),
            person: person_id.clone(),
            version: None,
        });

        let mut link = self.event("link", &person_id, o, targets.first().copied(), &features);
        if let Some(from) = left.filter(|c| *c != into) {
            link.event = "split".into();
            link.from_person_ids = vec![pid_text(self.clusters[from as usize].pid)];
            self.stats.splits += 1;
            if self.clusters[from as usize].len == 0 {
                out.retired.push(pid_text(self.clusters[from as usize].pid));
            } else {
                out.changed.push(from);
            }
        } else {
            self.stats.links += 1;
        }
        out.events.push(link);
        for t in targets.iter().filter(|t| t.cluster != into) {
            let retired = pid_text(self.clusters[t.cluster as usize].pid);
            self.merge(t.cluster, into);
            self.stats.merges += 1;
            self.journal(Entry::Merge {
                from: retired.clone(),
                into: person_id.clone(),
            });
            let mut merge = self.event("merge", &person_id, o, Some(*t), &features);
            merge.from_person_ids = vec![retired.clone()];
            out.events.push(merge);
            out.retired.push(retired);
        }

        // Records without an ID that were linked to a person whose ID differs, and that
        // match this record better than any record of that person carrying its ID, move
        // here: the person they were linked to is now known to be someone else.
        if f.id != 0 {
            for cand in conflicting {
                if let Some((event, from)) = self.maybe_move(cand, into, &features, o.at_ms) {
                    out.changed.push(from);
                    out.events.push(event);
                }
            }
        }
        out.changed.push(into);
        out.changed.sort_unstable();
        out.changed.dedup();
        out.changed.retain(|c| self.clusters[*c as usize].len > 0);
        out.person_id = person_id;
        out
    }

    fn maybe_move(
        &mut self,
        cand: u32,
        into: u32,
        features: &super::features::Features<'_>,
        at_ms: i64,
    ) -> Option<(IdentityEvent, u32)> {
        let rec = &self.store.recs[cand as usize];
        if rec.id != 0 || rec.person == DEAD {
            return None;
        }
        let from = rec.person;
        if from == into || self.clusters[from as usize].len < 2 {
            return None;
        }
        let cand_features = self.store.features(cand);
        let levels = compare(&cand_features, features);
        let score = self.weights.score(&cand_features, &levels);
        self.stats.comparisons += 1;
        if score < self.link_weight {
            return None;
        }
        // How well it matches the records of its person that carry the person's ID.
        let mut own = f64::NEG_INFINITY;
        let mut at = self.clusters[from as usize].head;
        while at != NONE {
            let member = &self.store.recs[at as usize];
            if at != cand && member.id != 0 {
                let levels = compare(&cand_features, &self.store.features(at));
                own = own.max(self.weights.score(&cand_features, &levels));
            }
            at = member.next_member;
        }
        if score <= own {
            return None;
        }
        let evidence = self.weights.evidence(&cand_features, &levels);
        let observation = self.observation_of(cand);
        self.detach(cand);
        let source = self.store.recs[cand as usize].source();
        let moved = self.store.insert(
            source,
            &observation.record.source_record_id,
            &Owned::of(&observation),
            observation.at_ms,
        );
        self.attach(moved, into);
        self.stats.splits += 1;
        let person_id = pid_text(self.clusters[into as usize].pid);
        self.journal(Entry::Record {
            observation: observation.clone(),
            person: person_id.clone(),
            version: None,
        });
        let event = IdentityEvent {
            event: "split".into(),
            person_id,
            from_person_ids: vec![pid_text(self.clusters[from as usize].pid)],
            record: observation.record,
            rule: "probabilistic".into(),
            score: Some(round(score)),
            probability: Some(probability(score)),
            evidence,
            at_ms,
        };
        Some((event, from))
    }

    fn event(
        &self,
        kind: &str,
        person_id: &str,
        o: &Observation,
        target: Option<Target>,
        features: &super::features::Features<'_>,
    ) -> IdentityEvent {
        let (rule, score, evidence) = match target {
            None => ("new", None, Vec::new()),
            Some(t) if t.slot == NONE => ("resident_id", None, Vec::new()),
            Some(t) => {
                let levels = compare(features, &self.store.features(t.slot));
                (
                    "probabilistic",
                    Some(t.score),
                    self.weights.evidence(features, &levels),
                )
            }
        };
        IdentityEvent {
            event: kind.into(),
            person_id: person_id.into(),
            from_person_ids: Vec::new(),
            record: o.record.clone(),
            rule: rule.into(),
            score: score.map(round),
            probability: score.map(probability),
            evidence,
            at_ms: o.at_ms,
        }
    }

    fn journal(&mut self, entry: Entry) {
        if let Some(journal) = &mut self.journal {
            journal.push(&entry);
        }
    }

    fn same_fields(&self, slot: u32, f: &Owned) -> bool {
        let r = &self.store.recs[slot as usize];
        r.id == f.id
            && r.birth == f.birth
            && r.sex() == f.sex
            && r.phone == f.phone
            && r.division == f.division
            && self.store.name(slot) == f.name
    }

    fn attach(&mut self, slot: u32, cluster: u32) {
        let c = &mut self.clusters[cluster as usize];
        let rec = &mut self.store.recs[slot as usize];
        rec.person = cluster;
        rec.next_member = c.head;
        c.head = slot;
        c.len += 1;
        c.version += 1;
        if rec.id != 0 && c.id == 0 {
            c.id = rec.id;
            self.by_id.insert(rec.id, cluster);
        }
        self.stats.records += 1;
        if c.len == 1 {
            self.stats.residents += 1;
        }
    }

    /// Takes a record out of its person (it stays in the blocking chains, marked dead).
    fn detach(&mut self, slot: u32) {
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
        let id = self.store.recs[slot as usize].id;
        if id != 0 && self.clusters[cluster as usize].id == id {
            // The person's ID now comes from another record, if any still has it.
            let mut at = self.clusters[cluster as usize].head;
            let mut still = 0;
            while at != NONE {
                let member = &self.store.recs[at as usize];
                if member.id != 0 {
                    still = member.id;
                    if member.id == id {
                        break;
                    }
                }
                at = member.next_member;
            }
            self.clusters[cluster as usize].id = still;
            if self.by_id.get(&id) == Some(&cluster) {
                self.by_id.remove(&id);
            }
            if still != 0 {
                self.by_id.insert(still, cluster);
            }
        }
    }

    /// Moves every record of `from` into `into`.
    fn merge(&mut self, from: u32, into: u32) {
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
        }
        if id != 0 {
            self.by_id.insert(id, into);
        }
        self.stats.residents -= 1;
    }

    /// Writes the decisions since the last commit (call after the sink confirmed the
    /// events they caused).
    pub fn commit(&mut self) -> Result<(), ResolveError> {
        if let Some(journal) = &mut self.journal {
            journal.commit()?;
        }
        Ok(())
    }

    /// Counters so far.
    pub fn stats(&self) -> IdentityStats {
        self.stats
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

    /// Bytes of memory the in-memory index holds (records, text, blocking and lookup
    /// tables, persons).
    pub fn heap_bytes(&self) -> usize {
        self.store.heap_bytes()
            + self.clusters.capacity() * std::mem::size_of::<Cluster>()
            + super::store::table_bytes(&self.by_id)
    }

    /// The person id of every live record: `(record, person id)`.
    pub fn assignments(&self) -> impl Iterator<Item = (RecordRef, String)> + '_ {
        self.store
            .recs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.person != DEAD)
            .map(|(slot, r)| {
                let (department, connector) = &self.store.sources[usize::from(r.source())];
                (
                    RecordRef {
                        department: department.clone(),
                        connector: connector.clone(),
                        source_record_id: self.store.srid(slot as u32).to_owned(),
                    },
                    pid_text(self.clusters[r.person as usize].pid),
                )
            })
    }

    fn observation_of(&self, slot: u32) -> Observation {
        let r = &self.store.recs[slot as usize];
        let (department, connector) = &self.store.sources[usize::from(r.source())];
        let name = self.store.name(slot);
        Observation {
            record: RecordRef {
                department: department.clone(),
                connector: connector.clone(),
                source_record_id: self.store.srid(slot).to_owned(),
            },
            at_ms: i64::from(r.at_s) * 1000,
            name: (!name.is_empty()).then(|| name.to_owned()),
            resident_id: (r.id != 0).then(|| unpack_id(r.id)),
            sex: match r.sex() {
                1 => Some(Sex::Male),
                2 => Some(Sex::Female),
                _ => None,
            },
            birth_date: (r.birth != 0).then(|| {
                format!(
                    "{:04}-{:02}-{:02}",
                    r.birth / 10_000,
                    r.birth / 100 % 100,
                    r.birth % 100
                )
            }),
            phone: (r.phone != 0).then(|| r.phone.to_string()),
            division_code: (r.division != 0).then(|| format!("{:06}", r.division)),
        }
    }

    /// The person id and golden record of a person (a handle from
    /// [`Outcome::changed`]); `None` once the person has no records (merged away).
    pub fn golden(&self, cluster: u32) -> Option<(String, serde_json::Value)> {
        let c = self.clusters.get(cluster as usize).filter(|c| c.len > 0)?;
        let mut members = Vec::with_capacity(c.len as usize);
        let mut at = c.head;
        while at != NONE {
            members.push(self.observation_of(at));
            at = self.store.recs[at as usize].next_member;
        }
        members.sort_by(|a, b| a.record.source_record_id.cmp(&b.record.source_record_id));
        let field = |get: &dyn Fn(&Observation) -> Option<String>| {
            members
                .iter()
                .filter_map(|m| {
                    Some(Candidate {
                        value: get(m)?,
                        department: &m.record.department,
                        source_record_id: &m.record.source_record_id,
                        at_ms: m.at_ms,
                    })
                })
                .collect::<Vec<_>>()
        };
        let s = &self.survivorship;
        let fields: [(&str, &super::golden::Rule, Vec<Candidate<'_>>); 6] = [
            ("name", &s.name, field(&|m| m.name.clone())),
            (
                "resident_id",
                &s.resident_id,
                field(&|m| m.resident_id.clone()),
            ),
            (
                "sex",
                &s.sex,
                field(&|m| m.sex.map(|x| x.as_str().to_owned())),
            ),
            (
                "birth_date",
                &s.birth_date,
                field(&|m| m.birth_date.clone()),
            ),
            ("phone", &s.phone, field(&|m| m.phone.clone())),
            (
                "division_code",
                &s.division_code,
                field(&|m| m.division_code.clone()),
            ),
        ];
        let mut golden = serde_json::Map::new();
        let mut provenance = serde_json::Map::new();
        let mut updated = i64::MIN;
        for m in &members {
            updated = updated.max(m.at_ms);
        }
        golden.insert("person_id".into(), pid_text(c.pid).into());
        golden.insert("version".into(), c.version.into());
        golden.insert("updated_at".into(), rfc3339(updated).into());
        for (name, rule, candidates) in &fields {
            if let Some(chosen) = rule.choose(candidates) {
                golden.insert((*name).into(), chosen.value.clone().into());
                let p = Provenance {
                    department: chosen.department.to_owned(),
                    source_record_id: chosen.source_record_id.to_owned(),
                    at: rfc3339(chosen.at_ms),
                };
                provenance.insert((*name).into(), serde_json::to_value(p).unwrap_or_default());
            }
        }
        let sources: Vec<_> = members.iter().map(|m| &m.record).collect();
        golden.insert(
            "sources".into(),
            serde_json::to_value(sources).unwrap_or_default(),
        );
        golden.insert("provenance".into(), provenance.into());
        Some((pid_text(c.pid), golden.into()))
    }

    /// Number of comparisons per blocking key and records, for reports.
    pub fn blocking_keys() -> [&'static str; BLOCKS] {
        super::store::BLOCK_NAMES
    }
}

/// Journal lines beyond twice the live records tolerated before compacting.
const COMPACT_SLACK: usize = 1000;

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A person id: `p` and 16 hex digits, derived from the record that founded the person
/// and the person's sequence number (never from personal data).
fn new_pid(record: &RecordRef, seq: usize) -> u64 {
    let text = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{seq}",
        record.department, record.connector, record.source_record_id
    );
    hash(text.as_bytes())
}

fn pid_text(pid: u64) -> String {
    format!("p{pid:016x}")
}

fn parse_pid(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches('p'), 16).unwrap_or(0)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
