//! `OnboardingRepository` on sea-orm.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_domain::ids::{AgentId, OrganizationId};
use switchboard_domain::onboarding::{Onboarding, StepAnswer};
use switchboard_domain::ports::{OnboardingRepository, RepositoryError};

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::onboarding::{self, Column};

/// The guided set-up's records in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmOnboarding {
    db: Database,
}

impl SeaOrmOnboarding {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn read_json<T: DeserializeOwned>(
    organization: uuid::Uuid,
    what: &str,
    value: Option<serde_json::Value>,
) -> Result<Option<T>, RepositoryError> {
    value.map(serde_json::from_value).transpose().map_err(|e| {
        RepositoryError(anyhow::anyhow!(
            "stored onboarding {what} of organisation {organization} is unreadable: {e}"
        ))
    })
}

fn json<T: Serialize>(value: &T) -> Result<SimpleExpr, RepositoryError> {
    let value = serde_json::to_value(value).map_err(|e| {
        RepositoryError(anyhow::anyhow!("onboarding answer does not serialise: {e}"))
    })?;
    Ok(Expr::value(value))
}

fn no_json() -> SimpleExpr {
    Expr::value(Option::<serde_json::Value>::None)
}

fn no_time() -> SimpleExpr {
    Expr::value(Option::<DateTime<Utc>>::None)
}

fn onboarding_from_row(row: onboarding::Model) -> Result<Onboarding, RepositoryError> {
    let id = row.organization_id;
    Ok(Onboarding {
        profile: read_json(id, "profile", row.profile)?,
        agent_id: row.agent_id.map(AgentId::from_uuid),
        personality: read_json(id, "personality", row.personality)?,
        channels: read_json(id, "channels", row.channels)?,
        knowledge_documents: u64::try_from(row.knowledge_documents).unwrap_or(0),
        company_completed_at: row.company_completed_at,
        agent_completed_at: row.agent_completed_at,
        knowledge_completed_at: row.knowledge_completed_at,
        voice_completed_at: row.voice_completed_at,
        channels_completed_at: row.channels_completed_at,
        deployed_at: row.deployed_at,
    })
}

/// The columns one answer sets, besides `updated_at`.
fn answer_columns(
    answer: &StepAnswer,
    at: DateTime<Utc>,
) -> Result<Vec<(Column, SimpleExpr)>, RepositoryError> {
    let done = Expr::value(Some(at));
    Ok(match answer {
        StepAnswer::Company(profile) => vec![
            (Column::Profile, json(profile)?),
            (Column::CompanyCompletedAt, done),
        ],
        StepAnswer::Knowledge { documents } => vec![
            (
                Column::KnowledgeDocuments,
                Expr::value(i64::try_from(*documents).unwrap_or(i64::MAX)),
            ),
            (Column::KnowledgeCompletedAt, done),
        ],
        StepAnswer::Voice(personality) => vec![
            (Column::Personality, json(personality)?),
            (Column::VoiceCompletedAt, done),
        ],
        StepAnswer::Channels(channels) => vec![
            (Column::Channels, json(channels)?),
            (Column::ChannelsCompletedAt, done),
        ],
        StepAnswer::Deployed => vec![(Column::DeployedAt, done)],
    })
}

/// Creates the organisation's empty record unless it has one. Inserting and ignoring a conflict,
/// rather than looking first, is what keeps two first steps at once from colliding.
async fn ensure_row(
    connection: &impl ConnectionTrait,
    organization: OrganizationId,
    at: DateTime<Utc>,
) -> Result<(), RepositoryError> {
    let row = onboarding::ActiveModel {
        organization_id: Set(organization.as_uuid()),
        profile: Set(None),
        agent_id: Set(None),
        personality: Set(None),
        channels: Set(None),
        knowledge_documents: Set(0),
        company_completed_at: Set(None),
        agent_completed_at: Set(None),
        knowledge_completed_at: Set(None),
        voice_completed_at: Set(None),
        channels_completed_at: Set(None),
        deployed_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    };
    onboarding::Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::OrganizationId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(connection)
        .await
        .map_err(unexpected)?;
    Ok(())
}

#[async_trait]
impl OnboardingRepository for SeaOrmOnboarding {
    async fn find(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<Onboarding>, RepositoryError> {
        onboarding::Entity::find_by_id(organization.as_uuid())
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(onboarding_from_row)
            .transpose()
    }

    async fn record(
        &self,
        organization: OrganizationId,
        answer: StepAnswer,
        at: DateTime<Utc>,
    ) -> Result<Onboarding, RepositoryError> {
        let columns = answer_columns(&answer, at)?;
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        ensure_row(&txn, organization, at).await?;
        let mut update = onboarding::Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(Column::OrganizationId.eq(organization.as_uuid()));
        for (column, value) in columns {
            update = update.col_expr(column, value);
        }
        update.exec(&txn).await.map_err(unexpected)?;
        let row = onboarding::Entity::find_by_id(organization.as_uuid())
            .one(&txn)
            .await
            .map_err(unexpected)?
            .ok_or_else(|| {
                RepositoryError(anyhow::anyhow!(
                    "the onboarding record of organisation {organization} vanished while written"
                ))
            })?;
        txn.commit().await.map_err(unexpected)?;
        onboarding_from_row(row)
    }

    async fn replace_agent(
        &self,
        organization: OrganizationId,
        expected: Option<AgentId>,
        agent: AgentId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        ensure_row(&txn, organization, at).await?;
        let still_expected = match expected {
            Some(id) => Column::AgentId.eq(id.as_uuid()),
            None => Column::AgentId.is_null(),
        };
        let replaced = onboarding::Entity::update_many()
            .col_expr(Column::AgentId, Expr::value(Some(agent.as_uuid())))
            .col_expr(Column::AgentCompletedAt, Expr::value(Some(at)))
            .col_expr(Column::Personality, no_json())
            .col_expr(Column::Channels, no_json())
            .col_expr(Column::KnowledgeDocuments, Expr::value(0_i64))
            .col_expr(Column::KnowledgeCompletedAt, no_time())
            .col_expr(Column::VoiceCompletedAt, no_time())
            .col_expr(Column::ChannelsCompletedAt, no_time())
            .col_expr(Column::DeployedAt, no_time())
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(Column::OrganizationId.eq(organization.as_uuid()))
            .filter(still_expected)
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)?;
        Ok(replaced.rows_affected == 1)
    }
}
