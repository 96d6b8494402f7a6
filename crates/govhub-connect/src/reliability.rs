//! How hard a connector tries against a slow, flaky, rate-limited department API:
//! retries, pacing, concurrency, response size and the circuit breaker, in one config
//! block.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::circuit::CircuitBreaker;
use crate::rate_limit::RateLimiter;
use crate::retry::RetryPolicy;

/// The slowest `requests_per_second` accepted: one request in 1000 s (about 17 minutes).
pub const MIN_REQUESTS_PER_SECOND: f64 = 0.001;
/// The largest `max_backoff_ms` accepted: one hour.
pub const MAX_BACKOFF_MS: u64 = 3_600_000;
/// The largest `circuit_open_secs` accepted: one day.
pub const MAX_CIRCUIT_OPEN_SECS: u64 = 86_400;

/// Retry, rate-limit, concurrency, size and circuit-breaker settings of one connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReliabilityConfig {
    /// Retries of one request after its first attempt; `0` disables retrying.
    pub max_retries: u32,
    /// Ceiling of the first retry's jittered delay, in milliseconds; doubles per retry.
    pub initial_backoff_ms: u64,
    /// Largest ceiling of a retry's jittered delay, in milliseconds; at most one hour.
    pub max_backoff_ms: u64,
    /// Requests per second allowed to the API, at least 0.001; absent means unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
    /// Largest response body accepted, in bytes.
    pub max_response_bytes: u64,
    /// Consecutive failed polls (after their retries) that open the circuit.
    pub circuit_failures: u32,
    /// How long an open circuit refuses polls before letting one trial through, in
    /// seconds; at most one day.
    pub circuit_open_secs: u64,
    /// Pages one sync may read before it stops with an error: a guard against an API
    /// whose pages never end. The next sync continues from the last committed page.
    pub max_pages_per_sync: u32,
}

impl Default for ReliabilityConfig {
    fn default() -> Self {
        ReliabilityConfig {
            max_retries: 5,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            requests_per_second: None,
            max_response_bytes: 32 * 1024 * 1024,
            circuit_failures: 5,
            circuit_open_secs: 60,
            max_pages_per_sync: 100_000,
        }
    }
}

