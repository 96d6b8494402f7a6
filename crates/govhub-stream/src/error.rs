use govhub_core::{Classified, ErrorClass};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// Why a sink could not be built or could not write.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The Kafka client could not be created from the configuration.
    #[error("kafka sink: invalid client configuration: {0}")]
    KafkaConfig(KafkaError),
    /// The broker did not acknowledge a record of topic `topic`.
    #[error("kafka sink: delivery to {topic} failed: {source}")]
    Delivery {
        /// Topic of the failed record.
        topic: String,
        /// What librdkafka reported.
        source: KafkaError,
    },
    /// The producer went away before reporting a delivery.
    #[error("kafka sink: producer closed before delivery to {topic} was confirmed")]
    Canceled {
        /// Topic of the record.
        topic: String,
    },
    /// Topic administration failed (creating the topics govhub writes to).
    #[error("kafka sink: cannot create topic {topic}: {message}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// What the broker said.
        message: String,
    },
    /// No broker answered a metadata request in time.
    #[error("kafka sink: no broker reachable at {servers}: {source}")]
    Unreachable {
        /// Configured bootstrap servers.
        servers: String,
        /// The last error.
        source: KafkaError,
    },
    /// The embedded log could not read or write its files.
    #[error("embedded log at {path}: {source}")]
    Log {
        /// File or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Broker errors that no retry will fix: the record or the permissions must change.
fn is_permanent(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::UnsupportedVersion
        )
    )
}

impl Classified for StreamError {
    fn class(&self) -> ErrorClass {
        match self {
            StreamError::KafkaConfig(_) => ErrorClass::User,
            StreamError::Delivery { source, .. } if is_permanent(source) => ErrorClass::User,
            StreamError::Delivery { .. }
            | StreamError::CreateTopic { .. }
            | StreamError::Unreachable { .. } => ErrorClass::External,
            StreamError::Canceled { .. } | StreamError::Log { .. } => ErrorClass::Internal,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            StreamError::KafkaConfig(_) | StreamError::Log { .. } => false,
            StreamError::Delivery { source, .. } => !is_permanent(source),
            StreamError::Canceled { .. }
            | StreamError::CreateTopic { .. }
            | StreamError::Unreachable { .. } => true,
        }
    }
}
