//! The AsyncAPI 3.0.0 document of govhub's topics, for downstream developers.
//!
//! [`document`] describes every topic govhub writes: one channel per record kind and
//! version of the unified standard, the person topic (golden records), the identity
//! topic (link / merge / split decisions) and the dead-letter topic. Topic names, event
//! types and header names are taken from events built by the hub's own publish stage
//! ([`Publisher`]), not re-derived here; payload schemas are the standard's JSON Schemas
//! (2020-12) with every `$ref` inlined, so the document is self-contained.
//!
//! The payload schemas of govhub's own topics (person, identity, dead letters) are
//! written in [`payloads`]; the headers are described in [`headers`] from sample events,
//! and [`inline`] makes the standard's schemas self-contained. With a config's
//! data-sharing views ([`document_with_views`]), [`views`] derives each view's payload
//! from its kind's schema.

use std::collections::BTreeMap;

use govhub_core::Violation;
use govhub_schema::{ID_BASE, Standard};
use govhub_stream::{KafkaSinkConfig, PERSON_ID_EXTENSION, Publisher, QUALITY_EXTENSION, Topics};
use serde_json::{Map, Value, json};

use crate::views::ViewConfig;

mod headers;
pub(crate) mod inline;
mod payloads;
mod views;

use headers::*;
use inline::*;
use payloads::*;

/// AsyncAPI version of the document.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// `schemaFormat` of every payload: the standard's JSON Schema dialect.
pub const SCHEMA_FORMAT: &str = "application/schema+json;version=draft-2020-12";

/// Version of the Kafka bindings used.
const KAFKA_BINDING_VERSION: &str = "0.5.0";

/// The broker described when no config is given: the one `deploy/kafka/local.sh` starts
/// and `deploy/govhub.example.toml` names.
pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "127.0.0.1:9092";

/// Why the document could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum AsyncApiError {
    /// A `$ref` in a schema points nowhere in the standard.
    #[error("{schema}: $ref {reference} cannot be inlined: {reason}")]
    Ref {
        /// `$id` of the schema holding the reference.
        schema: String,
        /// The reference, resolved against its base.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// The hub emits a header this generator has no description for.
    #[error(
        "events on {topic} carry header {header}, which the AsyncAPI generator does not \
         describe; add it to header_doc in crates/govhub/src/asyncapi/headers.rs"
    )]
    UndocumentedHeader {
        /// Topic of the sample event.
        topic: String,
        /// The header's name.
        header: String,
    },
    /// A sample record for the publish stage could not be built.
    #[error("building a sample record: {0}")]
    Sample(String),
}

/// A channel, message or operation id for a topic suffix: `education.enrollment.v1` →
/// `education_enrollment_v1`.
fn id_of(suffix: &str) -> String {
    suffix.replace('.', "_")
}

/// One kind of message on a topic.
struct Message {
    /// Message and payload schema id.
    id: String,
    title: String,
    summary: String,
    /// The 2020-12 payload schema, `$ref`s not yet inlined, and the URI its relative
    /// references resolve against.
    payload: Value,
    payload_base: String,
    headers: Value,
    key: Value,
    examples: Vec<Value>,
}

/// One topic as the document describes it.
struct Topic {
    /// Channel and operation id.
    id: String,
    /// The full topic name.
    address: String,
    title: String,
    summary: String,
    description: String,
    messages: Vec<Message>,
    /// Kafka topic configuration the consumer can rely on.
    topic_configuration: Option<Value>,
    tag: &'static str,
}

/// `schema` without govhub's own `x-govhub-*` annotations at its top level.
fn without_annotations(schema: &Value) -> Value {
    let mut payload = schema.clone();
    if let Value::Object(map) = &mut payload {
        map.retain(|key, _| !key.starts_with("x-govhub-"));
    }
    payload
}

