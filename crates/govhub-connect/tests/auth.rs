//! Connector authentication: each style applied to a real `reqwest::Request`, the
//! signed-gateway spec against a vector computed independently, `${VAR}` resolution,
//! and that no printed or serialized form carries a secret.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{HashMap, HashSet};

use govhub_connect::auth::signed_gateway::{
    self, DEFAULT_MAX_SKEW_MS, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNATURE_METHOD,
    HEADER_TIMESTAMP, VerifyError,
};
use govhub_connect::secret::LITERAL_SECRET_WARNING;
use govhub_connect::{Auth, AuthConfig, AuthError, Secret, SecretError, SecretRef};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, Request, Url};
use serde_json::json;

const APP_KEY: &str = "govhub-test";
const APP_SECRET: &str = "s3cr3t-Key";
const TS: i64 = 1_700_000_000_000;
const NONCE: &str = "0123456789abcdef0123456789abcdef";

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn config(value: serde_json::Value) -> AuthConfig {
    serde_json::from_value(value).unwrap()
}

fn resolve(value: serde_json::Value, vars: &[(&str, &str)]) -> Auth {
    config(value).resolve(&env(vars)).unwrap()
}

fn get(url: &str) -> Request {
    Request::new(Method::GET, Url::parse(url).unwrap())
}

