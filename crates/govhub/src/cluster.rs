//! Several instances of one hub — `govhub run` with the same config (the same topic
//! prefix) on several machines — of which one is active and the others stand by, warm
//! in the sense that their process is up and they are members of the group: when the
//! active one stops or dies, one of them takes over within the group's session timeout
//! and the restore of its state store from the state topic.
//!
//! The election is Kafka's group membership ([`govhub_stream::kafka::Election`]) on the
//! one-partition coordination topic `<prefix>cluster.v1`, in the group `<prefix>hub`;
//! safety comes from the transactional id all instances share (see
//! [`crate::state_topic`]): an instance that lost the role without knowing it is fenced
//! at its next commit. Only with Kafka and `exactly_once`; `run --once` takes no part.
//!
//! With `[cluster] spread_connectors`, a second group, `<prefix>hub-connectors` on
//! `<prefix>connectors.v1` (a partition per connector), shares the connectors out over
//! the instances, active and standing by alike ([`crate::runtime::workers`]); their
//! pages reach the active instance through the intake topic
//! (`runtime::intake`).

use std::sync::OnceLock;
use std::time::Duration;

use govhub_stream::kafka::Election;
use govhub_stream::{KafkaSink, KafkaSinkConfig, StreamError, Topics};

use crate::config::HubConfig;

/// `[cluster]`: how the instances of one hub share the work.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Run the connectors on every instance, each connector on one of them, assigned
    /// by the group (`false`: the active instance runs them all). The active instance
    /// still resolves and publishes every record, reading the pages the others pulled
    /// from the intake topic. Needs `[kafka]` with `exactly_once`.
    #[serde(default)]
    pub spread_connectors: bool,
}

impl ClusterConfig {
    /// Whether nothing is set (the section is left out when written).
    pub fn is_default(&self) -> bool {
        *self == ClusterConfig::default()
    }
}

/// The group the instances of the hub writing `topics` join.
pub fn group(topics: &Topics) -> String {
    crate::state_topic::transactional_id(topics)
}

/// The name this instance joins the group with, and that `/api/cluster` lists it by:
/// `<host name>-<process id>`, read once.
pub fn instance_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("{host}-{}", std::process::id())
    })
}

/// The instances of one hub: its group on the broker, joined, listed and followed
/// through the hub's Kafka settings.
#[derive(Debug, Clone)]
pub struct Members {
    kafka: KafkaSinkConfig,
    topics: Topics,
    /// The connectors, in partition order, when they are spread over the instances.
    spread: Option<Vec<String>>,
}

impl Members {
    /// The instances of the hub writing `topics` through `kafka`, spreading the
    /// connectors `spread` (in partition order) when given.
    pub fn new(kafka: KafkaSinkConfig, topics: Topics, spread: Option<Vec<String>>) -> Self {
        Members {
            kafka,
            topics,
            spread,
        }
    }

    /// The instances of the hub `config` runs, when it runs with Kafka.
    pub fn of(config: &HubConfig) -> Option<Self> {
        let spread = config
            .cluster
            .spread_connectors
            .then(|| config.connectors.keys().cloned().collect());
        Some(Members::new(
            config.kafka.clone()?,
            config.topics().ok()?,
            spread,
        ))
    }

    /// The connectors in partition order, when they are spread over the instances.
    pub fn spread(&self) -> Option<&[String]> {
        self.spread.as_deref()
    }

    /// The names of the connectors at `partitions`.
    fn connector_names(&self, partitions: &[i32]) -> Vec<String> {
        let names = self.spread.as_deref().unwrap_or_default();
        partitions
            .iter()
            .filter_map(|p| usize::try_from(*p).ok().and_then(|p| names.get(p)).cloned())
            .collect()
    }

    /// The group's name.
    pub fn group(&self) -> String {
        group(&self.topics)
    }

    /// Joins the election, creating the coordination topic if missing.
    pub async fn join(&self) -> Result<Election, StreamError> {
        let topic = self.topics.cluster();
        let mut admin = self.admin().await?;
        admin.ensure_single_partition_topic(&topic).await?;
        Election::join(&self.kafka, &topic, &self.group(), instance_name())
    }

    /// When the connectors are spread: joins the group that shares them out, creating
    /// its coordination topic and the intake topic (a partition per connector) if
    /// missing or short of partitions. The connectors this instance runs are the
    /// partitions the group assigns it ([`Election::assigned`]).
    pub async fn join_connectors(&self) -> Result<Option<Election>, StreamError> {
        let Some(connectors) = &self.spread else {
            return Ok(None);
        };
        let (coordination, intake) = (self.topics.connectors(), self.topics.intake());
        let mut admin = self.admin().await?;
        admin
            .ensure_partitioned_topic(&coordination, connectors.len(), &[])
            .await?;
        admin
            .ensure_partitioned_topic(
                &intake,
                connectors.len(),
                crate::runtime::intake::TOPIC_SETTINGS,
            )
            .await?;
        let group = self.connectors_group();
        Election::join(&self.kafka, &coordination, &group, instance_name()).map(Some)
    }

