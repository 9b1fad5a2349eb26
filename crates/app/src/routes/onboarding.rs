//! Seed 000's guided set-up under `/onboarding`, and its canonical twin under
//! `/api/v1/onboarding`: the company profile, the first agent, its voice and personality, its
//! channels, going live, and the status telling which steps are done. Every step answers with the
//! updated status, so the client knows what comes next, and can be sent again to change its
//! answer.

use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::agent::{AgentInput, VoiceInput};
use switchboard_domain::onboarding::{
    ChannelsInput, CompanyInput, OnboardingStatus, OnboardingStep, VoiceStepInput,
};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::http::json::ApiJson;
use crate::state::AppState;

/// The company step: the organisation's name (required) and time zone, and its profile. Sending
/// it again replaces the profile; without `time_zone` the organisation keeps its zone.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CompanyRequest {
    #[serde(alias = "company_name")]
    #[schema(example = "Acme Dental")]
    pub name: Option<String>,
    #[schema(example = "Healthcare")]
    pub industry: Option<String>,
    /// An http(s) URL; `acme.example` is read as `https://acme.example`.
    #[schema(example = "https://acme.example")]
    pub website: Option<String>,
    pub description: Option<String>,
    /// Free text such as `11-50`.
    #[serde(alias = "company_size")]
    #[schema(example = "11-50")]
    pub size: Option<String>,
    /// An IANA time zone.
    #[serde(alias = "timezone")]
    #[schema(example = "Europe/Berlin")]
    pub time_zone: Option<String>,
}

impl From<CompanyRequest> for CompanyInput {
    fn from(r: CompanyRequest) -> Self {
        Self {
            name: r.name,
            industry: r.industry,
            website: r.website,
            description: r.description,
            size: r.size,
            time_zone: r.time_zone,
        }
    }
}

/// The agent step: the organisation's first agent. The first time it is created (`name`
/// required, inactive until the deploy step); afterwards only the fields sent change.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AgentStepRequest {
    #[serde(alias = "agent_name")]
    #[schema(example = "Ava")]
    pub name: Option<String>,
    /// What the agent is for; `role` and `purpose` are read as this too.
    #[serde(alias = "role", alias = "purpose")]
    #[schema(example = "Books and moves appointments")]
    pub description: Option<String>,
    #[serde(alias = "prompt", alias = "instructions")]
    pub system_prompt: Option<String>,
    /// A template: `{customer_name}`, `{agent_name}`, `{company}`. An empty string removes it.
    #[serde(alias = "greeting", alias = "welcome_message")]
    #[schema(example = "Hi, this is {agent_name} from {company}. How can I help?")]
    pub first_message: Option<String>,
    /// A language tag such as `en` or `en-US`.
    pub language: Option<String>,
}

impl From<AgentStepRequest> for AgentInput {
    fn from(r: AgentStepRequest) -> Self {
        Self {
            name: r.name,
            description: r.description,
            system_prompt: r.system_prompt,
            first_message: r.first_message,
            language: r.language,
            ..Self::default()
        }
    }
}

/// The voice step: the agent's voice (fields not sent keep their value) and how it should come
/// across.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VoiceStepRequest {
    #[serde(alias = "voice")]
    #[schema(example = "21m00Tcm4TlvDq8ikWAM")]
    pub voice_id: Option<String>,
    /// `elevenlabs` or `openai`.
    #[serde(alias = "voice_provider")]
    pub provider: Option<String>,
    /// 0.25 to 4.0; 1.0 is natural.
    pub speed: Option<f64>,
    #[schema(example = "Warm, patient and to the point")]
    pub personality: Option<String>,
    #[schema(example = "professional")]
    pub tone: Option<String>,
}

impl From<VoiceStepRequest> for VoiceStepInput {
    fn from(r: VoiceStepRequest) -> Self {
        Self {
            voice: VoiceInput {
                provider: r.provider,
                voice_id: r.voice_id,
                speed: r.speed,
            },
            personality: r.personality,
            tone: r.tone,
        }
    }
}

/// The channels step: where the agent answers, at least one of phone and web. With
/// `phone_number` the number becomes the organisation's, answered by the agent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ChannelsRequest {
    /// Answer phone calls (default: whether a number is given).
    pub phone: Option<bool>,
    /// Answer in the browser (default: no).
    pub web: Option<bool>,
    /// E.164, e.g. `+14155550123` (spaces, dashes and brackets are ignored).
    #[serde(alias = "number")]
    #[schema(example = "+14155550123")]
    pub phone_number: Option<String>,
}

impl From<ChannelsRequest> for ChannelsInput {
    fn from(r: ChannelsRequest) -> Self {
        Self {
            phone: r.phone,
            web: r.web,
            phone_number: r.phone_number,
        }
    }
}

