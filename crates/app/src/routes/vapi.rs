//! Vapi's server webhooks (seed 004): `POST /api/v1/vapi/webhook` answers assistant requests,
//! tool and function calls (the knowledge-base search), acknowledges status updates, and queues
//! end-of-call reports to be stored as the organisation's calls; `POST /api/v1/vapi/function`
//! answers tool and function calls only. Vapi carries no user token: every request must present
//! `VAPI_SECRET` (`x-vapi-secret`, or `Authorization: Bearer`), and names its organisation with
//! `?org=<organisation id>` in the server URL configured at Vapi.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use switchboard_domain::call::ExternalCall;
use switchboard_domain::ids::OrganizationId;
use switchboard_domain::knowledge::KnowledgeError;
use switchboard_domain::template::{TemplateVars, render};
use switchboard_domain::validation::is_http_url;
use switchboard_vapi::{
    Assistant, EndOfCallReport, ParseError, Role, SEARCH_KNOWLEDGE_BASE, ServerMessage, ToolCall,
    ToolResult,
};
use tracing::{info, warn};
use utoipa::IntoParams;

use crate::call_log_queue::Job;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Knowledge chunks read back to the assistant per search.
const SEARCH_TOP_K: usize = 3;
/// Transcript lines kept from one report (the call log's own limit).
const MAX_LINES: usize = 2000;
/// The longest call and phone number the call log keeps.
const MAX_DURATION_SECS: i64 = 86_400;
const MAX_NUMBER_CHARS: usize = 200;
const NO_AGENT: &str =
    "Sorry, nobody can take your call right now. Please try again later. Goodbye.";
const NEED_QUERY: &str =
    "I need more information to search. Could you please clarify your question?";
const NOTHING_FOUND: &str = "I couldn't find specific information about that in our knowledge base. Let me try to help you another way.";
const SEARCH_FAILED: &str = "the knowledge base cannot be searched right now";

/// Which organisation the webhook is for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct VapiQuery {
    /// The organisation's id, as given by `GET /api/v1/auth/me` (`organization_id`).
    org: Option<String>,
}

/// Checks the shared secret in constant time: `x-vapi-secret: <secret>` (legacy) or
/// `Authorization: Bearer <secret>` (current credentials).
fn authenticate(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let Some(secret) = &state.settings.vapi_secret else {
        return Err(ApiError::ServiceUnavailable(
            "Vapi webhooks cannot be checked: set VAPI_SECRET".into(),
        ));
    };
    let expected = secret.expose().as_bytes();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let presented = [
        header("x-vapi-secret").map(str::trim),
        header("authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim),
    ];
    let matches = presented
        .into_iter()
        .flatten()
        .any(|given| bool::from(given.as_bytes().ct_eq(expected)));
    if matches {
        Ok(())
    } else {
        warn!("a Vapi webhook came without the right secret");
        Err(ApiError::Unauthorized(
            "present VAPI_SECRET in the x-vapi-secret header or as a Bearer token".into(),
        ))
    }
}

/// The organisation named by `?org=`, which must exist.
async fn organization(state: &AppState, query: &VapiQuery) -> Result<OrganizationId, ApiError> {
    let raw = query
        .org
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| ApiError::field("org", "the organisation's id is required"))?;
    let unknown = || ApiError::NotFound("no organisation with this id".into());
    let id = raw.parse::<OrganizationId>().map_err(|_| unknown())?;
    if state.calls.organization_exists(id).await? {
        Ok(id)
    } else {
        Err(unknown())
    }
}

fn parse(body: &[u8]) -> Result<ServerMessage, ApiError> {
    switchboard_vapi::parse(body).map_err(|e| match e {
        ParseError::NotJson(e) => ApiError::BadRequest(format!("the body is not JSON: {e}")),
        ParseError::MissingType => ApiError::field("message.type", "is required"),
    })
}

