//! A dry run of one connector against its real API (`govhub check --sample`): the
//! first records it would pull, through its mapping and the schema, with nothing
//! written anywhere — no cursor, no state, no event. What an IT department runs before
//! it goes live: which records would be rejected and why (the map's reasons and the
//! schema's together), which fields of the API's records the mapping never reads, and
//! which fields it reads that no sampled record has.

use std::collections::{BTreeMap, BTreeSet};

use govhub_connect::{HttpSource, HttpSourceConfig};
use govhub_core::Source;
use govhub_schema::Standard;
use serde_json::Value;

use crate::pipeline::{Stages, Tally};

/// What a connector would do with its first records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleReport {
    /// Records read from the API.
    pub sampled: u64,
    /// Records that would be published.
    pub accepted: u64,
    /// Records that would go to the dead-letter topic.
    pub rejected: u64,
    /// Rejection reasons (`stage: keyword at path: message`), with counts and examples.
    pub reasons: BTreeMap<String, Tally>,
    /// Fields the API's records have that neither the mapping nor `record_id` reads.
    pub unused_fields: BTreeSet<String>,
    /// Fields the mapping reads that no sampled record has.
    pub absent_sources: BTreeSet<String>,
}

/// Reads up to `limit` records (`None`: the first page) of connector `name` from its
/// API with its real authentication (`env` resolves `${VAR}` secrets) and runs them
/// through its mapping and the schema of its kind. Errors are the connector's (an
/// unreachable API, refused credentials) or a kind the standard lacks.
pub async fn sample(
    name: &str,
    config: &HttpSourceConfig,
    standard: &Standard,
    limit: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SampleReport, String> {
    let schema = standard
        .latest(&config.kind)
        .ok_or_else(|| format!("no schema for kind {:?}", config.kind))?;
    let mut source =
        HttpSource::with_env(name, config.clone(), None, env).map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    while let Some(batch) = source.poll().await.map_err(|e| e.to_string())? {
        records.extend(batch.records);
        match limit {
            None => break,
            Some(n) if records.len() >= n => {
                records.truncate(n);
                break;
            }
            Some(_) => {}
        }
    }
    let mapping = config.mapping.compile();
    let stages = Stages {
        mapping: &mapping,
        schema,
    };
    let mut report = SampleReport {
        sampled: records.len() as u64,
        ..SampleReport::default()
    };
    let mut fields = BTreeSet::new();
    for record in &records {
        leaves(&record.payload, String::new(), &mut fields);
        match stages.canonical(&record.payload) {
            Ok(_) => report.accepted += 1,
            Err(rejection) => {
                report.rejected += 1;
                let mut seen = BTreeSet::new();
                for (stage, v) in &rejection.violations {
                    let reason = format!(
                        "{stage}: {} at {}: {}",
                        v.keyword, v.instance_path, v.message
                    );
                    if seen.insert(reason.clone()) {
                        report
                            .reasons
                            .entry(reason)
                            .or_default()
                            .add(&record.source_record_id);
                    }
                }
            }
        }
    }
    // Without a mapping records pass through whole: every field is used. Without
    // records, nothing can be said to be absent.
    if config.mapping.is_empty() || records.is_empty() {
        return Ok(report);
    }
    let sources = config.mapping.sources();
    report.unused_fields = fields
        .into_iter()
        .filter(|field| {
            !(overlaps(&config.record_id, field) || sources.iter().any(|r| overlaps(r, field)))
        })
        .collect();
    report.absent_sources = sources
        .into_iter()
        .filter(|pointer| {
            !records
                .iter()
                .any(|r| r.payload.pointer(pointer).is_some_and(|v| !v.is_null()))
        })
        .collect();
    Ok(report)
}

/// Collects the pointers of `value`'s leaves (scalars, and arrays as a whole) under
/// `prefix`. Nulls are left out: a field that is always null carries nothing to map.
fn leaves(value: &Value, prefix: String, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                leaves(child, format!("{prefix}/{escaped}"), out);
            }
        }
        Value::Null => {}
        _ if !prefix.is_empty() => {
            out.insert(prefix);
        }
        _ => {}
    }
}

/// Whether reading pointer `read` uses `field` (the same field, inside it, or around it).
fn overlaps(read: &str, field: &str) -> bool {
    let within = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    within(read, field) || within(field, read)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn leaves_are_scalars_and_whole_arrays_and_overlap_goes_both_ways() {
        let mut out = BTreeSet::new();
        leaves(
            &json!({"a": {"b": 1, "c": null}, "d/e": "x", "tags": [1, 2]}),
            String::new(),
            &mut out,
        );
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            ["/a/b", "/d~1e", "/tags"]
        );
        assert!(overlaps("/a", "/a/b"));
        assert!(overlaps("/tags/0", "/tags"));
        assert!(overlaps("/a/b", "/a/b"));
        assert!(!overlaps("/a/b", "/a/bc"));
    }
}
