//! `ScenarioRepository` on sea-orm.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use switchboard_domain::ids::{OrganizationId, ScenarioKey, UserId};
use switchboard_domain::ports::{InsertScenarioError, RepositoryError, ScenarioRepository};
use switchboard_domain::scenario::{Scenario, ScenarioSettings};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::{scenario, user};

/// Custom scenarios in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmScenarios {
    db: Database,
}

impl SeaOrmScenarios {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn scenario_from_row(row: scenario::Model) -> Scenario {
    Scenario {
        key: ScenarioKey::from_uuid(row.id),
        scenario_id: row.scenario_id,
        organization_id: OrganizationId::from_uuid(row.organization_id),
        owner: UserId::from_uuid(row.owner_id),
        settings: ScenarioSettings {
            persona: row.persona,
            prompt: row.prompt,
            voice_type: row.voice_type,
            temperature: row.temperature,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn unexpected_insert(e: sea_orm::DbErr) -> InsertScenarioError {
    InsertScenarioError::Unexpected(e.into())
}

#[async_trait]
impl ScenarioRepository for SeaOrmScenarios {
    async fn insert_within_limit(
        &self,
        scenario: &Scenario,
        limit: u64,
    ) -> Result<(), InsertScenarioError> {
        let txn = self
            .db
            .connection()
            .begin()
            .await
            .map_err(unexpected_insert)?;
        // Writing the owner's row first serialises this owner's inserts: PostgreSQL locks the
        // row until commit, and SQLite takes its write lock here, before the count is read.
        user::Entity::update_many()
            .col_expr(
                user::Column::UpdatedAt,
                Expr::col(user::Column::UpdatedAt).into(),
            )
            .filter(user::Column::Id.eq(scenario.owner.as_uuid()))
            .exec(&txn)
            .await
            .map_err(unexpected_insert)?;
        let owned = scenario::Entity::find()
            .filter(scenario::Column::OwnerId.eq(scenario.owner.as_uuid()))
            .count(&txn)
            .await
            .map_err(unexpected_insert)?;
        if owned >= limit {
            txn.rollback().await.map_err(unexpected_insert)?;
            return Err(InsertScenarioError::LimitReached { limit });
        }
        let settings = &scenario.settings;
        scenario::Entity::insert(scenario::ActiveModel {
            id: Set(scenario.key.as_uuid()),
            scenario_id: Set(scenario.scenario_id.clone()),
            organization_id: Set(scenario.organization_id.as_uuid()),
            owner_id: Set(scenario.owner.as_uuid()),
            persona: Set(settings.persona.clone()),
            prompt: Set(settings.prompt.clone()),
            voice_type: Set(settings.voice_type.clone()),
            temperature: Set(settings.temperature),
            created_at: Set(scenario.created_at),
            updated_at: Set(scenario.updated_at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(unexpected_insert)?;
        txn.commit().await.map_err(unexpected_insert)?;
        Ok(())
    }

    async fn find(
        &self,
        owner: UserId,
        scenario_id: &str,
    ) -> Result<Option<Scenario>, RepositoryError> {
        Ok(scenario::Entity::find()
            .filter(scenario::Column::OwnerId.eq(owner.as_uuid()))
            .filter(scenario::Column::ScenarioId.eq(scenario_id))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(scenario_from_row))
    }

    async fn list(&self, owner: UserId) -> Result<Vec<Scenario>, RepositoryError> {
        Ok(scenario::Entity::find()
            .filter(scenario::Column::OwnerId.eq(owner.as_uuid()))
            .order_by_asc(scenario::Column::CreatedAt)
            .order_by_asc(scenario::Column::ScenarioId)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(scenario_from_row)
            .collect())
    }

    async fn update(&self, scenario: &Scenario) -> Result<bool, RepositoryError> {
        let settings = &scenario.settings;
        let result = scenario::Entity::update_many()
            .col_expr(
                scenario::Column::Persona,
                Expr::value(settings.persona.clone()),
            )
            .col_expr(
                scenario::Column::Prompt,
                Expr::value(settings.prompt.clone()),
            )
            .col_expr(
                scenario::Column::VoiceType,
                Expr::value(settings.voice_type.clone()),
            )
            .col_expr(
                scenario::Column::Temperature,
                Expr::value(settings.temperature),
            )
            .col_expr(
                scenario::Column::UpdatedAt,
                Expr::value(scenario.updated_at),
            )
            .filter(scenario::Column::OwnerId.eq(scenario.owner.as_uuid()))
            .filter(scenario::Column::ScenarioId.eq(scenario.scenario_id.clone()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete(&self, owner: UserId, scenario_id: &str) -> Result<bool, RepositoryError> {
        let result = scenario::Entity::delete_many()
            .filter(scenario::Column::OwnerId.eq(owner.as_uuid()))
            .filter(scenario::Column::ScenarioId.eq(scenario_id))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }
}
