//! Scheduled calls: seed 003's `POST /schedule-call`, and the canonical
//! `/api/v1/scheduled-calls` (schedule one call or a campaign of many numbers, list, read with
//! attempts, cancel). Scheduling counts against the call initiation limit
//! (`RATE_LIMIT_CALLS_PER_MIN`); the worker in [`crate::scheduler`] places the calls.
//!
//! Scheduling is accepted whether or not Twilio is configured: the schedule is durable, and the
//! settings may be in place by the time a call is due. If they are still missing then, the
//! attempt fails with a detail naming them, visible on the scheduled call.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::call::CallTarget;
use switchboard_domain::ids::{CampaignId, ScheduledCallId};
use switchboard_domain::schedule::{
    Attempt, Recipient, ScheduleFilter, ScheduleRequest, ScheduleStatus, ScheduledCall,
    WindowRequest,
};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::{CurrentUser, rate_limit};
use crate::http::json::ApiJson;
use crate::routes::{page_request, parse_path_id};
use crate::state::AppState;

/// When calls may ring, on the wall clock of a time zone.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct WindowBody {
    /// An IANA zone such as `America/New_York` (default: the organisation's).
    pub time_zone: Option<String>,
    /// Weekdays, `mon` to `sun` (default: every day).
    pub days: Option<Vec<String>>,
    /// `HH:MM`, 24-hour, inclusive.
    pub start: Option<String>,
    /// `HH:MM`, 24-hour, exclusive; later than `start`.
    pub end: Option<String>,
}

/// One number of a campaign: a plain number, or a number with the name of whoever answers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum NumberEntry {
    Plain(String),
    Named {
        phone_number: String,
        customer_name: Option<String>,
    },
}

/// What to schedule: one call (`phone_number`) or a campaign (`numbers`), with shared settings.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ScheduleBody {
    /// E.164, for one call.
    pub phone_number: Option<String>,
    /// Up to 1000 numbers, for a campaign: one scheduled call each, with one campaign id.
    pub numbers: Option<Vec<NumberEntry>>,
    pub customer_name: Option<String>,
    /// The agent that talks (else `scenario`, else the organisation's newest active agent).
    pub agent_id: Option<String>,
    /// A built-in scenario (`sales`, `support`, `appointment`) or a custom scenario id.
    pub scenario: Option<String>,
    /// RFC 3339, e.g. `2026-01-15T14:00:00Z`; without an offset, UTC. Past or unset: now.
    #[serde(alias = "scheduled_at")]
    pub scheduled_time: Option<String>,
    /// No window: the call rings at its time, whatever the hour.
    pub window: Option<WindowBody>,
    /// Attempts in all when the line is busy, nobody answers or the call fails: 1 to 10
    /// (default 1, no retry).
    pub max_attempts: Option<u32>,
    /// Minutes between attempts, 1 to 1440 (default 10).
    pub retry_delay_minutes: Option<u32>,
}

impl ScheduleBody {
    fn request(&mut self) -> ScheduleRequest {
        ScheduleRequest {
            agent_id: self.agent_id.take(),
            scenario: self.scenario.take(),
            scheduled_time: self.scheduled_time.take(),
            window: self.window.take().map(|w| WindowRequest {
                time_zone: w.time_zone,
                days: w.days,
                start: w.start,
                end: w.end,
            }),
            max_attempts: self.max_attempts,
            retry_delay_minutes: self.retry_delay_minutes,
        }
    }
}

/// One attempt at a scheduled call.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub number: u32,
    /// The call placed for it (see `/api/v1/calls/{call_id}`).
    pub call_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `completed`, `busy`, `no_answer`, `failed`, `canceled` or `interrupted`; null while the
    /// call is under way.
    pub outcome: Option<&'static str>,
    /// Why it failed, when known (a missing setting, the provider's refusal).
    pub detail: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            number: a.number,
            call_id: a.call_id.map(|c| c.to_string()),
            started_at: a.started_at,
            ended_at: a.ended_at,
            outcome: a.outcome.map(|o| o.as_str()),
            detail: a.detail,
        }
    }
}

