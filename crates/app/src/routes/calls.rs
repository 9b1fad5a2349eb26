//! Text calls: the canonical `/api/v1/calls`, seed 002's `/api/v1/sales/...`, seed 000's
//! `/conversations/{session_id}/message` and seed 001's `/api/test/agent/{id}`. Every turn is
//! stored before it is answered.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::call::{
    Call, CallAnalysis, CallAnalysisState, CallChannel, CallDirection, CallStart, CallTarget,
    CallTurn, TurnAnswer, TurnLatency,
};
use switchboard_domain::ids::{AgentId, CallId};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::http::json::ApiJson;
use crate::routes::knowledge::SearchResultView;
use crate::routes::outbound::{PhoneCall, idempotency_key, place_phone_call};
use crate::routes::parse_path_id;
use crate::routes::voice::{VoiceConnection, start_web_call};
use crate::state::AppState;

/// Starts a call.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StartCallRequest {
    /// `text` (the default), `web` (a voice call in the browser) or `phone` (an outbound call
    /// to `phone_number`; send an `Idempotency-Key` header so a retried request never dials
    /// twice).
    pub channel: Option<String>,
    /// The agent who answers; without it, `scenario`, else the organisation's newest active agent.
    pub agent_id: Option<String>,
    /// A built-in scenario's name (`sales`, `support`, `appointment`) or a custom scenario id.
    #[serde(alias = "scenario_id")]
    pub scenario: Option<String>,
    pub customer_name: Option<String>,
    pub phone_number: Option<String>,
    /// `inbound` (default) or `outbound`.
    pub direction: Option<String>,
}

/// A caller's message.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageRequest {
    #[serde(alias = "text")]
    pub message: String,
}

/// How long a turn took, in milliseconds from the caller's words (on voice calls, from the end
/// of their speech).
#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyView {
    pub first_token_ms: Option<u64>,
    /// Until the caller had the answer: the whole reply on text calls, the first audio frame on
    /// voice calls.
    pub total_ms: u64,
    /// Voice: until the final transcript.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript_ms: Option<u64>,
    /// Voice: until the first synthesised audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_audio_ms: Option<u64>,
    /// Voice: until the first audio frame went out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame_ms: Option<u64>,
}

impl From<TurnLatency> for LatencyView {
    fn from(l: TurnLatency) -> Self {
        Self {
            first_token_ms: l.first_token_ms,
            total_ms: l.total_ms,
            transcript_ms: l.transcript_ms,
            first_audio_ms: l.first_audio_ms,
            first_frame_ms: l.first_frame_ms,
        }
    }
}

/// One line of a transcript.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnView {
    pub index: u32,
    /// `agent` or `customer`.
    pub speaker: &'static str,
    pub text: String,
    pub timestamp: DateTime<Utc>,
    pub latency: Option<LatencyView>,
}

impl From<CallTurn> for TurnView {
    fn from(t: CallTurn) -> Self {
        Self {
            index: t.index,
            speaker: t.speaker.as_str(),
            text: t.text,
            timestamp: t.at,
            latency: t.latency.map(Into::into),
        }
    }
}

/// What the post-call analysis found.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalysisView {
    pub summary: String,
    /// `positive`, `neutral`, `negative` or `mixed`.
    pub sentiment: &'static str,
    /// From -1 (very negative) to 1 (very positive).
    pub sentiment_score: f64,
    /// A snake_case label, e.g. `billing`.
    pub category: String,
    /// `resolved`, `unresolved` or `escalated`.
    pub resolution: &'static str,
    pub key_topics: Vec<String>,
    pub action_items: Vec<String>,
    /// The fields the agent's `analysis_schema` asks for.
    #[schema(value_type = Object)]
    pub extracted: serde_json::Map<String, serde_json::Value>,
    /// `llm` (the language model) or `local` (the offline lexicon analyser).
    pub analyzer: &'static str,
    pub analyzed_at: DateTime<Utc>,
}

impl AnalysisView {
    /// The view of a completed analysis.
    pub(crate) fn of(state: &CallAnalysisState) -> Option<Self> {
        let CallAnalysisState::Completed {
            analysis,
            analyzed_at,
        } = state
        else {
            return None;
        };
        let CallAnalysis {
            summary,
            sentiment,
            sentiment_score,
            category,
            resolution,
            key_topics,
            action_items,
            extracted,
            analyzer,
        } = analysis.as_ref();
        Some(Self {
            summary: summary.clone(),
            sentiment: sentiment.as_str(),
            sentiment_score: *sentiment_score,
            category: category.as_str().to_owned(),
            resolution: resolution.as_str(),
            key_topics: key_topics.clone(),
            action_items: action_items.clone(),
            extracted: extracted.clone(),
            analyzer: analyzer.as_str(),
            analyzed_at: *analyzed_at,
        })
    }
}

