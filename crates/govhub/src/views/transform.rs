//! The pure functions of a view: masking, the keyed hash, and a record through a view.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::config::{Action, DefaultAction};
use super::fields::MaskRule;

/// Hex digits of a hashed value: 128 bits of the HMAC.
pub const HASH_HEX_LEN: usize = 32;

/// `text` with everything but its first `keep_start` and last `keep_end` characters
/// replaced by `*`; entirely `*` when it is too short to keep that much and still hide
/// something.
fn stars(text: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= keep_start + keep_end {
        return "*".repeat(chars.len());
    }
    let hidden = chars.len() - keep_start - keep_end;
    let mut out: String = chars[..keep_start].iter().collect();
    out.push_str(&"*".repeat(hidden));
    out.extend(&chars[chars.len() - keep_end..]);
    out
}

/// A string masked by `rule`: a resident ID keeps its first 6 and last 4 characters
/// (`110105********002X`), a phone its last 4 (`*******1234`), a name its first
/// character (`张**`), other text its last 4. A string too short for the rule to hide
/// anything becomes all `*`.
pub fn mask_str(text: &str, rule: MaskRule) -> String {
    match rule {
        MaskRule::ResidentId => stars(text, 6, 4),
        MaskRule::Phone | MaskRule::Text => stars(text, 0, 4),
        MaskRule::Name => stars(text, 1, 0),
    }
}

/// A value masked by `rule`; `None` (the field is left out) for anything but a string.
pub fn mask(value: &Value, rule: MaskRule) -> Option<Value> {
    value.as_str().map(|s| Value::String(mask_str(s, rule)))
}

/// The text a value is hashed as: a string itself, anything else its compact JSON
/// (members in key order), so equal values hash equally wherever they occur.
pub fn canonical_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// HMAC-SHA256 of the value's [`canonical_text`] under `key`, the first
/// [`HASH_HEX_LEN`] hex digits.
pub fn hash(value: &Value, key: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; `new_from_slice` is merely
    // the generic interface.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(canonical_text(value).as_bytes());
    let mut out = hex::encode(mac.finalize().into_bytes());
    out.truncate(HASH_HEX_LEN);
    out
}

/// One field rule of a view, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The field's pointer, as configured.
    pub pointer: String,
    /// Its reference tokens.
    pub segments: Vec<String>,
    /// What it gets.
    pub action: Action,
    /// How it is masked, when it is.
    pub mask: MaskRule,
}

/// What applying a view did to one field that the record has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The field's pointer.
    pub pointer: String,
    /// What it got (a masked non-string counts as dropped).
    pub action: Action,
}

/// `data` as a view sees it: with `default` share the record with the rules applied,
/// with `default` drop only what the rules share, mask or hash. `rules` must be sorted
/// by pointer (a field before the fields under it), so a longer pointer overrides a
/// shorter one. Returns the view's data and what happened to each field the record has.
pub fn apply(
    data: &Value,
    default: DefaultAction,
    rules: &[Rule],
    key: &[u8],
) -> (Value, Vec<Applied>) {
    let mut out = match default {
        DefaultAction::Share => data.clone(),
        DefaultAction::Drop => Value::Object(Map::new()),
    };
    let mut applied = Vec::new();
    for rule in rules {
        let Some(value) = get(data, &rule.segments) else {
            remove(&mut out, &rule.segments);
            continue;
        };
        let (result, action) = match rule.action {
            Action::Share => (Some(value.clone()), Action::Share),
            Action::Drop => (None, Action::Drop),
            Action::Hash => (Some(Value::String(hash(value, key))), Action::Hash),
            Action::Mask => match mask(value, rule.mask) {
                Some(masked) => (Some(masked), Action::Mask),
                None => (None, Action::Drop),
            },
        };
        match result {
            Some(v) => set(&mut out, &rule.segments, v),
            None => remove(&mut out, &rule.segments),
        }
        applied.push(Applied {
            pointer: rule.pointer.clone(),
            action,
        });
    }
    (out, applied)
}

fn get<'a>(data: &'a Value, segments: &[String]) -> Option<&'a Value> {
    segments
        .iter()
        .try_fold(data, |node, s| node.as_object()?.get(s))
}

