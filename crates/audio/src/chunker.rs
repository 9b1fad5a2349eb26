//! Streaming sentence chunking: reply text arrives token by token from the language model, and
//! speech synthesis should start on the first sentence while the rest is still being written.
//!
//! A sentence ends at `.`, `!`, `?` or `…` (with any run of them and closing quotes or brackets)
//! followed by whitespace, or at a newline. A full stop does not end a sentence inside a number
//! (`3.5`), after a dotted abbreviation (`e.g.`, `U.S.`), a listed title or abbreviation (`Dr.`,
//! `Mr.`, `approx.`) or a single-letter initial (`J. Smith`). Because the character after a
//! terminator decides, a sentence is emitted when the first character after it arrives.
//!
//! Sentences shorter than a minimum are not emitted alone but joined to the next one, so the
//! synthesiser is not asked for "Hi!" and then, separately, for the rest of the greeting.
//! [`SentenceChunker::flush`] returns whatever remains when the reply is complete.

/// Words that take a full stop without ending a sentence, lower case, without the stop.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ave", "vs", "approx", "dept", "est",
    "fig", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "tel", "ext",
];

/// Characters that end a sentence when whitespace follows them.
fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// Characters that may stand between a terminator and the whitespace after it.
fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '”' | '’' | '»')
}

/// The default minimum sentence length, in characters.
pub const DEFAULT_MIN_CHARS: usize = 12;

/// A complete sentence of the streamed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// The sentence, without surrounding whitespace.
    pub text: String,
    /// Byte offset in the whole pushed text just past the sentence's last character, so
    /// `&pushed[..end]` is everything up to and including this sentence.
    pub end: usize,
}

/// Cuts a stream of text into sentences as they complete.
#[derive(Debug, Clone)]
pub struct SentenceChunker {
    /// Text pushed but not yet emitted.
    pending: String,
    /// Byte offset of `pending` in the whole pushed text.
    pending_start: usize,
    /// Byte offset in `pending` from which to look for the next boundary; everything before it
    /// has been judged not to end a sentence (or to end one that was too short).
    scan_from: usize,
    min_chars: usize,
}

impl Default for SentenceChunker {
    fn default() -> Self {
        Self::new()
    }
}

impl SentenceChunker {
    /// A chunker with the default minimum sentence length.
    #[must_use]
    pub fn new() -> Self {
        Self::with_min_chars(DEFAULT_MIN_CHARS)
    }

    /// A chunker that joins sentences shorter than `min_chars` characters to the next one.
    #[must_use]
    pub fn with_min_chars(min_chars: usize) -> Self {
        Self {
            pending: String::new(),
            pending_start: 0,
            scan_from: 0,
            min_chars,
        }
    }

    /// Bytes of text pushed so far.
    #[must_use]
    pub fn pushed_len(&self) -> usize {
        self.pending_start + self.pending.len()
    }

    /// Text pushed and not yet returned as a sentence.
    #[must_use]
    pub fn pending(&self) -> &str {
        &self.pending
    }

    /// Adds a token and returns the sentences it completes, in order.
    pub fn push(&mut self, token: &str) -> Vec<Sentence> {
        self.pending.push_str(token);
        let mut sentences = Vec::new();
        while let Some(end) = self.next_boundary() {
            let text = self.pending[..end].trim();
            if text.chars().count() < self.min_chars {
                // Too short to speak alone: keep it and look for the next boundary after it.
                self.scan_from = end;
                continue;
            }
            sentences.push(Sentence {
                text: text.to_owned(),
                end: self.pending_start + end,
            });
            self.pending.drain(..end);
            self.pending_start += end;
            self.scan_from = 0;
        }
        sentences
    }

    /// Ends the text: returns what remains as a last sentence, or `None` when only whitespace
    /// remains. The chunker is then ready for a new text.
    pub fn flush(&mut self) -> Option<Sentence> {
        let pending = std::mem::take(&mut self.pending);
        let end = self.pending_start + pending.trim_end().len();
        self.pending_start = 0;
        self.scan_from = 0;
        let text = pending.trim();
        (!text.is_empty()).then(|| Sentence {
            text: text.to_owned(),
            end,
        })
    }

    /// Forgets everything pushed, for example when a reply is cancelled.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.pending_start = 0;
        self.scan_from = 0;
    }

    /// The byte offset in `pending` just past the next sentence end at or after `scan_from`, or
    /// `None` when no sentence end is certain yet.
    fn next_boundary(&mut self) -> Option<usize> {
        let text = &self.pending;
        let mut chars = text[self.scan_from..]
            .char_indices()
            .map(|(at, c)| (at + self.scan_from, c))
            .peekable();
        while let Some((at, c)) = chars.next() {
            if c == '\n' {
                return Some(at + 1);
            }
            if !is_terminator(c) {
                continue;
            }
            // Take the whole run of terminators and closers: "?!", "...", ".\"".
            let mut end = at + c.len_utf8();
            let mut run_is_single_stop = c == '.';
            while let Some(&(next_at, next)) = chars.peek() {
                if is_terminator(next) || is_closer(next) {
                    run_is_single_stop &= !is_terminator(next);
                    end = next_at + next.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                // The character after the run is not here yet: decide on the next push, and
                // resume the scan at this terminator then.
                None => {
                    self.scan_from = at;
                    return None;
                }
                Some(&(_, next)) if !next.is_whitespace() => continue,
                Some(_) => {}
            }
            if run_is_single_stop && is_abbreviation(&text[..at]) {
                continue;
            }
            return Some(end);
        }
        self.scan_from = text.len();
        None
    }
}

