//! The per-sync guards against APIs whose pages never end: a cursor that comes back to
//! a page this sync already read (`CursorCycle`), and more pages in one sync than
//! `reliability.max_pages_per_sync` (`PageLimit`). Both stop the sync with an error
//! naming the connector; `begin_sync` lets the next sync start over.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use common::{LOOPBACK, config, drain, id_range, ids, next_sync_is_empty, registry};
use govhub_connect::{ConnectError, HttpSource, HttpSourceConfig};
use govhub_core::{Classified, ErrorClass, Source};
use serde_json::{Value, json};

/// Requests an API answered.
type Hits = Arc<AtomicUsize>;

fn hits(counter: &Hits) -> usize {
    counter.load(Ordering::SeqCst)
}

/// A `cursor_token` API at `/list?cursor=T`: without a token, one record `R-` and the
/// token `A`; with token `A`, record `RA` and the token `B`; with `B`, record `RB` and
/// `b_next` (`"A"`: the pages loop; `null`: the end).
fn token_api(b_next: Value) -> (Router, Hits) {
    let counter = Hits::default();
    let served = counter.clone();
    let router = Router::new().route(
        "/list",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let served = served.clone();
            let b_next = b_next.clone();
            async move {
                served.fetch_add(1, Ordering::SeqCst);
                let token = q.get("cursor").map_or("-", String::as_str);
                let next = match token {
                    "-" => json!("A"),
                    "A" => json!("B"),
                    _ => b_next,
                };
                Json(json!({"data": {"list": [{"id": format!("R{token}")}], "next": next}}))
            }
        }),
    );
    (router, counter)
}

fn token_config(url: &str) -> HttpSourceConfig {
    config(
        url,
        "/data/list",
        json!({"style": "cursor_token", "token_param": "cursor", "next_token": "/data/next"}),
    )
}

/// A `page_number` API at `/endless?page=N&size=S` whose every page is full.
fn endless_api() -> (Router, Hits) {
    let counter = Hits::default();
    let served = counter.clone();
    let router = Router::new().route(
        "/endless",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let served = served.clone();
            async move {
                served.fetch_add(1, Ordering::SeqCst);
                let page: u64 = q["page"].parse().unwrap();
                let size: u64 = q["size"].parse().unwrap();
                let list: Vec<Value> = (0..size)
                    .map(|i| json!({"id": format!("P{page}-{i}")}))
                    .collect();
                Json(json!({"list": list}))
            }
        }),
    );
    (router, counter)
}

/// Polls and acks one batch, its ids.
async fn next_batch(source: &mut HttpSource) -> Vec<String> {
    let batch = source.poll().await.unwrap().unwrap();
    source.ack(&batch).await.unwrap();
    ids(&batch)
}

