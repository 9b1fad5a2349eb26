//! [`OpenAiChat`]: the [`LanguageModel`] port over `POST {base}/chat/completions`, streamed.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Serialize;
use switchboard_domain::ports::{
    ChatMessage, ChatRequest, ChatRole, ChatStream, LanguageModel, LlmError, ToolSpec,
};
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use crate::config::{OpenAiConfig, OpenAiConfigError};
use crate::http::{Failure, Transport, endpoint};
use crate::stream::Reply;

/// A chat model behind OpenAI's Chat Completions API, or any server that speaks it.
///
/// [`LanguageModel::stream`] resolves once the first event of the reply is in hand: until then
/// 408, 409, 429, 5xx, connection failures and streams that break off are retried (up to
/// `max_retries`, waiting as `Retry-After` asks or with exponential backoff and jitter); after
/// it, nothing is retried. `first_token_timeout` bounds the wait for the model's first output
/// (an empty role chunk does not count), `idle_timeout` each silence after it.
#[derive(Debug)]
pub struct OpenAiChat {
    transport: Transport,
    url: Url,
    model: String,
    first_token_timeout: Duration,
    idle_timeout: Duration,
}

impl OpenAiChat {
    /// An adapter for `config`; nothing is sent until the first request.
    ///
    /// # Errors
    /// When the base URL is not http(s), the model name is empty, the key or organization
    /// cannot be an HTTP header, or the HTTP client cannot be built.
    pub fn new(config: OpenAiConfig) -> Result<Self, OpenAiConfigError> {
        if config.model.trim().is_empty() {
            return Err(OpenAiConfigError::EmptyModel);
        }
        Ok(Self {
            url: endpoint(&config.base_url, "/chat/completions")?,
            transport: Transport::new(&config)?,
            model: config.model,
            first_token_timeout: config.first_token_timeout,
            idle_timeout: config.idle_timeout,
        })
    }

    /// One attempt: send, check the status, and read until the first event is ready, so that
    /// failures before it can still be retried.
    async fn attempt(&self, body: &[u8]) -> Result<Reply, Failure> {
        let started_at = Instant::now();
        let deadline = started_at + self.first_token_timeout;
        let send = self
            .transport
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(body.to_vec())
            .send();
        let response = tokio::time::timeout_at(deadline, send)
            .await
            .map_err(|_| Failure::Timeout)?
            .map_err(|e| Failure::from_reqwest(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.transport.status_failure(response).await);
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/event-stream");
        if !content_type.starts_with("text/event-stream") {
            return Err(Failure::Malformed(anyhow::anyhow!(
                "the chat answer is {content_type}, not an event stream"
            )));
        }
        let mut reply = Reply::new(
            response,
            self.transport.key.clone(),
            started_at,
            deadline,
            self.idle_timeout,
        );
        reply.fill().await?;
        debug!(
            first_event_ms = u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX),
            "chat reply started"
        );
        Ok(reply)
    }
}

#[async_trait]
impl LanguageModel for OpenAiChat {
    fn name(&self) -> &str {
        &self.model
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let model = if request.model.trim().is_empty() {
            self.model.as_str()
        } else {
            request.model.as_str()
        };
        let body = ChatBody::new(&request, model)?;
        let body = serde_json::to_vec(&body).map_err(|e| LlmError::Unexpected(e.into()))?;
        debug!(
            llm.model = model,
            messages = request.messages.len(),
            tools = request.tools.len(),
            "chat request"
        );
        let reply = self
            .transport
            .run("chat", || self.attempt(&body))
            .await
            .map_err(|failure| {
                debug!(failure = ?failure, "chat request failed");
                failure.into_llm_error()
            })?;
        Ok(reply.into_stream())
    }
}

/// The request body of 4.1 in PROVIDERS.md.
#[derive(Debug, Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<MessageWire<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolWire<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    /// Asks for the extra last chunk that carries the token counts.
    include_usage: bool,
}

#[derive(Debug, Serialize)]
struct MessageWire<'a> {
    role: &'static str,
    /// `null` only for an assistant message that just calls tools.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallWire<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct ToolCallWire<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCallWire<'a>,
}

#[derive(Debug, Serialize)]
struct FunctionCallWire<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Debug, Serialize)]
struct ToolWire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionWire<'a>,
}

#[derive(Debug, Serialize)]
struct FunctionWire<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    parameters: &'a serde_json::Value,
}

