//! The event agents give: `agent.updated`, saying what changed and how the agent stands now, so
//! a dashboard can show agents' status live.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Agent;
use crate::events::{Event, EventKind};
use crate::ids::AgentId;

/// What happened to an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentChange {
    Created,
    /// Its configuration (or its status, sent with it) changed.
    Updated,
    Paused,
    Resumed,
    Deactivated,
    /// Its call flow was replaced or removed.
    FlowChanged,
    Deleted,
}

/// An agent as `agent.updated` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentView {
    pub id: AgentId,
    pub name: String,
    pub status: &'static str,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct AgentUpdated {
    change: AgentChange,
    agent: AgentView,
}

/// The `agent.updated` event of a change to `agent` (as it is after the change).
#[must_use]
pub fn agent_event(change: AgentChange, agent: &Agent, at: DateTime<Utc>) -> Event {
    let data = AgentUpdated {
        change,
        agent: AgentView {
            id: agent.id,
            name: agent.config.name.clone(),
            status: agent.status.as_str(),
            updated_at: agent.updated_at,
        },
    };
    Event::new(
        EventKind::AgentUpdated,
        agent.organization_id,
        None,
        at,
        // Ids, strings and a time: serialising them cannot fail.
        serde_json::to_value(data).unwrap_or(serde_json::Value::Null),
    )
}
