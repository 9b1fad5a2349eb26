//! Why one attempt failed, whether trying again can help, and what it means for the
//! `TextToSpeech` port; and ElevenLabs' error bodies, read leniently.

use reqwest::StatusCode;
use serde_json::Value;
use switchboard_domain::ports::SpeechError;
use switchboard_provider_http::{
    BodyError, ErrorAnswer, MESSAGE_CHARS, Retry, Retryable, describe, error_text, shorten,
};

/// The failure of one attempt, before it becomes a [`SpeechError`]. Every message in it has the
/// key redacted already.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server answered with an error status (an HTTP request, or a WebSocket handshake).
    Status(ErrorAnswer),
    /// The WebSocket was closed with a code other than 1000.
    Closed { code: u16, reason: String },
    /// The connection could not be made, or broke.
    Connection(String),
    /// No answer (or no next piece of audio) within the timeout.
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

    /// Close codes that mean the request itself was refused (a bad key, an exhausted quota, a
    /// message ElevenLabs cannot use): sending it again cannot help.
    fn close_is_refusal(code: u16) -> bool {
        matches!(code, 1003 | 1007 | 1008 | 1009)
    }

    fn status_is_transient(status: StatusCode) -> bool {
        matches!(status.as_u16(), 408 | 429) || status.is_server_error()
    }

    pub(crate) fn into_speech_error(self) -> SpeechError {
        match self {
            Self::Status(ErrorAnswer {
                status, message, ..
            }) => {
                if Self::status_is_transient(status) {
                    SpeechError::Unavailable(format!("ElevenLabs {status}: {message}"))
                } else if status.is_client_error() {
                    SpeechError::Rejected(format!("ElevenLabs {status}: {message}"))
                } else {
                    SpeechError::Unexpected(anyhow::anyhow!(
                        "ElevenLabs answered {status}: {message}"
                    ))
                }
            }
            Self::Closed { code, reason } => {
                let message = format!("ElevenLabs closed the stream ({code}): {reason}");
                if Self::close_is_refusal(code) {
                    SpeechError::Rejected(message)
                } else {
                    SpeechError::Unavailable(message)
                }
            }
            Self::Connection(message) => SpeechError::Unavailable(format!("ElevenLabs: {message}")),
            Self::Timeout => SpeechError::Timeout,
            Self::Malformed(error) => SpeechError::Unexpected(error),
        }
    }
}

impl Retryable for Failure {
    /// 408, 429 and 5xx (after the server's `Retry-After` when it gave one), connection
    /// trouble, and closes that are not refusals. A timeout has already spent the caller's
    /// patience: time to first audio is what the caller hears.
    fn retry(&self) -> Retry {
        match self {
            Self::Status(answer) if Self::status_is_transient(answer.status) => Retry::Yes {
                after: answer.retry_after,
            },
            Self::Closed { code, .. } if !Self::close_is_refusal(*code) => {
                Retry::Yes { after: None }
            }
            Self::Connection(_) => Retry::Yes { after: None },
            Self::Status(_) | Self::Closed { .. } | Self::Timeout | Self::Malformed(_) => Retry::No,
        }
    }
}

impl From<BodyError> for Failure {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::Read(error) => Self::from_reqwest(&error),
            too_large @ BodyError::TooLarge { .. } => Self::Malformed(too_large.into()),
        }
    }
}

/// The message of an ElevenLabs error body, found leniently since its shape is not documented
/// for certain: `{"detail":{"message":…}}`, `{"detail":"…"}`, a validation error's
/// `{"detail":[{"msg":…}]}`, or a top-level `message` or `error`; else the body's text, else
/// the status's reason.
pub(crate) fn error_message(body: &[u8], status: StatusCode) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|json| message_in(&json));
    error_text(status, body, message)
}

/// The human-readable message inside an error object, if it has one.
pub(crate) fn message_in(json: &Value) -> Option<String> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let detail = &json["detail"];
    text(&detail["message"])
        .or_else(|| text(detail))
        .or_else(|| {
            let messages: Vec<String> = detail
                .as_array()?
                .iter()
                .filter_map(|item| text(&item["msg"]).or_else(|| text(&item["message"])))
                .collect();
            (!messages.is_empty()).then(|| messages.join("; "))
        })
        .or_else(|| text(&json["message"]))
        .or_else(|| text(&json["error"]["message"]))
        .or_else(|| text(&json["error"]))
        .map(|message| shorten(message.trim(), MESSAGE_CHARS))
        .filter(|message| !message.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    #[test]
    fn error_messages_are_found_in_every_known_shape() {
        let status = StatusCode::BAD_REQUEST;
        assert_eq!(
            error_message(
                br#"{"detail":{"status":"voice_not_found","message":"A voice with that id was not found."}}"#,
                status
            ),
            "A voice with that id was not found."
        );
        assert_eq!(
            error_message(br#"{"detail":"Not authenticated"}"#, status),
            "Not authenticated"
        );
        assert_eq!(
            error_message(
                br#"{"detail":[{"loc":["body","text"],"msg":"field required","type":"value_error.missing"},{"msg":"bad speed"}]}"#,
                StatusCode::UNPROCESSABLE_ENTITY
            ),
            "field required; bad speed"
        );
        assert_eq!(
            error_message(
                br#"{"message":"quota exceeded","error":"quota_exceeded"}"#,
                status
            ),
            "quota exceeded"
        );
        assert_eq!(
            error_message(br#"{"error":"quota_exceeded"}"#, status),
            "quota_exceeded"
        );
        assert_eq!(
            error_message(b"<html>bad gateway</html>", StatusCode::BAD_GATEWAY),
            "<html>bad gateway</html>"
        );
        assert_eq!(error_message(b"", StatusCode::BAD_GATEWAY), "Bad Gateway");
        assert_eq!(
            error_message(br#"{"detail":{}}"#, status),
            r#"{"detail":{}}"#
        );
    }

    #[test]
    fn failures_map_to_the_ports_errors_and_retry_only_when_it_can_help() {
        let status = |code: u16| {
            Failure::Status(ErrorAnswer {
                status: StatusCode::from_u16(code).unwrap(),
                message: "m".into(),
                retry_after: Some(Duration::from_millis(5)),
            })
        };
        for code in [400, 401, 403, 404, 422] {
            assert_eq!(status(code).retry(), Retry::No);
            assert!(matches!(
                status(code).into_speech_error(),
                SpeechError::Rejected(_)
            ));
        }
        for code in [408, 429, 500, 502, 503] {
            assert_eq!(
                status(code).retry(),
                Retry::Yes {
                    after: Some(Duration::from_millis(5))
                }
            );
            assert!(matches!(
                status(code).into_speech_error(),
                SpeechError::Unavailable(_)
            ));
        }
        let closed = |code: u16| Failure::Closed {
            code,
            reason: "r".into(),
        };
        assert!(!closed(1008).is_retryable());
        assert!(matches!(
            closed(1008).into_speech_error(),
            SpeechError::Rejected(_)
        ));
        assert!(closed(1011).is_retryable());
        assert!(matches!(
            closed(1011).into_speech_error(),
            SpeechError::Unavailable(_)
        ));
        assert!(Failure::Connection("x".into()).is_retryable());
        assert!(!Failure::Timeout.is_retryable());
        assert!(matches!(
            Failure::Timeout.into_speech_error(),
            SpeechError::Timeout
        ));
    }
}
