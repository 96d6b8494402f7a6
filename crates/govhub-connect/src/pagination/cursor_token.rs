use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Advance, Page, PageError, PageRequest, is_inner_pointer, param_problems, scalar_text};

/// Opaque-token pagination: each response carries the token of the next page in the body
/// (`next_token`, e.g. `/data/next_cursor`), sent back as `?<token_param>=<token>`.
///
/// The cursor is `{"token": T, "skip": K}`: the token that requests the current page
/// (`null` for the first page, which is requested without one) and how many of its
/// leading records were already delivered. A token that is missing, `null`, `""` or the
/// same as the one just sent, or an empty page, means caught up: the API has nothing
/// after this page yet.
/// The cursor then keeps the token last used with `skip` = the page's record count, so
/// the next poll asks again from there and hands out only records appended since. This
/// relies on tokens staying valid; an API whose tokens expire answers the next poll with
/// an error and the connector's cursor has to be reset (backfill).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorTokenConfig {
    /// Query parameter that carries the token, e.g. `cursor`.
    pub token_param: String,
    /// JSON pointer to the next page's token in the response body, e.g.
    /// `/data/next_cursor`.
    pub next_token: String,
    /// Query parameter for the page size; none when the API has a fixed page size.
    #[serde(default)]
    pub size_param: Option<String>,
    /// Records per page to ask for; used only with `size_param`.
    #[serde(default = "super::default_page_size")]
    pub page_size: NonZeroU64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    token: Option<String>,
    skip: u64,
}

