//! How an edge condition is tested against what the caller said: keyword and phrase matching on
//! normalised words, compiled regular expressions, answers to intent questions, and keys entered
//! on the keypad.

use regex::{Regex, RegexBuilder};

/// The compiled program of one regex may take this many bytes; ordinary utterance patterns need
/// a few kilobytes, and the limit keeps a hostile flow from claiming memory per edge.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;
/// Matching builds its lazy automaton within this budget, per regex.
const REGEX_DFA_LIMIT: usize = 256 * 1024;

/// What the caller said (or entered), prepared once for every condition of a node.
pub(super) struct Utterance<'a> {
    raw: &'a str,
    words: Vec<String>,
    /// The keys, when the caller used the keypad rather than their voice.
    keys: Option<&'a str>,
}

impl<'a> Utterance<'a> {
    pub(super) fn new(raw: &'a str) -> Self {
        Self {
            raw: raw.trim(),
            words: words(raw),
            keys: None,
        }
    }

    /// Keys entered on the keypad. Keyword and regex conditions see them as text ("42").
    pub(super) fn keys(keys: &'a str) -> Self {
        Self {
            keys: Some(keys.trim()),
            ..Self::new(keys)
        }
    }
}

/// Splits text into lower-case words: apostrophes vanish (`don't` is `dont`) and any other
/// character that is not a letter or digit separates words, so punctuation never matters.
pub(super) fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if matches!(c, '\'' | '\u{2019}' | '\u{02BC}') {
            // Keep contractions whole on both sides of the comparison.
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Whether `text` says `phrase` as whole words, ignoring case and punctuation ("Bye!" says "bye";
/// "byelaw" does not).
#[must_use]
pub fn mentions(text: &str, phrase: &str) -> bool {
    contains_phrase(&words(text), &words(phrase))
}

fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|window| window == phrase)
}

/// Compiles a regex condition's pattern, case-insensitively and within the size limits.
///
/// # Errors
/// Returns the regex crate's explanation when the pattern is invalid or too large.
pub(super) fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_LIMIT)
        .build()
}

/// An edge condition ready to test.
#[derive(Clone, Debug)]
pub(super) enum Test {
    Always,
    Else,
    /// Each keyword as its normalised words, so multi-word keywords match as phrases.
    Keywords {
        any: Vec<Vec<String>>,
        all: Vec<Vec<String>>,
    },
    Regex(Regex),
    Intent {
        description: String,
    },
    /// The keys, upper-case.
    Digits(String),
}

impl Test {
    /// Whether the condition holds for `utterance`. `intent` is the answer for this edge's intent
    /// question, if one was given; an unanswered intent does not hold. `Else` never holds here:
    /// the caller decides when it applies.
    pub(super) fn holds(&self, utterance: &Utterance<'_>, intent: Option<bool>) -> bool {
        match self {
            Self::Always => true,
            Self::Else => false,
            Self::Keywords { any, all } => {
                let any_ok =
                    any.is_empty() || any.iter().any(|k| contains_phrase(&utterance.words, k));
                let all_ok = all.iter().all(|k| contains_phrase(&utterance.words, k));
                any_ok && all_ok
            }
            Self::Regex(regex) => regex.is_match(utterance.raw),
            Self::Intent { .. } => intent == Some(true),
            Self::Digits(digits) => utterance
                .keys
                .is_some_and(|keys| keys.eq_ignore_ascii_case(digits)),
        }
    }

