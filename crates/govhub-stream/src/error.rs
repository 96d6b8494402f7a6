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
    /// A step of a Kafka transaction failed (`step`: init, begin, commit, abort) for a
    /// reason that does not end the producer: the transaction was aborted (an abort that
    /// timed out is finished by the next write), and the next write may succeed.
    #[error(
        "kafka sink: transaction {step} failed for transactional id {transactional_id}: {source}"
    )]
    Transaction {
        /// The producer's transactional id.
        transactional_id: String,
        /// Which transactional call failed.
        step: &'static str,
        /// What librdkafka reported.
        source: KafkaError,
    },
    /// Another producer with the same transactional id initialised its transactions, so
    /// the broker fences this one off, or librdkafka raised another fatal error. The
    /// producer can no longer write; the instance must stop and leave the work to the
    /// one that took over.
    #[error(
        "kafka sink: transactional id {transactional_id} was fenced: another govhub instance \
         with that transactional id took over (or the producer failed for good), and this one \
         must stop: {message}"
    )]
    Fenced {
        /// The producer's transactional id.
        transactional_id: String,
        /// librdkafka's error code and message.
        message: String,
    },
    /// A transactional sink was asked to write before `init_transactions` succeeded.
    #[error("kafka sink: transactional id {transactional_id}: write before init_transactions")]
    Uninitialized {
        /// The producer's transactional id.
        transactional_id: String,
    },
    /// One of govhub's own topics (state, coordination) is missing where it may not be
    /// created, or has more than one partition, which would lose the order of its
    /// records.
    #[error("kafka sink: govhub's own topic {topic}: {message}")]
    StateTopic {
        /// The topic.
        topic: String,
        /// What is wrong with it and what to do.
        message: String,
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

/// Codes with which the broker ends a transactional producer for good: a newer producer
/// with the same transactional id fenced it off, or it may no longer use that id.
pub(crate) fn ends_producer(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::FencedInstanceId
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
    )
}

impl Classified for StreamError {
    fn class(&self) -> ErrorClass {
        match self {
            // Two instances sharing a transactional id is a deployment matter, and so is a
            // state topic of the wrong shape: no retry of govhub's fixes either.
            StreamError::KafkaConfig(_)
            | StreamError::Rejected { .. }
            | StreamError::Fenced { .. }
            | StreamError::StateTopic { .. } => ErrorClass::User,
            StreamError::Delivery { source, .. } | StreamError::Transaction { source, .. }
                if is_permanent(source) =>
            {
                ErrorClass::User
            }
            StreamError::Delivery { .. }
            | StreamError::Transaction { .. }
            | StreamError::CreateTopic { .. }
            | StreamError::Unreachable { .. } => ErrorClass::External,
            StreamError::Canceled { .. }
            | StreamError::Uninitialized { .. }
            | StreamError::Log { .. } => ErrorClass::Internal,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            StreamError::KafkaConfig(_)
            | StreamError::Rejected { .. }
            | StreamError::Fenced { .. }
            | StreamError::Uninitialized { .. }
            | StreamError::StateTopic { .. }
            | StreamError::Log { .. } => false,
            StreamError::Delivery { source, .. } | StreamError::Transaction { source, .. } => {
                !is_permanent(source)
            }
            StreamError::Canceled { .. }
            | StreamError::CreateTopic { .. }
            | StreamError::Unreachable { .. } => true,
        }
    }
}
