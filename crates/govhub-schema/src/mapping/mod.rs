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
//! A rule takes its value from exactly one of `from` (a native field), `concat`
//! (several native fields joined) and `const`. Its steps run in this order, each only
//! when set: `when` (skip the rule unless a condition holds), take the value (else
//! `default`, else `optional` leaves the field out), `text`, `slice`, `normalize`
//! (failing: `on_invalid`), `derive`, `codes`, `date`/`datetime`, `as`. Rules run in
//! target order, those whose target appends (`-`) last.
//!
//! # Joining fields: `concat`
//!
//! ```toml
//! "/person/name"         = { concat = ["/xing", "/ming"], normalize = "name" }
//! "/address/text"        = { concat = ["/sheng", "/shi", "/xxdz"], separator = " " }
//! ```
//!
//! Strings and numbers are joined as text with `separator` (default: nothing) between
//! them; parts that are missing, null or blank are skipped, and a part of another type
//! fails the rule (keyword `concat`). When every part is missing the value is missing:
//! `default`, `optional` and the `missing` violation apply as they do for `from`. The
//! joined text then goes through the remaining steps.
//!
//! # Part of a text: `slice`
//!
//! ```toml
//! "/address/division_code" = { from = "/dz_bm", slice = [0, 6] }
//! "/phone/extension"       = { from = "/dh", text = ["trim"], slice = [9] }
//! ```
//!
//! `slice = [start, end]` keeps characters (not bytes) `start` up to, not including,
//! `end`; `[start]` keeps everything from `start`. It runs after `text` and before
//! `normalize`; a number is sliced as its text. A value with fewer than `start`
//! characters fails the rule (keyword `slice`); a shorter one than `end` is cut at its
//! end.
//!
//! # Facts in a resident ID: `derive`
//!
//! ```toml
//! "/person/birth_date"    = { from = "/zjhm", derive = "birth_date" }    # 1949-12-31
//! "/person/sex"           = { from = "/zjhm", derive = "sex" }           # male | female
//! "/person/division_code" = { from = "/zjhm", derive = "division_code" } # 110105
//! ```
//!
//! The value must be a resident ID; it is normalized as `normalize = "resident_id"`
//! does (width fold, upper-case `X`, 15 → 18 digits, check character validated). The
//! output is the birth date `YYYY-MM-DD` (digits 7–14), the sex (digit 17: odd `male`,
//! even `female`) or the 6-digit division code (digits 1–6). A value that is not a
//! valid resident ID fails the rule (keyword `derive`). Runs after `normalize`, before
//! `codes`, `date`/`datetime` and `as`.
//!
//! # Arrays: index and `-` target segments
//!
//! ```toml
//! "/person/identifiers/others/0/type"   = { const = "passport", when = { field = "/hzhm", present = true } }
//! "/person/identifiers/others/0/number" = { from = "/hzhm", optional = true }
//! "/person/identifiers/others/1/type"   = { const = "hk_macao_permit", when = { field = "/gatxz", present = true } }
//! "/person/identifiers/others/1/number" = { from = "/gatxz", optional = true }
//! "/contacts/phones/-"                  = { from = "/gddh", optional = true }
//! ```
//!
//! In a target pointer a segment that is a non-negative integer (at most
//! [`MAX_ARRAY_INDEX`]) indexes an array and `-` appends one element to it; the array is
//! created when absent. Canonical schemas have no numeric property names, so a numeric
//! target segment always means an array index (in `from` pointers it means whatever the
//! native record has there). When a rule fills index 1 while index 0 got nothing, the
//! array is not left with a null hole: after all rules ran, nulls are removed from the
//! arrays the mapping created (not from array values copied from the native record).
//! Each `-` appends its own element, so a `-` target cannot be filled by several rules;
//! rules appending run after those placing by index.
//!
//! # Conditions: `when`
//!
//! ```toml
//! "/person/identifiers/resident_id" = { from = "/zjhm", normalize = "resident_id", when = { field = "/zjlx", equals = "01" } }
//! "/person/identifiers/others/0/number" = { from = "/zjhm", when = { field = "/zjlx", in = ["02", "03"] } }
//! "/person/identifiers/others/0/type"   = { const = "passport", when = { field = "/zjlx", in = ["02", "03"] } }
//! "/contacts/email" = { from = "/yx", when = { field = "/yx", present = true } }
//! ```
//!
//! The rule applies only when the condition on the native `field` holds: it `equals`
//! a value, is one of a list (`in`), or is `present` (`true`: has a value; `false`:
//! missing, null or blank) — exactly one of the three. Scalars compare as trimmed text
//! (the number `1` equals `"1"`). Otherwise the rule is skipped silently: the field is
//! left out and there is no violation. Allowed with `from`, `concat` and `const`.
//!
//! # Keeping a record with a bad identifier: `on_invalid`
//!
//! ```toml
//! "/person/identifiers/resident_id" = { from = "/zjhm", normalize = "resident_id", on_invalid = "/person/identifiers/resident_id_unverified" }
//! ```
//!
//! Only with `normalize`. When normalization fails the record is not rejected: the
//! value that failed (a text after `text` and `slice`, or a number as text, tidied as
//! [`Normalizer::tidy`] does) goes to the `on_invalid` canonical field instead and the
//! rule's own field is left out; [`Applied::set_aside`] names that field. Values of
//! other types still fail the rule.
//!
//! # Failures
//!
//! A rule that cannot apply to a record (missing field, unparseable date, unknown code)
//! rejects the record with a [`Violation`] naming the native field (`instance_path`; a
//! `concat` rule's parts joined by `+`) and the canonical one (`schema_path`), never its
//! value. Every failing rule of a record is reported, not just the first.
//! [`CompiledMapping::apply_partial`] also returns the record built from the rules that
//! succeeded, so the caller can validate it and show map and schema problems at once;
//! [`CompiledMapping::failed_targets`] lists the canonical fields whose rules failed.

