//! Voice turns one utterance at a time (seed 002's socket and `respond-audio`, seed 000's audio
//! messages): a whole recording in, its transcript, the reply as text and as a WAV file. Unlike a
//! live call there is no stream to hold: each turn is a request.

use futures_util::StreamExt as _;
use switchboard_audio::AudioError;
use switchboard_audio::decode::decode_audio_file;
use switchboard_audio::wav::write_wav_mono;
use switchboard_domain::agent::AgentConfig;
use switchboard_domain::call::Call;
use switchboard_domain::ports::{SpeechError, SpeechRequest, SpeechToText, TextToSpeech};

use crate::error::ApiError;

/// The rate replies are synthesised at: what seed 002's clients send, and what browsers play.
pub const REPLY_RATE_HZ: u32 = 16_000;
/// The longest reply audio kept in memory for one answer (two minutes at 16 kHz).
const MAX_REPLY_SAMPLES: usize = 120 * REPLY_RATE_HZ as usize;

/// Why a recording could not be turned into words.
#[derive(Debug, thiserror::Error)]
pub enum HearError {
    #[error("the audio file is empty")]
    Empty,
    #[error("the audio is not WAV or MP3: {0}")]
    Unsupported(String),
    #[error("the audio file cannot be read: {0}")]
    Unreadable(String),
    #[error("speech recognition is unavailable: {0}")]
    Unavailable(String),
    #[error("STT failed: {0}")]
    Failed(String),
}

impl From<HearError> for ApiError {
    fn from(e: HearError) -> Self {
        match e {
            HearError::Empty | HearError::Unreadable(_) => Self::BadRequest(e.to_string()),
            HearError::Unsupported(_) => Self::UnsupportedMediaType(e.to_string()),
            HearError::Unavailable(_) => Self::ServiceUnavailable(e.to_string()),
            HearError::Failed(_) => Self::ProviderFailed(e.to_string()),
        }
    }
}

/// Transcribes an uploaded recording (WAV or MP3, recognised by content).
///
/// # Errors
/// As [`HearError`] says.
pub async fn hear(stt: &dyn SpeechToText, bytes: &[u8]) -> Result<String, HearError> {
    if bytes.is_empty() {
        return Err(HearError::Empty);
    }
    let decoded = decode_audio_file(bytes).map_err(|e| match e {
        AudioError::UnsupportedFormat | AudioError::UnsupportedEncoding(_) => {
            HearError::Unsupported(e.to_string())
        }
        other => HearError::Unreadable(other.to_string()),
    })?;
    if decoded.samples.is_empty() {
        return Err(HearError::Empty);
    }
    stt.transcribe(&decoded.to_i16(), decoded.sample_rate_hz)
        .await
        .map(|text| text.trim().to_owned())
        .map_err(|e| match e {
            SpeechError::Unavailable(_) | SpeechError::Timeout => {
                HearError::Unavailable(e.to_string())
            }
            SpeechError::Rejected(message) => HearError::Failed(message),
            SpeechError::Unexpected(cause) => HearError::Failed(cause.to_string()),
        })
}

/// The agent a call was started with, as it was then.
#[must_use]
pub fn agent_of(call: &Call) -> Option<AgentConfig> {
    call.conversation_context()
        .ok()
        .and_then(|context| context.agent)
}

/// The agent's voice settings for `text`, at the reply rate.
#[must_use]
pub fn speech_request(text: &str, agent: Option<&AgentConfig>) -> SpeechRequest {
    let mut request = SpeechRequest::new(text, REPLY_RATE_HZ);
    if let Some(agent) = agent {
        request.voice.clone_from(&agent.voice.voice_id);
        // Speeds are validated to a small range.
        request.speed = agent.voice.speed as f32;
        request.language = (!agent.language.is_empty()).then(|| agent.language.clone());
    }
    request
}

/// Speaks `request` whole and returns it as a mono 16-bit WAV file at the rate the provider
/// delivered.
///
/// # Errors
/// The provider's error, or `Unexpected` for audio that cannot be written.
pub async fn speak_wav(
    tts: &dyn TextToSpeech,
    request: &SpeechRequest,
) -> Result<Vec<u8>, SpeechError> {
    let mut audio = tts.synthesize(request).await?;
    let mut samples = Vec::new();
    while let Some(chunk) = audio.chunks.next().await {
        let chunk = chunk?;
        let room = MAX_REPLY_SAMPLES.saturating_sub(samples.len());
        samples.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    write_wav_mono(&samples, audio.sample_rate_hz)
        .map_err(|e| SpeechError::Unexpected(anyhow::anyhow!(e)))
}
