//! Benchmarks of the per-call DSP work for one second of audio: G.711 mu-law, resampling in 20 ms
//! frames, and voice activity detection.

use std::f32::consts::PI;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_audio::codec::mulaw;
use switchboard_audio::resample::StreamResampler;
use switchboard_audio::vad::{Vad, VadConfig};

/// One second of a 440 Hz tone with a little deterministic noise, at `rate`.
fn one_second(rate: u32) -> Vec<f32> {
    let mut state = 0x2545_F491_u32;
    (0..rate)
        .map(|n| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state as f32 / u32::MAX as f32 - 0.5) * 0.01;
            0.3 * (2.0 * PI * 440.0 * n as f32 / rate as f32).sin() + noise
        })
        .collect()
}

fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| (s * 32767.0).round() as i16)
        .collect()
}

fn codec(c: &mut Criterion) {
    let pcm = to_i16(&one_second(8_000));
    let mut codes = Vec::with_capacity(pcm.len());
    let mut decoded = Vec::with_capacity(pcm.len());
    c.bench_function("mulaw encode+decode 1 s @ 8 kHz", |b| {
        b.iter(|| {
            codes.clear();
            decoded.clear();
            mulaw::encode_into(black_box(&pcm), &mut codes);
            mulaw::decode_into(&codes, &mut decoded);
            black_box(&decoded);
        });
    });
}

fn resampling(c: &mut Criterion) {
    for (from, to) in [(8_000, 16_000), (24_000, 8_000)] {
        let input = one_second(from);
        let frame = from as usize / 50;
        let Ok(mut resampler) = StreamResampler::new(from, to) else {
            return;
        };
        let mut out = Vec::with_capacity(to as usize + 1024);
        c.bench_function(&format!("resample 1 s {from}->{to} in 20 ms frames"), |b| {
            b.iter(|| {
                out.clear();
                for chunk in input.chunks(frame) {
                    let _ = resampler.process_into(black_box(chunk), &mut out);
                }
                black_box(&out);
            });
        });
    }
}

fn vad(c: &mut Criterion) {
    for rate in [8_000, 16_000] {
        let input = to_i16(&one_second(rate));
        let Ok(mut vad) = Vad::new(rate, VadConfig::default()) else {
            return;
        };
        let frame = vad.frame_len();
        c.bench_function(&format!("vad 1 s @ {} kHz", rate / 1000), |b| {
            b.iter(|| {
                for chunk in input.chunks_exact(frame) {
                    let _ = black_box(vad.push_i16(black_box(chunk)));
                }
            });
        });
    }
}

criterion_group!(benches, codec, resampling, vad);
criterion_main!(benches);
