//! `style = "api_key"`: a static key sent as a header (`in = "header"`, the default)
//! or appended as a query parameter (`in = "query"`).

use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::{AuthError, resolve_secret, sensitive_header};
use crate::secret::{Secret, SecretRef};

/// Config of a static API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Header or query parameter name, e.g. `X-Api-Key` or `appkey`.
    pub name: String,
    /// The key, normally `${VAR}`.
    pub value: SecretRef,
    /// Where the key goes.
    #[serde(rename = "in", default)]
    pub location: ApiKeyLocation,
}

/// Where an API key is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyLocation {
    /// As a request header.
    #[default]
    Header,
    /// As a query parameter appended to the URL.
    Query,
}

impl ApiKeyConfig {
    /// Problems with the non-secret fields, as `(field, message)`.
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        match self.location {
            _ if self.name.is_empty() => vec![("name", "must not be empty".to_owned())],
            ApiKeyLocation::Header if HeaderName::from_bytes(self.name.as_bytes()).is_err() => {
                vec![("name", "is not a valid HTTP header name".to_owned())]
            }
            ApiKeyLocation::Header | ApiKeyLocation::Query => Vec::new(),
        }
    }

    /// Reads the key and, for a header, builds it once, so applying cannot fail.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<ApiKey, AuthError> {
        if let Some((field, message)) = self.problems().into_iter().next() {
            return Err(AuthError::Invalid { field, message });
        }
        let value = resolve_secret("value", &self.value, env)?;
        let target = match self.location {
            ApiKeyLocation::Header => {
                let name = HeaderName::from_bytes(self.name.as_bytes()).map_err(|_| {
                    AuthError::Invalid {
                        field: "name",
                        message: "is not a valid HTTP header name".to_owned(),
                    }
                })?;
                Target::Header(name, sensitive_header("value", value.expose())?)
            }
            ApiKeyLocation::Query => Target::Query(self.name.clone(), value),
        };
        Ok(ApiKey { target })
    }
}

/// A resolved API key.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Where it goes, with the value.
    target: Target,
}

/// A resolved key with its destination; `Debug` shows no secret because both
/// [`HeaderValue`] (marked sensitive) and [`Secret`] redact themselves.
#[derive(Debug, Clone)]
enum Target {
    Header(HeaderName, HeaderValue),
    Query(String, Secret),
}

impl ApiKey {
    /// Sets the header (replacing any value) or appends `name=value` to the query,
    /// keeping the other parameters already there (a `name` already there is replaced).
    pub fn apply(&self, request: &mut reqwest::Request) -> Result<(), AuthError> {
        match &self.target {
            Target::Header(name, value) => {
                request.headers_mut().insert(name.clone(), value.clone());
            }
            Target::Query(name, value) => {
                let url = request.url_mut();
                // A same-origin redirect's Location may carry the key already; send it
                // once. Only then is the query rebuilt (which may re-encode it).
                if url.query_pairs().any(|(k, _)| k == name.as_str()) {
                    let others: Vec<(String, String)> = url
                        .query_pairs()
                        .filter(|(k, _)| k != name.as_str())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    url.query_pairs_mut().clear().extend_pairs(others);
                }
                url.query_pairs_mut().append_pair(name, value.expose());
            }
        }
        Ok(())
    }
}
