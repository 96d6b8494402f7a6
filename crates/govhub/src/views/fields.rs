//! Where a view's field pointer leads in a kind's schema: whether the field exists, and
//! its `format` and `title`, which choose how it is masked.

use govhub_schema::{KindSchema, Standard};
use serde_json::Value;

use crate::asyncapi::inline::inline;

/// How a masked string is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskRule {
    /// A resident ID (`format: cn-resident-id`): first 6 and last 4 characters kept.
    ResidentId,
    /// A mobile phone (`format: cn-mobile`): last 4 characters kept.
    Phone,
    /// A person's name (a title with 姓名): first character kept.
    Name,
    /// Any other text: last 4 characters kept.
    Text,
}

/// A field of a kind's schema, as far as a view cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Its `format`, if the schema gives one.
    pub format: Option<String>,
    /// Its `title`, if the schema gives one.
    pub title: Option<String>,
}

impl Field {
    /// The masking rule the field's format or title calls for.
    pub fn mask_rule(&self) -> MaskRule {
        match self.format.as_deref() {
            Some("cn-resident-id") => MaskRule::ResidentId,
            Some("cn-mobile") => MaskRule::Phone,
            _ if self.title.as_deref().is_some_and(|t| t.contains("姓名")) => MaskRule::Name,
            _ => MaskRule::Text,
        }
    }
}

/// `kind`'s schema with every `$ref` (to the common schemas too) replaced by its
/// target, so pointers can be walked through `properties` alone.
pub fn inlined(standard: &Standard, kind: &KindSchema) -> Result<Value, String> {
    inline(standard, &kind.schema, &kind.id, &mut Vec::new()).map_err(|e| e.to_string())
}

/// The reference tokens of a JSON pointer (`~1` → `/`, `~0` → `~`); `None` for a string
/// that is not a pointer to a member (empty, or not starting with `/`).
pub fn segments(pointer: &str) -> Option<Vec<String>> {
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// The field `pointer` names in `schema` (inlined by [`inlined`]), or why it names
/// none. Pointers through arrays are refused: a view acts on an array as a whole.
pub fn locate(schema: &Value, pointer: &str) -> Result<Field, String> {
    let Some(segments) = segments(pointer) else {
        return Err("must be a JSON pointer to a field, starting with \"/\"".into());
    };
    let mut node = schema;
    for (depth, segment) in segments.iter().enumerate() {
        match property(node, segment, 0) {
            Some(child) => node = child,
            None if is_array(node, 0) => {
                let array = segments[..depth]
                    .iter()
                    .fold(String::new(), |acc, s| format!("{acc}/{s}"));
                return Err(format!(
                    "{array} is an array: a view acts on an array as a whole (fields of its items cannot be chosen)"
                ));
            }
            None => return Err("the kind's schema has no such field".into()),
        }
    }
    Ok(Field {
        format: keyword(node, "format", 0),
        title: keyword(node, "title", 0),
    })
}

/// The schema of property `name` of `node`, looking into `allOf`/`anyOf`/`oneOf`.
fn property<'a>(node: &'a Value, name: &str, depth: usize) -> Option<&'a Value> {
    if depth > 16 {
        return None;
    }
    if let Some(child) = node.get("properties").and_then(|p| p.get(name)) {
        return Some(child);
    }
    branches(node).find_map(|b| property(b, name, depth + 1))
}

/// Whether `node` describes an array (has `items`, itself or in a combinator).
fn is_array(node: &Value, depth: usize) -> bool {
    depth <= 16 && (node.get("items").is_some() || branches(node).any(|b| is_array(b, depth + 1)))
}

/// A string keyword of `node` or, failing that, of one of its combinators' branches.
fn keyword(node: &Value, name: &str, depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    if let Some(value) = node.get(name).and_then(Value::as_str) {
        return Some(value.to_owned());
    }
    branches(node).find_map(|b| keyword(b, name, depth + 1))
}

fn branches(node: &Value) -> impl Iterator<Item = &Value> {
    ["allOf", "anyOf", "oneOf"]
        .into_iter()
        .filter_map(|c| node.get(c).and_then(Value::as_array))
        .flatten()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn encounter() -> Value {
        let standard = Standard::embedded().unwrap();
        inlined(&standard, standard.latest("health.encounter").unwrap()).unwrap()
    }

    #[test]
    fn pointers_follow_refs_into_the_common_schemas() {
        let schema = encounter();
        let id = locate(&schema, "/patient/identifiers/resident_id").unwrap();
        assert_eq!(id.mask_rule(), MaskRule::ResidentId);
        let phone = locate(&schema, "/patient/contacts/phone").unwrap();
        assert_eq!(phone.mask_rule(), MaskRule::Phone);
        assert_eq!(
            locate(&schema, "/patient/name").unwrap().mask_rule(),
            MaskRule::Name
        );
        assert_eq!(
            locate(&schema, "/facility/name").unwrap().mask_rule(),
            MaskRule::Text
        );
        assert_eq!(
            locate(&schema, "/encounter_id").unwrap().mask_rule(),
            MaskRule::Text
        );
        assert!(locate(&schema, "/diagnosis_codes").is_ok());
        assert!(locate(&schema, "/patient").is_ok());
    }

    #[test]
    fn unknown_fields_and_fields_inside_arrays_are_refused() {
        let schema = encounter();
        assert_eq!(
            locate(&schema, "/patient/nmae").unwrap_err(),
            "the kind's schema has no such field"
        );
        assert!(locate(&schema, "patient").is_err());
        assert!(locate(&schema, "").is_err());
        let err = locate(&schema, "/diagnosis_codes/0").unwrap_err();
        assert!(err.starts_with("/diagnosis_codes is an array"), "{err}");
        let err = locate(&schema, "/patient/identifiers/others/-/number").unwrap_err();
        assert!(
            err.starts_with("/patient/identifiers/others is an array"),
            "{err}"
        );
    }
}
