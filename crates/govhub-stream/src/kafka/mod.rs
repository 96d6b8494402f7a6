//! The Kafka sink: CloudEvents in binary mode, idempotent producer, acks=all, and a
//! write that returns only when the broker has acknowledged every record. With a
//! transactional id each write is one Kafka transaction, so a crash or a takeover by
//! another instance never leaves half a batch for read_committed consumers.

mod config;
mod context;
mod election;
mod intake;
mod read;
mod sink;
#[cfg(test)]
mod tests;

pub use config::{KafkaSinkConfig, TRANSACTION_TIMEOUT_MS};
pub use context::{BrokerState, LOG_TARGET};
pub use election::{Assigned, Election, Member, Role, SESSION_TIMEOUT_MS, members};
pub use intake::{IntakeMessage, IntakeReader};
pub use read::{read_partition_last, read_topic, read_topic_each, read_topic_tail};
pub use sink::{KafkaProbe, KafkaSink};
