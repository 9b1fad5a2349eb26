//! A phone call's audio over Twilio Media Streams: the socket Twilio opens when the call's TwiML
//! says `<Connect><Stream>`. The stream must name a call this server created, with the token it
//! issued for it (custom parameters `call_id` and `token`); anything else is refused. Malformed
//! or out-of-order messages are logged and skipped, never fatal to the call.

use std::time::Duration;

use actix_ws::{Message, MessageStream, Session};
use futures_util::StreamExt as _;
use switchboard_audio::session::{ChannelFormat, InboundFrame, OutboundEvent};
use switchboard_domain::call::{CallError, CallStatus};
use switchboard_domain::ids::CallId;
use switchboard_domain::ports::MediaStreamTarget;
use switchboard_twilio::media::{self, StreamEvent, StreamStart};
use tracing::{Instrument as _, debug, info, warn};

use super::runner::{CallSetup, Channel, run_call};
use super::tokens::Purpose;
use crate::state::AppState;

/// How long Twilio has to open the media stream after it was named.
const STREAM_TOKEN_TTL_MINUTES: i64 = 10;

/// The media stream a phone call is connected to: this server's stream address under
/// `websocket_base` (see [`crate::http::address::websocket_base`]), with the call's id and a
/// token for it as stream parameters (Twilio drops query strings).
#[must_use]
pub fn stream_target(websocket_base: &str, state: &AppState, call: CallId) -> MediaStreamTarget {
    let token = state.call_tokens.issue(
        Purpose::MediaStream,
        call,
        chrono::Utc::now() + chrono::Duration::minutes(STREAM_TOKEN_TTL_MINUTES),
    );
    MediaStreamTarget {
        url: format!("{websocket_base}/telephony/twilio/media"),
        parameters: vec![
            ("call_id".into(), call.to_string()),
            ("token".into(), token),
        ],
    }
}

/// How long Twilio has to send `start` after opening the socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The Twilio side of a call, as a [`Channel`].
struct TwilioChannel {
    session: Session,
    stream: MessageStream,
    stream_sid: String,
    malformed: u64,
}

