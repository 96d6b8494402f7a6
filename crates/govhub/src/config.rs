//! The hub's one config file (TOML): data directory, topic prefix, the Kafka sink,
//! every connector, identity resolution and the admin server. Validation is pure: [`HubConfig::problems`] touches neither network
//! nor files and reports every problem with its config path.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;

use govhub_connect::HttpSourceConfig;
use govhub_schema::Standard;
use govhub_stream::{KafkaSinkConfig, Topics};
use serde::{Deserialize, Serialize};

/// The whole configuration of one govhub process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Directory for committed cursors and, without `[kafka]`, the embedded log.
    pub data_dir: PathBuf,
    /// Prefix of every topic name.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Seconds to wait before polling again once every connector has caught up.
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: NonZeroU64,
    /// Largest event (value, key and headers) handed to the sink, in bytes; a larger
    /// one goes to the dead-letter topic, cut short with its length and digest. Keep it
    /// at or below the broker's `message.max.bytes` and the producer's
    /// `message.max.bytes` (both 1,000,000 by default).
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: NonZeroU64,
    /// The Kafka sink. Without it events go to the embedded log under `data_dir`.
    #[serde(default)]
    pub kafka: Option<KafkaSinkConfig>,
    /// Connectors by name; the name is used in metrics, logs and the cursor file.
    pub connectors: BTreeMap<String, HttpSourceConfig>,
    /// Identity resolution: thresholds, model and survivorship rules.
    #[serde(default)]
    pub identity: govhub_resolve::identity::IdentityConfig,
    /// A directory laid out like `schemas/` whose kinds (and new versions) extend the
    /// standard built into govhub; a kind about a person says where the person is with
    /// `x-govhub-person` and takes part in identity resolution without a code change.
    #[serde(default)]
    pub schemas_dir: Option<PathBuf>,
    /// The admin server (its address is `--admin`): the host names it answers to.
    #[serde(default)]
    pub admin: crate::admin::AdminConfig,
    /// Data-sharing views by subscriber name (a-z 0-9 _ -): per record kind, what the
    /// subscriber sees of each field, published to `<prefix>view.<subscriber>.<kind>.v<N>`.
    #[serde(default)]
    pub views: BTreeMap<String, crate::views::ViewConfig>,
    /// Several instances of this hub (`govhub run` with this config on several
    /// machines): how they share the work.
    #[serde(
        default,
        skip_serializing_if = "crate::cluster::ClusterConfig::is_default"
    )]
    pub cluster: crate::cluster::ClusterConfig,
}

fn default_topic_prefix() -> String {
    govhub_stream::Topics::default().prefix().to_owned()
}

/// The smallest `max_event_bytes`: a refused event's dead letter keeps 4 KiB of it.
const MIN_EVENT_BYTES: u64 = 16 * 1024;

fn default_max_event_bytes() -> NonZeroU64 {
    NonZeroU64::new(1_000_000).unwrap_or(NonZeroU64::MIN)
}

fn default_poll_interval_secs() -> NonZeroU64 {
    NonZeroU64::new(30).unwrap_or(NonZeroU64::MIN)
}

/// A config that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the config structure.
    #[error("{path}: {}{source}", setting_prefix(setting))]
    Parse {
        /// The file.
        path: String,
        /// Dotted path of the setting that does not fit (`connectors.health.follow_redirects`);
        /// empty when the file as a whole is at fault (a TOML syntax error).
        setting: String,
        /// The parser's message, with line and column.
        source: Box<toml::de::Error>,
    },
}

fn setting_prefix(setting: &str) -> String {
    if setting.is_empty() {
        String::new()
    } else {
        format!("{setting}: ")
    }
}

