//! The connectors this instance runs when they are spread over the instances of a hub:
//! those whose partition of the connectors' coordination topic the group assigns it,
//! standing by or active alike. Each writes its pages to the intake topic
//! ([`super::intake`]); an assignment moving away stops the connector between pages,
//! one moving here takes it over from where its last page committed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use govhub_connect::HttpSource;
use govhub_schema::Standard;
use govhub_stream::kafka::Assigned;
use govhub_stream::{KafkaSink, Publisher};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::intake::IntakeWriter;
use super::{Connector, Downstream, Mode, Shared, Timings};
use crate::config::HubConfig;
use crate::status::{SinkProbe, Status};

/// The longest wait before taking a connector over again after the broker failed it.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// Runs the connectors of `config` the group assigns this instance (`assigned`), until
/// `stop`; then stops each between pages and returns. `config` has been checked
/// ([`crate::hub::Hub::check`]) and spreads its connectors over Kafka.
pub async fn run(
    config: Arc<HubConfig>,
    standard: Arc<Standard>,
    mut assigned: watch::Receiver<Assigned>,
    stop: CancellationToken,
) {
    let (Some(kafka), Ok(topics)) = (config.kafka.clone(), config.topics()) else {
        tracing::error!("connectors are spread only over instances writing to Kafka");
        return;
    };
    let names: Vec<String> = config.connectors.keys().cloned().collect();
    let probe = match KafkaSink::new(kafka) {
        Ok(sink) => SinkProbe::Kafka(sink.probe()),
        Err(e) => {
            tracing::error!(error = %e, "the connectors cannot run on this instance");
            return;
        }
    };
    let status = Status::new(&config.data_dir, probe);
    for (name, settings) in &config.connectors {
        status.register(
            name,
            &settings.department,
            &settings.kind,
            settings.pagination.clone(),
            serde_json::Value::Null,
        );
    }
    let views = crate::views::Views::build(&BTreeMap::new(), &standard, &topics, &|_| None)
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        publisher: Publisher::new(topics),
        status: Arc::new(status),
        poll_interval: config.poll_interval(),
        max_event_bytes: usize::MAX,
        timings: Timings::default(),
        progress: std::sync::Mutex::new(None),
        persons: crate::persons::PersonLookup::default(),
        views,
    });
    let mut running: BTreeMap<i32, (CancellationToken, JoinHandle<()>)> = BTreeMap::new();
    loop {
        let wanted: BTreeSet<i32> = assigned
            .borrow_and_update()
            .partitions
            .iter()
            .copied()
            .filter(|p| usize::try_from(*p).is_ok_and(|p| p < names.len()))
            .collect();
        let gone: Vec<i32> = running
            .keys()
            .filter(|p| !wanted.contains(p))
            .copied()
            .collect();
        for partition in gone {
            if let Some((stop, task)) = running.remove(&partition) {
                stop.cancel();
                task.await.ok();
                let connector = &names[partition as usize];
                tracing::info!(%connector, "the connector moved to another instance");
            }
        }
        for &partition in &wanted {
            if running.contains_key(&partition) {
                continue;
            }
            let token = stop.child_token();
            let task = tokio::spawn(run_one(
                partition,
                names[partition as usize].clone(),
                config.clone(),
                standard.clone(),
                shared.clone(),
                token.clone(),
            ));
            running.insert(partition, (token, task));
        }
        tokio::select! {
            changed = assigned.changed() => if changed.is_err() { break },
            () = stop.cancelled() => break,
        }
    }
    for (token, _) in running.values() {
        token.cancel();
    }
    for (_, (_, task)) in running {
        task.await.ok();
    }
}

/// Runs connector `name` (partition `partition`) until `stop`: takes it over (fencing
/// the instance that ran it before), resumes from its last page's cursor, and syncs it
/// as a hub does; taken over again when the broker failed the take-over or another
/// instance fenced this one while the group still assigns it here.
async fn run_one(
    partition: i32,
    name: String,
    config: Arc<HubConfig>,
    standard: Arc<Standard>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let (Some(kafka), Ok(topics), Some(settings)) = (
        config.kafka.as_ref(),
        config.topics(),
        config.connectors.get(&name),
    ) else {
        return;
    };
    let mut wait = Duration::from_secs(1);
    while !stop.is_cancelled() {
        let (writer, cursor) = match IntakeWriter::open(kafka, &topics, partition, &name).await {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(connector = %name, error = %e, retry_in_ms = wait.as_millis() as u64, "taking the connector over failed; trying again");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled() => return,
                }
                wait = (wait * 2).min(MAX_RETRY_WAIT);
                continue;
            }
        };
        wait = Duration::from_secs(1);
        let env = |var: &str| std::env::var(var).ok();
        let source = match HttpSource::with_env(&name, settings.clone(), cursor.clone(), &env) {
            Ok(source) => source,
            Err(e) => {
                tracing::error!(connector = %name, error = %e, "the connector cannot run on this instance");
                return;
            }
        };
        let resumed = cursor.is_some();
        tracing::info!(connector = %name, partition, resumed, "this instance runs the connector");
        let connector = Connector::new(
            &name,
            source,
            settings.mapping.compile(),
            standard.clone(),
            &settings.kind,
        );
        // `stop` twice: a revoked connector stops in the middle of a page's request too.
        let out = Downstream::Intake(Box::new(writer));
        // In continuous mode a failing sync is retried inside; it ends stopped or fenced.
        let _ =
            super::connector::run(connector, &shared, out, Mode::Continuous, &stop, &stop).await;
        if !stop.is_cancelled() {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}