/// Whether the word just before a full stop is one that takes a stop without ending a sentence.
fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or_default()
        .trim_start_matches(['(', '[', '"', '\'', '“', '‘']);
    if word.is_empty() {
        return false;
    }
    // "e.g", "i.e", "U.S", "a.m": dots inside the word mark an abbreviation.
    if word.contains('.') {
        return true;
    }
    let mut letters = word.chars();
    if let (Some(first), None) = (letters.next(), letters.next()) {
        // A lone capital is an initial ("J. Smith"); a lone digit is a list number or the end
        // of a sentence about a quantity, so it ends the sentence.
        return first.is_uppercase();
    }
    let lower = word.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sentences: &[Sentence]) -> Vec<&str> {
        sentences.iter().map(|s| s.text.as_str()).collect()
    }

    /// Pushes `text` one character at a time, as the worst-case tokeniser would, and flushes.
    fn chunk_by_char(text: &str, min_chars: usize) -> Vec<Sentence> {
        let mut chunker = SentenceChunker::with_min_chars(min_chars);
        let mut out = Vec::new();
        for c in text.chars() {
            out.extend(chunker.push(c.encode_utf8(&mut [0; 4])));
        }
        out.extend(chunker.flush());
        out
    }

    #[test]
    fn sentences_come_out_as_soon_as_the_next_character_arrives() {
        let mut chunker = SentenceChunker::with_min_chars(1);
        assert!(chunker.push("Hello there").is_empty());
        assert!(chunker.push(".").is_empty(), "could still be a decimal");
        let first = chunker.push(" How");
        assert_eq!(
            first,
            vec![Sentence {
                text: "Hello there.".into(),
                end: 12
            }]
        );
        assert_eq!(chunker.pending(), " How");
        assert!(chunker.push(" can I help").is_empty());
        let second = chunker.push("? Bye");
        assert_eq!(texts(&second), ["How can I help?"]);
        assert_eq!(second[0].end, 28);
        assert_eq!(
            chunker.flush(),
            Some(Sentence {
                text: "Bye".into(),
                end: 32
            })
        );
        assert_eq!(chunker.flush(), None);
    }

    #[test]
    fn every_terminator_and_newlines_end_sentences() {
        let text = "Really?! Yes… It is \"done.\" Great!\nNext line\nLast";
        let sentences = chunk_by_char(text, 1);
        assert_eq!(
            texts(&sentences),
            [
                "Really?!",
                "Yes…",
                "It is \"done.\"",
                "Great!",
                "Next line",
                "Last"
            ]
        );
        // Offsets point into the pushed text just past each sentence.
        for sentence in &sentences {
            assert!(text[..sentence.end].trim_end().ends_with(&sentence.text));
        }
    }

    #[test]
    fn decimals_abbreviations_and_initials_do_not_end_sentences() {
        let text = "It costs 3.5 dollars, e.g. for Dr. Smith and J. R. Jones at 9 a.m. today. \
                    Version 2.0.1 is out. Ellipses... end them.";
        assert_eq!(
            texts(&chunk_by_char(text, 1)),
            [
                "It costs 3.5 dollars, e.g. for Dr. Smith and J. R. Jones at 9 a.m. today.",
                "Version 2.0.1 is out.",
                "Ellipses...",
                "end them."
            ]
        );
    }

    #[test]
    fn short_sentences_merge_with_the_next() {
        let text = "Hi! Sure. I can book that table for you. Ok. Bye.";
        assert_eq!(
            texts(&chunk_by_char(text, 12)),
            ["Hi! Sure. I can book that table for you.", "Ok. Bye."]
        );
    }

    #[test]
    fn token_boundaries_do_not_change_the_result() {
        let text = "Your order, number 42, ships on Dec. 3rd! It weighs 1.25 kg. \
                    Anything else I can help you with today?";
        let whole = {
            let mut chunker = SentenceChunker::new();
            let mut out = chunker.push(text);
            out.extend(chunker.flush());
            out
        };
        assert_eq!(whole, chunk_by_char(text, DEFAULT_MIN_CHARS));
        let mut chunker = SentenceChunker::new();
        let mut by_words = Vec::new();
        for word in text.split_inclusive(' ') {
            by_words.extend(chunker.push(word));
        }
        by_words.extend(chunker.flush());
        assert_eq!(whole, by_words);
        assert_eq!(
            texts(&whole),
            [
                "Your order, number 42, ships on Dec. 3rd!",
                "It weighs 1.25 kg.",
                "Anything else I can help you with today?"
            ]
        );
    }

    #[test]
    fn flush_of_whitespace_is_nothing_and_reset_forgets() {
        let mut chunker = SentenceChunker::new();
        assert!(chunker.push("  \n ").is_empty());
        assert_eq!(chunker.flush(), None);
        chunker.push("Half a sent");
        assert_eq!(chunker.pushed_len(), 11);
        chunker.reset();
        assert_eq!(chunker.pushed_len(), 0);
        assert_eq!(chunker.flush(), None);
    }

    #[test]
    fn multibyte_text_keeps_byte_offsets() {
        let text = "Ça coûte 3,5 €. Très bien, merci beaucoup!";
        let sentences = chunk_by_char(text, 1);
        assert_eq!(
            texts(&sentences),
            ["Ça coûte 3,5 €.", "Très bien, merci beaucoup!"]
        );
        assert_eq!(&text[..sentences[0].end], "Ça coûte 3,5 €.");
        assert_eq!(sentences[1].end, text.len());
    }
}
