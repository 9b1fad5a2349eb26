//! Contract tests of the schedule repository: every test runs on a SQLite file and on a fresh
//! PostgreSQL database, the racing claimers included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::call::{Call, CallChannel, CallDirection, CallStatus, CallTarget};
use switchboard_domain::ids::{
    AgentId, CallId, CampaignId, OrganizationId, ScheduledCallId, UserId,
};
use switchboard_domain::page::PageRequest;
use switchboard_domain::phone_number::E164;
use switchboard_domain::ports::{
    AccountRepository, CallRepository, SaveCallOutcome, SaveScheduleOutcome, ScheduleRepository,
};
use switchboard_domain::schedule::{
    AttemptOutcome, CallingWindow, RetryPolicy, ScheduleFilter, ScheduleStatus, ScheduledCall,
};
use switchboard_storage::on_both_backends;
use switchboard_storage::{Database, SeaOrmAccounts, SeaOrmCalls, SeaOrmSchedule};

on_both_backends!(
    scheduled_calls_round_trip_and_list_by_status_and_campaign,
    saves_are_compare_and_set,
    claims_take_due_calls_once_until_their_lease_runs_out,
    finished_finds_dialing_calls_whose_call_ended,
    racing_claimers_claim_each_call_exactly_once,
);

fn now() -> DateTime<Utc> {
    // PostgreSQL keeps microseconds; compare what survives a round trip.
    Utc::now().trunc_subsecs(6)
}

async fn tenant(db: &Database) -> (UserId, OrganizationId) {
    let (user, org) = SeaOrmAccounts::new(db.clone())
        .create_account(NewAccount {
            user_id: UserId::new(),
            organization_id: OrganizationId::new(),
            email: EmailAddress::parse(&format!("{}@example.com", uuid::Uuid::new_v4())).unwrap(),
            full_name: None,
            organization_name: DisplayName::parse("Acme").unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
            created_at: now(),
        })
        .await
        .unwrap();
    (user.id, org.id)
}

fn scheduled(user: UserId, organization: OrganizationId, due_at: DateTime<Utc>) -> ScheduledCall {
    let at = now();
    ScheduledCall {
        id: ScheduledCallId::new(),
        organization_id: organization,
        user_id: user,
        campaign_id: None,
        target: CallTarget::Scenario("sales".into()),
        phone_number: E164::parse(&format!(
            "+1415{:07}",
            uuid::Uuid::new_v4().as_u128() % 10_000_000
        ))
        .unwrap(),
        customer_name: None,
        scheduled_for: due_at,
        due_at,
        window: None,
        retry: RetryPolicy::default(),
        status: ScheduleStatus::Pending,
        attempts: Vec::new(),
        lease: None,
        version: 0,
        created_at: at,
        updated_at: at,
    }
}

fn phone_call(organization: OrganizationId, status: CallStatus) -> Call {
    let at = now();
    Call {
        id: CallId::new(),
        organization_id: organization,
        agent_id: None,
        agent_name: None,
        scenario: Some("sales".into()),
        channel: CallChannel::Phone,
        direction: CallDirection::Outbound,
        status,
        customer_name: None,
        phone_number: Some("+14155550123".into()),
        session_key: None,
        started_at: at,
        ended_at: None,
        end_reason: None,
        context: serde_json::json!({}),
        conversation: Default::default(),
        version: 0,
        recording_url: None,
        provider_call_id: Some(format!("CA{}", uuid::Uuid::new_v4().simple())),
        talk_secs: None,
        idempotency_key: None,
        metadata: serde_json::Value::Null,
        analysis: Default::default(),
        created_at: at,
        updated_at: at,
    }
}

