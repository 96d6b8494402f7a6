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
    /// The broker or librdkafka refused a record for a reason of its own (too large,
    /// invalid): retrying the same record cannot succeed.
    #[error("kafka sink: a record for {topic} was refused: {reason}")]
    Rejected {
        /// Topic of the refused record.
        topic: String,
        /// Error code name and message; never the record's content.
        reason: String,
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
    error.rdkafka_error_code().is_some_and(|code| {
        refuses_record(code)
            || matches!(
                code,
                RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
                    | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                    | RDKafkaErrorCode::InvalidTopic
                    | RDKafkaErrorCode::UnsupportedVersion
            )
    })
}

/// Codes with which the broker or librdkafka refuses a record for what it is (its
/// size, its format), so that no retry of that record succeeds. Authorization and
/// topic errors are left out: they refuse every record alike, and the operator fixes
/// them while the caller retries.
pub(crate) fn refuses_record(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidRecord
    )
}

impl Classified for StreamError {
    fn class(&self) -> ErrorClass {
        match self {
            StreamError::KafkaConfig(_) | StreamError::Rejected { .. } => ErrorClass::User,
            StreamError::Delivery { source, .. } if is_permanent(source) => ErrorClass::User,
            StreamError::Delivery { .. }
            | StreamError::CreateTopic { .. }
            | StreamError::Unreachable { .. } => ErrorClass::External,
            StreamError::Canceled { .. } | StreamError::Log { .. } => ErrorClass::Internal,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            StreamError::KafkaConfig(_)
            | StreamError::Rejected { .. }
            | StreamError::Log { .. } => false,
            StreamError::Delivery { source, .. } => !is_permanent(source),
            StreamError::Canceled { .. }
            | StreamError::CreateTopic { .. }
            | StreamError::Unreachable { .. } => true,
        }
    }
}
