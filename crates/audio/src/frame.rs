//! Cutting a sample stream into fixed-duration frames (20 ms on the live call path), carrying the
//! remainder from one push to the next.

use crate::{AudioError, check_sample_rate};

/// The frame duration of the live call path: telephony media streams carry 20 ms per message.
pub const FRAME_MS: u32 = 20;

/// Samples in one 20 ms frame at `sample_rate_hz` (160 at 8 kHz, 441 at 22.05 kHz, 960 at 48 kHz).
///
/// # Errors
///
/// `AudioError::UnsupportedSampleRate` for a rate outside the supported range;
/// `AudioError::FrameDuration` when 20 ms is not a whole number of samples at that rate.
pub fn samples_per_frame(sample_rate_hz: u32) -> Result<usize, AudioError> {
    samples_per_duration(sample_rate_hz, FRAME_MS)
}

/// Samples in `frame_ms` milliseconds at `sample_rate_hz`.
///
/// # Errors
///
/// `AudioError::UnsupportedSampleRate` for a rate outside the supported range;
/// `AudioError::FrameDuration` when the duration is zero or not a whole number of samples.
pub fn samples_per_duration(sample_rate_hz: u32, frame_ms: u32) -> Result<usize, AudioError> {
    let rate = u64::from(check_sample_rate(sample_rate_hz)?);
    let product = rate * u64::from(frame_ms);
    if frame_ms == 0 || !product.is_multiple_of(1000) {
        return Err(AudioError::FrameDuration {
            sample_rate_hz,
            frame_ms,
        });
    }
    usize::try_from(product / 1000).map_err(|_| AudioError::FrameDuration {
        sample_rate_hz,
        frame_ms,
    })
}

/// Splits a stream of samples into frames of a fixed length.
///
/// Samples that do not fill a frame wait in the framer until the next push.
#[derive(Debug, Clone)]
pub struct Framer<T> {
    frame_len: usize,
    pending: Vec<T>,
}

impl<T: Copy> Framer<T> {
    /// A framer producing 20 ms frames at `sample_rate_hz`.
    ///
    /// # Errors
    ///
    /// As [`samples_per_frame`].
    pub fn new(sample_rate_hz: u32) -> Result<Self, AudioError> {
        Self::with_frame_len(samples_per_frame(sample_rate_hz)?)
    }

    /// A framer producing frames of `frame_len` samples.
    ///
    /// # Errors
    ///
    /// `AudioError::InvalidConfig` when `frame_len` is zero.
    pub fn with_frame_len(frame_len: usize) -> Result<Self, AudioError> {
        if frame_len == 0 {
            return Err(AudioError::InvalidConfig(
                "frame length must be at least one sample".to_owned(),
            ));
        }
        Ok(Self {
            frame_len,
            pending: Vec::with_capacity(frame_len),
        })
    }

    /// The number of samples in each frame.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Samples received but not yet part of a complete frame.
    #[must_use]
    pub fn pending(&self) -> &[T] {
        &self.pending
    }

    /// Adds samples and returns every frame they complete, in order.
    pub fn push(&mut self, samples: &[T]) -> Vec<Vec<T>> {
        let mut frames = Vec::with_capacity((self.pending.len() + samples.len()) / self.frame_len);
        self.push_each(samples, |frame| frames.push(frame.to_vec()));
        frames
    }

    /// Adds samples and calls `on_frame` with every frame they complete, in order, without
    /// allocating: whole frames inside `samples` are lent straight from it.
    pub fn push_each(&mut self, samples: &[T], mut on_frame: impl FnMut(&[T])) {
        let mut rest = samples;
        if !self.pending.is_empty() {
            let missing = self.frame_len - self.pending.len();
            let take = missing.min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < self.frame_len {
                return;
            }
            on_frame(&self.pending);
            self.pending.clear();
        }
        let mut chunks = rest.chunks_exact(self.frame_len);
        for frame in &mut chunks {
            on_frame(frame);
        }
        self.pending.extend_from_slice(chunks.remainder());
    }

    /// Ends the stream: returns the pending samples padded with `fill` to a whole frame, or
    /// `None` when nothing is pending.
    pub fn finish_padded(&mut self, fill: T) -> Option<Vec<T>> {
        if self.pending.is_empty() {
            return None;
        }
        let mut frame = std::mem::take(&mut self.pending);
        frame.resize(self.frame_len, fill);
        Some(frame)
    }

    /// Drops pending samples, for example when queued audio is cleared on barge-in.
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_at_common_rates() -> Result<(), AudioError> {
        for (rate, expected) in [
            (8_000, 160),
            (16_000, 320),
            (22_050, 441),
            (24_000, 480),
            (44_100, 882),
            (48_000, 960),
        ] {
            assert_eq!(samples_per_frame(rate)?, expected);
        }
        assert_eq!(samples_per_duration(8_000, 10)?, 80);
        Ok(())
    }

    #[test]
    fn rates_without_whole_frames_are_rejected() {
        assert_eq!(
            samples_per_frame(11_025),
            Err(AudioError::FrameDuration {
                sample_rate_hz: 11_025,
                frame_ms: 20
            })
        );
        assert!(samples_per_duration(8_000, 0).is_err());
        assert_eq!(
            samples_per_frame(0),
            Err(AudioError::UnsupportedSampleRate(0))
        );
        assert!(Framer::<i16>::with_frame_len(0).is_err());
    }

    #[test]
    fn arbitrary_chunks_give_the_same_frames_as_one_push() -> Result<(), AudioError> {
        let samples: Vec<i16> = (0..1000).collect();
        let mut whole = Framer::new(8_000)?;
        let expected = whole.push(&samples);
        assert_eq!(expected.len(), 6);
        assert_eq!(whole.pending().len(), 40);

        let mut framer = Framer::new(8_000)?;
        let mut frames = Vec::new();
        let mut offset = 0;
        for size in [1, 0, 159, 1, 7, 300, 161, 2, 369] {
            frames.extend(framer.push(&samples[offset..offset + size]));
            offset += size;
        }
        assert_eq!(offset, samples.len());
        assert_eq!(frames, expected);
        assert_eq!(framer.pending(), whole.pending());
        assert!(frames.iter().flatten().copied().eq(0..960));
        Ok(())
    }

    #[test]
    fn finish_pads_the_remainder() -> Result<(), AudioError> {
        let mut framer = Framer::with_frame_len(4)?;
        assert!(framer.push(&[1, 2, 3, 4, 5]).len() == 1);
        assert_eq!(framer.finish_padded(0), Some(vec![5, 0, 0, 0]));
        assert_eq!(framer.finish_padded(0), None);
        framer.push(&[9]);
        framer.clear();
        assert!(framer.pending().is_empty());
        Ok(())
    }
}
