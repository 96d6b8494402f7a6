//! What the library's unit tests share: a simulated student registry with the example
//! config's education connector pointed at it.

use std::net::{Ipv4Addr, SocketAddr};

use govhub_sim::RunningSim;
use govhub_sim::education::{EducationSim, STUDENTS_PATH};

use crate::config::HubConfig;
use crate::demo::EXAMPLE_CONFIG;

/// The registry of `sim`, served on a free port.
pub(crate) struct Registry {
    /// The running registry (stops when dropped).
    pub server: RunningSim,
    /// The data directory of `config`.
    pub dir: tempfile::TempDir,
    /// The example config with only its education connector, pointed at `server`, into
    /// the embedded log under `dir`.
    pub config: HubConfig,
}

/// Starts `sim` and writes the config that reads it.
pub(crate) async fn registry(sim: &EducationSim) -> Registry {
    let server = govhub_sim::serve(sim.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("the registry starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = HubConfig::parse(EXAMPLE_CONFIG, "example").expect("the example parses");
    config.kafka = None;
    config.data_dir = dir.path().to_owned();
    config.connectors.retain(|name, _| name == "education");
    if let Some(education) = config.connectors.get_mut("education") {
        education.url = server.url(STUDENTS_PATH);
    }
    Registry {
        server,
        dir,
        config,
    }
}
