//! Chaos verification: what a hub run over the simulated departments must have
//! published, checked from the outside, on the topics alone.
//!
//! `govhub sim --expected FILE` writes an [`ExpectedRun`] from the simulators' own
//! record lists ([`demo::expected`]); `govhub verify` reads a run's topics into
//! [`RunTopics`], checks them with [`verify`], and compares the persons of two runs with
//! [`Partition::compare`]. Nothing here reads the hub's state or uses its resolver: a
//! hub that crashed, replayed or ran its connectors in any order must still leave
//! topics that pass.
//!
//! Order: within a partition, offsets. A topic spread over several partitions is put in
//! order by the events' `ce_time` (the fetch time of the record concerned), offsets
//! breaking ties; the person topic needs no such thing, as each key stays in one
//! partition.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use govhub_schema::Standard;
use govhub_sim::Departments;
use govhub_stream::LogEntry;
use serde::{Deserialize, Serialize};

use crate::config::HubConfig;
use crate::demo;

/// A record as the verifier names it: connector and source record id.
pub type RecordKey = (String, String);

/// What a correct hub publishes from the simulators, per connector; the JSON file
/// `govhub sim --expected` writes and `govhub verify --expected` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRun {
    /// Seed of the simulated population.
    pub seed: u64,
    /// Residents in it.
    pub residents: u64,
    /// The generation the simulators serve.
    pub generation: u64,
    /// The faults the simulators inject, in words.
    pub faults: String,
    /// Per connector of the example config.
    pub connectors: BTreeMap<String, ExpectedConnector>,
}

/// Where one connector's records must arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedConnector {
    /// The department the connector pulls from.
    pub department: String,
    /// Its kind's topic, without the prefix: `education.enrollment.v2`.
    pub topic: String,
    /// Source record ids that must arrive on that topic.
    pub valid: BTreeSet<String>,
    /// Source record ids that must arrive on the dead-letter topic.
    pub invalid: BTreeSet<String>,
}

/// Why an expected outcome cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The simulators have records for a connector the config lacks.
    #[error("connector {0} is not in the config")]
    UnknownConnector(String),
    /// A connector's kind is not in the standard.
    #[error("connector {connector}: the standard has no record kind {kind}")]
    UnknownKind {
        /// The connector.
        connector: String,
        /// Its kind.
        kind: String,
    },
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an expected outcome.
    #[error("{path}: not an expected-outcome file (govhub sim --expected writes them): {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

impl ExpectedRun {
    /// The outcome of syncing `departments` (at their clock's generation, from nothing)
    /// with the connectors of `config`, whose kinds' latest versions in `standard` name
    /// the topics.
    pub fn of(
        departments: &Departments,
        config: &HubConfig,
        standard: &Standard,
        faults: &str,
    ) -> Result<ExpectedRun, ChaosError> {
        let mut connectors = BTreeMap::new();
        for (name, records) in demo::expected(departments) {
            let connector = config
                .connectors
                .get(name)
                .ok_or_else(|| ChaosError::UnknownConnector(name.to_owned()))?;
            let schema =
                standard
                    .latest(&connector.kind)
                    .ok_or_else(|| ChaosError::UnknownKind {
                        connector: name.to_owned(),
                        kind: connector.kind.clone(),
                    })?;
            connectors.insert(
                name.to_owned(),
                ExpectedConnector {
                    department: connector.department.clone(),
                    topic: schema.topic_suffix(),
                    valid: records.valid,
                    invalid: records.invalid,
                },
            );
        }
        Ok(ExpectedRun {
            seed: departments.population.seed,
            residents: departments.population.size,
            generation: departments.clock.generation(),
            faults: faults.to_owned(),
            connectors,
        })
    }

    /// Writes the outcome as JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ChaosError> {
        let io = |source| ChaosError::Io {
            path: path.to_owned(),
            source,
        };
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        std::fs::write(path, text + "\n").map_err(io)
    }

    /// Reads an outcome [`ExpectedRun::write`] wrote.
    pub fn load(path: &Path) -> Result<ExpectedRun, ChaosError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChaosError::Io {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ChaosError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The kind topics (suffixes) the connectors publish to.
    pub fn kind_topics(&self) -> BTreeSet<&str> {
        self.connectors.values().map(|c| c.topic.as_str()).collect()
    }

    /// Records expected in all: valid and invalid.
    pub fn records(&self) -> usize {
        self.connectors
            .values()
            .map(|c| c.valid.len() + c.invalid.len())
            .sum()
    }
}

