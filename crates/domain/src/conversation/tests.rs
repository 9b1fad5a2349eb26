//! The engine with a scripted model: openings, the tool loop and its bound, knowledge, custom
//! tools, ending rules, flows without a model, and failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::*;
use crate::agent::{AgentConfig, AgentInput, HttpTool, HttpToolInput, ToolInput};
use crate::ids::{AgentId, OrganizationId};
use crate::knowledge::{ChunkId, DocumentId, KnowledgeError, KnowledgeSearch, SearchHit};
use crate::ports::{
    ChatEvent, ChatRequest, ChatRole, ChatStream, Clock, FinishReason, LanguageModel, LlmError,
    ToolCall,
};

enum Script {
    Events(Vec<ChatEvent>),
    Fail,
}

#[derive(Default)]
struct ScriptedModel {
    scripts: Mutex<VecDeque<Script>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl ScriptedModel {
    fn says(self, text: &str) -> Self {
        let words: Vec<ChatEvent> = text
            .split_inclusive(' ')
            .map(|w| ChatEvent::Token(w.to_owned()))
            .chain([ChatEvent::Finished(FinishReason::Stop)])
            .collect();
        self.push(Script::Events(words))
    }

    fn calls(self, name: &str, arguments: serde_json::Value) -> Self {
        self.push(Script::Events(vec![
            ChatEvent::ToolCall(ToolCall {
                id: format!("call_{name}"),
                name: name.to_owned(),
                arguments: arguments.to_string(),
            }),
            ChatEvent::Finished(FinishReason::ToolCalls),
        ]))
    }

    fn fails(self) -> Self {
        self.push(Script::Fail)
    }

    fn push(self, script: Script) -> Self {
        self.scripts.lock().unwrap().push_back(script);
        self
    }

    fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait]
impl LanguageModel for ScriptedModel {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        self.requests.lock().unwrap().push(request);
        match self.scripts.lock().unwrap().pop_front() {
            Some(Script::Events(events)) => Ok(Box::pin(futures_util::stream::iter(
                events.into_iter().map(Ok),
            ))),
            Some(Script::Fail) => Err(LlmError::Unavailable("scripted failure".into())),
            // An unscripted request keeps asking for a tool, to test the loop bound.
            None => Ok(Box::pin(futures_util::stream::iter(vec![
                Ok(ChatEvent::ToolCall(ToolCall {
                    id: "again".into(),
                    name: "search_knowledge_base".into(),
                    arguments: "{\"query\":\"more\"}".into(),
                })),
                Ok(ChatEvent::Finished(FinishReason::ToolCalls)),
            ]))),
        }
    }
}

struct Knowledge(Vec<SearchHit>);

#[async_trait]
impl KnowledgeSearch for Knowledge {
    async fn search(
        &self,
        _organization: OrganizationId,
        _query: &str,
        _agent: Option<AgentId>,
        _top_k: usize,
    ) -> Result<Vec<SearchHit>, KnowledgeError> {
        Ok(self.0.clone())
    }
}

#[derive(Default)]
struct Tools {
    calls: Mutex<Vec<(String, serde_json::Value)>>,
    fail: bool,
}

#[async_trait]
impl ToolInvoker for Tools {
    async fn invoke(
        &self,
        tool: &HttpTool,
        arguments: &serde_json::Value,
    ) -> Result<String, ToolError> {
        self.calls
            .lock()
            .unwrap()
            .push((tool.name.clone(), arguments.clone()));
        if self.fail {
            Err(ToolError::Timeout(tool.timeout_ms))
        } else {
            Ok(json!({"status": "shipped", "eta": "tomorrow"}).to_string())
        }
    }
}

struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn hit(text: &str) -> SearchHit {
    SearchHit {
        document_id: DocumentId::new(),
        document_name: "faq.md".into(),
        chunk_id: ChunkId::new(),
        chunk_index: 0,
        text: text.into(),
        score: 0.9,
    }
}

fn agent(edit: impl FnOnce(&mut AgentInput)) -> AgentConfig {
    let mut input = AgentInput {
        name: Some("Ava".into()),
        ..AgentInput::default()
    };
    edit(&mut input);
    input.into_new_config().unwrap()
}

fn context(agent: AgentConfig) -> CallContext {
    CallContext {
        organization_id: OrganizationId::new(),
        organization_name: "Acme".into(),
        time_zone: "UTC".into(),
        agent_id: Some(AgentId::new()),
        agent: Some(agent),
        scenario: None,
        customer_name: Some("John".into()),
        phone_number: None,
        started_at: Utc::now(),
        calendar: None,
    }
}

