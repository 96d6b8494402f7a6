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
use axum::http::{Request, StatusCode, header};
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
/// Students of [`SIM`] the example config publishes: every 30th is invalid, and of
/// those the two with a wrong check character (students 29 and 149) are kept, their
/// resident ID set aside as unverified.
const VALID: u64 = 147;

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

/// The `Host` of in-process requests: `AdminState::new`'s address.
const HOST: &str = "127.0.0.1:9464";

/// Calls `app` in-process as `curl` would: status and JSON body (`Value::String` when
/// not JSON). A POST declares its body JSON.
async fn call(app: &axum::Router, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, HOST);
    if method == "POST" {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    send(app, request.body(Body::from(body.to_owned())).unwrap()).await
}

/// Sends `request` to `app` in-process: status and JSON body (`Value::String` when
/// not JSON).
async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// `GET uri` with the bearer `token`, in-process.
async fn get_with_token(app: &axum::Router, uri: &str, token: &str) -> (StatusCode, Value) {
    let request = Request::get(uri)
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    send(app, request).await
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

    // A hub without a group of instances is its cluster alone.
    let (status, body) = call(&app, "GET", "/api/cluster", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["group"], Value::Null);
    let this = govhub::cluster::instance_name();
    assert_eq!(body["this_instance"], this);
    assert_eq!(
        body["instances"],
        json!([{"instance": this, "host": null, "role": "active"}])
    );

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
    // Payloads only with a token (see `record_contents_need_a_token`).
    let guarded = admin::app(
        AdminState::new(hub.status())
            .with_dlq(config.clone())
            .with_token(Token::configured(Some("test-token-3"))),
    );
    let (status, body) =
        get_with_token(&guarded, "/api/dlq?limit=1&payload=true", "test-token-3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
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
            .header("content-type", "application/json")
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
        "/api/cluster",
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
        .header("content-type", "application/json")
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

    // On loopback the API is open without a token, and a configured token is
    // required there too.
    for (token, expected) in [(Some("test-token-4"), 401), (None, 200)] {
        let stop = CancellationToken::new();
        let local = admin::serve(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            state.clone().with_token(Token::configured(token)),
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let base = format!("http://{}", local.local_addr());
        for path in ["/api/connectors", "/api/connectors/edu_auth", "/metrics"] {
            let response = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(response.status(), expected, "{path} {token:?}");
        }
        let response = client
            .post(format!("{base}/api/connectors/edu_auth/pause"))
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), if token.is_some() { 401 } else { 202 });
        if let Some(token) = token {
            assert!(!hub.status().is_paused("edu_auth"));
            let url = format!("{base}/api/connectors");
            let response = client.get(&url).bearer_auth(token).send().await.unwrap();
            assert_eq!(response.status(), 200);
        }
        stop.cancel();
        local.stopped().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_answers_its_probes_and_lists_the_cluster_behind_the_token() {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 9464));
    let topics = govhub_stream::Topics::new("govhub.").unwrap();
    // No broker answers there: the group cannot be listed.
    let members = govhub::cluster::Members::new(
        govhub_stream::KafkaSinkConfig::new("127.0.0.1:1"),
        topics,
        None,
    );
    let token = Token::configured(Some("test-token-2"));
    let app = admin::standby_app(addr, &[], token, members);
    let (status, _) = call(&app, "GET", "/healthz", "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, "GET", "/readyz", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["ready"], false);
    let (status, body) = call(&app, "GET", "/api/connectors", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"].as_str().unwrap().contains("standby"),
        "{body}"
    );
    let (status, _) = call(&app, "GET", "/api/cluster", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get_with_token(&app, "/api/cluster", "test-token-2").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("the group coordinator did not answer"),
        "{body}"
    );
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

/// A POST to `uri` of `app` in-process with `headers` (besides `Host`) and `body`.
async fn post(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::post(uri).header(header::HOST, HOST);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::from(body.to_owned())).unwrap()).await
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_post_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_csrf", "http://127.0.0.1:9/none");
    let hub = hub(&config).await;
    let status = hub.status();
    let app = admin::app(AdminState::new(status.clone()));
    let pause = "/api/connectors/edu_csrf/pause";

    // What a page elsewhere makes a browser send: a form posted across sites.
    let (code, body) = post(
        &app,
        pause,
        &[
            FORM,
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        "x=1",
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(!status.is_paused("edu_csrf"));

    // Each signal alone is enough, whatever the content type; a JSON body from
    // another origin would have needed the browser to ask first, but it is refused here
    // too. `null` is the origin of a sandboxed frame or a local file.
    for headers in [
        [JSON, ("origin", "https://evil.example")],
        [JSON, ("origin", "null")],
        [JSON, ("origin", "http://127.0.0.1:9465")],
        [JSON, ("sec-fetch-site", "cross-site")],
        [JSON, ("sec-fetch-site", "same-site")],
        [FORM, ("origin", "null")],
    ] {
        let (code, body) = post(&app, pause, &headers, "").await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{headers:?}: {body}");
        assert!(body["error"].is_string(), "{body}");
        assert!(!status.is_paused("edu_csrf"), "{headers:?}");
    }
    // Resume and backfill are guarded alike.
    for action in ["resume", "backfill"] {
        let uri = format!("/api/connectors/edu_csrf/{action}");
        let (code, _) = post(&app, &uri, &[JSON, ("origin", "null")], "").await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{action}");
    }

    // A form without either header is still a form: not JSON.
    let (code, body) = post(&app, pause, &[FORM], "x=1").await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("application/json"));
    let (code, _) = post(&app, pause, &[], "").await;
    assert_eq!(
        code,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "no content type at all"
    );
    assert!(!status.is_paused("edu_csrf"));

    // The dashboard itself (same origin) and curl (no browser headers) go through.
    let dashboard = [
        JSON,
        ("origin", "http://127.0.0.1:9464"),
        ("sec-fetch-site", "same-origin"),
    ];
    let (code, body) = post(&app, pause, &dashboard, "").await;
    assert_eq!(
        (code, &body["state"]),
        (StatusCode::ACCEPTED, &json!("paused"))
    );
    let resume = "/api/connectors/edu_csrf/resume";
    let (code, _) = post(&app, resume, &[JSON], "").await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert!(!status.is_paused("edu_csrf"));
    // An allowed host's origin is the dashboard too, served through that name.
    let proxied = admin::app(
        AdminState::new(status.clone()).with_allowed_hosts(vec!["admin.example".into()]),
    );
    let (code, _) = post(
        &proxied,
        pause,
        &[JSON, ("origin", "https://admin.example")],
        "",
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert!(status.is_paused("edu_csrf"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_plain_backfill_is_refused_and_nothing_is_republished() {
    let sim = simulator(SIM.router()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_plain", &sim.url(STUDENTS_PATH));
    let mut hub = hub(&config).await;
    let app = admin::app(AdminState::new(hub.status()));
    let stop = CancellationToken::new();
    let sync = async |hub: &mut Hub| {
        let mut counts = BTreeMap::new();
        hub.sync_all(&mut counts, &stop).await.unwrap();
        counts.remove("edu_plain").unwrap()
    };
    let first = sync(&mut hub).await;
    assert_eq!((first.pulled, first.published), (150, VALID));

    // What `<form enctype="text/plain">` can send: a JSON-looking body, as text.
    let republish = r#"{"republish":true}"#;
    let backfill = "/api/connectors/edu_plain/backfill";
    for content_type in ["text/plain", "text/plain;charset=UTF-8"] {
        let (code, body) = post(&app, backfill, &[("content-type", content_type)], republish).await;
        assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        assert!(body["error"].is_string());
    }
    let (_, body) = call(&app, "GET", "/api/connectors/edu_plain", "").await;
    assert_eq!(body["cursor"], json!({"page": 2, "skip": 50}), "not reset");
    // The next sync re-reads nothing and republishes nothing.
    let after = sync(&mut hub).await;
    assert_eq!((after.published, after.duplicates), (0, 0), "{after:?}");

    // The same body as JSON is a backfill: the test would have seen one.
    let (code, _) = post(&app, backfill, &[JSON], republish).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let again = sync(&mut hub).await;
    assert_eq!((again.pulled, again.published), (150, VALID));
}

/// Sends `GET path` with `Host: host` over a plain socket to `addr`: the status code
/// and the body.
async fn get_with_host(addr: SocketAddr, path: &str, host: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let code = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"));
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_another_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_host", "http://127.0.0.1:9/none");
    let hub = hub(&config).await;
    let stop = CancellationToken::new();
    let server = admin::serve(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        AdminState::new(hub.status()).with_allowed_hosts(vec!["hub.test:8080".into()]),
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let port = addr.port();

    // A page on evil.example whose name now resolves to 127.0.0.1 (DNS rebinding).
    for host in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "hub.test:8081".to_owned(),
    ] {
        for path in ["/api/connectors", "/api/dlq", "/", "/metrics", "/nope"] {
            let (code, body) = get_with_host(addr, path, &host).await;
            assert_eq!(code, 421, "{host} {path}: {body}");
            let error: Value = serde_json::from_str(&body).unwrap();
            assert!(
                error["error"].as_str().unwrap().contains("allowed_hosts"),
                "{body}"
            );
            assert!(!body.contains(&host), "the Host is not echoed: {body}");
        }
        // Probes answer whatever the Host: orchestrators use the pod's address.
        assert_eq!(get_with_host(addr, "/healthz", &host).await.0, 200);
        assert_eq!(get_with_host(addr, "/readyz", &host).await.0, 200);
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "hub.test:8080".to_owned(),
    ] {
        let (code, body) = get_with_host(addr, "/api/connectors", &host).await;
        assert_eq!(code, 200, "{host}: {body}");
    }
    stop.cancel();
    server.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_contents_need_a_token() {
    let sim = simulator(SIM.router()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_payload", &sim.url(STUDENTS_PATH));
    let mut hub = hub(&config).await;
    hub.sync_all(&mut BTreeMap::new(), &CancellationToken::new())
        .await
        .unwrap();
    let open = admin::app(AdminState::new(hub.status()).with_dlq(config.clone()));

    // Without a configured token, contents are served to no one.
    let (code, body) = call(&open, "GET", "/api/dlq?payload=true", "").await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("GOVHUB_ADMIN_TOKEN"), "{error}");
    assert!(body.get("dead_letters").is_none());
    let (code, body) = call(&open, "GET", "/api/persons/p0123456789abcdef", "").await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("GOVHUB_ADMIN_TOKEN")
    );
    // Dead letters without their payloads stay open on loopback.
    let (code, body) = call(&open, "GET", "/api/dlq?limit=2", "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["dead_letters"][0].get("payload").is_none());

    // With one, they need it.
    let guarded = admin::app(
        AdminState::new(hub.status())
            .with_dlq(config.clone())
            .with_token(Token::configured(Some("test-token-5"))),
    );
    let get = |token: Option<&str>| {
        let mut request = Request::get("/api/dlq?limit=1&payload=true").header(header::HOST, HOST);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        send(&guarded, request.body(Body::empty()).unwrap())
    };
    assert_eq!(get(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some("wrong-token")).await.0, StatusCode::UNAUTHORIZED);
    let (code, body) = get(Some("test-token-5")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["dead_letters"][0]["payload"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_headers", "http://127.0.0.1:9/none");
    let hub = hub(&config).await;
    let app = admin::app(AdminState::new(hub.status()));
    let request = |uri: &str, host: &str| {
        Request::get(uri)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap()
    };
    let cases = [
        ("/", HOST, 200, "no-cache"),
        ("/dashboard.js", HOST, 200, "no-cache"),
        ("/api/connectors", HOST, 200, "no-store"),
        ("/api/connectors/nope", HOST, 404, "no-store"),
        ("/api/dlq?payload=true", HOST, 403, "no-store"),
        ("/api/connectors", "evil.example:9464", 421, "no-store"),
        ("/metrics", HOST, 200, ""),
        ("/healthz", HOST, 200, ""),
    ];
    for (uri, host, code, cache) in cases {
        let response = app.clone().oneshot(request(uri, host)).await.unwrap();
        assert_eq!(response.status().as_u16(), code, "{uri}");
        let h = response.headers();
        let value = |name: &str| h.get(name).map(|v| v.to_str().unwrap()).unwrap_or("");
        let csp = value("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp:?}");
        assert!(csp.contains("default-src 'none'"), "{uri}: {csp:?}");
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp:?}");
        assert_eq!(value("x-frame-options"), "DENY", "{uri}");
        assert_eq!(value("x-content-type-options"), "nosniff", "{uri}");
        assert_eq!(value("referrer-policy"), "no-referrer", "{uri}");
        assert_eq!(value("cache-control"), cache, "{uri}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_connectors_spread_pause_resume_and_backfill_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "edu_spread", "http://127.0.0.1:9/none");
    let hub = hub(&config).await;
    let status = hub.status();
    let topics = govhub_stream::Topics::new("govhub.").unwrap();
    let members = govhub::cluster::Members::new(
        govhub_stream::KafkaSinkConfig::new("127.0.0.1:1"),
        topics,
        Some(vec!["edu_spread".into()]),
    );
    let app = admin::app(AdminState::new(status.clone()).with_cluster(Some(members)));
    for action in ["pause", "resume", "backfill"] {
        let uri = format!("/api/connectors/edu_spread/{action}");
        let (code, body) = post(&app, &uri, &[JSON], "{}").await;
        assert_eq!(code, StatusCode::CONFLICT, "{action}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("spread_connectors"),
            "{body}"
        );
    }
    assert!(!status.is_paused("edu_spread"));
    assert_eq!(status.take_backfill("edu_spread"), None);
}
