//! The schedule repository port: durable scheduled calls, and the claims workers take on them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::RepositoryError;
use crate::call::CallStatus;
use crate::ids::{OrganizationId, ScheduledCallId};
use crate::page::{PageRequest, Paged};
use crate::schedule::{ScheduleFilter, ScheduledCall};

/// Whether a compare-and-set write of a scheduled call applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveScheduleOutcome {
    Saved,
    /// The stored version was not the expected one: another writer (a worker, a cancel) went
    /// first. Nothing was written.
    Conflict,
}

/// Scheduled calls.
///
/// Contract, for every adapter:
/// - `claim_due` is exclusive: however many workers (in however many processes) call it at
///   once, a scheduled call is handed to at most one of them until the lease it sets runs out.
/// - Every write is a compare-and-set on `version`, which the caller has bumped.
#[async_trait]
pub trait ScheduleRepository: Send + Sync {
    /// Stores new scheduled calls, all or none.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn insert(&self, calls: &[ScheduledCall]) -> Result<(), RepositoryError>;

    /// The organisation's scheduled call with this id.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        organization: OrganizationId,
        id: ScheduledCallId,
    ) -> Result<Option<ScheduledCall>, RepositoryError>;

    /// A page of the organisation's scheduled calls that pass `filter`, soonest due first, with
    /// the total that pass it.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn list(
        &self,
        organization: OrganizationId,
        filter: &ScheduleFilter,
        page: PageRequest,
    ) -> Result<Paged<ScheduledCall>, RepositoryError>;

    /// Writes everything of `call` but its id, organisation, user and creation time, if the
    /// stored version is still `expected_version`.
    ///
    /// # Errors
    /// Only on storage failure; a lost race is `Ok(Conflict)`.
    async fn save(
        &self,
        call: &ScheduledCall,
        expected_version: i64,
    ) -> Result<SaveScheduleOutcome, RepositoryError>;

    /// Claims up to `limit` scheduled calls, soonest due first, that are due at `now`: pending
    /// with `due_at <= now`, or dialing under a lease that ran out before `now` (its worker
    /// stopped mid-placement). Each claimed call becomes `dialing` under a lease of `worker`
    /// until `until`, its version bumped, and is returned as stored.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        worker: &str,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ScheduledCall>, RepositoryError>;

    /// Up to `limit` scheduled calls waiting for a call that has ended: `dialing`, no lease,
    /// and the call of their open attempt in a final status, returned with that status.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn finished(
        &self,
        limit: u32,
    ) -> Result<Vec<(ScheduledCall, CallStatus)>, RepositoryError>;
}
