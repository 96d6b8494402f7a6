use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Advance, Page, PageError, PageRequest, param_problems};

/// Offset pagination: `?offset=O&limit=L`.
///
/// The cursor is `{"offset": N}`: how many records were delivered, which is also the
/// offset of the first one not yet delivered. Unlike page numbers, an offset can point
/// into the middle of a page, so after a partly filled last page the next poll asks for
/// `offset=N` and gets exactly the records appended since, with nothing to skip. It also
/// stays exact when the API serves fewer records than `limit` (a server-side cap): a
/// short page only ends the poll early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetLimitConfig {
    /// Name of the offset query parameter.
    #[serde(default = "default_offset_param")]
    pub offset_param: String,
    /// Name of the page-size query parameter.
    #[serde(default = "default_limit_param")]
    pub limit_param: String,
    /// Records per page to ask for (the `limit` value).
    #[serde(default = "super::default_page_size")]
    pub page_size: NonZeroU64,
}

fn default_offset_param() -> String {
    "offset".to_owned()
}
fn default_limit_param() -> String {
    "limit".to_owned()
}

impl Default for OffsetLimitConfig {
    fn default() -> Self {
        OffsetLimitConfig {
            offset_param: default_offset_param(),
            limit_param: default_limit_param(),
            page_size: super::default_page_size(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    offset: u64,
}

impl OffsetLimitConfig {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        param_problems(&[
            ("offset_param", Some(&self.offset_param)),
            ("limit_param", Some(&self.limit_param)),
        ])
    }

    pub(crate) fn start(&self) -> Value {
        json!({"offset": 0})
    }

    fn cursor(cursor: &Value) -> Result<Cursor, PageError> {
        serde_json::from_value(cursor.clone())
            .map_err(|e| PageError::Cursor(format!("expected {{\"offset\"}}: {e}")))
    }

    pub(crate) fn request(&self, cursor: &Value) -> Result<PageRequest, PageError> {
        let cursor = Self::cursor(cursor)?;
        Ok(PageRequest {
            query: vec![
                (self.offset_param.clone(), cursor.offset.to_string()),
                (self.limit_param.clone(), self.page_size.to_string()),
            ],
            url: None,
        })
    }

    pub(crate) fn advance(&self, cursor: &Value, page: &Page<'_>) -> Result<Advance, PageError> {
        let cursor = Self::cursor(cursor)?;
        let size = self.page_size.get();
        let records = page.records.len() as u64;
        if records > size {
            return Err(PageError::Response(format!(
                "the API returned {records} records for a limit of {size}"
            )));
        }
        let offset = cursor
            .offset
            .checked_add(records)
            .ok_or_else(|| PageError::Cursor("offset overflows".to_owned()))?;
        Ok(Advance {
            skip: 0,
            next: json!({"offset": offset}),
            more: records == size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagination::fixture::Response;

    fn pager(size: u64) -> OffsetLimitConfig {
        OffsetLimitConfig {
            page_size: NonZeroU64::new(size).unwrap(),
            ..OffsetLimitConfig::default()
        }
    }

    #[test]
    fn walks_by_offset_and_resumes_after_the_last_delivered_record() {
        let p = pager(10);
        assert_eq!(
            p.request(&p.start()).unwrap().query,
            vec![("offset".into(), "0".into()), ("limit".into(), "10".into())]
        );
        let a = p
            .advance(&p.start(), &Response::records(10).page())
            .unwrap();
        assert_eq!((a.skip, a.more), (0, true));
        assert_eq!(a.next, json!({"offset": 10}));
        let b = p.advance(&a.next, &Response::records(4).page()).unwrap();
        assert_eq!((b.skip, b.more), (0, false));
        assert_eq!(b.next, json!({"offset": 14}));
        // Caught up: an empty page leaves the cursor where it is.
        let c = p.advance(&b.next, &Response::records(0).page()).unwrap();
        assert_eq!((c.next, c.more), (json!({"offset": 14}), false));
    }

    #[test]
    fn malformed_cursors_and_oversized_pages_are_errors() {
        let p = pager(10);
        assert!(matches!(
            p.request(&json!({"page": 1})),
            Err(PageError::Cursor(_))
        ));
        assert!(matches!(
            p.request(&json!({"offset": -1})),
            Err(PageError::Cursor(_))
        ));
        assert!(matches!(
            p.advance(&p.start(), &Response::records(11).page()),
            Err(PageError::Response(_))
        ));
    }

    #[test]
    fn config_problems_are_reported() {
        let p = OffsetLimitConfig {
            offset_param: "o".into(),
            limit_param: "o".into(),
            ..OffsetLimitConfig::default()
        };
        assert_eq!(
            p.problems(),
            vec![(
                "limit_param".to_owned(),
                "must differ from offset_param".to_owned()
            )]
        );
        assert!(pager(5).problems().is_empty());
    }
}
