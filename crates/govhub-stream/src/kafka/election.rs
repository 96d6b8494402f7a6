//! Which of several hubs on the same topics is the active one, decided by Kafka's group
//! membership: every instance joins the consumer group `<prefix>hub` on a coordination
//! topic of one partition, and the member the group coordinator assigns that partition
//! to is active. When it leaves (a graceful stop leaves the group at once) or dies (its
//! heartbeats stop for `session.timeout.ms`), the coordinator assigns the partition to
//! another member, which becomes active. Assignments are cooperative-sticky: a member
//! joining does not take the role from the one holding it.
//!
//! The group picks who should write; it does not make writing safe on its own (an
//! instance cut off from the coordinator may not know yet that it lost the role). What
//! does is the transactional id all instances share: the new active instance's
//! `init_transactions` fences the old one, whose next commit fails.
//!
//! The same membership, in a group of its own on a topic with one partition per
//! connector, spreads connectors over the instances when asked to: the partitions a
//! member is assigned are the connectors it runs ([`Election::assigned`]). The sticky
//! assignor balances them over the members, a member that leaves or dies hands its
//! share to the others. (A group of its own: in one group with the election, balancing
//! would move the active role whenever an instance joins.)
//!
//! No record is ever written to the coordination topics: the groups are used for their
//! assignments alone.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use tokio::sync::watch;

use super::KafkaSinkConfig;
use super::context::KafkaContext;
use crate::StreamError;

/// How long the coordinator waits for a silent member before it gives its partition to
/// another: the failover time after a crash, less the restore. The broker's
/// `group.min.session.timeout.ms` (6 s by default) is the least it accepts.
pub const SESSION_TIMEOUT_MS: u32 = 6_000;

/// Where this instance stands in the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Joined, no assignment yet.
    Joining,
    /// Another member holds the partition.
    Standby,
    /// This instance holds it.
    Active,
}

/// What the group has assigned this member: partitions of its coordination topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assigned {
    /// Whether the group has answered this member's join at least once.
    pub joined: bool,
    /// The partitions held.
    pub partitions: BTreeSet<i32>,
}

impl Assigned {
    /// Where this member stands in an election (a topic of one partition).
    fn role(&self) -> Role {
        match (self.joined, self.partitions.is_empty()) {
            (false, _) => Role::Joining,
            (true, true) => Role::Standby,
            (true, false) => Role::Active,
        }
    }
}

/// The consumer's context: librdkafka's logs go where the sink's go; assignments are
/// told to the [`Election`].
struct ElectionContext {
    inner: KafkaContext,
    assigned: watch::Sender<Assigned>,
}

impl ClientContext for ElectionContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.inner.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.inner.error(error, reason);
    }
}

impl ConsumerContext for ElectionContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // Cooperative rebalancing: an assignment or revocation names only the
        // partitions that move, often none.
        let moved = |list: &rdkafka::TopicPartitionList| -> Vec<i32> {
            list.elements().iter().map(|e| e.partition()).collect()
        };
        match rebalance {
            Rebalance::Assign(partitions) => {
                let moved = moved(partitions);
                self.assigned.send_if_modified(|now| {
                    let before = now.clone();
                    now.joined = true;
                    now.partitions.extend(moved);
                    *now != before
                });
            }
            Rebalance::Revoke(partitions) => {
                let moved = moved(partitions);
                self.assigned.send_if_modified(|now| {
                    let before = now.partitions.len();
                    for partition in &moved {
                        now.partitions.remove(partition);
                    }
                    now.partitions.len() != before
                });
            }
            Rebalance::Error(_) => {}
        }
    }
}

/// This instance's membership of the election; leaves the group when dropped.
pub struct Election {
    assigned: watch::Receiver<Assigned>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Election")
            .field("assigned", &*self.assigned.borrow())
            .finish_non_exhaustive()
    }
}

