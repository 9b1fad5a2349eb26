//! Conformance of both G.711 laws against tables derived independently from the standard's
//! segment definitions (decision levels and step sizes), plus well-known spot values.

use super::{alaw, mulaw};

/// One quantisation interval of a law, in the law's native magnitude units.
#[derive(Clone, Copy)]
struct Interval {
    /// The 7-bit segment/step index (sign excluded), before any line inversion.
    index: u8,
    /// Lowest input magnitude mapped to this interval.
    lower: i32,
    /// The decoded output, already scaled to 16 bits.
    output_16bit: i32,
}

/// Mu-law in 14-bit magnitudes: segment k has 16 steps of 2^(k+1); segment 0 starts at -1 so its
/// first interval is [-1, 1), of which only [0, 1) exists for magnitudes.
fn mulaw_intervals() -> Vec<Interval> {
    let mut intervals = Vec::new();
    let mut segment_start = -1;
    for segment in 0..8_u8 {
        let step = 2 << segment;
        for q in 0..16_u8 {
            let lower = segment_start + step * i32::from(q);
            intervals.push(Interval {
                index: (segment << 4) | q,
                lower: lower.max(0),
                output_16bit: 4 * (lower + step / 2),
            });
        }
        segment_start += 16 * step;
    }
    assert_eq!(segment_start, 8159, "the top decision level of mu-law");
    intervals
}

/// A-law in 12-bit magnitudes: segments 0 and 1 have 16 steps of 1, segment k >= 2 has 16 steps
/// of 2^(k-1) starting at 2^(k+3).
fn alaw_intervals() -> Vec<Interval> {
    let mut intervals = Vec::new();
    for segment in 0..8_u8 {
        let (start, step) = match segment {
            0 => (0, 1),
            1 => (16, 1),
            k => (1 << (k + 3), 1 << (k - 1)),
        };
        for q in 0..16_u8 {
            let lower = start + step * i32::from(q);
            intervals.push(Interval {
                index: (segment << 4) | q,
                lower,
                output_16bit: 16 * lower + 8 * step,
            });
        }
    }
    intervals
}

fn mulaw_code(positive: bool, index: u8) -> u8 {
    // Mu-law transmits segment and step inverted, sign set for positive values.
    (if positive { 0x80 } else { 0x00 }) | (0x7F - index)
}

fn alaw_code(positive: bool, index: u8) -> u8 {
    ((if positive { 0x80 } else { 0x00 }) | index) ^ 0x55
}

/// The interval holding `magnitude`: the last one whose lower edge it reaches.
fn quantise(intervals: &[Interval], magnitude: i32) -> Interval {
    let mut chosen = intervals[0];
    for interval in intervals {
        if interval.lower <= magnitude {
            chosen = *interval;
        }
    }
    chosen
}

/// Magnitude of a 16-bit sample after dropping `shift` low bits; negative samples go through
/// their one's complement as G.191 does.
fn magnitude(sample: i16, shift: u32) -> (bool, i32) {
    let value = i32::from(sample);
    if value >= 0 {
        (true, value >> shift)
    } else {
        (false, (-value - 1) >> shift)
    }
}

fn reference_mulaw_decode() -> [i32; 256] {
    let mut table = [0; 256];
    for interval in mulaw_intervals() {
        table[usize::from(mulaw_code(true, interval.index))] = interval.output_16bit;
        table[usize::from(mulaw_code(false, interval.index))] = -interval.output_16bit;
    }
    table
}

fn reference_alaw_decode() -> [i32; 256] {
    let mut table = [0; 256];
    for interval in alaw_intervals() {
        table[usize::from(alaw_code(true, interval.index))] = interval.output_16bit;
        table[usize::from(alaw_code(false, interval.index))] = -interval.output_16bit;
    }
    table
}

#[test]
fn mulaw_decodes_every_code_to_the_standard_value() {
    let reference = reference_mulaw_decode();
    for code in 0..=255_u8 {
        assert_eq!(
            i32::from(mulaw::decode_sample(code)),
            reference[usize::from(code)],
            "code {code:#04x}"
        );
    }
}

#[test]
fn alaw_decodes_every_code_to_the_standard_value() {
    let reference = reference_alaw_decode();
    for code in 0..=255_u8 {
        assert_eq!(
            i32::from(alaw::decode_sample(code)),
            reference[usize::from(code)],
            "code {code:#04x}"
        );
    }
}

