//! Timing of outbound audio, as pure logic over clock values the caller passes in: when each
//! frame is due, and how much of what was sent the caller has actually heard.

mod marks;
mod pacer;

pub use marks::{Heard, Mark, MarkTracker};
pub use pacer::{FRAME_DURATION, FramePacer};
