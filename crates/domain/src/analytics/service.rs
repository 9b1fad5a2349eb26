//! The analytics use cases: seed 004's dashboard and overview, seed 000's metrics, and an
//! agent's daily figures, each over the organisation's own days.

use std::sync::Arc;

use chrono::Days;

use super::model::{
    Dashboard, DayMetrics, DayTotals, DayTrend, LatencyFigures, Metrics, Overview, Scope,
};
use super::window::{AnalyticsWindow, WindowError};
use crate::ids::{AgentId, OrganizationId};
use crate::ports::{
    AccountRepository, AgentRepository, AnalyticsRepository, Clock, RepositoryError,
};

/// How many newest calls and largest categories the dashboard lists.
const DASHBOARD_LIST_LEN: usize = 5;
/// `calls_this_week` counts this many days, today included.
const WEEK_DAYS: u32 = 7;
/// The most days one read of day totals covers (see `AnalyticsService::day_totals`).
const DAYS_PER_READ: usize = 31;

/// Why analytics could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The period is not 1 to 90 days.
    #[error("must be between 1 and {}", super::window::MAX_DAYS)]
    DaysOutOfRange,
    /// No such agent in the caller's organisation.
    #[error("agent not found")]
    AgentNotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for AnalyticsError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

/// The ports analytics reads.
#[derive(Clone)]
pub struct AnalyticsPorts {
    pub analytics: Arc<dyn AnalyticsRepository>,
    pub accounts: Arc<dyn AccountRepository>,
    pub agents: Arc<dyn AgentRepository>,
    pub clock: Arc<dyn Clock>,
}

/// Analytics of an organisation's calls, computed by the database.
#[derive(Clone)]
pub struct AnalyticsService {
    ports: AnalyticsPorts,
}

/// The days asked for, and the totals of a window reaching back at least a week (for
/// `calls_this_week`), zero-filled.
struct Period {
    days: u32,
    window: AnalyticsWindow,
    /// One entry per day of `week_window`, oldest first.
    totals: Vec<DayTotals>,
}

impl Period {
    /// The period's totals, one per day of `wide`, from the days that had calls.
    fn of(
        days: u32,
        wide: &AnalyticsWindow,
        window: AnalyticsWindow,
        found: Vec<DayTotals>,
    ) -> Self {
        let mut found = found.into_iter().peekable();
        let mut totals = Vec::with_capacity(wide.days().len());
        for day in wide.days() {
            // Both lists are in date order; days without calls are zeros.
            match found.next_if(|t| t.date == day.date) {
                Some(t) => totals.push(t),
                None => totals.push(DayTotals::empty(day.date)),
            }
        }
        Self {
            days,
            window,
            totals,
        }
    }

    /// The totals of the asked-for days only.
    fn asked(&self) -> &[DayTotals] {
        let skip = self.totals.len().saturating_sub(self.days as usize);
        &self.totals[skip..]
    }

    fn overview(&self) -> Overview {
        let mut sum = DayTotals::default();
        for day in self.asked() {
            sum.add(day);
        }
        let today = self.window.today();
        let week_start = today
            .checked_sub_days(Days::new(u64::from(WEEK_DAYS - 1)))
            .unwrap_or(today);
        let calls_on = |keep: &dyn Fn(&DayTotals) -> bool| -> u64 {
            self.totals
                .iter()
                .filter(|d| keep(d))
                .map(|d| d.calls)
                .sum()
        };
        Overview {
            total_calls: sum.calls,
            avg_duration_seconds: sum.avg_duration_secs(),
            resolution_rate: sum.resolution_rate(),
            avg_sentiment_score: sum.avg_sentiment(),
            calls_today: calls_on(&|d| d.date == today),
            calls_this_week: calls_on(&|d| d.date >= week_start),
            completed_calls: sum.completed,
            failed_calls: sum.failed,
            success_rate: sum.success_rate(),
            analysed_calls: sum.analysed,
        }
    }

    fn sentiment(&self) -> super::SentimentCounts {
        let mut counts = super::SentimentCounts::default();
        for day in self.asked() {
            counts.add(&day.sentiments);
        }
        counts
    }

    fn trends(&self) -> Vec<DayTrend> {
        self.asked()
            .iter()
            .map(|d| DayTrend {
                date: d.date,
                calls: d.calls,
                avg_sentiment: d.avg_sentiment(),
                resolution_rate: d.resolution_rate(),
                avg_duration_seconds: d.avg_duration_secs(),
                completed: d.completed,
                failed: d.failed,
            })
            .collect()
    }
}

