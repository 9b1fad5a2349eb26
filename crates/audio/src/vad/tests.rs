//! Detection on a speech-like signal (harmonic voice with syllable envelopes) in steady white and
//! pink noise at several SNRs and all call-path rates; silence on noise alone.

use super::*;
use crate::test_support::{Phrase, mix_at_snr, pink_noise, speech_like, white_noise};

const RATES: [u32; 4] = [8_000, 16_000, 24_000, 48_000];
const FRAME_S: f64 = 0.020;
const DURATION_S: f64 = 9.0;
const PHRASES: [Phrase; 2] = [
    Phrase {
        start_s: 1.3,
        end_s: 3.1,
    },
    Phrase {
        start_s: 4.5,
        end_s: 7.4,
    },
];
/// Speech level: active RMS of a voice at a normal telephone level.
const SPEECH_DBFS: f64 = -22.0;
/// How early or late a reported start may be against the true first sound of a phrase. Syllables
/// fade in, so the first 20 ms frame above the margin comes a little after the first sample.
const START_TOLERANCE_S: (f64, f64) = (0.04, 0.12);
/// How early or late a reported end may be against the true last sound. The last syllable fades
/// out into the noise, so the end is found early rather than late.
const END_TOLERANCE_S: (f64, f64) = (0.2, 0.06);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Noise {
    White,
    Pink,
}

fn noise(kind: Noise, seed: u64, len: usize) -> Vec<f64> {
    match kind {
        Noise::White => white_noise(seed, len),
        Noise::Pink => pink_noise(seed, len),
    }
}

/// Pushes `signal` frame by frame; returns (frame at which the event was reported, event).
fn detect(vad: &mut Vad, signal: &[f32]) -> Result<Vec<(u64, VadEvent)>, AudioError> {
    let mut events = Vec::new();
    for frame in signal.chunks_exact(vad.frame_len()) {
        let at = vad.frames_seen();
        if let Some(event) = vad.push_f32(frame)? {
            events.push((at, event));
        }
    }
    Ok(events)
}

/// The first and last audible sample of each phrase in the clean speech, in seconds.
fn true_extents(speech: &[f64], rate: u32) -> Vec<(f64, f64)> {
    let peak = speech.iter().fold(0.0_f64, |peak, s| peak.max(s.abs()));
    PHRASES
        .iter()
        .map(|phrase| {
            let first = (phrase.start_s * f64::from(rate)) as usize;
            let last = (phrase.end_s * f64::from(rate)) as usize;
            let audible: Vec<usize> = (first..last)
                .filter(|&n| speech[n].abs() > 1e-3 * peak)
                .collect();
            let to_s = |n: usize| n as f64 / f64::from(rate);
            (
                to_s(audible.first().copied().unwrap_or(first)),
                to_s(audible.last().copied().unwrap_or(last)),
            )
        })
        .collect()
}

fn assert_detects_the_phrases(
    rate: u32,
    kind: Noise,
    snr_db: Option<f64>,
) -> Result<(), AudioError> {
    let label = format!("{rate} Hz, {kind:?} noise, SNR {snr_db:?} dB");
    let speech = speech_like(7, rate, DURATION_S, &PHRASES);
    let background = noise(kind, 99, speech.len());
    let signal = mix_at_snr(&speech, &background, &PHRASES, rate, SPEECH_DBFS, snr_db);
    let mut vad = Vad::new(rate, VadConfig::default())?;
    let events = detect(&mut vad, &signal)?;
    let extents = true_extents(&speech, rate);

    assert_eq!(events.len(), 4, "{label}: {events:?}");
    for (phrase, pair) in extents.iter().zip(events.chunks_exact(2)) {
        let (true_start, true_end) = *phrase;
        let [(started_at, started), (ended_at, ended)] = [pair[0], pair[1]];
        let VadEvent::SpeechStarted { frame: start } = started else {
            panic!("{label}: expected a start, got {started:?}");
        };
        let VadEvent::SpeechEnded { frame: end } = ended else {
            panic!("{label}: expected an end, got {ended:?}");
        };
        let start_s = start as f64 * FRAME_S;
        let end_s = end as f64 * FRAME_S;
        assert!(
            start_s >= true_start - START_TOLERANCE_S.0
                && start_s <= true_start + START_TOLERANCE_S.1,
            "{label}: start at {start_s:.2} s, speech from {true_start:.2} s"
        );
        assert!(
            end_s >= true_end - END_TOLERANCE_S.0 && end_s <= true_end + END_TOLERANCE_S.1,
            "{label}: end at {end_s:.2} s, speech until {true_end:.2} s"
        );
        // Reported once enough speech (200 ms) or silence (600 ms) has been seen, not later.
        assert!(
            started_at >= start + 9 && started_at <= start + 15,
            "{label}: {pair:?}"
        );
        assert_eq!(ended_at, end + 29, "{label}: {pair:?}");
    }
    Ok(())
}

