//! The `scheduled_calls` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "scheduled_calls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub campaign_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub scenario: Option<String>,
    pub phone_number: String,
    pub customer_name: Option<String>,
    pub scheduled_for: DateTimeUtc,
    pub due_at: DateTimeUtc,
    pub calling_window: Option<Json>,
    pub max_attempts: i32,
    pub retry_delay_secs: i64,
    pub status: String,
    pub attempts: Json,
    pub current_call_id: Option<Uuid>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTimeUtc>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
