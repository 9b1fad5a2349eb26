//! The live event bus: every event told on this instance, and (with Redis) on every other
//! instance, handed to the live feeds' subscribers.
//!
//! Local events go straight to local subscribers through a tokio broadcast channel, whether or
//! not Redis is up, and are relayed to Redis for the other instances; events from Redis that this
//! instance sent itself are skipped, so each event reaches a local subscriber exactly once.
//! A subscriber that falls behind by more than [`CAPACITY`] events is told it lagged (by its
//! receiver); publishers never wait for it.

use std::sync::Arc;

use switchboard_domain::events::{Event, EventPublisher};
use tokio::sync::broadcast;

use super::redis_relay::{Relay, RelayTasks};

/// Events a subscriber may fall behind by before it misses some.
pub const CAPACITY: usize = 1024;

/// Hands events to the live feeds.
#[derive(Clone)]
pub struct EventBus {
    local: broadcast::Sender<Arc<Event>>,
    relay: Option<Relay>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.local.receiver_count())
            .field("redis", &self.relay.is_some())
            .finish()
    }
}

impl EventBus {
    /// A bus for this instance alone.
    #[must_use]
    pub fn in_process() -> Self {
        let (local, _) = broadcast::channel(CAPACITY);
        Self { local, relay: None }
    }

    /// A bus shared with every instance on the same Redis `channel`, and the tasks that relay
    /// events to and from Redis (they stop when dropped). Waits until the first subscription is
    /// in place, at most `ready_within`, so events other instances tell right after start-up
    /// are not missed; with Redis down it starts anyway and keeps reconnecting.
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub async fn with_redis(
        url: &str,
        channel: &str,
        ready_within: std::time::Duration,
    ) -> anyhow::Result<(Self, RelayTasks)> {
        let (local, _) = broadcast::channel(CAPACITY);
        let (relay, tasks) = Relay::start(url, channel, local.clone())?;
        tasks.subscribed(ready_within).await;
        Ok((
            Self {
                local,
                relay: Some(relay),
            },
            tasks,
        ))
    }

    /// A receiver of every event told from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
    }
}

impl EventPublisher for EventBus {
    fn publish(&self, event: Event) {
        let event = Arc::new(event);
        if let Some(relay) = &self.relay {
            relay.forward(Arc::clone(&event));
        }
        // No subscriber is not a failure: nobody is watching.
        let _ = self.local.send(event);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::Utc;
    use serde_json::json;
    use switchboard_domain::events::EventKind;
    use switchboard_domain::ids::OrganizationId;

    use super::*;

    fn event() -> Event {
        Event::new(
            EventKind::CallStarted,
            OrganizationId::new(),
            None,
            Utc::now(),
            json!({}),
        )
    }

    #[tokio::test]
    async fn every_subscriber_gets_each_event_once() {
        let bus = EventBus::in_process();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        let told = event();
        bus.publish(told.clone());
        assert_eq!(*a.recv().await.unwrap(), told);
        assert_eq!(*b.recv().await.unwrap(), told);
        assert!(a.try_recv().is_err());
    }

    /// Redis at its usual local address, or `None` outside CI when none answers.
    async fn local_redis() -> Option<&'static str> {
        let up = tokio::net::TcpStream::connect("127.0.0.1:6379")
            .await
            .is_ok();
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(up || !in_ci, "Redis must be running in CI");
        if !up {
            eprintln!("skipped: no Redis on 127.0.0.1:6379");
        }
        up.then_some("redis://127.0.0.1:6379")
    }

    async fn next(receiver: &mut broadcast::Receiver<Arc<Event>>) -> Arc<Event> {
        tokio::time::timeout(std::time::Duration::from_secs(10), receiver.recv())
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn buses_on_one_redis_channel_hear_each_other_once() {
        let Some(url) = local_redis().await else {
            return;
        };
        let channel = format!("switchboard:test:{}", uuid::Uuid::new_v4().simple());
        let ready = std::time::Duration::from_secs(5);
        let (first, first_relay) = EventBus::with_redis(url, &channel, ready).await.unwrap();
        let (second, second_relay) = EventBus::with_redis(url, &channel, ready).await.unwrap();
        assert!(first_relay.is_subscribed() && second_relay.is_subscribed());
        let mut on_first = first.subscribe();
        let mut on_second = second.subscribe();

        let told = event();
        first.publish(told.clone());
        let marker = event();
        second.publish(marker.clone());
        // The first bus's subscriber has its own event once, then the second's: the echo of
        // its own event from Redis was skipped.
        assert_eq!(*next(&mut on_first).await, told);
        assert_eq!(*next(&mut on_first).await, marker);
        // The second hears its own at once and the first's through Redis, in either order.
        let mut heard =
            [next(&mut on_second).await, next(&mut on_second).await].map(|e| e.id.to_string());
        heard.sort();
        let mut expected = [told.id.to_string(), marker.id.to_string()];
        expected.sort();
        assert_eq!(heard, expected);
        // Nothing else arrives: one more event from the first closes the exchange.
        let last = event();
        first.publish(last.clone());
        assert_eq!(*next(&mut on_second).await, last);
        assert_eq!(*next(&mut on_first).await, last);
    }

    #[tokio::test]
    async fn with_redis_down_local_subscribers_still_hear_every_event() {
        // Nothing listens on port 1: the relay keeps retrying in the background.
        let (bus, relay) = EventBus::with_redis(
            "redis://127.0.0.1:1",
            "switchboard:test:down",
            std::time::Duration::from_millis(200),
        )
        .await
        .unwrap();
        assert!(!relay.is_subscribed());
        let mut receiver = bus.subscribe();
        let told = event();
        bus.publish(told.clone());
        assert_eq!(*next(&mut receiver).await, told);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged_and_never_holds_the_publisher() {
        let bus = EventBus::in_process();
        let mut slow = bus.subscribe();
        for _ in 0..CAPACITY + 10 {
            bus.publish(event());
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(10))
        ));
    }
}
