//! Audio the fakes speak and tests check: the recognisable tone fake text-to-speech answers with
//! ([`FAKE_TTS_TONE_HZ`], [`fake_tts_samples`]), tones to stand in for a caller's speech
//! ([`tone`], [`silence`]), a way to tell which tone a stream of samples carries
//! ([`dominant_frequency`]), and G.711 µ-law encoding written independently of the audio crate,
//! so a fake does not share a bug with the adapter it tests.

/// The pitch of every fake text-to-speech answer, in hertz.
pub const FAKE_TTS_TONE_HZ: f32 = 440.0;
/// The peak of every fake text-to-speech answer.
pub const FAKE_TTS_AMPLITUDE: i16 = 8000;
/// How long fake speech lasts per character of text, in milliseconds.
pub const FAKE_TTS_MS_PER_CHAR: u32 = 8;
/// The shortest fake speech, in milliseconds.
pub const FAKE_TTS_MIN_MS: u32 = 100;

/// How long the fakes speak `text`: [`FAKE_TTS_MS_PER_CHAR`] per character, at least
/// [`FAKE_TTS_MIN_MS`].
#[must_use]
pub fn fake_tts_duration_ms(text: &str) -> u32 {
    let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    chars
        .saturating_mul(FAKE_TTS_MS_PER_CHAR)
        .max(FAKE_TTS_MIN_MS)
}

/// The samples the fakes speak `text` as, at `rate_hz`: the fake tone for
/// [`fake_tts_duration_ms`].
#[must_use]
pub fn fake_tts_samples(text: &str, rate_hz: u32) -> Vec<i16> {
    tone(
        FAKE_TTS_TONE_HZ,
        fake_tts_duration_ms(text),
        rate_hz,
        FAKE_TTS_AMPLITUDE,
    )
}

/// A sine of `freq_hz` lasting `ms` at `rate_hz`, peaking at `amplitude`, starting at phase 0.
#[must_use]
pub fn tone(freq_hz: f32, ms: u32, rate_hz: u32, amplitude: i16) -> Vec<i16> {
    let count = u64::from(rate_hz) * u64::from(ms) / 1000;
    let step = 2.0 * std::f64::consts::PI * f64::from(freq_hz) / f64::from(rate_hz.max(1));
    (0..count)
        .map(|n| {
            // Within ±amplitude, so the cast cannot truncate.
            ((n as f64 * step).sin() * f64::from(amplitude)).round() as i16
        })
        .collect()
}

/// `ms` of digital silence at `rate_hz`.
#[must_use]
pub fn silence(ms: u32, rate_hz: u32) -> Vec<i16> {
    let count = u64::from(rate_hz) * u64::from(ms) / 1000;
    vec![0; usize::try_from(count).unwrap_or(0)]
}

/// The frequency of the tone `samples` carry, in hertz, from its zero crossings (each period of
/// a sine crosses zero twice), measured from the first crossing to the last so that silence
/// around the tone does not count. Meant for clean tones like the fakes' answers: noise or a
/// mixture gives a meaningless number. 0 when there are fewer than two crossings.
#[must_use]
pub fn dominant_frequency(samples: &[i16], rate_hz: u32) -> f32 {
    let mut first = None;
    let mut last = 0;
    let mut crossings = 0_u32;
    let mut previous: Option<bool> = None;
    for (index, &sample) in samples.iter().enumerate() {
        // Exact zeros (the start of a sine, µ-law's quietest steps) take the previous sign, so a
        // crossing through 0 counts once.
        if sample == 0 {
            continue;
        }
        let positive = sample > 0;
        if previous.is_some_and(|p| p != positive) {
            crossings += 1;
            first.get_or_insert(index);
            last = index;
        }
        previous = Some(positive);
    }
    match first {
        Some(first) if crossings >= 2 && last > first => {
            let seconds = (last - first) as f32 / rate_hz.max(1) as f32;
            (crossings - 1) as f32 / 2.0 / seconds
        }
        _ => 0.0,
    }
}

/// The root-mean-square level of `samples`, in the units of the samples (a sine of amplitude
/// `a` gives about `a / √2`).
#[must_use]
pub fn rms(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len() as f64).sqrt() as f32
}

/// G.711 µ-law encoding of one sample (the classic Sun reference algorithm: bias 0x84, clip at
/// 32635, bits inverted).
#[must_use]
pub fn mulaw_encode_sample(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let value = i32::from(sample);
    let sign = if value < 0 { 0x80 } else { 0 };
    let magnitude = value.abs().min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && magnitude & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    // Sign, exponent and mantissa fill exactly the eight bits kept.
    !(sign | (exponent << 4) | mantissa) as u8
}

