//! Each simulated department over a real socket: pagination, authentication, change
//! over generations and every fault kind.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use govhub_connect::SecretRef;
use govhub_connect::auth::signed_gateway::{SignedGateway, SignedGatewayConfig};
use govhub_sim::Feed;
use govhub_sim::auth::{API_KEY_HEADER, GatewayCredentials};
use govhub_sim::civil::{CivilAffairsSim, HOUSEHOLDS_PATH};
use govhub_sim::education::{EducationSim, STUDENTS_PATH};
use govhub_sim::health::{ENCOUNTERS_PATH, HealthSim};
use govhub_sim::population::Population;
use govhub_sim::urban::{CASES_PATH, UrbanSim};
use govhub_sim::{Departments, Faults, Ports, serve};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

fn signer(credentials: &GatewayCredentials) -> SignedGateway {
    SignedGatewayConfig {
        app_key: credentials.app_key.clone(),
        app_secret: SecretRef::literal(credentials.app_secret.clone()),
    }
    .resolve(&|_| None)
    .unwrap()
}

async fn signed_get(signer: &SignedGateway, url: &str, query: &[(&str, String)]) -> Response {
    let client = Client::new();
    let mut request = client.get(url).query(query).build().unwrap();
    signer.apply(&mut request).unwrap();
    client.execute(request).await.unwrap()
}

fn basic(client: &Client, url: &str) -> reqwest::RequestBuilder {
    client
        .get(url)
        .basic_auth("govhub", Some("demo-civil-password"))
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `next_cursor` from `cursor` to the end; returns the ids and the last cursor
/// that was asked for.
async fn drain_health(
    signer: &SignedGateway,
    url: &str,
    mut cursor: Option<String>,
    limit: u64,
) -> (Vec<String>, Option<String>) {
    let mut out = Vec::new();
    loop {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let response = signed_get(signer, url, &query).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], Value::Bool(true));
        out.extend(ids(&body["data"]["records"], "jzlsh"));
        match body["data"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (out, cursor),
        }
    }
}

#[tokio::test]
async fn health_pages_by_cursor_and_picks_up_new_encounters() {
    let sim = HealthSim::new(Population::new(1, 2000));
    let clock = sim.clock.clone();
    let server = serve(sim.clone().router(), LOOPBACK).await.unwrap();
    let url = server.url(ENCOUNTERS_PATH);
    let signer = signer(&sim.credentials);

    let (ids0, last) = drain_health(&signer, &url, None, 70).await;
    let expected: Vec<String> = sim.records(0).map(|r| r.id).collect();
    assert_eq!(expected.len(), 1200);
    assert_eq!(ids0, expected);

    // Later generations append; the last page asked for again continues the list.
    clock.advance(2);
    let (ids2, _) = drain_health(&signer, &url, last, 70).await;
    let all: Vec<String> = sim.records(2).map(|r| r.id).collect();
    assert_eq!(all.len(), 1248);
    // The last page started at the last multiple of 70 before the end.
    let last_page = (ids0.len() - 1) / 70 * 70;
    assert_eq!(ids2, all[last_page..]);

    // Bad parameters get the gateway's error envelope.
    let response = signed_get(&signer, &url, &[("cursor", "forged".into())]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "InvalidParameter");
    let response = signed_get(&signer, &url, &[("limit", "501".into())]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_rejects_unsigned_wrongly_signed_and_replayed_requests() {
    let sim = HealthSim::new(Population::new(1, 100));
    let server = serve(sim.clone().router(), LOOPBACK).await.unwrap();
    let url = server.url(ENCOUNTERS_PATH);
    let client = Client::new();

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], Value::Bool(false));
    assert!(
        body["message"].as_str().unwrap().contains("X-Ca-"),
        "{body}"
    );

    let wrong = signer(&GatewayCredentials {
        app_secret: "not-the-secret".into(),
        ..sim.credentials.clone()
    });
    let response = signed_get(&wrong, &url, &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let unknown = signer(&GatewayCredentials {
        app_key: "someone-else".into(),
        ..sim.credentials.clone()
    });
    assert_eq!(
        signed_get(&unknown, &url, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The same signed request twice: the nonce is refused the second time.
    let good = signer(&sim.credentials);
    let mut request = client.get(&url).build().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    good.apply_at(&mut request, now, "0123456789abcdef0123456789abcdef");
    let again = request.try_clone().unwrap();
    assert_eq!(
        client.execute(request).await.unwrap().status(),
        StatusCode::OK
    );
    let response = client.execute(again).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("nonce"),
        "{body}"
    );

    // A stale timestamp.
    let mut request = client.get(&url).build().unwrap();
    good.apply_at(
        &mut request,
        now - 3_600_000,
        "fedcba9876543210fedcba9876543210",
    );
    assert_eq!(
        client.execute(request).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn civil_affairs_pages_by_offset_and_link_header() {
    let sim = CivilAffairsSim::new(Population::new(2, 3000));
    let server = serve(sim.clone().router(), LOOPBACK).await.unwrap();
    let client = Client::new();
    let mut url = format!("{}?limit=45", server.url(HOUSEHOLDS_PATH));
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = basic(&client, &url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["x-total-count"].to_str().unwrap(),
            sim.len(0).to_string()
        );
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "0000");
        assert_eq!(body["total"], sim.len(0));
        // Members are nested inside their household.
        for household in body["data"].as_array().unwrap() {
            assert!(!household["members"].as_array().unwrap().is_empty());
            assert!(
                household["members"][0]["cybh"]
                    .as_str()
                    .unwrap()
                    .starts_with(household["hh_id"].as_str().unwrap())
            );
        }
        seen.extend(ids(&body["data"], "hh_id"));
        pages += 1;
        let Some(link) = link else { break };
        let target = link
            .strip_prefix('<')
            .and_then(|l| l.split_once(">; rel=\"next\""))
            .unwrap()
            .0;
        url = target.to_owned();
    }
    let expected: Vec<String> = sim.records(0).map(|r| r.id).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, expected.len().div_ceil(45));

    // Plain offset arithmetic reaches the same records.
    let response = basic(
        &client,
        &format!("{}?offset=90&limit=5", server.url(HOUSEHOLDS_PATH)),
    )
    .send()
    .await
    .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(ids(&body["data"], "hh_id"), expected[90..95]);

    for bad in [
        client.get(server.url(HOUSEHOLDS_PATH)),
        client
            .get(server.url(HOUSEHOLDS_PATH))
            .basic_auth("govhub", Some("wrong")),
    ] {
        let response = bad.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "4010");
    }
}

