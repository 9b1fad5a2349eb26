//! Where the domain's events go: every sink the application was built with (live feeds, the
//! webhook outbox), each taking the same event.

pub mod bus;
pub mod feeds;
pub mod redis_relay;

pub use bus::EventBus;

use std::sync::Arc;

use switchboard_domain::events::{Event, EventPublisher};

/// Hands each event to every sink, in order. Sinks queue; none may block.
#[derive(Clone, Default)]
pub struct EventSinks {
    sinks: Vec<Arc<dyn EventPublisher>>,
}

impl EventSinks {
    #[must_use]
    pub fn new(sinks: Vec<Arc<dyn EventPublisher>>) -> Self {
        Self { sinks }
    }
}

impl EventPublisher for EventSinks {
    fn publish(&self, event: Event) {
        if let Some((last, rest)) = self.sinks.split_last() {
            for sink in rest {
                sink.publish(event.clone());
            }
            last.publish(event);
        }
    }
}

impl std::fmt::Debug for EventSinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSinks")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}
