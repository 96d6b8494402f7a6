//! The way a record travels: poll a source, run the stages, write to the sink, and only
//! then ack the source.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use govhub_core::{Batch, Classified, ErrorClass, OutEvent, Sink, Source, Violation};
use govhub_resolve::Fingerprints;
use govhub_resolve::identity::{Observation, RecordRef, Resolver};
use govhub_schema::KindSchema;
use govhub_schema::mapping::CompiledMapping;
use govhub_stream::{Publisher, with_person};
use serde_json::Value;

/// The CPU-only stages one connector's records pass through.
#[derive(Debug, Clone, Copy)]
pub struct Stages<'a> {
    /// The connector's mapping from native to canonical records (empty: none).
    pub mapping: &'a CompiledMapping,
    /// Schema of the connector's record kind (its newest version).
    pub schema: &'a KindSchema,
    /// Turns records into events and dead letters.
    pub publisher: &'a Publisher,
    /// What this connector already published, for exact dedup; `None` publishes
    /// everything (dead-letter replay, which has its own bookkeeping).
    pub fingerprints: Option<&'a Fingerprints>,
    /// Identity resolution; `None` keys events by their source record id.
    pub resolver: Option<&'a Mutex<Resolver>>,
}

/// What a connector has done, for summaries and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records pulled from the source.
    pub pulled: u64,
    /// Valid records published to their kind's topic.
    pub published: u64,
    /// Records sent to the dead-letter topic.
    pub rejected: u64,
    /// Records dropped because exactly this version was already published (re-pulls,
    /// replays, items an API repeated across pages).
    pub duplicates: u64,
    /// Batches written and acked.
    pub batches: u64,
    /// Rejections by reason (`stage: keyword at instance path`); never contains values.
    pub reasons: BTreeMap<String, u64>,
}

/// Why a sync stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage}: {message}")]
pub struct PipelineError {
    /// `source` or `sink`.
    pub stage: &'static str,
    /// The underlying error's message.
    pub message: String,
    /// Who has to act.
    pub class: ErrorClass,
    /// Whether trying again later may succeed.
    pub retryable: bool,
}

impl PipelineError {
    fn from<E: Classified>(stage: &'static str, error: &E) -> Self {
        PipelineError {
            stage,
            message: error.to_string(),
            class: error.class(),
            retryable: error.retryable(),
        }
    }
}

impl Counts {
    /// Adds `other`'s numbers to these.
    pub fn add(&mut self, other: &Counts) {
        self.pulled += other.pulled;
        self.published += other.published;
        self.rejected += other.rejected;
        self.duplicates += other.duplicates;
        self.batches += other.batches;
        for (reason, n) in &other.reasons {
            *self.reasons.entry(reason.clone()).or_default() += n;
        }
    }
}