/// A run's topics, each read from its beginning to its end.
#[derive(Debug, Clone, Default)]
pub struct RunTopics {
    /// Departmental events by topic suffix (`education.enrollment.v2`).
    pub kinds: BTreeMap<String, Vec<LogEntry>>,
    /// The dead-letter topic.
    pub dlq: Vec<LogEntry>,
    /// Identity decisions.
    pub identity: Vec<LogEntry>,
    /// Golden records and tombstones.
    pub person: Vec<LogEntry>,
}

/// Deliveries to a group of topics, by CloudEvents id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// Events on the topics.
    pub events: u64,
    /// Distinct `ce_id`s among them.
    pub distinct: u64,
    /// `ce_id`s delivered more than once.
    pub repeated_ids: u64,
}

impl Deliveries {
    /// Deliveries beyond the first of each id (allowed: delivery is at least once).
    pub fn duplicates(&self) -> u64 {
        self.events - self.distinct
    }

    fn of<'a>(events: impl Iterator<Item = &'a LogEntry>) -> Deliveries {
        let mut ids: BTreeMap<&str, u64> = BTreeMap::new();
        let mut out = Deliveries::default();
        for e in events {
            out.events += 1;
            *ids.entry(e.header("ce_id").unwrap_or_default())
                .or_default() += 1;
        }
        out.distinct = ids.len() as u64;
        out.repeated_ids = ids.values().filter(|n| **n > 1).count() as u64;
        out
    }
}

/// One connector's records as found, against the expected numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Expected valid records found on the kind topic.
    pub valid_found: u64,
    /// Valid records expected.
    pub valid_expected: u64,
    /// Expected invalid records found on the dead-letter topic.
    pub invalid_found: u64,
    /// Invalid records expected.
    pub invalid_expected: u64,
}

/// A check [`verify`] or [`Partition::compare`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// Every expected record where it belongs, nothing else, and no event id under two
    /// person ids.
    Records,
    /// An identity decision for every record published about a person.
    Resolved,
    /// A live golden record behind every person id on a record's latest event, and
    /// every resolved record listed by its person's golden record.
    Golden,
    /// The same persons as another run.
    Partition,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Check::Records => "records",
            Check::Resolved => "resolved",
            Check::Golden => "golden",
            Check::Partition => "partition",
        })
    }
}

/// What [`verify`] found. Record lists are sorted and name records only by connector
/// and source record id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Per expected connector.
    pub tallies: BTreeMap<String, Tally>,
    /// Deliveries to the kind topics.
    pub kind_deliveries: Deliveries,
    /// Deliveries to the dead-letter topic.
    pub dlq_deliveries: Deliveries,
    /// Expected records not where they belong.
    pub missing: Vec<RecordKey>,
    /// Records also where they do not belong: a valid one on the dead-letter topic or
    /// on another connector's topic, an invalid one on a kind topic.
    pub misplaced: Vec<RecordKey>,
    /// Records nobody expected (or events without `ce_connector` / `ce_subject`).
    pub unknown: Vec<RecordKey>,
    /// Records with one event id published under different person ids.
    pub conflicting: Vec<RecordKey>,
    /// Records with events about a person (`ce_govhubpersonid`).
    pub about_persons: u64,
    /// Of those, records no link or split decision names.
    pub unresolved: Vec<RecordKey>,
    /// Identity decisions that are not JSON decisions naming a record.
    pub unreadable_decisions: u64,
    /// Person ids on records' latest events.
    pub persons: u64,
    /// Of those, ids retired by a merge into a live person.
    pub via_merge: u64,
    /// Of those, ids with no live golden record, directly or through merges.
    pub orphans: u64,
    /// Records whose latest event names an orphan.
    pub orphaned: Vec<RecordKey>,
    /// Records about a person whose person (by their latest decision, through merges) has no
    /// live golden record listing them among its sources: published, but not part of
    /// any resident as far as a consumer of the person topic can tell (what a hub that
    /// lost its identity state after committing the fingerprints leaves behind).
    pub unlisted: Vec<RecordKey>,
    /// Ids retired by a merge whose golden record was never tombstoned (allowed; a
    /// consumer of the compacted topic sees a stale golden record).
    pub stale: u64,
}

