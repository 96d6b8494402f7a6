//! govhub's HTTP pull framework.
//!
//! A connector is configuration ([`HttpSourceConfig`]), not code: the URL, where the
//! records sit in the response, which field is the record id, how pages are walked
//! ([`pagination`]) and how the API signals business errors. [`HttpSource`] implements
//! the [`govhub_core::Source`] contract: each poll stages a cursor, which becomes the
//! committed one when the hub has durably committed the batch and acks it.

pub mod auth;
pub mod circuit;
mod config;
mod error;
mod http;
pub mod metrics;
pub mod pagination;
pub mod rate_limit;
pub mod redirect;
mod reliability;
pub mod retry;
pub mod secret;
mod source;

pub use auth::{Auth, AuthConfig, AuthError};
pub use circuit::{CircuitBreaker, CircuitState, OpenUntil};
pub use config::{BusinessStatus, HttpSourceConfig};
pub use error::ConnectError;
pub use pagination::PaginationConfig;
pub use rate_limit::RateLimiter;
pub use redirect::FollowRedirects;
pub use reliability::ReliabilityConfig;
pub use retry::{Backoff, Retried, Retry, RetryPolicy};
pub use secret::{Secret, SecretError, SecretRef};
pub use source::{HttpSource, PARENT_KEY, explode, source_record};
