//! Repository ports of agents, scenarios, phone numbers and calls.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::RepositoryError;
use crate::agent::{Agent, AgentStats, AgentStatus};
use crate::call::{Call, CallFilter, CallSort, CallTurn, NewCallTurn};
use crate::ids::{AgentId, CallId, OrganizationId, PhoneNumberId, UserId};
use crate::page::{PageRequest, Paged};
use crate::phone_number::{E164, PhoneNumber};
use crate::scenario::Scenario;

/// Agents, each within one organisation.
#[async_trait]
pub trait AgentRepository: Send + Sync {
    /// Stores a new agent.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn insert(&self, agent: &Agent) -> Result<(), RepositoryError>;

    /// The agent with this id in this organisation, unless deleted.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        organization: OrganizationId,
        id: AgentId,
    ) -> Result<Option<Agent>, RepositoryError>;

    /// A page of the organisation's live agents, newest first, with the total.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn list(
        &self,
        organization: OrganizationId,
        status: Option<AgentStatus>,
        page: PageRequest,
    ) -> Result<Paged<Agent>, RepositoryError>;

    /// Replaces a live agent's configuration, status and `updated_at`; `false` when there is no
    /// such live agent in its organisation.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn update(&self, agent: &Agent) -> Result<bool, RepositoryError>;

    /// Hides the agent from now on (its row stays, so past calls can name it) and unassigns its
    /// phone numbers, atomically; `false` when there is no such live agent.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn delete(
        &self,
        organization: OrganizationId,
        id: AgentId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;
}

/// Why a scenario could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertScenarioError {
    #[error("the owner has {limit} scenarios already")]
    LimitReached { limit: u64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Custom scenarios, each owned by one user.
#[async_trait]
pub trait ScenarioRepository: Send + Sync {
    /// Stores the scenario unless its owner already has `limit` of them. The count and the insert
    /// are atomic: concurrent inserts never take an owner past the limit.
    ///
    /// # Errors
    /// `LimitReached` at the limit.
    async fn insert_within_limit(
        &self,
        scenario: &Scenario,
        limit: u64,
    ) -> Result<(), InsertScenarioError>;

    /// The owner's scenario with this public id.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        owner: UserId,
        scenario_id: &str,
    ) -> Result<Option<Scenario>, RepositoryError>;

    /// All the owner's scenarios, oldest first.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn list(&self, owner: UserId) -> Result<Vec<Scenario>, RepositoryError>;

    /// Replaces persona, prompt, voice type, temperature and `updated_at`; `false` when missing.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn update(&self, scenario: &Scenario) -> Result<bool, RepositoryError>;

    /// Deletes the owner's scenario; `false` when missing.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn delete(&self, owner: UserId, scenario_id: &str) -> Result<bool, RepositoryError>;
}

/// Why a phone number could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum SavePhoneNumberError {
    /// Numbers are unique across the whole deployment: one number rings one agent.
    #[error("the number is registered already")]
    NumberTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Phone numbers and the agents that answer them.
#[async_trait]
pub trait PhoneNumberRepository: Send + Sync {
    /// Stores a new number.
    ///
    /// # Errors
    /// `NumberTaken` when any organisation has the number.
    async fn insert(&self, number: &PhoneNumber) -> Result<(), SavePhoneNumberError>;

    /// The organisation's number with this id.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        organization: OrganizationId,
        id: PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, RepositoryError>;

    /// The number, whichever organisation has it: inbound calls are routed by it.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_by_number(&self, number: &E164) -> Result<Option<PhoneNumber>, RepositoryError>;

    /// A page of the organisation's numbers, oldest first, with the total.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<PhoneNumber>, RepositoryError>;

    /// Replaces number, agent, status, label and `updated_at`; `Ok(false)` when missing.
    ///
    /// # Errors
    /// `NumberTaken` when the new number belongs to another entry.
    async fn update(&self, number: &PhoneNumber) -> Result<bool, SavePhoneNumberError>;

