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
///   file ends inside a header. Streamed WAVs whose header was written before their length was
///   known (data length `0xFFFFFFFF`, or 0 with data after it) are read to the end of the file.
/// - `AudioError::InvalidHeader` for malformed or inconsistent headers (no fmt chunk, zero
///   channels, a data length that is not a whole number of samples, ...).
/// - `AudioError::UnsupportedEncoding` for compressed formats and other bit depths.
/// - `AudioError::UnsupportedSampleRate` and `AudioError::UnsupportedChannels` for rates and
///   channel counts outside the documented ranges.
pub fn read_wav(bytes: &[u8]) -> Result<DecodedAudio, AudioError> {
    if !looks_like_wav(bytes) {
        return Err(AudioError::UnsupportedFormat);
    }
    let patched = streamed_length(bytes);
    let bytes = patched.as_deref().unwrap_or(bytes);
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

/// A copy of a streamed WAV with its data length set to the whole frames present, when the data
/// chunk's header holds a streaming placeholder (`0xFFFFFFFF`, or 0 with data after it); `None`
/// otherwise, including for any header this walk cannot follow (the reader then judges it).
fn streamed_length(bytes: &[u8]) -> Option<Vec<u8>> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let mut offset = 12;
    let mut frame_bytes = 0_usize;
    loop {
        let id = bytes.get(offset..offset + 4)?;
        let len = u32_at(offset + 4)?;
        let body = offset + 8;
        if id == b"fmt " {
            // The block alignment is the size of one frame of every channel.
            frame_bytes = usize::from(u16::from_le_bytes(
                bytes.get(body + 12..body + 14)?.try_into().ok()?,
            ));
        }
        if id == b"data" {
            let available = bytes.len().saturating_sub(body);
            let placeholder = len == u32::MAX || (len == 0 && available >= frame_bytes);
            if !placeholder || frame_bytes == 0 {
                return None;
            }
            let whole = available - available % frame_bytes;
            let mut fixed = bytes.get(..body + whole)?.to_vec();
            fixed[offset + 4..body].copy_from_slice(&u32::try_from(whole).ok()?.to_le_bytes());
            let riff_len = u32::try_from(fixed.len().saturating_sub(8)).ok()?;
            fixed[4..8].copy_from_slice(&riff_len.to_le_bytes());
            return Some(fixed);
        }
        let len = usize::try_from(len).ok()?;
        offset = body.checked_add(len)?.checked_add(len % 2)?;
    }
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
