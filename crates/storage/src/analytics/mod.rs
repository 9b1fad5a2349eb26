//! `AnalyticsRepository` on sea-orm: aggregate queries over `calls` (which carries its completed
//! analysis's sentiment, score, category and resolution) and `call_turns` that return sums per
//! local day, never the calls themselves.

mod local_day;
mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, QueryResult};
use switchboard_domain::analytics::{
    AnalyticsWindow, CategoryCount, DayLatency, DayTotals, LatencyFigures, RecentCall, Scope,
    SentimentCounts,
};
use switchboard_domain::call::{CallStatus, Sentiment};
use switchboard_domain::ids::{AgentId, CallId};
use switchboard_domain::ports::{AnalyticsRepository, RepositoryError};

use crate::accounts::unexpected;
use crate::{Backend, Database};
pub(crate) use sql::Sql;

use local_day::{push_local_date, read_local_date};

/// Aggregates of calls in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmAnalytics {
    db: Database,
}

impl SeaOrmAnalytics {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    async fn rows(&self, sql: Sql) -> Result<Vec<QueryResult>, RepositoryError> {
        self.db
            .connection()
            .query_all(sql.build())
            .await
            .map_err(unexpected)
    }
}

/// A call's whole seconds as `Call::duration_secs` counts them: the provider's talk time, else
/// from start to end (truncated); NULL while the call goes on.
pub(crate) fn duration_secs(backend: Backend) -> &'static str {
    match backend {
        // date_part is a double; EXTRACT's numeric costs several times more per row.
        Backend::Postgres => {
            "COALESCE(c.talk_secs, CAST(TRUNC(date_part('epoch', c.ended_at - c.started_at)) \
             AS BIGINT))"
        }
        // julianday is fractional days; through whole milliseconds it truncates like chrono.
        Backend::Sqlite => {
            "COALESCE(c.talk_secs, CAST(ROUND((julianday(c.ended_at) - julianday(c.started_at)) \
             * 86400000.0) AS INTEGER) / 1000)"
        }
    }
}

/// The wait for the start of an agent's answer, as `TurnLatency::response_ms`.
pub(crate) const RESPONSE_MS: &str = "COALESCE(t.first_frame_ms, t.first_token_ms, t.total_ms)";

/// ` WHERE` over `calls c`: the scope's calls started within the window.
fn push_scope(sql: &mut Sql, scope: Scope, window: &AnalyticsWindow) {
    sql.push(" WHERE c.organization_id = ")
        .bind(scope.organization.as_uuid())
        .push(" AND c.started_at >= ")
        .bind(window.start())
        .push(" AND c.started_at < ")
        .bind(window.end());
    if let Some(agent) = scope.agent {
        sql.push(" AND c.agent_id = ").bind(agent.as_uuid());
    }
}

fn count(row: &QueryResult, column: &str) -> Result<u64, RepositoryError> {
    let value: Option<i64> = row.try_get("", column).map_err(unexpected)?;
    Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}

/// Latency figures of the rows of a `lat (k, ms)` relation grouped by `k`: count, mean, and
/// nearest-rank p50 and p90. The rank ⌈p·n/100⌉ is computed in integers, in one query that
/// both databases run, so they pick the same row by construction.
pub(crate) const LATENCY_BY_KEY: &str = "\
    , ranked AS (\
        SELECT k, ms, \
            ROW_NUMBER() OVER (PARTITION BY k ORDER BY ms) AS rn, \
            COUNT(*) OVER (PARTITION BY k) AS n \
        FROM lat\
    ) \
    SELECT k, COUNT(*) AS turns, AVG(CAST(ms AS DOUBLE PRECISION)) AS avg_ms, \
        MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN ms END) AS p50_ms, \
        MAX(CASE WHEN rn = (90 * n + 99) / 100 THEN ms END) AS p90_ms \
    FROM ranked GROUP BY k ORDER BY k";

