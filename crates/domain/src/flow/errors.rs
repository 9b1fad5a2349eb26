//! The problems validation finds in a call flow: each with a machine code, a sentence naming the
//! node or edge, and the JSON field it concerns, so an editor can point at it.

use std::fmt;

use serde::Serialize;

use crate::validation::ValidationErrors;

/// What kind of problem a flow has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowErrorCode {
    /// More nodes than [`super::MAX_NODES`]; nothing else is checked.
    TooManyNodes,
    /// More edges than [`super::MAX_EDGES`]; nothing else is checked.
    TooManyEdges,
    /// A node or edge id is empty or longer than [`super::MAX_ID_CHARS`].
    InvalidId,
    /// A text, list or value is longer than its limit.
    TooLong,
    /// A text the node or condition needs is empty.
    EmptyText,
    /// No node is marked as the start.
    NoStartNode,
    /// More than one node is marked as the start (one error per start node).
    SeveralStartNodes,
    /// A node id is used again.
    DuplicateNodeId,
    /// An edge id is used again.
    DuplicateEdgeId,
    /// An edge leaves a node that does not exist.
    EdgeFromMissingNode,
    /// An edge leads to a node that does not exist.
    EdgeToMissingNode,
    /// An edge leaves an end or transfer node, after which nothing happens.
    EdgeFromEndNode,
    /// A node that neither ends the call nor has an outgoing edge.
    DeadEnd,
    /// A message or tool node with more than one outgoing edge; it can only follow one.
    SeveralExits,
    /// An edge that reads the caller's words leaves a node that does not wait for them.
    ConditionNeedsCaller,
    /// A question with neither an `else` nor an `always` edge, so some answers lead nowhere.
    QuestionWithoutElse,
    /// A node with more than one `else` edge.
    SeveralElseEdges,
    /// An edge after an `always` edge of the same node, so it is never tried.
    ShadowedEdge,
    /// A keywords condition with no keywords, or with a blank one.
    EmptyKeywords,
    /// A regex condition that does not compile (or is too large).
    InvalidRegex,
    /// A digits condition with a key the keypad does not have (or `#`, which ends an entry).
    InvalidDigits,
    /// A transfer number that is not in E.164 form.
    InvalidPhoneNumber,
    /// A tool name other than 1 to [`super::MAX_TOOL_NAME_CHARS`] letters, digits, `_` or `-`.
    InvalidToolName,
    /// Tool arguments that are not a JSON object.
    InvalidToolArguments,
    /// An llm node's `max_turns` outside 1 to [`super::MAX_LLM_TURNS`].
    InvalidMaxTurns,
    /// An llm node with an exit condition or turn limit but no `else` edge to leave by.
    LlmExitWithoutElse,
    /// An `else` edge on an llm node with neither exit condition nor turn limit.
    LlmElseNeverTaken,
    /// Message and tool nodes leading round in a circle without waiting for the caller.
    PassthroughCycle,
    /// A node the start cannot lead to.
    UnreachableNode,
    /// No end or transfer node can be reached from the start.
    NoEndReachable,
    /// A reachable node from which no end or transfer node can be reached.
    CannotReachEnd,
}

impl FlowErrorCode {
    /// The code as it appears in JSON, e.g. `"no_start_node"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooManyNodes => "too_many_nodes",
            Self::TooManyEdges => "too_many_edges",
            Self::InvalidId => "invalid_id",
            Self::TooLong => "too_long",
            Self::EmptyText => "empty_text",
            Self::NoStartNode => "no_start_node",
            Self::SeveralStartNodes => "several_start_nodes",
            Self::DuplicateNodeId => "duplicate_node_id",
            Self::DuplicateEdgeId => "duplicate_edge_id",
            Self::EdgeFromMissingNode => "edge_from_missing_node",
            Self::EdgeToMissingNode => "edge_to_missing_node",
            Self::EdgeFromEndNode => "edge_from_end_node",
            Self::DeadEnd => "dead_end",
            Self::SeveralExits => "several_exits",
            Self::ConditionNeedsCaller => "condition_needs_caller",
            Self::QuestionWithoutElse => "question_without_else",
            Self::SeveralElseEdges => "several_else_edges",
            Self::ShadowedEdge => "shadowed_edge",
            Self::EmptyKeywords => "empty_keywords",
            Self::InvalidRegex => "invalid_regex",
            Self::InvalidDigits => "invalid_digits",
            Self::InvalidPhoneNumber => "invalid_phone_number",
            Self::InvalidToolName => "invalid_tool_name",
            Self::InvalidToolArguments => "invalid_tool_arguments",
            Self::InvalidMaxTurns => "invalid_max_turns",
            Self::LlmExitWithoutElse => "llm_exit_without_else",
            Self::LlmElseNeverTaken => "llm_else_never_taken",
            Self::PassthroughCycle => "passthrough_cycle",
            Self::UnreachableNode => "unreachable_node",
            Self::NoEndReachable => "no_end_reachable",
            Self::CannotReachEnd => "cannot_reach_end",
        }
    }
}

