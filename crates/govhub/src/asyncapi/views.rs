//! Payload schemas of the data-sharing views: a kind's schema as a subscriber sees it,
//! dropped fields removed, masked and hashed fields plain strings.

use govhub_schema::{KindSchema, Standard};
use serde_json::{Map, Value, json};

use super::AsyncApiError;
use super::inline::inline;
use crate::views::fields::segments;
use crate::views::{Action, DefaultAction, KindView};

/// The payload schema of `view` of `kind`: with `default` share the kind's schema with
/// the fields' actions applied, with `default` drop only the fields it shares, masks or
/// hashes (none of them required). Masked fields are optional strings (a masked value
/// that is not a string is left out); hashed fields strings of 32 hex digits.
pub(super) fn view_schema(
    standard: &Standard,
    kind: &KindSchema,
    view: &KindView,
) -> Result<Value, AsyncApiError> {
    let source = flatten(inline(standard, &kind.schema, &kind.id, &mut Vec::new())?);
    let mut out = match view.default {
        DefaultAction::Share => source.clone(),
        DefaultAction::Drop => object_like(&source),
    };
    if let Value::Object(map) = &mut out {
        map.retain(|key, _| !key.starts_with("x-govhub-") && key != "$id");
    }
    let mut rules: Vec<(Vec<String>, Action)> = view
        .fields
        .iter()
        .filter_map(|(pointer, action)| Some((segments(pointer)?, *action)))
        .collect();
    rules.sort();
    for (segs, action) in rules {
        let Some(node) = find(&source, &segs) else {
            continue;
        };
        match action {
            Action::Share => set(&mut out, &source, &segs, node.clone(), true),
            Action::Drop => remove(&mut out, &segs),
            Action::Mask => set(
                &mut out,
                &source,
                &segs,
                plain_string(
                    node,
                    "Masked by the view: resident IDs keep their first 6 and last 4 characters, \
                     phones their last 4, names their first character, other text its last 4; \
                     every other character is `*`. A value that is not a string is left out.",
                    None,
                ),
                false,
            ),
            Action::Hash => set(
                &mut out,
                &source,
                &segs,
                plain_string(
                    node,
                    "Hashed by the view: the first 32 hex digits of HMAC-SHA256 under the \
                     view's key of the value (a string as it is, anything else as compact \
                     JSON). Equal values have equal hashes within this view, across kinds.",
                    Some("^[0-9a-f]{32}$"),
                ),
                true,
            ),
        }
    }
    strip_min_properties(&mut out);
    Ok(out)
}

/// Removes `minProperties` from every object schema: a view can leave an object empty
/// (an `identifiers` whose only member it drops).
fn strip_min_properties(node: &mut Value) {
    let Value::Object(map) = node else {
        return;
    };
    map.remove("minProperties");
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(strip_min_properties);
    }
    if let Some(items) = map.get_mut("items") {
        strip_min_properties(items);
    }
}

/// `node` with the object schemas of its `allOf` merged into it (properties, required,
/// and keywords it lacks), recursively: inlining a `$ref` with siblings leaves one, and
/// a view needs one place per field.
fn flatten(node: Value) -> Value {
    let Value::Object(mut map) = node else {
        return node;
    };
    if let Some(Value::Array(branches)) = map.remove("allOf") {
        for branch in branches {
            let Value::Object(branch) = flatten(branch) else {
                continue;
            };
            for (key, value) in branch {
                match (key.as_str(), map.get_mut(&key), value) {
                    ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                        for (name, schema) in theirs {
                            mine.entry(name).or_insert(schema);
                        }
                    }
                    ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                        for name in theirs {
                            if !mine.contains(&name) {
                                mine.push(name);
                            }
                        }
                    }
                    (_, Some(_), _) => {}
                    (_, None, value) => {
                        map.insert(key, value);
                    }
                }
            }
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for schema in properties.values_mut() {
            *schema = flatten(std::mem::take(schema));
        }
    }
    if let Some(items) = map.get_mut("items") {
        *items = flatten(std::mem::take(items));
    }
    Value::Object(map)
}

