//! The events calls give: what a call looks like to listeners (a compact view that stays stable
//! whatever the stored call grows), and which events a stored change of a call means.
//!
//! Events are told after the write that made them true has succeeded, and only by the writer
//! that moved the call: every write of a call is guarded by its version, so exactly one write
//! takes a call from live to ended, and so `call.ended` is told once per call.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::analysis::CallAnalysis;
use super::model::{Call, CallStatus, NewCallTurn, Speaker, TurnLatency};
use crate::events::{Event, EventKind, EventPublisher};
use crate::ids::{AgentId, CallId, OrganizationId};

/// A call as events show it (`call.started`, `call.status`, `call.ended`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallView {
    pub id: CallId,
    pub agent_id: Option<AgentId>,
    pub agent_name: Option<String>,
    pub status: &'static str,
    pub direction: &'static str,
    pub channel: &'static str,
    pub phone_number: Option<String>,
    pub customer_name: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Whole seconds, once the call has ended.
    pub duration_secs: Option<i64>,
    pub end_reason: Option<String>,
}

impl CallView {
    /// The view of a call.
    #[must_use]
    pub fn of(call: &Call) -> Self {
        Self {
            id: call.id,
            agent_id: call.agent_id,
            agent_name: call.agent_name.clone(),
            status: call.status.as_str(),
            direction: call.direction.as_str(),
            channel: call.channel.as_str(),
            phone_number: call.phone_number.clone(),
            customer_name: call.customer_name.clone(),
            started_at: call.started_at,
            ended_at: call.ended_at,
            duration_secs: call.duration_secs(),
            end_reason: call.end_reason.clone(),
        }
    }
}

/// One transcript line as `transcript.turn` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TurnView {
    pub call_id: CallId,
    pub speaker: Speaker,
    pub text: String,
    pub at: DateTime<Utc>,
    /// For agent lines answering the caller; `null` otherwise.
    pub latency: Option<TurnLatency>,
}

/// A completed analysis as `call.analyzed` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnalyzedView<'a> {
    pub call_id: CallId,
    #[serde(flatten)]
    pub analysis: &'a CallAnalysis,
}