/// Pages through the feed from `position` with `page_size`; returns the cases in order
/// and the position after the last one.
async fn drain_urban(
    url: &str,
    key: &str,
    mut since: Option<String>,
    mut after: Option<String>,
    page_size: u64,
) -> (Vec<Value>, Option<String>, Option<String>) {
    let client = Client::new();
    let mut out = Vec::new();
    loop {
        let mut query = vec![("page_size", page_size.to_string())];
        if let Some(s) = &since {
            query.push(("updated_since", s.clone()));
        }
        if let Some(a) = &after {
            query.push(("after_id", a.clone()));
        }
        let response = client
            .get(url)
            .header(API_KEY_HEADER, key)
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errcode"], 0);
        let cases = body["data"]["cases"].as_array().unwrap().clone();
        if let Some(last) = cases.last() {
            since = Some(last["updated_at"].as_str().unwrap().to_owned());
            after = Some(last["case_id"].as_str().unwrap().to_owned());
        }
        out.extend(cases);
        if body["data"]["has_more"] != Value::Bool(true) {
            return (out, since, after);
        }
    }
}

/// Cases at a generation sorted as the feed must list them.
fn feed_order(sim: &UrbanSim, generation: u64) -> Vec<Value> {
    let mut cases: Vec<Value> = sim.records(generation).map(|r| r.value).collect();
    cases.sort_by(|a, b| {
        (a["updated_at"].as_str(), a["case_id"].as_str())
            .cmp(&(b["updated_at"].as_str(), b["case_id"].as_str()))
    });
    cases
}

