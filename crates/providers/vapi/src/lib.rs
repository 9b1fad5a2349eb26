//! Vapi's server messages ("Server URL" webhooks, PROVIDERS.md §7): [`parse`] turns the JSON
//! Vapi posts into a [`ServerMessage`], reading both the current and the 2024 (legacy) shapes,
//! and the `*_answer` functions shape the JSON Vapi expects back. Vapi's JSON never leaves this
//! crate: the app sees plain values.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// Why a body is not a server message.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON (the app answers 400).
    #[error("the body is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// JSON without `message.type` (the app answers 422).
    #[error("message.type is missing")]
    MissingType,
}

/// One message from Vapi, reduced to what Switchboard acts on.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// Vapi asks which assistant answers a call.
    AssistantRequest { call_id: Option<String> },
    /// The assistant calls tools (current form); the answer lists one result per call.
    ToolCalls(Vec<ToolCall>),
    /// The assistant calls one function (legacy form); the answer is one `result`.
    FunctionCall(ToolCall),
    /// A call changed status.
    StatusUpdate {
        call_id: Option<String>,
        status: Option<String>,
    },
    /// A call ended; the report carries its transcript and recording.
    EndOfCallReport(Box<EndOfCallReport>),
    /// Any other type, named; Vapi only needs a 2xx.
    Other(String),
}

/// One tool or function call, its arguments always an object.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// Vapi's id of the call, echoed in the result (empty in the legacy form).
    pub id: String,
    pub name: String,
    pub arguments: Map<String, Value>,
}

impl ToolCall {
    /// A string argument, trimmed; `None` when absent, empty or not a string.
    #[must_use]
    pub fn text_argument(&self, name: &str) -> Option<&str> {
        self.arguments
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// Who said a transcript line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Assistant,
    User,
}

/// One spoken line of an ended call.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub role: Role,
    pub text: String,
    pub at: Option<DateTime<Utc>>,
}

/// What an `end-of-call-report` says about the call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndOfCallReport {
    /// Vapi's call id (`call.id`): the key that makes a repeated report store one call.
    pub call_id: Option<String>,
    pub ended_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cost: Option<f64>,
    pub summary: Option<String>,
    pub recording_url: Option<String>,
    /// The caller's number (`customer.number` or `call.customer.number`).
    pub customer_number: Option<String>,
    /// `inbound` or `outbound` when `call.type` says so.
    pub direction: Option<&'static str>,
    /// Spoken lines only: system prompts and tool traffic are left out.
    pub lines: Vec<Line>,
}

impl EndOfCallReport {
    /// Whole seconds between start and end, when both are known and in order.
    #[must_use]
    pub fn duration_secs(&self) -> Option<i64> {
        match (self.started_at, self.ended_at) {
            (Some(start), Some(end)) if end >= start => Some((end - start).num_seconds()),
            _ => None,
        }
    }
}

/// Reads one server message.
///
/// # Errors
/// `NotJson` for a body that is not JSON; `MissingType` when `message.type` is absent or not a
/// string.
pub fn parse(body: &[u8]) -> Result<ServerMessage, ParseError> {
    let value: Value = serde_json::from_slice(body)?;
    let message = value.get("message").unwrap_or(&Value::Null);
    let kind = message
        .get("type")
        .and_then(Value::as_str)
        .ok_or(ParseError::MissingType)?;
    let call_id = || text(message, &["call", "id"]);
    Ok(match kind {
        "assistant-request" => ServerMessage::AssistantRequest { call_id: call_id() },
        "tool-calls" => ServerMessage::ToolCalls(tool_calls(message)),
        "function-call" => ServerMessage::FunctionCall(
            message
                .get("functionCall")
                .map(|f| tool_call(f, ""))
                .unwrap_or_else(|| ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: Map::new(),
                }),
        ),
        "status-update" => ServerMessage::StatusUpdate {
            call_id: call_id(),
            status: text(message, &["status"]),
        },
        "end-of-call-report" => ServerMessage::EndOfCallReport(Box::new(report(message))),
        other => ServerMessage::Other(other.to_owned()),
    })
}

/// The string at `path`, trimmed, when present and not empty.
fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(ToOwned::to_owned)
}

fn time(value: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    text(value, path)
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// `toolCallList`, else the `toolCall`s of `toolWithToolCallList`.
fn tool_calls(message: &Value) -> Vec<ToolCall> {
    let listed = message.get("toolCallList").and_then(Value::as_array);
    let items: Vec<&Value> = match listed {
        Some(list) if !list.is_empty() => list.iter().collect(),
        _ => message
            .get("toolWithToolCallList")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|t| t.get("toolCall")).collect())
            .unwrap_or_default(),
    };
    items.into_iter().map(|item| tool_call(item, "")).collect()
}

