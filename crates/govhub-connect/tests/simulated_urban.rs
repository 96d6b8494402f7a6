//! The HTTP source against the simulated urban-management feed over a real socket:
//! API-key auth, `updated_since` with `after_id`, and injected faults (429 with
//! `Retry-After`, 5xx, truncated bodies) that retries must absorb without losing or
//! repeating a case.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use govhub_connect::{ConnectError, HttpSource, HttpSourceConfig};
use govhub_core::{Classified, ErrorClass, Source};
use govhub_sim::Feed;
use govhub_sim::faults::Faults;
use govhub_sim::population::Population;
use govhub_sim::urban::{CASES_PATH, UrbanSim};

fn config(url: &str, key: &str) -> HttpSourceConfig {
    let text = format!(
        r#"
department = "urban-management"
kind = "urban-management.grid-case"
url = "{url}"
records = "/data/cases"
record_id = "/case_id"
status = {{ pointer = "/errcode", ok = 0, message = "/errmsg" }}
pagination = {{ style = "updated_since", param = "updated_since", timestamp_field = "/updated_at", id_field = "/case_id", id_param = "after_id", size_param = "page_size", page_size = 50 }}
auth = {{ style = "api_key", name = "X-API-Key", value = "{key}" }}
reliability = {{ max_retries = 4, initial_backoff_ms = 1, max_backoff_ms = 5 }}
"#
    );
    toml::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_arrives_once_despite_faults() {
    let mut sim = UrbanSim::new(Population::new(21, 3000));
    sim.faults = Faults {
        server_error_rate: 0.15,
        rate_limit_rate: 0.15,
        retry_after_secs: 0,
        malformed_rate: 0.1,
        ..Faults::default()
    };
    let key = sim.credentials.key.clone();
    let expected: Vec<String> = sim.records(0).map(|r| r.id).collect();
    assert!(expected.len() > 100, "{} cases", expected.len());
    let server = govhub_sim::serve(sim.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let mut source = HttpSource::new("urban", config(&server.url(CASES_PATH), &key), None).unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(batch) = source.poll().await.unwrap() {
        for r in &batch.records {
            *seen.entry(r.source_record_id.clone()).or_default() += 1;
        }
        source.ack(&batch).await.unwrap();
    }
    assert!(seen.values().all(|n| *n == 1), "a case arrived twice");

    // The faults were real: without retries, the same walk fails.
    let mut no_retries = config(&server.url(CASES_PATH), &key);
    no_retries.reliability.max_retries = 0;
    let mut fragile = HttpSource::new("urban", no_retries, None).unwrap();
    let mut failed = false;
    for _ in 0..1000 {
        match fragile.poll().await {
            Ok(Some(batch)) => fragile.ack(&batch).await.unwrap(),
            Ok(None) => break,
            Err(e) => {
                assert!(e.retryable(), "{e}");
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "no fault was injected");
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(seen.into_keys().collect::<Vec<_>>(), expected_sorted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_is_a_clear_error_naming_the_connector() {
    let sim = UrbanSim::new(Population::new(21, 500));
    let server = govhub_sim::serve(sim.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let mut source = HttpSource::new(
        "urban",
        config(&server.url(CASES_PATH), "not-the-key"),
        None,
    )
    .unwrap();
    let err = source.poll().await.unwrap_err();
    assert!(
        matches!(err, ConnectError::Status { status: 401, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.starts_with("connector urban:"), "{text}");
    assert!(text.contains("credentials refused"), "{text}");
    assert!(!text.contains("not-the-key"), "{text}");
    assert_eq!(err.class(), ErrorClass::User);
    assert!(!err.retryable());
}
