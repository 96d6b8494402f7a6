//! The admin server: every endpoint in-process (`app` + `oneshot`) and over a real
//! socket, pause / resume / backfill against a real hub syncing the simulated student
//! registry, the token rule, and `/metrics` checked by Prometheus' own `promtool`.
//!
//! Each test names its connector differently: the metrics recorder is per process.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use govhub::admin::{self, AdminState, ServeError, Token};
use govhub::config::HubConfig;
use govhub::demo::EXAMPLE_CONFIG;
use govhub::hub::Hub;
use govhub::status::IdentityStats;
use govhub_schema::Standard;
use govhub_sim::RunningSim;
use govhub_sim::education::{EducationSim, STUDENTS_PATH};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const SIM: EducationSim = EducationSim {
    seed: 11,
    students: 150,
    invalid_every: 30,
};
/// Valid students of [`SIM`]: every 30th is invalid.
const VALID: u64 = 145;

async fn simulator(router: axum::Router) -> RunningSim {
    govhub_sim::serve(router, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

/// The example config with only the education connector, renamed `name`, pointed at
/// `url`, into the embedded log under `dir`, polling once an hour.
fn config(dir: &std::path::Path, name: &str, url: &str) -> HubConfig {
    let mut config = HubConfig::parse(EXAMPLE_CONFIG, "example").unwrap();
    config.kafka = None;
    config.data_dir = dir.to_owned();
    config.poll_interval_secs = 3600.try_into().unwrap();
    let mut education = config.connectors.remove("education").unwrap();
    education.url = url.to_owned();
    education.reliability.initial_backoff_ms = 1;
    education.reliability.max_backoff_ms = 1;
    config.connectors = BTreeMap::from([(name.to_owned(), education)]);
    config
}

async fn hub(config: &HubConfig) -> Hub {
    Hub::build(config, Arc::new(Standard::embedded().unwrap()))
        .await
        .unwrap()
}

/// Calls `app` in-process: status and JSON body (`Value::String` when not JSON).
async fn call(app: &axum::Router, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_in_process() {
    let sim = simulator(SIM.router()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_api", &sim.url(STUDENTS_PATH));
    let mut hub = hub(&config).await;
    let app = admin::app(AdminState::new(hub.status()).with_dlq(config.clone()));

    // Before the first sync: known, idle, nothing counted.
    let (status, body) = call(&app, "GET", "/api/connectors/edu_api", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "idle");
    assert_eq!(body["last_success"], Value::Null);
    assert_eq!(body["lag_seconds"], Value::Null);

    let mut counts = BTreeMap::new();
    let stop = CancellationToken::new();
    hub.sync_all(&mut counts, &stop).await.unwrap();

    assert_eq!(
        call(&app, "GET", "/healthz", "").await,
        (StatusCode::OK, Value::String("ok".into()))
    );
    let (status, body) = call(&app, "GET", "/readyz", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"ready": true, "reasons": []}));

    let (status, body) = call(&app, "GET", "/api/connectors", "").await;
    assert_eq!(status, StatusCode::OK);
    // Every published enrollment is one pupil: resolved into as many residents.
    let identity = hub.identity_stats();
    assert_eq!(identity.records, counts["edu_api"].published);
    assert_eq!(body["identity"]["residents"], identity.residents);
    assert_eq!(body["identity"]["records"], identity.records);
    let connectors = body["connectors"].as_array().unwrap();
    assert_eq!(connectors.len(), 1);
    let c = &connectors[0];
    assert_eq!(c["name"], "edu_api");
    assert_eq!(c["department"], "education");
    assert_eq!(c["kind"], "education.enrollment");
    assert_eq!(c["state"], "idle");
    assert_eq!(
        c["counts"],
        json!({"pulled": 150, "published": VALID, "rejected": 150 - VALID,
               "duplicates": 0, "batches": 2})
    );
    assert_eq!(c["cursor"], json!({"page": 2, "skip": 50}));
    assert!(c["last_success"].as_str().unwrap().ends_with('Z'));
    assert_eq!(c["last_error"], Value::Null);
    assert!(c["lag_seconds"].as_f64().unwrap() >= 0.0);
    let reasons = c["top_reasons"].as_array().unwrap();
    assert!(!reasons.is_empty() && reasons.len() <= 5, "{reasons:?}");
    assert!(reasons[0][0].as_str().unwrap().starts_with("validate: "));
    let throughput = c["throughput"].as_array().unwrap();
    assert_eq!(throughput.len(), 60);
    let written: u64 = throughput
        .iter()
        .map(|b| b["records"].as_u64().unwrap())
        .sum();
    assert_eq!(written, 150);

    // Errors are JSON with the right status.
    let (status, body) = call(&app, "GET", "/api/connectors/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "no connector \"nope\""}));
    let (status, body) = call(&app, "POST", "/api/connectors/nope/pause", "").await;
    assert_eq!(
        (status, body["error"].is_string()),
        (StatusCode::NOT_FOUND, true)
    );
    let (status, body) = call(&app, "GET", "/no/such/route", "").await;
    assert_eq!(
        (status, body["error"].is_string()),
        (StatusCode::NOT_FOUND, true)
    );
    let (status, body) = call(&app, "POST", "/api/connectors/edu_api/backfill", "{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let bad_field = r#"{"sinse": "2026-01-01T00:00:00Z"}"#;
    let (status, _) = call(&app, "POST", "/api/connectors/edu_api/backfill", bad_field).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Page-number pagination has no timestamps to go back to.
    let since = r#"{"since": "2026-01-01T00:00:00Z"}"#;
    let (status, body) = call(&app, "POST", "/api/connectors/edu_api/backfill", since).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("updated_since"),
        "{body}"
    );

    // Dead letters, newest first, payloads only when asked for.
    let (status, body) = call(&app, "GET", "/api/dlq?limit=3", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 150 - VALID);
    let letters = body["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 3);
    assert!(letters.iter().all(|l| l.get("payload").is_none()));
    assert_eq!(letters[0]["connector"], "edu_api");
    assert_eq!(letters[0]["stage"], "validate");
    assert!(letters[0]["offset"].as_u64() > letters[2]["offset"].as_u64());
    let (_, body) = call(&app, "GET", "/api/dlq?limit=1&payload=true", "").await;
    assert!(body["dead_letters"][0]["payload"]["student_id"].is_string());
    for query in ["limit=0", "limit=abc", "limit=1001"] {
        let (status, _) = call(&app, "GET", &format!("/api/dlq?{query}"), "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }

    // The dashboard and its assets.
    for (path, needle) in [("/", "<html"), ("/dashboard.js", "/api/connectors")] {
        let (status, body) = call(&app, "GET", path, "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.as_str().unwrap().contains(needle), "{path}");
    }
    assert_eq!(
        call(&app, "GET", "/dashboard.css", "").await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_connector_is_skipped_and_a_backfill_waits_for_resume() {
    let sim = simulator(SIM.router()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_pause", &sim.url(STUDENTS_PATH));
    let mut hub = hub(&config).await;
    let app = admin::app(AdminState::new(hub.status()));
    let stop = CancellationToken::new();
    let mut first = BTreeMap::new();
    hub.sync_all(&mut first, &stop).await.unwrap();
    assert_eq!(first["edu_pause"].pulled, 150);

    let (status, body) = call(&app, "POST", "/api/connectors/edu_pause/pause", "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["state"], "paused");
    // A backfill asked for while paused is applied when the connector runs again.
    let (status, body) = call(&app, "POST", "/api/connectors/edu_pause/backfill", "").await;
    assert_eq!(
        (status, &body["state"]),
        (StatusCode::ACCEPTED, &json!("paused"))
    );

    let mut paused = BTreeMap::new();
    hub.sync_all(&mut paused, &stop).await.unwrap();
    assert!(!paused.contains_key("edu_pause"), "skipped: {paused:?}");
    let (_, body) = call(&app, "GET", "/api/connectors/edu_pause", "").await;
    assert_eq!(body["state"], "paused");
    assert_eq!(body["counts"]["pulled"], 150);
    assert_eq!(
        body["cursor"],
        json!({"page": 2, "skip": 50}),
        "not reset yet"
    );

    let (status, body) = call(&app, "POST", "/api/connectors/edu_pause/resume", "").await;
    assert_eq!(
        (status, &body["state"]),
        (StatusCode::ACCEPTED, &json!("idle"))
    );
    let mut resumed = BTreeMap::new();
    hub.sync_all(&mut resumed, &stop).await.unwrap();
    // Re-read from the beginning; unchanged records are exact duplicates.
    let again = &resumed["edu_pause"];
    assert_eq!(
        (again.pulled, again.duplicates, again.published),
        (150, 150, 0)
    );
    let (_, body) = call(&app, "GET", "/api/connectors/edu_pause", "").await;
    assert_eq!(body["counts"]["pulled"], 300);
    assert_eq!(body["counts"]["duplicates"], 150);
}

/// Polls `url` until `done` accepts its JSON, for at most a minute.
async fn wait_for(client: &reqwest::Client, url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out; last answer: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_socket_backfill_and_resume_wake_the_running_hub() {
    let sim = simulator(SIM.router()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_live", &sim.url(STUDENTS_PATH));
    let mut hub = hub(&config).await;
    let status = hub.status();
    let stop = CancellationToken::new();
    let server = admin::serve(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        AdminState::new(status.clone()),
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    let run = tokio::spawn({
        let stop = stop.clone();
        async move { hub.run(&stop).await }
    });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let connector = format!("{base}/api/connectors/edu_live");
    let pulled = |n: u64| move |c: &Value| c["counts"]["pulled"] == n && c["state"] == "idle";
    wait_for(&client, &connector, pulled(150)).await;

    // The poll interval is an hour: only the API's wake-up makes the hub re-read.
    let post = |action: &str, body: &'static str| {
        client
            .post(format!("{connector}/{action}"))
            .body(body)
            .send()
    };
    let response = post("backfill", "").await.unwrap();
    assert_eq!(response.status(), 202);
    let c = wait_for(&client, &connector, pulled(300)).await;
    assert_eq!(c["counts"]["duplicates"], 150);
    assert_eq!(c["counts"]["published"], VALID);

    let response = post("backfill", r#"{"republish": true}"#).await.unwrap();
    assert_eq!(response.status(), 202);
    let c = wait_for(&client, &connector, pulled(450)).await;
    assert_eq!(
        c["counts"]["published"],
        2 * VALID,
        "unchanged records out again"
    );
    assert_eq!(c["counts"]["duplicates"], 150);

    let response = post("pause", "").await.unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "paused");
    let response = post("resume", "").await.unwrap();
    assert_eq!(response.status(), 202);
    wait_for(&client, &connector, |c| c["state"] == "idle").await;

    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("govhub_records_pulled_total{connector=\"edu_live\"} 450"),
        "{text}"
    );

    stop.cancel();
    run.await.unwrap().unwrap();
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_every_route_but_the_probes_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_auth", "http://127.0.0.1:9/none");
    let hub = hub(&config).await;
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let state = AdminState::new(hub.status());

    let refused = admin::serve(any, state.clone(), std::future::pending()).await;
    let err = refused.unwrap_err();
    assert!(matches!(err, ServeError::TokenRequired(_)));
    assert!(err.to_string().contains("GOVHUB_ADMIN_TOKEN"), "{err}");

    let stop = CancellationToken::new();
    let token = Token::configured(Some("test-token-1")).unwrap();
    let server = admin::serve(
        any,
        state.clone().with_token(Some(token)),
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    // The rule is about the bind address; the test talks to it over loopback.
    let base = format!("http://127.0.0.1:{}", server.local_addr().port());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str, token: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for path in [
        "/api/connectors",
        "/api/connectors/edu_auth",
        "/metrics",
        "/api/dlq",
    ] {
        for token in [None, Some("wrong-token")] {
            let response = get(path, token).await.unwrap();
            assert_eq!(response.status(), 401, "{path} {token:?}");
            assert!(response.headers().contains_key("www-authenticate"));
            let body: Value = response.json().await.unwrap();
            assert!(body["error"].is_string(), "{body}");
        }
    }
    let response = client
        .post(format!("{base}/api/connectors/edu_auth/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(!hub.status().is_paused("edu_auth"));

    let ok = get("/api/connectors", Some("test-token-1")).await.unwrap();
    assert_eq!(ok.status(), 200);
    let scheme = client
        .get(format!("{base}/api/connectors"))
        .header("authorization", "bearer test-token-1")
        .send()
        .await
        .unwrap();
    assert_eq!(scheme.status(), 200, "the scheme is case-insensitive");
    assert_eq!(get("/healthz", None).await.unwrap().status(), 200);
    assert_eq!(get("/readyz", None).await.unwrap().status(), 200);
    // The dashboard's files hold no data; the page asks for the token itself.
    assert_eq!(get("/", None).await.unwrap().status(), 200);
    stop.cancel();
    server.stopped().await.unwrap();

    // On loopback the API is open.
    let stop = CancellationToken::new();
    let local = admin::serve(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        state.with_token(Token::configured(Some("unused"))),
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let url = format!("http://{}/api/connectors", local.local_addr());
    assert_eq!(client.get(url).send().await.unwrap().status(), 200);
    stop.cancel();
    local.stopped().await.unwrap();
}

/// The student registry, answering its first request with 503.
fn flaky_registry() -> axum::Router {
    let failed = Arc::new(AtomicBool::new(false));
    SIM.router().layer(axum::middleware::from_fn(
        move |request, next: axum::middleware::Next| {
            let first = !failed.swap(true, Ordering::SeqCst);
            async move {
                if first {
                    axum::response::IntoResponse::into_response(StatusCode::SERVICE_UNAVAILABLE)
                } else {
                    next.run(request).await
                }
            }
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_prometheus_text_with_every_series() {
    let promtool = which("promtool").unwrap_or_else(|| {
        panic!(
            "promtool is not installed; it validates /metrics. Install it with \
             `apt-get install prometheus` (Debian's package provides /usr/bin/promtool)"
        )
    });
    let sim = simulator(flaky_registry()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), "edu_metrics", &sim.url(STUDENTS_PATH));
    // A second connector whose API is not there at all: no response, one failed sync.
    let closed = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let closed_url = format!("http://{}/none", closed.local_addr().unwrap());
    drop(closed);
    let mut gone = config.connectors["edu_metrics"].clone();
    gone.url = closed_url;
    gone.reliability.max_retries = 0;
    config.connectors.insert("edu_gone".into(), gone);
    let mut hub = hub(&config).await;
    let status = hub.status();
    let app = admin::app(AdminState::new(status.clone()));
    let mut counts = BTreeMap::new();
    let (name, _) = hub
        .sync_all(&mut counts, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(name, "edu_gone");
    status.set_identity(IdentityStats {
        residents: 120,
        records: 150,
        links: 150,
        merges: 3,
        splits: 1,
        comparisons: 40,
    });

    let (code, body) = call(&app, "GET", "/metrics", "").await;
    assert_eq!(code, StatusCode::OK);
    let text = body.as_str().unwrap().to_owned();
    let expect = |line: &str| assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    let edu = r#"connector="edu_metrics""#;
    expect(&format!("govhub_records_pulled_total{{{edu}}} 150"));
    expect(&format!("govhub_records_published_total{{{edu}}} {VALID}"));
    expect(&format!("govhub_duplicates_dropped_total{{{edu}}} 0"));
    expect(&format!(
        r#"govhub_http_requests_total{{{edu},status="503"}} 1"#
    ));
    // Page 1 after its 503, page 2 (half full), and page 2 again finding nothing new.
    expect(&format!(
        r#"govhub_http_requests_total{{{edu},status="200"}} 3"#
    ));
    expect(&format!("govhub_http_retries_total{{{edu}}} 1"));
    expect(r#"govhub_http_requests_total{connector="edu_gone",status="error"} 1"#);
    expect(r#"govhub_connector_errors_total{connector="edu_gone",stage="source"} 1"#);
    expect(&format!("govhub_connector_paused{{{edu}}} 0"));
    expect(&format!("govhub_connector_circuit_open{{{edu}}} 0"));
    expect(&format!("govhub_record_latency_seconds_count{{{edu}}} 150"));
    expect(&format!("govhub_fetch_duration_seconds_count{{{edu}}} 3"));
    expect("govhub_kafka_queue_depth 0");
    // Identity counters are process-wide and the hubs of other tests in this process
    // add to them too: at least what this test's totals say.
    let value = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("govhub_identity_residents") >= 0.0);
    assert!(value("govhub_identity_links_total") >= 150.0);
    assert!(value("govhub_identity_merges_total") >= 3.0);
    assert!(value("govhub_identity_splits_total") >= 1.0);
    let rejected: u64 = text
        .lines()
        .filter(|l| l.starts_with(&format!("govhub_records_rejected_total{{{edu},reason=\"")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(rejected >= 150 - VALID, "{text}");
    assert!(
        text.contains(r#"reason="validate: "#),
        "reasons, not values"
    );
    assert!(text.contains("govhub_cursor_lag_seconds{connector=\"edu_metrics\"} "));
    for name in [
        "govhub_records_rejected_total",
        "govhub_fetch_duration_seconds",
        "govhub_record_latency_seconds",
        "govhub_cursor_lag_seconds",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} described"
        );
    }
    // A second handle does not install a second recorder (nor panic).
    assert!(std::ptr::eq(
        admin::metrics::handle(),
        admin::metrics::handle()
    ));

    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let checked = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}
