//! Redirects never carry a connector's credentials to another origin. For every auth
//! style: a department API answering with a redirect to a server on another port (another
//! origin) fails the poll with an error naming the connector and both origins, and that
//! server receives no request at all; a redirect within the API's own origin is still
//! followed, authenticated for its new URL. `follow_redirects = "none"` follows nothing,
//! and same-origin hops are capped.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use govhub_connect::auth::signed_gateway::{self, DEFAULT_MAX_SKEW_MS};
use govhub_connect::redirect::{MAX_REDIRECTS, Refusal};
use govhub_connect::{ConnectError, HttpSource, HttpSourceConfig, Secret};
use govhub_core::{Classified, ErrorClass, Source};
use govhub_sim::RunningSim;
use serde_json::{Value, json};

/// Every credential in these tests; a test fails if it shows up in an error.
const SECRET: &str = "s3cret-Credential";
const USER: &str = "govhub";
const APP_KEY: &str = "govhub-app";
const CONNECTOR: &str = "health";

/// The requests one server received: path with query, and headers.
type Received = Arc<Mutex<Vec<(String, HeaderMap)>>>;

/// A server on its own port (so its own origin) that records every request and answers
/// as `respond` says for its path and query.
async fn server(
    respond: impl Fn(&str) -> Response + Clone + Send + Sync + 'static,
) -> (RunningSim, Received) {
    let received = Received::default();
    let log = received.clone();
    let router = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let log = log.clone();
        let respond = respond.clone();
        async move {
            let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            log.lock().unwrap().push((target.clone(), headers));
            respond(&target)
        }
    });
    let sim = govhub_sim::serve(router, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    (sim, received)
}

fn requests(received: &Received) -> Vec<(String, HeaderMap)> {
    received.lock().unwrap().clone()
}

fn redirect(status: u16, location: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::LOCATION, location.to_owned())],
    )
        .into_response()
}

fn page() -> Response {
    axum::Json(json!({"list": [{"id": "R1"}]})).into_response()
}

/// `http://127.0.0.1:PORT`, as `Url::origin` serializes it.
fn origin(sim: &RunningSim) -> String {
    format!("http://{}", sim.addr())
}

/// The auth styles, each as its `auth` table.
fn styles() -> Vec<(&'static str, Value)> {
    vec![
        ("bearer", json!({"style": "bearer", "token": "${SECRET}"})),
        (
            "basic",
            json!({"style": "basic", "username": USER, "password": "${SECRET}"}),
        ),
        (
            "api_key",
            json!({"style": "api_key", "name": "X-API-Key", "value": "${SECRET}"}),
        ),
        (
            "api_key_query",
            json!({"style": "api_key", "name": "appkey", "value": "${SECRET}", "in": "query"}),
        ),
        (
            "signed_gateway",
            json!({"style": "signed_gateway", "app_key": APP_KEY, "app_secret": "${SECRET}"}),
        ),
    ]
}

fn auth_of(style: &str) -> Value {
    styles()
        .into_iter()
        .find(|(name, _)| *name == style)
        .unwrap()
        .1
}

fn config(url: &str, auth: &Value, follow_redirects: Option<&str>) -> HttpSourceConfig {
    let mut config = json!({
        "department": "health",
        "kind": "health.visit",
        "url": url,
        "records": "/list",
        "record_id": "/id",
        "timeout_secs": 5,
        "pagination": {"style": "page_number", "page_size": 10},
        "auth": auth,
    });
    if let Some(setting) = follow_redirects {
        config["follow_redirects"] = json!(setting);
    }
    serde_json::from_value(config).unwrap()
}

fn source(config: HttpSourceConfig) -> HttpSource {
    HttpSource::with_env(CONNECTOR, config, None, &|var| {
        (var == "SECRET").then(|| SECRET.to_owned())
    })
    .unwrap()
}

/// Whether a request carries valid credentials of `style` for its own path and query:
/// a signature is checked against the URL it was sent to, a query key is there once.
fn authenticated(style: &str, target: &str, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match style {
        "bearer" => header("authorization") == Some(&format!("Bearer {SECRET}")),
        "basic" => {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{SECRET}"));
            header("authorization") == Some(&format!("Basic {encoded}"))
        }
        "api_key" => header("x-api-key") == Some(SECRET),
        "api_key_query" => {
            let url = reqwest::Url::parse(&format!("http://x{target}")).unwrap();
            let keys: Vec<String> = url
                .query_pairs()
                .filter(|(k, _)| k == "appkey")
                .map(|(_, v)| v.into_owned())
                .collect();
            keys == [SECRET]
        }
        "signed_gateway" => {
            let secret_for = |key: &str| (key == APP_KEY).then(|| Secret::new(SECRET));
            signed_gateway::verify(
                "GET",
                target,
                headers,
                &secret_for,
                chrono::Utc::now().timestamp_millis(),
                DEFAULT_MAX_SKEW_MS,
                &mut |_| false,
            )
            .is_ok()
        }
        other => panic!("unknown style {other}"),
    }
}

