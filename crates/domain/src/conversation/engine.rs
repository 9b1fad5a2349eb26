//! The brain of a call: opens it (first message), then answers each caller utterance, through
//! the agent's call flow, its language model with tools and knowledge, or both.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::calendar::{self, CalendarContext};
use super::events::{ReplyEvent, ReplySink};
use super::prompt::{PromptParts, system_prompt};
use super::tools::{ToolInvoker, tool_specs};
use crate::agent::{AgentConfig, AgentTool, BuiltinTool};
use crate::flow::{
    Awaiting, CallFlow, FlowAction, FlowState, FlowStep, IntentAnswers, ValidFlow, mentions,
};
use crate::ids::{AgentId, OrganizationId};
use crate::knowledge::{KnowledgeSearch, SearchHit};
use crate::phone_number::E164;
use crate::ports::{
    Calendar, ChatEvent, ChatMessage, ChatRequest, ChatRole, Clock, LanguageModel, LlmError,
    ToolCall, ToolSpec,
};
use crate::scenario::ScenarioSettings;
use crate::template::{TemplateVars, render};

/// Rounds of tool calls one turn may take before the model must answer.
pub const MAX_TOOL_ROUNDS: usize = 5;
/// Caller turns a call may take.
pub const MAX_CALLER_TURNS: u32 = 200;
/// Knowledge chunks put in the prompt for each turn.
const KNOWLEDGE_PER_TURN: usize = 3;
/// Characters of a tool's result the model is shown.
const MAX_TOOL_RESULT_CHARS: usize = 4000;

/// Who and what a call is about.
#[derive(Clone, Debug)]
pub struct CallContext {
    pub organization_id: OrganizationId,
    pub organization_name: String,
    pub time_zone: String,
    pub agent_id: Option<AgentId>,
    pub agent: Option<AgentConfig>,
    pub scenario: Option<ScenarioSettings>,
    pub customer_name: Option<String>,
    pub phone_number: Option<String>,
    pub started_at: DateTime<Utc>,
    /// Set when the call is calendar-aware: the organisation's calendar was connected when it
    /// started, and the call offers calendar tools.
    pub calendar: Option<CalendarContext>,
}

/// The built-in calendar tools, which scenario calls (no agent to configure tools) are offered
/// while a calendar is connected.
pub const CALENDAR_TOOLS: [BuiltinTool; 2] =
    [BuiltinTool::CheckAvailability, BuiltinTool::BookAppointment];

/// Whether a call with this agent (or, without one, a scenario) would use a connected calendar:
/// the agent lists a calendar tool, or the call runs a scenario (which has no tool list of its
/// own).
#[must_use]
pub fn wants_calendar(agent: Option<&AgentConfig>, has_scenario: bool) -> bool {
    match agent {
        Some(agent) => agent
            .tools
            .iter()
            .any(|tool| matches!(tool, AgentTool::Builtin { name } if name.needs_calendar())),
        None => has_scenario,
    }
}

impl CallContext {
    /// Whether the call would use a connected calendar: its agent lists a calendar tool, or it
    /// runs a scenario (which has no tool list of its own).
    #[must_use]
    pub fn wants_calendar(&self) -> bool {
        wants_calendar(self.agent.as_ref(), self.scenario.is_some())
    }

    /// The tools the model is offered: the agent's, without calendar tools unless the call is
    /// calendar-aware; a calendar-aware scenario call is offered the calendar tools.
    fn tool_specs(&self) -> Vec<ToolSpec> {
        let calendar_aware = self.calendar.is_some();
        let tools: Vec<AgentTool> = match &self.agent {
            Some(agent) => agent
                .tools
                .iter()
                .filter(|tool| {
                    calendar_aware
                        || !matches!(tool, AgentTool::Builtin { name } if name.needs_calendar())
                })
                .cloned()
                .collect(),
            None if calendar_aware => CALENDAR_TOOLS
                .iter()
                .map(|name| AgentTool::Builtin { name: *name })
                .collect(),
            None => Vec::new(),
        };
        tool_specs(&tools)
    }

