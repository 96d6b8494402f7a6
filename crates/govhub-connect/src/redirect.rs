//! Which HTTP redirects a connector follows.
//!
//! Every request a connector sends carries its credentials: a header, a query parameter
//! or a signature. An HTTP client that follows a redirect resends the request's headers
//! to wherever the `Location` points, so a department API (or whoever controls its
//! answers) could have them sent to another host. The connector's client therefore
//! follows no redirect by itself: [`next_hop`] decides each one, and the connector
//! builds and authenticates the next request afresh, for the new URL, only when that URL
//! is on the connector's own origin (scheme, host and port).

use std::fmt;

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

/// Redirects followed in a row, at most, before a request fails.
pub const MAX_REDIRECTS: u32 = 10;

/// The `follow_redirects` setting of a connector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowRedirects {
    /// Follow redirects to the connector's own scheme, host and port, up to
    /// [`MAX_REDIRECTS`] in a row; a redirect to another origin is an error.
    #[default]
    SameOrigin,
    /// Follow none: every redirect is an error.
    None,
}

impl FollowRedirects {
    /// The setting as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowRedirects::SameOrigin => "same_origin",
            FollowRedirects::None => "none",
        }
    }
}

/// Why a redirect was not followed. Shows origins only, never a path or a query: a
/// `Location` is the API's text and may carry tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The redirect points to another scheme, host or port.
    OtherOrigin {
        /// The origin the request went to, e.g. `https://api.example`.
        from: String,
        /// The origin the redirect points to.
        to: String,
    },
    /// `follow_redirects = "none"`.
    NotFollowed {
        /// The origin the redirect points to.
        to: String,
    },
    /// [`MAX_REDIRECTS`] redirects were followed already.
    TooMany,
    /// No `Location`, or one that is not a URL.
    NoLocation,
}

impl Refusal {
    /// Whether changing the connector's config is the fix (its `url`, or the setting),
    /// rather than the API's behaviour.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Refusal::OtherOrigin { .. } | Refusal::NotFollowed { .. }
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::OtherOrigin { from, to } => write!(
                f,
                "to another origin, {to} (the request went to {from}); not followed, so the \
                 connector's credentials are not sent there. If the API has moved, set the \
                 connector's url to its new address"
            ),
            Refusal::NotFollowed { to } => write!(
                f,
                "to {to}; not followed (follow_redirects = \"none\"). If the API has moved, \
                 set the connector's url to its new address"
            ),
            Refusal::TooMany => write!(f, "after {MAX_REDIRECTS} redirects in a row"),
            Refusal::NoLocation => write!(f, "without a usable Location header"),
        }
    }
}

/// Whether `status` is a redirect an HTTP client would follow.
pub(crate) fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Where to go after a redirect answered to a request for `current`, which was the
/// `hops`-th redirect followed in a row (0 for the first request): the next URL, or why
/// not. `current` is always on the connector's origin, since hops never leave it.
pub(crate) fn next_hop(
    policy: FollowRedirects,
    current: &Url,
    headers: &HeaderMap,
    hops: u32,
) -> Result<Url, Refusal> {
    let next = headers
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|location| current.join(location).ok())
        .ok_or(Refusal::NoLocation)?;
    let to = next.origin().ascii_serialization();
    if policy == FollowRedirects::None {
        return Err(Refusal::NotFollowed { to });
    }
    if next.origin() != current.origin() {
        return Err(Refusal::OtherOrigin {
            from: current.origin().ascii_serialization(),
            to,
        });
    }
    if hops >= MAX_REDIRECTS {
        return Err(Refusal::TooMany);
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn location(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn same_origin_redirects_are_followed_relative_or_absolute() {
        let here = url("https://api.example/v1/list?page=2");
        let same = FollowRedirects::SameOrigin;
        assert_eq!(
            next_hop(same, &here, &location("/v2/list?page=2"), 0),
            Ok(url("https://api.example/v2/list?page=2"))
        );
        assert_eq!(
            next_hop(same, &here, &location("https://api.example:443/x"), 9),
            Ok(url("https://api.example/x"))
        );
    }

    #[test]
    fn another_scheme_host_or_port_is_another_origin() {
        let here = url("https://api.example/v1/list");
        for other in [
            "http://api.example/v1/list",
            "https://api.example:8443/v1/list",
            "https://evil.example/v1/list?key=hunter2",
            "https://sub.api.example/v1/list",
            "//evil.example/x",
            "file:///etc/passwd",
        ] {
            let refusal =
                next_hop(FollowRedirects::SameOrigin, &here, &location(other), 0).unwrap_err();
            assert!(
                matches!(&refusal, Refusal::OtherOrigin { from, .. } if from == "https://api.example"),
                "{other}: {refusal:?}"
            );
            assert!(!refusal.to_string().contains("hunter2"), "{refusal}");
            assert!(refusal.is_config());
        }
    }

    #[test]
    fn none_follows_nothing_and_hops_are_capped() {
        let here = url("https://api.example/v1/list");
        assert_eq!(
            next_hop(FollowRedirects::None, &here, &location("/v2?k=s"), 0),
            Err(Refusal::NotFollowed {
                to: "https://api.example".to_owned()
            })
        );
        assert_eq!(
            next_hop(
                FollowRedirects::SameOrigin,
                &here,
                &location("/v2"),
                MAX_REDIRECTS
            ),
            Err(Refusal::TooMany)
        );
        assert_eq!(
            next_hop(FollowRedirects::SameOrigin, &here, &HeaderMap::new(), 0),
            Err(Refusal::NoLocation)
        );
        assert_eq!(
            next_hop(
                FollowRedirects::SameOrigin,
                &here,
                &location("http://[::1"),
                0
            ),
            Err(Refusal::NoLocation)
        );
    }

    #[test]
    fn the_setting_is_spelled_as_in_the_config() {
        for (text, setting) in [
            ("\"same_origin\"", FollowRedirects::SameOrigin),
            ("\"none\"", FollowRedirects::None),
        ] {
            assert_eq!(
                serde_json::from_str::<FollowRedirects>(text).unwrap(),
                setting
            );
            assert_eq!(format!("\"{}\"", setting.as_str()), text);
        }
        assert!(serde_json::from_str::<FollowRedirects>("\"always\"").is_err());
        assert_eq!(FollowRedirects::default(), FollowRedirects::SameOrigin);
    }
}
