//! The HTTP side every Twilio API shares: Basic auth with the account SID and auth token,
//! requests retried as their [`Resend`] allows, bounded JSON answers, and Twilio's error bodies
//! read into a [`Refusal`]. Each API's client maps a [`Failure`] onto its port's errors.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Client, Method, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_provider_http::{
    ApiKey, BodyError, ErrorAnswer, Retry, RetryPolicy, Retryable, client, describe, error_text,
    read_body,
};
use tracing::debug;
use url::Url;

use crate::config::{TwilioConfig, TwilioConfigError};

/// Letters and digits only (`CA...`, `AC...`, `GT...`), so a sid never changes the path it goes
/// into.
pub(crate) fn is_sid(sid: &str) -> bool {
    !sid.is_empty() && sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a request may be sent again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Only when it cannot have reached Twilio: creating a call is not idempotent.
    OnlyUnsent,
    /// Sending it twice has the effect of sending it once.
    Idempotent,
}

/// What a successful answer must hold: its name (for errors) and the most bytes read of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expected {
    pub(crate) name: &'static str,
    pub(crate) max_bytes: usize,
}

/// The HTTP client, the credentials and the retry policy.
pub(crate) struct Transport {
    client: Client,
    token: ApiKey,
    timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for Transport {
    // The client's own `Debug` lists its default headers; the credentials are marked sensitive
    // there, but they have no business in debug output at all.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: &TwilioConfig) -> Result<Self, TwilioConfigError> {
        if config.auth_token.expose().is_empty() {
            return Err(TwilioConfigError::EmptyToken);
        }
        // HTTP Basic, `AccountSid:AuthToken`; the encoded pair is as secret as the token, so it
        // lives only in a header value marked sensitive.
        let credentials = ApiKey::new(STANDARD.encode(format!(
            "{}:{}",
            config.account_sid,
            config.auth_token.expose()
        )));
        let authorization = credentials
            .header_value("Basic ")
            .map_err(|e| TwilioConfigError::Client(e.to_string()))?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = client(headers, config.connect_timeout)
            .map_err(|e| TwilioConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            token: config.auth_token.clone(),
            timeout: config.request_timeout,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                base: config.retry_base,
                max_wait: config.max_retry_wait,
            },
        })
    }

    /// Sends a request (with `form` as its body), retrying as `resend` allows, and reads the
    /// JSON resource Twilio answers with.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        form: Option<String>,
        resend: Resend,
        expected: Expected,
    ) -> Result<T, Failure> {
        let form = form.as_deref();
        let result = self
            .retry
            .run(
                || {
                    let method = method.clone();
                    async move {
                        self.attempt(method, url, form, expected)
                            .await
                            .map_err(|failure| Attempt { failure, resend })
                    }
                },
                |attempt, retry, wait| {
                    debug!(
                        twilio.operation = operation,
                        retry,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        failure = %attempt.failure,
                        "Twilio request failed; retrying"
                    );
                },
            )
            .await;
        result.map_err(|attempt| {
            debug!(
                twilio.operation = operation,
                failure = %attempt.failure,
                "Twilio request failed"
            );
            attempt.failure
        })
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        form: Option<&str>,
        expected: Expected,
    ) -> Result<T, Failure> {
        let mut request = self
            .client
            .request(method, url.clone())
            .timeout(self.timeout);
        if let Some(form) = form {
            request = request
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )
                .body(form.to_owned());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(Failure::Refused(self.refusal(response).await));
        }
        let body = read_body(&mut response, expected.max_bytes).await?;
        serde_json::from_slice(&body).map_err(|e| {
            Failure::Malformed(anyhow::anyhow!(
                "Twilio's answer is not {}: {e}",
                expected.name
            ))
        })
    }

    /// Reads an error answer: its status, Twilio's error code and message (token redacted).
    async fn refusal(&self, response: Response) -> Refusal {
        let mut code = None;
        let answer = ErrorAnswer::read(response, &self.token, |body, status| {
            let parsed = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default();
            code = parsed.code();
            error_text(status, body, parsed.message())
        })
        .await;
        Refusal {
            status: answer.status,
            code,
            message: answer.message,
            retry_after: answer.retry_after,
        }
    }
}

/// An error answer from Twilio.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    /// Twilio's error code (`21211`, ...), when the body had one.
    pub(crate) code: Option<u64>,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(
                f,
                "Twilio error {code} (HTTP {}): {}",
                self.status.as_u16(),
                self.message
            ),
            None => write!(
                f,
                "Twilio answered HTTP {}: {}",
                self.status.as_u16(),
                self.message
            ),
        }
    }
}

/// Why one attempt failed, before it becomes a [`TelephonyError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// Twilio answered with an error status.
    #[error("{0}")]
    Refused(Refusal),
    /// No connection could be made, so nothing was sent.
    #[error("cannot reach Twilio: {0}")]
    Unsent(String),
    /// The connection broke once the request may have been sent.
    #[error("the connection to Twilio broke: {0}")]
    Broken(String),
    /// No answer within the request timeout.
    #[error("Twilio did not answer in time")]
    Timeout,
    /// The answer did not follow the protocol.
    #[error("{0}")]
    Malformed(anyhow::Error),
}