/// One call in any of the documented forms: `{id, function: {name, arguments}}`, or flattened
/// `{id, name, arguments|parameters}`; arguments as a JSON string or an object.
fn tool_call(item: &Value, default_id: &str) -> ToolCall {
    let function = item.get("function").filter(|f| f.is_object());
    let pick = |key: &str| function.and_then(|f| f.get(key)).or_else(|| item.get(key));
    let name = pick("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let raw = pick("arguments").or_else(|| pick("parameters"));
    let arguments = match raw {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    ToolCall {
        id: text(item, &["id"]).unwrap_or_else(|| default_id.to_owned()),
        name,
        arguments,
    }
}

/// Reads the top level first (the legacy shape), then `artifact.*`, `analysis.*` and `call.*`.
fn report(message: &Value) -> EndOfCallReport {
    let recording_url = text(message, &["recordingUrl"])
        .or_else(|| text(message, &["artifact", "recordingUrl"]))
        .or_else(|| text(message, &["artifact", "stereoRecordingUrl"]))
        .or_else(|| text(message, &["artifact", "recording", "stereoUrl"]))
        .or_else(|| text(message, &["call", "recordingUrl"]));
    let messages = message
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .or_else(|| {
            message
                .get("artifact")
                .and_then(|a| a.get("messages"))
                .and_then(Value::as_array)
        });
    let lines = messages
        .map(|list| list.iter().filter_map(line).collect())
        .unwrap_or_default();
    let direction = match text(message, &["call", "type"]).as_deref() {
        Some("inboundPhoneCall") => Some("inbound"),
        Some("outboundPhoneCall") => Some("outbound"),
        _ => None,
    };
    EndOfCallReport {
        call_id: text(message, &["call", "id"]),
        ended_reason: text(message, &["endedReason"])
            .or_else(|| text(message, &["call", "endedReason"])),
        started_at: time(message, &["startedAt"]).or_else(|| time(message, &["call", "startedAt"])),
        ended_at: time(message, &["endedAt"]).or_else(|| time(message, &["call", "endedAt"])),
        cost: message
            .get("cost")
            .or_else(|| message.get("call").and_then(|c| c.get("cost")))
            .and_then(Value::as_f64),
        summary: text(message, &["summary"]).or_else(|| text(message, &["analysis", "summary"])),
        recording_url,
        customer_number: text(message, &["customer", "number"])
            .or_else(|| text(message, &["call", "customer", "number"])),
        direction,
        lines,
    }
}

/// A spoken line; system prompts, tool calls and tool results are not.
fn line(item: &Value) -> Option<Line> {
    let role = match item.get("role").and_then(Value::as_str)? {
        "bot" | "assistant" => Role::Assistant,
        "user" => Role::User,
        _ => return None,
    };
    let text = text(item, &["message"]).or_else(|| text(item, &["content"]))?;
    let at = item
        .get("time")
        .and_then(Value::as_f64)
        .and_then(|ms| DateTime::from_timestamp_millis(ms as i64));
    Some(Line { role, text, at })
}

/// The assistant Vapi should run, built from an agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Assistant {
    pub name: String,
    pub first_message: Option<String>,
    pub system_prompt: String,
    pub model_provider: String,
    pub model: String,
    pub temperature: f64,
    pub max_tokens: u32,
    pub voice_provider: String,
    pub voice_id: String,
    pub transcriber_provider: String,
    pub transcriber_model: String,
    pub language: String,
}

/// The name of the knowledge-base tool every assistant is given.
pub const SEARCH_KNOWLEDGE_BASE: &str = "search_knowledge_base";

/// `{"assistant": {...}}`: a transient assistant, with the knowledge-base search as a tool.
#[must_use]
pub fn assistant_answer(assistant: &Assistant) -> Value {
    let mut body = json!({
        "name": assistant.name,
        "model": {
            "provider": assistant.model_provider,
            "model": assistant.model,
            "messages": [{"role": "system", "content": assistant.system_prompt}],
            "temperature": assistant.temperature,
            "maxTokens": assistant.max_tokens,
            "tools": [{
                "type": "function",
                "function": {
                    "name": SEARCH_KNOWLEDGE_BASE,
                    "description": "Search the company's knowledge base for facts to answer the caller.",
                    "parameters": {
                        "type": "object",
                        "properties": {"query": {"type": "string", "description": "What to look up"}},
                        "required": ["query"],
                    },
                },
            }],
        },
        "voice": {"provider": assistant.voice_provider, "voiceId": assistant.voice_id},
        "transcriber": {
            "provider": assistant.transcriber_provider,
            "model": assistant.transcriber_model,
            "language": assistant.language,
        },
    });
    if let (Some(first), Some(object)) = (&assistant.first_message, body.as_object_mut()) {
        object.insert("firstMessage".to_owned(), json!(first));
    }
    json!({ "assistant": body })
}

/// `{"error": "..."}`: Vapi speaks the text to the caller and ends the call.
#[must_use]
pub fn error_answer(spoken: &str) -> Value {
    json!({ "error": spoken })
}

/// The outcome of one tool call: a result, or an error.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    pub tool_call_id: String,
    pub name: String,
    pub outcome: Result<String, String>,
}

