//! `GET /api/persons/{id}` against a running hub over the four simulated departments
//! (the demo's, into the embedded log): a retired id leads to the golden record the
//! person topic holds for the person it was merged into, a live id to itself; an
//! unknown id is 404, a malformed one 400, no run 503; it needs the token, and a server
//! without one answers 403.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use govhub::admin::{self, AdminState, Token};
use govhub::demo::{Demo, DemoOptions, expected};
use govhub_resolve::identity::RecordRef;
use govhub_stream::EmbeddedLog;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

mod common;
use common::admin::get;

/// The admin token of this test's server.
const TOKEN: &str = "test-token-2";

/// The person topic read as a compacted consumer sees it: each live id's latest golden
/// record, and each retired id's `merged_into`.
fn person_topic(log_dir: &std::path::Path) -> (BTreeMap<String, Value>, BTreeMap<String, String>) {
    let log = EmbeddedLog::open(log_dir).unwrap();
    let mut golden = BTreeMap::new();
    let mut merged_into = BTreeMap::new();
    for entry in log.read("govhub.person.v1").unwrap() {
        let key = entry.key.unwrap();
        if entry.value.is_null() {
            golden.remove(&key);
        } else if let Some(into) = entry.value["merged_into"].as_str() {
            merged_into.insert(key, into.to_owned());
        } else {
            golden.insert(key, entry.value);
        }
    }
    (golden, merged_into)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_person_id_leads_to_the_golden_record_of_the_person_it_went_into() {
    let dir = tempfile::tempdir().unwrap();
    let options = DemoOptions {
        seed: 7,
        residents: 600,
        invalid_every: 25,
        generation: 0,
        data_dir: dir.path().join("data"),
    };
    let Demo {
        mut hub,
        config,
        departments,
    } = Demo::start(&options).await.unwrap();
    let status = hub.status();
    let state = AdminState::new(status.clone()).with_persons(hub.persons());
    let app = admin::app(state.clone().with_token(Token::configured(Some(TOKEN))));
    let token = Some(TOKEN);
    let unknown = "/api/persons/p0123456789abcdef";

    // No run yet: nobody to ask.
    let (code, cache, body) = get(&app, unknown, token).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(cache, "no-store");
    assert!(body["error"].as_str().unwrap().contains("not running"));
    let without = admin::app(AdminState::new(status.clone()).with_token(Token::configured(token)));
    assert_eq!(
        get(&without, unknown, token).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let stop = CancellationToken::new();
    let run = tokio::spawn({
        let stop = stop.clone();
        async move {
            let result = hub.run(&stop).await;
            (hub, result)
        }
    });
    // Until every department's records are written and committed.
    let published: BTreeMap<String, u64> = expected(&options.departments())
        .into_iter()
        .map(|(name, e)| (name.to_owned(), e.valid.len() as u64))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now: BTreeMap<String, u64> = status
            .overview()
            .connectors
            .iter()
            .map(|c| (c.name.clone(), c.counts.published))
            .collect();
        if now == published {
            break;
        }
        assert!(Instant::now() < deadline, "{now:?}, expected {published:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (golden, merged_into) = person_topic(&config.data_dir.join("log"));
    assert!(
        !merged_into.is_empty(),
        "the simulated departments' records merge some persons"
    );
    // The longest chain of merges on the topic, followed as a consumer would.
    let chain_of = |id: &String| {
        let mut chain = vec![id.clone()];
        while let Some(next) = merged_into.get(chain.last().unwrap()) {
            chain.push(next.clone());
        }
        chain
    };
    let chain = merged_into
        .keys()
        .map(chain_of)
        .max_by_key(Vec::len)
        .unwrap();
    let (retired, live) = (&chain[0], chain.last().unwrap());
    let topic_golden = &golden[live];

    let (code, cache, body) = get(&app, &format!("/api/persons/{retired}"), token).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(cache, "no-store", "it carries personal data");
    assert_eq!(body["requested"], retired.as_str());
    assert_eq!(body["person_id"], live.as_str());
    assert_eq!(
        body["merged_chain"],
        serde_json::json!(chain[..chain.len() - 1])
    );
    assert_eq!(&body["golden"], topic_golden, "as the person topic has it");
    let refs = |v: &Value| -> BTreeSet<RecordRef> { serde_json::from_value(v.clone()).unwrap() };
    assert_eq!(refs(&body["records"]), refs(&topic_golden["sources"]));

    let (code, _, body) = get(&app, &format!("/api/persons/{live}"), token).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["person_id"], live.as_str());
    assert_eq!(body["merged_chain"], serde_json::json!([]));
    assert_eq!(&body["golden"], topic_golden);

    let (code, cache, body) = get(&app, unknown, token).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(cache, "no-store");
    assert_eq!(body["error"], "no person \"p0123456789abcdef\"");
    // What is not a person id (here a synthetic resident ID) is refused, not echoed.
    for malformed in ["110105198503120011", "P0123456789ABCDEF", "p0123", "%FF"] {
        let (code, _, body) = get(&app, &format!("/api/persons/{malformed}"), token).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{malformed}: {body}");
        assert!(!body["error"].as_str().unwrap().contains(malformed));
    }

    // Only with the token; a server without one answers no one.
    let uri = format!("/api/persons/{retired}");
    for wrong in [None, Some("wrong-token")] {
        let (code, _, body) = get(&app, &uri, wrong).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert!(body.get("golden").is_none());
    }
    let open = admin::app(state);
    let (code, cache, body) = get(&open, &uri, None).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(cache, "no-store");
    assert!(body.get("golden").is_none());
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("GOVHUB_ADMIN_TOKEN")
    );

    stop.cancel();
    let (_hub, result) = run.await.unwrap();
    result.unwrap();
    // The run is over: nobody to ask again.
    assert_eq!(
        get(&app, &uri, token).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let _ = departments.shutdown().await;
}
