//! `type`, `enum` and `const`, and the type sets ("atoms") the rest of the check uses to
//! skip keywords that cannot apply to any old value.

use serde_json::{Map, Value};

use super::summary::Summary;
use super::{Found, Node, issue};

pub(super) const NULL: u8 = 1;
pub(super) const BOOLEAN: u8 = 2;
pub(super) const OBJECT: u8 = 4;
pub(super) const ARRAY: u8 = 8;
pub(super) const STRING: u8 = 16;
pub(super) const INTEGER: u8 = 32;
/// Numbers with a fractional part: `number` is `INTEGER | FRACTION`, so integer ⊂ number
/// falls out of plain set arithmetic.
pub(super) const FRACTION: u8 = 64;
pub(super) const NUMBER: u8 = INTEGER | FRACTION;
pub(super) const ANY: u8 = 127;

pub(super) fn check_type(
    summary: &Summary,
    schema: &Map<String, Value>,
    fragment: &Node,
    out: &mut Vec<Found>,
) {
    let Some(new_atoms) = schema.get("type").and_then(type_atoms) else {
        return;
    };
    let lost = summary.atoms & !new_atoms;
    if lost != 0 {
        out.push(issue(
            &fragment.child(&["type"]),
            format!(
                "type narrowed from {} to {}: {} values would be rejected",
                describe_atoms(summary.atoms),
                describe_atoms(new_atoms),
                describe_atoms(lost)
            ),
        ));
    }
}

pub(super) fn check_values(
    summary: &Summary,
    schema: &Map<String, Value>,
    fragment: &Node,
    out: &mut Vec<Found>,
) {
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        let path = fragment.child(&["enum"]);
        match &summary.values {
            Some(values) => {
                for value in values {
                    if !allowed.iter().any(|a| json_eq(a, value)) {
                        out.push(issue(
                            &path,
                            format!(
                                "enum value {value} removed: records using it would be rejected"
                            ),
                        ));
                    }
                }
            }
            None => out.push(issue(
                &path,
                "enum added where none was: values outside the list would be rejected".into(),
            )),
        }
    }
    if let Some(constant) = schema.get("const") {
        let why = match &summary.values {
            None => format!("const {constant} added: every other value would be rejected"),
            Some(values) => {
                let lost: Vec<String> = values
                    .iter()
                    .filter(|value| !json_eq(value, constant))
                    .map(Value::to_string)
                    .collect();
                if lost.is_empty() {
                    return;
                }
                match values.as_slice() {
                    [only] => format!(
                        "const changed from {only} to {constant}: records with {only} would be \
                         rejected"
                    ),
                    _ => format!(
                        "const {constant} added: records with {} would be rejected",
                        lost.join(", ")
                    ),
                }
            }
        };
        out.push(issue(&fragment.child(&["const"]), why));
    }
}

pub(super) fn type_atoms(value: &Value) -> Option<u8> {
    let atom = |name: &str| match name {
        "null" => NULL,
        "boolean" => BOOLEAN,
        "object" => OBJECT,
        "array" => ARRAY,
        "string" => STRING,
        "integer" => INTEGER,
        "number" => NUMBER,
        _ => 0,
    };
    match value {
        Value::String(name) => Some(atom(name)),
        Value::Array(names) => Some(
            names
                .iter()
                .filter_map(Value::as_str)
                .fold(0, |acc, name| acc | atom(name)),
        ),
        _ => None,
    }
}

pub(super) fn value_atom(value: &Value) -> u8 {
    match value {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::Object(_) => OBJECT,
        Value::Array(_) => ARRAY,
        Value::String(_) => STRING,
        Value::Number(n) => {
            // 2020-12 counts 1.0 as an integer.
            let integral = n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0);
            if integral { INTEGER } else { FRACTION }
        }
    }
}

fn describe_atoms(atoms: u8) -> String {
    if atoms == ANY {
        return "any type".into();
    }
    let mut names = Vec::new();
    for (atom, name) in [
        (NULL, "null"),
        (BOOLEAN, "boolean"),
        (OBJECT, "object"),
        (ARRAY, "array"),
        (STRING, "string"),
    ] {
        if atoms & atom != 0 {
            names.push(name);
        }
    }
    match atoms & NUMBER {
        NUMBER => names.push("number"),
        INTEGER => names.push("integer"),
        FRACTION => names.push("non-integer number"),
        _ => {}
    }
    names.join(", ")
}

/// JSON Schema equality: numbers compare by value, so `1` equals `1.0`.
pub(super) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, value)| y.get(key).is_some_and(|other| json_eq(value, other)))
        }
        _ => a == b,
    }
}
