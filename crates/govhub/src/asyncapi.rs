//! The AsyncAPI 3.0.0 document of govhub's topics, for downstream developers.
//!
//! [`document`] describes every topic govhub writes: one channel per record kind and
//! version of the unified standard, the person topic (golden records), the identity
//! topic (link / merge / split decisions) and the dead-letter topic. Topic names, event
//! types and header names are taken from events built by the hub's own publish stage
//! ([`Publisher`]), not re-derived here; payload schemas are the standard's JSON Schemas
//! (2020-12) with every `$ref` inlined, so the document is self-contained.
//!
//! The person and identity payload schemas are written here, in the section marked
//! "PROVISIONAL", the one place to update when identity resolution changes them.

use govhub_core::{OutEvent, SourceRecord, Violation};
use govhub_resolve::identity::{Comparison, Evidence, IdentityEvent, Provenance, RecordRef};
use govhub_schema::{ID_BASE, Standard};
use govhub_stream::{KafkaSinkConfig, PERSON_ID_EXTENSION, Publisher, Topics, with_person};
use serde_json::{Map, Value, json};

/// AsyncAPI version of the document.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// `schemaFormat` of every payload: the standard's JSON Schema dialect.
pub const SCHEMA_FORMAT: &str = "application/schema+json;version=draft-2020-12";

/// Version of the Kafka bindings used.
const KAFKA_BINDING_VERSION: &str = "0.5.0";

/// The broker described when no config is given: the one `deploy/kafka/local.sh` starts
/// and `deploy/govhub.example.toml` names.
pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "127.0.0.1:9092";

/// Why the document could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum AsyncApiError {
    /// A `$ref` in a schema points nowhere in the standard.
    #[error("{schema}: $ref {reference} cannot be inlined: {reason}")]
    Ref {
        /// `$id` of the schema holding the reference.
        schema: String,
        /// The reference, resolved against its base.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// The hub emits a header this generator has no description for.
    #[error(
        "events on {topic} carry header {header}, which the AsyncAPI generator does not \
         describe; add it to header_doc in crates/govhub/src/asyncapi.rs"
    )]
    UndocumentedHeader {
        /// Topic of the sample event.
        topic: String,
        /// The header's name.
        header: String,
    },
    /// A sample record for the publish stage could not be built.
    #[error("building a sample record: {0}")]
    Sample(String),
}

// =====================================================================================
// PROVISIONAL: the person and identity payloads.
//
// Identity resolution (crates/govhub-resolve/src/identity) is young; these schemas
// describe what it publishes today and are the one place to update when it changes.
// Topic names, event types and headers are not here: they come from the publish stage
// (`Publisher::person`, `Publisher::identity`). `crates/govhub/tests/asyncapi.rs`
// validates the events of a real demo run against these schemas, so a payload that
// drifts from its description fails that test.
// =====================================================================================

/// `$ref` to a definition of the standard's shared schemas, e.g. `person`, `name`.
fn common(file: &str, def: &str) -> Value {
    json!({ "$ref": format!("{ID_BASE}common/{file}.v1.json#/$defs/{def}") })
}

/// A department record a person or decision is based on ([`RecordRef`]).
fn record_ref_schema() -> Value {
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
fn person_id_schema(description: &str) -> Value {
    json!({ "type": "string", "pattern": "^p[0-9a-f]{16}$", "description": description })
}

/// Payload of the person topic: the golden record of one resident.
fn person_schema() -> Value {
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
const PERSON_FIELDS: &[&str] = &[
    "name",
    "sex",
    "birth_date",
    "resident_id",
    "phone",
    "division_code",
];

/// Payload of the person topic's tombstones.
fn tombstone_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "retired person id (tombstone)",
        "description": "No value (a Kafka tombstone; null in the embedded log): the person id in the key no longer exists, having been merged into another person (see the identity topic's merge decisions). Compaction then removes the key.",
        "type": "null"
    })
}

