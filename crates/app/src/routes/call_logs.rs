//! Call logs: the canonical `GET /api/v1/calls` list with filters, the seeds' lists and details
//! (004's `/api/v1/voice/calls`, 000's `/calls/logs` and `/calls/{id}`, 001's `/api/calls`), and
//! seed 001's `POST /api/calls`, which logs a call made elsewhere.

use actix_web::{get, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::call::{
    Call, CallChannel, CallDirection, CallFilter, CallSort, CallStatus, CallTurn, Category,
    ExternalCall, Resolution, Sentiment,
};
use switchboard_domain::ids::{AgentId, CallId};
use switchboard_domain::page::PageRequest;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::routes::calls::{AnalysisView, CallView, HistoryLine, TurnView};
use crate::routes::{page_request, parse_path_id};
use crate::state::AppState;

/// A date (`2026-11-21`, the whole day in UTC) or an instant (RFC 3339).
fn instant(field: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::field(field, "must be a date (2026-11-21) or an RFC 3339 instant")
    })?;
    let day = if end_of_day {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

fn parsed<T>(
    field: &str,
    raw: Option<&str>,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ApiError> {
    raw.map(parse)
        .transpose()
        .map_err(|m| ApiError::field(field, m))
}

fn agent_filter(raw: Option<&str>) -> Result<Option<AgentId>, ApiError> {
    raw.filter(|a| !a.trim().is_empty())
        .map(|a| {
            a.trim()
                .parse::<AgentId>()
                .map_err(|_| ApiError::field("agent_id", "is not an agent id"))
        })
        .transpose()
}

/// The canonical list's query.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct CallQuery {
    /// `queued`, `ringing`, `in_progress`, `completed`, `busy`, `no_answer`, `failed` or `canceled`.
    pub status: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// `text`, `web` or `phone`.
    pub channel: Option<String>,
    pub agent_id: Option<String>,
    /// Calls started on or after this date or instant.
    pub date_from: Option<String>,
    /// Calls started up to this date (inclusive) or before this instant.
    pub date_to: Option<String>,
    /// Words in the transcript, the customer's name or number.
    #[serde(alias = "q")]
    pub search: Option<String>,
    /// Calls whose analysis found `positive`, `neutral`, `negative` or `mixed`.
    pub sentiment: Option<String>,
    /// Calls whose analysis put them in this category (`billing`; `Technical Support` finds
    /// `technical_support`).
    pub category: Option<String>,
    /// Calls whose analysis found `resolved`, `unresolved` or `escalated`.
    pub resolution: Option<String>,
    /// `newest` (default) or `oldest`.
    pub sort: Option<String>,
    pub page: Option<u64>,
    #[serde(alias = "limit")]
    pub page_size: Option<u64>,
}

impl CallQuery {
    fn filter(&self) -> Result<(CallFilter, CallSort, PageRequest), ApiError> {
        let date_to_is_day = self.date_to.as_deref().is_some_and(|d| !d.contains('T'));
        Ok((
            CallFilter {
                status: parsed("status", self.status.as_deref(), CallStatus::parse)?,
                direction: parsed("direction", self.direction.as_deref(), CallDirection::parse)?,
                channel: parsed("channel", self.channel.as_deref(), CallChannel::parse)?,
                agent_id: agent_filter(self.agent_id.as_deref())?,
                started_from: self
                    .date_from
                    .as_deref()
                    .map(|d| instant("date_from", d, false))
                    .transpose()?,
                started_before: self
                    .date_to
                    .as_deref()
                    .map(|d| instant("date_to", d, date_to_is_day))
                    .transpose()?,
                search: self.search.clone(),
                sentiment: parsed("sentiment", self.sentiment.as_deref(), Sentiment::parse)?,
                category: parsed("category", self.category.as_deref(), Category::parse)?,
                resolution: parsed("resolution", self.resolution.as_deref(), Resolution::parse)?,
            },
            parsed("sort", self.sort.as_deref(), CallSort::parse)?.unwrap_or_default(),
            page_request(self.page, self.page_size)?,
        ))
    }
}

/// A page of calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallList {
    pub items: Vec<CallView>,
    /// Calls that pass the filters, over all pages.
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// The organisation's calls, filtered, searched, sorted and paged.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(CallQuery),
    responses(
        (status = 200, description = "A page of calls", body = CallList),
        (status = 422, description = "An invalid filter", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_calls(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<CallQuery>,
) -> Result<web::Json<CallList>, ApiError> {
    let (filter, sort, page) = query.filter()?;
    let calls = state
        .calls
        .list(user.0.organization_id, &filter, sort, page)
        .await?;
    Ok(web::Json(CallList {
        items: calls
            .items
            .into_iter()
            .map(|c| CallView::new(c, None, None))
            .collect(),
        total: calls.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// Seed 004's list query.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct VoiceCallQuery {
    pub page: Option<u64>,
    /// 1 to 100 (default 20).
    pub page_size: Option<u64>,
    pub status: Option<String>,
    /// `positive`, `neutral`, `negative` or `mixed`: calls whose analysis found it.
    pub sentiment: Option<String>,
    /// Calls whose analysis put them in this category.
    pub category: Option<String>,
    /// `resolved`, `unresolved` or `escalated`: calls whose analysis found it.
    pub resolution: Option<String>,
    pub date_from: Option<String>,
    pub date_to: Option<String>,
}

/// Seed 004's call.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceCallView {
    pub id: String,
    /// This server's call id (the seed's name for it).
    pub vapi_call_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    pub status: &'static str,
    pub agent_type: String,
    /// The analysis's sentiment, once analysed.
    pub sentiment: Option<&'static str>,
    pub category: Option<String>,
    pub resolution: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<TurnView>>,
    /// `pending`, `completed` or `failed` once the call has ended; `null` while it goes on.
    pub analysis_status: Option<&'static str>,
    /// The call's analysis (on the detail), null until one is completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<AnalyticsView>)]
    pub analytics: Option<Option<AnalyticsView>>,
    pub recording_url: Option<String>,
}

/// Seed 004's analytics record: its own names (`overall_sentiment`, `primary_category`,
/// `resolution_status`, `sentiment_score`) with the rest of the analysis beside them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsView {
    pub call_id: String,
    pub overall_sentiment: &'static str,
    pub sentiment_score: f64,
    pub primary_category: String,
    pub resolution_status: &'static str,
    pub summary: String,
    pub key_topics: Vec<String>,
    pub action_items: Vec<String>,
    #[schema(value_type = Object)]
    pub extracted: serde_json::Map<String, serde_json::Value>,
    /// `llm` or `local`.
    pub analyzer: &'static str,
    pub created_at: DateTime<Utc>,
}

impl AnalyticsView {
    fn new(call: CallId, analysis: AnalysisView) -> Self {
        Self {
            call_id: call.to_string(),
            overall_sentiment: analysis.sentiment,
            sentiment_score: analysis.sentiment_score,
            primary_category: analysis.category,
            resolution_status: analysis.resolution,
            summary: analysis.summary,
            key_topics: analysis.key_topics,
            action_items: analysis.action_items,
            extracted: analysis.extracted,
            analyzer: analysis.analyzer,
            created_at: analysis.analyzed_at,
        }
    }
}

impl VoiceCallView {
    fn new(call: Call, turns: Option<Vec<CallTurn>>) -> Self {
        let duration = call.duration_secs();
        let analysis = call.analysis.analysis();
        let detail = turns.is_some();
        Self {
            sentiment: analysis.map(|a| a.sentiment.as_str()),
            category: analysis.map(|a| a.category.as_str().to_owned()),
            resolution: analysis.map(|a| a.resolution.as_str()),
            analysis_status: call.analysis.status().map(|s| s.as_str()),
            analytics: detail
                .then(|| AnalysisView::of(&call.analysis).map(|a| AnalyticsView::new(call.id, a))),
            id: call.id.to_string(),
            vapi_call_id: call.id.to_string(),
            started_at: call.started_at,
            ended_at: call.ended_at,
            duration_seconds: duration,
            status: call.status.as_str(),
            agent_type: call
                .agent_name
                .or(call.scenario)
                .unwrap_or_else(|| "general".into()),
            transcript: turns.map(|t| t.into_iter().map(Into::into).collect()),
            recording_url: call.recording_url,
        }
    }
}

/// Seed 004's list envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceCallList {
    pub calls: Vec<VoiceCallView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// Seed 004: calls with their analysis fields.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(VoiceCallQuery),
    responses(
        (status = 200, description = "A page of calls", body = VoiceCallList),
        (status = 422, description = "An invalid filter or page size over 100", body = ErrorBody),
    )
)]
#[get("")]
pub async fn list_voice_calls(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<VoiceCallQuery>,
) -> Result<web::Json<VoiceCallList>, ApiError> {
    let canonical = CallQuery {
        status: query.status.clone(),
        date_from: query.date_from.clone(),
        date_to: query.date_to.clone(),
        sentiment: query.sentiment.clone(),
        category: query.category.clone(),
        resolution: query.resolution.clone(),
        page: query.page,
        page_size: query.page_size,
        ..CallQuery::default()
    };
    let (filter, sort, page) = canonical.filter()?;
    let calls = state
        .calls
        .list(user.0.organization_id, &filter, sort, page)
        .await?;
    Ok(web::Json(VoiceCallList {
        calls: calls
            .items
            .into_iter()
            .map(|c| VoiceCallView::new(c, None))
            .collect(),
        total: calls.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// Seed 004: one call with its transcript, analytics and recording.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call", body = VoiceCallView),
        (status = 404, description = "Call not found", body = ErrorBody),
    )
)]
#[get("/{call_id}")]
pub async fn get_voice_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<VoiceCallView>, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    let (call, turns) = state.calls.get(user.0.organization_id, id).await?;
    Ok(web::Json(VoiceCallView::new(call, Some(turns))))
}

/// Seed 000's call-log query.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct CallLogQuery {
    pub page: Option<u64>,
    pub limit: Option<u64>,
    pub search: Option<String>,
    pub agent_id: Option<String>,
    pub status: Option<String>,
    /// `7d`, `30d` or `90d`.
    pub time_range: Option<String>,
}

/// Seed 000's list envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallLogList {
    pub calls: Vec<CallView>,
    pub total: u64,
    pub page: u64,
    pub limit: u64,
}

