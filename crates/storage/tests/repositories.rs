//! Contract tests of the repository adapters. Every test runs twice: on a SQLite file and on a
//! fresh PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Duration, SubsecRound, Utc};
use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash, TimeZone};
use switchboard_domain::agent::{Agent, AgentInput, AgentStatus};
use switchboard_domain::auth::{NewRefreshToken, NewSession, RefreshSecret};
use switchboard_domain::call::{
    AnalyzerKind, Call, CallAnalysis, CallAnalysisState, CallChannel, CallDirection, CallFilter,
    CallSort, CallStatus, Category, NewCallTurn, Resolution, Sentiment, Speaker, TurnLatency,
};
use switchboard_domain::ids::CallId;
use switchboard_domain::ids::{AgentId, PhoneNumberId, ScenarioKey};
use switchboard_domain::ids::{OrganizationId, RefreshTokenId, SessionId, UserId};
use switchboard_domain::knowledge::{Document, DocumentId, DocumentKind, DocumentRepository};
use switchboard_domain::onboarding::{
    Channels, CompanyProfile, Onboarding, OnboardingStep, Personality, StepAnswer,
};
use switchboard_domain::page::PageRequest;
use switchboard_domain::phone_number::{E164, PhoneNumber, PhoneNumberStatus};
use switchboard_domain::ports::{
    AccountRepository, CreateAccountError, OnboardingRepository, RotateOutcome, SessionRepository,
};
use switchboard_domain::ports::{
    AgentRepository, InsertScenarioError, PhoneNumberRepository, SavePhoneNumberError,
    ScenarioRepository,
};
use switchboard_domain::ports::{
    AnalysisClaim, CallAnalysisRepository, CallRepository, SaveCallOutcome,
};
use switchboard_domain::scenario::{Scenario, ScenarioSettings};
use switchboard_storage::on_both_backends;
use switchboard_storage::testing::TestDatabase;
use switchboard_storage::{
    Database, SeaOrmAccounts, SeaOrmAgents, SeaOrmCallAnalyses, SeaOrmCalls, SeaOrmDocuments,
    SeaOrmOnboarding, SeaOrmPhoneNumbers, SeaOrmScenarios, SeaOrmSessions,
};

on_both_backends!(
    accounts_round_trip,
    duplicate_email_is_refused_whatever_its_case,
    unknown_records_are_none,
    sessions_rotate_once,
    concurrent_rotations_have_one_winner,
    revocation_keeps_the_first_reason,
    migrations_are_idempotent,
    agents_are_scoped_paged_and_soft_deleted,
    scenarios_stop_at_the_limit_per_owner,
    concurrent_scenario_inserts_never_pass_the_limit,
    phone_numbers_are_unique_across_organisations,
    documents_are_scoped_and_paged,
    calls_keep_turns_in_order_and_refuse_stale_saves,
    call_lists_filter_search_sort_and_page,
    ended_calls_queue_one_analysis_job_that_is_claimed_retried_and_completed,
    analysis_jobs_fail_after_their_last_attempt,
    concurrent_claimers_never_share_a_job,
    call_lists_filter_by_analysis,
    organisation_profiles_are_updated_in_place,
    onboarding_steps_are_recorded_per_organisation,
    onboarding_agent_is_replaced_only_when_expected,
    concurrent_first_agents_have_one_winner,
    live_calls_stop_at_the_cap_even_when_started_together,
    stale_live_phone_calls_are_found_oldest_first_across_organisations,
);

fn now() -> chrono::DateTime<Utc> {
    // PostgreSQL keeps microseconds; compare what survives a round trip.
    Utc::now().trunc_subsecs(6)
}

fn new_account(email: &str) -> NewAccount {
    NewAccount {
        user_id: UserId::new(),
        organization_id: OrganizationId::new(),
        email: EmailAddress::parse(email).unwrap(),
        full_name: Some(DisplayName::parse("Ada Lovelace").unwrap()),
        organization_name: DisplayName::parse("Analytical Engines").unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
        created_at: now(),
    }
}

fn refresh_token(session: SessionId) -> (RefreshSecret, NewRefreshToken) {
    let secret = RefreshSecret::generate();
    let issued_at = now();
    let token = NewRefreshToken {
        id: RefreshTokenId::new(),
        session_id: session,
        digest: secret.digest(),
        issued_at,
        expires_at: issued_at + Duration::days(30),
    };
    (secret, token)
}

async fn session_for(db: &Database, sessions: &SeaOrmSessions) -> (SessionId, RefreshSecret) {
    let (user, _) = SeaOrmAccounts::new(db.clone())
        .create_account(new_account(&format!(
            "{}@example.com",
            uuid::Uuid::new_v4()
        )))
        .await
        .unwrap();
    let id = SessionId::new();
    let (secret, token) = refresh_token(id);
    sessions
        .create(
            NewSession {
                id,
                user_id: user.id,
                organization_id: user.organization_id,
                created_at: now(),
                user_agent: Some("tests/1.0".into()),
                ip_address: Some("127.0.0.1".into()),
            },
            token,
        )
        .await
        .unwrap();
    (id, secret)
}

async fn accounts_round_trip(db: Database) -> anyhow::Result<()> {
    let accounts = SeaOrmAccounts::new(db);
    let account = new_account("Ada@Example.com");
    let created_at = account.created_at;
    let (user, organization) = accounts.create_account(account.clone()).await?;
    assert_eq!(user.id, account.user_id);
    assert_eq!(user.email.as_str(), "ada@example.com");
    assert_eq!(user.full_name.as_deref(), Some("Ada Lovelace"));
    assert!(user.is_active);
    assert!(!user.is_admin);
    assert_eq!(user.created_at, created_at);
    assert_eq!(organization.id, account.organization_id);
    assert_eq!(organization.name, "Analytical Engines");
    assert_eq!(organization.time_zone, "UTC");

    let found = accounts
        .find_credentials(&EmailAddress::parse("ADA@example.com").unwrap())
        .await?
        .expect("found by e-mail in another case");
    assert_eq!(found.user, user);
    assert_eq!(found.password_hash.as_str(), "$argon2id$v=19$stub");
    assert_eq!(accounts.find_user(user.id).await?, Some(user));
    assert_eq!(
        accounts.find_organization(organization.id).await?,
        Some(organization)
    );
    Ok(())
}

async fn duplicate_email_is_refused_whatever_its_case(db: Database) -> anyhow::Result<()> {
    let accounts = SeaOrmAccounts::new(db);
    accounts
        .create_account(new_account("grace@example.com"))
        .await?;
    let second = new_account("GRACE@example.com");
    let organization = second.organization_id;
    let result = accounts.create_account(second).await;
    assert!(
        matches!(result, Err(CreateAccountError::EmailTaken)),
        "{result:?}"
    );
    // The refused account's organisation was rolled back with it.
    assert_eq!(accounts.find_organization(organization).await?, None);
    Ok(())
}