impl Stages<'_> {
    /// Maps and validates every record of `batch` and renders it as an event: an
    /// accepted record onto its kind's topic, a rejected one onto the dead-letter topic.
    /// An event whose record was already published in exactly this version (same event
    /// id) is dropped and counted as a duplicate; nothing else is dropped.
    ///
    /// With a resolver, each new or changed record's person is resolved: the event is
    /// keyed by the unified person id, and the identity decisions and the golden records
    /// of the persons that changed follow the batch's events.
    pub fn process(&self, batch: &Batch, counts: &mut Counts) -> Vec<OutEvent> {
        let kind_version = self.schema.topic_suffix();
        let mut events = Vec::with_capacity(batch.records.len());
        let mut in_batch = HashSet::new();
        let mut resolver = self
            .resolver
            .map(|r| r.lock().unwrap_or_else(PoisonError::into_inner));
        let mut decisions = Vec::new();
        let mut changed = BTreeSet::new();
        let mut retired = BTreeSet::new();
        for record in &batch.records {
            counts.pulled += 1;
            let mut observation = None;
            let (mut event, violations) = match self.canonical(&record.payload) {
                Ok(canonical) => {
                    if resolver.is_some() {
                        let reference = RecordRef {
                            department: record.department.clone(),
                            connector: record.connector.clone(),
                            source_record_id: record.source_record_id.clone(),
                        };
                        observation = Observation::from_canonical(
                            &record.kind,
                            reference,
                            record.fetched_at.timestamp_millis(),
                            &canonical,
                        );
                    }
                    let event =
                        self.publisher
                            .accepted(record, canonical, &kind_version, &self.schema.id);
                    (event, None)
                }
                Err((stage, violations)) => {
                    let reasons: Vec<String> = violations
                        .iter()
                        .map(|v| format!("{stage}: {} at {}", v.keyword, v.instance_path))
                        .collect();
                    let event = self.publisher.dead_letter(
                        record,
                        stage,
                        Some(&self.schema.id),
                        violations,
                    );
                    (event, Some(reasons))
                }
            };
            let fingerprint = fingerprint_of(&event);
            let seen_before = fingerprint.as_ref().is_some_and(|(key, id)| {
                self.fingerprints.is_some_and(|f| f.is_unchanged(key, id))
                    || !in_batch.insert((key.clone(), id.clone()))
            });
            if seen_before {
                counts.duplicates += 1;
                continue;
            }
            if let (Some(resolver), Some(observation)) = (resolver.as_mut(), observation) {
                let outcome = resolver.observe(&observation);
                with_person(&mut event, &outcome.person_id);
                for decision in outcome.events {
                    let data = serde_json::to_value(&decision).unwrap_or_default();
                    decisions.push(self.publisher.identity(
                        &decision.person_id,
                        data,
                        record.fetched_at,
                    ));
                }
                changed.extend(outcome.changed);
                retired.extend(outcome.retired);
            }
            match violations {
                None => counts.published += 1,
                Some(reasons) => {
                    counts.rejected += 1;
                    for reason in reasons {
                        *counts.reasons.entry(reason).or_default() += 1;
                    }
                }
            }
            events.push(event);
        }
        events.append(&mut decisions);
        if let Some(resolver) = resolver {
            let now = Utc::now();
            for person_id in retired {
                events.push(self.publisher.person_retired(&person_id, now));
            }
            for person in changed {
                if let Some((person_id, golden)) = resolver.golden(person) {
                    events.push(self.publisher.person(&person_id, golden, now));
                }
            }
        }
        events
    }

    /// The canonical form of a native record, or the stage that rejected it and why.
    pub fn canonical(&self, native: &Value) -> Result<Value, (&'static str, Vec<Violation>)> {
        let canonical = if self.mapping.is_empty() {
            native.clone()
        } else {
            self.mapping.apply(native).map_err(|v| ("map", v))?
        };
        let violations = self.schema.validate(&canonical);
        if violations.is_empty() {
            Ok(canonical)
        } else {
            Err(("validate", violations))
        }
    }
}

/// The dedup key and fingerprint of an event: `(type|subject, id)`. Keyed by type too,
/// so a record's dead letter and its accepted version are told apart.
pub fn fingerprint_of(event: &OutEvent) -> Option<(String, String)> {
    let ty = event.header("ce_type")?;
    let subject = event.header("ce_subject")?;
    let id = event.header("ce_id")?;
    Some((format!("{ty}|{subject}"), id.to_owned()))
}

