//! Analytics: seed 004's `/api/v1/analytics/dashboard` and `/overview`, seed 000's
//! `/analytics/overview` and `/analytics/metrics`, and an agent's daily figures at
//! `/{agents}/{id}/stats`. Every figure is summed by the database over the organisation's own
//! days (its time zone); handlers only parse the query and shape the answer.

use std::collections::BTreeMap;

use actix_web::{get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::analytics::{
    CategoryCount, Dashboard, DayMetrics, DayTrend, LatencyFigures, Metrics, Overview, RecentCall,
    SentimentCounts,
};
use switchboard_domain::ids::AgentId;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::routes::parse_path_id;
use crate::state::AppState;

/// Days covered when the query names none (seed 004's default).
const DEFAULT_DAYS: u32 = 7;

/// `days`, 7 when absent, as a 422 naming it when it is not a whole number (the service checks
/// the range).
fn days(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DEFAULT_DAYS),
        Some(raw) => raw
            .parse()
            .map_err(|_| ApiError::field("days", "must be a whole number from 1 to 90")),
    }
}

/// Seed 000's `time_range` as days: `7d` (default), `30d` or `90d`.
fn time_range(raw: Option<&str>) -> Result<(&'static str, u32), ApiError> {
    match raw.map(str::trim) {
        None | Some("" | "7d") => Ok(("7d", 7)),
        Some("30d") => Ok(("30d", 30)),
        Some("90d") => Ok(("90d", 90)),
        Some(_) => Err(ApiError::field("time_range", "must be 7d, 30d or 90d")),
    }
}

fn agent(raw: Option<&str>) -> Result<Option<AgentId>, ApiError> {
    raw.map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse()
                .map_err(|_| ApiError::field("agent_id", "is not an agent id"))
        })
        .transpose()
}

/// Seed 004's query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DashboardQuery {
    /// Days back from today (the organisation's day), 1 to 90 (default 7).
    pub days: Option<String>,
    /// Only this agent's calls.
    pub agent_id: Option<String>,
}

/// Seed 000's query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TimeRangeQuery {
    /// `7d` (default), `30d` or `90d`.
    pub time_range: Option<String>,
    /// Only this agent's calls.
    pub agent_id: Option<String>,
}

/// An agent's figures' query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AgentStatsQuery {
    /// Days back from today (the organisation's day), 1 to 90 (default 7).
    pub days: Option<String>,
}

/// Totals of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewView {
    pub total_calls: u64,
    /// Mean seconds of the calls that ended.
    pub avg_duration_seconds: f64,
    /// Percent (0 to 100) of analysed calls resolved.
    pub resolution_rate: f64,
    /// Mean sentiment score (-1 to 1) of analysed calls.
    pub avg_sentiment_score: f64,
    /// Calls started today, the organisation's day.
    pub calls_today: u64,
    /// Calls started in the last 7 days, today included.
    pub calls_this_week: u64,
    pub completed_calls: u64,
    pub failed_calls: u64,
    /// Share (0 to 1) of finished calls that completed rather than failed.
    pub success_rate: f64,
    /// Calls with a completed analysis.
    pub analysed_calls: u64,
}

impl From<Overview> for OverviewView {
    fn from(o: Overview) -> Self {
        Self {
            total_calls: o.total_calls,
            avg_duration_seconds: o.avg_duration_seconds,
            resolution_rate: o.resolution_rate,
            avg_sentiment_score: o.avg_sentiment_score,
            calls_today: o.calls_today,
            calls_this_week: o.calls_this_week,
            completed_calls: o.completed_calls,
            failed_calls: o.failed_calls,
            success_rate: o.success_rate,
            analysed_calls: o.analysed_calls,
        }
    }
}

/// Analysed calls per sentiment.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentimentView {
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
    pub mixed: u64,
}

impl From<SentimentCounts> for SentimentView {
    fn from(s: SentimentCounts) -> Self {
        Self {
            positive: s.positive,
            neutral: s.neutral,
            negative: s.negative,
            mixed: s.mixed,
        }
    }
}

/// Seed 004's category breakdown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoriesView {
    /// Analysed calls per category.
    pub categories: BTreeMap<String, u64>,
}

