//! The call use cases: start a call with an agent or a scenario, answer its turns, end it. Every
//! turn is in the database before its answer is returned.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::analysis::CallAnalysisState;
use super::events::{call_event, tell_inserted, tell_saved};
use super::model::{
    Call, CallChannel, CallDirection, CallFilter, CallSort, CallStatus, CallTurn, NewCallTurn,
    Speaker, TurnLatency,
};
use crate::agent::{AgentConfig, AgentError, AgentStatus};
use crate::conversation::{
    CalendarContext, CallContext, ConversationEngine, ConversationError, EVENTS_IN_PROMPT, Reply,
    wants_calendar,
};
use crate::events::{EventKind, EventPublisher};
use crate::ids::{AgentId, CallId, OrganizationId, UserId};
use crate::page::PageRequest;
use crate::ports::{
    AccountRepository, AgentRepository, Calendar, CalendarError, CallRepository, Clock, LlmError,
    RepositoryError, SaveCallOutcome, TelephonyError,
};
use crate::scenario::{ScenarioError, ScenarioService, ScenarioSettings, builtin_scenario};
use crate::validation::ValidationErrors;

/// The scenario a call runs with when neither an agent nor a scenario is named and the
/// organisation has no active agent.
const FALLBACK_SCENARIO: &str = "sales";

/// Who answers a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallTarget {
    Agent(AgentId),
    /// A built-in scenario's name or one of the user's custom scenario ids.
    Scenario(String),
    /// The organisation's most recently created active agent, else the built-in sales scenario.
    Default,
}

/// What starting a call needs.
#[derive(Clone, Debug)]
pub struct CallStart {
    pub target: CallTarget,
    pub channel: CallChannel,
    pub direction: CallDirection,
    pub customer_name: Option<String>,
    pub phone_number: Option<String>,
    pub session_key: Option<String>,
    /// The telephony provider's id of the call, when it started there (an inbound call).
    pub provider_call_id: Option<String>,
    /// The client's `Idempotency-Key`, so a retried request finds this call instead of making
    /// another.
    pub idempotency_key: Option<String>,
}

/// A call made elsewhere, to be kept with the organisation's calls.
#[derive(Clone, Debug, Default)]
pub struct ExternalCall {
    pub agent_id: Option<String>,
    pub phone_number: Option<String>,
    pub direction: Option<String>,
    pub status: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<i64>,
    /// Speaker name, text, and when it was said (default: a second apart from the start).
    pub turns: Vec<(String, String, Option<DateTime<Utc>>)>,
    pub recording_url: Option<String>,
    /// Kept as given (an object).
    pub metadata: serde_json::Value,
    /// Why the call ended, as the other system says it (default: `logged`).
    pub end_reason: Option<String>,
    /// A key unique in the organisation (for example `vapi:<call id>`): logging the same call
    /// again answers the call stored the first time.
    pub idempotency_key: Option<String>,
}

/// The most transcript lines one logged call may carry.
const MAX_LOGGED_TURNS: usize = 2000;

/// A started call and what the agent said first.
#[derive(Clone, Debug)]
pub struct Opened {
    pub call: Call,
    pub first_message: String,
}

/// The answer to one turn.
#[derive(Clone, Debug)]
pub struct TurnAnswer {
    pub call: Call,
    pub reply: Reply,
    pub latency: TurnLatency,
}

