//! librdkafka's callbacks for every govhub Kafka client: its log lines and global errors
//! go through `tracing`, rate-limited, and the broker's reachability is kept for the
//! admin API.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

/// The `tracing` target of every line this module writes.
pub const LOG_TARGET: &str = "govhub::kafka";

/// How long the same kind of librdkafka line is held back after it was logged: a wrong
/// broker address otherwise makes librdkafka report every reconnect attempt, hundreds
/// of lines a minute that bury everything else.
const REPEAT_WINDOW: Duration = Duration::from_secs(30);

/// Whether the brokers answer, as far as the client has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerState {
    /// `true` after the last successful contact (delivery, metadata, topic creation);
    /// `false` before the first one and after librdkafka reported all brokers down.
    pub connected: bool,
    /// The last connection error librdkafka reported, if any (kept after recovery).
    pub last_error: Option<String>,
    /// When `connected` last changed, or when the client was created.
    pub since: DateTime<Utc>,
}

/// The context of govhub's librdkafka clients; clones share one state.
#[derive(Clone)]
pub(crate) struct KafkaContext {
    shared: Arc<Shared>,
}

struct Shared {
    /// Bootstrap servers, a field of every line so several clusters can be told apart.
    servers: String,
    /// Mirrors `state.connected` so the hot path (every delivery) takes no lock.
    connected: AtomicBool,
    state: Mutex<BrokerState>,
    /// The latest error other than "all brokers down", whose own text ("1/1 brokers are
    /// down") does not say why.
    last_cause: Mutex<Option<String>>,
    limiter: Mutex<RateLimiter>,
}

impl std::fmt::Debug for KafkaContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaContext")
            .field("servers", &self.shared.servers)
            .field("connected", &self.shared.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Locks `mutex` even if a thread panicked while holding it: every value guarded here
/// stays consistent whatever point a panic interrupted.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KafkaContext {
    /// A context for clients of the cluster at `servers`, not yet connected.
    pub(crate) fn new(servers: &str) -> Self {
        KafkaContext {
            shared: Arc::new(Shared {
                servers: servers.to_owned(),
                connected: AtomicBool::new(false),
                state: Mutex::new(BrokerState {
                    connected: false,
                    last_error: None,
                    since: Utc::now(),
                }),
                last_cause: Mutex::new(None),
                limiter: Mutex::new(RateLimiter::new(REPEAT_WINDOW)),
            }),
        }
    }

    /// The broker state now.
    pub(crate) fn broker_state(&self) -> BrokerState {
        lock(&self.shared.state).clone()
    }

    /// A broker answered: marks the cluster reachable, logging once if it was not.
    pub(crate) fn mark_up(&self) {
        if self.shared.connected.load(Ordering::Relaxed) {
            return;
        }
        let again = {
            let mut state = lock(&self.shared.state);
            if state.connected {
                return;
            }
            state.connected = true;
            state.since = Utc::now();
            self.shared.connected.store(true, Ordering::Relaxed);
            state.last_error.is_some()
        };
        let servers = self.shared.servers.as_str();
        if again {
            tracing::info!(target: LOG_TARGET, servers, "kafka: broker reachable again");
        } else {
            tracing::info!(target: LOG_TARGET, servers, "kafka: broker reachable");
        }
    }

    /// librdkafka gave up on every broker: marks the cluster down, logging once per
    /// change; while it stays down only the cause is updated.
    fn mark_down(&self, cause: String) {
        {
            let mut state = lock(&self.shared.state);
            let changed = state.connected || state.last_error.is_none();
            state.last_error = Some(cause.clone());
            if !changed {
                return;
            }
            state.connected = false;
            state.since = Utc::now();
            self.shared.connected.store(false, Ordering::Relaxed);
        }
        tracing::warn!(
            target: LOG_TARGET,
            servers = self.shared.servers.as_str(),
            "kafka: all brokers down: {cause}"
        );
    }

    /// Whether a line of kind `key` may be logged now, and how many of its kind were
    /// held back since the last one that was.
    fn admit(&self, key: (u8, String)) -> Option<u64> {
        lock(&self.shared.limiter).admit(key, Instant::now())
    }
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        let rank = level as u8;
        let Some(suppressed) = self.admit((rank, fac.to_owned())) else {
            return;
        };
        // `None` leaves the field out of the line: most lines have nothing held back.
        let suppressed = (suppressed > 0).then_some(suppressed);
        let servers = self.shared.servers.as_str();
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(
                target: LOG_TARGET, facility = fac, servers, suppressed,
                "librdkafka: {log_message}"
            ),
            RDKafkaLogLevel::Warning => tracing::warn!(
                target: LOG_TARGET, facility = fac, servers, suppressed,
                "librdkafka: {log_message}"
            ),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(
                target: LOG_TARGET, facility = fac, servers, suppressed,
                "librdkafka: {log_message}"
            ),
            RDKafkaLogLevel::Debug => tracing::debug!(
                target: LOG_TARGET, facility = fac, servers, suppressed,
                "librdkafka: {log_message}"
            ),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        // A reader asked to be told where a partition ends: news, not an error.
        if code == Some(RDKafkaErrorCode::PartitionEOF) {
            return;
        }
        if code == Some(RDKafkaErrorCode::AllBrokersDown) {
            let cause = lock(&self.shared.last_cause)
                .clone()
                .unwrap_or_else(|| reason.to_owned());
            self.mark_down(cause);
        } else {
            *lock(&self.shared.last_cause) = Some(reason.to_owned());
            let mut state = lock(&self.shared.state);
            if !state.connected && state.last_error.is_some() {
                // Still down, for a reason that may have changed (refused → TLS failure).
                state.last_error = Some(reason.to_owned());
            }
        }
        // Errors share the limiter with log lines under a rank no log level uses.
        let name = code.map_or_else(|| "Unknown".to_owned(), |c| format!("{c:?}"));
        let Some(suppressed) = self.admit((u8::MAX, name.clone())) else {
            return;
        };
        let suppressed = (suppressed > 0).then_some(suppressed);
        let servers = self.shared.servers.as_str();
        if code == Some(RDKafkaErrorCode::Fatal) {
            tracing::error!(
                target: LOG_TARGET, facility = "error", servers, code = name.as_str(), suppressed,
                "librdkafka: {reason}"
            );
        } else {
            tracing::warn!(
                target: LOG_TARGET, facility = "error", servers, code = name.as_str(), suppressed,
                "librdkafka: {reason}"
            );
        }
    }
}

