//! How an agent takes turns on a voice call: what counts as an interruption, the filler line for
//! a slow tool, checking on a silent caller, and keypad entries. Every field has a default, so
//! agents stored before the section existed load with them; an update changes only the fields it
//! sends.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::validation::ValidationErrors;

/// Words and phrases that show a caller is listening, not taking the turn.
pub const DEFAULT_BACKCHANNEL_WORDS: &[&str] = &[
    "yeah", "yes", "yep", "yup", "ya", "uh-huh", "mhm", "mm-hmm", "mm", "hmm", "okay", "ok",
    "right", "alright", "sure", "i see", "got it", "cool",
];

const MAX_BACKCHANNEL_WORDS: usize = 50;
const MAX_BACKCHANNEL_CHARS: usize = 40;
const MAX_LINE_CHARS: usize = 200;

/// An agent's turn-taking on voice calls. Durations are in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentTurnTaking {
    /// Words (not all backchannel words) the caller must say over the agent to interrupt it;
    /// 0 leaves it to `min_interruption_ms`.
    pub min_interruption_words: u32,
    /// Speech over the agent longer than this interrupts it, unless it is only backchannel
    /// words; 0 interrupts at the first sound.
    pub min_interruption_ms: u32,
    /// An interruption not confirmed within this is judged false, and the agent resumes.
    pub false_interruption_timeout_ms: u32,
    /// Said over the agent, these neither interrupt it nor become a turn ("yeah", "uh-huh").
    pub backchannel_words: Vec<String>,
    /// Silence, while a tool call runs, before the agent says `filler_line`; 0 never does.
    pub filler_after_ms: u32,
    pub filler_line: String,
    /// Silence on both sides before the agent checks in; 0 never checks in nor hangs up for
    /// silence.
    pub silence_reprompt_after_ms: u32,
    /// Check-ins before the agent says `silence_goodbye_line` and hangs up.
    pub silence_reprompts_max: u32,
    pub silence_reprompt_line: String,
    /// Said before hanging up on a silent caller; empty hangs up without a word.
    pub silence_goodbye_line: String,
    /// A keypad entry ends with `#` or after this long without another key.
    pub dtmf_timeout_ms: u32,
}

impl Default for AgentTurnTaking {
    fn default() -> Self {
        Self {
            min_interruption_words: 1,
            min_interruption_ms: 800,
            false_interruption_timeout_ms: 1500,
            backchannel_words: DEFAULT_BACKCHANNEL_WORDS
                .iter()
                .map(|&word| word.to_owned())
                .collect(),
            filler_after_ms: 1200,
            filler_line: "One moment while I check that.".to_owned(),
            silence_reprompt_after_ms: 8000,
            silence_reprompts_max: 2,
            silence_reprompt_line: "Are you still there?".to_owned(),
            silence_goodbye_line: "I haven't heard from you, so I'll hang up now. Goodbye!"
                .to_owned(),
            dtmf_timeout_ms: 2000,
        }
    }
}

/// Turn-taking fields as sent; absent fields keep their current value.
#[derive(Clone, Debug, Default)]
pub struct TurnTakingInput {
    pub min_interruption_words: Option<i64>,
    pub min_interruption_ms: Option<i64>,
    pub false_interruption_timeout_ms: Option<i64>,
    pub backchannel_words: Option<Vec<String>>,
    pub filler_after_ms: Option<i64>,
    pub filler_line: Option<String>,
    pub silence_reprompt_after_ms: Option<i64>,
    pub silence_reprompts_max: Option<i64>,
    pub silence_reprompt_line: Option<String>,
    pub silence_goodbye_line: Option<String>,
    pub dtmf_timeout_ms: Option<i64>,
}

/// Reads a number within `range`, or records why not under `turn_taking.<name>`.
fn number(
    name: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<u32>,
    target: &mut u32,
    errors: &mut ValidationErrors,
) {
    let Some(value) = value else {
        return;
    };
    match u32::try_from(value) {
        Ok(value) if range.contains(&value) => *target = value,
        _ => errors.add(
            format!("turn_taking.{name}"),
            format!("must be between {} and {}", range.start(), range.end()),
        ),
    }
}

