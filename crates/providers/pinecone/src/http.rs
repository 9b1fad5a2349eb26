//! The wire beneath the adapter: an HTTP client that sends Pinecone's headers, retries (with the
//! policy of `switchboard-provider-http`), and the translation of failures into
//! [`VectorStoreError`].

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use switchboard_domain::knowledge::VectorStoreError;
use switchboard_provider_http::{
    ApiKey, BodyError, ErrorAnswer, Retry, RetryPolicy, Retryable, client, describe, error_text,
    read_body,
};
use tracing::debug;
use url::Url;

use crate::config::{PineconeConfig, PineconeConfigError};

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
    /// A transport for the index `config` names; the caller has checked the host (by making its
    /// endpoints).
    pub(crate) fn new(config: &PineconeConfig) -> Result<Self, PineconeConfigError> {
        if config.api_key.expose().is_empty() {
            return Err(PineconeConfigError::EmptyKey);
        }
        let key = config
            .api_key
            .header_value("")
            .map_err(|_| PineconeConfigError::InvalidKey)?;
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("api-key"), key);
        headers.insert(
            HeaderName::from_static("x-pinecone-api-version"),
            HeaderValue::from_static(PineconeConfig::API_VERSION),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = client(headers, config.request_timeout)
            .map_err(|e| PineconeConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            key: config.api_key.clone(),
            host: config.index_host.clone(),
            timeout: config.request_timeout,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                base: config.retry_base,
                max_wait: PineconeConfig::MAX_RETRY_WAIT,
            },
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
        let result = self
            .retry
            .run(
                || self.attempt(url, &body, limit),
                |failure, retry, wait| {
                    debug!(
                        pinecone.operation = operation,
                        retry,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        failure = ?failure,
                        "Pinecone request failed; retrying"
                    );
                    retries = retry;
                },
            )
            .await;
        result.map_err(|failure| {
            debug!(
                pinecone.operation = operation,
                retries,
                failure = ?failure,
                "Pinecone request failed"
            );
            failure.into_store_error()
        })
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
    async fn status_failure(&self, response: Response) -> Failure {
        Failure::Status(ErrorAnswer::read(response, &self.key, error_message).await)
    }
}

/// Why one attempt failed, before it becomes a [`VectorStoreError`].
#[derive(Debug)]
enum Failure {
    /// The index answered with an error status.
    Status(ErrorAnswer),
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

    fn into_store_error(self) -> VectorStoreError {
        match self {
            Self::Status(ErrorAnswer {
                status, message, ..
            }) => {
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

impl Retryable for Failure {
    /// Rate limits (after the server's `Retry-After` when it gave one), server errors and
    /// connection trouble. Every request the adapter sends is idempotent (upserts replace,
    /// deletes of what is gone succeed), so resending cannot do harm. A timeout has already
    /// spent the caller's patience.
    fn retry(&self) -> Retry {
        match self {
            Self::Status(answer)
                if answer.status == StatusCode::TOO_MANY_REQUESTS
                    || answer.status.is_server_error() =>
            {
                Retry::Yes {
                    after: answer.retry_after,
                }
            }
            Self::Connection(_) => Retry::Yes { after: None },
            Self::Status(_) | Self::Timeout | Self::Malformed(_) => Retry::No,
        }
    }
}

/// A body that could not be read counts as a broken connection (or a timeout); one too large to
/// hold does not follow the protocol.
impl From<BodyError> for Failure {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { limit } => Self::Malformed(anyhow::anyhow!(
                "Pinecone's answer is larger than {limit} bytes"
            )),
            BodyError::Read(error) => Self::from_reqwest(&error),
        }
    }
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
        }) => Some(m),
        _ => None,
    };
    error_text(status, body, message)
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
        let status = |code: u16, message: &str| {
            Failure::Status(ErrorAnswer {
                status: StatusCode::from_u16(code).unwrap(),
                message: message.into(),
                retry_after: None,
            })
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
}