/// One day of the trend (zeros on days without calls).
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendView {
    /// The organisation's local date.
    pub date: NaiveDate,
    pub calls: u64,
    pub avg_sentiment: f64,
    /// Percent of the day's analysed calls resolved.
    pub resolution_rate: f64,
    pub avg_duration_seconds: f64,
    pub completed: u64,
    pub failed: u64,
}

impl From<DayTrend> for TrendView {
    fn from(d: DayTrend) -> Self {
        Self {
            date: d.date,
            calls: d.calls,
            avg_sentiment: d.avg_sentiment,
            resolution_rate: d.resolution_rate,
            avg_duration_seconds: d.avg_duration_seconds,
            completed: d.completed,
            failed: d.failed,
        }
    }
}

/// A category and its analysed calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueView {
    pub category: String,
    pub count: u64,
}

impl From<CategoryCount> for IssueView {
    fn from(c: CategoryCount) -> Self {
        Self {
            category: c.category,
            count: c.count,
        }
    }
}

/// One of the newest calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecentCallView {
    pub id: String,
    pub agent_id: Option<String>,
    pub started_at: DateTime<Utc>,
    /// Seconds, once the call has ended.
    pub duration: Option<i64>,
    pub status: &'static str,
    /// Its analysis's sentiment, once analysed.
    pub sentiment: Option<&'static str>,
}

impl From<RecentCall> for RecentCallView {
    fn from(c: RecentCall) -> Self {
        Self {
            id: c.id.to_string(),
            agent_id: c.agent_id.map(|a| a.to_string()),
            started_at: c.started_at,
            duration: c.duration_secs,
            status: c.status.as_str(),
            sentiment: c.sentiment.map(|s| s.as_str()),
        }
    }
}

/// Seed 004's dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardView {
    pub overview: OverviewView,
    pub sentiment: SentimentView,
    pub categories: CategoriesView,
    /// One entry per day of the period, oldest first.
    pub trends: Vec<TrendView>,
    /// The five largest categories, largest first.
    pub top_issues: Vec<IssueView>,
    /// The five newest calls of the period.
    pub recent_calls: Vec<RecentCallView>,
    pub days: u32,
    /// The organisation's time zone, whose days these are.
    pub time_zone: &'static str,
}

impl From<Dashboard> for DashboardView {
    fn from(d: Dashboard) -> Self {
        Self {
            overview: d.overview.into(),
            sentiment: d.sentiment.into(),
            categories: CategoriesView {
                categories: d
                    .categories
                    .into_iter()
                    .map(|c| (c.category, c.count))
                    .collect(),
            },
            trends: d.trends.into_iter().map(Into::into).collect(),
            top_issues: d.top_issues.into_iter().map(Into::into).collect(),
            recent_calls: d.recent_calls.into_iter().map(Into::into).collect(),
            days: d.days,
            time_zone: d.time_zone,
        }
    }
}

/// How long callers waited for the start of the agent's answers, in milliseconds:
/// percentiles are nearest-rank (always a measured value).
#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyView {
    /// Agent turns measured.
    pub turns: u64,
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<u64>,
    pub p90_ms: Option<u64>,
}

impl From<LatencyFigures> for LatencyView {
    fn from(l: LatencyFigures) -> Self {
        Self {
            turns: l.turns,
            avg_ms: l.avg_ms,
            p50_ms: l.p50_ms,
            p90_ms: l.p90_ms,
        }
    }
}

/// One day of the metrics.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayMetricsView {
    #[serde(flatten)]
    pub trend: TrendView,
    pub latency: LatencyView,
}

impl From<DayMetrics> for DayMetricsView {
    fn from(d: DayMetrics) -> Self {
        Self {
            trend: d.trend.into(),
            latency: d.latency.into(),
        }
    }
}

/// Figures of a period with their daily series.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsView {
    /// Seed 000's name of the period (`7d`, `30d`, `90d`), when it was asked by that name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_range: Option<&'static str>,
    pub days: u32,
    pub time_zone: &'static str,
    /// The agent the figures are limited to.
    pub agent_id: Option<String>,
    pub overview: OverviewView,
    pub sentiment: SentimentView,
    pub latency: LatencyView,
    /// One entry per day of the period, oldest first.
    pub daily: Vec<DayMetricsView>,
}

