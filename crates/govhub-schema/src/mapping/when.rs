//! Conditional rules: `when = { field = "/zjlx", equals = "01" }` applies a rule only to
//! the records it fits.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::source::{find, segments};

/// A condition on a native field; the rule applies only when it holds and is skipped
/// silently (no field, no violation) otherwise. Set exactly one of `equals`, `in` and
/// `present`. Scalars compare as trimmed text, so the number `1` equals `"1"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// JSON pointer into the native record.
    pub field: String,
    /// Holds when the field's value equals this.
    #[serde(default)]
    pub equals: Option<Value>,
    /// Holds when the field's value is one of these.
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<Value>>,
    /// `true`: holds when the field has a value; `false`: when it is missing, null or
    /// blank.
    #[serde(default)]
    pub present: Option<bool>,
}

/// The text a scalar compares as: a string trimmed, a number or boolean as written.
pub(super) fn compare_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s.trim())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// A [`When`] ready to test: the pointer split and the values as text, once.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Condition {
    path: Vec<String>,
    present: Option<bool>,
    /// `equals` and `in` together: the texts the value must be one of.
    one_of: Option<Vec<String>>,
}

impl Condition {
    /// Compiles `when`. A malformed one (several tests) holds only when all its tests
    /// hold; [`super::Mapping::problems`] reports it.
    pub(super) fn compile(when: &When) -> Condition {
        let listed = when.equals.iter().chain(when.one_of.iter().flatten());
        let one_of = (when.equals.is_some() || when.one_of.is_some()).then(|| {
            listed
                .filter_map(|v| compare_text(v).map(Cow::into_owned))
                .collect()
        });
        Condition {
            path: segments(&when.field),
            present: when.present,
            one_of,
        }
    }

    /// Whether the condition holds for `native`.
    pub(super) fn holds(&self, native: &Value) -> bool {
        let found = find(native, &self.path);
        if self
            .present
            .is_some_and(|present| present != found.is_some())
        {
            return false;
        }
        match &self.one_of {
            None => true,
            Some(texts) => found
                .and_then(compare_text)
                .is_some_and(|text| texts.iter().any(|t| *t == text)),
        }
    }
}
