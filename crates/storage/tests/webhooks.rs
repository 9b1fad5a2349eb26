//! Contract tests of the webhook repository: every test runs on a SQLite file and on a fresh
//! PostgreSQL database, the racing claimers included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::events::EventKind;
use switchboard_domain::ids::{EventId, OrganizationId, UserId, WebhookId};
use switchboard_domain::page::PageRequest;
use switchboard_domain::ports::{
    AccountRepository, DeliveryClaim, InsertWebhookError, WebhookRepository,
};
use switchboard_domain::webhook::{
    AttemptRecord, DeliveryStatus, WebhookDelivery, WebhookSecret, WebhookSubscription, WebhookUrl,
};
use switchboard_storage::on_both_backends;
use switchboard_storage::{Database, SeaOrmAccounts, SeaOrmWebhooks};

on_both_backends!(
    subscriptions_round_trip_scoped_to_their_organisation,
    subscriptions_stop_at_the_limit_even_when_racing,
    an_event_is_queued_once_per_subscription,
    deliveries_are_claimed_retried_delivered_and_logged,
    deliveries_fail_after_their_last_attempt_and_wait_while_disabled,
    racing_claimers_claim_each_delivery_exactly_once,
    redelivery_starts_over_unless_in_flight,
);

const LEASE: Duration = Duration::from_secs(60);

fn now() -> DateTime<Utc> {
    // PostgreSQL keeps microseconds; compare what survives a round trip.
    Utc::now().trunc_subsecs(6)
}

async fn tenant(db: &Database) -> OrganizationId {
    let (_, org) = SeaOrmAccounts::new(db.clone())
        .create_account(NewAccount {
            user_id: UserId::new(),
            organization_id: OrganizationId::new(),
            email: EmailAddress::parse(&format!("{}@example.com", uuid::Uuid::new_v4())).unwrap(),
            full_name: None,
            organization_name: DisplayName::parse("Acme").unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
            created_at: now(),
        })
        .await
        .unwrap();
    org.id
}

fn subscription(organization: OrganizationId) -> WebhookSubscription {
    let at = now();
    WebhookSubscription {
        id: WebhookId::new(),
        organization_id: organization,
        url: WebhookUrl::parse("https://hooks.example.com/in").unwrap(),
        events: vec![EventKind::CallStarted, EventKind::CallEnded],
        description: Some("CRM".into()),
        secret: WebhookSecret::generate(),
        enabled: true,
        disabled_reason: None,
        disabled_at: None,
        created_at: at,
        updated_at: at,
    }
}

async fn stored_subscription(
    webhooks: &SeaOrmWebhooks,
    organization: OrganizationId,
) -> WebhookSubscription {
    let subscription = subscription(organization);
    webhooks
        .insert_within_limit(&subscription, 20)
        .await
        .unwrap();
    subscription
}

fn delivery(subscription: &WebhookSubscription, event: EventId) -> WebhookDelivery {
    WebhookDelivery::queued(
        subscription,
        event,
        "call.started",
        serde_json::json!({"id": event, "type": "call.started", "data": {"n": 1}}),
        now(),
    )
}

fn attempt(status: Option<u16>, error: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        at: now(),
        status_code: status,
        error: error.map(ToOwned::to_owned),
        duration_ms: 12,
    }
}

async fn subscriptions_round_trip_scoped_to_their_organisation(db: Database) -> anyhow::Result<()> {
    let webhooks = SeaOrmWebhooks::new(db.clone());
    let mine = tenant(&db).await;
    let theirs = tenant(&db).await;
    let mut stored = stored_subscription(&webhooks, mine).await;
    assert_eq!(webhooks.find(mine, stored.id).await?, Some(stored.clone()));
    assert_eq!(webhooks.find(theirs, stored.id).await?, None);
    let page = webhooks.list(mine, PageRequest::default()).await?;
    assert_eq!((page.total, page.items), (1, vec![stored.clone()]));
    assert_eq!(
        webhooks.list(theirs, PageRequest::default()).await?.total,
        0
    );

    stored.events = vec![EventKind::TranscriptTurn];
    stored.description = None;
    stored.secret = WebhookSecret::generate();
    assert!(webhooks.update(&stored).await?);
    assert_eq!(webhooks.find(mine, stored.id).await?, Some(stored.clone()));
    let mut foreign = stored.clone();
    foreign.organization_id = theirs;
    assert!(
        !webhooks.update(&foreign).await?,
        "another organisation's update"
    );

    assert_eq!(webhooks.enabled(mine).await?.len(), 1);
    assert!(webhooks.disable(stored.id, "gone", now()).await?);
    assert!(!webhooks.disable(stored.id, "again", now()).await?);
    let disabled = webhooks.find(mine, stored.id).await?.unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.disabled_reason.as_deref(), Some("gone"));
    assert!(webhooks.enabled(mine).await?.is_empty());

    webhooks
        .enqueue(&[delivery(&stored, EventId::new())])
        .await?;
    assert!(!webhooks.delete(theirs, stored.id).await?);
    assert!(webhooks.delete(mine, stored.id).await?);
    assert_eq!(webhooks.find(mine, stored.id).await?, None);
    let log = webhooks
        .deliveries(mine, stored.id, None, PageRequest::default())
        .await?;
    assert_eq!(log.total, 0, "deliveries go with their subscription");
    Ok(())
}

