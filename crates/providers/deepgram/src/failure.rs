//! Why one attempt to reach Deepgram failed, whether another attempt may help, and what the
//! failure means to the speech port ([`SpeechError`]).

use reqwest::StatusCode;
use switchboard_domain::ports::SpeechError;
use switchboard_provider_http::{BodyError, ErrorAnswer, Retry, Retryable, describe, error_text};

use crate::wire;

/// Why one attempt failed, before it becomes a [`SpeechError`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// Deepgram answered with an error status (on a request, or on a stream's handshake); the
    /// message is already redacted.
    Status(ErrorAnswer),
    /// The connection could not be made, or broke.
    Connection(String),
    /// No answer within the adapter's timeout.
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

    /// Whether a status means "try again later" rather than "not like this".
    fn is_transient(status: StatusCode) -> bool {
        status.is_server_error() || matches!(status.as_u16(), 408 | 429)
    }

    pub(crate) fn into_speech_error(self) -> SpeechError {
        match self {
            Self::Status(ErrorAnswer {
                status, message, ..
            }) => {
                if Self::is_transient(status) {
                    SpeechError::Unavailable(format!("Deepgram {status}: {message}"))
                } else if status.is_client_error() {
                    SpeechError::Rejected(format!("Deepgram {status}: {message}"))
                } else {
                    SpeechError::Unexpected(anyhow::anyhow!(
                        "Deepgram answered {status}: {message}"
                    ))
                }
            }
            Self::Connection(message) => SpeechError::Unavailable(format!("Deepgram: {message}")),
            Self::Timeout => SpeechError::Timeout,
            Self::Malformed(error) => SpeechError::Unexpected(error),
        }
    }
}

impl Retryable for Failure {
    /// 408, 429, 5xx (after the server's `Retry-After` when it gave one) and connection trouble.
    /// A refusal will be refused again, and a timeout has spent the caller's patience already.
    fn retry(&self) -> Retry {
        match self {
            Self::Status(answer) if Self::is_transient(answer.status) => Retry::Yes {
                after: answer.retry_after,
            },
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
            BodyError::Read(error) => Self::from_reqwest(&error),
            too_large @ BodyError::TooLarge { .. } => Self::Malformed(too_large.into()),
        }
    }
}

/// What to say about an error answer: the message of either Deepgram error shape, else the
/// body, else the status's reason.
pub(crate) fn error_message(body: &[u8], status: StatusCode) -> String {
    error_text(status, body, wire::error_message(body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    fn status(code: u16) -> Failure {
        Failure::Status(ErrorAnswer {
            status: StatusCode::from_u16(code).unwrap(),
            message: "m".into(),
            retry_after: Some(Duration::from_secs(1)),
        })
    }

    #[test]
    fn refusals_are_final_and_overload_is_retried() {
        for code in [400, 401, 402, 403, 404, 413, 415] {
            assert!(!status(code).is_retryable(), "{code}");
            assert!(
                matches!(status(code).into_speech_error(), SpeechError::Rejected(_)),
                "{code}"
            );
        }
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                status(code).retry(),
                Retry::Yes {
                    after: Some(Duration::from_secs(1))
                }
            );
            assert!(
                matches!(
                    status(code).into_speech_error(),
                    SpeechError::Unavailable(_)
                ),
                "{code}"
            );
        }
        assert!(matches!(
            status(302).into_speech_error(),
            SpeechError::Unexpected(_)
        ));
        assert!(Failure::Connection("reset".into()).is_retryable());
        assert!(!Failure::Timeout.is_retryable());
        assert!(matches!(
            Failure::Timeout.into_speech_error(),
            SpeechError::Timeout
        ));
    }

    #[test]
    fn error_messages_read_both_shapes_then_fall_back() {
        assert_eq!(
            error_message(
                br#"{"err_code":"Bad Request","err_msg":"Bad Request: failed to process audio: corrupt or unsupported data"}"#,
                StatusCode::BAD_REQUEST
            ),
            "Bad Request: Bad Request: failed to process audio: corrupt or unsupported data"
        );
        assert_eq!(
            error_message(
                br#"{"category":"INSUFFICIENT_PERMISSIONS","message":"Project does not have access to the requested model."}"#,
                StatusCode::FORBIDDEN
            ),
            "INSUFFICIENT_PERMISSIONS: Project does not have access to the requested model."
        );
        assert_eq!(
            error_message(b"upstream failed", StatusCode::BAD_GATEWAY),
            "upstream failed"
        );
        assert_eq!(
            error_message(b"", StatusCode::SERVICE_UNAVAILABLE),
            "Service Unavailable"
        );
    }
}
