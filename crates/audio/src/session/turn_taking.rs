//! How the session takes turns with the caller: what counts as an interruption, when the agent
//! fills a silence of its own making or checks on a silent caller, and how keys pressed on the
//! keypad make a turn.

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
    /// After this long with neither side speaking, the agent checks in; `None` never does, nor
    /// ends a call for silence. (A plain `VoiceSessionConfig::silence_timeout` overrides the
    /// silence settings here.)
    pub silence_reprompt_after: Option<Duration>,
    /// Check-ins before the agent gives up: after one more pause it says
    /// `silence_goodbye_line` and ends the call ([`super::SessionEnd::SilenceTimeout`]). The
    /// count starts over whenever the caller is heard.
    pub silence_reprompts_max: u32,
    /// The check-in. Check-ins and the goodbye appear in the transcript but are not kept in the
    /// conversation history.
    pub silence_reprompt_line: String,
    /// Said before ending a silent call; empty ends it without a word.
    pub silence_goodbye_line: String,
    /// Keys pressed on the keypad form one entry until `#`, or until this long passes without
    /// another key; the entry then goes to the conversation as the caller's turn.
    pub dtmf_timeout: Duration,
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
            silence_reprompt_after: Some(Duration::from_secs(8)),
            silence_reprompts_max: 2,
            silence_reprompt_line: "Are you still there?".to_owned(),
            silence_goodbye_line: "I haven't heard from you, so I'll hang up now. Goodbye!"
                .to_owned(),
            dtmf_timeout: Duration::from_secs(2),
        }
    }
}
