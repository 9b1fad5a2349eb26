//! `PhoneNumberRepository` on sea-orm.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, SqlErr};
use switchboard_domain::ids::{AgentId, OrganizationId, PhoneNumberId};
use switchboard_domain::page::{PageRequest, Paged};
use switchboard_domain::phone_number::{E164, PhoneNumber, PhoneNumberStatus};
use switchboard_domain::ports::{PhoneNumberRepository, RepositoryError, SavePhoneNumberError};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::phone_number;
use crate::paging::fetch_page;

/// Phone numbers in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmPhoneNumbers {
    db: Database,
}

impl SeaOrmPhoneNumbers {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn number_from_row(row: phone_number::Model) -> Result<PhoneNumber, RepositoryError> {
    let number = E164::parse(&row.number)
        .map_err(|e| anyhow::anyhow!("stored number {} is invalid: {e}", row.id))?;
    let status = PhoneNumberStatus::parse(&row.status)
        .map_err(|e| anyhow::anyhow!("stored status of number {}: {e}", row.id))?;
    Ok(PhoneNumber {
        id: PhoneNumberId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        number,
        assigned_agent_id: row.assigned_agent_id.map(AgentId::from_uuid),
        status,
        label: row.label,
        calls_received: u64::try_from(row.calls_received).unwrap_or(0),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn save_error(e: DbErr) -> SavePhoneNumberError {
    if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        SavePhoneNumberError::NumberTaken
    } else {
        SavePhoneNumberError::Unexpected(e.into())
    }
}

#[async_trait]
impl PhoneNumberRepository for SeaOrmPhoneNumbers {
    async fn insert(&self, number: &PhoneNumber) -> Result<(), SavePhoneNumberError> {
        phone_number::Entity::insert(phone_number::ActiveModel {
            id: Set(number.id.as_uuid()),
            organization_id: Set(number.organization_id.as_uuid()),
            number: Set(number.number.as_str().to_owned()),
            assigned_agent_id: Set(number.assigned_agent_id.map(|a| a.as_uuid())),
            status: Set(number.status.as_str().to_owned()),
            label: Set(number.label.clone()),
            calls_received: Set(i64::try_from(number.calls_received).unwrap_or(i64::MAX)),
            created_at: Set(number.created_at),
            updated_at: Set(number.updated_at),
        })
        .exec_without_returning(self.db.connection())
        .await
        .map_err(save_error)?;
        Ok(())
    }

    async fn find(
        &self,
        organization: OrganizationId,
        id: PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, RepositoryError> {
        phone_number::Entity::find_by_id(id.as_uuid())
            .filter(phone_number::Column::OrganizationId.eq(organization.as_uuid()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(number_from_row)
            .transpose()
    }

    async fn find_by_number(&self, number: &E164) -> Result<Option<PhoneNumber>, RepositoryError> {
        phone_number::Entity::find()
            .filter(phone_number::Column::Number.eq(number.as_str()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(number_from_row)
            .transpose()
    }

    async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<PhoneNumber>, RepositoryError> {
        let query = phone_number::Entity::find()
            .filter(phone_number::Column::OrganizationId.eq(organization.as_uuid()));
        let (rows, total) = fetch_page(
            query
                .order_by_asc(phone_number::Column::CreatedAt)
                .order_by_asc(phone_number::Column::Id),
            page,
            self.db.connection(),
        )
        .await?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(number_from_row)
                .collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn update(&self, number: &PhoneNumber) -> Result<bool, SavePhoneNumberError> {
        let result = phone_number::Entity::update_many()
            .col_expr(
                phone_number::Column::Number,
                Expr::value(number.number.as_str()),
            )
            .col_expr(
                phone_number::Column::AssignedAgentId,
                Expr::value(number.assigned_agent_id.map(|a| a.as_uuid())),
            )
            .col_expr(
                phone_number::Column::Status,
                Expr::value(number.status.as_str()),
            )
            .col_expr(
                phone_number::Column::Label,
                Expr::value(number.label.clone()),
            )
            .col_expr(
                phone_number::Column::UpdatedAt,
                Expr::value(number.updated_at),
            )
            .filter(phone_number::Column::Id.eq(number.id.as_uuid()))
            .filter(phone_number::Column::OrganizationId.eq(number.organization_id.as_uuid()))
            .exec(self.db.connection())
            .await
            .map_err(save_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete(
        &self,
        organization: OrganizationId,
        id: PhoneNumberId,
    ) -> Result<bool, RepositoryError> {
        let result = phone_number::Entity::delete_many()
            .filter(phone_number::Column::Id.eq(id.as_uuid()))
            .filter(phone_number::Column::OrganizationId.eq(organization.as_uuid()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }
}
