//! The `calendar_connections` table. The token columns hold sealed (encrypted) tokens.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    #[sea_orm(column_type = "Text")]
    pub access_token_sealed: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub refresh_token_sealed: Option<String>,
    pub expires_at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub scope: Option<String>,
    pub status: String,
    pub calendar_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
