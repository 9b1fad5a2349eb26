//! When and how long to wait before sending a failed request again.

use std::future::Future;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

/// What a failure says about sending the same request again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Sending it again cannot help, or may do harm, or would outlast the caller's patience.
    No,
    /// Sending it again may succeed; `after` is how long the server asked to wait, when it did
    /// (the policy's backoff applies otherwise).
    Yes { after: Option<Duration> },
}

/// A failure [`RetryPolicy::run`] can decide about. Which failures qualify is the provider's
/// call: which statuses it means as "try again", and whether its requests are safe to resend.
pub trait Retryable {
    /// Whether to send the same request again, and when.
    fn retry(&self) -> Retry;

    /// Whether the same request may succeed if sent again.
    fn is_retryable(&self) -> bool {
        self.retry() != Retry::No
    }
}

/// How often and how long to wait before sending a failed request again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff; it doubles with each retry.
    pub base: Duration,
    /// The longest single wait, whatever the backoff or the server asks for.
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails with a failure that says [`Retry::No`], or
    /// `max_retries` retries are spent, and returns the last result. Before each retry it calls `on_retry(failure, retry, wait)` (`retry` counts from
    /// 1), so the adapter can log in its own words, then sleeps for [`RetryPolicy::wait`].
    ///
    /// # Errors
    /// The failure of the last attempt.
    pub async fn run<T, E, F, Fut>(
        &self,
        mut attempt: F,
        mut on_retry: impl FnMut(&E, u32, Duration),
    ) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) if retries < self.max_retries => {
                    let Retry::Yes { after } = failure.retry() else {
                        return Err(failure);
                    };
                    let wait = self.wait(retries, after);
                    on_retry(&failure, retries + 1, wait);
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    /// The wait before retry number `retry` (from 0): the server's `retry_after` when it gave
    /// one, else exponential backoff (`base`, doubled each retry) with equal jitter (half fixed,
    /// half random), so callers that failed together do not come back together; never more than
    /// `max_wait`.
    #[must_use]
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_wait);
        }
        let factor = 1_u32.checked_shl(retry).unwrap_or(u32::MAX);
        let backoff = self.base.saturating_mul(factor).min(self.max_wait);
        let half = backoff / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// How long the server asked us to wait: `retry-after-ms` (as OpenAI's SDKs read it), else
/// `Retry-After` in seconds (fractions allowed) or as an HTTP date, which counts from `now` and
/// means no wait once past. `None` when there is neither, or the value makes no sense (negative,
/// not a number or date).
#[must_use]
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && let Ok(wait) = Duration::try_from_secs_f64(ms / 1000.0)
    {
        return Some(wait);
    }
    let raw = header("retry-after")?;
    if let Ok(seconds) = raw.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let date = DateTime::parse_from_rfc2822(raw).ok()?;
    Some(
        (date.with_timezone(&Utc) - DateTime::<Utc>::from(now))
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::Cell;

    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_in_seconds_milliseconds_and_dates() {
        let now: SystemTime = DateTime::parse_from_rfc3339("2015-10-21T07:27:58Z")
            .unwrap()
            .with_timezone(&Utc)
            .into();
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")]), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")]), now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
                now
            ),
            Some(Duration::from_secs(2))
        );
        // A date in the past means now.
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "120"), ("retry-after", "9")]),
                now
            ),
            Some(Duration::from_millis(120))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")]), now), None);
        assert_eq!(retry_after(&headers(&[]), now), None);
    }

    #[test]
    fn waits_grow_with_jitter_and_stay_capped() {
        let policy = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(200),
            max_wait: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = policy.wait(0, None);
            assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
            let third = policy.wait(2, None);
            assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(800));
            assert!(policy.wait(30, None) <= Duration::from_secs(1));
            assert!(policy.wait(40, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            policy.wait(0, Some(Duration::from_millis(30))),
            Duration::from_millis(30)
        );
        assert_eq!(
            policy.wait(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(1)
        );
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Fails {
        Again,
        ForGood,
    }

    impl Retryable for Fails {
        fn retry(&self) -> Retry {
            match self {
                Self::Again => Retry::Yes {
                    after: Some(Duration::ZERO),
                },
                Self::ForGood => Retry::No,
            }
        }
    }

    #[tokio::test]
    async fn run_retries_what_may_succeed_and_stops_when_spent() {
        let policy = RetryPolicy {
            max_retries: 2,
            base: Duration::from_millis(1),
            max_wait: Duration::from_millis(1),
        };
        let attempts = Cell::new(0);
        let mut retries = Vec::new();
        let result: Result<(), Fails> = policy
            .run(
                || {
                    attempts.set(attempts.get() + 1);
                    async { Err(Fails::Again) }
                },
                |_, retry, wait| retries.push((retry, wait)),
            )
            .await;
        assert_eq!(result, Err(Fails::Again));
        assert_eq!(attempts.get(), 3);
        assert_eq!(retries, [(1, Duration::ZERO), (2, Duration::ZERO)]);

        attempts.set(0);
        let result: Result<(), Fails> = policy
            .run(
                || {
                    attempts.set(attempts.get() + 1);
                    async { Err(Fails::ForGood) }
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(result, Err(Fails::ForGood));
        assert_eq!(attempts.get(), 1);

        attempts.set(0);
        let result = policy
            .run(
                || {
                    attempts.set(attempts.get() + 1);
                    let n = attempts.get();
                    async move { if n < 2 { Err(Fails::Again) } else { Ok(n) } }
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(result, Ok(2));
    }
}
