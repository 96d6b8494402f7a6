use std::time::SystemTime;

use govhub_core::error_chain;
use reqwest::header::HeaderMap;
use reqwest::{Client, Response, Url};
use serde_json::Value;

use crate::metrics;
use crate::redirect::{FollowRedirects, is_redirect, next_hop};
use crate::retry::{is_transient_status, retry_after, with_retries};
use crate::{Auth, BusinessStatus, ConnectError, RateLimiter, Retry, RetryPolicy};
use tracing::Instrument;

/// The URL as it may appear in logs and errors: no user info, no query (either can carry
/// credentials).
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}

/// One response: where it came from, its headers, and its body with the records array
/// moved out.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The URL that answered, after redirects.
    pub url: Url,
    /// Response headers (`Link` and the like).
    pub headers: HeaderMap,
    /// The JSON body; the records array is moved out, leaving `null` in its place.
    pub body: Value,
    /// The records, in the API's order.
    pub records: Vec<Value>,
}

/// How one connector's requests are sent: the client, credentials, pacing, retries and
/// the response size cap.
#[derive(Debug)]
pub(crate) struct Transport {
    pub client: Client,
    pub auth: Option<Auth>,
    pub limiter: Option<RateLimiter>,
    pub retry: RetryPolicy,
    pub max_response_bytes: u64,
    pub redirects: FollowRedirects,
}

/// Which failures of one request are worth another attempt, and when.
fn classify(error: &ConnectError) -> Retry {
    match error {
        ConnectError::Transport { .. } | ConnectError::Envelope { .. } => Retry::After(None),
        ConnectError::Status {
            status,
            retry_after,
            ..
        } if is_transient_status(*status) => Retry::After(*retry_after),
        _ => Retry::No,
    }
}

/// GETs one page: `url` with `query` appended to its own query; transient failures
/// (connection errors, timeouts, 429, 5xx, malformed bodies) are retried with back-off,
/// honouring `Retry-After`.
pub(crate) async fn fetch_page(
    transport: &Transport,
    connector: &str,
    url: &Url,
    query: &[(String, String)],
    status: Option<&BusinessStatus>,
    records_pointer: &str,
) -> Result<Fetched, ConnectError> {
    let started = tokio::time::Instant::now();
    let outcome = with_retries(
        &transport.retry,
        |attempt| {
            // Counted as each retry starts, so a long back-off shows while it lasts.
            if attempt > 0 {
                metrics::retry(connector);
            }
            fetch_once(transport, connector, url, query, status, records_pointer)
        },
        classify,
    )
    .instrument(tracing::warn_span!("fetch", connector))
    .await;
    metrics::fetch_duration(connector, started.elapsed());
    outcome.into_result()
}

async fn fetch_once(
    transport: &Transport,
    connector: &str,
    url: &Url,
    query: &[(String, String)],
    status: Option<&BusinessStatus>,
    records_pointer: &str,
) -> Result<Fetched, ConnectError> {
    // Errors name the URL asked for, without its query: a hop's URL is the API's text.
    let shown = display_url(url);
    let transport_err = |e: reqwest::Error| ConnectError::Transport {
        connector: connector.to_owned(),
        url: shown.clone(),
        timeout: e.is_timeout(),
        // Without the URL: with query-string API keys it carries a credential.
        message: error_chain(&e.without_url()),
    };
    let envelope = |message: String| ConnectError::Envelope {
        connector: connector.to_owned(),
        url: shown.clone(),
        message,
    };
    let mut response = send(transport, connector, url, query, &transport_err).await?;
    let http_status = response.status();
    metrics::request(connector, Some(http_status.as_u16()));
    if !http_status.is_success() {
        return Err(ConnectError::Status {
            connector: connector.to_owned(),
            url: shown.clone(),
            status: http_status.as_u16(),
            retry_after: retry_after(response.headers(), SystemTime::now()),
        });
    }
    let too_large = || ConnectError::TooLarge {
        connector: connector.to_owned(),
        url: shown.clone(),
        limit: transport.max_response_bytes,
    };
    if response
        .content_length()
        .is_some_and(|n| n > transport.max_response_bytes)
    {
        return Err(too_large());
    }
    let answered = response.url().clone();
    let headers = response.headers().clone();
    // Read chunk by chunk so an endless or huge body stops at the cap, not in memory.
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_err)? {
        if (bytes.len() + chunk.len()) as u64 > transport.max_response_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let mut body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| envelope(format!("response is not JSON: {e}")))?;
    if let Some(status) = status {
        check_business_status(connector, &shown, &body, status)?;
    }
    let records = match body.pointer_mut(records_pointer) {
        Some(Value::Array(records)) => std::mem::take(records),
        Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(envelope(format!(
                "{records_pointer:?} in the response is not an array"
            )));
        }
        None => {
            return Err(envelope(format!(
                "response has no records at {records_pointer:?}"
            )));
        }
    };
    if let Some(slot) = body.pointer_mut(records_pointer) {
        *slot = Value::Null;
    }
    Ok(Fetched {
        url: answered,
        headers,
        body,
        records,
    })
}

