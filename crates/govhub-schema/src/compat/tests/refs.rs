//! `$ref`s across files, fragments, cycles, and the URI helpers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Expected, assert_reports, table};
use crate::compat::check;
use crate::compat::refs::{find_anchor, percent_decode};
use crate::uri::join;

const PERSON_V1: &str = "https://govhub.invalid/schemas/common/person.v1.json";
const PERSON_V2: &str = "https://govhub.invalid/schemas/common/person.v2.json";

fn person(sexes: Value) -> Value {
    json!({
        "$id": "placeholder",
        "type": "object",
        "properties": { "sex": { "$ref": "#/$defs/sex" } },
        "$defs": { "sex": { "enum": sexes } }
    })
}

fn library() -> BTreeMap<String, Value> {
    let mut docs = BTreeMap::new();
    for (uri, sexes) in [
        (PERSON_V1, json!(["male", "female", "unknown"])),
        (PERSON_V2, json!(["male", "female"])),
    ] {
        let mut doc = person(sexes);
        doc["$id"] = json!(uri);
        docs.insert(uri.to_owned(), doc);
    }
    docs
}

fn enrollment(version: u32, student_ref: &str) -> Value {
    json!({
        "$id": format!("https://govhub.invalid/schemas/education/enrollment.v{version}.json"),
        "type": "object",
        "properties": { "student": { "$ref": student_ref } }
    })
}

#[test]
fn compat_cross_file_ref() {
    let docs = library();
    let resolve = |uri: &str| {
        assert!(!uri.contains('#'), "the resolver gets no fragment: {uri}");
        docs.get(uri).cloned()
    };
    let cases: [(&str, Value, Value, Expected); 5] = [
        (
            "shared definition narrowed",
            enrollment(1, PERSON_V1),
            enrollment(2, PERSON_V2),
            &[(
                "/properties/student/$ref/properties/sex/$ref/enum",
                "enum value \"unknown\" removed",
            )],
        ),
        (
            "same shared definition",
            enrollment(1, PERSON_V1),
            enrollment(2, PERSON_V1),
            &[],
        ),
        (
            "fragment into another file, relative URI",
            enrollment(1, &format!("{PERSON_V1}#/$defs/sex")),
            enrollment(2, "../common/person.v2.json#/$defs/sex"),
            &[(
                "/properties/student/$ref/enum",
                "enum value \"unknown\" removed",
            )],
        ),
        (
            "shared definition widened",
            enrollment(1, PERSON_V2),
            enrollment(2, PERSON_V1),
            &[],
        ),
        (
            "unresolvable reference",
            enrollment(1, PERSON_V1),
            enrollment(2, "https://govhub.invalid/schemas/common/missing.v1.json"),
            &[("/properties/student/$ref", "cannot be resolved")],
        ),
    ];
    for (name, old, new, expected) in cases {
        assert_reports(name, &check(&old, &new, &resolve), expected);
    }
}

fn tree(name_schema: Value) -> Value {
    json!({
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "name": name_schema,
                    "children": { "type": "array", "items": { "$ref": "#/$defs/node" } },
                    "parent": { "$ref": "#" }
                }
            }
        }
    })
}

#[test]
fn compat_ref_cycles_terminate() {
    table(&[
        (
            "recursive schema unchanged",
            tree(json!({ "type": "string" })),
            tree(json!({ "type": "string" })),
            &[],
        ),
        (
            "recursive schema narrowed",
            tree(json!({ "type": "string" })),
            tree(json!({ "type": "string", "maxLength": 8 })),
            &[("/$ref/properties/name/maxLength", "maxLength 8 added")],
        ),
        (
            "self reference",
            json!({ "$ref": "#" }),
            json!({ "$ref": "#" }),
            &[],
        ),
    ]);

    let a = "https://govhub.invalid/schemas/common/a.v1.json";
    let b = "https://govhub.invalid/schemas/common/b.v1.json";
    let mut docs = BTreeMap::new();
    docs.insert(
        a.to_owned(),
        json!({ "$id": a, "properties": { "b": { "$ref": b } } }),
    );
    docs.insert(
        b.to_owned(),
        json!({ "$id": b, "properties": { "a": { "$ref": a } } }),
    );
    let resolve = |uri: &str| docs.get(uri).cloned();
    let old = json!({ "properties": { "root": { "$ref": a } } });
    let new = json!({ "properties": { "root": { "$ref": a } }, "maxProperties": 3 });
    assert_reports(
        "mutual recursion across files",
        &check(&old, &new, &resolve),
        &[("/maxProperties", "maxProperties 3 added")],
    );
}

#[test]
fn compat_helpers() {
    let base = "https://govhub.invalid/schemas/education/enrollment.v1.json";
    assert_eq!(
        join(base, "../common/person.v1.json"),
        "https://govhub.invalid/schemas/common/person.v1.json"
    );
    assert_eq!(join(base, "/x.json"), "https://govhub.invalid/x.json");
    assert_eq!(join(base, "urn:x"), "urn:x");
    assert_eq!(
        percent_decode("/$defs/a%20b").as_deref(),
        Some("/$defs/a b")
    );
    assert_eq!(
        find_anchor(
            &json!({ "$defs": { "x": { "$anchor": "here" } } }),
            "",
            "here"
        )
        .as_deref(),
        Some("/$defs/x")
    );
}