/// A redirect to another origin, with every status a client follows: the poll fails with
/// an error naming the connector and both origins (no query), it is not retried, and the
/// other origin receives nothing.
async fn refuses_another_origin(style: &str) {
    let (elsewhere, elsewhere_received) = server(|_| page()).await;
    let leak = format!("{}/list?token=leaked-{SECRET}", origin(&elsewhere));
    for status in [301, 302, 303, 307, 308] {
        let location = leak.clone();
        let (api, api_received) = server(move |_| redirect(status, &location)).await;
        let mut source = source(config(&api.url("/list"), &auth_of(style), None));
        let err = source.poll().await.unwrap_err();
        let ConnectError::Redirect {
            status: answered,
            refusal: Refusal::OtherOrigin { from, to },
            ..
        } = &err
        else {
            panic!("{style} {status}: {err:?}");
        };
        assert_eq!(*answered, status);
        assert_eq!(from, &origin(&api));
        assert_eq!(to, &origin(&elsewhere));
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("connector {CONNECTOR}: ")),
            "{message}"
        );
        assert!(message.contains(&origin(&api)), "{message}");
        assert!(message.contains(&origin(&elsewhere)), "{message}");
        assert!(!message.contains('?'), "{message}");
        assert!(!message.contains(SECRET), "{message}");
        assert_eq!(err.class(), ErrorClass::User);
        // One request, authenticated, and not retried.
        let sent = requests(&api_received);
        assert_eq!(sent.len(), 1, "{style} {status}");
        assert!(authenticated(style, &sent[0].0, &sent[0].1), "{style}");
    }
    assert!(
        requests(&elsewhere_received).is_empty(),
        "{style}: the other origin was sent {:?}",
        requests(&elsewhere_received)
    );
}

/// A redirect within the origin (relative `Location`) is followed, and the request to
/// the new URL carries credentials valid for it.
async fn follows_its_own_origin(style: &str) {
    // A server echoing the query key in its Location, as some do: still sent once.
    let location = if style == "api_key_query" {
        format!("/v2/list?page=1&size=10&appkey={SECRET}")
    } else {
        "/v2/list?page=1&size=10".to_owned()
    };
    for status in [301, 302, 303, 307, 308] {
        let location = location.clone();
        let (api, received) = server(move |target| {
            if target.starts_with("/v2/") {
                page()
            } else {
                redirect(status, &location)
            }
        })
        .await;
        let mut source = source(config(&api.url("/v1/list"), &auth_of(style), None));
        let batch = source.poll().await.unwrap().unwrap();
        assert_eq!(batch.records[0].source_record_id, "R1");
        let sent = requests(&received);
        assert_eq!(sent.len(), 2, "{style} {status}: {sent:?}");
        assert!(sent[0].0.starts_with("/v1/list?"), "{}", sent[0].0);
        assert!(
            sent[1].0.starts_with("/v2/list?page=1&size=10"),
            "{}",
            sent[1].0
        );
        for (target, headers) in &sent {
            assert!(
                authenticated(style, target, headers),
                "{style} {status}: {target}"
            );
        }
    }
}

#[tokio::test]
async fn bearer_tokens_stay_on_their_origin() {
    refuses_another_origin("bearer").await;
    follows_its_own_origin("bearer").await;
}

#[tokio::test]
async fn basic_credentials_stay_on_their_origin() {
    refuses_another_origin("basic").await;
    follows_its_own_origin("basic").await;
}

#[tokio::test]
async fn api_key_headers_stay_on_their_origin() {
    refuses_another_origin("api_key").await;
    follows_its_own_origin("api_key").await;
}

#[tokio::test]
async fn api_key_query_parameters_stay_on_their_origin() {
    refuses_another_origin("api_key_query").await;
    follows_its_own_origin("api_key_query").await;
}

#[tokio::test]
async fn signed_requests_stay_on_their_origin_and_are_signed_for_each_hop() {
    refuses_another_origin("signed_gateway").await;
    follows_its_own_origin("signed_gateway").await;
}

#[tokio::test]
async fn none_follows_no_redirect_at_all() {
    let (api, received) = server(|target| {
        if target.starts_with("/v2/") {
            page()
        } else {
            redirect(302, "/v2/list?sig=hunter2")
        }
    })
    .await;
    for (style, auth) in styles() {
        let mut source = source(config(&api.url("/v1/list"), &auth, Some("none")));
        let err = source.poll().await.unwrap_err();
        assert!(
            matches!(
                &err,
                ConnectError::Redirect {
                    status: 302,
                    refusal: Refusal::NotFollowed { .. },
                    ..
                }
            ),
            "{style}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("follow_redirects = \"none\""), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
    let sent = requests(&received);
    assert_eq!(sent.len(), styles().len());
    assert!(sent.iter().all(|(target, _)| target.starts_with("/v1/")));
}

/// `/hop/N` redirects to `/hop/N+1` until `/hop/last`, which answers a page.
async fn chain(last: u32) -> (RunningSim, Received) {
    server(move |target| {
        let n: u32 = target
            .trim_start_matches("/hop/")
            .split('?')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        if n == last {
            page()
        } else {
            redirect(302, &format!("/hop/{}", n + 1))
        }
    })
    .await
}

#[tokio::test]
async fn same_origin_hops_are_capped() {
    let auth = auth_of("bearer");
    let (api, received) = chain(MAX_REDIRECTS).await;
    let mut within = source(config(&api.url("/hop/0"), &auth, None));
    assert!(within.poll().await.unwrap().is_some());
    assert_eq!(requests(&received).len(), 1 + MAX_REDIRECTS as usize);

    let (api, received) = chain(u32::MAX).await;
    let mut endless = source(config(&api.url("/hop/0"), &auth, None));
    let err = endless.poll().await.unwrap_err();
    assert!(
        matches!(
            &err,
            ConnectError::Redirect {
                refusal: Refusal::TooMany,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("after 10 redirects in a row"),
        "{err}"
    );
    assert!(!err.retryable());
    assert_eq!(requests(&received).len(), 1 + MAX_REDIRECTS as usize);
}

#[test]
fn an_unknown_setting_is_refused() {
    let mut value =
        serde_json::to_value(config("http://x.example/", &auth_of("bearer"), None)).unwrap();
    assert_eq!(value["follow_redirects"], "same_origin");
    value["follow_redirects"] = json!("always");
    let err = serde_json::from_value::<HttpSourceConfig>(value).unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `always`"),
        "{err}"
    );
}
