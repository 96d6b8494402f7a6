//! Tests of the compatibility check, one file per area; the walk itself (nesting,
//! `allOf` flattening, local `$ref`s) and the public type are tested here.

mod combinators;
mod limits;
mod objects;
mod refs;
mod standard;
mod types;

use serde_json::{Value, json};

use super::*;

/// A rule's expected outcome: `(path, fragment of why)` for each report, none when the
/// change is compatible.
type Expected = &'static [(&'static str, &'static str)];

fn no_refs(_: &str) -> Option<Value> {
    None
}

fn assert_reports(name: &str, issues: &[Incompatibility], expected: Expected) {
    assert_eq!(
        issues.len(),
        expected.len(),
        "{name}: expected {expected:?}, got {issues:#?}"
    );
    for (path, why) in expected {
        assert!(
            issues
                .iter()
                .any(|i| i.path == *path && i.why.contains(why)),
            "{name}: no report at {path:?} containing {why:?} in {issues:#?}"
        );
    }
}

fn table(cases: &[(&str, Value, Value, Expected)]) {
    for (name, old, new, expected) in cases {
        assert_reports(name, &check(old, new, &no_refs), expected);
    }
}

fn object(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties })
}

#[test]
fn compat_nested_schemas() {
    table(&[
        (
            "nested property",
            object(json!({ "student": object(json!({ "name": { "maxLength": 64 } })) })),
            object(json!({ "student": object(json!({ "name": { "maxLength": 32 } })) })),
            &[(
                "/properties/student/properties/name/maxLength",
                "lowered from 64 to 32",
            )],
        ),
        (
            "items narrowed",
            json!({ "type": "array", "items": { "type": "string" } }),
            json!({ "type": "array", "items": { "type": "string", "maxLength": 3 } }),
            &[("/items/maxLength", "maxLength 3 added")],
        ),
        (
            "items widened",
            json!({ "type": "array", "items": { "type": "string" } }),
            json!({ "type": "array", "items": { "type": ["string", "null"] } }),
            &[],
        ),
        (
            "prefixItems narrowed",
            json!({ "prefixItems": [{ "type": "string" }, { "type": "number" }] }),
            json!({ "prefixItems": [{ "type": "string" }, { "type": "integer" }] }),
            &[(
                "/prefixItems/1/type",
                "type narrowed from number to integer",
            )],
        ),
        (
            "items closed after the tuple",
            json!({ "prefixItems": [{ "type": "string" }] }),
            json!({ "prefixItems": [{ "type": "string" }], "items": false }),
            &[("/items", "arrays with more than 1 items")],
        ),
        (
            "items closed where old arrays were already that short",
            json!({ "prefixItems": [{}], "maxItems": 1 }),
            json!({ "prefixItems": [{}], "items": false }),
            &[],
        ),
        (
            "items now constrain a former tuple position",
            json!({ "prefixItems": [{ "type": "string" }, { "type": "string" }] }),
            json!({ "prefixItems": [{ "type": "string" }], "items": { "type": "integer" } }),
            &[
                ("/items/type", "type narrowed from string to integer"),
                ("/items/type", "type narrowed from any type to integer"),
            ],
        ),
        (
            "constraint moved into allOf",
            json!({ "minimum": 1, "maximum": 10 }),
            json!({ "allOf": [{ "minimum": 1 }, { "maximum": 10 }] }),
            &[],
        ),
        (
            "constraint tightened inside allOf",
            json!({ "allOf": [{ "minimum": 1 }] }),
            json!({ "allOf": [{ "minimum": 2 }] }),
            &[("/allOf/0/minimum", "minimum raised")],
        ),
        (
            "local $ref into $defs",
            json!({ "properties": { "a": { "$ref": "#/$defs/a" } }, "$defs": { "a": { "maxLength": 5 } } }),
            json!({ "properties": { "a": { "$ref": "#/$defs/a" } }, "$defs": { "a": { "maxLength": 4 } } }),
            &[("/properties/a/$ref/maxLength", "lowered from 5 to 4")],
        ),
        (
            "unused $defs are not compared",
            json!({ "$defs": { "a": { "maxLength": 5 } } }),
            json!({ "$defs": { "a": { "maxLength": 4 } } }),
            &[],
        ),
        (
            "inline schema replaced by an equal $ref",
            json!({ "properties": { "a": { "type": "string", "maxLength": 5 } } }),
            json!({ "properties": { "a": { "$ref": "#/$defs/a" } },
                    "$defs": { "a": { "type": "string", "maxLength": 5 } } }),
            &[],
        ),
    ]);
}

#[test]
fn compat_loosening_changes_are_compatible() {
    let old = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "grade", "sex"],
        "properties": {
            "id": { "type": "string", "pattern": "^[0-9]+$", "minLength": 6, "maxLength": 32 },
            "grade": { "type": "integer", "minimum": 1, "maximum": 12, "multipleOf": 1 },
            "sex": { "enum": ["male", "female"] },
            "tags": { "type": "array", "items": { "type": "string" }, "maxItems": 3, "uniqueItems": true },
            "born": { "type": "string", "format": "date" }
        }
    });
    let new = json!({
        "type": ["object", "null"],
        "required": ["id"],
        "properties": {
            "id": { "type": ["string", "integer"], "minLength": 1 },
            "grade": { "type": "number", "minimum": 0 },
            "sex": { "enum": ["male", "female", "unknown"] },
            "tags": { "type": "array", "items": { "type": ["string", "null"] } },
            "born": { "type": "string" },
            "nickname": { "type": "string", "maxLength": 8 }
        }
    });
    assert_reports("every change loosens", &check(&old, &new, &no_refs), &[]);
    assert!(
        !check(&new, &old, &no_refs).is_empty(),
        "and backwards every change tightens"
    );
}

#[test]
fn compat_display_and_serialize() {
    let issue = Incompatibility {
        path: "/properties/sex/enum".into(),
        why: "enum value \"unknown\" removed".into(),
    };
    assert_eq!(
        issue.to_string(),
        "/properties/sex/enum: enum value \"unknown\" removed"
    );
    assert_eq!(
        serde_json::to_value(&issue).unwrap(),
        json!({ "path": "/properties/sex/enum", "why": "enum value \"unknown\" removed" })
    );
}
