//! Format sniffing and robustness of `decode_audio_file` against garbage, truncation and
//! corruption: every input must give `Ok` or a typed error, never a panic.

use super::*;
use crate::test_support::{Prng, SilentFrame, id3v2_tag, wav_file};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn sniffs_by_content_not_by_name() -> TestResult {
    let wav = wav_file(8_000, 1, 16, false, 80, |_, _| 0.1)?;
    assert_eq!(detect_format(&wav), Some(AudioFormat::Wav));
    assert_eq!(
        detect_format(&SilentFrame::Mpeg1Mono48k.bytes()),
        Some(AudioFormat::Mp3)
    );
    assert_eq!(detect_format(&id3v2_tag(4)), Some(AudioFormat::Mp3));
    for other in [
        &b"OggS\x00\x02"[..],
        b"fLaC\x00\x00\x00\x22",
        b"\x00\x00\x00\x20ftypM4A ",
        b"RIFF\x24\x00\x00\x00AVI LIST",
        b"hello, this is text",
        b"",
    ] {
        assert_eq!(detect_format(other), None);
        assert_eq!(decode_audio_file(other), Err(AudioError::UnsupportedFormat));
    }
    Ok(())
}

/// Valid files to truncate and corrupt.
fn seeds() -> Result<Vec<Vec<u8>>, hound::Error> {
    let mut seeds = vec![
        SilentFrame::Mpeg1Mono48k.stream(6),
        SilentFrame::Mpeg1Stereo44k.stream(3),
        SilentFrame::Mpeg2Mono24k.stream(6),
        [id3v2_tag(16), SilentFrame::Mpeg1Mono48k.stream(3)].concat(),
    ];
    for (bits, float) in [
        (8, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
    ] {
        for channels in [1, 2] {
            seeds.push(wav_file(16_000, channels, bits, float, 64, |n, _| {
                (n as f64 * 0.1).sin() * 0.5
            })?);
        }
    }
    Ok(seeds)
}

#[test]
fn random_truncated_and_corrupted_input_never_panics() -> TestResult {
    let mut prng = Prng::new(0x5EED_F00D);
    let seeds = seeds()?;
    let mut outcomes = [0_usize; 2];
    let mut record = |bytes: &[u8]| {
        let ok = decode_audio_file(bytes).is_ok();
        outcomes[usize::from(ok)] += 1;
    };

    // Pure noise, with and without a plausible magic number in front.
    for _ in 0..3_000 {
        let len = prng.below(600);
        let mut bytes: Vec<u8> = (0..len).map(|_| prng.next_u64() as u8).collect();
        match prng.below(4) {
            0 if bytes.len() >= 12 => {
                bytes[..4].copy_from_slice(b"RIFF");
                bytes[8..12].copy_from_slice(b"WAVE");
            }
            1 if bytes.len() >= 4 => bytes[..4].copy_from_slice(&[0xFF, 0xFB, 0x54, 0xC0]),
            2 if bytes.len() >= 3 => bytes[..3].copy_from_slice(b"ID3"),
            _ => {}
        }
        record(&bytes);
    }

    for seed in &seeds {
        // Every prefix.
        for keep in 0..seed.len() {
            record(&seed[..keep]);
        }
        // Random byte corruption, concentrated on the headers where parsing decisions are made.
        for _ in 0..400 {
            let mut bytes = seed.clone();
            for _ in 0..=prng.below(6) {
                let span = if prng.below(2) == 0 { 64 } else { bytes.len() };
                let at = prng.below(span.min(bytes.len()));
                bytes[at] = prng.next_u64() as u8;
            }
            let keep = bytes.len() - prng.below(bytes.len() / 4 + 1);
            record(&bytes[..keep]);
        }
    }
    // Both outcomes occur, so the loops exercised the decoders and not only the sniffer.
    assert!(outcomes[0] > 1_000 && outcomes[1] > 100, "{outcomes:?}");
    Ok(())
}
