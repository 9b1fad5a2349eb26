//! Templates such as `Hi {customer_name}, this is {agent_name}`: the variables a line may use
//! and how a line is rendered for a caller.
//!
//! Syntax:
//! - `{name}` is replaced by the variable `name`. Names start with an ASCII letter or `_` and
//!   continue with ASCII letters, digits, `_` or `.`; spaces just inside the braces are ignored.
//! - `{name|fallback}` uses `fallback` when `name` is unknown or empty.
//! - `{{` and `}}` stand for literal braces.
//! - Anything else in braces (`{ not a name }`, a lone `{`) is kept as written.
//!
//! An unknown (or empty) variable without a fallback renders as nothing, because reading out
//! `{customer_name}` on a phone call is worse than leaving the name out. The blank space before
//! it goes too, and a comma left dangling next to other punctuation or at an end of the line is
//! dropped, so `Thanks, {customer_name}!` becomes `Thanks!` and `Hi {customer_name}, welcome`
//! becomes `Hi, welcome`. Values are inserted as they are: a value containing braces is never
//! rendered again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Longest placeholder name accepted; longer brace contents are kept as literal text.
const MAX_NAME_CHARS: usize = 64;

/// Variables available to a template, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateVars(BTreeMap<String, String>);

impl TemplateVars {
    /// No variables.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing any earlier value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// The same variables with `name` set to `value`; handy when building them in one expression.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// The value of `name`, if set.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Whether no variable is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The variables in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for TemplateVars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Renders `template` with `vars`, following the rules in this module's documentation.
#[must_use]
pub fn render(template: &str, vars: &TemplateVars) -> String {
    let mut out = String::with_capacity(template.len());
    // Set after a placeholder rendered as nothing, so the text that follows can tidy the seam.
    let mut dropped = false;
    for piece in parse(template) {
        match piece {
            Piece::Text(text) => {
                let text = if dropped {
                    dropped = false;
                    tidy_after_drop(&mut out, &text)
                } else {
                    text.as_str()
                };
                out.push_str(text);
            }
            Piece::Placeholder { name, fallback } => {
                let value = vars
                    .get(name)
                    .filter(|v| !v.trim().is_empty())
                    .or(fallback.filter(|f| !f.is_empty()));
                match value {
                    Some(value) => {
                        if dropped {
                            dropped = false;
                            // Two placeholders in a row, the first one dropped: keep a word gap.
                            if out.chars().last().is_some_and(char::is_alphanumeric) {
                                out.push(' ');
                            }
                        }
                        out.push_str(value);
                    }
                    None => {
                        trim_trailing_blanks(&mut out);
                        dropped = true;
                    }
                }
            }
        }
    }
    if dropped && out.ends_with(',') {
        out.pop();
    }
    out
}

/// The distinct placeholder names in `template`, in order of first use; `{{` escapes and brace
/// text that is not a placeholder are not included.
#[must_use]
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for piece in parse(template) {
        if let Piece::Placeholder { name, .. } = piece
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_owned());
        }
    }
    names
}

/// A template split into literal text (escapes already resolved) and placeholders.
enum Piece<'a> {
    Text(String),
    Placeholder {
        name: &'a str,
        fallback: Option<&'a str>,
    },
}

