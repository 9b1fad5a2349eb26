//! The speech ports: speech-to-text that transcribes a live audio stream (and whole recordings),
//! and text-to-speech that streams synthesised audio. Adapters (Deepgram, ElevenLabs, a local
//! engine) implement them; the voice session drives them.
//!
//! Audio crosses both ports as 16-bit linear PCM samples, mono, at a rate stated alongside it, so
//! codecs and container formats stay inside the adapters and the audio crate.

use std::pin::Pin;

use async_trait::async_trait;
use futures_core::Stream;

/// Why a speech provider could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// Unreachable, overloaded or failing (5xx, connection errors, a dropped stream) after the
    /// adapter's own retries. Opening again later may work.
    #[error("the speech service is unavailable: {0}")]
    Unavailable(String),
    /// The request was refused (bad credentials, unknown voice or model, unsupported audio):
    /// retrying the same request will not help.
    #[error("the speech service refused the request: {0}")]
    Rejected(String),
    /// No answer (or no next event) within the adapter's timeout.
    #[error("the speech service did not answer in time")]
    Timeout,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// How a streaming transcription is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SttConfig {
    /// The rate of the audio the caller will send, in hertz (16 000 on the call path).
    pub sample_rate_hz: u32,
    /// The provider's model (`nova-3`, `whisper-1`); empty means the adapter's default.
    pub model: String,
    /// A BCP 47 language tag such as `en-US`; `None` lets the provider choose or detect.
    pub language: Option<String>,
    /// Whether to report [`SttEvent::Interim`] hypotheses (barge-in reacts to them).
    pub interim_results: bool,
    /// Silence after which the provider marks a final as `speech_final`, in milliseconds.
    pub endpointing_ms: u32,
    /// Silence after which the provider reports [`SttEvent::UtteranceEnd`], in milliseconds;
    /// a fallback for noisy lines where endpointing never fires.
    pub utterance_end_ms: u32,
}

impl Default for SttConfig {
    fn default() -> Self {
        Self {
            sample_rate_hz: 16_000,
            model: String::new(),
            language: None,
            interim_results: true,
            endpointing_ms: 300,
            utterance_end_ms: 1000,
        }
    }
}

/// What a streaming transcription reports, in the order the provider decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SttEvent {
    /// The provider heard the start of speech (before any words are known).
    SpeechStarted,
    /// A provisional transcript of the words so far; a later event may revise it.
    Interim { text: String },
    /// A settled transcript of a stretch of audio; it is never revised. `speech_final` says the
    /// provider's endpointing judged the speaker to have finished the utterance.
    Final { text: String, speech_final: bool },
    /// The provider saw a gap in speech after the last final: the utterance is over even if no
    /// final carried `speech_final`.
    UtteranceEnd,
}

/// The sending half of a streaming transcription.
///
/// Contract, for every adapter:
/// - `send_audio` takes mono PCM16 at the configured rate, in pieces of any size (20 ms on the
///   call path). It waits while the adapter's bounded buffer is full, so a slow provider slows
///   the sender down instead of growing memory; it never buffers without bound.
/// - `finalize` asks the provider to settle what it has heard so far now (the pending audio
///   yields its `Final` events promptly); the stream stays open for more audio.
/// - `close` flushes, ends the stream, and lets the event stream end after the last events.
///   Dropping the sink without `close` ends the stream too, possibly losing the last words.
#[async_trait]
pub trait SttSink: Send {
    /// Sends audio.
    ///
    /// # Errors
    /// `Unavailable` when the connection has dropped (open a new stream); `Rejected` for audio
    /// the provider refuses.
    async fn send_audio(&mut self, samples: &[i16]) -> Result<(), SpeechError>;

    /// Asks the provider to settle the pending audio now.
    ///
    /// # Errors
    /// As [`SttSink::send_audio`].
    async fn finalize(&mut self) -> Result<(), SpeechError>;

    /// Ends the stream.
    ///
    /// # Errors
    /// As [`SttSink::send_audio`].
    async fn close(&mut self) -> Result<(), SpeechError>;
}