/// Seed 000: the call log.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(CallLogQuery),
    responses(
        (status = 200, description = "A page of calls", body = CallLogList),
        (status = 422, description = "An invalid filter", body = ErrorBody),
    )
)]
#[get("/logs")]
pub async fn call_logs(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<CallLogQuery>,
) -> Result<web::Json<CallLogList>, ApiError> {
    let since = match query.time_range.as_deref() {
        None => None,
        Some("7d") => Some(7),
        Some("30d") => Some(30),
        Some("90d") => Some(90),
        Some(_) => return Err(ApiError::field("time_range", "must be 7d, 30d or 90d")),
    };
    let canonical = CallQuery {
        status: query.status.clone(),
        agent_id: query.agent_id.clone(),
        search: query.search.clone(),
        page: query.page,
        page_size: query.limit,
        ..CallQuery::default()
    };
    let (mut filter, sort, page) = canonical.filter()?;
    filter.started_from = since.map(|days| Utc::now() - Duration::days(days));
    let calls = state
        .calls
        .list(user.0.organization_id, &filter, sort, page)
        .await?;
    Ok(web::Json(CallLogList {
        calls: calls
            .items
            .into_iter()
            .map(|c| CallView::new(c, None, None))
            .collect(),
        total: calls.total,
        page: page.page,
        limit: page.page_size,
    }))
}

