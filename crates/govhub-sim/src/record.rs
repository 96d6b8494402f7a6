//! What every simulated department's records have in common: the record as served,
//! and the ground truth about the people in it.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::Value;

use crate::noise::PersonNoise;

/// A simulated department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Department {
    /// 教育: the student registry.
    Education,
    /// 卫生健康: the regional health platform.
    Health,
    /// 民政: household registration.
    CivilAffairs,
    /// 城市管理: the grid case platform.
    UrbanManagement,
    /// 社区: the community resident registry. Not in [`Department::ALL`]: the example
    /// config and its evaluation connect the other four.
    Registry,
}

impl Department {
    /// The four departments of the example config, in a fixed order (the community
    /// registry, [`Department::Registry`], is not among them).
    pub const ALL: [Department; 4] = [
        Department::Education,
        Department::Health,
        Department::CivilAffairs,
        Department::UrbanManagement,
    ];

    /// The department's name as in `schemas/<department>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Department::Education => "education",
            Department::Health => "health",
            Department::CivilAffairs => "civil-affairs",
            Department::UrbanManagement => "urban-management",
            Department::Registry => "community",
        }
    }
}

impl std::fmt::Display for Department {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One person in a record, with who they really are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRef {
    /// The source record id that identifies this person's entry (the record's id, or a
    /// household member's id).
    pub record_id: String,
    /// JSON pointer to the person's object within the record's value.
    pub pointer: String,
    /// Index of the resident in the population: the ground truth.
    pub resident_index: u64,
    /// The noise in this entry.
    pub noise: PersonNoise,
}

/// One record as a department serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    /// The record's id in the source system.
    pub id: String,
    /// The record in the department's native shape.
    pub value: Value,
    /// The people in it.
    pub people: Vec<PersonRef>,
    /// Why the record violates the standard, if it does (`Faults::invalid_rate`).
    pub defect: Option<&'static str>,
    /// Number of updates since it was created.
    pub version: u32,
    /// Time of its last change.
    pub updated_at: DateTime<FixedOffset>,
}

/// `19850312`
pub(crate) fn compact_date(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// `1985年3月12日`, unpadded as registers print it.
pub(crate) fn chinese_date(date: NaiveDate) -> String {
    date.format("%Y年%-m月%-d日").to_string()
}
