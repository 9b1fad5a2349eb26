//! Resampling quality (frequency, SNR against an ideal sine, anti-aliasing) and streaming
//! behaviour (chunked input equals one call, lengths, reuse).

use std::f64::consts::PI;

use super::*;
use crate::test_support::{Prng, sine};

const RATES: [u32; 4] = [8_000, 16_000, 24_000, 48_000];
/// Skipped at both ends of a test tone: the tone starts and stops abruptly, and the filter's
/// response to those edges (its length is one 20 ms chunk) is not part of the steady state.
const EDGE_MS: usize = 30;
/// The required signal-to-noise ratio of a converted tone against the ideal tone. The FFT
/// converter reaches 115-135 dB here; 90 dB leaves room for other FFT code paths (SIMD).
const MIN_SNR_DB: f64 = 90.0;

/// Frequency from the upward zero crossings, located to a fraction of a sample.
fn zero_crossing_frequency(samples: &[f32], sample_rate_hz: u32) -> f64 {
    let mut crossings = Vec::new();
    for n in 1..samples.len() {
        let (a, b) = (f64::from(samples[n - 1]), f64::from(samples[n]));
        if a < 0.0 && b >= 0.0 {
            crossings.push((n - 1) as f64 + a / (a - b));
        }
    }
    let (Some(first), Some(last)) = (crossings.first(), crossings.last()) else {
        return 0.0;
    };
    (crossings.len() - 1) as f64 / (last - first) * f64::from(sample_rate_hz)
}

/// SNR of `output` against the ideal tone, over the samples away from the edges.
fn snr_db(output: &[f32], frequency_hz: f64, amplitude: f64, rate: u32) -> f64 {
    let edge = rate as usize * EDGE_MS / 1000;
    let mut signal = 0.0;
    let mut noise = 0.0;
    for (n, &sample) in output
        .iter()
        .enumerate()
        .take(output.len() - edge)
        .skip(edge)
    {
        let ideal = amplitude * (2.0 * PI * frequency_hz * n as f64 / f64::from(rate)).sin();
        signal += ideal * ideal;
        noise += (f64::from(sample) - ideal).powi(2);
    }
    10.0 * (signal / noise.max(1e-30)).log10()
}

fn rms(samples: &[f32]) -> f64 {
    let power = samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
    (power / samples.len().max(1) as f64).sqrt()
}

