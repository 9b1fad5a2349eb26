//! The text of a reply as it streams: the engine's token sink writes it, the sentence chunker
//! cuts it, and the synthesis loop takes it sentence by sentence; plus the filler said when a
//! tool call keeps the reply silent.
//!
//! While the engine waits on a tool, nothing is said; if that silence lasts long enough, a short
//! filler line slips into the queue of sentences, once per reply. The filler is heard but is not
//! part of the reply's text: its mark does not advance what counts as heard, and it is not kept
//! in the conversation history.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::time::{Duration, Instant, sleep_until};

use crate::chunker::{Sentence, SentenceChunker};

/// The most text one reply may stream, in bytes: about an hour of speech. The engine's own
/// limits bound a reply well below this (each of its model rounds by the agent's `max_tokens`,
/// flow lines by the flow's text limits); this cap holds whatever the engine does.
const MAX_REPLY_BYTES: usize = 64 * 1024;

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

    pub(super) fn push_token(&self, token: &str) {
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

    pub(super) fn tool_started(&self) {
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

    pub(super) fn tool_finished(&self) {
        let mut inner = self.lock();
        inner.tools_running = inner.tools_running.saturating_sub(1);
        drop(inner);
        self.activity.notify_one();
    }

    pub(super) fn finish(&self) {
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
    pub(super) async fn next_sentence(&self) -> Option<Sentence> {
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

    pub(super) fn note_first_audio(&self) {
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
pub(super) async fn offer_filler(text: &ReplyText, filler: &Filler) {
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