    /// Deletes the organisation's number; `false` when missing.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn delete(
        &self,
        organization: OrganizationId,
        id: PhoneNumberId,
    ) -> Result<bool, RepositoryError>;
}

/// Whether a call update was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveCallOutcome {
    Saved,
    /// Someone else updated the call since it was read: nothing was written.
    Conflict,
}

/// Calls and their transcripts.
#[async_trait]
pub trait CallRepository: Send + Sync {
    /// Stores a new call and its first transcript lines, atomically. A call that has already
    /// ended gets its pending analysis job in the same transaction.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn insert(&self, call: &Call, turns: &[NewCallTurn]) -> Result<(), RepositoryError>;

    /// Inserts a live call as `insert` does, unless its organisation already has `cap` live
    /// calls (as `count_active` counts them); `false` then, and nothing is written. Inserts of
    /// one organisation's calls are serialised around the count, so the cap holds for calls
    /// started at the same instant, on any number of server instances.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn insert_within_cap(
        &self,
        call: &Call,
        turns: &[NewCallTurn],
        cap: u64,
    ) -> Result<bool, RepositoryError>;

    /// The organisation's call with this id. Reads of calls carry their analysis state.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        organization: OrganizationId,
        id: CallId,
    ) -> Result<Option<Call>, RepositoryError>;

    /// The call with this id, whatever its organisation: for channels that reach a call by an
    /// id the server handed out (a telephony media stream), never for a user's request.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_unscoped(&self, id: CallId) -> Result<Option<Call>, RepositoryError>;

    /// The organisation's call created with this idempotency key.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_by_idempotency_key(
        &self,
        organization: OrganizationId,
        key: &str,
    ) -> Result<Option<Call>, RepositoryError>;

    /// How many of the organisation's calls have not ended.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn count_active(&self, organization: OrganizationId) -> Result<u64, RepositoryError>;

    /// Up to `limit` live phone calls of any organisation last updated before `updated_before`,
    /// least recently updated first: calls whose end the provider may never have reported.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_stale_live_phone_calls(
        &self,
        updated_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Call>, RepositoryError>;

    /// The latest call with this telephony provider id (Twilio's `CallSid`).
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_by_provider_id(
        &self,
        provider_call_id: &str,
    ) -> Result<Option<Call>, RepositoryError>;

    /// A page of the organisation's calls that pass `filter`, in `sort` order, with the total
    /// number that pass it.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn list(
        &self,
        organization: OrganizationId,
        filter: &CallFilter,
        sort: CallSort,
        page: PageRequest,
    ) -> Result<Paged<Call>, RepositoryError>;

    /// The organisation's most recent call with this session key.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_by_session(
        &self,
        organization: OrganizationId,
        session_key: &str,
    ) -> Result<Option<Call>, RepositoryError>;

    /// Writes `call` (status, conversation, end, recording, provider id, talk seconds,
    /// `updated_at`, and
    /// `version`, which the caller has bumped) if the stored version is still
    /// `expected_version`, and appends `turns` after the existing ones, atomically. When `call`
    /// has ended, a pending analysis job is recorded for it in the same transaction, unless it
    /// has one already. The call's `analysis` is never written here.
    ///
    /// # Errors
    /// Only on storage failure; a lost race is `Ok(Conflict)`.
    async fn save(
        &self,
        call: &Call,
        expected_version: i64,
        turns: &[NewCallTurn],
    ) -> Result<SaveCallOutcome, RepositoryError>;

    /// Figures of each of `agents`' calls in the organisation, computed by the database: calls
    /// handled, mean latency to the first word of a reply (ms), and the share of finished calls
    /// that completed. Agents without calls are left out.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn agent_stats(
        &self,
        organization: OrganizationId,
        agents: &[AgentId],
    ) -> Result<Vec<(AgentId, AgentStats)>, RepositoryError>;

    /// The transcripts of several calls in one read, each in order.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn turns_of(&self, calls: &[CallId]) -> Result<Vec<CallTurn>, RepositoryError>;

    /// The call's transcript, in order.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn turns(&self, call: CallId) -> Result<Vec<CallTurn>, RepositoryError>;
}
