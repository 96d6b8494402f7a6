use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{Dir, include_dir};
use serde_json::Value;

use crate::violation::violation;
use crate::{Violation, formats};

/// The standard as shipped: `schemas/` at build time.
static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../schemas");

/// Why the standard could not be loaded. Each variant names the schema file.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// Path of the file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not JSON.
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// Path relative to the schema root.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A file name does not follow `<department>/<kind>.v<N>.json`.
    #[error("{path}: schema files are named <department>/<kind>.v<N>.json")]
    Name {
        /// Path relative to the schema root.
        path: String,
    },
    /// A schema does not compile (bad keyword, bad `$ref`, unknown draft).
    #[error("{path}: schema does not compile: {message}")]
    Compile {
        /// Path relative to the schema root.
        path: String,
        /// What the compiler said.
        message: String,
    },
    /// Two files declare the same kind and version.
    #[error("{path}: kind {kind} v{version} is defined twice")]
    Duplicate {
        /// Path relative to the schema root.
        path: String,
        /// Record kind.
        kind: String,
        /// Version.
        version: u32,
    },
}

impl govhub_core::Classified for SchemaError {
    fn class(&self) -> govhub_core::ErrorClass {
        match self {
            SchemaError::Read { .. } => govhub_core::ErrorClass::Internal,
            _ => govhub_core::ErrorClass::User,
        }
    }
    fn retryable(&self) -> bool {
        false
    }
}

/// One compiled record kind at one version.
#[derive(Debug)]
pub struct KindSchema {
    /// Record kind, `<department>.<name>`, e.g. `education.enrollment`.
    pub kind: String,
    /// Schema version (`N` of `.vN.json`).
    pub version: u32,
    /// The schema's `$id`, used as the CloudEvents `dataschema`.
    pub id: String,
    /// Path relative to the schema root, e.g. `education/enrollment.v1.json`.
    pub path: String,
    validator: jsonschema::Validator,
}

impl KindSchema {
    /// Every violation of the schema by `record`; empty when the record is valid.
    pub fn validate(&self, record: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(record)
            .map(|e| violation(&e))
            .collect()
    }

    /// The topic suffix of this kind and version, e.g. `education.enrollment.v1`.
    pub fn topic_suffix(&self) -> String {
        format!("{}.v{}", self.kind, self.version)
    }
}

/// Every record kind of the unified standard, compiled.
#[derive(Debug)]
pub struct Standard {
    kinds: BTreeMap<(String, u32), KindSchema>,
}

impl Standard {
    /// The standard embedded in this build of govhub.
    pub fn embedded() -> Result<Self, SchemaError> {
        let mut files = Vec::new();
        collect_embedded(&EMBEDDED, &mut files);
        Self::from_files(files)
    }

    /// The standard in a directory laid out like `schemas/`.
    pub fn from_dir(root: &Path) -> Result<Self, SchemaError> {
        let mut files = Vec::new();
        collect_dir(root, root, &mut files)?;
        Self::from_files(files)
    }

    /// Compiles `(relative path, contents)` pairs.
    fn from_files(mut files: Vec<(String, String)>) -> Result<Self, SchemaError> {
        files.sort();
        let mut kinds = BTreeMap::new();
        for (path, text) in files {
            let schema: Value =
                serde_json::from_str(&text).map_err(|source| SchemaError::Json {
                    path: path.clone(),
                    source,
                })?;
            let (kind, version) =
                kind_of(&path).ok_or_else(|| SchemaError::Name { path: path.clone() })?;
            let compiled = compile(&path, &schema)?;
            let id = schema
                .get("$id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let entry = KindSchema {
                kind: kind.clone(),
                version,
                id,
                path: path.clone(),
                validator: compiled,
            };
            if kinds.insert((kind.clone(), version), entry).is_some() {
                return Err(SchemaError::Duplicate {
                    path,
                    kind,
                    version,
                });
            }
        }
        Ok(Standard { kinds })
    }

    /// The newest version of `kind`, if the standard has it.
    pub fn latest(&self, kind: &str) -> Option<&KindSchema> {
        self.kinds
            .range((kind.to_owned(), 0)..=(kind.to_owned(), u32::MAX))
            .next_back()
            .map(|(_, schema)| schema)
    }

    /// Every kind and version, in order.
    pub fn iter(&self) -> impl Iterator<Item = &KindSchema> {
        self.kinds.values()
    }
}

fn compile(path: &str, schema: &Value) -> Result<jsonschema::Validator, SchemaError> {
    let mut options = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false);
    for (name, check) in formats::ALL {
        options = options.with_format(*name, *check);
    }
    options.build(schema).map_err(|e| SchemaError::Compile {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// `education/enrollment.v1.json` → (`education.enrollment`, 1).
fn kind_of(path: &str) -> Option<(String, u32)> {
    let (department, file) = path.split_once('/')?;
    if department.is_empty() || file.contains('/') {
        return None;
    }
    let stem = file.strip_suffix(".json")?;
    let (name, version) = stem.rsplit_once(".v")?;
    let version: u32 = version.parse().ok().filter(|v| *v > 0)?;
    if name.is_empty() || name.contains('.') {
        return None;
    }
    Some((format!("{department}.{name}"), version))
}

fn collect_embedded(dir: &Dir<'_>, out: &mut Vec<(String, String)>) {
    for file in dir.files() {
        let path = file.path().to_string_lossy().replace('\\', "/");
        if let (true, Some(text)) = (path.ends_with(".json"), file.contents_utf8()) {
            out.push((path, text.to_owned()));
        }
    }
    for sub in dir.dirs() {
        collect_embedded(sub, out);
    }
}

fn collect_dir(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, String)>,
) -> Result<(), SchemaError> {
    let read_err = |path: &Path, source| SchemaError::Read {
        path: path.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(|e| read_err(dir, e))? {
        let path = entry.map_err(|e| read_err(dir, e))?.path();
        if path.is_dir() {
            collect_dir(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, text));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kind_names_follow_the_file_layout() {
        assert_eq!(
            kind_of("education/enrollment.v1.json"),
            Some(("education.enrollment".into(), 1))
        );
        assert_eq!(kind_of("enrollment.v1.json"), None);
        assert_eq!(kind_of("education/enrollment.json"), None);
        assert_eq!(kind_of("education/enrollment.v0.json"), None);
        assert_eq!(kind_of("a/b/c.v1.json"), None);
    }

    #[test]
    fn embedded_standard_compiles() {
        let standard = Standard::embedded().expect("shipped schemas compile");
        let enrollment = standard.latest("education.enrollment").unwrap();
        assert_eq!(enrollment.topic_suffix(), "education.enrollment.v1");
        assert!(enrollment.id.ends_with("/education/enrollment.v1.json"));
    }

    #[test]
    fn a_schema_that_does_not_compile_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("health")).unwrap();
        std::fs::write(
            dir.path().join("health/encounter.v1.json"),
            json!({"type": "object", "properties": {"a": {"type": 12}}}).to_string(),
        )
        .unwrap();
        let err = Standard::from_dir(dir.path()).unwrap_err();
        assert!(matches!(err, SchemaError::Compile { .. }), "{err}");
        assert!(
            err.to_string().starts_with("health/encounter.v1.json:"),
            "{err}"
        );
    }

    #[test]
    fn unknown_formats_are_refused_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("x")).unwrap();
        std::fs::write(
            dir.path().join("x/y.v1.json"),
            json!({"type": "string", "format": "cn-no-such-format"}).to_string(),
        )
        .unwrap();
        assert!(Standard::from_dir(dir.path()).is_err());
    }
}
