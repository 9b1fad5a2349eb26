//! Splitting a document's text into overlapping, sentence-aligned chunks, the units that are
//! embedded and searched.

use serde::Serialize;

/// The smallest `max_chars` accepted: smaller chunks carry too little context to be retrieved.
pub const MIN_CHUNK_CHARS: usize = 100;
/// The largest `max_chars` accepted, about 2,000 tokens: well inside every embedding model's
/// input limit, and already more than a prompt wants per retrieved passage.
pub const MAX_CHUNK_CHARS: usize = 8_000;

/// How documents are cut into chunks. Built through [`ChunkingOptions::new`], so every value in
/// use has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkingOptions {
    max_chars: usize,
    overlap_chars: usize,
}

/// Why chunking options were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkingOptionsError {
    #[error("the chunk size must be between {MIN_CHUNK_CHARS} and {MAX_CHUNK_CHARS} characters")]
    SizeOutOfRange,
    #[error("the chunk overlap must be at most half the chunk size")]
    OverlapTooLarge,
}

impl ChunkingOptions {
    /// The default chunk size: a paragraph or two, small enough that a match is specific and
    /// several fit in a prompt.
    pub const DEFAULT_MAX_CHARS: usize = 800;
    /// The default overlap: about one sentence.
    pub const DEFAULT_OVERLAP_CHARS: usize = 150;

    /// Checks the options.
    ///
    /// # Errors
    /// `SizeOutOfRange` unless `MIN_CHUNK_CHARS <= max_chars <= MAX_CHUNK_CHARS`;
    /// `OverlapTooLarge` when `overlap_chars` exceeds half of `max_chars` (a larger overlap would
    /// repeat most of every chunk in the next).
    pub fn new(max_chars: usize, overlap_chars: usize) -> Result<Self, ChunkingOptionsError> {
        if !(MIN_CHUNK_CHARS..=MAX_CHUNK_CHARS).contains(&max_chars) {
            return Err(ChunkingOptionsError::SizeOutOfRange);
        }
        if overlap_chars > max_chars / 2 {
            return Err(ChunkingOptionsError::OverlapTooLarge);
        }
        Ok(Self {
            max_chars,
            overlap_chars,
        })
    }

    /// The most characters a chunk holds.
    #[must_use]
    pub const fn max_chars(&self) -> usize {
        self.max_chars
    }

    /// The most characters of trailing sentences a chunk repeats from the one before.
    #[must_use]
    pub const fn overlap_chars(&self) -> usize {
        self.overlap_chars
    }
}

impl Default for ChunkingOptions {
    fn default() -> Self {
        Self {
            max_chars: Self::DEFAULT_MAX_CHARS,
            overlap_chars: Self::DEFAULT_OVERLAP_CHARS,
        }
    }
}

/// One chunk of a document's text, before it is embedded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkDraft {
    /// The chunk's position in the document, from 0.
    pub index: u32,
    /// The chunk's text, white space normalised to single spaces; never empty.
    pub text: String,
    /// Where the chunk starts in the original text, in characters (Unicode scalar values).
    pub char_start: usize,
    /// Where the chunk ends in the original text (exclusive), in characters.
    pub char_end: usize,
}

/// Cuts `text` into chunks.
///
/// The text is cut into words (runs of non-space characters) and the words into sentences (at
/// `.`, `!`, `?` and paragraph breaks, not after abbreviations such as "e.g." or "Dr.", initials
/// or numbers' decimal points); the sentences are packed greedily into chunks of at most
/// `max_chars` characters, and each chunk after the first starts with the trailing whole
/// sentences of the one before, up to `overlap_chars`, so a fact that straddles a boundary is
/// still found whole in one chunk. A sentence longer than `max_chars` is cut between words (and
/// a single word longer than `max_chars`, such as a pasted blob, between characters).
///
/// White space is normalised to single spaces; lengths and offsets count Unicode scalar values.
/// Blank input gives no chunks, and no chunk is empty. The result depends only on the text and
/// the options.
#[must_use]
pub fn chunk_text(text: &str, options: &ChunkingOptions) -> Vec<ChunkDraft> {
    let words = split_words(text, options.max_chars);
    let units = split_units(&words, options);
    pack(&words, &units, options)
}

/// A run of non-space characters, with its place in the original text.
#[derive(Debug)]
struct Word<'a> {
    text: &'a str,
    chars: usize,
    char_start: usize,
    /// Whether a blank line (a paragraph break) precedes the word.
    after_paragraph_break: bool,
}

