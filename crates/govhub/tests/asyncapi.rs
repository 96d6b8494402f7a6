//! `govhub asyncapi`: the document is valid AsyncAPI 3.0.0 according to the official
//! parser (`@asyncapi/parser`, run by `deploy/asyncapi/validate.mjs`, which also compiles
//! every payload schema and checks every example), and describes what the hub publishes.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use govhub_schema::Standard;
use govhub_stream::Topics;
use serde_json::{Value, json};

mod common;
use common::{demo, govhub};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator_dir() -> PathBuf {
    repo().join("deploy/asyncapi")
}

/// Generates the document into `dir`, returning its path and content.
fn generate(dir: &Path, extra: &[&str]) -> (PathBuf, Value) {
    let path = dir.join("govhub.asyncapi.json");
    let mut args = vec!["asyncapi", "--output", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = govhub(&args);
    assert!(
        out.status.success(),
        "govhub asyncapi failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, doc)
}

/// Runs the official parser on `path`. Fails (never skips) when Node.js or the parser
/// is not installed, saying what to run.
fn validate(path: &Path) -> Output {
    validate_with(path, &[])
}

fn validate_with(path: &Path, extra: &[&Path]) -> Output {
    let dir = validator_dir();
    let dir = dir.canonicalize().unwrap_or(dir);
    assert!(
        dir.join("node_modules/@asyncapi/parser/package.json")
            .is_file(),
        "the AsyncAPI parser is not installed; run:\n    npm ci --prefix {} --ignore-scripts\n(Node.js and npm \
         are needed: `apt-get install nodejs npm`)",
        dir.display()
    );
    Command::new("node")
        .arg(dir.join("validate.mjs"))
        .arg(path)
        .args(extra)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}); install Node.js: `apt-get install nodejs npm`")
        })
}

fn assert_valid(path: &Path) {
    let out = validate(path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the AsyncAPI parser rejects {}:\n{stdout}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 error(s)"), "{stdout}");
}

/// The channel whose address is `topic`.
fn channel<'a>(doc: &'a Value, topic: &str) -> &'a Value {
    doc["channels"]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["address"] == topic)
        .unwrap_or_else(|| panic!("no channel for {topic}"))
}

/// A `#/…` reference resolved in `doc`.
fn deref<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node["$ref"].as_str() {
        Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap(),
        None => node,
    }
}

#[test]
fn the_default_document_is_valid_asyncapi_and_covers_every_topic() {
    let dir = tempfile::tempdir().unwrap();
    let (path, doc) = generate(dir.path(), &[]);
    assert_valid(&path);

    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["servers"]["kafka"]["host"], "127.0.0.1:9092");
    assert_eq!(doc["servers"]["kafka"]["protocol"], "kafka");
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("every operation is a `send`"),
        "{description}"
    );

    let standard = Standard::embedded().unwrap();
    let topics = Topics::default();
    for schema in standard.iter() {
        let topic = topics.kind(&schema.topic_suffix());
        let channel = channel(&doc, &topic);
        assert_eq!(channel["bindings"]["kafka"]["topic"], topic.as_str());
        let message = deref(
            &doc,
            channel["messages"]
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap(),
        );
        let payload = deref(&doc, &message["payload"]);
        assert_eq!(
            payload["schemaFormat"],
            "application/schema+json;version=draft-2020-12"
        );
        // The standard's schema, with its $refs inlined: same fields, same $id.
        assert_eq!(payload["schema"]["$id"], schema.id.as_str());
        assert_eq!(
            payload["schema"]["required"], schema.schema["required"],
            "{topic}"
        );
        assert_eq!(
            message["headers"]["properties"]["ce_type"]["const"],
            format!("govhub.{}", schema.topic_suffix())
        );
        assert_eq!(
            message["headers"]["properties"]["ce_dataschema"]["const"],
            schema.id.as_str()
        );
    }
    assert!(
        !doc.to_string()
            .contains("https://govhub.invalid/schemas/common/")
    );

    let person = channel(&doc, "govhub.person.v1");
    assert_eq!(
        person["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"],
        json!(["compact"])
    );
    let person_message = deref(&doc, &person["messages"]["person_v1"]);
    assert!(
        person_message["bindings"]["kafka"]["key"]["description"]
            .as_str()
            .unwrap()
            .contains("person id")
    );
    let person_fields = &deref(&doc, &person_message["payload"])["schema"]["properties"];
    for field in [
        "person_id",
        "version",
        "updated_at",
        "name",
        "resident_id",
        "sources",
        "provenance",
    ] {
        assert!(person_fields[field].is_object(), "person.{field}");
    }
    let identity = channel(&doc, "govhub.identity.v1");
    let identity_message = deref(&doc, &identity["messages"]["identity_v1"]);
    let identity_schema = &deref(&doc, &identity_message["payload"])["schema"];
    assert_eq!(
        identity_schema["properties"]["event"]["enum"],
        json!(["link", "merge", "split"])
    );
    assert!(
        identity["bindings"]["kafka"]
            .get("topicConfiguration")
            .is_none()
    );
    channel(&doc, &topics.dlq());

    // After a merged id's tombstone, the id it lives on as.
    let merged = deref(&doc, &person["messages"]["person_merged_v1"]);
    assert_eq!(
        deref(&doc, &merged["payload"])["schema"]["required"],
        json!(["person_id", "merged_into"])
    );
    // The person topic also carries tombstones: no value, no content-type.
    let tombstone = deref(&doc, &person["messages"]["person_retired_v1"]);
    assert_eq!(deref(&doc, &tombstone["payload"])["schema"]["type"], "null");
    assert!(
        tombstone["headers"]["properties"]
            .get("content-type")
            .is_none()
    );

    // Every message: CloudEvents binary-mode headers and a string key; the person id
    // extension on everything but dead letters. Every operation: govhub sending.
    let messages = doc["components"]["messages"].as_object().unwrap();
    assert_eq!(messages.len(), standard.iter().count() + 5);
    for (id, message) in messages {
        let headers = &message["headers"]["properties"];
        for header in ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"] {
            assert!(headers[header].is_object(), "{id}: header {header}");
        }
        assert_eq!(
            headers["ce_govhubpersonid"].is_object(),
            id != "dlq_v1",
            "{id}"
        );
        assert_eq!(
            headers["content-type"].is_object(),
            id != "person_retired_v1",
            "{id}"
        );
        let required = message["headers"]["required"].as_array().unwrap();
        assert!(required.contains(&json!("ce_id")), "{id}");
        assert_eq!(
            message["bindings"]["kafka"]["key"]["type"], "string",
            "{id}"
        );
        assert_eq!(message["bindings"]["kafka"]["bindingVersion"], "0.5.0");
    }
    let operations = doc["operations"].as_object().unwrap();
    assert_eq!(operations.len(), standard.iter().count() + 3);
    for (id, operation) in operations {
        assert_eq!(operation["action"], "send", "{id}");
    }

    // Deterministic: stdout carries the same document.
    let out = govhub(&["asyncapi"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(&path).unwrap()
    );
}

