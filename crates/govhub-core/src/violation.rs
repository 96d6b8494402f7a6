use serde::{Deserialize, Serialize};

/// One reason a record was rejected: a schema violation, or a mapping that could not apply.
///
/// The message never contains the offending value, only its location: violations are
/// shown to operators and logged, and record values may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// JSON pointer into the record, e.g. `/student/resident_id`.
    pub instance_path: String,
    /// JSON pointer into the schema, e.g. `/properties/student/properties/resident_id/format`.
    pub schema_path: String,
    /// The schema keyword that failed, e.g. `format`, `required`.
    pub keyword: String,
    /// What is wrong, with the value masked.
    pub message: String,
}
