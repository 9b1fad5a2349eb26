//! The session's main loop: one task that owns the call's state and waits, with
//! `tokio::select!`, on shutdown, inbound frames, speech-to-text, the reply being spoken, the
//! next frame's deadline and its timers. Work that may block (opening a speech-to-text stream,
//! feeding it audio, producing a reply) runs in tasks this loop owns through [`TaskGuard`]s, so
//! none outlives it.
//!
//! The loop's handlers live beside it: `caller` for what the caller does, `replies` for what
//! the agent says.

mod caller;
mod replies;

use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::call::Speaker as Who;
use switchboard_domain::conversation::{
    CallContext, ConversationEngine, ConversationState, EndReason, keypad_text,
};
use switchboard_domain::ports::{ChatMessage, ChatRole, SpeechRequest, SttEvent, TextToSpeech};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::interruption::{self, Backchannel, Heard, Interruption, Verdict};
use super::keypad::Keypad;
use super::recogniser::{self, Recogniser};
use super::recorder::Recorder;
use super::reply_text::{Filler, ReplyText};
use super::silence::{Lapse, SilenceWatch};
use super::speaker::{Playout, Produced, ReplyJob, Speaker};
use super::tasks::{TaskGuard, maybe};
use super::{
    ChannelFormat, Conversation, InboundFrame, Opening, OutboundEvent, SessionEnd, SessionIo,
    SessionOutcome, SessionPorts, TranscriptLine, VoiceLatency, VoiceSessionConfig,
};
use crate::AudioError;
use crate::frame::{FRAME_MS, Framer};
use crate::pacing::{FRAME_DURATION, FramePacer, MarkTracker};
use crate::vad::{Vad, VadEvent};

/// The caller's utterance being collected.
#[derive(Default)]
struct Utterance {
    finals: Vec<String>,
    /// The recogniser's latest hypothesis of the words after the finals.
    interim: String,
    /// When the caller stopped speaking, as the VAD saw it.
    speech_ended_at: Option<Instant>,
}

/// The reply being produced or played.
struct ActiveReply {
    job: ReplyJob,
    text: Arc<ReplyText>,
    /// `None` once the speaker has handed everything over.
    playout: Option<mpsc::Receiver<Playout>>,
    done: Option<Result<Produced, switchboard_domain::conversation::ConversationError>>,
    /// `None` once cancelled.
    task: Option<TaskGuard<()>>,
    /// End of the caller's speech and the moment the turn was decided (not for openings).
    turn: Option<(Instant, Instant)>,
    first_frame_at: Option<Instant>,
}

/// What woke the loop.
enum Wake {
    Shutdown,
    Inbound(Option<InboundFrame>),
    Recogniser(recogniser::Wake),
    Playout(Option<Playout>),
    FrameDue,
    MarksOverdue,
    JudgeInterruption,
    KeysDue,
    Silence,
}

pub(super) struct Driver {
    config: VoiceSessionConfig,
    tts: Arc<dyn TextToSpeech>,
    engine: ConversationEngine,
    context: CallContext,
    opening: Option<ReplyJob>,
    state: ConversationState,
    io: SessionIo,

    decoded: Vec<i16>,
    vad: Vad,
    vad_framer: Framer<i16>,

    recogniser: Recogniser,

    utterance: Utterance,
    /// Where the VAD's current stretch of caller speech began, while it hears one.
    vad_speaking_since: Option<Instant>,
    backchannel: Backchannel,
    /// Caller speech over the agent, being judged; the agent's audio is paused meanwhile.
    interruption: Option<Interruption>,
    reply: Option<ActiveReply>,
    replies: u64,
    tracker: MarkTracker,
    pacer: FramePacer,
    pending_frame: Option<(Vec<u8>, usize)>,
    /// When the marks of a reply whose audio has all been sent count as heard, echoed or not.
    marks_deadline: Option<Instant>,

