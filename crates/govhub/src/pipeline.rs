//! The CPU-only stages of a record's way that belong to its connector: map, validate,
//! and compute its event id. What follows (dedup, resolve, render, write, commit) is
//! the runtime's ([`crate::runtime`]).

use std::collections::BTreeMap;

use govhub_core::{Classified, ErrorClass, SourceRecord, Violation};
use govhub_resolve::identity::{Observation, RecordRef};
use govhub_schema::KindSchema;
use govhub_schema::fit::required_field;
use govhub_schema::mapping::{Applied, CompiledMapping};
use govhub_stream::Publisher;
use serde_json::Value;

/// The CPU-only stages one connector's records pass through.
#[derive(Debug, Clone, Copy)]
pub struct Stages<'a> {
    /// The connector's mapping from native to canonical records (empty: none).
    pub mapping: &'a CompiledMapping,
    /// Schema of the connector's record kind (its newest version).
    pub schema: &'a KindSchema,
}

/// A record after its connector's stages: accepted with its canonical form and event
/// id, or rejected with its dead letter already rendered.
#[derive(Debug)]
pub enum Prepared {
    /// Valid: published once dedup and resolution have seen it.
    Accepted {
        /// The record as pulled.
        record: SourceRecord,
        /// Its canonical form.
        canonical: Value,
        /// Its event id.
        id: [u8; 16],
        /// The person it is about, for identity resolution (`None`: about nobody);
        /// boxed, as most of a batch's items are accepted and the channel moves them.
        observation: Option<Box<Observation>>,
        /// Canonical fields holding a value the mapping set aside as invalid
        /// (`on_invalid`): the record's data-quality flags.
        set_aside: Vec<String>,
    },
    /// Rejected: its dead letter.
    Rejected {
        /// The record's id in its source.
        source_record_id: String,
        /// The dead letter's id.
        id: [u8; 16],
        /// The dead letter.
        event: govhub_core::OutEvent,
        /// Why, as `stage: keyword at path`, without values.
        reasons: Vec<String>,
    },
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
    /// Published records with a value set aside as invalid, by the canonical field
    /// holding it (`/patient/identifiers/resident_id_unverified`): the data-quality
    /// report to send back to the department.
    pub set_aside: BTreeMap<String, Tally>,
}

/// Records sharing something (a field set aside, a rejection reason): how many, and
/// the first few of their source record ids (ids, never values), to look them up.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// Source record ids of the first few.
    pub examples: Vec<String>,
}

/// Example record ids a [`Tally`] keeps.
const TALLY_EXAMPLES: usize = 3;

impl Tally {
    /// Counts record `source_record_id`.
    pub fn add(&mut self, source_record_id: &str) {
        self.count += 1;
        if self.examples.len() < TALLY_EXAMPLES {
            self.examples.push(source_record_id.to_owned());
        }
    }

    /// Adds `other`'s records, keeping the first examples.
    pub fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        let room = TALLY_EXAMPLES.saturating_sub(self.examples.len());
        self.examples
            .extend(other.examples.iter().take(room).cloned());
    }
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
    /// The error of `stage`, classified as `error` is.
    pub fn from<E: Classified>(stage: &'static str, error: &E) -> Self {
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
        for (field, tally) in &other.set_aside {
            self.set_aside
                .entry(field.clone())
                .or_default()
                .merge(tally);
        }
    }
}

impl<'a> Stages<'a> {
    /// Maps and validates `record`, and computes the id of the event it becomes: the
    /// record's own (accepted) or its dead letter's (rejected).
    pub fn prepare(&self, record: SourceRecord, publisher: &Publisher) -> Prepared {
        match self.canonical(&record.payload) {
            Ok(Canonical {
                record: canonical,
                set_aside,
            }) => {
                let id = Publisher::accepted_id(&record, &canonical);
                let reference = RecordRef {
                    department: record.department.clone(),
                    connector: record.connector.clone(),
                    source_record_id: record.source_record_id.clone(),
                };
                let observation = self.schema.person.as_ref().and_then(|location| {
                    Observation::from_canonical(
                        location,
                        reference,
                        record.fetched_at.timestamp_millis(),
                        &canonical,
                    )
                    .map(Box::new)
                });
                let set_aside = set_aside.into_iter().map(str::to_owned).collect();
                Prepared::Accepted {
                    record,
                    canonical,
                    id,
                    observation,
                    set_aside,
                }
            }
            Err(rejection) => {
                let reasons = rejection
                    .violations
                    .iter()
                    .map(|(stage, v)| format!("{stage}: {} at {}", v.keyword, v.instance_path))
                    .collect();
                let violations = rejection.violations.into_iter().map(|(_, v)| v).collect();
                let (id, event) = publisher.dead_letter(
                    &record,
                    rejection.stage,
                    Some(&self.schema.id),
                    violations,
                );
                Prepared::Rejected {
                    source_record_id: record.source_record_id,
                    id,
                    event,
                    reasons,
                }
            }
        }
    }