#[test]
fn tones_keep_their_frequency_and_purity_between_every_pair() -> Result<(), AudioError> {
    for from in RATES {
        for to in RATES {
            let nyquist = f64::from(from.min(to)) / 2.0;
            // Low, middle and near the top of the narrower band (3 kHz of a 4 kHz band).
            for frequency in [440.0, 1_000.0, 0.75 * nyquist] {
                let input = sine(frequency, from, 0.5, from as usize);
                let output = resample(&input, from, to)?;
                assert_eq!(output.len(), to as usize, "{from}->{to}");
                let measured = zero_crossing_frequency(&output, to);
                assert!(
                    (measured - frequency).abs() < frequency * 1e-4,
                    "{from}->{to}: {frequency} Hz came out at {measured} Hz"
                );
                let snr = snr_db(&output, frequency, 0.5, to);
                assert!(
                    snr > MIN_SNR_DB,
                    "{from}->{to} at {frequency} Hz: SNR {snr:.1} dB"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn frequencies_above_the_new_nyquist_are_removed() -> Result<(), AudioError> {
    // 6 kHz fits 48 kHz and 24 kHz but not 8 kHz (Nyquist 4 kHz); it must not alias to 2 kHz.
    for from in [48_000, 24_000] {
        let input = sine(6_000.0, from, 0.5, from as usize);
        let output = resample(&input, from, 8_000)?;
        let edge = 8_000 * EDGE_MS / 1000;
        let level = rms(&output[edge..output.len() - edge]) / (0.5 / 2.0_f64.sqrt());
        assert!(
            20.0 * level.log10() < -50.0,
            "{from}->8000: 6 kHz leaks at {:.1} dB",
            20.0 * level.log10()
        );
    }
    Ok(())
}

#[test]
fn streaming_in_20ms_frames_equals_one_call() -> Result<(), AudioError> {
    for from in RATES {
        for to in RATES {
            // 1.01 s, so the stream does not end on a chunk boundary.
            let input = sine(700.0, from, 0.4, from as usize * 101 / 100);
            let whole = resample(&input, from, to)?;

            let mut streaming = StreamResampler::new(from, to)?;
            let mut joined = Vec::new();
            for frame in input.chunks(from as usize / 50) {
                joined.extend(streaming.process(frame)?);
            }
            joined.extend(streaming.flush()?);
            assert_eq!(joined, whole, "{from}->{to}");
        }
    }
    Ok(())
}

#[test]
fn arbitrary_chunk_sizes_equal_one_call() -> Result<(), AudioError> {
    let mut prng = Prng::new(42);
    let input = sine(300.0, 24_000, 0.3, 30_000);
    let whole = resample(&input, 24_000, 8_000)?;
    let mut streaming = StreamResampler::new(24_000, 8_000)?;
    let mut joined = Vec::new();
    let mut offset = 0;
    while offset < input.len() {
        let size = prng.below(1500).min(input.len() - offset);
        streaming.process_into(&input[offset..offset + size], &mut joined)?;
        offset += size;
    }
    streaming.flush_into(&mut joined)?;
    assert_eq!(joined.len(), 10_000);
    assert_eq!(joined, whole);
    Ok(())
}

#[test]
fn output_length_is_the_rounded_up_rate_ratio() -> Result<(), AudioError> {
    for (len, from, to, expected) in [
        (0, 8_000, 16_000, 0),
        (1, 8_000, 16_000, 2),
        (100, 24_000, 8_000, 34),
        (160, 8_000, 48_000, 960),
        (12_345, 16_000, 24_000, 18_518),
        (441, 44_100, 16_000, 160),
    ] {
        let output = resample(&vec![0.1; len], from, to)?;
        assert_eq!(output.len(), expected, "{len} samples {from}->{to}");
    }
    Ok(())
}

#[test]
fn flush_readies_the_converter_for_a_new_stream() -> Result<(), AudioError> {
    let input = sine(500.0, 16_000, 0.5, 5_000);
    let mut resampler = StreamResampler::new(16_000, 8_000)?;
    let mut first = resampler.process(&input)?;
    first.extend(resampler.flush()?);
    let mut second = resampler.process(&input)?;
    second.extend(resampler.flush()?);
    assert_eq!(first, second);

    resampler.process(&input[..1234])?;
    resampler.reset();
    let mut third = resampler.process(&input)?;
    third.extend(resampler.flush()?);
    assert_eq!(first, third);
    Ok(())
}

#[test]
fn equal_rates_pass_through() -> Result<(), AudioError> {
    let input = sine(500.0, 16_000, 0.5, 333);
    let mut resampler = StreamResampler::new(16_000, 16_000)?;
    assert!(resampler.is_passthrough());
    assert_eq!(resampler.process(&input)?, input);
    assert!(resampler.flush()?.is_empty());
    Ok(())
}

#[test]
fn chunks_are_20ms_for_the_call_path_rates() -> Result<(), AudioError> {
    for (from, to, chunk) in [
        (8_000, 16_000, 160),
        (24_000, 8_000, 480),
        (48_000, 16_000, 960),
        (16_000, 24_000, 320),
    ] {
        assert_eq!(StreamResampler::new(from, to)?.chunk_len(), chunk);
    }
    Ok(())
}

#[test]
fn unsupported_rates_are_rejected() {
    assert_eq!(
        StreamResampler::new(0, 8_000).map(|_| ()),
        Err(AudioError::UnsupportedSampleRate(0))
    );
    assert_eq!(
        resample(&[0.0], 8_000, 1_000_000),
        Err(AudioError::UnsupportedSampleRate(1_000_000))
    );
}