async fn unknown_records_are_none(db: Database) -> anyhow::Result<()> {
    let accounts = SeaOrmAccounts::new(db.clone());
    let sessions = SeaOrmSessions::new(db);
    assert!(
        accounts
            .find_credentials(&EmailAddress::parse("nobody@example.com").unwrap())
            .await?
            .is_none()
    );
    assert!(accounts.find_user(UserId::new()).await?.is_none());
    assert!(
        accounts
            .find_organization(OrganizationId::new())
            .await?
            .is_none()
    );
    assert!(sessions.find(SessionId::new()).await?.is_none());
    assert!(
        sessions
            .find_refresh_token(&RefreshSecret::generate().digest())
            .await?
            .is_none()
    );
    Ok(())
}

async fn sessions_rotate_once(db: Database) -> anyhow::Result<()> {
    let sessions = SeaOrmSessions::new(db.clone());
    let (session_id, secret) = session_for(&db, &sessions).await;
    let session = sessions.find(session_id).await?.expect("session stored");
    assert!(session.is_active());
    assert_eq!(session.user_agent.as_deref(), Some("tests/1.0"));

    let (record, found_session) = sessions
        .find_refresh_token(&secret.digest())
        .await?
        .expect("token found by digest");
    assert_eq!(found_session, session);
    assert_eq!(record.used_at, None);

    let (next_secret, next) = refresh_token(session_id);
    let at = now();
    assert_eq!(
        sessions.rotate(record.id, at, next).await?,
        RotateOutcome::Rotated
    );
    let (used, _) = sessions
        .find_refresh_token(&secret.digest())
        .await?
        .unwrap();
    assert_eq!(used.used_at, Some(at));
    assert!(
        sessions
            .find_refresh_token(&next_secret.digest())
            .await?
            .is_some()
    );

    let (_, again) = refresh_token(session_id);
    let again_digest = again.digest.clone();
    assert_eq!(
        sessions.rotate(record.id, now(), again).await?,
        RotateOutcome::AlreadyUsed
    );
    // A refused rotation stores nothing.
    assert!(sessions.find_refresh_token(&again_digest).await?.is_none());
    Ok(())
}

async fn concurrent_rotations_have_one_winner(db: Database) -> anyhow::Result<()> {
    let sessions = Arc::new(SeaOrmSessions::new(db.clone()));
    let (session_id, secret) = session_for(&db, &sessions).await;
    let (record, _) = sessions
        .find_refresh_token(&secret.digest())
        .await?
        .unwrap();
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let sessions = Arc::clone(&sessions);
            let (_, next) = refresh_token(session_id);
            tokio::spawn(async move { sessions.rotate(record.id, now(), next).await })
        })
        .collect();
    let mut rotated = 0;
    for attempt in attempts {
        if attempt.await?? == RotateOutcome::Rotated {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1);
    Ok(())
}

async fn revocation_keeps_the_first_reason(db: Database) -> anyhow::Result<()> {
    let sessions = SeaOrmSessions::new(db.clone());
    let (session_id, _) = session_for(&db, &sessions).await;
    let first = now();
    sessions.revoke(session_id, first, "logout").await?;
    sessions
        .revoke(
            session_id,
            first + Duration::seconds(5),
            "refresh token reuse",
        )
        .await?;
    let session = sessions.find(session_id).await?.unwrap();
    assert!(!session.is_active());
    assert_eq!(session.revoked_at, Some(first));
    assert_eq!(session.revoked_reason.as_deref(), Some("logout"));
    Ok(())
}

