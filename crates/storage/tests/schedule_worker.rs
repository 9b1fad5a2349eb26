//! The schedule worker's steps (`ScheduleService`) over the real repositories, on SQLite and a
//! fresh PostgreSQL database: placing due calls once, settling and retrying them, windows, the
//! organisation's cap, and taking over from a worker that stopped mid-placement without ever
//! dialling twice. Telephony is a recording stand-in: what reaches Twilio's wire is the
//! black-box suite's business.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, Timelike};
use support::{NoKnowledge, NoTools};
use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::agent::{Agent, AgentInput, AgentStatus};
use switchboard_domain::call::{
    Call, CallChannel, CallDirection, CallLimits, CallPorts, CallService, CallStart, CallStatus,
    CallTarget, UNCONFIRMED_END_REASON,
};
use switchboard_domain::conversation::ConversationEngine;
use switchboard_domain::events::NoEvents;
use switchboard_domain::ids::{AgentId, OrganizationId, UserId};
use switchboard_domain::ports::{
    AccountRepository, AgentRepository, ChatRequest, ChatStream, Dial, LanguageModel, LlmError,
    MediaStreamTarget, PlacedCall, ProviderCallState, ScheduleRepository, Telephony,
    TelephonyError,
};
use switchboard_domain::scenario::ScenarioService;
use switchboard_domain::schedule::{
    AttemptOutcome, CallDialer, Recipient, SchedulePorts, ScheduleRequest, ScheduleService,
    ScheduleSettings, ScheduleStatus, ScheduledCall, WindowRequest,
};
use switchboard_storage::on_both_backends;
use switchboard_storage::{
    Database, SeaOrmAccounts, SeaOrmAgents, SeaOrmCalls, SeaOrmScenarios, SeaOrmSchedule,
};
use switchboard_testkit::ManualClock;

on_both_backends!(
    a_due_call_is_placed_once_retried_when_busy_and_done_when_completed,
    refusals_fail_the_attempt_and_the_cap_postpones_without_one,
    a_closed_window_postpones_to_its_opening,
    a_stopped_worker_is_taken_over_without_dialling_twice,
    without_telephony_the_attempt_fails_with_the_reason,
);

/// Answers nothing: agents in these tests greet with their first message, which needs no model.
struct NoModel;

#[async_trait]
impl LanguageModel for NoModel {
    fn name(&self) -> &str {
        "none"
    }

    async fn stream(&self, _: ChatRequest) -> Result<ChatStream, LlmError> {
        Err(LlmError::Unavailable("not in these tests".into()))
    }
}

/// Records every dial; the next one can be refused.
#[derive(Default)]
struct RecordingTelephony {
    // A std mutex: held for a push or a take, never across an await.
    dials: Mutex<Vec<Dial>>,
    refuse_next: Mutex<Option<String>>,
}

impl RecordingTelephony {
    fn dials(&self) -> usize {
        self.dials.lock().unwrap().len()
    }
}

#[async_trait]
impl Telephony for RecordingTelephony {
    fn name(&self) -> &str {
        "recording"
    }

