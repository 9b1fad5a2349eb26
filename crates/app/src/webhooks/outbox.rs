//! The webhook outbox sink: `publish` puts the event on a bounded channel and returns; one
//! task writes a delivery row per matching subscription. Until that row is written an event is
//! best effort (a full channel drops it, counted in `webhook_events_dropped_total`); once it
//! is written, it is delivered at least once.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use switchboard_domain::events::{Event, EventPublisher};
use switchboard_domain::webhook::WebhookService;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, warn};

/// Events waiting to be written; bursts of transcript lines fit many times over.
pub const OUTBOX_CAPACITY: usize = 4096;

/// The sink the domain publishes to.
#[derive(Clone, Debug)]
pub struct WebhookOutbox {
    sender: mpsc::Sender<Event>,
    dropped: IntCounter,
}

impl EventPublisher for WebhookOutbox {
    fn publish(&self, event: Event) {
        match self.sender.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                self.dropped.inc();
                warn!(
                    event.id = %event.id,
                    event.kind = %event.kind,
                    "the webhook outbox is full; this event is not sent to webhooks"
                );
            }
            Err(mpsc::error::TrySendError::Closed(event)) => {
                debug!(event.id = %event.id, "the server is stopping; event not queued for webhooks");
            }
        }
    }
}

/// The task that writes queued events as deliveries; aborted when dropped.
#[derive(Debug)]
pub struct OutboxWriter {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl OutboxWriter {
    /// Starts the writer; `written` is told whenever deliveries were queued, so the worker
    /// sends them without waiting for its next poll.
    #[must_use]
    pub fn spawn(
        webhooks: WebhookService,
        written: Arc<Notify>,
        dropped: IntCounter,
    ) -> (WebhookOutbox, Self) {
        let (sender, receiver) = mpsc::channel(OUTBOX_CAPACITY);
        let (shutdown, stopped) = watch::channel(false);
        let task = tokio::spawn(
            run(webhooks, receiver, stopped, written)
                .instrument(tracing::info_span!("webhook_outbox")),
        );
        (
            WebhookOutbox { sender, dropped },
            Self {
                shutdown,
                task: Some(task),
            },
        )
    }

    /// Takes no more events, writes those already queued (for up to `grace`), and stops.
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.shutdown.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(grace, &mut task).await.is_err()
        {
            warn!("events were still being queued for webhooks at shutdown; the rest are dropped");
            task.abort();
        }
    }
}

impl Drop for OutboxWriter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn write(webhooks: &WebhookService, event: &Event, written: &Notify) {
    match webhooks.enqueue(event).await {
        Ok(0) => {}
        Ok(queued) => {
            debug!(event.id = %event.id, event.kind = %event.kind, queued, "event queued for webhooks");
            written.notify_one();
        }
        Err(error) => warn!(
            event.id = %event.id,
            event.kind = %event.kind,
            error = %error.0,
            "an event could not be queued for webhooks"
        ),
    }
}

async fn run(
    webhooks: WebhookService,
    mut receiver: mpsc::Receiver<Event>,
    mut stopped: watch::Receiver<bool>,
    written: Arc<Notify>,
) {
    loop {
        tokio::select! {
            event = receiver.recv() => match event {
                Some(event) => write(&webhooks, &event, &written).await,
                None => return,
            },
            // A stop signal, or the owner gone: what is queued is still written.
            _ = stopped.changed() => break,
        }
    }
    receiver.close();
    while let Some(event) = receiver.recv().await {
        write(&webhooks, &event, &written).await;
    }
}