async fn subscriptions_stop_at_the_limit_even_when_racing(db: Database) -> anyhow::Result<()> {
    let organization = tenant(&db).await;
    let inserts: Vec<_> = (0..8)
        .map(|_| {
            let webhooks = SeaOrmWebhooks::new(db.clone());
            tokio::spawn(async move {
                webhooks
                    .insert_within_limit(&subscription(organization), 5)
                    .await
            })
        })
        .collect();
    let mut added = 0;
    for insert in inserts {
        match insert.await? {
            Ok(()) => added += 1,
            Err(InsertWebhookError::LimitReached { limit: 5 }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    assert_eq!(added, 5);
    let webhooks = SeaOrmWebhooks::new(db.clone());
    assert_eq!(
        webhooks
            .list(organization, PageRequest::default())
            .await?
            .total,
        5
    );
    Ok(())
}

async fn an_event_is_queued_once_per_subscription(db: Database) -> anyhow::Result<()> {
    let webhooks = SeaOrmWebhooks::new(db.clone());
    let organization = tenant(&db).await;
    let first = stored_subscription(&webhooks, organization).await;
    let second = stored_subscription(&webhooks, organization).await;
    let event = EventId::new();
    assert_eq!(
        webhooks
            .enqueue(&[delivery(&first, event), delivery(&second, event)])
            .await?,
        2
    );
    assert_eq!(webhooks.enqueue(&[delivery(&first, event)]).await?, 0);
    assert_eq!(webhooks.enqueue(&[]).await?, 0);
    for subscription in [&first, &second] {
        let log = webhooks
            .deliveries(organization, subscription.id, None, PageRequest::default())
            .await?;
        assert_eq!(log.total, 1);
        assert_eq!(log.items[0].event_id, event);
        assert_eq!(log.items[0].status, DeliveryStatus::Pending);
    }
    Ok(())
}

async fn deliveries_are_claimed_retried_delivered_and_logged(db: Database) -> anyhow::Result<()> {
    let webhooks = SeaOrmWebhooks::new(db.clone());
    let organization = tenant(&db).await;
    let subscription = stored_subscription(&webhooks, organization).await;
    let queued = delivery(&subscription, EventId::new());
    webhooks.enqueue(std::slice::from_ref(&queued)).await?;

    let at = now();
    let claims = webhooks.claim_due(at, LEASE, 5, 10).await?;
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    assert_eq!(claim.delivery.id, queued.id);
    assert_eq!(claim.delivery.attempts, 1);
    assert_eq!(claim.delivery.status, DeliveryStatus::Delivering);
    assert_eq!(claim.delivery.payload, queued.payload);
    assert_eq!(claim.subscription, subscription);
    assert!(
        webhooks.claim_due(at, LEASE, 5, 10).await?.is_empty(),
        "a held delivery is not claimed again"
    );

    let retry_at = at + chrono::Duration::seconds(30);
    assert!(
        webhooks
            .retry_later(
                claim,
                &attempt(Some(503), Some("the receiver answered 503")),
                retry_at
            )
            .await?
    );
    assert!(
        !webhooks.delivered(claim, &attempt(Some(200), None)).await?,
        "a settled claim writes nothing more"
    );
    let logged = webhooks
        .find_delivery(organization, subscription.id, queued.id)
        .await?
        .unwrap();
    assert_eq!(logged.status, DeliveryStatus::Pending);
    assert_eq!(logged.last_status_code, Some(503));
    assert_eq!(logged.last_duration_ms, Some(12));
    assert_eq!(logged.next_attempt_at, retry_at);
    assert!(
        webhooks.claim_due(at, LEASE, 5, 10).await?.is_empty(),
        "not due yet"
    );

    let claims = webhooks.claim_due(retry_at, LEASE, 5, 10).await?;
    assert_eq!(claims[0].delivery.attempts, 2);
    assert!(
        webhooks
            .delivered(&claims[0], &attempt(Some(204), None))
            .await?
    );
    let log = webhooks
        .deliveries(
            organization,
            subscription.id,
            Some(DeliveryStatus::Delivered),
            PageRequest::default(),
        )
        .await?;
    assert_eq!(log.total, 1);
    let delivered = &log.items[0];
    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.last_status_code, Some(204));
    assert_eq!(delivered.last_error, None);
    assert!(delivered.delivered_at.is_some());
    let pending = webhooks
        .deliveries(
            organization,
            subscription.id,
            Some(DeliveryStatus::Pending),
            PageRequest::default(),
        )
        .await?;
    assert_eq!(pending.total, 0);
    Ok(())
}

async fn deliveries_fail_after_their_last_attempt_and_wait_while_disabled(
    db: Database,
) -> anyhow::Result<()> {
    let webhooks = SeaOrmWebhooks::new(db.clone());
    let organization = tenant(&db).await;
    let subscription = stored_subscription(&webhooks, organization).await;
    let abandoned = delivery(&subscription, EventId::new());
    webhooks.enqueue(std::slice::from_ref(&abandoned)).await?;
    let at = now();
    // The only attempt's worker stops: once the lease runs out the delivery is failed.
    assert_eq!(webhooks.claim_due(at, LEASE, 1, 10).await?.len(), 1);
    let later = at + chrono::Duration::seconds(61);
    assert!(webhooks.claim_due(later, LEASE, 1, 10).await?.is_empty());
    let failed = webhooks
        .find_delivery(organization, subscription.id, abandoned.id)
        .await?
        .unwrap();
    assert_eq!(failed.status, DeliveryStatus::Failed);

    // A disabled subscription's deliveries wait, and come back when it is enabled again.
    let waiting = delivery(&subscription, EventId::new());
    webhooks.enqueue(std::slice::from_ref(&waiting)).await?;
    assert!(webhooks.disable(subscription.id, "410", at).await?);
    assert!(webhooks.claim_due(later, LEASE, 5, 10).await?.is_empty());
    let mut enabled = webhooks.find(organization, subscription.id).await?.unwrap();
    enabled.enabled = true;
    enabled.disabled_reason = None;
    enabled.disabled_at = None;
    assert!(webhooks.update(&enabled).await?);
    assert_eq!(webhooks.resume_pending(subscription.id, later).await?, 1);
    let claims = webhooks.claim_due(later, LEASE, 5, 10).await?;
    assert_eq!(
        claims.iter().map(|c| c.delivery.id).collect::<Vec<_>>(),
        [waiting.id]
    );
    assert!(
        webhooks
            .failed(&claims[0], &attempt(Some(410), Some("gone")))
            .await?
    );
    let log = webhooks
        .deliveries(
            organization,
            subscription.id,
            Some(DeliveryStatus::Failed),
            PageRequest::default(),
        )
        .await?;
    assert_eq!(log.total, 2);
    Ok(())
}

async fn racing_claimers_claim_each_delivery_exactly_once(db: Database) -> anyhow::Result<()> {
    let webhooks = SeaOrmWebhooks::new(db.clone());
    let organization = tenant(&db).await;
    let subscription = stored_subscription(&webhooks, organization).await;
    let queued: Vec<WebhookDelivery> = (0..12)
        .map(|_| delivery(&subscription, EventId::new()))
        .collect();
    webhooks.enqueue(&queued).await?;
    let at = now();
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let webhooks = SeaOrmWebhooks::new(db.clone());
            tokio::spawn(async move { webhooks.claim_due(at, LEASE, 5, 4).await })
        })
        .collect();
    let mut claimed: Vec<DeliveryClaim> = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await??);
    }
    // Whatever was left by claimers that ran into each other is claimed afterwards, once.
    loop {
        let more = webhooks.claim_due(at, LEASE, 5, 4).await?;
        if more.is_empty() {
            break;
        }
        claimed.extend(more);
    }
    let ids: Vec<_> = claimed.iter().map(|c| c.delivery.id).collect();
    let unique: BTreeSet<_> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no delivery claimed twice");
    assert_eq!(
        unique,
        queued.iter().map(|d| d.id).collect::<BTreeSet<_>>(),
        "every delivery claimed"
    );
    Ok(())
}

