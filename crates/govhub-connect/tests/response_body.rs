//! Response bodies: gzip-compressed pages are decoded; bodies over the size cap are
//! refused without being read whole.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use govhub_connect::{ConnectError, HttpSource, HttpSourceConfig};
use govhub_core::{Classified, Source};
use serde_json::json;

fn config(url: &str, max_response_bytes: u64) -> HttpSourceConfig {
    toml::from_str(&format!(
        r#"
department = "education"
kind = "education.enrollment"
url = "{url}"
records = "/list"
record_id = "/id"
pagination = {{ style = "page_number", page_size = 10 }}
reliability = {{ max_retries = 0, max_response_bytes = {max_response_bytes} }}
"#
    ))
    .unwrap()
}

fn page() -> Vec<u8> {
    let list: Vec<_> = (0..3)
        .map(|i| json!({"id": format!("R{i}"), "note": "x".repeat(2000)}))
        .collect();
    serde_json::to_vec(&json!({ "list": list })).unwrap()
}

async fn server() -> govhub_sim::RunningSim {
    let gzipped = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&page()).unwrap();
        encoder.finish().unwrap()
    };
    let router = Router::new()
        .route(
            "/gzip",
            get(move || {
                let body = gzipped.clone();
                async move {
                    (
                        [
                            (header::CONTENT_ENCODING, "gzip"),
                            (header::CONTENT_TYPE, "application/json"),
                        ],
                        body,
                    )
                }
            }),
        )
        .route(
            "/plain",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], page()) }),
        );
    govhub_sim::serve(router, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

#[tokio::test]
async fn gzip_pages_are_decoded() {
    let server = server().await;
    let mut source = HttpSource::new("edu", config(&server.url("/gzip"), 1 << 20), None).unwrap();
    let batch = source.poll().await.unwrap().unwrap();
    let ids: Vec<_> = batch
        .records
        .iter()
        .map(|r| r.source_record_id.as_str())
        .collect();
    assert_eq!(ids, ["R0", "R1", "R2"]);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let server = server().await;
    // The compressed body is small; the cap applies to what it decodes to.
    for path in ["/plain", "/gzip"] {
        let mut source = HttpSource::new("edu", config(&server.url(path), 1000), None).unwrap();
        let err = source.poll().await.unwrap_err();
        assert!(
            matches!(err, ConnectError::TooLarge { limit: 1000, .. }),
            "{path}: {err}"
        );
        assert!(!err.retryable());
    }
}
