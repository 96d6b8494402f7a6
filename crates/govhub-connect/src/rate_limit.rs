//! Pacing requests to a rate-limited API.
//!
//! [`RateLimiter`] spaces requests in time. A connector walks its pages one request at
//! a time (each page's cursor comes from the previous page), so pacing is the only limit
//! it needs.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Slowest pacing the limiter applies: one request a day. Rates below that (or not
/// positive, or NaN, which config validation refuses anyway) are clamped to it rather
/// than overflowing an `Instant`.
const SLOWEST: Duration = Duration::from_secs(86_400);

/// An async token bucket, shared by `&self`: `per_second` requests a second on average,
/// up to `burst` at once after an idle spell.
///
/// Implemented as GCRA (a token bucket kept as one "next free slot" time): each
/// [`acquire`](Self::acquire) reserves its slot under a lock and sleeps outside it, so
/// waiters are served in arrival order and the lock is never held across an `.await`.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between requests at the steady rate.
    interval: Duration,
    /// How far ahead of the steady schedule a burst may run: `(burst - 1) * interval`.
    tolerance: Duration,
    /// Theoretical arrival time of the next request; `None` before the first.
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` requests a second, `burst` of them back to back.
    ///
    /// `burst` 0 is treated as 1; an infinite rate does not limit; a rate that is not
    /// positive or below one a day paces at one a day.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let interval = if per_second == f64::INFINITY {
            Duration::ZERO
        } else if per_second > 0.0 {
            Duration::try_from_secs_f64(per_second.recip()).map_or(SLOWEST, |d| d.min(SLOWEST))
        } else {
            // Also reached by NaN, which compares false with everything.
            SLOWEST
        };
        let tolerance = interval
            .checked_mul(burst.max(1) - 1)
            .unwrap_or(Duration::MAX);
        RateLimiter {
            interval,
            tolerance,
            next: Mutex::new(None),
        }
    }

    /// Time between requests at the steady rate.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits until a request may be sent.
    ///
    /// Dropping the future while it waits forfeits its slot; the limiter then errs on the
    /// slow side, never the fast one.
    pub async fn acquire(&self) {
        let now = Instant::now();
        let start = {
            // Nothing in this block panics, so a poisoned lock still holds a valid time.
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let due = next.map_or(now, |t| t.max(now));
            let start = due.checked_sub(self.tolerance).map_or(now, |s| s.max(now));
            // Overflow would need a deadline centuries away; keep the old one if so.
            *next = Some(due.checked_add(self.interval).unwrap_or(due));
            start
        };
        if start > now {
            tokio::time::sleep_until(start).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Asserts `elapsed` is `expected` give or take tokio's timer, which rounds each
    /// deadline up to the next millisecond; the limiter keeps its own schedule, so that
    /// lateness does not add up across sleeps: at most 1 ms late in all, never early.
    #[track_caller]
    fn assert_took(elapsed: Duration, expected: Duration) {
        let slack = Duration::from_millis(1);
        assert!(
            elapsed >= expected && elapsed <= expected + slack,
            "took {elapsed:?}, expected {expected:?}"
        );
    }

    async fn elapsed_for(limiter: &RateLimiter, n: u32) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            limiter.acquire().await;
        }
        start.elapsed()
    }

    #[tokio::test]
    async fn paces_at_the_rate_after_the_burst() {
        tokio::time::pause();
        let limiter = RateLimiter::new(10.0, 1);
        assert_eq!(limiter.interval(), Duration::from_millis(100));
        // The first goes at once, the other ten wait 100 ms each.
        assert_took(elapsed_for(&limiter, 11).await, Duration::from_secs(1));

        let limiter = RateLimiter::new(4.0, 5);
        assert_eq!(elapsed_for(&limiter, 5).await, Duration::ZERO);
        assert_took(elapsed_for(&limiter, 4).await, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn idle_time_refills_the_burst_but_no_more() {
        tokio::time::pause();
        let limiter = RateLimiter::new(2.0, 3);
        assert_eq!(elapsed_for(&limiter, 3).await, Duration::ZERO);
        tokio::time::advance(Duration::from_secs(60)).await;
        // A long idle spell buys back the burst of 3, not 120 requests.
        assert_eq!(elapsed_for(&limiter, 3).await, Duration::ZERO);
        assert_took(elapsed_for(&limiter, 1).await, Duration::from_millis(500));
    }

    #[tokio::test]
    async fn shared_limiter_paces_all_tasks_together() {
        tokio::time::pause();
        let limiter = Arc::new(RateLimiter::new(4.0, 2));
        let start = Instant::now();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move { elapsed_for(&limiter, 4).await })
            })
            .collect();
        let mut longest = Duration::ZERO;
        for task in tasks {
            longest = longest.max(task.await.unwrap());
        }
        // 12 requests: 2 at once, then 10 at 250 ms intervals.
        assert_took(longest, Duration::from_millis(2500));
        assert_took(start.elapsed(), Duration::from_millis(2500));
    }

    #[tokio::test]
    async fn odd_rates_do_not_panic() {
        tokio::time::pause();
        assert_eq!(
            RateLimiter::new(f64::INFINITY, 1).interval(),
            Duration::ZERO
        );
        for rate in [0.0, -3.0, f64::NAN, f64::MIN_POSITIVE] {
            assert_eq!(RateLimiter::new(rate, 1).interval(), SLOWEST, "{rate}");
        }
        let unlimited = RateLimiter::new(f64::INFINITY, 0);
        assert_eq!(elapsed_for(&unlimited, 100).await, Duration::ZERO);
        let huge_burst = RateLimiter::new(f64::MIN_POSITIVE, u32::MAX);
        assert_eq!(elapsed_for(&huge_burst, 3).await, Duration::ZERO);
    }
}
