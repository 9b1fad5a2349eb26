//! The Media Streams protocol: JSON text frames, Twilio's (`connected`, `start`, `media`, `mark`,
//! `dtmf`, `stop`) parsed into [`StreamEvent`]s, and ours (`media`, `mark`, `clear`) written by
//! the functions below. The audio is headerless G.711 mu-law at 8 kHz, base64 in the JSON.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

/// A message Twilio sent on a media stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// The socket is open; `start` follows.
    Connected,
    /// The stream's metadata, once, before any media.
    Start(StreamStart),
    /// Caller audio.
    Media(MediaChunk),
    /// Twilio played our audio up to the mark of this name (or a `clear` discarded it).
    Mark { name: String },
    /// The caller pressed a key.
    Dtmf { digit: char },
    /// The call left the stream (hung up, or redirected).
    Stop,
    /// An event this adapter does not know; ignored.
    Other(String),
}

/// What `start` says about the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamStart {
    pub stream_sid: String,
    pub call_sid: String,
    pub account_sid: String,
    /// The `<Parameter>`s of the TwiML `<Stream>`.
    pub custom_parameters: BTreeMap<String, String>,
    /// `audio/x-mulaw` on every stream Twilio documents.
    pub encoding: String,
    pub sample_rate_hz: u32,
    pub channels: u32,
}

/// A piece of caller audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaChunk {
    /// `inbound` (the caller) or `outbound`.
    pub track: String,
    /// Milliseconds since the stream began, when Twilio said.
    pub timestamp_ms: Option<u64>,
    /// Mu-law bytes, decoded from base64.
    pub payload: Vec<u8>,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("not a media stream message: {0}")]
    Malformed(String),
    #[error("the media payload is not base64")]
    BadPayload,
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    start: Option<StartBody>,
    #[serde(default)]
    media: Option<MediaBody>,
    #[serde(default)]
    mark: Option<MarkBody>,
    #[serde(default)]
    dtmf: Option<DtmfBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    #[serde(default)]
    stream_sid: String,
    #[serde(default)]
    call_sid: String,
    #[serde(default)]
    account_sid: String,
    #[serde(default)]
    custom_parameters: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    media_format: Option<MediaFormat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaFormat {
    #[serde(default)]
    encoding: String,
    #[serde(default)]
    sample_rate: u32,
    #[serde(default)]
    channels: u32,
}

#[derive(Deserialize)]
struct MediaBody {
    #[serde(default)]
    track: Option<String>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    payload: String,
}

#[derive(Deserialize)]
struct MarkBody {
    name: String,
}

#[derive(Deserialize)]
struct DtmfBody {
    digit: String,
}

/// Twilio sends numbers as strings (`"timestamp":"5"`); accept numbers too.
fn number(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    }
}

fn missing(event: &str, part: &str) -> MediaError {
    MediaError::Malformed(format!("a {event} event without its {part:?} object"))
}

