//! Contract tests of the repository adapters. Every test runs twice: on a SQLite file and on a
//! fresh PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Duration, SubsecRound, Utc};
use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::auth::{NewRefreshToken, NewSession, RefreshSecret};
use switchboard_domain::ids::{OrganizationId, RefreshTokenId, SessionId, UserId};
use switchboard_domain::ports::{
    AccountRepository, CreateAccountError, RotateOutcome, SessionRepository,
};
use switchboard_storage::testing::TestDatabase;
use switchboard_storage::{Database, SeaOrmAccounts, SeaOrmSessions};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() -> anyhow::Result<()> {
                let db = switchboard_storage::testing::TestDatabase::sqlite().await?;
                super::$name(db.database().clone()).await
            }

            #[tokio::test]
            async fn postgres() -> anyhow::Result<()> {
                let Some(db) = switchboard_storage::testing::TestDatabase::postgres().await? else {
                    return Ok(());
                };
                super::$name(db.database().clone()).await
            }
        }
    )*};
}

on_both_backends!(
    accounts_round_trip,
    duplicate_email_is_refused_whatever_its_case,
    unknown_records_are_none,
    sessions_rotate_once,
    concurrent_rotations_have_one_winner,
    revocation_keeps_the_first_reason,
    migrations_are_idempotent,
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
