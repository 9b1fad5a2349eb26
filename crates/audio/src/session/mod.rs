//! The voice session: one live call between a caller and an agent, from the caller's audio frames
//! to the agent's.
//!
//! ```text
//! inbound frames -> decode -> resample -> STT stream ---------------------+
//!                        \-> VAD (barge-in, end of speech)                |
//! turn end (speech_final / UtteranceEnd / VAD end with finals) <----------+
//!   -> ConversationEngine::respond -> sentence chunker -> TTS per sentence
//!   -> resample/encode -> 20 ms frames, paced, with a mark after each sentence -> outbound
//! ```
//!
//! The channel (Twilio, a browser) turns its wire protocol into [`InboundFrame`]s and
//! [`OutboundEvent`]s and runs [`VoiceSession::run`] in a task of its own; the session owns every
//! task it starts and ends them when it returns, or when its future is dropped.
//!
//! # What was heard
//!
//! The far end queues the audio it is sent, so the session places a mark after each sentence and
//! counts a sentence as heard only once the channel echoes its mark (or, for a channel that does
//! not echo them, once the audio has had time to play plus [`VoiceSessionConfig::mark_grace`]).
//! When the caller barges in, the queued audio is cleared and the conversation history keeps the
//! sentences whose marks came back, nothing of the sentence that was playing. A reply cut off
//! before its model finished keeps the caller's words and the heard part of the reply, but a call
//! flow does not advance past the node it was on.
//!
//! # Interruptions
//!
//! Caller speech while the agent talks first only pauses the agent's audio. The interruption is
//! confirmed (and the reply cut as above) once the caller has said enough words that are not all
//! backchannel words, or spoken long enough; it is judged false, and the agent plays on where it
//! paused, when the caller's utterance ends as backchannel ("uh-huh", "okay") or too short, or
//! when nothing confirms it in time (see [`TurnTaking`]). Backchannel utterances appear in the
//! transcript as the caller's lines, but never reach the conversation engine: they are not
//! turns, and the reply they were said over goes on. This holds while the agent's audio plays;
//! once it has played, whatever the caller says is their turn, even before the last marks are
//! echoed.
//!
//! # Silences and keys
//!
//! A tool call that keeps a reply silent gets one filler line; a caller who stays silent is
//! checked on and, in the end, said goodbye to; keys pressed on the keypad form an entry that is
//! the caller's turn (see [`TurnTaking`]).

mod driver;
mod interruption;
mod keypad;
mod recogniser;
mod recorder;
mod reply_text;
mod silence;
mod speaker;
mod tasks;
mod turn_taking;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::call::Speaker;
use switchboard_domain::conversation::{
    CallContext, ConversationEngine, ConversationState, EndReason,
};
use switchboard_domain::ports::{SpeechToText, SttConfig, TextToSpeech};
use tokio::sync::{mpsc, watch};

use crate::AudioError;
use crate::chunker::DEFAULT_MIN_CHARS;
use crate::codec::mulaw;
use crate::pcm::{i16_to_pcm16le_into, pcm16le_to_i16_into};
use crate::vad::VadConfig;

pub use turn_taking::TurnTaking;

/// The audio format of a channel's media stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelFormat {
    /// G.711 mu-law at 8 kHz, one byte per sample (Twilio media streams).
    Mulaw8k,
    /// 16-bit little-endian linear PCM at 16 kHz (browsers).
    Pcm16k,
}

impl ChannelFormat {
    /// The sample rate, in hertz.
    #[must_use]
    pub const fn sample_rate_hz(self) -> u32 {
        match self {
            Self::Mulaw8k => 8_000,
            Self::Pcm16k => 16_000,
        }
    }

    /// Decodes channel bytes to samples, appending to `out`.
    ///
    /// # Errors
    ///
    /// `AudioError::OddByteLength` for PCM16 bytes of odd length.
    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<i16>) -> Result<(), AudioError> {
        match self {
            Self::Mulaw8k => {
                mulaw::decode_into(bytes, out);
                Ok(())
            }
            Self::Pcm16k => pcm16le_to_i16_into(bytes, out),
        }
    }

    /// Encodes samples to channel bytes, appending to `out`.
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        match self {
            Self::Mulaw8k => mulaw::encode_into(samples, out),
            Self::Pcm16k => i16_to_pcm16le_into(samples, out),
        }
    }
}

