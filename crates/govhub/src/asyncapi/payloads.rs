//! Payload schemas of govhub's own topics: the person topic (golden records and
//! tombstones), the identity topic (link / merge / split decisions) and the dead-letter
//! topic, with examples.

use govhub_resolve::identity::{Comparison, Evidence, IdentityEvent, Provenance, RecordRef};
use govhub_schema::ID_BASE;
use serde_json::{Value, json};

use super::AsyncApiError;

// The person and identity payloads describe what identity resolution
// (crates/govhub-resolve/src/identity) publishes; this is the place to update when it
// changes. Topic names, event types and headers are not here: they come from the
// publish stage (`Publisher::person`, `Publisher::identity`).
// `crates/govhub/tests/asyncapi.rs` validates the events of a real demo run against
// these schemas, so a payload that drifts from its description fails that test.

/// `$ref` to a definition of the standard's shared schemas, e.g. `person`, `name`.
pub(super) fn common(file: &str, def: &str) -> Value {
    json!({ "$ref": format!("{ID_BASE}common/{file}.v1.json#/$defs/{def}") })
}

/// A department record a person or decision is based on ([`RecordRef`]).
pub(super) fn record_ref_schema() -> Value {
    json!({
        "title": "source record",
        "description": "A record of a department system, as published on its kind's topic.",
        "type": "object",
        "additionalProperties": false,
        "required": ["department", "connector", "source_record_id"],
        "properties": {
            "department": { "type": "string", "minLength": 1, "description": "Department owning the source system (ce_department of the record's event)." },
            "connector": { "type": "string", "minLength": 1, "description": "Connector that pulled the record (ce_connector)." },
            "source_record_id": { "type": "string", "minLength": 1, "description": "The record's id in the source system (ce_subject of the record's event)." }
        }
    })
}

/// The unified person id: `p` and 16 hex digits.
pub(super) fn person_id_schema(description: &str) -> Value {
    json!({ "type": "string", "pattern": "^p[0-9a-f]{16}$", "description": description })
}

/// Payload of the person topic: the golden record of one resident.
pub(super) fn person_schema() -> Value {
    let field = |title: &str, schema: Value| {
        let mut schema = schema;
        if let Some(map) = schema.as_object_mut() {
            map.insert("title".into(), json!(title));
        }
        schema
    };
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "统一人员 (golden person record)",
        "description": "The golden record of one resident: for each field the value a survivorship rule chose among every department record linked to the person, with the record it came from. A field no linked record has is absent.",
        "type": "object",
        "additionalProperties": false,
        "required": ["person_id", "version", "updated_at", "sources", "provenance"],
        "properties": {
            "person_id": person_id_schema("Unified person id assigned by govhub; also the event key and the ce_govhubpersonid header."),
            "version": { "type": "integer", "minimum": 1, "description": "Increases with every change of this person's records." },
            "updated_at": { "type": "string", "format": "date-time", "description": "When the newest of the person's records was fetched." },
            "name": field("姓名 (name)", common("person", "name")),
            "sex": field("性别 (sex)", common("person", "sex")),
            "birth_date": field("出生日期 (date of birth)", common("person", "birth_date")),
            "resident_id": field("公民身份号码 (resident ID number)", common("identifiers", "resident_id")),
            "phone": field("手机号码 (mobile phone)", common("contact", "phone")),
            "division_code": field("户籍地行政区划 (division code of the registered address)", common("address", "division_code")),
            "sources": {
                "description": "Every department record linked to this person.",
                "type": "array",
                "minItems": 1,
                "items": record_ref_schema()
            },
            "provenance": {
                "description": "For each field of the golden record, the department record its value was taken from.",
                "type": "object",
                "propertyNames": { "enum": PERSON_FIELDS },
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["department", "source_record_id", "at"],
                    "properties": {
                        "department": { "type": "string", "minLength": 1 },
                        "source_record_id": { "type": "string", "minLength": 1 },
                        "at": { "type": "string", "format": "date-time", "description": "When that record was fetched." }
                    }
                }
            }
        }
    })
}

