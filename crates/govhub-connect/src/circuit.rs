//! A circuit breaker per connector: after repeated failed polls, stop calling a
//! department API for a while instead of adding load to a system that is down.
//!
//! It counts polls, not requests: record one outcome per poll, after
//! [`with_retries`](crate::retry::with_retries) has had its go, so that a flaky request
//! that succeeded on retry is not a failure.
//!
//! Times are [`tokio::time::Instant`] so that callers and tests on a paused tokio clock
//! see the circuit move with it.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// Stand-in when `now + open_for` overflows an `Instant` (a config of centuries).
const FAR: Duration = Duration::from_secs(365 * 86_400);

/// Closed → (N consecutive failures) → Open until T → (at T) HalfOpen: one trial →
/// success closes, failure re-opens.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A trial is out; if it reports nothing by `lease_until` (its caller was cancelled),
    /// another trial may go, so a lost outcome cannot wedge the circuit.
    HalfOpen {
        lease_until: Instant,
    },
}

/// Refusal from an open circuit: the earliest time it may let a call through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker is open")]
pub struct OpenUntil {
    /// When the circuit lets a trial through at the latest (sooner if a half-open trial
    /// succeeds).
    pub until: Instant,
}

impl OpenUntil {
    /// Time left until `until`, zero if it has passed.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.until.saturating_duration_since(now)
    }
}

/// The circuit as status reports show it, e.g. `{"state": "open", "remaining_secs": 42}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls go through; counts failed polls in a row.
    Closed {
        /// Failed polls since the last success.
        consecutive_failures: u32,
    },
    /// Calls are refused.
    Open {
        /// Whole seconds until a trial is let through, rounded up.
        remaining_secs: u64,
    },
    /// The open period is over: the next call is a trial.
    HalfOpen,
}

impl CircuitBreaker {
    /// A closed breaker opening after `failures` consecutive failures (0 counts as 1) and
    /// staying open for `open_for`.
    pub fn new(failures: u32, open_for: Duration) -> Self {
        CircuitBreaker {
            threshold: failures.max(1),
            open_for,
            state: State::Closed { failures: 0 },
        }
    }

    /// Whether a call may go now; when open and the period is over, lets this one call
    /// through as the half-open trial.
    pub fn allow(&mut self, now: Instant) -> Result<(), OpenUntil> {
        match self.state {
            State::Closed { .. } => Ok(()),
            State::Open { until } | State::HalfOpen { lease_until: until } if now < until => {
                Err(OpenUntil { until })
            }
            State::Open { .. } | State::HalfOpen { .. } => {
                self.state = State::HalfOpen {
                    lease_until: self.later(now),
                };
                Ok(())
            }
        }
    }

    /// Records a successful call: closes the circuit and resets the failure count.
    ///
    /// Ignored while open: only a straggler started before the circuit opened can
    /// succeed then, and the trial should decide.
    pub fn record_success(&mut self) {
        if !matches!(self.state, State::Open { .. }) {
            self.state = State::Closed { failures: 0 };
        }
    }

