//! Outbound webhooks: organisations subscribe a URL to kinds of event; every matching event is
//! written to a durable outbox and posted, signed, until the receiver takes it (at least once),
//! with exponential backoff between attempts, and a receiver that keeps failing is disabled.

mod model;
mod service;
pub mod signing;

pub use model::{
    AttemptRecord, DeliveryStatus, MAX_SUBSCRIPTIONS_PER_ORGANIZATION, MIN_SECRET_CHARS,
    PING_EVENT_TYPE, WebhookDelivery, WebhookSecret, WebhookSubscription, WebhookUrl,
    parse_description, parse_event_kinds,
};
pub use service::{
    DeliveryOutcome, WebhookError, WebhookInput, WebhookPolicy, WebhookPorts, WebhookService,
};
