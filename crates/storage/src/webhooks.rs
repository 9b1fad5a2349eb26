//! `WebhookRepository` on sea-orm: subscriptions, and the `webhook_deliveries` outbox as a
//! durable job queue claimed like every job table ([`crate::job_queue`]).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait, UpdateMany,
};
use switchboard_domain::ids::{EventId, OrganizationId, WebhookDeliveryId, WebhookId};
use switchboard_domain::page::{PageRequest, Paged};
use switchboard_domain::ports::{
    DeliveryClaim, InsertWebhookError, RepositoryError, WebhookRepository,
};
use switchboard_domain::webhook::{
    AttemptRecord, DeliveryStatus, WebhookDelivery, WebhookSecret, WebhookSubscription, WebhookUrl,
    parse_event_kinds,
};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::organization;
use crate::entities::webhook_delivery::{self, Column};
use crate::entities::webhook_subscription::{self, Column as SubscriptionColumn};
use crate::job_queue::{self, ClaimColumns, chrono_of, clipped, no_token};
use crate::paging::fetch_page;

const PENDING: &str = "pending";
const DELIVERING: &str = "delivering";
const DELIVERED: &str = "delivered";
const FAILED: &str = "failed";

const CLAIM: ClaimColumns<Column> = ClaimColumns {
    key: Column::Id,
    status: Column::Status,
    token: Column::ClaimToken,
};

/// Webhook subscriptions and deliveries in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmWebhooks {
    db: Database,
}