#[test]
fn decode_matches_well_known_table_entries() {
    // First entries and extremes of the classic ulaw2linear / alaw2linear tables.
    let mulaw_spots = [
        (0x00, -32124),
        (0x01, -31100),
        (0x0F, -16764),
        (0x10, -15996),
        (0x7E, -8),
        (0x7F, 0),
        (0x80, 32124),
        (0xFE, 8),
        (0xFF, 0),
    ];
    for (code, value) in mulaw_spots {
        assert_eq!(mulaw::decode_sample(code), value, "mu-law {code:#04x}");
    }
    let alaw_spots = [
        (0x00, -5504),
        (0x01, -5248),
        (0x2A, -32256),
        (0x55, -8),
        (0x80, 5504),
        (0xAA, 32256),
        (0xD5, 8),
    ];
    for (code, value) in alaw_spots {
        assert_eq!(alaw::decode_sample(code), value, "A-law {code:#04x}");
    }
}

#[test]
fn mulaw_round_trips_every_code_except_negative_zero() {
    for code in 0..=255_u8 {
        let again = mulaw::encode_sample(mulaw::decode_sample(code));
        // 0x7F is negative zero; zero encodes as positive zero.
        let expected = if code == 0x7F { 0xFF } else { code };
        assert_eq!(again, expected, "code {code:#04x}");
    }
}

#[test]
fn alaw_round_trips_every_code() {
    for code in 0..=255_u8 {
        assert_eq!(
            alaw::encode_sample(alaw::decode_sample(code)),
            code,
            "code {code:#04x}"
        );
    }
}

#[test]
fn mulaw_encodes_every_pcm_value_like_the_reference_quantiser() {
    let intervals = mulaw_intervals();
    for sample in i16::MIN..=i16::MAX {
        let (positive, magnitude) = magnitude(sample, 2);
        let expected = mulaw_code(positive, quantise(&intervals, magnitude).index);
        assert_eq!(mulaw::encode_sample(sample), expected, "sample {sample}");
    }
}

#[test]
fn alaw_encodes_every_pcm_value_like_the_reference_quantiser() {
    let intervals = alaw_intervals();
    for sample in i16::MIN..=i16::MAX {
        let (positive, magnitude) = magnitude(sample, 4);
        let expected = alaw_code(positive, quantise(&intervals, magnitude).index);
        assert_eq!(alaw::encode_sample(sample), expected, "sample {sample}");
    }
}

#[test]
fn slice_functions_match_the_sample_functions_and_append() {
    let samples: Vec<i16> = (i16::MIN..=i16::MAX).step_by(97).collect();
    let mu = mulaw::encode(&samples);
    let a = alaw::encode(&samples);
    assert_eq!(mu.len(), samples.len());
    for ((&sample, &m), &al) in samples.iter().zip(&mu).zip(&a) {
        assert_eq!(m, mulaw::encode_sample(sample));
        assert_eq!(al, alaw::encode_sample(sample));
    }
    let mut buffer = vec![0xAB];
    mulaw::encode_into(&samples[..3], &mut buffer);
    assert_eq!(buffer.len(), 4);
    assert_eq!(buffer[0], 0xAB);

    let decoded = mulaw::decode(&mu);
    assert_eq!(decoded.len(), mu.len());
    let mut pcm = vec![7_i16];
    alaw::decode_into(&a, &mut pcm);
    assert_eq!(pcm.len(), a.len() + 1);
    assert_eq!(pcm[1..], alaw::decode(&a)[..]);
}

#[test]
fn quantisation_error_stays_within_half_a_step() {
    // Decoding the encoding of any sample lands in the sample's own interval.
    for sample in i16::MIN..=i16::MAX {
        let mu_error = (i32::from(mulaw::decode_sample(mulaw::encode_sample(sample)))
            - i32::from(sample))
        .abs();
        let a_error =
            (i32::from(alaw::decode_sample(alaw::encode_sample(sample))) - i32::from(sample)).abs();
        // Half the largest step (1024 and 1024 in 16-bit units) plus the clip region beyond the
        // top level (32767 - 32124 for mu-law).
        assert!(mu_error <= 644, "mu-law error {mu_error} at {sample}");
        assert!(a_error <= 1024, "A-law error {a_error} at {sample}");
    }
}
