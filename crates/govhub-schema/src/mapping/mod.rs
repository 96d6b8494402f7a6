//! Declarative mapping: a department's native JSON becomes the canonical record, by
//! configuration rather than code.
//!
//! A mapping is a table from canonical fields (JSON pointers into the canonical record)
//! to rules saying where the value comes from in the native record and how to clean it:
//!
//! ```toml
//! [connectors.health.mapping]
//! "/patient/name"        = { from = "/hzxm", normalize = "name" }
//! "/patient/resident_id" = { from = "/sfzh", normalize = "resident_id", optional = true }
//! "/patient/sex"         = { from = "/xb", codes = "sex_gb2261" }
//! "/patient/birth_date"  = { from = "/csrq", date = "compact" }
//! "/facility/name"       = { const = "第一人民医院" }
//! ```
//!
//! [`Mapping`] is the configuration; [`Mapping::compile`] turns it into the
//! [`CompiledMapping`] the pipeline applies to every record.
//!
//! A rule that cannot apply to a record (missing field, unparseable date, unknown code)
//! rejects the record with a [`Violation`] naming the native field and the canonical one,
//! never its value. Every failing rule of a record is reported, not just the first.

mod codes;
mod dates;
mod text;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use codes::{BUILT_IN as BUILT_IN_CODE_TABLES, Codes};
pub use dates::{DateFormat, parse_date, parse_datetime};
pub use text::TextOp;

use crate::Violation;
use crate::normalize::Normalizer;

/// Canonical field (JSON pointer) → rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mapping(pub BTreeMap<String, FieldRule>);

/// How one canonical field is filled. Steps run in this order: take the value (`from`,
/// else `default`), `text` operations, `normalize`, `codes`, `date`/`datetime`, `as`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// JSON pointer into the native record.
    #[serde(default)]
    pub from: Option<String>,
    /// A fixed value instead of `from`.
    #[serde(default, rename = "const")]
    pub constant: Option<Value>,
    /// Used when `from` is missing, null or an empty string.
    #[serde(default)]
    pub default: Option<Value>,
    /// When the value is missing and there is no default, leave the field out instead of
    /// rejecting the record (the schema still decides whether the field is required).
    #[serde(default)]
    pub optional: bool,
    /// Text operations on string values, in order.
    #[serde(default)]
    pub text: Vec<TextOp>,
    /// A normalizer for identifiers and names.
    #[serde(default)]
    pub normalize: Option<Normalizer>,
    /// A code table translating department codes to canonical values.
    #[serde(default)]
    pub codes: Option<Codes>,
    /// Parse as a date, output `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<DateFormat>,
    /// Parse as a date-time, output RFC 3339 (UTC+8 when the input has no zone).
    #[serde(default)]
    pub datetime: Option<DateFormat>,
    /// Convert the JSON type.
    #[serde(default, rename = "as")]
    pub as_type: Option<AsType>,
}

/// Target JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsType {
    /// Numbers and booleans become their text.
    String,
    /// Digit strings become integers.
    Integer,
    /// Numeric strings become numbers.
    Number,
    /// `true/false`, `1/0`, `是/否`, `Y/N` become booleans.
    Boolean,
}

/// Why a rule failed, before it is placed into a [`Violation`].
struct RuleError {
    keyword: &'static str,
    message: String,
}

fn fail(keyword: &'static str, message: impl Into<String>) -> RuleError {
    RuleError {
        keyword,
        message: message.into(),
    }
}

