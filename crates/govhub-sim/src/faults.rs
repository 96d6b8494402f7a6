//! Fault injection: what unreliable department systems do to a client.
//!
//! Every decision is a pure function of the seed, the department, the request's page
//! position and how many times that position was asked for, so a test run is
//! reproducible, and a client that retries a failed page gets it after at most
//! [`Faults::max_failures_per_page`] failures.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::rng::{hash, unit};

/// Fault rates and delays of one department API; all off by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Share of requests answered with 500, 502 (an HTML page from the proxy) or 503.
    pub server_error_rate: f64,
    /// Share of requests answered with 429 and `Retry-After`.
    pub rate_limit_rate: f64,
    /// Seconds in `Retry-After` of a 429.
    pub retry_after_secs: u64,
    /// Share of pages answered 200 with a JSON body cut in half.
    pub malformed_rate: f64,
    /// Share of page boundaries where the next page starts with the previous page's
    /// last item again. Decided per boundary, so it does not depend on attempts.
    pub duplicate_rate: f64,
    /// Share of records that violate the standard (a department-specific defect).
    /// Decided per record, so the same record is always invalid.
    pub invalid_rate: f64,
    /// Delay added to every response.
    pub latency: Duration,
    /// Share of requests delayed by a further [`Faults::slow_latency`] (to trip client
    /// timeouts).
    pub slow_rate: f64,
    /// The extra delay of a slow request.
    pub slow_latency: Duration,
    /// Failures (5xx, 429, malformed, slow) a page position suffers at most: from this
    /// attempt on it always succeeds, so retrying clients make progress.
    pub max_failures_per_page: u32,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            server_error_rate: 0.0,
            rate_limit_rate: 0.0,
            retry_after_secs: 1,
            malformed_rate: 0.0,
            duplicate_rate: 0.0,
            invalid_rate: 0.0,
            latency: Duration::ZERO,
            slow_rate: 0.0,
            slow_latency: Duration::from_secs(5),
            max_failures_per_page: 2,
        }
    }
}

/// How a request fails, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 429 with `Retry-After`.
    RateLimited,
    /// A 5xx status.
    ServerError(StatusCode),
    /// 200 with a truncated body.
    Malformed,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The failure, if any.
    pub failure: Option<Failure>,
    /// How long to wait before answering.
    pub delay: Duration,
}

/// Decision tags, so each fault kind rolls independently.
const TAG_RATE_LIMIT: u64 = 1;
const TAG_SERVER_ERROR: u64 = 2;
const TAG_MALFORMED: u64 = 3;
const TAG_SLOW: u64 = 4;
const TAG_DUPLICATE: u64 = 5;
const TAG_INVALID: u64 = 6;
const TAG_STATUS: u64 = 7;

/// A department's faults with the attempt counters that make retries succeed.
#[derive(Debug)]
pub(crate) struct FaultState {
    faults: Faults,
    key: u64,
    /// Requests seen per page position; one entry per position ever requested.
    attempts: Mutex<HashMap<u64, u32>>,
}

