//! Limits on a single value: numeric bounds, `multipleOf`, length/item/property counts,
//! `uniqueItems`, `pattern` and `format`.

use serde_json::{Map, Value};

use super::summary::{BOUNDS, Summary, is_multiple};
use super::types::{ARRAY, OBJECT, STRING};
use super::{Found, Node, issue, quote, quote_all};

/// The count keywords: (keyword, the type it applies to, what a new limit rejects).
pub(super) const COUNT_KEYWORDS: [(&str, u8, &str); 6] = [
    ("minLength", STRING, "shorter strings"),
    ("maxLength", STRING, "longer strings"),
    ("minItems", ARRAY, "arrays with fewer items"),
    ("maxItems", ARRAY, "arrays with more items"),
    ("minProperties", OBJECT, "objects with fewer properties"),
    ("maxProperties", OBJECT, "objects with more properties"),
];

pub(super) fn check_bounds(
    summary: &Summary,
    schema: &Map<String, Value>,
    fragment: &Node,
    out: &mut Vec<Found>,
) {
    for (keyword, lower, exclusive) in BOUNDS {
        let Some(argument) = schema.get(keyword).filter(|v| v.is_number()) else {
            continue;
        };
        let Some(limit) = argument.as_f64() else {
            continue;
        };
        if summary.values_satisfy(keyword, argument) {
            continue;
        }
        let old = if lower {
            &summary.lower
        } else {
            &summary.upper
        };
        if old
            .as_ref()
            .is_some_and(|bound| bound.implies(lower, limit, exclusive))
        {
            continue;
        }
        let symbol = |exclusive: bool| match (lower, exclusive) {
            (true, false) => ">=",
            (true, true) => ">",
            (false, false) => "<=",
            (false, true) => "<",
        };
        let rejected = match (lower, exclusive) {
            (true, false) => format!("values below {argument}"),
            (true, true) => format!("values at or below {argument}"),
            (false, false) => format!("values above {argument}"),
            (false, true) => format!("values at or above {argument}"),
        };
        let why = match old {
            None => format!("{keyword} {argument} added: {rejected} would be rejected"),
            Some(bound) => format!(
                "{keyword} {} from {} {} to {} {argument}: {rejected} would be rejected",
                if lower { "raised" } else { "lowered" },
                symbol(bound.exclusive),
                bound.shown,
                symbol(exclusive),
            ),
        };
        out.push(issue(&fragment.child(&[keyword]), why));
    }
}

pub(super) fn check_multiple_of(
    summary: &Summary,
    schema: &Map<String, Value>,
    fragment: &Node,
    out: &mut Vec<Found>,
) {
    let Some(argument) = schema.get("multipleOf") else {
        return;
    };
    let Some(divisor) = argument.as_f64().filter(|d| *d > 0.0) else {
        return;
    };
    if summary.values_satisfy("multipleOf", argument)
        || summary
            .multiple_of
            .iter()
            .any(|(old, _)| is_multiple(*old, divisor))
    {
        return;
    }
    let why = match summary.multiple_of.as_slice() {
        [] => format!("multipleOf {argument} added: numbers not divisible by it would be rejected"),
        old => format!(
            "multipleOf changed from {} to {argument}: numbers not divisible by it would be \
             rejected",
            old.iter()
                .map(|(_, shown)| shown.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    };
    out.push(issue(&fragment.child(&["multipleOf"]), why));
}

pub(super) fn check_counts(
    summary: &Summary,
    schema: &Map<String, Value>,
    fragment: &Node,
    out: &mut Vec<Found>,
) {
    for (keyword, atoms, rejected) in COUNT_KEYWORDS {
        if summary.atoms & atoms == 0 {
            continue;
        }
        let Some(argument) = schema.get(keyword) else {
            continue;
        };
        let Some(limit) = argument.as_f64() else {
            continue;
        };
        if summary.values_satisfy(keyword, argument) {
            continue;
        }
        let is_min = keyword.starts_with("min");
        let old = summary.count(keyword);
        let implied = if is_min {
            limit <= 0.0 || old.is_some_and(|o| o >= limit)
        } else {
            old.is_some_and(|o| o <= limit)
        };
        if implied {
            continue;
        }
        let why = match old {
            None => format!("{keyword} {argument} added: {rejected} would be rejected"),
            Some(old) => format!(
                "{keyword} {} from {old} to {argument}: {rejected} would be rejected",
                if is_min { "raised" } else { "lowered" }
            ),
        };
        out.push(issue(&fragment.child(&[keyword]), why));
    }
}

pub(super) fn check_unique_items(
    summary: &Summary,
    schema: &Map<String, Value>,
    fragment: &Node,
    out: &mut Vec<Found>,
) {
    let unique = Value::Bool(true);
    if schema.get("uniqueItems") == Some(&unique)
        && !summary.unique_items
        && !summary.values_satisfy("uniqueItems", &unique)
    {
        out.push(issue(
            &fragment.child(&["uniqueItems"]),
            "uniqueItems set to true: arrays with duplicate items would be rejected".into(),
        ));
    }
}

/// Regular expressions and formats are not compared for containment: only an unchanged
/// one (among the old schema's) passes.
pub(super) fn check_pattern_and_format(
    summary: &Summary,
    schema: &Map<String, Value>,
    fragment: &Node,
    out: &mut Vec<Found>,
) {
    if let Some(Value::String(pattern)) = schema.get("pattern")
        && !summary.patterns.contains(pattern)
    {
        let why = if summary.patterns.is_empty() {
            format!(
                "pattern {} added: strings not matching it would be rejected",
                quote(pattern)
            )
        } else {
            format!(
                "pattern tightened or changed from {} to {}: containment cannot be \
                     proven, so strings matching only the old pattern may be rejected",
                quote_all(&summary.patterns),
                quote(pattern)
            )
        };
        out.push(issue(&fragment.child(&["pattern"]), why));
    }
    if let Some(Value::String(format)) = schema.get("format")
        && !summary.formats.contains(format)
    {
        let why = if summary.formats.is_empty() {
            format!(
                "format {} added: strings not in that format would be rejected",
                quote(format)
            )
        } else {
            format!(
                "format changed from {} to {}: strings valid only in the old format would \
                     be rejected",
                quote_all(&summary.formats),
                quote(format)
            )
        };
        out.push(issue(&fragment.child(&["format"]), why));
    }
}