impl FieldRule {
    /// The value this rule produces from `found` (the value at `from` in the native
    /// record, if any); `Ok(None)` leaves the field out.
    fn value(&self, found: Option<&Value>) -> Result<Option<Value>, RuleError> {
        if let Some(constant) = &self.constant {
            return Ok(Some(constant.clone()));
        }
        let found =
            found.filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()));
        // Borrowed until a step changes it: most steps replace the value, so cloning
        // the native one first would be wasted.
        let mut value = match (found, &self.default) {
            (Some(v), _) => Cow::Borrowed(v),
            (None, Some(default)) => return Ok(Some(default.clone())),
            (None, None) if self.optional => return Ok(None),
            (None, None) => return Err(fail("missing", "the native record has no value here")),
        };
        if let (Value::String(s), Some((first, rest))) = (value.as_ref(), self.text.split_first()) {
            let cleaned = rest.iter().fold(first.apply(s), |acc, op| op.apply(&acc));
            value = Cow::Owned(Value::String(cleaned));
        }
        if let Some(normalizer) = self.normalize {
            let normalized = match value.as_ref() {
                Value::String(s) => normalizer.apply(s),
                Value::Number(n) => normalizer.apply(&n.to_string()),
                _ => return Err(fail("normalize", "expected text or a number")),
            };
            let normalized = normalized.ok_or_else(|| {
                fail(
                    "normalize",
                    format!("not a valid {}", normalizer.describe()),
                )
            })?;
            value = Cow::Owned(Value::String(normalized));
        }
        if let Some(codes) = &self.codes {
            value = codes
                .lookup(&value)
                .map(Cow::Owned)
                .ok_or_else(|| fail("code", format!("code not in {}", codes.describe())))?;
        }
        if let Some(format) = self.date {
            let date = parse_date(&value, format)
                .ok_or_else(|| fail("date", format!("not a date in layout {format:?}")))?;
            value = Cow::Owned(Value::String(dates::iso_date(date)));
        }
        if let Some(format) = self.datetime {
            let time = parse_datetime(&value, format)
                .ok_or_else(|| fail("datetime", format!("not a date-time in layout {format:?}")))?;
            value = Cow::Owned(Value::String(time.to_rfc3339()));
        }
        if let Some(target) = self.as_type {
            value = convert(&value, target)
                .map(Cow::Owned)
                .ok_or_else(|| fail("type", format!("cannot be read as {target:?}")))?;
        }
        Ok(Some(value.into_owned()))
    }
}

/// A string or number as text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn convert(value: &Value, target: AsType) -> Option<Value> {
    let text = scalar_text(value).or_else(|| value.as_bool().map(|b| b.to_string()));
    let text = text?;
    let text = text.trim();
    match target {
        AsType::String => Some(Value::String(text.to_owned())),
        AsType::Integer => text.parse::<i64>().ok().map(Value::from),
        AsType::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(|n| match text.parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => Value::Number(n),
            }),
        AsType::Boolean => match text {
            "true" | "1" | "是" | "Y" | "y" => Some(Value::Bool(true)),
            "false" | "0" | "否" | "N" | "n" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

/// The segments of a JSON pointer, unescaped (`~1` → `/`, `~0` → `~`).
fn segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The value at pre-split pointer `path` in `root`.
fn lookup<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |node, seg| match node {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Sets `value` at pre-split pointer `path` in `root`, creating objects on the way.
fn insert(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for seg in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        // Look up before inserting: the key is cloned only when the object is new.
        if !map.contains_key(seg) {
            map.insert(seg.clone(), Value::Object(Map::new()));
        }
        let Some(child) = map.get_mut(seg) else {
            return;
        };
        node = child;
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        map.insert(last.clone(), value);
    }
}

/// A [`Mapping`] ready to apply: pointers split once, rules in target order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompiledMapping {
    rules: Vec<CompiledRule>,
}

#[derive(Debug, Clone, PartialEq)]
struct CompiledRule {
    target: String,
    target_path: Vec<String>,
    from_path: Option<Vec<String>>,
    rule: FieldRule,
}

