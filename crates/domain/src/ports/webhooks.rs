//! Outbound webhook ports: the subscriptions and the durable outbox of deliveries (claimed by
//! workers on any number of instances), and the HTTP sender that posts one delivery.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::RepositoryError;
use crate::ids::{OrganizationId, WebhookDeliveryId, WebhookId};
use crate::page::{PageRequest, Paged};
use crate::webhook::{AttemptRecord, DeliveryStatus, WebhookDelivery, WebhookSubscription};

/// Why a subscription could not be added.
#[derive(Debug, thiserror::Error)]
pub enum InsertWebhookError {
    #[error("an organisation may have at most {limit} webhooks")]
    LimitReached { limit: u64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A claimed delivery: the worker holding it may write its outcome until the lease ends.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryClaim {
    /// `attempts` already counts the attempt being made.
    pub delivery: WebhookDelivery,
    /// Where it goes and the secret it is signed with, as they are now.
    pub subscription: WebhookSubscription,
    /// Proves the claim is still this worker's when the outcome is written.
    pub token: uuid::Uuid,
}

/// Webhook subscriptions and their deliveries.
///
/// Every read and write that takes an organisation touches only that organisation's rows.
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Adds a subscription unless its organisation has `limit` already; concurrent inserts
    /// never pass the limit.
    ///
    /// # Errors
    /// `LimitReached`, or on storage failure.
    async fn insert_within_limit(
        &self,
        subscription: &WebhookSubscription,
        limit: u64,
    ) -> Result<(), InsertWebhookError>;

    /// One subscription.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<Option<WebhookSubscription>, RepositoryError>;

    /// A page of the organisation's subscriptions, oldest first.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<WebhookSubscription>, RepositoryError>;

    /// Every enabled subscription of the organisation.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn enabled(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<WebhookSubscription>, RepositoryError>;

    /// Writes the subscription's fields; `false` when it is gone.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn update(&self, subscription: &WebhookSubscription) -> Result<bool, RepositoryError>;

    /// Removes a subscription and its deliveries; `false` when it was not there.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn delete(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<bool, RepositoryError>;

    /// Disables an enabled subscription, noting why; `false` when it was disabled already (or
    /// gone).
    ///
    /// # Errors
    /// Only on storage failure.
    async fn disable(
        &self,
        id: WebhookId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Makes the subscription's pending deliveries due at `now` (it was enabled again); how
    /// many.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn resume_pending(
        &self,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError>;

    /// Queues deliveries; one whose (subscription, event id) is queued already is skipped, so
    /// an event is never queued twice for one subscription. How many were added.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn enqueue(&self, deliveries: &[WebhookDelivery]) -> Result<u64, RepositoryError>;

    /// Claims up to `limit` due deliveries of enabled subscriptions, oldest due first, for
    /// `lease`: pending ones due by `now`, and ones whose previous claim's lease ran out. Each
    /// claim counts an attempt. A delivery is never handed to two claimers at once, across
    /// connections and instances. Deliveries whose lease ran out after their last allowed
    /// attempt (`max_attempts`) are marked failed instead.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        max_attempts: u32,
        limit: u32,
    ) -> Result<Vec<DeliveryClaim>, RepositoryError>;

    /// Records a successful attempt; `false` (nothing written) when the claim was lost.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn delivered(
        &self,
        claim: &DeliveryClaim,
        attempt: &AttemptRecord,
    ) -> Result<bool, RepositoryError>;

    /// Records a failed attempt and puts the delivery back, due at `retry_at`; `false` when
    /// the claim was lost.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn retry_later(
        &self,
        claim: &DeliveryClaim,
        attempt: &AttemptRecord,
        retry_at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Records a failed attempt and gives the delivery up; `false` when the claim was lost.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn failed(
        &self,
        claim: &DeliveryClaim,
        attempt: &AttemptRecord,
    ) -> Result<bool, RepositoryError>;

    /// A page of a subscription's deliveries, newest first, optionally of one status.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn deliveries(
        &self,
        organization: OrganizationId,
        subscription: WebhookId,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Paged<WebhookDelivery>, RepositoryError>;

    /// One delivery of a subscription.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_delivery(
        &self,
        organization: OrganizationId,
        subscription: WebhookId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, RepositoryError>;

    /// Queues a delivery that is not being sent right now again: pending, due at `now`, with
    /// a fresh count of attempts (the log keeps the last outcome until the next attempt).
    /// `None` when it is not there or is being sent.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn redeliver(
        &self,
        organization: OrganizationId,
        subscription: WebhookId,
        id: WebhookDeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<WebhookDelivery>, RepositoryError>;
}

/// One signed POST to a receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRequest {
    pub url: String,
    /// Header names and values, beside `Content-Type: application/json`.
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// The whole exchange, connecting included, must finish within this.
    pub timeout: Duration,
}

/// What the receiver did with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// It answered with this status (any status: the caller decides what counts).
    Answered(u16),
    /// It did not answer within the timeout.
    TimedOut,
    /// It could not be reached (refused, reset, DNS, TLS, ...), said in a sentence.
    Unreachable(String),
}

/// Posts webhook deliveries.
///
/// Contract: never follows redirects (a 3xx is an answer), never takes longer than the
/// request's timeout, and never puts the body or headers in its error text.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, request: WebhookRequest) -> SendOutcome;
}
