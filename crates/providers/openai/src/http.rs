//! What both adapters share on the wire: the HTTP client with its headers, the endpoints under
//! the base URL, the retry policy (backoff with jitter, `Retry-After`), bounded body reads, and
//! the translation of failures into each port's error.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use switchboard_domain::knowledge::EmbedError;
use switchboard_domain::ports::LlmError;
use tracing::debug;
use url::Url;

use crate::config::{ApiKey, OpenAiConfig, OpenAiConfigError};

/// Error bodies are short; anything longer is cut rather than held.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// How long to wait for an error body once its status has arrived.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(5);
/// The longest server message kept in an error.
const MESSAGE_CHARS: usize = 300;

/// An HTTP client that sends the key (and organization) with every request.
#[derive(Clone)]
pub(crate) struct Transport {
    client: Client,
    pub(crate) key: ApiKey,
    pub(crate) retry: RetryPolicy,
}

impl std::fmt::Debug for Transport {
    // The client's own `Debug` lists its default headers; the key is marked sensitive there,
    // but it has no business in debug output at all.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: &OpenAiConfig) -> Result<Self, OpenAiConfigError> {
        let mut headers = HeaderMap::new();
        if !config.api_key.expose().is_empty() {
            let mut bearer = HeaderValue::from_str(&format!("Bearer {}", config.api_key.expose()))
                .map_err(|_| OpenAiConfigError::InvalidHeader)?;
            // Keeps the value out of reqwest's and hyper's debug output.
            bearer.set_sensitive(true);
            headers.insert(AUTHORIZATION, bearer);
        }
        if let Some(organization) = &config.organization {
            headers.insert(
                HeaderName::from_static("openai-organization"),
                HeaderValue::from_str(organization)
                    .map_err(|_| OpenAiConfigError::InvalidHeader)?,
            );
        }
        let client = Client::builder()
            .default_headers(headers)
            .connect_timeout(config.request_timeout)
            // An API answers where it was asked; following a redirect would resend the request
            // (and its key) somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OpenAiConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            key: config.api_key.clone(),
            retry: RetryPolicy {
                max_retries: config.max_retries,
                base: config.retry_base,
                max_wait: config.max_retry_wait,
            },
        })
    }

    pub(crate) fn post(&self, url: &Url) -> RequestBuilder {
        self.client.post(url.clone())
    }

    /// The failure an error status stands for, with the server's message (redacted).
    pub(crate) async fn status_failure(&self, mut response: Response) -> Failure {
        let status = response.status();
        let retry_after = retry_after(response.headers(), Utc::now());
        // A body that cannot be read (in time) still leaves the status to go by.
        let body =
            tokio::time::timeout(ERROR_BODY_WAIT, read_body(&mut response, ERROR_BODY_LIMIT))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
        Failure::Status {
            status,
            message: self.key.redact(&error_message(&body, status)),
            retry_after,
        }
    }
}

/// `{base}{path}`: the base keeps its own path (`/v1`), which `Url::join` would drop.
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url, OpenAiConfigError> {
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err(OpenAiConfigError::BaseUrl(base.to_string()));
    }
    let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
    Url::parse(&joined).map_err(|_| OpenAiConfigError::BaseUrl(base.to_string()))
}

/// Why one attempt failed, before it becomes a port's error.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server answered with an error status.
    Status {
        status: StatusCode,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The connection could not be made, or broke.
    Connection(String),
    /// The stream ended before the reply was complete.
    EndedEarly,
    /// The server reported an error inside a successful stream.
    Reported(String),
    /// No answer within the timeout.
    Timeout,
    /// The answer did not follow the protocol.
    Malformed(anyhow::Error),
}

impl Failure {
    pub(crate) fn from_reqwest(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Connection(describe(error))
        }
    }

    /// Whether the same request may succeed if sent again: the statuses the official SDKs retry,
    /// and connection trouble. A timeout has already spent the caller's patience.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error()
            }
            Self::Connection(_) | Self::EndedEarly | Self::Reported(_) => true,
            Self::Timeout | Self::Malformed(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn into_llm_error(self) -> LlmError {
        match self {
            Self::Status {
                status,
                retry_after,
                ..
            } if status == StatusCode::TOO_MANY_REQUESTS => LlmError::RateLimited { retry_after },
            Self::Status {
                status, message, ..
            } => {
                if status.is_server_error() || matches!(status.as_u16(), 408 | 409) {
                    LlmError::Unavailable(format!("{status}: {message}"))
                } else if status.is_client_error() {
                    LlmError::Rejected(format!("{status}: {message}"))
                } else {
                    LlmError::Unexpected(anyhow::anyhow!("unexpected {status}: {message}"))
                }
            }
            Self::Connection(message) | Self::Reported(message) => LlmError::Unavailable(message),
            Self::EndedEarly => LlmError::Unavailable("stream ended early".to_owned()),
            Self::Timeout => LlmError::Timeout,
            Self::Malformed(error) => LlmError::Unexpected(error),
        }
    }

    pub(crate) fn into_embed_error(self) -> EmbedError {
        match self {
            Self::Status {
                status, message, ..
            } => {
                if status == StatusCode::TOO_MANY_REQUESTS
                    || status.is_server_error()
                    || matches!(status.as_u16(), 408 | 409)
                {
                    EmbedError::Unavailable(format!("OpenAI {status}: {message}"))
                } else if status.is_client_error() {
                    EmbedError::Rejected(format!("OpenAI {status}: {message}"))
                } else {
                    EmbedError::Unexpected(anyhow::anyhow!("OpenAI answered {status}: {message}"))
                }
            }
            Self::Connection(message) | Self::Reported(message) => {
                EmbedError::Unavailable(format!("OpenAI: {message}"))
            }
            Self::EndedEarly => EmbedError::Unavailable("OpenAI: the answer ended early".into()),
            Self::Timeout => EmbedError::Unavailable("OpenAI did not answer in time".into()),
            Self::Malformed(error) => EmbedError::Unexpected(error),
        }
    }
}