/// Payload of the identity topic: [`IdentityEvent`] as serialized.
fn identity_schema() -> Value {
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
const EXAMPLE_PERSON: &str = "p000000000000002a";

/// An example golden record (every value made up).
fn person_example() -> Value {
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
fn identity_example() -> Result<Value, AsyncApiError> {
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

// ============================ end of PROVISIONAL =====================================

/// Payload of the dead-letter topic: [`govhub_stream::DeadLetter`] as serialized.
fn dead_letter_schema() -> Value {
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

/// What a header means, for the document; `None` for a header govhub does not know.
fn header_doc(name: &str) -> Option<&'static str> {
    Some(match name {
        "ce_specversion" => "CloudEvents spec version.",
        "ce_id" => {
            "Event id: SHA-256 of source, subject and canonical content (32 hex \
             characters), so the same content always has the same id and changed content \
             a new one; consumers deduplicate on it."
        }
        "ce_source" => "Who produced the event.",
        "ce_type" => "Event type: the kind and version of the payload.",
        "ce_subject" => "What the event is about.",
        "ce_time" => "When it happened (RFC 3339, UTC, milliseconds).",
        "ce_dataschema" => {
            "$id of the payload's schema in the unified standard (an identifier, not a \
             download address)."
        }
        "ce_department" => "Extension: department owning the source system.",
        "ce_connector" => "Extension: connector that pulled the record.",
        "ce_govhubpersonid" => {
            "Extension govhubpersonid: the unified person id of the resident the event is \
             about."
        }
        "content-type" => "CloudEvents datacontenttype in binary mode: the value is JSON.",
        _ => return None,
    })
}

/// How the headers of one kind of event are described.
struct HeaderSpec<'a> {
    /// Headers the hub sets only sometimes (not required).
    optional: &'a [&'a str],
    /// Descriptions that say more than [`header_doc`] for these events.
    notes: &'a [(&'a str, &'a str)],
    /// `ce_source` is this fixed value rather than `/govhub/<department>/<connector>`.
    fixed_source: bool,
}

/// The headers schema of events like `sample`, built by the publish stage: every header
/// it carries, each with its description and what is fixed about its value.
fn headers_schema(sample: &OutEvent, spec: &HeaderSpec<'_>) -> Result<Value, AsyncApiError> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for header in &sample.headers {
        let name = header.name.as_str();
        let Some(doc) = header_doc(name) else {
            return Err(AsyncApiError::UndocumentedHeader {
                topic: sample.topic.clone(),
                header: header.name.clone(),
            });
        };
        let mut description = doc.to_owned();
        if let Some((_, note)) = spec.notes.iter().find(|(n, _)| *n == name) {
            description = format!("{description} {note}");
        }
        let mut schema = Map::new();
        schema.insert("type".into(), json!("string"));
        schema.insert("description".into(), json!(description));
        match name {
            "ce_specversion" | "ce_type" | "ce_dataschema" | "content-type" => {
                schema.insert("const".into(), json!(header.value));
            }
            "ce_source" if spec.fixed_source => {
                schema.insert("const".into(), json!(header.value));
            }
            "ce_source" => {
                schema.insert("pattern".into(), json!("^/govhub/[^/]+/[^/]+$"));
            }
            "ce_id" => {
                schema.insert("pattern".into(), json!("^[0-9a-f]{32}$"));
            }
            "ce_time" => {
                schema.insert("format".into(), json!("date-time"));
            }
            _ => {}
        }
        properties.insert(header.name.clone(), Value::Object(schema));
        if !spec.optional.contains(&name) {
            required.push(json!(name));
        }
    }
    Ok(json!({
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary mode: one header per attribute.",
        "required": required,
        "properties": properties
    }))
}

/// A sample of what a connector pulls, to run through the publish stage.
fn sample_record(department: &str, kind: &str) -> Result<SourceRecord, AsyncApiError> {
    serde_json::from_value(json!({
        "connector": "example",
        "department": department,
        "kind": kind,
        "source_record_id": "EXAMPLE-0001",
        "payload": { "example": true },
        "fetched_at": "2026-01-15T08:30:00.000Z"
    }))
    .map_err(|e| AsyncApiError::Sample(e.to_string()))
}

/// Header values of an event, as a message example's headers.
fn example_headers(event: &OutEvent) -> Value {
    Value::Object(
        event
            .headers
            .iter()
            .map(|h| (h.name.clone(), json!(h.value)))
            .collect(),
    )
}

/// A channel, message or operation id for a topic suffix: `education.enrollment.v1` →
/// `education_enrollment_v1`.
fn id_of(suffix: &str) -> String {
    suffix.replace('.', "_")
}

/// One kind of message on a topic.
struct Message {
    /// Message and payload schema id.
    id: String,
    title: String,
    summary: String,
    /// The 2020-12 payload schema, `$ref`s not yet inlined, and the URI its relative
    /// references resolve against.
    payload: Value,
    payload_base: String,
    headers: Value,
    key: Value,
    examples: Vec<Value>,
}

