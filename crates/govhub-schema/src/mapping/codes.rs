//! Code tables: a department's codes translated to the standard's values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A code table, built in by name or written inline in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Codes {
    /// A built-in table, e.g. `sex_gb2261`.
    Named(String),
    /// `{ "1" = "male", "2" = "female" }`: codes (as text) to canonical values.
    Table(BTreeMap<String, Value>),
}

/// Built-in tables by name.
pub const BUILT_IN: &[&str] = &["sex_gb2261"];

/// GB/T 2261.1-2003 human sex codes, plus the Chinese words departments type instead.
const SEX_GB2261: &[(&str, &str)] = &[
    ("0", "unknown"),
    ("1", "male"),
    ("2", "female"),
    ("9", "unknown"),
    ("男", "male"),
    ("女", "female"),
    ("未知", "unknown"),
    ("未知的性别", "unknown"),
    ("未说明", "unknown"),
    ("未说明的性别", "unknown"),
];

impl Codes {
    /// Whether the table exists (inline tables always do).
    pub fn is_known(&self) -> bool {
        match self {
            Codes::Named(name) => BUILT_IN.contains(&name.as_str()),
            Codes::Table(_) => true,
        }
    }

    /// Short name for messages: the built-in name, or `inline table`.
    pub fn describe(&self) -> &str {
        match self {
            Codes::Named(name) => name,
            Codes::Table(_) => "inline table",
        }
    }

    /// The canonical value of `code` (compared as trimmed text, so `1` and `"1"` match).
    pub fn lookup(&self, code: &Value) -> Option<Value> {
        let key = match code {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        match self {
            Codes::Table(table) => table.get(&key).cloned(),
            Codes::Named(name) if name == "sex_gb2261" => SEX_GB2261
                .iter()
                .find(|(code, _)| *code == key)
                .map(|(_, value)| Value::String((*value).to_owned())),
            Codes::Named(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sex_codes_follow_gb_t_2261_1() {
        let t = Codes::Named("sex_gb2261".into());
        assert_eq!(t.lookup(&json!(1)), Some(json!("male")));
        assert_eq!(t.lookup(&json!("2")), Some(json!("female")));
        assert_eq!(t.lookup(&json!("女")), Some(json!("female")));
        assert_eq!(t.lookup(&json!(0)), Some(json!("unknown")));
        assert_eq!(t.lookup(&json!(9)), Some(json!("unknown")));
        assert_eq!(t.lookup(&json!(3)), None);
        assert!(!Codes::Named("nope".into()).is_known());
    }

    #[test]
    fn inline_tables_match_numbers_and_strings() {
        let t: Codes =
            serde_json::from_value(json!({"01": "outpatient", "2": "inpatient"})).unwrap();
        assert_eq!(t.lookup(&json!("01")), Some(json!("outpatient")));
        assert_eq!(t.lookup(&json!(2)), Some(json!("inpatient")));
        assert_eq!(t.lookup(&json!(1)), None);
    }
}
