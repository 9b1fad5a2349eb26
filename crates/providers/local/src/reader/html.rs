//! A small HTML-to-text converter: the visible text of a page, with scripts, styles and comments
//! dropped, tags removed, block elements turned into paragraph breaks and common character
//! references decoded. It is no HTML5 parser, and needs not be one: its output is only embedded
//! and searched, never rendered.

use std::borrow::Cow;

/// Elements whose content is not text a reader sees.
const HIDDEN_ELEMENTS: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
];

/// Elements that start a new block: their edges become paragraph breaks, so a heading or a list
/// item is never run into the sentence next to it.
const BLOCK_ELEMENTS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "title",
    "tr",
    "ul",
];

/// The text of an HTML document.
pub(super) fn to_plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        push_text(&mut out, &rest[..open]);
        let at_tag = &rest[open..];
        if at_tag.starts_with("<!--") {
            rest = after(at_tag, "-->");
        } else if let Some(cdata) = at_tag.strip_prefix("<![CDATA[") {
            let end = cdata.find("]]>").unwrap_or(cdata.len());
            push_text(&mut out, &cdata[..end]);
            rest = after(cdata, "]]>");
        } else if at_tag.starts_with("<!") || at_tag.starts_with("<?") {
            rest = after(at_tag, ">");
        } else if let Some(tag) = Tag::parse(at_tag) {
            rest = &at_tag[tag.len..];
            let name = tag.name.to_ascii_lowercase();
            if !tag.closing && HIDDEN_ELEMENTS.contains(&name.as_str()) {
                rest = after_closing_tag(rest, &name);
            } else if BLOCK_ELEMENTS.contains(&name.as_str()) {
                out.push_str("\n\n");
            } else if name == "br" {
                out.push('\n');
            } else if matches!(name.as_str(), "td" | "th" | "img" | "input" | "option") {
                out.push(' ');
            }
        } else {
            // A "<" that opens no tag, as in "a < b", is text.
            out.push('<');
            rest = &at_tag[1..];
        }
    }
    push_text(&mut out, rest);
    out
}

/// The rest of `text` after the first `marker`, or nothing when there is none (an unterminated
/// comment runs to the end of the document).
fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    text.find(marker)
        .map_or("", |at| &text[at + marker.len()..])
}

/// The rest of `text` after the closing tag of `name` (ASCII case-insensitive), or nothing when
/// the element is never closed.
fn after_closing_tag<'a>(text: &'a str, name: &str) -> &'a str {
    let mut from = 0;
    while let Some(found) = text[from..].find("</") {
        let name_start = from + found + 2;
        let candidate = text.as_bytes().get(name_start..name_start + name.len());
        if candidate.is_some_and(|candidate| candidate.eq_ignore_ascii_case(name.as_bytes())) {
            return after(&text[name_start..], ">");
        }
        // "</" is ASCII, so the index after it is a character boundary.
        from = name_start;
    }
    ""
}

/// Appends a text node, its character references decoded and its white space collapsed.
fn push_text(out: &mut String, raw: &str) {
    if raw.is_empty() {
        return;
    }
    let decoded = decode_entities(raw);
    let mut in_space = out.ends_with(char::is_whitespace);
    for c in decoded.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
                in_space = true;
            }
        } else {
            out.push(c);
            in_space = false;
        }
    }
}

/// A start or end tag at the beginning of a text.
struct Tag<'a> {
    name: &'a str,
    closing: bool,
    /// Bytes from `<` to just after `>`.
    len: usize,
}

impl<'a> Tag<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let body = text.strip_prefix('<')?;
        let (closing, body) = match body.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        if !body.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
            .unwrap_or(body.len());
        let name = &body[..name_len];
        // Find the closing ">" outside quoted attribute values.
        let mut quote: Option<char> = None;
        for (i, c) in body.char_indices().skip(name_len) {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => {
                    let prefix = if closing { 2 } else { 1 };
                    return Some(Self {
                        name,
                        closing,
                        len: prefix + i + 1,
                    });
                }
                (None, _) => {}
            }
        }
        // An unterminated tag swallows the rest of the document, as browsers do.
        Some(Self {
            name,
            closing,
            len: text.len(),
        })
    }
}

