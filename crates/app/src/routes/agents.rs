//! Agents under `/api/v1/agents`, and the seeds' `/agents` (seed 000) and `/api/agents` (seed 001):
//! CRUD, pause and resume, and the call flow. Requests accept both seeds' field names (`voice` as
//! a voice id or an object, `model`, `settings`); answers carry both.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::agent::{
    Agent, AgentInput, AgentStats, AgentStatus, AgentTool, AgentTurnTaking, HttpToolInput,
    ToolInput, TurnTakingInput, VoicemailInput,
};
use switchboard_domain::ids::AgentId;
use switchboard_domain::page::PageRequest;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::http::json::{ApiJson, nullable};
use crate::routes::{MessageResponse, page_request, parse_path_id};
use crate::state::AppState;

/// A voice given as an object, or (seed 001) just its voice id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum VoiceField {
    Id(String),
    Config(VoiceRequest),
}

/// How the agent sounds.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VoiceRequest {
    /// `elevenlabs` or `openai`.
    pub provider: Option<String>,
    pub voice_id: Option<String>,
    /// 0.25 to 4.0; 1.0 is natural.
    pub speed: Option<f64>,
}

/// How the agent thinks.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LlmRequest {
    /// `openai` (any OpenAI-compatible server).
    pub provider: Option<String>,
    pub model: Option<String>,
    /// 0 to 2.
    pub temperature: Option<f64>,
    /// 1 to 16384.
    pub max_tokens: Option<i64>,
}

/// How the agent listens.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SttRequest {
    /// `deepgram` or `whisper`.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub language: Option<String>,
}

/// How the agent takes turns on a voice call; every field is optional, and on update only the
/// fields sent change. Durations are in milliseconds.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TurnTakingRequest {
    /// Words (not all backchannel words) the caller must say over the agent to interrupt it,
    /// 0 to 20; 0 leaves it to `min_interruption_ms`.
    pub min_interruption_words: Option<i64>,
    /// Speech over the agent longer than this interrupts it, 0 to 5000; less than
    /// `false_interruption_timeout_ms`.
    pub min_interruption_ms: Option<i64>,
    /// An interruption not confirmed within this is judged false and the agent resumes, 200 to
    /// 10000.
    pub false_interruption_timeout_ms: Option<i64>,
    /// Words or short phrases that show the caller is listening ("yeah", "uh-huh"): they
    /// neither interrupt the agent nor become a turn. At most 50, each up to 40 characters.
    pub backchannel_words: Option<Vec<String>>,
    /// Silence while a tool runs before the agent says `filler_line`: 0 (never) or 300 to
    /// 10000.
    pub filler_after_ms: Option<i64>,
    /// Up to 200 characters.
    pub filler_line: Option<String>,
    /// Silence on both sides before the agent checks in: 0 (never, and no hang-up for
    /// silence) or 2000 to 120000.
    pub silence_reprompt_after_ms: Option<i64>,
    /// Check-ins, 0 to 5, before the agent says `silence_goodbye_line` and hangs up.
    pub silence_reprompts_max: Option<i64>,
    /// Up to 200 characters.
    pub silence_reprompt_line: Option<String>,
    /// Up to 200 characters; empty hangs up without a word.
    pub silence_goodbye_line: Option<String>,
    /// A keypad entry ends with `#` or after this long without a key, 500 to 10000.
    pub dtmf_timeout_ms: Option<i64>,
}

impl From<TurnTakingRequest> for TurnTakingInput {
    fn from(request: TurnTakingRequest) -> Self {
        Self {
            min_interruption_words: request.min_interruption_words,
            min_interruption_ms: request.min_interruption_ms,
            false_interruption_timeout_ms: request.false_interruption_timeout_ms,
            backchannel_words: request.backchannel_words,
            filler_after_ms: request.filler_after_ms,
            filler_line: request.filler_line,
            silence_reprompt_after_ms: request.silence_reprompt_after_ms,
            silence_reprompts_max: request.silence_reprompts_max,
            silence_reprompt_line: request.silence_reprompt_line,
            silence_goodbye_line: request.silence_goodbye_line,
            dtmf_timeout_ms: request.dtmf_timeout_ms,
        }
    }
}

/// What the agent does when an outbound call reaches an answering machine.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VoicemailRequest {
    /// Ask Twilio whether a person or a machine answered.
    pub detect_machine: Option<bool>,
    /// Left after the beep, up to 1000 characters; empty hangs up without a word.
    pub message: Option<String>,
}

