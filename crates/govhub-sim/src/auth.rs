//! How each simulated department checks its callers, with demo credentials.
//!
//! The health gateway's request signatures are checked by govhub-connect's own
//! [`verify`](govhub_connect::auth::signed_gateway::verify), so the simulator and the
//! connector cannot drift apart on what a valid signature is.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, Method, Uri, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use govhub_connect::Secret;
use govhub_connect::auth::signed_gateway::{self, DEFAULT_MAX_SKEW_MS};

/// Header carrying the urban management platform's API key.
pub const API_KEY_HEADER: &str = "X-API-Key";

/// App key and secret of a signing gateway (`X-Ca-*` headers, HMAC-SHA256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCredentials {
    /// The app key (`X-Ca-Key`).
    pub app_key: String,
    /// The HMAC secret.
    pub app_secret: String,
}

impl Default for GatewayCredentials {
    fn default() -> GatewayCredentials {
        GatewayCredentials {
            app_key: "govhub-demo".into(),
            app_secret: "demo-health-secret".into(),
        }
    }
}

/// User name and password of HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl Default for BasicCredentials {
    fn default() -> BasicCredentials {
        BasicCredentials {
            username: "govhub".into(),
            password: "demo-civil-password".into(),
        }
    }
}

/// A static API key sent in [`API_KEY_HEADER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyCredentials {
    /// The key.
    pub key: String,
}

impl Default for ApiKeyCredentials {
    fn default() -> ApiKeyCredentials {
        ApiKeyCredentials {
            key: "demo-urban-api-key".into(),
        }
    }
}

/// A static bearer token sent as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerCredentials {
    /// The token.
    pub token: String,
}

impl Default for BearerCredentials {
    fn default() -> BearerCredentials {
        BearerCredentials {
            token: "demo-community-token".into(),
        }
    }
}

/// What a caller must present to a department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing (the education registry sits on the internal network).
    None,
    /// Signed gateway requests.
    SignedGateway(GatewayCredentials),
    /// HTTP basic authentication.
    Basic(BasicCredentials),
    /// An API key in a header.
    ApiKey(ApiKeyCredentials),
}

/// Byte comparison whose time does not depend on where the inputs differ, as a real
/// server's would be.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request carries the right `Authorization: Basic` credentials.
pub(crate) fn basic_ok(headers: &HeaderMap, expected: &BasicCredentials) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
    else {
        return false;
    };
    let wanted = format!("{}:{}", expected.username, expected.password);
    same(&given, wanted.as_bytes())
}

/// Whether the request carries the right API key.
pub(crate) fn api_key_ok(headers: &HeaderMap, expected: &ApiKeyCredentials) -> bool {
    headers
        .get(API_KEY_HEADER)
        .is_some_and(|v| same(v.as_bytes(), expected.key.as_bytes()))
}

/// Whether the request carries the right `Authorization: Bearer` token (the scheme
/// name is case-insensitive, as RFC 9110 says).
pub(crate) fn bearer_ok(headers: &HeaderMap, expected: &BearerCredentials) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, token)| same(token.trim().as_bytes(), expected.token.as_bytes()))
}

/// Checks signed gateway requests and remembers their nonces against replay.
#[derive(Debug)]
pub(crate) struct GatewayVerifier {
    credentials: GatewayCredentials,
    /// Nonces of authentic requests with their arrival time (Unix ms).
    nonces: Mutex<HashMap<String, i64>>,
}

impl GatewayVerifier {
    /// A verifier accepting `credentials`.
    pub(crate) fn new(credentials: GatewayCredentials) -> GatewayVerifier {
        GatewayVerifier {
            credentials,
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` for an authentic request; otherwise a message safe to return to the client.
    pub(crate) fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(), String> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let secret_for = |key: &str| {
            (key == self.credentials.app_key)
                .then(|| Secret::new(self.credentials.app_secret.clone()))
        };
        let mut nonces = self
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Nonces older than twice the allowed skew can no longer come with a valid
        // timestamp, so forgetting them keeps memory bounded without allowing replay.
        if nonces.len() > 10_000 {
            let horizon = now_ms - 2 * DEFAULT_MAX_SKEW_MS as i64;
            nonces.retain(|_, at| *at >= horizon);
        }
        let mut seen = |nonce: &str| nonces.insert(nonce.to_owned(), now_ms).is_some();
        signed_gateway::verify(
            method.as_str(),
            path_and_query,
            headers,
            &secret_for,
            now_ms,
            DEFAULT_MAX_SKEW_MS,
            &mut seen,
        )
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_and_api_key_accept_only_the_configured_credentials() {
        let basic = BasicCredentials::default();
        let mut headers = HeaderMap::new();
        assert!(!basic_ok(&headers, &basic));
        let good = format!("Basic {}", STANDARD.encode("govhub:demo-civil-password"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&good).unwrap_or(HeaderValue::from_static("")),
        );
        assert!(basic_ok(&headers, &basic));
        let bad = format!("Basic {}", STANDARD.encode("govhub:wrong"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&bad).unwrap_or(HeaderValue::from_static("")),
        );
        assert!(!basic_ok(&headers, &basic));

        let key = ApiKeyCredentials::default();
        headers.insert(
            API_KEY_HEADER,
            HeaderValue::from_static("demo-urban-api-key"),
        );
        assert!(api_key_ok(&headers, &key));
        headers.insert(
            API_KEY_HEADER,
            HeaderValue::from_static("demo-urban-api-kez"),
        );
        assert!(!api_key_ok(&headers, &key));
    }

    #[test]
    fn bearer_accepts_only_the_configured_token() {
        let bearer = BearerCredentials::default();
        let mut headers = HeaderMap::new();
        assert!(!bearer_ok(&headers, &bearer));
        for (value, ok) in [
            ("Bearer demo-community-token", true),
            ("bearer demo-community-token", true),
            ("Bearer demo-community-tokem", false),
            ("Bearer ", false),
            ("Basic demo-community-token", false),
            ("demo-community-token", false),
        ] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer_ok(&headers, &bearer), ok, "{value}");
        }
    }
}
