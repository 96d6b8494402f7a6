//! `style = "bearer"`: `Authorization: Bearer <token>`.

use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};

use super::{AuthError, resolve_secret, sensitive_header};
use crate::secret::SecretRef;

/// Config of a static bearer token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerConfig {
    /// The token, normally `${VAR}`.
    pub token: SecretRef,
}

impl BearerConfig {
    /// Reads the token and builds the header once, so applying cannot fail.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Bearer, AuthError> {
        let token = resolve_secret("token", &self.token, env)?;
        let header = sensitive_header("token", &format!("Bearer {}", token.expose()))?;
        Ok(Bearer { header })
    }
}

/// A resolved bearer token.
#[derive(Debug, Clone)]
pub struct Bearer {
    /// The complete, sensitive `Authorization` value.
    header: HeaderValue,
}

impl Bearer {
    /// Sets `Authorization`, replacing any value already there.
    pub fn apply(&self, request: &mut reqwest::Request) -> Result<(), AuthError> {
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.header.clone());
        Ok(())
    }
}
