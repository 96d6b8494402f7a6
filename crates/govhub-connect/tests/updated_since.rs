//! `updated_since` incremental sync against an in-test API that lists records updated at
//! or after a timestamp, ordered by (updated_at, id).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use common::{
    LOOPBACK, Registry, config, drain, exactly_once, id, id_range, ids, next_sync_is_empty,
    registry, timestamp,
};
use govhub_connect::{ConnectError, HttpSource, HttpSourceConfig};
use govhub_core::{Classified, ErrorClass, Source};
use serde_json::{Value, json};

/// `?updated_since=T[&after_id=I]&size=S`: records with `updated_at >= T` (and, with
/// `after_id`, strictly after `(T, I)`), ordered by `(updated_at, id)`. Every timestamp
/// is written `YYYY-MM-DD HH:MM:SS`, so comparing strings compares instants.
fn api(registry: Registry) -> Router {
    Router::new()
        .route(
            "/cases",
            get(
                |State(registry): State<Registry>, Query(q): Query<HashMap<String, String>>| async move {
                    let key = |r: &Value| {
                        (
                            r["updated_at"].as_str().unwrap().to_owned(),
                            r["id"].as_str().unwrap().to_owned(),
                        )
                    };
                    let since = q.get("updated_since").cloned().unwrap_or_default();
                    let after = q.get("after_id").map(|a| (since.clone(), a.clone()));
                    let size: usize = q["size"].parse().unwrap();
                    let mut page: Vec<Value> = registry
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|r| key(r).0 >= since && after.as_ref().is_none_or(|a| key(r) > *a))
                        .cloned()
                        .collect();
                    page.sort_by_key(key);
                    page.truncate(size);
                    Json(json!({"code": 0, "data": {"cases": page}}))
                },
            ),
        )
        .with_state(registry)
}

fn since_config(url: &str, id_param: Option<&str>) -> HttpSourceConfig {
    let mut pagination = json!({
        "style": "updated_since",
        "param": "updated_since",
        "timestamp_field": "/updated_at",
        "id_field": "/id",
        "size_param": "size",
        "page_size": 10,
    });
    if let Some(id_param) = id_param {
        pagination["id_param"] = json!(id_param);
    }
    config(url, "/data/cases", pagination)
}

/// Records `0..n` whose update times come from `secs(i)` (non-decreasing in `i`).
fn registry_with(n: usize, secs: impl Fn(usize) -> usize) -> Registry {
    Arc::new(Mutex::new(
        (0..n)
            .map(|i| json!({"id": id(i), "updated_at": timestamp(secs(i)), "n": i}))
            .collect(),
    ))
}

#[tokio::test]
async fn every_record_once_nack_replays_restart_resumes_appends_picked_up_once() {
    // Groups of four records share a timestamp and straddle page boundaries.
    for id_param in [None, Some("after_id")] {
        for initial in [95, 20] {
            let registry = registry(initial);
            let server = govhub_sim::serve(api(registry.clone()), LOOPBACK)
                .await
                .unwrap();
            let config = since_config(&server.url("/cases"), id_param);
            exactly_once("civil", &config, &registry).await;
        }
    }
}

#[tokio::test]
async fn fewer_than_a_page_sharing_each_timestamp_needs_no_id_param() {
    // Nine records per timestamp, pages of ten: every page boundary splits a group.
    let registry = registry_with(100, |i| i / 9);
    let server = govhub_sim::serve(api(registry.clone()), LOOPBACK)
        .await
        .unwrap();
    let mut source =
        HttpSource::new("civil", since_config(&server.url("/cases"), None), None).unwrap();
    assert_eq!(drain(&mut source).await, id_range(0, 100));
    assert_eq!(
        source.committed_cursor(),
        &json!({"timestamp": timestamp(99 / 9), "id": id(99)})
    );
}