impl ConsumerContext for KafkaContext {}

/// Lets the first line of each kind through, then at most one per window, counting
/// what it held back in between.
#[derive(Debug)]
struct RateLimiter {
    window: Duration,
    /// Per kind: when its last line was let through, and how many were held back since.
    /// Kinds are librdkafka's (level, facility) pairs and error codes: a few dozen.
    seen: HashMap<(u8, String), (Instant, u64)>,
}

impl RateLimiter {
    fn new(window: Duration) -> Self {
        RateLimiter {
            window,
            seen: HashMap::new(),
        }
    }

    /// `Some(held back since the last one)` if a line of `key` may be logged at `now`.
    fn admit(&mut self, key: (u8, String), now: Instant) -> Option<u64> {
        match self.seen.get_mut(&key) {
            Some((last, held)) if now.saturating_duration_since(*last) < self.window => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                let suppressed = *held;
                *last = now;
                *held = 0;
                Some(suppressed)
            }
            None => {
                self.seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_lets_one_line_per_kind_and_window_through_and_counts_the_rest() {
        let mut limiter = RateLimiter::new(Duration::from_secs(30));
        let start = Instant::now();
        let fail = (3, "FAIL".to_owned());
        assert_eq!(limiter.admit(fail.clone(), start), Some(0));
        for s in 1..30 {
            assert_eq!(
                limiter.admit(fail.clone(), start + Duration::from_secs(s)),
                None
            );
        }
        // Another facility, or the same one at another level, is another kind.
        assert_eq!(limiter.admit((3, "ERROR".to_owned()), start), Some(0));
        assert_eq!(limiter.admit((4, "FAIL".to_owned()), start), Some(0));
        assert_eq!(
            limiter.admit(fail.clone(), start + Duration::from_secs(30)),
            Some(29)
        );
        assert_eq!(
            limiter.admit(fail.clone(), start + Duration::from_secs(31)),
            None
        );
        assert_eq!(
            limiter.admit(fail, start + Duration::from_secs(61)),
            Some(1)
        );
    }

    #[test]
    fn the_broker_state_changes_once_per_transition() {
        let context = KafkaContext::new("state-test:1");
        let initial = context.broker_state();
        assert!(!initial.connected);
        assert_eq!(initial.last_error, None);

        context.error(
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "state-test:1/bootstrap: Connect failed: Connection refused",
        );
        // A transport error alone is not "all brokers down": librdkafka may still have
        // another broker.
        assert_eq!(context.broker_state().last_error, None);
        context.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        let down = context.broker_state();
        assert!(!down.connected);
        assert_eq!(
            down.last_error.as_deref(),
            Some("state-test:1/bootstrap: Connect failed: Connection refused")
        );

        context.mark_up();
        let up = context.broker_state();
        assert!(up.connected);
        assert!(up.since >= down.since);
        // The last error stays for the operator; a second success changes nothing.
        assert_eq!(up.last_error, down.last_error);
        context.mark_up();
        assert_eq!(context.broker_state(), up);

        context.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert!(!context.broker_state().connected);
    }
}