fn json(value: impl Serialize) -> serde_json::Value {
    // The views hold only strings, numbers, times and ids: serialising them cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// An event about a call, carrying its view.
#[must_use]
pub fn call_event(kind: EventKind, call: &Call, at: DateTime<Utc>) -> Event {
    Event::new(
        kind,
        call.organization_id,
        Some(call.id),
        at,
        json(CallView::of(call)),
    )
}

/// The `transcript.turn` event of one stored line.
#[must_use]
pub fn turn_event(call: &Call, turn: &NewCallTurn) -> Event {
    Event::new(
        EventKind::TranscriptTurn,
        call.organization_id,
        Some(call.id),
        turn.at,
        json(TurnView {
            call_id: call.id,
            speaker: turn.speaker,
            text: turn.text.clone(),
            at: turn.at,
            latency: turn.latency,
        }),
    )
}

/// The `call.analyzed` event of a stored analysis.
#[must_use]
pub fn analyzed_event(
    organization: OrganizationId,
    call: CallId,
    analysis: &CallAnalysis,
    at: DateTime<Utc>,
) -> Event {
    Event::new(
        EventKind::CallAnalyzed,
        organization,
        Some(call),
        at,
        json(AnalyzedView {
            call_id: call,
            analysis,
        }),
    )
}

/// Tells a newly stored call: `call.started`, its first lines, and `call.ended` when it was
/// stored over already (a flow that only says goodbye, a model that failed at the greeting).
pub(super) fn tell_inserted(
    events: &dyn EventPublisher,
    call: &Call,
    turns: &[NewCallTurn],
    at: DateTime<Utc>,
) {
    events.publish(call_event(EventKind::CallStarted, call, call.started_at));
    for turn in turns {
        events.publish(turn_event(call, turn));
    }
    if !call.is_active() {
        events.publish(call_event(EventKind::CallEnded, call, at));
    }
}

/// Tells what one successful write of a call changed: the lines it appended, then its move to
/// another live status (`call.status`) or out of live (`call.ended`). `was` is the status stored
/// at the version the write replaced.
pub(super) fn tell_saved(
    events: &dyn EventPublisher,
    was: CallStatus,
    after: &Call,
    turns: &[NewCallTurn],
    at: DateTime<Utc>,
) {
    for turn in turns {
        events.publish(turn_event(after, turn));
    }
    if !was.is_final() && !after.is_active() {
        events.publish(call_event(EventKind::CallEnded, after, at));
    } else if after.is_active() && was != after.status {
        events.publish(call_event(EventKind::CallStatus, after, at));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::call::{CallChannel, CallDirection};

    #[derive(Default)]
    struct Recorded(Mutex<Vec<Event>>);

    impl EventPublisher for Recorded {
        fn publish(&self, event: Event) {
            self.0.lock().unwrap().push(event);
        }
    }

    impl Recorded {
        fn kinds(&self) -> Vec<EventKind> {
            self.0.lock().unwrap().iter().map(|e| e.kind).collect()
        }
    }

    fn call(status: CallStatus) -> Call {
        let at = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
        Call {
            id: CallId::new(),
            organization_id: OrganizationId::new(),
            agent_id: None,
            agent_name: Some("Ava".into()),
            scenario: None,
            channel: CallChannel::Phone,
            direction: CallDirection::Outbound,
            status,
            customer_name: None,
            phone_number: Some("+14155550123".into()),
            session_key: Some("private".into()),
            started_at: at,
            ended_at: None,
            end_reason: None,
            context: json!({"secret": "kept inside"}),
            conversation: Default::default(),
            version: 0,
            recording_url: None,
            provider_call_id: Some("CA1".into()),
            talk_secs: None,
            idempotency_key: None,
            metadata: serde_json::Value::Null,
            created_at: at,
            updated_at: at,
            analysis: Default::default(),
        }
    }

    #[test]
    fn the_call_view_shows_the_public_fields_only() {
        let mut ended = call(CallStatus::InProgress);
        let end = ended.started_at + chrono::Duration::seconds(42);
        ended.finish(CallStatus::Completed, "hangup", end);
        let event = call_event(EventKind::CallEnded, &ended, end);
        assert_eq!(event.call_id, Some(ended.id));
        assert_eq!(
            event.data,
            json!({
                "id": ended.id,
                "agent_id": null,
                "agent_name": "Ava",
                "status": "completed",
                "direction": "outbound",
                "channel": "phone",
                "phone_number": "+14155550123",
                "customer_name": null,
                "started_at": "2025-03-01T09:00:00Z",
                "ended_at": "2025-03-01T09:00:42Z",
                "duration_secs": 42,
                "end_reason": "hangup",
            })
        );
    }

    #[test]
    fn a_write_tells_its_lines_then_its_status_move() {
        let events = Recorded::default();
        let queued = call(CallStatus::Queued);
        let mut ringing = queued.clone();
        ringing.status = CallStatus::Ringing;
        tell_saved(&events, queued.status, &ringing, &[], ringing.started_at);
        let mut ended = ringing.clone();
        ended.finish(CallStatus::NoAnswer, "no_answer", ended.started_at);
        tell_saved(&events, ringing.status, &ended, &[], ended.started_at);
        // A write over a call that had ended already changes nothing live.
        tell_saved(&events, ended.status, &ended, &[], ended.started_at);
        let line = NewCallTurn {
            speaker: Speaker::Customer,
            text: "Hello?".into(),
            at: ringing.started_at,
            latency: None,
        };
        tell_saved(
            &events,
            ringing.status,
            &ringing,
            &[line],
            ringing.started_at,
        );
        assert_eq!(
            events.kinds(),
            [
                EventKind::CallStatus,
                EventKind::CallEnded,
                EventKind::TranscriptTurn
            ]
        );
    }
}
