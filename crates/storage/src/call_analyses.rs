//! `CallAnalysisRepository` on sea-orm: the `call_analyses` table as a durable job queue (claimed
//! as every job table is, see [`crate::job_queue`]) and as
//! the store of finished analyses, which call reads and filters use.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use switchboard_domain::call::{
    AnalyzerKind, Call, CallAnalysis, CallAnalysisState, Category, Resolution, Sentiment,
};
use switchboard_domain::ids::CallId;
use switchboard_domain::ports::{AnalysisClaim, CallAnalysisRepository, RepositoryError};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::call;
use crate::entities::call_analysis::{self, Column};
use crate::job_queue::{self, ClaimColumns, chrono_of, clipped, no_token};

const PENDING: &str = "pending";
const RUNNING: &str = "running";
const COMPLETED: &str = "completed";
const FAILED: &str = "failed";

/// Analysis jobs and analyses in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmCallAnalyses {
    db: Database,
}

impl SeaOrmCallAnalyses {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Records a pending analysis job for an ended call, unless it has one: called in the
/// transaction that stores the call's end.
pub(crate) async fn queue(
    connection: &impl ConnectionTrait,
    call: &Call,
) -> Result<(), RepositoryError> {
    let at = call.updated_at;
    call_analysis::Entity::insert(call_analysis::ActiveModel {
        call_id: Set(call.id.as_uuid()),
        organization_id: Set(call.organization_id.as_uuid()),
        status: Set(PENDING.to_owned()),
        attempts: Set(0),
        due_at: Set(at),
        claim_token: Set(None),
        last_error: Set(None),
        summary: Set(None),
        sentiment: Set(None),
        sentiment_score: Set(None),
        category: Set(None),
        resolution: Set(None),
        key_topics: Set(None),
        action_items: Set(None),
        extracted: Set(None),
        analyzer: Set(None),
        completed_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    })
    .on_conflict(OnConflict::column(Column::CallId).do_nothing().to_owned())
    .exec_without_returning(connection)
    .await
    .map_err(unexpected)?;
    Ok(())
}

fn stored<T>(what: &str, id: uuid::Uuid, parsed: Result<T, String>) -> Result<T, RepositoryError> {
    parsed.map_err(|e| RepositoryError(anyhow::anyhow!("stored {what} of call {id}: {e}")))
}

fn strings(
    what: &str,
    id: uuid::Uuid,
    value: Option<serde_json::Value>,
) -> Result<Vec<String>, RepositoryError> {
    stored(
        what,
        id,
        serde_json::from_value(value.unwrap_or_else(|| serde_json::json!([])))
            .map_err(|e| e.to_string()),
    )
}

fn analysis_from_row(row: call_analysis::Model) -> Result<CallAnalysisState, RepositoryError> {
    let id = row.call_id;
    match row.status.as_str() {
        PENDING | RUNNING => return Ok(CallAnalysisState::Pending),
        FAILED => return Ok(CallAnalysisState::Failed),
        COMPLETED => {}
        other => {
            return Err(RepositoryError(anyhow::anyhow!(
                "stored analysis status of call {id} is unknown: {other:?}"
            )));
        }
    }
    let missing = |what: &str| format!("{what} is missing");
    let analysis = CallAnalysis {
        summary: row.summary.unwrap_or_default(),
        sentiment: stored(
            "sentiment",
            id,
            row.sentiment
                .ok_or_else(|| missing("sentiment"))
                .and_then(|s| Sentiment::parse(&s)),
        )?,
        sentiment_score: row.sentiment_score.unwrap_or(0.0),
        category: stored(
            "category",
            id,
            row.category
                .ok_or_else(|| missing("category"))
                .and_then(|c| Category::parse(&c)),
        )?,
        resolution: stored(
            "resolution",
            id,
            row.resolution
                .ok_or_else(|| missing("resolution"))
                .and_then(|r| Resolution::parse(&r)),
        )?,
        key_topics: strings("key topics", id, row.key_topics)?,
        action_items: strings("action items", id, row.action_items)?,
        extracted: match row.extracted {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(fields)) => fields,
            Some(_) => return stored("extracted fields", id, Err("not an object".to_owned())),
        },
        analyzer: stored(
            "analyzer",
            id,
            row.analyzer
                .ok_or_else(|| missing("analyzer"))
                .and_then(|a| AnalyzerKind::parse(&a)),
        )?,
    };
    Ok(CallAnalysisState::Completed {
        analysis: Box::new(analysis),
        analyzed_at: row.completed_at.unwrap_or(row.updated_at),
    })
}

