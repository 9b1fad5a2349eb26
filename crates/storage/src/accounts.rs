//! `AccountRepository` on sea-orm.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, SqlErr, TransactionTrait,
};
use switchboard_domain::account::{
    DisplayName, EmailAddress, NewAccount, Organization, PasswordHash, TimeZone, User,
    UserCredentials,
};
use switchboard_domain::ids::{OrganizationId, UserId};
use switchboard_domain::ports::{AccountRepository, CreateAccountError, RepositoryError};

use crate::Database;
use crate::entities::{organization, user};

/// Users and organisations in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmAccounts {
    db: Database,
}

impl SeaOrmAccounts {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn user_from_row(row: user::Model) -> Result<UserCredentials, RepositoryError> {
    let email = EmailAddress::parse(&row.email)
        .map_err(|e| anyhow::anyhow!("stored e-mail of user {} is invalid: {e}", row.id))?;
    Ok(UserCredentials {
        user: User {
            id: UserId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            email,
            full_name: row.full_name,
            is_active: row.is_active,
            is_admin: row.is_admin,
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
        password_hash: PasswordHash::new(row.password_hash),
    })
}

fn organization_from_row(row: organization::Model) -> Organization {
    Organization {
        id: OrganizationId::from_uuid(row.id),
        name: row.name,
        time_zone: row.time_zone,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub(crate) fn unexpected(e: DbErr) -> RepositoryError {
    RepositoryError(e.into())
}

#[async_trait]
impl AccountRepository for SeaOrmAccounts {
    async fn create_account(
        &self,
        account: NewAccount,
    ) -> Result<(User, Organization), CreateAccountError> {
        let organization = organization::ActiveModel {
            id: Set(account.organization_id.as_uuid()),
            name: Set(account.organization_name.as_str().to_owned()),
            time_zone: Set("UTC".to_owned()),
            created_at: Set(account.created_at),
            updated_at: Set(account.created_at),
        };
        let user = user::ActiveModel {
            id: Set(account.user_id.as_uuid()),
            organization_id: Set(account.organization_id.as_uuid()),
            email: Set(account.email.as_str().to_owned()),
            password_hash: Set(account.password_hash.as_str().to_owned()),
            full_name: Set(account.full_name.map(|n| n.as_str().to_owned())),
            is_active: Set(true),
            is_admin: Set(false),
            created_at: Set(account.created_at),
            updated_at: Set(account.created_at),
        };
        let txn = self
            .db
            .connection()
            .begin()
            .await
            .map_err(|e| CreateAccountError::Unexpected(e.into()))?;
        let organization = organization::Entity::insert(organization)
            .exec_with_returning(&txn)
            .await
            .map_err(|e| CreateAccountError::Unexpected(e.into()))?;
        let user = match user::Entity::insert(user).exec_with_returning(&txn).await {
            Ok(user) => user,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(CreateAccountError::EmailTaken);
            }
            Err(e) => return Err(CreateAccountError::Unexpected(e.into())),
        };
        txn.commit()
            .await
            .map_err(|e| CreateAccountError::Unexpected(e.into()))?;
        let user = user_from_row(user).map_err(|e| CreateAccountError::Unexpected(e.0))?;
        Ok((user.user, organization_from_row(organization)))
    }

    async fn find_credentials(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<UserCredentials>, RepositoryError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(user_from_row)
            .transpose()
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        user::Entity::find_by_id(id.as_uuid())
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(|row| user_from_row(row).map(|c| c.user))
            .transpose()
    }

    async fn find_organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, RepositoryError> {
        Ok(organization::Entity::find_by_id(id.as_uuid())
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(organization_from_row))
    }

    async fn update_organization_profile(
        &self,
        id: OrganizationId,
        name: &DisplayName,
        time_zone: Option<&TimeZone>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut update = organization::Entity::update_many()
            .col_expr(organization::Column::Name, Expr::value(name.as_str()))
            .col_expr(organization::Column::UpdatedAt, Expr::value(at))
            .filter(organization::Column::Id.eq(id.as_uuid()));
        if let Some(zone) = time_zone {
            update = update.col_expr(organization::Column::TimeZone, Expr::value(zone.as_str()));
        }
        let result = update
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }
}
