//! Arrays: `prefixItems` and `items`.

use serde_json::{Map, Value};

use super::summary::Summary;
use super::types::json_eq;
use super::{Checker, Found, Node, Old, issue};

impl Checker<'_> {
    pub(super) fn check_items(
        &mut self,
        old: &[Node],
        summary: &Summary,
        fragment: &Node,
        schema: &Map<String, Value>,
        out: &mut Vec<Found>,
    ) {
        let prefix = schema
            .get("prefixItems")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        for index in 0..prefix {
            if let Old::Constrained(old_schemas) = old_item(old, summary, index) {
                let new_schema = fragment.child(&["prefixItems", &index.to_string()]);
                self.compare(&old_schemas, &new_schema, out);
            }
        }
        let Some(items) = schema.get("items") else {
            return;
        };
        let items_node = fragment.child(&["items"]);
        match items {
            Value::Bool(true) => return,
            Value::Array(_) => {
                // Draft 2019-09 tuple form: not 2020-12, so only an unchanged copy passes.
                let unchanged = old.iter().filter_map(Node::object).any(|o| {
                    o.get("items")
                        .is_some_and(|old_items| json_eq(old_items, items))
                });
                if !unchanged {
                    out.push(issue(
                        &items_node,
                        "items (array form) added or changed: compatibility cannot be proven"
                            .into(),
                    ));
                }
                return;
            }
            _ => {}
        }
        // Indices between the new and the old tuple length get the old tuple's schemas;
        // the last index stands for every index past both tuples.
        for index in prefix..=prefix.max(max_prefix(old)) {
            let Old::Constrained(old_schemas) = old_item(old, summary, index) else {
                continue;
            };
            if items == &Value::Bool(false) {
                out.push(issue(
                    &items_node,
                    format!(
                        "items set to false: arrays with more than {prefix} items would be \
                         rejected"
                    ),
                ));
                return;
            }
            self.compare(&old_schemas, &items_node, out);
        }
    }
}

/// What the old schema says about array index `index`.
fn old_item(old: &[Node], summary: &Summary, index: usize) -> Old {
    #[allow(clippy::cast_precision_loss)]
    let position = index as f64;
    if summary.count("maxItems").is_some_and(|max| position >= max) {
        return Old::Forbidden;
    }
    let mut schemas = Vec::new();
    for node in old {
        let Some(schema) = node.object() else {
            continue;
        };
        let prefix = schema.get("prefixItems").and_then(Value::as_array);
        if let Some(item) = prefix.and_then(|p| p.get(index)) {
            if item == &Value::Bool(false) {
                return Old::Forbidden;
            }
            schemas.push(node.child(&["prefixItems", &index.to_string()]));
            continue;
        }
        match schema.get("items") {
            Some(Value::Bool(false)) => return Old::Forbidden,
            Some(Value::Object(_) | Value::Bool(true)) => {
                schemas.push(node.child(&["items"]));
            }
            _ => {}
        }
    }
    Old::Constrained(schemas)
}

/// The longest `prefixItems` among the fragments.
pub(super) fn max_prefix(fragments: &[Node]) -> usize {
    fragments
        .iter()
        .filter_map(Node::object)
        .filter_map(|o| o.get("prefixItems").and_then(Value::as_array))
        .map(Vec::len)
        .max()
        .unwrap_or(0)
}
