//! Golden records: one value per field for each resident, chosen among the records of
//! their cluster by a survivorship rule per field, with the record each value came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a field's value is chosen among a resident's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// From the first department in `order` that has a value; departments not listed
    /// come after, most recent first.
    Trusted {
        /// Departments, most trusted first.
        order: Vec<String>,
    },
    /// The most recently fetched value.
    MostRecent,
    /// The value most records agree on; ties go to the most recent.
    MostFrequent,
}

/// A rule per golden-record field (`[identity.survivorship]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Survivorship {
    /// 姓名
    pub name: Rule,
    /// 公民身份号码
    pub resident_id: Rule,
    /// 性别
    pub sex: Rule,
    /// 出生日期
    pub birth_date: Rule,
    /// 手机号码
    pub phone: Rule,
    /// 户籍地行政区划
    pub division_code: Rule,
}

impl Default for Survivorship {
    /// Without a config that says which department to trust for what: the value most
    /// records agree on (ties to the most recent), and the newest phone, since phones
    /// change. No department is named here: which registry is authoritative is the
    /// deployment's to say (`[identity.survivorship]`; the example config trusts civil
    /// affairs' household register first).
    fn default() -> Survivorship {
        Survivorship {
            name: Rule::MostFrequent,
            resident_id: Rule::MostFrequent,
            sex: Rule::MostFrequent,
            birth_date: Rule::MostFrequent,
            phone: Rule::MostRecent,
            division_code: Rule::MostFrequent,
        }
    }
}

/// Where a golden value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Department of the record.
    pub department: String,
    /// The record's id in its source system.
    pub source_record_id: String,
    /// When the record was fetched (RFC 3339).
    pub at: String,
}

/// One candidate value of a field.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub value: String,
    pub department: &'a str,
    pub source_record_id: &'a str,
    pub at_ms: i64,
}

impl Rule {
    /// The surviving value among `candidates` (all non-empty).
    pub fn choose<'c, 'a>(&self, candidates: &'c [Candidate<'a>]) -> Option<&'c Candidate<'a>> {
        // Most recent first; equal times by source record id, so the choice never
        // depends on arrival order.
        let newest = |a: &&Candidate<'_>, b: &&Candidate<'_>| {
            a.at_ms
                .cmp(&b.at_ms)
                .then_with(|| b.source_record_id.cmp(a.source_record_id))
                .then_with(|| b.value.cmp(&a.value))
        };
        match self {
            Rule::MostRecent => candidates.iter().max_by(newest),
            Rule::Trusted { order } => {
                let rank = |c: &Candidate<'_>| {
                    order
                        .iter()
                        .position(|d| d == c.department)
                        .unwrap_or(order.len())
                };
                let best = candidates.iter().map(rank).min()?;
                candidates.iter().filter(|c| rank(c) == best).max_by(newest)
            }
            Rule::MostFrequent => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for c in candidates {
                    *counts.entry(c.value.as_str()).or_default() += 1;
                }
                let top = counts.values().copied().max()?;
                candidates
                    .iter()
                    .filter(|c| counts[c.value.as_str()] == top)
                    .max_by(newest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(value: &str, department: &'static str, at_ms: i64) -> Candidate<'static> {
        Candidate {
            value: value.into(),
            department,
            source_record_id: "r",
            at_ms,
        }
    }

    #[test]
    fn rules_choose() {
        let candidates = [
            c("a", "health", 3),
            c("b", "civil-affairs", 1),
            c("a", "education", 2),
        ];
        let pick = |rule: &Rule| rule.choose(&candidates).unwrap().value.clone();
        assert_eq!(pick(&Rule::MostRecent), "a");
        let registry_first = Rule::Trusted {
            order: vec!["civil-affairs".into()],
        };
        assert_eq!(pick(&registry_first), "b");
        assert_eq!(pick(&Rule::MostFrequent), "a");
        let untrusted = Rule::Trusted {
            order: vec!["tax".into()],
        };
        assert_eq!(pick(&untrusted), "a", "none listed: the most recent");
        assert!(Rule::MostRecent.choose(&[]).is_none());
    }
}