/// Moves records from `source` to `sink` until the source has nothing more, or
/// `stop()` says to stop (checked between batches, so a batch is never cut in half).
///
/// Each batch is written in full and acked only after the sink confirmed it; on a sink
/// error the batch is nacked, so the next sync reads it again.
pub async fn sync<S: Source, K: Sink>(
    connector: &str,
    source: &mut S,
    sink: &mut K,
    stages: Stages<'_>,
    fingerprints: &mut Fingerprints,
    counts: &mut Counts,
    stop: impl Fn() -> bool,
) -> Result<(), PipelineError> {
    while !stop() {
        let Some(batch) = source
            .poll()
            .await
            .map_err(|e| PipelineError::from("source", &e))?
        else {
            return Ok(());
        };
        let mut batch_counts = Counts::default();
        let dedup = Stages {
            fingerprints: Some(&*fingerprints),
            ..stages
        };
        let events = dedup.process(&batch, &mut batch_counts);
        let published: Vec<(String, String)> = events.iter().filter_map(fingerprint_of).collect();
        if let Err(e) = sink.write(events).await {
            source.nack(&batch);
            if let Some(resolver) = stages.resolver {
                // Forget this batch's decisions: they are made (and published) again
                // when the batch is re-read.
                let mut resolver = resolver.lock().unwrap_or_else(PoisonError::into_inner);
                if let Err(e) = resolver.rollback() {
                    tracing::error!(error = %e, "identity state could not be reloaded");
                }
            }
            return Err(PipelineError::from("sink", &e));
        }
        // Written: remember the fingerprints, then move the cursor (either may fail
        // after the write; both only cause a harmless republish).
        fingerprints
            .commit(published.iter().map(|(k, f)| (k.as_str(), f.as_str())))
            .map_err(|e| PipelineError {
                stage: "dedup",
                message: e.to_string(),
                class: ErrorClass::Internal,
                retryable: false,
            })?;
        if let Some(resolver) = stages.resolver {
            resolver
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .commit()
                .map_err(|e| PipelineError {
                    stage: "resolve",
                    message: e.to_string(),
                    class: ErrorClass::Internal,
                    retryable: false,
                })?;
        }
        source
            .ack(&batch)
            .await
            .map_err(|e| PipelineError::from("source", &e))?;
        batch_counts.batches = 1;
        if batch_counts.rejected > 0 {
            tracing::warn!(
                connector,
                rejected = batch_counts.rejected,
                reasons = ?batch_counts.reasons,
                "records rejected to the dead-letter topic"
            );
        }
        counts.add(&batch_counts);
        crate::status::batch_acked(connector, &batch_counts, &batch);
        tracing::debug!(
            connector,
            records = batch.records.len(),
            "batch written and acked"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use govhub_core::SourceRecord;
    use govhub_schema::Standard;
    use govhub_stream::{DeadLetter, Topics};
    use serde_json::json;

    use super::*;

    /// A registry that sends native field names, compact dates and sex codes.
    const MAPPING: &str = r#"
"/student_id" = { from = "/xjh" }
"/student/name" = { from = "/xm", normalize = "name" }
"/student/resident_id" = { from = "/sfzh", normalize = "resident_id", optional = true }
"/student/sex" = { from = "/xb", codes = "sex_gb2261" }
"/student/birth_date" = { from = "/csrq", date = "auto" }
"/school/code" = { from = "/xxdm", as = "string" }
"/school/name" = { from = "/xxmc", text = ["trim"] }
"/grade" = { from = "/nj", as = "integer" }
"/enrolled_on" = { from = "/rxrq", date = "auto" }
"#;

    fn record(id: &str, payload: Value) -> SourceRecord {
        SourceRecord {
            connector: "edu".into(),
            department: "education".into(),
            kind: "education.enrollment".into(),
            source_record_id: id.into(),
            payload,
            fetched_at: Utc::now(),
        }
    }

    #[test]
    fn native_records_are_mapped_validated_or_dead_lettered_with_their_stage() {
        let standard = Standard::embedded().unwrap();
        let mapping: govhub_schema::mapping::Mapping = toml::from_str(MAPPING).unwrap();
        let mapping = mapping.compile();
        let publisher = Publisher::new(Topics::default());
        let stages = Stages {
            mapping: &mapping,
            schema: standard.latest("education.enrollment").unwrap(),
            publisher: &publisher,
            fingerprints: None,
            resolver: None,
        };
        let good = json!({"xjh": "G0001X", "xm": "李 娜", "sfzh": "110105491231002", "xb": "2",
            "csrq": "2014/9/1", "xxdm": 1101050001_u64, "xxmc": " 实验小学 ", "nj": "5",
            "rxrq": "2021年9月1日"});
        let unmappable = json!({"xjh": "G0002X", "xm": "王五", "xb": "7", "csrq": "2014-09-01",
            "xxdm": "1101050001", "xxmc": "实验小学", "nj": "5", "rxrq": "2021-09-01"});
        let invalid = json!({"xjh": "G0003X", "xm": "赵六", "xb": 1, "csrq": "2014-09-01",
            "xxdm": "1101050001", "xxmc": "实验小学", "nj": "15", "rxrq": "2021-09-01"});
        let batch = Batch {
            records: vec![
                record("G0001X", good),
                record("G0002X", unmappable.clone()),
                record("G0003X", invalid),
            ],
            cursor: json!(null),
        };
        let mut counts = Counts::default();
        let events = stages.process(&batch, &mut counts);
        assert_eq!(
            (counts.pulled, counts.published, counts.rejected),
            (3, 1, 2)
        );
        assert_eq!(counts.reasons.get("map: code at /xb"), Some(&1));
        assert_eq!(counts.reasons.get("validate: maximum at /grade"), Some(&1));

        let canonical: Value = serde_json::from_slice(&events[0].value).unwrap();
        assert_eq!(canonical["student"]["name"], "李娜");
        assert_eq!(canonical["student"]["resident_id"], "11010519491231002X");
        assert_eq!(canonical["student"]["sex"], "female");
        assert_eq!(canonical["school"]["code"], "1101050001");
        assert_eq!(canonical["grade"], 5);

        let letter: DeadLetter = serde_json::from_slice(&events[1].value).unwrap();
        assert_eq!(letter.stage, "map");
        assert_eq!(letter.payload, unmappable, "the native record, as received");
        let letter: DeadLetter = serde_json::from_slice(&events[2].value).unwrap();
        assert_eq!(letter.stage, "validate");
    }
}
