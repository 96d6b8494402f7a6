//! The Kafka sink: CloudEvents in binary mode, idempotent producer, acks=all, and a
//! write that returns only when the broker has acknowledged every record.

mod config;
mod context;
mod read;
mod sink;
#[cfg(test)]
mod tests;

pub use config::KafkaSinkConfig;
pub use context::{BrokerState, LOG_TARGET};
pub use read::read_topic;
pub use sink::{KafkaProbe, KafkaSink};