/// A call.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallView {
    pub id: String,
    /// The same as `id`.
    pub call_id: String,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub scenario: Option<String>,
    /// `text`, `web` or `phone`.
    pub channel: &'static str,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// `queued`, `ringing`, `in_progress`, `completed`, `busy`, `no_answer`, `failed` or `canceled`.
    pub status: &'static str,
    pub customer_name: Option<String>,
    pub phone_number: Option<String>,
    pub session_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub duration_seconds: Option<i64>,
    /// Where the recording is (voice calls, once ended).
    pub recording_url: Option<String>,
    /// The telephony provider's id of the call (Twilio's `CallSid`).
    pub provider_call_id: Option<String>,
    /// The mean response time of the agent's answers, in milliseconds (on reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<f64>,
    /// What the agent said first (on start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_message: Option<String>,
    /// Where the browser connects (on start of a web call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<VoiceConnection>,
    /// The transcript (on reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<TurnView>>,
    /// `pending`, `completed` or `failed` once the call has ended; `null` while it goes on.
    pub analysis_status: Option<&'static str>,
    /// The post-call analysis, once completed.
    pub analysis: Option<AnalysisView>,
}

/// The mean response time of a transcript's answers, when any has one.
pub(crate) fn mean_response_ms(turns: &[CallTurn]) -> Option<f64> {
    let latencies: Vec<u64> = turns
        .iter()
        .filter_map(|t| t.latency.map(|l| l.response_ms()))
        .collect();
    (!latencies.is_empty()).then(|| latencies.iter().sum::<u64>() as f64 / latencies.len() as f64)
}

impl CallView {
    pub(crate) fn new(
        call: Call,
        first_message: Option<String>,
        turns: Option<Vec<CallTurn>>,
    ) -> Self {
        let duration = call.duration_secs();
        Self {
            analysis_status: call.analysis.status().map(|s| s.as_str()),
            analysis: AnalysisView::of(&call.analysis),
            id: call.id.to_string(),
            call_id: call.id.to_string(),
            agent_id: call.agent_id.map(|a| a.to_string()),
            agent_name: call.agent_name,
            scenario: call.scenario,
            channel: call.channel.as_str(),
            direction: call.direction.as_str(),
            status: call.status.as_str(),
            customer_name: call.customer_name,
            phone_number: call.phone_number,
            session_id: call.session_key,
            started_at: call.started_at,
            ended_at: call.ended_at,
            end_reason: call.end_reason,
            duration_seconds: duration,
            recording_url: call.recording_url,
            provider_call_id: call.provider_call_id,
            latency: turns.as_deref().and_then(mean_response_ms),
            first_message,
            connection: None,
            transcript: turns.map(|turns| turns.into_iter().map(Into::into).collect()),
        }
    }
}

/// The agent's answer to a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnResponse {
    pub reply: String,
    pub should_end_call: bool,
    pub end_reason: Option<&'static str>,
    /// The call's status after the turn.
    pub status: &'static str,
    /// Knowledge chunks the agent was given this turn.
    pub chunks: Vec<SearchResultView>,
    pub tools_called: Vec<String>,
    pub transfer_to: Option<String>,
    pub latency: LatencyView,
}

impl From<TurnAnswer> for TurnResponse {
    fn from(a: TurnAnswer) -> Self {
        Self {
            reply: a.reply.text,
            should_end_call: a.reply.should_end_call,
            end_reason: a.reply.end_reason.as_ref().map(|r| r.as_str()),
            status: a.call.status.as_str(),
            chunks: a.reply.knowledge.into_iter().map(Into::into).collect(),
            tools_called: a.reply.tools_called,
            transfer_to: a.reply.transfer_to,
            latency: a.latency.into(),
        }
    }
}

pub(crate) fn target(
    agent_id: Option<&str>,
    scenario: Option<&str>,
) -> Result<CallTarget, ApiError> {
    match (
        agent_id.map(str::trim).filter(|a| !a.is_empty()),
        scenario.map(str::trim).filter(|s| !s.is_empty()),
    ) {
        (Some(agent), _) => {
            Ok(CallTarget::Agent(agent.parse::<AgentId>().map_err(
                |_| ApiError::NotFound("agent not found".into()),
            )?))
        }
        (None, Some(scenario)) => Ok(CallTarget::Scenario(scenario.to_owned())),
        (None, None) => Ok(CallTarget::Default),
    }
}