/// Answering machines on outbound calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoicemailView {
    pub detect_machine: bool,
    pub message: String,
}

/// Seed 001's settings block.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SettingsRequest {
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    pub tts_speed: Option<f64>,
}

/// A tool: `{"type": "builtin", "name": "end_call"}` or an HTTP tool.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ToolRequest {
    /// `builtin` or `http` (default: `builtin` for the built-in names, else `http`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: String,
    pub description: Option<String>,
    /// Where the arguments are POSTed as JSON.
    pub url: Option<String>,
    /// A JSON schema of type `object` for the arguments.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    pub timeout_ms: Option<i64>,
}

/// An agent's fields. On create only `name` is required; on update only the fields sent change.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AgentRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `active`, `paused` or `inactive`.
    pub status: Option<String>,
    #[serde(alias = "prompt")]
    pub system_prompt: Option<String>,
    /// A template: `{customer_name}`, `{agent_name}`, `{company}`. An empty string removes it.
    #[serde(alias = "greeting")]
    pub first_message: Option<String>,
    pub language: Option<String>,
    pub voice: Option<VoiceField>,
    pub voice_id: Option<String>,
    /// The language model (seed 001).
    pub model: Option<String>,
    pub llm: Option<LlmRequest>,
    pub stt: Option<SttRequest>,
    pub settings: Option<SettingsRequest>,
    /// The call flow graph; `null` removes it.
    #[serde(default, deserialize_with = "nullable", alias = "flow")]
    #[schema(value_type = Option<Object>)]
    pub call_flow: Option<Option<serde_json::Value>>,
    #[serde(alias = "knowledge_documents")]
    pub knowledge_document_ids: Option<Vec<String>>,
    pub tools: Option<Vec<ToolRequest>>,
    pub end_call_phrases: Option<Vec<String>>,
    #[serde(alias = "max_call_duration")]
    pub max_call_duration_secs: Option<i64>,
    pub webhook_url: Option<String>,
    /// Turn-taking on voice calls.
    pub turn_taking: Option<TurnTakingRequest>,
    /// Answering machines on outbound calls.
    pub voicemail: Option<VoicemailRequest>,
    /// The fields each call's analysis extracts: a JSON schema of type `object` with
    /// `properties` (and optionally `required`); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub analysis_schema: Option<Option<serde_json::Value>>,
}

fn tool_input(tool: ToolRequest) -> ToolInput {
    let builtin = matches!(tool.kind.as_deref(), Some("builtin" | "built_in"))
        || (tool.kind.is_none()
            && switchboard_domain::agent::BuiltinTool::parse(&tool.name).is_ok()
            && tool.url.is_none());
    if builtin {
        ToolInput::Builtin(tool.name)
    } else {
        ToolInput::Http(HttpToolInput {
            name: tool.name,
            description: tool.description,
            url: tool.url,
            parameters: tool.parameters,
            timeout_ms: tool.timeout_ms,
        })
    }
}

impl AgentRequest {
    /// The domain input and the requested status. Flat seed fields apply first, nested objects
    /// over them.
    fn into_input(self) -> (AgentInput, Option<String>) {
        let mut input = AgentInput {
            name: self.name,
            description: self.description,
            system_prompt: self.system_prompt,
            first_message: self.first_message,
            language: self.language,
            call_flow: self
                .call_flow
                .map(|flow| flow.unwrap_or(serde_json::Value::Null)),
            knowledge_document_ids: self.knowledge_document_ids,
            tools: self
                .tools
                .map(|tools| tools.into_iter().map(tool_input).collect()),
            end_call_phrases: self.end_call_phrases,
            max_call_duration_secs: self.max_call_duration_secs,
            webhook_url: self.webhook_url,
            turn_taking: self.turn_taking.map(Into::into).unwrap_or_default(),
            voicemail: self
                .voicemail
                .map(|v| VoicemailInput {
                    detect_machine: v.detect_machine,
                    message: v.message,
                })
                .unwrap_or_default(),
            analysis_schema: self
                .analysis_schema
                .map(|schema| schema.unwrap_or(serde_json::Value::Null)),
            ..AgentInput::default()
        };
        input.voice.voice_id = self.voice_id;
        input.llm.model = self.model;
        if let Some(settings) = self.settings {
            input.llm.temperature = settings.temperature;
            input.llm.max_tokens = settings.max_tokens;
            input.voice.speed = settings.tts_speed;
        }
        match self.voice {
            Some(VoiceField::Id(id)) => input.voice.voice_id = Some(id),
            Some(VoiceField::Config(voice)) => {
                input.voice.provider = voice.provider.or(input.voice.provider);
                input.voice.voice_id = voice.voice_id.or(input.voice.voice_id);
                input.voice.speed = voice.speed.or(input.voice.speed);
            }
            None => {}
        }
        if let Some(llm) = self.llm {
            input.llm.provider = llm.provider;
            input.llm.model = llm.model.or(input.llm.model);
            input.llm.temperature = llm.temperature.or(input.llm.temperature);
            input.llm.max_tokens = llm.max_tokens.or(input.llm.max_tokens);
        }
        if let Some(stt) = self.stt {
            input.stt.provider = stt.provider;
            input.stt.model = stt.model;
            input.stt.language = stt.language;
        }
        (input, self.status)
    }
}

