//! `SessionRepository` on sea-orm.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use switchboard_domain::auth::{
    NewRefreshToken, NewSession, RefreshTokenRecord, Session, TokenDigest,
};
use switchboard_domain::ids::{OrganizationId, RefreshTokenId, SessionId, UserId};
use switchboard_domain::ports::{RepositoryError, RotateOutcome, SessionRepository};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::{refresh_token, session};

/// Sessions and refresh tokens in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmSessions {
    db: Database,
}

impl SeaOrmSessions {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn session_from_row(row: session::Model) -> Session {
    Session {
        id: SessionId::from_uuid(row.id),
        user_id: UserId::from_uuid(row.user_id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        revoked_reason: row.revoked_reason,
        user_agent: row.user_agent,
        ip_address: row.ip_address,
    }
}

fn token_from_row(row: refresh_token::Model) -> RefreshTokenRecord {
    RefreshTokenRecord {
        id: RefreshTokenId::from_uuid(row.id),
        session_id: SessionId::from_uuid(row.session_id),
        issued_at: row.issued_at,
        expires_at: row.expires_at,
        used_at: row.used_at,
    }
}

fn token_row(token: NewRefreshToken) -> refresh_token::ActiveModel {
    refresh_token::ActiveModel {
        id: Set(token.id.as_uuid()),
        session_id: Set(token.session_id.as_uuid()),
        token_digest: Set(token.digest.as_str().to_owned()),
        issued_at: Set(token.issued_at),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
    }
}

#[async_trait]
impl SessionRepository for SeaOrmSessions {
    async fn create(
        &self,
        session: NewSession,
        token: NewRefreshToken,
    ) -> Result<Session, RepositoryError> {
        let row = session::ActiveModel {
            id: Set(session.id.as_uuid()),
            user_id: Set(session.user_id.as_uuid()),
            organization_id: Set(session.organization_id.as_uuid()),
            created_at: Set(session.created_at),
            revoked_at: Set(None),
            revoked_reason: Set(None),
            user_agent: Set(session.user_agent),
            ip_address: Set(session.ip_address),
        };
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        let stored = session::Entity::insert(row)
            .exec_with_returning(&txn)
            .await
            .map_err(unexpected)?;
        refresh_token::Entity::insert(token_row(token))
            .exec_without_returning(&txn)
            .await
            .map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)?;
        Ok(session_from_row(stored))
    }

    async fn find(&self, id: SessionId) -> Result<Option<Session>, RepositoryError> {
        Ok(session::Entity::find_by_id(id.as_uuid())
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(session_from_row))
    }

    async fn find_refresh_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(RefreshTokenRecord, Session)>, RepositoryError> {
        let found = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenDigest.eq(digest.as_str()))
            .find_also_related(session::Entity)
            .one(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(match found {
            Some((token, Some(session))) => {
                Some((token_from_row(token), session_from_row(session)))
            }
            _ => None,
        })
    }

    async fn rotate(
        &self,
        used: RefreshTokenId,
        at: DateTime<Utc>,
        next: NewRefreshToken,
    ) -> Result<RotateOutcome, RepositoryError> {
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        // The `used_at IS NULL` guard makes the exchange a compare-and-set: of two concurrent
        // rotations, only one updates a row.
        let marked = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(at))
            .filter(refresh_token::Column::Id.eq(used.as_uuid()))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        if marked.rows_affected != 1 {
            txn.rollback().await.map_err(unexpected)?;
            return Ok(RotateOutcome::AlreadyUsed);
        }
        refresh_token::Entity::insert(token_row(next))
            .exec_without_returning(&txn)
            .await
            .map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)?;
        Ok(RotateOutcome::Rotated)
    }

    async fn revoke(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), RepositoryError> {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(at))
            .col_expr(session::Column::RevokedReason, Expr::value(reason))
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(())
    }
}
