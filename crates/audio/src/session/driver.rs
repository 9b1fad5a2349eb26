//! The session's main loop: one task that owns the call's state and waits, with
//! `tokio::select!`, on shutdown, inbound frames, speech-to-text, the reply being spoken, the
//! next frame's deadline and its timers. Work that may block (opening a speech-to-text stream,
//! feeding it audio, producing a reply) runs in tasks this loop owns through [`TaskGuard`]s, so
//! none outlives it.

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
use super::silence::{Lapse, SilenceWatch};
use super::speaker::{Filler, Playout, Produced, ReplyJob, ReplyText, Speaker};
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

    // ---- the caller ------------------------------------------------------------------------

    async fn on_audio(&mut self, bytes: &[u8]) {
        let now = Instant::now();
        self.decoded.clear();
        if let Err(error) = self.format().decode_into(bytes, &mut self.decoded) {
            tracing::warn!(%error, "dropping an undecodable inbound frame");
            return;
        }
        if let Some(recorder) = &mut self.recorder {
            recorder.add(true, &self.decoded, now);
        }
        let mut events = Vec::new();
        let vad = &mut self.vad;
        self.vad_framer
            .push_each(&self.decoded, |frame| match vad.push_i16(frame) {
                Ok(Some(event)) => events.push((event, vad.frames_seen())),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "voice activity detection failed"),
            });
        // The frame goes to the recogniser first, so a finalize asked for below covers it.
        self.recogniser.feed(&self.decoded);
        for (event, frames_seen) in events {
            // Events name the frame the change happened at; place it in time.
            let at = |frame: u64| {
                now - Duration::from_millis(
                    frames_seen
                        .saturating_sub(frame)
                        .saturating_mul(u64::from(FRAME_MS)),
                )
            };
            match event {
                VadEvent::SpeechStarted { frame } => {
                    let started = at(frame);
                    self.vad_speaking_since = Some(started);
                    if let Some(pending) = &mut self.interruption {
                        pending.speech_started(started);
                    }
                    self.on_caller_speech().await;
                }
                VadEvent::SpeechEnded { frame } => {
                    let ended = at(frame);
                    self.vad_speaking_since = None;
                    if let Some(pending) = &mut self.interruption {
                        pending.speech_ended(ended);
                    }
                    self.utterance.speech_ended_at = Some(ended);
                    self.silence.restart(ended);
                    self.recogniser.finalize();
                    if self.utterance.finals.is_empty() {
                        self.judge_interruption(true).await;
                    } else {
                        self.end_turn().await;
                    }
                }
            }
        }
    }

    async fn on_stt(&mut self, event: SttEvent) {
        match event {
            SttEvent::SpeechStarted => self.on_caller_speech().await,
            SttEvent::Interim { text } => {
                let text = text.trim();
                if !text.is_empty() {
                    text.clone_into(&mut self.utterance.interim);
                    self.on_caller_words().await;
                }
            }
            SttEvent::Final { text, speech_final } => {
                let text = text.trim();
                if !text.is_empty() {
                    // The final settles the words the interim guessed at.
                    self.utterance.interim.clear();
                    self.utterance.finals.push(text.to_owned());
                    self.on_caller_words().await;
                }
                if speech_final {
                    self.end_turn().await;
                }
            }
            SttEvent::UtteranceEnd => self.end_turn().await,
        }
    }

    /// The words of the utterance so far: its finals and the latest interim after them.
    fn utterance_words(&self) -> Vec<String> {
        let mut words: Vec<String> = self
            .utterance
            .finals
            .iter()
            .flat_map(|text| interruption::words(text))
            .collect();
        words.extend(interruption::words(&self.utterance.interim));
        words
    }

    /// The recogniser heard words. Backchannel words alone do not begin an interruption: the
    /// caller is listening, not taking the turn.
    async fn on_caller_words(&mut self) {
        if self.interruption.is_none()
            && self.agent_talking()
            && self.backchannel.covers(&self.utterance_words())
        {
            self.silence.caller_heard(Instant::now());
            return;
        }
        self.on_caller_speech().await;
    }

    /// The caller is speaking: while the agent talks, that may be an interruption. The agent's
    /// audio pauses while it is judged.
    async fn on_caller_speech(&mut self) {
        self.silence.caller_heard(Instant::now());
        if self.agent_talking() && self.interruption.is_none() {
            self.interruption = Some(Interruption::begin(Instant::now(), self.vad_speaking_since));
            // The audio will not play while paused: its marks cannot be overdue.
            self.marks_deadline = None;
        }
        self.judge_interruption(false).await;
    }

    /// Judges the interruption being considered, if any, as of now; `over` says the caller's
    /// utterance has ended.
    async fn judge_interruption(&mut self, over: bool) {
        let Some(pending) = &self.interruption else {
            return;
        };
        let words = self.utterance_words();
        let heard = Heard {
            words: &words,
            over,
        };
        match pending.judge(
            &self.config.turn_taking,
            &self.backchannel,
            heard,
            Instant::now(),
        ) {
            Verdict::Wait => {}
            Verdict::Confirm => self.barge_in().await,
            Verdict::Resume => self.resume().await,
        }
    }

    /// The interruption was false: play on from where the audio paused.
    async fn resume(&mut self) {
        if self.interruption.take().is_none() {
            return;
        }
        tracing::debug!("not an interruption; the agent plays on");
        // A new paced stream from the held frame, rather than a burst to catch up.
        self.pacer.restart(Instant::now().into_std());
        self.settle_if_played().await;
    }

    /// The caller finished an utterance: answer it. Said over the agent, it is answered only if
    /// it interrupts (see the module documentation); else it is kept in the transcript alone.
    async fn end_turn(&mut self) {
        let decided_at = Instant::now();
        if self.utterance.finals.is_empty() {
            // Nothing settled yet: the recogniser's words may still come.
            self.judge_interruption(true).await;
            return;
        }
        if self.agent_talking() {
            let spoke = self
                .interruption
                .as_ref()
                .map_or(Duration::ZERO, |pending| pending.spoke_for(decided_at));
            let words = self.utterance_words();
            let heard = Heard {
                words: &words,
                over: true,
            };
            let verdict = interruption::judge_words(
                &self.config.turn_taking,
                &self.backchannel,
                heard,
                spoke,
            );
            if verdict != Verdict::Confirm {
                let utterance = std::mem::take(&mut self.utterance);
                self.emit_line(TranscriptLine {
                    speaker: Who::Customer,
                    text: utterance.finals.join(" "),
                    interrupted: false,
                    latency: None,
                })
                .await;
                self.resume().await;
                return;
            }
        }
        self.take_turn_from_agent().await;
        if self.end.is_some() {
            return;
        }
        let utterance = std::mem::take(&mut self.utterance);
        let text = utterance.finals.join(" ");
        self.emit_line(TranscriptLine {
            speaker: Who::Customer,
            text: text.clone(),
            interrupted: false,
            latency: None,
        })
        .await;
        let ended_at = utterance.speech_ended_at.unwrap_or(decided_at);
        self.start_reply(ReplyJob::Answer(text), Some((ended_at, decided_at)));
    }

    /// Whether the agent is talking, or about to: a reply is under way and its audio has not
    /// finished playing (by the pacing clock). A reply that has played and only waits for its
    /// marks is over as far as the caller can tell, so what they say then is a turn of their
    /// own, not an interruption ("Yes." right after the agent's question is an answer).
    fn agent_talking(&self) -> bool {
        let Some(reply) = &self.reply else {
            return false;
        };
        let sent_all =
            reply.done.is_some() && reply.playout.is_none() && self.pending_frame.is_none();
        !(sent_all && Instant::now() >= Instant::from_std(self.pacer.next_deadline()))
    }

    /// The caller takes the turn: a reply still talking is cut; one that has played settles as
    /// heard, its late marks and all.
    async fn take_turn_from_agent(&mut self) {
        if self.reply.is_none() {
            return;
        }
        if self.agent_talking() {
            self.barge_in().await;
        } else {
            self.count_marks_heard();
            self.settle_if_played().await;
        }
    }

    /// Takes every mark not yet echoed as heard.
    fn count_marks_heard(&mut self) {
        self.marks_deadline = None;
        let last = self.tracker.pending_marks().last().map(|m| m.name.clone());
        if let Some(name) = last {
            tracing::debug!(mark = %name, "counting marks not echoed as heard");
            self.tracker.acknowledge(&name);
        }
    }

    /// The caller pressed a key. (Which one is not logged: entries may be PINs.)
    async fn on_key(&mut self, key: char) {
        tracing::debug!("the caller pressed a key");
        self.silence.caller_heard(Instant::now());
        // Pressing a key is deliberate: it interrupts the agent at once.
        self.take_turn_from_agent().await;
        if let Some(keys) = self.keypad.press(key, Instant::now()) {
            self.answer_keys(keys).await;
        }
    }

    /// The caller finished a keypad entry: answer it as their turn.
    async fn answer_keys(&mut self, keys: String) {
        let now = Instant::now();
        self.take_turn_from_agent().await;
        if self.end.is_some() {
            return;
        }
        self.emit_line(TranscriptLine {
            speaker: Who::Customer,
            text: keypad_text(&keys),
            interrupted: false,
            latency: None,
        })
        .await;
        self.start_reply(ReplyJob::Keys(keys), Some((now, now)));
    }

    // ---- replies --------------------------------------------------------------------------

    fn start_reply(&mut self, job: ReplyJob, turn: Option<(Instant, Instant)>) {
        self.replies += 1;
        self.tracker.reset();
        self.marks_deadline = None;
        let text = Arc::new(ReplyText::new(self.config.min_sentence_chars));
        let (playout_tx, playout) = mpsc::channel(self.config.playout_buffer_frames);
        let speaker = Speaker {
            engine: self.engine.clone(),
            context: self.context.clone(),
            state: self.state.clone(),
            tts: Arc::clone(&self.tts),
            speech: SpeechRequest {
                text: String::new(),
                voice: self.config.voice.clone(),
                speed: self.config.speed,
                sample_rate_hz: self.format().sample_rate_hz(),
                language: self.config.stt.language.clone(),
            },
            format: self.format(),
            reply_number: self.replies,
            text: Arc::clone(&text),
            playout: playout_tx,
            filler: self.filler_for(&job),
        };
        let task = TaskGuard::spawn(speaker.run(job.clone()));
        self.reply = Some(ActiveReply {
            job,
            text,
            playout: Some(playout),
            done: None,
            task: Some(task),
            turn,
            first_frame_at: None,
        });
    }

    /// The filler for a reply the engine produces (fixed lines call no tools).
    fn filler_for(&self, job: &ReplyJob) -> Option<Filler> {
        let rules = &self.config.turn_taking;
        match job {
            ReplyJob::Open | ReplyJob::Answer(_) | ReplyJob::Keys(_) => {
                rules.filler_after.map(|after| Filler {
                    after,
                    line: rules.filler_line.clone(),
                })
            }
            ReplyJob::Say(_) | ReplyJob::Line { .. } => None,
        }
    }

    async fn on_playout(&mut self, item: Option<Playout>) {
        let Some(reply) = &mut self.reply else {
            return;
        };
        match item {
            Some(Playout::Frame(bytes, samples)) => {
                let now = Instant::now().into_std();
                // After an idle gap (or a slow synthesiser) start a new paced stream instead of
                // catching up with a burst.
                if now > self.pacer.next_deadline() + FRAME_DURATION {
                    self.pacer.restart(now);
                }
                self.pending_frame = Some((bytes, samples));
            }
            Some(Playout::Mark { name, text_offset }) => {
                self.tracker.place_mark(name.clone(), text_offset);
                self.emit(OutboundEvent::Mark(name)).await;
            }
            Some(Playout::AgentText(text)) => self.emit(OutboundEvent::AgentText(text)).await,
            Some(Playout::Done(result)) => {
                reply.done = Some(result);
                reply.playout = None;
                self.settle_if_played().await;
            }
            None => {
                // The speaker ended without finishing; treat what it produced as the reply.
                reply.playout = None;
                reply.done = Some(Err(
                    anyhow::anyhow!("the reply task ended unexpectedly").into()
                ));
                self.settle_if_played().await;
            }
        }
    }

    async fn send_frame(&mut self) {
        let Some((bytes, samples)) = self.pending_frame.take() else {
            return;
        };
        let now = Instant::now();
        if let Some(recorder) = &mut self.recorder {
            let mut decoded = Vec::with_capacity(samples);
            if self.config.format.decode_into(&bytes, &mut decoded).is_ok() {
                recorder.add(false, &decoded, now);
            }
        }
        self.pacer.advance(1);
        self.tracker.record_audio(samples);
        if let Some(reply) = &mut self.reply {
            reply.first_frame_at.get_or_insert(now);
        }
        self.emit(OutboundEvent::Audio(bytes)).await;
    }

    /// Settles the reply once it is complete and every mark has come back: all of it was heard.
    /// Once everything is sent, marks not echoed within the grace period count as heard.
    async fn settle_if_played(&mut self) {
        let sent_all = self.reply.as_ref().is_some_and(|reply| {
            reply.done.is_some() && reply.playout.is_none() && self.pending_frame.is_none()
        });
        if !sent_all {
            return;
        }
        if self.tracker.pending_marks().next().is_some() {
            if self.marks_deadline.is_none() && self.interruption.is_none() {
                // The audio sent so far has played by the pacer's next deadline (it paces in
                // real time); a reply without audio is due at once.
                let played_by = Instant::from_std(self.pacer.next_deadline()).max(Instant::now());
                self.marks_deadline = Some(played_by + self.config.mark_grace);
            }
            return;
        }
        self.marks_deadline = None;
        let Some(reply) = self.reply.take() else {
            return;
        };
        // Every mark came back: the caller heard it all, whatever they said over its end.
        self.interruption = None;
        let latency = self.latency_of(&reply);
        let spoken = reply.text.spoken();
        match reply.done {
            Some(Ok(Produced { state, reply: done })) => {
                if let Some(state) = state {
                    self.state = state;
                }
                if !done.text.is_empty() {
                    self.emit_line(TranscriptLine {
                        speaker: Who::Agent,
                        text: done.text.clone(),
                        interrupted: false,
                        latency,
                    })
                    .await;
                }
                if done.should_end_call {
                    self.end = Some(SessionEnd::Agent(
                        done.end_reason.unwrap_or(EndReason::AgentEnded),
                    ));
                }
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "the conversation could not answer");
                let heard = spoken.trim().to_owned();
                self.keep_partial(&reply.job, &heard);
                if !heard.is_empty() {
                    self.emit_line(TranscriptLine {
                        speaker: Who::Agent,
                        text: heard,
                        interrupted: false,
                        latency,
                    })
                    .await;
                }
                if matches!(reply.job, ReplyJob::Open) {
                    self.end = Some(SessionEnd::Failed(error.to_string()));
                }
            }
            None => {}
        }
        if matches!(
            reply.job,
            ReplyJob::Line {
                then_hang_up: true,
                ..
            }
        ) {
            self.end.get_or_insert(SessionEnd::SilenceTimeout);
        }
        self.arm_silence();
    }

    /// The caller spoke over the agent: stop the reply, clear the queued audio, and keep in the
    /// history only the sentences whose marks came back.
    async fn barge_in(&mut self) {
        self.interruption = None;
        let Some(mut reply) = self.reply.take() else {
            return;
        };
        // Dropping the task drops the model and synthesis streams, cancelling both.
        reply.task = None;
        self.pending_frame = None;
        self.marks_deadline = None;
        self.emit(OutboundEvent::Clear).await;
        self.cut_reply(reply, true).await;
    }

    /// Keeps the heard part of a reply that will not be played to the end.
    async fn cut_reply(&mut self, reply: ActiveReply, interrupted: bool) {
        let heard_mark = self.tracker.clear();
        let spoken = reply.text.spoken();
        let heard = heard_mark.text(&spoken).trim().to_owned();
        let latency = self.latency_of(&reply);
        match &reply.done {
            Some(Ok(Produced {
                state: Some(state), ..
            })) => {
                let mut state = state.clone();
                trim_last_reply(&mut state, &heard);
                self.state = state;
            }
            _ => self.keep_partial(&reply.job, &heard),
        }
        if !heard.is_empty() {
            self.emit_line(TranscriptLine {
                speaker: Who::Agent,
                text: heard,
                interrupted,
                latency,
            })
            .await;
        }
    }

    /// The history after a reply the engine did not finish: the caller's words (for an answer)
    /// and the heard part of the reply.
    fn keep_partial(&mut self, job: &ReplyJob, heard: &str) {
        match job {
            ReplyJob::Answer(utterance) => {
                self.state.caller_turns += 1;
                self.state
                    .messages
                    .push(ChatMessage::text(ChatRole::User, utterance.clone()));
            }
            ReplyJob::Keys(keys) => {
                self.state.caller_turns += 1;
                self.state
                    .messages
                    .push(ChatMessage::text(ChatRole::User, keypad_text(keys)));
            }
            // A resumed opening is in the state already; cut it to what was heard.
            ReplyJob::Say(_) => {
                trim_last_reply(&mut self.state, heard);
                return;
            }
            ReplyJob::Open => {}
            // The session's own lines are not part of the conversation.
            ReplyJob::Line { .. } => return,
        }
        if !heard.is_empty() {
            self.state
                .messages
                .push(ChatMessage::text(ChatRole::Assistant, heard.to_owned()));
        }
    }

    fn latency_of(&self, reply: &ActiveReply) -> Option<VoiceLatency> {
        let (ended_at, decided_at) = reply.turn?;
        Some(VoiceLatency {
            final_transcript_ms: millis(ended_at, decided_at),
            first_token_ms: reply.text.first_token_at().map(|at| millis(ended_at, at)),
            first_audio_ms: reply.text.first_audio_at().map(|at| millis(ended_at, at)),
            first_frame_ms: reply.first_frame_at.map(|at| millis(ended_at, at)),
        })
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

/// Cuts the last assistant message to `heard`, or removes it when nothing was heard.
fn trim_last_reply(state: &mut ConversationState, heard: &str) {
    let Some(position) = state
        .messages
        .iter()
        .rposition(|message| message.role == ChatRole::Assistant)
    else {
        return;
    };
    if state.messages[position + 1..]
        .iter()
        .any(|message| message.role == ChatRole::User)
    {
        return;
    }
    if heard.is_empty() {
        state.messages.remove(position);
    } else {
        state.messages[position].content = Some(heard.to_owned());
    }
}