/// Starts a text call (the answer carries the agent's first message) or a web call (the answer
/// also says where the browser connects, with a short-lived token).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    request_body = StartCallRequest,
    responses(
        (status = 201, description = "The call, with first_message", body = CallView),
        (status = 404, description = "No such agent or scenario", body = ErrorBody),
        (status = 409, description = "The agent is paused or inactive", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        (status = 503, description = "The agent needs a language model (or, for web calls, speech) that is not configured or not answering", body = ErrorBody),
    )
)]
#[post("")]
pub async fn start_call(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<StartCallRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let channel = match body.channel.as_deref() {
        None => CallChannel::Text,
        Some(raw) => match CallChannel::parse(raw) {
            Ok(channel) => channel,
            Err(message) => return Err(ApiError::field("channel", message)),
        },
    };
    let direction = body
        .direction
        .as_deref()
        .map(CallDirection::parse)
        .transpose()
        .map_err(|m| ApiError::field("direction", m))?
        .unwrap_or(CallDirection::Inbound);
    let start = CallStart {
        target: target(body.agent_id.as_deref(), body.scenario.as_deref())?,
        channel,
        direction,
        customer_name: body.customer_name,
        phone_number: body.phone_number,
        session_key: None,
        provider_call_id: None,
        idempotency_key: None,
    };
    if channel == CallChannel::Web {
        let web_call = start_web_call(&req, &state, &user, start).await?;
        let mut view = web_call.call;
        view.connection = Some(web_call.connection);
        return Ok(HttpResponse::Created().json(view));
    }
    if channel == CallChannel::Phone {
        let phone_number = start
            .phone_number
            .ok_or_else(|| ApiError::field("phone_number", "required for phone calls"))?;
        let opened = place_phone_call(
            &req,
            &state,
            &user,
            PhoneCall {
                target: start.target,
                phone_number,
                customer_name: start.customer_name,
                idempotency_key: idempotency_key(&req)?,
            },
        )
        .await?;
        return Ok(HttpResponse::Created().json(CallView::new(
            opened.call,
            Some(opened.first_message),
            None,
        )));
    }
    let opened = state
        .calls
        .start(user.0.organization_id, Some(user.0.user_id), start)
        .await?;
    Ok(HttpResponse::Created().json(CallView::new(opened.call, Some(opened.first_message), None)))
}

/// A call with its transcript.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call", body = CallView),
        (status = 404, description = "No such call in your organisation", body = ErrorBody),
    )
)]
#[get("/{call_id}")]
pub async fn get_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<CallView>, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    let (call, turns) = state.calls.get(user.0.organization_id, id).await?;
    Ok(web::Json(CallView::new(call, None, Some(turns))))
}

/// Sends the caller's message and returns the agent's reply.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    request_body = MessageRequest,
    responses(
        (status = 200, description = "The reply", body = TurnResponse),
        (status = 400, description = "Empty message", body = ErrorBody),
        (status = 404, description = "No such call, or it has ended", body = ErrorBody),
        (status = 409, description = "Another message of this call is being answered", body = ErrorBody),
        (status = 503, description = "The language model is not configured or not answering; the message is kept", body = ErrorBody),
    )
)]
#[post("/{call_id}/messages")]
pub async fn send_message(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<MessageRequest>,
) -> Result<web::Json<TurnResponse>, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    let answer = state
        .calls
        .respond(user.0.organization_id, id, &body.message)
        .await?;
    Ok(web::Json(answer.into()))
}

/// Ends a call (an ended call is returned as it is).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The ended call", body = CallView),
        (status = 404, description = "No such call in your organisation", body = ErrorBody),
    )
)]
#[post("/{call_id}/end")]
pub async fn end_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<CallView>, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    let call = crate::routes::outbound::end_call(&state, &user, id).await?;
    Ok(web::Json(CallView::new(call, None, None)))
}

/// Seed 002's clients send a 400 for a malformed body or missing fields.
fn as_bad_request(error: ApiError) -> ApiError {
    match error {
        ApiError::Invalid(errors) => ApiError::BadRequest(errors.to_string()),
        ApiError::Unprocessable(detail) => ApiError::BadRequest(detail),
        other => other,
    }
}

/// Seed 002: starts a sales call.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SalesStartRequest {
    #[schema(example = "123-456-7890")]
    pub phone_number: String,
    #[schema(example = "John Doe")]
    pub customer_name: String,
    /// The agent; default: the organisation's newest active agent, else the sales scenario.
    pub agent_id: Option<String>,
}

/// Seed 002's answer to a start.
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesStarted {
    pub call_id: String,
    pub first_message: String,
}