impl FaultState {
    /// Faults of the department identified by `key` (seed and department mixed).
    pub(crate) fn new(faults: Faults, key: u64) -> FaultState {
        FaultState {
            faults,
            key,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn rolls(&self, tag: u64, parts: &[u64], rate: f64) -> bool {
        rate > 0.0 && unit(hash(&[&[self.key, tag], parts].concat())) < rate
    }

    /// Decides the fate of a request for page `position` and counts the attempt.
    pub(crate) fn decide(&self, position: u64) -> Decision {
        let f = &self.faults;
        let failing = [
            f.rate_limit_rate,
            f.server_error_rate,
            f.malformed_rate,
            f.slow_rate,
        ]
        .iter()
        .any(|rate| *rate > 0.0);
        let mut decision = Decision {
            failure: None,
            delay: f.latency,
        };
        if !failing {
            return decision;
        }
        let attempt = {
            // A poisoned lock only means another request panicked; the counts are
            // still usable.
            let mut attempts = self
                .attempts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let count = attempts.entry(position).or_insert(0);
            *count += 1;
            *count - 1
        };
        if attempt >= f.max_failures_per_page {
            return decision;
        }
        let at = [position, u64::from(attempt)];
        decision.failure = if self.rolls(TAG_RATE_LIMIT, &at, f.rate_limit_rate) {
            Some(Failure::RateLimited)
        } else if self.rolls(TAG_SERVER_ERROR, &at, f.server_error_rate) {
            let status = match hash(&[self.key, TAG_STATUS, position, u64::from(attempt)]) % 3 {
                0 => StatusCode::INTERNAL_SERVER_ERROR,
                1 => StatusCode::BAD_GATEWAY,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            Some(Failure::ServerError(status))
        } else if self.rolls(TAG_MALFORMED, &at, f.malformed_rate) {
            Some(Failure::Malformed)
        } else {
            None
        };
        if decision.failure.is_none() && self.rolls(TAG_SLOW, &at, f.slow_rate) {
            decision.delay += f.slow_latency;
        }
        decision
    }

    /// Whether the page starting at `boundary` repeats the item just before it.
    pub(crate) fn duplicate(&self, boundary: u64) -> bool {
        boundary > 0 && self.rolls(TAG_DUPLICATE, &[boundary], self.faults.duplicate_rate)
    }

    /// See [`invalid`].
    #[cfg(test)]
    pub(crate) fn invalid(&self, record: u64) -> Option<u64> {
        invalid(&self.faults, self.key, record)
    }

    /// The configured faults.
    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }
}

/// Whether record `record` of the department identified by `key` is invalid, and if so
/// a number to pick its defect with. A function of the record alone, so generating
/// records needs no server state and a record's validity never changes.
pub(crate) fn invalid(faults: &Faults, key: u64, record: u64) -> Option<u64> {
    (faults.invalid_rate > 0.0 && unit(hash(&[key, TAG_INVALID, record])) < faults.invalid_rate)
        .then(|| hash(&[key, TAG_INVALID, record, 1]))
}

/// A department's JSON error body for a status and message, in its own envelope.
pub(crate) type ErrorBody = fn(StatusCode, &str) -> Value;

/// Answers a page request: waits as decided, fails as decided, or renders `page`.
/// `page` runs only when the request succeeds, so failed requests cost no generation.
pub(crate) async fn respond(
    state: &FaultState,
    position: u64,
    error_body: ErrorBody,
    page: impl FnOnce() -> (HeaderMap, Value),
) -> Response {
    let decision = state.decide(position);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.failure {
        Some(Failure::RateLimited) => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            let mut response = (
                status,
                axum::Json(error_body(status, "rate limit exceeded")),
            )
                .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(state.faults().retry_after_secs),
            );
            response
        }
        Some(Failure::ServerError(StatusCode::BAD_GATEWAY)) => {
            // What the reverse proxy in front of the application says when it is down.
            let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
            (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                html,
            )
                .into_response()
        }
        Some(Failure::ServerError(status)) => {
            (status, axum::Json(error_body(status, "internal error"))).into_response()
        }
        Some(Failure::Malformed) => {
            let (headers, body) = page();
            let text = body.to_string();
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                text[..cut].to_owned(),
            )
                .into_response();
            response.headers_mut().extend(headers);
            response
        }
        None => {
            let (headers, body) = page();
            let mut response = (StatusCode::OK, axum::Json(body)).into_response();
            response.headers_mut().extend(headers);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_fails_at_most_max_failures_times() {
        let state = FaultState::new(
            Faults {
                server_error_rate: 1.0,
                ..Faults::default()
            },
            1,
        );
        assert!(state.decide(10).failure.is_some());
        assert!(state.decide(10).failure.is_some());
        assert_eq!(state.decide(10).failure, None);
        assert!(state.decide(20).failure.is_some());
    }

    #[test]
    fn decisions_are_reproducible_and_near_their_rates() {
        let faults = Faults {
            rate_limit_rate: 0.1,
            server_error_rate: 0.1,
            max_failures_per_page: 1,
            ..Faults::default()
        };
        let run = || {
            let state = FaultState::new(faults, 9);
            (0..10_000)
                .map(|p| state.decide(p).failure)
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let limited = first
            .iter()
            .filter(|f| **f == Some(Failure::RateLimited))
            .count();
        let errors = first
            .iter()
            .filter(|f| matches!(f, Some(Failure::ServerError(_))))
            .count();
        assert!((800..1200).contains(&limited), "{limited}");
        // 10% of the 90% not rate limited.
        assert!((700..1100).contains(&errors), "{errors}");
    }

    #[test]
    fn nothing_happens_by_default() {
        let state = FaultState::new(Faults::default(), 3);
        for p in 0..1000 {
            assert_eq!(state.decide(p).failure, None);
            assert!(!state.duplicate(p));
            assert_eq!(state.invalid(p), None);
        }
    }
}
