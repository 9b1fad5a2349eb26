//! The analytics port: figures the database adds up over an organisation's calls, so no
//! request ever loads the calls themselves.

use async_trait::async_trait;

use super::RepositoryError;
use crate::analytics::{
    AnalyticsWindow, CategoryCount, DayLatency, DayTotals, LatencyFigures, RecentCall, Scope,
};

/// Aggregate queries over calls, their analyses and their turns.
///
/// Contract, for every adapter: a call belongs to the local day of the window its `started_at`
/// falls in (each day is `[start, end)` in UTC, as the window gives it); calls outside the
/// window, of other organisations, or (with `scope.agent`) of other agents never count. Only
/// completed analyses count for sentiment, category, resolution and score. Latency is over the
/// agent turns that carry one, as `TurnLatency::response_ms`: the first frame, else the first
/// token, else the whole reply.
#[async_trait]
pub trait AnalyticsRepository: Send + Sync {
    /// The totals of each day that has calls, oldest first; days without calls are left out.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn day_totals(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
    ) -> Result<Vec<DayTotals>, RepositoryError>;

    /// Analysed calls per category, largest first, equal counts by name.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn categories(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
    ) -> Result<Vec<CategoryCount>, RepositoryError>;

    /// The `limit` newest calls, newest first.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn recent_calls(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
        limit: u64,
    ) -> Result<Vec<RecentCall>, RepositoryError>;

    /// Latency over the whole window, and per day of the call's start (days without measured
    /// turns left out), with nearest-rank percentiles (see [`LatencyFigures`]).
    ///
    /// # Errors
    /// Only on storage failure.
    async fn latency(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
    ) -> Result<(LatencyFigures, Vec<DayLatency>), RepositoryError>;
}