impl ReliabilityConfig {
    /// Every problem with these settings as `(field, message)`; field names are relative
    /// to this block, so the caller prefixes its own path (e.g. `reliability.`).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push((field.to_owned(), message));
        };
        if let Some(rate) = self.requests_per_second {
            // NaN and infinities have no meaningful interval (leave the field out for
            // "unlimited"); a rate near zero passes for a limit but stalls the connector
            // without a word: 1e-300 would wait until the end of time between requests.
            if !(rate.is_finite() && rate >= MIN_REQUESTS_PER_SECOND) {
                problem(
                    "requests_per_second",
                    format!(
                        "must be a finite number of at least {MIN_REQUESTS_PER_SECOND} (one \
                         request in about 17 minutes); leave it out for no limit"
                    ),
                );
            }
        }
        if self.initial_backoff_ms == 0 {
            // Zero would make every jittered delay zero: retries would hammer the API.
            problem("initial_backoff_ms", "must be greater than 0".to_owned());
        }
        if self.max_backoff_ms > MAX_BACKOFF_MS {
            // A retry waiting longer than this looks like a hung connector.
            problem(
                "max_backoff_ms",
                format!("must be at most {MAX_BACKOFF_MS} (one hour)"),
            );
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            problem(
                "initial_backoff_ms",
                format!("must not exceed max_backoff_ms ({})", self.max_backoff_ms),
            );
        }
        if self.max_response_bytes == 0 {
            problem("max_response_bytes", "must be greater than 0".to_owned());
        }
        if self.circuit_failures == 0 {
            // Zero failures would mean the circuit is open before anything was tried.
            problem("circuit_failures", "must be greater than 0".to_owned());
        }
        if self.circuit_open_secs == 0 {
            problem("circuit_open_secs", "must be greater than 0".to_owned());
        }
        if self.circuit_open_secs > MAX_CIRCUIT_OPEN_SECS {
            problem(
                "circuit_open_secs",
                format!("must be at most {MAX_CIRCUIT_OPEN_SECS} (one day)"),
            );
        }
        if self.max_pages_per_sync == 0 {
            problem("max_pages_per_sync", "must be greater than 0".to_owned());
        }
        problems
    }

    /// The first retry's delay ceiling.
    pub fn initial_backoff(&self) -> Duration {
        Duration::from_millis(self.initial_backoff_ms)
    }

    /// The largest retry delay ceiling.
    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }

    /// How long an open circuit stays open.
    pub fn circuit_open(&self) -> Duration {
        Duration::from_secs(self.circuit_open_secs)
    }

    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.max_retries, self.initial_backoff(), self.max_backoff())
    }

    /// A rate limiter pacing requests evenly (burst 1), or `None` when unlimited.
    ///
    /// Burst 1 because department gateways often count requests per short window; a
    /// burst at start-up is what gets a client throttled.
    pub fn rate_limiter(&self) -> Option<RateLimiter> {
        self.requests_per_second
            .map(|rate| RateLimiter::new(rate, 1))
    }

    /// A closed circuit breaker with these thresholds.
    pub fn circuit_breaker(&self) -> CircuitBreaker {
        CircuitBreaker::new(self.circuit_failures, self.circuit_open())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_block_takes_the_defaults() {
        let config: ReliabilityConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, ReliabilityConfig::default());
        assert_eq!(config.max_retries, 5);
        assert_eq!(config.initial_backoff(), Duration::from_millis(500));
        assert_eq!(config.max_backoff(), Duration::from_secs(30));
        assert_eq!(config.requests_per_second, None);
        assert_eq!(config.max_response_bytes, 33_554_432);
        assert_eq!(config.circuit_failures, 5);
        assert_eq!(config.circuit_open(), Duration::from_secs(60));
        assert!(config.problems().is_empty());
        assert!(config.rate_limiter().is_none());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<ReliabilityConfig>(r#"{"max_retry": 3}"#).is_err());
    }

    #[test]
    fn problems_name_the_field() {
        let bad = ReliabilityConfig {
            requests_per_second: Some(0.0),
            initial_backoff_ms: 60_000,
            max_response_bytes: 0,
            circuit_failures: 0,
            circuit_open_secs: 0,
            ..ReliabilityConfig::default()
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "requests_per_second",
                "initial_backoff_ms",
                "max_response_bytes",
                "circuit_failures",
                "circuit_open_secs"
            ]
        );
        for rate in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            1e-300,
            0.000_999,
        ] {
            let config = ReliabilityConfig {
                requests_per_second: Some(rate),
                ..ReliabilityConfig::default()
            };
            assert_eq!(config.problems().len(), 1, "{rate}");
        }
        let zero = ReliabilityConfig {
            initial_backoff_ms: 0,
            ..ReliabilityConfig::default()
        };
        assert_eq!(zero.problems()[0].0, "initial_backoff_ms");
    }

    #[test]
    fn values_that_would_stall_a_connector_are_refused() {
        let slowest = ReliabilityConfig {
            requests_per_second: Some(MIN_REQUESTS_PER_SECOND),
            max_backoff_ms: MAX_BACKOFF_MS,
            circuit_open_secs: MAX_CIRCUIT_OPEN_SECS,
            ..ReliabilityConfig::default()
        };
        assert_eq!(slowest.problems(), vec![]);

        let stalled = ReliabilityConfig {
            requests_per_second: Some(1e-300),
            max_backoff_ms: MAX_BACKOFF_MS + 1,
            circuit_open_secs: u64::MAX,
            ..ReliabilityConfig::default()
        };
        let problems = stalled.problems();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["requests_per_second", "max_backoff_ms", "circuit_open_secs"]
        );
        assert_eq!(
            problems[0].1,
            "must be a finite number of at least 0.001 (one request in about 17 minutes); \
             leave it out for no limit"
        );
        assert_eq!(problems[1].1, "must be at most 3600000 (one hour)");
        assert_eq!(problems[2].1, "must be at most 86400 (one day)");
    }

    #[test]
    fn round_trips() {
        let config = ReliabilityConfig {
            requests_per_second: Some(2.5),
            ..ReliabilityConfig::default()
        };
        let text = serde_json::to_string(&config).unwrap();
        let back: ReliabilityConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, config);
        assert!(back.rate_limiter().is_some());
    }
}
