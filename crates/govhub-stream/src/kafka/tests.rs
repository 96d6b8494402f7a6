//! The Kafka sink against a real broker (`GOVHUB_TEST_KAFKA`, default `127.0.0.1:9092`),
//! each test on topics of its own, and against an address where nothing listens.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use govhub_core::{Classified, ErrorClass, Header, OutEvent, Sink};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, span};

use super::{KafkaSink, KafkaSinkConfig, LOG_TARGET, read_topic};
use crate::StreamError;

/// Where the tests expect a broker: `GOVHUB_TEST_KAFKA`, default `127.0.0.1:9092`.
fn broker() -> String {
    std::env::var("GOVHUB_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Fails the test, saying how to start a broker, unless one answers at [`broker`].
fn require_broker() -> String {
    let servers = broker();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .unwrap_or_else(|e| panic!("cannot create a Kafka client for {servers}: {e}"));
    if let Err(e) = consumer.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "no Kafka broker reachable at {servers} ({e}). These tests need a real broker: \
             start one with `./deploy/kafka/local.sh up`, or run `./deploy/test.sh`, which \
             starts it when needed. Set GOVHUB_TEST_KAFKA to use another broker."
        );
    }
    servers
}

/// A topic name no other test run uses.
fn random_topic(what: &str) -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    format!("t{:016x}.govhub-stream.{what}", hasher.finish())
}

fn admin(servers: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .unwrap()
}

fn event(topic: &str, n: usize, value: Vec<u8>) -> OutEvent {
    OutEvent {
        topic: topic.to_owned(),
        key: Some(format!("k{n}")),
        headers: vec![Header {
            name: "ce_id".into(),
            value: format!("id{n}"),
        }],
        value,
    }
}