/// How the agent sounds.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceView {
    pub provider: &'static str,
    pub voice_id: String,
    pub speed: f64,
}

/// How the agent thinks.
#[derive(Debug, Serialize, ToSchema)]
pub struct LlmView {
    pub provider: &'static str,
    pub model: String,
    pub temperature: f64,
    pub max_tokens: u32,
}

/// How the agent listens.
#[derive(Debug, Serialize, ToSchema)]
pub struct SttView {
    pub provider: &'static str,
    pub model: String,
    pub language: String,
}

/// Seed 001's settings block.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    pub temperature: f64,
    pub max_tokens: u32,
    pub tts_speed: f64,
}

/// How the agent takes turns on a voice call; durations in milliseconds, 0 meaning never.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnTakingView {
    pub min_interruption_words: u32,
    pub min_interruption_ms: u32,
    pub false_interruption_timeout_ms: u32,
    pub backchannel_words: Vec<String>,
    pub filler_after_ms: u32,
    pub filler_line: String,
    pub silence_reprompt_after_ms: u32,
    pub silence_reprompts_max: u32,
    pub silence_reprompt_line: String,
    pub silence_goodbye_line: String,
    pub dtmf_timeout_ms: u32,
}

impl From<AgentTurnTaking> for TurnTakingView {
    fn from(t: AgentTurnTaking) -> Self {
        Self {
            min_interruption_words: t.min_interruption_words,
            min_interruption_ms: t.min_interruption_ms,
            false_interruption_timeout_ms: t.false_interruption_timeout_ms,
            backchannel_words: t.backchannel_words,
            filler_after_ms: t.filler_after_ms,
            filler_line: t.filler_line,
            silence_reprompt_after_ms: t.silence_reprompt_after_ms,
            silence_reprompts_max: t.silence_reprompts_max,
            silence_reprompt_line: t.silence_reprompt_line,
            silence_goodbye_line: t.silence_goodbye_line,
            dtmf_timeout_ms: t.dtmf_timeout_ms,
        }
    }
}

/// Figures from the agent's calls; zeros until it has any.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    pub calls_handled: u64,
    /// Mean turn latency in milliseconds: the wait for the start of each answer.
    pub avg_latency: f64,
    /// Median turn latency in milliseconds (nearest rank; 0 without measured turns).
    pub p50_latency: u64,
    /// 90th percentile of turn latency in milliseconds (nearest rank; 0 without measured turns).
    pub p90_latency: u64,
    /// Share of finished calls that completed rather than failed, 0 to 1.
    pub success_rate: f64,
}

