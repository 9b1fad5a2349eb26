//! Mark tracking: which part of a reply the caller has actually heard.
//!
//! Outbound audio is queued at the far end (Twilio buffers what it is sent and plays it in real
//! time), so "sent" is not "heard". The sender places named marks between pieces of audio, each
//! remembering how much audio and how much of the reply's text came before it; the transport
//! echoes a mark when playback reaches it. On barge-in the queued audio is cleared, and the last
//! echoed mark tells how much of the reply the caller heard, which is what the conversation
//! history keeps.

use std::collections::VecDeque;

/// A named point in the outbound audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The name sent to the transport and echoed back.
    pub name: String,
    /// Samples of the reply sent before the mark.
    pub sample_offset: u64,
    /// Byte offset into the reply text spoken by the audio before the mark.
    pub text_offset: usize,
}

/// How much of the reply the caller has heard, as of the last acknowledged mark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// Samples played.
    pub samples: u64,
    /// Byte offset into the reply text up to which it was spoken.
    pub text_offset: usize,
    /// The name of the last acknowledged mark, if any.
    pub mark: Option<String>,
}

impl Heard {
    /// The heard prefix of `reply`, cut back to a character boundary if the offset falls inside
    /// a character.
    #[must_use]
    pub fn text<'a>(&self, reply: &'a str) -> &'a str {
        let mut end = self.text_offset.min(reply.len());
        while !reply.is_char_boundary(end) {
            end -= 1;
        }
        &reply[..end]
    }
}

/// Tracks the audio and marks sent for one reply and the marks echoed back.
#[derive(Debug, Clone, Default)]
pub struct MarkTracker {
    sent_samples: u64,
    pending: VecDeque<Mark>,
    heard: Heard,
}

impl MarkTracker {
    /// A tracker with nothing sent.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `samples` samples of audio handed to the transport.
    pub fn record_audio(&mut self, samples: usize) {
        self.sent_samples = self.sent_samples.saturating_add(samples as u64);
    }

    /// Places a mark after the audio sent so far, covering the reply text up to `text_offset`,
    /// and returns it for sending.
    pub fn place_mark(&mut self, name: impl Into<String>, text_offset: usize) -> Mark {
        let mark = Mark {
            name: name.into(),
            sample_offset: self.sent_samples,
            text_offset,
        };
        self.pending.push_back(mark.clone());
        mark
    }

    /// Records that the transport echoed mark `name`: playback reached it. Marks play in order,
    /// so earlier pending marks are acknowledged with it. Returns the mark, or `None` for a name
    /// not pending (already acknowledged, or echoed for audio dropped by [`MarkTracker::clear`]).
    pub fn acknowledge(&mut self, name: &str) -> Option<Mark> {
        let position = self.pending.iter().position(|mark| mark.name == name)?;
        let mark = self.pending.drain(..=position).next_back()?;
        self.heard = Heard {
            samples: mark.sample_offset,
            text_offset: mark.text_offset,
            mark: Some(mark.name.clone()),
        };
        Some(mark)
    }

    /// What the caller has heard so far.
    #[must_use]
    pub fn heard(&self) -> &Heard {
        &self.heard
    }

    /// Samples handed to the transport.
    #[must_use]
    pub fn sent_samples(&self) -> u64 {
        self.sent_samples
    }

    /// Samples sent but not known to be played.
    #[must_use]
    pub fn unplayed_samples(&self) -> u64 {
        self.sent_samples.saturating_sub(self.heard.samples)
    }

    /// Marks sent and not yet echoed, oldest first.
    pub fn pending_marks(&self) -> impl Iterator<Item = &Mark> {
        self.pending.iter()
    }

    /// Barge-in: the transport's queue was cleared, so nothing beyond the last acknowledged mark
    /// will play. Drops the pending marks and returns what was heard.
    pub fn clear(&mut self) -> Heard {
        self.pending.clear();
        self.sent_samples = self.heard.samples;
        self.heard.clone()
    }

    /// Starts over for a new reply.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply spoken in three sentences of 8 kHz audio, a mark after each.
    fn three_sentences(tracker: &mut MarkTracker, reply: &str) -> Vec<Mark> {
        let ends: Vec<usize> = reply.match_indices(". ").map(|(at, _)| at + 2).collect();
        let mut marks = Vec::new();
        for (index, &end) in ends.iter().chain([reply.len()].iter()).enumerate() {
            for _ in 0..50 {
                tracker.record_audio(160);
            }
            marks.push(tracker.place_mark(format!("sentence-{index}"), end));
        }
        marks
    }

    #[test]
    fn acknowledged_marks_advance_what_was_heard() {
        let reply = "Hello there. Your table is booked. Anything else?";
        let mut tracker = MarkTracker::new();
        let marks = three_sentences(&mut tracker, reply);
        assert_eq!(tracker.sent_samples(), 3 * 8000);
        assert_eq!(tracker.heard(), &Heard::default());
        assert_eq!(tracker.unplayed_samples(), 24_000);

        assert_eq!(tracker.acknowledge("sentence-0"), Some(marks[0].clone()));
        assert_eq!(tracker.heard().samples, 8000);
        assert_eq!(tracker.heard().text(reply), "Hello there. ");
        assert_eq!(tracker.unplayed_samples(), 16_000);
        assert_eq!(tracker.pending_marks().count(), 2);

        // An echo for a later mark means everything before it played too.
        assert!(tracker.acknowledge("sentence-2").is_some());
        assert_eq!(tracker.heard().text(reply), reply);
        assert_eq!(tracker.pending_marks().count(), 0);
        assert_eq!(tracker.acknowledge("sentence-1"), None);
    }

    #[test]
    fn barge_in_keeps_only_what_was_heard() {
        let reply = "Hello there. Your table is booked. Anything else?";
        let mut tracker = MarkTracker::new();
        three_sentences(&mut tracker, reply);
        tracker.acknowledge("sentence-0");
        let heard = tracker.clear();
        assert_eq!(heard.text(reply), "Hello there. ");
        assert_eq!(heard.mark.as_deref(), Some("sentence-0"));
        assert_eq!(tracker.unplayed_samples(), 0);
        // Transports echo the cleared marks; they were not played.
        assert_eq!(tracker.acknowledge("sentence-1"), None);
        assert_eq!(tracker.acknowledge("sentence-2"), None);
        assert_eq!(tracker.heard(), &heard);

        tracker.reset();
        assert_eq!(tracker.sent_samples(), 0);
        assert_eq!(tracker.heard().text(reply), "");
    }

    #[test]
    fn heard_text_stops_at_a_character_boundary() {
        let heard = Heard {
            samples: 0,
            text_offset: 2,
            mark: None,
        };
        assert_eq!(heard.text("né"), "n");
        assert_eq!(heard.text("a"), "a");
    }
}
