//! `style = "signed_gateway"`: HMAC-SHA256 request signing in the style of the API
//! gateways in front of Chinese government department systems (the `X-Ca-*` family).
//!
//! This comment is the specification; the simulated departments verify with [`verify`].
//!
//! Headers the client adds to each request:
//!
//! | header | value |
//! |---|---|
//! | `X-Ca-Key` | the app key |
//! | `X-Ca-Timestamp` | Unix time of signing in milliseconds, decimal, e.g. `1700000000000` |
//! | `X-Ca-Nonce` | unique per request: 32 lowercase hex digits (a v4 UUID without dashes) |
//! | `X-Ca-Signature-Method` | `HmacSHA256` |
//! | `X-Ca-Signature` | `base64(HMAC-SHA256(key = app_secret as UTF-8, string_to_sign))`, standard alphabet with `=` padding |
//!
//! `string_to_sign` is six lines joined by `\n` (no trailing newline):
//!
//! ```text
//! METHOD          the HTTP method as sent, e.g. GET
//! path            the URL path as sent on the request line, still percent-encoded
//!                 and not normalized; "/" when empty
//! canonical_query see below; an empty line when there is no query
//! app_key
//! timestamp       the X-Ca-Timestamp value
//! nonce           the X-Ca-Nonce value
//! ```
//!
//! `canonical_query`, from the raw query (after `?`, without a `#fragment`):
//! 1. split on `&`, dropping empty pieces; split each piece at its first `=` into name
//!    and value (no `=`: the value is empty);
//! 2. decode name and value as `application/x-www-form-urlencoded`: `+` is a space,
//!    then `%XX` is decoded, then the bytes are read as UTF-8 (invalid sequences become
//!    U+FFFD);
//! 3. sort the pairs by name, then by value, comparing UTF-8 bytes;
//! 4. percent-encode name and value per RFC 3986: every byte other than `A-Z a-z 0-9
//!    - . _ ~` becomes `%XX` with uppercase hex;
//! 5. join as `name=value` with `&`.
//!
//! So `?size=10&page=2&q=a+b` and `?page=2&q=a%20b&size=10` both give
//! `page=2&q=a%20b&size=10`: proxies and HTTP clients may reorder or re-encode a query
//! without breaking the signature, while any change to a name or value breaks it.
//!
//! The body and other headers are not signed: connectors only GET list endpoints.
//!
//! The server ([`verify`]) rejects, in this order: a missing or non-ASCII `X-Ca-*`
//! header; a signature method other than `HmacSHA256`; an unknown app key; a timestamp
//! that is not a decimal integer or is more than `max_skew_ms` (default 5 minutes) away
//! from its clock; a nonce that is not 1 to 64 characters of `A-Z a-z 0-9 -`; a wrong
//! signature (compared in constant time); and last, a nonce already seen. Nonces are
//! only recorded for requests that are authentic, so forged requests cannot burn them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{AuthError, resolve_secret};
use crate::secret::{Secret, SecretRef};

/// Header carrying the app key.
pub const HEADER_KEY: HeaderName = HeaderName::from_static("x-ca-key");
/// Header carrying the signing time, Unix milliseconds.
pub const HEADER_TIMESTAMP: HeaderName = HeaderName::from_static("x-ca-timestamp");
/// Header carrying the per-request nonce.
pub const HEADER_NONCE: HeaderName = HeaderName::from_static("x-ca-nonce");
/// Header naming the signature algorithm.
pub const HEADER_SIGNATURE_METHOD: HeaderName = HeaderName::from_static("x-ca-signature-method");
/// Header carrying the base64 signature.
pub const HEADER_SIGNATURE: HeaderName = HeaderName::from_static("x-ca-signature");
/// The only supported value of `X-Ca-Signature-Method`.
pub const SIGNATURE_METHOD: &str = "HmacSHA256";
/// How far a request's timestamp may be from the server's clock unless configured.
pub const DEFAULT_MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// RFC 3986 section 2.3: only unreserved characters stay as they are.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Config of gateway request signing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedGatewayConfig {
    /// The app key the gateway issued; an identifier, not a secret.
    pub app_key: String,
    /// The app secret the gateway issued, normally `${VAR}`.
    pub app_secret: SecretRef,
}

