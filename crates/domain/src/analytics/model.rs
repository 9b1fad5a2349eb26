//! What the analytics queries return: figures the database adds up per local day, and the
//! dashboard, metrics and agent figures the service builds from them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::call::{CallStatus, Sentiment};
use crate::ids::{AgentId, CallId};

/// How many completed analyses found each sentiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SentimentCounts {
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
    pub mixed: u64,
}

impl SentimentCounts {
    /// Adds another count in.
    pub fn add(&mut self, other: &Self) {
        self.positive += other.positive;
        self.neutral += other.neutral;
        self.negative += other.negative;
        self.mixed += other.mixed;
    }
}

/// Sums over the calls started on one local day, as the database computed them. Everything is
/// a count or a sum, so days add up to any longer period exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DayTotals {
    pub date: NaiveDate,
    pub calls: u64,
    pub completed: u64,
    pub failed: u64,
    /// Calls that have a duration (they ended), and the sum of their whole seconds.
    pub with_duration: u64,
    pub duration_secs: i64,
    /// Calls with a completed analysis, those of them resolved, and the sum of their scores.
    pub analysed: u64,
    pub resolved: u64,
    pub sentiment_score_sum: f64,
    pub sentiments: SentimentCounts,
}

impl DayTotals {
    /// Zeros for `date`.
    #[must_use]
    pub fn empty(date: NaiveDate) -> Self {
        Self {
            date,
            ..Self::default()
        }
    }

    /// Adds another period in (the date stays).
    pub fn add(&mut self, other: &Self) {
        self.calls += other.calls;
        self.completed += other.completed;
        self.failed += other.failed;
        self.with_duration += other.with_duration;
        self.duration_secs += other.duration_secs;
        self.analysed += other.analysed;
        self.resolved += other.resolved;
        self.sentiment_score_sum += other.sentiment_score_sum;
        self.sentiments.add(&other.sentiments);
    }

    /// Mean seconds of the calls that ended; 0 without any.
    #[must_use]
    pub fn avg_duration_secs(&self) -> f64 {
        ratio(self.duration_secs as f64, self.with_duration)
    }

    /// Percent of analysed calls resolved; 0 without any.
    #[must_use]
    pub fn resolution_rate(&self) -> f64 {
        ratio(self.resolved as f64 * 100.0, self.analysed)
    }

    /// Mean sentiment score (-1..=1) of analysed calls; 0 without any.
    #[must_use]
    pub fn avg_sentiment(&self) -> f64 {
        ratio(self.sentiment_score_sum, self.analysed)
    }

    /// Share (0..=1) of finished calls that completed rather than failed; 0 without any.
    #[must_use]
    pub fn success_rate(&self) -> f64 {
        ratio(self.completed as f64, self.completed + self.failed)
    }
}

/// `sum / count`, 0 for no count, rounded to 4 decimals so both databases' float sums agree.
fn ratio(sum: f64, count: u64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    round4(sum / count as f64)
}

/// Rounds to 4 decimal places.
#[must_use]
pub fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// Agent response times over a set of agent turns, in milliseconds: how long the caller waited
/// for the start of each answer (`TurnLatency::response_ms`).
///
/// Percentiles are nearest-rank: the p-th percentile of n values is the value at rank
/// ⌈p·n/100⌉ in ascending order, so it is always a latency that was measured (PostgreSQL's
/// `percentile_disc` defines the same).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyFigures {
    pub turns: u64,
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<u64>,
    pub p90_ms: Option<u64>,
}

/// The latency figures of one local day.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DayLatency {
    pub date: NaiveDate,
    pub latency: LatencyFigures,
}

/// One of the newest calls.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecentCall {
    pub id: CallId,
    pub agent_id: Option<AgentId>,
    pub started_at: DateTime<Utc>,
    pub duration_secs: Option<i64>,
    pub status: CallStatus,
    /// Its completed analysis's sentiment.
    pub sentiment: Option<Sentiment>,
}

/// A category and how many analysed calls it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CategoryCount {
    pub category: String,
    pub count: u64,
}

/// Which calls a query covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    pub organization: crate::ids::OrganizationId,
    /// Only this agent's calls.
    pub agent: Option<AgentId>,
}

/// The overview of a period.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Overview {
    pub total_calls: u64,
    pub avg_duration_seconds: f64,
    /// Percent of analysed calls resolved.
    pub resolution_rate: f64,
    pub avg_sentiment_score: f64,
    /// Calls started today (the organisation's day).
    pub calls_today: u64,
    /// Calls started in the last 7 days, today included.
    pub calls_this_week: u64,
    pub completed_calls: u64,
    pub failed_calls: u64,
    /// Share (0..=1) of finished calls that completed.
    pub success_rate: f64,
    pub analysed_calls: u64,
}

/// One day of the trend, zero when nothing happened.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DayTrend {
    pub date: NaiveDate,
    pub calls: u64,
    pub avg_sentiment: f64,
    pub resolution_rate: f64,
    pub avg_duration_seconds: f64,
    pub completed: u64,
    pub failed: u64,
}

/// Seed 004's dashboard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dashboard {
    pub days: u32,
    pub time_zone: &'static str,
    pub overview: Overview,
    pub sentiment: SentimentCounts,
    /// Every category with its count, largest first.
    pub categories: Vec<CategoryCount>,
    /// One entry per day of the period, oldest first.
    pub trends: Vec<DayTrend>,
    /// The five largest categories.
    pub top_issues: Vec<CategoryCount>,
    /// The five newest calls of the period.
    pub recent_calls: Vec<RecentCall>,
}

/// One day of the metrics: the trend and the agent turns' latency.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DayMetrics {
    pub trend: DayTrend,
    pub latency: LatencyFigures,
}

/// Figures over a period with their daily series, including latency (seed 000's metrics and an
/// agent's stats).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub days: u32,
    pub time_zone: &'static str,
    pub overview: Overview,
    pub sentiment: SentimentCounts,
    pub latency: LatencyFigures,
    pub daily: Vec<DayMetrics>,
}