/// One topic as the document describes it.
struct Topic {
    /// Channel and operation id.
    id: String,
    /// The full topic name.
    address: String,
    title: String,
    summary: String,
    description: String,
    messages: Vec<Message>,
    /// Kafka topic configuration the consumer can rely on.
    topic_configuration: Option<Value>,
    tag: &'static str,
}

fn key_schema(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// The AsyncAPI 3.0.0 document of every topic under `topics`, with `kafka`'s bootstrap
/// servers as servers (none for the embedded log).
pub fn document(
    standard: &Standard,
    topics: &Topics,
    kafka: Option<&KafkaSinkConfig>,
) -> Result<Value, AsyncApiError> {
    let publisher = Publisher::new(topics.clone());
    let person_header = format!("ce_{PERSON_ID_EXTENSION}");
    let mut described = Vec::new();

    for schema in standard.iter() {
        let department = schema.kind.split('.').next().unwrap_or(&schema.kind);
        let record = sample_record(department, &schema.kind)?;
        let mut event = publisher.accepted(&record, json!({}), &schema.topic_suffix(), &schema.id);
        with_person(&mut event, EXAMPLE_PERSON);
        let title = schema
            .schema
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or(&schema.kind)
            .to_owned();
        let about = schema
            .schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = id_of(&schema.topic_suffix());
        let summary = format!(
            "Valid {} records, version {}: one event per new or changed record.",
            schema.kind, schema.version
        );
        described.push(Topic {
            id: id.clone(),
            address: event.topic.clone(),
            description: format!(
                "{about}\n\nEvery record published here passed the unified standard's schema \
                 `{}` (`schemas/{}`). A record changed in its source system is published \
                 again as a new event with a new `ce_id`; an unchanged record is never \
                 published twice in normal operation, and a replay after a crash repeats \
                 the same `ce_id`s. A record identity resolution linked to a resident is \
                 keyed by that resident's unified person id (also in `ce_govhubpersonid`), \
                 so every event about one person keeps its order; a record naming no \
                 person is keyed by its source record id.",
                schema.id, schema.path
            ),
            messages: vec![Message {
                id,
                title: title.clone(),
                summary: summary.clone(),
                payload: schema.schema.clone(),
                payload_base: schema.id.clone(),
                headers: headers_schema(
                    &event,
                    &HeaderSpec {
                        optional: &[person_header.as_str()],
                        notes: &[
                            ("ce_source", "/govhub/<department>/<connector>."),
                            ("ce_subject", "The record's id in its source system."),
                            ("ce_time", "When govhub fetched the record."),
                            (
                                person_header.as_str(),
                                "Set when identity resolution linked the record to a \
                                 resident; then also the event key.",
                            ),
                        ],
                        fixed_source: false,
                    },
                )?,
                key: key_schema(
                    "The unified person id of the resident the record is about (equal to \
                     ce_govhubpersonid); for a record naming no person, its id in its \
                     source system (ce_subject).",
                ),
                examples: vec![json!({
                    "name": "headers",
                    "summary": "Headers of an event as the hub builds it (made-up record).",
                    "headers": example_headers(&event)
                })],
            }],
            title,
            summary,
            topic_configuration: None,
            tag: "records",
        });
    }

    let identity_notes = |time: &'static str| -> [(&str, &str); 4] {
        [
            ("ce_source", "/govhub/identity: identity resolution."),
            ("ce_subject", "The unified person id (the event key)."),
            (person_header.as_str(), "Equal to the key."),
            ("ce_time", time),
        ]
    };
    let person_notes = identity_notes("When this version was made.");
    let person_spec = HeaderSpec {
        optional: &[],
        notes: &person_notes,
        fixed_source: true,
    };
    let decision_notes = identity_notes("When the record the decision is about was fetched.");
    let decision_spec = HeaderSpec {
        optional: &[],
        notes: &decision_notes,
        fixed_source: true,
    };
    let time = sample_record("civil-affairs", "civil-affairs.household-member")?.fetched_at;
    let golden = person_example();
    let person = publisher.person(EXAMPLE_PERSON, golden.clone(), time);
    let retired = publisher.person_retired(EXAMPLE_PERSON, time);
    let person_key = key_schema("The unified person id (person_id).");
    described.push(Topic {
        id: id_of(&topics.person().replacen(topics.prefix(), "", 1)),
        address: person.topic.clone(),
        title: "统一人员 (golden person records)".into(),
        summary: "The golden record of every resident, keyed by unified person id.".into(),
        description: "One event per new version of a resident's golden record, keyed by the \
                      unified person id. The topic is compacted: it keeps the latest version \
                      of every person, so a new consumer reads it from the beginning to get \
                      the whole population. A person id merged into another gets a tombstone \
                      (no value), after which compaction drops it. The decisions behind each \
                      version are on the identity topic."
            .into(),
        messages: vec![
            Message {
                id: "person_v1".into(),
                title: "统一人员 (golden person record)".into(),
                summary: "A new version of a resident's golden record.".into(),
                payload: person_schema(),
                payload_base: format!("{ID_BASE}person.v1.json"),
                headers: headers_schema(&person, &person_spec)?,
                key: person_key.clone(),
                examples: vec![json!({
                    "name": "person",
                    "summary": "A golden record from two departments (made-up values).",
                    "headers": example_headers(&person),
                    "payload": golden
                })],
            },
            Message {
                id: "person_retired_v1".into(),
                title: "retired person id (tombstone)".into(),
                summary: "A person id that no longer exists: merged into another.".into(),
                payload: tombstone_schema(),
                payload_base: format!("{ID_BASE}person-retired.v1.json"),
                headers: headers_schema(&retired, &person_spec)?,
                key: person_key,
                examples: vec![json!({
                    "name": "tombstone",
                    "summary": "The tombstone of a merged person id (made-up id).",
                    "headers": example_headers(&retired)
                })],
            },
        ],
        topic_configuration: Some(json!({ "cleanup.policy": ["compact"] })),
        tag: "identity",
    });

    let decision_example = identity_example()?;
    let decision = publisher.identity(EXAMPLE_PERSON, decision_example.clone(), time);
    described.push(Topic {
        id: id_of(&topics.identity().replacen(topics.prefix(), "", 1)),
        address: decision.topic.clone(),
        title: "身份判定 (identity decisions)".into(),
        summary: "Every link, merge and split decision of identity resolution, with its \
                  evidence."
            .into(),
        description: "One event per decision, keyed by the person it concerns: which \
                      department record was linked to which person and why (rule, score, \
                      the evidence of each field comparison), and when persons were merged or \
                      a record left a person. The audit trail of the person topic."
            .into(),
        messages: vec![Message {
            id: "identity_v1".into(),
            title: "身份判定 (identity decision)".into(),
            summary: "One decision of identity resolution.".into(),
            payload: identity_schema(),
            payload_base: format!("{ID_BASE}identity.v1.json"),
            headers: headers_schema(&decision, &decision_spec)?,
            key: key_schema("The unified person id the decision is about (person_id)."),
            examples: vec![json!({
                "name": "link",
                "summary": "A health record linked to a person by probabilistic matching (made-up values).",
                "headers": example_headers(&decision),
                "payload": decision_example
            })],
        }],
        topic_configuration: None,
        tag: "identity",
    });

    let rejected = sample_record("education", "education.enrollment")?;
    let letter_event = publisher.dead_letter(
        &rejected,
        "validate",
        standard
            .latest("education.enrollment")
            .map(|s| s.id.as_str()),
        vec![Violation {
            instance_path: "/grade".into(),
            schema_path: "/properties/grade/maximum".into(),
            keyword: "maximum".into(),
            message: "value is greater than the maximum of 12".into(),
        }],
    );
    let letter: Value = serde_json::from_slice(&letter_event.value)
        .map_err(|e| AsyncApiError::Sample(format!("dead letter is not JSON: {e}")))?;
    let dlq_summary = "Records that failed mapping or validation, with every reason and the \
                       original payload.";
    described.push(Topic {
        id: id_of(&topics.dlq().replacen(topics.prefix(), "", 1)),
        address: letter_event.topic.clone(),
        title: "死信 (dead letters)".into(),
        summary: dlq_summary.into(),
        description: "Records are never dropped: one that cannot be mapped or fails its \
                      schema comes here instead of its kind's topic. Operators inspect and \
                      replay them with `govhub dlq`; a replayed record that now passes \
                      appears on its kind's topic. The payload is the department's record as \
                      sent, personal data included: restrict who may read this topic."
            .into(),
        messages: vec![Message {
            id: "dlq_v1".into(),
            title: "死信 (dead letter)".into(),
            summary: dlq_summary.into(),
            payload: dead_letter_schema(),
            payload_base: format!("{ID_BASE}dlq.v1.json"),
            headers: headers_schema(
                &letter_event,
                &HeaderSpec {
                    optional: &[],
                    notes: &[
                        ("ce_source", "/govhub/<department>/<connector>."),
                        (
                            "ce_subject",
                            "The record's id in its source system (the event key).",
                        ),
                        ("ce_time", "When govhub fetched the record."),
                    ],
                    fixed_source: false,
                },
            )?,
            key: key_schema("The record's id in its source system (equal to ce_subject)."),
            examples: vec![json!({
                "name": "rejected",
                "summary": "A dead letter as the hub builds it (made-up record).",
                "headers": example_headers(&letter_event),
                "payload": letter
            })],
        }],
        topic_configuration: None,
        tag: "dead letters",
    });

    assemble(standard, described, kafka)
}