/// A scheduled call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledCallView {
    pub id: String,
    /// `pending`, `dialing`, `done`, `failed` or `canceled`.
    pub status: &'static str,
    pub phone_number: String,
    pub customer_name: Option<String>,
    pub agent_id: Option<String>,
    pub scenario: Option<String>,
    pub campaign_id: Option<String>,
    /// The time asked for (now, when a past time was asked for).
    pub scheduled_time: DateTime<Utc>,
    /// When the next step is due: the first attempt, a retry, or the window's next opening.
    pub due_at: DateTime<Utc>,
    pub window: Option<WindowBody>,
    pub max_attempts: u32,
    pub retry_delay_minutes: i64,
    pub attempts: Vec<AttemptView>,
    /// The call of the latest attempt.
    pub call_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ScheduledCall> for ScheduledCallView {
    fn from(c: ScheduledCall) -> Self {
        let (agent_id, scenario) = match &c.target {
            CallTarget::Agent(agent) => (Some(agent.to_string()), None),
            CallTarget::Scenario(name) => (None, Some(name.clone())),
            CallTarget::Default => (None, None),
        };
        Self {
            id: c.id.to_string(),
            status: c.status.as_str(),
            phone_number: c.phone_number.to_string(),
            customer_name: c.customer_name,
            agent_id,
            scenario,
            campaign_id: c.campaign_id.map(|id| id.to_string()),
            scheduled_time: c.scheduled_for,
            due_at: c.due_at,
            window: c.window.map(|w| WindowBody {
                time_zone: Some(w.time_zone().to_owned()),
                days: Some(w.day_names().iter().map(|d| (*d).to_owned()).collect()),
                start: Some(w.start().format("%H:%M").to_string()),
                end: Some(w.end().format("%H:%M").to_string()),
            }),
            max_attempts: c.retry.max_attempts,
            retry_delay_minutes: c.retry.delay.num_minutes(),
            call_id: c
                .attempts
                .iter()
                .rev()
                .find_map(|a| a.call_id)
                .map(|id| id.to_string()),
            attempts: c.attempts.into_iter().map(Into::into).collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A scheduled campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub campaign_id: String,
    /// How many calls were scheduled.
    pub total: usize,
    pub items: Vec<ScheduledCallView>,
}

/// The answer to scheduling: the scheduled call, or the campaign.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Scheduled {
    One(Box<ScheduledCallView>),
    Campaign(CampaignView),
}

/// Schedules one call or a campaign, as the body says.
async fn schedule(
    state: &AppState,
    user: &CurrentUser,
    mut body: ScheduleBody,
) -> Result<Scheduled, ApiError> {
    rate_limit(
        state,
        &format!("calls:{}", user.0.user_id),
        state.settings.rate_limits.calls_per_min,
    )
    .await?;
    let request = body.request();
    let organization = user.0.organization_id;
    match (body.phone_number, body.numbers) {
        (Some(_), Some(_)) => Err(ApiError::field(
            "numbers",
            "send phone_number for one call or numbers for a campaign, not both",
        )),
        (None, None) => Err(ApiError::field(
            "phone_number",
            "required (or numbers, for a campaign)",
        )),
        (Some(phone_number), None) => {
            let call = state
                .schedules
                .schedule_one(
                    organization,
                    user.0.user_id,
                    Recipient {
                        phone_number,
                        customer_name: body.customer_name,
                    },
                    request,
                )
                .await?;
            Ok(Scheduled::One(Box::new(call.into())))
        }
        (None, Some(numbers)) => {
            let recipients = numbers
                .into_iter()
                .map(|entry| match entry {
                    NumberEntry::Plain(phone_number) => Recipient {
                        phone_number,
                        customer_name: body.customer_name.clone(),
                    },
                    NumberEntry::Named {
                        phone_number,
                        customer_name,
                    } => Recipient {
                        phone_number,
                        customer_name: customer_name.or_else(|| body.customer_name.clone()),
                    },
                })
                .collect();
            let (campaign, calls) = state
                .schedules
                .schedule_campaign(organization, user.0.user_id, recipients, request)
                .await?;
            Ok(Scheduled::Campaign(CampaignView {
                campaign_id: campaign.to_string(),
                total: calls.len(),
                items: calls.into_iter().map(Into::into).collect(),
            }))
        }
    }
}

/// Schedules an outbound phone call, or a campaign of calls to many numbers with shared
/// settings. Each is placed when due (and its window is open), retried as asked when busy,
/// unanswered or failed.
#[utoipa::path(
    tag = "scheduled-calls",
    security(("bearer" = [])),
    request_body = ScheduleBody,
    responses(
        (status = 201, description = "The scheduled call, or the campaign", body = Scheduled),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
        (status = 429, description = "Too many calls started", body = ErrorBody),
    )
)]
#[post("")]
pub async fn create_scheduled_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<ScheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let scheduled = schedule(&state, &user, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(scheduled))
}

/// Seed 003's request to schedule a call.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SeedScheduleBody {
    /// E.164.
    pub phone_number: Option<String>,
    /// A built-in scenario (`sales`, `support`, `appointment`) or a custom scenario id.
    pub scenario: Option<String>,
    /// RFC 3339, e.g. `2024-01-15T14:00:00Z`; a past time means now.
    pub scheduled_time: Option<String>,
}