impl Failure {
    pub(crate) fn from_reqwest(error: &reqwest::Error) -> Self {
        // A connect error (refused, unreachable, TLS, or the connect timeout) comes before the
        // request is written, so it is checked before the timeout a connect timeout also is.
        if error.is_connect() {
            Self::Unsent(describe(error))
        } else if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Broken(describe(error))
        }
    }
}

/// A body that could not be read counts as a broken connection (or a timeout); one too large to
/// hold is not the resource asked for.
impl From<BodyError> for Failure {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { limit } => Self::Malformed(anyhow::anyhow!(
                "Twilio's answer is larger than {limit} bytes"
            )),
            BodyError::Read(error) if error.is_timeout() => Self::Timeout,
            BodyError::Read(error) => Self::Broken(describe(&error)),
        }
    }
}

/// A failure and whether its request may be sent again.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) failure: Failure,
    pub(crate) resend: Resend,
}

impl Retryable for Attempt {
    /// An idempotent request is retried on 429 (after `Retry-After`), 5xx and connection
    /// failures; a dial only when nothing was sent. A timeout has spent the caller's patience.
    fn retry(&self) -> Retry {
        match (&self.failure, self.resend) {
            (Failure::Unsent(_), _) | (Failure::Broken(_), Resend::Idempotent) => {
                Retry::Yes { after: None }
            }
            (Failure::Refused(refusal), Resend::Idempotent)
                if refusal.status == StatusCode::TOO_MANY_REQUESTS
                    || refusal.status.is_server_error() =>
            {
                Retry::Yes {
                    after: refusal.retry_after,
                }
            }
            _ => Retry::No,
        }
    }
}

/// Twilio's error bodies: the legacy `{code, message, more_info, status}`, or RFC 9457's
/// `{type, title, status, code, detail}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

impl ErrorBody {
    /// The legacy `message`, else RFC 9457's `detail` (about this occurrence), else its `title`.
    pub(crate) fn message(self) -> Option<String> {
        [self.message, self.detail, self.title]
            .into_iter()
            .flatten()
            .find(|m| !m.trim().is_empty())
    }

    /// A number, or a string of digits.
    pub(crate) fn code(&self) -> Option<u64> {
        match self.code.as_ref()? {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(body: &str) -> (Option<u64>, Option<String>) {
        let parsed = serde_json::from_str::<ErrorBody>(body).unwrap_or_default();
        (parsed.code(), parsed.message())
    }

    #[test]
    fn error_bodies_of_both_shapes_give_their_code_and_message() {
        assert_eq!(
            parse(
                r#"{"code":21211,"message":"The 'To' number 123 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#
            ),
            (
                Some(21211),
                Some("The 'To' number 123 is not a valid phone number.".into())
            )
        );
        assert_eq!(
            parse(
                r#"{"type":"https://www.twilio.com/docs/errors/20003","title":"Authentication Error","status":401,"code":20003,"detail":"Your AccountSid or AuthToken was incorrect."}"#
            ),
            (
                Some(20003),
                Some("Your AccountSid or AuthToken was incorrect.".into())
            )
        );
        assert_eq!(
            parse(r#"{"title":"Not Found","status":404,"code":"20404"}"#),
            (Some(20404), Some("Not Found".into()))
        );
        assert_eq!(parse("<html>bad gateway</html>"), (None, None));
    }

    #[test]
    fn only_idempotent_requests_are_resent_after_they_may_have_arrived() {
        let attempt = |failure, resend| Attempt { failure, resend }.is_retryable();
        let refused = |status: u16| {
            Failure::Refused(Refusal {
                status: StatusCode::from_u16(status).unwrap(),
                code: None,
                message: "m".into(),
                retry_after: None,
            })
        };
        for resend in [Resend::OnlyUnsent, Resend::Idempotent] {
            assert!(attempt(Failure::Unsent("refused".into()), resend));
            assert!(!attempt(Failure::Timeout, resend));
            assert!(!attempt(refused(400), resend));
            assert!(!attempt(refused(404), resend));
        }
        assert!(attempt(refused(429), Resend::Idempotent));
        assert!(attempt(refused(503), Resend::Idempotent));
        assert!(attempt(Failure::Broken("reset".into()), Resend::Idempotent));
        assert!(!attempt(refused(429), Resend::OnlyUnsent));
        assert!(!attempt(refused(503), Resend::OnlyUnsent));
        assert!(!attempt(
            Failure::Broken("reset".into()),
            Resend::OnlyUnsent
        ));
    }

    #[test]
    fn sids_are_letters_and_digits() {
        assert!(is_sid("CA0123456789abcdef0123456789abcdef"));
        assert!(!is_sid(""));
        assert!(!is_sid("CA1/../../Messages"));
        assert!(!is_sid("CA1.json?x"));
    }
}