/// Why a call operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("call not found")]
    NotFound,
    #[error("the call has ended")]
    Ended,
    #[error("agent not found")]
    AgentNotFound,
    #[error("scenario not found")]
    ScenarioNotFound,
    #[error("{0}")]
    AgentUnavailable(String),
    #[error("the message is empty")]
    EmptyMessage,
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// Another turn of the same call is being answered.
    #[error("another message of this call is being answered; send the next one after it")]
    Busy,
    #[error("this agent needs a language model: set {setting}, or give the agent a call flow")]
    ModelNotConfigured { setting: &'static str },
    #[error("{0}")]
    ModelFailed(LlmError),
    /// The organisation has as many live calls as it may.
    #[error("the organisation has reached its limit of {limit} calls at once")]
    TooManyCalls { limit: u32 },
    #[error("{0}")]
    Telephony(TelephonyError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for CallError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

impl From<ConversationError> for CallError {
    fn from(e: ConversationError) -> Self {
        match e {
            ConversationError::Ended => Self::Ended,
            ConversationError::EmptyMessage => Self::EmptyMessage,
            ConversationError::NotConfigured { setting } => Self::ModelNotConfigured { setting },
            ConversationError::Model(e) => Self::ModelFailed(e),
            ConversationError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// What a call keeps of the agent and scenario it started with, so it behaves the same until it
/// ends, whatever happens to them meanwhile.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Snapshot {
    organization_name: String,
    time_zone: String,
    agent: Option<AgentConfig>,
    scenario: Option<ScenarioSettings>,
    /// The calendar as it was when a calendar-aware call started; absent on other calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calendar: Option<CalendarContext>,
}

/// The ports the call service works through.
#[derive(Clone)]
pub struct CallPorts {
    pub calls: Arc<dyn CallRepository>,
    pub agents: Arc<dyn AgentRepository>,
    pub accounts: Arc<dyn AccountRepository>,
    pub clock: Arc<dyn Clock>,
    /// Told every call's start, status changes, transcript lines and end.
    pub events: Arc<dyn EventPublisher>,
}

/// Calls of an organisation.
#[derive(Clone)]
pub struct CallService {
    ports: CallPorts,
    scenarios: ScenarioService,
    engine: ConversationEngine,
    limits: super::phone::CallLimits,
    /// The organisations' calendars, when a calendar provider is configured.
    calendar: Option<Arc<dyn Calendar>>,
}

impl Call {
    /// What the conversation engine needs for this call, as kept when it started.
    ///
    /// # Errors
    /// `Unexpected` when the stored context is unreadable.
    pub fn conversation_context(&self) -> Result<CallContext, CallError> {
        context_of(self)
    }

    /// Whether the call was calendar-aware when it started (its conversation reads and books
    /// the organisation's calendar).
    #[must_use]
    pub fn is_calendar_aware(&self) -> bool {
        self.context.get("calendar").is_some_and(|c| !c.is_null())
    }
}

pub(super) fn context_of(call: &Call) -> Result<CallContext, CallError> {
    let snapshot: Snapshot = serde_json::from_value(call.context.clone()).map_err(|e| {
        anyhow::anyhow!("the stored context of call {} is unreadable: {e}", call.id)
    })?;
    Ok(CallContext {
        organization_id: call.organization_id,
        organization_name: snapshot.organization_name,
        time_zone: snapshot.time_zone,
        agent_id: call.agent_id,
        agent: snapshot.agent,
        scenario: snapshot.scenario,
        customer_name: call.customer_name.clone(),
        phone_number: call.phone_number.clone(),
        started_at: call.started_at,
        calendar: snapshot.calendar,
    })
}

fn clean(value: Option<String>, field: &str, errors: &mut ValidationErrors) -> Option<String> {
    let value = value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())?;
    if value.chars().count() > 200 {
        errors.add(field, "must be at most 200 characters");
    }
    Some(value)
}

pub(super) fn elapsed_ms(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_milliseconds()).unwrap_or(0)
}

impl CallService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(ports: CallPorts, scenarios: ScenarioService, engine: ConversationEngine) -> Self {
        Self {
            ports,
            scenarios,
            engine,
            limits: super::phone::CallLimits::default(),
            calendar: None,
        }
    }

    /// The same service, making calls calendar-aware when their organisation has a calendar
    /// connected and they would use it (see [`wants_calendar`]).
    #[must_use]
    pub fn with_calendar(mut self, calendar: Arc<dyn Calendar>) -> Self {
        self.calendar = Some(calendar);
        self
    }

    /// What a calendar-aware call knows of the calendar; `None` when the call would not use one,
    /// none is connected, or it cannot be read now (the call starts without it).
    async fn calendar_context(
        &self,
        organization: OrganizationId,
        wanted: bool,
    ) -> Option<CalendarContext> {
        let calendar = self.calendar.as_ref().filter(|_| wanted)?;
        match calendar
            .upcoming_events(organization, EVENTS_IN_PROMPT)
            .await
        {
            Ok(upcoming) => Some(CalendarContext { upcoming }),
            Err(CalendarError::NotConnected | CalendarError::Disconnected) => None,
            Err(error) => {
                tracing::warn!(
                    %error,
                    organization.id = %organization,
                    "the calendar could not be read; the call starts without it"
                );
                None
            }
        }
    }

    /// The same service with other limits on calls at once.
    #[must_use]
    pub fn with_limits(mut self, limits: super::phone::CallLimits) -> Self {
        self.limits = limits;
        self
    }

    pub(super) fn limits(&self) -> &super::phone::CallLimits {
        &self.limits
    }

    pub(super) fn ports(&self) -> &CallPorts {
        &self.ports
    }

    pub(super) fn events(&self) -> &dyn EventPublisher {
        self.ports.events.as_ref()
    }

    pub(super) fn engine(&self) -> &ConversationEngine {
        &self.engine
    }

    /// Starts a call: resolves who answers, opens the conversation, and stores the call with the
    /// agent's first message.
    ///
    /// # Errors
    /// `AgentNotFound`, `ScenarioNotFound`, `AgentUnavailable` (paused or inactive),
    /// `ModelNotConfigured` or `ModelFailed` (the call is stored as failed). Without a `user`
    /// (a call that came in by phone) only built-in scenarios are found.
    pub async fn start(
        &self,
        organization: OrganizationId,
        user: Option<UserId>,
        start: CallStart,
    ) -> Result<Opened, CallError> {
        let mut errors = ValidationErrors::new();
        let customer_name = clean(start.customer_name, "customer_name", &mut errors);
        let phone_number = clean(start.phone_number, "phone_number", &mut errors);
        let session_key = clean(start.session_key, "session_id", &mut errors);
        errors.into_result(()).map_err(CallError::Invalid)?;

        let (agent, scenario_name) = self.resolve(organization, start.target).await?;
        let scenario = match &scenario_name {
            Some(name) => Some(match user {
                Some(user) => self
                    .scenarios
                    .resolve(user, name)
                    .await
                    .map_err(|e| match e {
                        ScenarioError::NotFound => CallError::ScenarioNotFound,
                        other => CallError::Unexpected(anyhow::anyhow!(other)),
                    })?,
                None => builtin_scenario(name)
                    .ok_or(CallError::ScenarioNotFound)?
                    .settings(),
            }),
            None => None,
        };
        let org = self
            .ports
            .accounts
            .find_organization(organization)
            .await?
            .ok_or_else(|| anyhow::anyhow!("organisation {organization} is missing"))?;
        let wanted = wants_calendar(agent.as_ref().map(|a| &a.config), scenario.is_some());
        let snapshot = Snapshot {
            organization_name: org.name.clone(),
            time_zone: org.time_zone.clone(),
            agent: agent.as_ref().map(|a| a.config.clone()),
            scenario: scenario.clone(),
            calendar: self.calendar_context(organization, wanted).await,
        };
        let now = self.ports.clock.now();
        let mut call = Call {
            id: CallId::new(),
            organization_id: organization,
            agent_id: agent.as_ref().map(|a| a.id),
            agent_name: agent.as_ref().map(|a| a.config.name.clone()),
            scenario: scenario_name,
            channel: start.channel,
            direction: start.direction,
            // An outbound phone call waits in the queue until it is answered.
            status: if start.channel == CallChannel::Phone
                && start.direction == CallDirection::Outbound
            {
                CallStatus::Queued
            } else {
                CallStatus::InProgress
            },
            customer_name,
            phone_number,
            session_key,
            started_at: now,
            ended_at: None,
            end_reason: None,
            context: serde_json::to_value(&snapshot)
                .map_err(|e| anyhow::anyhow!("call context does not serialise: {e}"))?,
            conversation: Default::default(),
            version: 0,
            recording_url: None,
            provider_call_id: start.provider_call_id,
            talk_secs: None,
            idempotency_key: start.idempotency_key,
            metadata: serde_json::Value::Null,
            created_at: now,
            updated_at: now,
            analysis: CallAnalysisState::NotQueued,
        };
        let context = context_of(&call)?;
        match self.engine.open(&context, &mut |_| {}).await {
            Ok((conversation, opening)) => {
                call.conversation = conversation;
                let at = self.ports.clock.now();
                if let Some(reason) = &opening.end_reason {
                    call.finish(CallStatus::Completed, reason.as_str(), at);
                }
                let turns: Vec<NewCallTurn> = (!opening.text.is_empty())
                    .then(|| NewCallTurn {
                        speaker: Speaker::Agent,
                        text: opening.text.clone(),
                        at,
                        latency: None,
                    })
                    .into_iter()
                    .collect();
                self.store_new(&call, &turns).await?;
                tell_inserted(self.events(), &call, &turns, at);
                Ok(Opened {
                    call,
                    first_message: opening.text,
                })
            }
            Err(ConversationError::Model(e)) => {
                // A call that could not even start is still a call the organisation made.
                let at = self.ports.clock.now();
                call.finish(CallStatus::Failed, "model_unavailable", at);
                self.ports.calls.insert(&call, &[]).await?;
                tell_inserted(self.events(), &call, &[], at);
                Err(CallError::ModelFailed(e))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores a new call. A live phone call takes one of the organisation's slots for calls at
    /// once, checked and taken in one step, so calls started together on several instances
    /// never pass the cap.
    async fn store_new(&self, call: &Call, turns: &[NewCallTurn]) -> Result<(), CallError> {
        if call.channel == CallChannel::Phone && call.is_active() {
            let cap = u64::from(self.limits.room_for(call.direction));
            if !self.ports.calls.insert_within_cap(call, turns, cap).await? {
                return Err(CallError::TooManyCalls {
                    limit: self.limits.per_organization,
                });
            }
            return Ok(());
        }
        Ok(self.ports.calls.insert(call, turns).await?)
    }

    /// Keeps a call made elsewhere (seed 001's `POST /api/calls`): its transcript, recording and
    /// metadata are stored as given, in one transaction.
    ///
    /// With an `idempotency_key` the organisation used before, the call stored then is answered
    /// and nothing is stored; two requests racing with one key store one call (the key is unique
    /// in storage, and the loser finds the winner's call).
    ///
    /// # Errors
    /// `Invalid` naming every bad field (an agent that is not the organisation's included).
    pub async fn log_external(
        &self,
        organization: OrganizationId,
        external: ExternalCall,
    ) -> Result<(Call, Vec<CallTurn>), CallError> {
        let key = external
            .idempotency_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(ToOwned::to_owned);
        if let Some(key) = &key
            && let Some(found) = self.logged(organization, key).await?
        {
            return Ok(found);
        }
        let mut errors = ValidationErrors::new();
        let direction = external
            .direction
            .as_deref()
            .map(CallDirection::parse)
            .transpose()
            .unwrap_or_else(|m| {
                errors.add("direction", m);
                None
            })
            .unwrap_or(CallDirection::Inbound);
        let status = external
            .status
            .as_deref()
            .map(CallStatus::parse)
            .transpose()
            .unwrap_or_else(|m| {
                errors.add("status", m);
                None
            })
            .unwrap_or(CallStatus::Completed);
        let agent = match external
            .agent_id
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            None => None,
            Some(raw) => {
                let found = match raw.parse::<AgentId>() {
                    Ok(id) => self.ports.agents.find(organization, id).await?,
                    Err(_) => None,
                };
                if found.is_none() {
                    errors.add("agent_id", "no agent with this id in your organisation");
                }
                found
            }
        };
        let phone_number = clean(external.phone_number, "phone_number", &mut errors);
        if let Some(url) = &external.recording_url
            && !crate::validation::is_http_url(url)
        {
            errors.add("recording_url", "must be an http(s) URL");
        }
        let duration = match external.duration_secs {
            Some(secs) if !(0..=86_400).contains(&secs) => {
                errors.add("duration", "must be between 0 and 86400 seconds");
                None
            }
            other => other,
        };
        if !(external.metadata.is_null() || external.metadata.is_object()) {
            errors.add("metadata", "must be an object");
        }
        if external.turns.len() > MAX_LOGGED_TURNS {
            errors.add("transcript", format!("at most {MAX_LOGGED_TURNS} lines"));
        }
        let now = self.ports.clock.now();
        let started_at = external.started_at.unwrap_or(now);
        let mut turns = Vec::with_capacity(external.turns.len());
        for (index, (speaker, text, at)) in external.turns.into_iter().enumerate() {
            let speaker = match speaker.trim().to_ascii_lowercase().as_str() {
                "agent" | "assistant" | "ai" | "bot" => Some(Speaker::Agent),
                "customer" | "user" | "caller" | "human" => Some(Speaker::Customer),
                _ => None,
            };
            if speaker.is_none() {
                errors.add(
                    format!("transcript[{index}].speaker"),
                    "must be agent or customer",
                );
            }
            if text.trim().is_empty() {
                errors.add(format!("transcript[{index}].text"), "must not be empty");
            }
            let offset = chrono::Duration::seconds(i64::try_from(index).unwrap_or(0));
            turns.push(NewCallTurn {
                speaker: speaker.unwrap_or(Speaker::Customer),
                text: text.trim().to_owned(),
                at: at.unwrap_or(started_at + offset),
                latency: None,
            });
        }
        errors.into_result(()).map_err(CallError::Invalid)?;
        let org = self
            .ports
            .accounts
            .find_organization(organization)
            .await?
            .ok_or_else(|| anyhow::anyhow!("organisation {organization} is missing"))?;
        let snapshot = Snapshot {
            organization_name: org.name,
            time_zone: org.time_zone,
            agent: agent.as_ref().map(|a| a.config.clone()),
            scenario: None,
            calendar: None,
        };
        let finished = status.is_final();
        let call = Call {
            id: CallId::new(),
            organization_id: organization,
            agent_id: agent.as_ref().map(|a| a.id),
            agent_name: agent.as_ref().map(|a| a.config.name.clone()),
            scenario: None,
            channel: if phone_number.is_some() {
                CallChannel::Phone
            } else {
                CallChannel::Web
            },
            direction,
            status,
            customer_name: None,
            phone_number,
            session_key: None,
            started_at,
            ended_at: finished
                .then(|| started_at + chrono::Duration::seconds(duration.unwrap_or(0))),
            end_reason: finished.then(|| {
                external
                    .end_reason
                    .map(|r| r.trim().chars().take(200).collect::<String>())
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "logged".to_owned())
            }),
            context: serde_json::to_value(&snapshot)
                .map_err(|e| anyhow::anyhow!("call context does not serialise: {e}"))?,
            conversation: Default::default(),
            version: 0,
            recording_url: external.recording_url,
            provider_call_id: None,
            talk_secs: None,
            idempotency_key: key.clone(),
            metadata: external.metadata,
            created_at: now,
            updated_at: now,
            // Storing an ended call queues its analysis.
            analysis: if finished {
                CallAnalysisState::Pending
            } else {
                CallAnalysisState::NotQueued
            },
        };
        if let Err(error) = self.ports.calls.insert(&call, &turns).await {
            // A request with the same key stored its call first: that call is the answer.
            if let Some(key) = &key
                && let Some(found) = self.logged(organization, key).await?
            {
                return Ok(found);
            }
            return Err(error.into());
        }
        // A logged call happened elsewhere: its lines are not live. An ended one is told once,
        // as ended; one still going is told as started, and ends like any other.
        let kind = if finished {
            EventKind::CallEnded
        } else {
            EventKind::CallStarted
        };
        self.events().publish(call_event(kind, &call, now));
        let stored = self.ports.calls.turns(call.id).await?;
        Ok((call, stored))
    }

    /// The call logged before with this key, and its transcript.
    async fn logged(
        &self,
        organization: OrganizationId,
        key: &str,
    ) -> Result<Option<(Call, Vec<CallTurn>)>, CallError> {
        let Some(call) = self
            .ports
            .calls
            .find_by_idempotency_key(organization, key)
            .await?
        else {
            return Ok(None);
        };
        let turns = self.ports.calls.turns(call.id).await?;
        Ok(Some((call, turns)))
    }

    /// Whether the organisation exists (webhooks name it in their URL, not in a token).
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn organization_exists(
        &self,
        organization: OrganizationId,
    ) -> Result<bool, CallError> {
        Ok(self
            .ports
            .accounts
            .find_organization(organization)
            .await?
            .is_some())
    }

    /// The agent that answers when none is named: the organisation's most recently created
    /// active agent, if any.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn answering_agent(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<crate::agent::Agent>, CallError> {
        match self.resolve(organization, CallTarget::Default).await? {
            (Some(agent), _) => Ok(Some(agent)),
            (None, _) => Ok(None),
        }
    }

    /// The agent (if any) and scenario name (if any) that answer.
    async fn resolve(
        &self,
        organization: OrganizationId,
        target: CallTarget,
    ) -> Result<(Option<crate::agent::Agent>, Option<String>), CallError> {
        match target {
            CallTarget::Agent(id) => {
                let agent = self
                    .ports
                    .agents
                    .find(organization, id)
                    .await?
                    .ok_or(CallError::AgentNotFound)?;
                agent.ensure_accepts_calls().map_err(|e| match e {
                    AgentError::NotAcceptingCalls { .. } => {
                        CallError::AgentUnavailable(e.to_string())
                    }
                    other => CallError::Unexpected(anyhow::anyhow!(other)),
                })?;
                Ok((Some(agent), None))
            }
            CallTarget::Scenario(name) => Ok((None, Some(name))),
            CallTarget::Default => {
                let page = PageRequest {
                    page: 1,
                    page_size: 1,
                };
                let newest = self
                    .ports
                    .agents
                    .list(organization, Some(AgentStatus::Active), page)
                    .await?
                    .items
                    .into_iter()
                    .next();
                match newest {
                    Some(agent) => Ok((Some(agent), None)),
                    None => Ok((
                        None,
                        builtin_scenario(FALLBACK_SCENARIO).map(|s| s.name.to_owned()),
                    )),
                }
            }
        }
    }

    /// Answers one caller message. The caller's words and the reply are stored before this
    /// returns; when the model fails, the caller's words are stored and the call goes on.
    ///
    /// # Errors
    /// `NotFound`, `Ended`, `EmptyMessage`, `Busy`, `ModelNotConfigured`, `ModelFailed`.
    pub async fn respond(
        &self,
        organization: OrganizationId,
        id: CallId,
        message: &str,
    ) -> Result<TurnAnswer, CallError> {
        let mut call = self
            .ports
            .calls
            .find(organization, id)
            .await?
            .ok_or(CallError::NotFound)?;
        if !call.is_active() {
            return Err(CallError::Ended);
        }
        if message.trim().is_empty() {
            return Err(CallError::EmptyMessage);
        }
        let context = context_of(&call)?;
        let clock = self.ports.clock.clone();
        let asked_at = clock.now();
        let mut first_token: Option<DateTime<Utc>> = None;
        let mut sink = |_: &str| {
            if first_token.is_none() {
                first_token = Some(clock.now());
            }
        };
        let outcome = self
            .engine
            .respond(&context, &mut call.conversation, message, &mut sink)
            .await;
        let answered_at = self.ports.clock.now();
        let mut turns = vec![NewCallTurn {
            speaker: Speaker::Customer,
            text: message.trim().to_owned(),
            at: asked_at,
            latency: None,
        }];
        let was = call.status;
        let expected = call.version;
        call.version += 1;
        call.updated_at = answered_at;
        match outcome {
            Ok(reply) => {
                let latency = TurnLatency {
                    first_token_ms: first_token.map(|t| elapsed_ms(asked_at, t)),
                    total_ms: elapsed_ms(asked_at, answered_at),
                    ..TurnLatency::default()
                };
                if !reply.text.is_empty() {
                    turns.push(NewCallTurn {
                        speaker: Speaker::Agent,
                        text: reply.text.clone(),
                        at: answered_at,
                        latency: Some(latency),
                    });
                }
                if let Some(reason) = &reply.end_reason {
                    call.finish(CallStatus::Completed, reason.as_str(), answered_at);
                }
                self.save(was, &call, expected, &turns).await?;
                Ok(TurnAnswer {
                    call,
                    reply,
                    latency,
                })
            }
            Err(e @ (ConversationError::Model(_) | ConversationError::NotConfigured { .. })) => {
                self.save(was, &call, expected, &turns).await?;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the call over the version `expected` (stored with status `was`) and tells what
    /// the write changed.
    async fn save(
        &self,
        was: CallStatus,
        call: &Call,
        expected: i64,
        turns: &[NewCallTurn],
    ) -> Result<(), CallError> {
        match self.ports.calls.save(call, expected, turns).await? {
            SaveCallOutcome::Saved => {
                tell_saved(self.events(), was, call, turns, call.updated_at);
                Ok(())
            }
            SaveCallOutcome::Conflict => Err(CallError::Busy),
        }
    }

    /// Ends a call at the client's request (idempotent: an ended call is returned as it is).
    ///
    /// # Errors
    /// `NotFound`, or `Busy` when a turn is being answered.
    pub async fn end(&self, organization: OrganizationId, id: CallId) -> Result<Call, CallError> {
        let mut call = self
            .ports
            .calls
            .find(organization, id)
            .await?
            .ok_or(CallError::NotFound)?;
        if !call.is_active() {
            return Ok(call);
        }
        let now = self.ports.clock.now();
        let was = call.status;
        let expected = call.version;
        call.version += 1;
        call.updated_at = now;
        call.finish(CallStatus::Completed, "ended_by_client", now);
        self.save(was, &call, expected, &[]).await?;
        Ok(call)
    }

    /// A call and its transcript.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get(
        &self,
        organization: OrganizationId,
        id: CallId,
    ) -> Result<(Call, Vec<CallTurn>), CallError> {
        let call = self
            .ports
            .calls
            .find(organization, id)
            .await?
            .ok_or(CallError::NotFound)?;
        let turns = self.ports.calls.turns(call.id).await?;
        Ok((call, turns))
    }

    /// A page of the organisation's calls.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list(
        &self,
        organization: OrganizationId,
        filter: &CallFilter,
        sort: CallSort,
        page: PageRequest,
    ) -> Result<crate::page::Paged<Call>, CallError> {
        Ok(self
            .ports
            .calls
            .list(organization, filter, sort, page)
            .await?)
    }

    /// A page of the organisation's calls with their transcripts, read in two queries.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list_with_turns(
        &self,
        organization: OrganizationId,
        filter: &CallFilter,
        sort: CallSort,
        page: PageRequest,
    ) -> Result<(Vec<(Call, Vec<CallTurn>)>, u64), CallError> {
        let calls = self.list(organization, filter, sort, page).await?;
        let ids: Vec<CallId> = calls.items.iter().map(|c| c.id).collect();
        let mut turns = self.ports.calls.turns_of(&ids).await?;
        let with_turns = calls
            .items
            .into_iter()
            .map(|call| {
                let (mine, rest): (Vec<CallTurn>, Vec<CallTurn>) =
                    turns.drain(..).partition(|t| t.call_id == call.id);
                turns = rest;
                (call, mine)
            })
            .collect();
        Ok((with_turns, calls.total))
    }

    /// The organisation's latest call for a client's session key, if any.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn find_session(
        &self,
        organization: OrganizationId,
        session_key: &str,
    ) -> Result<Option<Call>, CallError> {
        Ok(self
            .ports
            .calls
            .find_by_session(organization, session_key)
            .await?)
    }
}