impl Report {
    /// The checks that failed, in order.
    pub fn failures(&self) -> Vec<Check> {
        let mut out = Vec::new();
        if !(self.missing.is_empty()
            && self.misplaced.is_empty()
            && self.unknown.is_empty()
            && self.conflicting.is_empty())
        {
            out.push(Check::Records);
        }
        if !self.unresolved.is_empty() || self.unreadable_decisions > 0 {
            out.push(Check::Resolved);
        }
        if self.orphans > 0 || !self.unlisted.is_empty() {
            out.push(Check::Golden);
        }
        out
    }
}

/// Entries in the order they were written (see the module docs).
fn ordered(entries: &[LogEntry]) -> Vec<&LogEntry> {
    let mut out: Vec<&LogEntry> = entries.iter().collect();
    out.sort_by_key(|e| (e.partition, e.offset));
    if out.windows(2).any(|w| w[0].partition != w[1].partition) {
        // Stable: offsets stay the tie-breaker.
        out.sort_by(|a, b| a.header("ce_time").cmp(&b.header("ce_time")));
    }
    out
}

/// Placeholder for a missing header in a record key.
const NONE: &str = "(none)";

fn subject_of(e: &LogEntry) -> RecordKey {
    (
        e.header("ce_connector").unwrap_or(NONE).to_owned(),
        e.header("ce_subject").unwrap_or(NONE).to_owned(),
    )
}

/// The part of an identity decision the verifier reads.
#[derive(Debug, Deserialize)]
struct Decision {
    event: String,
    person_id: String,
    #[serde(default)]
    from_person_ids: Vec<String>,
    record: DecisionRecord,
}

#[derive(Debug, Deserialize)]
struct DecisionRecord {
    connector: String,
    source_record_id: String,
}

/// What the identity topic says, read in order.
#[derive(Debug, Default)]
struct Identity {
    /// The person of each record by its latest link or split.
    person_of: BTreeMap<RecordKey, String>,
    /// Retired id → the id kept, where the latest decision about the retired id is the
    /// merge that retired it (a later decision naming it as a person revives it: a
    /// replayed run may have published a merge its state then forgot).
    merged_into: BTreeMap<String, String>,
    /// Decisions that could not be read.
    unreadable: u64,
}

impl Identity {
    fn of(entries: &[LogEntry]) -> Identity {
        let mut out = Identity::default();
        for entry in ordered(entries) {
            let Ok(d) = serde_json::from_value::<Decision>(entry.value.clone()) else {
                out.unreadable += 1;
                continue;
            };
            out.merged_into.remove(&d.person_id);
            match d.event.as_str() {
                "link" | "split" => {
                    let record = (d.record.connector, d.record.source_record_id);
                    out.person_of.insert(record, d.person_id);
                }
                "merge" => {
                    for retired in d.from_person_ids {
                        if retired != d.person_id {
                            out.merged_into.insert(retired, d.person_id.clone());
                        }
                    }
                }
                _ => out.unreadable += 1,
            }
        }
        out
    }

    /// `person` after following merges: the last id of the chain (a cycle stops where
    /// it closes).
    fn resolve<'a>(&'a self, mut person: &'a str) -> &'a str {
        let mut seen = BTreeSet::new();
        while let Some(next) = self.merged_into.get(person) {
            if !seen.insert(person) {
                break;
            }
            person = next;
        }
        person
    }
}