struct Setup {
    engine: ConversationEngine,
    model: Arc<ScriptedModel>,
    tools: Arc<Tools>,
}

fn setup(
    model: Option<ScriptedModel>,
    knowledge: Vec<SearchHit>,
    tools: Tools,
    now: DateTime<Utc>,
) -> Setup {
    let model = Arc::new(model.unwrap_or_default());
    let tools = Arc::new(tools);
    let engine = ConversationEngine::new(
        Some(model.clone() as Arc<dyn LanguageModel>),
        Arc::new(Knowledge(knowledge)),
        tools.clone(),
        Arc::new(FixedClock(now)),
    );
    Setup {
        engine,
        model,
        tools,
    }
}

fn collect() -> (Arc<Mutex<String>>, impl FnMut(&str) + Send) {
    let heard = Arc::new(Mutex::new(String::new()));
    let sink = {
        let heard = heard.clone();
        move |token: &str| heard.lock().unwrap().push_str(token)
    };
    (heard, sink)
}

#[tokio::test]
async fn the_template_opens_and_the_model_answers_each_turn() {
    let s = setup(
        Some(
            ScriptedModel::default()
                .says("We ship in two days.")
                .says("You're welcome!"),
        ),
        vec![],
        Tools::default(),
        Utc::now(),
    );
    let ctx = context(agent(|a| {
        a.first_message = Some("Hi {customer_name}, this is {agent_name} from {company}.".into())
    }));
    let (heard, mut sink) = collect();
    let (mut state, opening) = s.engine.open(&ctx, &mut sink).await.unwrap();
    assert_eq!(opening.text, "Hi John, this is Ava from Acme.");
    assert_eq!(*heard.lock().unwrap(), opening.text);

    let reply = s
        .engine
        .respond(&ctx, &mut state, "When do you ship?", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.text, "We ship in two days.");
    assert!(!reply.should_end_call);
    let reply = s
        .engine
        .respond(&ctx, &mut state, "Thanks", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.text, "You're welcome!");
    let roles: Vec<ChatRole> = state.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            ChatRole::Assistant,
            ChatRole::User,
            ChatRole::Assistant,
            ChatRole::User,
            ChatRole::Assistant
        ]
    );
    // Each request starts with the system prompt, then the whole dialogue so far.
    let requests = s.model.requests();
    assert_eq!(requests[1].messages[0].role, ChatRole::System);
    assert!(
        requests[1].messages[0]
            .content
            .as_deref()
            .unwrap_or_default()
            .contains("You are Ava, speaking for Acme.")
    );
    assert_eq!(requests[1].messages.len(), 1 + 4);
    assert_eq!(requests[1].model, "gpt-4o-mini");
}

#[tokio::test]
async fn without_a_template_the_model_greets() {
    let s = setup(
        Some(ScriptedModel::default().says("Hello, Acme here!")),
        vec![],
        Tools::default(),
        Utc::now(),
    );
    let (_, reply) = s
        .engine
        .open(&context(agent(|_| {})), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.text, "Hello, Acme here!");
}