#[test]
fn detects_phrases_in_clean_audio_at_every_rate() -> Result<(), AudioError> {
    for rate in RATES {
        assert_detects_the_phrases(rate, Noise::White, None)?;
    }
    Ok(())
}

#[test]
fn detects_phrases_in_white_noise() -> Result<(), AudioError> {
    for rate in RATES {
        for snr in [30.0, 20.0, 10.0] {
            assert_detects_the_phrases(rate, Noise::White, Some(snr))?;
        }
    }
    Ok(())
}

#[test]
fn detects_phrases_in_pink_noise() -> Result<(), AudioError> {
    for rate in RATES {
        for snr in [30.0, 20.0, 10.0] {
            assert_detects_the_phrases(rate, Noise::Pink, Some(snr))?;
        }
    }
    Ok(())
}

#[test]
fn steady_noise_alone_is_never_speech() -> Result<(), AudioError> {
    for rate in [8_000, 48_000] {
        for kind in [Noise::White, Noise::Pink] {
            for level_dbfs in [-70.0, -50.0, -30.0, -15.0] {
                let gain = 10.0_f64.powf(level_dbfs / 20.0);
                let signal: Vec<f32> = noise(kind, 5, rate as usize * 20)
                    .iter()
                    .map(|n| (n * gain) as f32)
                    .collect();
                let mut vad = Vad::new(rate, VadConfig::default())?;
                let events = detect(&mut vad, &signal)?;
                assert!(
                    events.is_empty(),
                    "{rate} Hz {kind:?} at {level_dbfs} dBFS: {events:?}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn a_lasting_rise_of_the_noise_is_learnt_as_background() -> Result<(), AudioError> {
    // Steady noise at -50 dBFS that jumps by 20 dB after 3 s, as when a fan starts.
    let rate = 16_000;
    let step_at = 3 * rate as usize;
    let signal: Vec<f32> = white_noise(21, 12 * rate as usize)
        .iter()
        .enumerate()
        .map(|(n, x)| (x * if n < step_at { 0.003 } else { 0.03 }) as f32)
        .collect();
    let mut vad = Vad::new(rate, VadConfig::default())?;
    let events = detect(&mut vad, &signal)?;
    // The jump is taken for speech at first, but learnt as background within the floor window
    // (1.5 s), so the "speech" ends and is reported 0.6 s later; nothing follows.
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].1, VadEvent::SpeechStarted { frame: 150 });
    let (ended_at, VadEvent::SpeechEnded { .. }) = events[1] else {
        panic!("expected an end: {events:?}");
    };
    assert!(
        ended_at as f64 * FRAME_S <= 3.0 + 1.5 + 0.6 + 0.1,
        "{events:?}"
    );
    assert!(!vad.is_speaking());
    Ok(())
}

#[test]
fn digital_silence_is_never_speech() -> Result<(), AudioError> {
    let mut vad = Vad::new(16_000, VadConfig::default())?;
    let frame = vec![0_i16; vad.frame_len()];
    for _ in 0..500 {
        assert_eq!(vad.push_i16(&frame)?, None);
    }
    assert_eq!(vad.noise_floor_dbfs(), Some(-100.0));
    Ok(())
}

#[test]
fn speech_from_the_first_frame_is_found() -> Result<(), AudioError> {
    let phrases = [Phrase {
        start_s: 0.0,
        end_s: 2.5,
    }];
    let speech = speech_like(3, 16_000, 4.0, &phrases);
    let background = white_noise(4, speech.len());
    let signal = mix_at_snr(
        &speech,
        &background,
        &phrases,
        16_000,
        SPEECH_DBFS,
        Some(20.0),
    );
    let mut vad = Vad::new(16_000, VadConfig::default())?;
    let events = detect(&mut vad, &signal)?;
    let starts: Vec<_> = events
        .iter()
        .filter(|(_, event)| matches!(event, VadEvent::SpeechStarted { .. }))
        .collect();
    assert_eq!(starts.len(), 1, "{events:?}");
    assert!(starts[0].0 < 40, "found only at frame {}", starts[0].0);
    assert!(matches!(
        events.last(),
        Some((_, VadEvent::SpeechEnded { .. }))
    ));
    Ok(())
}

#[test]
fn i16_and_f32_frames_give_the_same_events() -> Result<(), AudioError> {
    let speech = speech_like(11, 8_000, DURATION_S, &PHRASES);
    let background = pink_noise(12, speech.len());
    let signal = mix_at_snr(
        &speech,
        &background,
        &PHRASES,
        8_000,
        SPEECH_DBFS,
        Some(20.0),
    );
    let as_i16 = pcm::f32_to_i16(&signal);
    let mut by_f32 = Vad::new(8_000, VadConfig::default())?;
    let mut by_i16 = Vad::new(8_000, VadConfig::default())?;
    let expected = detect(&mut by_f32, &pcm::i16_to_f32(&as_i16))?;
    let mut events = Vec::new();
    for frame in as_i16.chunks_exact(by_i16.frame_len()) {
        if let Some(event) = by_i16.push_i16(frame)? {
            events.push((by_i16.frames_seen() - 1, event));
        }
    }
    assert_eq!(events, expected);
    assert_eq!(events.len(), 4);
    Ok(())
}

#[test]
fn reset_forgets_the_state() -> Result<(), AudioError> {
    let speech = speech_like(
        1,
        8_000,
        3.0,
        &[Phrase {
            start_s: 0.5,
            end_s: 2.5,
        }],
    );
    let signal: Vec<f32> = speech.iter().map(|&s| (s * 0.1) as f32).collect();
    let mut vad = Vad::new(8_000, VadConfig::default())?;
    for frame in signal[..8_000 * 2].chunks_exact(vad.frame_len()) {
        vad.push_f32(frame)?;
    }
    assert!(vad.is_speaking());
    vad.reset();
    assert!(!vad.is_speaking());
    assert_eq!(vad.frames_seen(), 0);
    assert_eq!(vad.noise_floor_dbfs(), None);
    Ok(())
}

#[test]
fn wrong_frame_lengths_and_settings_are_rejected() -> Result<(), AudioError> {
    let mut vad = Vad::new(24_000, VadConfig::default())?;
    assert_eq!(vad.frame_len(), 480);
    assert_eq!(
        vad.push_i16(&[0; 160]),
        Err(AudioError::FrameLength {
            expected: 480,
            actual: 160
        })
    );
    assert!(Vad::new(11_025, VadConfig::default()).is_err());
    for config in [
        VadConfig {
            start_ms: 0,
            ..VadConfig::default()
        },
        VadConfig {
            hold_margin_db: 12.0,
            ..VadConfig::default()
        },
        VadConfig {
            onset_margin_db: f32::NAN,
            ..VadConfig::default()
        },
        VadConfig {
            floor_window_ms: 400,
            ..VadConfig::default()
        },
    ] {
        assert!(matches!(
            Vad::new(8_000, config),
            Err(AudioError::InvalidConfig(_))
        ));
    }
    Ok(())
}
