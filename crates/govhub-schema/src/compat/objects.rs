//! Objects: `required`, `properties` and `additionalProperties`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::summary::Summary;
use super::{Checker, Found, Node, Old, issue, quote};

pub(super) fn check_required(
    old: &[Node],
    summary: &Summary,
    schema: &Map<String, Value>,
    fragment: &Node,
    out: &mut Vec<Found>,
) {
    let Some(argument @ Value::Array(required)) = schema.get("required") else {
        return;
    };
    if summary.values_satisfy("required", argument) {
        return;
    }
    let path = fragment.child(&["required"]);
    for name in required.iter().filter_map(Value::as_str) {
        if summary.required.contains(name) {
            continue;
        }
        let why = match old_property(old, Some(name)) {
            Old::Forbidden => format!(
                "property {} became required but the old schema did not allow it: \
                 every object would be rejected",
                quote(name)
            ),
            Old::Constrained(_) => format!(
                "property {} became required: records without it would be rejected",
                quote(name)
            ),
        };
        out.push(issue(&path, why));
    }
}

impl Checker<'_> {
    pub(super) fn check_properties(
        &mut self,
        old: &[Node],
        fragment: &Node,
        schema: &Map<String, Value>,
        out: &mut Vec<Found>,
    ) {
        let Some(Value::Object(properties)) = schema.get("properties") else {
            return;
        };
        for name in properties.keys() {
            // A property the old schema forbade never occurs in old records, so whatever
            // the new schema demands of it cannot reject them.
            if let Old::Constrained(old_schemas) = old_property(old, Some(name)) {
                self.compare(&old_schemas, &fragment.child(&["properties", name]), out);
            }
        }
    }

    /// `additionalProperties` of the new fragment: checked against every property the old
    /// schema allowed that the fragment's `properties` does not name.
    pub(super) fn check_additional_properties(
        &mut self,
        old: &[Node],
        fragment: &Node,
        schema: &Map<String, Value>,
        out: &mut Vec<Found>,
    ) {
        let Some(rest) = schema.get("additionalProperties") else {
            return;
        };
        if rest == &Value::Bool(true) {
            return;
        }
        let known = property_names(schema);
        let rest_node = fragment.child(&["additionalProperties"]);
        let closed = rest == &Value::Bool(false);
        let old_names: BTreeSet<String> = old
            .iter()
            .filter_map(Node::object)
            .flat_map(property_names)
            .collect();
        for name in old_names.difference(&known) {
            if let Old::Constrained(old_schemas) = old_property(old, Some(name)) {
                if closed {
                    out.push(issue(
                        &rest_node,
                        format!(
                            "property {} removed: records carrying it would be rejected",
                            quote(name)
                        ),
                    ));
                } else {
                    self.compare(&old_schemas, &rest_node, out);
                }
            }
        }
        if let Old::Constrained(old_schemas) = old_property(old, None) {
            if closed {
                out.push(issue(
                    &rest_node,
                    format!(
                        "additionalProperties set to false: records with properties other \
                         than [{}] would be rejected",
                        known
                            .iter()
                            .map(|n| quote(n))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            } else {
                self.compare(&old_schemas, &rest_node, out);
            }
        }
    }
}

/// What the old schema says about property `name`, or with `None` about a property none
/// of its fragments names.
fn old_property(old: &[Node], name: Option<&str>) -> Old {
    let mut schemas = Vec::new();
    for node in old {
        let Some(schema) = node.object() else {
            continue;
        };
        let listed = name.and_then(|name| {
            let properties = schema.get("properties")?.as_object()?;
            Some((name, properties.get(name)?))
        });
        if let Some((name, property)) = listed {
            if property == &Value::Bool(false) {
                return Old::Forbidden;
            }
            schemas.push(node.child(&["properties", name]));
            continue;
        }
        // Without a regex engine a pattern may or may not match `name`: treating the
        // fragment as silent only makes the old side looser, i.e. reports more.
        if has_pattern_properties(schema) {
            continue;
        }
        match schema.get("additionalProperties") {
            Some(Value::Bool(false)) => return Old::Forbidden,
            Some(_) => schemas.push(node.child(&["additionalProperties"])),
            None => {}
        }
    }
    Old::Constrained(schemas)
}

fn has_pattern_properties(schema: &Map<String, Value>) -> bool {
    schema
        .get("patternProperties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// The names a schema lists under `properties`.
pub(super) fn property_names(schema: &Map<String, Value>) -> BTreeSet<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}