/// Answers Vapi's server messages for the organisation named by `?org=`.
#[utoipa::path(
    tag = "vapi",
    params(VapiQuery),
    request_body(content = Object, description = "A Vapi server message: {\"message\": {\"type\": ...}}"),
    responses(
        (status = 200, description = "The answer Vapi expects for the message's type", body = Object),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "The secret is missing or wrong", body = ErrorBody),
        (status = 404, description = "No organisation with this id", body = ErrorBody),
        (status = 422, description = "message.type or org is missing", body = ErrorBody),
        (status = 503, description = "VAPI_SECRET is not set, or too many reports are waiting", body = ErrorBody),
    )
)]
#[post("/webhook")]
pub async fn webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<VapiQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    let organization = organization(&state, &query).await?;
    let answer = match parse(&body)? {
        ServerMessage::AssistantRequest { call_id } => {
            info!(
                vapi.call_id = call_id.as_deref().unwrap_or(""),
                "Vapi asks for an assistant"
            );
            assistant(&state, organization).await?
        }
        ServerMessage::ToolCalls(calls) => tool_calls(&state, organization, &calls).await,
        ServerMessage::FunctionCall(call) => function_call(&state, organization, &call).await,
        ServerMessage::StatusUpdate { call_id, status } => {
            // Live dashboards will subscribe to these; for now they are logged.
            info!(
                vapi.call_id = call_id.as_deref().unwrap_or(""),
                status = status.as_deref().unwrap_or(""),
                "a Vapi call changed status"
            );
            json!({"status": "ok"})
        }
        ServerMessage::EndOfCallReport(report) => {
            let call = external_call(*report);
            state
                .call_log_queue
                .submit(Job {
                    organization,
                    source: "vapi",
                    call,
                })
                .map_err(|e| ApiError::ServiceUnavailable(e.to_string()))?;
            json!({"status": "processing"})
        }
        ServerMessage::Other(kind) => {
            info!(kind, "a Vapi message needs no action");
            json!({})
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// Answers Vapi's tool and function calls (the separate function URL of seed 004).
#[utoipa::path(
    tag = "vapi",
    params(VapiQuery),
    request_body(content = Object, description = "A Vapi tool-calls or function-call message"),
    responses(
        (status = 200, description = "The tool results", body = Object),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "The secret is missing or wrong", body = ErrorBody),
        (status = 404, description = "No organisation with this id", body = ErrorBody),
        (status = 422, description = "Not a tool-calls or function-call message", body = ErrorBody),
        (status = 503, description = "VAPI_SECRET is not set", body = ErrorBody),
    )
)]
#[post("/function")]
pub async fn function(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<VapiQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    let organization = organization(&state, &query).await?;
    let answer = match parse(&body)? {
        ServerMessage::ToolCalls(calls) => tool_calls(&state, organization, &calls).await,
        ServerMessage::FunctionCall(call) => function_call(&state, organization, &call).await,
        _ => {
            return Err(ApiError::field(
                "message.type",
                "must be tool-calls or function-call",
            ));
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// The organisation's answering agent as a Vapi assistant, or a spoken apology.
async fn assistant(state: &AppState, organization: OrganizationId) -> Result<Value, ApiError> {
    let Some(agent) = state.calls.answering_agent(organization).await? else {
        info!("Vapi asked for an assistant, but the organisation has no active agent");
        return Ok(switchboard_vapi::error_answer(NO_AGENT));
    };
    let config = agent.config;
    let vars = TemplateVars::new().with("agent_name", config.name.clone());
    let voice_provider = match config.voice.provider.as_str() {
        // Vapi's name for ElevenLabs.
        "elevenlabs" => "11labs",
        other => other,
    };
    let (transcriber_provider, transcriber_model) = match config.stt.provider.as_str() {
        "whisper" => ("openai", "whisper-1".to_owned()),
        other => (other, config.stt.model.clone()),
    };
    Ok(switchboard_vapi::assistant_answer(&Assistant {
        first_message: config
            .first_message
            .as_deref()
            .map(|m| render(m, &vars))
            .filter(|m| !m.trim().is_empty()),
        name: config.name,
        system_prompt: config.system_prompt,
        model_provider: config.llm.provider.as_str().to_owned(),
        model: config.llm.model,
        temperature: config.llm.temperature,
        max_tokens: config.llm.max_tokens,
        voice_provider: voice_provider.to_owned(),
        voice_id: config.voice.voice_id,
        transcriber_provider: transcriber_provider.to_owned(),
        transcriber_model,
        language: config.stt.language,
    }))
}

async fn tool_calls(state: &AppState, organization: OrganizationId, calls: &[ToolCall]) -> Value {
    let mut results = Vec::with_capacity(calls.len());
    for call in calls {
        results.push(ToolResult {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            outcome: run(state, organization, call).await,
        });
    }
    switchboard_vapi::tool_calls_answer(&results)
}

async fn function_call(state: &AppState, organization: OrganizationId, call: &ToolCall) -> Value {
    let text = match run(state, organization, call).await {
        Ok(text) => text,
        Err(error) => format!("I'm having trouble with that request: {error}."),
    };
    switchboard_vapi::function_call_answer(&text)
}

/// Runs one tool: only the knowledge-base search is known.
async fn run(
    state: &AppState,
    organization: OrganizationId,
    call: &ToolCall,
) -> Result<String, String> {
    if call.name != SEARCH_KNOWLEDGE_BASE {
        return Err(format!("unknown function {:?}", call.name));
    }
    let Some(query) = call.text_argument("query") else {
        return Ok(NEED_QUERY.to_owned());
    };
    match state
        .knowledge
        .search(organization, query, None, SEARCH_TOP_K)
        .await
    {
        Ok(hits) if hits.is_empty() => Ok(NOTHING_FOUND.to_owned()),
        Ok(hits) => {
            let context: Vec<&str> = hits.iter().map(|h| h.text.as_str()).collect();
            Ok(format!(
                "Based on our knowledge base: {}",
                context.join("\n\n")
            ))
        }
        Err(KnowledgeError::Invalid(errors)) => Err(errors.to_string()),
        Err(error) => {
            warn!(error = %error, "a Vapi knowledge-base search failed");
            Err(SEARCH_FAILED.to_owned())
        }
    }
}

/// The call to store: a repeated report carries the same Vapi call id, hence the same key.
/// Values the call log would refuse (a recording that is not an http(s) URL, a duration over a
/// day, an overlong number) are left out rather than losing the whole call.
fn external_call(report: EndOfCallReport) -> ExternalCall {
    let duration_secs = report
        .duration_secs()
        .filter(|secs| (0..=MAX_DURATION_SECS).contains(secs));
    let metadata = json!({
        "source": "vapi",
        "vapi_call_id": report.call_id,
        "cost": report.cost,
        "endedReason": report.ended_reason,
        "summary": report.summary,
    });
    ExternalCall {
        agent_id: None,
        phone_number: report
            .customer_number
            .filter(|n| n.chars().count() <= MAX_NUMBER_CHARS),
        direction: report.direction.map(ToOwned::to_owned),
        status: Some("completed".to_owned()),
        started_at: report.started_at,
        duration_secs,
        turns: report
            .lines
            .into_iter()
            .take(MAX_LINES)
            .map(|line| {
                let speaker = match line.role {
                    Role::Assistant => "agent",
                    Role::User => "customer",
                };
                (speaker.to_owned(), line.text, line.at)
            })
            .collect(),
        recording_url: report.recording_url.filter(|url| is_http_url(url)),
        metadata,
        end_reason: report.ended_reason,
        idempotency_key: report.call_id.map(|id| format!("vapi:{id}")),
    }
}
