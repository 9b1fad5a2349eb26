//! One streamed chat reply: the body's bytes become server-sent events, the events become
//! OpenAI's completion chunks, and the chunks become the port's [`ChatEvent`]s — tokens as they
//! arrive, tool calls assembled from their fragments, usage, and `Finished` last.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use reqwest::Response;
use serde::Deserialize;
use switchboard_domain::ports::{ChatEvent, ChatStream, FinishReason, ToolCall};
use switchboard_provider_http::ApiKey;
use tokio::time::Instant;
use tracing::debug;

use crate::http::{Failure, reported_error};
use crate::sse::{SseDecoder, SseEvent};

/// More tool calls than this in one reply is not a model asking for tools.
const MAX_TOOL_CALLS: usize = 64;
/// All tool-call arguments of one reply together; they are held until the call is complete.
const MAX_ARGUMENT_BYTES: usize = 1024 * 1024;

/// `chat.completion.chunk`, with only what the adapter reads; every field may be missing or
/// null on some OpenAI-compatible server.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChunkWire {
    choices: Option<Vec<ChoiceWire>>,
    usage: Option<UsageWire>,
    error: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChoiceWire {
    index: u32,
    delta: Option<DeltaWire>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DeltaWire {
    content: Option<String>,
    tool_calls: Option<Vec<ToolCallDeltaWire>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ToolCallDeltaWire {
    index: Option<u32>,
    id: Option<String>,
    function: Option<FunctionDeltaWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FunctionDeltaWire {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UsageWire {
    prompt_tokens: u64,
    completion_tokens: u64,
}

/// A tool call whose fragments are still arriving.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Turns decoded events into [`ChatEvent`]s, holding only what is not yet complete: tool calls
/// in progress and the usage, which OpenAI sends after the finish reason but the port wants
/// before `Finished`.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    ready: VecDeque<ChatEvent>,
    calls: BTreeMap<u32, PartialCall>,
    argument_bytes: usize,
    calls_made: usize,
    usage: Option<(u32, u32)>,
    finish: Option<FinishReason>,
    /// The model has produced something: text, a tool call fragment or a finish reason.
    started: bool,
    done: bool,
}

impl Assembler {
    pub(crate) fn pop(&mut self) -> Option<ChatEvent> {
        self.ready.pop_front()
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// `[DONE]` was seen, or the stream ended after the finish reason.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Takes one server-sent event.
    pub(crate) fn on_event(&mut self, event: &SseEvent) -> Result<(), Failure> {
        if self.done {
            return Ok(());
        }
        let data = event.data.trim();
        if data == "[DONE]" {
            return self.complete();
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: ChunkWire = serde_json::from_str(data).map_err(|e| {
            Failure::Malformed(anyhow::anyhow!(
                "a chunk of the chat stream is not as documented: {e}"
            ))
        })?;
        if let Some(error) = chunk.error.as_ref().filter(|e| !e.is_null()) {
            return Err(Failure::Reported(reported_error(error)));
        }
        if event.event.as_deref() == Some("error") {
            return Err(Failure::Reported(reported_error(&serde_json::Value::Null)));
        }
        // One reply is asked for (`n` is not set), so other choices are not ours to read.
        for choice in chunk.choices.unwrap_or_default() {
            if choice.index != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    self.started = true;
                    self.ready.push_back(ChatEvent::Token(text));
                }
                for fragment in delta.tool_calls.unwrap_or_default() {
                    self.started = true;
                    self.add_fragment(fragment)?;
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.started = true;
                self.flush_calls()?;
                self.finish = Some(finish_reason(&reason));
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some((
                saturate(usage.prompt_tokens),
                saturate(usage.completion_tokens),
            ));
        }
        Ok(())
    }

    /// The body ended. Without `[DONE]` that is fine only once the model said why it stopped.
    pub(crate) fn on_end(&mut self) -> Result<(), Failure> {
        if self.done {
            Ok(())
        } else if self.finish.is_some() {
            self.complete()
        } else {
            Err(Failure::EndedEarly)
        }
    }

    fn add_fragment(&mut self, fragment: ToolCallDeltaWire) -> Result<(), Failure> {
        // Servers that omit `index` send each call whole: a fragment with an id starts a new
        // call, one without continues the last.
        let index = match fragment.index {
            Some(index) => index,
            None => match (
                fragment.id.as_deref().is_some_and(|id| !id.is_empty()),
                self.calls.keys().next_back(),
            ) {
                (false, Some(last)) => *last,
                (_, Some(last)) => last.saturating_add(1),
                (_, None) => 0,
            },
        };
        if !self.calls.contains_key(&index) && self.calls.len() >= MAX_TOOL_CALLS {
            return Err(Failure::Malformed(anyhow::anyhow!(
                "the reply asks for more than {MAX_TOOL_CALLS} tool calls"
            )));
        }
        let call = self.calls.entry(index).or_default();
        if let Some(id) = fragment.id.filter(|id| !id.is_empty()) {
            call.id = id;
        }
        if let Some(function) = fragment.function {
            if let Some(name) = function.name.filter(|n| !n.is_empty()) {
                call.name = name;
            }
            if let Some(arguments) = function.arguments {
                self.argument_bytes += arguments.len();
                if self.argument_bytes > MAX_ARGUMENT_BYTES {
                    return Err(Failure::Malformed(anyhow::anyhow!(
                        "the reply's tool-call arguments exceed {MAX_ARGUMENT_BYTES} bytes"
                    )));
                }
                call.arguments.push_str(&arguments);
            }
        }
        Ok(())
    }

    /// Emits the calls assembled so far, in the order the model made them.
    fn flush_calls(&mut self) -> Result<(), Failure> {
        for (_, call) in std::mem::take(&mut self.calls) {
            if call.name.is_empty() {
                return Err(Failure::Malformed(anyhow::anyhow!(
                    "the model made a tool call without a name"
                )));
            }
            // The port promises non-empty ids; a server that sends none gets one per reply.
            let id = if call.id.is_empty() {
                format!("call_{}", self.calls_made)
            } else {
                call.id
            };
            let arguments = if call.arguments.trim().is_empty() {
                "{}".to_owned()
            } else {
                call.arguments
            };
            self.calls_made += 1;
            self.ready.push_back(ChatEvent::ToolCall(ToolCall {
                id,
                name: call.name,
                arguments,
            }));
        }
        Ok(())
    }

    fn complete(&mut self) -> Result<(), Failure> {
        self.flush_calls()?;
        if let Some((prompt_tokens, completion_tokens)) = self.usage.take() {
            self.ready.push_back(ChatEvent::Usage {
                prompt_tokens,
                completion_tokens,
            });
        }
        let reason = self.finish.take().unwrap_or(if self.calls_made > 0 {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        });
        self.ready.push_back(ChatEvent::Finished(reason));
        self.done = true;
        Ok(())
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        // `function_call` is the deprecated single-function form of the same thing.
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn saturate(tokens: u64) -> u32 {
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

/// A reply being read from its HTTP response. Dropping it drops the response, which closes the
/// connection: nothing keeps reading in the background.
pub(crate) struct Reply {
    response: Response,
    decoder: SseDecoder,
    assembler: Assembler,
    key: ApiKey,
    /// Until the model starts answering, reads wait at most until this instant.
    first_output_deadline: Instant,
    /// Once it has started, the longest silence between two chunks.
    idle_timeout: Duration,
    started_at: Instant,
}

impl Reply {
    pub(crate) fn new(
        response: Response,
        key: ApiKey,
        started_at: Instant,
        first_output_deadline: Instant,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            response,
            decoder: SseDecoder::new(SseDecoder::DEFAULT_LIMIT),
            assembler: Assembler::default(),
            key,
            first_output_deadline,
            idle_timeout,
            started_at,
        }
    }

    /// Reads until an event is ready or the reply is over.
    ///
    /// # Errors
    /// A timeout, a broken connection, a stream that ends early, an error the server reports in
    /// the stream, or a chunk that does not parse.
    pub(crate) async fn fill(&mut self) -> Result<(), Failure> {
        while !self.assembler.has_ready() && !self.assembler.is_done() {
            let read = if self.assembler.started() {
                tokio::time::timeout(self.idle_timeout, self.response.chunk()).await
            } else {
                tokio::time::timeout_at(self.first_output_deadline, self.response.chunk()).await
            };
            let ended = matches!(read, Ok(Ok(None)));
            let events = match read {
                Err(_) => return Err(Failure::Timeout),
                Ok(Err(error)) => return Err(Failure::from_reqwest(&error)),
                Ok(Ok(Some(bytes))) => self.decoder.feed(&bytes),
                Ok(Ok(None)) => self.decoder.finish(),
            }
            .map_err(|e| Failure::Malformed(e.into()))?;
            for event in &events {
                self.assembler.on_event(event).map_err(|f| self.redact(f))?;
            }
            if ended {
                self.assembler.on_end()?;
            }
        }
        Ok(())
    }

    fn redact(&self, failure: Failure) -> Failure {
        match failure {
            Failure::Reported(message) => Failure::Reported(self.key.redact(&message)),
            other => other,
        }
    }

    async fn next(&mut self) -> Option<Result<ChatEvent, Failure>> {
        if let Err(failure) = self.fill().await {
            return Some(Err(failure));
        }
        let event = self.assembler.pop();
        if let Some(ChatEvent::Finished(reason)) = &event {
            debug!(
                finish_reason = ?reason,
                elapsed_ms = u64::try_from(self.started_at.elapsed().as_millis()).unwrap_or(u64::MAX),
                "chat reply finished"
            );
        }
        event.map(Ok)
    }

    /// The reply as the port's stream; it ends after `Finished` or after its first error.
    pub(crate) fn into_stream(self) -> ChatStream {
        Box::pin(futures_util::stream::unfold(
            Some(self),
            |state| async move {
                let mut reply = state?;
                match reply.next().await? {
                    Ok(event) => Some((Ok(event), Some(reply))),
                    Err(failure) => {
                        debug!(failure = ?failure, "chat reply broke off");
                        Some((Err(failure.into_llm_error()), None))
                    }
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn event(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_owned(),
        }
    }

    fn chunk(delta: &str, finish: Option<&str>) -> SseEvent {
        let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
        event(&format!(
            r#"{{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}],"usage":null}}"#
        ))
    }

    fn run(events: &[SseEvent]) -> Result<Vec<ChatEvent>, Failure> {
        let mut assembler = Assembler::default();
        let mut out = Vec::new();
        for e in events {
            assembler.on_event(e)?;
            while let Some(ev) = assembler.pop() {
                out.push(ev);
            }
        }
        assembler.on_end()?;
        while let Some(ev) = assembler.pop() {
            out.push(ev);
        }
        Ok(out)
    }

    const USAGE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":52,"completion_tokens":18,"total_tokens":70,"prompt_tokens_details":{"cached_tokens":0}}}"#;

    #[test]
    fn tokens_usage_then_finished() {
        let events = run(&[
            chunk(r#"{"role":"assistant","content":""}"#, None),
            chunk(r#"{"content":"Sure"}"#, None),
            chunk(r#"{"content":", at 3pm."}"#, None),
            chunk("{}", Some("stop")),
            event(USAGE),
            event("[DONE]"),
        ])
        .unwrap();
        assert_eq!(
            events,
            [
                ChatEvent::Token("Sure".into()),
                ChatEvent::Token(", at 3pm.".into()),
                ChatEvent::Usage {
                    prompt_tokens: 52,
                    completion_tokens: 18
                },
                ChatEvent::Finished(FinishReason::Stop),
            ]
        );
    }

    #[test]
    fn tokens_are_ready_as_soon_as_they_arrive() {
        let mut assembler = Assembler::default();
        assembler
            .on_event(&chunk(r#"{"role":"assistant","content":""}"#, None))
            .unwrap();
        assert!(!assembler.has_ready());
        assert!(!assembler.started());
        assembler
            .on_event(&chunk(r#"{"content":"Hi"}"#, None))
            .unwrap();
        assert!(assembler.started());
        assert_eq!(assembler.pop(), Some(ChatEvent::Token("Hi".into())));
    }

    #[test]
    fn tool_call_fragments_assemble_by_index() {
        let events = run(&[
            chunk(r#"{"role":"assistant","content":null}"#, None),
            chunk(
                r#"{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"book_slot","arguments":""}}]}"#,
                None,
            ),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"time\":"}}]}"#, None),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"\"15:00\"}"}}]}"#, None),
            chunk(
                r#"{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"send_sms","arguments":"{\"to\""}}]}"#,
                None,
            ),
            chunk(r#"{"tool_calls":[{"index":1,"function":{"arguments":":\"+1555\"}"}}]}"#, None),
            chunk("{}", Some("tool_calls")),
            event(USAGE),
            event("[DONE]"),
        ])
        .unwrap();
        assert_eq!(
            events,
            [
                ChatEvent::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "book_slot".into(),
                    arguments: r#"{"time":"15:00"}"#.into()
                }),
                ChatEvent::ToolCall(ToolCall {
                    id: "call_2".into(),
                    name: "send_sms".into(),
                    arguments: r#"{"to":"+1555"}"#.into()
                }),
                ChatEvent::Usage {
                    prompt_tokens: 52,
                    completion_tokens: 18
                },
                ChatEvent::Finished(FinishReason::ToolCalls),
            ]
        );
    }

    #[test]
    fn interleaved_fragments_keep_the_models_order() {
        let events = run(&[
            chunk(r#"{"tool_calls":[{"index":1,"id":"b","function":{"name":"second","arguments":"{"}}]}"#, None),
            chunk(r#"{"tool_calls":[{"index":0,"id":"a","function":{"name":"first","arguments":"{"}}]}"#, None),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"}"}},{"index":1,"function":{"arguments":"}"}}]}"#, None),
            event("[DONE]"),
        ])
        .unwrap();
        let names: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                ChatEvent::ToolCall(call) => Some((call.name.as_str(), call.arguments.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(names, [("first", "{}"), ("second", "{}")]);
        assert_eq!(
            events.last(),
            Some(&ChatEvent::Finished(FinishReason::ToolCalls))
        );
    }

    #[test]
    fn calls_without_ids_or_indexes_still_come_out_whole() {
        let events = run(&[
            chunk(
                r#"{"tool_calls":[{"function":{"name":"a","arguments":"{\"x\":1}"}}]}"#,
                None,
            ),
            chunk(
                r#"{"tool_calls":[{"id":"x","function":{"name":"b"}}]}"#,
                None,
            ),
            chunk("{}", Some("tool_calls")),
        ])
        .unwrap();
        assert_eq!(
            events[..2],
            [
                ChatEvent::ToolCall(ToolCall {
                    id: "call_0".into(),
                    name: "a".into(),
                    arguments: r#"{"x":1}"#.into()
                }),
                ChatEvent::ToolCall(ToolCall {
                    id: "x".into(),
                    name: "b".into(),
                    arguments: "{}".into()
                }),
            ]
        );
    }

    #[test]
    fn a_stream_cut_before_the_finish_is_an_early_end() {
        let result = run(&[chunk(r#"{"content":"Hel"}"#, None)]);
        assert!(matches!(result, Err(Failure::EndedEarly)));
        // After the finish reason the missing `[DONE]` is forgiven.
        let events = run(&[
            chunk(r#"{"content":"Hi"}"#, None),
            chunk("{}", Some("length")),
        ])
        .unwrap();
        assert_eq!(
            events.last(),
            Some(&ChatEvent::Finished(FinishReason::Length))
        );
    }

    #[test]
    fn errors_inside_the_stream_are_reported() {
        let result = run(&[event(
            r#"{"error":{"message":"The server had an error","type":"server_error"}}"#,
        )]);
        match result {
            Err(Failure::Reported(message)) => assert_eq!(message, "The server had an error"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(&[event("{not json")]),
            Err(Failure::Malformed(_))
        ));
    }

    #[test]
    fn nameless_tool_calls_are_malformed() {
        let result = run(&[
            chunk(
                r#"{"tool_calls":[{"index":0,"id":"c","function":{"arguments":"{}"}}]}"#,
                None,
            ),
            event("[DONE]"),
        ]);
        assert!(matches!(result, Err(Failure::Malformed(_))));
    }

    #[test]
    fn tool_calls_are_bounded() {
        let mut assembler = Assembler::default();
        let mut result = Ok(());
        for i in 0..=MAX_TOOL_CALLS {
            result = assembler.on_event(&chunk(
                &format!(
                    r#"{{"tool_calls":[{{"index":{i},"id":"c{i}","function":{{"name":"f"}}}}]}}"#
                ),
                None,
            ));
        }
        assert!(matches!(result, Err(Failure::Malformed(_))));
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason("stop"), FinishReason::Stop);
        assert_eq!(finish_reason("function_call"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("content_filter"), FinishReason::ContentFilter);
        assert_eq!(finish_reason("other"), FinishReason::Other("other".into()));
    }
}