fn assemble(
    standard: &Standard,
    described: Vec<Topic>,
    kafka: Option<&KafkaSinkConfig>,
) -> Result<Value, AsyncApiError> {
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut schemas = Map::new();
    let mut messages = Map::new();
    for topic in described {
        let id = &topic.id;
        let mut channel_messages = Map::new();
        let mut operation_messages = Vec::new();
        for message in topic.messages {
            let mid = &message.id;
            let mut stack = Vec::new();
            let schema = inline(
                standard,
                &message.payload,
                &message.payload_base,
                &mut stack,
            )?;
            schemas.insert(
                mid.clone(),
                json!({ "schemaFormat": SCHEMA_FORMAT, "schema": schema }),
            );
            messages.insert(
                mid.clone(),
                json!({
                    "name": mid,
                    "title": message.title,
                    "summary": message.summary,
                    "contentType": "application/json",
                    "headers": message.headers,
                    "payload": { "$ref": format!("#/components/schemas/{mid}") },
                    "bindings": { "kafka": { "key": message.key, "bindingVersion": KAFKA_BINDING_VERSION } },
                    "examples": message.examples,
                    "tags": [{ "name": topic.tag }]
                }),
            );
            channel_messages.insert(
                mid.clone(),
                json!({ "$ref": format!("#/components/messages/{mid}") }),
            );
            operation_messages.push(json!({ "$ref": format!("#/channels/{id}/messages/{mid}") }));
        }
        let mut binding =
            json!({ "topic": topic.address, "bindingVersion": KAFKA_BINDING_VERSION });
        if let (Some(map), Some(config)) = (binding.as_object_mut(), topic.topic_configuration) {
            map.insert("topicConfiguration".into(), config);
        }
        channels.insert(
            id.clone(),
            json!({
                "address": topic.address,
                "title": topic.title,
                "summary": topic.summary,
                "description": topic.description,
                "messages": channel_messages,
                "bindings": { "kafka": binding },
                "tags": [{ "name": topic.tag }]
            }),
        );
        operations.insert(
            format!("send_{id}"),
            json!({
                "action": "send",
                "title": format!("govhub publishes to {}", topic.address),
                "summary": topic.summary,
                "channel": { "$ref": format!("#/channels/{id}") },
                "messages": operation_messages,
                "tags": [{ "name": topic.tag }]
            }),
        );
    }
    let (servers, security_schemes) = servers(kafka);
    let mut components = json!({ "schemas": schemas, "messages": messages });
    if let (Some(map), false) = (components.as_object_mut(), security_schemes.is_empty()) {
        map.insert("securitySchemes".into(), Value::Object(security_schemes));
    }
    let mut document = json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "govhub event streams",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO_DESCRIPTION,
            "license": { "name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0" },
            "tags": [
                { "name": "records", "description": "Valid department records, one topic per kind and version of the unified standard." },
                { "name": "identity", "description": "Golden person records and the identity decisions behind them." },
                { "name": "dead letters", "description": "Rejected records with their reasons." }
            ]
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components
    });
    if let (Some(map), false) = (document.as_object_mut(), servers.is_empty()) {
        map.insert("servers".into(), Value::Object(servers));
    }
    Ok(document)
}

