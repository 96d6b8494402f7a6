//! govhub's Prometheus metrics: every name, its description and unit, and the few
//! functions that record them. The HTTP-level ones are recorded in `govhub-connect`
//! (see [`govhub_connect::metrics`]); all are described here.
//!
//! Every connector emits the same series, labelled `connector`, so one dashboard works
//! for all of them. Labels never carry record values: a rejection `reason` is
//! `stage: keyword at instance path`.

use std::sync::{Mutex, OnceLock, PoisonError};

use chrono::{DateTime, Utc};
use govhub_connect::metrics::{FETCH_DURATION, HTTP_REQUESTS, HTTP_RETRIES};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::pipeline::Counts;
pub use crate::status::IdentityStats;
use crate::status::Status;

/// Counter: records pulled from the source, by `connector`.
pub const RECORDS_PULLED: &str = "govhub_records_pulled_total";
/// Counter: records published to their kind's topic, by `connector`.
pub const RECORDS_PUBLISHED: &str = "govhub_records_published_total";
/// Counter: records sent to the dead-letter topic, by `connector` and `reason` (a
/// record with several violations counts once per reason).
pub const RECORDS_REJECTED: &str = "govhub_records_rejected_total";
/// Counter: records dropped as exact duplicates, by `connector`.
pub const DUPLICATES_DROPPED: &str = "govhub_duplicates_dropped_total";
/// Counter: failed connector syncs, by `connector` and `stage` (`source`, `sink`,
/// `dedup`, `backfill`).
pub const CONNECTOR_ERRORS: &str = "govhub_connector_errors_total";
/// Histogram: seconds from a record's fetch to the sink acknowledging its batch.
pub const RECORD_LATENCY: &str = "govhub_record_latency_seconds";
/// Gauge: age in seconds of the newest committed record, by `connector`.
pub const CURSOR_LAG: &str = "govhub_cursor_lag_seconds";
/// Gauge: 1 while an operator has paused the connector.
pub const CONNECTOR_PAUSED: &str = "govhub_connector_paused";
/// Gauge: 1 while the connector's circuit breaker refuses polls.
pub const CONNECTOR_CIRCUIT_OPEN: &str = "govhub_connector_circuit_open";
/// Gauge: 1 while the sink refuses writes and a batch waits to be retried.
pub const SINK_WAITING: &str = "govhub_sink_waiting";
/// Gauge: records in the Kafka producer's queue or in flight (0 for the embedded log).
pub const KAFKA_QUEUE_DEPTH: &str = "govhub_kafka_queue_depth";
/// Gauge: residents known to identity resolution.
pub const IDENTITY_RESIDENTS: &str = "govhub_identity_residents";
/// Counter: records linked to a resident.
pub const IDENTITY_LINKS: &str = "govhub_identity_links_total";
/// Counter: residents merged.
pub const IDENTITY_MERGES: &str = "govhub_identity_merges_total";
/// Counter: residents split.
pub const IDENTITY_SPLITS: &str = "govhub_identity_splits_total";

/// Histogram buckets in seconds: from a fast local page (5 ms) to a page that needed
/// minutes of retries, and records that waited in a long backlog.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
    3600.0,
];

/// The process's Prometheus recorder, installed on first use. Later calls (a second
/// hub, tests in one process) get the same handle instead of failing to install.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            // Someone else's recorder got there first: ours renders nothing, which the
            // log says rather than panicking over.
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        describe();
        handle.clone()
    })
}

/// Describes every metric, with its unit.
fn describe() {
    describe_counter!(
        RECORDS_PULLED,
        Unit::Count,
        "Records pulled from the source."
    );
    describe_counter!(
        RECORDS_PUBLISHED,
        Unit::Count,
        "Records published to their kind's topic."
    );
    describe_counter!(
        RECORDS_REJECTED,
        Unit::Count,
        "Records sent to the dead-letter topic, once per reason (stage: keyword at path)."
    );
    describe_counter!(
        DUPLICATES_DROPPED,
        Unit::Count,
        "Records dropped because exactly this version was already published."
    );
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests to department APIs, by status code (error: no response)."
    );
    describe_counter!(HTTP_RETRIES, Unit::Count, "Retried HTTP requests.");
    describe_counter!(
        CONNECTOR_ERRORS,
        Unit::Count,
        "Failed connector syncs, by the stage that failed."
    );
    describe_histogram!(
        FETCH_DURATION,
        Unit::Seconds,
        "Time to fetch one page, retries and back-off included."
    );
    describe_histogram!(
        RECORD_LATENCY,
        Unit::Seconds,
        "Time from fetching a record to the sink acknowledging its batch."
    );
    describe_gauge!(
        CURSOR_LAG,
        Unit::Seconds,
        "Age of the newest committed record: now minus the fetch time of the newest record in the last acknowledged batch."
    );
    describe_gauge!(
        CONNECTOR_PAUSED,
        Unit::Count,
        "1 while an operator has paused the connector."
    );
    describe_gauge!(
        CONNECTOR_CIRCUIT_OPEN,
        Unit::Count,
        "1 while the connector's circuit breaker refuses polls."
    );
    describe_gauge!(
        SINK_WAITING,
        Unit::Count,
        "1 while the sink refuses writes (e.g. the broker is down) and a batch waits to be retried."
    );
    describe_gauge!(
        KAFKA_QUEUE_DEPTH,
        Unit::Count,
        "Records in the Kafka producer's queue or in flight (0 for the embedded log)."
    );
    describe_gauge!(
        IDENTITY_RESIDENTS,
        Unit::Count,
        "Residents known to identity resolution."
    );
    describe_counter!(
        IDENTITY_LINKS,
        Unit::Count,
        "Records linked to a resident who already had records."
    );
    describe_counter!(IDENTITY_MERGES, Unit::Count, "Residents merged into one.");
    describe_counter!(IDENTITY_SPLITS, Unit::Count, "Residents split apart.");
}

