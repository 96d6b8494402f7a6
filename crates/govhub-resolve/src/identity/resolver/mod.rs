//! Resolution record by record: deterministic by resident ID, probabilistic otherwise,
//! clusters with stable person ids, merges and splits.

mod ids;
mod lookup;
mod outcome;
mod persist;
mod persons;
mod records;
mod retrain;

pub use lookup::{PersonView, is_person_id};
pub use outcome::{IdentityEvent, IdentityStats, Outcome, ResolveError};
pub use retrain::Retrained;

use super::compare::compare;
use super::config::IdentityConfig;
use super::features::{Owned, check_passing_neighbours, hash_parts};
use super::golden::Survivorship;
use super::journal::Entry;
use super::model::{Model, Weights, probability, weight_of};
use super::observation::{Observation, RecordRef};
use super::store::{DEAD, NONE, Store, block_keys};

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
    /// The model in use and its compiled weights.
    model: Model,
    weights: Weights,
    /// `[identity] retrain_after`, and whether the model was re-estimated already.
    retrain_after: Option<u64>,
    retrained: bool,
    link_weight: f64,
    per_block: usize,
    survivorship: Survivorship,
    store: Store,
    clusters: Vec<Cluster>,
    by_id: ids::ById,
    /// Persons by id, and where each retired id went ([`Resolver::person`]).
    lookup: lookup::Index,
    stats: IdentityStats,
    /// Decisions not yet taken by the caller; `None` keeps none (evaluation).
    journal: Option<Vec<Entry>>,
    scratch: Vec<u32>,
}

