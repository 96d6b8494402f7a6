//! The publish stage: a record becomes a CloudEvent on its kind's topic, or a dead letter
//! on the dead-letter topic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use govhub_core::{CloudEvent, Header, OutEvent, SourceRecord, Violation, content_id};
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

/// CloudEvents `type` of golden records.
pub const PERSON_TYPE: &str = "govhub.person.v1";
/// CloudEvents `type` of identity decisions.
pub const IDENTITY_TYPE: &str = "govhub.identity.v1";
/// CloudEvents extension attribute carrying the unified person id on departmental
/// events (Kafka header `ce_govhubpersonid`).
pub const PERSON_ID_EXTENSION: &str = "govhubpersonid";
/// CloudEvents `source` of what identity resolution publishes.
const IDENTITY_SOURCE: &str = "/govhub/identity";

impl Publisher {
    /// A resident's golden record on the person topic, keyed by person id.
    pub fn person(&self, person_id: &str, golden: Value, time: DateTime<Utc>) -> OutEvent {
        self.identity_event(self.topics.person(), PERSON_TYPE, person_id, golden, time)
    }

    /// A tombstone for a person id that no longer exists (merged into another): no
    /// value, so compaction removes the key.
    pub fn person_retired(&self, person_id: &str, time: DateTime<Utc>) -> OutEvent {
        let mut event = self.person(person_id, Value::Null, time);
        event.value.clear();
        event.headers.retain(|h| h.name != "content-type");
        event
    }

    /// An identity decision on the identity topic, keyed by the person it concerns.
    pub fn identity(&self, person_id: &str, decision: Value, time: DateTime<Utc>) -> OutEvent {
        self.identity_event(
            self.topics.identity(),
            IDENTITY_TYPE,
            person_id,
            decision,
            time,
        )
    }

    fn identity_event(
        &self,
        topic: String,
        ty: &str,
        person_id: &str,
        data: Value,
        time: DateTime<Utc>,
    ) -> OutEvent {
        CloudEvent {
            id: content_id(IDENTITY_SOURCE, person_id, &data),
            source: IDENTITY_SOURCE.to_owned(),
            ty: ty.to_owned(),
            subject: Some(person_id.to_owned()),
            time,
            dataschema: None,
            extensions: BTreeMap::new(),
            data,
        }
        .with_extension(PERSON_ID_EXTENSION, person_id)
        .into_out_event(topic, Some(person_id.to_owned()))
    }
}

/// Keys a departmental event by the resident it is about and names them in the
/// `govhubpersonid` extension attribute.
pub fn with_person(event: &mut OutEvent, person_id: &str) {
    event.key = Some(person_id.to_owned());
    let header = Header {
        name: format!("ce_{PERSON_ID_EXTENSION}"),
        value: person_id.to_owned(),
    };
    match event.headers.iter().position(|h| h.name == "content-type") {
        Some(at) => event.headers.insert(at, header),
        None => event.headers.push(header),
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
