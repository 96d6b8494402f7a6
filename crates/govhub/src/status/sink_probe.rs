//! Whether the sink can take writes, asked while the hub owns the sink.

use std::path::{Path, PathBuf};
use std::time::Duration;

use govhub_stream::kafka::KafkaProbe;

use crate::sink::HubSink;

/// How long `/readyz` waits for a broker to answer.
const SINK_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How to tell whether the sink can take writes, without borrowing the sink itself.
#[derive(Debug, Clone)]
pub enum SinkProbe {
    /// Ask the broker for its metadata through the sink's producer.
    Kafka(KafkaProbe),
    /// The embedded log's directory must be there.
    Log(PathBuf),
}

impl SinkProbe {
    /// The probe of `sink`.
    pub fn of(sink: &HubSink) -> Self {
        match sink {
            HubSink::Kafka(kafka, _) => SinkProbe::Kafka(kafka.probe()),
            HubSink::Log(log) => SinkProbe::Log(log.dir().to_owned()),
        }
    }

    /// `Err` with the reason when the sink cannot take writes now.
    pub async fn check(&self) -> Result<(), String> {
        match self {
            SinkProbe::Kafka(kafka) => kafka
                .check_reachable(SINK_PROBE_TIMEOUT)
                .await
                .map_err(|e| e.to_string()),
            SinkProbe::Log(dir) => writable(dir).map_err(|e| format!("embedded log: {e}")),
        }
    }

    /// Records in the Kafka producer's queue or in flight; 0 for the embedded log.
    pub fn queue_depth(&self) -> i64 {
        match self {
            SinkProbe::Kafka(kafka) => i64::from(kafka.in_flight()),
            SinkProbe::Log(_) => 0,
        }
    }
}

/// Whether a file can be created in `dir` (and is removed again).
pub(super) fn writable(dir: &Path) -> Result<(), String> {
    tempfile::Builder::new()
        .prefix(".govhub-ready")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| format!("{}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use govhub_stream::{KafkaSink, KafkaSinkConfig};

    use super::*;

    #[tokio::test]
    async fn an_unreachable_broker_or_a_missing_log_directory_is_a_reason() {
        let sink = KafkaSink::new(KafkaSinkConfig::new("127.0.0.1:1")).unwrap();
        let probe = SinkProbe::Kafka(sink.probe());
        let reason = probe.check().await.unwrap_err();
        assert!(reason.contains("127.0.0.1:1"), "{reason}");
        assert_eq!(probe.queue_depth(), 0);

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(SinkProbe::Log(dir.path().to_owned()).check().await, Ok(()));
        let gone = dir.path().join("gone");
        let reason = SinkProbe::Log(gone).check().await.unwrap_err();
        assert!(reason.starts_with("embedded log: "), "{reason}");
    }
}