/// An agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    /// `active`, `paused` or `inactive`.
    pub status: &'static str,
    pub system_prompt: String,
    pub first_message: Option<String>,
    pub language: String,
    pub voice: VoiceView,
    /// The voice id again, for clients that read it flat.
    pub voice_id: String,
    /// The language model again, for clients that read it flat (seed 001).
    pub model: String,
    pub llm: LlmView,
    pub stt: SttView,
    pub settings: SettingsView,
    pub stats: StatsView,
    #[schema(value_type = Option<Object>)]
    pub call_flow: Option<serde_json::Value>,
    pub knowledge_document_ids: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<AgentTool>,
    pub end_call_phrases: Vec<String>,
    pub max_call_duration_secs: u32,
    pub webhook_url: Option<String>,
    pub turn_taking: TurnTakingView,
    pub voicemail: VoicemailView,
    /// The fields each call's analysis extracts.
    #[schema(value_type = Option<Object>)]
    pub analysis_schema: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AgentView {
    fn new(agent: Agent, stats: AgentStats) -> Self {
        let c = agent.config;
        Self {
            id: agent.id.to_string(),
            organization_id: agent.organization_id.to_string(),
            name: c.name,
            description: c.description,
            status: agent.status.as_str(),
            system_prompt: c.system_prompt,
            first_message: c.first_message,
            language: c.language,
            voice_id: c.voice.voice_id.clone(),
            voice: VoiceView {
                provider: c.voice.provider.as_str(),
                voice_id: c.voice.voice_id,
                speed: c.voice.speed,
            },
            model: c.llm.model.clone(),
            settings: SettingsView {
                temperature: c.llm.temperature,
                max_tokens: c.llm.max_tokens,
                tts_speed: c.voice.speed,
            },
            llm: LlmView {
                provider: c.llm.provider.as_str(),
                model: c.llm.model,
                temperature: c.llm.temperature,
                max_tokens: c.llm.max_tokens,
            },
            stt: SttView {
                provider: c.stt.provider.as_str(),
                model: c.stt.model,
                language: c.stt.language,
            },
            stats: StatsView {
                calls_handled: stats.calls_handled,
                avg_latency: stats.avg_latency,
                p50_latency: stats.p50_latency,
                p90_latency: stats.p90_latency,
                success_rate: stats.success_rate,
            },
            call_flow: c.call_flow,
            knowledge_document_ids: c
                .knowledge_document_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            tools: c.tools,
            end_call_phrases: c.end_call_phrases,
            max_call_duration_secs: c.max_call_duration_secs,
            webhook_url: c.webhook_url,
            turn_taking: c.turn_taking.into(),
            voicemail: VoicemailView {
                detect_machine: c.voicemail.detect_machine,
                message: c.voicemail.message,
            },
            analysis_schema: c.analysis_schema,
            created_at: agent.created_at,
            updated_at: agent.updated_at,
        }
    }
}

/// Views of agents with their figures, computed in one query for all of them.
async fn views(state: &AppState, agents: Vec<Agent>) -> Result<Vec<AgentView>, ApiError> {
    let Some(organization) = agents.first().map(|a| a.organization_id) else {
        return Ok(Vec::new());
    };
    let ids: Vec<AgentId> = agents.iter().map(|a| a.id).collect();
    let stats = state.agents.stats(organization, &ids).await?;
    Ok(agents
        .into_iter()
        .zip(stats)
        .map(|(a, s)| AgentView::new(a, s))
        .collect())
}

async fn view(state: &AppState, agent: Agent) -> Result<AgentView, ApiError> {
    let mut views = views(state, vec![agent]).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("an agent view went missing")))
}

/// A page of agents.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    pub items: Vec<AgentView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// List filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AgentQuery {
    /// 1-based page (default 1).
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(rename = "page_size")]
    #[serde(alias = "limit")]
    pub page_size: Option<u64>,
    /// Only agents of this status.
    pub status: Option<String>,
}

async fn list(
    state: &AppState,
    user: CurrentUser,
    query: &AgentQuery,
) -> Result<(Vec<AgentView>, u64, PageRequest), ApiError> {
    let page = page_request(query.page, query.page_size)?;
    let status = query
        .status
        .as_deref()
        .map(AgentStatus::parse)
        .transpose()
        .map_err(|message| ApiError::field("status", message))?;
    let agents = state
        .agents
        .list(user.0.organization_id, status, page)
        .await?;
    Ok((views(state, agents.items).await?, agents.total, page))
}

