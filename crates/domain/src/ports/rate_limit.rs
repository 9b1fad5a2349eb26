//! The rate-limiter port, so one process can count in memory and a fleet can count in Redis.

use std::time::Duration;

use async_trait::async_trait;

/// How many hits a key may make within a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window: Duration,
}

impl Quota {
    /// `limit` hits per minute; 0 means unlimited.
    #[must_use]
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
        }
    }

    /// Whether this quota limits anything at all.
    #[must_use]
    pub const fn is_unlimited(&self) -> bool {
        self.limit == 0
    }
}

/// The answer to one hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// Counted; `remaining` more hits fit in the window.
    Allowed { remaining: u32 },
    /// Refused and not counted; the next hit is allowed after `retry_after`.
    Limited { retry_after: Duration },
}

/// Counts hits per key.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Records one hit of `key` against `quota` if it fits. Over the last `quota.window`, at most
    /// `quota.limit` hits of one key are allowed; refused hits are not counted. An unlimited quota
    /// always answers `Allowed`. A limiter that cannot reach its store allows the hit (failing
    /// open) and logs why: a broken counter must not lock every user out.
    async fn hit(&self, key: &str, quota: Quota) -> RateDecision;
}
