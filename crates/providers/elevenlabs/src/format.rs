//! The audio ElevenLabs is asked for and how its bytes become samples: the `output_format` that
//! needs no resampling for the rate the caller will play at, and a decoder that turns the
//! network's byte chunks into PCM16 samples whatever their boundaries.

use switchboard_audio::codec::mulaw;

/// An `output_format` the adapter asks for: headerless PCM16 little-endian at a rate, or G.711
/// µ-law at 8 kHz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Pcm(u32),
    Ulaw8000,
}

impl OutputFormat {
    /// The rate PCM falls back to when the caller's rate is not one ElevenLabs produces.
    const FALLBACK_RATE_HZ: u32 = 24_000;

    /// The format that plays at `sample_rate_hz` without resampling: µ-law for 8 kHz (what
    /// telephony carries, and available on every plan), the matching PCM rate for the others
    /// ElevenLabs produces, PCM at 24 kHz for any other rate (the session resamples it).
    pub(crate) fn for_rate(sample_rate_hz: u32) -> Self {
        match sample_rate_hz {
            8_000 => Self::Ulaw8000,
            16_000 | 22_050 | 24_000 | 44_100 | 48_000 => Self::Pcm(sample_rate_hz),
            _ => Self::Pcm(Self::FALLBACK_RATE_HZ),
        }
    }

    /// The value of the `output_format` query parameter.
    pub(crate) fn query_value(self) -> String {
        match self {
            Self::Pcm(rate) => format!("pcm_{rate}"),
            Self::Ulaw8000 => "ulaw_8000".to_owned(),
        }
    }

    /// The rate of the samples the decoder yields.
    pub(crate) fn sample_rate_hz(self) -> u32 {
        match self {
            Self::Pcm(rate) => rate,
            Self::Ulaw8000 => 8_000,
        }
    }
}

/// Turns chunks of encoded audio into samples. A PCM16 sample can be split across two network
/// chunks (HTTP chunks and WebSocket messages fall where they fall), so an odd trailing byte is
/// carried over to the next chunk.
#[derive(Debug)]
pub(crate) struct Decoder {
    format: OutputFormat,
    carry: Option<u8>,
}

impl Decoder {
    pub(crate) fn new(format: OutputFormat) -> Self {
        Self {
            format,
            carry: None,
        }
    }

    /// The samples `bytes` complete; empty when they complete none.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<i16> {
        match self.format {
            OutputFormat::Ulaw8000 => mulaw::decode(bytes),
            OutputFormat::Pcm(_) => {
                let mut samples = Vec::with_capacity(bytes.len().div_ceil(2));
                let mut rest = bytes;
                if let Some(low) = self.carry.take() {
                    let Some((&high, tail)) = rest.split_first() else {
                        self.carry = Some(low);
                        return samples;
                    };
                    samples.push(i16::from_le_bytes([low, high]));
                    rest = tail;
                }
                let mut pairs = rest.chunks_exact(2);
                samples.extend(
                    pairs
                        .by_ref()
                        .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
                );
                self.carry = pairs.remainder().first().copied();
                samples
            }
        }
    }

    /// Whether half a sample is waiting for its other byte (at the end of the audio it is
    /// dropped: half a sample cannot be played).
    pub(crate) fn has_carry(&self) -> bool {
        self.carry.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_chosen_to_need_no_resampling() {
        assert_eq!(OutputFormat::for_rate(8_000), OutputFormat::Ulaw8000);
        assert_eq!(OutputFormat::for_rate(8_000).query_value(), "ulaw_8000");
        assert_eq!(OutputFormat::for_rate(8_000).sample_rate_hz(), 8_000);
        for rate in [16_000, 22_050, 24_000, 44_100, 48_000] {
            assert_eq!(OutputFormat::for_rate(rate), OutputFormat::Pcm(rate));
            assert_eq!(
                OutputFormat::for_rate(rate).query_value(),
                format!("pcm_{rate}")
            );
        }
        for rate in [0, 11_025, 32_000, 96_000] {
            assert_eq!(OutputFormat::for_rate(rate), OutputFormat::Pcm(24_000));
        }
    }

    #[test]
    fn pcm_samples_split_across_chunks_are_carried_over() {
        let samples: Vec<i16> = vec![1, -2, 300, -32768, 32767, 0x1234];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        for split in [
            &[1_usize, 2, 3, 1, 5][..],
            &[3, 3, 3, 3],
            &[11, 1],
            &[0, 12],
        ] {
            let mut decoder = Decoder::new(OutputFormat::Pcm(16_000));
            let mut out = Vec::new();
            let mut at = 0;
            for &n in split {
                out.extend(decoder.push(&bytes[at..at + n]));
                at += n;
            }
            assert_eq!(out, samples, "split {split:?}");
            assert!(!decoder.has_carry());
        }
        let mut decoder = Decoder::new(OutputFormat::Pcm(16_000));
        assert!(decoder.push(&[7]).is_empty());
        assert!(decoder.push(&[]).is_empty());
        assert!(decoder.has_carry());
        assert_eq!(decoder.push(&[0]), [7]);
    }

    #[test]
    fn ulaw_bytes_are_samples() {
        let mut decoder = Decoder::new(OutputFormat::Ulaw8000);
        // 0xFF and 0x7F are µ-law's two zeros; 0x00 and 0x80 its extremes.
        assert_eq!(decoder.push(&[0xFF, 0x7F]), [0, 0]);
        let extremes = decoder.push(&[0x00, 0x80]);
        assert!(
            extremes[0] < -30_000 && extremes[1] > 30_000,
            "{extremes:?}"
        );
        assert!(!decoder.has_carry());
    }
}
