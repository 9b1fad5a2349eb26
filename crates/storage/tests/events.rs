//! The events the use cases tell, over the real repositories on SQLite and a fresh PostgreSQL
//! database: each use case tells what happened after it was stored, and a call's end is told
//! exactly once whichever paths race to end it. A recording publisher stands where the
//! application's sinks go.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use serde_json::json;
use support::{NoKnowledge, NoTools};
use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::agent::{AgentInput, AgentService, AgentStatus};
use switchboard_domain::call::{
    AnalysisPolicy, AnalysisPorts, AnalysisService, Call, CallChannel, CallDirection, CallPorts,
    CallService, CallStart, CallStatus, CallTarget, ExternalCall, JobOutcome, NewCallTurn, Speaker,
};
use switchboard_domain::conversation::ConversationEngine;
use switchboard_domain::events::{Event, EventKind, EventPublisher};
use switchboard_domain::ids::{AgentId, OrganizationId, UserId};
use switchboard_domain::ports::{
    AccountRepository, ChatEvent, ChatRequest, ChatStream, Dial, FinishReason, LanguageModel,
    LlmError, MediaStreamTarget, PlacedCall, ProviderCallState, Telephony, TelephonyError,
};
use switchboard_domain::scenario::ScenarioService;
use switchboard_local::LexiconAnalyzer;
use switchboard_storage::on_both_backends;
use switchboard_storage::{
    Database, SeaOrmAccounts, SeaOrmAgents, SeaOrmCallAnalyses, SeaOrmCalls, SeaOrmDocuments,
    SeaOrmScenarios,
};
use switchboard_testkit::ManualClock;

on_both_backends!(
    a_text_call_tells_its_start_every_line_and_its_end_once,
    a_live_call_ended_by_the_client_meanwhile_is_told_ended_once,
    racing_ends_tell_the_end_once,
    a_phone_call_tells_each_status_move_and_its_end_once,
    a_refused_dial_tells_the_call_started_and_ended,
    a_logged_call_is_told_once_as_ended,
    agent_changes_are_told_with_their_kind,
    a_completed_analysis_is_told_with_its_summary,
);