/// How often and how long to wait before sending a failed request again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) base: Duration,
    pub(crate) max_wait: Duration,
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails for good, or the retries are spent.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        what: &'static str,
        mut attempt: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) if failure.is_retryable() && retries < self.max_retries => {
                    let wait = self.wait(retries, failure.retry_after());
                    debug!(
                        request = what,
                        retry = retries + 1,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        failure = ?failure,
                        "OpenAI request failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    /// The server's `Retry-After` when it gave one, else exponential backoff with equal jitter
    /// (half fixed, half random), so callers that failed together do not come back together;
    /// never more than `max_wait`.
    pub(crate) fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_wait);
        }
        let factor = 1_u32.checked_shl(retry).unwrap_or(u32::MAX);
        let backoff = self.base.saturating_mul(factor).min(self.max_wait);
        let half = backoff / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// How long the server asked us to wait: `retry-after-ms` (as the official SDKs read it), else
/// `Retry-After` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
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
        (date.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Reads a whole body, refusing to hold more than `limit` bytes.
pub(crate) async fn read_body(response: &mut Response, limit: usize) -> Result<Vec<u8>, Failure> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::from_reqwest(&e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(limit: usize) -> Failure {
    Failure::Malformed(anyhow::anyhow!("the answer is larger than {limit} bytes"))
}

/// OpenAI's error shape, `{"error":{"message":...}}`; some compatible servers put a bare string
/// under `error`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorDetail,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorDetail {
    Object {
        #[serde(default)]
        message: Option<String>,
    },
    Text(String),
}

/// The message an error body carries, or the start of the body, or the status's reason.
pub(crate) fn error_message(body: &[u8], status: StatusCode) -> String {
    let message = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope {
            error: ErrorDetail::Object { message: Some(m) } | ErrorDetail::Text(m),
        }) => m,
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    if message.is_empty() {
        status.canonical_reason().unwrap_or("no details").to_owned()
    } else {
        shorten(&message)
    }
}

/// The message of an error reported inside a stream: the `error` value of a chunk, an object
/// with a `message` or a bare string.
pub(crate) fn reported_error(error: &serde_json::Value) -> String {
    let message = error
        .get("message")
        .and_then(serde_json::Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("the server reported an error");
    shorten(message)
}

fn shorten(message: &str) -> String {
    match message.char_indices().nth(MESSAGE_CHARS) {
        Some((end, _)) => format!("{}...", &message[..end]),
        None => message.to_owned(),
    }
}

/// A reqwest error with its causes, without the URL (which might carry credentials).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_connect() {
        "cannot connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "connection lost while reading the answer".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

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
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:58Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
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

    #[test]
    fn error_messages_come_from_the_body_when_there_is_one() {
        let body = br#"{"error":{"message":"Invalid model","type":"invalid_request_error","param":null,"code":null}}"#;
        assert_eq!(
            error_message(body, StatusCode::BAD_REQUEST),
            "Invalid model"
        );
        assert_eq!(
            error_message(
                br#"{"error":"overloaded"}"#,
                StatusCode::SERVICE_UNAVAILABLE
            ),
            "overloaded"
        );
        assert_eq!(
            error_message(b"<html>bad gateway</html>", StatusCode::BAD_GATEWAY),
            "<html>bad gateway</html>"
        );
        assert_eq!(
            error_message(b"", StatusCode::SERVICE_UNAVAILABLE),
            "Service Unavailable"
        );
        let long = "x".repeat(1000);
        assert!(error_message(long.as_bytes(), StatusCode::BAD_REQUEST).len() < 310);
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = Url::parse("https://api.openai.com/v1").unwrap();
        assert_eq!(
            endpoint(&base, "/chat/completions").unwrap().as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        let slash = Url::parse("http://127.0.0.1:9/v1/").unwrap();
        assert_eq!(
            endpoint(&slash, "/embeddings").unwrap().as_str(),
            "http://127.0.0.1:9/v1/embeddings"
        );
        let ftp = Url::parse("ftp://example.com").unwrap();
        assert!(endpoint(&ftp, "/embeddings").is_err());
    }

    #[test]
    fn statuses_map_to_the_ports_errors() {
        let status = |code: u16| Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            message: "m".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(matches!(
            status(429).into_llm_error(),
            LlmError::RateLimited {
                retry_after: Some(_)
            }
        ));
        for code in [400, 401, 403, 404, 422] {
            assert!(!status(code).is_retryable());
            assert!(matches!(
                status(code).into_llm_error(),
                LlmError::Rejected(_)
            ));
            assert!(matches!(
                status(code).into_embed_error(),
                EmbedError::Rejected(_)
            ));
        }
        for code in [408, 409, 429, 500, 502, 503] {
            assert!(status(code).is_retryable());
            assert!(matches!(
                status(code).into_embed_error(),
                EmbedError::Unavailable(_)
            ));
        }
        assert!(matches!(
            status(503).into_llm_error(),
            LlmError::Unavailable(_)
        ));
        assert!(!Failure::Timeout.is_retryable());
        assert!(matches!(
            Failure::Timeout.into_llm_error(),
            LlmError::Timeout
        ));
    }
}
