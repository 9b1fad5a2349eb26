//! The wire beneath the adapter: an HTTP client that sends Pinecone's headers, the endpoints under
//! the index host, retries with backoff, bounded body reads, and the translation of failures into
//! [`VectorStoreError`].

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use switchboard_domain::knowledge::VectorStoreError;
use tracing::debug;
use url::Url;

use crate::config::{ApiKey, PineconeConfig, PineconeConfigError};

/// Error bodies are short; anything longer is cut rather than held.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// How long to wait for an error body once its status has arrived.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(5);
/// The longest server message kept in an error.
const MESSAGE_CHARS: usize = 300;

/// An HTTP client bound to one index, sending the key and API version with every request.
#[derive(Clone)]
pub(crate) struct Transport {
    client: Client,
    key: ApiKey,
    host: Url,
    timeout: Duration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Transport {
    // The client's own `Debug` lists its default headers; the key is marked sensitive there, but
    // it has no business in debug output at all.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("host", &self.host.as_str())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: &PineconeConfig) -> Result<Self, PineconeConfigError> {
        let host = &config.index_host;
        if !matches!(host.scheme(), "http" | "https") || host.host().is_none() {
            return Err(PineconeConfigError::IndexHost(host.to_string()));
        }
        if config.api_key.expose().is_empty() {
            return Err(PineconeConfigError::EmptyKey);
        }
        let mut key = HeaderValue::from_str(config.api_key.expose())
            .map_err(|_| PineconeConfigError::InvalidKey)?;
        // Keeps the value out of reqwest's and hyper's debug output.
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("api-key"), key);
        headers.insert(
            HeaderName::from_static("x-pinecone-api-version"),
            HeaderValue::from_static(PineconeConfig::API_VERSION),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = Client::builder()
            .default_headers(headers)
            .connect_timeout(config.request_timeout)
            // The index answers where it was asked; following a redirect would resend the
            // request, key included, somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PineconeConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            key: config.api_key.clone(),
            host: host.clone(),
            timeout: config.request_timeout,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                base: config.retry_base,
                max_wait: PineconeConfig::MAX_RETRY_WAIT,
            },
        })
    }

    /// `{host}{path}`, keeping any path the host was given with.
    pub(crate) fn endpoint(&self, path: &str) -> Result<Url, VectorStoreError> {
        let joined = format!("{}{path}", self.host.as_str().trim_end_matches('/'));
        Url::parse(&joined).map_err(|e| {
            VectorStoreError::Unexpected(anyhow::anyhow!("cannot address {path} on the index: {e}"))
        })
    }

    /// POSTs a JSON `body` to `url`, retrying what retrying can fix, and reads the answer as `T`
    /// from at most `limit` bytes.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: &Url,
        body: Vec<u8>,
        limit: usize,
    ) -> Result<T, VectorStoreError> {
        let mut retries = 0;
        loop {
            match self.attempt(url, &body, limit).await {
                Ok(value) => return Ok(value),
                Err(failure) if failure.is_retryable() && retries < self.retry.max_retries => {
                    let wait = self.retry.wait(retries, failure.retry_after());
                    debug!(
                        pinecone.operation = operation,
                        retry = retries + 1,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        failure = ?failure,
                        "Pinecone request failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(failure) => {
                    debug!(
                        pinecone.operation = operation,
                        retries,
                        failure = ?failure,
                        "Pinecone request failed"
                    );
                    return Err(failure.into_store_error());
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        url: &Url,
        body: &[u8],
        limit: usize,
    ) -> Result<T, Failure> {
        let mut response = self
            .client
            .post(url.clone())
            .timeout(self.timeout)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(self.status_failure(response).await);
        }
        let bytes = read_body(&mut response, limit).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Malformed(anyhow::anyhow!(
                "Pinecone's answer to {} is not as documented: {e}",
                url.path()
            ))
        })
    }

    /// The failure an error status stands for, with Pinecone's message (redacted).
    async fn status_failure(&self, mut response: Response) -> Failure {
        let status = response.status();
        let retry_after = retry_after(response.headers());
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

/// Why one attempt failed, before it becomes a [`VectorStoreError`].
#[derive(Debug)]
enum Failure {
    /// The index answered with an error status.
    Status {
        status: StatusCode,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The connection could not be made, or broke.
    Connection(String),
    /// No answer within the request timeout.
    Timeout,
    /// The answer did not follow the protocol.
    Malformed(anyhow::Error),
}

impl Failure {
    fn from_reqwest(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Connection(describe(error))
        }
    }

    /// Whether the same request may succeed if sent again: rate limits, server errors and
    /// connection trouble. Every request the adapter sends is idempotent (upserts replace,
    /// deletes of what is gone succeed), so resending cannot do harm. A timeout has already
    /// spent the caller's patience.
    fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            Self::Connection(_) => true,
            Self::Timeout | Self::Malformed(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn into_store_error(self) -> VectorStoreError {
        match self {
            Self::Status {
                status, message, ..
            } => {
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    VectorStoreError::Unavailable(format!("Pinecone {status}: {message}"))
                } else if let Some((expected, actual)) = dimension_mismatch(&message)
                    && status == StatusCode::BAD_REQUEST
                {
                    VectorStoreError::DimensionMismatch { expected, actual }
                } else {
                    VectorStoreError::Unexpected(anyhow::anyhow!(
                        "Pinecone refused the request ({status}): {message}"
                    ))
                }
            }
            Self::Connection(message) => {
                VectorStoreError::Unavailable(format!("Pinecone: {message}"))
            }
            Self::Timeout => {
                VectorStoreError::Unavailable("Pinecone did not answer in time".into())
            }
            Self::Malformed(error) => VectorStoreError::Unexpected(error),
        }
    }
}

/// How often and how long to wait before sending a failed request again.
#[derive(Clone, Copy, Debug)]
struct RetryPolicy {
    max_retries: u32,
    base: Duration,
    max_wait: Duration,
}

impl RetryPolicy {
    /// The server's `Retry-After` when it gave one, else exponential backoff with equal jitter
    /// (half fixed, half random), so callers that failed together do not come back together;
    /// never more than `max_wait`.
    fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_wait);
        }
        let factor = 1_u32.checked_shl(retry).unwrap_or(u32::MAX);
        let backoff = self.base.saturating_mul(factor).min(self.max_wait);
        let half = backoff / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// `Retry-After` in seconds, when the answer carries one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get("retry-after")?.to_str().ok()?;
    Duration::try_from_secs_f64(raw.trim().parse::<f64>().ok()?).ok()
}