/// Seed 000: one call of the log, with its transcript.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call", body = CallView),
        (status = 404, description = "Call not found", body = ErrorBody),
    )
)]
#[get("/{call_id}")]
pub async fn call_log(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<CallView>, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    let (call, turns) = state.calls.get(user.0.organization_id, id).await?;
    Ok(web::Json(CallView::new(call, None, Some(turns))))
}

/// Seed 001's call.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedCallView {
    pub id: String,
    pub agent_id: Option<String>,
    pub phone_number: Option<String>,
    pub direction: &'static str,
    /// Seconds, once the call has ended.
    pub duration: Option<i64>,
    pub status: &'static str,
    /// As logged with the call, else as its analysis found.
    pub sentiment: Option<String>,
    /// Mean milliseconds to the first word of the agent's replies.
    pub latency: Option<f64>,
    pub transcript: Vec<HistoryLine>,
    pub recording_url: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub timestamp: DateTime<Utc>,
    /// `pending`, `completed` or `failed` once the call has ended; `null` while it goes on.
    pub analysis_status: Option<&'static str>,
    /// The post-call analysis, once completed.
    pub analysis: Option<AnalysisView>,
}

impl SeedCallView {
    fn new(call: Call, turns: Vec<CallTurn>) -> Self {
        let duration = call.duration_secs();
        Self {
            analysis_status: call.analysis.status().map(|s| s.as_str()),
            analysis: AnalysisView::of(&call.analysis),
            id: call.id.to_string(),
            agent_id: call.agent_id.map(|a| a.to_string()),
            phone_number: call.phone_number,
            direction: call.direction.as_str(),
            duration,
            status: call.status.as_str(),
            // What the client logged is its own word on the call; the analysis fills in.
            sentiment: call.metadata["sentiment"]
                .as_str()
                .map(ToOwned::to_owned)
                .or_else(|| {
                    call.analysis
                        .analysis()
                        .map(|a| a.sentiment.as_str().to_owned())
                }),
            latency: crate::routes::calls::mean_response_ms(&turns),
            transcript: turns
                .into_iter()
                .map(|t| HistoryLine {
                    speaker: t.speaker.as_str(),
                    text: t.text,
                    timestamp: t.at,
                })
                .collect(),
            recording_url: call.recording_url,
            metadata: if call.metadata.is_null() {
                serde_json::json!({"channel": call.channel.as_str(), "end_reason": call.end_reason})
            } else {
                call.metadata
            },
            timestamp: call.started_at,
        }
    }
}