async fn scheduled_calls_round_trip_and_list_by_status_and_campaign(
    db: Database,
) -> anyhow::Result<()> {
    let schedule = SeaOrmSchedule::new(db.clone());
    let (user, org) = tenant(&db).await;
    let (_, other_org) = tenant(&db).await;
    let t = now();
    let days: Vec<String> = vec!["mon".into(), "fri".into()];
    let mut full = scheduled(user, org, t + Duration::hours(2));
    full.target = CallTarget::Agent(AgentId::new());
    full.customer_name = Some("Ada".into());
    full.window = Some(CallingWindow::parse("Europe/Berlin", &days, "09:00", "17:00").unwrap());
    full.retry = RetryPolicy {
        max_attempts: 3,
        delay: Duration::minutes(15),
    };
    let campaign = CampaignId::new();
    let first = scheduled(user, org, t + Duration::hours(1));
    let mut batch = vec![full.clone(), first.clone()];
    for hours in 3..6 {
        let mut call = scheduled(user, org, t + Duration::hours(hours));
        call.campaign_id = Some(campaign);
        call.target = CallTarget::Default;
        batch.push(call);
    }
    schedule.insert(&batch).await?;

    assert_eq!(schedule.find(org, full.id).await?, Some(full.clone()));
    assert_eq!(schedule.find(other_org, full.id).await?, None);
    assert_eq!(schedule.find(org, ScheduledCallId::new()).await?, None);

    let all = schedule
        .list(org, &ScheduleFilter::default(), PageRequest::default())
        .await?;
    assert_eq!(all.total, 5);
    // Soonest due first.
    assert_eq!(all.items[0].id, first.id);
    assert_eq!(all.items[1].id, full.id);
    assert_eq!(all.items[2].target, CallTarget::Default);
    let page = schedule
        .list(
            org,
            &ScheduleFilter::default(),
            PageRequest {
                page: 2,
                page_size: 2,
            },
        )
        .await?;
    assert_eq!(page.total, 5);
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].campaign_id, Some(campaign));
    let of_campaign = schedule
        .list(
            org,
            &ScheduleFilter {
                campaign_id: Some(campaign),
                ..ScheduleFilter::default()
            },
            PageRequest::default(),
        )
        .await?;
    assert_eq!(of_campaign.total, 3);

    let mut canceled = first.clone();
    canceled.status = ScheduleStatus::Canceled;
    canceled.version = 1;
    assert_eq!(
        schedule.save(&canceled, 0).await?,
        SaveScheduleOutcome::Saved
    );
    let by_status = |status| ScheduleFilter {
        status: Some(status),
        ..ScheduleFilter::default()
    };
    let canceled_list = schedule
        .list(
            org,
            &by_status(ScheduleStatus::Canceled),
            PageRequest::default(),
        )
        .await?;
    assert_eq!(canceled_list.total, 1);
    assert_eq!(canceled_list.items[0], canceled);
    assert_eq!(
        schedule
            .list(
                org,
                &by_status(ScheduleStatus::Pending),
                PageRequest::default()
            )
            .await?
            .total,
        4
    );
    assert_eq!(
        schedule
            .list(
                other_org,
                &ScheduleFilter::default(),
                PageRequest::default()
            )
            .await?
            .total,
        0
    );
    Ok(())
}

async fn saves_are_compare_and_set(db: Database) -> anyhow::Result<()> {
    let schedule = SeaOrmSchedule::new(db.clone());
    let (user, org) = tenant(&db).await;
    let original = scheduled(user, org, now());
    schedule.insert(std::slice::from_ref(&original)).await?;

    let mut dialled = original.clone();
    let at = now();
    dialled.version = 1;
    dialled.dialled(1, CallId::new(), at);
    assert_eq!(
        schedule.save(&dialled, 0).await?,
        SaveScheduleOutcome::Saved
    );
    assert_eq!(
        schedule.find(org, original.id).await?,
        Some(dialled.clone())
    );

    // A writer still holding version 0 changes nothing.
    let mut stale = original.clone();
    stale.version = 1;
    stale.status = ScheduleStatus::Canceled;
    assert_eq!(
        schedule.save(&stale, 0).await?,
        SaveScheduleOutcome::Conflict
    );
    let stored = schedule.find(org, original.id).await?.unwrap();
    assert_eq!(stored.status, ScheduleStatus::Dialing);

    // The attempts, outcomes and details survive a round trip.
    let mut ended = stored;
    ended.version = 2;
    ended.conclude(
        1,
        None,
        AttemptOutcome::NoAnswer,
        Some("nobody picked up".into()),
        now(),
    );
    assert_eq!(schedule.save(&ended, 1).await?, SaveScheduleOutcome::Saved);
    let stored = schedule.find(org, original.id).await?.unwrap();
    assert_eq!(stored, ended);
    assert_eq!(stored.status, ScheduleStatus::Failed);
    assert_eq!(stored.attempts[0].outcome, Some(AttemptOutcome::NoAnswer));
    Ok(())
}

