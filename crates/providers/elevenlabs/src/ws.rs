//! The WebSocket transport: `wss://…/v1/text-to-speech/{voice}/stream-input` (PROVIDERS.md
//! 3.2). The whole text goes in three messages (open with the voice settings, the text with a
//! flush, the empty text that ends the input); the audio comes back as base64 messages until
//! `isFinal` or a close.
//!
//! One connection per `synthesize` call, on purpose: the voice, model and output format are
//! fixed by the URL and the first message, so utterances in different voices or rates could not
//! share one; ending the input (`{"text":""}`) is the only way to have every last sound flushed
//! and the end marked, and it closes the socket; dropping an utterance on barge-in must cut
//! exactly its audio, which closing its own socket does; and an idle shared socket would be
//! closed by ElevenLabs' inactivity timeout (20 s) between turns anyway. The cost is one
//! handshake per utterance, which the session hides by synthesising a sentence ahead.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_provider_http::{ApiKey, ErrorAnswer, retry_after};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::debug;
use url::Url;

use crate::config::ElevenLabsConfigError;
use crate::failure::{Failure, error_message, message_in};
use crate::format::Decoder;
use crate::request::{Utterance, VoiceSettings};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Audio messages are a fraction of a second of base64 audio; anything near this is not.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How to open a stream-input socket.
#[derive(Clone)]
pub(crate) struct WsTransport {
    key: ApiKey,
    key_header: HeaderValue,
    /// `ws(s)://{host}{base path}/v1/text-to-speech`.
    tts_url: Url,
    connect_timeout: Duration,
}

impl std::fmt::Debug for WsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsTransport")
            .field("tts_url", &self.tts_url.as_str())
            .finish_non_exhaustive()
    }
}

impl WsTransport {
    pub(crate) fn new(
        key: &ApiKey,
        base_url: &Url,
        connect_timeout: Duration,
    ) -> Result<Self, ElevenLabsConfigError> {
        let invalid = || ElevenLabsConfigError::BaseUrl(base_url.to_string());
        let mut tts_url = switchboard_provider_http::endpoint(base_url, "/v1/text-to-speech")
            .map_err(|_| invalid())?;
        let scheme = if tts_url.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        tts_url.set_scheme(scheme).map_err(|()| invalid())?;
        Ok(Self {
            key: key.clone(),
            key_header: key
                .header_value("")
                .map_err(|_| ElevenLabsConfigError::InvalidKey)?,
            tts_url,
            connect_timeout,
        })
    }

    /// The socket URL for `utterance`: the voice as an escaped path segment, the model, output
    /// format and language as query parameters.
    pub(crate) fn url(&self, utterance: &Utterance) -> Url {
        let mut url = self.tts_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(&utterance.voice).push("stream-input");
        }
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("model_id", &utterance.model_id)
                .append_pair("output_format", &utterance.format.query_value());
            if let Some(language) = &utterance.language {
                query.append_pair("language_code", language);
            }
        }
        url
    }

    /// One attempt: connect, send the whole text, and read until the first audio, so that
    /// failures before it can still be retried. `None` as the first chunk means the stream
    /// ended without audio.
    pub(crate) async fn start(
        &self,
        url: &Url,
        utterance: &Utterance,
        first_chunk_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<(Option<Vec<i16>>, WsAudio), Failure> {
        let deadline = Instant::now() + first_chunk_timeout;
        let connect_by = deadline.min(Instant::now() + self.connect_timeout);
        let mut socket = tokio::time::timeout_at(connect_by, self.connect(url))
            .await
            .map_err(|_| Failure::Timeout)??;
        tokio::time::timeout_at(deadline, self.send_text(&mut socket, utterance))
            .await
            .map_err(|_| Failure::Timeout)??;
        let mut audio = WsAudio {
            socket,
            decoder: Decoder::new(utterance.format),
            key: self.key.clone(),
            idle_timeout,
            reported: None,
            finished: false,
        };
        let first = audio.next_by(Some(deadline)).await?;
        Ok((first, audio))
    }

    async fn connect(&self, url: &Url) -> Result<Socket, Failure> {
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| Failure::Malformed(anyhow::anyhow!("cannot build the request: {e}")))?;
        // The handshake header is the documented way to authenticate; the key also goes in the
        // first message for servers that only read it there.
        request
            .headers_mut()
            .insert("xi-api-key", self.key_header.clone());
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| self.handshake_failure(e))?;
        Ok(socket)
    }

    fn handshake_failure(&self, error: tungstenite::Error) -> Failure {
        match error {
            tungstenite::Error::Http(response) => {
                let status = StatusCode::from_u16(response.status().as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                let body = response.body().as_deref().unwrap_or_default();
                Failure::Status(ErrorAnswer {
                    status,
                    message: self.key.redact(&error_message(body, status)),
                    retry_after: retry_after(response.headers(), SystemTime::now()),
                })
            }
            other => Failure::Connection(self.key.redact(&format!("cannot connect: {other}"))),
        }
    }

    /// The three client messages: the opening (a single space, the voice settings, the key),
    /// the text (ending with a space, as ElevenLabs asks) flushed at once, and the empty text
    /// that ends the input.
    async fn send_text(&self, socket: &mut Socket, utterance: &Utterance) -> Result<(), Failure> {
        // Serialised from a struct, not through `json!`: a `Value` would widen the f32 settings
        // into long decimals (1.2 as 1.2000000476837158).
        let opening = serde_json::to_string(&Opening {
            text: " ",
            voice_settings: utterance.settings,
            key: self.key.expose(),
        })
        .map_err(|e| Failure::Malformed(e.into()))?;
        let text = json!({"text": format!("{} ", utterance.text.trim_end()), "flush": true});
        let end = json!({"text": ""});
        for message in [opening, text.to_string(), end.to_string()] {
            socket
                .feed(Message::text(message))
                .await
                .map_err(|e| self.send_failure(&e))?;
        }
        socket.flush().await.map_err(|e| self.send_failure(&e))
    }

    fn send_failure(&self, error: &tungstenite::Error) -> Failure {
        Failure::Connection(self.key.redact(&format!("cannot send the text: {error}")))
    }
}