#[tokio::test]
async fn a_looping_cursor_token_stops_the_sync_and_the_next_sync_starts_again() {
    let (router, served) = token_api(json!("A"));
    let server = govhub_sim::serve(router, LOOPBACK).await.unwrap();
    let mut source = HttpSource::new("loopy", token_config(&server.url("/list")), None).unwrap();

    // Start → A → B, each page handed out once; B leads back to A.
    source.begin_sync();
    assert_eq!(next_batch(&mut source).await, ["R-"]);
    assert_eq!(next_batch(&mut source).await, ["RA"]);
    assert_eq!(next_batch(&mut source).await, ["RB"]);
    let err = source.poll().await.unwrap_err();
    let ConnectError::CursorCycle {
        connector,
        url,
        pages,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(connector, "loopy");
    assert_eq!(*pages, 3);
    assert!(url.ends_with("/list"), "{url}");
    let text = err.to_string();
    assert!(text.starts_with("connector loopy:"), "{text}");
    assert!(text.contains("repeats after 3 pages"), "{text}");
    assert_eq!(err.class(), ErrorClass::External);
    assert!(!err.retryable());
    // Refused before asking for page A again; what was acked stays committed.
    assert_eq!(hits(&served), 3);
    assert_eq!(source.committed_cursor(), &json!({"token": "A", "skip": 0}));
    // Still refused within this sync.
    let again = source.poll().await.unwrap_err();
    assert!(matches!(again, ConnectError::CursorCycle { .. }), "{again}");
    assert_eq!(hits(&served), 3);

    // A new sync starts again from the committed cursor, until the loop closes again.
    source.begin_sync();
    assert_eq!(next_batch(&mut source).await, ["RA"]);
    assert_eq!(next_batch(&mut source).await, ["RB"]);
    assert!(matches!(
        source.poll().await.unwrap_err(),
        ConnectError::CursorCycle { pages: 2, .. }
    ));
    assert_eq!(hits(&served), 5);

    // A backfill to the beginning, then a new sync: the whole walk again.
    source.reset(None);
    source.begin_sync();
    assert_eq!(next_batch(&mut source).await, ["R-"]);
    assert_eq!(next_batch(&mut source).await, ["RA"]);
    assert_eq!(next_batch(&mut source).await, ["RB"]);
    assert!(matches!(
        source.poll().await.unwrap_err(),
        ConnectError::CursorCycle { pages: 3, .. }
    ));
}

#[tokio::test]
async fn endless_pages_stop_at_max_pages_per_sync_and_the_next_sync_goes_on() {
    let (router, served) = endless_api();
    let server = govhub_sim::serve(router, LOOPBACK).await.unwrap();
    let mut settings = config(
        &server.url("/endless"),
        "/list",
        json!({"style": "page_number", "page_size": 3}),
    );
    settings.reliability.max_pages_per_sync = 5;
    let mut source = HttpSource::new("endless", settings, None).unwrap();

    source.begin_sync();
    for page in 1..=5 {
        let expected: Vec<String> = (0..3).map(|i| format!("P{page}-{i}")).collect();
        assert_eq!(next_batch(&mut source).await, expected);
    }
    let err = source.poll().await.unwrap_err();
    let ConnectError::PageLimit {
        connector, limit, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((connector.as_str(), *limit), ("endless", 5));
    let text = err.to_string();
    assert!(text.starts_with("connector endless:"), "{text}");
    assert!(text.contains("reliability.max_pages_per_sync"), "{text}");
    assert_eq!(err.class(), ErrorClass::External);
    assert!(!err.retryable());
    // The sixth page was never asked for; the fifth is committed.
    assert_eq!(hits(&served), 5);
    assert_eq!(source.committed_cursor(), &json!({"page": 6, "skip": 0}));

    // The next sync goes on from the committed page, for another five pages.
    source.begin_sync();
    for page in 6..=10 {
        assert_eq!(next_batch(&mut source).await[0], format!("P{page}-0"));
    }
    assert!(matches!(
        source.poll().await.unwrap_err(),
        ConnectError::PageLimit { limit: 5, .. }
    ));
    assert_eq!(hits(&served), 10);
}

#[tokio::test]
async fn a_page_whose_records_were_all_delivered_counts_towards_the_limit() {
    let (router, served) = token_api(Value::Null);
    let server = govhub_sim::serve(router, LOOPBACK).await.unwrap();
    // Resuming after page A's only record: one poll reads A (nothing new) and then B.
    let resume = json!({"token": "A", "skip": 1});
    let mut settings = token_config(&server.url("/list"));
    settings.reliability.max_pages_per_sync = 1;
    let mut source = HttpSource::new("civil", settings.clone(), Some(resume.clone())).unwrap();
    source.begin_sync();
    assert!(matches!(
        source.poll().await.unwrap_err(),
        ConnectError::PageLimit { limit: 1, .. }
    ));
    assert_eq!(hits(&served), 1);

    settings.reliability.max_pages_per_sync = 2;
    let mut source = HttpSource::new("civil", settings, Some(resume)).unwrap();
    source.begin_sync();
    assert_eq!(next_batch(&mut source).await, ["RB"]);
    assert_eq!(hits(&served), 3);
}

#[tokio::test]
async fn a_normal_api_read_to_its_end_in_one_sync_trips_neither_guard() {
    // Tokens that end: start → A → B → the end.
    let (router, _) = token_api(Value::Null);
    let server = govhub_sim::serve(router, LOOPBACK).await.unwrap();
    let mut source = HttpSource::new("civil", token_config(&server.url("/list")), None).unwrap();
    assert_eq!(drain(&mut source).await, ["R-", "RA", "RB"]);
    assert!(next_sync_is_empty(&mut source).await);

    // Nine pages of ten, a last page of five, then the read that finds nothing new: 11
    // pages in one sync, exactly the limit.
    let records = registry(95);
    let api = Router::new()
        .route(
            "/cases",
            get(
                |State(records): State<common::Registry>,
                 Query(q): Query<HashMap<String, String>>| async move {
                    let page: usize = q["page"].parse().unwrap();
                    let size: usize = q["size"].parse().unwrap();
                    let list: Vec<Value> = records
                        .lock()
                        .unwrap()
                        .iter()
                        .skip((page - 1) * size)
                        .take(size)
                        .cloned()
                        .collect();
                    Json(json!({"data": {"list": list}}))
                },
            ),
        )
        .with_state(records.clone());
    let server = govhub_sim::serve(api, LOOPBACK).await.unwrap();
    let mut settings = config(
        &server.url("/cases"),
        "/data/list",
        json!({"style": "page_number", "page_size": 10}),
    );
    settings.reliability.max_pages_per_sync = 11;
    let mut source = HttpSource::new("civil", settings.clone(), None).unwrap();
    assert_eq!(drain(&mut source).await, id_range(0, 95));
    assert_eq!(source.committed_cursor(), &json!({"page": 10, "skip": 5}));
    // Each later sync reads on from there, within its own count.
    common::grow(&records, 102);
    assert_eq!(drain(&mut source).await, id_range(95, 102));
    assert!(next_sync_is_empty(&mut source).await);

    // One page fewer and the same walk stops on its last, empty read: nothing lost,
    // and the next sync finds nothing more.
    records.lock().unwrap().truncate(95);
    settings.reliability.max_pages_per_sync = 10;
    let mut source = HttpSource::new("civil", settings, None).unwrap();
    source.begin_sync();
    let mut delivered = Vec::new();
    let err = loop {
        match source.poll().await {
            Ok(Some(batch)) => {
                delivered.extend(ids(&batch));
                source.ack(&batch).await.unwrap();
            }
            Ok(None) => panic!("caught up within 10 pages"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, ConnectError::PageLimit { limit: 10, .. }),
        "{err}"
    );
    assert_eq!(delivered, id_range(0, 95));
    assert!(next_sync_is_empty(&mut source).await);
}

#[test]
fn a_page_limit_of_zero_is_refused() {
    let mut settings = config(
        "http://127.0.0.1:9/list",
        "/data/list",
        json!({"style": "page_number"}),
    );
    settings.reliability.max_pages_per_sync = 0;
    let err = HttpSource::new("civil", settings, None).unwrap_err();
    assert!(matches!(err, ConnectError::Config { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("max_pages_per_sync: must be greater than 0"),
        "{err}"
    );
}
