//! Call flows: the graph of an agent's conversation, its rules, and the step function that runs
//! it without a language model.
//!
//! - [`model`]: the graph as the API stores and returns it ([`CallFlow`], nodes, edges).
//! - [`validate`]: the rules, checked all at once by [`CallFlow::validate`] into a [`ValidFlow`];
//!   [`limits`]: the sizes they allow.
//! - [`errors`]: what validation reports ([`FlowErrors`]), convertible to
//!   [`crate::ValidationErrors`] for a 422 answer.
//! - [`step`]: running a [`ValidFlow`] turn by turn ([`ValidFlow::start`], [`ValidFlow::step`]).
//! - `matching`: how edge conditions test what the caller said or entered on the keypad.

pub mod errors;
pub mod limits;
mod matching;
pub mod model;
pub mod step;
pub mod validate;

#[cfg(test)]
mod tests;

pub use errors::{FlowError, FlowErrorCode, FlowErrors};
pub use limits::{
    MAX_DIGITS, MAX_EDGES, MAX_ID_CHARS, MAX_KEYWORD_CHARS, MAX_KEYWORDS, MAX_LLM_TURNS, MAX_NODES,
    MAX_PATTERN_CHARS, MAX_PROMPT_CHARS, MAX_TEXT_CHARS, MAX_TOOL_ARGUMENTS_BYTES,
    MAX_TOOL_NAME_CHARS,
};
pub use matching::mentions;
pub use model::{
    CallFlow, EdgeCondition, EndNode, FlowEdge, FlowNode, LlmNode, MessageNode, NodeKind, Position,
    QuestionNode, ToolNode, TransferNode,
};
pub use step::{Awaiting, FlowAction, FlowState, FlowStep, IntentAnswers, IntentQuestion};
pub use validate::ValidFlow;
