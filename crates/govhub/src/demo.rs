//! `govhub demo`: the simulated education registry, the hub and the embedded log in one
//! process, on the example config, with no setup.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use govhub_schema::Standard;
use govhub_sim::education::{EducationSim, STUDENTS_PATH};
use govhub_stream::{EmbeddedLog, Topics};
use tokio_util::sync::CancellationToken;

use crate::config::HubConfig;
use crate::hub::{BuildError, Hub};
use crate::pipeline::{Counts, PipelineError};

/// The example config the demo runs, as shipped in `deploy/`.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../deploy/govhub.example.toml");

/// What the demo simulates.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed of the synthetic population.
    pub seed: u64,
    /// Number of students in the registry.
    pub students: u64,
    /// One record in this many is invalid (0: none).
    pub invalid_every: u64,
    /// Where to keep cursors and the embedded log.
    pub data_dir: PathBuf,
}

/// What the demo did, read back from the embedded log.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Counts per connector.
    pub counts: BTreeMap<String, Counts>,
    /// Events found in the embedded log per topic after the run.
    pub stored: BTreeMap<String, usize>,
    /// Directory of the embedded log.
    pub log_dir: PathBuf,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The simulator could not start.
    #[error("simulator: {0}")]
    Sim(std::io::Error),
    /// The example config does not parse.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The hub could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A connector failed.
    #[error("connector {0}: {1}")]
    Sync(String, PipelineError),
    /// The embedded log could not be read back.
    #[error(transparent)]
    Stream(#[from] govhub_stream::StreamError),
}

/// Runs the simulator and the hub until the registry is fully synced.
pub async fn run(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    let sim = EducationSim {
        seed: options.seed,
        students: options.students,
        invalid_every: options.invalid_every,
    };
    let server = govhub_sim::serve(sim.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(DemoError::Sim)?;

    let mut config = HubConfig::parse(EXAMPLE_CONFIG, "deploy/govhub.example.toml")?;
    config.kafka = None;
    config.data_dir = options.data_dir.clone();
    if let Some(education) = config.connectors.get_mut("education") {
        education.url = server.url(STUDENTS_PATH);
    }
    let standard = Arc::new(Standard::embedded().map_err(BuildError::from)?);
    let mut hub = Hub::build(&config, standard).await?;
    let mut counts = BTreeMap::new();
    hub.sync_all(&mut counts, &CancellationToken::new())
        .await
        .map_err(|(connector, e)| DemoError::Sync(connector, e))?;
    let _ = server.shutdown().await;

    let log_dir = config.data_dir.join("log");
    let log = EmbeddedLog::open(&log_dir)?;
    let topics = Topics::new(&config.topic_prefix).unwrap_or_default();
    let mut stored = BTreeMap::new();
    for topic in log.topics()? {
        if topic.starts_with(topics.prefix()) {
            stored.insert(topic.clone(), log.read(&topic)?.len());
        }
    }
    Ok(DemoReport {
        counts,
        stored,
        log_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_publishes_valid_records_and_dead_letters_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let options = DemoOptions {
            seed: 7,
            students: 250,
            invalid_every: 25,
            data_dir: dir.path().to_owned(),
        };
        let report = run(&options).await.unwrap();
        let edu = &report.counts["education"];
        assert_eq!((edu.pulled, edu.published, edu.rejected), (250, 240, 10));
        assert_eq!(report.stored["govhub.education.enrollment.v1"], 240);
        assert_eq!(report.stored["govhub.dlq.v1"], 10);
        // Each of the simulator's four defects is caught by the schema.
        for reason in [
            "validate: format at /student/resident_id",
            "validate: maximum at /grade",
            "validate: required at /school",
            "validate: format at /student/birth_date",
        ] {
            assert!(
                edu.reasons.contains_key(reason),
                "{reason}: {:?}",
                edu.reasons
            );
        }

        // Run again on the same data dir: the cursor is committed, nothing is re-published.
        let again = run(&options).await.unwrap();
        assert_eq!(again.counts["education"].pulled, 0);
        assert_eq!(again.stored["govhub.education.enrollment.v1"], 240);
    }
}