/// A span of words packed as a whole: a sentence, or a piece of an over-long one.
#[derive(Clone, Copy, Debug)]
struct Unit {
    first: usize,
    end: usize,
    chars: usize,
}

/// Characters that end a sentence in scripts written without spaces; a word ends after them.
fn is_cjk_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

/// Separators between words: white space, control codes and the zero-width characters that
/// text extraction leaves behind.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '\u{200B}' | '\u{FEFF}')
}

fn split_words(text: &str, max_chars: usize) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    // Where the word being read started, in bytes and in characters.
    let mut start: Option<(usize, usize)> = None;
    let mut newlines_since_word = 0_usize;
    let mut char_index = 0_usize;
    for (byte, c) in text.char_indices() {
        if is_separator(c) {
            if let Some((start_byte, start_char)) = start.take() {
                push_word(
                    &mut words,
                    &text[start_byte..byte],
                    start_char,
                    char_index - start_char,
                    newlines_since_word >= 2,
                    max_chars,
                );
                newlines_since_word = 0;
            }
            if c == '\n' {
                newlines_since_word += 1;
            }
        } else {
            let (start_byte, start_char) = *start.get_or_insert((byte, char_index));
            if is_cjk_terminator(c) {
                push_word(
                    &mut words,
                    &text[start_byte..byte + c.len_utf8()],
                    start_char,
                    char_index + 1 - start_char,
                    newlines_since_word >= 2,
                    max_chars,
                );
                start = None;
                newlines_since_word = 0;
            }
        }
        char_index += 1;
    }
    if let Some((start_byte, start_char)) = start {
        push_word(
            &mut words,
            &text[start_byte..],
            start_char,
            char_index - start_char,
            newlines_since_word >= 2,
            max_chars,
        );
    }
    words
}

/// Adds a word, cutting it into pieces of `max_chars` characters when it is longer than that.
fn push_word<'a>(
    words: &mut Vec<Word<'a>>,
    text: &'a str,
    char_start: usize,
    chars: usize,
    after_paragraph_break: bool,
    max_chars: usize,
) {
    if chars <= max_chars {
        words.push(Word {
            text,
            chars,
            char_start,
            after_paragraph_break,
        });
        return;
    }
    let mut piece_start_byte = 0;
    let mut piece_start_char = 0;
    let mut first = true;
    let mut boundaries: Vec<usize> = text
        .char_indices()
        .map(|(byte, _)| byte)
        .skip(max_chars)
        .step_by(max_chars)
        .collect();
    boundaries.push(text.len());
    for end_byte in boundaries {
        let piece = &text[piece_start_byte..end_byte];
        let piece_chars = piece.chars().count();
        words.push(Word {
            text: piece,
            chars: piece_chars,
            char_start: char_start + piece_start_char,
            after_paragraph_break: after_paragraph_break && first,
        });
        first = false;
        piece_start_byte = end_byte;
        piece_start_char += piece_chars;
    }
}

