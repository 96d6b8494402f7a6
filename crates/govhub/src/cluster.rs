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

use std::sync::OnceLock;
use std::time::Duration;

use govhub_stream::kafka::{Election, Member};
use govhub_stream::{KafkaSink, KafkaSinkConfig, StreamError, Topics};

use crate::config::HubConfig;

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
}

impl Members {
    /// The instances of the hub writing `topics` through `kafka`.
    pub fn new(kafka: KafkaSinkConfig, topics: Topics) -> Self {
        Members { kafka, topics }
    }

    /// The instances of the hub `config` runs, when it runs with Kafka.
    pub fn of(config: &HubConfig) -> Option<Self> {
        Some(Members::new(config.kafka.clone()?, config.topics().ok()?))
    }

    /// The group's name.
    pub fn group(&self) -> String {
        group(&self.topics)
    }

    /// Joins the election, creating the coordination topic if missing.
    pub async fn join(&self) -> Result<Election, StreamError> {
        let topic = self.topics.cluster();
        // The config's own settings make a plain client: only the hub's sink, built once
        // this instance is active, gets the transactional id.
        let mut admin = KafkaSink::new(self.kafka.clone())?;
        admin.check_reachable(Duration::from_secs(10)).await?;
        admin.ensure_single_partition_topic(&topic).await?;
        Election::join(&self.kafka, &topic, &self.group(), instance_name())
    }

    /// The instances, the active one first, as the group coordinator knows them now.
    pub async fn list(&self) -> Result<Vec<Member>, StreamError> {
        let (kafka, topic, group) = (self.kafka.clone(), self.topics.cluster(), self.group());
        tokio::task::spawn_blocking(move || {
            govhub_stream::kafka::members(&kafka, &topic, &group, Duration::from_secs(5))
        })
        .await
        .map_err(|_| StreamError::Canceled {
            topic: self.topics.cluster(),
        })?
    }
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
