use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Advance, Page, PageError, PageRequest, param_problems};

/// Page-number pagination: `?page=N&size=S`.
///
/// The cursor is `{"page": N, "skip": K}`: the page to request next and how many of its
/// leading records were already delivered. A partly filled last page is therefore read
/// again on the next poll and only records appended since are handed out: an
/// append-only registry is read exactly once, however often it is polled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageNumberConfig {
    /// Name of the page-number query parameter.
    #[serde(default = "default_page_param")]
    pub page_param: String,
    /// Name of the page-size query parameter.
    #[serde(default = "default_size_param")]
    pub size_param: String,
    /// Records per page to ask for.
    #[serde(default = "super::default_page_size")]
    pub page_size: NonZeroU64,
    /// Number of the first page (1 for most APIs, 0 for some).
    #[serde(default = "default_first_page")]
    pub first_page: u64,
}

fn default_page_param() -> String {
    "page".to_owned()
}
fn default_size_param() -> String {
    "size".to_owned()
}
fn default_first_page() -> u64 {
    1
}

impl Default for PageNumberConfig {
    fn default() -> Self {
        PageNumberConfig {
            page_param: default_page_param(),
            size_param: default_size_param(),
            page_size: super::default_page_size(),
            first_page: default_first_page(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    page: u64,
    skip: u64,
}

impl PageNumberConfig {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        param_problems(&[
            ("page_param", Some(&self.page_param)),
            ("size_param", Some(&self.size_param)),
        ])
    }

    pub(crate) fn start(&self) -> Value {
        json!({"page": self.first_page, "skip": 0})
    }

    fn cursor(&self, cursor: &Value) -> Result<Cursor, PageError> {
        let parsed: Cursor = serde_json::from_value(cursor.clone())
            .map_err(|e| PageError::Cursor(format!("expected {{\"page\", \"skip\"}}: {e}")))?;
        if parsed.page < self.first_page || parsed.skip >= self.page_size.get() {
            return Err(PageError::Cursor(format!(
                "page {} / skip {} is outside this connector's pages",
                parsed.page, parsed.skip
            )));
        }
        Ok(parsed)
    }

    pub(crate) fn request(&self, cursor: &Value) -> Result<PageRequest, PageError> {
        let cursor = self.cursor(cursor)?;
        Ok(PageRequest {
            query: vec![
                (self.page_param.clone(), cursor.page.to_string()),
                (self.size_param.clone(), self.page_size.to_string()),
            ],
            url: None,
        })
    }

    pub(crate) fn advance(&self, cursor: &Value, page: &Page<'_>) -> Result<Advance, PageError> {
        let cursor = self.cursor(cursor)?;
        let size = self.page_size.get();
        let records = page.records.len() as u64;
        if records > size {
            return Err(PageError::Response(format!(
                "the API returned {records} records for a page of {size}"
            )));
        }
        let full = records == size;
        let next = if full {
            json!({"page": cursor.page + 1, "skip": 0})
        } else {
            json!({"page": cursor.page, "skip": records})
        };
        Ok(Advance {
            skip: cursor.skip.min(records) as usize,
            next,
            more: full,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagination::fixture::Response;

    fn pager(size: u64) -> PageNumberConfig {
        PageNumberConfig {
            page_size: NonZeroU64::new(size).unwrap(),
            ..PageNumberConfig::default()
        }
    }

    #[test]
    fn a_full_page_moves_to_the_next_page() {
        let p = pager(10);
        let a = p
            .advance(&p.start(), &Response::records(10).page())
            .unwrap();
        assert_eq!(
            a,
            Advance {
                skip: 0,
                next: json!({"page": 2, "skip": 0}),
                more: true
            }
        );
        assert_eq!(
            p.request(&a.next).unwrap().query,
            vec![("page".into(), "2".into()), ("size".into(), "10".into())]
        );
    }

    #[test]
    fn a_partial_page_is_reread_skipping_what_was_delivered() {
        let p = pager(10);
        let a = p
            .advance(&json!({"page": 3, "skip": 0}), &Response::records(4).page())
            .unwrap();
        assert_eq!(a.next, json!({"page": 3, "skip": 4}));
        assert!(!a.more);
        // Later the page has grown to 7 records: only the last 3 are new.
        let b = p.advance(&a.next, &Response::records(7).page()).unwrap();
        assert_eq!(b.skip, 4);
        assert_eq!(b.next, json!({"page": 3, "skip": 7}));
        // Then it fills up.
        let c = p.advance(&b.next, &Response::records(10).page()).unwrap();
        assert_eq!((c.skip, c.more), (7, true));
        assert_eq!(c.next, json!({"page": 4, "skip": 0}));
    }

    #[test]
    fn malformed_cursors_and_oversized_pages_are_errors() {
        let p = pager(10);
        assert!(p.request(&json!({"page": "x"})).is_err());
        assert!(p.request(&json!({"page": 0, "skip": 0})).is_err());
        assert!(p.request(&json!({"page": 1, "skip": 10})).is_err());
        assert!(
            p.advance(&p.start(), &Response::records(11).page())
                .is_err()
        );
    }

    #[test]
    fn config_problems_are_reported() {
        let p = PageNumberConfig {
            page_param: "p".into(),
            size_param: "p".into(),
            ..PageNumberConfig::default()
        };
        assert_eq!(p.problems().len(), 1);
        assert!(pager(5).problems().is_empty());
    }
}