fn key_schema(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// The AsyncAPI 3.0.0 document of every topic under `topics`, with `kafka`'s bootstrap
/// servers as servers (none for the embedded log).
pub fn document(
    standard: &Standard,
    topics: &Topics,
    kafka: Option<&KafkaSinkConfig>,
) -> Result<Value, AsyncApiError> {
    document_with_views(standard, topics, kafka, &BTreeMap::new())
}

/// [`document`] with a channel for every kind of every data-sharing view in `views`.
pub fn document_with_views(
    standard: &Standard,
    topics: &Topics,
    kafka: Option<&KafkaSinkConfig>,
    views: &BTreeMap<String, ViewConfig>,
) -> Result<Value, AsyncApiError> {
    let publisher = Publisher::new(topics.clone());
    let person_header = format!("ce_{PERSON_ID_EXTENSION}");
    let quality_header = format!("ce_{QUALITY_EXTENSION}");
    let mut described = Vec::new();

    for schema in standard.iter() {
        let department = schema.kind.split('.').next().unwrap_or(&schema.kind);
        let record = sample_record(department, &schema.kind)?;
        let id = Publisher::accepted_id(&record, &json!({}));
        // A person's resident ID set aside is the flag a record of a person kind may
        // carry; the example shows it.
        let set_aside: Vec<String> = schema
            .person
            .iter()
            .map(|p| format!("{}/identifiers/resident_id_unverified", p.person))
            .collect();
        let event = publisher.accepted(
            &record,
            json!({}),
            &schema.topic_suffix(),
            &schema.id,
            id,
            Some(EXAMPLE_PERSON),
            &set_aside,
        );
        let title = schema
            .schema
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or(&schema.kind)
            .to_owned();
        let about = schema
            .schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = id_of(&schema.topic_suffix());
        let keyed = match &schema.person {
            Some(location) => format!(
                "The record is about the person at `{}` (the schema's `x-govhub-person`): \
                 a record identity resolution linked to a resident is keyed by that \
                 resident's unified person id (also in `ce_govhubpersonid`), so every \
                 event about one person keeps its order; a record naming no person is \
                 keyed by its source record id.",
                location.person
            ),
            None => "Records of this kind are not about one person: each is keyed by its \
                     source record id."
                .to_owned(),
        };
        let summary = format!(
            "Valid {} records, version {}: one event per new or changed record.",
            schema.kind, schema.version
        );
        described.push(Topic {
            id: id.clone(),
            address: event.topic.clone(),
            description: format!(
                "{about}\n\nEvery record published here passed the unified standard's schema \
                 `{}` (`schemas/{}`). A record changed in its source system is published \
                 again as a new event with a new `ce_id`; an unchanged record is never \
                 published twice in normal operation, and a replay after a crash repeats \
                 the same `ce_id`s. {keyed}",
                schema.id, schema.path
            ),
            messages: vec![Message {
                id,
                title: title.clone(),
                summary: summary.clone(),
                // The person annotation is govhub's own (said in the description above);
                // strict schema compilers downstream refuse unknown keywords.
                payload: without_annotations(&schema.schema),
                payload_base: schema.id.clone(),
                headers: headers_schema(
                    &event,
                    &HeaderSpec {
                        optional: &[person_header.as_str(), quality_header.as_str()],
                        notes: &[
                            ("ce_source", "/govhub/<department>/<connector>."),
                            ("ce_subject", "The record's id in its source system."),
                            ("ce_time", "When govhub fetched the record."),
                            (
                                person_header.as_str(),
                                "Set when identity resolution linked the record to a \
                                 resident; then also the event key.",
                            ),
                        ],
                        fixed_source: false,
                    },
                )?,
                key: key_schema(
                    "The unified person id of the resident the record is about (equal to \
                     ce_govhubpersonid); for a record naming no person, its id in its \
                     source system (ce_subject).",
                ),
                examples: vec![json!({
                    "name": "headers",
                    "summary": "Headers of an event as the hub builds it (made-up record).",
                    "headers": example_headers(&event)
                })],
            }],
            title,
            summary,
            topic_configuration: None,
            tag: "records",
        });
    }

    for (subscriber, view) in views {
        for (kind, kind_view) in &view.kinds {
            let Some(schema) = standard.latest(kind) else {
                continue;
            };
            let department = schema.kind.split('.').next().unwrap_or(&schema.kind);
            let record = sample_record(department, &schema.kind)?;
            let id = Publisher::accepted_id(&record, &json!({}));
            let source = publisher.accepted(
                &record,
                json!({}),
                &schema.topic_suffix(),
                &schema.id,
                id,
                Some(EXAMPLE_PERSON),
                &[],
            );
            let address = topics.view(subscriber, &schema.topic_suffix());
            let event = crate::views::compiled::view_event(&source, address.clone(), &json!({}));
            let id = id_of(&address.replacen(topics.prefix(), "", 1));
            let title = format!("{subscriber}: {kind}");
            let summary = format!(
                "The records of {kind} (version {}) the subscriber {subscriber} may read: \
                 one event per event of govhub.{}.",
                schema.version,
                schema.topic_suffix()
            );
            described.push(Topic {
                id: id.clone(),
                address,
                description: format!(
                    "A data-sharing view: every event of the kind's topic `{}` is also \
                     written here, in the same write, with the same `ce_id`, key, type and \
                     extensions but no `ce_dataschema`, its payload cut to what the view \
                     shares: fields it drops are absent, masked fields keep a few \
                     characters, hashed fields are the view's keyed hash (equal for equal \
                     values within this view, across kinds). Dead letters, golden records \
                     and identity decisions are never shared through views.",
                    source.topic
                ),
                messages: vec![Message {
                    id,
                    title: title.clone(),
                    summary: summary.clone(),
                    payload: views::view_schema(standard, schema, kind_view)?,
                    payload_base: schema.id.clone(),
                    headers: headers_schema(
                        &event,
                        &HeaderSpec {
                            optional: &[person_header.as_str(), quality_header.as_str()],
                            notes: &[
                                ("ce_source", "/govhub/<department>/<connector>."),
                                ("ce_subject", "The record's id in its source system."),
                                ("ce_time", "When govhub fetched the record."),
                            ],
                            fixed_source: false,
                        },
                    )?,
                    key: key_schema(
                        "The key of the source event: the unified person id of the \
                         resident the record is about, or the record's id in its source \
                         system.",
                    ),
                    examples: vec![json!({
                        "name": "headers",
                        "summary": "Headers of a view event as the hub builds it (made-up record).",
                        "headers": example_headers(&event)
                    })],
                }],
                title,
                summary,
                topic_configuration: None,
                tag: "views",
            });
        }
    }

    let identity_notes = |time: &'static str| -> [(&str, &str); 4] {
        [
            ("ce_source", "/govhub/identity: identity resolution."),
            ("ce_subject", "The unified person id (the event key)."),
            (person_header.as_str(), "Equal to the key."),
            ("ce_time", time),
        ]
    };
    let person_notes = identity_notes("When this version was made.");
    let person_spec = HeaderSpec {
        optional: &[],
        notes: &person_notes,
        fixed_source: true,
    };
    let decision_notes = identity_notes("When the record the decision is about was fetched.");
    let decision_spec = HeaderSpec {
        optional: &[],
        notes: &decision_notes,
        fixed_source: true,
    };
    let time = sample_record("civil-affairs", "civil-affairs.household-member")?.fetched_at;
    let golden = person_example();
    let person = publisher.person(EXAMPLE_PERSON, golden.clone(), time);
    let retired = publisher.person_retired(EXAMPLE_PERSON, time);
    let merged = publisher.person_merged(EXAMPLE_PERSON, EXAMPLE_SURVIVOR, time);
    let person_key = key_schema("The unified person id (person_id).");
    described.push(Topic {
        id: id_of(&topics.person().replacen(topics.prefix(), "", 1)),
        address: person.topic.clone(),
        title: "统一人员 (golden person records)".into(),
        summary: "The golden record of every resident, keyed by unified person id.".into(),
        description: "One event per new version of a resident's golden record, keyed by the \
                      unified person id. The topic is compacted: it keeps the latest version \
                      of every person, so a new consumer reads it from the beginning to get \
                      the whole population. A person id merged into another gets a tombstone \
                      (no value: its golden record is gone) and then a `merged_into` record \
                      under the same key naming the id it lives on as, which compaction keeps: \
                      a consumer that stored an old id looks it up here (and follows a chain \
                      of merges key by key) without reading the identity topic. The decisions \
                      behind each version are on the identity topic."
            .into(),
        messages: vec![
            Message {
                id: "person_v1".into(),
                title: "统一人员 (golden person record)".into(),
                summary: "A new version of a resident's golden record.".into(),
                payload: person_schema(),
                payload_base: format!("{ID_BASE}person.v1.json"),
                headers: headers_schema(&person, &person_spec)?,
                key: person_key.clone(),
                examples: vec![json!({
                    "name": "person",
                    "summary": "A golden record from two departments (made-up values).",
                    "headers": example_headers(&person),
                    "payload": golden
                })],
            },
            Message {
                id: "person_retired_v1".into(),
                title: "retired person id (tombstone)".into(),
                summary: "A person id that no longer exists: merged into another.".into(),
                payload: tombstone_schema(),
                payload_base: format!("{ID_BASE}person-retired.v1.json"),
                headers: headers_schema(&retired, &person_spec)?,
                key: person_key,
                examples: vec![json!({
                    "name": "tombstone",
                    "summary": "The tombstone of a merged person id (made-up id).",
                    "headers": example_headers(&retired)
                })],
            },
            Message {
                id: "person_merged_v1".into(),
                title: "merged person id".into(),
                summary: "Where a merged person id lives on: after its tombstone.".into(),
                payload: merged_schema(),
                payload_base: format!("{ID_BASE}person-merged.v1.json"),
                headers: headers_schema(&merged, &person_spec)?,
                key: key_schema("The retired person id."),
                examples: vec![json!({
                    "name": "merged",
                    "summary": "A person id merged into an older one (made-up ids).",
                    "headers": example_headers(&merged),
                    "payload": {"person_id": EXAMPLE_PERSON, "merged_into": EXAMPLE_SURVIVOR}
                })],
            },
        ],
        topic_configuration: Some(json!({ "cleanup.policy": ["compact"] })),
        tag: "identity",
    });

    let decision_example = identity_example()?;
    let decision = publisher.identity(EXAMPLE_PERSON, decision_example.clone(), time, [0; 16]);
    described.push(Topic {
        id: id_of(&topics.identity().replacen(topics.prefix(), "", 1)),
        address: decision.topic.clone(),
        title: "身份判定 (identity decisions)".into(),
        summary: "Every link, merge and split decision of identity resolution, with its \
                  evidence."
            .into(),
        description: "One event per decision, keyed by the person it concerns: which \
                      department record was linked to which person and why (rule, score, \
                      the evidence of each field comparison), and when persons were merged or \
                      a record left a person. The audit trail of the person topic."
            .into(),
        messages: vec![Message {
            id: "identity_v1".into(),
            title: "身份判定 (identity decision)".into(),
            summary: "One decision of identity resolution.".into(),
            payload: identity_schema(),
            payload_base: format!("{ID_BASE}identity.v1.json"),
            headers: headers_schema(&decision, &decision_spec)?,
            key: key_schema("The unified person id the decision is about (person_id)."),
            examples: vec![json!({
                "name": "link",
                "summary": "A health record linked to a person by probabilistic matching (made-up values).",
                "headers": example_headers(&decision),
                "payload": decision_example
            })],
        }],
        topic_configuration: None,
        tag: "identity",
    });

    let rejected = sample_record("education", "education.enrollment")?;
    let (_, letter_event) = publisher.dead_letter(
        &rejected,
        "validate",
        standard
            .latest("education.enrollment")
            .map(|s| s.id.as_str()),
        vec![Violation {
            instance_path: "/grade".into(),
            schema_path: "/properties/grade/maximum".into(),
            keyword: "maximum".into(),
            message: "value is greater than the maximum of 12".into(),
        }],
    );
    let letter: Value = serde_json::from_slice(&letter_event.value)
        .map_err(|e| AsyncApiError::Sample(format!("dead letter is not JSON: {e}")))?;
    let dlq_summary = "Records that failed mapping or validation, with every reason and the \
                       original payload.";
    described.push(Topic {
        id: id_of(&topics.dlq().replacen(topics.prefix(), "", 1)),
        address: letter_event.topic.clone(),
        title: "死信 (dead letters)".into(),
        summary: dlq_summary.into(),
        description: "Records are never dropped: one that cannot be mapped or fails its \
                      schema comes here instead of its kind's topic. Operators inspect and \
                      replay them with `govhub dlq`; a replayed record that now passes \
                      appears on its kind's topic. The payload is the department's record as \
                      sent, personal data included: restrict who may read this topic."
            .into(),
        messages: vec![Message {
            id: "dlq_v1".into(),
            title: "死信 (dead letter)".into(),
            summary: dlq_summary.into(),
            payload: dead_letter_schema(),
            payload_base: format!("{ID_BASE}dlq.v1.json"),
            headers: headers_schema(
                &letter_event,
                &HeaderSpec {
                    optional: &[],
                    notes: &[
                        ("ce_source", "/govhub/<department>/<connector>."),
                        (
                            "ce_subject",
                            "The record's id in its source system (the event key).",
                        ),
                        ("ce_time", "When govhub fetched the record."),
                    ],
                    fixed_source: false,
                },
            )?,
            key: key_schema("The record's id in its source system (equal to ce_subject)."),
            examples: vec![json!({
                "name": "rejected",
                "summary": "A dead letter as the hub builds it (made-up record).",
                "headers": example_headers(&letter_event),
                "payload": letter
            })],
        }],
        topic_configuration: None,
        tag: "dead letters",
    });

    assemble(standard, described, kafka)
}

