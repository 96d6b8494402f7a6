//! Pagination styles, one file each. A style turns a cursor into a request (query
//! parameters, or a whole URL the API handed out) and, after the page arrives, looks at
//! the whole response (body, headers, records) to say which of its records are new and
//! where to go next.
//!
//! Every style keeps the same promise: against an append-only (or, for
//! `updated_since`, an update-stamped) API, each record is handed out once, however often
//! the connector polls, and records added after it caught up are picked up on a later
//! poll. A cursor is only a position; the source commits it when the batch is acked.

mod cursor_token;
mod link_header;
mod offset_limit;
mod page_number;
mod updated_since;

use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use cursor_token::CursorTokenConfig;
pub use link_header::LinkHeaderConfig;
pub use offset_limit::OffsetLimitConfig;
pub use page_number::PageNumberConfig;
pub use updated_since::UpdatedSinceConfig;

/// Records per page when a style's `page_size` is not set.
fn default_page_size() -> std::num::NonZeroU64 {
    std::num::NonZeroU64::new(100).unwrap_or(std::num::NonZeroU64::MIN)
}

/// Which pagination style a connector uses, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginationConfig {
    /// `?page=N&size=S`, pages numbered from `first_page`.
    PageNumber(PageNumberConfig),
    /// `?offset=O&limit=L`.
    OffsetLimit(OffsetLimitConfig),
    /// Follows `Link: <url>; rel="next"` response headers (RFC 8288).
    LinkHeader(LinkHeaderConfig),
    /// An opaque token from the body, sent back as a query parameter.
    CursorToken(CursorTokenConfig),
    /// Incremental sync: records updated at or after the last delivered one.
    UpdatedSince(UpdatedSinceConfig),
}

impl PaginationConfig {
    /// Every problem with the settings, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        match self {
            PaginationConfig::PageNumber(c) => c.problems(),
            PaginationConfig::OffsetLimit(c) => c.problems(),
            PaginationConfig::LinkHeader(c) => c.problems(),
            PaginationConfig::CursorToken(c) => c.problems(),
            PaginationConfig::UpdatedSince(c) => c.problems(),
        }
    }

    /// The cursor of a backfill from `timestamp`; only incremental styles have one.
    pub fn since(&self, timestamp: &str) -> Result<Value, String> {
        match self {
            PaginationConfig::UpdatedSince(c) => c.since(timestamp),
            _ => Err(
                "--since needs updated_since pagination; without it, backfill re-reads everything"
                    .to_owned(),
            ),
        }
    }

    /// The cursor a connector starts from when it has never committed one.
    pub fn start(&self) -> Value {
        match self {
            PaginationConfig::PageNumber(c) => c.start(),
            PaginationConfig::OffsetLimit(c) => c.start(),
            PaginationConfig::LinkHeader(c) => c.start(),
            PaginationConfig::CursorToken(c) => c.start(),
            PaginationConfig::UpdatedSince(c) => c.start(),
        }
    }

    /// The request that reads the page at `cursor`.
    pub(crate) fn request(&self, cursor: &Value) -> Result<PageRequest, PageError> {
        match self {
            PaginationConfig::PageNumber(c) => c.request(cursor),
            PaginationConfig::OffsetLimit(c) => c.request(cursor),
            PaginationConfig::LinkHeader(c) => c.request(cursor),
            PaginationConfig::CursorToken(c) => c.request(cursor),
            PaginationConfig::UpdatedSince(c) => c.request(cursor),
        }
    }

    /// What `page`, read at `cursor`, means: which records are new, and the next cursor.
    pub(crate) fn advance(&self, cursor: &Value, page: &Page<'_>) -> Result<Advance, PageError> {
        match self {
            PaginationConfig::PageNumber(c) => c.advance(cursor, page),
            PaginationConfig::OffsetLimit(c) => c.advance(cursor, page),
            PaginationConfig::LinkHeader(c) => c.advance(cursor, page),
            PaginationConfig::CursorToken(c) => c.advance(cursor, page),
            PaginationConfig::UpdatedSince(c) => c.advance(cursor, page),
        }
    }
}

/// How to fetch one page.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct PageRequest {
    /// Query parameters appended to the URL's own query.
    pub query: Vec<(String, String)>,
    /// An absolute URL to GET instead of the connector's `url` (a `Link` target); the
    /// source refuses one on another origin, since credentials go with the request.
    pub url: Option<Url>,
}

