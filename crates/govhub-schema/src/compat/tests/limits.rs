//! Numeric bounds, `multipleOf`, counts, `uniqueItems`, `pattern` and `format`.

use serde_json::{Value, json};

use super::table;

#[test]
fn compat_pattern_and_format() {
    let string = |extra: Value| {
        let mut schema = json!({ "type": "string" });
        if let (Some(schema), Value::Object(extra)) = (schema.as_object_mut(), extra) {
            schema.extend(extra);
        }
        schema
    };
    table(&[
        (
            "pattern added",
            string(json!({})),
            string(json!({ "pattern": "^[0-9]+$" })),
            &[("/pattern", "pattern \"^[0-9]+$\" added")],
        ),
        (
            "pattern changed",
            string(json!({ "pattern": "^[0-9]{10}$" })),
            string(json!({ "pattern": "^[0-9]{12}$" })),
            &[("/pattern", "pattern tightened or changed")],
        ),
        (
            "pattern kept",
            string(json!({ "pattern": "^a" })),
            string(json!({ "pattern": "^a" })),
            &[],
        ),
        (
            "pattern removed",
            string(json!({ "pattern": "^a" })),
            string(json!({})),
            &[],
        ),
        (
            "pattern on values that cannot be strings",
            json!({ "type": "integer" }),
            json!({ "type": "integer", "pattern": "^1" }),
            &[],
        ),
        (
            "format added",
            string(json!({})),
            string(json!({ "format": "date" })),
            &[("/format", "format \"date\" added")],
        ),
        (
            "format changed",
            string(json!({ "format": "date" })),
            string(json!({ "format": "date-time" })),
            &[("/format", "format changed from \"date\" to \"date-time\"")],
        ),
        (
            "format removed",
            string(json!({ "format": "date" })),
            string(json!({})),
            &[],
        ),
    ]);
}

