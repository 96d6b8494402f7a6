//! The admin server's view of a Kafka sink, against a real broker: readiness asks the
//! sink's own producer, and the queue depth gauge reads it.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use govhub::config::HubConfig;
use govhub::demo::EXAMPLE_CONFIG;
use govhub::hub::Hub;
use govhub_schema::Standard;
use govhub_sim::education::{EducationSim, STUDENTS_PATH};
use govhub_stream::KafkaSinkConfig;
use govhub_tests::{random_prefix, require_broker};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_queue_depth_come_from_the_kafka_producer() {
    let servers = require_broker();
    let sim = EducationSim {
        seed: 13,
        students: 40,
        invalid_every: 0,
    };
    let server = govhub_sim::serve(sim.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig::parse(EXAMPLE_CONFIG, "example").unwrap();
    config.data_dir = dir.path().to_owned();
    config.topic_prefix = random_prefix();
    config.kafka = Some(KafkaSinkConfig::new(&servers));
    let mut education = config.connectors.remove("education").unwrap();
    education.url = server.url(STUDENTS_PATH);
    config.connectors = BTreeMap::from([("edu_kafka_admin".to_owned(), education)]);

    let mut hub = Hub::build(&config, Arc::new(Standard::embedded().unwrap()))
        .await
        .unwrap();
    let status = hub.status();
    assert_eq!(status.unready_reasons().await, Vec::<String>::new());
    let mut counts = BTreeMap::new();
    hub.sync_all(&mut counts, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(counts["edu_kafka_admin"].published, 40);
    // Every delivery was awaited before the batch was acked: nothing left in flight.
    assert_eq!(status.sink().queue_depth(), 0);
    let text = govhub::admin::metrics::render(&status);
    assert!(
        text.lines().any(|l| l == "govhub_kafka_queue_depth 0"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == r#"govhub_records_published_total{connector="edu_kafka_admin"} 40"#),
        "{text}"
    );
    assert_eq!(status.unready_reasons().await, Vec::<String>::new());
}
