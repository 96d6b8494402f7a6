use std::collections::BTreeMap;

use reqwest::Url;
use reqwest::header::LINK;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Advance, Page, PageError, PageRequest, blank, query_values};

/// Follows `Link: <url>; rel="next"` response headers (RFC 8288), as GitHub-style and
/// many offset/limit APIs (e.g. civil affairs) send them.
///
/// The first request is the connector's `url` plus `first_query`. The cursor is
/// `{"url": U, "skip": K}`: the absolute URL of the page to read (`null` for the first
/// request) and how many of its leading records were already delivered. While a page
/// links to a next one, the cursor moves there. The last page (no `rel="next"`) is kept
/// with `skip` = its record count, so the next poll reads it again and hands out only
/// records appended since; once it fills up and the API links a next page, the cursor
/// follows. An empty page counts as the last one whatever it links to. Next links must
/// stay on the connector's origin (the source refuses others:
/// credentials go with every request).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkHeaderConfig {
    /// Query parameters of the first request only, e.g. `{ limit = 50 }`; later requests
    /// use the linked URLs as they are.
    #[serde(default, deserialize_with = "query_values")]
    pub first_query: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    url: Option<String>,
    skip: u64,
}

impl LinkHeaderConfig {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        self.first_query
            .keys()
            .filter(|k| blank(k))
            .map(|_| {
                (
                    "first_query".to_owned(),
                    "parameter names must not be empty".to_owned(),
                )
            })
            .collect()
    }

    pub(crate) fn start(&self) -> Value {
        json!({"url": null, "skip": 0})
    }

    fn cursor(cursor: &Value) -> Result<(Option<Url>, u64), PageError> {
        let parsed: Cursor = serde_json::from_value(cursor.clone())
            .map_err(|e| PageError::Cursor(format!("expected {{\"url\", \"skip\"}}: {e}")))?;
        let url = parsed
            .url
            .map(|u| Url::parse(&u))
            .transpose()
            .map_err(|e| PageError::Cursor(format!("url is not an absolute URL: {e}")))?;
        Ok((url, parsed.skip))
    }

    pub(crate) fn request(&self, cursor: &Value) -> Result<PageRequest, PageError> {
        match Self::cursor(cursor)? {
            (None, _) => Ok(PageRequest {
                query: self
                    .first_query
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                url: None,
            }),
            (Some(url), _) => Ok(PageRequest {
                query: Vec::new(),
                url: Some(url),
            }),
        }
    }

    pub(crate) fn advance(&self, cursor: &Value, page: &Page<'_>) -> Result<Advance, PageError> {
        let (url, skip) = Self::cursor(cursor)?;
        let records = page.records.len();
        let skip = usize::try_from(skip).unwrap_or(usize::MAX).min(records);
        // An empty page ends the walk even if it links onwards: an API that links past
        // its end would otherwise be followed forever, or past where records get appended.
        let next = if records == 0 { None } else { next_link(page)? };
        match next {
            Some(next) => {
                if &next == page.url {
                    return Err(PageError::Response(
                        "Link rel=\"next\" points at the page itself".to_owned(),
                    ));
                }
                Ok(Advance {
                    skip,
                    next: json!({"url": next.as_str(), "skip": 0}),
                    more: true,
                })
            }
            None => Ok(Advance {
                skip,
                next: json!({"url": url.as_ref().map(Url::as_str), "skip": records}),
                more: false,
            }),
        }
    }
}

/// The first `rel="next"` target among the page's `Link` headers, resolved against the
/// URL that answered.
fn next_link(page: &Page<'_>) -> Result<Option<Url>, PageError> {
    for value in page.headers.get_all(LINK) {
        let text = std::str::from_utf8(value.as_bytes())
            .map_err(|_| PageError::Response("Link header is not UTF-8".to_owned()))?;
        let links = parse_links(text)
            .map_err(|m| PageError::Response(format!("malformed Link header: {m}")))?;
        if let Some(link) = links
            .into_iter()
            .find(|l| l.rels.iter().any(|r| r == "next"))
        {
            let url = page.url.join(&link.target).map_err(|e| {
                PageError::Response(format!("Link rel=\"next\" target is not a URL: {e}"))
            })?;
            return Ok(Some(url));
        }
    }
    Ok(None)
}