    /// The group that shares the connectors out.
    fn connectors_group(&self) -> String {
        format!("{}-connectors", self.group())
    }

    /// A plain client on the config's own settings (only the hub's sink, built once
    /// this instance is active, gets the transactional id), the broker reached.
    async fn admin(&self) -> Result<KafkaSink, StreamError> {
        let admin = KafkaSink::new(self.kafka.clone())?;
        admin.check_reachable(Duration::from_secs(10)).await?;
        Ok(admin)
    }

    /// The instances, the active one first, as the group coordinator knows them now;
    /// with the connectors each runs when they are spread.
    pub async fn list(&self) -> Result<Vec<Instance>, StreamError> {
        let (kafka, topic, group) = (self.kafka.clone(), self.topics.cluster(), self.group());
        let spread = self
            .spread
            .as_ref()
            .map(|_| (self.topics.connectors(), self.connectors_group()));
        let (elected, sharing) = tokio::task::spawn_blocking(move || {
            let timeout = Duration::from_secs(5);
            let elected = govhub_stream::kafka::members(&kafka, &topic, &group, timeout)?;
            let sharing = match spread {
                Some((topic, group)) => Some(govhub_stream::kafka::members(
                    &kafka, &topic, &group, timeout,
                )?),
                None => None,
            };
            Ok::<_, StreamError>((elected, sharing))
        })
        .await
        .map_err(|_| StreamError::Canceled {
            topic: self.topics.cluster(),
        })??;
        let mut instances: Vec<Instance> = elected
            .into_iter()
            .map(|m| Instance {
                active: !m.partitions.is_empty(),
                connectors: sharing.as_ref().map(|_| Vec::new()),
                instance: m.instance,
                host: m.host,
            })
            .collect();
        for member in sharing.into_iter().flatten() {
            let names = self.connector_names(&member.partitions);
            match instances.iter_mut().find(|i| i.instance == member.instance) {
                Some(instance) => instance.connectors = Some(names),
                // In one group and not yet (or no longer) in the other.
                None => instances.push(Instance {
                    instance: member.instance,
                    host: member.host,
                    active: false,
                    connectors: Some(names),
                }),
            }
        }
        Ok(instances)
    }
}

/// An instance of the hub as `/api/cluster` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its name (`<host>-<pid>`).
    pub instance: String,
    /// Its address as the broker sees it.
    pub host: String,
    /// Whether it is the active one.
    pub active: bool,
    /// The connectors it runs, when they are spread.
    pub connectors: Option<Vec<String>>,
}

/// While this instance stands by: keeps the state store in `data_dir` current with the
/// state topic of the hub `members` belong to (every second), so that taking over reads
/// only what was written since. Holds the data directory's lock until `stop`, then
/// releases it for the hub; trouble is logged and tried again, never fatal, as the
/// hub's own start-up rebuilds what a standby could not.
pub async fn follow(
    members: Members,
    data_dir: std::path::PathBuf,
    stop: tokio_util::sync::CancellationToken,
) {
    let opened = crate::lock::DataDirLock::acquire(&data_dir)
        .map_err(|e| e.to_string())
        .and_then(|lock| {
            govhub_resolve::StateStore::open(&data_dir)
                .map(|store| (lock, store))
                .map_err(|e| e.to_string())
        });
    let (lock, mut store) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            tracing::warn!(error = %e, "standing by without following the state topic");
            return;
        }
    };
    // A trouble that lasts (the broker away, the store ahead of the topic) is warned
    // of once, when it starts or changes, then at DEBUG until it is over.
    let mut trouble: Option<String> = None;
    loop {
        match crate::state_topic::catch_up(&members.kafka, &members.topics, &mut store).await {
            Ok(agreement) => {
                if trouble.take().is_some() {
                    tracing::info!("standby: following the state topic again");
                }
                if !matches!(agreement, crate::state_topic::Agreement::Current(_)) {
                    tracing::debug!(
                        ?agreement,
                        "standby: the state store followed the state topic"
                    );
                }
            }
            Err(e) => {
                let now = e.to_string();
                if trouble.as_ref() == Some(&now) {
                    tracing::debug!(error = %now, "standby: still cannot follow the state topic");
                } else {
                    tracing::warn!(error = %now, "standby: cannot follow the state topic; trying again every second");
                    trouble = Some(now);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            () = stop.cancelled() => break,
        }
    }
    drop(store);
    drop(lock);
}

/// How often a standby reads what the active instance wrote.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
