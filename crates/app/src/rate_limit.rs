//! The in-process `RateLimiter`: exact sliding windows kept in memory. Several instances need a
//! shared limiter (Redis) instead; this one serves a single server.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_domain::ports::{Clock, Quota, RateDecision, RateLimiter};

/// Above this many keys, keys whose hits have all left their window are dropped, so one-off
/// clients do not grow the map for ever.
const SWEEP_ABOVE_KEYS: usize = 10_000;

/// Remembers the time of each allowed hit per key, at most `limit` of them.
pub struct InMemoryRateLimiter {
    clock: Arc<dyn Clock>,
    // A std mutex: the critical section is short and never awaits, so a tokio mutex would only
    // add overhead.
    hits: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl std::fmt::Debug for InMemoryRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InMemoryRateLimiter")
    }
}

impl InMemoryRateLimiter {
    /// A limiter reading time from `clock`.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            hits: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl RateLimiter for InMemoryRateLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> RateDecision {
        if quota.is_unlimited() {
            return RateDecision::Allowed {
                remaining: u32::MAX,
            };
        }
        let now = self.clock.now();
        let window = chrono::Duration::from_std(quota.window).unwrap_or(chrono::Duration::MAX);
        let Ok(mut hits) = self.hits.lock() else {
            // A poisoned lock means a panic elsewhere; fail open as the port's contract says.
            tracing::error!("rate limiter state is poisoned; allowing the request");
            return RateDecision::Allowed { remaining: 0 };
        };
        if hits.len() > SWEEP_ABOVE_KEYS {
            hits.retain(|_, times| times.back().is_some_and(|last| *last + window > now));
        }
        let times = hits.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|first| *first + window <= now) {
            times.pop_front();
        }
        let limit = quota.limit as usize;
        if times.len() < limit {
            times.push_back(now);
            RateDecision::Allowed {
                remaining: u32::try_from(limit - times.len()).unwrap_or(0),
            }
        } else {
            let oldest = times.front().copied().unwrap_or(now);
            let retry_after = (oldest + window - now)
                .to_std()
                .unwrap_or(Duration::from_secs(1));
            RateDecision::Limited { retry_after }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    struct TestClock(AtomicI64);

    impl TestClock {
        fn advance_ms(&self, ms: i64) {
            self.0.fetch_add(ms, Ordering::SeqCst);
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap_or_default()
        }
    }

    #[tokio::test]
    async fn allows_the_quota_then_refuses_until_the_oldest_hit_leaves_the_window() {
        let clock = Arc::new(TestClock(AtomicI64::new(1_700_000_000_000)));
        let limiter = InMemoryRateLimiter::new(clock.clone());
        let quota = Quota::per_minute(3);
        for remaining in [2, 1, 0] {
            assert_eq!(
                limiter.hit("a", quota).await,
                RateDecision::Allowed { remaining }
            );
            clock.advance_ms(10_000);
        }
        // 30 s after the first hit: it leaves the window in another 30 s.
        assert_eq!(
            limiter.hit("a", quota).await,
            RateDecision::Limited {
                retry_after: Duration::from_secs(30)
            }
        );
        assert!(matches!(
            limiter.hit("b", quota).await,
            RateDecision::Allowed { .. }
        ));
        clock.advance_ms(30_000);
        assert!(matches!(
            limiter.hit("a", quota).await,
            RateDecision::Allowed { .. }
        ));
        assert!(matches!(
            limiter.hit("a", quota).await,
            RateDecision::Limited { .. }
        ));
    }

    #[tokio::test]
    async fn zero_means_unlimited() {
        let limiter = InMemoryRateLimiter::new(Arc::new(TestClock(AtomicI64::new(0))));
        for _ in 0..100 {
            assert!(matches!(
                limiter.hit("a", Quota::per_minute(0)).await,
                RateDecision::Allowed { .. }
            ));
        }
    }
}