/// Keeps every event told.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl EventPublisher for Recorder {
    fn publish(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    /// The events told since the last take.
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// Answers every turn with the same words.
struct Polite;

#[async_trait]
impl LanguageModel for Polite {
    fn name(&self) -> &str {
        "polite"
    }

    async fn stream(&self, _: ChatRequest) -> Result<ChatStream, LlmError> {
        let events = ["Happy ", "to help."]
            .into_iter()
            .map(|w| Ok(ChatEvent::Token(w.to_owned())))
            .chain([Ok(ChatEvent::Finished(FinishReason::Stop))]);
        Ok(Box::pin(futures_util::stream::iter(
            events.collect::<Vec<_>>(),
        )))
    }
}

/// Accepts every dial, unless told to refuse the next.
#[derive(Default)]
struct Telephone {
    // A std mutex: held for a take, never across an await.
    refuse_next: Mutex<bool>,
}

#[async_trait]
impl Telephony for Telephone {
    fn name(&self) -> &str {
        "telephone"
    }

    async fn dial(&self, _: &Dial) -> Result<PlacedCall, TelephonyError> {
        if std::mem::take(&mut *self.refuse_next.lock().unwrap()) {
            return Err(TelephonyError::Rejected("unreachable".into()));
        }
        Ok(PlacedCall {
            provider_call_id: format!("CA{}", uuid::Uuid::new_v4().simple()),
            status: "queued".into(),
        })
    }

    async fn hang_up(&self, _: &str) -> Result<(), TelephonyError> {
        Ok(())
    }

    async fn transfer(&self, _: &str, _: &str) -> Result<(), TelephonyError> {
        Ok(())
    }

    async fn play_and_hang_up(&self, _: &str, _: &str) -> Result<(), TelephonyError> {
        Ok(())
    }

    async fn fetch(&self, _: &str) -> Result<ProviderCallState, TelephonyError> {
        Err(TelephonyError::NoSuchCall)
    }
}

fn dial(call: &Call) -> Dial {
    Dial {
        to: call.phone_number.clone().unwrap_or_default(),
        from: "+14155550199".into(),
        stream: MediaStreamTarget {
            url: "wss://switchboard.test/telephony/twilio/media".into(),
            parameters: Vec::new(),
        },
        status_callback: "https://switchboard.test/telephony/twilio/status".into(),
        machine_detection_callback: None,
        ring_timeout_secs: 30,
    }
}

/// The services over `db`, all telling one recorder, and an organisation with a user and an
/// agent that greets by itself.
struct World {
    clock: Arc<ManualClock>,
    events: Arc<Recorder>,
    calls: CallService,
    agents: AgentService,
    analysis: AnalysisService,
    user: UserId,
    organization: OrganizationId,
    agent: AgentId,
}

async fn world(db: &Database) -> World {
    let clock = Arc::new(ManualClock::new());
    let events = Arc::new(Recorder::default());
    let accounts = Arc::new(SeaOrmAccounts::new(db.clone()));
    let (user, org) = accounts
        .create_account(NewAccount {
            user_id: UserId::new(),
            organization_id: OrganizationId::new(),
            email: EmailAddress::parse(&format!("{}@example.com", uuid::Uuid::new_v4())).unwrap(),
            full_name: None,
            organization_name: DisplayName::parse("Acme").unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
            created_at: clock.now(),
        })
        .await
        .unwrap();
    let agent_repository = Arc::new(SeaOrmAgents::new(db.clone()));
    let call_repository = Arc::new(SeaOrmCalls::new(db.clone()));
    let agents = AgentService::new(
        agent_repository.clone(),
        Arc::new(SeaOrmDocuments::new(db.clone())),
        call_repository.clone(),
        clock.clone(),
        events.clone(),
    );
    let agent = agents
        .create(
            org.id,
            AgentInput {
                name: Some("Ava".into()),
                first_message: Some("Hello, this is Ava.".into()),
                ..AgentInput::default()
            },
            None,
        )
        .await
        .unwrap();
    let engine = ConversationEngine::new(
        Some(Arc::new(Polite)),
        Arc::new(NoKnowledge),
        Arc::new(NoTools),
        clock.clone(),
    );
    let calls = CallService::new(
        CallPorts {
            calls: call_repository.clone(),
            agents: agent_repository,
            accounts,
            clock: clock.clone(),
            events: events.clone(),
        },
        ScenarioService::new(Arc::new(SeaOrmScenarios::new(db.clone())), clock.clone()),
        engine,
    );
    let analysis = AnalysisService::new(
        AnalysisPorts {
            jobs: Arc::new(SeaOrmCallAnalyses::new(db.clone())),
            calls: call_repository,
            analyzer: Arc::new(LexiconAnalyzer::new()),
            clock: clock.clone(),
            events: events.clone(),
        },
        AnalysisPolicy::default(),
    );
    // The agent's own creation is told; tests start from a clean record.
    events.take();
    World {
        clock,
        events,
        calls,
        agents,
        analysis,
        user: user.id,
        organization: org.id,
        agent: agent.id,
    }
}

impl World {
    fn start(&self, channel: CallChannel) -> CallStart {
        CallStart {
            target: CallTarget::Agent(self.agent),
            channel,
            direction: CallDirection::Inbound,
            customer_name: Some("Ada".into()),
            phone_number: None,
            session_key: None,
            provider_call_id: None,
            idempotency_key: None,
        }
    }
}

async fn a_text_call_tells_its_start_every_line_and_its_end_once(
    db: Database,
) -> anyhow::Result<()> {
    let w = world(&db).await;
    let opened = w
        .calls
        .start(w.organization, Some(w.user), w.start(CallChannel::Text))
        .await?;
    let id = opened.call.id;
    let told = w.events.take();
    assert_eq!(kinds(&told), ["call.started", "transcript.turn"]);
    assert!(told.iter().all(|e| e.organization_id == w.organization));
    assert!(told.iter().all(|e| e.call_id == Some(id)));
    assert_eq!(told[0].data["id"], json!(id));
    assert_eq!(told[0].data["status"], "in_progress");
    assert_eq!(told[0].data["agent_name"], "Ava");
    assert_eq!(told[1].data["speaker"], "agent");
    assert_eq!(told[1].data["text"], "Hello, this is Ava.");

    w.calls.respond(w.organization, id, "Can you help?").await?;
    let told = w.events.take();
    assert_eq!(kinds(&told), ["transcript.turn", "transcript.turn"]);
    assert_eq!(told[0].data["speaker"], "customer");
    assert_eq!(told[0].data["text"], "Can you help?");
    assert_eq!(told[0].data["latency"], serde_json::Value::Null);
    assert_eq!(told[1].data["speaker"], "agent");
    assert_eq!(told[1].data["text"], "Happy to help.");
    assert!(told[1].data["latency"]["total_ms"].is_u64());

    w.clock.advance(Duration::seconds(30));
    w.calls.end(w.organization, id).await?;
    w.calls.end(w.organization, id).await?;
    let told = w.events.take();
    assert_eq!(kinds(&told), ["call.ended"]);
    assert_eq!(told[0].data["status"], "completed");
    assert_eq!(told[0].data["end_reason"], "ended_by_client");
    assert_eq!(told[0].data["duration_secs"], 30);
    Ok(())
}

async fn a_live_call_ended_by_the_client_meanwhile_is_told_ended_once(
    db: Database,
) -> anyhow::Result<()> {
    let w = world(&db).await;
    let opened = w
        .calls
        .start(w.organization, Some(w.user), w.start(CallChannel::Web))
        .await?;
    let id = opened.call.id;
    let mut live = w.calls.go_live(id, Some(w.organization)).await?;
    w.events.take();
    live.record(NewCallTurn {
        speaker: Speaker::Customer,
        text: "Hi there".into(),
        at: w.clock.now(),
        latency: None,
    })
    .await?;
    assert_eq!(kinds(&w.events.take()), ["transcript.turn"]);

    // The client ends the call while the channel still holds it; the channel's own end then
    // finds it ended and changes nothing live.
    w.calls.end(w.organization, id).await?;
    let conversation = live.call().conversation.clone();
    let finished = live
        .finish(conversation, CallStatus::Completed, "hangup", None)
        .await?;
    assert_eq!(finished.end_reason.as_deref(), Some("ended_by_client"));
    let told = w.events.take();
    assert_eq!(kinds(&told), ["call.ended"]);
    assert_eq!(told[0].data["end_reason"], "ended_by_client");
    Ok(())
}

async fn racing_ends_tell_the_end_once(db: Database) -> anyhow::Result<()> {
    let w = world(&db).await;
    let opened = w
        .calls
        .start(w.organization, Some(w.user), w.start(CallChannel::Text))
        .await?;
    let id = opened.call.id;
    w.events.take();
    // Losers of the race either find the call ended or are told the call is busy: none tells.
    let (a, b, c) = tokio::join!(
        w.calls.end(w.organization, id),
        w.calls.end(w.organization, id),
        w.calls.end(w.organization, id),
    );
    assert!([a, b, c].iter().any(Result::is_ok));
    assert_eq!(kinds(&w.events.take()), ["call.ended"]);
    Ok(())
}

async fn a_phone_call_tells_each_status_move_and_its_end_once(db: Database) -> anyhow::Result<()> {
    let w = world(&db).await;
    let telephone = Telephone::default();
    let start = CallStart {
        phone_number: Some("+14155550123".into()),
        ..w.start(CallChannel::Phone)
    };
    let opened = w
        .calls
        .place(w.organization, Some(w.user), start, &telephone, dial)
        .await?;
    let sid = opened.call.provider_call_id.clone().unwrap();
    let told = w.events.take();
    assert_eq!(kinds(&told)[0], "call.started");
    assert_eq!(told[0].data["status"], "queued");
    assert_eq!(told[0].data["direction"], "outbound");
    assert_eq!(told[0].data["phone_number"], "+14155550123");
    assert!(!kinds(&told).contains(&"call.ended"));

    w.calls
        .provider_status(&sid, CallStatus::Ringing, None)
        .await?;
    // Reports out of order move nothing and tell nothing.
    w.calls
        .provider_status(&sid, CallStatus::Queued, None)
        .await?;
    let mut live = w.calls.go_live(opened.call.id, None).await?;
    live.answered(Some(&sid)).await?;
    let told = w.events.take();
    assert_eq!(kinds(&told), ["call.status", "call.status"]);
    assert_eq!(told[0].data["status"], "ringing");
    assert_eq!(told[1].data["status"], "in_progress");

    // The provider's end and a voicemail end race the channel's: one of them is told.
    w.calls
        .provider_status(&sid, CallStatus::Completed, Some(12))
        .await?;
    w.calls
        .provider_status(&sid, CallStatus::Completed, Some(12))
        .await?;
    w.calls.end_by_provider_id(&sid, "voicemail").await?;
    let conversation = live.call().conversation.clone();
    live.finish(conversation, CallStatus::Completed, "hangup", None)
        .await?;
    let told = w.events.take();
    assert_eq!(kinds(&told), ["call.ended"]);
    assert_eq!(told[0].data["end_reason"], "completed");
    assert_eq!(told[0].data["duration_secs"], 12);
    Ok(())
}

async fn a_refused_dial_tells_the_call_started_and_ended(db: Database) -> anyhow::Result<()> {
    let w = world(&db).await;
    let telephone = Telephone::default();
    *telephone.refuse_next.lock().unwrap() = true;
    let start = CallStart {
        phone_number: Some("+14155550123".into()),
        ..w.start(CallChannel::Phone)
    };
    let placed = w
        .calls
        .place(w.organization, Some(w.user), start, &telephone, dial)
        .await;
    assert!(placed.is_err());
    let told = w.events.take();
    assert_eq!(kinds(&told).first(), Some(&"call.started"));
    assert_eq!(kinds(&told).last(), Some(&"call.ended"));
    assert_eq!(
        kinds(&told).iter().filter(|k| **k == "call.ended").count(),
        1
    );
    assert_eq!(told.last().unwrap().data["status"], "failed");
    assert_eq!(told.last().unwrap().data["end_reason"], "dial_failed");
    Ok(())
}

async fn a_logged_call_is_told_once_as_ended(db: Database) -> anyhow::Result<()> {
    let w = world(&db).await;
    let external = ExternalCall {
        phone_number: Some("+14155550123".into()),
        duration_secs: Some(90),
        turns: vec![("agent".into(), "Hello".into(), None)],
        idempotency_key: Some("vapi:call-1".into()),
        ..ExternalCall::default()
    };
    let (call, _) = w
        .calls
        .log_external(w.organization, external.clone())
        .await?;
    // The same report again finds the call stored the first time and tells nothing.
    w.calls.log_external(w.organization, external).await?;
    let told = w.events.take();
    assert_eq!(kinds(&told), ["call.ended"]);
    assert_eq!(told[0].call_id, Some(call.id));
    assert_eq!(told[0].data["duration_secs"], 90);
    assert_eq!(told[0].data["end_reason"], "logged");
    Ok(())
}

async fn agent_changes_are_told_with_their_kind(db: Database) -> anyhow::Result<()> {
    let w = world(&db).await;
    let org = w.organization;
    let agent = w
        .agents
        .create(
            org,
            AgentInput {
                name: Some("Bo".into()),
                ..AgentInput::default()
            },
            None,
        )
        .await?;
    let renamed = AgentInput {
        name: Some("Bea".into()),
        ..AgentInput::default()
    };
    w.agents.update(org, agent.id, renamed, None).await?;
    w.agents
        .set_status(org, agent.id, AgentStatus::Paused)
        .await?;
    // Pausing a paused agent changes nothing and tells nothing.
    w.agents
        .set_status(org, agent.id, AgentStatus::Paused)
        .await?;
    w.agents
        .set_status(org, agent.id, AgentStatus::Active)
        .await?;
    w.agents
        .put_flow(org, agent.id, serde_json::Value::Null)
        .await?;
    w.agents.delete(org, agent.id).await?;
    assert!(w.agents.delete(org, agent.id).await.is_err());
    let told = w.events.take();
    assert!(told.iter().all(|e| e.kind == EventKind::AgentUpdated));
    assert!(
        told.iter()
            .all(|e| e.organization_id == org && e.call_id.is_none())
    );
    let changes: Vec<&str> = told
        .iter()
        .map(|e| e.data["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            "created",
            "updated",
            "paused",
            "resumed",
            "flow_changed",
            "deleted"
        ]
    );
    assert_eq!(told[1].data["agent"]["name"], "Bea");
    assert_eq!(told[2].data["agent"]["status"], "paused");
    assert_eq!(told[5].data["agent"]["id"], json!(agent.id));
    Ok(())
}

async fn a_completed_analysis_is_told_with_its_summary(db: Database) -> anyhow::Result<()> {
    let w = world(&db).await;
    let opened = w
        .calls
        .start(w.organization, Some(w.user), w.start(CallChannel::Text))
        .await?;
    let id = opened.call.id;
    w.calls
        .respond(w.organization, id, "Thanks, that was great help!")
        .await?;
    w.calls.end(w.organization, id).await?;
    w.events.take();
    let outcomes = w.analysis.run_due(10).await?;
    assert_eq!(outcomes, [JobOutcome::Completed]);
    // Nothing is due any more: nothing is told twice.
    assert!(w.analysis.run_due(10).await?.is_empty());
    let told = w.events.take();
    assert_eq!(kinds(&told), ["call.analyzed"]);
    assert_eq!(told[0].organization_id, w.organization);
    assert_eq!(told[0].call_id, Some(id));
    assert_eq!(told[0].data["call_id"], json!(id));
    assert!(
        told[0].data["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(told[0].data["sentiment"].is_string());
    assert_eq!(told[0].data["analyzer"], "local");
    Ok(())
}
