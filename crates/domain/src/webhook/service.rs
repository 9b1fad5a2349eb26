//! The webhook use cases: managing subscriptions, turning events into queued deliveries, and
//! making one delivery attempt (sign, post, record, back off or give up).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use tracing::{info, warn};

use super::model::{
    AttemptRecord, DeliveryStatus, MAX_SUBSCRIPTIONS_PER_ORGANIZATION, PING_EVENT_TYPE,
    WebhookDelivery, WebhookSecret, WebhookSubscription, WebhookUrl, parse_description,
    parse_event_kinds,
};
use super::signing;
use crate::events::Event;
use crate::ids::{EventId, OrganizationId, WebhookDeliveryId, WebhookId};
use crate::page::{PageRequest, Paged};
use crate::ports::{
    Clock, DeliveryClaim, InsertWebhookError, RepositoryError, SendOutcome, WebhookRepository,
    WebhookRequest, WebhookSender,
};
use crate::validation::ValidationErrors;

/// What receivers see in `User-Agent`.
const USER_AGENT: &str = concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION"));

/// How deliveries are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Attempts before a delivery is given up (at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles it.
    pub retry_base: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How long a claimed delivery stays with its worker; longer than the timeout, so only a
    /// worker that stopped loses it.
    pub lease: Duration,
    /// How long an instance trusts its copy of an organisation's subscriptions; changes made
    /// on this instance apply at once, those of other instances within this.
    pub cache_ttl: Duration,
}

impl Default for WebhookPolicy {
    /// 32 attempts, 30 s doubling to at most an hour apart: a little over 25 hours in all.
    fn default() -> Self {
        Self {
            max_attempts: 32,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(10),
        }
    }
}

impl WebhookPolicy {
    /// The wait after failed attempt `attempt`, with up to 10% more at random so receivers
    /// coming back are not hit by every delivery at the same instant.
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        let wait = crate::backoff::exponential(self.retry_base, self.retry_max, attempt);
        let jitter = rand::thread_rng().gen_range(0.0..=0.1);
        wait.mul_f64(1.0 + jitter)
    }
}

/// A subscription's fields as sent. `description: Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct WebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// Only on creation: the secret to sign with, instead of a generated one.
    pub secret: Option<String>,
}

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook not found")]
    NotFound,
    #[error("delivery not found")]
    DeliveryNotFound,
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("an organisation may have at most {limit} webhooks")]
    LimitReached { limit: u64 },
    #[error("the webhook is disabled; enable it before sending a test event")]
    Disabled,
    #[error("the delivery is being sent right now; try again when it has an outcome")]
    DeliveryInFlight,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for WebhookError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