const INFO_DESCRIPTION: &str = "\
Every topic govhub publishes, for the applications that consume them. Generated by \
`govhub asyncapi` from the unified standard built into this govhub, so it matches what this \
version publishes.

**Point of view:** this document describes govhub itself, the producer: every operation is \
a `send`. A downstream application subscribes to the same channels and messages (its own \
AsyncAPI document would list them as `receive` operations).

**Events** are CloudEvents 1.0 in Kafka *binary mode*: the message value is the JSON \
payload, the CloudEvents attributes are headers (`ce_id`, `ce_type`, ...). Delivery is at \
least once with deterministic ids: a record re-published after a crash keeps its `ce_id`, \
so consumers that remember ids see each record once. Events with the same key keep their \
order.

**Payloads** are JSON Schema 2020-12, inlined from the unified standard (`schemas/` in the \
govhub repository) so that this document is self-contained. Custom formats (`cn-resident-id`, \
`cn-uscc`, `cn-division-code`, `cn-mobile`) are checked by govhub with their real check \
algorithms before publishing.

**Person and identity topics** carry identity resolution's golden records and the decisions \
behind them; their payload schemas are new and may still gain fields.

Without a Kafka cluster govhub writes the same events to its embedded log (`<data_dir>/log/\
<topic>.jsonl`); `govhub tail <topic>` reads either.";