    /// The canonical form of a native record, or why it is rejected. A record its
    /// mapping refuses is validated too, as far as it was mapped, so one round shows
    /// every problem: the map's, and the schema's with the fields the map could fill.
    pub fn canonical(&self, native: &Value) -> Result<Canonical<'a>, Rejection> {
        let applied = if self.mapping.is_empty() {
            Applied {
                record: native.clone(),
                violations: Vec::new(),
                set_aside: Vec::new(),
            }
        } else {
            self.mapping.apply_partial(native)
        };
        let invalid: Vec<Violation> = {
            // A field the map could not fill is reported once, by the map.
            let unmapped = CompiledMapping::failed_targets(&applied.violations);
            self.schema
                .validate(&applied.record)
                .into_iter()
                .filter(|v| required_field(v).is_none_or(|f| !unmapped.contains(f.as_str())))
                .collect()
        };
        if applied.violations.is_empty() && invalid.is_empty() {
            return Ok(Canonical {
                record: applied.record,
                set_aside: applied.set_aside,
            });
        }
        let stage = if applied.violations.is_empty() {
            "validate"
        } else {
            "map"
        };
        let violations = (applied.violations.into_iter().map(|v| ("map", v)))
            .chain(invalid.into_iter().map(|v| ("validate", v)))
            .collect();
        Err(Rejection { stage, violations })
    }
}

/// A record its connector's stages accept.
#[derive(Debug)]
pub struct Canonical<'a> {
    /// The canonical record.
    pub record: Value,
    /// Fields holding a value the mapping set aside as invalid (`on_invalid`).
    pub set_aside: Vec<&'a str>,
}

/// Why a record is rejected: the first stage that refused it (`map` or `validate`, the
/// dead letter's `stage`) and every violation, each with the stage that found it.
#[derive(Debug)]
pub struct Rejection {
    /// The first stage that refused the record.
    pub stage: &'static str,
    /// Every violation, map's first.
    pub violations: Vec<(&'static str, Violation)>,
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
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
    fn a_bad_resident_id_set_aside_keeps_the_record_and_flags_it() {
        let standard = Standard::embedded().unwrap();
        let mapping: govhub_schema::mapping::Mapping = toml::from_str(
            r#"
"/record_id" = { from = "/id" }
"/person/name" = { from = "/xm" }
"/person/identifiers/resident_id" = { from = "/sfzh", normalize = "resident_id", on_invalid = "/person/identifiers/resident_id_unverified" }
"#,
        )
        .unwrap();
        let mapping = mapping.compile();
        let stages = Stages {
            mapping: &mapping,
            schema: standard.latest("civil-affairs.resident").unwrap(),
        };
        let publisher = Publisher::new(Topics::default());
        let flags = |sfzh: &str| match stages.prepare(
            record(
                "RK0001",
                json!({"id": "RK0001", "xm": "李娜", "sfzh": sfzh}),
            ),
            &publisher,
        ) {
            Prepared::Accepted { set_aside, .. } => set_aside,
            Prepared::Rejected { reasons, .. } => panic!("rejected: {reasons:?}"),
        };
        // Two digits transposed: the check character fails, the record is published.
        assert_eq!(
            flags("110105194912310021"),
            ["/person/identifiers/resident_id_unverified"]
        );
        assert!(flags("11010519491231002X").is_empty());

        let mut total = Counts::default();
        for n in 0..5 {
            let mut batch = Counts::default();
            batch
                .set_aside
                .entry("/f".into())
                .or_default()
                .add(&format!("R{n}"));
            total.add(&batch);
        }
        assert_eq!(total.set_aside["/f"].count, 5);
        assert_eq!(total.set_aside["/f"].examples, ["R0", "R1", "R2"]);
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
        };
        let good = json!({"xjh": "G0001X", "xm": "李 娜", "sfzh": "110105491231002", "xb": "2",
            "csrq": "2014/9/1", "xxdm": 1101050001_u64, "xxmc": " 实验小学 ", "nj": "5",
            "rxrq": "2021年9月1日"});
        // Refused by the map (sex code 7) and by the schema (grade 15): both at once.
        let unmappable = json!({"xjh": "G0002X", "xm": "王五", "xb": "7", "csrq": "2014-09-01",
            "xxdm": "1101050001", "xxmc": "实验小学", "nj": "15", "rxrq": "2021-09-01"});
        let invalid = json!({"xjh": "G0003X", "xm": "赵六", "xb": 1, "csrq": "2014-09-01",
            "xxdm": "1101050001", "xxmc": "实验小学", "nj": "15", "rxrq": "2021-09-01"});
        let prepared: Vec<Prepared> = [
            record("G0001X", good),
            record("G0002X", unmappable.clone()),
            record("G0003X", invalid),
        ]
        .into_iter()
        .map(|r| stages.prepare(r, &publisher))
        .collect();
        let Prepared::Accepted {
            canonical,
            observation,
            ..
        } = &prepared[0]
        else {
            panic!("the good record is accepted");
        };
        assert!(observation.is_some(), "an enrollment is about its student");
        let dead = |i: usize| match &prepared[i] {
            Prepared::Rejected { event, reasons, .. } => (event.clone(), reasons.clone()),
            Prepared::Accepted { .. } => panic!("record {i} is rejected"),
        };
        let (unmapped, reasons) = dead(1);
        // The sex the map could not fill is not reported again as missing.
        assert_eq!(reasons, ["map: code at /xb", "validate: maximum at /grade"]);
        let (invalid, reasons) = dead(2);
        assert!(
            reasons.contains(&"validate: maximum at /grade".to_owned()),
            "{reasons:?}"
        );

        assert_eq!(canonical["student"]["name"], "李娜");
        assert_eq!(canonical["student"]["resident_id"], "11010519491231002X");
        assert_eq!(canonical["student"]["sex"], "female");
        assert_eq!(canonical["school"]["code"], "1101050001");
        assert_eq!(canonical["grade"], 5);

        let letter: DeadLetter = serde_json::from_slice(&unmapped.value).unwrap();
        assert_eq!(letter.stage, "map");
        assert_eq!(letter.payload, unmappable, "the native record, as received");
        let letter: DeadLetter = serde_json::from_slice(&invalid.value).unwrap();
        assert_eq!(letter.stage, "validate");
    }
}
