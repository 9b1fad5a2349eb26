//! What the session does about a caller who says nothing. One mechanism serves both settings:
//! after a pause with neither side speaking the agent checks in ("Are you still there?"), up to
//! a number of times, and then says goodbye and ends the call. A plain silence timeout
//! ([`VoiceSessionConfig::silence_timeout`]) is the same with no check-in and no goodbye.

use std::time::Duration;

use tokio::time::Instant;

use super::VoiceSessionConfig;

/// How a session treats silence.
#[derive(Debug, Clone)]
struct Policy {
    pause: Duration,
    check_ins: u32,
    check_in_line: String,
    goodbye_line: String,
}

/// What to do when the pause has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lapse {
    /// Say this, then wait for another pause.
    CheckIn(String),
    /// Say this (if anything) and end the call.
    Goodbye(String),
}

/// The silence timer and the check-ins said since the caller was last heard.
#[derive(Debug, Clone)]
pub(super) struct SilenceWatch {
    policy: Option<Policy>,
    deadline: Option<Instant>,
    checked_in: u32,
}

impl SilenceWatch {
    pub(super) fn new(config: &VoiceSessionConfig) -> Self {
        let rules = &config.turn_taking;
        let policy = match config.silence_timeout {
            Some(pause) => Some(Policy {
                pause,
                check_ins: 0,
                check_in_line: String::new(),
                goodbye_line: String::new(),
            }),
            None => rules.silence_reprompt_after.map(|pause| Policy {
                pause,
                check_ins: rules.silence_reprompts_max,
                check_in_line: rules.silence_reprompt_line.clone(),
                goodbye_line: rules.silence_goodbye_line.clone(),
            }),
        };
        Self {
            policy,
            deadline: None,
            checked_in: 0,
        }
    }

    /// The pause counts from now (the agent finished speaking, or something happened).
    pub(super) fn restart(&mut self, now: Instant) {
        self.deadline = self.policy.as_ref().map(|policy| now + policy.pause);
    }

    /// The caller was heard: they are there, so the check-ins start over.
    pub(super) fn caller_heard(&mut self, now: Instant) {
        self.checked_in = 0;
        self.restart(now);
    }

    /// When the pause will have passed, if it is running.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The pause passed: what the agent says. The timer stops until restarted.
    pub(super) fn lapse(&mut self) -> Lapse {
        self.deadline = None;
        let Some(policy) = &self.policy else {
            return Lapse::Goodbye(String::new());
        };
        if self.checked_in < policy.check_ins && !policy.check_in_line.trim().is_empty() {
            self.checked_in += 1;
            Lapse::CheckIn(policy.check_in_line.clone())
        } else {
            Lapse::Goodbye(policy.goodbye_line.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::TurnTaking;

    fn config(silence_timeout: Option<Duration>, check_ins: u32) -> VoiceSessionConfig {
        VoiceSessionConfig {
            silence_timeout,
            turn_taking: TurnTaking {
                silence_reprompt_after: Some(Duration::from_secs(8)),
                silence_reprompts_max: check_ins,
                silence_reprompt_line: "Still there?".into(),
                silence_goodbye_line: "Bye.".into(),
                ..TurnTaking::default()
            },
            ..VoiceSessionConfig::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn checks_in_then_says_goodbye_and_starts_over_when_the_caller_speaks() {
        let mut watch = SilenceWatch::new(&config(None, 2));
        let now = Instant::now();
        assert_eq!(watch.deadline(), None, "not running until started");
        watch.restart(now);
        assert_eq!(watch.deadline(), Some(now + Duration::from_secs(8)));
        assert_eq!(watch.lapse(), Lapse::CheckIn("Still there?".into()));
        assert_eq!(watch.deadline(), None);
        assert_eq!(watch.lapse(), Lapse::CheckIn("Still there?".into()));
        watch.caller_heard(now);
        assert_eq!(watch.lapse(), Lapse::CheckIn("Still there?".into()));
        assert_eq!(watch.lapse(), Lapse::CheckIn("Still there?".into()));
        assert_eq!(watch.lapse(), Lapse::Goodbye("Bye.".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_plain_timeout_ends_at_once_whatever_turn_taking_says() {
        let mut watch = SilenceWatch::new(&config(Some(Duration::from_secs(5)), 2));
        let now = Instant::now();
        watch.restart(now);
        assert_eq!(watch.deadline(), Some(now + Duration::from_secs(5)));
        assert_eq!(watch.lapse(), Lapse::Goodbye(String::new()));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_pause_silence_never_lapses() {
        let mut config = config(None, 2);
        config.turn_taking.silence_reprompt_after = None;
        let mut watch = SilenceWatch::new(&config);
        watch.restart(Instant::now());
        assert_eq!(watch.deadline(), None);
    }
}
