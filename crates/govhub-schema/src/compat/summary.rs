//! What the old schema guarantees about its values, gathered from all its fragments so a
//! new keyword can be compared with the old one wherever the old schema put it.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::Node;
use super::limits::COUNT_KEYWORDS;
use super::types::{
    ANY, ARRAY, BOOLEAN, INTEGER, NULL, NUMBER, OBJECT, STRING, json_eq, type_atoms, value_atom,
};

/// The numeric bound keywords: (keyword, is a lower bound, is exclusive).
pub(super) const BOUNDS: [(&str, bool, bool); 4] = [
    ("minimum", true, false),
    ("exclusiveMinimum", true, true),
    ("maximum", false, false),
    ("exclusiveMaximum", false, true),
];

/// An inclusive or exclusive numeric bound of the old schema.
pub(super) struct Bound {
    pub(super) value: f64,
    pub(super) exclusive: bool,
    pub(super) shown: String,
}

impl Bound {
    /// Whether this bound (lower or upper) is at least as tight as `limit`, so that every
    /// number it lets through also meets `limit`.
    pub(super) fn implies(&self, lower: bool, limit: f64, exclusive: bool) -> bool {
        let beyond = if lower {
            self.value > limit
        } else {
            self.value < limit
        };
        #[allow(clippy::float_cmp)]
        let same = self.value == limit;
        beyond || (same && (self.exclusive || !exclusive))
    }
}

/// What the old schema (the conjunction of its fragments) guarantees about its values.
#[derive(Default)]
pub(super) struct Summary {
    /// The old schema accepts nothing, so nothing can break.
    pub(super) empty: bool,
    pub(super) atoms: u8,
    /// The finite set of accepted values, when `enum`/`const` (or the type) pins one.
    pub(super) values: Option<Vec<Value>>,
    pub(super) lower: Option<Bound>,
    pub(super) upper: Option<Bound>,
    counts: HashMap<&'static str, f64>,
    pub(super) multiple_of: Vec<(f64, String)>,
    pub(super) patterns: Vec<String>,
    pub(super) formats: Vec<String>,
    pub(super) required: BTreeSet<String>,
    pub(super) unique_items: bool,
}

impl Summary {
    pub(super) fn of(old: &[Node]) -> Summary {
        let mut summary = Summary {
            atoms: ANY,
            ..Summary::default()
        };
        for node in old {
            match node.value() {
                Value::Bool(false) => summary.empty = true,
                Value::Object(schema) => summary.absorb(schema),
                _ => {}
            }
        }
        if let Some(values) = summary.values.take() {
            let atoms = summary.atoms;
            let values: Vec<Value> = values
                .into_iter()
                .filter(|value| value_atom(value) & atoms != 0)
                .collect();
            summary.atoms = values.iter().fold(0, |acc, value| acc | value_atom(value));
            summary.values = Some(values);
        } else if summary.atoms & !(NULL | BOOLEAN) == 0 {
            // null and boolean have so few values that listing them lets a new `enum`
            // such as [true, false] be recognised as no restriction.
            let mut values = Vec::new();
            if summary.atoms & NULL != 0 {
                values.push(Value::Null);
            }
            if summary.atoms & BOOLEAN != 0 {
                values.extend([Value::Bool(true), Value::Bool(false)]);
            }
            summary.values = Some(values);
        }
        if summary.atoms & NUMBER == INTEGER {
            summary.lower = summary.lower.take().map(|b| integer_bound(b, true));
            summary.upper = summary.upper.take().map(|b| integer_bound(b, false));
            summary.multiple_of.push((1.0, "1 (integer)".into()));
        }
        summary.empty |= summary.atoms == 0;
        summary
    }