async fn redelivery_starts_over_unless_in_flight(db: Database) -> anyhow::Result<()> {
    let webhooks = SeaOrmWebhooks::new(db.clone());
    let organization = tenant(&db).await;
    let other = tenant(&db).await;
    let subscription = stored_subscription(&webhooks, organization).await;
    let queued = delivery(&subscription, EventId::new());
    webhooks.enqueue(std::slice::from_ref(&queued)).await?;
    let at = now();
    let claims = webhooks.claim_due(at, LEASE, 5, 10).await?;
    assert_eq!(
        webhooks
            .redeliver(organization, subscription.id, queued.id, at)
            .await?,
        None,
        "not while it is being sent"
    );
    assert!(
        webhooks
            .failed(&claims[0], &attempt(None, Some("refused")))
            .await?
    );
    assert_eq!(
        webhooks
            .redeliver(other, subscription.id, queued.id, at)
            .await?,
        None,
        "not another organisation's"
    );
    let again = webhooks
        .redeliver(organization, subscription.id, queued.id, at)
        .await?
        .unwrap();
    assert_eq!(again.status, DeliveryStatus::Pending);
    assert_eq!(again.attempts, 0);
    assert_eq!(again.next_attempt_at, at);
    assert_eq!(webhooks.claim_due(at, LEASE, 5, 10).await?.len(), 1);
    Ok(())
}