/// An empty object schema with `source`'s annotations: where a view with `default`
/// drop puts what it shares.
fn object_like(source: &Value) -> Value {
    let mut out = Map::new();
    for key in ["$schema", "title", "description"] {
        if let Some(value) = source.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    out.insert("type".into(), json!("object"));
    out.insert("additionalProperties".into(), json!(false));
    out.insert("properties".into(), json!({}));
    Value::Object(out)
}

fn plain_string(source: &Value, how: &str, pattern: Option<&str>) -> Value {
    let mut out = Map::new();
    if let Some(title) = source.get("title") {
        out.insert("title".into(), title.clone());
    }
    out.insert("type".into(), json!("string"));
    out.insert("description".into(), json!(how));
    if let Some(pattern) = pattern {
        out.insert("pattern".into(), json!(pattern));
    }
    Value::Object(out)
}

fn find<'a>(schema: &'a Value, segs: &[String]) -> Option<&'a Value> {
    segs.iter()
        .try_fold(schema, |node, s| node.get("properties")?.get(s))
}

/// Puts `node` at `segs` in `out`, creating the objects on the way from `source`'s
/// annotations; unless `keep_required`, the field is no longer required.
fn set(out: &mut Value, source: &Value, segs: &[String], node: Value, keep_required: bool) {
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut here = out;
    let mut from = Some(source);
    for s in parents {
        from = from.and_then(|f| f.get("properties")?.get(s));
        let Some(properties) = here
            .as_object_mut()
            .map(|m| m.entry("properties").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        here = properties
            .entry(s.clone())
            .or_insert_with(|| object_like(from.unwrap_or(&Value::Null)));
    }
    let Some(map) = here.as_object_mut() else {
        return;
    };
    if !keep_required {
        unrequire(map, last);
    }
    if let Some(properties) = map
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        properties.insert(last.clone(), node);
    }
}

fn remove(out: &mut Value, segs: &[String]) {
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut here = out;
    for s in parents {
        match here.get_mut("properties").and_then(|p| p.get_mut(s)) {
            Some(next) => here = next,
            None => return,
        }
    }
    if let Some(map) = here.as_object_mut() {
        unrequire(map, last);
        if let Some(Value::Object(properties)) = map.get_mut("properties") {
            properties.remove(last);
        }
    }
}

fn unrequire(map: &mut Map<String, Value>, name: &str) {
    if let Some(Value::Array(required)) = map.get_mut("required") {
        required.retain(|r| r != name);
        if required.is_empty() {
            map.remove("required");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;

    fn view(default: DefaultAction, fields: &[(&str, Action)]) -> KindView {
        KindView {
            default,
            fields: fields
                .iter()
                .map(|(p, a)| ((*p).to_owned(), *a))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_listed_view_holds_only_its_fields() {
        let standard = Standard::embedded().unwrap();
        let kind = standard.latest("health.encounter").unwrap();
        let schema = view_schema(
            &standard,
            kind,
            &view(
                DefaultAction::Drop,
                &[
                    ("/encounter_id", Action::Share),
                    ("/patient/name", Action::Mask),
                    ("/patient/identifiers/resident_id", Action::Hash),
                    ("/diagnosis_codes", Action::Drop),
                ],
            ),
        )
        .unwrap();
        assert_eq!(
            schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["encounter_id", "patient"]
        );
        let patient = &schema["properties"]["patient"];
        assert_eq!(patient["additionalProperties"], false);
        let id = &patient["properties"]["identifiers"]["properties"]["resident_id"];
        assert_eq!(id["type"], "string");
        assert!(id.get("format").is_none());
        assert_eq!(patient["properties"]["name"]["type"], "string");
        assert!(schema.get("$id").is_none());
        assert!(schema.get("x-govhub-person").is_none());
        assert!(schema.get("required").is_none());
    }

    #[test]
    fn a_shared_view_loses_what_it_drops_from_properties_and_required() {
        let standard = Standard::embedded().unwrap();
        let kind = standard.latest("health.encounter").unwrap();
        let schema = view_schema(
            &standard,
            kind,
            &view(
                DefaultAction::Share,
                &[
                    ("/patient/name", Action::Drop),
                    ("/patient/contacts/phone", Action::Mask),
                    ("/facility", Action::Drop),
                ],
            ),
        )
        .unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(!required.contains(&"facility") && required.contains(&"patient"));
        assert!(schema["properties"].get("facility").is_none());
        let patient = &schema["properties"]["patient"];
        assert!(patient["properties"].get("name").is_none());
        assert!(!patient["required"].to_string().contains("\"name\""));
        assert!(patient.get("allOf").is_none());
        let phone = &patient["properties"]["contacts"]["properties"]["phone"];
        assert_eq!(phone["type"], "string");
        assert!(phone.get("format").is_none());
        // What the view leaves as it is keeps the standard's rules.
        assert_eq!(patient["properties"]["birth_date"]["format"], "date");
    }
}
