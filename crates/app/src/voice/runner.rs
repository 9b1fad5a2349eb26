//! Carries one live call: a channel (a socket speaking some wire protocol) on one side, a
//! [`VoiceSession`] on the other, and the database beside them. Transcript lines are written the
//! moment they are said, by a task of their own so the audio never waits on the database; when
//! the session ends the call is finished with the conversation as heard, its end reason and its
//! recording, whatever failed on the way.

use std::sync::Arc;
use std::time::Duration;

use switchboard_audio::session::{
    ChannelFormat, Conversation, InboundFrame, Opening, OutboundEvent, SessionEnd, SessionIo,
    SessionOutcome, SessionPorts, TranscriptLine, TurnTaking, VoiceLatency, VoiceSession,
    VoiceSessionConfig,
};
use switchboard_domain::call::{CallStatus, LiveCall, NewCallTurn, Speaker, TurnLatency};
use switchboard_domain::conversation::{ConversationState, EndReason};
use switchboard_domain::ports::{ChatRole, SttConfig, Telephony};
use tokio::sync::{mpsc, watch};
use tracing::{Instrument as _, info, warn};

use super::recordings::Recordings;
use super::utterance::speech_request;

/// Frames waiting between the channel and the session, each way. Inbound beyond this is dropped
/// by the channel (a stalled session must not grow memory); outbound waits (backpressure).
const FRAME_QUEUE: usize = 64;
/// Transcript lines waiting for the database.
const LINE_QUEUE: usize = 32;
/// How long a call without its own limit may last.
const DEFAULT_MAX_CALL: Duration = Duration::from_secs(3600);

/// One side of a live call as the runner sees it: frames from the caller, events to them.
pub trait Channel {
    /// The next frame from the caller; `None` once the channel is gone. Malformed input is the
    /// channel's to log and skip; it never ends the call.
    fn receive(&mut self) -> impl Future<Output = Option<InboundFrame>>;

    /// Sends one event to the caller; `false` once the channel is gone.
    fn send(&mut self, event: OutboundEvent) -> impl Future<Output = bool>;
}

/// What the runner needs besides the channel.
pub struct CallSetup {
    pub live: LiveCall,
    pub ports: SessionPorts,
    pub format: ChannelFormat,
    pub recordings: Recordings,
    /// Becomes `true` when the call must end (the server shuts down, a client ended it).
    pub stop: watch::Receiver<bool>,
    /// The telephony provider carrying a phone call, which performs transfers; `None` for other
    /// channels.
    pub telephony: Option<Arc<dyn Telephony>>,
}

/// Why a voice call ended, as stored.
fn end_reason(end: &SessionEnd, timed_out: bool, stopped: bool) -> (CallStatus, String) {
    match end {
        SessionEnd::Hangup => (CallStatus::Completed, "customer_hangup".into()),
        SessionEnd::Shutdown if timed_out => (CallStatus::Completed, "max_duration".into()),
        // Stopped through the API (`POST /api/v1/calls/{id}/end`).
        SessionEnd::Shutdown if stopped => (CallStatus::Completed, "ended_by_client".into()),
        SessionEnd::Shutdown => (CallStatus::Completed, "ended_by_server".into()),
        SessionEnd::Agent(reason) => (CallStatus::Completed, reason.as_str().to_owned()),
        SessionEnd::SilenceTimeout => (CallStatus::Completed, "silence_timeout".into()),
        SessionEnd::Failed(_) => (CallStatus::Failed, "session_failed".into()),
    }
}

/// A voice turn's steps as the call keeps them: the whole turn counts until the caller heard the
/// first frame of the answer.
fn turn_latency(latency: VoiceLatency) -> TurnLatency {
    TurnLatency {
        first_token_ms: latency.first_token_ms,
        total_ms: latency
            .first_frame_ms
            .unwrap_or(latency.final_transcript_ms),
        transcript_ms: Some(latency.final_transcript_ms),
        first_audio_ms: latency.first_audio_ms,
        first_frame_ms: latency.first_frame_ms,
    }
}