/// Servers and security schemes for the Kafka cluster in `kafka`.
fn servers(kafka: Option<&KafkaSinkConfig>) -> (Map<String, Value>, Map<String, Value>) {
    let mut servers = Map::new();
    let mut schemes = Map::new();
    let Some(kafka) = kafka else {
        return (servers, schemes);
    };
    let property = |key: &str| kafka.properties.get(key).map(|v| v.to_ascii_uppercase());
    let protocol = property("security.protocol").unwrap_or_else(|| "PLAINTEXT".into());
    let secure = matches!(protocol.as_str(), "SSL" | "SASL_SSL");
    let sasl = protocol.starts_with("SASL");
    if sasl {
        let mechanism = property("sasl.mechanisms")
            .or_else(|| property("sasl.mechanism"))
            .unwrap_or_else(|| "GSSAPI".into());
        let ty = match mechanism.as_str() {
            "PLAIN" => "plain",
            "SCRAM-SHA-256" => "scramSha256",
            "SCRAM-SHA-512" => "scramSha512",
            "OAUTHBEARER" => "oauth2",
            _ => "gssapi",
        };
        let mut scheme = json!({ "type": ty, "description": format!("SASL {mechanism}, as the hub's config sets it.") });
        if ty == "oauth2"
            && let Some(map) = scheme.as_object_mut()
        {
            map.insert("flows".into(), json!({}));
        }
        schemes.insert("sasl".into(), scheme);
    } else if secure {
        schemes.insert(
            "tls".into(),
            json!({ "type": "X509", "description": "TLS, as the hub's config sets it." }),
        );
    }
    let hosts: Vec<&str> = kafka
        .bootstrap_servers
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    for (n, host) in hosts.iter().enumerate() {
        let name = if hosts.len() == 1 {
            "kafka".to_owned()
        } else {
            format!("kafka-{}", n + 1)
        };
        let mut server = json!({
            "host": host,
            "protocol": if secure { "kafka-secure" } else { "kafka" },
            "description": format!("Bootstrap server {} of {} of the Kafka cluster govhub publishes to.", n + 1, hosts.len())
        });
        if let (Some(map), false) = (server.as_object_mut(), schemes.is_empty()) {
            let refs: Vec<Value> = schemes
                .keys()
                .map(|k| json!({ "$ref": format!("#/components/securitySchemes/{k}") }))
                .collect();
            map.insert("security".into(), Value::Array(refs));
        }
        servers.insert(name, server);
    }
    (servers, schemes)
}

// -------------------------------------------------------------------------------------
// Inlining `$ref`s.
// -------------------------------------------------------------------------------------

/// Keywords that only annotate: a `$ref` with nothing else beside them is replaced by its
/// target with these laid over it.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "$comment",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Keywords whose values are data, not schemas: copied as they are.
const DATA: &[&str] = &["enum", "const", "examples", "default"];

