//! One reply being spoken: the conversation engine writes its text, the sentence chunker cuts it,
//! each sentence is synthesised, resampled and encoded into 20 ms channel frames, and a mark
//! follows each sentence. Everything goes to the session's driver through one bounded channel,
//! in playing order, so the driver paces frames and marks stay behind the audio they follow.
//!
//! The driver cancels a reply by dropping its task: the model stream and the synthesis stream
//! are dropped with it, which cancels them at the providers.
//!
//! While the engine waits on a tool, nothing is said; if that silence lasts long enough, the
//! speaker slips a short filler line into the queue of sentences, once per reply. The filler is
//! heard but is not part of the reply's text: its mark does not advance what counts as heard,
//! and it is not kept in the conversation history.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt as _;
use switchboard_domain::conversation::{
    CallContext, ConversationEngine, ConversationError, ConversationState, Reply, ReplyEvent,
};
use switchboard_domain::ports::{AudioStream, SpeechRequest, TextToSpeech};
use tokio::sync::{Notify, mpsc};
use tokio::time::{Duration, Instant, sleep_until};

use super::ChannelFormat;
use crate::chunker::{Sentence, SentenceChunker};
use crate::frame::Framer;
use crate::pcm::{f32_sample_to_i16, i16_sample_to_f32};
use crate::resample::StreamResampler;

/// The most text one reply may stream, in bytes: about an hour of speech. The engine's own
/// limits bound a reply well below this (each of its model rounds by the agent's `max_tokens`,
/// flow lines by the flow's text limits); this cap holds whatever the engine does.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// What produces a reply's text.
#[derive(Debug, Clone)]
pub(super) enum ReplyJob {
    /// The engine's opening of the call.
    Open,
    /// Fixed text, already in the conversation state.
    Say(String),
    /// A line of the session's own (a silence check-in, a goodbye), kept out of the
    /// conversation state; `then_hang_up` ends the call once it has been heard.
    Line { text: String, then_hang_up: bool },
    /// The engine's answer to the caller's utterance.
    Answer(String),
    /// The engine's answer to keys the caller entered on the keypad.
    Keys(String),
}

/// What the speaker hands the driver, in playing order.
pub(super) enum Playout {
    /// One frame in the channel's format, and its number of samples.
    Frame(Vec<u8>, usize),
    /// A mark after a sentence; `text_offset` is where the sentence ends in the spoken text.
    Mark { name: String, text_offset: usize },
    /// A sentence that could not be synthesised.
    AgentText(String),
    /// The reply is complete and all of it has been handed over.
    Done(Result<Produced, ConversationError>),
}

/// The engine's result for a reply.
pub(super) struct Produced {
    /// The conversation state after the reply, when the engine produced one.
    pub(super) state: Option<ConversationState>,
    pub(super) reply: Reply,
}

/// The text of a reply as it streams, shared between the engine's token sink (which writes it)
/// and the synthesis loop (which reads sentences), plus the moments latency is measured at.
///
/// The lock is `std`'s: it is held for a few string operations and never across an await, and
/// the token sink that takes it is a plain synchronous callback.
#[derive(Default)]
pub(super) struct ReplyText {
    inner: Mutex<ReplyInner>,
    /// A sentence was queued, or the text finished.
    ready: Notify,
    /// A token came, a tool started or finished, or the text finished: the filler's wait
    /// changes.
    activity: Notify,
}

#[derive(Default)]
struct ReplyInner {
    /// Everything the engine streamed; mark offsets index into it.
    spoken: String,
    chunker: SentenceChunker,
    /// Sentences complete and not yet taken for synthesis. The engine's token sink is
    /// synchronous and cannot wait for room, so this is not a bounded channel; the queue is
    /// bounded instead by the text behind it, which `push_token` caps at [`MAX_REPLY_BYTES`].
    sentences: VecDeque<Sentence>,
    finished: bool,
    /// Text was dropped for exceeding [`MAX_REPLY_BYTES`].
    truncated: bool,
    /// Where the chunker's offsets start in `spoken`: it restarts at each tool call.
    chunk_base: usize,
    /// Where the last queued sentence ends in `spoken`.
    queued_end: usize,
    /// Tool calls running now.
    tools_running: u32,
    /// The last token or tool start: the filler counts its wait from there.
    quiet_since: Option<Instant>,
    filler_said: bool,
    first_token_at: Option<Instant>,
    first_audio_at: Option<Instant>,
}