async fn claims_take_due_calls_once_until_their_lease_runs_out(db: Database) -> anyhow::Result<()> {
    let schedule = SeaOrmSchedule::new(db.clone());
    let (user, org) = tenant(&db).await;
    let t = now();
    let early = scheduled(user, org, t - Duration::minutes(5));
    let due = scheduled(user, org, t);
    let later = scheduled(user, org, t + Duration::minutes(1));
    let mut canceled = scheduled(user, org, t - Duration::minutes(10));
    canceled.status = ScheduleStatus::Canceled;
    schedule
        .insert(&[later.clone(), due.clone(), early.clone(), canceled])
        .await?;

    let lease = t + Duration::minutes(5);
    let claimed = schedule.claim_due(t, "worker-a", lease, 10).await?;
    let ids: Vec<ScheduledCallId> = claimed.iter().map(|c| c.id).collect();
    assert_eq!(ids, [early.id, due.id], "due ones, soonest first");
    for call in &claimed {
        assert_eq!(call.status, ScheduleStatus::Dialing);
        assert_eq!(call.version, 1);
        let held = call.lease.clone().unwrap();
        assert_eq!((held.worker.as_str(), held.until), ("worker-a", lease));
    }
    // While the lease lasts nobody else gets them; the later one once it is due.
    assert!(
        schedule
            .claim_due(t, "worker-b", lease, 10)
            .await?
            .is_empty()
    );
    let next = schedule
        .claim_due(t + Duration::minutes(1), "worker-b", lease, 10)
        .await?;
    assert_eq!(next.iter().map(|c| c.id).collect::<Vec<_>>(), [later.id]);

    // A limit is a limit.
    let (user2, org2) = tenant(&db).await;
    let many: Vec<ScheduledCall> = (0..5).map(|_| scheduled(user2, org2, t)).collect();
    schedule.insert(&many).await?;
    assert_eq!(schedule.claim_due(t, "worker-c", lease, 2).await?.len(), 2);
    assert_eq!(schedule.claim_due(t, "worker-c", lease, 0).await?.len(), 0);

    // worker-a placed `due` and released its lease: it now waits for its call, unclaimable.
    let mut placed = claimed[1].clone();
    placed.dialled(1, CallId::new(), t);
    placed.version = 2;
    assert_eq!(schedule.save(&placed, 1).await?, SaveScheduleOutcome::Saved);
    // worker-a stopped while placing `early`: after its lease, another worker takes it over.
    let after_lease = lease + Duration::seconds(1);
    let taken_over = schedule
        .claim_due(
            after_lease,
            "worker-b",
            after_lease + Duration::minutes(5),
            10,
        )
        .await?;
    let taken: BTreeSet<ScheduledCallId> = taken_over.iter().map(|c| c.id).collect();
    assert!(taken.contains(&early.id));
    assert!(!taken.contains(&due.id));
    let early_now = taken_over.iter().find(|c| c.id == early.id).unwrap();
    assert_eq!(early_now.lease.as_ref().unwrap().worker, "worker-b");
    assert_eq!(early_now.version, 2);
    // The stopped worker's late write loses.
    let mut late = claimed[0].clone();
    late.version = 2;
    late.postpone(t + Duration::hours(1), t);
    assert_eq!(
        schedule.save(&late, 1).await?,
        SaveScheduleOutcome::Conflict
    );
    Ok(())
}