/// Which steps are done.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepsView {
    pub company: bool,
    pub agent: bool,
    pub knowledge: bool,
    pub voice: bool,
    pub channels: bool,
    pub deploy: bool,
}

/// The organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    /// IANA time zone.
    pub time_zone: String,
}

/// The company step's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub name: String,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub description: Option<String>,
    pub size: Option<String>,
    pub time_zone: String,
}

/// The onboarding agent (all of it is at `/api/v1/agents/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardingAgentView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `inactive` until the deploy step, then `active`.
    pub status: &'static str,
    pub system_prompt: String,
    pub first_message: Option<String>,
    pub language: String,
}

/// The voice step's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceStepView {
    pub provider: &'static str,
    pub voice_id: String,
    pub speed: f64,
    pub personality: Option<String>,
    pub tone: Option<String>,
}

/// The channels step's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelsView {
    pub phone: bool,
    pub web: bool,
    pub phone_number: Option<String>,
}

/// Where the organisation stands in the guided set-up. The answers of steps not done are `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardingStatusView {
    pub steps: StepsView,
    /// Done steps, in walking order.
    #[schema(example = json!(["company", "agent"]))]
    pub completed_steps: Vec<&'static str>,
    /// The first step not done: `company`, `agent`, `knowledge`, `voice`, `channels`, `deploy`,
    /// or `null` when all are.
    #[schema(example = "knowledge")]
    pub next_step: Option<&'static str>,
    /// Whether all six steps are done.
    pub completed: bool,
    /// The onboarding agent's id, which the later steps act on.
    pub agent_id: Option<String>,
    pub organization: OrganizationView,
    pub profile: Option<ProfileView>,
    pub agent: Option<OnboardingAgentView>,
    pub voice: Option<VoiceStepView>,
    pub channels: Option<ChannelsView>,
    /// Documents the knowledge step added.
    pub knowledge_documents: u64,
    /// When the agent went live.
    pub deployed_at: Option<DateTime<Utc>>,
}

impl From<OnboardingStatus> for OnboardingStatusView {
    fn from(status: OnboardingStatus) -> Self {
        let done = |step| status.is_done(step);
        let steps = StepsView {
            company: done(OnboardingStep::Company),
            agent: done(OnboardingStep::Agent),
            knowledge: done(OnboardingStep::Knowledge),
            voice: done(OnboardingStep::Voice),
            channels: done(OnboardingStep::Channels),
            deploy: done(OnboardingStep::Deploy),
        };
        let completed_steps = status
            .completed_steps()
            .into_iter()
            .map(OnboardingStep::as_str)
            .collect();
        let next_step = status.next_step().map(OnboardingStep::as_str);
        let org = &status.organization;
        let record = &status.record;
        let profile = record.profile.as_ref().map(|p| ProfileView {
            name: org.name.clone(),
            industry: p.industry.clone(),
            website: p.website.clone(),
            description: p.description.clone(),
            size: p.size.clone(),
            time_zone: org.time_zone.clone(),
        });
        let voice = status.agent.as_ref().filter(|_| steps.voice).map(|agent| {
            let personality = record.personality.clone().unwrap_or_default();
            VoiceStepView {
                provider: agent.config.voice.provider.as_str(),
                voice_id: agent.config.voice.voice_id.clone(),
                speed: agent.config.voice.speed,
                personality: personality.personality,
                tone: personality.tone,
            }
        });
        let channels = record
            .channels
            .as_ref()
            .filter(|_| steps.channels)
            .map(|c| ChannelsView {
                phone: c.phone,
                web: c.web,
                phone_number: c.phone_number.as_ref().map(ToString::to_string),
            });
        let knowledge_documents = if steps.knowledge {
            record.knowledge_documents
        } else {
            0
        };
        let deployed_at = record.deployed_at.filter(|_| steps.deploy);
        let agent = status.agent.as_ref().map(|a| OnboardingAgentView {
            id: a.id.to_string(),
            name: a.config.name.clone(),
            description: a.config.description.clone(),
            status: a.status.as_str(),
            system_prompt: a.config.system_prompt.clone(),
            first_message: a.config.first_message.clone(),
            language: a.config.language.clone(),
        });
        Self {
            completed: status.is_complete(),
            agent_id: agent.as_ref().map(|a| a.id.clone()),
            organization: OrganizationView {
                id: org.id.to_string(),
                name: org.name.clone(),
                time_zone: org.time_zone.clone(),
            },
            steps,
            completed_steps,
            next_step,
            profile,
            agent,
            voice,
            channels,
            knowledge_documents,
            deployed_at,
        }
    }
}

/// Which steps are done and which comes next.
#[utoipa::path(
    tag = "onboarding",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The set-up's status", body = OnboardingStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[get("/status")]
