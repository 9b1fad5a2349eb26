//! What the caller does: audio (to the recogniser and the VAD), the recogniser's words, the
//! judging of interruptions, the end of an utterance, and keys pressed on the keypad.

use super::*;

impl Driver {
    pub(super) async fn on_audio(&mut self, bytes: &[u8]) {
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
                    // Speech again: an end heard before (possibly after the recogniser had
                    // already closed the last turn) is not where this utterance ends.
                    self.utterance.speech_ended_at = None;
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

    pub(super) async fn on_stt(&mut self, event: SttEvent) {
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
    pub(super) fn utterance_words(&self) -> Vec<String> {
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
    pub(super) async fn on_caller_words(&mut self) {
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
    pub(super) async fn on_caller_speech(&mut self) {
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
    pub(super) async fn judge_interruption(&mut self, over: bool) {
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
            Verdict::Confirm => self.take_turn_from_agent().await,
            Verdict::Resume => self.resume().await,
        }
    }

    /// The interruption was false: play on from where the audio paused.
    pub(super) async fn resume(&mut self) {
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
    pub(super) async fn end_turn(&mut self) {
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
    pub(super) fn agent_talking(&self) -> bool {
        let Some(reply) = &self.reply else {
            return false;
        };
        let sent_all =
            reply.done.is_some() && reply.playout.is_none() && self.pending_frame.is_none();
        !(sent_all && Instant::now() >= Instant::from_std(self.pacer.next_deadline()))
    }

    /// The caller takes the turn: a reply still talking is cut; one that has played settles as
    /// heard, its late marks and all.
    pub(super) async fn take_turn_from_agent(&mut self) {
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
    pub(super) fn count_marks_heard(&mut self) {
        self.marks_deadline = None;
        let last = self.tracker.pending_marks().last().map(|m| m.name.clone());
        if let Some(name) = last {
            tracing::debug!(mark = %name, "counting marks not echoed as heard");
            self.tracker.acknowledge(&name);
        }
    }

    /// The caller pressed a key. (Which one is not logged: entries may be PINs.)
    pub(super) async fn on_key(&mut self, key: char) {
        tracing::debug!("the caller pressed a key");
        self.silence.caller_heard(Instant::now());
        // Pressing a key is deliberate: it interrupts the agent at once.
        self.take_turn_from_agent().await;
        if let Some(keys) = self.keypad.press(key, Instant::now()) {
            self.answer_keys(keys).await;
        }
    }

    /// The caller finished a keypad entry: answer it as their turn.
    pub(super) async fn answer_keys(&mut self, keys: String) {
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
}
