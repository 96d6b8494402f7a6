//! Whether a mapping fits the kind it maps to, found without a single record: what
//! `govhub check` reports beyond the mapping's own syntax. A constant the schema refuses
//! (`sex = "U"`, a number where text is required) and a required field nothing maps
//! would reject every record; both are reported here, each with its config field.

use serde_json::{Map, Value};

use crate::mapping::{FieldRule, Mapping};
use crate::{KindSchema, Violation};

/// Every way `mapping` cannot produce a valid record of `kind`, as `(field, message)`
/// with fields like `["/student/sex"].const` (relative to the mapping's config table).
/// Rules with syntax problems ([`Mapping::problems`]) are best fixed first; this check
/// still runs on them.
pub fn problems(mapping: &Mapping, kind: &KindSchema) -> Vec<(String, String)> {
    let mut problems = constants(mapping, kind);
    problems.extend(unmapped_required(mapping, kind));
    problems
}

/// Constants the schema refuses where they are put.
fn constants(mapping: &Mapping, kind: &KindSchema) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (target, rule) in &mapping.0 {
        let Some(constant) = &rule.constant else {
            continue;
        };
        let alone = Mapping([(target.clone(), rule_with(constant.clone()))].into());
        let Ok(record) = alone.compile().apply(&Value::Object(Map::new())) else {
            continue;
        };
        // The record holds nothing else: its other violations (required fields around
        // the constant) are not the constant's fault.
        for violation in kind.validate(&record) {
            if violation.instance_path.starts_with(target.as_str()) {
                problems.push((
                    format!("[{target:?}].const"),
                    format!(
                        "the schema refuses this value ({}: {})",
                        violation.keyword, violation.message
                    ),
                ));
            }
        }
    }
    problems
}

/// Required fields of the kind that no rule fills: every record would lack them.
fn unmapped_required(mapping: &Mapping, kind: &KindSchema) -> Vec<(String, String)> {
    // A record where every mapped field holds something: what is still missing is what
    // nothing maps. The placeholder's type does not matter, only `required` is read.
    let placeholders = Mapping(
        mapping
            .0
            .iter()
            .map(|(target, rule)| {
                let value = rule.constant.clone().unwrap_or(Value::Bool(true));
                (target.clone(), rule_with(value))
            })
            .collect(),
    );
    let Ok(record) = placeholders.compile().apply(&Value::Object(Map::new())) else {
        return Vec::new();
    };
    let mut missing: Vec<String> = kind
        .validate(&record)
        .into_iter()
        .filter_map(|v| required_field(&v))
        .collect();
    missing.sort();
    missing.dedup();
    missing
        .into_iter()
        .map(|field| {
            (
                format!("[{field:?}]"),
                "required by the schema, but no rule maps it: every record would be rejected"
                    .to_owned(),
            )
        })
        .collect()
}

/// A rule that yields `value`, whatever the record.
fn rule_with(value: Value) -> FieldRule {
    FieldRule {
        constant: Some(value),
        ..FieldRule::default()
    }
}

/// The field a `required` violation says is missing, as a pointer into the record
/// (`/person` + `"sex" is a required property` → `/person/sex`); `None` for other
/// violations.
pub fn required_field(violation: &Violation) -> Option<String> {
    if violation.keyword != "required" {
        return None;
    }
    let rest = violation.message.strip_prefix('"')?;
    let (property, _) = rest.split_once('"')?;
    Some(format!("{}/{property}", violation.instance_path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Standard;

    fn mapping(toml_text: &str) -> Mapping {
        toml::from_str(toml_text).expect("mapping parses")
    }

    fn problems_of(kind: &str, toml_text: &str) -> Vec<(String, String)> {
        let standard = Standard::embedded().unwrap();
        problems(&mapping(toml_text), standard.latest(kind).unwrap())
    }

    #[test]
    fn a_constant_outside_the_enum_or_of_the_wrong_type_is_refused() {
        let found = problems_of(
            "civil-affairs.resident",
            r#"
"/record_id" = { from = "/rkbh" }
"/person/name" = { from = "/xm" }
"/person/sex" = { const = "U" }
"/person/address/postal_code" = { const = 200120 }
"/person/address/text" = { const = "某路1号" }
"#,
        );
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                r#"["/person/address/postal_code"].const"#,
                r#"["/person/sex"].const"#
            ],
            "{found:?}"
        );
        assert!(found[0].1.contains("type"), "{}", found[0].1);
        assert!(found[1].1.contains("enum"), "{}", found[1].1);
    }

    #[test]
    fn a_required_field_nothing_maps_is_named() {
        let found = problems_of(
            "civil-affairs.household-member",
            r#"
"/member_id" = { from = "/cybh" }
"/household_id" = { from = "/hh" }
"/member/name" = { from = "/xm" }
"/member/birth_date" = { from = "/csrq" }
"/relation_to_head" = { const = "head" }
"/address/text" = { from = "/dz" }
"#,
        );
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [r#"["/address/division_code"]"#, r#"["/member/sex"]"#],
            "{found:?}"
        );
    }

    #[test]
    fn a_mapping_that_fits_has_no_problems() {
        let found = problems_of(
            "civil-affairs.resident",
            r#"
"/record_id" = { from = "/rkbh" }
"/person/name" = { concat = ["/xing", "/ming"] }
"/person/sex" = { from = "/xbdm", codes = "sex_gb2261", optional = true }
"/person/address/postal_code" = { const = "200120" }
"#,
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
