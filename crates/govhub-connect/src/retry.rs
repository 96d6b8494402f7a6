//! Retrying transient failures: exponential back-off with full jitter, the server's
//! `Retry-After`, and which HTTP statuses are worth another try.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest server-requested delay [`with_retries`] waits by default (5 minutes).
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Whether an HTTP status is worth retrying: 408, 425, 429, 500, 502, 503 and 504.
///
/// 500 is included: department APIs answer 500 for overloaded back ends and database
/// timeouts that clear on their own, and our requests are idempotent GETs, so a bounded
/// retry is safe. 501, 505 and the other 5xx say the request can never work as sent.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// The delay a `Retry-After` header asks for, as delta-seconds or an HTTP-date.
///
/// Returns `None` when the header is absent or malformed, `Duration::ZERO` for a date in
/// the past. The value is not capped here: [`with_retries`] compares it with
/// [`RetryPolicy::max_retry_after`] and gives up instead of retrying early, because
/// retrying before the server's date only earns another refusal.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits, so parsing fails only on overflow; an absurd delta still means
        // "not soon", which the policy's ceiling turns into giving up.
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    // httpdate accepts IMF-fixdate and the two obsolete forms RFC 9110 says recipients
    // must still accept.
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What the caller's classifier says about a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Permanent: retrying cannot help (bad credentials, a business error, …).
    No,
    /// Transient: retry after the server-given delay, or after back-off when `None`.
    After(Option<Duration>),
}

impl Retry {
    /// The classification of an HTTP error response from its status and headers.
    pub fn for_status(status: u16, headers: &HeaderMap, now: SystemTime) -> Retry {
        if is_transient_status(status) {
            Retry::After(retry_after(headers, now))
        } else {
            Retry::No
        }
    }
}

/// Exponential back-off with full jitter: the delay before retry `n` (0-based) is uniform
/// in `[0, min(max, initial * 2^n)]`, in whole milliseconds.
///
/// Full jitter rather than a fixed schedule so that connectors failing together (one
/// gateway down) do not retry in lock-step; whole milliseconds because that is the
/// timer's resolution anyway.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    rng: SplitMix64,
}

impl Backoff {
    /// Back-off between `initial` and `max`, with jitter seeded from the clock.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self::with_seed(initial, max, clock_seed())
    }

    /// Back-off with a fixed jitter seed, for reproducible tests.
    pub fn with_seed(initial: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            initial,
            max,
            rng: SplitMix64(seed),
        }
    }

    /// The upper bound of the delay before retry `retry` (0-based): `min(max, initial * 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        2u32.checked_pow(retry)
            .and_then(|factor| self.initial.checked_mul(factor))
            .map_or(self.max, |d| d.min(self.max))
    }

    /// A random delay in `[0, ceiling(retry)]`, in whole milliseconds.
    pub fn delay(&mut self, retry: u32) -> Duration {
        let ceiling_ms = u64::try_from(self.ceiling(retry).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.below_inclusive(ceiling_ms))
    }
}

/// How many times and how long [`with_retries`] retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; `0` means a single attempt.
    pub max_retries: u32,
    /// Ceiling of the first back-off delay.
    pub initial_backoff: Duration,
    /// Largest back-off ceiling.
    pub max_backoff: Duration,
    /// Longest server-requested delay honoured; a longer one ends the retries at once.
    pub max_retry_after: Duration,
    /// Fixed jitter seed for reproducible tests; `None` seeds from the clock.
    pub seed: Option<u64>,
}

impl RetryPolicy {
    /// A policy with [`DEFAULT_MAX_RETRY_AFTER`] and clock-seeded jitter.
    pub fn new(max_retries: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        RetryPolicy {
            max_retries,
            initial_backoff,
            max_backoff,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            seed: None,
        }
    }

    fn backoff(&self) -> Backoff {
        match self.seed {
            Some(seed) => Backoff::with_seed(self.initial_backoff, self.max_backoff, seed),
            None => Backoff::new(self.initial_backoff, self.max_backoff),
        }
    }
}

/// The outcome of [`with_retries`] and how many retries it took, for metrics.
#[derive(Debug)]
pub struct Retried<T, E> {
    /// The last attempt's result.
    pub result: Result<T, E>,
    /// Retries made after the first attempt.
    pub retries: u32,
}

impl<T, E> Retried<T, E> {
    /// The result alone, when the retry count is not needed.
    pub fn into_result(self) -> Result<T, E> {
        self.result
    }
}