    /// Records a failed call at `now`: opens the circuit at the threshold or after a
    /// failed trial.
    ///
    /// Ignored while open, so stragglers do not push recovery further away.
    pub fn record_failure(&mut self, now: Instant) {
        self.state = match self.state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    State::Open {
                        until: self.later(now),
                    }
                } else {
                    State::Closed { failures }
                }
            }
            State::HalfOpen { .. } => State::Open {
                until: self.later(now),
            },
            open @ State::Open { .. } => open,
        };
    }

    /// The state at `now`, for status reporting.
    pub fn state(&self, now: Instant) -> CircuitState {
        match self.state {
            State::Closed { failures } => CircuitState::Closed {
                consecutive_failures: failures,
            },
            State::Open { until } if now < until => {
                let left = until - now;
                CircuitState::Open {
                    remaining_secs: left.as_secs() + u64::from(left.subsec_nanos() > 0),
                }
            }
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    fn later(&self, now: Instant) -> Instant {
        now.checked_add(self.open_for)
            .unwrap_or_else(|| now + FAR.min(self.open_for))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn closed(failures: u32) -> CircuitState {
        CircuitState::Closed {
            consecutive_failures: failures,
        }
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(3, 60 * S);
        breaker.record_failure(t0);
        breaker.record_failure(t0);
        assert_eq!(breaker.state(t0), closed(2));
        breaker.record_success();
        assert_eq!(breaker.state(t0), closed(0));
        for _ in 0..2 {
            breaker.record_failure(t0);
            assert_eq!(breaker.allow(t0), Ok(()));
        }
        breaker.record_failure(t0 + 10 * S);
        let until = t0 + 70 * S;
        assert_eq!(breaker.allow(t0 + 10 * S), Err(OpenUntil { until }));
        assert_eq!(breaker.allow(t0 + 69 * S), Err(OpenUntil { until }));
        assert_eq!(
            breaker.state(t0 + 10 * S),
            CircuitState::Open { remaining_secs: 60 }
        );
        let err = breaker.allow(t0 + 40 * S).unwrap_err();
        assert_eq!(err.remaining(t0 + 40 * S), 30 * S);
    }

    #[test]
    fn half_open_trial_success_closes() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(1, 60 * S);
        breaker.record_failure(t0);
        assert_eq!(breaker.state(t0 + 60 * S), CircuitState::HalfOpen);
        assert_eq!(breaker.allow(t0 + 60 * S), Ok(()));
        // Only one trial at a time.
        assert!(breaker.allow(t0 + 61 * S).is_err());
        assert_eq!(breaker.state(t0 + 61 * S), CircuitState::HalfOpen);
        breaker.record_success();
        assert_eq!(breaker.state(t0 + 61 * S), closed(0));
        assert_eq!(breaker.allow(t0 + 61 * S), Ok(()));
    }

    #[test]
    fn half_open_trial_failure_reopens_from_the_failure() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(2, 60 * S);
        breaker.record_failure(t0);
        breaker.record_failure(t0);
        assert_eq!(breaker.allow(t0 + 60 * S), Ok(()));
        breaker.record_failure(t0 + 65 * S);
        assert_eq!(
            breaker.allow(t0 + 65 * S),
            Err(OpenUntil {
                until: t0 + 125 * S
            })
        );
        // A single failure re-opens: the count does not start over from zero.
        assert_eq!(breaker.allow(t0 + 125 * S), Ok(()));
    }

    #[test]
    fn a_lost_trial_does_not_wedge_the_circuit() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(1, 60 * S);
        breaker.record_failure(t0);
        assert_eq!(breaker.allow(t0 + 60 * S), Ok(()));
        // The trial's caller vanished without recording anything.
        assert_eq!(
            breaker.allow(t0 + 90 * S),
            Err(OpenUntil {
                until: t0 + 120 * S
            })
        );
        assert_eq!(breaker.allow(t0 + 120 * S), Ok(()));
    }

    #[test]
    fn stragglers_while_open_change_nothing() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(1, 60 * S);
        breaker.record_failure(t0);
        breaker.record_failure(t0 + 30 * S);
        breaker.record_success();
        assert_eq!(
            breaker.allow(t0 + 30 * S),
            Err(OpenUntil { until: t0 + 60 * S })
        );
    }

    #[test]
    fn zero_threshold_and_huge_period_do_not_panic() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(0, Duration::MAX);
        assert_eq!(breaker.allow(t0), Ok(()));
        breaker.record_failure(t0);
        assert!(breaker.allow(t0 + 1000 * S).is_err());
    }

    #[test]
    fn state_serializes_for_status_reports() {
        let t0 = Instant::now();
        let json = |state| serde_json::to_value(state).unwrap();
        assert_eq!(
            json(closed(2)),
            serde_json::json!({"state": "closed", "consecutive_failures": 2})
        );
        let mut breaker = CircuitBreaker::new(1, 60 * S);
        breaker.record_failure(t0);
        // Rounded up: half a second left is still "open", never "0 seconds".
        let half = Duration::from_millis(59_500);
        assert_eq!(
            json(breaker.state(t0 + half)),
            serde_json::json!({"state": "open", "remaining_secs": 1})
        );
        assert_eq!(
            json(breaker.state(t0 + 60 * S)),
            serde_json::json!({"state": "half_open"})
        );
    }
}
