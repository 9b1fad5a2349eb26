//! Seed 002's voice chat socket (`/ws/voice-chat/{call_id}`): a call started with
//! `POST /start-call`, carried one utterance at a time. The agent's first message goes out as
//! WAV bytes; each WAV (or MP3) message from the client is transcribed (`user_text`), answered
//! through the call service like a text turn (so it is stored the same way), and spoken back as
//! WAV, or sent as `agent_text` when speech synthesis fails. `system` says the call ended;
//! `error` reports a failed turn, and the socket stays open for the next.

use actix_ws::{Message, MessageStream, Session};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::json;
use switchboard_domain::call::{Call, CallError, Speaker};
use switchboard_domain::ids::{CallId, OrganizationId};
use tracing::{Instrument as _, warn};

use super::socket::{authorize, first_message_token, refuse};
use super::utterance::{agent_of, hear, speak_wav, speech_request};
use crate::state::AppState;

/// The plain-text disconnect message seed 002's clients send.
const END_REQUEST: &str = "END_CONNECTION_REQUEST_BY_CLIENT";

#[derive(Deserialize)]
struct Control {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    command: Option<String>,
}

fn is_end_request(text: &str) -> bool {
    let text = text.trim();
    text == END_REQUEST
        || serde_json::from_str::<Control>(text)
            .is_ok_and(|c| c.kind == "control" && c.command.as_deref() == Some("end_call"))
}

async fn send_json(session: &mut Session, value: serde_json::Value) -> bool {
    session.text(value.to_string()).await.is_ok()
}

async fn send_error(session: &mut Session, message: &str) -> bool {
    send_json(session, json!({"type": "error", "message": message})).await
}

/// Speaks `text` as WAV bytes, or sends it as `agent_text` when synthesis fails.
async fn say(state: &AppState, session: &mut Session, call: &Call, text: &str) -> bool {
    let agent = agent_of(call);
    let spoken = match state.speech.voice(agent.as_ref()) {
        Ok(tts) => speak_wav(tts.as_ref(), &speech_request(text, agent.as_ref()))
            .await
            .map_err(|e| e.to_string()),
        Err(unavailable) => Err(unavailable.to_string()),
    };
    match spoken {
        Ok(wav) => session.binary(wav).await.is_ok(),
        Err(error) => {
            warn!(%error, "speech synthesis failed; the reply goes out as text");
            send_json(session, json!({"type": "agent_text", "text": text})).await
        }
    }
}

/// Answers one recording; `false` when the socket should close.
async fn answer(
    state: &AppState,
    session: &mut Session,
    organization: OrganizationId,
    call: &mut Call,
    audio: &[u8],
) -> bool {
    let agent = agent_of(call);
    let stt = match state.speech.recogniser(agent.as_ref()) {
        Ok(stt) => stt,
        Err(unavailable) => return send_error(session, &unavailable.to_string()).await,
    };
    let text = match hear(stt.as_ref(), audio).await {
        Ok(text) if text.is_empty() => {
            return send_error(session, "no speech was recognised in the audio").await;
        }
        Ok(text) => text,
        Err(error) => return send_error(session, &error.to_string()).await,
    };
    if !send_json(session, json!({"type": "user_text", "text": text})).await {
        return false;
    }
    let answer = match state.calls.respond(organization, call.id, &text).await {
        Ok(answer) => answer,
        Err(CallError::Ended | CallError::NotFound) => {
            send_json(
                session,
                json!({"type": "system", "message": "The call has ended."}),
            )
            .await;
            return false;
        }
        Err(error) => {
            warn!(%error, "a voice chat turn failed");
            return send_error(session, &format!("the agent could not answer: {error}")).await;
        }
    };
    *call = answer.call;
    if !answer.reply.text.is_empty() && !say(state, session, call, &answer.reply.text).await {
        return false;
    }
    if answer.reply.should_end_call {
        send_json(
            session,
            json!({"type": "system", "message": "Call ended by agent."}),
        )
        .await;
        return false;
    }
    true
}

/// Serves one voice chat socket to its end.
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
    let span = tracing::info_span!("voice_chat", call.id = %call_id);
    async move {
        let organization = match authorize(&state, call_id, &token).await {
            Ok(organization) => organization,
            Err(message) => return refuse(session, message).await,
        };
        // A call token names the call alone; its organisation comes from the call.
        let organization = match organization {
            Some(organization) => Ok(organization),
            None => state
                .calls
                .go_live(call_id, None)
                .await
                .map(|live| live.call().organization_id),
        };
        let found = match organization {
            Ok(organization) => state.calls.get(organization, call_id).await,
            Err(e) => Err(e),
        };
        let (mut call, turns) = match found {
            Ok((call, turns)) if call.is_active() => (call, turns),
            Ok(_) | Err(CallError::Ended) => return refuse(session, "the call has ended").await,
            Err(CallError::NotFound) => return refuse(session, "call not found").await,
            Err(error) => {
                warn!(%error, "a voice chat call could not be read");
                return refuse(session, "the call could not be read").await;
            }
        };
        let organization = call.organization_id;
        if let Some(first) = turns.iter().find(|t| t.speaker == Speaker::Agent)
            && !say(&state, &mut session, &call, &first.text).await
        {
            return;
        }
        while let Some(message) = stream.next().await {
            let keep_open =
                match message {
                    Ok(Message::Binary(audio)) => {
                        answer(&state, &mut session, organization, &mut call, &audio).await
                    }
                    Ok(Message::Text(text)) if is_end_request(&text) => {
                        if let Err(error) = state.calls.end(organization, call_id).await {
                            warn!(%error, "a voice chat call could not be ended");
                        }
                        send_json(
                            &mut session,
                            json!({"type": "system", "message": "Call ended by client."}),
                        )
                        .await;
                        false
                    }
                    Ok(Message::Text(_)) => send_error(
                        &mut session,
                        "send audio as binary WAV messages, or END_CONNECTION_REQUEST_BY_CLIENT",
                    )
                    .await,
                    Ok(Message::Ping(bytes)) => session.pong(&bytes).await.is_ok(),
                    Ok(Message::Close(_)) | Err(_) => false,
                    Ok(_) => true,
                };
            if !keep_open {
                break;
            }
        }
        let _ = session.close(None).await;
    }
    .instrument(span)
    .await;
}
