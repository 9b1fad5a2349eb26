//! How to reach Deepgram: the key, the base URL, the default model, the timeouts, the retry
//! policy and the live stream's keep-alive and buffering. [`crate::DeepgramStt`] takes a
//! [`DeepgramConfig`].

use std::time::Duration;

use switchboard_provider_http::{ApiKey, RetryPolicy};
use url::Url;

/// Where and how to call Deepgram.
#[derive(Clone, Debug)]
pub struct DeepgramConfig {
    /// Sent as `Authorization: Token <key>` on every request and stream.
    pub api_key: ApiKey,
    /// For example `https://api.deepgram.com`; the adapter appends `/v1/listen`, and for live
    /// streams turns `http` into `ws` and `https` into `wss`.
    pub base_url: Url,
    /// The model used when a request names none.
    pub model: String,
    /// The longest a connection may take to open: TCP, TLS and, for live streams, the WebSocket
    /// handshake.
    pub connect_timeout: Duration,
    /// The longest a pre-recorded transcription may take as a whole, and the longest a live
    /// stream waits for Deepgram's last results after `CloseStream`.
    pub answer_timeout: Duration,
    /// Retries of a failed connection or request (connection errors, 408, 429, 5xx), with
    /// backoff; a refusal (401, 403, other 4xx) is never retried.
    pub retry: RetryPolicy,
    /// How long a live stream may go without audio before a `KeepAlive` goes out. Deepgram
    /// closes a stream after 10 s without audio or `KeepAlive`; its docs ask for one every 3 to
    /// 5 s.
    pub keep_alive_interval: Duration,
    /// Messages (audio pieces and control messages) a live stream holds for its writer before
    /// `send_audio` waits; at 20 ms pieces the default is one second of audio.
    pub send_buffer: usize,
}

impl DeepgramConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.deepgram.com";
    pub const DEFAULT_MODEL: &'static str = "nova-3";
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
        max_retries: 3,
        base: Duration::from_millis(250),
        max_wait: Duration::from_secs(5),
    };
    pub const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(4);
    pub const DEFAULT_SEND_BUFFER: usize = 50;

    /// Deepgram's own API with `nova-3` and the default timeouts, retries and keep-alive.
    #[must_use]
    #[expect(
        clippy::expect_used,
        reason = "a constant URL, checked by the crate's tests"
    )]
    pub fn new(api_key: ApiKey) -> Self {
        let base_url = Url::parse(Self::DEFAULT_BASE_URL).expect("the default base URL parses");
        Self::with_base_url(api_key, base_url)
    }

    /// As [`DeepgramConfig::new`], against another server (a proxy, or a test's fake).
    #[must_use]
    pub fn with_base_url(api_key: ApiKey, base_url: Url) -> Self {
        Self {
            api_key,
            base_url,
            model: Self::DEFAULT_MODEL.to_owned(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            answer_timeout: Self::DEFAULT_ANSWER_TIMEOUT,
            retry: Self::DEFAULT_RETRY,
            keep_alive_interval: Self::DEFAULT_KEEP_ALIVE_INTERVAL,
            send_buffer: Self::DEFAULT_SEND_BUFFER,
        }
    }
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeepgramConfigError {
    #[error("the base URL must be http or https with a host, not {0:?}")]
    BaseUrl(String),
    #[error("the model name is empty")]
    EmptyModel,
    #[error("the API key is empty or cannot be sent in an HTTP header")]
    InvalidKey,
    #[error("the keep-alive interval must be more than zero")]
    KeepAliveInterval,
    #[error("the send buffer must hold at least one message")]
    SendBuffer,
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_point_at_deepgram() {
        let config = DeepgramConfig::new(ApiKey::new("dg-secret"));
        assert_eq!(config.base_url.as_str(), "https://api.deepgram.com/");
        assert_eq!(config.model, "nova-3");
        assert_eq!(config.keep_alive_interval, Duration::from_secs(4));
        assert!(!format!("{config:?}").contains("dg-secret"));
    }
}