/// Seed 002's answer to a turn.
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesReply {
    pub reply: String,
    pub should_end_call: bool,
    /// What was heard, when the caller spoke (`respond-audio`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

/// One line of seed 002's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryLine {
    pub speaker: &'static str,
    pub text: String,
    pub timestamp: DateTime<Utc>,
}

/// Seed 002's conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesConversation {
    pub call_id: String,
    pub customer_name: Option<String>,
    pub phone_number: Option<String>,
    pub history: Vec<HistoryLine>,
    pub is_active: bool,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
}

/// Seed 002: starts a sales call and returns the agent's greeting.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    request_body = SalesStartRequest,
    responses(
        (status = 201, description = "Started", body = SalesStarted),
        (status = 400, description = "Malformed body or missing fields", body = ErrorBody),
        (status = 503, description = "The language model is not available", body = ErrorBody),
    )
)]
#[post("/start-call")]
pub async fn sales_start(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: Result<ApiJson<SalesStartRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(as_bad_request)?.into_inner();
    let opened = state
        .calls
        .start(
            user.0.organization_id,
            Some(user.0.user_id),
            CallStart {
                target: target(body.agent_id.as_deref(), None)?,
                channel: CallChannel::Text,
                direction: CallDirection::Outbound,
                customer_name: Some(body.customer_name),
                phone_number: Some(body.phone_number),
                session_key: None,
                provider_call_id: None,
                idempotency_key: None,
            },
        )
        .await
        .map_err(|e| as_bad_request(e.into()))?;
    Ok(HttpResponse::Created().json(SalesStarted {
        call_id: opened.call.id.to_string(),
        first_message: opened.first_message,
    }))
}

/// Seed 002: the customer's text message and the agent's reply.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    request_body = MessageRequest,
    responses(
        (status = 200, description = "The reply", body = SalesReply),
        (status = 400, description = "Empty message", body = ErrorBody),
        (status = 404, description = "No such call, or it has ended", body = ErrorBody),
        (status = 503, description = "The language model is not available", body = ErrorBody),
    )
)]
#[post("/respond/{call_id}")]
pub async fn sales_respond(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Result<ApiJson<MessageRequest>, ApiError>,
) -> Result<web::Json<SalesReply>, ApiError> {
    let body = body.map_err(as_bad_request)?;
    let id: CallId = parse_path_id(&path, "call")?;
    let answer = state
        .calls
        .respond(user.0.organization_id, id, &body.message)
        .await?;
    Ok(web::Json(SalesReply {
        reply: answer.reply.text,
        should_end_call: answer.reply.should_end_call,
        transcript: None,
    }))
}

/// Seed 002: the whole conversation of a call.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The conversation", body = SalesConversation),
        (status = 404, description = "No such call", body = ErrorBody),
    )
)]
#[get("/conversation/{call_id}")]
pub async fn sales_conversation(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<SalesConversation>, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    let (call, turns) = state.calls.get(user.0.organization_id, id).await?;
    Ok(web::Json(SalesConversation {
        call_id: call.id.to_string(),
        is_active: call.is_active(),
        customer_name: call.customer_name,
        phone_number: call.phone_number,
        history: turns
            .into_iter()
            .map(|t| HistoryLine {
                speaker: t.speaker.as_str(),
                text: t.text,
                timestamp: t.at,
            })
            .collect(),
        start_time: call.started_at,
        end_time: call.ended_at,
    }))
}

/// Seed 000: a message in a chat session with an agent.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionMessageRequest {
    #[serde(alias = "text")]
    pub message: String,
    /// The agent; default: the organisation's newest active agent.
    pub agent_id: Option<String>,
}

/// Seed 000: the agent's answer with the knowledge chunks it used.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionReply {
    pub session_id: String,
    pub call_id: String,
    /// The agent's reply (`reply` again, under the name seed 000 reads).
    pub response: String,
    pub reply: String,
    /// The greeting, when this message opened the session.
    pub first_message: Option<String>,
    pub chunks: Vec<SearchResultView>,
    pub should_end_call: bool,
    pub timestamp: DateTime<Utc>,
    /// What was heard, when the message was audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