/// Reads a whole body, refusing to hold more than `limit` bytes.
async fn read_body(response: &mut Response, limit: usize) -> Result<Vec<u8>, Failure> {
    let too_large = || {
        Failure::Malformed(anyhow::anyhow!(
            "Pinecone's answer is larger than {limit} bytes"
        ))
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::from_reqwest(&e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Pinecone's error bodies: gRPC-style `{"code":3,"message":"..."}` from the data plane, or
/// `{"error":{"code":"...","message":"..."}}` from the gateway in front of it.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

/// The message an error body carries, or the start of the body, or the status's reason.
fn error_message(body: &[u8], status: StatusCode) -> String {
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(m), ..
        })
        | Ok(ErrorBody {
            error: Some(ErrorDetail { message: Some(m) }),
            ..
        }) => m,
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    if message.is_empty() {
        status.canonical_reason().unwrap_or("no details").to_owned()
    } else {
        shorten(&message)
    }
}

fn shorten(message: &str) -> String {
    match message.char_indices().nth(MESSAGE_CHARS) {
        Some((end, _)) => format!("{}...", &message[..end]),
        None => message.to_owned(),
    }
}

/// The index's and the vector's sizes from Pinecone's refusal, `Vector dimension 3 does not
/// match the dimension of the index 1536` (and `Query vector dimension ...` for queries):
/// `(expected, actual)`.
fn dimension_mismatch(message: &str) -> Option<(usize, usize)> {
    let words: Vec<&str> = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let number_after = |word: &str, from: usize| {
        (from..words.len().saturating_sub(1)).find_map(|i| {
            words[i]
                .eq_ignore_ascii_case(word)
                .then(|| words[i + 1].parse::<usize>().ok())
                .flatten()
                .map(|n| (n, i + 1))
        })
    };
    let (actual, at) = number_after("dimension", 0)?;
    let (expected, _) = number_after("index", at)?;
    Some((expected, actual))
}

/// A reqwest error with its causes, without the URL.
fn describe(error: &reqwest::Error) -> String {
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

    #[test]
    fn dimension_mismatches_are_read_from_pinecones_messages() {
        assert_eq!(
            dimension_mismatch("Vector dimension 3 does not match the dimension of the index 1536"),
            Some((1536, 3))
        );
        assert_eq!(
            dimension_mismatch(
                "Query vector dimension 2048 does not match the dimension of the index 8"
            ),
            Some((8, 2048))
        );
        assert_eq!(dimension_mismatch("Invalid API Key"), None);
        assert_eq!(dimension_mismatch("dimension is wrong"), None);
        assert_eq!(dimension_mismatch("Vector dimension 3 is too small"), None);
    }

    #[test]
    fn error_messages_come_from_either_body_shape() {
        let grpc = br#"{"code":3,"message":"Metadata size is 50000 bytes","details":[]}"#;
        assert_eq!(
            error_message(grpc, StatusCode::BAD_REQUEST),
            "Metadata size is 50000 bytes"
        );
        let gateway =
            br#"{"error":{"code":"UNAUTHENTICATED","message":"Invalid API Key"},"status":401}"#;
        assert_eq!(
            error_message(gateway, StatusCode::UNAUTHORIZED),
            "Invalid API Key"
        );
        assert_eq!(
            error_message(b"upstream connect error", StatusCode::SERVICE_UNAVAILABLE),
            "upstream connect error"
        );
        assert_eq!(
            error_message(b"", StatusCode::SERVICE_UNAVAILABLE),
            "Service Unavailable"
        );
        assert!(error_message(&[b'x'; 1000], StatusCode::BAD_REQUEST).len() < 310);
    }

    #[test]
    fn statuses_map_to_the_ports_errors() {
        let status = |code: u16, message: &str| Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            message: message.into(),
            retry_after: None,
        };
        for code in [429, 500, 502, 503, 504] {
            assert!(status(code, "m").is_retryable());
            assert!(matches!(
                status(code, "m").into_store_error(),
                VectorStoreError::Unavailable(_)
            ));
        }
        for code in [400, 401, 403, 404, 409, 413] {
            assert!(!status(code, "m").is_retryable());
            assert!(matches!(
                status(code, "m").into_store_error(),
                VectorStoreError::Unexpected(_)
            ));
        }
        assert!(matches!(
            status(
                400,
                "Vector dimension 3 does not match the dimension of the index 8"
            )
            .into_store_error(),
            VectorStoreError::DimensionMismatch {
                expected: 8,
                actual: 3
            }
        ));
        assert!(Failure::Connection("reset".into()).is_retryable());
        assert!(!Failure::Timeout.is_retryable());
        assert!(matches!(
            Failure::Timeout.into_store_error(),
            VectorStoreError::Unavailable(_)
        ));
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
            assert!(policy.wait(40, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            policy.wait(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(1)
        );
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
    }
}
