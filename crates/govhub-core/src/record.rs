use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One record as a department system gave it, with where it came from.
///
/// `payload` is the department's JSON exactly as received: it is what the dead-letter
/// topic returns when the record is rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Name of the connector that pulled the record (config key).
    pub connector: String,
    /// Department that owns the source system, e.g. `education`.
    pub department: String,
    /// Canonical record kind the connector declares, e.g. `education.enrollment`.
    pub kind: String,
    /// The record's id in the department system.
    pub source_record_id: String,
    /// The record as received.
    pub payload: Value,
    /// When govhub fetched it.
    pub fetched_at: DateTime<Utc>,
}
