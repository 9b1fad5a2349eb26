//! ITU-T G.711 companding: mu-law (North America, Japan; Twilio media streams) and A-law (rest of
//! the world), between 8-bit codes and 16-bit linear PCM.
//!
//! Both follow the ITU-T G.191 software tool library, the ITU's reference implementation of
//! G.711: decoding yields the midpoint of each quantisation interval scaled to 16 bits, and
//! encoding maps a negative sample `x` through its one's complement (`-x - 1`), so the quantiser
//! is symmetric about -0.5 as two's-complement input requires.

pub mod alaw;
pub mod mulaw;

#[cfg(test)]
mod tests;
