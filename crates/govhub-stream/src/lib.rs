//! govhub's sinks and topic naming.
//!
//! The publish stage ([`Publisher`]: CloudEvents and dead letters), and two
//! [`govhub_core::Sink`]s: [`KafkaSink`], the production one, and [`EmbeddedLog`],
//! durable files under the data directory for a single machine with no broker.
//! Both return from `write` only when every event is durable.

mod embedded_log;
mod error;
pub mod kafka;
mod publish;
mod topics;

pub use embedded_log::{EmbeddedLog, LogEntry};
pub use error::StreamError;
pub use kafka::{KafkaSink, KafkaSinkConfig};
pub use publish::{
    DEAD_LETTER_TYPE, DeadLetter, IDENTITY_TYPE, PERSON_ID_EXTENSION, PERSON_MERGED_TYPE,
    PERSON_TYPE, Publisher, QUALITY_EXTENSION, REFUSED_HEAD_BYTES,
};
pub use topics::{MAX_TOPIC_LEN, Topics};
