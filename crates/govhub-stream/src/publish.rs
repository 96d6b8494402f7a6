//! The publish stage: a record becomes a CloudEvent on its kind's topic, or a dead letter
//! on the dead-letter topic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use govhub_core::{CloudEvent, OutEvent, SourceRecord, Violation, content_digest, content_id};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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

    /// The id of a valid record's event: what [`Publisher::accepted`] is given, computed
    /// once from the canonical record, before dedup and resolution.
    pub fn accepted_id(record: &SourceRecord, data: &Value) -> [u8; 16] {
        content_digest(&source_uri(record), &record.source_record_id, data)
    }

    /// A valid record as a CloudEvent on `<prefix><kind>.v<N>` with the id
    /// [`Publisher::accepted_id`] gave, keyed by the person it is about (named in the
    /// `govhubpersonid` extension) or, about nobody, by its source record id. Fields
    /// holding a value the mapping set aside as invalid are named in the
    /// `govhubquality` extension, comma-separated.
    #[allow(clippy::too_many_arguments)] // one event, all of its parts
    pub fn accepted(
        &self,
        record: &SourceRecord,
        data: Value,
        kind_version: &str,
        schema_id: &str,
        id: [u8; 16],
        person_id: Option<&str>,
        set_aside: &[String],
    ) -> OutEvent {
        let source = source_uri(record);
        let mut event = CloudEvent {
            id: hex::encode(id),
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
        if let Some(person_id) = person_id {
            event = event.with_extension(PERSON_ID_EXTENSION, person_id);
        }
        if !set_aside.is_empty() {
            event = event.with_extension(QUALITY_EXTENSION, set_aside.join(","));
        }
        let key = person_id.unwrap_or(&record.source_record_id).to_owned();
        event.into_out_event(self.topics.kind(kind_version), Some(key))
    }

    /// A rejected record as a CloudEvent on the dead-letter topic, keyed by its source
    /// record id, with its id.
    pub fn dead_letter(
        &self,
        record: &SourceRecord,
        stage: &str,
        schema_id: Option<&str>,
        violations: Vec<Violation>,
    ) -> ([u8; 16], OutEvent) {
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
        let mut data = serde_json::to_value(&letter).unwrap_or(Value::Null);
        // The same record rejected for the same reasons is the same dead letter.
        let id = hashed_without(&mut data, &["fetched_at"], false, |basis| {
            content_digest(&source, &record.source_record_id, basis)
        });
        let event = CloudEvent {
            id: hex::encode(id),
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
        let event = event.into_out_event(self.topics.dlq(), Some(record.source_record_id.clone()));
        (id, event)
    }

    /// The dead letter of an event the sink cannot take (too large for it, or refused
    /// by the broker for this record alone): where it was going, why, and its value cut
    /// to [`REFUSED_HEAD_BYTES`] with the length and digest of the whole. Nothing is
    /// dropped silently, and the dead letter itself stays small.
    pub fn refused(&self, event: &OutEvent, reason: &str) -> OutEvent {
        let header = |name: &str| event.header(name).unwrap_or_default().to_owned();
        // A character cut at the end becomes U+FFFD: the head is for reading.
        let head = &event.value[..REFUSED_HEAD_BYTES.min(event.value.len())];
        let head = String::from_utf8_lossy(head);
        let digest = hex::encode(Sha256::digest(&event.value));
        let letter = DeadLetter {
            connector: header("ce_connector"),
            department: header("ce_department"),
            kind: header("ce_type"),
            source_record_id: header("ce_subject"),
            stage: "sink".to_owned(),
            schema: event.header("ce_dataschema").map(str::to_owned),
            violations: vec![Violation {
                instance_path: String::new(),
                schema_path: String::new(),
                keyword: "sink".to_owned(),
                message: reason.to_owned(),
            }],
            fetched_at: event
                .header("ce_time")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or_else(Utc::now, |t| t.with_timezone(&Utc)),
            payload: serde_json::json!({
                "truncated": true,
                "topic": event.topic,
                "event_id": header("ce_id"),
                "bytes": event.value.len(),
                "sha256": digest,
                "head": head,
            }),
        };
        let data = serde_json::to_value(&letter).unwrap_or(Value::Null);
        let source = event
            .header("ce_source")
            .unwrap_or(IDENTITY_SOURCE)
            .to_owned();
        CloudEvent {
            id: content_id(&source, &letter.source_record_id, &data),
            ty: DEAD_LETTER_TYPE.to_owned(),
            subject: Some(letter.source_record_id.clone()),
            time: letter.fetched_at,
            dataschema: None,
            extensions: BTreeMap::new(),
            data,
            source,
        }
        .with_extension("department", &letter.department)
        .with_extension("connector", &letter.connector)
        .into_out_event(self.topics.dlq(), Some(letter.source_record_id.clone()))
    }
}

/// How much of a refused event's value its dead letter keeps.
pub const REFUSED_HEAD_BYTES: usize = 4096;

/// CloudEvents `type` of golden records.
pub const PERSON_TYPE: &str = "govhub.person.v1";
/// CloudEvents `type` of the pointer from a merged person id to the id it was merged
/// into, on the person topic after the merged id's tombstone.
pub const PERSON_MERGED_TYPE: &str = "govhub.person.merged.v1";
/// CloudEvents `type` of identity decisions.
pub const IDENTITY_TYPE: &str = "govhub.identity.v1";
/// CloudEvents extension attribute carrying the unified person id on departmental
/// events (Kafka header `ce_govhubpersonid`).
pub const PERSON_ID_EXTENSION: &str = "govhubpersonid";
/// CloudEvents extension attribute naming the canonical fields of a published record
/// that hold a value set aside as invalid (Kafka header `ce_govhubquality`), e.g.
/// `/patient/identifiers/resident_id_unverified`.
pub const QUALITY_EXTENSION: &str = "govhubquality";
/// CloudEvents `source` of what identity resolution publishes.
const IDENTITY_SOURCE: &str = "/govhub/identity";

impl Publisher {
    /// A resident's golden record on the person topic, keyed by person id. Its id
    /// derives from the person and the golden record's values and sources, not from
    /// when the records were fetched, so a replay re-sends it under the same id.
    pub fn person(&self, person_id: &str, mut golden: Value, time: DateTime<Utc>) -> OutEvent {
        let id = hashed_without(&mut golden, &["updated_at"], true, |basis| {
            content_id(IDENTITY_SOURCE, person_id, basis)
        });
        self.identity_event(
            self.topics.person(),
            PERSON_TYPE,
            person_id,
            golden,
            time,
            id,
        )
    }

    /// A tombstone for a person id that no longer exists (merged into another): no
    /// value, so compaction removes the key.
    pub fn person_retired(&self, person_id: &str, time: DateTime<Utc>) -> OutEvent {
        let id = content_id(IDENTITY_SOURCE, person_id, &Value::Null);
        let topic = self.topics.person();
        let mut event = self.identity_event(topic, PERSON_TYPE, person_id, Value::Null, time, id);
        event.value.clear();
        event.headers.retain(|h| h.name != "content-type");
        event
    }

    /// After `retired`'s tombstone: the person id it was merged into, keyed by the
    /// retired id, so a consumer holding the old id learns where its resident went from
    /// the person topic alone (a chain of merges is followed key by key). Compaction
    /// keeps it, as the latest value of its key.
    pub fn person_merged(&self, retired: &str, into: &str, time: DateTime<Utc>) -> OutEvent {
        let data = json!({ "person_id": retired, "merged_into": into });
        let id = content_id(IDENTITY_SOURCE, retired, &data);
        let topic = self.topics.person();
        self.identity_event(topic, PERSON_MERGED_TYPE, retired, data, time, id)
    }

    /// An identity decision on the identity topic, keyed by the person it concerns.
    /// `cause` is the id of the record event that led to it: the decision's id derives
    /// from the decision and its cause, not from the fetch time (`at_ms`), so a replay
    /// re-sends it under the same id.
    pub fn identity(
        &self,
        person_id: &str,
        mut decision: Value,
        time: DateTime<Utc>,
        cause: [u8; 16],
    ) -> OutEvent {
        let subject = format!("{person_id}/{}", hex::encode(cause));
        let id = hashed_without(&mut decision, &["at_ms"], false, |basis| {
            content_id(IDENTITY_SOURCE, &subject, basis)
        });
        let topic = self.topics.identity();
        self.identity_event(topic, IDENTITY_TYPE, person_id, decision, time, id)
    }

    fn identity_event(
        &self,
        topic: String,
        ty: &str,
        person_id: &str,
        data: Value,
        time: DateTime<Utc>,
        id: String,
    ) -> OutEvent {
        CloudEvent {
            id,
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

/// `/govhub/<department>/<connector>`: the CloudEvents `source` of a connector.
fn source_uri(record: &SourceRecord) -> String {
    format!("/govhub/{}/{}", record.department, record.connector)
}

/// `id(data)` computed without the named top-level members of `data` and, with
/// `provenance_times`, without the `at` of every member of its `provenance` object: the
/// times that must not change an id. They are taken out for the call and put back, so
/// no copy of the data is made.
fn hashed_without<T>(
    data: &mut Value,
    names: &[&str],
    provenance_times: bool,
    id: impl FnOnce(&Value) -> T,
) -> T {
    let Value::Object(map) = data else {
        return id(data);
    };
    let taken: Vec<(&str, Value)> = names
        .iter()
        .filter_map(|name| map.remove(*name).map(|v| (*name, v)))
        .collect();
    let mut times = Vec::new();
    if provenance_times && let Some(Value::Object(fields)) = map.get_mut("provenance") {
        for (field, provenance) in fields.iter_mut() {
            if let Some(at) = provenance.as_object_mut().and_then(|p| p.remove("at")) {
                times.push((field.clone(), at));
            }
        }
    }
    let result = id(data);
    if let Value::Object(map) = data {
        if let Some(Value::Object(fields)) = map.get_mut("provenance") {
            for (field, at) in times {
                if let Some(Value::Object(p)) = fields.get_mut(&field) {
                    p.insert("at".to_owned(), at);
                }
            }
        }
        for (name, value) in taken {
            map.insert(name.to_owned(), value);
        }
    }
    result
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
        let first = record(json!({"x": 1}));
        let id = Publisher::accepted_id(&first, &json!({"x": 1}));
        let a = p.accepted(
            &first,
            json!({"x": 1}),
            "education.enrollment.v1",
            "urn:s",
            id,
            None,
            &[],
        );
        let mut later = record(json!({"x": 1}));
        later.fetched_at += chrono::Duration::seconds(5);
        assert_eq!(
            Publisher::accepted_id(&later, &json!({"x": 1})),
            id,
            "not the fetch time"
        );
        let b = p.accepted(
            &later,
            json!({"x": 1}),
            "education.enrollment.v1",
            "urn:s",
            id,
            Some("p1"),
            &[],
        );
        assert_eq!(a.topic, "t.education.enrollment.v1");
        assert_eq!(a.key.as_deref(), Some("EDU1"));
        assert_eq!(b.key.as_deref(), Some("p1"));
        assert_eq!(b.header("ce_govhubpersonid"), Some("p1"));
        assert_eq!(a.header("ce_govhubpersonid"), None);
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
        let (id, e) = p.dead_letter(
            &record(json!({"grade": 13})),
            "validate",
            Some("urn:s"),
            vec![v.clone()],
        );
        assert_eq!(e.header("ce_id"), Some(hex::encode(id).as_str()));
        assert_eq!(e.topic, "govhub.dlq.v1");
        assert_eq!(e.header("ce_type"), Some(DEAD_LETTER_TYPE));
        let letter: DeadLetter = serde_json::from_slice(&e.value).unwrap();
        assert_eq!(letter.violations, vec![v]);
        assert_eq!(letter.payload, json!({"grade": 13}));
        assert_eq!(letter.stage, "validate");
    }

    #[test]
    fn a_merged_id_gets_a_tombstone_then_where_it_lives_on() {
        let p = Publisher::new(Topics::default());
        let time = Utc::now();
        let tombstone = p.person_retired("p00000000000000b2", time);
        let merged = p.person_merged("p00000000000000b2", "p00000000000000a1", time);
        for e in [&tombstone, &merged] {
            assert_eq!(e.topic, "govhub.person.v1");
            assert_eq!(e.key.as_deref(), Some("p00000000000000b2"));
        }
        assert!(tombstone.value.is_empty());
        assert_eq!(merged.header("ce_type"), Some(PERSON_MERGED_TYPE));
        let value: Value = serde_json::from_slice(&merged.value).unwrap();
        assert_eq!(
            value,
            json!({"person_id": "p00000000000000b2", "merged_into": "p00000000000000a1"})
        );
        // The same merge is the same event, whenever it is published.
        let again = p.person_merged(
            "p00000000000000b2",
            "p00000000000000a1",
            time + chrono::Duration::hours(1),
        );
        assert!(merged.header("ce_id").is_some());
        assert_eq!(again.header("ce_id"), merged.header("ce_id"));
    }

    #[test]
    fn identity_and_golden_ids_do_not_depend_on_fetch_times() {
        let p = Publisher::new(Topics::default());
        let t = Utc::now();
        let decision = |at: i64| json!({"event": "link", "person_id": "p1", "at_ms": at});
        let a = p.identity("p1", decision(1), t, [1; 16]);
        let b = p.identity("p1", decision(2), t, [1; 16]);
        let c = p.identity("p1", decision(2), t, [2; 16]);
        assert_eq!(a.header("ce_id"), b.header("ce_id"));
        assert_ne!(a.header("ce_id"), c.header("ce_id"), "another cause");
        let golden = |at: &str, name: &str| {
            json!({"person_id": "p1", "version": 3, "updated_at": at, "name": name,
                "provenance": {"name": {"department": "health", "source_record_id": "H1", "at": at}}})
        };
        let g1 = p.person("p1", golden("2026-01-01T00:00:00Z", "张伟"), t);
        let g2 = p.person("p1", golden("2026-02-01T00:00:00Z", "张伟"), t);
        let g3 = p.person("p1", golden("2026-02-01T00:00:00Z", "张玮"), t);
        assert_eq!(g1.header("ce_id"), g2.header("ce_id"));
        let published: Value = serde_json::from_slice(&g1.value).unwrap();
        assert_eq!(
            published,
            golden("2026-01-01T00:00:00Z", "张伟"),
            "times kept in the data"
        );
        let decided: Value = serde_json::from_slice(&a.value).unwrap();
        assert_eq!(decided["at_ms"], 1);
        assert_ne!(g1.header("ce_id"), g3.header("ce_id"));
    }

    #[test]
    fn a_refused_event_becomes_a_small_dead_letter() {
        let p = Publisher::new(Topics::default());
        let big = "x".repeat(5_000_000);
        let first = record(json!({"note": big}));
        let data = json!({"note": big});
        let id = Publisher::accepted_id(&first, &data);
        let event = p.accepted(
            &first,
            data,
            "education.enrollment.v1",
            "urn:s",
            id,
            Some("p1"),
            &[],
        );
        let letter = p.refused(
            &event,
            "event of 5000012 bytes exceeds max_event_bytes (1000000)",
        );
        assert!(
            letter.value.len() < 2 * REFUSED_HEAD_BYTES,
            "{}",
            letter.value.len()
        );
        assert_eq!(letter.topic, "govhub.dlq.v1");
        assert_eq!(letter.key.as_deref(), Some("EDU1"));
        let letter: DeadLetter = serde_json::from_slice(&letter.value).unwrap();
        assert_eq!(
            (letter.stage.as_str(), letter.connector.as_str()),
            ("sink", "edu")
        );
        assert_eq!(letter.payload["bytes"], event.value.len());
        assert_eq!(letter.payload["event_id"], hex::encode(id));
        assert!(letter.violations[0].message.contains("max_event_bytes"));
    }
}