impl MetricsView {
    fn new(figures: Metrics, time_range: Option<&'static str>, agent: Option<AgentId>) -> Self {
        Self {
            time_range,
            days: figures.days,
            time_zone: figures.time_zone,
            agent_id: agent.map(|a| a.to_string()),
            overview: figures.overview.into(),
            sentiment: figures.sentiment.into(),
            latency: figures.latency.into(),
            daily: figures.daily.into_iter().map(Into::into).collect(),
        }
    }
}

/// Seed 000's overview: the totals of the period, named as it was asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct RangeOverviewView {
    pub time_range: &'static str,
    pub agent_id: Option<String>,
    #[serde(flatten)]
    pub overview: OverviewView,
}

/// Seed 004: the dashboard of the last `days` days.
#[utoipa::path(
    tag = "analytics",
    security(("bearer" = [])),
    params(DashboardQuery),
    responses(
        (status = 200, description = "The dashboard", body = DashboardView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "`days` outside 1 to 90, or a malformed agent id", body = ErrorBody),
    )
)]
#[get("/dashboard")]
pub async fn dashboard(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<DashboardQuery>,
) -> Result<web::Json<DashboardView>, ApiError> {
    let days = days(query.days.as_deref())?;
    let agent = agent(query.agent_id.as_deref())?;
    let figures = state
        .analytics
        .dashboard(user.0.organization_id, days, agent)
        .await?;
    Ok(web::Json(figures.into()))
}

/// Seed 004: the overview of the last `days` days.
#[utoipa::path(
    tag = "analytics",
    security(("bearer" = [])),
    params(DashboardQuery),
    responses(
        (status = 200, description = "The totals", body = OverviewView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "`days` outside 1 to 90, or a malformed agent id", body = ErrorBody),
    )
)]
#[get("/overview")]
pub async fn overview(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<DashboardQuery>,
) -> Result<web::Json<OverviewView>, ApiError> {
    let days = days(query.days.as_deref())?;
    let agent = agent(query.agent_id.as_deref())?;
    let figures = state
        .analytics
        .overview(user.0.organization_id, days, agent)
        .await?;
    Ok(web::Json(figures.into()))
}

/// Seed 000: the overview of a time range.
#[utoipa::path(
    tag = "analytics",
    security(("bearer" = [])),
    params(TimeRangeQuery),
    responses(
        (status = 200, description = "The totals", body = RangeOverviewView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "An unknown time range or a malformed agent id", body = ErrorBody),
    )
)]
#[get("/overview")]
pub async fn range_overview(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<TimeRangeQuery>,
) -> Result<web::Json<RangeOverviewView>, ApiError> {
    let (range, days) = time_range(query.time_range.as_deref())?;
    let agent = agent(query.agent_id.as_deref())?;
    let figures = state
        .analytics
        .overview(user.0.organization_id, days, agent)
        .await?;
    Ok(web::Json(RangeOverviewView {
        time_range: range,
        agent_id: agent.map(|a| a.to_string()),
        overview: figures.into(),
    }))
}

/// Seed 000: daily metrics of a time range, with the agents' turn latency.
#[utoipa::path(
    tag = "analytics",
    security(("bearer" = [])),
    params(TimeRangeQuery),
    responses(
        (status = 200, description = "The metrics", body = MetricsView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "An unknown time range or a malformed agent id", body = ErrorBody),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<TimeRangeQuery>,
) -> Result<web::Json<MetricsView>, ApiError> {
    let (range, days) = time_range(query.time_range.as_deref())?;
    let agent = agent(query.agent_id.as_deref())?;
    let figures = state
        .analytics
        .metrics(user.0.organization_id, days, agent)
        .await?;
    Ok(web::Json(MetricsView::new(figures, Some(range), agent)))
}

/// An agent's figures per day of the last `days` days, with turn-latency percentiles.
#[utoipa::path(
    tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, description = "The agent's id"), AgentStatsQuery),
    responses(
        (status = 200, description = "The agent's figures", body = MetricsView),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "`days` outside 1 to 90", body = ErrorBody),
    )
)]
#[get("/{agent_id}/stats")]
pub async fn agent_stats(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AgentStatsQuery>,
) -> Result<web::Json<MetricsView>, ApiError> {
    let id: AgentId = parse_path_id(&path, "agent")?;
    let days = days(query.days.as_deref())?;
    let figures = state
        .analytics
        .metrics(user.0.organization_id, days, Some(id))
        .await?;
    Ok(web::Json(MetricsView::new(figures, None, Some(id))))
}
