//! The rules on a single node's fields and a single edge's condition, and the compiling of
//! conditions into tests.

use super::named;
use crate::flow::errors::{FlowErrorCode as Code, Report};
use crate::flow::limits::{
    MAX_DIGITS, MAX_KEYWORD_CHARS, MAX_KEYWORDS, MAX_LLM_TURNS, MAX_PATTERN_CHARS,
    MAX_PROMPT_CHARS, MAX_TEXT_CHARS, MAX_TOOL_ARGUMENTS_BYTES, MAX_TOOL_NAME_CHARS,
};
use crate::flow::matching::{Test, compile_regex, words};
use crate::flow::model::{EdgeCondition, FlowEdge, FlowNode, NodeKind};

/// Checks the fields of node `index` on their own.
pub(super) fn check_node(report: &mut Report, index: usize, node: &FlowNode) {
    NodeCheck {
        report,
        index,
        node,
    }
    .run();
}

/// The checks of one node's own fields.
struct NodeCheck<'a> {
    report: &'a mut Report,
    index: usize,
    node: &'a FlowNode,
}

impl NodeCheck<'_> {
    fn run(mut self) {
        let node = self.node;
        match &node.kind {
            NodeKind::Message(m) => self.text(".data.text", "text", &m.text, MAX_TEXT_CHARS),
            NodeKind::Question(q) => self.text(".data.text", "text", &q.text, MAX_TEXT_CHARS),
            NodeKind::Llm(l) => {
                self.text(".data.prompt", "prompt", &l.prompt, MAX_PROMPT_CHARS);
                if let Some(exit) = &l.exit_condition {
                    self.text(
                        ".data.exit_condition",
                        "exit condition",
                        exit,
                        MAX_TEXT_CHARS,
                    );
                }
                if let Some(turns) = l.max_turns
                    && !(1..=MAX_LLM_TURNS).contains(&turns)
                {
                    self.error(
                        Code::InvalidMaxTurns,
                        ".data.max_turns",
                        format!(
                            "max_turns of {} must be between 1 and {MAX_LLM_TURNS}",
                            self.name()
                        ),
                    );
                }
            }
            NodeKind::Tool(t) => {
                if t.tool.trim().is_empty() {
                    self.error(
                        Code::EmptyText,
                        ".data.tool",
                        format!("{} must name a tool", self.name()),
                    );
                } else if !is_tool_name(&t.tool) {
                    self.error(
                        Code::InvalidToolName,
                        ".data.tool",
                        format!(
                            "tool name of {} must be 1 to {MAX_TOOL_NAME_CHARS} letters, digits, '_' or '-'",
                            self.name()
                        ),
                    );
                }
                if !t.arguments.is_object() {
                    self.error(
                        Code::InvalidToolArguments,
                        ".data.arguments",
                        format!("arguments of {} must be a JSON object", self.name()),
                    );
                } else if t.arguments.to_string().len() > MAX_TOOL_ARGUMENTS_BYTES {
                    self.error(
                        Code::TooLong,
                        ".data.arguments",
                        format!(
                            "arguments of {} are larger than {MAX_TOOL_ARGUMENTS_BYTES} bytes",
                            self.name()
                        ),
                    );
                }
                self.optional_text(".data.say", "line", t.say.as_deref());
            }
            NodeKind::Transfer(t) => {
                if t.phone_number.trim().is_empty() {
                    self.error(
                        Code::EmptyText,
                        ".data.phone_number",
                        format!("{} needs a phone number to transfer to", self.name()),
                    );
                } else if normalize_phone_number(&t.phone_number).is_none() {
                    self.error(
                        Code::InvalidPhoneNumber,
                        ".data.phone_number",
                        format!(
                            "phone number of {} must be in international form, like +15550102000",
                            self.name()
                        ),
                    );
                }
                self.optional_text(".data.text", "text", t.text.as_deref());
            }
            NodeKind::End(e) => self.optional_text(".data.text", "text", e.text.as_deref()),
        }
    }

    fn name(&self) -> String {
        named("node", self.index, &self.node.id)
    }

    fn error(&mut self, code: Code, suffix: &str, message: String) {
        self.report
            .node(code, self.index, &self.node.id, suffix, message);
    }

    fn text(&mut self, suffix: &str, what: &str, text: &str, max: usize) {
        if text.trim().is_empty() {
            let message = format!("{what} of {} must not be empty", self.name());
            self.error(Code::EmptyText, suffix, message);
        } else {
            self.length(suffix, what, text, max);
        }
    }

    fn optional_text(&mut self, suffix: &str, what: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.length(suffix, what, text, MAX_TEXT_CHARS);
        }
    }

    fn length(&mut self, suffix: &str, what: &str, text: &str, max: usize) {
        if text.chars().count() > max {
            let message = format!("{what} of {} is longer than {max} characters", self.name());
            self.error(Code::TooLong, suffix, message);
        }
    }
}

