//! WAV reading over every supported rate, depth and channel count, writing, and malformed files.

use std::f64::consts::PI;

use super::*;
use crate::decode_audio_file;
use crate::test_support::{quantise, wav_file};

const RATES: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];
/// (bits, float) of every supported encoding.
const ENCODINGS: [(u16, bool); 5] = [
    (8, false),
    (16, false),
    (24, false),
    (32, false),
    (32, true),
];

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Left: 440 Hz at half scale; right: 660 Hz at a quarter scale.
fn tone(rate: u32) -> impl Fn(usize, u16) -> f64 {
    move |n, channel| {
        let t = n as f64 / f64::from(rate);
        if channel == 0 {
            0.5 * (2.0 * PI * 440.0 * t).sin()
        } else {
            0.25 * (2.0 * PI * 660.0 * t).sin()
        }
    }
}

/// The byte offset of the first chunk with this id.
fn chunk_offset(bytes: &[u8], id: &[u8; 4]) -> usize {
    let mut offset = 12;
    while offset + 8 <= bytes.len() {
        let len = u32::from_le_bytes([
            bytes[offset + 4],
            bytes[offset + 5],
            bytes[offset + 6],
            bytes[offset + 7],
        ]) as usize;
        if &bytes[offset..offset + 4] == id {
            return offset;
        }
        offset += 8 + len + len % 2;
    }
    panic!("chunk {id:?} not found");
}

fn patch_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn patch_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn mono_16bit(frames: usize) -> Result<Vec<u8>, hound::Error> {
    wav_file(16_000, 1, 16, false, frames, tone(16_000))
}

#[test]
fn reads_every_rate_depth_and_channel_count() -> TestResult {
    let mut files = 0;
    for rate in RATES {
        for channels in [1_u16, 2] {
            for (bits, float) in ENCODINGS {
                let frames = rate as usize / 20;
                let signal = tone(rate);
                let bytes = wav_file(rate, channels, bits, float, frames, &signal)?;
                let decoded = decode_audio_file(&bytes)?;
                let label = format!("{rate} Hz, {channels} ch, {bits} bit, float {float}");
                assert_eq!(decoded.format, AudioFormat::Wav, "{label}");
                assert_eq!(decoded.sample_rate_hz, rate, "{label}");
                assert_eq!(decoded.source_channels, channels, "{label}");
                assert_eq!(decoded.samples.len(), frames, "{label}");
                let step = if float {
                    1e-6
                } else {
                    1.0 / (1_u64 << (bits - 1)) as f64
                };
                for (n, &sample) in decoded.samples.iter().enumerate() {
                    let stored = |channel| {
                        let value = signal(n, channel);
                        if float {
                            f64::from(value as f32)
                        } else {
                            f64::from(quantise(value, bits)) * step
                        }
                    };
                    let expected = (0..channels).map(stored).sum::<f64>() / f64::from(channels);
                    assert!(
                        (f64::from(sample) - expected).abs() < 1e-6,
                        "{label}: sample {n} is {sample}, expected {expected}"
                    );
                }
                files += 1;
            }
        }
    }
    assert_eq!(files, 60);
    Ok(())
}

#[test]
fn mono_16bit_round_trips_exactly() -> TestResult {
    let samples: Vec<i16> = (0..4000)
        .map(|n| ((n * 7919) % 65536 - 32768) as i16)
        .collect();
    let bytes = write_wav_mono(&samples, 8_000)?;
    let decoded = read_wav(&bytes)?;
    assert_eq!(decoded.sample_rate_hz, 8_000);
    assert_eq!(decoded.source_channels, 1);
    assert_eq!(decoded.to_i16(), samples);
    assert_eq!(decoded.duration(), std::time::Duration::from_millis(500));
    Ok(())
}

#[test]
fn stereo_writer_interleaves_and_pads_the_shorter_channel() -> TestResult {
    let left = [1000_i16, 2000, 3000];
    let right = [-1000_i16];
    let bytes = write_wav_stereo(&left, &right, 24_000)?;
    let mut reader = hound::WavReader::new(std::io::Cursor::new(&bytes))?;
    assert_eq!(reader.spec().channels, 2);
    assert_eq!(reader.spec().bits_per_sample, 16);
    let raw = reader.samples::<i16>().collect::<Result<Vec<_>, _>>()?;
    assert_eq!(raw, [1000, -1000, 2000, 0, 3000, 0]);
    assert_eq!(read_wav(&bytes)?.to_i16(), [0, 1000, 1500]);
    Ok(())
}

#[test]
fn an_empty_data_chunk_is_no_samples() -> TestResult {
    let decoded = read_wav(&write_wav_mono(&[], 16_000)?)?;
    assert!(decoded.samples.is_empty());
    Ok(())
}

#[test]
fn writing_rejects_unsupported_rates() {
    assert_eq!(
        write_wav_mono(&[0], 1_000_000),
        Err(AudioError::UnsupportedSampleRate(1_000_000))
    );
}