/// One link-value of a `Link` header.
#[derive(Debug, Clone, PartialEq)]
struct Link {
    /// The URI-Reference between `<` and `>`, unresolved.
    target: String,
    /// The relation types of the first `rel` parameter, lower-cased.
    rels: Vec<String>,
}

/// Parses a `Link` field value: `#link-value` with
/// `link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )` and
/// `link-param = token BWS [ "=" BWS ( token / quoted-string ) ]` (RFC 8288 section 3).
///
/// Lenient where servers commonly are sloppy (unquoted values holding `/` or `:`, empty
/// list elements, a trailing `;`), strict where guessing could follow the wrong link.
fn parse_links(value: &str) -> Result<Vec<Link>, String> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Ok(links);
        }
        rest = rest
            .strip_prefix('<')
            .ok_or("expected '<' starting a link target")?;
        let end = rest.find('>').ok_or("link target has no closing '>'")?;
        let target = rest[..end].trim().to_owned();
        rest = &rest[end + 1..];
        let mut rel: Option<String> = None;
        loop {
            rest = ows(rest);
            if rest.is_empty() || rest.starts_with(',') {
                break;
            }
            rest = rest
                .strip_prefix(';')
                .ok_or("expected ';' or ',' after a link target or parameter")?;
            rest = ows(rest);
            if rest.is_empty() || rest.starts_with([',', ';']) {
                continue;
            }
            let name_len = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
            if name_len == 0 {
                return Err("expected a parameter name after ';'".to_owned());
            }
            let name = &rest[..name_len];
            rest = ows(&rest[name_len..]);
            let param_value = match rest.strip_prefix('=') {
                Some(after) => {
                    let (v, after) = param_value(ows(after))?;
                    rest = after;
                    v
                }
                None => String::new(),
            };
            // Only the first rel counts (RFC 8288 section 3.3).
            if name.eq_ignore_ascii_case("rel") && rel.is_none() {
                rel = Some(param_value);
            }
        }
        links.push(Link {
            target,
            rels: rel
                .unwrap_or_default()
                .split_ascii_whitespace()
                .map(str::to_ascii_lowercase)
                .collect(),
        });
    }
}

/// A quoted-string (with `\` escapes) or a bare value up to the next `;`, `,` or space;
/// returns the value and what follows it.
fn param_value(rest: &str) -> Result<(String, &str), String> {
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((value, &quoted[i + 1..])),
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                other => value.push(other),
            }
        }
        return Err("unterminated quoted parameter value".to_owned());
    }
    let len = rest.find([';', ',', ' ', '\t']).unwrap_or(rest.len());
    if len == 0 {
        return Err("expected a parameter value after '='".to_owned());
    }
    Ok((rest[..len].to_owned(), &rest[len..]))
}

