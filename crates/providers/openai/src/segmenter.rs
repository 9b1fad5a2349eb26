//! Cutting a live stream of caller audio into segments of speech for batch transcription: voice
//! activity detection (the audio crate's [`Vad`]) finds where speech starts and ends; each
//! stretch of speech, with a little audio before it (the detector reports speech only once it
//! has lasted a while) and a little after, becomes one segment. Pure computation; the live
//! stream drives it.

use std::collections::VecDeque;

use switchboard_audio::AudioError;
use switchboard_audio::frame::{FRAME_MS, Framer};
use switchboard_audio::vad::{Vad, VadConfig, VadEvent};

/// Audio kept from before the detector's onset, beyond its own `start_ms`: the first syllable
/// is often quieter than what convinced the detector.
const PREROLL_EXTRA_MS: u32 = 300;
/// Audio kept after the end of speech: trailing consonants fall below the detector's threshold.
const TAIL_MS: u32 = 200;

/// What the segmenter saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Speech began (reported once the detector is sure).
    SpeechStarted,
    /// A stretch of audio to transcribe.
    Segment(Segment),
}

/// A stretch of audio to transcribe; `speech_final` when the speaker finished with it (rather
/// than the segment reaching its longest, or being cut early on request).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) samples: Vec<i16>,
    pub(crate) speech_final: bool,
}

/// The speech being collected.
#[derive(Debug)]
struct Open {
    samples: Vec<i16>,
    /// The detector's number of the segment's first frame.
    first_frame: u64,
}

#[derive(Debug)]
pub(crate) struct Segmenter {
    vad: Vad,
    framer: Framer<i16>,
    frame_len: usize,
    /// The latest audio while no speech is open, at most `preroll_len` samples.
    preroll: VecDeque<i16>,
    preroll_len: usize,
    open: Option<Open>,
    max_samples: usize,
    tail_frames: u64,
}

impl Segmenter {
    /// A segmenter for audio at `sample_rate_hz` that cuts speech longer than `max_samples`.
    ///
    /// # Errors
    /// When the detector cannot work at that rate or with that configuration.
    pub(crate) fn new(
        sample_rate_hz: u32,
        vad: VadConfig,
        max_samples: usize,
    ) -> Result<Self, AudioError> {
        let preroll_ms = vad.start_ms + PREROLL_EXTRA_MS;
        let vad = Vad::new(sample_rate_hz, vad)?;
        let frame_len = vad.frame_len();
        let preroll_len = frame_len * preroll_ms.div_ceil(FRAME_MS) as usize;
        Ok(Self {
            framer: Framer::with_frame_len(frame_len)?,
            frame_len,
            preroll: VecDeque::with_capacity(preroll_len + frame_len),
            preroll_len,
            open: None,
            max_samples: max_samples.max(frame_len),
            tail_frames: u64::from(TAIL_MS / FRAME_MS),
            vad,
        })
    }

    /// Takes audio, in pieces of any size; returns what it completes, in order.
    pub(crate) fn push(&mut self, samples: &[i16]) -> Vec<Cut> {
        let mut cuts = Vec::new();
        for frame in self.framer.push(samples) {
            self.on_frame(&frame, &mut cuts);
        }
        cuts
    }

    /// The speech collected so far, now (for `finalize` and `close`); `None` when no speech is
    /// open. Speech that goes on is collected into a new segment.
    pub(crate) fn cut(&mut self, speech_final: bool) -> Option<Segment> {
        let open = self.open.as_mut()?;
        open.first_frame = self.vad.frames_seen();
        Some(Segment {
            samples: std::mem::take(&mut open.samples),
            speech_final,
        })
    }