/// The figures of one row of [`LATENCY_BY_KEY`].
pub(crate) fn latency_figures(row: &QueryResult) -> Result<LatencyFigures, RepositoryError> {
    let ms = |column: &str| -> Result<Option<u64>, RepositoryError> {
        let value: Option<i64> = row.try_get("", column).map_err(unexpected)?;
        Ok(value.and_then(|v| u64::try_from(v).ok()))
    };
    let avg: Option<f64> = row.try_get("", "avg_ms").map_err(unexpected)?;
    Ok(LatencyFigures {
        turns: count(row, "turns")?,
        avg_ms: avg.map(|v| (v * 10.0).round() / 10.0),
        p50_ms: ms("p50_ms")?,
        p90_ms: ms("p90_ms")?,
    })
}

impl SeaOrmAnalytics {
    /// The measured agent turns of the scope's calls as `lat (k, ms)`: each keyed by its call's
    /// local date, and again under a NULL key for the whole window. PostgreSQL materialises
    /// `turns` once (it is read twice), so the turns are read once for both.
    fn latency_sql(&self, scope: Scope, window: &AnalyticsWindow) -> Sql {
        let mut sql = Sql::new(self.db.backend());
        sql.push("WITH turns AS (SELECT ");
        push_local_date(&mut sql, "c.started_at", window);
        sql.push(" AS day, ")
            .push(RESPONSE_MS)
            .push(" AS ms FROM call_turns t JOIN calls c ON c.id = t.call_id");
        push_scope(&mut sql, scope, window);
        sql.push(
            " AND t.speaker = 'agent' AND t.total_ms IS NOT NULL), \
             lat AS (SELECT day AS k, ms FROM turns UNION ALL SELECT NULL, ms FROM turns)",
        )
        .push(LATENCY_BY_KEY);
        sql
    }
}

#[async_trait]
impl AnalyticsRepository for SeaOrmAnalytics {
    async fn day_totals(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
    ) -> Result<Vec<DayTotals>, RepositoryError> {
        let backend = self.db.backend();
        let duration = duration_secs(backend);
        let sentiment = |value: &str| {
            format!("COUNT(*) FILTER (WHERE c.analysis_sentiment = '{value}') AS {value}")
        };
        // No join: the analysis's fields are on the call (NULL until it completes), and on
        // PostgreSQL the covering index holds every column read here (an index-only scan).
        let mut sql = Sql::new(backend);
        sql.push("SELECT ");
        push_local_date(&mut sql, "c.started_at", window);
        sql.push(&format!(
            " AS day, COUNT(*) AS calls, \
             COUNT(*) FILTER (WHERE c.status = 'completed') AS completed, \
             COUNT(*) FILTER (WHERE c.status = 'failed') AS failed, \
             COUNT({duration}) AS with_duration, \
             CAST(COALESCE(SUM({duration}), 0) AS BIGINT) AS duration_secs, \
             COUNT(c.analysis_sentiment) AS analysed, \
             COUNT(*) FILTER (WHERE c.analysis_resolution = 'resolved') AS resolved, \
             COALESCE(SUM(c.analysis_sentiment_score), 0.0) AS score_sum, \
             {}, {}, {}, {} FROM calls c",
            sentiment("positive"),
            sentiment("neutral"),
            sentiment("negative"),
            sentiment("mixed"),
        ));
        push_scope(&mut sql, scope, window);
        sql.push(" GROUP BY 1 ORDER BY 1");
        self.rows(sql)
            .await?
            .iter()
            .map(|row| {
                let duration: Option<i64> = row.try_get("", "duration_secs").map_err(unexpected)?;
                let score: Option<f64> = row.try_get("", "score_sum").map_err(unexpected)?;
                Ok(DayTotals {
                    date: read_local_date(backend, row, "day")?.ok_or_else(|| {
                        RepositoryError(anyhow::anyhow!("a day of calls without a date"))
                    })?,
                    calls: count(row, "calls")?,
                    completed: count(row, "completed")?,
                    failed: count(row, "failed")?,
                    with_duration: count(row, "with_duration")?,
                    duration_secs: duration.unwrap_or(0),
                    analysed: count(row, "analysed")?,
                    resolved: count(row, "resolved")?,
                    sentiment_score_sum: score.unwrap_or(0.0),
                    sentiments: SentimentCounts {
                        positive: count(row, "positive")?,
                        neutral: count(row, "neutral")?,
                        negative: count(row, "negative")?,
                        mixed: count(row, "mixed")?,
                    },
                })
            })
            .collect()
    }

