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
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u32,
    /// Extra librdkafka producer properties (e.g. `security.protocol`,
    /// `sasl.mechanisms`, `compression.type`). govhub's delivery guarantees override any
    /// `acks`, `enable.idempotence` or `max.in.flight` given here. A value that is
    /// `${VAR}` as a whole (e.g. `sasl.password`) is read from the environment.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}
fn default_delivery_timeout_ms() -> u32 {
    120_000
}

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

    /// The librdkafka producer configuration.
    pub(crate) fn client_config(&self) -> ClientConfig {
        // Built on the connection settings themselves: their `config_map()` view
        // replaces secrets such as `sasl.password` with a placeholder.
        let mut config = self.connection_config();
        let timeout = self.delivery_timeout_ms.to_string();
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
}