#[tokio::test]
async fn many_records_sharing_one_timestamp_across_pages_and_a_restart() {
    // Records 5..30 share one timestamp: 25 records, straddling three pages of ten.
    let secs = |i: usize| {
        if i < 5 {
            i
        } else if i < 30 {
            5
        } else {
            i
        }
    };
    let registry = registry_with(40, secs);
    let server = govhub_sim::serve(api(registry.clone()), LOOPBACK)
        .await
        .unwrap();
    let config = since_config(&server.url("/cases"), Some("after_id"));

    let mut source = HttpSource::new("civil", config.clone(), None).unwrap();
    source.begin_sync();
    let first = source.poll().await.unwrap().unwrap();
    source.ack(&first).await.unwrap();
    let second = source.poll().await.unwrap().unwrap();
    source.ack(&second).await.unwrap();
    assert_eq!([ids(&first), ids(&second)].concat(), id_range(0, 20));
    // Stopped in the middle of the group: the restart goes on after (timestamp, id).
    let third = source.poll().await.unwrap().unwrap();
    source.nack(&third);
    let committed = source.committed_cursor().clone();
    drop(source);
    let mut restarted = HttpSource::new("civil", config, Some(committed)).unwrap();
    assert_eq!(
        restarted.committed_cursor(),
        &json!({"timestamp": timestamp(5), "id": id(19)})
    );
    assert_eq!(drain(&mut restarted).await, id_range(20, 40));
}

#[tokio::test]
async fn a_full_page_of_one_timestamp_without_id_param_is_a_config_error_not_a_loop() {
    let secs = |i: usize| {
        if i < 5 {
            i
        } else if i < 30 {
            5
        } else {
            i
        }
    };
    let registry = registry_with(40, secs);
    let server = govhub_sim::serve(api(registry.clone()), LOOPBACK)
        .await
        .unwrap();
    let mut source =
        HttpSource::new("civil", since_config(&server.url("/cases"), None), None).unwrap();
    let mut delivered = Vec::new();
    source.begin_sync();
    let err = loop {
        match source.poll().await {
            Ok(Some(batch)) => {
                delivered.extend(ids(&batch));
                source.ack(&batch).await.unwrap();
            }
            Ok(None) => panic!("caught up without reading records 15.."),
            Err(e) => break e,
        }
    };
    // Everything up to the stuck page went out once; nothing was skipped silently.
    assert_eq!(delivered, id_range(0, 15));
    assert!(matches!(err, ConnectError::Config { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::User);
    assert!(!err.retryable());
    let text = err.to_string();
    assert!(text.contains("connector civil"), "{text}");
    assert!(text.contains("pagination.id_param"), "{text}");
}

#[tokio::test]
async fn an_update_to_a_delivered_record_is_delivered_again_as_a_new_version() {
    let registry = registry(30);
    let server = govhub_sim::serve(api(registry.clone()), LOOPBACK)
        .await
        .unwrap();
    let mut source =
        HttpSource::new("civil", since_config(&server.url("/cases"), None), None).unwrap();
    assert_eq!(drain(&mut source).await, id_range(0, 30));

    // R0003 changes (a newer updated_at), then a new case arrives in the same second.
    {
        let mut records = registry.lock().unwrap();
        records[3]["updated_at"] = json!(timestamp(60));
        records[3]["n"] = json!("second version");
        records.push(json!({"id": id(30), "updated_at": timestamp(60), "n": 30}));
    }
    source.begin_sync();
    let batch = source.poll().await.unwrap().unwrap();
    assert_eq!(ids(&batch), [id(3), id(30)]);
    assert_eq!(batch.records[0].payload["n"], "second version");
    source.ack(&batch).await.unwrap();
    assert!(source.poll().await.unwrap().is_none());

    // A restart neither repeats the new version nor misses a later one.
    let mut restarted = HttpSource::new(
        "civil",
        since_config(&server.url("/cases"), None),
        Some(source.committed_cursor().clone()),
    )
    .unwrap();
    assert!(next_sync_is_empty(&mut restarted).await);
    registry.lock().unwrap()[3]["updated_at"] = json!(timestamp(61));
    assert_eq!(drain(&mut restarted).await, [id(3)]);
}

#[tokio::test]
async fn an_unreadable_timestamp_is_an_error_that_quotes_no_record_contents() {
    let registry = registry(5);
    registry.lock().unwrap()[2]["updated_at"] = json!("110101199003071234");
    let server = govhub_sim::serve(api(registry.clone()), LOOPBACK)
        .await
        .unwrap();
    let mut source =
        HttpSource::new("civil", since_config(&server.url("/cases"), None), None).unwrap();
    let text = source.poll().await.unwrap_err().to_string();
    assert!(text.contains("connector civil"), "{text}");
    // The bad timestamp sorts first on the page.
    assert!(
        text.contains("record #0: \"/updated_at\" is neither RFC 3339"),
        "{text}"
    );
    assert!(!text.contains("110101"), "{text}");
}
