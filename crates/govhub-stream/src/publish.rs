//! The publish stage: a record becomes a CloudEvent on its kind's topic, or a dead letter
//! on the dead-letter topic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use govhub_core::{CloudEvent, OutEvent, SourceRecord, Violation, content_id};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Topics;

/// CloudEvents `type` of dead letters.
pub const DEAD_LETTER_TYPE: &str = "govhub.dlq.rejected.v1";

/// The value of a record on the dead-letter topic: everything needed to understand the
/// rejection and to replay the record after a fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Connector that pulled the record.
    pub connector: String,
    /// Department that owns the source system.
    pub department: String,
    /// Record kind the connector declared.
    pub kind: String,
    /// The record's id in the source system.
    pub source_record_id: String,
    /// Stage that rejected it (`validate`, later `map`).
    pub stage: String,
    /// `$id` of the schema it was checked against, when the stage was validation.
    pub schema: Option<String>,
    /// Every reason, each with its location.
    pub violations: Vec<Violation>,
    /// When the record was fetched.
    pub fetched_at: DateTime<Utc>,
    /// The record exactly as the department sent it.
    pub payload: Value,
}

/// Turns records into events under one set of topic names.
#[derive(Debug, Clone)]
pub struct Publisher {
    topics: Topics,
}

impl Publisher {
    /// A publisher writing under `topics`.
    pub fn new(topics: Topics) -> Self {
        Publisher { topics }
    }

    /// The topic names in use.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// A valid record as a CloudEvent on `<prefix><kind>.v<N>`, keyed by its source
    /// record id.
    pub fn accepted(
        &self,
        record: &SourceRecord,
        data: Value,
        kind_version: &str,
        schema_id: &str,
    ) -> OutEvent {
        let source = source_uri(record);
        let event = CloudEvent {
            id: content_id(&source, &record.source_record_id, &data),
            ty: format!("govhub.{kind_version}"),
            subject: Some(record.source_record_id.clone()),
            time: record.fetched_at,
            dataschema: (!schema_id.is_empty()).then(|| schema_id.to_owned()),
            extensions: BTreeMap::new(),
            data,
            source,
        }
        .with_extension("department", &record.department)
        .with_extension("connector", &record.connector);
        event.into_out_event(
            self.topics.kind(kind_version),
            Some(record.source_record_id.clone()),
        )
    }

    /// A rejected record as a CloudEvent on the dead-letter topic, keyed by its source
    /// record id.
    pub fn dead_letter(
        &self,
        record: &SourceRecord,
        stage: &str,
        schema_id: Option<&str>,
        violations: Vec<Violation>,
    ) -> OutEvent {
        let letter = DeadLetter {
            connector: record.connector.clone(),
            department: record.department.clone(),
            kind: record.kind.clone(),
            source_record_id: record.source_record_id.clone(),
            stage: stage.to_owned(),
            schema: schema_id.map(str::to_owned),
            violations,
            fetched_at: record.fetched_at,
            payload: record.payload.clone(),
        };
        let source = source_uri(record);
        let data = serde_json::to_value(&letter).unwrap_or(Value::Null);
        let event = CloudEvent {
            // The same record rejected for the same reasons is the same dead letter.
            id: content_id(&source, &record.source_record_id, &data_without_time(&data)),
            ty: DEAD_LETTER_TYPE.to_owned(),
            subject: Some(record.source_record_id.clone()),
            time: record.fetched_at,
            dataschema: None,
            extensions: BTreeMap::new(),
            data,
            source,
        }
        .with_extension("department", &record.department)
        .with_extension("connector", &record.connector);
        event.into_out_event(self.topics.dlq(), Some(record.source_record_id.clone()))
    }
}

/// `/govhub/<department>/<connector>`: the CloudEvents `source` of a connector.
fn source_uri(record: &SourceRecord) -> String {
    format!("/govhub/{}/{}", record.department, record.connector)
}

fn data_without_time(data: &Value) -> Value {
    let mut data = data.clone();
    if let Some(map) = data.as_object_mut() {
        map.remove("fetched_at");
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(payload: Value) -> SourceRecord {
        SourceRecord {
            connector: "edu".into(),
            department: "education".into(),
            kind: "education.enrollment".into(),
            source_record_id: "EDU1".into(),
            payload,
            fetched_at: Utc::now(),
        }
    }

    #[test]
    fn accepted_events_are_deterministic_cloudevents() {
        let p = Publisher::new(Topics::new("t.").unwrap());
        let a = p.accepted(
            &record(json!({"x": 1})),
            json!({"x": 1}),
            "education.enrollment.v1",
            "urn:s",
        );
        let mut later = record(json!({"x": 1}));
        later.fetched_at += chrono::Duration::seconds(5);
        let b = p.accepted(&later, json!({"x": 1}), "education.enrollment.v1", "urn:s");
        assert_eq!(a.topic, "t.education.enrollment.v1");
        assert_eq!(a.key.as_deref(), Some("EDU1"));
        assert_eq!(a.header("ce_id"), b.header("ce_id"));
        assert_eq!(a.header("ce_type"), Some("govhub.education.enrollment.v1"));
        assert_eq!(a.header("ce_source"), Some("/govhub/education/edu"));
        assert_eq!(a.header("ce_dataschema"), Some("urn:s"));
        assert_eq!(a.header("ce_connector"), Some("edu"));
    }

    #[test]
    fn dead_letters_carry_reasons_and_the_original_payload() {
        let p = Publisher::new(Topics::default());
        let v = Violation {
            instance_path: "/grade".into(),
            schema_path: "/properties/grade/maximum".into(),
            keyword: "maximum".into(),
            message: "value is greater than the maximum of 12".into(),
        };
        let e = p.dead_letter(
            &record(json!({"grade": 13})),
            "validate",
            Some("urn:s"),
            vec![v.clone()],
        );
        assert_eq!(e.topic, "govhub.dlq.v1");
        assert_eq!(e.header("ce_type"), Some(DEAD_LETTER_TYPE));
        let letter: DeadLetter = serde_json::from_slice(&e.value).unwrap();
        assert_eq!(letter.violations, vec![v]);
        assert_eq!(letter.payload, json!({"grade": 13}));
        assert_eq!(letter.stage, "validate");
    }
}
