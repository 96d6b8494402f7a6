//! The shipped schemas and [`check_standard`].

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::compat::{check, check_standard};

#[test]
fn compat_shipped_schemas_are_compatible_with_themselves() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let mut docs = BTreeMap::new();
    for department in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(department.unwrap().path()).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            let schema: Value = serde_json::from_str(&text).unwrap();
            let id = schema["$id"].as_str().unwrap().to_owned();
            docs.insert(id, schema);
        }
    }
    assert!(!docs.is_empty());
    let resolve = |uri: &str| docs.get(uri).cloned();
    for (id, schema) in &docs {
        assert_eq!(check(schema, schema, &resolve), vec![], "{id}");
    }
}

fn write(root: &std::path::Path, path: &str, schema: &Value) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, schema.to_string()).unwrap();
}

#[test]
fn compat_standard_reports_each_incompatible_pair_of_versions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let y = json!({ "type": "object", "properties": { "a": { "type": "string" }, "b": {} } });
    let mut y_required = y.clone();
    y_required["required"] = json!(["b"]);
    write(root, "x/y.v1.json", &y);
    write(root, "x/y.v2.json", &y_required);
    // Unchanged from v2: consecutive versions are compared, not v1 with every later one.
    write(root, "x/y.v3.json", &y_required);
    // A compatible kind whose files have no `$id` and reach a shared definition by a
    // relative `$ref`, which must resolve against the file's path as the validator does.
    write(
        root,
        "common/code.v1.json",
        &json!({ "type": "string", "maxLength": 6 }),
    );
    let z = |note: Value| {
        json!({ "type": "object", "properties": {
            "code": { "$ref": "../common/code.v1.json" },
            "note": { "type": note }
        } })
    };
    write(root, "x/z.v1.json", &z(json!("string")));
    write(root, "x/z.v2.json", &z(json!(["string", "null"])));
    let standard = crate::Standard::from_dir(root).unwrap();

    let report = check_standard(&standard);
    let [(older, newer, problems)] = report.as_slice() else {
        panic!("expected one incompatible pair, got {report:#?}");
    };
    assert_eq!(
        (older.as_str(), newer.as_str()),
        ("x/y.v1.json", "x/y.v2.json")
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].path, "/required");
    assert!(
        problems[0].why.contains("property \"b\" became required"),
        "{problems:#?}"
    );
}

#[test]
fn compat_embedded_standard_has_no_incompatible_versions() {
    let standard = crate::Standard::embedded().unwrap();
    assert_eq!(check_standard(&standard), vec![]);
}
