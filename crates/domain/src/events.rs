//! What happens in an organisation, told to whoever listens: live feeds over WebSocket, other
//! instances over a bus, outbound webhooks. An event is said once, where it happened; every
//! listener gets the same event with the same id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CallId, EventId, OrganizationId};

/// The kinds of event, named as receivers see them (`call.started`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A call was created and is live (or dialling).
    #[serde(rename = "call.started")]
    CallStarted,
    /// A call's status changed while live (ringing, in progress, ...).
    #[serde(rename = "call.status")]
    CallStatus,
    /// A call ended, with its end reason and duration.
    #[serde(rename = "call.ended")]
    CallEnded,
    /// A call's post-call analysis completed.
    #[serde(rename = "call.analyzed")]
    CallAnalyzed,
    /// One line of a call's transcript was said (caller or agent), with its latency.
    #[serde(rename = "transcript.turn")]
    TranscriptTurn,
    /// An agent was created, changed, paused, resumed or deleted.
    #[serde(rename = "agent.updated")]
    AgentUpdated,
}

impl EventKind {
    /// Every kind, in the order above.
    pub const ALL: [Self; 6] = [
        Self::CallStarted,
        Self::CallStatus,
        Self::CallEnded,
        Self::CallAnalyzed,
        Self::TranscriptTurn,
        Self::AgentUpdated,
    ];

    /// The name receivers see.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CallStarted => "call.started",
            Self::CallStatus => "call.status",
            Self::CallEnded => "call.ended",
            Self::CallAnalyzed => "call.analyzed",
            Self::TranscriptTurn => "transcript.turn",
            Self::AgentUpdated => "agent.updated",
        }
    }

    /// The kind with this name, if there is one.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that happened. `data` is the kind's payload as receivers see it (a call's public
/// view, a transcript line, an agent); it is JSON here because every listener sends it on as
/// JSON and none needs to look inside.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub organization_id: OrganizationId,
    /// The call the event is about, when it is about one (for per-call feeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<CallId>,
    pub occurred_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl Event {
    /// A new event with a fresh id.
    #[must_use]
    pub fn new(
        kind: EventKind,
        organization_id: OrganizationId,
        call_id: Option<CallId>,
        occurred_at: DateTime<Utc>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            id: EventId::new(),
            kind,
            organization_id,
            call_id,
            occurred_at,
            data,
        }
    }
}

/// Takes events where they happen. `publish` is called from inside use cases and live calls, so
/// it must return at once: queue, never wait on a network or a slow receiver.
pub trait EventPublisher: Send + Sync {
    fn publish(&self, event: Event);
}

/// Tells nobody: for services built without listeners (unit tests, tools).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

impl EventPublisher for NoEvents {
    fn publish(&self, _event: Event) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
        }
        assert_eq!(EventKind::parse("call.nope"), None);
    }
}
