//! Pagination styles, one file each. A style turns a cursor into query parameters and,
//! after a page arrives, says which of its records are new and where to go next.

mod page_number;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use page_number::PageNumberConfig;

use crate::ConnectError;

/// Which pagination style a connector uses, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginationConfig {
    /// `?page=N&size=S`, pages numbered from `first_page`.
    PageNumber(PageNumberConfig),
}

impl PaginationConfig {
    /// Every problem with the settings, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        match self {
            PaginationConfig::PageNumber(c) => c.problems(),
        }
    }

    /// The cursor a connector starts from when it has never committed one.
    pub(crate) fn start(&self) -> Value {
        match self {
            PaginationConfig::PageNumber(c) => c.start(),
        }
    }

    /// Query parameters that request the page at `cursor`.
    pub(crate) fn query(&self, cursor: &Value) -> Result<Vec<(String, String)>, String> {
        match self {
            PaginationConfig::PageNumber(c) => c.query(cursor),
        }
    }

    /// What a page of `records` records, fetched at `cursor`, means for the cursor.
    pub(crate) fn advance(&self, cursor: &Value, records: usize) -> Result<Advance, String> {
        match self {
            PaginationConfig::PageNumber(c) => c.advance(cursor, records),
        }
    }
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

/// Wraps a style's cursor complaint as an error of the connector.
pub(crate) fn cursor_error(connector: &str, url: &str, message: String) -> ConnectError {
    ConnectError::Envelope {
        connector: connector.to_owned(),
        url: url.to_owned(),
        message: format!("bad cursor: {message}"),
    }
}