/// The session's settings for this call's agent (or scenario).
fn session_config(live: &LiveCall, format: ChannelFormat) -> VoiceSessionConfig {
    let context = live.context();
    // Silence is handled by the turn-taking check-ins (the agent's, or the defaults for a
    // scenario), which end the call politely when nobody answers them.
    let mut config = VoiceSessionConfig {
        format,
        ..VoiceSessionConfig::default()
    };
    let mut stt = SttConfig::default();
    let mut max_call = DEFAULT_MAX_CALL;
    if let Some(agent) = &context.agent {
        config.turn_taking = TurnTaking::from(&agent.turn_taking);
        let voice = speech_request("", Some(agent));
        config.voice = voice.voice;
        config.speed = voice.speed;
        stt.model.clone_from(&agent.stt.model);
        let language = if agent.stt.language.is_empty() {
            &agent.language
        } else {
            &agent.stt.language
        };
        stt.language = (!language.is_empty()).then(|| language.clone());
        if agent.max_call_duration_secs > 0 {
            max_call = Duration::from_secs(u64::from(agent.max_call_duration_secs));
        }
    }
    config.stt = stt;
    config.record_max = Some(max_call);
    config
}

/// How the session opens: the call's conversation was opened when the call was created, so the
/// session speaks its first message (already in the transcript) and carries on from there.
fn opening(live: &LiveCall) -> (Opening, Option<String>) {
    let state: ConversationState = live.call().conversation.clone();
    let greeting = (state.caller_turns == 0)
        .then(|| {
            state
                .messages
                .iter()
                .rev()
                .find(|m| m.role == ChatRole::Assistant)
                .and_then(|m| m.content.clone())
        })
        .flatten()
        .filter(|text| !text.trim().is_empty());
    (
        Opening::Resume {
            state,
            say: greeting.clone(),
        },
        greeting,
    )
}

/// Hands a phone call the agent decided to transfer to the number it named, while the stream is
/// still open (closing it first would end the call).
async fn transfer_if_asked(
    live: &LiveCall,
    outcome: &SessionOutcome,
    telephony: Option<&dyn Telephony>,
) {
    let (Some(to), Some(telephony), Some(provider_id)) = (
        outcome.state.transfer_to.as_deref(),
        telephony,
        live.call().provider_call_id.as_deref(),
    ) else {
        return;
    };
    if outcome.end != SessionEnd::Agent(EndReason::Transferred) {
        return;
    }
    match telephony.transfer(provider_id, to).await {
        Ok(()) => info!("the call was transferred"),
        Err(error) => warn!(%error, "the transfer failed; the call ends"),
    }
}

/// Writes transcript lines as they come; the stored greeting is not written twice.
async fn write_lines(
    mut live: LiveCall,
    mut lines: mpsc::Receiver<TranscriptLine>,
    mut greeting: Option<String>,
) -> LiveCall {
    while let Some(line) = lines.recv().await {
        if line.speaker == Speaker::Agent
            && line.latency.is_none()
            && greeting.as_deref() == Some(line.text.as_str())
        {
            greeting = None;
            continue;
        }
        let turn = NewCallTurn {
            speaker: line.speaker,
            text: line.text,
            at: live.now(),
            latency: line.latency.map(turn_latency),
        };
        if let Err(error) = live.record(turn).await {
            warn!(%error, "a transcript line of a live call could not be stored");
        }
    }
    live
}