/// One problem found by validation, at a config path such as
/// `connectors.education.pagination.page_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the offending setting.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl HubConfig {
    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let parse_error = |setting: String, source| ConfigError::Parse {
            path: origin.to_owned(),
            setting,
            source: Box::new(source),
        };
        let document =
            toml::Deserializer::parse(text).map_err(|e| parse_error(String::new(), e))?;
        serde_path_to_error::deserialize(document).map_err(|e| {
            // The path of the setting, besides the parser's line and column: a key such
            // as `follow_redirects` appears in every connector's table.
            let setting = match e.path().to_string() {
                root if root == "." => String::new(),
                path => path,
            };
            parse_error(setting, e.into_inner())
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The poll interval as a duration.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs.get())
    }

    /// The topic names under the configured prefix.
    pub fn topics(&self) -> Result<Topics, Problem> {
        Topics::new(&self.topic_prefix).map_err(|message| Problem {
            path: "topic_prefix".into(),
            message,
        })
    }

    /// Things that work but should change (secrets written into the file), with paths.
    pub fn warnings(&self) -> Vec<Problem> {
        self.connectors
            .iter()
            .flat_map(|(name, connector)| {
                connector
                    .warnings()
                    .into_iter()
                    .map(move |(field, message)| Problem {
                        path: format!("connectors.{name}.{field}"),
                        message,
                    })
            })
            .chain(
                crate::views::check::warnings(&self.views)
                    .into_iter()
                    .map(|(path, message)| Problem { path, message }),
            )
            .collect()
    }

    /// The `${VAR}` secrets that `env` cannot give (unset or empty), with their paths.
    pub fn unresolved_secrets(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<Problem> {
        self.connectors
            .iter()
            .flat_map(|(name, connector)| {
                connector
                    .unresolved_secrets(env)
                    .into_iter()
                    .map(move |(field, message)| Problem {
                        path: format!("connectors.{name}.{field}"),
                        message,
                    })
            })
            .chain(
                crate::views::check::unresolved_secrets(&self.views, env)
                    .into_iter()
                    .map(|(path, message)| Problem { path, message }),
            )
            .chain(self.kafka.iter().flat_map(|kafka| {
                kafka.env_references().filter_map(|(key, var)| {
                    let message = match env(var) {
                        Some(value) if !value.is_empty() => return None,
                        Some(_) => format!("environment variable {var} is empty"),
                        None => format!("environment variable {var} is not set"),
                    };
                    Some(Problem {
                        path: format!("kafka.properties.{key}"),
                        message,
                    })
                })
            }))
            .collect()
    }

    /// Every problem with the config against `standard`; empty when it can run.
    pub fn problems(&self, standard: &Standard) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut add = |path: String, message: String| problems.push(Problem { path, message });
        if let Err(p) = self.topics() {
            add(p.path, p.message);
        }
        if self.connectors.is_empty() {
            add("connectors".into(), "declare at least one connector".into());
        }
        if self.max_event_bytes.get() < MIN_EVENT_BYTES {
            add(
                "max_event_bytes".into(),
                format!("must be at least {MIN_EVENT_BYTES} (a dead letter must fit)"),
            );
        }
        if let Some(kafka) = &self.kafka {
            for (field, message) in kafka.problems() {
                add(format!("kafka.{field}"), message);
            }
        }
        if self.cluster.spread_connectors && !self.kafka.as_ref().is_some_and(|k| k.exactly_once) {
            add(
                "cluster.spread_connectors".into(),
                "needs [kafka] with exactly_once = true: the instances hand pages over through Kafka transactions".into(),
            );
        }
        for (field, message) in self.identity.problems() {
            add(format!("identity.{field}"), message);
        }
        for (field, message) in self.admin.problems() {
            add(format!("admin.{field}"), message);
        }
        if let Some(path) = &self.identity.model
            && let Err(e) = govhub_resolve::identity::Resolver::load_model(&self.identity)
        {
            add("identity.model".into(), format!("{}: {e}", path.display()));
        }
        for (name, connector) in &self.connectors {
            let at = |field: &str| format!("connectors.{name}.{field}");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                add(
                    format!("connectors.{name}"),
                    "connector names use only a-z 0-9 _ -".into(),
                );
            }
            match standard.latest(&connector.kind) {
                None => {
                    let mut known: Vec<String> = standard.iter().map(|k| k.kind.clone()).collect();
                    known.dedup();
                    add(
                        at("kind"),
                        format!(
                            "no schema for kind {:?} in the standard (known: {})",
                            connector.kind,
                            known.join(", ")
                        ),
                    );
                }
                Some(schema) => {
                    let resolve = |id: &str| standard.resource(id).cloned();
                    let mut found = connector.mapping.problems(&schema.schema, &resolve);
                    if !connector.mapping.is_empty() {
                        found.extend(govhub_schema::fit::problems(&connector.mapping, schema));
                    }
                    for (field, message) in found {
                        add(format!("connectors.{name}.mapping{field}"), message);
                    }
                }
            }
            for (field, message) in connector.problems() {
                add(at(&field), message);
            }
        }
        let topics = self.topics().unwrap_or_default();
        for (path, message) in crate::views::check::problems(&self.views, standard, &topics) {
            add(path, message);
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../deploy/govhub.example.toml");

    #[test]
    fn the_example_config_is_valid() {
        let config = HubConfig::parse(EXAMPLE, "example").unwrap();
        let standard = Standard::embedded().unwrap();
        assert_eq!(config.problems(&standard), vec![]);
        assert!(config.kafka.is_some());
        assert_eq!(
            config.connectors.keys().collect::<Vec<_>>(),
            ["civil_affairs", "education", "health", "urban"]
        );
        // Every secret comes from the environment, none is written in the file.
        for (name, connector) in &config.connectors {
            assert_eq!(connector.warnings(), vec![], "{name}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_location() {
        let text = EXAMPLE.replace("records = ", "recrods = ");
        let err = HubConfig::parse(&text, "example").unwrap_err().to_string();
        assert!(err.contains("recrods"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn a_value_that_does_not_parse_is_named_by_its_config_path() {
        let text = EXAMPLE.replace(
            "follow_redirects = \"same_origin\"",
            "follow_redirects = \"always\"",
        );
        assert_ne!(text, EXAMPLE);
        let err = HubConfig::parse(&text, "example").unwrap_err().to_string();
        assert!(
            err.starts_with("example: connectors.health.follow_redirects: "),
            "{err}"
        );
        assert!(err.contains("unknown variant `always`"), "{err}");
        assert!(err.contains("line"), "{err}");

        for setting in ["same_origin", "none"] {
            let text = EXAMPLE.replace(
                "follow_redirects = \"same_origin\"",
                &format!("follow_redirects = \"{setting}\""),
            );
            let config = HubConfig::parse(&text, "example").unwrap();
            assert_eq!(
                config.connectors["health"].follow_redirects.as_str(),
                setting
            );
        }

        // A syntax error has no setting to name.
        let err = HubConfig::parse("data_dir = ", "broken")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("broken: TOML parse error"), "{err}");
    }

    /// Every problem `config` has against the embedded standard, as shown.
    fn problem_texts(config: &HubConfig) -> Vec<String> {
        config
            .problems(&Standard::embedded().unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn settings_that_would_stall_a_connector_are_refused_with_their_paths() {
        let text = EXAMPLE
            .replace("# requests_per_second = 10", "requests_per_second = 1e-300")
            .replace(
                "seconds.\ntimeout_secs = 30",
                "seconds.\ntimeout_secs = 86400",
            );
        let config = HubConfig::parse(&text, "example").unwrap();
        let problems = problem_texts(&config);
        assert_eq!(
            problems,
            [
                "connectors.health.timeout_secs: must be at most 3600 (one hour)",
                "connectors.health.reliability.requests_per_second: must be a finite number \
                 of at least 0.001 (one request in about 17 minutes); leave it out for no limit",
            ]
        );
    }

    #[test]
    fn connectors_are_spread_only_over_kafka_with_exactly_once() {
        let text = format!("{EXAMPLE}\n[cluster]\nspread_connectors = true\n");
        let mut config = HubConfig::parse(&text, "example").unwrap();
        assert!(config.cluster.spread_connectors);
        let refused = [
            "cluster.spread_connectors: needs [kafka] with exactly_once = true: the \
             instances hand pages over through Kafka transactions",
        ];
        config.kafka = None;
        assert_eq!(problem_texts(&config), refused);
        let mut kafka = govhub_stream::KafkaSinkConfig::new("127.0.0.1:9092");
        kafka.exactly_once = false;
        config.kafka = Some(kafka.clone());
        assert_eq!(problem_texts(&config), refused);
        kafka.exactly_once = true;
        config.kafka = Some(kafka);
        assert!(problem_texts(&config).is_empty());
        let typo = format!("{EXAMPLE}\n[cluster]\nspread = true\n");
        assert!(HubConfig::parse(&typo, "example").is_err());
    }

    #[test]
    fn a_mapping_to_a_field_the_standard_lacks_is_a_config_error() {
        let mut config = HubConfig::parse(EXAMPLE, "example").unwrap();
        // The example's education mapping, replaced by one with a typo that maps little.
        config.connectors.get_mut("education").unwrap().mapping = toml::from_str(
            "\"/student/nmae\" = { from = \"/xm\" }\n\"/grade\" = { from = \"/nj\", as = \"integer\" }\n",
        )
        .unwrap();
        let problems = problem_texts(&config);
        assert_eq!(
            problems[0],
            r#"connectors.education.mapping["/student/nmae"]: the canonical record has no such field"#
        );
        // And what the two rules leave unmapped, each required field once, the name
        // the typo missed among them.
        let unmapped: Vec<&str> = problems[1..]
            .iter()
            .map(|p| p.split(']').next().unwrap_or_default())
            .collect();
        assert_eq!(
            unmapped,
            [
                r#"connectors.education.mapping["/enrolled_on""#,
                r#"connectors.education.mapping["/school""#,
                r#"connectors.education.mapping["/student/birth_date""#,
                r#"connectors.education.mapping["/student/name""#,
                r#"connectors.education.mapping["/student/sex""#,
                r#"connectors.education.mapping["/student_id""#,
            ]
        );
        assert!(problems[1].ends_with(
            "required by the schema, but no rule maps it: every record would be rejected"
        ));
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut config = HubConfig::parse(EXAMPLE, "example").unwrap();
        config.topic_prefix = "bad prefix".into();
        let edu = config.connectors.get_mut("education").unwrap();
        edu.kind = "education.nothing".into();
        edu.url = "not a url".into();
        let problems = config.problems(&Standard::embedded().unwrap());
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "topic_prefix",
                "connectors.education.kind",
                "connectors.education.url"
            ]
        );
    }

    #[test]
    fn views_are_checked_with_the_rest_of_the_config() {
        let text = format!(
            "{EXAMPLE}\n[views.urban_app]\nhash_key = \"${{GOVHUB_VIEW_URBAN_APP_KEY}}\"\n\
             [views.urban_app.kinds.\"health.encounter\"]\n\
             fields = {{ \"/patient/nmae\" = \"mask\", \"/patient/identifiers/resident_id\" = \"hash\" }}\n"
        );
        let config = HubConfig::parse(&text, "example").unwrap();
        let problems = problem_texts(&config);
        assert_eq!(
            problems,
            [
                r#"views.urban_app.kinds["health.encounter"].fields["/patient/nmae"]: the kind's schema has no such field"#
            ]
        );
        let unset: Vec<String> = config
            .unresolved_secrets(&|_| None)
            .iter()
            .filter(|p| p.path.starts_with("views."))
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            unset,
            ["views.urban_app.hash_key: environment variable GOVHUB_VIEW_URBAN_APP_KEY is not set"]
        );
        assert_eq!(config.warnings(), vec![]);
    }

    #[test]
    fn kafka_properties_take_secrets_from_the_environment() {
        let text = EXAMPLE.replace(
            "# [kafka.properties]",
            "[kafka.properties]\n\"sasl.username\" = \"govhub\"\n\"sasl.password\" = \"${GOVHUB_KAFKA_PASSWORD}\"",
        );
        let config = HubConfig::parse(&text, "example").unwrap();
        let kafka = |env: &dyn Fn(&str) -> Option<String>| -> Vec<String> {
            config
                .unresolved_secrets(env)
                .iter()
                .filter(|p| p.path.starts_with("kafka."))
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            kafka(&|_| None),
            [
                "kafka.properties.sasl.password: environment variable GOVHUB_KAFKA_PASSWORD is not set"
            ]
        );
        assert_eq!(kafka(&|_| Some("s3cret".into())), Vec::<String>::new());
    }
}
