//! What an agent does when an outbound call reaches an answering machine: whether to ask the
//! telephony provider to detect one at all, and the message to leave (none: hang up).

use serde::{Deserialize, Serialize};

use crate::validation::ValidationErrors;

/// The longest voicemail message, in characters (Twilio speaks TwiML of at most 4000).
pub const MAX_VOICEMAIL_CHARS: usize = 1000;

/// An agent's answering-machine handling on outbound calls.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentVoicemail {
    /// Ask the provider whether a person or a machine answered (it listens to the first
    /// seconds of the call).
    pub detect_machine: bool,
    /// Left after the beep when a machine answered; empty hangs up without a word.
    pub message: String,
}

/// Voicemail fields as sent; absent fields keep their current value.
#[derive(Clone, Debug, Default)]
pub struct VoicemailInput {
    pub detect_machine: Option<bool>,
    pub message: Option<String>,
}

impl VoicemailInput {
    /// `base` with the fields sent, or errors naming `voicemail.<field>`.
    pub(super) fn apply_to(
        self,
        base: &AgentVoicemail,
        errors: &mut ValidationErrors,
    ) -> AgentVoicemail {
        let mut out = base.clone();
        if let Some(detect) = self.detect_machine {
            out.detect_machine = detect;
        }
        if let Some(message) = self.message {
            let message = message.trim();
            if message.chars().count() > MAX_VOICEMAIL_CHARS {
                errors.add(
                    "voicemail.message",
                    format!("must be at most {MAX_VOICEMAIL_CHARS} characters"),
                );
            } else {
                message.clone_into(&mut out.message);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_change_what_is_sent_and_long_messages_are_refused() {
        let base = AgentVoicemail::default();
        let mut errors = ValidationErrors::new();
        let set = VoicemailInput {
            detect_machine: Some(true),
            message: Some("  Please call us back.  ".into()),
        }
        .apply_to(&base, &mut errors);
        assert!(errors.is_empty());
        assert!(set.detect_machine);
        assert_eq!(set.message, "Please call us back.");
        let kept = VoicemailInput::default().apply_to(&set, &mut errors);
        assert_eq!(kept, set);
        let long = VoicemailInput {
            detect_machine: None,
            message: Some("x".repeat(MAX_VOICEMAIL_CHARS + 1)),
        }
        .apply_to(&set, &mut errors);
        assert_eq!(long, set);
        assert_eq!(errors.errors()[0].field, "voicemail.message");
    }
}