    fn absorb(&mut self, schema: &Map<String, Value>) {
        if let Some(atoms) = schema.get("type").and_then(type_atoms) {
            self.atoms &= atoms;
        }
        if let Some(value) = schema.get("const") {
            self.restrict_values(std::slice::from_ref(value));
        }
        if let Some(Value::Array(values)) = schema.get("enum") {
            self.restrict_values(values);
        }
        for (keyword, lower, exclusive) in BOUNDS {
            let Some(number) = schema.get(keyword).filter(|v| v.is_number()) else {
                continue;
            };
            let Some(value) = number.as_f64() else {
                continue;
            };
            let slot = if lower {
                &mut self.lower
            } else {
                &mut self.upper
            };
            if !slot
                .as_ref()
                .is_some_and(|current| current.implies(lower, value, exclusive))
            {
                *slot = Some(Bound {
                    value,
                    exclusive,
                    shown: number.to_string(),
                });
            }
        }
        for (keyword, _, _) in COUNT_KEYWORDS {
            let Some(limit) = schema.get(keyword).and_then(Value::as_f64) else {
                continue;
            };
            let is_min = keyword.starts_with("min");
            self.counts
                .entry(keyword)
                .and_modify(|current| {
                    *current = if is_min {
                        current.max(limit)
                    } else {
                        current.min(limit)
                    }
                })
                .or_insert(limit);
        }
        if let Some(number) = schema.get("multipleOf")
            && let Some(value) = number.as_f64().filter(|v| *v > 0.0)
        {
            self.multiple_of.push((value, number.to_string()));
        }
        if let Some(Value::String(pattern)) = schema.get("pattern") {
            self.patterns.push(pattern.clone());
        }
        if let Some(Value::String(format)) = schema.get("format") {
            self.formats.push(format.clone());
        }
        if let Some(Value::Array(required)) = schema.get("required") {
            self.required
                .extend(required.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        self.unique_items |= schema.get("uniqueItems") == Some(&Value::Bool(true));
    }

    fn restrict_values(&mut self, allowed: &[Value]) {
        self.values = Some(match self.values.take() {
            None => allowed.to_vec(),
            Some(current) => current
                .into_iter()
                .filter(|value| allowed.iter().any(|a| json_eq(a, value)))
                .collect(),
        });
    }

    /// The old schema's tightest `minLength`, `maxItems`, … (see [`COUNT_KEYWORDS`]).
    pub(super) fn count(&self, keyword: &str) -> Option<f64> {
        self.counts.get(keyword).copied()
    }

    /// Whether every old value is known to satisfy `keyword`, making the keyword harmless
    /// whatever the old schema's other limits say.
    pub(super) fn values_satisfy(&self, keyword: &str, argument: &Value) -> bool {
        self.values.as_ref().is_some_and(|values| {
            values
                .iter()
                .all(|value| satisfies(keyword, argument, value) == Some(true))
        })
    }
}

/// An integer-only bound as the inclusive integer it amounts to, so that e.g. old
/// `exclusiveMinimum: 0` and new `minimum: 1` on integers are recognised as equal.
fn integer_bound(bound: Bound, lower: bool) -> Bound {
    let value = match (lower, bound.exclusive) {
        (true, false) => bound.value.ceil(),
        (true, true) => bound.value.floor() + 1.0,
        (false, false) => bound.value.floor(),
        (false, true) => bound.value.ceil() - 1.0,
    };
    Bound {
        value,
        exclusive: false,
        shown: value.to_string(),
    }
}

/// Whether `value` satisfies `keyword: argument`; `None` when that cannot be decided here.
fn satisfies(keyword: &str, argument: &Value, value: &Value) -> Option<bool> {
    let applies_to = match keyword {
        "minimum" | "exclusiveMinimum" | "maximum" | "exclusiveMaximum" | "multipleOf" => NUMBER,
        "minLength" | "maxLength" => STRING,
        "minItems" | "maxItems" | "uniqueItems" => ARRAY,
        "minProperties" | "maxProperties" | "required" => OBJECT,
        _ => return None,
    };
    if value_atom(value) & applies_to == 0 {
        return Some(true);
    }
    #[allow(clippy::cast_precision_loss)]
    let size = |n: usize| n as f64;
    let limit = argument.as_f64();
    Some(match (keyword, value) {
        ("minimum", Value::Number(n)) => n.as_f64()? >= limit?,
        ("exclusiveMinimum", Value::Number(n)) => n.as_f64()? > limit?,
        ("maximum", Value::Number(n)) => n.as_f64()? <= limit?,
        ("exclusiveMaximum", Value::Number(n)) => n.as_f64()? < limit?,
        ("multipleOf", Value::Number(n)) => is_multiple(n.as_f64()?, limit?),
        ("minLength", Value::String(s)) => size(s.chars().count()) >= limit?,
        ("maxLength", Value::String(s)) => size(s.chars().count()) <= limit?,
        ("minItems", Value::Array(a)) => size(a.len()) >= limit?,
        ("maxItems", Value::Array(a)) => size(a.len()) <= limit?,
        ("uniqueItems", Value::Array(a)) => {
            argument != &Value::Bool(true)
                || a.iter()
                    .enumerate()
                    .all(|(i, x)| a[i + 1..].iter().all(|y| !json_eq(x, y)))
        }
        ("minProperties", Value::Object(o)) => size(o.len()) >= limit?,
        ("maxProperties", Value::Object(o)) => size(o.len()) <= limit?,
        ("required", Value::Object(o)) => argument
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .all(|name| o.contains_key(name)),
        _ => return None,
    })
}

/// Whether `value` is a multiple of `divisor`, up to floating-point rounding.
pub(super) fn is_multiple(value: f64, divisor: f64) -> bool {
    let quotient = value / divisor;
    quotient.is_finite() && (quotient - quotient.round()).abs() <= 1e-9 * quotient.abs().max(1.0)
}
