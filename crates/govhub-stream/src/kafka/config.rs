use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use serde::{Deserialize, Serialize};

/// Settings of the Kafka sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Comma-separated `host:port` list of brokers to bootstrap from.
    pub bootstrap_servers: String,
    /// Create missing topics at start-up (partitions and replication from the broker's
    /// defaults). Turn off where topics are provisioned by the platform team.
    #[serde(default = "yes")]
    pub create_topics: bool,
    /// How long to keep retrying a record before its delivery fails, in milliseconds.
    /// With a `transactional_id` the effective timeout is at most the transaction
    /// timeout, [`TRANSACTION_TIMEOUT_MS`]: librdkafka refuses a producer whose
    /// `message.timeout.ms` exceeds `transaction.timeout.ms`, and a record still
    /// undelivered when the coordinator aborts the transaction could not be committed
    /// anyway.
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u32,
    /// Extra librdkafka producer properties (e.g. `security.protocol`,
    /// `sasl.mechanisms`, `compression.type`). govhub's delivery guarantees override any
    /// `acks`, `enable.idempotence` or `max.in.flight` given here. A value that is
    /// `${VAR}` as a whole (e.g. `sasl.password`) is read from the environment.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Exactly-once (default): each write is one Kafka transaction holding its events
    /// and the hub's state changes (the `state.v1` topic), so `read_committed`
    /// consumers see every event once, across crashes. `false`: at-least-once, a record
    /// written just before a crash may arrive twice under the same `ce_id`.
    #[serde(default = "yes")]
    pub exactly_once: bool,
    /// Makes the producer transactional under this id (`transactional.id`): each
    /// `write_each` is then one transaction, stored whole or not at all, and a newer
    /// producer with the same id fences this one off. The hub derives it from its topic
    /// prefix when `exactly_once` is on, so it is no setting of the configuration file.
    #[serde(skip)]
    pub transactional_id: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_delivery_timeout_ms() -> u32 {
    120_000
}

/// `transaction.timeout.ms` of a transactional producer: how long the coordinator lets a
/// transaction stay open before it aborts it (the broker's `transaction.max.timeout.ms`,
/// 15 minutes by default, must allow it).
pub const TRANSACTION_TIMEOUT_MS: u32 = 60_000;

/// Producer properties govhub sets from `transactional_id`.
const TRANSACTIONAL: &[&str] = &["transactional.id", "transaction.timeout.ms"];

/// Properties the delivery guarantee depends on; user properties cannot change them.
const GUARANTEES: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("max.in.flight.requests.per.connection", "5"),
];

impl KafkaSinkConfig {
    /// A config for `bootstrap_servers` with every default.
    pub fn new(bootstrap_servers: &str) -> Self {
        KafkaSinkConfig {
            bootstrap_servers: bootstrap_servers.to_owned(),
            create_topics: true,
            delivery_timeout_ms: default_delivery_timeout_ms(),
            properties: BTreeMap::new(),
            exactly_once: true,
            transactional_id: None,
        }
    }

    /// How long librdkafka keeps retrying a record: `delivery_timeout_ms`, capped at
    /// [`TRANSACTION_TIMEOUT_MS`] when the producer is transactional.
    pub fn effective_delivery_timeout_ms(&self) -> u32 {
        if self.transactional_id.is_some() {
            self.delivery_timeout_ms.min(TRANSACTION_TIMEOUT_MS)
        } else {
            self.delivery_timeout_ms
        }
    }

