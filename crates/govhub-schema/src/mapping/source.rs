//! Where a rule's value comes from in the native record: one field (`from`), several
//! fields joined into one text (`concat`), or none (`const`).

use std::borrow::Cow;

use serde_json::Value;

use super::{FieldRule, RuleError, fail};

/// The segments of a JSON pointer, unescaped (`~1` → `/`, `~0` → `~`).
pub(super) fn segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The value at pre-split pointer `path` in `root`. In native records a numeric segment
/// is an object key or an array index, whichever the record has.
pub(super) fn lookup<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |node, seg| match node {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Whether a native value counts as given: not null and not a blank string.
pub(super) fn has_value(value: &Value) -> bool {
    !value.is_null() && value.as_str().is_none_or(|s| !s.trim().is_empty())
}

/// The value at `path` in `native` if it counts as given.
pub(super) fn find<'v>(native: &'v Value, path: &[String]) -> Option<&'v Value> {
    lookup(native, path).filter(|v| has_value(v))
}

/// A rule's source with its pointers split once.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Source {
    /// `from`: one native field.
    Field(Vec<String>),
    /// `concat`: native fields (pointer as written, split) joined with `separator`.
    Concat {
        parts: Vec<(String, Vec<String>)>,
        separator: String,
    },
    /// `const`, or nothing configured: no native field is read.
    Nothing,
}

impl Source {
    /// The source `rule` configures (`from` wins over `concat` in a rule that sets
    /// both, which [`super::Mapping::problems`] reports).
    pub(super) fn of(rule: &FieldRule) -> Source {
        if let Some(from) = &rule.from {
            return Source::Field(segments(from));
        }
        match &rule.concat {
            Some(parts) => Source::Concat {
                parts: parts.iter().map(|p| (p.clone(), segments(p))).collect(),
                separator: rule.separator.clone().unwrap_or_default(),
            },
            None => Source::Nothing,
        }
    }

    /// The native value, borrowed when it is one field; `Ok(None)` when it is missing
    /// (every `concat` part missing included).
    pub(super) fn take<'v>(&self, native: &'v Value) -> Result<Option<Cow<'v, Value>>, RuleError> {
        match self {
            Source::Field(path) => Ok(find(native, path).map(Cow::Borrowed)),
            Source::Concat { parts, separator } => {
                Ok(join(native, parts, separator)?.map(|joined| Cow::Owned(Value::String(joined))))
            }
            Source::Nothing => Ok(None),
        }
    }
}

/// The `concat` parts found in `native` as text, joined with `separator`; `None` if no
/// part has a value. A part that is neither text nor a number fails the rule.
fn join(
    native: &Value,
    parts: &[(String, Vec<String>)],
    separator: &str,
) -> Result<Option<String>, RuleError> {
    let mut joined: Option<String> = None;
    for (pointer, path) in parts {
        let Some(value) = find(native, path) else {
            continue;
        };
        let piece = match value {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            Value::Number(n) => Cow::Owned(n.to_string()),
            _ => {
                return Err(fail(
                    "concat",
                    format!("part {pointer} is not text or a number"),
                ));
            }
        };
        match &mut joined {
            Some(text) => {
                text.push_str(separator);
                text.push_str(&piece);
            }
            None => joined = Some(piece.into_owned()),
        }
    }
    Ok(joined)
}
