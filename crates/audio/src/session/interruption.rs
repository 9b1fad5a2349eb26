//! Telling a real interruption from a backchannel ("uh-huh") or a noise.
//!
//! When the caller starts speaking while the agent talks, the driver pauses the agent's audio
//! (it paces in real time, so the far end runs dry within a few frames) and opens an
//! [`Interruption`]. Each later event (words from the recogniser, the VAD's view of the speech,
//! the end of the caller's utterance, a deadline) is judged here:
//! - the caller said at least `min_interruption_words` words that are not all backchannel words,
//!   or spoke longer than `min_interruption` without the words being only backchannel: the
//!   interruption is confirmed, and the driver cuts the reply as before;
//! - the caller's utterance ended as backchannel words only, or with fewer words than needed,
//!   or nothing confirmed it within `false_interruption_timeout`: the agent resumes where it
//!   paused.

use std::time::Duration;

use tokio::time::Instant;

use super::TurnTaking;

/// Splits text into lower-case words of letters and digits; apostrophes vanish and every other
/// character separates words, so "Uh-huh." is `["uh", "huh"]` and "don't" is `["dont"]`.
pub(super) fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if matches!(c, '\'' | '\u{2019}') {
            // Contractions stay one word.
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The backchannel phrases, as words.
#[derive(Debug, Clone)]
pub(super) struct Backchannel {
    phrases: Vec<Vec<String>>,
}

impl Backchannel {
    pub(super) fn new(phrases: &[String]) -> Self {
        let mut phrases: Vec<Vec<String>> = phrases
            .iter()
            .map(|phrase| words(phrase))
            .filter(|phrase| !phrase.is_empty())
            .collect();
        // Longest first, so "mm hmm" is taken whole before "mm".
        phrases.sort_by_key(|phrase| std::cmp::Reverse(phrase.len()));
        Self { phrases }
    }

    /// Whether `words` is nothing but backchannel phrases, one after another; false for no
    /// words.
    pub(super) fn covers(&self, words: &[String]) -> bool {
        // Which prefixes of `words` are sequences of phrases; a few words, a few phrases.
        let mut reachable = vec![false; words.len() + 1];
        reachable[0] = true;
        for start in 0..words.len() {
            if !reachable[start] {
                continue;
            }
            for phrase in &self.phrases {
                if words[start..].starts_with(phrase) {
                    reachable[start + phrase.len()] = true;
                }
            }
        }
        !words.is_empty() && reachable[words.len()]
    }
}

/// What to do about an interruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Not decided yet: stay paused.
    Wait,
    /// A real interruption: stop the reply.
    Confirm,
    /// A false one: play on.
    Resume,
}

/// What the caller has said so far in this utterance.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heard<'a> {
    pub(super) words: &'a [String],
    /// The caller's utterance is over (the recogniser or the VAD says so).
    pub(super) over: bool,
}

/// An interruption being judged while the agent's audio is paused.
#[derive(Debug, Clone)]
pub(super) struct Interruption {
    started_at: Instant,
    /// Speech heard (by the VAD) in finished stretches since the interruption began.
    spoke: Duration,
    /// The start of the stretch of speech going on now.
    speaking_since: Option<Instant>,
}

impl Interruption {
    /// An interruption beginning now; `speaking_since` is where the VAD's current stretch of
    /// speech began, if it hears one.
    pub(super) fn begin(now: Instant, speaking_since: Option<Instant>) -> Self {
        Self {
            started_at: now,
            spoke: Duration::ZERO,
            speaking_since,
        }
    }

    /// The VAD heard speech start at `at`.
    pub(super) fn speech_started(&mut self, at: Instant) {
        self.speaking_since.get_or_insert(at);
    }

    /// The VAD heard speech end at `at`.
    pub(super) fn speech_ended(&mut self, at: Instant) {
        if let Some(since) = self.speaking_since.take() {
            self.spoke += at.saturating_duration_since(since);
        }
    }

