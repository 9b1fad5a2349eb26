//! G.711 mu-law: 8-bit codes <-> 16-bit linear PCM.
//!
//! Decoding goes through a 256-entry table; encoding finds the segment with `leading_zeros`, so
//! neither direction branches on the segment.

/// The 16-bit value of every mu-law code, indexed by code.
const DECODE_TABLE: [i16; 256] = build_decode_table();

const fn decode_formula(code: u8) -> i16 {
    // G.191 `ulaw_expand`: the code is transmitted with all bits inverted; bit 7 set means positive.
    let inverted = !code;
    let exponent = ((inverted >> 4) & 0x07) as i32;
    let mantissa = (inverted & 0x0F) as i32;
    let step = 4 << (exponent + 1);
    let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
    if code < 0x80 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0_i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = decode_formula(code as u8);
        code += 1;
    }
    table
}

/// Decodes one mu-law code to 16-bit linear PCM (range -32124..=32124).
///
/// Codes `0x7F` and `0xFF` both decode to 0 (negative and positive zero).
#[inline]
#[must_use]
pub fn decode_sample(code: u8) -> i16 {
    DECODE_TABLE[usize::from(code)]
}

/// Encodes one 16-bit linear PCM sample to mu-law; magnitudes beyond the top segment clip.
///
/// Zero encodes to `0xFF`, so of the two zero codes only `0xFF` survives a round trip.
#[inline]
#[must_use]
pub fn encode_sample(sample: i16) -> u8 {
    let value = i32::from(sample);
    // Work on the 14-bit magnitude G.711 defines; the one's complement keeps negative input
    // symmetric with positive input (see the module documentation of `codec`).
    let (magnitude, sign) = if value < 0 {
        ((!value) >> 2, 0x00)
    } else {
        (value >> 2, 0x80)
    };
    // The bias of 33 turns the segment boundaries into powers of two; 0x1FFF is the clip level.
    let biased = (magnitude + 33).min(0x1FFF).unsigned_abs();
    // `biased` is in 33..=8191, so its highest set bit is 5..=12 and the segment 0..=7.
    let segment = 31 - biased.leading_zeros() - 5;
    let step = (biased >> (segment + 1)) & 0x0F;
    // Both fields are transmitted inverted.
    let code = sign | ((7 - segment) << 4) | (15 - step);
    code as u8
}

/// Encodes PCM samples to mu-law codes.
#[must_use]
pub fn encode(samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len());
    encode_into(samples, &mut out);
    out
}

/// Encodes PCM samples to mu-law codes, appending to `out` so a caller can reuse one buffer.
pub fn encode_into(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&sample| encode_sample(sample)));
}

/// Decodes mu-law codes to PCM samples.
#[must_use]
pub fn decode(codes: &[u8]) -> Vec<i16> {
    let mut out = Vec::with_capacity(codes.len());
    decode_into(codes, &mut out);
    out
}

/// Decodes mu-law codes to PCM samples, appending to `out` so a caller can reuse one buffer.
pub fn decode_into(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&code| decode_sample(code)));
}