    /// Every problem with the settings, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.bootstrap_servers.trim().is_empty() {
            problems.push(("bootstrap_servers".into(), "must not be empty".into()));
        }
        for (key, _) in GUARANTEES {
            if self.properties.contains_key(*key) {
                problems.push((
                    format!("properties.{key}"),
                    "is fixed by govhub's delivery guarantee; remove it".into(),
                ));
            }
        }
        for key in TRANSACTIONAL {
            if self.properties.contains_key(*key) {
                problems.push((
                    format!("properties.{key}"),
                    "is set by govhub (transactions follow the hub's cluster id); remove it".into(),
                ));
            }
        }
        if self.properties.contains_key("bootstrap.servers") {
            problems.push((
                "properties.bootstrap.servers".into(),
                "use bootstrap_servers instead".into(),
            ));
        }
        problems
    }

    /// The properties whose value is a `${VAR}` reference, with the variable's name.
    pub fn env_references(&self) -> impl Iterator<Item = (&str, &str)> {
        self.properties.iter().filter_map(|(key, value)| {
            let var = value.strip_prefix("${")?.strip_suffix('}')?;
            Some((key.as_str(), var))
        })
    }

    /// Connection settings shared by every client: bootstrap servers, the user's
    /// properties (TLS, SASL, ...; `${VAR}` values read from the environment, an unset
    /// one left as written, which `HubConfig::unresolved_secrets` reports first) and
    /// the log level.
    pub(crate) fn connection_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        for (key, var) in self.env_references() {
            if let Ok(value) = std::env::var(var) {
                config.set(key, value);
            }
        }
        // librdkafka formats every line at or below this level before our context sees
        // it; above warnings it is connection chatter. An operator who sets `debug`
        // wants that chatter, so then everything passes.
        config.set_log_level(if self.properties.contains_key("debug") {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Warning
        });
        config
    }

    /// The librdkafka producer configuration; with a `transactional_id`, a transactional
    /// producer whose `message.timeout.ms` (the user's or `delivery_timeout_ms`) is at
    /// most the transaction timeout.
    pub(crate) fn client_config(&self) -> ClientConfig {
        // Built on the connection settings themselves: their `config_map()` view
        // replaces secrets such as `sasl.password` with a placeholder.
        let mut config = self.connection_config();
        let timeout = self.effective_delivery_timeout_ms().to_string();
        let defaults = [
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("message.timeout.ms", timeout.as_str()),
        ];
        for (key, value) in defaults {
            if config.get(key).is_none() {
                config.set(key, value);
            }
        }
        for (key, value) in GUARANTEES {
            config.set(*key, *value);
        }
        if let Some(id) = &self.transactional_id {
            config.set("transactional.id", id);
            config.set("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS.to_string());
            // A `message.timeout.ms` of the user's above the transaction timeout would make
            // librdkafka refuse to create the producer; 0 (no limit) would outlive the
            // transaction. An unreadable value is left for librdkafka to report.
            if let Some(Ok(ms)) = config.get("message.timeout.ms").map(str::parse::<u32>)
                && (ms == 0 || ms > TRANSACTION_TIMEOUT_MS)
            {
                config.set("message.timeout.ms", TRANSACTION_TIMEOUT_MS.to_string());
            }
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_producer_keeps_secrets_user_settings_and_the_guarantees() {
        let mut config = KafkaSinkConfig::new("broker:9092");
        config.properties.extend([
            ("sasl.password".to_owned(), "s3cret".to_owned()),
            ("linger.ms".to_owned(), "50".to_owned()),
        ]);
        let client = config.client_config();
        assert_eq!(client.get("sasl.password"), Some("s3cret"));
        assert_eq!(client.get("linger.ms"), Some("50"));
        assert_eq!(client.get("compression.type"), Some("lz4"));
        assert_eq!(client.get("message.timeout.ms"), Some("120000"));
        assert_eq!(client.get("acks"), Some("all"));
        assert_eq!(client.get("bootstrap.servers"), Some("broker:9092"));
        assert!(matches!(client.log_level, RDKafkaLogLevel::Warning));

        config
            .properties
            .insert("debug".to_owned(), "broker".to_owned());
        assert!(matches!(
            config.connection_config().log_level,
            RDKafkaLogLevel::Debug
        ));
    }

    #[test]
    fn a_transactional_producer_gets_its_id_and_a_message_timeout_within_the_transaction() {
        let mut config = KafkaSinkConfig::new("broker:9092");
        let plain = config.client_config();
        assert_eq!(plain.get("transactional.id"), None);
        assert_eq!(plain.get("transaction.timeout.ms"), None);
        assert_eq!(config.effective_delivery_timeout_ms(), 120_000);

        config.transactional_id = Some("govhub-cluster-1".to_owned());
        let client = config.client_config();
        assert_eq!(client.get("transactional.id"), Some("govhub-cluster-1"));
        assert_eq!(client.get("transaction.timeout.ms"), Some("60000"));
        // The default 120 s delivery timeout is capped at the transaction's 60 s.
        assert_eq!(client.get("message.timeout.ms"), Some("60000"));
        assert_eq!(client.get("enable.idempotence"), Some("true"));
        assert_eq!(config.effective_delivery_timeout_ms(), 60_000);

        config.delivery_timeout_ms = 30_000;
        assert_eq!(
            config.client_config().get("message.timeout.ms"),
            Some("30000")
        );
        assert_eq!(config.effective_delivery_timeout_ms(), 30_000);

        // A user's longer (or unlimited) message timeout is capped too, a shorter one kept.
        for (set, expected) in [("90000", "60000"), ("0", "60000"), ("20000", "20000")] {
            config
                .properties
                .insert("message.timeout.ms".to_owned(), set.to_owned());
            assert_eq!(
                config.client_config().get("message.timeout.ms"),
                Some(expected),
                "{set}"
            );
        }

        // librdkafka refuses a transactional producer whose message timeout exceeds the
        // transaction's; the capped configuration it accepts.
        config
            .properties
            .insert("message.timeout.ms".to_owned(), "90000".to_owned());
        let mut uncapped = config.client_config();
        uncapped.set("message.timeout.ms", "90000");
        let refused = uncapped
            .create::<rdkafka::producer::BaseProducer>()
            .map(|_| ())
            .unwrap_err();
        assert!(
            refused.to_string().contains("transaction.timeout.ms"),
            "{refused}"
        );
        let sink = crate::KafkaSink::new(config).unwrap();
        assert!(sink.is_transactional());
    }

    #[test]
    fn the_transactional_properties_are_govhubs_alone() {
        let mut config = KafkaSinkConfig::new("broker:9092");
        config.properties.extend([
            ("transactional.id".to_owned(), "mine".to_owned()),
            ("transaction.timeout.ms".to_owned(), "900000".to_owned()),
        ]);
        let problems = config.problems();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "properties.transactional.id",
                "properties.transaction.timeout.ms"
            ]
        );
        assert!(problems.iter().all(|(_, m)| m.contains("set by govhub")));
        let error = crate::KafkaSink::new(config).unwrap_err();
        assert!(
            error.to_string().contains("properties.transactional.id"),
            "{error}"
        );

        // Not a setting of the configuration file, in either direction.
        let read = serde_json::from_value::<KafkaSinkConfig>(serde_json::json!({
            "bootstrap_servers": "broker:9092",
            "transactional_id": "mine",
        }));
        assert!(read.is_err());
        let mut config = KafkaSinkConfig::new("broker:9092");
        config.transactional_id = Some("govhub-cluster-1".to_owned());
        let written = serde_json::to_value(&config).unwrap();
        assert!(written.get("transactional_id").is_none(), "{written}");
    }
}