impl AnalyticsService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(ports: AnalyticsPorts) -> Self {
        Self { ports }
    }

    /// The window of `days` days ending today in the organisation's zone.
    async fn window(
        &self,
        organization: OrganizationId,
        days: u32,
    ) -> Result<AnalyticsWindow, AnalyticsError> {
        let zone = self
            .ports
            .accounts
            .find_organization(organization)
            .await?
            .map(|o| o.time_zone)
            .ok_or_else(|| anyhow::anyhow!("organisation {organization} does not exist"))?;
        AnalyticsWindow::ending_at(self.ports.clock.now(), &zone, days).map_err(|e| match e {
            WindowError::DaysOutOfRange => AnalyticsError::DaysOutOfRange,
            WindowError::UnknownTimeZone(_) => {
                AnalyticsError::Unexpected(anyhow::anyhow!("organisation {organization}: {e}"))
            }
        })
    }

    /// The scope, after checking the agent is the organisation's.
    async fn scope(
        &self,
        organization: OrganizationId,
        agent: Option<AgentId>,
    ) -> Result<Scope, AnalyticsError> {
        if let Some(agent) = agent {
            // Deleted agents still have their calls; only another organisation's are hidden.
            let known = self.ports.agents.find(organization, agent).await?.is_some();
            if !known {
                return Err(AnalyticsError::AgentNotFound);
            }
        }
        Ok(Scope {
            organization,
            agent,
        })
    }

    /// The window of the asked-for days, and the wider one (at least a week) the day totals
    /// are read over.
    async fn windows(
        &self,
        scope: Scope,
        days: u32,
    ) -> Result<(AnalyticsWindow, AnalyticsWindow), AnalyticsError> {
        let wide = self.window(scope.organization, days.max(WEEK_DAYS)).await?;
        let window = wide.last(days);
        Ok((wide, window))
    }

    /// The totals of each day of `window` that had calls, oldest first. A long window is read
    /// in parts of [`DAYS_PER_READ`] days side by side: the database sums each part on a core
    /// of its own, where one read of the whole window sums every call on one.
    async fn day_totals(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
    ) -> Result<Vec<DayTotals>, RepositoryError> {
        let parts = window.parts(DAYS_PER_READ);
        let read = futures_util::future::try_join_all(
            parts
                .iter()
                .map(|part| self.ports.analytics.day_totals(scope, part)),
        )
        .await?;
        Ok(read.into_iter().flatten().collect())
    }

    async fn period(&self, scope: Scope, days: u32) -> Result<Period, AnalyticsError> {
        let (wide, window) = self.windows(scope, days).await?;
        let found = self.day_totals(scope, &wide).await?;
        Ok(Period::of(days, &wide, window, found))
    }

    /// Seed 004's dashboard over the last `days` days (1..=90), optionally of one agent.
    ///
    /// # Errors
    /// `DaysOutOfRange`; `AgentNotFound` for an agent not of this organisation.
    pub async fn dashboard(
        &self,
        organization: OrganizationId,
        days: u32,
        agent: Option<AgentId>,
    ) -> Result<Dashboard, AnalyticsError> {
        check_days(days)?;
        let scope = self.scope(organization, agent).await?;
        let (wide, window) = self.windows(scope, days).await?;
        // Independent reads, each on a connection of its own: the answer waits for the
        // slowest, not for their sum.
        let analytics = &self.ports.analytics;
        let (found, categories, recent_calls) = futures_util::try_join!(
            self.day_totals(scope, &wide),
            analytics.categories(scope, &window),
            analytics.recent_calls(scope, &window, DASHBOARD_LIST_LEN as u64),
        )?;
        let period = Period::of(days, &wide, window, found);
        Ok(Dashboard {
            days,
            time_zone: period.window.time_zone(),
            overview: period.overview(),
            sentiment: period.sentiment(),
            top_issues: categories
                .iter()
                .take(DASHBOARD_LIST_LEN)
                .cloned()
                .collect(),
            categories,
            trends: period.trends(),
            recent_calls,
        })
    }

    /// The overview alone.
    ///
    /// # Errors
    /// As [`Self::dashboard`].
    pub async fn overview(
        &self,
        organization: OrganizationId,
        days: u32,
        agent: Option<AgentId>,
    ) -> Result<Overview, AnalyticsError> {
        check_days(days)?;
        let scope = self.scope(organization, agent).await?;
        Ok(self.period(scope, days).await?.overview())
    }

    /// Figures with a daily series that includes agent turn latency.
    ///
    /// # Errors
    /// As [`Self::dashboard`].
    pub async fn metrics(
        &self,
        organization: OrganizationId,
        days: u32,
        agent: Option<AgentId>,
    ) -> Result<Metrics, AnalyticsError> {
        check_days(days)?;
        let scope = self.scope(organization, agent).await?;
        let (wide, window) = self.windows(scope, days).await?;
        let analytics = &self.ports.analytics;
        let (found, (latency, daily_latency)) = futures_util::try_join!(
            self.day_totals(scope, &wide),
            analytics.latency(scope, &window),
        )?;
        let period = Period::of(days, &wide, window, found);
        let daily = period
            .trends()
            .into_iter()
            .map(|trend| DayMetrics {
                trend,
                latency: daily_latency
                    .iter()
                    .find(|d| d.date == trend.date)
                    .map_or_else(LatencyFigures::default, |d| d.latency),
            })
            .collect();
        Ok(Metrics {
            days,
            time_zone: period.window.time_zone(),
            overview: period.overview(),
            sentiment: period.sentiment(),
            latency,
            daily,
        })
    }
}

fn check_days(days: u32) -> Result<(), AnalyticsError> {
    if (1..=super::window::MAX_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(AnalyticsError::DaysOutOfRange)
    }
}
