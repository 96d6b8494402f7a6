//! Inlining the standard's `$ref`s, so every payload schema stands alone.

use govhub_schema::Standard;
use serde_json::{Map, Value, json};

use super::AsyncApiError;
use govhub_schema::uri::join;

// -------------------------------------------------------------------------------------
// Inlining `$ref`s.
// -------------------------------------------------------------------------------------

/// Keywords that only annotate: a `$ref` with nothing else beside them is replaced by its
/// target with these laid over it.
pub(super) const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "$comment",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Keywords whose values are data, not schemas: copied as they are.
pub(super) const DATA: &[&str] = &["enum", "const", "examples", "default"];

/// `node` with every `$ref` replaced by the schema it points at (in `standard`),
/// recursively. `base` is the URI relative references resolve against; `stack` the
/// references being inlined, to refuse recursion.
pub(crate) fn inline(
    standard: &Standard,
    node: &Value,
    base: &str,
    stack: &mut Vec<String>,
) -> Result<Value, AsyncApiError> {
    let map = match node {
        Value::Object(map) => map,
        Value::Array(items) => {
            return items
                .iter()
                .map(|item| inline(standard, item, base, stack))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        scalar => return Ok(scalar.clone()),
    };
    let base = match map.get("$id").and_then(Value::as_str) {
        Some(id) => join(base, id),
        None => base.to_owned(),
    };
    let mut out = Map::new();
    for (key, value) in map {
        if key == "$ref" {
            continue;
        }
        let value = if DATA.contains(&key.as_str()) {
            value.clone()
        } else {
            inline(standard, value, &base, stack)?
        };
        out.insert(key.clone(), value);
    }
    let Some(reference) = map.get("$ref") else {
        return Ok(Value::Object(out));
    };
    let error = |reference: &str, reason: &str| AsyncApiError::Ref {
        schema: base.clone(),
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    let Some(reference) = reference.as_str() else {
        return Err(error(&reference.to_string(), "$ref is not a string"));
    };
    let target_uri = join(&base, reference);
    if stack.contains(&target_uri) {
        return Err(error(&target_uri, "it refers to itself"));
    }
    let (resource_id, pointer) = target_uri
        .split_once('#')
        .unwrap_or((target_uri.as_str(), ""));
    let Some(resource) = standard.resource(resource_id) else {
        return Err(error(&target_uri, "no file of the standard has this $id"));
    };
    let Some(target) = resource.pointer(pointer) else {
        return Err(error(
            &target_uri,
            "the fragment points nowhere in that file",
        ));
    };
    stack.push(target_uri.clone());
    let target = inline(standard, target, resource_id, stack);
    stack.pop();
    let mut target = target?;
    if let Some(target) = target.as_object_mut() {
        for key in ["$id", "$schema", "$defs"] {
            target.remove(key);
        }
    }
    let only_annotations = out.keys().all(|k| ANNOTATIONS.contains(&k.as_str()));
    match target {
        Value::Object(mut target) if only_annotations => {
            target.extend(out);
            Ok(Value::Object(target))
        }
        target => {
            match out.get_mut("allOf") {
                Some(Value::Array(all)) => all.push(target),
                _ => {
                    out.insert("allOf".into(), json!([target]));
                }
            }
            Ok(Value::Object(out))
        }
    }
}
