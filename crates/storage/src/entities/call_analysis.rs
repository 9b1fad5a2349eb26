//! The `call_analyses` table: each ended call's analysis job and, once done, its analysis.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "call_analyses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub call_id: Uuid,
    pub organization_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub due_at: DateTimeUtc,
    pub claim_token: Option<Uuid>,
    pub last_error: Option<String>,
    pub summary: Option<String>,
    pub sentiment: Option<String>,
    pub sentiment_score: Option<f64>,
    pub category: Option<String>,
    pub resolution: Option<String>,
    pub key_topics: Option<Json>,
    pub action_items: Option<Json>,
    pub extracted: Option<Json>,
    pub analyzer: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
