//! Running a validated flow, one caller utterance at a time, without a language model: the state
//! kept between turns, what each step asks the engine to say and do, and the intent questions an
//! engine may have a model answer first.
//!
//! How a flow runs:
//! - Entering a node runs forward through nodes that do not wait: a message node says its line and
//!   follows its edge; a tool node says its optional line, asks for the tool call and follows its
//!   edge (the tool's result does not steer the flow); a transfer or end node says its optional
//!   line, asks for the transfer or hang-up, and finishes the flow. Running forward stops at a
//!   question or llm node, which waits for the caller.
//! - At a question node, the caller's utterance is tested against the node's edges in flow order,
//!   `else` aside; the first that holds is followed, and `else` when none does.
//! - At an llm node, the engine converses with the model under the node's prompt. After each caller
//!   utterance the node's edges are tested the same way, `else` aside; if one holds, the flow
//!   leaves by it. Otherwise the flow leaves by `else` when this was the node's `max_turns`-th
//!   caller utterance, or when the exit condition was judged met (it is asked as an intent question
//!   keyed by the `else` edge's id); else it stays and the model answers.
//! - Intent conditions hold only when answered `true` in the [`IntentAnswers`] given to
//!   [`ValidFlow::step`]; [`ValidFlow::pending_intents`] lists the ones worth asking.
//! - Keys the caller entered on the keypad go to [`ValidFlow::step_keys`] instead: `digits`
//!   conditions hold when the keys are exactly theirs, keyword and regex conditions read the keys
//!   as text (`"42"`), and intent conditions (and an llm node's exit condition) do not hold.
//!
//! An engine speaks every line of a [`FlowStep`] in order, then performs its actions in order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::matching::{Test, Utterance};
use super::model::{FlowNode, NodeKind};
use super::validate::{Exit, ValidFlow, normalize_phone_number};
use crate::template::{TemplateVars, render};

/// Where a call is in its flow, kept between turns (it serializes to a few fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowState {
    current: String,
    #[serde(default)]
    turns_in_node: u32,
    #[serde(default)]
    finished: bool,
}

impl FlowState {
    /// The id of the node the call is at: the waiting node, or the final node once finished.
    #[must_use]
    pub fn current_node(&self) -> &str {
        &self.current
    }

    /// Caller utterances heard since entering the current node.
    #[must_use]
    pub fn turns_in_node(&self) -> u32 {
        self.turns_in_node
    }

    /// Whether the flow has ended (hung up, transferred, or stopped as a safeguard).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// Something the engine must do besides speaking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FlowAction {
    /// Call the agent's tool `name` with `arguments` (templates already rendered).
    CallTool {
        /// The tool's name.
        name: String,
        /// The arguments, a JSON object.
        arguments: Value,
    },
    /// Hand the call to `phone_number` (E.164).
    Transfer {
        /// Where to transfer the call.
        phone_number: String,
    },
    /// End the call.
    Hangup,
}

/// What the flow waits for after a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Awaiting {
    /// The caller's answer to the question just asked.
    Caller,
    /// The caller, while the model converses under `prompt`; each caller utterance goes to
    /// [`ValidFlow::step`] to see whether the flow leaves the node.
    LlmConversation {
        /// The node's prompt, rendered.
        prompt: String,
        /// When the conversation here is done, for the model to aim at.
        exit_condition: Option<String>,
    },
    /// Nothing: the flow has ended.
    Finished,
}

/// The outcome of starting a flow or of one caller utterance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowStep {
    /// The state to keep for the next utterance.
    pub state: FlowState,
    /// Lines to say, in order (templates rendered; empty lines left out).
    pub say: Vec<String>,
    /// Actions to perform after speaking, in order.
    pub actions: Vec<FlowAction>,
    /// What happens next.
    pub awaiting: Awaiting,
    /// Ids of the nodes entered during this step, in order (empty when the flow stayed put).
    pub visited: Vec<String>,
}

impl FlowStep {
    /// Whether the flow has ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.state.finished
    }
}

/// An intent condition to have judged before stepping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentQuestion {
    /// The edge the answer belongs to; use it as the key in [`IntentAnswers`].
    pub edge_id: String,
    /// What the caller would mean for the answer to be yes.
    pub description: String,
}

/// Judged intents, by edge id: `true` when the utterance means what the edge describes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntentAnswers(BTreeMap<String, bool>);

impl IntentAnswers {
    /// No answers: every intent condition counts as not met.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the answer for `edge_id`.
    pub fn set(&mut self, edge_id: impl Into<String>, matched: bool) -> &mut Self {
        self.0.insert(edge_id.into(), matched);
        self
    }

    /// The same answers with one more; handy when building them in one expression.
    #[must_use]
    pub fn with(mut self, edge_id: impl Into<String>, matched: bool) -> Self {
        self.set(edge_id, matched);
        self
    }