fn assemble(
    standard: &Standard,
    described: Vec<Topic>,
    kafka: Option<&KafkaSinkConfig>,
) -> Result<Value, AsyncApiError> {
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut schemas = Map::new();
    let mut messages = Map::new();
    for topic in described {
        let id = &topic.id;
        let mut channel_messages = Map::new();
        let mut operation_messages = Vec::new();
        for message in topic.messages {
            let mid = &message.id;
            let mut stack = Vec::new();
            let schema = inline(
                standard,
                &message.payload,
                &message.payload_base,
                &mut stack,
            )?;
            schemas.insert(
                mid.clone(),
                json!({ "schemaFormat": SCHEMA_FORMAT, "schema": schema }),
            );
            messages.insert(
                mid.clone(),
                json!({
                    "name": mid,
                    "title": message.title,
                    "summary": message.summary,
                    "contentType": "application/json",
                    "headers": message.headers,
                    "payload": { "$ref": format!("#/components/schemas/{mid}") },
                    "bindings": { "kafka": { "key": message.key, "bindingVersion": KAFKA_BINDING_VERSION } },
                    "examples": message.examples,
                    "tags": [{ "name": topic.tag }]
                }),
            );
            channel_messages.insert(
                mid.clone(),
                json!({ "$ref": format!("#/components/messages/{mid}") }),
            );
            operation_messages.push(json!({ "$ref": format!("#/channels/{id}/messages/{mid}") }));
        }
        let mut binding =
            json!({ "topic": topic.address, "bindingVersion": KAFKA_BINDING_VERSION });
        if let (Some(map), Some(config)) = (binding.as_object_mut(), topic.topic_configuration) {
            map.insert("topicConfiguration".into(), config);
        }
        channels.insert(
            id.clone(),
            json!({
                "address": topic.address,
                "title": topic.title,
                "summary": topic.summary,
                "description": topic.description,
                "messages": channel_messages,
                "bindings": { "kafka": binding },
                "tags": [{ "name": topic.tag }]
            }),
        );
        operations.insert(
            format!("send_{id}"),
            json!({
                "action": "send",
                "title": format!("govhub publishes to {}", topic.address),
                "summary": topic.summary,
                "channel": { "$ref": format!("#/channels/{id}") },
                "messages": operation_messages,
                "tags": [{ "name": topic.tag }]
            }),
        );
    }
    let (servers, security_schemes) = servers(kafka);
    let mut components = json!({ "schemas": schemas, "messages": messages });
    if let (Some(map), false) = (components.as_object_mut(), security_schemes.is_empty()) {
        map.insert("securitySchemes".into(), Value::Object(security_schemes));
    }
    let mut document = json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "govhub event streams",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO_DESCRIPTION,
            "license": { "name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0" },
            "tags": [
                { "name": "records", "description": "Valid department records, one topic per kind and version of the unified standard." },
                { "name": "identity", "description": "Golden person records and the identity decisions behind them." },
                { "name": "dead letters", "description": "Rejected records with their reasons." },
                { "name": "views", "description": "Data-sharing views: what one subscriber may read of a kind's records, field by field (only with views configured)." }
            ]
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components
    });
    if let (Some(map), false) = (document.as_object_mut(), servers.is_empty()) {
        map.insert("servers".into(), Value::Object(servers));
    }
    Ok(document)
}

