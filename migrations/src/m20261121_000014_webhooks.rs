//! Outbound webhooks: each organisation's subscriptions (URL, event types, signing secret,
//! whether enabled and why not), and the outbox of deliveries: one row per event per
//! subscription, holding the body to send, where it stands (pending, delivering, delivered,
//! failed), its attempts and when the next is due, who holds it, and the last attempt's outcome.
//! A unique (subscription, event) pair means an event is never queued twice for one receiver.

use sea_orm_migration::prelude::*;

use crate::columns::{
    index, nullable_timestamp, references, timestamp, unique_index, uuid_key, uuid_ref,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    OrganizationId,
    Url,
    Description,
    Events,
    Secret,
    Enabled,
    DisabledReason,
    DisabledAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    SubscriptionId,
    OrganizationId,
    EventId,
    EventType,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimToken,
    LastAttemptAt,
    LastStatusCode,
    LastError,
    LastDurationMs,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .col(uuid_key(WebhookSubscriptions::Id))
                    .col(uuid_ref(WebhookSubscriptions::OrganizationId))
                    .col(ColumnDef::new(WebhookSubscriptions::Url).text().not_null())
                    .col(
                        ColumnDef::new(WebhookSubscriptions::Description)
                            .text()
                            .null(),
                    )
                    // The event type names, as a JSON array.
                    .col(
                        ColumnDef::new(WebhookSubscriptions::Events)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookSubscriptions::Secret)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookSubscriptions::Enabled)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(WebhookSubscriptions::DisabledReason)
                            .text()
                            .null(),
                    )
                    .col(nullable_timestamp(WebhookSubscriptions::DisabledAt))
                    .col(timestamp(WebhookSubscriptions::CreatedAt))
                    .col(timestamp(WebhookSubscriptions::UpdatedAt))
                    .foreign_key(&mut references(
                        (
                            WebhookSubscriptions::Table,
                            WebhookSubscriptions::OrganizationId,
                        ),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_webhook_subscriptions_organization",
                WebhookSubscriptions::Table,
                [
                    WebhookSubscriptions::OrganizationId,
                    WebhookSubscriptions::CreatedAt,
                ],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid_key(WebhookDeliveries::Id))
                    .col(uuid_ref(WebhookDeliveries::SubscriptionId))
                    .col(uuid_ref(WebhookDeliveries::OrganizationId))
                    .col(uuid_ref(WebhookDeliveries::EventId))
                    .col(
                        ColumnDef::new(WebhookDeliveries::EventType)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::Payload)
                            .json_binary()
                            .not_null(),
                    )
                    // pending, delivering, delivered or failed.
                    .col(
                        ColumnDef::new(WebhookDeliveries::Status)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    // Pending: when to try; delivering: when the claim's lease runs out.
                    .col(timestamp(WebhookDeliveries::NextAttemptAt))
                    .col(ColumnDef::new(WebhookDeliveries::ClaimToken).uuid().null())
                    .col(nullable_timestamp(WebhookDeliveries::LastAttemptAt))
                    .col(
                        ColumnDef::new(WebhookDeliveries::LastStatusCode)
                            .integer()
                            .null(),
                    )
                    .col(ColumnDef::new(WebhookDeliveries::LastError).text().null())
                    .col(
                        ColumnDef::new(WebhookDeliveries::LastDurationMs)
                            .big_integer()
                            .null(),
                    )
                    .col(nullable_timestamp(WebhookDeliveries::DeliveredAt))
                    .col(timestamp(WebhookDeliveries::CreatedAt))
                    .col(timestamp(WebhookDeliveries::UpdatedAt))
                    .foreign_key(&mut references(
                        (WebhookDeliveries::Table, WebhookDeliveries::SubscriptionId),
                        (WebhookSubscriptions::Table, WebhookSubscriptions::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_webhook_deliveries_subscription_event",
                WebhookDeliveries::Table,
                [
                    WebhookDeliveries::SubscriptionId,
                    WebhookDeliveries::EventId,
                ],
            ))
            .await?;
        for (name, columns) in [
            // What workers claim: due deliveries by status and time.
            (
                "ix_webhook_deliveries_status_due",
                vec![WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
            ),
            // The delivery log, newest first.
            (
                "ix_webhook_deliveries_subscription_created",
                vec![
                    WebhookDeliveries::SubscriptionId,
                    WebhookDeliveries::CreatedAt,
                ],
            ),
        ] {
            manager
                .create_index(index(name, WebhookDeliveries::Table, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookSubscriptions::Table).to_owned())
            .await
    }
}
