//! Energy-based voice activity detection on 20 ms frames, with hysteresis and an adaptive noise
//! floor.
//!
//! Each frame is high-passed at 100 Hz (removing DC, rumble and the slow swings of 1/f noise,
//! where speech has little energy) and its level taken as RMS in dBFS. A running estimate of the
//! background level and of its frame-to-frame spread follows the frames judged to be noise. A
//! frame must rise `onset_margin_db` above that floor to begin speech but only `hold_margin_db` to
//! continue it (hysteresis); both margins widen when the background fluctuates more. Speech is
//! reported after `start_ms` of speech frames and ends after `end_ms` of continuous silence, so
//! syllable gaps and short pauses do not flap the state.
//!
//! Speech keeps returning to the background level between syllables and words; a steady noise
//! does not. So during speech the floor is raised to the quietest frame of the last
//! `floor_window_ms`: a fan or engine that starts mid-call may be taken for speech at first, but
//! is learnt as background within that window and ends the "speech".

use std::collections::VecDeque;
use std::f64::consts::PI;

use crate::frame::{FRAME_MS, samples_per_frame};
use crate::{AudioError, pcm};

/// The quietest level the detector distinguishes; digital silence is clamped to it.
const LEVEL_FLOOR_DBFS: f32 = -100.0;
/// Cut-off of the high-pass filter in front of the level measurement.
const HIGH_PASS_HZ: f64 = 100.0;
/// The onset threshold is at least this many mean absolute deviations of the noise level above
/// the floor (about four standard deviations): fluctuating noise alone must not start speech.
const ONSET_SPREADS: f32 = 5.0;
/// The hold threshold is at least this many mean absolute deviations above the floor (about 2.4
/// standard deviations), so the trailing silence after speech is not kept alive by noise peaks.
const HOLD_SPREADS: f32 = 3.0;

/// Tuning of the detector. The defaults suit telephone and browser speech.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Speech must accumulate this long before `SpeechStarted` (default 200 ms).
    pub start_ms: u32,
    /// Silence must last this long before `SpeechEnded` (default 600 ms).
    pub end_ms: u32,
    /// While speech is only starting, a silence longer than this discards it (default 100 ms).
    pub onset_gap_ms: u32,
    /// How far above the noise floor a frame must be to begin speech (default 9 dB).
    pub onset_margin_db: f32,
    /// How far above the noise floor a frame must be to continue speech (default 4 dB).
    pub hold_margin_db: f32,
    /// Frames quieter than this are never speech, however quiet the background (default -55 dBFS).
    pub min_speech_dbfs: f32,
    /// Time constant with which the floor follows louder noise (default 1000 ms).
    pub floor_rise_ms: u32,
    /// Time constant with which the floor follows quieter noise (default 100 ms): the background
    /// is found again quickly after a loud moment.
    pub floor_fall_ms: u32,
    /// During speech, the floor rises to the quietest frame of this window (default 1500 ms):
    /// real speech dips to the background within it, a steady noise does not.
    pub floor_window_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            start_ms: 200,
            end_ms: 600,
            onset_gap_ms: 100,
            onset_margin_db: 9.0,
            hold_margin_db: 4.0,
            min_speech_dbfs: -55.0,
            floor_rise_ms: 1000,
            floor_fall_ms: 100,
            floor_window_ms: 1500,
        }
    }
}

impl VadConfig {
    fn validate(&self) -> Result<(), AudioError> {
        let invalid = |message: &str| Err(AudioError::InvalidConfig(message.to_owned()));
        if self.start_ms < FRAME_MS || self.end_ms < FRAME_MS {
            return invalid("start_ms and end_ms must be at least one 20 ms frame");
        }
        if self.floor_rise_ms == 0 || self.floor_fall_ms == 0 {
            return invalid("floor_rise_ms and floor_fall_ms must be positive");
        }
        if self.floor_window_ms < self.end_ms {
            return invalid("floor_window_ms must be at least end_ms");
        }
        let finite = [
            self.onset_margin_db,
            self.hold_margin_db,
            self.min_speech_dbfs,
        ]
        .iter()
        .all(|value| value.is_finite());
        if !finite {
            return invalid("VAD levels and rates must be finite numbers");
        }
        if self.hold_margin_db < 0.0 || self.onset_margin_db < self.hold_margin_db {
            return invalid("onset_margin_db must be at least hold_margin_db, which must be >= 0");
        }
        Ok(())
    }
}

/// A change of the speech state. Frame numbers count the frames pushed since the detector was
/// created (or reset), from 0; multiply by 20 ms for a time offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech began at frame `frame`; reported once `start_ms` of speech has been seen.
    SpeechStarted {
        /// The first speech frame.
        frame: u64,
    },
    /// Speech ended at frame `frame`; reported `end_ms` of silence later.
    SpeechEnded {
        /// The first frame of the silence that ended it.
        frame: u64,
    },
}