/// Reads one text frame from Twilio.
///
/// # Errors
/// `Malformed` for JSON that is not a media stream message (or lacks the part its event needs),
/// `BadPayload` for media that is not base64.
pub fn parse(text: &str) -> Result<StreamEvent, MediaError> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| MediaError::Malformed(e.to_string()))?;
    Ok(match envelope.event.as_str() {
        "connected" => StreamEvent::Connected,
        "start" => {
            let start = envelope.start.ok_or_else(|| missing("start", "start"))?;
            let format = start.media_format.unwrap_or(MediaFormat {
                encoding: "audio/x-mulaw".into(),
                sample_rate: 8000,
                channels: 1,
            });
            StreamEvent::Start(StreamStart {
                stream_sid: start.stream_sid,
                call_sid: start.call_sid,
                account_sid: start.account_sid,
                custom_parameters: start
                    .custom_parameters
                    .into_iter()
                    .map(|(name, value)| {
                        let value = match value {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (name, value)
                    })
                    .collect(),
                encoding: format.encoding,
                sample_rate_hz: format.sample_rate,
                channels: format.channels,
            })
        }
        "media" => {
            let media = envelope.media.ok_or_else(|| missing("media", "media"))?;
            let payload = STANDARD
                .decode(media.payload.as_bytes())
                .map_err(|_| MediaError::BadPayload)?;
            StreamEvent::Media(MediaChunk {
                track: media.track.unwrap_or_else(|| "inbound".into()),
                timestamp_ms: media.timestamp.as_ref().and_then(number),
                payload,
            })
        }
        "mark" => StreamEvent::Mark {
            name: envelope.mark.ok_or_else(|| missing("mark", "mark"))?.name,
        },
        "dtmf" => {
            let digit = envelope.dtmf.ok_or_else(|| missing("dtmf", "dtmf"))?.digit;
            let mut chars = digit.chars();
            match (chars.next(), chars.next()) {
                (Some(digit), None) => StreamEvent::Dtmf { digit },
                _ => return Err(MediaError::Malformed(format!("dtmf digit {digit:?}"))),
            }
        }
        "stop" => StreamEvent::Stop,
        other => StreamEvent::Other(other.to_owned()),
    })
}

/// Our audio for the caller: mu-law bytes, one frame's worth.
#[must_use]
pub fn media_message(stream_sid: &str, mulaw: &[u8]) -> String {
    json!({
        "event": "media",
        "streamSid": stream_sid,
        "media": {"payload": STANDARD.encode(mulaw)},
    })
    .to_string()
}

/// Asks Twilio to echo `name` once the audio sent before it has played.
#[must_use]
pub fn mark_message(stream_sid: &str, name: &str) -> String {
    json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}).to_string()
}

/// Asks Twilio to drop the audio it has queued (the caller barged in).
#[must_use]
pub fn clear_message(stream_sid: &str) -> String {
    json!({"event": "clear", "streamSid": stream_sid}).to_string()
}

/// Twilio's own messages, as its side of a stream sends them: for simulators and tests.
pub mod client {
    use super::{STANDARD, json};
    use base64::Engine as _;

    /// `{"event":"connected",...}`
    #[must_use]
    pub fn connected() -> String {
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()
    }

    /// `start` with the stream's custom parameters.
    #[must_use]
    pub fn start(stream_sid: &str, call_sid: &str, parameters: &[(&str, &str)]) -> String {
        let custom: serde_json::Map<String, serde_json::Value> = parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        json!({
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "streamSid": stream_sid,
                "accountSid": "AC00000000000000000000000000000000",
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": custom,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        })
        .to_string()
    }

    /// One chunk of caller audio.
    #[must_use]
    pub fn media(stream_sid: &str, chunk: u64, timestamp_ms: u64, mulaw: &[u8]) -> String {
        json!({
            "event": "media",
            "sequenceNumber": (chunk + 1).to_string(),
            "streamSid": stream_sid,
            "media": {
                "track": "inbound",
                "chunk": chunk.to_string(),
                "timestamp": timestamp_ms.to_string(),
                "payload": STANDARD.encode(mulaw),
            },
        })
        .to_string()
    }

    /// The echo of one of our marks.
    #[must_use]
    pub fn mark(stream_sid: &str, name: &str) -> String {
        json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}).to_string()
    }

    /// A key press.
    #[must_use]
    pub fn dtmf(stream_sid: &str, digit: char) -> String {
        json!({
            "event": "dtmf",
            "streamSid": stream_sid,
            "dtmf": {"track": "inbound_track", "digit": digit.to_string()},
        })
        .to_string()
    }

    /// The end of the stream.
    #[must_use]
    pub fn stop(stream_sid: &str, call_sid: &str) -> String {
        json!({
            "event": "stop",
            "streamSid": stream_sid,
            "stop": {"accountSid": "AC00000000000000000000000000000000", "callSid": call_sid},
        })
        .to_string()
    }
}

/// What we sent Twilio, read back: for simulators and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerMessage {
    Media(Vec<u8>),
    Mark(String),
    Clear,
}