/// Fields of the golden record whose provenance is recorded.
pub(super) const PERSON_FIELDS: &[&str] = &[
    "name",
    "sex",
    "birth_date",
    "resident_id",
    "phone",
    "division_code",
];

/// Payload of the person topic's tombstones.
pub(super) fn tombstone_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "retired person id (tombstone)",
        "description": "No value (a Kafka tombstone; null in the embedded log): the person id in the key no longer exists, having been merged into another person (see the identity topic's merge decisions). Compaction then removes the key.",
        "type": "null"
    })
}

/// Payload of the person topic's merge pointers.
pub(super) fn merged_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "merged person id",
        "description": "Follows the tombstone of a person id merged into another: the key's person id now lives on as `merged_into`. Compaction keeps it (the latest value of its key), so a consumer holding an old id finds the current one here; if `merged_into` was merged in turn, its own key says where to.",
        "type": "object",
        "additionalProperties": false,
        "required": ["person_id", "merged_into"],
        "properties": {
            "person_id": person_id_schema("The retired person id (the key)."),
            "merged_into": person_id_schema("The person id it was merged into (the older of the two, kept).")
        }
    })
}

/// Payload of the identity topic: [`IdentityEvent`] as serialized.
pub(super) fn identity_schema() -> Value {
    let comparisons: Vec<&str> = Comparison::ALL.iter().map(|c| c.as_str()).collect();
    let mut levels: Vec<&str> = Comparison::ALL
        .iter()
        .flat_map(|c| c.levels().iter().copied())
        .collect();
    levels.sort_unstable();
    levels.dedup();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "身份判定 (identity decision)",
        "description": "One decision of identity resolution about one department record: it was linked to a person (a known one, or a new one), persons were found to be one and merged, or the record left a person it had been linked to. Together these decisions explain every golden record on the person topic.",
        "type": "object",
        "additionalProperties": false,
        "required": ["event", "person_id", "record", "rule", "at_ms"],
        "properties": {
            "event": { "enum": ["link", "merge", "split"], "description": "link: the record joined person_id; merge: persons were found to be one, person_id is the kept (older) id; split: the record left the person it had been linked to and now belongs to person_id." },
            "person_id": person_id_schema("The person the record belongs to now (the kept id of a merge); also the event key."),
            "from_person_ids": { "type": "array", "minItems": 1, "items": person_id_schema("A person id."), "description": "merge: the retired person ids (their tombstones follow on the person topic); split: the person the record left." },
            "record": record_ref_schema(),
            "rule": { "enum": ["resident_id", "probabilistic", "new"], "description": "resident_id: the same resident ID number; probabilistic: the match probability of the evidence passed the link threshold; new: nothing matched, a new person." },
            "score": { "type": "number", "description": "probabilistic: match weight in bits, the sum of the evidence weights." },
            "probability": { "type": "number", "minimum": 0, "maximum": 1, "description": "probabilistic: match probability." },
            "evidence": {
                "description": "probabilistic: the weight of each field comparison.",
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["comparison", "level", "weight"],
                    "properties": {
                        "comparison": { "enum": comparisons, "description": "The field compared." },
                        "level": { "enum": levels, "description": "How alike the two values are." },
                        "weight": { "type": "number", "description": "Match weight of that level in bits (log2 m/u, after name-frequency adjustment)." }
                    }
                }
            },
            "at_ms": { "type": "integer", "description": "When the record was fetched, in milliseconds since the Unix epoch." }
        }
    })
}

/// A made-up person id for the examples.
pub(super) const EXAMPLE_PERSON: &str = "p000000000000002a";
/// The made-up person id [`EXAMPLE_PERSON`] is merged into in the examples.
pub(super) const EXAMPLE_SURVIVOR: &str = "p0000000000000007";

