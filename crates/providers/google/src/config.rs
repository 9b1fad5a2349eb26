//! How to reach Google: the OAuth client, the redirect URI registered with it, and the three
//! base URLs (consent page, token endpoint, Calendar API), each replaceable for tests.

use std::time::Duration;

use switchboard_provider_http::ApiKey;
use url::Url;

/// The scope asked for: read events and free/busy, and create events.
pub const CALENDAR_SCOPE: &str = "https://www.googleapis.com/auth/calendar";

/// An OAuth client of Google and where its endpoints are.
#[derive(Clone, Debug)]
pub struct GoogleConfig {
    pub client_id: String,
    pub client_secret: ApiKey,
    /// Where Google sends the browser back; it must match the client's registration exactly.
    pub redirect_uri: Url,
    /// `https://accounts.google.com`; the adapter appends `/o/oauth2/v2/auth`.
    pub oauth_base_url: Url,
    /// `https://oauth2.googleapis.com/token`, used as is.
    pub token_url: Url,
    /// `https://www.googleapis.com/calendar/v3`; the adapter appends `/calendars/...` and
    /// `/freeBusy`.
    pub calendar_base_url: Url,
    /// The connect timeout, and the longest one whole request may take.
    pub request_timeout: Duration,
    /// Retries after the first attempt, for idempotent requests only.
    pub max_retries: u32,
    /// The first backoff; it doubles with each retry, with jitter.
    pub retry_base: Duration,
}

impl GoogleConfig {
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_RETRIES: u32 = 2;
    pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(250);
    /// The longest single wait between attempts, whatever `Retry-After` asks for.
    pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

    /// A configuration with the default timeout and retries.
    #[must_use]
    pub fn new(
        client_id: String,
        client_secret: ApiKey,
        redirect_uri: Url,
        oauth_base_url: Url,
        token_url: Url,
        calendar_base_url: Url,
    ) -> Self {
        Self {
            client_id,
            client_secret,
            redirect_uri,
            oauth_base_url,
            token_url,
            calendar_base_url,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            retry_base: Self::DEFAULT_RETRY_BASE,
        }
    }
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GoogleConfigError {
    #[error("the client id is empty")]
    EmptyClientId,
    #[error("the client secret is empty")]
    EmptyClientSecret,
    #[error("{0}")]
    InvalidUrl(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}