#[tokio::test]
async fn urban_feed_resumes_exactly_across_shared_timestamps_and_generations() {
    let sim = UrbanSim::new(Population::new(3, 10_000));
    let clock = sim.clock.clone();
    let key = sim.credentials.key.clone();
    let server = serve(sim.clone().router(), LOOPBACK).await.unwrap();
    let url = server.url(CASES_PATH);

    // Many cases share a timestamp, more than a page holds.
    let expected = feed_order(&sim, 0);
    let mut per_time = BTreeMap::<String, usize>::new();
    for case in &expected {
        *per_time
            .entry(case["updated_at"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        per_time.values().any(|n| *n >= 20),
        "no large timestamp groups"
    );

    let (cases, since, after) = drain_urban(&url, &key, None, None, 7).await;
    assert_eq!(cases, expected);

    // Generation 1 adds cases and moves some on a status: resuming yields exactly the
    // changed cases, after everything seen, each once.
    clock.advance(1);
    let (changes, since1, after1) = drain_urban(&url, &key, since, after, 7).await;
    let now = feed_order(&sim, 1);
    let before: BTreeMap<String, Value> = cases
        .iter()
        .map(|c| (c["case_id"].as_str().unwrap().to_owned(), c.clone()))
        .collect();
    let changed: Vec<Value> = now
        .iter()
        .filter(|c| before.get(c["case_id"].as_str().unwrap()) != Some(c))
        .cloned()
        .collect();
    assert_eq!(changes, changed);
    let new = changed
        .iter()
        .filter(|c| !before.contains_key(c["case_id"].as_str().unwrap()))
        .count();
    assert_eq!(new, 40);
    assert_eq!(changed.len() - new, 200, "10% of 2000 cases updated");
    for case in &changed {
        if let Some(old) = before.get(case["case_id"].as_str().unwrap()) {
            assert!(case["updated_at"].as_str() > old["updated_at"].as_str());
            assert_ne!(case["ajzt"], old["ajzt"]);
        }
    }

    // Caught up: nothing more. RFC 3339 and the local layout are the same instant.
    let (none, _, _) = drain_urban(&url, &key, since1.clone(), after1, 50).await;
    assert!(none.is_empty());
    let local = since1.unwrap();
    let rfc3339 = format!("{}+08:00", local.replace(' ', "T"));
    let (a, _, _) = drain_urban(&url, &key, Some(local), None, 50).await;
    let (b, _, _) = drain_urban(&url, &key, Some(rfc3339), None, 50).await;
    assert!(!a.is_empty());
    assert_eq!(a, b);

    // Without the key, or with a bad one: 401.
    let client = Client::new();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], 40101);
    let response = client
        .get(&url)
        .header(API_KEY_HEADER, "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = client
        .get(&url)
        .header(API_KEY_HEADER, &key)
        .query(&[("after_id", "WG1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// A small student registry to put faults in front of.
fn registry() -> EducationSim {
    EducationSim {
        seed: 9,
        students: 50,
        invalid_every: 0,
    }
}

#[tokio::test]
async fn server_errors_rate_limits_and_malformed_pages_give_way_to_retries() {
    let client = Client::new();
    let cases = [
        Faults {
            server_error_rate: 1.0,
            ..Faults::default()
        },
        Faults {
            rate_limit_rate: 1.0,
            retry_after_secs: 7,
            ..Faults::default()
        },
        Faults {
            malformed_rate: 1.0,
            ..Faults::default()
        },
    ];
    for faults in cases {
        let server = serve(registry().router_with(faults), LOOPBACK)
            .await
            .unwrap();
        let url = format!("{}?page=2&size=10", server.url(STUDENTS_PATH));
        for attempt in 0..3 {
            let response = client.get(&url).send().await.unwrap();
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let text = response.text().await.unwrap();
            let parsed = serde_json::from_str::<Value>(&text);
            if attempt == 2 {
                // max_failures_per_page = 2: the third attempt succeeds.
                assert_eq!(status, StatusCode::OK);
                assert_eq!(
                    parsed.unwrap()["data"]["list"].as_array().unwrap().len(),
                    10
                );
            } else if faults.server_error_rate > 0.0 {
                assert!(status.is_server_error(), "{status}");
                if status == StatusCode::BAD_GATEWAY {
                    assert!(text.contains("nginx"));
                }
            } else if faults.rate_limit_rate > 0.0 {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                assert_eq!(retry_after.as_deref(), Some("7"));
                assert_eq!(parsed.unwrap()["code"], 42900);
            } else {
                assert_eq!(status, StatusCode::OK);
                assert!(parsed.is_err(), "a truncated body: {text}");
            }
        }
    }
}

#[tokio::test]
async fn latency_and_slow_pages_are_delayed() {
    let faults = Faults {
        latency: Duration::from_millis(150),
        slow_rate: 1.0,
        slow_latency: Duration::from_millis(300),
        max_failures_per_page: 1,
        ..Faults::default()
    };
    let server = serve(registry().router_with(faults), LOOPBACK)
        .await
        .unwrap();
    let client = Client::new();
    let url = server.url(STUDENTS_PATH);
    let timed = |url: String| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            assert_eq!(
                client.get(url).send().await.unwrap().status(),
                StatusCode::OK
            );
            started.elapsed()
        }
    };
    let slow = timed(url.clone()).await;
    assert!(slow >= Duration::from_millis(450), "{slow:?}");
    let retried = timed(url).await;
    assert!(
        retried >= Duration::from_millis(150) && retried < Duration::from_millis(450),
        "{retried:?}"
    );
}

#[tokio::test]
async fn duplicates_repeat_the_previous_pages_last_item_in_every_style() {
    let faults = Faults {
        duplicate_rate: 1.0,
        ..Faults::default()
    };
    let population = Population::new(4, 1000);
    let client = Client::new();

    // Page numbers.
    let server = serve(registry().router_with(faults), LOOPBACK)
        .await
        .unwrap();
    let page = |n: u32| {
        let url = format!("{}?page={n}&size=10", server.url(STUDENTS_PATH));
        let client = client.clone();
        async move {
            let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            ids(&body["data"]["list"], "student_id")
        }
    };
    let (first, second) = (page(1).await, page(2).await);
    assert_eq!(second.len(), 11);
    assert_eq!(second[0], first[9]);

    // Offset and limit.
    let civil = CivilAffairsSim {
        faults,
        ..CivilAffairsSim::new(population.clone())
    };
    let server = serve(civil.router(), LOOPBACK).await.unwrap();
    let get = |offset: u32| {
        let url = format!("{}?offset={offset}&limit=10", server.url(HOUSEHOLDS_PATH));
        let client = client.clone();
        async move {
            let body: Value = basic(&client, &url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            ids(&body["data"], "hh_id")
        }
    };
    let (first, second) = (get(0).await, get(10).await);
    assert_eq!(second[0], first[9]);
    assert_eq!(second[1..].len(), 10);

    // Cursor: following next_cursor yields every encounter, one of them twice per page.
    let health = HealthSim {
        faults,
        ..HealthSim::new(population.clone())
    };
    let signer = signer(&health.credentials);
    let server = serve(health.clone().router(), LOOPBACK).await.unwrap();
    let (seen, _) = drain_health(&signer, &server.url(ENCOUNTERS_PATH), None, 100).await;
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 600);
    assert_eq!(seen.len(), 600 + 6);

    // Feed: the after_id case itself comes again.
    let urban = UrbanSim {
        faults,
        ..UrbanSim::new(population)
    };
    let key = urban.credentials.key.clone();
    let server = serve(urban.router(), LOOPBACK).await.unwrap();
    let (seen, _, _) = drain_urban(&server.url(CASES_PATH), &key, None, None, 30).await;
    let distinct: BTreeSet<&str> = seen
        .iter()
        .map(|c| c["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), 200);
    assert_eq!(seen.len(), 200 + 200 / 30);
}

#[tokio::test]
async fn invalid_records_are_served() {
    let health = HealthSim {
        faults: Faults {
            invalid_rate: 1.0,
            ..Faults::default()
        },
        ..HealthSim::new(Population::new(5, 100))
    };
    let signer = signer(&health.credentials);
    let server = serve(health.clone().router(), LOOPBACK).await.unwrap();
    let response = signed_get(&signer, &server.url(ENCOUNTERS_PATH), &[]).await;
    let body: Value = response.json().await.unwrap();
    let served = body["data"]["records"].as_array().unwrap();
    let expected: Vec<Value> = health.records(0).map(|r| r.value).collect();
    assert_eq!(served, &expected);
    assert!(health.records(0).all(|r| r.defect.is_some()));
}

#[tokio::test]
async fn departments_start_together_with_their_credentials() {
    let departments = Departments::new(6, 500);
    let running = departments.start(Ports::default()).await.unwrap();
    let ports: BTreeSet<u16> = running
        .all()
        .iter()
        .map(|d| d.server.addr().port())
        .collect();
    assert_eq!(ports.len(), 4);
    let client = Client::new();
    let body: Value = client
        .get(&running.education.url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["total"], 100);
    let govhub_sim::auth::Credentials::SignedGateway(credentials) = &running.health.credentials
    else {
        panic!("health signs requests");
    };
    let response = signed_get(&signer(credentials), &running.health.url, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    for d in [&running.civil_affairs, &running.urban] {
        let status = client.get(&d.url).send().await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", d.department);
    }
    // One clock: advancing it changes what every department serves.
    running.clock.advance(1);
    assert_eq!(departments.clock.generation(), 1);
    assert_eq!(departments.health.clock.generation(), 1);
    running.shutdown().await.unwrap();
}
