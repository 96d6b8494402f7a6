//! Keywords whose effect is not modelled (`if`/`then`/`else`, `contains`,
//! `patternProperties`, `unevaluated*`, …): the new schema may only keep them unchanged.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::arrays::max_prefix;
use super::objects::property_names;
use super::summary::Summary;
use super::types::{ANY, ARRAY, OBJECT, json_eq};
use super::{Checker, Found, Node, issue};

/// Each group is compared as a whole because its members only mean something together;
/// the type is the one the group applies to.
const OPAQUE_GROUPS: [(&[&str], u8); 11] = [
    (&["if", "then", "else"], ANY),
    (&["contains", "minContains", "maxContains"], ARRAY),
    (&["propertyNames"], OBJECT),
    (&["patternProperties"], OBJECT),
    (&["dependentRequired"], OBJECT),
    (&["dependentSchemas"], OBJECT),
    (&["dependencies"], OBJECT),
    (&["unevaluatedProperties"], OBJECT),
    (&["unevaluatedItems"], ARRAY),
    (&["additionalItems"], ARRAY),
    (&["$dynamicRef", "$recursiveRef"], ANY),
];

/// Keywords whose value is one schema, for the equivalence test of opaque groups.
const SCHEMA_VALUED: [&str; 8] = [
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
];

/// Keywords whose value maps names to schemas, compared name by name.
const SCHEMA_MAPS: [&str; 2] = ["patternProperties", "dependentSchemas"];

impl Checker<'_> {
    pub(super) fn check_opaque(
        &mut self,
        old: &[Node],
        summary: &Summary,
        siblings: &[Node],
        fragment: &Node,
        schema: &Map<String, Value>,
        out: &mut Vec<Found>,
    ) {
        for (group, atoms) in OPAQUE_GROUPS {
            if summary.atoms & atoms == 0 {
                continue;
            }
            let Some(first) = group.iter().find(|k| schema.contains_key(**k)) else {
                continue;
            };
            // `if` without `then`/`else`, and `minContains` without `contains`, constrain
            // nothing.
            let inert = match group[0] {
                "if" => !schema.contains_key("then") && !schema.contains_key("else"),
                "contains" => !schema.contains_key("contains"),
                _ => false,
            };
            if inert {
                continue;
            }
            let mut unchanged = old
                .iter()
                .any(|candidate| self.same_group(candidate, fragment, group));
            if unchanged && group[0] == "unevaluatedProperties" {
                // Same keyword, but the set of evaluated properties may have shrunk.
                unchanged = evaluated_names(siblings).is_superset(&evaluated_names(old));
            }
            if unchanged && group[0] == "unevaluatedItems" {
                unchanged = max_prefix(siblings) >= max_prefix(old);
            }
            if !unchanged {
                out.push(issue(
                    &fragment.child(&[first]),
                    format!(
                        "{} added or changed: compatibility cannot be proven",
                        group.join("/")
                    ),
                ));
            }
        }
    }

    /// Whether `old` and `new` say the same with the keywords of `group`: schemas compared
    /// for equivalence, anything else for equality.
    fn same_group(&mut self, old: &Node, new: &Node, group: &[&str]) -> bool {
        let (Some(old_schema), Some(new_schema)) = (old.object(), new.object()) else {
            return false;
        };
        group.iter().all(
            |keyword| match (old_schema.get(*keyword), new_schema.get(*keyword)) {
                (None, None) => true,
                (Some(_), None) | (None, Some(_)) => false,
                (Some(_), Some(_)) if SCHEMA_VALUED.contains(keyword) => {
                    self.equivalent(&old.child(&[keyword]), &new.child(&[keyword]))
                }
                (Some(a), Some(b)) if SCHEMA_MAPS.contains(keyword) => match (a, b) {
                    (Value::Object(a), Value::Object(b)) => {
                        a.len() == b.len()
                            && a.keys().all(|key| {
                                b.contains_key(key)
                                    && self.equivalent(
                                        &old.child(&[keyword, key]),
                                        &new.child(&[keyword, key]),
                                    )
                            })
                    }
                    _ => false,
                },
                (Some(a), Some(b)) => json_eq(a, b),
            },
        )
    }
}

/// Property names that `unevaluatedProperties` treats as evaluated, approximated by the
/// fragments' own `properties` and those of their direct subschema branches.
fn evaluated_names(fragments: &[Node]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for schema in fragments.iter().filter_map(Node::object) {
        names.extend(property_names(schema));
        for keyword in ["anyOf", "oneOf"] {
            for branch in schema
                .get(keyword)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                names.extend(property_names(branch));
            }
        }
        for keyword in ["then", "else"] {
            if let Some(branch) = schema.get(keyword).and_then(Value::as_object) {
                names.extend(property_names(branch));
            }
        }
    }
    names
}