async fn migrations_are_idempotent(db: Database) -> anyhow::Result<()> {
    db.migrate().await?;
    db.migrate().await?;
    db.ping().await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_url_is_refused_with_its_password_hidden() {
    let err = Database::connect("mysql://app:hunter2@db/x")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("sqlite: or postgres:"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn postgres_test_databases_are_dropped() -> anyhow::Result<()> {
    let Some(db) = TestDatabase::postgres().await? else {
        return Ok(());
    };
    let url = db.url().to_owned();
    drop(db);
    assert!(
        Database::connect(&url).await.is_err(),
        "database still exists"
    );
    Ok(())
}

/// A fresh organisation with one user.
async fn tenant(db: &Database) -> (UserId, OrganizationId) {
    let (user, org) = SeaOrmAccounts::new(db.clone())
        .create_account(new_account(&format!(
            "{}@example.com",
            uuid::Uuid::new_v4()
        )))
        .await
        .unwrap();
    (user.id, org.id)
}

fn agent(organization: OrganizationId, name: &str, minutes_ago: i64) -> Agent {
    let at = now() - Duration::minutes(minutes_ago);
    Agent {
        id: AgentId::new(),
        organization_id: organization,
        config: AgentInput {
            name: Some(name.into()),
            first_message: Some("Hi {customer_name}".into()),
            ..AgentInput::default()
        }
        .into_new_config()
        .unwrap(),
        status: AgentStatus::Active,
        created_at: at,
        updated_at: at,
    }
}

fn number(organization: OrganizationId, digits: &str, agent: Option<AgentId>) -> PhoneNumber {
    PhoneNumber {
        id: PhoneNumberId::new(),
        organization_id: organization,
        number: E164::parse(digits).unwrap(),
        assigned_agent_id: agent,
        status: if agent.is_some() {
            PhoneNumberStatus::Active
        } else {
            PhoneNumberStatus::Unassigned
        },
        label: None,
        calls_received: 0,
        created_at: now(),
        updated_at: now(),
    }
}

fn unique_number() -> String {
    format!("+1415{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000)
}

async fn agents_are_scoped_paged_and_soft_deleted(db: Database) -> anyhow::Result<()> {
    let agents = SeaOrmAgents::new(db.clone());
    let numbers = SeaOrmPhoneNumbers::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let (_, theirs) = tenant(&db).await;
    let oldest = agent(mine, "Oldest", 30);
    let middle = agent(mine, "Middle", 20);
    let mut newest = agent(mine, "Newest", 10);
    for a in [&oldest, &middle, &newest] {
        agents.insert(a).await?;
    }
    agents.insert(&agent(theirs, "Foreign", 5)).await?;

    assert_eq!(agents.find(mine, oldest.id).await?, Some(oldest.clone()));
    assert_eq!(
        agents.find(theirs, oldest.id).await?,
        None,
        "another organisation cannot see it"
    );

    let page = agents
        .list(mine, None, PageRequest::parse(Some(1), Some(2)).unwrap())
        .await?;
    assert_eq!(page.total, 3);
    let names: Vec<&str> = page.items.iter().map(|a| a.config.name.as_str()).collect();
    assert_eq!(names, ["Newest", "Middle"]);
    let second = agents
        .list(mine, None, PageRequest::parse(Some(2), Some(2)).unwrap())
        .await?;
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.total, 3);

    newest.status = AgentStatus::Paused;
    newest.config.name = "Renamed".into();
    assert!(agents.update(&newest).await?);
    let paused = agents
        .list(mine, Some(AgentStatus::Paused), PageRequest::default())
        .await?;
    assert_eq!(paused.total, 1);
    assert_eq!(paused.items[0].config.name, "Renamed");
    let mut foreign_update = newest.clone();
    foreign_update.organization_id = theirs;
    assert!(
        !agents.update(&foreign_update).await?,
        "cannot update across organisations"
    );

    let assigned = number(mine, &unique_number(), Some(middle.id));
    numbers.insert(&assigned).await?;
    assert!(!agents.delete(theirs, middle.id, now()).await?);
    assert!(agents.delete(mine, middle.id, now()).await?);
    assert!(
        !agents.delete(mine, middle.id, now()).await?,
        "deleting twice finds nothing"
    );
    assert_eq!(agents.find(mine, middle.id).await?, None);
    assert!(!agents.update(&middle).await?);
    assert_eq!(
        agents.list(mine, None, PageRequest::default()).await?.total,
        2
    );
    let unassigned = numbers.find(mine, assigned.id).await?.unwrap();
    assert_eq!(unassigned.assigned_agent_id, None);
    assert_eq!(unassigned.status, PhoneNumberStatus::Unassigned);
    Ok(())
}

fn scenario(owner: UserId, organization: OrganizationId, n: usize) -> Scenario {
    Scenario {
        key: ScenarioKey::new(),
        scenario_id: format!(
            "custom_{}_{n}_{}",
            now().timestamp(),
            uuid::Uuid::new_v4().simple()
        ),
        organization_id: organization,
        owner,
        settings: ScenarioSettings {
            persona: format!("Persona {n}"),
            prompt: "Prompt".into(),
            voice_type: "neutral".into(),
            temperature: 0.7,
        },
        created_at: now() + Duration::seconds(n as i64),
        updated_at: now(),
    }
}

async fn scenarios_stop_at_the_limit_per_owner(db: Database) -> anyhow::Result<()> {
    let scenarios = SeaOrmScenarios::new(db.clone());
    let (alice, org) = tenant(&db).await;
    let (bob, bob_org) = tenant(&db).await;
    let mut created = Vec::new();
    for n in 0..3 {
        let s = scenario(alice, org, n);
        scenarios.insert_within_limit(&s, 3).await?;
        created.push(s);
    }
    let refused = scenarios
        .insert_within_limit(&scenario(alice, org, 3), 3)
        .await;
    assert!(
        matches!(refused, Err(InsertScenarioError::LimitReached { limit: 3 })),
        "{refused:?}"
    );
    scenarios
        .insert_within_limit(&scenario(bob, bob_org, 0), 3)
        .await?;

    let listed = scenarios.list(alice).await?;
    assert_eq!(listed, created, "oldest first, all fields round-trip");
    assert_eq!(scenarios.find(bob, &created[0].scenario_id).await?, None);
    let mut changed = created[1].clone();
    changed.settings.prompt = "New prompt".into();
    assert!(scenarios.update(&changed).await?);
    assert_eq!(
        scenarios.find(alice, &changed.scenario_id).await?,
        Some(changed.clone())
    );
    assert!(!scenarios.delete(bob, &changed.scenario_id).await?);
    assert!(scenarios.delete(alice, &changed.scenario_id).await?);
    scenarios
        .insert_within_limit(&scenario(alice, org, 9), 3)
        .await?;
    Ok(())
}

async fn concurrent_scenario_inserts_never_pass_the_limit(db: Database) -> anyhow::Result<()> {
    let scenarios = Arc::new(SeaOrmScenarios::new(db.clone()));
    let (owner, org) = tenant(&db).await;
    let attempts: Vec<_> = (0..10)
        .map(|n| {
            let scenarios = Arc::clone(&scenarios);
            tokio::spawn(async move {
                scenarios
                    .insert_within_limit(&scenario(owner, org, n), 5)
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for attempt in attempts {
        match attempt.await? {
            Ok(()) => stored += 1,
            Err(InsertScenarioError::LimitReached { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(stored, 5);
    assert_eq!(scenarios.list(owner).await?.len(), 5);
    Ok(())
}

async fn phone_numbers_are_unique_across_organisations(db: Database) -> anyhow::Result<()> {
    let numbers = SeaOrmPhoneNumbers::new(db.clone());
    let agents = SeaOrmAgents::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let (_, theirs) = tenant(&db).await;
    let answering = agent(mine, "Reception", 1);
    agents.insert(&answering).await?;
    let digits = unique_number();
    let first = number(mine, &digits, Some(answering.id));
    numbers.insert(&first).await?;
    let taken = numbers.insert(&number(theirs, &digits, None)).await;
    assert!(
        matches!(taken, Err(SavePhoneNumberError::NumberTaken)),
        "{taken:?}"
    );

    let routed = numbers
        .find_by_number(&E164::parse(&digits).unwrap())
        .await?
        .unwrap();
    assert_eq!(routed, first);
    assert_eq!(numbers.find(theirs, first.id).await?, None);

    let second = number(mine, &unique_number(), None);
    numbers.insert(&second).await?;
    let page = numbers.list(mine, PageRequest::default()).await?;
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].id, first.id);
    assert_eq!(numbers.list(theirs, PageRequest::default()).await?.total, 0);

    let mut moved = second.clone();
    moved.number = first.number.clone();
    assert!(matches!(
        numbers.update(&moved).await,
        Err(SavePhoneNumberError::NumberTaken)
    ));
    moved.number = E164::parse(&unique_number()).unwrap();
    moved.label = Some("Support line".into());
    assert!(numbers.update(&moved).await?);
    assert_eq!(
        numbers
            .find(mine, second.id)
            .await?
            .unwrap()
            .label
            .as_deref(),
        Some("Support line")
    );
    assert!(!numbers.delete(theirs, second.id).await?);
    assert!(numbers.delete(mine, second.id).await?);
    assert_eq!(numbers.find(mine, second.id).await?, None);
    Ok(())
}

fn document(organization: OrganizationId, name: &str, minutes_ago: i64) -> Document {
    Document {
        id: DocumentId::new(),
        organization_id: organization,
        file_name: name.into(),
        kind: DocumentKind::Markdown,
        size_bytes: 1234,
        char_count: 1200,
        chunk_count: 3,
        embedder: "local-lexical".into(),
        created_at: now() - Duration::minutes(minutes_ago),
    }
}

async fn documents_are_scoped_and_paged(db: Database) -> anyhow::Result<()> {
    let documents = SeaOrmDocuments::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let (_, theirs) = tenant(&db).await;
    let older = document(mine, "faq.md", 10);
    let newer = document(mine, "pricing.md", 5);
    let foreign = document(theirs, "secret.md", 1);
    for d in [&older, &newer, &foreign] {
        documents.insert(d).await?;
    }
    assert_eq!(documents.find(mine, older.id).await?, Some(older.clone()));
    assert_eq!(documents.find(mine, foreign.id).await?, None);
    let page = documents
        .list(mine, PageRequest::parse(Some(1), Some(1)).unwrap())
        .await?;
    assert_eq!(page.total, 2);
    assert_eq!(page.items, std::slice::from_ref(&newer));
    let mut many = documents
        .find_many(mine, &[older.id, foreign.id, newer.id, DocumentId::new()])
        .await?;
    many.sort_by_key(|d| d.created_at);
    assert_eq!(many, [older.clone(), newer.clone()]);
    assert!(documents.find_many(mine, &[]).await?.is_empty());
    assert!(!documents.delete(theirs, older.id).await?);
    assert!(documents.delete(mine, older.id).await?);
    assert_eq!(documents.find(mine, older.id).await?, None);
    Ok(())
}

fn new_call(organization: OrganizationId, session: Option<&str>) -> Call {
    let at = now();
    Call {
        id: CallId::new(),
        organization_id: organization,
        agent_id: Some(AgentId::new()),
        agent_name: Some("Ava".into()),
        scenario: None,
        channel: CallChannel::Text,
        direction: CallDirection::Inbound,
        status: CallStatus::InProgress,
        customer_name: Some("John".into()),
        phone_number: Some("+14155550123".into()),
        session_key: session.map(ToOwned::to_owned),
        started_at: at,
        ended_at: None,
        end_reason: None,
        context: serde_json::json!({"organization_name": "Acme"}),
        conversation: Default::default(),
        version: 0,
        recording_url: None,
        provider_call_id: None,
        talk_secs: None,
        idempotency_key: None,
        metadata: serde_json::Value::Null,
        created_at: at,
        updated_at: at,
        analysis: CallAnalysisState::NotQueued,
    }
}

fn line(speaker: Speaker, text: &str, latency: Option<TurnLatency>) -> NewCallTurn {
    NewCallTurn {
        speaker,
        text: text.into(),
        at: now(),
        latency,
    }
}

async fn calls_keep_turns_in_order_and_refuse_stale_saves(db: Database) -> anyhow::Result<()> {
    let calls = Arc::new(SeaOrmCalls::new(db.clone()));
    let (_, mine) = tenant(&db).await;
    let (_, theirs) = tenant(&db).await;
    let mut call = new_call(mine, Some("session-1"));
    calls
        .insert(&call, &[line(Speaker::Agent, "Hi John!", None)])
        .await?;
    assert_eq!(calls.find(mine, call.id).await?, Some(call.clone()));
    assert_eq!(calls.find(theirs, call.id).await?, None);
    assert_eq!(
        calls
            .find_by_session(mine, "session-1")
            .await?
            .map(|c| c.id),
        Some(call.id)
    );
    assert_eq!(calls.find_by_session(theirs, "session-1").await?, None);

    let latency = TurnLatency {
        first_token_ms: Some(180),
        total_ms: 950,
        transcript_ms: Some(120),
        first_audio_ms: Some(400),
        first_frame_ms: None,
    };
    call.version = 1;
    call.conversation.caller_turns = 1;
    let saved = calls
        .save(
            &call,
            0,
            &[
                line(Speaker::Customer, "When do you open?", None),
                line(Speaker::Agent, "At nine.", Some(latency)),
            ],
        )
        .await?;
    assert_eq!(saved, SaveCallOutcome::Saved);
    // A save based on the old version loses and writes nothing.
    let mut stale = call.clone();
    stale.version = 1;
    let lost = calls
        .save(&stale, 0, &[line(Speaker::Customer, "lost", None)])
        .await?;
    assert_eq!(lost, SaveCallOutcome::Conflict);

    let turns = calls.turns(call.id).await?;
    let texts: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["Hi John!", "When do you open?", "At nine."]);
    assert_eq!(turns.iter().map(|t| t.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(turns[2].latency, Some(latency));
    assert_eq!(turns[1].speaker, Speaker::Customer);
    let stored = calls.find(mine, call.id).await?.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.conversation.caller_turns, 1);

    // Of concurrent saves from the same version, exactly one wins.
    let attempts: Vec<_> = (0..6)
        .map(|n| {
            let calls = Arc::clone(&calls);
            let mut next = call.clone();
            next.version = 2;
            tokio::spawn(async move {
                calls
                    .save(
                        &next,
                        1,
                        &[line(Speaker::Customer, &format!("racer {n}"), None)],
                    )
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for attempt in attempts {
        if attempt.await?? == SaveCallOutcome::Saved {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(calls.turns(call.id).await?.len(), 4);

    call.version = 3;
    call.finish(CallStatus::Completed, "ended_by_client", now());
    call.recording_url = Some(format!("/api/v1/calls/{}/recording", call.id));
    call.provider_call_id = Some("CA0123456789abcdef0123456789abcdef".into());
    assert_eq!(calls.save(&call, 2, &[]).await?, SaveCallOutcome::Saved);
    let ended = calls.find(mine, call.id).await?.unwrap();
    assert_eq!(ended.status, CallStatus::Completed);
    assert_eq!(ended.end_reason.as_deref(), Some("ended_by_client"));
    assert_eq!(ended.recording_url, call.recording_url);
    assert!(!ended.is_active());
    // Channels reach a call by its id alone, and provider callbacks by the provider's id.
    assert_eq!(calls.find_unscoped(call.id).await?, Some(ended.clone()));
    assert_eq!(calls.find_unscoped(CallId::new()).await?, None);
    assert_eq!(
        calls
            .find_by_provider_id("CA0123456789abcdef0123456789abcdef")
            .await?
            .map(|c| c.id),
        Some(call.id)
    );
    assert_eq!(calls.find_by_provider_id("CAunknown").await?, None);

    // Calls not yet ended count against the organisation's cap; a key finds its call.
    assert_eq!(calls.count_active(mine).await?, 0);
    let mut queued = new_call(mine, None);
    queued.status = CallStatus::Queued;
    queued.idempotency_key = Some("retry-me".into());
    calls.insert(&queued, &[]).await?;
    let mut ringing = new_call(mine, None);
    ringing.status = CallStatus::Ringing;
    calls.insert(&ringing, &[]).await?;
    calls.insert(&new_call(theirs, None), &[]).await?;
    assert_eq!(calls.count_active(mine).await?, 2);
    assert_eq!(calls.count_active(theirs).await?, 1);
    assert_eq!(
        calls
            .find_by_idempotency_key(mine, "retry-me")
            .await?
            .map(|c| c.id),
        Some(queued.id)
    );
    assert_eq!(
        calls.find_by_idempotency_key(theirs, "retry-me").await?,
        None
    );
    // The key is unique per organisation: a second call with it is refused.
    let mut twin = new_call(mine, None);
    twin.idempotency_key = Some("retry-me".into());
    assert!(calls.insert(&twin, &[]).await.is_err());
    let mut other_org = new_call(theirs, None);
    other_org.idempotency_key = Some("retry-me".into());
    calls.insert(&other_org, &[]).await?;
    // The provider's count of connected seconds is kept and is the call's duration.
    ringing.version = 1;
    ringing.talk_secs = Some(42);
    ringing.finish(CallStatus::NoAnswer, "no_answer", now());
    assert_eq!(calls.save(&ringing, 0, &[]).await?, SaveCallOutcome::Saved);
    let stored = calls.find(mine, ringing.id).await?.unwrap();
    assert_eq!(stored.status, CallStatus::NoAnswer);
    assert_eq!(stored.duration_secs(), Some(42));
    assert_eq!(calls.count_active(mine).await?, 1);

    // Figures per agent, computed by the database.
    let agent = call.agent_id.unwrap();
    let mut failed = new_call(mine, None);
    failed.agent_id = Some(agent);
    failed.finish(CallStatus::Failed, "model_unavailable", now());
    calls.insert(&failed, &[]).await?;
    let stats = calls.agent_stats(mine, &[agent, AgentId::new()]).await?;
    assert_eq!(stats.len(), 1, "agents without calls are left out");
    let (id, figures) = stats[0];
    assert_eq!(id, agent);
    assert_eq!(figures.calls_handled, 2);
    assert!((figures.success_rate - 0.5).abs() < 1e-9, "{figures:?}");
    assert!((figures.avg_latency - 180.0).abs() < 1e-9, "{figures:?}");
    assert!(calls.agent_stats(theirs, &[agent]).await?.is_empty());
    Ok(())
}

async fn organisation_profiles_are_updated_in_place(db: Database) -> anyhow::Result<()> {
    let accounts = SeaOrmAccounts::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let (_, theirs) = tenant(&db).await;
    let before = accounts.find_organization(mine).await?.unwrap();
    let later = now() + Duration::minutes(5);
    let berlin = TimeZone::parse("Europe/Berlin").unwrap();
    assert!(
        accounts
            .update_organization_profile(
                mine,
                &DisplayName::parse("Acme Dental").unwrap(),
                Some(&berlin),
                later,
            )
            .await?
    );
    let after = accounts.find_organization(mine).await?.unwrap();
    assert_eq!(after.name, "Acme Dental");
    assert_eq!(after.time_zone, "Europe/Berlin");
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(after.updated_at, later);

    assert!(
        accounts
            .update_organization_profile(
                mine,
                &DisplayName::parse("Acme Dental Group").unwrap(),
                None,
                later,
            )
            .await?
    );
    let renamed = accounts.find_organization(mine).await?.unwrap();
    assert_eq!(renamed.name, "Acme Dental Group");
    assert_eq!(renamed.time_zone, "Europe/Berlin", "no zone keeps the zone");

    let untouched = accounts.find_organization(theirs).await?.unwrap();
    assert_eq!(untouched.name, "Analytical Engines");
    assert_eq!(untouched.time_zone, "UTC");
    assert!(
        !accounts
            .update_organization_profile(
                OrganizationId::new(),
                &DisplayName::parse("Nobody").unwrap(),
                None,
                later,
            )
            .await?,
        "an unknown organisation is not updated"
    );
    Ok(())
}

async fn onboarding_steps_are_recorded_per_organisation(db: Database) -> anyhow::Result<()> {
    let onboarding = SeaOrmOnboarding::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let (_, theirs) = tenant(&db).await;
    assert_eq!(
        onboarding.find(mine).await?,
        None,
        "nothing before the first step"
    );

    let first = now();
    let profile = CompanyProfile {
        industry: Some("Dentistry".into()),
        website: Some("https://acme.example".into()),
        description: None,
        size: Some("11-50".into()),
    };
    let recorded = onboarding
        .record(mine, StepAnswer::Company(profile.clone()), first)
        .await?;
    assert_eq!(recorded.profile, Some(profile));
    assert_eq!(recorded.company_completed_at, Some(first));
    assert_eq!(recorded.completed_at(OnboardingStep::Voice), None);
    assert_eq!(onboarding.find(mine).await?, Some(recorded.clone()));
    assert_eq!(onboarding.find(theirs).await?, None);

    let second = first + Duration::seconds(30);
    let personality = Personality {
        personality: Some("Warm and patient".into()),
        tone: Some("professional".into()),
    };
    let channels = Channels {
        phone: true,
        web: false,
        phone_number: Some(E164::parse(&unique_number()).unwrap()),
    };
    onboarding
        .record(mine, StepAnswer::Voice(personality.clone()), second)
        .await?;
    onboarding
        .record(mine, StepAnswer::Channels(channels.clone()), second)
        .await?;
    onboarding
        .record(mine, StepAnswer::Knowledge { documents: 3 }, second)
        .await?;
    let all = onboarding
        .record(mine, StepAnswer::Deployed, second)
        .await?;
    assert_eq!(
        all,
        Onboarding {
            profile: recorded.profile.clone(),
            agent_id: None,
            personality: Some(personality),
            channels: Some(channels),
            knowledge_documents: 3,
            company_completed_at: Some(first),
            agent_completed_at: None,
            knowledge_completed_at: Some(second),
            voice_completed_at: Some(second),
            channels_completed_at: Some(second),
            deployed_at: Some(second),
        },
        "each step keeps the others' answers"
    );

    let third = second + Duration::seconds(30);
    let changed = CompanyProfile {
        industry: Some("Orthodontics".into()),
        ..CompanyProfile::default()
    };
    let again = onboarding
        .record(mine, StepAnswer::Company(changed.clone()), third)
        .await?;
    assert_eq!(again.profile, Some(changed), "answering again replaces");
    assert_eq!(again.company_completed_at, Some(third));
    assert_eq!(again.voice_completed_at, Some(second));
    assert_eq!(onboarding.find(theirs).await?, None);
    Ok(())
}

async fn onboarding_agent_is_replaced_only_when_expected(db: Database) -> anyhow::Result<()> {
    let onboarding = SeaOrmOnboarding::new(db.clone());
    let agents = SeaOrmAgents::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let first_agent = agent(mine, "Ava", 2);
    let second_agent = agent(mine, "Bea", 1);
    agents.insert(&first_agent).await?;
    agents.insert(&second_agent).await?;

    let at = now();
    assert!(
        onboarding
            .replace_agent(mine, None, first_agent.id, at)
            .await?,
        "the first agent of a new record is taken"
    );
    let recorded = onboarding.find(mine).await?.unwrap();
    assert_eq!(recorded.agent_id, Some(first_agent.id));
    assert_eq!(recorded.agent_completed_at, Some(at));
    assert!(
        !onboarding
            .replace_agent(mine, None, second_agent.id, at)
            .await?,
        "a stale expectation changes nothing"
    );
    assert_eq!(
        onboarding.find(mine).await?.unwrap().agent_id,
        Some(first_agent.id)
    );

    onboarding
        .record(mine, StepAnswer::Company(CompanyProfile::default()), at)
        .await?;
    onboarding
        .record(mine, StepAnswer::Voice(Personality::default()), at)
        .await?;
    onboarding
        .record(mine, StepAnswer::Knowledge { documents: 2 }, at)
        .await?;
    onboarding.record(mine, StepAnswer::Deployed, at).await?;
    let later = at + Duration::minutes(1);
    assert!(
        onboarding
            .replace_agent(mine, Some(first_agent.id), second_agent.id, later)
            .await?
    );
    let replaced = onboarding.find(mine).await?.unwrap();
    assert_eq!(replaced.agent_id, Some(second_agent.id));
    assert_eq!(replaced.agent_completed_at, Some(later));
    assert_eq!(
        replaced.company_completed_at,
        Some(at),
        "the company step is not the agent's"
    );
    assert_eq!(replaced.personality, None);
    assert_eq!(replaced.knowledge_documents, 0);
    for step in [
        OnboardingStep::Knowledge,
        OnboardingStep::Voice,
        OnboardingStep::Channels,
        OnboardingStep::Deploy,
    ] {
        assert_eq!(replaced.completed_at(step), None, "{step} is cleared");
    }
    Ok(())
}

async fn concurrent_first_agents_have_one_winner(db: Database) -> anyhow::Result<()> {
    let onboarding = Arc::new(SeaOrmOnboarding::new(db.clone()));
    let agents = SeaOrmAgents::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let mut candidates = Vec::new();
    for n in 0..6 {
        let candidate = agent(mine, &format!("Candidate {n}"), 1);
        agents.insert(&candidate).await?;
        candidates.push(candidate.id);
    }
    let attempts: Vec<_> = candidates
        .iter()
        .map(|id| {
            let onboarding = Arc::clone(&onboarding);
            let id = *id;
            tokio::spawn(async move { onboarding.replace_agent(mine, None, id, now()).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (attempt, id) in attempts.into_iter().zip(&candidates) {
        if attempt.await?? {
            winners.push(*id);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        onboarding.find(mine).await?.unwrap().agent_id,
        Some(winners[0])
    );
    Ok(())
}

async fn call_lists_filter_search_sort_and_page(db: Database) -> anyhow::Result<()> {
    let calls = SeaOrmCalls::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let (_, theirs) = tenant(&db).await;
    let agent = AgentId::new();
    let mut made = Vec::new();
    for n in 0..5 {
        let mut call = new_call(mine, None);
        call.started_at = now() - Duration::hours(5 - n);
        call.customer_name = Some(format!("Customer {n}"));
        call.phone_number = Some(format!("+1415555000{n}"));
        call.agent_id = (n % 2 == 0).then_some(agent);
        call.direction = if n < 2 {
            CallDirection::Outbound
        } else {
            CallDirection::Inbound
        };
        if n == 4 {
            call.finish(CallStatus::Completed, "flow_ended", now());
        }
        let said = if n == 3 {
            "My refund is 100% late"
        } else {
            "Just a question"
        };
        calls
            .insert(&call, &[line(Speaker::Customer, said, None)])
            .await?;
        made.push(call);
    }
    calls
        .insert(
            &new_call(theirs, None),
            &[line(Speaker::Customer, "refund", None)],
        )
        .await?;
    let ids = |page: switchboard_domain::page::Paged<Call>| -> Vec<CallId> {
        page.items.into_iter().map(|c| c.id).collect()
    };
    let all = calls
        .list(
            mine,
            &CallFilter::default(),
            CallSort::Newest,
            PageRequest::default(),
        )
        .await?;
    assert_eq!(all.total, 5);
    assert_eq!(
        ids(all),
        made.iter().rev().map(|c| c.id).collect::<Vec<_>>()
    );
    let oldest = calls
        .list(
            mine,
            &CallFilter::default(),
            CallSort::Oldest,
            PageRequest::parse(Some(2), Some(2)).unwrap(),
        )
        .await?;
    assert_eq!(
        oldest.total, 5,
        "the total honours the filter, not the page"
    );
    assert_eq!(ids(oldest), [made[2].id, made[3].id]);

    let by = |filter: CallFilter| {
        let calls = calls.clone();
        async move {
            calls
                .list(mine, &filter, CallSort::Oldest, PageRequest::default())
                .await
        }
    };
    let completed = by(CallFilter {
        status: Some(CallStatus::Completed),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(ids(completed), [made[4].id]);
    let outbound = by(CallFilter {
        direction: Some(CallDirection::Outbound),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(ids(outbound), [made[0].id, made[1].id]);
    let agents = by(CallFilter {
        agent_id: Some(agent),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(ids(agents), [made[0].id, made[2].id, made[4].id]);
    let window = by(CallFilter {
        started_from: Some(made[1].started_at),
        started_before: Some(made[3].started_at),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(ids(window), [made[1].id, made[2].id]);
    let text = by(CallFilter {
        channel: Some(CallChannel::Text),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(text.total, 5);

    // Search: transcript words in any case, a literal %, the customer's name, the number.
    for (words, expected) in [
        ("REFUND", vec![made[3].id]),
        ("100%", vec![made[3].id]),
        ("1%", vec![]),
        ("customer 2", vec![made[2].id]),
        ("+14155550001", vec![made[1].id]),
        ("_", vec![]),
    ] {
        let found = by(CallFilter {
            search: Some(words.into()),
            ..CallFilter::default()
        })
        .await?;
        assert_eq!(ids(found), expected, "{words:?}");
    }
    let combined = by(CallFilter {
        search: Some("question".into()),
        agent_id: Some(agent),
        direction: Some(CallDirection::Inbound),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(ids(combined), [made[2].id, made[4].id]);
    Ok(())
}

const LEASE: std::time::Duration = std::time::Duration::from_secs(60);

fn analysis(sentiment: Sentiment, category: &str, resolution: Resolution) -> CallAnalysis {
    CallAnalysis {
        summary: format!("A {} call about {category}.", sentiment.as_str()),
        sentiment,
        sentiment_score: match sentiment {
            Sentiment::Positive => 0.75,
            Sentiment::Negative => -0.5,
            _ => 0.0,
        },
        category: Category::parse(category).unwrap(),
        resolution,
        key_topics: vec!["refund".into(), "invoice".into()],
        action_items: vec!["Send the corrected invoice".into()],
        extracted: serde_json::json!({"order_id": "A-17", "refund": true})
            .as_object()
            .cloned()
            .unwrap(),
        analyzer: AnalyzerKind::Llm,
    }
}

/// Stores an ended call (which queues its analysis job).
async fn ended_call(calls: &SeaOrmCalls, organization: OrganizationId) -> Call {
    let mut call = new_call(organization, None);
    call.finish(CallStatus::Completed, "ended_by_client", now());
    calls
        .insert(&call, &[line(Speaker::Customer, "Hello", None)])
        .await
        .unwrap();
    call
}

async fn ended_calls_queue_one_analysis_job_that_is_claimed_retried_and_completed(
    db: Database,
) -> anyhow::Result<()> {
    let calls = SeaOrmCalls::new(db.clone());
    let jobs = SeaOrmCallAnalyses::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let start = now();

    // A live call has no job.
    let mut call = new_call(mine, None);
    calls.insert(&call, &[]).await?;
    assert!(jobs.claim_due(start, LEASE, 5, 10).await?.is_empty());
    assert_eq!(
        calls.find(mine, call.id).await?.unwrap().analysis,
        CallAnalysisState::NotQueued
    );

    // Ending it queues the job in the same write.
    call.version = 1;
    call.updated_at = start;
    call.finish(CallStatus::Completed, "ended_by_client", start);
    assert_eq!(calls.save(&call, 0, &[]).await?, SaveCallOutcome::Saved);
    assert_eq!(
        calls.find(mine, call.id).await?.unwrap().analysis,
        CallAnalysisState::Pending
    );
    let first = jobs.claim_due(start, LEASE, 5, 10).await?;
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].call_id, first[0].attempt), (call.id, 1));
    assert!(
        jobs.claim_due(start, LEASE, 5, 10).await?.is_empty(),
        "a claimed job is nobody else's while its lease lasts"
    );
    assert_eq!(
        calls.find(mine, call.id).await?.unwrap().analysis,
        CallAnalysisState::Pending,
        "a job being worked on shows as pending"
    );

    // Put back with backoff: not due before its time.
    let retry_at = start + Duration::seconds(10);
    assert!(
        jobs.retry(&first[0], "the model is down", retry_at, start)
            .await?
    );
    assert!(
        !jobs.retry(&first[0], "again", retry_at, start).await?,
        "the claim is spent"
    );
    assert!(
        jobs.claim_due(start + Duration::seconds(9), LEASE, 5, 10)
            .await?
            .is_empty()
    );
    let second = jobs.claim_due(retry_at, LEASE, 5, 10).await?;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempt, 2);

    // Its worker stops; once the lease has run out another one takes the job over.
    let expired = retry_at + Duration::seconds(61);
    let third = jobs.claim_due(expired, LEASE, 5, 10).await?;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].attempt, 3);
    let done = analysis(Sentiment::Positive, "billing", Resolution::Resolved);
    assert!(
        !jobs.complete(&second[0], &done, expired).await?,
        "the stopped worker's claim is lost"
    );
    assert!(jobs.complete(&third[0], &done, expired).await?);
    assert!(!jobs.fail(&third[0], "late", expired).await?);
    let analysed = calls.find(mine, call.id).await?.unwrap();
    assert_eq!(
        analysed.analysis,
        CallAnalysisState::Completed {
            analysis: Box::new(done.clone()),
            analyzed_at: expired,
        }
    );
    assert!(
        jobs.claim_due(expired + Duration::hours(1), LEASE, 5, 10)
            .await?
            .is_empty()
    );

    // Writing the ended call again (a voice channel finishing after a client ended it) keeps
    // the analysis.
    call.version = 2;
    call.recording_url = Some("https://recordings.example.com/1.wav".into());
    assert_eq!(calls.save(&call, 1, &[]).await?, SaveCallOutcome::Saved);
    assert_eq!(
        calls.find(mine, call.id).await?.unwrap().analysis,
        analysed.analysis
    );
    // Every read carries it: lists, by session, by provider id.
    let listed = calls
        .list(
            mine,
            &CallFilter::default(),
            CallSort::Newest,
            PageRequest::default(),
        )
        .await?;
    assert_eq!(listed.items[0].analysis, analysed.analysis);
    assert_eq!(
        calls.find_unscoped(call.id).await?.unwrap().analysis,
        analysed.analysis
    );

    // A call stored already ended (a logged call) is queued at once.
    let logged = ended_call(&calls, mine).await;
    let claimed = jobs.claim_due(now(), LEASE, 5, 10).await?;
    assert_eq!(
        claimed.iter().map(|c| c.call_id).collect::<Vec<_>>(),
        [logged.id]
    );
    Ok(())
}

async fn analysis_jobs_fail_after_their_last_attempt(db: Database) -> anyhow::Result<()> {
    let calls = SeaOrmCalls::new(db.clone());
    let jobs = SeaOrmCallAnalyses::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let call = ended_call(&calls, mine).await;
    let at = now();
    let claim = jobs.claim_due(at, LEASE, 2, 10).await?.remove(0);
    assert!(jobs.retry(&claim, "invalid output", at, at).await?);
    let last = jobs.claim_due(at, LEASE, 2, 10).await?.remove(0);
    assert_eq!(last.attempt, 2);
    assert!(jobs.fail(&last, "invalid output", at).await?);
    let failed = calls.find(mine, call.id).await?.unwrap();
    assert_eq!(failed.analysis, CallAnalysisState::Failed);
    assert_eq!(
        failed.status,
        CallStatus::Completed,
        "the call itself is intact"
    );
    assert_eq!(calls.turns(call.id).await?.len(), 1);
    assert!(
        jobs.claim_due(at + Duration::days(1), LEASE, 2, 10)
            .await?
            .is_empty()
    );

    // A worker that stops during the last attempt leaves a job that fails when its lease ends.
    let stranded = ended_call(&calls, mine).await;
    let at = now();
    let claim = jobs.claim_due(at, LEASE, 1, 10).await?.remove(0);
    assert_eq!(claim.call_id, stranded.id);
    let later = at + Duration::seconds(61);
    assert!(jobs.claim_due(later, LEASE, 1, 10).await?.is_empty());
    assert_eq!(
        calls.find(mine, stranded.id).await?.unwrap().analysis,
        CallAnalysisState::Failed
    );
    assert!(
        !jobs
            .complete(
                &claim,
                &analysis(Sentiment::Neutral, "x", Resolution::Resolved),
                later
            )
            .await?
    );
    Ok(())
}

async fn concurrent_claimers_never_share_a_job(db: Database) -> anyhow::Result<()> {
    let calls = SeaOrmCalls::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let mut queued = Vec::new();
    for _ in 0..8 {
        queued.push(ended_call(&calls, mine).await.id);
    }
    let at = now();
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let jobs = SeaOrmCallAnalyses::new(db.clone());
            tokio::spawn(async move { jobs.claim_due(at, LEASE, 5, 3).await })
        })
        .collect();
    let mut claimed: Vec<AnalysisClaim> = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await??);
    }
    // Whatever was left by claimers that ran into each other is claimed afterwards, once.
    let jobs = SeaOrmCallAnalyses::new(db.clone());
    loop {
        let more = jobs.claim_due(at, LEASE, 5, 3).await?;
        if more.is_empty() {
            break;
        }
        claimed.extend(more);
    }
    let mut ids: Vec<CallId> = claimed.iter().map(|c| c.call_id).collect();
    ids.sort();
    queued.sort();
    assert_eq!(ids, queued, "every job claimed exactly once");
    assert!(claimed.iter().all(|c| c.attempt == 1));
    Ok(())
}

async fn call_lists_filter_by_analysis(db: Database) -> anyhow::Result<()> {
    let calls = SeaOrmCalls::new(db.clone());
    let jobs = SeaOrmCallAnalyses::new(db.clone());
    let (_, mine) = tenant(&db).await;
    let (_, theirs) = tenant(&db).await;
    let mut made = Vec::new();
    for n in 0..3 {
        let mut call = ended_call(&calls, mine).await;
        call.started_at = now() - Duration::hours(5 - n);
        made.push(call.id);
    }
    let pending = ended_call(&calls, mine).await;
    let live = new_call(mine, None);
    calls.insert(&live, &[]).await?;
    let foreign = ended_call(&calls, theirs).await;
    let results = [
        (
            made[0],
            analysis(Sentiment::Positive, "billing", Resolution::Resolved),
        ),
        (
            made[1],
            analysis(Sentiment::Negative, "Billing", Resolution::Escalated),
        ),
        (
            made[2],
            analysis(Sentiment::Neutral, "sales", Resolution::Unresolved),
        ),
        (
            foreign.id,
            analysis(Sentiment::Positive, "billing", Resolution::Resolved),
        ),
    ];
    let claims = jobs.claim_due(now(), LEASE, 5, 10).await?;
    for (id, result) in &results {
        let claim = claims.iter().find(|c| c.call_id == *id).unwrap();
        assert!(jobs.complete(claim, result, now()).await?);
    }
    let by = |filter: CallFilter| {
        let calls = calls.clone();
        async move {
            calls
                .list(mine, &filter, CallSort::Oldest, PageRequest::default())
                .await
        }
    };
    let ids = |page: &switchboard_domain::page::Paged<Call>| -> Vec<CallId> {
        page.items.iter().map(|c| c.id).collect()
    };
    let all = by(CallFilter::default()).await?;
    assert_eq!(all.total, 5);
    let positive = by(CallFilter {
        sentiment: Some(Sentiment::Positive),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!((ids(&positive), positive.total), (vec![made[0]], 1));
    assert_eq!(
        positive.items[0]
            .analysis
            .analysis()
            .map(|a| a.summary.as_str()),
        Some("A positive call about billing.")
    );
    let billing = by(CallFilter {
        category: Some(Category::parse("BILLING").unwrap()),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!((ids(&billing), billing.total), (vec![made[0], made[1]], 2));
    let escalated = by(CallFilter {
        resolution: Some(Resolution::Escalated),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(ids(&escalated), [made[1]]);
    let combined = by(CallFilter {
        category: Some(Category::parse("billing").unwrap()),
        sentiment: Some(Sentiment::Negative),
        status: Some(CallStatus::Completed),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(ids(&combined), [made[1]]);
    let paged = calls
        .list(
            mine,
            &CallFilter {
                category: Some(Category::parse("billing").unwrap()),
                ..CallFilter::default()
            },
            CallSort::Oldest,
            PageRequest::parse(Some(2), Some(1)).unwrap(),
        )
        .await?;
    assert_eq!(
        (ids(&paged), paged.total),
        (vec![made[1]], 2),
        "totals honour the filter"
    );
    let none = by(CallFilter {
        sentiment: Some(Sentiment::Mixed),
        ..CallFilter::default()
    })
    .await?;
    assert_eq!(none.total, 0);
    assert!(!ids(&all).is_empty() && ids(&all).contains(&pending.id));
    Ok(())
}

async fn live_calls_stop_at_the_cap_even_when_started_together(db: Database) -> anyhow::Result<()> {
    let calls = Arc::new(SeaOrmCalls::new(db.clone()));
    let (_, org) = tenant(&db).await;
    let (_, other) = tenant(&db).await;
    // An ended call takes no slot; another organisation's live call takes none of this one's.
    let mut over = new_call(org, None);
    over.status = CallStatus::Completed;
    over.ended_at = Some(now());
    calls.insert(&over, &[]).await?;
    calls.insert(&new_call(other, None), &[]).await?;

    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let calls = Arc::clone(&calls);
            tokio::spawn(async move { calls.insert_within_cap(&new_call(org, None), &[], 4).await })
        })
        .collect();
    let mut stored = 0;
    for attempt in attempts {
        if attempt.await?? {
            stored += 1;
        }
    }
    assert_eq!(stored, 4);
    assert_eq!(calls.count_active(org).await?, 4);
    assert!(
        !calls
            .insert_within_cap(&new_call(org, None), &[], 4)
            .await?
    );
    assert!(
        calls
            .insert_within_cap(&new_call(other, None), &[], 4)
            .await?
    );
    Ok(())
}

/// A phone call in `status`, last updated `minutes` ago.
fn phone_call(organization: OrganizationId, status: CallStatus, minutes: i64) -> Call {
    let mut call = new_call(organization, None);
    call.channel = CallChannel::Phone;
    call.direction = CallDirection::Outbound;
    call.status = status;
    call.provider_call_id = Some(format!("CA{}", uuid::Uuid::new_v4().simple()));
    call.updated_at = now() - Duration::minutes(minutes);
    if status.is_final() {
        call.ended_at = Some(call.updated_at);
    }
    call
}

async fn stale_live_phone_calls_are_found_oldest_first_across_organisations(
    db: Database,
) -> anyhow::Result<()> {
    let calls = SeaOrmCalls::new(db.clone());
    let (_, org) = tenant(&db).await;
    let (_, other) = tenant(&db).await;
    let queued = phone_call(org, CallStatus::Queued, 30);
    let ringing = phone_call(other, CallStatus::Ringing, 20);
    let in_progress = phone_call(org, CallStatus::InProgress, 15);
    let mut unconfirmed = phone_call(other, CallStatus::Queued, 12);
    unconfirmed.provider_call_id = None;
    for call in [&queued, &ringing, &in_progress, &unconfirmed] {
        calls.insert(call, &[]).await?;
    }
    // Not stale: recent, ended, or not a phone call.
    let mut text = phone_call(org, CallStatus::InProgress, 40);
    text.channel = CallChannel::Text;
    let mut web = phone_call(org, CallStatus::InProgress, 40);
    web.channel = CallChannel::Web;
    for call in [
        phone_call(org, CallStatus::InProgress, 2),
        phone_call(other, CallStatus::Completed, 40),
        phone_call(org, CallStatus::Failed, 40),
        text,
        web,
    ] {
        calls.insert(&call, &[]).await?;
    }

    let before = now() - Duration::minutes(10);
    let ids = |found: Vec<Call>| found.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(calls.find_stale_live_phone_calls(before, 10).await?),
        [queued.id, ringing.id, in_progress.id, unconfirmed.id],
        "every organisation's stale live phone calls, least recently updated first"
    );
    assert_eq!(
        ids(calls.find_stale_live_phone_calls(before, 2).await?),
        [queued.id, ringing.id],
        "bounded by the limit"
    );
    let found = calls.find_stale_live_phone_calls(before, 1).await?;
    assert_eq!(found[0], queued, "read back whole");
    assert!(
        calls
            .find_stale_live_phone_calls(now() - Duration::minutes(45), 10)
            .await?
            .is_empty()
    );

    // Once updated, a call is no longer stale.
    let mut answered = in_progress.clone();
    answered.version += 1;
    answered.updated_at = now();
    assert_eq!(
        calls.save(&answered, in_progress.version, &[]).await?,
        SaveCallOutcome::Saved
    );
    assert_eq!(
        ids(calls.find_stale_live_phone_calls(before, 10).await?),
        [queued.id, ringing.id, unconfirmed.id]
    );
    Ok(())
}