#[test]
fn a_file_cut_inside_the_data_is_truncated() -> TestResult {
    let bytes = mono_16bit(800)?;
    for keep in [bytes.len() - 1, bytes.len() - 2, bytes.len() / 2] {
        assert_eq!(
            read_wav(&bytes[..keep]),
            Err(AudioError::Truncated),
            "{keep} bytes"
        );
    }
    Ok(())
}

#[test]
fn a_file_cut_inside_the_header_is_an_error() -> TestResult {
    let bytes = mono_16bit(10)?;
    let data = chunk_offset(&bytes, b"data");
    for keep in 12..data + 8 {
        assert!(read_wav(&bytes[..keep]).is_err(), "{keep} bytes");
    }
    assert_eq!(read_wav(&bytes[..30]), Err(AudioError::Truncated));
    Ok(())
}

#[test]
fn a_data_length_beyond_the_file_is_truncated_without_allocating_it() -> TestResult {
    let mut bytes = mono_16bit(100)?;
    let data = chunk_offset(&bytes, b"data");
    patch_u32(&mut bytes, data + 4, u32::MAX - 1);
    assert_eq!(read_wav(&bytes), Err(AudioError::Truncated));
    patch_u32(&mut bytes, data + 4, 202);
    assert_eq!(read_wav(&bytes), Err(AudioError::Truncated));
    Ok(())
}

#[test]
fn streamed_headers_without_a_length_are_read_to_the_end() -> TestResult {
    let original = mono_16bit(100)?;
    let expected = read_wav(&original)?.to_i16();
    let data = chunk_offset(&original, b"data");
    for placeholder in [u32::MAX, 0] {
        let mut bytes = original.clone();
        patch_u32(&mut bytes, data + 4, placeholder);
        patch_u32(&mut bytes, 4, placeholder);
        assert_eq!(
            read_wav(&bytes)?.to_i16(),
            expected,
            "placeholder {placeholder:#x}"
        );
        // A stream cut mid-sample keeps its whole samples.
        bytes.pop();
        assert_eq!(
            read_wav(&bytes)?.to_i16(),
            expected[..99],
            "placeholder {placeholder:#x}, cut"
        );
    }
    Ok(())
}

#[test]
fn zero_channels_is_an_invalid_header() -> TestResult {
    let mut bytes = mono_16bit(100)?;
    let fmt = chunk_offset(&bytes, b"fmt ");
    patch_u16(&mut bytes, fmt + 10, 0);
    assert!(matches!(
        read_wav(&bytes),
        Err(AudioError::InvalidHeader { format: "WAV", .. })
    ));
    Ok(())
}

#[test]
fn absurd_sample_rates_are_rejected() -> TestResult {
    for rate in [0_u32, 1, 4_000, 400_000, 1_000_000_000] {
        let mut bytes = mono_16bit(100)?;
        let fmt = chunk_offset(&bytes, b"fmt ");
        // Keep the byte rate consistent so the rate itself is what gets rejected.
        patch_u32(&mut bytes, fmt + 12, rate);
        patch_u32(&mut bytes, fmt + 16, rate.wrapping_mul(2));
        let result = read_wav(&bytes);
        assert!(
            matches!(
                result,
                Err(AudioError::UnsupportedSampleRate(_) | AudioError::InvalidHeader { .. })
            ),
            "{rate} Hz gave {result:?}"
        );
    }
    // An inconsistent byte rate is caught as a header error.
    let mut bytes = mono_16bit(100)?;
    let fmt = chunk_offset(&bytes, b"fmt ");
    patch_u32(&mut bytes, fmt + 12, 7);
    assert!(matches!(
        read_wav(&bytes),
        Err(AudioError::InvalidHeader { .. })
    ));
    Ok(())
}

#[test]
fn compressed_wav_is_an_unsupported_encoding() -> TestResult {
    let mut bytes = mono_16bit(100)?;
    let fmt = chunk_offset(&bytes, b"fmt ");
    // Format tag 2 is Microsoft ADPCM.
    patch_u16(&mut bytes, fmt + 8, 2);
    assert!(matches!(
        read_wav(&bytes),
        Err(AudioError::UnsupportedEncoding(_))
    ));
    Ok(())
}

#[test]
fn too_many_channels_are_rejected() -> TestResult {
    let bytes = wav_file(8_000, 9, 16, false, 10, |_, _| 0.0)?;
    assert_eq!(read_wav(&bytes), Err(AudioError::UnsupportedChannels(9)));
    Ok(())
}

#[test]
fn non_wav_bytes_are_an_unsupported_format() {
    assert_eq!(
        read_wav(b"OggS\0\0\0\0\0\0\0\0"),
        Err(AudioError::UnsupportedFormat)
    );
    assert_eq!(read_wav(b""), Err(AudioError::UnsupportedFormat));
}