#[derive(Debug, Clone, Copy)]
enum State {
    Silence,
    /// Speech-like frames seen, not yet enough to report.
    Onset {
        first: u64,
        speech_frames: u32,
        gap_frames: u32,
    },
    Speech {
        /// The first frame of the current run of silent frames, if in one.
        silence_since: Option<u64>,
    },
}

/// Second-order Butterworth high-pass (RBJ biquad), state carried across frames.
#[derive(Debug, Clone)]
struct HighPass {
    b: [f64; 3],
    a: [f64; 2],
    x: [f64; 2],
    y: [f64; 2],
}

impl HighPass {
    fn new(sample_rate_hz: u32) -> Self {
        let w0 = 2.0 * PI * HIGH_PASS_HZ / f64::from(sample_rate_hz);
        let alpha = w0.sin() / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let cos = w0.cos();
        let a0 = 1.0 + alpha;
        let b0 = (1.0 + cos) / 2.0 / a0;
        Self {
            b: [b0, -2.0 * b0, b0],
            a: [-2.0 * cos / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    fn filter(&mut self, input: f64) -> f64 {
        let output = self.b[0] * input + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [input, self.x[0]];
        self.y = [output, self.y[0]];
        output
    }

    fn reset(&mut self) {
        self.x = [0.0; 2];
        self.y = [0.0; 2];
    }
}

/// The background level and its spread, learnt from the frames judged to be noise.
#[derive(Debug, Clone, Copy)]
struct Floor {
    level_db: f32,
    spread_db: f32,
}

/// The detector. Feed it consecutive 20 ms frames; it answers with the state changes.
#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    frame_len: usize,
    start_frames: u32,
    end_frames: u64,
    onset_gap_frames: u32,
    /// Per-frame smoothing factors for the floor's rise and fall.
    rise_rate: f32,
    fall_rate: f32,
    window_frames: usize,
    /// The levels of the last `window_frames` frames, newest last.
    recent_levels: VecDeque<f32>,
    high_pass: HighPass,
    floor: Option<Floor>,
    state: State,
    next_frame: u64,
}

/// The per-frame weight of an exponential average with time constant `ms`.
fn smoothing(ms: u32) -> f32 {
    1.0 - (-(FRAME_MS as f32) / ms as f32).exp()
}

impl Vad {
    /// A detector for 20 ms frames at `sample_rate_hz`.
    ///
    /// # Errors
    ///
    /// `AudioError::UnsupportedSampleRate` or `AudioError::FrameDuration` when the rate cannot be
    /// cut into 20 ms frames; `AudioError::InvalidConfig` for out-of-range settings.
    pub fn new(sample_rate_hz: u32, config: VadConfig) -> Result<Self, AudioError> {
        config.validate()?;
        let window_frames = config.floor_window_ms.div_ceil(FRAME_MS) as usize;
        Ok(Self {
            frame_len: samples_per_frame(sample_rate_hz)?,
            start_frames: config.start_ms.div_ceil(FRAME_MS),
            end_frames: u64::from(config.end_ms.div_ceil(FRAME_MS)),
            onset_gap_frames: config.onset_gap_ms / FRAME_MS,
            rise_rate: smoothing(config.floor_rise_ms),
            fall_rate: smoothing(config.floor_fall_ms),
            window_frames,
            recent_levels: VecDeque::with_capacity(window_frames),
            high_pass: HighPass::new(sample_rate_hz),
            config,
            floor: None,
            state: State::Silence,
            next_frame: 0,
        })
    }

    /// Samples per frame at the detector's rate.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The settings in use.
    #[must_use]
    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    /// Whether speech has started and not yet ended.
    #[must_use]
    pub fn is_speaking(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// The current estimate of the background level in dBFS (after the high-pass filter), once
    /// a frame has been seen.
    #[must_use]
    pub fn noise_floor_dbfs(&self) -> Option<f32> {
        self.floor.map(|floor| floor.level_db)
    }

    /// How many frames have been pushed.
    #[must_use]
    pub fn frames_seen(&self) -> u64 {
        self.next_frame
    }

    /// Forgets everything, including the noise floor.
    pub fn reset(&mut self) {
        self.high_pass.reset();
        self.recent_levels.clear();
        self.floor = None;
        self.state = State::Silence;
        self.next_frame = 0;
    }

    /// Pushes one frame of `i16` samples.
    ///
    /// # Errors
    ///
    /// `AudioError::FrameLength` when the frame is not exactly [`Vad::frame_len`] samples.
    pub fn push_i16(&mut self, frame: &[i16]) -> Result<Option<VadEvent>, AudioError> {
        self.check_len(frame.len())?;
        let energy = self.filtered_energy(frame.iter().map(|&s| pcm::i16_sample_to_f32(s)));
        Ok(self.push_level(level_dbfs(energy, frame.len())))
    }

    /// Pushes one frame of `f32` samples (full scale 1.0); non-finite samples count as 0.
    ///
    /// # Errors
    ///
    /// `AudioError::FrameLength` when the frame is not exactly [`Vad::frame_len`] samples.
    pub fn push_f32(&mut self, frame: &[f32]) -> Result<Option<VadEvent>, AudioError> {
        self.check_len(frame.len())?;
        let samples = frame.iter().map(|&s| if s.is_finite() { s } else { 0.0 });
        let energy = self.filtered_energy(samples);
        Ok(self.push_level(level_dbfs(energy, frame.len())))
    }

    fn filtered_energy(&mut self, samples: impl Iterator<Item = f32>) -> f64 {
        samples
            .map(|sample| self.high_pass.filter(f64::from(sample)).powi(2))
            .sum()
    }

    fn check_len(&self, actual: usize) -> Result<(), AudioError> {
        if actual == self.frame_len {
            Ok(())
        } else {
            Err(AudioError::FrameLength {
                expected: self.frame_len,
                actual,
            })
        }
    }

    /// Advances the state machine by one frame of the given level.
    fn push_level(&mut self, level: f32) -> Option<VadEvent> {
        let index = self.next_frame;
        self.next_frame += 1;
        if self.recent_levels.len() == self.window_frames {
            self.recent_levels.pop_front();
        }
        self.recent_levels.push_back(level);
        // The first frame seeds the floor; if it is already speech, the floor falls to the
        // noise in the first syllable gap.
        let floor = *self.floor.get_or_insert(Floor {
            level_db: level,
            spread_db: 0.0,
        });
        let audible = level > self.config.min_speech_dbfs;
        let onset_margin = self
            .config
            .onset_margin_db
            .max(ONSET_SPREADS * floor.spread_db);
        let hold_margin = self
            .config
            .hold_margin_db
            .max(HOLD_SPREADS * floor.spread_db);
        let starts = audible && level > floor.level_db + onset_margin;
        let holds = audible && level > floor.level_db + hold_margin;

        let mut event = None;
        let before = self.state;
        self.state = match before {
            State::Silence if starts => self.onset_progress(index, 1, 0, &mut event),
            State::Silence => State::Silence,
            State::Onset {
                first,
                speech_frames,
                gap_frames,
            } => {
                if holds {
                    self.onset_progress(first, speech_frames + 1, 0, &mut event)
                } else if gap_frames + 1 > self.onset_gap_frames {
                    State::Silence
                } else {
                    State::Onset {
                        first,
                        speech_frames,
                        gap_frames: gap_frames + 1,
                    }
                }
            }
            State::Speech { silence_since } => {
                let silence_since = if holds {
                    None
                } else {
                    Some(silence_since.unwrap_or(index))
                };
                match silence_since {
                    Some(since) if index + 1 - since >= self.end_frames => {
                        event = Some(VadEvent::SpeechEnded { frame: since });
                        State::Silence
                    }
                    _ => State::Speech { silence_since },
                }
            }
        };
        self.update_floor(floor, level, before, holds);
        event
    }

    fn onset_progress(
        &self,
        first: u64,
        speech_frames: u32,
        gap_frames: u32,
        event: &mut Option<VadEvent>,
    ) -> State {
        if speech_frames >= self.start_frames {
            *event = Some(VadEvent::SpeechStarted { frame: first });
            State::Speech {
                silence_since: None,
            }
        } else {
            State::Onset {
                first,
                speech_frames,
                gap_frames,
            }
        }
    }

    /// Learns from the frame if it was noise: every frame in silence, and the pauses in speech.
    /// Frames of a starting onset teach nothing, so speech does not raise its own threshold.
    /// During speech the floor is also lifted to the quietest recent frame (see the module
    /// documentation).
    fn update_floor(&mut self, floor: Floor, level: f32, state: State, holds: bool) {
        let is_noise = match state {
            State::Silence => !matches!(self.state, State::Onset { .. } | State::Speech { .. }),
            State::Onset { .. } => false,
            State::Speech { .. } => !holds,
        };
        let next = if is_noise {
            let rate = if level < floor.level_db {
                self.fall_rate
            } else {
                self.rise_rate
            };
            let deviation = (level - floor.level_db).abs();
            Floor {
                level_db: floor.level_db + (level - floor.level_db) * rate,
                spread_db: floor.spread_db + (deviation - floor.spread_db) * self.rise_rate,
            }
        } else if matches!(state, State::Speech { .. })
            && self.recent_levels.len() == self.window_frames
        {
            let quietest = self
                .recent_levels
                .iter()
                .copied()
                .fold(f32::INFINITY, f32::min);
            Floor {
                level_db: floor.level_db.max(quietest),
                spread_db: floor.spread_db,
            }
        } else {
            floor
        };
        self.floor = Some(next);
    }
}

/// RMS level in dBFS of a frame with the given energy (sum of squares at full scale 1.0).
fn level_dbfs(energy: f64, len: usize) -> f32 {
    let mean = energy / len.max(1) as f64;
    if mean <= 0.0 {
        return LEVEL_FLOOR_DBFS;
    }
    ((10.0 * mean.log10()) as f32).max(LEVEL_FLOOR_DBFS)
}

#[cfg(test)]
mod tests;