/// The first client message.
#[derive(Serialize)]
struct Opening<'a> {
    text: &'static str,
    voice_settings: VoiceSettings,
    #[serde(rename = "xi-api-key")]
    key: &'a str,
}

/// A server message: audio, the end marker, or an error report.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServerMessage {
    audio: Option<String>,
    #[serde(rename = "isFinal")]
    is_final: Option<bool>,
}

/// An open stream-input socket being read as audio.
#[derive(Debug)]
pub(crate) struct WsAudio {
    socket: Socket,
    decoder: Decoder,
    key: ApiKey,
    idle_timeout: Duration,
    /// The last error message the server sent, to explain the close that follows it.
    reported: Option<String>,
    finished: bool,
}

impl WsAudio {
    /// The next non-empty run of samples, `None` after `isFinal` or a normal close. Each read
    /// waits until `deadline` when given (the first audio), else for the idle timeout.
    pub(crate) async fn next_by(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<i16>>, Failure> {
        loop {
            let deadline = deadline.unwrap_or_else(|| Instant::now() + self.idle_timeout);
            if let Some(step) = self.read_by(deadline).await? {
                return Ok(step);
            }
        }
    }

    /// Reads one message: `Some(Some(samples))` for audio, `Some(None)` at the end, `None` for
    /// a message that carried no samples.
    async fn read_by(&mut self, deadline: Instant) -> Result<Option<Option<Vec<i16>>>, Failure> {
        if self.finished {
            return Ok(Some(None));
        }
        let message = tokio::time::timeout_at(deadline, self.socket.next())
            .await
            .map_err(|_| Failure::Timeout)?;
        match message {
            None => Err(Failure::Connection(
                "the connection ended without a close".to_owned(),
            )),
            Some(Err(error)) => Err(Failure::Connection(
                self.key
                    .redact(&format!("connection lost while reading the audio: {error}")),
            )),
            Some(Ok(Message::Text(text))) => self.on_text(text.as_str()),
            Some(Ok(Message::Close(frame))) => {
                self.finished = true;
                let (code, reason) = frame.map_or((CloseCode::Normal, String::new()), |frame| {
                    (frame.code, frame.reason.as_str().to_owned())
                });
                match (code, self.reported.take()) {
                    (CloseCode::Normal, None) => Ok(Some(None)),
                    (code, reported) => {
                        let reason = if reason.trim().is_empty() {
                            reported.unwrap_or_else(|| "no reason given".to_owned())
                        } else {
                            self.key.redact(&reason)
                        };
                        Err(Failure::Closed {
                            code: u16::from(code),
                            reason,
                        })
                    }
                }
            }
            // Pings are answered by the socket itself; ElevenLabs sends no binary messages.
            Some(Ok(_)) => Ok(None),
        }
    }

    fn on_text(&mut self, text: &str) -> Result<Option<Option<Vec<i16>>>, Failure> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Failure::Malformed(anyhow::anyhow!("an ElevenLabs message is not JSON: {e}"))
        })?;
        let message = ServerMessage::deserialize(&json).map_err(|e| {
            Failure::Malformed(anyhow::anyhow!(
                "an ElevenLabs message is not as documented: {e}"
            ))
        })?;
        let mut samples = Vec::new();
        if let Some(audio) = message.audio.as_deref().filter(|a| !a.is_empty()) {
            let bytes = BASE64.decode(audio).map_err(|e| {
                Failure::Malformed(anyhow::anyhow!("ElevenLabs audio is not base64: {e}"))
            })?;
            samples = self.decoder.push(&bytes);
        } else if let Some(reported) = message_in(&json) {
            debug!("ElevenLabs reported an error on the stream");
            self.reported = Some(self.key.redact(&reported));
        }
        if message.is_final == Some(true) {
            // The utterance is complete. The server closes the socket after this; dropping it
            // closes our side without waiting for that.
            self.finished = true;
        }
        Ok(if !samples.is_empty() {
            Some(Some(samples))
        } else if self.finished {
            Some(None)
        } else {
            None
        })
    }
}