/// About `len` bytes of JSON that lz4 cannot shrink (the broker limits the compressed
/// batch), from a fixed-seed xorshift.
fn incompressible_json(len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let blob: String = (0..len.saturating_sub(12))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let index = usize::try_from(state % ALPHABET.len() as u64).unwrap();
            char::from(ALPHABET[index])
        })
        .collect();
    format!("{{\"blob\":\"{blob}\"}}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_each_refuses_only_the_oversized_record_and_delivers_the_rest() {
    let servers = require_broker();
    let topic = random_topic("small-records");
    let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "1000");
    let created = admin(&servers)
        .create_topics([&new], &AdminOptions::new())
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    const BIG: usize = 5;
    let big = incompressible_json(5_000);
    let events: Vec<OutEvent> = (0..12)
        .map(|n| {
            let value = if n == BIG {
                big.clone()
            } else {
                format!("{{\"n\":{n}}}").into_bytes()
            };
            event(&topic, n, value)
        })
        .collect();
    let mut sink = KafkaSink::new(KafkaSinkConfig::new(&servers)).unwrap();
    let outcomes = sink.write_each(&events).await.unwrap();

    assert_eq!(outcomes.len(), events.len());
    for (n, outcome) in outcomes.iter().enumerate() {
        if n == BIG {
            let reason = outcome.as_deref().unwrap_or_default();
            assert!(reason.starts_with("MessageSizeTooLarge: "), "{reason}");
            assert!(!reason.contains("blob") && reason.len() < 100, "{reason}");
        } else {
            assert_eq!(outcome, &None, "event {n}");
        }
    }
    assert!(sink.probe().broker_state().connected);

    // Every other record is on the topic exactly once; the large one is not.
    let config = KafkaSinkConfig::new(&servers);
    let entries = read_topic(&config, &topic, &BTreeMap::new(), Duration::from_secs(30)).unwrap();
    let mut stored: Vec<(String, serde_json::Value)> = entries
        .into_iter()
        .map(|e| (e.key.unwrap_or_default(), e.value))
        .collect();
    stored.sort_by_key(|(key, _)| key[1..].parse::<usize>().unwrap());
    let expected: Vec<(String, serde_json::Value)> = (0..12)
        .filter(|n| *n != BIG)
        .map(|n| (format!("k{n}"), serde_json::json!({ "n": n })))
        .collect();
    assert_eq!(stored, expected);

    // `Sink::write` is all or nothing: the refusal fails the batch, for good.
    let error = sink
        .write(vec![
            event(&topic, 100, b"{}".to_vec()),
            events[BIG].clone(),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StreamError::Rejected { topic: t, .. } if *t == topic),
        "{error}"
    );
    assert_eq!(error.class(), ErrorClass::User);
    assert!(!error.retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_topics_creates_a_topic_named_twice_once() {
    let servers = require_broker();
    let plain = random_topic("plain");
    let compacted = random_topic("compacted");
    let mut sink = KafkaSink::new(KafkaSinkConfig::new(&servers)).unwrap();
    let topics = [&plain, &compacted, &plain, &compacted].map(String::clone);
    sink.ensure_topics(&topics, &[compacted.clone(), compacted.clone()])
        .await
        .unwrap();
    // Already created: nothing is asked of the broker again.
    sink.ensure_topics(&topics, &[]).await.unwrap();

    let admin = admin(&servers);
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let names: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    assert_eq!(names.iter().filter(|n| **n == plain).count(), 1);
    assert_eq!(names.iter().filter(|n| **n == compacted).count(), 1);
    let configs = admin
        .describe_configs(
            [
                &ResourceSpecifier::Topic(&plain),
                &ResourceSpecifier::Topic(&compacted),
            ],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let policies: Vec<Option<String>> = configs
        .into_iter()
        .map(|c| {
            c.unwrap()
                .get("cleanup.policy")
                .and_then(|e| e.value.clone())
        })
        .collect();
    assert_eq!(
        policies,
        vec![Some("delete".to_owned()), Some("compact".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_logs_a_handful_of_lines_and_reads_as_down() {
    install_capture();
    // Nothing listens on port 1: librdkafka retries the connection every few hundred
    // milliseconds and reports each failure.
    let servers = "127.0.0.1:1";
    let mut config = KafkaSinkConfig::new(servers);
    config.delivery_timeout_ms = 2_500;
    let mut sink = KafkaSink::new(config).unwrap();
    let start = Instant::now();

    // A transient failure fails the whole call, for the caller to retry.
    let error = sink
        .write_each(&[event("unreachable", 0, b"{}".to_vec())])
        .await
        .unwrap_err();
    assert!(error.retryable(), "{error}");
    assert!(matches!(error, StreamError::Delivery { .. }), "{error}");
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(start.elapsed())).await;

    let state = sink.probe().broker_state();
    assert!(!state.connected);
    let cause = state.last_error.unwrap_or_default();
    assert!(cause.contains("127.0.0.1:1"), "{cause}");

    let lines: Vec<Line> = lock_lines()
        .iter()
        .filter(|l| l.fields.get("servers").map(String::as_str) == Some(servers))
        .cloned()
        .collect();
    assert!(
        (1..=6).contains(&lines.len()),
        "{} lines: {lines:#?}",
        lines.len()
    );
    let down: Vec<&Line> = lines
        .iter()
        .filter(|l| l.message.starts_with("kafka: all brokers down: "))
        .collect();
    assert_eq!(down.len(), 1, "{lines:#?}");
    assert_eq!(down[0].level, Level::WARN);
    assert!(
        lines
            .iter()
            .filter(|l| l.message.starts_with("librdkafka: "))
            .all(|l| l.fields.contains_key("facility")),
        "{lines:#?}"
    );
}

/// One line written to the captured target.
#[derive(Debug, Clone)]
struct Line {
    level: Level,
    message: String,
    fields: BTreeMap<String, String>,
}

static LINES: Mutex<Vec<Line>> = Mutex::new(Vec::new());

fn lock_lines() -> std::sync::MutexGuard<'static, Vec<Line>> {
    LINES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Captures this module's lines process-wide: librdkafka calls the context on its own
/// threads, which a thread-local subscriber would not see. Tests tell their lines apart
/// by the `servers` field.
fn install_capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Capture)
            .expect("no other test sets a global subscriber");
    });
}

struct Capture;

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == LOG_TARGET
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        lock_lines().push(Line {
            level: *event.metadata().level(),
            message,
            fields: fields.0,
        });
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}
