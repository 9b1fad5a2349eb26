//! G.711 A-law: 8-bit codes <-> 16-bit linear PCM.
//!
//! Decoding goes through a 256-entry table; encoding finds the segment with `leading_zeros`.

/// The 16-bit value of every A-law code, indexed by code.
const DECODE_TABLE: [i16; 256] = build_decode_table();

/// A-law inverts every even bit on the line to keep idle channels from sending long runs of zeros.
const EVEN_BIT_INVERSION: u8 = 0x55;

const fn decode_formula(code: u8) -> i16 {
    // G.191 `alaw_expand`.
    let bits = (code ^ EVEN_BIT_INVERSION) & 0x7F;
    let exponent = (bits >> 4) as i32;
    let mut mantissa = (bits & 0x0F) as i32;
    if exponent > 0 {
        // Segments above the first carry an implicit leading one.
        mantissa += 16;
    }
    // Left-justify to 16 bits and add half a quantisation step (the interval midpoint).
    let mut magnitude = (mantissa << 4) + 8;
    if exponent > 1 {
        magnitude <<= exponent - 1;
    }
    if code > 0x7F {
        magnitude as i16
    } else {
        -magnitude as i16
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

/// Decodes one A-law code to 16-bit linear PCM (range -32256..=32256, never 0).
#[inline]
#[must_use]
pub fn decode_sample(code: u8) -> i16 {
    DECODE_TABLE[usize::from(code)]
}

/// Encodes one 16-bit linear PCM sample to A-law; magnitudes beyond the top segment clip.
#[inline]
#[must_use]
pub fn encode_sample(sample: i16) -> u8 {
    let value = i32::from(sample);
    // 12-bit magnitude (A-law is defined on 13-bit signed input); one's complement for negatives
    // keeps the quantiser symmetric (see the module documentation of `codec`).
    let (magnitude, sign) = if value < 0 {
        (((!value) >> 4).unsigned_abs(), 0x00_u32)
    } else {
        ((value >> 4).unsigned_abs(), 0x80_u32)
    };
    let code = if magnitude < 16 {
        // Segment 0 is linear: the magnitude is the code.
        magnitude
    } else {
        // `magnitude` is in 16..=2047, so its highest set bit is 4..=10 and the segment 1..=7.
        let segment = 31 - magnitude.leading_zeros() - 3;
        let step = (magnitude >> (segment - 1)) & 0x0F;
        (segment << 4) | step
    };
    ((sign | code) as u8) ^ EVEN_BIT_INVERSION
}

/// Encodes PCM samples to A-law codes.
#[must_use]
pub fn encode(samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len());
    encode_into(samples, &mut out);
    out
}

/// Encodes PCM samples to A-law codes, appending to `out` so a caller can reuse one buffer.
pub fn encode_into(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&sample| encode_sample(sample)));
}

/// Decodes A-law codes to PCM samples.
#[must_use]
pub fn decode(codes: &[u8]) -> Vec<i16> {
    let mut out = Vec::with_capacity(codes.len());
    decode_into(codes, &mut out);
    out
}

/// Decodes A-law codes to PCM samples, appending to `out` so a caller can reuse one buffer.
pub fn decode_into(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&code| decode_sample(code)));
}
