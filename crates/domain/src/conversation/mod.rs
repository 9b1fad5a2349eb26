//! Conversations: the engine that holds a call's dialogue, composes its prompts, runs its flow,
//! its model and its tools, and decides when the call should end.

mod calendar;
mod engine;
mod events;
mod prompt;
mod tools;

#[cfg(test)]
mod tests;

pub use calendar::{CalendarContext, EVENTS_IN_PROMPT};
pub use engine::{
    CALENDAR_TOOLS, CallContext, ConversationEngine, ConversationError, ConversationState,
    EndReason, MAX_CALLER_TURNS, MAX_TOOL_ROUNDS, Reply, TokenSink, keypad_text, wants_calendar,
};
pub use events::{ReplyEvent, ReplySink};
pub use prompt::{PromptParts, local_time, system_prompt};
pub use tools::{ToolError, ToolInvoker, tool_specs};
