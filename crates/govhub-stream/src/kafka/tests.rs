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

use super::{KafkaSink, KafkaSinkConfig, LOG_TARGET, read_topic, read_topic_tail};
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

/// `outcomes` of a write of `events` events: the broker's size refusal for event `big`
/// alone, named without its content, and every other event written.
fn assert_refused_alone(outcomes: &[Option<String>], events: usize, big: usize) {
    assert_eq!(outcomes.len(), events);
    for (n, outcome) in outcomes.iter().enumerate() {
        if n == big {
            let reason = outcome.as_deref().unwrap_or_default();
            assert!(reason.starts_with("MessageSizeTooLarge: "), "{reason}");
            assert!(!reason.contains("blob") && reason.len() < 100, "{reason}");
        } else {
            assert_eq!(outcome, &None, "event {n}");
        }
    }
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

    assert_refused_alone(&outcomes, events.len(), BIG);
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
    // Nothing listens on port 2: librdkafka retries the connection every few hundred
    // milliseconds and reports each failure. Lines are told apart by this address, so
    // no other test may use it (the others use port 1): each of their clients has a
    // limiter of its own and would add its lines to these.
    let servers = "127.0.0.1:2";
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
    assert!(cause.contains(servers), "{cause}");

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

/// A config for a transactional sink with id `id`.
fn transactional(servers: &str, id: &str) -> KafkaSinkConfig {
    let mut config = KafkaSinkConfig::new(servers);
    config.transactional_id = Some(id.to_owned());
    config
}

/// Creates `topic` with `partitions` partitions and the topic settings `set`.
async fn create_topic(servers: &str, topic: &str, partitions: i32, set: &[(&str, &str)]) {
    let new = set.iter().fold(
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
        |new, (key, value)| new.set(key, value),
    );
    let created = admin(servers)
        .create_topics([&new], &AdminOptions::new())
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
}

/// Events `ns` of `topic`, each `{"n": n}` under key `k{n}`.
fn small_events(topic: &str, ns: std::ops::Range<usize>) -> Vec<OutEvent> {
    ns.map(|n| event(topic, n, format!("{{\"n\":{n}}}").into_bytes()))
        .collect()
}

/// The keys a read_committed reader sees on `topic`, in offset order.
fn committed_keys(servers: &str, topic: &str) -> Vec<String> {
    let config = KafkaSinkConfig::new(servers);
    read_topic(&config, topic, &BTreeMap::new(), Duration::from_secs(30))
        .unwrap()
        .into_iter()
        .map(|e| e.key.unwrap_or_default())
        .collect()
}

fn keys(ns: impl IntoIterator<Item = usize>) -> Vec<String> {
    ns.into_iter().map(|n| format!("k{n}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_before_init_transactions_is_an_error_and_plain_sinks_need_no_init() {
    // Nothing listens on port 1: neither call may need a broker.
    let mut sink = KafkaSink::new(transactional("127.0.0.1:1", "govhub-test-uninit")).unwrap();
    assert!(sink.is_transactional());
    let error = sink
        .write_each(&small_events("unreachable", 0..1))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StreamError::Uninitialized { transactional_id } if transactional_id == "govhub-test-uninit"),
        "{error}"
    );
    assert!(!error.retryable());
    assert_eq!(error.class(), ErrorClass::Internal);

    let mut plain = KafkaSink::new(KafkaSinkConfig::new("127.0.0.1:1")).unwrap();
    assert!(!plain.is_transactional());
    plain
        .init_transactions(Duration::from_millis(100))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_sink_stores_each_batch_once_for_read_committed_readers() {
    let servers = require_broker();
    let topic = random_topic("txn");
    create_topic(&servers, &topic, 1, &[]).await;
    let mut sink = KafkaSink::new(transactional(&servers, &random_topic("txn-id"))).unwrap();
    sink.init_transactions(Duration::from_secs(30))
        .await
        .unwrap();
    // A second call is a no-op.
    sink.init_transactions(Duration::from_secs(30))
        .await
        .unwrap();

    let first = small_events(&topic, 0..5);
    let second = small_events(&topic, 5..10);
    assert_eq!(sink.write_each(&first).await.unwrap(), vec![None; 5]);
    assert_eq!(sink.write_each(&second).await.unwrap(), vec![None; 5]);
    assert_eq!(
        sink.write_each(&[]).await.unwrap(),
        Vec::<Option<String>>::new()
    );

    let config = KafkaSinkConfig::new(&servers);
    let entries = read_topic(&config, &topic, &BTreeMap::new(), Duration::from_secs(30)).unwrap();
    let stored: Vec<(String, serde_json::Value)> = entries
        .iter()
        .map(|e| (e.key.clone().unwrap_or_default(), e.value.clone()))
        .collect();
    let expected: Vec<(String, serde_json::Value)> = (0..10)
        .map(|n| (format!("k{n}"), serde_json::json!({ "n": n })))
        .collect();
    assert_eq!(stored, expected);
    // Each commit left a marker: offsets 5 and 11 are never read, and the partition ends
    // on a marker, which the reader must not wait for.
    let offsets: Vec<u64> = entries.iter().map(|e| e.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!(high, 12);

    // The tail counts records, not offsets: the last one is k9, not the marker.
    let tail = read_topic_tail(&config, &topic, 1, Duration::from_secs(30)).unwrap();
    assert_eq!(
        tail.iter()
            .map(|e| (e.key.clone().unwrap_or_default(), e.offset))
            .collect::<Vec<_>>(),
        [("k9".to_owned(), 10)]
    );
    let tail = read_topic_tail(&config, &topic, 7, Duration::from_secs(30)).unwrap();
    assert_eq!(
        tail.into_iter()
            .map(|e| e.key.unwrap_or_default())
            .collect::<Vec<_>>(),
        keys(3..10)
    );
    let all = read_topic_tail(&config, &topic, 100, Duration::from_secs(30)).unwrap();
    assert_eq!(all.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_aborts_its_whole_transaction_and_is_named() {
    let servers = require_broker();
    // The broker refuses a batch above 1000 bytes: the refusal is about the batch, so
    // the sink must find the record by itself.
    let topic = random_topic("txn-small-records");
    create_topic(&servers, &topic, 1, &[("max.message.bytes", "1000")]).await;
    let mut sink = KafkaSink::new(transactional(&servers, &random_topic("txn-id"))).unwrap();
    sink.init_transactions(Duration::from_secs(30))
        .await
        .unwrap();

    const BIG: usize = 5;
    let mut events = small_events(&topic, 0..12);
    events[BIG].value = incompressible_json(5_000);
    let outcomes = sink.write_each(&events).await.unwrap();
    assert_refused_alone(&outcomes, events.len(), BIG);
    // Nothing of the batch is visible, though the records tried alone were appended (and
    // aborted): the reader skips them and their abort markers, and still ends.
    assert_eq!(committed_keys(&servers, &topic), Vec::<String>::new());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .unwrap();
    assert!(high > 0, "{high}");

    // The batch without the refused event is written whole, and the sink's next
    // transaction works.
    let rest: Vec<OutEvent> = events
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != BIG)
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(sink.write_each(&rest).await.unwrap(), vec![None; 11]);
    let expected = keys((0..12).filter(|n| *n != BIG));
    assert_eq!(committed_keys(&servers, &topic), expected);

    // librdkafka's own limit (`message.max.bytes`) names the record before it is sent.
    let local = random_topic("txn-local-limit");
    create_topic(&servers, &local, 1, &[]).await;
    let mut config = transactional(&servers, &random_topic("txn-id"));
    config
        .properties
        .insert("message.max.bytes".to_owned(), "4000".to_owned());
    let mut limited = KafkaSink::new(config).unwrap();
    limited
        .init_transactions(Duration::from_secs(30))
        .await
        .unwrap();
    let mut events = small_events(&local, 0..3);
    events[1].value = incompressible_json(5_000);
    let outcomes = limited.write_each(&events).await.unwrap();
    assert_eq!(outcomes[0], None);
    assert!(
        outcomes[1]
            .as_deref()
            .is_some_and(|r| r.starts_with("MessageSizeTooLarge: ")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[2], None);
    assert_eq!(committed_keys(&servers, &local), Vec::<String>::new());

    // `Sink::write` fails the batch for good, and stores nothing of it.
    let error = limited.write(events.clone()).await.unwrap_err();
    assert!(matches!(error, StreamError::Rejected { .. }), "{error}");
    assert!(!error.retryable());
    assert_eq!(committed_keys(&servers, &local), Vec::<String>::new());
    let written = limited
        .write(vec![events[0].clone(), events[2].clone()])
        .await
        .unwrap();
    assert_eq!(written.events, 2);
    assert_eq!(committed_keys(&servers, &local), keys([0, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_producer_with_the_same_transactional_id_fences_the_older_one() {
    let servers = require_broker();
    let topic = random_topic("txn-fenced");
    create_topic(&servers, &topic, 1, &[]).await;
    let id = random_topic("txn-id");

    let mut older = KafkaSink::new(transactional(&servers, &id)).unwrap();
    older
        .init_transactions(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        older.write_each(&small_events(&topic, 0..3)).await.unwrap(),
        vec![None; 3]
    );

    let mut newer = KafkaSink::new(transactional(&servers, &id)).unwrap();
    newer
        .init_transactions(Duration::from_secs(30))
        .await
        .unwrap();

    let error = older
        .write_each(&small_events(&topic, 10..13))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StreamError::Fenced { transactional_id, .. } if *transactional_id == id),
        "{error}"
    );
    assert!(!error.retryable());
    assert_eq!(error.class(), ErrorClass::User);
    let text = error.to_string();
    assert!(
        text.contains("fenced") && text.contains("another govhub instance") && text.contains(&id),
        "{text}"
    );
    // The older sink stays stopped.
    let again = older
        .write_each(&small_events(&topic, 20..21))
        .await
        .unwrap_err();
    assert!(matches!(again, StreamError::Fenced { .. }), "{again}");

    assert_eq!(committed_keys(&servers, &topic), keys(0..3));

    assert_eq!(
        newer
            .write_each(&small_events(&topic, 30..33))
            .await
            .unwrap(),
        vec![None; 3]
    );
    assert_eq!(
        committed_keys(&servers, &topic),
        keys([0, 1, 2, 30, 31, 32])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_topic_is_one_compacted_partition_or_refused() {
    let servers = require_broker();
    let state = random_topic("state");
    let mut sink = KafkaSink::new(KafkaSinkConfig::new(&servers)).unwrap();
    sink.ensure_single_partition_topic(&state).await.unwrap();
    // Existing with one partition: accepted as it is.
    sink.ensure_single_partition_topic(&state).await.unwrap();

    let admin = admin(&servers);
    let metadata = admin
        .inner()
        .fetch_metadata(Some(&state), Duration::from_secs(10))
        .unwrap();
    let partitions: Vec<usize> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == state)
        .map(|t| t.partitions().len())
        .collect();
    assert_eq!(partitions, [1]);
    let configs = admin
        .describe_configs([&ResourceSpecifier::Topic(&state)], &AdminOptions::new())
        .await
        .unwrap();
    let policy = configs[0]
        .as_ref()
        .unwrap()
        .get("cleanup.policy")
        .and_then(|e| e.value.clone());
    assert_eq!(policy.as_deref(), Some("compact"));

    let wide = random_topic("state-wide");
    create_topic(&servers, &wide, 3, &[]).await;
    let error = sink.ensure_single_partition_topic(&wide).await.unwrap_err();
    assert!(
        matches!(&error, StreamError::StateTopic { topic, .. } if *topic == wide),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&wide) && text.contains("3 partitions"),
        "{text}"
    );
    assert!(!error.retryable());
    assert_eq!(error.class(), ErrorClass::User);

    // Where topics are provisioned, a missing state topic is an error and stays missing.
    let missing = random_topic("state-missing");
    let mut config = KafkaSinkConfig::new(&servers);
    config.create_topics = false;
    let mut provisioned = KafkaSink::new(config).unwrap();
    let error = provisioned
        .ensure_single_partition_topic(&missing)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&missing) && text.contains("does not exist"),
        "{text}"
    );
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    assert!(metadata.topics().iter().all(|t| t.name() != missing));
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