impl ReplyText {
    pub(super) fn new(min_sentence_chars: usize) -> Self {
        Self {
            inner: Mutex::new(ReplyInner {
                chunker: SentenceChunker::with_min_chars(min_sentence_chars),
                ..ReplyInner::default()
            }),
            ready: Notify::new(),
            activity: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReplyInner> {
        // A panic while holding the lock leaves plain data behind, still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push_token(&self, token: &str) {
        let mut inner = self.lock();
        if inner.first_token_at.is_none() && !token.trim().is_empty() {
            inner.first_token_at = Some(Instant::now());
        }
        if inner.spoken.len().saturating_add(token.len()) > MAX_REPLY_BYTES {
            if !inner.truncated {
                inner.truncated = true;
                tracing::warn!(
                    reply.max_bytes = MAX_REPLY_BYTES,
                    "the reply is too long to speak; dropping the rest"
                );
            }
            return;
        }
        inner.spoken.push_str(token);
        inner.quiet_since = Some(Instant::now());
        let sentences = inner.chunker.push(token);
        for sentence in sentences {
            inner.queue(sentence);
        }
        drop(inner);
        self.ready.notify_one();
        self.activity.notify_one();
    }

    fn tool_started(&self) {
        let mut inner = self.lock();
        inner.tools_running += 1;
        inner.quiet_since = Some(Instant::now());
        // The text before a tool call is complete: speak it now rather than after the call
        // (and after a filler).
        if let Some(last) = inner.chunker.flush() {
            inner.queue(last);
        }
        inner.chunk_base = inner.spoken.len();
        drop(inner);
        self.ready.notify_one();
        self.activity.notify_one();
    }

    fn tool_finished(&self) {
        let mut inner = self.lock();
        inner.tools_running = inner.tools_running.saturating_sub(1);
        drop(inner);
        self.activity.notify_one();
    }

    fn finish(&self) {
        let mut inner = self.lock();
        if let Some(last) = inner.chunker.flush() {
            inner.queue(last);
        }
        inner.finished = true;
        drop(inner);
        self.ready.notify_one();
        self.activity.notify_one();
    }

    /// When the filler is due, if it may be said at all.
    fn filler_due(&self, after: Duration) -> FillerDue {
        let inner = self.lock();
        if inner.finished || inner.filler_said {
            return FillerDue::Never;
        }
        match (inner.tools_running, inner.quiet_since) {
            (0, _) | (_, None) => FillerDue::NotNow,
            (_, Some(since)) => FillerDue::At(since + after),
        }
    }

    /// Queues the filler line if a tool still runs and nothing was said for `after`; returns
    /// whether it did.
    fn say_filler(&self, after: Duration, line: &str) -> bool {
        let mut inner = self.lock();
        let due = inner.tools_running > 0
            && !inner.finished
            && !inner.filler_said
            && inner
                .quiet_since
                .is_some_and(|since| Instant::now() >= since + after);
        if !due {
            return false;
        }
        inner.filler_said = true;
        // Its mark ends where the text queued so far ends, so the filler never counts as part
        // of the reply that was heard.
        let end = inner.queued_end;
        inner.sentences.push_back(Sentence {
            text: line.to_owned(),
            end,
        });
        drop(inner);
        self.ready.notify_one();
        true
    }

    /// The next sentence, or `None` once the text is finished and every sentence taken.
    async fn next_sentence(&self) -> Option<Sentence> {
        loop {
            let notified = self.ready.notified();
            {
                let mut inner = self.lock();
                if let Some(sentence) = inner.sentences.pop_front() {
                    return Some(sentence);
                }
                if inner.finished {
                    return None;
                }
            }
            notified.await;
        }
    }

    fn note_first_audio(&self) {
        self.lock().first_audio_at.get_or_insert_with(Instant::now);
    }

    /// The text streamed so far.
    pub(super) fn spoken(&self) -> String {
        self.lock().spoken.clone()
    }

    pub(super) fn first_token_at(&self) -> Option<Instant> {
        self.lock().first_token_at
    }

    pub(super) fn first_audio_at(&self) -> Option<Instant> {
        self.lock().first_audio_at
    }
}

impl ReplyInner {
    /// Queues a sentence from the chunker, placing it in the whole spoken text.
    fn queue(&mut self, mut sentence: Sentence) {
        sentence.end += self.chunk_base;
        self.queued_end = sentence.end;
        self.sentences.push_back(sentence);
    }
}

/// Whether and when the filler line is due.
enum FillerDue {
    /// The reply is over, or the filler was said.
    Never,
    /// No tool runs: nothing to fill.
    NotNow,
    At(Instant),
}

/// A short line to say when a tool call keeps the caller waiting.
#[derive(Debug, Clone)]
pub(super) struct Filler {
    /// Silence, while a tool runs, before the line is said.
    pub(super) after: Duration,
    pub(super) line: String,
}

/// Says the filler line, at most once, when a tool call has left the reply silent for
/// `filler.after`; ends with the reply's text.
async fn offer_filler(text: &ReplyText, filler: &Filler) {
    loop {
        // Registered before the state is read, so a change in between is not missed.
        let changed = text.activity.notified();
        match text.filler_due(filler.after) {
            FillerDue::Never => return,
            FillerDue::NotNow => changed.await,
            FillerDue::At(at) => {
                tokio::select! {
                    () = sleep_until(at) => {
                        if text.say_filler(filler.after, &filler.line) {
                            return;
                        }
                    }
                    () = changed => {}
                }
            }
        }
    }
}

/// Everything a speaker task needs.
pub(super) struct Speaker {
    pub(super) engine: ConversationEngine,
    pub(super) context: CallContext,
    /// The state before the reply; the task works on its own copy.
    pub(super) state: ConversationState,
    pub(super) tts: Arc<dyn TextToSpeech>,
    /// Voice, pace, rate and language; the text is filled in per sentence.
    pub(super) speech: SpeechRequest,
    pub(super) format: ChannelFormat,
    /// Distinguishes this reply's marks from those of earlier replies.
    pub(super) reply_number: u64,
    pub(super) text: Arc<ReplyText>,
    pub(super) playout: mpsc::Sender<Playout>,
    /// The line to fill a long tool call with, if any.
    pub(super) filler: Option<Filler>,
}

/// The playout channel closed: the driver dropped the reply.
struct Dropped;

impl Speaker {
    /// Produces and speaks the reply; ends early when the driver stops listening.
    pub(super) async fn run(self, job: ReplyJob) {
        let Self {
            engine,
            context,
            mut state,
            tts,
            speech,
            format,
            reply_number,
            text,
            playout,
            filler,
        } = self;
        let produce =
            async {
                let sink_text = Arc::clone(&text);
                let mut sink = move |event: ReplyEvent<'_>| match event {
                    ReplyEvent::Token(token) => sink_text.push_token(token),
                    ReplyEvent::ToolStarted { .. } => sink_text.tool_started(),
                    ReplyEvent::ToolFinished { .. } => sink_text.tool_finished(),
                };
                let result =
                    match job {
                        ReplyJob::Open => engine.open_streamed(&context, &mut sink).await.map(
                            |(opened, reply)| Produced {
                                state: Some(opened),
                                reply,
                            },
                        ),
                        ReplyJob::Say(said) | ReplyJob::Line { text: said, .. } => {
                            text.push_token(&said);
                            Ok(Produced {
                                state: None,
                                reply: Reply {
                                    text: said,
                                    ..Reply::default()
                                },
                            })
                        }
                        ReplyJob::Answer(utterance) => engine
                            .respond_streamed(&context, &mut state, &utterance, &mut sink)
                            .await
                            .map(|reply| Produced {
                                state: Some(state),
                                reply,
                            }),
                        ReplyJob::Keys(keys) => engine
                            .respond_keys(&context, &mut state, &keys, &mut sink)
                            .await
                            .map(|reply| Produced {
                                state: Some(state),
                                reply,
                            }),
                    };
                // Whatever was written gets spoken, even when the model failed half way.
                text.finish();
                result
            };
        let speak = speak_sentences(&text, tts.as_ref(), speech, format, reply_number, &playout);
        let fill = async {
            if let Some(filler) = &filler {
                offer_filler(&text, filler).await;
            }
        };
        let (result, spoken, ()) = tokio::join!(produce, speak, fill);
        if spoken.is_ok() {
            // An error means the driver dropped the reply; nobody is left to tell.
            let _ = playout.send(Playout::Done(result)).await;
        }
    }
}

async fn speak_sentences(
    text: &ReplyText,
    tts: &dyn TextToSpeech,
    mut speech: SpeechRequest,
    format: ChannelFormat,
    reply_number: u64,
    playout: &mpsc::Sender<Playout>,
) -> Result<(), Dropped> {
    let mut index = 0_u32;
    while let Some(sentence) = text.next_sentence().await {
        index += 1;
        speech.text.clone_from(&sentence.text);
        let spoke = match tts.synthesize(&speech).await {
            Ok(audio) => stream_audio(audio, text, format, playout).await?,
            Err(error) => {
                tracing::warn!(%error, "speech synthesis failed; sending the sentence as text");
                false
            }
        };
        if !spoke {
            send(playout, Playout::AgentText(sentence.text.clone())).await?;
        }
        let name = format!("r{reply_number}-s{index}");
        send(
            playout,
            Playout::Mark {
                name,
                text_offset: sentence.end,
            },
        )
        .await?;
    }
    Ok(())
}

async fn send(playout: &mpsc::Sender<Playout>, item: Playout) -> Result<(), Dropped> {
    playout.send(item).await.map_err(|_| Dropped)
}

/// Converts one synthesised sentence to channel frames and hands them over. Returns whether any
/// audio was sent; the last frame is padded with silence so the mark after it falls on a frame
/// boundary.
async fn stream_audio(
    audio: AudioStream,
    text: &ReplyText,
    format: ChannelFormat,
    playout: &mpsc::Sender<Playout>,
) -> Result<bool, Dropped> {
    let AudioStream {
        sample_rate_hz,
        mut chunks,
    } = audio;
    let rate = format.sample_rate_hz();
    let (mut resampler, mut framer) = match (
        StreamResampler::new(sample_rate_hz, rate),
        Framer::<i16>::new(rate),
    ) {
        (Ok(resampler), Ok(framer)) => (resampler, framer),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, tts.rate_hz = sample_rate_hz, "unusable synthesised audio");
            return Ok(false);
        }
    };
    let mut sent_any = false;
    let mut floats = Vec::new();
    let mut converted = Vec::new();
    let mut frames: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut ended = false;
    while !ended {
        floats.clear();
        match chunks.next().await {
            Some(Ok(chunk)) => {
                text.note_first_audio();
                if let Err(error) = resampler.process_into(
                    &chunk
                        .iter()
                        .map(|&s| i16_sample_to_f32(s))
                        .collect::<Vec<_>>(),
                    &mut floats,
                ) {
                    tracing::warn!(%error, "resampling synthesised audio failed");
                    ended = true;
                }
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "speech synthesis stream failed mid-sentence");
                ended = true;
            }
            None => ended = true,
        }
        if ended && let Err(error) = resampler.flush_into(&mut floats) {
            tracing::warn!(%error, "resampling synthesised audio failed");
        }
        converted.clear();
        converted.extend(floats.iter().map(|&s| f32_sample_to_i16(s)));
        framer.push_each(&converted, |frame| {
            let mut bytes = Vec::with_capacity(frame.len() * 2);
            format.encode_into(frame, &mut bytes);
            frames.push((bytes, frame.len()));
        });
        if ended && let Some(last) = framer.finish_padded(0) {
            let mut bytes = Vec::with_capacity(last.len() * 2);
            format.encode_into(&last, &mut bytes);
            frames.push((bytes, last.len()));
        }
        for (bytes, samples) in frames.drain(..) {
            sent_any = true;
            send(playout, Playout::Frame(bytes, samples)).await?;
        }
    }
    Ok(sent_any)
}
