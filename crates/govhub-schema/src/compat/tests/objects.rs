//! `required`, `properties` and `additionalProperties`.

use serde_json::{Value, json};

use super::{object, table};

#[test]
fn compat_required() {
    table(&[
        (
            "required added",
            object(json!({ "a": {}, "b": {} })),
            json!({ "type": "object", "properties": { "a": {}, "b": {} }, "required": ["b"] }),
            &[(
                "/required",
                "property \"b\" became required: records without it",
            )],
        ),
        (
            "required removed",
            json!({ "type": "object", "properties": { "a": {} }, "required": ["a"] }),
            object(json!({ "a": {} })),
            &[],
        ),
        (
            "required kept",
            json!({ "required": ["a"] }),
            json!({ "required": ["a"] }),
            &[],
        ),
        (
            "required moved into allOf",
            json!({ "required": ["a", "b"] }),
            json!({ "allOf": [{ "required": ["a"] }, { "required": ["b"] }] }),
            &[],
        ),
        (
            "required but previously forbidden",
            json!({ "type": "object", "additionalProperties": false, "properties": { "a": {} } }),
            json!({ "type": "object", "additionalProperties": false,
                    "properties": { "a": {}, "b": {} }, "required": ["b"] }),
            &[("/required", "did not allow it")],
        ),
        (
            "required on a non-object type is inert",
            json!({ "type": "string" }),
            json!({ "type": "string", "required": ["a"] }),
            &[],
        ),
    ]);
}

#[test]
fn compat_closed_objects() {
    let closed = |properties: Value| json!({ "type": "object", "additionalProperties": false, "properties": properties });
    table(&[
        (
            "property removed from a closed object",
            closed(json!({ "a": {}, "b": {} })),
            closed(json!({ "a": {} })),
            &[(
                "/additionalProperties",
                "property \"b\" removed: records carrying it",
            )],
        ),
        (
            "property removed from an open object",
            object(json!({ "a": {}, "b": {} })),
            object(json!({ "a": {} })),
            &[],
        ),
        (
            "open object closed",
            object(json!({ "a": {} })),
            closed(json!({ "a": {} })),
            &[("/additionalProperties", "additionalProperties set to false")],
        ),
        (
            "property added to a closed object",
            closed(json!({ "a": {} })),
            closed(json!({ "a": {}, "b": { "type": "string" } })),
            &[],
        ),
        (
            "closed object opened",
            closed(json!({ "a": {} })),
            object(json!({ "a": {} })),
            &[],
        ),
        (
            "additionalProperties schema narrowed",
            json!({ "additionalProperties": { "type": ["string", "integer"] } }),
            json!({ "additionalProperties": { "type": "string" } }),
            &[("/additionalProperties/type", "type narrowed")],
        ),
        (
            "additionalProperties schema widened",
            json!({ "additionalProperties": { "type": "string" } }),
            json!({ "additionalProperties": { "type": ["string", "integer"] } }),
            &[],
        ),
        (
            "additionalProperties now constrains a property no longer listed",
            json!({ "properties": { "a": { "type": "string" } } }),
            json!({ "additionalProperties": { "type": "integer" } }),
            &[
                (
                    "/additionalProperties/type",
                    "type narrowed from string to integer",
                ),
                (
                    "/additionalProperties/type",
                    "type narrowed from any type to integer",
                ),
            ],
        ),
        (
            "allOf branch closes over a sibling's property",
            closed(json!({ "a": {}, "b": {} })),
            json!({ "allOf": [
                { "properties": { "a": {} }, "additionalProperties": false },
                { "properties": { "b": {} } }
            ] }),
            &[("/allOf/0/additionalProperties", "property \"b\" removed")],
        ),
    ]);
}
