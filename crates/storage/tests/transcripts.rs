//! Contract tests of `StoredTranscriptRepository` on sea-orm, each run on a SQLite file and on a
//! fresh PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::json;
use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::call::{
    Call, CallAnalysisState, CallChannel, CallDirection, CallStatus, NewCallTurn, Speaker,
};
use switchboard_domain::ids::{CallId, OrganizationId, StoredTranscriptId, UserId};
use switchboard_domain::page::PageRequest;
use switchboard_domain::ports::{
    AccountRepository, CallRepository, StoreOutcome, StoredTranscriptRepository, TranscriptEntry,
};
use switchboard_domain::transcript::{
    StoredTranscript, TranscriptFacts, TranscriptFilter, TranscriptLabels, TranscriptSid,
};
use switchboard_storage::on_both_backends;
use switchboard_storage::{Database, SeaOrmAccounts, SeaOrmCalls, SeaOrmTranscripts};

on_both_backends!(
    copies_keep_twilio_json_verbatim_per_organisation_and_page,
    concurrent_stores_of_one_sid_keep_one_copy,
    the_index_lists_calls_and_copies_newest_first_filtered_and_paged,
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
            organization_name: DisplayName::parse("Transcribers").unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
            created_at: now(),
        })
        .await
        .unwrap();
    (user.id, org.id)
}

fn sid(n: u32) -> TranscriptSid {
    TranscriptSid::parse(&format!("GT{n:032x}")).unwrap()
}

fn copy(
    (user, organization): (UserId, OrganizationId),
    sid: TranscriptSid,
    created: Option<DateTime<Utc>>,
    labels: TranscriptLabels,
) -> StoredTranscript {
    StoredTranscript {
        id: StoredTranscriptId::new(),
        organization_id: organization,
        user_id: user,
        resource: json!({"sid": sid.as_str(), "status": "completed", "duration": 42,
                         "channel": {"media_properties": {"source_sid": null}}, "redaction": true}),
        sentences: vec![
            json!({"media_channel": 1, "sentence_index": 0, "transcript": "Hello there",
                   "start_time": "0.5", "end_time": "1.25", "confidence": "0.9", "sid": "GX1",
                   "words": [{"word": "Hello", "start_time": "0.5", "end_time": "0.8"}]}),
            json!({"media_channel": 2, "sentence_index": 1, "transcript": "Hi",
                   "start_time": null, "end_time": null, "confidence": null, "sid": "GX2", "words": []}),
        ],
        facts: TranscriptFacts {
            status: Some("completed".into()),
            date_created: created,
            date_updated: created,
            duration_secs: Some(42),
            language_code: Some("en-US".into()),
            source_sid: None,
        },
        labels,
        sid,
        stored_at: now(),
    }
}

async fn copies_keep_twilio_json_verbatim_per_organisation_and_page(
    db: Database,
) -> anyhow::Result<()> {
    let repository = SeaOrmTranscripts::new(db.clone());
    let mine = tenant(&db).await;
    let theirs = tenant(&db).await;
    let mut stored = Vec::new();
    for n in 0..3 {
        let mut transcript = copy(mine, sid(n), Some(now()), TranscriptLabels::default());
        transcript.stored_at = now() + Duration::seconds(i64::from(n));
        assert_eq!(repository.store(&transcript).await?, StoreOutcome::Stored);
        stored.push(transcript);
    }
    // The same sid in another organisation is another copy.
    let other = copy(theirs, sid(0), None, TranscriptLabels::default());
    assert_eq!(repository.store(&other).await?, StoreOutcome::Stored);

    let found = repository.find(mine.1, &sid(1)).await?.unwrap();
    assert_eq!(found, stored[1]);
    assert_eq!(found.sentences[0]["start_time"], "0.5");
    assert!(found.sentences[1]["confidence"].is_null());
    assert_eq!(repository.find(theirs.1, &sid(1)).await?, None);
    assert_eq!(
        repository.find(theirs.1, &sid(0)).await?.map(|t| t.id),
        Some(other.id)
    );

    let first = repository
        .list(
            mine.1,
            PageRequest {
                page: 1,
                page_size: 2,
            },
        )
        .await?;
    assert_eq!(first.total, 3);
    let ids: Vec<_> = first.items.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![stored[2].id, stored[1].id]);
    let second = repository
        .list(
            mine.1,
            PageRequest {
                page: 2,
                page_size: 2,
            },
        )
        .await?;
    assert_eq!(
        second.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![stored[0].id]
    );

    let many = repository
        .find_many(mine.1, &[stored[0].id, other.id, StoredTranscriptId::new()])
        .await?;
    assert_eq!(
        many.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![stored[0].id]
    );
    assert!(repository.find_many(mine.1, &[]).await?.is_empty());
    Ok(())
}

