use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use serde_json::Value;

use crate::person::PersonLocation;
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

/// The `$id` prefix of every file of the standard; the rest is the file's path.
pub const ID_BASE: &str = "https://govhub.invalid/schemas/";

/// The directory of shared definitions: `$ref` targets, not record kinds.
const SHARED_DIR: &str = "common";

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
    /// The schema as written, with its `$ref`s unresolved.
    pub schema: Value,
    /// Where the person is, when the kind is about one (its `x-govhub-person`).
    pub person: Option<PersonLocation>,
    validator: jsonschema::Validator,
}

impl KindSchema {
    /// Every violation of the schema by `record`; empty when the record is valid.
    pub fn validate(&self, record: &Value) -> Vec<Violation> {
        // Most records are valid; the boolean check is several times cheaper than
        // collecting errors, which only the invalid few need.
        if self.validator.is_valid(record) {
            return Vec::new();
        }
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
    /// Every file of the standard, shared definitions and record kinds, by `$id`.
    resources: Arc<BTreeMap<String, Value>>,
    /// `$id`s of the shared definitions under `common/`.
    shared: Vec<String>,
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

    /// The embedded standard extended by the files of a directory laid out like
    /// `schemas/`: new kinds, new versions of shipped kinds, shared definitions of their
    /// own. A file that repeats a shipped kind and version, or a shipped `$id`, is an
    /// error: a local extension adds to the standard, it does not quietly replace it.
    pub fn embedded_with(extra: &Path) -> Result<Self, SchemaError> {
        let mut files = Vec::new();
        collect_embedded(&EMBEDDED, &mut files);
        collect_dir(extra, extra, &mut files)?;
        Self::from_files(files)
    }

    /// Compiles `(relative path, contents)` pairs.
    ///
    /// Every file is parsed and indexed by `$id` before any is compiled, so a `$ref` may
    /// point at any file of the standard whatever the order they were read in.
    fn from_files(mut files: Vec<(String, String)>) -> Result<Self, SchemaError> {
        files.sort();
        let mut parsed = Vec::with_capacity(files.len());
        let mut resources = BTreeMap::new();
        let mut shared = Vec::new();
        for (path, text) in files {
            let schema: Value =
                serde_json::from_str(&text).map_err(|source| SchemaError::Json {
                    path: path.clone(),
                    source,
                })?;
            let kind = kind_of(&path).ok_or_else(|| SchemaError::Name { path: path.clone() })?;
            let id = match schema.get("$id") {
                None => format!("{ID_BASE}{path}"),
                Some(Value::String(id)) => id.clone(),
                Some(_) => {
                    return Err(SchemaError::Compile {
                        path,
                        message: "$id is not a string".into(),
                    });
                }
            };
            if id.contains('#') || resources.contains_key(&id) {
                return Err(SchemaError::Compile {
                    path,
                    message: format!("$id {id} is a fragment or is used by another file"),
                });
            }
            if path.starts_with(&format!("{SHARED_DIR}/")) {
                shared.push(id.clone());
            }
            resources.insert(id.clone(), schema.clone());
            parsed.push((path, kind, id, schema));
        }
        let resources = Arc::new(resources);
        let mut kinds = BTreeMap::new();
        for (path, (kind, version), id, schema) in parsed {
            // Shared definitions are compiled too, so that a broken one is reported under
            // its own name rather than under every schema that uses it.
            let validator = compile(&path, &id, &schema, &resources)?;
            if shared.contains(&id) {
                continue;
            }
            let person = PersonLocation::from_schema(&schema)
                .and_then(|location| check_person(location, &schema, &resources))
                .map_err(|message| SchemaError::Compile {
                    path: path.clone(),
                    message,
                })?;
            let entry = KindSchema {
                person,
                kind: kind.clone(),
                version,
                id,
                path: path.clone(),
                schema,
                validator,
            };
            if kinds.insert((kind.clone(), version), entry).is_some() {
                return Err(SchemaError::Duplicate {
                    path,
                    kind,
                    version,
                });
            }
        }
        Ok(Standard {
            kinds,
            resources,
            shared,
        })
    }

    /// The newest version of `kind`, if the standard has it.
    pub fn latest(&self, kind: &str) -> Option<&KindSchema> {
        self.of_kind(kind).next_back()
    }

    /// `kind` at `version`, if the standard has it.
    pub fn get(&self, kind: &str, version: u32) -> Option<&KindSchema> {
        self.kinds.get(&(kind.to_owned(), version))
    }

    /// The versions of `kind` the standard has, oldest first; empty for an unknown kind.
    pub fn versions(&self, kind: &str) -> Vec<u32> {
        self.of_kind(kind).map(|schema| schema.version).collect()
    }

    /// Every kind and version, in order.
    pub fn iter(&self) -> impl Iterator<Item = &KindSchema> {
        self.kinds.values()
    }

    /// The raw file of the standard whose `$id` is `id` (a `#fragment` is ignored): a
    /// shared definition under `common/` or a record kind's schema.
    pub fn resource(&self, id: &str) -> Option<&Value> {
        let id = id.split_once('#').map_or(id, |(id, _)| id);
        self.resources.get(id)
    }

    /// The shared definitions under `common/`, as `($id, schema)`, in path order.
    pub fn definitions(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.shared
            .iter()
            .filter_map(|id| Some((id.as_str(), self.resources.get(id)?)))
    }

    fn of_kind(&self, kind: &str) -> impl DoubleEndedIterator<Item = &KindSchema> {
        self.kinds
            .range((kind.to_owned(), 0)..=(kind.to_owned(), u32::MAX))
            .map(|(_, schema)| schema)
    }
}

/// `location` if each of its pointers names a field of `schema`, else what is wrong.
fn check_person(
    location: Option<PersonLocation>,
    schema: &Value,
    resources: &BTreeMap<String, Value>,
) -> Result<Option<PersonLocation>, String> {
    if let Some(location) = &location {
        let resolve = |id: &str| resources.get(id).cloned();
        for (field, pointer) in location.pointers() {
            if !crate::mapping::schema_has_field(schema, pointer, &resolve) {
                return Err(format!(
                    "{}.{field}: the record has no field {pointer:?}",
                    crate::person::KEYWORD
                ));
            }
        }
    }
    Ok(location)
}

/// Serves `$ref`s from the files of the standard; nothing is fetched from the network,
/// so a `$ref` to a file the standard lacks fails compilation.
struct StandardRetriever(Arc<BTreeMap<String, Value>>);

impl jsonschema::Retrieve for StandardRetriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let id = uri.as_str();
        let id = id.split_once('#').map_or(id, |(id, _)| id);
        self.0
            .get(id)
            .cloned()
            .ok_or_else(|| "no file of the standard has this $id".into())
    }
}

