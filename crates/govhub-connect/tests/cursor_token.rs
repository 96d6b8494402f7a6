//! `cursor_token` pagination against an in-test API that hands out opaque tokens.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use common::{LOOPBACK, Registry, config, drain, exactly_once, id_range, registry};
use govhub_connect::{ConnectError, HttpSource};
use govhub_core::Source;
use serde_json::{Value, json};

/// What the API says after its last record.
#[derive(Debug, Clone, Copy)]
enum End {
    /// `"next_cursor": null`.
    Null,
    /// No `next_cursor` at all.
    Omitted,
    /// A token for the position after the last record, on every page: the page it
    /// leads to is empty and hands back the same token.
    Always,
}

fn token(position: usize) -> String {
    // Opaque to the client: nothing in it looks like a page number.
    format!("c{:x}", position * 7919)
}

fn position(token: &str) -> usize {
    usize::from_str_radix(&token[1..], 16).unwrap() / 7919
}

fn api(registry: Registry, end: End) -> Router {
    Router::new()
        .route(
            "/list",
            get(
                move |State(registry): State<Registry>,
                      Query(q): Query<HashMap<String, String>>| async move {
                    let from = q.get("cursor").map_or(0, |t| position(t));
                    let size: usize = q["size"].parse().unwrap();
                    let records = registry.lock().unwrap();
                    let page: Vec<Value> = records.iter().skip(from).take(size).cloned().collect();
                    let to = from + page.len();
                    let mut data = json!({"list": page});
                    match end {
                        _ if to < records.len() => data["next_cursor"] = json!(token(to)),
                        End::Always => data["next_cursor"] = json!(token(to)),
                        End::Null => data["next_cursor"] = Value::Null,
                        End::Omitted => {}
                    }
                    Json(json!({"code": 0, "data": data}))
                },
            ),
        )
        .with_state(registry)
}

fn pagination(next_token: &str) -> Value {
    json!({
        "style": "cursor_token",
        "token_param": "cursor",
        "next_token": next_token,
        "size_param": "size",
        "page_size": 10,
    })
}

#[tokio::test]
async fn every_record_once_nack_replays_restart_resumes_appends_picked_up_once() {
    for end in [End::Null, End::Omitted, End::Always] {
        for initial in [95, 20] {
            let registry = registry(initial);
            let server = govhub_sim::serve(api(registry.clone(), end), LOOPBACK)
                .await
                .unwrap();
            let config = config(
                &server.url("/list"),
                "/data/list",
                pagination("/data/next_cursor"),
            );
            exactly_once("civil", &config, &registry).await;
        }
    }
}

#[tokio::test]
async fn caught_up_keeps_the_last_token_used_with_a_skip_count() {
    let registry = registry(25);
    let server = govhub_sim::serve(api(registry.clone(), End::Null), LOOPBACK)
        .await
        .unwrap();
    let config = config(
        &server.url("/list"),
        "/data/list",
        pagination("/data/next_cursor"),
    );
    let mut source = HttpSource::new("civil", config, None).unwrap();
    assert_eq!(drain(&mut source).await, id_range(0, 25));
    assert_eq!(
        source.committed_cursor(),
        &json!({"token": token(20), "skip": 5})
    );
}

#[tokio::test]
async fn a_token_pointer_that_does_not_match_the_response_is_a_clear_error() {
    let registry = registry(25);
    let server = govhub_sim::serve(api(registry.clone(), End::Null), LOOPBACK)
        .await
        .unwrap();
    let config = config(
        &server.url("/list"),
        "/data/list",
        pagination("/page/next_cursor"),
    );
    let mut source = HttpSource::new("civil", config, None).unwrap();
    let err = source.poll().await.unwrap_err();
    assert!(matches!(err, ConnectError::Envelope { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("connector civil"), "{text}");
    assert!(
        text.contains("no object at \"/page\" to hold next_token \"/page/next_cursor\""),
        "{text}"
    );

    // A token that is not a scalar.
    let config = common::config(&server.url("/list"), "/data/list", pagination("/data"));
    let mut source = HttpSource::new("civil", config, None).unwrap();
    let text = source.poll().await.unwrap_err().to_string();
    assert!(
        text.contains("next_token \"/data\" is not a string or number"),
        "{text}"
    );
}