impl fmt::Display for FlowErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowError {
    /// What kind of problem it is.
    pub code: FlowErrorCode,
    /// A sentence a person can act on, naming the node or edge.
    pub message: String,
    /// The JSON field concerned, e.g. `nodes[3]`, `nodes[3].data.text`,
    /// `edges[1].condition.pattern`, or `nodes` for the flow as a whole.
    pub field: String,
    /// The node concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The edge concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_id: Option<String>,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.code)
    }
}

/// Every problem found in one flow, in the order found. Never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FlowErrors(Vec<FlowError>);

impl FlowErrors {
    /// The problems.
    #[must_use]
    pub fn errors(&self) -> &[FlowError] {
        &self.0
    }

    /// The codes of the problems, in order; convenient for checks and logs.
    #[must_use]
    pub fn codes(&self) -> Vec<FlowErrorCode> {
        self.0.iter().map(|e| e.code).collect()
    }

    /// Whether a problem with `code` was found.
    #[must_use]
    pub fn contains(&self, code: FlowErrorCode) -> bool {
        self.0.iter().any(|e| e.code == code)
    }

    /// The number of problems.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was found.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn push(&mut self, error: FlowError) {
        self.0.push(error);
    }
}

impl IntoIterator for FlowErrors {
    type Item = FlowError;
    type IntoIter = std::vec::IntoIter<FlowError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for FlowErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for FlowErrors {}

impl From<FlowErrors> for ValidationErrors {
    fn from(errors: FlowErrors) -> Self {
        let mut out = ValidationErrors::new();
        for error in errors {
            out.add(error.field, error.message);
        }
        out
    }
}

/// Builds [`FlowError`]s with the node or edge they concern.
pub(super) struct Report {
    errors: FlowErrors,
}

impl Report {
    pub(super) fn new() -> Self {
        Self {
            errors: FlowErrors::default(),
        }
    }

    /// A problem of the flow as a whole, reported on `field` (`nodes` or `edges`).
    pub(super) fn flow(&mut self, code: FlowErrorCode, field: &str, message: String) {
        self.errors.push(FlowError {
            code,
            message,
            field: field.to_owned(),
            node_id: None,
            edge_id: None,
        });
    }

    /// A problem of node `index`, at `suffix` within it (`""` for the node itself).
    pub(super) fn node(
        &mut self,
        code: FlowErrorCode,
        index: usize,
        id: &str,
        suffix: &str,
        message: String,
    ) {
        self.errors.push(FlowError {
            code,
            message,
            field: format!("nodes[{index}]{suffix}"),
            node_id: Some(id.to_owned()),
            edge_id: None,
        });
    }

    /// A problem of edge `index`, at `suffix` within it (`""` for the edge itself).
    pub(super) fn edge(
        &mut self,
        code: FlowErrorCode,
        index: usize,
        id: &str,
        suffix: &str,
        message: String,
    ) {
        self.errors.push(FlowError {
            code,
            message,
            field: format!("edges[{index}]{suffix}"),
            node_id: None,
            edge_id: Some(id.to_owned()),
        });
    }

    pub(super) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(super) fn finish(self) -> FlowErrors {
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for code in [
            FlowErrorCode::NoStartNode,
            FlowErrorCode::EdgeToMissingNode,
            FlowErrorCode::LlmElseNeverTaken,
        ] {
            let json = serde_json::to_value(code).ok();
            assert_eq!(json, Some(serde_json::Value::from(code.as_str())));
        }
    }

    #[test]
    fn converts_to_validation_errors_field_by_field() {
        let mut report = Report::new();
        report.flow(
            FlowErrorCode::NoStartNode,
            "nodes",
            "no node is the start".into(),
        );
        report.edge(
            FlowErrorCode::InvalidRegex,
            1,
            "e2",
            ".condition.pattern",
            "bad".into(),
        );
        let errors = report.finish();
        let validation = ValidationErrors::from(errors.clone());
        let fields: Vec<&str> = validation
            .errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(fields, ["nodes", "edges[1].condition.pattern"]);
        assert_eq!(errors.errors()[1].edge_id.as_deref(), Some("e2"));
        assert_eq!(
            errors.to_string(),
            "nodes: no node is the start (no_start_node); \
             edges[1].condition.pattern: bad (invalid_regex)"
        );
    }
}