impl Resolver {
    /// A resolver with nothing resolved yet and no persistence (tests, evaluation).
    pub fn in_memory(config: &IdentityConfig, model: &Model) -> Result<Resolver, ResolveError> {
        Ok(Resolver {
            model: model.clone(),
            weights: model.compile()?,
            retrain_after: config.retrain_after,
            retrained: false,
            link_weight: weight_of(config.link_threshold),
            per_block: config.max_block_size,
            survivorship: config.survivorship.clone(),
            store: Store::default(),
            clusters: Vec::new(),
            by_id: ids::ById::default(),
            lookup: lookup::Index::default(),
            stats: IdentityStats::default(),
            journal: None,
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
        let keys = block_keys(&f);
        let mut scratch = std::mem::take(&mut self.scratch);
        self.store
            .candidates(&keys, self.per_block, NONE, &mut scratch);
        if f.unverified != 0 {
            self.keystroke_candidates(f.unverified, &mut scratch);
        } else if let Some(slot) = (f.id != 0)
            .then(|| self.store.mistyped_from(f.id))
            .flatten()
            && !scratch.contains(&slot)
        {
            scratch.push(slot);
        }
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
        if let Some(cluster) = (f.id != 0)
            .then(|| self.by_id.get(&self.clusters, f.id))
            .flatten()
        {
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
                let pid = self.fresh_pid(&o.record);
                self.new_person(pid)
            }
        };
        self.attach(slot, into);
        let person_id = pid_text(self.clusters[into as usize].pid);
        self.journal(|| Entry::Record {
            observation: Box::new(o.clone()),
            person: person_id.clone(),
            version: None,
        });

        let mut link = self.event("link", &person_id, o, targets.first().copied(), &features);
        if let Some(from) = left.filter(|c| *c != into) {
            link.event = "split".into();
            link.from_person_ids = vec![pid_text(self.clusters[from as usize].pid)];
            self.stats.splits += 1;
            if self.clusters[from as usize].len == 0 {
                self.retired_into(from, into);
                out.retired.push(pid_text(self.clusters[from as usize].pid));
            } else {
                out.changed.push(from);
            }
        } else if !targets.is_empty() {
            self.stats.links += 1;
        }
        out.events.push(link);
        for t in targets.iter().filter(|t| t.cluster != into) {
            let retired = pid_text(self.clusters[t.cluster as usize].pid);
            self.merge(t.cluster, into);
            self.retired_into(t.cluster, into);
            self.stats.merges += 1;
            self.journal(|| Entry::Merge {
                from: retired.clone(),
                into: person_id.clone(),
            });
            let mut merge = self.event("merge", &person_id, o, Some(*t), &features);
            merge.from_person_ids = vec![retired.clone()];
            out.events.push(merge);
            out.merged_into.push((retired.clone(), person_id.clone()));
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

    /// Adds to `out` the records carrying a valid ID one keystroke from the unverified
    /// `packed` (those of persons known by such an ID), so a record whose ID was
    /// mistyped meets the person it was mistyped from even when no blocking key joins
    /// them.
    fn keystroke_candidates(&self, packed: u64, out: &mut Vec<u32>) {
        for id in check_passing_neighbours(packed) {
            let Some(cluster) = self.by_id.get(&self.clusters, id) else {
                continue;
            };
            let mut at = self.clusters[cluster as usize].head;
            while at != NONE {
                let member = &self.store.recs[at as usize];
                if member.id() == id && !out.contains(&at) {
                    out.push(at);
                    break;
                }
                at = member.next_member;
            }
        }
    }

    fn maybe_move(
        &mut self,
        cand: u32,
        into: u32,
        features: &super::features::Features<'_>,
        at_ms: i64,
    ) -> Option<(IdentityEvent, u32)> {
        let rec = &self.store.recs[cand as usize];
        if rec.id() != 0 || rec.person == DEAD {
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
            if at != cand && member.id() != 0 {
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
        self.journal(|| Entry::Record {
            observation: Box::new(observation.clone()),
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

    /// Queues a decision for the journal; `entry` is only built when there is one (an
    /// in-memory resolver, as in `govhub eval`, copies nothing).
    fn journal(&mut self, entry: impl FnOnce() -> Entry) {
        if let Some(journal) = &mut self.journal {
            journal.push(entry());
        }
    }

    fn same_fields(&self, slot: u32, f: &Owned) -> bool {
        let r = &self.store.recs[slot as usize];
        r.id() == f.id
            && r.unverified() == f.unverified
            && r.birth == f.birth
            && r.sex() == f.sex
            && r.phone() == f.phone
            && r.division() == f.division
            && self.store.name(slot) == f.name
    }

    /// Counters so far.
    pub fn stats(&self) -> IdentityStats {
        self.stats
    }

    /// Bytes of memory the in-memory index holds (records, text, blocking and lookup
    /// tables, persons).
    pub fn heap_bytes(&self) -> usize {
        self.store.heap_bytes()
            + self.clusters.capacity() * std::mem::size_of::<Cluster>()
            + self.by_id.heap_bytes()
            + self.lookup.heap_bytes()
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Resolver {
    /// A person id for a person `record` founds: `p` and 16 hex digits, derived from the
    /// record alone (never from personal data, nor from how many persons exist, which
    /// depends on how the connectors' batches interleaved), so a replay after a crash
    /// founds the same person under the same id. A record that founds a second person
    /// (after changing) gets the next id of its own sequence.
    fn fresh_pid(&self, record: &RecordRef) -> u64 {
        (0u32..)
            .map(|attempt| {
                // The hash of "department␟connector␟source record id␟attempt", hashed in
                // pieces (no string is built for it).
                const SEP: &[u8] = b"\x1f";
                hash_parts(&[
                    record.department.as_bytes(),
                    SEP,
                    record.connector.as_bytes(),
                    SEP,
                    record.source_record_id.as_bytes(),
                    SEP,
                    attempt.to_string().as_bytes(),
                ])
            })
            .find(|pid| *pid != 0 && !self.lookup.given(&self.clusters, *pid))
            .unwrap_or_default()
    }
}

/// `p` and the 16 lower-case hex digits of `pid`, written digit by digit: every record
/// resolved names its person, and `format!` costs several times more.
fn pid_text(pid: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(17);
    text.push('p');
    for shift in (0..16).rev() {
        text.push(char::from(HEX[(pid >> (shift * 4)) as usize & 15]));
    }
    text
}

fn parse_pid(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches('p'), 16).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::features::hash;

    #[test]
    fn person_ids_are_written_and_derived_as_before() {
        for pid in [0, 1, 0xabc, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(pid_text(pid), format!("p{pid:016x}"));
            assert_eq!(parse_pid(&pid_text(pid)), pid);
        }
        // Ids already published were the hash of the joined text: hashing it in pieces
        // must give the same ids.
        let resolver =
            Resolver::in_memory(&IdentityConfig::default(), &Model::builtin().unwrap()).unwrap();
        let record = RecordRef {
            department: "health".into(),
            connector: "health".into(),
            source_record_id: "JZ0001".into(),
        };
        let joined = hash("health\u{1f}health\u{1f}JZ0001\u{1f}0".as_bytes());
        assert_eq!(resolver.fresh_pid(&record), joined);
    }
}
