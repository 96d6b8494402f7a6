//! What every pagination style's test needs: an in-memory registry an axum handler can
//! serve and a test can grow, and the exactly-once scenario run against each style.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use govhub_connect::{HttpSource, HttpSourceConfig};
use govhub_core::{Batch, Source};
use serde_json::{Value, json};

/// 127.0.0.1 on an ephemeral port.
pub const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// The records an API serves, shared between the handler and the test.
pub type Registry = Arc<Mutex<Vec<Value>>>;

/// A record: id `R0007`, and an update time shared by groups of four records so that
/// equal timestamps straddle page boundaries.
pub fn record(i: usize) -> Value {
    json!({"id": id(i), "updated_at": timestamp(i / 4), "n": i})
}

/// The id of record `i`.
pub fn id(i: usize) -> String {
    format!("R{i:04}")
}

/// `2024-05-01 10:00:00` plus `secs` seconds, Beijing time as department APIs write it.
pub fn timestamp(secs: usize) -> String {
    format!(
        "2024-05-01 {:02}:{:02}:{:02}",
        10 + secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A registry holding records `0..n`.
pub fn registry(n: usize) -> Registry {
    Arc::new(Mutex::new((0..n).map(record).collect()))
}

/// Appends records up to (not including) `n`.
pub fn grow(registry: &Registry, n: usize) {
    let mut records = registry.lock().unwrap();
    let from = records.len();
    records.extend((from..n).map(record));
}

/// A connector config built the way the hub builds it, from its TOML shape (so fields
/// added later with defaults need no change here): records under `records`, ids at `/id`.
pub fn config(url: &str, records: &str, pagination: Value) -> HttpSourceConfig {
    serde_json::from_value(json!({
        "department": "civil_affairs",
        "kind": "civil_affairs.case",
        "url": url,
        "records": records,
        "record_id": "/id",
        "timeout_secs": 5,
        "pagination": pagination,
    }))
    .unwrap()
}

/// The ids in a batch.
pub fn ids(batch: &Batch) -> Vec<String> {
    batch
        .records
        .iter()
        .map(|r| r.source_record_id.clone())
        .collect()
}

/// One sync, as the hub runs it: starts it, then polls and acks until caught up; the
/// ids handed out, in order.
pub async fn drain(source: &mut HttpSource) -> Vec<String> {
    source.begin_sync();
    let mut out = Vec::new();
    while let Some(batch) = source.poll().await.unwrap() {
        out.extend(ids(&batch));
        source.ack(&batch).await.unwrap();
    }
    out
}

/// Whether a new sync finds nothing to hand out.
pub async fn next_sync_is_empty(source: &mut HttpSource) -> bool {
    source.begin_sync();
    source.poll().await.unwrap().is_none()
}

/// The ids of records `from..to`.
pub fn id_range(from: usize, to: usize) -> Vec<String> {
    (from..to).map(id).collect()
}

/// The exactly-once contract, against a server that serves `registry` at `url`:
///
/// 1. the first batch is acked, the second nacked and read again identically by the next
///    sync (the hub ends a sync on a nack);
/// 2. a crash before that ack, then a new source built from the committed cursor (as the
///    hub does from its state store), resumes after the first batch and delivers every
///    other record once, in order, then nothing;
/// 3. records appended later are delivered once by the next polls, and a restart after
///    catching up delivers nothing.
pub async fn exactly_once(name: &str, config: &HttpSourceConfig, registry: &Registry) {
    let initial = registry.lock().unwrap().len();
    let mut source = HttpSource::new(name, config.clone(), None).unwrap();
    source.begin_sync();
    let first = source.poll().await.unwrap().unwrap();
    source.ack(&first).await.unwrap();
    let second = source.poll().await.unwrap().unwrap();
    source.nack(&second);
    source.begin_sync();
    let again = source.poll().await.unwrap().unwrap();
    let payloads = |b: &Batch| {
        b.records
            .iter()
            .map(|r| r.payload.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(payloads(&again), payloads(&second));
    assert_eq!(again.cursor, second.cursor);
    let delivered = ids(&first).len();
    assert_eq!(ids(&first), id_range(0, delivered));
    // Crash before acking `again`: the hub's state store holds the committed cursor.
    let committed = source.committed_cursor().clone();
    drop(source);

    let mut restarted = HttpSource::new(name, config.clone(), Some(committed)).unwrap();
    assert_eq!(restarted.committed_cursor(), &first.cursor);
    assert_eq!(drain(&mut restarted).await, id_range(delivered, initial));
    assert!(next_sync_is_empty(&mut restarted).await);

    grow(registry, initial + 13);
    assert_eq!(drain(&mut restarted).await, id_range(initial, initial + 13));
    assert!(next_sync_is_empty(&mut restarted).await);
    let committed = restarted.committed_cursor().clone();
    drop(restarted);
    let mut caught_up = HttpSource::new(name, config.clone(), Some(committed)).unwrap();
    assert!(next_sync_is_empty(&mut caught_up).await);
}
