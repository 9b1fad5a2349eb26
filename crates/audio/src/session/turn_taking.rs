//! How the session takes turns with the caller: what counts as an interruption, when the agent
//! fills a silence of its own making or checks on a silent caller, and how keys pressed on the
//! keypad make a turn.

use std::time::Duration;

use switchboard_domain::agent::AgentTurnTaking;

/// Turn-taking tuning of a session. The defaults are an agent's ([`AgentTurnTaking::default`]);
/// build it from an agent's configuration with `TurnTaking::from(&agent.turn_taking)`.
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

impl Default for TurnTaking {
    fn default() -> Self {
        Self::from(&AgentTurnTaking::default())
    }
}

/// Milliseconds as a duration; 0 as "never".
fn unless_zero(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
}

impl From<&AgentTurnTaking> for TurnTaking {
    fn from(agent: &AgentTurnTaking) -> Self {
        Self {
            min_interruption_words: agent.min_interruption_words,
            min_interruption: Duration::from_millis(u64::from(agent.min_interruption_ms)),
            false_interruption_timeout: Duration::from_millis(u64::from(
                agent.false_interruption_timeout_ms,
            )),
            backchannel_words: agent.backchannel_words.clone(),
            filler_after: unless_zero(agent.filler_after_ms),
            filler_line: agent.filler_line.clone(),
            silence_reprompt_after: unless_zero(agent.silence_reprompt_after_ms),
            silence_reprompts_max: agent.silence_reprompts_max,
            silence_reprompt_line: agent.silence_reprompt_line.clone(),
            silence_goodbye_line: agent.silence_goodbye_line.clone(),
            dtmf_timeout: Duration::from_millis(u64::from(agent.dtmf_timeout_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agents_settings_map_to_the_session_and_zero_means_never() {
        let defaults = TurnTaking::default();
        assert_eq!(defaults.min_interruption, Duration::from_millis(800));
        assert_eq!(defaults.filler_after, Some(Duration::from_millis(1200)));
        assert_eq!(
            defaults.silence_reprompt_after,
            Some(Duration::from_secs(8))
        );
        let agent = AgentTurnTaking {
            min_interruption_words: 3,
            false_interruption_timeout_ms: 2500,
            filler_after_ms: 0,
            silence_reprompt_after_ms: 0,
            dtmf_timeout_ms: 3000,
            backchannel_words: vec!["aye".into()],
            ..AgentTurnTaking::default()
        };
        let session = TurnTaking::from(&agent);
        assert_eq!(session.min_interruption_words, 3);
        assert_eq!(
            session.false_interruption_timeout,
            Duration::from_millis(2500)
        );
        assert_eq!(session.filler_after, None);
        assert_eq!(session.silence_reprompt_after, None);
        assert_eq!(session.dtmf_timeout, Duration::from_secs(3));
        assert_eq!(session.backchannel_words, ["aye"]);
        assert_eq!(session.filler_line, agent.filler_line);
    }
}