    pub(super) fn spoke_for(&self, now: Instant) -> Duration {
        self.spoke
            + self
                .speaking_since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// When the verdict may change without a new event: the speech reaching the minimum, or
    /// the timeout.
    pub(super) fn next_check(&self, rules: &TurnTaking) -> Instant {
        let timeout = self.started_at + rules.false_interruption_timeout;
        match self.speaking_since {
            Some(since) => {
                let long_enough = since + rules.min_interruption.saturating_sub(self.spoke);
                long_enough.min(timeout)
            }
            None => timeout,
        }
    }

    /// Judges the interruption as of `now`.
    pub(super) fn judge(
        &self,
        rules: &TurnTaking,
        backchannel: &Backchannel,
        heard: Heard<'_>,
        now: Instant,
    ) -> Verdict {
        let verdict = judge_words(rules, backchannel, heard, self.spoke_for(now));
        if verdict == Verdict::Wait && now >= self.started_at + rules.false_interruption_timeout {
            return Verdict::Resume;
        }
        verdict
    }
}

/// The verdict on what the caller said and how long they spoke, regardless of time outs. Also
/// used for an utterance that ends while the agent talks without a pause having begun.
pub(super) fn judge_words(
    rules: &TurnTaking,
    backchannel: &Backchannel,
    heard: Heard<'_>,
    spoke_for: Duration,
) -> Verdict {
    let only_backchannel = backchannel.covers(heard.words);
    let enough_words = !heard.words.is_empty()
        && heard.words.len() >= usize::try_from(rules.min_interruption_words).unwrap_or(usize::MAX)
        && rules.min_interruption_words > 0;
    if !only_backchannel && enough_words {
        return Verdict::Confirm;
    }
    if !only_backchannel && spoke_for >= rules.min_interruption {
        return Verdict::Confirm;
    }
    if heard.over && !heard.words.is_empty() {
        // Backchannel words, or too few words to count: the caller is listening.
        return Verdict::Resume;
    }
    Verdict::Wait
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn backchannel() -> Backchannel {
        Backchannel::new(&TurnTaking::default().backchannel_words)
    }

    fn said(text: &str) -> Vec<String> {
        words(text)
    }

    #[test]
    fn words_ignore_case_and_punctuation() {
        assert_eq!(words("Uh-huh. OK!"), ["uh", "huh", "ok"]);
        assert_eq!(words("I don't know"), ["i", "dont", "know"]);
        assert!(words(" ...").is_empty());
    }

    #[test]
    fn backchannel_covers_only_sequences_of_its_phrases() {
        let b = backchannel();
        assert!(b.covers(&said("Uh-huh")));
        assert!(b.covers(&said("yeah, okay, right")));
        assert!(b.covers(&said("Mm-hmm. I see.")));
        assert!(!b.covers(&said("yeah but wait")));
        assert!(!b.covers(&said("see")), "half a phrase is not one");
        assert!(!b.covers(&said("")));
    }

    #[test]
    fn words_confirm_unless_they_are_backchannel() {
        let rules = TurnTaking::default();
        let b = backchannel();
        let heard = |text: &str, over| {
            let words = said(text);
            judge_words(
                &rules,
                &b,
                Heard {
                    words: &words,
                    over,
                },
                Duration::ZERO,
            )
        };
        assert_eq!(heard("wait", false), Verdict::Confirm);
        assert_eq!(heard("yeah", false), Verdict::Wait, "more may follow");
        assert_eq!(heard("yeah", true), Verdict::Resume);
        assert_eq!(heard("", false), Verdict::Wait);
        assert_eq!(heard("", true), Verdict::Wait, "words may still come");
    }

    #[test]
    fn too_few_words_resume_once_the_utterance_is_over() {
        let rules = TurnTaking {
            min_interruption_words: 3,
            ..TurnTaking::default()
        };
        let b = backchannel();
        let words = said("no thanks");
        let short = |over| {
            judge_words(
                &rules,
                &b,
                Heard {
                    words: &words,
                    over,
                },
                Duration::from_millis(300),
            )
        };
        assert_eq!(short(false), Verdict::Wait);
        assert_eq!(short(true), Verdict::Resume);
        let longer = said("no thanks really");
        let heard = Heard {
            words: &longer,
            over: false,
        };
        assert_eq!(
            judge_words(&rules, &b, heard, Duration::ZERO),
            Verdict::Confirm
        );
    }

    #[tokio::test(start_paused = true)]
    async fn long_speech_confirms_unless_only_backchannel() {
        let rules = TurnTaking::default();
        let b = backchannel();
        let start = Instant::now();
        let interruption = Interruption::begin(start, Some(start));
        let none = Heard {
            words: &[],
            over: false,
        };
        assert_eq!(
            interruption.next_check(&rules),
            start + rules.min_interruption
        );
        assert_eq!(interruption.judge(&rules, &b, none, start), Verdict::Wait);
        let later = start + rules.min_interruption;
        assert_eq!(
            interruption.judge(&rules, &b, none, later),
            Verdict::Confirm
        );
        let yeah = said("yeah okay");
        let backchannel_only = Heard {
            words: &yeah,
            over: false,
        };
        assert_eq!(
            interruption.judge(&rules, &b, backchannel_only, later),
            Verdict::Wait
        );

        // Speech in stretches adds up.
        let mut stretches = Interruption::begin(start, Some(start));
        stretches.speech_ended(start + Duration::from_millis(500));
        assert_eq!(
            stretches.next_check(&rules),
            start + rules.false_interruption_timeout
        );
        stretches.speech_started(start + Duration::from_millis(700));
        assert_eq!(
            stretches.next_check(&rules),
            start + Duration::from_millis(1000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_confirmed_in_time_resumes() {
        let rules = TurnTaking::default();
        let b = backchannel();
        let start = Instant::now();
        let interruption = Interruption::begin(start, None);
        let none = Heard {
            words: &[],
            over: false,
        };
        let timeout = start + rules.false_interruption_timeout;
        assert_eq!(interruption.next_check(&rules), timeout);
        assert_eq!(
            interruption.judge(&rules, &b, none, timeout - Duration::from_millis(1)),
            Verdict::Wait
        );
        assert_eq!(
            interruption.judge(&rules, &b, none, timeout),
            Verdict::Resume
        );
    }
}