/// Runs `attempt` (given the 0-based attempt number) until it succeeds, `classify` says
/// [`Retry::No`], `policy.max_retries` retries are spent, or the server asks to wait
/// longer than `policy.max_retry_after`.
///
/// Each retry is logged with the failed attempt's number, the delay and the error
/// (whose text must carry no credentials: govhub's errors show URLs without them); run
/// this inside a span that names the connector.
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut attempt: F,
    classify: impl Fn(&E) -> Retry,
) -> Retried<T, E>
where
    E: std::fmt::Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = policy.backoff();
    let mut retries = 0;
    loop {
        let error = match attempt(retries).await {
            Ok(value) => {
                return Retried {
                    result: Ok(value),
                    retries,
                };
            }
            Err(error) => error,
        };
        let give_up = move |error| Retried {
            result: Err(error),
            retries,
        };
        let server_delay = match classify(&error) {
            Retry::No => return give_up(error),
            Retry::After(delay) => delay,
        };
        if retries >= policy.max_retries {
            tracing::debug!(retries, "giving up: retries exhausted");
            return give_up(error);
        }
        let delay = match server_delay {
            Some(asked) if asked > policy.max_retry_after => {
                tracing::warn!(
                    attempt = retries + 1,
                    cause = %error,
                    retry_after_ms = millis(asked),
                    max_retry_after_ms = millis(policy.max_retry_after),
                    "giving up: the server asks to wait longer than allowed"
                );
                return give_up(error);
            }
            Some(asked) => asked,
            None => backoff.delay(retries),
        };
        tracing::warn!(
            attempt = retries + 1,
            cause = %error,
            max_retries = policy.max_retries,
            delay_ms = millis(delay),
            server_delay = server_delay.is_some(),
            "transient failure, retrying"
        );
        retries += 1;
        tokio::time::sleep(delay).await;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// SplitMix64: tiny and fast; jitter needs spread, not unpredictability.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, bound]` by multiply-shift (bias is negligible at these ranges).
    fn below_inclusive(&mut self, bound: u64) -> u64 {
        let span = u128::from(bound) + 1;
        // The product is below 2^64 * span, so the shifted value is below span ≤ 2^64.
        u64::try_from((u128::from(self.next_u64()) * span) >> 64).unwrap_or(bound)
    }
}