impl From<InsertWebhookError> for WebhookError {
    fn from(e: InsertWebhookError) -> Self {
        match e {
            InsertWebhookError::LimitReached { limit } => Self::LimitReached { limit },
            InsertWebhookError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// What became of one claimed delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Tried again from this instant.
    Retrying(DateTime<Utc>),
    /// Given up; its subscription is disabled.
    Failed,
    /// The lease ran out (or storage failed) and the outcome was not written; the delivery
    /// comes back.
    Lost,
}

/// The ports webhooks work through.
#[derive(Clone)]
pub struct WebhookPorts {
    pub webhooks: Arc<dyn WebhookRepository>,
    pub sender: Arc<dyn WebhookSender>,
    pub clock: Arc<dyn Clock>,
}

/// An organisation's enabled subscriptions, as read at `read_at`.
struct Cached {
    read_at: Instant,
    subscriptions: Arc<Vec<WebhookSubscription>>,
}

/// Webhook subscriptions and deliveries.
#[derive(Clone)]
pub struct WebhookService {
    ports: WebhookPorts,
    policy: WebhookPolicy,
    /// Read for every event, written on changes; a std lock because it is never held across an
    /// await.
    cache: Arc<Mutex<HashMap<OrganizationId, Cached>>>,
}

impl std::fmt::Debug for WebhookService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookService")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

impl WebhookService {
    /// Wires the service.
    #[must_use]
    pub fn new(ports: WebhookPorts, policy: WebhookPolicy) -> Self {
        let policy = WebhookPolicy {
            max_attempts: policy.max_attempts.max(1),
            lease: policy.lease.max(policy.timeout + Duration::from_secs(5)),
            ..policy
        };
        Self {
            ports,
            policy,
            cache: Arc::default(),
        }
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> WebhookPolicy {
        self.policy
    }

    /// Adds a subscription, with a generated secret unless one was given.
    ///
    /// # Errors
    /// `Invalid` (naming each bad field) or `LimitReached`.
    #[tracing::instrument(skip_all, fields(organization.id = %organization))]
    pub async fn create(
        &self,
        organization: OrganizationId,
        input: WebhookInput,
    ) -> Result<WebhookSubscription, WebhookError> {
        let now = self.ports.clock.now();
        let mut errors = ValidationErrors::new();
        if input.url.is_none() {
            errors.add("url", "is required");
        }
        if input.events.is_none() {
            errors.add("events", "is required: a list of event types");
        }
        let secret = match &input.secret {
            Some(raw) => errors.check("secret", WebhookSecret::parse(raw)),
            None => Some(WebhookSecret::generate()),
        };
        let mut subscription = WebhookSubscription {
            id: WebhookId::new(),
            organization_id: organization,
            url: WebhookUrl::from_stored(String::new()),
            events: Vec::new(),
            description: None,
            secret: secret.unwrap_or_else(WebhookSecret::generate),
            enabled: true,
            disabled_reason: None,
            disabled_at: None,
            created_at: now,
            updated_at: now,
        };
        apply(&mut subscription, input, errors, now)?;
        self.ports
            .webhooks
            .insert_within_limit(&subscription, MAX_SUBSCRIPTIONS_PER_ORGANIZATION)
            .await?;
        self.forget(organization);
        info!(webhook.id = %subscription.id, "webhook created");
        Ok(subscription)
    }

    /// A page of the organisation's subscriptions.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<WebhookSubscription>, WebhookError> {
        Ok(self.ports.webhooks.list(organization, page).await?)
    }

    /// One subscription.
    ///
    /// # Errors
    /// `NotFound` unless it is the organisation's.
    pub async fn get(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<WebhookSubscription, WebhookError> {
        self.ports
            .webhooks
            .find(organization, id)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    /// Changes what was sent. Enabling a disabled subscription clears why it was disabled and
    /// makes its waiting deliveries due at once.
    ///
    /// # Errors
    /// `NotFound` or `Invalid`.
    #[tracing::instrument(skip_all, fields(organization.id = %organization, webhook.id = %id))]
    pub async fn update(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        input: WebhookInput,
    ) -> Result<WebhookSubscription, WebhookError> {
        let mut subscription = self.get(organization, id).await?;
        let mut errors = ValidationErrors::new();
        if input.secret.is_some() {
            errors.add(
                "secret",
                "cannot be changed here; use POST /api/v1/webhooks/{id}/rotate-secret",
            );
        }
        let was_enabled = subscription.enabled;
        let now = self.ports.clock.now();
        apply(&mut subscription, input, errors, now)?;
        subscription.updated_at = now;
        if !self.ports.webhooks.update(&subscription).await? {
            return Err(WebhookError::NotFound);
        }
        if subscription.enabled && !was_enabled {
            let resumed = self.ports.webhooks.resume_pending(id, now).await?;
            info!(
                webhook.deliveries_resumed = resumed,
                "webhook enabled again"
            );
        }
        self.forget(organization);
        Ok(subscription)
    }

    /// Removes a subscription and its delivery log.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<(), WebhookError> {
        let deleted = self.ports.webhooks.delete(organization, id).await?;
        self.forget(organization);
        if deleted {
            Ok(())
        } else {
            Err(WebhookError::NotFound)
        }
    }

    /// Replaces the signing secret with a fresh one; deliveries sent from now on are signed
    /// with it.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn rotate_secret(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<WebhookSubscription, WebhookError> {
        let mut subscription = self.get(organization, id).await?;
        subscription.secret = WebhookSecret::generate();
        subscription.updated_at = self.ports.clock.now();
        if !self.ports.webhooks.update(&subscription).await? {
            return Err(WebhookError::NotFound);
        }
        self.forget(organization);
        info!(webhook.id = %id, "webhook secret rotated");
        Ok(subscription)
    }

    /// Queues a `ping` event for the subscription, sent like any other.
    ///
    /// # Errors
    /// `NotFound`, or `Disabled` (a disabled subscription sends nothing).
    pub async fn ping(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<WebhookDelivery, WebhookError> {
        let subscription = self.get(organization, id).await?;
        if !subscription.enabled {
            return Err(WebhookError::Disabled);
        }
        let now = self.ports.clock.now();
        let event_id = EventId::new();
        let payload = serde_json::json!({
            "id": event_id,
            "type": PING_EVENT_TYPE,
            "organization_id": organization,
            "occurred_at": now,
            "data": {"webhook_id": id, "message": "a test event from Switchboard"},
        });
        let delivery =
            WebhookDelivery::queued(&subscription, event_id, PING_EVENT_TYPE, payload, now);
        self.ports
            .webhooks
            .enqueue(std::slice::from_ref(&delivery))
            .await?;
        Ok(delivery)
    }

    /// A page of a subscription's delivery log.
    ///
    /// # Errors
    /// `NotFound` unless the subscription is the organisation's.
    pub async fn deliveries(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Paged<WebhookDelivery>, WebhookError> {
        self.get(organization, id).await?;
        Ok(self
            .ports
            .webhooks
            .deliveries(organization, id, status, page)
            .await?)
    }

    /// Sends a delivery again (a failed one, or a delivered one the receiver lost), with a
    /// fresh set of attempts.
    ///
    /// # Errors
    /// `NotFound`, `DeliveryNotFound`, or `DeliveryInFlight` while it is being sent.
    pub async fn redeliver(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        delivery: WebhookDeliveryId,
    ) -> Result<WebhookDelivery, WebhookError> {
        self.get(organization, id).await?;
        let now = self.ports.clock.now();
        match self
            .ports
            .webhooks
            .redeliver(organization, id, delivery, now)
            .await?
        {
            Some(queued) => Ok(queued),
            None => match self
                .ports
                .webhooks
                .find_delivery(organization, id, delivery)
                .await?
            {
                Some(_) => Err(WebhookError::DeliveryInFlight),
                None => Err(WebhookError::DeliveryNotFound),
            },
        }
    }

    /// Queues `event` for every enabled subscription of its organisation that wants its kind;
    /// how many deliveries were queued.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn enqueue(&self, event: &Event) -> Result<u64, RepositoryError> {
        let subscriptions = self.enabled(event.organization_id).await?;
        let wanted: Vec<&WebhookSubscription> = subscriptions
            .iter()
            .filter(|s| s.wants(event.kind))
            .collect();
        if wanted.is_empty() {
            return Ok(0);
        }
        let payload = serde_json::to_value(event)
            .map_err(|e| RepositoryError(anyhow::anyhow!("an event could not be encoded: {e}")))?;
        let now = self.ports.clock.now();
        let deliveries: Vec<WebhookDelivery> = wanted
            .into_iter()
            .map(|s| {
                WebhookDelivery::queued(s, event.id, event.kind.as_str(), payload.clone(), now)
            })
            .collect();
        self.ports.webhooks.enqueue(&deliveries).await
    }

    /// Claims up to `limit` due deliveries for this worker.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn claim_due(&self, limit: u32) -> Result<Vec<DeliveryClaim>, RepositoryError> {
        self.ports
            .webhooks
            .claim_due(
                self.ports.clock.now(),
                self.policy.lease,
                self.policy.max_attempts,
                limit,
            )
            .await
    }

    /// Makes one attempt of a claimed delivery and records it: delivered on a 2xx; given up
    /// (and the subscription disabled) on 410 Gone or after the last attempt; otherwise tried
    /// again after the backoff.
    #[tracing::instrument(skip_all, fields(
        webhook.id = %claim.subscription.id,
        webhook.delivery_id = %claim.delivery.id,
        webhook.attempt = claim.delivery.attempts,
    ))]
    pub async fn deliver(&self, claim: &DeliveryClaim) -> DeliveryOutcome {
        let request = self.request(claim);
        let started = Instant::now();
        let outcome = self.ports.sender.send(request).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let now = self.ports.clock.now();
        let record = |status_code: Option<u16>, error: Option<String>| AttemptRecord {
            at: now,
            status_code,
            error,
            duration_ms,
        };
        let webhooks = &self.ports.webhooks;
        let (written, result) = match outcome {
            SendOutcome::Answered(status) if (200..300).contains(&status) => {
                info!(http.status = status, duration_ms, "webhook delivered");
                (
                    webhooks.delivered(claim, &record(Some(status), None)).await,
                    DeliveryOutcome::Delivered,
                )
            }
            SendOutcome::Answered(410) => {
                let attempt = record(Some(410), Some("the receiver answered 410 Gone".into()));
                let written = webhooks.failed(claim, &attempt).await;
                self.disable(claim, "the receiver answered 410 Gone", now)
                    .await;
                (written, DeliveryOutcome::Failed)
            }
            failure => {
                let (status, error) = match failure {
                    SendOutcome::Answered(status) => {
                        (Some(status), format!("the receiver answered {status}"))
                    }
                    SendOutcome::TimedOut => (
                        None,
                        format!("no answer within {} ms", self.policy.timeout.as_millis()),
                    ),
                    SendOutcome::Unreachable(why) => (None, why),
                };
                let attempt = record(status, Some(error.clone()));
                if claim.delivery.attempts >= self.policy.max_attempts {
                    warn!(%error, "webhook delivery failed on its last attempt; giving up");
                    let written = webhooks.failed(claim, &attempt).await;
                    let reason = format!(
                        "{} attempts over {} failed; the last: {error}",
                        claim.delivery.attempts,
                        describe(now - claim.delivery.created_at),
                    );
                    self.disable(claim, &reason, now).await;
                    (written, DeliveryOutcome::Failed)
                } else {
                    let at = now + to_chrono(self.policy.backoff(claim.delivery.attempts));
                    warn!(%error, webhook.retry_at = %at, "webhook delivery failed; trying again later");
                    (
                        webhooks.retry_later(claim, &attempt, at).await,
                        DeliveryOutcome::Retrying(at),
                    )
                }
            }
        };
        match written {
            Ok(true) => result,
            Ok(false) => DeliveryOutcome::Lost,
            Err(e) => {
                warn!(error = %e.0, "the outcome of a webhook delivery could not be stored; its lease brings it back");
                DeliveryOutcome::Lost
            }
        }
    }

    fn request(&self, claim: &DeliveryClaim) -> WebhookRequest {
        let body = claim.delivery.payload.to_string();
        let timestamp = self.ports.clock.now().timestamp();
        let signature = signing::signature(claim.subscription.secret.expose(), timestamp, &body);
        WebhookRequest {
            url: claim.subscription.url.as_str().to_owned(),
            headers: vec![
                ("User-Agent", USER_AGENT.to_owned()),
                (signing::SIGNATURE_HEADER, signature),
                (
                    signing::EVENT_ID_HEADER,
                    claim.delivery.event_id.to_string(),
                ),
                (
                    signing::EVENT_TYPE_HEADER,
                    claim.delivery.event_type.clone(),
                ),
                (signing::DELIVERY_ID_HEADER, claim.delivery.id.to_string()),
            ],
            body,
            timeout: self.policy.timeout,
        }
    }

    async fn disable(&self, claim: &DeliveryClaim, reason: &str, now: DateTime<Utc>) {
        match self
            .ports
            .webhooks
            .disable(claim.subscription.id, reason, now)
            .await
        {
            Ok(true) => warn!(webhook.reason = reason, "webhook disabled"),
            Ok(false) => {}
            Err(e) => warn!(error = %e.0, "a failing webhook could not be disabled"),
        }
        self.forget(claim.subscription.organization_id);
    }

    /// The organisation's enabled subscriptions, from the cache while it is fresh.
    async fn enabled(
        &self,
        organization: OrganizationId,
    ) -> Result<Arc<Vec<WebhookSubscription>>, RepositoryError> {
        if let Some(fresh) = self.cached(organization) {
            return Ok(fresh);
        }
        let subscriptions = Arc::new(self.ports.webhooks.enabled(organization).await?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                organization,
                Cached {
                    read_at: Instant::now(),
                    subscriptions: subscriptions.clone(),
                },
            );
        }
        Ok(subscriptions)
    }

    fn cached(&self, organization: OrganizationId) -> Option<Arc<Vec<WebhookSubscription>>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(&organization)
            .filter(|c| c.read_at.elapsed() < self.policy.cache_ttl)
            .map(|c| c.subscriptions.clone())
    }

    fn forget(&self, organization: OrganizationId) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&organization);
        }
    }
}

