//! Running analysis jobs: claim the due ones, analyse each call, and store the analysis, or put
//! the job back with exponential backoff, or give it up after the last attempt. The call itself
//! is never touched: a failed analysis loses nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::model::{AnalysisRequest, CallAnalysis};
use crate::call::{Speaker, analyzed_event};
use crate::events::EventPublisher;
use crate::ids::OrganizationId;
use crate::ports::{
    AnalysisClaim, CallAnalysisRepository, CallAnalyzer, CallRepository, Clock, RepositoryError,
};

/// How often and how patiently jobs are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisPolicy {
    /// Attempts before a job is given up (at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles it.
    pub retry_base: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// How long a claimed job stays with its worker; a worker that stops leaves it to others
    /// once this has passed.
    pub lease: Duration,
}

impl Default for AnalysisPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
        }
    }
}

impl AnalysisPolicy {
    /// The wait after failed attempt `attempt` (1-based): `retry_base * 2^(attempt - 1)`, at
    /// most `retry_max`.
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        crate::backoff::exponential(self.retry_base, self.retry_max, attempt)
    }
}

/// What became of one claimed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Completed,
    /// Tried again from this instant.
    Retrying(DateTime<Utc>),
    Failed,
    /// The lease ran out and another worker has the job; nothing was written.
    Lost,
}

/// The ports analysis works through.
#[derive(Clone)]
pub struct AnalysisPorts {
    pub jobs: Arc<dyn CallAnalysisRepository>,
    pub calls: Arc<dyn CallRepository>,
    pub analyzer: Arc<dyn CallAnalyzer>,
    pub clock: Arc<dyn Clock>,
    /// Told every completed analysis (`call.analyzed`).
    pub events: Arc<dyn EventPublisher>,
}

/// Post-call analysis.
#[derive(Clone)]
pub struct AnalysisService {
    ports: AnalysisPorts,
    policy: AnalysisPolicy,
}

impl std::fmt::Debug for AnalysisService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalysisService")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Why the call of a job could not be analysed.
enum Problem {
    /// Worth another attempt.
    Analysis(String),
    /// Storage failed: the job's lease brings it back.
    Storage(RepositoryError),
}

impl AnalysisService {
    /// Wires the service.
    #[must_use]
    pub fn new(ports: AnalysisPorts, policy: AnalysisPolicy) -> Self {
        let policy = AnalysisPolicy {
            max_attempts: policy.max_attempts.max(1),
            ..policy
        };
        Self { ports, policy }
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> AnalysisPolicy {
        self.policy
    }

    /// Claims up to `limit` due jobs and runs them one after the other; returns what became of
    /// each.
    ///
    /// # Errors
    /// Only when the claim itself fails; a job whose outcome cannot be stored is left to its
    /// lease and reported as `Lost`.
    pub async fn run_due(&self, limit: u32) -> Result<Vec<JobOutcome>, RepositoryError> {
        let claims = self
            .ports
            .jobs
            .claim_due(
                self.ports.clock.now(),
                self.policy.lease,
                self.policy.max_attempts,
                limit,
            )
            .await?;
        let mut outcomes = Vec::with_capacity(claims.len());
        for claim in claims {
            outcomes.push(self.run(&claim).await);
        }
        Ok(outcomes)
    }

    #[tracing::instrument(skip_all, fields(call.id = %claim.call_id, analysis.attempt = claim.attempt))]
    async fn run(&self, claim: &AnalysisClaim) -> JobOutcome {
        let outcome = match self.analyse(claim).await {
            Ok((organization, analysis)) => {
                let now = self.ports.clock.now();
                match self.ports.jobs.complete(claim, &analysis, now).await {
                    Ok(true) => {
                        info!(
                            analysis.analyzer = analysis.analyzer.as_str(),
                            analysis.sentiment = analysis.sentiment.as_str(),
                            "call analysed"
                        );
                        // Only the worker whose claim held stored it: told once.
                        self.ports.events.publish(analyzed_event(
                            organization,
                            claim.call_id,
                            &analysis,
                            now,
                        ));
                        Ok(JobOutcome::Completed)
                    }
                    Ok(false) => Ok(JobOutcome::Lost),
                    Err(e) => Err(Problem::Storage(e)),
                }
            }
            Err(problem) => Err(problem),
        };
        match outcome {
            Ok(outcome) => outcome,
            Err(Problem::Analysis(error)) => self.give_back(claim, &error).await,
            Err(Problem::Storage(e)) => {
                warn!(error = %e.0, "storage failed during an analysis; its lease brings the job back");
                JobOutcome::Lost
            }
        }
    }

    /// Records a failed attempt: back in the queue with backoff, or failed for good.
    async fn give_back(&self, claim: &AnalysisClaim, error: &str) -> JobOutcome {
        let now = self.ports.clock.now();
        let (written, outcome) = if claim.attempt >= self.policy.max_attempts {
            warn!(%error, "the call could not be analysed; giving up after the last attempt");
            (
                self.ports.jobs.fail(claim, error, now).await,
                JobOutcome::Failed,
            )
        } else {
            let at = now + to_chrono(self.policy.backoff(claim.attempt));
            warn!(%error, analysis.retry_at = %at, "the call could not be analysed; trying again later");
            (
                self.ports.jobs.retry(claim, error, at, now).await,
                JobOutcome::Retrying(at),
            )
        };
        match written {
            Ok(true) => outcome,
            Ok(false) => JobOutcome::Lost,
            Err(e) => {
                warn!(error = %e.0, "the outcome of an analysis could not be stored; its lease brings the job back");
                JobOutcome::Lost
            }
        }
    }

    /// The analysis of the claimed call, and the call's organisation.
    async fn analyse(
        &self,
        claim: &AnalysisClaim,
    ) -> Result<(OrganizationId, CallAnalysis), Problem> {
        let call = self
            .ports
            .calls
            .find_unscoped(claim.call_id)
            .await
            .map_err(Problem::Storage)?
            .ok_or_else(|| Problem::Analysis("the call is gone".to_owned()))?;
        let transcript = self
            .ports
            .calls
            .turns(call.id)
            .await
            .map_err(Problem::Storage)?;
        let context = call
            .conversation_context()
            .map_err(|e| Problem::Analysis(e.to_string()))?;
        let (schema, language) = match &context.agent {
            Some(agent) => (agent.analysis_schema.clone(), agent.language.clone()),
            None => (None, "en".to_owned()),
        };
        if !transcript.iter().any(|t| t.speaker == Speaker::Customer) {
            // Nobody called in earnest: there is nothing for a model to read.
            return Ok((
                call.organization_id,
                CallAnalysis::of_silence(schema.as_ref()),
            ));
        }
        let request = AnalysisRequest {
            call_id: call.id,
            transcript,
            schema,
            language,
            end_reason: call.end_reason.clone(),
        };
        self.ports
            .analyzer
            .analyze(&request)
            .await
            .map(|analysis| (call.organization_id, analysis))
            .map_err(|e| Problem::Analysis(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = AnalysisPolicy {
            max_attempts: 10,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            lease: Duration::from_secs(300),
        };
        let waits: Vec<u64> = (1..=7).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(60));
    }
}
