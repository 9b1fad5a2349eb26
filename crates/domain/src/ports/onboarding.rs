//! The repository port of the guided set-up: one record per organisation, holding each step's
//! answer and when the step was done.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::RepositoryError;
use crate::ids::{AgentId, OrganizationId};
use crate::onboarding::{Onboarding, StepAnswer};

/// Organisations' progress through the guided set-up.
#[async_trait]
pub trait OnboardingRepository: Send + Sync {
    /// The organisation's record; `None` before its first step.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<Onboarding>, RepositoryError>;

    /// Stores one step's answer and marks that step done at `at`, creating the organisation's
    /// record on its first step, and returns the record afterwards. Only the columns of that step
    /// change, so steps answered at the same time never undo each other; answering a step again
    /// replaces its answer and its time.
    ///
    /// # Errors
    /// Only on storage failure (an organisation that does not exist is one).
    async fn record(
        &self,
        organization: OrganizationId,
        answer: StepAnswer,
        at: DateTime<Utc>,
    ) -> Result<Onboarding, RepositoryError>;

    /// Makes `agent` the organisation's onboarding agent and marks the agent step done at `at`,
    /// but only while the recorded agent is still `expected` (compare and set): of two requests
    /// creating the first agent at once, exactly one answers `true`; the other changes nothing and
    /// answers `false`. Since a new agent was configured by none of the later steps, their answers
    /// and times (knowledge, voice, channels, deploy) are cleared with it. Creates the record when
    /// the organisation has none.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn replace_agent(
        &self,
        organization: OrganizationId,
        expected: Option<AgentId>,
        agent: AgentId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;
}