    fn on_frame(&mut self, frame: &[i16], cuts: &mut Vec<Cut>) {
        let index = self.vad.frames_seen();
        // Frames come from the framer, so their length is the detector's: it cannot refuse them.
        let event = self.vad.push_i16(frame).ok().flatten();
        match &mut self.open {
            Some(open) => open.samples.extend_from_slice(frame),
            None => {
                self.preroll.extend(frame);
                let excess = self.preroll.len().saturating_sub(self.preroll_len);
                self.preroll.drain(..excess);
            }
        }
        match event {
            Some(VadEvent::SpeechStarted { .. }) => {
                cuts.push(Cut::SpeechStarted);
                if self.open.is_none() {
                    let samples: Vec<i16> = self.preroll.drain(..).collect();
                    let frames = (samples.len() / self.frame_len) as u64;
                    self.open = Some(Open {
                        samples,
                        first_frame: (index + 1).saturating_sub(frames),
                    });
                }
            }
            Some(VadEvent::SpeechEnded { frame: silent_from }) => {
                if let Some(mut open) = self.open.take() {
                    let keep_frames =
                        (silent_from + self.tail_frames).saturating_sub(open.first_frame);
                    let keep = usize::try_from(keep_frames)
                        .unwrap_or(usize::MAX)
                        .saturating_mul(self.frame_len);
                    open.samples.truncate(keep);
                    cuts.push(Cut::Segment(Segment {
                        samples: open.samples,
                        speech_final: true,
                    }));
                }
            }
            None => {}
        }
        if let Some(open) = &mut self.open
            && open.samples.len() >= self.max_samples
        {
            open.first_frame = index + 1;
            cuts.push(Cut::Segment(Segment {
                samples: std::mem::take(&mut open.samples),
                speech_final: false,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const RATE: u32 = 16_000;

    fn tone(ms: u32) -> Vec<i16> {
        let n = (RATE * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(RATE);
                ((2.0 * std::f64::consts::PI * 440.0 * t).sin() * 8000.0) as i16
            })
            .collect()
    }

    fn silence(ms: u32) -> Vec<i16> {
        vec![0; (RATE * ms / 1000) as usize]
    }

    fn segments(cuts: &[Cut]) -> Vec<(usize, bool)> {
        cuts.iter()
            .filter_map(|cut| match cut {
                Cut::Segment(s) => Some((s.samples.len(), s.speech_final)),
                Cut::SpeechStarted => None,
            })
            .collect()
    }

    fn config(end_ms: u32) -> VadConfig {
        VadConfig {
            end_ms,
            ..VadConfig::default()
        }
    }

    #[test]
    fn a_burst_of_speech_becomes_one_segment_with_a_little_around_it() {
        let mut segmenter = Segmenter::new(RATE, config(300), 30 * RATE as usize).unwrap();
        let mut cuts = segmenter.push(&silence(600));
        assert!(cuts.is_empty());
        // In odd-sized pieces, as a network delivers them.
        for piece in tone(800).chunks(333) {
            cuts.extend(segmenter.push(piece));
        }
        assert_eq!(cuts, [Cut::SpeechStarted]);
        cuts.clear();
        cuts.extend(segmenter.push(&silence(1000)));
        let found = segments(&cuts);
        assert_eq!(found.len(), 1, "{found:?}");
        let (len, speech_final) = found[0];
        assert!(speech_final);
        // The whole tone, some of the silence before it and at most the tail after it.
        let ms = len as u32 * 1000 / RATE;
        assert!(
            (800..=800 + PREROLL_EXTRA_MS + 200 + TAIL_MS).contains(&ms),
            "{ms} ms"
        );
        assert!(segmenter.cut(true).is_none());
    }

    #[test]
    fn long_speech_is_cut_at_the_limit_and_the_rest_ends_the_utterance() {
        // A one-second limit, and speech of 1.3 s (shorter than the window in which the detector
        // would learn a steady tone as background).
        let mut segmenter = Segmenter::new(RATE, config(300), RATE as usize).unwrap();
        let mut cuts = segmenter.push(&silence(500));
        cuts.extend(segmenter.push(&tone(1300)));
        cuts.extend(segmenter.push(&silence(800)));
        let found = segments(&cuts);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0], (RATE as usize, false));
        assert!(found[1].1);
        assert!(found[1].0 > 0);
    }

    #[test]
    fn cutting_takes_the_open_speech_and_collects_the_rest_anew() {
        let mut segmenter = Segmenter::new(RATE, config(300), 30 * RATE as usize).unwrap();
        segmenter.push(&silence(500));
        assert!(segmenter.cut(false).is_none());
        segmenter.push(&tone(600));
        let first = segmenter.cut(false).unwrap();
        assert!(!first.speech_final);
        assert!(first.samples.len() >= (RATE * 600 / 1000) as usize);
        let cuts = segmenter.push(&silence(800));
        let found = segments(&cuts);
        // What came after the cut is the silence up to the tail (and a frame or two of the
        // filter's ringing): short, and final.
        assert_eq!(found.len(), 1);
        assert!(found[0].1);
        assert!(
            found[0].0 <= (RATE * (TAIL_MS + 60) / 1000) as usize,
            "{found:?}"
        );
    }
}
