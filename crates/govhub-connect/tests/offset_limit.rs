//! `offset_limit` pagination against an in-test `?offset=O&limit=L` API.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use common::{LOOPBACK, Registry, config, drain, exactly_once, id_range, registry};
use govhub_connect::HttpSource;
use govhub_core::Source;
use serde_json::{Value, json};

/// Serves `registry` at `/list?offset=&limit=`, capping `limit` at `cap` like APIs that
/// silently serve less than asked; every query it saw goes to `seen`.
fn api(registry: Registry, cap: usize, seen: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new()
        .route(
            "/list",
            get(
                move |State(registry): State<Registry>,
                      Query(q): Query<HashMap<String, String>>| {
                    let seen = seen.clone();
                    async move {
                        seen.lock()
                            .unwrap()
                            .push(format!("offset={}&limit={}", q["offset"], q["limit"]));
                        let offset: usize = q["offset"].parse().unwrap();
                        let limit: usize = q["limit"].parse::<usize>().unwrap().min(cap);
                        let records = registry.lock().unwrap();
                        let page: Vec<Value> =
                            records.iter().skip(offset).take(limit).cloned().collect();
                        Json(json!({"code": 0, "data": {"list": page, "total": records.len()}}))
                    }
                },
            ),
        )
        .with_state(registry)
}

fn pagination(limit: u64) -> Value {
    json!({"style": "offset_limit", "page_size": limit})
}

#[tokio::test]
async fn every_record_once_nack_replays_restart_resumes_appends_picked_up_once() {
    for initial in [95, 20] {
        let registry = registry(initial);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let server = govhub_sim::serve(api(registry.clone(), 1000, seen), LOOPBACK)
            .await
            .unwrap();
        let config = config(&server.url("/list"), "/data/list", pagination(10));
        exactly_once("civil", &config, &registry).await;
    }
}

#[tokio::test]
async fn a_partial_page_resumes_at_the_first_undelivered_offset() {
    let registry = registry(14);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = govhub_sim::serve(api(registry.clone(), 1000, seen.clone()), LOOPBACK)
        .await
        .unwrap();
    let config = config(&server.url("/list"), "/data/list", pagination(10));
    let mut source = HttpSource::new("civil", config, None).unwrap();
    assert_eq!(drain(&mut source).await, id_range(0, 14));
    assert_eq!(source.committed_cursor(), &json!({"offset": 14}));
    common::grow(&registry, 16);
    assert_eq!(drain(&mut source).await, id_range(14, 16));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "offset=0&limit=10",
            "offset=10&limit=10",
            // Caught up: the same offset, empty.
            "offset=14&limit=10",
            // Grown: from there, then caught up again.
            "offset=14&limit=10",
            "offset=16&limit=10"
        ]
    );
}

#[tokio::test]
async fn an_api_that_serves_less_than_the_limit_loses_nothing() {
    let registry = registry(23);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = govhub_sim::serve(api(registry.clone(), 7, seen), LOOPBACK)
        .await
        .unwrap();
    let config = config(&server.url("/list"), "/data/list", pagination(10));
    let mut source = HttpSource::new("civil", config, None).unwrap();
    // Each short page ends a poll early; the next one goes on from there.
    let mut all = Vec::new();
    for _ in 0..10 {
        all.extend(drain(&mut source).await);
    }
    assert_eq!(all, id_range(0, 23));
}

#[tokio::test]
async fn more_records_than_asked_for_is_an_error_naming_the_connector() {
    let registry = registry(30);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = govhub_sim::serve(api(registry, 1000, seen), LOOPBACK)
        .await
        .unwrap();
    // The API ignores a limit it does not know under this name.
    let url = server.url("/list");
    let mut config = config(&url, "/data/list", pagination(10));
    config.url = format!("{url}?limit=20");
    config.pagination = serde_json::from_value(
        json!({"style": "offset_limit", "limit_param": "page_size", "page_size": 10}),
    )
    .unwrap();
    let mut source = HttpSource::new("civil", config, None).unwrap();
    let err = source.poll().await.unwrap_err().to_string();
    assert!(err.contains("connector civil"), "{err}");
    assert!(err.contains("20 records for a limit of 10"), "{err}");
}
