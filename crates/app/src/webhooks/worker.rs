//! The webhook delivery worker: claims due deliveries and posts each in its own task, at most
//! [`DELIVERY_CONCURRENCY`] at once, so one slow receiver holds one slot for at most its
//! timeout and never the deliveries to others. Deliveries live in the database: a stopped
//! worker loses nothing (one it held comes back to any instance when its lease runs out).

use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::webhook::WebhookService;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, info, warn};

/// Deliveries in flight at once, across every receiver.
pub const DELIVERY_CONCURRENCY: usize = 16;

/// The running worker task and the signal that stops it.
#[derive(Debug)]
pub struct WebhookWorker {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl WebhookWorker {
    /// Starts the worker: it looks for due deliveries every `poll`, and at once when `queued`
    /// is told that new ones were written.
    #[must_use]
    pub fn spawn(webhooks: WebhookService, poll: Duration, queued: Arc<Notify>) -> Self {
        let (shutdown, stopped) = watch::channel(false);
        let task = tokio::spawn(
            run(webhooks, poll, queued, stopped).instrument(tracing::info_span!("webhook_worker")),
        );
        Self {
            shutdown,
            task: Some(task),
        }
    }

    /// Claims nothing more, waits up to `grace` for the deliveries in flight (each bounded by
    /// its timeout), and aborts the rest (they come back after their lease).
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.shutdown.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(grace, &mut task).await.is_err()
        {
            warn!(
                "webhook deliveries were still in flight at shutdown; they resume after their lease"
            );
            task.abort();
        }
    }
}

impl Drop for WebhookWorker {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(
    webhooks: WebhookService,
    poll: Duration,
    queued: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    info!(poll_ms = poll.as_millis(), "the webhook worker is running");
    let permits = Arc::new(Semaphore::new(DELIVERY_CONCURRENCY));
    // The sends in flight belong to this task: aborting it aborts them too.
    let mut in_flight = JoinSet::new();
    // Storage failures are reported when they start and when they end, not on every poll.
    let mut failing = false;
    loop {
        if *stopped.borrow() {
            break;
        }
        while in_flight.try_join_next().is_some() {}
        let free = permits.available_permits();
        if free > 0 {
            match webhooks
                .claim_due(u32::try_from(free).unwrap_or(u32::MAX))
                .await
            {
                Ok(claims) => {
                    if failing {
                        info!("webhook deliveries can be claimed again");
                        failing = false;
                    }
                    for claim in claims {
                        let Ok(permit) = permits.clone().try_acquire_owned() else {
                            // Never: at most `free` were claimed. Left to its lease.
                            break;
                        };
                        let webhooks = webhooks.clone();
                        in_flight.spawn(
                            async move {
                                let _permit = permit;
                                webhooks.deliver(&claim).await;
                            }
                            .in_current_span(),
                        );
                    }
                }
                Err(error) => {
                    if !failing {
                        warn!(error = %error.0, "webhook deliveries cannot be claimed; trying again at every poll");
                        failing = true;
                    }
                }
            }
        }
        tokio::select! {
            // A stop signal, or the owner gone.
            _ = stopped.changed() => break,
            // New deliveries were queued, or a slot came free: look again.
            () = queued.notified() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
    while in_flight.join_next().await.is_some() {}
}