/// Checks a run's topics against what was expected; see [`Check`] for what each check
/// means. Duplicate deliveries are counted, not failed.
pub fn verify(expected: &ExpectedRun, topics: &RunTopics) -> Report {
    let mut report = Report {
        kind_deliveries: Deliveries::of(topics.kinds.values().flatten()),
        dlq_deliveries: Deliveries::of(topics.dlq.iter()),
        ..Report::default()
    };
    let mut misplaced = BTreeSet::new();
    let mut unknown = BTreeSet::new();

    // Records: found on their kind topic, on the dead-letter topic.
    let mut on_kind: BTreeSet<RecordKey> = BTreeSet::new();
    let mut persons_of_id: BTreeMap<&str, (BTreeSet<Option<&str>>, RecordKey)> = BTreeMap::new();
    for (topic, entries) in &topics.kinds {
        for e in entries {
            let key = subject_of(e);
            let id = e.header("ce_id").unwrap_or_default();
            let slot = persons_of_id
                .entry(id)
                .or_insert_with(|| (BTreeSet::new(), key.clone()));
            slot.0.insert(e.header("ce_govhubpersonid"));
            match expected.connectors.get(&key.0) {
                Some(c) if c.valid.contains(&key.1) && c.topic == *topic => {
                    on_kind.insert(key);
                }
                Some(c) if c.valid.contains(&key.1) || c.invalid.contains(&key.1) => {
                    misplaced.insert(key);
                }
                _ => {
                    unknown.insert(key);
                }
            }
        }
    }
    report.conflicting = persons_of_id
        .into_values()
        .filter(|(persons, _)| persons.len() > 1)
        .map(|(_, key)| key)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let mut on_dlq: BTreeSet<RecordKey> = BTreeSet::new();
    for e in &topics.dlq {
        let connector = e.value["connector"]
            .as_str()
            .or_else(|| e.header("ce_connector"))
            .unwrap_or(NONE);
        let id = e.value["source_record_id"]
            .as_str()
            .or_else(|| e.header("ce_subject"))
            .unwrap_or(NONE);
        let key = (connector.to_owned(), id.to_owned());
        match expected.connectors.get(connector) {
            Some(c) if c.invalid.contains(id) => {
                on_dlq.insert(key);
            }
            Some(c) if c.valid.contains(id) => {
                misplaced.insert(key);
            }
            _ => {
                unknown.insert(key);
            }
        }
    }
    for (name, c) in &expected.connectors {
        let mut tally = Tally {
            valid_expected: c.valid.len() as u64,
            invalid_expected: c.invalid.len() as u64,
            ..Tally::default()
        };
        for (wanted, place, found) in [
            (&c.valid, &on_kind, &mut tally.valid_found),
            (&c.invalid, &on_dlq, &mut tally.invalid_found),
        ] {
            for id in wanted {
                let key = (name.clone(), id.clone());
                if place.contains(&key) {
                    *found += 1;
                } else {
                    report.missing.push(key);
                }
            }
        }
        report.tallies.insert(name.clone(), tally);
    }
    report.missing.sort();
    report.misplaced = misplaced.into_iter().collect();
    report.unknown = unknown.into_iter().collect();

    // Resolved: a link or split naming each record published about a person.
    let identity = Identity::of(&topics.identity);
    report.unreadable_decisions = identity.unreadable;
    let mut latest: BTreeMap<RecordKey, Option<String>> = BTreeMap::new();
    let mut about: BTreeSet<RecordKey> = BTreeSet::new();
    for entries in topics.kinds.values() {
        for e in ordered(entries) {
            let key = subject_of(e);
            let person = e.header("ce_govhubpersonid");
            if person.is_some() {
                about.insert(key.clone());
            }
            latest.insert(key, person.map(str::to_owned));
        }
    }
    report.about_persons = about.len() as u64;
    report.unresolved = about
        .iter()
        .filter(|key| !identity.person_of.contains_key(*key))
        .cloned()
        .collect();

    // The latest golden record of each person id: the records it lists, or none for a
    // tombstone or the `merged_into` pointer that follows it.
    let mut golden: BTreeMap<&str, Option<BTreeSet<RecordKey>>> = BTreeMap::new();
    for e in ordered_by_offset(&topics.person) {
        if let Some(key) = e.key.as_deref() {
            let retired = e.value.is_null() || e.value.get("merged_into").is_some();
            golden.insert(key, (!retired).then(|| sources_of(&e.value)));
        }
    }
    let listed = |person: &str, record: &RecordKey| {
        golden
            .get(person)
            .and_then(Option::as_ref)
            .is_some_and(|sources| sources.contains(record))
    };
    report.unlisted = about
        .iter()
        .filter(|key| {
            identity
                .person_of
                .get(*key)
                .is_some_and(|person| !listed(identity.resolve(person), key))
        })
        .cloned()
        .collect();

    // Golden: the latest person-topic value of every id on a latest event, through merges.
    let live: BTreeMap<&str, bool> = golden.iter().map(|(k, v)| (*k, v.is_some())).collect();
    let is_live = |p: &str| live.get(p).copied().unwrap_or(false);
    let mut persons: BTreeMap<&str, bool> = BTreeMap::new();
    for (key, person) in &latest {
        let Some(person) = person else { continue };
        let ok = *persons.entry(person).or_insert_with(|| {
            let last = identity.resolve(person);
            if is_live(person) {
                true
            } else if last != person.as_str() && is_live(last) {
                report.via_merge += 1;
                true
            } else {
                false
            }
        });
        if !ok {
            report.orphaned.push(key.clone());
        }
    }
    report.persons = persons.len() as u64;
    report.orphans = persons.values().filter(|ok| !**ok).count() as u64;
    report.stale = identity
        .merged_into
        .keys()
        .filter(|p| is_live(p.as_str()))
        .count() as u64;
    report
}

