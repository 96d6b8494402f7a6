//! How a connector authenticates to a department API.
//!
//! [`AuthConfig`] is the `[connectors.<name>.auth]` table; its secrets are
//! [`SecretRef`]s, so parsing a config reads no environment. [`AuthConfig::resolve`]
//! reads the environment once and yields an [`Auth`], which [`Auth::apply`] uses to
//! authenticate an already-built [`reqwest::Request`]. Working on the finished request
//! keeps auth independent of how requests are built; the one rule for callers is to
//! call `apply` last, because `signed_gateway` signs the final URL.

pub mod api_key;
pub mod basic;
pub mod bearer;
pub mod signed_gateway;

use govhub_core::{Classified, ErrorClass};
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};

use crate::secret::{LITERAL_SECRET_WARNING, SecretError, SecretRef};

pub use api_key::{ApiKey, ApiKeyConfig, ApiKeyLocation};
pub use basic::{Basic, BasicConfig};
pub use bearer::{Bearer, BearerConfig};
pub use signed_gateway::{SignedGateway, SignedGatewayConfig, VerifyError};

/// The `auth` table of a connector, selected by its `style` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case")]
pub enum AuthConfig {
    /// `Authorization: Bearer <token>`.
    Bearer(BearerConfig),
    /// `Authorization: Basic base64(username:password)`.
    Basic(BasicConfig),
    /// A static key in a header or a query parameter.
    ApiKey(ApiKeyConfig),
    /// HMAC-SHA256 signed requests of the `X-Ca-*` gateway family.
    SignedGateway(SignedGatewayConfig),
}

impl AuthConfig {
    /// Every problem with this config, each as `(field path relative to auth, message)`,
    /// without reading the environment. An empty list means it can be resolved, given
    /// the variables are set.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (field, secret) in self.secrets() {
            if let Some(message) = secret.problem() {
                problems.push((field.to_owned(), message));
            }
        }
        let own = match self {
            AuthConfig::Bearer(_) => Vec::new(),
            AuthConfig::Basic(config) => config.problems(),
            AuthConfig::ApiKey(config) => config.problems(),
            AuthConfig::SignedGateway(config) => config.problems(),
        };
        problems.extend(own.into_iter().map(|(f, m)| (f.to_owned(), m)));
        problems
    }

    /// Advice that does not stop the connector, each as `(field path, message)`: secrets
    /// written into the config file instead of `${VAR}`.
    pub fn warnings(&self) -> Vec<(String, String)> {
        self.secrets()
            .into_iter()
            .filter(|(_, secret)| secret.is_literal())
            .map(|(field, _)| (field.to_owned(), LITERAL_SECRET_WARNING.to_owned()))
            .collect()
    }

    /// The secrets that cannot be read through `env` (an unset or empty variable), each
    /// as `(field path relative to auth, message)`, without saying any value.
    pub fn unresolved(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        self.secrets()
            .into_iter()
            .filter_map(|(field, secret)| {
                let error = secret.resolve(env).err()?;
                Some((field.to_owned(), error.to_string()))
            })
            .collect()
    }

    /// Reads the secrets through `env` (`&|v| std::env::var(v).ok()` in production) and
    /// checks that every value can go into a request.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Auth, AuthError> {
        Ok(match self {
            AuthConfig::Bearer(config) => Auth::Bearer(config.resolve(env)?),
            AuthConfig::Basic(config) => Auth::Basic(config.resolve(env)?),
            AuthConfig::ApiKey(config) => Auth::ApiKey(config.resolve(env)?),
            AuthConfig::SignedGateway(config) => Auth::SignedGateway(config.resolve(env)?),
        })
    }

    /// Each secret field with its path, so checks and warnings cover every style alike.
    fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        match self {
            AuthConfig::Bearer(c) => vec![("token", &c.token)],
            AuthConfig::Basic(c) => vec![("password", &c.password)],
            AuthConfig::ApiKey(c) => vec![("value", &c.value)],
            AuthConfig::SignedGateway(c) => vec![("app_secret", &c.app_secret)],
        }
    }
}

/// Resolved credentials, ready to authenticate requests; `Debug` shows no secret.
#[derive(Debug, Clone)]
pub enum Auth {
    /// See [`Bearer`].
    Bearer(Bearer),
    /// See [`Basic`].
    Basic(Basic),
    /// See [`ApiKey`].
    ApiKey(ApiKey),
    /// See [`SignedGateway`].
    SignedGateway(SignedGateway),
}

impl Auth {
    /// Authenticates `request` in place: adds headers or a query parameter, or signs it.
    /// Call it after the URL, query and headers are final.
    pub fn apply(&self, request: &mut reqwest::Request) -> Result<(), AuthError> {
        match self {
            Auth::Bearer(auth) => auth.apply(request),
            Auth::Basic(auth) => auth.apply(request),
            Auth::ApiKey(auth) => auth.apply(request),
            Auth::SignedGateway(auth) => auth.apply(request),
        }
    }
}

/// Why credentials could not be resolved or applied. Names fields and variables, never
/// secret values.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A secret could not be read.
    #[error("{field}: {source}")]
    Secret {
        /// The field, relative to `auth`, e.g. `token`.
        field: &'static str,
        /// Which variable is missing or malformed.
        source: SecretError,
    },
    /// A value cannot be used in a request.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, relative to `auth`.
        field: &'static str,
        /// What is wrong, without the value.
        message: String,
    },
    /// The system clock is before 1970, so no valid timestamp can be signed.
    #[error("the system clock is before 1970-01-01; cannot sign requests")]
    Clock,
}

impl Classified for AuthError {
    fn class(&self) -> ErrorClass {
        match self {
            AuthError::Secret { .. } | AuthError::Invalid { .. } => ErrorClass::User,
            AuthError::Clock => ErrorClass::Internal,
        }
    }

    fn retryable(&self) -> bool {
        false
    }
}

/// Resolves one secret field, tagging the error with the field's path.
fn resolve_secret(
    field: &'static str,
    secret: &SecretRef,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<crate::secret::Secret, AuthError> {
    secret
        .resolve(env)
        .map_err(|source| AuthError::Secret { field, source })
}

/// A header value marked sensitive, so that `http`'s `Debug` of the request prints
/// `Sensitive` instead of the credential.
fn sensitive_header(field: &'static str, value: &str) -> Result<HeaderValue, AuthError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| AuthError::Invalid {
        field,
        // The value is not quoted: it carries the secret.
        message:
            "contains characters not allowed in an HTTP header (control characters or non-ASCII)"
                .to_owned(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}