/// Seed 001: the organisation's calls, newest first (the total is in `X-Total-Count`).
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(CallQuery),
    responses((status = 200, description = "Calls", body = Vec<SeedCallView>))
)]
#[get("")]
pub async fn list_seed_calls(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<CallQuery>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let (filter, sort, page) = query.filter()?;
    let (calls, total) = state
        .calls
        .list_with_turns(user.0.organization_id, &filter, sort, page)
        .await?;
    let views: Vec<SeedCallView> = calls
        .into_iter()
        .map(|(call, turns)| SeedCallView::new(call, turns))
        .collect();
    Ok(actix_web::HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::HeaderName::from_static("x-total-count"),
            total,
        ))
        .json(views))
}

/// Seed 001: one call with its transcript.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    params(("call_id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call", body = SeedCallView),
        (status = 404, description = "Call not found", body = ErrorBody),
    )
)]
#[get("/{call_id}")]
pub async fn get_seed_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<SeedCallView>, ApiError> {
    let id: CallId = parse_path_id(&path, "call")?;
    let (call, turns) = state.calls.get(user.0.organization_id, id).await?;
    Ok(web::Json(SeedCallView::new(call, turns)))
}

/// One transcript line of a logged call.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoggedLine {
    /// `agent` or `customer` (`assistant`, `user`, `caller` are understood too).
    pub speaker: String,
    pub text: String,
    pub timestamp: Option<DateTime<Utc>>,
}

/// Seed 001: a call made elsewhere.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LogCallRequest {
    pub agent_id: Option<String>,
    pub phone_number: Option<String>,
    /// `inbound` (default) or `outbound`.
    pub direction: Option<String>,
    /// Seconds.
    pub duration: Option<i64>,
    /// `completed` (default), `failed` or `in_progress`.
    pub status: Option<String>,
    pub sentiment: Option<String>,
    pub latency: Option<f64>,
    #[serde(default)]
    pub transcript: Vec<LoggedLine>,
    pub recording_url: Option<String>,
    pub daily_room_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// When the call started (default: now).
    pub timestamp: Option<DateTime<Utc>>,
}

impl LogCallRequest {
    /// The domain's input; the seed's extra fields are kept in the metadata, so nothing sent is
    /// lost.
    fn into_external(self) -> ExternalCall {
        let mut metadata = match self.metadata {
            Some(serde_json::Value::Object(map)) => serde_json::Value::Object(map),
            Some(other) => other,
            None => serde_json::json!({}),
        };
        if let Some(object) = metadata.as_object_mut() {
            for (key, value) in [
                ("sentiment", self.sentiment.map(serde_json::Value::from)),
                ("latency", self.latency.map(serde_json::Value::from)),
                (
                    "daily_room_url",
                    self.daily_room_url.map(serde_json::Value::from),
                ),
            ] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
        }
        ExternalCall {
            agent_id: self.agent_id,
            phone_number: self.phone_number,
            direction: self.direction,
            status: self.status,
            started_at: self.timestamp,
            duration_secs: self.duration,
            turns: self
                .transcript
                .into_iter()
                .map(|line| (line.speaker, line.text, line.timestamp))
                .collect(),
            recording_url: self.recording_url,
            metadata,
            end_reason: None,
            idempotency_key: None,
        }
    }
}

/// Seed 001: logs a call made elsewhere, with its transcript, recording and metadata.
#[utoipa::path(
    tag = "calls",
    security(("bearer" = [])),
    request_body = LogCallRequest,
    responses(
        (status = 201, description = "The stored call", body = SeedCallView),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    )
)]
#[post("")]
pub async fn log_call(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: crate::http::json::ApiJson<LogCallRequest>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let (call, turns) = state
        .calls
        .log_external(user.0.organization_id, body.into_inner().into_external())
        .await?;
    Ok(actix_web::HttpResponse::Created().json(SeedCallView::new(call, turns)))
}
