//! The `call_turns` table: one transcript line each.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_turns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub call_id: Uuid,
    pub turn_index: i32,
    pub speaker: String,
    pub text: String,
    pub at: DateTimeUtc,
    pub first_token_ms: Option<i64>,
    pub total_ms: Option<i64>,
    pub transcript_ms: Option<i64>,
    pub first_audio_ms: Option<i64>,
    pub first_frame_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
