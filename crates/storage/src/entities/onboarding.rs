//! The `onboarding` table: one row per organisation. Each step's answer is a JSON document (or a
//! column) beside the time the step was done.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "onboarding")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    pub profile: Option<Json>,
    pub agent_id: Option<Uuid>,
    pub personality: Option<Json>,
    pub channels: Option<Json>,
    pub knowledge_documents: i64,
    pub company_completed_at: Option<DateTimeUtc>,
    pub agent_completed_at: Option<DateTimeUtc>,
    pub knowledge_completed_at: Option<DateTimeUtc>,
    pub voice_completed_at: Option<DateTimeUtc>,
    pub channels_completed_at: Option<DateTimeUtc>,
    pub deployed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