async fn finished_finds_dialing_calls_whose_call_ended(db: Database) -> anyhow::Result<()> {
    let schedule = SeaOrmSchedule::new(db.clone());
    let calls = SeaOrmCalls::new(db.clone());
    let (user, org) = tenant(&db).await;
    let t = now();
    let ringing = phone_call(org, CallStatus::Ringing);
    let busy = phone_call(org, CallStatus::Busy);
    let completed = phone_call(org, CallStatus::Completed);
    for call in [&ringing, &busy, &completed] {
        calls.insert(call, &[]).await?;
    }
    let mut waiting = Vec::new();
    for call in [&ringing, &busy, &completed] {
        let mut item = scheduled(user, org, t);
        item.dialled(1, call.id, t);
        waiting.push(item);
    }
    // Still under a lease: not settled until its worker lets go.
    let mut leased = scheduled(user, org, t);
    leased.dialled(1, completed.id, t);
    leased.lease = Some(switchboard_domain::schedule::Lease {
        worker: "w".into(),
        until: t + Duration::minutes(5),
    });
    // Already settled.
    let mut settled = scheduled(user, org, t);
    settled.dialled(1, busy.id, t);
    settled.conclude(1, None, AttemptOutcome::Busy, None, t);
    let mut all = waiting.clone();
    all.push(leased);
    all.push(settled);
    schedule.insert(&all).await?;

    let found = schedule.finished(10).await?;
    let mut seen: Vec<(ScheduledCallId, CallStatus)> =
        found.iter().map(|(c, s)| (c.id, *s)).collect();
    seen.sort_by_key(|(id, _)| *id);
    let mut expected = vec![
        (waiting[1].id, CallStatus::Busy),
        (waiting[2].id, CallStatus::Completed),
    ];
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(seen, expected);
    assert_eq!(schedule.finished(1).await?.len(), 1);

    // The ringing call ends: now it is found too.
    let mut ended = ringing.clone();
    ended.version = 1;
    ended.finish(CallStatus::NoAnswer, "no_answer", now());
    assert_eq!(calls.save(&ended, 0, &[]).await?, SaveCallOutcome::Saved);
    assert_eq!(schedule.finished(10).await?.len(), 3);
    Ok(())
}

async fn racing_claimers_claim_each_call_exactly_once(db: Database) -> anyhow::Result<()> {
    let schedule = Arc::new(SeaOrmSchedule::new(db.clone()));
    let (user, org) = tenant(&db).await;
    let t = now();
    let rows: Vec<ScheduledCall> = (0..200)
        .map(|i| scheduled(user, org, t - Duration::seconds(i)))
        .collect();
    schedule.insert(&rows).await?;
    let lease = t + Duration::minutes(5);
    let claimer = |worker: &'static str| {
        let schedule = schedule.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = schedule.claim_due(t, worker, lease, 7).await?;
                if batch.is_empty() {
                    return anyhow::Ok(mine);
                }
                for call in batch {
                    assert_eq!(call.lease.as_ref().map(|l| l.worker.as_str()), Some(worker));
                    mine.push(call.id);
                }
            }
        })
    };
    let (a, b) = tokio::join!(claimer("worker-a"), claimer("worker-b"));
    let (a, b) = (a??, b??);
    let a_set: BTreeSet<ScheduledCallId> = a.iter().copied().collect();
    let b_set: BTreeSet<ScheduledCallId> = b.iter().copied().collect();
    assert_eq!(a_set.len(), a.len(), "worker-a claimed a call twice");
    assert_eq!(b_set.len(), b.len(), "worker-b claimed a call twice");
    assert!(a_set.is_disjoint(&b_set), "a call was claimed by both");
    assert_eq!(a.len() + b.len(), 200);
    eprintln!("worker-a claimed {}, worker-b {}", a.len(), b.len());
    Ok(())
}