/// An example golden record (every value made up).
pub(super) fn person_example() -> Value {
    let source = |department: &str, connector: &str, id: &str| RecordRef {
        department: department.into(),
        connector: connector.into(),
        source_record_id: id.into(),
    };
    let from = |department: &str, id: &str, at: &str| Provenance {
        department: department.into(),
        source_record_id: id.into(),
        at: at.into(),
    };
    let registry = from(
        "civil-affairs",
        "61011300000000001",
        "2026-01-15T08:30:00.000Z",
    );
    json!({
        "person_id": EXAMPLE_PERSON,
        "version": 2,
        "updated_at": "2026-01-15T08:31:00.000Z",
        "name": "张三",
        "sex": "male",
        "birth_date": "1949-12-31",
        "resident_id": "11010519491231002X",
        "phone": "13800138000",
        "division_code": "110105",
        "sources": [
            source("civil-affairs", "civil_affairs", "61011300000000001"),
            source("health", "health", "JZ20260115000001")
        ],
        "provenance": {
            "name": registry,
            "sex": registry,
            "birth_date": registry,
            "resident_id": registry,
            "division_code": registry,
            "phone": from("health", "JZ20260115000001", "2026-01-15T08:31:00.000Z")
        }
    })
}

/// An example identity decision (every value made up), as the resolver's type
/// serializes it.
pub(super) fn identity_example() -> Result<Value, AsyncApiError> {
    let evidence = |comparison: Comparison, level: usize, weight: f64| Evidence {
        comparison: comparison.as_str().into(),
        level: comparison
            .levels()
            .get(level)
            .copied()
            .unwrap_or_default()
            .into(),
        weight,
    };
    let decision = IdentityEvent {
        event: "link".into(),
        person_id: EXAMPLE_PERSON.into(),
        from_person_ids: Vec::new(),
        record: RecordRef {
            department: "health".into(),
            connector: "health".into(),
            source_record_id: "JZ20260115000001".into(),
        },
        rule: "probabilistic".into(),
        score: Some(17.4),
        probability: Some(0.999_994),
        evidence: vec![
            evidence(Comparison::Name, 0, 9.1),
            evidence(Comparison::BirthDate, 0, 8.9),
            evidence(Comparison::Phone, 1, -0.6),
        ],
        at_ms: 1_768_465_860_000,
    };
    serde_json::to_value(decision).map_err(|e| AsyncApiError::Sample(e.to_string()))
}

/// Payload of the dead-letter topic: [`govhub_stream::DeadLetter`] as serialized.
pub(super) fn dead_letter_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "死信 (dead letter)",
        "description": "A record that failed the mapping or the unified standard, with every reason and the payload exactly as the department sent it. Violation messages never quote the offending value; the payload does, so restrict who reads this topic.",
        "type": "object",
        "additionalProperties": false,
        "required": ["connector", "department", "kind", "source_record_id", "stage", "schema", "violations", "fetched_at", "payload"],
        "properties": {
            "connector": { "type": "string", "description": "Connector that pulled the record." },
            "department": { "type": "string", "description": "Department owning the source system." },
            "kind": { "type": "string", "description": "Record kind the connector declared, e.g. education.enrollment." },
            "source_record_id": { "type": "string", "description": "The record's id in the source system (positional when the record had none)." },
            "stage": { "type": "string", "description": "Stage that rejected it: map or validate." },
            "schema": { "type": ["string", "null"], "description": "$id of the schema the record was checked against (validate stage), else null." },
            "violations": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["instance_path", "schema_path", "keyword", "message"],
                    "properties": {
                        "instance_path": { "type": "string", "description": "JSON pointer into the record." },
                        "schema_path": { "type": "string", "description": "JSON pointer into the schema, or the mapping rule." },
                        "keyword": { "type": "string", "description": "What failed: a schema keyword (format, required, ...) or a mapping step (normalize, code, date, missing, ...)." },
                        "message": { "type": "string", "description": "What is wrong, without the value." }
                    }
                }
            },
            "fetched_at": { "type": "string", "format": "date-time", "description": "When govhub fetched the record." },
            "payload": { "description": "The record exactly as the department sent it (any JSON)." }
        }
    })
}