impl CompiledMapping {
    /// Whether there are no rules (records pass through as they are).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The canonical record built from `native`, or every rule that failed.
    pub fn apply(&self, native: &Value) -> Result<Value, Vec<Violation>> {
        let mut out = Value::Object(Map::new());
        let mut violations = Vec::new();
        for compiled in &self.rules {
            let found = compiled
                .from_path
                .as_deref()
                .and_then(|p| lookup(native, p));
            match compiled.rule.value(found) {
                Ok(Some(value)) => insert(&mut out, &compiled.target_path, value),
                Ok(None) => {}
                Err(e) => violations.push(Violation {
                    instance_path: compiled.rule.from.clone().unwrap_or_default(),
                    schema_path: compiled.target.clone(),
                    keyword: e.keyword.to_owned(),
                    message: format!("{}: {}", compiled.target, e.message),
                }),
            }
        }
        if violations.is_empty() {
            Ok(out)
        } else {
            Err(violations)
        }
    }
}

impl Mapping {
    /// Whether the mapping has no rules (records pass through as they are).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The mapping ready to apply. Check [`Mapping::problems`] first: rules with a
    /// malformed pointer compile but never match.
    pub fn compile(&self) -> CompiledMapping {
        CompiledMapping {
            rules: self
                .0
                .iter()
                .map(|(target, rule)| CompiledRule {
                    target: target.clone(),
                    target_path: segments(target),
                    from_path: rule.from.as_deref().map(segments),
                    rule: rule.clone(),
                })
                .collect(),
        }
    }

    /// Every problem with the rules against the canonical `schema`, as
    /// `(field, message)` with fields like `["/patient/name"].from`. `resolve` finds a
    /// schema by absolute `$id` for cross-file `$ref`s.
    pub fn problems(
        &self,
        schema: &Value,
        resolve: &dyn Fn(&str) -> Option<Value>,
    ) -> Vec<(String, String)> {
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
            } else if !field_exists(schema, schema, &segments(target), resolve, 0) {
                add("", "the canonical record has no such field".into());
            }
            match (&rule.from, &rule.constant) {
                (Some(_), Some(_)) => add("", "set either `from` or `const`, not both".into()),
                (None, None) => add("", "set `from` (a native field) or `const`".into()),
                (Some(from), None) if !from.starts_with('/') => {
                    add(".from", "must be a JSON pointer starting with \"/\"".into())
                }
                _ => {}
            }
            if rule.constant.is_some()
                && (rule.default.is_some()
                    || rule.optional
                    || !rule.text.is_empty()
                    || rule.normalize.is_some()
                    || rule.codes.is_some()
                    || rule.date.is_some()
                    || rule.datetime.is_some()
                    || rule.as_type.is_some())
            {
                add("", "`const` takes no other settings".into());
            }
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
        problems
    }
}

/// Whether `segs` names a property reachable in `node` (inside document `root`),
/// following `$ref`s and `allOf`/`anyOf`/`oneOf`.
fn field_exists(
    root: &Value,
    node: &Value,
    segs: &[String],
    resolve: &dyn Fn(&str) -> Option<Value>,
    depth: usize,
) -> bool {
    if depth > 32 {
        return false;
    }
    if segs.is_empty() {
        return true;
    }
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let (document, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let target_root = if document.is_empty() {
            Some(root.clone())
        } else {
            resolve(document)
        };
        if let Some(target_root) = target_root {
            let target = if fragment.is_empty() {
                Some(target_root.clone())
            } else {
                target_root.pointer(fragment).cloned()
            };
            if target.is_some_and(|t| field_exists(&target_root, &t, segs, resolve, depth + 1)) {
                return true;
            }
        }
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = node.get(combinator).and_then(Value::as_array)
            && branches
                .iter()
                .any(|b| field_exists(root, b, segs, resolve, depth + 1))
        {
            return true;
        }
    }
    node.get("properties")
        .and_then(|p| p.get(&segs[0]))
        .is_some_and(|child| field_exists(root, child, &segs[1..], resolve, depth + 1))
}

#[cfg(test)]
mod tests;