impl CursorTokenConfig {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut problems = param_problems(&[
            ("token_param", Some(&self.token_param)),
            ("size_param", self.size_param.as_deref()),
        ]);
        if !is_inner_pointer(&self.next_token) {
            problems.push((
                "next_token".to_owned(),
                "must be a JSON pointer starting with \"/\"".to_owned(),
            ));
        }
        problems
    }

    pub(crate) fn start(&self) -> Value {
        json!({"token": null, "skip": 0})
    }

    fn cursor(cursor: &Value) -> Result<Cursor, PageError> {
        serde_json::from_value(cursor.clone())
            .map_err(|e| PageError::Cursor(format!("expected {{\"token\", \"skip\"}}: {e}")))
    }

    pub(crate) fn request(&self, cursor: &Value) -> Result<PageRequest, PageError> {
        let cursor = Self::cursor(cursor)?;
        let mut query = Vec::new();
        if let Some(token) = cursor.token {
            query.push((self.token_param.clone(), token));
        }
        if let Some(size_param) = &self.size_param {
            query.push((size_param.clone(), self.page_size.to_string()));
        }
        Ok(PageRequest { query, url: None })
    }

    pub(crate) fn advance(&self, cursor: &Value, page: &Page<'_>) -> Result<Advance, PageError> {
        let cursor = Self::cursor(cursor)?;
        let records = page.records.len();
        if self.size_param.is_some() && records as u64 > self.page_size.get() {
            return Err(PageError::Response(format!(
                "the API returned {records} records for a page of {}",
                self.page_size
            )));
        }
        let skip = usize::try_from(cursor.skip)
            .unwrap_or(usize::MAX)
            .min(records);
        let next = self.next_token(page.body)?;
        // An empty page ends the walk even if it carries a fresh token: an API that hands
        // out tokens past its end would otherwise be followed forever.
        match next.filter(|_| records > 0) {
            Some(token) if cursor.token.as_deref() != Some(token.as_str()) => Ok(Advance {
                skip,
                next: json!({"token": token, "skip": 0}),
                more: true,
            }),
            _ => Ok(Advance {
                skip,
                next: json!({"token": cursor.token, "skip": records}),
                more: false,
            }),
        }
    }

    /// The next page's token, `None` when caught up.
    ///
    /// A missing token only means "caught up" when the object that should hold it is
    /// there: a wrong pointer (a typo, an API that moved the field) would otherwise read
    /// the first page over and over and never report anything.
    fn next_token(&self, body: &Value) -> Result<Option<String>, PageError> {
        let pointer = &self.next_token;
        let parent = pointer.rfind('/').map_or("", |i| &pointer[..i]);
        match body.pointer(pointer) {
            None if !body.pointer(parent).is_some_and(Value::is_object) => {
                Err(PageError::Response(format!(
                    "no object at {parent:?} to hold next_token {pointer:?}: check \
                     pagination.next_token against the API's responses"
                )))
            }
            None | Some(Value::Null) => Ok(None),
            Some(value) => match scalar_text(value) {
                Some(token) if token.is_empty() => Ok(None),
                Some(token) => Ok(Some(token)),
                None => Err(PageError::Response(format!(
                    "next_token {pointer:?} is not a string or number"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagination::fixture::Response;

    fn pager() -> CursorTokenConfig {
        CursorTokenConfig {
            token_param: "cursor".into(),
            next_token: "/data/next_cursor".into(),
            size_param: Some("size".into()),
            page_size: NonZeroU64::new(10).unwrap(),
        }
    }

    fn page(records: usize, body: Value) -> Response {
        Response {
            body,
            ..Response::records(records)
        }
    }

    #[test]
    fn follows_tokens_and_keeps_the_last_one_when_caught_up() {
        let p = pager();
        assert_eq!(
            p.request(&p.start()).unwrap().query,
            vec![("size".into(), "10".into())]
        );
        let a = p
            .advance(
                &p.start(),
                &page(10, json!({"data": {"next_cursor": "t1"}})).page(),
            )
            .unwrap();
        assert_eq!((a.skip, a.more), (0, true));
        assert_eq!(a.next, json!({"token": "t1", "skip": 0}));
        assert_eq!(
            p.request(&a.next).unwrap().query,
            vec![("cursor".into(), "t1".into()), ("size".into(), "10".into())]
        );
        // Missing, null, empty or repeated token: caught up, stay on t1 past 4 records.
        for body in [
            json!({"data": {}}),
            json!({"data": {"next_cursor": null}}),
            json!({"data": {"next_cursor": ""}}),
            json!({"data": {"next_cursor": "t1"}}),
        ] {
            let b = p.advance(&a.next, &page(4, body).page()).unwrap();
            assert_eq!((b.skip, b.more), (0, false));
            assert_eq!(b.next, json!({"token": "t1", "skip": 4}));
        }
        // An empty page is the end whatever token it carries.
        let e = p
            .advance(
                &a.next,
                &page(0, json!({"data": {"next_cursor": "t2"}})).page(),
            )
            .unwrap();
        assert_eq!((e.next, e.more), (a.next.clone(), false));
        // Later: the page grew and links onwards (numeric tokens are fine).
        let c = p
            .advance(
                &json!({"token": "t1", "skip": 4}),
                &page(10, json!({"data": {"next_cursor": 77}})).page(),
            )
            .unwrap();
        assert_eq!((c.skip, c.more), (4, true));
        assert_eq!(c.next, json!({"token": "77", "skip": 0}));
    }

    #[test]
    fn a_wrong_pointer_or_token_type_is_an_error() {
        let p = pager();
        for body in [
            json!({"result": {}}),
            json!({"data": [1]}),
            json!({"data": {"next_cursor": {"a": 1}}}),
        ] {
            let err = p.advance(&p.start(), &page(1, body).page()).unwrap_err();
            assert!(matches!(err, PageError::Response(_)), "{err:?}");
        }
        assert!(
            p.advance(&p.start(), &page(11, json!({"data": {}})).page())
                .is_err()
        );
        assert!(matches!(
            p.request(&json!({"token": 5, "skip": 0})),
            Err(PageError::Cursor(_))
        ));
    }

    #[test]
    fn config_problems_are_reported() {
        let p = CursorTokenConfig {
            token_param: "".into(),
            next_token: "data/next".into(),
            size_param: Some("".into()),
            page_size: NonZeroU64::new(10).unwrap(),
        };
        let fields: Vec<String> = p.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["token_param", "size_param", "next_token"]);
        assert!(pager().problems().is_empty());
    }
}
