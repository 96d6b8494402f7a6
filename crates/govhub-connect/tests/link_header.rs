//! `link_header` pagination against an in-test API that serves offset/limit pages with
//! `Link` headers, as the civil affairs case system does.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::header::LINK;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use common::{LOOPBACK, Registry, config, drain, exactly_once, id_range, registry};
use govhub_connect::{ConnectError, HttpSource};
use govhub_core::Source;
use serde_json::{Value, json};

/// How the API writes its `Link` headers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Links {
    /// Well-formed: relative targets, quoted and bare rels, several links and headers.
    Good,
    /// A next link with no closing `>`.
    Unterminated,
    /// A next link to another host.
    Foreign,
}

#[derive(Debug, Clone)]
struct Api {
    registry: Registry,
    links: Arc<Mutex<Links>>,
}

async fn cases(
    State(api): State<Api>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let offset: usize = q.get("offset").map_or(0, |o| o.parse().unwrap());
    let limit: usize = q["limit"].parse().unwrap();
    let records = api.registry.lock().unwrap();
    let page: Vec<Value> = records.iter().skip(offset).take(limit).cloned().collect();
    let next = offset + limit;
    let mut headers = vec![(
        LINK,
        format!(
            r#"</v1/cases?offset=0&limit={limit}>; rel="first", </v1/cases?offset={}&limit={limit}>;rel=prev"#,
            offset.saturating_sub(limit)
        ),
    )];
    // Like most offset APIs: a next link only while records lie beyond this page.
    if next < records.len() {
        let link = match *api.links.lock().unwrap() {
            Links::Good => {
                format!(r#"<?offset={next}&limit={limit}>; title="next, page"; rel="next last""#)
            }
            Links::Unterminated => format!(r#"<?offset={next}&limit={limit}; rel="next""#),
            Links::Foreign => {
                format!(r#"<http://elsewhere.test/v1/cases?offset={next}>; rel="next""#)
            }
        };
        headers.push((LINK, link));
    }
    let headers: axum::http::HeaderMap = headers
        .into_iter()
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    (headers, Json(json!({"data": page})))
}

fn api(registry: Registry, links: Links) -> (Router, Arc<Mutex<Links>>) {
    let links = Arc::new(Mutex::new(links));
    let router = Router::new()
        .route("/v1/cases", get(cases))
        .with_state(Api {
            registry,
            links: links.clone(),
        });
    (router, links)
}

fn pagination() -> Value {
    json!({"style": "link_header", "first_query": {"limit": 10}})
}

#[tokio::test]
async fn every_record_once_nack_replays_restart_resumes_appends_picked_up_once() {
    // 95: a partial last page; 20: a full last page with no next link.
    for initial in [95, 20] {
        let registry = registry(initial);
        let (router, _) = api(registry.clone(), Links::Good);
        let server = govhub_sim::serve(router, LOOPBACK).await.unwrap();
        let config = config(&server.url("/v1/cases"), "/data", pagination());
        exactly_once("civil", &config, &registry).await;
    }
}

#[tokio::test]
async fn the_cursor_is_the_last_page_url_with_a_skip_count() {
    let registry = registry(25);
    let (router, _) = api(registry.clone(), Links::Good);
    let server = govhub_sim::serve(router, LOOPBACK).await.unwrap();
    let config = config(&server.url("/v1/cases"), "/data", pagination());
    let mut source = HttpSource::new("civil", config, None).unwrap();
    assert_eq!(drain(&mut source).await, id_range(0, 25));
    assert_eq!(
        source.committed_cursor(),
        &json!({"url": server.url("/v1/cases?offset=20&limit=10"), "skip": 5})
    );
}

#[tokio::test]
async fn a_malformed_link_header_is_a_clear_error_and_nothing_is_handed_out() {
    let registry = registry(25);
    let (router, links) = api(registry.clone(), Links::Unterminated);
    let server = govhub_sim::serve(router, LOOPBACK).await.unwrap();
    let config = config(&server.url("/v1/cases"), "/data", pagination());
    let mut source = HttpSource::new("civil", config, None).unwrap();
    let err = source.poll().await.unwrap_err();
    assert!(matches!(err, ConnectError::Envelope { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("connector civil"), "{text}");
    assert!(
        text.contains("malformed Link header: link target has no closing '>'"),
        "{text}"
    );
    assert!(
        !text.contains("limit="),
        "the query stays out of errors: {text}"
    );

    // Once the API is fixed, the next sync goes on from the start.
    *links.lock().unwrap() = Links::Good;
    assert_eq!(drain(&mut source).await, id_range(0, 25));
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_before_it_is_staged() {
    let registry = registry(25);
    let (router, _) = api(registry.clone(), Links::Foreign);
    let server = govhub_sim::serve(router, LOOPBACK).await.unwrap();
    let config = config(&server.url("/v1/cases"), "/data", pagination());
    let mut source = HttpSource::new("civil", config, None).unwrap();
    let err = source.poll().await.unwrap_err().to_string();
    assert!(err.contains("connector civil"), "{err}");
    assert!(
        err.contains("another origin (http://elsewhere.test)"),
        "{err}"
    );
    assert_eq!(source.committed_cursor(), &json!({"url": null, "skip": 0}));
}
