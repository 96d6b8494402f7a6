//! The HTTP source against the simulated education registry, over a real socket.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::num::NonZeroU64;

use axum::Json;
use axum::routing::get;
use govhub_connect::pagination::PageNumberConfig;
use govhub_connect::{
    BusinessStatus, ConnectError, HttpSource, HttpSourceConfig, PaginationConfig, ReliabilityConfig,
};
use govhub_core::{Classified, ErrorClass, Source};
use govhub_sim::education::{EducationSim, STUDENTS_PATH};
use serde_json::json;

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

fn config(url: String, page_size: u64) -> HttpSourceConfig {
    HttpSourceConfig {
        department: "education".into(),
        kind: "education.enrollment".into(),
        url,
        records: "/data/list".into(),
        record_id: "/student_id".into(),
        status: Some(BusinessStatus {
            pointer: "/code".into(),
            ok: json!(0),
            message: Some("/msg".into()),
        }),
        pagination: PaginationConfig::PageNumber(PageNumberConfig {
            page_size: NonZeroU64::new(page_size).unwrap(),
            ..PageNumberConfig::default()
        }),
        timeout_secs: NonZeroU64::new(5).unwrap(),
        mapping: Default::default(),
        auth: None,
        follow_redirects: Default::default(),
        explode: None,
        // Fast retries: these tests check outcomes, not back-off timing.
        reliability: ReliabilityConfig {
            max_retries: 2,
            initial_backoff_ms: 1,
            max_backoff_ms: 5,
            ..ReliabilityConfig::default()
        },
    }
}

/// One sync, as the hub runs it: polls and acks until caught up.
async fn drain(source: &mut HttpSource) -> Vec<String> {
    source.begin_sync();
    let mut ids = Vec::new();
    while let Some(batch) = source.poll().await.unwrap() {
        ids.extend(batch.records.iter().map(|r| r.source_record_id.clone()));
        source.ack(&batch).await.unwrap();
    }
    ids
}

#[tokio::test]
async fn pages_through_every_record_once_in_order() {
    let sim = EducationSim {
        seed: 3,
        students: 95,
        invalid_every: 0,
    };
    let server = govhub_sim::serve(sim.router(), LOOPBACK).await.unwrap();
    let mut source = HttpSource::new("edu", config(server.url(STUDENTS_PATH), 10), None).unwrap();

    let ids = drain(&mut source).await;
    let expected: Vec<String> = sim.all().map(|s| s.id).collect();
    assert_eq!(ids, expected);
    assert_eq!(source.committed_cursor(), &json!({"page": 10, "skip": 5}));
    // Caught up: the next sync hands out nothing.
    source.begin_sync();
    assert!(source.poll().await.unwrap().is_none());
}