    fn vars(&self) -> TemplateVars {
        let mut vars = TemplateVars::new();
        vars.set("company", self.organization_name.clone());
        if let Some(agent) = &self.agent {
            vars.set("agent_name", agent.name.clone());
        }
        if let Some(name) = &self.customer_name {
            vars.set("customer_name", name.clone());
        }
        if let Some(number) = &self.phone_number {
            vars.set("phone_number", number.clone());
        }
        vars
    }
}

/// Why a call ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The model called `end_call`.
    AgentEnded,
    /// The call flow reached an end node.
    FlowEnded,
    /// The caller or the agent said an end-call phrase.
    EndPhrase,
    MaxDuration,
    MaxTurns,
    Transferred,
}

impl EndReason {
    /// The stored and displayed name.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::AgentEnded => "agent_ended",
            Self::FlowEnded => "flow_ended",
            Self::EndPhrase => "end_phrase",
            Self::MaxDuration => "max_duration",
            Self::MaxTurns => "max_turns",
            Self::Transferred => "transferred",
        }
    }
}

/// What a conversation remembers between turns; stored with the call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationState {
    /// The dialogue without the system prompt, which is composed afresh each turn.
    pub messages: Vec<ChatMessage>,
    pub flow: Option<FlowState>,
    pub caller_turns: u32,
    pub ended: Option<EndReason>,
    /// The number the call is to be handed to, once the agent or the flow decided to transfer
    /// it; the channel carries the transfer out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_to: Option<String>,
}

/// The agent's answer to one turn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    pub text: String,
    pub should_end_call: bool,
    pub end_reason: Option<EndReason>,
    /// Knowledge put before the model this turn.
    pub knowledge: Vec<SearchHit>,
    /// Names of the tools called this turn, in order.
    pub tools_called: Vec<String>,
    /// A number the call should be transferred to.
    pub transfer_to: Option<String>,
}

