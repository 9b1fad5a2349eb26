//! Scenarios: seed 003's `POST /realtime/custom-scenario`, `GET /custom-scenarios`,
//! `PUT/DELETE /custom-scenarios/{scenario_id}`, and the canonical `/api/v1/scenarios`. Each user
//! sees only their own; at most 20 each; creation is rate limited per user.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::scenario::{BUILTIN_SCENARIOS, Scenario, ScenarioInput};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::{CurrentUser, rate_limit};
use crate::http::json::ApiJson;
use crate::routes::MessageResponse;
use crate::state::AppState;

/// A scenario's fields. Creating needs `persona` and `prompt`; updating changes what is sent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ScenarioRequest {
    #[schema(example = "You are a friendly sales representative for a tech company.")]
    pub persona: Option<String>,
    #[schema(example = "Understand the customer's needs and offer a fitting solution.")]
    pub prompt: Option<String>,
    /// A voice style such as `aggressive_male` (default `neutral`).
    #[schema(example = "friendly_female")]
    pub voice_type: Option<String>,
    /// 0 to 2 (default 0.7).
    pub temperature: Option<f64>,
}

impl From<ScenarioRequest> for ScenarioInput {
    fn from(r: ScenarioRequest) -> Self {
        Self {
            persona: r.persona,
            prompt: r.prompt,
            voice_type: r.voice_type,
            temperature: r.temperature,
        }
    }
}

/// A custom scenario.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioView {
    pub id: String,
    #[schema(example = "custom_1732190000_9f3a61c2")]
    pub scenario_id: String,
    pub persona: String,
    pub prompt: String,
    pub voice_type: String,
    pub temperature: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Scenario> for ScenarioView {
    fn from(s: Scenario) -> Self {
        Self {
            id: s.key.to_string(),
            scenario_id: s.scenario_id,
            persona: s.settings.persona,
            prompt: s.settings.prompt,
            voice_type: s.settings.voice_type,
            temperature: s.settings.temperature,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Seed 003's answer to a creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioCreated {
    pub scenario_id: String,
    pub message: String,
    pub scenario: ScenarioView,
}

/// The caller's custom scenarios.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioList {
    pub items: Vec<ScenarioView>,
    pub total: u64,
    /// How many one user may keep.
    pub limit: u64,
}

/// A built-in scenario, usable by name in call routes.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuiltinScenarioView {
    #[schema(example = "sales")]
    pub name: &'static str,
    pub persona: &'static str,
    pub prompt: &'static str,
    pub voice_type: &'static str,
    pub temperature: f64,
}

async fn create(
    user: CurrentUser,
    state: &AppState,
    body: ScenarioRequest,
) -> Result<Scenario, ApiError> {
    rate_limit(
        state,
        &format!("scenarios:{}", user.0.user_id),
        state.settings.rate_limits.scenarios_per_min,
    )
    .await?;
    Ok(state
        .scenarios
        .create(user.0.organization_id, user.0.user_id, body.into())
        .await?)
}

/// Creates a custom scenario (seed 003). At most 20 per user; 10 creations a minute.
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    request_body = ScenarioRequest,
    responses(
        (status = 200, description = "Created", body = ScenarioCreated),
        (status = 409, description = "The user has 20 scenarios already", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
        (status = 429, description = "Too many creations this minute", body = ErrorBody),
    )
)]
#[post("/realtime/custom-scenario")]
pub async fn create_custom_scenario(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<ScenarioRequest>,
) -> Result<web::Json<ScenarioCreated>, ApiError> {
    let scenario = create(user, &state, body.into_inner()).await?;
    Ok(web::Json(ScenarioCreated {
        scenario_id: scenario.scenario_id.clone(),
        message: "Custom scenario created successfully".into(),
        scenario: scenario.into(),
    }))
}

