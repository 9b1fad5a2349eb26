//! How to reach Twilio's REST API: the account, its auth token, the base URL, the timeouts and
//! the retry policy of [`crate::TwilioClient`].

use std::time::Duration;

use switchboard_provider_http::ApiKey;
use url::Url;

/// The account and how patiently to call Twilio. `Debug` shows everything but the token.
#[derive(Clone, Debug)]
pub struct TwilioConfig {
    /// `AC...`: the user name of HTTP Basic auth, and part of every path.
    pub account_sid: String,
    /// The account's auth token, the password of HTTP Basic auth. A secret: it never prints.
    pub auth_token: ApiKey,
    /// [`TwilioConfig::DEFAULT_BASE_URL`] but in tests; the client appends
    /// `/2010-04-01/Accounts/{sid}/Calls.json` and `/Calls/{call sid}.json` to it.
    pub base_url: Url,
    /// The longest wait for a connection to Twilio.
    pub connect_timeout: Duration,
    /// The longest one whole request (sending, Twilio's work, the answer) may take.
    pub request_timeout: Duration,
    /// Retries after the first attempt. Requests on a live call and fetches are retried on 429,
    /// 5xx and connection failures; a dial only when the connection could not even be made
    /// (nothing was sent, so no call can have been placed).
    pub max_retries: u32,
    /// The first backoff; it doubles with each retry, with jitter.
    pub retry_base: Duration,
    /// The longest single wait between attempts, whatever `Retry-After` asks for.
    pub max_retry_wait: Duration,
}

impl TwilioConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.twilio.com";
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
    pub const DEFAULT_MAX_RETRIES: u32 = 2;
    pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(250);
    pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

    /// A configuration for Twilio's own API with the default timeouts and retry policy.
    #[must_use]
    #[expect(
        clippy::expect_used,
        reason = "DEFAULT_BASE_URL is a constant URL, checked by a test"
    )]
    pub fn new(account_sid: impl Into<String>, auth_token: ApiKey) -> Self {
        let base_url = Url::parse(Self::DEFAULT_BASE_URL).expect("the default base URL parses");
        Self::with_base_url(account_sid, auth_token, base_url)
    }

    /// A configuration for another base URL (a fake, a proxy) with the default timeouts and
    /// retry policy.
    #[must_use]
    pub fn with_base_url(
        account_sid: impl Into<String>,
        auth_token: ApiKey,
        base_url: Url,
    ) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token,
            base_url,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            retry_base: Self::DEFAULT_RETRY_BASE,
            max_retry_wait: Self::DEFAULT_MAX_RETRY_WAIT,
        }
    }
}

/// A configuration the client cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TwilioConfigError {
    /// Empty, or not letters and digits: it goes into every path unescaped.
    #[error("the account SID must be letters and digits (AC...), not {0:?}")]
    AccountSid(String),
    #[error("the auth token is empty")]
    EmptyToken,
    #[error("the base URL must be an http(s) URL with a host, not {0:?}")]
    BaseUrl(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
    #[error(
        "transcripts are read in pages of 1 to 5000 sentences, at least one page; not \
         {page_size} sentences and {max_pages} pages"
    )]
    Paging { page_size: u32, max_pages: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_calls_twilio_and_hides_the_token() {
        let config = TwilioConfig::new("AC123", ApiKey::new("secret-token"));
        assert_eq!(config.base_url.as_str(), "https://api.twilio.com/");
        let debug = format!("{config:?}");
        assert!(debug.contains("AC123"), "{debug}");
        assert!(!debug.contains("secret-token"), "{debug}");
    }
}