    /// Whether the condition needs someone (a language model) to judge the utterance.
    pub(super) fn is_intent(&self) -> bool {
        matches!(self, Self::Intent { .. })
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a failing test should stop at once"
    )]

    use super::*;

    fn keywords(any: &[&str], all: &[&str]) -> Test {
        Test::Keywords {
            any: any.iter().map(|k| words(k)).collect(),
            all: all.iter().map(|k| words(k)).collect(),
        }
    }

    fn holds(test: &Test, said: &str) -> bool {
        test.holds(&Utterance::new(said), None)
    }

    #[test]
    fn words_are_lower_case_and_free_of_punctuation() {
        assert_eq!(
            words("Yes!  I'd LOVE that, really..."),
            ["yes", "id", "love", "that", "really"]
        );
        assert_eq!(words("Don’t—call"), ["dont", "call"]);
        assert_eq!(words("Ça coûte 1,000€?"), ["ça", "coûte", "1", "000"]);
        assert!(words("?!").is_empty());
    }

    #[test]
    fn keywords_match_whole_words_ignoring_case_and_punctuation() {
        let yes = keywords(&["yes"], &[]);
        assert!(holds(&yes, "Yes!"));
        assert!(holds(&yes, "well, YES, I think so"));
        assert!(!holds(&yes, "yesterday was fine"));
        assert!(!holds(&yes, "eyes"));
        assert!(!holds(&yes, ""));
    }

    #[test]
    fn multi_word_keywords_match_as_phrases() {
        let later = keywords(&["call me back"], &[]);
        assert!(holds(&later, "Could you call me back tomorrow?"));
        assert!(holds(&later, "call... me, back"));
        assert!(!holds(&later, "call back me"));
        assert!(!holds(&later, "call me"));
    }

    #[test]
    fn contractions_match_with_or_without_apostrophe() {
        let dont = keywords(&["don't"], &[]);
        assert!(holds(&dont, "I don't know"));
        assert!(holds(&dont, "I dont know"));
        assert!(holds(&dont, "I don’t know"));
    }

    #[test]
    fn any_needs_one_and_all_needs_every_one() {
        let any = keywords(&["yes", "sure"], &[]);
        assert!(holds(&any, "sure thing"));
        assert!(!holds(&any, "no"));

        let all = keywords(&[], &["price", "discount"]);
        assert!(holds(&all, "Is there a discount on the price?"));
        assert!(!holds(&all, "What is the price?"));

        let both = keywords(&["yes", "yeah"], &["demo"]);
        assert!(holds(&both, "yeah, book a demo"));
        assert!(!holds(&both, "book a demo"));
        assert!(!holds(&both, "yes"));
    }

    #[test]
    fn regex_ignores_case_and_sees_the_raw_utterance() {
        let regex = Test::Regex(compile_regex(r"\b\d{5}\b").unwrap());
        assert!(holds(&regex, "my zip is 94107."));
        assert!(!holds(&regex, "my zip is 9410"));
        let case = Test::Regex(compile_regex("^no").unwrap());
        assert!(holds(&case, "  No, thanks"));
    }

    #[test]
    fn oversized_regexes_are_refused() {
        assert!(compile_regex(r"\w{1000}\w{1000}").is_err());
        assert!(compile_regex(r"(yes|yeah|yep|sure|of course|absolutely)[\s,!.]*\w*").is_ok());
    }

    #[test]
    fn intents_hold_only_when_answered_true() {
        let intent = Test::Intent {
            description: "wants a human".into(),
        };
        let said = Utterance::new("let me talk to a person");
        assert!(intent.holds(&said, Some(true)));
        assert!(!intent.holds(&said, Some(false)));
        assert!(!intent.holds(&said, None));
        assert!(intent.is_intent());
    }

    #[test]
    fn digits_hold_for_exactly_those_keys_and_never_for_words() {
        let one = Test::Digits("1".into());
        assert!(one.holds(&Utterance::keys("1"), None));
        assert!(!one.holds(&Utterance::keys("12"), None));
        assert!(!one.holds(&Utterance::new("1"), None), "said, not pressed");
        let code = Test::Digits("12*A".into());
        assert!(code.holds(&Utterance::keys("12*a"), None));
        // Pressed keys read as text to the other conditions.
        let regex = Test::Regex(compile_regex(r"^\d{2}$").unwrap());
        assert!(regex.holds(&Utterance::keys("42"), None));
        assert!(keywords(&["42"], &[]).holds(&Utterance::keys("42"), None));
    }

    #[test]
    fn always_holds_and_else_is_left_to_the_caller() {
        assert!(holds(&Test::Always, "anything"));
        assert!(!holds(&Test::Else, "anything"));
    }
}