#[test]
fn a_config_sets_the_topic_prefix_and_the_servers() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(repo().join("deploy/govhub.example.toml")).unwrap();
    let mut config: toml::Table = toml::from_str(&example).unwrap();
    config.insert("topic_prefix".into(), "cityx.".into());
    let kafka = config["kafka"].as_table_mut().unwrap();
    kafka.insert(
        "bootstrap_servers".into(),
        "kafka-a.cityx.internal:9093,kafka-b.cityx.internal:9093".into(),
    );
    let mut properties = toml::Table::new();
    properties.insert("security.protocol".into(), "SASL_SSL".into());
    properties.insert("sasl.mechanisms".into(), "SCRAM-SHA-512".into());
    kafka.insert("properties".into(), properties.into());
    let config_path = dir.path().join("govhub.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    let (path, doc) = generate(dir.path(), &["--config", config_path.to_str().unwrap()]);
    assert_valid(&path);
    channel(&doc, "cityx.education.enrollment.v2");
    channel(&doc, "cityx.person.v1");
    channel(&doc, "cityx.dlq.v1");
    assert!(!doc["channels"].to_string().contains("\"govhub."));
    assert_eq!(
        doc["servers"]["kafka-2"]["host"],
        "kafka-b.cityx.internal:9093"
    );
    assert_eq!(doc["servers"]["kafka-1"]["protocol"], "kafka-secure");
    assert_eq!(
        doc["components"]["securitySchemes"]["sasl"]["type"],
        "scramSha512"
    );

    // A config without [kafka] writes to the embedded log: no servers to name.
    config.remove("kafka");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let (path, doc) = generate(dir.path(), &["--config", config_path.to_str().unwrap()]);
    assert_valid(&path);
    assert!(doc.get("servers").is_none());
}

#[test]
fn the_validator_rejects_what_the_parser_or_the_schemas_reject() {
    let dir = tempfile::tempdir().unwrap();
    let (path, doc) = generate(dir.path(), &[]);
    let broken = |name: &str, change: &dyn Fn(&mut Value)| {
        let mut doc = doc.clone();
        change(&mut doc);
        let path = path.with_file_name(format!("{name}.json"));
        std::fs::write(&path, doc.to_string()).unwrap();
        let out = validate(&path);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!out.status.success(), "{name} passed:\n{stdout}");
        stdout
    };
    // Not AsyncAPI 3: the parser's own diagnostics.
    let out = broken("action", &|d| {
        d["operations"]["send_dlq_v1"]["action"] = json!("publish")
    });
    assert!(out.contains("operations/send_dlq_v1/action"), "{out}");
    // A payload that is not self-contained.
    let out = broken("ref", &|d| {
        d["components"]["schemas"]["person_v1"]["schema"]["properties"]["name"] =
            json!({ "$ref": "common/person.v1.json#/$defs/name" });
    });
    assert!(out.contains("components/schemas/person_v1"), "{out}");
    // An example that does not match its payload schema.
    let out = broken("example", &|d| {
        d["components"]["messages"]["dlq_v1"]["examples"][0]["payload"]["violations"] = json!([]);
    });
    assert!(
        out.contains("components/messages/dlq_v1/examples/0/payload"),
        "{out}"
    );
}

