//! The call-flow graph as the API receives, stores and returns it: nodes and edges in the shape a
//! React-Flow style editor uses (`{id, type, position, data}` nodes, `{id, source, target}` edges).
//!
//! These types accept anything structurally well-formed; [`CallFlow::validate`] decides whether
//! the graph can be run. Fields the flow does not read (an editor's `label`, `sourceHandle`,
//! `selected`, ...) are kept in `extra` maps, so a flow comes back exactly as the editor saved it.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An agent's conversation as a graph of nodes joined by conditional edges.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallFlow {
    /// The steps of the conversation.
    #[serde(default)]
    pub nodes: Vec<FlowNode>,
    /// The ways from one step to the next. For each node, its outgoing edges are tried in the
    /// order they appear here.
    #[serde(default)]
    pub edges: Vec<FlowEdge>,
}

/// One step of the conversation.
///
/// JSON: `{"id": "greet", "type": "message", "start": true, "position": {"x": 0, "y": 0},
/// "data": {"text": "Hi {customer_name}!"}}`; `is_start` is accepted for `start`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowNode {
    /// Unique among the flow's nodes; edges refer to it.
    pub id: String,
    /// What the node does, with the fields of that kind (`type` and `data` in JSON).
    #[serde(flatten)]
    pub kind: NodeKind,
    /// Whether the conversation begins here; exactly one node must say so.
    #[serde(default, alias = "is_start", skip_serializing_if = "is_false")]
    pub start: bool,
    /// Where the editor draws the node; the flow itself ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// Other fields the editor stored on the node, returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FlowNode {
    /// A node that is not the start, with no position and no editor fields.
    #[must_use]
    pub fn new(id: impl Into<String>, kind: NodeKind) -> Self {
        Self {
            id: id.into(),
            kind,
            start: false,
            position: None,
            extra: Map::new(),
        }
    }

    /// The same node, marked as the start.
    #[must_use]
    pub fn starting(mut self) -> Self {
        self.start = true;
        self
    }
}

// Only the start node says so in JSON, as editors write it.
fn is_false(value: &bool) -> bool {
    !*value
}

/// A node's place on the editor's canvas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate.
    pub y: f64,
}

/// What a node does. In JSON the variant is the node's `type` and its fields sit under `data`
/// (a missing `data` counts as `{}`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum NodeKind {
    /// Say a line, then follow the node's single edge.
    Message(MessageNode),
    /// Say a line, wait for the caller, and branch on what they said.
    Question(QuestionNode),
    /// Let the language model converse under a prompt until the flow leaves the node.
    Llm(LlmNode),
    /// Call one of the agent's tools, then follow the node's single edge.
    Tool(ToolNode),
    /// Hand the call to a phone number; the flow ends.
    Transfer(TransferNode),
    /// Say goodbye and hang up; the flow ends.
    End(EndNode),
}

impl NodeKind {
    /// The kind's name as written in JSON (`"message"`, `"question"`, ...).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Question(_) => "question",
            Self::Llm(_) => "llm",
            Self::Tool(_) => "tool",
            Self::Transfer(_) => "transfer",
            Self::End(_) => "end",
        }
    }

    /// Whether the flow stops at this node to hear the caller (question and llm nodes).
    #[must_use]
    pub fn waits_for_caller(&self) -> bool {
        matches!(self, Self::Question(_) | Self::Llm(_))
    }

    /// Whether reaching this node ends the flow (end and transfer nodes).
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Transfer(_) | Self::End(_))
    }
}

/// The node kinds by name, to read `type` before choosing how to read `data`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindName {
    Message,
    Question,
    Llm,
    Tool,
    Transfer,
    End,
}

/// The two JSON fields that make up a [`NodeKind`].
#[derive(Deserialize)]
struct TaggedKind {
    #[serde(rename = "type")]
    kind: KindName,
    #[serde(default)]
    data: Option<Value>,
}

// Written by hand only so that a node without `data` (an end node needs none) is accepted;
// serde's adjacently tagged enums insist on the content field.
impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let tagged = TaggedKind::deserialize(deserializer)?;
        let data = match tagged.data {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(data) => data,
        };
        let kind = match tagged.kind {
            KindName::Message => serde_json::from_value(data).map(Self::Message),
            KindName::Question => serde_json::from_value(data).map(Self::Question),
            KindName::Llm => serde_json::from_value(data).map(Self::Llm),
            KindName::Tool => serde_json::from_value(data).map(Self::Tool),
            KindName::Transfer => serde_json::from_value(data).map(Self::Transfer),
            KindName::End => serde_json::from_value(data).map(Self::End),
        };
        kind.map_err(|e| de::Error::custom(format!("invalid node data: {e}")))
    }
}