    async fn categories(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
    ) -> Result<Vec<CategoryCount>, RepositoryError> {
        let mut sql = Sql::new(self.db.backend());
        sql.push("SELECT c.analysis_category AS category, COUNT(*) AS n FROM calls c");
        push_scope(&mut sql, scope, window);
        sql.push(
            " AND c.analysis_category IS NOT NULL \
             GROUP BY c.analysis_category ORDER BY n DESC, c.analysis_category",
        );
        self.rows(sql)
            .await?
            .iter()
            .map(|row| {
                Ok(CategoryCount {
                    category: row.try_get("", "category").map_err(unexpected)?,
                    count: count(row, "n")?,
                })
            })
            .collect()
    }

    async fn recent_calls(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
        limit: u64,
    ) -> Result<Vec<RecentCall>, RepositoryError> {
        let mut sql = Sql::new(self.db.backend());
        sql.push(&format!(
            "SELECT c.id AS id, c.agent_id AS agent_id, c.started_at AS started_at, \
             {} AS duration_secs, c.status AS status, c.analysis_sentiment AS sentiment \
             FROM calls c",
            duration_secs(self.db.backend())
        ));
        push_scope(&mut sql, scope, window);
        sql.push(" ORDER BY c.started_at DESC, c.id DESC LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        self.rows(sql)
            .await?
            .iter()
            .map(|row| {
                let id: uuid::Uuid = row.try_get("", "id").map_err(unexpected)?;
                let agent: Option<uuid::Uuid> = row.try_get("", "agent_id").map_err(unexpected)?;
                let started_at: DateTime<Utc> =
                    row.try_get("", "started_at").map_err(unexpected)?;
                let status: String = row.try_get("", "status").map_err(unexpected)?;
                let sentiment: Option<String> = row.try_get("", "sentiment").map_err(unexpected)?;
                let stored = |what: &str, e: String| {
                    RepositoryError(anyhow::anyhow!("stored {what} of call {id}: {e}"))
                };
                Ok(RecentCall {
                    id: CallId::from_uuid(id),
                    agent_id: agent.map(AgentId::from_uuid),
                    started_at,
                    duration_secs: row.try_get("", "duration_secs").map_err(unexpected)?,
                    status: CallStatus::parse(&status).map_err(|e| stored("status", e))?,
                    sentiment: sentiment
                        .map(|s| Sentiment::parse(&s))
                        .transpose()
                        .map_err(|e| stored("sentiment", e))?,
                })
            })
            .collect()
    }

    async fn latency(
        &self,
        scope: Scope,
        window: &AnalyticsWindow,
    ) -> Result<(LatencyFigures, Vec<DayLatency>), RepositoryError> {
        let mut whole = LatencyFigures::default();
        let mut days = Vec::new();
        for row in self.rows(self.latency_sql(scope, window)).await? {
            match read_local_date(self.db.backend(), &row, "k")? {
                Some(date) => days.push(DayLatency {
                    date,
                    latency: latency_figures(&row)?,
                }),
                None => whole = latency_figures(&row)?,
            }
        }
        // Ordered by the date's own type; both databases put the NULL key apart from the days.
        days.sort_by_key(|d| d.date);
        Ok((whole, days))
    }
}
