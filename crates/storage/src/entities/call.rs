//! The `calls` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "calls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub agent_id: Option<Uuid>,
    pub agent_name: Option<String>,
    pub scenario: Option<String>,
    pub channel: String,
    pub direction: String,
    pub status: String,
    pub customer_name: Option<String>,
    pub phone_number: Option<String>,
    pub session_key: Option<String>,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    pub end_reason: Option<String>,
    pub context: Json,
    pub conversation: Json,
    pub version: i64,
    pub recording_url: Option<String>,
    pub metadata: Option<Json>,
    pub provider_call_id: Option<String>,
    pub talk_secs: Option<i64>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The completed analysis's filterable fields, copied here when it completes (NULL before)
    /// so that sums and filters over calls need no join.
    pub analysis_sentiment: Option<String>,
    pub analysis_sentiment_score: Option<f64>,
    pub analysis_category: Option<String>,
    pub analysis_resolution: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
