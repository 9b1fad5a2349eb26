//! Switchboard's audio signal processing: G.711 codecs, PCM conversions, WAV and MP3 decoding,
//! streaming resampling, 20 ms framing, voice activity detection, frame pacing and sentence
//! chunking.
//!
//! The DSP modules are pure computation, tested with generated signals and simulated clocks. The
//! [`session`] module drives one live call on tokio through the speech and language-model ports;
//! the crate knows no HTTP, provider or database.

pub mod chunker;
pub mod codec;
pub mod decode;
pub mod error;
pub mod frame;
pub mod mp3;
pub mod pacing;
pub mod pcm;
pub mod resample;
pub mod session;
pub mod vad;
pub mod wav;

#[cfg(test)]
mod test_support;

pub use decode::{AudioFormat, DecodedAudio, decode_audio_file};
pub use error::AudioError;

/// The lowest sample rate the crate accepts, in hertz.
pub const MIN_SAMPLE_RATE_HZ: u32 = 8_000;
/// The highest sample rate the crate accepts, in hertz.
pub const MAX_SAMPLE_RATE_HZ: u32 = 192_000;

/// Accepts `hz` when it lies in `MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ`.
///
/// # Errors
///
/// `AudioError::UnsupportedSampleRate` when the rate is outside that range.
pub fn check_sample_rate(hz: u32) -> Result<u32, AudioError> {
    if (MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&hz) {
        Ok(hz)
    } else {
        Err(AudioError::UnsupportedSampleRate(hz))
    }
}