fn compile(
    path: &str,
    id: &str,
    schema: &Value,
    resources: &Arc<BTreeMap<String, Value>>,
) -> Result<jsonschema::Validator, SchemaError> {
    let mut options = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_base_uri(id)
        .with_retriever(StandardRetriever(Arc::clone(resources)))
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
        assert_eq!(enrollment.topic_suffix(), "education.enrollment.v2");
        assert!(enrollment.id.ends_with("/education/enrollment.v2.json"));
        assert_eq!(standard.versions("education.enrollment"), [1, 2]);
    }

    #[test]
    fn the_standard_says_which_kinds_are_about_a_person_and_where() {
        let standard = Standard::embedded().unwrap();
        let about: Vec<(&str, &str)> = standard
            .iter()
            .filter_map(|k| Some((k.kind.as_str(), k.person.as_ref()?.person.as_str())))
            .collect();
        assert_eq!(
            about,
            [
                ("civil-affairs.assistance-case", "/applicant"),
                ("civil-affairs.household-member", "/member"),
                ("civil-affairs.marriage-registration", "/party_a"),
                ("civil-affairs.resident", "/person"),
                ("education.enrollment", "/student"),
                ("education.enrollment", "/student"),
                ("health.encounter", "/patient"),
                ("health.vaccination", "/person"),
                ("urban-management.grid-case", "/reporter"),
            ]
        );
    }

    /// A kind of a department the standard does not ship, about a person.
    fn volunteer(person: &str) -> Value {
        json!({
            "$id": "https://govhub.invalid/schemas/community/volunteer.v1.json",
            "x-govhub-person": person,
            "type": "object",
            "required": ["volunteer_id", "volunteer"],
            "properties": {
                "volunteer_id": {"type": "string"},
                "volunteer": {"$ref": "https://govhub.invalid/schemas/common/person.v1.json"}
            }
        })
    }

    fn extension(files: &[(&str, Value)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, schema) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, schema.to_string()).unwrap();
        }
        dir
    }

    #[test]
    fn a_local_directory_adds_kinds_to_the_embedded_standard() {
        let dir = extension(&[("community/volunteer.v1.json", volunteer("/volunteer"))]);
        let standard = Standard::embedded_with(dir.path()).unwrap();
        let kind = standard.latest("community.volunteer").unwrap();
        assert_eq!(kind.person.as_ref().unwrap().person, "/volunteer");
        assert!(
            standard.latest("education.enrollment").is_some(),
            "shipped kinds stay"
        );
        let record = json!({"volunteer_id": "V1", "volunteer": {"name": "张三"}});
        assert!(
            kind.validate(&record).is_empty(),
            "the shared person schema applies"
        );
        assert!(
            !kind
                .validate(&json!({"volunteer_id": "V1", "volunteer": {}}))
                .is_empty()
        );

        // A person pointer to a field the kind does not have stops loading.
        let dir = extension(&[("community/volunteer.v1.json", volunteer("/helper"))]);
        let err = Standard::embedded_with(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("x-govhub-person.person") && err.contains("/helper"),
            "{err}"
        );
        // A shipped kind cannot be replaced quietly.
        let mut copy = volunteer("/volunteer");
        copy["$id"] = json!("https://govhub.invalid/schemas/health/encounter.v1.json");
        let dir = extension(&[("health/encounter.v1.json", copy)]);
        assert!(Standard::embedded_with(dir.path()).is_err());
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

    fn write(root: &Path, path: &str, schema: &Value) {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, schema.to_string()).unwrap();
    }

    /// A tiny standard: a shared definition, and one kind in two versions using it.
    fn tiny_standard() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "common/code.v1.json",
            &json!({
                "$id": "https://govhub.invalid/schemas/common/code.v1.json",
                "$defs": {"division": {"type": "string", "format": "cn-division-code"}},
                "type": "object",
                "properties": {"division": {"$ref": "#/$defs/division"}}
            }),
        );
        for version in [1, 2] {
            write(
                dir.path(),
                &format!("x/place.v{version}.json"),
                &json!({
                    "$id": format!("https://govhub.invalid/schemas/x/place.v{version}.json"),
                    "type": "object",
                    "properties": {
                        "here": {"$ref": "https://govhub.invalid/schemas/common/code.v1.json"},
                        "there": {"$ref": "../common/code.v1.json#/$defs/division"}
                    }
                }),
            );
        }
        dir
    }

    #[test]
    fn refs_resolve_between_files_by_id() {
        let dir = tiny_standard();
        let standard = Standard::from_dir(dir.path()).unwrap();
        let place = standard.get("x.place", 1).unwrap();
        assert!(
            place
                .validate(&json!({"here": {"division": "110105"}, "there": "110000"}))
                .is_empty()
        );
        let violations = place.validate(&json!({"here": {"division": "990105"}, "there": "1"}));
        let at: Vec<_> = violations
            .iter()
            .map(|v| (v.keyword.as_str(), v.instance_path.as_str()))
            .collect();
        assert_eq!(at, [("format", "/here/division"), ("format", "/there")]);
    }

    #[test]
    fn shared_definitions_are_resources_not_kinds() {
        let dir = tiny_standard();
        let standard = Standard::from_dir(dir.path()).unwrap();
        let kinds: Vec<_> = standard.iter().map(KindSchema::topic_suffix).collect();
        assert_eq!(kinds, ["x.place.v1", "x.place.v2"]);
        assert!(standard.latest("common.code").is_none());
        let id = "https://govhub.invalid/schemas/common/code.v1.json";
        assert!(standard.resource(id).is_some());
        assert!(
            standard
                .resource(&format!("{id}#/$defs/division"))
                .is_some()
        );
        assert!(
            standard
                .resource("https://govhub.invalid/schemas/common/nope.v1.json")
                .is_none()
        );
        let shared: Vec<_> = standard.definitions().map(|(id, _)| id).collect();
        assert_eq!(shared, [id]);
    }

    #[test]
    fn versions_and_raw_schemas_are_available() {
        let dir = tiny_standard();
        let standard = Standard::from_dir(dir.path()).unwrap();
        assert_eq!(standard.versions("x.place"), [1, 2]);
        assert!(standard.versions("x.nothing").is_empty());
        assert_eq!(standard.latest("x.place").unwrap().version, 2);
        assert!(standard.get("x.place", 3).is_none());
        let v2 = standard.get("x.place", 2).unwrap();
        assert_eq!(v2.path, "x/place.v2.json");
        assert_eq!(v2.schema["$id"], json!(v2.id));
        assert!(v2.schema["properties"]["here"]["$ref"].is_string());
    }

    #[test]
    fn a_ref_to_a_missing_file_fails_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "x/y.v1.json",
            &json!({"properties": {"a": {"$ref": "https://govhub.invalid/schemas/common/gone.v1.json"}}}),
        );
        let err = Standard::from_dir(dir.path()).unwrap_err();
        assert!(matches!(err, SchemaError::Compile { .. }), "{err}");
        let message = err.to_string();
        assert!(message.starts_with("x/y.v1.json:"), "{message}");
        assert!(message.contains("common/gone.v1.json"), "{message}");
    }

    #[test]
    fn a_broken_shared_definition_is_reported_under_its_own_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "common/bad.v1.json", &json!({"type": 12}));
        let err = Standard::from_dir(dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("common/bad.v1.json:"), "{err}");
    }

    #[test]
    fn a_missing_id_defaults_to_the_files_path_and_ids_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "x/a.v1.json", &json!({"type": "object"}));
        let standard = Standard::from_dir(dir.path()).unwrap();
        assert_eq!(
            standard.latest("x.a").unwrap().id,
            "https://govhub.invalid/schemas/x/a.v1.json"
        );
        write(
            dir.path(),
            "x/b.v1.json",
            &json!({"$id": "https://govhub.invalid/schemas/x/a.v1.json"}),
        );
        let err = Standard::from_dir(dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("x/b.v1.json:"), "{err}");
    }
}
