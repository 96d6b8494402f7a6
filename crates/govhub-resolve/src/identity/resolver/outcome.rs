//! What resolution tells the rest of govhub: decisions, what changed, counters, errors.

use serde::{Deserialize, Serialize};

use crate::identity::model::{Evidence, ModelError};
use crate::identity::observation::RecordRef;

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
    /// Of those, each merged away with the id it was merged into: `(retired, kept)`.
    pub merged_into: Vec<(String, String)>,
}

/// Counters for metrics and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityStats {
    /// Residents (persons with at least one record).
    pub residents: u64,
    /// Records resolved (their latest versions).
    pub records: u64,
    /// Records linked to a resident who already had records (a record founding a new
    /// resident is not a link).
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
    /// The state store cannot be read or written.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// The model file cannot be read.
    #[error("identity model {path}: {message}")]
    ModelFile {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}
