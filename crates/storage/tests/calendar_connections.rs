//! Contract tests of `SeaOrmCalendarConnections`, on a SQLite file and on a fresh PostgreSQL
//! database: one connection per organisation, token refreshes, revocation, and tokens that are
//! sealed at rest (the stored columns never hold them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, SubsecRound, Utc};
use sea_orm::{ConnectionTrait, Statement};
use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::ids::{OrganizationId, UserId};
use switchboard_domain::ports::{
    AccountRepository, CalendarConnection, CalendarConnectionRepository, ConnectionStatus,
    OAuthTokens,
};
use switchboard_storage::on_both_backends;
use switchboard_storage::{Database, SeaOrmAccounts, SeaOrmCalendarConnections, TokenSealer};

on_both_backends!(
    connections_round_trip_refresh_and_disconnect,
    stored_columns_never_hold_the_tokens,
);

const ACCESS: &str = "ya29.a0-plain-access-token";
const REFRESH: &str = "1//0g-plain-refresh-token";

fn now() -> chrono::DateTime<Utc> {
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
            organization_name: DisplayName::parse("Clinic").unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
            created_at: now(),
        })
        .await
        .unwrap();
    (user.id, org.id)
}

fn connection(user: UserId, organization: OrganizationId) -> CalendarConnection {
    CalendarConnection {
        organization_id: organization,
        user_id: user,
        provider: "google".into(),
        tokens: OAuthTokens {
            access_token: ACCESS.into(),
            refresh_token: Some(REFRESH.into()),
            expires_at: now() + Duration::hours(1),
            scope: Some("https://www.googleapis.com/auth/calendar".into()),
        },
        status: ConnectionStatus::Connected,
        calendar_id: "primary".into(),
        connected_at: now(),
        updated_at: now(),
    }
}

fn repository(db: &Database) -> SeaOrmCalendarConnections {
    SeaOrmCalendarConnections::new(db.clone(), TokenSealer::from_secret_key("test secret key"))
}

async fn connections_round_trip_refresh_and_disconnect(db: Database) -> anyhow::Result<()> {
    let repo = repository(&db);
    let (user, org) = tenant(&db).await;
    let (_, other_org) = tenant(&db).await;
    assert!(repo.find(org).await?.is_none());
    let saved = connection(user, org);
    repo.save(&saved).await?;
    assert_eq!(repo.find(org).await?, Some(saved.clone()));
    assert!(repo.find(other_org).await?.is_none());

    // A refresh without a new refresh token keeps the old one.
    let later = now() + Duration::minutes(5);
    let refreshed = OAuthTokens {
        access_token: "ya29.second".into(),
        refresh_token: None,
        expires_at: later + Duration::hours(1),
        scope: None,
    };
    assert!(repo.update_tokens(org, &refreshed, later).await?);
    let found = repo.find(org).await?.unwrap();
    assert_eq!(found.tokens.access_token, "ya29.second");
    assert_eq!(found.tokens.refresh_token.as_deref(), Some(REFRESH));
    assert_eq!(found.tokens.expires_at, later + Duration::hours(1));
    assert_eq!(found.updated_at, later);
    assert!(!repo.update_tokens(other_org, &refreshed, later).await?);

    assert!(repo.mark_disconnected(org, later).await?);
    assert_eq!(
        repo.find(org).await?.unwrap().status,
        ConnectionStatus::Disconnected
    );

    // Connecting again replaces the connection whole.
    let mut again = connection(user, org);
    again.tokens.access_token = "ya29.third".into();
    repo.save(&again).await?;
    assert_eq!(repo.find(org).await?, Some(again));

    assert!(repo.delete(org).await?);
    assert!(!repo.delete(org).await?);
    assert!(repo.find(org).await?.is_none());
    Ok(())
}

async fn stored_columns_never_hold_the_tokens(db: Database) -> anyhow::Result<()> {
    let repo = repository(&db);
    let (user, org) = tenant(&db).await;
    repo.save(&connection(user, org)).await?;
    let backend = db.connection().get_database_backend();
    let rows = db
        .connection()
        .query_all(Statement::from_string(
            backend,
            "SELECT access_token_sealed, refresh_token_sealed FROM calendar_connections",
        ))
        .await?;
    assert_eq!(rows.len(), 1);
    let access: String = rows[0].try_get("", "access_token_sealed")?;
    let refresh: Option<String> = rows[0].try_get("", "refresh_token_sealed")?;
    let refresh = refresh.unwrap();
    for stored in [&access, &refresh] {
        assert!(stored.starts_with("v1:"), "{stored}");
        assert!(
            !stored.contains(ACCESS) && !stored.contains(REFRESH),
            "{stored}"
        );
        assert!(
            !stored.contains("ya29") && !stored.contains("1//"),
            "{stored}"
        );
    }

    // Another key cannot open them: the repository reports it rather than handing back garbage.
    let other = SeaOrmCalendarConnections::new(db.clone(), TokenSealer::from_secret_key("other"));
    let error = other.find(org).await.unwrap_err();
    assert!(error.to_string().contains("SECRET_KEY"), "{error}");
    Ok(())
}