#[tokio::test]
async fn nack_replays_and_restart_resumes_from_the_committed_cursor() {
    let sim = EducationSim {
        seed: 4,
        students: 30,
        invalid_every: 0,
    };
    let server = govhub_sim::serve(sim.router(), LOOPBACK).await.unwrap();
    let url = server.url(STUDENTS_PATH);

    let mut source = HttpSource::new("edu", config(url.clone(), 10), None).unwrap();
    source.begin_sync();
    let first = source.poll().await.unwrap().unwrap();
    source.ack(&first).await.unwrap();
    let second = source.poll().await.unwrap().unwrap();
    source.nack(&second);
    // The hub ends a sync on a nack: the next one reads the batch again.
    source.begin_sync();
    let again = source.poll().await.unwrap().unwrap();
    let payloads = |b: &govhub_core::Batch| {
        b.records
            .iter()
            .map(|r| r.payload.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(payloads(&again), payloads(&second));
    assert_eq!(again.cursor, second.cursor);
    // Crash before acking `again`: a new process starts after the first batch, from the
    // cursor the hub's state store holds.
    let committed = source.committed_cursor().clone();
    drop(source);
    let mut restarted = HttpSource::new("edu", config(url, 10), Some(committed)).unwrap();
    let ids = drain(&mut restarted).await;
    let expected: Vec<String> = sim.all().skip(10).map(|s| s.id).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn records_appended_to_the_last_page_are_picked_up_once() {
    let small = EducationSim {
        seed: 5,
        students: 14,
        invalid_every: 0,
    };
    let server = govhub_sim::serve(small.router(), LOOPBACK).await.unwrap();
    let mut source = HttpSource::new("edu", config(server.url(STUDENTS_PATH), 10), None).unwrap();
    assert_eq!(drain(&mut source).await.len(), 14);
    let committed = source.committed_cursor().clone();
    server.shutdown().await.unwrap();

    // The registry grows (same seed: the first 14 records are unchanged).
    let grown = EducationSim {
        students: 27,
        ..small
    };
    let server = govhub_sim::serve(grown.router(), LOOPBACK).await.unwrap();
    let mut source = HttpSource::new(
        "edu",
        config(server.url(STUDENTS_PATH), 10),
        Some(committed),
    )
    .unwrap();
    let ids = drain(&mut source).await;
    let expected: Vec<String> = grown.all().skip(14).map(|s| s.id).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn business_errors_and_unreachable_apis_are_classified() {
    let failing = axum::Router::new().route(
        "/list",
        get(|| async { Json(json!({"code": 50012, "msg": "token expired"})) }),
    );
    let server = govhub_sim::serve(failing, LOOPBACK).await.unwrap();
    let mut source = HttpSource::new("edu", config(server.url("/list"), 10), None).unwrap();
    let err = source.poll().await.unwrap_err();
    assert!(matches!(err, ConnectError::Business { .. }), "{err}");
    assert!(err.to_string().contains("connector edu"), "{err}");
    assert!(err.to_string().contains("token expired"), "{err}");
    assert!(!err.retryable());

    let addr = server.addr();
    server.shutdown().await.unwrap();
    let url = format!("http://{addr}/list");
    let mut source = HttpSource::new("edu", config(url, 10), None).unwrap();
    let err = source.poll().await.unwrap_err();
    assert!(matches!(err, ConnectError::Transport { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::External);
    assert!(err.retryable());
}

#[tokio::test]
async fn a_huge_business_error_message_and_code_are_cut_to_300_bytes() {
    // 15 bytes a repeat: 150 000 bytes of message, and a 5 002-byte code (quoted).
    let failing = axum::Router::new().route(
        "/list",
        get(|| async {
            Json(json!({"code": "E".repeat(5000), "msg": "令牌已过期".repeat(10_000)}))
        }),
    );
    let server = govhub_sim::serve(failing, LOOPBACK).await.unwrap();
    let mut source = HttpSource::new("edu", config(server.url("/list"), 10), None).unwrap();
    let err = source.poll().await.unwrap_err();
    let ConnectError::Business { code, message, .. } = &err else {
        panic!("{err}");
    };
    let (shown, rest) = message.split_once('…').unwrap();
    assert!(shown.len() <= 300, "{}", shown.len());
    assert!(shown.starts_with("令牌已过期"), "{shown}");
    assert_eq!(rest, " (150000 bytes in all)");
    let (shown, rest) = code.split_once('…').unwrap();
    assert!(shown.len() <= 300, "{}", shown.len());
    assert_eq!(rest, " (5002 bytes in all)");
    let text = err.to_string();
    assert!(text.contains("connector edu"), "{text}");
    assert!(text.len() < 1000, "{}", text.len());
    assert!(!err.retryable());
}

#[test]
fn a_bad_config_is_refused_with_every_problem() {
    let mut bad = config("ftp://x/".into(), 10);
    bad.record_id = "student_id".into();
    let err = HttpSource::new("edu", bad, None).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("url: must be an http"), "{text}");
    assert!(text.contains("record_id: must be a JSON pointer"), "{text}");
    assert_eq!(err.class(), ErrorClass::User);
}

#[tokio::test]
async fn reset_re_reads_from_the_beginning_even_after_a_restart() {
    let sim = EducationSim {
        seed: 3,
        students: 25,
        invalid_every: 0,
    };
    let server = govhub_sim::serve(sim.router(), LOOPBACK).await.unwrap();
    let settings = config(server.url(STUDENTS_PATH), 10);
    let mut source = HttpSource::new("edu", settings.clone(), None).unwrap();
    let expected: Vec<String> = sim.all().map(|s| s.id).collect();
    assert_eq!(drain(&mut source).await, expected);

    // A batch polled but not acked is abandoned by the reset, like a nack.
    assert_eq!(source.reset(None), json!({"page": 1, "skip": 0}));
    assert_eq!(source.committed_cursor(), &json!({"page": 1, "skip": 0}));
    source.begin_sync();
    let pending = source.poll().await.unwrap().unwrap();
    assert_eq!(pending.records[0].source_record_id, expected[0]);
    source.reset(None);
    assert_eq!(drain(&mut source).await, expected);

    // The reset is kept: a source restarted from the committed cursor (what the hub's
    // state store holds) starts where the reset put it.
    let cursor = source.reset(Some(json!({"page": 3, "skip": 0})));
    assert_eq!(cursor, json!({"page": 3, "skip": 0}));
    assert_eq!(source.committed_cursor(), &cursor);
    let committed = source.committed_cursor().clone();
    let mut restarted = HttpSource::new("edu", settings, Some(committed)).unwrap();
    assert_eq!(drain(&mut restarted).await, expected[20..].to_vec());
}
