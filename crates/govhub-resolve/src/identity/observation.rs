//! What one record says about the person it is about: the input of identity resolution.

use govhub_schema::PersonLocation;
use govhub_schema::formats::resident_id as id_format;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// A resident ID the record carries but that failed its check (a mistyped digit,
    /// two digits swapped), as the mapping set it aside
    /// (`identifiers.resident_id_unverified`): never proof of who the person is, but
    /// strong evidence when it is one keystroke away from another record's ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_id_unverified: Option<String>,
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
    /// The address as written (`address.text`): where the person lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The address's comparison key ([`address_key`](super::address::address_key)) when
    /// the text is not at hand: a record rebuilt from the index, which keeps the key
    /// only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_key: Option<u64>,
}

impl Observation {
    /// The person a canonical record is about, read where its kind's schema says the
    /// person is (`x-govhub-person`), or `None` when the record names nobody (an
    /// anonymous grid case).
    ///
    /// A record without a sex or a birth date of its own counts with the ones its
    /// resident ID encodes (GB 11643: digits 7–14 the birth date, the 17th odd for
    /// male), so a registry that leaves them out is compared like every other record.
    /// An unverified ID is read so too when there is no valid one: a mistyped digit
    /// lands in the birth date or the sex digit in 9 of 18 positions, and a date or
    /// sex one digit off still falls into a near comparison level.
    pub fn from_canonical(
        location: &PersonLocation,
        record: RecordRef,
        at_ms: i64,
        canonical: &Value,
    ) -> Option<Observation> {
        let person = canonical.pointer(&location.person)?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let outside =
            |pointer: &Option<String>| pointer.as_deref().and_then(|p| canonical.pointer(p));
        let name = text(person.get("name"));
        let resident_id = text(
            person
                .get("resident_id")
                .or_else(|| person.pointer("/identifiers/resident_id")),
        );
        let resident_id_unverified = text(
            person
                .get("resident_id_unverified")
                .or_else(|| person.pointer("/identifiers/resident_id_unverified")),
        );
        if name.is_none() && resident_id.is_none() && resident_id_unverified.is_none() {
            return None;
        }
        // What the record states wins; a resident ID fills in the rest.
        let encoded_id = resident_id
            .as_deref()
            .and_then(id_format::normalize)
            .or_else(|| {
                resident_id_unverified
                    .as_deref()
                    .and_then(unverified_digits)
            });
        let sex = match person.get("sex").and_then(Value::as_str) {
            Some("male") => Some(Sex::Male),
            Some("female") => Some(Sex::Female),
            _ => encoded_id.as_deref().and_then(id_format::sex),
        };
        let birth_date = text(person.get("birth_date")).or_else(|| {
            encoded_id
                .as_deref()
                .and_then(id_format::birth_date)
                .map(|date| date.format("%Y-%m-%d").to_string())
        });
        let phone = text(
            person
                .get("phone")
                .or_else(|| person.pointer("/contacts/phone"))
                .or_else(|| outside(&location.phone)),
        );
        let division_code = text(
            person
                .pointer("/address/division_code")
                .or_else(|| outside(&location.division_code)),
        );
        let address = text(
            person
                .pointer("/address/text")
                .or_else(|| outside(&location.address_text)),
        );
        Some(Observation {
            record,
            at_ms,
            name,
            resident_id,
            resident_id_unverified,
            sex,
            birth_date,
            phone,
            division_code,
            address,
            address_key: None,
        })
    }
}

