//! The language-model port: a chat model that streams its reply token by token and may ask for
//! tools. Any server speaking the OpenAI chat API implements it through one adapter.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;
use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    System,
    User,
    Assistant,
    /// The result of a tool call, answering the assistant's request with the same id.
    Tool,
}

/// A tool call the model asked for; `arguments` is the JSON text the model wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    /// The text; `None` for an assistant message that only calls tools.
    pub content: Option<String>,
    /// Tools an assistant message asked for.
    pub tool_calls: Vec<ToolCall>,
    /// For `Tool` messages: the id of the call this answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message of plain text.
    #[must_use]
    pub fn text(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The answer to a tool call.
    #[must_use]
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Tool,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A tool the model may call: a name, what it does, and a JSON schema of its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// What to ask the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model's name; empty means the adapter's configured default.
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    Other(String),
}

/// One event of a streamed reply, in order: tokens as they arrive; each tool call once, complete
/// (its arguments assembled from however many pieces the wire split them into); usage when the
/// server reports it; `Finished` last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    Token(String),
    ToolCall(ToolCall),
    Usage {
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    Finished(FinishReason),
}

/// Why the model could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The model is not configured.
    #[error("no language model is configured (set {setting})")]
    NotConfigured { setting: &'static str },
    /// Rate limited after the adapter's own retries; `retry_after` as the server said.
    #[error("the language model is rate limited")]
    RateLimited { retry_after: Option<Duration> },
    /// Unreachable, overloaded or failing (5xx, connection errors, a dropped stream) after the
    /// adapter's own retries.
    #[error("the language model is unavailable: {0}")]
    Unavailable(String),
    /// No answer (or no next token) within the adapter's timeout.
    #[error("the language model did not answer in time")]
    Timeout,
    /// The request was refused (bad credentials, unknown model, invalid input): retrying the same
    /// request will not help.
    #[error("the language model refused the request: {0}")]
    Rejected(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A stream of reply events; dropping it cancels the request (barge-in relies on that).
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, LlmError>> + Send>>;

/// A chat model.
///
/// Contract, for every adapter:
/// - `stream` resolves once the model has started answering (or failed before any token); errors
///   before the first event (connection, 429, 5xx) are retried inside the adapter with backoff,
///   honouring `Retry-After`, within a bounded number of attempts.
/// - The stream yields [`ChatEvent`]s in order and ends after `Finished`; an error item ends it.
///   Once a token has been yielded, the adapter never retries (the caller has already used it).
/// - Tool calls are yielded whole, in the order the model made them, each with a non-empty id.
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// The model's default name, for logs and health.
    fn name(&self) -> &str;

    /// Starts a streamed reply.
    ///
    /// # Errors
    /// As [`LlmError`] describes, after retries where retrying can help.
    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError>;
}