/// Fields of a message node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageNode {
    /// The line to say (a template).
    #[serde(default)]
    pub text: String,
    /// Other fields the editor stored, returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields of a question node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuestionNode {
    /// The question to ask (a template).
    #[serde(default)]
    pub text: String,
    /// Other fields the editor stored, returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields of an llm node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmNode {
    /// Instructions for the model while the call is in this node (a template).
    #[serde(default)]
    pub prompt: String,
    /// When the conversation here is done, in words the model judges after each caller turn
    /// (for example "the caller has told us their budget"); leaving takes the `else` edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_condition: Option<String>,
    /// The caller turns after which the flow takes the `else` edge regardless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// Other fields the editor stored, returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields of a tool node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolNode {
    /// The tool's name, as the agent's tools define it.
    #[serde(default)]
    pub tool: String,
    /// The tool's arguments, a JSON object; string values are templates.
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// A line to say while the tool runs (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// Other fields the editor stored, returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ToolNode {
    fn default() -> Self {
        Self {
            tool: String::new(),
            arguments: empty_object(),
            say: None,
            extra: Map::new(),
        }
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Fields of a transfer node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferNode {
    /// Where to hand the call, in E.164 form (`+15550102000`; spaces, dashes, dots and
    /// parentheses are ignored).
    #[serde(default)]
    pub phone_number: String,
    /// A line to say before transferring (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Other fields the editor stored, returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields of an end node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EndNode {
    /// A goodbye line to say before hanging up (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Other fields the editor stored, returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A way from one node to another, taken when its condition holds.
///
/// JSON: `{"id": "e1", "source": "ask", "target": "book",
/// "condition": {"type": "keywords", "any": ["yes", "sure"]}}`; a missing condition is `always`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowEdge {
    /// Unique among the flow's edges; intent answers refer to it.
    pub id: String,
    /// The node the edge leaves.
    pub source: String,
    /// The node the edge leads to.
    pub target: String,
    /// When the edge is taken; left out of JSON when `always`, as editors write plain edges.
    #[serde(default, skip_serializing_if = "EdgeCondition::is_always")]
    pub condition: EdgeCondition,
    /// Other fields the editor stored on the edge, returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FlowEdge {
    /// An edge with no editor fields.
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        source: impl Into<String>,
        target: impl Into<String>,
        condition: EdgeCondition,
    ) -> Self {
        Self {
            id: id.into(),
            source: source.into(),
            target: target.into(),
            condition,
            extra: Map::new(),
        }
    }
}

/// When an edge is taken. Conditions other than `always` and `else` look at what the caller
/// said, so they belong on edges leaving question and llm nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EdgeCondition {
    /// Always taken (when reached in order).
    #[default]
    Always,
    /// Taken when no other edge of the node is; on an llm node, taken when the node's exit
    /// condition or turn limit is met.
    Else,
    /// Taken when the utterance contains any of `any` (if given) and all of `all` (if given):
    /// whole words or phrases, ignoring case and punctuation.
    Keywords {
        /// At least one of these must occur (ignored when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        any: Vec<String>,
        /// Every one of these must occur (ignored when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        all: Vec<String>,
    },
    /// Taken when the regular expression matches somewhere in the utterance, ignoring case.
    Regex {
        /// The expression, in the syntax of the `regex` crate.
        pattern: String,
    },
    /// Taken when a language model judges that the utterance means this.
    Intent {
        /// What the caller means, in words, e.g. "wants to talk to a person".
        description: String,
    },
    /// Taken when the caller enters exactly these keys on the phone's keypad (DTMF), e.g.
    /// `"1"` or `"4711"`: digits, `*` and `A` to `D` (`#` ends an entry and is never part of
    /// it). Spoken words never match it.
    Digits {
        /// The keys, in order.
        digits: String,
    },
}

