//! Streaming sample-rate conversion with `rubato`, for the rate changes of the call path
//! (8 kHz telephony, 16 kHz speech-to-text, 24 kHz text-to-speech, 48 kHz browsers) and any other
//! pair in the supported range.
//!
//! The converter is stateful: audio pushed in pieces of any size gives exactly the samples that
//! one push of the whole signal gives, so 20 ms frames join without clicks. It uses rubato's
//! synchronous FFT resampler (a windowed-sinc anti-aliasing filter applied by overlap-add) on
//! chunks of 20 ms of input, and drops the filter's delay from the start of the output, so output
//! sample `n` lines up with input time `n / to_hz`.

use rubato::{FftFixedInOut, Resampler};

use crate::{AudioError, check_sample_rate};

/// The input duration rubato works on per call; the call path's frame size, so a stream of
/// 20 ms frames is converted as it arrives, without waiting for more.
const CHUNK_MS: u32 = 20;

/// A stateful converter from one sample rate to another.
pub struct StreamResampler {
    from_hz: u32,
    to_hz: u32,
    /// `None` when both rates are equal and samples pass through unchanged.
    engine: Option<Engine>,
}

/// The rubato state plus the input that does not yet fill a chunk.
struct Engine {
    core: Core,
    chunk_in: usize,
    pending: Vec<f32>,
    /// Zeros fed at the end of a stream to push out its last samples.
    silence: Vec<f32>,
    input_total: u64,
}

struct Core {
    resampler: FftFixedInOut<f32>,
    output: Vec<Vec<f32>>,
    delay: usize,
    to_skip: usize,
    output_total: u64,
}

impl Core {
    /// Converts one chunk and appends the result, minus any filter delay still to drop.
    fn run(&mut self, chunk: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let (_, written) = self
            .resampler
            .process_into_buffer(&[chunk], &mut self.output, None)
            .map_err(|error| AudioError::Resample(error.to_string()))?;
        let produced = self
            .output
            .first()
            .map_or(&[][..], |channel| &channel[..written]);
        let skip = self.to_skip.min(produced.len());
        self.to_skip -= skip;
        out.extend_from_slice(&produced[skip..]);
        self.output_total += (produced.len() - skip) as u64;
        Ok(())
    }
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .finish_non_exhaustive()
    }
}

impl StreamResampler {
    /// A converter from `from_hz` to `to_hz`; equal rates pass samples through unchanged.
    ///
    /// # Errors
    ///
    /// `AudioError::UnsupportedSampleRate` when either rate is outside the supported range;
    /// `AudioError::Resample` if rubato cannot build the filter.
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        check_sample_rate(from_hz)?;
        check_sample_rate(to_hz)?;
        if from_hz == to_hz {
            return Ok(Self {
                from_hz,
                to_hz,
                engine: None,
            });
        }
        let wanted_chunk = (from_hz * CHUNK_MS).div_ceil(1000) as usize;
        // Rubato rounds the chunk up to a whole number of the rates' common period.
        let resampler =
            FftFixedInOut::<f32>::new(from_hz as usize, to_hz as usize, wanted_chunk, 1)
                .map_err(|error| AudioError::Resample(error.to_string()))?;
        let chunk_in = resampler.input_frames_next();
        let chunk_out = resampler.output_frames_max();
        let delay = resampler.output_delay();
        Ok(Self {
            from_hz,
            to_hz,
            engine: Some(Engine {
                core: Core {
                    resampler,
                    output: vec![vec![0.0; chunk_out]],
                    delay,
                    to_skip: delay,
                    output_total: 0,
                },
                chunk_in,
                pending: Vec::with_capacity(chunk_in),
                silence: vec![0.0; chunk_in],
                input_total: 0,
            }),
        })
    }

    /// The input rate.
    #[must_use]
    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    /// The output rate.
    #[must_use]
    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Whether the rates are equal and samples pass through unchanged.
    #[must_use]
    pub fn is_passthrough(&self) -> bool {
        self.engine.is_none()
    }

    /// How many input samples are converted at a time; input waits until a chunk is full.
    #[must_use]
    pub fn chunk_len(&self) -> usize {
        self.engine.as_ref().map_or(1, |engine| engine.chunk_in)
    }

    /// Converts `input` and returns the output it completes.
    ///
    /// # Errors
    ///
    /// `AudioError::Resample` if rubato rejects a buffer, which indicates a bug here.
    pub fn process(&mut self, input: &[f32]) -> Result<Vec<f32>, AudioError> {
        let mut out = Vec::new();
        self.process_into(input, &mut out)?;
        Ok(out)
    }

    /// Converts `input`, appending the output it completes to `out`.
    ///
    /// # Errors
    ///
    /// As [`StreamResampler::process`].
    pub fn process_into(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(engine) = &mut self.engine else {
            out.extend_from_slice(input);
            return Ok(());
        };
        engine.input_total += input.len() as u64;
        let mut rest = input;
        if !engine.pending.is_empty() {
            let take = (engine.chunk_in - engine.pending.len()).min(rest.len());
            engine.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if engine.pending.len() < engine.chunk_in {
                return Ok(());
            }
            engine.core.run(&engine.pending, out)?;
            engine.pending.clear();
        }
        let mut chunks = rest.chunks_exact(engine.chunk_in);
        for chunk in &mut chunks {
            engine.core.run(chunk, out)?;
        }
        engine.pending.extend_from_slice(chunks.remainder());
        Ok(())
    }

    /// Ends the stream: returns the remaining output, so that the whole stream produced
    /// `ceil(input_len * to_hz / from_hz)` samples, and makes the converter ready for a new
    /// stream.
    ///
    /// # Errors
    ///
    /// As [`StreamResampler::process`].
    pub fn flush(&mut self) -> Result<Vec<f32>, AudioError> {
        let mut out = Vec::new();
        self.flush_into(&mut out)?;
        Ok(out)
    }

    /// As [`StreamResampler::flush`], appending to `out`.
    ///
    /// # Errors
    ///
    /// As [`StreamResampler::process`].
    pub fn flush_into(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let (from_hz, to_hz) = (self.from_hz, self.to_hz);
        let Some(engine) = &mut self.engine else {
            return Ok(());
        };
        let expected = u128::from(engine.input_total) * u128::from(to_hz);
        let target = u64::try_from(expected.div_ceil(u128::from(from_hz))).unwrap_or(u64::MAX);
        let already = engine.core.output_total;
        let start = out.len();
        if !engine.pending.is_empty() {
            engine.pending.resize(engine.chunk_in, 0.0);
            engine.core.run(&engine.pending, out)?;
        }
        while engine.core.output_total < target {
            engine.core.run(&engine.silence, out)?;
        }
        let wanted = usize::try_from(target.saturating_sub(already)).unwrap_or(usize::MAX);
        out.truncate(start.saturating_add(wanted));
        self.reset();
        Ok(())
    }

    /// Forgets the stream so far (pending input and filter state), for example after barge-in.
    pub fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.core.resampler.reset();
            engine.core.to_skip = engine.core.delay;
            engine.core.output_total = 0;
            engine.pending.clear();
            engine.input_total = 0;
        }
    }
}

/// Converts a whole signal in one go (the same result as streaming it and flushing).
///
/// # Errors
///
/// As [`StreamResampler::new`] and [`StreamResampler::process`].
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    let mut resampler = StreamResampler::new(from_hz, to_hz)?;
    let mut out = resampler.process(samples)?;
    resampler.flush_into(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
