//! The Kafka sink: CloudEvents in binary mode, idempotent producer, acks=all, and a
//! write that returns only when the broker has acknowledged every record.

mod config;
mod read;
mod sink;

pub use config::KafkaSinkConfig;
pub use read::read_topic;
pub use sink::{KafkaProbe, KafkaSink};