impl Election {
    /// Joins group `group` on `topic` (created beforehand: one partition for the
    /// election, one per connector to spread connectors). Membership is kept by a thread
    /// of its own, polling the consumer, until the election is dropped.
    /// `instance` names this member to the others ([`members`]): its Kafka `client.id`.
    pub fn join(
        config: &KafkaSinkConfig,
        topic: &str,
        group: &str,
        instance: &str,
    ) -> Result<Election, StreamError> {
        let (tx, rx) = watch::channel(Assigned::default());
        let context = ElectionContext {
            inner: KafkaContext::new(&config.bootstrap_servers),
            assigned: tx,
        };
        let session = SESSION_TIMEOUT_MS.to_string();
        let heartbeat = (SESSION_TIMEOUT_MS / 6).to_string();
        let consumer: BaseConsumer<ElectionContext> = config
            .connection_config()
            .set("group.id", group)
            .set("client.id", instance)
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", &session)
            .set("heartbeat.interval.ms", &heartbeat)
            .set("allow.auto.create.topics", "false")
            // Sticky: an instance joining leaves the active one its partition, so the
            // role moves only when its holder leaves or dies.
            .set("partition.assignment.strategy", "cooperative-sticky")
            .create_with_context(context)
            .map_err(StreamError::KafkaConfig)?;
        consumer
            .subscribe(&[topic])
            .map_err(|source| StreamError::Unreachable {
                servers: config.bootstrap_servers.clone(),
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let poller = std::thread::Builder::new()
            .name("govhub-election".into())
            .spawn(move || {
                // The coordination topic holds no records: polling serves the group's
                // heartbeats and rebalances, whose callbacks run in here.
                while !stopping.load(Ordering::Relaxed) {
                    let _ = consumer.poll(Duration::from_millis(200));
                }
                // Dropping the consumer leaves the group: the partition moves at once.
                drop(consumer);
            })
            .map_err(|e| StreamError::KafkaConfig(KafkaError::ClientCreation(e.to_string())))?;
        Ok(Election {
            assigned: rx,
            stop,
            poller: Some(poller),
        })
    }

    /// Where this instance stands now.
    pub fn role(&self) -> Role {
        self.assigned.borrow().role()
    }

    /// Waits until this instance's role is no longer `role`, and returns the new one.
    pub async fn changed_from(&mut self, role: Role) -> Role {
        match self.assigned.wait_for(|now| now.role() != role).await {
            Ok(now) => now.role(),
            // The polling thread is gone: the membership with it.
            Err(_) => Role::Standby,
        }
    }

    /// What the group assigns this member, as it changes.
    pub fn assigned(&self) -> watch::Receiver<Assigned> {
        self.assigned.clone()
    }
}

/// A member of the election as the group coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    /// The name it joined with (its `client.id`).
    pub instance: String,
    /// Its address as the broker sees it.
    pub host: String,
    /// The partitions of the coordination topic it holds: in the election, the one
    /// that makes it active.
    pub partitions: Vec<i32>,
}

/// The members of group `group` on `topic`, as the group coordinator knows them now (a
/// member that died is listed until its session times out), those holding partitions
/// first. Blocking: one request to the coordinator, bounded by `timeout`.
pub fn members(
    config: &KafkaSinkConfig,
    topic: &str,
    group: &str,
    timeout: Duration,
) -> Result<Vec<Member>, StreamError> {
    let consumer: BaseConsumer<KafkaContext> = config
        .connection_config()
        .create_with_context(KafkaContext::new(&config.bootstrap_servers))
        .map_err(StreamError::KafkaConfig)?;
    let list = consumer
        .fetch_group_list(Some(group), timeout)
        .map_err(|source| StreamError::Unreachable {
            servers: config.bootstrap_servers.clone(),
            source,
        })?;
    let mut members: Vec<Member> = list
        .groups()
        .iter()
        .filter(|g| g.name() == group)
        .flat_map(|g| g.members())
        .map(|m| Member {
            instance: m.client_id().to_owned(),
            host: m.client_host().trim_start_matches('/').to_owned(),
            partitions: m
                .assignment()
                .map(assigned_partitions)
                .unwrap_or_default()
                .into_iter()
                .filter(|(t, _)| t == topic)
                .flat_map(|(_, p)| p)
                .collect(),
        })
        .collect();
    members.sort_by(|a, b| {
        let key = |m: &Member| (m.partitions.is_empty(), m.instance.clone());
        key(a).cmp(&key(b))
    });
    Ok(members)
}

/// The topics and their partitions in a consumer-protocol assignment (version, then an
/// array of topic name and partition array; strings and arrays prefixed by their
/// length, big-endian), topics without partitions left out; what does not parse counts
/// as no assignment.
fn assigned_partitions(bytes: &[u8]) -> Vec<(String, Vec<i32>)> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = bytes.split_at_checked(n)?;
        *bytes = tail;
        Some(head)
    }
    fn int(bytes: &mut &[u8], n: usize) -> Option<i64> {
        let head = take(bytes, n)?;
        Some(head.iter().fold(0i64, |v, b| (v << 8) | i64::from(*b)))
    }
    let mut rest = bytes;
    let mut topics = Vec::new();
    let parsed = (|| {
        int(&mut rest, 2)?; // version
        for _ in 0..int(&mut rest, 4)? {
            let len = usize::try_from(int(&mut rest, 2)?).ok()?;
            let name = String::from_utf8(take(&mut rest, len)?.to_vec()).ok()?;
            let count = int(&mut rest, 4)?;
            let mut partitions = Vec::new();
            for _ in 0..count {
                partitions.push(i32::try_from(int(&mut rest, 4)?).ok()?);
            }
            if !partitions.is_empty() {
                topics.push((name, partitions));
            }
        }
        Some(())
    })();
    if parsed.is_none() {
        topics.clear();
    }
    topics
}

impl Drop for Election {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::assigned_partitions;

    fn assigned_topics(bytes: &[u8]) -> Vec<String> {
        assigned_partitions(bytes)
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    /// A consumer-protocol assignment of `topics` (name, partitions), version 1.
    fn assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut bytes = vec![0, 1];
        bytes.extend((topics.len() as i32).to_be_bytes());
        for (name, partitions) in topics {
            bytes.extend((name.len() as i16).to_be_bytes());
            bytes.extend(name.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                bytes.extend(p.to_be_bytes());
            }
        }
        bytes.extend((-1i32).to_be_bytes()); // no user data
        bytes
    }

    #[test]
    fn an_assignment_names_the_topics_it_gives_partitions_of() {
        let bytes = assignment(&[("govhub.cluster.v1", &[0]), ("other", &[])]);
        assert_eq!(assigned_topics(&bytes), ["govhub.cluster.v1"]);
        assert!(assigned_topics(&assignment(&[])).is_empty());
        assert!(assigned_topics(&assignment(&[("govhub.cluster.v1", &[])])).is_empty());
        let spread = assignment(&[
            ("govhub.cluster.v1", &[0]),
            ("govhub.connectors.v1", &[1, 3]),
        ]);
        assert_eq!(
            assigned_partitions(&spread),
            [
                ("govhub.cluster.v1".to_owned(), vec![0]),
                ("govhub.connectors.v1".to_owned(), vec![1, 3])
            ]
        );
    }

    #[test]
    fn a_cut_assignment_assigns_nothing() {
        let bytes = assignment(&[("govhub.cluster.v1", &[0])]);
        for end in 0..bytes.len() - 4 {
            assert!(assigned_topics(&bytes[..end]).is_empty(), "cut at {end}");
        }
    }
}