/// An unverified resident ID as 17 ASCII digits and a check character (`X` upper
/// case), tidied as the mapping tidies a value it sets aside
/// ([`Normalizer::tidy`](govhub_schema::normalize::Normalizer::tidy)); `None` when it is
/// not even shaped like an ID.
pub(crate) fn unverified_digits(text: &str) -> Option<String> {
    let tidy = govhub_schema::normalize::Normalizer::ResidentId.tidy(text);
    let bytes = tidy.as_bytes();
    let shaped = bytes.len() == 18
        && bytes[..17].iter().all(u8::is_ascii_digit)
        && (bytes[17].is_ascii_digit() || bytes[17] == b'X');
    shaped.then_some(tidy)
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

    fn at(person: &str, phone: Option<&str>, division_code: Option<&str>) -> PersonLocation {
        PersonLocation {
            person: person.into(),
            phone: phone.map(str::to_owned),
            division_code: division_code.map(str::to_owned),
            address_text: division_code.map(|_| "/address/text".to_owned()),
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
        let location = at("/member", None, Some("/address/division_code"));
        let o = Observation::from_canonical(&location, record(), 7, &canonical).unwrap();
        assert_eq!(o.name.as_deref(), Some("李娜"));
        assert_eq!(o.resident_id.as_deref(), Some("11010519900305002X"));
        assert_eq!(o.sex, Some(Sex::Female));
        assert_eq!(o.birth_date.as_deref(), Some("1990-03-05"));
        assert_eq!(o.phone.as_deref(), Some("13800000000"));
        assert_eq!(o.division_code.as_deref(), Some("110105"));
        assert_eq!(o.address.as_deref(), Some("某街道"));
    }

    #[test]
    fn a_pupil_is_reached_through_the_guardian_and_anonymous_cases_name_nobody() {
        let enrollment =
            json!({"student": {"name": "王小明"}, "guardian": {"phone": "13900000000"}});
        let location = at("/student", Some("/guardian/phone"), None);
        let o = Observation::from_canonical(&location, record(), 0, &enrollment).unwrap();
        assert_eq!(o.phone.as_deref(), Some("13900000000"));
        let anonymous = json!({"case_id": "C1", "description": "井盖缺失"});
        assert!(
            Observation::from_canonical(&at("/reporter", None, None), record(), 0, &anonymous)
                .is_none()
        );
    }

    #[test]
    fn a_registry_record_without_sex_or_birth_date_counts_with_its_ids() {
        // A valid synthetic ID: born 1949-12-31, 17th digit 2 (female).
        let resident = json!({"record_id": "RK01", "person": {"name": "陈伟",
            "identifiers": {"resident_id": "11010519491231002X"},
            "address": {"division_code": "310115", "text": "某路1号"}}});
        let o = Observation::from_canonical(&at("/person", None, None), record(), 0, &resident)
            .unwrap();
        assert_eq!(o.birth_date.as_deref(), Some("1949-12-31"));
        assert_eq!(o.sex, Some(Sex::Female));
        assert_eq!(o.division_code.as_deref(), Some("310115"));
        assert_eq!(
            o.address.as_deref(),
            Some("某路1号"),
            "the person's own address"
        );
        // What the record says wins over what its ID encodes; an ID that fails its
        // check says nothing.
        let stated = json!({"person": {"name": "陈伟", "sex": "male", "birth_date": "1950-01-01",
            "identifiers": {"resident_id": "11010519491231002X"}}});
        let o =
            Observation::from_canonical(&at("/person", None, None), record(), 0, &stated).unwrap();
        assert_eq!(
            (o.sex, o.birth_date.as_deref()),
            (Some(Sex::Male), Some("1950-01-01"))
        );
        let typo = json!({"person": {"name": "陈伟",
            "identifiers": {"resident_id": "110105194912310021"}}});
        let o =
            Observation::from_canonical(&at("/person", None, None), record(), 0, &typo).unwrap();
        assert_eq!((o.sex, o.birth_date), (None, None));
    }

    #[test]
    fn an_unverified_id_is_kept_and_read_for_birth_date_and_sex_when_nothing_better_is() {
        // Full-width digits and a wrong check character: set aside by the mapping.
        let set_aside = json!({"person": {"name": "陈伟",
            "identifiers": {"resident_id_unverified": "１１０１０５１９４９１２３１００２１"}}});
        let o = Observation::from_canonical(&at("/person", None, None), record(), 0, &set_aside)
            .unwrap();
        assert_eq!(
            o.resident_id_unverified.as_deref(),
            Some("１１０１０５１９４９１２３１００２１")
        );
        assert_eq!(o.resident_id, None);
        assert_eq!(o.birth_date.as_deref(), Some("1949-12-31"));
        assert_eq!(o.sex, Some(Sex::Female));
        // Not shaped like an ID at all: kept, but it says nothing.
        let garbage = json!({"person": {"name": "陈伟",
            "identifiers": {"resident_id_unverified": "unknown"}}});
        let o =
            Observation::from_canonical(&at("/person", None, None), record(), 0, &garbage).unwrap();
        assert_eq!((o.sex, o.birth_date), (None, None));
    }
}
