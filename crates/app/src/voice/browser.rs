//! A live call in the browser: one WebSocket carrying 16-bit little-endian PCM at 16 kHz both
//! ways (binary frames) and JSON events (text frames).
//!
//! Client to server: audio; `{"type":"mark","name":...}` once the audio before a mark has
//! played; `{"type":"dtmf","digit":"5"}`; `{"type":"end"}` (or seed 002's
//! `{"type":"control","command":"end_call"}`) to hang up.
//! Server to client: `{"type":"ready",...}` first; audio; `mark` (echo it when played), `clear`
//! (drop queued audio: the caller barged in), `transcript` lines, `agent_text` (a sentence that
//! could not be spoken), and `ended` last.

use actix_ws::{Message, MessageStream, Session};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::json;
use switchboard_audio::session::{
    ChannelFormat, InboundFrame, OutboundEvent, SessionEnd, TranscriptLine,
};
use switchboard_domain::call::CallError;
use switchboard_domain::ids::CallId;
use tracing::{Instrument as _, debug, warn};

use super::runner::{CallSetup, Channel, run_call};
use super::socket::{authorize, first_message_token, refuse};
use crate::state::AppState;

#[derive(Deserialize)]
struct ClientEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    digit: Option<String>,
    #[serde(default)]
    command: Option<String>,
}

/// The browser side of a call, as a [`super::runner::Channel`].
struct BrowserChannel {
    session: Session,
    stream: MessageStream,
    /// A byte of a sample split across two binary frames.
    odd_byte: Option<u8>,
}

fn end_name(end: &SessionEnd) -> String {
    match end {
        SessionEnd::Hangup => "hangup".into(),
        SessionEnd::Shutdown => "ended_by_server".into(),
        SessionEnd::Agent(reason) => reason.as_str().to_owned(),
        SessionEnd::SilenceTimeout => "silence_timeout".into(),
        SessionEnd::Failed(_) => "failed".into(),
    }
}

fn transcript_event(line: &TranscriptLine) -> serde_json::Value {
    json!({
        "type": "transcript",
        "speaker": line.speaker.as_str(),
        "text": line.text,
        "interrupted": line.interrupted,
        "latency": line.latency.map(|l| json!({
            "final_transcript_ms": l.final_transcript_ms,
            "first_token_ms": l.first_token_ms,
            "first_audio_ms": l.first_audio_ms,
            "first_frame_ms": l.first_frame_ms,
        })),
    })
}

impl BrowserChannel {
    /// Whole samples of a binary frame, carrying a split sample over to the next.
    fn audio(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut audio = Vec::with_capacity(bytes.len() + 1);
        audio.extend(self.odd_byte.take());
        audio.extend_from_slice(bytes);
        if audio.len() % 2 == 1 {
            self.odd_byte = audio.pop();
        }
        audio
    }
}

impl Channel for BrowserChannel {
    async fn receive(&mut self) -> Option<InboundFrame> {
        loop {
            let message = match self.stream.next().await? {
                Ok(message) => message,
                Err(error) => {
                    warn!(%error, "the browser call socket broke");
                    return None;
                }
            };
            match message {
                Message::Binary(bytes) => {
                    let audio = self.audio(&bytes);
                    if !audio.is_empty() {
                        return Some(InboundFrame::Audio(audio));
                    }
                }
                Message::Text(text) => match serde_json::from_str::<ClientEvent>(&text) {
                    Ok(event) => match (event.kind.as_str(), event.command.as_deref()) {
                        ("mark", _) => {
                            if let Some(name) = event.name {
                                return Some(InboundFrame::Mark(name));
                            }
                        }
                        ("dtmf", _) => {
                            let mut digits = event.digit.as_deref().unwrap_or("").chars();
                            if let (Some(digit), None) = (digits.next(), digits.next()) {
                                return Some(InboundFrame::Dtmf(digit));
                            }
                        }
                        ("end" | "hangup", _) | ("control", Some("end_call")) => {
                            return Some(InboundFrame::Hangup);
                        }
                        (other, _) => debug!(event = other, "an unknown browser event, skipped"),
                    },
                    Err(error) => debug!(%error, "a browser message that is not an event, skipped"),
                },
                Message::Ping(bytes) if self.session.pong(&bytes).await.is_err() => return None,
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    async fn send(&mut self, event: OutboundEvent) -> bool {
        let sent = match event {
            OutboundEvent::Audio(pcm) => self.session.binary(pcm).await,
            OutboundEvent::Mark(name) => {
                self.session
                    .text(json!({"type": "mark", "name": name}).to_string())
                    .await
            }
            OutboundEvent::Clear => self.session.text(r#"{"type":"clear"}"#).await,
            OutboundEvent::Text(line) => {
                self.session.text(transcript_event(&line).to_string()).await
            }
            OutboundEvent::AgentText(text) => {
                self.session
                    .text(json!({"type": "agent_text", "text": text}).to_string())
                    .await
            }
            OutboundEvent::Ended(end) => {
                self.session
                    .text(json!({"type": "ended", "reason": end_name(&end)}).to_string())
                    .await
            }
        };
        sent.is_ok()
    }
}

/// Serves one browser call socket to its end.
pub async fn serve(
    state: actix_web::web::Data<AppState>,
    mut session: Session,
    mut stream: MessageStream,
    call_id: CallId,
    token: Option<String>,
) {
    let token = match token {
        Some(token) => Some(token),
        None => first_message_token(&mut stream).await,
    };
    let Some(token) = token else {
        refuse(session, "not authenticated: send a token").await;
        return;
    };
    let organization = match authorize(&state, call_id, &token).await {
        Ok(organization) => organization,
        Err(message) => {
            refuse(session, message).await;
            return;
        }
    };
    let span = tracing::info_span!("voice_call", call.id = %call_id, channel = "web");
    async move {
        let Some((_guard, stop)) = state.live_calls.register(call_id) else {
            refuse(session, "this call is already connected").await;
            return;
        };
        let live = match state.calls.go_live(call_id, organization).await {
            Ok(live) => live,
            Err(CallError::NotFound) => return refuse(session, "call not found").await,
            Err(CallError::Ended) => return refuse(session, "the call has ended").await,
            Err(error) => {
                warn!(%error, "a browser call could not be read");
                return refuse(session, "the call could not be started").await;
            }
        };
        let ports = match state.speech.for_call(live.context().agent.as_ref()) {
            Ok(ports) => ports,
            Err(unavailable) => return refuse(session, &unavailable.to_string()).await,
        };
        let ready = json!({
            "type": "ready",
            "call_id": call_id.to_string(),
            "encoding": "pcm_s16le",
            "sample_rate": ChannelFormat::Pcm16k.sample_rate_hz(),
            "channels": 1,
        });
        if session.text(ready.to_string()).await.is_err() {
            return;
        }
        let mut channel = BrowserChannel {
            session: session.clone(),
            stream,
            odd_byte: None,
        };
        let setup = CallSetup {
            live,
            ports,
            format: ChannelFormat::Pcm16k,
            recordings: state.recordings.clone(),
            stop,
            telephony: None,
        };
        run_call(setup, &mut channel).await;
        let _ = session.close(None).await;
    }
    .instrument(span)
    .await;
}