fn header(request: &Request, name: impl reqwest::header::AsHeaderName) -> &str {
    request.headers().get(name).unwrap().to_str().unwrap()
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

fn gateway() -> Auth {
    resolve(
        json!({"style": "signed_gateway", "app_key": APP_KEY, "app_secret": "${GW_SECRET}"}),
        &[("GW_SECRET", APP_SECRET)],
    )
}

fn signed(url: &str) -> Request {
    let Auth::SignedGateway(auth) = gateway() else {
        panic!("not a signed gateway");
    };
    let mut request = get(url);
    auth.apply_at(&mut request, TS, NONCE);
    request
}

fn secrets(app_key: &str) -> Option<Secret> {
    (app_key == APP_KEY).then(|| Secret::new(APP_SECRET))
}

/// Verifies `request` as the server would, as of `now_ms`, with a fresh nonce store.
fn check(request: &Request, now_ms: i64) -> Result<(), VerifyError> {
    let mut seen = HashSet::new();
    verify_with(request, now_ms, &mut seen)
}

fn verify_with(
    request: &Request,
    now_ms: i64,
    seen: &mut HashSet<String>,
) -> Result<(), VerifyError> {
    signed_gateway::verify(
        request.method().as_str(),
        &path_and_query(request.url()),
        request.headers(),
        &secrets,
        now_ms,
        DEFAULT_MAX_SKEW_MS,
        &mut |nonce| !seen.insert(nonce.to_owned()),
    )
}

// ---- styles applied to requests ----

#[test]
fn bearer_sets_authorization() {
    let auth = resolve(
        json!({"style": "bearer", "token": "${GOV_TOKEN}"}),
        &[("GOV_TOKEN", "tok-123")],
    );
    let mut request = get("https://api.example/v1/list?page=1");
    request
        .headers_mut()
        .insert(AUTHORIZATION, HeaderValue::from_static("stale"));
    auth.apply(&mut request).unwrap();
    assert_eq!(header(&request, AUTHORIZATION), "Bearer tok-123");
    assert_eq!(request.headers().get_all(AUTHORIZATION).iter().count(), 1);
    assert_eq!(request.url().as_str(), "https://api.example/v1/list?page=1");
    assert!(!format!("{request:?}").contains("tok-123"));
}

#[test]
fn basic_sets_authorization() {
    let auth = resolve(
        json!({"style": "basic", "username": "alice", "password": "${GOV_PASSWORD}"}),
        &[("GOV_PASSWORD", "open sesame")],
    );
    let mut request = get("https://api.example/v1/list");
    auth.apply(&mut request).unwrap();
    // base64("alice:open sesame"), computed with Python's base64 module.
    assert_eq!(
        header(&request, AUTHORIZATION),
        "Basic YWxpY2U6b3BlbiBzZXNhbWU="
    );
}

#[test]
fn api_key_in_header_is_the_default() {
    let auth = resolve(
        json!({"style": "api_key", "name": "X-Api-Key", "value": "${KEY}"}),
        &[("KEY", "k-1")],
    );
    let mut request = get("https://api.example/v1/list?page=1");
    auth.apply(&mut request).unwrap();
    assert_eq!(header(&request, "x-api-key"), "k-1");
    assert_eq!(request.url().as_str(), "https://api.example/v1/list?page=1");
    assert!(!format!("{request:?}").contains("k-1"));
}

#[test]
fn api_key_in_query_is_appended_keeping_the_query() {
    let auth = resolve(
        json!({"style": "api_key", "name": "appkey", "value": "${KEY}", "in": "query"}),
        &[("KEY", "k&y =")],
    );
    let mut request = get("https://api.example/v1/list?page=2&size=10");
    auth.apply(&mut request).unwrap();
    assert_eq!(
        request.url().as_str(),
        "https://api.example/v1/list?page=2&size=10&appkey=k%26y+%3D"
    );

    let mut bare = get("https://api.example/v1/list");
    auth.apply(&mut bare).unwrap();
    assert_eq!(
        bare.url().as_str(),
        "https://api.example/v1/list?appkey=k%26y+%3D"
    );
    assert!(bare.headers().is_empty());
}

#[test]
fn api_key_in_query_is_sent_once_when_the_url_has_it_already() {
    // A redirect's Location may repeat the key the request carried.
    let auth = resolve(
        json!({"style": "api_key", "name": "appkey", "value": "${KEY}", "in": "query"}),
        &[("KEY", "k-1")],
    );
    let mut request = get("https://api.example/v2/list?appkey=k-1&page=2&appkey=old");
    auth.apply(&mut request).unwrap();
    assert_eq!(
        request.url().as_str(),
        "https://api.example/v2/list?page=2&appkey=k-1"
    );
}

#[test]
fn signed_gateway_sets_all_headers() {
    let request = signed("https://api.example.gov.cn/edu/v1/students?page=1");
    assert_eq!(header(&request, HEADER_KEY), APP_KEY);
    assert_eq!(header(&request, HEADER_TIMESTAMP), "1700000000000");
    assert_eq!(header(&request, HEADER_NONCE), NONCE);
    assert_eq!(header(&request, HEADER_SIGNATURE_METHOD), "HmacSHA256");
    assert!(!header(&request, HEADER_SIGNATURE).is_empty());
}

// ---- signed gateway spec ----

#[test]
fn signed_gateway_matches_the_independent_vector() {
    let url = Url::parse(
        "https://api.example.gov.cn/edu/v1/students?size=10&page=2&q=a+b&name=%E5%BC%A0%E4%B8%89&empty",
    )
    .unwrap();
    // Computed with Python's standard library, independently of this crate:
    //   pairs = sorted((n.encode(), v.encode()) for n, v in
    //                  urllib.parse.parse_qsl(query, keep_blank_values=True))
    //   cq = "&".join(quote(n, safe="") + "=" + quote(v, safe="") for n, v in pairs)
    //   s = "\n".join(["GET", path, cq, app_key, ts, nonce])
    //   base64.b64encode(hmac.new(secret, s.encode(), hashlib.sha256).digest())
    let expected_text = "GET\n/edu/v1/students\nempty=&name=%E5%BC%A0%E4%B8%89&page=2&q=a%20b&size=10\ngovhub-test\n1700000000000\n0123456789abcdef0123456789abcdef";
    let expected_signature = "wLHbfWUnbLOhVNdpvQUrC5Cb370DN++xRjO8dTjgHNE=";

    let text =
        signed_gateway::string_to_sign("GET", url.path(), url.query().unwrap(), APP_KEY, TS, NONCE);
    assert_eq!(text, expected_text);
    let signature = signed_gateway::sign("GET", &url, APP_KEY, &Secret::new(APP_SECRET), TS, NONCE);
    assert_eq!(signature, expected_signature);

    let request = signed(url.as_str());
    assert_eq!(header(&request, HEADER_SIGNATURE), expected_signature);
}

#[test]
fn canonical_query_sorts_decodes_and_reencodes() {
    let canonical = signed_gateway::canonical_query;
    assert_eq!(canonical(""), "");
    assert_eq!(canonical("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(canonical("q=a+b&&x"), "q=a%20b&x=");
    assert_eq!(canonical("k=%7e%2A*~"), "k=~%2A%2A~");
    assert_eq!(
        canonical("size=10&page=2&q=a+b"),
        canonical("page=2&q=a%20b&size=10")
    );
}

#[test]
fn sign_verify_round_trip() {
    let request = signed("https://api.example.gov.cn/edu/v1/students?size=10&page=2&q=a+b");
    assert_eq!(check(&request, TS), Ok(()));
    // Within the skew on either side.
    let skew = i64::try_from(DEFAULT_MAX_SKEW_MS).unwrap();
    assert_eq!(check(&request, TS + skew), Ok(()));
    assert_eq!(check(&request, TS - skew), Ok(()));
}

#[test]
fn apply_signs_with_the_current_time_and_a_fresh_nonce() {
    let auth = gateway();
    let mut first = get("https://api.example.gov.cn/edu/v1/students");
    let mut second = get("https://api.example.gov.cn/edu/v1/students");
    auth.apply(&mut first).unwrap();
    auth.apply(&mut second).unwrap();
    let nonce = header(&first, HEADER_NONCE);
    assert_eq!(nonce.len(), 32);
    assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(nonce, header(&second, HEADER_NONCE));
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(check(&first, now), Ok(()));
}

#[test]
fn verify_accepts_a_reordered_reencoded_query() {
    let request = signed("https://gw.example/x?size=10&page=2&q=a+b");
    let mut seen = HashSet::new();
    let result = signed_gateway::verify(
        "GET",
        "/x?page=2&q=a%20b&size=10",
        request.headers(),
        &secrets,
        TS,
        DEFAULT_MAX_SKEW_MS,
        &mut |nonce| !seen.insert(nonce.to_owned()),
    );
    assert_eq!(result, Ok(()));
}

#[test]
fn verify_rejects_a_tampered_request() {
    let mut request = signed("https://gw.example/x?size=10&page=2");
    request.url_mut().set_query(Some("size=10&page=3"));
    assert_eq!(check(&request, TS), Err(VerifyError::BadSignature));

    let mut request = signed("https://gw.example/x?size=10&page=2");
    request.url_mut().set_path("/y");
    assert_eq!(check(&request, TS), Err(VerifyError::BadSignature));

    let mut request = signed("https://gw.example/x?size=10&page=2");
    *request.method_mut() = Method::POST;
    assert_eq!(check(&request, TS), Err(VerifyError::BadSignature));

    // A replayed signature with a fresh timestamp does not match.
    let mut request = signed("https://gw.example/x");
    request
        .headers_mut()
        .insert(HEADER_TIMESTAMP, HeaderValue::from(TS + 1));
    assert_eq!(check(&request, TS), Err(VerifyError::BadSignature));

    let mut request = signed("https://gw.example/x");
    request
        .headers_mut()
        .insert(HEADER_SIGNATURE, HeaderValue::from_static("not base64!"));
    assert_eq!(check(&request, TS), Err(VerifyError::BadSignature));
}

#[test]
fn verify_rejects_a_wrong_secret() {
    let request = resolve(
        json!({"style": "signed_gateway", "app_key": APP_KEY, "app_secret": "${S}"}),
        &[("S", "not-the-secret")],
    );
    let Auth::SignedGateway(auth) = request else {
        panic!("not a signed gateway");
    };
    let mut request = get("https://gw.example/x");
    auth.apply_at(&mut request, TS, NONCE);
    assert_eq!(check(&request, TS), Err(VerifyError::BadSignature));
}

#[test]
fn verify_rejects_an_unknown_key() {
    let mut request = signed("https://gw.example/x");
    request
        .headers_mut()
        .insert(HEADER_KEY, HeaderValue::from_static("someone-else"));
    assert_eq!(
        check(&request, TS),
        Err(VerifyError::UnknownKey("someone-else".to_owned()))
    );
}

#[test]
fn verify_rejects_a_stale_timestamp() {
    let request = signed("https://gw.example/x");
    let skew = i64::try_from(DEFAULT_MAX_SKEW_MS).unwrap();
    let late = check(&request, TS + skew + 1);
    assert_eq!(
        late,
        Err(VerifyError::StaleTimestamp {
            skew_ms: DEFAULT_MAX_SKEW_MS + 1,
            max_skew_ms: DEFAULT_MAX_SKEW_MS
        })
    );
    assert!(matches!(
        check(&request, TS - skew - 1),
        Err(VerifyError::StaleTimestamp { .. })
    ));
}

#[test]
fn verify_rejects_a_replayed_nonce() {
    let request = signed("https://gw.example/x?page=1");
    let mut seen = HashSet::new();
    assert_eq!(verify_with(&request, TS, &mut seen), Ok(()));
    assert_eq!(
        verify_with(&request, TS, &mut seen),
        Err(VerifyError::ReplayedNonce)
    );
}

#[test]
fn forged_requests_do_not_burn_nonces() {
    let mut forged = signed("https://gw.example/x?page=1");
    forged.url_mut().set_query(Some("page=9"));
    let genuine = signed("https://gw.example/x?page=1");
    let mut seen = HashSet::new();
    assert_eq!(
        verify_with(&forged, TS, &mut seen),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(verify_with(&genuine, TS, &mut seen), Ok(()));
}

#[test]
fn verify_rejects_missing_and_malformed_headers() {
    for (name, shown) in [
        (HEADER_KEY, "X-Ca-Key"),
        (HEADER_TIMESTAMP, "X-Ca-Timestamp"),
        (HEADER_NONCE, "X-Ca-Nonce"),
        (HEADER_SIGNATURE_METHOD, "X-Ca-Signature-Method"),
        (HEADER_SIGNATURE, "X-Ca-Signature"),
    ] {
        let mut request = signed("https://gw.example/x");
        request.headers_mut().remove(&name);
        assert_eq!(check(&request, TS), Err(VerifyError::MissingHeader(shown)));
    }

    let mut request = signed("https://gw.example/x");
    request.headers_mut().insert(
        HEADER_SIGNATURE_METHOD,
        HeaderValue::from_static("HmacSHA1"),
    );
    assert_eq!(check(&request, TS), Err(VerifyError::UnsupportedMethod));

    for bad in ["+1700000000000", "1.7e12", ""] {
        let mut request = signed("https://gw.example/x");
        request
            .headers_mut()
            .insert(HEADER_TIMESTAMP, HeaderValue::from_str(bad).unwrap());
        assert_eq!(
            check(&request, TS),
            Err(VerifyError::MalformedHeader("X-Ca-Timestamp"))
        );
    }

    let mut request = signed("https://gw.example/x");
    request
        .headers_mut()
        .insert(HEADER_NONCE, HeaderValue::from_static("a b"));
    assert_eq!(
        check(&request, TS),
        Err(VerifyError::MalformedHeader("X-Ca-Nonce"))
    );
}

#[test]
fn verify_on_an_empty_header_map_names_the_first_header() {
    let result = signed_gateway::verify(
        "GET",
        "/",
        &HeaderMap::new(),
        &secrets,
        TS,
        DEFAULT_MAX_SKEW_MS,
        &mut |_| false,
    );
    assert_eq!(result, Err(VerifyError::MissingHeader("X-Ca-Key")));
}

// ---- secrets ----

#[test]
fn env_references_resolve_through_the_given_env() {
    let secret = SecretRef::parse("${GOV_TOKEN}");
    assert_eq!(secret, SecretRef::env("GOV_TOKEN"));
    assert!(!secret.is_literal());
    let value = secret.resolve(&env(&[("GOV_TOKEN", "abc")])).unwrap();
    assert_eq!(value.expose(), "abc");

    // Only the whole string is a reference.
    assert!(SecretRef::parse("x${GOV_TOKEN}").is_literal());
    assert!(SecretRef::parse("${GOV_TOKEN}x").is_literal());
}

#[test]
fn missing_variables_are_named() {
    let err = SecretRef::parse("${GOV_TOKEN}")
        .resolve(&env(&[]))
        .unwrap_err();
    assert_eq!(
        err,
        SecretError::Missing {
            var: "GOV_TOKEN".to_owned()
        }
    );
    assert_eq!(err.to_string(), "environment variable GOV_TOKEN is not set");

    let err = SecretRef::parse("${GOV_TOKEN}")
        .resolve(&env(&[("GOV_TOKEN", "")]))
        .unwrap_err();
    assert_eq!(err.to_string(), "environment variable GOV_TOKEN is empty");

    let err = config(json!({"style": "bearer", "token": "${GOV_TOKEN}"}))
        .resolve(&env(&[("OTHER", "x")]))
        .unwrap_err();
    assert!(matches!(err, AuthError::Secret { field: "token", .. }));
    assert_eq!(
        err.to_string(),
        "token: environment variable GOV_TOKEN is not set"
    );
}

#[test]
fn literal_secrets_work_but_are_warned_about() {
    let literal = config(json!({"style": "bearer", "token": "hunter2-literal"}));
    assert_eq!(
        literal.warnings(),
        vec![("token".to_owned(), LITERAL_SECRET_WARNING.to_owned())]
    );
    assert!(literal.problems().is_empty());
    let mut request = get("https://api.example/x");
    literal
        .resolve(&env(&[]))
        .unwrap()
        .apply(&mut request)
        .unwrap();
    assert_eq!(header(&request, AUTHORIZATION), "Bearer hunter2-literal");

    let from_env = config(json!({"style": "bearer", "token": "${T}"}));
    assert!(from_env.warnings().is_empty());
}

#[test]
fn secrets_never_print() {
    let literals = [
        json!({"style": "bearer", "token": "hunter2-literal"}),
        json!({"style": "basic", "username": "u", "password": "hunter2-literal"}),
        json!({"style": "api_key", "name": "X-K", "value": "hunter2-literal"}),
        json!({"style": "api_key", "name": "k", "value": "hunter2-literal", "in": "query"}),
        json!({"style": "signed_gateway", "app_key": "ak", "app_secret": "hunter2-literal"}),
    ];
    for value in literals {
        let config = config(value);
        let debug = format!("{config:?}");
        let serialized = serde_json::to_string(&config).unwrap();
        let auth = format!("{:?}", config.resolve(&env(&[])).unwrap());
        for shown in [&debug, &serialized, &auth] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(
                shown.contains("***") || shown.contains("Sensitive"),
                "{shown}"
            );
        }
    }

    let from_env = config(json!({"style": "bearer", "token": "${T}"}));
    let auth = from_env
        .resolve(&env(&[("T", "env-secret-value")]))
        .unwrap();
    assert!(!format!("{auth:?}").contains("env-secret-value"));

    let secret = Secret::new("hunter2");
    assert_eq!(format!("{secret}"), "***");
    assert_eq!(format!("{secret:?}"), "Secret(***)");
    let literal = SecretRef::literal("hunter2");
    assert_eq!(format!("{literal}"), "***");
    assert_eq!(format!("{literal:?}"), "SecretRef(***)");
    assert_eq!(serde_json::to_string(&literal).unwrap(), "\"***\"");
}

#[test]
fn env_references_round_trip_through_serde() {
    let config = config(json!({"style": "bearer", "token": "${GOV_TOKEN}"}));
    let text = serde_json::to_string(&config).unwrap();
    assert_eq!(text, r#"{"style":"bearer","token":"${GOV_TOKEN}"}"#);
    assert_eq!(serde_json::from_str::<AuthConfig>(&text).unwrap(), config);
    assert_eq!(format!("{}", SecretRef::env("GOV_TOKEN")), "${GOV_TOKEN}");
}

#[test]
fn errors_do_not_quote_secret_values() {
    let err =
        serde_json::from_value::<AuthConfig>(json!({"style": "bearer", "token": 987_654_321}))
            .unwrap_err()
            .to_string();
    assert!(!err.contains("987654321"), "{err}");

    let err = config(json!({"style": "bearer", "token": "${T}"}))
        .resolve(&env(&[("T", "line\nbreak-secret")]))
        .unwrap_err();
    assert!(matches!(err, AuthError::Invalid { field: "token", .. }));
    assert!(!err.to_string().contains("break-secret"), "{err}");
    assert!(!format!("{err:?}").contains("break-secret"), "{err:?}");
}

// ---- config shape and problems ----

#[test]
fn unknown_fields_and_styles_are_rejected() {
    for value in [
        json!({"style": "bearer", "token": "${T}", "extra": 1}),
        json!({"style": "api_key", "name": "k", "value": "${T}", "in": "cookie"}),
        json!({"style": "oauth", "token": "${T}"}),
        json!({"token": "${T}"}),
    ] {
        assert!(
            serde_json::from_value::<AuthConfig>(value.clone()).is_err(),
            "{value}"
        );
    }
}

#[test]
fn problems_name_the_field() {
    let cases = [
        (json!({"style": "bearer", "token": "${1BAD}"}), "token"),
        (json!({"style": "bearer", "token": "${bad-name}"}), "token"),
        (json!({"style": "bearer", "token": ""}), "token"),
        (
            json!({"style": "basic", "username": "a:b", "password": "${P}"}),
            "username",
        ),
        (
            json!({"style": "basic", "username": "", "password": "${P}"}),
            "username",
        ),
        (
            json!({"style": "api_key", "name": "", "value": "${V}"}),
            "name",
        ),
        (
            json!({"style": "api_key", "name": "bad header", "value": "${V}"}),
            "name",
        ),
        (
            json!({"style": "signed_gateway", "app_key": "", "app_secret": "${S}"}),
            "app_key",
        ),
        (
            json!({"style": "signed_gateway", "app_key": "密钥", "app_secret": "${S}"}),
            "app_key",
        ),
    ];
    for (value, field) in cases {
        let config = config(value.clone());
        let problems = config.problems();
        assert_eq!(problems.len(), 1, "{value}: {problems:?}");
        assert_eq!(problems[0].0, field, "{value}");
        let all = [("P", "p"), ("V", "v"), ("S", "s")];
        assert!(config.resolve(&env(&all)).is_err(), "{value}");
    }

    let fine =
        config(json!({"style": "api_key", "name": "bad header", "value": "${V}", "in": "query"}));
    assert!(fine.problems().is_empty());
}