/// The records a golden record names under `sources` (connector, source record id).
fn sources_of(golden: &serde_json::Value) -> BTreeSet<RecordKey> {
    golden["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["connector"].as_str()?.to_owned(),
                s["source_record_id"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn ordered_by_offset(entries: &[LogEntry]) -> Vec<&LogEntry> {
    let mut out: Vec<&LogEntry> = entries.iter().collect();
    out.sort_by_key(|e| (e.partition, e.offset));
    out
}

/// Records grouped into persons as a run's identity topic leaves them: each record in
/// the person of its latest link or split, followed through merges. Person ids are not
/// compared, only the groups, since runs may create persons in different orders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partition {
    /// Final person id → its records.
    groups: BTreeMap<String, BTreeSet<RecordKey>>,
}

/// How two runs' persons differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionDiff {
    /// Persons in this run.
    pub persons_here: usize,
    /// Persons in the other run.
    pub persons_there: usize,
    /// Records resolved in this run only.
    pub only_here: Vec<RecordKey>,
    /// Records resolved in the other run only.
    pub only_there: Vec<RecordKey>,
    /// Records resolved in both whose person holds other records in one run than in
    /// the other (among the records both resolved).
    pub regrouped: Vec<RecordKey>,
}

impl PartitionDiff {
    /// Whether the runs group the records into the same persons.
    pub fn is_same(&self) -> bool {
        self.only_here.is_empty() && self.only_there.is_empty() && self.regrouped.is_empty()
    }
}

impl Partition {
    /// The persons of a run's identity topic.
    pub fn of(identity: &[LogEntry]) -> Partition {
        let identity = Identity::of(identity);
        let mut groups: BTreeMap<String, BTreeSet<RecordKey>> = BTreeMap::new();
        for (record, person) in &identity.person_of {
            groups
                .entry(identity.resolve(person).to_owned())
                .or_default()
                .insert(record.clone());
        }
        Partition { groups }
    }

    /// Records resolved.
    pub fn records(&self) -> usize {
        self.groups.values().map(BTreeSet::len).sum()
    }

    /// Persons.
    pub fn persons(&self) -> usize {
        self.groups.len()
    }

    fn group_of(&self) -> BTreeMap<&RecordKey, &BTreeSet<RecordKey>> {
        self.groups
            .values()
            .flat_map(|g| g.iter().map(move |r| (r, g)))
            .collect()
    }

    /// How this run's persons differ from `other`'s.
    pub fn compare(&self, other: &Partition) -> PartitionDiff {
        let here = self.group_of();
        let there = other.group_of();
        let only = |a: &BTreeMap<&RecordKey, _>, b: &BTreeMap<&RecordKey, _>| {
            a.keys()
                .filter(|r| !b.contains_key(*r))
                .map(|r| (*r).clone())
                .collect::<Vec<_>>()
        };
        let common = |g: &BTreeSet<RecordKey>| -> BTreeSet<RecordKey> {
            g.iter()
                .filter(|r| here.contains_key(r) && there.contains_key(r))
                .cloned()
                .collect()
        };
        let regrouped = here
            .iter()
            .filter_map(|(r, g)| {
                let h = there.get(r)?;
                (common(g) != common(h)).then(|| (*r).clone())
            })
            .collect();
        PartitionDiff {
            persons_here: self.persons(),
            persons_there: other.persons(),
            only_here: only(&here, &there),
            only_there: only(&there, &here),
            regrouped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const PREFIXED_KIND: &str = "education.enrollment.v2";

    fn expected() -> ExpectedRun {
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        ExpectedRun {
            seed: 1,
            residents: 10,
            generation: 0,
            faults: "none".into(),
            connectors: BTreeMap::from([(
                "education".to_owned(),
                ExpectedConnector {
                    department: "education".into(),
                    topic: PREFIXED_KIND.into(),
                    valid: ids(&["E1", "E2", "E3"]),
                    invalid: ids(&["E9"]),
                },
            )]),
        }
    }

    fn entry(offset: u64, key: Option<&str>, headers: &[(&str, &str)], value: Value) -> LogEntry {
        LogEntry {
            partition: 0,
            offset,
            key: key.map(str::to_owned),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        }
    }

    fn event(offset: u64, record: &str, id: &str, person: &str) -> LogEntry {
        entry(
            offset,
            Some(person),
            &[
                ("ce_id", id),
                ("ce_subject", record),
                ("ce_connector", "education"),
                ("ce_govhubpersonid", person),
            ],
            json!({}),
        )
    }

    fn dead_letter(offset: u64, record: &str) -> LogEntry {
        entry(
            offset,
            Some(record),
            &[
                ("ce_id", &format!("d{record}")),
                ("ce_subject", record),
                ("ce_connector", "education"),
            ],
            json!({"connector": "education", "source_record_id": record}),
        )
    }

    fn decision(offset: u64, event: &str, person: &str, from: &[&str], record: &str) -> LogEntry {
        entry(
            offset,
            Some(person),
            &[("ce_id", &format!("i{offset}"))],
            json!({"event": event, "person_id": person, "from_person_ids": from,
                   "record": {"department": "education", "connector": "education",
                              "source_record_id": record}}),
        )
    }

    fn golden(offset: u64, person: &str, records: &[&str]) -> LogEntry {
        let sources: Vec<Value> = records
            .iter()
            .map(|r| json!({"department": "education", "connector": "education", "source_record_id": r}))
            .collect();
        entry(
            offset,
            Some(person),
            &[],
            json!({"person_id": person, "sources": sources}),
        )
    }

    fn tombstone(offset: u64, person: &str) -> LogEntry {
        entry(offset, Some(person), &[], Value::Null)
    }

    /// A clean run: three records, E1 and E2 one person (p1), E3 another (p3), E9 dead.
    fn clean() -> RunTopics {
        RunTopics {
            kinds: BTreeMap::from([(
                PREFIXED_KIND.to_owned(),
                vec![
                    event(0, "E1", "a1", "p1"),
                    event(1, "E2", "a2", "p1"),
                    event(2, "E3", "a3", "p3"),
                ],
            )]),
            dlq: vec![dead_letter(0, "E9")],
            identity: vec![
                decision(0, "link", "p1", &[], "E1"),
                decision(1, "link", "p1", &[], "E2"),
                decision(2, "link", "p3", &[], "E3"),
            ],
            person: vec![
                golden(0, "p1", &["E1"]),
                golden(1, "p1", &["E1", "E2"]),
                golden(2, "p3", &["E3"]),
            ],
        }
    }

    fn keys(ids: &[&str]) -> Vec<RecordKey> {
        ids.iter()
            .map(|id| ("education".to_owned(), (*id).to_owned()))
            .collect()
    }

    #[test]
    fn a_clean_run_passes_every_check() {
        let report = verify(&expected(), &clean());
        assert_eq!(report.failures(), []);
        assert_eq!(
            report.tallies["education"],
            Tally {
                valid_found: 3,
                valid_expected: 3,
                invalid_found: 1,
                invalid_expected: 1
            }
        );
        assert_eq!(report.kind_deliveries.duplicates(), 0);
        assert_eq!((report.about_persons, report.persons), (3, 2));
        assert_eq!(report.orphans, 0);
    }

    #[test]
    fn a_missing_record_fails_and_is_named() {
        let mut run = clean();
        run.kinds.get_mut(PREFIXED_KIND).unwrap().remove(1);
        run.dlq.clear();
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), [Check::Records]);
        assert_eq!(report.missing, keys(&["E2", "E9"]));
        assert_eq!(report.tallies["education"].valid_found, 2);
    }

    #[test]
    fn misplaced_and_unknown_records_fail() {
        let mut run = clean();
        run.dlq.push(dead_letter(1, "E3"));
        run.kinds
            .get_mut(PREFIXED_KIND)
            .unwrap()
            .push(event(3, "X7", "a7", "p3"));
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), [Check::Records, Check::Resolved]);
        assert_eq!(report.misplaced, keys(&["E3"]));
        assert_eq!(report.unknown, keys(&["X7"]));
        assert!(report.missing.is_empty());
    }

    #[test]
    fn duplicates_are_counted_but_allowed() {
        let mut run = clean();
        let events = run.kinds.get_mut(PREFIXED_KIND).unwrap();
        events.push(event(3, "E1", "a1", "p1"));
        events.push(event(4, "E1", "a1", "p1"));
        events.push(event(5, "E3", "a3", "p3"));
        run.dlq.push(dead_letter(1, "E9"));
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), []);
        assert_eq!(
            report.kind_deliveries,
            Deliveries {
                events: 6,
                distinct: 3,
                repeated_ids: 2
            }
        );
        assert_eq!(report.kind_deliveries.duplicates(), 3);
        assert_eq!(report.dlq_deliveries.duplicates(), 1);
    }

    #[test]
    fn one_event_id_under_two_person_ids_fails() {
        let mut run = clean();
        // E3 replayed after a crash and resolved to a new person the second time.
        run.kinds
            .get_mut(PREFIXED_KIND)
            .unwrap()
            .push(event(3, "E3", "a3", "p4"));
        run.identity.push(decision(3, "link", "p4", &[], "E3"));
        run.person.push(golden(3, "p4", &["E3"]));
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), [Check::Records]);
        assert_eq!(report.conflicting, keys(&["E3"]));
    }

    #[test]
    fn an_event_without_an_identity_decision_fails() {
        let mut run = clean();
        run.identity.remove(1);
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), [Check::Resolved]);
        assert_eq!(report.unresolved, keys(&["E2"]));
    }

    #[test]
    fn a_person_without_a_golden_record_is_an_orphan() {
        let mut run = clean();
        // p3's golden record never made it (a broker outage).
        run.person.pop();
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), [Check::Golden]);
        assert_eq!(
            (report.orphans, report.orphaned.clone()),
            (1, keys(&["E3"]))
        );

        // A tombstone without a merge leaves it an orphan too.
        run.person.push(golden(2, "p3", &["E3"]));
        run.person.push(tombstone(3, "p3"));
        let report = verify(&expected(), &run);
        assert_eq!(report.orphans, 1);
        // And the record belongs to no live golden record.
        assert_eq!(report.unlisted, keys(&["E3"]));
    }

    #[test]
    fn a_record_its_persons_golden_record_does_not_list_fails() {
        let mut run = clean();
        // E2 was published and linked to p1, then the hub died before its identity
        // state was committed; p1's golden record was written again without it.
        run.person.push(golden(3, "p1", &["E1"]));
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), [Check::Golden]);
        assert_eq!(report.unlisted, keys(&["E2"]));
        assert_eq!(report.orphans, 0);
    }

    #[test]
    fn a_person_merged_away_resolves_through_the_chain() {
        let mut run = clean();
        // p3 merged into p1, then p1 into p0: E3's event still names p3.
        run.identity.push(decision(3, "merge", "p1", &["p3"], "E2"));
        run.identity.push(decision(4, "merge", "p0", &["p1"], "E1"));
        run.person.extend([
            tombstone(3, "p3"),
            tombstone(4, "p1"),
            golden(5, "p0", &["E1", "E2", "E3"]),
        ]);
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), []);
        assert_eq!((report.persons, report.via_merge), (2, 2));

        // The end of the chain without a golden record: every record on it is orphaned.
        run.person.push(tombstone(6, "p0"));
        let report = verify(&expected(), &run);
        assert_eq!(report.failures(), [Check::Golden]);
        assert_eq!(report.orphaned, keys(&["E1", "E2", "E3"]));
    }

    #[test]
    fn only_the_latest_version_of_a_record_needs_a_live_person() {
        let mut run = clean();
        // E3 changed and moved to p5 (a split); p3 was left empty and retired.
        run.kinds
            .get_mut(PREFIXED_KIND)
            .unwrap()
            .push(event(3, "E3", "b3", "p5"));
        run.identity.push(decision(3, "split", "p5", &["p3"], "E3"));
        run.person
            .extend([tombstone(3, "p3"), golden(4, "p5", &["E3"])]);
        assert_eq!(verify(&expected(), &run).failures(), []);
    }

    #[test]
    fn a_merge_revoked_by_a_later_decision_does_not_redirect() {
        let mut run = clean();
        // A merge published before a crash, forgotten by the replay, which linked E3 to
        // p3 again.
        run.identity.push(decision(3, "merge", "p1", &["p3"], "E3"));
        run.identity.push(decision(4, "link", "p3", &[], "E3"));
        let partition = Partition::of(&run.identity);
        assert_eq!(partition.persons(), 2);
        assert!(
            partition
                .compare(&Partition::of(&clean().identity))
                .is_same()
        );
    }

    #[test]
    fn partitions_compare_as_groups_not_ids() {
        let a = Partition::of(&clean().identity);
        // The same grouping under other person ids, and merges reaching it.
        let b = Partition::of(&[
            decision(0, "link", "q3", &[], "E3"),
            decision(1, "link", "q2", &[], "E2"),
            decision(2, "link", "q1", &[], "E1"),
            decision(3, "merge", "q1", &["q2"], "E2"),
        ]);
        assert_eq!((a.records(), a.persons()), (3, 2));
        let diff = a.compare(&b);
        assert!(diff.is_same(), "{diff:?}");

        // E2 on its own and E3 missing in the other run.
        let c = Partition::of(&[
            decision(0, "link", "q1", &[], "E1"),
            decision(1, "link", "q2", &[], "E2"),
        ]);
        let diff = a.compare(&c);
        assert!(!diff.is_same());
        assert_eq!(diff.only_here, keys(&["E3"]));
        assert!(diff.only_there.is_empty());
        assert_eq!(diff.regrouped, keys(&["E1", "E2"]));
        assert_eq!((diff.persons_here, diff.persons_there), (2, 2));
    }

    #[test]
    fn expected_outcomes_round_trip_through_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expected.json");
        expected().write(&path).unwrap();
        assert_eq!(ExpectedRun::load(&path).unwrap(), expected());
        std::fs::write(&path, "{}").unwrap();
        let err = ExpectedRun::load(&path).unwrap_err().to_string();
        assert!(err.contains("not an expected-outcome file"), "{err}");
    }

    #[test]
    fn the_example_config_names_a_topic_for_every_simulated_connector() {
        let departments = Departments::new(3, 200);
        let config = HubConfig::parse(demo::EXAMPLE_CONFIG, "example").unwrap();
        let standard = Standard::embedded().unwrap();
        let run = ExpectedRun::of(&departments, &config, &standard, "none").unwrap();
        assert_eq!(run.connectors.len(), 4);
        assert_eq!(run.connectors["education"].topic, PREFIXED_KIND);
        assert_eq!(
            run.connectors["civil_affairs"].topic,
            "civil-affairs.household-member.v1"
        );
        assert!(run.records() > 200);
    }
}
