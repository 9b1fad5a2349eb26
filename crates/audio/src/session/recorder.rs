//! The call's stereo recording: the caller on the left, the agent on the right, each placed at
//! the moment its audio was heard.

use std::time::Duration;

use tokio::time::Instant;

use crate::wav::write_wav_stereo;

/// A 16-bit stereo recording at the channel rate, each side placed at the time its audio was
/// heard, so the two stay aligned.
pub(super) struct Recorder {
    start: Instant,
    rate_hz: u32,
    max_samples: usize,
    caller: Vec<i16>,
    agent: Vec<i16>,
}

impl Recorder {
    /// A recording starting at `start`, of at most `max`.
    pub(super) fn new(start: Instant, rate_hz: u32, max: Duration) -> Self {
        Self {
            start,
            rate_hz,
            max_samples: usize::try_from(max.as_secs().saturating_mul(u64::from(rate_hz)))
                .unwrap_or(usize::MAX),
            caller: Vec::new(),
            agent: Vec::new(),
        }
    }

    fn position(&self, at: Instant) -> usize {
        let elapsed = at.saturating_duration_since(self.start);
        usize::try_from(elapsed.as_micros() * u128::from(self.rate_hz) / 1_000_000)
            .unwrap_or(usize::MAX)
    }

    /// Caller audio that has just arrived (it ends now); agent audio that starts playing now.
    pub(super) fn add(&mut self, caller: bool, samples: &[i16], now: Instant) {
        let now_at = self.position(now);
        let (track, start) = if caller {
            (&mut self.caller, now_at.saturating_sub(samples.len()))
        } else {
            (&mut self.agent, now_at)
        };
        if track.len() < start {
            track.resize(start.min(self.max_samples), 0);
        }
        let room = self.max_samples.saturating_sub(track.len());
        track.extend_from_slice(&samples[..samples.len().min(room)]);
    }

    /// The recording as a WAV file; `None` (logged) when it cannot be written.
    pub(super) fn wav(&self) -> Option<Vec<u8>> {
        write_wav_stereo(&self.caller, &self.agent, self.rate_hz)
            .map_err(|error| tracing::warn!(%error, "could not write the call recording"))
            .ok()
    }
}