/// Why a turn could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("the call has ended")]
    Ended,
    #[error("the message is empty")]
    EmptyMessage,
    /// The agent needs a language model and none is configured.
    #[error("this agent needs a language model: set {setting}, or give the agent a call flow")]
    NotConfigured { setting: &'static str },
    #[error(transparent)]
    Model(#[from] LlmError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What the caller gave in one turn.
#[derive(Clone, Copy)]
enum CallerInput<'a> {
    Speech(&'a str),
    Keys(&'a str),
}

/// How keys the caller entered on the keypad appear in the conversation's history and
/// transcript: `[keypad: 123]`.
#[must_use]
pub fn keypad_text(keys: &str) -> String {
    format!("[keypad: {keys}]")
}

/// Receives the reply's text as it is produced, so speech can start before the reply is done.
pub type TokenSink<'a> = &'a mut (dyn FnMut(&str) + Send);

/// Runs conversations.
#[derive(Clone)]
pub struct ConversationEngine {
    model: Option<Arc<dyn LanguageModel>>,
    knowledge: Arc<dyn KnowledgeSearch>,
    tools: Arc<dyn ToolInvoker>,
    clock: Arc<dyn Clock>,
    /// The organisations' calendars, when a calendar provider is configured.
    calendar: Option<Arc<dyn Calendar>>,
}

/// The setting that configures the language model, named in errors.
const MODEL_SETTING: &str = "OPENAI_API_KEY";

fn flow_of(context: &CallContext) -> Result<Option<ValidFlow>, ConversationError> {
    let Some(json) = context.agent.as_ref().and_then(|a| a.call_flow.clone()) else {
        return Ok(None);
    };
    let flow: CallFlow = serde_json::from_value(json)
        .map_err(|e| anyhow::anyhow!("the stored call flow does not parse: {e}"))?;
    flow.validate().map(Some).map_err(|e| {
        ConversationError::Unexpected(anyhow::anyhow!("the stored call flow is invalid: {e}"))
    })
}

fn joined(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl ConversationEngine {
    /// An engine; without a model, only agents with a call flow can talk.
    #[must_use]
    pub fn new(
        model: Option<Arc<dyn LanguageModel>>,
        knowledge: Arc<dyn KnowledgeSearch>,
        tools: Arc<dyn ToolInvoker>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            model,
            knowledge,
            tools,
            clock,
            calendar: None,
        }
    }

    /// The same engine, booking calendar-aware calls' appointments through `calendar`.
    #[must_use]
    pub fn with_calendar(mut self, calendar: Arc<dyn Calendar>) -> Self {
        self.calendar = Some(calendar);
        self
    }

    /// Whether a language model is configured.
    #[must_use]
    pub fn has_model(&self) -> bool {
        self.model.is_some()
    }

    fn model(&self) -> Result<&Arc<dyn LanguageModel>, ConversationError> {
        self.model.as_ref().ok_or(ConversationError::NotConfigured {
            setting: MODEL_SETTING,
        })
    }

    /// Opens a call: the first message comes from the call flow, else the agent's template, else
    /// the model.
    ///
    /// # Errors
    /// `NotConfigured` for an agent with neither a flow nor a model; `Model` when the model fails.
    pub async fn open(
        &self,
        context: &CallContext,
        on_token: TokenSink<'_>,
    ) -> Result<(ConversationState, Reply), ConversationError> {
        self.open_streamed(context, &mut tokens_only(on_token))
            .await
    }

    /// [`ConversationEngine::open`], streaming every [`ReplyEvent`] (tool calls too) to `sink`.
    ///
    /// # Errors
    /// As [`ConversationEngine::open`].
    pub async fn open_streamed(
        &self,
        context: &CallContext,
        sink: ReplySink<'_>,
    ) -> Result<(ConversationState, Reply), ConversationError> {
        let mut state = ConversationState::default();
        let flow = flow_of(context)?;
        if flow.is_none() && self.model.is_none() {
            return Err(ConversationError::NotConfigured {
                setting: MODEL_SETTING,
            });
        }
        let mut reply = Reply::default();
        if let Some(flow) = &flow {
            let step = flow.start(&context.vars());
            self.follow_flow(context, &mut state, step, &mut reply, sink)
                .await?;
        } else if let Some(template) = context
            .agent
            .as_ref()
            .and_then(|a| a.first_message.as_deref())
        {
            reply.text = render(template, &context.vars());
            sink(ReplyEvent::Token(&reply.text));
        } else {
            let mut messages = vec![ChatMessage::text(
                ChatRole::User,
                "(The call has just connected. Greet the caller in one or two short sentences and \
                 say who you are.)",
            )];
            reply.text = self
                .generate(context, &mut messages, None, &[], &mut reply, sink)
                .await?;
        }
        if !reply.text.is_empty() {
            state
                .messages
                .push(ChatMessage::text(ChatRole::Assistant, reply.text.clone()));
        }
        Ok((state, reply))
    }

    /// Answers one caller utterance, streaming the reply's text to `on_token`.
    ///
    /// # Errors
    /// `Ended` after the call ended; `EmptyMessage`; `NotConfigured` when the turn needs a model
    /// and none is configured; `Model` when the model fails (the caller's words are kept).
    pub async fn respond(
        &self,
        context: &CallContext,
        state: &mut ConversationState,
        utterance: &str,
        on_token: TokenSink<'_>,
    ) -> Result<Reply, ConversationError> {
        self.respond_streamed(context, state, utterance, &mut tokens_only(on_token))
            .await
    }

    /// [`ConversationEngine::respond`], streaming every [`ReplyEvent`] (tool calls too) to
    /// `sink`.
    ///
    /// # Errors
    /// As [`ConversationEngine::respond`].
    pub async fn respond_streamed(
        &self,
        context: &CallContext,
        state: &mut ConversationState,
        utterance: &str,
        sink: ReplySink<'_>,
    ) -> Result<Reply, ConversationError> {
        self.answer(context, state, CallerInput::Speech(utterance), sink)
            .await
    }

    /// Answers keys the caller entered on the keypad (DTMF), streaming the reply to `sink`. The
    /// call flow steps on them ([`crate::flow::ValidFlow::step_keys`]: `digits` conditions match
    /// them); the history and the model see them as [`keypad_text`].
    ///
    /// # Errors
    /// As [`ConversationEngine::respond`]; `EmptyMessage` for no keys.
    pub async fn respond_keys(
        &self,
        context: &CallContext,
        state: &mut ConversationState,
        keys: &str,
        sink: ReplySink<'_>,
    ) -> Result<Reply, ConversationError> {
        self.answer(context, state, CallerInput::Keys(keys), sink)
            .await
    }

    async fn answer(
        &self,
        context: &CallContext,
        state: &mut ConversationState,
        input: CallerInput<'_>,
        sink: ReplySink<'_>,
    ) -> Result<Reply, ConversationError> {
        if state.ended.is_some() {
            return Err(ConversationError::Ended);
        }
        let (given, said) = match input {
            CallerInput::Speech(text) => (text.trim(), text.trim().to_owned()),
            CallerInput::Keys(keys) => (keys.trim(), keypad_text(keys.trim())),
        };
        if given.is_empty() {
            return Err(ConversationError::EmptyMessage);
        }
        state.caller_turns += 1;
        state
            .messages
            .push(ChatMessage::text(ChatRole::User, said.clone()));
        let mut reply = Reply::default();
        match flow_of(context)? {
            Some(flow) => {
                let current = state
                    .flow
                    .clone()
                    .unwrap_or_else(|| flow.start(&context.vars()).state);
                let step = match input {
                    CallerInput::Speech(_) => {
                        let intents = self.judge_intents(&flow, &current, given).await?;
                        flow.step(&current, given, &intents, &context.vars())
                    }
                    CallerInput::Keys(_) => flow.step_keys(&current, given, &context.vars()),
                };
                self.follow_flow(context, state, step, &mut reply, sink)
                    .await?;
            }
            None => {
                // Keys are no question to look up.
                let knowledge = match input {
                    CallerInput::Speech(_) => self.knowledge_for(context, given).await,
                    CallerInput::Keys(_) => Vec::new(),
                };
                reply.knowledge = knowledge.clone();
                let mut messages = state.messages.clone();
                reply.text = self
                    .generate(context, &mut messages, None, &knowledge, &mut reply, sink)
                    .await?;
                apply_tool_effects(&messages[state.messages.len()..], &mut reply);
            }
        }
        if !reply.text.is_empty() {
            state
                .messages
                .push(ChatMessage::text(ChatRole::Assistant, reply.text.clone()));
        }
        self.check_limits(context, state, &said, &mut reply);
        if reply.end_reason.is_some() {
            reply.should_end_call = true;
            state.ended = reply.end_reason.clone();
        }
        if reply.transfer_to.is_some() {
            state.transfer_to.clone_from(&reply.transfer_to);
        }
        Ok(reply)
    }

    /// Knowledge near the caller's words, from the agent's documents; a failed search costs the
    /// turn its knowledge, not its answer.
    async fn knowledge_for(&self, context: &CallContext, utterance: &str) -> Vec<SearchHit> {
        let Some(agent) = &context.agent else {
            return Vec::new();
        };
        if agent.knowledge_document_ids.is_empty() {
            return Vec::new();
        }
        match self
            .knowledge
            .search(
                context.organization_id,
                utterance,
                context.agent_id,
                KNOWLEDGE_PER_TURN,
            )
            .await
        {
            Ok(hits) => hits,
            Err(e) => {
                tracing::warn!(error = %e, "knowledge search failed; answering without it");
                Vec::new()
            }
        }
    }

    /// Asks the model to judge the intent conditions of the flow's current node; without a model
    /// every intent counts as unmatched, so keyword and else edges decide.
    async fn judge_intents(
        &self,
        flow: &ValidFlow,
        state: &FlowState,
        utterance: &str,
    ) -> Result<IntentAnswers, ConversationError> {
        let questions = flow.pending_intents(state, utterance);
        let mut answers = IntentAnswers::new();
        let Some(model) = &self.model else {
            return Ok(answers);
        };
        for question in questions {
            let request = ChatRequest {
                model: String::new(),
                messages: vec![
                    ChatMessage::text(
                        ChatRole::System,
                        "You judge a caller's words. Answer with exactly one word: yes or no.",
                    ),
                    ChatMessage::text(
                        ChatRole::User,
                        format!(
                            "The caller said: \"{utterance}\"\nDoes this mean: {}?",
                            question.description
                        ),
                    ),
                ],
                tools: Vec::new(),
                temperature: Some(0.0),
                max_tokens: Some(3),
            };
            let mut stream = model.stream(request).await?;
            let mut answer = String::new();
            while let Some(event) = stream.next().await {
                if let ChatEvent::Token(token) = event? {
                    answer.push_str(&token);
                }
            }
            answers.set(question.edge_id, mentions(&answer, "yes"));
        }
        Ok(answers)
    }

    /// Speaks what a flow step says, performs its actions, and converses under an llm node.
    async fn follow_flow(
        &self,
        context: &CallContext,
        state: &mut ConversationState,
        step: FlowStep,
        reply: &mut Reply,
        sink: ReplySink<'_>,
    ) -> Result<(), ConversationError> {
        let said = joined(&step.say);
        if !said.is_empty() {
            sink(ReplyEvent::Token(&said));
        }
        reply.text = said;
        for action in &step.actions {
            match action {
                FlowAction::CallTool { name, arguments } => {
                    reply.tools_called.push(name.clone());
                    let result = self
                        .run_tool(context, name, arguments, &mut reply.knowledge, sink)
                        .await;
                    tracing::debug!(tool = %name, result.chars = result.len(), "flow tool called");
                }
                FlowAction::Transfer { phone_number } => {
                    reply.transfer_to = Some(phone_number.clone());
                    reply.end_reason = Some(EndReason::Transferred);
                }
                FlowAction::Hangup => {
                    reply.end_reason.get_or_insert(EndReason::FlowEnded);
                }
            }
        }
        if let Awaiting::LlmConversation { prompt, .. } = &step.awaiting {
            if self.model.is_none() {
                return Err(ConversationError::NotConfigured {
                    setting: MODEL_SETTING,
                });
            }
            let mut messages = state.messages.clone();
            if !reply.text.is_empty() {
                messages.push(ChatMessage::text(ChatRole::Assistant, reply.text.clone()));
            }
            if !reply.text.is_empty() {
                sink(ReplyEvent::Token(" "));
            }
            let last_caller = state
                .messages
                .iter()
                .rev()
                .find(|m| m.role == ChatRole::User)
                .and_then(|m| m.content.clone())
                .unwrap_or_default();
            let knowledge = self.knowledge_for(context, &last_caller).await;
            reply.knowledge.extend(knowledge.iter().cloned());
            let generated = self
                .generate(
                    context,
                    &mut messages,
                    Some(prompt),
                    &knowledge,
                    reply,
                    sink,
                )
                .await?;
            reply.text = [reply.text.as_str(), generated.as_str()]
                .iter()
                .filter(|t| !t.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
        }
        if matches!(step.awaiting, Awaiting::Finished) {
            reply.end_reason.get_or_insert(EndReason::FlowEnded);
        }
        state.flow = Some(step.state);
        Ok(())
    }

    /// Streams the model's answer, running the tools it asks for, for at most
    /// [`MAX_TOOL_ROUNDS`] rounds; appends every message of the exchange to `messages`.
    async fn generate(
        &self,
        context: &CallContext,
        messages: &mut Vec<ChatMessage>,
        flow_prompt: Option<&str>,
        knowledge: &[SearchHit],
        reply: &mut Reply,
        sink: ReplySink<'_>,
    ) -> Result<String, ConversationError> {
        let model = self.model()?;
        let agent = context.agent.as_ref();
        let mut system = system_prompt(&PromptParts {
            agent_name: agent.map(|a| a.name.as_str()),
            agent_prompt: agent.map(|a| a.system_prompt.as_str()),
            scenario: context.scenario.as_ref(),
            flow_prompt,
            organization_name: &context.organization_name,
            time_zone: &context.time_zone,
            now: self.clock.now(),
            customer_name: context.customer_name.as_deref(),
            phone_number: context.phone_number.as_deref(),
            knowledge,
        });
        if let Some(calendar) = &context.calendar {
            system.push_str(&calendar::prompt_section(calendar, &context.time_zone));
        }
        let tools = context.tool_specs();
        let mut text = String::new();
        for round in 0..=MAX_TOOL_ROUNDS {
            // The last round offers no tools, so the model has to answer in words.
            let offer_tools = round < MAX_TOOL_ROUNDS;
            let mut request_messages = vec![ChatMessage::text(ChatRole::System, system.clone())];
            request_messages.extend(messages.iter().cloned());
            let request = ChatRequest {
                model: agent.map(|a| a.llm.model.clone()).unwrap_or_default(),
                messages: request_messages,
                tools: if offer_tools {
                    tools.clone()
                } else {
                    Vec::new()
                },
                temperature: context
                    .scenario
                    .as_ref()
                    .map(|s| s.temperature)
                    .or(agent.map(|a| a.llm.temperature)),
                max_tokens: agent.map(|a| a.llm.max_tokens),
            };
            let mut stream = model.stream(request).await?;
            let mut round_text = String::new();
            let mut calls: Vec<ToolCall> = Vec::new();
            while let Some(event) = stream.next().await {
                match event? {
                    ChatEvent::Token(token) => {
                        if round_text.is_empty() && !text.is_empty() {
                            sink(ReplyEvent::Token(" "));
                        }
                        sink(ReplyEvent::Token(&token));
                        round_text.push_str(&token);
                    }
                    ChatEvent::ToolCall(call) => calls.push(call),
                    ChatEvent::Usage { .. } | ChatEvent::Finished(_) => {}
                }
            }
            if !round_text.trim().is_empty() {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(round_text.trim());
            }
            if calls.is_empty() || !offer_tools {
                break;
            }
            messages.push(ChatMessage {
                role: ChatRole::Assistant,
                content: (!round_text.is_empty()).then_some(round_text),
                tool_calls: calls.clone(),
                tool_call_id: None,
            });
            let mut ends = false;
            for call in calls {
                reply.tools_called.push(call.name.clone());
                let arguments: serde_json::Value =
                    serde_json::from_str(&call.arguments).unwrap_or(serde_json::Value::Null);
                let result = self
                    .run_tool(context, &call.name, &arguments, &mut reply.knowledge, sink)
                    .await;
                ends |= call.name == BuiltinTool::EndCall.as_str();
                messages.push(ChatMessage::tool_result(call.id, result));
            }
            if ends && !text.is_empty() {
                // The goodbye has been said; the model need not speak again.
                break;
            }
        }
        Ok(text)
    }

    /// Runs one tool, telling `sink` when it starts and finishes, and returns what the model is
    /// told.
    async fn run_tool(
        &self,
        context: &CallContext,
        name: &str,
        arguments: &serde_json::Value,
        knowledge: &mut Vec<SearchHit>,
        sink: ReplySink<'_>,
    ) -> String {
        sink(ReplyEvent::ToolStarted { name });
        let result = self.tool_result(context, name, arguments, knowledge).await;
        sink(ReplyEvent::ToolFinished { name });
        result
    }

    async fn tool_result(
        &self,
        context: &CallContext,
        name: &str,
        arguments: &serde_json::Value,
        knowledge: &mut Vec<SearchHit>,
    ) -> String {
        let agent_tools: &[AgentTool] = context.agent.as_ref().map_or(&[], |a| a.tools.as_slice());
        let result = match BuiltinTool::parse(name) {
            Ok(BuiltinTool::SearchKnowledgeBase) => {
                let query = arguments["query"].as_str().unwrap_or_default();
                match self
                    .knowledge
                    .search(
                        context.organization_id,
                        query,
                        context.agent_id,
                        KNOWLEDGE_PER_TURN,
                    )
                    .await
                {
                    Ok(hits) if hits.is_empty() => "No matching information was found.".to_owned(),
                    Ok(hits) => {
                        let text = hits
                            .iter()
                            .enumerate()
                            .map(|(i, h)| format!("[{}] ({}) {}", i + 1, h.document_name, h.text))
                            .collect::<Vec<_>>()
                            .join("\n");
                        knowledge.extend(hits);
                        text
                    }
                    Err(e) => format!("error: the knowledge base could not be searched: {e}"),
                }
            }
            Ok(BuiltinTool::EndCall) => "The call will end after your goodbye.".to_owned(),
            Ok(tool @ (BuiltinTool::CheckAvailability | BuiltinTool::BookAppointment)) => {
                match (&self.calendar, &context.calendar) {
                    (Some(calendar), Some(_)) => {
                        calendar::run(
                            calendar.as_ref(),
                            context.organization_id,
                            &context.time_zone,
                            tool,
                            arguments,
                        )
                        .await
                    }
                    _ => "error: no calendar is connected for this call".to_owned(),
                }
            }
            Ok(BuiltinTool::TransferCall) => {
                match E164::parse(arguments["phone_number"].as_str().unwrap_or_default()) {
                    Ok(number) => format!("Transferring the caller to {number}."),
                    Err(e) => format!("error: {e}"),
                }
            }
            Err(_) => match agent_tools.iter().find_map(|t| match t {
                AgentTool::Http(http) if http.name == name => Some(http),
                _ => None,
            }) {
                Some(tool) => match self.tools.invoke(tool, arguments).await {
                    Ok(body) => body,
                    Err(e) => format!("error: {e}"),
                },
                None => format!("error: there is no tool called {name}"),
            },
        };
        result.chars().take(MAX_TOOL_RESULT_CHARS).collect()
    }

    /// End-call phrases, the maximum duration and the maximum number of turns.
    fn check_limits(
        &self,
        context: &CallContext,
        state: &ConversationState,
        utterance: &str,
        reply: &mut Reply,
    ) {
        if reply.end_reason.is_some() {
            return;
        }
        if let Some(agent) = &context.agent {
            let said_by_anyone =
                |phrase: &String| mentions(utterance, phrase) || mentions(&reply.text, phrase);
            if agent.end_call_phrases.iter().any(said_by_anyone) {
                reply.end_reason = Some(EndReason::EndPhrase);
                return;
            }
            let elapsed = self.clock.now() - context.started_at;
            if elapsed.num_seconds() >= i64::from(agent.max_call_duration_secs) {
                reply.end_reason = Some(EndReason::MaxDuration);
                return;
            }
        }
        if state.caller_turns >= MAX_CALLER_TURNS {
            reply.end_reason = Some(EndReason::MaxTurns);
        }
    }
}

/// A sink for every reply event that passes the text on to `on_token`.
fn tokens_only<'a>(on_token: TokenSink<'a>) -> impl FnMut(ReplyEvent<'_>) + Send + 'a {
    move |event| {
        if let ReplyEvent::Token(text) = event {
            on_token(text);
        }
    }
}

/// What the tools of a turn did to the call: `end_call` ends it, `transfer_call` transfers it.
fn apply_tool_effects(exchange: &[ChatMessage], reply: &mut Reply) {
    for call in exchange.iter().flat_map(|m| m.tool_calls.iter()) {
        if call.name == BuiltinTool::EndCall.as_str() {
            reply.end_reason.get_or_insert(EndReason::AgentEnded);
        } else if call.name == BuiltinTool::TransferCall.as_str() {
            let arguments: serde_json::Value =
                serde_json::from_str(&call.arguments).unwrap_or(serde_json::Value::Null);
            if let Ok(number) = E164::parse(arguments["phone_number"].as_str().unwrap_or_default())
            {
                reply.transfer_to = Some(number.to_string());
                reply.end_reason = Some(EndReason::Transferred);
            }
        }
    }
}
