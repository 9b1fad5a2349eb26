//! A Markdown-to-text converter that removes the syntax which would pollute retrieval: heading
//! and list markers, emphasis, code fences, link targets and reference definitions, table rules,
//! front matter and inline HTML tags. Link and image texts stay; code stays, without its fences.
//! Headings, list items and table rows end in paragraph breaks, so each is a sentence of its own
//! to the chunker even without a full stop.

use std::collections::HashMap;

use super::html;

/// The text of a Markdown document.
pub(super) fn to_plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let lines: Vec<&str> = markdown.lines().collect();
    let mut rest: &[&str] = &lines;
    if let Some(after_front_matter) = skip_front_matter(&lines) {
        rest = after_front_matter;
    }
    let mut fence: Option<Fence> = None;
    for line in rest {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if open.is_closed_by(trimmed) {
                fence = None;
                out.push_str("\n\n");
            } else {
                // Code is kept as written: identifiers and messages in it are worth finding.
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        if let Some(open) = Fence::opened_by(trimmed) {
            fence = Some(open);
            out.push_str("\n\n");
            continue;
        }
        if is_rule(trimmed) || is_table_separator(trimmed) {
            out.push_str("\n\n");
            continue;
        }
        if is_link_definition(trimmed) {
            continue;
        }
        let (content, stands_alone) = strip_block_markers(trimmed);
        out.push_str(&strip_inline(&content));
        out.push('\n');
        if stands_alone {
            out.push('\n');
        }
    }
    out
}