#[tokio::test]
async fn an_agent_without_flow_or_model_cannot_open() {
    let engine = ConversationEngine::new(
        None,
        Arc::new(Knowledge(vec![])),
        Arc::new(Tools::default()),
        Arc::new(FixedClock(Utc::now())),
    );
    let err = engine
        .open(&context(agent(|_| {})), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConversationError::NotConfigured {
                setting: "OPENAI_API_KEY"
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn knowledge_reaches_the_prompt_and_the_search_tool_result_reaches_the_model() {
    let model = ScriptedModel::default()
        .calls("search_knowledge_base", json!({"query": "returns"}))
        .says("Returns are free within 30 days.");
    let s = setup(
        Some(model),
        vec![hit("Returns are free within 30 days.")],
        Tools::default(),
        Utc::now(),
    );
    let ctx = context(agent(|a| {
        a.tools = Some(vec![ToolInput::Builtin("search_knowledge_base".into())]);
        a.knowledge_document_ids = Some(vec![DocumentId::new().to_string()]);
    }));
    let mut state = ConversationState::default();
    let reply = s
        .engine
        .respond(&ctx, &mut state, "Can I return it?", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.text, "Returns are free within 30 days.");
    assert_eq!(reply.tools_called, ["search_knowledge_base"]);
    assert_eq!(
        reply.knowledge.len(),
        2,
        "one chunk for the prompt, one from the tool"
    );
    let requests = s.model.requests();
    assert!(
        requests[0].messages[0]
            .content
            .as_deref()
            .unwrap_or_default()
            .contains("[1] (faq.md) Returns are free")
    );
    assert_eq!(requests[0].tools.len(), 1);
    let tool_result = requests[1]
        .messages
        .iter()
        .find(|m| m.role == ChatRole::Tool)
        .expect("tool result sent");
    assert_eq!(
        tool_result.tool_call_id.as_deref(),
        Some("call_search_knowledge_base")
    );
    assert!(
        tool_result
            .content
            .as_deref()
            .unwrap_or_default()
            .contains("Returns are free")
    );
}

fn order_tool() -> ToolInput {
    ToolInput::Http(HttpToolInput {
        name: "check_order".into(),
        description: Some("Order status".into()),
        url: Some("https://shop.example.com/orders".into()),
        parameters: Some(json!({"type": "object", "properties": {"order_id": {"type": "string"}}})),
        timeout_ms: Some(1000),
    })
}

#[tokio::test]
async fn custom_tools_are_called_and_their_failures_reach_the_model() {
    for fail in [false, true] {
        let model = ScriptedModel::default()
            .calls("check_order", json!({"order_id": "A17"}))
            .says("Your order ships tomorrow.");
        let s = setup(
            Some(model),
            vec![],
            Tools {
                fail,
                ..Tools::default()
            },
            Utc::now(),
        );
        let ctx = context(agent(|a| a.tools = Some(vec![order_tool()])));
        let mut state = ConversationState::default();
        let reply = s
            .engine
            .respond(&ctx, &mut state, "Where is order A17?", &mut |_| {})
            .await
            .unwrap();
        assert_eq!(reply.text, "Your order ships tomorrow.");
        assert_eq!(
            *s.tools.calls.lock().unwrap(),
            [("check_order".to_owned(), json!({"order_id": "A17"}))]
        );
        let requests = s.model.requests();
        let result = requests[1]
            .messages
            .iter()
            .find(|m| m.role == ChatRole::Tool)
            .and_then(|m| m.content.clone())
            .unwrap_or_default();
        if fail {
            assert!(result.starts_with("error:"), "{result}");
        } else {
            assert!(result.contains("shipped"), "{result}");
        }
    }
}

#[tokio::test]
async fn the_tool_loop_is_bounded() {
    let s = setup(
        Some(ScriptedModel::default()),
        vec![],
        Tools::default(),
        Utc::now(),
    );
    let ctx = context(agent(|a| {
        a.tools = Some(vec![ToolInput::Builtin("search_knowledge_base".into())])
    }));
    let mut state = ConversationState::default();
    s.engine
        .respond(&ctx, &mut state, "Tell me everything", &mut |_| {})
        .await
        .unwrap();
    let requests = s.model.requests();
    assert_eq!(requests.len(), MAX_TOOL_ROUNDS + 1);
    assert!(
        requests[..MAX_TOOL_ROUNDS]
            .iter()
            .all(|r| !r.tools.is_empty())
    );
    assert!(
        requests[MAX_TOOL_ROUNDS].tools.is_empty(),
        "the last round must answer in words"
    );
}

#[tokio::test]
async fn end_call_ends_and_a_later_turn_is_refused() {
    let model = ScriptedModel::default().push(Script::Events(vec![
        ChatEvent::Token("Goodbye, John!".into()),
        ChatEvent::ToolCall(ToolCall {
            id: "c1".into(),
            name: "end_call".into(),
            arguments: "{}".into(),
        }),
        ChatEvent::Finished(FinishReason::ToolCalls),
    ]));
    let s = setup(Some(model), vec![], Tools::default(), Utc::now());
    let ctx = context(agent(|a| {
        a.tools = Some(vec![ToolInput::Builtin("end_call".into())])
    }));
    let mut state = ConversationState::default();
    let reply = s
        .engine
        .respond(&ctx, &mut state, "That's all", &mut |_| {})
        .await
        .unwrap();
    assert!(reply.should_end_call);
    assert_eq!(reply.end_reason, Some(EndReason::AgentEnded));
    assert_eq!(reply.text, "Goodbye, John!");
    assert_eq!(
        s.model.requests().len(),
        1,
        "no second round after the goodbye"
    );
    let err = s
        .engine
        .respond(&ctx, &mut state, "Wait", &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ConversationError::Ended));
}

#[tokio::test]
async fn end_phrases_and_the_duration_limit_end_the_call() {
    let s = setup(
        Some(ScriptedModel::default().says("Bye now.")),
        vec![],
        Tools::default(),
        Utc::now(),
    );
    let ctx = context(agent(|a| {
        a.end_call_phrases = Some(vec!["talk soon".into()])
    }));
    let mut state = ConversationState::default();
    let reply = s
        .engine
        .respond(&ctx, &mut state, "OK, talk soon!", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.end_reason, Some(EndReason::EndPhrase));

    let late = Utc::now() + Duration::minutes(31);
    let s = setup(
        Some(ScriptedModel::default().says("Sure.")),
        vec![],
        Tools::default(),
        late,
    );
    let mut state = ConversationState::default();
    let reply = s
        .engine
        .respond(&context(agent(|_| {})), &mut state, "Hello?", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.end_reason, Some(EndReason::MaxDuration));
}

#[tokio::test]
async fn a_flow_runs_without_a_model() {
    let flow = json!({
        "nodes": [
            {"id": "greet", "type": "message", "start": true, "data": {"text": "Hi {customer_name}!"}},
            {"id": "ask", "type": "question", "data": {"text": "Do you want a demo?"}},
            {"id": "yes", "type": "end", "data": {"text": "Great, we'll email you."}},
            {"id": "no", "type": "end", "data": {"text": "No problem, bye."}}
        ],
        "edges": [
            {"id": "e1", "source": "greet", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "yes", "condition": {"type": "keywords", "any": ["yes", "sure"]}},
            {"id": "e3", "source": "ask", "target": "no", "condition": {"type": "else"}}
        ]
    });
    let engine = ConversationEngine::new(
        None,
        Arc::new(Knowledge(vec![])),
        Arc::new(Tools::default()),
        Arc::new(FixedClock(Utc::now())),
    );
    let ctx = context(agent(|a| a.call_flow = Some(flow)));
    let (mut state, opening) = engine.open(&ctx, &mut |_| {}).await.unwrap();
    assert_eq!(opening.text, "Hi John! Do you want a demo?");
    let reply = engine
        .respond(&ctx, &mut state, "Sure, why not", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.text, "Great, we'll email you.");
    assert!(reply.should_end_call);
    assert_eq!(reply.end_reason, Some(EndReason::FlowEnded));
}

#[tokio::test]
async fn a_model_failure_keeps_the_callers_words_and_the_call_goes_on() {
    let s = setup(
        Some(ScriptedModel::default().fails().says("Sorry, go on.")),
        vec![],
        Tools::default(),
        Utc::now(),
    );
    let ctx = context(agent(|_| {}));
    let mut state = ConversationState::default();
    let err = s
        .engine
        .respond(&ctx, &mut state, "First question", &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ConversationError::Model(LlmError::Unavailable(_))
    ));
    assert_eq!(
        state.messages.last().and_then(|m| m.content.as_deref()),
        Some("First question")
    );
    assert!(state.ended.is_none());
    let reply = s
        .engine
        .respond(&ctx, &mut state, "Hello again", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.text, "Sorry, go on.");
    assert!(matches!(
        s.engine.respond(&ctx, &mut state, "   ", &mut |_| {}).await,
        Err(ConversationError::EmptyMessage)
    ));
}

#[tokio::test]
async fn streamed_replies_report_tool_calls_between_their_tokens() {
    // The model speaks, asks for the tool in the same round, then answers.
    let model = ScriptedModel::default()
        .push(Script::Events(vec![
            ChatEvent::Token("Let me check. ".into()),
            ChatEvent::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "check_order".into(),
                arguments: json!({"order_id": "A17"}).to_string(),
            }),
            ChatEvent::Finished(FinishReason::ToolCalls),
        ]))
        .says("It ships tomorrow.");
    let s = setup(Some(model), vec![], Tools::default(), Utc::now());
    let ctx = context(agent(|a| a.tools = Some(vec![order_tool()])));
    let mut state = ConversationState::default();
    let mut events: Vec<String> = Vec::new();
    let mut sink = |event: ReplyEvent<'_>| {
        events.push(match event {
            ReplyEvent::Token(text) => format!("token {text:?}"),
            ReplyEvent::ToolStarted { name } => format!("started {name}"),
            ReplyEvent::ToolFinished { name } => format!("finished {name}"),
        });
    };
    let reply = s
        .engine
        .respond_streamed(&ctx, &mut state, "Where is order A17?", &mut sink)
        .await
        .unwrap();
    assert_eq!(reply.tools_called, ["check_order"]);
    let tools: Vec<&String> = events.iter().filter(|e| !e.starts_with("token")).collect();
    assert_eq!(tools, ["started check_order", "finished check_order"]);
    let started = events
        .iter()
        .position(|e| e == "started check_order")
        .unwrap();
    let finished = events
        .iter()
        .position(|e| e == "finished check_order")
        .unwrap();
    assert_eq!(finished, started + 1, "the tool ran between the two rounds");
    assert!(events[..started].iter().all(|e| e.starts_with("token")));
    assert!(events[finished + 1..].iter().any(|e| e.contains("ships")));
}

