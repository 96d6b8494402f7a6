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

use std::time::Duration;

use govhub_stream::kafka::Election;
use govhub_stream::{KafkaSink, KafkaSinkConfig, StreamError, Topics};

/// The group the instances of the hub writing `topics` join.
pub fn group(topics: &Topics) -> String {
    crate::state_topic::transactional_id(topics)
}

/// Joins the election of the hub writing `topics` through `kafka`, creating the
/// coordination topic if missing.
pub async fn join(kafka: &KafkaSinkConfig, topics: &Topics) -> Result<Election, StreamError> {
    let topic = topics.cluster();
    // A plain client for the topic: the hub's transactional producer is built only
    // once this instance is active.
    let mut admin = KafkaSink::new(KafkaSinkConfig {
        transactional_id: None,
        ..kafka.clone()
    })?;
    admin.check_reachable(Duration::from_secs(10)).await?;
    admin.ensure_single_partition_topic(&topic).await?;
    Election::join(kafka, &topic, &group(topics))
}
