//! What the adapters share on the wire: the HTTP client with OpenAI's headers, the endpoints
//! under the base URL, retries (with the policy of `switchboard-provider-http`), and the
//! translation of failures into each port's error.

use std::future::Future;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use switchboard_domain::knowledge::EmbedError;
use switchboard_domain::ports::{LlmError, SpeechError};
use switchboard_provider_http::{
    ApiKey, BodyError, ErrorAnswer, MESSAGE_CHARS, Retry, RetryPolicy, Retryable, client, describe,
    error_text, shorten,
};
use tracing::debug;
use url::Url;

use crate::config::{OpenAiConfig, OpenAiConfigError};

/// An HTTP client that sends the key (and organization) with every request.
#[derive(Clone)]
pub(crate) struct Transport {
    client: Client,
    pub(crate) key: ApiKey,
    retry: RetryPolicy,
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
            let bearer = config
                .api_key
                .header_value("Bearer ")
                .map_err(|_| OpenAiConfigError::InvalidHeader)?;
            headers.insert(AUTHORIZATION, bearer);
        }
        if let Some(organization) = &config.organization {
            headers.insert(
                HeaderName::from_static("openai-organization"),
                HeaderValue::from_str(organization)
                    .map_err(|_| OpenAiConfigError::InvalidHeader)?,
            );
        }
        let client = client(headers, config.request_timeout)
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

    /// Runs `attempt` under the retry policy, logging each retry as a `what` request.
    pub(crate) async fn run<T, F, Fut>(&self, what: &'static str, attempt: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        self.retry
            .run(attempt, |failure, retry, wait| {
                debug!(
                    request = what,
                    retry,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    failure = ?failure,
                    "OpenAI request failed; retrying"
                );
            })
            .await
    }

    /// The failure an error status stands for, with the server's message (redacted).
    pub(crate) async fn status_failure(&self, response: Response) -> Failure {
        Failure::Status(ErrorAnswer::read(response, &self.key, error_message).await)
    }
}

/// `{base}{path}`: the base keeps its own path (`/v1`), which `Url::join` would drop.
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url, OpenAiConfigError> {
    switchboard_provider_http::endpoint(base, path)
        .map_err(|_| OpenAiConfigError::BaseUrl(base.to_string()))
}

/// Why one attempt failed, before it becomes a port's error.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server answered with an error status.
    Status(ErrorAnswer),
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

    pub(crate) fn into_llm_error(self) -> LlmError {
        match self {
            Self::Status(ErrorAnswer {
                status,
                retry_after,
                ..
            }) if status == StatusCode::TOO_MANY_REQUESTS => LlmError::RateLimited { retry_after },
            Self::Status(ErrorAnswer {
                status, message, ..
            }) => {
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
            Self::Status(ErrorAnswer {
                status, message, ..
            }) => {
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

    pub(crate) fn into_speech_error(self) -> SpeechError {
        match self {
            Self::Status(ErrorAnswer {
                status, message, ..
            }) => {
                if status == StatusCode::TOO_MANY_REQUESTS
                    || status.is_server_error()
                    || matches!(status.as_u16(), 408 | 409)
                {
                    SpeechError::Unavailable(format!("OpenAI {status}: {message}"))
                } else if status.is_client_error() {
                    SpeechError::Rejected(format!("OpenAI {status}: {message}"))
                } else {
                    SpeechError::Unexpected(anyhow::anyhow!("OpenAI answered {status}: {message}"))
                }
            }
            Self::Connection(message) | Self::Reported(message) => {
                SpeechError::Unavailable(format!("OpenAI: {message}"))
            }
            Self::EndedEarly => SpeechError::Unavailable("OpenAI: the answer ended early".into()),
            Self::Timeout => SpeechError::Timeout,
            Self::Malformed(error) => SpeechError::Unexpected(error),
        }
    }
}

impl Retryable for Failure {
    /// The statuses the official SDKs retry (after the server's `Retry-After` when it gave one),
    /// and connection trouble. A timeout has already spent the caller's patience.
    fn retry(&self) -> Retry {
        match self {
            Self::Status(answer)
                if matches!(answer.status.as_u16(), 408 | 409 | 429)
                    || answer.status.is_server_error() =>
            {
                Retry::Yes {
                    after: answer.retry_after,
                }
            }
            Self::Connection(_) | Self::EndedEarly | Self::Reported(_) => {
                Retry::Yes { after: None }
            }
            Self::Status(_) | Self::Timeout | Self::Malformed(_) => Retry::No,
        }
    }
}

/// A body that could not be read counts as a broken connection (or a timeout); one too large to
/// hold does not follow the protocol.
impl From<BodyError> for Failure {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::Read(error) => Self::from_reqwest(&error),
            too_large @ BodyError::TooLarge { .. } => Self::Malformed(too_large.into()),
        }
    }
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
        }) => Some(m),
        _ => None,
    };
    error_text(status, body, message)
}

/// The message of an error reported inside a stream: the `error` value of a chunk, an object
/// with a `message` or a bare string.
pub(crate) fn reported_error(error: &serde_json::Value) -> String {
    let message = error
        .get("message")
        .and_then(serde_json::Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("the server reported an error");
    shorten(message, MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

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
    fn statuses_map_to_the_ports_errors() {
        let status = |code: u16| {
            Failure::Status(ErrorAnswer {
                status: StatusCode::from_u16(code).unwrap(),
                message: "m".into(),
                retry_after: Some(Duration::from_secs(2)),
            })
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
        for code in [400, 401, 404, 422] {
            assert!(matches!(
                status(code).into_speech_error(),
                SpeechError::Rejected(_)
            ));
        }
        for code in [408, 429, 500, 503] {
            assert!(matches!(
                status(code).into_speech_error(),
                SpeechError::Unavailable(_)
            ));
        }
        assert!(matches!(
            Failure::Timeout.into_speech_error(),
            SpeechError::Timeout
        ));
    }
}