impl SignedGatewayConfig {
    /// Problems with the non-secret fields, as `(field, message)`.
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        if self.app_key.is_empty() {
            vec![("app_key", "must not be empty".to_owned())]
        } else if HeaderValue::from_str(&self.app_key).is_err() || !self.app_key.is_ascii() {
            vec![(
                "app_key",
                "must be printable ASCII (it is sent as a header)".to_owned(),
            )]
        } else {
            Vec::new()
        }
    }

    /// Reads the app secret.
    pub fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SignedGateway, AuthError> {
        if let Some((field, message)) = self.problems().into_iter().next() {
            return Err(AuthError::Invalid { field, message });
        }
        let key_header = HeaderValue::from_str(&self.app_key).map_err(|_| AuthError::Invalid {
            field: "app_key",
            message: "must be printable ASCII (it is sent as a header)".to_owned(),
        })?;
        Ok(SignedGateway {
            app_key: self.app_key.clone(),
            key_header,
            app_secret: resolve_secret("app_secret", &self.app_secret, env)?,
        })
    }
}

/// Resolved gateway credentials.
#[derive(Debug, Clone)]
pub struct SignedGateway {
    /// The app key.
    app_key: String,
    /// The app key as a header, validated once at resolve time.
    key_header: HeaderValue,
    /// The HMAC key.
    app_secret: Secret,
}

impl SignedGateway {
    /// Signs `request` as of now with a fresh nonce. Call it after the URL is final.
    pub fn apply(&self, request: &mut reqwest::Request) -> Result<(), AuthError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        if now_ms < 0 {
            return Err(AuthError::Clock);
        }
        self.apply_at(request, now_ms, &new_nonce());
        Ok(())
    }

    /// Signs `request` with a given timestamp and nonce, for reproducible tests.
    pub fn apply_at(&self, request: &mut reqwest::Request, timestamp_ms: i64, nonce: &str) {
        let signature = sign(
            request.method().as_str(),
            request.url(),
            &self.app_key,
            &self.app_secret,
            timestamp_ms,
            nonce,
        );
        let headers = request.headers_mut();
        headers.insert(HEADER_KEY, self.key_header.clone());
        headers.insert(HEADER_TIMESTAMP, HeaderValue::from(timestamp_ms));
        headers.insert(
            HEADER_SIGNATURE_METHOD,
            HeaderValue::from_static(SIGNATURE_METHOD),
        );
        // Both are ASCII by construction (a caller-given nonce is only used in tests);
        // on the impossible failure the header is left out and the server rejects the
        // request, which is better than panicking in a poll loop.
        if let Ok(value) = HeaderValue::from_str(nonce) {
            headers.insert(HEADER_NONCE, value);
        }
        if let Ok(value) = HeaderValue::from_str(&signature) {
            headers.insert(HEADER_SIGNATURE, value);
        }
    }
}

/// A fresh nonce: 32 lowercase hex digits from a random (v4) UUID.
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The `X-Ca-Signature` value for a request to `url`.
pub fn sign(
    method: &str,
    url: &Url,
    app_key: &str,
    app_secret: &Secret,
    timestamp_ms: i64,
    nonce: &str,
) -> String {
    let text = string_to_sign(
        method,
        url.path(),
        url.query().unwrap_or(""),
        app_key,
        timestamp_ms,
        nonce,
    );
    STANDARD.encode(mac(app_secret, &text).finalize().into_bytes())
}

/// The text that is signed; see the module documentation. `query` is the raw query
/// without `?`.
pub fn string_to_sign(
    method: &str,
    path: &str,
    query: &str,
    app_key: &str,
    timestamp_ms: i64,
    nonce: &str,
) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let query = canonical_query(query);
    format!("{method}\n{path}\n{query}\n{app_key}\n{timestamp_ms}\n{nonce}")
}

/// The raw query (without `?`) in canonical form: decoded, sorted, RFC 3986 encoded.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (form_decode(name), form_decode(value))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(name, UNRESERVED),
                utf8_percent_encode(value, UNRESERVED)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `application/x-www-form-urlencoded` decoding of one name or value, as HTTP clients