const INFO_DESCRIPTION: &str = "\
Every topic govhub publishes, for the applications that consume them. Generated by \
`govhub asyncapi` from the unified standard built into this govhub, so it matches what this \
version publishes.

**Point of view:** this document describes govhub itself, the producer: every operation is \
a `send`. A downstream application subscribes to the same channels and messages (its own \
AsyncAPI document would list them as `receive` operations).

**Events** are CloudEvents 1.0 in Kafka *binary mode*: the message value is the JSON \
payload, the CloudEvents attributes are headers (`ce_id`, `ce_type`, ...). Delivery is at \
least once with deterministic ids: a record re-published after a crash keeps its `ce_id`, \
so consumers that remember ids see each record once. Events with the same key keep their \
order.

**Payloads** are JSON Schema 2020-12, inlined from the unified standard (`schemas/` in the \
govhub repository) so that this document is self-contained. Custom formats (`cn-resident-id`, \
`cn-uscc`, `cn-division-code`, `cn-mobile`) are checked by govhub with their real check \
algorithms before publishing.

**Person and identity topics** carry identity resolution's golden records and the decisions \
behind them; their payload schemas are new and may still gain fields.

Without a Kafka cluster govhub writes the same events to its embedded log (`<data_dir>/log/\
<topic>.jsonl`); `govhub tail <topic>` reads either.";

