//! The identity state as a journal of decisions (this record belongs to that person;
//! these persons were merged). The hub's state store keeps it, committed with the
//! events the decisions caused; loading replays the decisions without scoring anything
//! again.

use serde::{Deserialize, Serialize};

use super::observation::Observation;

/// One decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    /// The record (new, changed or moved) belongs to `person`.
    Record {
        /// The record's person fields (boxed: a merge entry is a fifth of its size).
        observation: Box<Observation>,
        /// Its unified person id.
        person: String,
        /// The person's golden-record version, written by compaction so that versions
        /// keep growing across it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u32>,
    },
    /// `from` was merged into `into`.
    Merge {
        /// The younger person id, retired.
        from: String,
        /// The older person id, kept.
        into: String,
    },
}

/// The latest version of every record in a journal: what `govhub eval --train
/// --data-dir` estimates a model from.
pub fn recorded_observations(entries: Vec<Entry>) -> Vec<Observation> {
    let mut latest: std::collections::HashMap<super::observation::RecordRef, usize> =
        std::collections::HashMap::new();
    let mut out: Vec<Observation> = Vec::new();
    for entry in entries {
        if let Entry::Record { observation, .. } = entry {
            match latest.get(&observation.record) {
                Some(&at) => out[at] = *observation,
                None => {
                    latest.insert(observation.record.clone(), out.len());
                    out.push(*observation);
                }
            }
        }
    }
    out
}