/// Fills in the analysis state of the ended calls among `calls`, in one read. Live calls have
/// none, so reading them costs nothing more.
pub(crate) async fn attach(
    connection: &impl ConnectionTrait,
    calls: &mut [Call],
) -> Result<(), RepositoryError> {
    let ended: Vec<uuid::Uuid> = calls
        .iter()
        .filter(|c| !c.is_active())
        .map(|c| c.id.as_uuid())
        .collect();
    if ended.is_empty() {
        return Ok(());
    }
    let rows = call_analysis::Entity::find()
        .filter(Column::CallId.is_in(ended))
        .all(connection)
        .await
        .map_err(unexpected)?;
    for row in rows {
        let id = CallId::from_uuid(row.call_id);
        let state = analysis_from_row(row)?;
        if let Some(call) = calls.iter_mut().find(|c| c.id == id) {
            call.analysis = state;
        }
    }
    Ok(())
}

/// The update that stores `analysis` as its job's completed result (the caller picks the job).
pub(crate) fn completion(
    analysis: &CallAnalysis,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<call_analysis::Entity> {
    let json = |value: &[String]| serde_json::Value::from(value.to_vec());
    call_analysis::Entity::update_many()
        .col_expr(Column::Status, Expr::value(COMPLETED))
        .col_expr(Column::ClaimToken, Expr::value(no_token()))
        .col_expr(Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(Column::Summary, Expr::value(analysis.summary.clone()))
        .col_expr(Column::Sentiment, Expr::value(analysis.sentiment.as_str()))
        .col_expr(
            Column::SentimentScore,
            Expr::value(analysis.sentiment_score),
        )
        .col_expr(Column::Category, Expr::value(analysis.category.as_str()))
        .col_expr(
            Column::Resolution,
            Expr::value(analysis.resolution.as_str()),
        )
        .col_expr(Column::KeyTopics, Expr::value(json(&analysis.key_topics)))
        .col_expr(
            Column::ActionItems,
            Expr::value(json(&analysis.action_items)),
        )
        .col_expr(
            Column::Extracted,
            Expr::value(serde_json::Value::Object(analysis.extracted.clone())),
        )
        .col_expr(Column::Analyzer, Expr::value(analysis.analyzer.as_str()))
        .col_expr(Column::CompletedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
}

/// Copies the fields the dashboard sums and the call list filters on beside the call. Called in
/// the transaction that completes the analysis, and only when that write happened, so the
/// call's copy never differs from its completed analysis.
pub(crate) async fn copy_to_call(
    connection: &impl ConnectionTrait,
    call_id: CallId,
    analysis: &CallAnalysis,
) -> Result<(), RepositoryError> {
    call::Entity::update_many()
        .col_expr(
            call::Column::AnalysisSentiment,
            Expr::value(analysis.sentiment.as_str()),
        )
        .col_expr(
            call::Column::AnalysisSentimentScore,
            Expr::value(analysis.sentiment_score),
        )
        .col_expr(
            call::Column::AnalysisCategory,
            Expr::value(analysis.category.as_str()),
        )
        .col_expr(
            call::Column::AnalysisResolution,
            Expr::value(analysis.resolution.as_str()),
        )
        .filter(call::Column::Id.eq(call_id.as_uuid()))
        .exec(connection)
        .await
        .map_err(unexpected)?;
    Ok(())
}

const CLAIM: ClaimColumns<Column> = ClaimColumns {
    key: Column::CallId,
    status: Column::Status,
    token: Column::ClaimToken,
};

impl SeaOrmCallAnalyses {
    /// Applies `update` to the job `claim` holds, if it still holds it (running, same token): a
    /// claim lost to a lease takeover writes nothing. Whether the write happened.
    async fn settle(
        &self,
        claim: &AnalysisClaim,
        update: sea_orm::UpdateMany<call_analysis::Entity>,
    ) -> Result<bool, RepositoryError> {
        job_queue::settle(
            self.db.connection(),
            &CLAIM,
            update,
            (claim.call_id.as_uuid(), RUNNING, claim.token),
        )
        .await
    }
}

#[async_trait]
impl CallAnalysisRepository for SeaOrmCallAnalyses {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        max_attempts: u32,
        limit: u32,
    ) -> Result<Vec<AnalysisClaim>, RepositoryError> {
        let connection = self.db.connection();
        let max_attempts = i32::try_from(max_attempts.max(1)).unwrap_or(i32::MAX);
        // A worker that stopped during a job's last allowed attempt leaves it running with an
        // expired lease: that job is over.
        call_analysis::Entity::update_many()
            .col_expr(Column::Status, Expr::value(FAILED))
            .col_expr(Column::ClaimToken, Expr::value(no_token()))
            .col_expr(
                Column::LastError,
                Expr::value("the worker stopped during the last attempt"),
            )
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Status.eq(RUNNING))
            .filter(Column::DueAt.lte(now))
            .filter(Column::Attempts.gte(max_attempts))
            .exec(connection)
            .await
            .map_err(unexpected)?;

        let token = uuid::Uuid::new_v4();
        let lease_until = now + chrono_of(lease);
        let due = call_analysis::Entity::find()
            .select_only()
            .column(Column::CallId)
            .column(Column::Attempts)
            .filter(Column::Status.is_in([PENDING, RUNNING]))
            .filter(Column::DueAt.lte(now))
            .filter(Column::Attempts.lt(max_attempts))
            .order_by_asc(Column::DueAt)
            .limit(u64::from(limit));
        let claims = job_queue::claim_rows(&self.db, due, |id, attempts| {
            call_analysis::Entity::update_many()
                .col_expr(Column::Status, Expr::value(RUNNING))
                .col_expr(Column::Attempts, Expr::value(attempts + 1))
                .col_expr(Column::DueAt, Expr::value(lease_until))
                .col_expr(Column::ClaimToken, Expr::value(Some(token)))
                .col_expr(Column::UpdatedAt, Expr::value(now))
                .filter(Column::CallId.eq(id))
                .filter(Column::Attempts.eq(attempts))
                .filter(Column::Status.is_in([PENDING, RUNNING]))
                .filter(Column::DueAt.lte(now))
        })
        .await?;
        Ok(claims
            .into_iter()
            .map(|(id, attempts)| AnalysisClaim {
                call_id: CallId::from_uuid(id),
                attempt: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
                token,
            })
            .collect())
    }

    async fn complete(
        &self,
        claim: &AnalysisClaim,
        analysis: &CallAnalysis,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        let settled = job_queue::settle(
            &txn,
            &CLAIM,
            completion(analysis, now),
            (claim.call_id.as_uuid(), RUNNING, claim.token),
        )
        .await?;
        if !settled {
            txn.rollback().await.map_err(unexpected)?;
            return Ok(false);
        }
        copy_to_call(&txn, claim.call_id, analysis).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(true)
    }

    async fn retry(
        &self,
        claim: &AnalysisClaim,
        error: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        self.settle(
            claim,
            call_analysis::Entity::update_many()
                .col_expr(Column::Status, Expr::value(PENDING))
                .col_expr(Column::DueAt, Expr::value(retry_at))
                .col_expr(Column::ClaimToken, Expr::value(no_token()))
                .col_expr(Column::LastError, Expr::value(clipped(error)))
                .col_expr(Column::UpdatedAt, Expr::value(now)),
        )
        .await
    }

    async fn fail(
        &self,
        claim: &AnalysisClaim,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        self.settle(
            claim,
            call_analysis::Entity::update_many()
                .col_expr(Column::Status, Expr::value(FAILED))
                .col_expr(Column::ClaimToken, Expr::value(no_token()))
                .col_expr(Column::LastError, Expr::value(clipped(error)))
                .col_expr(Column::UpdatedAt, Expr::value(now)),
        )
        .await
    }
}