fn is_tool_name(name: &str) -> bool {
    name.len() <= MAX_TOOL_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The number in E.164 form (`+` and 8 to 15 digits, not starting with 0), ignoring the spaces,
/// dashes, dots and parentheses people write numbers with; `None` when it is not one.
pub(in crate::flow) fn normalize_phone_number(raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+')?;
    let valid = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then_some(compact)
}

pub(super) fn compile_condition(
    j: usize,
    edge: &FlowEdge,
    name: &str,
    report: &mut Report,
) -> Option<Test> {
    let id = edge.id.as_str();
    match &edge.condition {
        EdgeCondition::Always => Some(Test::Always),
        EdgeCondition::Else => Some(Test::Else),
        EdgeCondition::Keywords { any, all } => {
            let mut ok = true;
            if any.is_empty() && all.is_empty() {
                report.edge(
                    Code::EmptyKeywords,
                    j,
                    id,
                    ".condition",
                    format!("{name} has a keywords condition without keywords"),
                );
                ok = false;
            }
            let mut lists = Vec::with_capacity(2);
            for (list_name, list) in [("any", any), ("all", all)] {
                if list.len() > MAX_KEYWORDS {
                    report.edge(
                        Code::TooLong,
                        j,
                        id,
                        &format!(".condition.{list_name}"),
                        format!("{name} lists more than {MAX_KEYWORDS} keywords in '{list_name}'"),
                    );
                    ok = false;
                    continue;
                }
                let mut phrases = Vec::with_capacity(list.len());
                for (k, keyword) in list.iter().enumerate() {
                    let field = format!(".condition.{list_name}[{k}]");
                    if keyword.chars().count() > MAX_KEYWORD_CHARS {
                        report.edge(
                            Code::TooLong,
                            j,
                            id,
                            &field,
                            format!(
                                "{name} has a keyword longer than {MAX_KEYWORD_CHARS} characters"
                            ),
                        );
                        ok = false;
                        continue;
                    }
                    let phrase = words(keyword);
                    if phrase.is_empty() {
                        report.edge(
                            Code::EmptyKeywords,
                            j,
                            id,
                            &field,
                            format!("{name} has a keyword without letters or digits ({keyword:?})"),
                        );
                        ok = false;
                    }
                    phrases.push(phrase);
                }
                lists.push(phrases);
            }
            let mut lists = lists.into_iter();
            match (ok, lists.next(), lists.next()) {
                (true, Some(any), Some(all)) => Some(Test::Keywords { any, all }),
                _ => None,
            }
        }
        EdgeCondition::Regex { pattern } => {
            let field = ".condition.pattern";
            if pattern.is_empty() {
                report.edge(
                    Code::EmptyText,
                    j,
                    id,
                    field,
                    format!("{name} has an empty regex pattern"),
                );
                None
            } else if pattern.chars().count() > MAX_PATTERN_CHARS {
                report.edge(
                    Code::TooLong,
                    j,
                    id,
                    field,
                    format!(
                        "{name} has a regex pattern longer than {MAX_PATTERN_CHARS} characters"
                    ),
                );
                None
            } else {
                match compile_regex(pattern) {
                    Ok(regex) => Some(Test::Regex(regex)),
                    Err(error) => {
                        report.edge(
                            Code::InvalidRegex,
                            j,
                            id,
                            field,
                            format!(
                                "{name} has an invalid regex: {}",
                                explain_regex_error(&error)
                            ),
                        );
                        None
                    }
                }
            }
        }
        EdgeCondition::Intent { description } => {
            let field = ".condition.description";
            if description.trim().is_empty() {
                report.edge(
                    Code::EmptyText,
                    j,
                    id,
                    field,
                    format!("{name} has an intent condition without a description"),
                );
                None
            } else if description.chars().count() > MAX_TEXT_CHARS {
                report.edge(
                    Code::TooLong,
                    j,
                    id,
                    field,
                    format!(
                        "{name} has an intent description longer than {MAX_TEXT_CHARS} characters"
                    ),
                );
                None
            } else {
                Some(Test::Intent {
                    description: description.clone(),
                })
            }
        }
        EdgeCondition::Digits { digits } => compile_digits(j, id, name, digits, report),
    }
}

/// Whether `key` is on a phone's keypad and can be part of an entry (`#` ends one).
fn is_entry_key(key: char) -> bool {
    key.is_ascii_digit() || matches!(key.to_ascii_uppercase(), '*' | 'A'..='D')
}

fn compile_digits(
    j: usize,
    id: &str,
    name: &str,
    digits: &str,
    report: &mut Report,
) -> Option<Test> {
    let field = ".condition.digits";
    if digits.is_empty() {
        report.edge(
            Code::EmptyText,
            j,
            id,
            field,
            format!("{name} has a digits condition without digits"),
        );
        None
    } else if digits.chars().count() > MAX_DIGITS {
        report.edge(
            Code::TooLong,
            j,
            id,
            field,
            format!("{name} has more than {MAX_DIGITS} digits"),
        );
        None
    } else if let Some(bad) = digits.chars().find(|&key| !is_entry_key(key)) {
        report.edge(
            Code::InvalidDigits,
            j,
            id,
            field,
            format!(
                "{name} has {bad:?} among its digits; use the keypad's 0-9, * and A-D \
                 (# ends an entry and is not part of it)"
            ),
        );
        None
    } else {
        Some(Test::Digits(digits.to_ascii_uppercase()))
    }
}

/// The regex crate explains syntax errors over several lines with a caret under the pattern;
/// an API answer needs the one line that says what is wrong.
fn explain_regex_error(error: &regex::Error) -> String {
    match error {
        regex::Error::CompiledTooBig(_) => "the pattern is too large".to_owned(),
        other => {
            let text = other.to_string();
            text.lines()
                .find_map(|line| line.trim().strip_prefix("error: "))
                .map_or_else(
                    || text.lines().next().unwrap_or_default().trim().to_owned(),
                    str::to_owned,
                )
        }
    }
}
