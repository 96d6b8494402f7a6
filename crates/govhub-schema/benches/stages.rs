//! map + validate (+ the normalizers the mapping runs) per record kind, against the rate
//! of serde_json parsing the same bytes alone.
//!
//! Records: every valid fixture of each kind, turned into a department-style "native"
//! record (flat field names, compact dates, spaced names, `+86` phones) and a mapping
//! that turns it back — one rule per field, as a real connector config has.
//!
//! Each measurement is a batch of records through one variant; the variants of a kind
//! take turns (interleaved), so a noisy neighbour slows all of them alike, and the
//! report gives the minimum and the median batch time of each and the ratio of the
//! medians to parsing alone, the reference measured in the same run.
//!
//! Run: `cargo bench -p govhub-schema --bench stages [-- ROUNDS]` (default 30 rounds).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use govhub_schema::Standard;
use govhub_schema::mapping::{CompiledMapping, DateFormat, FieldRule, Mapping};
use govhub_schema::normalize::Normalizer;
use serde_json::{Map, Value};

/// Records per measured batch.
const BATCH: usize = 1000;
/// Batches per variant when no count is given.
const DEFAULT_ROUNDS: usize = 30;

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

/// One way of handling the batch: its name and a run over all `BATCH` records.
type Variant<'a> = (&'static str, Box<dyn Fn() + 'a>);

/// Runs every variant `rounds` times, taking turns, after one warm-up pass each, and
/// returns each variant's batch times sorted.
fn interleave(variants: &[Variant<'_>], rounds: usize) -> Vec<Vec<Duration>> {
    for (_, run) in variants {
        run();
    }
    let mut times = vec![Vec::with_capacity(rounds); variants.len()];
    for _ in 0..rounds {
        for ((_, run), samples) in variants.iter().zip(&mut times) {
            let started = Instant::now();
            run();
            samples.push(started.elapsed());
        }
    }
    for samples in &mut times {
        samples.sort();
    }
    times
}

/// Records per second of one batch time.
fn rate(batch: Duration) -> f64 {
    BATCH as f64 / batch.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number is the round count.
    let rounds = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse::<usize>().ok())
        .unwrap_or(DEFAULT_ROUNDS)
        .max(1);
    let standard = Standard::embedded().expect("standard compiles");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    println!(
        "{rounds} interleaved rounds of {BATCH} records; records/s min / median batch, ratio of medians to parse"
    );
    println!(
        "{:<38} {:<20} {:>10} {:>10} {:>6}",
        "kind", "variant", "min", "median", "ratio"
    );
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
        let canonical_bytes: Vec<Vec<u8>> = records
            .iter()
            .cycle()
            .take(BATCH)
            .map(|r| serde_json::to_vec(r).expect("serializes"))
            .collect();
        let variants: Vec<Variant<'_>> = vec![
            (
                "parse",
                Box::new(|| {
                    for (bytes, _) in &batch {
                        black_box(serde_json::from_slice::<Value>(bytes).expect("parses"));
                    }
                }),
            ),
            (
                "parse+map",
                Box::new(|| {
                    for (bytes, mapping) in &batch {
                        let native: Value = serde_json::from_slice(bytes).expect("parses");
                        black_box(mapping.apply(&native).expect("maps"));
                    }
                }),
            ),
            (
                "parse+validate",
                Box::new(|| {
                    for bytes in &canonical_bytes {
                        let canonical: Value = serde_json::from_slice(bytes).expect("parses");
                        black_box(schema.validate(&canonical));
                    }
                }),
            ),
            (
                "parse+map+validate",
                Box::new(|| {
                    for (bytes, mapping) in &batch {
                        let native: Value = serde_json::from_slice(bytes).expect("parses");
                        let canonical = mapping.apply(&native).expect("maps");
                        black_box(schema.validate(&canonical));
                    }
                }),
            ),
        ];
        let times = interleave(&variants, rounds);
        let reference = times[0][rounds / 2];
        for ((name, _), samples) in variants.iter().zip(&times) {
            let median = samples[rounds / 2];
            println!(
                "{:<38} {:<20} {:>10.0} {:>10.0} {:>6.2}",
                schema.kind,
                name,
                rate(samples[rounds - 1]),
                rate(median),
                reference.as_secs_f64() / median.as_secs_f64()
            );
        }
    }
}
