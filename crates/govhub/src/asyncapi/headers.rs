//! The CloudEvents headers of each message, described from a sample event the hub's
//! own publish stage builds.

use govhub_core::{OutEvent, SourceRecord};
use serde_json::{Map, Value, json};

use super::AsyncApiError;

/// What a header means, for the document; `None` for a header govhub does not know.
pub(super) fn header_doc(name: &str) -> Option<&'static str> {
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
        "ce_govhubquality" => {
            "Extension govhubquality: the canonical fields (JSON pointers, comma-separated) \
             holding a value the mapping set aside as invalid, e.g. a resident ID failing its \
             check character kept under identifiers.resident_id_unverified; absent when \
             nothing was set aside."
        }
        "content-type" => "CloudEvents datacontenttype in binary mode: the value is JSON.",
        _ => return None,
    })
}

/// How the headers of one kind of event are described.
pub(super) struct HeaderSpec<'a> {
    /// Headers the hub sets only sometimes (not required).
    pub(super) optional: &'a [&'a str],
    /// Descriptions that say more than [`header_doc`] for these events.
    pub(super) notes: &'a [(&'a str, &'a str)],
    /// `ce_source` is this fixed value rather than `/govhub/<department>/<connector>`.
    pub(super) fixed_source: bool,
}

/// The headers schema of events like `sample`, built by the publish stage: every header
/// it carries, each with its description and what is fixed about its value.
pub(super) fn headers_schema(
    sample: &OutEvent,
    spec: &HeaderSpec<'_>,
) -> Result<Value, AsyncApiError> {
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
pub(super) fn sample_record(department: &str, kind: &str) -> Result<SourceRecord, AsyncApiError> {
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
pub(super) fn example_headers(event: &OutEvent) -> Value {
    Value::Object(
        event
            .headers
            .iter()
            .map(|h| (h.name.clone(), json!(h.value)))
            .collect(),
    )
}
