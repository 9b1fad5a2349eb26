//! The live feeds over WebSocket: `WS /ws`, an organisation's activity (every event of the
//! organisation, plus `metrics` with live counts), and `WS /ws/calls/{call_id}`, one call (a
//! `snapshot` of the call and its transcript first, then its status moves, lines, end and
//! analysis).
//!
//! Both authenticate like the voice sockets (a user's access token as `?token=`, an
//! `Authorization` header, or a first `{"type":"auth","token":...}` message) and show only the
//! user's organisation. Failures are an `{"type":"error","message":...}` message, then a close
//! with a 44xx code. The server pings every [`PING_EVERY`] and closes a client it has not heard
//! from (pong, ping or message) for [`IDLE_AFTER`]; a client may also send `{"type":"ping"}` and
//! is answered `{"type":"pong"}`. A client too slow to keep up is closed with [`LAGGED`]: it
//! reconnects and reads a fresh snapshot.

use std::sync::Arc;
use std::time::Duration;

use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use chrono::Utc;
use futures_util::StreamExt as _;
use serde_json::json;
use switchboard_domain::call::{CallError, CallStatus, CallView, LiveCounts, TurnView};
use switchboard_domain::events::{Event, EventKind};
use switchboard_domain::ids::{CallId, OrganizationId};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument as _, debug, warn};

use crate::state::AppState;
use crate::voice::socket::first_message_token;

/// How often the server pings.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// How long a silent client stays connected.
pub const IDLE_AFTER: Duration = Duration::from_secs(45);
/// The shortest time between two `metrics` messages: counts are read at most this often.
pub const METRICS_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// Counts are read again after this long even when no call started or ended (the day rolls
/// over).
pub const METRICS_REFRESH: Duration = Duration::from_secs(60);

/// Close codes.
pub const NOT_AUTHENTICATED: u16 = 4401;
pub const NOT_FOUND: u16 = 4404;
pub const IDLE: u16 = 4408;
pub const LAGGED: u16 = 4409;

async fn close(mut session: Session, code: u16, message: &str) {
    let _ = session
        .text(json!({"type": "error", "message": message}).to_string())
        .await;
    let _ = session
        .close(Some(CloseReason {
            code: CloseCode::Other(code),
            description: Some(message.to_owned()),
        }))
        .await;
}

/// The organisation of the user whose access token the client presents.
async fn authenticate(
    state: &AppState,
    stream: &mut MessageStream,
    token: Option<String>,
) -> Result<OrganizationId, &'static str> {
    let token = match token {
        Some(token) => Some(token),
        None => first_message_token(stream).await,
    };
    let Some(token) = token else {
        return Err("not authenticated: send an access token");
    };
    state
        .auth
        .authenticate(&token)
        .await
        .map(|principal| principal.organization_id)
        .map_err(|_| "not authenticated: the token is invalid or expired")
}

/// What one feed shows.
enum Feed {
    Organization {
        /// A call started, moved or ended since the counts were last sent.
        dirty: bool,
        last: Option<LiveCounts>,
        read_at: Instant,
    },
    Call {
        id: CallId,
        /// The furthest status shown (snapshot or event): older news is not shown again.
        status: CallStatus,
        /// Snapshot lines not yet matched by their `transcript.turn` (told before the snapshot
        /// was read, delivered after).
        shown: Vec<TurnView>,
    },
}

impl Feed {
    /// What to send of `event`, if anything.
    fn show(&mut self, event: &Event) -> Option<String> {
        match self {
            Self::Organization { dirty, .. } => {
                if matches!(
                    event.kind,
                    EventKind::CallStarted | EventKind::CallStatus | EventKind::CallEnded
                ) {
                    *dirty = true;
                }
                serde_json::to_string(event).ok()
            }
            Self::Call { id, status, shown } => {
                if event.call_id != Some(*id) {
                    return None;
                }
                let show = match event.kind {
                    // The snapshot showed the call.
                    EventKind::CallStarted => false,
                    EventKind::CallStatus | EventKind::CallEnded => {
                        let next = event.data["status"]
                            .as_str()
                            .and_then(|s| CallStatus::parse(s).ok());
                        match next {
                            Some(next) if status.may_become(next) => {
                                *status = next;
                                true
                            }
                            _ => false,
                        }
                    }
                    EventKind::TranscriptTurn => {
                        let seen = shown.iter().position(|turn| same_line(turn, &event.data));
                        seen.map(|index| shown.swap_remove(index)).is_none()
                    }
                    EventKind::CallAnalyzed => true,
                    EventKind::AgentUpdated => false,
                };
                show.then(|| serde_json::to_string(event).ok()).flatten()
            }
        }
    }
}

/// Whether a `transcript.turn` payload is this snapshot line (storage may keep times to the
/// microsecond only).
fn same_line(turn: &TurnView, data: &serde_json::Value) -> bool {
    let at = data["at"]
        .as_str()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
    data["speaker"].as_str() == Some(turn.speaker.as_str())
        && data["text"].as_str() == Some(turn.text.as_str())
        && at.is_some_and(|at| (at.with_timezone(&Utc) - turn.at).num_milliseconds().abs() < 1)
}