mod check;
mod codes;
mod dates;
mod derive;
mod source;
mod target;
mod text;
mod when;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use codes::{BUILT_IN as BUILT_IN_CODE_TABLES, Codes};
pub use dates::{DateFormat, parse_date, parse_datetime};
pub use derive::Derive;
pub use target::{MAX_ARRAY_INDEX, schema_has_field};
pub use text::TextOp;
pub use when::When;

use crate::Violation;
use crate::normalize::Normalizer;
use source::Source;
use target::{ArrayShape, Segment};
use text::CharRange;
use when::Condition;

/// What a mapping made of one native record.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<'m> {
    /// The canonical record, from every rule that succeeded.
    pub record: Value,
    /// The violations of the rules that failed (their fields are left out).
    pub violations: Vec<Violation>,
    /// The `on_invalid` fields (as configured) that received a value which failed its
    /// normalizer: the record's data-quality flags.
    pub set_aside: Vec<&'m str>,
}

/// Canonical field (JSON pointer) → rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mapping(pub BTreeMap<String, FieldRule>);

/// How one canonical field is filled. Steps run in this order: `when`, take the value
/// (`from`, `concat` or `const`, else `default`), `text` operations, `slice`,
/// `normalize` (failing: `on_invalid`), `derive`, `codes`, `date`/`datetime`, `as`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// JSON pointer into the native record.
    #[serde(default)]
    pub from: Option<String>,
    /// A fixed value instead of `from`.
    #[serde(default, rename = "const")]
    pub constant: Option<Value>,
    /// Native fields (JSON pointers) joined into one text, instead of `from`: strings
    /// and numbers as text; parts missing, null or blank skipped.
    #[serde(default)]
    pub concat: Option<Vec<String>>,
    /// Put between the `concat` parts (default: nothing).
    #[serde(default)]
    pub separator: Option<String>,
    /// Used when `from` is missing, null or an empty string (for `concat`: every part).
    #[serde(default)]
    pub default: Option<Value>,
    /// When the value is missing and there is no default, leave the field out instead of
    /// rejecting the record (the schema still decides whether the field is required).
    #[serde(default)]
    pub optional: bool,
    /// Apply the rule only when this condition on a native field holds (skipped
    /// silently otherwise).
    #[serde(default)]
    pub when: Option<When>,
    /// Text operations on string values, in order.
    #[serde(default)]
    pub text: Vec<TextOp>,
    /// `[start, end]` or `[start]`: the characters kept (`end` exclusive).
    #[serde(default)]
    pub slice: Option<Vec<usize>>,
    /// A normalizer for identifiers and names.
    #[serde(default)]
    pub normalize: Option<Normalizer>,
    /// Canonical field that receives the value instead when `normalize` fails, so the
    /// record is kept rather than rejected.
    #[serde(default)]
    pub on_invalid: Option<String>,
    /// A fact read out of a resident ID.
    #[serde(default)]
    pub derive: Option<Derive>,
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

/// What a rule that applies produces.
enum Produced {
    /// The value of the rule's own field.
    Field(Value),
    /// A value that failed `normalize`, for the `on_invalid` field.
    Quarantined(Value),
}