    silence: SilenceWatch,
    keypad: Keypad,
    transcript: Vec<TranscriptLine>,
    recorder: Option<Recorder>,
    end: Option<SessionEnd>,
}

/// Resolves when shutdown is signalled; never when the signal's sender is gone without
/// signalling (nobody can ask for shutdown any more).
async fn shutdown_signalled(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn millis(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_millis()).unwrap_or(u64::MAX)
}

impl Driver {
    pub(super) fn new(
        config: VoiceSessionConfig,
        ports: SessionPorts,
        conversation: Conversation,
        io: SessionIo,
    ) -> Result<Self, AudioError> {
        let rate = config.format.sample_rate_hz();
        if config.playout_buffer_frames == 0 || config.stt_buffer_frames == 0 {
            return Err(AudioError::InvalidConfig(
                "session buffers must hold at least one frame".to_owned(),
            ));
        }
        let recogniser = Recogniser::new(
            ports.stt,
            config.stt.clone(),
            rate,
            config.stt_buffer_frames,
        )?;
        let vad = Vad::new(rate, config.vad.clone())?;
        let vad_framer = Framer::new(rate)?;
        let now = Instant::now();
        let recorder = config.record_max.map(|max| Recorder::new(now, rate, max));
        let (state, opening) = match conversation.opening {
            Opening::Greet => (ConversationState::default(), Some(ReplyJob::Open)),
            Opening::Resume { state, say } => (state, say.map(ReplyJob::Say)),
        };
        let backchannel = Backchannel::new(&config.turn_taking.backchannel_words);
        let silence = SilenceWatch::new(&config);
        let keypad = Keypad::new(config.turn_taking.dtmf_timeout);
        Ok(Self {
            config,
            tts: ports.tts,
            engine: conversation.engine,
            context: conversation.context,
            opening,
            state,
            io,
            decoded: Vec::new(),
            vad,
            vad_framer,
            recogniser,
            utterance: Utterance::default(),
            vad_speaking_since: None,
            backchannel,
            interruption: None,
            reply: None,
            replies: 0,
            tracker: MarkTracker::new(),
            pacer: FramePacer::new(now.into_std()),
            pending_frame: None,
            marks_deadline: None,
            silence,
            keypad,
            transcript: Vec::new(),
            recorder,
            end: None,
        })
    }

    fn format(&self) -> ChannelFormat {
        self.config.format
    }

    pub(super) async fn run(mut self) -> SessionOutcome {
        self.recogniser.open();
        match self.opening.take() {
            Some(job) => self.start_reply(job, None),
            None => self.arm_silence(),
        }
        while self.end.is_none() {
            let wake = self.next_wake().await;
            self.handle(wake).await;
        }
        self.finish().await
    }

    async fn next_wake(&mut self) -> Wake {
        // While an interruption is judged, the agent's audio waits: no frame, no playout item.
        let paused = self.interruption.is_some();
        let frame_due = self
            .pending_frame
            .as_ref()
            .filter(|_| !paused)
            .map(|_| sleep_until(Instant::from_std(self.pacer.next_deadline())));
        // Silence counts while neither side speaks (nor keys in an entry).
        let silence = match (&self.reply, self.silence.deadline()) {
            (None, Some(deadline))
                if self.vad_speaking_since.is_none() && self.keypad.deadline().is_none() =>
            {
                Some(sleep_until(deadline))
            }
            _ => None,
        };
        let playout = match (&mut self.reply, &self.pending_frame) {
            (Some(reply), None) if !paused => reply.playout.as_mut().map(mpsc::Receiver::recv),
            _ => None,
        };
        let judge = self
            .interruption
            .as_ref()
            .map(|pending| sleep_until(pending.next_check(&self.config.turn_taking)));
        tokio::select! {
            biased;
            () = shutdown_signalled(&mut self.io.shutdown) => Wake::Shutdown,
            frame = self.io.inbound.recv() => Wake::Inbound(frame),
            wake = self.recogniser.next() => Wake::Recogniser(wake),
            () = maybe(frame_due) => Wake::FrameDue,
            item = maybe(playout) => Wake::Playout(item),
            () = maybe(self.marks_deadline.filter(|_| !paused).map(sleep_until)) => Wake::MarksOverdue,
            () = maybe(judge) => Wake::JudgeInterruption,
            () = maybe(self.keypad.deadline().map(sleep_until)) => Wake::KeysDue,
            () = maybe(silence) => Wake::Silence,
        }
    }

