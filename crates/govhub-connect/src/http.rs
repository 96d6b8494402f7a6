use reqwest::header::HeaderMap;
use reqwest::{Client, Url};
use serde_json::Value;

use crate::{BusinessStatus, ConnectError};

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

/// GETs one page: `url` with `query` appended to its own query.
pub(crate) async fn fetch_page(
    client: &Client,
    connector: &str,
    url: &Url,
    query: &[(String, String)],
    status: Option<&BusinessStatus>,
    records_pointer: &str,
) -> Result<Fetched, ConnectError> {
    let shown = display_url(url);
    let transport = |e: reqwest::Error| ConnectError::Transport {
        connector: connector.to_owned(),
        url: shown.clone(),
        timeout: e.is_timeout(),
        message: error_chain(&e),
    };
    let envelope = |message: String| ConnectError::Envelope {
        connector: connector.to_owned(),
        url: shown.clone(),
        message,
    };
    let response = client
        .get(url.clone())
        .query(query)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(transport)?;
    let http_status = response.status();
    if !http_status.is_success() {
        return Err(ConnectError::Status {
            connector: connector.to_owned(),
            url: shown.clone(),
            status: http_status.as_u16(),
        });
    }
    let answered = response.url().clone();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(transport)?;
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
        code: code.map_or_else(|| "missing".to_owned(), Value::to_string),
        message,
    })
}

/// The error and its causes on one line: reqwest's top-level message alone ("error
/// sending request") does not say what happened.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displayed_urls_carry_no_credentials() {
        let url = Url::parse("https://user:secret@api.example/v1/x?key=secret&page=2").unwrap();
        let shown = display_url(&url);
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(shown, "https://api.example/v1/x");
    }
}