/// The organisation's agents, newest first.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(AgentQuery),
    responses(
        (status = 200, description = "A page of agents", body = AgentList),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Invalid paging or status", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_agents(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<AgentQuery>,
) -> Result<web::Json<AgentList>, ApiError> {
    let (items, total, page) = list(&state, user, &query).await?;
    Ok(web::Json(AgentList {
        items,
        total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// The organisation's agents as a plain array (the total is in `X-Total-Count`).
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(AgentQuery),
    responses(
        (status = 200, description = "Agents", body = Vec<AgentView>,
            headers(("x-total-count" = u64, description = "Agents in all pages"))),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_agents_array(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<AgentQuery>,
) -> Result<HttpResponse, ApiError> {
    let (items, total, _) = list(&state, user, &query).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::HeaderName::from_static("x-total-count"), total))
        .json(items))
}

/// Creates an agent; only `name` is required.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    request_body = AgentRequest,
    responses(
        (status = 201, description = "Created", body = AgentView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[post("")]
pub async fn create_agent(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<AgentRequest>,
) -> Result<HttpResponse, ApiError> {
    let (input, status) = body.into_inner().into_input();
    let agent = state
        .agents
        .create(user.0.organization_id, input, status.as_deref())
        .await?;
    Ok(HttpResponse::Created().json(view(&state, agent).await?))
}

/// One agent.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The agent", body = AgentView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
    )
)]
#[get("/{agent_id}")]
pub async fn get_agent(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<AgentView>, ApiError> {
    let id: AgentId = parse_path_id(&path, "agent")?;
    let agent = state.agents.get(user.0.organization_id, id).await?;
    Ok(web::Json(view(&state, agent).await?))
}

async fn update(
    user: CurrentUser,
    state: &AppState,
    path: &str,
    body: AgentRequest,
) -> Result<web::Json<AgentView>, ApiError> {
    let id: AgentId = parse_path_id(path, "agent")?;
    let (input, status) = body.into_input();
    let agent = state
        .agents
        .update(user.0.organization_id, id, input, status.as_deref())
        .await?;
    Ok(web::Json(view(state, agent).await?))
}

/// Changes the fields that are sent; the others keep their values.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    request_body = AgentRequest,
    responses(
        (status = 200, description = "The updated agent", body = AgentView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[put("/{agent_id}")]
pub async fn update_agent(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<AgentRequest>,
) -> Result<web::Json<AgentView>, ApiError> {
    update(user, &state, &path, body.into_inner()).await
}

/// The same as `PUT`: only the fields sent change.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    request_body = AgentRequest,
    responses(
        (status = 200, description = "The updated agent", body = AgentView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[patch("/{agent_id}")]
pub async fn patch_agent(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<AgentRequest>,
) -> Result<web::Json<AgentView>, ApiError> {
    update(user, &state, &path, body.into_inner()).await
}

/// Deletes an agent. Its numbers are unassigned; its past calls stay readable.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
    )
)]
#[delete("/{agent_id}")]
pub async fn delete_agent(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let id: AgentId = parse_path_id(&path, "agent")?;
    state.agents.delete(user.0.organization_id, id).await?;
    Ok(web::Json(MessageResponse::new("Agent deleted")))
}

async fn set_status(
    user: CurrentUser,
    state: &AppState,
    path: &str,
    status: AgentStatus,
) -> Result<web::Json<AgentView>, ApiError> {
    let id: AgentId = parse_path_id(path, "agent")?;
    let agent = state
        .agents
        .set_status(user.0.organization_id, id, status)
        .await?;
    Ok(web::Json(view(state, agent).await?))
}

/// Pauses an agent: it takes no new calls until resumed.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The paused agent", body = AgentView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
    )
)]
#[post("/{agent_id}/pause")]
pub async fn pause_agent(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<AgentView>, ApiError> {
    set_status(user, &state, &path, AgentStatus::Paused).await
}

/// Resumes a paused or inactive agent.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The active agent", body = AgentView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
    )
)]
#[post("/{agent_id}/resume")]
pub async fn resume_agent(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<AgentView>, ApiError> {
    set_status(user, &state, &path, AgentStatus::Active).await
}

/// The agent's call flow (`{"nodes": [], "edges": []}` when it has none).
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The flow graph", body = Object),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
    )
)]
#[get("/{agent_id}/flow")]
pub async fn get_flow(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let id: AgentId = parse_path_id(&path, "agent")?;
    let agent = state.agents.get(user.0.organization_id, id).await?;
    Ok(web::Json(agent.config.call_flow.unwrap_or_else(
        || serde_json::json!({"nodes": [], "edges": []}),
    )))
}

/// Replaces the agent's call flow after checking the whole graph; a 422 lists every problem.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    request_body(content = Object, description = "The flow graph: nodes and edges"),
    responses(
        (status = 200, description = "The stored flow", body = Object),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "Every problem of the graph", body = ErrorBody),
    )
)]
#[put("/{agent_id}/flow")]
pub async fn put_flow(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<serde_json::Value>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let id: AgentId = parse_path_id(&path, "agent")?;
    let agent = state
        .agents
        .put_flow(user.0.organization_id, id, body.into_inner())
        .await?;
    Ok(web::Json(agent.config.call_flow.unwrap_or_else(
        || serde_json::json!({"nodes": [], "edges": []}),
    )))
}

/// Every route of one agent (the list differs by mount, so it is registered separately).
pub fn agent_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_agent)
        .service(get_agent)
        .service(update_agent)
        .service(patch_agent)
        .service(delete_agent)
        .service(pause_agent)
        .service(resume_agent)
        .service(get_flow)
        .service(put_flow)
        .service(crate::routes::analytics::agent_stats);
}