/// Serves `WS /ws` to its end.
pub async fn serve_organization(
    state: actix_web::web::Data<AppState>,
    session: Session,
    mut stream: MessageStream,
    token: Option<String>,
) {
    let organization = match authenticate(&state, &mut stream, token).await {
        Ok(organization) => organization,
        Err(message) => return close(session, NOT_AUTHENTICATED, message).await,
    };
    let span = tracing::info_span!("live_feed", organization.id = %organization);
    async move {
        let events = state.live_events.subscribe();
        let mut session = session;
        let ready = json!({"type": "ready", "organization_id": organization});
        if session.text(ready.to_string()).await.is_err() {
            return;
        }
        let feed = Feed::Organization {
            dirty: true,
            last: None,
            read_at: Instant::now(),
        };
        run(&state, organization, session, stream, events, feed).await;
    }
    .instrument(span)
    .await;
}

/// Serves `WS /ws/calls/{call_id}` to its end.
pub async fn serve_call(
    state: actix_web::web::Data<AppState>,
    session: Session,
    mut stream: MessageStream,
    call_id: CallId,
    token: Option<String>,
) {
    let organization = match authenticate(&state, &mut stream, token).await {
        Ok(organization) => organization,
        Err(message) => return close(session, NOT_AUTHENTICATED, message).await,
    };
    let span = tracing::info_span!("live_call_feed", call.id = %call_id);
    async move {
        // Subscribed before the snapshot is read, so nothing told in between is missed.
        let events = state.live_events.subscribe();
        let (call, turns) = match state.calls.get(organization, call_id).await {
            Ok(found) => found,
            Err(CallError::NotFound) => return close(session, NOT_FOUND, "call not found").await,
            Err(error) => {
                warn!(%error, "a call could not be read for its live feed");
                return close(session, 1011, "the call could not be read").await;
            }
        };
        let shown: Vec<TurnView> = turns
            .into_iter()
            .map(|turn| TurnView {
                call_id,
                speaker: turn.speaker,
                text: turn.text,
                at: turn.at,
                latency: turn.latency,
            })
            .collect();
        let snapshot = json!({
            "type": "snapshot",
            "call": CallView::of(&call),
            "transcript": shown,
        });
        let mut session = session;
        if session.text(snapshot.to_string()).await.is_err() {
            return;
        }
        let feed = Feed::Call {
            id: call_id,
            status: call.status,
            shown,
        };
        run(&state, organization, session, stream, events, feed).await;
    }
    .instrument(span)
    .await;
}

/// Sends the organisation's counts when they may have changed (at most every
/// [`METRICS_AT_MOST_EVERY`]) and they did; `false` when the client is gone.
async fn send_metrics(
    state: &AppState,
    organization: OrganizationId,
    session: &mut Session,
    feed: &mut Feed,
) -> bool {
    let Feed::Organization {
        dirty,
        last,
        read_at,
    } = feed
    else {
        return true;
    };
    if !*dirty && read_at.elapsed() < METRICS_REFRESH {
        return true;
    }
    *dirty = false;
    *read_at = Instant::now();
    let counts = match state.calls.live_counts(organization).await {
        Ok(counts) => counts,
        Err(error) => {
            warn!(%error, "live counts could not be read");
            return true;
        }
    };
    if *last == Some(counts) {
        return true;
    }
    *last = Some(counts);
    let message = json!({"type": "metrics", "occurred_at": Utc::now(), "data": counts});
    session.text(message.to_string()).await.is_ok()
}

async fn run(
    state: &AppState,
    organization: OrganizationId,
    mut session: Session,
    mut stream: MessageStream,
    mut events: broadcast::Receiver<Arc<Event>>,
    mut feed: Feed,
) {
    let mut heartbeat = tokio::time::interval(PING_EVERY);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut metrics = tokio::time::interval(METRICS_AT_MOST_EVERY);
    metrics.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => {
                    if event.organization_id != organization {
                        continue;
                    }
                    if let Some(text) = feed.show(&event)
                        && session.text(text).await.is_err()
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    debug!(missed, "a live feed fell behind; closing it");
                    let message = format!("missed {missed} events: reconnect");
                    return close(session, LAGGED, &message).await;
                }
                Err(RecvError::Closed) => return,
            },
            message = stream.next() => {
                heard = Instant::now();
                match message {
                    None | Some(Err(_)) => return,
                    Some(Ok(Message::Close(_))) => {
                        let _ = session.close(None).await;
                        return;
                    }
                    Some(Ok(Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Text(text))) => {
                        let ping = serde_json::from_str::<serde_json::Value>(&text)
                            .is_ok_and(|v| v["type"] == "ping");
                        if ping && session.text(r#"{"type":"pong"}"#).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                }
            },
            _ = heartbeat.tick() => {
                if heard.elapsed() >= IDLE_AFTER {
                    return close(session, IDLE, "no word from the client: closing").await;
                }
                if session.ping(b"").await.is_err() {
                    return;
                }
            },
            _ = metrics.tick() => {
                if !send_metrics(state, organization, &mut session, &mut feed).await {
                    return;
                }
            },
        }
    }
}