#[test]
fn compat_numeric_limits() {
    table(&[
        (
            "minimum raised",
            json!({ "minimum": 1 }),
            json!({ "minimum": 2 }),
            &[("/minimum", "minimum raised from >= 1 to >= 2")],
        ),
        (
            "minimum lowered",
            json!({ "minimum": 2 }),
            json!({ "minimum": 1 }),
            &[],
        ),
        (
            "minimum added",
            json!({ "type": "number" }),
            json!({ "type": "number", "minimum": 0 }),
            &[("/minimum", "minimum 0 added: values below 0")],
        ),
        ("minimum removed", json!({ "minimum": 0 }), json!({}), &[]),
        (
            "minimum made exclusive",
            json!({ "minimum": 1 }),
            json!({ "exclusiveMinimum": 1 }),
            &[("/exclusiveMinimum", "raised from >= 1 to > 1")],
        ),
        (
            "exclusiveMinimum made inclusive",
            json!({ "exclusiveMinimum": 1 }),
            json!({ "minimum": 1 }),
            &[],
        ),
        (
            "exclusiveMinimum added",
            json!({}),
            json!({ "exclusiveMinimum": 0 }),
            &[("/exclusiveMinimum", "values at or below 0")],
        ),
        (
            "integer bounds in either spelling",
            json!({ "type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 13 }),
            json!({ "type": "integer", "minimum": 1, "maximum": 12 }),
            &[],
        ),
        (
            "maximum lowered",
            json!({ "maximum": 12 }),
            json!({ "maximum": 9 }),
            &[("/maximum", "maximum lowered from <= 12 to <= 9")],
        ),
        (
            "maximum raised",
            json!({ "maximum": 9 }),
            json!({ "maximum": 12 }),
            &[],
        ),
        (
            "maximum added",
            json!({}),
            json!({ "maximum": 9 }),
            &[("/maximum", "maximum 9 added")],
        ),
        (
            "exclusiveMaximum lowered",
            json!({ "exclusiveMaximum": 10 }),
            json!({ "exclusiveMaximum": 5 }),
            &[("/exclusiveMaximum", "lowered from < 10 to < 5")],
        ),
        (
            "exclusiveMaximum raised",
            json!({ "exclusiveMaximum": 5 }),
            json!({ "exclusiveMaximum": 10 }),
            &[],
        ),
        (
            "bound added but every old enum value meets it",
            json!({ "enum": [2, 3] }),
            json!({ "enum": [2, 3], "minimum": 1 }),
            &[],
        ),
        (
            "bound on values that cannot be numbers",
            json!({ "type": "string" }),
            json!({ "type": "string", "minimum": 3 }),
            &[],
        ),
        (
            "multipleOf added",
            json!({}),
            json!({ "multipleOf": 5 }),
            &[("/multipleOf", "multipleOf 5 added")],
        ),
        (
            "multipleOf coarsened",
            json!({ "multipleOf": 5 }),
            json!({ "multipleOf": 10 }),
            &[("/multipleOf", "multipleOf changed from 5 to 10")],
        ),
        (
            "multipleOf refined",
            json!({ "multipleOf": 10 }),
            json!({ "multipleOf": 5 }),
            &[],
        ),
        (
            "multipleOf implied by integer",
            json!({ "type": "integer" }),
            json!({ "multipleOf": 0.5 }),
            &[],
        ),
        (
            "multipleOf removed",
            json!({ "multipleOf": 5 }),
            json!({}),
            &[],
        ),
    ]);
}

#[test]
fn compat_size_limits() {
    table(&[
        (
            "minLength raised",
            json!({ "type": "string", "minLength": 1 }),
            json!({ "type": "string", "minLength": 3 }),
            &[("/minLength", "minLength raised from 1 to 3")],
        ),
        (
            "minLength added",
            json!({ "type": "string" }),
            json!({ "type": "string", "minLength": 1 }),
            &[("/minLength", "minLength 1 added")],
        ),
        (
            "minLength 0 added",
            json!({ "type": "string" }),
            json!({ "type": "string", "minLength": 0 }),
            &[],
        ),
        (
            "minLength lowered",
            json!({ "minLength": 3 }),
            json!({ "minLength": 1 }),
            &[],
        ),
        (
            "maxLength lowered",
            json!({ "maxLength": 64 }),
            json!({ "maxLength": 32 }),
            &[(
                "/maxLength",
                "maxLength lowered from 64 to 32: longer strings",
            )],
        ),
        (
            "maxLength added",
            json!({}),
            json!({ "maxLength": 32 }),
            &[("/maxLength", "maxLength 32 added")],
        ),
        (
            "maxLength raised",
            json!({ "maxLength": 32 }),
            json!({ "maxLength": 64 }),
            &[],
        ),
        (
            "minItems raised",
            json!({ "minItems": 1 }),
            json!({ "minItems": 2 }),
            &[("/minItems", "minItems raised from 1 to 2")],
        ),
        (
            "minItems lowered",
            json!({ "minItems": 2 }),
            json!({ "minItems": 1 }),
            &[],
        ),
        (
            "maxItems lowered",
            json!({ "maxItems": 5 }),
            json!({ "maxItems": 4 }),
            &[("/maxItems", "maxItems lowered from 5 to 4")],
        ),
        ("maxItems removed", json!({ "maxItems": 5 }), json!({}), &[]),
        (
            "minProperties raised",
            json!({ "minProperties": 1 }),
            json!({ "minProperties": 2 }),
            &[("/minProperties", "minProperties raised from 1 to 2")],
        ),
        (
            "maxProperties added",
            json!({}),
            json!({ "maxProperties": 3 }),
            &[("/maxProperties", "maxProperties 3 added")],
        ),
        (
            "maxProperties raised",
            json!({ "maxProperties": 3 }),
            json!({ "maxProperties": 4 }),
            &[],
        ),
        (
            "uniqueItems switched on",
            json!({ "type": "array", "uniqueItems": false }),
            json!({ "type": "array", "uniqueItems": true }),
            &[("/uniqueItems", "uniqueItems set to true")],
        ),
        (
            "uniqueItems switched off",
            json!({ "type": "array", "uniqueItems": true }),
            json!({ "type": "array", "uniqueItems": false }),
            &[],
        ),
    ]);
}
