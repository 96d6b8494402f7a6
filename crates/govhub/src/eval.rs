//! Measuring identity resolution against the simulator's ground truth: every record of
//! the simulated departments the config connects (the four of the example config, and
//! the community registry when `deploy/examples/registry.toml` is appended) goes
//! through the config's mappings and the standard, then through resolution; the
//! clusters are scored pairwise.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use govhub_connect::{explode, source_record};
use govhub_resolve::identity::{
    IdentityConfig, Model, Observation, Reach, RecordRef, Resolver, reach,
};
use govhub_schema::Standard;
use govhub_sim::{Department, Departments, Feed};
use serde::Serialize;
use serde_json::Value;

use crate::config::HubConfig;
use crate::demo::{CIVIL_AFFAIRS, EDUCATION, HEALTH, REGISTRY, URBAN};
use crate::pipeline::{Canonical, Stages};

/// The records of a simulated population as resolution sees them, with the truth.
#[derive(Debug, Default)]
pub struct Labelled {
    /// Each published record's person, in the order the hub would read them.
    pub observations: Vec<Observation>,
    /// The resident each observation really is.
    pub truth: Vec<u64>,
    /// Records the standard rejected (not resolved; they go to the dead-letter topic).
    pub rejected: u64,
    /// Of those, records rejected for an identifier alone (every reason is about a
    /// resident ID or another identifier): what `on_invalid` is there to keep.
    pub rejected_for_identifier: u64,
}

impl Labelled {
    /// The truth as resident IDs tell it: residents the simulator happened to give the
    /// same (valid) resident ID count as one. The simulator draws IDs per resident
    /// without checking the others (real IDs are unique), and govhub's rule "same ID ⇒
    /// same person" cannot tell such residents apart, by design. Returns the relabelled
    /// truth and the number of IDs shared by more than one resident.
    pub fn by_resident_id(&self) -> (Vec<u64>, u64) {
        let mut parent: HashMap<u64, u64> = HashMap::new();
        fn find(parent: &mut HashMap<u64, u64>, x: u64) -> u64 {
            let mut root = x;
            while let Some(&p) = parent.get(&root) {
                if p == root {
                    break;
                }
                root = p;
            }
            parent.insert(x, root);
            root
        }
        let mut owner: HashMap<&str, u64> = HashMap::new();
        let mut shared = std::collections::HashSet::new();
        for (o, t) in self.observations.iter().zip(&self.truth) {
            let Some(id) = o.resident_id.as_deref() else {
                continue;
            };
            let first = *owner.entry(id).or_insert(*t);
            if first != *t {
                shared.insert(id);
                let (a, b) = (find(&mut parent, first), find(&mut parent, *t));
                if a != b {
                    parent.insert(a.max(b), a.min(b));
                }
            }
        }
        let truth = self.truth.iter().map(|t| find(&mut parent, *t)).collect();
        (truth, shared.len() as u64)
    }
}

/// Runs every simulated record of `departments` (at its clock's generation) through the
/// mappings of `config` and the standard, and reads the person each is about.
pub fn labelled(departments: &Departments, config: &HubConfig, standard: &Standard) -> Labelled {
    let truth: HashMap<(Department, String), u64> = departments
        .ground_truth()
        .chain(departments.registry_ground_truth())
        .map(|(d, id, index)| ((d, id), index))
        .collect();
    let generation = departments.clock.generation();
    let mut out = Labelled::default();
    let fetched_at = Utc::now();
    let at_ms = fetched_at.timestamp_millis();
    for (name, connector) in &config.connectors {
        let (department, items): (Department, Box<dyn Iterator<Item = Value>>) = match name.as_str()
        {
            EDUCATION => (
                Department::Education,
                Box::new(departments.education.all().map(|s| s.value)),
            ),
            HEALTH => (
                Department::Health,
                Box::new(departments.health.records(generation).map(|r| r.value)),
            ),
            CIVIL_AFFAIRS => (
                Department::CivilAffairs,
                Box::new(
                    departments
                        .civil_affairs
                        .records(generation)
                        .map(|r| r.value),
                ),
            ),
            URBAN => (
                Department::UrbanManagement,
                Box::new(departments.urban.records(generation).map(|r| r.value)),
            ),
            REGISTRY => (
                Department::Registry,
                Box::new(departments.registry.items().map(|i| i.record.value)),
            ),
            _ => continue,
        };
        let Some(schema) = standard.latest(&connector.kind) else {
            continue;
        };
        let Some(location) = &schema.person else {
            continue;
        };
        let mapping = connector.mapping.compile();
        let stages = Stages {
            mapping: &mapping,
            schema,
        };
        for (i, item) in items.enumerate() {
            for (position, payload) in explode(connector.explode.as_deref(), item, i) {
                let record = source_record(name, connector, payload, position, fetched_at);
                let canonical = match stages.canonical(&record.payload) {
                    Ok(Canonical { record, .. }) => record,
                    Err(rejection) => {
                        out.rejected += 1;
                        let identifier = |path: &str| {
                            path.contains("/identifiers/") || path.ends_with("/resident_id")
                        };
                        if rejection
                            .violations
                            .iter()
                            .all(|(_, v)| identifier(&v.instance_path))
                        {
                            out.rejected_for_identifier += 1;
                        }
                        continue;
                    }
                };
                let Some(&resident) = truth.get(&(department, record.source_record_id.clone()))
                else {
                    continue;
                };
                let reference = RecordRef {
                    department: record.department,
                    connector: record.connector,
                    source_record_id: record.source_record_id,
                };
                if let Some(o) = Observation::from_canonical(location, reference, at_ms, &canonical)
                {
                    out.observations.push(o);
                    out.truth.push(resident);
                }
            }
        }
    }
    out
}

