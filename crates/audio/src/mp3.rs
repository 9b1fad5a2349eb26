//! Decoding MP3 (MPEG-1/2/2.5 Layer III) held in memory with `symphonia`, to mono samples.
//!
//! MP3 has no length field, so a stream cut short decodes to its complete frames; a stream
//! without a single decodable frame is an error.

use std::io::Cursor;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::default::codecs::MpaDecoder;
use symphonia::default::formats::MpaReader;

use crate::{AudioError, AudioFormat, DecodedAudio, check_sample_rate};

/// Size of an ID3v2 tag header (and of its optional footer).
const ID3_HEADER_LEN: usize = 10;

/// Whether `bytes` start with an ID3v2 tag or an MPEG Layer III frame header.
#[must_use]
pub fn looks_like_mp3(bytes: &[u8]) -> bool {
    bytes.starts_with(b"ID3") || starts_with_layer3_header(bytes)
}

/// Whether the first four bytes are a plausible MPEG audio Layer III frame header: frame sync,
/// a defined version, Layer III, a bit rate index other than "free" or "bad", a defined sample
/// rate and emphasis.
fn starts_with_layer3_header(bytes: &[u8]) -> bool {
    let [b0, b1, b2, b3, ..] = *bytes else {
        return false;
    };
    let sync = b0 == 0xFF && b1 & 0xE0 == 0xE0;
    let version_defined = (b1 >> 3) & 0x03 != 0x01;
    let layer3 = (b1 >> 1) & 0x03 == 0x01;
    let bitrate_index = b2 >> 4;
    let rate_defined = (b2 >> 2) & 0x03 != 0x03;
    let emphasis_defined = b3 & 0x03 != 0x02;
    sync && version_defined
        && layer3
        && bitrate_index != 0
        && bitrate_index != 0x0F
        && rate_defined
        && emphasis_defined
}

/// The bytes after any leading ID3v2 tags.
fn skip_id3v2(bytes: &[u8]) -> Result<&[u8], AudioError> {
    let mut rest = bytes;
    while rest.starts_with(b"ID3") {
        let Some(header) = rest.get(..ID3_HEADER_LEN) else {
            return Err(AudioError::Truncated);
        };
        let flags = header[5];
        let size_bytes = &header[6..10];
        if size_bytes.iter().any(|byte| byte & 0x80 != 0) {
            return Err(AudioError::InvalidHeader {
                format: "ID3v2",
                reason: "tag size is not synchsafe".to_owned(),
            });
        }
        // Synchsafe integer: 7 bits per byte, most significant first.
        let size = size_bytes
            .iter()
            .fold(0_usize, |size, &byte| (size << 7) | usize::from(byte));
        let footer = if flags & 0x10 != 0 { ID3_HEADER_LEN } else { 0 };
        let tag_len = ID3_HEADER_LEN + size + footer;
        rest = rest.get(tag_len..).ok_or(AudioError::Truncated)?;
    }
    Ok(rest)
}

/// Decodes an MP3 stream to mono `f32` samples plus its sample rate; stereo is averaged.
///
/// # Errors
///
/// - `AudioError::UnsupportedFormat` when the bytes do not start like MP3.
/// - `AudioError::Truncated` when an ID3v2 tag runs past the end.
/// - `AudioError::Mp3Decode` when no frame can be decoded or the stream is otherwise corrupt.
/// - `AudioError::UnsupportedSampleRate` if the stream's rate changes between frames.
pub fn decode_mp3(bytes: &[u8]) -> Result<DecodedAudio, AudioError> {
    if !looks_like_mp3(bytes) {
        return Err(AudioError::UnsupportedFormat);
    }
    let audio = skip_id3v2(bytes)?;
    // Symphonia needs an owned, 'static source.
    let source = Cursor::new(audio.to_vec());
    let stream = MediaSourceStream::new(Box::new(source), MediaSourceStreamOptions::default());
    // Gapless trimming stays off: it subtracts header fields that a corrupt file can make
    // inconsistent, and the delay it removes is a few milliseconds.
    let mut reader =
        MpaReader::try_new(stream, &FormatOptions::default()).map_err(map_symphonia_error)?;
    let params = reader
        .default_track()
        .map(|track| track.codec_params.clone())
        .ok_or_else(|| AudioError::Mp3Decode("no audio track".to_owned()))?;
    let mut decoder =
        MpaDecoder::try_new(&params, &DecoderOptions::default()).map_err(map_symphonia_error)?;

    let mut samples = Vec::new();
    let mut stream_format: Option<(u32, u16)> = None;
    let mut interleaved: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            // The end of the bytes, possibly in the middle of a frame.
            Err(SymphoniaError::IoError(_)) => break,
            Err(error) => return Err(map_symphonia_error(error)),
        };
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A corrupt frame is skipped, as players do; the next one may decode.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(error) => return Err(map_symphonia_error(error)),
        };
        let spec = *decoded.spec();
        let channels = u16::try_from(spec.channels.count()).unwrap_or(u16::MAX);
        match stream_format {
            None => {
                check_sample_rate(spec.rate)?;
                stream_format = Some((spec.rate, channels));
            }
            Some((rate, _)) if rate != spec.rate => {
                return Err(AudioError::UnsupportedSampleRate(spec.rate));
            }
            Some(_) => {}
        }
        if channels == 0 {
            return Err(AudioError::UnsupportedChannels(0));
        }
        let buffer = match &mut interleaved {
            Some(buffer) if buffer.capacity() >= decoded.capacity() * usize::from(channels) => {
                buffer
            }
            slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buffer.copy_interleaved_ref(decoded);
        let scale = 1.0 / f32::from(channels);
        samples.extend(
            buffer
                .samples()
                .chunks_exact(usize::from(channels))
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
    }

    let Some((sample_rate_hz, source_channels)) = stream_format else {
        return Err(AudioError::Mp3Decode("no decodable frame".to_owned()));
    };
    Ok(DecodedAudio {
        samples,
        sample_rate_hz,
        source_channels,
        format: AudioFormat::Mp3,
    })
}

fn map_symphonia_error(error: SymphoniaError) -> AudioError {
    match error {
        SymphoniaError::IoError(_) => AudioError::Mp3Decode("no complete MPEG frame".to_owned()),
        other => AudioError::Mp3Decode(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