/// The caller's custom scenarios, oldest first (seed 003).
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The scenarios", body = Vec<ScenarioView>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[get("/custom-scenarios")]
pub async fn list_custom_scenarios(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<ScenarioView>>, ApiError> {
    let scenarios = state.scenarios.list(user.0.user_id).await?;
    Ok(web::Json(scenarios.into_iter().map(Into::into).collect()))
}

async fn update(
    user: CurrentUser,
    state: &AppState,
    scenario_id: &str,
    body: ScenarioRequest,
) -> Result<ScenarioView, ApiError> {
    Ok(state
        .scenarios
        .update(user.0.user_id, scenario_id, body.into())
        .await?
        .into())
}

/// Changes one of the caller's scenarios (seed 003).
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    params(("scenario_id" = String, Path, description = "The scenario's public id")),
    request_body = ScenarioRequest,
    responses(
        (status = 200, description = "The updated scenario", body = ScenarioView),
        (status = 404, description = "No such scenario of yours", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[put("/custom-scenarios/{scenario_id}")]
pub async fn update_custom_scenario(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<ScenarioRequest>,
) -> Result<web::Json<ScenarioView>, ApiError> {
    Ok(web::Json(
        update(user, &state, &path, body.into_inner()).await?,
    ))
}

/// Deletes one of the caller's scenarios (seed 003).
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    params(("scenario_id" = String, Path, description = "The scenario's public id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 404, description = "No such scenario of yours", body = ErrorBody),
    )
)]
#[delete("/custom-scenarios/{scenario_id}")]
pub async fn delete_custom_scenario(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state.scenarios.delete(user.0.user_id, &path).await?;
    Ok(web::Json(MessageResponse::new(
        "Custom scenario deleted successfully",
    )))
}

/// The caller's custom scenarios.
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The scenarios", body = ScenarioList),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_scenarios(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<ScenarioList>, ApiError> {
    let scenarios = state.scenarios.list(user.0.user_id).await?;
    Ok(web::Json(ScenarioList {
        total: scenarios.len() as u64,
        items: scenarios.into_iter().map(Into::into).collect(),
        limit: switchboard_domain::scenario::MAX_SCENARIOS_PER_USER,
    }))
}

/// Creates a custom scenario.
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    request_body = ScenarioRequest,
    responses(
        (status = 201, description = "Created", body = ScenarioView),
        (status = 409, description = "The user has 20 scenarios already", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
        (status = 429, description = "Too many creations this minute", body = ErrorBody),
    )
)]
#[post("")]
pub async fn create_scenario(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<ScenarioRequest>,
) -> Result<HttpResponse, ApiError> {
    let scenario = create(user, &state, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(ScenarioView::from(scenario)))
}

/// The scenarios that ship with Switchboard (`sales`, `support`, `appointment`).
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    responses((status = 200, description = "Built-in scenarios", body = Vec<BuiltinScenarioView>))
)]
#[get("/builtin")]
pub async fn list_builtin_scenarios(_user: CurrentUser) -> web::Json<Vec<BuiltinScenarioView>> {
    web::Json(
        BUILTIN_SCENARIOS
            .iter()
            .map(|s| BuiltinScenarioView {
                name: s.name,
                persona: s.persona,
                prompt: s.prompt,
                voice_type: s.voice_type,
                temperature: s.temperature,
            })
            .collect(),
    )
}

/// One of the caller's scenarios.
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    params(("scenario_id" = String, Path, description = "The scenario's public id")),
    responses(
        (status = 200, description = "The scenario", body = ScenarioView),
        (status = 404, description = "No such scenario of yours", body = ErrorBody),
    )
)]
#[get("/{scenario_id}")]
pub async fn get_scenario(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ScenarioView>, ApiError> {
    Ok(web::Json(
        state.scenarios.get(user.0.user_id, &path).await?.into(),
    ))
}

/// Changes one of the caller's scenarios.
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    params(("scenario_id" = String, Path, description = "The scenario's public id")),
    request_body = ScenarioRequest,
    responses(
        (status = 200, description = "The updated scenario", body = ScenarioView),
        (status = 404, description = "No such scenario of yours", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[put("/{scenario_id}")]
pub async fn update_scenario(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<ScenarioRequest>,
) -> Result<web::Json<ScenarioView>, ApiError> {
    Ok(web::Json(
        update(user, &state, &path, body.into_inner()).await?,
    ))
}

/// Deletes one of the caller's scenarios.
#[utoipa::path(
    tag = "scenarios",
    security(("bearer" = [])),
    params(("scenario_id" = String, Path, description = "The scenario's public id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 404, description = "No such scenario of yours", body = ErrorBody),
    )
)]
#[delete("/{scenario_id}")]
pub async fn delete_scenario(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state.scenarios.delete(user.0.user_id, &path).await?;
    Ok(web::Json(MessageResponse::new("Scenario deleted")))
}
