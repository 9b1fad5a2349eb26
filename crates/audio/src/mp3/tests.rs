//! MP3 decoding on hand-built streams of silent frames, and the ways a stream can be broken.

use super::*;
use crate::decode_audio_file;
use crate::test_support::{SilentFrame, id3v2_tag};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn assert_silent_stream(decoded: &DecodedAudio, layout: SilentFrame, frames: usize) {
    assert_eq!(decoded.format, AudioFormat::Mp3);
    assert_eq!(decoded.sample_rate_hz, layout.sample_rate_hz());
    let per_frame = layout.samples_per_frame();
    // The decoder may hold back one frame of its bit reservoir at the start of a stream.
    let len = decoded.samples.len();
    assert!(
        ((frames - 1) * per_frame..=frames * per_frame).contains(&len),
        "{layout:?}: {len} samples from {frames} frames"
    );
    assert!(decoded.samples.iter().all(|sample| sample.abs() < 1e-6));
}

#[test]
fn decodes_hand_built_silent_streams() -> TestResult {
    for (layout, channels) in [
        (SilentFrame::Mpeg1Mono48k, 1),
        (SilentFrame::Mpeg1Stereo44k, 2),
        (SilentFrame::Mpeg2Mono24k, 1),
    ] {
        let decoded = decode_audio_file(&layout.stream(20))?;
        assert_silent_stream(&decoded, layout, 20);
        assert_eq!(decoded.source_channels, channels, "{layout:?}");
    }
    Ok(())
}

#[test]
fn skips_leading_id3v2_tags() -> TestResult {
    let mut bytes = id3v2_tag(300);
    bytes.extend(id3v2_tag(0));
    bytes.extend(SilentFrame::Mpeg1Mono48k.stream(10));
    assert_silent_stream(&decode_mp3(&bytes)?, SilentFrame::Mpeg1Mono48k, 10);
    Ok(())
}

#[test]
fn a_stream_cut_mid_frame_decodes_its_complete_frames() -> TestResult {
    let bytes = SilentFrame::Mpeg1Mono48k.stream(8);
    let cut = &bytes[..bytes.len() - 100];
    assert_silent_stream(&decode_mp3(cut)?, SilentFrame::Mpeg1Mono48k, 7);
    Ok(())
}

#[test]
fn a_stream_without_a_complete_frame_is_an_error() {
    let frame = SilentFrame::Mpeg1Mono48k.bytes();
    for keep in [4, 20, frame.len() - 1] {
        assert!(
            matches!(decode_mp3(&frame[..keep]), Err(AudioError::Mp3Decode(_))),
            "{keep} bytes"
        );
    }
}

#[test]
fn a_truncated_id3_tag_is_truncated() {
    let tag = id3v2_tag(100);
    assert_eq!(decode_mp3(&tag[..50]), Err(AudioError::Truncated));
    assert_eq!(decode_mp3(&tag[..5]), Err(AudioError::Truncated));
    // A complete tag followed by nothing has no audio.
    assert!(matches!(decode_mp3(&tag), Err(AudioError::Mp3Decode(_))));
}

#[test]
fn only_layer_iii_headers_are_recognised() {
    assert!(looks_like_mp3(&SilentFrame::Mpeg2Mono24k.bytes()));
    // Layer II (0xFD), reserved version (0xEB), free and bad bit rates, reserved sample rate.
    for header in [
        [0xFF, 0xFD, 0x54, 0xC0],
        [0xFF, 0xEB, 0x54, 0xC0],
        [0xFF, 0xFB, 0x04, 0xC0],
        [0xFF, 0xFB, 0xF4, 0xC0],
        [0xFF, 0xFB, 0x5C, 0xC0],
        [0xFF, 0xFB, 0x54, 0xC2],
        [0xFE, 0xFB, 0x54, 0xC0],
    ] {
        assert!(!looks_like_mp3(&header), "{header:02x?}");
        assert_eq!(decode_mp3(&header), Err(AudioError::UnsupportedFormat));
    }
    assert!(!looks_like_mp3(&[0xFF, 0xFB]));
}
