//! The agent's replies: starting one, pacing its frames and marks out, settling it once heard,
//! and cutting it when the caller takes the turn, keeping in the history what was heard.

use super::*;

impl Driver {
    pub(super) fn start_reply(&mut self, job: ReplyJob, turn: Option<(Instant, Instant)>) {
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
    pub(super) fn filler_for(&self, job: &ReplyJob) -> Option<Filler> {
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

    pub(super) async fn on_playout(&mut self, item: Option<Playout>) {
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

    pub(super) async fn send_frame(&mut self) {
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
    pub(super) async fn settle_if_played(&mut self) {
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
    pub(super) async fn barge_in(&mut self) {
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
    pub(super) async fn cut_reply(&mut self, reply: ActiveReply, interrupted: bool) {
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
    pub(super) fn keep_partial(&mut self, job: &ReplyJob, heard: &str) {
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

    pub(super) fn latency_of(&self, reply: &ActiveReply) -> Option<VoiceLatency> {
        let (ended_at, decided_at) = reply.turn?;
        Some(VoiceLatency {
            final_transcript_ms: millis(ended_at, decided_at),
            first_token_ms: reply.text.first_token_at().map(|at| millis(ended_at, at)),
            first_audio_ms: reply.text.first_audio_at().map(|at| millis(ended_at, at)),
            first_frame_ms: reply.first_frame_at.map(|at| millis(ended_at, at)),
        })
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
