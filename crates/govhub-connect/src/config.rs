use std::num::NonZeroU64;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use govhub_schema::mapping::Mapping;

use crate::{AuthConfig, FollowRedirects, PaginationConfig, ReliabilityConfig};

/// Configuration of one HTTP pull connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// Department that owns the system, e.g. `education`.
    pub department: String,
    /// Canonical record kind the records conform to, e.g. `education.enrollment`.
    pub kind: String,
    /// Endpoint that lists records; pagination parameters are added to its query.
    pub url: String,
    /// JSON pointer to the array of records in a response, e.g. `/data/list`; `""` when
    /// the response body is the array itself.
    #[serde(default)]
    pub records: String,
    /// JSON pointer, within one API item, to an array whose elements are the records
    /// (e.g. `/members` of a household); each element gets the rest of the item under
    /// `_parent`. `record_id` then points into the element.
    #[serde(default)]
    pub explode: Option<String>,
    /// JSON pointer, within one record, to its id in the source system.
    pub record_id: String,
    /// Business status carried in the body, for APIs that answer HTTP 200 on errors.
    #[serde(default)]
    pub status: Option<BusinessStatus>,
    /// How to walk through pages.
    pub pagination: PaginationConfig,
    /// Timeout of one request, in seconds (1 to 3600).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: NonZeroU64,
    /// Which HTTP redirects are followed: `same_origin` (only to the connector's own
    /// scheme, host and port; credentials never go elsewhere) or `none`.
    #[serde(default)]
    pub follow_redirects: FollowRedirects,
    /// How requests authenticate; absent for open APIs.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Retries, pacing, response size cap and circuit breaker.
    #[serde(default)]
    pub reliability: ReliabilityConfig,
    /// How a native record becomes the canonical one; empty when the department already
    /// sends canonical records. Applied by the pipeline's map stage, not by the source.
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub mapping: Mapping,
}

/// Where an API reports success or failure in the body, e.g. `{"code": 0, "msg": "ok"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessStatus {
    /// JSON pointer to the status code, e.g. `/code`.
    pub pointer: String,
    /// The value that means success, e.g. `0`.
    pub ok: Value,
    /// JSON pointer to the API's message, e.g. `/msg`.
    #[serde(default)]
    pub message: Option<String>,
}

/// The longest `timeout_secs` accepted: one hour. A request that may take longer looks
/// like a hung connector.
pub const MAX_TIMEOUT_SECS: u64 = 3600;

fn default_timeout_secs() -> NonZeroU64 {
    NonZeroU64::new(30).unwrap_or(NonZeroU64::MIN)
}

impl HttpSourceConfig {
    /// The request timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.get())
    }

    /// Things that work but should change, as `(field path, message)`: secrets written
    /// into the config file instead of referenced from the environment.
    pub fn warnings(&self) -> Vec<(String, String)> {
        self.auth
            .iter()
            .flat_map(AuthConfig::warnings)
            .map(|(field, message)| (format!("auth.{field}"), message))
            .collect()
    }

    /// The secrets that cannot be read through `env`, each as `(field path, message)`.
    pub fn unresolved_secrets(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(String, String)> {
        self.auth
            .iter()
            .flat_map(|auth| auth.unresolved(env))
            .map(|(field, message)| (format!("auth.{field}"), message))
            .collect()
    }

    /// Every problem with this config, each as `(field path, message)`, without touching
    /// the network. An empty list means the config can be built.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: &str| {
            problems.push((field.to_owned(), message.to_owned()));
        };
        match reqwest::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(_) => problem("url", "must be an http:// or https:// URL"),
            Err(e) => problem("url", &format!("not a URL: {e}")),
        }
        if self.timeout_secs.get() > MAX_TIMEOUT_SECS {
            problem(
                "timeout_secs",
                &format!("must be at most {MAX_TIMEOUT_SECS} (one hour)"),
            );
        }
        for (field, pointer) in [("records", &self.records), ("record_id", &self.record_id)] {
            if !is_pointer(pointer) {
                problem(
                    field,
                    "must be a JSON pointer (\"\" or starting with \"/\")",
                );
            }
        }
        if self.explode.as_deref().is_some_and(|p| !p.starts_with('/')) {
            problem("explode", "must be a JSON pointer starting with \"/\"");
        }
        if self.record_id.is_empty() {
            problem("record_id", "must point inside the record");
        }
        if let Some(status) = &self.status {
            if !is_pointer(&status.pointer) || status.pointer.is_empty() {
                problem(
                    "status.pointer",
                    "must be a JSON pointer starting with \"/\"",
                );
            }
            if status.message.as_deref().is_some_and(|p| !is_pointer(p)) {
                problem(
                    "status.message",
                    "must be a JSON pointer starting with \"/\"",
                );
            }
        }
        for (field, message) in self.pagination.problems() {
            problems.push((format!("pagination.{field}"), message));
        }
        if let Some(auth) = &self.auth {
            for (field, message) in auth.problems() {
                problems.push((format!("auth.{field}"), message));
            }
        }
        for (field, message) in self.reliability.problems() {
            problems.push((format!("reliability.{field}"), message));
        }
        problems
    }
}

fn is_pointer(pointer: &str) -> bool {
    pointer.is_empty() || pointer.starts_with('/')
}
