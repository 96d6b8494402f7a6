//! `type`, `enum`, `const` and boolean schemas.

use serde_json::{Value, json};

use super::{object, table};

#[test]
fn compat_type() {
    table(&[
        (
            "number to integer",
            json!({ "type": "number" }),
            json!({ "type": "integer" }),
            &[(
                "/type",
                "type narrowed from number to integer: non-integer number values",
            )],
        ),
        (
            "integer to number",
            json!({ "type": "integer" }),
            json!({ "type": "number" }),
            &[],
        ),
        (
            "null dropped",
            json!({ "type": ["string", "null"] }),
            json!({ "type": "string" }),
            &[("/type", "null values would be rejected")],
        ),
        (
            "null added",
            json!({ "type": "string" }),
            json!({ "type": ["null", "string"] }),
            &[],
        ),
        (
            "type added where none was",
            json!({}),
            json!({ "type": "string" }),
            &[("/type", "type narrowed from any type to string")],
        ),
        (
            "type added matching the old enum",
            json!({ "enum": ["male", "female"] }),
            json!({ "type": "string", "enum": ["male", "female"] }),
            &[],
        ),
        (
            "type moved into allOf",
            json!({ "type": "integer" }),
            json!({ "allOf": [{ "type": "number" }, { "type": "integer" }] }),
            &[],
        ),
    ]);
}

#[test]
fn compat_enum_and_const() {
    let sex = |values: Value| object(json!({ "sex": { "enum": values } }));
    table(&[
        (
            "enum shrunk",
            sex(json!(["male", "female", "unknown"])),
            sex(json!(["male", "female"])),
            &[(
                "/properties/sex/enum",
                "enum value \"unknown\" removed: records using it would be rejected",
            )],
        ),
        (
            "enum grown",
            sex(json!(["male", "female"])),
            sex(json!(["male", "female", "unknown"])),
            &[],
        ),
        (
            "enum reordered, numbers compared by value",
            json!({ "enum": [1, 2.0, "x"] }),
            json!({ "enum": ["x", 2, 1.0] }),
            &[],
        ),
        (
            "enum added where none was",
            json!({ "type": "string" }),
            json!({ "type": "string", "enum": ["a"] }),
            &[("/enum", "enum added where none was")],
        ),
        (
            "enum listing every boolean",
            json!({ "type": "boolean" }),
            json!({ "enum": [true, false] }),
            &[],
        ),
        (
            "const added",
            json!({ "type": "string" }),
            json!({ "const": "a" }),
            &[("/const", "const \"a\" added")],
        ),
        (
            "const changed",
            json!({ "const": "a" }),
            json!({ "const": "b" }),
            &[("/const", "const changed from \"a\" to \"b\"")],
        ),
        (
            "enum narrowed to const",
            json!({ "enum": ["a", "b"] }),
            json!({ "const": "a" }),
            &[("/const", "records with \"b\" would be rejected")],
        ),
        (
            "const widened to enum",
            json!({ "const": "a" }),
            json!({ "enum": ["a", "b"] }),
            &[],
        ),
        ("const removed", json!({ "const": "a" }), json!({}), &[]),
    ]);
}

#[test]
fn compat_boolean_schemas() {
    table(&[
        (
            "property schema became false",
            object(json!({ "a": true })),
            object(json!({ "a": false })),
            &[("/properties/a", "schema is false")],
        ),
        (
            "object schema became false",
            object(json!({ "a": { "type": "string" } })),
            object(json!({ "a": false })),
            &[("/properties/a", "schema is false")],
        ),
        (
            "root became false",
            json!(true),
            json!(false),
            &[("", "schema is false")],
        ),
        (
            "false became anything",
            json!(false),
            json!({ "type": "null" }),
            &[],
        ),
        (
            "object became true",
            json!({ "type": "string" }),
            json!(true),
            &[],
        ),
        (
            "forbidden property gets a schema",
            object(json!({ "a": false })),
            object(json!({ "a": { "type": "string" } })),
            &[],
        ),
    ]);
}