/// The events of a streaming transcription. It ends after `close`, or with an error item (or
/// simply ends) when the connection drops; dropping it stops the adapter's reader.
pub type SttEvents = Pin<Box<dyn Stream<Item = Result<SttEvent, SpeechError>> + Send>>;

/// An open streaming transcription: audio goes into `sink`, events come out of `events`.
pub struct SttStream {
    pub sink: Box<dyn SttSink>,
    pub events: SttEvents,
}

impl std::fmt::Debug for SttStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SttStream").finish_non_exhaustive()
    }
}

/// Speech recognition.
///
/// Contract, for every adapter:
/// - `open` resolves once the provider accepted the stream; connection failures are retried
///   inside the adapter with backoff, within a bounded number of attempts.
/// - Events of one stream come in the order the provider produced them; `Final` texts, joined
///   with spaces, are the transcript of the stream. Empty finals are not reported.
/// - Once open, the adapter never reconnects by itself: a dropped connection ends the event
///   stream (with `Unavailable`), and the caller decides whether to open a new one.
#[async_trait]
pub trait SpeechToText: Send + Sync {
    /// The provider and model, for logs and health.
    fn name(&self) -> &str;

    /// Opens a streaming transcription.
    ///
    /// # Errors
    /// As [`SpeechError`] describes, after retries where retrying can help.
    async fn open(&self, config: SttConfig) -> Result<SttStream, SpeechError>;

    /// Transcribes a whole recording of mono PCM16 at `sample_rate_hz`; empty when nothing was
    /// said.
    ///
    /// # Errors
    /// As [`SpeechError`] describes.
    async fn transcribe(&self, samples: &[i16], sample_rate_hz: u32)
    -> Result<String, SpeechError>;
}

/// Synthesised audio: mono PCM16 chunks at `sample_rate_hz`, in playing order.
pub struct AudioStream {
    /// The rate of every chunk, in hertz.
    pub sample_rate_hz: u32,
    /// The chunks; an error item ends the stream (what came before it is valid audio).
    pub chunks: Pin<Box<dyn Stream<Item = Result<Vec<i16>, SpeechError>> + Send>>,
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("sample_rate_hz", &self.sample_rate_hz)
            .finish_non_exhaustive()
    }
}

/// What to say, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeechRequest {
    pub text: String,
    /// The provider's voice id; empty means the adapter's configured default.
    pub voice: String,
    /// 1.0 is the voice's natural pace; adapters clamp to what the provider allows.
    pub speed: f32,
    /// The rate the audio will be played at, in hertz. Adapters produce this rate when the
    /// provider can (saving a resampling step) and otherwise their closest; the stream states
    /// the rate it delivers.
    pub sample_rate_hz: u32,
    /// A BCP 47 language tag, for providers that take one.
    pub language: Option<String>,
}

impl SpeechRequest {
    /// `text` in the default voice at natural pace, preferably at `sample_rate_hz`.
    #[must_use]
    pub fn new(text: impl Into<String>, sample_rate_hz: u32) -> Self {
        Self {
            text: text.into(),
            voice: String::new(),
            speed: 1.0,
            sample_rate_hz,
            language: None,
        }
    }
}

/// Speech synthesis.
///
/// Contract, for every adapter:
/// - `synthesize` resolves once the provider has started producing audio (or failed before any);
///   failures before the first chunk are retried inside the adapter, within a bounded number of
///   attempts. The first chunk should come as soon as the provider has it: time to first audio
///   is the latency callers hear.
/// - The stream yields the whole utterance and then ends; once a chunk has been yielded the
///   adapter never retries (it would repeat audio). Chunks are never empty.
/// - Dropping the stream cancels the synthesis (barge-in relies on that).
#[async_trait]
pub trait TextToSpeech: Send + Sync {
    /// The provider and model, for logs and health.
    fn name(&self) -> &str;

    /// Starts speaking the request's text.
    ///
    /// # Errors
    /// `Rejected` for an unknown voice or unspeakable text; otherwise as [`SpeechError`]
    /// describes.
    async fn synthesize(&self, request: &SpeechRequest) -> Result<AudioStream, SpeechError>;
}
