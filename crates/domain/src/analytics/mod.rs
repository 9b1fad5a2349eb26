//! Analytics of an organisation's calls: totals, breakdowns, daily trends and latency
//! percentiles, computed by the database over the organisation's own local days.

mod model;
mod service;
mod window;

pub use model::{
    CategoryCount, Dashboard, DayLatency, DayMetrics, DayTotals, DayTrend, LatencyFigures, Metrics,
    Overview, RecentCall, Scope, SentimentCounts, round4,
};
pub use service::{AnalyticsError, AnalyticsPorts, AnalyticsService};
pub use window::{AnalyticsWindow, LocalDay, MAX_DAYS, WindowError};