/// Reads one of our messages.
///
/// # Errors
/// `Malformed` or `BadPayload` as [`parse`].
pub fn parse_server(text: &str) -> Result<ServerMessage, MediaError> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| MediaError::Malformed(e.to_string()))?;
    match envelope.event.as_str() {
        "media" => {
            let media = envelope.media.ok_or_else(|| missing("media", "media"))?;
            STANDARD
                .decode(media.payload.as_bytes())
                .map(ServerMessage::Media)
                .map_err(|_| MediaError::BadPayload)
        }
        "mark" => Ok(ServerMessage::Mark(
            envelope.mark.ok_or_else(|| missing("mark", "mark"))?.name,
        )),
        "clear" => Ok(ServerMessage::Clear),
        other => Err(MediaError::Malformed(format!("unknown event {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_the_documented_messages() {
        assert_eq!(
            parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#),
            Ok(StreamEvent::Connected)
        );
        let start = parse(
            r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1",
            "start":{"streamSid":"MZ1","accountSid":"AC1","callSid":"CA1","tracks":["inbound"],
            "customParameters":{"call_id":"abc","n":3},
            "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#,
        )
        .unwrap();
        let StreamEvent::Start(start) = start else {
            panic!("not a start: {start:?}")
        };
        assert_eq!(start.stream_sid, "MZ1");
        assert_eq!(start.call_sid, "CA1");
        assert_eq!(start.custom_parameters["call_id"], "abc");
        assert_eq!(start.custom_parameters["n"], "3");
        assert_eq!(start.sample_rate_hz, 8000);
        assert_eq!(
            parse(
                r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1",
                "media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"AAEC"}}"#
            ),
            Ok(StreamEvent::Media(MediaChunk {
                track: "inbound".into(),
                timestamp_ms: Some(5),
                payload: vec![0, 1, 2],
            }))
        );
        assert_eq!(
            parse(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"r1-s1"}}"#),
            Ok(StreamEvent::Mark {
                name: "r1-s1".into()
            })
        );
        assert_eq!(
            parse(
                r#"{"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"7"}}"#
            ),
            Ok(StreamEvent::Dtmf { digit: '7' })
        );
        assert_eq!(
            parse(r#"{"event":"stop","streamSid":"MZ1","stop":{"callSid":"CA1"}}"#),
            Ok(StreamEvent::Stop)
        );
        assert_eq!(
            parse(r#"{"event":"later","streamSid":"MZ1"}"#),
            Ok(StreamEvent::Other("later".into()))
        );
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        assert!(matches!(parse("{"), Err(MediaError::Malformed(_))));
        assert!(matches!(
            parse(r#"{"event":"media"}"#),
            Err(MediaError::Malformed(_))
        ));
        assert_eq!(
            parse(r#"{"event":"media","media":{"payload":"***"}}"#),
            Err(MediaError::BadPayload)
        );
        assert!(matches!(
            parse(r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#),
            Err(MediaError::Malformed(_))
        ));
    }

    #[test]
    fn our_messages_read_back() {
        assert_eq!(
            parse_server(&media_message("MZ1", &[1, 2, 255])),
            Ok(ServerMessage::Media(vec![1, 2, 255]))
        );
        assert_eq!(
            parse_server(&mark_message("MZ1", "r1-s2")),
            Ok(ServerMessage::Mark("r1-s2".into()))
        );
        assert_eq!(
            parse_server(&clear_message("MZ1")),
            Ok(ServerMessage::Clear)
        );
        let start = parse(&client::start("MZ9", "CA9", &[("call_id", "x")])).unwrap();
        assert!(matches!(start, StreamEvent::Start(s) if s.custom_parameters["call_id"] == "x"));
        assert!(matches!(
            parse(&client::media("MZ9", 1, 20, &[9; 160])),
            Ok(StreamEvent::Media(m)) if m.payload.len() == 160 && m.timestamp_ms == Some(20)
        ));
    }
}