impl FieldRule {
    /// The steps after the value is taken: `text` through `as`.
    fn transform(
        &self,
        mut value: Cow<'_, Value>,
        slice: Option<CharRange>,
        quarantine: bool,
    ) -> Result<Produced, RuleError> {
        if let (Value::String(s), Some((first, rest))) = (value.as_ref(), self.text.split_first()) {
            let cleaned = rest.iter().fold(first.apply(s), |acc, op| op.apply(&acc));
            value = Cow::Owned(Value::String(cleaned));
        }
        if let Some(range) = slice {
            value = Cow::Owned(Value::String(slice_value(&value, range)?));
        }
        if let Some(normalizer) = self.normalize {
            match normalize_value(&value, normalizer) {
                Ok(normalized) => value = Cow::Owned(Value::String(normalized)),
                Err(e) if quarantine => {
                    return quarantined(&value, normalizer)
                        .map(Produced::Quarantined)
                        .ok_or(e);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(derive) = self.derive {
            let derived = scalar_text(&value)
                .and_then(|text| derive.apply(&text))
                .ok_or_else(|| fail("derive", "not a valid resident ID"))?;
            value = Cow::Owned(Value::String(derived));
        }
        if let Some(codes) = &self.codes {
            value = codes
                .lookup(&value)
                .map(Cow::Owned)
                .ok_or_else(|| fail("code", format!("code not in {}", codes.describe())))?;
        }
        if let Some(format) = self.date {
            let date = parse_date(&value, format)
                .ok_or_else(|| fail("date", format!("not a date in layout {format}")))?;
            value = Cow::Owned(Value::String(dates::iso_date(date)));
        }
        if let Some(format) = self.datetime {
            let time = parse_datetime(&value, format)
                .ok_or_else(|| fail("datetime", format!("not a date-time in layout {format}")))?;
            value = Cow::Owned(Value::String(time.to_rfc3339()));
        }
        if let Some(target) = self.as_type {
            value = convert(&value, target)
                .map(Cow::Owned)
                .ok_or_else(|| fail("type", format!("cannot be read as {target:?}")))?;
        }
        Ok(Produced::Field(value.into_owned()))
    }
}

/// The characters of `range` in a text or number.
fn slice_value(value: &Value, range: CharRange) -> Result<String, RuleError> {
    let text = scalar_text(value).ok_or_else(|| fail("slice", "expected text or a number"))?;
    range
        .apply(&text)
        .map(str::to_owned)
        .ok_or_else(|| fail("slice", "too short for the slice's start"))
}

/// `value` normalized by `normalizer`.
fn normalize_value(value: &Value, normalizer: Normalizer) -> Result<String, RuleError> {
    let text = scalar_text(value).ok_or_else(|| fail("normalize", "expected text or a number"))?;
    normalizer.apply(&text).ok_or_else(|| {
        fail(
            "normalize",
            format!("not a valid {}", normalizer.describe()),
        )
    })
}

/// A value that failed normalization as the `on_invalid` field keeps it: its text
/// tidied by the normalizer ([`Normalizer::tidy`]); `None` for other types and for
/// text with nothing left.
fn quarantined(value: &Value, normalizer: Normalizer) -> Option<Value> {
    let tidy = normalizer.tidy(&scalar_text(value)?);
    (!tidy.is_empty()).then_some(Value::String(tidy))
}

/// A string or number as text, borrowed when it is a string.
fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

fn convert(value: &Value, target: AsType) -> Option<Value> {
    let text = scalar_text(value).or_else(|| value.as_bool().map(|b| b.to_string().into()));
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

/// A [`Mapping`] ready to apply: pointers split once, rules in target order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompiledMapping {
    rules: Vec<CompiledRule>,
    /// The arrays the targets create, whose holes are removed.
    arrays: ArrayShape,
}

#[derive(Debug, Clone, PartialEq)]
struct CompiledRule {
    target: String,
    target_path: Vec<Segment>,
    /// The native field(s) for violations: `from`, or the `concat` parts joined by `+`.
    source_label: String,
    source: Source,
    when: Option<Condition>,
    slice: Option<CharRange>,
    on_invalid_path: Option<Vec<Segment>>,
    rule: FieldRule,
}

impl CompiledRule {
    fn compile(target: &str, rule: &FieldRule) -> CompiledRule {
        let source_label = match (&rule.from, &rule.concat) {
            (Some(from), _) => from.clone(),
            (None, Some(parts)) => parts.join("+"),
            (None, None) => String::new(),
        };
        CompiledRule {
            target: target.to_owned(),
            target_path: target::target_segments(target),
            source_label,
            source: Source::of(rule),
            when: rule.when.as_ref().map(Condition::compile),
            slice: rule.slice.as_deref().and_then(CharRange::compile),
            on_invalid_path: rule.on_invalid.as_deref().map(target::target_segments),
            rule: rule.clone(),
        }
    }

    /// What the rule produces from `native`; `Ok(None)` leaves the field out.
    fn produce(&self, native: &Value) -> Result<Option<Produced>, RuleError> {
        if self.when.as_ref().is_some_and(|c| !c.holds(native)) {
            return Ok(None);
        }
        if let Some(constant) = &self.rule.constant {
            return Ok(Some(Produced::Field(constant.clone())));
        }
        let value = match (self.source.take(native)?, &self.rule.default) {
            (Some(v), _) => v,
            (None, Some(default)) => return Ok(Some(Produced::Field(default.clone()))),
            (None, None) if self.rule.optional => return Ok(None),
            (None, None) => return Err(fail("missing", "the native record has no value here")),
        };
        let quarantine = self.on_invalid_path.is_some();
        self.rule.transform(value, self.slice, quarantine).map(Some)
    }

    /// Places what the rule produces from `native` into `out`, naming its `on_invalid`
    /// field in `set_aside` when the value went there; whether array holes were left.
    fn place<'m>(
        &'m self,
        native: &Value,
        out: &mut Value,
        set_aside: &mut Vec<&'m str>,
    ) -> Result<bool, RuleError> {
        match self.produce(native)? {
            None => Ok(false),
            Some(Produced::Field(value)) => target::insert(out, &self.target_path, value),
            Some(Produced::Quarantined(value)) => {
                match (&self.on_invalid_path, &self.rule.on_invalid) {
                    (Some(path), Some(field)) => {
                        set_aside.push(field);
                        target::insert(out, path, value)
                    }
                    _ => Ok(false),
                }
            }
        }
    }

    fn violation(&self, error: RuleError) -> Violation {
        Violation {
            instance_path: self.source_label.clone(),
            schema_path: self.target.clone(),
            keyword: error.keyword.to_owned(),
            message: format!("{}: {}", self.target, error.message),
        }
    }
}

impl CompiledMapping {
    /// Whether there are no rules (records pass through as they are).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The canonical record built from `native`, or every rule that failed.
    pub fn apply(&self, native: &Value) -> Result<Value, Vec<Violation>> {
        let applied = self.apply_partial(native);
        if applied.violations.is_empty() {
            Ok(applied.record)
        } else {
            Err(applied.violations)
        }
    }

    /// The canonical record built from every rule that succeeded on `native`, the
    /// violations of those that failed (their fields are left out), and the fields that
    /// received a value set aside. Validating the partial record too shows a user map
    /// and schema problems at once.
    pub fn apply_partial(&self, native: &Value) -> Applied<'_> {
        let mut record = Value::Object(Map::new());
        let mut violations = Vec::new();
        let mut set_aside = Vec::new();
        let mut holes = false;
        for compiled in &self.rules {
            match compiled.place(native, &mut record, &mut set_aside) {
                Ok(left_holes) => holes |= left_holes,
                Err(e) => violations.push(compiled.violation(e)),
            }
        }
        if holes {
            self.arrays.remove_holes(&mut record);
        }
        Applied {
            record,
            violations,
            set_aside,
        }
    }

    /// The canonical fields (target pointers, as configured) whose rules failed, from
    /// violations returned by [`CompiledMapping::apply`] or
    /// [`CompiledMapping::apply_partial`] (their `schema_path`).
    pub fn failed_targets(violations: &[Violation]) -> BTreeSet<&str> {
        violations.iter().map(|v| v.schema_path.as_str()).collect()
    }
}

impl Mapping {
    /// Whether the mapping has no rules (records pass through as they are).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The mapping ready to apply. Check [`Mapping::problems`] first: rules with a
    /// malformed pointer compile but never match, and contradictory settings compile to
    /// one reading of them.
    pub fn compile(&self) -> CompiledMapping {
        let mut rules: Vec<CompiledRule> = self
            .0
            .iter()
            .map(|(target, rule)| CompiledRule::compile(target, rule))
            .collect();
        // Stable: target order otherwise.
        rules.sort_by_key(|r| target::appends(&r.target_path));
        let mut arrays = ArrayShape::default();
        for rule in &rules {
            arrays.add(&rule.target_path);
            if let Some(path) = &rule.on_invalid_path {
                arrays.add(path);
            }
        }
        CompiledMapping { rules, arrays }
    }

    /// Every native field (JSON pointer) the mapping reads: `from`, each `concat` part
    /// and each `when.field`. For reporting source fields no rule uses.
    pub fn sources(&self) -> BTreeSet<String> {
        let mut sources = BTreeSet::new();
        for rule in self.0.values() {
            sources.extend(rule.from.iter().cloned());
            sources.extend(rule.concat.iter().flatten().cloned());
            sources.extend(rule.when.iter().map(|w| w.field.clone()));
        }
        sources
    }
}

#[cfg(test)]
mod tests;
