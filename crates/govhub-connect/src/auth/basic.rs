//! `style = "basic"`: `Authorization: Basic base64(username:password)` (RFC 7617).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};

use super::{AuthError, resolve_secret, sensitive_header};
use crate::secret::SecretRef;

/// Config of HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// The user name; not secret, so written in the config.
    pub username: String,
    /// The password, normally `${VAR}`.
    pub password: SecretRef,
}

impl BasicConfig {
    /// Problems with the non-secret fields, as `(field, message)`.
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.username.is_empty() {
            problems.push(("username", "must not be empty".to_owned()));
        }
        // RFC 7617: the first colon separates user from password, so a user name
        // cannot contain one.
        if self.username.contains(':') {
            problems.push(("username", "must not contain ':'".to_owned()));
        }
        if self.username.chars().any(char::is_control) {
            problems.push(("username", "must not contain control characters".to_owned()));
        }
        problems
    }

    /// Reads the password and builds the header once, so applying cannot fail.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Basic, AuthError> {
        if let Some((field, message)) = self.problems().into_iter().next() {
            return Err(AuthError::Invalid { field, message });
        }
        let password = resolve_secret("password", &self.password, env)?;
        let credentials = STANDARD.encode(format!("{}:{}", self.username, password.expose()));
        let header = sensitive_header("password", &format!("Basic {credentials}"))?;
        Ok(Basic { header })
    }
}

/// Resolved basic credentials.
#[derive(Debug, Clone)]
pub struct Basic {
    /// The complete, sensitive `Authorization` value.
    header: HeaderValue,
}

impl Basic {
    /// Sets `Authorization`, replacing any value already there.
    pub fn apply(&self, request: &mut reqwest::Request) -> Result<(), AuthError> {
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.header.clone());
        Ok(())
    }
}