/// Seed 003's answer to a scheduled call.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedScheduled {
    /// `Call scheduled successfully`.
    pub message: &'static str,
    /// The scheduled call's id (`/api/v1/scheduled-calls/{id}`).
    pub id: String,
    pub status: &'static str,
    pub phone_number: String,
    pub scenario: Option<String>,
    pub scheduled_time: DateTime<Utc>,
}

/// Seed 003: schedules an outbound call with a scenario at `scheduled_time`; no calling window
/// applies.
#[utoipa::path(
    tag = "scheduled-calls",
    security(("bearer" = [])),
    request_body = SeedScheduleBody,
    responses(
        (status = 200, description = "Scheduled", body = SeedScheduled),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
        (status = 429, description = "Too many calls started", body = ErrorBody),
    )
)]
#[post("/schedule-call")]
pub async fn seed_schedule_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<SeedScheduleBody>,
) -> Result<web::Json<SeedScheduled>, ApiError> {
    let body = body.into_inner();
    let scheduled = schedule(
        &state,
        &user,
        ScheduleBody {
            // Required by the seed: an absent number is named with the other invalid fields.
            phone_number: Some(body.phone_number.unwrap_or_default()),
            scenario: body.scenario,
            scheduled_time: body.scheduled_time,
            ..ScheduleBody::default()
        },
    )
    .await?;
    let Scheduled::One(call) = scheduled else {
        return Err(ApiError::Unexpected(anyhow::anyhow!(
            "one number scheduled a campaign"
        )));
    };
    Ok(web::Json(SeedScheduled {
        message: "Call scheduled successfully",
        id: call.id,
        status: call.status,
        phone_number: call.phone_number,
        scenario: call.scenario,
        scheduled_time: call.scheduled_time,
    }))
}

/// Which scheduled calls to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ScheduleQuery {
    /// 1-based page (default 1).
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[serde(alias = "limit")]
    pub page_size: Option<u64>,
    /// `pending`, `dialing`, `done`, `failed` or `canceled`.
    pub status: Option<String>,
    /// Only the calls of this campaign.
    pub campaign_id: Option<String>,
}

/// A page of scheduled calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledCallList {
    pub items: Vec<ScheduledCallView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// The organisation's scheduled calls, soonest due first.
#[utoipa::path(
    tag = "scheduled-calls",
    security(("bearer" = [])),
    params(ScheduleQuery),
    responses(
        (status = 200, description = "A page of scheduled calls", body = ScheduledCallList),
        (status = 422, description = "An unknown status or a page out of range", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_scheduled_calls(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<ScheduleQuery>,
) -> Result<web::Json<ScheduledCallList>, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.page, query.page_size)?;
    let status = query
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(ScheduleStatus::parse)
        .transpose()
        .map_err(|m| ApiError::field("status", m))?;
    let campaign_id = query
        .campaign_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|raw| {
            raw.parse::<CampaignId>()
                .map_err(|_| ApiError::field("campaign_id", "is not a campaign id"))
        })
        .transpose()?;
    let calls = state
        .schedules
        .list(
            user.0.organization_id,
            &ScheduleFilter {
                status,
                campaign_id,
            },
            page,
        )
        .await?;
    Ok(web::Json(ScheduledCallList {
        items: calls.items.into_iter().map(Into::into).collect(),
        total: calls.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// A scheduled call with its attempts and their outcomes.
#[utoipa::path(
    tag = "scheduled-calls",
    security(("bearer" = [])),
    params(("scheduled_call_id" = String, Path)),
    responses(
        (status = 200, description = "The scheduled call", body = ScheduledCallView),
        (status = 404, description = "No such scheduled call in your organisation", body = ErrorBody),
    )
)]
#[get("/{scheduled_call_id}")]
pub async fn get_scheduled_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ScheduledCallView>, ApiError> {
    let id: ScheduledCallId = parse_path_id(&path, "scheduled call")?;
    let call = state.schedules.get(user.0.organization_id, id).await?;
    Ok(web::Json(call.into()))
}

/// Cancels a pending scheduled call (once it is being dialled, end its call instead).
#[utoipa::path(
    tag = "scheduled-calls",
    security(("bearer" = [])),
    params(("scheduled_call_id" = String, Path)),
    responses(
        (status = 200, description = "The canceled scheduled call", body = ScheduledCallView),
        (status = 404, description = "No such scheduled call in your organisation", body = ErrorBody),
        (status = 409, description = "It is no longer pending", body = ErrorBody),
    )
)]
#[delete("/{scheduled_call_id}")]
pub async fn cancel_scheduled_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ScheduledCallView>, ApiError> {
    let id: ScheduledCallId = parse_path_id(&path, "scheduled call")?;
    let call = state.schedules.cancel(user.0.organization_id, id).await?;
    Ok(web::Json(call.into()))
}
