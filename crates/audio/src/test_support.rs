//! Deterministic test material shared by the unit tests: a small PRNG, tones, noise, a
//! speech-like signal and hand-built WAV and MP3 files, so no test depends on recorded audio or
//! extra crates.

use std::f64::consts::PI;
use std::io::Cursor;

/// SplitMix64: tiny, deterministic and good enough for test noise and fuzz inputs.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Uniform in `0..bound`.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound.max(1) as u64) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// A sine of `frequency_hz` and `amplitude`, `len` samples long.
pub fn sine(frequency_hz: f64, sample_rate_hz: u32, amplitude: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| {
            let t = n as f64 / f64::from(sample_rate_hz);
            (amplitude * (2.0 * PI * frequency_hz * t).sin()) as f32
        })
        .collect()
}

/// Gaussian white noise with unit power.
pub fn white_noise(seed: u64, len: usize) -> Vec<f64> {
    let mut prng = Prng::new(seed);
    (0..len).map(|_| prng.gaussian()).collect()
}

/// Pink (1/f) noise from white noise through Paul Kellet's filter, normalised to unit power.
pub fn pink_noise(seed: u64, len: usize) -> Vec<f64> {
    let white = white_noise(seed, len);
    let mut b = [0.0_f64; 7];
    let mut pink: Vec<f64> = white
        .iter()
        .map(|&w| {
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.1538520;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let out = b.iter().sum::<f64>() + w * 0.5362;
            b[6] = w * 0.115926;
            out
        })
        .collect();
    let power = mean_power(&pink);
    let scale = 1.0 / power.sqrt();
    pink.iter_mut().for_each(|sample| *sample *= scale);
    pink
}

pub fn mean_power(samples: &[f64]) -> f64 {
    samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64
}

/// A stretch of the speech-like test signal.
#[derive(Debug, Clone, Copy)]
pub struct Phrase {
    pub start_s: f64,
    pub end_s: f64,
}

/// A voiced, speech-like signal: a harmonic series on a gliding pitch of 100-220 Hz, shaped by
/// syllables of 120-300 ms with short gaps (30-90 ms) and an occasional word gap of 150-250 ms,
/// active only inside `phrases`. Returns unit-peak samples; `0.0` outside the phrases.
pub fn speech_like(
    seed: u64,
    sample_rate_hz: u32,
    duration_s: f64,
    phrases: &[Phrase],
) -> Vec<f64> {
    let rate = f64::from(sample_rate_hz);
    let len = (duration_s * rate) as usize;
    let mut prng = Prng::new(seed);
    let mut envelope = vec![0.0_f64; len];
    for phrase in phrases {
        let mut t = phrase.start_s;
        while t < phrase.end_s {
            let syllable = (0.12 + 0.18 * prng.unit()).min(phrase.end_s - t);
            let peak = 0.6 + 0.4 * prng.unit();
            let first = (t * rate) as usize;
            let count = (syllable * rate) as usize;
            for n in 0..count {
                if let Some(slot) = envelope.get_mut(first + n) {
                    // A raised sine: syllables rise and fall smoothly from and to zero.
                    let phase = PI * n as f64 / count as f64;
                    *slot = peak * phase.sin().powf(0.7);
                }
            }
            let gap = if prng.unit() < 0.2 {
                0.15 + 0.10 * prng.unit()
            } else {
                0.03 + 0.06 * prng.unit()
            };
            t += syllable + gap;
        }
    }
    let harmonics_below = (3_400.0_f64).min(rate / 2.0 - 200.0);
    let mut phase = 0.0_f64;
    (0..len)
        .map(|n| {
            let t = n as f64 / rate;
            let pitch = 160.0 + 60.0 * (2.0 * PI * 0.7 * t).sin();
            phase += 2.0 * PI * pitch / rate;
            let mut voiced = 0.0;
            let mut k = 1.0_f64;
            while k * pitch < harmonics_below {
                // A falling spectral tilt with a formant-like bump near 500 Hz.
                let frequency = k * pitch;
                let weight = 1.0 / k + 0.8 * (-((frequency - 500.0) / 250.0).powi(2)).exp();
                voiced += weight * (k * phase).sin();
                k += 1.0;
            }
            envelope[n] * voiced
        })
        .collect()
}