/// What the channel hands the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundFrame {
    /// Caller audio in the channel's format.
    Audio(Vec<u8>),
    /// The far end played the outbound audio up to the mark of this name.
    Mark(String),
    /// The caller pressed a key (DTMF): `0`-`9`, `*`, `#` or `A`-`D`. Keys form an entry that
    /// ends with `#` or a pause, and the entry is the caller's turn; a key pressed while the
    /// agent speaks interrupts it at once.
    Dtmf(char),
    /// The caller hung up.
    Hangup,
}

/// What the session hands the channel.
#[derive(Debug, Clone, PartialEq)]
pub enum OutboundEvent {
    /// One 20 ms frame of agent audio in the channel's format, sent when it is due.
    Audio(Vec<u8>),
    /// Echo this name back as [`InboundFrame::Mark`] once the audio sent before it has played.
    Mark(String),
    /// Drop the agent audio queued and not yet played (the caller barged in).
    Clear,
    /// A transcript line: the caller's utterance, or the agent's reply as far as it was heard.
    Text(TranscriptLine),
    /// A sentence the agent could not speak (speech synthesis failed); show it instead.
    AgentText(String),
    /// The session is over; nothing follows.
    Ended(SessionEnd),
}

/// One line of the call's transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLine {
    pub speaker: Speaker,
    pub text: String,
    /// For agent lines: the caller barged in, and `text` is the part that was heard.
    pub interrupted: bool,
    /// For agent lines answering the caller: how long each step of the turn took.
    pub latency: Option<VoiceLatency>,
}

/// How long a voice turn took, in milliseconds from the end of the caller's speech (as the local
/// voice activity detector saw it, else the moment the turn was decided). A step that did not
/// happen (no token, speech synthesis failed, cut off) is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoiceLatency {
    /// Until the final transcript ended the turn.
    pub final_transcript_ms: u64,
    /// Until the first token of the reply.
    pub first_token_ms: Option<u64>,
    /// Until the first byte of synthesised audio.
    pub first_audio_ms: Option<u64>,
    /// Until the first frame was sent to the caller.
    pub first_frame_ms: Option<u64>,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The caller hung up, or the channel went away.
    Hangup,
    /// The application is shutting down.
    Shutdown,
    /// The conversation ended the call (the reply was played first).
    Agent(EndReason),
    /// Nobody spoke for the configured silence timeout, or through the check-ins (the goodbye
    /// was played first).
    SilenceTimeout,
    /// The conversation could not go on (for example the opening failed); the message says why.
    Failed(String),
}

/// The speech providers a session talks through.
#[derive(Clone)]
pub struct SessionPorts {
    pub stt: Arc<dyn SpeechToText>,
    pub tts: Arc<dyn TextToSpeech>,
}

/// How the session starts talking.
#[derive(Debug, Clone)]
pub enum Opening {
    /// Open the conversation with the engine and speak its first message.
    Greet,
    /// Continue a conversation opened elsewhere, first speaking `say` (its first message) if set;
    /// `say` is assumed to be in `state` already.
    Resume {
        state: ConversationState,
        say: Option<String>,
    },
}

/// The conversation a session carries.
#[derive(Clone)]
pub struct Conversation {
    pub engine: ConversationEngine,
    pub context: CallContext,
    pub opening: Opening,
}