    /// The answer for `edge_id`, if one was given.
    #[must_use]
    pub fn get(&self, edge_id: &str) -> Option<bool> {
        self.0.get(edge_id).copied()
    }
}

impl<K: Into<String>> FromIterator<(K, bool)> for IntentAnswers {
    fn from_iter<I: IntoIterator<Item = (K, bool)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl ValidFlow {
    /// Enters the start node and runs forward until a node waits for the caller or the flow ends.
    #[must_use]
    pub fn start(&self, vars: &TemplateVars) -> FlowStep {
        self.run_from(self.start, vars)
    }

    /// The intent questions whose answers could change where `utterance` leads from `state`: the
    /// intent edges tested before the first edge that holds without a judge, and, at an llm node
    /// whose turn limit this utterance does not reach, its exit condition. Empty when the flow is
    /// finished or nothing needs judging.
    #[must_use]
    pub fn pending_intents(&self, state: &FlowState, utterance: &str) -> Vec<IntentQuestion> {
        let Some(at) = self.waiting_node(state) else {
            return Vec::new();
        };
        let utterance = Utterance::new(utterance);
        let mut asked = Vec::new();
        let decided = self.first_holding(at, &utterance, &IntentAnswers::new(), &mut asked);
        let mut questions: Vec<IntentQuestion> = asked
            .into_iter()
            .filter_map(|exit| match &exit.test {
                Test::Intent { description } => Some(IntentQuestion {
                    edge_id: exit.edge_id.clone(),
                    description: description.clone(),
                }),
                _ => None,
            })
            .collect();
        if decided.is_none()
            && let NodeKind::Llm(llm) = &self.flow.nodes[at].kind
            && let (Some(condition), Some(exit)) = (&llm.exit_condition, self.else_exit(at))
        {
            let turns = state.turns_in_node.saturating_add(1);
            // At the turn limit the flow leaves anyway, so the condition need not be judged.
            if llm.max_turns.is_none_or(|max| turns < max) {
                questions.push(IntentQuestion {
                    edge_id: exit.edge_id.clone(),
                    description: condition.clone(),
                });
            }
        }
        questions
    }

    /// Takes the caller's `utterance` at the node `state` waits at, moves along the edge it leads
    /// to (see the module documentation), and runs forward from there.
    ///
    /// A finished state stays finished and says nothing. A state whose node the flow no longer
    /// has (the flow was changed mid-call) starts the flow again rather than stranding the call.
    #[must_use]
    pub fn step(
        &self,
        state: &FlowState,
        utterance: &str,
        intents: &IntentAnswers,
        vars: &TemplateVars,
    ) -> FlowStep {
        self.step_with(state, &Utterance::new(utterance), intents, vars)
    }

    /// Takes `keys` the caller entered on the keypad (DTMF) at the node `state` waits at, as
    /// [`ValidFlow::step`] takes an utterance (see the module documentation for how conditions
    /// read keys).
    #[must_use]
    pub fn step_keys(&self, state: &FlowState, keys: &str, vars: &TemplateVars) -> FlowStep {
        self.step_with(state, &Utterance::keys(keys), &IntentAnswers::new(), vars)
    }

    fn step_with(
        &self,
        state: &FlowState,
        utterance: &Utterance<'_>,
        intents: &IntentAnswers,
        vars: &TemplateVars,
    ) -> FlowStep {
        if state.finished {
            return FlowStep {
                state: state.clone(),
                say: Vec::new(),
                actions: Vec::new(),
                awaiting: Awaiting::Finished,
                visited: Vec::new(),
            };
        }
        let Some(&at) = self.index.get(&state.current) else {
            return self.start(vars);
        };
        let node = &self.flow.nodes[at];
        let turns = state.turns_in_node.saturating_add(1);
        let chosen = self.first_holding(at, utterance, intents, &mut Vec::new());
        let next = match &node.kind {
            NodeKind::Question(_) => chosen.or_else(|| self.else_exit(at)),
            NodeKind::Llm(llm) => chosen.or_else(|| {
                let limit_reached = llm.max_turns.is_some_and(|max| turns >= max);
                let exit = self.else_exit(at)?;
                let judged_done =
                    llm.exit_condition.is_some() && intents.get(&exit.edge_id) == Some(true);
                (limit_reached || judged_done).then_some(exit)
            }),
            // States only ever rest at waiting nodes; one that does not is carried on from there.
            _ => return self.run_from(at, vars),
        };
        match next {
            Some(exit) => self.run_from(exit.target, vars),
            None => FlowStep {
                state: FlowState {
                    current: node.id.clone(),
                    turns_in_node: turns,
                    finished: false,
                },
                say: Vec::new(),
                actions: Vec::new(),
                awaiting: awaiting_at(node, vars),
                visited: Vec::new(),
            },
        }
    }

    /// The node `state` waits at, if it is waiting at one this flow has.
    fn waiting_node(&self, state: &FlowState) -> Option<usize> {
        if state.finished {
            return None;
        }
        let &at = self.index.get(&state.current)?;
        self.flow.nodes[at].kind.waits_for_caller().then_some(at)
    }

    /// The first exit of node `at`, in flow order and `else` aside, whose condition holds; every
    /// intent exit tested on the way is added to `asked`.
    fn first_holding<'f>(
        &'f self,
        at: usize,
        utterance: &Utterance<'_>,
        intents: &IntentAnswers,
        asked: &mut Vec<&'f Exit>,
    ) -> Option<&'f Exit> {
        for exit in &self.exits[at] {
            if matches!(exit.test, Test::Else) {
                continue;
            }
            if exit.test.is_intent() {
                asked.push(exit);
            }
            if exit.test.holds(utterance, intents.get(&exit.edge_id)) {
                return Some(exit);
            }
        }
        None
    }

    fn else_exit(&self, at: usize) -> Option<&Exit> {
        self.exits[at]
            .iter()
            .find(|exit| matches!(exit.test, Test::Else))
    }

    /// Enters node `at` and runs forward through nodes that do not wait.
    fn run_from(&self, mut at: usize, vars: &TemplateVars) -> FlowStep {
        let mut out = Output::default();
        // A valid flow has no circle of non-waiting nodes, so a run enters each node at most
        // once; the bound is a safeguard should that ever be broken.
        for _ in 0..=self.flow.nodes.len() {
            let node = &self.flow.nodes[at];
            out.visited.push(node.id.clone());
            match &node.kind {
                NodeKind::Message(message) => out.say(render(&message.text, vars)),
                NodeKind::Tool(tool) => {
                    if let Some(line) = &tool.say {
                        out.say(render(line, vars));
                    }
                    out.actions.push(FlowAction::CallTool {
                        name: tool.tool.clone(),
                        arguments: render_strings(&tool.arguments, vars),
                    });
                }
                NodeKind::Question(question) => {
                    out.say(render(&question.text, vars));
                    return out.wait(node, vars);
                }
                NodeKind::Llm(_) => return out.wait(node, vars),
                NodeKind::Transfer(transfer) => {
                    if let Some(line) = &transfer.text {
                        out.say(render(line, vars));
                    }
                    let phone_number = normalize_phone_number(&transfer.phone_number)
                        .unwrap_or_else(|| transfer.phone_number.clone());
                    out.actions.push(FlowAction::Transfer { phone_number });
                    return out.finish(node);
                }
                NodeKind::End(end) => {
                    if let Some(line) = &end.text {
                        out.say(render(line, vars));
                    }
                    out.actions.push(FlowAction::Hangup);
                    return out.finish(node);
                }
            }
            match self.exits[at].first() {
                Some(exit) => at = exit.target,
                None => return out.stop(node),
            }
        }
        out.stop(&self.flow.nodes[at])
    }
}