/// `node` with every `$ref` replaced by the schema it points at (in `standard`),
/// recursively. `base` is the URI relative references resolve against; `stack` the
/// references being inlined, to refuse recursion.
fn inline(
    standard: &Standard,
    node: &Value,
    base: &str,
    stack: &mut Vec<String>,
) -> Result<Value, AsyncApiError> {
    let map = match node {
        Value::Object(map) => map,
        Value::Array(items) => {
            return items
                .iter()
                .map(|item| inline(standard, item, base, stack))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        scalar => return Ok(scalar.clone()),
    };
    let base = match map.get("$id").and_then(Value::as_str) {
        Some(id) => join(base, id),
        None => base.to_owned(),
    };
    let mut out = Map::new();
    for (key, value) in map {
        if key == "$ref" {
            continue;
        }
        let value = if DATA.contains(&key.as_str()) {
            value.clone()
        } else {
            inline(standard, value, &base, stack)?
        };
        out.insert(key.clone(), value);
    }
    let Some(reference) = map.get("$ref") else {
        return Ok(Value::Object(out));
    };
    let error = |reference: &str, reason: &str| AsyncApiError::Ref {
        schema: base.clone(),
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    let Some(reference) = reference.as_str() else {
        return Err(error(&reference.to_string(), "$ref is not a string"));
    };
    let target_uri = join(&base, reference);
    if stack.contains(&target_uri) {
        return Err(error(&target_uri, "it refers to itself"));
    }
    let (resource_id, pointer) = target_uri
        .split_once('#')
        .unwrap_or((target_uri.as_str(), ""));
    let Some(resource) = standard.resource(resource_id) else {
        return Err(error(&target_uri, "no file of the standard has this $id"));
    };
    let Some(target) = resource.pointer(pointer) else {
        return Err(error(
            &target_uri,
            "the fragment points nowhere in that file",
        ));
    };
    stack.push(target_uri.clone());
    let target = inline(standard, target, resource_id, stack);
    stack.pop();
    let mut target = target?;
    if let Some(target) = target.as_object_mut() {
        for key in ["$id", "$schema", "$defs"] {
            target.remove(key);
        }
    }
    let only_annotations = out.keys().all(|k| ANNOTATIONS.contains(&k.as_str()));
    match target {
        Value::Object(mut target) if only_annotations => {
            target.extend(out);
            Ok(Value::Object(target))
        }
        target => {
            match out.get_mut("allOf") {
                Some(Value::Array(all)) => all.push(target),
                _ => {
                    out.insert("allOf".into(), json!([target]));
                }
            }
            Ok(Value::Object(out))
        }
    }
}

/// `reference` resolved against `base` (RFC 3986 paths; schema URIs carry no query).
fn join(base: &str, reference: &str) -> String {
    let (path, fragment) = match reference.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (reference, None),
    };
    let base = base.split_once('#').map_or(base, |(b, _)| b);
    let resolved = if path.is_empty() {
        base.to_owned()
    } else if path.contains("://") || base.is_empty() {
        path.to_owned()
    } else {
        let (origin, base_path) = match base.find("://") {
            Some(at) => match base[at + 3..].find('/') {
                Some(slash) => base.split_at(at + 3 + slash),
                None => (base, ""),
            },
            None => ("", base),
        };
        let joined = if path.starts_with('/') {
            path.to_owned()
        } else {
            let dir = base_path.rfind('/').map_or("", |i| &base_path[..=i]);
            format!("{dir}{path}")
        };
        let mut segments: Vec<&str> = Vec::new();
        for segment in joined.split('/') {
            match segment {
                "." => {}
                ".." => {
                    if segments.len() > 1 {
                        segments.pop();
                    }
                }
                s => segments.push(s),
            }
        }
        format!("{origin}{}", segments.join("/"))
    };
    match fragment {
        Some(fragment) => format!("{resolved}#{fragment}"),
        None => resolved,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn refs_in(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        out.push(v.to_string());
                    } else {
                        refs_in(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
            _ => {}
        }
    }

    #[test]
    fn joins_references_like_rfc_3986() {
        let base = "https://govhub.invalid/schemas/education/enrollment.v1.json";
        assert_eq!(
            join(base, "../common/person.v1.json#/$defs/name"),
            "https://govhub.invalid/schemas/common/person.v1.json#/$defs/name"
        );
        assert_eq!(join(base, "#/$defs/x"), format!("{base}#/$defs/x"));
        assert_eq!(
            join(base, "https://other.invalid/a.json"),
            "https://other.invalid/a.json"
        );
        assert_eq!(join(base, "/root.json"), "https://govhub.invalid/root.json");
    }

    #[test]
    fn every_payload_schema_is_self_contained() {
        let standard = Standard::embedded().unwrap();
        let doc = document(&standard, &Topics::default(), None).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(schemas.len() >= standard.iter().count() + 3);
        for (id, schema) in schemas {
            assert_eq!(schema["schemaFormat"], SCHEMA_FORMAT, "{id}");
            let mut refs = Vec::new();
            refs_in(&schema["schema"], &mut refs);
            assert_eq!(refs, Vec::<String>::new(), "{id}");
        }
        // A field's own title wins over its target's; the target's constraints stay.
        let name = &schemas["education_enrollment_v1"]["schema"]["properties"]["student"]["properties"]
            ["name"];
        assert_eq!(name["title"], "姓名 (name)");
        assert_eq!(name["maxLength"], 64);
        let phone = &schemas["person_v1"]["schema"]["properties"]["phone"];
        assert_eq!(phone["format"], "cn-mobile", "{phone}");
    }

    #[test]
    fn a_reference_to_nothing_is_an_error_naming_it() {
        let standard = Standard::embedded().unwrap();
        let node = json!({ "$ref": format!("{ID_BASE}common/person.v1.json#/$defs/nope") });
        let err = inline(&standard, &node, ID_BASE, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("#/$defs/nope"), "{err}");
        assert!(err.contains("points nowhere"), "{err}");
    }

    #[test]
    fn a_reference_with_constraints_beside_it_keeps_both() {
        let standard = Standard::embedded().unwrap();
        let node = json!({ "$ref": format!("{ID_BASE}common/person.v1.json#/$defs/name"), "maxLength": 8 });
        let out = inline(&standard, &node, ID_BASE, &mut Vec::new()).unwrap();
        assert_eq!(out["maxLength"], 8);
        assert_eq!(out["allOf"][0]["maxLength"], 64);
    }

    #[test]
    fn headers_are_those_the_publish_stage_sets() {
        let standard = Standard::embedded().unwrap();
        let doc = document(&standard, &Topics::new("t.").unwrap(), None).unwrap();
        assert_eq!(
            doc["channels"]["health_encounter_v1"]["address"],
            "t.health.encounter.v1"
        );
        let headers = &doc["components"]["messages"]["health_encounter_v1"]["headers"];
        let required = headers["required"].as_array().unwrap();
        for name in [
            "ce_id",
            "ce_type",
            "ce_source",
            "ce_time",
            "ce_dataschema",
            "content-type",
        ] {
            assert!(required.contains(&json!(name)), "{name}");
            let description = headers["properties"][name]["description"].as_str();
            assert!(!description.unwrap().is_empty(), "{name}");
        }
        assert_eq!(
            headers["properties"]["ce_type"]["const"],
            "govhub.health.encounter.v1"
        );
        // Set only for records linked to a resident.
        assert!(headers["properties"]["ce_govhubpersonid"].is_object());
        assert!(!required.contains(&json!("ce_govhubpersonid")));
        let person = &doc["components"]["messages"]["person_v1"]["headers"];
        let required = person["required"].as_array().unwrap();
        assert!(required.contains(&json!("ce_govhubpersonid")));
        assert_eq!(
            person["properties"]["ce_source"]["const"],
            "/govhub/identity"
        );
        let tombstone = &doc["components"]["messages"]["person_retired_v1"]["headers"];
        assert!(tombstone["properties"].get("content-type").is_none());
        assert_eq!(doc["channels"]["dlq_v1"]["address"], "t.dlq.v1");
        assert_eq!(doc["channels"]["person_v1"]["address"], "t.person.v1");
        assert!(doc.get("servers").is_none());
    }

    #[test]
    fn sasl_ssl_clusters_are_kafka_secure_with_a_security_scheme() {
        let standard = Standard::embedded().unwrap();
        let mut kafka = KafkaSinkConfig::new("a:9093, b:9093");
        kafka
            .properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        kafka
            .properties
            .insert("sasl.mechanisms".into(), "SCRAM-SHA-512".into());
        let doc = document(&standard, &Topics::default(), Some(&kafka)).unwrap();
        assert_eq!(doc["servers"]["kafka-2"]["host"], "b:9093");
        assert_eq!(doc["servers"]["kafka-1"]["protocol"], "kafka-secure");
        assert_eq!(
            doc["components"]["securitySchemes"]["sasl"]["type"],
            "scramSha512"
        );
    }
}
