//! Checking a mapping's configuration against the canonical schema: every misuse of a
//! setting, named by its config field (`["/patient/name"].from`).

use serde_json::Value;

use super::target::{MAX_ARRAY_INDEX, field_exists, index_too_large, target_segments};
use super::when::compare_text;
use super::{BUILT_IN_CODE_TABLES, FieldRule, Mapping};
use crate::normalize::Normalizer;

/// Reports one problem: the config field below the rule (`""`, `.from`, …) and what is
/// wrong with it.
type Add<'a> = dyn FnMut(&str, String) + 'a;

/// The canonical schema the targets must exist in.
struct Canonical<'a> {
    schema: &'a Value,
    resolve: &'a dyn Fn(&str) -> Option<Value>,
}

const NOT_A_POINTER: &str = "must be a JSON pointer starting with \"/\"";

impl Mapping {
    /// Every problem with the rules against the canonical `schema`, as
    /// `(field, message)` with fields like `["/patient/name"].from`. `resolve` finds a
    /// schema by absolute `$id` for cross-file `$ref`s.
    pub fn problems(
        &self,
        schema: &Value,
        resolve: &dyn Fn(&str) -> Option<Value>,
    ) -> Vec<(String, String)> {
        let canonical = Canonical { schema, resolve };
        let mut problems = Vec::new();
        for (target, rule) in &self.0 {
            let mut add = |field: &str, message: String| {
                problems.push((format!("[{target:?}]{field}"), message));
            };
            if !target.starts_with('/') {
                add(
                    "",
                    "a canonical field is a JSON pointer starting with \"/\"".into(),
                );
            } else if let Some(problem) = canonical.missing(target) {
                add("", problem);
            }
            check_source(rule, &mut add);
            check_const_alone(rule, &mut add);
            check_steps(rule, &mut add);
            check_concat(rule, &mut add);
            check_slice(rule, &mut add);
            check_derive(rule, &mut add);
            check_when(rule, &mut add);
            check_on_invalid(target, rule, &canonical, &mut add);
        }
        problems
    }
}

impl Canonical<'_> {
    /// Why canonical field `pointer` cannot be filled, if it cannot.
    fn missing(&self, pointer: &str) -> Option<String> {
        let path = target_segments(pointer);
        if let Some(index) = index_too_large(&path) {
            return Some(format!(
                "array index {index} is above the limit of {MAX_ARRAY_INDEX}"
            ));
        }
        (!field_exists(self.schema, self.schema, &path, self.resolve, 0))
            .then(|| "the canonical record has no such field".to_owned())
    }
}

/// Exactly one of `from`, `concat` and `const`.
fn check_source(rule: &FieldRule, add: &mut Add<'_>) {
    let (from, concat, constant) = (
        rule.from.is_some(),
        rule.concat.is_some(),
        rule.constant.is_some(),
    );
    if from && constant {
        add("", "set either `from` or `const`, not both".into());
    }
    if from && concat {
        add(".concat", "set either `from` or `concat`, not both".into());
    }
    if concat && constant {
        add(".concat", "set either `concat` or `const`, not both".into());
    }
    if !(from || concat || constant) {
        add(
            "",
            "set `from` (a native field), `concat` (several) or `const`".into(),
        );
    }
    if rule.from.as_ref().is_some_and(|f| !f.starts_with('/')) {
        add(".from", NOT_A_POINTER.into());
    }
}

/// `const` goes with nothing but `when`.
fn check_const_alone(rule: &FieldRule, add: &mut Add<'_>) {
    if rule.constant.is_some()
        && (rule.default.is_some()
            || rule.optional
            || !rule.text.is_empty()
            || rule.slice.is_some()
            || rule.normalize.is_some()
            || rule.on_invalid.is_some()
            || rule.derive.is_some()
            || rule.codes.is_some()
            || rule.date.is_some()
            || rule.datetime.is_some()
            || rule.as_type.is_some())
    {
        add("", "`const` takes no other settings but `when`".into());
    }
}

