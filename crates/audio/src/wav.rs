//! Reading and writing WAV files in memory with `hound`.
//!
//! Reading accepts integer PCM of 8, 16, 24 or 32 bits and 32-bit float, 1 to 8 channels
//! (averaged to mono) and rates from 8 kHz to 192 kHz. Headers are checked against the bytes
//! actually present before any sample is read, so a lying header is an error, never a huge
//! allocation or a panic. Writing produces 16-bit mono or stereo files.

use std::io::Cursor;

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

use crate::{AudioError, AudioFormat, DecodedAudio, check_sample_rate};

/// The most channels a readable file may have.
pub const MAX_CHANNELS: u16 = 8;

const FORMAT: &str = "WAV";

/// Whether `bytes` start like a RIFF/WAVE file.
#[must_use]
pub fn looks_like_wav(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE"
}

/// Reads a WAV file to mono `f32` samples in `[-1.0, 1.0]` plus its sample rate.
///
/// Integer samples are scaled by `2^(bits - 1)`, so 16-bit input converts back to `i16`
/// losslessly; non-finite float samples become 0.
///
/// # Errors
///
/// - `AudioError::Truncated` when the data chunk claims more bytes than the file holds or the
///   file ends inside a header.
/// - `AudioError::InvalidHeader` for malformed or inconsistent headers (no fmt chunk, zero
///   channels, a data length that is not a whole number of samples, ...).
/// - `AudioError::UnsupportedEncoding` for compressed formats and other bit depths.
/// - `AudioError::UnsupportedSampleRate` and `AudioError::UnsupportedChannels` for rates and
///   channel counts outside the documented ranges.
pub fn read_wav(bytes: &[u8]) -> Result<DecodedAudio, AudioError> {
    if !looks_like_wav(bytes) {
        return Err(AudioError::UnsupportedFormat);
    }
    // A first pass over the header finds where the data starts, so the announced length can be
    // checked against the bytes present before anything is allocated for it.
    let probe = WavReader::new(Cursor::new(bytes)).map_err(map_hound_error)?;
    let spec = probe.spec();
    let header_samples = usize::try_from(probe.len()).map_err(|_| AudioError::Truncated)?;
    let data_start = usize::try_from(probe.into_inner().position()).unwrap_or(usize::MAX);

    if spec.channels == 0 || spec.channels > MAX_CHANNELS {
        return Err(AudioError::UnsupportedChannels(spec.channels));
    }
    check_sample_rate(spec.sample_rate)?;
    let bytes_per_sample = match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, 8 | 16 | 24 | 32) | (SampleFormat::Float, 32) => {
            usize::from(spec.bits_per_sample / 8)
        }
        (SampleFormat::Int, bits) => {
            return Err(AudioError::UnsupportedEncoding(format!(
                "{bits}-bit integer samples"
            )));
        }
        (SampleFormat::Float, bits) => {
            return Err(AudioError::UnsupportedEncoding(format!(
                "{bits}-bit float samples"
            )));
        }
    };
    let available = bytes.len().saturating_sub(data_start);
    if header_samples.saturating_mul(bytes_per_sample) > available {
        return Err(AudioError::Truncated);
    }

    let mut reader = WavReader::new(Cursor::new(bytes)).map_err(map_hound_error)?;
    let channels = usize::from(spec.channels);
    let mut mono = Vec::with_capacity(header_samples / channels);
    match spec.sample_format {
        SampleFormat::Int => {
            let scale = 1.0 / (1_u64 << (spec.bits_per_sample - 1)) as f32;
            let samples = reader
                .samples::<i32>()
                .map(|sample| sample.map(|value| value as f32 * scale));
            downmix_into(samples, channels, &mut mono)?;
        }
        SampleFormat::Float => downmix_into(reader.samples::<f32>(), channels, &mut mono)?,
    }

    Ok(DecodedAudio {
        samples: mono,
        sample_rate_hz: spec.sample_rate,
        source_channels: spec.channels,
        format: AudioFormat::Wav,
    })
}

/// Averages interleaved samples of `channels` channels into `out`.
fn downmix_into(
    samples: impl Iterator<Item = Result<f32, hound::Error>>,
    channels: usize,
    out: &mut Vec<f32>,
) -> Result<(), AudioError> {
    let mut sum = 0.0_f32;
    let mut in_frame = 0;
    for sample in samples {
        let value = sample.map_err(map_hound_error)?;
        sum += if value.is_finite() { value } else { 0.0 };
        in_frame += 1;
        if in_frame == channels {
            out.push(sum / channels as f32);
            sum = 0.0;
            in_frame = 0;
        }
    }
    Ok(())
}

fn map_hound_error(error: hound::Error) -> AudioError {
    match error {
        // Reading from memory fails only when the bytes run out.
        hound::Error::IoError(_) => AudioError::Truncated,
        hound::Error::FormatError(reason) => AudioError::InvalidHeader {
            format: FORMAT,
            reason: reason.to_owned(),
        },
        hound::Error::Unsupported => {
            AudioError::UnsupportedEncoding("compressed or unknown format tag".to_owned())
        }
        hound::Error::TooWide | hound::Error::InvalidSampleFormat => {
            AudioError::UnsupportedEncoding("sample width or type".to_owned())
        }
        hound::Error::UnfinishedSample => AudioError::InvalidHeader {
            format: FORMAT,
            reason: "incomplete sample".to_owned(),
        },
    }
}

/// Writes 16-bit mono samples as a WAV file.
///
/// # Errors
///
/// `AudioError::UnsupportedSampleRate` for a rate outside the supported range;
/// `AudioError::WavWrite` when the audio exceeds what a WAV file can hold (4 GiB).
pub fn write_wav_mono(samples: &[i16], sample_rate_hz: u32) -> Result<Vec<u8>, AudioError> {
    write_interleaved(samples.iter().copied(), 1, sample_rate_hz)
}

/// Writes two 16-bit channels (for a call recording: caller left, agent right) as a stereo WAV
/// file. The shorter channel is padded with silence to the length of the longer.
///
/// # Errors
///
/// As [`write_wav_mono`].
pub fn write_wav_stereo(
    left: &[i16],
    right: &[i16],
    sample_rate_hz: u32,
) -> Result<Vec<u8>, AudioError> {
    let frames = left.len().max(right.len());
    let interleaved = (0..frames).flat_map(|index| {
        [
            left.get(index).copied().unwrap_or(0),
            right.get(index).copied().unwrap_or(0),
        ]
    });
    write_interleaved(interleaved, 2, sample_rate_hz)
}

fn write_interleaved(
    samples: impl Iterator<Item = i16>,
    channels: u16,
    sample_rate_hz: u32,
) -> Result<Vec<u8>, AudioError> {
    let spec = WavSpec {
        channels,
        sample_rate: check_sample_rate(sample_rate_hz)?,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let write_error = |error: hound::Error| AudioError::WavWrite(error.to_string());
    let mut cursor = Cursor::new(Vec::new());
    let mut writer = WavWriter::new(&mut cursor, spec).map_err(write_error)?;
    for sample in samples {
        writer.write_sample(sample).map_err(write_error)?;
    }
    writer.finalize().map_err(write_error)?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests;
