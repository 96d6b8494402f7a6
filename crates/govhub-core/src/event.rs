use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One Kafka-style message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name, e.g. `ce_id`.
    pub name: String,
    /// Header value as UTF-8 text.
    pub value: String,
}

/// An event ready for any sink: topic, key, headers and the serialized value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutEvent {
    /// Full topic name, prefix included.
    pub topic: String,
    /// Partitioning key; events with the same key keep their order.
    pub key: Option<String>,
    /// Message headers, in order.
    pub headers: Vec<Header>,
    /// The message value (JSON for every govhub topic).
    pub value: Vec<u8>,
}

impl OutEvent {
    /// The first header of this name, if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_str())
    }
}

/// A CloudEvents 1.0 event with JSON data.
///
/// Rendered in Kafka *binary* mode by [`CloudEvent::into_out_event`]: context attributes
/// become `ce_*` headers, `datacontenttype` becomes `content-type`, the data is the value.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    /// `id`: deterministic, see [`content_id`], so consumers can deduplicate.
    pub id: String,
    /// `source`: URI-reference naming the producing connector.
    pub source: String,
    /// `type`: reverse-DNS event type, e.g. `govhub.education.enrollment.v2`.
    pub ty: String,
    /// `subject`: the record's id within the source.
    pub subject: Option<String>,
    /// `time`: when the record was fetched.
    pub time: DateTime<Utc>,
    /// `dataschema`: `$id` of the schema the data conforms to.
    pub dataschema: Option<String>,
    /// Extension attributes (lowercase alphanumeric names).
    pub extensions: BTreeMap<String, String>,
    /// The event data.
    pub data: Value,
}

/// CloudEvents spec version govhub emits.
const SPEC_VERSION: &str = "1.0";

impl CloudEvent {
    /// Adds an extension attribute. Names must be lowercase ASCII letters and digits
    /// (CloudEvents 1.0 naming rule); govhub only uses fixed names.
    pub fn with_extension(mut self, name: &str, value: impl Into<String>) -> Self {
        debug_assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "invalid CloudEvents extension name {name:?}"
        );
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    /// Renders the event in Kafka binary content mode.
    pub fn into_out_event(self, topic: String, key: Option<String>) -> OutEvent {
        let mut headers = Vec::with_capacity(8 + self.extensions.len());
        let mut push = |name: &str, value: String| {
            headers.push(Header {
                name: name.to_owned(),
                value,
            })
        };
        push("ce_specversion", SPEC_VERSION.to_owned());
        push("ce_id", self.id);
        push("ce_source", self.source);
        push("ce_type", self.ty);
        push(
            "ce_time",
            self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
        );
        if let Some(subject) = self.subject {
            push("ce_subject", subject);
        }
        if let Some(schema) = self.dataschema {
            push("ce_dataschema", schema);
        }
        for (name, value) in self.extensions {
            push(&format!("ce_{name}"), value);
        }
        push("content-type", "application/json".to_owned());
        OutEvent {
            topic,
            key,
            headers,
            value: self.data.to_string().into_bytes(),
        }
    }
}

/// Deterministic event id: SHA-256 over the source, the source record id and the
/// content in canonical form (object keys sorted), as 32 hex characters.
///
/// The same record read twice gets the same id; a changed record gets a new one.
pub fn content_id(source: &str, source_record_id: &str, content: &Value) -> String {
    hex::encode(content_digest(source, source_record_id, content))
}

/// The 16 bytes [`content_id`] shows in hex.
pub fn content_digest(source: &str, source_record_id: &str, content: &Value) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    hasher.update([0]);
    hasher.update(source_record_id.as_bytes());
    hasher.update([0]);
    hash_canonical(&mut hasher, content);
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Lets serde_json write straight into the hash, without a string per key or scalar.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Feeds `value` to the hasher with object keys in sorted order, independent of how the
/// map was built or which serde_json features are enabled. The bytes are the value's
/// JSON text with sorted keys and a `,` after every member and element.
fn hash_canonical(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"{");
            for (key, member) in members {
                // Writing JSON text into a hasher cannot fail.
                let _ = serde_json::to_writer(HashWriter(hasher), key);
                hasher.update(b":");
                hash_canonical(hasher, member);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                hash_canonical(hasher, item);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => {
            let _ = serde_json::to_writer(HashWriter(hasher), scalar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_id_ignores_key_order_but_not_content() {
        let a = json!({"a": 1, "b": {"x": [1, 2], "y": "z"}});
        let b: Value = serde_json::from_str(r#"{"b": {"y": "z", "x": [1, 2]}, "a": 1}"#).unwrap();
        assert_eq!(content_id("s", "1", &a), content_id("s", "1", &b));
        assert_ne!(
            content_id("s", "1", &a),
            content_id("s", "1", &json!({"a": 2, "b": {"x": [1, 2], "y": "z"}}))
        );
        assert_ne!(content_id("s", "1", &a), content_id("s", "2", &a));
        assert_ne!(content_id("s", "1", &a), content_id("t", "1", &a));
        assert_eq!(content_id("s", "1", &a).len(), 32);
        // Pinned: ids already published must not change with the implementation.
        assert_eq!(
            content_id("s", "1", &json!({"b": "x\"y", "a": [1, 2.5, null, true]})),
            "33a1a97cd0b7a2c671fd66ad3cd2f113"
        );
    }

    #[test]
    fn binary_mode_puts_attributes_in_headers() {
        let time = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&Utc);
        let event = CloudEvent {
            id: "abc".into(),
            source: "/govhub/connectors/edu".into(),
            ty: "govhub.education.enrollment.v1".into(),
            subject: Some("S1".into()),
            time,
            dataschema: None,
            extensions: BTreeMap::new(),
            data: json!({"k": "v"}),
        }
        .with_extension("department", "education")
        .into_out_event("t".into(), Some("key".into()));
        assert_eq!(event.header("ce_specversion"), Some("1.0"));
        assert_eq!(event.header("ce_id"), Some("abc"));
        assert_eq!(event.header("ce_subject"), Some("S1"));
        assert_eq!(event.header("ce_time"), Some("2026-01-02T03:04:05.678Z"));
        assert_eq!(event.header("ce_department"), Some("education"));
        assert_eq!(event.header("ce_dataschema"), None);
        assert_eq!(event.header("content-type"), Some("application/json"));
        assert_eq!(event.value, br#"{"k":"v"}"#);
        assert_eq!(event.key.as_deref(), Some("key"));
    }
}