/// `default` against `optional`, `date` against `datetime`, known code tables.
fn check_steps(rule: &FieldRule, add: &mut Add<'_>) {
    if rule.default.is_some() && rule.optional {
        add(".optional", "conflicts with `default`".into());
    }
    if rule.date.is_some() && rule.datetime.is_some() {
        add(".datetime", "conflicts with `date`".into());
    }
    if let Some(codes) = rule.codes.as_ref().filter(|c| !c.is_known()) {
        add(
            ".codes",
            format!(
                "no built-in code table {:?} (known: {})",
                codes.describe(),
                BUILT_IN_CODE_TABLES.join(", ")
            ),
        );
    }
}

/// `concat` lists pointers; `separator` needs `concat`.
fn check_concat(rule: &FieldRule, add: &mut Add<'_>) {
    match &rule.concat {
        Some(parts) if parts.is_empty() => add(".concat", "lists no native fields".into()),
        Some(parts) => {
            for (i, part) in parts.iter().enumerate() {
                if !part.starts_with('/') {
                    add(&format!(".concat[{i}]"), NOT_A_POINTER.into());
                }
            }
        }
        None if rule.separator.is_some() => {
            add(".separator", "only applies with `concat`".into());
        }
        None => {}
    }
}

/// `[start]` or `[start, end]` with `start < end`.
fn check_slice(rule: &FieldRule, add: &mut Add<'_>) {
    match rule.slice.as_deref() {
        None | Some([_]) => {}
        Some([]) => add(".slice", "set `[start]` or `[start, end]`".into()),
        Some([start, end]) if start >= end => {
            add(".slice", format!("start {start} is not before end {end}"));
        }
        Some([_, _]) => {}
        Some(_) => add(".slice", "takes at most 2 numbers, `[start, end]`".into()),
    }
}

/// `derive` reads a resident ID, which no other normalizer leaves.
fn check_derive(rule: &FieldRule, add: &mut Add<'_>) {
    if let (Some(_), Some(normalizer)) = (rule.derive, rule.normalize)
        && normalizer != Normalizer::ResidentId
    {
        add(
            ".derive",
            format!(
                "reads a resident ID, but `normalize` expects a {}",
                normalizer.describe()
            ),
        );
    }
}

/// A pointer and exactly one test of scalars.
fn check_when(rule: &FieldRule, add: &mut Add<'_>) {
    let Some(when) = &rule.when else {
        return;
    };
    if !when.field.starts_with('/') {
        add(".when.field", NOT_A_POINTER.into());
    }
    let tests = [
        when.equals.is_some(),
        when.one_of.is_some(),
        when.present.is_some(),
    ];
    if tests.iter().filter(|set| **set).count() != 1 {
        add(
            ".when",
            "set exactly one of `equals`, `in` and `present`".into(),
        );
    }
    let scalar = "compares text, numbers and booleans only";
    if when
        .equals
        .as_ref()
        .is_some_and(|v| compare_text(v).is_none())
    {
        add(".when.equals", scalar.into());
    }
    match &when.one_of {
        Some(values) if values.is_empty() => add(".when.in", "lists no values".into()),
        Some(values) if values.iter().any(|v| compare_text(v).is_none()) => {
            add(".when.in", scalar.into());
        }
        _ => {}
    }
}

/// `on_invalid` needs `normalize` and names another canonical field.
fn check_on_invalid(target: &str, rule: &FieldRule, canonical: &Canonical<'_>, add: &mut Add<'_>) {
    let Some(on_invalid) = &rule.on_invalid else {
        return;
    };
    if rule.normalize.is_none() {
        add(".on_invalid", "only applies with `normalize`".into());
    }
    if !on_invalid.starts_with('/') {
        add(".on_invalid", NOT_A_POINTER.into());
    } else if on_invalid == target {
        add(
            ".on_invalid",
            "must name another field than the rule's own".into(),
        );
    } else if let Some(problem) = canonical.missing(on_invalid) {
        add(".on_invalid", problem);
    }
}
