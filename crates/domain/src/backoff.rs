//! Exponential backoff, shared by every durable queue that tries work again later (post-call
//! analyses, webhook deliveries), so they all wait the same way.

use std::time::Duration;

/// `base * 2^(attempt - 1)` after failed attempt `attempt` (1-based), at most `max`.
#[must_use]
pub fn exponential(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 2_u32.saturating_pow(attempt.saturating_sub(1));
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// The total wait of the first `attempts - 1` retries (the time from the first attempt to the
/// last), before jitter: what a policy's settings promise.
#[must_use]
pub fn span(base: Duration, max: Duration, attempts: u32) -> Duration {
    (1..attempts)
        .map(|attempt| exponential(base, max, attempt))
        .fold(Duration::ZERO, Duration::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let base = Duration::from_secs(30);
        let max = Duration::from_secs(3600);
        let waits: Vec<u64> = (1..=9)
            .map(|a| exponential(base, max, a).as_secs())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(exponential(base, max, 200), max);
        assert_eq!(span(base, max, 1), Duration::ZERO);
        assert_eq!(span(base, max, 3), Duration::from_secs(90));
    }
}