/// The channel's side of a session: frames in, events out, and a shutdown signal. Both channels
/// are bounded; the session waits when `outbound` is full, which is the channel's backpressure.
pub struct SessionIo {
    pub inbound: mpsc::Receiver<InboundFrame>,
    pub outbound: mpsc::Sender<OutboundEvent>,
    /// Becomes `true` when the application shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// Tuning of a session.
#[derive(Debug, Clone)]
pub struct VoiceSessionConfig {
    pub format: ChannelFormat,
    /// The speech synthesis voice; empty means the adapter's default.
    pub voice: String,
    /// The voice's pace; 1.0 is natural.
    pub speed: f32,
    /// The speech-to-text stream's settings; audio is resampled to its rate.
    pub stt: SttConfig,
    /// The local voice activity detector, which catches barge-in and the end of speech.
    pub vad: VadConfig,
    /// What counts as an interruption, and what the agent says to fill or end a silence.
    pub turn_taking: TurnTaking,
    /// Sentences shorter than this are joined to the next before synthesis.
    pub min_sentence_chars: usize,
    /// Frames of synthesised audio ready ahead of the pacer (a bound on memory and on the work
    /// thrown away at barge-in); 25 frames is half a second.
    pub playout_buffer_frames: usize,
    /// Caller audio frames waiting for the speech-to-text stream; beyond this, frames are dropped
    /// rather than stalling the call.
    pub stt_buffer_frames: usize,
    /// A plain silence timeout: when set, the call ends after this long without caller speech
    /// while the agent is silent, without a check-in or a goodbye, whatever `turn_taking` says
    /// about silence. It runs on the same timer as the check-ins of
    /// [`TurnTaking::silence_reprompt_after`].
    pub silence_timeout: Option<Duration>,
    /// How long past the moment a reply's audio should have finished playing the session waits
    /// for the channel to echo the reply's marks; then they count as heard. A channel that never
    /// echoes marks would otherwise leave the reply unsettled (and the silence timeout unarmed)
    /// for ever.
    pub mark_grace: Duration,
    /// Keep a stereo recording (caller left, agent right) of at most this long.
    pub record_max: Option<Duration>,
}

impl Default for VoiceSessionConfig {
    fn default() -> Self {
        Self {
            format: ChannelFormat::Mulaw8k,
            voice: String::new(),
            speed: 1.0,
            stt: SttConfig::default(),
            vad: VadConfig::default(),
            turn_taking: TurnTaking::default(),
            min_sentence_chars: DEFAULT_MIN_CHARS,
            playout_buffer_frames: 25,
            stt_buffer_frames: 50,
            silence_timeout: None,
            mark_grace: Duration::from_secs(2),
            record_max: None,
        }
    }
}

/// What a finished session leaves behind.
#[derive(Debug, Clone)]
pub struct SessionOutcome {
    pub end: SessionEnd,
    /// The conversation as the caller experienced it (replies cut to what was heard).
    pub state: ConversationState,
    pub transcript: Vec<TranscriptLine>,
    /// A 16-bit stereo WAV file at the channel's rate (caller left, agent right), when recording
    /// was configured.
    pub recording: Option<Vec<u8>>,
}

/// One live call. Build it with [`VoiceSession::new`], then drive it with
/// [`VoiceSession::run`].
pub struct VoiceSession {
    driver: driver::Driver,
}

impl std::fmt::Debug for VoiceSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceSession").finish_non_exhaustive()
    }
}

impl VoiceSession {
    /// A session for one call.
    ///
    /// # Errors
    ///
    /// `AudioError::UnsupportedSampleRate` or `AudioError::FrameDuration` when the STT rate is
    /// unusable; `AudioError::InvalidConfig` for an invalid VAD configuration or a zero buffer.
    pub fn new(
        config: VoiceSessionConfig,
        ports: SessionPorts,
        conversation: Conversation,
        io: SessionIo,
    ) -> Result<Self, AudioError> {
        Ok(Self {
            driver: driver::Driver::new(config, ports, conversation, io)?,
        })
    }

    /// Runs the call until the caller hangs up, the conversation ends it, the silence timeout
    /// passes or shutdown is signalled; sends [`OutboundEvent::Ended`] last and returns the
    /// outcome. Every task the session started has ended when this returns; dropping the future
    /// ends them too.
    pub async fn run(self) -> SessionOutcome {
        self.driver.run().await
    }
}