fn ows(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// RFC 9110 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagination::fixture::Response;
    use reqwest::header::HeaderValue;

    fn link(target: &str, rels: &[&str]) -> Link {
        Link {
            target: target.to_owned(),
            rels: rels.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn parses_several_links_quoted_and_bare_rels_and_several_rel_values() {
        let links = parse_links(
            r#"<https://api.test/x?page=3>; rel="next", <https://api.test/x?page=1>;rel=first , <https://api.test/x?page=9>; title="a, b; \"c\""; rel="LAST Prev""#,
        )
        .unwrap();
        assert_eq!(
            links,
            vec![
                link("https://api.test/x?page=3", &["next"]),
                link("https://api.test/x?page=1", &["first"]),
                link("https://api.test/x?page=9", &["last", "prev"]),
            ]
        );
        // Only the first rel counts; flag parameters and empty elements are fine.
        assert_eq!(
            parse_links(r#", <a>; crossorigin; rel=prev; rel=next;,"#).unwrap(),
            vec![link("a", &["prev"])]
        );
        assert_eq!(
            parse_links("<http://x/>; rel=http://example.com/rel/next").unwrap(),
            vec![link("http://x/", &["http://example.com/rel/next"])]
        );
        assert_eq!(parse_links("  ").unwrap(), vec![]);
    }

    #[test]
    fn malformed_link_headers_are_errors() {
        for bad in [
            "https://api.test/x; rel=next",
            "<https://api.test/x; rel=next",
            r#"<a>; rel="next"#,
            "<a> rel=next",
            "<a>; =next",
            "<a>; rel=",
            "<a>; rel=next garbage",
        ] {
            assert!(parse_links(bad).is_err(), "{bad}");
        }
    }

    fn with_links(records: usize, links: &[&str]) -> Response {
        let mut r = Response::records(records);
        r.url = Url::parse("http://api.test/v1/cases?offset=10&limit=10").unwrap();
        for l in links {
            r.headers.append(LINK, HeaderValue::from_str(l).unwrap());
        }
        r
    }

    #[test]
    fn follows_next_resolving_relative_targets_across_several_headers() {
        let p = LinkHeaderConfig::default();
        let r = with_links(
            10,
            &[
                r#"</v1/cases?offset=0&limit=10>; rel="prev first""#,
                r#"<?offset=20&limit=10>; rel="next""#,
            ],
        );
        let a = p
            .advance(&json!({"url": r.url.as_str(), "skip": 0}), &r.page())
            .unwrap();
        assert_eq!((a.skip, a.more), (0, true));
        assert_eq!(
            a.next,
            json!({"url": "http://api.test/v1/cases?offset=20&limit=10", "skip": 0})
        );
        let r = with_links(10, &[r#"<cases?offset=20&limit=10>; rel=next"#]);
        let a = p.advance(&p.start(), &r.page()).unwrap();
        assert_eq!(a.next["url"], "http://api.test/v1/cases?offset=20&limit=10");
        assert_eq!(
            p.request(&a.next).unwrap(),
            PageRequest {
                query: vec![],
                url: Some(Url::parse("http://api.test/v1/cases?offset=20&limit=10").unwrap()),
            }
        );
    }

    #[test]
    fn the_last_page_is_kept_with_a_skip_count_until_it_links_onwards() {
        let p = LinkHeaderConfig {
            first_query: [("limit".to_owned(), "10".to_owned())].into(),
        };
        assert_eq!(
            p.request(&p.start()).unwrap(),
            PageRequest {
                query: vec![("limit".into(), "10".into())],
                url: None
            }
        );
        // A single, partial first page: the cursor stays on the first request.
        let a = p.advance(&p.start(), &with_links(3, &[]).page()).unwrap();
        assert_eq!((a.skip, a.more), (0, false));
        assert_eq!(a.next, json!({"url": null, "skip": 3}));
        // Grown and linked onwards: only the new records, then follow.
        let r = with_links(10, &["<?offset=20&limit=10>; rel=next"]);
        let b = p.advance(&a.next, &r.page()).unwrap();
        assert_eq!((b.skip, b.more), (3, true));
        // A last page further on keeps its URL.
        let here = b.next["url"].as_str().unwrap().to_owned();
        let c = p
            .advance(
                &b.next,
                &with_links(2, &[r#"<?offset=0>; rel="first""#]).page(),
            )
            .unwrap();
        assert_eq!(c.next, json!({"url": here, "skip": 2}));
        assert!(!c.more);
    }

    #[test]
    fn an_empty_page_is_the_end_whatever_it_links_to() {
        let p = LinkHeaderConfig::default();
        let here = json!({"url": "http://api.test/v1/cases?offset=10&limit=10", "skip": 0});
        let a = p
            .advance(
                &here,
                &with_links(0, &["<?offset=20&limit=10>; rel=next"]).page(),
            )
            .unwrap();
        assert_eq!((a.next, a.more), (here, false));
    }

    #[test]
    fn bad_links_and_cursors_are_errors() {
        let p = LinkHeaderConfig::default();
        let self_link = with_links(1, &["<?offset=10&limit=10>; rel=next"]);
        assert!(matches!(
            p.advance(&p.start(), &self_link.page()),
            Err(PageError::Response(_))
        ));
        let broken = with_links(1, &["<?offset=20; rel=next"]);
        let err = p.advance(&p.start(), &broken.page()).unwrap_err();
        assert!(
            matches!(&err, PageError::Response(m) if m.contains("malformed Link header")),
            "{err:?}"
        );
        assert!(matches!(
            p.request(&json!({"url": "/relative", "skip": 0})),
            Err(PageError::Cursor(_))
        ));
        assert!(matches!(
            p.request(&json!({"page": 1})),
            Err(PageError::Cursor(_))
        ));
        let p = LinkHeaderConfig {
            first_query: [(" ".to_owned(), "x".to_owned())].into(),
        };
        assert_eq!(p.problems().len(), 1);
    }
}