    async fn dial(&self, dial: &Dial) -> Result<PlacedCall, TelephonyError> {
        if let Some(reason) = self.refuse_next.lock().unwrap().take() {
            return Err(TelephonyError::Rejected(reason));
        }
        let mut dials = self.dials.lock().unwrap();
        dials.push(dial.clone());
        Ok(PlacedCall {
            provider_call_id: format!("CA{:032}", dials.len()),
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

    /// Every call it placed is still queued.
    async fn fetch(&self, _: &str) -> Result<ProviderCallState, TelephonyError> {
        Ok(ProviderCallState {
            status: CallStatus::Queued,
            talk_secs: None,
        })
    }
}

struct TestDialer(Option<Arc<RecordingTelephony>>);

impl CallDialer for TestDialer {
    fn telephony(&self) -> Result<Arc<dyn Telephony>, String> {
        self.0
            .clone()
            .map(|t| -> Arc<dyn Telephony> { t })
            .ok_or_else(|| "telephony not configured: set TWILIO_ACCOUNT_SID".into())
    }

    fn dial(&self, call: &Call) -> Dial {
        Dial {
            to: call.phone_number.clone().unwrap_or_default(),
            from: "+14155550199".into(),
            stream: MediaStreamTarget {
                url: "wss://switchboard.test/telephony/twilio/media".into(),
                parameters: vec![("call_id".into(), call.id.to_string())],
            },
            status_callback: "https://switchboard.test/telephony/twilio/status".into(),
            machine_detection_callback: None,
            ring_timeout_secs: 30,
        }
    }
}

/// The services over `db`, an organisation with a user and an agent that greets by itself.
struct World {
    clock: Arc<ManualClock>,
    calls: CallService,
    schedules: ScheduleService,
    repository: SeaOrmSchedule,
    telephony: Arc<RecordingTelephony>,
    dialer: TestDialer,
    user: UserId,
    organization: OrganizationId,
    agent: AgentId,
}

async fn world(db: &Database, limits: CallLimits) -> World {
    let clock = Arc::new(ManualClock::new());
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
    let agents = Arc::new(SeaOrmAgents::new(db.clone()));
    let agent = Agent {
        id: AgentId::new(),
        organization_id: org.id,
        config: AgentInput {
            name: Some("Ava".into()),
            first_message: Some("Hello, this is Ava.".into()),
            ..AgentInput::default()
        }
        .into_new_config()
        .unwrap(),
        status: AgentStatus::Active,
        created_at: clock.now(),
        updated_at: clock.now(),
    };
    agents.insert(&agent).await.unwrap();
    let scenarios = ScenarioService::new(Arc::new(SeaOrmScenarios::new(db.clone())), clock.clone());
    let engine = ConversationEngine::new(
        Some(Arc::new(NoModel)),
        Arc::new(NoKnowledge),
        Arc::new(NoTools),
        clock.clone(),
    );
    let calls = CallService::new(
        CallPorts {
            calls: Arc::new(SeaOrmCalls::new(db.clone())),
            agents: agents.clone(),
            accounts: accounts.clone(),
            clock: clock.clone(),
            events: Arc::new(NoEvents),
        },
        scenarios.clone(),
        engine,
    )
    .with_limits(limits);
    let repository = SeaOrmSchedule::new(db.clone());
    let schedules = ScheduleService::new(
        SchedulePorts {
            schedules: Arc::new(repository.clone()),
            agents,
            accounts,
            clock: clock.clone(),
        },
        scenarios,
        calls.clone(),
        ScheduleSettings::default(),
    );
    let telephony = Arc::new(RecordingTelephony::default());
    World {
        clock,
        calls,
        schedules,
        repository,
        dialer: TestDialer(Some(telephony.clone())),
        telephony,
        user: user.id,
        organization: org.id,
        agent: agent.id,
    }
}

impl World {
    /// A scheduled call (three attempts) claimed by a worker that stored its first attempt's
    /// call and stopped before Twilio confirmed the dial: the scheduled call and that call.
    async fn stopped_before_confirmation(&self) -> anyhow::Result<(ScheduledCall, Call)> {
        let scheduled = self
            .schedule(ScheduleRequest {
                max_attempts: Some(3),
                ..ScheduleRequest::default()
            })
            .await;
        let claimed = self.schedules.claim_due("stopped", 10).await?;
        let stored = self
            .calls
            .start(
                self.organization,
                Some(self.user),
                CallStart {
                    target: CallTarget::Agent(self.agent),
                    channel: CallChannel::Phone,
                    direction: CallDirection::Outbound,
                    customer_name: None,
                    phone_number: Some("+14155550123".into()),
                    session_key: None,
                    provider_call_id: None,
                    idempotency_key: Some(claimed[0].attempt_key(1)),
                },
            )
            .await?;
        Ok((scheduled, stored.call))
    }

    async fn schedule(&self, request: ScheduleRequest) -> ScheduledCall {
        self.schedules
            .schedule_one(
                self.organization,
                self.user,
                Recipient {
                    phone_number: "+14155550123".into(),
                    customer_name: Some("Ada".into()),
                },
                ScheduleRequest {
                    agent_id: Some(self.agent.to_string()),
                    ..request
                },
            )
            .await
            .unwrap()
    }

    async fn stored(&self, call: &ScheduledCall) -> ScheduledCall {
        self.repository
            .find(self.organization, call.id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn work(&self, worker: &str) -> switchboard_domain::schedule::WorkDone {
        self.schedules.work(worker, &self.dialer).await.unwrap()
    }
}

async fn a_due_call_is_placed_once_retried_when_busy_and_done_when_completed(
    db: Database,
) -> anyhow::Result<()> {
    let w = world(&db, CallLimits::default()).await;
    let scheduled = w
        .schedule(ScheduleRequest {
            scheduled_time: Some((w.clock.now() + Duration::minutes(10)).to_rfc3339()),
            max_attempts: Some(2),
            retry_delay_minutes: Some(5),
            ..ScheduleRequest::default()
        })
        .await;
    assert_eq!(w.work("w1").await.claimed, 0, "not due yet");
    assert_eq!(w.telephony.dials(), 0);

    w.clock.advance(Duration::minutes(10));
    assert_eq!(w.work("w1").await.claimed, 1);
    assert_eq!(w.telephony.dials(), 1);
    let dialing = w.stored(&scheduled).await;
    assert_eq!(dialing.status, ScheduleStatus::Dialing);
    assert_eq!(dialing.lease, None, "released once placed");
    let first_call = dialing.current_call_id().unwrap();
    let (call, _) = w.calls.get(w.organization, first_call).await?;
    assert_eq!(call.direction, CallDirection::Outbound);
    assert_eq!(call.channel, CallChannel::Phone);
    assert_eq!(call.agent_id, Some(w.agent));
    assert_eq!(call.customer_name.as_deref(), Some("Ada"));
    assert_eq!(
        call.idempotency_key.as_deref(),
        Some(dialing.attempt_key(1).as_str())
    );
    // Waiting for the call: nothing more happens however often the worker looks.
    let idle = w.work("w2").await;
    assert_eq!((idle.claimed, idle.settled), (0, 0));
    assert_eq!(w.telephony.dials(), 1);

    // Busy: retried five minutes later, as the second and last attempt.
    w.calls
        .provider_status(
            call.provider_call_id.as_deref().unwrap(),
            CallStatus::Busy,
            None,
        )
        .await?;
    assert_eq!(w.work("w1").await.settled, 1);
    let retry = w.stored(&scheduled).await;
    assert_eq!(retry.status, ScheduleStatus::Pending);
    assert_eq!(retry.attempts[0].outcome, Some(AttemptOutcome::Busy));
    assert_eq!(retry.due_at, w.clock.now() + Duration::minutes(5));
    assert_eq!(w.work("w1").await.claimed, 0);
    w.clock.advance(Duration::minutes(5));
    w.work("w2").await;
    assert_eq!(w.telephony.dials(), 2);
    let second = w.stored(&scheduled).await;
    let second_call = second.current_call_id().unwrap();
    assert_ne!(second_call, first_call);
    let (call, _) = w.calls.get(w.organization, second_call).await?;
    w.calls
        .provider_status(
            call.provider_call_id.as_deref().unwrap(),
            CallStatus::Completed,
            Some(42),
        )
        .await?;
    w.work("w1").await;
    let done = w.stored(&scheduled).await;
    assert_eq!(done.status, ScheduleStatus::Done);
    assert_eq!(done.attempts.len(), 2);
    assert_eq!(done.attempts[1].outcome, Some(AttemptOutcome::Completed));
    assert_eq!(done.attempts[1].call_id, Some(second_call));
    assert!(done.attempts[1].ended_at.is_some());
    Ok(())
}

async fn refusals_fail_the_attempt_and_the_cap_postpones_without_one(
    db: Database,
) -> anyhow::Result<()> {
    let w = world(
        &db,
        CallLimits {
            per_organization: 6,
            inbound_reserved: 5,
        },
    )
    .await;
    *w.telephony.refuse_next.lock().unwrap() = Some("21211: invalid To number".into());
    let refused = w.schedule(ScheduleRequest::default()).await;
    w.work("w1").await;
    let failed = w.stored(&refused).await;
    assert_eq!(failed.status, ScheduleStatus::Failed);
    assert_eq!(failed.attempts[0].outcome, Some(AttemptOutcome::Failed));
    assert!(
        failed.attempts[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("21211")),
        "{failed:?}"
    );
    // The refused call is stored as failed and kept with the attempt.
    let (call, _) = w
        .calls
        .get(w.organization, failed.attempts[0].call_id.unwrap())
        .await?;
    assert_eq!(call.status, CallStatus::Failed);

    // One outbound slot: the first call takes it, the next waits without using an attempt.
    // (The cap is checked before each placement, so calls placed at the same moment could pass
    // it together; one after the other here.)
    let first = w.schedule(ScheduleRequest::default()).await;
    w.work("w1").await;
    let second = w.schedule(ScheduleRequest::default()).await;
    w.work("w1").await;
    assert_eq!(w.telephony.dials(), 1);
    let (placed, waiting) = (w.stored(&first).await, w.stored(&second).await);
    assert_eq!(placed.status, ScheduleStatus::Dialing);
    assert_eq!(waiting.status, ScheduleStatus::Pending);
    assert!(waiting.attempts.is_empty());
    assert_eq!(waiting.due_at, w.clock.now() + Duration::seconds(30));
    Ok(())
}

async fn a_closed_window_postpones_to_its_opening(db: Database) -> anyhow::Result<()> {
    let w = world(&db, CallLimits::default()).await;
    let now = w.clock.now();
    let opening_hour = (now.hour() + 2) % 24;
    let window = WindowRequest {
        time_zone: Some("UTC".into()),
        days: None,
        start: Some(format!("{opening_hour:02}:00")),
        end: Some(format!("{opening_hour:02}:30")),
    };
    let scheduled = w
        .schedule(ScheduleRequest {
            window: Some(window),
            ..ScheduleRequest::default()
        })
        .await;
    let opens = scheduled.due_at;
    assert!(opens > now && opens - now <= Duration::hours(2));
    assert_eq!((opens.hour(), opens.minute()), (opening_hour, 0));
    assert_eq!(w.work("w1").await.claimed, 0);

    // Claimed at the opening, but the worker is late past the end: it waits for tomorrow.
    w.clock.advance(opens - now + Duration::minutes(45));
    assert_eq!(w.work("w1").await.claimed, 1);
    let waiting = w.stored(&scheduled).await;
    assert_eq!(waiting.status, ScheduleStatus::Pending);
    assert_eq!(waiting.due_at, opens + Duration::days(1));
    assert!(waiting.attempts.is_empty());
    assert_eq!(w.telephony.dials(), 0);
    Ok(())
}

async fn a_stopped_worker_is_taken_over_without_dialling_twice(db: Database) -> anyhow::Result<()> {
    let w = world(&db, CallLimits::default()).await;
    let lease = ScheduleSettings::default().lease;

    // 1. Stopped after claiming, before storing a call: the next worker dials, once.
    let untouched = w.schedule(ScheduleRequest::default()).await;
    let claimed = w.schedules.claim_due("stopped", 10).await?;
    assert_eq!(claimed.len(), 1);
    assert_eq!(w.work("other").await.claimed, 0, "the lease holds");
    w.clock.advance(lease + Duration::seconds(1));
    assert_eq!(w.work("other").await.claimed, 1);
    assert_eq!(w.telephony.dials(), 1);
    assert_eq!(w.stored(&untouched).await.status, ScheduleStatus::Dialing);

    // 2. Stopped after Twilio accepted the call, before recording it: adopted, not redialled.
    let placed = w.schedule(ScheduleRequest::default()).await;
    let claimed = w.schedules.claim_due("stopped", 10).await?;
    let key = claimed[0].attempt_key(1);
    let opened = w
        .calls
        .place(
            w.organization,
            Some(w.user),
            CallStart {
                target: CallTarget::Agent(w.agent),
                channel: CallChannel::Phone,
                direction: CallDirection::Outbound,
                customer_name: None,
                phone_number: Some("+14155550123".into()),
                session_key: None,
                provider_call_id: None,
                idempotency_key: Some(key),
            },
            w.telephony.as_ref(),
            |call| w.dialer.dial(call),
        )
        .await?;
    assert_eq!(w.telephony.dials(), 2);
    w.clock.advance(lease + Duration::seconds(1));
    w.work("other").await;
    assert_eq!(w.telephony.dials(), 2, "the stored call was adopted");
    let adopted = w.stored(&placed).await;
    assert_eq!(adopted.status, ScheduleStatus::Dialing);
    assert_eq!(adopted.current_call_id(), Some(opened.call.id));

    // 3. Stopped after storing the call, before Twilio confirmed it: it may have rung, so it is
    // never dialled again; the attempt is interrupted and the call ended.
    let (unknown, stored) = w.stopped_before_confirmation().await?;
    assert_eq!(stored.status, CallStatus::Queued);
    w.clock.advance(lease + Duration::seconds(1));
    w.work("other").await;
    assert_eq!(w.telephony.dials(), 2);
    let interrupted = w.stored(&unknown).await;
    assert_eq!(interrupted.status, ScheduleStatus::Failed, "never retried");
    assert_eq!(
        interrupted.attempts[0].outcome,
        Some(AttemptOutcome::Interrupted)
    );
    assert_eq!(interrupted.attempts[0].call_id, Some(stored.id));
    let (call, _) = w.calls.get(w.organization, stored.id).await?;
    assert_eq!(call.status, CallStatus::Failed);
    assert_eq!(call.end_reason.as_deref(), Some("interrupted"));

    // 4. The same, but the reconciler found the unconfirmed call first and ended it: the claim
    // after the lease still never dials it again.
    let (reconciled, stored) = w.stopped_before_confirmation().await?;
    w.clock.advance(Duration::seconds(2));
    let pass = w
        .calls
        .reconcile_stale(w.telephony.as_ref(), Duration::seconds(1), 10)
        .await?;
    assert_eq!(pass.changed, 1);
    let (call, _) = w.calls.get(w.organization, stored.id).await?;
    assert_eq!(call.status, CallStatus::Failed);
    assert_eq!(call.end_reason.as_deref(), Some(UNCONFIRMED_END_REASON));
    w.clock.advance(lease);
    w.work("other").await;
    assert_eq!(w.telephony.dials(), 2);
    let settled = w.stored(&reconciled).await;
    assert_eq!(settled.status, ScheduleStatus::Failed, "never retried");
    assert_eq!(
        settled.attempts[0].outcome,
        Some(AttemptOutcome::Interrupted)
    );
    Ok(())
}

async fn without_telephony_the_attempt_fails_with_the_reason(db: Database) -> anyhow::Result<()> {
    let mut w = world(&db, CallLimits::default()).await;
    w.dialer = TestDialer(None);
    let scheduled = w.schedule(ScheduleRequest::default()).await;
    w.work("w1").await;
    let failed = w.stored(&scheduled).await;
    assert_eq!(failed.status, ScheduleStatus::Failed);
    assert_eq!(failed.attempts[0].call_id, None);
    assert!(
        failed.attempts[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("telephony not configured"))
    );
    Ok(())
}