/// G.711 µ-law encoding of `samples`, one byte each.
#[must_use]
pub fn mulaw_encode(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| mulaw_encode_sample(s)).collect()
}

/// PCM16 little-endian bytes of `samples`.
#[must_use]
pub fn pcm16le(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Where to cut `len` bytes into pieces for sending: several (4 to 64, about 1 KiB each), the
/// first of odd length when it can be, so a 2-byte sample straddles two pieces.
fn piece_bounds(len: usize) -> Vec<usize> {
    let pieces = (len / 1024).clamp(4, 64).min(len.max(1));
    let mut bounds: Vec<usize> = (0..=pieces).map(|i| i * len / pieces).collect();
    if bounds.len() > 2 && bounds[1].is_multiple_of(2) && bounds[1] + 1 < bounds[2] {
        bounds[1] += 1;
    }
    bounds
}

pub(crate) fn audio_pieces(bytes: &[u8]) -> Vec<&[u8]> {
    piece_bounds(bytes.len())
        .windows(2)
        .map(|w| &bytes[w[0]..w[1]])
        .filter(|piece| !piece.is_empty())
        .collect()
}

/// A mono 16-bit PCM WAV file of `samples` at `rate_hz`, written by hand (not by the code under
/// test) for uploads.
#[must_use]
pub fn wav_file(samples: &[i16], rate_hz: u32) -> Vec<u8> {
    let data = pcm16le(samples);
    let data_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16_u32.to_le_bytes());
    wav.extend_from_slice(&1_u16.to_le_bytes());
    wav.extend_from_slice(&1_u16.to_le_bytes());
    wav.extend_from_slice(&rate_hz.to_le_bytes());
    wav.extend_from_slice(&(rate_hz * 2).to_le_bytes());
    wav.extend_from_slice(&2_u16.to_le_bytes());
    wav.extend_from_slice(&16_u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tones_are_recognised_at_every_rate() {
        for rate in [8_000, 16_000, 22_050, 24_000, 44_100, 48_000] {
            for freq in [200.0, 440.0, 1000.0] {
                let samples = tone(freq, 200, rate, 8000);
                assert_eq!(samples.len(), rate as usize / 5);
                let found = dominant_frequency(&samples, rate);
                assert!(
                    (found - freq).abs() < freq * 0.03,
                    "{freq} at {rate}: {found}"
                );
            }
        }
        assert_eq!(dominant_frequency(&silence(100, 8000), 8000), 0.0);
        // Silence around a tone does not lower its pitch.
        let mut padded = silence(300, 16_000);
        padded.extend(tone(300.0, 200, 16_000, 8000));
        padded.extend(silence(500, 16_000));
        let found = dominant_frequency(&padded, 16_000);
        assert!((found - 300.0).abs() < 6.0, "{found}");
        assert_eq!(dominant_frequency(&[], 8000), 0.0);
    }

    #[test]
    fn fake_speech_lasts_by_the_character() {
        assert_eq!(fake_tts_duration_ms("hi"), FAKE_TTS_MIN_MS);
        assert_eq!(fake_tts_duration_ms(&"x".repeat(50)), 400);
        assert_eq!(fake_tts_samples(&"x".repeat(50), 8000).len(), 3200);
        let level = rms(&fake_tts_samples("hello", 16_000));
        assert!((level - 8000.0 / 2_f32.sqrt()).abs() < 100.0, "{level}");
    }

    #[test]
    fn pieces_are_several_cover_everything_and_start_odd() {
        for len in [1, 2, 5, 800, 4800, 38_400, 1_000_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let cut = audio_pieces(&bytes);
            assert_eq!(cut.concat(), bytes, "{len}");
            if len >= 8 {
                assert!(cut.len() >= 4, "{len}: {}", cut.len());
                assert_eq!(cut[0].len() % 2, 1, "{len}");
            }
            assert!(cut.len() <= 64);
        }
    }

    #[test]
    fn mulaw_matches_g711() {
        // Reference points of G.711 µ-law: zero, the extremes, and a mid-segment value.
        assert_eq!(mulaw_encode_sample(0), 0xFF);
        assert_eq!(mulaw_encode_sample(-1), 0x7F);
        assert_eq!(mulaw_encode_sample(i16::MAX), 0x80);
        assert_eq!(mulaw_encode_sample(i16::MIN), 0x00);
        assert_eq!(mulaw_encode_sample(1000), 0xCE);
        assert_eq!(mulaw_encode_sample(-1000), 0x4E);
    }
}