/// Groups words into sentences, then cuts sentences longer than a chunk into pieces.
fn split_units(words: &[Word<'_>], options: &ChunkingOptions) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut first = 0;
    for i in 0..words.len() {
        let next = words.get(i + 1);
        let boundary = match next {
            None => true,
            Some(next) => next.after_paragraph_break || ends_sentence(words[i].text, next.text),
        };
        if boundary {
            push_sentence(&mut units, words, first, i + 1, options);
            first = i + 1;
        }
    }
    units
}

fn span_chars(words: &[Word<'_>]) -> usize {
    words.iter().map(|w| w.chars).sum::<usize>() + words.len().saturating_sub(1)
}

/// Adds the sentence `words[first..end]`, cut between words when it does not fit in a chunk.
///
/// The pieces are no longer than the overlap, so that packing them like sentences lets
/// consecutive chunks of one long sentence overlap too.
fn push_sentence(
    units: &mut Vec<Unit>,
    words: &[Word<'_>],
    first: usize,
    end: usize,
    options: &ChunkingOptions,
) {
    let chars = span_chars(&words[first..end]);
    if chars <= options.max_chars {
        units.push(Unit { first, end, chars });
        return;
    }
    let piece_max = if options.overlap_chars == 0 {
        options.max_chars
    } else {
        options.overlap_chars
    };
    let mut piece = Unit {
        first,
        end: first,
        chars: 0,
    };
    for (i, word) in words.iter().enumerate().take(end).skip(first) {
        let added = if piece.end == piece.first {
            word.chars
        } else {
            word.chars + 1
        };
        if piece.end > piece.first && piece.chars + added > piece_max {
            units.push(piece);
            piece = Unit {
                first: i,
                end: i + 1,
                chars: word.chars,
            };
        } else {
            piece.end = i + 1;
            piece.chars += added;
        }
    }
    if piece.end > piece.first {
        units.push(piece);
    }
}

/// Closing punctuation that may follow a sentence's final mark.
const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']', '}', '»', '*', '_'];
/// Opening punctuation that may precede a sentence's first letter.
const OPENERS: &[char] = &['"', '\'', '“', '‘', '(', '[', '{', '«', '*', '_'];

/// Abbreviations after which a full stop never ends a sentence: titles before names and Latin
/// abbreviations used inside sentences.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "rev", "gen", "col", "capt", "lt",
    "sgt", "hon", "e.g", "i.e", "cf", "vs", "viz", "approx", "incl", "dept", "est",
];
/// Abbreviations that precede a number ("No. 5", "Fig. 2"); a full stop after them ends a
/// sentence only when no number follows.
const NUMBERED_ABBREVIATIONS: &[&str] = &[
    "no", "nos", "fig", "figs", "vol", "ch", "p", "pp", "art", "sec", "ref",
];

/// Whether a sentence ends after `word`, judging by the word and the one after it.
fn ends_sentence(word: &str, next: &str) -> bool {
    let core = word.trim_end_matches(CLOSERS);
    let Some(last) = core.chars().last() else {
        return false;
    };
    if matches!(last, '!' | '?' | '‽') || is_cjk_terminator(last) {
        return true;
    }
    let next_first = next.trim_start_matches(OPENERS).chars().next();
    let next_is_lowercase = next_first.is_some_and(char::is_lowercase);
    let next_is_digit = next_first.is_some_and(|c| c.is_ascii_digit());
    if last == '…' || core.ends_with("...") {
        return next_first.is_some_and(char::is_uppercase);
    }
    if last != '.' {
        return false;
    }
    let stem = core
        .trim_end_matches('.')
        .trim_start_matches(OPENERS)
        .to_lowercase();
    if stem.is_empty() {
        return true;
    }
    if ABBREVIATIONS.contains(&stem.as_str()) {
        return false;
    }
    if NUMBERED_ABBREVIATIONS.contains(&stem.as_str()) {
        return !next_is_digit;
    }
    let mut stem_chars = stem.chars();
    let single_letter =
        matches!((stem_chars.next(), stem_chars.next()), (Some(c), None) if c.is_alphabetic());
    if single_letter {
        // An initial, as in "J. Smith".
        return false;
    }
    // Anything else ending in a full stop ends a sentence unless the text carries on in lower
    // case, which is how unknown abbreviations ("approx. two", "etc. and") read.
    !next_is_lowercase
}

fn pack(words: &[Word<'_>], units: &[Unit], options: &ChunkingOptions) -> Vec<ChunkDraft> {
    let mut chunks = Vec::new();
    let mut current: Vec<Unit> = Vec::new();
    let mut current_chars = 0_usize;
    for &unit in units {
        if !current.is_empty() && current_chars + 1 + unit.chars > options.max_chars {
            emit(&mut chunks, words, &current);
            let (carry, carry_chars) = overlap(&current, unit, options);
            current = carry;
            current_chars = carry_chars;
        }
        current_chars = if current.is_empty() {
            unit.chars
        } else {
            current_chars + 1 + unit.chars
        };
        current.push(unit);
    }
    if !current.is_empty() {
        emit(&mut chunks, words, &current);
    }
    chunks
}

/// The trailing units of a finished chunk to repeat at the start of the next: as many whole
/// units as fit in the overlap, less any that would leave no room for `next`.
fn overlap(previous: &[Unit], next: Unit, options: &ChunkingOptions) -> (Vec<Unit>, usize) {
    let mut start = previous.len();
    let mut chars = 0_usize;
    while start > 0 {
        let candidate = previous[start - 1].chars;
        let with = if chars == 0 {
            candidate
        } else {
            chars + 1 + candidate
        };
        if with > options.overlap_chars {
            break;
        }
        chars = with;
        start -= 1;
    }
    let mut carry = previous[start..].to_vec();
    while !carry.is_empty() && chars + 1 + next.chars > options.max_chars {
        let dropped = carry.remove(0);
        chars = if carry.is_empty() {
            0
        } else {
            chars - dropped.chars - 1
        };
    }
    (carry, chars)
}

fn emit(chunks: &mut Vec<ChunkDraft>, words: &[Word<'_>], units: &[Unit]) {
    let (Some(first), Some(last)) = (units.first(), units.last()) else {
        return;
    };
    let span = &words[first.first..last.end];
    let (Some(first_word), Some(last_word)) = (span.first(), span.last()) else {
        return;
    };
    let mut text = String::with_capacity(span.iter().map(|w| w.text.len() + 1).sum());
    for word in span {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word.text);
    }
    let index = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
    chunks.push(ChunkDraft {
        index,
        text,
        char_start: first_word.char_start,
        char_end: last_word.char_start + last_word.chars,
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn options(max: usize, overlap: usize) -> ChunkingOptions {
        ChunkingOptions::new(max, overlap).unwrap()
    }

    fn texts(chunks: &[ChunkDraft]) -> Vec<&str> {
        chunks.iter().map(|c| c.text.as_str()).collect()
    }

    /// Twenty numbered sentences of about 60 characters each.
    fn numbered_sentences(count: usize) -> String {
        (1..=count)
            .map(|i| format!("Sentence number {i} talks about the topic of item {i} here."))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn options_are_validated() {
        assert!(ChunkingOptions::new(800, 150).is_ok());
        assert!(ChunkingOptions::new(100, 0).is_ok());
        assert_eq!(
            ChunkingOptions::new(99, 0),
            Err(ChunkingOptionsError::SizeOutOfRange)
        );
        assert_eq!(
            ChunkingOptions::new(MAX_CHUNK_CHARS + 1, 0),
            Err(ChunkingOptionsError::SizeOutOfRange)
        );
        assert_eq!(
            ChunkingOptions::new(200, 101),
            Err(ChunkingOptionsError::OverlapTooLarge)
        );
        assert!(ChunkingOptions::new(200, 100).is_ok());
        let default = ChunkingOptions::default();
        assert_eq!((default.max_chars(), default.overlap_chars()), (800, 150));
        assert!(ChunkingOptions::new(default.max_chars(), default.overlap_chars()).is_ok());
    }

    #[test]
    fn blank_input_gives_no_chunks() {
        assert!(chunk_text("", &ChunkingOptions::default()).is_empty());
        assert!(chunk_text(" \n\t\r\n  \u{200B} ", &ChunkingOptions::default()).is_empty());
    }

    #[test]
    fn short_text_is_one_normalised_chunk() {
        let chunks = chunk_text(
            "  Hello   world.\n\nSecond\tparagraph here.  ",
            &ChunkingOptions::default(),
        );
        assert_eq!(texts(&chunks), vec!["Hello world. Second paragraph here."]);
        assert_eq!(chunks[0].index, 0);
        assert_eq!((chunks[0].char_start, chunks[0].char_end), (2, 40));
    }

    #[test]
    fn sizes_are_respected_and_nothing_is_empty() {
        let text = numbered_sentences(40);
        let opts = options(300, 80);
        let chunks = chunk_text(&text, &opts);
        assert!(chunks.len() > 5);
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.index as usize, i);
            assert!(!chunk.text.is_empty());
            assert!(chunk.text.chars().count() <= 300, "{}", chunk.text);
        }
    }

    #[test]
    fn chunks_end_on_sentence_boundaries() {
        let text = numbered_sentences(40);
        for chunk in chunk_text(&text, &options(300, 80)) {
            assert!(chunk.text.starts_with("Sentence number"), "{}", chunk.text);
            assert!(chunk.text.ends_with("here."), "{}", chunk.text);
        }
    }

    #[test]
    fn consecutive_chunks_overlap_by_whole_sentences() {
        let text = numbered_sentences(40);
        let chunks = chunk_text(&text, &options(300, 80));
        for pair in chunks.windows(2) {
            let last_sentence = pair[0]
                .text
                .rsplit_once(" Sentence")
                .map(|(_, tail)| format!("Sentence{tail}"))
                .unwrap();
            assert!(last_sentence.chars().count() <= 80);
            assert!(
                pair[1].text.starts_with(&last_sentence),
                "{:?} does not start with {last_sentence:?}",
                pair[1].text
            );
            assert!(pair[1].char_start < pair[0].char_end);
        }
        // Every sentence is somewhere.
        let joined = texts(&chunks).join(" ");
        for i in 1..=40 {
            assert!(joined.contains(&format!("item {i} here.")));
        }
    }

    #[test]
    fn zero_overlap_repeats_nothing() {
        let text = numbered_sentences(20);
        let chunks = chunk_text(&text, &options(300, 0));
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].char_end + 1, pair[1].char_start);
        }
        let total: usize = chunks.iter().map(|c| c.text.chars().count() + 1).sum();
        assert_eq!(total, text.chars().count() + 1);
    }

    #[test]
    fn offsets_point_into_the_original_text() {
        let text = "Première phrase ici.\n\n  Deuxième   phrase, plus longue, là.";
        let chunks = chunk_text(text, &ChunkingOptions::default());
        let chars: Vec<char> = text.chars().collect();
        for chunk in &chunks {
            let original: String = chars[chunk.char_start..chunk.char_end].iter().collect();
            let normalised = original.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(normalised, chunk.text);
        }
    }

    #[test]
    fn abbreviations_and_decimals_do_not_end_sentences() {
        let words: Vec<&str> = "It costs $3.50 e.g. today. Dr. Smith met J. Doe at No. 5 Main St. \
            at 9 a.m. Then it ended. Prices rose approx. two percent. What? Yes! Fine."
            .split_whitespace()
            .collect();
        let ends: Vec<&str> = words
            .windows(2)
            .filter(|w| ends_sentence(w[0], w[1]))
            .map(|w| w[0])
            .collect();
        assert_eq!(
            ends,
            vec!["today.", "a.m.", "ended.", "percent.", "What?", "Yes!"]
        );
        assert!(ends_sentence("\"stop.\"", "Then"));
        assert!(ends_sentence("fig.", "The"));
        assert!(!ends_sentence("fig.", "2"));
        assert!(ends_sentence("in 2023.", "2024"));
    }

    #[test]
    fn sentences_stay_whole_when_they_fit() {
        let text = "Dr. Smith opened the clinic in 1998 and e.g. treats cats. \
            The clinic is open from 9 a.m. to 5 p.m. on weekdays.";
        let opts = options(100, 0);
        let chunks = chunk_text(text, &opts);
        assert_eq!(
            texts(&chunks),
            vec![
                "Dr. Smith opened the clinic in 1998 and e.g. treats cats.",
                "The clinic is open from 9 a.m. to 5 p.m. on weekdays.",
            ]
        );
    }

    #[test]
    fn paragraph_breaks_end_sentences() {
        let text = "Shipping\n\nWe ship worldwide within five days\nof the order.";
        let units = split_units(&split_words(text, 800), &ChunkingOptions::default());
        assert_eq!(units.len(), 2);
        assert_eq!((units[0].first, units[0].end), (0, 1));
    }

    #[test]
    fn long_sentences_are_split_between_words_with_overlap() {
        let sentence = (0..120)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = chunk_text(&sentence, &options(200, 40));
        assert!(chunks.len() > 3);
        for chunk in &chunks {
            assert!(chunk.text.chars().count() <= 200);
            assert!(chunk.text.split(' ').all(|w| w.starts_with("word")));
        }
        for pair in chunks.windows(2) {
            let first_word = pair[1].text.split(' ').next().unwrap();
            assert!(
                pair[0].text.split(' ').any(|w| w == first_word),
                "no overlap"
            );
        }
        let last = chunks.last().unwrap();
        assert!(last.text.ends_with("word119"));
    }

    #[test]
    fn giant_words_are_cut_between_characters() {
        let blob = "é".repeat(450);
        let text = format!("Start here. {blob} End.");
        let chunks = chunk_text(&text, &options(200, 50));
        for chunk in &chunks {
            assert!(chunk.text.chars().count() <= 200);
        }
        let all: String = texts(&chunks).concat();
        assert_eq!(all.matches('é').count(), 450);
        assert!(all.contains("Start here.") && all.ends_with("End."));
    }

    #[test]
    fn unicode_text_is_chunked_by_characters() {
        let text = "これは最初の文です。これは二番目の文です！三番目？ Ünïcödé wörds ärë fïnë. 🚀 Rockets launch daily.";
        let chunks = chunk_text(text, &options(100, 20));
        assert!(!chunks.is_empty());
        for chunk in &chunks {
            assert!(chunk.text.chars().count() <= 100);
        }
        let units = split_units(&split_words(text, 100), &options(100, 20));
        assert!(units.len() >= 5, "{units:?}");
        // Cutting by characters where a byte cut would land inside a character.
        let many = "日本語の文章".repeat(100);
        let chunks = chunk_text(&many, &options(100, 20));
        assert_eq!(chunks.len(), 6);
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 100));
    }

    #[test]
    fn chunking_is_deterministic() {
        let text = numbered_sentences(50);
        let opts = options(250, 60);
        assert_eq!(chunk_text(&text, &opts), chunk_text(&text, &opts));
    }
}
