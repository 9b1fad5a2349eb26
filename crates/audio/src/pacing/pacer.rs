//! The frame pacer: frame `n` of a stream is due at `start + n * frame_duration`.
//!
//! Deadlines come from the frame index, never from the previous wake-up, so late wake-ups (timer
//! jitter, a busy runtime) do not accumulate: the sender catches up by sending the frames already
//! due, and the stream stays locked to the wall clock for hours.

use std::time::{Duration, Instant};

use crate::AudioError;

/// The duration of one outbound frame on the call path.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Says when each frame of an outbound stream is due. Takes the clock as arguments, so it can be
/// driven by a real timer or a simulated one.
#[derive(Debug, Clone)]
pub struct FramePacer {
    start: Instant,
    frame_nanos: u64,
    /// The index of the next frame to send.
    next: u64,
}

impl FramePacer {
    /// A pacer for 20 ms frames whose frame 0 is due at `start`.
    #[must_use]
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            frame_nanos: nanos(FRAME_DURATION),
            next: 0,
        }
    }

    /// A pacer for frames of `frame_duration`.
    ///
    /// # Errors
    ///
    /// `AudioError::InvalidConfig` when `frame_duration` is zero.
    pub fn with_frame_duration(
        start: Instant,
        frame_duration: Duration,
    ) -> Result<Self, AudioError> {
        if frame_duration.is_zero() {
            return Err(AudioError::InvalidConfig(
                "frame duration must be positive".to_owned(),
            ));
        }
        Ok(Self {
            start,
            frame_nanos: nanos(frame_duration),
            next: 0,
        })
    }

    /// When frame 0 is due.
    #[must_use]
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The deadline of frame `index`: `start + index * frame_duration`.
    #[must_use]
    pub fn deadline(&self, index: u64) -> Instant {
        // u64 nanoseconds reach 584 years, far beyond any call.
        self.start + Duration::from_nanos(index.saturating_mul(self.frame_nanos))
    }

    /// The index of the next frame to send.
    #[must_use]
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// When the next frame is due; sleep until then.
    #[must_use]
    pub fn next_deadline(&self) -> Instant {
        self.deadline(self.next)
    }

    /// How many frames are due at `now` and not yet sent (0 before the next deadline; more than 1
    /// after a late wake-up).
    #[must_use]
    pub fn due(&self, now: Instant) -> u64 {
        let Some(elapsed) = now.checked_duration_since(self.start) else {
            return 0;
        };
        let elapsed_nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // Frames 0..=elapsed/frame are due.
        let due_through = elapsed_nanos / self.frame_nanos + 1;
        due_through.saturating_sub(self.next)
    }

    /// Records that `frames` frames were sent.
    pub fn advance(&mut self, frames: u64) {
        self.next = self.next.saturating_add(frames);
    }

    /// Returns how many frames are due at `now` and records them as sent.
    pub fn take_due(&mut self, now: Instant) -> u64 {
        let due = self.due(now);
        self.advance(due);
        due
    }

    /// How far `now` is past the next frame's deadline (zero when not late).
    #[must_use]
    pub fn lateness(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.next_deadline())
    }

    /// Starts a new stream whose frame 0 is due at `start`; used when audio resumes after an idle
    /// gap, so the idle time is not "caught up" with a burst.
    pub fn restart(&mut self, start: Instant) {
        self.start = start;
        self.next = 0;
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Prng;

    #[test]
    fn deadlines_are_start_plus_index_times_20ms() {
        let start = Instant::now();
        let pacer = FramePacer::new(start);
        assert_eq!(pacer.deadline(0), start);
        assert_eq!(pacer.deadline(1), start + Duration::from_millis(20));
        assert_eq!(pacer.deadline(50), start + Duration::from_secs(1));
        assert_eq!(pacer.next_deadline(), start);
    }

    #[test]
    fn frames_become_due_at_their_deadline() {
        let start = Instant::now();
        let mut pacer = FramePacer::new(start);
        assert_eq!(pacer.due(start), 1);
        assert_eq!(pacer.take_due(start), 1);
        assert_eq!(pacer.due(start + Duration::from_millis(19)), 0);
        assert_eq!(pacer.due(start + Duration::from_millis(20)), 1);
        // At 75 ms frames 1, 2 and 3 (due at 20, 40 and 60 ms) are owed; frame 4 is due at 80 ms.
        assert_eq!(pacer.take_due(start + Duration::from_millis(75)), 3);
        assert_eq!(pacer.next_index(), 4);
        assert_eq!(
            pacer.lateness(start + Duration::from_millis(79)),
            Duration::ZERO
        );
        assert_eq!(
            pacer.lateness(start + Duration::from_millis(85)),
            Duration::from_millis(5)
        );
        // Before the start nothing is due.
        let later = FramePacer::new(start + Duration::from_secs(1));
        assert_eq!(later.due(start), 0);
    }

    #[test]
    fn restart_forgets_idle_time() {
        let start = Instant::now();
        let mut pacer = FramePacer::new(start);
        pacer.take_due(start + Duration::from_millis(100));
        let resume = start + Duration::from_secs(10);
        pacer.restart(resume);
        assert_eq!(pacer.take_due(resume), 1);
        assert_eq!(pacer.next_deadline(), resume + FRAME_DURATION);
        assert!(FramePacer::with_frame_duration(start, Duration::ZERO).is_err());
    }

    /// An hour-long call with a sender that sleeps until the next deadline but wakes up late by
    /// 0-4 ms, sometimes by 30-60 ms (a stalled runtime). Every frame is sent exactly once, never
    /// early, never later than its deadline plus the wake-up delay, and the last deadline is
    /// exactly one hour after the start: no drift.
    #[test]
    fn an_hour_of_jittery_wake_ups_does_not_drift() {
        let start = Instant::now();
        let mut pacer = FramePacer::new(start);
        let mut prng = Prng::new(2024);
        let frames_per_hour = 3600 * 50;
        let mut now = start;
        let mut sent = 0_u64;
        let mut worst_lateness = Duration::ZERO;
        while sent < frames_per_hour {
            let jitter_us = if prng.below(200) == 0 {
                30_000 + prng.below(30_000)
            } else {
                prng.below(4_000)
            };
            let wake_delay = Duration::from_micros(jitter_us as u64);
            now = pacer.next_deadline() + wake_delay;
            let due = pacer.due(now);
            assert!(due >= 1, "woke up before a deadline");
            for _ in 0..due.min(frames_per_hour - sent) {
                let index = pacer.next_index();
                let deadline = start + Duration::from_millis(20 * index);
                assert_eq!(pacer.deadline(index), deadline);
                assert!(deadline <= now, "frame {index} sent early");
                let lateness = now - deadline;
                assert!(lateness <= wake_delay, "frame {index}");
                worst_lateness = worst_lateness.max(lateness);
                pacer.advance(1);
                sent += 1;
            }
        }
        assert_eq!(pacer.next_index(), frames_per_hour);
        assert_eq!(
            pacer.deadline(frames_per_hour),
            start + Duration::from_secs(3600)
        );
        // The sender ends within one wake-up delay of the hour mark, not minutes after it.
        assert!(now - start < Duration::from_secs(3600) + Duration::from_millis(61));
        assert!(worst_lateness < Duration::from_millis(61));
    }
}