/// Named character references decoded besides numeric ones: the ones common in prose.
const NAMED_ENTITIES: &[(&str, &str)] = &[
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("nbsp", " "),
    ("ensp", " "),
    ("emsp", " "),
    ("thinsp", " "),
    ("shy", ""),
    ("ndash", "–"),
    ("mdash", "—"),
    ("hellip", "…"),
    ("lsquo", "‘"),
    ("rsquo", "’"),
    ("sbquo", "‚"),
    ("ldquo", "“"),
    ("rdquo", "”"),
    ("bdquo", "„"),
    ("laquo", "«"),
    ("raquo", "»"),
    ("bull", "•"),
    ("middot", "·"),
    ("copy", "©"),
    ("reg", "®"),
    ("trade", "™"),
    ("deg", "°"),
    ("times", "×"),
    ("divide", "÷"),
    ("plusmn", "±"),
    ("euro", "€"),
    ("pound", "£"),
    ("yen", "¥"),
    ("cent", "¢"),
    ("sect", "§"),
    ("para", "¶"),
    ("frac12", "½"),
    ("aacute", "á"),
    ("agrave", "à"),
    ("acirc", "â"),
    ("auml", "ä"),
    ("aring", "å"),
    ("ccedil", "ç"),
    ("eacute", "é"),
    ("egrave", "è"),
    ("ecirc", "ê"),
    ("euml", "ë"),
    ("iacute", "í"),
    ("iuml", "ï"),
    ("ntilde", "ñ"),
    ("oacute", "ó"),
    ("ocirc", "ô"),
    ("ouml", "ö"),
    ("oslash", "ø"),
    ("uacute", "ú"),
    ("uuml", "ü"),
    ("szlig", "ß"),
    ("Auml", "Ä"),
    ("Eacute", "É"),
    ("Ouml", "Ö"),
    ("Uuml", "Ü"),
];

/// The longest reference worth looking for; anything longer is text that contains an "&".
const MAX_ENTITY_LEN: usize = 10;

/// Decodes character references (`&amp;`, `&#233;`, `&#xE9;` and the names above). Unknown or
/// malformed references are left as written.
pub(super) fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let candidate = &rest[amp + 1..];
        let decoded = candidate
            .char_indices()
            .take(MAX_ENTITY_LEN + 1)
            .find(|&(_, c)| c == ';')
            .and_then(|(semicolon, _)| {
                decode_reference(&candidate[..semicolon]).map(|value| (value, semicolon))
            });
        match decoded {
            Some((value, semicolon)) => {
                out.push_str(&value);
                rest = &candidate[semicolon + 1..];
            }
            None => {
                out.push('&');
                rest = candidate;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn decode_reference(name: &str) -> Option<Cow<'static, str>> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse::<u32>().ok()?,
        };
        // NUL and unassigned code points decode to the replacement character, as browsers do.
        let c = char::from_u32(code)
            .filter(|&c| c != '\0')
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        return Some(Cow::Owned(c.to_string()));
    }
    NAMED_ENTITIES
        .iter()
        .find(|(entity, _)| *entity == name)
        .map(|(_, value)| Cow::Borrowed(*value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn scripts_styles_and_comments_are_dropped() {
        let html = r#"<!DOCTYPE html><html><head><title>Returns</title>
            <style>body { color: red; }</style>
            <script type="text/javascript">var x = "<p>not text</p>";</script></head>
            <body><!-- a comment <p>hidden</p> --><p>Visible text.</p>
            <SCRIPT>alert(1)</SCRIPT><noscript>Enable JavaScript</noscript></body></html>"#;
        assert_eq!(words(&to_plain_text(html)), "Returns Visible text.");
    }

    #[test]
    fn blocks_become_paragraphs_and_inline_tags_vanish() {
        let html = "<h1>Shipping</h1><p>We ship <b>fast</b>, in <a href=\"/x\" title='a > b'>most</a> \
                    countries.</p><ul><li>Free over $50</li><li>Tracked</li></ul>Line<br>break";
        let text = to_plain_text(html);
        assert_eq!(
            words(&text),
            "Shipping We ship fast, in most countries. Free over $50 Tracked Line break"
        );
        assert!(text.contains("Shipping\n\n"));
        assert!(text.contains("$50\n\n"));
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            to_plain_text("<p>Fish &amp; chips &mdash; &#163;5 &#x20AC;6 caf&eacute;&nbsp;ok</p>")
                .trim(),
            "Fish & chips — £5 €6 café ok"
        );
        assert_eq!(
            decode_entities("AT&T &unknown; & &#xZZ;"),
            "AT&T &unknown; & &#xZZ;"
        );
        assert_eq!(decode_entities("&#0;"), "\u{FFFD}");
    }

    #[test]
    fn many_unclosed_scripts_take_linear_time() {
        let html = "<script>x</scrip".repeat(20_000);
        assert_eq!(to_plain_text(&html), "");
        let tags = "<b>word</b> ".repeat(20_000);
        assert_eq!(words(&to_plain_text(&tags)), words(&"word ".repeat(20_000)));
    }

    #[test]
    fn stray_angle_brackets_are_text() {
        assert_eq!(
            words(&to_plain_text("<p>1 < 2 and 3 > 2</p>")),
            "1 < 2 and 3 > 2"
        );
        assert_eq!(words(&to_plain_text("<p>cut <b")), "cut");
    }
}