pub async fn onboarding_status(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<OnboardingStatusView>, ApiError> {
    let status = state.onboarding.status(user.0.organization_id).await?;
    Ok(web::Json(status.into()))
}

/// The company step: names the organisation, sets its time zone, and stores its profile.
#[utoipa::path(
    tag = "onboarding",
    security(("bearer" = [])),
    request_body = CompanyRequest,
    responses(
        (status = 200, description = "The updated status", body = OnboardingStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[post("/company")]
pub async fn company_step(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<CompanyRequest>,
) -> Result<web::Json<OnboardingStatusView>, ApiError> {
    let status = state
        .onboarding
        .company(user.0.organization_id, body.into_inner().into())
        .await?;
    Ok(web::Json(status.into()))
}

/// The agent step: creates the organisation's first agent, or changes it when sent again.
#[utoipa::path(
    tag = "onboarding",
    security(("bearer" = [])),
    request_body = AgentStepRequest,
    responses(
        (status = 200, description = "The updated status", body = OnboardingStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[post("/agent")]
pub async fn agent_step(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<AgentStepRequest>,
) -> Result<web::Json<OnboardingStatusView>, ApiError> {
    let status = state
        .onboarding
        .agent(user.0.organization_id, body.into_inner().into())
        .await?;
    Ok(web::Json(status.into()))
}

/// The voice step: the first agent's voice and personality.
#[utoipa::path(
    tag = "onboarding",
    security(("bearer" = [])),
    request_body = VoiceStepRequest,
    responses(
        (status = 200, description = "The updated status", body = OnboardingStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "The agent step is not done", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[post("/voice")]
pub async fn voice_step(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<VoiceStepRequest>,
) -> Result<web::Json<OnboardingStatusView>, ApiError> {
    let status = state
        .onboarding
        .voice(user.0.organization_id, body.into_inner().into())
        .await?;
    Ok(web::Json(status.into()))
}

/// The channels step: where the first agent answers, and the number it answers.
#[utoipa::path(
    tag = "onboarding",
    security(("bearer" = [])),
    request_body = ChannelsRequest,
    responses(
        (status = 200, description = "The updated status", body = OnboardingStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "The agent step is not done, or another organisation has the number", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[post("/channels")]
pub async fn channels_step(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<ChannelsRequest>,
) -> Result<web::Json<OnboardingStatusView>, ApiError> {
    let status = state
        .onboarding
        .channels(user.0.organization_id, body.into_inner().into())
        .await?;
    Ok(web::Json(status.into()))
}

/// The deploy step: the first agent goes live and takes calls. Any body is ignored.
#[utoipa::path(
    tag = "onboarding",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated status", body = OnboardingStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "The company or agent step is not done; the detail names them", body = ErrorBody),
    )
)]
#[post("/deploy")]
pub async fn deploy_step(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<OnboardingStatusView>, ApiError> {
    let status = state.onboarding.deploy(user.0.organization_id).await?;
    Ok(web::Json(status.into()))
}

/// The knowledge step: documents (multipart `files`: PDF, text, Markdown, HTML) for the onboarding
/// agent to answer from. Sending it again adds more.
#[utoipa::path(
    tag = "onboarding",
    security(("bearer" = [])),
    request_body(content = crate::routes::knowledge::UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The updated status", body = OnboardingStatusView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "The agent step is not done yet", body = ErrorBody),
        (status = 413, description = "A file is over the size limit", body = ErrorBody),
        (status = 415, description = "Not multipart, or an unsupported file type", body = ErrorBody),
        (status = 422, description = "No files, or a corrupt, encrypted or empty document", body = ErrorBody),
    )
)]
#[post("/knowledge")]
pub async fn knowledge_step(
    user: CurrentUser,
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    multipart: actix_multipart::Multipart,
) -> Result<web::Json<OnboardingStatusView>, ApiError> {
    crate::http::upload::require_multipart(&req, "the documents in the `files` field")?;
    let organization = user.0.organization_id;
    let agent = state
        .onboarding
        .require_agent(organization, OnboardingStep::Knowledge)
        .await?;
    let upload = crate::http::upload::read_upload(
        multipart,
        &["files", "file"],
        state.settings.knowledge.max_upload_bytes,
    )
    .await?;
    let stored = crate::routes::knowledge::store_uploads(
        &state.knowledge,
        organization,
        upload.files,
        Some(agent.id),
    )
    .await?;
    let attached = agent.config.knowledge_document_ids.len() + stored.len();
    let status = state
        .onboarding
        .record_knowledge(organization, attached as u64)
        .await?;
    Ok(web::Json(status.into()))
}

/// Every step's route, mounted under both prefixes.
pub fn onboarding_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(onboarding_status)
        .service(company_step)
        .service(agent_step)
        .service(knowledge_step)
        .service(voice_step)
        .service(channels_step)
        .service(deploy_step);
}