impl Channel for TwilioChannel {
    async fn receive(&mut self) -> Option<InboundFrame> {
        loop {
            let message = match self.stream.next().await? {
                Ok(message) => message,
                Err(error) => {
                    warn!(%error, "the Twilio media stream broke");
                    return None;
                }
            };
            match message {
                Message::Text(text) => match media::parse(&text) {
                    Ok(StreamEvent::Media(chunk)) if chunk.track == "inbound" => {
                        return Some(InboundFrame::Audio(chunk.payload));
                    }
                    Ok(StreamEvent::Mark { name }) => return Some(InboundFrame::Mark(name)),
                    Ok(StreamEvent::Dtmf { digit }) => return Some(InboundFrame::Dtmf(digit)),
                    Ok(StreamEvent::Stop) => return Some(InboundFrame::Hangup),
                    Ok(other) => debug!(event = ?other, "a Twilio message out of place, skipped"),
                    Err(error) => {
                        self.malformed += 1;
                        // The first few say what is wrong; a flood does not flood the log.
                        if self.malformed <= 3 {
                            warn!(%error, "a malformed Twilio message, skipped");
                        }
                    }
                },
                Message::Ping(bytes) if self.session.pong(&bytes).await.is_err() => return None,
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    async fn send(&mut self, event: OutboundEvent) -> bool {
        let text = match event {
            OutboundEvent::Audio(mulaw) => media::media_message(&self.stream_sid, &mulaw),
            OutboundEvent::Mark(name) => media::mark_message(&self.stream_sid, &name),
            OutboundEvent::Clear => media::clear_message(&self.stream_sid),
            // A phone shows no text; the transcript is stored by the runner.
            OutboundEvent::Text(_) | OutboundEvent::AgentText(_) | OutboundEvent::Ended(_) => {
                return true;
            }
        };
        self.session.text(text).await.is_ok()
    }
}

/// Waits for `start`, skipping `connected` and anything out of order.
async fn wait_for_start(stream: &mut MessageStream) -> Option<StreamStart> {
    let wait = async {
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Text(text)) => match media::parse(&text) {
                    Ok(StreamEvent::Start(start)) => return Some(start),
                    Ok(StreamEvent::Connected) => {}
                    Ok(other) => debug!(event = ?other, "a Twilio message before start, skipped"),
                    Err(error) => warn!(%error, "a malformed Twilio message, skipped"),
                },
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        None
    };
    tokio::time::timeout(START_TIMEOUT, wait)
        .await
        .ok()
        .flatten()
}

/// The call a stream names, when its token is the one this server issued.
fn named_call(state: &AppState, start: &StreamStart) -> Option<CallId> {
    let call: CallId = start.custom_parameters.get("call_id")?.parse().ok()?;
    let token = start.custom_parameters.get("token")?;
    state
        .call_tokens
        .verify(Purpose::MediaStream, call, token, chrono::Utc::now())
        .then_some(call)
}

/// Serves one media stream socket to its end.
pub async fn serve(
    state: actix_web::web::Data<AppState>,
    session: Session,
    mut stream: MessageStream,
) {
    let Some(start) = wait_for_start(&mut stream).await else {
        info!("a Twilio media stream closed or timed out before start");
        let _ = session.close(None).await;
        return;
    };
    let Some(call_id) = named_call(&state, &start) else {
        warn!(
            twilio.stream_sid = %start.stream_sid,
            "a Twilio media stream named no call of this server, or a wrong token; refused"
        );
        let _ = session.close(None).await;
        return;
    };
    let span = tracing::info_span!("voice_call", call.id = %call_id, channel = "twilio");
    carry(state, session, stream, start, call_id)
        .instrument(span)
        .await;
}

/// Carries the call a stream joined.
async fn carry(
    state: actix_web::web::Data<AppState>,
    session: Session,
    stream: MessageStream,
    start: StreamStart,
    call_id: CallId,
) {
    let Some((_guard, stop)) = state.live_calls.register(call_id) else {
        warn!("a second media stream for a live call; refused");
        let _ = session.close(None).await;
        return;
    };
    let mut live = match state.calls.go_live(call_id, None).await {
        Ok(live) => live,
        Err(CallError::NotFound | CallError::Ended) => {
            warn!("a media stream for a call that is over or unknown; refused");
            let _ = session.close(None).await;
            return;
        }
        Err(error) => {
            warn!(%error, "the call of a media stream could not be read");
            let _ = session.close(None).await;
            return;
        }
    };
    let call_sid = (!start.call_sid.is_empty()).then_some(start.call_sid.as_str());
    if let Err(error) = live.answered(call_sid).await {
        warn!(%error, "the answered call could not be stored");
    }
    let ports = match state.speech.for_call(live.context().agent.as_ref()) {
        Ok(ports) => ports,
        Err(unavailable) => {
            warn!(%unavailable, "a phone call cannot be carried");
            let state_now = live.call().conversation.clone();
            if let Err(error) = live
                .finish(state_now, CallStatus::Failed, "speech_unavailable", None)
                .await
            {
                warn!(%error, "the failed call could not be stored");
            }
            let _ = session.close(None).await;
            return;
        }
    };
    info!(twilio.stream_sid = %start.stream_sid, "a Twilio media stream joined its call");
    let mut channel = TwilioChannel {
        session: session.clone(),
        stream,
        stream_sid: start.stream_sid,
        malformed: 0,
    };
    let setup = CallSetup {
        live,
        ports,
        format: ChannelFormat::Mulaw8k,
        recordings: state.recordings.clone(),
        stop,
        telephony: state.telephony.clone(),
    };
    run_call(setup, &mut channel).await;
    let _ = session.close(None).await;
}
