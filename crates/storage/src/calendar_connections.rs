//! `CalendarConnectionRepository` on sea-orm, with the tokens sealed at rest ([`TokenSealer`]).

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use switchboard_domain::calendar::PRIMARY_CALENDAR;
use switchboard_domain::ids::{OrganizationId, UserId};
use switchboard_domain::ports::{
    CalendarConnection, CalendarConnectionRepository, ConnectionStatus, OAuthTokens,
    RepositoryError,
};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::calendar_connection as row;
use crate::sealing::TokenSealer;

/// Calendar connections in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmCalendarConnections {
    db: Database,
    sealer: TokenSealer,
}

/// The place a token is bound to, so it opens only in its own row and column.
fn place(organization: OrganizationId, column: &str) -> String {
    format!("calendar_connections/{organization}/{column}")
}

impl SeaOrmCalendarConnections {
    /// An adapter over `db`, sealing tokens with `sealer`.
    #[must_use]
    pub fn new(db: Database, sealer: TokenSealer) -> Self {
        Self { db, sealer }
    }

    fn seal(
        &self,
        organization: OrganizationId,
        column: &str,
        value: &str,
    ) -> Result<String, RepositoryError> {
        self.sealer
            .seal(value, &place(organization, column))
            .map_err(|e| RepositoryError(e.into()))
    }

    fn open(
        &self,
        organization: OrganizationId,
        column: &str,
        sealed: &str,
    ) -> Result<String, RepositoryError> {
        self.sealer
            .open(sealed, &place(organization, column))
            .map_err(|e| {
                RepositoryError(anyhow::anyhow!(
                    "the calendar {column} token of organisation {organization}: {e}"
                ))
            })
    }

    fn connection_of(&self, model: row::Model) -> Result<CalendarConnection, RepositoryError> {
        let organization = OrganizationId::from_uuid(model.organization_id);
        let refresh_token = model
            .refresh_token_sealed
            .as_deref()
            .map(|sealed| self.open(organization, "refresh", sealed))
            .transpose()?;
        Ok(CalendarConnection {
            organization_id: organization,
            user_id: UserId::from_uuid(model.user_id),
            provider: model.provider,
            tokens: OAuthTokens {
                access_token: self.open(organization, "access", &model.access_token_sealed)?,
                refresh_token,
                expires_at: model.expires_at,
                scope: model.scope,
            },
            status: ConnectionStatus::parse(&model.status)
                .map_err(|e| RepositoryError(anyhow::anyhow!(e)))?,
            calendar_id: model
                .calendar_id
                .unwrap_or_else(|| PRIMARY_CALENDAR.to_owned()),
            connected_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}

#[async_trait]
impl CalendarConnectionRepository for SeaOrmCalendarConnections {
    async fn save(&self, connection: &CalendarConnection) -> Result<(), RepositoryError> {
        let organization = connection.organization_id;
        let tokens = &connection.tokens;
        let refresh = tokens
            .refresh_token
            .as_deref()
            .map(|token| self.seal(organization, "refresh", token))
            .transpose()?;
        let model = row::ActiveModel {
            organization_id: Set(organization.as_uuid()),
            user_id: Set(connection.user_id.as_uuid()),
            provider: Set(connection.provider.clone()),
            access_token_sealed: Set(self.seal(organization, "access", &tokens.access_token)?),
            refresh_token_sealed: Set(refresh),
            expires_at: Set(tokens.expires_at),
            scope: Set(tokens.scope.clone()),
            status: Set(connection.status.as_str().to_owned()),
            calendar_id: Set(Some(connection.calendar_id.clone())),
            created_at: Set(connection.connected_at),
            updated_at: Set(connection.updated_at),
        };
        // One connection per organisation: connecting again replaces the row in one statement,
        // so two callbacks at once leave one whole connection, never a mix.
        row::Entity::insert(model)
            .on_conflict(
                OnConflict::column(row::Column::OrganizationId)
                    .update_columns([
                        row::Column::UserId,
                        row::Column::Provider,
                        row::Column::AccessTokenSealed,
                        row::Column::RefreshTokenSealed,
                        row::Column::ExpiresAt,
                        row::Column::Scope,
                        row::Column::Status,
                        row::Column::CalendarId,
                        row::Column::CreatedAt,
                        row::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(())
    }

    async fn find(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<CalendarConnection>, RepositoryError> {
        row::Entity::find_by_id(organization.as_uuid())
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(|model| self.connection_of(model))
            .transpose()
    }

    async fn update_tokens(
        &self,
        organization: OrganizationId,
        tokens: &OAuthTokens,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut update = row::Entity::update_many()
            .col_expr(
                row::Column::AccessTokenSealed,
                Expr::value(self.seal(organization, "access", &tokens.access_token)?),
            )
            .col_expr(row::Column::ExpiresAt, Expr::value(tokens.expires_at))
            .col_expr(row::Column::UpdatedAt, Expr::value(at));
        if let Some(refresh) = &tokens.refresh_token {
            update = update.col_expr(
                row::Column::RefreshTokenSealed,
                Expr::value(self.seal(organization, "refresh", refresh)?),
            );
        }
        if let Some(scope) = &tokens.scope {
            update = update.col_expr(row::Column::Scope, Expr::value(scope.clone()));
        }
        let result = update
            .filter(row::Column::OrganizationId.eq(organization.as_uuid()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }

    async fn mark_disconnected(
        &self,
        organization: OrganizationId,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, RepositoryError> {
        let result = row::Entity::update_many()
            .col_expr(
                row::Column::Status,
                Expr::value(ConnectionStatus::Disconnected.as_str()),
            )
            .col_expr(row::Column::UpdatedAt, Expr::value(at))
            .filter(row::Column::OrganizationId.eq(organization.as_uuid()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete(&self, organization: OrganizationId) -> Result<bool, RepositoryError> {
        let result = row::Entity::delete_by_id(organization.as_uuid())
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }
}