/// As [`number`], where 0 also means "never".
fn optional_ms(
    name: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<u32>,
    target: &mut u32,
    errors: &mut ValidationErrors,
) {
    if value == Some(0) {
        *target = 0;
        return;
    }
    let Some(value) = value else {
        return;
    };
    match u32::try_from(value) {
        Ok(value) if range.contains(&value) => *target = value,
        _ => errors.add(
            format!("turn_taking.{name}"),
            format!(
                "must be 0 (never) or between {} and {}",
                range.start(),
                range.end()
            ),
        ),
    }
}

/// Reads a line to say, trimmed, of at most [`MAX_LINE_CHARS`]; `required` refuses an empty one.
fn line(
    name: &str,
    value: Option<String>,
    required: bool,
    target: &mut String,
    errors: &mut ValidationErrors,
) {
    let Some(value) = value else {
        return;
    };
    let value = value.trim();
    if required && value.is_empty() {
        errors.add(format!("turn_taking.{name}"), "must not be empty");
    } else if value.chars().count() > MAX_LINE_CHARS {
        errors.add(
            format!("turn_taking.{name}"),
            format!("must be at most {MAX_LINE_CHARS} characters"),
        );
    } else {
        value.clone_into(target);
    }
}

fn backchannel_words(words: Vec<String>, errors: &mut ValidationErrors) -> Vec<String> {
    if words.len() > MAX_BACKCHANNEL_WORDS {
        errors.add(
            "turn_taking.backchannel_words",
            format!("at most {MAX_BACKCHANNEL_WORDS} words or phrases"),
        );
    }
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    for (index, word) in words.iter().enumerate() {
        let word = word.trim();
        let has_letters = word.chars().any(char::is_alphanumeric);
        if !has_letters || word.chars().count() > MAX_BACKCHANNEL_CHARS {
            errors.add(
                format!("turn_taking.backchannel_words[{index}]"),
                format!("must be 1 to {MAX_BACKCHANNEL_CHARS} characters with a letter or digit"),
            );
        } else if seen.insert(word.to_lowercase()) {
            kept.push(word.to_owned());
        }
    }
    kept
}