#[test]
fn the_events_of_a_demo_run_match_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 300);
    let (path, doc) = generate(dir.path(), &[]);
    // Every topic the demo wrote, read back as `govhub tail --format json` prints it.
    let mut events = String::new();
    let mut topics = Vec::new();
    for entry in std::fs::read_dir(data.join("log")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let topic = name.strip_suffix(".jsonl").unwrap().to_owned();
        let out = govhub(&[
            "tail",
            &topic,
            "--data-dir",
            data.to_str().unwrap(),
            "--from-beginning",
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.is_empty(), "{topic} is empty");
        events.push_str(&text);
        topics.push(topic);
    }
    // Records, dead letters, golden records and identity decisions all came out.
    for topic in [
        "govhub.education.enrollment.v2",
        "govhub.dlq.v1",
        "govhub.person.v1",
        "govhub.identity.v1",
    ] {
        assert!(
            topics.iter().any(|t| t == topic),
            "{topic} not in {topics:?}"
        );
        channel(&doc, topic);
    }
    let events_path = dir.path().join("events.jsonl");
    std::fs::write(&events_path, &events).unwrap();
    let out = validate_with(&path, &[Path::new("--events"), &events_path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "events of the demo do not match the document:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = events.lines().count();
    assert!(
        stdout.contains(&format!("and {count} event(s) checked; 0 error(s)")),
        "{stdout}"
    );
}

/// Two subscribers' views, as a config file writes them.
const VIEWS: &str = r#"
[views.urban_app]
hash_key = "${GOVHUB_VIEW_URBAN_APP_KEY}"
[views.urban_app.kinds."health.encounter"]
fields = { "/encounter_id" = "share", "/patient/name" = "mask", "/patient/identifiers/resident_id" = "hash", "/patient/contacts/phone" = "mask", "/diagnosis_codes" = "drop" }
[views.urban_app.kinds."civil-affairs.household-member"]
fields = { "/member_id" = "share", "/member/name" = "mask", "/member/identifiers/resident_id" = "hash" }

[views.research]
hash_key = "${GOVHUB_VIEW_RESEARCH_KEY}"
[views.research.kinds."health.encounter"]
default = "share"
fields = { "/patient/name" = "drop", "/patient/identifiers/resident_id" = "hash", "/patient/identifiers/resident_id_unverified" = "drop", "/patient/contacts/phone" = "mask" }
"#;

#[test]
fn each_view_has_a_channel_and_the_events_of_a_demo_with_views_match_it() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(repo().join("deploy/govhub.example.toml")).unwrap();
    let text = format!("{example}\n{VIEWS}");
    let config_path = dir.path().join("govhub.toml");
    std::fs::write(&config_path, &text).unwrap();
    let (path, doc) = generate(dir.path(), &["--config", config_path.to_str().unwrap()]);
    assert_valid(&path);
    let view_topics = [
        "govhub.view.urban_app.health.encounter.v1",
        "govhub.view.urban_app.civil-affairs.household-member.v1",
        "govhub.view.research.health.encounter.v1",
    ];
    for topic in view_topics {
        channel(&doc, topic);
    }
    let schema = &doc["components"]["schemas"]["view_urban_app_health_encounter_v1"]["schema"];
    let patient = &schema["properties"]["patient"]["properties"];
    assert_eq!(patient["name"]["type"], "string");
    assert!(
        patient["identifiers"]["properties"]["resident_id"]
            .get("format")
            .is_none()
    );
    assert!(schema["properties"].get("diagnosis_codes").is_none());

    // A demo with those views, into the embedded log.
    let views = govhub::config::HubConfig::parse(&text, "views")
        .unwrap()
        .views;
    let options = govhub::demo::DemoOptions {
        seed: 5,
        residents: 200,
        invalid_every: 25,
        generation: 0,
        data_dir: dir.path().join("data"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut demo = govhub::demo::Demo::start_with(&options, |config, env| {
            config.views = views;
            env.insert("GOVHUB_VIEW_URBAN_APP_KEY".into(), "key-a".into());
            env.insert("GOVHUB_VIEW_RESEARCH_KEY".into(), "key-b".into());
        })
        .await
        .unwrap();
        let mut counts = std::collections::BTreeMap::new();
        demo.hub
            .sync_all(&mut counts, &tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
    });
    let mut events = String::new();
    for topic in view_topics {
        let out = govhub(&[
            "tail",
            topic,
            "--data-dir",
            options.data_dir.to_str().unwrap(),
            "--from-beginning",
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.is_empty(), "{topic} is empty");
        events.push_str(&text);
    }
    let events_path = dir.path().join("events.jsonl");
    std::fs::write(&events_path, &events).unwrap();
    let out = validate_with(&path, &[Path::new("--events"), &events_path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "view events do not match the document:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = events.lines().count();
    assert!(
        stdout.contains(&format!("and {count} event(s) checked; 0 error(s)")),
        "{stdout}"
    );
}