fn parse(template: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(pos) = rest.find(['{', '}']) {
        text.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("{{") {
            text.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            text.push('}');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('}') {
            text.push('}');
            rest = after;
        } else {
            let body = &tail[1..];
            let placeholder = body
                .find(['{', '}'])
                .filter(|&end| body[end..].starts_with('}'))
                .and_then(|end| parse_placeholder(&body[..end]).map(|p| (p, &body[end + 1..])));
            match placeholder {
                Some((piece, after)) => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(piece);
                    rest = after;
                }
                None => {
                    text.push('{');
                    rest = body;
                }
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

fn parse_placeholder(inner: &str) -> Option<Piece<'_>> {
    let (name, fallback) = match inner.split_once('|') {
        Some((name, fallback)) => (name.trim(), Some(fallback)),
        None => (inner.trim(), None),
    };
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    (first_ok && rest_ok && name.len() <= MAX_NAME_CHARS)
        .then_some(Piece::Placeholder { name, fallback })
}

fn trim_trailing_blanks(out: &mut String) {
    let kept = out.trim_end_matches([' ', '\t']).len();
    out.truncate(kept);
}

/// Joins the text after a dropped placeholder to what came before it, returning the part of
/// `text` still to append.
fn tidy_after_drop<'t>(out: &mut String, text: &'t str) -> &'t str {
    if out.is_empty() || out.ends_with('\n') {
        // The placeholder opened the line: punctuation that followed it has nothing to follow.
        return text.trim_start_matches([' ', '\t', ',', '.', ';', ':', '!', '?']);
    }
    let next_is_punctuation = text.starts_with([',', '.', '!', '?', ';', ':']);
    if out.ends_with(',') && (next_is_punctuation || text.trim().is_empty()) {
        out.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> TemplateVars {
        TemplateVars::new()
            .with("customer_name", "Ada")
            .with("agent_name", "Sam")
    }

    #[test]
    fn known_placeholders_are_replaced() {
        assert_eq!(
            render("Hi {customer_name}, this is {agent_name}.", &vars()),
            "Hi Ada, this is Sam."
        );
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        assert_eq!(
            render("Plain text, no braces.", &vars()),
            "Plain text, no braces."
        );
        assert_eq!(render("", &vars()), "");
    }

    #[test]
    fn double_braces_escape() {
        assert_eq!(render("{{customer_name}}", &vars()), "{customer_name}");
        assert_eq!(render("a {{ b }} c", &vars()), "a { b } c");
        assert_eq!(render("{{{customer_name}}}", &vars()), "{Ada}");
    }

    #[test]
    fn brace_text_that_is_not_a_placeholder_stays() {
        assert_eq!(render("{ not a name }", &vars()), "{ not a name }");
        assert_eq!(render("a { b", &vars()), "a { b");
        assert_eq!(render("a } b", &vars()), "a } b");
        assert_eq!(render("{\"json\": 1}", &vars()), "{\"json\": 1}");
        assert_eq!(render("{1abc}", &vars()), "{1abc}");
        assert_eq!(render("{customer_name", &vars()), "{customer_name");
    }

    #[test]
    fn spaces_inside_braces_are_ignored() {
        assert_eq!(render("Hi { customer_name }.", &vars()), "Hi Ada.");
    }

    #[test]
    fn unknown_placeholders_are_dropped_with_their_seam() {
        let none = TemplateVars::new();
        assert_eq!(
            render("Hi {customer_name}, welcome.", &none),
            "Hi, welcome."
        );
        assert_eq!(render("Thanks, {customer_name}!", &none), "Thanks!");
        assert_eq!(render("Thanks, {customer_name}", &none), "Thanks");
        assert_eq!(
            render("Hi, {customer_name}, welcome.", &none),
            "Hi, welcome."
        );
        assert_eq!(
            render("Your order {order_id} is ready.", &none),
            "Your order is ready."
        );
        assert_eq!(render("{customer_name}, welcome.", &none), "welcome.");
        assert_eq!(render("{greeting}", &none), "");
        assert_eq!(render("Hi {a} {b}, there", &none), "Hi, there");
    }

    #[test]
    fn a_dropped_placeholder_opening_a_line_takes_its_punctuation_along() {
        let none = TemplateVars::new();
        assert_eq!(
            render("Welcome.\n{greeting}, how are you?", &none),
            "Welcome.\nhow are you?"
        );
    }

    #[test]
    fn empty_values_count_as_unknown() {
        let blank = TemplateVars::new().with("customer_name", "  ");
        assert_eq!(render("Hi {customer_name}!", &blank), "Hi!");
    }

    #[test]
    fn fallback_is_used_when_unknown_or_empty() {
        let none = TemplateVars::new();
        assert_eq!(render("Hi {customer_name|there}!", &none), "Hi there!");
        assert_eq!(render("Hi {customer_name|there}!", &vars()), "Hi Ada!");
        assert_eq!(render("Hi {customer_name|}!", &none), "Hi!");
    }

    #[test]
    fn values_are_not_rendered_again() {
        let tricky = TemplateVars::new().with("customer_name", "{agent_name}");
        assert_eq!(
            render(
                "Hi {customer_name} from {agent_name}",
                &tricky.with("agent_name", "Sam")
            ),
            "Hi {agent_name} from Sam"
        );
    }

    #[test]
    fn a_dropped_placeholder_before_a_known_one_keeps_a_gap() {
        let only_last = TemplateVars::new().with("last", "Lovelace");
        assert_eq!(render("Dear {first} {last}", &only_last), "Dear Lovelace");
    }

    #[test]
    fn multibyte_text_is_kept_intact() {
        assert_eq!(
            render("Grüß Gott, {customer_name} — schön!", &vars()),
            "Grüß Gott, Ada — schön!"
        );
    }

    #[test]
    fn placeholders_lists_distinct_names_in_order() {
        assert_eq!(
            placeholders("{b} {a|x} {{c}} {b} { d } {not a name}"),
            vec!["b".to_owned(), "a".to_owned(), "d".to_owned()]
        );
        assert!(placeholders("nothing here").is_empty());
    }

    #[test]
    fn vars_get_set_and_collect() {
        let mut v: TemplateVars = [("a", "1")].into_iter().collect();
        v.set("b", "2").set("a", "3");
        assert_eq!(v.get("a"), Some("3"));
        assert_eq!(v.get("b"), Some("2"));
        assert_eq!(v.get("c"), None);
        assert_eq!(v.iter().count(), 2);
        assert!(!v.is_empty());
    }
}
