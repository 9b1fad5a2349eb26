//! Decoding uploaded or recorded audio files: recognises WAV and MP3 by their content (never by
//! name) and returns mono samples with their rate.

use std::time::Duration;

use crate::{AudioError, mp3, pcm, wav};

/// The container formats the crate can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// RIFF/WAVE with integer PCM or 32-bit float samples.
    Wav,
    /// An MPEG-1/2 Layer III stream, optionally behind ID3v2 tags.
    Mp3,
}

/// A decoded file: mono samples in `[-1.0, 1.0]` and their rate.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Mono samples; files with several channels are averaged into one.
    pub samples: Vec<f32>,
    /// The rate of `samples`, as stored in the file.
    pub sample_rate_hz: u32,
    /// How many channels the file had before the downmix.
    pub source_channels: u16,
    /// The container the samples came from.
    pub format: AudioFormat,
}

impl DecodedAudio {
    /// The samples as `i16`, rounded and clipped (see [`crate::pcm`]).
    #[must_use]
    pub fn to_i16(&self) -> Vec<i16> {
        pcm::f32_to_i16(&self.samples)
    }

    /// How long the audio plays.
    #[must_use]
    pub fn duration(&self) -> Duration {
        let samples = u64::try_from(self.samples.len()).unwrap_or(u64::MAX);
        let rate = u64::from(self.sample_rate_hz.max(1));
        let whole = samples / rate;
        let rest_nanos = (samples % rate) * 1_000_000_000 / rate;
        Duration::from_secs(whole) + Duration::from_nanos(rest_nanos)
    }
}

/// Recognises the container from the first bytes, or `None` when it is neither WAV nor MP3.
#[must_use]
pub fn detect_format(bytes: &[u8]) -> Option<AudioFormat> {
    if wav::looks_like_wav(bytes) {
        Some(AudioFormat::Wav)
    } else if mp3::looks_like_mp3(bytes) {
        Some(AudioFormat::Mp3)
    } else {
        None
    }
}

/// Decodes a WAV or MP3 file held in memory to mono samples.
///
/// # Errors
///
/// `AudioError::UnsupportedFormat` when the content is neither WAV nor MP3; otherwise the errors
/// of [`wav::read_wav`] and [`mp3::decode_mp3`] (truncated files, invalid headers, unsupported
/// encodings or rates, undecodable streams).
pub fn decode_audio_file(bytes: &[u8]) -> Result<DecodedAudio, AudioError> {
    match detect_format(bytes) {
        Some(AudioFormat::Wav) => wav::read_wav(bytes),
        Some(AudioFormat::Mp3) => mp3::decode_mp3(bytes),
        None => Err(AudioError::UnsupportedFormat),
    }
}

#[cfg(test)]
mod tests;