/// Runs the call to its end and stores it; returns the outcome for channels that report it.
pub async fn run_call(setup: CallSetup, channel: &mut impl Channel) -> Option<SessionOutcome> {
    let CallSetup {
        live,
        ports,
        format,
        recordings,
        stop,
        telephony,
    } = setup;
    let call_id = live.call().id;
    let config = session_config(&live, format);
    let max_call = config.record_max.unwrap_or(DEFAULT_MAX_CALL);
    let (opening, greeting) = opening(&live);
    let conversation = Conversation {
        engine: live.engine().clone(),
        context: live.context().clone(),
        opening,
    };
    let (inbound_tx, inbound_rx) = mpsc::channel(FRAME_QUEUE);
    let (outbound_tx, mut outbound_rx) = mpsc::channel(FRAME_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let session = match VoiceSession::new(
        config,
        ports,
        conversation,
        SessionIo {
            inbound: inbound_rx,
            outbound: outbound_tx,
            shutdown: shutdown_rx,
        },
    ) {
        Ok(session) => session,
        Err(error) => {
            warn!(%error, "the voice session could not be set up");
            let mut live = live;
            let state = live.call().conversation.clone();
            if let Err(error) = live
                .finish(state, CallStatus::Failed, "session_failed", None)
                .await
            {
                warn!(%error, "a failed voice call could not be stored");
            }
            return None;
        }
    };
    let (lines_tx, lines_rx) = mpsc::channel(LINE_QUEUE);
    let writer = tokio::spawn(write_lines(live, lines_rx, greeting).in_current_span());
    let mut session_task = tokio::spawn(session.run().in_current_span());

    let deadline = tokio::time::sleep(max_call);
    tokio::pin!(deadline);
    let mut stop = stop;
    let mut timed_out = false;
    let mut stopped = false;
    // A caller who hangs up stops talking but may still be listening (a browser waits for
    // `ended`); a channel that is gone does neither.
    let mut listening = true;
    let mut channel_open = true;
    let mut dropped_frames = 0_u64;
    let outcome = loop {
        tokio::select! {
            outcome = &mut session_task => break outcome.ok(),
            () = &mut deadline, if !timed_out => {
                timed_out = true;
                let _ = shutdown_tx.send(true);
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    stopped = changed.is_ok();
                    let _ = shutdown_tx.send(true);
                }
            }
            frame = channel.receive(), if listening => match frame {
                Some(InboundFrame::Audio(audio)) => {
                    // A session that cannot keep up loses audio rather than growing a queue.
                    if inbound_tx.try_send(InboundFrame::Audio(audio)).is_err() {
                        dropped_frames += 1;
                    }
                }
                Some(other) => {
                    listening = other != InboundFrame::Hangup;
                    let _ = inbound_tx.send(other).await;
                }
                None => {
                    listening = false;
                    channel_open = false;
                    let _ = inbound_tx.send(InboundFrame::Hangup).await;
                }
            },
            event = outbound_rx.recv() => match event {
                Some(OutboundEvent::Text(line)) => {
                    if lines_tx.send(line.clone()).await.is_err() {
                        warn!("the transcript writer stopped early");
                    }
                    if channel_open {
                        channel_open = channel.send(OutboundEvent::Text(line)).await;
                    }
                }
                Some(event) if channel_open => channel_open = channel.send(event).await,
                Some(_) | None => {}
            },
        }
    };
    // Whatever the session sent last (its `Ended` among it) still reaches the channel.
    while let Ok(event) = outbound_rx.try_recv() {
        if let OutboundEvent::Text(line) = &event {
            let _ = lines_tx.send(line.clone()).await;
        }
        if channel_open {
            channel_open = channel.send(event).await;
        }
    }
    drop(lines_tx);
    if dropped_frames > 0 {
        warn!(
            frames.dropped = dropped_frames,
            "caller audio was dropped because the session fell behind"
        );
    }
    let mut live = match writer.await {
        Ok(live) => live,
        Err(error) => {
            warn!(%error, "the transcript writer failed; the call is left as it was stored");
            return outcome;
        }
    };
    if let Some(outcome) = &outcome {
        transfer_if_asked(&live, outcome, telephony.as_deref()).await;
    }
    let (status, reason, state, recording) = match &outcome {
        Some(outcome) => {
            let (status, reason) = end_reason(&outcome.end, timed_out, stopped);
            (
                status,
                reason,
                outcome.state.clone(),
                outcome.recording.clone(),
            )
        }
        None => (
            CallStatus::Failed,
            "session_failed".to_owned(),
            live.call().conversation.clone(),
            None,
        ),
    };
    let recording_url = match recording {
        Some(wav) => match recordings.store(call_id, &wav).await {
            Ok(()) => Some(recordings.url_of(call_id)),
            Err(error) => {
                warn!(%error, "the call's recording could not be written");
                None
            }
        },
        None => None,
    };
    match live.finish(state, status, &reason, recording_url).await {
        Ok(call) => info!(
            call.id = %call.id,
            call.end_reason = call.end_reason.as_deref().unwrap_or(""),
            "voice call ended"
        ),
        Err(error) => warn!(%error, "the end of a voice call could not be stored"),
    }
    outcome
}
