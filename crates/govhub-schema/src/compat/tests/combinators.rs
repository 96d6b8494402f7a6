//! `anyOf`, `oneOf`, `not` and the keywords only kept unchanged.

use serde_json::{Value, json};

use super::table;

#[test]
fn compat_any_of_and_one_of() {
    let any = |branches: Value| json!({ "anyOf": branches });
    let one = |branches: Value| json!({ "oneOf": branches });
    table(&[
        (
            "anyOf branch narrowed",
            any(json!([{ "type": "string" }, { "type": "integer", "maximum": 10 }])),
            any(json!([{ "type": "string" }, { "type": "integer", "maximum": 5 }])),
            &[("/anyOf/1/maximum", "lowered from <= 10 to <= 5")],
        ),
        (
            "anyOf branch added",
            any(json!([{ "type": "string" }])),
            any(json!([{ "type": "string" }, { "type": "null" }])),
            &[],
        ),
        (
            "anyOf branch removed",
            any(json!([{ "type": "string" }, { "type": "null" }])),
            any(json!([{ "type": "string" }])),
            &[("/anyOf", "anyOf branch 1 removed")],
        ),
        (
            "anyOf branches reordered",
            any(json!([{ "type": "string" }, { "type": "null" }])),
            any(json!([{ "type": "null" }, { "type": "string" }])),
            &[],
        ),
        (
            "anyOf added with a branch covering the old schema",
            json!({ "type": "string" }),
            any(json!([{ "type": "string" }, { "type": "null" }])),
            &[],
        ),
        (
            "anyOf added with no covering branch",
            json!({}),
            any(json!([{ "type": "string" }, { "type": "null" }])),
            &[("/anyOf", "anyOf added where none was")],
        ),
        (
            "oneOf unchanged",
            one(json!([{ "type": "string" }, { "type": "integer" }])),
            one(json!([{ "type": "string" }, { "type": "integer" }])),
            &[],
        ),
        (
            "oneOf reordered",
            one(json!([{ "type": "string" }, { "type": "integer" }])),
            one(json!([{ "type": "integer" }, { "type": "string" }])),
            &[],
        ),
        (
            "oneOf branch added",
            one(json!([{ "type": "string" }])),
            one(json!([{ "type": "string" }, { "minLength": 3 }])),
            &[("/oneOf", "oneOf branch count changed from 1 to 2")],
        ),
        (
            "oneOf branch narrowed",
            one(json!([{ "type": "string" }, { "type": "integer" }])),
            one(json!([{ "type": "string", "maxLength": 3 }, { "type": "integer" }])),
            &[("/oneOf/0/maxLength", "maxLength 3 added")],
        ),
        (
            "oneOf branch widened",
            one(json!([{ "type": "string" }, { "type": "integer" }])),
            one(json!([{ "type": ["string", "integer"] }, { "type": "integer" }])),
            &[("/oneOf/0", "oneOf branch 0 widened")],
        ),
    ]);
}

#[test]
fn compat_other_keywords_only_unchanged() {
    table(&[
        (
            "not added",
            json!({}),
            json!({ "not": { "type": "null" } }),
            &[("/not", "not added or changed")],
        ),
        (
            "not narrowed (so the schema widened)",
            json!({ "not": { "type": ["null", "string"] } }),
            json!({ "not": { "type": "null" } }),
            &[],
        ),
        (
            "if/then added",
            json!({}),
            json!({ "if": { "required": ["a"] }, "then": { "required": ["b"] } }),
            &[("/if", "if/then/else added or changed")],
        ),
        (
            "if/then unchanged",
            json!({ "if": { "required": ["a"] }, "then": { "required": ["b"] } }),
            json!({ "if": { "required": ["a"] }, "then": { "required": ["b"] } }),
            &[],
        ),
        (
            "dependentRequired added",
            json!({ "type": "object" }),
            json!({ "type": "object", "dependentRequired": { "a": ["b"] } }),
            &[("/dependentRequired", "dependentRequired added or changed")],
        ),
        (
            "unevaluatedProperties false with a property dropped",
            json!({ "allOf": [{ "properties": { "a": {}, "b": {} } }], "unevaluatedProperties": false }),
            json!({ "allOf": [{ "properties": { "a": {} } }], "unevaluatedProperties": false }),
            &[(
                "/unevaluatedProperties",
                "unevaluatedProperties added or changed",
            )],
        ),
        (
            "unevaluatedProperties false with a property added",
            json!({ "allOf": [{ "properties": { "a": {} } }], "unevaluatedProperties": false }),
            json!({ "allOf": [{ "properties": { "a": {}, "b": {} } }], "unevaluatedProperties": false }),
            &[],
        ),
    ]);
}