/// "3 h 20 min", for the reason a subscription was disabled.
fn describe(elapsed: chrono::Duration) -> String {
    let minutes = elapsed.num_minutes().max(0);
    if minutes < 60 {
        format!("{} s", elapsed.num_seconds().max(0))
    } else {
        format!("{} h {} min", minutes / 60, minutes % 60)
    }
}

/// Applies the input's fields, recording every invalid one.
fn apply(
    subscription: &mut WebhookSubscription,
    input: WebhookInput,
    mut errors: ValidationErrors,
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    if let Some(raw) = &input.url
        && let Some(url) = errors.check("url", WebhookUrl::parse(raw))
    {
        subscription.url = url;
    }
    if let Some(raw) = &input.events
        && let Some(events) = errors.check("events", parse_event_kinds(raw))
    {
        subscription.events = events;
    }
    if let Some(description) = input.description {
        match description {
            None => subscription.description = None,
            Some(raw) => {
                if let Some(parsed) = errors.check("description", parse_description(&raw)) {
                    subscription.description = parsed;
                }
            }
        }
    }
    if let Some(enabled) = input.enabled
        && enabled != subscription.enabled
    {
        subscription.enabled = enabled;
        // A user's own choice replaces whatever the server noted.
        subscription.disabled_reason = None;
        subscription.disabled_at = (!enabled).then_some(now);
    }
    errors.into_result(()).map_err(WebhookError::Invalid)
}
