//! The wire beneath the adapter: one HTTP client, the sending of a request (retried when it is
//! idempotent and the failure says retrying may help), and the reading of Google's answers and
//! error shapes into [`CalendarProviderError`].

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use switchboard_domain::ports::CalendarProviderError;
use switchboard_provider_http::{
    ApiKey, BodyError, ErrorAnswer, Retry, RetryPolicy, Retryable, client, describe, error_text,
    read_body,
};

use crate::config::{GoogleConfig, GoogleConfigError};

/// The largest answer read: a page of events is well below it.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Whether a request may be sent again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Reading, or refreshing a token: sending it twice does no harm.
    Safe,
    /// Exchanging a single-use code, or creating an event: a second send could fail the first's
    /// work or book twice.
    Never,
}

#[derive(Clone)]
pub(crate) struct Transport {
    client: Client,
    /// Redacted from every message Google sends back.
    secret: ApiKey,
    timeout: Duration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Google answered with an error status; `code` is the OAuth `error` when there was one.
    Status {
        answer: ErrorAnswer,
        oauth_error: Option<String>,
    },
    Connection(String),
    Timeout,
    Malformed(String),
}

impl Retryable for Failure {
    fn retry(&self) -> Retry {
        match self {
            Self::Status { answer, .. }
                if answer.status == StatusCode::TOO_MANY_REQUESTS
                    || answer.status.is_server_error() =>
            {
                Retry::Yes {
                    after: answer.retry_after,
                }
            }
            Self::Connection(_) => Retry::Yes { after: None },
            _ => Retry::No,
        }
    }
}

impl Failure {
    fn from_reqwest(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Connection(describe(error))
        }
    }

    /// The port's error for this failure.
    pub(crate) fn into_provider_error(self) -> CalendarProviderError {
        match self {
            Self::Status {
                answer,
                oauth_error,
            } => {
                let ErrorAnswer {
                    status, message, ..
                } = answer;
                if oauth_error.as_deref() == Some("invalid_grant") {
                    CalendarProviderError::InvalidGrant(message)
                } else if status == StatusCode::UNAUTHORIZED && oauth_error.is_none() {
                    CalendarProviderError::Unauthorized
                } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    CalendarProviderError::Unavailable(format!("Google {status}: {message}"))
                } else {
                    CalendarProviderError::Rejected(format!("Google {status}: {message}"))
                }
            }
            Self::Connection(message) => {
                CalendarProviderError::Unavailable(format!("Google: {message}"))
            }
            Self::Timeout => {
                CalendarProviderError::Unavailable("Google did not answer in time".into())
            }
            Self::Malformed(message) => CalendarProviderError::Unexpected(anyhow::anyhow!(message)),
        }
    }
}

/// The error shapes Google answers with: OAuth's `{"error": "invalid_grant",
/// "error_description": "..."}` and the APIs' `{"error": {"code", "message", "status"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorField>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    OAuth(String),
    Api { message: Option<String> },
}

/// The OAuth error code and the message of an error body.
fn read_error(body: &[u8]) -> (Option<String>, Option<String>) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            error: Some(ErrorField::OAuth(code)),
            error_description,
        }) => {
            let message = error_description.unwrap_or_else(|| code.clone());
            (Some(code), Some(message))
        }
        Ok(ErrorBody {
            error: Some(ErrorField::Api { message }),
            ..
        }) => (None, message),
        _ => (None, None),
    }
}

impl Transport {
    pub(crate) fn new(config: &GoogleConfig) -> Result<Self, GoogleConfigError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = client(headers, config.request_timeout)
            .map_err(|e| GoogleConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            secret: config.client_secret.clone(),
            timeout: config.request_timeout,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                base: config.retry_base,
                max_wait: GoogleConfig::MAX_RETRY_WAIT,
            },
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Sends the request `build` makes (once more for each retry when `resend` allows) and reads
    /// the answer as `T`.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        resend: Resend,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<T, CalendarProviderError> {
        let policy = match resend {
            Resend::Safe => self.retry,
            Resend::Never => RetryPolicy {
                max_retries: 0,
                ..self.retry
            },
        };
        policy
            .run(
                || self.attempt(build()),
                |failure, retry, wait| {
                    tracing::debug!(
                        google.operation = operation,
                        retry,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        failure = ?failure,
                        "Google request failed; retrying"
                    );
                },
            )
            .await
            .map_err(|failure| {
                tracing::debug!(google.operation = operation, failure = ?failure, "Google request failed");
                failure.into_provider_error()
            })
    }

    async fn attempt<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, Failure> {
        let mut response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            let mut oauth_error = None;
            let answer = ErrorAnswer::read(response, &self.secret, |body, status| {
                let (code, message) = read_error(body);
                oauth_error = code;
                error_text(status, body, message)
            })
            .await;
            return Err(Failure::Status {
                answer,
                oauth_error,
            });
        }
        let bytes = read_body(&mut response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { limit } => {
                    Failure::Malformed(format!("Google's answer is larger than {limit} bytes"))
                }
                BodyError::Read(e) => Failure::from_reqwest(&e),
            })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Failure::Malformed(format!("Google's answer is not as documented: {e}")))
    }
}