#[tokio::test]
async fn flow_tool_nodes_report_their_calls_too() {
    let flow = json!({
        "nodes": [
            {"id": "look", "type": "tool", "start": true,
             "data": {"tool": "check_order", "arguments": {"order_id": "A17"}, "say": "One moment."}},
            {"id": "bye", "type": "end", "data": {"text": "Done."}}
        ],
        "edges": [{"id": "e1", "source": "look", "target": "bye"}]
    });
    let s = setup(None, vec![], Tools::default(), Utc::now());
    let ctx = context(agent(|a| {
        a.tools = Some(vec![order_tool()]);
        a.call_flow = Some(flow);
    }));
    let mut events: Vec<String> = Vec::new();
    let mut sink = |event: ReplyEvent<'_>| {
        if let ReplyEvent::ToolStarted { name } | ReplyEvent::ToolFinished { name } = event {
            events.push(name.to_owned());
        }
    };
    let (_, opening) = s.engine.open_streamed(&ctx, &mut sink).await.unwrap();
    assert_eq!(opening.tools_called, ["check_order"]);
    assert_eq!(events, ["check_order", "check_order"]);
}

#[tokio::test]
async fn keypad_entries_step_the_flow_and_are_kept_as_keypad_text() {
    let flow = json!({
        "nodes": [
            {"id": "menu", "type": "question", "start": true,
             "data": {"text": "Press 1 for sales or 2 for support."}},
            {"id": "sales", "type": "end", "data": {"text": "Connecting you to sales."}},
            {"id": "other", "type": "end", "data": {"text": "Goodbye."}}
        ],
        "edges": [
            {"id": "e1", "source": "menu", "target": "sales",
             "condition": {"type": "digits", "digits": "1"}},
            {"id": "e2", "source": "menu", "target": "other", "condition": {"type": "else"}}
        ]
    });
    // No model: a flow answers keys on its own.
    let engine = ConversationEngine::new(
        None,
        Arc::new(Knowledge(vec![])),
        Arc::new(Tools::default()),
        Arc::new(FixedClock(Utc::now())),
    );
    let ctx = context(agent(|a| a.call_flow = Some(flow)));
    let (mut state, _) = engine.open(&ctx, &mut |_| {}).await.unwrap();
    let mut heard = String::new();
    let mut sink = |event: ReplyEvent<'_>| {
        if let ReplyEvent::Token(text) = event {
            heard.push_str(text);
        }
    };
    let reply = engine
        .respond_keys(&ctx, &mut state, "1", &mut sink)
        .await
        .unwrap();
    assert_eq!(reply.text, "Connecting you to sales.");
    assert_eq!(heard, reply.text);
    assert_eq!(reply.end_reason, Some(EndReason::FlowEnded));
    assert_eq!(state.caller_turns, 1);
    assert_eq!(state.messages[1].content.as_deref(), Some("[keypad: 1]"));
    assert!(matches!(
        engine
            .respond_keys(&ctx, &mut ConversationState::default(), " ", &mut |_| {})
            .await,
        Err(ConversationError::EmptyMessage)
    ));
}

#[tokio::test]
async fn the_model_sees_keys_as_keypad_text() {
    let s = setup(
        Some(ScriptedModel::default().says("Thanks, I have your code.")),
        vec![],
        Tools::default(),
        Utc::now(),
    );
    let ctx = context(agent(|_| {}));
    let mut state = ConversationState::default();
    let reply = s
        .engine
        .respond_keys(&ctx, &mut state, "4711", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reply.text, "Thanks, I have your code.");
    let request = &s.model.requests()[0];
    assert_eq!(
        request.messages.last().and_then(|m| m.content.as_deref()),
        Some("[keypad: 4711]")
    );
}
