//! Which record kinds are about a person, and where in the record the person is: declared
//! in the standard by the `x-govhub-person` annotation of a kind's schema, so a new kind
//! takes part in identity resolution without a code change.
//!
//! ```json
//! "x-govhub-person": "/patient"
//! "x-govhub-person": { "person": "/student", "phone": "/guardian/phone" }
//! "x-govhub-person": { "person": "/member", "division_code": "/address/division_code",
//!                      "address_text": "/address/text" }
//! ```
//!
//! `person` points at the person object (name, identifiers, sex, birth date, contacts,
//! address, as `common/person.v1.json` has them). `phone`, `division_code` and
//! `address_text` point at values elsewhere in the record, tried when the person object
//! has none of its own.

use serde_json::Value;

/// The annotation's keyword.
pub const KEYWORD: &str = "x-govhub-person";

/// The annotation's fields when it is an object.
const FIELDS: [&str; 4] = ["person", "phone", "division_code", "address_text"];

/// Where the person of a record kind is (JSON pointers into the canonical record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonLocation {
    /// The person object.
    pub person: String,
    /// A phone number outside the person object (a pupil's guardian's).
    pub phone: Option<String>,
    /// The registered address's division code outside the person object.
    pub division_code: Option<String>,
    /// The address text outside the person object (a household's registered address).
    pub address_text: Option<String>,
}

impl PersonLocation {
    /// The location a kind's `schema` declares: `Ok(None)` when the kind is not about a
    /// person, `Err` with what is wrong when the annotation is malformed.
    pub fn from_schema(schema: &Value) -> Result<Option<PersonLocation>, String> {
        let Some(annotation) = schema.get(KEYWORD) else {
            return Ok(None);
        };
        let location = match annotation {
            Value::String(person) => PersonLocation {
                person: person.clone(),
                phone: None,
                division_code: None,
                address_text: None,
            },
            Value::Object(fields) => {
                if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                    return Err(format!(
                        "{KEYWORD}: unknown field {unknown:?} (known: {})",
                        FIELDS.join(", ")
                    ));
                }
                let text = |field: &str| match fields.get(field) {
                    None => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(format!("{KEYWORD}.{field}: must be a JSON pointer string")),
                };
                PersonLocation {
                    person: text("person")?.ok_or_else(|| format!("{KEYWORD}.person: required"))?,
                    phone: text("phone")?,
                    division_code: text("division_code")?,
                    address_text: text("address_text")?,
                }
            }
            _ => {
                return Err(format!(
                    "{KEYWORD}: a JSON pointer to the person, or {{{}}}",
                    FIELDS.join(", ")
                ));
            }
        };
        for (field, pointer) in location.pointers() {
            if !pointer.starts_with('/') {
                return Err(format!(
                    "{KEYWORD}.{field}: {pointer:?} is not a JSON pointer (starts with \"/\")"
                ));
            }
        }
        Ok(Some(location))
    }

    /// `(field, pointer)` of every pointer set.
    pub fn pointers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("person", Some(self.person.as_str())),
            ("phone", self.phone.as_deref()),
            ("division_code", self.division_code.as_deref()),
            ("address_text", self.address_text.as_deref()),
        ]
        .into_iter()
        .filter_map(|(field, pointer)| pointer.map(|p| (field, p)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pointer_or_an_object_declares_the_person() {
        let short = json!({ KEYWORD: "/patient" });
        assert_eq!(
            PersonLocation::from_schema(&short).unwrap().unwrap().person,
            "/patient"
        );
        let long = json!({ KEYWORD: {
            "person": "/member",
            "division_code": "/address/division_code",
            "address_text": "/address/text",
        } });
        let location = PersonLocation::from_schema(&long).unwrap().unwrap();
        assert_eq!(location.person, "/member");
        assert_eq!(
            location.division_code.as_deref(),
            Some("/address/division_code")
        );
        assert_eq!(location.address_text.as_deref(), Some("/address/text"));
        assert_eq!(location.phone, None);
        assert_eq!(PersonLocation::from_schema(&json!({})).unwrap(), None);
    }

    #[test]
    fn a_malformed_annotation_says_what_is_wrong() {
        for (annotation, expected) in [
            (json!("patient"), "not a JSON pointer"),
            (json!({"phone": "/p"}), "person: required"),
            (
                json!({"person": "/p", "mobile": "/m"}),
                "unknown field \"mobile\"",
            ),
            (json!({"person": 3}), "must be a JSON pointer string"),
            (json!(true), "a JSON pointer to the person"),
        ] {
            let error = PersonLocation::from_schema(&json!({ KEYWORD: annotation })).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }
}