/// `{"results": [{"name", "toolCallId", "result" | "error"}]}`.
#[must_use]
pub fn tool_calls_answer(results: &[ToolResult]) -> Value {
    let results: Vec<Value> = results
        .iter()
        .map(|r| match &r.outcome {
            Ok(result) => json!({"name": r.name, "toolCallId": r.tool_call_id, "result": result}),
            Err(error) => json!({"name": r.name, "toolCallId": r.tool_call_id, "error": error}),
        })
        .collect();
    json!({ "results": results })
}

/// The legacy `function-call` answer: `{"result": "..."}`.
#[must_use]
pub fn function_call_answer(result: &str) -> Value {
    json!({ "result": result })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: Value) -> ServerMessage {
        parse(value.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tool_call_arguments_are_read_in_every_form() {
        let message = parsed(json!({"message": {"type": "tool-calls", "toolCallList": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"query\":\"x\"}"}},
            {"id": "b", "function": {"name": "f", "arguments": {"query": "y"}}},
            {"id": "c", "name": "f", "parameters": {"query": "z"}},
        ]}}));
        let ServerMessage::ToolCalls(calls) = message else {
            panic!("not tool calls: {message:?}")
        };
        let queries: Vec<_> = calls.iter().map(|c| c.text_argument("query")).collect();
        assert_eq!(queries, [Some("x"), Some("y"), Some("z")]);
        assert_eq!(calls[2].id, "c");
    }

    #[test]
    fn tool_with_tool_call_list_is_the_fallback() {
        let message = parsed(
            json!({"message": {"type": "tool-calls", "toolWithToolCallList": [
                {"type": "function", "toolCall": {"id": "q", "function": {"name": "f", "arguments": "{}"}}},
            ]}}),
        );
        assert_eq!(
            message,
            ServerMessage::ToolCalls(vec![ToolCall {
                id: "q".into(),
                name: "f".into(),
                arguments: Map::new()
            }])
        );
    }

    #[test]
    fn a_report_prefers_the_top_level_and_keeps_spoken_lines() {
        let ServerMessage::EndOfCallReport(report) = parsed(json!({"message": {
            "type": "end-of-call-report", "endedReason": "customer-ended-call",
            "startedAt": "2025-06-01T10:00:00.000Z", "endedAt": "2025-06-01T10:04:12.000Z",
            "recordingUrl": "https://top/rec.wav",
            "call": {"id": "v1", "type": "outboundPhoneCall"},
            "artifact": {"recordingUrl": "https://artifact/rec.wav", "messages": [
                {"role": "system", "message": "You are"},
                {"role": "bot", "message": "Hi", "time": 1_717_000_001_000_i64},
                {"role": "tool_calls", "message": ""},
                {"role": "user", "message": "Hello"},
            ]},
            "analysis": {"summary": "short"}}}))
        else {
            panic!("not a report")
        };
        assert_eq!(report.recording_url.as_deref(), Some("https://top/rec.wav"));
        assert_eq!(report.duration_secs(), Some(252));
        assert_eq!(report.summary.as_deref(), Some("short"));
        assert_eq!(report.direction, Some("outbound"));
        let roles: Vec<_> = report.lines.iter().map(|l| l.role).collect();
        assert_eq!(roles, [Role::Assistant, Role::User]);
        assert!(report.lines[0].at.is_some());
    }

    #[test]
    fn bad_bodies_are_told_apart() {
        assert!(matches!(parse(b"{"), Err(ParseError::NotJson(_))));
        assert!(matches!(
            parse(b"{\"message\":{}}"),
            Err(ParseError::MissingType)
        ));
        assert_eq!(
            parsed(json!({"message": {"type": "hang"}})),
            ServerMessage::Other("hang".into())
        );
    }
}