/// Sets the member at `segments`, creating the objects on the way.
fn set(out: &mut Value, segments: &[String], value: Value) {
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut node = out;
    for s in parents {
        let Some(map) = node.as_object_mut() else {
            return;
        };
        node = map
            .entry(s.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.insert(last.clone(), value);
    }
}

fn remove(out: &mut Value, segments: &[String]) {
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut node = out;
    for s in parents {
        match node.as_object_mut().and_then(|m| m.get_mut(s)) {
            Some(child) => node = child,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(last);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_follow_the_kind_of_field() {
        assert_eq!(
            mask_str("11010519491231002X", MaskRule::ResidentId),
            "110105********002X"
        );
        assert_eq!(mask_str("13812341234", MaskRule::Phone), "*******1234");
        assert_eq!(mask_str("张三丰", MaskRule::Name), "张**");
        assert_eq!(mask_str("阿依古丽·买买提", MaskRule::Name), "阿*******");
        assert_eq!(
            mask_str("ENC-2026-000123", MaskRule::Text),
            "***********0123"
        );
        // Too short to keep anything and still hide something: all hidden.
        assert_eq!(mask_str("1234", MaskRule::Text), "****");
        assert_eq!(mask_str("张", MaskRule::Name), "*");
        assert_eq!(mask_str("1101051949", MaskRule::ResidentId), "**********");
        assert_eq!(mask(&json!(42), MaskRule::Text), None);
        assert_eq!(mask(&json!(["J18.900"]), MaskRule::Text), None);
    }

    #[test]
    fn hashes_are_keyed_and_stable() {
        let id = json!("11010519491231002X");
        let a = hash(&id, b"key-a");
        assert_eq!(a.len(), HASH_HEX_LEN);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, hash(&id, b"key-a"));
        assert_ne!(a, hash(&id, b"key-b"));
        assert_ne!(a, hash(&json!("11010519491231003X"), b"key-a"));
        assert_eq!(
            hash(&json!({"b": 1, "a": 2}), b"k"),
            hash(&json!({"a": 2, "b": 1}), b"k")
        );
    }

    fn rule(pointer: &str, action: Action, mask: MaskRule) -> Rule {
        Rule {
            pointer: pointer.into(),
            segments: super::super::fields::segments(pointer).unwrap(),
            action,
            mask,
        }
    }

    fn record() -> Value {
        json!({
            "encounter_id": "ENC-0001",
            "patient": {"name": "张三丰", "identifiers": {"resident_id": "11010519491231002X"},
                        "contacts": {"phone": "13812341234"}, "sex": "male"},
            "diagnosis_codes": ["J18.900"],
            "encounter_type": "outpatient"
        })
    }

    fn rules() -> Vec<Rule> {
        let mut rules = vec![
            rule("/patient/name", Action::Mask, MaskRule::Name),
            rule(
                "/patient/identifiers/resident_id",
                Action::Hash,
                MaskRule::ResidentId,
            ),
            rule("/encounter_id", Action::Share, MaskRule::Text),
            rule("/diagnosis_codes", Action::Drop, MaskRule::Text),
            rule("/patient/contacts/phone", Action::Mask, MaskRule::Phone),
        ];
        rules.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        rules
    }

    #[test]
    fn by_default_only_what_is_listed_is_shared() {
        let (out, applied) = apply(&record(), DefaultAction::Drop, &rules(), b"k");
        let hashed = hash(&json!("11010519491231002X"), b"k");
        assert_eq!(
            out,
            json!({
                "encounter_id": "ENC-0001",
                "patient": {"name": "张**", "identifiers": {"resident_id": hashed},
                            "contacts": {"phone": "*******1234"}}
            })
        );
        assert_eq!(applied.len(), 5);
        assert!(applied.contains(&Applied {
            pointer: "/diagnosis_codes".into(),
            action: Action::Drop
        }));
    }

    #[test]
    fn with_default_share_the_rest_passes_and_longer_pointers_win() {
        let mut rules = rules();
        rules.push(rule("/patient", Action::Drop, MaskRule::Text));
        rules.push(rule("/patient/sex", Action::Share, MaskRule::Text));
        rules.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        let (out, _) = apply(&record(), DefaultAction::Share, &rules, b"k");
        let hashed = hash(&json!("11010519491231002X"), b"k");
        assert_eq!(
            out,
            json!({
                "encounter_id": "ENC-0001",
                "encounter_type": "outpatient",
                "patient": {"name": "张**", "identifiers": {"resident_id": hashed},
                            "contacts": {"phone": "*******1234"}, "sex": "male"}
            })
        );
    }

    #[test]
    fn absent_fields_stay_absent_and_masked_non_strings_are_dropped() {
        let rules = vec![
            rule("/diagnosis_codes", Action::Mask, MaskRule::Text),
            rule("/discharged_at", Action::Hash, MaskRule::Text),
        ];
        let (out, applied) = apply(&record(), DefaultAction::Share, &rules, b"k");
        assert!(out.get("diagnosis_codes").is_none());
        assert!(out.get("discharged_at").is_none());
        assert_eq!(
            applied,
            vec![Applied {
                pointer: "/diagnosis_codes".into(),
                action: Action::Drop
            }]
        );
    }
}
