//! Linear PCM representations: 16-bit little-endian bytes, `i16` samples and `f32` samples.
//!
//! Scaling between `i16` and `f32` divides and multiplies by 32768, so `i16` maps onto
//! `[-1.0, 1.0)` exactly and converting back is lossless. On the way back `f32` values are
//! rounded to the nearest integer and clipped to the `i16` range; NaN becomes 0.

use crate::AudioError;

/// The factor between full-scale `f32` (1.0) and `i16` samples.
pub const I16_SCALE: f32 = 32768.0;

/// Converts PCM16 little-endian bytes (as sent by browsers and most telephony streams) to samples.
///
/// # Errors
///
/// `AudioError::OddByteLength` when `bytes` has an odd length.
pub fn pcm16le_to_i16(bytes: &[u8]) -> Result<Vec<i16>, AudioError> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    pcm16le_to_i16_into(bytes, &mut out)?;
    Ok(out)
}

/// Converts PCM16 little-endian bytes to samples, appending to `out`.
///
/// # Errors
///
/// `AudioError::OddByteLength` when `bytes` has an odd length; `out` is left untouched then.
pub fn pcm16le_to_i16_into(bytes: &[u8], out: &mut Vec<i16>) -> Result<(), AudioError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(AudioError::OddByteLength(bytes.len()));
    }
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
    );
    Ok(())
}

/// Converts samples to PCM16 little-endian bytes.
#[must_use]
pub fn i16_to_pcm16le(samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    i16_to_pcm16le_into(samples, &mut out);
    out
}

/// Converts samples to PCM16 little-endian bytes, appending to `out`.
pub fn i16_to_pcm16le_into(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
}

/// Converts one `i16` sample to `f32` in `[-1.0, 1.0)`.
#[inline]
#[must_use]
pub fn i16_sample_to_f32(sample: i16) -> f32 {
    f32::from(sample) / I16_SCALE
}

/// Converts one `f32` sample to `i16`: scaled by 32768, rounded, clipped; NaN gives 0.
#[inline]
#[must_use]
pub fn f32_sample_to_i16(sample: f32) -> i16 {
    let scaled = (sample * I16_SCALE).round();
    // `as` saturates at the i16 bounds and maps NaN to 0, which is exactly the clipping wanted.
    scaled as i16
}

/// Converts `i16` samples to `f32` (see the module documentation for the scaling).
#[must_use]
pub fn i16_to_f32(samples: &[i16]) -> Vec<f32> {
    samples
        .iter()
        .map(|&sample| i16_sample_to_f32(sample))
        .collect()
}

/// Converts `f32` samples to `i16`, clipping out-of-range values.
#[must_use]
pub fn f32_to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&sample| f32_sample_to_i16(sample))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_little_endian() -> Result<(), AudioError> {
        let samples = [0_i16, 1, -1, 0x1234, i16::MIN, i16::MAX];
        let bytes = i16_to_pcm16le(&samples);
        assert_eq!(&bytes[..8], &[0, 0, 1, 0, 0xFF, 0xFF, 0x34, 0x12]);
        assert_eq!(pcm16le_to_i16(&bytes)?, samples);
        Ok(())
    }

    #[test]
    fn odd_byte_length_is_an_error() {
        assert_eq!(
            pcm16le_to_i16(&[1, 2, 3]),
            Err(AudioError::OddByteLength(3))
        );
        let mut out = vec![5];
        assert!(pcm16le_to_i16_into(&[1], &mut out).is_err());
        assert_eq!(out, [5]);
    }

    #[test]
    fn every_i16_survives_the_f32_round_trip() {
        for sample in i16::MIN..=i16::MAX {
            let as_float = i16_sample_to_f32(sample);
            assert!((-1.0..1.0).contains(&as_float));
            assert_eq!(f32_sample_to_i16(as_float), sample);
        }
    }

    #[test]
    fn f32_to_i16_clips_and_rounds() {
        assert_eq!(
            f32_to_i16(&[
                1.0,
                2.0,
                -1.0,
                -7.5,
                0.5 / I16_SCALE,
                -0.4 / I16_SCALE,
                f32::NAN
            ]),
            [i16::MAX, i16::MAX, i16::MIN, i16::MIN, 1, 0, 0]
        );
        assert_eq!(
            f32_to_i16(&[f32::INFINITY, f32::NEG_INFINITY]),
            [i16::MAX, i16::MIN]
        );
        assert_eq!(i16_to_f32(&[i16::MIN, 16384]), [-1.0, 0.5]);
    }
}