impl EdgeCondition {
    /// The condition's name as written in JSON.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Else => "else",
            Self::Keywords { .. } => "keywords",
            Self::Regex { .. } => "regex",
            Self::Intent { .. } => "intent",
            Self::Digits { .. } => "digits",
        }
    }

    /// Whether this is the default, `always`.
    #[must_use]
    pub fn is_always(&self) -> bool {
        matches!(self, Self::Always)
    }

    /// Whether the condition needs what the caller said (or entered on the keypad).
    #[must_use]
    pub fn reads_utterance(&self) -> bool {
        matches!(
            self,
            Self::Keywords { .. } | Self::Regex { .. } | Self::Intent { .. } | Self::Digits { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a failing test should stop at once"
    )]

    use serde_json::json;

    use super::*;

    #[test]
    fn an_empty_flow_deserializes() {
        let flow: CallFlow = serde_json::from_str(r#"{"nodes": [], "edges": []}"#).unwrap();
        assert_eq!(flow, CallFlow::default());
        let flow: CallFlow = serde_json::from_str("{}").unwrap();
        assert_eq!(flow, CallFlow::default());
    }

    #[test]
    fn a_node_reads_kind_data_start_and_position() {
        let node: FlowNode = serde_json::from_value(json!({
            "id": "greet", "type": "message", "is_start": true,
            "position": {"x": 10.5, "y": -3},
            "data": {"text": "Hi"}
        }))
        .unwrap();
        assert_eq!(node.id, "greet");
        assert!(node.start);
        assert_eq!(node.position, Some(Position { x: 10.5, y: -3.0 }));
        assert_eq!(
            node.kind,
            NodeKind::Message(MessageNode {
                text: "Hi".into(),
                extra: Map::new()
            })
        );
    }

    #[test]
    fn an_end_node_needs_no_data() {
        let node: FlowNode = serde_json::from_value(json!({"id": "bye", "type": "end"})).unwrap();
        assert_eq!(node.kind, NodeKind::End(EndNode::default()));
        assert!(!node.start);
    }

    #[test]
    fn editor_fields_survive_a_round_trip() {
        let raw = json!({
            "id": "ask", "type": "question",
            "position": {"x": 1.0, "y": 2.0},
            "data": {"text": "Budget?", "label": "Ask budget"},
            "width": 180, "selected": true
        });
        let node: FlowNode = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(node.extra.get("width"), Some(&json!(180)));
        assert_eq!(serde_json::to_value(&node).unwrap(), raw);

        let raw_edge = json!({
            "id": "e1", "source": "a", "target": "b",
            "condition": {"type": "regex", "pattern": "\\d+"},
            "sourceHandle": "yes", "label": "a number"
        });
        let edge: FlowEdge = serde_json::from_value(raw_edge.clone()).unwrap();
        assert_eq!(serde_json::to_value(&edge).unwrap(), raw_edge);
    }

    #[test]
    fn every_kind_round_trips() {
        let raw = json!([
            {"id": "m", "type": "message", "start": true, "data": {"text": "Hello"}},
            {"id": "q", "type": "question", "data": {"text": "Ready?"}},
            {"id": "l", "type": "llm",
             "data": {"prompt": "Qualify", "exit_condition": "budget known", "max_turns": 6}},
            {"id": "t", "type": "tool",
             "data": {"tool": "book", "arguments": {"slot": "{slot}"}, "say": "One moment."}},
            {"id": "x", "type": "transfer",
             "data": {"phone_number": "+15550102000", "text": "Transferring."}},
            {"id": "e", "type": "end", "data": {"text": "Bye."}}
        ]);
        let nodes: Vec<FlowNode> = serde_json::from_value(raw.clone()).unwrap();
        let kinds: Vec<&str> = nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(
            kinds,
            ["message", "question", "llm", "tool", "transfer", "end"]
        );
        assert_eq!(serde_json::to_value(&nodes).unwrap(), raw);
    }

    #[test]
    fn tool_arguments_default_to_an_empty_object() {
        let node: FlowNode =
            serde_json::from_value(json!({"id": "t", "type": "tool", "data": {"tool": "ping"}}))
                .unwrap();
        let NodeKind::Tool(tool) = node.kind else {
            panic!("expected a tool node");
        };
        assert_eq!(tool.arguments, json!({}));
    }

    #[test]
    fn an_edge_without_condition_is_always() {
        let edge: FlowEdge =
            serde_json::from_value(json!({"id": "e", "source": "a", "target": "b"})).unwrap();
        assert_eq!(edge.condition, EdgeCondition::Always);
    }

    #[test]
    fn conditions_use_a_type_tag() {
        let conditions: Vec<EdgeCondition> = serde_json::from_value(json!([
            {"type": "always"},
            {"type": "else"},
            {"type": "keywords", "any": ["yes"]},
            {"type": "regex", "pattern": "^no"},
            {"type": "intent", "description": "wants a human"},
            {"type": "digits", "digits": "1"}
        ]))
        .unwrap();
        assert_eq!(
            conditions[2],
            EdgeCondition::Keywords {
                any: vec!["yes".into()],
                all: vec![]
            }
        );
        let names: Vec<&str> = conditions.iter().map(EdgeCondition::name).collect();
        assert_eq!(
            names,
            ["always", "else", "keywords", "regex", "intent", "digits"]
        );
        assert_eq!(conditions[5], EdgeCondition::Digits { digits: "1".into() });
    }

    #[test]
    fn an_unknown_node_type_is_refused() {
        let err = serde_json::from_value::<FlowNode>(json!({"id": "x", "type": "dance"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dance"), "{err}");
    }

    #[test]
    fn malformed_data_is_refused_with_a_reason() {
        let err = serde_json::from_value::<FlowNode>(
            json!({"id": "x", "type": "llm", "data": {"max_turns": "many"}}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("invalid node data"), "{err}");
    }
}
