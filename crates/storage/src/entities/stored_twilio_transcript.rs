//! The `stored_twilio_transcripts` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stored_twilio_transcripts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub transcript_sid: String,
    pub status: Option<String>,
    pub date_created: Option<DateTimeUtc>,
    pub date_updated: Option<DateTimeUtc>,
    pub duration: Option<i64>,
    pub language_code: Option<String>,
    pub source_sid: Option<String>,
    pub scenario_name: Option<String>,
    pub call_direction: Option<String>,
    pub call_date: DateTimeUtc,
    pub transcript: Json,
    pub sentences: Json,
    pub sentence_count: i32,
    pub stored_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
