//! Outbound webhooks in the running server: the outbox sink that turns the domain's events into
//! queued deliveries without ever blocking whoever published them, and the worker that posts
//! due deliveries. Both are owned by the [`crate::Application`] and stop with it.

mod outbox;
mod worker;

pub use outbox::{OUTBOX_CAPACITY, OutboxWriter, WebhookOutbox};
pub use worker::{DELIVERY_CONCURRENCY, WebhookWorker};