impl<'a> ChatBody<'a> {
    fn new(request: &'a ChatRequest, model: &'a str) -> Result<Self, LlmError> {
        if request.messages.is_empty() {
            return Err(LlmError::Rejected("a chat request needs messages".into()));
        }
        Ok(Self {
            model,
            messages: request
                .messages
                .iter()
                .map(MessageWire::new)
                .collect::<Result<_, _>>()?,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            tools: request.tools.iter().map(ToolWire::new).collect(),
            temperature: request.temperature,
            max_completion_tokens: request.max_tokens,
        })
    }
}

impl<'a> MessageWire<'a> {
    fn new(message: &'a ChatMessage) -> Result<Self, LlmError> {
        let text = message.content.as_deref();
        Ok(match message.role {
            ChatRole::System => Self::plain("system", text),
            ChatRole::User => Self::plain("user", text),
            ChatRole::Assistant => Self {
                role: "assistant",
                // OpenAI refuses an assistant message with neither text nor tool calls.
                content: if text.is_none() && message.tool_calls.is_empty() {
                    Some("")
                } else {
                    text
                },
                tool_calls: message
                    .tool_calls
                    .iter()
                    .map(|call| ToolCallWire {
                        id: &call.id,
                        kind: "function",
                        function: FunctionCallWire {
                            name: &call.name,
                            arguments: &call.arguments,
                        },
                    })
                    .collect(),
                tool_call_id: None,
            },
            ChatRole::Tool => {
                let Some(id) = message.tool_call_id.as_deref().filter(|id| !id.is_empty()) else {
                    return Err(LlmError::Rejected(
                        "a tool message needs the id of the call it answers".into(),
                    ));
                };
                Self {
                    role: "tool",
                    content: Some(text.unwrap_or_default()),
                    tool_calls: Vec::new(),
                    tool_call_id: Some(id),
                }
            }
        })
    }

    fn plain(role: &'static str, text: Option<&'a str>) -> Self {
        Self {
            role,
            content: Some(text.unwrap_or_default()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

impl<'a> ToolWire<'a> {
    fn new(tool: &'a ToolSpec) -> Self {
        Self {
            kind: "function",
            function: FunctionWire {
                name: &tool.name,
                description: &tool.description,
                parameters: &tool.parameters,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use switchboard_domain::ports::ToolCall;

    use super::*;

    #[test]
    fn the_body_has_openais_shape() {
        let request = ChatRequest {
            model: String::new(),
            messages: vec![
                ChatMessage::text(ChatRole::System, "You are a receptionist."),
                ChatMessage::text(ChatRole::User, "Book me for 3pm"),
                ChatMessage {
                    role: ChatRole::Assistant,
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "book_slot".into(),
                        arguments: r#"{"time":"15:00"}"#.into(),
                    }],
                    tool_call_id: None,
                },
                ChatMessage::tool_result("call_1", "booked"),
            ],
            tools: vec![ToolSpec {
                name: "book_slot".into(),
                description: "Book a slot".into(),
                parameters: json!({"type":"object","properties":{"time":{"type":"string"}},"required":["time"]}),
            }],
            temperature: Some(0.7),
            max_tokens: Some(300),
        };
        let body = serde_json::to_value(ChatBody::new(&request, "gpt-4o-mini").unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o-mini",
                "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [
                    {"role": "system", "content": "You are a receptionist."},
                    {"role": "user", "content": "Book me for 3pm"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "book_slot", "arguments": "{\"time\":\"15:00\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "booked"}
                ],
                "tools": [{"type": "function", "function": {
                    "name": "book_slot", "description": "Book a slot",
                    "parameters": {"type":"object","properties":{"time":{"type":"string"}},"required":["time"]}
                }}],
                "temperature": 0.7,
                "max_completion_tokens": 300
            })
        );
    }

    #[test]
    fn no_tools_no_tools_key_and_tool_messages_need_their_call() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::text(ChatRole::User, "hi")],
            tools: vec![],
            temperature: None,
            max_tokens: None,
        };
        let body = serde_json::to_value(ChatBody::new(&request, "m").unwrap()).unwrap();
        assert!(body.get("tools").is_none());
        assert!(body.get("temperature").is_none());

        let orphan = ChatRequest {
            messages: vec![ChatMessage {
                tool_call_id: None,
                ..ChatMessage::tool_result("x", "y")
            }],
            ..request.clone()
        };
        assert!(matches!(
            ChatBody::new(&orphan, "m"),
            Err(LlmError::Rejected(_))
        ));
        let empty = ChatRequest {
            messages: vec![],
            ..request
        };
        assert!(matches!(
            ChatBody::new(&empty, "m"),
            Err(LlmError::Rejected(_))
        ));
    }
}