async fn concurrent_stores_of_one_sid_keep_one_copy(db: Database) -> anyhow::Result<()> {
    let repository = Arc::new(SeaOrmTranscripts::new(db.clone()));
    let mine = tenant(&db).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let repository = Arc::clone(&repository);
        let transcript = copy(mine, sid(7), None, TranscriptLabels::default());
        tasks.push(tokio::spawn(async move {
            let outcome = repository.store(&transcript).await;
            (transcript.id, outcome)
        }));
    }
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        let (id, outcome) = task.await?;
        match outcome? {
            StoreOutcome::Stored => winners.push(id),
            StoreOutcome::Existing(existing) => seen.push(existing.id),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one store wins");
    assert_eq!(seen.len(), 7);
    assert!(seen.iter().all(|id| *id == winners[0]), "{seen:?}");
    let page = repository.list(mine.1, PageRequest::default()).await?;
    assert_eq!(page.total, 1);
    Ok(())
}

fn call(
    organization: OrganizationId,
    direction: CallDirection,
    scenario: Option<&str>,
    at: DateTime<Utc>,
) -> Call {
    Call {
        id: CallId::new(),
        organization_id: organization,
        agent_id: None,
        agent_name: Some("Ava".into()),
        scenario: scenario.map(ToOwned::to_owned),
        channel: CallChannel::Text,
        direction,
        status: CallStatus::Completed,
        customer_name: None,
        phone_number: None,
        session_key: None,
        started_at: at,
        ended_at: Some(at + Duration::seconds(30)),
        end_reason: None,
        context: json!({}),
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

fn turn(at: DateTime<Utc>) -> NewCallTurn {
    NewCallTurn {
        speaker: Speaker::Agent,
        text: "Hello".into(),
        at,
        latency: None,
    }
}

async fn the_index_lists_calls_and_copies_newest_first_filtered_and_paged(
    db: Database,
) -> anyhow::Result<()> {
    let repository = SeaOrmTranscripts::new(db.clone());
    let calls = SeaOrmCalls::new(db.clone());
    let mine = tenant(&db).await;
    let theirs = tenant(&db).await;
    let base = now() - Duration::hours(1);
    let at = |minutes: i64| base + Duration::minutes(minutes);

    let sales_out = call(mine.1, CallDirection::Outbound, Some("sales"), at(10));
    calls.insert(&sales_out, &[turn(at(10))]).await?;
    let support_in = call(mine.1, CallDirection::Inbound, Some("support"), at(30));
    calls.insert(&support_in, &[turn(at(30))]).await?;
    // No transcript lines: not in the index.
    let silent = call(mine.1, CallDirection::Outbound, Some("sales"), at(40));
    calls.insert(&silent, &[]).await?;
    let foreign = call(theirs.1, CallDirection::Outbound, Some("sales"), at(50));
    calls.insert(&foreign, &[turn(at(50))]).await?;

    let labelled = copy(
        mine,
        sid(1),
        Some(at(20)),
        TranscriptLabels {
            scenario_name: Some("Sales".into()),
            call_direction: Some(CallDirection::Outbound),
        },
    );
    repository.store(&labelled).await?;
    // No creation date: ordered by when it was stored (now, the newest).
    let unlabelled = copy(mine, sid(2), None, TranscriptLabels::default());
    repository.store(&unlabelled).await?;
    repository
        .store(&copy(
            theirs,
            sid(3),
            Some(at(25)),
            TranscriptLabels::default(),
        ))
        .await?;

    let everything = TranscriptFilter::default();
    assert_eq!(
        repository.index(mine.1, &everything, 0, 10).await?,
        vec![
            TranscriptEntry::Stored(unlabelled.id),
            TranscriptEntry::Call(support_in.id),
            TranscriptEntry::Stored(labelled.id),
            TranscriptEntry::Call(sales_out.id),
        ]
    );
    assert_eq!(
        repository.index(mine.1, &everything, 1, 2).await?,
        vec![
            TranscriptEntry::Call(support_in.id),
            TranscriptEntry::Stored(labelled.id),
        ]
    );
    assert!(
        repository
            .index(mine.1, &everything, 4, 10)
            .await?
            .is_empty()
    );

    let outbound_sales = TranscriptFilter {
        direction: Some(CallDirection::Outbound),
        scenario_name: Some("SALES".into()),
    };
    assert_eq!(
        repository.index(mine.1, &outbound_sales, 0, 10).await?,
        vec![
            TranscriptEntry::Stored(labelled.id),
            TranscriptEntry::Call(sales_out.id),
        ]
    );
    let inbound = TranscriptFilter {
        direction: Some(CallDirection::Inbound),
        scenario_name: None,
    };
    assert_eq!(
        repository.index(mine.1, &inbound, 0, 10).await?,
        vec![TranscriptEntry::Call(support_in.id)]
    );
    Ok(())
}