/// Sends the GET of `url` with `query` appended and returns the response that is not a
/// redirect. The client follows no redirect by itself (see [`crate::redirect`]): each hop
/// is a request of its own, paced, and authenticated for its own URL, only on the
/// connector's origin.
async fn send(
    transport: &Transport,
    connector: &str,
    url: &Url,
    query: &[(String, String)],
    transport_err: &(dyn Fn(reqwest::Error) -> ConnectError + Sync),
) -> Result<Response, ConnectError> {
    let mut current = url.clone();
    let mut hops = 0;
    loop {
        // Paced before signing, so a long wait cannot make a signature's timestamp stale.
        if let Some(limiter) = &transport.limiter {
            limiter.acquire().await;
        }
        let mut builder = transport
            .client
            .get(current.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        // A redirect's Location is the whole next URL, query included.
        if hops == 0 {
            builder = builder.query(query);
        }
        let mut request = builder.build().map_err(transport_err)?;
        // Signing covers the final URL, so credentials go on last.
        if let Some(auth) = &transport.auth {
            auth.apply(&mut request).map_err(|e| ConnectError::Config {
                connector: connector.to_owned(),
                message: e.to_string(),
            })?;
        }
        let response = match transport.client.execute(request).await {
            Ok(response) => response,
            Err(e) => {
                metrics::request(connector, None);
                return Err(transport_err(e));
            }
        };
        let status = response.status();
        if !is_redirect(status) {
            return Ok(response);
        }
        metrics::request(connector, Some(status.as_u16()));
        match next_hop(transport.redirects, &current, response.headers(), hops) {
            Ok(next) => {
                current = next;
                hops += 1;
            }
            Err(refusal) => {
                return Err(ConnectError::Redirect {
                    connector: connector.to_owned(),
                    url: display_url(&current),
                    status: status.as_u16(),
                    refusal,
                });
            }
        }
    }
}

fn check_business_status(
    connector: &str,
    url: &str,
    body: &Value,
    status: &BusinessStatus,
) -> Result<(), ConnectError> {
    let code = body.pointer(&status.pointer);
    if code == Some(&status.ok) {
        return Ok(());
    }
    let message = status
        .message
        .as_deref()
        .and_then(|p| body.pointer(p))
        .map(|m| match m {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| "(no message)".to_owned());
    Err(ConnectError::Business {
        connector: connector.to_owned(),
        url: url.to_owned(),
        code: capped(&code.map_or_else(|| "missing".to_owned(), Value::to_string)),
        message: capped(&message),
    })
}

/// Longest text from an API that an error (and so a log line or the dashboard) shows.
const MAX_SHOWN: usize = 300;

/// `text` cut to [`MAX_SHOWN`] bytes at a character boundary, saying how long it was:
/// an API's error message can be megabytes.
fn capped(text: &str) -> String {
    if text.len() <= MAX_SHOWN {
        return text.to_owned();
    }
    let mut end = MAX_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_api_messages_are_cut() {
        assert_eq!(capped("short"), "short");
        let long = "错".repeat(1_000_000);
        let shown = capped(&long);
        assert!(shown.len() < MAX_SHOWN + 40, "{}", shown.len());
        assert!(shown.ends_with("(3000000 bytes in all)"), "{shown}");
    }

    #[test]
    fn displayed_urls_carry_no_credentials() {
        let url = Url::parse("https://user:secret@api.example/v1/x?key=secret&page=2").unwrap();
        let shown = display_url(&url);
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(shown, "https://api.example/v1/x");
    }
}