/// Servers and security schemes for the Kafka cluster in `kafka`.
fn servers(kafka: Option<&KafkaSinkConfig>) -> (Map<String, Value>, Map<String, Value>) {
    let mut servers = Map::new();
    let mut schemes = Map::new();
    let Some(kafka) = kafka else {
        return (servers, schemes);
    };
    let property = |key: &str| kafka.properties.get(key).map(|v| v.to_ascii_uppercase());
    let protocol = property("security.protocol").unwrap_or_else(|| "PLAINTEXT".into());
    let secure = matches!(protocol.as_str(), "SSL" | "SASL_SSL");
    let sasl = protocol.starts_with("SASL");
    if sasl {
        let mechanism = property("sasl.mechanisms")
            .or_else(|| property("sasl.mechanism"))
            .unwrap_or_else(|| "GSSAPI".into());
        let ty = match mechanism.as_str() {
            "PLAIN" => "plain",
            "SCRAM-SHA-256" => "scramSha256",
            "SCRAM-SHA-512" => "scramSha512",
            "OAUTHBEARER" => "oauth2",
            _ => "gssapi",
        };
        let mut scheme = json!({ "type": ty, "description": format!("SASL {mechanism}, as the hub's config sets it.") });
        if ty == "oauth2"
            && let Some(map) = scheme.as_object_mut()
        {
            map.insert("flows".into(), json!({}));
        }
        schemes.insert("sasl".into(), scheme);
    } else if secure {
        schemes.insert(
            "tls".into(),
            json!({ "type": "X509", "description": "TLS, as the hub's config sets it." }),
        );
    }
    let hosts: Vec<&str> = kafka
        .bootstrap_servers
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    for (n, host) in hosts.iter().enumerate() {
        let name = if hosts.len() == 1 {
            "kafka".to_owned()
        } else {
            format!("kafka-{}", n + 1)
        };
        let mut server = json!({
            "host": host,
            "protocol": if secure { "kafka-secure" } else { "kafka" },
            "description": format!("Bootstrap server {} of {} of the Kafka cluster govhub publishes to.", n + 1, hosts.len())
        });
        if let (Some(map), false) = (server.as_object_mut(), schemes.is_empty()) {
            let refs: Vec<Value> = schemes
                .keys()
                .map(|k| json!({ "$ref": format!("#/components/securitySchemes/{k}") }))
                .collect();
            map.insert("security".into(), Value::Array(refs));
        }
        servers.insert(name, server);
    }
    (servers, schemes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn refs_in(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        out.push(v.to_string());
                    } else {
                        refs_in(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_payload_schema_is_self_contained() {
        let standard = Standard::embedded().unwrap();
        let doc = document(&standard, &Topics::default(), None).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(schemas.len() >= standard.iter().count() + 3);
        for (id, schema) in schemas {
            assert_eq!(schema["schemaFormat"], SCHEMA_FORMAT, "{id}");
            let mut refs = Vec::new();
            refs_in(&schema["schema"], &mut refs);
            assert_eq!(refs, Vec::<String>::new(), "{id}");
        }
        // A field's own title wins over its target's; the target's constraints stay.
        let name = &schemas["education_enrollment_v1"]["schema"]["properties"]["student"]["properties"]
            ["name"];
        assert_eq!(name["title"], "姓名 (name)");
        assert_eq!(name["maxLength"], 64);
        let phone = &schemas["person_v1"]["schema"]["properties"]["phone"];
        assert_eq!(phone["format"], "cn-mobile", "{phone}");
    }

    #[test]
    fn a_reference_to_nothing_is_an_error_naming_it() {
        let standard = Standard::embedded().unwrap();
        let node = json!({ "$ref": format!("{ID_BASE}common/person.v1.json#/$defs/nope") });
        let err = inline(&standard, &node, ID_BASE, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("#/$defs/nope"), "{err}");
        assert!(err.contains("points nowhere"), "{err}");
    }

    #[test]
    fn a_reference_with_constraints_beside_it_keeps_both() {
        let standard = Standard::embedded().unwrap();
        let node = json!({ "$ref": format!("{ID_BASE}common/person.v1.json#/$defs/name"), "maxLength": 8 });
        let out = inline(&standard, &node, ID_BASE, &mut Vec::new()).unwrap();
        assert_eq!(out["maxLength"], 8);
        assert_eq!(out["allOf"][0]["maxLength"], 64);
    }

    #[test]
    fn headers_are_those_the_publish_stage_sets() {
        let standard = Standard::embedded().unwrap();
        let doc = document(&standard, &Topics::new("t.").unwrap(), None).unwrap();
        assert_eq!(
            doc["channels"]["health_encounter_v1"]["address"],
            "t.health.encounter.v1"
        );
        let headers = &doc["components"]["messages"]["health_encounter_v1"]["headers"];
        let required = headers["required"].as_array().unwrap();
        for name in [
            "ce_id",
            "ce_type",
            "ce_source",
            "ce_time",
            "ce_dataschema",
            "content-type",
        ] {
            assert!(required.contains(&json!(name)), "{name}");
            let description = headers["properties"][name]["description"].as_str();
            assert!(!description.unwrap().is_empty(), "{name}");
        }
        assert_eq!(
            headers["properties"]["ce_type"]["const"],
            "govhub.health.encounter.v1"
        );
        // Set only for records linked to a resident.
        assert!(headers["properties"]["ce_govhubpersonid"].is_object());
        assert!(!required.contains(&json!("ce_govhubpersonid")));
        let person = &doc["components"]["messages"]["person_v1"]["headers"];
        let required = person["required"].as_array().unwrap();
        assert!(required.contains(&json!("ce_govhubpersonid")));
        assert_eq!(
            person["properties"]["ce_source"]["const"],
            "/govhub/identity"
        );
        let tombstone = &doc["components"]["messages"]["person_retired_v1"]["headers"];
        assert!(tombstone["properties"].get("content-type").is_none());
        assert_eq!(doc["channels"]["dlq_v1"]["address"], "t.dlq.v1");
        assert_eq!(doc["channels"]["person_v1"]["address"], "t.person.v1");
        assert!(doc.get("servers").is_none());
    }

    #[test]
    fn sasl_ssl_clusters_are_kafka_secure_with_a_security_scheme() {
        let standard = Standard::embedded().unwrap();
        let mut kafka = KafkaSinkConfig::new("a:9093, b:9093");
        kafka
            .properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        kafka
            .properties
            .insert("sasl.mechanisms".into(), "SCRAM-SHA-512".into());
        let doc = document(&standard, &Topics::default(), Some(&kafka)).unwrap();
        assert_eq!(doc["servers"]["kafka-2"]["host"], "b:9093");
        assert_eq!(doc["servers"]["kafka-1"]["protocol"], "kafka-secure");
        assert_eq!(
            doc["components"]["securitySchemes"]["sasl"]["type"],
            "scramSha512"
        );
    }
}
