//! Deepgram's JSON (PROVIDERS.md §2), and nothing else: the control messages a live stream
//! sends, the messages it receives, the pre-recorded answer and the two shapes of error body.
//! Every field is optional on the way in, because Deepgram adds and drops fields over time.

use serde::Deserialize;

/// Asks Deepgram to keep an idle stream open; it does not answer.
pub(crate) const KEEP_ALIVE: &str = r#"{"type":"KeepAlive"}"#;
/// Asks Deepgram to settle the audio received so far; its results carry `from_finalize`.
pub(crate) const FINALIZE: &str = r#"{"type":"Finalize"}"#;
/// Asks Deepgram to settle everything, send its last results and `Metadata`, and close.
pub(crate) const CLOSE_STREAM: &str = r#"{"type":"CloseStream"}"#;

/// One message of a live stream, as far as the adapter reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// `Results`: a transcript of a stretch of audio, interim or final.
    Results {
        transcript: String,
        is_final: bool,
        speech_final: bool,
    },
    /// `SpeechStarted`, sent with `vad_events=true`.
    SpeechStarted,
    /// `UtteranceEnd`, sent with `utterance_end_ms`.
    UtteranceEnd,
    /// `Metadata`, the last message after `CloseStream`, and any type this adapter does not
    /// know; nothing for the port.
    Other(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MessageWire {
    #[serde(rename = "type")]
    kind: String,
    is_final: bool,
    speech_final: bool,
    channel: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChannelWire {
    alternatives: Vec<AlternativeWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AlternativeWire {
    transcript: String,
}

/// The first alternative's transcript of a channel, or empty.
fn first_transcript(channel: ChannelWire) -> String {
    channel
        .alternatives
        .into_iter()
        .next()
        .map(|a| a.transcript)
        .unwrap_or_default()
}

/// Reads one text frame of a live stream.
///
/// # Errors
/// When the frame is not a JSON object with a `type`, or a `Results` without its `channel`.
pub(crate) fn parse_incoming(text: &str) -> Result<Incoming, serde_json::Error> {
    let message: MessageWire = serde_json::from_str(text)?;
    Ok(match message.kind.as_str() {
        "Results" => {
            // `channel` is an object in `Results` (and an array of indexes in `UtteranceEnd`),
            // so it is read as a value and only here as an object.
            let channel: ChannelWire =
                serde_json::from_value(message.channel.unwrap_or(serde_json::Value::Null))?;
            Incoming::Results {
                transcript: first_transcript(channel).trim().to_owned(),
                is_final: message.is_final,
                speech_final: message.speech_final,
            }
        }
        "SpeechStarted" => Incoming::SpeechStarted,
        "UtteranceEnd" => Incoming::UtteranceEnd,
        other => Incoming::Other(other.to_owned()),
    })
}

/// The pre-recorded answer, down to the first alternative of the first channel.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PrerecordedWire {
    results: Option<ResultsWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResultsWire {
    channels: Vec<ChannelWire>,
}

/// The transcript of a pre-recorded answer; empty when Deepgram heard no words (it then sends
/// an empty transcript, or no alternative at all).
///
/// # Errors
/// When the body is not JSON of the documented shape, or has no `results`.
pub(crate) fn parse_prerecorded(body: &[u8]) -> Result<String, anyhow::Error> {
    let answer: PrerecordedWire = serde_json::from_slice(body).map_err(|e| {
        anyhow::anyhow!("Deepgram's transcription answer is not as documented: {e}")
    })?;
    let results = answer
        .results
        .ok_or_else(|| anyhow::anyhow!("Deepgram's transcription answer has no results"))?;
    Ok(results
        .channels
        .into_iter()
        .next()
        .map(first_transcript)
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// Both error shapes Deepgram answers with: the legacy `err_code`/`err_msg` and the newer
/// `category`/`message`/`details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorWire {
    err_code: Option<String>,
    err_msg: Option<String>,
    category: Option<String>,
    message: Option<String>,
    details: Option<String>,
}

/// The message of an error body in either shape (`CODE: message`, with the details after the
/// newer shape's message), or `None` when the body is neither.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let error: ErrorWire = serde_json::from_slice(body).ok()?;
    let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let (code, message) = match (non_empty(error.err_code), non_empty(error.err_msg)) {
        (None, None) => (non_empty(error.category), non_empty(error.message)),
        legacy => legacy,
    };
    let mut text = match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => return None,
    };
    if let Some(details) = non_empty(error.details) {
        text.push_str(" (");
        text.push_str(&details);
        text.push(')');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn results_carry_the_first_alternative_and_the_flags() {
        let text = r#"{"type":"Results","channel_index":[0,1],"duration":1.12,"start":3.5,"is_final":true,"speech_final":true,
            "from_finalize":false,"channel":{"alternatives":[{"transcript":"book a table for two","confidence":0.987,
            "words":[{"word":"book","start":3.52,"end":3.8,"confidence":0.99,"punctuated_word":"Book"}]}]},
            "metadata":{"request_id":"r","model_info":{"name":"general-nova-3","version":"v","arch":"nova-3"},"model_uuid":"u"}}"#;
        assert_eq!(
            parse_incoming(text).unwrap(),
            Incoming::Results {
                transcript: "book a table for two".into(),
                is_final: true,
                speech_final: true
            }
        );
        let interim = r#"{"type":"Results","is_final":false,"channel":{"alternatives":[{"transcript":" book a "}]}}"#;
        assert_eq!(
            parse_incoming(interim).unwrap(),
            Incoming::Results {
                transcript: "book a".into(),
                is_final: false,
                speech_final: false
            }
        );
        let no_alternative = r#"{"type":"Results","is_final":true,"channel":{"alternatives":[]}}"#;
        assert!(matches!(
            parse_incoming(no_alternative).unwrap(),
            Incoming::Results { transcript, .. } if transcript.is_empty()
        ));
    }

    #[test]
    fn other_messages_are_told_apart_by_type() {
        assert_eq!(
            parse_incoming(r#"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":4.62}"#)
                .unwrap(),
            Incoming::UtteranceEnd
        );
        assert_eq!(
            parse_incoming(r#"{"type":"SpeechStarted","channel":[0],"timestamp":3.48}"#).unwrap(),
            Incoming::SpeechStarted
        );
        assert_eq!(
            parse_incoming(r#"{"type":"Metadata","request_id":"r","duration":12.3,"channels":1}"#)
                .unwrap(),
            Incoming::Other("Metadata".into())
        );
        assert!(parse_incoming("not json").is_err());
        assert!(parse_incoming(r#"{"type":"Results","channel":[0]}"#).is_err());
    }

    #[test]
    fn prerecorded_answers_give_the_first_transcript() {
        let body = br#"{"metadata":{"request_id":"a","duration":25.93,"channels":1},
            "results":{"channels":[{"alternatives":[{"transcript":"yeah as as much as","confidence":0.99,
            "words":[{"word":"yeah","start":0.08,"end":0.32,"confidence":0.99}]}],"detected_language":"en"}]}}"#;
        assert_eq!(parse_prerecorded(body).unwrap(), "yeah as as much as");
        assert_eq!(
            parse_prerecorded(br#"{"results":{"channels":[{"alternatives":[]}]}}"#).unwrap(),
            ""
        );
        assert!(parse_prerecorded(br#"{"request_id":"a"}"#).is_err());
        assert!(parse_prerecorded(b"<html>").is_err());
    }

    #[test]
    fn both_error_shapes_give_a_message() {
        assert_eq!(
            error_message(
                br#"{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.","request_id":"r"}"#
            )
            .as_deref(),
            Some("INVALID_AUTH: Invalid credentials.")
        );
        assert_eq!(
            error_message(
                br#"{"category":"INVALID_QUERY_PARAMETER","message":"Bad model.","details":"No such model: nova-9","request_id":"r"}"#
            )
            .as_deref(),
            Some("INVALID_QUERY_PARAMETER: Bad model. (No such model: nova-9)")
        );
        assert_eq!(
            error_message(br#"{"err_msg":"Overloaded"}"#).as_deref(),
            Some("Overloaded")
        );
        assert_eq!(error_message(br#"{"request_id":"r"}"#), None);
        assert_eq!(error_message(b"Bad Gateway"), None);
    }
}
