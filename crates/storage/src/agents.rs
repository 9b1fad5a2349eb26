//! `AgentRepository` on sea-orm.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use switchboard_domain::agent::{Agent, AgentConfig, AgentStatus};
use switchboard_domain::ids::{AgentId, OrganizationId};
use switchboard_domain::page::{PageRequest, Paged};
use switchboard_domain::ports::{AgentRepository, RepositoryError};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::{agent, phone_number};
use crate::paging::fetch_page;

/// Agents in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmAgents {
    db: Database,
}

impl SeaOrmAgents {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn agent_from_row(row: agent::Model) -> Result<Agent, RepositoryError> {
    let config: AgentConfig = serde_json::from_value(row.config).map_err(|e| {
        anyhow::anyhow!(
            "stored configuration of agent {} is unreadable: {e}",
            row.id
        )
    })?;
    let status = AgentStatus::parse(&row.status)
        .map_err(|e| anyhow::anyhow!("stored status of agent {}: {e}", row.id))?;
    Ok(Agent {
        id: AgentId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        config,
        status,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn config_json(agent: &Agent) -> Result<serde_json::Value, RepositoryError> {
    serde_json::to_value(&agent.config).map_err(|e| {
        RepositoryError(anyhow::anyhow!(
            "agent configuration does not serialise: {e}"
        ))
    })
}

fn live(organization: OrganizationId) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(agent::Column::OrganizationId.eq(organization.as_uuid()))
        .add(agent::Column::DeletedAt.is_null())
}

#[async_trait]
impl AgentRepository for SeaOrmAgents {
    async fn insert(&self, agent: &Agent) -> Result<(), RepositoryError> {
        let row = agent::ActiveModel {
            id: Set(agent.id.as_uuid()),
            organization_id: Set(agent.organization_id.as_uuid()),
            name: Set(agent.config.name.clone()),
            status: Set(agent.status.as_str().to_owned()),
            config: Set(config_json(agent)?),
            created_at: Set(agent.created_at),
            updated_at: Set(agent.updated_at),
            deleted_at: Set(None),
        };
        agent::Entity::insert(row)
            .exec_without_returning(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(())
    }

    async fn find(
        &self,
        organization: OrganizationId,
        id: AgentId,
    ) -> Result<Option<Agent>, RepositoryError> {
        agent::Entity::find_by_id(id.as_uuid())
            .filter(live(organization))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(agent_from_row)
            .transpose()
    }

    async fn list(
        &self,
        organization: OrganizationId,
        status: Option<AgentStatus>,
        page: PageRequest,
    ) -> Result<Paged<Agent>, RepositoryError> {
        let mut query = agent::Entity::find().filter(live(organization));
        if let Some(status) = status {
            query = query.filter(agent::Column::Status.eq(status.as_str()));
        }
        let (rows, total) = fetch_page(
            query
                .order_by_desc(agent::Column::CreatedAt)
                .order_by_desc(agent::Column::Id),
            page,
            self.db.connection(),
        )
        .await?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(agent_from_row)
                .collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn update(&self, agent: &Agent) -> Result<bool, RepositoryError> {
        let result = agent::Entity::update_many()
            .col_expr(agent::Column::Name, Expr::value(agent.config.name.clone()))
            .col_expr(agent::Column::Status, Expr::value(agent.status.as_str()))
            .col_expr(agent::Column::Config, Expr::value(config_json(agent)?))
            .col_expr(agent::Column::UpdatedAt, Expr::value(agent.updated_at))
            .filter(agent::Column::Id.eq(agent.id.as_uuid()))
            .filter(live(agent.organization_id))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete(
        &self,
        organization: OrganizationId,
        id: AgentId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        let hidden = agent::Entity::update_many()
            .col_expr(agent::Column::DeletedAt, Expr::value(at))
            .col_expr(
                agent::Column::Status,
                Expr::value(AgentStatus::Inactive.as_str()),
            )
            .filter(agent::Column::Id.eq(id.as_uuid()))
            .filter(live(organization))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        if hidden.rows_affected != 1 {
            txn.rollback().await.map_err(unexpected)?;
            return Ok(false);
        }
        phone_number::Entity::update_many()
            .col_expr(
                phone_number::Column::AssignedAgentId,
                Expr::value(Option::<uuid::Uuid>::None),
            )
            .col_expr(phone_number::Column::Status, Expr::value("unassigned"))
            .col_expr(phone_number::Column::UpdatedAt, Expr::value(at))
            .filter(phone_number::Column::AssignedAgentId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)?;
        Ok(true)
    }
}
