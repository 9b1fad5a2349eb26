//! Post-call analysis ports: the analyser that reads a finished call, and the durable queue of
//! analysis jobs that workers (on any number of instances) claim.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{LlmError, RepositoryError};
use crate::call::{AnalysisRequest, CallAnalysis};
use crate::ids::CallId;

/// Why a call could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The language model failed (after its adapter's own retries).
    #[error("{0}")]
    Model(#[from] LlmError),
    /// The model's answer did not have the expected shape, even when asked again.
    #[error("the analysis was not valid: {0}")]
    InvalidOutput(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Reads a finished call and says what happened in it.
///
/// Contract, for every analyser: the analysis it returns is valid as a whole: a non-empty
/// summary, `sentiment_score` within -1..=1, at most a handful of topics and action items, and
/// `extracted` holding exactly the schema's declared fields (`null` where unknown). An analyser
/// that only guesses (`analyzer: local`) may leave required fields `null`; one that asks a
/// model (`analyzer: llm`) fills them or fails with `InvalidOutput`.
#[async_trait]
pub trait CallAnalyzer: Send + Sync {
    /// Analyses one call.
    ///
    /// # Errors
    /// As [`AnalyzeError`] says.
    async fn analyze(&self, request: &AnalysisRequest) -> Result<CallAnalysis, AnalyzeError>;
}

/// A claimed analysis job: the worker holding it may write its outcome until the lease ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisClaim {
    pub call_id: CallId,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// Proves the claim is still this worker's when the outcome is written.
    pub token: uuid::Uuid,
}

/// The analysis jobs of ended calls, and their outcomes.
///
/// A job exists for every ended call: [`super::CallRepository`] records it pending in the same
/// transaction that ends the call.
#[async_trait]
pub trait CallAnalysisRepository: Send + Sync {
    /// Claims up to `limit` due jobs, oldest due first, for `lease`: pending jobs due by `now`,
    /// and jobs whose previous claim's lease ran out (its worker stopped). Each claim counts an
    /// attempt. A job is never handed to two claimers at once, across connections and
    /// instances. Jobs whose lease ran out after their last allowed attempt (`max_attempts`) are
    /// marked failed instead.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        max_attempts: u32,
        limit: u32,
    ) -> Result<Vec<AnalysisClaim>, RepositoryError>;

    /// Stores the analysis and completes the job; `false` (nothing written) when the claim was
    /// lost.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn complete(
        &self,
        claim: &AnalysisClaim,
        analysis: &CallAnalysis,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Puts the job back, due at `retry_at`, noting `error`; `false` when the claim was lost.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn retry(
        &self,
        claim: &AnalysisClaim,
        error: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Gives the job up for good, noting `error`; `false` when the claim was lost.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn fail(
        &self,
        claim: &AnalysisClaim,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;
}
