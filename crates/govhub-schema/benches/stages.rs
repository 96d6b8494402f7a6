//! map + validate (+ the normalizers the mapping runs) per record kind, against the rate
//! of serde_json parsing the same bytes alone.
//!
//! Records: every valid fixture of each kind, turned into a department-style "native"
//! record (flat field names, compact dates, spaced names, `+86` phones) and a mapping
//! that turns it back — one rule per field, as a real connector config has.
//!
//! Run: `cargo bench -p govhub-schema --bench stages`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govhub_schema::Standard;
use govhub_schema::mapping::{CompiledMapping, DateFormat, FieldRule, Mapping};
use govhub_schema::normalize::Normalizer;
use serde_json::{Map, Value};

/// Records per measured batch.
const BATCH: usize = 1000;

/// Every leaf of `value` as (pointer, value).
fn leaves(value: &Value, prefix: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, format!("{prefix}/{k}"), out);
            }
        }
        leaf => out.push((prefix, leaf.clone())),
    }
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-'
}

/// A native record and the mapping back to `canonical`.
fn nativize(canonical: &Value) -> (Value, Mapping) {
    let mut fields = Vec::new();
    leaves(canonical, String::new(), &mut fields);
    let mut native = Map::new();
    let mut rules = BTreeMap::new();
    for (pointer, value) in fields {
        let key = pointer.trim_start_matches('/').replace('/', "_");
        let mut rule = FieldRule {
            from: Some(format!("/{key}")),
            ..FieldRule::default()
        };
        let native_value = match &value {
            Value::String(s) if is_date(s) => {
                rule.date = Some(DateFormat::Auto);
                Value::String(s.replace('-', ""))
            }
            Value::String(s) if pointer.ends_with("/name") && s.chars().count() <= 4 => {
                rule.normalize = Some(Normalizer::Name);
                let mut spaced = String::from(" ");
                for c in s.chars() {
                    spaced.push(c);
                    spaced.push(' ');
                }
                Value::String(spaced)
            }
            Value::String(s) if pointer.ends_with("/resident_id") => {
                rule.normalize = Some(Normalizer::ResidentId);
                Value::String(s.to_ascii_lowercase())
            }
            Value::String(s) if pointer.ends_with("/phone") => {
                rule.normalize = Some(Normalizer::Mobile);
                Value::String(format!("+86 {}-{}-{}", &s[..3], &s[3..7], &s[7..]))
            }
            other => other.clone(),
        };
        native.insert(key, native_value);
        rules.insert(pointer, rule);
    }
    (Value::Object(native), Mapping(rules))
}

fn fixtures(kind_dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(kind_dir.join("valid")) else {
        return out;
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("fixture readable");
        out.push(serde_json::from_str(&text).expect("fixture is JSON"));
    }
    out
}

fn stages(c: &mut Criterion) {
    let standard = Standard::embedded().expect("standard compiles");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for schema in standard.iter() {
        let (department, file) = schema.path.split_once('/').expect("dept/file");
        let kind_dir = root.join(department).join(file.trim_end_matches(".json"));
        let records = fixtures(&kind_dir);
        if records.is_empty() {
            continue;
        }
        let pairs: Vec<(Vec<u8>, CompiledMapping)> = records
            .iter()
            .map(|canonical| {
                let (native, mapping) = nativize(canonical);
                let bytes = serde_json::to_vec(&native).expect("serializes");
                // The bench measures the happy path: the round trip must be exact.
                let parsed: Value = serde_json::from_slice(&bytes).expect("parses");
                assert_eq!(
                    &mapping.compile().apply(&parsed).expect("maps"),
                    canonical,
                    "{}",
                    schema.kind
                );
                assert!(schema.validate(canonical).is_empty(), "{}", schema.kind);
                (bytes, mapping.compile())
            })
            .collect();
        let batch: Vec<&(Vec<u8>, CompiledMapping)> = pairs.iter().cycle().take(BATCH).collect();
        let mut group = c.benchmark_group(schema.kind.as_str());
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("parse", |b| {
            b.iter(|| {
                for (bytes, _) in &batch {
                    black_box(serde_json::from_slice::<Value>(bytes).expect("parses"));
                }
            })
        });
        group.bench_function("parse+map", |b| {
            b.iter(|| {
                for (bytes, mapping) in &batch {
                    let native: Value = serde_json::from_slice(bytes).expect("parses");
                    black_box(mapping.apply(&native).expect("maps"));
                }
            })
        });
        let canonical_bytes: Vec<Vec<u8>> = records
            .iter()
            .cycle()
            .take(BATCH)
            .map(|r| serde_json::to_vec(r).expect("serializes"))
            .collect();
        group.bench_function("parse+validate", |b| {
            b.iter(|| {
                for bytes in &canonical_bytes {
                    let canonical: Value = serde_json::from_slice(bytes).expect("parses");
                    black_box(schema.validate(&canonical));
                }
            })
        });
        group.bench_function("parse+map+validate", |b| {
            b.iter(|| {
                for (bytes, mapping) in &batch {
                    let native: Value = serde_json::from_slice(bytes).expect("parses");
                    let canonical = mapping.apply(&native).expect("maps");
                    black_box(schema.validate(&canonical));
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);
