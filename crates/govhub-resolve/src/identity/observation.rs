//! What one record says about the person it is about: the input of identity resolution.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The person a record of each kind is about: a JSON pointer to the person object, and
/// where to look for a phone and a division code the person object does not carry.
/// Kinds not listed are not about one person (or not yet resolved) and keep their
/// source record id as the event key.
struct Subject {
    kind: &'static str,
    person: &'static str,
    /// Tried after the person's own `phone` / `contacts/phone`.
    phone: Option<&'static str>,
    /// Registered address of the person (not the place of an event).
    division: Option<&'static str>,
}

const SUBJECTS: &[Subject] = &[
    Subject {
        kind: "education.enrollment",
        person: "/student",
        // A pupil is reached through the guardian's number, as other departments record it.
        phone: Some("/guardian/phone"),
        division: None,
    },
    Subject {
        kind: "health.encounter",
        person: "/patient",
        phone: None,
        division: None,
    },
    Subject {
        kind: "health.vaccination",
        person: "/person",
        phone: None,
        division: None,
    },
    Subject {
        kind: "civil-affairs.household-member",
        person: "/member",
        phone: None,
        division: Some("/address/division_code"),
    },
    Subject {
        kind: "civil-affairs.assistance-case",
        person: "/applicant",
        phone: None,
        division: Some("/address/division_code"),
    },
    Subject {
        kind: "civil-affairs.marriage-registration",
        person: "/party_a",
        phone: None,
        division: None,
    },
    Subject {
        kind: "urban-management.grid-case",
        person: "/reporter",
        phone: None,
        // The case's location is where something happened, not where the reporter lives.
        division: None,
    },
];

pub use govhub_schema::Sex;

/// Where a record came from: the key of an observation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    /// Department (`education`, `health` …).
    pub department: String,
    /// Connector name in the config.
    pub connector: String,
    /// The record's id in its source system.
    pub source_record_id: String,
}

/// The person a record is about, in canonical (already normalized) form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Which record says so.
    pub record: RecordRef,
    /// When the record was fetched (milliseconds since the Unix epoch); "most recent"
    /// survivorship and provenance use it.
    pub at_ms: i64,
    /// Name as normalized by the map stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 18-digit resident ID (valid: the schema checked it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_id: Option<String>,
    /// Sex, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Birth date `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// Mobile number (11 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Division code (6 digits) of the registered address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_code: Option<String>,
}

impl Observation {
    /// Whether records of `kind` are about one person govhub resolves.
    pub fn resolves(kind: &str) -> bool {
        SUBJECTS.iter().any(|s| s.kind == kind)
    }

    /// The person a canonical record of `kind` is about, or `None` when the kind is not
    /// about a person or the record names nobody (an anonymous grid case).
    pub fn from_canonical(
        kind: &str,
        record: RecordRef,
        at_ms: i64,
        canonical: &Value,
    ) -> Option<Observation> {
        let subject = SUBJECTS.iter().find(|s| s.kind == kind)?;
        let person = canonical.pointer(subject.person)?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let name = text(person.get("name"));
        let resident_id = text(
            person
                .get("resident_id")
                .or_else(|| person.pointer("/identifiers/resident_id")),
        );
        if name.is_none() && resident_id.is_none() {
            return None;
        }
        let sex = match person.get("sex").and_then(Value::as_str) {
            Some("male") => Some(Sex::Male),
            Some("female") => Some(Sex::Female),
            _ => None,
        };
        let phone = text(
            person
                .get("phone")
                .or_else(|| person.pointer("/contacts/phone"))
                .or_else(|| subject.phone.and_then(|p| canonical.pointer(p))),
        );
        Some(Observation {
            record,
            at_ms,
            name,
            resident_id,
            sex,
            birth_date: text(person.get("birth_date")),
            phone,
            division_code: text(subject.division.and_then(|p| canonical.pointer(p))),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record() -> RecordRef {
        RecordRef {
            department: "civil-affairs".into(),
            connector: "civil_affairs".into(),
            source_record_id: "M1".into(),
        }
    }

    #[test]
    fn a_household_member_is_read_with_the_household_address() {
        let canonical = json!({
            "member_id": "M1", "household_id": "H1", "relation_to_head": "head",
            "member": {"name": "李娜", "sex": "female", "birth_date": "1990-03-05",
                "identifiers": {"resident_id": "11010519900305002X"},
                "contacts": {"phone": "13800000000"}},
            "address": {"division_code": "110105", "text": "某街道"}
        });
        let o =
            Observation::from_canonical("civil-affairs.household-member", record(), 7, &canonical)
                .unwrap();
        assert_eq!(o.name.as_deref(), Some("李娜"));
        assert_eq!(o.resident_id.as_deref(), Some("11010519900305002X"));
        assert_eq!(o.sex, Some(Sex::Female));
        assert_eq!(o.birth_date.as_deref(), Some("1990-03-05"));
        assert_eq!(o.phone.as_deref(), Some("13800000000"));
        assert_eq!(o.division_code.as_deref(), Some("110105"));
    }

    #[test]
    fn a_pupil_is_reached_through_the_guardian_and_anonymous_cases_name_nobody() {
        let enrollment =
            json!({"student": {"name": "王小明"}, "guardian": {"phone": "13900000000"}});
        let o =
            Observation::from_canonical("education.enrollment", record(), 0, &enrollment).unwrap();
        assert_eq!(o.phone.as_deref(), Some("13900000000"));
        let anonymous = json!({"case_id": "C1", "description": "井盖缺失"});
        assert!(
            Observation::from_canonical("urban-management.grid-case", record(), 0, &anonymous)
                .is_none()
        );
        assert!(Observation::from_canonical("unknown.kind", record(), 0, &enrollment).is_none());
    }
}