impl TurnTakingInput {
    /// `base` with the fields that were sent replaced; problems go to `errors`, named
    /// `turn_taking.<field>`.
    pub(super) fn apply_to(
        self,
        base: &AgentTurnTaking,
        errors: &mut ValidationErrors,
    ) -> AgentTurnTaking {
        let mut out = base.clone();
        let e = errors;
        number(
            "min_interruption_words",
            self.min_interruption_words,
            0..=20,
            &mut out.min_interruption_words,
            e,
        );
        number(
            "min_interruption_ms",
            self.min_interruption_ms,
            0..=5000,
            &mut out.min_interruption_ms,
            e,
        );
        number(
            "false_interruption_timeout_ms",
            self.false_interruption_timeout_ms,
            200..=10_000,
            &mut out.false_interruption_timeout_ms,
            e,
        );
        if let Some(words) = self.backchannel_words {
            out.backchannel_words = backchannel_words(words, e);
        }
        optional_ms(
            "filler_after_ms",
            self.filler_after_ms,
            300..=10_000,
            &mut out.filler_after_ms,
            e,
        );
        line(
            "filler_line",
            self.filler_line,
            true,
            &mut out.filler_line,
            e,
        );
        optional_ms(
            "silence_reprompt_after_ms",
            self.silence_reprompt_after_ms,
            2000..=120_000,
            &mut out.silence_reprompt_after_ms,
            e,
        );
        number(
            "silence_reprompts_max",
            self.silence_reprompts_max,
            0..=5,
            &mut out.silence_reprompts_max,
            e,
        );
        line(
            "silence_reprompt_line",
            self.silence_reprompt_line,
            true,
            &mut out.silence_reprompt_line,
            e,
        );
        line(
            "silence_goodbye_line",
            self.silence_goodbye_line,
            false,
            &mut out.silence_goodbye_line,
            e,
        );
        number(
            "dtmf_timeout_ms",
            self.dtmf_timeout_ms,
            500..=10_000,
            &mut out.dtmf_timeout_ms,
            e,
        );
        // Speech can only confirm an interruption before it is judged false.
        if out.min_interruption_ms >= out.false_interruption_timeout_ms {
            e.add(
                "turn_taking.min_interruption_ms",
                format!(
                    "must be less than false_interruption_timeout_ms ({})",
                    out.false_interruption_timeout_ms
                ),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn apply(input: TurnTakingInput) -> Result<AgentTurnTaking, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let out = input.apply_to(&AgentTurnTaking::default(), &mut errors);
        errors.into_result(out)
    }

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn nothing_sent_keeps_the_defaults() {
        assert_eq!(
            apply(TurnTakingInput::default()).unwrap(),
            AgentTurnTaking::default()
        );
    }

    #[test]
    fn sent_fields_change_and_zero_turns_off() {
        let out = apply(TurnTakingInput {
            min_interruption_words: Some(2),
            filler_after_ms: Some(0),
            silence_reprompt_after_ms: Some(0),
            backchannel_words: Some(vec![" Yeah ".into(), "yeah".into(), "uh huh".into()]),
            silence_goodbye_line: Some(String::new()),
            ..TurnTakingInput::default()
        })
        .unwrap();
        assert_eq!(out.min_interruption_words, 2);
        assert_eq!(out.filler_after_ms, 0);
        assert_eq!(out.silence_reprompt_after_ms, 0);
        assert_eq!(out.backchannel_words, ["Yeah", "uh huh"]);
        assert_eq!(out.silence_goodbye_line, "");
        assert_eq!(out.dtmf_timeout_ms, 2000);
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = apply(TurnTakingInput {
            min_interruption_words: Some(-1),
            min_interruption_ms: Some(6000),
            false_interruption_timeout_ms: Some(100),
            backchannel_words: Some(vec!["ok".into(), "  ".into(), "!!".into()]),
            filler_after_ms: Some(100),
            filler_line: Some(" ".into()),
            silence_reprompt_after_ms: Some(1000),
            silence_reprompts_max: Some(9),
            silence_reprompt_line: Some("x".repeat(201)),
            silence_goodbye_line: Some("y".repeat(201)),
            dtmf_timeout_ms: Some(60_000),
        })
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "turn_taking.min_interruption_words",
                "turn_taking.min_interruption_ms",
                "turn_taking.false_interruption_timeout_ms",
                "turn_taking.backchannel_words[1]",
                "turn_taking.backchannel_words[2]",
                "turn_taking.filler_after_ms",
                "turn_taking.filler_line",
                "turn_taking.silence_reprompt_after_ms",
                "turn_taking.silence_reprompts_max",
                "turn_taking.silence_reprompt_line",
                "turn_taking.silence_goodbye_line",
                "turn_taking.dtmf_timeout_ms",
            ]
        );
    }

    #[test]
    fn the_minimum_speech_must_fit_before_the_timeout() {
        let errors = apply(TurnTakingInput {
            min_interruption_ms: Some(1500),
            ..TurnTakingInput::default()
        })
        .unwrap_err();
        assert_eq!(fields(&errors), ["turn_taking.min_interruption_ms"]);
        assert!(errors.errors()[0].message.contains("1500"));
    }

    #[test]
    fn stored_sections_missing_fields_load_with_defaults() {
        let stored: AgentTurnTaking =
            serde_json::from_value(serde_json::json!({"min_interruption_ms": 500})).unwrap();
        assert_eq!(stored.min_interruption_ms, 500);
        assert_eq!(stored.filler_line, AgentTurnTaking::default().filler_line);
    }
}