/// One response, as a style sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page<'a> {
    /// The URL that answered (after redirects): the base of relative links.
    pub url: &'a Url,
    /// Response headers.
    pub headers: &'a HeaderMap,
    /// The JSON body, with the records array moved out into `records`.
    pub body: &'a Value,
    /// The records, in the API's order.
    pub records: &'a [Value],
}

/// The outcome of reading one page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Advance {
    /// Leading records of the page that an earlier, acked batch already delivered.
    pub skip: usize,
    /// The cursor after this page.
    pub next: Value,
    /// Whether another page may follow right away.
    pub more: bool,
}

/// Why a style could not plan or read a page. The source turns it into a
/// [`ConnectError`](crate::ConnectError) naming the connector; messages never quote
/// record contents, tokens or URLs' queries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PageError {
    /// The stored cursor is not one this style writes (hand-edited, or the style changed).
    Cursor(String),
    /// The response does not let the style go on: a malformed `Link` header, a token of
    /// the wrong type, more records than asked for.
    Response(String),
    /// The API cannot be walked safely with this config, e.g. `updated_since` without
    /// `id_param` against more than a page of records sharing one timestamp.
    Config(String),
}

/// Whether `name` can be sent as a query parameter name.
fn blank(name: &str) -> bool {
    name.trim().is_empty()
}

/// Reports `(field, "must not be empty")` for each blank name and
/// `(field, "must differ from <other>")` for each name used twice.
fn param_problems(params: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (i, (field, name)) in params.iter().enumerate() {
        let Some(name) = name else { continue };
        if blank(name) {
            problems.push(((*field).to_owned(), "must not be empty".to_owned()));
            continue;
        }
        if let Some((other, _)) = params[..i].iter().find(|(_, n)| *n == Some(*name)) {
            problems.push(((*field).to_owned(), format!("must differ from {other}")));
        }
    }
    problems
}

/// A JSON pointer into a record or body: starting with `/` (the whole document is never
/// the right answer for these fields).
fn is_inner_pointer(pointer: &str) -> bool {
    pointer.starts_with('/')
}

/// A query value given in TOML as a string, an integer or a boolean (`limit = 50` and
/// `limit = "50"` both work).
fn query_values<'de, D>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Flag(bool),
    }
    let raw = std::collections::BTreeMap::<String, Scalar>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::Text(s) => s,
                Scalar::Integer(i) => i.to_string(),
                Scalar::Flag(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// A JSON scalar as a query value: strings as they are, numbers in JSON form.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_problems_report_blank_and_duplicate_names() {
        let p = param_problems(&[
            ("a", Some("x")),
            ("b", Some(" ")),
            ("c", None),
            ("d", Some("x")),
        ]);
        assert_eq!(
            p,
            vec![
                ("b".to_owned(), "must not be empty".to_owned()),
                ("d".to_owned(), "must differ from a".to_owned()),
            ]
        );
    }

    #[test]
    fn every_style_parses_from_toml_shaped_json() {
        for style in [
            serde_json::json!({"style": "page_number"}),
            serde_json::json!({"style": "offset_limit"}),
            serde_json::json!({"style": "link_header", "first_query": {"limit": 50, "q": "x"}}),
            serde_json::json!({"style": "cursor_token", "token_param": "cursor", "next_token": "/data/next_cursor"}),
            serde_json::json!({"style": "updated_since", "param": "updated_since", "timestamp_field": "/updated_at", "id_field": "/case_id"}),
        ] {
            let parsed: PaginationConfig = serde_json::from_value(style.clone()).unwrap();
            assert!(parsed.problems().is_empty(), "{style}");
            let again: PaginationConfig =
                serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
            assert_eq!(again, parsed);
        }
        assert!(
            serde_json::from_value::<PaginationConfig>(serde_json::json!({"style": "bogus"}))
                .is_err()
        );
    }
}

/// Responses for the styles' unit tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    /// An owned response that lends itself out as a [`Page`].
    #[derive(Debug)]
    pub(crate) struct Response {
        pub url: Url,
        pub headers: HeaderMap,
        pub body: Value,
        pub records: Vec<Value>,
    }

    impl Response {
        /// `n` records `{"id": i}` from `http://api.test/list`, no headers, body `{}`.
        pub(crate) fn records(n: usize) -> Self {
            Response {
                url: Url::parse("http://api.test/list").unwrap(),
                headers: HeaderMap::new(),
                body: serde_json::json!({}),
                records: (0..n).map(|i| serde_json::json!({"id": i})).collect(),
            }
        }

        /// The page a style sees.
        pub(crate) fn page(&self) -> Page<'_> {
            Page {
                url: &self.url,
                headers: &self.headers,
                body: &self.body,
                records: &self.records,
            }
        }
    }
}