impl SeaOrmWebhooks {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn corrupt(what: &str, id: uuid::Uuid, why: impl std::fmt::Display) -> RepositoryError {
    RepositoryError(anyhow::anyhow!("stored {what} of webhook row {id}: {why}"))
}

fn subscription_from_row(
    row: webhook_subscription::Model,
) -> Result<WebhookSubscription, RepositoryError> {
    let names: Vec<String> =
        serde_json::from_value(row.events).map_err(|e| corrupt("events", row.id, e))?;
    Ok(WebhookSubscription {
        id: WebhookId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        url: WebhookUrl::from_stored(row.url),
        events: parse_event_kinds(&names).map_err(|e| corrupt("events", row.id, e))?,
        description: row.description,
        secret: WebhookSecret::from_stored(row.secret),
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        disabled_at: row.disabled_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn delivery_from_row(row: webhook_delivery::Model) -> Result<WebhookDelivery, RepositoryError> {
    Ok(WebhookDelivery {
        id: WebhookDeliveryId::from_uuid(row.id),
        subscription_id: WebhookId::from_uuid(row.subscription_id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        event_id: EventId::from_uuid(row.event_id),
        status: DeliveryStatus::parse(&row.status).map_err(|e| corrupt("status", row.id, e))?,
        event_type: row.event_type,
        payload: row.payload,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        next_attempt_at: row.next_attempt_at,
        last_attempt_at: row.last_attempt_at,
        last_status_code: row.last_status_code.and_then(|c| u16::try_from(c).ok()),
        last_error: row.last_error,
        last_duration_ms: row.last_duration_ms.and_then(|d| u64::try_from(d).ok()),
        delivered_at: row.delivered_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn events_json(subscription: &WebhookSubscription) -> serde_json::Value {
    subscription
        .events
        .iter()
        .map(|kind| kind.as_str())
        .collect::<Vec<_>>()
        .into()
}

fn delivery_row(delivery: &WebhookDelivery) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        id: Set(delivery.id.as_uuid()),
        subscription_id: Set(delivery.subscription_id.as_uuid()),
        organization_id: Set(delivery.organization_id.as_uuid()),
        event_id: Set(delivery.event_id.as_uuid()),
        event_type: Set(delivery.event_type.clone()),
        payload: Set(delivery.payload.clone()),
        status: Set(delivery.status.as_str().to_owned()),
        attempts: Set(i32::try_from(delivery.attempts).unwrap_or(i32::MAX)),
        next_attempt_at: Set(delivery.next_attempt_at),
        claim_token: Set(None),
        last_attempt_at: Set(delivery.last_attempt_at),
        last_status_code: Set(delivery.last_status_code.map(i32::from)),
        last_error: Set(delivery.last_error.clone()),
        last_duration_ms: Set(delivery
            .last_duration_ms
            .map(|d| i64::try_from(d).unwrap_or(i64::MAX))),
        delivered_at: Set(delivery.delivered_at),
        created_at: Set(delivery.created_at),
        updated_at: Set(delivery.updated_at),
    }
}

/// The outcome of an attempt, written with whatever else the update sets.
fn recorded(
    update: UpdateMany<webhook_delivery::Entity>,
    attempt: &AttemptRecord,
) -> UpdateMany<webhook_delivery::Entity> {
    update
        .col_expr(Column::ClaimToken, Expr::value(no_token()))
        .col_expr(Column::LastAttemptAt, Expr::value(attempt.at))
        .col_expr(
            Column::LastStatusCode,
            Expr::value(attempt.status_code.map(i32::from)),
        )
        .col_expr(
            Column::LastError,
            Expr::value(attempt.error.as_deref().map(clipped)),
        )
        .col_expr(
            Column::LastDurationMs,
            Expr::value(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX)),
        )
        .col_expr(Column::UpdatedAt, Expr::value(attempt.at))
}

impl SeaOrmWebhooks {
    async fn settle(
        &self,
        claim: &DeliveryClaim,
        update: UpdateMany<webhook_delivery::Entity>,
    ) -> Result<bool, RepositoryError> {
        job_queue::settle(
            self.db.connection(),
            &CLAIM,
            update,
            (claim.delivery.id.as_uuid(), DELIVERING, claim.token),
        )
        .await
    }

    async fn delivery(
        &self,
        organization: OrganizationId,
        subscription: WebhookId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, RepositoryError> {
        delivery_on(self.db.connection(), organization, subscription, id).await
    }
}

/// The delivery, read on `connection` (a transaction sees its own writes).
async fn delivery_on(
    connection: &impl ConnectionTrait,
    organization: OrganizationId,
    subscription: WebhookId,
    id: WebhookDeliveryId,
) -> Result<Option<WebhookDelivery>, RepositoryError> {
    webhook_delivery::Entity::find_by_id(id.as_uuid())
        .filter(Column::OrganizationId.eq(organization.as_uuid()))
        .filter(Column::SubscriptionId.eq(subscription.as_uuid()))
        .one(connection)
        .await
        .map_err(unexpected)?
        .map(delivery_from_row)
        .transpose()
}

#[async_trait]
impl WebhookRepository for SeaOrmWebhooks {
    async fn insert_within_limit(
        &self,
        subscription: &WebhookSubscription,
        limit: u64,
    ) -> Result<(), InsertWebhookError> {
        let failed = |e: sea_orm::DbErr| InsertWebhookError::Unexpected(e.into());
        let txn = self.db.connection().begin().await.map_err(failed)?;
        // Writing the organisation's row first serialises its inserts: PostgreSQL locks the
        // row until commit, and SQLite takes its write lock here, before the count is read.
        organization::Entity::update_many()
            .col_expr(
                organization::Column::UpdatedAt,
                Expr::col(organization::Column::UpdatedAt).into(),
            )
            .filter(organization::Column::Id.eq(subscription.organization_id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(failed)?;
        let existing = webhook_subscription::Entity::find()
            .filter(SubscriptionColumn::OrganizationId.eq(subscription.organization_id.as_uuid()))
            .count(&txn)
            .await
            .map_err(failed)?;
        if existing >= limit {
            txn.rollback().await.map_err(failed)?;
            return Err(InsertWebhookError::LimitReached { limit });
        }
        webhook_subscription::Entity::insert(webhook_subscription::ActiveModel {
            id: Set(subscription.id.as_uuid()),
            organization_id: Set(subscription.organization_id.as_uuid()),
            url: Set(subscription.url.as_str().to_owned()),
            description: Set(subscription.description.clone()),
            events: Set(events_json(subscription)),
            secret: Set(subscription.secret.expose().to_owned()),
            enabled: Set(subscription.enabled),
            disabled_reason: Set(subscription.disabled_reason.clone()),
            disabled_at: Set(subscription.disabled_at),
            created_at: Set(subscription.created_at),
            updated_at: Set(subscription.updated_at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(failed)?;
        txn.commit().await.map_err(failed)?;
        Ok(())
    }

    async fn find(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<Option<WebhookSubscription>, RepositoryError> {
        webhook_subscription::Entity::find_by_id(id.as_uuid())
            .filter(SubscriptionColumn::OrganizationId.eq(organization.as_uuid()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(subscription_from_row)
            .transpose()
    }

    async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<WebhookSubscription>, RepositoryError> {
        let query = webhook_subscription::Entity::find()
            .filter(SubscriptionColumn::OrganizationId.eq(organization.as_uuid()))
            .order_by_asc(SubscriptionColumn::CreatedAt)
            .order_by_asc(SubscriptionColumn::Id);
        let (rows, total) = fetch_page(query, page, self.db.connection()).await?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(subscription_from_row)
                .collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn enabled(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<WebhookSubscription>, RepositoryError> {
        webhook_subscription::Entity::find()
            .filter(SubscriptionColumn::OrganizationId.eq(organization.as_uuid()))
            .filter(SubscriptionColumn::Enabled.eq(true))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(subscription_from_row)
            .collect()
    }

    async fn update(&self, subscription: &WebhookSubscription) -> Result<bool, RepositoryError> {
        let updated = webhook_subscription::Entity::update_many()
            .col_expr(
                SubscriptionColumn::Url,
                Expr::value(subscription.url.as_str()),
            )
            .col_expr(
                SubscriptionColumn::Description,
                Expr::value(subscription.description.clone()),
            )
            .col_expr(
                SubscriptionColumn::Events,
                Expr::value(events_json(subscription)),
            )
            .col_expr(
                SubscriptionColumn::Secret,
                Expr::value(subscription.secret.expose()),
            )
            .col_expr(
                SubscriptionColumn::Enabled,
                Expr::value(subscription.enabled),
            )
            .col_expr(
                SubscriptionColumn::DisabledReason,
                Expr::value(subscription.disabled_reason.clone()),
            )
            .col_expr(
                SubscriptionColumn::DisabledAt,
                Expr::value(subscription.disabled_at),
            )
            .col_expr(
                SubscriptionColumn::UpdatedAt,
                Expr::value(subscription.updated_at),
            )
            .filter(SubscriptionColumn::Id.eq(subscription.id.as_uuid()))
            .filter(SubscriptionColumn::OrganizationId.eq(subscription.organization_id.as_uuid()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(updated.rows_affected == 1)
    }

    async fn delete(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<bool, RepositoryError> {
        // The deliveries go with it (the foreign key cascades).
        let deleted = webhook_subscription::Entity::delete_many()
            .filter(SubscriptionColumn::Id.eq(id.as_uuid()))
            .filter(SubscriptionColumn::OrganizationId.eq(organization.as_uuid()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(deleted.rows_affected == 1)
    }

    async fn disable(
        &self,
        id: WebhookId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let updated = webhook_subscription::Entity::update_many()
            .col_expr(SubscriptionColumn::Enabled, Expr::value(false))
            .col_expr(
                SubscriptionColumn::DisabledReason,
                Expr::value(clipped(reason)),
            )
            .col_expr(SubscriptionColumn::DisabledAt, Expr::value(now))
            .col_expr(SubscriptionColumn::UpdatedAt, Expr::value(now))
            .filter(SubscriptionColumn::Id.eq(id.as_uuid()))
            .filter(SubscriptionColumn::Enabled.eq(true))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(updated.rows_affected == 1)
    }

    async fn resume_pending(
        &self,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let updated = webhook_delivery::Entity::update_many()
            .col_expr(Column::NextAttemptAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::SubscriptionId.eq(id.as_uuid()))
            .filter(Column::Status.eq(PENDING))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(updated.rows_affected)
    }

    async fn enqueue(&self, deliveries: &[WebhookDelivery]) -> Result<u64, RepositoryError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        webhook_delivery::Entity::insert_many(deliveries.iter().map(delivery_row))
            .on_conflict(
                OnConflict::columns([Column::SubscriptionId, Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(self.db.connection())
            .await
            .map_err(unexpected)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        max_attempts: u32,
        limit: u32,
    ) -> Result<Vec<DeliveryClaim>, RepositoryError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let connection = self.db.connection();
        let max_attempts = i32::try_from(max_attempts.max(1)).unwrap_or(i32::MAX);
        // A worker that stopped during a delivery's last allowed attempt leaves it delivering
        // with an expired lease: that delivery is over.
        webhook_delivery::Entity::update_many()
            .col_expr(Column::Status, Expr::value(FAILED))
            .col_expr(Column::ClaimToken, Expr::value(no_token()))
            .col_expr(
                Column::LastError,
                Expr::value("the worker stopped during the last attempt"),
            )
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Status.eq(DELIVERING))
            .filter(Column::NextAttemptAt.lte(now))
            .filter(Column::Attempts.gte(max_attempts))
            .exec(connection)
            .await
            .map_err(unexpected)?;

        let enabled = Query::select()
            .column(SubscriptionColumn::Id)
            .from(webhook_subscription::Entity)
            .and_where(SubscriptionColumn::Enabled.eq(true))
            .to_owned();
        let due = webhook_delivery::Entity::find()
            .select_only()
            .column(Column::Id)
            .column(Column::Attempts)
            .filter(Column::Status.is_in([PENDING, DELIVERING]))
            .filter(Column::NextAttemptAt.lte(now))
            .filter(Column::Attempts.lt(max_attempts))
            .filter(Column::SubscriptionId.in_subquery(enabled))
            .order_by_asc(Column::NextAttemptAt)
            .limit(u64::from(limit));
        let token = uuid::Uuid::new_v4();
        let lease_until = now + chrono_of(lease);
        let claimed = job_queue::claim_rows(&self.db, due, |id, attempts| {
            webhook_delivery::Entity::update_many()
                .col_expr(Column::Status, Expr::value(DELIVERING))
                .col_expr(Column::Attempts, Expr::value(attempts + 1))
                .col_expr(Column::NextAttemptAt, Expr::value(lease_until))
                .col_expr(Column::ClaimToken, Expr::value(Some(token)))
                .col_expr(Column::UpdatedAt, Expr::value(now))
                .filter(Column::Id.eq(id))
                .filter(Column::Attempts.eq(attempts))
                .filter(Column::Status.is_in([PENDING, DELIVERING]))
                .filter(Column::NextAttemptAt.lte(now))
        })
        .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<uuid::Uuid> = claimed.iter().map(|(id, _)| *id).collect();
        let deliveries = webhook_delivery::Entity::find()
            .filter(Column::Id.is_in(ids))
            .filter(Column::ClaimToken.eq(token))
            .order_by_asc(Column::CreatedAt)
            .all(connection)
            .await
            .map_err(unexpected)?;
        let subscription_ids: Vec<uuid::Uuid> =
            deliveries.iter().map(|d| d.subscription_id).collect();
        let subscriptions = webhook_subscription::Entity::find()
            .filter(SubscriptionColumn::Id.is_in(subscription_ids))
            .all(connection)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(subscription_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut claims = Vec::with_capacity(deliveries.len());
        for row in deliveries {
            let delivery = delivery_from_row(row)?;
            // A subscription deleted since the claim took its deliveries with it.
            if let Some(subscription) = subscriptions
                .iter()
                .find(|s| s.id == delivery.subscription_id)
            {
                claims.push(DeliveryClaim {
                    delivery,
                    subscription: subscription.clone(),
                    token,
                });
            }
        }
        Ok(claims)
    }

    async fn delivered(
        &self,
        claim: &DeliveryClaim,
        attempt: &AttemptRecord,
    ) -> Result<bool, RepositoryError> {
        let update = webhook_delivery::Entity::update_many()
            .col_expr(Column::Status, Expr::value(DELIVERED))
            .col_expr(Column::DeliveredAt, Expr::value(attempt.at));
        self.settle(claim, recorded(update, attempt)).await
    }

    async fn retry_later(
        &self,
        claim: &DeliveryClaim,
        attempt: &AttemptRecord,
        retry_at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let update = webhook_delivery::Entity::update_many()
            .col_expr(Column::Status, Expr::value(PENDING))
            .col_expr(Column::NextAttemptAt, Expr::value(retry_at));
        self.settle(claim, recorded(update, attempt)).await
    }

    async fn failed(
        &self,
        claim: &DeliveryClaim,
        attempt: &AttemptRecord,
    ) -> Result<bool, RepositoryError> {
        let update =
            webhook_delivery::Entity::update_many().col_expr(Column::Status, Expr::value(FAILED));
        self.settle(claim, recorded(update, attempt)).await
    }

    async fn deliveries(
        &self,
        organization: OrganizationId,
        subscription: WebhookId,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Paged<WebhookDelivery>, RepositoryError> {
        let mut query = webhook_delivery::Entity::find()
            .filter(Column::OrganizationId.eq(organization.as_uuid()))
            .filter(Column::SubscriptionId.eq(subscription.as_uuid()));
        if let Some(status) = status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        let query = query
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id);
        let (rows, total) = fetch_page(query, page, self.db.connection()).await?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(delivery_from_row)
                .collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn find_delivery(
        &self,
        organization: OrganizationId,
        subscription: WebhookId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, RepositoryError> {
        self.delivery(organization, subscription, id).await
    }

    async fn redeliver(
        &self,
        organization: OrganizationId,
        subscription: WebhookId,
        id: WebhookDeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<WebhookDelivery>, RepositoryError> {
        // Read back in the same transaction: the answer is the delivery as queued here, before
        // a worker can claim it.
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        let updated = webhook_delivery::Entity::update_many()
            .col_expr(Column::Status, Expr::value(PENDING))
            .col_expr(Column::Attempts, Expr::value(0))
            .col_expr(Column::NextAttemptAt, Expr::value(now))
            .col_expr(Column::ClaimToken, Expr::value(no_token()))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::OrganizationId.eq(organization.as_uuid()))
            .filter(Column::SubscriptionId.eq(subscription.as_uuid()))
            .filter(Column::Status.ne(DELIVERING))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        let queued = delivery_on(&txn, organization, subscription, id).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(queued)
    }
}