    async fn handle(&mut self, wake: Wake) {
        match wake {
            Wake::Shutdown => self.end = Some(SessionEnd::Shutdown),
            Wake::Inbound(None | Some(InboundFrame::Hangup)) => self.end = Some(SessionEnd::Hangup),
            Wake::Inbound(Some(InboundFrame::Audio(bytes))) => self.on_audio(&bytes).await,
            Wake::Inbound(Some(InboundFrame::Mark(name))) => {
                self.tracker.acknowledge(&name);
                self.settle_if_played().await;
            }
            Wake::Inbound(Some(InboundFrame::Dtmf(key))) => self.on_key(key).await,
            Wake::Recogniser(wake) => {
                if let Some(event) = self.recogniser.handle(wake) {
                    self.on_stt(event).await;
                }
            }
            Wake::Playout(item) => self.on_playout(item).await,
            Wake::FrameDue => self.send_frame().await,
            Wake::MarksOverdue => {
                self.count_marks_heard();
                self.settle_if_played().await;
            }
            Wake::JudgeInterruption => self.judge_interruption(false).await,
            Wake::KeysDue => {
                if let Some(keys) = self.keypad.take() {
                    self.answer_keys(keys).await;
                }
            }
            Wake::Silence => self.on_silence(),
        }
    }

    // ---- output and the end ---------------------------------------------------------------

    /// The agent is quiet from now: the silence pause starts.
    fn arm_silence(&mut self) {
        self.silence.restart(Instant::now());
    }

    /// Neither side spoke for the pause: check in, or say goodbye and end the call.
    fn on_silence(&mut self) {
        match self.silence.lapse() {
            Lapse::CheckIn(line) => self.start_reply(
                ReplyJob::Line {
                    text: line,
                    then_hang_up: false,
                },
                None,
            ),
            Lapse::Goodbye(line) if line.trim().is_empty() => {
                self.end = Some(SessionEnd::SilenceTimeout);
            }
            Lapse::Goodbye(line) => {
                tracing::info!("the caller stayed silent; ending the call");
                self.start_reply(
                    ReplyJob::Line {
                        text: line,
                        then_hang_up: true,
                    },
                    None,
                );
            }
        }
    }

    async fn emit_line(&mut self, line: TranscriptLine) {
        self.transcript.push(line.clone());
        self.emit(OutboundEvent::Text(line)).await;
    }

    async fn emit(&mut self, event: OutboundEvent) {
        if self.io.outbound.send(event).await.is_err() && self.end.is_none() {
            // Nobody is listening any more: the channel is gone.
            self.end = Some(SessionEnd::Hangup);
        }
    }

    async fn finish(mut self) -> SessionOutcome {
        if let Some(mut reply) = self.reply.take() {
            reply.task = None;
            self.pending_frame = None;
            let played_all = reply.done.is_some()
                && reply.playout.is_none()
                && self.tracker.pending_marks().next().is_none();
            if !played_all {
                self.cut_reply(reply, true).await;
            }
        }
        self.recogniser.close().await;
        let end = self.end.clone().unwrap_or(SessionEnd::Hangup);
        let _ = self
            .io
            .outbound
            .send(OutboundEvent::Ended(end.clone()))
            .await;
        let recording = self.recorder.as_ref().and_then(Recorder::wav);
        SessionOutcome {
            end,
            state: self.state,
            transcript: self.transcript,
            recording,
        }
    }
}
