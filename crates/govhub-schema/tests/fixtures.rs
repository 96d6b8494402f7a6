//! Every schema of the standard against its fixtures: records it must accept and records
//! it must reject, each for a named reason.
//!
//! Layout: `fixtures/<schema path without .json>/{valid,invalid}/*.json`; an invalid
//! fixture is named `<description>.<expected keyword>.json` and must fail for that keyword
//! only. Resident IDs and credit codes in them are synthetic, with computed check
//! characters.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use govhub_schema::Standard;
use serde_json::Value;

const MIN_VALID: usize = 2;
const MIN_INVALID: usize = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("readable fixture directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable fixture");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_schema_accepts_its_valid_and_rejects_its_invalid_fixtures() {
    let standard = Standard::embedded().unwrap();
    let mut failures = Vec::new();
    for schema in standard.iter() {
        let dir = root().join(schema.path.trim_end_matches(".json"));
        let valid = json_files(&dir.join("valid"));
        let invalid = json_files(&dir.join("invalid"));
        if valid.len() < MIN_VALID || invalid.len() < MIN_INVALID {
            failures.push(format!(
                "{}: {} valid and {} invalid fixtures under {}; at least {MIN_VALID} and {MIN_INVALID} needed",
                schema.path,
                valid.len(),
                invalid.len(),
                dir.display()
            ));
        }
        for file in valid {
            let violations = schema.validate(&read(&file));
            if !violations.is_empty() {
                failures.push(format!(
                    "{}/valid/{}: {violations:?}",
                    schema.path,
                    name(&file)
                ));
            }
        }
        for file in invalid {
            let file_name = name(&file);
            let Some(expected) = file_name
                .strip_suffix(".json")
                .and_then(|stem| stem.rsplit_once('.'))
                .map(|(_, keyword)| keyword.to_owned())
            else {
                failures.push(format!(
                    "{}/invalid/{file_name}: name it <description>.<keyword>.json",
                    schema.path
                ));
                continue;
            };
            let violations = schema.validate(&read(&file));
            // Only the named reason: a fixture that fails for another reason too would
            // keep passing if the named check broke.
            if violations.is_empty() || violations.iter().any(|v| v.keyword != expected) {
                failures.push(format!(
                    "{}/invalid/{file_name}: expected only {expected} violations, got {violations:?}",
                    schema.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_fixture_directory_belongs_to_a_schema() {
    let standard = Standard::embedded().unwrap();
    let schemas: BTreeSet<_> = standard
        .iter()
        .map(|s| s.path.trim_end_matches(".json").to_owned())
        .collect();
    let mut found = BTreeSet::new();
    for department in std::fs::read_dir(root()).unwrap() {
        let department = department.unwrap().path();
        for kind in std::fs::read_dir(&department).unwrap() {
            let kind = kind.unwrap().path();
            found.insert(format!("{}/{}", name(&department), name(&kind)));
        }
    }
    let orphans: Vec<_> = found.difference(&schemas).collect();
    assert!(orphans.is_empty(), "fixtures without a schema: {orphans:?}");
}

/// The acceptance checks the rest of govhub relies on (the demo's rejection reasons), in
/// both versions: v2, which connectors publish, only adds a place for an unverified ID.
#[test]
fn enrollment_rejections_keep_their_keyword_and_place() {
    let standard = Standard::embedded().unwrap();
    for version in [1, 2] {
        let enrollment = standard.get("education.enrollment", version).unwrap();
        let dir = root().join(format!("education/enrollment.v{version}/invalid"));
        for (file, keyword, at) in [
            (
                "wrong-check-digit.format.json",
                "format",
                "/student/resident_id",
            ),
            ("grade-13.maximum.json", "maximum", "/grade"),
            ("missing-school-name.required.json", "required", "/school"),
            ("february-30.format.json", "format", "/student/birth_date"),
            ("guardian-landline.format.json", "format", "/guardian/phone"),
        ] {
            let violations = enrollment.validate(&read(&dir.join(file)));
            let found: Vec<_> = violations
                .iter()
                .map(|v| (v.keyword.as_str(), v.instance_path.as_str()))
                .collect();
            assert_eq!(found, [(keyword, at)], "v{version} {file}");
        }
    }
}

/// Violation messages go to logs and dead letters readable by operators: they must not
/// quote the personal data that failed.
#[test]
fn violations_do_not_quote_personal_data() {
    let standard = Standard::embedded().unwrap();
    for schema in standard.iter() {
        let dir = root().join(schema.path.trim_end_matches(".json"));
        for file in json_files(&dir.join("invalid")) {
            let record = read(&file);
            let mut secrets = Vec::new();
            collect_strings(&record, &mut secrets);
            secrets.retain(|s| s.len() >= 8 && s.chars().any(|c| c.is_ascii_digit()));
            for violation in schema.validate(&record) {
                for secret in &secrets {
                    assert!(
                        !violation.message.contains(secret.as_str()),
                        "{}: message quotes a value",
                        file.display()
                    );
                }
            }
        }
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}