/// The lines after a YAML (`---`) or TOML (`+++`) front-matter block, if the document opens
/// with one.
fn skip_front_matter<'a>(lines: &'a [&'a str]) -> Option<&'a [&'a str]> {
    let marker = lines.first()?.trim_end();
    if marker != "---" && marker != "+++" {
        return None;
    }
    let close = lines.iter().skip(1).position(|line| {
        line.trim_end() == marker || (marker == "---" && line.trim_end() == "...")
    })?;
    Some(&lines[close + 2..])
}

/// An open code fence: its character and how many of them opened it.
#[derive(Clone, Copy)]
struct Fence {
    marker: char,
    len: usize,
}

impl Fence {
    fn opened_by(line: &str) -> Option<Self> {
        let marker = line.chars().next().filter(|c| matches!(c, '`' | '~'))?;
        let len = line.chars().take_while(|&c| c == marker).count();
        // A backtick fence's info string may not contain backticks, or it is inline code.
        let info_ok = marker == '~' || !line[len..].contains('`');
        (len >= 3 && info_ok).then_some(Self { marker, len })
    }

    fn is_closed_by(self, line: &str) -> bool {
        let len = line.chars().take_while(|&c| c == self.marker).count();
        len >= self.len && line[len * self.marker.len_utf8()..].trim().is_empty()
    }
}

/// A thematic break (`---`, `***`, `___`) or a setext heading underline (`===`, `---`).
fn is_rule(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3
        && ['-', '*', '_', '=']
            .iter()
            .any(|&marker| compact.chars().all(|c| c == marker))
}

/// A table's header separator row, such as `|---|:---:|`.
fn is_table_separator(line: &str) -> bool {
    line.contains('-')
        && line.contains('|')
        && line
            .chars()
            .all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

/// A link reference definition, such as `[docs]: https://example.com "Title"`.
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[')
        && line
            .find("]:")
            .is_some_and(|at| at > 1 && !line[1..at].contains(']'))
}

/// Removes heading, block-quote, list and table markers from the start of a line. Says whether
/// the line is a block of its own (a heading, list item or table row).
fn strip_block_markers(line: &str) -> (String, bool) {
    let mut line = line;
    // Block quotes, possibly nested.
    while let Some(rest) = line.strip_prefix('>') {
        line = rest.trim_start();
    }
    // ATX headings: "# Title" or "## Title ##".
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes)
        && line[hashes..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
    {
        let title = line[hashes..].trim();
        // A closing run of "#" counts only after a space: "C#" is a title, "Title ##" is not.
        let unclosed = title.trim_end_matches('#');
        let title = if unclosed.is_empty() || unclosed.ends_with(char::is_whitespace) {
            unclosed.trim_end()
        } else {
            title
        };
        return (title.to_owned(), true);
    }
    if let Some(item) = list_item(line) {
        let item = ["[ ] ", "[x] ", "[X] "]
            .iter()
            .find_map(|task| item.strip_prefix(task))
            .unwrap_or(item);
        return (item.to_owned(), true);
    }
    if line.starts_with('|') {
        let cells: Vec<&str> = line
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
            .collect();
        return (cells.join(" "), true);
    }
    (line.to_owned(), false)
}

/// The content of a list item line (`- a`, `* a`, `+ a`, `1. a`, `1) a`), if it is one.
fn list_item(line: &str) -> Option<&str> {
    if let Some(rest) = line
        .strip_prefix(['-', '*', '+'])
        .filter(|rest| rest.starts_with([' ', '\t']))
    {
        return Some(rest.trim_start());
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = line[digits..].strip_prefix(['.', ')'])?;
        if rest.starts_with([' ', '\t']) {
            return Some(rest.trim_start());
        }
    }
    None
}

/// Removes inline syntax: emphasis and strike-through markers, backticks, link and image
/// targets, inline HTML tags and backslash escapes; decodes character references.
///
/// Runs in time linear in the line: every "where does this close" question is answered from
/// tables built in one pass, so no input (say, a megabyte of "[") makes it scan again and again.
fn strip_inline(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let marks = Marks::new(&chars);
    // At the "]" of a link whose "[" was dropped: the index just past its target.
    let mut skip_target: Vec<Option<usize>> = vec![None; chars.len()];
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = skip_target[i] {
            i = end;
            continue;
        }
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1).is_some_and(char::is_ascii_punctuation) => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '`' => {
                let run = run_length(&chars, i, '`');
                match marks.code_span_close(i) {
                    Some(close) => {
                        out.extend(&chars[i + run..close]);
                        i = close + run;
                    }
                    None => {
                        out.extend(&chars[i..i + run]);
                        i += run;
                    }
                }
            }
            // An image keeps its alternative text, like a link its text.
            '!' if chars.get(i + 1) == Some(&'[') && marks.link(&chars, i + 1).is_some() => i += 1,
            '[' => {
                if let Some((text_end, target_end)) = marks.link(&chars, i) {
                    skip_target[text_end] = Some(target_end);
                } else {
                    out.push('[');
                }
                i += 1;
            }
            '<' => i = inline_angle(&chars, &marks, i, &mut out),
            '*' | '_' | '~' => {
                let run = run_length(&chars, i, c);
                let before = i.checked_sub(1).and_then(|b| chars.get(b));
                let after = chars.get(i + run);
                let inside_word = before.is_some_and(|b| b.is_alphanumeric())
                    && after.is_some_and(|a| a.is_alphanumeric());
                // A single tilde is prose ("~5 minutes"); two or more strike through.
                let is_markup = !inside_word && (c != '~' || run >= 2);
                if !is_markup {
                    out.extend(&chars[i..i + run]);
                }
                i += run;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    html::decode_entities(&out).into_owned()
}

fn run_length(chars: &[char], from: usize, c: char) -> usize {
    chars[from..].iter().take_while(|&&x| x == c).count()
}

/// Where the constructs of one line close, found in one pass each.
struct Marks {
    /// For each `[`, the index of its matching `]`.
    bracket_close: Vec<Option<usize>>,
    /// For each `(`, the index of its matching `)`.
    paren_close: Vec<Option<usize>>,
    /// For each index, the next `>` at or after it.
    next_angle_close: Vec<Option<usize>>,
    /// For the start of each backtick run, the start of the next run of the same length.
    code_close: Vec<Option<usize>>,
}

impl Marks {
    fn new(chars: &[char]) -> Self {
        let n = chars.len();
        let mut bracket_close = vec![None; n];
        let mut paren_close = vec![None; n];
        let (mut brackets, mut parens) = (Vec::new(), Vec::new());
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        while i < n {
            match chars[i] {
                '\\' if chars.get(i + 1).is_some_and(char::is_ascii_punctuation) => {
                    i += 2;
                    continue;
                }
                '[' => brackets.push(i),
                ']' => {
                    if let Some(open) = brackets.pop() {
                        bracket_close[open] = Some(i);
                    }
                }
                '(' => parens.push(i),
                ')' => {
                    if let Some(open) = parens.pop() {
                        paren_close[open] = Some(i);
                    }
                }
                '`' => {
                    let run = run_length(chars, i, '`');
                    runs.push((i, run));
                    i += run;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }

        let mut next_angle_close = vec![None; n];
        let mut next = None;
        for i in (0..n).rev() {
            if chars[i] == '>' {
                next = Some(i);
            }
            next_angle_close[i] = next;
        }

        let mut code_close = vec![None; n];
        let mut later_run_of_len: HashMap<usize, usize> = HashMap::new();
        for &(start, len) in runs.iter().rev() {
            code_close[start] = later_run_of_len.get(&len).copied();
            later_run_of_len.insert(len, start);
        }

        Self {
            bracket_close,
            paren_close,
            next_angle_close,
            code_close,
        }
    }

    /// The start of the backtick run that closes a code span opened at `open`.
    fn code_span_close(&self, open: usize) -> Option<usize> {
        self.code_close.get(open).copied().flatten()
    }

    /// A link at `open` (its `[`): `[text](target)`, `[text][ref]` or `[text][]`. Gives the index
    /// of the `]` that ends its text and the index just past its target. A bracket followed by
    /// neither is not a link.
    fn link(&self, chars: &[char], open: usize) -> Option<(usize, usize)> {
        let text_end = self.bracket_close.get(open).copied().flatten()?;
        let target = text_end + 1;
        let target_close = match chars.get(target) {
            Some('(') => self.paren_close[target]?,
            Some('[') => self.bracket_close[target]?,
            _ => return None,
        };
        Some((text_end, target_close + 1))
    }
}

/// Handles a `<` at `at`: an autolink keeps its address, an HTML tag is dropped, anything else
/// is text. Returns where to continue.
fn inline_angle(chars: &[char], marks: &Marks, at: usize, out: &mut String) -> usize {
    // Tags and autolinks are short; a far-away ">" belongs to something else, and looking no
    // further keeps the work per "<" bounded.
    const MAX_TAG_CHARS: usize = 500;
    let close = marks.next_angle_close[at].filter(|&close| close - at <= MAX_TAG_CHARS);
    let Some(close) = close else {
        out.push('<');
        return at + 1;
    };
    let inner: String = chars[at + 1..close].iter().collect();
    let is_autolink = !inner.contains(char::is_whitespace)
        && (inner.contains("://") || inner.starts_with("mailto:") || inner.contains('@'));
    let is_tag = inner
        .strip_prefix('/')
        .unwrap_or(&inner)
        .starts_with(|c: char| c.is_ascii_alphabetic());
    if is_autolink {
        out.push_str(&inner);
        close + 1
    } else if is_tag {
        close + 1
    } else {
        out.push('<');
        at + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn headings_emphasis_and_links_are_stripped() {
        assert_eq!(words(&to_plain_text("## Learn C#")), "Learn C#");
        let md = "# Returns policy #\n\nItems can be **returned** within _30 days_ of \
                  [delivery](https://example.com/delivery \"Delivery\"). See ![the form](form.png) \
                  and [our FAQ][faq].\n\n[faq]: https://example.com/faq\n";
        let text = to_plain_text(md);
        assert_eq!(
            words(&text),
            "Returns policy Items can be returned within 30 days of delivery. See the form and our FAQ."
        );
        assert!(text.starts_with("Returns policy\n\n"));
        assert!(!text.contains("https"));
    }

    #[test]
    fn code_fences_go_but_code_stays() {
        let md =
            "Run this:\n\n```bash\nswitchboard migrate --yes\n```\n\n~~~\nplain\n~~~\nDone `now`.";
        assert_eq!(
            words(&to_plain_text(md)),
            "Run this: switchboard migrate --yes plain Done now."
        );
    }

    #[test]
    fn lists_quotes_tables_and_rules_are_flattened() {
        let md = "---\ntitle: Hours\n---\n\
                  > Quoted *text*\n\n- First item\n* Second item\n1. Third\n- [x] Done task\n\n\
                  ***\n\n| Day | Hours |\n|-----|:-----:|\n| Monday | 9-5 |\n\nSetext\n======\n";
        let text = to_plain_text(md);
        assert_eq!(
            words(&text),
            "Quoted text First item Second item Third Done task Day Hours Monday 9-5 Setext"
        );
        assert!(text.contains("First item\n\n"));
        assert!(!text.contains("title"));
    }

    #[test]
    fn nested_links_and_pathological_lines_are_handled() {
        assert_eq!(
            words(&to_plain_text(
                "[outer [inner](a) text](b) and ![img [alt](c)](d)"
            )),
            "outer inner text and img alt"
        );
        let brackets = "[".repeat(200_000);
        assert_eq!(to_plain_text(&brackets).trim(), brackets);
        let nested = format!("{}x{}", "[".repeat(50_000), "](u)".repeat(50_000));
        assert_eq!(to_plain_text(&nested).trim(), "x");
        let angles = "< ".repeat(100_000);
        assert_eq!(words(&to_plain_text(&angles)), words(&angles));
        let ticks = "` ``".repeat(50_000);
        assert!(!to_plain_text(&ticks).is_empty());
    }

    #[test]
    fn prose_punctuation_survives() {
        let md = "Use snake_case names, 5 * 3 maths, ~5 minutes, \\*literal\\* stars, \
                  ~~old~~ new, a <b>bold</b> tag, <https://example.com> and 1 < 2.";
        assert_eq!(
            words(&to_plain_text(md)),
            "Use snake_case names, 5 3 maths, ~5 minutes, *literal* stars, old new, a bold tag, \
             https://example.com and 1 < 2."
        );
    }
}