/// The text exposition of every metric, with the gauges that depend on the time
/// (lag, circuit) refreshed from `status` first.
pub fn render(status: &Status) -> String {
    let handle = handle();
    refresh(status);
    // Drains histogram samples into their buckets; we run no background upkeep task.
    handle.run_upkeep();
    handle.render()
}

/// Sets the gauges that are a function of `status` and the clock.
fn refresh(status: &Status) {
    for (connector, paused, circuit_open, lag) in status.gauges() {
        gauge!(CONNECTOR_PAUSED, "connector" => connector.clone()).set(f64::from(u8::from(paused)));
        gauge!(CONNECTOR_CIRCUIT_OPEN, "connector" => connector.clone())
            .set(f64::from(u8::from(circuit_open)));
        if let Some(lag) = lag {
            gauge!(CURSOR_LAG, "connector" => connector).set(lag);
        }
    }
    gauge!(KAFKA_QUEUE_DEPTH).set(status.sink().queue_depth() as f64);
    gauge!(IDENTITY_RESIDENTS).set(status.identity().residents as f64);
}

/// Creates a connector's series at zero, so dashboards show it before its first batch.
/// The first call installs the recorder: everything a hub records from then on counts.
pub fn register_connector(connector: &str) {
    handle();
    let c = || connector.to_owned();
    counter!(RECORDS_PULLED, "connector" => c()).increment(0);
    counter!(RECORDS_PUBLISHED, "connector" => c()).increment(0);
    counter!(DUPLICATES_DROPPED, "connector" => c()).increment(0);
    counter!(HTTP_RETRIES, "connector" => c()).increment(0);
    gauge!(CONNECTOR_PAUSED, "connector" => c()).set(0.0);
    gauge!(CONNECTOR_CIRCUIT_OPEN, "connector" => c()).set(0.0);
}

/// Records one batch written and acked: its counts and each record's latency (the
/// records of a batch were fetched together, at `fetched_at`).
pub fn record_batch(connector: &str, counts: &Counts, fetched_at: Option<DateTime<Utc>>) {
    let c = || connector.to_owned();
    counter!(RECORDS_PULLED, "connector" => c()).increment(counts.pulled);
    counter!(RECORDS_PUBLISHED, "connector" => c()).increment(counts.published);
    counter!(DUPLICATES_DROPPED, "connector" => c()).increment(counts.duplicates);
    for (reason, n) in &counts.reasons {
        counter!(RECORDS_REJECTED, "connector" => c(), "reason" => reason.clone()).increment(*n);
    }
    let now = Utc::now();
    let latency = histogram!(RECORD_LATENCY, "connector" => c());
    if let Some(fetched_at) = fetched_at {
        let seconds = (now - fetched_at)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64();
        for _ in 0..counts.pulled {
            latency.record(seconds);
        }
    }
    if let Some(newest) = fetched_at {
        gauge!(CURSOR_LAG, "connector" => c())
            .set((now - newest).to_std().unwrap_or_default().as_secs_f64());
    }
}

/// Whether the sink refuses writes now.
pub fn sink_waiting(waiting: bool) {
    gauge!(SINK_WAITING).set(if waiting { 1.0 } else { 0.0 });
}

/// Counts a failed sync of `connector` in `stage`.
pub fn connector_error(connector: &str, stage: &str) {
    counter!(CONNECTOR_ERRORS, "connector" => connector.to_owned(), "stage" => stage.to_owned())
        .increment(1);
}

/// Sets identity resolution's metrics from its totals: the residents gauge, and the
/// counters by how much each total grew since the last call (a total that shrank, say
/// after a restart of the resolver, adds nothing).
pub fn record_identity(stats: &IdentityStats) {
    static LAST: Mutex<Option<IdentityStats>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    let before = last.unwrap_or_default();
    gauge!(IDENTITY_RESIDENTS).set(stats.residents as f64);
    counter!(IDENTITY_LINKS).increment(stats.links.saturating_sub(before.links));
    counter!(IDENTITY_MERGES).increment(stats.merges.saturating_sub(before.merges));
    counter!(IDENTITY_SPLITS).increment(stats.splits.saturating_sub(before.splits));
    *last = Some(*stats);
}