/// Pairwise and cluster accuracy of an assignment of records to persons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Accuracy {
    /// Records resolved.
    pub records: u64,
    /// Distinct residents among them (ground truth).
    pub residents: u64,
    /// Persons the resolver made.
    pub persons: u64,
    /// Persons whose records are exactly one resident's records.
    pub exact_persons: u64,
    /// Record pairs put in one person.
    pub predicted_pairs: u64,
    /// Record pairs that are one resident.
    pub true_pairs: u64,
    /// Pairs both.
    pub correct_pairs: u64,
    /// correct / predicted.
    pub precision: f64,
    /// correct / true.
    pub recall: f64,
    /// Harmonic mean of both.
    pub f1: f64,
}

/// Scores `assigned[i]` (person of record i) against `truth[i]`.
pub fn accuracy(assigned: &[u64], truth: &[u64]) -> Accuracy {
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let mut by_person: HashMap<u64, u64> = HashMap::new();
    let mut by_truth: HashMap<u64, u64> = HashMap::new();
    let mut by_both: HashMap<(u64, u64), u64> = HashMap::new();
    for (p, t) in assigned.iter().zip(truth) {
        *by_person.entry(*p).or_default() += 1;
        *by_truth.entry(*t).or_default() += 1;
        *by_both.entry((*p, *t)).or_default() += 1;
    }
    let predicted: u64 = by_person.values().map(|n| pairs(*n)).sum();
    let actual: u64 = by_truth.values().map(|n| pairs(*n)).sum();
    let correct: u64 = by_both.values().map(|n| pairs(*n)).sum();
    let exact = by_both
        .iter()
        .filter(|((p, t), n)| by_person[p] == **n && by_truth[t] == **n)
        .count() as u64;
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let precision = ratio(correct, predicted);
    let recall = ratio(correct, actual);
    Accuracy {
        records: assigned.len() as u64,
        residents: by_truth.len() as u64,
        persons: by_person.len() as u64,
        exact_persons: exact,
        predicted_pairs: predicted,
        true_pairs: actual,
        correct_pairs: correct,
        precision,
        recall,
        f1: if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        },
    }
}

/// One evaluation run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Accuracy against the ground truth.
    pub accuracy: Accuracy,
    /// Accuracy against the truth as resident IDs tell it (see
    /// [`Labelled::by_resident_id`]).
    pub accuracy_by_resident_id: Accuracy,
    /// Resident IDs the simulator gave to more than one resident.
    pub shared_resident_ids: u64,
    /// How many true pairs resolution can bring together at all (a shared ID or a
    /// shared blocking key): an upper bound of recall.
    pub blocking: Reach,
    /// Time spent in resolution alone.
    #[serde(with = "secs")]
    pub resolve_time: Duration,
    /// Records per second through resolution on one core.
    pub records_per_sec: f64,
    /// Pairs compared per record.
    pub comparisons_per_record: f64,
    /// Bytes of the in-memory identity index.
    pub index_bytes: u64,
    /// Index bytes per resident.
    pub bytes_per_resident: f64,
    /// Merges and splits decided.
    pub merges: u64,
    /// See `merges`.
    pub splits: u64,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Resolves `data` with `model` under `config` and scores the result.
pub fn evaluate(data: &Labelled, config: &IdentityConfig, model: &Model) -> anyhow::Result<Report> {
    let mut resolver = Resolver::in_memory(config, model)?;
    let started = Instant::now();
    let mut person_of = Vec::with_capacity(data.observations.len());
    for o in &data.observations {
        person_of.push(resolver.observe(o).person_id);
    }
    let resolve_time = started.elapsed();
    // Persons may have merged after a record was resolved: read the final assignment.
    let finals: HashMap<RecordRef, String> = resolver.assignments().collect();
    let mut ids: HashMap<&str, u64> = HashMap::new();
    let assigned: Vec<u64> = data
        .observations
        .iter()
        .map(|o| {
            let pid = finals.get(&o.record).map_or("", String::as_str);
            let next = ids.len() as u64;
            *ids.entry(pid).or_insert(next)
        })
        .collect();
    let (legal, shared_resident_ids) = data.by_resident_id();
    let accuracy_by_resident_id = accuracy(&assigned, &legal);
    let accuracy = accuracy(&assigned, &data.truth);
    let blocking = reach(&data.observations, &data.truth);
    let stats = resolver.stats();
    let n = data.observations.len().max(1) as f64;
    let index_bytes = resolver.heap_bytes() as u64;
    Ok(Report {
        accuracy,
        accuracy_by_resident_id,
        shared_resident_ids,
        blocking,
        resolve_time,
        records_per_sec: n / resolve_time.as_secs_f64().max(1e-9),
        comparisons_per_record: stats.comparisons as f64 / n,
        index_bytes,
        bytes_per_resident: index_bytes as f64 / accuracy.residents.max(1) as f64,
        merges: stats.merges,
        splits: stats.splits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_accuracy_counts_pairs() {
        // Truth: {0,1,2} {3}; predicted: {0,1} {2,3}.
        let a = accuracy(&[7, 7, 8, 8], &[1, 1, 1, 2]);
        assert_eq!(
            (a.predicted_pairs, a.true_pairs, a.correct_pairs),
            (2, 3, 1)
        );
        assert_eq!(a.precision, 0.5);
        assert!((a.recall - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(a.exact_persons, 0);
        let perfect = accuracy(&[5, 5, 6], &[1, 1, 2]);
        assert_eq!(
            (perfect.precision, perfect.recall, perfect.exact_persons),
            (1.0, 1.0, 2)
        );
    }
}