/// A seed from the clock plus a counter, so back-offs created in the same nanosecond
/// (several connectors starting together) still jitter differently.
fn clock_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Truncating to 64 bits is fine: only the low bits vary between calls.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use tokio::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    /// Asserts `elapsed` is `expected` give or take tokio's timer, which rounds each
    /// deadline up to the next millisecond: at most 1 ms late per sleep, never early.
    #[track_caller]
    fn assert_slept(elapsed: Duration, expected: Duration, sleeps: u32) {
        assert!(
            elapsed >= expected && elapsed <= expected + MS * sleeps,
            "slept {elapsed:?}, expected {expected:?} over {sleeps} sleeps"
        );
    }

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn ceiling_doubles_and_caps_without_overflow() {
        let backoff = Backoff::with_seed(100 * MS, 1000 * MS, 1);
        let ceilings: Vec<u64> = (0..6).map(|n| millis(backoff.ceiling(n))).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.ceiling(40), 1000 * MS);
        assert_eq!(backoff.ceiling(u32::MAX), 1000 * MS);
    }

    #[test]
    fn delays_are_full_jitter_within_the_ceiling() {
        let mut backoff = Backoff::with_seed(100 * MS, 1000 * MS, 42);
        for retry in 0..8 {
            let ceiling = backoff.ceiling(retry);
            let samples: Vec<Duration> = (0..500).map(|_| backoff.delay(retry)).collect();
            assert!(samples.iter().all(|d| *d <= ceiling), "retry {retry}");
            assert!(samples.iter().all(|d| d.subsec_nanos() % 1_000_000 == 0));
            // Full jitter spans the whole range, not just the upper half.
            assert!(samples.iter().any(|d| *d < ceiling / 5), "retry {retry}");
            assert!(
                samples.iter().any(|d| *d > ceiling * 4 / 5),
                "retry {retry}"
            );
        }
    }

    #[test]
    fn the_seed_fixes_the_sequence() {
        let run = |seed| {
            let mut backoff = Backoff::with_seed(MS * 500, MS * 30_000, seed);
            (0..10).map(|n| backoff.delay(n)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert_ne!(clock_seed(), clock_seed());
    }

    #[test]
    fn zero_ceiling_gives_zero_delay() {
        let mut backoff = Backoff::with_seed(Duration::ZERO, Duration::ZERO, 3);
        assert_eq!(backoff.delay(0), Duration::ZERO);
    }

    #[test]
    fn retry_after_reads_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(retry_after(&headers(" 0 "), now), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&headers("99999999999999999999999"), now),
            Some(Duration::MAX)
        );
    }

    #[test]
    fn retry_after_reads_http_dates() {
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 seconds after the epoch.
        let date = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let now = date - Duration::from_secs(90);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                retry_after(&headers(form), now),
                Some(Duration::from_secs(90)),
                "{form}"
            );
        }
        let later = date + Duration::from_secs(5);
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:37 GMT"), later),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_ignores_garbage() {
        let now = SystemTime::now();
        for garbage in [
            "",
            "soon",
            "-5",
            "1.5",
            "12s",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(retry_after(&headers(garbage), now), None, "{garbage:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        let mut binary = HeaderMap::new();
        binary.insert(RETRY_AFTER, HeaderValue::from_bytes(b"\xff12").unwrap());
        assert_eq!(retry_after(&binary, now), None);
    }

    #[test]
    fn transient_statuses() {
        for status in [408, 425, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [200, 400, 401, 403, 404, 409, 422, 501, 505, 511] {
            assert!(!is_transient_status(status), "{status}");
        }
        let now = SystemTime::now();
        assert_eq!(Retry::for_status(404, &headers("5"), now), Retry::No);
        assert_eq!(
            Retry::for_status(503, &headers("5"), now),
            Retry::After(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            Retry::for_status(502, &HeaderMap::new(), now),
            Retry::After(None)
        );
    }

    fn policy(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            seed: Some(11),
            ..RetryPolicy::new(max_retries, 100 * MS, 1000 * MS)
        }
    }

    /// Runs `with_retries` where the first `failures` attempts fail with `classify`'s
    /// verdict; returns the outcome, the attempts made and the virtual time taken.
    async fn run(
        policy: &RetryPolicy,
        failures: u32,
        verdict: Retry,
    ) -> (Retried<u32, &'static str>, u32, Duration) {
        let start = Instant::now();
        let mut calls = 0;
        let outcome = with_retries(
            policy,
            |n| {
                assert_eq!(n, calls, "attempt numbers count from 0");
                calls += 1;
                let fail = calls <= failures;
                async move { if fail { Err("boom") } else { Ok(n) } }
            },
            |_| verdict,
        )
        .await;
        (outcome, calls, start.elapsed())
    }

    #[tokio::test]
    async fn succeeds_after_failures_with_jittered_sleeps() {
        tokio::time::pause();
        let policy = policy(5);
        let (outcome, calls, elapsed) = run(&policy, 3, Retry::After(None)).await;
        assert_eq!(outcome.result, Ok(3));
        assert_eq!((outcome.retries, calls), (3, 4));
        let mut same = Backoff::with_seed(100 * MS, 1000 * MS, 11);
        let expected: Duration = (0..3).map(|n| same.delay(n)).sum();
        assert_slept(elapsed, expected, 3);
    }

    #[tokio::test]
    async fn honours_the_server_delay_once_per_retry() {
        tokio::time::pause();
        let verdict = Retry::After(Some(Duration::from_secs(2)));
        let (outcome, calls, elapsed) = run(&policy(5), 3, verdict).await;
        assert_eq!(outcome.into_result(), Ok(3));
        assert_eq!(calls, 4);
        assert_slept(elapsed, Duration::from_secs(6), 3);
    }

    #[tokio::test]
    async fn stops_after_max_retries() {
        tokio::time::pause();
        let verdict = Retry::After(Some(Duration::from_secs(1)));
        let (outcome, calls, elapsed) = run(&policy(2), u32::MAX, verdict).await;
        assert_eq!(outcome.result, Err("boom"));
        assert_eq!((outcome.retries, calls), (2, 3));
        assert_slept(elapsed, Duration::from_secs(2), 2);

        let (outcome, calls, _) = run(&policy(0), u32::MAX, Retry::After(None)).await;
        assert_eq!((outcome.retries, calls), (0, 1));
    }

    #[tokio::test]
    async fn does_not_retry_permanent_errors() {
        tokio::time::pause();
        let (outcome, calls, elapsed) = run(&policy(5), 1, Retry::No).await;
        assert_eq!(outcome.result, Err("boom"));
        assert_eq!((outcome.retries, calls), (0, 1));
        assert_eq!(elapsed, Duration::ZERO);
    }

    #[tokio::test]
    async fn gives_up_when_the_server_asks_for_too_long() {
        tokio::time::pause();
        let too_long = DEFAULT_MAX_RETRY_AFTER + Duration::from_secs(1);
        let (outcome, calls, elapsed) = run(&policy(5), 1, Retry::After(Some(too_long))).await;
        assert_eq!(outcome.result, Err("boom"));
        assert_eq!(calls, 1);
        assert_eq!(elapsed, Duration::ZERO);

        let (outcome, _, elapsed) =
            run(&policy(5), 1, Retry::After(Some(DEFAULT_MAX_RETRY_AFTER))).await;
        assert_eq!(outcome.result, Ok(1));
        assert_slept(elapsed, DEFAULT_MAX_RETRY_AFTER, 1);
    }
}