/// `speech` with `noise` added so that the speech's power over `phrases` is `snr_db` above the
/// noise power, the sum scaled so the speech's active power is `speech_dbfs` dBFS.
pub fn mix_at_snr(
    speech: &[f64],
    noise: &[f64],
    phrases: &[Phrase],
    sample_rate_hz: u32,
    speech_dbfs: f64,
    snr_db: Option<f64>,
) -> Vec<f32> {
    let rate = f64::from(sample_rate_hz);
    let mut active = Vec::new();
    for phrase in phrases {
        let first = (phrase.start_s * rate) as usize;
        let last = ((phrase.end_s * rate) as usize).min(speech.len());
        active.extend_from_slice(&speech[first.min(last)..last]);
    }
    let speech_power = mean_power(&active).max(1e-30);
    let speech_gain = (10.0_f64.powf(speech_dbfs / 10.0) / speech_power).sqrt();
    let noise_gain = match snr_db {
        Some(snr) => {
            let target = 10.0_f64.powf((speech_dbfs - snr) / 10.0);
            (target / mean_power(noise).max(1e-30)).sqrt()
        }
        None => 0.0,
    };
    speech
        .iter()
        .zip(noise)
        .map(|(s, n)| (s * speech_gain + n * noise_gain) as f32)
        .collect()
}

/// A WAV file written by `hound` whose channel `c` at frame `n` is `signal(n, c)` in
/// `[-1.0, 1.0]`, quantised to `bits` (integer) or stored as 32-bit float.
pub fn wav_file(
    sample_rate_hz: u32,
    channels: u16,
    bits: u16,
    float: bool,
    frames: usize,
    signal: impl Fn(usize, u16) -> f64,
) -> Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: sample_rate_hz,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut cursor = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec)?;
    for n in 0..frames {
        for channel in 0..channels {
            let value = signal(n, channel);
            if float {
                writer.write_sample(value as f32)?;
            } else {
                writer.write_sample(quantise(value, bits))?;
            }
        }
    }
    writer.finalize()?;
    Ok(cursor.into_inner())
}

/// `value` in `[-1.0, 1.0]` as a `bits`-wide integer, the way a WAV writer would store it.
pub fn quantise(value: f64, bits: u16) -> i32 {
    let full_scale = (1_i64 << (bits - 1)) as f64;
    (value * full_scale)
        .round()
        .clamp(-full_scale, full_scale - 1.0) as i32
}

/// The layouts of hand-built MP3 frames of digital silence.
#[derive(Debug, Clone, Copy)]
pub enum SilentFrame {
    /// MPEG-1 Layer III, 48 kHz, 64 kbit/s, mono: 192 bytes, 1152 samples.
    Mpeg1Mono48k,
    /// MPEG-1 Layer III, 44.1 kHz, 128 kbit/s, stereo: 417 bytes, 1152 samples.
    Mpeg1Stereo44k,
    /// MPEG-2 Layer III, 24 kHz, 32 kbit/s, mono: 96 bytes, 576 samples.
    Mpeg2Mono24k,
}

impl SilentFrame {
    pub fn samples_per_frame(self) -> usize {
        match self {
            Self::Mpeg1Mono48k | Self::Mpeg1Stereo44k => 1152,
            Self::Mpeg2Mono24k => 576,
        }
    }

    pub fn sample_rate_hz(self) -> u32 {
        match self {
            Self::Mpeg1Mono48k => 48_000,
            Self::Mpeg1Stereo44k => 44_100,
            Self::Mpeg2Mono24k => 24_000,
        }
    }

    /// One frame: a valid header, then side information and main data all zero. Zero side
    /// information means no main data, zero big values and a global gain of zero, which a
    /// conforming decoder renders as silence.
    pub fn bytes(self) -> Vec<u8> {
        let (header, frame_len): ([u8; 4], usize) = match self {
            // sync + MPEG-1 + Layer III + no CRC; 64 kbit/s (index 5), 48 kHz (index 1); mono.
            Self::Mpeg1Mono48k => ([0xFF, 0xFB, 0x54, 0xC0], 144 * 64_000 / 48_000),
            // 128 kbit/s (index 9), 44.1 kHz (index 0), no padding; stereo.
            Self::Mpeg1Stereo44k => ([0xFF, 0xFB, 0x90, 0x00], 144 * 128_000 / 44_100),
            // sync + MPEG-2 + Layer III + no CRC; 32 kbit/s (index 4), 24 kHz (index 1); mono.
            Self::Mpeg2Mono24k => ([0xFF, 0xF3, 0x44, 0xC0], 72 * 32_000 / 24_000),
        };
        let mut frame = vec![0_u8; frame_len];
        frame[..4].copy_from_slice(&header);
        frame
    }

    pub fn stream(self, frames: usize) -> Vec<u8> {
        self.bytes().repeat(frames)
    }
}

/// An ID3v2.4 tag with `payload_len` zero bytes of payload.
pub fn id3v2_tag(payload_len: u32) -> Vec<u8> {
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    for shift in [21, 14, 7, 0] {
        tag.push(((payload_len >> shift) & 0x7F) as u8);
    }
    tag.extend(std::iter::repeat_n(0_u8, payload_len as usize));
    tag
}