/// Seed 000: sends a message in a chat session; the first message of a session (or the first
/// after its conversation ended) starts a new conversation.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("session_id" = String, Path, description = "The client's session id")),
    request_body = SessionMessageRequest,
    responses(
        (status = 200, description = "The reply", body = SessionReply),
        (status = 400, description = "Empty message", body = ErrorBody),
        (status = 404, description = "No such agent", body = ErrorBody),
        (status = 503, description = "The language model is not available", body = ErrorBody),
    )
)]
#[post("/{session_id}/message")]
pub async fn session_message(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<SessionMessageRequest>,
) -> Result<web::Json<SessionReply>, ApiError> {
    let body = body.into_inner();
    let reply = session_turn(
        &state,
        &user,
        path.into_inner(),
        body.agent_id.as_deref(),
        &body.message,
    )
    .await?;
    Ok(web::Json(reply))
}

/// One message in a seed 000 chat session, opening the session's call when it has none.
pub(crate) async fn session_turn(
    state: &AppState,
    user: &CurrentUser,
    session_id: String,
    agent_id: Option<&str>,
    message: &str,
) -> Result<SessionReply, ApiError> {
    let organization = user.0.organization_id;
    let existing = state
        .calls
        .find_session(organization, &session_id)
        .await?
        .filter(Call::is_active);
    let (call_id, first_message) = match existing {
        Some(call) => (call.id, None),
        None => {
            let opened = state
                .calls
                .start(
                    organization,
                    Some(user.0.user_id),
                    CallStart {
                        target: target(agent_id, None)?,
                        channel: CallChannel::Text,
                        direction: CallDirection::Inbound,
                        customer_name: None,
                        phone_number: None,
                        session_key: Some(session_id.clone()),
                        provider_call_id: None,
                        idempotency_key: None,
                    },
                )
                .await?;
            (opened.call.id, Some(opened.first_message))
        }
    };
    let answer = state.calls.respond(organization, call_id, message).await?;
    Ok(SessionReply {
        session_id,
        call_id: call_id.to_string(),
        response: answer.reply.text.clone(),
        reply: answer.reply.text,
        first_message,
        chunks: answer.reply.knowledge.into_iter().map(Into::into).collect(),
        should_end_call: answer.reply.should_end_call,
        timestamp: answer.call.updated_at,
        transcript: None,
    })
}

/// Seed 001: a test turn with an agent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AgentTestRequest {
    /// The caller's message; without it, only the greeting is returned.
    #[serde(alias = "text")]
    pub message: Option<String>,
    /// Continue this test call instead of starting a new one.
    pub call_id: Option<String>,
}

/// Seed 001: the test turn's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentTestResponse {
    pub call_id: String,
    pub first_message: Option<String>,
    pub reply: Option<String>,
    pub should_end_call: bool,
    pub chunks: Vec<SearchResultView>,
    pub latency: Option<LatencyView>,
}

/// Seed 001: tries an agent: starts a test call (or continues `call_id`) and answers `message`.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id")),
    request_body = AgentTestRequest,
    responses(
        (status = 200, description = "The greeting and reply", body = AgentTestResponse),
        (status = 404, description = "No such agent or call", body = ErrorBody),
        (status = 409, description = "The agent is paused or inactive", body = ErrorBody),
        (status = 503, description = "The language model is not available", body = ErrorBody),
    )
)]
#[post("/agent/{agent_id}")]
pub async fn test_agent(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Option<ApiJson<AgentTestRequest>>,
) -> Result<web::Json<AgentTestResponse>, ApiError> {
    let body = body.map(ApiJson::into_inner).unwrap_or_default();
    let agent: AgentId = parse_path_id(&path, "agent")?;
    let organization = user.0.organization_id;
    let (call_id, first_message) = match body.call_id.as_deref() {
        Some(id) => (parse_path_id::<CallId>(id, "call")?, None),
        None => {
            let opened = state
                .calls
                .start(
                    organization,
                    Some(user.0.user_id),
                    CallStart {
                        target: CallTarget::Agent(agent),
                        channel: CallChannel::Text,
                        direction: CallDirection::Inbound,
                        customer_name: None,
                        phone_number: None,
                        session_key: None,
                        provider_call_id: None,
                        idempotency_key: None,
                    },
                )
                .await?;
            (opened.call.id, Some(opened.first_message))
        }
    };
    let answer = match body.message.as_deref().filter(|m| !m.trim().is_empty()) {
        Some(message) => Some(state.calls.respond(organization, call_id, message).await?),
        None => None,
    };
    Ok(web::Json(AgentTestResponse {
        call_id: call_id.to_string(),
        first_message,
        should_end_call: answer.as_ref().is_some_and(|a| a.reply.should_end_call),
        reply: answer.as_ref().map(|a| a.reply.text.clone()),
        chunks: answer
            .as_ref()
            .map(|a| a.reply.knowledge.iter().cloned().map(Into::into).collect())
            .unwrap_or_default(),
        latency: answer.map(|a| a.latency.into()),
    }))
}
