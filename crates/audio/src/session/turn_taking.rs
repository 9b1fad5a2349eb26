//! How the session takes turns with the caller: what counts as an interruption, and when the
//! agent fills a silence of its own making or checks on a silent caller.

use std::time::Duration;

/// Turn-taking tuning of a session. The defaults suit phone calls.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnTaking {
    /// Caller words (from interim or final transcripts) that confirm an interruption, unless they
    /// are all backchannel words. Zero leaves the decision to `min_interruption`.
    pub min_interruption_words: u32,
    /// Caller speech (as the local VAD hears it) longer than this confirms an interruption,
    /// unless the transcript so far is only backchannel words. Zero confirms at once, the
    /// behaviour without turn-taking.
    pub min_interruption: Duration,
    /// An interruption neither confirmed nor ruled out within this time is judged false, and the
    /// agent resumes where it paused.
    pub false_interruption_timeout: Duration,
    /// Words and short phrases a listener says to show they follow ("yeah", "uh-huh"); said
    /// while the agent speaks, they neither interrupt it nor become a turn of the conversation.
    pub backchannel_words: Vec<String>,
    /// When a tool call has kept the reply silent this long, say `filler_line` (once per
    /// reply); `None` never fills.
    pub filler_after: Option<Duration>,
    /// A short line that says the agent is working on it. It is heard but not kept in the
    /// conversation history or the transcript.
    pub filler_line: String,
}

/// The backchannel words and phrases of [`TurnTaking::default`].
pub const DEFAULT_BACKCHANNEL_WORDS: &[&str] = &[
    "yeah", "yes", "yep", "yup", "ya", "uh-huh", "mhm", "mm-hmm", "mm", "hmm", "okay", "ok",
    "right", "alright", "sure", "i see", "got it", "cool",
];

impl Default for TurnTaking {
    fn default() -> Self {
        Self {
            min_interruption_words: 1,
            min_interruption: Duration::from_millis(800),
            false_interruption_timeout: Duration::from_millis(1500),
            backchannel_words: DEFAULT_BACKCHANNEL_WORDS
                .iter()
                .map(|&word| word.to_owned())
                .collect(),
            filler_after: Some(Duration::from_millis(1200)),
            filler_line: "One moment while I check that.".to_owned(),
        }
    }
}