/// What the flow waits for at a waiting node.
fn awaiting_at(node: &FlowNode, vars: &TemplateVars) -> Awaiting {
    match &node.kind {
        NodeKind::Llm(llm) => Awaiting::LlmConversation {
            prompt: render(&llm.prompt, vars),
            exit_condition: llm.exit_condition.clone(),
        },
        _ => Awaiting::Caller,
    }
}

/// Renders every string inside a JSON value as a template.
fn render_strings(value: &Value, vars: &TemplateVars) -> Value {
    match value {
        Value::String(text) => Value::String(render(text, vars)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_strings(v, vars)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_strings(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a run has collected so far.
#[derive(Default)]
struct Output {
    say: Vec<String>,
    actions: Vec<FlowAction>,
    visited: Vec<String>,
}

impl Output {
    fn say(&mut self, line: String) {
        let line = line.trim();
        if !line.is_empty() {
            self.say.push(line.to_owned());
        }
    }

    fn wait(self, node: &FlowNode, vars: &TemplateVars) -> FlowStep {
        self.into_step(node, false, awaiting_at(node, vars))
    }

    fn finish(self, node: &FlowNode) -> FlowStep {
        self.into_step(node, true, Awaiting::Finished)
    }

    /// Ends a run that cannot go on (only possible if the flow's checks were bypassed): hanging
    /// up is the one outcome that cannot leave the caller waiting on a flow that never answers.
    fn stop(mut self, node: &FlowNode) -> FlowStep {
        self.actions.push(FlowAction::Hangup);
        self.finish(node)
    }

    fn into_step(self, node: &FlowNode, finished: bool, awaiting: Awaiting) -> FlowStep {
        FlowStep {
            state: FlowState {
                current: node.id.clone(),
                turns_in_node: 0,
                finished,
            },
            say: self.say,
            actions: self.actions,
            awaiting,
            visited: self.visited,
        }
    }
}