/// (reqwest's `.query()`) encode them.
fn form_decode(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// HMAC-SHA256 keyed with `secret`, fed with `text`.
fn mac(secret: &Secret, text: &str) -> Hmac<Sha256> {
    // HMAC hashes keys longer than a block and pads shorter ones, so every key length
    // is valid and this cannot fail; `new_from_slice` is merely the generic interface.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(text.as_bytes());
    mac
}

/// Why [`verify`] rejected a request. Messages are safe to return to the client: they
/// name headers, never the expected signature or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but not in the required form.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// `X-Ca-Signature-Method` is not `HmacSHA256`.
    #[error("unsupported signature method; expected HmacSHA256")]
    UnsupportedMethod,
    /// No secret is known for the app key.
    #[error("unknown app key {0}")]
    UnknownKey(String),
    /// The timestamp is too far from the server's clock.
    #[error("timestamp is {skew_ms} ms away from the server clock (allowed: {max_skew_ms} ms)")]
    StaleTimestamp {
        /// Distance between the request's timestamp and now.
        skew_ms: u64,
        /// The allowed distance.
        max_skew_ms: u64,
    },
    /// The signature does not match the request.
    #[error("signature does not match the request")]
    BadSignature,
    /// The nonce was used by an earlier request.
    #[error("nonce already used")]
    ReplayedNonce,
}

/// Checks a signed request on the server side.
///
/// `path_and_query` is the request target as received (`/v1/list?page=2`).
/// `secret_for` returns the app secret of an app key. `seen_nonce` is called only for an
/// otherwise valid request; it must record the nonce and return whether it was already
/// recorded (keep nonces for at least twice `max_skew_ms`).
pub fn verify(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    secret_for: &dyn Fn(&str) -> Option<Secret>,
    now_ms: i64,
    max_skew_ms: u64,
    seen_nonce: &mut dyn FnMut(&str) -> bool,
) -> Result<(), VerifyError> {
    let header = |name: &HeaderName, shown: &'static str| {
        headers
            .get(name)
            .ok_or(VerifyError::MissingHeader(shown))?
            .to_str()
            .map_err(|_| VerifyError::MalformedHeader(shown))
    };
    let app_key = header(&HEADER_KEY, "X-Ca-Key")?;
    let timestamp = header(&HEADER_TIMESTAMP, "X-Ca-Timestamp")?;
    let nonce = header(&HEADER_NONCE, "X-Ca-Nonce")?;
    let method_header = header(&HEADER_SIGNATURE_METHOD, "X-Ca-Signature-Method")?;
    let signature = header(&HEADER_SIGNATURE, "X-Ca-Signature")?;

    if method_header != SIGNATURE_METHOD {
        return Err(VerifyError::UnsupportedMethod);
    }
    let secret = secret_for(app_key).ok_or_else(|| VerifyError::UnknownKey(app_key.to_owned()))?;
    // Digits only: `i64::from_str` would also take a sign, which no client sends.
    let timestamp_ms: i64 = Some(timestamp)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(VerifyError::MalformedHeader("X-Ca-Timestamp"))?;
    let skew_ms = now_ms.abs_diff(timestamp_ms);
    if skew_ms > max_skew_ms {
        return Err(VerifyError::StaleTimestamp {
            skew_ms,
            max_skew_ms,
        });
    }
    if nonce.is_empty()
        || nonce.len() > 64
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(VerifyError::MalformedHeader("X-Ca-Nonce"));
    }

    let without_fragment = path_and_query.split('#').next().unwrap_or("");
    let (path, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    let text = string_to_sign(method, path, query, app_key, timestamp_ms, nonce);
    let given = STANDARD
        .decode(signature)
        .map_err(|_| VerifyError::BadSignature)?;
    // `verify_slice` compares in constant time, so response timing does not reveal how
    // much of a forged signature was right.
    mac(&secret, &text)
        .verify_slice(&given)
        .map_err(|_| VerifyError::BadSignature)?;

    if seen_nonce(nonce) {
        return Err(VerifyError::ReplayedNonce);
    }
    Ok(())
}
