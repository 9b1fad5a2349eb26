//! Live events between instances over one Redis pub/sub channel (`EVENTS_CHANNEL`).
//!
//! Two tasks, owned by [`RelayTasks`] and stopped when it is dropped: one publishes the events of
//! this instance from a bounded queue (so telling an event never waits on Redis), the other
//! listens on the channel and hands other instances' events to this instance's subscribers. Each
//! message carries the id of the instance that sent it, and an instance skips its own: local
//! subscribers had those already. Both tasks reconnect with backoff when Redis goes away; events
//! queued meanwhile are sent once it is back, and past [`QUEUE`] the newest are dropped (live
//! feeds of other instances miss them; nothing durable depends on them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use switchboard_domain::events::Event;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// Events of this instance waiting for Redis.
pub const QUEUE: usize = 1024;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long connecting or one command may take before Redis counts as down.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Serialize)]
struct Outgoing<'a> {
    origin: Uuid,
    event: &'a Event,
}

#[derive(Deserialize)]
struct Incoming {
    origin: Uuid,
    event: Event,
}

/// Waits that double from [`BACKOFF_START`] up to [`BACKOFF_MAX`].
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(BACKOFF_START)
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_START;
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
    }
}

/// The sending side: queues this instance's events for Redis.
#[derive(Clone)]
pub struct Relay {
    queue: mpsc::Sender<Arc<Event>>,
    /// Set while the queue is full, so an outage is reported once, not once per event.
    dropping: Arc<AtomicBool>,
}

/// The relay's tasks; aborted when dropped.
#[derive(Debug)]
pub struct RelayTasks {
    tasks: Vec<JoinHandle<()>>,
    subscribed: watch::Receiver<bool>,
}

impl Drop for RelayTasks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl RelayTasks {
    /// Waits, at most `within`, until the channel is subscribed; `false` when it is not.
    pub async fn subscribed(&self, within: Duration) -> bool {
        let mut subscribed = self.subscribed.clone();
        tokio::time::timeout(within, subscribed.wait_for(|s| *s))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether the channel is subscribed now.
    #[must_use]
    pub fn is_subscribed(&self) -> bool {
        *self.subscribed.borrow()
    }
}

impl Relay {
    /// Starts relaying between `local` and the Redis `channel` at `url`.
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn start(
        url: &str,
        channel: &str,
        local: broadcast::Sender<Arc<Event>>,
    ) -> anyhow::Result<(Self, RelayTasks)> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("REDIS_URL: not a usable Redis URL: {e}"))?;
        let origin = Uuid::new_v4();
        let (queue, outgoing) = mpsc::channel(QUEUE);
        let dropping = Arc::new(AtomicBool::new(false));
        let (subscribed_tx, subscribed) = watch::channel(false);
        let publisher = tokio::spawn(publish(
            client.clone(),
            channel.to_owned(),
            origin,
            outgoing,
            Arc::clone(&dropping),
        ));
        let subscriber = tokio::spawn(listen(
            client,
            channel.to_owned(),
            origin,
            local,
            subscribed_tx,
        ));
        Ok((
            Self { queue, dropping },
            RelayTasks {
                tasks: vec![publisher, subscriber],
                subscribed,
            },
        ))
    }

    /// Queues an event for the other instances, without waiting.
    pub fn forward(&self, event: Arc<Event>) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(event)
            && !self.dropping.swap(true, Ordering::Relaxed)
        {
            warn!(
                queue = QUEUE,
                "Redis is not taking live events fast enough; other instances' live feeds \
                 miss the newest until it does"
            );
        }
    }
}

fn encode(origin: Uuid, event: &Event) -> Option<String> {
    serde_json::to_string(&Outgoing { origin, event })
        .map_err(|error| warn!(%error, "a live event could not be encoded for Redis"))
        .ok()
}

/// Publishes queued events, reconnecting with backoff; ends when the bus is gone.
async fn publish(
    client: redis::Client,
    channel: String,
    origin: Uuid,
    mut outgoing: mpsc::Receiver<Arc<Event>>,
    dropping: Arc<AtomicBool>,
) {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(REDIS_TIMEOUT)
        .set_response_timeout(REDIS_TIMEOUT);
    let mut backoff = Backoff::new();
    let mut healthy = true;
    // An event whose publish failed, sent first on the next connection.
    let mut pending: Option<String> = None;
    loop {
        match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(mut connection) => {
                if !healthy {
                    info!("publishing live events to Redis again");
                }
                // Cleared again only by a failure, which says so itself.
                backoff.reset();
                loop {
                    let payload = match pending.take() {
                        Some(payload) => payload,
                        None => match outgoing.recv().await {
                            Some(event) => match encode(origin, &event) {
                                Some(payload) => payload,
                                None => continue,
                            },
                            None => return,
                        },
                    };
                    let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                        .arg(&channel)
                        .arg(&payload)
                        .query_async(&mut connection)
                        .await;
                    if let Err(error) = sent {
                        warn!(%error, "publishing a live event to Redis failed; reconnecting");
                        healthy = false;
                        pending = Some(payload);
                        break;
                    }
                    dropping.store(false, Ordering::Relaxed);
                }
            }
            Err(error) => {
                if healthy {
                    warn!(%error, "Redis cannot be reached; live events stay on this instance until it can");
                } else {
                    debug!(%error, "Redis still cannot be reached");
                }
                healthy = false;
            }
        }
        backoff.wait().await;
    }
}

/// Listens on the channel, reconnecting with backoff, and hands other instances' events to the
/// local subscribers.
async fn listen(
    client: redis::Client,
    channel: String,
    origin: Uuid,
    local: broadcast::Sender<Arc<Event>>,
    subscribed: watch::Sender<bool>,
) {
    let mut backoff = Backoff::new();
    let mut healthy = true;
    loop {
        let connected = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(mut pubsub)) => {
                info!("receiving other instances' live events from Redis");
                healthy = true;
                backoff.reset();
                subscribed.send_replace(true);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let incoming = message
                        .get_payload::<String>()
                        .map_err(|e| e.to_string())
                        .and_then(|p| {
                            serde_json::from_str::<Incoming>(&p).map_err(|e| e.to_string())
                        });
                    match incoming {
                        Ok(incoming) if incoming.origin != origin => {
                            let _ = local.send(Arc::new(incoming.event));
                        }
                        // This instance's own event: its subscribers had it already.
                        Ok(_) => {}
                        Err(error) => {
                            debug!(%error, "a message on the events channel that is not an event, skipped")
                        }
                    }
                }
                subscribed.send_replace(false);
                warn!("lost the Redis subscription to live events; reconnecting");
            }
            Ok(Err(error)) => {
                if healthy {
                    warn!(%error, "cannot subscribe to live events on Redis; retrying");
                }
                healthy = false;
            }
            Err(_) => {
                if healthy {
                    warn!("subscribing to live events on Redis timed out; retrying");
                }
                healthy = false;
            }
        }
        backoff.wait().await;
    }
}
